//! A local HTTP double for notification targets (webhook receivers, ntfy, Slack, Discord,
//! Gotify, Apprise JSON) on 127.0.0.1:0: records every request, and answers 200, a chosen
//! failure status, or never, as the test asks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// How the double answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Ok,
    Fail(u16),
    /// Accepts the request and never answers.
    Hang,
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    /// Names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Debug)]
struct State {
    mode: Mode,
    received: Vec<Received>,
}

pub struct Sink {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl Sink {
    pub async fn start(mode: Mode) -> Self {
        let state = Arc::new(Mutex::new(State {
            mode,
            received: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        let app = axum::Router::new().fallback(move |request: Request| {
            let state = Arc::clone(&shared);
            async move { answer(state, request).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the sink");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().expect("sink state").mode = mode;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("sink state").received.clone()
    }

    /// Waits (≤ `within`) until at least `count` requests arrived; returns them all.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the sink got {} of {count} requests: {received:#?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn answer(state: Arc<Mutex<State>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let mode = {
        let mut state = state.lock().expect("sink state");
        state.received.push(Received {
            path: parts.uri.path().to_owned(),
            headers,
            body,
        });
        state.mode
    };
    match mode {
        Mode::Ok => (StatusCode::OK, "ok").into_response(),
        Mode::Fail(status) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "failing on purpose",
        )
            .into_response(),
        Mode::Hang => std::future::pending().await,
    }
}
