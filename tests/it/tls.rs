//! Native TLS through the real `clauster run` process (config.md §3.13, cli.md §3 `run`,
//! security.md §6 and §10): the self-signed certificate (files, modes, when it is made
//! again), the operator's own pair, HTTPS and `wss://` answered by a rustls client that
//! trusts exactly that certificate, and the startup refusals (exit 2) for bad files.

use crate::support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use support::{Sandbox, Server, ServesApi, start_server, write_config};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite;

fn self_signed_config(hostnames: &str) -> String {
    format!("tls:\n  provision: self-signed\n  hostnames: [{hostnames}]\n")
}

fn tls_dir(sandbox: &Sandbox) -> PathBuf {
    sandbox.state_dir().join("tls")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A rustls client that trusts only the certificate in `cert_pem`.
fn connector(cert_pem: &[u8]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem) {
        roots
            .add(cert.expect("a PEM certificate"))
            .expect("a usable trust anchor");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn tls_stream(
    port: u16,
    cert_pem: &[u8],
    name: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from(name.to_owned()).expect("a server name");
    connector(cert_pem).connect(name, tcp).await
}

/// `GET <path>` over HTTPS to 127.0.0.1 verified as `name`: the raw response text.
async fn https_get(port: u16, cert_pem: &[u8], name: &str, path: &str) -> std::io::Result<String> {
    let mut stream = tls_stream(port, cert_pem, name).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

fn body_json(response: &str) -> Value {
    let body = response.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).unwrap_or_else(|err| panic!("{err}: {response}"))
}

fn start(sandbox: &Sandbox) -> Server {
    let server = start_server(sandbox, None, &[], &[]);
    // The listener is bound before the banner; wait for the banner itself.
    let banner = support::wait_for(Duration::from_secs(20), || {
        let log = server.log();
        log.contains("| http").then_some(log)
    });
    assert!(banner.is_some(), "no banner: {}", server.log());
    server
}

/// Opens `/ws/events` over TLS (verified as `localhost`): the first frame.
async fn first_event_over_tls(port: u16, cert: &[u8]) -> Value {
    let stream = tls_stream(port, cert, "localhost").await.expect("TLS");
    let (mut socket, answer) =
        tokio_tungstenite::client_async(format!("wss://localhost:{port}/ws/events"), stream)
            .await
            .expect("a WebSocket over TLS");
    assert_eq!(answer.status(), 101);
    let first = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("a frame in time")
        .expect("a frame")
        .expect("a readable frame");
    let tungstenite::Message::Text(text) = first else {
        panic!("not a text frame: {first:?}");
    };
    serde_json::from_str(&text).expect("a JSON frame")
}

#[tokio::test]
async fn self_signed_serves_https_and_websockets_and_is_kept_until_hostnames_change() {
    let sandbox = Sandbox::new();
    write_config(&sandbox, &self_signed_config("localhost, 127.0.0.1"));
    let server = start(&sandbox);
    let port = server.port();
    let log = server.log();
    assert!(
        log.contains(&format!("| https://127.0.0.1:{port}")),
        "{log}"
    );
    assert!(
        log.contains("generated a self-signed certificate (no certificate yet)"),
        "{log}"
    );

    // Files and modes (security.md §10).
    let dir = tls_dir(&sandbox);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("self-signed.crt")), 0o600);
    assert_eq!(mode(&dir.join("self-signed.key")), 0o600);
    let meta: Value =
        serde_json::from_slice(&std::fs::read(dir.join("self-signed.json")).unwrap()).unwrap();
    assert_eq!(
        meta["hostnames"],
        serde_json::json!(["localhost", "127.0.0.1"])
    );
    let cert = std::fs::read(dir.join("self-signed.crt")).unwrap();

    // HTTPS, verified against the generated certificate, by IP SAN and by DNS SAN.
    for name in ["127.0.0.1", "localhost"] {
        let response = https_get(port, &cert, name, "/healthz")
            .await
            .expect("HTTPS");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert_eq!(body_json(&response)["status"], "ok");
        // Native TLS counts as secure: HSTS (security.md §6, cookie_secure auto).
        assert!(
            response
                .to_ascii_lowercase()
                .contains("strict-transport-security: max-age=31536000"),
            "{response}"
        );
    }
    // A name the certificate does not carry is refused by the client.
    assert!(
        https_get(port, &cert, "elsewhere.test", "/healthz")
            .await
            .is_err()
    );
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::get(format!("{}/healthz", server.base)).await;
    assert!(plain.is_err(), "{plain:?}");

    // `/ws/events` over TLS: the handshake and the first frame.
    assert_eq!(first_event_over_tls(port, &cert).await["type"], "hello");
    drop(server);

    // Same hostnames: the pair is kept.
    let server = start(&sandbox);
    assert!(
        !server.log().contains("generated a self-signed"),
        "{}",
        server.log()
    );
    assert_eq!(std::fs::read(dir.join("self-signed.crt")).unwrap(), cert);
    let response = https_get(server.port(), &cert, "localhost", "/healthz")
        .await
        .expect("the same certificate still verifies");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    drop(server);

    // Changed hostnames: a new pair for them.
    write_config(&sandbox, &self_signed_config("clauster.test, 127.0.0.1"));
    let server = start(&sandbox);
    assert!(
        server
            .log()
            .contains("generated a self-signed certificate (tls.hostnames changed)"),
        "{}",
        server.log()
    );
    let renewed = std::fs::read(dir.join("self-signed.crt")).unwrap();
    assert_ne!(renewed, cert);
    assert_eq!(mode(&dir.join("self-signed.key")), 0o600);
    let port = server.port();
    let response = https_get(port, &renewed, "clauster.test", "/healthz")
        .await
        .expect("the new name verifies");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        https_get(port, &renewed, "localhost", "/healthz")
            .await
            .is_err()
    );
    assert!(
        https_get(port, &cert, "127.0.0.1", "/healthz")
            .await
            .is_err()
    );
}

/// A certificate and key made in the test (rcgen) for `names`: (cert PEM, key PEM).
fn pair(names: &[&str]) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("a key");
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("params");
    let cert = params.self_signed(&key).expect("a certificate");
    (cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn provision_off_serves_the_operators_pair() {
    let sandbox = Sandbox::new();
    let (cert, key) = pair(&["localhost"]);
    let own = sandbox.home().join("certs");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(own.join("cert.pem"), &cert).unwrap();
    std::fs::write(own.join("key.pem"), &key).unwrap();
    std::fs::set_permissions(own.join("key.pem"), std::fs::Permissions::from_mode(0o644)).unwrap();
    // `~` is the sandbox HOME.
    write_config(
        &sandbox,
        "tls:\n  cert_file: ~/certs/cert.pem\n  key_file: ~/certs/key.pem\n",
    );
    let server = start(&sandbox);
    let port = server.port();
    let log = server.log();
    assert!(
        log.contains(&format!("| https://127.0.0.1:{port}")),
        "{log}"
    );
    assert!(
        log.contains("key.pem is readable by group or others (mode 644); run chmod 600 on it"),
        "{log}"
    );
    let response = https_get(port, cert.as_bytes(), "localhost", "/healthz")
        .await
        .expect("HTTPS with the operator's certificate");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // Nothing is generated for the operator's pair.
    assert!(!tls_dir(&sandbox).join("self-signed.crt").exists());
}

/// Runs `clauster run` expecting it to refuse: (exit code, stderr).
fn refused_run(sandbox: &Sandbox) -> (Option<i32>, String) {
    let out = support::clauster_run(sandbox, None)
        .output()
        .expect("run clauster");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Files a refused start must not have made: the database and the self-signed pair.
fn assert_nothing_started(sandbox: &Sandbox) {
    let state = sandbox.state_dir();
    assert!(
        !state.join("clauster.sqlite3").exists(),
        "the store was opened"
    );
    assert!(!state.join("tls").join("self-signed.crt").exists());
}

#[test]
fn bad_tls_files_refuse_startup_with_exit_2() {
    let sandbox = Sandbox::new();
    let dir = sandbox.dir.path().join("certs");
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = pair(&["localhost"]);
    let (_, other_key) = pair(&["localhost"]);
    std::fs::write(dir.join("cert.pem"), &cert).unwrap();
    std::fs::write(dir.join("key.pem"), &key).unwrap();
    std::fs::write(dir.join("other.pem"), &other_key).unwrap();
    let path = |name: &str| dir.join(name).display().to_string();
    let cases = [
        (
            "mismatched key",
            path("cert.pem"),
            path("other.pem"),
            format!(
                "clauster: TLS error: the key in tls.key_file {} does not match the certificate \
                 in tls.cert_file {}; use the private key the certificate was issued for",
                path("other.pem"),
                path("cert.pem")
            ),
        ),
        (
            "missing certificate",
            path("absent.pem"),
            path("key.pem"),
            format!(
                "clauster: TLS error: cannot read tls.cert_file {}: No such file or directory \
                 (os error 2); point tls.cert_file at a readable PEM file",
                path("absent.pem")
            ),
        ),
        (
            "missing key",
            path("cert.pem"),
            path("absent.pem"),
            format!(
                "clauster: TLS error: cannot read tls.key_file {}: No such file or directory \
                 (os error 2); point tls.key_file at a readable PEM file",
                path("absent.pem")
            ),
        ),
        (
            "a directory",
            dir.display().to_string(),
            path("key.pem"),
            format!(
                "clauster: TLS error: tls.cert_file {} is not a regular file; point \
                 tls.cert_file at a PEM file",
                dir.display()
            ),
        ),
        (
            "the key as certificate",
            path("key.pem"),
            path("key.pem"),
            format!(
                "clauster: TLS error: tls.cert_file {} holds no PEM certificate (a `-----BEGIN \
                 CERTIFICATE-----` block); point it at the certificate, not the key",
                path("key.pem")
            ),
        ),
        (
            "the certificate as key",
            path("cert.pem"),
            path("cert.pem"),
            format!(
                "clauster: TLS error: tls.key_file {} holds no usable PEM private key (PKCS#8, \
                 PKCS#1 or SEC1); point it at the certificate's private key",
                path("cert.pem")
            ),
        ),
    ];
    for (what, cert_file, key_file, message) in cases {
        write_config(
            &sandbox,
            &format!("tls:\n  cert_file: {cert_file}\n  key_file: {key_file}\n"),
        );
        let (code, err) = refused_run(&sandbox);
        assert_eq!(code, Some(2), "{what}: {err}");
        assert!(err.contains(&message), "{what}: {err}");
        assert!(!err.contains("https://"), "{what}: no banner: {err}");
        assert_nothing_started(&sandbox);
    }
    // The files are untouched.
    assert_eq!(std::fs::read_to_string(dir.join("cert.pem")).unwrap(), cert);
    assert_eq!(std::fs::read_to_string(dir.join("key.pem")).unwrap(), key);
}

#[test]
fn bad_tls_settings_refuse_startup_with_exit_2() {
    let sandbox = Sandbox::new();
    let cases = [
        (
            "self-signed with files",
            "tls:\n  provision: self-signed\n  hostnames: [a.lan]\n  cert_file: /c.pem\n",
            "tls.cert_file and tls.key_file must not be set when tls.provision is self-signed",
        ),
        (
            "self-signed without hostnames",
            "tls:\n  provision: self-signed\n",
            "tls.hostnames must list at least one hostname",
        ),
        (
            "off without files",
            "tls:\n  provision: off\n",
            "tls.cert_file and tls.key_file are required when tls.provision is off",
        ),
        (
            "a hostname with a space",
            "tls:\n  provision: self-signed\n  hostnames: [good.lan, 'bad host']\n",
            "clauster: TLS error: tls.hostnames entry \"bad host\" is neither a DNS name nor an \
             IP address; list names like clauster.lan or addresses like 192.168.1.5",
        ),
    ];
    for (what, yaml, message) in cases {
        write_config(&sandbox, yaml);
        let (code, err) = refused_run(&sandbox);
        assert_eq!(code, Some(2), "{what}: {err}");
        assert!(err.contains(message), "{what}: {err}");
        assert_nothing_started(&sandbox);
        let tls = tls_dir(&sandbox);
        assert!(
            !tls.exists() || std::fs::read_dir(&tls).unwrap().next().is_none(),
            "{what}: nothing generated"
        );
    }
}

/// One request over TLS verified as `localhost`: the raw response.
async fn https_request(port: u16, cert: &[u8], request: &str) -> String {
    let mut stream = tls_stream(port, cert, "localhost").await.expect("TLS");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_login_over_native_tls_sets_a_secure_cookie_without_the_clear_text_warning() {
    let sandbox = Sandbox::new();
    support::password_config(
        &sandbox,
        "correct horse battery",
        &self_signed_config("localhost"),
    );
    let server = start(&sandbox);
    let port = server.port();
    let cert = std::fs::read(tls_dir(&sandbox).join("self-signed.crt")).unwrap();
    let form = "password=correct+horse+battery";
    let response = https_request(
        port,
        &cert,
        &format!(
            "POST /login HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: https://localhost:{port}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{form}",
            form.len()
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 303"), "{response}");
    let set_cookie = response
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {response}"));
    assert!(set_cookie.contains("clauster_session_"), "{set_cookie}");
    assert!(set_cookie.ends_with("; Secure"), "{set_cookie}");
    let cookie = set_cookie["set-cookie:".len()..]
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let state = https_request(
        port,
        &cert,
        &format!(
            "GET /api/state HTTP/1.1\r\nHost: localhost:{port}\r\nCookie: {cookie}\r\n\
             Connection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(state.starts_with("HTTP/1.1 200"), "{state}");
    assert!(
        !server
            .log()
            .contains("password sign-in is on without TLS or a reverse proxy"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn a_self_signed_pair_near_its_expiry_or_without_a_record_is_made_again() {
    let sandbox = Sandbox::new();
    write_config(&sandbox, &self_signed_config("localhost"));
    drop(start(&sandbox));
    let dir = tls_dir(&sandbox);
    let meta_file = dir.join("self-signed.json");
    let first = std::fs::read(dir.join("self-signed.crt")).unwrap();
    let mut meta: Value = serde_json::from_slice(&std::fs::read(&meta_file).unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let not_after = meta["not_after"].as_u64().expect("not_after");
    // 825 days ahead, give or take the test's own run time.
    assert!(not_after.abs_diff(now + 825 * 86_400) < 3_600, "{meta}");

    // Ten days before expiry: made again.
    meta["not_after"] = (now + 10 * 86_400).into();
    std::fs::write(&meta_file, meta.to_string()).unwrap();
    let server = start(&sandbox);
    assert!(
        server.log().contains(
            "generated a self-signed certificate (the certificate expires within 30 days)"
        ),
        "{}",
        server.log()
    );
    let second = std::fs::read(dir.join("self-signed.crt")).unwrap();
    assert_ne!(second, first);
    let response = https_get(server.port(), &second, "localhost", "/healthz")
        .await
        .expect("the new certificate verifies");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    drop(server);

    // An unreadable record: made again rather than trusted.
    std::fs::write(&meta_file, "not json").unwrap();
    let server = start(&sandbox);
    assert!(
        server.log().contains(
            "generated a self-signed certificate (no record of the existing certificate's \
             hostnames)"
        ),
        "{}",
        server.log()
    );
    assert_ne!(std::fs::read(dir.join("self-signed.crt")).unwrap(), second);
    assert_eq!(mode(&meta_file), 0o600);
}
