//! Running the capability probe (bridges.md §3.1) and `claude auth status --json`, and the
//! 30 s cache of the login state that `/healthz` and `/api/login-status` read (http-api.md
//! §3). What the texts mean is `clauster_core::capability`'s business; this module only runs
//! the commands and reads their output.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clauster_core::capability::{Capabilities, ProbeOutput};
use serde_json::Value;
use tokio::io::AsyncReadExt as _;

use crate::bridge_env::BridgeEnv;

/// Each probe command's limit (§3.1).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// `auth status --json` has its own, shorter limit (§3.1 table).
const AUTH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an `auth status` answer is reused (http-api.md §3).
pub const LOGIN_CACHE_TTL: Duration = Duration::from_secs(30);
/// More output than any help text; a runaway command is cut off here.
const MAX_OUTPUT_BYTES: u64 = 1024 * 1024;

/// What `claude auth status --json` said (§3.1), as `/healthz` and doctor report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginState {
    /// `loggedIn`.
    pub ok: bool,
    /// `authMethod`; `"none"` (logged out) is `None`.
    pub method: Option<String>,
    /// `loginExpiresAt`, epoch milliseconds.
    pub expires_at_ms: Option<i64>,
    /// `apiProvider` (doctor).
    pub api_provider: Option<String>,
    /// `configDirectory`: wins over the derived config directory (§12.1).
    pub config_directory: Option<String>,
    /// `projectsDirectory` (data.md §1.1).
    pub projects_directory: Option<String>,
}

impl LoginState {
    /// What is reported before the first answer (http-api.md §3): logged in, method and
    /// expiry unknown, so a missing answer never raises a login alarm by itself.
    pub fn before_first_answer() -> Self {
        Self {
            ok: true,
            method: None,
            expires_at_ms: None,
            api_provider: None,
            config_directory: None,
            projects_directory: None,
        }
    }

    /// Reads `auth status --json` stdout. `None` when it is not a JSON object with a boolean
    /// `loggedIn`; other keys are optional and ignored when of the wrong type.
    pub fn parse(stdout: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(stdout.trim()).ok()?;
        let object = value.as_object()?;
        let ok = object.get("loggedIn")?.as_bool()?;
        let text = |key: &str| {
            object
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let expires_at_ms = object.get("loginExpiresAt").and_then(|v| {
            v.as_i64().or_else(|| {
                // A float is truncated (`as` saturates, and non-finite values are refused).
                #[allow(clippy::cast_possible_truncation)]
                v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)
            })
        });
        Some(Self {
            ok,
            method: text("authMethod").filter(|m| m != "none"),
            expires_at_ms,
            api_provider: text("apiProvider"),
            config_directory: text("configDirectory"),
            projects_directory: text("projectsDirectory"),
        })
    }
}

impl Default for LoginState {
    fn default() -> Self {
        Self::before_first_answer()
    }
}

/// Everything one probe learned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeReport {
    pub capabilities: Capabilities,
    /// The first whitespace-separated token of a successful `claude --version`; `None` when
    /// that command failed, timed out or printed nothing (`claude_ok: false`).
    pub version: Option<String>,
    /// The `auth status` answer, or [`LoginState::before_first_answer`] when there was no
    /// parseable one (see `login_answered`).
    pub login: LoginState,
    /// Whether `login` is a real answer; a cache keeps its previous state when it is not.
    pub login_answered: bool,
}

impl ProbeReport {
    /// `claude_ok` of `/healthz` once this probe finished.
    pub fn claude_ok(&self) -> bool {
        self.version.is_some()
    }
}

/// How long each command may run; tests shorten them.
#[derive(Clone, Copy, Debug)]
struct Timeouts {
    command: Duration,
    auth: Duration,
}

const TIMEOUTS: Timeouts = Timeouts {
    command: COMMAND_TIMEOUT,
    auth: AUTH_TIMEOUT,
};

/// What one command left behind: stdout (capped) and whether it exited 0. `None` when it
/// could not be started or did not finish in time.
pub(crate) struct Finished {
    pub(crate) stdout: String,
    pub(crate) success: bool,
}

impl Finished {
    fn stdout_if_success(&self) -> Option<&str> {
        self.success.then_some(self.stdout.as_str())
    }
}

/// Runs the four probe commands of §3.1 concurrently, with `env` as the whole environment and
/// `cwd` (the state directory) as working directory, and derives the capabilities.
pub async fn probe(claude: &Path, env: &BridgeEnv, cwd: &Path) -> ProbeReport {
    probe_within(claude, env, cwd, TIMEOUTS).await
}

async fn probe_within(claude: &Path, env: &BridgeEnv, cwd: &Path, t: Timeouts) -> ProbeReport {
    let (version, help, rc_help, auth) = tokio::join!(
        run(claude, &["--version"], env, cwd, t.command),
        run(claude, &["--help"], env, cwd, t.command),
        run(claude, &["remote-control", "--help"], env, cwd, t.command),
        run(claude, &["auth", "status", "--json"], env, cwd, t.auth),
    );
    let version_out = version.as_ref().and_then(Finished::stdout_if_success);
    let capabilities = Capabilities::from_probe(&ProbeOutput {
        version: version_out,
        help: help.as_ref().and_then(Finished::stdout_if_success),
        // Non-zero when not logged in or not eligible: unavailable, the version rule decides.
        remote_control_help: rc_help.as_ref().and_then(Finished::stdout_if_success),
    });
    let login = auth.and_then(|f| LoginState::parse(&f.stdout));
    ProbeReport {
        capabilities,
        version: version_out
            .and_then(|out| out.split_whitespace().next())
            .map(str::to_owned),
        login_answered: login.is_some(),
        login: login.unwrap_or_default(),
    }
}

/// Runs `claude auth status --json` alone (the 30 s refresh). `None` when there was no
/// parseable answer; stdout is read whatever the exit status.
pub async fn auth_status(claude: &Path, env: &BridgeEnv, cwd: &Path) -> Option<LoginState> {
    run(
        claude,
        &["auth", "status", "--json"],
        env,
        cwd,
        AUTH_TIMEOUT,
    )
    .await
    .and_then(|f| LoginState::parse(&f.stdout))
}

pub(crate) async fn run(
    program: &Path,
    args: &[&str],
    env: &BridgeEnv,
    cwd: &Path,
    timeout: Duration,
) -> Option<Finished> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env.vars().iter().map(|(n, v)| (n, v)))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own process group: a wrapper script's children end with it on a timeout.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().ok()?;
    let _group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(ProcessGroup);
    let finished = async {
        let mut stdout = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            // A read error keeps what arrived; the exit status still decides.
            let _ = pipe.take(MAX_OUTPUT_BYTES).read_to_end(&mut stdout).await;
        }
        let status = child.wait().await.ok()?;
        Some(Finished {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            success: status.success(),
        })
    };
    tokio::time::timeout(timeout, finished).await.ok().flatten()
}

/// A probe's process group, killed when the probe is over: on a timeout or a shutdown that
/// drops the probe (the leader is not reaped yet), and after a normal exit, for what a wrapper
/// left in the background (Linux does not reuse a pid that still names a process group).
struct ProcessGroup(i32);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The login state `/healthz` reports, refreshed from `auth status` at most every 30 s.
#[derive(Clone, Debug, Default)]
pub struct LoginCache {
    state: LoginState,
    refreshed_at: Option<Instant>,
}

impl LoginCache {
    /// The state to report: the last answer, or the "before the first answer" defaults.
    pub fn state(&self) -> &LoginState {
        &self.state
    }

    /// Whether a refresh is due at `now` (never refreshed, or 30 s since the last attempt).
    pub fn is_stale(&self, now: Instant) -> bool {
        self.refreshed_at
            .is_none_or(|at| now.saturating_duration_since(at) >= LOGIN_CACHE_TTL)
    }

    /// Records a refresh attempt at `now`. A missing answer keeps the previous state (and is
    /// retried after the TTL like any other). Returns whether the reported state changed,
    /// which is when the `login` event goes out (http-api.md §8).
    pub fn record(&mut self, answer: Option<LoginState>, now: Instant) -> bool {
        self.refreshed_at = Some(now);
        match answer {
            Some(state) if state != self.state => {
                self.state = state;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::fs;
    use std::io::Write as _;
    use std::path::PathBuf;

    use clauster_core::capability::{DefaultModeToken, Version};

    use super::*;

    const TOP_HELP: &str = r#"Usage: claude [options] [command] [prompt]

Options:
  -c, --continue                  Continue the most recent conversation
  --permission-mode <mode>        Permission mode to use for the session
                                  (choices: "acceptEdits", "auto",
                                  "bypassPermissions", "manual", "dontAsk",
                                  "plan")
  -v, --version                   Output the version number

Commands:
  remote-control                  Run as a remote-control bridge
"#;

    const RC_HELP: &str = r"USAGE
  claude remote-control [options]

OPTIONS
  --continue                 Continue the last session in this directory
  --permission-mode <mode>   Permission mode
      (acceptEdits, auto, bypassPermissions, default, dontAsk, plan)
";

    /// Writes an executable `claude` script in `dir` that answers per argv with `body`'s
    /// `case` arms.
    fn fake_claude(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("claude");
        let script = format!("#!/bin/sh\ncase \"$*\" in\n{body}\nesac\n");
        // A child shell writes the file: a write descriptor held by this process could be
        // inherited by a process another test forks meanwhile, and executing the script
        // would then fail with ETXTBSY.
        let mut writer = std::process::Command::new("/bin/sh")
            .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
            .arg(&path)
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        writer
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("write fake claude");
        assert!(writer.wait().expect("wait").success());
        path
    }

    fn heredoc(arm: &str, text: &str, exit: i32) -> String {
        format!("  '{arm}') cat <<'EOF'\n{text}\nEOF\n    exit {exit};;\n")
    }

    fn env_with(extra: &[(&str, &str)]) -> BridgeEnv {
        let mut vars = vec![(OsString::from("PATH"), OsString::from("/usr/bin:/bin"))];
        vars.extend(
            extra
                .iter()
                .map(|(n, v)| (OsString::from(n), OsString::from(v))),
        );
        let config = clauster_core::config::load(&clauster_core::config::ConfigInput {
            home: Some(PathBuf::from("/home/op")),
            ..clauster_core::config::ConfigInput::default()
        })
        .expect("defaults")
        .config;
        BridgeEnv::build(&config, vars, None)
    }

    #[tokio::test]
    async fn logged_in_build() {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = [
            heredoc("--version", "2.1.328 (Claude Code)", 0),
            heredoc("--help", TOP_HELP, 0),
            heredoc("remote-control --help", RC_HELP, 0),
            heredoc(
                "auth status --json",
                r#"{"loggedIn": true, "authMethod": "claude.ai", "apiProvider": "firstParty",
  "configDirectory": "/home/op/.claude", "projectsDirectory": "/home/op/.claude/projects",
  "loginExpiresAt": 1790000000000, "analyticsDisabled": false}"#,
                0,
            ),
        ]
        .concat();
        let claude = fake_claude(dir.path(), &body);
        let report = probe(&claude, &env_with(&[]), dir.path()).await;
        assert_eq!(report.version.as_deref(), Some("2.1.328"));
        assert!(report.claude_ok());
        let caps = &report.capabilities;
        assert_eq!(caps.claude_version, Some(Version::new(2, 1, 328)));
        assert!(caps.rc_continue);
        assert_eq!(caps.flag_default_token, DefaultModeToken::Manual);
        assert_eq!(caps.rc_default_token, DefaultModeToken::Default);
        assert!(report.login_answered);
        assert_eq!(
            report.login,
            LoginState {
                ok: true,
                method: Some("claude.ai".to_owned()),
                expires_at_ms: Some(1_790_000_000_000),
                api_provider: Some("firstParty".to_owned()),
                config_directory: Some("/home/op/.claude".to_owned()),
                projects_directory: Some("/home/op/.claude/projects".to_owned()),
            }
        );
    }

    #[tokio::test]
    async fn logged_out_build() {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = [
            heredoc("--version", "2.1.328 (Claude Code)", 0),
            heredoc("--help", TOP_HELP, 0),
            // Not logged in: the subcommand errors, the version rule decides.
            "  'remote-control --help') echo 'Error: You must be logged in' >&2; exit 1;;\n"
                .to_owned(),
            // Parsed whatever the exit status.
            heredoc(
                "auth status --json",
                r#"{"loggedIn": false, "authMethod": "none", "apiProvider": "firstParty",
  "loginExpiresAt": null, "consoleProfileSignInOffered": true}"#,
                1,
            ),
        ]
        .concat();
        let claude = fake_claude(dir.path(), &body);
        let report = probe(&claude, &env_with(&[]), dir.path()).await;
        assert!(report.capabilities.rc_continue, "2.1.328 >= 2.1.200");
        assert_eq!(report.capabilities.rc_permission_choices, None);
        assert!(report.login_answered);
        assert_eq!(
            report.login,
            LoginState {
                ok: false,
                method: None,
                expires_at_ms: None,
                api_provider: Some("firstParty".to_owned()),
                config_directory: None,
                projects_directory: None,
            }
        );
    }

    #[tokio::test]
    async fn runs_with_exactly_the_bridge_environment_in_cwd() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cwd = dir.path().join("state");
        fs::create_dir(&cwd).expect("mkdir");
        // `--version` reports what it saw through the version token.
        let body = "  '--version') echo \"${PROBE_MARK:-unset}-${HOME:-absent}-$(basename \"$PWD\")\";;\n  *) exit 1;;";
        let claude = fake_claude(dir.path(), body);
        // The test process's own environment (its HOME) never reaches the child.
        let report = probe(&claude, &env_with(&[("PROBE_MARK", "bridge")]), &cwd).await;
        assert_eq!(report.version.as_deref(), Some("bridge-absent-state"));
        assert_eq!(report.capabilities.claude_version, None);
        assert!(!report.login_answered);
        assert_eq!(report.login, LoginState::before_first_answer());
    }

    #[tokio::test]
    async fn failures_degrade_to_the_fallback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = [
            "  '--version') echo '2.1.328 (Claude Code)'; exit 3;;\n".to_owned(),
            heredoc("auth status --json", "this is not json", 0),
            "  *) exit 1;;".to_owned(),
        ]
        .concat();
        let claude = fake_claude(dir.path(), &body);
        let report = probe(&claude, &env_with(&[]), dir.path()).await;
        assert_eq!(report.version, None);
        assert!(!report.claude_ok());
        assert_eq!(report.capabilities, Capabilities::fallback());
        assert!(!report.login_answered);
        assert_eq!(report.login, LoginState::before_first_answer());

        // A missing binary: the same, without panicking.
        let report = probe(&dir.path().join("nope"), &env_with(&[]), dir.path()).await;
        assert_eq!(report.version, None);
        assert_eq!(report.capabilities, Capabilities::fallback());
    }

    #[tokio::test]
    async fn hung_commands_time_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = [
            "  '--version') echo '2.1.300'; exit 0;;\n",
            "  *) exec sleep 30;;",
        ]
        .concat();
        let claude = fake_claude(dir.path(), &body);
        let short = Duration::from_millis(200);
        let started = Instant::now();
        let report = probe_within(
            &claude,
            &env_with(&[]),
            dir.path(),
            Timeouts {
                command: short,
                auth: short,
            },
        )
        .await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(report.version.as_deref(), Some("2.1.300"));
        // No subcommand help: the version rule (>= 2.1.200).
        assert!(report.capabilities.rc_continue);
        assert!(!report.login_answered);
    }

    /// A wrapper script (nvm installs one) whose own children hang, or are left behind by a
    /// command that answered: the probe ends them.
    #[tokio::test]
    async fn a_probe_ends_the_children_of_a_wrapper() {
        let dir = tempfile::tempdir().expect("tempdir");
        let children = dir.path().join("children");
        let body = format!(
            "  '--version') sleep 30 >/dev/null & echo $! >> '{0}'; echo '2.1.300'; exit 0;;\n  *) sleep 30 & echo $! >> '{0}'; wait;;",
            children.display()
        );
        let claude = fake_claude(dir.path(), &body);
        let short = Duration::from_millis(300);
        let timeouts = Timeouts {
            command: short,
            auth: short,
        };
        probe_within(&claude, &env_with(&[]), dir.path(), timeouts).await;
        let pids: Vec<i32> = std::fs::read_to_string(&children)
            .expect("the wrapper started its children")
            .lines()
            .map(|pid| pid.parse().expect("a pid"))
            .collect();
        assert!(!pids.is_empty());
        let running = |pid: &i32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                !stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while pids.iter().any(running) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left: Vec<_> = pids.iter().filter(|pid| running(pid)).collect();
        assert!(left.is_empty(), "children outlived their probe: {left:?}");
    }

    #[tokio::test]
    async fn auth_status_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = heredoc(
            "auth status --json",
            r#"{"loggedIn": true, "authMethod": "console", "loginExpiresAt": 12.9}"#,
            0,
        );
        let claude = fake_claude(dir.path(), &body);
        let state = auth_status(&claude, &env_with(&[]), dir.path())
            .await
            .expect("answer");
        assert_eq!(state.method.as_deref(), Some("console"));
        assert_eq!(state.expires_at_ms, Some(12));
    }

    #[test]
    fn login_parsing() {
        for bad in [
            "",
            "null",
            "[]",
            r#"{"authMethod": "claude.ai"}"#,
            r#"{"loggedIn": "yes"}"#,
        ] {
            assert_eq!(LoginState::parse(bad), None, "{bad}");
        }
        let state = LoginState::parse(
            r#"{"loggedIn": true, "authMethod": 5, "loginExpiresAt": "soon", "configDirectory": ""}"#,
        )
        .expect("object with loggedIn");
        assert_eq!(
            state,
            LoginState {
                ok: true,
                method: None,
                expires_at_ms: None,
                api_provider: None,
                config_directory: None,
                projects_directory: None,
            }
        );
    }

    #[test]
    fn login_cache() {
        let mut cache = LoginCache::default();
        let t0 = Instant::now();
        assert!(cache.is_stale(t0));
        assert_eq!(cache.state(), &LoginState::before_first_answer());

        let out = LoginState {
            ok: false,
            ..LoginState::before_first_answer()
        };
        assert!(cache.record(Some(out.clone()), t0));
        assert!(!cache.is_stale(t0 + Duration::from_secs(29)));
        assert!(cache.is_stale(t0 + LOGIN_CACHE_TTL));
        // The same answer again is no change; a missing answer keeps the last one.
        assert!(!cache.record(Some(out.clone()), t0 + LOGIN_CACHE_TTL));
        assert!(!cache.record(None, t0 + 2 * LOGIN_CACHE_TTL));
        assert_eq!(cache.state(), &out);
        assert!(!cache.is_stale(t0 + 2 * LOGIN_CACHE_TTL));
        assert!(cache.record(
            Some(LoginState::before_first_answer()),
            t0 + 3 * LOGIN_CACHE_TTL
        ));
    }
}
