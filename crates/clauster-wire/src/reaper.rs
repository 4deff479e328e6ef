//! The ghost-environment reaper's bodies (http-api.md §7, bridges.md §15).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A leftover `bridge` environment whose directory is no longer in use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ghost {
    pub id: String,
    pub directory: String,
    pub name: String,
}

/// `GET /api/environments/ghosts`; also `clauster reaper --json` in a dry run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GhostsView {
    pub enabled: bool,
    /// Environments listed by the API.
    pub total: u64,
    /// Size of the live set.
    pub live_dirs: u64,
    pub ghosts: Vec<Ghost>,
}

/// `archive` (reversible) or `delete`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReapAction {
    Archive,
    Delete,
}

/// `POST /api/environments/reap`. `confirm` must be `archive` for an archive and `DELETE`
/// for a delete; the server validates the raw JSON before it becomes this value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReapRequest {
    pub action: ReapAction,
    pub ids: Vec<String>,
    pub confirm: String,
}

/// The answer to a reap; also `clauster reaper --archive|--delete --json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReapResult {
    pub action: ReapAction,
    pub reaped: Vec<String>,
    /// Requested ids that were no longer ghosts when the server re-derived the set.
    pub skipped: Vec<String>,
    /// Per-id failure messages.
    pub errors: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reap_bodies_use_the_api_names() {
        let request: ReapRequest = serde_json::from_value(
            serde_json::json!({"action": "delete", "ids": ["env_1"], "confirm": "DELETE"}),
        )
        .expect("parses");
        assert_eq!(request.action, ReapAction::Delete);
        let result = ReapResult {
            action: ReapAction::Archive,
            reaped: vec!["env_1".into()],
            skipped: vec![],
            errors: BTreeMap::from([("env_2".into(), "HTTP 500".into())]),
        };
        assert_eq!(
            serde_json::to_value(&result).expect("serialises"),
            serde_json::json!({"action": "archive", "reaped": ["env_1"], "skipped": [],
                "errors": {"env_2": "HTTP 500"}})
        );
    }
}
