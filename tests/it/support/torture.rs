//! What the torture test (`tests/it/torture.rs`) watches from outside the server: the bridges
//! `/proc` shows, a sampler that checks "one standard bridge per directory" between steps, and
//! holders of the two locks Clauster waits on (the SQLite store, `~/.claude.json`). Its
//! `/healthz` prober is `support::health`'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A live standard bridge (`claude remote-control …`) of one sandbox, as `/proc` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcBridge {
    pub pid: u32,
    /// Its working directory (the kernel's resolved path).
    pub cwd: PathBuf,
    pub cmdline: String,
}

/// Every live (not zombie) standard bridge whose command line names `marker` (the sandbox's
/// directory: the fake's path, or the `--debug-file` under its state directory).
pub fn standard_bridges(marker: &str) -> Vec<ProcBridge> {
    let mut found = Vec::new();
    for (pid, text) in super::processes_naming(marker) {
        let args: Vec<&str> = text.split('\0').collect();
        if args.get(1) != Some(&"remote-control") || args.get(2) == Some(&"--help") {
            continue;
        }
        if !super::process_exists(i64::from(pid)) {
            continue;
        }
        let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) else {
            continue;
        };
        found.push(ProcBridge {
            pid,
            cwd,
            cmdline: args.join(" ").trim_end().to_owned(),
        });
    }
    found
}

/// The directories that hold more than one live standard bridge right now.
pub fn crowded_dirs(bridges: &[ProcBridge]) -> Vec<(PathBuf, Vec<ProcBridge>)> {
    let mut by_dir: BTreeMap<PathBuf, Vec<ProcBridge>> = BTreeMap::new();
    for bridge in bridges {
        by_dir
            .entry(bridge.cwd.clone())
            .or_default()
            .push(bridge.clone());
    }
    by_dir.into_iter().filter(|(_, b)| b.len() > 1).collect()
}

/// Scans `/proc` every 100 ms on its own thread and keeps the first time a directory held two
/// live standard bridges: a safety property, so it must hold at every instant, not only at
/// the checks between steps.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    violation: Arc<Mutex<Option<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    pub fn start(marker: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let violation = Arc::new(Mutex::new(None));
        let thread = {
            let stop = Arc::clone(&stop);
            let violation = Arc::clone(&violation);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let crowded = crowded_dirs(&standard_bridges(&marker));
                    // Seen twice in a row 50 ms apart, so a process caught between exit and
                    // reaping by a racing read is not reported; a real second bridge lives on.
                    if !crowded.is_empty() {
                        std::thread::sleep(Duration::from_millis(50));
                        let again = crowded_dirs(&standard_bridges(&marker));
                        if let Some((dir, bridges)) = again.first() {
                            let mut slot = violation.lock().expect("the sampler's slot");
                            slot.get_or_insert_with(|| {
                                format!(
                                    "two live standard bridges in {} (seen by the /proc sampler during or before this step): {bridges:#?}",
                                    dir.display()
                                )
                            });
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Self {
            stop,
            violation,
            thread: Some(thread),
        }
    }

    /// The first violation seen, if any.
    pub fn violation(&self) -> Option<String> {
        self.violation.lock().expect("the sampler's slot").clone()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A lock held on a thread for a while, then released: the SQLite store write-locked
/// (`BEGIN EXCLUSIVE`) or `~/.claude.json`'s lock file `flock`ed.
pub struct HeldLock {
    pub until: Instant,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl HeldLock {
    /// Write-locks the store at `db` for `hold` (taking the lock may itself wait for the
    /// server's own write to finish).
    pub fn store(db: PathBuf, hold: Duration) -> Self {
        let (taken_tx, taken) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).map_err(|e| e.to_string())?;
            conn.busy_timeout(Duration::from_secs(30))
                .map_err(|e| e.to_string())?;
            let locked = conn.execute_batch("BEGIN EXCLUSIVE");
            let _ = taken_tx.send(());
            locked.map_err(|e| format!("BEGIN EXCLUSIVE on {}: {e}", db.display()))?;
            std::thread::sleep(hold);
            conn.execute_batch("ROLLBACK").map_err(|e| e.to_string())
        });
        let _ = taken.recv_timeout(Duration::from_secs(30));
        Self {
            until: Instant::now() + hold,
            thread: Some(thread),
        }
    }

    /// `flock`s `lock_file` for `hold`.
    pub fn file(lock_file: PathBuf, hold: Duration) -> Self {
        let (taken_tx, taken) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            if let Some(parent) = lock_file.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_file)
                .map_err(|e| e.to_string())?;
            let locked = file.lock();
            let _ = taken_tx.send(());
            locked.map_err(|e| format!("flock {}: {e}", lock_file.display()))?;
            std::thread::sleep(hold);
            file.unlock().map_err(|e| e.to_string())
        });
        let _ = taken.recv_timeout(Duration::from_secs(30));
        Self {
            until: Instant::now() + hold,
            thread: Some(thread),
        }
    }

    pub fn is_held(&self) -> bool {
        Instant::now() < self.until
    }

    /// Waits for the release; the holder's own failure, if any.
    pub fn release(mut self) -> Result<(), String> {
        self.thread.take().map_or(Ok(()), |t| {
            t.join().unwrap_or_else(|_| Err("panicked".into()))
        })
    }
}

/// The lock file Clauster takes around `~/.claude.json` (bridges.md §12.4): under
/// `<state_dir>/locks`, named by the first 16 bytes of the SHA-256 of the file's canonical
/// path.
pub fn claude_json_lock(state_dir: &Path, global_file: &Path) -> PathBuf {
    use sha2::{Digest, Sha256};
    let canonical = std::fs::canonicalize(global_file).unwrap_or_else(|_| global_file.into());
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    state_dir
        .join("locks")
        .join(format!("{}.lock", super::hex(&digest[..16])))
}

/// Takes Clauster's lock around `global` (see [`claude_json_lock`]) in this process, as a
/// competing writer would; released when the returned file is dropped.
pub fn lock_claude_json(state_dir: &Path, global: &Path) -> std::fs::File {
    let lock_file = claude_json_lock(state_dir, global);
    std::fs::create_dir_all(lock_file.parent().unwrap()).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_file)
        .unwrap();
    lock.lock().unwrap();
    lock
}
