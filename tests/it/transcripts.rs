//! The transcript viewer through the real server (issue 21): pages from the end, search,
//! order, the tail of 1.3.2, "show all", redaction, the list's additions, the live socket
//! (new turns, a turn that grows, a replaced file), the server-rendered pages, and malformed
//! files that never answer 500.

use crate::support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use support::{Sandbox, ServesApi, next_frame, start_server};

/// The real-shaped session of the core's tests: streamed duplicate lines, an edit with its
/// patch, a failing Bash call with a secret in its output, a subagent run written inline, an
/// image, a `<synthetic>` reply, summary/snapshot/unknown records, a truncated line.
const SESSION_FIXTURE: &str =
    include_str!("../../crates/clauster-core/src/transcript/fixtures/session.jsonl");
const SESSION: &str = "5b2f0a4e-1c1d-4f7e-9a55-3d0f5e6a7b10";
const OTHER: &str = "33333333-3333-4333-8333-333333333333";

/// `~/.claude/projects/<slug of the canonical project>`, created.
pub(crate) fn slug_dir(sandbox: &Sandbox, project: &Path) -> PathBuf {
    let dir = sandbox.claude_project_dir(project);
    std::fs::create_dir_all(&dir).expect("create the slug dir");
    dir
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn user_line(text: &str) -> String {
    json!({"type": "user", "timestamp": "2026-11-21T08:00:00.000Z",
           "message": {"role": "user", "content": text}})
    .to_string()
        + "\n"
}

fn reply_line(id: &str, block: &Value) -> String {
    json!({"type": "assistant", "timestamp": "2026-11-21T08:00:01.000Z", "requestId": format!("r-{id}"),
           "message": {"id": id, "role": "assistant", "model": "claude-sonnet-4-6", "content": [block],
                       "usage": {"input_tokens": 10, "output_tokens": 5}}})
    .to_string()
        + "\n"
}

async fn get(server: &support::Server, path: &str) -> (u16, Value) {
    server.get(path).await
}

async fn get_text(server: &support::Server, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("{}{path}", server.base))
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

fn roles(page: &Value) -> Vec<String> {
    page["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["role"].as_str().unwrap().to_owned())
        .collect()
}

fn indices(page: &Value) -> Vec<u64> {
    page["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["index"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one fixture, one server, every route over it
async fn pages_search_order_tail_and_show_all_over_a_real_shaped_session() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    let dir = slug_dir(&sandbox, &alpha);
    std::fs::write(dir.join(format!("{SESSION}.jsonl")), SESSION_FIXTURE).unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let base = format!("/api/projects/alpha/transcripts/{SESSION}");

    // Newest first by default: the whole file is 7 turns.
    let (status, page) = get(&server, &base).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 7);
    assert_eq!(page["project"], "alpha");
    assert_eq!(page["session"], SESSION);
    assert_eq!(indices(&page), vec![6, 5, 4, 3, 2, 1, 0]);
    assert_eq!(page["next_cursor"], Value::Null);
    assert_eq!(page["live"], false);
    for key in [
        "role",
        "content",
        "model",
        "timestamp",
        "index",
        "line",
        "html",
    ] {
        assert!(
            page["turns"][0].get(key).is_some(),
            "{key} in {}",
            page["turns"][0]
        );
    }
    // What the index skipped is reported, never fatal.
    assert_eq!(
        page["problems"]["unreadable_lines"], 1,
        "{}",
        page["problems"]
    );
    assert_eq!(page["problems"]["first_unreadable"], json!([19]));
    assert_eq!(page["problems"]["skipped_records"], 3);
    assert_eq!(page["offset"], SESSION_FIXTURE.len());

    // The streamed reply is one turn with one text, its edit collapsed to one line.
    let reply = &page["turns"][5];
    assert_eq!(reply["role"], "assistant");
    let html = reply["html"].as_str().unwrap();
    assert_eq!(
        html.matches("encode the last order id").count(),
        1,
        "{html}"
    );
    assert!(html.contains("Edited src/orders.rs +2 \u{2212}2"), "{html}");
    assert!(html.contains("<details class=\"thinking\">"), "{html}");
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(html.contains("rel=\"noopener noreferrer\""), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
    assert_eq!(reply["tokens"]["output"], 40);
    assert!(reply["cost_usd"].as_f64().unwrap() > 0.12, "{reply}");
    // The failing command, its exit code, its secret redacted.
    assert!(
        page["turns"][4]["html"]
            .as_str()
            .unwrap()
            .contains("Ran `cargo test --quiet` \u{2192} exit 101")
    );
    // The subagent's run nests under the call that started it.
    let task = page["turns"][3]["html"].as_str().unwrap();
    assert!(
        task.contains("Agent (reviewer): Review the change"),
        "{task}"
    );
    assert!(
        task.contains("<div class=\"nested\">") && task.contains("Read src/orders.rs"),
        "{task}"
    );
    assert!(
        task.contains(&format!("/p/alpha/s/{SESSION}/agents/a1b2c3")),
        "{task}"
    );
    assert!(
        page["turns"][2]["html"]
            .as_str()
            .unwrap()
            .contains("[image: image/png]")
    );
    assert!(
        page["turns"][1]["html"]
            .as_str()
            .unwrap()
            .contains("synthetic")
    );
    let all = serde_json::to_string(&page).unwrap();
    assert!(!all.contains("SECRETSECRET"), "a secret left the server");
    assert!(
        !all.contains("01ABCDEF0123456789"),
        "a session id left the server"
    );
    assert!(all.contains("<redacted>"));

    // Pages of 3, both orders, the cursor of 1.3.2.
    let (_, first) = get(&server, &format!("{base}?limit=3")).await;
    assert_eq!(indices(&first), vec![6, 5, 4]);
    assert_eq!(first["next_cursor"], 3);
    let (_, second) = get(&server, &format!("{base}?limit=3&cursor=3")).await;
    assert_eq!(indices(&second), vec![3, 2, 1]);
    let (_, last) = get(&server, &format!("{base}?limit=3&cursor=6")).await;
    assert_eq!(indices(&last), vec![0]);
    assert_eq!(last["next_cursor"], Value::Null);
    let (_, asc) = get(&server, &format!("{base}?order=asc&limit=2")).await;
    assert_eq!(indices(&asc), vec![0, 1]);
    assert_eq!(asc["order"], "asc");
    let (_, sideways) = get(&server, &format!("{base}?order=sideways&limit=2&cursor=-4")).await;
    assert_eq!(indices(&sideways), vec![6, 5]);
    let (status, bad) = get(&server, &format!("{base}?limit=many")).await;
    assert_eq!(
        (status, bad["detail"].as_str()),
        (422, Some("limit must be an integer"))
    );

    // Search runs over the redacted text, case-insensitively.
    let (_, found) = get(&server, &format!("{base}?q=PAGINATION")).await;
    assert_eq!(found["total"], 1);
    assert_eq!(roles(&found), vec!["user"]);
    let (_, secret) = get(&server, &format!("{base}?q=SECRETSECRET")).await;
    assert_eq!(secret["total"], 0);
    let (_, blank) = get(&server, &format!("{base}?q=%20%20")).await;
    assert_eq!(blank["total"], 7);

    // The tail: everything from 0 in file order, then only what was appended.
    let (_, tail) = get(&server, &format!("{base}/tail?offset=0")).await;
    assert_eq!(indices(&tail), vec![0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(tail["reset"], false);
    let offset = tail["offset"].as_u64().unwrap();
    let path = dir.join(format!("{SESSION}.jsonl"));
    append(&path, &user_line("half"));
    append(
        &path,
        "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"hal",
    );
    let (_, more) = get(&server, &format!("{base}/tail?offset={offset}")).await;
    assert_eq!(indices(&more), vec![7]);
    assert_eq!(more["turns"][0]["content"], "half");
    assert_eq!(
        more["offset"].as_u64().unwrap(),
        offset + user_line("half").len() as u64
    );
    append(&path, "f done\"}}\n");
    let (_, done) = get(&server, &format!("{base}/tail?offset={}", more["offset"])).await;
    assert_eq!(done["turns"][0]["content"], "half done");
    let (_, negative) = get(&server, &format!("{base}/tail?offset=-5")).await;
    assert_eq!(
        (
            negative["reset"].clone(),
            negative["turns"].as_array().unwrap().len()
        ),
        (json!(false), 9)
    );
    // A shorter file than the offset: reset, from the start.
    std::fs::write(&path, user_line("rotated")).unwrap();
    let (_, reset) = get(&server, &format!("{base}/tail?offset={}", done["offset"])).await;
    assert_eq!(reset["reset"], true);
    assert_eq!(reset["turns"][0]["content"], "rotated");
    std::fs::write(&path, SESSION_FIXTURE).unwrap();

    // "show all": the whole (redacted) output of a call, as text.
    let (status, text) = get_text(&server, &format!("{base}/turns/2/items/0")).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.starts_with("Error: Exit code 101"), "{text}");
    assert!(
        text.contains("<redacted>") && !text.contains("SECRETSECRET"),
        "{text}"
    );
    for (path, detail) in [
        ("turns/2/items/9", "no such item in this turn"),
        ("turns/99/items/0", "no such turn"),
        ("turns/x/items/0", "no such turn"),
    ] {
        let (status, text) = get_text(&server, &format!("{base}/{path}")).await;
        assert_eq!(status, 404, "{path}: {text}");
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["detail"], detail, "{path}");
    }

    // A subagent file of the session is served by its agent id; the list names it.
    let agents = dir.join(SESSION).join("subagents");
    std::fs::create_dir_all(&agents).unwrap();
    std::fs::write(
        agents.join("agent-a1b2c3.jsonl"),
        user_line("Review src/orders.rs")
            + &reply_line("ms1", &json!({"type": "text", "text": "Looks right."})),
    )
    .unwrap();
    let (status, sub) = get(&server, &format!("{base}?agent=a1b2c3")).await;
    assert_eq!(status, 200, "{sub}");
    assert_eq!(
        (sub["total"].clone(), sub["agent"].clone()),
        (json!(2), json!("a1b2c3"))
    );
    let (status, _) = get(&server, &format!("{base}?agent=..%2Fx")).await;
    assert_eq!(status, 404);

    let (status, list) = get(&server, "/api/projects/alpha/transcripts").await;
    assert_eq!(status, 200, "{list}");
    let entry = &list["sessions"][0];
    assert_eq!(entry["session"], SESSION);
    assert_eq!(entry["subagents"], json!(["a1b2c3"]));
    assert_eq!(
        entry["models"],
        json!(["claude-haiku-4-5", "claude-opus-4-8", "claude-sonnet-4-6"])
    );
    assert!(entry["cost_usd"].as_f64().unwrap() > 0.3, "{entry}");
    assert_eq!(
        entry["first_prompt"],
        "Add cursor pagination to `GET /orders`; keep the page size at **50**."
    );
}

#[tokio::test]
async fn the_python_shape_reads_as_before() {
    // Records as 1.3.2's tests write them: spaced JSON, string contents, no ids, a record
    // without a role, garbage: four turns.
    let sandbox = Sandbox::new();
    let gamma = sandbox.project("gamma", &[]);
    let dir = slug_dir(&sandbox, &gamma);
    let lines = [
        r#"{"type": "user", "timestamp": "2026-06-25T10:00:00Z", "message": {"role": "user", "content": "Can you read my settings?"}}"#,
        r#"{"type": "assistant", "timestamp": "2026-06-25T10:00:05Z", "message": {"role": "assistant", "model": "claude-opus-4-8", "content": [{"type": "text", "text": "Yes, reading."}, {"type": "tool_use", "id": "t1", "name": "Read", "input": {"file_path": "/etc/settings"}}]}}"#,
        r#"{"type": "user", "timestamp": "2026-06-25T10:00:10Z", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}, {"type": "text", "text": "my key is sk-ant-api03-ZZZZZZZZZZZZZZZZZZZZ hide it"}]}}"#,
        r#"{"type": "assistant", "timestamp": "2026-06-25T10:00:15Z", "message": {"role": "assistant", "model": "claude-opus-4-8", "content": "Done."}}"#,
        r#"{"type": "summary", "summary": "no message"}"#,
        "garbage line",
        r#"{"type": "assistant", "message": {"model": "claude-opus-4-8", "content": "no role"}}"#,
    ];
    std::fs::write(dir.join(format!("{OTHER}.jsonl")), lines.join("\n") + "\n").unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let base = format!("/api/projects/gamma/transcripts/{OTHER}");
    let (_, page) = get(&server, &base).await;
    assert_eq!(page["total"], 4, "{page}");
    assert_eq!(roles(&page), vec!["assistant", "user", "assistant", "user"]);
    assert_eq!(page["turns"][3]["content"], "Can you read my settings?");
    assert_eq!(page["turns"][0]["content"], "Done.");
    assert_eq!(page["turns"][0]["model"], "claude-opus-4-8");
    assert_eq!(page["turns"][0]["timestamp"], "2026-06-25T10:00:15Z");
    assert!(!page.to_string().contains("ZZZZZZZZ"));
    let (_, first) = get(&server, &format!("{base}?limit=2")).await;
    assert_eq!(first["next_cursor"], 2);
    let (_, second) = get(&server, &format!("{base}?limit=2&cursor=2")).await;
    assert_eq!(second["next_cursor"], Value::Null);
    let (_, desc) = get(&server, &format!("{base}?limit=500")).await;
    let (_, asc) = get(&server, &format!("{base}?limit=500&order=asc")).await;
    let mut reversed = asc["turns"].as_array().unwrap().clone();
    reversed.reverse();
    assert_eq!(&reversed, desc["turns"].as_array().unwrap());
    let (_, found) = get(&server, &format!("{base}?q=SETTINGS")).await;
    assert_eq!(
        found["total"], 2,
        "the question and the Read of /etc/settings"
    );
}

#[tokio::test]
async fn refusals_and_files_outside_the_project() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    let dir = slug_dir(&sandbox, &alpha);
    std::fs::write(dir.join(format!("{SESSION}.jsonl")), user_line("hi")).unwrap();
    // A transcript of a directory outside projects_root: a slug no project claims.
    let outside = sandbox.dir.path().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    let foreign = slug_dir(&sandbox, &outside);
    std::fs::write(
        foreign.join(format!("{OTHER}.jsonl")),
        user_line("secret plans"),
    )
    .unwrap();
    let server = start_server(&sandbox, None, &[], &[]);

    for (path, status, detail) in [
        ("/api/projects/bad.name/transcripts/x", 422, None),
        ("/api/projects/bad.name/transcripts/x/tail", 422, None),
        (
            "/api/projects/alpha/transcripts/ghost",
            404,
            Some("transcript not found"),
        ),
        (
            "/api/projects/alpha/transcripts/foo..bar",
            404,
            Some("transcript not found"),
        ),
        (
            "/api/projects/alpha/transcripts/a%5Cb",
            404,
            Some("transcript not found"),
        ),
        ("/api/projects/alpha/transcripts/..%2F..%2Fx", 404, None),
        ("/api/projects/alpha/transcripts/../escape", 404, None),
        (
            "/api/projects/alpha/transcripts/nope/tail",
            404,
            Some("transcript not found"),
        ),
        (
            &format!("/api/projects/alpha/transcripts/{OTHER}")[..],
            404,
            Some("transcript not found"),
        ),
        (
            &format!("/api/projects/nosuch/transcripts/{OTHER}")[..],
            404,
            Some("transcript not found"),
        ),
        (
            &format!("/api/projects/alpha/transcripts/{SESSION}/tail?offset=x")[..],
            422,
            Some("offset must be an integer"),
        ),
    ] {
        let (got, body) = get(&server, path).await;
        assert_eq!(got, status, "{path}: {body}");
        if let Some(detail) = detail {
            assert_eq!(body["detail"], detail, "{path}");
        }
    }
    let (status, html) = get_text(&server, &format!("/p/alpha/s/{OTHER}")).await;
    assert_eq!(status, 404);
    assert!(html.contains("transcript not found") && !html.contains("secret plans"));
}

#[tokio::test]
async fn malformed_files_are_shown_never_a_500() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    let dir = slug_dir(&sandbox, &alpha);
    let mut bytes = user_line("first").into_bytes();
    // Invalid UTF-8 inside a string.
    bytes.extend_from_slice(
        b"{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"caf\xff\xfe\"}}\n",
    );
    // A line of 10 MB (a pasted log).
    let big = format!(
        "{{\"type\":\"user\",\"message\":{{\"role\":\"user\",\"content\":[{{\"type\":\"tool_result\",\"tool_use_id\":\"x\",\"content\":\"{}\"}}]}}}}\n",
        "y".repeat(10 * 1000 * 1000)
    );
    bytes.extend_from_slice(big.as_bytes());
    bytes.extend_from_slice(b"{\"type\":\"brand-new-record\",\"x\":1}\n\x00\x01\x02 binary\n");
    bytes.extend_from_slice(user_line("last").as_bytes());
    bytes.extend_from_slice(b"{\"type\":\"user\",\"message\":{\"role\":\"us");
    std::fs::write(dir.join(format!("{SESSION}.jsonl")), &bytes).unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let (status, page) = get(
        &server,
        &format!("/api/projects/alpha/transcripts/{SESSION}"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 4, "{}", page["problems"]);
    assert_eq!(page["turns"][0]["content"], "last");
    assert_eq!(page["turns"][2]["content"], "caf\u{fffd}\u{fffd}");
    // The 10 MB result is cut in the HTML, whole behind "show all".
    let huge = page["turns"][1]["html"].as_str().unwrap();
    assert!(
        huge.len() < 20_000 && huge.contains("show all"),
        "{}",
        huge.len()
    );
    let problems = &page["problems"];
    assert_eq!(problems["unreadable_lines"], 1, "{problems}");
    assert_eq!(problems["first_unreadable"], json!([5]));
    assert_eq!(problems["skipped_records"], 1);
    assert_eq!(problems["partial_last_line"], true);
    let (status, html) = get_text(&server, &format!("/p/alpha/s/{SESSION}")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("1 unreadable line skipped (line 5)"),
        "{html}"
    );
}

#[tokio::test]
async fn the_pages_render_on_the_server() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    let dir = slug_dir(&sandbox, &alpha);
    std::fs::write(dir.join(format!("{SESSION}.jsonl")), SESSION_FIXTURE).unwrap();
    let server = start_server(&sandbox, None, &[], &[]);

    let (status, list) = get_text(&server, "/p/alpha/transcripts").await;
    assert_eq!(status, 200);
    assert!(
        list.contains(&format!("href=\"/p/alpha/s/{SESSION}\"")),
        "{list}"
    );
    assert!(list.contains("Add cursor pagination"), "{list}");
    let (status, page) = get_text(&server, &format!("/p/alpha/s/{SESSION}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>Add cursor pagination"), "{page}");
    // Oldest at the top, newest at the bottom.
    let first = page.find("data-turn=\"0\"").unwrap();
    let last = page.find("data-turn=\"6\"").unwrap();
    assert!(first < last);
    assert!(page.contains("data-follow=\"1\""));
    assert!(page.contains("/pkg/transcript.js"));
    let (_, older) = get_text(&server, &format!("/p/alpha/s/{SESSION}?cursor=3")).await;
    assert!(older.contains("data-turn=\"3\"") && !older.contains("data-turn=\"4\""));
    assert!(older.contains("data-follow=\"0\""));
    let (_, search) = get_text(&server, &format!("/p/alpha/s/{SESSION}?q=orders")).await;
    assert!(search.contains("matching turns"), "{search}");
    let (status, empty) = get_text(&server, "/p/nosuch/transcripts").await;
    assert_eq!(status, 200);
    assert!(empty.contains("No transcripts for this project yet."));
    let (status, script) = get_text(&server, "/pkg/transcript.js").await;
    assert_eq!(status, 200);
    assert!(script.contains("/ws/transcript") || script.contains("d.ws"));
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_socket(server: &support::Server, path: &str) -> Socket {
    let url = format!("{}{path}", server.ws);
    let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("the socket opens");
    socket
}

#[tokio::test]
async fn the_socket_pushes_what_a_live_session_writes() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    let dir = slug_dir(&sandbox, &alpha);
    let path = dir.join(format!("{SESSION}.jsonl"));
    std::fs::write(&path, user_line("start")).unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let (_, page) = get(
        &server,
        &format!("/api/projects/alpha/transcripts/{SESSION}"),
    )
    .await;
    let offset = page["offset"].as_u64().unwrap();
    let mut socket = open_socket(
        &server,
        &format!("/ws/transcript/alpha/{SESSION}?offset={offset}"),
    )
    .await;

    // A reply streamed as two lines: the first arrives as turn 1, the second grows it.
    let written = Instant::now();
    append(
        &path,
        &reply_line("m1", &json!({"type": "text", "text": "thinking about it"})),
    );
    let frame = next_frame(&mut socket).await;
    let latency = written.elapsed();
    assert_eq!(frame["type"], "turns", "{frame}");
    assert_eq!(indices(&frame), vec![1]);
    assert_eq!(frame["total"], 2);
    assert!(latency < Duration::from_secs(5), "{latency:?}");
    append(
        &path,
        &reply_line(
            "m1",
            &json!({"type": "tool_use", "id": "tb", "name": "Bash", "input": {"command": "ls"}}),
        ),
    );
    let frame = next_frame(&mut socket).await;
    assert_eq!(indices(&frame), vec![1], "the same turn, grown");
    assert!(
        frame["turns"][0]["html"]
            .as_str()
            .unwrap()
            .contains("Running `ls`")
    );
    append(
        &path,
        &(json!({"type": "user", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tb", "content": "a\nb"}]}}).to_string() + "\n"),
    );
    let frame = next_frame(&mut socket).await;
    assert_eq!(indices(&frame), vec![1]);
    assert!(
        frame["turns"][0]["html"]
            .as_str()
            .unwrap()
            .contains("Ran `ls` \u{2192} exit 0")
    );
    append(&path, &user_line("next question"));
    let frame = next_frame(&mut socket).await;
    assert_eq!(indices(&frame), vec![2]);

    // The file replaced by a shorter one: reset, then the turns from the start.
    std::fs::write(&path, user_line("new file")).unwrap();
    let frame = next_frame(&mut socket).await;
    assert_eq!(frame["type"], "reset", "{frame}");
    // The rewrite may be seen half-done (truncated, then written), so as more than one
    // reset: each starts the view over, and the turns follow.
    let mut contents = Vec::new();
    while contents.is_empty() {
        let frame = next_frame(&mut socket).await;
        if frame["type"] == "reset" {
            continue;
        }
        assert_eq!(frame["type"], "turns", "{frame}");
        contents = frame["turns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["content"].clone())
            .collect();
    }
    assert_eq!(contents, vec![json!("new file")]);

    // An unknown session closes with 1008 and says why.
    let mut unknown = open_socket(&server, "/ws/transcript/alpha/ghost").await;
    let close = tokio::time::timeout(Duration::from_secs(10), unknown.next())
        .await
        .expect("a close within 10 s")
        .expect("a message")
        .expect("a close frame");
    match close {
        tokio_tungstenite::tungstenite::Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 1008);
            assert_eq!(frame.reason.as_str(), "transcript not found");
        }
        other => panic!("expected a close, got {other:?}"),
    }
}

/// The socket reads `offset` as the tail does: one that is no integer is refused before the
/// upgrade; a negative one reads as 0 (security.md row 161).
#[tokio::test]
async fn the_socket_reads_its_offset_as_the_tail_does() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    let path = slug_dir(&sandbox, &alpha).join(format!("{SESSION}.jsonl"));
    std::fs::write(&path, user_line("start")).unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let url = format!("{}/ws/transcript/alpha/{SESSION}?offset=abc", server.ws);
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 422);
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["detail"], "offset must be an integer", "{body}");
        }
        other => panic!("expected a 422, got {other:?}"),
    }
    let mut from_start = open_socket(
        &server,
        &format!("/ws/transcript/alpha/{SESSION}?offset=-5"),
    )
    .await;
    let frame = next_frame(&mut from_start).await;
    assert_eq!(frame["type"], "turns", "{frame}");
}

/// A turn of megabytes goes out cut in the JSON pages: `content` holds the first 20 000
/// characters and says how many more there are; a page of such turns stays small (issue 21:
/// the release review saw 160 MB answers for 20 turns of 8 MB). Search still sees all of it.
#[tokio::test]
async fn huge_turns_are_cut_in_pages_and_still_found_by_search() {
    let sandbox = Sandbox::new();
    let gamma = sandbox.project("gamma", &[]);
    let dir = slug_dir(&sandbox, &gamma);
    let huge = format!("{}needle-at-the-end", "x".repeat(2_000_000));
    let mut text = String::new();
    for _ in 0..5 {
        text.push_str(&user_line(&huge));
    }
    std::fs::write(dir.join(format!("{OTHER}.jsonl")), text).unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let base = format!("/api/projects/gamma/transcripts/{OTHER}");
    let (status, page) = get(&server, &format!("{base}?limit=20")).await;
    assert_eq!(status, 200, "{}", page.to_string().len());
    assert_eq!(page["total"], 5);
    let content = page["turns"][0]["content"].as_str().unwrap();
    assert!(content.chars().count() < 20_300, "{}", content.len());
    // Only the first 256 KiB of each 2 MB line was read for the page (issue 21).
    let unread = 2_000_000 + "needle-at-the-end".len() + user_line("").len() - 262_144;
    assert!(
        content.ends_with(&format!(
            "more characters and {unread} more bytes of this turn not read: open the turn's \
             items for the full text]"
        )),
        "{}",
        &content[content.len() - 160..]
    );
    assert!(
        page["turns"][0]["html"]
            .as_str()
            .unwrap()
            .contains(&format!("{unread} more bytes of this turn were not read")),
    );
    let size = page.to_string().len();
    assert!(
        size < 1_000_000,
        "a page of five 2 MB turns is {size} bytes"
    );
    let (_, found) = get(&server, &format!("{base}?q=needle-at-the-end")).await;
    assert_eq!(found["total"], 5, "search reads the whole turn");
}

/// Issue 21: a page stops adding turns once their JSON would pass 256 KiB; `next_cursor`
/// goes on from the last turn sent, so following it still shows every turn once, in order.
#[tokio::test]
async fn a_page_keeps_to_its_byte_budget_and_the_cursor_continues() {
    const BUDGET: usize = 256 << 10;
    let sandbox = Sandbox::new();
    let gamma = sandbox.project("gamma", &[]);
    let dir = slug_dir(&sandbox, &gamma);
    let mut text = String::new();
    for n in 0..12 {
        text.push_str(&user_line(&format!("turn {n} {}", "y".repeat(90_000))));
    }
    std::fs::write(dir.join(format!("{OTHER}.jsonl")), text).unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let base = format!("/api/projects/gamma/transcripts/{OTHER}");
    let mut seen = Vec::new();
    let mut cursor = 0;
    let mut pages = 0;
    loop {
        let (status, page) = get(&server, &format!("{base}?limit=50&cursor={cursor}")).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], 12);
        let turns = page["turns"].as_array().unwrap();
        let size: usize = turns.iter().map(|t| t.to_string().len()).sum();
        assert!(
            turns.len() == 1 || size <= BUDGET,
            "{} turns in {size} bytes",
            turns.len()
        );
        seen.extend(indices(&page));
        pages += 1;
        match page["next_cursor"].as_u64() {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert!(pages > 1, "twelve ~100 KB turns fit one page");
    assert_eq!(seen, (0..12).rev().collect::<Vec<u64>>());
}

/// Issue 21 (release review F3): the tail keeps to the page's 256 KiB budget. From 0 it
/// answers the oldest turns that fit with `more` and an offset the next call continues from,
/// so following it gives every turn once, in order; an offset past the end (a reset) answers
/// the newest turns that fit with the offset at the file's end, and polling goes on from
/// there. The socket sends the same backlog as bounded frames, one after the other.
#[tokio::test]
#[allow(clippy::too_many_lines)] // one file, the tail and the socket over it
async fn the_tail_keeps_to_the_page_budget_and_continues_without_loss() {
    const BUDGET: usize = 256 << 10;
    let sandbox = Sandbox::new();
    let gamma = sandbox.project("gamma", &[]);
    let dir = slug_dir(&sandbox, &gamma);
    let path = dir.join(format!("{OTHER}.jsonl"));
    let mut text = String::new();
    for n in 0..12 {
        text.push_str(&user_line(&format!("turn {n} {}", "y".repeat(90_000))));
    }
    std::fs::write(&path, &text).unwrap();
    let file_len = text.len() as u64;
    let server = start_server(&sandbox, None, &[], &[]);
    let base = format!("/api/projects/gamma/transcripts/{OTHER}/tail");
    let bounded = |tail: &Value| {
        let turns = tail["turns"].as_array().unwrap();
        let size: usize = turns.iter().map(|t| t.to_string().len()).sum();
        assert!(
            turns.len() == 1 || size <= BUDGET,
            "{} turns in {size} bytes",
            turns.len()
        );
    };

    let mut seen = Vec::new();
    let mut offset = 0;
    let mut calls = 0;
    loop {
        let (status, tail) = get(&server, &format!("{base}?offset={offset}")).await;
        assert_eq!(status, 200, "{tail}");
        assert_eq!(tail["reset"], false);
        assert_eq!(tail["total"], 12);
        bounded(&tail);
        seen.extend(indices(&tail));
        calls += 1;
        let next = tail["offset"].as_u64().unwrap();
        if tail["more"] == true {
            assert!(next > offset, "the offset moves on: {offset} then {next}");
            offset = next;
        } else {
            assert_eq!(next, file_len);
            offset = next;
            break;
        }
    }
    assert!(calls > 1, "twelve ~100 KB turns fit one answer");
    assert_eq!(
        seen,
        (0..12).collect::<Vec<u64>>(),
        "each turn once, in order"
    );
    let (_, caught_up) = get(&server, &format!("{base}?offset={offset}")).await;
    assert_eq!(
        (
            caught_up["turns"].as_array().unwrap().len(),
            &caught_up["more"]
        ),
        (0, &json!(false))
    );

    // Past the end: a reset with the newest turns that fit, the offset at the end.
    let (_, reset) = get(&server, &format!("{base}?offset={}", file_len + 1000)).await;
    assert_eq!(reset["reset"], true);
    bounded(&reset);
    let newest = indices(&reset);
    assert!(
        newest.len() < 12 && newest.last() == Some(&11),
        "{newest:?}"
    );
    assert!(
        newest.windows(2).all(|w| w[1] == w[0] + 1),
        "oldest first, no gap: {newest:?}"
    );
    assert_eq!(reset["offset"].as_u64(), Some(file_len));
    assert_eq!(reset["more"], false);
    append(&path, &user_line("after the reset"));
    let (_, next) = get(&server, &format!("{base}?offset={}", reset["offset"])).await;
    assert_eq!(indices(&next), vec![12]);
    assert_eq!(next["turns"][0]["content"], "after the reset");

    // The socket from 0: the backlog in bounded frames, every turn once, in order.
    let mut socket = open_socket(&server, &format!("/ws/transcript/gamma/{OTHER}?offset=0")).await;
    let mut pushed = Vec::new();
    let mut frames = 0;
    while pushed.last() != Some(&12) {
        let frame = next_frame(&mut socket).await;
        assert_eq!(frame["type"], "turns", "{frame}");
        bounded(&frame);
        pushed.extend(indices(&frame));
        frames += 1;
    }
    assert!(frames > 1, "the backlog went out in one frame");
    assert_eq!(pushed, (0..13).collect::<Vec<u64>>());
}
