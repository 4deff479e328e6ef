//! Create/clone bodies (http-api.md §4), the `/ws/clone-progress` frames (§8.2) and the clone
//! job summaries of `/ws/events` (§8.4). The clone URL appears in none of them.

use serde::{Deserialize, Serialize};

/// `POST /api/projects/clone` → 202.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneAccepted {
    pub job_id: String,
    pub name: String,
}

/// `POST /api/projects/clone/{job_id}/cancel` → 202.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneCancelling {
    pub job_id: String,
    pub cancelling: bool,
}

/// A running job as `GET /api/projects/clone/active` and the snapshot's `clone_jobs` list it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneJobSummary {
    pub job_id: String,
    pub name: String,
    pub phase: Option<String>,
    pub percent: Option<u8>,
}

/// `GET /api/projects/clone/active`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneJobList {
    pub jobs: Vec<CloneJobSummary>,
}

/// The payload of a `clone` frame on `/ws/events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneJobState {
    pub job_id: String,
    pub name: String,
    pub phase: Option<String>,
    pub percent: Option<u8>,
    /// `running`, `done`, `error` or `cancelled`.
    pub status: String,
}

/// One frame of `/ws/clone-progress/{job_id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CloneProgressFrame {
    Progress {
        phase: Option<String>,
        percent: Option<u8>,
    },
    /// The terminal frame: `status` is `done`, `error` or `cancelled`.
    Done {
        status: String,
        error: Option<String>,
    },
    /// Progress frames this watcher missed because it fell behind.
    Overflow { dropped: u64 },
}
