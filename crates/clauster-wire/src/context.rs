//! The page context (http-api.md §3.1): everything the UI needs from the configuration.

use serde::{Deserialize, Serialize};

/// Fixed for the life of the server process; never holds a secret, hash, token or key of an
/// ignored config section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageContext {
    pub version: String,
    pub instance_name: Option<String>,
    pub projects_root: String,
    pub root_path: String,
    pub config_file_found: bool,
    pub auth_enabled: bool,
    /// `standard` or `pty`.
    pub launch_mode: String,
    pub instance_defaults: InstanceDefaults,
    pub pty_supported: bool,
    pub pty_screen: bool,
    pub usage: UsageContext,
    pub metrics: MetricsContext,
    pub clone: CloneContext,
    pub reaper_ui: bool,
    /// `login_shepherd.enabled`: the readiness panel signs claude in and out (issue 20).
    #[serde(default)]
    pub sign_in: bool,
    /// `login_shepherd.allow_setup_token`: it also offers the long-lived token.
    #[serde(default)]
    pub setup_token: bool,
    /// Claude Code's configuration editors (config-write.md); absent in older contexts.
    #[serde(default)]
    pub config_write: ConfigWriteContext,
}

/// Which "Claude config" sheets the page offers (config.md §3.9).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigWriteContext {
    pub enabled: bool,
    pub allow_user_scope: bool,
}

/// The launch popover's defaults (config.md §3.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceDefaults {
    pub spawn_mode: String,
    pub permission_mode: String,
    pub verbose: bool,
    pub capacity: u32,
    pub max_bridges: Option<u32>,
    pub session_name_prefix: Option<String>,
}

/// How the cost/token badge is shown (config.md §3.10).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageContext {
    /// `cost`, `tokens` or `off`.
    pub mode: String,
    pub currency: String,
    pub currency_symbol: String,
    pub fx_rate: f64,
    pub token_total_includes_cache: bool,
}

/// How metrics are shown (config.md §3.11).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsContext {
    pub enabled: bool,
    pub show_disk: bool,
    pub normalize_cpu: bool,
    pub poll_seconds: f64,
}

/// What the new-project panel may offer (config.md §3.8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CloneContext {
    pub enabled: bool,
    pub allowed_schemes: Vec<String>,
}
