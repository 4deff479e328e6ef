//! The host's readiness (ui.md §2.1, http-api.md §8.4): `GET /api/readiness`, the
//! snapshot's `readiness` and the `readiness` frame.

use serde::{Deserialize, Serialize};

use crate::CheckStatus;

/// The header pill's colour: `ready` (green), `warn` (amber), `blocked` (red).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadinessLevel {
    Ready,
    Warn,
    Blocked,
}

/// One readiness check: a doctor row plus what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessCheck {
    /// The `clauster doctor` row name (`claude`, `claude-login`, …) or `remote-control`.
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
    /// The operator's next step; `None` when the check passes.
    #[serde(default)]
    pub fix: Option<String>,
    /// Whether a failure here keeps **Start Claude** disabled.
    #[serde(default)]
    pub blocks_start: bool,
}

/// Everything the pill and its panel show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    pub level: ReadinessLevel,
    /// How many checks fail (the red pill's count).
    pub failing: u32,
    /// How many checks warn.
    pub warnings: u32,
    pub checks: Vec<ReadinessCheck>,
    /// Why Start is disabled (the first blocking failure's detail), `None` when it is not.
    #[serde(default)]
    pub start_blocked: Option<String>,
    /// When the checks were last run (RFC 3339).
    pub checked_at: String,
}

impl Readiness {
    /// Whether `other` says the same apart from when it was checked.
    pub fn same_verdict(&self, other: &Self) -> bool {
        self.level == other.level
            && self.failing == other.failing
            && self.warnings == other.warnings
            && self.checks == other.checks
            && self.start_blocked == other.start_blocked
    }
}

/// The `login_flow` frame (http-api.md §3.2): where the dashboard's sign-in is, so every page
/// follows it without polling. `state` is `waiting_for_code`, `verifying` or `finished`;
/// `outcome` (once finished) `signed_in`, `wrong_code`, `network_error`, `failed`, `timeout`
/// or `cancelled`; `detail` is claude's own words for a failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginFlowFrame {
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}
