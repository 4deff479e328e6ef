//! `/ws/events`: hello, a consistent snapshot, then an `instance` frame for every change.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use support::{Sandbox, fake_claude, start_server};
use tokio_tungstenite::tungstenite::Message;

async fn next_frame<S>(socket: &mut S) -> Value
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a frame within 20 s")
            .expect("the socket stays open")
            .expect("a readable frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("frames are JSON");
        }
    }
}

#[tokio::test]
async fn a_start_is_pushed_to_a_connected_client() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    sandbox.trust(&alpha);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);

    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/events", server.ws))
        .await
        .expect("connect to /ws/events");
    let hello = next_frame(&mut socket).await;
    assert_eq!(
        (hello["type"].clone(), hello["seq"].clone()),
        (json!("hello"), json!(1))
    );
    assert_eq!(hello["context"]["launch_mode"], "standard");
    let snapshot = next_frame(&mut socket).await;
    assert_eq!(
        (snapshot["type"].clone(), snapshot["seq"].clone()),
        (json!("snapshot"), json!(2))
    );
    assert_eq!(snapshot["projects"][0]["name"], "alpha");
    assert_eq!(snapshot["instances"], json!([]));

    let client = reqwest::Client::new();
    let started: Value = client
        .post(format!("{}/api/instances", server.base))
        .json(&json!({"project": "alpha"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = started["instance_id"].clone();

    // Frames for this instance arrive in order, ending with the `running` state.
    let mut statuses = Vec::new();
    let mut last_seq = 2;
    while statuses.last().map(String::as_str) != Some("running") {
        let frame = next_frame(&mut socket).await;
        let seq = frame["seq"].as_u64().unwrap();
        assert!(seq > last_seq, "seq must increase: {frame}");
        last_seq = seq;
        if frame["type"] == "instance" && frame["instance"]["instance_id"] == id {
            statuses.push(frame["instance"]["status"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        statuses.first().map(String::as_str),
        Some("starting"),
        "{statuses:?}"
    );
}
