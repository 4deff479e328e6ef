//! The viewer's pages, rendered on the server (issue 21 §4): `/p/{project}/transcripts` (the
//! project's conversations), `/p/{project}/s/{session}` (one conversation, the newest turns
//! at the bottom) and `/p/{project}/s/{session}/agents/{agent}` (a subagent's run). They work
//! without script: "older turns", search, collapsed tool calls and "show all" are links,
//! forms and `<details>`. `transcript.js` (a small module, no wasm) adds the live socket and
//! loads older turns and full outputs in place. Deep links survive a reload because the
//! server renders them from the URL alone.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use clauster_core::transcript::Order;

use super::html::escape;
use super::routes::{PageParams, context, live_sessions, open};
use crate::assets::BUNDLE_VERSION;
use crate::error::ApiError;
use crate::http::CspNonce;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/p/{name}/transcripts", get(list))
        .route("/p/{name}/s/{session}", get(session))
        .route("/p/{name}/s/{session}/agents/{agent}", get(agent))
}

/// The document around `body`. Every `<script>` carries the response's CSP nonce.
fn document(state: &AppState, nonce: &str, title: &str, body: &str) -> String {
    let root = state.root_path();
    let v = BUNDLE_VERSION;
    let mut html = crate::page::document_start(root, nonce, title);
    // Writing into a String cannot fail.
    let _ = write!(
        html,
        "<link rel=\"stylesheet\" href=\"{root}/pkg/transcript.css?v={v}\">\
         <script type=\"module\" nonce=\"{nonce}\" src=\"{root}/pkg/transcript.js?v={v}\"></script>\
         </head><body class=\"tx\">{body}</body></html>"
    );
    html
}

fn bar(state: &AppState, project: &str, extra: &str) -> String {
    let root = state.root_path();
    format!(
        "<nav class=\"tx-bar\"><a href=\"{root}/\">\u{2190} Clauster</a><span>/</span>\
         <a href=\"{root}/p/{p}/transcripts\">{p}</a>{extra}</nav>",
        p = escape(project)
    )
}

fn error_page(state: &AppState, nonce: &str, err: &ApiError) -> Response {
    let root = state.root_path();
    let body = format!(
        "<main class=\"tx-main\"><h1>{}</h1><p><a href=\"{root}/\">Back to the dashboard</a></p></main>",
        escape(err.detail())
    );
    let status = err.status();
    (status, Html(document(state, nonce, "Transcript", &body))).into_response()
}

async fn list(
    State(state): State<AppState>,
    Extension(nonce): Extension<CspNonce>,
    Path(name): Path<String>,
) -> Response {
    match list_body(&state, &name).await {
        Ok((project, body)) => Html(document(
            &state,
            &nonce.0,
            &format!("Conversations · {project}"),
            &body,
        ))
        .into_response(),
        Err(err) => error_page(&state, &nonce.0, &err),
    }
}

async fn list_body(state: &AppState, name: &str) -> Result<(String, String), ApiError> {
    let sessions = crate::usage::session_list(state, name).await?;
    let project = sessions.project.clone();
    let root = state.root_path();
    let mut body = bar(state, &project, "");
    let _ = write!(
        body,
        "<main class=\"tx-main\"><h1 class=\"tx-title\">Conversations in {}</h1>",
        escape(&project)
    );
    if sessions.sessions.is_empty() {
        body.push_str("<p class=\"tx-empty\" data-test=\"transcript-empty\">No transcripts for this project yet.</p>");
    } else {
        body.push_str("<ul class=\"tx-list\">");
        for s in &sessions.sessions {
            let title = s.first_prompt.as_deref().unwrap_or("(no prompt)");
            let _ = write!(
                body,
                "<li data-test=\"transcript-session\" data-session=\"{id}\"><a href=\"{root}/p/{p}/s/{id}\">{title}</a>\
                 <span class=\"tx-meta\">{live}{sub}{turns} turns · {when}{cost}{models}</span>",
                id = escape(&s.session),
                p = escape(&project),
                title = escape(title),
                live = if s.live {
                    "<span class=\"live-badge\">live</span> "
                } else {
                    ""
                },
                sub = if s.is_subagent { "subagent · " } else { "" },
                turns = s.turn_count,
                when = escape(
                    s.last_ts
                        .as_deref()
                        .unwrap_or(&s.mtime)
                        .get(..16)
                        .unwrap_or("")
                )
                .replace('T', " "),
                cost = s
                    .cost_usd
                    .map(|c| format!(" · ${c:.2}"))
                    .unwrap_or_default(),
                models = if s.models.is_empty() {
                    String::new()
                } else {
                    format!(" · {}", escape(&s.models.join(", ")))
                },
            );
            if !s.subagents.is_empty() {
                body.push_str("<span class=\"tx-agents\">subagents: ");
                for (k, agent) in s.subagents.iter().enumerate() {
                    let _ = write!(
                        body,
                        "{}<a href=\"{root}/p/{p}/s/{id}/agents/{a}\">{a}</a>",
                        if k > 0 { ", " } else { "" },
                        p = escape(&project),
                        id = escape(&s.session),
                        a = escape(agent)
                    );
                }
                body.push_str("</span>");
            }
            body.push_str("</li>");
        }
        body.push_str("</ul>");
    }
    body.push_str("</main>");
    Ok((project, body))
}

async fn session(
    State(state): State<AppState>,
    Extension(nonce): Extension<CspNonce>,
    Path((name, session)): Path<(String, String)>,
    Query(params): Query<PageParams>,
) -> Response {
    match conversation(&state, &name, &session, None, &params).await {
        Ok((title, body)) => Html(document(&state, &nonce.0, &title, &body)).into_response(),
        Err(err) => error_page(&state, &nonce.0, &err),
    }
}

async fn agent(
    State(state): State<AppState>,
    Extension(nonce): Extension<CspNonce>,
    Path((name, session, agent)): Path<(String, String, String)>,
    Query(params): Query<PageParams>,
) -> Response {
    match conversation(&state, &name, &session, Some(&agent), &params).await {
        Ok((title, body)) => Html(document(&state, &nonce.0, &title, &body)).into_response(),
        Err(err) => error_page(&state, &nonce.0, &err),
    }
}

/// A query string for this page with `cursor` (and the search kept).
fn href(cursor: u64, q: Option<&str>) -> String {
    let mut out = format!("?cursor={cursor}");
    if let Some(q) = q {
        out.push_str("&q=");
        out.push_str(&crate::control_client::encode_segment(q));
    }
    out
}

async fn conversation(
    state: &AppState,
    name: &str,
    session: &str,
    agent: Option<&str>,
    params: &PageParams,
) -> Result<(String, String), ApiError> {
    let mut query = params.query()?;
    // The page reads top to bottom, oldest to newest: it asks for the newest turns (or the
    // next older ones) and shows them in reverse.
    query.order = Order::Desc;
    let q = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    let first_page = query.cursor == 0 && q.is_none();
    let opened = open(state, name, session, agent).await?;
    let live = agent.is_none() && live_sessions(state, &opened.discovered).contains(session);
    let render = context(state, &opened, session, agent);
    let (entry, path, prices) = (
        Arc::clone(&opened.entry),
        opened.path.clone(),
        Arc::clone(state.usage().prices()),
    );
    let (page, title) = tokio::task::spawn_blocking(move || {
        let page = super::build_page(&entry, &path, &query, &prices, &render)?;
        let title = super::title(&entry, &path, &prices)?;
        Ok::<_, std::io::Error>((page, title))
    })
    .await
    .map_err(|_| ApiError::internal("the transcript page panicked; see the server log"))?
    .map_err(|err| {
        tracing::warn!("transcript page failed: {err}");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "could not read transcript")
    })?;

    let root = state.root_path();
    let project = opened.project.as_str();
    let title = match agent {
        Some(agent) => format!("Subagent {agent}"),
        None => title.unwrap_or_else(|| "Conversation".to_owned()),
    };
    let crumbs = match agent {
        Some(_) => format!(
            "<span>/</span><a href=\"{root}/p/{p}/s/{s}\">conversation</a>",
            p = escape(project),
            s = escape(session)
        ),
        None => String::new(),
    };
    let mut body = bar(state, project, &crumbs);
    let ws = format!(
        "{root}/ws/transcript/{}/{}{}",
        escape(project),
        escape(session),
        agent
            .map(|a| format!("?agent={}", escape(a)))
            .unwrap_or_default()
    );
    let _ = write!(
        body,
        "<main class=\"tx-main\" id=\"transcript\" data-test=\"transcript\" data-root=\"{root}\" \
         data-project=\"{p}\" data-session=\"{s}\" data-agent=\"{a}\" data-offset=\"{offset}\" \
         data-follow=\"{follow}\" data-ws=\"{ws}\" data-q=\"{qv}\">\
         <h1 class=\"tx-title\">{t}</h1><p class=\"tx-meta\"><span id=\"tx-total\">{total}</span> {noun}{live}</p>",
        p = escape(project),
        s = escape(session),
        a = escape(agent.unwrap_or("")),
        offset = page.offset,
        follow = u8::from(first_page),
        qv = escape(q.as_deref().unwrap_or("")),
        t = escape(&title),
        total = page.total,
        noun = if q.is_some() {
            "matching turns"
        } else {
            "turns"
        },
        live = if live {
            " · <span class=\"live-badge\" data-test=\"live-badge\">live</span>"
        } else {
            ""
        },
    );
    controls(&mut body, q.as_deref(), &page);
    body.push_str("<div id=\"turns\">");
    for turn in page.turns.iter().rev() {
        body.push_str(&turn.html);
    }
    body.push_str("</div>");
    if page.turns.is_empty() {
        body.push_str("<p class=\"tx-empty\">No turns to show.</p>");
    }
    if query_newer(params) {
        let _ = write!(body, "<a class=\"tx-newer\" href=\"?\">Newest turns</a>");
    }
    body.push_str("<p class=\"tx-status\" id=\"tx-status\" aria-live=\"polite\"></p></main>");
    Ok((title, body))
}

/// The search form, what was skipped, and the link to older turns.
fn controls(body: &mut String, q: Option<&str>, page: &super::Page) {
    let _ = write!(
        body,
        "<form class=\"tx-search\" method=\"get\" role=\"search\"><input type=\"search\" name=\"q\" \
         value=\"{}\" placeholder=\"Search this conversation\" aria-label=\"Search this conversation\">\
         <button type=\"submit\">Search</button>{}</form>",
        escape(q.unwrap_or("")),
        if q.is_some() {
            "<a href=\"?\">clear</a>"
        } else {
            ""
        }
    );
    problems(body, &page.problems);
    if let Some(next) = page.next_cursor {
        let _ = write!(
            body,
            "<a class=\"tx-older\" data-test=\"older\" href=\"{}\" data-cursor=\"{next}\">Older turns</a>",
            escape(&href(next, q))
        );
    }
}

fn query_newer(params: &PageParams) -> bool {
    params
        .cursor
        .as_deref()
        .and_then(|c| c.trim().parse::<i64>().ok())
        .is_some_and(|c| c > 0)
}

fn problems(body: &mut String, problems: &clauster_wire::TranscriptProblems) {
    let mut notes = Vec::new();
    if problems.unreadable_lines > 0 {
        let lines: Vec<String> = problems
            .first_unreadable
            .iter()
            .map(u64::to_string)
            .collect();
        let more = if problems.unreadable_lines > problems.first_unreadable.len() as u64 {
            ", …"
        } else {
            ""
        };
        notes.push(format!(
            "{} unreadable line{} skipped (line {}{more})",
            problems.unreadable_lines,
            plural(problems.unreadable_lines),
            lines.join(", ")
        ));
    }
    if problems.oversized_lines > 0 {
        notes.push(format!(
            "{} line{} over 16 MiB skipped",
            problems.oversized_lines,
            plural(problems.oversized_lines)
        ));
    }
    if problems.skipped_records > 0 {
        notes.push(format!(
            "{} other record{} (summaries, snapshots, unknown types) not shown",
            problems.skipped_records,
            plural(problems.skipped_records)
        ));
    }
    if problems.partial_last_line {
        notes.push("the last line is incomplete (still being written, or cut off)".into());
    }
    if !notes.is_empty() {
        let _ = write!(
            body,
            "<p class=\"tx-problems\" data-test=\"problems\">{}</p>",
            escape(&notes.join(" · "))
        );
    }
}

/// The `s` of a count's plural.
fn plural(count: u64) -> &'static str {
    if count == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_page_link_keeps_the_search_percent_encoded() {
        assert_eq!(super::href(7, None), "?cursor=7");
        assert_eq!(
            super::href(7, Some("a b&c=d/é~")),
            "?cursor=7&q=a%20b%26c%3Dd%2F%C3%A9~"
        );
    }
}
