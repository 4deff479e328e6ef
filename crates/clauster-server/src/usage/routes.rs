//! `GET /api/projects/{name}/usage` (data.md §1.7) and `GET /api/projects/{name}/transcripts`
//! (§1.8).

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clauster_core::names::ProjectName;
use clauster_wire::{Transcripts, UsageDaily};

use crate::claude_md;
use crate::error::ApiError;
use crate::projects::{self, Discovered};
use crate::routes::no_store;
use crate::state::AppState;

/// The routes of the data features: the rollup, the conversation list and the CLAUDE.md
/// editor (whose PUT body may reach 512 KiB, security.md §7.2).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/projects/{name}/usage", get(project_usage))
        .route("/api/projects/{name}/usage/daily", get(project_usage_daily))
        .route("/api/projects/{name}/transcripts", get(project_transcripts))
        .route(
            "/api/projects/{name}/claude-md",
            get(claude_md::read)
                .put(claude_md::write)
                .layer(DefaultBodyLimit::max(claude_md::BODY_LIMIT)),
        )
}

/// The validated name and, when it is a discovered project, that project with the full list.
pub(super) async fn lookup(
    state: &AppState,
    name: &str,
) -> Result<(ProjectName, Option<(Discovered, Arc<Vec<Discovered>>)>), ApiError> {
    let name =
        ProjectName::new(name).map_err(|err| ApiError::invalid(err.to_string(), Some("name")))?;
    let root = state.usage().projects_root().to_owned();
    let all = projects::discover_off_thread(root).await?;
    let found = all.iter().find(|p| p.name == name).cloned();
    Ok((name, found.map(|p| (p, Arc::new(all)))))
}

pub async fn project_usage(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (name, found) = lookup(&state, &name).await?;
    let usage = match found {
        Some((project, all)) => {
            state
                .usage()
                .rollup(&project, &all, false)
                .await
                .map_err(|err| {
                    tracing::warn!("{err}");
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "could not read usage transcripts",
                    )
                })?
        }
        // An unknown but valid name answers zeros, as the Python version did.
        None => super::zero_usage(name.as_str(), &state.usage().inner.prices),
    };
    Ok(no_store(Json(usage).into_response()))
}

/// The query of `GET /api/projects/{name}/usage/daily`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct DailyQuery {
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
}

/// A `YYYY-MM-DD` bound of the per-day usage; a malformed one is 422 naming the field.
fn day_bound(value: Option<&str>, field: &'static str) -> Result<Option<i64>, ApiError> {
    let Some(text) = value.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    clauster_core::usage::parse_day(text)
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid(
                format!("{field} must be a date like 2026-11-25 (YYYY-MM-DD, UTC), got {text:?}"),
                Some(field),
            )
        })
}

/// `GET /api/projects/{name}/usage/daily` (issue 24): the rollup by UTC day, between the
/// optional `since` and `until` dates (inclusive).
pub async fn project_usage_daily(
    State(state): State<AppState>,
    Path(name): Path<String>,
    axum::extract::Query(query): axum::extract::Query<DailyQuery>,
) -> Result<Response, ApiError> {
    let since = day_bound(query.since.as_deref(), "since")?;
    let until = day_bound(query.until.as_deref(), "until")?;
    let (name, found) = lookup(&state, &name).await?;
    let (days, price_table_date) = match found {
        Some((project, all)) => state
            .usage()
            .daily(&project, &all, since, until)
            .await
            .map_err(|err| {
                tracing::warn!("{err}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "could not read usage transcripts",
                )
            })?,
        None => (Vec::new(), state.usage().inner.prices.date().to_owned()),
    };
    let (days, total) = super::days_to_wire(&days);
    Ok(no_store(
        Json(UsageDaily {
            project: name.into_string(),
            since: since.map(clauster_core::usage::format_day),
            until: until.map(clauster_core::usage::format_day),
            days,
            total,
            price_table_date,
        })
        .into_response(),
    ))
}

pub async fn project_transcripts(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (name, found) = lookup(&state, &name).await?;
    let sessions = match found {
        Some((project, all)) if state.usage().enabled() => {
            let service = state.usage().clone();
            tokio::task::spawn_blocking(move || {
                super::transcripts::list(
                    service.roots(),
                    service.transcripts_cache(),
                    &project,
                    &all,
                )
            })
            .await
            .map_err(|_| ApiError::internal("the transcript list panicked; see the server log"))?
            .map_err(|err| {
                tracing::warn!("{err}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "could not read transcripts",
                )
            })?
        }
        _ => Vec::new(),
    };
    Ok(no_store(
        Json(Transcripts {
            project: name.into_string(),
            sessions,
        })
        .into_response(),
    ))
}
