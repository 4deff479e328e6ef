//! Restart policy, crash-loop stop and keep-running (issue 25, bridges.md §7.9 and §11.1),
//! through `clauster run` and the fake `claude`: real SIGKILLs of bridges and of the server,
//! deadlines instead of timings (the backoff is made short through `clauster.yml`).

use crate::support;

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use support::torture::{crowded_dirs, standard_bridges};
use support::{Sandbox, Server, ServesApi, fake_claude, process_exists, start_server};
use support::{instance, list_instances as instances, wait_instance};

/// Short backoffs so a test sees several restarts within seconds.
const FAST: &str =
    "instance_defaults:\n  restart_backoff_seconds: 0.1\n  restart_backoff_max_seconds: 0.4\n";

/// A sandbox with trusted projects `names` and the fake `claude`; `yaml` is `clauster.yml`.
fn setup(names: &[&str], yaml: &str) -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    let dirs: Vec<PathBuf> = names.iter().map(|n| sandbox.project(n, &[])).collect();
    std::fs::create_dir_all(sandbox.home()).unwrap();
    let projects: serde_json::Map<String, Value> = dirs
        .iter()
        .map(|d| {
            (
                std::fs::canonicalize(d)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                json!({"hasTrustDialogAccepted": true}),
            )
        })
        .collect();
    std::fs::write(
        sandbox.home().join(".claude.json"),
        json!({ "projects": projects }).to_string(),
    )
    .unwrap();
    support::write_config(&sandbox, yaml);
    let claude = fake_claude(&sandbox);
    (sandbox, claude)
}

async fn set_policy(server: &Server, project: &str, body: Value) -> Value {
    let (status, policy) = server
        .call(
            reqwest::Method::PUT,
            &format!("/api/projects/{project}/policy"),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{policy}");
    policy
}

async fn policy(server: &Server, project: &str) -> Value {
    let (status, policy) = server.get(&format!("/api/projects/{project}/policy")).await;
    assert_eq!(status, 200, "{policy}");
    policy
}

async fn start(server: &Server, project: &str) -> Value {
    let (status, started) = server.start_bridge(project).await;
    assert_eq!(status, 201, "{started}");
    started
}

fn sigkill(pid: i64) {
    kill(Pid::from_raw(i32::try_from(pid).unwrap()), Signal::SIGKILL).unwrap();
}

fn kill_server(mut server: Server) {
    server.child.0.kill().unwrap();
    server.child.0.wait().unwrap();
}

fn wait_gone(pid: i64) {
    assert!(
        support::ends_within(pid, Duration::from_secs(10)),
        "process {pid} outlived its SIGKILL"
    );
}

/// The sandbox's live standard bridges, by project directory name.
fn bridges_of(sandbox: &Sandbox) -> Vec<(String, u32)> {
    let marker = sandbox.dir.path().to_string_lossy().into_owned();
    let bridges = standard_bridges(&marker);
    assert!(
        crowded_dirs(&bridges).is_empty(),
        "two bridges in one directory: {bridges:#?}"
    );
    let mut out: Vec<(String, u32)> = bridges
        .iter()
        .filter_map(|b| Some((b.cwd.file_name()?.to_str()?.to_owned(), b.pid)))
        .collect();
    out.sort();
    out
}

fn clauster(sandbox: &Sandbox, args: &[&str]) -> Output {
    support::run_clauster(sandbox, args, &[])
}

/// SIGKILL of a bridge of an `on-failure` project: it is running again with a new pid, and
/// `restarts` says 1 — in the instance JSON and in the pushed frames.
#[tokio::test]
async fn a_killed_bridge_of_an_on_failure_project_comes_back_with_one_restart() {
    let (sandbox, claude) = setup(&["alpha"], FAST);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let before = policy(&server, "alpha").await;
    assert_eq!(
        before,
        json!({"project": "alpha", "restart": "never", "keep_running": false, "wanted": true})
    );
    let set = set_policy(&server, "alpha", json!({"restart": "on-failure"})).await;
    assert_eq!(set["restart"], "on-failure", "{set}");
    assert_eq!(set["keep_running"], false, "{set}");

    let started = start(&server, "alpha").await;
    assert_eq!(started["status"], "running", "{started}");
    assert_eq!(started["restarts"], 0, "{started}");
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let first = started["bridge_pid"].as_i64().unwrap();

    // Subscribed once its snapshot came (the server subscribes after the handshake): no frame
    // of the crash is missed.
    let (mut events, _) = support::open_events(&server).await;
    sigkill(first);
    let back = wait_instance(&server, &id, Duration::from_secs(30), |i| {
        i["status"] == "running" && i["bridge_pid"].as_i64() != Some(first)
    })
    .await;
    assert_eq!(back["restarts"], 1, "{back:#}");
    assert_eq!(back["next_restart_at"], Value::Null, "{back:#}");
    assert_eq!(back["launch_count"], 2, "{back:#}");
    assert!(!process_exists(first));
    assert_eq!(bridges_of(&sandbox).len(), 1);

    // The frames carried the crash with its scheduled restart, then the restarted bridge.
    let mut saw_pending = false;
    let mut saw_restarted = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(saw_pending && saw_restarted) && Instant::now() < deadline {
        let Some(frame) = support::next_frame_within(&mut events, Duration::from_secs(5)).await
        else {
            break;
        };
        if frame["type"] != "instance" || frame["instance"]["instance_id"] != id.as_str() {
            continue;
        }
        let pushed = &frame["instance"];
        if pushed["status"] == "crashed" && pushed["next_restart_at"].is_string() {
            saw_pending = true;
        }
        if pushed["status"] == "running" && pushed["restarts"] == 1 {
            saw_restarted = true;
        }
    }
    assert!(
        saw_pending,
        "no frame showed the crash with next_restart_at"
    );
    assert!(
        saw_restarted,
        "no frame showed the restarted bridge with restarts 1"
    );
}

/// A bridge that fails at every launch: five failures within the window end as `error` /
/// `crash_loop` with the count and claude's last words, a `crash-loop` webhook event is
/// sent, and nothing is launched any more.
#[tokio::test]
async fn a_crash_mode_bridge_ends_in_a_crash_loop_after_five_tries() {
    let sink = support::sink::Sink::start(support::sink::Mode::Ok).await;
    let yaml = format!(
        "{FAST}  restart: on-failure\nwebhooks:\n  enabled: true\n  urls: ['{}/hook']\n  events: {{crash-loop: true, spawn: false, ready: false, stop: false, crash: false}}\n",
        sink.base
    );
    let (sandbox, claude) = setup(&["alpha"], &yaml);
    let (server, argv_log) =
        support::serve_claude_recording(&sandbox, &claude, &[("FAKE_CLAUDE_MODE", "crash")]);
    let started = start(&server, "alpha").await;
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let looped = wait_instance(&server, &id, Duration::from_mins(1), |i| {
        i["error_kind"] == "crash_loop"
    })
    .await;
    assert_eq!(looped["status"], "error", "{looped:#}");
    assert_eq!(looped["launch_count"], 5, "five tries: {looped:#}");
    assert_eq!(looped["restarts"], 4, "{looped:#}");
    assert_eq!(looped["next_restart_at"], Value::Null, "{looped:#}");
    let detail = looped["error_detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("stopped restarting after 5 failures within 600 s (4 automatic restarts); claude's last words: "),
        "{detail}"
    );
    support::assert_field_contains(&looped, "error_hint", "Resume");

    let launches = || {
        std::fs::read_to_string(&argv_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"remote-control\"") && !l.contains("--help"))
            .count()
    };
    let seen = launches();
    // Ten times the longest backoff passes without another launch.
    let more = support::wait_for(Duration::from_secs(4), || (launches() > seen).then_some(()));
    assert!(
        more.is_none(),
        "a launch after the crash loop:\n{}",
        server.log()
    );
    let after = instance(&server, &id).await;
    assert_eq!(after["launch_count"], 5, "{after:#}");

    let received = sink.wait_for(1, Duration::from_secs(30)).await;
    let crash_loop = support::wait_for(Duration::from_secs(30), || {
        sink.received()
            .into_iter()
            .map(|r| r.json())
            .find(|body| body["event"] == "crash-loop")
    });
    let crash_loop = crash_loop.unwrap_or_else(|| panic!("no crash-loop event: {received:?}"));
    assert_eq!(crash_loop["error_kind"], "crash_loop", "{crash_loop:#}");
}

/// A user's Stop is never followed by a restart, and makes the project unwanted until the
/// next Start; the policy stays as it was.
#[tokio::test]
async fn a_users_stop_never_restarts_and_a_start_wants_the_project_again() {
    let (sandbox, claude) = setup(&["alpha"], FAST);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    set_policy(
        &server,
        "alpha",
        json!({"restart": "on-failure", "keep_running": true}),
    )
    .await;
    let started = start(&server, "alpha").await;
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let pid = started["bridge_pid"].as_i64().unwrap();
    let (status, stopped) = server.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(status, 200, "{stopped}");
    wait_gone(pid);
    let stopped = wait_instance(&server, &id, Duration::from_secs(10), |i| {
        i["status"] == "stopped"
    })
    .await;
    assert_eq!(stopped["next_restart_at"], Value::Null, "{stopped:#}");
    assert_eq!(stopped["restarts"], 0, "{stopped:#}");
    assert_eq!(
        policy(&server, "alpha").await,
        json!({"project": "alpha", "restart": "on-failure", "keep_running": true, "wanted": false})
    );
    // Ten times the longest backoff: still stopped, nothing launched.
    let relaunched = support::wait_for(Duration::from_secs(4), || {
        (!bridges_of(&sandbox).is_empty()).then_some(())
    });
    assert!(
        relaunched.is_none(),
        "a bridge came back after a user's Stop"
    );
    // Kept but unwanted: a by-hand bring-up leaves it alone.
    let (status, kept) = server.post_empty("/api/kept/start").await;
    assert_eq!((status, kept), (200, json!({"projects": []})));

    let (status, resumed) = server
        .post_empty(&format!("/api/instances/{id}/resume"))
        .await;
    assert!(status == 200 || status == 201, "{resumed}");
    assert_eq!(policy(&server, "alpha").await["wanted"], true);
}

/// The "reboot": the server and every bridge SIGKILLed, then Clauster starts again. The kept
/// projects (`alpha`, `beta`) are running again, each once, resumed as their own instance;
/// `gamma` (not kept) and `delta` (kept, stopped by its user) stay down. A second restart
/// with the bridges alive launches nothing.
#[tokio::test]
async fn a_reboot_brings_the_kept_projects_back_each_once() {
    let names = ["alpha", "beta", "gamma", "delta"];
    let (sandbox, claude) = setup(&names, "");
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let mut ids = Vec::new();
    for name in names {
        if name != "gamma" {
            set_policy(&server, name, json!({"keep_running": true})).await;
        }
        let started = start(&server, name).await;
        assert_eq!(started["status"], "running", "{started}");
        ids.push(started["instance_id"].as_str().unwrap().to_owned());
    }
    let (status, _) = server.delete(&format!("/api/instances/{}", ids[3])).await;
    assert_eq!(status, 200);
    wait_instance(&server, &ids[3], Duration::from_secs(10), |i| {
        i["status"] == "stopped"
    })
    .await;
    let pids: Vec<u32> = bridges_of(&sandbox).iter().map(|(_, pid)| *pid).collect();
    assert_eq!(pids.len(), 3, "{:?}", bridges_of(&sandbox));

    // The reboot.
    kill_server(server);
    for pid in &pids {
        sigkill(i64::from(*pid));
    }
    for pid in &pids {
        wait_gone(i64::from(*pid));
    }
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    for id in &ids[..2] {
        let back = wait_instance(&server, id, Duration::from_secs(30), |i| {
            i["status"] == "running"
        })
        .await;
        assert!(
            !pids.contains(&u32::try_from(back["bridge_pid"].as_i64().unwrap()).unwrap()),
            "{back:#}"
        );
    }
    let listed = instances(&server).await;
    assert_eq!(listed.len(), 4, "one instance per project: {listed:#?}");
    let status_of = |id: &str| {
        listed
            .iter()
            .find(|i| i["instance_id"] == id)
            .map(|i| i["status"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(status_of(&ids[2]).as_deref(), Some("stopped"));
    assert_eq!(status_of(&ids[3]).as_deref(), Some("stopped"));
    let up: Vec<String> = bridges_of(&sandbox).into_iter().map(|(p, _)| p).collect();
    assert_eq!(up, ["alpha", "beta"]);

    // A restart with the bridges alive: rediscovery keeps them, nothing is launched beside.
    let running: Vec<(String, u32)> = bridges_of(&sandbox);
    kill_server(server);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    for id in &ids[..2] {
        wait_instance(&server, id, Duration::from_secs(30), |i| {
            i["status"] == "running"
        })
        .await;
    }
    let (status, kept) = server.post_empty("/api/kept/start").await;
    assert_eq!((status, kept), (200, json!({"projects": []})));
    assert_eq!(bridges_of(&sandbox), running);
}

/// `clauster policy` shows and changes a policy; `clauster start --all-kept` brings a kept
/// project whose bridge died (policy `never`, so no restart) back by hand.
#[tokio::test]
async fn clauster_policy_and_start_all_kept() {
    let (sandbox, claude) = setup(&["alpha"], "");
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let out = clauster(&sandbox, &["policy", "alpha"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "alpha: restart=never keep_running=no wanted=yes\n"
    );
    let out = clauster(
        &sandbox,
        &["policy", "alpha", "--keep-running", "yes", "--json"],
    );
    assert!(out.status.success(), "{out:?}");
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["keep_running"], true, "{shown}");
    let out = clauster(&sandbox, &["policy", "alpha", "--restart", "always"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("invalid restart policy 'always'; expected never or on-failure"),
        "{out:?}"
    );
    let out = clauster(&sandbox, &["policy", "alpha", "--keep-running", "maybe"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    let started = start(&server, "alpha").await;
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let pid = started["bridge_pid"].as_i64().unwrap();
    sigkill(pid);
    let crashed = wait_instance(&server, &id, Duration::from_secs(10), |i| {
        i["status"] == "crashed"
    })
    .await;
    assert_eq!(
        crashed["next_restart_at"],
        Value::Null,
        "policy never: {crashed:#}"
    );

    let out = clauster(&sandbox, &["start", "--all-kept"]);
    assert!(out.status.success(), "{out:?}\n{}", server.log());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!("started {} (alpha) status=", &id[..8])),
        "{stdout}"
    );
    wait_instance(&server, &id, Duration::from_secs(20), |i| {
        i["status"] == "running"
    })
    .await;
    assert_eq!(bridges_of(&sandbox).len(), 1);
    let out = clauster(&sandbox, &["start", "--all-kept"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "no kept project is waiting for a bridge\n"
    );
    assert_eq!(bridges_of(&sandbox).len(), 1);
}

/// `clauster start --all-kept` stops waiting for a kept project whose launch fails, and says
/// why (exit 1).
#[tokio::test]
async fn start_all_kept_names_why_a_launch_failed() {
    let (sandbox, claude) = setup(&["alpha"], "");
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let out = clauster(&sandbox, &["policy", "alpha", "--keep-running", "yes"]);
    assert!(out.status.success(), "{out:?}");
    let started = start(&server, "alpha").await;
    let id = started["instance_id"].as_str().unwrap().to_owned();
    sigkill(started["bridge_pid"].as_i64().unwrap());
    wait_instance(&server, &id, Duration::from_secs(10), |i| {
        i["status"] == "crashed"
    })
    .await;
    // From now on the project's bridge fails to authenticate at startup.
    std::fs::write(
        sandbox.projects_root().join("alpha/.fake-claude.json"),
        r#"{"mode": "stderr_error"}"#,
    )
    .unwrap();

    let out = clauster(&sandbox, &["start", "--all-kept"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}\n{}", server.log());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("clauster: alpha: no bridge came up: ")
            && stderr.contains("failed to authenticate bridge to controller (HTTP 401)"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(")\n") && stderr.lines().count() == 1,
        "one line: {stderr:?}"
    );
}

/// An automatic restart passes the spawn gate like a request (issue 25 §5): a bridge started
/// by hand in the directory during the backoff refuses it with adopt-first, shown as the
/// instance's notice, and no second bridge is launched beside the hand-started one.
#[tokio::test]
async fn an_automatic_restart_is_refused_beside_a_bridge_started_by_hand() {
    let (sandbox, claude) = setup(
        &["alpha"],
        "instance_defaults:\n  restart: on-failure\n  restart_backoff_seconds: 3\n  restart_backoff_max_seconds: 3\n",
    );
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let started = start(&server, "alpha").await;
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let pid = started["bridge_pid"].as_i64().unwrap();
    sigkill(pid);
    let pending = wait_instance(&server, &id, Duration::from_secs(10), |i| {
        i["status"] == "crashed" && i["next_restart_at"].is_string()
    })
    .await;
    assert_eq!(pending["restarts"], 0, "{pending:#}");

    // Within the backoff (at least 2.4 s), an operator starts claude by hand in alpha.
    let mut cmd = sandbox.command(&claude);
    cmd.args(["remote-control", "--name", "by-hand", "--spawn", "same-dir"])
        .current_dir(sandbox.projects_root().join("alpha"));
    let by_hand = support::spawn_logged(cmd, &sandbox.dir.path().join("by-hand.log"));
    let hand_pid = by_hand.0.id();

    let refused = wait_instance(&server, &id, Duration::from_secs(20), |i| {
        i["notice"]
            .as_str()
            .is_some_and(|n| n.starts_with("automatic launch refused: "))
    })
    .await;
    support::assert_field_contains(&refused, "notice", "adopt it first");
    assert_eq!(refused["status"], "crashed", "{refused:#}");
    assert_eq!(refused["next_restart_at"], Value::Null, "{refused:#}");
    assert_eq!(refused["launch_count"], 1, "{refused:#}");
    assert_eq!(bridges_of(&sandbox), [("alpha".to_owned(), hand_pid)]);
}

/// A pty bridge of an `on-failure` project: SIGKILL of the `claude` inside the keeper is a
/// crash, and the restart is a pty launch again (the mode is the instance's, never changed) —
/// a new keeper and claude, with `--continue` so the conversation goes on, `restarts` 1.
#[tokio::test]
async fn a_killed_pty_bridge_comes_back_in_pty_mode_with_continue() {
    let (sandbox, claude) = setup(&["alpha"], FAST);
    std::fs::write(
        sandbox.projects_root().join("alpha/.fake-claude.json"),
        json!({"mode": "pty_ready"}).to_string(),
    )
    .unwrap();
    let (server, argv_log) = support::serve_claude_recording(&sandbox, &claude, &[]);
    set_policy(&server, "alpha", json!({"restart": "on-failure"})).await;
    let (status, started) = server
        .post(
            "/api/instances",
            json!({"project": "alpha", "resume_mode": "pty"}),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let first = wait_instance(&server, &id, Duration::from_secs(30), |i| {
        i["status"] == "running" && i["bridge_pid"].is_i64()
    })
    .await;
    let (keeper, bridge) = (
        first["keeper_pid"].as_i64().unwrap(),
        first["bridge_pid"].as_i64().unwrap(),
    );

    sigkill(bridge);
    let back = wait_instance(&server, &id, Duration::from_secs(30), |i| {
        i["status"] == "running" && i["bridge_pid"].as_i64().is_some_and(|pid| pid != bridge)
    })
    .await;
    assert_eq!(back["restarts"], 1, "{back:#}");
    assert_eq!(back["resume_mode"], "pty", "{back:#}");
    let new_keeper = back["keeper_pid"]
        .as_i64()
        .expect("a keeper for the restart");
    assert_ne!(new_keeper, keeper);
    assert!(process_exists(new_keeper));
    wait_gone(keeper);

    let launches: Vec<Value> = std::fs::read_to_string(&argv_log)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["argv"][0] == "--remote-control")
        .collect();
    assert_eq!(launches.len(), 2, "{launches:#?}");
    assert!(
        launches[1]["argv"]
            .as_array()
            .unwrap()
            .iter()
            .any(|arg| arg == "--continue"),
        "the restart does not continue the conversation: {launches:#?}"
    );
    assert!(
        bridges_of(&sandbox).is_empty(),
        "a standard bridge was started"
    );
}
