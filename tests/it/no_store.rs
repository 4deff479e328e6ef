//! `Cache-Control: no-store` is set once, by the router's middleware (issue 17.2), on the
//! answers that carried it when each handler set it: JSON and HTML answers, errors included,
//! on both listeners; not on a plain-text rejection.

use std::time::Duration;

use clauster_server::control_client;

use crate::support::{Sandbox, start_server};

const CASES: [(&str, Option<&str>); 7] = [
    ("/api/projects", Some("no-store")),
    ("/api/v1/projects", Some("no-store")),
    ("/api/projects/preflight", Some("no-store")),
    ("/healthz", Some("no-store")),
    ("/", Some("no-store")),
    ("/api/no/such/route", Some("no-store")),
    // A websocket route asked without an upgrade: axum's plain-text 400, never marked.
    ("/ws/events", None),
];

#[tokio::test]
async fn no_store_marks_the_same_answers_on_both_listeners() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[".git"]);
    let server = start_server(&sandbox, None, &[], &[]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, expected) in CASES {
        let answer = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("an answer over TCP");
        let cache = answer
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            cache.as_deref(),
            expected,
            "TCP {path} ({})",
            answer.status()
        );
    }
    let socket = sandbox.state_dir().join("control.sock");
    let over_socket = tokio::task::spawn_blocking(move || {
        CASES.map(|(path, _)| {
            let answer = control_client::call(&socket, "GET", path, None, Duration::from_mins(1))
                .expect("an answer over the control socket");
            let cache = answer
                .headers
                .get("cache-control")
                .map(|v| v.to_str().unwrap().to_owned());
            (path, answer.status, cache)
        })
    })
    .await
    .unwrap();
    for ((path, status, cache), (_, expected)) in over_socket.into_iter().zip(CASES) {
        assert_eq!(
            cache.as_deref(),
            expected,
            "control socket {path} ({status})"
        );
    }
}
