//! The control socket (bridges.md §10.4): where it lives, and binding it safely.
//!
//! The server serves its router on this Unix socket as well as on TCP; the CLI computes the
//! same path with [`control_socket_for`] and talks HTTP/1.1 over it.

use std::fmt::Write as _;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The socket's name inside the state directory.
const SOCKET_NAME: &str = "control.sock";
/// The longest path a Unix socket address holds (108 bytes with the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The control socket of `canonical_state_dir` for user `uid`: `<state_dir>/control.sock`,
/// or `/tmp/clauster-<uid>/<first 16 hex of sha256(state_dir)>.sock` when that is too long
/// for a socket address. Pure: the caller canonicalises the state directory.
pub fn control_socket_path(canonical_state_dir: &Path, uid: u32) -> PathBuf {
    let preferred = canonical_state_dir.join(SOCKET_NAME);
    if preferred.as_os_str().len() <= MAX_SOCKET_PATH {
        return preferred;
    }
    let digest = Sha256::digest(canonical_state_dir.as_os_str().as_encoded_bytes());
    let mut name = String::with_capacity(21);
    for byte in &digest[..8] {
        let _ = write!(name, "{byte:02x}");
    }
    name.push_str(".sock");
    fallback_dir(uid).join(name)
}

/// The control socket of `state_dir` for the current user, as both the server and the CLI
/// compute it. A state directory that cannot be canonicalised (it does not exist yet) is
/// used as given.
pub fn control_socket_for(state_dir: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_owned());
    control_socket_path(&canonical, nix::unistd::getuid().as_raw())
}

fn fallback_dir(uid: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/clauster-{uid}"))
}

/// Why the control socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "{0} exists and is not a socket; clauster never removes it: move it away and start again"
    )]
    NotASocket(PathBuf),
    #[error(
        "{path} is not a directory owned by this user with mode 0700; fix or remove it and \
         start again"
    )]
    UnsafeDir { path: PathBuf },
    #[error("cannot bind the control socket {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Marks requests that arrived over the control socket (bridges.md §10.4): the router on
/// the socket carries it as an extension, so handlers can tell the CLI from a browser (the
/// CLAUDE.md audit actor is `cli`; the reaper routes need no `reaper.ui_enabled`).
#[derive(Clone, Copy, Debug)]
pub struct ViaControlSocket;

/// The bound control socket's file; dropping this removes it (cli.md §7).
pub struct ControlSocket {
    path: PathBuf,
}

impl ControlSocket {
    /// Binds the control socket of `state_dir`. Call only while holding the engine lock: a
    /// socket already at the path was then left by a crashed server and is replaced.
    pub fn bind(state_dir: &Path) -> Result<(Self, tokio::net::UnixListener), ControlError> {
        let path = control_socket_for(state_dir);
        let io = |source| ControlError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent()
            && dir == fallback_dir(nix::unistd::getuid().as_raw())
        {
            ensure_private_dir(dir)?;
        }
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(&path).map_err(io)?,
            Ok(_) => return Err(ControlError::NotASocket(path)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(io(err)),
        }
        let listener = tokio::net::UnixListener::bind(&path).map_err(io)?;
        // From here on the file is ours: remove it on every way out.
        let socket = Self { path };
        std::fs::set_permissions(&socket.path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| ControlError::Io {
                path: socket.path.clone(),
                source,
            },
        )?;
        Ok((socket, listener))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Creates `dir` with mode 0700, or accepts it when it is a real directory owned by this
/// user that nobody else can enter.
fn ensure_private_dir(dir: &Path) -> Result<(), ControlError> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(ControlError::Io {
                path: dir.to_owned(),
                source,
            });
        }
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|source| ControlError::Io {
        path: dir.to_owned(),
        source,
    })?;
    // Group and other bits: any of them set is wider than 0700.
    let shared_bits = meta.mode() & 0o077;
    let private = meta.file_type().is_dir()
        && meta.uid() == nix::unistd::getuid().as_raw()
        && shared_bits == 0;
    if private {
        Ok(())
    } else {
        Err(ControlError::UnsafeDir {
            path: dir.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::control_socket_path;
    use std::path::Path;

    #[test]
    fn short_state_dirs_keep_the_socket_inside() {
        assert_eq!(
            control_socket_path(Path::new("/home/ana/.clauster"), 1000),
            Path::new("/home/ana/.clauster/control.sock")
        );
    }

    #[test]
    fn the_socket_stays_inside_up_to_107_bytes() {
        // "/" + 94 characters + "/control.sock" = 108 bytes: too long; one less fits.
        let fits = format!("/{}", "a".repeat(93));
        let path = control_socket_path(Path::new(&fits), 1000);
        assert_eq!(path.as_os_str().len(), 107);
        assert!(path.starts_with(&fits));

        let too_long = format!("/{}", "a".repeat(94));
        let path = control_socket_path(Path::new(&too_long), 1000);
        assert!(path.starts_with("/tmp/clauster-1000"), "{}", path.display());
    }

    #[test]
    fn long_state_dirs_use_a_hashed_name_under_tmp() {
        let dir = format!("/{}", "d".repeat(200));
        let path = control_socket_path(Path::new(&dir), 1234);
        // sha256 of the directory's bytes, first 8 bytes as hex.
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(path.parent().unwrap(), Path::new("/tmp/clauster-1234"));
        assert_eq!(name.len(), 16 + ".sock".len());
        assert_eq!(&name[16..], ".sock");
        assert!(name[..16].bytes().all(|b| b.is_ascii_hexdigit()));
        // Same input, same path; another directory, another name.
        assert_eq!(control_socket_path(Path::new(&dir), 1234), path);
        let other = format!("/{}", "e".repeat(200));
        assert_ne!(control_socket_path(Path::new(&other), 1234), path);
    }

    #[test]
    fn the_hash_is_the_first_16_hex_of_sha256_of_the_path() {
        let dir = format!("/{}", "x".repeat(120));
        assert_eq!(
            control_socket_path(Path::new(&dir), 7),
            Path::new("/tmp/clauster-7/5b8c44dc1c0b0452.sock")
        );
    }
}
