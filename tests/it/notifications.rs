//! Notifications end to end (issue 22, notifications.md): a server in process, real bridges
//! of the fake `claude`, and local doubles on 127.0.0.1 as webhook receivers and Apprise
//! services.

use std::time::{Duration, Instant};

use clauster_core::notify::apprise::ServiceHosts;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::inprocess::{InProcess, serve_with};
use crate::support::sink::{Mode, Received, Sink};
use crate::support::{self, Sandbox, ServesApi, call};

const WAIT: Duration = Duration::from_secs(30);

/// Projects `alpha` (becomes ready) and `crashy` (exits at once), both trusted in the
/// Claude config directory the in-process server uses.
fn sandbox() -> Sandbox {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    let crashy = sandbox.project("crashy", &[]);
    std::fs::write(crashy.join(".fake-claude.json"), r#"{"mode": "crash"}"#)
        .expect("write .fake-claude.json");
    let claude_dir = sandbox.home().join(".claude");
    std::fs::create_dir_all(&claude_dir).expect("create the claude dir");
    let mut projects = serde_json::Map::new();
    for dir in [&alpha, &crashy] {
        let key = std::fs::canonicalize(dir).expect("canonical");
        projects.insert(
            key.to_string_lossy().into_owned(),
            json!({"hasTrustDialogAccepted": true}),
        );
    }
    std::fs::write(
        claude_dir.join(".claude.json"),
        json!({ "projects": projects }).to_string(),
    )
    .expect("write .claude.json");
    sandbox
}

async fn serve(sandbox: &Sandbox, yaml: &str, hosts: Option<&str>) -> InProcess {
    serve_with(
        sandbox,
        yaml,
        clauster_server::ServeOptions {
            notify_hosts: hosts.map_or_else(ServiceHosts::real, ServiceHosts::all_at),
            ..clauster_server::ServeOptions::default()
        },
    )
    .await
}

async fn start(server: &InProcess, project: &str) -> Value {
    let (status, body) = server
        .post("/api/instances", json!({ "project": project }))
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn deliveries(server: &InProcess) -> Value {
    let (status, body) = server.get("/api/notifications/deliveries").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls the delivery log until `done` holds.
async fn wait_log(server: &InProcess, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = deliveries(server).await;
        if done(&log) {
            return log;
        }
        assert!(Instant::now() < deadline, "timed out; log: {log:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn outcomes(log: &Value) -> Vec<String> {
    log["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["event"].as_str().unwrap_or(""),
                d["outcome"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn events(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("a key");
    mac.update(body);
    crate::support::hex(&mac.finalize().into_bytes())
}

/// Every body is `{"event", …payload}` signed with `webhooks.secret`; a bridge's start,
/// readiness and stop, and failures before readiness as `crash` with `error_kind`, three of
/// them a `crash-loop`; the log masks the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_and_follow_the_lifecycle() {
    let sandbox = sandbox();
    let sink = Sink::start(Mode::Ok).await;
    let yaml = format!(
        "webhooks:\n  enabled: true\n  urls: ['{}/hooks/SECRET-PATH']\n  secret: s3cret\n  \
         events: {{crash-loop: true}}\n",
        sink.base
    );
    let server = serve(&sandbox, &yaml, None).await;

    let alpha = start(&server, "alpha").await;
    assert_eq!(alpha["status"], "running", "{alpha}");
    let received = sink.wait_for(2, WAIT).await;
    assert_eq!(events(&received), ["spawn", "ready"]);
    for request in &received {
        assert_eq!(request.path, "/hooks/SECRET-PATH");
        assert_eq!(
            request.headers["x-clauster-signature"],
            format!("sha256={}", hmac_hex("s3cret", &request.body)),
            "the signature is the HMAC-SHA256 of the exact body"
        );
        assert_eq!(request.headers["content-type"], "application/json");
        let body = request.json();
        assert_eq!(request.headers["x-clauster-event"], body["event"]);
        assert_eq!(body["project"], "alpha");
        assert_eq!(body["instance_id"], alpha["instance_id"]);
        assert_eq!(body["label"], alpha["label"]);
        assert_eq!(body["session_ref"], Value::Null);
        assert!(
            body["at"].as_str().is_some_and(|at| at.ends_with('Z')),
            "{body}"
        );
        for key in [
            "status",
            "error_kind",
            "detail",
            "resume_mode",
            "spawn_mode",
        ] {
            assert!(body.get(key).is_some(), "{key} missing: {body}");
        }
    }
    assert_eq!(received[1].json()["status"], "running");

    let id = alpha["instance_id"].as_str().expect("id");
    let (status, stopped) = server.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(status, 200, "{stopped}");
    let received = sink.wait_for(3, WAIT).await;
    assert_eq!(received[2].json()["event"], "stop");
    assert_eq!(received[2].json()["status"], "stopped");

    for _ in 0..3 {
        let crashed = start(&server, "crashy").await;
        assert_eq!(crashed["status"], "error", "{crashed}");
    }
    let received = sink.wait_for(10, WAIT).await;
    assert_eq!(
        events(&received[3..]),
        [
            "spawn",
            "crash",
            "spawn",
            "crash",
            "spawn",
            "crash",
            "crash-loop"
        ]
    );
    let crash = received[4].json();
    assert_eq!(crash["project"], "crashy");
    assert_eq!(crash["status"], "error");
    assert!(crash["error_kind"].is_string(), "{crash}");

    let log = wait_log(&server, |log| {
        log["deliveries"].as_array().is_some_and(|d| d.len() == 10)
    })
    .await;
    assert!(
        outcomes(&log).iter().all(|o| o.ends_with(" delivered")),
        "{log:#}"
    );
    let shown = log.to_string();
    assert!(!shown.contains("SECRET-PATH"), "the URL is masked: {shown}");
    let port = sink.base.rsplit(':').next().expect("port");
    assert_eq!(
        log["targets"][0]["target"],
        format!("http://127.0.0.1:{port}/***")
    );
    assert_eq!(log["targets"][0]["breaker"], "closed");
    assert_eq!(log["dropped"], 0);
}

/// A failing endpoint is retried with back-off; after five failed deliveries in a row the
/// breaker opens and the next one is skipped without a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_is_retried_then_its_breaker_opens() {
    let sandbox = sandbox();
    let sink = Sink::start(Mode::Fail(503)).await;
    let yaml = format!(
        "webhooks:\n  enabled: true\n  urls: ['{}/hook']\n  retries: 1\n",
        sink.base
    );
    let server = serve(&sandbox, &yaml, None).await;
    for _ in 0..6 {
        let (status, body) = server.post_empty("/api/notifications/test").await;
        assert_eq!((status, body["queued"].clone()), (202, json!(1)));
    }
    let log = wait_log(&server, |log| {
        log["deliveries"].as_array().is_some_and(|d| d.len() == 6)
    })
    .await;
    let entries = log["deliveries"].as_array().expect("entries");
    // Newest first: the skipped one, then five failures of two attempts each.
    assert_eq!(entries[0]["outcome"], "skipped", "{log:#}");
    assert!(
        entries[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("circuit open"))
    );
    for failed in &entries[1..] {
        assert_eq!(failed["outcome"], "failed", "{log:#}");
        assert_eq!(failed["attempts"], 2);
        assert_eq!(failed["http_status"], 503);
        assert_eq!(failed["error"], "the endpoint answered 503");
    }
    assert_eq!(log["targets"][0]["breaker"], "open");
    assert_eq!(sink.received().len(), 10, "the skipped one made no request");

    // More skips while the breaker stays open fold into that one line with their count.
    for _ in 0..2 {
        let (status, _) = server.post_empty("/api/notifications/test").await;
        assert_eq!(status, 202);
    }
    let log = wait_log(&server, |log| {
        log["deliveries"][0]["error"]
            .as_str()
            .is_some_and(|e| e.ends_with("(3 deliveries skipped in a row)"))
    })
    .await;
    let entries = log["deliveries"].as_array().expect("entries");
    assert_eq!(entries.len(), 6, "still one skipped line: {log:#}");
    assert_eq!(entries[0]["outcome"], "skipped");
    assert_eq!(sink.received().len(), 10, "the skips made no request");
}

/// A webhook that never answers delays neither a bridge's start nor the API; its queue stays
/// bounded, dropping the oldest and counting them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_never_delays_bridges_or_the_api() {
    let sandbox = sandbox();
    let sink = Sink::start(Mode::Hang).await;
    let yaml = format!(
        "webhooks:\n  enabled: true\n  urls: ['{}/hook']\n  timeout_seconds: 120\n  retries: 0\n",
        sink.base
    );
    let server = serve(&sandbox, &yaml, None).await;
    // One request in flight (hanging), then more than the queue holds.
    for _ in 0..70 {
        let began = Instant::now();
        let (status, _) = server.post_empty("/api/notifications/test").await;
        assert_eq!(status, 202);
        assert!(began.elapsed() < Duration::from_secs(5), "the API waited");
    }
    sink.wait_for(1, WAIT).await;
    let began = Instant::now();
    let alpha = start(&server, "alpha").await;
    assert_eq!(alpha["status"], "running", "{alpha}");
    let took = began.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "start → running took {took:?} beside a hanging webhook"
    );
    let began = Instant::now();
    let (status, _) = server.get("/api/instances").await;
    assert_eq!(status, 200);
    assert!(began.elapsed() < Duration::from_secs(5), "the API waited");
    // 70 tests + spawn + ready = 72 notices: one in flight, 64 queued, 7 dropped. The ready
    // notice is queued by a task following the engine's frames, which may run after the start
    // answered.
    let log = wait_log(&server, |log| log["targets"][0]["dropped"] == 7).await;
    let target = &log["targets"][0];
    assert_eq!(target["queued"], 64, "{log:#}");
    assert_eq!(log["dropped"], 7);
    assert_eq!(
        sink.received().len(),
        1,
        "nothing else was sent while one hangs"
    );
}

/// `notifications.urls`: an ntfy and a Slack-style double receive the `notify_on_*` events in
/// their own shapes; an unsupported scheme is skipped; a muted project is not announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apprise_ntfy_and_slack_doubles_and_mute() {
    let sandbox = sandbox();
    let sink = Sink::start(Mode::Ok).await;
    let port = sink.base.rsplit(':').next().expect("port").to_owned();
    let yaml = format!(
        "notifications:\n  enabled: true\n  notify_on_ready: true\n  notify_on_stop: true\n  \
         urls: ['ntfy://127.0.0.1:{port}/alerts', 'slack://TA/TB/TC/#ops', 'tgram://tok/chat']\n"
    );
    let server = serve(&sandbox, &yaml, Some(&sink.base)).await;
    let alpha = start(&server, "alpha").await;
    assert_eq!(alpha["status"], "running");
    let received = sink.wait_for(2, WAIT).await;
    let mut by_path: Vec<(String, Value)> = received
        .iter()
        .map(|r| (r.path.clone(), r.json()))
        .collect();
    by_path.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(by_path[0].0, "/");
    assert_eq!(by_path[0].1["topic"], "alerts");
    assert_eq!(by_path[0].1["title"], "alpha: is ready");
    assert_eq!(by_path[1].0, "/services/TA/TB/TC");
    assert_eq!(by_path[1].1["channel"], "#ops");
    assert!(
        by_path[1].1["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("*alpha: is ready*")),
        "{}",
        by_path[1].1
    );

    // Muted: the stop is not announced; the test queued after it is (queues are in order).
    let mute = format!("{}/api/projects/alpha/notifications", server.base);
    let (status, body) = call(reqwest::Method::PUT, &mute, Some(json!({"muted": true}))).await;
    assert_eq!(
        (status, body),
        (200, json!({"project": "alpha", "muted": true}))
    );
    let (_, body) = call(reqwest::Method::GET, &mute, None).await;
    assert_eq!(body["muted"], true);
    let id = alpha["instance_id"].as_str().expect("id");
    let (status, _) = server.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(status, 200);
    let (status, body) = server.post_empty("/api/notifications/test").await;
    assert_eq!((status, body["queued"].clone()), (202, json!(2)));
    let received = sink.wait_for(4, WAIT).await;
    let titles: Vec<String> = received[2..]
        .iter()
        .map(|r| {
            let body = r.json();
            body["title"]
                .as_str()
                .or_else(|| body["text"].as_str())
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert!(
        titles.iter().all(|t| t.contains("test notification")),
        "{titles:?}"
    );
    let log = deliveries(&server).await;
    let targets = support::texts_of(&log["targets"], "target");
    assert_eq!(
        targets,
        [
            format!("ntfy://127.0.0.1:{port}/***").as_str(),
            "slack://***"
        ],
        "the unsupported tgram:// URL is not a target"
    );
    let mute_file = sandbox.state_dir().join("notifications-muted.json");
    assert_eq!(support::file_mode(&mute_file), 0o600);
}

/// The routes refuse what they cannot use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_routes_refuse_bad_input() {
    let sandbox = sandbox();
    let server = serve(&sandbox, "", None).await;
    let mute = |name: &str| format!("{}/api/projects/{name}/notifications", server.base);
    for (url, body, status, says) in [
        (mute("alpha"), json!({}), 422, "muted is required"),
        (
            mute("alpha"),
            json!({"muted": "yes"}),
            422,
            "muted must be a boolean",
        ),
        (
            mute("alpha"),
            json!([true]),
            422,
            "request body must be a JSON object",
        ),
        (
            mute("nope"),
            json!({"muted": true}),
            404,
            "project 'nope' not found",
        ),
        (mute("..%2Fetc"), json!({"muted": true}), 422, ""),
    ] {
        let (got, answer) = call(reqwest::Method::PUT, &url, Some(body.clone())).await;
        assert_eq!(got, status, "{url} {body}: {answer}");
        assert!(
            answer["detail"].as_str().is_some_and(|d| d.contains(says)),
            "{url} {body}: {answer}"
        );
    }
    let (status, body) = server.post_empty("/api/notifications/test").await;
    assert_eq!((status, body["queued"].clone()), (202, json!(0)));
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no notification target"))
    );
}

/// `clauster notify test` (no server running: the command's own engine sends it) reports
/// each target's outcome and exits 1 when one was not delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sends_a_test_and_reports_each_outcome() {
    let sandbox = sandbox();
    let claude = crate::support::fake_claude(&sandbox);
    let sink = Sink::start(Mode::Ok).await;
    let run = |json: bool| {
        let mut cmd = sandbox.command(crate::support::clauster_bin());
        cmd.args(["notify", "test"])
            .env("CLAUSTER_PROJECTS_ROOT", sandbox.projects_root())
            .env("CLAUSTER_CLAUDE_BINARY", &claude)
            .env("CLAUSTER_WEBHOOKS_ENABLED", "true")
            .env(
                "CLAUSTER_WEBHOOKS_URLS",
                format!("{}/hook/TOKEN", sink.base),
            )
            .env("CLAUSTER_WEBHOOKS_SECRET", "s3cret")
            .env("CLAUSTER_WEBHOOKS_RETRIES", "0");
        if json {
            cmd.arg("--json");
        }
        tokio::task::spawn_blocking(move || cmd.output().expect("run clauster notify test"))
    };
    let out = run(false).await.expect("joined");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let port = sink.base.rsplit(':').next().expect("port");
    assert_eq!(
        stdout,
        format!("  ✓ webhook  http://127.0.0.1:{port}/*** delivered (200)\n")
    );
    let received = sink.wait_for(1, WAIT).await;
    assert_eq!(received[0].json()["event"], "test");
    assert_eq!(
        received[0].headers["x-clauster-signature"],
        format!("sha256={}", hmac_hex("s3cret", &received[0].body))
    );

    sink.set_mode(Mode::Fail(500));
    let out = run(true).await.expect("joined");
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["queued"], 1);
    assert_eq!(report["deliveries"][0]["outcome"], "failed", "{report}");
    assert_eq!(report["deliveries"][0]["http_status"], 500);
    assert!(!report.to_string().contains("TOKEN"), "{report}");

    // No target at all: an error, prefixed as every error (cli.md §1).
    let mut bare = sandbox.command(crate::support::clauster_bin());
    bare.args(["notify", "test"])
        .env("CLAUSTER_PROJECTS_ROOT", sandbox.projects_root())
        .env("CLAUSTER_CLAUDE_BINARY", &claude);
    let out = tokio::task::spawn_blocking(move || bare.output().expect("run clauster notify"))
        .await
        .expect("joined");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("clauster: error: ") && stderr.contains("no notification target"),
        "{stderr}"
    );
}

/// Row 84 of the bad-input catalogue: with `block_private_targets`, a webhook to a loopback
/// address is skipped without a request, whatever the retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_private_targets_skips_a_loopback_webhook() {
    let sandbox = sandbox();
    let sink = Sink::start(Mode::Ok).await;
    let yaml = format!(
        "webhooks:\n  enabled: true\n  urls: ['{}/hook', 'http://localhost:9/x']\n  \
         block_private_targets: true\n",
        sink.base
    );
    let server = serve(&sandbox, &yaml, None).await;
    let (status, _) = server.post_empty("/api/notifications/test").await;
    assert_eq!(status, 202);
    let log = wait_log(&server, |log| {
        log["deliveries"].as_array().is_some_and(|d| d.len() == 2)
    })
    .await;
    for entry in log["deliveries"].as_array().expect("entries") {
        assert_eq!(entry["outcome"], "skipped", "{log:#}");
        assert_eq!(entry["attempts"], 1, "{log:#}");
        let error = entry["error"].as_str().expect("why");
        assert!(
            error.starts_with("blocked: the target resolves to 127.0.0.1")
                || error.starts_with("blocked: the target resolves to ::1"),
            "{error}"
        );
    }
    assert!(sink.received().is_empty(), "no request was made");
}

/// `login-lost` (opt-in): `claude auth status` answers logged out, and the webhook hears it
/// with no instance fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_out_claude_is_a_login_lost_webhook() {
    let sandbox = sandbox();
    let sink = Sink::start(Mode::Ok).await;
    let yaml = format!(
        "claude:\n  env:\n    FAKE_CLAUDE_LOGGED_IN: '0'\nwebhooks:\n  enabled: true\n  \
         urls: ['{}/hook']\n  events: {{login-lost: true, spawn: false}}\n",
        sink.base
    );
    let server = serve(&sandbox, &yaml, None).await;
    // The login cache is filled by the background probe; asking for it does not hurt.
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, login) = server.get("/api/login-status").await;
        if login["claude_login_ok"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "still logged in: {login}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = sink.wait_for(1, WAIT).await;
    let body = received[0].json();
    assert_eq!(body["event"], "login-lost", "{body}");
    assert_eq!(body["project"], Value::Null);
    assert_eq!(body["instance_id"], Value::Null);
    support::assert_field_contains(&body, "detail", "not logged in");
}
