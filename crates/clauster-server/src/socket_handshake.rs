//! The handshake of the stream sockets keyed by one path segment (`/ws/bridge-log/{id}`,
//! `/ws/pty-screen/{id}`, `/ws/clone-progress/{job_id}`): one extractor, one upgrade.

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::auth::SocketSession;
use crate::state::AppState;

/// What a socket handler keyed by one path segment (an instance, a clone job) takes from its
/// handshake; its rejections are those of the extractors it is made of, in their order.
pub(crate) struct Handshake {
    state: AppState,
    key: String,
    session: SocketSession,
    upgrade: WebSocketUpgrade,
}

impl FromRequestParts<AppState> for Handshake {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let State(state) = State::<AppState>::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(key) = Path::<String>::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let session = SocketSession::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let upgrade = WebSocketUpgrade::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            state,
            key,
            session,
            upgrade,
        })
    }
}

impl Handshake {
    /// Accepts the upgrade; `serve` then runs the socket with the state, the path segment and
    /// the session.
    pub(crate) fn serve<F, Fut>(self, serve: F) -> Response
    where
        F: FnOnce(AppState, String, WebSocket, SocketSession) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Self {
            state,
            key,
            session,
            upgrade,
        } = self;
        upgrade.on_upgrade(move |socket| serve(state, key, socket, session))
    }
}
