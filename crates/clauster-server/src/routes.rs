//! The axum router: every route of http-api.md that exists so far, under `root_path`.

use axum::Extension;
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, Version, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use clauster_wire::{Bootstrap, Health, HealthDetail};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{Predicate, SizeAbove};

use crate::auth::{Auth, Caller, login};
use crate::error::ApiError;
use crate::headers::{self, CspNonce};
// `no_store` and `projects_blocking` are re-exported from their old home for code written
// against it (other branches); new code imports `projects_blocking` from `state` and needs
// no `no_store` at all (the middleware sets it).
#[allow(unused_imports)]
pub(crate) use crate::http::no_store;
use crate::state::AppState;
pub(crate) use crate::state::projects_blocking;
use crate::{
    assets, clone, instances, log_tail, page, projects_create, qr, sessions_routes, status_routes,
    trust_routes,
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
        .route("/logout", post(login::logout).with_state(auth.clone()))
        .route(
            "/api/reauth",
            post(login::reauth)
                .layer(DefaultBodyLimit::max(login::FORM_LIMIT_BYTES))
                .with_state(auth),
        )
        .route("/healthz", get(healthz))
        .route("/api/v1/projects", get(list_projects))
        .route("/api/state", get(instances::app_state))
        .api_and_v1("/instances", get(instances::list).post(instances::start))
        .api_and_v1(
            "/instances/{id}",
            get(instances::get).delete(instances::stop),
        )
        .route("/api/instances/{id}/forget", post(instances::forget))
        .route("/api/instances/{id}/qr", get(qr::qr))
        .route(
            "/api/projects/{name}/trust",
            post(trust_routes::trust_project),
        )
        .route("/api/projects/trust-all", post(trust_routes::trust_all))
        // Data features (data.md §1–§2: usage, transcripts, CLAUDE.md editor) and preflight.
        .merge(crate::usage::routes().merge(crate::preflight::routes()))
        // The transcript viewer (issue 21): its API, its pages and its live socket.
        .merge(crate::transcript::routes::routes().merge(crate::transcript::page::routes()))
        .route(
            "/ws/transcript/{name}/{session}",
            get(crate::transcript::socket::stream),
        )
        .route("/api/widget", get(status_routes::widget))
        .route("/api/login-status", get(status_routes::login_status))
        .route("/api/doctor", get(crate::doctor::api_doctor))
        .route("/api/readiness", get(crate::readiness::get_readiness))
        .route("/api/readiness/recheck", post(crate::readiness::recheck))
        .api_and_v1("/instances/{id}/resume", post(instances::resume))
        // Sessions, background agents and adoption (http-api.md §6, bridges.md §9.6).
        .api_and_v1("/sessions", get(sessions_routes::external))
        .api_and_v1("/sessions/tracked", get(sessions_routes::tracked))
        .route("/api/sessions/all", get(sessions_routes::all))
        .api_and_v1("/sessions/adoptable", get(sessions_routes::adoptable))
        .api_and_v1(
            "/agents",
            get(sessions_routes::list_agents).post(sessions_routes::dispatch),
        )
        .api_and_v1("/agents/{job_id}", delete(sessions_routes::stop_agent))
        .api_and_v1(
            "/agents/{job_id}/resume",
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
        .merge(crate::login_shepherd::routes())
        // Claude Code's configuration (config-write.md), 404 unless `config_write.enabled`.
        .merge(crate::config_write::routes())
        // Notifications (notifications.md §6): delivery log, test, per-project mute.
        .merge(crate::notify::routes::router())
        .route("/pkg/{*path}", get(assets::serve))
        .route("/favicon.svg", get(assets::favicon_svg))
        .route("/favicon.ico", get(assets::favicon_ico));
    // The OpenAPI document and its page (http-api.md §3.3), only when asked for.
    let api = if state.config().api.openapi_enabled {
        api.route("/openapi.json", get(crate::openapi::json)).route(
            "/docs",
            get(crate::openapi::page).with_state(state.root_path().to_owned()),
        )
    } else {
        api
    };
    let api = api
        .fallback(not_found)
        .layer(axum::middleware::from_fn(crate::http::mark_no_store))
        .layer(axum::middleware::from_fn(refuse_head))
        .layer(gzip_large())
        .layer(DefaultBodyLimit::max(headers::BODY_LIMIT_BYTES));
    let root = state.root_path().to_owned();
    let router = if root.is_empty() {
        api
    } else {
        Router::new().nest(&root, api)
    };
    router.with_state(state)
}

/// The `/api/v1` aliases (http-api.md §10): the same handler under `/api<path>` and
/// `/api/v1<path>`. The compat routes use it, except `GET /api/v1/projects`, routed by hand
/// because `/api/projects` also takes `POST`; every other route is `/api` only.
trait ApiAndV1 {
    #[must_use]
    fn api_and_v1(self, path: &str, handler: MethodRouter<AppState>) -> Self;
}

impl ApiAndV1 for Router<AppState> {
    fn api_and_v1(self, path: &str, handler: MethodRouter<AppState>) -> Self {
        self.route(&format!("/api{path}"), handler.clone())
            .route(&format!("/api/v1{path}"), handler)
    }
}

/// An unknown path: JSON for scripts, and for a browser (`Accept: text/html`) outside
/// `/api` and `/ws` a small page with the way back, as 1.3.2 answers (issue 18).
async fn not_found(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let root = state.root_path();
    let rel = request.uri().path().strip_prefix(root).unwrap_or("");
    let api = ["/api", "/ws"]
        .iter()
        .any(|p| rel == *p || rel.starts_with(&format!("{p}/")));
    if !wants_html || api || rel == "/metrics" {
        return ApiError::not_found("Not Found").into_response();
    }
    let home = if root.is_empty() { "/" } else { root };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Not found · Clauster</title></head><body><main>\
         <h1>Not found</h1><p>This page does not exist.</p>\
         <p><a href=\"{home}\">Back to the dashboard</a></p></main></body></html>"
    );
    (axum::http::StatusCode::NOT_FOUND, Html(page)).into_response()
}

/// `HEAD` is not served: every page and API route is `GET`-only, and 1.3.2 answers 405
/// (issue 18). With the UI off the gate's 404 comes first.
async fn refuse_head(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if request.method() == axum::http::Method::HEAD {
        let mut response = ApiError::new(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    next.run(request).await
}

/// `/healthz`: an unauthenticated caller while auth is on sees `{"status": "ok"}` only.
async fn healthz(State(state): State<AppState>, caller: Option<Extension<Caller>>) -> Response {
    if caller.is_some_and(|Extension(caller)| !caller.sees_health_detail()) {
        return Json(Health {
            status: "ok".into(),
            detail: None,
        })
        .into_response();
    }
    // Never waits on the engine (issue 14): the count and the store flag are published
    // values.
    let running = state.engine().instances_running();
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
            instances_running: running,
            store_ok: state.engine().store_ok(),
            engine_ready: state.engine().is_ready(),
        }),
    };
    Json(health).into_response()
}

async fn list_projects(State(state): State<AppState>) -> Result<Response, ApiError> {
    let projects = projects_blocking(state).await?;
    Ok(Json(projects).into_response())
}

/// The dashboard's URL parameters: the list's order and search (ui.md §3).
#[derive(Debug, Default, serde::Deserialize)]
pub struct DashboardQuery {
    sort: Option<String>,
    q: Option<String>,
}

/// Longest search text taken from the URL; a longer one is cut (it can only match nothing).
const MAX_QUERY_CHARS: usize = 200;

/// The list view a URL asks for: an unknown sort means the default, the search is cut to
/// [`MAX_QUERY_CHARS`].
fn list_view(query: DashboardQuery) -> clauster_wire::ListView {
    let sort = match query.sort.as_deref() {
        Some(sort @ ("name" | "last_used" | "cost")) => sort.to_owned(),
        _ => String::new(),
    };
    clauster_wire::ListView {
        sort,
        q: query
            .q
            .unwrap_or_default()
            .chars()
            .take(MAX_QUERY_CHARS)
            .collect(),
        meta: std::collections::BTreeMap::new(),
    }
}

async fn dashboard(
    State(state): State<AppState>,
    Extension(nonce): Extension<CspNonce>,
    // A malformed query shows the default view rather than an error page.
    query: Result<axum::extract::Query<DashboardQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let context = state.context().clone();
    let instances = state.engine().list().await?;
    let mut view = list_view(query.map(|q| q.0).unwrap_or_default());
    // A sort by use or cost needs the keys now, so the first paint is already in order.
    if matches!(view.sort.as_str(), "last_used" | "cost") {
        view.meta = crate::usage::routes::sortmeta_body(&state)
            .await
            .unwrap_or_default();
    }
    let projects = projects_blocking(state).await?;
    let html = page::render(
        &Bootstrap {
            context,
            projects,
            instances,
            view,
        },
        &nonce.0,
    );
    Ok(Html(html).into_response())
}

/// Bodies smaller than this go out as they are: the gzip header would outweigh the gain.
const GZIP_MIN_BYTES: u16 = 1024;

/// gzip for HTML and JSON answers (success or client error) over 1 KiB when the client accepts
/// it, as 1.3.2 does (issue 18). The bundle's assets carry their own pre-compressed form,
/// which the layer leaves alone (it never re-encodes a response that has a
/// `Content-Encoding`); sockets are untouched.
fn gzip_large() -> CompressionLayer<impl Predicate> {
    let html_or_json = |status: StatusCode, _: Version, headers: &HeaderMap, _: &Extensions| {
        (status.is_success() || status.is_client_error())
            && headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.starts_with("text/html") || t.starts_with("application/json"))
    };
    CompressionLayer::new().compress_when(SizeAbove::new(GZIP_MIN_BYTES).and(html_or_json))
}
