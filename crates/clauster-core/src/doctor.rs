//! The pure halves of `clauster doctor` and `GET /api/doctor` (cli.md §4): every verdict
//! that can be decided from values the edge already read — a version against the floor, the
//! login answer, a `systemctl show` text or a unit file, what the nvm lookup found, the
//! config search list, the auth rule of config.md §4. The server runs the commands and reads
//! the files, then hands the results here.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::capability::{VersionCheckError, check_min_version};
use crate::config::Config;

/// One row's outcome before it becomes a wire `Check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok(String),
    Warn(String),
    Fail(String),
}

impl Verdict {
    /// The row's text.
    pub fn detail(&self) -> &str {
        match self {
            Self::Ok(d) | Self::Warn(d) | Self::Fail(d) => d,
        }
    }
}

/// The `claude` row: the first token of `claude --version` (`None` when it failed) against
/// `claude.min_version`.
pub fn claude_version(found: Option<&str>, floor: &str) -> Verdict {
    let Some(found) = found else {
        return Verdict::Fail("claude --version printed nothing or failed".to_owned());
    };
    match check_min_version(found, floor) {
        Ok(()) => Verdict::Ok(format!("{found} (>= {floor})")),
        Err(err @ VersionCheckError::TooOld { .. }) => Verdict::Fail(err.to_string()),
        Err(VersionCheckError::CannotCompare(_)) => {
            Verdict::Fail(format!("cannot compare: {found}"))
        }
    }
}

/// What `claude auth status --json` said, as the `claude-login` row needs it.
#[derive(Debug, Clone, Default)]
pub struct LoginAnswer<'a> {
    pub logged_in: bool,
    pub method: Option<&'a str>,
    /// `loginExpiresAt`, epoch milliseconds.
    pub expires_at_ms: Option<i64>,
}

/// How close an expiry must be to warn.
const EXPIRY_WARNING_MS: i64 = 24 * 60 * 60 * 1000;

/// The `claude-login` row; `answer` is `None` when `auth status` gave nothing parseable.
pub fn claude_login(answer: Option<&LoginAnswer<'_>>, now_ms: i64) -> Verdict {
    let Some(answer) = answer else {
        return Verdict::Warn(
            "claude auth status --json gave no answer; run it as this user to see why".to_owned(),
        );
    };
    if !answer.logged_in {
        return Verdict::Warn("not logged in — run claude auth login as this user".to_owned());
    }
    let method = answer.method.unwrap_or("unknown method");
    match answer.expires_at_ms {
        Some(at) if at - now_ms < EXPIRY_WARNING_MS => {
            let hours = (at - now_ms).max(0) / (60 * 60 * 1000);
            Verdict::Warn(format!(
                "logged in ({method}), but the login expires within 24 h (in {hours} h) — run \
                 claude auth login to renew it"
            ))
        }
        _ => Verdict::Ok(format!("logged in ({method})")),
    }
}

/// Where Clauster reads Claude's files (bridges.md §12.1) and where claude says they are.
#[derive(Debug, Clone)]
pub struct ClaudePaths<'a> {
    pub config_dir: &'a Path,
    pub global_file: &'a Path,
    pub settings_file: &'a Path,
    pub projects_dir: &'a Path,
    /// `configDirectory` of `claude auth status --json`, when it named one.
    pub reported_config_dir: Option<&'a Path>,
}

/// The `claude-paths` row.
pub fn claude_paths(paths: &ClaudePaths<'_>) -> Verdict {
    let listed = format!(
        "config dir {}, global file {}, settings file {}, projects dir {}",
        paths.config_dir.display(),
        paths.global_file.display(),
        paths.settings_file.display(),
        paths.projects_dir.display()
    );
    match paths.reported_config_dir {
        Some(reported) if !same_dir(reported, paths.config_dir) => Verdict::Warn(format!(
            "CLAUDE_CONFIG_DIR disagrees with claude auth status: Clauster uses {}, claude \
             reports {}; set claude.config_dir to the directory claude uses",
            paths.config_dir.display(),
            reported.display()
        )),
        _ => Verdict::Ok(listed),
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let trim = |p: &Path| PathBuf::from(p.to_string_lossy().trim_end_matches('/'));
    trim(a) == trim(b)
}

/// The `api-key-env` row: whether bridges would see `ANTHROPIC_API_KEY`.
pub fn api_key_env(set_for_bridges: bool) -> Verdict {
    if set_for_bridges {
        Verdict::Warn(
            "ANTHROPIC_API_KEY is set for bridges; Remote Control needs a claude.ai login and \
             refuses API keys"
                .to_owned(),
        )
    } else {
        Verdict::Ok("not set".to_owned())
    }
}

/// The `auth` row: the rule of config.md §4 and its browser-login companion.
pub fn auth(config: &Config) -> Verdict {
    if !config.is_loopback_host() && !config.enforced_auth() {
        if config.auth.allow_unauthenticated_network {
            return Verdict::Warn(config.unauthenticated_network_warning().unwrap_or_default());
        }
        return Verdict::Fail(crate::config::validate::network_refusal(&config.host));
    }
    if let Some(warning) = config
        .browser_login_warning()
        .or_else(|| config.forward_auth_origin_warning())
    {
        return Verdict::Fail(warning);
    }
    if config.auth.enabled && !config.enforced_auth() {
        return Verdict::Warn(
            "auth.enabled is true but no method is configured (password, forward-auth or \
             auth.api_token_hash): the server admits nobody"
                .to_owned(),
        );
    }
    Verdict::Ok("configuration consistent".to_owned())
}

/// The `notifications` row (notifications.md §5): what is switched on, and a warning naming
/// every Apprise URL that is not delivered (an unsupported scheme, a malformed URL) and a
/// switched-on channel without URLs. URLs are shown masked.
pub fn notifications(config: &Config) -> Verdict {
    use crate::notify::apprise::{AppriseTarget, ServiceHosts};
    let hooks = &config.webhooks;
    let people = &config.notifications;
    let mut problems = Vec::new();
    let mut delivered = 0;
    if people.enabled {
        for url in &people.urls {
            match AppriseTarget::parse(url, &ServiceHosts::real()) {
                Ok(_) => delivered += 1,
                Err(err) => problems.push(err.to_string()),
            }
        }
        if people.urls.is_empty() && !people.browser_enabled {
            problems.push("notifications.enabled is true but notifications.urls is empty".into());
        }
    }
    if hooks.enabled && hooks.urls.is_empty() {
        problems.push("webhooks.enabled is true but webhooks.urls is empty".to_owned());
    }
    if !problems.is_empty() {
        return Verdict::Warn(problems.join("; "));
    }
    let mut parts = Vec::new();
    if hooks.enabled {
        parts.push(format!(
            "{} webhook(s){}{}",
            hooks.urls.len(),
            if hooks.secret.is_some() {
                ", signed"
            } else {
                ""
            },
            if hooks.block_private_targets {
                ", private targets blocked"
            } else {
                ""
            }
        ));
    }
    if people.enabled {
        parts.push(format!("{delivered} Apprise URL(s)"));
    }
    if people.browser_enabled {
        parts.push("browser notifications on".to_owned());
    }
    if parts.is_empty() {
        return Verdict::Ok("off".to_owned());
    }
    Verdict::Ok(parts.join(", "))
}

/// The `workspace-trust` row over `trusted` of `discovered` projects.
pub fn workspace_trust(trusted: usize, discovered: usize) -> Verdict {
    let text = format!("{trusted}/{discovered} discovered projects trusted");
    if trusted < discovered {
        Verdict::Warn(text)
    } else {
        Verdict::Ok(text)
    }
}

/// `KillMode=` (and `LoadState=`) of `systemctl show -p KillMode -p LoadState <unit>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShownUnit {
    pub kill_mode: Option<String>,
    pub load_state: Option<String>,
}

/// Reads the `key=value` lines of `systemctl show`; other lines are ignored.
pub fn parse_systemctl_show(text: &str) -> ShownUnit {
    let mut shown = ShownUnit::default();
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match key.trim() {
            "KillMode" => shown.kill_mode = Some(value.to_owned()),
            "LoadState" => shown.load_state = Some(value.to_owned()),
            _ => {}
        }
    }
    shown
}

/// The `KillMode` a unit file sets in its `[Service]` section; systemd's default
/// `control-group` when it sets none. The last assignment wins, as in systemd; comments
/// (`#`, `;`) and other sections are skipped.
pub fn kill_mode_of_unit_file(text: &str) -> String {
    let mut in_service = false;
    let mut mode = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            in_service = line == "[Service]";
            continue;
        }
        if in_service
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "KillMode"
        {
            mode = Some(value.trim().to_owned());
        }
    }
    mode.filter(|m| !m.is_empty())
        .unwrap_or_else(|| "control-group".to_owned())
}

/// The `systemd` row for one installed unit and its kill mode.
pub fn systemd_kill_mode(unit: &str, kill_mode: &str) -> Verdict {
    if kill_mode == "process" {
        Verdict::Ok(format!(
            "{unit}: KillMode=process (bridges survive a restart)"
        ))
    } else {
        Verdict::Warn(format!(
            "{unit}: KillMode={kill_mode} kills bridges on restart; reinstall with clauster \
             install-service systemd --write"
        ))
    }
}

/// What the nvm lookup of bridges.md §4.3 step 4 found.
#[derive(Debug, Clone, Default)]
pub struct NvmFindings<'a> {
    /// `<NVM_DIR>/nvm.sh` exists.
    pub nvm_present: bool,
    /// The directory of nvm's default node, when `nvm which default` named one.
    pub default_node_dir: Option<&'a Path>,
    /// `claude.node_from_nvm`.
    pub node_from_nvm: bool,
    /// The bridges' PATH.
    pub bridge_path: Option<&'a str>,
}

/// The `node-toolchain` row.
pub fn node_toolchain(found: &NvmFindings<'_>) -> Verdict {
    if !found.nvm_present {
        return Verdict::Ok("not using nvm".to_owned());
    }
    let Some(dir) = found.default_node_dir else {
        return Verdict::Warn(
            "nvm present but its default node not found; run nvm alias default <version>"
                .to_owned(),
        );
    };
    let on_path = found
        .bridge_path
        .is_some_and(|path| path.split(':').any(|part| Path::new(part) == dir));
    if on_path {
        Verdict::Ok(format!(
            "nvm default node on the bridge PATH ({})",
            dir.display()
        ))
    } else if !found.node_from_nvm {
        Verdict::Ok(format!(
            "not using nvm (claude.node_from_nvm is off; nvm's default node is in {})",
            dir.display()
        ))
    } else {
        Verdict::Warn(format!(
            "nvm's default node ({}) is not on the bridge PATH",
            dir.display()
        ))
    }
}

/// The `orphan-keepers` row over the pids of live keepers the store does not know.
pub fn orphan_keepers(unknown: &[i32]) -> Verdict {
    if unknown.is_empty() {
        return Verdict::Ok("none".to_owned());
    }
    let mut pids = String::new();
    for (index, pid) in unknown.iter().enumerate() {
        if index > 0 {
            pids.push_str(", ");
        }
        let _ = write!(pids, "{pid}");
    }
    Verdict::Warn(format!(
        "{} live keeper(s) unknown to the store: pid {pids}",
        unknown.len()
    ))
}

/// The files searched for `clauster.yml` when neither `-c` nor `$CLAUSTER_CONFIG` names one
/// (config.md §1), in order: `./clauster.yml`, `$CLAUSTER_HOME/clauster.yml`,
/// `$XDG_CONFIG_HOME/clauster/clauster.yml` (an absolute one; else `~/.config/…`), then
/// `system_file`. Blank variables count as unset.
pub fn config_search_list(
    cwd: &Path,
    clauster_home: Option<&str>,
    xdg_config_home: Option<&str>,
    home: Option<&Path>,
    system_file: &Path,
) -> Vec<PathBuf> {
    let non_blank = |v: Option<&str>| v.filter(|s| !s.trim().is_empty()).map(str::to_owned);
    let mut list = vec![cwd.join("clauster.yml")];
    if let Some(dir) = non_blank(clauster_home) {
        list.push(cwd.join(dir).join("clauster.yml"));
    }
    // A relative XDG_CONFIG_HOME is invalid by the XDG spec and is ignored.
    let xdg = non_blank(xdg_config_home)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".config")));
    if let Some(dir) = xdg {
        list.push(dir.join("clauster").join("clauster.yml"));
    }
    list.push(system_file.to_path_buf());
    list
}

/// The `config` row when no file was found.
pub fn no_config_file(searched: &[PathBuf]) -> Verdict {
    let list: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
    Verdict::Warn(format!(
        "no clauster.yml found; using defaults (searched: {})",
        list.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigInput, load_lenient};

    #[test]
    fn the_version_row_compares_against_the_floor() {
        let cases = [
            (Some("2.1.328"), "2.1.145", "Ok(\"2.1.328 (>= 2.1.145)\")"),
            (Some("2.1.145"), "2.1.145", "Ok(\"2.1.145 (>= 2.1.145)\")"),
            (
                Some("2.1.100"),
                "2.1.145",
                "Fail(\"2.1.100 < required 2.1.145\")",
            ),
            (Some("1.9"), "2", "Fail(\"1.9 < required 2\")"),
            (
                Some("nightly"),
                "2.1.145",
                "Fail(\"cannot compare: nightly\")",
            ),
            (
                None,
                "2.1.145",
                "Fail(\"claude --version printed nothing or failed\")",
            ),
        ];
        for (found, floor, expected) in cases {
            assert_eq!(
                format!("{:?}", claude_version(found, floor)),
                expected,
                "{found:?} vs {floor}"
            );
        }
    }

    #[test]
    fn the_login_row_warns_when_logged_out_or_about_to_expire() {
        let now = 1_700_000_000_000;
        let fine = LoginAnswer {
            logged_in: true,
            method: Some("claude.ai"),
            expires_at_ms: Some(now + 3 * EXPIRY_WARNING_MS),
        };
        let soon = LoginAnswer {
            expires_at_ms: Some(now + 5 * 60 * 60 * 1000),
            ..fine.clone()
        };
        let out = LoginAnswer::default();
        insta::assert_debug_snapshot!([
            claude_login(Some(&fine), now),
            claude_login(Some(&soon), now),
            claude_login(Some(&out), now),
            claude_login(None, now),
        ]);
    }

    #[test]
    fn systemctl_show_and_unit_files_give_the_kill_mode() {
        let shown = parse_systemctl_show("KillMode=process\nLoadState=loaded\n");
        assert_eq!(shown.kill_mode.as_deref(), Some("process"));
        assert_eq!(shown.load_state.as_deref(), Some("loaded"));
        let missing = parse_systemctl_show("LoadState=not-found\nKillMode=control-group\nnoise");
        assert_eq!(missing.load_state.as_deref(), Some("not-found"));
        assert_eq!(parse_systemctl_show(""), ShownUnit::default());

        let cases = [
            ("[Service]\nKillMode=process\n", "process"),
            ("[Service]\nExecStart=/x\n", "control-group"),
            (
                "[Unit]\nKillMode=process\n[Service]\nType=simple\n",
                "control-group",
            ),
            (
                "[Service]\n# KillMode=mixed\nKillMode = mixed\nKillMode=process\n",
                "process",
            ),
            ("[Service]\n; KillMode=process\n", "control-group"),
            ("", "control-group"),
        ];
        for (text, expected) in cases {
            assert_eq!(kill_mode_of_unit_file(text), expected, "{text:?}");
        }
        insta::assert_debug_snapshot!([
            systemd_kill_mode("clauster.service", "process"),
            systemd_kill_mode("clauster.service", "control-group"),
        ]);
    }

    #[test]
    fn nvm_findings_decide_the_toolchain_row() {
        let dir = Path::new("/home/op/.nvm/versions/node/v22.1.0/bin");
        let on_path = "/home/op/.nvm/versions/node/v22.1.0/bin:/usr/bin";
        let rows = [
            node_toolchain(&NvmFindings::default()),
            node_toolchain(&NvmFindings {
                nvm_present: true,
                ..NvmFindings::default()
            }),
            node_toolchain(&NvmFindings {
                nvm_present: true,
                default_node_dir: Some(dir),
                node_from_nvm: true,
                bridge_path: Some(on_path),
            }),
            node_toolchain(&NvmFindings {
                nvm_present: true,
                default_node_dir: Some(dir),
                node_from_nvm: false,
                bridge_path: Some("/usr/bin"),
            }),
            node_toolchain(&NvmFindings {
                nvm_present: true,
                default_node_dir: Some(dir),
                node_from_nvm: true,
                bridge_path: Some("/usr/bin"),
            }),
        ];
        insta::assert_debug_snapshot!(rows);
    }

    #[test]
    fn the_search_list_ends_with_the_system_file() {
        let list = config_search_list(
            Path::new("/srv"),
            Some("conf"),
            Some("relative/xdg"),
            Some(Path::new("/home/op")),
            Path::new("/etc/clauster/clauster.yml"),
        );
        insta::assert_debug_snapshot!(no_config_file(&list));
        let minimal = config_search_list(
            Path::new("/srv"),
            Some("  "),
            Some("/xdg"),
            None,
            Path::new("/etc/clauster/clauster.yml"),
        );
        assert_eq!(
            minimal,
            [
                PathBuf::from("/srv/clauster.yml"),
                PathBuf::from("/xdg/clauster/clauster.yml"),
                PathBuf::from("/etc/clauster/clauster.yml"),
            ]
        );
    }

    fn config(yaml: &str) -> Config {
        load_lenient(&ConfigInput {
            text: Some(yaml.to_owned()),
            home: Some(PathBuf::from("/home/op")),
            ..ConfigInput::default()
        })
        .expect("keys read")
        .0
        .config
    }

    #[test]
    fn the_auth_row_applies_the_network_rule() {
        let hash = "a".repeat(64);
        insta::assert_debug_snapshot!([
            auth(&config("host: 127.0.0.1\n")),
            auth(&config("host: 0.0.0.0\n")),
            auth(&config(
                "host: 0.0.0.0\nauth:\n  allow_unauthenticated_network: true\n"
            )),
            auth(&config(&format!(
                "host: 0.0.0.0\nauth:\n  enabled: true\n  api_token_hash: '{hash}'\n"
            ))),
            auth(&config(&format!(
                "host: 0.0.0.0\nauth:\n  enabled: true\n  api_token_hash: '{hash}'\n  \
                 allowed_origins: ['https://c.example.net']\n"
            ))),
            auth(&config("auth:\n  enabled: true\n")),
            auth(&config(
                "auth:\n  enabled: true\n  reverse_proxy: {enabled: true, trusted_ips: [10.0.0.1]}\n"
            )),
            auth(&config(
                "auth:\n  enabled: true\n  allowed_origins: ['https://c.example.net']\n  \
                 reverse_proxy: {enabled: true, trusted_ips: [10.0.0.1]}\n"
            )),
        ]);
    }

    #[test]
    fn small_rows() {
        assert_eq!(
            workspace_trust(2, 2),
            Verdict::Ok("2/2 discovered projects trusted".into())
        );
        assert_eq!(
            workspace_trust(1, 3),
            Verdict::Warn("1/3 discovered projects trusted".into())
        );
        assert_eq!(orphan_keepers(&[]), Verdict::Ok("none".into()));
        assert_eq!(
            orphan_keepers(&[12, 40]).detail(),
            "2 live keeper(s) unknown to the store: pid 12, 40"
        );
        assert!(matches!(api_key_env(true), Verdict::Warn(_)));
        assert_eq!(api_key_env(false), Verdict::Ok("not set".into()));
        let paths = |reported: Option<&'static str>| ClaudePaths {
            config_dir: Path::new("/home/op/.claude"),
            global_file: Path::new("/home/op/.claude.json"),
            settings_file: Path::new("/home/op/.claude/settings.json"),
            projects_dir: Path::new("/home/op/.claude/projects"),
            reported_config_dir: reported.map(Path::new),
        };
        insta::assert_debug_snapshot!([
            claude_paths(&paths(None)),
            claude_paths(&paths(Some("/home/op/.claude/"))),
            claude_paths(&paths(Some("/opt/claude"))),
        ]);
    }
}
