//! The viewer's API (issue 21), drop-in where the Python Clauster 1.3.2 has the route:
//! `GET /api/projects/{name}/transcripts/{session}` (a page), `…/{session}/tail?offset=N`,
//! and the additive `…/{session}/turns/{index}/items/{item}` ("show all").

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clauster_core::names::ProjectName;
use clauster_core::transcript::{DEFAULT_LIMIT, Order};
use clauster_wire::{TranscriptPage, TranscriptTail};
use serde::Deserialize;

use super::{Indexed, PageQuery, RenderContext};
use crate::error::ApiError;
use crate::projects::Discovered;
use crate::state::AppState;
pub(crate) use crate::usage::live_sessions;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/projects/{name}/transcripts/{session}", get(page))
        .route("/api/projects/{name}/transcripts/{session}/tail", get(tail))
        .route(
            "/api/projects/{name}/transcripts/{session}/turns/{index}/items/{item}",
            get(item),
        )
}

pub(crate) const NOT_FOUND: &str = "transcript not found";
const UNREADABLE: &str = "could not read transcript";

/// A session file the project owns, opened for reading.
pub(crate) struct Opened {
    pub project: ProjectName,
    pub discovered: Discovered,
    pub path: PathBuf,
    pub entry: Arc<Mutex<Indexed>>,
}

fn unreadable(err: &impl std::fmt::Display) -> ApiError {
    // The log has the path; the answer never does.
    tracing::warn!("transcript read failed: {err}");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, UNREADABLE)
}

/// Resolves `name`/`session` (and a subagent `agent`) to a file discovery attributes to the
/// project: 422 for an invalid project name, 404 for anything not found (or reading turned
/// off by `usage.mode: off`), 503 when the transcripts directory cannot be read.
pub(crate) async fn open(
    state: &AppState,
    name: &str,
    session: &str,
    agent: Option<&str>,
) -> Result<Opened, ApiError> {
    let (project, found) = crate::usage::lookup(state, name).await?;
    let Some((discovered, all)) = found.filter(|_| state.usage().enabled()) else {
        return Err(ApiError::not_found(NOT_FOUND));
    };
    let service = state.usage().clone();
    let (session, agent) = (session.to_owned(), agent.map(str::to_owned));
    let located = {
        let discovered = discovered.clone();
        tokio::task::spawn_blocking(move || {
            crate::usage::transcripts::locate(
                service.roots(),
                &discovered,
                &all,
                &session,
                agent.as_deref(),
            )
        })
        .await
        .map_err(|_| ApiError::internal("the transcript lookup panicked; see the server log"))?
    };
    let path = located
        .map_err(|err| unreadable(&err))?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let entry = state.transcript_indexes().entry(&path);
    Ok(Opened {
        project,
        discovered,
        path,
        entry,
    })
}

pub(crate) fn context(
    state: &AppState,
    opened: &Opened,
    session: &str,
    agent: Option<&str>,
) -> RenderContext {
    RenderContext {
        root_path: state.root_path().to_owned(),
        project: opened.project.as_str().to_owned(),
        session: session.to_owned(),
        agent: agent.map(str::to_owned),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    pub cursor: Option<String>,
    pub limit: Option<String>,
    pub order: Option<String>,
    pub q: Option<String>,
    pub agent: Option<String>,
}

/// An integer query value; missing or blank is `default`.
pub(super) fn integer(value: Option<&str>, name: &str, default: i64) -> Result<i64, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::invalid(format!("{name} must be an integer"), Some(name))),
    }
}

impl PageParams {
    pub(crate) fn query(&self) -> Result<PageQuery, ApiError> {
        let cursor = integer(self.cursor.as_deref(), "cursor", 0)?.max(0);
        let default = i64::try_from(DEFAULT_LIMIT).unwrap_or(i64::MAX);
        let limit = integer(self.limit.as_deref(), "limit", default)?;
        Ok(PageQuery {
            cursor: usize::try_from(cursor).unwrap_or(usize::MAX),
            limit: usize::try_from(limit.max(1)).unwrap_or(usize::MAX),
            order: Order::parse(self.order.as_deref()),
            q: self.q.clone(),
        })
    }
}

/// Builds a page of an opened file off the async workers.
pub(crate) async fn load_page(
    state: &AppState,
    opened: &Opened,
    query: PageQuery,
    context: RenderContext,
) -> Result<super::Page, ApiError> {
    let (entry, path, prices) = (
        Arc::clone(&opened.entry),
        opened.path.clone(),
        Arc::clone(state.usage().prices()),
    );
    tokio::task::spawn_blocking(move || super::build_page(&entry, &path, &query, &prices, &context))
        .await
        .map_err(|_| ApiError::internal("the transcript page panicked; see the server log"))?
        .map_err(|err| unreadable(&err))
}

async fn page(
    State(state): State<AppState>,
    Path((name, session)): Path<(String, String)>,
    Query(params): Query<PageParams>,
) -> Result<Response, ApiError> {
    let query = params.query()?;
    let order = query.order;
    let agent = params.agent.as_deref().filter(|a| !a.is_empty());
    let opened = open(&state, &name, &session, agent).await?;
    let live = agent.is_none() && live_sessions(&state, &opened.discovered).contains(&session);
    let context = context(&state, &opened, &session, agent);
    let page = load_page(&state, &opened, query, context).await?;
    Ok(Json(TranscriptPage {
        project: opened.project.into_string(),
        session,
        turns: page.turns,
        next_cursor: page.next_cursor,
        total: page.total,
        agent: agent.map(str::to_owned),
        order: match order {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
        .to_owned(),
        offset: page.offset,
        live,
        problems: page.problems,
    })
    .into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct TailParams {
    offset: Option<String>,
    agent: Option<String>,
}

async fn tail(
    State(state): State<AppState>,
    Path((name, session)): Path<(String, String)>,
    Query(params): Query<TailParams>,
) -> Result<Response, ApiError> {
    // A negative offset cannot seek before the file: it reads as 0, not as a reset (1.3.2).
    let offset = integer(params.offset.as_deref(), "offset", 0)?.max(0);
    let agent = params.agent.as_deref().filter(|a| !a.is_empty());
    let opened = open(&state, &name, &session, agent).await?;
    let live = agent.is_none() && live_sessions(&state, &opened.discovered).contains(&session);
    let context = context(&state, &opened, &session, agent);
    let (entry, path, prices) = (
        Arc::clone(&opened.entry),
        opened.path.clone(),
        Arc::clone(state.usage().prices()),
    );
    let offset = u64::try_from(offset).unwrap_or(0);
    let tail = tokio::task::spawn_blocking(move || {
        super::build_tail(&entry, &path, offset, &prices, &context)
    })
    .await
    .map_err(|_| ApiError::internal("the transcript tail panicked; see the server log"))?
    .map_err(|err| unreadable(&err))?;
    Ok(Json(TranscriptTail {
        project: opened.project.into_string(),
        session,
        turns: tail.turns,
        offset: tail.offset,
        reset: tail.reset,
        live,
        total: tail.total,
        more: tail.more,
    })
    .into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct ItemParams {
    agent: Option<String>,
}

/// "show all": the whole (redacted) text of one item of one turn, as plain text.
async fn item(
    State(state): State<AppState>,
    Path((name, session, index, item)): Path<(String, String, String, String)>,
    Query(params): Query<ItemParams>,
) -> Result<Response, ApiError> {
    let agent = params.agent.as_deref().filter(|a| !a.is_empty());
    let opened = open(&state, &name, &session, agent).await?;
    let position: usize = index
        .parse()
        .map_err(|_| ApiError::not_found("no such turn"))?;
    let (entry, path, prices) = (
        Arc::clone(&opened.entry),
        opened.path.clone(),
        Arc::clone(state.usage().prices()),
    );
    let text = tokio::task::spawn_blocking(move || {
        super::item_text(&entry, &path, position, &item, &prices)
    })
    .await
    .map_err(|_| ApiError::internal("the transcript read panicked; see the server log"))?
    .map_err(|err| unreadable(&err))?;
    let text = match text {
        super::ItemText::Text(text) => text,
        super::ItemText::NoSuchTurn => return Err(ApiError::not_found("no such turn")),
        super::ItemText::NoSuchItem => {
            return Err(ApiError::not_found("no such item in this turn"));
        }
    };
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}
