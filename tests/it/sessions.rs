//! Adoption, bridge pointers, the `claude agents --json` poll and background agents
//! (bridges.md §9.6, §17; http-api.md §6), through `clauster run` and the fake `claude`.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use support::{
    KillOnDrop, Sandbox, Server, ServesApi, call, fake_claude, serve_claude, start_server,
    trusted_project, wait_for,
};

fn pointer_file(sandbox: &Sandbox, project: &Path) -> PathBuf {
    sandbox
        .claude_project_dir(project)
        .join("bridge-pointer.json")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A standard bridge started by hand in `project`, the way an operator would outside
/// Clauster.
fn unmanaged_bridge(sandbox: &Sandbox, claude: &Path, project: &Path) -> KillOnDrop {
    let mut cmd = sandbox.command(claude);
    cmd.args(["remote-control", "--name", "by-hand", "--spawn", "worktree"])
        .current_dir(project);
    support::spawn_logged(cmd, &sandbox.dir.path().join("by-hand.log"))
}

#[tokio::test]
async fn an_unmanaged_bridge_must_be_adopted_and_then_is_managed() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    let beta = sandbox.project("beta", &[]);
    sandbox.trust(&alpha);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let by_hand = unmanaged_bridge(&sandbox, &claude, &alpha);
    let pointer = pointer_file(&sandbox, &alpha);
    assert!(
        wait_for(Duration::from_secs(10), || pointer.exists().then_some(())).is_some(),
        "the hand-started bridge wrote no pointer"
    );
    let adoptable = format!("{}/api/sessions/adoptable", server.base);
    assert_eq!(
        call(reqwest::Method::GET, &adoptable, None).await,
        (200, json!(["alpha"]))
    );
    let v1 = format!("{}/api/v1/sessions/adoptable", server.base);
    assert_eq!(
        call(reqwest::Method::GET, &v1, None).await,
        (200, json!(["alpha"]))
    );

    // A Start never adopts, and launches nothing.
    let (status, refused) = server.start_bridge("alpha").await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        refused["detail"],
        "a standard bridge not started by Clauster is already running in 'alpha'; adopt it first (Adopt on its card, or POST /api/projects/alpha/adopt)"
    );
    let instances = format!("{}/api/instances", server.base);
    assert_eq!(
        call(reqwest::Method::GET, &instances, None).await.1,
        json!([])
    );

    // Refusals of adopt itself.
    let adopt = |name: &str| format!("{}/api/projects/{name}/adopt", server.base);
    let (status, body) = call(reqwest::Method::POST, &adopt("beta"), None).await;
    assert_eq!(
        (status, &body["detail"]),
        (409, &json!("nothing to adopt in 'beta'"))
    );
    let (status, body) = call(reqwest::Method::POST, &adopt("gamma"), None).await;
    assert_eq!(
        (status, &body["detail"]),
        (404, &json!("project 'gamma' not found"))
    );
    let _ = beta;

    let (status, adopted) = call(reqwest::Method::POST, &adopt("alpha"), None).await;
    assert_eq!(status, 201, "{adopted}\n{}", server.log());
    assert_eq!(adopted["status"], "running");
    assert_eq!(adopted["label"], "alpha");
    assert_eq!(adopted["spawn_mode"], "worktree", "read from its argv");
    assert_eq!(adopted["permission_mode"], "inherit");
    assert_eq!(adopted["bridge_pid"], json!(by_hand.0.id()));
    let env = read_json(&pointer)["environmentId"].clone();
    assert_eq!(adopted["environment_id"], env);
    assert_eq!(
        adopted["url"],
        format!(
            "https://claude.ai/code?environment={}",
            env.as_str().unwrap()
        )
    );

    let (status, body) = call(reqwest::Method::POST, &adopt("alpha"), None).await;
    assert_eq!(
        (status, &body["detail"]),
        (
            409,
            &json!("'alpha' already has a standard bridge managed by Clauster")
        )
    );
    assert_eq!(
        call(reqwest::Method::GET, &adoptable, None).await,
        (200, json!([]))
    );

    // Managed now: Stop ends the hand-started process.
    let id = adopted["instance_id"].as_str().unwrap();
    let (status, stopped) = server.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["status"], "stopped");
    let pid = i64::from(by_hand.0.id());
    assert!(support::ends_within(pid, Duration::from_secs(5)));
}

#[tokio::test]
async fn forget_and_start_fresh_strip_the_pointer_session_but_never_a_live_one() {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let pointer = pointer_file(&sandbox, &alpha);
    let backup = pointer.with_file_name("bridge-pointer.json.bak");

    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}");
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let session = started["starter_session_id"].clone();
    // claude writes its pointer just after the banner that makes the bridge ready.
    let pointed = wait_for(Duration::from_secs(10), || {
        (pointer.exists() && read_json(&pointer)["sessionId"] == session).then_some(())
    });
    assert!(pointed.is_some(), "no pointer for {session}");

    // Start fresh on a dead card strips first (§9.4): claude then makes a new session.
    server.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(
        read_json(&pointer)["sessionId"],
        session,
        "stop leaves the pointer"
    );
    let (status, fresh) = server
        .post(
            &format!("/api/instances/{id}/resume"),
            json!({ "fresh": true }),
        )
        .await;
    // 200 whether or not it launched, as 1.3.2 answers (issue 18); `created` tells.
    assert_eq!((status, &fresh["created"]), (200, &json!(true)), "{fresh}");
    assert_eq!(
        read_json(&backup)["sessionId"],
        session,
        "backed up before the strip"
    );
    assert_eq!(fresh["status"], "running");
    let new_session = fresh["starter_session_id"].clone();
    assert_ne!(new_session, session);

    // The new bridge writes its pointer once it is up.
    let written = wait_for(Duration::from_secs(5), || {
        (read_json(&pointer)["sessionId"] == new_session).then_some(())
    });
    assert!(written.is_some(), "{}", read_json(&pointer));
    // Forget refuses a live row and touches nothing.
    let (status, _) = server
        .post_empty(&format!("/api/instances/{id}/forget"))
        .await;
    assert_eq!(status, 409);
    assert_eq!(read_json(&pointer)["sessionId"], new_session);

    server.delete(&format!("/api/instances/{id}")).await;
    let (status, forgotten) = server
        .post_empty(&format!("/api/instances/{id}/forget"))
        .await;
    assert_eq!((status, &forgotten["forgotten"]), (200, &json!(true)));
    let after = read_json(&pointer);
    assert_eq!(after["sessionId"], "");
    assert_eq!(
        after["environmentId"], started["environment_id"],
        "other fields kept"
    );
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The first `sessions` frame that attributes something to a bridge, within 10 s.
async fn first_sessions_frame_with_tracked(socket: &mut Socket) -> Value {
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Ok(text) = message.into_text() {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "sessions" && !frame["tracked"].as_object().unwrap().is_empty()
                {
                    return frame;
                }
            }
        }
        panic!("the socket closed");
    })
    .await
    .expect("a sessions frame within 10 s")
}

#[tokio::test]
async fn the_agents_poll_attributes_sessions_and_pushes_them() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    let beta = sandbox.project("beta", &[]);
    sandbox.trust(&alpha);
    let claude = fake_claude(&sandbox);
    let agents_file = sandbox.dir.path().join("agents.json");
    std::fs::write(&agents_file, "[]").unwrap();
    let server = serve_claude(
        &sandbox,
        &claude,
        &[
            ("FAKE_CLAUDE_AGENTS_FILE", agents_file.to_str().unwrap()),
            ("CLAUSTER_CLAUDE_AGENTS_JSON_POLL_INTERVAL_SECONDS", "1"),
        ],
    );
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}");
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let bridge_pid = started["bridge_pid"].as_i64().unwrap();

    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/events", server.ws))
        .await
        .unwrap();
    let alpha_dir = std::fs::canonicalize(&alpha).unwrap();
    let beta_dir = std::fs::canonicalize(&beta).unwrap();
    let items = json!({ "agents": [
        // The managed bridge's own session: tracked.
        { "pid": bridge_pid, "cwd": alpha_dir, "startedAt": 1_764_083_000_000_i64,
          "sessionId": "7d1c2b9e-0000-4000-8000-000000000001", "kind": "interactive" },
        // An interactive claude in beta that Clauster did not start: external.
        { "pid": 1, "cwd": beta_dir.join("src"), "startedAt": 1_764_083_000_001_i64,
          "sessionId": "7d1c2b9e-0000-4000-8000-000000000002" },
        // A background job: neither, but listed by /api/agents.
        { "pid": 1, "cwd": beta_dir, "startedAt": 1_764_083_000_002_i64,
          "sessionId": "7d1c2b9e-0000-4000-8000-000000000003", "kind": "background",
          "state": "running", "id": "3c509237", "name": "fix the build" },
        // Finished and incomplete items are dropped.
        { "pid": 1, "cwd": beta_dir, "startedAt": 1, "sessionId": "x", "state": "done" },
        { "cwd": beta_dir, "startedAt": 1, "sessionId": "y" }
    ]});
    std::fs::write(&agents_file, items.to_string()).unwrap();

    // Pushed: a `sessions` frame with the attribution.
    let frame = first_sessions_frame_with_tracked(&mut socket).await;
    let tracked = &frame["tracked"][&id];
    assert_eq!(tracked.as_array().unwrap().len(), 1, "{frame}");
    assert_eq!(tracked[0]["attribution"], "tracked");
    assert_eq!(tracked[0]["parent_instance"], id.as_str());
    assert_eq!(
        tracked[0]["local_uuid"],
        "7d1c2b9e-0000-4000-8000-000000000001"
    );
    assert_eq!(tracked[0]["started_at"], 1_764_083_000_000_i64);

    // And served.
    for prefix in ["/api", "/api/v1"] {
        let (status, external) = server.get(&format!("{prefix}/sessions")).await;
        assert_eq!(status, 200);
        assert_eq!(external.as_object().unwrap().len(), 1, "{external}");
        assert_eq!(external["beta"][0]["attribution"], "external");
        assert_eq!(external["beta"][0]["parent_instance"], Value::Null);
        let (_, tracked) = server.get(&format!("{prefix}/sessions/tracked")).await;
        assert_eq!(tracked[&id], frame["tracked"][&id]);
        let (_, agents) = server.get(&format!("{prefix}/agents")).await;
        assert_eq!(agents.as_array().unwrap().len(), 1, "{agents}");
        assert_eq!(agents[0]["id"], "3c509237");
        assert_eq!(agents[0]["name"], "fix the build");
        assert_eq!(
            agents[0]["session_id"],
            "7d1c2b9e-0000-4000-8000-000000000003"
        );
        assert_eq!(agents[0]["worker_pid"], 1);
    }

    // A poll that fails keeps the previous result.
    std::fs::write(&agents_file, "not json").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, tracked) = server.get("/api/sessions/tracked").await;
    assert_eq!(tracked[&id], frame["tracked"][&id]);
}

/// The trusted git project `alpha` beside the untrusted `beta`, served with the fake `claude`
/// recording every run's argv: the sandbox, the server and the argv log.
fn agents_world() -> (Sandbox, Server, PathBuf) {
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    sandbox.project("beta", &[]);
    let (server, argv_log) = support::serve_claude_recording(&sandbox, &fake_claude(&sandbox), &[]);
    (sandbox, server, argv_log)
}

#[tokio::test]
async fn background_agents_are_dispatched_stopped_and_refused_cleanly() {
    let (sandbox, server, argv_log) = agents_world();
    let alpha = sandbox.projects_root().join("alpha");
    let agents = format!("{}/api/agents", server.base);
    let (status, body) = call(
        reqwest::Method::POST,
        &agents,
        Some(json!({ "project": "alpha", "prompt": "fix the build", "model": "opus" })),
    )
    .await;
    assert_eq!((status, body), (201, json!({ "id": "3c509237" })));
    let logged = std::fs::read_to_string(&argv_log).unwrap();
    let bg: Value = logged
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["argv"][0] == "--bg")
        .expect("claude --bg ran");
    let argv: Vec<&str> = bg["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(argv, ["--bg", "--model", "opus", "--", "fix the build"]);
    assert_eq!(bg["cwd"], json!(std::fs::canonicalize(&alpha).unwrap()));

    let (status, body) = call(reqwest::Method::DELETE, &format!("{agents}/3c509237"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settled"], true);
    assert_eq!(body["removed"], true);
}

#[tokio::test]
async fn background_agent_refusals_run_nothing() {
    let (_sandbox, server, argv_log) = agents_world();
    let agents = format!("{}/api/agents", server.base);
    // The background probe runs claude too; only agent commands count here.
    let agent_runs = || {
        std::fs::read_to_string(&argv_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                let line: Value = serde_json::from_str(l).unwrap();
                ["--bg", "stop", "rm"].contains(&line["argv"][0].as_str().unwrap_or(""))
            })
            .count()
    };
    let before = agent_runs();
    let cases = [
        (
            json!({ "project": "alpha" }),
            422,
            "prompt is required unless rc_name is given",
        ),
        (
            json!({ "project": "beta", "prompt": "x" }),
            409,
            "directory not trusted",
        ),
        (
            json!({ "project": "nope", "prompt": "x" }),
            404,
            "project 'nope' not found",
        ),
        (
            json!({ "project": "alpha", "prompt": "x", "permission_mode": "bypassPermissions" }),
            403,
            "bypassPermissions is not enabled for project 'alpha'",
        ),
        (
            json!({ "project": "bad name!", "prompt": "x" }),
            422,
            "invalid project name",
        ),
        (
            json!({ "project": "alpha", "prompt": "x", "model": "--upload" }),
            422,
            "model must not start with '-'",
        ),
        (
            json!({ "project": "alpha", "prompt": "x", "extra": 1 }),
            422,
            "invalid request body: unknown field 'extra'; a dispatch has project, prompt",
        ),
        (
            json!(["nope", "hi", null, null, null]),
            422,
            "request body must be a JSON object",
        ),
        (
            json!({ "project": 5, "prompt": "x" }),
            422,
            "project must be a string",
        ),
        (json!({ "prompt": "x" }), 422, "project is required"),
        (
            json!({ "project": "alpha", "prompt": ["x"] }),
            422,
            "prompt must be a string",
        ),
    ];
    for (body, status, detail) in cases {
        let (got, answer) = call(reqwest::Method::POST, &agents, Some(body.clone())).await;
        assert_eq!(got, status, "{body} → {answer}");
        assert!(
            answer["detail"].as_str().unwrap().starts_with(detail),
            "{answer}"
        );
    }
    for bad in ["3C509237", "3c50923", "..%2F..%2Fx"] {
        let (got, answer) = call(reqwest::Method::DELETE, &format!("{agents}/{bad}"), None).await;
        assert_eq!(got, 422, "{bad} → {answer}");
    }
    let (got, _) = call(
        reqwest::Method::POST,
        &format!("{agents}/deadbeef/resume"),
        None,
    )
    .await;
    assert_eq!(got, 404, "an unknown job cannot be resumed");
    assert_eq!(agent_runs(), before);
}

/// A `claude` that cannot be run is reported once per change, not at every poll: once when
/// it goes missing, once when it answers again, once when it goes missing again.
#[tokio::test]
async fn a_missing_claude_is_logged_once_per_change() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    // Where the fake will be installed; nothing there yet.
    let claude = sandbox.dir.path().join("bin/claude");
    let server = serve_claude(
        &sandbox,
        &claude,
        &[
            ("CLAUSTER_CLAUDE_AGENTS_JSON_POLL_INTERVAL_SECONDS", "1"),
            ("CLAUSTER_LOG_LEVEL", "debug"),
        ],
    );
    let count = |needle: &str| server.log().matches(needle).count();
    let missing = "WARN clauster_server::engine::sessions: claude binary";
    let again = "still failing (reported above)";
    let answers = "`claude agents --json` answers again";
    // Polls until `needle` was logged `n` times.
    let wait_count = |needle: &str, n: usize| {
        let seen = wait_for(Duration::from_secs(30), || {
            (count(needle) >= n).then_some(())
        });
        assert!(
            seen.is_some(),
            "`{needle}` never logged {n} times:\n{}",
            server.log()
        );
    };

    wait_count(again, 3);
    assert_eq!(count(missing), 1, "{}", server.log());

    fake_claude(&sandbox);
    wait_count(answers, 1);
    std::fs::remove_file(&claude).unwrap();
    wait_count(again, 6);
    assert_eq!(count(missing), 2, "{}", server.log());
    assert_eq!(count(answers), 1, "{}", server.log());
}
