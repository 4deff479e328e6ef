//! What the WebSocket handlers share: close codes, a close with its reason, a JSON frame.

use axum::extract::ws::{CloseFrame, Message, WebSocket};

/// The stream ended as it should (the bridge ended, the clone finished).
pub(crate) const CLOSE_NORMAL: u16 = 1000;
/// The request cannot be served (unknown instance, feature off, signed out).
pub(crate) const CLOSE_POLICY: u16 = 1008;
/// The server failed (a file it could not read).
pub(crate) const CLOSE_INTERNAL: u16 = 1011;

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
