//! The spawn gate of bridges.md §6, steps 1–11: one function for Start and Resume, run on the
//! supervisor over its registry, so a resume can never skip a rule a start obeys (issue 14).
//! What passes becomes a [`Ticket`]; steps 12–17 run off the supervisor (`launch`). Adopt's
//! own checks (§9.6) live beside it and share the same registry and per-project reservation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clauster_core::argv::StandardKind;
use clauster_core::modes::{LaunchMode, PermissionMode, Sandbox, SpawnMode};
use clauster_core::names::{Label, ProjectName, echo};
use clauster_wire::SpawnOutcome;

use super::{
    LaunchKind, LaunchPlan, Live, PTY_FALLBACK_WARNING, Supervisor, invalid, now_ms, pty, rfc3339,
};
use crate::engine::{EngineError, StartRequest};
use crate::store::InstanceRow;

/// A launch the gate let through, with everything steps 12–17 need.
#[derive(Debug)]
pub(super) struct Ticket {
    /// A new record (Start) or the recorded one reset for a relaunch (§9.1).
    pub row: InstanceRow,
    pub plan: LaunchPlan,
    pub warnings: Vec<String>,
    /// Step 13: the project must be trusted first (`trust: true` on an untrusted project).
    pub trust_write: bool,
    /// §9.4: strip the pointer's session before a standard fresh start.
    pub strip_pointer: bool,
    /// The fallback warning a relaunch of §9.2/§9.3 hands to the request waiting on it.
    pub fallback_warning: Option<String>,
}

/// What a Start or Resume asks the gate.
pub(super) enum GateRequest<'a> {
    Start(&'a StartRequest),
    Resume {
        id: &'a str,
        fresh: bool,
        trust: bool,
    },
}

/// The gate's verdict when it does not refuse.
pub(super) enum Gated {
    /// Step 9: an existing live instance answers (`created: false`).
    Existing(Box<SpawnOutcome>),
    Launch(Box<Ticket>),
}

/// Step 1's facts about a project.
struct Project {
    name: ProjectName,
    canonical: PathBuf,
    is_git: bool,
}

const CAPPED: &str =
    "standard bridges are capped at one per project, so the existing bridge was returned";

impl Supervisor {
    /// Steps 1–11 of §6 for a Start or a Resume.
    pub(super) fn gate(&self, request: &GateRequest<'_>) -> Result<Gated, EngineError> {
        match *request {
            GateRequest::Start(start) => self.gate_start(start),
            GateRequest::Resume { id, fresh, trust } => self.gate_resume(id, fresh, trust),
        }
    }

    /// Step 1: a valid name and a discovered directory of `projects_root`.
    fn gate_project(&self, project: &str) -> Result<Project, EngineError> {
        let unknown = || EngineError::NotFound(format!("project '{}' not found", echo(project)));
        let name = ProjectName::new(project).map_err(|_| unknown())?;
        let dir = self.config.projects_root.join(name.as_str());
        if !std::fs::metadata(&dir).is_ok_and(|m| m.is_dir()) {
            return Err(unknown());
        }
        let canonical = std::fs::canonicalize(&dir).map_err(|_| unknown())?;
        let is_git = dir.join(".git").exists();
        Ok(Project {
            name,
            canonical,
            is_git,
        })
    }

    #[allow(clippy::too_many_lines)] // the gate sequence reads top to bottom in the spec's order
    fn gate_start(&self, request: &StartRequest) -> Result<Gated, EngineError> {
        let config = Arc::clone(&self.config);
        let mut warnings = Vec::new();
        // 1. The project.
        let Project {
            name,
            canonical,
            is_git,
        } = self.gate_project(&request.project)?;
        // 2. The channel.
        if let Some(channel) = request
            .channel
            .as_deref()
            .filter(|c| *c != "remote-control")
        {
            return Err(invalid(
                format!(
                    "channel '{}' is not supported by this server",
                    echo(channel)
                ),
                Some("channel"),
            ));
        }
        // 3. Defaults and the sandbox token.
        if let Some(sandbox) = &request.sandbox {
            sandbox
                .parse::<Sandbox>()
                .map_err(|e| invalid(e.to_string(), Some("sandbox")))?;
        }
        // 4. The effective mode (§2): a build without PTY support falls back to standard.
        let mut mode = match request.resume_mode.as_deref() {
            Some(token) => token
                .parse::<LaunchMode>()
                .map_err(|e| invalid(e.to_string(), Some("resume_mode")))?,
            None => config.claude.launch_mode,
        };
        if mode == LaunchMode::Pty && !pty::SUPPORTED {
            warnings.push(PTY_FALLBACK_WARNING.to_owned());
            mode = LaunchMode::Standard;
        }
        // 5. Spawn and permission modes.
        let mut spawn_mode = match request.spawn_mode.as_deref() {
            Some(token) => token
                .parse::<SpawnMode>()
                .map_err(|e| invalid(e.to_string(), Some("spawn_mode")))?,
            None => config.instance_defaults.spawn_mode,
        };
        if spawn_mode == SpawnMode::Worktree && !is_git {
            if request.spawn_mode.is_some() {
                return Err(invalid(
                    format!("worktree spawn mode needs a git repository; '{name}' is not one"),
                    Some("spawn_mode"),
                ));
            }
            warnings.push(format!(
                "worktree spawn mode needs a git repository; '{name}' is not one, so same-dir was used"
            ));
            spawn_mode = SpawnMode::SameDir;
        }
        if mode == LaunchMode::Pty {
            spawn_mode = pty::coerce_spawn_mode(spawn_mode, &mut warnings);
        }
        let permission_mode = match request.permission_mode.as_deref() {
            Some(token) => token
                .parse::<PermissionMode>()
                .map_err(|e| invalid(e.to_string(), Some("permission_mode")))?,
            None => config.instance_defaults.permission_mode,
        };
        // 6. The bypass ceiling.
        self.gate_bypass(&name, permission_mode)?;
        // 7. The label.
        let label = Label::resolve(request.name.as_deref(), &name)
            .map_err(|e| invalid(e.to_string(), Some("name")))?;
        // 8. A conversation to fork (§3.6, pty only).
        let fork = match &request.resume_session_id {
            Some(session) => Some(self.fork_target(session, mode, name.as_str(), &canonical)?),
            None => None,
        };
        let kind = match mode {
            LaunchMode::Standard => LaunchKind::Standard(StandardKind::Fresh),
            LaunchMode::Pty => {
                LaunchKind::Pty(fork.map_or(pty::Conversation::New, pty::Conversation::Fork))
            }
        };
        // 9. Idempotency and the adopt-first refusal.
        if let Some(existing) = self.gate_live_bridges(&name, &canonical, mode, None, &warnings)? {
            return Ok(Gated::Existing(Box::new(existing)));
        }
        // 10–11. Trust and the cap.
        let trusted = self.gate_trust_and_cap(&canonical, is_git, request.trust)?;
        // 16's record (written off the supervisor, before the launch).
        let timestamp = rfc3339(now_ms());
        let instance_id = uuid::Uuid::new_v4().to_string();
        let worktree_name = (mode == LaunchMode::Pty && spawn_mode == SpawnMode::Worktree)
            .then(|| pty::worktree_name(&instance_id));
        let row = InstanceRow {
            instance_id,
            project: name.as_str().to_owned(),
            label: label.as_str().to_owned(),
            resume_mode: mode.as_token().to_owned(),
            worktree_name,
            spawn_mode: spawn_mode.as_token().to_owned(),
            permission_mode: permission_mode.as_token().to_owned(),
            sandbox_mode: Sandbox::Default.as_token().to_owned(),
            launch_count: 1,
            created_at: timestamp.clone(),
            updated_at: timestamp,
            ..InstanceRow::default()
        };
        Ok(Gated::Launch(Box::new(Ticket {
            row,
            plan: LaunchPlan {
                label,
                spawn_mode,
                permission_mode,
                kind,
                canonical,
            },
            warnings,
            trust_write: !trusted,
            strip_pointer: false,
            fallback_warning: None,
        })))
    }

    /// §9.1: the recorded settings re-enter the gate under the same instance id.
    fn gate_resume(&self, id: &str, fresh: bool, trust: bool) -> Result<Gated, EngineError> {
        let live = &self.instances[id];
        // A Stop is ending it: resuming now would answer with a bridge about to be gone.
        if live.phase.is_stopping() {
            return Err(EngineError::Conflict(format!(
                "instance '{}' is stopping; resume it once it has stopped",
                live.row.label
            )));
        }
        // Step 9 for the instance itself: a live one answers for itself.
        if live.is_live() {
            return Ok(Gated::Existing(Box::new(SpawnOutcome {
                instance: self.instance_json(id),
                created: false,
                reason: Some("already running".into()),
                warnings: Vec::new(),
            })));
        }
        // 1. The recorded project.
        let Project {
            name,
            canonical,
            is_git,
        } = self.gate_project(&live.row.project)?;
        // 2–4. The recorded mode, always (§2 rule 2).
        let mode = if live.is_pty() {
            LaunchMode::Pty
        } else {
            LaunchMode::Standard
        };
        // 5. A recorded worktree needs the repository still.
        let spawn_mode: SpawnMode = live.row.spawn_mode.parse().unwrap_or(SpawnMode::SameDir);
        if spawn_mode == SpawnMode::Worktree && !is_git {
            return Err(invalid(
                format!("worktree spawn mode needs a git repository; '{name}' is not one"),
                Some("spawn_mode"),
            ));
        }
        let permission_mode: PermissionMode = live.row.permission_mode.parse().unwrap_or_default();
        // 6. The bypass ceiling against the current config.
        self.gate_bypass(&name, permission_mode)?;
        // 7. The recorded label.
        let label = Label::resolve(Some(&live.row.label), &name)
            .map_err(|e| invalid(e.to_string(), Some("name")))?;
        // 9. Another live standard bridge in the project, managed or not.
        if let Some(existing) = self.gate_live_bridges(&name, &canonical, mode, Some(id), &[])? {
            return Ok(Gated::Existing(Box::new(existing)));
        }
        // 10–11.
        let trusted = self.gate_trust_and_cap(&canonical, is_git, trust)?;
        let mut row = live.row.clone();
        if mode == LaunchMode::Pty && fresh {
            // A fresh start forgets the conversation (§9.2).
            row.claude_session_uuid = None;
        }
        row.intentional_stop = false;
        row.error_kind = None;
        row.error_detail = None;
        row.error_hint = None;
        row.ready_at = None;
        row.ended_at = None;
        row.resumed_conversation = false;
        row.launch_count += 1;
        let kind = match (mode, fresh) {
            (LaunchMode::Standard, true) => LaunchKind::Standard(StandardKind::Fresh),
            (LaunchMode::Standard, false) => {
                LaunchKind::Standard(StandardKind::Resume(self.config.claude.standard_resume))
            }
            (LaunchMode::Pty, true) => LaunchKind::Pty(pty::Conversation::New),
            (LaunchMode::Pty, false) => LaunchKind::Pty(pty::Conversation::resume(
                row.claude_session_uuid.as_deref(),
            )),
        };
        Ok(Gated::Launch(Box::new(Ticket {
            row,
            plan: LaunchPlan {
                label,
                spawn_mode,
                permission_mode,
                kind,
                canonical,
            },
            warnings: Vec::new(),
            trust_write: !trusted,
            strip_pointer: fresh && mode == LaunchMode::Standard,
            fallback_warning: None,
        })))
    }

    /// Step 9 (bridges.md §6, issue 14): a standard launch never starts beside a live standard
    /// bridge. A live managed one answers with `created: false`; a live one no record names
    /// (started by hand) refuses with "adopt it first", since neither Start nor Resume adopts.
    pub(super) fn gate_live_bridges(
        &self,
        name: &ProjectName,
        canonical: &Path,
        mode: LaunchMode,
        resumed: Option<&str>,
        warnings: &[String],
    ) -> Result<Option<SpawnOutcome>, EngineError> {
        if mode != LaunchMode::Standard {
            return Ok(None);
        }
        // By directory, not by name: a symlink alias or a renamed project directory is the
        // same place, and claude keys everything on the directory (issue 15 review).
        if let Some((other, _)) = self.instances.iter().find(|(other, live)| {
            Some(other.as_str()) != resumed
                && !live.is_pty()
                && live.is_live()
                && (live.row.project == name.as_str()
                    || self.bridge_dir(live).as_deref() == Some(canonical))
        }) {
            if self.instances[other].phase.is_stopping() {
                return Err(EngineError::Conflict(format!(
                    "the standard bridge of '{name}' is stopping; start it again once it has stopped"
                )));
            }
            return Ok(Some(SpawnOutcome {
                instance: self.instance_json(other),
                created: false,
                reason: Some(format!(
                    "a standard bridge for '{name}' is already running — {CAPPED}"
                )),
                warnings: warnings.to_vec(),
            }));
        }
        if self.adoptable(canonical).is_some() {
            return Err(adopt_first(name));
        }
        Ok(None)
    }

    /// Step 9's last look, at the spawn: `strangers` are the standard bridges the launch's
    /// blocking half found working in the directory (a `/proc` scan, so a bridge started by
    /// hand without a pointer counts too); one no instance of ours holds refuses the launch.
    pub(super) fn gate_strangers(
        &self,
        name: &ProjectName,
        strangers: &[i32],
    ) -> Result<(), EngineError> {
        let held = |pid: i32| {
            self.instances.values().any(|live| {
                live.phase.exited().is_none()
                    && live.identity.as_ref().is_some_and(|i| i.pid == pid)
            })
        };
        if strangers.iter().any(|pid| !held(*pid)) {
            return Err(adopt_first(name));
        }
        Ok(())
    }

    /// The canonical directory a managed standard bridge runs in: its process's cwd while it
    /// has one, else its project's directory.
    fn bridge_dir(&self, live: &Live) -> Option<PathBuf> {
        let cwd = live
            .identity
            .as_ref()
            .filter(|_| live.phase.exited().is_none())
            .and_then(|i| std::fs::read_link(format!("/proc/{}/cwd", i.pid)).ok());
        let dir = cwd.unwrap_or_else(|| self.config.projects_root.join(&live.row.project));
        std::fs::canonicalize(dir).ok()
    }
}

/// The 409 of step 9: a standard bridge Clauster did not start works in the directory.
fn adopt_first(name: &ProjectName) -> EngineError {
    EngineError::Conflict(format!(
        "a standard bridge not started by Clauster is already running in '{name}'; adopt it first (Adopt on its card, or POST /api/projects/{name}/adopt)"
    ))
}

/// The live standard bridges (bridges.md §16, standard-only gate) whose working directory is
/// `canonical`, other than `ours` and their descendants. Blocking: a `/proc` scan, run off
/// the supervisor.
pub(super) fn standard_bridges_in(canonical: &Path, ours: &[i32]) -> Vec<i32> {
    use clauster_core::identity::Gate;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| !ours.contains(pid))
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .ok()
                .and_then(|cwd| std::fs::canonicalize(cwd).ok())
                .is_some_and(|cwd| cwd == canonical)
        })
        .filter(|pid| {
            clauster_pty::proc::read_identity(*pid)
                .ok()
                .flatten()
                .is_some_and(|p| !p.stat.is_defunct() && Gate::StandardOnly.admits(&p.cmdline))
        })
        .filter(|pid| !pty::descends_from(*pid, ours))
        .collect()
}
