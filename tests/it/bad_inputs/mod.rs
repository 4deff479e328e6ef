//! The bad-input catalogue of security.md §12, row by row, through the real `clauster run`
//! process and the fake `claude`: every request gets its status and its message checked, and
//! the world around the server is compared before and after — the `projects_root` tree (paths,
//! bytes, link targets), Claude's global file, the config audit log, every bridge launch the
//! fake recorded (`FAKE_CLAUDE_ARGV_LOG`), and `GET /api/instances` over the control socket.
//! Row 51 (the reaper) is tested with the reaper itself; row 85 (a second bridge in one
//! directory) in `engine_trust.rs`, beside the other step-9 tests.

mod auth;
mod clone;
mod config_write;
mod instances_and_files;
mod notifications;
mod policy;
mod projects_and_spawn;
mod readiness_and_sign_in;
mod second_audit;
mod server;
mod settings;
mod transcripts;

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use support::{
    Answer, Sandbox, Server, clauster_bin, fake_claude, hash_password, hex, over_control_socket,
    process_exists, sha256_hex, start_server, wait_for, write_config,
};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

const INVALID_NAME: &str = "(use 1–64 letters, digits, _ and -, not starting with -)";
const PASSWORD: &str = "correct horse battery";

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

    /// [`Bench::start`] over the [`usual_sandbox`] with `config` as its `clauster.yml`.
    fn with_config(config: &str) -> Self {
        let sandbox = usual_sandbox();
        write_config(&sandbox, config);
        Self::start(sandbox, &[])
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

    /// Each of `requests` (row `row`) is refused with 401 "authentication required".
    async fn refuses_unauthenticated(&self, row: u8, requests: Vec<Request>) {
        let unauthenticated = is("authentication required");
        for request in requests {
            self.refuses(row, request, 401, &unauthenticated).await;
        }
    }

    /// Runs a table of refusals.
    async fn table(&self, cases: Vec<(u8, Request, u16, Detail)>) {
        for (row, request, status, detail) in cases {
            self.refuses(row, request, status, &detail).await;
        }
    }
}

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

    /// As a signed-in page sends it: the session `cookie`, from `origin`.
    fn session(self, cookie: &str, origin: &str) -> Self {
        self.header("cookie", cookie).header("origin", origin)
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
        Answer::of(request).await
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

/// A `POST` without a body.
fn post_empty(path: impl Into<String>) -> Request {
    Request::new(reqwest::Method::POST, path, Body::Empty)
}

fn get(path: impl Into<String>) -> Request {
    Request::new(reqwest::Method::GET, path, Body::Empty)
}

fn delete(path: impl Into<String>) -> Request {
    Request::new(reqwest::Method::DELETE, path, Body::Empty)
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

/// The `detail` of `answer` ("" when it has none).
fn detail_of(answer: &Answer) -> String {
    answer.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
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

/// A cookie signed with the server's own secret, as security.md §3 defines it.
fn forged_cookie(name: &str, secret: &[u8], epoch: u64, iat: u64) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = b64.encode(json!({"u": "admin", "e": epoch, "iat": iat}).to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("a key");
    mac.update(format!("clauster-session|{payload}").as_bytes());
    let mac = b64.encode(mac.finalize().into_bytes());
    format!("{name}=v1.{payload}.{mac}")
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

// Rows 53, 54: configuration refusals of `clauster run`.
fn run_refused(sandbox: &Sandbox, args: &[&str]) -> String {
    let output = support::clauster_run(sandbox, None)
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

// Rows 140–147: the Web Push routes (issue 22, notifications.md §8). Rows 148 (the device
// limit) and 149 (a gone subscription) are in `push.rs`, with a push-service double.
/// A public key on P-256 (RFC 8291 §5's `ua_public`) and a 16-byte secret.
const UA_PUBLIC: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const UA_AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

fn subscription(endpoint: &str) -> Value {
    json!({"endpoint": endpoint, "keys": {"p256dh": UA_PUBLIC, "auth": UA_AUTH}})
}

// Rows 91–98: the settings editor (`/api/config`, `/api/config/advanced`, config.md §8).
// Every refusal leaves `clauster.yml`, its backups and the audit log as they were.
const SETTINGS_FILE: &str = "# the operator's notes\nusage:\n  fx_rate: 1.0   # by hand\n";

async fn settings_hash(bench: &Bench) -> String {
    let answer = get("/api/config").send(&bench.server.base).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["hash"].as_str().expect("a hash").to_owned()
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

// Rows 100–119: Claude Code's configuration (`/api/config-write/*`, config-write.md). Row 89's
// step-up on these routes and the `~/.claude.json` lock are in `config_write.rs`.
const CW: &str = "/api/config-write";

fn cw(path: &str) -> String {
    format!("{CW}/{path}")
}
