//! `/ws/events`: hello, a consistent snapshot, then an `instance` frame for every change.

use crate::support;

use futures_util::StreamExt;
use serde_json::{Value, json};
use support::{
    Sandbox, ServesApi, fake_claude, next_frame, open_events, serve_claude, serve_fake,
    start_server, trusted_project,
};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_start_is_pushed_to_a_connected_client() {
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    let server = serve_fake(&sandbox, &[]);

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

    let (_, started) = server.start_bridge("alpha").await;
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

/// The next `project` or `project_removed` frame, skipping every other kind.
async fn next_project_frame<S>(socket: &mut S) -> Value
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    support::next_frame_of(socket, &["project", "project_removed"]).await
}

/// ui.md §14, http-api.md §8.4: directories that appear in, leave or are renamed inside
/// `projects_root` behind Clauster's back reach a connected client as `project` /
/// `project_removed` frames, without any request; entries that are not projects send nothing.
#[tokio::test]
async fn directories_added_removed_and_renamed_on_disk_are_pushed() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    let server = start_server(&sandbox, None, &[], &[]);
    let (mut socket, snapshot) = support::open_events(&server).await;
    let names = support::texts_of(&snapshot["projects"], "name");
    assert_eq!(names, ["alpha"]);

    // A repository moved in whole, as after `git clone` elsewhere and `mv`: its card says git.
    let staging = sandbox.dir.path().join("staging");
    std::fs::create_dir_all(staging.join("beta/.git")).unwrap();
    std::fs::rename(staging.join("beta"), sandbox.projects_root().join("beta")).unwrap();
    let added = next_project_frame(&mut socket).await;
    assert_eq!(added["type"], "project", "{added}");
    assert_eq!(added["project"]["name"], "beta");
    assert_eq!(added["project"]["is_git_repo"], true);
    assert_eq!(added["project"]["trust_state"], "untrusted");
    assert_eq!(
        added["project"]["path"],
        sandbox
            .projects_root()
            .join("beta")
            .to_string_lossy()
            .as_ref()
    );

    // Not projects: a hidden directory, an invalid name, a plain file. Then a removal, whose
    // frame must be the next project frame.
    std::fs::create_dir(sandbox.projects_root().join(".hidden")).unwrap();
    std::fs::create_dir(sandbox.projects_root().join("not a name")).unwrap();
    std::fs::write(sandbox.projects_root().join("notes.txt"), "x").unwrap();
    std::fs::remove_dir_all(sandbox.projects_root().join("alpha")).unwrap();
    let removed = next_project_frame(&mut socket).await;
    assert_eq!(
        removed,
        json!({"seq": removed["seq"], "type": "project_removed", "name": "alpha"})
    );

    // A rename is the new card and the old name's removal.
    std::fs::rename(
        sandbox.projects_root().join("beta"),
        sandbox.projects_root().join("gamma"),
    )
    .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let frame = next_project_frame(&mut socket).await;
        let what = if frame["type"] == "project" {
            format!("project {}", frame["project"]["name"].as_str().unwrap())
        } else {
            format!("removed {}", frame["name"].as_str().unwrap())
        };
        if !seen.contains(&what) {
            seen.push(what);
        }
    }
    seen.sort();
    assert_eq!(seen, ["project gamma", "removed beta"]);

    let (status, list) = server.get("/api/projects").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], "gamma");
}

async fn api_state(server: &support::Server) -> Value {
    reqwest::get(format!("{}/api/state", server.base))
        .await
        .expect("GET /api/state")
        .json()
        .await
        .expect("JSON")
}

/// http-api.md §8.4: the snapshot's `health` comes from the probe cache, and the first probe
/// finishing reaches a connected client as a `health` frame. `claude auth status` hangs here
/// (the probe gives it 5 s), so the client is connected well before the probe ends.
#[tokio::test]
async fn the_first_probe_reaches_a_connected_client_as_a_health_frame() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    let claude = fake_claude(&sandbox);
    let server = serve_claude(&sandbox, &claude, &[("FAKE_CLAUDE_AUTH_HANG", "1")]);
    let (mut socket, snapshot) = open_events(&server).await;
    assert_eq!(
        snapshot["health"]["claude_ok"],
        Value::Null,
        "the probe cannot have finished yet: {snapshot}"
    );
    assert_eq!(snapshot["health"]["store_ok"], true);
    assert_eq!(
        snapshot["login"],
        json!({"claude_login_ok": true, "claude_login_method": null, "claude_login_expires_at": null}),
        "logged in until claude answers"
    );

    let health = loop {
        let frame = support::next_frame_of(&mut socket, &["health"]).await;
        if frame["claude_ok"] == true {
            break frame;
        }
    };
    assert_eq!(health["claude_version"], "2.1.328", "{health}");
    let state = api_state(&server).await;
    assert_eq!(state["health"]["claude_ok"], true, "{state}");
    assert_eq!(state["health"]["claude_version"], "2.1.328");
}

/// http-api.md §8.4: the login cache reaches the dashboard — in the snapshot when the probe's
/// `claude auth status` answered before the client connected, else as a `login` frame.
#[tokio::test]
async fn the_login_cache_reaches_the_snapshot_or_a_login_frame() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (mut socket, snapshot) = open_events(&server).await;
    let mut login = snapshot["login"].clone();
    assert!(login.is_object(), "the snapshot has no login: {snapshot}");
    while login["claude_login_method"] != "claude.ai" {
        login = support::next_frame_of(&mut socket, &["login"]).await;
    }
    assert_eq!(login["claude_login_ok"], true, "{login}");
    assert!(login["claude_login_expires_at"].is_i64(), "{login}");
    let state = api_state(&server).await;
    assert_eq!(
        state["login"]["claude_login_method"], "claude.ai",
        "{state}"
    );
    assert_eq!(state["health"]["claude_ok"], true, "{state}");
}

/// A client's close frame is answered with one before the connection ends (http-api.md §8),
/// on the event stream and on a bridge's log stream (the two ways a stream hears its client).
#[tokio::test]
async fn a_close_from_the_client_is_answered() {
    use futures_util::SinkExt as _;
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    let server = serve_fake(&sandbox, &[]);
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}");
    let id = started["instance_id"]
        .as_str()
        .expect("an instance id")
        .to_owned();
    // Running: its log has lines for the log stream's first frame.
    let running = support::wait_instance(&server, &id, std::time::Duration::from_secs(20), |i| {
        i["status"] == "running"
    })
    .await;
    assert_eq!(running["status"], "running", "{running}");
    for path in ["/ws/events".to_owned(), format!("/ws/bridge-log/{id}")] {
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}{path}", server.ws))
            .await
            .expect("a socket");
        // The first frame: the hello, or the first log line.
        let first = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next()).await;
        assert!(
            matches!(first, Ok(Some(Ok(Message::Text(_))))),
            "{path}: {first:?}"
        );
        socket
            .send(Message::Close(None))
            .await
            .expect("the close is sent");
        let answer = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                match socket.next().await {
                    Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Ok(_)) => {}
                    other => return Err(format!("{other:?}")),
                }
            }
        })
        .await
        .expect("the connection ends within 10 s");
        assert_eq!(
            answer,
            Ok(()),
            "{path}: the stream ended without a close frame"
        );
    }
}

/// The event stream pings like every socket (http-api.md §8): a ping within the 20 s period,
/// answered by the client library, and the stream goes on.
#[tokio::test]
async fn the_event_stream_pings_its_client() {
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    let server = serve_fake(&sandbox, &[]);
    let (mut socket, _) = open_events(&server).await;
    let pinged = tokio::time::timeout(std::time::Duration::from_secs(40), async {
        while let Some(Ok(message)) = socket.next().await {
            if matches!(message, Message::Ping(_)) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(pinged, Ok(true), "no ping within 40 s");
    // Still open: a start is pushed.
    let (status, _) = server.start_bridge("alpha").await;
    assert_eq!(status, 201);
    let frame = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let frame = next_frame(&mut socket).await;
            if frame["type"] == "instance" {
                return frame;
            }
        }
    })
    .await
    .expect("an instance frame after the ping");
    assert_eq!(frame["instance"]["project"], "alpha", "{frame}");
}
