//! Claude's bridge pointers as the engine meets them (bridges.md §17.3): where a project's
//! pointer is, whether it names a live bridge, the session strip, and the adoption candidate
//! of §9.6.
//!
//! The pointer belongs to claude. Clauster only ever rewrites its `sessionId` (never while the
//! pointer is live) or deletes a file that is not a JSON object.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clauster_core::identity::{Gate, ObservedProcess, StartIdentity, is_live};
use clauster_core::pointer::{BridgePointer, StripOutcome, parse_pointer, strip_session};
use clauster_pty::proc;

use crate::bridge_env::BridgeEnv;

const FILE_NAME: &str = "bridge-pointer.json";
/// A non-live pointer older than this is stripped without backup at startup (§17.3).
const STALE_AT_STARTUP: Duration = Duration::from_hours(14 * 24);

/// Claude's projects directory `<D>/projects`, as the bridges see it.
#[derive(Clone, Debug)]
pub struct PointerDir {
    projects: PathBuf,
}

impl PointerDir {
    /// `D` is the bridges' `CLAUDE_CONFIG_DIR`, else `$HOME/.claude` of their environment.
    pub fn from_env(env: &BridgeEnv) -> Self {
        let config_dir = env
            .get("CLAUDE_CONFIG_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                env.get("HOME")
                    .filter(|h| !h.is_empty())
                    .map(|h| Path::new(h).join(".claude"))
            })
            .unwrap_or_else(|| PathBuf::from("/.claude"));
        Self {
            projects: config_dir.join("projects"),
        }
    }

    /// Claude's transcript directory of the project at `canonical` (data.md §1.1).
    pub fn transcripts_dir(&self, canonical: &Path) -> PathBuf {
        self.projects
            .join(clauster_core::slug::slug(&canonical.to_string_lossy()))
    }

    /// The pointer of the project whose canonical directory is `canonical`.
    pub fn file_for(&self, canonical: &Path) -> PathBuf {
        self.projects
            .join(clauster_core::slug::slug(&canonical.to_string_lossy()))
            .join(FILE_NAME)
    }
}

/// What a pointer file holds.
#[derive(Debug)]
pub enum PointerFile {
    Missing,
    /// Not a JSON object (or unreadable as text): it names no bridge and may be deleted.
    Unparseable,
    Parsed {
        pointer: BridgePointer,
        text: String,
    },
}

pub fn read(path: &Path) -> PointerFile {
    match std::fs::read(path) {
        Err(_) => PointerFile::Missing,
        Ok(bytes) => match String::from_utf8(bytes)
            .ok()
            .and_then(|text| parse_pointer(&text).ok().map(|p| (p.pointer, text)))
        {
            Some((pointer, text)) => PointerFile::Parsed { pointer, text },
            None => PointerFile::Unparseable,
        },
    }
}

/// The live process the pointer names, when its pid still carries the pointer's start
/// ticks and passes `gate` (bridges.md §16).
pub fn live_process(pointer: &BridgePointer, gate: Gate) -> Option<ObservedProcess> {
    let pid = pointer.pid?;
    let recorded = StartIdentity {
        pid,
        start_ticks: Some(pointer.proc_start_ticks?),
        boot_id: None,
        proc_start: None,
    };
    let observed = proc::read_identity(pid).ok().flatten()?;
    is_live(&recorded, Some(&observed), gate).then_some(observed)
}

/// What [`strip_if_not_live`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripResult {
    Missing,
    /// The pointer names a live bridge: never touched.
    Live,
    AlreadyEmpty,
    /// `sessionId` is now `""`.
    Cleared,
    /// It was not a JSON object and was deleted.
    Deleted,
}

/// The strip of §17.3: a pointer that does not name a live bridge gets `sessionId: ""` (every
/// other field kept), after a copy to `bridge-pointer.json.bak` when `backup`; an
/// unparseable one is deleted; a live one is left alone.
pub fn strip_if_not_live(path: &Path, backup: bool) -> io::Result<StripResult> {
    let (pointer, text) = match read(path) {
        PointerFile::Missing => return Ok(StripResult::Missing),
        PointerFile::Unparseable => {
            std::fs::remove_file(path)?;
            return Ok(StripResult::Deleted);
        }
        PointerFile::Parsed { pointer, text } => (pointer, text),
    };
    if live_process(&pointer, Gate::Bridge).is_some() {
        return Ok(StripResult::Live);
    }
    let Ok(StripOutcome::Stripped(value)) = strip_session(&text) else {
        return Ok(StripResult::AlreadyEmpty);
    };
    if backup {
        std::fs::write(path.with_file_name(format!("{FILE_NAME}.bak")), &text)?;
    }
    let bytes = serde_json::to_vec(&value).map_err(io::Error::other)?;
    replace(path, &bytes)?;
    Ok(StripResult::Cleared)
}

/// Strips, without backup, the non-live pointers of `projects` untouched for 14 days
/// (the startup clean-up of §17.3). Returns how many were changed.
pub fn startup_cleanup(dir: &PointerDir, projects: &[PathBuf], now: SystemTime) -> usize {
    projects
        .iter()
        .map(|canonical| dir.file_for(canonical))
        .filter(|path| {
            std::fs::metadata(path)
                .and_then(|m| m.modified())
                .is_ok_and(|mtime| {
                    now.duration_since(mtime)
                        .is_ok_and(|age| age > STALE_AT_STARTUP)
                })
        })
        .filter(|path| {
            matches!(
                strip_if_not_live(path, false),
                Ok(StripResult::Cleared | StripResult::Deleted)
            )
        })
        .count()
}

/// A standard bridge running in a project that Clauster did not start (bridges.md §9.6).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub process: ObservedProcess,
    pub pointer: BridgePointer,
}

impl Candidate {
    pub fn identity(&self) -> StartIdentity {
        proc::start_identity_of(&self.process)
    }

    /// The value of a long option in its argv: `--name value` or `--name=value`.
    pub fn option(&self, name: &str) -> Option<String> {
        let args = self.process.cmdline.args();
        let flag = format!("--{name}");
        let prefix = format!("--{name}=");
        args.iter().enumerate().find_map(|(i, arg)| {
            if *arg == flag {
                args.get(i + 1).cloned()
            } else {
                arg.strip_prefix(&prefix).map(str::to_owned)
            }
        })
    }
}

/// The adoption candidate of the project at `canonical`: the process its pointer names, live
/// with the pointer's start ticks, a standard bridge by its argv, working in that directory.
pub fn adoption_candidate(dir: &PointerDir, canonical: &Path) -> Option<Candidate> {
    let PointerFile::Parsed { pointer, .. } = read(&dir.file_for(canonical)) else {
        return None;
    };
    let process = live_process(&pointer, Gate::StandardOnly)?;
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", process.stat.pid)).ok()?;
    let same_dir = std::fs::canonicalize(&cwd).unwrap_or(cwd) == canonical;
    same_dir.then_some(Candidate { process, pointer })
}

/// Writes `bytes` to `path` through a temporary file and a rename, mode 0600.
fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    clauster_pty::atomic_write::write_private(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_dead_pointer_is_stripped_once_with_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p/bridge-pointer.json");
        // pid 0x7fff_fff0 does not exist: the pointer is not live.
        let text = r#"{"sessionId": "session_01X", "environmentId": "env_01Y", "source": "standalone", "pid": 2147483632, "procStart": "5"}"#;
        write(&path, text);
        assert_eq!(
            strip_if_not_live(&path, true).unwrap(),
            StripResult::Cleared
        );
        let after: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(after["sessionId"], "");
        assert_eq!(after["environmentId"], "env_01Y");
        assert_eq!(after["pid"], 2_147_483_632);
        let bak = path.with_file_name("bridge-pointer.json.bak");
        assert_eq!(std::fs::read_to_string(&bak).unwrap(), text);
        assert_eq!(
            strip_if_not_live(&path, true).unwrap(),
            StripResult::AlreadyEmpty
        );
        assert_eq!(std::fs::read_to_string(&bak).unwrap(), text, "backup kept");
    }

    #[test]
    fn an_unparseable_pointer_is_deleted_and_a_missing_one_is_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge-pointer.json");
        write(&path, "[1, 2");
        assert_eq!(
            strip_if_not_live(&path, true).unwrap(),
            StripResult::Deleted
        );
        assert!(!path.exists());
        assert_eq!(
            strip_if_not_live(&path, true).unwrap(),
            StripResult::Missing
        );
    }

    #[test]
    fn a_pointer_naming_a_live_bridge_is_never_touched() {
        let dir = tempfile::tempdir().unwrap();
        // A process whose argv passes the bridge gate.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30; true", "claude", "remote-control"])
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        // Until `exec` has run, the child still carries this test's command line.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let ticks = loop {
            let observed = proc::read_identity(pid).unwrap().unwrap();
            if observed
                .cmdline
                .args()
                .iter()
                .any(|a| a == "remote-control")
            {
                break observed.stat.start_ticks;
            }
            assert!(std::time::Instant::now() < deadline, "sh never started");
            std::thread::sleep(Duration::from_millis(5));
        };
        let path = dir.path().join("bridge-pointer.json");
        let text = format!(
            r#"{{"sessionId": "session_01X", "environmentId": "env_01Y", "pid": {pid}, "procStart": "{ticks}"}}"#
        );
        write(&path, &text);
        let outcome = strip_if_not_live(&path, true);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(outcome.unwrap(), StripResult::Live);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn startup_cleanup_takes_only_old_pointers() {
        let dir = tempfile::tempdir().unwrap();
        let pointers = PointerDir {
            projects: dir.path().join("projects"),
        };
        let project = PathBuf::from("/srv/alpha");
        let path = pointers.file_for(&project);
        write(
            &path,
            r#"{"sessionId": "session_01X", "pid": 2147483632, "procStart": "5"}"#,
        );
        let now = SystemTime::now();
        assert_eq!(
            startup_cleanup(&pointers, std::slice::from_ref(&project), now),
            0
        );
        let later = now + Duration::from_hours(15 * 24);
        assert_eq!(startup_cleanup(&pointers, &[project], later), 1);
        assert!(!path.with_file_name("bridge-pointer.json.bak").exists());
    }

    #[test]
    fn options_are_read_in_both_spellings() {
        let candidate = Candidate {
            process: ObservedProcess {
                stat: clauster_core::identity::parse_proc_stat(
                    "42 (claude) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0",
                )
                .unwrap(),
                boot_id: None,
                proc_start: None,
                cmdline: clauster_core::identity::Cmdline::from_args([
                    "claude",
                    "remote-control",
                    "--spawn",
                    "worktree",
                    "--permission-mode=plan",
                ]),
            },
            pointer: BridgePointer::default(),
        };
        assert_eq!(candidate.option("spawn").as_deref(), Some("worktree"));
        assert_eq!(candidate.option("permission-mode").as_deref(), Some("plan"));
        assert_eq!(candidate.option("debug-file"), None);
    }
}
