//! The instance routes of http-api.md §5.2 and the push stream of §8.4.

use std::time::Duration;

use axum::Json;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clauster_wire::{Forgotten, Frame, HealthFacts, Sequenced, Snapshot};
use serde_json::{Map, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::engine::StartRequest;
use crate::error::ApiError;
use crate::http::ApiAndV1;
use crate::http::JsonObject;
use crate::state::AppState;
use axum::Router;
use axum::routing::{self, post};

pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(state.engine().list().await?).into_response())
}

/// The instance routes and the dashboard's push stream.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/state", routing::get(app_state))
        .api_and_v1("/instances", routing::get(list).post(start))
        .api_and_v1("/instances/{id}", routing::get(get).delete(stop))
        .api_and_v1("/instances/{id}/resume", post(resume))
        .route("/api/instances/{id}/forget", post(forget))
        .route("/api/instances/{id}/qr", routing::get(crate::qr::qr))
        .route("/ws/events", routing::get(events))
}

pub async fn get(
    State(state): State<AppState>,
    Path(reference): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.engine().get(&reference).await?).into_response())
}

pub async fn stop(
    State(state): State<AppState>,
    Path(reference): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.engine().stop(&reference).await?).into_response())
}

pub async fn forget(
    State(state): State<AppState>,
    Path(reference): Path<String>,
) -> Result<Response, ApiError> {
    let id = state.engine().forget(&reference).await?;
    Ok(Json(Forgotten {
        id,
        forgotten: true,
    })
    .into_response())
}

/// `POST /api/instances`: the type checks of http-api.md §5.2 run before anything else.
pub async fn start(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request = parse_start(&body)?;
    let wait = Duration::from_secs_f64(state.config().claude.ready_wait_seconds);
    let outcome = state.engine().start(request, wait).await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(outcome)).into_response())
}

/// `POST /api/instances/{id}/resume`: an optional body with booleans `fresh` and `trust`.
pub async fn resume(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (fresh, trust) = parse_resume(&body)?;
    let wait = Duration::from_secs_f64(state.config().claude.ready_wait_seconds);
    let outcome = state
        .engine()
        .resume(&reference, fresh, trust, wait)
        .await?;
    // 200 whether or not it launched, as 1.3.2 answers (issue 18 reverses http-api.md §5's
    // 201); `created` in the body tells the two apart.
    Ok((StatusCode::OK, Json(outcome)).into_response())
}

fn parse_resume(body: &[u8]) -> Result<(bool, bool), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((false, false));
    }
    let fields = JsonObject::parse(body)?;
    Ok((
        fields.boolean("fresh")?.unwrap_or(false),
        fields.boolean("trust")?.unwrap_or(false),
    ))
}

fn parse_start(body: &[u8]) -> Result<StartRequest, ApiError> {
    let object = JsonObject::parse(body)?;
    let fields = object.fields();
    let project = match fields.get("project") {
        Some(Value::String(project)) => project.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                "project must be a string",
                Some("project"),
            ));
        }
        None => return Err(ApiError::invalid("project is required", Some("project"))),
    };
    let text = |name: &'static str| optional_string(fields, name);
    let trust = match fields.get("trust") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(trust)) => *trust,
        Some(_) => return Err(ApiError::invalid("trust must be a boolean", Some("trust"))),
    };
    Ok(StartRequest {
        project,
        spawn_mode: text("spawn_mode")?,
        permission_mode: text("permission_mode")?,
        resume_mode: text("resume_mode")?,
        name: text("name")?,
        sandbox: text("sandbox")?,
        resume_session_id: text("resume_session_id")?,
        channel: text("channel")?,
        trust,
    })
}

fn optional_string(
    fields: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(ApiError::invalid(
            format!("{name} must be a string"),
            Some(name),
        )),
    }
}

/// `GET /api/state`: the snapshot plus the page context.
pub async fn app_state(State(state): State<AppState>) -> Result<Response, ApiError> {
    let snapshot = snapshot(&state).await?;
    let mut body =
        serde_json::to_value(&snapshot).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Value::Object(map) = &mut body {
        map.insert(
            "context".into(),
            serde_json::to_value(state.context()).unwrap_or(Value::Null),
        );
    }
    Ok(Json(body).into_response())
}

async fn snapshot(state: &AppState) -> Result<Snapshot, ApiError> {
    let instances = state.engine().list().await?;
    let projects = crate::projects::projects_blocking(state.clone()).await?;
    let preflight = crate::preflight::check_all_off_thread(state, projects.clone()).await;
    Ok(Snapshot {
        projects,
        preflight,
        instances,
        usage: state.usage().published(),
        metrics: state.metrics().current(),
        health: health_facts(state),
        login: state.engine().claude_health().login_status(),
        sessions: state.engine().sessions().view.clone(),
        clone_jobs: state.clones().running(),
        readiness: state.readiness().current(),
    })
}

/// The snapshot's `health`: the probe cache and readiness (http-api.md §8.4).
pub fn health_facts(state: &AppState) -> HealthFacts {
    state.engine().health_facts()
}

/// `GET /ws/events`.
pub async fn events(
    State(state): State<AppState>,
    session: crate::auth::SocketSession,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade.on_upgrade(move |socket| stream_events(state, socket, session))
}

async fn stream_events(
    state: AppState,
    mut socket: WebSocket,
    session: crate::auth::SocketSession,
) {
    let mut session_end = std::pin::pin!(session.ended());
    let mut seq = 0_u64;
    let mut send = async |socket: &mut WebSocket, frame: Frame| -> bool {
        seq += 1;
        crate::http::ws::send_json(socket, &Sequenced { seq, frame }).await
    };
    let hello = Frame::Hello {
        version: state.version().to_owned(),
        server_time: crate::engine::now_rfc3339(),
        context: state.context().clone(),
    };
    if !send(&mut socket, hello).await {
        return;
    }
    // Subscribe before the snapshot: nothing between the two is lost.
    let mut changes = state.engine().subscribe();
    let Ok(first) = snapshot(&state).await else {
        return;
    };
    if !send(&mut socket, Frame::Snapshot(first)).await {
        return;
    }
    // The heartbeat frame is for the page; the ping finds a client that is gone (§8).
    let mut keep_alive = crate::http::ws::KeepAlive::start();
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                Ok(frame) => {
                    if !send(&mut socket, frame.as_ref().clone()).await {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let resync = Frame::Resync { reason: "the connection fell behind".into() };
                    let Ok(fresh) = snapshot(&state).await else { return };
                    if !send(&mut socket, resync).await || !send(&mut socket, Frame::Snapshot(fresh)).await {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            () = tokio::time::sleep(Duration::from_secs(15)) => {
                let beat = Frame::Heartbeat { server_time: crate::engine::now_rfc3339() };
                if !send(&mut socket, beat).await {
                    return;
                }
            }
            () = keep_alive.due() => {
                if !keep_alive.ping(&mut socket).await {
                    return;
                }
            }
            incoming = socket.recv() => {
                if !keep_alive.heard(&mut socket, incoming.as_ref()).await {
                    return;
                }
            }
            (code, reason) = &mut session_end => {
                crate::http::ws::close(&mut socket, code, reason).await;
                return;
            }
        }
    }
}
