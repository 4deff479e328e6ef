//! What `claude agents --json` lists, attributed to bridges (http-api.md §6, bridges.md §17.2).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One live Claude Code session or agent on this machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingSession {
    pub pid: i32,
    pub cwd: String,
    pub kind: String,
    pub state: String,
    /// Epoch milliseconds (unlike the Instance's RFC 3339 `started_at`).
    pub started_at: i64,
    /// The conversation uuid (`sessionId`); opens `https://claude.ai/code/<local_uuid>`.
    pub local_uuid: String,
    pub parent_instance: Option<String>,
    /// `tracked`, `external` or `untracked`.
    pub attribution: String,
}

/// The `sessions` frame's payload and the snapshot's `sessions` map.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsView {
    /// Sessions inside each managed bridge, by instance id.
    pub tracked: BTreeMap<String, Vec<WorkingSession>>,
    /// Sessions Clauster does not manage, by project.
    pub external: BTreeMap<String, Vec<WorkingSession>>,
    /// Projects with an adoptable external standard bridge, sorted.
    pub adoptable: Vec<String>,
}

/// `GET /api/agents`: a background job (COMPAT), mapped from an agents item.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackgroundJob {
    pub id: String,
    pub state: String,
    pub detail: String,
    pub tempo: String,
    pub needs: String,
    pub result: String,
    pub intent: String,
    pub name: String,
    pub cwd: String,
    pub session_id: String,
    pub bridge_session_id: String,
    pub transcript_path: String,
    pub cli_version: String,
    /// Epoch milliseconds (`startedAt`).
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    pub worker_pid: Option<i32>,
    pub worker_alive: Option<bool>,
}
