//! The header's readiness (issue 20 §1, ui.md §2.1): one set of checks, pushed as
//! `readiness` frames, that turns red without `claude` or its login and green again without
//! a reload when they come back; `POST /api/readiness/recheck` answers with fresh checks.

use crate::support;

use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::Value;
use support::{
    Sandbox, ServesApi, call, fake_claude, next_frame_of, start_server, trusted_project,
};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads `/ws/events` until a `readiness` (or a snapshot's) satisfies `done`; panics with the
/// last one after a generous deadline.
async fn readiness_until(socket: &mut Socket, done: impl Fn(&Value) -> bool) -> Value {
    let wait = async {
        loop {
            let frame = next_frame_of(socket, &["readiness", "snapshot"]).await;
            let readiness = if frame["type"] == "snapshot" {
                frame["readiness"].clone()
            } else {
                frame
            };
            if !readiness.is_null() && done(&readiness) {
                return readiness;
            }
        }
    };
    tokio::time::timeout(Duration::from_mins(1), wait)
        .await
        .expect("the readiness within 60 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_claude_is_red_and_turns_green_unasked_when_installed() {
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    // Where the fake will be installed; nothing there yet.
    let claude = sandbox.dir.path().join("bin/claude");
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/events", server.ws))
        .await
        .expect("connect /ws/events");

    let red = readiness_until(&mut socket, |r| r["level"] == "blocked").await;
    assert_eq!(red["failing"], 1, "{red}");
    assert_eq!(
        support::check_named(&red, "claude")["status"],
        "fail",
        "{red}"
    );
    assert!(
        support::check_named(&red, "claude")["fix"]
            .as_str()
            .is_some_and(|f| f.contains("Install Claude Code")),
        "{red}"
    );
    let reason = red["start_blocked"].as_str().expect("Start is blocked");
    assert!(reason.starts_with("claude not found"), "{reason}");

    // Installed: the 5 s binary check re-probes, no Re-check and no reload needed.
    fake_claude(&sandbox);
    let green = readiness_until(&mut socket, |r| r["level"] == "ready").await;
    assert_eq!(green["failing"], 0, "{green}");
    assert!(green["start_blocked"].is_null(), "{green}");
    assert_eq!(
        support::check_named(&green, "claude-login")["status"],
        "ok",
        "{green}"
    );

    // The same answer over HTTP.
    let (status, got) = server.get("/api/readiness").await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["level"], "ready", "{got}");
    drop(socket.close(None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_login_blocks_start_and_a_recheck_sees_it_back() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    sandbox.project("beta", &[".git"]);
    sandbox.trust(&alpha);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/events", server.ws))
        .await
        .expect("connect /ws/events");
    // `beta` is not trusted: amber, Start allowed.
    let amber = readiness_until(&mut socket, |r| {
        r["level"] == "warn" && support::check_named(r, "claude")["status"] == "ok"
    })
    .await;
    assert_eq!(
        support::check_named(&amber, "workspace-trust")["status"],
        "warn",
        "{amber}"
    );
    assert!(amber["start_blocked"].is_null(), "{amber}");

    // The probe runs in the state directory, where the fake reads its per-directory knobs.
    let knobs = sandbox.state_dir().join(".fake-claude.json");
    std::fs::write(&knobs, r#"{"logged_in": "0"}"#).unwrap();
    let url = format!("{}/api/readiness/recheck", server.base);
    let recheck = || call(reqwest::Method::POST, &url, None);
    let (status, red) = recheck().await;
    assert_eq!(status, 200, "{red}");
    assert_eq!(red["level"], "blocked", "{red}");
    assert_eq!(
        support::check_named(&red, "claude-login")["status"],
        "fail",
        "{red}"
    );
    assert_eq!(red["start_blocked"], "claude is not logged in", "{red}");
    // A Re-check is announced to every page.
    readiness_until(&mut socket, |r| r["level"] == "blocked").await;

    std::fs::remove_file(&knobs).unwrap();
    let (_, back) = recheck().await;
    assert_eq!(back["level"], "warn", "{back}");
    assert_eq!(
        support::check_named(&back, "claude-login")["status"],
        "ok",
        "{back}"
    );
    readiness_until(&mut socket, |r| r["level"] == "warn").await;
    drop(socket.next().await);
}

/// The last `not_eligible` failure turns the pill amber with what to do (issue 20 §1), and a
/// bridge that runs afterwards clears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_not_eligible_failure_turns_the_readiness_amber_until_a_bridge_runs() {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/events", server.ws))
        .await
        .expect("connect /ws/events");
    readiness_until(&mut socket, |r| r["level"] == "ready").await;
    // The fake reads its per-directory knobs in the project.
    let knobs = alpha.join(".fake-claude.json");
    std::fs::write(&knobs, r#"{"mode": "not_eligible"}"#).unwrap();
    let (status, started) = server.start_bridge("alpha").await;
    assert!(status == 200 || status == 201, "{started}");
    let amber = readiness_until(&mut socket, |r| r["level"] == "warn").await;
    let row = support::check_named(&amber, "remote-control");
    assert_eq!(row["status"], "warn", "{amber}");
    support::assert_field_contains(row, "detail", "not yet enabled for your account");
    support::assert_field_contains(row, "fix", "setup-token tokens cannot run bridges");
    assert!(
        amber["start_blocked"].is_null(),
        "amber never blocks Start: {amber}"
    );

    std::fs::remove_file(&knobs).unwrap();
    let (status, started) = server.start_bridge("alpha").await;
    assert!(status == 200 || status == 201, "{started}");
    let green = readiness_until(&mut socket, |r| r["level"] == "ready").await;
    assert!(
        green["checks"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["name"] != "remote-control")),
        "{green}"
    );
}
