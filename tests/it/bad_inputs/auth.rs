//! Rows 44–50 and 86–90: sign-in, cookies, tokens, sockets, proxy headers and step-up.

use super::*;

#[tokio::test]
async fn row_44_six_wrong_passwords() {
    let bench = Bench::start(password_sandbox(""), &[]);
    for _ in 0..5 {
        let wrong = bench
            .refuses(44, form_login(&bench, "nope", None), 401, &Detail::Any)
            .await;
        assert!(wrong.body.contains("Wrong password."), "{}", wrong.body);
    }
    let locked = bench
        .refuses(44, form_login(&bench, "nope", None), 429, &Detail::Any)
        .await;
    assert_eq!(locked.header("retry-after"), "301");
    assert!(locked.headers.get("set-cookie").is_none());
}

#[tokio::test]
async fn row_50_rotating_forwarded_for_does_not_escape_the_throttle() {
    let bench = Bench::start(password_sandbox(""), &[]);
    for attempt in 0..5 {
        let ip = format!("203.0.113.{attempt}");
        bench
            .refuses(50, form_login(&bench, "nope", Some(&ip)), 401, &Detail::Any)
            .await;
    }
    let locked = bench
        .refuses(
            50,
            form_login(&bench, PASSWORD, Some("198.51.100.7")),
            429,
            &Detail::Any,
        )
        .await;
    assert_eq!(locked.header("retry-after"), "301");
    assert!(
        locked.headers.get("set-cookie").is_none(),
        "the password was not even checked"
    );
}

/// The status of `GET /api/state` sent with `cookie`.
async fn state_status(bench: &Bench, cookie: &str) -> u16 {
    get("/api/state")
        .header("cookie", cookie)
        .send(&bench.server.base)
        .await
        .status
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one table, one server
async fn rows_45_to_48_login_origin_cookies_tokens_and_websockets() {
    let bench = Bench::start(password_sandbox(""), &[]);
    // Row 45: no Origin, a foreign Origin.
    bench
        .table(vec![
            (
                45,
                login(None, PASSWORD, None),
                403,
                is("origin check failed"),
            ),
            (
                45,
                login(Some("https://evil.example"), PASSWORD, None),
                403,
                is("origin check failed"),
            ),
        ])
        .await;

    // A real session to tamper with.
    let cookie = session_cookie(&bench).await;
    let name = cookie.split('=').next().expect("name").to_owned();
    assert_eq!(state_status(&bench, &cookie).await, 200);
    let mut flipped = cookie.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    let secret = std::fs::read(bench.sandbox.state_dir().join("session.secret")).expect("secret");
    let now = unix_now();
    let expired = forged_cookie(&name, &secret, 0, now - 7200);
    // The forgery is right: the same cookie, fresh, is accepted.
    let fresh = forged_cookie(&name, &secret, 0, now);
    assert_eq!(state_status(&bench, &fresh).await, 200);
    for bad in [&flipped, &expired] {
        bench
            .refuses_unauthenticated(46, vec![get("/api/state").header("cookie", bad)])
            .await;
        let page = bench
            .refuses(46, get("/").header("cookie", bad), 303, &Detail::Any)
            .await;
        assert_eq!(page.header("location"), "/login");
    }

    // Row 47: bearer tokens that are empty or unknown.
    let bearer = |header| get("/api/instances").header("authorization", header);
    bench
        .refuses_unauthenticated(
            47,
            vec![
                bearer("Bearer "),
                bearer("Bearer clauster_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            ],
        )
        .await;

    // Row 48: a WebSocket handshake with a foreign Origin, even with a valid cookie.
    for path in [
        "/ws/events",
        "/ws/bridge-log/alpha",
        "/ws/transcript/alpha/11111111-1111-4111-8111-111111111111",
    ] {
        let before = bench.world().await;
        let refused = handshake(
            &bench.server.ws,
            path,
            &[("cookie", &cookie), ("origin", "https://evil.example")],
        )
        .await;
        assert_eq!(refused, Err(403), "{path}");
        assert_eq!(before, bench.world().await);
    }

    // Row 46: a cookie issued before a logout.
    let logout = post_empty("/logout")
        .session(&cookie, &bench.server.base)
        .send(&bench.server.base)
        .await;
    assert_eq!(logout.status, 303, "{}", logout.body);
    bench
        .refuses_unauthenticated(
            46,
            vec![
                get("/api/state").header("cookie", &cookie),
                get("/api/state").header("cookie", &fresh),
            ],
        )
        .await;
}

#[tokio::test]
async fn row_48_websocket_origin_without_auth() {
    let bench = Bench::start(usual_sandbox(), &[]);
    for path in ["/ws/events", "/ws/transcript/alpha/x"] {
        let before = bench.world().await;
        let refused = handshake(
            &bench.server.ws,
            path,
            &[("origin", "https://evil.example")],
        )
        .await;
        assert_eq!(refused, Err(403), "{path}");
        assert_eq!(before, bench.world().await);
    }
}

#[tokio::test]
async fn row_49_proxy_headers_that_do_not_authenticate() {
    let secret = "a-shared-secret-between-proxy-and-clauster";
    let bench = Bench::with_config(&format!(
        "auth:\n  enabled: true\n  reverse_proxy:\n    enabled: true\n    trusted_ips: ['127.0.0.1']\n    shared_secret: '{secret}'\n"
    ));
    let now = unix_now();
    let good = proxy_signature(secret, "alice", now, "GET", "/api/projects");
    assert_eq!(
        get("/api/projects")
            .header("remote-user", "alice")
            .header("x-proxy-auth", &good)
            .send(&bench.server.base)
            .await
            .status,
        200,
        "the signature scheme is right"
    );
    let stale = proxy_signature(secret, "alice", now - 3600, "GET", "/api/projects");
    let wrong = proxy_signature("another secret", "alice", now, "GET", "/api/projects");
    let signed = |signature: &str| {
        get("/api/projects")
            .header("remote-user", "alice")
            .header("x-proxy-auth", signature)
    };
    bench
        .refuses_unauthenticated(49, vec![signed(&stale), signed(&wrong)])
        .await;

    // From a peer outside `trusted_ips` the headers are ignored.
    let untrusted = usual_sandbox();
    write_config(
        &untrusted,
        "auth:\n  enabled: true\n  reverse_proxy:\n    enabled: true\n    trusted_ips: ['10.0.0.0/8']\n    require_hmac: false\n",
    );
    let other = Bench::start(untrusted, &[]);
    other
        .refuses_unauthenticated(
            49,
            vec![
                get("/api/projects")
                    .header("remote-user", "alice")
                    .header("x-forwarded-for", "10.0.0.1"),
            ],
        )
        .await;
}

#[tokio::test]
async fn rows_86_to_90_step_up_refusals() {
    let bench = Bench::start(password_sandbox(""), &[]);
    let password = json!({ "password": PASSWORD }).to_string();
    // Row 86: no session, the right password — refused before it is checked.
    bench
        .refuses_unauthenticated(86, vec![reauth(&bench, None, password.as_bytes())])
        .await;
    let session = session_cookie(&bench).await;
    let step_up = |body: &[u8]| reauth(&bench, Some(&session), body);
    // Row 90: over the 4 KiB body cap, before any hashing (and not counted).
    let big = format!("{{\"password\": \"{}\"}}", "x".repeat(5000));
    bench
        .refuses(
            90,
            step_up(big.as_bytes()),
            413,
            &is("request body too large"),
        )
        .await;
    // Row 87: a wrong password, and bodies that carry no password string: 401, no cookie.
    for body in [
        json!({ "password": "nope" }).to_string(),
        "not json".to_owned(),
        json!([PASSWORD]).to_string(),
        json!({ "password": 5 }).to_string(),
        String::new(),
    ] {
        let answer = bench
            .refuses(87, step_up(body.as_bytes()), 401, &is("incorrect password"))
            .await;
        assert!(answer.headers.get("set-cookie").is_none(), "{body}");
    }
    // Row 88: those five failures lock the sign-in throttle the step-up shares: the right
    // password now gets 429 at once, at /api/reauth and at /login alike.
    let locked = bench
        .refuses(
            88,
            step_up(password.as_bytes()),
            429,
            &is("too many attempts"),
        )
        .await;
    assert_eq!(locked.header("retry-after"), "301");
    assert!(locked.headers.get("set-cookie").is_none());
    bench
        .refuses(88, form_login(&bench, PASSWORD, None), 429, &Detail::Any)
        .await;
}
