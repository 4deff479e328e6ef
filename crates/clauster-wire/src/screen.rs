//! The frames of `/ws/pty-screen/{id}` (http-api.md §8.3, pty.md §6): the keeper's redacted
//! screen, as the dashboard's live terminal reads them.

use serde::{Deserialize, Serialize};

/// One screen frame. `state` is `live`, `exited` (the final frame) or `error` (the emulator
/// is unusable; `screen` is null and `error` says why).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PtyScreenFrame {
    pub seq: u64,
    pub state: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub screen: Option<PtyScreen>,
}

/// The visible rows, one redacted string each, and the cursor cell (0-based).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PtyScreen {
    pub rows: Vec<String>,
    pub cursor: PtyCursor,
    pub cols: u16,
    pub rows_count: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PtyCursor {
    pub x: u16,
    pub y: u16,
}
