//! The axum router: every route of http-api.md that exists so far, under `root_path`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use clauster_wire::{Bootstrap, Health, HealthDetail, Project};

use crate::error::ApiError;
use crate::state::AppState;
use crate::{assets, page};

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/", get(dashboard))
        .route("/healthz", get(healthz))
        .route("/api/projects", get(list_projects))
        .route("/api/v1/projects", get(list_projects))
        .route("/pkg/{*path}", get(assets::serve))
        .fallback(not_found);
    let root = state.root_path().to_owned();
    let router = if root.is_empty() {
        api
    } else {
        Router::new().nest(&root, api)
    };
    router.with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("Not Found")
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn healthz(State(state): State<AppState>) -> Response {
    let health = Health {
        status: "ok".into(),
        detail: Some(HealthDetail {
            version: state.version().into(),
            // No probe has run yet (bridges.md §3.1): unknown, not false.
            claude_ok: None,
            claude_version: None,
            // Before the first `claude auth status` answer the spec reports logged in.
            claude_login_ok: true,
            claude_login_method: None,
            claude_login_expires_at: None,
            instances_running: 0,
            store_ok: false,
            engine_ready: false,
        }),
    };
    no_store(Json(health).into_response())
}

async fn list_projects(State(state): State<AppState>) -> Result<Response, ApiError> {
    let projects = projects_blocking(state).await?;
    Ok(no_store(Json(projects).into_response()))
}

async fn dashboard(State(state): State<AppState>) -> Result<Response, ApiError> {
    let context = state.context().clone();
    let projects = projects_blocking(state).await?;
    let html = page::render(&Bootstrap { context, projects });
    Ok(no_store(Html(html).into_response()))
}

/// Discovery touches the filesystem: keep it off the async workers.
async fn projects_blocking(state: AppState) -> Result<Vec<Project>, ApiError> {
    tokio::task::spawn_blocking(move || state.projects())
        .await
        .map_err(|_| ApiError::internal("project discovery panicked; see the server log"))?
}
