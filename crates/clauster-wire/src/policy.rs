//! A project's restart policy and keep-running wish (bridges.md §7.9, http-api.md §5.3).

use serde::{Deserialize, Serialize};

/// `GET/PUT /api/projects/{name}/policy`: the effective values (the project's own, else
/// `instance_defaults`) and the wish.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProjectPolicy {
    pub project: String,
    /// `never` or `on-failure`.
    pub restart: String,
    pub keep_running: bool,
    /// False after the user's Stop, true after a Start: a kept project is brought back only
    /// while it is wanted.
    pub wanted: bool,
}

/// The body of `PUT /api/projects/{name}/policy`; a missing field keeps its value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyUpdate {
    #[serde(default)]
    pub restart: Option<String>,
    #[serde(default)]
    pub keep_running: Option<bool>,
}
