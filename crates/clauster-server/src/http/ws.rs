//! What the WebSocket handlers share: close codes, a close with its reason, a JSON frame, and
//! the ping keep-alive.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt as _;
use tokio::time::{Instant, Interval};

/// The stream ended as it should (the bridge ended, the clone finished).
pub(crate) const CLOSE_NORMAL: u16 = 1000;
/// The server is shutting down (cli.md §7).
pub(crate) const CLOSE_GOING_AWAY: u16 = 1001;
/// The request cannot be served (unknown instance, feature off, signed out).
pub(crate) const CLOSE_POLICY: u16 = 1008;
/// The server failed (a file it could not read).
pub(crate) const CLOSE_INTERNAL: u16 = 1011;

/// The server's shutdown as the stream sockets see it (cli.md §7): `token` is cancelled when
/// it begins, and every open socket holds a token of `sockets` until its handler returns, so
/// the shutdown can wait for their close frames.
#[derive(Clone, Debug, Default)]
pub struct Stopping {
    token: tokio_util::sync::CancellationToken,
    sockets: tokio_util::task::TaskTracker,
}

impl Stopping {
    /// Counts one socket as open until the returned token is dropped.
    pub(crate) fn open_socket(&self) -> tokio_util::task::task_tracker::TaskTrackerToken {
        self.sockets.token()
    }

    /// Completes once the shutdown has begun.
    pub(crate) async fn stopped(&self) {
        self.token.cancelled().await;
    }

    /// Begins the shutdown: every socket is asked to close.
    pub(crate) fn begin(&self) {
        self.token.cancel();
        self.sockets.close();
    }

    /// Completes when every socket open at [`Stopping::begin`] has closed.
    pub(crate) async fn sockets_closed(&self) {
        self.sockets.wait().await;
    }
}

/// Sends a close frame with `reason`, cut to the 123 bytes a close reason may have.
pub(crate) async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: truncate_reason(reason).into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// Sends `frame` as a JSON text message; false when the client is gone.
pub(crate) async fn send_json<T: serde::Serialize>(socket: &mut WebSocket, frame: &T) -> bool {
    let Ok(text) = serde_json::to_string(frame) else {
        return false;
    };
    socket.send(Message::Text(text.into())).await.is_ok()
}

/// The keep-alive period; a client that leaves two pings unanswered is dropped
/// (http-api.md §8).
const PING: Duration = Duration::from_secs(20);

/// The ping keep-alive of a stream: a ping every 20 s, the first 20 s after the start; a
/// client that leaves two pings unanswered is dropped.
pub(crate) struct KeepAlive {
    ping: Interval,
    unanswered: u32,
}

impl KeepAlive {
    pub(crate) fn start() -> Self {
        Self {
            ping: tokio::time::interval_at(Instant::now() + PING, PING),
            unanswered: 0,
        }
    }

    /// Completes when the next ping is due.
    pub(crate) async fn due(&mut self) {
        self.ping.tick().await;
    }

    /// Sends the ping that is due; false when the client left two unanswered or is gone.
    pub(crate) async fn ping(&mut self, socket: &mut WebSocket) -> bool {
        if self.unanswered >= 2 {
            return false;
        }
        self.unanswered += 1;
        socket.send(Message::Ping(Vec::new().into())).await.is_ok()
    }

    /// Takes what the client sent: false when it closed (answered, see [`client_left`]) or
    /// the connection failed; a pong answers the pings; client text is ignored.
    pub(crate) async fn heard(
        &mut self,
        socket: &mut WebSocket,
        incoming: Option<&Result<Message, axum::Error>>,
    ) -> bool {
        if client_left(socket, incoming).await {
            return false;
        }
        if matches!(incoming, Some(Ok(Message::Pong(_)))) {
            self.unanswered = 0;
        }
        true
    }
}

/// Whether what a socket received says the client is gone: a close frame, an error or the
/// end. A close frame is answered with one first (http-api.md §8): the library queues the
/// answer when it reads the client's, and the flush sends it before the socket is dropped.
pub(crate) async fn client_left(
    socket: &mut WebSocket,
    incoming: Option<&Result<Message, axum::Error>>,
) -> bool {
    if matches!(incoming, Some(Ok(Message::Close(_)))) {
        let _ = socket.flush().await;
        return true;
    }
    matches!(incoming, None | Some(Err(_)))
}

/// A close reason has at most 123 bytes; never split a character.
fn truncate_reason(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate_reason;

    #[test]
    fn reasons_are_cut_at_a_character_boundary() {
        assert_eq!(truncate_reason("bridge ended"), "bridge ended");
        let long = "é".repeat(100);
        let cut = truncate_reason(&long);
        assert_eq!(cut.len(), 122);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
