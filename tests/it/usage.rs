//! The cost/token rollup through the real server (data.md §1): golden totals over generated
//! transcripts, incremental reads of growing and replaced files, `CLAUDE_CONFIG_DIR`, the
//! `usage` push frame, the conversation list and the refusals of the usage routes.

use crate::support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Sandbox, ServesApi, next_frame, start_server, trusted_project};

const SESSION_A: &str = "11111111-1111-4111-8111-111111111111";
const SESSION_B: &str = "22222222-2222-4222-8222-222222222222";

/// Claude Code's directory name for a path: every non-alphanumeric ASCII character → `-`.
fn slug(path: &Path) -> String {
    clauster_core::slug::slug(&path.to_string_lossy())
}

/// `~/.claude/projects/<slug of the canonical project>`, created.
fn slug_dir(projects_dir: &Path, project: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(project).expect("canonical project");
    let dir = projects_dir.join(slug(&canonical));
    std::fs::create_dir_all(&dir).expect("create the slug dir");
    dir
}

/// One assistant usage record as Claude Code writes it.
fn reply(id: Option<&str>, request: Option<&str>, model: &str, usage: &Value) -> String {
    let mut record = json!({
        "type": "assistant",
        "timestamp": "2026-11-20T10:00:00.000Z",
        "message": {"role": "assistant", "model": model, "usage": usage,
                    "content": [{"type": "text", "text": "ok"}]},
    });
    if let Some(id) = id {
        record["message"]["id"] = json!(id);
    }
    if let Some(request) = request {
        record["requestId"] = json!(request);
    }
    record.to_string()
}

/// A Haiku reply with the ids `message` and `request` and `input` input tokens (no output).
fn haiku_reply(message: &str, request: &str, input: u64) -> String {
    reply(
        Some(message),
        Some(request),
        "claude-haiku-4-5",
        &tokens(input, 0),
    )
}

/// The JSON line `record` with `key` set to `value`.
fn with_field(record: &str, key: &str, value: Value) -> String {
    let mut record: Value = serde_json::from_str(record).expect("a JSON record");
    record[key] = value;
    record.to_string()
}

fn tokens(input: u64, output: u64) -> Value {
    json!({"input_tokens": input, "output_tokens": output})
}

fn write_lines(path: &Path, lines: &[String]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

async fn usage(server: &support::Server, project: &str) -> (u16, Value) {
    server.get(&format!("/api/projects/{project}/usage")).await
}

/// Polls the usage route until `check` holds (the watcher and the 2 s sweep make changes
/// visible within a few seconds); returns the last answer.
async fn usage_until(
    server: &support::Server,
    project: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = usage(server, project).await;
        assert_eq!(status, 200, "{body}");
        if check(&body) || std::time::Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The golden fixture: duplicates, a resumed copy, a subagent file, worktree directories (one
/// owned, one not), malformed, blank, synthetic and oversized lines, unpriced and fallback
/// models.
fn golden_fixtures(projects_dir: &Path, alpha: &Path) {
    let dir = slug_dir(projects_dir, alpha);
    let canonical = std::fs::canonicalize(alpha).unwrap();

    // The worked example of data.md §1.7: one reply streamed as three lines.
    let example = reply(
        Some("m1"),
        Some("r1"),
        "claude-opus-4-8",
        &json!({"input_tokens": 6, "output_tokens": 13, "cache_creation_input_tokens": 11715,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 11715},
                "cache_read_input_tokens": 17228}),
    );
    let haiku = reply(Some("m2"), Some("r2"), "claude-haiku-4-5", &tokens(100, 50));
    // Without a split the whole cache write is priced at the 5-minute rate.
    let unsplit = reply(
        Some("m3"),
        Some("r3"),
        "claude-opus-4-8",
        &json!({"input_tokens": 10, "output_tokens": 20, "cache_creation_input_tokens": 1000}),
    );
    let synthetic = reply(Some("s1"), Some("rs"), "<synthetic>", &tokens(9999, 9999));
    let huge = with_field(
        &reply(Some("h1"), Some("rh"), "claude-opus-4-8", &tokens(1, 1)),
        "padding",
        json!("x".repeat(17 << 20)),
    );
    let no_id = reply(None, None, "claude-haiku-4-5", &tokens(1, 1));
    let user =
        json!({"type": "user", "cwd": canonical, "message": {"role": "user", "content": "hi"}})
            .to_string();
    write_lines(
        &dir.join(format!("{SESSION_A}.jsonl")),
        &[
            user.clone(),
            example.clone(),
            example.clone(),
            example.clone(),
            "{not json".into(),
            String::new(),
            synthetic,
            huge,
            haiku.clone(),
            no_id.clone(),
            no_id,
        ],
    );
    // A resumed session copies earlier lines into its own file.
    write_lines(
        &dir.join(format!("{SESSION_B}.jsonl")),
        &[example, haiku, unsplit.clone()],
    );
    // A subagent transcript below the session directory; one of its lines repeats m3.
    let side = with_field(
        &reply(
            Some("m4"),
            Some("r4"),
            "claude-haiku-4-5",
            &tokens(1000, 100),
        ),
        "isSidechain",
        json!(true),
    );
    let side_dup = with_field(&unsplit, "isSidechain", json!(true));
    write_lines(
        &dir.join(SESSION_A).join("subagents/agent-a1.jsonl"),
        &[side, side_dup],
    );
    // A worktree transcript proves its ownership by its first cwd; a look-alike does not.
    let worktrees = canonical.join(".claude/worktrees");
    let wt_prefix = format!("{}-", slug(&worktrees));
    for (name, session, cwd, answer) in [
        (
            "feature",
            SESSION_B,
            worktrees.join("feature"),
            reply(Some("m5"), Some("r5"), "claude-haiku-4-5", &tokens(0, 10)),
        ),
        (
            "other",
            SESSION_A,
            PathBuf::from("/elsewhere/.claude/worktrees/feature"),
            reply(Some("m6"), Some("r6"), "claude-haiku-4-5", &tokens(0, 1000)),
        ),
    ] {
        let first =
            json!({"type": "user", "cwd": cwd, "message": {"role": "user", "content": "go"}});
        write_lines(
            &projects_dir
                .join(format!("{wt_prefix}{name}"))
                .join(format!("{session}.jsonl")),
            &[first.to_string(), answer],
        );
    }
    // Unpriced and family-fallback models.
    write_lines(
        &dir.join("33333333-3333-4333-8333-333333333333.jsonl"),
        &[
            reply(Some("m7"), Some("r7"), "my-model", &tokens(5, 0)),
            reply(Some("m8"), Some("r8"), "claude-opus-4-9", &tokens(10, 0)),
        ],
    );
}

#[tokio::test]
async fn golden_totals_over_duplicates_resumes_subagents_and_worktrees() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    golden_fixtures(&sandbox.home().join(".claude/projects"), &alpha);
    let server = start_server(&sandbox, None, &[], &[]);
    let (status, body) = usage(&server, "alpha").await;
    assert_eq!(status, 200, "{body}");
    // m1 (3 + 1 copies), m2 (2), m3 (2), m4, two id-less records, m5, m7, m8.
    // Cost in nano-dollars: m1 126 119 000, m2 350 000, m3 6 800 000, m4 1 500 000,
    // id-less 2 × 6 000, m5 50 000, m7 0, m8 (opus-5-5 fallback) 40 000 = 134 871 000.
    assert_eq!(
        body,
        json!({
            "project": "alpha",
            "transcripts": 5,
            "messages": 9,
            "total_tokens": 31271,
            "token_breakdown": {"input": 1133, "output": 195, "cache_creation": 12715,
                                "cache_read": 17228, "cache_creation_5m": 1000,
                                "cache_creation_1h": 11715},
            "cost_usd": 0.1349,
            "approximate": true,
            "unpriced_models": ["my-model"],
            "fallback_priced_models": ["claude-opus-4-9"],
            "by_model": {
                "claude-haiku-4-5": {"total_tokens": 1264, "cost_usd": 0.0019, "messages": 5},
                "claude-opus-4-8": {"total_tokens": 29992, "cost_usd": 0.1329, "messages": 2},
                "claude-opus-4-9": {"total_tokens": 10, "cost_usd": 0.0, "messages": 1},
                "my-model": {"total_tokens": 5, "cost_usd": 0.0, "messages": 1}
            },
            "duplicates_skipped": 5,
            "ambiguous_transcripts": 0,
            "unreadable_files": 0,
            "price_table_date": "2026-11-25"
        })
    );

    // The conversation list: top-level sessions of the project and its worktree.
    check_conversation_list(&server).await;
}

async fn check_conversation_list(server: &support::Server) {
    let (status, list) = server.get("/api/projects/alpha/transcripts").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["project"], "alpha");
    let sessions = list["sessions"].as_array().unwrap();
    let mut ids: Vec<&str> = sessions
        .iter()
        .map(|s| s["session"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            SESSION_A,
            SESSION_B,
            SESSION_B,
            "33333333-3333-4333-8333-333333333333"
        ]
    );
    let a = sessions.iter().find(|s| s["session"] == SESSION_A).unwrap();
    assert_eq!(a["first_prompt"], "hi");
    assert_eq!(a["live"], false);
    assert_eq!(a["is_subagent"], false);
    assert_eq!(a["first_ts"], "2026-11-20T10:00:00.000Z");
    // Every record with a message role: the user turn, 3 × m1, the synthetic reply, m2 and the
    // two id-less replies. The malformed and blank lines are not records, and the huge line
    // is over the 16 MiB line cap, so it is skipped unread (issue 16 §2), as the rollup does.
    assert_eq!(a["turn_count"], 8, "{a}");
    // Newest mtime first.
    let mtimes: Vec<&str> = sessions
        .iter()
        .map(|s| s["mtime"].as_str().unwrap())
        .collect();
    assert!(mtimes.windows(2).all(|w| w[0] >= w[1]), "{mtimes:?}");
}

#[tokio::test]
async fn growing_and_replaced_files_are_read_incrementally() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    let dir = slug_dir(&sandbox.home().join(".claude/projects"), &alpha);
    let file = dir.join(format!("{SESSION_A}.jsonl"));
    let first = haiku_reply("m1", "r1", 1000);
    write_lines(&file, std::slice::from_ref(&first));
    let server = start_server(&sandbox, None, &[], &[]);

    let body = usage_until(&server, "alpha", |b| b["messages"] == 1).await;
    assert_eq!(
        (body["messages"].clone(), body["cost_usd"].clone()),
        (json!(1), json!(0.001))
    );

    // Half a line is held back until its newline arrives.
    let second = haiku_reply("m2", "r2", 2000);
    let (head, tail) = second.split_at(30);
    append(&file, head);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, body) = usage(&server, "alpha").await;
    assert_eq!(body["messages"], 1, "{body}");
    append(&file, &format!("{tail}\n"));
    let body = usage_until(&server, "alpha", |b| b["messages"] == 2).await;
    assert_eq!(
        (body["messages"].clone(), body["cost_usd"].clone()),
        (json!(2), json!(0.003))
    );

    // Replaced by a shorter file (a new inode): re-read from the start.
    let replacement = dir.join("replacement.tmp");
    write_lines(
        &replacement,
        &[reply(
            Some("m9"),
            Some("r9"),
            "claude-haiku-4-5",
            &tokens(0, 7),
        )],
    );
    std::fs::rename(&replacement, &file).unwrap();
    let body = usage_until(&server, "alpha", |b| b["token_breakdown"]["output"] == 7).await;
    assert_eq!(body["messages"], 1, "{body}");
    assert_eq!(body["token_breakdown"]["input"], 0, "{body}");

    // Truncated in place (same inode, shorter): re-read too.
    write_lines(
        &file,
        &[reply(Some("m8"), None, "claude-haiku-4-5", &tokens(3, 0))],
    );
    let body = usage_until(&server, "alpha", |b| b["token_breakdown"]["input"] == 3).await;
    assert_eq!(
        (
            body["messages"].clone(),
            body["token_breakdown"]["output"].clone()
        ),
        (json!(1), json!(0)),
        "{body}"
    );

    // Deleted: its entries go.
    std::fs::remove_file(&file).unwrap();
    let body = usage_until(&server, "alpha", |b| b["transcripts"] == 0).await;
    assert_eq!(
        (body["messages"].clone(), body["cost_usd"].clone()),
        (json!(0), json!(0.0))
    );
}

#[tokio::test]
async fn claude_config_dir_moves_the_transcripts() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    let config_dir = sandbox.dir.path().join("claude-config");
    // The file under the configured directory counts; the one under ~/.claude does not.
    write_lines(
        &slug_dir(&config_dir.join("projects"), &alpha).join(format!("{SESSION_A}.jsonl")),
        &[haiku_reply("m1", "r1", 1000)],
    );
    write_lines(
        &slug_dir(&sandbox.home().join(".claude/projects"), &alpha)
            .join(format!("{SESSION_B}.jsonl")),
        &[haiku_reply("m2", "r2", 5000)],
    );
    let server = start_server(
        &sandbox,
        None,
        &[],
        &[("CLAUDE_CONFIG_DIR", config_dir.to_str().unwrap())],
    );
    let (status, body) = usage(&server, "alpha").await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            body["transcripts"].clone(),
            body["token_breakdown"]["input"].clone()
        ),
        (json!(1), json!(1000)),
        "{body}"
    );
}

#[tokio::test]
async fn an_appended_transcript_is_pushed_as_a_usage_frame() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    let file = slug_dir(&sandbox.home().join(".claude/projects"), &alpha)
        .join(format!("{SESSION_A}.jsonl"));
    write_lines(&file, &[haiku_reply("m1", "r1", 1000)]);
    let server = start_server(&sandbox, None, &[], &[]);
    // Computed once, so the snapshot carries it.
    assert_eq!(usage(&server, "alpha").await.1["messages"], 1);

    let (mut socket, snapshot) = support::open_events(&server).await;
    assert_eq!(snapshot["usage"]["alpha"]["messages"], 1, "{snapshot}");
    assert_eq!(snapshot["usage"]["alpha"]["cost_usd"], 0.001);

    append(&file, &format!("{}\n", haiku_reply("m2", "r2", 2000)));
    let frame = support::next_frame_of(&mut socket, &["usage"]).await;
    assert_eq!(frame["project"], "alpha");
    assert_eq!(frame["usage"]["project"], "alpha");
    assert_eq!(frame["usage"]["messages"], 2, "{frame}");
    assert_eq!(frame["usage"]["cost_usd"], 0.003);
}

#[tokio::test]
async fn usage_mode_off_reads_nothing() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    write_lines(
        &slug_dir(&sandbox.home().join(".claude/projects"), &alpha)
            .join(format!("{SESSION_A}.jsonl")),
        &[haiku_reply("m1", "r1", 1000)],
    );
    let server = start_server(&sandbox, None, &[], &[("CLAUSTER_USAGE_MODE", "off")]);
    let (status, body) = usage(&server, "alpha").await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["transcripts"].clone(), body["messages"].clone()),
        (json!(0), json!(0))
    );
    let (_, state) = server.get("/api/state").await;
    assert_eq!(state["usage"], json!({}), "{state}");
    let (_, list) = server.get("/api/projects/alpha/transcripts").await;
    assert_eq!(list["sessions"], json!([]));
}

#[tokio::test]
async fn usage_routes_refuse_invalid_names_and_answer_zeros_for_unknown_ones() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    // No ~/.claude at all: a fresh HOME is zeros, not an error.
    let server = start_server(&sandbox, None, &[], &[]);
    let (status, body) = usage(&server, "alpha").await;
    assert_eq!(
        (
            status,
            body["transcripts"].clone(),
            body["cost_usd"].clone()
        ),
        (200, json!(0), json!(0.0))
    );
    let (status, body) = usage(&server, "nope").await;
    assert_eq!(
        (status, body["project"].clone(), body["messages"].clone()),
        (200, json!("nope"), json!(0))
    );
    for (name, detail) in [
        (
            "-rf",
            "invalid project name: '-rf' (use 1–64 letters, digits, _ and -, not starting with -)",
        ),
        ("CON", "'CON' is a reserved device name"),
        (
            "..%2Fetc",
            "invalid project name: '../etc' (use 1–64 letters, digits, _ and -, not starting with -)",
        ),
    ] {
        for route in ["usage", "transcripts"] {
            let (status, body) = server.get(&format!("/api/projects/{name}/{route}")).await;
            assert_eq!(
                (status, body["detail"].as_str()),
                (422, Some(detail)),
                "{route} {name}"
            );
        }
    }
}

#[tokio::test]
async fn an_unreadable_projects_directory_is_a_503() {
    use std::os::unix::fs::PermissionsExt as _;
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    // A file where the projects directory should be: reading it as a directory fails.
    let claude = sandbox.home().join(".claude");
    std::fs::create_dir_all(&claude).unwrap();
    std::fs::write(claude.join("projects"), "not a directory").unwrap();
    std::fs::set_permissions(
        claude.join("projects"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let (status, body) = usage(&server, "alpha").await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (503, Some("could not read usage transcripts"))
    );
    let (status, body) = server.get("/api/projects/alpha/transcripts").await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (503, Some("could not read transcripts"))
    );
}

#[tokio::test]
async fn a_shared_slug_is_split_by_first_cwd() {
    let sandbox = Sandbox::new();
    let underscore = sandbox.project("my_app", &[]);
    let dash = sandbox.project("my-app", &[]);
    let projects_dir = sandbox.home().join(".claude/projects");
    let dir = slug_dir(&projects_dir, &underscore);
    assert_eq!(
        dir,
        slug_dir(&projects_dir, &dash),
        "the two names share one slug"
    );
    let owned_by = |project: &Path, id: &str, input: u64| {
        let cwd = std::fs::canonicalize(project).unwrap();
        vec![
            json!({"type": "user", "cwd": cwd, "message": {"role": "user", "content": "x"}})
                .to_string(),
            reply(Some(id), Some(id), "claude-haiku-4-5", &tokens(input, 0)),
        ]
    };
    write_lines(
        &dir.join(format!("{SESSION_A}.jsonl")),
        &owned_by(&underscore, "u1", 100),
    );
    write_lines(
        &dir.join(format!("{SESSION_B}.jsonl")),
        &owned_by(&dash, "d1", 200),
    );
    // No cwd at all: counted for neither, reported as ambiguous by both.
    write_lines(
        &dir.join("44444444-4444-4444-8444-444444444444.jsonl"),
        &[haiku_reply("n1", "n1", 400)],
    );
    let server = start_server(&sandbox, None, &[], &[]);
    for (name, input) in [("my_app", 100), ("my-app", 200)] {
        let (status, body) = usage(&server, name).await;
        assert_eq!(status, 200);
        assert_eq!(
            (
                body["transcripts"].clone(),
                body["token_breakdown"]["input"].clone(),
                body["ambiguous_transcripts"].clone()
            ),
            (json!(1), json!(input), json!(1)),
            "{name}: {body}"
        );
    }
}

/// A bridge (the fake `claude`) writes its conversation's transcript and keeps appending
/// replies; the dashboard's socket sees the §6 fixture's cost, then the growth.
#[tokio::test]
async fn a_running_bridge_transcript_is_rolled_up_live() {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    std::fs::write(
        alpha.join(".fake-claude.json"),
        json!({"transcript": "1", "transcript_append_ms": "400"}).to_string(),
    )
    .unwrap();
    let claude = support::fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/events", server.ws))
        .await
        .expect("connect to /ws/events");
    let (status, started) = server.start_bridge("alpha").await;
    assert!(status == 201 || status == 200, "{started}");

    // Frames arrive as the transcript grows: first the fixture alone or with a few appended
    // sonnet replies, then more. Every frame of the complete fixture follows its rule.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let frame = next_frame(&mut socket).await;
        if frame["type"] != "usage" {
            continue;
        }
        let usage = &frame["usage"];
        // The fake writes its fixture line by line: a frame may show it half written.
        if usage["by_model"]["claude-haiku-4-5"].is_null() {
            continue;
        }
        let appended = usage["by_model"]["claude-sonnet-4-6"]["messages"]
            .as_u64()
            .unwrap_or(0);
        assert_eq!(usage["messages"], 2 + appended, "{usage}");
        assert_eq!(usage["duplicates_skipped"], 2, "{usage}");
        assert_eq!(
            usage["by_model"]["claude-opus-4-8"]["cost_usd"], 0.1261,
            "{usage}"
        );
        // 126 319 000 nano-dollars for the fixture, 180 000 (10·3 000 + 10·15 000) per reply.
        let nanos = 126_319_000 + 180_000 * appended;
        let rounded = (nanos + 50_000) / 100_000;
        #[allow(clippy::cast_precision_loss)]
        let expected = rounded as f64 / 10_000.0;
        assert_eq!(usage["cost_usd"], expected, "{usage}");
        seen.push(appended);
    }
    assert!(seen[1] > seen[0], "{seen:?}");
}

#[tokio::test]
async fn the_legacy_projects_directory_is_read_too() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    let current = slug_dir(&sandbox.home().join(".claude/projects"), &alpha);
    let legacy = slug_dir(&sandbox.home().join(".config/claude/projects"), &alpha);
    let shared = haiku_reply("m1", "r1", 1000);
    write_lines(
        &current.join(format!("{SESSION_A}.jsonl")),
        std::slice::from_ref(&shared),
    );
    // The same reply again (de-duplicated across both directories) and one of its own.
    write_lines(
        &legacy.join(format!("{SESSION_B}.jsonl")),
        &[
            shared,
            reply(Some("m2"), Some("r2"), "claude-haiku-4-5", &tokens(0, 100)),
        ],
    );
    let server = start_server(&sandbox, None, &[], &[]);
    let (status, body) = usage(&server, "alpha").await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            body["transcripts"].clone(),
            body["messages"].clone(),
            body["duplicates_skipped"].clone(),
            body["cost_usd"].clone()
        ),
        (json!(2), json!(2), json!(1), json!(0.0015)),
        "{body}"
    );
}

/// Issue 19: the server's HTML already has the card's cost badge and readiness pill and the
/// header's host-readiness pill, so hydration adds nothing and nothing shifts.
#[tokio::test]
async fn the_server_html_carries_the_badges() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    sandbox.project("beta", &[]);
    let projects = sandbox.home().join(".claude/projects");
    write_lines(
        &slug_dir(&projects, &alpha).join(format!("{SESSION_A}.jsonl")),
        &[haiku_reply("m1", "r1", 100_000)],
    );
    let server = start_server(&sandbox, None, &[], &[]);
    // The rollup and the host checks computed once, as the snapshot would carry them.
    let (status, body) = usage(&server, "alpha").await;
    assert_eq!(status, 200, "{body}");
    let (status, readiness) = server.post_empty("/api/readiness/recheck").await;
    assert_eq!(status, 200, "{readiness}");
    let level = readiness["level"].as_str().unwrap().to_owned();

    let html = reqwest::get(format!("{}/", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let card = |name: &str| {
        let start = html
            .find(&format!("data-project=\"{name}\""))
            .unwrap_or_else(|| panic!("no card of {name} in {html}"));
        let end = html[start + 1..]
            .find("data-project=\"")
            .map_or(html.len(), |at| start + 1 + at);
        html[start..end].to_owned()
    };
    let alpha_card = card("alpha");
    assert!(
        alpha_card.contains("class=\"badge usage-badge\""),
        "{alpha_card}"
    );
    assert!(alpha_card.contains("≈$0.10"), "{alpha_card}");
    // The project is not trusted: its card shows the checks pill.
    assert!(
        alpha_card.contains("class=\"badge readiness-pill"),
        "{alpha_card}"
    );
    assert!(!card("beta").contains("usage-badge"));
    let pill = format!("badge host-readiness-pill {level}");
    assert!(html.contains(&pill), "no `{pill}` in the page");
    assert!(!html.contains("host-readiness-pill checking"));
}
