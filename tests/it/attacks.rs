//! The attacks of the second security audit (issue 16), run as a suite against the real
//! `clauster run` process on loopback, each bounded in count and time. Every test asserts the
//! refusal, that `/healthz` kept answering within 1 s while the attack ran (a prober asks
//! every 100 ms), and that the server's memory (`VmHWM` of /proc/<pid>/status) stayed under a
//! bound. SECURITY.md lists what each one reproduces.

use crate::support;

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use support::health::HealthProber;
use support::{
    Sandbox, Server, clauster_bin, hash_password, start_server, start_server_via, trusted_project,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

const PASSWORD: &str = "correct horse battery";
const MIB: u64 = 1024;

// ---------------------------------------------------------------------------------------------
// Watching the server while it is attacked.

/// A field of /proc/<pid>/status in KiB (`VmHWM`: the peak resident set; `VmRSS`: now).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// The server's peak resident set must have stayed under `limit_mib`.
fn assert_peak_rss_under(server: &Server, limit_mib: u64) {
    let peak = status_kib(server.pid(), "VmHWM");
    assert!(
        peak <= limit_mib * MIB,
        "peak RSS {} MiB, over the {limit_mib} MiB bound",
        peak / MIB
    );
}

/// Open descriptors of `pid`.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list the server's descriptors")
        .count()
}

/// A `/healthz` prober on its own thread (`support::health`) asking the server at `base`.
fn prober(base: &str) -> HealthProber {
    let port = base
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {base}"));
    HealthProber::on(port)
}

/// The server kept answering `/healthz` while `prober` watched (`support::health`'s rule).
fn assert_kept_answering(prober: HealthProber) {
    if let Err(violation) = prober.finish().verdict() {
        panic!("{violation} during the attack");
    }
}

/// One `/healthz` on a new connection: how long the 200 took (5 s when it never came).
async fn healthz_time(url: &str) -> Duration {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a client");
    let started = Instant::now();
    match client.get(url).send().await {
        Ok(answer) if answer.status() == 200 => started.elapsed(),
        _ => Duration::from_secs(5),
    }
}

/// One `/healthz` is answered (how fast is the prober's business).
async fn assert_healthz_answers(server: &Server) {
    let took = healthz_time(&format!("{}/healthz", server.base)).await;
    assert!(took < Duration::from_secs(5), "/healthz got no answer");
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a client")
}

/// `GET path` on the server at `base` with [`client`] and `headers`: the status and the JSON
/// answer (null when the body is not JSON).
async fn get_json(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = client().get(format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.send().await.expect("a GET answers");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// Writes a config file at `path` naming only the projects root and the state directory.
fn write_roots(path: &Path, projects_root: &Path, state_dir: &Path) {
    let yaml = format!(
        "projects_root: {}\nstate_dir: {}\n",
        projects_root.display(),
        state_dir.display()
    );
    std::fs::write(path, yaml).expect("write the config file");
}

fn write_config(sandbox: &Sandbox, yaml: &str) {
    std::fs::create_dir_all(sandbox.projects_root()).expect("create the projects root");
    std::fs::write(sandbox.dir.path().join("clauster.yml"), yaml).expect("write clauster.yml");
}

// ---------------------------------------------------------------------------------------------
// 1. Login: concurrency cannot get past the throttle, and memory stays bounded.

/// 50 concurrent wrong passwords from one source against a full-cost hash (m = 65 536 KiB):
/// at most 5 are verified (401), the rest get 429 with `Retry-After` at once; peak RSS stays
/// ≤ 200 MiB. Before the fix all 50 were hashed at once (64 MiB each).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_logins_verify_at_most_five_in_bounded_memory() {
    let sandbox = Sandbox::new();
    let hash = support::password_config(&sandbox, PASSWORD, "");
    assert!(hash.contains("m=65536"), "{hash}");
    let server = start_server(&sandbox, None, &[], &[]);
    let probe = prober(&server.base);
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..50 {
        let url = format!("{}/login", server.base);
        let origin = server.base.clone();
        attempts.spawn(async move {
            let answer = client()
                .post(url)
                .header("origin", origin)
                .form(&[("password", format!("wrong {i}"))])
                .send()
                .await
                .expect("an answer");
            let retry_after = answer.headers().get("retry-after").cloned();
            (answer.status().as_u16(), retry_after)
        });
    }
    let mut verified = 0;
    let mut refused = 0;
    while let Some(done) = attempts.join_next().await {
        match done.expect("the attempt ran") {
            (401, _) => verified += 1,
            (429, Some(retry_after)) => {
                assert!(
                    retry_after.to_str().unwrap().parse::<u64>().unwrap() >= 1,
                    "{retry_after:?}"
                );
                refused += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    eprintln!(
        "login flood: {verified} verified, {refused} refused, peak RSS {} MiB",
        status_kib(server.pid(), "VmHWM") / MIB
    );
    assert!(verified <= 5, "{verified} wrong passwords were verified");
    assert_eq!(verified + refused, 50);
    assert_kept_answering(probe);
    assert_peak_rss_under(&server, 200);
}

// ---------------------------------------------------------------------------------------------
// 2. Files planted in a project are never read unbounded.

/// `.mcp.json` as a FIFO, over the 1 MiB cap, or a link to /dev/zero; CLAUDE.md over its
/// 65 536-byte cap: each is a clear answer, never a hang or an allocation of its size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_project_files_are_read_bounded_or_not_at_all() {
    let sandbox = Sandbox::new();
    let fifo = sandbox.project("fifo", &[]);
    let status = std::process::Command::new("mkfifo")
        .arg(fifo.join(".mcp.json"))
        .status()
        .expect("run mkfifo");
    assert!(status.success());
    let huge = sandbox.project("huge", &[]);
    std::fs::write(huge.join(".mcp.json"), vec![b' '; 2 * 1024 * 1024]).unwrap();
    let zero = sandbox.project("zero", &[]);
    let big = sandbox.project("big", &[]);
    std::fs::write(big.join("CLAUDE.md"), vec![b'x'; 70_000]).unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let probe = prober(&server.base);

    // The project's preflight must warn with `detail` in its mcp-approval check.
    let assert_mcp_warns = |name: &'static str, detail: &'static str| {
        let url = format!("{}/api/projects/{name}/preflight", server.base);
        async move {
            let answer = client().get(url).send().await.expect("preflight answers");
            assert_eq!(answer.status(), 200, "{name}");
            let report: Value = answer.json().await.unwrap();
            let check = support::check_named(&report, "mcp-approval");
            assert_eq!(check["status"], "warn", "{check}");
            assert_eq!(check["detail"], detail, "{name}");
        }
    };
    assert_mcp_warns(
        "fifo",
        ".mcp.json is not a regular file; Clauster does not read it",
    )
    .await;
    assert_mcp_warns(
        "huge",
        ".mcp.json is 2097152 bytes, over the 1048576 byte cap; Clauster does not read it",
    )
    .await;
    // Planted after startup, so nothing but this request touches it.
    std::os::unix::fs::symlink("/dev/zero", zero.join(".mcp.json")).unwrap();
    assert_mcp_warns(
        "zero",
        ".mcp.json resolves outside the project directory; Clauster does not read it",
    )
    .await;
    std::os::unix::fs::symlink("/dev/zero", zero.join("CLAUDE.md")).unwrap();
    assert_eq!(
        get_json(&server.base, "/api/projects/zero/claude-md", &[])
            .await
            .0,
        422
    );
    assert_eq!(
        get_json(&server.base, "/api/projects/big/claude-md", &[]).await,
        (
            413,
            json!({"detail": "CLAUDE.md is 70000 bytes, over the 65536 byte cap"})
        )
    );
    assert_kept_answering(probe);
    assert_peak_rss_under(&server, 150);
}

// ---------------------------------------------------------------------------------------------
// 3. DNS rebinding: a Host that does not name this server gets 421.

#[tokio::test]
async fn a_rebound_host_name_is_refused_with_421() {
    let (_sandbox, server) =
        support::serve_config("auth:\n  allowed_origins: ['https://dash.example.net:8443']\n");
    let probe = prober(&server.base);
    for host in [
        "evil.example",
        "evil.example:7621",
        "127.0.0.1.evil.example",
        "localhost.evil.example:80",
        "dash.example.net.evil.example",
    ] {
        for path in ["/api/state", "/healthz", "/"] {
            let (status, answer) = get_json(&server.base, path, &[("host", host)]).await;
            assert_eq!(status, 421, "{host} {path}");
            let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
            assert_eq!(
                answer,
                json!({"detail": format!(
                    "Host '{name}' is not one this server answers to; add its origin to auth.allowed_origins"
                )}),
                "{host}"
            );
        }
    }
    for host in [
        "localhost",
        "LOCALHOST:1234",
        "127.0.0.1",
        "127.1.2.3:9",
        "[::1]:7621",
        "dash.example.net",
        "dash.example.net:8443",
    ] {
        let (status, _) = get_json(&server.base, "/api/state", &[("host", host)]).await;
        assert_eq!(status, 200, "{host}");
    }
    assert_kept_answering(probe);
    assert_peak_rss_under(&server, 100);
}

/// Two `Host` headers, in either order, are refused with 400 (SECURITY.md row 76). Before the
/// fix the first one won: `evil.example` first → 421, `127.0.0.1` first → 200.
#[tokio::test]
async fn a_request_with_two_host_headers_is_refused() {
    let sandbox = Sandbox::with_projects_root();
    let server = start_server(&sandbox, None, &[], &[]);
    let address = server.base.trim_start_matches("http://").to_owned();
    for hosts in [["evil.example", "127.0.0.1"], ["127.0.0.1", "evil.example"]] {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        write!(
            stream,
            "GET /api/state HTTP/1.1\r\nHost: {}\r\nHost: {}\r\nConnection: close\r\n\r\n",
            hosts[0], hosts[1]
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{hosts:?}: {answer}");
        assert!(
            answer.contains(
                r#"{"detail":"the request has more than one Host header; send exactly one"}"#
            ),
            "{hosts:?}: {answer}"
        );
    }
    assert_healthz_answers(&server).await;
}

// ---------------------------------------------------------------------------------------------
// 4. Idle sockets cannot exhaust the descriptors.

/// 300 idle sockets against `max_connections: 64` with a soft descriptor limit of 256: the
/// server raises the soft limit to the hard one, sheds the oldest idle connections, keeps its
/// WebSocket, and still answers. Before the fix the accept loop ran out of descriptors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_cannot_exhaust_the_descriptors() {
    let sandbox = Sandbox::with_projects_root();
    let server = start_server_via(
        &sandbox,
        &["prlimit", "--nofile=256:4096", "--"],
        None,
        &[],
        &[("CLAUSTER_MAX_CONNECTIONS", "64")],
    );
    assert_healthz_answers(&server).await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a descriptor limit");
    let numbers: Vec<&str> = files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["4096", "4096"], "soft raised to hard: {files}");

    let (mut events, _) = tokio_tungstenite::connect_async(format!("{}/ws/events", server.ws))
        .await
        .expect("the event socket opens");
    support::next_frame(&mut events).await;
    let before = fd_count(server.pid());
    let idle: Vec<std::net::TcpStream> = (0..300)
        .map(|_| std::net::TcpStream::connect(server.base.trim_start_matches("http://")).unwrap())
        .collect();
    // Every one of them has been accepted (and the oldest shed) once a request after them is
    // answered: the listener accepts in order. (The prober starts now: a connection that
    // arrives in the middle of a flood may itself be shed as idle before its request is read,
    // which is the policy working, not the server failing.)
    assert_healthz_answers(&server).await;
    let probe = prober(&server.base);
    // Shed connections are closed by their own tasks: wait for them, with a deadline.
    let settled = support::wait_for_async(Duration::from_secs(10), || async {
        (fd_count(server.pid()) <= before + 64).then_some(())
    })
    .await;
    let during = fd_count(server.pid());
    eprintln!("idle sockets: {before} descriptors before, {during} with 300 idle sockets");
    assert!(
        settled.is_some(),
        "{during} descriptors with 300 idle sockets (before: {before})"
    );
    // The WebSocket was never shed as idle.
    events
        .send(Message::Ping(b"still there".to_vec().into()))
        .await
        .expect("the event socket is open");
    let pong = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(message)) = events.next().await {
            if let Message::Pong(data) = message {
                return data.to_vec();
            }
        }
        Vec::new()
    })
    .await
    .expect("a pong within 5 s");
    assert_eq!(pong, b"still there");
    drop(idle);
    assert_kept_answering(probe);
    assert_peak_rss_under(&server, 100);
}

/// When every slot holds a WebSocket, a new connection is refused (none is idle), and served
/// again once a slot frees.
#[tokio::test]
async fn at_the_cap_with_no_idle_connection_new_ones_are_refused() {
    let sandbox = Sandbox::with_projects_root();
    let server = start_server(&sandbox, None, &[], &[("CLAUSTER_MAX_CONNECTIONS", "3")]);
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/events", server.ws))
            .await
            .expect("an event socket");
        support::next_frame(&mut socket).await;
        sockets.push(socket);
    }
    let refused = healthz_time(&format!("{}/healthz", server.base)).await;
    assert_eq!(refused, Duration::from_secs(5), "no slot: refused");
    drop(sockets.pop());
    let served = support::wait_for(Duration::from_secs(10), || {
        let mut stream =
            std::net::TcpStream::connect(server.base.trim_start_matches("http://")).ok()?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer.starts_with("HTTP/1.1 200").then_some(())
    });
    assert!(served.is_some(), "served again once a WebSocket closed");
    assert_peak_rss_under(&server, 100);
}

/// One attacking source's connection: a POST head announcing a 4 000-byte body, then one
/// byte of it; `None` when the server refused the connection.
async fn slow_body_connection(
    source: [u8; 4],
    server: std::net::SocketAddr,
) -> Option<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt as _;
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket
        .bind((std::net::Ipv4Addr::from(source), 0).into())
        .ok()?;
    let mut stream = socket.connect(server).await.ok()?;
    let head = format!(
        "POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nOrigin: http://127.0.0.1:{}\r\n\
         Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n{{",
        server.port(),
        server.port()
    );
    stream.write_all(head.as_bytes()).await.ok()?;
    Some(stream)
}

/// A slow-body flood (issue 16 follow-up, finding 1): four sources (127.0.0.2–5) each keep
/// 24 connections stuck mid-body (reopening every one the server closes) against
/// `max_connections: 40`, so one source may hold 16. `/healthz` from 127.0.0.1 keeps
/// answering within 1 s throughout, and the server did shed or refuse the flood. Before the
/// fix the first 40 stalled bodies held every slot and every other connection was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_body_flood_cannot_lock_everyone_out() {
    use tokio::io::AsyncWriteExt as _;
    let sandbox = Sandbox::with_projects_root();
    let server = start_server(&sandbox, None, &[], &[("CLAUSTER_MAX_CONNECTIONS", "40")]);
    assert_healthz_answers(&server).await;
    let address: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let in_place = Arc::new(tokio::sync::Barrier::new(5));
    let mut attackers = tokio::task::JoinSet::new();
    for source in 2..=5u8 {
        let stop = Arc::clone(&stop);
        let in_place = Arc::clone(&in_place);
        attackers.spawn(async move {
            let from = [127, 0, 0, source];
            let mut streams = Vec::new();
            for _ in 0..24 {
                streams.push(slow_body_connection(from, address).await);
            }
            in_place.wait().await;
            // Connections the server closed or refused, reopened.
            let mut lost = 0;
            while !stop.load(Ordering::Acquire) {
                for stream in &mut streams {
                    let alive = match stream {
                        Some(open) => open.write_all(b" ").await.is_ok(),
                        None => false,
                    };
                    if !alive {
                        lost += 1;
                        *stream = slow_body_connection(from, address).await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            lost
        });
    }
    // The flood is in place once every attacker has opened its connections and the server
    // has answered a request after them (a connection arriving in the same instant as a
    // burst of new ones, before any has sent its head, may be shed: none is a stalled body
    // yet). Before the fix the answers stopped once the flood's connections were accepted
    // (measured: the first probe of the loop below got no answer).
    in_place.wait().await;
    let healthz = format!("{}/healthz", server.base);
    let answered = tokio::time::timeout(Duration::from_secs(20), async {
        while healthz_time(&healthz).await >= Duration::from_secs(1) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(answered.is_ok(), "/healthz never answered under the flood");
    // Twenty probes (4 s or more) under the flood, held to the prober's rule.
    let probe = prober(&server.base);
    let under_flood =
        tokio::task::block_in_place(|| probe.wait_for_probes(20, Duration::from_mins(1)));
    if let Err(violation) = under_flood.verdict() {
        panic!("{violation} under the flood");
    }
    stop.store(true, Ordering::Release);
    let mut lost = 0;
    while let Some(done) = attackers.join_next().await {
        lost += done.expect("the attacker ran");
    }
    eprintln!("slow-body flood: {lost} attacking connections shed or refused");
    assert!(
        lost > 0,
        "96 stalled bodies against 40 slots and none was shed or refused"
    );
    assert_kept_answering(probe);
    assert_peak_rss_under(&server, 100);
}

// ---------------------------------------------------------------------------------------------
// 5. Forward-auth callers are held to the Origin rule when they send one.

#[tokio::test]
async fn a_cross_site_form_through_the_proxy_is_refused() {
    let (_sandbox, server) = support::serve_config(
        "auth:\n  enabled: true\n  allowed_origins: ['https://dash.example.net']\n  reverse_proxy:\n    enabled: true\n    trusted_ips: ['127.0.0.1']\n    require_hmac: false\n",
    );
    let probe = prober(&server.base);
    let post = |origin: Option<&str>| {
        let mut request = client()
            .post(format!("{}/api/instances", server.base))
            .header("remote-user", "alice")
            .header("content-type", "text/plain")
            .body(r#"{"project": "nope"}"#);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        async move {
            let answer = request.send().await.expect("an answer");
            (
                answer.status().as_u16(),
                answer.json::<Value>().await.unwrap(),
            )
        }
    };
    assert_eq!(
        post(Some("https://evil.example")).await,
        (403, json!({"detail": "origin check failed"}))
    );
    // An allowed Origin, or none (a script behind the proxy), passes the rule.
    for origin in [Some("https://dash.example.net"), None] {
        assert_eq!(
            post(origin).await,
            (404, json!({"detail": "project 'nope' not found"})),
            "{origin:?}"
        );
    }
    assert_kept_answering(probe);
    assert_peak_rss_under(&server, 100);

    // Doctor fails a forward-auth setup that allows no browser origin.
    let bare = Sandbox::new();
    write_config(
        &bare,
        "auth:\n  enabled: true\n  reverse_proxy:\n    enabled: true\n    trusted_ips: ['127.0.0.1']\n    require_hmac: false\n",
    );
    let out = bare
        .command(clauster_bin())
        .args(["doctor", "--json"])
        .output()
        .expect("run doctor");
    let report: Value = serde_json::from_slice(&out.stdout).expect("doctor's JSON");
    let auth = support::check_named(&report, "auth");
    assert_eq!(auth["status"], "fail", "{auth}");
    support::assert_field_contains(auth, "detail", "auth.allowed_origins");
}

// ---------------------------------------------------------------------------------------------
// 6. Every WebSocket of a cookie session closes when the session ends.

/// `/ws/pty-screen` and `/ws/clone-progress` close with 1008 `logged out` at a logout, as
/// `/ws/events` and `/ws/bridge-log` already did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one session: sign in, open both sockets, log out
async fn every_websocket_closes_at_logout() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    std::fs::write(
        alpha.join(".fake-claude.json"),
        json!({ "mode": "pty_ready" }).to_string(),
    )
    .unwrap();
    let hash = hash_password(&sandbox, PASSWORD);
    // A clone that never ends: git:// to a listener on 127.0.0.1 that accepts and stays
    // silent (the test URL policy admits 127.0.0.1, data.md §3.6).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let server = support::inprocess::serve_with(
        &sandbox,
        &format!(
            "claude:\n  pty_screen_enabled: true\nclone:\n  allowed_schemes: [git]\nauth:\n  enabled: true\n  password_required: true\n  password_hash: '{hash}'\n"
        ),
        clauster_server::ServeOptions {
            self_exe: clauster_bin().to_owned(),
            clone_url_policy: support::inprocess::test_policy(),
            ..clauster_server::ServeOptions::default()
        },
    )
    .await;
    let origin = server.base.clone();
    let login = support::log_in(&client(), &server.base, PASSWORD).await;
    assert_eq!(login.status(), 303);
    let cookie = support::cookie_set_by(&login);
    // A request of the signed-in browser: the status and the JSON answer (null when none).
    let api = |method: reqwest::Method, path: &str, body: Value| {
        let request = client()
            .request(method, format!("{}{path}", server.base))
            .header("cookie", &cookie)
            .header("origin", &origin)
            .json(&body);
        async move {
            let answer = request.send().await.expect("an answer");
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, started) = api(
        reqwest::Method::POST,
        "/api/instances",
        json!({"project": "alpha", "resume_mode": "pty", "trust": true}),
    )
    .await;
    assert_eq!(status, 201, "{started}");
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, instance) = api(
            reqwest::Method::GET,
            &format!("/api/instances/{id}"),
            json!({}),
        )
        .await;
        if instance["status"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "never running: {instance}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, cloning) = api(
        reqwest::Method::POST,
        "/api/projects/clone",
        json!({"name": "slow", "url": format!("git://127.0.0.1:{silent_port}/r.git")}),
    )
    .await;
    assert_eq!(status, 202, "{cloning}");
    let job = cloning["job_id"].as_str().unwrap().to_owned();

    let open = |path: String| {
        let mut request = format!("{}{path}", server.ws)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        async move {
            tokio_tungstenite::connect_async(request)
                .await
                .expect("the socket opens")
                .0
        }
    };
    let mut screen = open(format!("/ws/pty-screen/{id}")).await;
    let mut progress = open(format!("/ws/clone-progress/{job}")).await;
    // Both are live: the screen sends its first frame, the clone its first progress.
    let first = tokio::time::timeout(Duration::from_secs(10), screen.next())
        .await
        .expect("a first screen frame");
    assert!(matches!(first, Some(Ok(Message::Text(_)))), "{first:?}");

    let (status, _) = api(reqwest::Method::POST, "/logout", json!({})).await;
    assert_eq!(status, 303);
    for (name, socket) in [
        ("pty-screen", &mut screen),
        ("clone-progress", &mut progress),
    ] {
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(message) = socket.next().await {
                if let Ok(Message::Close(frame)) = message {
                    return frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                }
            }
            None
        })
        .await
        .unwrap_or_else(|_| panic!("{name} stayed open after the logout"));
        assert_eq!(closed, Some((1008, "logged out".to_owned())), "{name}");
    }
    drop(silent);
}

// ---------------------------------------------------------------------------------------------
// 7. The control socket checks its peer; the CLI checks the socket it is about to trust.

/// A server running as `nobody`: root can open its control socket (root passes any file
/// mode), and the server still refuses it, because the peer's uid is not its own.
#[tokio::test]
async fn the_control_socket_refuses_another_uid() {
    let sandbox = Sandbox::with_projects_root();
    std::fs::create_dir_all(sandbox.home()).unwrap();
    chown_tree(sandbox.dir.path(), 65_534);
    let server = start_server_via(
        &sandbox,
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
        None,
        &[],
        &[],
    );
    assert_healthz_answers(&server).await;
    let socket = sandbox.state_dir().join("control.sock");
    // The client blocks: off the test's async workers.
    let answer = tokio::task::spawn_blocking(move || {
        support::wait_for(Duration::from_secs(10), || {
            use clauster_server::control_client::{CallError, call};
            match call(
                &socket,
                "GET",
                "/api/projects",
                None,
                Duration::from_secs(5),
            ) {
                Err(CallError::NoServer(_)) => None,
                Ok(answer) => Some(Some(answer.status)),
                Err(_) => Some(None),
            }
        })
    })
    .await
    .expect("the client thread")
    .expect("the control socket exists");
    assert_eq!(answer, None, "a peer of another uid got an answer");
    assert_healthz_answers(&server).await;
    assert_peak_rss_under(&server, 100);
}

fn chown_tree(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).expect("chown");
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path).expect("list").flatten() {
            chown_tree(&entry.path(), uid);
        }
    }
}

/// The CLI computes the `/tmp/clauster-<uid>/` fallback for a long state directory; a socket
/// there that another user owns is refused, not spoken to.
#[test]
fn the_cli_refuses_a_fallback_socket_another_user_owns() {
    let sandbox = Sandbox::new();
    let deep = sandbox.dir.path().join("s".repeat(120));
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::create_dir_all(sandbox.projects_root()).unwrap();
    let socket_path = clauster_server::control_socket_for(&deep);
    assert!(
        socket_path.to_string_lossy().starts_with("/tmp/clauster-"),
        "{}",
        socket_path.display()
    );
    let dir = socket_path.parent().unwrap();
    if !dir.exists() {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    }
    let _ = std::fs::remove_file(&socket_path);
    let planted = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    std::os::unix::fs::lchown(&socket_path, Some(65_534), Some(65_534)).unwrap();
    planted.set_nonblocking(true).unwrap();
    let config = sandbox.dir.path().join("deep.yml");
    write_roots(&config, &sandbox.projects_root(), &deep);
    let out = sandbox
        .command(clauster_bin())
        .arg("-c")
        .arg(&config)
        .args(["projects", "--json"])
        .output()
        .expect("run clauster");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let spoken_to = planted.accept().is_ok();
    let _ = std::fs::remove_file(&socket_path);
    assert!(
        !spoken_to,
        "the CLI connected to a socket another user owns"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is owned by uid 65534"),
        "the refusal names the owner: {stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Translated IPv6 spellings of loopback and private addresses are refused for clones.

#[tokio::test]
async fn translated_ipv6_addresses_cannot_reach_loopback_or_private_hosts() {
    let (sandbox, server) = support::serve_config("clone:\n  allow_private_hosts: true\n");
    let probe = prober(&server.base);
    for (host, ip) in [
        // Local-use NAT64 (RFC 8215), /96 layout, carrying 127.0.0.1.
        ("[64:ff9b:1::7f00:1]", "64:ff9b:1::7f00:1"),
        // Local-use NAT64, /48 layout (RFC 6052: the IPv4 address after the prefix).
        ("[64:ff9b:1:7f00:1::]", "64:ff9b:1:7f00:1::"),
        // SIIT IPv4-translated `::ffff:0:a.b.c.d` carrying 169.254.169.254.
        ("[::ffff:0:a9fe:a9fe]", "169.254.169.254"),
        // Teredo: the client address 127.0.0.1 is stored inverted in the last 32 bits.
        (
            "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
        ),
    ] {
        let answer = client()
            .post(format!("{}/api/projects/clone", server.base))
            .json(&json!({"name": "x", "url": format!("https://{host}/x.git")}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "{host}");
        let detail = answer.json::<Value>().await.unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            detail.contains(&format!("resolves to blocked address {ip} ")),
            "{host}: {detail}"
        );
    }
    assert!(
        std::fs::read_dir(sandbox.projects_root())
            .unwrap()
            .next()
            .is_none(),
        "nothing was cloned"
    );
    assert_kept_answering(probe);
    assert_peak_rss_under(&server, 100);
}

// ---------------------------------------------------------------------------------------------
// 9. Raw input is echoed only through the echo rule; references are bounded.

#[tokio::test]
async fn long_and_invisible_input_is_never_echoed_raw() {
    let (sandbox, _) = trusted_project("alpha", &[]);
    let claude = support::fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let probe = prober(&server.base);
    let long = "a".repeat(3000);
    let (status, answer) = get_json(&server.base, &format!("/api/instances/{long}"), &[]).await;
    assert_eq!(status, 404);
    assert_eq!(
        answer["detail"],
        format!("no such instance: {}", "a".repeat(80))
    );
    assert_eq!(
        get_json(&server.base, "/api/instances/ab%E2%80%AEcd", &[]).await,
        (404, json!({"detail": "no such instance: ab\\u{202e}cd"}))
    );
    // The WebSocket refusal fits a close frame (123 bytes of reason).
    for path in ["bridge-log", "pty-screen"] {
        let (mut socket, _) =
            tokio_tungstenite::connect_async(format!("{}/ws/{path}/{long}", server.ws))
                .await
                .expect("the handshake succeeds; the refusal is the close frame");
        let closed = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("closed at once");
        let Some(Ok(Message::Close(Some(frame)))) = closed else {
            panic!("{path}: expected a close frame, got {closed:?}");
        };
        assert_eq!(u16::from(frame.code), 1008, "{path}");
        assert!(frame.reason.len() <= 123, "{path}: {}", frame.reason);
    }
    // Names that reach claude's argv refuse invisible formatting characters.
    for (field, value) in [
        ("rc_name", "deploy\u{202e}gnp.exe"),
        ("model", "opus\u{200b}"),
    ] {
        let answer = client()
            .post(format!("{}/api/agents", server.base))
            .json(&json!({"project": "alpha", "prompt": "hi", field: value}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 422, "{field}");
        assert_eq!(
            answer.json::<Value>().await.unwrap(),
            json!({
                "detail": format!("{field} must not start with '-' or contain control or invisible characters"),
                "field": field,
            })
        );
    }
    assert_kept_answering(probe);
    assert_peak_rss_under(&server, 100);
}

// ---------------------------------------------------------------------------------------------
// 10. `-c FILE` before or after the subcommand.

#[test]
fn the_config_flag_is_accepted_before_or_after_the_subcommand() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    let config = sandbox.dir.path().join("elsewhere.yml");
    write_roots(
        &config,
        &sandbox.projects_root(),
        &sandbox.dir.path().join("state"),
    );
    let config = config.to_str().unwrap();
    for args in [
        ["-c", config, "projects", "--json"],
        ["projects", "-c", config, "--json"],
        ["projects", "--json", "--config", config],
        ["--config", config, "projects", "--json"],
    ] {
        let out = sandbox
            .command(clauster_bin())
            .args(args)
            .output()
            .expect("run clauster");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        let projects: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(projects[0]["name"], "alpha", "{args:?}");
    }
}
