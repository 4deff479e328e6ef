//! The live debug-log tail `/ws/bridge-log/{id}` end to end: `clauster run` as a process, the
//! fake `claude` writing its debug log, a WebSocket client reading sanitized lines.

use crate::support;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use support::{Sandbox, Server, call, fake_claude, serve_claude, trusted_project};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn setup() -> (Sandbox, PathBuf) {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    std::fs::write(
        alpha.join(".fake-claude.json"),
        json!({ "mode": "log_extra" }).to_string(),
    )
    .unwrap();
    let claude = fake_claude(&sandbox);
    (sandbox, claude)
}

/// [`setup`] served with `env` on top: the sandbox and the server.
fn serve(env: &[(&str, &str)]) -> (Sandbox, Server) {
    let (sandbox, claude) = setup();
    let server = serve_claude(&sandbox, &claude, env);
    (sandbox, server)
}

async fn connect(server: &Server, reference: &str) -> Socket {
    let url = format!("{}/ws/bridge-log/{reference}", server.ws);
    let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("WebSocket handshake");
    socket
}

/// What the socket delivered next, skipping pings.
enum Next {
    Line(String),
    Closed(u16, String),
}

/// Reads past any lines to the close frame: its code and reason.
async fn close_after_lines(socket: &mut Socket, server: &Server) -> (u16, String) {
    loop {
        if let Next::Closed(code, reason) = next(socket, server).await {
            return (code, reason);
        }
    }
}

async fn next(socket: &mut Socket, server: &Server) -> Next {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap_or_else(|_| panic!("no frame within 10 s; server log:\n{}", server.log()));
        match message {
            Some(Ok(Message::Text(text))) => return Next::Line(text.as_str().to_owned()),
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.as_str().to_owned())
                });
                return Next::Closed(code, reason);
            }
            Some(Ok(_)) => {}
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    }
}

/// Reads lines until one satisfies `wanted`; returns every line read.
async fn lines_until(
    socket: &mut Socket,
    server: &Server,
    wanted: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match next(socket, server).await {
            Next::Line(line) => {
                let done = wanted(&line);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Next::Closed(code, reason) => {
                panic!("closed early with {code} {reason:?}; lines so far: {seen:#?}")
            }
        }
    }
}

#[tokio::test]
async fn the_debug_log_streams_sanitized_and_live() {
    let (_sandbox, server) = serve(&[]);
    let instances = format!("{}/api/instances", server.base);
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    assert_eq!(started["status"], "running", "{started}");
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let session = started["starter_session_id"].as_str().unwrap().to_owned();
    let env = started["environment_id"].as_str().unwrap().to_owned();
    let debug_log = PathBuf::from(
        started["bridge_raw_log_path"]
            .as_str()
            .or(started["bridge_debug_log_path"].as_str())
            .expect("the instance has a debug log"),
    );

    let mut socket = connect(&server, &id).await;
    let mut lines = Vec::new();
    while !(lines.iter().any(|l: &String| l.contains("Continue at"))
        && lines.iter().any(|l| l.contains("Starting poll loop")))
    {
        lines.extend(lines_until(&mut socket, &server, |_| true).await);
    }
    let all = lines.join("\n");
    assert!(all.contains("[bridge:init]"), "{all}");
    let extra = lines
        .iter()
        .find(|l| l.contains("Continue at"))
        .expect("the extra line");
    assert!(
        extra.contains("https://claude.ai/code/session_<redacted>"),
        "{extra}"
    );
    assert!(extra.contains("<redacted>"), "{extra}");
    assert!(!extra.contains("sk-FAKE"), "{extra}");
    assert!(!extra.contains('\u{1b}'), "{extra}");
    assert!(!extra.contains("[33m"), "{extra}");
    assert!(!all.contains(&session), "a session id leaked: {all}");
    assert!(!all.contains(&env), "an environment id leaked: {all}");

    // A line written now arrives live, sanitized too.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&debug_log)
        .unwrap();
    file.write_all(b"appended by the test \x1b[1mbold\x1b[0m session_01ABCDEFGHJK\n")
        .unwrap();
    drop(file);
    let live = lines_until(&mut socket, &server, |l| l.contains("appended by the test")).await;
    assert_eq!(
        live.last().unwrap(),
        "appended by the test bold session_<redacted>"
    );

    // Another client sees the same window, from the start of the file.
    let mut second = connect(&server, "alpha").await;
    let window = lines_until(&mut second, &server, |l| l.contains("appended by the test")).await;
    assert!(
        window.iter().any(|l| l.contains("Continue at")),
        "{window:#?}"
    );

    // Stopping the bridge ends the tail with 1000 `bridge ended`.
    let (status, stopped) = call(reqwest::Method::DELETE, &format!("{instances}/{id}"), None).await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(
        close_after_lines(&mut socket, &server).await,
        (1000, "bridge ended".to_owned())
    );

    // A dead instance: the window, then the same close.
    let mut dead = connect(&server, &id).await;
    let window = lines_until(&mut dead, &server, |l| l.contains("appended by the test")).await;
    assert!(!window.is_empty());
    assert_eq!(
        close_after_lines(&mut dead, &server).await,
        (1000, "bridge ended".to_owned())
    );
}

#[tokio::test]
async fn an_unknown_instance_closes_with_1008() {
    let (_sandbox, server) = serve(&[]);
    let mut socket = connect(&server, "nope").await;
    match next(&mut socket, &server).await {
        Next::Closed(code, reason) => {
            assert_eq!(code, 1008);
            assert!(reason.contains("nope"), "{reason}");
        }
        Next::Line(line) => panic!("unexpected line {line:?}"),
    }
}

#[tokio::test]
async fn with_redaction_claude_writes_a_raw_log_and_the_public_one_is_its_redacted_mirror() {
    let (_sandbox, server) = serve(&[("CLAUSTER_LOGS_REDACT_SESSION_URL", "true")]);
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    let session = started["starter_session_id"].as_str().unwrap().to_owned();
    let raw = PathBuf::from(started["bridge_raw_log_path"].as_str().expect("a raw log"));
    let public = PathBuf::from(started["bridge_debug_log_path"].as_str().unwrap());
    assert!(raw.to_string_lossy().ends_with(".raw.log"), "{raw:?}");
    assert_eq!(
        (support::file_mode(&raw), support::file_mode(&public)),
        (0o600, 0o600)
    );
    // claude wrote the raw log verbatim; the mirror catches up as lines are written.
    let mirrored = support::wait_for(Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&public).ok()?;
        text.contains("Continue at").then_some(text)
    })
    .expect("the mirror caught up");
    let verbatim = std::fs::read_to_string(&raw).unwrap();
    assert!(verbatim.contains(&session), "{verbatim}");
    assert!(!mirrored.contains(&session), "{mirrored}");
    assert!(mirrored.contains("session_<redacted>"), "{mirrored}");
    assert!(!mirrored.contains("sk-FAKE"), "{mirrored}");
    assert_eq!(
        verbatim.lines().count(),
        mirrored.lines().count(),
        "one mirrored line per raw line"
    );
}

#[tokio::test]
async fn without_redaction_there_is_one_verbatim_private_log() {
    let (_sandbox, server) = serve(&[]);
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}");
    // The parse source is the debug log itself, as 1.3.2 reports it (issue 18).
    assert_eq!(
        started["bridge_raw_log_path"], started["bridge_debug_log_path"],
        "{started}"
    );
    let log = PathBuf::from(started["bridge_debug_log_path"].as_str().unwrap());
    assert_eq!(support::file_mode(&log), 0o600);
    let text = std::fs::read_to_string(&log).unwrap();
    let session = started["starter_session_id"].as_str().unwrap();
    assert!(text.contains(session), "{text}");
    let stem = log
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(".log");
    let raw = log.with_file_name(format!("{stem}.raw.log"));
    assert!(!raw.exists());
}

#[tokio::test]
async fn a_log_over_the_size_limit_is_rotated_and_the_tail_goes_on() {
    let (_sandbox, server) = serve(&[
        ("CLAUSTER_LOGS_BRIDGE_LOG_MAX_SIZE_MB", "1"),
        ("CLAUSTER_LOGS_KEEP_ROTATED", "1"),
    ]);
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}");
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let log = PathBuf::from(started["bridge_debug_log_path"].as_str().unwrap());
    let mut socket = connect(&server, &id).await;
    lines_until(&mut socket, &server, |l| l.contains("Starting poll loop")).await;

    // Two rounds over the limit: only `keep_rotated` copies remain.
    let filler = "x".repeat(1023) + "\n";
    for round in 1..=2 {
        // In one write: a rotation (every 10 s) that found the file over the limit half-way
        // would leave the end of the round out of the copy.
        let text = filler.repeat(1100) + &format!("end of round {round}\n");
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        file.write_all(text.as_bytes()).unwrap();
        drop(file);
        let rotated = support::wait_for(Duration::from_secs(15), || {
            (std::fs::metadata(&log).ok()?.len() < 1024 * 1024).then_some(())
        });
        assert!(rotated.is_some(), "not rotated:\n{}", server.log());
        let copy = std::fs::read_to_string(format!("{}.1", log.display())).unwrap();
        assert!(copy.ends_with(&format!("end of round {round}\n")));
    }
    assert!(!PathBuf::from(format!("{}.2", log.display())).exists());
    assert_eq!(
        support::file_mode(&PathBuf::from(format!("{}.1", log.display()))),
        0o600
    );

    // The tail follows the truncated file from its start.
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(b"after the rotation\n").unwrap();
    drop(file);
    lines_until(&mut socket, &server, |l| l == "after the rotation").await;
}
