//! Reading the merged value tree into the typed [`Config`]: types, defaults, bounds, enums,
//! `~` expansion and per-key formats, collecting every problem instead of stopping at the
//! first.
//!
//! This is done by hand rather than with `serde` derive because the messages must name the
//! key (and the variable that set it), state the rule with its fix, accept the YAML 1.1
//! spellings, and never echo a secret — serde's messages print the offending value.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use config::{Value, ValueKind};

use super::error::{Notice, Problem, is_sensitive_name};
use super::schema::{
    ApiSettings, AuthSettings, ClaudeSettings, CloneSettings, Config, ConfigWriteSettings,
    CookieSecure, DbSettings, InstanceDefaults, IpNet, LogFormat, LogLevel, LoginShepherdSettings,
    LogsSettings, McpSettings, MetricsSettings, NotificationsSettings, ObservabilitySettings,
    PriceOverride, ProjectSettings, ReaperSettings, ReverseProxySettings, Secret, TlsProvision,
    TlsSettings, UiSettings, UsageMode, UsageSettings, WebhooksSettings,
};
use super::validate;
use crate::modes::{LaunchMode, PermissionMode, SpawnMode, StandardResume};
use crate::notify::{NotifyEvent, PeopleFilter, apprise::mask_url};
use crate::restart::RestartPolicy;
use crate::status::StalledBridgeAction;

/// An enum-valued key's values and their spellings.
pub(crate) trait Choice: Copy + 'static {
    fn all() -> &'static [Self];
    fn name(self) -> &'static str;
}

/// The keys of a `projects.<name>` entry.
pub(crate) const PROJECT_KEYS: &[&str] = &["allow_bypass_permissions"];

/// Sections that must be mappings when present (config.md §3.12 for the ignored ones).
pub(crate) const SECTIONS: &[&str] = &[
    "tls",
    "claude",
    "claude.env",
    "instance_defaults",
    "projects",
    "auth",
    "auth.reverse_proxy",
    "api",
    "ui",
    "db",
    "logs",
    "clone",
    "reaper",
    "usage",
    "usage.prices",
    "metrics",
    "observability",
    "config_write",
    "login_shepherd",
    "mcp",
    "notifications",
    "webhooks",
    "webhooks.events",
    "claustrum",
];

/// Inclusive integer bounds.
#[derive(Clone, Copy)]
struct IntRange {
    min: u64,
    max: Option<u64>,
}

const AT_LEAST_0: IntRange = IntRange { min: 0, max: None };
const AT_LEAST_1: IntRange = IntRange { min: 1, max: None };
/// `max_connections` when unset (issue 16 §4).
pub const DEFAULT_MAX_CONNECTIONS: u64 = 512;

impl IntRange {
    fn describe(self) -> String {
        match self.max {
            Some(max) => format!("an integer from {} to {max}", self.min),
            None => format!("an integer of at least {}", self.min),
        }
    }
}

/// Float bounds: `min` inclusive or exclusive, `max` inclusive.
#[derive(Clone, Copy)]
struct FloatRange {
    min: f64,
    min_exclusive: bool,
    max: Option<f64>,
}

impl FloatRange {
    const fn above(min: f64) -> Self {
        Self {
            min,
            min_exclusive: true,
            max: None,
        }
    }
    const fn at_least(min: f64) -> Self {
        Self {
            min,
            min_exclusive: false,
            max: None,
        }
    }
    const fn between(min: f64, max: f64) -> Self {
        Self {
            min,
            min_exclusive: false,
            max: Some(max),
        }
    }
    fn contains(self, n: f64) -> bool {
        let low = if self.min_exclusive {
            n > self.min
        } else {
            n >= self.min
        };
        n.is_finite() && low && self.max.is_none_or(|max| n <= max)
    }
    fn describe(self) -> String {
        match (self.min_exclusive, self.max) {
            (true, None) => format!("a number greater than {}", self.min),
            (true, Some(max)) => format!("a number greater than {} and at most {max}", self.min),
            (false, None) => format!("a number of at least {}", self.min),
            (false, Some(max)) => format!("a number from {} to {max}", self.min),
        }
    }
}

/// Walks the merged tree. Problems and notices accumulate; each reader returns the default
/// when its key is broken, so one pass reports everything.
pub(crate) struct Reader<'a> {
    root: &'a Value,
    origins: &'a BTreeMap<String, String>,
    home: Option<&'a Path>,
    cwd: Option<&'a Path>,
    pub problems: Vec<Problem>,
    pub notices: Vec<Notice>,
    /// Every key and section the reader asked for: what makes a file's key known
    /// (`super::unknown_keys`), and how a test proves the variable table and the reader agree.
    pub seen: BTreeSet<String>,
    /// When set, each key's rule and default as the reader applies them, in reading order,
    /// for the generated reference (`super::reference`): (key, rule, default).
    pub described: Option<Vec<(String, String, String)>>,
}

/// The YAML type of a value, for "got …" in messages.
fn kind_name(value: &Value) -> &'static str {
    match value.kind {
        ValueKind::Nil => "null",
        ValueKind::Boolean(_) => "a boolean",
        ValueKind::I64(_) | ValueKind::I128(_) | ValueKind::U64(_) | ValueKind::U128(_) => {
            "an integer"
        }
        ValueKind::Float(_) => "a number",
        ValueKind::String(_) => "a string",
        ValueKind::Table(_) => "a mapping",
        ValueKind::Array(_) => "a list",
    }
}

/// `, got <value>` for messages: scalars are shown (cut to 80 characters) unless the key is
/// sensitive, in which case nothing about the value is said.
fn got(path: &str, value: &Value) -> String {
    let scalar = match &value.kind {
        ValueKind::String(s) => {
            let mut shown: String = s.chars().take(80).collect();
            if shown.len() < s.len() {
                shown.push('…');
            }
            format!("{shown:?}")
        }
        ValueKind::Boolean(b) => b.to_string(),
        ValueKind::I64(n) => n.to_string(),
        ValueKind::I128(n) => n.to_string(),
        ValueKind::U64(n) => n.to_string(),
        ValueKind::U128(n) => n.to_string(),
        ValueKind::Float(n) => n.to_string(),
        ValueKind::Nil | ValueKind::Table(_) | ValueKind::Array(_) => {
            return format!(", got {}", kind_name(value));
        }
    };
    if is_sensitive_name(path) {
        String::new()
    } else {
        format!(", got {scalar}")
    }
}

fn as_bool(value: &Value) -> Option<bool> {
    match &value.kind {
        ValueKind::Boolean(b) => Some(*b),
        ValueKind::I64(0) => Some(false),
        ValueKind::I64(1) => Some(true),
        ValueKind::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn as_int(value: &Value) -> Option<i128> {
    match &value.kind {
        ValueKind::I64(n) => Some(i128::from(*n)),
        ValueKind::I128(n) => Some(*n),
        ValueKind::U64(n) => Some(i128::from(*n)),
        ValueKind::U128(n) => i128::try_from(*n).ok(),
        // 8.0 is accepted as 8 (the Python loader did), 8.5 is not.
        #[allow(clippy::cast_possible_truncation)]
        ValueKind::Float(f) if f.fract() == 0.0 && f.abs() < 1e18 => Some(*f as i128),
        ValueKind::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_float(value: &Value) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    match &value.kind {
        ValueKind::Float(f) => Some(*f),
        ValueKind::I64(n) => Some(*n as f64),
        ValueKind::U64(n) => Some(*n as f64),
        ValueKind::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A scalar as text (numbers and booleans are written out); `None` for lists and maps.
fn as_text(value: &Value) -> Option<String> {
    match &value.kind {
        ValueKind::String(s) => Some(s.clone()),
        ValueKind::Boolean(b) => Some(b.to_string()),
        ValueKind::I64(n) => Some(n.to_string()),
        ValueKind::I128(n) => Some(n.to_string()),
        ValueKind::U64(n) => Some(n.to_string()),
        ValueKind::U128(n) => Some(n.to_string()),
        ValueKind::Float(n) => Some(n.to_string()),
        ValueKind::Nil | ValueKind::Table(_) | ValueKind::Array(_) => None,
    }
}

/// Lists may also be written as one string: split on commas or newlines, trimmed, blanks
/// dropped (the environment's rule, config.md §2).
pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A mapping's entries in key order: `config::Map` is a `HashMap`, and messages and
/// notices must come out in the same order on every run.
fn sorted(map: &config::Map<String, Value>) -> BTreeMap<&String, &Value> {
    map.iter().collect()
}

/// The value at a dotted path; `None` when missing or when a parent is not a mapping.
pub(crate) fn lookup<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    let mut node = root;
    for segment in path.split('.') {
        let ValueKind::Table(table) = &node.kind else {
            return None;
        };
        node = table.get(segment)?;
    }
    Some(node)
}

/// Whether a value of an ignored key differs from "off": a true flag, a non-empty list or
/// mapping (their defaults are false and empty).
pub(crate) fn is_switched_on(value: &Value) -> bool {
    match &value.kind {
        ValueKind::Array(items) => !items.is_empty(),
        ValueKind::Table(map) => !map.is_empty(),
        ValueKind::String(s) if as_bool(value).is_none() => !split_list(s).is_empty(),
        _ => as_bool(value) == Some(true),
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(
        root: &'a Value,
        origins: &'a BTreeMap<String, String>,
        home: Option<&'a Path>,
        cwd: Option<&'a Path>,
    ) -> Self {
        Self {
            root,
            origins,
            home,
            cwd,
            problems: Vec::new(),
            notices: Vec::new(),
            seen: BTreeSet::new(),
            described: None,
        }
    }

    /// Records a key's rule and default for the reference; a later record of the same key
    /// (a reader with a stricter rule over a plain one) wins.
    pub(crate) fn describe(
        &mut self,
        path: &str,
        rule: impl Into<String>,
        default: impl Into<String>,
    ) {
        let Some(described) = &mut self.described else {
            return;
        };
        let entry = (path.to_owned(), rule.into(), default.into());
        match described.iter_mut().find(|(key, _, _)| key == path) {
            Some(slot) => *slot = entry,
            None => described.push(entry),
        }
    }

    /// The key as messages name it: with the variable or flag that set it, if any.
    fn label(&self, path: &str) -> String {
        match self.origins.get(path) {
            Some(origin) => format!("{path} (from {origin})"),
            None => path.to_owned(),
        }
    }

    pub(crate) fn problem(&mut self, path: &str, message: String) {
        self.problems.push(Problem {
            key: Some(path.to_owned()),
            message,
        });
    }

    fn broken(&mut self, path: &str, rule: &str, value: &Value) {
        let message = format!("{} must be {rule}{}", self.label(path), got(path, value));
        self.problem(path, message);
    }

    /// The value of a schema key; `None` when missing or null (null means "default").
    fn get(&mut self, path: &str) -> Option<&'a Value> {
        self.seen.insert(path.to_owned());
        lookup(self.root, path).filter(|v| !matches!(v.kind, ValueKind::Nil))
    }

    fn bool_at(&mut self, path: &str, value: Option<&Value>, default: bool) -> bool {
        let Some(value) = value else { return default };
        as_bool(value).unwrap_or_else(|| {
            self.broken(path, "a boolean (true/false, yes/no, on/off)", value);
            default
        })
    }

    fn bool(&mut self, path: &str, default: bool) -> bool {
        self.describe(path, "a boolean", format!("`{default}`"));
        let value = self.get(path);
        self.bool_at(path, value, default)
    }

    fn uint_at(&mut self, path: &str, value: &Value, range: IntRange) -> Option<u64> {
        let n = as_int(value)
            .and_then(|n| u64::try_from(n).ok())
            .filter(|&n| n >= range.min && range.max.is_none_or(|max| n <= max));
        if n.is_none() {
            self.broken(path, &range.describe(), value);
        }
        n
    }

    fn uint(&mut self, path: &str, default: u64, range: IntRange) -> u64 {
        self.describe(path, range.describe(), format!("`{default}`"));
        match self.get(path) {
            Some(value) => self.uint_at(path, value, range).unwrap_or(default),
            None => default,
        }
    }

    /// A nullable integer: null, missing or blank is `None`.
    fn opt_uint(&mut self, path: &str, range: IntRange) -> Option<u64> {
        self.describe(path, format!("{}, or null", range.describe()), "null");
        let value = self.get(path)?;
        if matches!(&value.kind, ValueKind::String(s) if s.trim().is_empty()) {
            return None;
        }
        self.uint_at(path, value, range)
    }

    fn float_at(&mut self, path: &str, value: &Value, range: FloatRange) -> Option<f64> {
        let n = as_float(value).filter(|&n| range.contains(n));
        if n.is_none() {
            self.broken(path, &range.describe(), value);
        }
        n
    }

    fn float(&mut self, path: &str, default: f64, range: FloatRange) -> f64 {
        self.describe(path, range.describe(), format!("`{default:?}`"));
        match self.get(path) {
            Some(value) => self.float_at(path, value, range).unwrap_or(default),
            None => default,
        }
    }

    /// A non-nullable string; blank is refused.
    fn string(&mut self, path: &str, default: &str) -> String {
        self.describe(path, "a non-empty string", format!("`{default}`"));
        let Some(value) = self.get(path) else {
            return default.to_owned();
        };
        match as_text(value) {
            Some(text) if !text.trim().is_empty() => text,
            _ => {
                self.broken(path, "a non-empty string", value);
                default.to_owned()
            }
        }
    }

    /// A nullable string: null, missing or blank is `None`.
    fn opt_string(&mut self, path: &str) -> Option<String> {
        self.describe(path, "a string, or null", "null");
        let value = self.get(path)?;
        match as_text(value) {
            Some(text) if text.trim().is_empty() => None,
            Some(text) => Some(text),
            None => {
                self.broken(path, "a string", value);
                None
            }
        }
    }

    /// A nullable secret or hash, trimmed (values from files often end in a newline).
    fn secret(&mut self, path: &str) -> Option<Secret> {
        let value = self.opt_string(path).map(|s| Secret::new(s.trim()));
        self.describe(path, "a secret, or null", "null");
        value
    }

    /// A list of strings (items trimmed), or one string split by [`split_list`].
    fn list(&mut self, path: &str, default: &[&str]) -> Vec<String> {
        self.describe(
            path,
            "a list of strings",
            format!("`[{}]`", default.join(", ")),
        );
        let Some(value) = self.get(path) else {
            return default.iter().map(|s| (*s).to_owned()).collect();
        };
        match &value.kind {
            ValueKind::String(text) => split_list(text),
            ValueKind::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match as_text(item) {
                        Some(text) => out.push(text.trim().to_owned()),
                        None => self.broken(&format!("{path}[{i}]"), "a string", item),
                    }
                }
                out
            }
            _ => {
                self.broken(path, "a list of strings", value);
                Vec::new()
            }
        }
    }

    fn choice_at<E: Choice>(&mut self, path: &str, value: &Value, ignore_case: bool) -> Option<E> {
        let text = as_text(value).unwrap_or_default();
        let text = text.trim();
        let found = E::all().iter().copied().find(|v| {
            if ignore_case {
                v.name().eq_ignore_ascii_case(text)
            } else {
                v.name() == text
            }
        });
        if found.is_none() {
            let names: Vec<&str> = E::all().iter().map(|v| v.name()).collect();
            self.broken(path, &format!("one of {}", names.join(", ")), value);
        }
        found
    }

    fn choice<E: Choice>(&mut self, path: &str, default: E) -> E {
        self.describe_choice::<E>(path, default);
        match self.get(path) {
            Some(value) => self.choice_at(path, value, false).unwrap_or(default),
            None => default,
        }
    }

    fn describe_choice<E: Choice>(&mut self, path: &str, default: E) {
        let names: Vec<&str> = E::all().iter().map(|v| v.name()).collect();
        self.describe(
            path,
            format!("one of {}", names.join(", ")),
            format!("`{}`", default.name()),
        );
    }

    /// A mapping-valued key (`projects`, `claude.env`, `usage.prices`); `None` when absent.
    fn table(&mut self, path: &str) -> Option<&'a config::Map<String, Value>> {
        match &self.get(path)?.kind {
            ValueKind::Table(map) => Some(map),
            // Non-mappings were refused by the section check before the merge.
            _ => None,
        }
    }

    /// `~` and `~/…` become the home directory; relative paths are joined to the working
    /// directory when the caller gave one.
    fn expand(&mut self, path: &str, text: &str) -> Option<PathBuf> {
        let text = text.trim();
        let expanded = if text == "~" || text.starts_with("~/") {
            let Some(home) = self.home else {
                let message = format!(
                    "{} cannot be expanded: the home directory is unknown; use an absolute path",
                    self.label(path)
                );
                self.problem(path, message);
                return None;
            };
            let rest = text.trim_start_matches('~').trim_start_matches('/');
            if rest.is_empty() {
                home.to_path_buf()
            } else {
                home.join(rest)
            }
        } else if text.starts_with('~') {
            let message = format!(
                "{} uses ~user, which is not supported; write the full path",
                self.label(path)
            );
            self.problem(path, message);
            return None;
        } else {
            PathBuf::from(text)
        };
        Some(match self.cwd {
            Some(cwd) if expanded.is_relative() => cwd.join(expanded),
            _ => expanded,
        })
    }

    fn opt_path(&mut self, path: &str) -> Option<PathBuf> {
        let text = self.opt_string(path);
        self.describe(path, "a path, or null", "null");
        self.expand(path, &text?)
    }

    /// A path key with a `~/…` default: the path and whether it is the default. Without a
    /// home directory the default is an empty path; the caller reports that.
    fn path_or_home_default(&mut self, path: &str, default_under_home: &str) -> (PathBuf, bool) {
        let text = self.opt_string(path);
        self.describe(path, "a path", format!("`~/{default_under_home}`"));
        if let Some(text) = text {
            return (self.expand(path, &text).unwrap_or_default(), false);
        }
        match self.home {
            Some(home) => (home.join(default_under_home), true),
            None => (PathBuf::new(), true),
        }
    }

    /// Reads the whole tree.
    pub(crate) fn config(&mut self) -> Config {
        self.describe("schema_version", "an integer", "`1`");
        let schema_version = self
            .get("schema_version")
            .and_then(|v| {
                let n = as_int(v).and_then(|n| i64::try_from(n).ok());
                if n.is_none() {
                    self.broken("schema_version", "an integer", v);
                }
                n
            })
            .unwrap_or(1);
        let (projects_root, projects_root_is_default, state_dir) = self.directories();
        let host = self.string("host", "127.0.0.1").trim().to_owned();
        let port = self.uint(
            "port",
            7621,
            IntRange {
                min: 1,
                max: Some(65535),
            },
        );
        let max_connections = self.uint(
            "max_connections",
            DEFAULT_MAX_CONNECTIONS,
            IntRange {
                min: 1,
                max: Some(1_000_000),
            },
        );
        let root_path = self.root_path();
        let log_format = self.choice("log_format", LogFormat::Text);
        let log_level = self.log_level();
        let instance_name = self.instance_name();
        let tls = self.tls();
        Config {
            schema_version,
            projects_root,
            projects_root_is_default,
            host,
            port: u16::try_from(port).unwrap_or(7621),
            max_connections,
            state_dir,
            root_path,
            log_format,
            log_level,
            instance_name,
            tls,
            claude: self.claude(),
            instance_defaults: self.instance_defaults(),
            projects: self.projects(),
            auth: self.auth(),
            ui: UiSettings {
                enabled: self.bool("ui.enabled", true),
            },
            api: ApiSettings {
                openapi_enabled: self.bool("api.openapi_enabled", false),
            },
            db: DbSettings {
                backup_before_migrate: self.bool("db.backup_before_migrate", true),
            },
            logs: self.logs(),
            clone: self.clone_settings(),
            reaper: ReaperSettings {
                ui_enabled: self.bool("reaper.ui_enabled", false),
            },
            usage: self.usage(),
            metrics: self.metrics(),
            observability: ObservabilitySettings {
                prometheus_enabled: self.bool("observability.prometheus_enabled", false),
                metrics_token_hash: self.token_hash("observability.metrics_token_hash"),
            },
            mcp: McpSettings {
                allow_writes: self.bool("mcp.allow_writes", false),
                http_enabled: self.bool("mcp.http_enabled", false),
            },
            login_shepherd: LoginShepherdSettings {
                enabled: self.bool("login_shepherd.enabled", false),
                allow_setup_token: self.bool("login_shepherd.allow_setup_token", false),
            },
            config_write: ConfigWriteSettings {
                enabled: self.bool("config_write.enabled", false),
                allow_user_scope: self.bool("config_write.allow_user_scope", false),
            },
            webhooks: self.webhooks(),
            notifications: self.notifications(),
        }
    }

    fn webhooks(&mut self) -> WebhooksSettings {
        let enabled = self.bool("webhooks.enabled", false);
        let urls = self.list("webhooks.urls", &[]);
        self.describe(
            "webhooks.urls",
            "a list of http:// or https:// URLs",
            "`[]`",
        );
        for (i, url) in urls.iter().enumerate() {
            let web = url::Url::parse(url).ok().filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| !h.is_empty())
            });
            if web.is_none() {
                let message = format!(
                    "{} must be an http:// or https:// URL with a host, got {}; webhooks go to \
                     HTTP endpoints only (Apprise URLs belong in notifications.urls)",
                    self.label(&format!("webhooks.urls[{i}]")),
                    mask_url(url)
                );
                self.problem("webhooks.urls", message);
            }
        }
        WebhooksSettings {
            enabled,
            urls,
            timeout_seconds: self.float(
                "webhooks.timeout_seconds",
                10.0,
                FloatRange {
                    min: 0.0,
                    min_exclusive: true,
                    max: Some(300.0),
                },
            ),
            events: self.webhook_events(),
            block_private_targets: self.bool("webhooks.block_private_targets", false),
            secret: self.secret("webhooks.secret"),
            retries: self.uint(
                "webhooks.retries",
                3,
                IntRange {
                    min: 0,
                    max: Some(10),
                },
            ),
        }
    }

    /// `webhooks.events`: each named event on or off over the defaults (the four bridge
    /// events on, the rest off); an unknown name is refused, as 1.3.2 does.
    fn webhook_events(&mut self) -> std::collections::BTreeSet<NotifyEvent> {
        let names: Vec<&str> = NotifyEvent::CONFIGURABLE
            .iter()
            .map(|e| e.as_str())
            .collect();
        self.describe(
            "webhooks.events",
            format!(
                "a mapping of event to boolean; events: {}",
                names.join(", ")
            ),
            "spawn, ready, stop, crash on; the rest off",
        );
        let mut on: std::collections::BTreeSet<NotifyEvent> = NotifyEvent::CONFIGURABLE
            .into_iter()
            .filter(|e| e.on_when_absent())
            .collect();
        let Some(table) = self.table("webhooks.events") else {
            return on;
        };
        for (name, value) in sorted(table) {
            let path = format!("webhooks.events.{name}");
            let Some(event) = NotifyEvent::parse(name) else {
                let message = format!(
                    "{} is not an event; use one of {}",
                    self.label(&path),
                    names.join(", ")
                );
                self.problem(&path, message);
                continue;
            };
            let value = (!matches!(value.kind, ValueKind::Nil)).then_some(value);
            if self.bool_at(&path, value, event.on_when_absent()) {
                on.insert(event);
            } else {
                on.remove(&event);
            }
        }
        on
    }

    fn notifications(&mut self) -> NotificationsSettings {
        NotificationsSettings {
            enabled: self.bool("notifications.enabled", false),
            urls: self.list("notifications.urls", &[]),
            browser_enabled: self.bool("notifications.browser_enabled", false),
            push_contact: self.push_contact(),
            push_allow_private: self.bool("notifications.push_allow_private", false),
            filter: PeopleFilter {
                on_crash: self.bool("notifications.notify_on_crash", true),
                on_ready: self.bool("notifications.notify_on_ready", false),
                on_stop: self.bool("notifications.notify_on_stop", false),
                on_permission: self.bool("notifications.notify_on_permission", false),
                on_session_end: self.bool("notifications.notify_on_session_end", false),
                on_reconnect_failed: self.bool("notifications.notify_on_reconnect_failed", false),
            },
        }
    }

    /// `projects_root` (and whether it is the default) and `state_dir`, each refused when it
    /// cannot be determined or (`projects_root`) is the filesystem root.
    fn directories(&mut self) -> (PathBuf, bool, PathBuf) {
        let (projects_root, projects_root_is_default) =
            self.path_or_home_default("projects_root", "projects");
        if projects_root_is_default && self.home.is_none() {
            self.problems.push(Problem {
                key: Some("projects_root".to_owned()),
                message: "cannot determine a default projects_root; pass --projects-root"
                    .to_owned(),
            });
        } else if validate::is_filesystem_root(&projects_root) {
            let message = format!(
                "{} must not be / (every top-level directory would become a project); \
                 point it at a directory that holds only projects",
                self.label("projects_root")
            );
            self.problem("projects_root", message);
        }
        let (state_dir, state_dir_is_default) = self.path_or_home_default("state_dir", ".clauster");
        if state_dir_is_default && self.home.is_none() {
            self.problems.push(Problem {
                key: Some("state_dir".to_owned()),
                message: "cannot determine a default state_dir (no home directory); set \
                          state_dir"
                    .to_owned(),
            });
        }
        (projects_root, projects_root_is_default, state_dir)
    }

    fn log_level(&mut self) -> LogLevel {
        self.describe(
            "log_level",
            "one of debug, info, warning, error (any case)",
            "`info`",
        );
        match self.get("log_level") {
            Some(value) => self
                .choice_at("log_level", value, true)
                .unwrap_or(LogLevel::Info),
            None => LogLevel::Info,
        }
    }

    fn root_path(&mut self) -> String {
        self.describe(
            "root_path",
            "a URL path like /clauster (segments of letters, digits and . _ ~ -)",
            "`\"\"` (served at /)",
        );
        let Some(value) = self.get("root_path") else {
            return String::new();
        };
        let Some(text) = as_text(value) else {
            self.broken("root_path", "a string", value);
            return String::new();
        };
        validate::normalize_root_path(&text).unwrap_or_else(|| {
            self.broken(
                "root_path",
                "a URL path like /clauster (segments of letters, digits and . _ ~ -)",
                value,
            );
            String::new()
        })
    }

    /// `notifications.push_contact`: the VAPID `sub` (RFC 8292 §2.1), a `mailto:` address
    /// or an `https://` URL.
    fn push_contact(&mut self) -> Option<String> {
        let contact = self.opt_string("notifications.push_contact");
        let rule = "a mailto: address or an https:// URL of at most 256 characters, or null";
        self.describe("notifications.push_contact", rule, "null");
        let contact = contact?.trim().to_owned();
        let mailbox = contact.strip_prefix("mailto:").is_some_and(|address| {
            address
                .split_once('@')
                .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
        });
        let web = contact.starts_with("https://")
            && url::Url::parse(&contact).is_ok_and(|url| url.host_str().is_some());
        let plain =
            contact.len() <= 256 && !contact.chars().any(|c| c.is_whitespace() || c.is_control());
        if (mailbox || web) && plain {
            Some(contact)
        } else {
            let message = format!(
                "{} must be {rule} (push services such as Apple's refuse anything else), got {}",
                self.label("notifications.push_contact"),
                crate::names::echo(&contact)
            );
            self.problem("notifications.push_contact", message);
            None
        }
    }

    fn instance_name(&mut self) -> Option<String> {
        let name = self.opt_string("instance_name");
        self.describe(
            "instance_name",
            "at most 32 characters of letters, digits, _ . -, or null",
            "null",
        );
        let name = name?.trim().to_owned();
        let ok = name.chars().count() <= 32
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if ok {
            Some(name)
        } else {
            let message = format!(
                "{} must be at most 32 characters of letters, digits, _ . -, got {name:?}",
                self.label("instance_name")
            );
            self.problem("instance_name", message);
            None
        }
    }

    fn tls(&mut self) -> Option<TlsSettings> {
        // `tls: null` or no `tls` at all: plain HTTP. The keys are still read so every key
        // is visited once.
        let present = self.get("tls").is_some();
        let provision = self.choice("tls.provision", TlsProvision::Off);
        let hostnames = self.list("tls.hostnames", &[]);
        let cert_file = self.opt_path("tls.cert_file");
        let key_file = self.opt_path("tls.key_file");
        present.then_some(TlsSettings {
            provision,
            hostnames,
            cert_file,
            key_file,
        })
    }

    fn claude(&mut self) -> ClaudeSettings {
        let min_version = self
            .string("claude.min_version", "2.1.145")
            .trim()
            .to_owned();
        self.describe(
            "claude.min_version",
            "a numeric dotted version like 2.1.145",
            "`2.1.145`",
        );
        if !validate::is_dotted_version(&min_version) {
            let message = format!(
                "{} must be a numeric dotted version like 2.1.145, got {min_version:?}",
                self.label("claude.min_version")
            );
            self.problem("claude.min_version", message);
        }
        let launch_mode = self.launch_mode();
        let path_append = self
            .list("claude.path_append", &[])
            .into_iter()
            .filter(|item| !item.is_empty())
            .filter_map(|item| self.expand("claude.path_append", &item))
            .collect();
        ClaudeSettings {
            binary: self.string("claude.binary", "claude"),
            min_version,
            agents_json_poll_interval_seconds: self.uint(
                "claude.agents_json_poll_interval_seconds",
                30,
                AT_LEAST_1,
            ),
            startup_grace_seconds: self.float(
                "claude.startup_grace_seconds",
                60.0,
                FloatRange::above(0.0),
            ),
            auto_enable_remote_control: self.bool("claude.auto_enable_remote_control", true),
            resume_recap: self.bool("claude.resume_recap", false),
            resume_recap_max_chars: self.uint(
                "claude.resume_recap_max_chars",
                8000,
                IntRange {
                    min: 500,
                    max: None,
                },
            ),
            launch_mode,
            pty_screen_enabled: self.bool("claude.pty_screen_enabled", false),
            path_append,
            node_from_nvm: self.bool("claude.node_from_nvm", true),
            env: self.claude_env(),
            standard_resume: self.choice("claude.standard_resume", StandardResume::Auto),
            ready_wait_seconds: self.float(
                "claude.ready_wait_seconds",
                15.0,
                FloatRange::between(1.0, 120.0),
            ),
            stop_grace_seconds: self.float(
                "claude.stop_grace_seconds",
                5.0,
                FloatRange::between(0.5, 60.0),
            ),
            pty_url_timeout_seconds: self.float(
                "claude.pty_url_timeout_seconds",
                30.0,
                FloatRange::between(5.0, 600.0),
            ),
            stalled_bridge_action: self
                .choice("claude.stalled_bridge_action", StalledBridgeAction::Stop),
            config_dir: self.opt_path("claude.config_dir"),
        }
    }

    /// `launch_mode`, else the deprecated `resume_mode` (config.md §1).
    fn launch_mode(&mut self) -> LaunchMode {
        self.describe_choice("claude.launch_mode", LaunchMode::Standard);
        self.describe(
            "claude.resume_mode",
            "deprecated name of claude.launch_mode (launch_mode wins)",
            "null",
        );
        let new = self.get("claude.launch_mode");
        let old = self.get("claude.resume_mode");
        match (new, old) {
            (Some(value), old) => {
                if old.is_some() {
                    self.notices.push(Notice::warning(
                        "claude.resume_mode is deprecated and claude.launch_mode is also set; \
                         launch_mode wins — remove resume_mode",
                    ));
                }
                self.choice_at("claude.launch_mode", value, false)
                    .unwrap_or(LaunchMode::Standard)
            }
            (None, Some(value)) => {
                self.notices.push(Notice::warning(
                    "claude.resume_mode is deprecated; rename it to claude.launch_mode",
                ));
                self.choice_at("claude.resume_mode", value, false)
                    .unwrap_or(LaunchMode::Standard)
            }
            (None, None) => LaunchMode::Standard,
        }
    }

    fn claude_env(&mut self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut dropped = Vec::new();
        self.describe(
            "claude.env.<NAME>",
            "a string: extra environment for bridges (CLAUSTER_* names are dropped)",
            "none",
        );
        let Some(map) = self.table("claude.env") else {
            return out;
        };
        for (name, value) in sorted(map) {
            let path = format!("claude.env.{name}");
            if name.is_empty() || name.contains(['=', '\0']) {
                self.problem(
                    &path,
                    format!(
                        "claude.env has an invalid variable name {name:?}; names must be \
                         non-empty and contain no '=' or NUL"
                    ),
                );
                continue;
            }
            if name.to_ascii_uppercase().starts_with("CLAUSTER_") {
                dropped.push(name.clone());
                continue;
            }
            match &value.kind {
                ValueKind::Nil => {
                    out.insert(name.clone(), String::new());
                }
                _ => match as_text(value) {
                    Some(text) if !text.contains('\0') => {
                        out.insert(name.clone(), text);
                    }
                    _ => self.broken(&path, "a string without NUL characters", value),
                },
            }
        }
        if !dropped.is_empty() {
            self.notices.push(Notice::warning(format!(
                "claude.env: CLAUSTER_* variables are never passed to bridges; dropped {}",
                dropped.join(", ")
            )));
        }
        out
    }

    fn instance_defaults(&mut self) -> InstanceDefaults {
        self.describe_choice("instance_defaults.permission_mode", PermissionMode::Default);
        let permission_mode = match self.get("instance_defaults.permission_mode") {
            // `manual` is the flag spelling of `default` on newer claude builds.
            Some(value) if as_text(value).is_some_and(|t| t.trim() == "manual") => {
                PermissionMode::Default
            }
            Some(value) => self
                .choice_at("instance_defaults.permission_mode", value, false)
                .unwrap_or(PermissionMode::Default),
            None => PermissionMode::Default,
        };
        let session_name_prefix = self.opt_string("instance_defaults.session_name_prefix");
        self.describe(
            "instance_defaults.session_name_prefix",
            "at most 64 characters, no control characters, not starting with '-', or null",
            "null",
        );
        let session_name_prefix = session_name_prefix.and_then(|prefix| {
            let ok = prefix.chars().count() <= 64
                && !prefix.chars().any(char::is_control)
                && !prefix.starts_with('-');
            if !ok {
                let message = format!(
                    "{} must be at most 64 characters, without control characters and not \
                         starting with '-', got {prefix:?}",
                    self.label("instance_defaults.session_name_prefix")
                );
                self.problem("instance_defaults.session_name_prefix", message);
            }
            ok.then_some(prefix)
        });
        InstanceDefaults {
            spawn_mode: self.choice("instance_defaults.spawn_mode", SpawnMode::SameDir),
            permission_mode,
            verbose: self.bool("instance_defaults.verbose", false),
            session_name_prefix,
            capacity: self.uint("instance_defaults.capacity", 32, AT_LEAST_1),
            max_bridges: self.opt_uint("instance_defaults.max_bridges", AT_LEAST_1),
            restart: self.choice("instance_defaults.restart", RestartPolicy::Never),
            keep_running: self.bool("instance_defaults.keep_running", false),
            restart_burst: self.uint(
                "instance_defaults.restart_burst",
                5,
                IntRange {
                    min: 1,
                    max: Some(1000),
                },
            ),
            restart_window_seconds: self.uint(
                "instance_defaults.restart_window_seconds",
                600,
                IntRange {
                    min: 1,
                    max: Some(7 * 24 * 3600),
                },
            ),
            restart_backoff_seconds: self.float(
                "instance_defaults.restart_backoff_seconds",
                1.0,
                FloatRange::between(0.05, 3600.0),
            ),
            restart_backoff_max_seconds: self.float(
                "instance_defaults.restart_backoff_max_seconds",
                300.0,
                FloatRange::between(0.05, 86400.0),
            ),
        }
    }

    fn projects(&mut self) -> BTreeMap<String, ProjectSettings> {
        self.describe(
            "projects.<name>.allow_bypass_permissions",
            "a boolean",
            "`false`",
        );
        let mut out = BTreeMap::new();
        let Some(map) = self.table("projects") else {
            return out;
        };
        for (name, entry) in sorted(map) {
            let path = format!("projects.{name}");
            let settings = match &entry.kind {
                ValueKind::Nil => ProjectSettings::default(),
                ValueKind::Table(keys) => {
                    let key = format!("{path}.allow_bypass_permissions");
                    let value = keys
                        .get("allow_bypass_permissions")
                        .filter(|v| !matches!(v.kind, ValueKind::Nil));
                    ProjectSettings {
                        allow_bypass_permissions: self.bool_at(&key, value, false),
                    }
                }
                _ => {
                    self.broken(
                        &path,
                        "a mapping (e.g. {allow_bypass_permissions: true})",
                        entry,
                    );
                    continue;
                }
            };
            out.insert(name.clone(), settings);
        }
        out
    }

    fn auth(&mut self) -> AuthSettings {
        let password_hash = self.secret("auth.password_hash");
        self.describe(
            "auth.password_hash",
            "an argon2id PHC string (`clauster hash-password`), or null",
            "null",
        );
        if let Some(hash) = &password_hash
            && !validate::is_argon2_phc(hash.expose())
        {
            let message = format!(
                "{} is not an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>); \
                 generate one with `clauster hash-password`",
                self.label("auth.password_hash")
            );
            self.problem("auth.password_hash", message);
        }
        let allowed_origins = self
            .list("auth.allowed_origins", &[])
            .iter()
            .filter(|origin| !origin.is_empty())
            .map(|origin| validate::normalize_origin(origin))
            .collect();
        AuthSettings {
            enabled: self.bool("auth.enabled", false),
            password_required: self.bool("auth.password_required", false),
            password_hash,
            api_token_hash: self.token_hash("auth.api_token_hash"),
            allow_unauthenticated_network: self.bool("auth.allow_unauthenticated_network", false),
            cookie_secure: self.choice("auth.cookie_secure", CookieSecure::Auto),
            session_max_age_seconds: self.uint("auth.session_max_age_seconds", 604_800, AT_LEAST_1),
            allowed_origins,
            reverse_proxy: self.reverse_proxy(),
        }
    }

    fn reverse_proxy(&mut self) -> ReverseProxySettings {
        let user_header = self.header_name("auth.reverse_proxy.user_header", "Remote-User");
        let shared_secret_header =
            self.header_name("auth.reverse_proxy.shared_secret_header", "X-Proxy-Auth");
        ReverseProxySettings {
            enabled: self.bool("auth.reverse_proxy.enabled", false),
            user_header,
            shared_secret_header,
            trusted_ips: self.networks("auth.reverse_proxy.trusted_ips", false),
            shared_secret: self.secret("auth.reverse_proxy.shared_secret"),
            hmac_window_seconds: self.uint(
                "auth.reverse_proxy.hmac_window_seconds",
                60,
                AT_LEAST_0,
            ),
            require_hmac: self.bool("auth.reverse_proxy.require_hmac", true),
        }
    }

    fn header_name(&mut self, path: &str, default: &str) -> String {
        let name = self.string(path, default).trim().to_owned();
        self.describe(path, "an HTTP header name", format!("`{default}`"));
        if validate::is_header_name(&name) {
            name
        } else {
            let message = format!(
                "{} must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~){}",
                self.label(path),
                if is_sensitive_name(path) {
                    String::new()
                } else {
                    format!(", got {name:?}")
                }
            );
            self.problem(path, message);
            default.to_owned()
        }
    }

    /// 64 lowercase hex characters (a SHA-256), or nothing.
    fn token_hash(&mut self, path: &str) -> Option<Secret> {
        let hash = self.secret(path);
        self.describe(
            path,
            "64 lowercase hex characters (the SHA-256 of the token), or null",
            "null",
        );
        let hash = hash?;
        if validate::is_sha256_hex(hash.expose()) {
            Some(hash)
        } else {
            let message = format!(
                "{} must be 64 lowercase hex characters (the SHA-256 of the token); generate \
                 one with `clauster {}`",
                self.label(path),
                if path.starts_with("observability") {
                    "hash-metrics-token"
                } else {
                    "hash-token"
                }
            );
            self.problem(path, message);
            None
        }
    }

    /// IP addresses or CIDRs; `cidr_only` refuses bare addresses.
    fn networks(&mut self, path: &str, cidr_only: bool) -> Vec<IpNet> {
        let mut out = Vec::new();
        let items = self.list(path, &[]);
        let rule = if cidr_only {
            "a list of CIDRs (10.0.0.0/8, fd00::/8)"
        } else {
            "a list of IP addresses or CIDRs"
        };
        self.describe(path, rule, "`[]`");
        for item in items {
            match IpNet::parse(&item) {
                Some(net) if !cidr_only || item.contains('/') => out.push(net),
                _ => {
                    let rule = if cidr_only {
                        "a CIDR such as 10.0.0.0/8 or fd00::/8"
                    } else {
                        "an IP address or CIDR such as 192.168.1.10 or 10.0.0.0/8"
                    };
                    let message = format!(
                        "{} entries must each be {rule}, got {item:?}",
                        self.label(path)
                    );
                    self.problem(path, message);
                }
            }
        }
        out
    }

    fn logs(&mut self) -> LogsSettings {
        LogsSettings {
            bridge_log_max_size_mb: self.uint("logs.bridge_log_max_size_mb", 10, AT_LEAST_1),
            keep_rotated: self.uint("logs.keep_rotated", 5, AT_LEAST_0),
            redact_session_url: self.bool("logs.redact_session_url", false),
            strip_ansi_in_stream: self.bool("logs.strip_ansi_in_stream", true),
            retention_max_age_days: self.uint("logs.retention_max_age_days", 30, AT_LEAST_0),
            retention_max_files: self.uint("logs.retention_max_files", 0, AT_LEAST_0),
            retention_max_total_mb: self.uint("logs.retention_max_total_mb", 0, AT_LEAST_0),
        }
    }

    fn clone_settings(&mut self) -> CloneSettings {
        let allowed_schemes: Vec<String> = self
            .list("clone.allowed_schemes", &["https", "ssh"])
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let meaningless: Vec<&str> = allowed_schemes
            .iter()
            .map(String::as_str)
            .filter(|s| !["https", "ssh", "http", "git"].contains(s))
            .collect();
        if !meaningless.is_empty() {
            self.notices.push(Notice::warning(format!(
                "clone.allowed_schemes: {} never match (only https, ssh, http and git are \
                 meaningful)",
                meaningless.join(", ")
            )));
        }
        CloneSettings {
            enabled: self.bool("clone.enabled", true),
            allow_private_hosts: self.bool("clone.allow_private_hosts", false),
            allowed_private_cidrs: self.networks("clone.allowed_private_cidrs", true),
            timeout_seconds: self.uint("clone.timeout_seconds", 300, AT_LEAST_1),
            max_mb: self.uint("clone.max_mb", 2048, AT_LEAST_0),
            allowed_schemes,
        }
    }

    fn usage(&mut self) -> UsageSettings {
        let mode = self.usage_mode();
        let currency = self
            .string("usage.currency", "USD")
            .trim()
            .to_ascii_uppercase();
        self.describe(
            "usage.currency",
            "a three-letter currency code such as USD or EUR",
            "`USD`",
        );
        let currency = if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()) {
            currency
        } else {
            let message = format!(
                "{} must be a three-letter currency code such as USD or EUR, got {currency:?}",
                self.label("usage.currency")
            );
            self.problem("usage.currency", message);
            "USD".to_owned()
        };
        let fx_rate = self.float("usage.fx_rate", 1.0, FloatRange::above(0.0));
        if mode == UsageMode::Cost && currency != "USD" && (fx_rate - 1.0).abs() < f64::EPSILON {
            self.notices.push(Notice::warning(format!(
                "usage.currency is {currency} but usage.fx_rate is 1.0: costs are USD amounts \
                 shown as {currency}; set usage.fx_rate to the USD→{currency} rate"
            )));
        }
        UsageSettings {
            mode,
            currency,
            currency_symbol: self.opt_string("usage.currency_symbol"),
            fx_rate,
            token_total_includes_cache: self.bool("usage.token_total_includes_cache", true),
            prices: self.prices(),
        }
    }

    /// `usage.mode`, where a YAML `false` (any YAML 1.1 spelling) means `off`, folded with
    /// the deprecated `show_cost`.
    fn usage_mode(&mut self) -> UsageMode {
        self.describe(
            "usage.mode",
            "one of cost, tokens, off (a YAML false means off)",
            "`cost`",
        );
        self.describe(
            "usage.show_cost",
            "a boolean; deprecated: `false` means usage.mode: off",
            "`true`",
        );
        let mode = self.get("usage.mode");
        let show_cost_value = self.get("usage.show_cost");
        let show_cost = self.bool_at("usage.show_cost", show_cost_value, true);
        let Some(value) = mode else {
            if show_cost {
                return UsageMode::Cost;
            }
            self.notices.push(Notice::warning(
                "usage.show_cost is deprecated; write usage.mode: off instead",
            ));
            return UsageMode::Off;
        };
        if !show_cost {
            self.notices.push(Notice::warning(
                "usage.show_cost is deprecated and ignored because usage.mode is set; remove it",
            ));
        }
        if as_bool(value) == Some(false) {
            return UsageMode::Off;
        }
        self.choice_at("usage.mode", value, false)
            .unwrap_or(UsageMode::Cost)
    }

    fn prices(&mut self) -> BTreeMap<String, PriceOverride> {
        for rate in [
            "input",
            "output",
            "cache_write_5m",
            "cache_write_1h",
            "cache_read",
        ] {
            self.describe(
                &format!("usage.prices.<model>.{rate}"),
                "a number of at least 0 (USD per million tokens); a row needs all five",
                "none",
            );
        }
        let mut out = BTreeMap::new();
        let Some(map) = self.table("usage.prices") else {
            return out;
        };
        for (model, row) in sorted(map) {
            let path = format!("usage.prices.{model}");
            let ValueKind::Table(rates) = &row.kind else {
                self.broken(
                    &path,
                    "a mapping of input, output, cache_write_5m, cache_write_1h, cache_read",
                    row,
                );
                continue;
            };
            let mut rate = |name: &str| -> Option<f64> {
                let key = format!("{path}.{name}");
                if let Some(value) = rates
                    .get(name)
                    .filter(|v| !matches!(v.kind, ValueKind::Nil))
                {
                    self.float_at(&key, value, FloatRange::at_least(0.0))
                } else {
                    self.problem(
                        &key,
                        format!(
                            "{key} is missing; a price row needs all of input, output, \
                             cache_write_5m, cache_write_1h and cache_read (USD per \
                             million tokens)"
                        ),
                    );
                    None
                }
            };
            let row = (
                rate("input"),
                rate("output"),
                rate("cache_write_5m"),
                rate("cache_write_1h"),
                rate("cache_read"),
            );
            if let (
                Some(input),
                Some(output),
                Some(cache_write_5m),
                Some(cache_write_1h),
                Some(cache_read),
            ) = row
            {
                out.insert(
                    model.trim().to_ascii_lowercase(),
                    PriceOverride {
                        input,
                        output,
                        cache_write_5m,
                        cache_write_1h,
                        cache_read,
                    },
                );
            }
        }
        out
    }

    fn metrics(&mut self) -> MetricsSettings {
        MetricsSettings {
            enabled: self.bool("metrics.enabled", true),
            normalize_cpu: self.bool("metrics.normalize_cpu", false),
            show_disk: self.bool("metrics.show_disk", true),
            sample_interval_seconds: self.float(
                "metrics.sample_interval_seconds",
                0.15,
                FloatRange {
                    min: 0.0,
                    min_exclusive: true,
                    max: Some(2.0),
                },
            ),
            poll_seconds: self.float("metrics.poll_seconds", 4.0, FloatRange::at_least(1.0)),
        }
    }

    /// The ignored sections (config.md §3.12) that are switched on, for the single notice.
    /// Only the keys whose default is known to be off count: a flag that is true, a URL
    /// list or event map that is not empty.
    pub(crate) fn ignored_sections(&mut self) -> Vec<&'static str> {
        const SWITCHES: &[(&str, &[&str])] = &[("claustrum", &["claustrum.enabled"])];
        // Visit every ignored key so the coverage test sees them read.
        for (path, kind) in super::env::KEYS {
            if *kind == super::env::EnvKind::Raw {
                self.get(path);
                self.describe(path, "accepted and ignored (config.md §3.12)", "—");
            }
        }
        SWITCHES
            .iter()
            .filter(|(_, keys)| {
                keys.iter()
                    .any(|key| lookup(self.root, key).is_some_and(is_switched_on))
            })
            .map(|(section, _)| *section)
            .collect()
    }
}
