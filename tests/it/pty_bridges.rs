//! pty bridges through the engine (bridges.md §2, §8, §9.2, §11; pty.md §5): `clauster run`
//! launching its own `__pty-keeper__`, the fake `claude` in its pty modes on a real PTY.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use support::{
    Sandbox, Server, ServesApi, call, fake_claude, process_exists, serve_claude, start_server,
    trusted_project, wait_for,
};

fn setup(mode: &str) -> (Sandbox, PathBuf, PathBuf) {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    std::fs::write(
        alpha.join(".fake-claude.json"),
        json!({ "mode": mode }).to_string(),
    )
    .unwrap();
    let claude = fake_claude(&sandbox);
    (sandbox, alpha, claude)
}

/// [`setup`] with the fake in `mode`, served with `env` on top: the sandbox, the fake and
/// the server.
fn serve_mode(mode: &str, env: &[(&str, &str)]) -> (Sandbox, PathBuf, Server) {
    let (sandbox, _alpha, claude) = setup(mode);
    let server = serve_claude(&sandbox, &claude, env);
    (sandbox, claude, server)
}

async fn start_pty(base: &str, body: Value) -> (u16, Value) {
    call(
        reqwest::Method::POST,
        &format!("{base}/api/instances"),
        Some(body),
    )
    .await
}

/// [`support::wait_instance`] with this file's 20 s deadline.
async fn wait_instance(server: &Server, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    support::wait_instance(server, id, Duration::from_secs(20), done).await
}

/// Starts alpha as a pty instance, which must answer 201, and waits until `done` holds: the
/// instance's id and the instance then.
async fn pty_instance_until(server: &Server, done: impl Fn(&Value) -> bool) -> (String, Value) {
    let (status, started) = start_pty(
        &server.base,
        json!({ "project": "alpha", "resume_mode": "pty" }),
    )
    .await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let instance = wait_instance(server, &id, done).await;
    (id, instance)
}

fn argv_lines(path: &Path) -> Vec<Vec<String>> {
    support::recorded_argv(path, |l| l["argv"][0] == "--remote-control")
}

#[tokio::test]
async fn a_pty_bridge_runs_under_its_keeper_and_stops_with_both_gone() {
    let (sandbox, _alpha, claude) = setup("pty_ready");
    let (server, argv_log) = support::serve_claude_recording(&sandbox, &claude, &[]);
    let (status, started) = start_pty(
        &server.base,
        json!({ "project": "alpha", "resume_mode": "pty", "spawn_mode": "worktree" }),
    )
    .await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    let id = started["instance_id"].as_str().unwrap().to_owned();
    assert_eq!(started["resume_mode"], "pty");
    let running = wait_instance(&server, &id, |i| i["status"] == "running").await;
    // The link comes from the rendered screen: the fragmented id, without the glued `on`.
    let url = running["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://claude.ai/code/session_01FAKEPTY"),
        "{url}"
    );
    assert_eq!(
        url.len(),
        "https://claude.ai/code/session_01FAKEPTY".len() + 17,
        "{url}"
    );
    let keeper = running["keeper_pid"].as_i64().expect("a keeper pid");
    let bridge = running["bridge_pid"]
        .as_i64()
        .expect("a bridge pid from the sidecar");
    assert_ne!(keeper, bridge);
    assert!(process_exists(keeper) && process_exists(bridge));
    let worktree = running["worktree_name"].as_str().unwrap().to_owned();
    assert_eq!(worktree, format!("clauster-{}", &id[..8]));
    let argv = argv_lines(&argv_log);
    assert_eq!(argv.len(), 1, "{argv:?}");
    assert_eq!(argv[0][1], "alpha");
    assert!(
        argv[0]
            .windows(2)
            .any(|w| w == ["--worktree", worktree.as_str()])
    );
    assert!(!argv[0].iter().any(|a| a == "--spawn" || a == "--capacity"));

    // Stop: two interrupts end the TUI; the keeper follows.
    let (status, stopped) = server.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(stopped["intentional_stop"], true);
    assert!(
        wait_for(Duration::from_secs(5), || {
            (!process_exists(keeper) && !process_exists(bridge)).then_some(())
        })
        .is_some()
    );

    // Resume: the same instance, the same worktree, `--continue` while the uuid is unknown.
    let (status, resumed) = server
        .post(
            &format!("/api/instances/{id}/resume"),
            json!({ "resume_mode": "standard" }),
        )
        .await;
    assert_eq!(status, 200, "{resumed}"); // 1.3.2 answers 200 (issue 18 reverses http-api.md §5)
    assert_eq!(resumed["instance_id"], id.as_str());
    assert_eq!(resumed["resume_mode"], "pty", "the recorded mode, always");
    wait_instance(&server, &id, |i| i["status"] == "running").await;
    let argv = argv_lines(&argv_log);
    assert_eq!(argv.len(), 2, "{argv:?}");
    assert!(argv[1].iter().any(|a| a == "--continue"), "{:?}", argv[1]);
    assert!(
        argv[1]
            .windows(2)
            .any(|w| w == ["--worktree", worktree.as_str()])
    );
    server.delete(&format!("/api/instances/{id}")).await;
}

#[tokio::test]
async fn several_pty_bridges_share_a_project() {
    let (_sandbox, _claude, server) = serve_mode("pty_contiguous", &[]);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, started) = start_pty(
            &server.base,
            json!({ "project": "alpha", "resume_mode": "pty" }),
        )
        .await;
        assert_eq!(status, 201, "{started}");
        assert_eq!(started["created"], true);
        assert!(
            started["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().contains("consider worktree")),
            "{started}"
        );
        ids.push(started["instance_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        wait_instance(&server, id, |i| i["status"] == "running").await;
    }
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn without_a_link_the_bridge_runs_with_a_notice_after_the_keeper_timeout() {
    let (_sandbox, _claude, server) = serve_mode(
        "pty_no_url",
        &[("CLAUSTER_CLAUDE_PTY_URL_TIMEOUT_SECONDS", "5")],
    );
    let (_, running) = pty_instance_until(&server, |i| i["status"] == "running").await;
    assert_eq!(running["url"], Value::Null);
    assert_eq!(
        running["notice"],
        "claude did not show a connect link; open claude.ai/code and pick the session named 'alpha'"
    );
}

#[tokio::test]
async fn a_trust_prompt_ends_in_error_and_the_bridge_is_ended() {
    let (_sandbox, _claude, server) = serve_mode("pty_trust_prompt", &[]);
    let (_, failed) = pty_instance_until(&server, |i| i["status"] == "error").await;
    assert_eq!(failed["error_kind"], "not_trusted", "{failed:#}");
    assert_eq!(failed["intentional_stop"], false);
    let keeper = failed["keeper_pid"].as_i64().unwrap();
    assert!(
        support::ends_within(keeper, Duration::from_secs(10)),
        "the keeper outlived the terminate"
    );
    if let Some(bridge) = failed["bridge_pid"].as_i64() {
        assert!(!process_exists(bridge));
    }
}

#[tokio::test]
async fn a_tui_that_cannot_connect_leaves_its_screen_as_the_error() {
    let (_sandbox, _claude, server) = serve_mode("pty_offline", &[]);
    let (_, failed) = pty_instance_until(&server, |i| i["status"] == "error").await;
    assert_eq!(failed["error_kind"], "offline", "{failed:#}");
    let detail = failed["error_detail"].as_str().unwrap();
    assert!(
        detail.contains("Unable to connect to Anthropic services"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_pty_bridge_survives_a_killed_server_and_is_found_again() {
    let (sandbox, claude, server) = serve_mode("pty_ready", &[]);
    let (id, before) = pty_instance_until(&server, |i| i["status"] == "running").await;
    drop(server); // SIGKILL

    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let after = wait_instance(&server, &id, |i| i["status"] == "running").await;
    assert_eq!(after["url"], before["url"]);
    assert_eq!(after["keeper_pid"], before["keeper_pid"]);
    assert_eq!(after["bridge_pid"], before["bridge_pid"]);
    let (status, stopped) = server.delete(&format!("/api/instances/{id}")).await;
    assert_eq!((status, &stopped["status"]), (200, &json!("stopped")));
    let keeper = before["keeper_pid"].as_i64().unwrap();
    assert!(support::ends_within(keeper, Duration::from_secs(5)));
}

#[tokio::test]
async fn the_real_claude_in_pty_mode_ends_in_a_classified_error_with_its_screen() {
    let real = crate::real_claude::real_claude();
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    let server = serve_claude(
        &sandbox,
        &real,
        &[("CLAUSTER_CLAUDE_PTY_URL_TIMEOUT_SECONDS", "20")],
    );
    let (_, failed) = pty_instance_until(&server, |i| i["status"] == "error").await;
    let kind = failed["error_kind"].as_str().unwrap();
    assert!(
        ["offline", "not_logged_in", "exited_early"].contains(&kind),
        "{failed:#}"
    );
    assert!(
        !failed["error_detail"]
            .as_str()
            .unwrap_or("")
            .trim()
            .is_empty(),
        "{failed:#}"
    );
}

#[tokio::test]
async fn the_live_terminal_streams_redacted_frames_until_the_bridge_ends() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let (sandbox, claude, server) = serve_mode(
        "pty_ready",
        &[("CLAUSTER_CLAUDE_PTY_SCREEN_ENABLED", "true")],
    );
    let (id, _) = pty_instance_until(&server, |i| i["status"] == "running").await;
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("{}/ws/pty-screen/{id}", server.ws))
            .await
            .unwrap();
    let mut last_seq = 0;
    let screen = loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket is open")
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        let seq = frame["seq"].as_u64().unwrap();
        assert!(seq > last_seq, "seq goes up");
        last_seq = seq;
        let rows: Vec<String> = frame["screen"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect();
        let text = rows.join("\n");
        if text.contains("remote-control is active") {
            break text;
        }
    };
    assert!(screen.contains("session_<redacted>"), "{screen}");
    assert!(!screen.contains("session_01FAKEPTY"), "{screen}");

    // Stop: the final frame, then 1000 `bridge ended`.
    server.delete(&format!("/api/instances/{id}")).await;
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Close(Some(frame)) = message {
                return (u16::from(frame.code), frame.reason.as_str().to_owned());
            }
        }
        (0, String::new())
    })
    .await
    .expect("closed after the stop");
    assert_eq!(closed, (1000, "bridge ended".to_owned()));

    // Off by configuration: 1008.
    drop(server);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("{}/ws/pty-screen/{id}", server.ws))
            .await
            .unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .unwrap();
    let Some(Ok(Message::Close(Some(frame)))) = refused else {
        panic!("expected a close frame, got {refused:?}");
    };
    assert_eq!(u16::from(frame.code), 1008);
}

#[tokio::test]
async fn resuming_one_of_two_same_dir_bridges_continues_its_own_conversation() {
    let (sandbox, alpha, claude) = setup("pty_contiguous");
    let agents_file = sandbox.dir.path().join("agents.json");
    std::fs::write(&agents_file, "[]").unwrap();
    let (server, argv_log) = support::serve_claude_recording(
        &sandbox,
        &claude,
        &[
            ("FAKE_CLAUDE_AGENTS_FILE", agents_file.to_str().unwrap()),
            ("CLAUSTER_CLAUDE_AGENTS_JSON_POLL_INTERVAL_SECONDS", "1"),
        ],
    );
    let mut bridges = Vec::new();
    for _ in 0..2 {
        let (id, running) = pty_instance_until(&server, |i| i["status"] == "running").await;
        bridges.push((id, running["bridge_pid"].as_i64().unwrap()));
    }
    // The agents poll tells which conversation each bridge runs; their transcripts exist.
    let canonical = std::fs::canonicalize(&alpha).unwrap();
    let transcripts = sandbox
        .home()
        .join(".claude/projects")
        .join(clauster_core::slug::slug(&canonical.to_string_lossy()));
    std::fs::create_dir_all(&transcripts).unwrap();
    let uuids = [
        "5f0c1e2d-0000-4000-8000-00000000000a",
        "5f0c1e2d-0000-4000-8000-00000000000b",
    ];
    let mut items = Vec::new();
    for ((_, pid), uuid) in bridges.iter().zip(uuids) {
        std::fs::write(transcripts.join(format!("{uuid}.jsonl")), "{}\n").unwrap();
        items.push(json!({ "pid": pid, "cwd": canonical, "startedAt": 1, "sessionId": uuid }));
    }
    std::fs::write(&agents_file, Value::Array(items).to_string()).unwrap();
    let tracked = format!("{}/api/sessions/tracked", server.base);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = call(reqwest::Method::GET, &tracked, None).await;
        if body.as_object().is_some_and(|m| m.len() == 2) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the poll never attributed both: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (a, _) = &bridges[0];
    server.delete(&format!("/api/instances/{a}")).await;
    let (status, resumed) = server
        .post_empty(&format!("/api/instances/{a}/resume"))
        .await;
    assert_eq!(status, 200, "{resumed}"); // 1.3.2 answers 200 (issue 18 reverses http-api.md §5)
    wait_instance(&server, a, |i| i["status"] == "running").await;
    let last = argv_lines(&argv_log).pop().unwrap();
    assert!(
        last.windows(2).any(|w| w == ["--resume", uuids[0]]),
        "{last:?}"
    );
    assert!(
        !last
            .iter()
            .any(|arg| arg == "--continue" || arg == uuids[1])
    );
}

#[tokio::test]
async fn a_lone_bridge_learns_its_conversation_from_the_transcript_it_created() {
    // bridges.md §9.2 source 3: no uuid in the argv (sidecar) and none from the agents poll
    // (it lists nothing), so only the transcript created after the launch names it.
    let (sandbox, alpha, claude) = setup("pty_contiguous");
    let (server, argv_log) = support::serve_claude_recording(
        &sandbox,
        &claude,
        &[
            ("FAKE_CLAUDE_TRANSCRIPT", "1"),
            ("FAKE_CLAUDE_AGENTS", "[]"),
        ],
    );
    let (id, _) = pty_instance_until(&server, |i| i["status"] == "running").await;
    let canonical = std::fs::canonicalize(&alpha).unwrap();
    let transcripts = sandbox
        .home()
        .join(".claude/projects")
        .join(clauster_core::slug::slug(&canonical.to_string_lossy()));
    let uuid = wait_for(Duration::from_secs(10), || {
        std::fs::read_dir(&transcripts)
            .ok()?
            .flatten()
            .find_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".jsonl")
                    .map(str::to_owned)
            })
    })
    .expect("the fake wrote its transcript");
    // The engine's tick picks it up (within a second or two when idle); a resume then names
    // it.
    wait_instance(&server, &id, |i| i["claude_session_uuid"] == uuid.as_str()).await;
    server.delete(&format!("/api/instances/{id}")).await;
    wait_instance(&server, &id, |i| i["status"] == "stopped").await;
    let (status, resumed) = server
        .post_empty(&format!("/api/instances/{id}/resume"))
        .await;
    assert_eq!(status, 200, "{resumed}"); // 1.3.2 answers 200 (issue 18 reverses http-api.md §5)
    wait_instance(&server, &id, |i| i["status"] == "running").await;
    let last = argv_lines(&argv_log).pop().unwrap();
    assert!(
        last.windows(2).any(|w| w == ["--resume", uuid.as_str()]),
        "{last:?}"
    );
    assert!(!last.iter().any(|arg| arg == "--continue"), "{last:?}");
}
