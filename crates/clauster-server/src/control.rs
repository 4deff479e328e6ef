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
    socket_path(canonical_state_dir, uid, None)
}

/// The private socket of a CLI command that runs the engine itself (cli.md §2), process
/// `pid`: `<state_dir>/command-<pid>.sock`, or `/tmp/clauster-<uid>/<hash>-command-<pid>.sock`
/// when that is too long. Nobody but the command computes it, so no other command and no
/// starting server can reach a command's engine half-built or while it shuts down — they find
/// nothing on the control socket and wait for the engine lock instead (issue 14).
pub fn command_socket_path(canonical_state_dir: &Path, uid: u32, pid: u32) -> PathBuf {
    socket_path(canonical_state_dir, uid, Some(pid))
}

fn socket_path(canonical_state_dir: &Path, uid: u32, command: Option<u32>) -> PathBuf {
    let own = command.map_or_else(
        || SOCKET_NAME.to_owned(),
        |pid| format!("{COMMAND_PREFIX}{pid}.sock"),
    );
    let preferred = canonical_state_dir.join(own);
    if preferred.as_os_str().len() <= MAX_SOCKET_PATH {
        return preferred;
    }
    let digest = Sha256::digest(canonical_state_dir.as_os_str().as_encoded_bytes());
    let mut name = String::with_capacity(40);
    for byte in &digest[..8] {
        let _ = write!(name, "{byte:02x}");
    }
    if let Some(pid) = command {
        let _ = write!(name, "-{COMMAND_PREFIX}{pid}");
    }
    name.push_str(".sock");
    fallback_dir(uid).join(name)
}

/// The name of a command's private socket starts with this (after the hash in the fallback
/// directory).
const COMMAND_PREFIX: &str = "command-";

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
    #[error(
        "{path} is a socket owned by uid {owner}, not by this user; clauster never replaces it: \
         remove it if it is stale and start again"
    )]
    ForeignSocket { path: PathBuf, owner: u32 },
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
        Self::bind_path(control_socket_for(state_dir), state_dir)
    }

    /// Binds this process's private command socket (see [`command_socket_path`]). Call only
    /// while holding the engine lock: no server runs then, so a control socket still at its
    /// path was left by a crashed server and is removed (nothing would ever answer there).
    pub fn bind_private(
        state_dir: &Path,
    ) -> Result<(Self, tokio::net::UnixListener), ControlError> {
        let stale = control_socket_for(state_dir);
        if std::fs::symlink_metadata(&stale).is_ok_and(|meta| {
            meta.file_type().is_socket() && meta.uid() == nix::unistd::getuid().as_raw()
        }) {
            let _ = std::fs::remove_file(&stale);
        }
        let canonical = std::fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_owned());
        let path = command_socket_path(
            &canonical,
            nix::unistd::getuid().as_raw(),
            std::process::id(),
        );
        Self::bind_path(path, state_dir)
    }

    fn bind_path(
        path: PathBuf,
        state_dir: &Path,
    ) -> Result<(Self, tokio::net::UnixListener), ControlError> {
        let io = |source| ControlError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent()
            && dir == fallback_dir(nix::unistd::getuid().as_raw())
        {
            ensure_private_dir(dir)?;
        }
        // Holding the lock proves every command socket of this state directory is a leftover
        // of a command that was killed.
        sweep_command_sockets(state_dir);
        // Bound under a staging name, made private, then renamed into place: the socket
        // never shows at its path with the umask's mode, so nobody can connect to it, or see
        // it, before it is 0600. A connection follows the inode, which the rename keeps.
        let staging = staging_path(&path);
        remove_leftover(&path)?;
        remove_leftover(&staging)?;
        let listener =
            tokio::net::UnixListener::bind(&staging).map_err(|source| ControlError::Io {
                path: staging.clone(),
                source,
            })?;
        // From here on the file is ours: remove it on every way out.
        let mut socket = Self { path: staging };
        std::fs::set_permissions(&socket.path, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| std::fs::rename(&socket.path, &path))
            .map_err(io)?;
        socket.path = path;
        Ok((socket, listener))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The control socket's listener for `axum::serve`: it hands on only connections whose peer
/// runs as this server's user (`SO_PEERCRED`, security.md §2 and §10). The file mode 0600
/// already keeps other users out; the check also holds against a process that passes file
/// modes (root) or a socket file whose mode was changed.
pub struct PeerCheckedListener {
    inner: tokio::net::UnixListener,
    uid: u32,
}

impl PeerCheckedListener {
    pub fn new(inner: tokio::net::UnixListener) -> Self {
        Self {
            inner,
            uid: nix::unistd::getuid().as_raw(),
        }
    }
}

impl axum::serve::Listener for PeerCheckedListener {
    type Io = tokio::net::UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::debug!("control socket accept failed: {err}");
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                    continue;
                }
            };
            match stream.peer_cred() {
                Ok(cred) if cred.uid() == self.uid => return (stream, addr),
                Ok(cred) => tracing::warn!(
                    peer_uid = cred.uid(),
                    peer_pid = cred.pid(),
                    "control socket: refused a connection from another user"
                ),
                Err(err) => tracing::warn!("control socket: cannot read the peer's uid: {err}"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Why the CLI will not talk to a control socket.
#[derive(Debug, thiserror::Error)]
pub enum UntrustedSocket {
    #[error(
        "the control socket {path} is owned by uid {owner}, not by you (uid {me}); clauster will \
         not talk to it: remove it if it is stale, or find out who planted it"
    )]
    Owner { path: PathBuf, owner: u32, me: u32 },
    #[error(
        "{path} is not a directory owned by you with mode 0700; clauster will not trust a control \
         socket in it: fix or remove it"
    )]
    Directory { path: PathBuf },
}

/// The CLI's check before it connects to `path` (security.md §10): a socket that exists must
/// be owned by this user, and one in the shared `/tmp/clauster-<uid>/` fallback must sit in a
/// directory that is this user's, mode 0700. A path that does not exist passes (there is
/// nothing to trust yet).
pub fn check_socket_owner(path: &Path) -> Result<(), UntrustedSocket> {
    let me = nix::unistd::getuid().as_raw();
    if let Some(dir) = path.parent()
        && dir == fallback_dir(me)
        && let Ok(meta) = std::fs::symlink_metadata(dir)
        && !(meta.file_type().is_dir() && meta.uid() == me && meta.mode().trailing_zeros() >= 6)
    {
        return Err(UntrustedSocket::Directory {
            path: dir.to_owned(),
        });
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.uid() != me => Err(UntrustedSocket::Owner {
            path: path.to_owned(),
            owner: meta.uid(),
            me,
        }),
        _ => Ok(()),
    }
}

/// Removes the socket a crashed process left at `path` (the caller holds the engine lock, so
/// nobody answers there). Anything else at `path`, or another user's socket, is an error.
fn remove_leftover(path: &Path) -> Result<(), ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta)
            if meta.file_type().is_socket() && meta.uid() != nix::unistd::getuid().as_raw() =>
        {
            Err(ControlError::ForeignSocket {
                path: path.to_owned(),
                owner: meta.uid(),
            })
        }
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path).map_err(io),
        Ok(_) => Err(ControlError::NotASocket(path.to_owned())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io(err)),
    }
}

/// Where a socket is bound before it is renamed to `path`: the same directory, `.tmp` for
/// `.sock`, so never longer than `path`.
fn staging_path(path: &Path) -> PathBuf {
    path.with_extension("tmp")
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Removes the private sockets killed commands left for `state_dir` (both places they can
/// be), staged ones included. Only sockets whose whole name is a command socket's are
/// touched.
fn sweep_command_sockets(state_dir: &Path) {
    let canonical = std::fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_owned());
    let uid = nix::unistd::getuid().as_raw();
    // The name of pid 0's socket, less the "0.sock": what every command socket starts with.
    let probe = command_socket_path(&canonical, uid, 0);
    let (Some(dir), Some(name)) = (probe.parent(), probe.file_name().and_then(|n| n.to_str()))
    else {
        return;
    };
    let prefix = name.trim_end_matches("0.sock");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(file) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let is_command = file
            .strip_prefix(prefix)
            .and_then(|rest| {
                rest.strip_suffix(".sock")
                    .or_else(|| rest.strip_suffix(".tmp"))
            })
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if is_command && entry.file_type().is_ok_and(|t| t.is_socket()) {
            let _ = std::fs::remove_file(entry.path());
        }
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
    use super::{UntrustedSocket, check_socket_owner, command_socket_path, control_socket_path};
    use std::path::Path;

    #[test]
    fn a_command_socket_is_named_after_its_process() {
        assert_eq!(
            command_socket_path(Path::new("/home/ana/.clauster"), 1000, 4242),
            Path::new("/home/ana/.clauster/command-4242.sock")
        );
        let dir = format!("/{}", "x".repeat(120));
        assert_eq!(
            command_socket_path(Path::new(&dir), 7, 4242),
            Path::new("/tmp/clauster-7/5b8c44dc1c0b0452-command-4242.sock")
        );
    }

    #[test]
    fn leftover_command_sockets_are_swept_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let state = std::fs::canonicalize(dir.path()).unwrap();
        let bind = |name: &str| std::os::unix::net::UnixListener::bind(state.join(name)).unwrap();
        let _left = bind("command-99.sock");
        let _staged = bind("command-97.tmp");
        let _other = bind("command-x.sock");
        std::fs::write(state.join("command-98.sock"), "not a socket").unwrap();
        super::sweep_command_sockets(&state);
        assert!(!state.join("command-99.sock").exists());
        assert!(!state.join("command-97.tmp").exists());
        assert!(state.join("command-x.sock").exists());
        assert!(state.join("command-98.sock").exists());
    }

    #[tokio::test]
    async fn the_socket_appears_private_and_nothing_staged_is_left() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (socket, _listener) = super::ControlSocket::bind(dir.path()).unwrap();
        let mode = std::fs::metadata(socket.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!dir.path().join("control.tmp").exists());
        // A connection by the final name reaches the renamed listener.
        tokio::net::UnixStream::connect(socket.path())
            .await
            .unwrap();
        let path = socket.path().to_owned();
        drop(socket);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn a_staged_socket_left_behind_is_replaced_and_a_file_there_refused() {
        let dir = tempfile::tempdir().unwrap();
        let staged = dir.path().join("control.tmp");
        drop(std::os::unix::net::UnixListener::bind(&staged).unwrap());
        let (socket, _listener) = super::ControlSocket::bind(dir.path()).unwrap();
        assert!(!staged.exists());
        drop(socket);

        std::fs::write(&staged, "notes").unwrap();
        let refused = super::ControlSocket::bind(dir.path()).err().unwrap();
        assert!(matches!(refused, super::ControlError::NotASocket(ref p) if *p == staged));
        assert_eq!(std::fs::read_to_string(&staged).unwrap(), "notes");
        assert!(!dir.path().join("control.sock").exists());
    }

    #[test]
    fn the_cli_trusts_only_sockets_of_its_own_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        assert!(check_socket_owner(&path).is_ok(), "nothing there yet");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert!(check_socket_owner(&path).is_ok(), "ours");
        if nix::unistd::getuid().is_root() {
            std::os::unix::fs::lchown(&path, Some(65_534), None).unwrap();
            assert!(matches!(
                check_socket_owner(&path),
                Err(UntrustedSocket::Owner { owner: 65_534, .. })
            ));
        }
    }

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
