//! Signing `claude` in from the dashboard (issue 20, http-api.md §3.2), behind
//! `login_shepherd.enabled` (every route 404 when off): `claude auth login` under a PTY
//! (`clauster_pty::signin`), its authorize URL, the pasted code typed back, the outcome in
//! claude's own words, and a `login_flow` frame at each step. One flow at a time; a second
//! start is a 409. Cancel, a 10-minute limit and the server's shutdown kill the process
//! group. The code and the URL's `state` never reach a log.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clauster_core::login_flow::{self, Outcome};
use clauster_pty::signin::{self, Progress, Running};
use clauster_wire::{Frame, LoginFlowFrame};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::control::ViaControlSocket;
use crate::error::ApiError;
use crate::http::JsonObject;
use crate::http::no_store;
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

/// `login_shepherd.enabled`, or the control socket (`clauster login`, cli.md §3: the CLI's
/// sign-in needs no dashboard switch, like the CLI reaper).
fn gate(
    state: &AppState,
    socket: Option<&axum::Extension<ViaControlSocket>>,
) -> Result<(), ApiError> {
    if state.config().login_shepherd.enabled || socket.is_some() {
        Ok(())
    } else {
        Err(disabled())
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
    fn parse(state: &AppState, body: &[u8]) -> Result<Self, ApiError> {
        let fields = JsonObject::parse(body)?;
        let mode = fields.string("mode")?;
        let mode: &'static str = match mode.as_deref() {
            Some("login") => "login",
            Some("setup-token") if state.config().login_shepherd.allow_setup_token => {
                return Err(ApiError::invalid(
                    "the setup-token mode is not available in this version; use \"login\"",
                    Some("mode"),
                ));
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
    State(state): State<AppState>,
    socket: Option<axum::Extension<ViaControlSocket>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    gate(&state, socket.as_ref())?;
    let StartRequest {
        mode,
        method,
        email,
    } = StartRequest::parse(&state, &body)?;
    let shepherd = state.shepherd().clone();
    {
        let mut flow = shepherd.lock();
        if let Some(open) = flow.as_ref() {
            if open.ended.is_none() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "a sign-in is already in progress (started {} s ago)",
                        open.started.elapsed().as_secs()
                    ),
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
    let mut args = vec!["auth".to_owned(), "login".to_owned(), method.to_owned()];
    if let Some(email) = email {
        args.push("--email".into());
        args.push(email);
    }
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
    tokio::spawn(follow(state.clone(), id, progress));
    Ok(no_store(
        Json(json!({"authorize_url": url, "output": output})).into_response(),
    ))
}

fn rand_id() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

/// Waits for flow `id` to end (or its 10 minutes), records the outcome, publishes it, and on
/// a sign-in has the readiness checked again.
async fn follow(state: AppState, id: u64, mut progress: watch::Receiver<Progress>) {
    let ended = tokio::time::timeout(FLOW_LIMIT, async {
        loop {
            if let Some(exit) = progress.borrow_and_update().exit {
                return Some(exit);
            }
            if progress.changed().await.is_err() {
                return None;
            }
        }
    })
    .await;
    let (outcome, detail) = match ended {
        Ok(Some(exit)) => {
            let lines = progress.borrow().lines.clone();
            login_flow::outcome(exit, &lines)
        }
        Ok(None) => (Outcome::Failed, None),
        Err(_) => (Outcome::Timeout, None),
    };
    let recorded = {
        let mut flow = state.shepherd().lock();
        match flow.as_mut() {
            Some(f) if f.id == id && f.ended.is_none() => {
                if outcome == Outcome::Timeout {
                    f.running.kill_group();
                }
                let secrets: Vec<&str> = f.code.as_deref().into_iter().collect();
                let detail = detail.map(|d| login_flow::redact(&d, &secrets));
                f.ended = Some((outcome, detail.clone()));
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
fn result_body(ended: Option<&(Outcome, Option<String>)>) -> Value {
    match ended {
        None => json!({
            "ok": false,
            "pending": true,
            "message": "claude is still verifying the code; check again in a moment",
        }),
        Some((outcome, detail)) => json!({
            "ok": *outcome == Outcome::SignedIn,
            "outcome": outcome.as_token(),
            "message": message(*outcome, detail.as_deref()),
        }),
    }
}

/// `POST /api/login-shepherd/code {"code"}`.
pub async fn code(
    State(state): State<AppState>,
    socket: Option<axum::Extension<ViaControlSocket>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    gate(&state, socket.as_ref())?;
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
    let body = result_body(shepherd.lock().as_ref().and_then(|f| f.ended.as_ref()));
    Ok(no_store(Json(body).into_response()))
}

/// `POST /api/login-shepherd/status`: `pending` while running; the result once ended (which
/// retires the flow); 409 without a flow.
pub async fn status(
    State(state): State<AppState>,
    socket: Option<axum::Extension<ViaControlSocket>>,
) -> Result<Response, ApiError> {
    gate(&state, socket.as_ref())?;
    let mut flow = state.shepherd().lock();
    let Some(f) = flow.as_ref() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no sign-in is in progress",
        ));
    };
    let body = result_body(f.ended.as_ref());
    if f.ended.is_some() {
        *flow = None;
    }
    Ok(no_store(Json(body).into_response()))
}

/// `GET /api/login-shepherd/state`: whether a flow is open, and its link.
pub async fn flow_state(
    State(state): State<AppState>,
    socket: Option<axum::Extension<ViaControlSocket>>,
) -> Result<Response, ApiError> {
    gate(&state, socket.as_ref())?;
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
    Ok(no_store(Json(body).into_response()))
}

/// `POST /api/login-shepherd/cancel`: kills the flow's process group; always 200.
pub async fn cancel(
    State(state): State<AppState>,
    socket: Option<axum::Extension<ViaControlSocket>>,
) -> Result<Response, ApiError> {
    gate(&state, socket.as_ref())?;
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
    Ok(no_store(
        Json(json!({"ok": true, "cancelled": cancelled})).into_response(),
    ))
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
}
