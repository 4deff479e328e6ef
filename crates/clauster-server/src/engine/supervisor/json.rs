//! The wire form of an instance (`clauster_wire::Instance`, http-api.md §2): what every
//! answer, list and `instance` frame carries, built from the record and what only this
//! process knows (liveness, the stop in progress, the notice).
//!
//! Invariant 6: the server converts at its edge, here; `clauster-wire` depends on `serde` and
//! `serde_json` only (plus `utoipa` behind `openapi`).

use clauster_wire::Instance;

use super::{Supervisor, alive};
use crate::engine::logs::LogSet;

/// The notice of a row whose project left `projects_root` (bridges.md §11 step 4).
pub(super) const PROJECT_GONE: &str = "project directory is no longer under projects_root";

impl Supervisor {
    pub(super) fn instance_json(&self, id: &str) -> Instance {
        let live = &self.instances[id];
        let row = &live.row;
        let alive = alive(live);
        let (restarts, next_restart_at) = self.restart_facts(id);
        let set = row
            .log_stem
            .as_ref()
            .map(|stem| LogSet::at(self.logs.dir(), stem));
        let debug_log = set
            .as_ref()
            .map(|set| set.debug_log.to_string_lossy().into_owned())
            .or_else(|| row.debug_log_path.clone());
        let raw_log = set
            .and_then(|set| set.raw_log)
            .map(|path| path.to_string_lossy().into_owned())
            .or_else(|| debug_log.clone());
        Instance {
            instance_id: row.instance_id.clone(),
            project: row.project.clone(),
            label: row.label.clone(),
            channel: "remote-control".into(),
            status: live.status.as_token().into(),
            alive,
            resume_mode: row.resume_mode.clone(),
            spawn_mode: row.spawn_mode.clone(),
            permission_mode: row.permission_mode.clone(),
            sandbox_mode: row.sandbox_mode.clone(),
            intentional_stop: row.intentional_stop,
            started_at: row.launched_at.clone(),
            bridge_pid: row.bridge_pid,
            bridge_proc_start: row.bridge_proc_start,
            bridge_start_ticks: row.bridge_start_ticks,
            bridge_boot_id: row.bridge_boot_id.clone(),
            keeper_pid: row.keeper_pid,
            keeper_proc_start: row.keeper_proc_start,
            keeper_start_ticks: row.keeper_start_ticks,
            worktree_name: row.worktree_name.clone(),
            bridge_id: row.bridge_id.clone(),
            environment_id: row.environment_id.clone(),
            starter_session_id: row.starter_session_id.clone(),
            url: row.url.clone(),
            session_url: row
                .starter_session_id
                .as_ref()
                .map(|s| format!("https://claude.ai/code/{s}?from=cli")),
            bridge_debug_log_path: debug_log,
            bridge_raw_log_path: raw_log,
            error_detail: row.error_detail.clone(),
            notice: live
                .notice
                .clone()
                .or_else(|| live.project_gone.then(|| PROJECT_GONE.to_owned())),
            claude_version: if alive {
                self.caps.claude_version.as_ref().map(ToString::to_string)
            } else {
                None
            },
            error_kind: row.error_kind.clone(),
            error_hint: row.error_hint.clone(),
            ready_at: row.ready_at.clone(),
            ended_at: row.ended_at.clone(),
            stopping: live.phase.is_stopping(),
            resumed_conversation: row.resumed_conversation,
            launch_count: row.launch_count,
            claude_session_uuid: row.claude_session_uuid.clone(),
            claude_session_uuid_usable: row
                .claude_session_uuid
                .as_deref()
                .is_some_and(|u| u.len() == 36 && uuid::Uuid::try_parse(u).is_ok()),
            claustrum_process_id: None,
            agent_pid: None,
            agent_proc_start: None,
            agent_start_ticks: None,
            agent_boot_id: None,
            daemon_last_seq: 0,
            hosted_log_path: None,
            is_orphan: false,
            restarts,
            next_restart_at,
        }
    }
}
