//! The typed configuration tree (config.md §3) and the small value types it is made of.
//!
//! Everything here is plain data: the loader builds it and validation has already run.
//! Keys whose values are domain modes (`launch_mode`, `spawn_mode`, `permission_mode`,
//! `standard_resume`, `stalled_bridge_action`) hold the domain types themselves; the config
//! reader's [`Choice`](super::read::Choice) is implemented for them here, so `modes` and
//! `status` stay free of config knowledge.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::modes::{LaunchMode, PermissionMode, SpawnMode, StandardResume};
use crate::notify::{NotifyEvent, PeopleFilter};
use crate::restart::RestartPolicy;
use crate::status::StalledBridgeAction;

/// One `usage.prices.<model>` row: the price table's own override type, read as is.
pub use crate::usage::PriceOverride;

/// Enum-valued keys: each variant with the exact spelling the file uses.
macro_rules! setting_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in the order the error messages list them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// Every spelling, in the same order.
            pub const TOKENS: &'static [&'static str] = &[$($text),+];

            /// The spelling used in `clauster.yml`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl super::read::Choice for $name {
            fn all() -> &'static [Self] {
                Self::ALL
            }
            fn name(self) -> &'static str {
                self.as_str()
            }
        }
    };
}

/// Domain enums read from the file: their `ALL` order is the order error messages list
/// them, their token is the spelling the file uses.
macro_rules! domain_choice {
    ($($name:ty),+ $(,)?) => {
        $(
            impl super::read::Choice for $name {
                fn all() -> &'static [Self] {
                    &<$name>::ALL
                }
                fn name(self) -> &'static str {
                    self.as_token()
                }
            }
        )+
    };
}

domain_choice!(
    RestartPolicy,
    LaunchMode,
    SpawnMode,
    PermissionMode,
    StandardResume,
    StalledBridgeAction
);

setting_enum!(
    /// `log_format`.
    LogFormat { Text = "text", Json = "json" }
);
setting_enum!(
    /// `log_level` (read case-insensitively).
    LogLevel { Debug = "debug", Info = "info", Warning = "warning", Error = "error" }
);
setting_enum!(
    /// `auth.cookie_secure`: the Secure cookie flag and HSTS.
    CookieSecure { Auto = "auto", Always = "always", Never = "never" }
);
setting_enum!(
    /// `usage.mode`: what the usage badge shows (`off` also stops transcript reading).
    UsageMode { Cost = "cost", Tokens = "tokens", Off = "off" }
);
setting_enum!(
    /// `tls.provision`.
    TlsProvision { Off = "off", SelfSigned = "self-signed" }
);

/// A configured secret or credential hash. `Debug` never shows it, so a logged `Config`
/// cannot leak it (spec README invariant 5).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that must compare or verify it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// An IP network written as an address (a single host) or `address/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpNet {
    /// Parses `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`. Host bits under the prefix are
    /// ignored when matching, so `10.1.2.3/8` means `10.0.0.0/8`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                let n: u8 = p.parse().ok()?;
                if n > max {
                    return None;
                }
                n
            }
            Some(_) => return None,
        };
        Some(Self { addr, prefix_len })
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` lies inside this network; IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
    /// match IPv4 networks, because a dual-stack socket reports IPv4 peers that way.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix_len))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// The whole configuration, validated (config.md §3).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub schema_version: i64,
    /// `~` expanded (and made absolute when the caller gave a working directory).
    pub projects_root: PathBuf,
    /// True when `projects_root` came from the built-in default `~/projects`: only then may
    /// the edge create it (config.md §5).
    pub projects_root_is_default: bool,
    pub host: String,
    pub port: u16,
    /// Concurrent connections on the TCP listener (issue 16 §4); at the cap the oldest idle
    /// keep-alive connection is shed, else the new one is refused.
    pub max_connections: u64,
    pub state_dir: PathBuf,
    /// Normalised: `""` or `/a/b` (no trailing slash).
    pub root_path: String,
    pub log_format: LogFormat,
    pub log_level: LogLevel,
    pub instance_name: Option<String>,
    pub tls: Option<TlsSettings>,
    pub claude: ClaudeSettings,
    pub instance_defaults: InstanceDefaults,
    /// Per-project settings by directory name; names that are not projects are inert.
    pub projects: BTreeMap<String, ProjectSettings>,
    pub auth: AuthSettings,
    pub ui: UiSettings,
    pub api: ApiSettings,
    pub db: DbSettings,
    pub logs: LogsSettings,
    pub clone: CloneSettings,
    pub reaper: ReaperSettings,
    pub usage: UsageSettings,
    pub metrics: MetricsSettings,
    pub observability: ObservabilitySettings,
    pub mcp: McpSettings,
    pub login_shepherd: LoginShepherdSettings,
    pub config_write: ConfigWriteSettings,
    pub webhooks: WebhooksSettings,
    pub notifications: NotificationsSettings,
}

/// `tls` (config.md §3.13).
#[derive(Clone, Debug, PartialEq)]
pub struct TlsSettings {
    pub provision: TlsProvision,
    pub hostnames: Vec<String>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// `claude` (config.md §3.2).
#[derive(Clone, Debug, PartialEq)]
// The flags mirror independent keys of the file one to one.
#[allow(clippy::struct_excessive_bools)]
pub struct ClaudeSettings {
    pub binary: String,
    pub min_version: String,
    pub agents_json_poll_interval_seconds: u64,
    pub startup_grace_seconds: f64,
    pub auto_enable_remote_control: bool,
    pub resume_recap: bool,
    pub resume_recap_max_chars: u64,
    /// `claude.launch_mode` (alias `claude.resume_mode`).
    pub launch_mode: LaunchMode,
    pub pty_screen_enabled: bool,
    /// `~` expanded; blank entries dropped.
    pub path_append: Vec<PathBuf>,
    pub node_from_nvm: bool,
    /// Extra bridge environment, `CLAUSTER_*` names already dropped.
    pub env: BTreeMap<String, String>,
    /// When standard resume uses `remote-control --continue`.
    pub standard_resume: StandardResume,
    pub ready_wait_seconds: f64,
    pub stop_grace_seconds: f64,
    pub pty_url_timeout_seconds: f64,
    /// What happens to a bridge past its startup deadline.
    pub stalled_bridge_action: StalledBridgeAction,
    pub config_dir: Option<PathBuf>,
}

/// `instance_defaults` (config.md §3.3).
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceDefaults {
    pub spawn_mode: SpawnMode,
    /// `manual` is read as `default`.
    pub permission_mode: PermissionMode,
    pub verbose: bool,
    pub session_name_prefix: Option<String>,
    pub capacity: u64,
    pub max_bridges: Option<u64>,
    /// The restart policy of a project without its own (bridges.md §7.9).
    pub restart: RestartPolicy,
    /// Whether a project without its own setting is brought back after a restart (§11.1).
    pub keep_running: bool,
    /// Failures within `restart_window_seconds` that end the restarts as a crash loop.
    pub restart_burst: u64,
    pub restart_window_seconds: u64,
    /// The first backoff before a restart; it doubles per restart up to the max.
    pub restart_backoff_seconds: f64,
    pub restart_backoff_max_seconds: f64,
}

impl InstanceDefaults {
    /// The restart rule these keys make (bridges.md §7.9).
    pub fn restart_rules(&self) -> crate::restart::RestartRules {
        use std::time::Duration;
        crate::restart::RestartRules {
            burst: u32::try_from(self.restart_burst).unwrap_or(u32::MAX),
            window: Duration::from_secs(self.restart_window_seconds),
            first_backoff: Duration::from_secs_f64(self.restart_backoff_seconds),
            max_backoff: Duration::from_secs_f64(
                self.restart_backoff_max_seconds
                    .max(self.restart_backoff_seconds),
            ),
        }
    }
}

/// `projects.<name>` (config.md §3.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectSettings {
    pub allow_bypass_permissions: bool,
}

/// `auth` (config.md §3.5).
#[derive(Clone, Debug, PartialEq)]
pub struct AuthSettings {
    pub enabled: bool,
    pub password_required: bool,
    pub password_hash: Option<Secret>,
    pub api_token_hash: Option<Secret>,
    pub allow_unauthenticated_network: bool,
    pub cookie_secure: CookieSecure,
    pub session_max_age_seconds: u64,
    /// Normalised with [`normalize_origin`](super::normalize_origin); blanks dropped.
    pub allowed_origins: Vec<String>,
    pub reverse_proxy: ReverseProxySettings,
}

/// `auth.reverse_proxy` (config.md §3.5, security.md §3.1).
#[derive(Clone, Debug, PartialEq)]
pub struct ReverseProxySettings {
    pub enabled: bool,
    pub user_header: String,
    pub shared_secret_header: String,
    pub trusted_ips: Vec<IpNet>,
    pub shared_secret: Option<Secret>,
    pub hmac_window_seconds: u64,
    pub require_hmac: bool,
}

/// `ui`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UiSettings {
    pub enabled: bool,
}

/// `api` (config.md §3.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiSettings {
    /// Serve `/openapi.json` and `/docs` (http-api.md §3.3).
    pub openapi_enabled: bool,
}

/// `db`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbSettings {
    pub backup_before_migrate: bool,
}

/// `logs` (config.md §3.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogsSettings {
    pub bridge_log_max_size_mb: u64,
    pub keep_rotated: u64,
    pub redact_session_url: bool,
    pub strip_ansi_in_stream: bool,
    pub retention_max_age_days: u64,
    pub retention_max_files: u64,
    pub retention_max_total_mb: u64,
}

/// `clone` (config.md §3.8).
#[derive(Clone, Debug, PartialEq)]
pub struct CloneSettings {
    pub enabled: bool,
    /// Lower-cased, blanks dropped.
    pub allowed_schemes: Vec<String>,
    pub allow_private_hosts: bool,
    pub allowed_private_cidrs: Vec<IpNet>,
    pub timeout_seconds: u64,
    pub max_mb: u64,
}

/// `reaper`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaperSettings {
    pub ui_enabled: bool,
}

/// `login_shepherd` (issue 20): signing `claude` in from the dashboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginShepherdSettings {
    /// The `/api/login-shepherd/*` routes and the panel; 404 when off.
    pub enabled: bool,
    /// The `setup-token` mode too (a second opt-in, off by default).
    pub allow_setup_token: bool,
}

/// `config_write` (issue 23): Claude Code's own configuration edited from the dashboard; it
/// also gates the settings editor's advanced list (config.md §8.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWriteSettings {
    /// The `/api/config-write/*` routes, the "Claude config" sheets and the advanced
    /// settings; 404 when off.
    pub enabled: bool,
    /// The User scope (`~/.claude/`) too (a second opt-in, off by default).
    pub allow_user_scope: bool,
}

/// `mcp` (issue 24): the MCP server of `clauster mcp` (stdio) and of `/mcp` (HTTP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpSettings {
    /// The write tools (`spawn_session`, `stop_session`, `resume_session`) act instead of
    /// answering a tool error. Off by default, as in the Python Clauster 1.3.2.
    pub allow_writes: bool,
    /// `clauster run` serves streamable HTTP at `<root_path>/mcp`, behind bearer tokens only.
    pub http_enabled: bool,
}

/// `webhooks` (config.md §3.12, notifications.md §2): 1.3.2's keys plus `secret` and
/// `retries`. `Debug` shows the URLs masked: receivers often keep a token in the path.
#[derive(Clone, PartialEq)]
pub struct WebhooksSettings {
    pub enabled: bool,
    /// Each an `http`/`https` URL (checked at load).
    pub urls: Vec<String>,
    pub timeout_seconds: f64,
    /// The events that are sent: `events` applied over the defaults.
    pub events: BTreeSet<NotifyEvent>,
    pub block_private_targets: bool,
    /// Signs every body (`X-Clauster-Signature: sha256=<hex>`).
    pub secret: Option<Secret>,
    /// Retries after a failed attempt, with exponential back-off.
    pub retries: u64,
}

/// `notifications` (config.md §3.12, notifications.md §1): the Apprise URLs, the browser and
/// push channels and the `notify_on_*` switches they follow.
#[derive(Clone, PartialEq)]
pub struct NotificationsSettings {
    pub enabled: bool,
    /// Apprise URLs; they carry tokens, so `Debug` shows only how many there are.
    pub urls: Vec<String>,
    pub browser_enabled: bool,
    /// Web Push's VAPID contact (`mailto:` or `https://`); `None` is a placeholder that
    /// Apple's push service refuses (notifications.md §8.1).
    pub push_contact: Option<String>,
    /// `notifications.push_allow_private`: push endpoints may be on loopback or private
    /// addresses (a push service on your own network, or a test double). Off, a device can
    /// only name a public push service, checked again at every delivery.
    pub push_allow_private: bool,
    pub filter: PeopleFilter,
}

impl fmt::Debug for WebhooksSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let urls: Vec<String> = self
            .urls
            .iter()
            .map(|url| crate::notify::apprise::mask_url(url))
            .collect();
        f.debug_struct("WebhooksSettings")
            .field("enabled", &self.enabled)
            .field("urls", &urls)
            .field("timeout_seconds", &self.timeout_seconds)
            .field("events", &self.events)
            .field("block_private_targets", &self.block_private_targets)
            .field("secret", &self.secret)
            .field("retries", &self.retries)
            .finish()
    }
}

impl fmt::Debug for NotificationsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotificationsSettings")
            .field("enabled", &self.enabled)
            .field("urls", &format_args!("<{} URLs>", self.urls.len()))
            .field("browser_enabled", &self.browser_enabled)
            .field("push_contact", &self.push_contact)
            .field("push_allow_private", &self.push_allow_private)
            .field("filter", &self.filter)
            .finish()
    }
}

/// `usage` (config.md §3.10).
#[derive(Clone, Debug, PartialEq)]
pub struct UsageSettings {
    /// Already folded with the deprecated `show_cost: false`.
    pub mode: UsageMode,
    /// Trimmed, upper-cased, three letters.
    pub currency: String,
    pub currency_symbol: Option<String>,
    pub fx_rate: f64,
    pub token_total_includes_cache: bool,
    /// Operator price rows by lower-cased model id, consulted before the built-in table.
    pub prices: BTreeMap<String, PriceOverride>,
}

impl UsageSettings {
    /// The symbol shown before amounts: `currency_symbol`, else `$` for USD, else
    /// `"<CODE> "`.
    pub fn effective_currency_symbol(&self) -> String {
        match &self.currency_symbol {
            Some(symbol) => symbol.clone(),
            None if self.currency == "USD" => "$".to_owned(),
            None => format!("{} ", self.currency),
        }
    }
}

/// `metrics` (config.md §3.11).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSettings {
    pub enabled: bool,
    pub normalize_cpu: bool,
    pub show_disk: bool,
    pub sample_interval_seconds: f64,
    pub poll_seconds: f64,
}

/// `observability` (config.md §3.11).
#[derive(Clone, Debug, PartialEq)]
pub struct ObservabilitySettings {
    pub prometheus_enabled: bool,
    pub metrics_token_hash: Option<Secret>,
}

/// The hosts that count as loopback: a string match, so `127.0.0.2` and `0.0.0.0` do not
/// (config.md §4).
pub const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

impl Config {
    /// `host` is one of the literal loopback strings (config.md §4).
    pub fn is_loopback_host(&self) -> bool {
        LOOPBACK_HOSTS.contains(&self.host.as_str())
    }

    /// `auth.enabled` and at least one configured credential method: password (with a
    /// hash), forward-auth, or the config token hash (config.md §4).
    pub fn enforced_auth(&self) -> bool {
        let auth = &self.auth;
        auth.enabled
            && ((auth.password_required && auth.password_hash.is_some())
                || auth.reverse_proxy.enabled
                || auth.api_token_hash.is_some())
    }

    /// The effective currency symbol of the usage badge.
    pub fn currency_symbol(&self) -> String {
        self.usage.effective_currency_symbol()
    }

    /// The startup warning of config.md §4 when auth is on, the host is not loopback and no
    /// browser origin is allowed; `clauster doctor`'s `auth` row fails with the same text.
    pub fn browser_login_warning(&self) -> Option<String> {
        (self.auth.enabled && !self.is_loopback_host() && self.auth.allowed_origins.is_empty())
            .then(|| {
                format!(
                    "auth is on and host='{}' is not loopback, but auth.allowed_origins is \
                     empty: no browser can log in; add the dashboard's URL, e.g. \
                     https://clauster.example.net",
                    self.host
                )
            })
    }

    /// The warning when forward-auth is on and no browser origin is allowed (issue 16 §5):
    /// browsers send the proxy's origin with every unsafe request, and a forward-auth caller's
    /// `Origin` must be allowed, so the dashboard behind the proxy could change nothing.
    /// `clauster doctor`'s `auth` row fails with the same text.
    pub fn forward_auth_origin_warning(&self) -> Option<String> {
        (self.auth.enabled
            && self.auth.reverse_proxy.enabled
            && self.auth.allowed_origins.is_empty())
        .then(|| {
            "forward-auth is on but auth.allowed_origins is empty: a browser behind the proxy \
             sends the proxy's origin, which is refused, so the dashboard can change nothing; \
             add the URL the proxy serves, e.g. https://clauster.example.net"
                .to_owned()
        })
    }

    /// The warning for a non-loopback host whose operator opted out of enforced auth
    /// (`clauster doctor` warns on it too).
    pub fn unauthenticated_network_warning(&self) -> Option<String> {
        (!self.is_loopback_host() && !self.enforced_auth()).then(|| {
            format!(
                "host='{}' is not loopback and auth is not enforced \
                 (auth.allow_unauthenticated_network is set): anyone who can reach port {} \
                 can run bridges",
                self.host, self.port
            )
        })
    }
}
