//! Log sets (bridges.md §5.1): one stem per launch, `<project>-<epoch ms>-<seq>`, and the
//! files claude and the bridge write into `<state_dir>/logs`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Allocates stems; `seq` counts per server process and skips stems that already have files.
#[derive(Debug)]
pub struct LogSets {
    dir: PathBuf,
    seq: u64,
}

/// The files of one launch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSet {
    pub stem: String,
    /// The parse source claude writes with `--debug-file` (`<stem>.log`).
    pub debug_log: PathBuf,
    /// The bridge's stdout and stderr (`<stem>.stderr.log`).
    pub capture: PathBuf,
}

impl LogSet {
    pub fn at(dir: &Path, stem: &str) -> Self {
        Self {
            stem: stem.to_owned(),
            debug_log: dir.join(format!("{stem}.log")),
            capture: dir.join(format!("{stem}.stderr.log")),
        }
    }
}

impl LogSets {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, seq: 0 }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the log directory (0700) and a fresh set whose parse source and capture are
    /// pre-created with create-new + no-follow, mode 0600: a pre-planted file or symlink fails.
    pub fn allocate(&mut self, project: &str, now_ms: u128) -> io::Result<LogSet> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        loop {
            self.seq += 1;
            let set = LogSet::at(&self.dir, &format!("{project}-{now_ms:013}-{}", self.seq));
            match create_new_private(&set.debug_log) {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(err),
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
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::LogSets;

    #[test]
    fn stems_are_unique_private_and_refuse_planted_files() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let mut sets = LogSets::new(logs.clone());
        let first = sets.allocate("alpha", 1_764_083_000_000).unwrap();
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
        let next = sets.allocate("alpha", 1_764_083_000_000).unwrap();
        assert_eq!(next.stem, "alpha-1764083000000-3");
        assert_eq!(
            std::fs::read_to_string(logs.join("alpha-1764083000000-2.log")).unwrap(),
            "planted"
        );
    }
}
