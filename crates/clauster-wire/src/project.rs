//! Project objects (http-api.md §4), the page's bootstrap data and the error body.

use serde::{Deserialize, Serialize};

use crate::{Instance, PageContext};

/// One project card's facts, as `GET /api/projects` lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Project {
    pub name: String,
    /// `projects_root/<name>` as configured, not symlink-resolved.
    pub path: String,
    pub is_git_repo: bool,
    pub has_claude_md: bool,
    pub has_claude_dir: bool,
    pub trust_state: TrustState,
    pub allow_bypass_permissions: bool,
}

/// Claude Code's workspace-trust grant for a project directory (bridges.md §12.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TrustState {
    Trusted,
    /// Also when Claude's global config file is missing or unreadable: trust is denied then.
    Untrusted,
}

/// The state hydration starts from, embedded in the server-rendered page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bootstrap {
    pub context: PageContext,
    pub projects: Vec<Project>,
    /// Every instance record, as `GET /api/instances` lists them.
    pub instances: Vec<Instance>,
    /// The list's order and search from the page URL (`?sort=&q=`), so the server renders
    /// the cards in the order the browser will keep (ui.md §3).
    #[serde(default)]
    pub view: ListView,
    /// What the badges show at render time, so the server's HTML already has them.
    #[serde(default)]
    pub badges: BadgeData,
}

/// The figures behind the cards' cost badges and readiness pills, the rows' metrics chips and
/// the header's host-readiness pill, as the `snapshot` frame carries them: rendered into the
/// server's HTML so hydration shifts nothing (issue 19).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BadgeData {
    #[serde(default)]
    pub usage: std::collections::BTreeMap<String, crate::Usage>,
    #[serde(default)]
    pub metrics: std::collections::BTreeMap<String, crate::Metrics>,
    #[serde(default)]
    pub preflight: std::collections::BTreeMap<String, crate::CheckReport>,
    #[serde(default)]
    pub readiness: Option<crate::Readiness>,
}

/// How the project list is ordered and filtered on first paint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ListView {
    /// `name`, `last_used` or `cost`; empty when the URL names none (the stored choice, or
    /// name order, applies).
    #[serde(default)]
    pub sort: String,
    /// The search box's text.
    #[serde(default)]
    pub q: String,
    /// The sort keys of every project (`GET /api/projects/sortmeta`), when `sort` needs them.
    #[serde(default)]
    pub meta: std::collections::BTreeMap<String, SortMeta>,
}

/// One project's sort keys (`GET /api/projects/sortmeta`, http-api.md §4).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SortMeta {
    /// RFC 3339, or null.
    pub last_used: Option<String>,
    pub cost_usd: Option<f64>,
}

/// Every HTTP error body: `{"detail": "<human sentence>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    pub fn new(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            field: None,
        }
    }
}
