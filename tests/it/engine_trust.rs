//! The engine's correctness under pressure (issue 14): one gate for every launch, rediscovery
//! that believes live processes, no blocking work on the supervisor, store failures that
//! surface, probes that are waited for and rerun, and stops that finish. Each test drives
//! `clauster run` with the fake `claude`, real locks (`flock`, an open SQLite write
//! transaction) and real signals.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use support::{
    KillOnDrop, Sandbox, Server, ServesApi, fake_claude, process_exists, serve_claude,
    start_server, trusted_project,
};
use support::{list_instances as list, wait_instance};

const ADOPT_FIRST: &str = "a standard bridge not started by Clauster is already running in 'alpha'; adopt it first (Adopt on its card, or POST /api/projects/alpha/adopt)";

/// A sandbox with the trusted git project `alpha` and the fake `claude`.
fn setup() -> (Sandbox, PathBuf, PathBuf) {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    let claude = fake_claude(&sandbox);
    (sandbox, alpha, claude)
}

/// [`setup`], served: the sandbox, alpha, the fake and the server.
fn serve_alpha() -> (Sandbox, PathBuf, PathBuf, Server) {
    let (sandbox, alpha, claude) = setup();
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    (sandbox, alpha, claude, server)
}

/// [`setup`] served with the fake recording every run's argv in `argv.jsonl`: the sandbox,
/// alpha, the fake, the argv log and the server.
fn serve_recording_argv() -> (Sandbox, PathBuf, PathBuf, PathBuf, Server) {
    let (sandbox, alpha, claude) = setup();
    let (server, argv_log) = support::serve_claude_recording(&sandbox, &claude, &[]);
    (sandbox, alpha, claude, argv_log, server)
}

/// Starts alpha's standard bridge, which must answer 201 `running`: its id and the answer.
async fn running_alpha(server: &Server) -> (String, Value) {
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(
        (status, &started["status"]),
        (201, &json!("running")),
        "{started}\n{}",
        server.log()
    );
    let id = started["instance_id"].as_str().unwrap().to_owned();
    (id, started)
}

/// Asserts that a start of `project` with `trust: true` answers with the running instance
/// `id` (200, `created: false`) instead of launching.
async fn assert_answers_with(server: &Server, project: &str, id: &str) {
    let (status, answer) = post(
        server,
        "/api/instances",
        Some(json!({ "project": project, "trust": true })),
    )
    .await;
    assert_eq!(
        (status, &answer["created"], &answer["instance_id"]),
        (200, &json!(false), &json!(id)),
        "{answer}"
    );
}

/// Starts alpha as a pty instance, which must answer 201 and come up running: its id and the
/// running instance.
async fn running_pty(server: &Server) -> (String, Value) {
    let (status, started) = post(
        server,
        "/api/instances",
        Some(json!({ "project": "alpha", "resume_mode": "pty" })),
    )
    .await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let running = wait_instance(server, &id, Duration::from_secs(20), |i| {
        i["status"] == "running"
    })
    .await;
    (id, running)
}

async fn get(server: &Server, id: &str) -> (u16, Value) {
    server.get(&format!("/api/instances/{id}")).await
}

async fn post(server: &Server, path: &str, body: Option<Value>) -> (u16, Value) {
    server.call(reqwest::Method::POST, path, body).await
}

async fn stop(server: &Server, id: &str) -> (u16, Value) {
    server.delete(&format!("/api/instances/{id}")).await
}

/// `GET path`, which must answer 200 within a second whatever the engine is doing: the JSON
/// answer. A late answer gets one more try, as the health prober allows a few: a loaded
/// machine stalls the server for a moment now and then, while an engine that waits on the
/// store or a lock (5 s) misses both.
async fn get_within_a_second(server: &Server, path: &str) -> Value {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let url = format!("{}{path}", server.base);
    let get = || async {
        let response = client.get(&url).send().await?;
        assert_eq!(response.status().as_u16(), 200);
        response.json::<Value>().await
    };
    match get().await {
        Err(late) if late.is_timeout() => get().await,
        answered => answered,
    }
    .unwrap_or_else(|e| panic!("GET {path} did not answer within 1 s: {e}"))
}

/// `/healthz` within a second.
async fn healthz_within_a_second(server: &Server) -> Value {
    get_within_a_second(server, "/healthz").await
}

/// Waits (≤ 20 s) until the server holds `lock_file` open: a launch has reached the
/// `~/.claude.json` lock and polls it.
async fn wait_until_waiting_for(server: &Server, lock_file: &Path) {
    let fds = format!("/proc/{}/fd", server.pid());
    let holds_it = || {
        std::fs::read_dir(&fds).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == lock_file))
        })
    };
    let waiting = support::wait_for_async(Duration::from_secs(20), || async {
        holds_it().then_some(())
    })
    .await;
    assert!(
        waiting.is_some(),
        "the launch never reached the lock\n{}",
        server.log()
    );
}

/// Until `pending` ends, `/healthz` and the list (of `listed` instances) answer within a
/// second each, checked every 100 ms; how many rounds they answered.
async fn answers_while<T>(
    server: &Server,
    pending: &tokio::task::JoinHandle<T>,
    listed: usize,
) -> u32 {
    let mut rounds = 0;
    while !pending.is_finished() {
        healthz_within_a_second(server).await;
        assert_eq!(list_within_a_second(server).await.len(), listed);
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rounds
}

/// `GET /api/instances` within a second.
async fn list_within_a_second(server: &Server) -> Vec<Value> {
    serde_json::from_value(get_within_a_second(server, "/api/instances").await)
        .expect("the list is an array")
}

/// The standard bridge launches the fake recorded (`FAKE_CLAUDE_ARGV_LOG`); probes excluded.
fn bridge_launches(argv_log: &Path) -> Vec<Vec<String>> {
    support::recorded_argv(argv_log, |l| {
        l["argv"][0] == "--remote-control"
            || (l["argv"][0] == "remote-control" && l["argv"][1] != "--help")
    })
}

/// A standard bridge started by hand in `project`, as an operator would outside Clauster.
fn hand_bridge(
    sandbox: &Sandbox,
    claude: &Path,
    project: &Path,
    debug: Option<&Path>,
) -> KillOnDrop {
    let mut cmd = sandbox.command(claude);
    cmd.args(["remote-control", "--name", "by-hand", "--spawn", "same-dir"])
        .current_dir(project);
    if let Some(debug) = debug {
        std::fs::write(debug, "").unwrap();
        cmd.arg("--debug-file").arg(debug);
    }
    support::spawn_logged(cmd, &sandbox.dir.path().join("by-hand.log"))
}

fn pointer_file(sandbox: &Sandbox, project: &Path) -> PathBuf {
    sandbox
        .claude_project_dir(project)
        .join("bridge-pointer.json")
}

fn read_pointer(sandbox: &Sandbox, project: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(pointer_file(sandbox, project)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Waits until the project's bridge pointer names `pid` (the bridge registered).
fn wait_pointer_names(sandbox: &Sandbox, project: &Path, pid: u32) {
    let named = support::wait_for(Duration::from_secs(10), || {
        read_pointer(sandbox, project)
            .filter(|p| p["pid"] == json!(pid))
            .map(drop)
    });
    assert!(named.is_some(), "the bridge {pid} wrote no pointer");
}

fn signal(pid: i64, sig: Signal) {
    kill(Pid::from_raw(i32::try_from(pid).unwrap()), sig).unwrap();
}

fn start_ticks(pid: u32) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit(')').next().unwrap();
    // Field 22 overall; the text after `)` starts at field 3.
    after.split_whitespace().nth(19).unwrap().parse().unwrap()
}

/// Asserts the stored `last_status` of instance `id`.
#[track_caller]
fn assert_last_status(sandbox: &Sandbox, id: &str, status: &str) {
    assert_eq!(stored(sandbox, id, "last_status").as_deref(), Some(status));
}

fn store_path(sandbox: &Sandbox) -> PathBuf {
    sandbox.state_dir().join("clauster.sqlite3")
}

fn stored(sandbox: &Sandbox, id: &str, column: &str) -> Option<String> {
    let conn = rusqlite::Connection::open(store_path(sandbox)).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(
        &format!("SELECT {column} FROM instances WHERE instance_id = ?1"),
        [id],
        |row| row.get::<_, Option<String>>(0),
    )
    .ok()
    .flatten()
}

/// Asserts that a start answered (`status`, `refused`) the adopt-first 409 and that nothing was
/// launched (the argv log has no bridge) nor recorded.
async fn assert_refused_adopt_first(
    server: &Server,
    status: u16,
    refused: &Value,
    argv_log: &Path,
) {
    assert_eq!(
        (status, &refused["detail"]),
        (409, &json!(ADOPT_FIRST)),
        "{refused}\n{}",
        server.log()
    );
    assert!(
        bridge_launches(argv_log).is_empty(),
        "launched beside the bridge started by hand: {:?}",
        bridge_launches(argv_log)
    );
    assert!(list(server).await.is_empty(), "a record was left behind");
}

/// Resumes instance `id`, which must launch a bridge (200 with `created: true`): the answer.
async fn resume_launching(server: &Server, id: &str) -> Value {
    let (status, resumed) = post(server, &format!("/api/instances/{id}/resume"), None).await;
    assert_eq!(
        (status, &resumed["created"]),
        (200, &json!(true)),
        "{resumed}\n{}",
        server.log()
    );
    resumed
}

fn kill_server(mut server: Server) {
    server.child.0.kill().unwrap();
    server.child.0.wait().unwrap();
}

// ---- defect 1 ---------------------------------------------------------------------------

/// Resume passes the same §6 gate as Start: a hand-started bridge in the project refuses it
/// with the adopt-first 409, and nothing is launched.
#[tokio::test]
async fn resume_beside_a_hand_started_bridge_is_refused_with_adopt_first() {
    let (sandbox, alpha, claude, argv_log, server) = serve_recording_argv();
    let (id, _) = running_alpha(&server).await;
    assert_eq!(stop(&server, &id).await.1["status"], "stopped");

    let by_hand = hand_bridge(&sandbox, &claude, &alpha, None);
    wait_pointer_names(&sandbox, &alpha, by_hand.0.id());

    for body in [None, Some(json!({ "fresh": true }))] {
        let (status, refused) = post(&server, &format!("/api/instances/{id}/resume"), body).await;
        assert_eq!(
            (status, &refused["detail"]),
            (409, &json!(ADOPT_FIRST)),
            "{refused}"
        );
    }
    assert_eq!(
        bridge_launches(&argv_log).len(),
        1,
        "only the first start launched"
    );
    assert_eq!(get(&server, &id).await.1["status"], "stopped");
}

// ---- defect 2 ---------------------------------------------------------------------------

/// The Python store as 1.3.2 leaves it, with one row naming `pid`.
fn write_python_store(sandbox: &Sandbox, id: &str, pid: u32) {
    std::fs::create_dir_all(sandbox.state_dir()).unwrap();
    let conn = rusqlite::Connection::open(sandbox.state_dir().join("clauster.db")).unwrap();
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    conn.execute_batch(
        "CREATE TABLE instances (
            id INTEGER PRIMARY KEY, instance_id VARCHAR(36), project_name VARCHAR NOT NULL,
            label VARCHAR, intentional_stop BOOLEAN, spawn_mode VARCHAR, permission_mode VARCHAR,
            resume_mode VARCHAR, sandbox_mode VARCHAR, worktree_name VARCHAR,
            bridge_pid INTEGER, bridge_start_ticks INTEGER, bridge_proc_start FLOAT,
            bridge_boot_id VARCHAR, keeper_pid INTEGER, keeper_start_ticks INTEGER,
            keeper_proc_start FLOAT, created_at DATETIME, updated_at DATETIME);",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO instances (instance_id, project_name, label, intentional_stop, spawn_mode,
            permission_mode, resume_mode, sandbox_mode, bridge_pid, bridge_start_ticks,
            bridge_boot_id, created_at, updated_at)
         VALUES (?1, 'alpha', 'alpha', 0, 'same-dir', 'default', 'standard', 'default', ?2, ?3,
            ?4, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        rusqlite::params![id, i64::from(pid), start_ticks(pid), boot_id.trim()],
    )
    .unwrap();
}

/// A row imported from the Python store is `stopped`; its bridge is alive, so it comes back
/// `running` on liveness alone, never meets the startup deadline, and Start/Resume return it
/// instead of launching a second bridge beside it.
#[tokio::test]
async fn a_live_bridge_recorded_stopped_comes_back_running_and_nothing_launches_beside_it() {
    let (sandbox, alpha, claude) = setup();
    let by_hand = hand_bridge(&sandbox, &claude, &alpha, None);
    let pid = by_hand.0.id();
    wait_pointer_names(&sandbox, &alpha, pid);
    let id = "0b6c7d8e-1f20-4a3b-9c4d-5e6f708192a3";
    write_python_store(&sandbox, id, pid);
    let (server, argv_log) = support::serve_claude_recording(
        &sandbox,
        &claude,
        &[
            ("CLAUSTER_CLAUDE_PTY_URL_TIMEOUT_SECONDS", "5"),
            ("CLAUSTER_CLAUDE_STARTUP_GRACE_SECONDS", "6"),
        ],
    );
    let (status, found) = get(&server, id).await;
    assert_eq!(status, 200, "{found}\n{}", server.log());
    assert_eq!(found["status"], "running", "{found}");
    assert_eq!(found["alive"], true);

    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(
        (status, &started["created"]),
        (200, &json!(false)),
        "{started}"
    );
    assert_eq!(started["instance_id"], id);
    let (status, resumed) = post(&server, &format!("/api/instances/{id}/resume"), None).await;
    assert_eq!(
        (status, &resumed["created"]),
        (200, &json!(false)),
        "{resumed}"
    );
    assert_eq!(resumed["instance_id"], id);
    assert!(
        bridge_launches(&argv_log).is_empty(),
        "{:?}",
        bridge_launches(&argv_log)
    );

    // Well past `launched_at + startup_grace_seconds`: still running, still alive.
    let changed = support::wait_for_async(Duration::from_secs(3), || async {
        let (_, now) = get(&server, id).await;
        (now["status"] != "running").then_some(now)
    })
    .await;
    assert!(changed.is_none(), "{changed:?}");
    assert!(
        process_exists(i64::from(pid)),
        "the imported bridge was killed"
    );
}

// ---- defect 3 ---------------------------------------------------------------------------

/// A `~/.claude.json` lock held by another process costs a start that must write trust 5 s
/// and a classified 503; the engine answers everyone else meanwhile, and nothing is launched.
#[tokio::test]
async fn a_held_claude_json_lock_gives_503_and_freezes_nothing() {
    let (sandbox, _alpha, claude) = setup();
    sandbox.project("beta", &[".git"]);
    let mut config: Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox.home().join(".claude.json")).unwrap(),
    )
    .unwrap();
    config["hasUsedRemoteControl"] = json!(true);
    config["remoteDialogSeen"] = json!(true);
    std::fs::write(sandbox.home().join(".claude.json"), config.to_string()).unwrap();
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let global = sandbox.home().join(".claude.json");
    let lock = support::torture::lock_claude_json(&sandbox.state_dir(), &global);
    let lock_file = support::torture::claude_json_lock(&sandbox.state_dir(), &global);

    let started = Instant::now();
    let start = tokio::spawn(server.post(
        "/api/instances",
        json!({ "project": "beta", "trust": true }),
    ));
    wait_until_waiting_for(&server, &lock_file).await;
    let health = healthz_within_a_second(&server).await;
    assert_eq!(health["status"], "ok");
    assert!(list_within_a_second(&server).await.is_empty());
    let (status, refused) = start.await.unwrap();
    assert_eq!(
        (status, &refused["detail"]),
        (503, &json!("~/.claude.json is locked by another process")),
        "{refused}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(list(&server).await.is_empty(), "nothing launched");

    lock.unlock().unwrap();
    let (status, body) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{body}");
}

// ---- defects 3 and 4 --------------------------------------------------------------------

/// The state database write-locked by another process (`BEGIN EXCLUSIVE`): mutating requests
/// answer 503 with the reason and change nothing; what the engine observes stays in memory,
/// raises `store_ok: false`, and is written once the store is free again.
#[tokio::test]
async fn a_locked_store_fails_requests_visibly_and_catches_up_afterwards() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    let beta = sandbox.project("beta", &[".git"]);
    std::fs::create_dir_all(sandbox.home()).unwrap();
    let key = |p: &Path| {
        std::fs::canonicalize(p)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let trusted = json!({ "projects": {
        key(&alpha): { "hasTrustDialogAccepted": true },
        key(&beta): { "hasTrustDialogAccepted": true },
    }});
    std::fs::write(sandbox.home().join(".claude.json"), trusted.to_string()).unwrap();
    let claude = fake_claude(&sandbox);
    let argv_log = sandbox.dir.path().join("argv.jsonl");
    let env = [("FAKE_CLAUDE_ARGV_LOG", argv_log.to_str().unwrap())];
    let server = start_server(&sandbox, Some(&claude), &[], &env);

    let (_, first) = server.start_bridge("alpha").await;
    let dead = first["instance_id"].as_str().unwrap().to_owned();
    assert_eq!(stop(&server, &dead).await.1["status"], "stopped");
    let (_, running) = server.start_bridge("beta").await;
    assert_eq!(running["status"], "running", "{running}");
    let live = running["instance_id"].as_str().unwrap().to_owned();
    let live_pid = running["bridge_pid"].as_i64().unwrap();
    assert_eq!(bridge_launches(&argv_log).len(), 2);

    let conn = rusqlite::Connection::open(store_path(&sandbox)).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();

    // A start: 503 with the reason; the engine answers others meanwhile; nothing launched.
    let start = tokio::spawn(server.post("/api/instances", json!({ "project": "alpha" })));
    // Throughout the start's wait for the store, the engine answers everyone else.
    let rounds = answers_while(&server, &start, 2).await;
    assert!(rounds > 0, "the start never waited for the store");
    let (status, refused) = start.await.unwrap();
    assert_eq!(status, 503, "{refused}");
    let detail = refused["detail"].as_str().unwrap();
    assert!(detail.contains("store"), "{detail}");
    assert_eq!(bridge_launches(&argv_log).len(), 2, "nothing launched");
    assert_eq!(list(&server).await.len(), 2, "no record kept");

    // A stop: 503, no signal sent. A forget: 503, the record stays.
    let (status, refused) = stop(&server, &live).await;
    assert_eq!(status, 503, "{refused}");
    assert!(process_exists(live_pid));
    assert_eq!(get(&server, &live).await.1["status"], "running");
    let (status, refused) = post(&server, &format!("/api/instances/{dead}/forget"), None).await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(get(&server, &dead).await.0, 200);

    // An observed transition: shown at once, `store_ok` false until it is written.
    signal(live_pid, Signal::SIGKILL);
    wait_instance(&server, &live, Duration::from_secs(10), |i| {
        i["status"] == "crashed"
    })
    .await;
    let unhealthy = support::wait_for_async(Duration::from_secs(5), || async {
        let health = healthz_within_a_second(&server).await;
        (health["store_ok"] == false).then_some(())
    })
    .await;
    assert!(unhealthy.is_some(), "store_ok stayed true");
    let (_, state) = server.get("/api/state").await;
    assert_eq!(state["health"]["store_ok"], false, "{}", state["health"]);

    conn.execute_batch("ROLLBACK").unwrap();
    let healthy = support::wait_for_async(Duration::from_secs(10), || async {
        let health = healthz_within_a_second(&server).await;
        (health["store_ok"] == true).then_some(())
    })
    .await;
    assert!(
        healthy.is_some(),
        "store_ok never came back\n{}",
        server.log()
    );
    assert_last_status(&sandbox, &live, "crashed");

    // Forget answered 2xx: it never comes back after a restart.
    let (status, body) = post(&server, &format!("/api/instances/{dead}/forget"), None).await;
    assert_eq!(status, 200, "{body}");
    kill_server(server);
    let server = start_server(&sandbox, Some(&claude), &[], &env);
    let listed = list(&server).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["instance_id"], live.as_str());
    assert_eq!(listed[0]["status"], "crashed");
}

// ---- defect 5 ---------------------------------------------------------------------------

/// A resume right after start-up waits for the capability probe (here slowed by a hanging
/// `auth status`), so it continues the conversation; a changed `claude` binary is probed again
/// before the next launch.
#[tokio::test]
async fn launches_wait_for_the_probe_and_a_changed_binary_is_probed_again() {
    let (sandbox, _alpha, claude, server) = serve_alpha();
    let (id, _) = running_alpha(&server).await;
    assert_eq!(stop(&server, &id).await.1["status"], "stopped");
    kill_server(server);

    let (server, argv_log) =
        support::serve_claude_recording(&sandbox, &claude, &[("FAKE_CLAUDE_AUTH_HANG", "1")]);
    // 200 whether or not it launched, as 1.3.2 answers (issue 18); `created` tells.
    let resumed = resume_launching(&server, &id).await;
    let launches = bridge_launches(&argv_log);
    assert_eq!(launches.len(), 1, "{launches:?}");
    assert!(
        launches[0].iter().any(|a| a == "--continue"),
        "the resume did not wait for the probe: {:?}",
        launches[0]
    );
    assert_eq!(resumed["status"], "running", "{resumed}");
    assert_eq!(stop(&server, &id).await.1["status"], "stopped");

    // Another `claude` at the same path: new inode and mtime, an older version whose
    // `remote-control` has no `--continue` (the probe runs in the state directory).
    std::fs::write(
        sandbox.state_dir().join(".fake-claude.json"),
        json!({ "help": "old", "version": "2.1.150" }).to_string(),
    )
    .unwrap();
    let target = std::fs::canonicalize(&claude).unwrap();
    let fresh_copy = claude.with_file_name("claude.new");
    // Copied by `cp`: a write descriptor of this process could be inherited by a process
    // another test forks meanwhile, and executing the copy would then fail with ETXTBSY.
    let copied = std::process::Command::new("cp")
        .arg(&target)
        .arg(&fresh_copy)
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::rename(&fresh_copy, &claude).unwrap();

    let (status, resumed) = post(&server, &format!("/api/instances/{id}/resume"), None).await;
    assert_eq!(status, 200, "{resumed}");
    let launches = bridge_launches(&argv_log);
    assert_eq!(launches.len(), 2, "{launches:?}");
    assert!(
        !launches[1].iter().any(|a| a == "--continue"),
        "the changed binary was not probed again: {:?}",
        launches[1]
    );
    let health = healthz_within_a_second(&server).await;
    assert_eq!(health["claude_version"], "2.1.150", "{health}");
}

// ---- defect 6 ---------------------------------------------------------------------------

/// Another `claude` in the directory of a pty bridge makes the transcript guess ambiguous:
/// the engine learns no conversation and says so.
#[tokio::test]
async fn a_pty_bridge_never_learns_another_processes_conversation() {
    let (sandbox, alpha, claude, server) = serve_alpha();
    let _by_hand = hand_bridge(&sandbox, &claude, &alpha, None);
    let (id, _) = running_pty(&server).await;

    // The hand-started process's conversation appears in the shared transcript directory.
    let transcripts = pointer_file(&sandbox, &alpha).with_file_name("");
    std::fs::create_dir_all(&transcripts).unwrap();
    let other = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    std::fs::write(
        transcripts.join(format!("{other}.jsonl")),
        "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"hi\"}}\n",
    )
    .unwrap();
    let said = support::wait_for(Duration::from_secs(10), || {
        server.log().contains("is ambiguous").then_some(())
    });
    assert!(
        said.is_some(),
        "the ambiguity was not reported\n{}",
        server.log()
    );
    assert_eq!(stored(&sandbox, &id, "claude_session_uuid"), None);
}

// ---- defect 7 ---------------------------------------------------------------------------

/// Forgetting a pty instance leaves the standard bridge pointer alone (§9.5).
#[tokio::test]
async fn forgetting_a_pty_instance_keeps_the_standard_pointer() {
    let (sandbox, alpha, _claude, server) = serve_alpha();
    let (_, standard) = server.start_bridge("alpha").await;
    let standard_id = standard["instance_id"].as_str().unwrap().to_owned();
    assert_eq!(stop(&server, &standard_id).await.1["status"], "stopped");
    let session = read_pointer(&sandbox, &alpha).unwrap()["sessionId"].clone();
    assert!(session.as_str().is_some_and(|s| !s.is_empty()), "{session}");

    let (pty_id, _) = running_pty(&server).await;
    assert_eq!(stop(&server, &pty_id).await.1["status"], "stopped");
    let (status, body) = post(&server, &format!("/api/instances/{pty_id}/forget"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        read_pointer(&sandbox, &alpha).unwrap()["sessionId"],
        session
    );
}

// ---- defect 8 ---------------------------------------------------------------------------

/// An adopted bridge's own debug log is read (a clean external stop is `stopped`) and its
/// path survives a restart of the server.
#[tokio::test]
async fn an_adopted_bridges_debug_log_is_parsed_and_kept_across_restarts() {
    let (sandbox, alpha, claude, server) = serve_alpha();
    let debug = sandbox.dir.path().join("by-hand.debug.log");
    let by_hand = hand_bridge(&sandbox, &claude, &alpha, Some(&debug));
    let pid = by_hand.0.id();
    wait_pointer_names(&sandbox, &alpha, pid);
    let (status, adopted) = post(&server, "/api/projects/alpha/adopt", None).await;
    assert_eq!(status, 201, "{adopted}");
    let id = adopted["instance_id"].as_str().unwrap().to_owned();
    let path = debug.to_string_lossy().into_owned();
    assert_eq!(adopted["bridge_debug_log_path"], path.as_str());

    kill_server(server);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (_, found) = get(&server, &id).await;
    assert_eq!(found["status"], "running", "{found}");
    assert_eq!(found["bridge_debug_log_path"], path.as_str(), "{found}");

    // SIGTERM from outside: the fake logs its clean shutdown and exits 0.
    signal(i64::from(pid), Signal::SIGTERM);
    let ended = wait_instance(&server, &id, Duration::from_secs(10), |i| {
        i["status"] != "running"
    })
    .await;
    assert_eq!(ended["status"], "stopped", "{ended}");
    assert_eq!(ended["intentional_stop"], false);
}

// ---- defect 9 ---------------------------------------------------------------------------

/// §11 step 3: a row left `starting` without a pid (the server died between persisting it and
/// launching) comes back as a launch failure, not as `stopped`.
#[tokio::test]
async fn a_row_left_starting_without_a_pid_comes_back_as_a_launch_failure() {
    let (sandbox, _alpha, claude, server) = serve_alpha();
    assert!(list(&server).await.is_empty());
    kill_server(server);
    let id = "5c4d3e2f-1a0b-4c9d-8e7f-6a5b4c3d2e1f";
    let conn = rusqlite::Connection::open(store_path(&sandbox)).unwrap();
    conn.execute(
        "INSERT INTO instances (instance_id, project, label, resume_mode, spawn_mode,
            permission_mode, sandbox_mode, intentional_stop, last_status, launched_at,
            log_stem, resumed_conversation, launch_count, created_at, updated_at)
         VALUES (?1, 'alpha', 'alpha', 'standard', 'same-dir', 'default', 'default', 0,
            'starting', '2026-01-01T00:00:00.000Z', 'alpha-1767225600000-1', 0, 1,
            '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
        [id],
    )
    .unwrap();
    drop(conn);

    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (status, found) = get(&server, id).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["status"], "error", "{found}");
    assert_eq!(found["error_kind"], "launch_failed");
    assert_eq!(
        found["error_detail"],
        "Clauster stopped before this bridge finished launching"
    );
    assert_eq!(found["error_hint"], "Resume starts it again.");
    assert_last_status(&sandbox, id, "error");
}

/// §11 step 3's exception: the server killed after the spawn but before the bridge's pid
/// reached the store (that write is queued). The bridge is found by its log set's
/// `--debug-file` and comes back running and stoppable, not left running in the dark.
#[tokio::test]
async fn a_launch_whose_pid_never_reached_the_store_is_found_by_its_debug_file() {
    let (sandbox, _alpha, claude, server) = serve_alpha();
    let (id, started) = running_alpha(&server).await;
    let pid = started["bridge_pid"].as_i64().unwrap();
    kill_server(server);
    // The row as the launch persisted it before the spawn (§6 step 16).
    let conn = rusqlite::Connection::open(store_path(&sandbox)).unwrap();
    let changed = conn
        .execute(
            "UPDATE instances SET bridge_pid = NULL, bridge_start_ticks = NULL,
                bridge_proc_start = NULL, bridge_boot_id = NULL, ready_at = NULL,
                last_status = 'starting'
             WHERE instance_id = ?1",
            [&id],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    assert!(process_exists(pid));

    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let back = wait_instance(&server, &id, Duration::from_secs(20), |i| {
        i["status"] == "running"
    })
    .await;
    assert_eq!(back["bridge_pid"].as_i64(), Some(pid), "{back}");
    assert_eq!(
        stored(&sandbox, &id, "CAST(bridge_pid AS TEXT)"),
        Some(pid.to_string())
    );
    let (status, stopped) = stop(&server, &id).await;
    assert_eq!(status, 200, "{stopped}");
    assert!(support::ends_within(pid, Duration::from_secs(10)));
}

/// The same for a resume stored as it was before a launch cleared the last launch's pids
/// (release review 8): the new stem with the old, dead pid. The dead pid does not stand for
/// the new bridge, which is found by its `--debug-file`.
#[tokio::test]
async fn a_resumed_launch_is_found_by_its_debug_file_despite_the_old_pid() {
    let (sandbox, alpha, claude, server) = serve_alpha();
    let (id, started) = running_alpha(&server).await;
    let old = started["bridge_pid"].as_i64().unwrap();
    let (status, stopped) = stop(&server, &id).await;
    assert_eq!(status, 200, "{stopped}");
    kill_server(server);
    let stem = "alpha-1796540005423-7";
    let conn = rusqlite::Connection::open(store_path(&sandbox)).unwrap();
    let changed = conn
        .execute(
            "UPDATE instances SET last_status = 'starting', log_stem = ?2, ready_at = NULL,
                ended_at = NULL, intentional_stop = 0
             WHERE instance_id = ?1",
            [id.as_str(), stem],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    assert_eq!(
        stored(&sandbox, &id, "CAST(bridge_pid AS TEXT)"),
        Some(old.to_string())
    );
    let debug = sandbox.state_dir().join("logs").join(format!("{stem}.log"));
    let bridge = hand_bridge(&sandbox, &claude, &alpha, Some(&debug));
    let pid = i64::from(bridge.0.id());

    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let back = wait_instance(&server, &id, Duration::from_secs(20), |i| {
        i["status"] == "running"
    })
    .await;
    assert_eq!(back["bridge_pid"].as_i64(), Some(pid), "{back}");
    let (status, stopped) = stop(&server, &id).await;
    assert_eq!(status, 200, "{stopped}");
    assert!(support::ends_within(pid, Duration::from_secs(10)));
}

// ---- also from reading ------------------------------------------------------------------

/// A continue launch that fails when the fresh relaunch is impossible (the project was
/// renamed meanwhile) ends persisted and published as `error`, never stuck `starting`.
#[tokio::test]
async fn a_fallback_that_cannot_relaunch_is_persisted_and_published() {
    let (sandbox, alpha, claude) = setup();
    let server = serve_claude(
        &sandbox,
        &claude,
        &[("CLAUSTER_CLAUDE_READY_WAIT_SECONDS", "1")],
    );
    let (_, started) = server.start_bridge("alpha").await;
    let id = started["instance_id"].as_str().unwrap().to_owned();
    assert_eq!(stop(&server, &id).await.1["status"], "stopped");
    std::fs::write(
        alpha.join(".fake-claude.json"),
        json!({ "mode": "stall" }).to_string(),
    )
    .unwrap();
    let resumed = resume_launching(&server, &id).await;
    assert_eq!(resumed["status"], "starting", "{resumed}");
    let pid = resumed["bridge_pid"].as_i64().unwrap();

    // Subscribed once its snapshot came (the server subscribes after the handshake).
    let (mut events, _) = support::open_events(&server).await;
    std::fs::rename(&alpha, alpha.with_file_name("alpha-renamed")).unwrap();
    // A clean exit before readiness: the continue failed, and no fresh start is possible.
    signal(pid, Signal::SIGTERM);
    let published = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let frame = support::next_frame(&mut events).await;
            if frame["type"] == "instance"
                && frame["instance"]["instance_id"] == id.as_str()
                && frame["instance"]["status"] == "error"
            {
                return frame;
            }
        }
    })
    .await;
    assert!(
        published.is_ok(),
        "the error was never published\n{}",
        server.log()
    );
    assert_last_status(&sandbox, &id, "error");
}

/// A Stop cut short by a SIGKILL of the server is completed by the next server.
#[tokio::test]
async fn a_stop_interrupted_by_a_killed_server_is_completed_after_restart() {
    let (sandbox, _alpha, claude) = setup();
    let server = serve_claude(
        &sandbox,
        &claude,
        &[
            ("FAKE_CLAUDE_IGNORE_SIGINT", "1"),
            ("CLAUSTER_CLAUDE_STOP_GRACE_SECONDS", "60"),
        ],
    );
    let (id, started) = running_alpha(&server).await;
    let pid = started["bridge_pid"].as_i64().unwrap();
    let _stop = tokio::spawn(server.delete(&format!("/api/instances/{id}")));
    wait_instance(&server, &id, Duration::from_secs(10), |i| {
        i["stopping"] == true
    })
    .await;
    kill_server(server);
    assert!(process_exists(pid));

    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let done = wait_instance(&server, &id, Duration::from_secs(20), |i| {
        i["status"] == "stopped"
    })
    .await;
    assert_eq!(done["intentional_stop"], true, "{done}");
    assert!(
        support::ends_within(pid, Duration::from_secs(10)),
        "the bridge outlived its completed stop"
    );
}

/// A pty instance whose keeper outlives its bridge is still live: Forget refuses it, and Stop
/// answers only once the keeper is gone.
#[tokio::test]
async fn a_lingering_keeper_keeps_a_pty_instance_live_until_stop_ends_it() {
    let (_sandbox, _alpha, _claude, server) = serve_alpha();
    let (id, running) = running_pty(&server).await;
    let keeper = running["keeper_pid"].as_i64().unwrap();
    let bridge = running["bridge_pid"].as_i64().unwrap();

    // The keeper frozen, its bridge killed: the bridge is gone, the keeper is not.
    signal(keeper, Signal::SIGSTOP);
    signal(bridge, Signal::SIGKILL);
    wait_instance(&server, &id, Duration::from_secs(10), |i| {
        i["status"] != "running"
    })
    .await;
    assert!(process_exists(keeper));
    let (status, refused) = post(&server, &format!("/api/instances/{id}/forget"), None).await;
    assert_eq!(status, 409, "{refused}");

    let (status, stopped) = stop(&server, &id).await;
    assert_eq!(status, 200, "{stopped}");
    assert!(
        !process_exists(keeper),
        "Stop answered while the keeper lived\n{}",
        server.log()
    );
    let (status, body) = post(&server, &format!("/api/instances/{id}/forget"), None).await;
    assert_eq!(status, 200, "{body}");
}

// ---- found by the torture test (issue 15) -----------------------------------------------

/// A Start gated while the project was free, whose blocking half (here: waiting for the
/// `~/.claude.json` lock) outlasts the registration of a bridge started by hand in the same
/// project, is refused with adopt-first at the spawn: nothing is launched and no record is
/// left behind.
#[tokio::test]
async fn a_bridge_started_by_hand_during_a_launch_stops_the_spawn() {
    let (sandbox, alpha, claude, argv_log, server) = serve_recording_argv();
    // The probe is done, so the launch reaches the lock at once.
    let probed = support::wait_for_async(Duration::from_secs(20), || async {
        let health = healthz_within_a_second(&server).await;
        health["claude_version"].as_str().map(drop)
    })
    .await;
    assert!(probed.is_some(), "the probe never finished");
    let global = sandbox.home().join(".claude.json");
    let lock = support::torture::lock_claude_json(&sandbox.state_dir(), &global);
    let lock_file = support::torture::claude_json_lock(&sandbox.state_dir(), &global);

    let start = tokio::spawn(server.post("/api/instances", json!({ "project": "alpha" })));
    // The start has passed the gate and waits for the lock (were the hand start earlier, the
    // gate itself would refuse and the test would pass without proving the spawn-time check).
    wait_until_waiting_for(&server, &lock_file).await;
    let by_hand = hand_bridge(&sandbox, &claude, &alpha, None);
    wait_pointer_names(&sandbox, &alpha, by_hand.0.id());
    lock.unlock().unwrap();

    let (status, refused) = start.await.unwrap();
    assert_refused_adopt_first(&server, status, &refused, &argv_log).await;
    kill_server(server);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    assert!(
        list(&server).await.is_empty(),
        "a record came back after a restart"
    );
}

/// A server started while another process holds the store write-locked for longer than its
/// busy wait still finds every stored instance once the lock is gone: rediscovery never
/// settles for an empty registry because one read failed.
#[tokio::test]
async fn a_server_started_on_a_locked_store_still_finds_its_bridges() {
    let (sandbox, _alpha, claude, server) = serve_alpha();
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["status"], "running", "{started}");
    let id = started["instance_id"].as_str().unwrap().to_owned();
    kill_server(server);

    let conn = rusqlite::Connection::open(store_path(&sandbox)).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    // The other process keeps the store for 7 s, longer than the server's 5 s busy wait:
    // the duration of the outside condition, not a wait for the server.
    tokio::time::sleep(Duration::from_secs(7)).await;
    conn.execute_batch("ROLLBACK").unwrap();
    let found = support::wait_for_async(Duration::from_secs(20), || async {
        let listed = server.get("/api/instances").await;
        (listed.0 == 200 && listed.1.as_array().is_some_and(|a| !a.is_empty())).then_some(listed.1)
    })
    .await;
    let found =
        found.unwrap_or_else(|| panic!("the running bridge was never listed\n{}", server.log()));
    assert_eq!(found[0]["instance_id"], id.as_str(), "{found:#}");
    assert_eq!(found[0]["status"], "running", "{found:#}");
}

// ---- found by the release-binary review (lane f1) ---------------------------------------

/// Step 9 compares directories, not names: a symlink alias of a running project and the new
/// name of a renamed project directory both answer with the running bridge (`created:
/// false`), even with `trust: true`; nothing is launched beside it.
#[tokio::test]
async fn an_alias_or_a_renamed_directory_never_gets_a_second_bridge() {
    let (sandbox, alpha, _claude, argv_log, server) = serve_recording_argv();
    let (id, _) = running_alpha(&server).await;

    let alias = sandbox.projects_root().join("alpha2");
    std::os::unix::fs::symlink(&alpha, &alias).unwrap();
    assert_answers_with(&server, "alpha2", &id).await;
    std::fs::remove_file(&alias).unwrap();

    std::fs::rename(&alpha, sandbox.projects_root().join("alpha-new")).unwrap();
    assert_answers_with(&server, "alpha-new", &id).await;
    assert_eq!(
        bridge_launches(&argv_log).len(),
        1,
        "{:?}",
        bridge_launches(&argv_log)
    );
}

/// A bridge started by hand that writes no pointer is still found, by its working directory:
/// Start answers adopt-first instead of launching a second bridge beside it.
#[tokio::test]
async fn a_hand_started_bridge_without_a_pointer_refuses_start_with_adopt_first() {
    let (sandbox, alpha, claude, argv_log, server) = serve_recording_argv();
    let mut cmd = sandbox.command(&claude);
    cmd.args(["remote-control", "--name", "by-hand", "--spawn", "same-dir"])
        .env("FAKE_CLAUDE_WRITE_POINTER", "0")
        .current_dir(&alpha);
    let by_hand = support::spawn_logged(cmd, &sandbox.dir.path().join("by-hand.log"));
    let pid = by_hand.0.id();
    let canonical = std::fs::canonicalize(&alpha).unwrap();
    let running = support::wait_for(Duration::from_secs(10), || {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
        (cwd == canonical && cmdline.split(|b| *b == 0).any(|a| a == b"remote-control"))
            .then_some(())
    });
    assert!(running.is_some(), "the bridge by hand never ran");

    let (status, refused) = server.start_bridge("alpha").await;
    assert_refused_adopt_first(&server, status, &refused, &argv_log).await;
    assert!(
        read_pointer(&sandbox, &alpha).is_none(),
        "the fake wrote a pointer"
    );
}

/// A live bridge whose row says `stopped` with `intentional_stop` set comes back `running`
/// with the flag cleared, so the restart after that does not take it for an interrupted Stop
/// and end it: restarts are idempotent.
#[tokio::test]
async fn a_live_bridge_recorded_intentionally_stopped_survives_two_restarts() {
    let (sandbox, _alpha, claude, server) = serve_alpha();
    let (id, started) = running_alpha(&server).await;
    let pid = started["bridge_pid"].as_i64().unwrap();
    kill_server(server);
    {
        let conn = rusqlite::Connection::open(store_path(&sandbox)).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let changed = conn
            .execute(
                "UPDATE instances SET last_status = 'stopped', intentional_stop = 1 \
                 WHERE instance_id = ?1",
                [&id],
            )
            .unwrap();
        assert_eq!(changed, 1);
    }

    for restart in 1..=2 {
        let server = start_server(&sandbox, Some(&claude), &[], &[]);
        let (status, found) = get(&server, &id).await;
        assert_eq!(status, 200, "{found}\n{}", server.log());
        assert_eq!(
            (
                &found["status"],
                &found["intentional_stop"],
                &found["stopping"]
            ),
            (&json!("running"), &json!(false), &json!(false)),
            "restart {restart}: {found}"
        );
        assert_eq!(
            stored(&sandbox, &id, "CAST(intentional_stop AS TEXT)").as_deref(),
            Some("0"),
            "restart {restart}"
        );
        kill_server(server);
        assert!(process_exists(pid), "restart {restart} ended the bridge");
    }
}

/// A `~/.claude.json` lock held by another process does not touch a launch that writes
/// nothing there (trusted, acknowledged): it starts at once. A launch that needs only the
/// best-effort acknowledgement starts with a warning; only a trust write is refused.
#[tokio::test]
async fn a_held_claude_json_lock_refuses_only_a_launch_that_must_write_trust() {
    let (sandbox, alpha, claude) = setup();
    let beta = sandbox.project("beta", &[".git"]);
    let gamma = sandbox.project("gamma", &[".git"]);
    let global = sandbox.home().join(".claude.json");
    let key = |p: &Path| {
        std::fs::canonicalize(p)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    std::fs::write(
        &global,
        json!({
            "projects": {
                key(&alpha): { "hasTrustDialogAccepted": true },
                key(&gamma): { "hasTrustDialogAccepted": true },
            },
            "hasUsedRemoteControl": true,
            "remoteDialogSeen": true,
        })
        .to_string(),
    )
    .unwrap();
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let lock = support::torture::lock_claude_json(&sandbox.state_dir(), &global);

    // Nothing to write: no wait for the lock, no warning.
    let began = Instant::now();
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    assert_eq!(started["warnings"], json!([]), "{started}");
    assert!(
        began.elapsed() < Duration::from_secs(4),
        "the start waited for the lock: {:?}",
        began.elapsed()
    );

    // A trust write must take the lock: 503, nothing launched.
    let (status, refused) = post(
        &server,
        "/api/instances",
        Some(json!({ "project": "beta", "trust": true })),
    )
    .await;
    assert_eq!(
        (status, &refused["detail"]),
        (503, &json!("~/.claude.json is locked by another process")),
        "{refused}"
    );

    // The acknowledgement is best effort (§6 step 12): a warning, and the launch goes on.
    let mut text: Value = serde_json::from_str(&std::fs::read_to_string(&global).unwrap()).unwrap();
    text["remoteDialogSeen"] = json!(false);
    std::fs::write(&global, text.to_string()).unwrap();
    let (status, started) = server.start_bridge("gamma").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    let warnings = started["warnings"].to_string();
    assert!(
        warnings.contains("could not enable Remote Control") && warnings.contains("locked"),
        "{started}"
    );
    let projects: Vec<Value> = list(&server)
        .await
        .iter()
        .map(|i| i["project"].clone())
        .collect();
    assert_eq!(projects, [json!("alpha"), json!("gamma")]);
    lock.unlock().unwrap();
    drop(beta);
}

/// A row whose project directory left `projects_root` comes back after a restart with the
/// notice that says so (bridges.md §11 step 4).
#[tokio::test]
async fn a_row_whose_project_left_the_root_gets_the_notice_after_a_restart() {
    let (sandbox, alpha, claude, server) = serve_alpha();
    let (id, started) = running_alpha(&server).await;
    assert_eq!(started["notice"], Value::Null, "{started}");
    kill_server(server);
    std::fs::rename(&alpha, sandbox.dir.path().join("elsewhere")).unwrap();

    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (status, found) = get(&server, &id).await;
    assert_eq!(status, 200, "{found}\n{}", server.log());
    assert_eq!(
        (&found["status"], &found["notice"]),
        (
            &json!("running"),
            &json!("project directory is no longer under projects_root")
        ),
        "{found}"
    );
}

/// A pty instance whose conversation is unknown resumes with `--continue` only while no
/// other `claude` works in its directory; with one there (whose conversation `--continue`
/// could pick), it starts a new conversation and the warning says why (bridges.md §9.2).
#[tokio::test]
async fn a_pty_resume_never_continues_a_shared_directorys_newest_conversation() {
    let (sandbox, alpha, claude, argv_log, server) = serve_recording_argv();
    let by_hand = hand_bridge(&sandbox, &claude, &alpha, None);
    wait_pointer_names(&sandbox, &alpha, by_hand.0.id());
    let (id, _) = running_pty(&server).await;
    assert_eq!(stop(&server, &id).await.1["status"], "stopped");
    assert_eq!(stored(&sandbox, &id, "claude_session_uuid"), None);

    let resumed = resume_launching(&server, &id).await;
    let warnings = resumed["warnings"].to_string();
    assert!(
        warnings.contains("is not known and another claude process"),
        "{resumed}"
    );
    let launches = bridge_launches(&argv_log);
    let last = launches.last().expect("the resume launched");
    assert!(
        !last.iter().any(|a| a == "--continue" || a == "--resume"),
        "{last:?}"
    );
    assert_eq!(resumed["resumed_conversation"], false, "{resumed}");
}

/// A Start or a Resume while a Stop is ending the project's bridge answers 409 "is stopping",
/// never "already running" with a bridge about to be gone (second release review); once the
/// stop has finished, a Start launches.
#[tokio::test]
async fn a_start_or_resume_during_a_stop_is_refused_until_it_has_stopped() {
    let (sandbox, _alpha, claude) = setup();
    // A bridge that ignores SIGINT and SIGTERM: its stop takes the grace and the escalation.
    let server = serve_claude(&sandbox, &claude, &[("FAKE_CLAUDE_IGNORE_SIGINT", "1")]);
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}");
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let stopping = tokio::spawn(server.delete(&format!("/api/instances/{id}")));
    wait_instance(&server, &id, Duration::from_secs(10), |i| {
        i["stopping"] == true
    })
    .await;
    let (status, refused) =
        post(&server, "/api/instances", Some(json!({"project": "alpha"}))).await;
    assert_eq!(status, 409, "{refused}");
    support::assert_field_contains(&refused, "detail", "is stopping");
    let (status, refused) = post(&server, &format!("/api/instances/{id}/resume"), None).await;
    assert_eq!(status, 409, "{refused}");
    let (status, stopped) = stopping.await.expect("the stop request");
    assert_eq!(
        (status, &stopped["status"]),
        (200, &json!("stopped")),
        "{stopped}"
    );
    let (status, again) = server.start_bridge("alpha").await;
    assert_eq!((status, &again["created"]), (201, &json!(true)), "{again}");
}
