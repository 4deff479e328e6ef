//! Instance objects (http-api.md §5.1), spawn outcomes and the `/ws/events` frames (§8.4).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{PageContext, Project, Usage};

/// Clauster's record of one bridge as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Instance {
    pub instance_id: String,
    pub project: String,
    pub label: String,
    pub channel: String,
    /// `starting`, `running`, `stopped`, `crashed` or `error`.
    pub status: String,
    pub alive: bool,
    pub resume_mode: String,
    pub spawn_mode: String,
    pub permission_mode: String,
    pub sandbox_mode: String,
    pub intentional_stop: bool,
    pub started_at: Option<String>,
    pub bridge_pid: Option<i64>,
    pub bridge_proc_start: Option<f64>,
    pub bridge_start_ticks: Option<i64>,
    pub bridge_boot_id: Option<String>,
    pub keeper_pid: Option<i64>,
    pub keeper_proc_start: Option<f64>,
    pub keeper_start_ticks: Option<i64>,
    pub worktree_name: Option<String>,
    pub bridge_id: Option<String>,
    pub environment_id: Option<String>,
    pub starter_session_id: Option<String>,
    pub url: Option<String>,
    pub session_url: Option<String>,
    pub bridge_debug_log_path: Option<String>,
    pub bridge_raw_log_path: Option<String>,
    pub error_detail: Option<String>,
    pub notice: Option<String>,
    pub claude_version: Option<String>,
    pub error_kind: Option<String>,
    pub error_hint: Option<String>,
    pub ready_at: Option<String>,
    pub ended_at: Option<String>,
    pub stopping: bool,
    pub resumed_conversation: bool,
    pub launch_count: i64,
    /// The conversation the bridge runs, when known (a pty bridge's `--resume` target).
    /// Emitted as 1.3.2 does: issue 18 reverses bridges.md §10.2 here.
    #[serde(default)]
    pub claude_session_uuid: Option<String>,
    /// Whether `claude_session_uuid` has the shape of a UUID (1.3.2's Resume gate).
    #[serde(default)]
    pub claude_session_uuid_usable: bool,
    /// The keys of 1.3.2's hosted channel, which this product does not have: always `null`,
    /// `0` or `false`, present so scripts that read them keep working (issue 18).
    #[serde(default)]
    pub claustrum_process_id: Option<String>,
    #[serde(default)]
    pub agent_pid: Option<i64>,
    #[serde(default)]
    pub agent_proc_start: Option<f64>,
    #[serde(default)]
    pub agent_start_ticks: Option<i64>,
    #[serde(default)]
    pub agent_boot_id: Option<String>,
    #[serde(default)]
    pub daemon_last_seq: i64,
    #[serde(default)]
    pub hosted_log_path: Option<String>,
    #[serde(default)]
    pub is_orphan: bool,
    /// Automatic restarts within `instance_defaults.restart_window_seconds` (bridges.md §7.9).
    #[serde(default)]
    pub restarts: u32,
    /// When the pending automatic restart is due (RFC 3339), if one is.
    #[serde(default)]
    pub next_restart_at: Option<String>,
}

/// The answer of a start or resume: the instance plus what happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpawnOutcome {
    #[serde(flatten)]
    pub instance: Instance,
    pub created: bool,
    pub reason: Option<String>,
    pub warnings: Vec<String>,
}

/// `{"id", "forgotten": true}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Forgotten {
    pub id: String,
    pub forgotten: bool,
}

/// Health facts pushed on `/ws/events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthFacts {
    pub claude_ok: Option<bool>,
    pub claude_version: Option<String>,
    pub store_ok: bool,
    pub engine_ready: bool,
}

/// Everything the dashboard shows, at one moment (the `snapshot` frame and `GET /api/state`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub projects: Vec<Project>,
    pub instances: Vec<Instance>,
    /// The cached rollup of every project computed so far (empty when `usage.mode` is off).
    #[serde(default)]
    pub usage: BTreeMap<String, Usage>,
    /// The metrics cache (data.md §4), keyed by instance id; empty when metrics are off.
    #[serde(default)]
    pub metrics: BTreeMap<String, crate::Metrics>,
    pub health: HealthFacts,
    /// The login cache (http-api.md §3), as `GET /api/login-status` answers it.
    #[serde(default)]
    pub login: crate::LoginStatus,
    /// The last `claude agents --json` poll, attributed.
    #[serde(default)]
    pub sessions: crate::SessionsView,
    /// Running clone jobs (data.md §3.5), so another tab picks them up.
    #[serde(default)]
    pub clone_jobs: Vec<crate::CloneJobSummary>,
    /// Each project's preflight (http-api.md §4), by project name.
    #[serde(default)]
    pub preflight: BTreeMap<String, crate::CheckReport>,
    /// The host's readiness (ui.md §2.1); `None` until the first checks finished.
    #[serde(default)]
    pub readiness: Option<crate::Readiness>,
}

/// One `/ws/events` frame: `type` plus its payload; `seq` is added per connection.
// Frames are built, serialised once and dropped; boxing the large ones would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    Hello {
        version: String,
        server_time: String,
        context: PageContext,
    },
    Snapshot(Snapshot),
    Instance {
        instance: Instance,
    },
    InstanceRemoved {
        instance_id: String,
    },
    Project {
        project: Project,
        /// The project's preflight; absent from producers that predate it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preflight: Option<crate::CheckReport>,
    },
    ProjectRemoved {
        name: String,
    },
    Health(HealthFacts),
    Heartbeat {
        server_time: String,
    },
    Resync {
        reason: String,
    },
    /// `claude agents --json` changed (bridges.md §17).
    Sessions(crate::SessionsView),
    /// A project's rollup changed (data.md §1.6); only when `usage.mode` is not `off`.
    Usage {
        project: String,
        usage: Usage,
    },
    /// A clone job started, progressed (at most 4/s) or ended.
    Clone {
        job: crate::CloneJobState,
    },
    /// A metrics refresh changed the map (data.md §4): the complete current map, keyed by
    /// instance id; only when `metrics.enabled`.
    Metrics {
        metrics: BTreeMap<String, crate::Metrics>,
    },
    /// The login cache changed (http-api.md §3): `claude auth status` said something new.
    Login(crate::LoginStatus),
    /// The host's readiness changed, or a Re-check ran (ui.md §2.1).
    Readiness(crate::Readiness),
    /// The dashboard's sign-in of claude moved on (http-api.md §3.2).
    LoginFlow(crate::LoginFlowFrame),
    /// A saved setting that applies live changed how costs and metrics are shown
    /// (http-api.md §3.4): the page's context takes these at once.
    Settings {
        usage: crate::UsageContext,
        metrics: crate::MetricsContext,
    },
}

/// A frame with its per-connection sequence number, as sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sequenced {
    pub seq: u64,
    #[serde(flatten)]
    pub frame: Frame,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_frame_without_preflight_still_parses() {
        let project = serde_json::json!({"name": "alpha", "path": "/p/alpha",
            "is_git_repo": false, "has_claude_md": false, "has_claude_dir": false,
            "trust_state": "trusted", "allow_bypass_permissions": false});
        let old: Sequenced = serde_json::from_value(
            serde_json::json!({"seq": 3, "type": "project", "project": project}),
        )
        .expect("an old producer's frame parses");
        assert!(matches!(
            old.frame,
            Frame::Project {
                preflight: None,
                ..
            }
        ));
        let new: Sequenced = serde_json::from_value(serde_json::json!({"seq": 4,
            "type": "project", "project": project,
            "preflight": {"ok": true, "checks": [{"name": "git", "status": "warn", "detail": "d"}]}}))
        .expect("parses");
        let Frame::Project {
            preflight: Some(report),
            ..
        } = &new.frame
        else {
            panic!("a project frame with its preflight: {new:?}");
        };
        assert_eq!(report.warnings(), 1);
        assert_eq!(
            serde_json::to_value(&new).expect("serialises")["preflight"]["checks"][0]["name"],
            "git"
        );
    }
}
