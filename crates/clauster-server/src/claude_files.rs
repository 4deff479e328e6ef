//! The write transaction for Claude Code's own JSON files — the global file `G` and
//! `settings.json` (bridges.md §12.4): lock, read, refuse what cannot be parsed, apply one
//! pure transform from `clauster_core::claude_json`, back up once, replace atomically.
//!
//! Blocking (std::fs and `flock`): async callers run it on `spawn_blocking`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use clauster_core::claude_json::{self, ClaudeJsonError};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// How often the transaction restarts when claude rewrote the file underneath it (step 6).
const MAX_ATTEMPTS: usize = 3;
/// The mode of a file Clauster creates: it may hold account data.
const NEW_FILE_MODE: u32 = 0o600;
/// How long the transaction waits for the lock before giving up (issue 14: a lock held by
/// another process must not freeze a launch).
const LOCK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a Claude file was not updated. The messages name the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum ClaudeFileError {
    /// `ClaudeConfigUnparseable` (bridges.md §6, 409): not UTF-8, not JSON, too deep, or not
    /// an object. Nothing was written.
    #[error("cannot update {}: it is not a valid JSON object; Clauster did not change it", file.display())]
    Unparseable {
        file: PathBuf,
        #[source]
        reason: ClaudeJsonError,
    },
    /// The transform refused the content (an entry of the wrong type). Nothing was written.
    #[error("cannot update {}: {reason}", file.display())]
    Refused {
        file: PathBuf,
        #[source]
        reason: ClaudeJsonError,
    },
    /// The lost-update guard of a dashboard edit (409): the file's sha256 is no longer the one
    /// the editor loaded. Nothing was written.
    #[error("{} changed on disk since it was loaded; reload it, or overwrite with the new hash", file.display())]
    Stale {
        file: PathBuf,
        /// The sha256 of the file now (of no bytes when it is missing).
        current: String,
    },
    /// Another process held the lock for longer than 5 s (503). Nothing was written.
    #[error("{} is locked by another process", home_relative(file))]
    Locked { file: PathBuf },
    /// Reading, locking or writing failed (500).
    #[error("cannot update {}: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl ClaudeFileError {
    /// The HTTP status of the failure: 409 when nothing was written because of the file's
    /// content or a newer version, 503 when it stayed locked, 500 for I/O.
    #[must_use]
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            Self::Unparseable { .. } | Self::Refused { .. } | Self::Stale { .. } => {
                StatusCode::CONFLICT
            }
            Self::Locked { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Trusts each project path (bridges.md §12.3) in `G`, in one transaction.
pub fn trust_paths(
    state_dir: &Path,
    global: &Path,
    canonical_paths: &[&Path],
) -> Result<bool, ClaudeFileError> {
    let keys: Vec<String> = canonical_paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    update_json_file(state_dir, global, |config| {
        claude_json::set_trusted(config, &keys)
    })
}

/// Writes the remote-control acknowledgement flags into `G` (bridges.md §12.3).
pub fn acknowledge_remote_control(
    state_dir: &Path,
    global: &Path,
) -> Result<bool, ClaudeFileError> {
    update_json_file(state_dir, global, claude_json::acknowledge_remote_control)
}

/// Where the recap hook goes and the command it runs (bridges.md §13.1).
#[derive(Clone, Debug)]
pub struct RecapHook {
    /// `<D>/settings.json` (§12.1).
    pub settings_file: PathBuf,
    /// `"<self_exe>" __recap-hook__`.
    pub command: String,
}

/// Installs the recap SessionStart hook with `command` in `settings.json` (bridges.md §13.1).
pub fn install_recap_hook(
    state_dir: &Path,
    settings: &Path,
    command: &str,
) -> Result<bool, ClaudeFileError> {
    update_json_file(state_dir, settings, |value| {
        claude_json::install_recap_hook(value, command)
    })
}

/// The §12.4 transaction on `path`, locked against other writers through
/// `<state_dir>/locks/`. `transform` edits the parsed object and says whether it changed
/// anything; it may run more than once when claude rewrites the file meanwhile (step 6), each
/// time on a fresh read. Returns whether the file was written.
pub fn update_json_file(
    state_dir: &Path,
    path: &Path,
    transform: impl FnMut(&mut Value) -> Result<bool, ClaudeJsonError>,
) -> Result<bool, ClaudeFileError> {
    update_json_file_guarded(state_dir, path, None, transform)
}

/// [`update_json_file`] with the lost-update guard of the dashboard's editors
/// (config-write.md §2): with `expected_sha256`, the file read under the lock must still
/// hash to it (a missing file hashes as no bytes), else [`ClaudeFileError::Stale`].
pub fn update_json_file_guarded(
    state_dir: &Path,
    path: &Path,
    expected_sha256: Option<&str>,
    mut transform: impl FnMut(&mut Value) -> Result<bool, ClaudeJsonError>,
) -> Result<bool, ClaudeFileError> {
    let io_err = |source| ClaudeFileError::Io {
        file: path.to_path_buf(),
        source,
    };
    let target = canonical_target(path).map_err(io_err)?;

    // Step 3 first, without the lock: a file that needs no change is never locked, so a lock
    // another process holds cannot delay or refuse a launch that writes nothing (issue 15
    // review). Anything else (a change, an unreadable file) takes the locked path below.
    if expected_sha256.is_none()
        && let Ok(Some((bytes, _))) = read_current(&target)
        && let Ok(mut value) = claude_json::parse_config_bytes(&bytes)
        && let Ok(false) = transform(&mut value)
    {
        return Ok(false);
    }

    // Step 1: the in-process mutex, then the flock shared with the Python Clauster, each
    // within the deadline.
    let deadline = std::time::Instant::now() + LOCK_DEADLINE;
    let locked = || ClaudeFileError::Locked {
        file: path.to_path_buf(),
    };
    let mutex = process_mutex(&target);
    let _in_process = loop {
        match mutex.try_lock() {
            Ok(guard) => break guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => break poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(LOCK_POLL);
            }
            Err(std::sync::TryLockError::WouldBlock) => return Err(locked()),
        }
    };
    let lock_file = open_lock_file(state_dir, &target).map_err(io_err)?;
    loop {
        match lock_file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(LOCK_POLL);
            }
            Err(fs::TryLockError::WouldBlock) => return Err(locked()),
            Err(fs::TryLockError::Error(err)) => return Err(io_err(err)),
        }
    }

    for _ in 0..MAX_ATTEMPTS {
        // Step 2.
        let before = read_current(&target).map_err(io_err)?;
        let original = before
            .as_ref()
            .map_or(&[][..], |(bytes, _)| bytes.as_slice());
        if let Some(expected) = expected_sha256 {
            let current = format!("{:x}", Sha256::digest(original));
            if current != expected {
                return Err(ClaudeFileError::Stale {
                    file: path.to_path_buf(),
                    current,
                });
            }
        }
        let mut value = claude_json::parse_config_bytes(original).map_err(|reason| {
            ClaudeFileError::Unparseable {
                file: path.to_path_buf(),
                reason,
            }
        })?;
        // Step 3.
        let changed = transform(&mut value).map_err(|reason| ClaudeFileError::Refused {
            file: path.to_path_buf(),
            reason,
        })?;
        if !changed {
            return Ok(false);
        }
        // Step 4.
        if let Some((bytes, _)) = &before {
            write_backup_once(&target, bytes);
        }
        // Steps 5–6.
        let stamp = before.as_ref().map(|(_, stamp)| *stamp);
        let text = claude_json::to_config_text(&value);
        if replace_atomically(&target, text.as_bytes(), stamp).map_err(io_err)? {
            return Ok(true);
        }
        tracing::debug!(file = %path.display(), "changed while being updated; reading it again");
    }
    Err(io_err(io::Error::other(format!(
        "it kept changing while being updated ({MAX_ATTEMPTS} attempts); retry"
    ))))
}

/// How often a held lock is tried again.
const LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(25);

/// `path` with the home directory written as `~` (`~/.claude.json`), as messages name it.
fn home_relative(path: &Path) -> String {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match home
        .as_deref()
        .and_then(|home| path.strip_prefix(home).ok())
    {
        Some(rest) if !rest.as_os_str().is_empty() => format!("~/{}", rest.display()),
        _ => path.display().to_string(),
    }
}

/// The file to lock and write: the path with its links resolved (a linked `G` stays a link
/// to the updated file), or, for a file that does not exist yet, its canonical directory
/// (created when missing) plus its name.
fn canonical_target(path: &Path) -> io::Result<PathBuf> {
    match fs::canonicalize(path) {
        Ok(target) => return Ok(target),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)?;
    Ok(fs::canonicalize(parent)?.join(name))
}

/// One mutex per canonical path for the life of the process (a handful of files).
pub(crate) fn process_mutex(target: &Path) -> Arc<Mutex<()>> {
    static MUTEXES: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut map = MUTEXES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Arc::clone(map.entry(target.to_path_buf()).or_default())
}

/// `<state_dir>/locks/<first 32 hex of sha256(canonical path)>.lock`, 0600, never deleted:
/// the Python Clauster's naming, so the two exclude each other.
fn lock_file_path(state_dir: &Path, target: &Path) -> PathBuf {
    let digest = Sha256::digest(target.as_os_str().as_bytes());
    state_dir
        .join("locks")
        .join(format!("{}.lock", hex_prefix(&digest, 16)))
}

/// The first `bytes` bytes of `digest` as lowercase hex.
fn hex_prefix(digest: &[u8], bytes: usize) -> String {
    digest
        .iter()
        .take(bytes)
        .fold(String::with_capacity(bytes * 2), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

pub(crate) fn open_lock_file(state_dir: &Path, target: &Path) -> io::Result<File> {
    let path = lock_file_path(state_dir, target);
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(NEW_FILE_MODE)
        .open(path)
}

/// What step 6 compares: claude rewrites `G` without our lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
    mode: u32,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            mode: meta.mode(),
        }
    }
}

/// The current bytes and stamp, `None` when the file does not exist.
fn read_current(target: &Path) -> io::Result<Option<(Vec<u8>, Stamp)>> {
    let mut file = match File::open(target) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let stamp = Stamp::of(&file.metadata()?);
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut file, &mut bytes)?;
    Ok(Some((bytes, stamp)))
}

/// Step 4: the original bytes go to `<file>.bak` unless a backup exists already. Created
/// exclusively (never through a link), 0600; failure only warns.
fn write_backup_once(target: &Path, original: &[u8]) {
    let mut name = target.as_os_str().to_os_string();
    name.push(".bak");
    let backup = PathBuf::from(name);
    let result = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(NEW_FILE_MODE)
        .open(&backup);
    match result {
        Ok(mut file) => {
            if let Err(e) = file.write_all(original).and_then(|()| file.sync_all()) {
                tracing::warn!(file = %backup.display(), error = %e, "cannot write the backup");
                // A cut backup would pass for the one kept original forever after.
                drop(file);
                let _ = fs::remove_file(&backup);
            }
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            tracing::warn!(file = %backup.display(), error = %e, "cannot write the backup");
        }
    }
}

/// Steps 5–6: writes `bytes` to a temp file `.<name>.<random>.tmp` beside `target` with the
/// original's mode (0600 for a new file) and fsyncs it ([`clauster_pty::atomic_write::stage`]),
/// then renames it over `target` — unless `target` changed since `before` was taken, in which
/// case the temp file is discarded and `false` returned.
fn replace_atomically(target: &Path, bytes: &[u8], before: Option<Stamp>) -> io::Result<bool> {
    let mode = before.map_or(NEW_FILE_MODE, |s| s.mode & 0o7777);
    let staged = clauster_pty::atomic_write::stage(target, bytes, Some(mode))?;
    let now = match fs::metadata(target) {
        Ok(meta) => Some(Stamp::of(&meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if now != before {
        return Ok(false);
    }
    staged.persist(target).map_err(|err| err.error)?;
    // The rename is durable once the directory is; failing that only weakens durability.
    if let Some(dir) = target.parent()
        && let Ok(dir) = File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::thread;

    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        state: PathBuf,
        home: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let home = dir.path().join("home");
        fs::create_dir_all(&state).expect("mkdir");
        fs::create_dir_all(&home).expect("mkdir");
        Fixture {
            state,
            home: fs::canonicalize(home).expect("canonical"),
            _dir: dir,
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    fn read_json(path: &Path) -> Value {
        serde_json::from_slice(&fs::read(path).expect("read")).expect("json")
    }

    #[test]
    fn unparseable_files_are_left_byte_identical() {
        let f = fixture();
        let global = f.home.join(".claude.json");
        for bad in [
            &b"{\"projects\": "[..],
            b"[1, 2]",
            b"\xff\xfe{}",
            b"\"text\"",
        ] {
            fs::write(&global, bad).expect("write");
            let err = acknowledge_remote_control(&f.state, &global).expect_err("refused");
            assert!(
                matches!(err, ClaudeFileError::Unparseable { .. }),
                "{err:?}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "cannot update {}: it is not a valid JSON object; Clauster did not change it",
                    global.display()
                )
            );
            assert_eq!(fs::read(&global).expect("read"), bad);
        }
        // Nothing else appeared beside it: no backup, no temp file.
        let names: Vec<_> = fs::read_dir(&f.home)
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![".claude.json"]);
    }

    #[test]
    fn blank_and_missing_files_start_from_an_empty_object() {
        let f = fixture();
        let global = f.home.join(".claude.json");
        fs::write(&global, " \n\t").expect("write");
        assert!(acknowledge_remote_control(&f.state, &global).expect("ok"));
        assert_eq!(
            fs::read_to_string(&global).expect("read"),
            "{\n  \"hasUsedRemoteControl\": true,\n  \"remoteDialogSeen\": true\n}\n"
        );
        // The blank original was backed up.
        assert_eq!(
            fs::read(f.home.join(".claude.json.bak")).expect("bak"),
            b" \n\t"
        );

        // Missing, in a directory that does not exist yet: created 0600, no backup.
        let settings = f.home.join(".claude").join("settings.json");
        assert!(
            install_recap_hook(&f.state, &settings, "\"/bin/clauster\" __recap-hook__")
                .expect("ok")
        );
        assert_eq!(mode(&settings), 0o600);
        assert!(!f.home.join(".claude/settings.json.bak").exists());
        assert_eq!(
            read_json(&settings)["hooks"]["SessionStart"][0]["hooks"][0]["command"],
            "\"/bin/clauster\" __recap-hook__"
        );
    }

    #[test]
    fn backup_is_written_once_and_mode_and_unknown_keys_survive() {
        let f = fixture();
        let global = f.home.join(".claude.json");
        let original = "{\"zeta\": 1, \"oauthAccount\": {\"x\": [1, 2.50]}, \"alpha\": null}";
        fs::write(&global, original).expect("write");
        fs::set_permissions(&global, fs::Permissions::from_mode(0o640)).expect("chmod");

        let project = f.home.join("p1");
        assert!(trust_paths(&f.state, &global, &[&project]).expect("ok"));
        assert_eq!(mode(&global), 0o640);
        let bak = f.home.join(".claude.json.bak");
        assert_eq!(fs::read_to_string(&bak).expect("bak"), original);
        assert_eq!(mode(&bak), 0o600);
        let text = fs::read_to_string(&global).expect("read");
        let value: Value = serde_json::from_str(&text).expect("json");
        let keys: Vec<&str> = value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["zeta", "oauthAccount", "alpha", "projects"]);
        assert!(text.contains("2.50") || text.contains("2.5"), "{text}");
        assert_eq!(
            value["projects"][project.to_str().expect("utf-8")]["hasTrustDialogAccepted"],
            true
        );

        // No change: nothing written (same inode, same bytes).
        let ino = fs::metadata(&global).expect("stat").ino();
        assert!(!trust_paths(&f.state, &global, &[&project]).expect("ok"));
        assert_eq!(fs::metadata(&global).expect("stat").ino(), ino);

        // A second write keeps the first backup.
        assert!(acknowledge_remote_control(&f.state, &global).expect("ok"));
        assert_eq!(fs::read_to_string(&bak).expect("bak"), original);
        assert_eq!(mode(&global), 0o640);
        // No temp files left behind.
        assert!(fs::read_dir(&f.home).expect("ls").all(|e| {
            !e.expect("entry")
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        }));
    }

    #[test]
    fn a_linked_file_stays_a_link() {
        let f = fixture();
        let real = f.home.join("dotfiles.json");
        fs::write(&real, "{}").expect("write");
        let global = f.home.join(".claude.json");
        std::os::unix::fs::symlink(&real, &global).expect("symlink");
        assert!(acknowledge_remote_control(&f.state, &global).expect("ok"));
        assert!(
            fs::symlink_metadata(&global)
                .expect("lstat")
                .file_type()
                .is_symlink()
        );
        assert_eq!(read_json(&real)["remoteDialogSeen"], true);
    }

    #[test]
    fn a_refused_transform_writes_nothing() {
        let f = fixture();
        let settings = f.home.join("settings.json");
        fs::write(&settings, "{\"hooks\": []}").expect("write");
        let err = install_recap_hook(&f.state, &settings, "x __recap-hook__").expect_err("refused");
        assert!(matches!(err, ClaudeFileError::Refused { .. }), "{err}");
        assert!(err.to_string().starts_with(&format!(
            "cannot update {}: has `hooks`",
            settings.display()
        )));
        assert_eq!(
            fs::read_to_string(&settings).expect("read"),
            "{\"hooks\": []}"
        );
    }

    #[test]
    fn lock_file_naming_matches_the_python_clauster() {
        let f = fixture();
        // sha256("/home/op/.claude.json") starts with these 32 hex digits.
        // Python: hashlib.sha256("/home/op/.claude.json".encode()).hexdigest()[:32]
        let expected = "ae9b7019f3f30d0c9954443b895f5fa2";
        assert_eq!(
            lock_file_path(&f.state, Path::new("/home/op/.claude.json")),
            f.state.join("locks").join(format!("{expected}.lock"))
        );
        let global = f.home.join(".claude.json");
        acknowledge_remote_control(&f.state, &global).expect("ok");
        let lock = lock_file_path(&f.state, &global);
        assert_eq!(mode(&lock), 0o600);
        assert_eq!(lock.file_name().expect("name").len(), 32 + ".lock".len());
    }

    #[test]
    fn a_file_needing_no_change_is_never_locked() {
        let f = fixture();
        let global = f.home.join(".claude.json");
        fs::write(
            &global,
            "{\"hasUsedRemoteControl\": true, \"remoteDialogSeen\": true}",
        )
        .expect("write");
        let target = canonical_target(&global).expect("target");
        let held = open_lock_file(&f.state, &target).expect("lock file");
        held.lock().expect("lock");
        let began = std::time::Instant::now();
        let written = acknowledge_remote_control(&f.state, &global).expect("no lock needed");
        assert!(!written);
        assert!(
            began.elapsed() < LOCK_DEADLINE,
            "waited for the lock: {:?}",
            began.elapsed()
        );
        // A change does need it.
        fs::write(&global, "{}").expect("write");
        assert!(matches!(
            acknowledge_remote_control(&f.state, &global),
            Err(ClaudeFileError::Locked { .. })
        ));
        held.unlock().expect("unlock");
    }

    #[test]
    fn concurrent_writers_are_serialized() {
        let f = fixture();
        let global = f.home.join(".claude.json");
        fs::write(&global, "{\"keep\": true}").expect("write");
        let paths: Vec<PathBuf> = (0..8)
            .map(|i| f.home.join(format!("project-{i}")))
            .collect();
        thread::scope(|scope| {
            for path in &paths {
                let (state, global) = (&f.state, &global);
                scope.spawn(move || {
                    // Slow each transform down so the writers overlap.
                    update_json_file(state, global, |value| {
                        thread::sleep(std::time::Duration::from_millis(20));
                        claude_json::set_trusted(value, &[path.to_str().expect("utf-8")])
                    })
                    .expect("update");
                });
            }
        });
        let value = read_json(&global);
        assert_eq!(value["keep"], true);
        for path in &paths {
            assert_eq!(
                value["projects"][path.to_str().expect("utf-8")]["hasTrustDialogAccepted"],
                true,
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn a_file_changed_underneath_is_read_again() {
        let f = fixture();
        let global = f.home.join(".claude.json");
        fs::write(&global, "{\"a\": 1}").expect("write");
        // Call 1 is the check without the lock; the locked transaction starts at call 2.
        let mut calls = 0;
        let changed = update_json_file(&f.state, &global, |value| {
            calls += 1;
            if calls == 2 {
                // claude rewrites the file meanwhile, without our lock.
                fs::write(&global, "{\"a\": 1, \"fromClaude\": true}").expect("write");
            }
            claude_json::acknowledge_remote_control(value)
        })
        .expect("ok");
        assert!(changed);
        assert_eq!(calls, 3);
        let value = read_json(&global);
        assert_eq!(value["fromClaude"], true);
        assert_eq!(value["hasUsedRemoteControl"], true);

        // Changed on every attempt: an I/O error after three, file as claude left it.
        let mut calls = 0;
        let err = update_json_file(&f.state, &global, |value| {
            calls += 1;
            // A different size each time, so the change shows whatever the mtime granularity.
            let marker = "x".repeat(calls);
            fs::write(&global, format!("{{\"round\": \"{marker}\"}}")).expect("write");
            value["ours"] = Value::Bool(true);
            Ok(true)
        })
        .expect_err("gives up");
        assert!(matches!(err, ClaudeFileError::Io { .. }), "{err}");
        assert_eq!(calls, 1 + MAX_ATTEMPTS);
        assert_eq!(
            fs::read_to_string(&global).expect("read"),
            "{\"round\": \"xxxx\"}"
        );
    }
}
