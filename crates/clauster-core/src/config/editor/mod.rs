//! The settings editor's pure half (config.md §8): which keys the dashboard may read and
//! write, their types and ranges, their values in a loaded [`Config`], the check of an
//! edited value, and the targeted YAML writer ([`yaml_edit`]).
//!
//! The allowlists are structural: a key that is not in [`BASIC`] or [`ADVANCED`] has no
//! getter here, so no secret, auth, bind, binary path or code-executing key can be read
//! back or written through the editor, whatever a request asks for.

pub mod yaml_edit;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use super::schema::{Config, LogFormat, LogLevel, UsageMode};
use crate::modes::{LaunchMode, PermissionMode, SpawnMode, StandardResume};
use crate::notify::NotifyEvent;
use crate::status::StalledBridgeAction;
pub use yaml_edit::{EditError, NewValue};

/// Which list a key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// `GET/PUT /api/config`: day-to-day operational keys.
    Basic,
    /// `GET/PUT /api/config/advanced`: clone and webhook guard rails, behind
    /// `config_write.enabled` and the step-up re-authentication.
    Advanced,
}

/// The type of a key's value and what it must be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Bool,
    /// A whole number in `min..=max`; `optional` keys also take `null`.
    Int {
        min: u64,
        max: Option<u64>,
        optional: bool,
    },
    /// A number above (`exclusive`) or at least `min`, at most `max`.
    Float {
        min: f64,
        exclusive: bool,
        max: Option<f64>,
    },
    /// One of these words.
    Choice(&'static [&'static str]),
    /// A string; `optional` keys also take `null` (the default).
    Text {
        optional: bool,
    },
    /// A list of strings.
    List,
    /// `webhooks.events`: event name → on/off.
    EventMap,
}

impl Kind {
    /// The type's name in the specs (`bool`, `int`, `float`, `choice`, `str`, `list`, `map`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::Int { .. } => "int",
            Self::Float { .. } => "float",
            Self::Choice(_) => "choice",
            Self::Text { .. } => "str",
            Self::List => "list",
            Self::EventMap => "map",
        }
    }
}

/// One editable key.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The dotted YAML key.
    pub key: &'static str,
    pub kind: Kind,
    /// A short label for the form.
    pub label: &'static str,
    /// Whether a saved change takes effect at once (config.md §8.4); else after a restart.
    pub live: bool,
    /// Accepted for compatibility, superseded by another key.
    pub deprecated: bool,
}

const fn field(key: &'static str, kind: Kind, label: &'static str) -> Field {
    Field {
        key,
        kind,
        label,
        live: false,
        deprecated: false,
    }
}

const fn live(key: &'static str, kind: Kind, label: &'static str) -> Field {
    Field {
        key,
        kind,
        label,
        live: true,
        deprecated: false,
    }
}

const BOOL: Kind = Kind::Bool;
const fn int(min: u64) -> Kind {
    Kind::Int {
        min,
        max: None,
        optional: false,
    }
}
const fn float(min: f64, exclusive: bool, max: Option<f64>) -> Kind {
    Kind::Float {
        min,
        exclusive,
        max,
    }
}

/// The basic list: 1.3.2's `EDITABLE_FIELDS` without `claustrum.*` (no hosted channel
/// here), then this project's own operational keys (`log_level` and five `claude.*`
/// timings and policies).
pub const BASIC: &[Field] = &[
    field("log_format", Kind::Choice(LogFormat::TOKENS), "Log format"),
    field("log_level", Kind::Choice(LogLevel::TOKENS), "Log level"),
    field("api.openapi_enabled", BOOL, "OpenAPI document"),
    field(
        "claude.min_version",
        Kind::Text { optional: false },
        "Minimum claude version",
    ),
    field(
        "claude.agents_json_poll_interval_seconds",
        int(1),
        "Sessions poll interval",
    ),
    field(
        "claude.startup_grace_seconds",
        float(0.0, true, None),
        "Startup grace",
    ),
    field(
        "claude.auto_enable_remote_control",
        BOOL,
        "Acknowledge remote control",
    ),
    field("claude.resume_recap", BOOL, "Resume recap"),
    field(
        "claude.resume_recap_max_chars",
        int(500),
        "Resume recap length",
    ),
    field(
        "claude.launch_mode",
        Kind::Choice(&LaunchMode::TOKENS),
        "Launch mode",
    ),
    field("claude.pty_screen_enabled", BOOL, "Live terminal view"),
    field(
        "claude.standard_resume",
        Kind::Choice(&StandardResume::TOKENS),
        "Standard resume",
    ),
    field(
        "claude.ready_wait_seconds",
        float(1.0, false, Some(120.0)),
        "Ready wait",
    ),
    field(
        "claude.stop_grace_seconds",
        float(0.5, false, Some(60.0)),
        "Stop grace",
    ),
    field(
        "claude.pty_url_timeout_seconds",
        float(5.0, false, Some(600.0)),
        "PTY link timeout",
    ),
    field(
        "claude.stalled_bridge_action",
        Kind::Choice(&StalledBridgeAction::TOKENS),
        "Stalled bridge",
    ),
    field(
        "instance_defaults.spawn_mode",
        Kind::Choice(&SpawnMode::TOKENS),
        "Spawn mode",
    ),
    field(
        "instance_defaults.permission_mode",
        Kind::Choice(&PermissionMode::TOKENS),
        "Permission mode",
    ),
    field("instance_defaults.verbose", BOOL, "Verbose"),
    field(
        "instance_defaults.session_name_prefix",
        Kind::Text { optional: true },
        "Session name prefix",
    ),
    field("instance_defaults.capacity", int(1), "Capacity"),
    field(
        "instance_defaults.max_bridges",
        Kind::Int {
            min: 1,
            max: None,
            optional: true,
        },
        "Most bridges",
    ),
    field("logs.bridge_log_max_size_mb", int(1), "Bridge log size"),
    field("logs.keep_rotated", int(0), "Rotated logs kept"),
    field("logs.redact_session_url", BOOL, "Redact session URL"),
    live(
        "logs.strip_ansi_in_stream",
        BOOL,
        "Strip colours in the log stream",
    ),
    field(
        "logs.retention_max_age_days",
        int(0),
        "Log retention (days)",
    ),
    field("logs.retention_max_files", int(0), "Log retention (files)"),
    field("logs.retention_max_total_mb", int(0), "Log retention (MB)"),
    field("reaper.ui_enabled", BOOL, "Maintenance panel"),
    field("usage.mode", Kind::Choice(UsageMode::TOKENS), "Usage badge"),
    live("usage.currency", Kind::Text { optional: false }, "Currency"),
    live(
        "usage.currency_symbol",
        Kind::Text { optional: true },
        "Currency symbol",
    ),
    live("usage.fx_rate", float(0.0, true, None), "USD exchange rate"),
    live(
        "usage.token_total_includes_cache",
        BOOL,
        "Count cache tokens",
    ),
    Field {
        deprecated: true,
        ..field("usage.show_cost", BOOL, "Show cost")
    },
    field("metrics.enabled", BOOL, "Metrics"),
    field("metrics.normalize_cpu", BOOL, "Normalise CPU"),
    live("metrics.show_disk", BOOL, "Show disk rates"),
    field(
        "metrics.sample_interval_seconds",
        float(0.0, true, Some(2.0)),
        "Sample interval",
    ),
    field(
        "metrics.poll_seconds",
        float(1.0, false, None),
        "Poll interval",
    ),
    field(
        "observability.prometheus_enabled",
        BOOL,
        "Prometheus endpoint",
    ),
    field("notifications.enabled", BOOL, "Notifications"),
    live(
        "notifications.browser_enabled",
        BOOL,
        "Browser notifications",
    ),
    live("notifications.notify_on_crash", BOOL, "Notify on crash"),
    live("notifications.notify_on_ready", BOOL, "Notify on ready"),
    live("notifications.notify_on_stop", BOOL, "Notify on stop"),
    live(
        "notifications.notify_on_permission",
        BOOL,
        "Notify on permission",
    ),
    live(
        "notifications.notify_on_session_end",
        BOOL,
        "Notify on session end",
    ),
    live(
        "notifications.notify_on_reconnect_failed",
        BOOL,
        "Notify on reconnect failure",
    ),
];

/// The advanced list: 1.3.2's `TIER_B_FIELDS`, then `webhooks.retries`.
pub const ADVANCED: &[Field] = &[
    field("clone.enabled", BOOL, "Clone"),
    field(
        "clone.allow_private_hosts",
        BOOL,
        "Clone from private hosts",
    ),
    field("clone.allowed_schemes", Kind::List, "Clone schemes"),
    field(
        "clone.allowed_private_cidrs",
        Kind::List,
        "Private networks allowed",
    ),
    field("clone.timeout_seconds", int(1), "Clone timeout"),
    field("clone.max_mb", int(0), "Clone size cap"),
    field("webhooks.enabled", BOOL, "Webhooks"),
    field(
        "webhooks.timeout_seconds",
        float(0.0, true, Some(300.0)),
        "Webhook timeout",
    ),
    field(
        "webhooks.block_private_targets",
        BOOL,
        "Block private targets",
    ),
    field("webhooks.events", Kind::EventMap, "Webhook events"),
    field(
        "webhooks.retries",
        Kind::Int {
            min: 0,
            max: Some(10),
            optional: false,
        },
        "Webhook retries",
    ),
];

/// The section titles, in the form's order.
pub const SECTIONS: &[(&str, &str)] = &[
    ("", "General"),
    ("api", "API"),
    ("claude", "Claude"),
    ("instance_defaults", "Instance defaults"),
    ("logs", "Logs"),
    ("reaper", "Reaper"),
    ("usage", "Usage"),
    ("metrics", "Metrics"),
    ("observability", "Observability"),
    ("notifications", "Notifications"),
    ("clone", "Clone"),
    ("webhooks", "Webhooks"),
];

impl Tier {
    pub fn fields(self) -> &'static [Field] {
        match self {
            Self::Basic => BASIC,
            Self::Advanced => ADVANCED,
        }
    }

    /// The field of `key` in this tier's list.
    pub fn field(self, key: &str) -> Option<&'static Field> {
        self.fields().iter().find(|f| f.key == key)
    }
}

impl Field {
    /// The key's section (`""` for top-level keys) and its title.
    pub fn section(&self) -> (&'static str, &'static str) {
        let section = self.key.split_once('.').map_or("", |(s, _)| s);
        SECTIONS
            .iter()
            .find(|(s, _)| *s == section)
            .copied()
            .unwrap_or((section, section))
    }
}

/// The event names of `webhooks.events`, in the docs' order, with whether each is on when
/// the file does not name it.
pub fn event_keys() -> Vec<(&'static str, bool)> {
    NotifyEvent::CONFIGURABLE
        .iter()
        .map(|e| (e.as_str(), e.on_when_absent()))
        .collect()
}

fn opt<T: Into<Value>>(value: Option<T>) -> Value {
    value.map_or(Value::Null, Into::into)
}

/// The value of an allowlisted `key` in `config`, as JSON; `None` for any other key.
#[allow(clippy::too_many_lines)] // one arm per allowlisted key, nothing else
pub fn value(config: &Config, key: &str) -> Option<Value> {
    let c = config;
    let n = &c.notifications.filter;
    Some(match key {
        "log_format" => c.log_format.as_str().into(),
        "log_level" => c.log_level.as_str().into(),
        "api.openapi_enabled" => c.api.openapi_enabled.into(),
        "claude.min_version" => c.claude.min_version.clone().into(),
        "claude.agents_json_poll_interval_seconds" => {
            c.claude.agents_json_poll_interval_seconds.into()
        }
        "claude.startup_grace_seconds" => c.claude.startup_grace_seconds.into(),
        "claude.auto_enable_remote_control" => c.claude.auto_enable_remote_control.into(),
        "claude.resume_recap" => c.claude.resume_recap.into(),
        "claude.resume_recap_max_chars" => c.claude.resume_recap_max_chars.into(),
        "claude.launch_mode" => c.claude.launch_mode.as_token().into(),
        "claude.pty_screen_enabled" => c.claude.pty_screen_enabled.into(),
        "claude.standard_resume" => c.claude.standard_resume.as_token().into(),
        "claude.ready_wait_seconds" => c.claude.ready_wait_seconds.into(),
        "claude.stop_grace_seconds" => c.claude.stop_grace_seconds.into(),
        "claude.pty_url_timeout_seconds" => c.claude.pty_url_timeout_seconds.into(),
        "claude.stalled_bridge_action" => c.claude.stalled_bridge_action.as_token().into(),
        "instance_defaults.spawn_mode" => c.instance_defaults.spawn_mode.as_token().into(),
        "instance_defaults.permission_mode" => {
            c.instance_defaults.permission_mode.as_token().into()
        }
        "instance_defaults.verbose" => c.instance_defaults.verbose.into(),
        "instance_defaults.session_name_prefix" => {
            opt(c.instance_defaults.session_name_prefix.clone())
        }
        "instance_defaults.capacity" => c.instance_defaults.capacity.into(),
        "instance_defaults.max_bridges" => opt(c.instance_defaults.max_bridges),
        "logs.bridge_log_max_size_mb" => c.logs.bridge_log_max_size_mb.into(),
        "logs.keep_rotated" => c.logs.keep_rotated.into(),
        "logs.redact_session_url" => c.logs.redact_session_url.into(),
        "logs.strip_ansi_in_stream" => c.logs.strip_ansi_in_stream.into(),
        "logs.retention_max_age_days" => c.logs.retention_max_age_days.into(),
        "logs.retention_max_files" => c.logs.retention_max_files.into(),
        "logs.retention_max_total_mb" => c.logs.retention_max_total_mb.into(),
        "reaper.ui_enabled" => c.reaper.ui_enabled.into(),
        "usage.mode" => c.usage.mode.as_str().into(),
        "usage.currency" => c.usage.currency.clone().into(),
        "usage.currency_symbol" => opt(c.usage.currency_symbol.clone()),
        "usage.fx_rate" => c.usage.fx_rate.into(),
        "usage.token_total_includes_cache" => c.usage.token_total_includes_cache.into(),
        // Folded into `usage.mode` when read: `off` is the only mode it can say.
        "usage.show_cost" => (c.usage.mode != super::UsageMode::Off).into(),
        "metrics.enabled" => c.metrics.enabled.into(),
        "metrics.normalize_cpu" => c.metrics.normalize_cpu.into(),
        "metrics.show_disk" => c.metrics.show_disk.into(),
        "metrics.sample_interval_seconds" => c.metrics.sample_interval_seconds.into(),
        "metrics.poll_seconds" => c.metrics.poll_seconds.into(),
        "observability.prometheus_enabled" => c.observability.prometheus_enabled.into(),
        "notifications.enabled" => c.notifications.enabled.into(),
        "notifications.browser_enabled" => c.notifications.browser_enabled.into(),
        "notifications.notify_on_crash" => n.on_crash.into(),
        "notifications.notify_on_ready" => n.on_ready.into(),
        "notifications.notify_on_stop" => n.on_stop.into(),
        "notifications.notify_on_permission" => n.on_permission.into(),
        "notifications.notify_on_session_end" => n.on_session_end.into(),
        "notifications.notify_on_reconnect_failed" => n.on_reconnect_failed.into(),
        "clone.enabled" => c.clone.enabled.into(),
        "clone.allow_private_hosts" => c.clone.allow_private_hosts.into(),
        "clone.allowed_schemes" => c.clone.allowed_schemes.clone().into(),
        "clone.allowed_private_cidrs" => c
            .clone
            .allowed_private_cidrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .into(),
        "clone.timeout_seconds" => c.clone.timeout_seconds.into(),
        "clone.max_mb" => c.clone.max_mb.into(),
        "webhooks.enabled" => c.webhooks.enabled.into(),
        "webhooks.timeout_seconds" => c.webhooks.timeout_seconds.into(),
        "webhooks.block_private_targets" => c.webhooks.block_private_targets.into(),
        "webhooks.events" => Value::Object(
            NotifyEvent::CONFIGURABLE
                .iter()
                .map(|e| (e.as_str().to_owned(), c.webhooks.events.contains(e).into()))
                .collect(),
        ),
        "webhooks.retries" => c.webhooks.retries.into(),
        _ => return None,
    })
}

/// Copies the value of a key that applies live (`Field::live`) from `from` into `into`;
/// `false` for any other key, which then waits for a restart.
pub fn copy_live(into: &mut Config, from: &Config, key: &str) -> bool {
    let (to, fr) = (into, from);
    match key {
        "logs.strip_ansi_in_stream" => to.logs.strip_ansi_in_stream = fr.logs.strip_ansi_in_stream,
        "usage.currency" => to.usage.currency.clone_from(&fr.usage.currency),
        "usage.currency_symbol" => to
            .usage
            .currency_symbol
            .clone_from(&fr.usage.currency_symbol),
        "usage.fx_rate" => to.usage.fx_rate = fr.usage.fx_rate,
        "usage.token_total_includes_cache" => {
            to.usage.token_total_includes_cache = fr.usage.token_total_includes_cache;
        }
        "metrics.show_disk" => to.metrics.show_disk = fr.metrics.show_disk,
        "notifications.browser_enabled" => {
            to.notifications.browser_enabled = fr.notifications.browser_enabled;
        }
        "notifications.notify_on_crash"
        | "notifications.notify_on_ready"
        | "notifications.notify_on_stop"
        | "notifications.notify_on_permission"
        | "notifications.notify_on_session_end"
        | "notifications.notify_on_reconnect_failed" => {
            to.notifications.filter = fr.notifications.filter;
        }
        _ => return false,
    }
    true
}

/// The allowlisted keys of `tier` that `text` (a `clauster.yml`) spells out; `None` when it
/// does not parse.
pub fn present(text: &str, tier: Tier) -> Option<BTreeSet<&'static str>> {
    let docs = YamlLoader::load_from_str(text).ok()?;
    let doc = docs.into_iter().next().unwrap_or(Yaml::Null);
    Some(
        tier.fields()
            .iter()
            .filter(|f| {
                let mut node = &doc;
                for part in f.key.split('.') {
                    node = &node[part];
                }
                !node.is_badvalue()
            })
            .map(|f| f.key)
            .collect(),
    )
}

/// Checks a submitted value against its field's type and range, and renders it for the
/// writer. The message names the key and the rule, never the value of another key.
///
/// # Errors
/// The reason, when the value is not of the field's type or out of its range.
pub fn check(field: &Field, value: &Value) -> Result<NewValue, String> {
    let key = field.key;
    let scalar = |s: String| Ok(NewValue::Scalar(s));
    match (field.kind, value) {
        (Kind::Int { optional: true, .. } | Kind::Text { optional: true }, Value::Null) => {
            scalar("null".to_owned())
        }
        (Kind::Bool, Value::Bool(b)) => scalar(b.to_string()),
        (Kind::Int { min, max, .. }, Value::Number(n)) => {
            let Some(v) = n.as_u64() else {
                return Err(format!("{key} must be a whole number of at least {min}"));
            };
            if v < min || max.is_some_and(|m| v > m) {
                return Err(match max {
                    Some(m) => format!("{key} must be between {min} and {m}, got {v}"),
                    None => format!("{key} must be at least {min}, got {v}"),
                });
            }
            scalar(v.to_string())
        }
        (
            Kind::Float {
                min,
                exclusive,
                max,
            },
            Value::Number(n),
        ) => {
            let v = n
                .as_f64()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("{key} must be a number"))?;
            let low = if exclusive { v <= min } else { v < min };
            if low || max.is_some_and(|m| v > m) {
                let above = if exclusive { "above" } else { "at least" };
                return Err(match max {
                    Some(m) => format!("{key} must be {above} {min} and at most {m}, got {v}"),
                    None => format!("{key} must be {above} {min}, got {v}"),
                });
            }
            scalar(render_float(v))
        }
        (Kind::Choice(words), Value::String(s)) => {
            if words.contains(&s.as_str()) {
                scalar(render_string(s))
            } else {
                Err(format!("{key} must be one of {}", words.join(", ")))
            }
        }
        (Kind::Text { .. }, Value::String(s)) => {
            if s.len() > 200 || s.chars().any(char::is_control) {
                return Err(format!("{key} must be one line of at most 200 characters"));
            }
            scalar(render_string(s))
        }
        (Kind::List, Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) if s.len() <= 200 && !s.chars().any(char::is_control) => {
                        out.push(render_string(s));
                    }
                    _ => return Err(format!("{key} must be a list of short strings")),
                }
            }
            if out.len() > 100 {
                return Err(format!("{key} takes at most 100 entries"));
            }
            Ok(NewValue::List(out))
        }
        (Kind::EventMap, Value::Object(map)) => {
            let mut out = Vec::with_capacity(map.len());
            for (name, on) in map {
                if NotifyEvent::parse(name).is_none() {
                    let names: Vec<&str> = event_keys().into_iter().map(|(n, _)| n).collect();
                    return Err(format!(
                        "webhooks.events.{} is not an event; use one of {}",
                        render_string(name),
                        names.join(", ")
                    ));
                }
                let Value::Bool(on) = on else {
                    return Err(format!("webhooks.events.{name} must be a boolean"));
                };
                out.push((name.clone(), on.to_string()));
            }
            Ok(NewValue::Map(out))
        }
        (kind, _) => Err(format!("{key} must be {}", describe(kind))),
    }
}

fn describe(kind: Kind) -> String {
    match kind {
        Kind::Bool => "a boolean".to_owned(),
        Kind::Int { optional: true, .. } => "a whole number or null".to_owned(),
        Kind::Int { .. } => "a whole number".to_owned(),
        Kind::Float { .. } => "a number".to_owned(),
        Kind::Choice(words) => format!("one of {}", words.join(", ")),
        Kind::Text { optional: true } => "a string or null".to_owned(),
        Kind::Text { .. } => "a string".to_owned(),
        Kind::List => "a list of strings".to_owned(),
        Kind::EventMap => "a mapping of event names to booleans".to_owned(),
    }
}

/// A float that reads back as a float (`9.0`, not `9`).
fn render_float(v: f64) -> String {
    let text = v.to_string();
    if text.contains(['.', 'e', 'E']) {
        text
    } else {
        format!("{text}.0")
    }
}

/// A plain scalar when the word cannot be read as anything but a string, else a
/// double-quoted one (JSON's escapes are YAML's).
fn render_string(s: &str) -> String {
    const SPECIAL: &[&str] = &[
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    ];
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !SPECIAL.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
    }
}
