//! The fake `claude`'s own checks (fake-claude.md §9): it must look like the real CLI to
//! everything Clauster inspects, or every end-to-end test built on it proves nothing.
#![cfg(target_os = "linux")]

use crate::support;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clauster_tests::fake::{fake_command, install_fake_claude, start_ticks};
use nix::pty::{OpenptyResult, Winsize, openpty};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A throw-away HOME, a project directory and `<tmp>/bin/claude`.
struct Sandbox {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    claude: PathBuf,
    home: PathBuf,
    project: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let claude =
            install_fake_claude(Path::new(env!("CARGO_BIN_EXE_fake-claude")), &root).unwrap();
        let home = root.join("home");
        let project = root.join("alpha");
        fs::create_dir_all(&home).unwrap();
        fs::create_dir_all(&project).unwrap();
        Sandbox {
            _tmp: tmp,
            root,
            claude,
            home,
            project,
        }
    }

    fn cmd(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = fake_command(&self.claude, &self.home, &self.project);
        cmd.args(args).envs(env.iter().copied());
        cmd
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.cmd(args, env).stdin(Stdio::null()).output().unwrap()
    }

    /// An empty 0600 debug file, as Clauster creates it before a launch.
    fn debug_file(&self, name: &str) -> PathBuf {
        let path = self.root.join(name);
        File::create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// Starts a standard bridge with stdin `/dev/null` and stdout+stderr in `out.log`.
    fn spawn_standard(&self, debug: &Path, extra: &[&str], env: &[(&str, &str)]) -> Guard {
        let out = File::create(self.root.join("out.log")).unwrap();
        let mut args = vec![
            "remote-control",
            "--name",
            "alpha",
            "--debug-file",
            debug.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let child = self
            .cmd(&args, env)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Guard(child)
    }

    fn slug_dir(&self) -> PathBuf {
        let slug: String = self
            .project
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        self.home.join(".claude/projects").join(slug)
    }

    fn pointer(&self) -> PathBuf {
        self.slug_dir().join("bridge-pointer.json")
    }
}

/// Kills (SIGKILL) and reaps the child when a test ends, however it ends.
struct Guard(Child);

impl Guard {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(i32::try_from(self.pid()).unwrap()), sig).unwrap();
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The debug lines without their timestamp: `[DEBUG] …`.
fn markers(log: &str) -> Vec<String> {
    log.lines()
        .map(|l| {
            let (ts, rest) = l.split_once(' ').unwrap();
            assert!(ts.ends_with('Z') && ts.len() == 24, "timestamp shape: {l}");
            rest.to_string()
        })
        .collect()
}

#[test]
fn version_prints_the_configured_version() {
    let sb = Sandbox::new();
    let out = sb.run(&["--version"], &[]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "2.1.328 (Claude Code)\n");
    let out = sb.run(&["-v"], &[("FAKE_CLAUDE_VERSION", "2.1.145")]);
    assert_eq!(stdout(&out), "2.1.145 (Claude Code)\n");
}

#[test]
fn unknown_commands_exit_2_and_noops_exit_0() {
    let sb = Sandbox::new();
    let out = sb.run(&["frobnicate", "--x"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "fake-claude: unsupported arguments: frobnicate --x\n"
    );
    for args in [
        &["stop", "3c509237"][..],
        &["rm", "3c509237"],
        &["mcp", "list"],
    ] {
        let out = sb.run(args, &[]);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(out.stdout.is_empty());
    }
    let out = sb.run(&["--bg", "--name", "x"], &[]);
    assert_eq!(stdout(&out), "backgrounded · 3c509237\n");
}

#[test]
fn help_texts_have_the_2_1_328_shapes() {
    let sb = Sandbox::new();
    let top = stdout(&sb.run(&["--help"], &[]));
    let pm = top
        .lines()
        .position(|l| l.starts_with("  --permission-mode <mode>"))
        .unwrap();
    let block: Vec<&str> = top.lines().skip(pm).take(4).collect();
    assert_eq!(block[0].find("Permission"), Some(40), "description column");
    assert!(
        block[1]
            .trim_start()
            .starts_with("(choices: \"acceptEdits\"")
    );
    assert!(block[2].contains("\"manual\"") && !top.contains("\"default\""));
    assert!(block[3].trim_end().ends_with("\"plan\")"));
    assert!(
        top.lines().any(|l| l.starts_with(&format!("{:40}--", ""))),
        "a description line starting with --"
    );
    for opt in [
        "  --debug-file <path>",
        "  -c, --continue",
        "  --fork-session",
        "  -r, --resume [value]",
        "  --remote-control [name]",
        "  --remote-control-session-name-prefix <prefix>",
        "  --session-id <uuid>",
        "  -v, --version",
        "  -w, --worktree [name]",
    ] {
        assert!(top.lines().any(|l| l.starts_with(opt)), "{opt}");
    }
    let old_top = stdout(&sb.run(&["--help"], &[("FAKE_CLAUDE_HELP", "old")]));
    assert!(old_top.contains("\"default\",") && !old_top.contains("\"manual\""));

    let rc = stdout(&sb.run(&["remote-control", "--help"], &[]));
    let lines: Vec<&str> = rc.lines().collect();
    let pm = lines
        .iter()
        .position(|l| l.starts_with("  --permission-mode <mode>"))
        .unwrap();
    assert_eq!(
        lines[pm + 1].trim(),
        "(acceptEdits, auto, bypassPermissions, default, dontAsk, plan)"
    );
    for opt in [
        "  --name <name>",
        "  --spawn <mode>",
        "  --capacity <N>",
        "  --[no-]create-session-in-dir",
        "  --debug-file <path>",
        "  -v, --verbose",
        "  -c, --continue",
        "  --session-id <id>",
    ] {
        assert!(lines.iter().any(|l| l.starts_with(opt)), "{opt}");
    }
    assert!(!rc.contains("sandbox"));
    let old_rc = stdout(&sb.run(
        &["remote-control", "--help"],
        &[("FAKE_CLAUDE_HELP", "old")],
    ));
    assert!(!old_rc.contains("--continue") && !old_rc.contains("--session-id"));
    assert!(old_rc.contains("(acceptEdits, auto, bypassPermissions, default, dontAsk, plan)"));
}

#[test]
fn auth_status_has_both_shapes() {
    let sb = Sandbox::new();
    let d = sb.home.join(".claude");
    let out = sb.run(&["auth", "status", "--json"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["loggedIn"], true);
    assert_eq!(v["authMethod"], "claude.ai");
    assert_eq!(v["apiProvider"], "firstParty");
    assert_eq!(v["configDirectory"], d.to_str().unwrap());
    assert_eq!(v["projectsDirectory"], d.join("projects").to_str().unwrap());
    assert!(v["loginExpiresAt"].as_u64().unwrap() > 1_700_000_000_000);

    let out = sb.run(
        &["auth", "status", "--json"],
        &[
            ("FAKE_CLAUDE_LOGGED_IN", "0"),
            ("CLAUDE_CONFIG_DIR", "/cfg"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"loggedIn": false, "authMethod": "none", "apiProvider": "firstParty",
            "analyticsDisabled": false, "projectsDirectory": "/cfg/projects",
            "configDirectory": "/cfg", "loginExpiresAt": null, "consoleProfileSignInOffered": true})
    );

    let out = sb.run(
        &["auth", "status", "--json"],
        &[
            ("FAKE_CLAUDE_AUTH_STDOUT", "not json"),
            ("FAKE_CLAUDE_AUTH_EXIT_CODE", "3"),
        ],
    );
    assert_eq!(
        (stdout(&out).as_str(), out.status.code()),
        ("not json", Some(3))
    );
}

/// Runs `claude auth login …` with `code` (and a newline) on stdin.
fn login(sb: &Sandbox, args: &[&str], code: &str, env: &[(&str, &str)]) -> Output {
    use std::io::Write as _;
    let mut child = sb
        .cmd(args, env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{code}").unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn auth_login_prints_an_osc8_link_and_each_outcome_and_logout_sticks() {
    let sb = Sandbox::new();
    let logged_out = [("FAKE_CLAUDE_LOGGED_IN", "0")];
    // The link: OSC 8 target and visible text, wider than any terminal, fresh state each run.
    let out = login(
        &sb,
        &["auth", "login", "--claudeai"],
        "abc#def",
        &[
            ("FAKE_CLAUDE_LOGGED_IN", "0"),
            ("FAKE_CLAUDE_LOGIN", "wrong_code"),
        ],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let target = text
        .split("\x1b]8;;")
        .nth(1)
        .and_then(|rest| rest.split('\x07').next())
        .expect("an OSC 8 target");
    support::assert_authorize_url(target);
    assert!(
        target.len() > 300,
        "wider than a terminal: {}",
        target.len()
    );
    assert!(text.contains("Paste code here if prompted > "), "{text}");
    assert!(
        text.contains("Couldn't log in: Request failed with status code 400"),
        "{text}"
    );
    let again = stdout(&login(
        &sb,
        &["auth", "login"],
        "x",
        &[("FAKE_CLAUDE_LOGIN", "network")],
    ));
    assert!(
        again.contains("Couldn't log in: getaddrinfo ENOTFOUND platform.claude.com"),
        "{again}"
    );
    assert!(
        !again.contains(target),
        "a fresh challenge and state per run"
    );
    let console = stdout(&login(
        &sb,
        &["auth", "login", "--console", "--email", "a@b.example"],
        "",
        &[],
    ));
    assert!(
        console.contains("https://platform.claude.com/oauth/authorize?"),
        "{console}"
    );
    assert!(console.contains("&login_hint=a%40b.example"), "{console}");
    // A rejected code leaves the login as it was.
    let status = |env: &[(&str, &str)]| {
        let out = sb.run(&["auth", "status", "--json"], env);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["loggedIn"].clone()
    };
    assert_eq!(status(&logged_out), false);
    // `FAKE_CLAUDE_LOGIN_CODE` decides which code is right.
    let wrong = login(
        &sb,
        &["auth", "login"],
        "nope",
        &[("FAKE_CLAUDE_LOGIN_CODE", "right")],
    );
    assert_eq!(wrong.status.code(), Some(1));
    let ok = login(
        &sb,
        &["auth", "login"],
        "right",
        &[("FAKE_CLAUDE_LOGIN_CODE", "right")],
    );
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    assert!(stdout(&ok).contains("Login successful."));
    // Signed in now, whatever the knob says; a logout is remembered the same way.
    assert_eq!(status(&logged_out), true);
    let out = sb.run(&["auth", "logout"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(status(&[]), false);
}

#[test]
fn agents_json_comes_from_the_knobs() {
    let sb = Sandbox::new();
    assert_eq!(stdout(&sb.run(&["agents", "--json"], &[])), "[]\n");
    let file = sb.root.join("agents.json");
    let env = [("FAKE_CLAUDE_AGENTS_FILE", file.to_str().unwrap())];
    assert_eq!(
        stdout(&sb.run(&["agents", "--json"], &env)),
        "[]\n",
        "missing file"
    );
    fs::write(
        &file,
        r#"[{"pid": 1, "cwd": "/x", "startedAt": 1, "sessionId": "u"}]"#,
    )
    .unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&sb.run(&["agents", "--json"], &env).stdout).unwrap();
    assert_eq!(v[0]["sessionId"], "u");
    // The per-directory file overrides the environment.
    fs::write(
        sb.project.join(".fake-claude.json"),
        r#"{"agents": [{"pid": 7}], "agents_file": ""}"#,
    )
    .unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&sb.run(&["agents", "--json"], &env).stdout).unwrap();
    assert_eq!(v, serde_json::json!([{"pid": 7}]));
}

#[test]
fn standard_argv_is_checked_like_the_real_cli() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("d.log");
    let d = debug.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--spawn", "same-dir", "--sandbox"],
            "error: unknown option '--sandbox'",
        ),
        (&["--no-sandbox"], "error: unknown option '--no-sandbox'"),
        (
            &["--spawn"],
            "error: option '--spawn <mode>' argument missing",
        ),
        (
            &["--spawn", "tree"],
            "error: option '--spawn <mode>' argument 'tree' is invalid. Allowed choices are same-dir, worktree, session.",
        ),
        (
            &["--spawn", "session", "--capacity", "4"],
            "error: --capacity cannot be used with --spawn session",
        ),
        (
            &["--permission-mode", "yolo"],
            "error: option '--permission-mode <mode>' argument 'yolo' is invalid. Allowed choices are acceptEdits, auto, bypassPermissions, default, manual, dontAsk, plan.",
        ),
        (
            &["--continue", "--spawn", "same-dir"],
            "error: --continue cannot be used with --spawn",
        ),
        (
            &["--session-id", "s", "--capacity", "2"],
            "error: --session-id cannot be used with --capacity",
        ),
        (
            &["--continue", "--no-create-session-in-dir"],
            "error: --continue cannot be used with --no-create-session-in-dir",
        ),
        (
            &["--continue", "--session-id", "s"],
            "error: --continue cannot be used with --session-id",
        ),
    ];
    for (extra, message) in cases {
        let mut args = vec!["remote-control", "--name", "alpha", "--debug-file", d];
        args.extend_from_slice(extra);
        let out = sb.run(&args, &[]);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        assert_eq!(stderr(&out), format!("{message}\n"), "{extra:?}");
        assert!(out.stdout.is_empty());
        assert_eq!(read(&debug), "", "nothing written for {extra:?}");
        assert!(!sb.pointer().exists());
    }
    // The old CLI has no --continue.
    let out = sb.run(
        &["remote-control", "--continue"],
        &[("FAKE_CLAUDE_HELP", "old")],
    );
    assert_eq!(stderr(&out), "error: unknown option '--continue'\n");
    // Recorded before anything else, even for a refused argv.
    let argv: Vec<String> =
        serde_json::from_str(&read(&PathBuf::from(format!("{d}.argv.json")))).unwrap();
    assert_eq!(
        argv,
        [
            "remote-control",
            "--name",
            "alpha",
            "--debug-file",
            d,
            "--continue",
            "--session-id",
            "s"
        ]
    );
}

#[test]
fn standard_ready_writes_markers_banner_and_a_pointer_with_its_own_start_ticks() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("std.log");
    let argv_log = sb.root.join("argv.jsonl");
    let mut bridge = sb.spawn_standard(
        &debug,
        &[
            "--spawn",
            "same-dir",
            "--permission-mode",
            "plan",
            "--capacity",
            "32",
        ],
        &[
            ("FAKE_CLAUDE_ARGV_LOG", argv_log.to_str().unwrap()),
            ("TERM", "xterm"),
        ],
    );
    assert!(
        wait_for(Duration::from_secs(10), || sb.pointer().exists()),
        "pointer written"
    );
    let log = read(&debug);
    let lines = markers(&log);
    assert_eq!(lines.len(), 4, "{log}");
    let env = lines[1]
        .rsplit_once("environment_id=")
        .unwrap()
        .1
        .to_string();
    let session = lines[2].rsplit_once(' ').unwrap().1.to_string();
    assert!(env.starts_with("env_01FAKE") && env.len() == 30, "{env}");
    assert!(
        session.starts_with("session_01FAKE") && session.len() == 34,
        "{session}"
    );
    let bridge_id = lines[0]
        .split("bridgeId=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert_eq!(bridge_id.len(), 36);
    assert_eq!(
        lines[0],
        format!(
            "[DEBUG] [bridge:init] bridgeId={bridge_id} dir={} branch=HEAD gitRepoUrl=null machine=fake",
            sb.project.display()
        )
    );
    assert_eq!(
        lines[1],
        format!("[DEBUG] [bridge:api] POST /v1/environments/bridge -> 200 environment_id={env}")
    );
    assert_eq!(
        lines[2],
        format!("[DEBUG] [bridge:init] Created initial session {session}")
    );
    assert_eq!(
        lines[3],
        format!(
            "[DEBUG] [bridge:work] Starting poll loop spawnMode=same-dir maxSessions=32 environmentId={env}"
        )
    );
    assert_eq!(
        read(&sb.root.join("out.log")),
        format!(
            "Remote Control active · Continue coding in the Claude mobile app or https://claude.ai/code?environment={env}\nhttps://claude.ai/code/{session}?environment={env}\n"
        )
    );

    let pid = bridge.pid();
    let pointer: serde_json::Value = serde_json::from_str(&read(&sb.pointer())).unwrap();
    assert_eq!(
        pointer,
        serde_json::json!({"sessionId": session, "environmentId": env, "source": "standalone",
            "pid": pid, "procStart": start_ticks(pid).unwrap()})
    );
    let cmdline = read(&PathBuf::from(format!("/proc/{pid}/cmdline")));
    assert!(cmdline.contains("claude") && cmdline.split('\0').any(|a| a == "remote-control"));

    check_invocation_records(&debug, &argv_log, pid, &sb.project);

    // One SIGINT is enough for the standard form; the pointer stays.
    bridge.signal(Signal::SIGINT);
    let status = bridge
        .wait_exit(Duration::from_secs(10))
        .expect("exits after one SIGINT");
    assert_eq!(status.code(), Some(0));
    assert!(read(&debug).ends_with("[DEBUG] [bridge:shutdown] SIGINT received, shutting down\n"));
    assert!(sb.pointer().exists());
}

/// `<debug>.env.json` and the `FAKE_CLAUDE_ARGV_LOG` line of a bridge started with `TERM=xterm`.
fn check_invocation_records(debug: &Path, argv_log: &Path, pid: u32, project: &Path) {
    let env_json: serde_json::Value = serde_json::from_str(&read(&PathBuf::from(format!(
        "{}.env.json",
        debug.display()
    ))))
    .unwrap();
    assert_eq!(env_json["values"]["TERM"], "xterm");
    assert_eq!(
        env_json["values"]["CLAUSTER_RESUME_RECAP"],
        serde_json::Value::Null
    );
    assert!(
        env_json["names"]
            .as_array()
            .unwrap()
            .contains(&"HOME".into())
    );
    let logged: serde_json::Value =
        serde_json::from_str(read(argv_log).lines().next().unwrap()).unwrap();
    assert_eq!(logged["pid"], pid);
    assert_eq!(logged["argv"][0], "remote-control");
    assert_eq!(logged["cwd"], project.to_str().unwrap());
}

#[test]
fn standard_continue_reattaches_to_the_recorded_session() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("first.log");
    let mut first = sb.spawn_standard(&debug, &["--spawn", "same-dir"], &[]);
    assert!(wait_for(Duration::from_secs(10), || sb.pointer().exists()));
    first.signal(Signal::SIGINT);
    assert_eq!(
        first.wait_exit(Duration::from_secs(10)).unwrap().code(),
        Some(0)
    );
    let pointer: serde_json::Value = serde_json::from_str(&read(&sb.pointer())).unwrap();
    let session = pointer["sessionId"].as_str().unwrap().to_string();

    // --continue reattaches to the recorded session: Unarchive instead of Created.
    let debug2 = sb.debug_file("std2.log");
    let mut again = sb.spawn_standard(&debug2, &["--continue"], &[]);
    assert!(wait_for(Duration::from_secs(10), || read(&debug2)
        .contains("Starting poll loop")));
    let lines = markers(&read(&debug2));
    assert_eq!(
        lines[2],
        format!("[DEBUG] [remote-bridge] Unarchive {session}")
    );
    assert!(!read(&debug2).contains("Created initial session"));
    again.signal(Signal::SIGTERM);
    assert_eq!(
        again.wait_exit(Duration::from_secs(10)).unwrap().code(),
        Some(0)
    );
    assert!(read(&debug2).ends_with("[bridge:shutdown] SIGTERM received, shutting down\n"));
}

#[test]
fn standard_continue_without_a_pointer_fails() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("c.log");
    let out = sb.run(
        &[
            "remote-control",
            "--continue",
            "--debug-file",
            debug.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "Error: no Remote Control session was recorded in this directory in the last 4 hours\n"
    );
    assert_eq!(read(&debug), "");
}

#[test]
fn standard_failure_modes() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("f.log");
    let d = debug.to_str().unwrap();
    let args = ["remote-control", "--debug-file", d, "--spawn", "same-dir"];
    // The per-directory file overrides the environment.
    fs::write(sb.project.join(".fake-claude.json"), r#"{"mode": "crash"}"#).unwrap();
    let out = sb.run(&args, &[("FAKE_CLAUDE_MODE", "ready")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty() && out.stderr.is_empty() && read(&debug).is_empty());
    fs::remove_file(sb.project.join(".fake-claude.json")).unwrap();

    let out = sb.run(&args, &[("FAKE_CLAUDE_MODE", "stderr_error")]);
    assert_eq!(
        stderr(&out),
        "Error: failed to authenticate bridge to controller (HTTP 401)\n"
    );

    let out = sb.run(&args, &[("FAKE_CLAUDE_CHECK_TRUST", "1")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(markers(&read(&debug)), ["[ERROR] Workspace not trusted"]);
    fs::write(
        sb.home.join(".claude.json"),
        serde_json::json!({"projects": {sb.root.to_str().unwrap(): {"hasTrustDialogAccepted": true}}}).to_string(),
    )
    .unwrap();
    let out = sb.run(
        &args,
        &[
            ("FAKE_CLAUDE_CHECK_TRUST", "1"),
            ("FAKE_CLAUDE_MODE", "no_marker"),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "an ancestor's trust covers a non-repository"
    );

    let out = sb.run(&args, &[("FAKE_CLAUDE_CHECK_ACK", "1")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "Enable Remote Control? (y/n) ");
    assert_eq!(stderr(&out), "Remote Control was not enabled\n");

    fs::write(&debug, "").unwrap();
    let out = sb.run(&args, &[("FAKE_CLAUDE_MODE", "no_marker")]);
    assert_eq!(out.status.code(), Some(0));
    let lines = markers(&read(&debug));
    assert_eq!(lines.len(), 3);
    assert!(lines[2].starts_with("[DEBUG] [bridge:init] Created initial session session_01FAKE"));
}

#[test]
fn standard_poison_session_end_and_log_extra() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("p.log");
    let mut b = sb.spawn_standard(
        &debug,
        &["--spawn", "session"],
        &[("FAKE_CLAUDE_MODE", "poison")],
    );
    assert!(wait_for(Duration::from_secs(10), || read(&debug)
        .contains("control_request")));
    let log = read(&debug);
    assert!(!log.contains("Created initial session"));
    assert!(log.lines().last().unwrap().ends_with(
        r#"[DEBUG] {"type":"control_request","request":{"subtype":"end_session","reason":"archived"}}"#
    ));
    assert!(log.contains("spawnMode=session maxSessions=1 "));
    b.signal(Signal::SIGHUP);
    assert_eq!(
        b.wait_exit(Duration::from_secs(10)).unwrap().code(),
        Some(0)
    );
    assert!(read(&debug).ends_with("SIGHUP received, shutting down\n"));

    let debug = sb.debug_file("e.log");
    let mut b = sb.spawn_standard(
        &debug,
        &["--spawn", "session"],
        &[
            ("FAKE_CLAUDE_MODE", "session_end"),
            ("FAKE_CLAUDE_LOG_EXTRA", "1"),
        ],
    );
    let status = b
        .wait_exit(Duration::from_secs(10))
        .expect("session_end exits by itself");
    assert_eq!(status.code(), Some(0));
    let log = read(&debug);
    assert!(log.contains("[DEBUG] \x1b[33mContinue at https://claude.ai/code/session_01FAKE"));
    assert!(log.contains(" Authorization: Bearer sk-FAKEFAKEFAKEFAKE0123\x1b[0m\n"));
}

#[test]
fn standard_ignore_sigint_needs_sigkill() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("i.log");
    let mut b = sb.spawn_standard(&debug, &[], &[("FAKE_CLAUDE_IGNORE_SIGINT", "1")]);
    assert!(wait_for(Duration::from_secs(10), || read(&debug)
        .contains("Starting poll loop")));
    b.signal(Signal::SIGINT);
    b.signal(Signal::SIGTERM);
    assert!(b.wait_exit(Duration::from_millis(400)).is_none(), "ignored");
    b.signal(Signal::SIGKILL);
    assert!(b.wait_exit(Duration::from_secs(10)).is_some());
    assert!(!read(&debug).contains("shutdown"));
}

#[test]
fn logged_out_texts_match_the_real_cli() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("lo.log");
    let env = [("FAKE_CLAUDE_LOGGED_IN", "0")];
    // The login check comes before argument validation: --sandbox is not reported.
    let out = sb.run(
        &[
            "remote-control",
            "--name",
            "demo",
            "--debug-file",
            debug.to_str().unwrap(),
            "--sandbox",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Error: You must be logged in to use Remote Control."
    );
    assert_eq!(lines[1], "");
    assert_eq!(
        lines[2],
        "Remote Control is only available with claude.ai subscriptions. Run `claude auth login` to sign in with your claude.ai account."
    );
    assert_eq!(lines[3], "[debug] Remote Control auth state:");
    for expected in [
        "  isBareMode=false",
        "  hasOAuthAccessToken=false",
        "  ANTHROPIC_API_KEY=unset",
    ] {
        assert!(lines[4..].contains(&expected), "{expected}");
    }
    assert!(
        lines[4..]
            .iter()
            .all(|l| l.starts_with("  ") && l.contains('='))
    );
    assert!(out.stdout.is_empty());
    assert_eq!(read(&debug), "");

    let help = sb.run(&["remote-control", "--help"], &env);
    assert_eq!(help.status.code(), Some(1));
    assert_eq!(stderr(&help), text);
}

#[test]
fn transcript_fixture_is_byte_exact() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("t.log");
    let mut b = sb.spawn_standard(
        &debug,
        &["--spawn", "same-dir"],
        &[("FAKE_CLAUDE_TRANSCRIPT", "1")],
    );
    assert!(wait_for(Duration::from_secs(10), || sb.pointer().exists()));
    let files: Vec<PathBuf> = fs::read_dir(sb.slug_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    assert_eq!(files.len(), 1);
    let uuid = files[0].file_stem().unwrap().to_str().unwrap().to_string();
    let text = read(&files[0]);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let ts = first["timestamp"].as_str().unwrap();
    let cwd = sb.project.to_str().unwrap();
    let r = |n: u32| format!("{}{n:012x}", &uuid[..24]);
    let head = |kind: &str, n: u32, parent: Option<u32>, side: bool| {
        let parent = parent.map_or_else(|| "null".to_string(), |p| format!("\"{}\"", r(p)));
        format!(
            r#"{{"type":"{kind}","uuid":"{}","parentUuid":{parent},"isSidechain":{side},"sessionId":"{uuid}","cwd":"{cwd}","timestamp":"{ts}""#,
            r(n)
        )
    };
    let usage = r#"{"input_tokens":6,"output_tokens":13,"cache_creation_input_tokens":11715,"cache_read_input_tokens":17228,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":11715}}"#;
    let main = |n: u32, content: &str| {
        format!(
            r#"{},"requestId":"req_fake_0001","message":{{"id":"msg_fake_0001","type":"message","role":"assistant","model":"claude-opus-4-8","content":[{content}],"usage":{usage}}}}}"#,
            head("assistant", n, Some(n - 1), false)
        )
    };
    let expected = [
        format!(r#"{},"message":{{"role":"user","content":"hello from fake"}}}}"#, head("user", 1, None, false)),
        main(2, r#"{"type":"text","text":"Looking at the project."}"#),
        main(3, r#"{"type":"tool_use","id":"toolu_fake_0001","name":"Bash","input":{"command":"ls"}}"#),
        main(4, r#"{"type":"text","text":"The project has no files yet."}"#),
        format!(
            r#"{},"requestId":"req_fake_side","message":{{"id":"msg_fake_side","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{{"type":"text","text":"Side task finished."}}],"usage":{{"input_tokens":100,"output_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}}}}"#,
            head("assistant", 5, None, true)
        ),
        format!(
            r#"{},"message":{{"id":"msg_fake_synthetic","type":"message","role":"assistant","model":"<synthetic>","content":[{{"type":"text","text":"No response requested."}}],"usage":{{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}}}}"#,
            head("assistant", 6, Some(4), false)
        ),
    ]
    .map(|l| l + "\n")
    .concat();
    assert_eq!(text, expected);
    // The session named in the log is the one the transcript belongs to.
    assert!(read(&debug).contains("Created initial session session_01FAKE"));
    b.signal(Signal::SIGINT);
    assert_eq!(
        b.wait_exit(Duration::from_secs(10)).unwrap().code(),
        Some(0)
    );
}

#[test]
fn transcript_append_adds_replies() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("ta.log");
    let _b = sb.spawn_standard(
        &debug,
        &[],
        &[
            ("FAKE_CLAUDE_TRANSCRIPT", "1"),
            ("FAKE_CLAUDE_TRANSCRIPT_APPEND_MS", "50"),
        ],
    );
    assert!(wait_for(Duration::from_secs(10), || {
        fs::read_dir(sb.slug_dir()).is_ok_and(|d| {
            d.flatten()
                .any(|e| read(&e.path()).contains("msg_fake_0003"))
        })
    }));
    let file = fs::read_dir(sb.slug_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .unwrap();
    let lines: Vec<serde_json::Value> = read(&file)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[6]["message"]["id"], "msg_fake_0002");
    assert_eq!(lines[6]["requestId"], "req_fake_0002");
    assert_eq!(lines[6]["message"]["model"], "claude-sonnet-4-6");
    assert_eq!(lines[6]["message"]["usage"]["output_tokens"], 10);
}

#[test]
fn hooks_runner_records_each_session_start_hook() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("h.log");
    let stdin_copy = sb.root.join("hook-stdin.json");
    let settings = serde_json::json!({"hooks": {"SessionStart": [
        {"matcher": "", "hooks": [
            {"type": "command", "command": format!("cat > '{}'; echo recap", stdin_copy.display())},
            {"type": "other", "command": "echo never"}
        ]},
        {"hooks": [{"type": "command", "command": "printf x; exit 3"}]}
    ]}});
    fs::create_dir_all(sb.home.join(".claude")).unwrap();
    fs::write(sb.home.join(".claude/settings.json"), settings.to_string()).unwrap();
    let _b = sb.spawn_standard(&debug, &[], &[("FAKE_CLAUDE_RUN_HOOKS", "1")]);
    let hooks = PathBuf::from(format!("{}.hooks.jsonl", debug.display()));
    assert!(wait_for(Duration::from_secs(10), || read(&hooks)
        .lines()
        .count()
        == 2));
    let lines: Vec<serde_json::Value> = read(&hooks)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["exit"], 0);
    assert_eq!(lines[0]["stdout"], "recap\n");
    assert_eq!(
        lines[1],
        serde_json::json!({"command": "printf x; exit 3", "exit": 3, "stdout": "x"})
    );
    let input: serde_json::Value = serde_json::from_str(&read(&stdin_copy)).unwrap();
    assert_eq!(input["hook_event_name"], "SessionStart");
    assert_eq!(input["source"], "startup");
    assert_eq!(input["cwd"], sb.project.to_str().unwrap());
    let uuid = input["session_id"].as_str().unwrap();
    assert_eq!(
        input["transcript_path"],
        sb.slug_dir()
            .join(format!("{uuid}.jsonl"))
            .to_str()
            .unwrap()
    );
}

#[test]
fn children_look_like_claude_and_outlive_the_bridge() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("ch.log");
    let mut b = sb.spawn_standard(&debug, &[], &[("FAKE_CLAUDE_CHILDREN", "2")]);
    let parent = b.pid().to_string();
    let children = || -> Vec<u32> {
        fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let stat = read(&PathBuf::from(format!("/proc/{pid}/stat")));
                stat.rfind(')')
                    .and_then(|i| stat[i + 1..].split_whitespace().nth(1).map(str::to_string))
                    == Some(parent.clone())
            })
            .collect()
    };
    let cmdline = |pid: &u32| read(&PathBuf::from(format!("/proc/{pid}/cmdline")));
    // A child shows the bridge's own command line from its fork until its exec: wait until
    // both have exec'd (`__fake_child`), then check what they look like.
    assert!(wait_for(Duration::from_secs(10), || {
        let kids = children();
        kids.len() == 2 && kids.iter().all(|pid| cmdline(pid).contains("__fake_child"))
    }));
    let kids = children();
    let _reap = KillPids(kids.clone());
    for pid in &kids {
        let line = cmdline(pid);
        assert!(
            line.contains("claude") && line.contains("__fake_child"),
            "{line}"
        );
        assert!(!line.contains("remote-control"));
    }
    b.signal(Signal::SIGINT);
    assert_eq!(
        b.wait_exit(Duration::from_secs(10)).unwrap().code(),
        Some(0)
    );
    std::thread::sleep(Duration::from_millis(100));
    for pid in &kids {
        assert!(
            Path::new(&format!("/proc/{pid}")).exists(),
            "child {pid} survives the bridge"
        );
    }
}

/// SIGKILLs leftover processes that are not our children (the fake's own children).
struct KillPids(Vec<u32>);

impl Drop for KillPids {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = kill(Pid::from_raw(i32::try_from(*pid).unwrap()), Signal::SIGKILL);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The pty form, run on a real pseudo-terminal as its controlling terminal (`setsid -c`).

/// The fake on a 120 × 40 pty; a reader thread collects everything it draws and, when asked,
/// answers DA1 and DSR like a terminal.
struct PtyRun {
    child: Guard,
    bytes: Arc<Mutex<Vec<u8>>>,
    _reader: JoinHandle<()>,
}

impl PtyRun {
    fn spawn(sb: &Sandbox, args: &[&str], env: &[(&str, &str)], answer_queries: bool) -> Self {
        let size = Winsize {
            ws_row: 40,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let OpenptyResult { master, slave } = openpty(&size, None).unwrap();
        let mut cmd = fake_command(Path::new("setsid"), &sb.home, &sb.project);
        cmd.arg("-c")
            .arg(&sb.claude)
            .args(args)
            .envs(env.iter().copied())
            .env("TERM", "xterm-256color");
        let slave_out: OwnedFd = slave.try_clone().unwrap();
        let slave_err: OwnedFd = slave.try_clone().unwrap();
        cmd.stdin(Stdio::from(slave))
            .stdout(Stdio::from(slave_out))
            .stderr(Stdio::from(slave_err));
        let child = Guard(cmd.spawn().unwrap());
        drop(cmd); // closes our copies of the slave, so reads end with EIO once the fake exits
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&bytes);
        let mut writer = File::from(master.try_clone().unwrap());
        let mut reader = File::from(master);
        let handle = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let chunk = &buf[..n];
                if answer_queries {
                    for _ in 0..count(chunk, b"\x1b[c") {
                        let _ = writer.write_all(b"\x1b[?1;2c");
                    }
                    if count(chunk, b"\x1b[6n") > 0 {
                        let _ = writer.write_all(b"\x1b[1;1R");
                    }
                }
                sink.lock().unwrap().extend_from_slice(chunk);
            }
        });
        PtyRun {
            child,
            bytes,
            _reader: handle,
        }
    }

    fn raw(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }

    fn screen(&self) -> String {
        let mut parser = vt100::Parser::new(40, 120, 0);
        parser.process(&self.raw());
        parser.screen().contents()
    }

    fn wait_screen(&self, needle: &str) -> bool {
        wait_for(Duration::from_secs(10), || self.screen().contains(needle))
    }
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// What a careless scraper does: drop every escape sequence and control byte, keep the rest.
fn naive_strip(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    for n in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&n) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(n) = chars.next() {
                        if n == '\x07' {
                            break;
                        }
                        if n == '\x1b' {
                            chars.next();
                            break;
                        }
                    }
                }
                _ => {}
            },
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Every `session_<alnum>` id in `text`.
fn session_ids(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("session_") {
        let tail = &rest[i + "session_".len()..];
        let n = tail
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(tail.len());
        ids.push(format!("session_{}", &tail[..n]));
        rest = &tail[n..];
    }
    ids
}

fn pty_args(debug: &Path) -> Vec<String> {
    [
        "--remote-control",
        "demo",
        "--debug-file",
        debug.to_str().unwrap(),
        "--permission-mode",
        "manual",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn pty_fragmented_url_renders_contiguous_but_strips_to_a_wrong_id() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("pty.log");
    let args = pty_args(&debug);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = PtyRun::spawn(&sb, &args, &[], true);
    assert!(run.wait_screen("on any device"), "{}", run.screen());
    let screen = run.screen();
    let line = screen
        .lines()
        .find(|l| l.contains("https://claude.ai/code/"))
        .unwrap();
    let rendered = session_ids(line);
    assert_eq!(rendered.len(), 1);
    let id = &rendered[0];
    assert!(
        id.starts_with("session_01FAKEPTY") && id.len() == "session_01FAKEPTY".len() + 17,
        "{id}"
    );
    assert_eq!(
        line.trim(),
        format!("https://claude.ai/code/{id} on any device")
    );
    assert!(screen.contains("/remote-control is active · Continue at"));

    let raw = run.raw();
    let url = format!("https://claude.ai/code/{id}");
    assert_eq!(
        count(&raw, url.as_bytes()),
        0,
        "the URL bytes are not contiguous"
    );
    assert_eq!(count(&raw, b"https://cla"), 1);
    let stripped = naive_strip(&raw);
    let naive = session_ids(&stripped);
    assert!(
        !naive.is_empty() && !naive.contains(id),
        "naive ids {naive:?} vs {id}"
    );
    assert!(
        stripped.contains(&format!("{}on", &id[id.len() - 9..])),
        "`on` glued to the id"
    );
    assert_eq!(
        count(&raw, b"\x1b[61Gon"),
        1,
        "`on` placed with a column escape"
    );

    // Terminal queries: OSC 11, DA1, XTVERSION, kitty, DA1, DSR; the answers were seen.
    assert!(raw.starts_with(b"\x1b]11;?\x07\x1b[c\x1b[>0q\x1b[?u\x1b[c\x1b[6n"));
    let tty: serde_json::Value = serde_json::from_str(&read(&PathBuf::from(format!(
        "{}.tty.json",
        debug.display()
    ))))
    .unwrap();
    assert_eq!(
        tty,
        serde_json::json!({"da1_reply": true, "cursor_report": true})
    );
    let cmdline = read(&PathBuf::from(format!("/proc/{}/cmdline", run.child.pid())));
    assert!(cmdline.contains("claude") && cmdline.split('\0').any(|a| a == "--remote-control"));
    assert_eq!(markers(&read(&debug)).len(), 1, "one neutral line");
    assert!(!read(&debug).contains("env_"));
    assert!(!sb.pointer().exists(), "no pointer in the pty form");
}

#[test]
fn pty_needs_two_sigints_within_two_seconds() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("two.log");
    let args = pty_args(&debug);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut run = PtyRun::spawn(&sb, &args, &[], true);
    assert!(run.wait_screen("on any device"));
    run.child.signal(Signal::SIGINT);
    assert!(run.wait_screen("Press Ctrl-C again to exit"));
    assert!(
        run.child.wait_exit(Duration::from_millis(300)).is_none(),
        "one SIGINT is not enough"
    );
    // Disarmed after 2 s: the next SIGINT arms again instead of exiting.
    assert!(wait_for(Duration::from_secs(10), || run
        .screen()
        .contains("? for shortcuts")));
    run.child.signal(Signal::SIGINT);
    assert!(run.wait_screen("Press Ctrl-C again to exit"));
    // At once: the window is 2 s, and the first round already showed one is not enough.
    run.child.signal(Signal::SIGINT);
    let status = run
        .child
        .wait_exit(Duration::from_secs(10))
        .expect("second SIGINT exits");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn pty_sighup_exits_129_and_sigterm_exits_0() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("hup.log");
    let args = pty_args(&debug);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut run = PtyRun::spawn(
        &sb,
        &args,
        &[("FAKE_CLAUDE_PTY_MODE", "pty_contiguous")],
        true,
    );
    assert!(run.wait_screen("on any device"));
    let raw = run.raw();
    let id = session_ids(&run.screen())[0].clone();
    let row = format!(
        "/remote-control is active · Continue at https://claude.ai/code/{id} on any device"
    );
    assert_eq!(
        count(&raw, row.as_bytes()),
        1,
        "contiguous mode writes the row as is"
    );
    run.child.signal(Signal::SIGHUP);
    assert_eq!(
        run.child.wait_exit(Duration::from_secs(10)).unwrap().code(),
        Some(129)
    );

    let mut run = PtyRun::spawn(&sb, &args, &[], true);
    assert!(run.wait_screen("on any device"));
    run.child.signal(Signal::SIGTERM);
    assert_eq!(
        run.child.wait_exit(Duration::from_secs(10)).unwrap().code(),
        Some(0)
    );
}

#[test]
fn pty_wrapped_url_soft_wraps_at_column_120() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("wrap.log");
    let args = pty_args(&debug);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = PtyRun::spawn(&sb, &args, &[("FAKE_CLAUDE_MODE", "pty_wrapped")], true);
    assert!(run.wait_screen("on any device"));
    let mut parser = vt100::Parser::new(40, 120, 0);
    parser.process(&run.raw());
    let screen = parser.screen();
    assert!(screen.row_wrapped(4), "row 5 wraps");
    let row5: String = screen.rows(0, 120).nth(4).unwrap();
    assert_eq!(row5.chars().count(), 120);
    assert!(
        row5.ends_with("https://claude.ai/cod"),
        "21 characters from column 100"
    );
    let id = session_ids(&screen.contents())[0].clone();
    assert!(
        screen
            .contents()
            .contains(&format!("https://claude.ai/code/{id} on any device"))
    );
}

#[test]
fn pty_preconditions_and_failure_screens() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("pre.log");
    let d = debug.to_str().unwrap();
    // Validated before the terminal check: `default` is accepted though not listed.
    let out = sb.run(
        &[
            "--remote-control",
            "demo",
            "--debug-file",
            d,
            "--permission-mode",
            "default",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "Error: Input must be provided either through stdin or as a prompt argument when using --print\n"
    );
    let out = sb.run(
        &["--remote-control", "demo", "--permission-mode", "yolo"],
        &[],
    );
    assert_eq!(
        stderr(&out),
        "error: option '--permission-mode <mode>' argument 'yolo' is invalid. Allowed choices are acceptEdits, auto, bypassPermissions, manual, dontAsk, plan.\n"
    );
    let out = sb.run(
        &["--remote-control", "demo", "--permission-mode", "manual"],
        &[("FAKE_CLAUDE_HELP", "old")],
    );
    assert!(stderr(&out).contains(
        "Allowed choices are acceptEdits, auto, bypassPermissions, default, dontAsk, plan."
    ));
    let out = sb.run(&["--remote-control", "demo", "--sandbox"], &[]);
    assert_eq!(stderr(&out), "error: unknown option '--sandbox'\n");
    let out = sb.run(
        &[
            "--remote-control",
            "demo",
            "--worktree",
            "clauster-1a2b3c4d",
        ],
        &[],
    );
    assert_eq!(
        stderr(&out),
        "Can only use --worktree in a git repository\n"
    );
    assert_eq!(out.status.code(), Some(1));

    // Screens that end the TUI with exit 1.
    let args = pty_args(&debug);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut run = PtyRun::spawn(&sb, &args, &[("FAKE_CLAUDE_MODE", "pty_offline")], false);
    assert_eq!(
        run.child.wait_exit(Duration::from_secs(10)).unwrap().code(),
        Some(1)
    );
    let screen = run.screen();
    assert!(screen.contains("Unable to connect to Anthropic services"));
    assert!(screen.contains("Failed to connect to api.anthropic.com: ENOTFOUND"));
    assert!(naive_strip(&run.raw()).contains("UnabletoconnecttoAnthropicservices"));
    let tty: serde_json::Value =
        serde_json::from_str(&read(&PathBuf::from(format!("{d}.tty.json")))).unwrap();
    assert_eq!(
        tty,
        serde_json::json!({"da1_reply": false, "cursor_report": false}),
        "nobody answered"
    );

    let mut run = PtyRun::spawn(&sb, &args, &[("FAKE_CLAUDE_LOGGED_IN", "0")], true);
    assert_eq!(
        run.child.wait_exit(Duration::from_secs(10)).unwrap().code(),
        Some(1)
    );
    assert!(
        run.screen()
            .contains("Error: You must be logged in to use Remote Control.")
    );
    assert!(
        run.screen()
            .contains("Run `claude auth login` to sign in with your claude.ai account.")
    );

    let missing = "0f8c9d2e-1a2b-4c3d-9e4f-5a6b7c8d9e0f";
    args.extend_from_slice(&["--resume", missing]);
    let mut run = PtyRun::spawn(&sb, &args, &[], true);
    assert_eq!(
        run.child.wait_exit(Duration::from_secs(10)).unwrap().code(),
        Some(1)
    );
    assert!(
        run.screen()
            .contains(&format!("No conversation found with session ID: {missing}"))
    );
}

#[test]
fn pty_transcript_and_resume() {
    let sb = Sandbox::new();
    let debug = sb.debug_file("tr.log");
    let args = pty_args(&debug);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = [("FAKE_CLAUDE_TRANSCRIPT", "1")];
    let run = PtyRun::spawn(&sb, &args, &env, true);
    assert!(run.wait_screen("on any device"));
    assert!(!run.screen().contains("Resumed conversation"));
    let files: Vec<PathBuf> = fs::read_dir(sb.slug_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1);
    let uuid = files[0].file_stem().unwrap().to_str().unwrap().to_string();
    let record: serde_json::Value = serde_json::from_str(read(&files[0]).trim()).unwrap();
    assert_eq!(record["type"], "user");
    assert_eq!(record["sessionId"], uuid.as_str());
    drop(run);

    args.extend_from_slice(&["--resume", &uuid]);
    let run = PtyRun::spawn(&sb, &args, &env, true);
    assert!(run.wait_screen("on any device"));
    assert!(run.screen().contains("Resumed conversation"));
    assert_eq!(
        read(&files[0]).lines().count(),
        2,
        "the resumed conversation continues in its file"
    );
}
