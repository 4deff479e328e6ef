//! A fake of Anthropic's environments API (bridges.md §15) on 127.0.0.1:0, for the reaper's
//! tests: pages with cursors, archive and delete with per-id answers, and a record of every
//! request (method, path, query, headers).
//!
//! It runs on its own thread and runtime, so blocking tests (a CLI run) and async ones can
//! both use it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The raw query string (`""` when none).
    pub query: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
}

/// What the fake serves; change it between calls with [`FakeEnvironmentsApi::with`].
#[derive(Debug)]
pub struct ApiState {
    /// The listed items, in order; archived and deleted ones are removed.
    pub environments: Vec<Value>,
    pub page_size: usize,
    /// When set, every list answers this status and body.
    pub list_answer: Option<(u16, String)>,
    /// Every page names the same `next_page` (a server bug the client must survive).
    pub loop_cursor: bool,
    /// Per-id answer to an archive or a delete (status, body) instead of success.
    pub outcomes: HashMap<String, (u16, String)>,
    pub requests: Vec<Recorded>,
}

pub struct FakeEnvironmentsApi {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    state: Arc<Mutex<ApiState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for FakeEnvironmentsApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl FakeEnvironmentsApi {
    /// Serves `environments`, `page_size` to a page.
    pub fn start(environments: Vec<Value>, page_size: usize) -> Self {
        let state = Arc::new(Mutex::new(ApiState {
            environments,
            page_size,
            list_answer: None,
            loop_cursor: false,
            outcomes: HashMap::new(),
            requests: Vec::new(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake API");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the fake API");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let app = axum::Router::new().fallback(move |request: Request| {
                    let state = Arc::clone(&shared);
                    async move { answer(&state, &request) }
                });
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Self {
            base,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Reads or changes what the fake serves.
    pub fn with<R>(&self, change: impl FnOnce(&mut ApiState) -> R) -> R {
        change(&mut self.state.lock().expect("the fake's state"))
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.with(|s| s.requests.clone())
    }

    /// The requests other than listing: archives and deletes.
    pub fn mutations(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }

    pub fn clear_requests(&self) {
        self.with(|s| s.requests.clear());
    }
}

fn json_response(status: u16, body: String) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).expect("a status"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("a response")
}

fn answer(state: &Mutex<ApiState>, request: &Request) -> Response {
    let mut state = state.lock().expect("the fake's state");
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    state.requests.push(Recorded {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        headers,
    });
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["v1", "environments"]) => list(&state, &query),
        ("POST", ["v1", "environments", id, "archive"]) => act(&mut state, id, "environment"),
        ("DELETE", ["v1", "environments", id]) if query == "force=true" => {
            act(&mut state, id, "environment_deleted")
        }
        _ => json_response(
            404,
            json!({"type": "error", "error": {"type": "not_found_error", "message": "no route"}})
                .to_string(),
        ),
    }
}

fn list(state: &ApiState, query: &str) -> Response {
    if let Some((status, body)) = &state.list_answer {
        return json_response(*status, body.clone());
    }
    let after = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("after_id="))
        .map(str::to_owned);
    let start = match (&after, state.loop_cursor) {
        (_, true) | (None, _) => 0,
        (Some(cursor), false) => state
            .environments
            .iter()
            .position(|e| e["id"].as_str() == Some(cursor.as_str()))
            .map_or(state.environments.len(), |i| i + 1),
    };
    let end = (start + state.page_size).min(state.environments.len());
    let page = &state.environments[start..end];
    let next = if state.loop_cursor {
        Value::String("cursor-that-repeats".into())
    } else if end < state.environments.len() {
        page.last().map_or(Value::Null, |e| e["id"].clone())
    } else {
        Value::Null
    };
    json_response(200, json!({"data": page, "next_page": next}).to_string())
}

fn act(state: &mut ApiState, id: &str, kind: &str) -> Response {
    if let Some((status, body)) = state.outcomes.get(id) {
        return json_response(*status, body.clone());
    }
    let before = state.environments.len();
    state.environments.retain(|e| e["id"].as_str() != Some(id));
    if state.environments.len() == before {
        return json_response(
            404,
            json!({"type": "error", "error": {"type": "not_found_error", "message": "no such environment"}})
                .to_string(),
        );
    }
    json_response(200, json!({"id": id, "type": kind}).to_string()).into_response()
}
