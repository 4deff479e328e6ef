//! Live resource use of running bridges (data.md §4): the per-instance `Metrics` of the
//! `metrics` frames and `GET /api/metrics`, and the per-project sums of
//! `GET /api/projects/{name}/metrics`.

use serde::{Deserialize, Serialize};

/// One running bridge's process tree (bridge + descendants) at the last refresh.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Always true: only running bridges have an entry.
    pub running: bool,
    /// Processes in the tree, the bridge included.
    pub procs: u64,
    /// Δcpu / Δwall × 100, rounded to 0.1; divided by the core count when `cpu_normalized`.
    pub cpu_percent: f64,
    pub cpu_normalized: bool,
    pub rss_bytes: u64,
    /// `null` when `/proc/<pid>/io` cannot be read, or `metrics.show_disk` is off.
    pub disk_read_bps: Option<u64>,
    pub disk_write_bps: Option<u64>,
}

/// `GET /api/projects/{name}/metrics`: sums over the project's running bridges, or
/// `{"running": false}` when none runs or metrics are off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProjectMetrics {
    Running {
        running: bool,
        procs: u64,
        cpu_percent: f64,
        cpu_normalized: bool,
        rss_bytes: u64,
        disk_read_bps: Option<u64>,
        disk_write_bps: Option<u64>,
        bridges: u64,
    },
    Idle {
        running: bool,
    },
}
