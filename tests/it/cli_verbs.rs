//! The command-line verbs against the cli.md §3 table beyond start/stop/status: `sessions`
//! with and without a server, `start --wait` and `resume --wait`, `version --json`, exit
//! codes of config errors, the `run` banner and probe line, and the observability rules of
//! issue 8 (log level from config, `/healthz` never spawning a process).

use crate::support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use support::{Sandbox, Server, ServesApi, clauster_bin, serve_claude, start_server, wait_for};
use support::{alpha_and_fake as setup, lossy as text, run_clauster as clauster};

fn agents_item(pid: i64, cwd: &Path, uuid: &str, kind: &str) -> Value {
    serde_json::json!({
        "pid": pid,
        "cwd": cwd.to_string_lossy(),
        "startedAt": 1_700_000_000_000_i64,
        "sessionId": uuid,
        "kind": kind,
        "state": "running",
    })
}

#[test]
fn sessions_come_from_the_servers_poll_with_every_attribution() {
    let (sandbox, claude) = setup();
    let agents_file = sandbox.dir.path().join("agents.json");
    let claude_path = claude.to_str().unwrap();
    let agents_path = agents_file.to_str().unwrap();
    let env = [
        ("CLAUSTER_CLAUDE_BINARY", claude_path),
        ("FAKE_CLAUDE_AGENTS_FILE", agents_path),
        ("CLAUSTER_CLAUDE_AGENTS_JSON_POLL_INTERVAL_SECONDS", "1"),
    ];
    let server = start_server(&sandbox, Some(&claude), &[], &env[1..]);
    let started = clauster(&sandbox, &["start", "alpha", "--json"], &env);
    support::assert_exit(&started, 0);
    let outcome: Value = serde_json::from_slice(&started.stdout).unwrap();
    let pid = outcome["bridge_pid"].as_i64().unwrap();
    let instance_id = outcome["instance_id"].as_str().unwrap().to_owned();
    let alpha = std::fs::canonicalize(sandbox.projects_root().join("alpha")).unwrap();
    let items = serde_json::json!([
        agents_item(
            pid,
            &alpha,
            "0b7e5a52-8f7c-4f7e-9d1e-4c1d2b3a4f5e",
            "interactive"
        ),
        agents_item(999_999, &alpha, "1c8f6b63-0000-4000-8000-000000000000", ""),
        agents_item(
            999_998,
            Path::new("/elsewhere"),
            "2d906c74-0000-4000-8000-000000000000",
            "background"
        ),
    ]);
    std::fs::write(&agents_file, items.to_string()).unwrap();

    let listed = wait_for(Duration::from_secs(15), || {
        let out = clauster(&sandbox, &["sessions", "--json"], &env);
        let list: Value = serde_json::from_slice(&out.stdout).ok()?;
        (list.as_array()?.len() == 3).then_some(list)
    })
    .unwrap_or_else(|| panic!("no poll with three sessions: {}", server.log()));
    let by_uuid = |prefix: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["local_uuid"].as_str().unwrap().starts_with(prefix))
            .unwrap()
            .clone()
    };
    let tracked = by_uuid("0b7e5a52");
    assert_eq!(tracked["attribution"], "tracked");
    assert_eq!(tracked["parent_instance"], instance_id.as_str());
    assert_eq!(tracked["pid"], pid);
    assert_eq!(tracked["started_at"], 1_700_000_000_000_i64);
    assert_eq!(by_uuid("1c8f6b63")["attribution"], "external");
    assert_eq!(by_uuid("2d906c74")["attribution"], "untracked");
    assert_eq!(by_uuid("2d906c74")["parent_instance"], Value::Null);

    let table = clauster(&sandbox, &["sessions"], &env);
    assert_eq!(table.status.code(), Some(0));
    let out = text(&table.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("SESSION   KIND         STATE    PID"),
        "{out}"
    );
    assert!(lines[0].ends_with("ATTRIBUTION"), "{out}");
    assert!(
        out.contains(&format!("0b7e5a52  interactive  running  {pid}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("tracked ({})", &instance_id[..8])),
        "{out}"
    );
    assert!(
        out.contains("1c8f6b63  -            running  999999"),
        "{out}"
    );
    drop(server);
}

#[test]
fn without_a_server_sessions_runs_the_agents_command_once() {
    let (sandbox, claude) = setup();
    let alpha = std::fs::canonicalize(sandbox.projects_root().join("alpha")).unwrap();
    let items = serde_json::json!([agents_item(
        4242,
        &alpha,
        "1c8f6b63-0000-4000-8000-000000000000",
        "interactive"
    )])
    .to_string();
    let claude_path = claude.to_str().unwrap();
    let out = clauster(
        &sandbox,
        &["sessions", "--json"],
        &[
            ("CLAUSTER_CLAUDE_BINARY", claude_path),
            ("FAKE_CLAUDE_AGENTS", &items),
        ],
    );
    support::assert_exit(&out, 0);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["attribution"], "external");
    assert_eq!(list[0]["cwd"], alpha.to_string_lossy().as_ref());
    assert!(
        !sandbox.state_dir().join("control.sock").exists(),
        "the command's engine left its socket"
    );

    // Nothing listed: the table is replaced by a note on stderr.
    let empty = clauster(
        &sandbox,
        &["sessions"],
        &[("CLAUSTER_CLAUDE_BINARY", claude_path)],
    );
    assert_eq!(empty.status.code(), Some(0));
    assert_eq!(text(&empty.stdout), "");
    assert_eq!(text(&empty.stderr), "No sessions.\n");

    // The agents command failing is exit 1 with the reason, nothing on stdout.
    let failed = clauster(
        &sandbox,
        &["sessions", "--json"],
        &[
            ("CLAUSTER_CLAUDE_BINARY", claude_path),
            ("FAKE_CLAUDE_AGENTS", "Usage: claude agents"),
        ],
    );
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(text(&failed.stdout), "");
    let stderr = text(&failed.stderr);
    assert!(
        stderr.starts_with("clauster: error: claude agents --json failed: "),
        "{stderr}"
    );
    let missing = clauster(
        &sandbox,
        &["sessions"],
        &[("CLAUSTER_CLAUDE_BINARY", "/nonexistent/claude")],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("claude binary '/nonexistent/claude' does not exist"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn start_and_resume_wait_for_running_and_print_the_link() {
    let (sandbox, claude) = setup();
    let claude_path = claude.to_str().unwrap();
    // The request itself gives up after 1 s; the bridge needs 2.5 s.
    let env = [
        ("CLAUSTER_CLAUDE_BINARY", claude_path),
        ("CLAUSTER_CLAUDE_READY_WAIT_SECONDS", "1"),
        ("FAKE_CLAUDE_DELAY_MS", "2500"),
    ];
    let _server = start_server(&sandbox, Some(&claude), &[], &env[1..]);
    let plain = support::stdout_after(&clauster(&sandbox, &["start", "alpha"], &env), 0);
    assert!(
        plain.ends_with("(alpha) mode=standard status=starting\n"),
        "{plain}"
    );
    support::assert_exit(&clauster(&sandbox, &["stop", "alpha"], &env), 0);
    support::assert_exit(&clauster(&sandbox, &["forget", "alpha"], &env), 0);

    let waited = clauster(&sandbox, &["start", "alpha", "--wait"], &env);
    support::assert_exit(&waited, 0);
    let out = text(&waited.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("started "), "{out}");
    assert!(
        lines[0].ends_with("(alpha) mode=standard status=running"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("https://claude.ai/code/session_"),
        "{out}"
    );

    support::assert_exit(&clauster(&sandbox, &["stop", "alpha"], &env), 0);
    let resumed = clauster(
        &sandbox,
        &["resume", "alpha", "--fresh", "--wait", "--json"],
        &env,
    );
    support::assert_exit(&resumed, 0);
    let outcome: Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(outcome["status"], "running", "{outcome}");
    assert_eq!(outcome["created"], true, "{outcome}");
    assert!(
        outcome["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://claude.ai/code")),
        "{outcome}"
    );
    support::assert_exit(&clauster(&sandbox, &["stop", "alpha"], &env), 0);
}

#[test]
fn start_wait_ends_with_exit_1_when_the_bridge_never_becomes_ready() {
    let (sandbox, claude) = setup();
    let claude_path = claude.to_str().unwrap();
    let env = [
        ("CLAUSTER_CLAUDE_BINARY", claude_path),
        ("CLAUSTER_CLAUDE_READY_WAIT_SECONDS", "1"),
        ("CLAUSTER_CLAUDE_STARTUP_GRACE_SECONDS", "6"),
        ("CLAUSTER_CLAUDE_PTY_URL_TIMEOUT_SECONDS", "5"),
        ("FAKE_CLAUDE_MODE", "stall"),
    ];
    let _server = start_server(&sandbox, Some(&claude), &[], &env[1..]);
    let waited = clauster(&sandbox, &["start", "alpha", "--wait"], &env);
    let out = text(&waited.stdout);
    assert_eq!(
        waited.status.code(),
        Some(1),
        "{out}{}",
        text(&waited.stderr)
    );
    assert!(out.contains("(alpha) mode=standard status=error"), "{out}");
}

/// `--wait` that loses the server (killed while the bridge starts) says so and exits 1,
/// instead of reporting a startup timeout that never happened (release review 10).
#[tokio::test]
async fn start_wait_exits_1_when_the_server_goes_away() {
    let (sandbox, claude) = setup();
    let claude_path = claude.to_str().unwrap();
    let env = [
        ("CLAUSTER_CLAUDE_BINARY", claude_path),
        ("CLAUSTER_CLAUDE_READY_WAIT_SECONDS", "1"),
        ("FAKE_CLAUDE_MODE", "stall"),
    ];
    let server = start_server(&sandbox, Some(&claude), &[], &env[1..]);
    let (mut events, _) = support::open_events(&server).await;
    let mut cmd = sandbox.command(clauster_bin());
    cmd.args(["start", "alpha", "--wait"])
        .env("CLAUSTER_PROJECTS_ROOT", sandbox.projects_root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (name, value) in env {
        cmd.env(name, value);
    }
    let mut waiting = cmd.spawn().expect("run clauster");
    // The launch is pushed as `starting` (the stalled fake never gets further).
    let launched = support::next_frame_of(&mut events, &["instance"]).await;
    assert_eq!(launched["instance"]["status"], "starting", "{launched}");
    drop(server);
    let ended = wait_for(Duration::from_secs(30), || {
        waiting.try_wait().ok().flatten()
    });
    if ended.is_none() {
        let _ = waiting.kill();
    }
    let output = waiting.wait_with_output().expect("the command's output");
    let stderr = text(&output.stderr);
    assert!(
        ended.is_some(),
        "still waiting 30 s after its server was gone"
    );
    // Killed during the request (it waits up to ready_wait_seconds) or during the wait
    // after it: either way exit 1, and no startup timeout that never happened.
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the server may have stopped: see clauster status"),
        "{stderr}"
    );
    assert!(!stderr.contains("still starting after"), "{stderr}");
}

#[test]
fn version_prints_the_build_facts() {
    let sandbox = Sandbox::new();
    let plain = clauster(&sandbox, &["version"], &[]);
    assert_eq!(plain.status.code(), Some(0));
    let line = text(&plain.stdout);
    assert!(
        line.starts_with("clauster ") && line.ends_with('\n'),
        "{line}"
    );
    let json = clauster(&sandbox, &["version", "--json"], &[]);
    assert_eq!(json.status.code(), Some(0));
    let facts: Value = serde_json::from_slice(&json.stdout).unwrap();
    let object = facts.as_object().unwrap();
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "{facts}");
    for key in ["version", "commit", "build_date", "target"] {
        assert!(
            object[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key}: {facts}"
        );
    }
    assert_eq!(
        format!("clauster {}\n", facts["version"].as_str().unwrap()),
        line
    );
    let date = facts["build_date"].as_str().unwrap();
    assert_eq!(date.len(), 10, "{date}");
    assert_eq!(&date[4..5], "-");
    assert!(
        facts["target"].as_str().unwrap().contains("linux"),
        "{facts}"
    );
    // Pretty-printed with two spaces.
    assert!(text(&json.stdout).contains("\n  \"version\": "));
}

#[test]
fn config_errors_are_exit_2_for_every_reading_command() {
    let sandbox = Sandbox::new();
    let bad = [("CLAUSTER_PORT", "not-a-port")];
    for args in [
        &["projects"][..],
        &["status"],
        &["sessions"],
        &["open", "alpha"],
        &["logs", "alpha"],
        &["resume", "alpha"],
        &["forget", "alpha"],
        &["stop", "alpha"],
        &["start", "alpha"],
    ] {
        let out = clauster(&sandbox, args, &bad);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).starts_with("clauster: config error: "),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "");
    }
    // Nothing was created on the way.
    assert!(!sandbox.state_dir().exists());
}

/// The first line of the server's log that starts with `prefix`, once one is there (waiting up
/// to `within`).
fn log_line_within(server: &Server, prefix: &str, within: Duration) -> Option<String> {
    wait_for(within, || {
        server
            .log()
            .lines()
            .find(|l| l.starts_with(prefix))
            .map(str::to_owned)
    })
}

#[test]
fn run_prints_the_banner_then_the_probe_line() {
    let (sandbox, claude) = setup();
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let line = log_line_within(&server, "clauster: claude ", Duration::from_secs(20));
    assert_eq!(
        line.as_deref(),
        Some("clauster: claude 2.1.328"),
        "{}",
        server.log()
    );
    let log = server.log();
    let banner = log
        .lines()
        .find(|l| l.contains(" | claude probing… | "))
        .unwrap_or_else(|| panic!("{log}"));
    let port = server.base.rsplit(':').next().unwrap();
    assert!(banner.starts_with("clauster "), "{banner}");
    assert!(
        banner.ends_with(&format!(
            " | claude probing… | projects_root={} | http://127.0.0.1:{port}",
            sandbox.projects_root().display()
        )),
        "{banner}"
    );

    let missing = Sandbox::with_projects_root();
    let server = start_server(&missing, Some(Path::new("/nonexistent/claude")), &[], &[]);
    // The reason is the readiness check's: the file does not exist.
    let line = log_line_within(
        &server,
        "clauster: warning: claude not found (claude binary '/nonexistent/claude' does not \
         exist; run clauster doctor)",
        Duration::from_secs(20),
    );
    assert!(line.is_some(), "{}", server.log());
}

#[test]
fn run_flags_override_the_config_file() {
    let (sandbox, claude) = setup();
    let other_root = sandbox.dir.path().join("elsewhere");
    std::fs::create_dir_all(other_root.join("gamma")).unwrap();
    let config = sandbox.dir.path().join("clauster.yml");
    std::fs::write(
        &config,
        "host: 127.0.0.1\nport: 1\nprojects_root: /nonexistent\n",
    )
    .unwrap();
    let port = support::free_port();
    let mut cmd = sandbox.command(clauster_bin());
    cmd.args(["-c", config.to_str().unwrap(), "--port", &port.to_string()])
        .arg("--host")
        .arg("localhost")
        .arg("--projects-root")
        .arg(&other_root)
        .env("CLAUSTER_CLAUDE_BINARY", &claude);
    let log = sandbox.dir.path().join("run.log");
    let _child = support::spawn_logged(cmd, &log);
    let banner = wait_for(Duration::from_secs(20), || {
        std::fs::read_to_string(&log)
            .ok()?
            .lines()
            .find(|l| l.contains("projects_root="))
            .map(str::to_owned)
    })
    .unwrap_or_else(|| panic!("{}", std::fs::read_to_string(&log).unwrap_or_default()));
    assert!(
        banner.ends_with(&format!(
            "projects_root={} | http://localhost:{port}",
            other_root.display()
        )),
        "{banner}"
    );
}

#[tokio::test]
async fn the_log_level_comes_from_the_config() {
    let (sandbox, claude) = setup();
    let quiet = serve_claude(&sandbox, &claude, &[("CLAUSTER_LOG_LEVEL", "error")]);
    let (status, _) = quiet.get("/healthz").await;
    assert_eq!(status, 200);
    // The probe line comes after the engine started (and after `serving` would be logged).
    let probed = wait_for(Duration::from_secs(20), || {
        quiet
            .log()
            .contains("clauster: claude 2.1.328")
            .then_some(())
    });
    assert!(probed.is_some(), "{}", quiet.log());
    let quiet_log = quiet.log();
    drop(quiet);
    assert!(!quiet_log.contains("serving"), "{quiet_log}");
    assert!(!quiet_log.contains(" INFO "), "{quiet_log}");
    // A log file gets no colour codes.
    assert!(!quiet_log.contains('\u{1b}'), "{quiet_log}");

    let chatty = serve_claude(&sandbox, &claude, &[("CLAUSTER_LOG_LEVEL", "info")]);
    // The `serving` line comes once the engine lock is taken (the quiet server may still
    // be letting go of it).
    let seen = wait_for(Duration::from_secs(20), || {
        let log = chatty.log();
        (log.contains(" INFO ") && log.contains("serving")).then_some(())
    });
    assert!(seen.is_some(), "{}", chatty.log());
}

#[tokio::test]
async fn healthz_never_runs_claude() {
    let (sandbox, claude) = setup();
    let argv_log = sandbox.dir.path().join("argv.jsonl");
    let argv_path = argv_log.to_str().unwrap();
    let server = serve_claude(
        &sandbox,
        &claude,
        &[
            ("FAKE_CLAUDE_ARGV_LOG", argv_path),
            // The only periodic runs left are the 30 s login refresh and this poll.
            ("CLAUSTER_CLAUDE_AGENTS_JSON_POLL_INTERVAL_SECONDS", "3600"),
        ],
    );
    let url = format!("{}/healthz", server.base);
    let invocations = || {
        std::fs::read_to_string(&argv_log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    // Wait for the first agents poll, and for the startup probe to finish: its four commands
    // run concurrently and `claude_ok` is set once all of them ended, which may be after the
    // poll began (it does not wait for the probe).
    let polled = wait_for(Duration::from_secs(20), || {
        let log = std::fs::read_to_string(&argv_log).unwrap_or_default();
        log.contains("\"agents\"").then_some(())
    });
    assert!(polled.is_some(), "{}", server.log());
    let probed = support::wait_for_async(Duration::from_secs(20), || async {
        let (_, health) = support::call(reqwest::Method::GET, &url, None).await;
        (health["claude_ok"] == true).then_some(())
    })
    .await;
    assert!(
        probed.is_some(),
        "the probe never finished:\n{}",
        server.log()
    );
    let before = invocations();
    for _ in 0..50 {
        let (status, body) = support::call(reqwest::Method::GET, &url, None).await;
        assert_eq!(status, 200);
        assert_eq!(body["claude_version"], "2.1.328");
    }
    let after = invocations();
    // At most the background login refresh can fall into the burst; 50 requests add none.
    assert!(
        after - before <= 1,
        "{} invocations during 50 /healthz requests:\n{}",
        after - before,
        std::fs::read_to_string(&argv_log).unwrap_or_default()
    );
}

/// One refused or failed command: its exit code, the stderr line it printed, and no stdout.
fn refused(out: &Output, code: i32, message: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("clauster: error: ") && stderr.contains(message),
        "expected {message:?} in {stderr:?}"
    );
}

#[test]
fn refusals_exit_2_failures_exit_1_and_change_nothing() {
    let (sandbox, claude) = setup();
    sandbox.project("beta", &[]);
    sandbox.project("gamma", &[".git"]);
    let gamma = sandbox.projects_root().join("gamma");
    let alpha = sandbox.projects_root().join("alpha");
    // Trust alpha and gamma (the helper writes the whole file, so both at once).
    let json = serde_json::json!({ "projects": {
        std::fs::canonicalize(&alpha).unwrap().to_string_lossy(): { "hasTrustDialogAccepted": true },
        std::fs::canonicalize(&gamma).unwrap().to_string_lossy(): { "hasTrustDialogAccepted": true },
    }});
    std::fs::write(sandbox.home().join(".claude.json"), json.to_string()).unwrap();
    let claude_path = claude.to_str().unwrap();
    let env = [
        ("CLAUSTER_CLAUDE_BINARY", claude_path),
        ("CLAUSTER_INSTANCE_DEFAULTS_MAX_BRIDGES", "1"),
    ];
    let _server = start_server(&sandbox, Some(&claude), &[], &env[1..]);
    let started = clauster(&sandbox, &["start", "alpha"], &env);
    support::assert_exit(&started, 0);
    let listing = || text(&clauster(&sandbox, &["status", "--json"], &env).stdout);
    let before = listing();

    refused(
        &clauster(&sandbox, &["start", "nope"], &env),
        2,
        "project 'nope' not found",
    );
    let untrusted = clauster(&sandbox, &["start", "beta"], &env);
    refused(&untrusted, 2, "not trusted");
    assert!(
        text(&untrusted.stderr).contains("add --trust"),
        "the refusal says how to trust from the command line: {}",
        text(&untrusted.stderr)
    );
    refused(
        &clauster(&sandbox, &["start", "gamma", "--mode", "sideways"], &env),
        2,
        "invalid value 'sideways' for '--mode <MODE>': use one of standard, pty",
    );
    refused(
        &clauster(
            &sandbox,
            &["start", "gamma", "--permission-mode", "yolo"],
            &env,
        ),
        2,
        "use one of default, plan, acceptEdits, auto, dontAsk, bypassPermissions, inherit",
    );
    refused(
        &clauster(
            &sandbox,
            &["start", "gamma", "--permission-mode", "bypassPermissions"],
            &env,
        ),
        2,
        "bypassPermissions is not enabled for project 'gamma'",
    );
    // The cap of one running bridge: attempted and failed.
    let capped = clauster(&sandbox, &["start", "gamma"], &env);
    support::assert_exit(&capped, 1);
    assert_eq!(text(&capped.stdout), "");
    for verb in ["stop", "resume", "forget", "open", "logs"] {
        refused(&clauster(&sandbox, &[verb, "nope"], &env), 2, "nope");
    }
    // A live bridge cannot be forgotten: exit 1.
    refused(&clauster(&sandbox, &["forget", "alpha"], &env), 1, "");
    // An already running bridge is not an error.
    let again = support::stdout_after(&clauster(&sandbox, &["start", "alpha"], &env), 0);
    assert!(again.starts_with("already running: "), "{again}");
    assert_eq!(listing(), before, "refusals changed the instances");
    assert!(!gamma.join(".fake-claude.json").exists());

    // forget --json after a stop: the API's answer.
    support::assert_exit(&clauster(&sandbox, &["stop", "alpha"], &env), 0);
    let forgot = clauster(&sandbox, &["forget", "alpha", "--json"], &env);
    support::assert_exit(&forgot, 0);
    let answer: Value = serde_json::from_slice(&forgot.stdout).unwrap();
    assert_eq!(answer["forgotten"], true, "{answer}");
    let empty = clauster(&sandbox, &["status"], &env);
    assert_eq!(empty.status.code(), Some(0));
    assert_eq!(text(&empty.stdout), "");
    assert_eq!(text(&empty.stderr), "No bridge instances.\n");
}

#[test]
fn an_empty_projects_root_says_so_on_stderr() {
    let sandbox = Sandbox::with_projects_root();
    let out = clauster(&sandbox, &["projects"], &[]);
    support::assert_exit(&out, 0);
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), "No projects found.\n");
    let json = clauster(&sandbox, &["projects", "--json"], &[]);
    assert_eq!(text(&json.stdout), "[]\n");
}

#[test]
fn hash_token_and_hash_metrics_token_print_a_token_and_its_config_line() {
    let sandbox = Sandbox::new();
    for (verb, key) in [
        ("hash-token", "api_token_hash"),
        ("hash-metrics-token", "metrics_token_hash"),
    ] {
        let out = clauster(&sandbox, &[verb], &[]);
        support::assert_exit(&out, 0);
        let stdout = text(&out.stdout);
        let token = stdout.trim_end();
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(token.len() >= 32, "{token}");
        let hex = support::sha256_hex(token);
        assert_eq!(text(&out.stderr), format!("  {key}: {hex}\n"), "{verb}");
    }
}

#[test]
fn run_refuses_a_port_in_use_with_exit_2() {
    let sandbox = Sandbox::with_projects_root();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = clauster(&sandbox, &["run", "--port", &port], &[]);
    support::assert_exit(&out, 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "clauster: error: cannot listen on 127.0.0.1:{port}: "
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("; stop the program that uses it or set port to a free one"),
        "{stderr}"
    );
    assert!(!sandbox.state_dir().join("control.sock").exists());
}

#[test]
fn open_without_a_link_yet_is_exit_2() {
    let (sandbox, claude) = setup();
    let claude_path = claude.to_str().unwrap();
    let env = [
        ("CLAUSTER_CLAUDE_BINARY", claude_path),
        ("CLAUSTER_CLAUDE_READY_WAIT_SECONDS", "1"),
        ("FAKE_CLAUDE_MODE", "stall"),
    ];
    let _server = start_server(&sandbox, Some(&claude), &[], &env[1..]);
    let started = clauster(&sandbox, &["start", "alpha"], &env);
    support::assert_exit(&started, 0);
    assert!(text(&started.stdout).ends_with("status=starting\n"));
    refused(
        &clauster(&sandbox, &["open", "alpha"], &env),
        2,
        "no session URL available yet",
    );
    support::assert_exit(&clauster(&sandbox, &["stop", "alpha"], &env), 0);
}

/// `resume` with a project name that names two records is a usage error (exit 2), as for
/// `stop`, `forget`, `open` and `logs` (release review 11).
#[test]
fn resume_by_an_ambiguous_name_is_exit_2() {
    let (sandbox, claude) = setup();
    let claude_path = claude.to_str().unwrap();
    let env = [("CLAUSTER_CLAUDE_BINARY", claude_path)];
    let _server = start_server(&sandbox, Some(&claude), &[], &[]);
    for _ in 0..2 {
        support::assert_exit(&clauster(&sandbox, &["start", "alpha"], &env), 0);
        support::assert_exit(&clauster(&sandbox, &["stop", "alpha"], &env), 0);
    }
    let resumed = clauster(&sandbox, &["resume", "alpha"], &env);
    assert_eq!(resumed.status.code(), Some(2), "{}", text(&resumed.stderr));
    assert!(
        text(&resumed.stderr).contains("ambiguous 'alpha'"),
        "{}",
        text(&resumed.stderr)
    );
}
