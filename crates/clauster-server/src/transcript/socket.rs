//! `/ws/transcript/{name}/{session}?offset=N` (issue 21): the turns a live session adds,
//! pushed as they are written. The rules of the other sockets hold: authentication and Origin
//! at the handshake (the gate), 1008 `logged out` / `authentication expired` when the cookie
//! session ends, pings every 20 s.
//!
//! Frames are [`TranscriptFrame`]s: `turns` (new or grown turns, upserted by `index`) and
//! `reset` (the file shrank or was replaced). A change is noticed through the usage service's
//! watcher on the transcript roots — one watcher for every viewer, so a viewer holds no
//! descriptor of its own — with a 1 s re-check as the fallback.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use clauster_wire::TranscriptFrame;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::routes::{Opened, context, open};
use super::{Indexed, RenderContext};
use crate::auth::SocketSession;
use crate::error::ApiError;
use crate::http::ws::{CLOSE_INTERNAL, CLOSE_POLICY, KeepAlive, close};
use crate::state::AppState;

/// The re-check when no notification arrives.
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Default, Deserialize)]
pub struct SocketQuery {
    offset: Option<String>,
    agent: Option<String>,
}

/// What the viewer asked for.
#[derive(Debug)]
struct SocketParams {
    /// The `offset` of the page the viewer shows; absent means "from now on".
    offset: Option<u64>,
    agent: Option<String>,
}

impl SocketParams {
    /// As the tail reads its query: a negative offset is 0, one that is no integer is 422.
    fn parse(query: SocketQuery) -> Result<Self, ApiError> {
        let offset = match query.offset.as_deref().map(str::trim) {
            None | Some("") => None,
            given => Some(u64::try_from(super::routes::integer(given, "offset", 0)?).unwrap_or(0)),
        };
        Ok(Self {
            offset,
            agent: query.agent,
        })
    }
}

/// `GET /ws/transcript/{name}/{session}`; a bad query is refused before the upgrade.
pub async fn stream(
    State(state): State<AppState>,
    Path((name, session)): Path<(String, String)>,
    query: Result<Query<SocketQuery>, axum::extract::rejection::QueryRejection>,
    session_end: SocketSession,
    upgrade: WebSocketUpgrade,
) -> Response {
    let params = query
        .map_err(|_| ApiError::invalid("malformed query string", None))
        .and_then(|Query(query)| SocketParams::parse(query));
    match params {
        Ok(params) => {
            upgrade.on_upgrade(move |socket| run(state, name, session, params, socket, session_end))
        }
        Err(err) => axum::response::IntoResponse::into_response(err),
    }
}

/// Where a viewer is: the offset it has seen and the index generation it saw it in.
struct Seen {
    offset: u64,
    generation: Option<u64>,
}

enum Step {
    /// Frames to send; `more` says the budget left turns for an immediate next step.
    Frames {
        frames: Vec<TranscriptFrame>,
        more: bool,
    },
    Nothing,
}

fn step(
    entry: &std::sync::Mutex<Indexed>,
    path: &std::path::Path,
    seen: &mut Seen,
    prices: &clauster_core::usage::PriceTable,
    context: &RenderContext,
) -> std::io::Result<Step> {
    let mut indexed = entry
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    indexed.refresh(path)?;
    let index = indexed.index();
    let mut frames = Vec::new();
    let restarted =
        seen.generation.is_some_and(|g| g != indexed.generation()) || seen.offset > index.fed_len();
    seen.generation = Some(indexed.generation());
    if index.complete_len() == seen.offset && !restarted {
        return Ok(Step::Nothing);
    }
    let file = std::fs::File::open(path)?;
    // Each frame holds at most a page's budget of turns, each read as a page reads it; a
    // viewer that lost its place gets the newest turns that fit, like a first page.
    let batch = if restarted {
        frames.push(TranscriptFrame::Reset);
        indexed.newest_turns(&file, prices, context)?
    } else {
        indexed.turns_after(&file, seen.offset, prices, context)?
    };
    seen.offset = batch.offset;
    if !batch.turns.is_empty() || restarted {
        frames.push(TranscriptFrame::Turns {
            turns: batch.turns,
            offset: seen.offset,
            total: indexed.index().turns().len() as u64,
        });
    }
    Ok(if frames.is_empty() {
        Step::Nothing
    } else {
        Step::Frames {
            frames,
            more: batch.more,
        }
    })
}

async fn run(
    state: AppState,
    name: String,
    session: String,
    params: SocketParams,
    mut socket: WebSocket,
    session_end: SocketSession,
) {
    let session_end = std::pin::pin!(session_end.ended());
    // Subscribe before the first read, so a write in between is not missed.
    let changes = state.usage().subscribe_changes();
    let agent = params.agent.filter(|a| !a.is_empty());
    let opened: Opened = match open(&state, &name, &session, agent.as_deref()).await {
        Ok(opened) => opened,
        Err(err) => {
            let code = if err.status().is_server_error() {
                CLOSE_INTERNAL
            } else {
                CLOSE_POLICY
            };
            close(&mut socket, code, err.detail()).await;
            return;
        }
    };
    let context = Arc::new(context(&state, &opened, &session, agent.as_deref()));
    let prices = Arc::clone(state.usage().prices());
    let path = Arc::new(opened.path.clone());
    let entry = Arc::clone(&opened.entry);
    let seen = if let Some(offset) = params.offset {
        Seen {
            offset,
            generation: None,
        }
    } else if let Some(now) = current(Arc::clone(&entry), Arc::clone(&path)).await {
        // Without an offset the viewer starts from what is there now.
        now
    } else {
        close(&mut socket, CLOSE_INTERNAL, "could not read transcript").await;
        return;
    };
    follow(
        socket,
        session_end,
        changes,
        Arc::clone(&entry),
        path,
        seen,
        prices,
        context,
    )
    .await;
}

/// Where the file is now: its complete length and index generation.
async fn current(
    entry: Arc<std::sync::Mutex<Indexed>>,
    path: Arc<std::path::PathBuf>,
) -> Option<Seen> {
    let now = tokio::task::spawn_blocking(move || {
        let mut indexed = entry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        indexed
            .refresh(&path)
            .map(|_| (indexed.index().complete_len(), indexed.generation()))
    })
    .await;
    if let Ok(Ok((offset, generation))) = now {
        Some(Seen {
            offset,
            generation: Some(generation),
        })
    } else {
        None
    }
}

/// Sends what the file gains until the viewer leaves, its session ends or a read fails for
/// good.
#[allow(
    clippy::too_many_arguments,
    reason = "one private loop and what it owns"
)]
async fn follow(
    mut socket: WebSocket,
    mut session_end: std::pin::Pin<&mut impl std::future::Future<Output = (u16, &'static str)>>,
    mut changes: tokio::sync::broadcast::Receiver<Arc<std::path::Path>>,
    entry: Arc<std::sync::Mutex<Indexed>>,
    path: Arc<std::path::PathBuf>,
    mut seen: Seen,
    prices: Arc<clauster_core::usage::PriceTable>,
    context: Arc<RenderContext>,
) {
    let mut keep_alive = KeepAlive::start();
    let mut check = true;
    let mut watching = true;
    loop {
        if check {
            check = false;
            let (entry, path, prices, context) = (
                Arc::clone(&entry),
                Arc::clone(&path),
                Arc::clone(&prices),
                Arc::clone(&context),
            );
            let mut moved = std::mem::replace(
                &mut seen,
                Seen {
                    offset: 0,
                    generation: None,
                },
            );
            let joined = tokio::task::spawn_blocking(move || {
                let result = step(&entry, &path, &mut moved, &prices, &context);
                (moved, result)
            })
            .await;
            let Ok((back, result)) = joined else {
                close(&mut socket, CLOSE_INTERNAL, "could not read transcript").await;
                return;
            };
            seen = back;
            match result {
                Ok(Step::Frames { frames, more }) => {
                    // The rest right away, one bounded frame at a time.
                    check = more;
                    for frame in frames {
                        let text = serde_json::to_string(&frame).expect("wire frames serialise");
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(Step::Nothing) => {}
                // Deleted or unreadable for a moment: the next change or poll tries again.
                Err(err) => tracing::debug!("transcript socket read failed: {err}"),
            }
            if check {
                continue;
            }
        }
        tokio::select! {
            change = changes.recv(), if watching => match change {
                Ok(changed) => check = *changed == **path,
                Err(RecvError::Lagged(_)) => check = true,
                // No watcher: the poll alone keeps the view current.
                Err(RecvError::Closed) => watching = false,
            },
            () = tokio::time::sleep(POLL) => check = true,
            () = keep_alive.due() => {
                if !keep_alive.ping(&mut socket).await {
                    return;
                }
            }
            (code, reason) = &mut session_end => {
                close(&mut socket, code, reason).await;
                return;
            }
            incoming = socket.recv() => {
                if !keep_alive.heard(&mut socket, incoming.as_ref()).await {
                    return;
                }
            }
        }
    }
}
