//! `GET /api/projects/{name}/usage` (data.md §1.7) and `GET /api/projects/{name}/transcripts`
//! (§1.8).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

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
use crate::state::AppState;

/// The routes of the data features: the rollup, the conversation list and the CLAUDE.md
/// editor (whose PUT body may reach 512 KiB, security.md §7.2).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/projects/sortmeta", get(sortmeta))
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
pub(crate) async fn lookup(
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

/// A 503 with `detail` for transcripts that could not be read; the cause goes to the log.
fn unreadable<E: std::fmt::Display>(detail: &'static str) -> impl FnOnce(E) -> ApiError {
    move |err| {
        tracing::warn!("{err}");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }
}

pub async fn project_usage(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (name, found) = lookup(&state, &name).await?;
    let usage = match found {
        Some((project, all)) => state
            .usage()
            .rollup(&project, &all, false)
            .await
            .map_err(unreadable("could not read usage transcripts"))?,
        // An unknown but valid name answers zeros, as the Python version did.
        None => super::zero_usage(name.as_str(), &state.usage().inner.prices),
    };
    Ok(Json(usage).into_response())
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
                format!(
                    "{field} must be a date like 2026-11-25 (YYYY-MM-DD, UTC), got '{}'",
                    clauster_core::names::echo(text)
                ),
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
            .map_err(unreadable("could not read usage transcripts"))?,
        None => (Vec::new(), state.usage().inner.prices.date().to_owned()),
    };
    let (days, total) = super::days_to_wire(&days);
    Ok(Json(UsageDaily {
        project: name.into_string(),
        since: since.map(clauster_core::usage::format_day),
        until: until.map(clauster_core::usage::format_day),
        days,
        total,
        price_table_date,
    })
    .into_response())
}

pub async fn project_transcripts(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(session_list(&state, &name).await?).into_response())
}

/// The conversation list of data.md §1.8 with the viewer's additions (issue 21): `live` from
/// the agents poll, the rollup's cost and models, the subagent files.
pub(crate) async fn session_list(state: &AppState, name: &str) -> Result<Transcripts, ApiError> {
    let (name, found) = lookup(state, name).await?;
    let sessions = match found {
        Some((project, all)) if state.usage().enabled() => {
            let live = live_sessions(state, &project);
            let costs = state.usage().file_totals(&project, &all).await;
            let service = state.usage().clone();
            tokio::task::spawn_blocking(move || {
                super::transcripts::list(
                    service.roots(),
                    service.transcripts_cache(),
                    &project,
                    &all,
                    &live,
                    &costs,
                )
            })
            .await
            .map_err(|_| ApiError::internal("the transcript list panicked; see the server log"))?
            .map_err(unreadable("could not read transcripts"))?
        }
        _ => Vec::new(),
    };
    Ok(Transcripts {
        project: name.into_string(),
        sessions,
    })
}

/// `GET /api/projects/sortmeta` (http-api.md §4): the sort keys of every project —
/// `last_used` (the newer of its latest instance start and its newest transcript's mtime)
/// and `cost_usd` (the cached rollup, null until computed). Advisory: any error answers `{}`.
pub async fn sortmeta(State(state): State<AppState>) -> Response {
    let body = match sortmeta_body(&state).await {
        Ok(map) => map,
        Err(err) => {
            tracing::warn!("sortmeta: {err:?}");
            BTreeMap::new()
        }
    };
    Json(body).into_response()
}

pub(crate) async fn sortmeta_body(
    state: &AppState,
) -> Result<BTreeMap<String, SortMeta>, ApiError> {
    let all = projects::discover_off_thread(state.usage().projects_root().to_owned()).await?;
    let instances = state.engine().list().await?;
    let costs = state.usage().published();
    let transcripts_root = state.usage().roots().projects.clone();
    let newest = tokio::task::spawn_blocking(move || {
        all.into_iter()
            .map(|p| {
                let dir = transcripts_root
                    .join(clauster_core::slug::slug(&p.canonical.to_string_lossy()));
                let mtime = newest_transcript(&dir);
                (p.name.into_string(), mtime)
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|_| ApiError::internal("sortmeta panicked; see the server log"))?;
    Ok(newest
        .into_iter()
        .map(|(name, mtime)| {
            let started = instances
                .iter()
                .filter(|i| i.project == name)
                .filter_map(|i| i.started_at.as_deref().and_then(crate::time::unix_millis))
                .max();
            let last_used = started
                .into_iter()
                .chain(mtime)
                .max()
                .map(crate::time::rfc3339_from_unix_millis);
            let cost_usd = costs.get(&name).map(|u| u.cost_usd);
            (
                name,
                SortMeta {
                    last_used,
                    cost_usd,
                },
            )
        })
        .collect())
}

use clauster_wire::SortMeta;

/// The newest `*.jsonl` mtime (epoch ms) in a transcript directory's top level, where the
/// conversations are.
fn newest_transcript(dir: &std::path::Path) -> Option<u128> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis())
}

/// Conversation uuids of the live sessions in `project` (its directory or below): the
/// agents poll's sessions (data.md §1.8 `live`).
pub(crate) fn live_sessions(
    state: &AppState,
    project: &Discovered,
) -> std::collections::HashSet<String> {
    let polled = state.engine().sessions();
    polled
        .all
        .iter()
        .filter(|s| {
            let cwd = std::path::Path::new(&s.cwd);
            cwd.starts_with(&project.canonical) || cwd.starts_with(&project.path)
        })
        .map(|s| s.local_uuid.clone())
        .collect()
}
