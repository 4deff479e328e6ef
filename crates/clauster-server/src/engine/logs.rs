//! Log sets (bridges.md §5.1): one stem per launch, `<project>-<epoch ms>-<seq>`, and the
//! files claude and the bridge write into `<state_dir>/logs`.

use crate::log_rotation::numbered;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Allocates stems; `seq` counts per server process and skips stems that already have files.
#[derive(Debug)]
pub struct LogSets {
    dir: PathBuf,
    seq: std::sync::atomic::AtomicU64,
}

/// The files of one launch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSet {
    pub stem: String,
    /// The public debug log (`<stem>.log`): claude's `--debug-file`, or the redacted mirror
    /// of `raw_log` (§5.2).
    pub debug_log: PathBuf,
    /// `<stem>.raw.log`, claude's verbatim debug log, only with `logs.redact_session_url`.
    pub raw_log: Option<PathBuf>,
    /// The bridge's stdout and stderr (`<stem>.stderr.log`).
    pub capture: PathBuf,
}

impl LogSet {
    /// The set of `stem` as it is on disk (`raw_log` when that file exists).
    pub fn at(dir: &Path, stem: &str) -> Self {
        let raw = dir.join(format!("{stem}.raw.log"));
        Self {
            stem: stem.to_owned(),
            debug_log: dir.join(format!("{stem}.log")),
            raw_log: raw.exists().then_some(raw),
            capture: dir.join(format!("{stem}.stderr.log")),
        }
    }

    /// What claude writes its debug log to and the engine parses (§14.1).
    pub fn parse_source(&self) -> &Path {
        self.raw_log.as_deref().unwrap_or(&self.debug_log)
    }
}

impl LogSets {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            seq: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the log directory (0700) and a fresh set whose parse source and capture are
    /// pre-created with create-new + no-follow, mode 0600: a pre-planted file or symlink fails.
    /// With `redact`, claude writes `<stem>.raw.log` and Clauster keeps `<stem>.log` as its
    /// redacted mirror (§5.2).
    pub fn allocate(&self, project: &str, now_ms: u128, redact: bool) -> io::Result<LogSet> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        loop {
            let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let mut set = LogSet::at(&self.dir, &format!("{project}-{now_ms:013}-{seq}"));
            match create_new_private(&set.debug_log) {
                Ok(_) => {}
                // A file left by an earlier set is a collision: try the next number. A
                // symlink in its place was planted, and is refused (security.md §7.3).
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                    if is_symlink(&set.debug_log) {
                        return Err(planted(&set.debug_log));
                    }
                    continue;
                }
                Err(err) => return Err(err),
            }
            if redact {
                let raw = self.dir.join(format!("{}.raw.log", set.stem));
                create_new_private(&raw)?;
                set.raw_log = Some(raw);
            }
            create_new_private(&set.capture)?;
            return Ok(set);
        }
    }
}

fn create_new_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(|err| {
            if err.kind() == io::ErrorKind::AlreadyExists && is_symlink(path) {
                planted(path)
            } else {
                err
            }
        })
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn planted(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{} is a symbolic link; log files are never followed (remove it and start again)",
            path.display()
        ),
    )
}

/// Copy-then-truncate rotation (§5.3) of `path` when it is larger than `max_bytes`: `.N`
/// shifts to `.N+1` (nothing beyond `keep`), the file is copied to `.1` (0600) and truncated.
/// Returns whether it rotated.
pub fn rotate_if_large(path: &Path, max_bytes: u64, keep: u64) -> io::Result<bool> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > max_bytes => {}
        Ok(_) => return Ok(false),
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err),
    }
    rotate(path, keep)?;
    Ok(true)
}

/// What [`rotate_set`] rotated, so the reader offsets into those files restart at 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotated {
    /// The parse source (the raw log, or the public log without redaction).
    pub parse_source: bool,
    /// The redacted mirror, rotated with its raw log.
    pub mirror: bool,
    pub capture: bool,
}

/// §5.3 for one live set. Each file larger than `max_bytes` is rotated, except that a raw log
/// and its redacted mirror rotate together, once: the mirror first takes the raw log's last
/// complete lines (from the rotated copy, so nothing written before the copy is lost), then
/// rotates with it whatever its own size, and `mirror_read` restarts at 0. The mirror's own
/// shrink rule (§5.2) therefore never fires for a rotation of ours — it used to, and rotated
/// the just-rotated mirror a second time, pushing its history out (issue 14, defect 10).
/// A mirror over the limit whose raw log is not rotates alone.
pub fn rotate_set(set: &LogSet, max_bytes: u64, keep: u64, mirror_read: &mut u64) -> Rotated {
    let mut rotated = Rotated::default();
    let report = |file: &Path, result: io::Result<bool>| match result {
        Ok(true) => {
            tracing::info!("rotated {}", file.display());
            true
        }
        Ok(false) => false,
        Err(err) => {
            tracing::warn!("cannot rotate {}: {err}", file.display());
            false
        }
    };
    if let Some(raw) = &set.raw_log {
        let public = &set.debug_log;
        if report(raw, rotate_if_large(raw, max_bytes, keep)) {
            rotated.parse_source = true;
            if keep > 0
                && let Err(err) = mirror(&numbered(raw, 1), public, mirror_read, keep)
            {
                tracing::warn!("cannot mirror the rest of {}: {err}", raw.display());
            }
            *mirror_read = 0;
            rotated.mirror = report(public, rotate(public, keep).map(|()| true));
        } else {
            rotated.mirror = report(public, rotate_if_large(public, max_bytes, keep));
        }
    } else {
        rotated.parse_source = report(
            &set.debug_log,
            rotate_if_large(&set.debug_log, max_bytes, keep),
        );
    }
    rotated.capture = report(&set.capture, rotate_if_large(&set.capture, max_bytes, keep));
    rotated
}

/// Rotates `path` whatever its size: the generations shift, and `path` is copied to `.1` and
/// truncated (claude keeps writing to its descriptor).
fn rotate(path: &Path, keep: u64) -> io::Result<()> {
    if keep > 0 {
        crate::log_rotation::shift(path, keep)?;
        let mut copy = create_new_private(&numbered(path, 1))?;
        io::copy(&mut File::open(path)?, &mut copy)?;
    }
    OpenOptions::new().write(true).open(path)?.set_len(0)
}

/// Appends to the public log the redacted form of each complete line claude added to the raw
/// log since `offset` (§5.2). A partial last line waits for its newline; a raw log that
/// shrank (rotated) rotates the mirror with it and restarts at 0. NUL bytes are skipped.
pub fn mirror(raw: &Path, public: &Path, offset: &mut u64, keep: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut source = File::open(raw)?;
    let len = source.metadata()?.len();
    if len < *offset {
        rotate(public, keep)?;
        *offset = 0;
    }
    if len == *offset {
        return Ok(());
    }
    source.seek(SeekFrom::Start(*offset))?;
    let mut bytes = Vec::new();
    source.take(len - *offset).read_to_end(&mut bytes)?;
    let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
        return Ok(());
    };
    let complete: Vec<u8> = bytes[..=end].iter().copied().filter(|b| *b != 0).collect();
    let redacted =
        clauster_core::sanitize::sanitize_text(&String::from_utf8_lossy(&complete)).into_owned();
    let mut out = OpenOptions::new()
        .append(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(public)?;
    out.write_all(redacted.as_bytes())?;
    *offset += end as u64 + 1;
    Ok(())
}

/// Deletes the log sets the retention rules of §5.4 select; stems in `keep` survive.
/// Returns how many sets went.
pub fn apply_retention(
    dir: &Path,
    keep: &std::collections::HashSet<String>,
    rules: clauster_core::logset::Retention,
    now: std::time::SystemTime,
) -> usize {
    use clauster_core::logset::{FileFact, parse_log_file_name, plan_retention};
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let epoch = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let files: Vec<FileFact> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(std::fs::Metadata::is_file)?;
            Some(FileFact {
                name: e.file_name().into_string().ok()?,
                mtime: meta.modified().map_or(0, epoch),
                size: meta.len(),
            })
        })
        .collect();
    let doomed = plan_retention(&files, |stem| keep.contains(stem), rules, epoch(now));
    for file in &files {
        if parse_log_file_name(&file.name).is_some_and(|p| doomed.iter().any(|d| d == p.stem)) {
            let _ = std::fs::remove_file(dir.join(&file.name));
        }
    }
    doomed.len()
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt;

    use super::LogSets;

    #[test]
    fn stems_are_unique_private_and_refuse_planted_files() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let sets = LogSets::new(logs.clone());
        let first = sets.allocate("alpha", 1_764_083_000_000, false).unwrap();
        assert_eq!(first.stem, "alpha-1764083000000-1");
        assert_eq!(first.debug_log, logs.join("alpha-1764083000000-1.log"));
        let mode = std::fs::metadata(&first.debug_log)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(&logs).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);

        // A file already planted under the next stem is skipped, never reused.
        std::fs::write(logs.join("alpha-1764083000000-2.log"), "planted").unwrap();
        let next = sets.allocate("alpha", 1_764_083_000_000, false).unwrap();
        assert_eq!(next.stem, "alpha-1764083000000-3");
        assert_eq!(
            std::fs::read_to_string(logs.join("alpha-1764083000000-2.log")).unwrap(),
            "planted"
        );
    }

    #[test]
    fn rotation_keeps_the_newest_copies_and_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a-1764083000000-1.log");
        for round in 1..=4 {
            std::fs::write(&log, format!("round {round}\n")).unwrap();
            assert!(super::rotate_if_large(&log, 3, 2).unwrap());
            assert_eq!(std::fs::metadata(&log).unwrap().len(), 0);
        }
        let copy = |n: u32| std::fs::read_to_string(format!("{}.{n}", log.display())).ok();
        assert_eq!(copy(1).as_deref(), Some("round 4\n"));
        assert_eq!(copy(2).as_deref(), Some("round 3\n"));
        assert_eq!(copy(3), None, "nothing beyond keep_rotated");
        let mode = std::fs::metadata(format!("{}.1", log.display()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Small files stay; keep 0 truncates without a copy.
        std::fs::write(&log, "ab").unwrap();
        assert!(!super::rotate_if_large(&log, 3, 2).unwrap());
        std::fs::write(&log, "abcd").unwrap();
        assert!(super::rotate_if_large(&log, 3, 0).unwrap());
        assert_eq!(copy(1).as_deref(), Some("round 4\n"));
    }

    #[test]
    fn the_mirror_redacts_complete_lines_and_follows_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("a-1764083000000-1.raw.log");
        let public = dir.path().join("a-1764083000000-1.log");
        std::fs::write(&public, "").unwrap();
        std::fs::write(&raw, "created session_01ABCDEFGHJKMNPQRSTVWXYZ00\r\n\0\0env_01ABCDEFGHJKMNPQRSTVWXYZ00 partial").unwrap();
        let mut offset = 0;
        super::mirror(&raw, &public, &mut offset, 5).unwrap();
        let text = std::fs::read_to_string(&public).unwrap();
        assert_eq!(text, "created session_<redacted>\r\n");
        // The partial line waits for its newline.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&raw)
            .unwrap()
            .write_all(b" line\n")
            .unwrap();
        super::mirror(&raw, &public, &mut offset, 5).unwrap();
        let text = std::fs::read_to_string(&public).unwrap();
        assert_eq!(
            text,
            "created session_<redacted>\r\nenv_<redacted> partial line\n"
        );
        // Rotated raw: the mirror rotates too and restarts at 0.
        std::fs::write(&raw, "after\n").unwrap();
        super::mirror(&raw, &public, &mut offset, 5).unwrap();
        assert_eq!(std::fs::read_to_string(&public).unwrap(), "after\n");
        assert!(
            std::fs::read_to_string(format!("{}.1", public.display()))
                .unwrap()
                .contains("partial line")
        );
    }

    #[test]
    fn a_raw_log_and_its_mirror_rotate_together_once() {
        let dir = tempfile::tempdir().unwrap();
        let sets = LogSets::new(dir.path().to_path_buf());
        let set = sets.allocate("a", 1_764_083_000_000, true).unwrap();
        let raw = set.raw_log.clone().unwrap();
        let copy = |path: &std::path::Path, n: u32| {
            std::fs::read_to_string(format!("{}.{n}", path.display())).unwrap_or_default()
        };
        std::fs::write(&raw, "one session_01ABCDEFGHJKMNPQRSTVWXYZ00\ntwo\n").unwrap();
        let mut offset = 0;
        super::mirror(&raw, &set.debug_log, &mut offset, 1).unwrap();
        // Written after the last mirror pass, before the rotation: still reaches the history.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&raw)
            .unwrap()
            .write_all(b"three\npart")
            .unwrap();
        let rotated = super::rotate_set(&set, 4, 1, &mut offset);
        assert_eq!(
            rotated,
            super::Rotated {
                parse_source: true,
                mirror: true,
                capture: false
            }
        );
        assert_eq!(offset, 0);
        assert_eq!(
            copy(&set.debug_log, 1),
            "one session_<redacted>\ntwo\nthree\n"
        );
        assert_eq!(std::fs::metadata(&set.debug_log).unwrap().len(), 0);
        // The next pass sees no shrink of its own making: the history stays where it is.
        std::fs::write(&raw, "after\n").unwrap();
        super::mirror(&raw, &set.debug_log, &mut offset, 1).unwrap();
        assert_eq!(std::fs::read_to_string(&set.debug_log).unwrap(), "after\n");
        assert_eq!(
            copy(&set.debug_log, 1),
            "one session_<redacted>\ntwo\nthree\n"
        );
        // A mirror over the limit whose raw log is not rotates alone.
        std::fs::write(&raw, "").unwrap();
        std::fs::write(&set.debug_log, "a long mirror line\n").unwrap();
        offset = 0;
        let rotated = super::rotate_set(&set, 4, 1, &mut offset);
        assert!(rotated.mirror && !rotated.parse_source);
        assert_eq!(copy(&set.debug_log, 1), "a long mirror line\n");
    }

    #[test]
    fn retention_deletes_whole_old_sets_and_nothing_else() {
        use std::time::{Duration, SystemTime};
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let touch = |name: &str, age_days: u64| {
            let path = dir.path().join(name);
            let file = std::fs::File::create(&path).unwrap();
            file.set_modified(now - Duration::from_hours(24 * age_days))
                .unwrap();
        };
        touch("a-1764083000000-1.log", 40);
        touch("a-1764083000000-1.stderr.log.2", 40);
        touch("a-1764083000001-1.log", 40); // a stored instance's current set
        touch("a-1764083000002-1.log", 1);
        touch("old-notes.txt", 400);
        let keep = std::collections::HashSet::from(["a-1764083000001-1".to_owned()]);
        let rules = clauster_core::logset::Retention {
            max_age_days: 30,
            max_files: 0,
            max_total_mb: 0,
        };
        assert_eq!(super::apply_retention(dir.path(), &keep, rules, now), 1);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "a-1764083000001-1.log",
                "a-1764083000002-1.log",
                "old-notes.txt"
            ]
        );
    }
}
