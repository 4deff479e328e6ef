//! Slow clients (security.md §7.2) through the real `clauster run` process: a request head
//! that stalls is cut off (the connection closed, no answer), a body that stalls gets a 408
//! and the connection closed, and other clients are served meanwhile — on plain HTTP and, for
//! the head, over TLS. The server runs in-process so the test can shorten the limits through
//! `ServeOptions::limits`.

use crate::support;

use std::io::Write as _;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use support::inprocess::{InProcess, serve_with};
use support::{Sandbox, ServesApi};

/// A server in this process with the head limit at 1 s and the body limit at 1.5 s (short,
/// yet long enough for a TLS handshake on a busy machine), and `extra` YAML in its config.
async fn serve_with_short_limits(sandbox: &Sandbox, extra: &str) -> InProcess {
    let limits = clauster_server::Limits {
        head: Duration::from_secs(1),
        body: Duration::from_millis(1500),
    };
    serve_with(
        sandbox,
        extra,
        clauster_server::ServeOptions {
            limits,
            ..clauster_server::ServeOptions::default()
        },
    )
    .await
}

/// Reads until the server closes the stream (or resets it); what it sent. The read timeout
/// is only a safety net against a server that never closes (that fails the test).
fn read_until_closed(stream: &mut impl std::io::Read) -> String {
    let mut seen = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                break;
            }
            Err(err) => panic!(
                "the server kept a stalled connection open: {err}; got {:?}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Reads each of `streams` until the server closes it, on a blocking thread (the server shares
/// this runtime): what each one received, in order.
async fn read_all_until_closed(streams: Vec<Box<dyn std::io::Read + Send>>) -> Vec<String> {
    tokio::task::spawn_blocking(move || {
        streams
            .into_iter()
            .map(|mut stream| read_until_closed(&mut stream))
            .collect()
    })
    .await
    .expect("the reads end")
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_mins(1)))
        .expect("a read timeout");
    stream
}

/// A complete request on its own connection is answered while another client stalls.
async fn others_are_served(base: &str) {
    let response = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(response.status(), 200);
}

// The server shares this runtime; the blocking socket reads below need a second worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_head_or_body_is_cut_off_on_plain_http() {
    let sandbox = Sandbox::with_projects_root();
    let server = serve_with_short_limits(&sandbox, "").await;
    let port = server.port();

    // Half a request head, then nothing.
    let mut head = connect(port);
    head.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    // A connection that never sends a byte.
    let silent = connect(port);
    // A complete head with a body that stops half-way.
    let mut body = connect(port);
    body.write_all(
        b"POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Content-Length: 40\r\n\r\n{\"name\": \"sl",
    )
    .unwrap();
    others_are_served(&server.base).await;

    let seen = read_all_until_closed(vec![Box::new(head), Box::new(silent), Box::new(body)]).await;
    // The head limit closes the connection without an answer.
    assert_eq!(seen[..2], ["", ""]);
    let body_seen = &seen[2];
    // The body limit answers 408 and closes.
    assert!(body_seen.starts_with("HTTP/1.1 408"), "{body_seen}");
    let lower = body_seen.to_ascii_lowercase();
    assert!(lower.contains("connection: close"), "{body_seen}");
    assert!(
        body_seen.contains(
            "{\"detail\":\"request body not received within 1.5 s; send the whole body without \
             pausing\"}"
        ),
        "{body_seen}"
    );
    // Nothing was created by the half-sent body.
    assert!(!sandbox.projects_root().join("sl").exists());
    // The server still serves, and a body sent in time is unaffected.
    others_are_served(&server.base).await;
    let created = reqwest::Client::new()
        .post(format!("{}/api/projects", server.base))
        .json(&serde_json::json!({"name": "slow"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    assert!(sandbox.projects_root().join("slow").is_dir());
}

// The server shares this runtime; the blocking socket reads below need a second worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_head_is_cut_off_over_tls() {
    let sandbox = Sandbox::with_projects_root();
    let server = serve_with_short_limits(
        &sandbox,
        "tls:\n  provision: self-signed\n  hostnames: [localhost]\n",
    )
    .await;
    let port = server.port();
    let cert = std::fs::read(sandbox.state_dir().join("tls").join("self-signed.crt"))
        .expect("the generated certificate");
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(&cert) {
        roots.add(der.unwrap()).unwrap();
    }
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let tls_client = |port: u16| {
        let name = ServerName::try_from("localhost").unwrap();
        let session = rustls::ClientConnection::new(Arc::clone(&config), name).unwrap();
        rustls::StreamOwned::new(session, connect(port))
    };

    // Handshake done, half a head sent over TLS, then nothing.
    let mut stalled = tls_client(port);
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    stalled.flush().unwrap();
    // A TCP connection that never starts the handshake.
    let silent = connect(port);

    // Another client is served over TLS meanwhile.
    let mut good = tls_client(port);
    good.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let answer = read_until_closed(&mut good);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let seen = read_all_until_closed(vec![Box::new(stalled), Box::new(silent)]).await;
    assert_eq!(seen, ["", ""]);
    drop(server);
}
