//! The notification routes (notifications.md §6): the delivery log, the test button and the
//! per-project mute.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::http::{JsonObject, ProjectParam, ProjectRejection};
use crate::state::AppState;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/notifications/deliveries", get(deliveries))
        .route("/api/notifications/test", post(test))
        .route("/api/notifications/browser", get(browser))
        .route(
            "/api/projects/{name}/notifications",
            get(project_mute).put(set_project_mute),
        )
}

/// `GET /api/notifications/deliveries` → `{"deliveries": [newest first, ≤ 100], "dropped",
/// "targets": [{"channel", "target", "breaker", "queued", "dropped"}]}`; URLs masked.
async fn deliveries(State(state): State<AppState>) -> Response {
    let notify = state.notify();
    Json(serde_json::json!({
        "deliveries": notify.deliveries(),
        "dropped": notify.dropped(),
        "targets": notify.target_states(),
    }))
    .into_response()
}

/// `GET /api/notifications/browser` → what `notify.js` needs: `{"enabled", "notify_on":
/// {"crash", "ready", "stop", "session_end", "reconnect_failed"}, "muted": [projects]}`.
async fn browser(State(state): State<AppState>) -> Response {
    let people = &state.config().notifications;
    let filter = people.filter;
    Json(serde_json::json!({
        "enabled": people.browser_enabled,
        "notify_on": {
            "crash": filter.on_crash,
            "ready": filter.on_ready,
            "stop": filter.on_stop,
            "session_end": filter.on_session_end,
            "reconnect_failed": filter.on_reconnect_failed,
        },
        "muted": state.notify().muted(),
    }))
    .into_response()
}

/// `POST /api/notifications/test` → 202 `{"queued": <targets>}`: a `test` notice on every
/// target whatever its filters; the outcomes appear in the delivery log.
async fn test(State(state): State<AppState>) -> Response {
    let queued = state.notify().test();
    let mut body = serde_json::json!({ "queued": queued });
    if queued == 0 {
        body["detail"] = "no notification target is configured: set webhooks.urls (with \
                          webhooks.enabled) or notifications.urls (with notifications.enabled)"
            .into();
    }
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// `GET /api/projects/{name}/notifications` → `{"project", "muted"}`.
async fn project_mute(
    State(state): State<AppState>,
    ProjectParam(found): ProjectParam,
) -> Result<Response, ApiError> {
    let project = found.name;
    let muted = state.notify().is_muted(project.as_str());
    Ok(Json(serde_json::json!({ "project": project.as_str(), "muted": muted })).into_response())
}

/// `PUT /api/projects/{name}/notifications {"muted": bool}` → `{"project", "muted"}`.
async fn set_project_mute(
    State(state): State<AppState>,
    project: Result<ProjectParam, ProjectRejection>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let fields = JsonObject::parse(&body)?;
    let muted = fields
        .boolean("muted")?
        .ok_or_else(|| ApiError::invalid("muted is required (true or false)", Some("muted")))?;
    // The body's refusals come first, as before the project is looked up.
    let project = project?.0.name;
    let notify = state.notify().clone();
    let key = project.as_str().to_owned();
    tokio::task::spawn_blocking(move || notify.set_muted(&key, muted))
        .await
        .map_err(|_| ApiError::internal("saving the mute panicked; see the server log"))?
        .map_err(|err| {
            ApiError::internal(format!(
                "cannot save the muted projects in state_dir: {err}; check that it is writable"
            ))
        })?;
    Ok(Json(serde_json::json!({ "project": project.as_str(), "muted": muted })).into_response())
}
