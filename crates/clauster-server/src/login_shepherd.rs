//! Signing `claude` in from the dashboard (issue 20, http-api.md §3.2), behind
//! `login_shepherd.enabled` (every route 404 when off): `claude auth login` under a PTY
//! (`clauster_pty::signin`), its authorize URL, the pasted code typed back, the outcome in
//! claude's own words, and a `login_flow` frame at each step. One flow at a time; a second
//! start is a 409. Cancel, a 10-minute limit and the server's shutdown kill the process
//! group. The code and the URL's `state` never reach a log.
//!
//! Behind the second opt-in `login_shepherd.allow_setup_token` and a fresh step-up
//! ([`Elevated`]), the `setup-token` mode drives the full-screen `claude setup-token` the same
//! way and hands its long-lived token out once (never in a frame or a log). `…/logout` runs
//! `claude auth logout` after a typed confirmation.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use clauster_core::login_flow::{self, Outcome};
use clauster_pty::signin::{self, Progress, Running};
use clauster_wire::{Frame, LoginFlowFrame};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::auth::elevation::Elevated;
use crate::control::ViaControlSocket;
use crate::error::ApiError;
use crate::http::JsonObject;
use crate::state::AppState;

/// How long a start waits for the link (1.3.2: 30 s).
const START_WAIT: Duration = Duration::from_secs(30);
/// How long a code submission waits for the verdict before answering `pending`.
const SUBMIT_WAIT: Duration = Duration::from_secs(45);
/// A flow that has not ended by then is killed (`timeout`).
const FLOW_LIMIT: Duration = Duration::from_mins(10);
/// The longest code accepted.
const MAX_CODE: usize = 4096;
/// The longest `email` accepted.
const MAX_EMAIL: usize = 320;
/// How long `claude auth logout` may take.
const LOGOUT_WAIT: Duration = Duration::from_secs(30);
/// The words a sign-out must be confirmed with.
pub const LOGOUT_CONFIRM: &str = "sign out";

impl crate::state::AppState {
    /// The dashboard's sign-in of claude (http-api.md §3.2).
    pub fn shepherd(&self) -> &Shepherd {
        self.feature()
    }
}

/// The one flow, if any; clones share it.
#[derive(Clone, Debug, Default)]
pub struct Shepherd {
    flow: Arc<Mutex<Option<Flow>>>,
}

#[derive(Debug)]
struct Flow {
    id: u64,
    mode: &'static str,
    started: Instant,
    running: Running,
    progress: watch::Receiver<Progress>,
    url: Option<String>,
    code: Option<String>,
    ended: Option<(Outcome, Option<String>)>,
    /// `setup-token`'s token until one answer has handed it out.
    token: Option<String>,
}

impl Flow {
    /// `started N s ago`, for the 409 of a request that needs no open flow.
    fn started_ago(&self) -> String {
        format!("started {} s ago", self.started.elapsed().as_secs())
    }
}

impl Drop for Flow {
    fn drop(&mut self) {
        if self.ended.is_none() {
            self.running.kill_group();
        }
    }
}

impl Shepherd {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Flow>> {
        self.flow.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn disabled() -> ApiError {
    ApiError::not_found("login shepherd is disabled")
}

/// The extractor of every shepherd route, its gate: the state of a request let in by
/// `login_shepherd.enabled` or by coming over the control socket (`clauster login`, cli.md §3:
/// the CLI's sign-in needs no dashboard switch, like the CLI reaper); else the 404 of a
/// disabled feature, before the body is read.
pub struct Admitted(AppState);

impl FromRequestParts<AppState> for Admitted {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let via_socket = parts.extensions.get::<ViaControlSocket>().is_some();
        if state.config().login_shepherd.enabled || via_socket {
            Ok(Self(state.clone()))
        } else {
            Err(disabled())
        }
    }
}

fn publish(state: &AppState, frame: LoginFlowFrame) {
    state.engine().publish(Frame::LoginFlow(frame));
}

fn message(outcome: Outcome, detail: Option<&str>) -> String {
    match (outcome, detail) {
        (Outcome::SignedIn, _) => "Signed in.".to_owned(),
        (Outcome::Timeout, _) => {
            "No answer within 10 minutes; the sign-in was stopped. Start again.".to_owned()
        }
        (Outcome::Cancelled, _) => "The sign-in was cancelled.".to_owned(),
        (Outcome::TokenCreated, _) => "A long-lived token was created. It is shown once: copy it \
             now and keep it secret. It cannot run Remote Control bridges (they need a claude.ai \
             subscription login); use it as CLAUDE_CODE_OAUTH_TOKEN for non-interactive claude."
            .to_owned(),
        (_, Some(detail)) => detail.to_owned(),
        (Outcome::WrongCode, None) => "claude did not accept the code.".to_owned(),
        (Outcome::NetworkError, None) => "claude could not reach the sign-in service.".to_owned(),
        (Outcome::Failed, None) => "claude ended the sign-in without signing in.".to_owned(),
    }
}

fn finished_frame(outcome: Outcome, detail: Option<&str>) -> LoginFlowFrame {
    LoginFlowFrame {
        state: "finished".into(),
        url: None,
        outcome: Some(outcome.as_token().into()),
        detail: Some(message(outcome, detail)),
    }
}

/// What a start asks for, checked.
struct StartRequest {
    mode: &'static str,
    method: &'static str,
    email: Option<String>,
}

impl StartRequest {
    /// The gate of the second opt-in first (a disabled mode is a 404 like the whole
    /// surface), then the fields.
    fn parse(
        state: &AppState,
        elevated: Result<Elevated, ApiError>,
        body: &[u8],
    ) -> Result<Self, ApiError> {
        let fields = JsonObject::parse(body)?;
        let mode = fields.string("mode")?;
        let mode: &'static str = match mode.as_deref() {
            Some("login") => "login",
            // Mints a credential the browser shows: a fresh step-up too (security.md §3.2).
            Some("setup-token") if state.config().login_shepherd.allow_setup_token => {
                elevated?;
                "setup-token"
            }
            Some("setup-token") => return Err(disabled()),
            _ => {
                return Err(ApiError::invalid(
                    "mode must be \"login\" or \"setup-token\"",
                    Some("mode"),
                ));
            }
        };
        let method = match fields.string("method")?.as_deref() {
            None | Some("claudeai") => "--claudeai",
            Some("console") => "--console",
            Some(_) => {
                return Err(ApiError::invalid(
                    "method must be \"claudeai\" or \"console\"",
                    Some("method"),
                ));
            }
        };
        let email = fields.string("email")?.filter(|e| !e.is_empty());
        if let Some(email) = &email
            && (email.len() > MAX_EMAIL
                || !email.contains('@')
                || email.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(ApiError::invalid(
                "email is not an email address",
                Some("email"),
            ));
        }
        Ok(Self {
            mode,
            method,
            email,
        })
    }
}

/// The authorize URL once claude shows it; a 400 when it ends first or shows none in time
/// (then it is killed).
async fn wait_for_link(
    running: &Running,
    progress: &mut watch::Receiver<Progress>,
) -> Result<String, ApiError> {
    // The link, or the end, or nothing within the wait.
    let seen = tokio::time::timeout(START_WAIT, async {
        loop {
            {
                let p = progress.borrow_and_update();
                if let Some(url) = login_flow::authorize_url(&p.links, &p.lines) {
                    return Ok(url);
                }
                if p.exit.is_some() {
                    return Err(p.clone());
                }
            }
            if progress.changed().await.is_err() {
                return Err(Progress::default());
            }
        }
    })
    .await;
    match seen {
        Ok(Ok(url)) => Ok(url),
        Ok(Err(ended)) => {
            let (_, detail) = login_flow::outcome(ended.exit.flatten(), &ended.lines);
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "claude ended before showing a sign-in link: {}",
                    detail.unwrap_or_else(|| "no output".into())
                ),
            ))
        }
        Err(_) => {
            running.kill_group();
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "claude showed no sign-in link within 30 s",
            ))
        }
    }
}

/// `POST /api/login-shepherd/start {"mode", "method"?, "email"?}`.
pub async fn start(
    Admitted(state): Admitted,
    elevated: Result<Elevated, ApiError>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let StartRequest {
        mode,
        method,
        email,
    } = StartRequest::parse(&state, elevated, &body)?;
    let shepherd = state.shepherd().clone();
    {
        let mut flow = shepherd.lock();
        if let Some(open) = flow.as_ref() {
            if open.ended.is_none() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("a sign-in is already in progress ({})", open.started_ago()),
                ));
            }
            *flow = None;
        }
    }
    let env = state.engine().bridge_env().clone();
    let binary = state.config().claude.binary.clone();
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let program = crate::bridge_env::resolve_binary(&binary, &env, home.as_deref())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let args = if mode == "setup-token" {
        vec!["setup-token".to_owned()]
    } else {
        let mut args = vec!["auth".to_owned(), "login".to_owned(), method.to_owned()];
        if let Some(email) = email {
            args.push("--email".into());
            args.push(email);
        }
        args
    };
    let spec = signin::Spec {
        program,
        args,
        env: env
            .vars()
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
        cwd: state.config().state_dir.clone(),
    };
    let (progress_tx, mut progress) = watch::channel(Progress::default());
    let running = tokio::task::spawn_blocking(move || {
        signin::start(&spec, move |p| {
            progress_tx.send_replace(p.clone());
        })
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    tracing::info!(mode, "sign-in started");
    let url = wait_for_link(&running, &mut progress).await?;
    let output = {
        let p = progress.borrow();
        login_flow::redact(&p.lines.join("\n"), &[])
    };
    let id = {
        let mut flow = shepherd.lock();
        if flow.as_ref().is_some_and(|f| f.ended.is_none()) {
            // Another start won the race while this one waited for its link.
            running.kill_group();
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "a sign-in is already in progress (started 0 s ago)",
            ));
        }
        let id = rand_id();
        *flow = Some(Flow {
            id,
            mode,
            started: Instant::now(),
            running,
            progress: progress.clone(),
            url: Some(url.clone()),
            code: None,
            ended: None,
            token: None,
        });
        id
    };
    publish(
        &state,
        LoginFlowFrame {
            state: "waiting_for_code".into(),
            url: Some(url.clone()),
            outcome: None,
            detail: None,
        },
    );
    tokio::spawn(follow(state.clone(), id, mode, progress));
    Ok(Json(json!({"authorize_url": url, "output": output})).into_response())
}

fn rand_id() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

/// How a flow's process has ended, as far as its output tells.
enum Ended {
    /// It exited: its code (`None`: a signal) and its last screen.
    Exited(Option<u32>, Vec<String>),
    /// `setup-token` printed its token (it may wait for a key before exiting).
    Token(String),
    /// `setup-token` showed a failure after the code and waits for Enter to retry.
    Stuck(Vec<String>),
    /// The reader is gone without an exit.
    Lost,
}

/// Whether flow `id` has had its code typed in.
fn code_sent(state: &AppState, id: u64) -> bool {
    state
        .shepherd()
        .lock()
        .as_ref()
        .is_some_and(|f| f.id == id && f.code.is_some())
}

/// What `progress` says about the end of flow `id`, if it has ended.
fn ended(state: &AppState, id: u64, full_screen: bool, progress: &Progress) -> Option<Ended> {
    if let Some(exit) = progress.exit {
        if full_screen && let Some(token) = login_flow::minted_token(&progress.lines) {
            return Some(Ended::Token(token));
        }
        return Some(Ended::Exited(exit, progress.lines.clone()));
    }
    if !full_screen {
        return None;
    }
    if let Some(token) = login_flow::minted_token(&progress.lines) {
        return Some(Ended::Token(token));
    }
    (login_flow::error_line(&progress.lines).is_some() && code_sent(state, id))
        .then(|| Ended::Stuck(progress.lines.clone()))
}

/// Waits for flow `id` to end (or its 10 minutes), records the outcome, publishes it, and on
/// a sign-in has the readiness checked again.
async fn follow(
    state: AppState,
    id: u64,
    mode: &'static str,
    mut progress: watch::Receiver<Progress>,
) {
    let full_screen = mode == "setup-token";
    let seen = tokio::time::timeout(FLOW_LIMIT, async {
        loop {
            // A copy: the watch's read lock is not held while `ended` takes the flow's
            // mutex (the reader thread may be waiting to publish meanwhile).
            let shown = progress.borrow_and_update().clone();
            if let Some(now) = ended(&state, id, full_screen, &shown) {
                return now;
            }
            if progress.changed().await.is_err() {
                return Ended::Lost;
            }
        }
    })
    .await;
    let exited = matches!(seen, Ok(Ended::Exited(..) | Ended::Lost));
    let (outcome, detail, token) = match seen {
        Ok(Ended::Exited(exit, lines)) => {
            let (outcome, detail) = login_flow::outcome(exit, &lines);
            (outcome, detail, None)
        }
        Ok(Ended::Token(token)) => (Outcome::TokenCreated, None, Some(token)),
        Ok(Ended::Stuck(lines)) => {
            let (outcome, detail) = login_flow::outcome(None, &lines);
            (outcome, detail, None)
        }
        Ok(Ended::Lost) => (Outcome::Failed, None, None),
        Err(_) => (Outcome::Timeout, None, None),
    };
    let recorded = {
        let mut flow = state.shepherd().lock();
        match flow.as_mut() {
            Some(f) if f.id == id && f.ended.is_none() => {
                // A full-screen flow waits for a key after its verdict; the timeout is a kill.
                // An exited one is left alone: its group id may be free for reuse.
                if !exited {
                    f.running.kill_group();
                }
                let mut secrets: Vec<&str> = f.code.as_deref().into_iter().collect();
                secrets.extend(token.as_deref());
                let detail = detail.map(|d| login_flow::redact(&d, &secrets));
                f.ended = Some((outcome, detail.clone()));
                f.token = token;
                Some(detail)
            }
            // Cancelled meanwhile: the cancel said so.
            _ => None,
        }
    };
    let Some(detail) = recorded else {
        return;
    };
    tracing::info!(outcome = outcome.as_token(), "sign-in ended");
    publish(&state, finished_frame(outcome, detail.as_deref()));
    if outcome == Outcome::SignedIn {
        state.readiness().recheck().await;
    }
}

/// The answer for a flow's current result.
/// The answer for `flow`'s current result, handing `setup-token`'s token out (once).
fn take_result(flow: Option<&mut Flow>) -> Value {
    let Some(flow) = flow else {
        return result_body(None);
    };
    let mut body = result_body(flow.ended.as_ref());
    if let Some(token) = flow.token.take() {
        body["token"] = Value::String(token);
    }
    body
}

fn result_body(ended: Option<&(Outcome, Option<String>)>) -> Value {
    match ended {
        None => json!({
            "ok": false,
            "pending": true,
            "message": "claude is still verifying the code; check again in a moment",
        }),
        Some((outcome, detail)) => json!({
            "ok": matches!(outcome, Outcome::SignedIn | Outcome::TokenCreated),
            "outcome": outcome.as_token(),
            "message": message(*outcome, detail.as_deref()),
        }),
    }
}

/// `POST /api/login-shepherd/code {"code"}`.
pub async fn code(
    Admitted(state): Admitted,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let fields = JsonObject::parse(&body)?;
    let code = fields
        .string("code")?
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::invalid("code is required", Some("code")))?;
    if code.len() > MAX_CODE {
        return Err(ApiError::invalid(
            format!("code is longer than {MAX_CODE} characters"),
            Some("code"),
        ));
    }
    if code.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "code must be one line of text",
            Some("code"),
        ));
    }
    let shepherd = state.shepherd().clone();
    let mut progress = {
        let mut flow = shepherd.lock();
        let Some(f) = flow.as_mut().filter(|f| f.ended.is_none()) else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "no sign-in is in progress",
            ));
        };
        if f.code.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "a code was already sent for this sign-in",
            ));
        }
        f.running
            .type_line(&code)
            .map_err(|e| ApiError::new(StatusCode::CONFLICT, format!("the sign-in ended: {e}")))?;
        f.code = Some(code);
        f.progress.clone()
    };
    publish(
        &state,
        LoginFlowFrame {
            state: "verifying".into(),
            url: None,
            outcome: None,
            detail: None,
        },
    );
    // The verdict, or `pending` after the wait.
    let _ = tokio::time::timeout(SUBMIT_WAIT, async {
        loop {
            if shepherd.lock().as_ref().is_none_or(|f| f.ended.is_some()) {
                return;
            }
            if progress.changed().await.is_err() {
                // The exit is recorded by `follow` right after; give it its turn.
                tokio::task::yield_now().await;
                if shepherd.lock().as_ref().is_none_or(|f| f.ended.is_some()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    })
    .await;
    let body = take_result(shepherd.lock().as_mut());
    Ok(Json(body).into_response())
}

/// `POST /api/login-shepherd/status`: `pending` while running; the result once ended (which
/// retires the flow); 409 without a flow.
pub async fn status(Admitted(state): Admitted) -> Result<Response, ApiError> {
    let mut flow = state.shepherd().lock();
    let Some(f) = flow.as_mut() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no sign-in is in progress",
        ));
    };
    let body = take_result(Some(f));
    if f.ended.is_some() {
        *flow = None;
    }
    Ok(Json(body).into_response())
}

/// `GET /api/login-shepherd/state`: whether a flow is open, and its link.
pub async fn flow_state(Admitted(state): Admitted) -> Result<Response, ApiError> {
    let flow = state.shepherd().lock();
    let body = match flow.as_ref() {
        None => json!({"active": false}),
        Some(f) => json!({
            "active": true,
            "mode": f.mode,
            "authorize_url": f.url,
            "pending": f.code.is_some() && f.ended.is_none(),
            "started_seconds_ago": f.started.elapsed().as_secs(),
            "outcome": f.ended.as_ref().map(|(o, _)| o.as_token()),
        }),
    };
    Ok(Json(body).into_response())
}

/// `POST /api/login-shepherd/cancel`: kills the flow's process group; always 200.
pub async fn cancel(Admitted(state): Admitted) -> Result<Response, ApiError> {
    let taken = state.shepherd().lock().take();
    let cancelled = taken.as_ref().is_some_and(|f| f.ended.is_none());
    if let Some(mut f) = taken {
        f.running.kill_group();
        if cancelled {
            f.ended = Some((Outcome::Cancelled, None));
            tracing::info!("sign-in cancelled");
            publish(&state, finished_frame(Outcome::Cancelled, None));
        }
    }
    Ok(Json(json!({"ok": true, "cancelled": cancelled})).into_response())
}

/// `POST /api/login-shepherd/logout {"confirm": "sign out"}`: `claude auth logout` after the
/// typed confirmation (a 422 without it), never while a sign-in runs (409); then the readiness
/// is checked again, so every pill turns red.
pub async fn logout(
    Admitted(state): Admitted,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let fields = JsonObject::parse(&body)?;
    if fields.string("confirm")?.as_deref().map(str::trim) != Some(LOGOUT_CONFIRM) {
        return Err(ApiError::invalid(
            format!("type \"{LOGOUT_CONFIRM}\" in confirm to sign claude out"),
            Some("confirm"),
        ));
    }
    if let Some(open) = state
        .shepherd()
        .lock()
        .as_ref()
        .filter(|f| f.ended.is_none())
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "a sign-in is in progress ({}); cancel it first",
                open.started_ago()
            ),
        ));
    }
    let env = state.engine().bridge_env().clone();
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let program =
        crate::bridge_env::resolve_binary(&state.config().claude.binary, &env, home.as_deref())
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let finished = crate::probe::run(
        &program,
        &["auth", "logout"],
        &env,
        &state.config().state_dir,
        LOGOUT_WAIT,
    )
    .await;
    let Some(finished) = finished.filter(|f| f.success) else {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "claude auth logout failed or did not finish within 30 s; run it as the service user",
        ));
    };
    tracing::info!("claude signed out");
    state.readiness().recheck().await;
    let said = finished
        .stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("Signed out.")
        .to_owned();
    Ok(Json(json!({"ok": true, "message": said})).into_response())
}

/// `GET /api/login-shepherd/qr`: the open flow's authorize URL as an SVG QR code, for a phone
/// to open; 409 without one.
pub async fn qr(Admitted(state): Admitted) -> Result<Response, ApiError> {
    let url = state
        .shepherd()
        .lock()
        .as_ref()
        .filter(|f| f.ended.is_none())
        .and_then(|f| f.url.clone())
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "no sign-in is in progress"))?;
    let mut response = crate::qr::qr_svg(&url)?.into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("image/svg+xml"),
    );
    Ok(response)
}

/// The shepherd's routes (merged by `routes.rs`).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/api/login-shepherd/start", post(start))
        .route("/api/login-shepherd/code", post(code))
        .route("/api/login-shepherd/status", post(status))
        .route("/api/login-shepherd/state", get(flow_state))
        .route("/api/login-shepherd/cancel", post(cancel))
        .route("/api/login-shepherd/logout", post(logout))
        .route("/api/login-shepherd/qr", get(qr))
}
