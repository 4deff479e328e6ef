//! The state directory's own sub-directories are private (security.md §10): `logs` is made
//! with mode 0700 before the engine writes into it, and `logs`, `locks`, `backups` and `tls`
//! lose any group or other access they were given (a directory made under an older umask).

use std::fs::{DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;

const PRIVATE_DIRS: [&str; 4] = ["logs", "locks", "backups", "tls"];

/// Creates `<state_dir>/logs` (0700) and tightens the private directories that exist. A
/// failure is logged, not fatal: the files inside are 0600 either way.
pub fn ensure_private_dirs(state_dir: &Path) {
    let logs = state_dir.join("logs");
    if !logs.exists()
        && let Err(err) = DirBuilder::new().mode(0o700).create(&logs)
    {
        tracing::warn!("cannot create {}: {err}", logs.display());
    }
    for name in PRIVATE_DIRS {
        let dir = state_dir.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&dir) else {
            continue;
        };
        if meta.is_dir()
            && meta.permissions().mode() & 0o077 != 0
            && let Err(err) = std::fs::set_permissions(&dir, Permissions::from_mode(0o700))
        {
            tracing::warn!("cannot make {} private (0700): {err}", dir.display());
        }
    }
}

/// Replaces `path` with `bytes`, atomically, mode 0600 (a temporary file beside it, then a
/// rename), for small state files such as the muted projects of notifications.md §6.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = std::path::PathBuf::from(temp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::ensure_private_dirs;

    #[test]
    fn logs_is_made_private_and_loose_dirs_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("backups")).unwrap();
        std::fs::set_permissions(
            dir.path().join("backups"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        ensure_private_dirs(dir.path());
        for name in ["logs", "backups"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{name}");
        }
        assert!(!dir.path().join("tls").exists(), "only logs is created");
    }
}
