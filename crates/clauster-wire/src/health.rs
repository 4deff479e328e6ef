//! The `/healthz` body (http-api.md §3).

use serde::{Deserialize, Serialize};

/// Full health answer. Unauthenticated callers while auth is on get only `status`, so every
/// other field is skipped when absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<HealthDetail>,
}

/// The fields an authenticated (or auth-off) caller sees.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthDetail {
    pub version: String,
    pub claude_ok: Option<bool>,
    pub claude_version: Option<String>,
    pub claude_login_ok: bool,
    pub claude_login_method: Option<String>,
    pub claude_login_expires_at: Option<i64>,
    pub instances_running: u32,
    pub store_ok: bool,
    pub engine_ready: bool,
}
