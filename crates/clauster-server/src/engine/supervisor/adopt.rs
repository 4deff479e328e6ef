//! Adoption (bridges.md §9.6): a standard bridge started outside Clauster becomes a managed
//! `running` instance. Its checks sit beside the spawn gate (`gate.rs`) and share the
//! registry and the per-project reservation; the record is on disk before it is shown.

use std::path::Path;
use std::time::Duration;

use clauster_core::identity::StartIdentity;
use clauster_core::modes::{LaunchMode, PermissionMode, Sandbox, SpawnMode};
use clauster_core::names::{ProjectName, echo};
use clauster_core::status::Status;
use clauster_wire::Instance;
use tokio::sync::oneshot;

use super::{Continuation, Live, Supervisor, now_ms, rfc3339};
use crate::engine::EngineError;
use crate::engine::pointers;
use crate::store::InstanceRow;

impl Supervisor {
    /// The adoption candidate of §9.6 in `canonical`, unless one of our instances already
    /// holds that process.
    pub(super) fn adoptable(&self, canonical: &Path) -> Option<pointers::Candidate> {
        let candidate = pointers::adoption_candidate(&self.pointers, canonical)?;
        let pid = candidate.process.stat.pid;
        let held = self.instances.values().any(|live| {
            live.phase.exited().is_none() && live.identity.as_ref().is_some_and(|i| i.pid == pid)
        });
        (!held).then_some(candidate)
    }

    /// bridges.md §9.6: a standard bridge started outside Clauster becomes a managed
    /// `running` instance.
    pub(super) fn adopt(
        &mut self,
        project: &str,
        reply: oneshot::Sender<Result<Instance, EngineError>>,
    ) {
        match self.adoption(project) {
            Err(err) => {
                let _ = reply.send(Err(err));
            }
            Ok((row, identity)) => {
                // The record is on disk before the bridge is shown as managed.
                let written = self.writer.upsert_confirmed(row.clone());
                self.reserve(row.project.clone(), async move {
                    let written = written
                        .await
                        .unwrap_or_else(|_| Err("the store writer has stopped".into()));
                    Continuation::new(move |supervisor| {
                        supervisor.adopted(row, identity, written, reply);
                    })
                });
            }
        }
    }

    pub(super) fn adopted(
        &mut self,
        row: InstanceRow,
        identity: StartIdentity,
        written: Result<(), String>,
        reply: oneshot::Sender<Result<Instance, EngineError>>,
    ) {
        if let Err(reason) = written {
            let _ = reply.send(Err(EngineError::Unavailable(reason)));
            return;
        }
        let id = row.instance_id.clone();
        self.launches += 1;
        let live = Live::new(row, Status::Running, self.launches, false, Some(identity));
        self.instances.insert(id.clone(), live);
        self.publish(&id);
        self.observe(&id);
        let _ = reply.send(Ok(self.instance_json(&id)));
    }

    /// The checks of §9.6 and the record an adoption creates.
    pub(super) fn adoption(
        &self,
        project: &str,
    ) -> Result<(InstanceRow, StartIdentity), EngineError> {
        let unknown = || EngineError::NotFound(format!("project '{}' not found", echo(project)));
        let name = ProjectName::new(project).map_err(|_| unknown())?;
        let project_dir = self.config.projects_root.join(name.as_str());
        if !project_dir.is_dir() {
            return Err(unknown());
        }
        let canonical = std::fs::canonicalize(&project_dir).map_err(|_| unknown())?;
        let managed = self.instances.values().any(|l| {
            l.row.project == name.as_str()
                && l.row.resume_mode == LaunchMode::Standard.as_token()
                && l.status.is_live()
        });
        if managed {
            return Err(EngineError::Conflict(format!(
                "'{name}' already has a standard bridge managed by Clauster"
            )));
        }
        let nothing = || EngineError::Conflict(format!("nothing to adopt in '{name}'"));
        let candidate =
            pointers::adoption_candidate(&self.pointers, &canonical).ok_or_else(nothing)?;
        let pid = candidate.process.stat.pid;
        if let Some(holder) = self.instances.values().find(|l| {
            l.phase.exited().is_none() && l.identity.as_ref().is_some_and(|i| i.pid == pid)
        }) {
            return Err(EngineError::Conflict(format!(
                "the bridge in '{name}' is already managed as part of '{}'",
                holder.row.project
            )));
        }
        let debug_file = candidate
            .option("debug-file")
            .map(|file| canonical.join(file));
        let log_stem = debug_file.as_deref().and_then(|p| self.own_log_stem(p));
        let identity = candidate.identity();
        let mut row = adopted_row(&name, &candidate, log_stem.as_deref());
        if log_stem.is_none() {
            // Its own debug log, read like ours and remembered across restarts (§9.6).
            row.debug_log_path = debug_file
                .filter(|p| std::fs::File::open(p).is_ok())
                .map(|p| p.to_string_lossy().into_owned());
        }
        Ok((row, identity))
    }

    /// The stem of `path` when it is the public debug log of a set in our log directory.
    pub(super) fn own_log_stem(&self, path: &Path) -> Option<String> {
        let dir = std::fs::canonicalize(path.parent()?).ok()?;
        if dir != std::fs::canonicalize(self.logs.dir()).ok()? {
            return None;
        }
        let stem = path.file_name()?.to_str()?.strip_suffix(".log")?;
        // `<stem>.raw.log` and `<stem>.stderr.log` are not public debug logs (names are ours:
        // exact case).
        let public = !matches!(
            Path::new(stem).extension().and_then(|e| e.to_str()),
            Some("raw" | "stderr")
        );
        public.then(|| stem.to_owned())
    }

    /// `GET /api/sessions/adoptable`: the projects with an adoption candidate, sorted.
    pub(super) fn adoptable_projects(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.config.projects_root) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_owned();
                ProjectName::new(&name).ok()?;
                let canonical = std::fs::canonicalize(e.path()).ok()?;
                let managed = self.instances.values().any(|l| {
                    l.row.project == name
                        && l.row.resume_mode == LaunchMode::Standard.as_token()
                        && l.status.is_live()
                });
                (!managed && self.adoptable(&canonical).is_some()).then_some(name)
            })
            .collect();
        names.sort();
        names
    }
}

/// The record of an adopted bridge (§9.6): a fresh id, the project's name as label, the
/// modes its argv names, readiness facts from its pointer.
fn adopted_row(
    name: &ProjectName,
    candidate: &pointers::Candidate,
    log_stem: Option<&str>,
) -> InstanceRow {
    let identity = candidate.identity();
    let spawn_mode = candidate
        .option("spawn")
        .and_then(|t| t.parse::<SpawnMode>().ok())
        .unwrap_or(SpawnMode::SameDir);
    let permission_mode = candidate
        .option("permission-mode")
        .and_then(|t| t.parse::<PermissionMode>().ok())
        .unwrap_or(PermissionMode::Inherit);
    let now = rfc3339(now_ms());
    let started = identity
        .proc_start
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .map_or_else(|| now.clone(), |at| rfc3339(at.as_millis()));
    let environment_id = candidate
        .pointer
        .environment_id
        .clone()
        .filter(|e| !e.is_empty());
    InstanceRow {
        instance_id: uuid::Uuid::new_v4().to_string(),
        project: name.as_str().to_owned(),
        label: name.as_str().to_owned(),
        resume_mode: LaunchMode::Standard.as_token().to_owned(),
        spawn_mode: spawn_mode.as_token().to_owned(),
        permission_mode: permission_mode.as_token().to_owned(),
        sandbox_mode: Sandbox::Default.as_token().to_owned(),
        last_status: Status::Running.as_token().to_owned(),
        launched_at: Some(started),
        ready_at: Some(now.clone()),
        log_stem: log_stem.map(str::to_owned),
        bridge_pid: Some(i64::from(identity.pid)),
        bridge_start_ticks: identity.start_ticks.and_then(|t| i64::try_from(t).ok()),
        bridge_proc_start: identity.proc_start,
        bridge_boot_id: identity.boot_id.as_ref().map(|b| b.as_str().to_owned()),
        url: environment_id
            .as_ref()
            .map(|env| format!("https://claude.ai/code?environment={env}")),
        environment_id,
        starter_session_id: candidate
            .pointer
            .session_id
            .clone()
            .filter(|s| !s.is_empty()),
        launch_count: 1,
        created_at: now.clone(),
        updated_at: now,
        ..InstanceRow::default()
    }
}
