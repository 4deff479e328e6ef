//! `clauster run`'s signals (cli.md §7) on the real binary: SIGTERM closes every socket with
//! 1001 and exits 0 with the bridges still running; a request in flight holds the exit up
//! for at most 5 s; SIGHUP is ignored; a second SIGINT exits at once.

use crate::support;

use std::io::Write as _;
use std::time::Duration;

use futures_util::StreamExt as _;
use nix::sys::signal::Signal;
use support::{Server, ServesApi as _, alpha_and_fake as setup, start_server, wait_for};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn signal(server: &Server, signal: Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(server.child.0.id()).unwrap());
    nix::sys::signal::kill(pid, signal).expect("signal the server");
}

/// The server's exit code once it has exited, within `within`.
fn exit_code(server: &mut Server, within: Duration) -> Option<i32> {
    let exited = wait_for(within, || server.child.0.try_wait().unwrap());
    let status = exited.unwrap_or_else(|| panic!("still running:\n{}", server.log()));
    status.code()
}

/// Waits until the server's log has `line`.
fn wait_for_log(server: &Server, line: &str) {
    let said = wait_for(Duration::from_secs(20), || {
        server.log().contains(line).then_some(())
    });
    assert!(
        said.is_some(),
        "the log never said {line:?}:\n{}",
        server.log()
    );
}

/// The close frame's code and reason, reading past any other frame.
async fn close_of(socket: &mut Socket, server: &Server) -> (u16, String) {
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Close(Some(frame))) => {
                    return Some((u16::from(frame.code), frame.reason.as_str().to_owned()));
                }
                Ok(Message::Close(None)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
        None
    })
    .await
    .unwrap_or_else(|_| panic!("no close within 20 s:\n{}", server.log()));
    closed.unwrap_or_else(|| panic!("the socket ended without a close frame:\n{}", server.log()))
}

/// A POST that the server is reading the body of (its `100 Continue` came back) and whose
/// body stops half-way: a request in flight for as long as the body limit (30 s) allows.
fn stalled_request(server: &Server) -> std::net::TcpStream {
    use std::io::Read as _;
    let address = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .write_all(
            b"POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Expect: 100-continue\r\nContent-Length: 40\r\n\r\n",
        )
        .expect("send the head");
    let mut seen = Vec::new();
    let mut byte = [0_u8; 1];
    while !seen.ends_with(b"\r\n\r\n") {
        stream
            .read_exact(&mut byte)
            .expect("read the interim answer");
        seen.push(byte[0]);
    }
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.starts_with("HTTP/1.1 100 Continue"), "{seen}");
    stream
        .write_all(b"{\"name\": \"sl")
        .expect("send half the body");
    stream
}

#[tokio::test]
async fn sigterm_closes_every_socket_with_1001_and_leaves_the_bridge_running() {
    let (sandbox, claude) = setup();
    let mut server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}");
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let running = support::wait_instance(&server, &id, Duration::from_secs(20), |i| {
        i["status"] == "running"
    })
    .await;
    let bridge = i32::try_from(running["bridge_pid"].as_i64().unwrap()).unwrap();

    let (mut events, _) = support::open_events(&server).await;
    let (mut tail, _) =
        tokio_tungstenite::connect_async(format!("{}/ws/bridge-log/{id}", server.ws))
            .await
            .expect("connect to the log tail");
    signal(&server, Signal::SIGTERM);

    for socket in [&mut events, &mut tail] {
        let (code, reason) = close_of(socket, &server).await;
        assert_eq!((code, reason.as_str()), (1001, "server shutting down"));
    }
    assert_eq!(exit_code(&mut server, Duration::from_secs(20)), Some(0));
    assert!(
        !server.log().contains("still open after"),
        "the sockets held the exit up:\n{}",
        server.log()
    );
    // The stopped store is its one file: a copy of it alone is a backup (operations.md).
    assert_eq!(
        support::instances_in_a_copy_of_the_store(&sandbox.state_dir()),
        vec![id.clone()]
    );
    // Bridges are detached: the bridge outlives the server.
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(bridge), None);
    assert!(alive.is_ok(), "the bridge ended with the server");
}

#[tokio::test]
async fn a_request_in_flight_holds_the_exit_up_for_at_most_5_s() {
    let (sandbox, claude) = setup();
    let mut server = start_server(&sandbox, Some(&claude), &[], &[]);
    let _stalled = stalled_request(&server);
    signal(&server, Signal::SIGTERM);
    // The body limit is 30 s: an exit before it is the 5 s grace's.
    assert_eq!(exit_code(&mut server, Duration::from_secs(25)), Some(0));
    assert!(
        server
            .log()
            .contains("shutdown: requests or sockets were still open after 5 s; closing them"),
        "{}",
        server.log()
    );
    assert!(!sandbox.projects_root().join("sl").exists());
}

#[tokio::test]
async fn sighup_is_ignored_and_a_second_sigint_exits_at_once() {
    let (sandbox, claude) = setup();
    let mut server = start_server(&sandbox, Some(&claude), &[], &[]);
    signal(&server, Signal::SIGHUP);
    wait_for_log(
        &server,
        "SIGHUP ignored: restart clauster to read its configuration again",
    );
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200, "{}", server.log());

    // A request in flight keeps the first SIGINT's shutdown waiting; the second ends it.
    let _stalled = stalled_request(&server);
    signal(&server, Signal::SIGINT);
    wait_for_log(&server, "shutting down; bridges keep running");
    signal(&server, Signal::SIGINT);
    assert_eq!(exit_code(&mut server, Duration::from_secs(20)), Some(130));
    assert!(
        server
            .log()
            .contains("clauster: second interrupt: exiting now"),
        "{}",
        server.log()
    );
}

/// A command issued while a server shuts down waits for it to give the engine back, then runs
/// the engine itself (cli.md §2).
#[tokio::test]
async fn a_command_during_a_shutdown_runs_the_engine_once_the_server_is_gone() {
    let (sandbox, claude) = setup();
    let mut server = start_server(&sandbox, Some(&claude), &[], &[]);
    // The shutdown lasts the 5 s grace: the lock stays held, the socket no longer answers.
    let _stalled = stalled_request(&server);
    signal(&server, Signal::SIGTERM);
    wait_for_log(&server, "shutting down; bridges keep running");
    let status = support::run_clauster(&sandbox, &["status"], &[]);
    support::assert_exit(&status, 0);
    assert_eq!(
        String::from_utf8_lossy(&status.stderr),
        "No bridge instances.\n"
    );
    assert_eq!(exit_code(&mut server, Duration::from_secs(20)), Some(0));
}

/// An `/mcp` tool call in flight at SIGTERM is answered like any request in flight (it has the
/// 5 s grace), not cut with a 500.
#[tokio::test]
async fn an_mcp_call_in_flight_at_sigterm_is_answered() {
    let (sandbox, claude) = setup();
    std::fs::write(
        sandbox.projects_root().join("alpha/.fake-claude.json"),
        r#"{"mode": "slow", "slow": 2}"#,
    )
    .unwrap();
    let token = "clauster_pat_shutdown-mcp-token";
    let hash = support::sha256_hex(token);
    let env = [
        ("CLAUSTER_MCP_HTTP_ENABLED", "true"),
        ("CLAUSTER_MCP_ALLOW_WRITES", "true"),
        ("CLAUSTER_AUTH_API_TOKEN_HASH", hash.as_str()),
    ];
    let mut server = start_server(&sandbox, Some(&claude), &[], &env);
    let call = reqwest::Client::new()
        .post(format!("{}/mcp", server.base))
        .header("accept", "application/json, text/event-stream")
        .header("authorization", format!("Bearer {token}"))
        .json(
            &serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "spawn_session", "arguments": {"project": "alpha"}}}),
        )
        .send();
    let call = tokio::spawn(call);
    // The call is in flight once its bridge is starting.
    let http = reqwest::Client::new();
    let launched = support::wait_for_async(Duration::from_secs(20), || async {
        let listed: serde_json::Value = http
            .get(format!("{}/api/instances", server.base))
            .bearer_auth(token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        listed
            .as_array()
            .is_some_and(|list| !list.is_empty())
            .then_some(())
    })
    .await;
    assert!(launched.is_some(), "no launch began:\n{}", server.log());
    signal(&server, Signal::SIGTERM);
    let answer = call.await.unwrap().expect("an answer");
    assert_eq!(answer.status(), 200, "{}", server.log());
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["id"], 7, "{body}");
    assert!(body.get("result").is_some(), "{body}");
    assert_eq!(exit_code(&mut server, Duration::from_secs(20)), Some(0));
}
