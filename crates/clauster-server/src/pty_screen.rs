//! `/ws/pty-screen/{id}` (http-api.md §8.3, pty.md §6): the keeper's redacted screen frames,
//! relayed as the keeper writes them (a file notification on the screen sidecar; a 0.25 s poll
//! only where notifications are unavailable). Read-only: client text is ignored.
//!
//! The one exception to invariant 6 (only `clauster-wire` types cross the wire): frames are
//! forwarded as the core's `pty_sidecar` type, as read from the keeper's file, and the UI
//! decodes them as `clauster_wire::PtyScreenFrame`. The grid and cursor inside are the wire's
//! own `PtyScreen` and `PtyCursor`; only the envelope is kept equal by hand.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::response::Response;
use clauster_core::pty_sidecar::{FrameState, parse_frame};
use tokio::sync::Notify;

use crate::auth::SocketSession;
use crate::http::ws::{CLOSE_NORMAL, CLOSE_POLICY, client_left, close};
use crate::log_tail::watch;
use crate::socket_handshake::Handshake;
use crate::state::AppState;

/// The fallback poll, and the check for a keeper that died without its final frame.
const POLL: Duration = Duration::from_millis(250);
const LIVENESS_CHECK: Duration = Duration::from_secs(2);

/// `GET /ws/pty-screen/{id}`.
pub async fn stream(handshake: Handshake) -> Response {
    handshake.serve(run)
}

async fn run(state: AppState, reference: String, mut socket: WebSocket, session: SocketSession) {
    // A cookie session's logout or expiry closes the socket (issue 16 §6).
    let mut session_end = std::pin::pin!(session.ended());
    if !state.config().claude.pty_screen_enabled {
        close(
            &mut socket,
            CLOSE_POLICY,
            "the live terminal is off (claude.pty_screen_enabled)",
        )
        .await;
        return;
    }
    let Ok(instance) = state.engine().get(&reference).await else {
        close(&mut socket, CLOSE_POLICY, "no such instance").await;
        return;
    };
    let screen = instance
        .bridge_debug_log_path
        .as_deref()
        .and_then(|log| log.strip_suffix(".log"))
        .map(|stem| PathBuf::from(format!("{stem}.screen.json")));
    let Some(screen) = screen.filter(|_| instance.resume_mode == "pty") else {
        close(&mut socket, CLOSE_POLICY, "not a pty bridge").await;
        return;
    };
    let wake = Arc::new(Notify::new());
    let watcher = watch(&screen, Arc::clone(&wake));
    let wait = if watcher.is_some() {
        LIVENESS_CHECK
    } else {
        POLL
    };
    let mut last_seq = 0_u64;
    let mut quiet_checks = 0_u32;
    loop {
        if let Some(frame) = std::fs::read(&screen).ok().and_then(|b| parse_frame(&b))
            && frame.seq > last_seq
        {
            last_seq = frame.seq;
            quiet_checks = 0;
            let Ok(text) = serde_json::to_string(&frame) else {
                return;
            };
            if socket.send(Message::Text(text.into())).await.is_err() {
                return;
            }
            if frame.state != FrameState::Live {
                close(&mut socket, CLOSE_NORMAL, "bridge ended").await;
                return;
            }
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {
                quiet_checks += 1;
                // A keeper that died without its final frame: end once the bridge is dead.
                if quiet_checks.is_multiple_of(8) || wait == LIVENESS_CHECK {
                    let ended = state
                        .engine()
                        .get(&instance.instance_id)
                        .await
                        .map_or(true, |i| !i.alive);
                    if ended {
                        close(&mut socket, CLOSE_NORMAL, "bridge ended").await;
                        return;
                    }
                }
            }
            (code, reason) = &mut session_end => {
                close(&mut socket, code, reason).await;
                return;
            }
            message = socket.recv() => {
                if client_left(&mut socket, message.as_ref()).await {
                    return;
                }
            }
        }
    }
}
