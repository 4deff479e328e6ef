//! Clauster as an MCP server (issue 24), driven by a client nobody here wrote: the official
//! TypeScript SDK's `Client` (`@modelcontextprotocol/sdk`, installed by `cargo xtask setup`
//! into target/tools/npm-mcp) in the Node script `mcp/client.cjs`, over stdio (`clauster
//! mcp`, with and without a server) and over streamable HTTP (`/mcp` of `clauster run`).

use crate::support;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Sandbox, clauster_bin, fake_claude, start_server, trusted_project, wait_for};

const TOOLS: [&str; 9] = [
    "list_sessions",
    "session_status",
    "list_projects",
    "project_usage",
    "instance_logs",
    "doctor",
    "spawn_session",
    "stop_session",
    "resume_session",
];

/// Where the SDK lives (`MCP_SDK_NODE_MODULES` from the xtask, else its default place).
fn node_modules() -> PathBuf {
    let path = std::env::var_os("MCP_SDK_NODE_MODULES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/npm-mcp/node_modules"),
        PathBuf::from,
    );
    assert!(
        path.join("@modelcontextprotocol/sdk/package.json").exists(),
        "the MCP TypeScript SDK is not installed under {}; run `cargo xtask setup`",
        path.display()
    );
    path
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("it/mcp/client.cjs")
}

/// A git project `alpha`, trusted, with two transcript records on two days.
fn setup() -> (Sandbox, PathBuf) {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    let dir = sandbox.claude_project_dir(&alpha);
    std::fs::create_dir_all(&dir).unwrap();
    let record = |id: &str, day: &str| {
        json!({
            "type": "assistant", "requestId": format!("req_{id}"),
            "timestamp": format!("{day}T10:00:00.000Z"),
            "message": {"id": format!("msg_{id}"), "model": "claude-sonnet-4-5",
                        "usage": {"input_tokens": 1000, "output_tokens": 100}},
        })
        .to_string()
    };
    std::fs::write(
        dir.join("11111111-1111-4111-8111-111111111111.jsonl"),
        format!(
            "{}\n{}\n",
            record("a", "2026-11-18"),
            record("b", "2026-11-20")
        ),
    )
    .unwrap();
    let claude = fake_claude(&sandbox);
    (sandbox, claude)
}

/// The Node client with the sandbox's environment, `env` on top.
fn client(sandbox: &Sandbox, claude: &Path, plan: &Value, env: &[(&str, &str)]) -> Command {
    let mut cmd = sandbox.command(Path::new("node"));
    cmd.arg(script())
        .env("NODE_PATH", node_modules())
        .env("MCP_PLAN", plan.to_string())
        .env("CLAUSTER_PROJECTS_ROOT", sandbox.projects_root())
        .env("CLAUSTER_CLAUDE_BINARY", claude)
        .env("CLAUSTER_CLAUDE_STOP_GRACE_SECONDS", "2");
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd
}

fn stdio_env() -> Vec<(&'static str, String)> {
    vec![
        ("MCP_TRANSPORT", "stdio".into()),
        ("MCP_COMMAND", clauster_bin().to_string_lossy().into_owned()),
        ("MCP_ARGS", json!(["mcp"]).to_string()),
    ]
}

/// Runs the client to the end: its report.
fn run(mut cmd: Command) -> Value {
    let out = cmd.output().expect("run node");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the MCP client failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|err| panic!("no report ({err}):\n{stderr}"))
}

fn call(tool: &str, arguments: &Value) -> Value {
    json!({"call": tool, "arguments": arguments})
}

/// A successful call's structured answer.
fn ok(result: &Value) -> &Value {
    assert_eq!(result["isError"], false, "{result}");
    &result["structured"]
}

/// A tool error's text.
fn refused(result: &Value) -> &str {
    assert_eq!(result["isError"], true, "{result}");
    result["text"].as_str().unwrap()
}

fn assert_catalogue(report: &Value) {
    assert_eq!(report["server"]["name"], "clauster", "{report}");
    let names = support::texts_of(&report["tools"], "name");
    assert_eq!(names, TOOLS);
    for tool in report["tools"].as_array().unwrap() {
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
    }
    let uris = support::texts_of(&report["resources"], "uri");
    assert_eq!(
        uris,
        [
            "clauster://sessions",
            "clauster://projects",
            "clauster://doctor"
        ]
    );
    assert_eq!(report["templates"].as_array().unwrap().len(), 2);
}

/// Every read tool once, and the write tools' refusal, as the plan of a read-only server.
fn read_plan() -> Value {
    json!({"phases": [[
        call("list_sessions", &json!({})),
        call("session_status", &json!({"id": "nope"})),
        call("list_projects", &json!({})),
        call("project_usage", &json!({"project": "alpha", "since": "2026-11-19"})),
        call("project_usage", &json!({})),
        call("doctor", &json!({})),
        call("instance_logs", &json!({"id": "alpha"})),
        call("spawn_session", &json!({"project": "alpha", "trust": true})),
        call("stop_session", &json!({"id": "alpha"})),
        call("project_usage", &json!({"since": "last week"})),
        {"read": "clauster://projects"},
        {"read": "clauster://instances/nope/logs"},
    ]]})
}

fn assert_read_results(results: &[Value]) {
    let sessions = ok(&results[0]);
    assert_eq!(sessions["count"], 0, "{sessions}");
    assert_eq!(ok(&results[1]), &json!({"found": false, "id": "nope"}));
    let projects = ok(&results[2]);
    assert_eq!(projects["count"], 1);
    let alpha = &projects["projects"][0];
    assert_eq!(alpha["name"], "alpha");
    assert_eq!(alpha["git"], true);
    assert_eq!(alpha["trust"], "trusted");
    assert_eq!(alpha["badges"], json!(["git", "trusted"]));
    let usage = ok(&results[3]);
    assert_eq!(usage["project"], "alpha");
    assert_eq!(usage["totals"]["messages"], 2, "{usage}");
    assert_eq!(usage["since"], "2026-11-19");
    let days = support::texts_of(&usage["days"], "date");
    assert_eq!(days, ["2026-11-20"], "{usage}");
    assert_eq!(usage["range_total"]["messages"], 1);
    assert_eq!(usage["days"][0]["models"], json!(["claude-sonnet-4-5"]));
    let everything = ok(&results[4]);
    assert_eq!(everything["totals"]["messages"], 2, "{everything}");
    assert_eq!(everything["days"].as_array().unwrap().len(), 2);
    assert!(
        ok(&results[5])["checks"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );
    // The API's own 404 text.
    let logs = refused(&results[6]);
    assert!(logs.contains("alpha"), "{logs}");
    for write in &results[7..9] {
        let text = refused(write);
        assert!(
            text.contains("read-only") && text.contains("mcp: {allow_writes: true}"),
            "{text}"
        );
    }
    let bad_date = refused(&results[9]);
    assert!(
        bad_date.starts_with("since must be a date like 2026-11-25"),
        "{bad_date}"
    );
    let read: Value =
        serde_json::from_str(results[10]["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(read["count"], 1);
    assert!(results[11]["error"].is_string(), "{}", results[11]);
}

/// `clauster mcp` with no server: every call runs the engine for its own length.
#[test]
fn stdio_read_tools_and_refused_writes_without_a_server() {
    let (sandbox, claude) = setup();
    let env = stdio_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let report = run(client(&sandbox, &claude, &read_plan(), &env));
    assert_catalogue(&report);
    let tools = report["tools"].as_array().unwrap();
    assert!(
        tools[6]["description"]
            .as_str()
            .unwrap()
            .contains("DISABLED")
    );
    assert_read_results(report["phases"][0].as_array().unwrap());
}

/// With `mcp.allow_writes`, over stdio: a bridge started while no server runs, then — the
/// client still attached — `clauster run` starts (the engine lock is free between calls)
/// and the next calls go through it.
#[test]
fn stdio_writes_start_a_bridge_and_a_server_can_start_while_attached() {
    let (sandbox, claude) = setup();
    let port = support::free_port();
    let healthz = format!("http://127.0.0.1:{port}/healthz");
    let plan = json!({"phases": [
        [
            call("spawn_session", &json!({"project": "alpha", "custom_name": "from-mcp"})),
            call("list_sessions", &json!({})),
            call("instance_logs", &json!({"id": "alpha", "lines": 5})),
        ],
        [
            call("session_status", &json!({"id": "alpha"})),
            call("stop_session", &json!({"id": "alpha"})),
            call("resume_session", &json!({"id": "alpha", "fresh": true})),
            call("stop_session", &json!({"id": "alpha"})),
            call("stop_session", &json!({"id": "nobody"})),
        ],
    ]});
    let mut env = stdio_env();
    env.push(("CLAUSTER_MCP_ALLOW_WRITES", "true".into()));
    env.push(("MCP_WAIT_URL", healthz));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut cmd = client(&sandbox, &claude, &plan, &env);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut node = support::KillOnDrop(cmd.spawn().expect("spawn node"));
    let stderr = node.0.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let phase_done = wait_for(Duration::from_secs(90), || {
        while let Ok(line) = lines.try_recv() {
            seen.push(line);
        }
        seen.iter().any(|l| l == "PHASE 1 DONE").then_some(())
    });
    assert!(
        phase_done.is_some(),
        "phase 1 never ended:\n{}",
        seen.join("\n")
    );
    assert!(
        seen.iter().any(|l| l.contains("| mcp | read+write")),
        "{}",
        seen.join("\n")
    );

    // The server takes the engine lock while the MCP client stays attached.
    let server = support::start_server_on(
        &sandbox,
        port,
        Some(&claude),
        &[],
        &[("CLAUSTER_MCP_ALLOW_WRITES", "true")],
    );
    let out = node.0.wait_with_output_timeout(Duration::from_mins(2));
    let report: Value = serde_json::from_slice(&out)
        .unwrap_or_else(|err| panic!("no report ({err}); server log:\n{}", server.log()));
    assert_catalogue(&report);

    let first = report["phases"][0].as_array().unwrap();
    let spawned = ok(&first[0]);
    assert_eq!(spawned["created"], true, "{spawned}");
    assert_eq!(spawned["session"]["status"], "running", "{spawned}");
    assert_eq!(spawned["session"]["label"], "from-mcp");
    let id = spawned["session"]["id"].as_str().unwrap().to_owned();
    assert!(!spawned.to_string().contains("session_url"));
    let listed = ok(&first[1]);
    let bridge = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "bridge")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(bridge["id"], id.as_str());
    let logs = ok(&first[2]);
    assert_eq!(logs["id"], id.as_str());
    assert!(
        logs["lines"].as_array().is_some_and(|l| l.len() <= 5),
        "{logs}"
    );

    let second = report["phases"][1].as_array().unwrap();
    let status = ok(&second[0]);
    assert_eq!(status["found"], true);
    assert_eq!(status["session"]["id"], id.as_str());
    let stopped = ok(&second[1]);
    assert_eq!(stopped["stopped"], true, "{stopped}");
    assert_eq!(stopped["session"]["status"], "stopped");
    let resumed = ok(&second[2]);
    assert_eq!(resumed["resumed"], true, "{resumed}");
    assert_eq!(resumed["id"], "alpha");
    assert_eq!(resumed["session"]["id"], id.as_str());
    assert_eq!(ok(&second[3])["stopped"], true);
    assert_eq!(ok(&second[4]), &json!({"stopped": false, "id": "nobody"}));
    drop(server);
}

/// Waits for a child's end with a deadline, returning its stdout.
trait WaitOutput {
    fn wait_with_output_timeout(&mut self, timeout: Duration) -> Vec<u8>;
}

impl WaitOutput for std::process::Child {
    fn wait_with_output_timeout(&mut self, timeout: Duration) -> Vec<u8> {
        use std::io::Read as _;
        let mut stdout = self.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stdout.read_to_end(&mut bytes);
            bytes
        });
        let ended = wait_for(timeout, || self.try_wait().ok().flatten());
        assert!(
            ended.is_some_and(|s| s.success()),
            "the MCP client did not finish: {ended:?}"
        );
        reader.join().expect("the reader thread")
    }
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

/// `/mcp` of `clauster run`: bearer tokens only; read tools and refusals read-only, then a
/// bridge started and stopped with `mcp.allow_writes`.
#[tokio::test]
async fn http_behind_bearer_tokens() {
    let (sandbox, claude) = setup();
    let token = "clauster_pat_mcp-end-to-end-token";
    let hash = sha256_hex(token);
    let base_env = [
        ("CLAUSTER_MCP_HTTP_ENABLED", "true"),
        ("CLAUSTER_AUTH_API_TOKEN_HASH", hash.as_str()),
    ];
    let server = start_server(&sandbox, Some(&claude), &[], &base_env);
    let url = format!("{}/mcp", server.base);
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    let http = reqwest::Client::new();
    for header in [None, Some("Bearer wrong-token"), Some("Basic abc")] {
        let mut request = http
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 401, "{header:?}");
        assert_eq!(answer.headers()["www-authenticate"], "Bearer");
        let body: Value = answer.json().await.unwrap();
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("a bearer token is required for /mcp"),
            "{body}"
        );
    }

    let http_env = |url: &str| {
        vec![
            ("MCP_TRANSPORT", "http".to_owned()),
            ("MCP_URL", url.to_owned()),
            ("MCP_TOKEN", token.to_owned()),
        ]
    };
    let env = http_env(&url);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cmd = client(&sandbox, &claude, &read_plan(), &env);
    let report = tokio::task::spawn_blocking(move || run(cmd)).await.unwrap();
    assert_catalogue(&report);
    assert_read_results(report["phases"][0].as_array().unwrap());
    drop(server);

    let mut env = base_env.to_vec();
    env.push(("CLAUSTER_MCP_ALLOW_WRITES", "true"));
    let server = start_server(&sandbox, Some(&claude), &[], &env);
    let url = format!("{}/mcp", server.base);
    let plan = json!({"phases": [[
        call("spawn_session", &json!({"project": "alpha"})),
        call("spawn_session", &json!({"project": "alpha"})),
        call("spawn_session", &json!({"project": "nope"})),
        call("instance_logs", &json!({"id": "alpha"})),
        call("stop_session", &json!({"id": "alpha"})),
    ]]});
    let env = http_env(&url);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cmd = client(&sandbox, &claude, &plan, &env);
    let report = tokio::task::spawn_blocking(move || run(cmd)).await.unwrap();
    let results = report["phases"][0].as_array().unwrap();
    let spawned = ok(&results[0]);
    assert_eq!(spawned["created"], true, "{spawned}");
    assert_eq!(spawned["session"]["status"], "running", "{}", server.log());
    // The one-standard-bridge cap of the API: the live one is handed back.
    let again = ok(&results[1]);
    assert_eq!(again["created"], false, "{again}");
    assert_eq!(again["session"]["id"], spawned["session"]["id"]);
    assert!(again["reason"].is_string(), "{again}");
    // The API's own refusal text.
    let unknown = refused(&results[2]);
    assert!(unknown.contains("nope"), "{unknown}");
    assert!(ok(&results[3])["lines"].is_array());
    let stopped = ok(&results[4]);
    assert_eq!(stopped["stopped"], true, "{stopped}");
    assert_eq!(stopped["session"]["status"], "stopped");
}
