//! Rows 79–80 and 130–133: the readiness and sign-in routes (issue 20).

use super::*;

/// Row 79: the readiness routes (issue 20) are behind the gate like every API route: no
/// credentials → 401; a session cookie with a foreign `Origin` on the Re-check → 403, and
/// neither runs a probe.
#[tokio::test]
async fn row_79_readiness_routes_need_auth_and_an_allowed_origin() {
    let bench = Bench::start(password_sandbox(""), &[]);
    bench
        .table(vec![
            (
                79,
                get("/api/readiness"),
                401,
                is("authentication required"),
            ),
            (
                79,
                post_empty("/api/readiness/recheck").header("origin", &bench.server.base),
                401,
                is("authentication required"),
            ),
            // A state-changing request without `Origin` is refused before anything else.
            (
                79,
                post_empty("/api/readiness/recheck"),
                403,
                is("origin check failed"),
            ),
        ])
        .await;
    let cookie = session_cookie(&bench).await;
    bench
        .refuses(
            79,
            post_empty("/api/readiness/recheck").session(&cookie, "https://evil.example"),
            403,
            &is("origin check failed"),
        )
        .await;
    // The same request from the dashboard's own origin is served.
    let served = post_empty("/api/readiness/recheck")
        .session(&cookie, &bench.server.base)
        .send(&bench.server.base)
        .await;
    assert_eq!(served.status, 200, "{}", served.body);
    assert!(served.json()["level"].is_string(), "{}", served.body);
}

/// Row 80: the sign-in routes (issue 20) with auth on: no credentials → 401, a foreign
/// `Origin` → 403, a body over the limit → 413, a code over 4 096 characters → 422 — and
/// none of them starts or types into a `claude`.
#[tokio::test]
async fn row_80_sign_in_routes_refuse_before_running_anything() {
    let bench = Bench::start(password_sandbox("login_shepherd:\n  enabled: true\n"), &[]);
    let own = bench.server.base.clone();
    let start = || post("/api/login-shepherd/start", json!({"mode": "login"}));
    bench
        .refuses_unauthenticated(
            80,
            vec![
                start().header("origin", &own),
                get("/api/login-shepherd/state"),
            ],
        )
        .await;
    let cookie = session_cookie(&bench).await;
    bench
        .table(vec![
            (
                80,
                start().session(&cookie, "https://evil.example"),
                403,
                is("origin check failed"),
            ),
            (
                80,
                Request::new(
                    reqwest::Method::POST,
                    "/api/login-shepherd/code",
                    Body::Raw(vec![b' '; 2 * 1024 * 1024]),
                )
                .session(&cookie, &own)
                .header("content-type", "application/json"),
                413,
                is("request body too large"),
            ),
            (
                80,
                post(
                    "/api/login-shepherd/code",
                    json!({"code": "x".repeat(5000)}),
                )
                .session(&cookie, &own),
                422,
                is("code is longer than 4096 characters"),
            ),
        ])
        .await;
}

/// Rows 130–133: the sign-in routes added for the long-lived token, the sign-out and the QR
/// code (issue 20): the token mode without a fresh step-up → 403 `reauth_required`; a sign-out
/// without the typed words → 422; sign-out and QR without credentials → 401, with a foreign
/// `Origin` → 403; the QR code with no flow → 409. None of them runs `claude`.
#[tokio::test]
async fn rows_130_133_the_token_sign_out_and_qr_routes_refuse_before_running_anything() {
    let bench = Bench::start(
        password_sandbox("login_shepherd:\n  enabled: true\n  allow_setup_token: true\n"),
        &[],
    );
    let own = bench.server.base.clone();
    let logout = |body: Value| post("/api/login-shepherd/logout", body);
    bench
        .refuses_unauthenticated(
            132,
            vec![
                logout(json!({"confirm": "sign out"})).header("origin", &own),
                get("/api/login-shepherd/qr"),
            ],
        )
        .await;
    let cookie = session_cookie(&bench).await;
    let with = |request: Request| request.session(&cookie, &own);
    bench
        .table(vec![
            (
                130,
                with(post(
                    "/api/login-shepherd/start",
                    json!({"mode": "setup-token"}),
                )),
                403,
                is("reauth_required"),
            ),
            (
                131,
                with(logout(json!({}))),
                422,
                is("type \"sign out\" in confirm to sign claude out"),
            ),
            (
                131,
                with(logout(json!({"confirm": "yes"}))),
                422,
                is("type \"sign out\" in confirm to sign claude out"),
            ),
            (
                131,
                with(logout(json!({"confirm": 1}))),
                422,
                is("confirm must be a string"),
            ),
            (
                132,
                logout(json!({"confirm": "sign out"})).session(&cookie, "https://evil.example"),
                403,
                is("origin check failed"),
            ),
            (
                133,
                with(get("/api/login-shepherd/qr")),
                409,
                is("no sign-in is in progress"),
            ),
        ])
        .await;
    let argv = std::fs::read_to_string(&bench.argv_log).unwrap_or_default();
    assert!(
        !argv.contains("setup-token") && !argv.contains("logout"),
        "claude was run: {argv}"
    );
}
