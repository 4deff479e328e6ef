//! Tests of the configuration loader: defaults, the spec's example, every refusal message,
//! environment overrides, YAML quirks and the alias cap.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use super::*;
use crate::modes::{LaunchMode, PermissionMode};

const HASH: &str = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$\
                    q0Jb9nHzY0tTZg0Vn0bGXbQ8Zr4cG1r5sWl0d8vJ2mQ";
const TOKEN: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn input(yaml: Option<&str>, env: &[(&str, &str)]) -> ConfigInput {
    ConfigInput {
        text: yaml.map(str::to_owned),
        source_name: "/etc/clauster/clauster.yml".to_owned(),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        home: Some(PathBuf::from("/home/op")),
        ..ConfigInput::default()
    }
}

fn ok(input: &ConfigInput) -> Loaded {
    load(input).unwrap_or_else(|e| panic!("expected a valid config, got: {e}"))
}

fn yaml(text: &str) -> Loaded {
    ok(&input(Some(text), &[]))
}

fn with_env(text: Option<&str>, env: &[(&str, &str)]) -> Loaded {
    ok(&input(text, env))
}

fn err(input: &ConfigInput) -> String {
    match load(input) {
        Ok(_) => panic!("expected a refusal for {input:?}"),
        Err(e) => e.to_string(),
    }
}

fn notices(loaded: &Loaded) -> Vec<String> {
    loaded.notices.iter().map(ToString::to_string).collect()
}

#[test]
fn defaults_without_a_file() {
    let loaded = with_env(None, &[]);
    assert!(loaded.notices.is_empty(), "{:?}", loaded.notices);
    assert!(loaded.config.projects_root_is_default);
    assert!(loaded.config.is_loopback_host());
    assert!(!loaded.config.enforced_auth());
    insta::assert_snapshot!("defaults", format!("{:#?}", loaded.config));
}

#[test]
fn empty_and_null_documents_mean_defaults() {
    let defaults = with_env(None, &[]).config;
    for text in [
        "",
        "\n",
        "# only a comment\n",
        "---\n",
        "~\n",
        "null",
        "---\n...\n",
    ] {
        assert_eq!(yaml(text).config, defaults, "{text:?}");
    }
}

#[test]
fn spec_example_loads() {
    // config.md §7, with a real PHC string in place of the elided one.
    let text = format!(
        r#"
projects_root: ~/projects
host: 0.0.0.0
port: 7621
auth:
  enabled: true
  password_required: true
  password_hash: "{HASH}"
  allowed_origins: ["https://clauster.example.net"]
  cookie_secure: always
claude:
  launch_mode: standard
  resume_recap: false
  path_append: ["~/.local/bin"]
instance_defaults:
  permission_mode: default
  max_bridges: 8
projects:
  sandbox-playground: {{allow_bypass_permissions: true}}
usage: {{mode: cost}}
reaper: {{ui_enabled: true}}
"#
    );
    let loaded = yaml(&text);
    assert!(loaded.notices.is_empty(), "{:?}", loaded.notices);
    let config = &loaded.config;
    assert!(!config.projects_root_is_default);
    assert!(config.enforced_auth());
    assert!(!config.is_loopback_host());
    assert_eq!(
        config.auth.password_hash.as_ref().map(Secret::expose),
        Some(HASH)
    );
    assert_eq!(config.instance_defaults.max_bridges, Some(8));
    assert!(config.projects["sandbox-playground"].allow_bypass_permissions);
    insta::assert_snapshot!("spec_example", format!("{config:#?}"));
}

/// A refusal case: its name, the file text, the variables.
type Case<'a> = (&'a str, Option<&'a str>, &'a [(&'a str, &'a str)]);

/// Every refusal, as (what was given → the message after `clauster: config error: `).
#[test]
#[allow(clippy::too_many_lines)] // one table
fn refusal_messages() {
    let cases: &[Case<'_>] = &[
        ("port zero", Some("port: 0"), &[]),
        ("port too high", Some("port: 70000"), &[]),
        ("port not a number", Some("port: seventy"), &[]),
        ("port fractional", Some("port: 80.5"), &[]),
        (
            "mcp writes not a boolean",
            Some("mcp: {allow_writes: maybe}"),
            &[],
        ),
        (
            "mcp http from env not a boolean",
            None,
            &[("CLAUSTER_MCP_HTTP_ENABLED", "2")],
        ),
        ("port from env", None, &[("CLAUSTER_PORT", "abc")]),
        ("max_connections zero", Some("max_connections: 0"), &[]),
        (
            "max_connections from env",
            None,
            &[("CLAUSTER_MAX_CONNECTIONS", "lots")],
        ),
        (
            "port in range from env but out of bounds",
            None,
            &[("CLAUSTER_PORT", "0")],
        ),
        (
            "empty non-nullable variable",
            None,
            &[("CLAUSTER_PORT", "")],
        ),
        (
            "boolean variable",
            None,
            &[("CLAUSTER_AUTH_ENABLED", "maybe")],
        ),
        (
            "float variable",
            None,
            &[("CLAUSTER_CLAUDE_STARTUP_GRACE_SECONDS", "fast")],
        ),
        ("boolean key", Some("auth:\n  enabled: maybe"), &[]),
        ("log_format enum", Some("log_format: xml"), &[]),
        ("log_level enum", Some("log_level: LOUD"), &[]),
        ("launch_mode enum", Some("claude: {launch_mode: tmux}"), &[]),
        (
            "resume_mode alias enum",
            Some("claude: {resume_mode: tmux}"),
            &[],
        ),
        (
            "spawn_mode enum",
            Some("instance_defaults: {spawn_mode: turbo}"),
            &[],
        ),
        (
            "permission_mode enum",
            Some("instance_defaults: {permission_mode: yolo}"),
            &[],
        ),
        (
            "standard_resume enum",
            Some("claude: {standard_resume: sometimes}"),
            &[],
        ),
        (
            "stalled action enum",
            Some("claude: {stalled_bridge_action: explode}"),
            &[],
        ),
        (
            "cookie_secure enum",
            Some("auth: {cookie_secure: maybe}"),
            &[],
        ),
        ("usage.mode enum", Some("usage: {mode: dollars}"), &[]),
        ("usage.mode true", Some("usage: {mode: true}"), &[]),
        ("tls.provision enum", Some("tls: {provision: acme}"), &[]),
        (
            "pty timeout not below startup grace",
            Some("claude: {pty_url_timeout_seconds: 90}"),
            &[],
        ),
        (
            "pty timeout equal to startup grace",
            Some("claude: {pty_url_timeout_seconds: 30, startup_grace_seconds: 30}"),
            &[],
        ),
        (
            "startup grace zero",
            Some("claude: {startup_grace_seconds: 0}"),
            &[],
        ),
        (
            "ready wait too short",
            Some("claude: {ready_wait_seconds: 0.5}"),
            &[],
        ),
        (
            "stop grace too long",
            Some("claude: {stop_grace_seconds: 61}"),
            &[],
        ),
        (
            "pty timeout too short",
            Some("claude: {pty_url_timeout_seconds: 4}"),
            &[],
        ),
        (
            "recap budget",
            Some("claude: {resume_recap_max_chars: 100}"),
            &[],
        ),
        (
            "agents poll",
            Some("claude: {agents_json_poll_interval_seconds: 0}"),
            &[],
        ),
        ("min_version", Some("claude: {min_version: 2.x}"), &[]),
        ("binary blank", Some("claude: {binary: ''}"), &[]),
        ("capacity", Some("instance_defaults: {capacity: 0}"), &[]),
        (
            "max_bridges",
            Some("instance_defaults: {max_bridges: 0}"),
            &[],
        ),
        (
            "session prefix dash",
            Some("instance_defaults: {session_name_prefix: '-x'}"),
            &[],
        ),
        (
            "session prefix control",
            Some("instance_defaults: {session_name_prefix: \"a\\tb\"}"),
            &[],
        ),
        (
            "session max age",
            Some("auth: {session_max_age_seconds: 0}"),
            &[],
        ),
        (
            "hmac window negative",
            Some("auth: {reverse_proxy: {hmac_window_seconds: -1}}"),
            &[],
        ),
        (
            "bridge log size",
            Some("logs: {bridge_log_max_size_mb: 0}"),
            &[],
        ),
        (
            "keep rotated negative",
            Some("logs: {keep_rotated: -1}"),
            &[],
        ),
        ("clone timeout", Some("clone: {timeout_seconds: 0}"), &[]),
        (
            "sample interval zero",
            Some("metrics: {sample_interval_seconds: 0}"),
            &[],
        ),
        (
            "sample interval too long",
            Some("metrics: {sample_interval_seconds: 2.5}"),
            &[],
        ),
        ("poll seconds", Some("metrics: {poll_seconds: 0.5}"), &[]),
        ("fx rate", Some("usage: {fx_rate: 0}"), &[]),
        ("currency", Some("usage: {currency: EURO}"), &[]),
        (
            "price row incomplete",
            Some("usage: {prices: {my-model: {input: 1}}}"),
            &[],
        ),
        (
            "price negative",
            Some(
                "usage: {prices: {m: {input: -1, output: 1, cache_write_5m: 1, \
                 cache_write_1h: 1, cache_read: 1}}}",
            ),
            &[],
        ),
        (
            "price row not a mapping",
            Some("usage: {prices: {m: 3}}"),
            &[],
        ),
        ("root_path characters", Some("root_path: 'a b'"), &[]),
        ("root_path dot segment", Some("root_path: /x/../y"), &[]),
        ("root_path double slash", Some("root_path: //x"), &[]),
        ("instance_name", Some("instance_name: has space"), &[]),
        (
            "push contact at localhost",
            Some("notifications: {push_contact: 'mailto:clauster@localhost'}"),
            &[],
        ),
        (
            "push contact over http",
            Some("notifications: {push_contact: 'http://ops.example.net'}"),
            &[],
        ),
        (
            "instance_name too long",
            Some("instance_name: abcdefghijklmnopqrstuvwxyz0123456"),
            &[],
        ),
        ("host blank", Some("host: ''"), &[]),
        ("non-loopback host without auth", Some("host: 0.0.0.0"), &[]),
        (
            "auth on but no method",
            Some("host: 192.168.1.5\nauth: {enabled: true}"),
            &[],
        ),
        (
            "methods but auth off",
            Some("host: 127.0.0.2\nauth: {api_token_hash: TOKEN}"),
            &[],
        ),
        (
            "non-loopback host from env",
            None,
            &[("CLAUSTER_HOST", "::")],
        ),
        (
            "password required without hash",
            Some("auth: {password_required: true}"),
            &[],
        ),
        (
            "proxy without trusted ips",
            Some("auth: {reverse_proxy: {enabled: true, require_hmac: false}}"),
            &[],
        ),
        (
            "proxy hmac without secret",
            Some("auth: {reverse_proxy: {enabled: true, trusted_ips: [10.0.0.1]}}"),
            &[],
        ),
        (
            "trusted ip malformed",
            Some("auth: {reverse_proxy: {trusted_ips: [not-an-ip]}}"),
            &[],
        ),
        (
            "trusted cidr prefix",
            Some("auth: {reverse_proxy: {trusted_ips: [10.0.0.0/33]}}"),
            &[],
        ),
        (
            "private cidr bare address",
            Some("clone: {allowed_private_cidrs: [10.0.0.1]}"),
            &[],
        ),
        (
            "trusted ips from env",
            None,
            &[("CLAUSTER_AUTH_REVERSE_PROXY_TRUSTED_IPS", "10.0.0.1, bogus")],
        ),
        (
            "header name",
            Some("auth: {reverse_proxy: {user_header: 'Remote User'}}"),
            &[],
        ),
        ("api token hash", Some("auth: {api_token_hash: ABC}"), &[]),
        (
            "api token hash upper case",
            Some("auth: {api_token_hash: UPPER_TOKEN}"),
            &[],
        ),
        (
            "metrics token hash",
            Some("observability: {metrics_token_hash: xyz}"),
            &[],
        ),
        (
            "password hash garbage",
            Some("auth: {password_hash: hunter2}"),
            &[],
        ),
        (
            "password hash of the spec's example (elided)",
            Some("auth: {password_hash: \"$argon2id$v=19$m=65536,t=3,p=4$…$…\"}"),
            &[],
        ),
        (
            "password hash not a string",
            Some("auth: {password_hash: [hunter2]}"),
            &[],
        ),
        (
            "password hash from env",
            None,
            &[("CLAUSTER_AUTH_PASSWORD_HASH", "hunter2")],
        ),
        ("tls without files", Some("tls: {}"), &[]),
        ("tls without key", Some("tls: {cert_file: /etc/c.pem}"), &[]),
        (
            "self-signed with files",
            Some("tls: {provision: self-signed, hostnames: [a], cert_file: /c, key_file: /k}"),
            &[],
        ),
        (
            "self-signed without hostnames",
            Some("tls: {provision: self-signed}"),
            &[],
        ),
        (
            "self-signed blank hostname",
            Some("tls: {provision: self-signed, hostnames: [a, '']}"),
            &[],
        ),
        ("projects_root slash", Some("projects_root: /"), &[]),
        ("projects_root slash dot", Some("projects_root: /./"), &[]),
        (
            "projects_root ~user",
            Some("projects_root: ~bob/projects"),
            &[],
        ),
        ("section not a mapping", Some("auth: 5"), &[]),
        ("projects a list", Some("projects: [a, b]"), &[]),
        ("ignored section not a mapping", Some("webhooks: true"), &[]),
        (
            "project entry not a mapping",
            Some("projects: {foo: 5}"),
            &[],
        ),
        (
            "project flag",
            Some("projects: {foo: {allow_bypass_permissions: sure}}"),
            &[],
        ),
        ("claude.env value", Some("claude: {env: {A: [1]}}"), &[]),
        (
            "list item not a string",
            Some("auth: {allowed_origins: [{a: 1}]}"),
            &[],
        ),
        (
            "list of wrong type",
            Some("clone: {allowed_schemes: 5}"),
            &[],
        ),
        ("root is a list", Some("- a\n- b"), &[]),
        ("root is a string", Some("hello"), &[]),
        ("root is an integer", Some("42"), &[]),
        ("root is quoted", Some("'port: 1'"), &[]),
        (
            "syntax error",
            Some("port: 7621\nauth:\n  enabled: [true\n"),
            &[],
        ),
        ("tab indentation", Some("auth:\n\tenabled: true\n"), &[]),
        ("two documents", Some("port: 1\n---\nport: 2\n"), &[]),
        ("duplicate key", Some("port: 1\nhost: x\nport: 2\n"), &[]),
        (
            "duplicate nested key",
            Some("auth:\n  enabled: true\n  \"enabled\": false\n"),
            &[],
        ),
        (
            "several problems at once",
            Some("port: 0\nlog_format: xml\nclaude: {stop_grace_seconds: 99}"),
            &[("CLAUSTER_AUTH_ENABLED", "perhaps")],
        ),
    ];
    let mut table = String::new();
    let upper = TOKEN.to_ascii_uppercase();
    for (name, text, env) in cases {
        let text = text.map(|t| t.replace("UPPER_TOKEN", &upper).replace("TOKEN", TOKEN));
        let message = err(&input(text.as_deref(), env));
        writeln!(table, "## {name}").unwrap();
        if let Some(text) = &text {
            for line in text.lines() {
                writeln!(table, "   | {line}").unwrap();
            }
        }
        for (var, value) in *env {
            writeln!(table, "   $ {var}={value:?}").unwrap();
        }
        writeln!(table, "-> {message}\n").unwrap();
    }
    insta::assert_snapshot!("refusals", table);
}

#[test]
fn no_home_directory() {
    let mut no_home = input(None, &[]);
    no_home.home = None;
    assert_eq!(
        err(&no_home),
        "2 problems:\n  - cannot determine a default projects_root; pass --projects-root\n  \
         - cannot determine a default state_dir (no home directory); set state_dir"
    );
    no_home
        .flags
        .insert("projects_root".into(), "/srv/projects".into());
    no_home.text = Some("state_dir: ~/.clauster".into());
    assert_eq!(
        err(&no_home),
        "state_dir cannot be expanded: the home directory is unknown; use an absolute path"
    );
    no_home.text = Some("state_dir: /var/lib/clauster".into());
    let config = ok(&no_home).config;
    assert_eq!(config.projects_root, PathBuf::from("/srv/projects"));
    assert!(!config.projects_root_is_default);
}

#[test]
fn sensitive_values_are_never_printed() {
    let secret = "hunter2-SECRET-value";
    let cases = [
        input(Some(&format!("auth: {{password_hash: {secret}}}")), &[]),
        input(Some(&format!("auth: {{api_token_hash: {secret}}}")), &[]),
        input(
            Some(&format!(
                "observability: {{metrics_token_hash: '{secret}'}}"
            )),
            &[],
        ),
        input(None, &[("CLAUSTER_AUTH_PASSWORD_HASH", secret)]),
        input(None, &[("CLAUSTER_AUTH_API_TOKEN_HASH", secret)]),
        input(None, &[("CLAUSTER_AUTH_PASSWORD_REQUIRED", secret)]),
        input(
            Some(&format!(
                "auth: {{reverse_proxy: {{shared_secret_header: '{secret} x'}}}}"
            )),
            &[],
        ),
    ];
    for case in &cases {
        let message = err(case);
        assert!(!message.contains(secret), "{message}");
    }
    // A loaded secret does not show in Debug either.
    let loaded = with_env(
        None,
        &[("CLAUSTER_AUTH_REVERSE_PROXY_SHARED_SECRET", secret)],
    );
    assert!(!format!("{:?}", loaded.config).contains(secret));
    assert_eq!(
        loaded
            .config
            .auth
            .reverse_proxy
            .shared_secret
            .as_ref()
            .map(Secret::expose),
        Some(secret)
    );
}

#[test]
fn network_rule_message_is_exact() {
    assert_eq!(
        err(&input(Some("host: 0.0.0.0"), &[])),
        "refusing non-loopback host='0.0.0.0' without enforced auth. Set auth.enabled: true \
         together with auth.password_required (+ auth.password_hash), \
         auth.reverse_proxy.enabled, or auth.api_token_hash — or, to opt out on a trusted \
         LAN, auth.allow_unauthenticated_network."
    );
}

#[test]
fn network_rule_passes_and_warns() {
    // Opted out on a LAN: loads, with a warning.
    let loaded = yaml("host: 0.0.0.0\nauth: {allow_unauthenticated_network: true}");
    assert_eq!(
        notices(&loaded),
        [
            "warning: host='0.0.0.0' is not loopback and auth is not enforced \
          (auth.allow_unauthenticated_network is set): anyone who can reach port 7621 can run \
          bridges"
        ]
    );
    // Enforced by a token, but no browser origin: loads, with the §4 warning.
    let loaded = yaml(&format!(
        "host: 10.0.0.2\nauth: {{enabled: true, api_token_hash: {TOKEN}}}"
    ));
    assert!(loaded.config.enforced_auth());
    assert_eq!(
        notices(&loaded),
        [
            "warning: auth is on and host='10.0.0.2' is not loopback, but auth.allowed_origins \
          is empty: no browser can log in; add the dashboard's URL, e.g. \
          https://clauster.example.net"
        ]
    );
    assert_eq!(
        loaded.config.browser_login_warning().as_deref(),
        Some(
            "auth is on and host='10.0.0.2' is not loopback, but auth.allowed_origins is \
             empty: no browser can log in; add the dashboard's URL, e.g. \
             https://clauster.example.net"
        )
    );
    // Forward-auth counts as enforced.
    let loaded = yaml(
        "host: 10.0.0.2\nauth: {enabled: true, allowed_origins: [https://x.example], \
         reverse_proxy: {enabled: true, trusted_ips: [10.0.0.1], require_hmac: false}}",
    );
    assert!(loaded.config.enforced_auth());
    assert!(loaded.notices.is_empty());
    // Loopback with auth on and nothing configured starts (the server warns).
    assert!(!yaml("auth: {enabled: true}").config.enforced_auth());
}

#[test]
fn loopback_hosts_are_string_matches() {
    for (host, loopback) in [
        ("127.0.0.1", true),
        ("::1", true),
        ("localhost", true),
        ("127.0.0.2", false),
        ("0.0.0.0", false),
        ("LOCALHOST", false),
    ] {
        let loaded = yaml(&format!(
            "host: '{host}'\nauth: {{allow_unauthenticated_network: true}}"
        ));
        assert_eq!(loaded.config.is_loopback_host(), loopback, "{host}");
    }
}

#[test]
fn enforced_auth_needs_enabled_and_a_method() {
    let base = "host: 127.0.0.1\n";
    for (auth, enforced) in [
        ("{enabled: false, api_token_hash: TOKEN}", false),
        ("{enabled: true, api_token_hash: TOKEN}", true),
        (
            "{enabled: true, password_required: true, password_hash: 'HASH'}",
            true,
        ),
        ("{enabled: true, password_hash: 'HASH'}", false),
        (
            "{enabled: true, reverse_proxy: {enabled: true, trusted_ips: [::1], shared_secret: s}}",
            true,
        ),
        ("{enabled: true}", false),
    ] {
        let auth = auth.replace("TOKEN", TOKEN).replace("HASH", HASH);
        let loaded = yaml(&format!("{base}auth: {auth}"));
        assert_eq!(loaded.config.enforced_auth(), enforced, "{auth}");
    }
}

#[test]
fn yaml_1_1_booleans() {
    for (spelling, value) in [
        ("yes", true),
        ("Yes", true),
        ("ON", true),
        ("on", true),
        ("true", true),
        ("True", true),
        ("no", false),
        ("NO", false),
        ("off", false),
        ("Off", false),
        ("false", false),
        ("FALSE", false),
    ] {
        let loaded = yaml(&format!(
            "reaper: {{ui_enabled: {spelling}}}\nclaude:\n  node_from_nvm: {spelling}"
        ));
        assert_eq!(loaded.config.reaper.ui_enabled, value, "{spelling}");
        assert_eq!(loaded.config.claude.node_from_nvm, value, "{spelling}");
    }
}

#[test]
fn usage_mode_false_or_off() {
    for spelling in ["false", "off", "no", "'off'", "False"] {
        let loaded = yaml(&format!("usage: {{mode: {spelling}}}"));
        assert_eq!(loaded.config.usage.mode, UsageMode::Off, "{spelling}");
    }
    assert_eq!(
        yaml("usage: {mode: tokens}").config.usage.mode,
        UsageMode::Tokens
    );
    let from_env = with_env(None, &[("CLAUSTER_USAGE_MODE", "false")]);
    assert_eq!(from_env.config.usage.mode, UsageMode::Off);
}

#[test]
fn deprecated_aliases() {
    let loaded = yaml("claude: {resume_mode: pty}");
    assert_eq!(loaded.config.claude.launch_mode, LaunchMode::Pty);
    assert_eq!(
        notices(&loaded),
        ["warning: claude.resume_mode is deprecated; rename it to claude.launch_mode"]
    );

    let loaded = yaml("claude: {resume_mode: pty, launch_mode: standard}");
    assert_eq!(loaded.config.claude.launch_mode, LaunchMode::Standard);
    assert_eq!(
        notices(&loaded),
        [
            "warning: claude.resume_mode is deprecated and claude.launch_mode is also set; \
          launch_mode wins — remove resume_mode"
        ]
    );

    let loaded = yaml("usage: {show_cost: false}");
    assert_eq!(loaded.config.usage.mode, UsageMode::Off);
    assert_eq!(
        notices(&loaded),
        ["warning: usage.show_cost is deprecated; write usage.mode: off instead"]
    );

    let loaded = yaml("usage: {show_cost: false, mode: tokens}");
    assert_eq!(loaded.config.usage.mode, UsageMode::Tokens);
    assert_eq!(
        notices(&loaded),
        [
            "warning: usage.show_cost is deprecated and ignored because usage.mode is set; \
          remove it"
        ]
    );
    assert!(yaml("usage: {show_cost: true}").notices.is_empty());

    let loaded = yaml("database_url: sqlite:////var/lib/clauster/db.sqlite3");
    assert_eq!(
        notices(&loaded),
        ["warning: database_url is ignored: the store always lives in state_dir"]
    );
    let loaded = with_env(None, &[("CLAUSTER_DATABASE_URL", "sqlite:///x")]);
    assert_eq!(
        notices(&loaded),
        ["warning: CLAUSTER_DATABASE_URL is ignored: the store always lives in state_dir"]
    );
}

#[test]
fn legacy_resume_mode_variable() {
    let loaded = with_env(
        Some("claude: {launch_mode: standard}"),
        &[("CLAUSTER_CLAUDE_RESUME_MODE", "pty")],
    );
    assert_eq!(loaded.config.claude.launch_mode, LaunchMode::Pty);
    assert_eq!(
        notices(&loaded),
        ["warning: CLAUSTER_CLAUDE_RESUME_MODE is deprecated; use CLAUSTER_CLAUDE_LAUNCH_MODE"]
    );
    let loaded = with_env(
        None,
        &[
            ("CLAUSTER_CLAUDE_RESUME_MODE", "pty"),
            ("CLAUSTER_CLAUDE_LAUNCH_MODE", "standard"),
        ],
    );
    assert_eq!(loaded.config.claude.launch_mode, LaunchMode::Standard);
    assert!(loaded.notices.is_empty());
    assert_eq!(
        err(&input(None, &[("CLAUSTER_CLAUDE_RESUME_MODE", "tmux")])),
        "claude.launch_mode (from CLAUSTER_CLAUDE_RESUME_MODE) must be one of standard, pty, \
         got \"tmux\""
    );
}

#[test]
fn environment_overrides() {
    let file = "port: 8000\nhost: 127.0.0.1\nclone: {allowed_schemes: [http]}\n\
                instance_defaults: {max_bridges: 8}\ninstance_name: box\n\
                auth: {allowed_origins: [https://keep.example]}";
    let loaded = with_env(
        Some(file),
        &[
            ("CLAUSTER_PORT", " 9000 "),
            ("CLAUSTER_MAX_CONNECTIONS", "2048"),
            ("CLAUSTER_INSTANCE_DEFAULTS_MAX_BRIDGES", ""),
            ("CLAUSTER_INSTANCE_NAME", ""),
            ("CLAUSTER_CLONE_ALLOWED_SCHEMES", ""),
            (
                "CLAUSTER_AUTH_ALLOWED_ORIGINS",
                "https://A.example.net/, https://b.example:443\n\n http://[::1]:80 ,",
            ),
            ("CLAUSTER_AUTH_REVERSE_PROXY_TRUSTED_IPS", "10.0.0.0/8\n::1"),
            ("CLAUSTER_CLAUDE_PATH_APPEND", "~/bin,/opt/x/bin"),
            ("CLAUSTER_METRICS_SAMPLE_INTERVAL_SECONDS", "0.5"),
            ("CLAUSTER_USAGE_CURRENCY", " eur "),
            ("CLAUSTER_USAGE_FX_RATE", "0.92"),
            ("CLAUSTER_CLAUDE_CONFIG_DIR", "~/.claude-work"),
            ("CLAUSTER_TLS_PROVISION", "self-signed"),
            ("CLAUSTER_TLS_HOSTNAMES", "clauster.lan, 10.0.0.2"),
            ("CLAUSTER_PROJECTS", "ignored: map keys have no variable"),
            ("CLAUSTER_SESSION_SECRET", "outside the schema"),
            ("CLAUSTER_SETUP_HOST", "ignored"),
            ("CLAUSTER_PYTE_PATH", "ignored"),
            ("UNRELATED", "1"),
        ],
    );
    let c = &loaded.config;
    assert_eq!(c.port, 9000);
    assert_eq!(c.max_connections, 2048);
    assert_eq!(c.instance_defaults.max_bridges, None);
    assert_eq!(c.instance_name, None);
    assert!(
        c.clone.allowed_schemes.is_empty(),
        "empty value = empty list"
    );
    assert_eq!(
        c.auth.allowed_origins,
        ["https://a.example.net", "https://b.example", "http://[::1]"]
    );
    assert_eq!(
        c.auth.reverse_proxy.trusted_ips,
        [
            IpNet::parse("10.0.0.0/8").unwrap(),
            IpNet::parse("::1").unwrap()
        ]
    );
    assert_eq!(
        c.claude.path_append,
        [PathBuf::from("/home/op/bin"), PathBuf::from("/opt/x/bin")]
    );
    assert!((c.metrics.sample_interval_seconds - 0.5).abs() < f64::EPSILON);
    assert_eq!(c.usage.currency, "EUR");
    assert_eq!(
        c.claude.config_dir,
        Some(PathBuf::from("/home/op/.claude-work"))
    );
    let tls = c.tls.as_ref().expect("tls from the environment");
    assert_eq!(tls.provision, TlsProvision::SelfSigned);
    assert_eq!(tls.hostnames, ["clauster.lan", "10.0.0.2"]);
    assert!(loaded.notices.is_empty(), "{:?}", loaded.notices);
}

#[test]
fn environment_booleans() {
    for (text, value) in [
        ("true", true),
        ("TRUE", true),
        ("1", true),
        ("yes", true),
        ("On", true),
        (" on ", true),
        ("false", false),
        ("0", false),
        ("No", false),
        ("OFF", false),
    ] {
        let loaded = with_env(
            Some("ui: {enabled: true}"),
            &[("CLAUSTER_UI_ENABLED", text)],
        );
        assert_eq!(!loaded.config.ui.enabled, !value, "{text:?}");
        let loaded = with_env(
            Some("logs: {redact_session_url: false}"),
            &[("CLAUSTER_LOGS_REDACT_SESSION_URL", text)],
        );
        assert_eq!(loaded.config.logs.redact_session_url, value, "{text:?}");
    }
}

#[test]
fn file_resolved_values_arrive_as_plain_variables() {
    // The edge reads CLAUSTER_AUTH_PASSWORD_HASH_FILE and hands the trimmed content in under
    // the plain name; a stray `_FILE` name reaching the core is not a schema variable.
    let loaded = with_env(
        Some("auth: {enabled: true, password_required: true}"),
        &[
            ("CLAUSTER_AUTH_PASSWORD_HASH", HASH),
            ("CLAUSTER_AUTH_API_TOKEN_HASH_FILE", "/run/secrets/token"),
        ],
    );
    assert_eq!(
        loaded
            .config
            .auth
            .password_hash
            .as_ref()
            .map(Secret::expose),
        Some(HASH)
    );
    assert_eq!(loaded.config.auth.api_token_hash, None);
    assert!(has_file_twin("CLAUSTER_AUTH_PASSWORD_HASH"));
    assert!(has_file_twin("CLAUSTER_SESSION_SECRET"));
    assert!(has_file_twin("CLAUSTER_TLS_CERT_FILE"));
    assert!(!has_file_twin("CLAUSTER_TLS_CERT"));
    assert!(!has_file_twin("CLAUSTER_CONFIG"));
}

#[test]
fn flags_win_over_the_environment() {
    let mut given = input(Some("port: 1000"), &[("CLAUSTER_PORT", "2000")]);
    given.flags.insert("port".into(), "3000".into());
    given.flags.insert("projects_root".into(), "~/work".into());
    let config = ok(&given).config;
    assert_eq!(config.port, 3000);
    assert_eq!(config.projects_root, PathBuf::from("/home/op/work"));
    given.flags.insert("port".into(), "99999".into());
    assert_eq!(
        err(&given),
        "port (from --port) must be an integer from 1 to 65535, got \"99999\""
    );
    given.flags.insert("projects_root".into(), String::new());
    given.flags.remove("port");
    assert_eq!(
        err(&given),
        "--projects-root is empty, but projects_root needs a value; unset the variable to keep \
         the file's value or the default"
    );
}

#[test]
fn paths_expand_home_and_join_cwd() {
    let mut given = input(
        Some(
            "projects_root: work/projects\nstate_dir: '~'\ntls: {cert_file: ~/c.pem, key_file: \
             k.pem}\nclaude: {path_append: ['', '~', 'rel/bin']}",
        ),
        &[],
    );
    given.cwd = Some(PathBuf::from("/srv"));
    let config = ok(&given).config;
    assert_eq!(config.projects_root, PathBuf::from("/srv/work/projects"));
    assert_eq!(config.state_dir, PathBuf::from("/home/op"));
    let tls = config.tls.unwrap();
    assert_eq!(tls.cert_file, Some(PathBuf::from("/home/op/c.pem")));
    assert_eq!(tls.key_file, Some(PathBuf::from("/srv/k.pem")));
    assert_eq!(
        config.claude.path_append,
        [PathBuf::from("/home/op"), PathBuf::from("/srv/rel/bin")]
    );
}

#[test]
fn root_path_normalisation() {
    for (given, expected) in [
        ("''", ""),
        ("/", ""),
        ("clauster", "/clauster"),
        ("/clauster/", "/clauster"),
        ("/a/b.c/d~e_f-g", "/a/b.c/d~e_f-g"),
        ("a/b/", "/a/b"),
    ] {
        let loaded = yaml(&format!("root_path: {given}"));
        assert_eq!(loaded.config.root_path, expected, "{given}");
    }
    let empty = with_env(Some("root_path: /x"), &[("CLAUSTER_ROOT_PATH", "")]);
    assert_eq!(empty.config.root_path, "");
}

#[test]
fn yaml_anchors_and_aliases_work() {
    let loaded = yaml(
        "defaults: &opt_in {allow_bypass_permissions: true}\n\
         schemes: &schemes [https, git]\n\
         projects:\n  a: *opt_in\n  b: *opt_in\n\
         clone: {allowed_schemes: *schemes}",
    );
    assert!(loaded.config.projects["a"].allow_bypass_permissions);
    assert!(loaded.config.projects["b"].allow_bypass_permissions);
    assert_eq!(loaded.config.clone.allowed_schemes, ["https", "git"]);
}

#[test]
fn billion_laughs_is_refused() {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let prev = level - 1;
        writeln!(
            text,
            "a{level}: &a{level} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, \
             *a{prev}, *a{prev}, *a{prev}]"
        )
        .unwrap();
    }
    assert_eq!(
        err(&input(Some(&text), &[])),
        "/etc/clauster/clauster.yml: YAML aliases would expand beyond 100000 nodes; refusing \
         to load it (write the values out instead of repeating anchors)"
    );
}

#[test]
fn alias_expansion_just_under_the_cap_loads() {
    // 99 aliases of a 1 000-item list add 99 099 nodes: under the cap.
    let items = vec!["x"; 999].join(", ");
    let mut text = format!("big: &big [{items}]\nmore:\n");
    for _ in 0..99 {
        text.push_str("  - *big\n");
    }
    yaml(&text);
    text.push_str("  - *big\n  - *big\n");
    assert!(err(&input(Some(&text), &[])).contains("beyond 100000 nodes"));
}

#[test]
fn deep_nesting_is_refused() {
    let text = format!("x: {}1{}", "[".repeat(80), "]".repeat(80));
    assert_eq!(
        err(&input(Some(&text), &[])),
        "/etc/clauster/clauster.yml: YAML nesting is deeper than 64 levels"
    );
}

/// The same key in different mappings is fine, and so is a merge of an anchored one.
#[test]
fn a_key_may_repeat_across_mappings() {
    let loaded = yaml(
        "base: &b {x: 1}\nother: &o {y: 2}\nclaude: {env: {A: '1'}}\n\
         projects: {alpha: {allow_bypass_permissions: true}, beta: {allow_bypass_permissions: false}}\n\
         merged: {<<: *b, y: 3}\n",
    );
    assert_eq!(loaded.config.projects.len(), 2);
}

#[test]
fn unknown_keys_are_ignored() {
    let loaded = yaml(
        "future_top_level: 1\nauth: {future_key: [1, 2]}\nclaude: {nested: {deep: true}}\n\
         usage: {prices: {m: {input: 1, output: 2, cache_write_5m: 3, cache_write_1h: 4, \
         cache_read: 0.5, effective_from: 2026-01-01}}}",
    );
    // Ignored, and named in one warning; a price row's extra field is the row's business.
    assert_eq!(
        loaded.unknown_keys,
        ["auth.future_key", "claude.nested", "future_top_level"]
    );
    assert_eq!(loaded.notices.len(), 1, "{:?}", loaded.notices);
    assert_eq!(loaded.config.usage.prices.len(), 1);
}

#[test]
fn ignored_sections_notice() {
    let loaded = yaml(
        "api: {openapi_enabled: true}\n\
         notifications: {enabled: false, urls: ['https://hook.example']}\n\
         webhooks: {enabled: yes, events: {crash: true}}\n\
         login_shepherd: {enabled: false}\n\
         claustrum: {enabled: true, binary: /usr/bin/claustrum, keep_children: true}\n\
         config_write: {enabled: true}\nmcp:\n",
    );
    assert_eq!(
        notices(&loaded),
        [
            "these settings are accepted for compatibility but have no effect in this version: \
          claustrum"
        ]
    );
    assert!(loaded.config.config_write.enabled);
    assert!(!loaded.config.config_write.allow_user_scope);
    assert_eq!(loaded.notices[0].level, NoticeLevel::Info);
    let quiet = yaml(
        "webhooks: {enabled: false, urls: [], timeout_seconds: 5, block_private_targets: \
         true}\nmcp: {allow_writes: false}",
    );
    assert!(quiet.notices.is_empty(), "{:?}", quiet.notices);
    let from_env = with_env(None, &[("CLAUSTER_MCP_ALLOW_WRITES", "true")]);
    assert!(from_env.notices.is_empty(), "{:?}", from_env.notices);
}

/// `webhooks` and `notifications` (issue 22): 1.3.2's file works unchanged; the events map
/// applies over the defaults; a non-HTTP webhook URL and an unknown event are refused.
#[test]
fn webhooks_and_notifications() {
    let loaded = yaml(
        "webhooks:\n  enabled: true\n  urls: ['https://example.com/hooks/clauster']\n  \
         timeout_seconds: 2.5\n  events: {crash: false, bg-settled: true, permission-needed: \
         true, clone-done: true}\n  block_private_targets: true\n\
         notifications:\n  enabled: true\n  urls: ['slack://a/b/c/#alerts', 'tgram://x/y']\n  \
         notify_on_ready: yes\n  notify_on_crash: false\n",
    );
    assert!(loaded.notices.is_empty(), "{:?}", loaded.notices);
    let hooks = &loaded.config.webhooks;
    assert!(hooks.enabled && hooks.block_private_targets);
    assert!((hooks.timeout_seconds - 2.5).abs() < f64::EPSILON);
    let events: Vec<&str> = hooks.events.iter().map(|e| e.as_str()).collect();
    assert_eq!(
        events,
        [
            "spawn",
            "ready",
            "stop",
            "bg-settled",
            "permission-needed",
            "clone-done"
        ]
    );
    assert_eq!((hooks.retries, hooks.secret.is_none()), (3, true));
    let people = &loaded.config.notifications;
    assert_eq!(people.urls.len(), 2);
    assert!(people.filter.on_ready && !people.filter.on_crash);
    assert!(
        !format!("{people:?}").contains("slack://"),
        "Debug hides the URLs"
    );
    let shown = format!("{:?}", loaded.config.webhooks);
    assert!(
        shown.contains("https://example.com/***") && !shown.contains("hooks/clauster"),
        "{shown}"
    );
    let from_env = with_env(
        None,
        &[
            ("CLAUSTER_WEBHOOKS_SECRET", "s3cret"),
            ("CLAUSTER_WEBHOOKS_RETRIES", "0"),
            (
                "CLAUSTER_WEBHOOKS_URLS",
                "http://127.0.0.1:9/a, https://h.example/b",
            ),
        ],
    );
    let hooks = &from_env.config.webhooks;
    assert_eq!(hooks.secret.as_ref().map(Secret::expose), Some("s3cret"));
    assert_eq!((hooks.retries, hooks.urls.len()), (0, 2));
    for (bad, says) in [
        (
            "webhooks: {urls: ['ftp://h/x']}",
            "webhooks.urls[0] must be an http:// or https:// URL",
        ),
        ("webhooks: {urls: ['slack://a/b/c']}", "got slack://***"),
        (
            "webhooks: {events: {crashed: true}}",
            "webhooks.events.crashed is not an event",
        ),
        (
            "webhooks: {events: {crash: maybe}}",
            "webhooks.events.crash must be a boolean",
        ),
        (
            "webhooks: {timeout_seconds: 0}",
            "webhooks.timeout_seconds must be",
        ),
        (
            "webhooks: {retries: 11}",
            "webhooks.retries must be an integer from 0 to 10",
        ),
    ] {
        let error = load(&input(Some(bad), &[])).expect_err(bad).to_string();
        assert!(error.contains(says), "{bad}: {error}");
    }
}

/// `mcp` (issue 24): two booleans, off by default, settable by file and by variable.
#[test]
fn mcp_settings() {
    let defaults = yaml("");
    assert!(!defaults.config.mcp.allow_writes);
    assert!(!defaults.config.mcp.http_enabled);
    let file = yaml("mcp: {allow_writes: yes, http_enabled: true}");
    assert!(file.config.mcp.allow_writes && file.config.mcp.http_enabled);
    let from_env = with_env(
        Some("mcp: {allow_writes: false}"),
        &[
            ("CLAUSTER_MCP_ALLOW_WRITES", "true"),
            ("CLAUSTER_MCP_HTTP_ENABLED", "on"),
        ],
    );
    assert!(from_env.config.mcp.allow_writes && from_env.config.mcp.http_enabled);
}

#[test]
fn other_notices() {
    let loaded = yaml(
        "usage: {currency: eur}\nclone: {allowed_schemes: [HTTPS, ftp]}\n\
         claude: {env: {CLAUSTER_PORT: '1', clauster_x: '2', EDITOR: vim, N: 5, E: null}}",
    );
    assert_eq!(
        notices(&loaded),
        [
            "warning: claude.env: CLAUSTER_* variables are never passed to bridges; dropped \
             CLAUSTER_PORT, clauster_x",
            "warning: clone.allowed_schemes: ftp never match (only https, ssh, http and git are \
             meaningful)",
            "warning: usage.currency is EUR but usage.fx_rate is 1.0: costs are USD amounts \
             shown as EUR; set usage.fx_rate to the USD→EUR rate",
        ]
    );
    let env = &loaded.config.claude.env;
    assert_eq!(env.get("EDITOR").map(String::as_str), Some("vim"));
    assert_eq!(env.get("N").map(String::as_str), Some("5"));
    assert_eq!(env.get("E").map(String::as_str), Some(""));
    assert_eq!(loaded.config.clone.allowed_schemes, ["https", "ftp"]);
}

#[test]
fn permission_mode_manual_means_default() {
    let loaded = yaml("instance_defaults: {permission_mode: manual}");
    assert_eq!(
        loaded.config.instance_defaults.permission_mode,
        PermissionMode::Default
    );
    let loaded = yaml("instance_defaults: {permission_mode: bypassPermissions}");
    assert_eq!(
        loaded.config.instance_defaults.permission_mode,
        PermissionMode::BypassPermissions
    );
}

#[test]
fn lenient_scalars() {
    let loaded = yaml(
        "port: '8080'\nlog_level: WARNING\nclaude: {min_version: 2.1, startup_grace_seconds: \
         90}\ninstance_defaults: {capacity: 4.0}\nauth: {allowed_origins: 'https://a.example, \
         https://b.example'}",
    );
    let c = &loaded.config;
    assert_eq!(c.port, 8080);
    assert_eq!(c.log_level, LogLevel::Warning);
    assert_eq!(c.claude.min_version, "2.1");
    assert!((c.claude.startup_grace_seconds - 90.0).abs() < f64::EPSILON);
    assert_eq!(c.instance_defaults.capacity, 4);
    assert_eq!(
        c.auth.allowed_origins,
        ["https://a.example", "https://b.example"]
    );
}

#[test]
fn currency_symbol() {
    assert_eq!(with_env(None, &[]).config.currency_symbol(), "$");
    let eur = yaml("usage: {currency: EUR, fx_rate: 0.9}");
    assert_eq!(eur.config.currency_symbol(), "EUR ");
    let custom = yaml("usage: {currency: eur, fx_rate: 0.9, currency_symbol: '€'}");
    assert_eq!(custom.config.currency_symbol(), "€");
    let blank = yaml("usage: {currency_symbol: '  '}");
    assert_eq!(blank.config.usage.currency_symbol, None);
    assert_eq!(blank.config.currency_symbol(), "$");
}

#[test]
fn prices_are_read() {
    let loaded = yaml(
        "usage:\n  prices:\n    Claude-Opus-9: {input: 1, output: 2.5, cache_write_5m: 1.25, \
         cache_write_1h: 2, cache_read: 0.1}",
    );
    assert_eq!(
        loaded.config.usage.prices["claude-opus-9"],
        PriceOverride {
            input: 1.0,
            output: 2.5,
            cache_write_5m: 1.25,
            cache_write_1h: 2.0,
            cache_read: 0.1,
        }
    );
}

#[test]
fn ip_networks() {
    let net = IpNet::parse("10.1.2.3/8").unwrap();
    assert!(net.contains("10.200.0.1".parse().unwrap()));
    assert!(!net.contains("11.0.0.1".parse().unwrap()));
    assert!(net.contains("::ffff:10.0.0.9".parse().unwrap()));
    let host = IpNet::parse("192.168.1.10").unwrap();
    assert_eq!(host.prefix_len(), 32);
    assert!(host.contains("192.168.1.10".parse().unwrap()));
    assert!(!host.contains("192.168.1.11".parse().unwrap()));
    let v6 = IpNet::parse("fd00::/8").unwrap();
    assert!(v6.contains("fd12::1".parse().unwrap()));
    assert!(!v6.contains("fe80::1".parse::<IpAddr>().unwrap()));
    assert!(
        IpNet::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap())
    );
    for bad in [
        "",
        "10.0.0.0/",
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/8/1",
        "x",
        "10.0.0.0/-1",
    ] {
        assert_eq!(IpNet::parse(bad), None, "{bad}");
    }
    assert_eq!(
        IpNet::parse(" 10.0.0.0/8 ").unwrap().to_string(),
        "10.0.0.0/8"
    );
}

#[test]
fn origin_normalisation() {
    for (given, expected) in [
        (
            "https://Clauster.Example.NET/",
            "https://clauster.example.net",
        ),
        ("HTTP://host:80", "http://host"),
        ("https://host:443", "https://host"),
        ("http://host:443", "http://host:443"),
        ("https://host:8443/", "https://host:8443"),
        ("http://[::1]:7621", "http://[::1]:7621"),
        ("http://[::1]:80", "http://[::1]"),
        ("http://::1", "http://[::1]"),
        ("https://host/path", "https://host/path"),
        ("Not An Origin", "not an origin"),
        ("https://host:port", "https://host:port"),
    ] {
        assert_eq!(normalize_origin(given), expected, "{given}");
    }
}

#[test]
fn phc_shapes() {
    use super::validate::is_argon2_phc;
    assert!(is_argon2_phc(HASH));
    assert!(is_argon2_phc(
        "$argon2i$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
    ));
    assert!(is_argon2_phc(
        "$argon2id$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
    ));
    assert!(is_argon2_phc(
        "$argon2id$v=19$t=3,m=4096,p=1,keyid=abc$c2FsdA$aGFzaA"
    ));
    for bad in [
        "",
        "argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA",
        "$argon2d$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA",
        "$bcrypt$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA",
        "$argon2id$v=19$m=1,t=1$c2FsdA$aGFzaA",
        "$argon2id$v=19$m=1,t=1,p=1,p=2$c2FsdA$aGFzaA",
        "$argon2id$v=19$m=x,t=1,p=1$c2FsdA$aGFzaA",
        "$argon2id$v=19$m=1,t=1,p=1$c2FsdA",
        "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA=",
        "$argon2id$v=$m=1,t=1,p=1$c2FsdA$aGFzaA",
        "$argon2id$v=19$m=1,t=1,p=1$$aGFzaA",
        "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA$extra",
    ] {
        assert!(!is_argon2_phc(bad), "{bad}");
    }
}

/// The variable table and the reader must describe the same keys.
#[test]
fn every_variable_names_a_key_the_reader_reads() {
    let empty = config::Value::new(None, config::ValueKind::Table(config::Map::new()));
    let origins = BTreeMap::new();
    let mut reader = read::Reader::new(&empty, &origins, Some(std::path::Path::new("/h")), None);
    reader.config();
    reader.ignored_sections();
    let table: BTreeSet<String> = env::KEYS.iter().map(|(p, _)| (*p).to_owned()).collect();
    let read_keys: BTreeSet<String> = reader
        .seen
        .iter()
        .filter(|k| !read::SECTIONS.contains(&k.as_str()) && *k != "claude.resume_mode")
        .cloned()
        .collect();
    assert_eq!(
        table.symmetric_difference(&read_keys).collect::<Vec<_>>(),
        Vec::<&String>::new()
    );
    let names: BTreeSet<String> = env::KEYS.iter().map(|(p, _)| variable_name(p)).collect();
    assert_eq!(
        names.len(),
        env::KEYS.len(),
        "variable names must be unique"
    );
    assert!(env::KEYS.iter().all(|(p, _)| !p.contains(env::SEPARATOR)));
    assert_eq!(
        variable_name("instance_defaults.max_bridges"),
        "CLAUSTER_INSTANCE_DEFAULTS_MAX_BRIDGES"
    );
    assert_eq!(
        variable_name("auth.reverse_proxy.trusted_ips"),
        "CLAUSTER_AUTH_REVERSE_PROXY_TRUSTED_IPS"
    );
}

/// A key no setting reads is ignored and named: the topmost unknown key of each branch, not
/// the names inside a section of chosen names (projects, variables, models, events).
#[test]
fn unknown_keys_are_ignored_and_named() {
    let loaded = yaml(
        "projets_root: /srv/p\n\
         auth:\n  enabeld: true\n  enabled: false\n  reverse_proxy: {trusted_ipz: []}\n\
         autth: {enabled: true}\n\
         claude:\n  env: {ANY_NAME: x}\n  binary: claude\n\
         projects:\n  alpha: {allow_bypass_permissions: true}\n  beta: {allow_bypas_permissions: true}\n  gamma:\n\
         usage:\n  prices: {m: {input: 1, output: 2, cache_write_5m: 3, cache_write_1h: 4, cache_read: 0.5}}\n\
         claustrum: {enabled: false}\n\
         database_url: sqlite:///x\n\
         logs:\n",
    );
    assert_eq!(
        loaded.unknown_keys,
        [
            "auth.enabeld",
            "auth.reverse_proxy.trusted_ipz",
            "autth",
            "projects.beta.allow_bypas_permissions",
            "projets_root"
        ]
    );
    assert!(!loaded.config.projects["beta"].allow_bypass_permissions);
    assert!(
        notices(&loaded).contains(
            &"warning: unknown keys ignored: auth.enabeld, auth.reverse_proxy.trusted_ipz, \
              autth, projects.beta.allow_bypas_permissions, projets_root; check their spelling against the configuration reference"
                .to_owned()
        ),
        "{:?}",
        notices(&loaded)
    );
    assert!(
        loaded.config.projects_root_is_default,
        "the typo set nothing"
    );
    assert!(with_env(None, &[]).unknown_keys.is_empty());

    let many: Vec<String> = (0..12).map(|i| format!("k{i:02}")).collect();
    assert_eq!(
        unknown_keys_ignored(&many),
        "unknown keys ignored: k00, k01, k02, k03, k04, k05, k06, k07, k08, k09 and 2 more"
    );
    assert_eq!(unknown_keys_ignored(&many[..1]), "unknown key ignored: k00");
}

/// Every key of the reference, set in a file, is known: none is reported as unknown.
#[test]
fn no_key_of_the_reference_is_unknown() {
    let mut root = config::Map::new();
    for doc in reference() {
        if doc.key.starts_with("CLAUSTER_") {
            continue;
        }
        let segments: Vec<String> = doc
            .key
            .split('.')
            .map(|s| match s {
                "<name>" => "alpha".to_owned(),
                "<NAME>" => "SOME_VAR".to_owned(),
                "<model>" => "some-model".to_owned(),
                other => other.to_owned(),
            })
            .collect();
        let mut node = &mut root;
        for segment in &segments[..segments.len() - 1] {
            let entry = node.entry(segment.clone()).or_insert_with(|| {
                config::Value::new(None, config::ValueKind::Table(config::Map::new()))
            });
            let config::ValueKind::Table(table) = &mut entry.kind else {
                panic!("{} is both a key and a section", doc.key);
            };
            node = table;
        }
        node.insert(
            segments[segments.len() - 1].clone(),
            config::Value::new(None, config::ValueKind::String("1".to_owned())),
        );
    }
    let root = config::Value::new(None, config::ValueKind::Table(root));
    let origins = BTreeMap::new();
    let mut reader = read::Reader::new(&root, &origins, Some(std::path::Path::new("/h")), None);
    reader.config();
    reader.ignored_sections();
    assert_eq!(unknown_keys(&root, &reader.seen), Vec::<String>::new());
}

#[test]
fn a_value_read_from_a_file_twin_is_blamed_on_the_twin() {
    let mut from_file = input(None, &[("CLAUSTER_PORT", "vm")]);
    from_file
        .env_from_file
        .insert("CLAUSTER_PORT".into(), "CLAUSTER_PORT_FILE".into());
    let said = err(&from_file);
    assert!(
        said.contains("CLAUSTER_PORT_FILE must be a whole number in decimal"),
        "{said}"
    );
    // Set directly, the plain variable is named as before.
    let said = err(&input(None, &[("CLAUSTER_PORT", "vm")]));
    assert!(
        said.contains("CLAUSTER_PORT must be a whole number"),
        "{said}"
    );
}
