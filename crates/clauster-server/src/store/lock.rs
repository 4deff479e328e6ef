//! The engine lock of bridges.md §10.4: whoever runs the engine holds an exclusive `flock` on
//! `<state_dir>/engine.lock` and writes its pid into the file, and on a second line whether it
//! is a server or a CLI command running the engine for its own duration (cli.md §2).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::restrict_to_owner;

/// The lock file's name inside the state directory.
const LOCK_FILE: &str = "engine.lock";

/// A winner writes its pid right after locking; a loser that reads the file in between sees
/// it empty, so it rereads a few times before giving up on the pid.
const PID_READ_ATTEMPTS: u32 = 20;
const PID_READ_PAUSE: Duration = Duration::from_millis(10);

/// Proof that this process runs the engine. The lock is released when the value is dropped
/// (closing the file releases the `flock`); the pid stays in the file and means nothing
/// without the lock.
///
/// Invariant 2 (README §Workspace): one process mutates bridge state at a time. `serve_on`
/// holds an exclusive `flock` on `<state_dir>/engine.lock` for its whole life; its
/// `take_engine_lock` waits up to 30 s for a CLI command's engine, never for another server.
#[derive(Debug)]
pub struct EngineLock {
    _file: File,
}

/// Who runs the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// `clauster run`: holds the lock for its life.
    Server,
    /// A CLI command with no server around: holds it for seconds.
    Command,
}

/// Why the engine lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock. `pid` is 0 when the holder had not written its pid yet.
    #[error("another clauster server is running (pid {pid})")]
    Held { pid: u32 },
    #[error("a clauster command (pid {pid}) is using the engine; try again when it has finished")]
    HeldByCommand { pid: u32 },
    #[error(
        "cannot take the engine lock {path}: {source}; check that the state directory exists \
         and is writable by this user"
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl EngineLock {
    /// Takes the lock without waiting: `Held` when another process (or another open of the
    /// file in this process) has it.
    pub fn acquire(state_dir: &Path, holder: Holder) -> Result<EngineLock, LockError> {
        let path = state_dir.join(LOCK_FILE);
        let io_error = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io_error)?;
        restrict_to_owner(&file).map_err(io_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(match read_holder(&mut file) {
                    (pid, Holder::Server) => LockError::Held { pid },
                    (pid, Holder::Command) => LockError::HeldByCommand { pid },
                });
            }
            Err(TryLockError::Error(source)) => return Err(io_error(source)),
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| {
                let role = match holder {
                    Holder::Server => "server",
                    Holder::Command => "command",
                };
                writeln!(file, "{}\n{role}", std::process::id())
            })
            .and_then(|()| file.flush())
            .map_err(io_error)?;
        Ok(EngineLock { _file: file })
    }
}

/// Who holds the lock now, as the refusal [`EngineLock::acquire`] would give; `None` when
/// nobody does (or the file cannot be read). It looks with a shared lock dropped at once,
/// for a message after another step failed (a port in use), never to decide anything.
pub fn current_holder(state_dir: &Path) -> Option<LockError> {
    let mut file = File::open(state_dir.join(LOCK_FILE)).ok()?;
    match file.try_lock_shared() {
        Err(TryLockError::WouldBlock) => Some(match read_holder(&mut file) {
            (pid, Holder::Server) => LockError::Held { pid },
            (pid, Holder::Command) => LockError::HeldByCommand { pid },
        }),
        Ok(()) | Err(TryLockError::Error(_)) => None,
    }
}

/// The holder's pid and role; a file without a role line (an older clauster) names a server.
fn read_holder(file: &mut File) -> (u32, Holder) {
    for attempt in 0..PID_READ_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(PID_READ_PAUSE);
        }
        let mut text = String::new();
        if file.seek(SeekFrom::Start(0)).is_ok() && file.read_to_string(&mut text).is_ok() {
            let mut lines = text.lines();
            if let Some(Ok(pid)) = lines.next().map(|l| l.trim().parse()) {
                let role = match lines.next().map(str::trim) {
                    Some("command") => Holder::Command,
                    _ => Holder::Server,
                };
                return (pid, role);
            }
        }
    }
    (0, Holder::Server)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_lock_is_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = EngineLock::acquire(dir.path(), Holder::Server).unwrap();
        let path = dir.path().join(LOCK_FILE);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\nserver\n", std::process::id())
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let second = EngineLock::acquire(dir.path(), Holder::Server).unwrap_err();
        assert!(
            matches!(second, LockError::Held { pid } if pid == std::process::id()),
            "{second:?}"
        );
        assert_eq!(
            second.to_string(),
            format!(
                "another clauster server is running (pid {})",
                std::process::id()
            )
        );

        drop(first);
        let command = EngineLock::acquire(dir.path(), Holder::Command).unwrap();
        let refused = EngineLock::acquire(dir.path(), Holder::Server).unwrap_err();
        assert!(
            matches!(refused, LockError::HeldByCommand { .. }),
            "{refused:?}"
        );
        assert!(matches!(
            current_holder(dir.path()),
            Some(LockError::HeldByCommand { pid }) if pid == std::process::id()
        ));
        drop(command);
        assert!(current_holder(dir.path()).is_none());
    }

    #[test]
    fn a_missing_state_dir_is_an_io_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let error = EngineLock::acquire(&missing, Holder::Server).unwrap_err();
        assert!(matches!(error, LockError::Io { .. }), "{error:?}");
        assert!(error.to_string().contains("nope/engine.lock"), "{error}");
    }
}
