//! `GET /login`, `POST /login`, `POST /logout`, `POST /api/reauth` (http-api.md §3,
//! security.md §3.2) and the login page (ui.md §11): a plain form that works without
//! JavaScript.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::elevation::ELEVATION_MAX_AGE_SECONDS;
use super::throttle::ThrottleKey;
use super::{Auth, Caller, password, peer_of, proxy, redirect};
use crate::error::ApiError;
use crate::http::CspNonce;

/// The login form's body cap (security.md §7.2).
pub const FORM_LIMIT_BYTES: usize = 4 * 1024;

/// The sign-in page and form, sign-out and step-up re-authentication, with their own state.
pub fn routes<S: Clone + Send + Sync + 'static>(auth: Auth) -> axum::Router<S> {
    use axum::extract::DefaultBodyLimit;
    use axum::routing::{get, post};
    let form = || DefaultBodyLimit::max(FORM_LIMIT_BYTES);
    axum::Router::new()
        .route(
            "/login",
            get(page)
                .with_state(auth.clone())
                .merge(post(submit).layer(form()).with_state(auth.clone())),
        )
        .route("/logout", post(logout).with_state(auth.clone()))
        .route("/api/reauth", post(reauth).layer(form()).with_state(auth))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    password: String,
}

/// What the page shows under the field.
enum Notice {
    None,
    Wrong,
    Throttled(u64),
    Malformed,
}

/// `GET /login`: the form, or straight to the dashboard when already signed in (or when
/// there is nothing to sign in to).
pub async fn page(
    State(auth): State<Auth>,
    caller: Option<Extension<Caller>>,
    Extension(nonce): Extension<CspNonce>,
) -> Response {
    let signed_in = caller.is_none_or(|Extension(c)| !matches!(c, Caller::Anonymous));
    if !auth.enabled() || signed_in {
        return redirect(&format!("{}/", auth.root_path()));
    }
    login_page(&auth, &nonce, StatusCode::OK, &Notice::None)
}

/// How many password verifications may run at once (issue 16 §1): each argon2id check of the
/// Python parameters holds 64 MiB, so the number in flight bounds the memory a flood of
/// sign-ins can take.
pub const MAX_CONCURRENT_VERIFICATIONS: usize = 2;

/// `POST /login`: throttle first, then the password; success sets the session cookie.
///
/// The attempt is reserved in the throttle before its password is hashed and settled after,
/// and it needs one of [`MAX_CONCURRENT_VERIFICATIONS`] slots: with none free it gets 429 at
/// once, unhashed and uncounted.
pub async fn submit(
    State(auth): State<Auth>,
    Extension(nonce): Extension<CspNonce>,
    request: Request,
) -> Response {
    if !auth.enabled() {
        return redirect(&format!("{}/", auth.root_path()));
    }
    let peer = peer_of(&request);
    let key = throttle_key(&auth, &request);
    let secure = auth.secure(peer, request.headers());
    // A locked client is refused before its body is even read.
    if let Err(retry_after) = auth.throttle().check(&key, Instant::now()) {
        return throttled(&auth, &nonce, retry_after);
    }
    let form: Result<Form<LoginForm>, FormRejection> =
        <Form<LoginForm> as axum::extract::FromRequest<()>>::from_request(request, &()).await;
    let password = match form {
        Ok(Form(form)) => form.password,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
                .into_response();
        }
        Err(_) => return login_page(&auth, &nonce, StatusCode::BAD_REQUEST, &Notice::Malformed),
    };
    match check_password(&auth, key, password).await {
        Err(retry_after) => throttled(&auth, &nonce, retry_after),
        Ok(true) => {
            let mut response = redirect(&format!("{}/", auth.root_path()));
            set_cookie(&mut response, &auth.session_cookie(secure));
            tracing::info!(kind = "password", "signed in");
            response
        }
        Ok(false) => {
            tracing::warn!(peer = ?peer, "wrong password at sign-in");
            login_page(&auth, &nonce, StatusCode::UNAUTHORIZED, &Notice::Wrong)
        }
    }
}

/// The password against the configured hash under the throttle: the attempt is reserved
/// before hashing and settled after, in one of the verification slots. `Err` is the
/// `Retry-After` of a refusal (locked, or every slot taken).
async fn check_password(auth: &Auth, key: ThrottleKey, password: String) -> Result<bool, u64> {
    let reservation = Reservation::take(auth, key)?;
    let Ok(slot) = Arc::clone(&auth.inner.verifications).try_acquire_owned() else {
        reservation.release();
        return Err(BUSY_RETRY_AFTER_SECONDS);
    };
    let hash = auth
        .config()
        .auth
        .password_hash
        .as_ref()
        .map(|h| h.expose().to_owned());
    // The slot travels with the hash: it is freed when the hashing ends, even when the
    // client went away and this future was dropped.
    let ok = tokio::task::spawn_blocking(move || {
        let ok = password::verify_password(&password, hash.as_deref());
        drop(slot);
        ok
    })
    .await
    .unwrap_or(false);
    reservation.settle(ok);
    Ok(ok)
}

/// `POST /api/reauth` (security.md §3.2): `{"password"}` proves the operator again and sets
/// the ten-minute step-up cookie. It shares the sign-in throttle and verification slots; a
/// body that is not a JSON object with a string `password` counts as an empty password, as
/// in 1.3.2. With auth off there is nothing to step up: 200 at once, no cookie.
pub async fn reauth(State(auth): State<Auth>, request: Request) -> Response {
    let granted = || {
        Json(ReauthGranted {
            elevated: true,
            expires_in: ELEVATION_MAX_AGE_SECONDS,
        })
    };
    if !auth.enabled() {
        return granted().into_response();
    }
    let peer = peer_of(&request);
    let key = throttle_key(&auth, &request);
    let secure = auth.secure(peer, request.headers());
    if let Err(retry_after) = auth.throttle().check(&key, Instant::now()) {
        return too_many_attempts(retry_after);
    }
    let Ok(body) = axum::body::to_bytes(request.into_body(), FORM_LIMIT_BYTES).await else {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
            .into_response();
    };
    let password = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|value| value.get("password")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    match check_password(&auth, key, password).await {
        Err(retry_after) => too_many_attempts(retry_after),
        Ok(true) => {
            let mut response = granted().into_response();
            set_cookie(&mut response, &auth.elevation_cookie(secure));
            tracing::info!("stepped up");
            response
        }
        Ok(false) => {
            tracing::warn!(peer = ?peer, "wrong password at step-up");
            ApiError::new(StatusCode::UNAUTHORIZED, "incorrect password").into_response()
        }
    }
}

#[derive(serde::Serialize)]
struct ReauthGranted {
    elevated: bool,
    expires_in: u64,
}

/// The step-up's 429 (1.3.2's text) with `Retry-After`.
fn too_many_attempts(retry_after: u64) -> Response {
    let mut response =
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too many attempts").into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// `Retry-After` when every verification slot is taken: they free within a second.
const BUSY_RETRY_AFTER_SECONDS: u64 = 1;

/// The 429 page with `Retry-After`.
fn throttled(auth: &Auth, nonce: &CspNonce, retry_after: u64) -> Response {
    let mut response = login_page(
        auth,
        nonce,
        StatusCode::TOO_MANY_REQUESTS,
        &Notice::Throttled(retry_after),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// One attempt reserved in the throttle. Dropped unsettled (the request went away while its
/// password was hashing), it counts as a failure: disconnecting must not be a way around
/// the limit.
struct Reservation {
    auth: Auth,
    key: Option<ThrottleKey>,
}

impl Reservation {
    fn take(auth: &Auth, key: ThrottleKey) -> Result<Self, u64> {
        auth.throttle().reserve(&key, Instant::now())?;
        Ok(Self {
            auth: auth.clone(),
            key: Some(key),
        })
    }

    fn release(mut self) {
        if let Some(key) = self.key.take() {
            self.auth.throttle().release(&key);
        }
    }

    fn settle(mut self, ok: bool) {
        if let Some(key) = self.key.take() {
            self.auth.throttle().settle(&key, ok, Instant::now());
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.auth.throttle().settle(&key, false, Instant::now());
        }
    }
}

/// `POST /logout`: every session of every device ends (epoch bump), the cookie is deleted.
pub async fn logout(State(auth): State<Auth>, request: Request) -> Response {
    let secure = auth.secure(peer_of(&request), request.headers());
    if let Err(err) = auth.inner.epoch.bump() {
        tracing::error!(
            "cannot persist the session epoch: {err}; sessions stay revoked until restart"
        );
    }
    let mut response = redirect(&format!("{}/login", auth.root_path()));
    for cookie in auth.expired_cookies(secure) {
        set_cookie(&mut response, &cookie);
    }
    response
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The socket peer, `proxy-user:<user>` under a verified proxy HMAC, or the shared list of a
/// trusted proxy that named nobody. `X-Forwarded-For` is never read.
fn throttle_key(auth: &Auth, request: &Request) -> ThrottleKey {
    let peer = peer_of(request);
    match auth.proxy_verdict(
        peer,
        request.method(),
        request.uri().path(),
        request.headers(),
    ) {
        proxy::ProxyVerdict::User { name, signed: true } => {
            ThrottleKey::Client(format!("proxy-user:{name}"))
        }
        proxy::ProxyVerdict::User { .. } | proxy::ProxyVerdict::NoUser => ThrottleKey::SharedProxy,
        proxy::ProxyVerdict::Untrusted => {
            ThrottleKey::Client(peer.map_or_else(|| "local".to_owned(), client_key))
        }
    }
}

/// The throttle's name for a socket peer: an IPv4 address (IPv4-mapped IPv6 included) as
/// itself, an IPv6 address by its /64 — one host usually holds a whole /64 and could rotate
/// through it (issue 16 §1).
fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(
            || {
                let network = Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX));
                format!("{network}/64")
            },
            |v4| v4.to_string(),
        ),
    }
}

fn login_page(auth: &Auth, nonce: &CspNonce, status: StatusCode, notice: &Notice) -> Response {
    let html = render(auth.root_path(), &nonce.0, notice);
    let mut response = (status, Html(html)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn render(root: &str, nonce: &str, notice: &Notice) -> String {
    let message = match notice {
        Notice::None => String::new(),
        Notice::Wrong => "<p class=\"login-error\" role=\"alert\">Wrong password.</p>".to_owned(),
        Notice::Throttled(seconds) => format!(
            "<p class=\"login-error\" role=\"alert\">Too many failed attempts. Try again in \
             {seconds} s.</p>"
        ),
        Notice::Malformed => {
            "<p class=\"login-error\" role=\"alert\">The sign-in form was incomplete; reload the \
             page and try again.</p>"
                .to_owned()
        }
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sign in · Clauster</title>\
         <script nonce=\"{nonce}\">{THEME_SCRIPT}</script>\
         <link rel=\"stylesheet\" href=\"{root}/pkg/style.css\">\
         <link rel=\"icon\" href=\"{root}/favicon.svg\" type=\"image/svg+xml\">\
         <style nonce=\"{nonce}\">{LOGIN_STYLE}</style>\
         </head><body class=\"login-body\"><main class=\"login-card\">\
         <div class=\"login-brand\">{LOGO}<h1 class=\"login-title\">Clauster</h1></div>\
         <form method=\"post\" action=\"{root}/login\">\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autofocus required \
         autocomplete=\"current-password\">\
         {message}\
         <button type=\"submit\">Sign in</button>\
         </form></main></body></html>"
    )
}

/// Sets `data-theme` before first paint from the stored choice (ui.md §8).
const THEME_SCRIPT: &str = "try{var t=localStorage.getItem('clauster-theme');\
if(t==='dark'||t==='light'){document.documentElement.setAttribute('data-theme',t);}}catch(e){}";

/// The logo (the drawing of `/favicon.svg`), inline so the page needs no other request.
const LOGO: &str = "<svg class=\"login-logo\" viewBox=\"0 0 32 32\" width=\"40\" height=\"40\" \
aria-hidden=\"true\"><rect width=\"32\" height=\"32\" rx=\"7\" fill=\"#c2410c\"/><g fill=\"#fff\">\
<circle cx=\"11\" cy=\"12\" r=\"3.6\"/><circle cx=\"21\" cy=\"12\" r=\"3.6\"/>\
<circle cx=\"16\" cy=\"21.5\" r=\"3.6\"/></g></svg>";

/// A card of fixed width (an error never resizes it), a 44 px field and button (ui.md §12).
const LOGIN_STYLE: &str = ".login-body{min-height:100vh;display:flex;align-items:center;\
justify-content:center;margin:0;padding:1rem}.login-card{display:flex;flex-direction:column;\
gap:1.25rem;padding:2rem 1.75rem;width:min(22rem,100%);border-radius:14px;\
border:1px solid var(--line);background:var(--card);box-shadow:var(--shadow)}\
.login-brand{display:flex;align-items:center;gap:.75rem}.login-title{margin:0;font-size:1.5rem}\
.login-card form{display:flex;flex-direction:column;gap:.6rem}\
.login-card label{font-weight:600;font-size:.95rem}\
.login-card input{font:inherit;font-size:1rem;min-height:44px;padding:.5rem .75rem;\
border-radius:8px;border:1px solid var(--line);background:var(--bg);color:var(--fg);width:100%}\
.login-card button{justify-content:center;min-height:44px;margin-top:.4rem;background:var(--accent);\
border-color:var(--accent);color:var(--accent-fg);font-weight:600}\
.login-error{color:var(--bad);margin:0;font-size:.95rem}";

#[cfg(test)]
mod tests {
    use super::{Notice, client_key, render};

    #[test]
    fn ipv6_peers_are_keyed_by_their_64_and_ipv4_by_the_address() {
        let key = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("::1"), "::/64");
    }

    #[test]
    fn the_login_page() {
        insta::assert_snapshot!(render("/dash", "NONCE", &Notice::Throttled(301)));
    }

    #[test]
    fn inline_code_carries_the_nonce_and_no_style_attribute_is_used() {
        let html = render("", "N0nce", &Notice::Wrong);
        assert_eq!(html.matches("<script nonce=\"N0nce\">").count(), 1);
        assert_eq!(html.matches("<style nonce=\"N0nce\">").count(), 1);
        assert_eq!(html.matches("<script").count(), 1);
        assert!(!html.contains("style=\""));
        assert!(html.contains("Wrong password."));
        assert!(html.contains("action=\"/login\""));
    }

    /// A real listener with the real gate, `/api/reauth` and `/logout`, and one route that
    /// takes [`Elevated`]: the step-up as a browser and a script meet it.
    #[tokio::test]
    #[allow(clippy::too_many_lines)] // one session, step by step
    async fn a_cookie_session_steps_up_and_a_logout_ends_it() {
        use std::sync::Arc;

        use axum::routing::{get, post};

        use crate::auth::elevation::Elevated;
        use crate::auth::{Auth, gate, login, tokens};

        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hash = crate::auth::password::hash_password("correct horse").unwrap();
        let token_hash = tokens::token_hash("script-token");
        let yaml = format!(
            "projects_root: {root}\nstate_dir: {root}\nauth:\n  enabled: true\n  \
             password_required: true\n  password_hash: '{hash}'\n  api_token_hash: {token_hash}\n",
            root = dir.path().display()
        );
        let config = clauster_core::config::load(&clauster_core::config::ConfigInput {
            text: Some(yaml),
            ..Default::default()
        })
        .unwrap()
        .config;
        // The store the server made at startup; token lookups open their own connection.
        let _store = crate::store::Store::open(dir.path(), true).unwrap();
        let auth = Auth::new(Arc::new(config), None, addr.port()).unwrap();
        let app = axum::Router::new()
            .route("/api/reauth", post(login::reauth).with_state(auth.clone()))
            .route("/logout", post(login::logout).with_state(auth.clone()))
            .route("/api/privileged", get(|_: Elevated| async { "granted" }))
            .layer(axum::middleware::from_fn_with_state(auth.clone(), gate));
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
        });
        let base = format!("http://{addr}");
        let origin = base.clone();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let session = auth.session_cookie(false);
        let session = session.split(';').next().unwrap().to_owned();
        let privileged = |cookies: String| {
            let client = client.clone();
            let url = format!("{base}/api/privileged");
            async move {
                let response = client
                    .get(url)
                    .header("cookie", cookies)
                    .send()
                    .await
                    .unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            }
        };
        let reauth = |password: &str| {
            client
                .post(format!("{base}/api/reauth"))
                .header("cookie", session.clone())
                .header("origin", origin.clone())
                .json(&serde_json::json!({ "password": password }))
                .send()
        };

        // A session without a step-up is refused; so is one with a wrong password.
        let (status, body) = privileged(session.clone()).await;
        assert_eq!(
            (status, body.as_str()),
            (403, r#"{"detail":"reauth_required"}"#)
        );
        let wrong = reauth("wrong").await.unwrap();
        assert_eq!(wrong.status().as_u16(), 401);
        assert!(wrong.headers().get("set-cookie").is_none());

        // The right password sets the step-up cookie; with it the route answers.
        let granted = reauth("correct horse").await.unwrap();
        assert_eq!(granted.status().as_u16(), 200);
        let set_cookie = granted.headers()["set-cookie"].to_str().unwrap().to_owned();
        let step_up = set_cookie.split(';').next().unwrap().to_owned();
        assert!(step_up.starts_with("clauster_elevation_"), "{set_cookie}");
        let both = format!("{session}; {step_up}");
        assert_eq!(privileged(both.clone()).await, (200, "granted".to_owned()));

        // Neither cookie passes for the other, and a step-up alone is no session.
        let (name, value) = step_up.split_once('=').unwrap();
        let (session_name, session_value) = session.split_once('=').unwrap();
        let swapped = format!("{session}; {name}={session_value}");
        assert_eq!(privileged(swapped).await.0, 403);
        assert_eq!(
            privileged(format!("{session_name}={value}; {step_up}"))
                .await
                .0,
            401
        );

        // A bearer token needs no step-up.
        let bearer = client
            .get(format!("{base}/api/privileged"))
            .bearer_auth("script-token")
            .send()
            .await
            .unwrap();
        assert_eq!(bearer.status().as_u16(), 200);

        // A logout ends the step-up with the session, everywhere: a new session must step
        // up again even when it still sends the old step-up cookie.
        let logout = client
            .post(format!("{base}/logout"))
            .header("cookie", both)
            .header("origin", origin.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status().as_u16(), 303);
        let fresh = auth.session_cookie(false);
        let fresh = fresh.split(';').next().unwrap();
        assert_eq!(privileged(format!("{fresh}; {step_up}")).await.0, 403);
        server.abort();
    }
}
