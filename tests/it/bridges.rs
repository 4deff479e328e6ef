//! Standard bridges end to end: `clauster run` as a process, the fake `claude` as the
//! bridge, a real SQLite file in the temp HOME, real signals.

use crate::support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use support::{
    Sandbox, Server, ServesApi, call, fake_claude, process_exists, start_server, trusted_project,
};

fn setup(mode: Option<&str>) -> (Sandbox, PathBuf) {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    if let Some(mode) = mode {
        std::fs::write(
            alpha.join(".fake-claude.json"),
            json!({ "mode": mode }).to_string(),
        )
        .unwrap();
    }
    let claude = fake_claude(&sandbox);
    (sandbox, claude)
}

/// [`setup`], served: the sandbox, the fake and the server.
fn serve_mode(mode: Option<&str>) -> (Sandbox, PathBuf, Server) {
    let (sandbox, claude) = setup(mode);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    (sandbox, claude, server)
}

/// Stops alpha's bridge, which must answer 200 `stopped`.
async fn stop_alpha(server: &Server) {
    let (status, stopped) = server.delete("/api/instances/alpha").await;
    assert_eq!(
        (status, &stopped["status"]),
        (200, &json!("stopped")),
        "{stopped}"
    );
}

#[tokio::test]
async fn start_run_stop_and_forget_a_standard_bridge() {
    let (_sandbox, _claude, server) = serve_mode(None);
    let instances = format!("{}/api/instances", server.base);

    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    assert_eq!(started["created"], true);
    assert_eq!(started["status"], "running", "{started}");
    assert_eq!(started["alive"], true);
    let env = started["environment_id"]
        .as_str()
        .expect("environment id learned")
        .to_owned();
    assert!(env.starts_with("env_"), "{env}");
    assert_eq!(
        started["url"],
        format!("https://claude.ai/code?environment={env}")
    );
    let session = started["starter_session_id"]
        .as_str()
        .expect("starter session")
        .to_owned();
    assert_eq!(
        started["session_url"],
        format!("https://claude.ai/code/{session}?from=cli")
    );
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let pid = started["bridge_pid"].as_i64().unwrap();
    assert!(process_exists(pid));

    // One live standard bridge per project: a second start returns the first.
    let (status, again) = server.start_bridge("alpha").await;
    assert_eq!(status, 200);
    assert_eq!(again["created"], false);
    assert_eq!(again["instance_id"], id);
    assert!(
        again["reason"]
            .as_str()
            .unwrap()
            .starts_with("a standard bridge for 'alpha' is already running")
    );

    let (status, listed) = server.get("/api/v1/instances").await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));

    // Forget refuses a live instance.
    let forget = format!("{instances}/{id}/forget");
    let (status, refused) = call(reqwest::Method::POST, &forget, None).await;
    assert_eq!(
        (status, refused),
        (
            409,
            json!({"detail": format!("instance '{id}' is still live; stop it first")})
        )
    );

    // Stop by project name; the bridge exits on its one SIGINT.
    let (status, stopped) = server.delete("/api/instances/alpha").await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(stopped["intentional_stop"], true);
    assert_eq!(stopped["stopping"], false);
    assert!(!process_exists(pid), "the bridge process is still there");

    let (status, forgotten) = call(reqwest::Method::POST, &forget, None).await;
    assert_eq!(
        (status, forgotten),
        (200, json!({"id": id, "forgotten": true}))
    );
    let (_, listed) = call(reqwest::Method::GET, &instances, None).await;
    assert_eq!(listed, json!([]));
    drop(server.child);
}

#[tokio::test]
async fn refusals_come_before_anything_is_launched() {
    let (sandbox, claude) = setup(None);
    sandbox.project("untrusted", &[]);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let instances = format!("{}/api/instances", server.base);
    let cases = [
        (
            json!([1]),
            422,
            json!({"detail": "request body must be a JSON object"}),
        ),
        (
            json!({"project": 7}),
            422,
            json!({"detail": "project must be a string", "field": "project"}),
        ),
        (
            json!({"project": "alpha", "trust": "yes"}),
            422,
            json!({"detail": "trust must be a boolean", "field": "trust"}),
        ),
        (
            json!({"project": "nope"}),
            404,
            json!({"detail": "project 'nope' not found"}),
        ),
        (
            json!({"project": "../alpha"}),
            404,
            json!({"detail": "project '../alpha' not found"}),
        ),
        (
            json!({"project": "alpha", "channel": "hosted"}),
            422,
            json!({"detail": "channel 'hosted' is not supported by this server", "field": "channel"}),
        ),
    ];
    for (body, status, expected) in cases {
        let (got_status, got) = call(reqwest::Method::POST, &instances, Some(body.clone())).await;
        assert_eq!((got_status, &got), (status, &expected), "for {body}");
    }
    let canonical = std::fs::canonicalize(sandbox.projects_root().join("untrusted")).unwrap();
    let (status, body) = call(
        reqwest::Method::POST,
        &instances,
        Some(json!({"project": "untrusted"})),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        body["detail"],
        format!(
            "directory not trusted: {}. Use the Trust action before starting.",
            canonical.display()
        )
    );
    let (status, body) = call(
        reqwest::Method::POST,
        &instances,
        Some(json!({"project": "alpha", "permission_mode": "bypassPermissions"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (_, listed) = call(reqwest::Method::GET, &instances, None).await;
    assert_eq!(listed, json!([]), "nothing was launched or recorded");
    let (status, body) = server.get("/api/instances/zzz").await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "no such instance: zzz"}))
    );
}

#[tokio::test]
async fn a_bridge_that_exits_during_startup_ends_in_error_with_its_reason() {
    let (_sandbox, _claude, server) = serve_mode(Some("trust_error"));
    let (status, body) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error_kind"], "not_trusted");
    assert_eq!(body["error_hint"], "Trust the directory, then Resume.");
    assert_eq!(body["alive"], false);
}

/// A bridge that exits during startup without a word still says how it ended.
#[tokio::test]
async fn a_silent_exit_during_startup_names_its_exit_code() {
    let (_sandbox, _claude, server) = serve_mode(Some("crash"));
    let (status, body) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (&body["status"], &body["error_kind"]),
        (&json!("error"), &json!("exited_early")),
        "{body}"
    );
    assert_eq!(
        body["error_detail"],
        "the bridge exited with code 1 during startup and wrote nothing to its output or \
         debug log"
    );
}

#[tokio::test]
async fn bridges_survive_a_killed_server_and_are_found_again() {
    let (sandbox, claude, mut server) = serve_mode(None);
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201);
    assert_eq!(started["status"], "running");
    let pid = started["bridge_pid"].as_i64().unwrap();

    // SIGKILL: no shutdown code runs.
    server.child.0.kill().unwrap();
    server.child.0.wait().unwrap();
    assert!(process_exists(pid), "the bridge died with the server");

    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (status, listed) = server.get("/api/instances").await;
    assert_eq!(status, 200);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "exactly one record: {listed:?}");
    let found = &listed[0];
    assert_eq!(found["instance_id"], started["instance_id"]);
    assert_eq!(found["status"], "running");
    assert_eq!(found["alive"], true);
    assert_eq!(found["bridge_pid"], pid);
    assert_eq!(found["url"], started["url"]);

    // It is still ours to stop, and stopping it ends the process.
    stop_alpha(&server).await;
    assert!(
        support::ends_within(pid, Duration::from_secs(5)),
        "the re-parented bridge survived its stop"
    );
}

#[tokio::test]
async fn a_dead_bridge_is_shown_stopped_after_a_restart() {
    let (sandbox, claude, mut server) = serve_mode(None);
    let (_, started) = server.start_bridge("alpha").await;
    let pid = started["bridge_pid"].as_i64().unwrap();
    server.child.0.kill().unwrap();
    server.child.0.wait().unwrap();
    nix_kill(pid);
    assert!(support::ends_within(pid, Duration::from_secs(5)));

    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (_, listed) = server.get("/api/instances").await;
    assert_eq!(listed[0]["status"], "stopped", "{listed}");
    assert_eq!(listed[0]["alive"], false);
    assert_eq!(
        listed[0]["intentional_stop"], false,
        "found dead: not a stop of ours"
    );
}

fn nix_kill(pid: i64) {
    let status = std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn resume_continues_the_conversation_and_start_fresh_does_not() {
    let (_sandbox, _claude, server) = serve_mode(None);
    let (_, first) = server.start_bridge("alpha").await;
    assert_eq!(first["status"], "running", "{first}");
    let id = first["instance_id"].as_str().unwrap().to_owned();
    let (_, stopped) = server.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(stopped["status"], "stopped");

    // The fake's help lists `remote-control --continue`: a resume continues (a reattach,
    // which waits out the 4 s poison grace before it counts as running).
    let resume = format!("/api/instances/{id}/resume");
    let (status, resumed) = server.post_empty(&resume).await;
    assert_eq!(status, 200, "{resumed}"); // 1.3.2 answers 200 (issue 18 reverses http-api.md §5)
    assert_eq!(resumed["instance_id"], id.as_str());
    assert_eq!(resumed["status"], "running", "{resumed}");
    assert_eq!(resumed["launch_count"], 2);
    assert_eq!(resumed["resumed_conversation"], true);
    assert_eq!(resumed["intentional_stop"], false);
    assert_ne!(resumed["bridge_pid"], first["bridge_pid"]);
    assert_eq!(
        resumed["environment_id"], first["environment_id"],
        "the environment is re-attached"
    );

    // A live instance is returned as it is.
    let (status, again) = server.post_empty(&resume).await;
    assert_eq!(
        (status, &again["created"], &again["reason"]),
        (200, &json!(false), &json!("already running"))
    );

    server.delete(&format!("/api/instances/{id}")).await;
    let (status, fresh) = server.post(&resume, json!({"fresh": true})).await;
    // 200 whether or not it launched, as 1.3.2 answers (issue 18); `created` tells.
    assert_eq!((status, &fresh["created"]), (200, &json!(true)), "{fresh}");
    assert_eq!(fresh["status"], "running");
    assert_eq!(fresh["resumed_conversation"], false);
    assert_eq!(fresh["launch_count"], 3);

    let (status, body) = server.post(&resume, json!({"fresh": "yes"})).await;
    assert_eq!(
        (status, body),
        (
            422,
            json!({"detail": "fresh must be a boolean", "field": "fresh"})
        )
    );
    let (status, body) = server.post_empty("/api/instances/nope/resume").await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"detail": "no managed instance to resume: 'nope'"})
        )
    );
}

#[tokio::test]
async fn a_continue_with_nothing_to_continue_falls_back_to_a_fresh_start() {
    let (_sandbox, _claude, server) = serve_mode(Some("continue_missing"));
    let (_, first) = server.start_bridge("alpha").await;
    assert_eq!(first["status"], "running", "{first}");
    let id = first["instance_id"].as_str().unwrap().to_owned();
    server.delete(&format!("/api/instances/{id}")).await;
    let (status, resumed) = server
        .post_empty(&format!("/api/instances/{id}/resume"))
        .await;
    assert_eq!(status, 200, "{resumed}"); // 1.3.2 answers 200 (issue 18 reverses http-api.md §5)
    assert_eq!(resumed["status"], "running", "{resumed}");
    assert_eq!(resumed["resumed_conversation"], false);
    assert_eq!(
        resumed["warnings"],
        json!([
            "nothing to continue in 'alpha' (claude keeps about 4 hours); started a fresh session"
        ])
    );
}

#[tokio::test]
async fn stop_escalates_when_the_bridge_ignores_sigint() {
    let (sandbox, claude) = setup(None);
    let alpha = sandbox.projects_root().join("alpha");
    std::fs::write(
        alpha.join(".fake-claude.json"),
        json!({"ignore_sigint": "1", "children": "2"}).to_string(),
    )
    .unwrap();
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (_, started) = server.start_bridge("alpha").await;
    assert_eq!(started["status"], "running", "{started}");
    let pid = started["bridge_pid"].as_i64().unwrap();
    stop_alpha(&server).await;
    assert!(
        !process_exists(pid),
        "SIGTERM/SIGKILL did not end the bridge"
    );
    // Its children were in its session: the sweep took them too.
    let leftovers = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|stat| {
                let fields: Vec<&str> = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                fields.get(3) == Some(&pid.to_string().as_str()) && fields.first() != Some(&"Z")
            })
        })
        .count();
    assert_eq!(leftovers, 0, "processes of the bridge's session survived");
}

#[tokio::test]
async fn a_bridge_that_never_registers_is_ended_at_the_deadline() {
    let (sandbox, claude) = setup(Some("stall"));
    let env = [
        ("CLAUSTER_CLAUDE_STARTUP_GRACE_SECONDS", "6"),
        ("CLAUSTER_CLAUDE_PTY_URL_TIMEOUT_SECONDS", "5"),
        ("CLAUSTER_CLAUDE_READY_WAIT_SECONDS", "1"),
    ];
    let server = start_server(&sandbox, Some(&claude), &[], &env);
    let base = server.base.clone();
    let (status, started) = support::start_bridge_at(&base, "alpha").await;
    assert_eq!(
        (status, &started["status"]),
        (201, &json!("starting")),
        "{started}"
    );
    let pid = started["bridge_pid"].as_i64().unwrap();
    let mut settled = started.clone();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        settled = call(
            reqwest::Method::GET,
            &format!("{base}/api/instances/alpha"),
            None,
        )
        .await
        .1;
        if settled["status"] != "starting" && !process_exists(pid) {
            break;
        }
    }
    assert_eq!(settled["status"], "error", "{settled}");
    assert_eq!(settled["error_kind"], "startup_timeout");
    assert!(
        settled["error_detail"]
            .as_str()
            .unwrap()
            .ends_with("alive but never registered an environment within 6 s"),
        "{settled}"
    );
    assert_eq!(settled["intentional_stop"], false);
    assert!(
        !process_exists(pid),
        "a stalled bridge is terminated (stalled_bridge_action: stop)"
    );
}

#[tokio::test]
async fn twenty_concurrent_starts_launch_exactly_one_bridge() {
    let (_sandbox, _claude, server) = serve_mode(None);
    let url = format!("{}/api/instances", server.base);
    let requests = (0..20).map(|_| {
        let url = url.clone();
        async move {
            call(
                reqwest::Method::POST,
                &url,
                Some(json!({"project": "alpha"})),
            )
            .await
        }
    });
    let answers = futures_join_all(requests).await;
    let created: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    let id = &created[0].1["instance_id"];
    assert!(
        answers.iter().all(|(_, body)| &body["instance_id"] == id),
        "{answers:?}"
    );
    let (_, listed) = call(reqwest::Method::GET, &url, None).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
}

/// `max_bridges` holds against a burst of starts of different projects: each passes the
/// gate before any is `starting`, so launches still in flight count as live (§6 step 11;
/// release review 10 saw 18 bridges under a cap of 12).
#[tokio::test]
async fn concurrent_starts_of_many_projects_stay_under_max_bridges() {
    let (sandbox, _alpha) = trusted_project("alpha", &[".git"]);
    let names: Vec<String> = (0..8).map(|i| format!("p{i}")).collect();
    for name in &names {
        sandbox.project(name, &[".git"]);
    }
    let claude = fake_claude(&sandbox);
    let server = start_server(
        &sandbox,
        Some(&claude),
        &[],
        &[("CLAUSTER_INSTANCE_DEFAULTS_MAX_BRIDGES", "3")],
    );
    let url = format!("{}/api/instances", server.base);
    let requests = names.iter().map(|name| {
        let url = url.clone();
        let body = json!({"project": name, "trust": true});
        async move { call(reqwest::Method::POST, &url, Some(body)).await }
    });
    let answers = futures_join_all(requests).await;
    let count = |code| answers.iter().filter(|(status, _)| *status == code).count();
    let shown: Vec<_> = answers
        .iter()
        .map(|(status, body)| (status, body["project"].clone(), body["detail"].clone()))
        .collect();
    assert_eq!((count(201), count(409)), (3, 5), "{shown:?}");
    for (status, body) in &answers {
        if *status == 409 {
            support::assert_field_contains(body, "detail", "max_bridges=3 reached");
        }
    }
    let (_, listed) = call(reqwest::Method::GET, &url, None).await;
    let live = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter(|i| i["status"] == "starting" || i["status"] == "running")
        .count();
    assert_eq!(live, 3, "{listed}");
}

/// `join_all` without a futures dependency: each request on its own task.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<(u16, Value)>
where
    F: std::future::Future<Output = (u16, Value)> + Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn the_real_claude_without_a_login_ends_in_error_with_its_own_message() {
    let real = crate::real_claude::real_claude();
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    let server = start_server(&sandbox, Some(&real), &[], &[]);
    let started_at = std::time::Instant::now();
    let (status, body) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{body}");
    assert!(
        started_at.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started_at.elapsed()
    );
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error_kind"], "not_logged_in");
    support::assert_field_contains(
        &body,
        "error_detail",
        "You must be logged in to use Remote Control",
    );
}

#[tokio::test]
async fn a_poisoned_reattach_ends_in_error_and_is_terminated() {
    let (_sandbox, _claude, server) = serve_mode(Some("poison"));
    let (status, body) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["status"], "error",
        "the poison grace keeps it starting until the marker: {body}"
    );
    assert_eq!(body["error_kind"], "poisoned_session");
    let pid = body["bridge_pid"].as_i64().unwrap();
    assert!(
        support::ends_within(pid, Duration::from_secs(10)),
        "a poisoned bridge is terminated"
    );
}

#[tokio::test]
async fn a_foreign_web_page_cannot_start_or_trust_anything() {
    let (sandbox, claude) = setup(None);
    sandbox.project("beta", &[]);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let client = reqwest::Client::new();
    let forged = |path: &str| {
        client
            .post(format!("{}{path}", server.base))
            .header("Origin", "https://evil.example")
            .header("Content-Type", "text/plain")
            .body(r#"{"project": "beta", "trust": true}"#)
            .send()
    };
    for path in [
        "/api/instances",
        "/api/projects/beta/trust",
        "/api/projects/trust-all",
    ] {
        let response = forged(path).await.unwrap();
        assert_eq!(response.status().as_u16(), 403, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"detail": "origin check failed"}), "{path}");
    }
    let global = std::fs::read_to_string(sandbox.home().join(".claude.json")).unwrap();
    assert!(!global.contains("beta"), "nothing was trusted: {global}");
    let (_, listed) = server.get("/api/instances").await;
    assert_eq!(listed, json!([]), "nothing was launched");

    // The page's own origin passes.
    let own = server.base.clone();
    let response = client
        .post(format!("{}/api/instances", server.base))
        .header("Origin", own)
        .json(&json!({"project": "alpha"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
}
