//! The axum router: every route of http-api.md that exists so far, under `root_path`.

use axum::Extension;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, Version, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use clauster_wire::Bootstrap;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{Predicate, SizeAbove};

use crate::auth::{Auth, login};
use crate::error::ApiError;
use crate::headers::{self, CspNonce};
use crate::projects::projects_blocking;
use crate::state::AppState;
use crate::{
    assets, clone, instances, log_tail, page, projects_create, sessions_routes, status_routes,
    trust_routes,
};

pub fn router(state: AppState, auth: Auth) -> Router {
    // Each feature owns its routes; this table only merges them.
    let api = Router::new()
        .route("/", get(dashboard))
        .merge(login::routes(auth))
        .merge(status_routes::routes())
        .merge(projects_create::routes())
        .merge(instances::routes())
        .merge(trust_routes::routes())
        .merge(sessions_routes::routes())
        .merge(clone::routes())
        .route("/api/projects/{name}/row", get(project_row))
        // Data features (data.md §1–§2: usage, transcripts, CLAUDE.md editor) and preflight.
        .merge(crate::usage::routes())
        .merge(crate::preflight::routes())
        // The transcript viewer (issue 21): its API, its pages and its live socket.
        .merge(crate::transcript::routes::routes())
        .merge(crate::transcript::page::routes())
        .route(
            "/ws/transcript/{name}/{session}",
            get(crate::transcript::socket::stream),
        )
        .route("/ws/pty-screen/{id}", get(crate::pty_screen::stream))
        .route("/ws/bridge-log/{id}", get(log_tail::stream))
        .merge(crate::metrics::router())
        // The ghost-environment reaper (http-api.md §7), gated by `reaper.ui_enabled`.
        .merge(crate::reaper::routes::routes())
        .merge(crate::login_shepherd::routes())
        // Claude Code's configuration (config-write.md), 404 unless `config_write.enabled`.
        .merge(crate::config_write::routes())
        // Notifications (notifications.md §6): delivery log, test, per-project mute.
        .merge(crate::notify::routes::router())
        // Web Push (notifications.md §8): key, devices, and the service worker at the root.
        .merge(crate::notify::push_routes::router())
        // Restart policy and keep-running (bridges.md §7.9, §11.1).
        .merge(crate::policy_routes::router())
        // The settings editor (config.md §8): clauster.yml's allowlisted keys.
        .merge(crate::config_editor::router())
        // The user guide, compiled in (the help drawer links it).
        .merge(crate::guide::routes())
        .merge(assets::routes());
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
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(axum::middleware::from_fn(crate::http::mark_no_store))
        .layer(axum::middleware::from_fn(refuse_head))
        .layer(gzip_large())
        .layer(DefaultBodyLimit::max(headers::BODY_LIMIT_BYTES));
    let root = state.root_path().to_owned();
    let router = if root.is_empty() {
        api
    } else {
        // `<root>/` is where the login and every "back to the dashboard" link go; the nested
        // router answers `<root>` only, so the slash redirects there (release review F2).
        let bare = root.clone();
        let to_root = move |uri: axum::http::Uri| async move {
            let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
            axum::response::Redirect::permanent(&format!("{bare}{query}"))
        };
        Router::new()
            .nest(&root, api)
            .route(&format!("{root}/"), get(to_root))
    };
    // axum adds a 405's `Allow` outside every layer: the whole router is wrapped once more,
    // so every transport (TCP, the control socket) answers without `HEAD` in it.
    let router = router.with_state(state);
    Router::new().fallback_service(tower::ServiceExt::<axum::extract::Request>::map_response(
        router,
        allow_without_head,
    ))
}

/// A known path with another method: the `{"detail"}` body of every error (http-api.md §1),
/// as 1.3.2 answers; axum adds the `Allow` header.
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
    )
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

/// `GET /api/projects/{name}/row`: 1.3.2's HTML fragment of one card. Our cards render in
/// the browser, so it is never served (http-api.md §11), but it answers like every other
/// project route first: 422 for an invalid name, 404 `project '<name>' not found` for an
/// unknown one (issue 18, `test_unknown_project_404_wording_is_consistent`).
async fn project_row(_: crate::http::ProjectParam) -> ApiError {
    ApiError::not_found(
        "project rows are rendered by the dashboard in the browser; this route is not served",
    )
}

/// `HEAD` is not served: every page and API route is `GET`-only, and 1.3.2 answers 405
/// (issue 18), so no other 405's `Allow` lists it. With the UI off the gate's 404 comes first.
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

/// axum lists `HEAD` beside every `GET` in a 405's `Allow`, which [`refuse_head`] refuses.
fn allow_without_head(mut response: Response) -> Response {
    if response.status() != axum::http::StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let Some(listed) = response
        .headers()
        .get(header::ALLOW)
        .and_then(|allow| allow.to_str().ok())
    else {
        return response;
    };
    let kept: Vec<&str> = listed
        .split(',')
        .map(str::trim)
        .filter(|method| !method.eq_ignore_ascii_case("HEAD"))
        .collect();
    if let Ok(value) = HeaderValue::from_str(&kept.join(",")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
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
    let projects = projects_blocking(state.clone()).await?;
    // The snapshot's badge figures, so the first paint has the badges (issue 19).
    let badges = clauster_wire::BadgeData {
        preflight: crate::preflight::check_all_off_thread(&state, projects.clone()).await,
        usage: state.usage().published(),
        metrics: state.metrics().current(),
        readiness: state.readiness().current(),
    };
    let html = page::render(
        &Bootstrap {
            context,
            projects,
            instances,
            view,
            badges,
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
