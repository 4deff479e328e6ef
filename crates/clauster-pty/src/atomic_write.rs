//! Replacing a file so that a reader sees the old bytes or the new, never a mix: the bytes go
//! to a temporary file beside the target (tempfile's `NamedTempFile`, created exclusively
//! under a random name, removed again on every way out), are synced, and are renamed over the
//! target by `persist`. The keeper's sidecars, the server's session epoch, TLS files and
//! pointer files are written through [`write_private`]; the Claude files that keep their own
//! mode stage through [`stage`].

use std::fs::Permissions;
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use tempfile::NamedTempFile;

/// Replaces `path` with `bytes`, mode 0600.
///
/// # Errors
/// The failed create, write, sync or rename; the temporary file is gone then.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    stage(path, bytes, Some(0o600))?
        .persist(path)
        .map(drop)
        .map_err(|err| err.error)
}

/// Writes `bytes` to a synced temporary file beside `path`, ready to be `persist`ed over it:
/// with exactly `mode` when given (the umask does not narrow it), else with the mode a new
/// file gets (0666 less the umask). Dropping the returned file removes it.
///
/// # Errors
/// The failed create, chmod, write or sync.
pub fn stage(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<NamedTempFile> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut file = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .permissions(Permissions::from_mode(mode.unwrap_or(0o666)))
        .tempfile_in(dir)?;
    if let Some(mode) = mode {
        // Explicitly, because the umask narrows the mode given at creation.
        file.as_file()
            .set_permissions(Permissions::from_mode(mode))?;
    }
    // Through the plain file: the temp file's own writer names its random path in errors,
    // which would reach the user's error message.
    file.as_file_mut().write_all(bytes)?;
    file.as_file().sync_all()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::{stage, write_private};

    #[test]
    fn replaces_the_file_with_mode_0600_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }

    #[test]
    fn a_staged_file_keeps_its_mode_and_vanishes_unless_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("CLAUDE.md");
        let staged = stage(&path, b"text", Some(0o640)).unwrap();
        let mode = staged.as_file().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o640);
        drop(staged);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(write_private(&dir.path().join("missing/x"), b"x").is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
