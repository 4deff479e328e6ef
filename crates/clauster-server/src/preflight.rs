//! Per-project readiness checks (http-api.md §4 "preflight"): `trust`, `git` and
//! `mcp-approval`, served by `GET /api/projects/preflight` and
//! `GET /api/projects/{name}/preflight`, and carried in the `snapshot` and every `project`
//! frame (§8.4) so the cards' readiness pills and the launch popover's MCP gate stay live.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use clauster_wire::{CheckReport, Frame, Project, ProjectPreflight};

use crate::error::ApiError;
use crate::http::ProjectParam;
use crate::project_checks::{check_all, check_project, read_global};
use crate::state::AppState;

/// [`check_all`] off the async workers; a panic degrades to no reports.
pub async fn check_all_off_thread(
    state: &AppState,
    projects: Vec<Project>,
) -> BTreeMap<String, CheckReport> {
    let global = state.claude_global_file().to_path_buf();
    tokio::task::spawn_blocking(move || check_all(&global, &projects))
        .await
        .unwrap_or_default()
}

/// The `project` frame of `project`, its preflight freshly computed.
pub async fn project_frame(state: &AppState, project: Project) -> Frame {
    let global = state.claude_global_file().to_path_buf();
    let checked = project.clone();
    let preflight =
        tokio::task::spawn_blocking(move || check_project(&checked, &read_global(&global)))
            .await
            .ok();
    Frame::Project { project, preflight }
}

/// Publishes the `project` frame of each of `projects`.
pub async fn publish_projects(state: &AppState, projects: Vec<Project>) {
    let reports = check_all_off_thread(state, projects.clone()).await;
    for project in projects {
        let preflight = reports.get(&project.name).cloned();
        state
            .engine()
            .publish(Frame::Project { project, preflight });
    }
}

/// The preflight routes (http-api.md §4), merged into the main router.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/projects/preflight", axum::routing::get(all))
        .route("/api/projects/{name}/preflight", axum::routing::get(one))
}

/// `GET /api/projects/preflight` → `{"<name>": {"ok", "checks"}}`.
pub async fn all(State(state): State<AppState>) -> Result<Response, ApiError> {
    let projects = crate::projects::projects_blocking(state.clone()).await?;
    let reports = check_all_off_thread(&state, projects).await;
    Ok(Json(reports).into_response())
}

/// `GET /api/projects/{name}/preflight` → `{"project", "ok", "checks"}`; 422 for an
/// invalid name, 404 for an unknown one.
pub async fn one(
    State(state): State<AppState>,
    ProjectParam(found): ProjectParam,
) -> Result<Response, ApiError> {
    // The card's facts (trust, MCP) come with the cached list entry.
    let projects = crate::projects::projects_blocking(state.clone()).await?;
    let project = projects
        .into_iter()
        .find(|p| p.name == found.name.as_str())
        .ok_or_else(|| {
            ApiError::not_found(format!("project '{}' not found", found.name.as_str()))
        })?;
    let Frame::Project {
        project,
        preflight: Some(report),
    } = project_frame(&state, project).await
    else {
        return Err(ApiError::internal(
            "the preflight check panicked; see the server log",
        ));
    };
    Ok(Json(ProjectPreflight {
        project: project.name,
        ok: report.ok,
        checks: report.checks,
    })
    .into_response())
}
