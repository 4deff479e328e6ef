//! The `{name}` of a project route as an extractor: the discovered project, or the refusal
//! every project route gives (http-api.md §2).

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use clauster_core::names::{ProjectName, echo};

use crate::error::ApiError;
use crate::projects::{self, Discovered};
use crate::state::AppState;

/// The project a route's `{name}` names, found among the discovered projects.
pub(crate) struct ProjectParam(pub Discovered);

/// Why a route's `{name}` names no project.
#[derive(Debug)]
pub(crate) enum ProjectRejection {
    /// Not a valid project name: 422 with the name rule.
    Invalid(ApiError),
    /// A valid name no directory has: 404 `project '<name>' not found`.
    Unknown(ApiError),
    /// Listing `projects_root` failed: 500.
    Failed(ApiError),
}

impl ProjectRejection {
    /// For the routes where 1.3.2 answers an invalid name as an unknown one (the CLAUDE.md
    /// editor): the 404 in both cases.
    pub(crate) fn invalid_as_unknown(self, raw: &str) -> ApiError {
        match self {
            Self::Invalid(_) => not_found(raw),
            Self::Unknown(error) | Self::Failed(error) => error,
        }
    }
}

impl IntoResponse for ProjectRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Invalid(error) | Self::Unknown(error) | Self::Failed(error) => {
                error.into_response()
            }
        }
    }
}

impl From<ProjectRejection> for ApiError {
    fn from(rejection: ProjectRejection) -> Self {
        match rejection {
            ProjectRejection::Invalid(error)
            | ProjectRejection::Unknown(error)
            | ProjectRejection::Failed(error) => error,
        }
    }
}

fn not_found(raw: &str) -> ApiError {
    ApiError::not_found(format!("project '{}' not found", echo(raw)))
}

impl FromRequestParts<AppState> for ProjectParam {
    type Rejection = ProjectRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let raw = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|Path(params)| params.get("name").cloned())
            .unwrap_or_default();
        find_project(state, &raw).await.map(Self)
    }
}

/// The discovered project called `raw` (from a path, a query or a body), with the refusals
/// of [`ProjectParam`].
pub(crate) async fn find_project(
    state: &AppState,
    raw: &str,
) -> Result<Discovered, ProjectRejection> {
    let name = ProjectName::new(raw)
        .map_err(|err| ProjectRejection::Invalid(ApiError::invalid(err.to_string(), None)))?;
    let root = state.config().projects_root.clone();
    let all = projects::discover_off_thread(root)
        .await
        .map_err(ProjectRejection::Failed)?;
    all.into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ProjectRejection::Unknown(not_found(raw)))
}
