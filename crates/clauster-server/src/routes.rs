//! The axum router: every route of http-api.md that exists so far, under `root_path`.

use axum::Extension;
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use clauster_wire::{Bootstrap, Health, HealthDetail, Project};

use crate::auth::{Auth, Caller, login};
use crate::error::ApiError;
use crate::headers::{self, CspNonce};
use crate::state::AppState;
use crate::{
    assets, clone, instances, log_tail, more_routes, page, projects_create, sessions_routes,
};

#[allow(clippy::too_many_lines)] // the route table: one entry per route, no logic
pub fn router(state: AppState, auth: Auth) -> Router {
    let api = Router::new()
        .route("/", get(dashboard))
        .route(
            "/login",
            get(login::page).with_state(auth.clone()).merge(
                post(login::submit)
                    .layer(DefaultBodyLimit::max(login::FORM_LIMIT_BYTES))
                    .with_state(auth.clone()),
            ),
        )
        .route("/logout", post(login::logout).with_state(auth))
        .route("/healthz", get(healthz))
        .route("/api/v1/projects", get(list_projects))
        .route("/api/state", get(instances::app_state))
        .route(
            "/api/instances",
            get(instances::list).post(instances::start),
        )
        .route(
            "/api/v1/instances",
            get(instances::list).post(instances::start),
        )
        .route(
            "/api/instances/{id}",
            get(instances::get).delete(instances::stop),
        )
        .route(
            "/api/v1/instances/{id}",
            get(instances::get).delete(instances::stop),
        )
        .route("/api/instances/{id}/forget", post(instances::forget))
        .route("/api/instances/{id}/qr", get(more_routes::qr))
        .route(
            "/api/projects/{name}/trust",
            post(more_routes::trust_project),
        )
        .route("/api/projects/trust-all", post(more_routes::trust_all))
        // Data features (data.md §1–§2: usage, transcripts, CLAUDE.md editor) and preflight.
        .merge(crate::usage::routes().merge(crate::preflight::routes()))
        // The transcript viewer (issue 21): its API, its pages and its live socket.
        .merge(crate::transcript::routes::routes().merge(crate::transcript::page::routes()))
        .route(
            "/ws/transcript/{name}/{session}",
            get(crate::transcript::socket::stream),
        )
        .route("/api/widget", get(more_routes::widget))
        .route("/api/login-status", get(more_routes::login_status))
        .route("/api/doctor", get(crate::doctor::api_doctor))
        .route("/api/instances/{id}/resume", post(instances::resume))
        .route("/api/v1/instances/{id}/resume", post(instances::resume))
        // Sessions, background agents and adoption (http-api.md §6, bridges.md §9.6).
        .route("/api/sessions", get(sessions_routes::external))
        .route("/api/v1/sessions", get(sessions_routes::external))
        .route("/api/sessions/tracked", get(sessions_routes::tracked))
        .route("/api/sessions/all", get(sessions_routes::all))
        .route("/api/v1/sessions/tracked", get(sessions_routes::tracked))
        .route("/api/sessions/adoptable", get(sessions_routes::adoptable))
        .route(
            "/api/v1/sessions/adoptable",
            get(sessions_routes::adoptable),
        )
        .route(
            "/api/agents",
            get(sessions_routes::list_agents).post(sessions_routes::dispatch),
        )
        .route(
            "/api/v1/agents",
            get(sessions_routes::list_agents).post(sessions_routes::dispatch),
        )
        .route("/api/agents/{job_id}", delete(sessions_routes::stop_agent))
        .route(
            "/api/v1/agents/{job_id}",
            delete(sessions_routes::stop_agent),
        )
        .route(
            "/api/agents/{job_id}/resume",
            post(sessions_routes::resume_agent),
        )
        .route(
            "/api/v1/agents/{job_id}/resume",
            post(sessions_routes::resume_agent),
        )
        .route("/api/projects/{name}/adopt", post(sessions_routes::adopt))
        .route("/ws/events", get(instances::events))
        .route("/ws/pty-screen/{id}", get(crate::pty_screen::stream))
        .route("/ws/bridge-log/{id}", get(log_tail::stream))
        // Create and clone (data.md §3, http-api.md §4 and §8.2).
        .route(
            "/api/projects",
            get(list_projects).post(projects_create::create),
        )
        .route("/api/projects/clone", post(clone::start))
        .route("/api/projects/clone/active", get(clone::active))
        .route("/api/projects/clone/{job_id}/cancel", post(clone::cancel))
        .route("/ws/clone-progress/{job_id}", get(clone::progress_socket))
        // Metrics (data.md §4) and the Prometheus scrape (http-api.md §9).
        .route("/api/metrics", get(crate::metrics::api_metrics))
        .route(
            "/api/projects/{name}/metrics",
            get(crate::metrics::project_metrics),
        )
        .route("/metrics", get(crate::metrics::prometheus))
        // The ghost-environment reaper (http-api.md §7), gated by `reaper.ui_enabled`.
        .merge(crate::reaper::routes::routes())
        .route("/pkg/{*path}", get(assets::serve))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(headers::BODY_LIMIT_BYTES));
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

pub fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `/healthz`: an unauthenticated caller while auth is on sees `{"status": "ok"}` only.
async fn healthz(State(state): State<AppState>, caller: Option<Extension<Caller>>) -> Response {
    if caller.is_some_and(|Extension(caller)| !caller.sees_health_detail()) {
        return no_store(
            Json(Health {
                status: "ok".into(),
                detail: None,
            })
            .into_response(),
        );
    }
    let running = if state.engine().is_ready() {
        state.engine().list().await.map_or(0, |all| {
            all.iter().filter(|i| i.status == "running").count()
        })
    } else {
        0
    };
    let claude = state.engine().claude_health();
    let health = Health {
        status: "ok".into(),
        detail: Some(HealthDetail {
            version: state.version().into(),
            // `null` until the first probe finished (bridges.md §3.1).
            claude_ok: claude.claude_ok,
            claude_version: claude.claude_version,
            // Before the first `claude auth status` answer the spec reports logged in.
            claude_login_ok: claude.login_ok.unwrap_or(true),
            claude_login_method: claude.login_method,
            claude_login_expires_at: claude.login_expires_at,
            instances_running: u32::try_from(running).unwrap_or(u32::MAX),
            store_ok: true,
            engine_ready: state.engine().is_ready(),
        }),
    };
    no_store(Json(health).into_response())
}

async fn list_projects(State(state): State<AppState>) -> Result<Response, ApiError> {
    let projects = projects_blocking(state).await?;
    Ok(no_store(Json(projects).into_response()))
}

async fn dashboard(
    State(state): State<AppState>,
    Extension(nonce): Extension<CspNonce>,
) -> Result<Response, ApiError> {
    let context = state.context().clone();
    let instances = state.engine().list().await?;
    let projects = projects_blocking(state).await?;
    let html = page::render(
        &Bootstrap {
            context,
            projects,
            instances,
        },
        &nonce.0,
    );
    Ok(no_store(Html(html).into_response()))
}

/// The projects, from the cache while it is fresh; discovery touches the filesystem, so it
/// runs off the async workers.
pub async fn projects_blocking(state: AppState) -> Result<Vec<Project>, ApiError> {
    if let Some(list) = state.cached_projects() {
        return Ok(list.as_ref().clone());
    }
    tokio::task::spawn_blocking(move || state.projects())
        .await
        .map_err(|_| ApiError::internal("project discovery panicked; see the server log"))?
}
