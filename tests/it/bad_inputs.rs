//! The bad-input catalogue of security.md §12, row by row, through the real `clauster run`
//! process and the fake `claude`: every request gets its status and its message checked, and
//! the world around the server is compared before and after — the `projects_root` tree (paths,
//! bytes, link targets), Claude's global file, the config audit log, every bridge launch the
//! fake recorded (`FAKE_CLAUDE_ARGV_LOG`), and `GET /api/instances` over the control socket.
//! Row 51 (the reaper) is tested with the reaper itself; row 85 (a second bridge in one
//! directory) in `engine_trust.rs`, beside the other step-9 tests.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sha2::Sha256;
use support::{
    Sandbox, Server, clauster_bin, fake_claude, hash_password, hex, over_control_socket,
    process_exists, sha256_hex, start_server, wait_for, write_config,
};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

const INVALID_NAME: &str = "(use 1–64 letters, digits, _ and -, not starting with -)";
const PASSWORD: &str = "correct horse battery";

// ---------------------------------------------------------------------------------------------
// The world a refusal must leave alone.

#[derive(Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

/// Everything a rejected request must not change.
#[derive(Debug, PartialEq)]
struct World {
    tree: BTreeMap<PathBuf, Node>,
    global_file: Option<Vec<u8>>,
    audit_log: Option<Vec<u8>>,
    /// The sandbox's `clauster.yml` (the settings editor's file).
    config_file: Option<Vec<u8>>,
    launches: Vec<String>,
    instances: Value,
}

fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<PathBuf, Node>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let relative = path.strip_prefix(root).expect("below the root").to_owned();
        let kind = entry.file_type().expect("file type");
        if kind.is_symlink() {
            into.insert(
                relative,
                Node::Link(std::fs::read_link(&path).expect("link")),
            );
        } else if kind.is_dir() {
            into.insert(relative, Node::Dir);
            walk(root, &path, into);
        } else {
            into.insert(
                relative,
                Node::File(std::fs::read(&path).unwrap_or_default()),
            );
        }
    }
}

/// A test server and what it needs to look at the world around it.
struct Bench {
    sandbox: Sandbox,
    server: Server,
    argv_log: PathBuf,
}

impl Bench {
    /// `clauster run` over `sandbox` with the fake `claude` recording every invocation.
    fn start(sandbox: Sandbox, env: &[(&str, &str)]) -> Self {
        let claude = fake_claude(&sandbox);
        let argv_log = sandbox.dir.path().join("claude-argv.jsonl");
        let mut all = vec![("FAKE_CLAUDE_ARGV_LOG", argv_log.to_str().expect("utf-8"))];
        all.extend_from_slice(env);
        let server = start_server(&sandbox, Some(&claude), &[], &all);
        Self {
            sandbox,
            server,
            argv_log,
        }
    }

    fn socket(&self) -> PathBuf {
        self.sandbox.state_dir().join("control.sock")
    }

    /// Every bridge the fake was asked to be (`remote-control`, `--remote-control`, `--bg`);
    /// the capability probe's `--version`/`--help`/`remote-control --help`/`auth status` and the
    /// agents poll run in
    /// the background and are not launches.
    fn launches(&self) -> Vec<String> {
        std::fs::read_to_string(&self.argv_log)
            .unwrap_or_default()
            .lines()
            .filter(|line| {
                let record: Value = serde_json::from_str(line).unwrap_or(Value::Null);
                record["argv"].as_array().is_some_and(|argv| {
                    let has = |word: &str| argv.iter().any(|a| a.as_str() == Some(word));
                    (has("remote-control") || has("--remote-control") || has("--bg"))
                        && !has("--help")
                })
            })
            .map(str::to_owned)
            .collect()
    }

    async fn world(&self) -> World {
        let mut tree = BTreeMap::new();
        let root = self.sandbox.projects_root();
        walk(&root, &root, &mut tree);
        let socket = self.socket();
        let (status, instances) = tokio::task::spawn_blocking(move || {
            over_control_socket(&socket, "GET", "/api/instances", "")
        })
        .await
        .expect("the socket request");
        assert_eq!(status, 200, "{instances}");
        World {
            tree,
            global_file: std::fs::read(self.sandbox.home().join(".claude.json")).ok(),
            audit_log: std::fs::read(self.sandbox.state_dir().join("config_audit.log")).ok(),
            config_file: std::fs::read(self.sandbox.dir.path().join("clauster.yml")).ok(),
            launches: self.launches(),
            instances: serde_json::from_str(&instances).expect("instances JSON"),
        }
    }

    /// Sends `request`, checks its status and `detail`, and that the world is unchanged.
    async fn refuses(&self, row: u8, request: Request, status: u16, detail: &Detail) -> Answer {
        let before = self.world().await;
        let shown = format!(
            "row {row}: {} {} {:?}",
            request.method, request.path, request.body
        );
        let answer = request.send(&self.server.base).await;
        assert_eq!(answer.status, status, "{shown}: {}", answer.body);
        detail.check(&answer.json()["detail"], &shown);
        let after = self.world().await;
        assert_eq!(before, after, "{shown} changed the world");
        answer
    }

    /// Runs a table of refusals.
    async fn table(&self, cases: Vec<(u8, Request, u16, Detail)>) {
        for (row, request, status, detail) in cases {
            self.refuses(row, request, status, &detail).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Requests and answers.

#[derive(Debug, Clone)]
enum Body {
    Empty,
    Json(Value),
    Raw(Vec<u8>),
    Form(String),
}

#[derive(Debug, Clone)]
struct Request {
    method: reqwest::Method,
    path: String,
    body: Body,
    headers: Vec<(String, String)>,
}

impl Request {
    fn new(method: reqwest::Method, path: impl Into<String>, body: Body) -> Self {
        Self {
            method,
            path: path.into(),
            body,
            headers: Vec::new(),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn with_body(mut self, body: Value) -> Self {
        self.body = Body::Json(body);
        self
    }

    async fn send(&self, base: &str) -> Answer {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let mut request = client.request(self.method.clone(), format!("{base}{}", self.path));
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request = match &self.body {
            Body::Empty => request,
            Body::Json(value) => request.json(value),
            Body::Raw(bytes) => request
                .header("content-type", "application/json")
                .body(bytes.clone()),
            Body::Form(password) => request.form(&[("password", password)]),
        };
        let response = request.send().await.expect("request");
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap_or_default(),
        }
    }
}

fn post(path: impl Into<String>, body: Value) -> Request {
    Request::new(reqwest::Method::POST, path, Body::Json(body))
}

fn post_raw(path: impl Into<String>, body: &[u8]) -> Request {
    Request::new(reqwest::Method::POST, path, Body::Raw(body.to_vec()))
}

fn put(path: impl Into<String>, body: Value) -> Request {
    Request::new(reqwest::Method::PUT, path, Body::Json(body))
}

fn get(path: impl Into<String>) -> Request {
    Request::new(reqwest::Method::GET, path, Body::Empty)
}

fn delete(path: impl Into<String>) -> Request {
    Request::new(reqwest::Method::DELETE, path, Body::Empty)
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// The expected `detail` of an answer.
enum Detail {
    Is(String),
    StartsWith(String),
    /// The status says it all (HTML answers, redirects).
    Any,
}

impl Detail {
    fn check(&self, detail: &Value, shown: &str) {
        let text = detail.as_str().unwrap_or_default();
        match self {
            Self::Is(expected) => assert_eq!(text, expected, "{shown}"),
            Self::StartsWith(prefix) => {
                assert!(text.starts_with(prefix.as_str()), "{shown}: {text}");
            }
            Self::Any => {}
        }
    }
}

fn is(text: impl Into<String>) -> Detail {
    Detail::Is(text.into())
}

fn starts(text: impl Into<String>) -> Detail {
    Detail::StartsWith(text.into())
}

fn invalid_name(name: &str) -> Detail {
    is(format!("invalid project name: '{name}' {INVALID_NAME}"))
}

fn canonical(path: &Path) -> String {
    std::fs::canonicalize(path)
        .expect("canonical path")
        .display()
        .to_string()
}

/// The usual sandbox: `alpha` (git, trusted), `beta` (trusted, no git), `untrusted`.
fn usual_sandbox() -> Sandbox {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    let beta = sandbox.project("beta", &[]);
    sandbox.project("untrusted", &[]);
    trust_all(&sandbox, &[&alpha, &beta]);
    sandbox
}

fn trust_all(sandbox: &Sandbox, paths: &[&PathBuf]) {
    let projects: serde_json::Map<String, Value> = paths
        .iter()
        .map(|p| (canonical(p), json!({"hasTrustDialogAccepted": true})))
        .collect();
    std::fs::create_dir_all(sandbox.home()).expect("HOME");
    std::fs::write(
        sandbox.home().join(".claude.json"),
        json!({ "projects": projects }).to_string(),
    )
    .expect("write .claude.json");
}

/// `.fake-claude.json` of a project: the fake's mode there.
fn fake_mode(project: &Path, mode: &str) {
    std::fs::write(
        project.join(".fake-claude.json"),
        json!({ "mode": mode }).to_string(),
    )
    .expect("write .fake-claude.json");
}

// ---------------------------------------------------------------------------------------------
// Rows 1–7: creating a project.

#[tokio::test]
async fn rows_01_to_07_create_project_refusals() {
    let bench = Bench::start(usual_sandbox(), &[]);
    let long = "a".repeat(65);
    let mut cases = vec![
        (
            1,
            post_raw("/api/projects", b"[]"),
            422,
            is("request body must be a JSON object"),
        ),
        (
            1,
            post_raw("/api/projects", b"\"x\""),
            422,
            is("request body must be a JSON object"),
        ),
        (
            1,
            post_raw("/api/projects", b"{nope"),
            422,
            is("request body must be a JSON object"),
        ),
        (
            3,
            post("/api/projects", json!({"name": ""})),
            422,
            is("name is required"),
        ),
        (
            3,
            post("/api/projects", json!({})),
            422,
            is("name is required"),
        ),
        (
            6,
            post("/api/projects", json!({"name": 5})),
            422,
            is("name must be a string"),
        ),
        (
            7,
            post("/api/projects", json!({"name": "alpha"})),
            409,
            is("a directory named 'alpha' already exists"),
        ),
    ];
    for name in ["../etc", "a/b", "a\\b"] {
        cases.push((
            2,
            post("/api/projects", json!({ "name": name })),
            422,
            invalid_name(name),
        ));
    }
    for name in ["CON", "nul", "Lpt1"] {
        cases.push((
            4,
            post("/api/projects", json!({ "name": name })),
            422,
            is(format!("'{name}' is a reserved device name")),
        ));
    }
    for name in [long.as_str(), "-rf", ".hidden", "é"] {
        cases.push((
            5,
            post("/api/projects", json!({ "name": name })),
            422,
            invalid_name(name),
        ));
    }
    bench.table(cases).await;
    assert!(
        !bench.sandbox.dir.path().join("etc").exists(),
        "nothing escaped the root"
    );
}

// ---------------------------------------------------------------------------------------------
// Rows 8–11, 13–18, 58: spawn options, all refused before anything is launched.

#[tokio::test]
#[allow(clippy::too_many_lines)] // one table, one server
async fn rows_08_to_18_and_58_spawn_refusals() {
    let sandbox = usual_sandbox();
    // A conversation of `beta`: its id is a real transcript, just not `alpha`'s (row 17).
    let other = "0b7e7d3a-4a59-4f0e-9d43-5c1f2b7a9e10";
    let beta_slug = clauster_core::slug::slug(&canonical(&sandbox.projects_root().join("beta")));
    let transcripts = sandbox.home().join(".claude/projects").join(beta_slug);
    std::fs::create_dir_all(&transcripts).expect("transcripts dir");
    std::fs::write(
        transcripts.join(format!("{other}.jsonl")),
        "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"hi\"}}\n",
    )
    .expect("write a transcript");
    let bench = Bench::start(sandbox, &[]);
    let spawn = |body: Value| post("/api/instances", body);
    let long = "n".repeat(129);
    let cases = vec![
        (8, spawn(json!({})), 422, is("project is required")),
        (
            9,
            spawn(json!({"project": "nope"})),
            404,
            is("project 'nope' not found"),
        ),
        (
            10,
            spawn(json!({"project": "alpha", "spawn_mode": "turbo"})),
            422,
            is("invalid spawn_mode 'turbo'; expected same-dir, worktree or session"),
        ),
        (
            11,
            spawn(json!({"project": "alpha", "permission_mode": "yolo"})),
            422,
            is("invalid permission_mode 'yolo'"),
        ),
        (
            13,
            spawn(json!({"project": "alpha", "resume_mode": "tmux"})),
            422,
            is("invalid resume_mode 'tmux'; expected standard or pty"),
        ),
        (
            14,
            spawn(json!({"project": "beta", "spawn_mode": "worktree"})),
            422,
            is("worktree spawn mode needs a git repository; 'beta' is not one"),
        ),
        (
            15,
            spawn(json!({"project": "alpha", "name": long})),
            422,
            is("name is longer than 128 characters"),
        ),
        (
            15,
            spawn(json!({"project": "alpha", "name": "evil\u{202e}txt"})),
            422,
            is("name must not contain control or invisible characters"),
        ),
        (
            15,
            spawn(json!({"project": "alpha", "name": "two\nlines"})),
            422,
            is("name must not contain control or invisible characters"),
        ),
        (
            15,
            spawn(json!({"project": "alpha", "name": "--help"})),
            422,
            is("name must not start with '-'"),
        ),
        (
            16,
            spawn(json!({"project": "alpha", "name": 5})),
            422,
            is("name must be a string"),
        ),
        (
            17,
            spawn(
                json!({"project": "alpha", "resume_mode": "pty", "resume_session_id": "../../etc/passwd"}),
            ),
            422,
            is("resume_session_id must be a UUID"),
        ),
        (
            17,
            spawn(json!({"project": "alpha", "resume_mode": "pty", "resume_session_id": "x"})),
            422,
            is("resume_session_id must be a UUID"),
        ),
        (
            17,
            spawn(json!({"project": "alpha", "resume_session_id": other})),
            422,
            is("resume_session_id needs resume_mode pty"),
        ),
        (
            17,
            spawn(json!({"project": "alpha", "resume_mode": "pty", "resume_session_id": other})),
            422,
            is("no such conversation in 'alpha'"),
        ),
        (
            18,
            spawn(json!({"project": "alpha", "channel": "hosted"})),
            422,
            is("channel 'hosted' is not supported by this server"),
        ),
        (
            58,
            spawn(json!({"project": 5})),
            422,
            is("project must be a string"),
        ),
        (
            58,
            spawn(json!({"project": "nope", "trust": "yes"})),
            422,
            is("trust must be a boolean"),
        ),
        (
            58,
            post("/api/instances/zzz/resume", json!({"fresh": 1})),
            422,
            is("fresh must be a boolean"),
        ),
    ];
    bench.table(cases).await;
}

// ---------------------------------------------------------------------------------------------
// Row 12: bypassPermissions without the project's opt-in, on spawn and on resume.

#[tokio::test]
async fn row_12_bypass_needs_the_project_opt_in() {
    let sandbox = usual_sandbox();
    write_config(
        &sandbox,
        "projects:\n  alpha:\n    allow_bypass_permissions: true\n",
    );
    let refused = is(
        "bypassPermissions is not enabled for project 'beta'. Set projects.beta.allow_bypass_permissions: true in clauster.yml first.",
    );
    let bench = Bench::start(sandbox, &[]);
    bench
        .refuses(
            12,
            post(
                "/api/instances",
                json!({"project": "beta", "permission_mode": "bypassPermissions"}),
            ),
            403,
            &refused,
        )
        .await;
    // With the opt-in it launches; stopped, it can be resumed only while the opt-in stays.
    let started = post(
        "/api/instances",
        json!({"project": "alpha", "permission_mode": "bypassPermissions"}),
    )
    .send(&bench.server.base)
    .await;
    assert_eq!(started.status, 201, "{}", started.body);
    let id = started.json()["instance_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let stopped = delete(format!("/api/instances/{id}"))
        .send(&bench.server.base)
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    let Bench {
        sandbox, server, ..
    } = bench;
    drop(server);
    write_config(&sandbox, "projects: {}\n");
    let bench = Bench::start(sandbox, &[]);
    bench
        .refuses(
            12,
            post(format!("/api/instances/{id}/resume"), json!({})),
            403,
            &is(
                "bypassPermissions is not enabled for project 'alpha'. Set projects.alpha.allow_bypass_permissions: true in clauster.yml first.",
            ),
        )
        .await;
}

// ---------------------------------------------------------------------------------------------
// Rows 19–22: trust and the cap.

#[tokio::test]
async fn rows_19_and_21_untrusted_projects_stay_untrusted() {
    let bench = Bench::start(usual_sandbox(), &[]);
    let path = canonical(&bench.sandbox.projects_root().join("untrusted"));
    bench
        .table(vec![
            (
                19,
                post("/api/instances", json!({"project": "untrusted"})),
                409,
                is(format!(
                    "directory not trusted: {path}. Use the Trust action before starting."
                )),
            ),
            (
                21,
                post(
                    "/api/instances",
                    json!({"project": "untrusted", "trust": true, "spawn_mode": "turbo"}),
                ),
                422,
                is("invalid spawn_mode 'turbo'; expected same-dir, worktree or session"),
            ),
            (
                21,
                post(
                    "/api/instances",
                    json!({"project": "untrusted", "trust": true, "permission_mode": "yolo"}),
                ),
                422,
                is("invalid permission_mode 'yolo'"),
            ),
        ])
        .await;
    let projects = get("/api/projects").send(&bench.server.base).await.json();
    let untrusted = projects
        .as_array()
        .expect("projects")
        .iter()
        .find(|p| p["name"] == "untrusted")
        .expect("listed");
    assert_eq!(untrusted["trust_state"], "untrusted", "{untrusted}");
}

#[tokio::test]
async fn row_20_spawn_over_max_bridges() {
    let sandbox = usual_sandbox();
    write_config(&sandbox, "instance_defaults:\n  max_bridges: 1\n");
    let bench = Bench::start(sandbox, &[]);
    let first = bench.server.start_bridge("alpha").await;
    assert_eq!(first.0, 201, "{}", first.1);
    bench
        .refuses(
            20,
            post("/api/instances", json!({"project": "beta"})),
            409,
            &is("max_bridges=1 reached (1 live); stop a bridge before starting another"),
        )
        .await;
}

#[tokio::test]
async fn row_22_trust_over_an_unusable_global_file() {
    let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));
    for (shown, bytes) in [
        ("invalid JSON", b"{\"projects\": {\"/x\": \n".to_vec()),
        ("an array", b"[1, 2]\n".to_vec()),
        (
            "nested 200 deep",
            format!("{{\"projects\": {nested}}}").into_bytes(),
        ),
    ] {
        let sandbox = Sandbox::new();
        sandbox.project("alpha", &[]);
        std::fs::create_dir_all(sandbox.home()).expect("HOME");
        let file = sandbox.home().join(".claude.json");
        std::fs::write(&file, &bytes).expect("write the global file");
        let bench = Bench::start(sandbox, &[]);
        let cannot = format!("cannot update {}: ", file.display());
        // The trust routes carry 1.3.2's prefix (issue 18); a start names the file directly.
        let on_trust = starts(format!("could not update trust state: {cannot}"));
        let on_start = starts(cannot.clone());
        for (request, refused) in [
            (post("/api/projects/alpha/trust", json!({})), &on_trust),
            (post("/api/projects/trust-all", json!({})), &on_trust),
            (
                post("/api/instances", json!({"project": "alpha", "trust": true})),
                &on_start,
            ),
        ] {
            let answer = bench.refuses(22, request, 409, refused).await;
            assert!(
                answer.json()["detail"]
                    .as_str()
                    .is_some_and(|d| d.ends_with("Clauster did not change it")),
                "{shown}: {}",
                answer.body
            );
        }
        assert_eq!(std::fs::read(&file).expect("still there"), bytes, "{shown}");
    }
}

// ---------------------------------------------------------------------------------------------
// Rows 23–27: instance references.

#[tokio::test]
#[allow(clippy::too_many_lines)] // one table, one server
async fn rows_23_to_27_references() {
    let sandbox = usual_sandbox();
    let crashy = sandbox.project("crashy", &[]);
    fake_mode(&crashy, "crash");
    let stall = sandbox.project("stall", &[]);
    fake_mode(&stall, "stall");
    let alpha = sandbox.projects_root().join("alpha");
    let beta = sandbox.projects_root().join("beta");
    trust_all(&sandbox, &[&alpha, &beta, &crashy, &stall]);
    let bench = Bench::start(sandbox, &[]);

    bench
        .refuses(
            23,
            get("/api/instances/zzz"),
            404,
            &is("no such instance: zzz"),
        )
        .await;

    // Dead records in `crashy` until two ids share a first character (at most 17).
    let mut ids: Vec<String> = Vec::new();
    let shared = loop {
        let (status, body) = bench.server.start_bridge("crashy").await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["status"], "error", "{body}");
        let id = body["instance_id"].as_str().expect("id").to_owned();
        if let Some(twin) = ids.iter().find(|other| other[..1] == id[..1]) {
            break (twin.clone(), id);
        }
        ids.push(id);
        assert!(ids.len() <= 16, "pigeonhole");
    };
    let prefix = &shared.0[..1];
    let mut matching: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .chain([shared.1.as_str()])
        .filter(|id| id.starts_with(prefix))
        .collect();
    matching.sort_unstable();
    let answer = bench
        .refuses(
            24,
            get(format!("/api/instances/{prefix}")),
            409,
            &starts(format!("ambiguous '{prefix}' — matches ")),
        )
        .await;
    let detail = answer.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.ends_with("; use more characters"), "{detail}");
    for id in &matching {
        assert!(detail.contains(id), "{detail} names {id}");
    }
    // Row 25: a project name with several dead instances.
    let answer = bench
        .refuses(
            25,
            get("/api/instances/crashy"),
            409,
            &starts("ambiguous 'crashy' — matches "),
        )
        .await;
    assert!(
        answer.json()["detail"]
            .as_str()
            .is_some_and(|d| d.ends_with("; use an instance id directly")),
        "{}",
        answer.body
    );
    for request in [
        delete("/api/instances/crashy"),
        post("/api/instances/crashy/forget", json!({})),
    ] {
        bench
            .refuses(25, request, 409, &starts("ambiguous 'crashy' — matches "))
            .await;
    }

    // One live and one dead in `alpha`: the name means the live one.
    let (status, first) = bench.server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{first}");
    let first_id = first["instance_id"].as_str().expect("id").to_owned();
    let stopped = delete(format!("/api/instances/{first_id}"))
        .send(&bench.server.base)
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    let (status, live) = bench.server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{live}");
    let live_id = live["instance_id"].as_str().expect("id").to_owned();
    let pid = live["bridge_pid"].as_i64().expect("pid");
    let resolved = get("/api/instances/alpha").send(&bench.server.base).await;
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    assert_eq!(resolved.json()["instance_id"], live_id.as_str());

    // Row 26: forget a running instance.
    bench
        .refuses(
            26,
            post(format!("/api/instances/{live_id}/forget"), json!({})),
            409,
            &is(format!("instance '{live_id}' is still live; stop it first")),
        )
        .await;
    assert!(process_exists(pid), "the bridge was not touched");

    // Row 27: a bridge that never registers has no link yet.
    let (status, stalled) = bench.server.start_bridge("stall").await;
    assert_eq!(status, 201, "{stalled}");
    let stalled_id = stalled["instance_id"].as_str().expect("id").to_owned();
    bench
        .refuses(
            27,
            get(format!("/api/instances/{stalled_id}/qr")),
            409,
            &is("no session URL available yet"),
        )
        .await;
}

// ---------------------------------------------------------------------------------------------
// Rows 28–34: the CLAUDE.md editor.

#[tokio::test]
async fn rows_28_to_34_claude_md() {
    let sandbox = usual_sandbox();
    let alpha = sandbox.projects_root().join("alpha");
    std::fs::write(alpha.join("CLAUDE.md"), "# alpha\n").expect("write CLAUDE.md");
    let linked = sandbox.project("linked", &[]);
    std::os::unix::fs::symlink("/etc/passwd", linked.join("CLAUDE.md")).expect("symlink");
    let latin1 = sandbox.project("latin1", &[]);
    std::fs::write(latin1.join("CLAUDE.md"), b"caf\xe9\n").expect("write");
    let beta = sandbox.projects_root().join("beta");
    trust_all(&sandbox, &[&alpha, &beta, &linked, &latin1]);
    let passwd = std::fs::read("/etc/passwd").ok();
    let bench = Bench::start(sandbox, &[]);
    let hash = sha256_hex(b"# alpha\n");
    let md = "/api/projects/alpha/claude-md";
    let untrusted = canonical(&bench.sandbox.projects_root().join("untrusted"));
    let cases = vec![
        (
            28,
            put(md, json!({"content": 5})),
            422,
            is("content must be a string"),
        ),
        (
            28,
            put(md, json!({"content": "x", "base_sha256": 1})),
            422,
            is("base_sha256 must be a string"),
        ),
        (
            29,
            put(md, json!({"content": "a".repeat(65_537)})),
            413,
            is("CLAUDE.md is 65537 bytes, over the 65536 byte cap"),
        ),
        (
            30,
            put(
                md,
                json!({"content": "x", "base_sha256": sha256_hex(b"stale")}),
            ),
            409,
            is("CLAUDE.md changed on disk since it was loaded"),
        ),
        (
            31,
            put("/api/projects/untrusted/claude-md", json!({"content": "x"})),
            403,
            is(format!("{untrusted} is not a trusted directory")),
        ),
        (
            32,
            get("/api/projects/linked/claude-md"),
            422,
            is("CLAUDE.md resolves outside the project directory"),
        ),
        (
            32,
            put(
                "/api/projects/linked/claude-md",
                json!({"content": "pwned\n"}),
            ),
            422,
            is("CLAUDE.md resolves outside the project directory"),
        ),
        (
            33,
            get("/api/projects/latin1/claude-md"),
            422,
            is("CLAUDE.md is not valid UTF-8"),
        ),
        (
            34,
            put(md, json!({"content": "a\u{0}b"})),
            422,
            is("content must not contain NUL characters"),
        ),
    ];
    bench.table(cases).await;
    let stale = bench
        .refuses(
            30,
            put(md, json!({"content": "x", "base_sha256": "not-a-hash"})),
            409,
            &is("CLAUDE.md changed on disk since it was loaded"),
        )
        .await;
    assert_eq!(stale.json()["current_sha256"], hash.as_str());
    assert_eq!(
        std::fs::read("/etc/passwd").ok(),
        passwd,
        "the link target is untouched"
    );
    // Row 29's other half: exactly the cap is accepted.
    let at_cap = "b".repeat(65_536);
    let accepted = put(md, json!({"content": at_cap, "base_sha256": hash}))
        .send(&bench.server.base)
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(
        std::fs::read(bench.sandbox.projects_root().join("alpha/CLAUDE.md")).expect("written"),
        at_cap.as_bytes()
    );
}

// ---------------------------------------------------------------------------------------------
// Rows 35–43: cloning, under the real URL policy of `clauster run`.

#[tokio::test]
async fn rows_35_to_40_and_42_clone_refusals() {
    let sandbox = usual_sandbox();
    let bench = Bench::start(sandbox, &[]);
    let clone = |url: &str| post("/api/projects/clone", json!({"name": "fresh", "url": url}));
    let schemes = "permitted: ['https', 'ssh']";
    let long = format!("https://example.com/{}", "a".repeat(2030));
    let mut cases = vec![
        (
            35,
            clone("http://example.com/x"),
            422,
            is(format!("scheme 'http' not allowed; {schemes}")),
        ),
        (
            35,
            clone("file:///etc"),
            422,
            is(format!("scheme 'file' not allowed; {schemes}")),
        ),
        (
            35,
            clone("git@host:x/y"),
            422,
            is("clone URL must have a scheme"),
        ),
        (
            38,
            clone("https://user:pw@host/x"),
            422,
            is("credentials in the clone URL are not allowed"),
        ),
        (
            39,
            clone("https://example.com/x\u{7}"),
            422,
            is("clone URL must not contain whitespace or control characters"),
        ),
        (
            39,
            clone(&long),
            422,
            is("clone URL is longer than 2048 characters"),
        ),
        (
            40,
            clone("https://does-not-exist.invalid/x"),
            422,
            is("could not resolve host 'does-not-exist.invalid'"),
        ),
        (
            42,
            post(
                "/api/projects/clone/0123456789abcdef0123456789abcdef/cancel",
                json!({}),
            ),
            404,
            starts("unknown or expired clone job"),
        ),
    ];
    for (url, host, ip) in [
        ("https://127.0.0.1/x", "127.0.0.1", "127.0.0.1"),
        ("https://[::1]/x", "::1", "::1"),
        (
            "https://169.254.169.254/",
            "169.254.169.254",
            "169.254.169.254",
        ),
        ("https://0x7f000001/", "127.0.0.1", "127.0.0.1"),
        ("https://2130706433/", "127.0.0.1", "127.0.0.1"),
    ] {
        cases.push((
            36,
            clone(url),
            403,
            starts(format!("host '{host}' resolves to blocked address {ip}")),
        ));
    }
    cases.push((
        37,
        clone("https://10.0.0.5/x"),
        403,
        starts("host '10.0.0.5' resolves to blocked address 10.0.0.5"),
    ));
    bench.table(cases).await;
}

#[tokio::test]
async fn rows_36_37_and_42_with_private_hosts_allowed() {
    let sandbox = usual_sandbox();
    write_config(&sandbox, "clone:\n  allow_private_hosts: true\n");
    let bench = Bench::start(sandbox, &[]);
    let clone = |url: &str| post("/api/projects/clone", json!({"name": "fresh", "url": url}));
    for (url, host, ip) in [
        ("https://127.0.0.1/x", "127.0.0.1", "127.0.0.1"),
        ("https://[::1]/x", "::1", "::1"),
        (
            "https://169.254.169.254/",
            "169.254.169.254",
            "169.254.169.254",
        ),
        ("https://0x7f000001/", "127.0.0.1", "127.0.0.1"),
        ("https://2130706433/", "127.0.0.1", "127.0.0.1"),
    ] {
        bench
            .refuses(
                36,
                clone(url),
                403,
                &starts(format!("host '{host}' resolves to blocked address {ip}")),
            )
            .await;
    }
    // Row 37's other half: a private address is admitted with the opt-in.
    let admitted = clone("https://10.0.0.5/x").send(&bench.server.base).await;
    assert_eq!(admitted.status, 202, "{}", admitted.body);
    let job = admitted.json()["job_id"]
        .as_str()
        .expect("job id")
        .to_owned();
    let cancel = format!("/api/projects/clone/{job}/cancel");
    let first = post(&cancel, json!({})).send(&bench.server.base).await;
    assert!(matches!(first.status, 202 | 409), "{}", first.body);
    let mut ended = None;
    for _ in 0..300 {
        let answer = post(&cancel, json!({})).send(&bench.server.base).await;
        if answer.status == 409 {
            ended = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Row 42: a finished job cannot be cancelled.
    let ended = ended.expect("the job ended");
    assert!(
        ended.json()["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("clone job is already ")),
        "{}",
        ended.body
    );
    let again = bench
        .refuses(
            42,
            post(&cancel, json!({})),
            409,
            &starts("clone job is already "),
        )
        .await;
    assert_eq!(again.json(), ended.json());
    assert!(
        !bench.sandbox.projects_root().join("fresh").exists(),
        "a cancelled clone leaves nothing"
    );
}

#[tokio::test]
async fn row_41_clone_disabled() {
    let sandbox = usual_sandbox();
    write_config(&sandbox, "clone:\n  enabled: false\n");
    let bench = Bench::start(sandbox, &[]);
    for body in [
        json!({"name": "fresh", "url": "https://example.com/x"}),
        json!({}),
    ] {
        bench
            .refuses(
                41,
                post("/api/projects/clone", body),
                403,
                &is("clone is disabled in config"),
            )
            .await;
    }
}

/// Row 43 needs three clones that hang: served in process so the test URL policy can admit a
/// silent listener on 127.0.0.1 (the only seam for that, README §Workspace).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_43_a_fourth_concurrent_clone() {
    use clauster_core::clone::UrlPolicy;
    use clauster_core::config::{ConfigInput, IpNet};

    let sandbox = Sandbox::new();
    let claude = fake_claude(&sandbox);
    std::fs::create_dir_all(sandbox.projects_root()).expect("projects_root");
    std::fs::create_dir_all(sandbox.state_dir()).expect("state_dir");
    std::fs::set_permissions(
        sandbox.state_dir(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod state_dir");
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_port = silent.local_addr().expect("address").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let text = format!(
        "projects_root: {root}\nstate_dir: {state}\nclaude:\n  binary: {claude}\n  config_dir: {home}/.claude\nclone:\n  allowed_schemes: [git]\n  timeout_seconds: 120\n",
        root = sandbox.projects_root().display(),
        state = sandbox.state_dir().display(),
        claude = claude.display(),
        home = sandbox.home().display(),
    );
    let loaded = clauster_core::config::load(&ConfigInput {
        text: Some(text),
        home: Some(sandbox.home()),
        ..ConfigInput::default()
    })
    .expect("a valid test config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(clauster_server::serve(
        clauster_server::ServerConfig {
            config: loaded.config,
            config_file: None,
            session_secret: None,
            load_input: ConfigInput::default(),
        },
        listener,
        async move {
            let _ = stopped.await;
        },
        clauster_server::ServeOptions {
            clone_url_policy: UrlPolicy::real()
                .admitting(IpNet::parse("127.0.0.1").expect("a network")),
            ..clauster_server::ServeOptions::default()
        },
    ));
    let up = wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(base.trim_start_matches("http://")).ok()
    });
    assert!(up.is_some() && !served.is_finished(), "serve did not start");

    let clone = |name: &str| {
        post(
            "/api/projects/clone",
            json!({"name": name, "url": format!("git://127.0.0.1:{silent_port}/{name}.git")}),
        )
    };
    let mut jobs = Vec::new();
    for name in ["one", "two", "three"] {
        let answer = clone(name).send(&base).await;
        assert_eq!(answer.status, 202, "{}", answer.body);
        jobs.push(answer.json()["job_id"].as_str().expect("job").to_owned());
    }
    let refused = clone("four").send(&base).await;
    assert_eq!(
        (refused.status, refused.json()),
        (
            429,
            json!({"detail": "too many clones in progress; wait for one to finish"})
        )
    );
    let active = get("/api/projects/clone/active").send(&base).await.json();
    assert_eq!(active["jobs"].as_array().map(Vec::len), Some(3), "{active}");
    // The three running jobs make their own temporary directories; nothing is the fourth's.
    let fourth: Vec<String> = std::fs::read_dir(sandbox.projects_root())
        .expect("read")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("four"))
        .collect();
    assert!(fourth.is_empty(), "{fourth:?}");
    for job in &jobs {
        let cancelled = post(format!("/api/projects/clone/{job}/cancel"), json!({}))
            .send(&base)
            .await;
        assert_eq!(cancelled.status, 202, "{}", cancelled.body);
    }
    drop(stop);
}

// ---------------------------------------------------------------------------------------------
// Rows 44–50: authentication.

fn password_sandbox(extra: &str) -> Sandbox {
    let sandbox = usual_sandbox();
    let hash = hash_password(&sandbox, PASSWORD);
    write_config(
        &sandbox,
        &format!(
            "auth:\n  enabled: true\n  password_required: true\n  password_hash: '{hash}'\n  session_max_age_seconds: 3600\n{extra}"
        ),
    );
    sandbox
}

fn login(origin: Option<&str>, password: &str, forwarded_for: Option<&str>) -> Request {
    let mut request = Request::new(
        reqwest::Method::POST,
        "/login",
        Body::Form(password.to_owned()),
    );
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request
}

/// `POST /login` from the dashboard's own origin.
fn form_login(bench: &Bench, password: &str, forwarded_for: Option<&str>) -> Request {
    login(Some(&bench.server.base), password, forwarded_for)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

#[tokio::test]
async fn row_44_six_wrong_passwords() {
    let bench = Bench::start(password_sandbox(""), &[]);
    for _ in 0..5 {
        let wrong = bench
            .refuses(44, form_login(&bench, "nope", None), 401, &Detail::Any)
            .await;
        assert!(wrong.body.contains("Wrong password."), "{}", wrong.body);
    }
    let locked = bench
        .refuses(44, form_login(&bench, "nope", None), 429, &Detail::Any)
        .await;
    assert_eq!(locked.header("retry-after"), "301");
    assert!(locked.headers.get("set-cookie").is_none());
}

#[tokio::test]
async fn row_50_rotating_forwarded_for_does_not_escape_the_throttle() {
    let bench = Bench::start(password_sandbox(""), &[]);
    for attempt in 0..5 {
        let ip = format!("203.0.113.{attempt}");
        bench
            .refuses(50, form_login(&bench, "nope", Some(&ip)), 401, &Detail::Any)
            .await;
    }
    let locked = bench
        .refuses(
            50,
            form_login(&bench, PASSWORD, Some("198.51.100.7")),
            429,
            &Detail::Any,
        )
        .await;
    assert_eq!(locked.header("retry-after"), "301");
    assert!(
        locked.headers.get("set-cookie").is_none(),
        "the password was not even checked"
    );
}

/// A cookie signed with the server's own secret, as security.md §3 defines it.
fn forged_cookie(name: &str, secret: &[u8], epoch: u64, iat: u64) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = b64.encode(json!({"u": "admin", "e": epoch, "iat": iat}).to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("a key");
    mac.update(format!("clauster-session|{payload}").as_bytes());
    let mac = b64.encode(mac.finalize().into_bytes());
    format!("{name}=v1.{payload}.{mac}")
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one table, one server
async fn rows_45_to_48_login_origin_cookies_tokens_and_websockets() {
    let bench = Bench::start(password_sandbox(""), &[]);
    // Row 45: no Origin, a foreign Origin.
    bench
        .table(vec![
            (
                45,
                login(None, PASSWORD, None),
                403,
                is("origin check failed"),
            ),
            (
                45,
                login(Some("https://evil.example"), PASSWORD, None),
                403,
                is("origin check failed"),
            ),
        ])
        .await;

    // A real session to tamper with.
    let ok = form_login(&bench, PASSWORD, None)
        .send(&bench.server.base)
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = ok
        .header("set-cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let name = cookie.split('=').next().expect("name").to_owned();
    assert_eq!(
        get("/api/state")
            .header("cookie", &cookie)
            .send(&bench.server.base)
            .await
            .status,
        200
    );
    let mut flipped = cookie.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    let secret = std::fs::read(bench.sandbox.state_dir().join("session.secret")).expect("secret");
    let now = unix_now();
    let expired = forged_cookie(&name, &secret, 0, now - 7200);
    // The forgery is right: the same cookie, fresh, is accepted.
    let fresh = forged_cookie(&name, &secret, 0, now);
    assert_eq!(
        get("/api/state")
            .header("cookie", &fresh)
            .send(&bench.server.base)
            .await
            .status,
        200
    );
    for bad in [&flipped, &expired] {
        bench
            .refuses(
                46,
                get("/api/state").header("cookie", bad),
                401,
                &is("authentication required"),
            )
            .await;
        let page = bench
            .refuses(46, get("/").header("cookie", bad), 303, &Detail::Any)
            .await;
        assert_eq!(page.header("location"), "/login");
    }

    // Row 47: bearer tokens that are empty or unknown.
    for header in [
        "Bearer ",
        "Bearer clauster_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        bench
            .refuses(
                47,
                get("/api/instances").header("authorization", header),
                401,
                &is("authentication required"),
            )
            .await;
    }

    // Row 48: a WebSocket handshake with a foreign Origin, even with a valid cookie.
    for path in [
        "/ws/events",
        "/ws/bridge-log/alpha",
        "/ws/transcript/alpha/11111111-1111-4111-8111-111111111111",
    ] {
        let before = bench.world().await;
        let refused = handshake(
            &bench.server.ws,
            path,
            &[("cookie", &cookie), ("origin", "https://evil.example")],
        )
        .await;
        assert_eq!(refused, Err(403), "{path}");
        assert_eq!(before, bench.world().await);
    }

    // Row 46: a cookie issued before a logout.
    let logout = Request::new(reqwest::Method::POST, "/logout", Body::Empty)
        .header("cookie", &cookie)
        .header("origin", &bench.server.base)
        .send(&bench.server.base)
        .await;
    assert_eq!(logout.status, 303, "{}", logout.body);
    bench
        .refuses(
            46,
            get("/api/state").header("cookie", &cookie),
            401,
            &is("authentication required"),
        )
        .await;
    bench
        .refuses(
            46,
            get("/api/state").header("cookie", &fresh),
            401,
            &is("authentication required"),
        )
        .await;
}

#[tokio::test]
async fn row_48_websocket_origin_without_auth() {
    let bench = Bench::start(usual_sandbox(), &[]);
    for path in ["/ws/events", "/ws/transcript/alpha/x"] {
        let before = bench.world().await;
        let refused = handshake(
            &bench.server.ws,
            path,
            &[("origin", "https://evil.example")],
        )
        .await;
        assert_eq!(refused, Err(403), "{path}");
        assert_eq!(before, bench.world().await);
    }
}

/// A session transcript of `alpha` in the sandbox's Claude directory.
fn plant_transcript(sandbox: &Sandbox, session: &str) -> PathBuf {
    let canonical = canonical(&sandbox.projects_root().join("alpha"));
    let slug: String = canonical
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let dir = sandbox.home().join(".claude/projects").join(slug);
    std::fs::create_dir_all(&dir).expect("slug dir");
    let path = dir.join(format!("{session}.jsonl"));
    std::fs::write(
        &path,
        "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"hi\"}}\n",
    )
    .expect("write a transcript");
    path
}

/// The transcript viewer's routes (issue 21): names, sessions and agents that are not files
/// of the project, and paths that try to leave it, are refused without touching anything.
#[tokio::test]
async fn transcript_viewer_refusals() {
    const S: &str = "11111111-1111-4111-8111-111111111111";
    let sandbox = usual_sandbox();
    plant_transcript(&sandbox, S);
    let bench = Bench::start(sandbox, &[]);
    let not_found = || is("transcript not found");
    bench
        .table(vec![
            (
                0,
                get("/api/projects/..%2Falpha/transcripts/x"),
                422,
                invalid_name("../alpha"),
            ),
            (
                0,
                get("/api/projects/al%20pha/transcripts/x/tail"),
                422,
                invalid_name("al pha"),
            ),
            (
                0,
                get("/api/projects/alpha/transcripts/..%2F..%2Fetc%2Fpasswd"),
                404,
                not_found(),
            ),
            (
                0,
                get("/api/projects/alpha/transcripts/%2Fetc%2Fpasswd/tail"),
                404,
                not_found(),
            ),
            (
                0,
                get("/api/projects/alpha/transcripts/a%00b"),
                404,
                not_found(),
            ),
            (
                0,
                get(format!(
                    "/api/projects/alpha/transcripts/{S}?agent=..%2F..%2Fx"
                )),
                404,
                not_found(),
            ),
            (
                0,
                get(format!("/api/projects/beta/transcripts/{S}")),
                404,
                not_found(),
            ),
            (
                0,
                get(format!("/api/projects/alpha/transcripts/{S}?cursor=1e9")),
                422,
                is("cursor must be an integer"),
            ),
            (
                0,
                get(format!(
                    "/api/projects/alpha/transcripts/{S}/turns/0/items/..%2F..%2Fetc%2Fpasswd"
                )),
                404,
                is("no such item in this turn"),
            ),
            (
                0,
                get(format!(
                    "/api/projects/alpha/transcripts/{S}/turns/-1/items/0"
                )),
                404,
                is("no such turn"),
            ),
            (0, get(format!("/p/alpha/s/{S}%2F..")), 404, Detail::Any),
            (0, get("/p/..%2Falpha/transcripts"), 422, Detail::Any),
        ])
        .await;
}

/// With authentication on, the viewer's routes need it like every other, and its socket is
/// closed with 1008 when the cookie session is logged out.
#[tokio::test]
async fn transcript_viewer_with_auth_on() {
    use futures_util::StreamExt as _;
    const S: &str = "11111111-1111-4111-8111-111111111111";
    let sandbox = password_sandbox("");
    let path = plant_transcript(&sandbox, S);
    let bench = Bench::start(sandbox, &[]);
    bench
        .table(vec![
            (
                46,
                get(format!("/api/projects/alpha/transcripts/{S}")),
                401,
                is("authentication required"),
            ),
            (
                46,
                get(format!("/api/projects/alpha/transcripts/{S}/tail")),
                401,
                is("authentication required"),
            ),
        ])
        .await;
    let page = bench
        .refuses(46, get(format!("/p/alpha/s/{S}")), 303, &Detail::Any)
        .await;
    assert_eq!(page.header("location"), "/login");
    assert_eq!(
        handshake(&bench.server.ws, &format!("/ws/transcript/alpha/{S}"), &[]).await,
        Err(403)
    );

    let ok = form_login(&bench, PASSWORD, None)
        .send(&bench.server.base)
        .await;
    let cookie = ok
        .header("set-cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let mut request = format!("{}/ws/transcript/alpha/{S}?offset=0", bench.server.ws)
        .into_client_request()
        .expect("a ws request");
    request
        .headers_mut()
        .insert("cookie", cookie.parse().expect("a header"));
    request
        .headers_mut()
        .insert("origin", bench.server.base.parse().expect("a header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the socket opens");
    let first = tokio::time::timeout(Duration::from_secs(20), socket.next())
        .await
        .expect("the turns within 20 s")
        .expect("a message")
        .expect("a frame");
    assert!(
        first.to_text().expect("text").contains("\"turns\""),
        "{first:?}"
    );
    let logout = Request::new(reqwest::Method::POST, "/logout", Body::Empty)
        .header("cookie", &cookie)
        .header("origin", &bench.server.base)
        .send(&bench.server.base)
        .await;
    assert_eq!(logout.status, 303);
    let closed = loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a close within 20 s")
            .expect("a message")
            .expect("a frame");
        if let tungstenite::Message::Close(frame) = message {
            break frame.expect("a close frame");
        }
    };
    assert_eq!(
        (u16::from(closed.code), closed.reason.as_str()),
        (1008, "logged out")
    );
    drop(path);
}

/// A WebSocket handshake: `Ok(())` on upgrade, else the HTTP status of the refusal.
async fn handshake(ws: &str, path: &str, headers: &[(&str, &str)]) -> Result<(), u16> {
    let mut request = format!("{ws}{path}")
        .into_client_request()
        .expect("a ws request");
    for (name, value) in headers {
        request.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("a name"),
            reqwest::header::HeaderValue::from_str(value).expect("a value"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => Ok(()),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("unexpected handshake error: {other}"),
    }
}

fn proxy_signature(secret: &str, user: &str, t: u64, method: &str, path: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("a key");
    mac.update(format!("{user}:{t}:{method}:{path}").as_bytes());
    let hex = hex(&mac.finalize().into_bytes());
    format!("t={t},v1={hex}")
}

#[tokio::test]
async fn row_49_proxy_headers_that_do_not_authenticate() {
    let secret = "a-shared-secret-between-proxy-and-clauster";
    let sandbox = usual_sandbox();
    write_config(
        &sandbox,
        &format!(
            "auth:\n  enabled: true\n  reverse_proxy:\n    enabled: true\n    trusted_ips: ['127.0.0.1']\n    shared_secret: '{secret}'\n"
        ),
    );
    let bench = Bench::start(sandbox, &[]);
    let now = unix_now();
    let good = proxy_signature(secret, "alice", now, "GET", "/api/projects");
    assert_eq!(
        get("/api/projects")
            .header("remote-user", "alice")
            .header("x-proxy-auth", &good)
            .send(&bench.server.base)
            .await
            .status,
        200,
        "the signature scheme is right"
    );
    let stale = proxy_signature(secret, "alice", now - 3600, "GET", "/api/projects");
    let wrong = proxy_signature("another secret", "alice", now, "GET", "/api/projects");
    for signature in [stale, wrong] {
        bench
            .refuses(
                49,
                get("/api/projects")
                    .header("remote-user", "alice")
                    .header("x-proxy-auth", &signature),
                401,
                &is("authentication required"),
            )
            .await;
    }

    // From a peer outside `trusted_ips` the headers are ignored.
    let untrusted = usual_sandbox();
    write_config(
        &untrusted,
        "auth:\n  enabled: true\n  reverse_proxy:\n    enabled: true\n    trusted_ips: ['10.0.0.0/8']\n    require_hmac: false\n",
    );
    let other = Bench::start(untrusted, &[]);
    other
        .refuses(
            49,
            get("/api/projects")
                .header("remote-user", "alice")
                .header("x-forwarded-for", "10.0.0.1"),
            401,
            &is("authentication required"),
        )
        .await;
}

// ---------------------------------------------------------------------------------------------
// Rows 52, 56, 57.

#[tokio::test]
async fn rows_52_56_and_57_agents_bodies_and_discovery() {
    let sandbox = usual_sandbox();
    let root = sandbox.projects_root();
    for name in ["CON", "-x", ".git"] {
        std::fs::create_dir_all(root.join(name)).expect("create");
    }
    std::fs::write(root.join("notes"), "a regular file\n").expect("write");
    let bench = Bench::start(sandbox, &[]);
    bench
        .table(vec![
            (
                52,
                delete("/api/agents/..%2F.."),
                422,
                is("invalid job id '../..'; expected 8 lowercase hex characters"),
            ),
            (
                52,
                delete("/api/agents/ABCDEF12"),
                422,
                is("invalid job id 'ABCDEF12'; expected 8 lowercase hex characters"),
            ),
            (
                52,
                delete("/api/agents/abc"),
                422,
                is("invalid job id 'abc'; expected 8 lowercase hex characters"),
            ),
            (
                56,
                post_raw("/api/instances", &vec![b' '; 1024 * 1024 + 1]),
                413,
                is("request body too large"),
            ),
            (
                56,
                Request::new(
                    reqwest::Method::PUT,
                    "/api/projects/alpha/claude-md",
                    Body::Raw(vec![b' '; 512 * 1024 + 1]),
                ),
                413,
                is("request body too large"),
            ),
        ])
        .await;
    // Row 57: only valid directories are projects.
    let listed = get("/api/projects").send(&bench.server.base).await.json();
    let names: Vec<&str> = listed
        .as_array()
        .expect("projects")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["alpha", "beta", "untrusted"], "{listed}");
    for name in ["CON", "-x", ".git", "notes"] {
        let answer = get(format!("/api/projects/{name}/claude-md"))
            .send(&bench.server.base)
            .await;
        assert_eq!(answer.status, 404, "{name}: {}", answer.body);
    }
}

// ---------------------------------------------------------------------------------------------
// Rows 53, 54: configuration refusals of `clauster run`.

fn run_refused(sandbox: &Sandbox, args: &[&str]) -> String {
    let port = support::free_port().to_string();
    let output = sandbox
        .command(clauster_bin())
        .args(["run", "--port", &port, "--projects-root"])
        .arg(sandbox.projects_root())
        .args(args)
        .output()
        .expect("run clauster");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        !sandbox.state_dir().join("control.sock").exists(),
        "nothing is served"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn row_53_a_network_host_without_enforced_auth() {
    let sandbox = usual_sandbox();
    let before = std::fs::read(sandbox.home().join(".claude.json")).ok();
    let stderr = run_refused(&sandbox, &["--host", "0.0.0.0"]);
    assert_eq!(
        stderr.trim_end(),
        "clauster: config error: refusing non-loopback host='0.0.0.0' without enforced auth. \
         Set auth.enabled: true together with auth.password_required (+ auth.password_hash), \
         auth.reverse_proxy.enabled, or auth.api_token_hash — or, to opt out on a trusted LAN, \
         auth.allow_unauthenticated_network."
    );
    assert_eq!(
        std::fs::read(sandbox.home().join(".claude.json")).ok(),
        before
    );
}

#[test]
fn row_54_a_malformed_api_token_hash() {
    let sandbox = usual_sandbox();
    write_config(
        &sandbox,
        "auth:\n  enabled: true\n  api_token_hash: \"ABC\"\n",
    );
    let stderr = run_refused(&sandbox, &[]);
    assert!(stderr.starts_with("clauster: config error: "), "{stderr}");
    assert!(stderr.contains("auth.api_token_hash"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Row 55: a planted symlink where the next log set goes.

#[tokio::test]
async fn row_55_a_planted_symlink_at_the_next_log_path() {
    let sandbox = usual_sandbox();
    let target = sandbox.dir.path().join("target.txt");
    std::fs::write(&target, "do not touch\n").expect("write the target");
    let bench = Bench::start(sandbox, &[]);
    // The first launch of this server is `alpha-<epoch ms>-1`: every name of the next
    // seconds is a link to the target, at each file of the set.
    let logs = bench.sandbox.state_dir().join("logs");
    std::fs::create_dir_all(&logs).expect("logs");
    let start = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("ms fit");
    for ms in start..start + 20_000 {
        for file in ["log", "stderr.log"] {
            std::os::unix::fs::symlink(&target, logs.join(format!("alpha-{ms:013}-1.{file}")))
                .expect("plant a link");
        }
    }
    let (status, body) = bench.server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error_kind"], "launch_failed", "{body}");
    assert_eq!(body["alive"], false, "{body}");
    assert_eq!(
        std::fs::read_to_string(&target).expect("the target"),
        "do not touch\n"
    );
    assert!(bench.launches().is_empty(), "no bridge was launched");
}

// ---------------------------------------------------------------------------------------------
// Row 59: the control socket authenticates by its file mode.

#[test]
fn row_59_the_cli_over_the_control_socket_with_auth_on_and_no_ui() {
    let sandbox = usual_sandbox();
    let crashy = sandbox.project("crashy", &[]);
    fake_mode(&crashy, "crash");
    let alpha = sandbox.projects_root().join("alpha");
    trust_all(&sandbox, &[&alpha, &crashy]);
    let hash = hash_password(&sandbox, PASSWORD);
    write_config(
        &sandbox,
        &format!(
            "auth:\n  enabled: true\n  password_required: true\n  password_hash: '{hash}'\nui:\n  enabled: false\n"
        ),
    );
    let bench = Bench::start(sandbox, &[]);
    // Over TCP the same request is refused.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let refused = runtime
        .block_on(post("/api/instances", json!({"project": "crashy"})).send(&bench.server.base));
    assert_eq!(refused.status, 403, "{}", refused.body);
    let cli = |args: &[&str]| {
        let output = bench
            .sandbox
            .command(clauster_bin())
            .args(args)
            .output()
            .expect("run the CLI");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, out, err) = cli(&["start", "crashy", "--json"]);
    assert!(code.is_some(), "{out}{err}");
    let started: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    let id = started["instance_id"]
        .as_str()
        .unwrap_or_else(|| panic!("start answered: {out}{err}"))
        .to_owned();
    let (code, out, err) = cli(&["forget", &id]);
    assert_eq!(code, Some(0), "{out}{err}");
    let socket = bench.socket();
    let (status, listed) = over_control_socket(&socket, "GET", "/api/instances", "");
    assert_eq!((status, listed.as_str()), (200, "[]"));
}

// ---------------------------------------------------------------------------------------------
// Rows 60–75: the second security audit (issue 16). The rows that need a flood, a second
// user or a wrapped server are run at full size by `attacks.rs` (named per row below); the
// rest are here with the world compared before and after.

#[tokio::test]
#[allow(clippy::too_many_lines)] // one table
async fn rows_62_to_64_and_72_to_74_the_second_audit() {
    let sandbox = usual_sandbox();
    let alpha = sandbox.projects_root().join("alpha");
    let beta = sandbox.projects_root().join("beta");
    std::fs::write(beta.join(".mcp.json"), vec![b' '; 2 * 1024 * 1024]).expect("write");
    std::fs::write(beta.join("CLAUDE.md"), vec![b'x'; 70_000]).expect("write");
    let bench = Bench::start(sandbox, &[]);
    // Planted after startup: only the request below looks at it.
    std::os::unix::fs::symlink("/dev/zero", alpha.join(".mcp.json")).expect("symlink");

    // Row 62: `.mcp.json` linked out of the project, or over the 1 MiB cap: a warning, and
    // nothing read.
    for (project, expected) in [
        (
            "alpha",
            ".mcp.json resolves outside the project directory; Clauster does not read it",
        ),
        (
            "beta",
            ".mcp.json is 2097152 bytes, over the 1048576 byte cap; Clauster does not read it",
        ),
    ] {
        let answer = bench
            .refuses(
                62,
                get(format!("/api/projects/{project}/preflight")),
                200,
                &Detail::Any,
            )
            .await;
        let check = answer.json()["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == "mcp-approval")
            .cloned()
            .expect("an mcp-approval check");
        assert_eq!(check["status"], "warn", "row 62 {project}");
        assert_eq!(check["detail"], expected, "row 62 {project}");
    }

    let long = "a".repeat(3000);
    let mut cases = vec![
        // Row 63: a CLAUDE.md over the cap on disk.
        (
            63,
            get("/api/projects/beta/claude-md"),
            413,
            is("CLAUDE.md is 70000 bytes, over the 65536 byte cap"),
        ),
        // Row 73: references are bounded and echoed through the echo rule.
        (
            73,
            get(format!("/api/instances/{long}")),
            404,
            is(format!("no such instance: {}", "a".repeat(80))),
        ),
        (
            73,
            get("/api/instances/ab%E2%80%AEcd"),
            404,
            is("no such instance: ab\\u{202e}cd"),
        ),
        (
            73,
            delete(format!("/api/instances/{long}")),
            404,
            starts("no managed instance"),
        ),
    ];
    // Row 73 (release review): a query value is echoed bounded too, not only escaped.
    let since = format!("\u{1b}{}", "a".repeat(3000));
    cases.push((
        73,
        get(format!(
            "/api/projects/alpha/usage/daily?since=%1B{}",
            "a".repeat(3000)
        )),
        422,
        is(format!(
            "since must be a date like 2026-11-25 (YYYY-MM-DD, UTC), got '{}'",
            clauster_core::names::echo(&since)
        )),
    ));
    // Row 64: a Host that is not this server's, on any route.
    for path in ["/api/state", "/healthz", "/"] {
        cases.push((
            64,
            get(path).header("host", "evil.example:7621"),
            421,
            is(
                "Host 'evil.example' is not one this server answers to; add its origin to \
                auth.allowed_origins",
            ),
        ));
    }
    // Row 72: translated IPv6 spellings of loopback and link-local.
    for (host, ip) in [
        ("[64:ff9b:1::7f00:1]", "64:ff9b:1::7f00:1"),
        ("[::ffff:0:a9fe:a9fe]", "169.254.169.254"),
        (
            "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
        ),
    ] {
        cases.push((
            72,
            post(
                "/api/projects/clone",
                json!({"name": "x", "url": format!("https://{host}/x.git")}),
            ),
            403,
            starts(format!(
                "host '{}' resolves to blocked address {ip} ",
                host.trim_matches(['[', ']'])
            )),
        ));
    }
    // Row 74: invisible formatting characters in what reaches claude's argv.
    for (field, value) in [("rc_name", "deploy\u{202e}gnp"), ("model", "opus\u{200b}")] {
        cases.push((
            74,
            post(
                "/api/agents",
                json!({"project": "alpha", "prompt": "hi", field: value}),
            ),
            422,
            is(format!(
                "{field} must not start with '-' or contain control or invisible characters"
            )),
        ));
    }
    bench.table(cases).await;
}

/// Row 67: a forward-auth caller with a foreign `Origin` (a cross-site `text/plain` form
/// through the proxy) is refused; one without an `Origin` (a script) passes the rule.
#[tokio::test]
async fn row_67_forward_auth_is_held_to_a_present_origin() {
    let sandbox = usual_sandbox();
    write_config(
        &sandbox,
        "auth:\n  enabled: true\n  allowed_origins: ['https://dash.example.net']\n  reverse_proxy:\n    enabled: true\n    trusted_ips: ['127.0.0.1']\n    require_hmac: false\n",
    );
    let bench = Bench::start(sandbox, &[]);
    let form = |origin: Option<&str>| {
        let request = Request::new(
            reqwest::Method::POST,
            "/api/instances",
            Body::Raw(br#"{"project": "alpha"}"#.to_vec()),
        )
        .header("remote-user", "alice");
        match origin {
            Some(origin) => request.header("origin", origin),
            None => request,
        }
    };
    bench
        .refuses(
            67,
            form(Some("https://evil.example")),
            403,
            &is("origin check failed"),
        )
        .await;
    let scripted = form(None).send(&bench.server.base).await;
    assert_eq!(scripted.status, 201, "row 67, no Origin: {}", scripted.body);
}

/// Row 78: the dashboard's `sort` and `q` come from the URL (issue 19): an unknown sort is
/// the default order, and the search text is cut and never reaches the page as markup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_78_the_dashboard_url_carries_no_markup_and_no_unknown_sort() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    sandbox.project("beta", &[]);
    let server = start_server(&sandbox, None, &[], &[]);
    let page = |query: String| {
        let base = server.base.clone();
        async move {
            let response = reqwest::get(format!("{base}/?{query}")).await.unwrap();
            assert_eq!(response.status(), 200, "row 78: {query}");
            response.text().await.unwrap()
        }
    };
    let html = page("sort=..%2F..%2Fetc&q=%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_owned()).await;
    assert!(
        !html.contains("<script>alert(1)"),
        "row 78: markup from q reached the page"
    );
    assert!(
        html.contains("\"sort\":\"\""),
        "row 78: an unknown sort was kept"
    );
    let html = page(format!("q={}", "a".repeat(5_000))).await;
    assert!(
        html.contains(&format!("\"q\":\"{}\"", "a".repeat(200))),
        "row 78: q not cut"
    );
    assert!(
        !html.contains(&"a".repeat(201)),
        "row 78: q longer than 200 characters"
    );
}

/// Row 79: the readiness routes (issue 20) are behind the gate like every API route: no
/// credentials → 401; a session cookie with a foreign `Origin` on the Re-check → 403, and
/// neither runs a probe.
#[tokio::test]
async fn row_79_readiness_routes_need_auth_and_an_allowed_origin() {
    let bench = Bench::start(password_sandbox(""), &[]);
    bench
        .table(vec![
            (
                79,
                get("/api/readiness"),
                401,
                is("authentication required"),
            ),
            (
                79,
                Request::new(reqwest::Method::POST, "/api/readiness/recheck", Body::Empty)
                    .header("origin", &bench.server.base),
                401,
                is("authentication required"),
            ),
            // A state-changing request without `Origin` is refused before anything else.
            (
                79,
                Request::new(reqwest::Method::POST, "/api/readiness/recheck", Body::Empty),
                403,
                is("origin check failed"),
            ),
        ])
        .await;
    let ok = form_login(&bench, PASSWORD, None)
        .send(&bench.server.base)
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = ok
        .header("set-cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    bench
        .refuses(
            79,
            Request::new(reqwest::Method::POST, "/api/readiness/recheck", Body::Empty)
                .header("cookie", &cookie)
                .header("origin", "https://evil.example"),
            403,
            &is("origin check failed"),
        )
        .await;
    // The same request from the dashboard's own origin is served.
    let served = Request::new(reqwest::Method::POST, "/api/readiness/recheck", Body::Empty)
        .header("cookie", &cookie)
        .header("origin", &bench.server.base)
        .send(&bench.server.base)
        .await;
    assert_eq!(served.status, 200, "{}", served.body);
    assert!(served.json()["level"].is_string(), "{}", served.body);
}

/// Row 80: the sign-in routes (issue 20) with auth on: no credentials → 401, a foreign
/// `Origin` → 403, a body over the limit → 413, a code over 4 096 characters → 422 — and
/// none of them starts or types into a `claude`.
#[tokio::test]
async fn row_80_sign_in_routes_refuse_before_running_anything() {
    let bench = Bench::start(password_sandbox("login_shepherd:\n  enabled: true\n"), &[]);
    let own = bench.server.base.clone();
    let start = || post("/api/login-shepherd/start", json!({"mode": "login"}));
    bench
        .table(vec![
            (
                80,
                start().header("origin", &own),
                401,
                is("authentication required"),
            ),
            (
                80,
                get("/api/login-shepherd/state"),
                401,
                is("authentication required"),
            ),
        ])
        .await;
    let ok = form_login(&bench, PASSWORD, None)
        .send(&bench.server.base)
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = ok
        .header("set-cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    bench
        .table(vec![
            (
                80,
                start()
                    .header("cookie", &cookie)
                    .header("origin", "https://evil.example"),
                403,
                is("origin check failed"),
            ),
            (
                80,
                Request::new(
                    reqwest::Method::POST,
                    "/api/login-shepherd/code",
                    Body::Raw(vec![b' '; 2 * 1024 * 1024]),
                )
                .header("cookie", &cookie)
                .header("origin", &own)
                .header("content-type", "application/json"),
                413,
                is("request body too large"),
            ),
            (
                80,
                post(
                    "/api/login-shepherd/code",
                    json!({"code": "x".repeat(5000)}),
                )
                .header("cookie", &cookie)
                .header("origin", &own),
                422,
                is("code is longer than 4096 characters"),
            ),
        ])
        .await;
}

/// Rows 130–133: the sign-in routes added for the long-lived token, the sign-out and the QR
/// code (issue 20): the token mode without a fresh step-up → 403 `reauth_required`; a sign-out
/// without the typed words → 422; sign-out and QR without credentials → 401, with a foreign
/// `Origin` → 403; the QR code with no flow → 409. None of them runs `claude`.
#[tokio::test]
async fn rows_130_133_the_token_sign_out_and_qr_routes_refuse_before_running_anything() {
    let bench = Bench::start(
        password_sandbox("login_shepherd:\n  enabled: true\n  allow_setup_token: true\n"),
        &[],
    );
    let own = bench.server.base.clone();
    let logout = |body: Value| post("/api/login-shepherd/logout", body);
    bench
        .table(vec![
            (
                132,
                logout(json!({"confirm": "sign out"})).header("origin", &own),
                401,
                is("authentication required"),
            ),
            (
                132,
                get("/api/login-shepherd/qr"),
                401,
                is("authentication required"),
            ),
        ])
        .await;
    let ok = form_login(&bench, PASSWORD, None)
        .send(&bench.server.base)
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = ok
        .header("set-cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let with = |request: Request| request.header("cookie", &cookie).header("origin", &own);
    bench
        .table(vec![
            (
                130,
                with(post(
                    "/api/login-shepherd/start",
                    json!({"mode": "setup-token"}),
                )),
                403,
                is("reauth_required"),
            ),
            (
                131,
                with(logout(json!({}))),
                422,
                is("type \"sign out\" in confirm to sign claude out"),
            ),
            (
                131,
                with(logout(json!({"confirm": "yes"}))),
                422,
                is("type \"sign out\" in confirm to sign claude out"),
            ),
            (
                131,
                with(logout(json!({"confirm": 1}))),
                422,
                is("confirm must be a string"),
            ),
            (
                132,
                logout(json!({"confirm": "sign out"}))
                    .header("cookie", &cookie)
                    .header("origin", "https://evil.example"),
                403,
                is("origin check failed"),
            ),
            (
                133,
                with(get("/api/login-shepherd/qr")),
                409,
                is("no sign-in is in progress"),
            ),
        ])
        .await;
    let argv = std::fs::read_to_string(&bench.argv_log).unwrap_or_default();
    assert!(
        !argv.contains("setup-token") && !argv.contains("logout"),
        "claude was run: {argv}"
    );
}

// ---------------------------------------------------------------------------------------------
// Rows 81–82: the notification routes (issue 22). Row 83 (a webhook URL that is not HTTP) is
// a config refusal tested in clauster-core; row 84 (`block_private_targets`) in
// `notifications.rs`.

#[tokio::test]
async fn rows_81_82_the_project_mute_route() {
    let bench = Bench::start(usual_sandbox(), &[]);
    let mute = |name: &str| format!("/api/projects/{name}/notifications");
    bench
        .table(vec![
            (
                81,
                put(mute("alpha"), json!({})),
                422,
                is("muted is required (true or false)"),
            ),
            (
                81,
                put(mute("alpha"), json!({"muted": "yes"})),
                422,
                is("muted must be a boolean"),
            ),
            (
                81,
                put(mute("alpha"), json!([true])),
                422,
                is("request body must be a JSON object"),
            ),
            (
                82,
                put(mute("nope"), json!({"muted": true})),
                404,
                is("project 'nope' not found"),
            ),
            (
                82,
                put(mute("-rf"), json!({"muted": true})),
                422,
                invalid_name("-rf"),
            ),
        ])
        .await;
}

// ---------------------------------------------------------------------------------------------
// Rows 86–90: step-up re-authentication (`POST /api/reauth`, security.md §3.2). Row 89 (a
// privileged route without a fresh step-up) is tested where the extractor lives
// (`auth::elevation`), on a route in row 98 (`/api/config/advanced`) and through the
// config-write routes (`config_write.rs`).

/// `POST /api/reauth` from the dashboard's own origin with `cookie` and a raw body.
fn reauth(bench: &Bench, cookie: Option<&str>, body: &[u8]) -> Request {
    let mut request = post_raw("/api/reauth", body).header("origin", &bench.server.base.clone());
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request
}

#[tokio::test]
async fn rows_86_to_90_step_up_refusals() {
    let bench = Bench::start(password_sandbox(""), &[]);
    let password = json!({ "password": PASSWORD }).to_string();
    // Row 86: no session, the right password — refused before it is checked.
    bench
        .refuses(
            86,
            reauth(&bench, None, password.as_bytes()),
            401,
            &is("authentication required"),
        )
        .await;
    let ok = form_login(&bench, PASSWORD, None)
        .send(&bench.server.base)
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let session = ok
        .header("set-cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    // Row 90: over the 4 KiB body cap, before any hashing (and not counted).
    let big = format!("{{\"password\": \"{}\"}}", "x".repeat(5000));
    bench
        .refuses(
            90,
            reauth(&bench, Some(&session), big.as_bytes()),
            413,
            &is("request body too large"),
        )
        .await;
    // Row 87: a wrong password, and bodies that carry no password string: 401, no cookie.
    for body in [
        json!({ "password": "nope" }).to_string(),
        "not json".to_owned(),
        json!([PASSWORD]).to_string(),
        json!({ "password": 5 }).to_string(),
        String::new(),
    ] {
        let answer = bench
            .refuses(
                87,
                reauth(&bench, Some(&session), body.as_bytes()),
                401,
                &is("incorrect password"),
            )
            .await;
        assert!(answer.headers.get("set-cookie").is_none(), "{body}");
    }
    // Row 88: those five failures lock the sign-in throttle the step-up shares: the right
    // password now gets 429 at once, at /api/reauth and at /login alike.
    let locked = bench
        .refuses(
            88,
            reauth(&bench, Some(&session), password.as_bytes()),
            429,
            &is("too many attempts"),
        )
        .await;
    assert_eq!(locked.header("retry-after"), "301");
    assert!(locked.headers.get("set-cookie").is_none());
    bench
        .refuses(88, form_login(&bench, PASSWORD, None), 429, &Detail::Any)
        .await;
}

// ---------------------------------------------------------------------------------------------
// Rows 140–147: the Web Push routes (issue 22, notifications.md §8). Rows 148 (the device
// limit) and 149 (a gone subscription) are in `push.rs`, with a push-service double.

/// A public key on P-256 (RFC 8291 §5's `ua_public`) and a 16-byte secret.
const UA_PUBLIC: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const UA_AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

fn subscription(endpoint: &str) -> Value {
    json!({"endpoint": endpoint, "keys": {"p256dh": UA_PUBLIC, "auth": UA_AUTH}})
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one table of refusals, then the channel turned off
async fn rows_140_to_147_push_subscriptions() {
    let bench = Bench::start(
        usual_sandbox(),
        &[("CLAUSTER_NOTIFICATIONS_BROWSER_ENABLED", "true")],
    );
    let subs = "/api/push/subscriptions";
    let good = "https://push.example.net/send/abc";
    let with = |field: &str, value: Value| {
        let mut body = subscription(good);
        body[field] = value;
        body
    };
    let with_key = |field: &str, value: Value| {
        let mut body = subscription(good);
        body["keys"][field] = value;
        body
    };
    let https_only = "endpoint must be an https:// URL (http:// only to a loopback address)";
    let no_credentials = "endpoint must not carry credentials or a fragment";
    let p256dh = "keys.p256dh must be a P-256 public key: 65 bytes, uncompressed, base64url";
    let auth = "keys.auth must be the 16-byte authentication secret, base64url";
    // 65 bytes that start like a point but lie off the curve.
    let off_curve = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([4u8; 65]);
    bench
        .table(vec![
            (
                140,
                post(subs, json!([])),
                422,
                is("request body must be a JSON object"),
            ),
            (
                140,
                post(subs, json!({})),
                422,
                is("endpoint is required: the push service URL"),
            ),
            (
                140,
                post(subs, json!({"endpoint": 5})),
                422,
                is("endpoint must be a string"),
            ),
            (
                141,
                post(subs, subscription("ftp://push.example.net/x")),
                422,
                is(https_only),
            ),
            (
                141,
                post(subs, subscription("http://push.example.net/x")),
                422,
                is(https_only),
            ),
            (
                141,
                post(subs, subscription("https://u:p@push.example.net/x")),
                422,
                is(no_credentials),
            ),
            (
                141,
                post(subs, subscription("https://push.example.net/x#frag")),
                422,
                is(no_credentials),
            ),
            (
                141,
                post(subs, subscription("push.example.net/x")),
                422,
                is("endpoint must be an absolute URL"),
            ),
            (
                141,
                post(
                    subs,
                    subscription(&format!("https://push.example.net/{}", "x".repeat(2100))),
                ),
                422,
                is("endpoint is longer than 2048 bytes"),
            ),
            (
                142,
                post(subs, json!({"endpoint": good})),
                422,
                starts("keys is required: an object with p256dh and auth"),
            ),
            (
                142,
                post(subs, with_key("p256dh", json!("AAAA"))),
                422,
                is(p256dh),
            ),
            (
                142,
                post(subs, with_key("p256dh", json!(off_curve))),
                422,
                is("keys.p256dh is not a point on P-256"),
            ),
            (
                143,
                post(subs, with_key("auth", json!(null))),
                422,
                is("keys.auth is required"),
            ),
            (
                143,
                post(subs, with_key("auth", json!("c2hvcnQ"))),
                422,
                is(auth),
            ),
            (
                144,
                post(subs, with("device", json!("x".repeat(81)))),
                422,
                is("device must be at most 80 characters, without control characters"),
            ),
            (
                144,
                post(subs, with("device", json!("phone\u{1b}[2J"))),
                422,
                is("device must be at most 80 characters, without control characters"),
            ),
            (
                145,
                post(subs, with("id", json!("../x"))),
                422,
                is("id must be an id this server gave"),
            ),
            (
                147,
                delete(format!("{subs}/zzz")),
                404,
                is("no push device 'zzz'"),
            ),
            (
                147,
                delete(format!("{subs}/6f1d2c7e-8a54-4a57-9a0e-1c2b3d4e5f60")),
                404,
                is("no push device '6f1d2c7e-8a54-4a57-9a0e-1c2b3d4e5f60'"),
            ),
        ])
        .await;
    let listed = get(subs).send(&bench.server.base).await;
    assert_eq!(
        listed.json()["subscriptions"],
        json!([]),
        "nothing was stored"
    );

    // Row 146: with the browser channel off, nothing is subscribed and no key is made.
    let off = Bench::start(usual_sandbox(), &[]);
    let refused = "Web Push is off: set notifications.browser_enabled to true";
    off.table(vec![
        (146, post(subs, subscription(good)), 409, is(refused)),
        (146, get("/api/push/vapid-public-key"), 409, is(refused)),
    ])
    .await;
    assert!(
        !off.sandbox
            .state_dir()
            .join("vapid-private-key.pem")
            .exists(),
        "no VAPID key was made"
    );
}

// ---------------------------------------------------------------------------------------------
// Rows 120–126: the restart-policy route (issue 25, bridges.md §7.9, http-api.md §5.3).

#[tokio::test]
async fn rows_120_to_126_the_project_policy_route() {
    let bench = Bench::start(usual_sandbox(), &[]);
    let policy = |name: &str| format!("/api/projects/{name}/policy");
    bench
        .table(vec![
            (
                120,
                put(policy("alpha"), json!({"restart": "always"})),
                422,
                is("invalid restart policy 'always'; expected never or on-failure"),
            ),
            (
                121,
                put(policy("alpha"), json!({"keep_running": "yes"})),
                422,
                is("keep_running must be a boolean"),
            ),
            (
                121,
                put(policy("alpha"), json!({"restart": 5})),
                422,
                is("restart must be a string"),
            ),
            (
                122,
                put(policy("alpha"), json!({"wanted": true})),
                422,
                is("unknown field 'wanted'; a policy has restart and keep_running"),
            ),
            (
                123,
                put(policy("alpha"), json!([true])),
                422,
                is("request body must be a JSON object"),
            ),
            (
                123,
                put(policy("alpha"), json!({})),
                422,
                is(
                    "nothing to change: give restart (never or on-failure) and/or keep_running (true or false)",
                ),
            ),
            (
                124,
                put(policy("nope"), json!({"keep_running": true})),
                404,
                is("project 'nope' not found"),
            ),
            (
                124,
                get(policy("nope")),
                404,
                is("project 'nope' not found"),
            ),
            (
                125,
                put(policy("-rf"), json!({"keep_running": true})),
                422,
                invalid_name("-rf"),
            ),
            (
                126,
                put(
                    policy("alpha"),
                    json!({"restart": format!("on-failure\u{202e}{}", "x".repeat(3000))}),
                ),
                422,
                is(format!(
                    "invalid restart policy '{}'; expected never or on-failure",
                    clauster_core::names::echo(&format!("on-failure\u{202e}{}", "x".repeat(3000)))
                )),
            ),
        ])
        .await;
    // Nothing of the refused requests was stored.
    let answer = get(policy("alpha")).send(&bench.server.base).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.json(),
        json!({"project": "alpha", "restart": "never", "keep_running": false, "wanted": true})
    );
}

// ---------------------------------------------------------------------------------------------
// Rows 91–98: the settings editor (`/api/config`, `/api/config/advanced`, config.md §8).
// Every refusal leaves `clauster.yml`, its backups and the audit log as they were.

const SETTINGS_FILE: &str = "# the operator's notes\nusage:\n  fx_rate: 1.0   # by hand\n";

async fn settings_hash(bench: &Bench) -> String {
    let answer = get("/api/config").send(&bench.server.base).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["hash"].as_str().expect("a hash").to_owned()
}

#[tokio::test]
async fn rows_91_to_95_settings_editor_refusals() {
    let sandbox = usual_sandbox();
    write_config(&sandbox, SETTINGS_FILE);
    let bench = Bench::start(sandbox, &[]);
    let hash = settings_hash(&bench).await;
    let edit =
        |key: &str, value: Value| put("/api/config", json!({"edits": {key: value}, "hash": hash}));
    let outside = |key: &str| {
        is(format!(
            "\"{key}\" is not an editable setting here; GET /api/config lists those that are"
        ))
    };
    bench
        .table(vec![
            // Row 91: keys outside the list, secret or not, known or not.
            (91, edit("auth.enabled", json!(false)), 400, outside("auth.enabled")),
            (91, edit("host", json!("0.0.0.0")), 400, outside("host")),
            (91, edit("claude.binary", json!("/bin/sh")), 400, outside("claude.binary")),
            (91, edit("webhooks.urls", json!([])), 400, outside("webhooks.urls")),
            (91, edit("clone.enabled", json!(true)), 400, outside("clone.enabled")),
            (91, edit("usage", json!({})), 400, outside("usage")),
            // Row 92: the body's shape.
            (92, put("/api/config", json!({"hash": hash})), 422, is("edits is required")),
            (
                92,
                put("/api/config", json!({"edits": {"usage.fx_rate": 2.0}})),
                422,
                is("hash is required: send the hash of the GET this edit is based on"),
            ),
            (
                92,
                put("/api/config", json!({"edits": [], "hash": hash})),
                422,
                is("edits must be an object of dotted keys to values"),
            ),
            (
                92,
                put("/api/config", json!({"edits": {}, "hash": hash})),
                422,
                is("edits must name at least one key"),
            ),
            (92, put("/api/config", json!([1])), 422, is("request body must be a JSON object")),
            // Row 93: types and ranges.
            (
                93,
                edit("instance_defaults.capacity", json!(0)),
                422,
                is("instance_defaults.capacity must be at least 1, got 0"),
            ),
            (
                93,
                edit("claude.startup_grace_seconds", json!(0)),
                422,
                is("claude.startup_grace_seconds must be above 0, got 0"),
            ),
            (
                93,
                edit("usage.currency", json!("EUR\nauth: {enabled: false}")),
                422,
                is("usage.currency must be one line of at most 200 characters"),
            ),
            (93, edit("usage.mode", json!("never")), 422, is("usage.mode must be one of cost, tokens, off")),
            (93, edit("metrics.show_disk", json!("yes")), 422, is("metrics.show_disk must be a boolean")),
            // Row 94: a value only the loader's rules refuse.
            (
                94,
                edit("usage.currency", json!("EURO")),
                422,
                starts("the edited configuration is not valid: usage.currency must be a three-letter currency code"),
            ),
            // Row 95: the file changed since the GET.
            (
                95,
                put("/api/config", json!({"edits": {"usage.fx_rate": 2.0}, "hash": "stale"})),
                409,
                is("clauster.yml changed on disk since it was loaded; reload to see the new file, or save again over it"),
            ),
        ])
        .await;
}

/// Rows 96–97: files the settings editor will not write, and no file at all.
#[tokio::test]
async fn rows_96_97_settings_files_the_editor_will_not_write() {
    let sandbox = usual_sandbox();
    write_config(&sandbox, SETTINGS_FILE);
    let bench = Bench::start(sandbox, &[]);
    // Row 96: the edited key is in flow style, behind an anchor, or the file does not parse.
    for (text, reason) in [
        (
            "usage: {fx_rate: 1.0}\n",
            "usage.fx_rate is written in YAML flow style",
        ),
        (
            "base: &b\n  fx_rate: 2.0\nusage: *b\n",
            "usage.fx_rate is behind a YAML anchor",
        ),
        (
            "usage:\n  fx_rate: [1.0\n",
            "clauster.yml does not parse as YAML",
        ),
    ] {
        std::fs::write(bench.sandbox.dir.path().join("clauster.yml"), text).expect("write");
        let answer = get("/api/config").send(&bench.server.base).await;
        assert_eq!(
            answer.status, 200,
            "a file that does not edit still opens: {}",
            answer.body
        );
        let hash = answer.json()["hash"].as_str().expect("a hash").to_owned();
        bench
            .refuses(
                96,
                put(
                    "/api/config",
                    json!({"edits": {"usage.fx_rate": 2.0}, "hash": hash}),
                ),
                409,
                &starts(reason),
            )
            .await;
    }
    // Row 97: the configuration came from no file (built-in defaults).
    let bare = Bench::start(usual_sandbox(), &[]);
    let answer = get("/api/config").send(&bare.server.base).await;
    assert_eq!(answer.json()["hash"], Value::Null, "{}", answer.body);
    bare.refuses(
        97,
        put(
            "/api/config",
            json!({"edits": {"usage.fx_rate": 2.0}, "hash": "x"}),
        ),
        409,
        &is("config has no on-disk source to edit"),
    )
    .await;
}

/// Row 98: the advanced list is invisible without `config_write.enabled`, and needs the
/// step-up from a cookie session; its own list only.
#[tokio::test]
async fn row_98_the_advanced_settings_are_gated() {
    let off = Bench::start(password_sandbox(""), &[]);
    let session = session_cookie(&off).await;
    for request in [
        get("/api/config/advanced"),
        put(
            "/api/config/advanced",
            json!({"edits": {"clone.max_mb": 5}, "hash": "x"}),
        ),
    ] {
        off.refuses(
            98,
            request
                .header("cookie", &session)
                .header("origin", &off.server.base.clone()),
            404,
            &is("Not Found"),
        )
        .await;
    }
    let on = Bench::start(password_sandbox("config_write:\n  enabled: true\n"), &[]);
    let session = session_cookie(&on).await;
    let origin = on.server.base.clone();
    for request in [
        get("/api/config/advanced"),
        put(
            "/api/config/advanced",
            json!({"edits": {"clone.max_mb": 5}, "hash": "x"}),
        ),
    ] {
        on.refuses(
            98,
            request.header("cookie", &session).header("origin", &origin),
            403,
            &is("reauth_required"),
        )
        .await;
    }
    // Stepped up: the basic list's keys (and anything else) are still outside it.
    let ok = reauth(
        &on,
        Some(&session),
        json!({ "password": PASSWORD }).to_string().as_bytes(),
    )
    .send(&on.server.base)
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let elevation = ok
        .header("set-cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let cookies = format!("{session}; {elevation}");
    let view = get("/api/config/advanced")
        .header("cookie", &cookies)
        .send(&on.server.base)
        .await;
    assert_eq!(view.status, 200, "{}", view.body);
    let hash = view.json()["hash"].as_str().expect("a hash").to_owned();
    for key in ["usage.fx_rate", "auth.enabled", "webhooks.secret"] {
        on.refuses(
            98,
            put("/api/config/advanced", json!({"edits": {key: true}, "hash": hash}))
                .header("cookie", &cookies)
                .header("origin", &origin),
            400,
            &is(format!(
                "\"{key}\" is not an editable setting here; GET /api/config/advanced lists those that are"
            )),
        )
        .await;
    }
    on.refuses(
        98,
        put(
            "/api/config/advanced",
            json!({"edits": {"clone.allowed_private_cidrs": ["not-a-cidr"]}, "hash": hash}),
        )
        .header("cookie", &cookies)
        .header("origin", &origin),
        422,
        &starts("the edited configuration is not valid: clone.allowed_private_cidrs"),
    )
    .await;
}

/// Signs in with the password: the session cookie (`name=value`).
async fn session_cookie(bench: &Bench) -> String {
    let ok = form_login(bench, PASSWORD, None)
        .send(&bench.server.base)
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    ok.header("set-cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned()
}

/// Row 150: `GET /api/projects/{name}/row` (1.3.2's card fragment, not served here) checks
/// the name first like every project route: an invalid one is 422, an unknown one 404 with
/// the project-not-found wording, and a known one is still 404 (issue 18).
#[tokio::test]
async fn row_150_the_row_fragment_route_checks_the_name_first() {
    let bench = Bench::start(usual_sandbox(), &[]);
    bench
        .table(vec![
            (
                150,
                get("/api/projects/bad%20name!/row"),
                422,
                invalid_name("bad name!"),
            ),
            (
                150,
                get("/api/projects/ghostproj/row"),
                404,
                is("project 'ghostproj' not found"),
            ),
            (
                150,
                get("/api/projects/alpha/row"),
                404,
                is("project rows are rendered by the dashboard in the browser; this route is not served"),
            ),
        ])
        .await;
}

// ---------------------------------------------------------------------------------------------
// Rows 100–119: Claude Code's configuration (`/api/config-write/*`, config-write.md). Row 89's
// step-up on these routes and the `~/.claude.json` lock are in `config_write.rs`.

const CW: &str = "/api/config-write";

fn cw(path: &str) -> String {
    format!("{CW}/{path}")
}

#[tokio::test]
async fn rows_100_and_101_a_disabled_surface_is_invisible() {
    let bench = Bench::start(usual_sandbox(), &[]);
    let disabled = || is("config-write is disabled");
    bench
        .table(vec![
            (100, get(cw("status")), 404, disabled()),
            (100, get(cw("settings?scope=bogus")), 404, disabled()),
            (
                100,
                put(
                    cw("permissions"),
                    json!({"project": "alpha", "confirm": "alpha", "permissions": {}}),
                ),
                404,
                disabled(),
            ),
            (
                100,
                post(
                    cw("mcp/server"),
                    json!({"scope": "user", "confirm": "USER SCOPE", "op": "remove", "name": "x"}),
                ),
                404,
                disabled(),
            ),
            (
                100,
                delete(cw("subagents/x?project=alpha&confirm=alpha")),
                404,
                disabled(),
            ),
            (100, post(cw("skills/delete"), json!({})), 404, disabled()),
            (100, get(cw("plugins")), 404, Detail::Any),
        ])
        .await;
    drop(bench);
    let bench = Bench::start(
        usual_sandbox(),
        &[("CLAUSTER_CONFIG_WRITE_ENABLED", "true")],
    );
    let user = || is("config-write user scope is disabled");
    bench
        .table(vec![
            (101, get(cw("settings?scope=user")), 404, user()),
            (
                101,
                put(
                    cw("hooks"),
                    json!({"scope": "user", "confirm": "USER SCOPE", "hooks": {}}),
                ),
                404,
                user(),
            ),
            (100, get(cw("plugins")), 404, Detail::Any),
            (100, get(cw("marketplaces")), 404, Detail::Any),
        ])
        .await;
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // the table of rows 102–119
async fn rows_102_to_119_config_write_refusals() {
    let sandbox = usual_sandbox();
    let alpha = sandbox.projects_root().join("alpha");
    std::fs::create_dir_all(alpha.join(".claude/agents")).unwrap();
    std::fs::write(
        alpha.join(".mcp.json"),
        r#"{"mcpServers": {"db": {"command": "db"}}}"#,
    )
    .unwrap();
    let beta = sandbox.projects_root().join("beta");
    std::fs::create_dir_all(beta.join(".claude")).unwrap();
    std::fs::write(beta.join(".claude/settings.json"), "{\"model\": 1,, }").unwrap();
    let outside = sandbox.home().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let linked = sandbox.project("linked", &[]);
    std::os::unix::fs::symlink(&outside, linked.join(".claude")).unwrap();
    trust_all(&sandbox, &[&alpha, &beta, &linked]);
    let bench = Bench::start(sandbox, &[("CLAUSTER_CONFIG_WRITE_ENABLED", "true")]);
    let hash_now = sha256_hex(std::fs::read(alpha.join(".mcp.json")).unwrap());
    let w = |extra: Value| {
        let mut body = json!({"project": "alpha", "confirm": "alpha"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let perms = |p: Value| put(cw("permissions"), w(json!({ "permissions": p })));
    let hooks = |h: Value| put(cw("hooks"), w(json!({ "hooks": h })));
    let server = |op: &str, name: &str, entry: Value| {
        post(
            cw("mcp/server"),
            w(json!({"op": op, "name": name, "entry": entry})),
        )
    };
    let agent = |name: &str, content: &str| {
        put(
            cw(&format!("subagents/{name}")),
            w(json!({ "content": content })),
        )
    };
    let untrusted_path = canonical(&bench.sandbox.projects_root().join("untrusted"));
    let big = format!(
        "---\nname: big\ndescription: d\n---\n{}",
        "x".repeat(65_536)
    );
    let too_big = format!("content is {} bytes, over the 65536 byte cap", big.len());
    bench
        .table(vec![
            (102, get(cw("settings?scope=global&project=alpha")), 422, is("scope must be 'project', 'user', or 'local'")),
            (102, get(cw("subagents?scope=local&project=alpha")), 422, is("scope must be 'project' or 'user'")),
            (103, perms(json!({})).with_body(json!({"project": "alpha", "permissions": {}})), 400, is("confirmation text must be 'alpha'")),
            (103, put(cw("permissions"), json!({"project": "alpha", "confirm": "Alpha", "permissions": {}})), 400, is("confirmation text must be 'alpha'")),
            (103, put(cw("hooks"), json!({"scope": "local", "project": "alpha", "confirm": "alpha", "hooks": {}})), 400, is("confirmation text must be 'alpha (local)'")),
            (104, put(cw("permissions"), json!({"confirm": "", "permissions": {}})), 400, is("project-scope write requires a project")),
            (105, put(cw("permissions"), json!({"project": "nope", "confirm": "nope", "permissions": {}})), 404, is("project 'nope' not found")),
            (105, get(cw("settings?project=-rf")), 400, is("invalid project name: '-rf'")),
            (105, get(cw("hooks?project=..")), 400, is("invalid project name: '..'")),
            (106, post_raw(cw("mcp/server"), b"[]"), 422, is("request body must be a JSON object")),
            (106, put(cw("permissions"), w(json!({"permissions": []}))), 422, is("body must include a 'permissions' object")),
            (107, put(cw("permissions"), w(json!({"permissions": {}, "hash": 5}))), 422, is("'hash' must be a string when present")),
            (108, put(cw("mcp"), w(json!({"servers": {}, "hash": "0".repeat(64)}))), 409, starts(canonical(&alpha))),
            (109, put(cw("permissions"), json!({"project": "untrusted", "confirm": "untrusted", "permissions": {}})), 403, is(format!("{untrusted_path} is not a trusted directory; trust the project first"))),
            (110, put(cw("settings"), w(json!({"settings": {"hooks": {}}}))), 422, is(r#"settings may not name ["hooks"]: each has its own tab (permissions, hooks, MCP)"#)),
            (110, put(cw("settings"), w(json!({"settings": {"env": {"A": 1}}}))), 422, is("env.A must be a string")),
            (111, perms(json!({"defaultMode": "bypassPermissions"})), 422, is("permissions.defaultMode cannot be 'bypassPermissions' here: it is a launch option behind its own gate")),
            (111, perms(json!({"allow": ["Read", ""]})), 422, starts("permissions.allow holds \"\"")),
            (112, hooks(json!({"OnBoot": []})), 422, starts("hooks.OnBoot is not a hook event")),
            (112, hooks(json!({"Stop": [{"hooks": [{"type": "http", "command": "x"}]}]})), 422, is("hooks.Stop[0].hooks[0].type must be \"command\"")),
            (112, hooks(json!({"Stop": [{"hooks": [{"type": "command", "command": "${CLAUDE_PLUGIN_ROOT}/x"}]}]})), 422, starts("hooks.Stop[0].hooks[0].command refers to CLAUDE_PLUGIN_ROOT")),
            (113, server("add", "../x", json!({"command": "x"})), 422, starts("MCP server name \"../x\" must be")),
            (113, server("add", "web", json!({"type": "http", "url": "file:///etc/passwd"})), 422, is("mcpServers.web.url must be an http:// or https:// URL")),
            (113, server("add", "x", json!({"command": " "})), 422, is("mcpServers.x.command must be a non-empty string")),
            (113, server("add", "db", json!({"command": "db"})), 409, is("MCP server 'db' already exists; edit it instead")),
            (113, post(cw("mcp/server"), w(json!({"op": "remove", "name": "nope"}))), 404, is("MCP server 'nope' not found")),
            (113, post(cw("mcp/server"), w(json!({"op": "rename", "name": "db"}))), 422, is("op must be 'add', 'remove', or 'edit'")),
            (114, server("edit", "db", json!({"command": "db", "env": {"TOKEN": "********"}})), 422, is("mcpServers.db.env.TOKEN is the mask '********' but no value is stored there; type the value itself")),
            (115, put(cw("permissions"), json!({"project": "beta", "confirm": "beta", "permissions": {"allow": ["Read"]}})), 409, starts("cannot update")),
            (116, get(cw("hooks?project=linked")), 400, is(".claude/settings.json resolves outside the project directory; Clauster does not follow it")),
            (116, agent("x", "---\nname: x\ndescription: y\n---\n").with_body(json!({"project": "linked", "confirm": "linked", "content": "---\nname: x\ndescription: y\n---\n"})), 400, is(".claude/agents/x.md resolves outside the project directory; Clauster does not follow it")),
            (117, agent("Reviewer", "---\nname: Reviewer\ndescription: y\n---\n"), 422, starts("invalid subagent name \"Reviewer\"")),
            (117, agent("rev", "no front matter"), 422, is("subagent: the file must start with a '---' line opening the front matter")),
            (117, agent("rev", "---\nname: rev\n---\n"), 422, is("subagent: the front matter needs a non-empty 'description' string")),
            (117, agent("general-purpose", "---\nname: general-purpose\ndescription: y\n---\n"), 403, is("'general-purpose' is built into Claude Code and has no file to edit")),
            (118, put(cw("skills"), w(json!({"name": "s", "files": {"SKILL.md": "---\nname: s\ndescription: d\n---\n", "run.sh": "rm -rf ~"}}))), 422, is("only a skill's SKILL.md is written here; add scripts on the host")),
            (118, get(cw("skills/file?project=alpha&name=s&relative=../../x")), 422, is("only a skill's SKILL.md is read or written here")),
            (119, post_raw(cw("mcp/server"), &vec![b' '; 600 << 10]), 413, is("request body too large")),
            (119, agent("big", &big), 413, is(too_big)),
        ])
        .await;
    // The stale hash of row 108 was the real one a moment ago: the guard is by content.
    assert_ne!(hash_now, "0".repeat(64));
}
