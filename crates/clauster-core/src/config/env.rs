//! The `CLAUSTER_*` variables: which key each one sets, how its text is parsed (config.md
//! §2), and the re-keyed map handed to the `config` crate's `Environment` source.
//!
//! Key names contain `_` themselves (`instance_defaults.max_bridges`), so a variable name
//! cannot be split back into a path; instead every key of the table below knows its
//! variable, and the map given to `Environment` uses `__` between path segments, which no
//! key contains.

use std::collections::BTreeMap;

use super::error::{Notice, Problem, is_sensitive_name};

/// The separator of the re-keyed map; no key name contains it.
pub(crate) const SEPARATOR: &str = "__";

/// How a variable's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvKind {
    Bool,
    Int,
    /// Empty means null.
    OptInt,
    Float,
    /// A string or enum value; empty is an error.
    Str,
    /// A string for which empty is a valid value (`root_path`).
    StrOrEmpty,
    /// Empty means null.
    OptStr,
    /// Split on commas or newlines, items trimmed, blanks dropped; empty is `[]`.
    List,
    /// A key of an ignored section: passed through, never validated.
    Raw,
}

use EnvKind::{Bool, Float, Int, List, OptInt, OptStr, Raw, Str, StrOrEmpty};

/// Every scalar or list key (map-valued keys have no variable), in schema order.
pub(crate) const KEYS: &[(&str, EnvKind)] = &[
    ("schema_version", Int),
    ("projects_root", Str),
    ("host", Str),
    ("port", Int),
    ("max_connections", Int),
    ("state_dir", Str),
    ("root_path", StrOrEmpty),
    ("log_format", Str),
    ("log_level", Str),
    ("instance_name", OptStr),
    ("tls.provision", Str),
    ("tls.hostnames", List),
    ("tls.cert_file", OptStr),
    ("tls.key_file", OptStr),
    ("claude.binary", Str),
    ("claude.min_version", Str),
    ("claude.agents_json_poll_interval_seconds", Int),
    ("claude.startup_grace_seconds", Float),
    ("claude.auto_enable_remote_control", Bool),
    ("claude.resume_recap", Bool),
    ("claude.resume_recap_max_chars", Int),
    ("claude.launch_mode", Str),
    ("claude.pty_screen_enabled", Bool),
    ("claude.path_append", List),
    ("claude.node_from_nvm", Bool),
    ("claude.standard_resume", Str),
    ("claude.ready_wait_seconds", Float),
    ("claude.stop_grace_seconds", Float),
    ("claude.pty_url_timeout_seconds", Float),
    ("claude.stalled_bridge_action", Str),
    ("claude.config_dir", OptStr),
    ("instance_defaults.spawn_mode", Str),
    ("instance_defaults.permission_mode", Str),
    ("instance_defaults.verbose", Bool),
    ("instance_defaults.session_name_prefix", OptStr),
    ("instance_defaults.capacity", Int),
    ("instance_defaults.max_bridges", OptInt),
    ("instance_defaults.restart", Str),
    ("instance_defaults.keep_running", Bool),
    ("instance_defaults.restart_burst", Int),
    ("instance_defaults.restart_window_seconds", Int),
    ("instance_defaults.restart_backoff_seconds", Float),
    ("instance_defaults.restart_backoff_max_seconds", Float),
    ("auth.enabled", Bool),
    ("auth.password_required", Bool),
    ("auth.password_hash", OptStr),
    ("auth.api_token_hash", OptStr),
    ("auth.allow_unauthenticated_network", Bool),
    ("auth.cookie_secure", Str),
    ("auth.session_max_age_seconds", Int),
    ("auth.allowed_origins", List),
    ("auth.reverse_proxy.enabled", Bool),
    ("auth.reverse_proxy.user_header", Str),
    ("auth.reverse_proxy.shared_secret_header", Str),
    ("auth.reverse_proxy.trusted_ips", List),
    ("auth.reverse_proxy.shared_secret", OptStr),
    ("auth.reverse_proxy.hmac_window_seconds", Int),
    ("auth.reverse_proxy.require_hmac", Bool),
    ("ui.enabled", Bool),
    ("db.backup_before_migrate", Bool),
    ("logs.bridge_log_max_size_mb", Int),
    ("logs.keep_rotated", Int),
    ("logs.redact_session_url", Bool),
    ("logs.strip_ansi_in_stream", Bool),
    ("logs.retention_max_age_days", Int),
    ("logs.retention_max_files", Int),
    ("logs.retention_max_total_mb", Int),
    ("clone.enabled", Bool),
    ("clone.allowed_schemes", List),
    ("clone.allow_private_hosts", Bool),
    ("clone.allowed_private_cidrs", List),
    ("clone.timeout_seconds", Int),
    ("clone.max_mb", Int),
    ("reaper.ui_enabled", Bool),
    ("usage.mode", Str),
    ("usage.currency", Str),
    ("usage.currency_symbol", OptStr),
    ("usage.fx_rate", Float),
    ("usage.token_total_includes_cache", Bool),
    ("usage.show_cost", Bool),
    ("metrics.enabled", Bool),
    ("metrics.normalize_cpu", Bool),
    ("metrics.show_disk", Bool),
    ("metrics.sample_interval_seconds", Float),
    ("metrics.poll_seconds", Float),
    ("observability.prometheus_enabled", Bool),
    ("observability.metrics_token_hash", OptStr),
    ("mcp.allow_writes", Bool),
    ("mcp.http_enabled", Bool),
    ("login_shepherd.enabled", Bool),
    ("login_shepherd.allow_setup_token", Bool),
    ("config_write.enabled", Bool),
    ("config_write.allow_user_scope", Bool),
    ("webhooks.enabled", Bool),
    ("webhooks.urls", List),
    ("webhooks.timeout_seconds", Float),
    ("webhooks.block_private_targets", Bool),
    ("webhooks.secret", OptStr),
    ("webhooks.retries", Int),
    ("notifications.enabled", Bool),
    ("notifications.urls", List),
    ("notifications.browser_enabled", Bool),
    ("notifications.push_contact", OptStr),
    ("notifications.push_allow_private", Bool),
    ("notifications.notify_on_crash", Bool),
    ("notifications.notify_on_ready", Bool),
    ("notifications.notify_on_stop", Bool),
    ("notifications.notify_on_permission", Bool),
    ("notifications.notify_on_session_end", Bool),
    ("notifications.notify_on_reconnect_failed", Bool),
    ("api.openapi_enabled", Bool),
    // Ignored sections (config.md §3.12): accepted, never validated.
    ("claustrum.enabled", Raw),
    ("claustrum.binary", Raw),
    ("claustrum.socket_path", Raw),
    ("claustrum.spawn_timeout_seconds", Raw),
    ("claustrum.keep_children", Raw),
    ("claustrum.request_timeout_seconds", Raw),
];

/// Legacy name of `CLAUSTER_CLAUDE_LAUNCH_MODE` (the new name wins).
pub(crate) const LEGACY_RESUME_MODE: &str = "CLAUSTER_CLAUDE_RESUME_MODE";
/// The Python store's location: ignored with a warning.
pub(crate) const DATABASE_URL: &str = "CLAUSTER_DATABASE_URL";
/// The session signing key (security.md §3): read by the edge, not a key of the schema.
pub const SESSION_SECRET: &str = "CLAUSTER_SESSION_SECRET";
/// Variables outside the schema that only steer the file search.
pub const CONFIG_PATH: &str = "CLAUSTER_CONFIG";
pub const CONFIG_HOME: &str = "CLAUSTER_HOME";

/// `CLAUSTER_` + the dotted path in upper case with dots replaced by `_`.
pub fn variable_name(path: &str) -> String {
    format!("CLAUSTER_{}", path.replace('.', "_").to_ascii_uppercase())
}

/// Whether `name` is a variable whose value may come from a `<name>_FILE` twin: every
/// schema variable, the legacy resume-mode name, the database URL and the session secret.
pub fn has_file_twin(name: &str) -> bool {
    [LEGACY_RESUME_MODE, DATABASE_URL, SESSION_SECRET].contains(&name)
        || KEYS.iter().any(|(path, _)| variable_name(path) == name)
}

/// Parsed variables: the map for `Environment` and where each key's value came from.
#[derive(Debug, Default)]
pub(crate) struct Overrides {
    /// Re-keyed (`auth__enabled`) → the text the reader will see.
    pub rekeyed: config::Map<String, String>,
    /// Key path → the variable or flag that set it, for messages.
    pub origins: BTreeMap<String, String>,
    pub problems: Vec<Problem>,
    pub notices: Vec<Notice>,
}

/// Applies config.md §2 to `env` (plain variable names; `_FILE` twins already resolved by
/// the caller, and named by `from_file`), then `flags` (key path → value from command-line options such as `--port`),
/// which win over the environment.
pub(crate) fn collect(
    env: &BTreeMap<String, String>,
    from_file: &BTreeMap<String, String>,
    flags: &BTreeMap<String, String>,
) -> Overrides {
    let mut out = Overrides::default();
    for &(path, kind) in KEYS {
        let var = variable_name(path);
        let named = |var: &str| {
            from_file
                .get(var)
                .cloned()
                .unwrap_or_else(|| var.to_owned())
        };
        let mut source = env.get(&var).map(|value| (named(&var), value));
        if path == "claude.launch_mode"
            && source.is_none()
            && let Some(value) = env.get(LEGACY_RESUME_MODE)
        {
            out.notices.push(Notice::warning(format!(
                "{LEGACY_RESUME_MODE} is deprecated; use CLAUSTER_CLAUDE_LAUNCH_MODE"
            )));
            source = Some((named(LEGACY_RESUME_MODE), value));
        }
        if let Some(value) = flags.get(path) {
            source = Some((format!("--{}", path.replace(['_', '.'], "-")), value));
        }
        let Some((origin, value)) = source else {
            continue;
        };
        match parse(&origin, path, kind, value) {
            Ok(text) => {
                out.rekeyed.insert(path.replace('.', SEPARATOR), text);
                out.origins.insert(path.to_owned(), origin);
            }
            Err(message) => out.problems.push(Problem {
                key: Some(origin),
                message,
            }),
        }
    }
    if env.get(DATABASE_URL).is_some_and(|v| !v.trim().is_empty()) {
        out.notices.push(Notice::warning(format!(
            "{DATABASE_URL} is ignored: the store always lives in state_dir"
        )));
    }
    out
}

/// One variable's text → the text the reader sees, or why it is refused.
fn parse(origin: &str, path: &str, kind: EnvKind, value: &str) -> Result<String, String> {
    let trimmed = value.trim();
    let got = if is_sensitive_name(origin) {
        String::new()
    } else {
        format!(", got {value:?}")
    };
    let empty = || {
        format!(
            "{origin} is empty, but {path} needs a value; unset the variable to keep the \
             file's value or the default"
        )
    };
    match kind {
        Bool => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok("true".to_owned()),
            "false" | "0" | "no" | "off" => Ok("false".to_owned()),
            "" => Err(empty()),
            _ => Err(format!(
                "{origin} must be a boolean (true/false, 1/0, yes/no, on/off){got}"
            )),
        },
        Int | OptInt => {
            if trimmed.is_empty() {
                return if kind == OptInt {
                    Ok(String::new())
                } else {
                    Err(empty())
                };
            }
            trimmed
                .parse::<i64>()
                .map(|n| n.to_string())
                .map_err(|_| format!("{origin} must be a whole number in decimal{got}"))
        }
        Float => {
            if trimmed.is_empty() {
                return Err(empty());
            }
            let is_decimal = trimmed
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
            match trimmed.parse::<f64>() {
                Ok(n) if is_decimal && n.is_finite() => Ok(trimmed.to_owned()),
                _ => Err(format!("{origin} must be a decimal number{got}")),
            }
        }
        Str if trimmed.is_empty() => Err(empty()),
        Str | StrOrEmpty | OptStr | List | Raw => Ok(value.to_owned()),
    }
}
