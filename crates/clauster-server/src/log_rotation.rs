//! Numbered-log rotation, one way for every rotating log: `<log>.1` is the newest old
//! generation, `<log>.<keep>` the oldest kept. The bridge logs (bridges.md §5.2) copy and
//! truncate after the shift because claude holds their descriptor; the CLAUDE.md audit log
//! renames.

use std::io;
use std::path::{Path, PathBuf};

/// `<log>.<n>`.
pub(crate) fn numbered(log: &Path, n: u64) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Makes room for a new `<log>.1`: drops `<log>.<keep>`, then moves `.<keep-1>` to `.<keep>`,
/// …, `.1` to `.2`. Absent generations are skipped. Nothing happens for `keep` 0.
pub(crate) fn shift(log: &Path, keep: u64) -> io::Result<()> {
    if keep == 0 {
        return Ok(());
    }
    absent_is_fine(std::fs::remove_file(numbered(log, keep)))?;
    for n in (1..keep).rev() {
        absent_is_fine(std::fs::rename(numbered(log, n), numbered(log, n + 1)))?;
    }
    Ok(())
}

/// A generation that does not exist is not an error.
fn absent_is_fine(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Rotates by renaming: [`shift`], then `<log>` becomes `<log>.1` (the next write creates a
/// new `<log>`).
pub(crate) fn rotate_by_rename(log: &Path, keep: u64) -> io::Result<()> {
    shift(log, keep)?;
    std::fs::rename(log, numbered(log, 1))
}

#[cfg(test)]
mod tests {
    use super::{numbered, rotate_by_rename};

    #[test]
    fn generations_shift_and_the_oldest_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        for generation in 0..5 {
            std::fs::write(&log, format!("gen{generation}")).unwrap();
            rotate_by_rename(&log, 3).unwrap();
        }
        let read = |n| std::fs::read_to_string(numbered(&log, n)).ok();
        assert!(!log.exists());
        assert_eq!(
            [read(1), read(2), read(3), read(4)],
            [
                Some("gen4".into()),
                Some("gen3".into()),
                Some("gen2".into()),
                None
            ]
        );
    }
}
