//! The restart-policy routes (http-api.md §5.3, bridges.md §7.9 and §11.1): a project's
//! policy, and the by-hand bring-up of kept projects (`clauster start --all-kept`).

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clauster_core::names::{ProjectName, echo};
use clauster_wire::PolicyUpdate;

use crate::error::ApiError;
use crate::http::JsonObject;
use crate::state::AppState;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            "/api/projects/{name}/policy",
            get(get_policy).put(put_policy),
        )
        .route("/api/kept/start", post(start_kept))
}

/// A name no project can have is 422 (as for every project route); an unknown one is the
/// engine's 404.
fn valid_name(name: &str) -> Result<ProjectName, ApiError> {
    ProjectName::new(name).map_err(|err| ApiError::invalid(err.to_string(), None))
}

/// `GET /api/projects/{name}/policy` → `{"project", "restart", "keep_running", "wanted"}`.
async fn get_policy(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    let name = valid_name(&name)?;
    Ok(Json(state.engine().policy(name.as_str()).await?).into_response())
}

/// `PUT /api/projects/{name}/policy {"restart"?: "never"|"on-failure", "keep_running"?:
/// bool}` → the policy as stored; 503 when the store refuses the write.
async fn put_policy(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let fields = JsonObject::parse(&body)?;
    if let Some(unknown) = fields
        .fields()
        .keys()
        .find(|key| !matches!(key.as_str(), "restart" | "keep_running"))
    {
        return Err(ApiError::invalid(
            format!(
                "unknown field '{}'; a policy has restart and keep_running",
                echo(unknown)
            ),
            None,
        ));
    }
    let update = PolicyUpdate {
        restart: fields.string("restart")?,
        keep_running: fields.boolean("keep_running")?,
    };
    if update.restart.is_none() && update.keep_running.is_none() {
        return Err(ApiError::invalid(
            "nothing to change: give restart (never or on-failure) and/or keep_running (true or false)",
            None,
        ));
    }
    let name = valid_name(&name)?;
    Ok(Json(state.engine().set_policy(name.as_str(), update).await?).into_response())
}

/// `POST /api/kept/start` → `{"projects": [...]}`: every kept, wanted project without a live
/// bridge is brought up, staggered, through the spawn gate (§11.1).
async fn start_kept(State(state): State<AppState>) -> Result<Response, ApiError> {
    let projects = state.engine().start_kept().await?;
    Ok(Json(serde_json::json!({ "projects": projects })).into_response())
}
