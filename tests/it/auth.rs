//! Authentication, the Origin rule and response headers through the real `clauster run`
//! process (security.md §2–§6, §12 rows 44–50, 56): password login, sessions and logout,
//! the throttle, bearer tokens (named and legacy), forward-auth, WebSocket handshakes, CSP
//! nonces and body limits.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use sha2::Sha256;
use support::{
    Answer, Sandbox, Server, clauster_bin, hash_password, hex, password_config, sha256_hex,
    start_server, write_config,
};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

const PASSWORD: &str = "correct horse battery";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// Runs `clauster <args>` in the sandbox with `stdin`; exit code, stdout, stderr.
fn cli(sandbox: &Sandbox, args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write as _;
    let mut cmd = sandbox.command(clauster_bin());
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn clauster");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for clauster");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn origin(server: &Server) -> String {
    server.base.clone()
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    Answer::of(request).await
}

/// `POST /login` with the form and an `Origin` (when given).
async fn login(server: &Server, password: &str, origin: Option<&str>) -> Answer {
    let mut request = client()
        .post(format!("{}/login", server.base))
        .form(&[("password", password)]);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    send(request).await
}

/// The `name=value` part of the session cookie a response set.
fn session_cookie(answer: &Answer) -> String {
    let set = answer.header("set-cookie");
    assert!(set.starts_with("clauster_session_"), "set-cookie: {set}");
    set.split(';').next().unwrap().to_owned()
}

async fn get_with(server: &Server, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = client().get(format!("{}{path}", server.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

/// An `Authorization` value carrying `token`.
fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `GET path` with `token` as the bearer: the status.
async fn status_with_token(server: &Server, path: &str, token: &str) -> u16 {
    get_with(server, path, &[("authorization", &bearer(token))])
        .await
        .status
}

/// `GET path` with the session `cookie`: the status.
async fn status_with_cookie(server: &Server, path: &str, cookie: &str) -> u16 {
    get_with(server, path, &[("cookie", cookie)]).await.status
}

/// `POST /logout` with the session `cookie` and `origin`.
async fn log_out(server: &Server, cookie: &str, origin: &str) -> Answer {
    send(
        client()
            .post(format!("{}/logout", server.base))
            .header("cookie", cookie)
            .header("origin", origin),
    )
    .await
}

/// A server with the password sign-in on (`PASSWORD`) and no `claude`: the sandbox, the
/// server and its origin.
fn serve_with_password() -> (Sandbox, Server, String) {
    let sandbox = Sandbox::new();
    password_config(&sandbox, PASSWORD, "");
    let server = start_server(&sandbox, None, &[], &[]);
    let origin = origin(&server);
    (sandbox, server, origin)
}

/// `POST /api/instances` with `headers` and the JSON `body`.
async fn start_with(server: &Server, headers: &[(&str, &str)], body: Value) -> Answer {
    let mut request = client().post(format!("{}/api/instances", server.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request.json(&body)).await
}

/// A WebSocket handshake: `Ok(())` on upgrade, else the HTTP status of the refusal.
async fn handshake(server: &Server, path: &str, headers: &[(&str, &str)]) -> Result<(), u16> {
    let mut request = format!("{}{path}", server.ws)
        .into_client_request()
        .expect("a ws request");
    for (name, value) in headers {
        request.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => Ok(()),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("unexpected handshake error: {other}"),
    }
}

/// The nonce of a CSP header.
fn csp_nonce(answer: &Answer) -> String {
    let csp = answer.header("content-security-policy");
    let start = csp.find("'nonce-").expect("a nonce in the CSP") + "'nonce-".len();
    csp[start..].split('\'').next().unwrap().to_owned()
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one operator's session, step by step
async fn fail_closed_login_sessions_and_logout() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    password_config(&sandbox, PASSWORD, "");
    let server = start_server(&sandbox, None, &[], &[]);
    let origin = origin(&server);

    // No credentials: pages redirect, API routes answer 401, WebSockets are refused.
    let page = get_with(&server, "/", &[]).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), "/login");
    for path in [
        "/api/state",
        "/api/projects",
        "/api/instances",
        "/api/widget",
        "/api/v1/projects",
    ] {
        let answer = get_with(&server, path, &[]).await;
        assert_eq!(answer.status, 401, "{path}");
        assert_eq!(
            answer.json(),
            json!({"detail": "authentication required"}),
            "{path}"
        );
    }
    let start = start_with(&server, &[("origin", &origin)], json!({"project": "alpha"})).await;
    assert_eq!(start.status, 401);
    for path in ["/ws/events", "/ws/bridge-log/x"] {
        assert_eq!(
            handshake(&server, path, &[("origin", &origin)]).await,
            Err(403),
            "{path}"
        );
    }
    // Health is public, reduced to its status.
    let health = get_with(&server, "/healthz", &[]).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json(), json!({"status": "ok"}));

    // The login page: CSP with a fresh nonce carried by its inline script and style.
    let first = get_with(&server, "/login", &[]).await;
    let second = get_with(&server, "/login", &[]).await;
    assert_eq!(first.status, 200);
    assert!(first.body.contains("autocomplete=\"current-password\""));
    let nonce = csp_nonce(&first);
    assert_ne!(nonce, csp_nonce(&second), "a fresh nonce per response");
    assert!(first.body.contains(&format!("<script nonce=\"{nonce}\">")));
    assert!(first.body.contains(&format!("<style nonce=\"{nonce}\">")));

    // Origin rule before the public path (row 45): nothing is set.
    for bad in [None, Some("https://evil.example")] {
        let refused = login(&server, PASSWORD, bad).await;
        assert_eq!(refused.status, 403, "{bad:?}");
        assert_eq!(refused.json(), json!({"detail": "origin check failed"}));
        assert!(refused.headers.get("set-cookie").is_none());
    }
    let wrong = login(&server, "not it", Some(&origin)).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Wrong password."));
    assert!(wrong.headers.get("set-cookie").is_none());

    let ok = login(&server, PASSWORD, Some(&origin)).await;
    assert_eq!(ok.status, 303);
    assert_eq!(ok.header("location"), "/");
    let set = ok.header("set-cookie").to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "auto without TLS or proxy: {set}");
    let cookie = session_cookie(&ok);

    // Signed in: the page, with its scripts carrying the response's nonce.
    let dashboard = get_with(&server, "/", &[("cookie", &cookie)]).await;
    assert_eq!(dashboard.status, 200);
    let nonce = csp_nonce(&dashboard);
    let scripts = dashboard.body.matches("<script").count();
    assert!(scripts >= 2);
    assert_eq!(
        dashboard
            .body
            .matches(&format!("nonce=\"{nonce}\""))
            .count(),
        scripts
    );
    assert!(
        !dashboard.body.contains("style=\""),
        "no style attributes under the CSP"
    );
    let health = get_with(&server, "/healthz", &[("cookie", &cookie)]).await;
    assert_eq!(health.json()["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status_with_cookie(&server, "/login", &cookie).await, 303);
    assert_eq!(
        status_with_cookie(&server, "/api/projects", &cookie).await,
        200
    );
    // A cookie-authenticated unsafe request still needs the Origin.
    let no_origin = start_with(&server, &[("cookie", &cookie)], json!({})).await;
    assert_eq!(no_origin.status, 403);
    assert_eq!(no_origin.json(), json!({"detail": "origin check failed"}));
    // The event socket: needs the cookie and an allowed Origin (rows 48).
    assert_eq!(
        handshake(&server, "/ws/events", &[("cookie", &cookie)]).await,
        Err(403)
    );
    assert_eq!(
        handshake(
            &server,
            "/ws/events",
            &[("cookie", &cookie), ("origin", "https://evil.example")]
        )
        .await,
        Err(403)
    );
    assert_eq!(
        handshake(
            &server,
            "/ws/events",
            &[("cookie", &cookie), ("origin", &origin)]
        )
        .await,
        Ok(())
    );

    // A flipped MAC byte (row 46).
    let mut tampered = cookie.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        status_with_cookie(&server, "/api/state", &tampered).await,
        401
    );
    assert_eq!(status_with_cookie(&server, "/", &tampered).await, 303);

    // Logout revokes every session, also the other device's.
    let other = session_cookie(&login(&server, PASSWORD, Some(&origin)).await);
    assert_eq!(status_with_cookie(&server, "/api/state", &other).await, 200);
    let epoch_file = sandbox.state_dir().join("session.epoch");
    assert!(!epoch_file.exists());
    let out = log_out(&server, &cookie, &origin).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), "/login");
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    for stale in [&cookie, &other] {
        assert_eq!(status_with_cookie(&server, "/api/state", stale).await, 401);
    }
    assert_eq!(std::fs::read_to_string(&epoch_file).unwrap().trim(), "1");
    let fresh = session_cookie(&login(&server, PASSWORD, Some(&origin)).await);
    assert_eq!(status_with_cookie(&server, "/api/state", &fresh).await, 200);

    // Files of security.md §10.
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sandbox.state_dir()), 0o700);
    assert_eq!(mode(&sandbox.state_dir().join("session.secret")), 0o600);
    assert_eq!(mode(&epoch_file), 0o600);
    assert_eq!(
        std::fs::read(sandbox.state_dir().join("session.secret"))
            .unwrap()
            .len(),
        32
    );
    assert_eq!(mode(&sandbox.state_dir().join("logs")), 0o700);
    assert!(
        server
            .log()
            .contains("password sign-in is on without TLS or a reverse proxy"),
        "{}",
        server.log()
    );
}

#[test]
fn a_short_session_secret_refuses_startup_and_stays_untouched() {
    let sandbox = Sandbox::new();
    write_config(&sandbox, "auth:\n  enabled: true\n");
    std::fs::create_dir_all(sandbox.state_dir()).unwrap();
    let secret = sandbox.state_dir().join("session.secret");
    std::fs::write(&secret, b"short").unwrap();
    let out = support::clauster_run(&sandbox, None)
        .output()
        .expect("run clauster");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("holds 5 bytes, fewer than 32"), "{err}");
    assert_eq!(std::fs::read(&secret).unwrap(), b"short");
}

#[tokio::test]
async fn the_login_throttle_keys_on_the_socket_peer() {
    let (_sandbox, server, origin) = serve_with_password();
    let mut fifth_sent = std::time::Instant::now();
    for attempt in 0..5 {
        fifth_sent = std::time::Instant::now();
        let wrong = send(
            client()
                .post(format!("{}/login", server.base))
                .header("origin", &origin)
                .header("x-forwarded-for", format!("203.0.113.{attempt}"))
                .form(&[("password", "nope")]),
        )
        .await;
        assert_eq!(wrong.status, 401, "attempt {attempt}");
    }
    // The sixth, at once: 429 with Retry-After 301 (row 44); rotating X-Forwarded-For does
    // not help (row 50), and the right password is not even checked.
    let locked = send(
        client()
            .post(format!("{}/login", server.base))
            .header("origin", &origin)
            .header("x-forwarded-for", "198.51.100.7")
            .form(&[("password", PASSWORD)]),
    )
    .await;
    assert_eq!(locked.status, 429);
    // 301 when it follows the fifth within a second; a busy machine may take longer, and
    // then it is the whole seconds left + 1.
    let gap_ms = u64::try_from(fifth_sent.elapsed().as_millis()).unwrap() + 1;
    let earliest = 300_000_u64.saturating_sub(gap_ms).div_ceil(1000) + 1;
    let retry_after: u64 = locked.header("retry-after").parse().unwrap();
    assert!(
        (earliest..=301).contains(&retry_after),
        "Retry-After {retry_after} after {gap_ms} ms"
    );
    assert!(
        locked.body.contains(&format!(
            "Too many failed attempts. Try again in {retry_after} s."
        )),
        "{}",
        locked.body
    );
    assert!(locked.headers.get("set-cookie").is_none());
    let again = login(&server, PASSWORD, Some(&origin)).await;
    assert_eq!(again.status, 429);
    let left: u64 = again.header("retry-after").parse().unwrap();
    assert!((299..=301).contains(&left), "{left}");
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // a token's life, step by step
async fn bearer_tokens_named_and_legacy() {
    let legacy = "clauster_pat_legacy-token-for-the-test";
    let (sandbox, server) = support::serve_config(&format!(
        "auth:\n  enabled: true\n  api_token_hash: '{}'\n",
        sha256_hex(legacy)
    ));

    assert_eq!(
        status_with_token(&server, "/api/projects", legacy).await,
        200
    );
    assert_eq!(
        get_with(
            &server,
            "/api/projects",
            &[("authorization", &format!("bEaReR {legacy}"))]
        )
        .await
        .status,
        200,
        "the scheme is case-insensitive"
    );
    for bad in ["Bearer ", "Bearer", "Bearer unknown-token", "Basic abc"] {
        let answer = get_with(&server, "/api/projects", &[("authorization", bad)]).await;
        assert_eq!(answer.status, 401, "{bad:?}");
        assert_eq!(answer.json(), json!({"detail": "authentication required"}));
    }

    // A named token issued while the server runs works at once.
    let (code, token, err) = cli(&sandbox, &["api-token", "issue", "ci"], "");
    assert_eq!(code, 0, "{err}");
    let token = token.trim().to_owned();
    assert!(
        token.starts_with("clauster_pat_") && token.len() == 56,
        "{token}"
    );
    assert!(err.contains("Authorization: Bearer"));
    assert_eq!(
        status_with_token(&server, "/api/instances", &token).await,
        200
    );
    // Token requests are exempt from the Origin rule, on HTTP and WebSocket.
    let exempt = start_with(
        &server,
        &[
            ("authorization", &bearer(&token)),
            ("origin", "https://evil.example"),
        ],
        json!({}),
    )
    .await;
    assert_eq!(exempt.status, 422);
    assert_eq!(exempt.json()["detail"], "project is required");
    assert_eq!(
        handshake(&server, "/ws/events", &[("authorization", &bearer(&token))]).await,
        Ok(())
    );

    let (code, listed, _) = cli(&sandbox, &["api-token", "list", "--json"], "");
    assert_eq!(code, 0);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["config_token_set"], true);
    assert_eq!(listed["tokens"][0]["label"], "ci");
    assert!(listed["tokens"][0]["last_used_at"].is_string(), "{listed}");
    assert!(!listed.to_string().contains(&token));

    // Refused commands change nothing.
    let before = cli(&sandbox, &["api-token", "list", "--json"], "").1;
    for (args, message) in [
        (&["api-token", "issue", "ci"][..], "already exists"),
        (&["api-token", "issue", "a b"][..], "is invalid"),
        (
            &["api-token", "issue", "x", "--label", "y"][..],
            "two different labels",
        ),
        (
            &["api-token", "rotate", "nope"][..],
            "no token labelled 'nope'",
        ),
        (
            &["api-token", "revoke", "nope"][..],
            "no token labelled 'nope'",
        ),
    ] {
        let (code, out, err) = cli(&sandbox, args, "");
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(out.is_empty());
    }
    let after = cli(&sandbox, &["api-token", "list", "--json"], "").1;
    assert_eq!(before, after);

    let (code, rotated, _) = cli(&sandbox, &["api-token", "rotate", "--label", "ci"], "");
    assert_eq!(code, 0);
    let rotated = rotated.trim().to_owned();
    assert_eq!(
        status_with_token(&server, "/api/projects", &token).await,
        401
    );
    assert_eq!(
        status_with_token(&server, "/api/projects", &rotated).await,
        200
    );
    let (code, out, _) = cli(&sandbox, &["api-token", "revoke", "ci"], "");
    assert_eq!((code, out.trim()), (0, "revoked ci"));
    assert_eq!(
        status_with_token(&server, "/api/projects", &rotated).await,
        401
    );
}

fn proxy_signature(secret: &str, user: &str, t: u64, method: &str, path: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{user}:{t}:{method}:{path}").as_bytes());
    format!("t={t},v1={}", hex(&mac.finalize().into_bytes()))
}

#[tokio::test]
async fn forward_auth_from_a_trusted_peer_with_the_shared_secret() {
    let secret = "a-shared-secret-between-proxy-and-clauster";
    let (_sandbox, server) = support::serve_config(&format!(
        "auth:\n  enabled: true\n  reverse_proxy:\n    enabled: true\n    trusted_ips: ['127.0.0.1']\n    shared_secret: '{secret}'\n"
    ));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let good = proxy_signature(secret, "alice", now, "GET", "/api/projects");
    let ok = get_with(
        &server,
        "/api/projects",
        &[("remote-user", "alice"), ("x-proxy-auth", &good)],
    )
    .await;
    assert_eq!(ok.status, 200);
    // Forward-auth requests are exempt from the Origin rule.
    let post = proxy_signature(secret, "alice", now, "POST", "/api/instances");
    let exempt = start_with(
        &server,
        &[("remote-user", "alice"), ("x-proxy-auth", &post)],
        json!({}),
    )
    .await;
    assert_eq!(exempt.status, 422);
    let ws = proxy_signature(secret, "alice", now, "GET", "/ws/events");
    assert_eq!(
        handshake(
            &server,
            "/ws/events",
            &[("remote-user", "alice"), ("x-proxy-auth", &ws)]
        )
        .await,
        Ok(())
    );

    // Row 49: no signature, a stale one, a wrong MAC, another user, another path → 401.
    let stale = proxy_signature(secret, "alice", now - 120, "GET", "/api/projects");
    let wrong = proxy_signature("another secret", "alice", now, "GET", "/api/projects");
    let other_path = proxy_signature(secret, "alice", now, "GET", "/api/state");
    let cases: [&[(&str, &str)]; 5] = [
        &[("remote-user", "alice")],
        &[("remote-user", "alice"), ("x-proxy-auth", &stale)],
        &[("remote-user", "alice"), ("x-proxy-auth", &wrong)],
        &[("remote-user", "bob"), ("x-proxy-auth", &good)],
        &[("remote-user", "alice"), ("x-proxy-auth", &other_path)],
    ];
    for headers in cases {
        let answer = get_with(&server, "/api/projects", headers).await;
        assert_eq!(answer.status, 401, "{headers:?}");
        assert_eq!(answer.json(), json!({"detail": "authentication required"}));
    }

    // From a peer outside trusted_ips the headers are ignored, even without HMAC.
    let (_untrusted, other) = support::serve_config(
        "auth:\n  enabled: true\n  reverse_proxy:\n    enabled: true\n    trusted_ips: ['10.0.0.0/8']\n    require_hmac: false\n",
    );
    let ignored = get_with(
        &other,
        "/api/projects",
        &[("remote-user", "alice"), ("x-forwarded-for", "10.0.0.1")],
    )
    .await;
    assert_eq!(ignored.status, 401);
}

#[tokio::test]
async fn headers_body_limits_and_ui_only_routes() {
    let sandbox = Sandbox::with_projects_root();
    let server = start_server(&sandbox, None, &[], &[]);
    for path in ["/api/projects", "/no/such/route", "/healthz"] {
        let answer = get_with(&server, path, &[]).await;
        assert_eq!(answer.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(answer.header("x-frame-options"), "DENY");
        assert_eq!(answer.header("referrer-policy"), "same-origin");
        assert_eq!(answer.header("cross-origin-opener-policy"), "same-origin");
        assert_eq!(
            answer.header("permissions-policy"),
            "camera=(), microphone=(), geolocation=()"
        );
        assert!(
            answer
                .header("content-security-policy")
                .contains("'wasm-unsafe-eval'")
        );
        assert!(
            !answer
                .header("content-security-policy")
                .contains("unsafe-inline")
        );
        assert_eq!(answer.header("cache-control"), "no-store", "{path}");
        assert!(answer.headers.get("strict-transport-security").is_none());
    }
    // Auth off: a login page has nothing to do.
    assert_eq!(get_with(&server, "/login", &[]).await.status, 303);

    // Row 56: a body over 1 MiB, nothing started.
    let big = format!(
        "{{\"project\": \"alpha\", \"pad\": \"{}\"}}",
        "x".repeat(1024 * 1024)
    );
    let answer = send(
        client()
            .post(format!("{}/api/instances", server.base))
            .header("content-type", "application/json")
            .body(big),
    )
    .await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.json(), json!({"detail": "request body too large"}));
    assert_eq!(
        get_with(&server, "/api/instances", &[]).await.json(),
        json!([])
    );

    // HSTS and the Secure flag with cookie_secure: always; UI-only routes 404 before auth.
    let secure = Sandbox::new();
    let hash = password_config(&secure, PASSWORD, "  cookie_secure: always\n");
    let https = start_server(&secure, None, &[], &[]);
    let ok = login(&https, PASSWORD, Some(&https.base)).await;
    assert!(ok.header("set-cookie").contains("; Secure"));
    assert_eq!(ok.header("strict-transport-security"), "max-age=31536000");
    let oversized = send(
        client()
            .post(format!("{}/login", https.base))
            .header("origin", &https.base)
            .form(&[("password", "x".repeat(5000))]),
    )
    .await;
    assert_eq!(oversized.status, 413);
    assert_eq!(
        oversized.json(),
        json!({"detail": "request body too large"})
    );

    let (_headless, api_only) = support::serve_config(&format!(
        "ui:\n  enabled: false\nauth:\n  enabled: true\n  password_required: true\n  password_hash: '{hash}'\n"
    ));
    for path in ["/login", "/", "/api/widget"] {
        let answer = get_with(&api_only, path, &[]).await;
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.json(), json!({"detail": "Not Found"}));
    }
    assert_eq!(get_with(&api_only, "/api/projects", &[]).await.status, 401);
}

#[test]
fn hash_password_refuses_an_empty_or_mismatched_entry() {
    let sandbox = Sandbox::new();
    let (code, out, err) = cli(&sandbox, &["hash-password"], "one\ntwo\n");
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("the two entries differ"), "{err}");
    let (code, out, err) = cli(&sandbox, &["hash-password"], "\n\n");
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("empty"), "{err}");
    let phc = hash_password(&sandbox, "pw");
    assert!(phc.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"), "{phc}");
}

/// Row 59: the control socket is authenticated by its file mode, with auth on and the UI
/// off; the same request over TCP needs credentials.
#[tokio::test]
async fn the_cli_uses_the_control_socket_without_credentials() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    password_config(&sandbox, PASSWORD, "ui:\n  enabled: false\n");
    let server = start_server(&sandbox, None, &[], &[]);
    let (code, out, err) = cli(&sandbox, &["status", "--json"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!([]));
    assert_eq!(
        get_with(&server, "/api/instances", &[]).await.status,
        401,
        "TCP still needs credentials"
    );
}

/// A logout closes the event socket of every cookie session with 1008 `logged out`
/// (http-api.md §8), so the dashboard goes back to the login page.
#[tokio::test]
async fn logout_closes_cookie_authenticated_event_sockets() {
    use futures_util::StreamExt as _;
    let (_sandbox, server, origin) = serve_with_password();
    let cookie = session_cookie(&login(&server, PASSWORD, Some(&origin)).await);
    let mut request = format!("{}/ws/events", server.ws)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", HeaderValue::from_str(&cookie).unwrap());
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_str(&origin).unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let hello = socket.next().await.unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("\"hello\""), "{hello}");

    let out = log_out(&server, &cookie, &origin).await;
    assert_eq!(out.status, 303);
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(message) = socket.next().await {
            if let Ok(tungstenite::Message::Close(frame)) = message {
                return frame;
            }
        }
        None
    })
    .await
    .expect("the socket closes at once");
    let frame = closed.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1008);
    assert_eq!(frame.reason.as_str(), "logged out");
}

/// `CLAUSTER_SESSION_SECRET` signs the cookies instead of a state-dir file, and a session
/// survives a restart with the same secret; a logout's epoch survives it too.
#[tokio::test]
async fn sessions_survive_a_restart_with_the_configured_secret() {
    let sandbox = Sandbox::new();
    password_config(&sandbox, PASSWORD, "");
    let secret = "0123456789abcdef0123456789abcdef-env";
    let env = [("CLAUSTER_SESSION_SECRET", secret)];
    let first = start_server(&sandbox, None, &[], &env);
    let origin = origin(&first);
    let kept = session_cookie(&login(&first, PASSWORD, Some(&origin)).await);
    let revoked = session_cookie(&login(&first, PASSWORD, Some(&origin)).await);
    drop(first);
    assert!(!sandbox.state_dir().join("session.secret").exists());

    let second = start_server(&sandbox, None, &[], &env);
    let origin = second.base.clone();
    assert_eq!(status_with_cookie(&second, "/api/state", &kept).await, 200);
    let out = log_out(&second, &revoked, &origin).await;
    assert_eq!(out.status, 303);
    let fresh = session_cookie(&login(&second, PASSWORD, Some(&origin)).await);
    drop(second);

    let third = start_server(&sandbox, None, &[], &env);
    assert_eq!(status_with_cookie(&third, "/api/state", &kept).await, 401);
    assert_eq!(status_with_cookie(&third, "/api/state", &fresh).await, 200);
}

/// Step-up re-authentication (security.md §3.2): a signed-in browser proves the password
/// again and gets the ten-minute `clauster_elevation_<tag>` cookie, signed as documented; a
/// logout deletes it. With auth off there is nothing to step up.
#[tokio::test]
async fn a_session_steps_up_with_its_password() {
    use base64::Engine as _;

    let (sandbox, server, origin) = serve_with_password();
    let session = session_cookie(&login(&server, PASSWORD, Some(&origin)).await);
    let granted = send(
        client()
            .post(format!("{}/api/reauth", server.base))
            .header("origin", &origin)
            .header("cookie", &session)
            .json(&json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(granted.status, 200, "{}", granted.body);
    assert_eq!(granted.json(), json!({"elevated": true, "expires_in": 600}));
    let set = granted.header("set-cookie").to_owned();
    let (pair, attributes) = set.split_once("; ").expect("attributes");
    assert_eq!(attributes, "HttpOnly; SameSite=Lax; Path=/; Max-Age=600");
    let (name, value) = pair.split_once('=').expect("name=value");
    let tag = session
        .strip_prefix("clauster_session_")
        .and_then(|rest| rest.split_once('='))
        .map(|(tag, _)| tag)
        .expect("the session's tag");
    assert_eq!(name, format!("clauster_elevation_{tag}"));
    // `v1.<payload>.<mac>` under the step-up's own MAC context.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = value.split('.').collect();
    assert_eq!(parts.len(), 3, "{value}");
    assert_eq!(parts[0], "v1");
    let payload: Value = serde_json::from_slice(&b64.decode(parts[1]).expect("base64")).unwrap();
    assert_eq!(payload["u"], "admin");
    assert_eq!(payload["e"], 0);
    let secret = std::fs::read(sandbox.state_dir().join("session.secret")).expect("secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).expect("a key");
    mac.update(format!("clauster-elevation|{}", parts[1]).as_bytes());
    assert_eq!(b64.encode(mac.finalize().into_bytes()), parts[2]);

    // Logout deletes it with the session.
    let out = send(
        client()
            .post(format!("{}/logout", server.base))
            .header("origin", &origin)
            .header("cookie", format!("{session}; {pair}")),
    )
    .await;
    assert_eq!(out.status, 303);
    let cleared: Vec<&str> = out
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    drop(server);

    // Auth off: granted at once, whatever the password, and no cookie to carry.
    let open = Sandbox::new();
    open.project("alpha", &[]);
    let server = start_server(&open, None, &[], &[]);
    let answer = send(
        client()
            .post(format!("{}/api/reauth", server.base))
            .header("origin", &server.base)
            .json(&json!({"password": "anything"})),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json(), json!({"elevated": true, "expires_in": 600}));
    assert!(answer.headers.get("set-cookie").is_none());
}
