//! What the end-to-end tests share: hermetic homes, free ports, the built binaries.
#![allow(dead_code)] // each test file uses its own subset

pub mod environments_api;
pub mod health;
pub mod inprocess;
pub mod sink;
pub mod torture;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A throw-away HOME with a projects root inside it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

/// Bridges are detached on purpose and outlive the server that started them; a test's
/// sandbox takes every process whose command line names it down with it.
impl Drop for Sandbox {
    fn drop(&mut self) {
        let marker = self.dir.path().to_string_lossy().into_owned();
        for (pid, _) in processes_naming(&marker) {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

/// Every process whose command line contains `marker`: its pid and its command line (the
/// arguments joined by NUL bytes, lossily decoded).
pub fn processes_naming(marker: &str) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).into_owned();
            text.contains(marker).then_some((pid, text))
        })
        .collect()
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("create a temp dir"),
        }
    }

    /// A fresh sandbox with its (empty) projects root created.
    pub fn with_projects_root() -> Self {
        let sandbox = Self::new();
        std::fs::create_dir_all(sandbox.projects_root()).expect("create the projects root");
        sandbox
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn projects_root(&self) -> PathBuf {
        self.dir.path().join("projects")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.home().join(".clauster")
    }

    /// Creates `projects_root/<name>` with the given marker entries (`.git`, `CLAUDE.md`,
    /// `.claude`).
    pub fn project(&self, name: &str, markers: &[&str]) -> PathBuf {
        let dir = self.projects_root().join(name);
        std::fs::create_dir_all(&dir).expect("create a project");
        for marker in markers {
            if marker.starts_with(".git") || marker.starts_with(".claude") {
                std::fs::create_dir_all(dir.join(marker)).expect("create a marker dir");
            } else {
                std::fs::write(dir.join(marker), "# notes\n").expect("create a marker file");
            }
        }
        dir
    }

    /// Claude Code's directory for `project` (its transcripts and bridge pointer):
    /// `~/.claude/projects/<slug of the canonical path>`. Not created.
    pub fn claude_project_dir(&self, project: &Path) -> PathBuf {
        let canonical = std::fs::canonicalize(project).expect("canonical project path");
        self.home()
            .join(".claude/projects")
            .join(clauster_core::slug::slug(&canonical.to_string_lossy()))
    }

    /// Marks `path` trusted in Claude's global config file, as `claude` itself would.
    pub fn trust(&self, path: &Path) {
        std::fs::create_dir_all(self.home()).expect("create HOME");
        let file = self.home().join(".claude.json");
        let canonical = std::fs::canonicalize(path).expect("canonical project path");
        let key = canonical.to_string_lossy().into_owned();
        let json = serde_json::json!({ "projects": { key: { "hasTrustDialogAccepted": true } } });
        std::fs::write(file, json.to_string()).expect("write .claude.json");
    }

    /// Environment for child processes: isolated HOME, no inherited Clauster or Claude
    /// configuration.
    pub fn command(&self, program: &Path) -> Command {
        std::fs::create_dir_all(self.home()).expect("create HOME");
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("HOME", self.home())
            // A safety net on top of the clean-up in `Drop`: fakes end by themselves.
            .env("FAKE_CLAUDE_MAX_SECONDS", "300")
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .current_dir(self.dir.path());
        cmd
    }
}

/// A port that was free a moment ago on 127.0.0.1. Config forbids port 0 for `clauster
/// run`, so process tests pick one; in-process tests bind `127.0.0.1:0` directly.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// The `clauster` binary: the one `cargo xtask test` built (`TEST_CLAUSTER_BIN`), else built
/// here once per test process (the tests crate cannot depend on another package's binary).
pub fn clauster_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // `cargo xtask test` builds it beforehand and says where.
        if let Some(built) = std::env::var_os("TEST_CLAUSTER_BIN") {
            return PathBuf::from(built);
        }
        let fake = Path::new(env!("CARGO_BIN_EXE_fake-claude"));
        let target_profile_dir = fake.parent().expect("binaries sit in the profile dir");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "--package",
            "clauster-cli",
            "--bin",
            "clauster",
            "--manifest-path",
        ])
        .arg(manifest);
        if target_profile_dir.ends_with("release") {
            cmd.arg("--release");
        }
        if let Some(target_dir) = target_profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target_dir);
        }
        let status = cmd.status().expect("run cargo build for clauster");
        assert!(status.success(), "building the clauster binary failed");
        target_profile_dir.join("clauster")
    })
}

/// A child process killed when the guard drops, so a failing assertion leaves nothing behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One request over the control socket with the CLI's own client
/// (`clauster_server::control_client`), waiting up to 10 s for the socket to accept: the
/// status code and the body as text. Call it outside the async context (`spawn_blocking`).
pub fn over_control_socket(socket: &Path, method: &str, path: &str, body: &str) -> (u16, String) {
    use clauster_server::control_client::{CallError, call};
    let body = (!body.is_empty()).then_some(body.as_bytes());
    let answer = wait_for(Duration::from_secs(10), || {
        match call(socket, method, path, body, Duration::from_mins(1)) {
            Err(CallError::NoServer(_)) => None,
            other => Some(other),
        }
    })
    .expect("the control socket accepts")
    .expect("an answer over the control socket");
    (
        answer.status,
        String::from_utf8(answer.body).expect("a UTF-8 answer"),
    )
}

/// Polls `probe` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// [`wait_for`] for an async `probe`, polled on the test's runtime.
pub async fn wait_for_async<T, F: Future<Output = Option<T>>>(
    timeout: Duration,
    mut probe: impl FnMut() -> F,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Spawns a command with stdout and stderr captured to files in the sandbox.
pub fn spawn_logged(mut cmd: Command, log: &Path) -> KillOnDrop {
    let out = std::fs::File::create(log).expect("create a log file");
    let err = out.try_clone().expect("clone the log handle");
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    KillOnDrop(cmd.spawn().expect("spawn the process"))
}

/// A `clauster run` process on a free port of 127.0.0.1, killed when dropped.
pub struct Server {
    pub child: KillOnDrop,
    pub base: String,
    pub ws: String,
    pub log: PathBuf,
}

impl Server {
    /// `POST /api/instances` for `project`: the status and the answer.
    pub async fn start_bridge(&self, project: &str) -> (u16, serde_json::Value) {
        start_bridge_at(&self.base, project).await
    }

    /// What the server printed so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Starts `clauster run` on the sandbox's projects root with `claude` (when given) as the
/// bridge binary, `args` after `run`, and `env` on top of the sandbox's environment; returns
/// once it listens.
pub fn start_server(
    sandbox: &Sandbox,
    claude: Option<&Path>,
    args: &[&str],
    env: &[(&str, &str)],
) -> Server {
    start_server_via(sandbox, &[], claude, args, env)
}

/// [`start_server`] on a port chosen beforehand (a client already waits for it).
pub fn start_server_on(
    sandbox: &Sandbox,
    port: u16,
    claude: Option<&Path>,
    args: &[&str],
    env: &[(&str, &str)],
) -> Server {
    launch_server(
        sandbox.command(clauster_bin()),
        port,
        sandbox,
        claude,
        args,
        env,
    )
}

/// [`start_server`], with the server inheriting descriptor 7 open (not close-on-exec) on
/// `inherited`, as a careless parent (a shell, a service manager) may hand one down.
pub fn start_server_inheriting(
    sandbox: &Sandbox,
    claude: Option<&Path>,
    inherited: &Path,
) -> Server {
    let mut cmd = sandbox.command(Path::new("/bin/sh"));
    cmd.args(["-c", "exec 7>>\"$1\"; shift; exec \"$@\"", "sh"])
        .arg(inherited)
        .arg(clauster_bin());
    launch_server(cmd, free_port(), sandbox, claude, &[], &[])
}

/// [`start_server`] with `clauster` run through `wrapper` (a command that execs the rest of
/// its arguments: `prlimit --nofile=…`, `setpriv --reuid=…`); `wrapper` empty runs it
/// directly.
pub fn start_server_via(
    sandbox: &Sandbox,
    wrapper: &[&str],
    claude: Option<&Path>,
    args: &[&str],
    env: &[(&str, &str)],
) -> Server {
    let cmd = match wrapper.split_first() {
        None => sandbox.command(clauster_bin()),
        Some((program, rest)) => {
            let mut cmd = sandbox.command(Path::new(program));
            cmd.args(rest).arg(clauster_bin());
            cmd
        }
    };
    launch_server(cmd, free_port(), sandbox, claude, args, env)
}

/// Appends the `run` arguments to `cmd` (which ends in the `clauster` binary) and starts it.
fn launch_server(
    mut cmd: Command,
    port: u16,
    sandbox: &Sandbox,
    claude: Option<&Path>,
    args: &[&str],
    env: &[(&str, &str)],
) -> Server {
    cmd.args(["run", "--port", &port.to_string(), "--projects-root"])
        .arg(sandbox.projects_root())
        .args(args)
        .env("CLAUSTER_CLAUDE_STOP_GRACE_SECONDS", "2");
    if let Some(claude) = claude {
        cmd.env("CLAUSTER_CLAUDE_BINARY", claude);
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    let log = sandbox.dir.path().join(format!("clauster-{port}.log"));
    let child = spawn_logged(cmd, &log);
    let up = listening(port, Duration::from_secs(20));
    assert!(
        up,
        "clauster did not start:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        ws: format!("ws://127.0.0.1:{port}"),
        log,
    }
}

impl Server {
    /// The pid of the process that was started (the server itself, or a wrapper that exec'd
    /// it).
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

/// Writes an executable shell script at `path` running `body`. The script is written by a
/// child process (`sh`), never through a descriptor of this multi-threaded process: a write
/// descriptor inherited by a process another test forks meanwhile would make executing the
/// script fail with ETXTBSY.
pub fn write_script(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().expect("a script's directory")).expect("mkdir");
    let mut sh = Command::new("sh")
        .arg("-c")
        .arg(r#"cat > "$1" && chmod 755 "$1""#)
        .arg("sh")
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("run sh");
    let mut stdin = sh.stdin.take().expect("sh's stdin");
    std::io::Write::write_all(&mut stdin, format!("#!/bin/sh\n{body}\n").as_bytes())
        .expect("write the script");
    drop(stdin);
    assert!(
        sh.wait().expect("sh ends").success(),
        "cannot write {}",
        path.display()
    );
}

/// The fake `claude` installed as `<sandbox>/bin/claude`.
pub fn fake_claude(sandbox: &Sandbox) -> PathBuf {
    clauster_tests::fake::install_fake_claude(
        Path::new(env!("CARGO_BIN_EXE_fake-claude")),
        sandbox.dir.path(),
    )
    .expect("install the fake claude")
}

/// A fresh sandbox holding the project `name` (with `markers`, e.g. `.git`), already trusted.
/// Keep the sandbox bound for the whole test: dropping it deletes the directories.
pub fn trusted_project(name: &str, markers: &[&str]) -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    let project = sandbox.project(name, markers);
    sandbox.trust(&project);
    (sandbox, project)
}

/// A fresh sandbox whose `clauster.yml` is `yaml`, served with no `claude`: the sandbox (keep
/// it bound for the whole test) and the server.
pub fn serve_config(yaml: &str) -> (Sandbox, Server) {
    let sandbox = Sandbox::new();
    write_config(&sandbox, yaml);
    let server = start_server(&sandbox, None, &[], &[]);
    (sandbox, server)
}

/// [`start_server`] with the fake `claude` installed (see [`fake_claude`]) as the bridge
/// binary, no extra `run` arguments and `env` on top.
pub fn serve_fake(sandbox: &Sandbox, env: &[(&str, &str)]) -> Server {
    serve_claude(sandbox, &fake_claude(sandbox), env)
}

/// [`serve_claude`] with the fake recording each run's argv (`FAKE_CLAUDE_ARGV_LOG`, read it
/// with [`recorded_argv`]) in the sandbox's `argv.jsonl`, and `env` on top: the server and
/// the log.
pub fn serve_claude_recording(
    sandbox: &Sandbox,
    claude: &Path,
    env: &[(&str, &str)],
) -> (Server, PathBuf) {
    let argv_log = sandbox.dir.path().join("argv.jsonl");
    let log = argv_log.to_str().expect("a UTF-8 sandbox path");
    let mut all = vec![("FAKE_CLAUDE_ARGV_LOG", log)];
    all.extend_from_slice(env);
    (serve_claude(sandbox, claude, &all), argv_log)
}

/// [`start_server`] with `claude` as the bridge binary, no extra `run` arguments and `env` on
/// top.
pub fn serve_claude(sandbox: &Sandbox, claude: &Path, env: &[(&str, &str)]) -> Server {
    start_server(sandbox, Some(claude), &[], env)
}

/// A sandbox with the trusted git project `alpha` and the fake `claude` installed: the
/// sandbox and the fake's path.
pub fn alpha_and_fake() -> (Sandbox, PathBuf) {
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    let claude = fake_claude(&sandbox);
    (sandbox, claude)
}

/// Runs one `clauster` command in the sandbox, with `CLAUSTER_PROJECTS_ROOT` set and `env`
/// on top, and waits for it.
pub fn run_clauster(
    sandbox: &Sandbox,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = sandbox.command(clauster_bin());
    cmd.args(args)
        .env("CLAUSTER_PROJECTS_ROOT", sandbox.projects_root());
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().expect("run clauster")
}

/// `POST /login` with `password` on the server at `base`, its `Origin` the server itself, as
/// the sign-in form sends it: the raw answer (cookies and redirect untouched when `client`
/// follows no redirects).
pub async fn log_in(client: &reqwest::Client, base: &str, password: &str) -> reqwest::Response {
    client
        .post(format!("{base}/login"))
        .header("origin", base)
        .form(&[("password", password)])
        .send()
        .await
        .expect("POST /login")
}

/// The `name=value` part of the cookie that `response` sets.
pub fn cookie_set_by(response: &reqwest::Response) -> String {
    response.headers()["set-cookie"]
        .to_str()
        .expect("a text set-cookie")
        .split(';')
        .next()
        .expect("a name=value part")
        .to_owned()
}

/// Asserts that the command behind `out` exited with `code`; the message shows its output.
#[track_caller]
pub fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stderr: {}\nstdout: {}",
        lossy(&out.stderr),
        lossy(&out.stdout)
    );
}

/// [`assert_exit`], then the command's stdout as text.
#[track_caller]
pub fn stdout_after(out: &std::process::Output, code: i32) -> String {
    assert_exit(out, code);
    lossy(&out.stdout)
}

/// A process's output as text (lossy).
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A server under test, reached at its base URL (`http://127.0.0.1:<port>`): requests by
/// path.
pub trait ServesApi {
    fn base_url(&self) -> &str;

    /// The port of the base URL.
    fn port(&self) -> u16 {
        self.base_url()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the base URL")
    }

    /// [`call`] to `path` (after the base URL).
    fn call(&self, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> Reply {
        let url = format!("{}{path}", self.base_url());
        Box::pin(async move { call(method, &url, body).await })
    }

    /// `GET path`.
    fn get(&self, path: &str) -> Reply {
        self.call(reqwest::Method::GET, path, None)
    }

    /// `POST path` without a body.
    fn post_empty(&self, path: &str) -> Reply {
        self.call(reqwest::Method::POST, path, None)
    }

    /// `DELETE path`.
    fn delete(&self, path: &str) -> Reply {
        self.call(reqwest::Method::DELETE, path, None)
    }

    /// `POST path` with a JSON body.
    fn post(&self, path: &str, body: serde_json::Value) -> Reply {
        self.call(reqwest::Method::POST, path, Some(body))
    }
}

/// A request of [`ServesApi`] under way: it gives the status and the JSON answer (null when the
/// body is not JSON).
pub type Reply =
    std::pin::Pin<Box<dyn std::future::Future<Output = (u16, serde_json::Value)> + Send>>;

impl ServesApi for Server {
    fn base_url(&self) -> &str {
        &self.base
    }
}

impl ServesApi for inprocess::InProcess {
    fn base_url(&self) -> &str {
        &self.base
    }
}

/// `GET /api/instances/{id}`, which must answer 200: the instance.
pub async fn instance(server: &Server, id: &str) -> serde_json::Value {
    let (status, value) = server.get(&format!("/api/instances/{id}")).await;
    assert_eq!(status, 200, "{value}");
    value
}

/// `GET /api/instances`, which must answer 200: the list.
pub async fn list_instances(server: &Server) -> Vec<serde_json::Value> {
    let (status, listed) = server.get("/api/instances").await;
    assert_eq!(status, 200, "{listed}");
    listed.as_array().cloned().unwrap_or_default()
}

/// Polls the instance until `done` holds; panics with the last answer after `within`.
pub async fn wait_instance(
    server: &Server,
    id: &str,
    within: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let last = std::cell::RefCell::new(serde_json::Value::Null);
    let reached = wait_for_async(within, || async {
        let value = instance(server, id).await;
        let reached = done(&value).then(|| value.clone());
        *last.borrow_mut() = value;
        reached
    })
    .await;
    reached.unwrap_or_else(|| panic!("timed out; last: {:#}\n{}", last.borrow(), server.log()))
}

/// A response read whole: status, headers and body text.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    /// Sends `request` and reads the whole answer.
    pub async fn of(request: reqwest::RequestBuilder) -> Self {
        let response = request.send().await.expect("request");
        Self {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap_or_default(),
        }
    }

    /// The body as JSON (null when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header's value; empty when absent or not text.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Installs the fake `claude` into `sandbox` when called, for tests in which `claude` appears
/// only after the server started.
pub fn fake_claude_later(sandbox: &Sandbox) -> impl Fn() -> PathBuf + Send + Sync + 'static {
    let dir = sandbox.dir.path().to_path_buf();
    move || {
        clauster_tests::fake::install_fake_claude(
            Path::new(env!("CARGO_BIN_EXE_fake-claude")),
            &dir,
        )
        .expect("install the fake claude")
    }
}

/// `POST /api/instances` for `project` on the server at `base`: the status and the answer.
pub async fn start_bridge_at(base: &str, project: &str) -> (u16, serde_json::Value) {
    call(
        reqwest::Method::POST,
        &format!("{base}/api/instances"),
        Some(serde_json::json!({ "project": project })),
    )
    .await
}

/// A client's `/ws/events` connection.
pub type EventSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to `/ws/events` and reads the `hello` and `snapshot` frames: the socket and the
/// snapshot.
pub async fn open_events(server: &Server) -> (EventSocket, serde_json::Value) {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/events", server.ws))
        .await
        .expect("connect to /ws/events");
    assert_eq!(next_frame(&mut socket).await["type"], "hello");
    let snapshot = next_frame(&mut socket).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    (socket, snapshot)
}

/// Whether something accepts TCP connections on `127.0.0.1:port` within `within`.
pub fn listening(port: u16, within: Duration) -> bool {
    wait_for(within, || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(drop)
    })
    .is_some()
}

/// The argv of each run of the fake `claude` recorded in its `FAKE_CLAUDE_ARGV_LOG` file
/// that `keep` selects (lines that are not JSON are skipped).
pub fn recorded_argv(log: &Path, keep: impl Fn(&serde_json::Value) -> bool) -> Vec<Vec<String>> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| keep(l))
        .map(|l| {
            l["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

/// `clauster run --port <port> --projects-root <the sandbox's>` (on a free port when `port`
/// is `None`), not started.
pub fn clauster_run(sandbox: &Sandbox, port: Option<&str>) -> Command {
    let port = port.map_or_else(|| free_port().to_string(), str::to_owned);
    let mut cmd = sandbox.command(clauster_bin());
    cmd.args(["run", "--port", &port, "--projects-root"])
        .arg(sandbox.projects_root());
    cmd
}

/// One HTTP request with an optional JSON body: the status and the JSON answer (null when the
/// body is not JSON).
pub async fn call(
    method: reqwest::Method,
    url: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// Whether `pid` names a process that has not ended (a zombie counts as ended).
pub fn process_exists(pid: i64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    stat.rsplit(')')
        .next()
        .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
}

/// Whether the process `pid` ends (or is a zombie) within `within`.
pub fn ends_within(pid: i64, within: Duration) -> bool {
    wait_for(within, || (!process_exists(pid)).then_some(())).is_some()
}

/// The text `field` of each element of the JSON array `list` (a list of names, ids, targets),
/// in order; panics when `list` is not an array or an element lacks the text field.
pub fn texts_of<'a>(list: &'a serde_json::Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|item| {
            item[field]
                .as_str()
                .unwrap_or_else(|| panic!("no text {field} in {item}"))
        })
        .collect()
}

/// The element of `report["checks"]` (a readiness, preflight or doctor report) named `name`;
/// panics when there is none.
pub fn check_named<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

/// Asserts that `value[field]` is text containing `part`; the message shows `value` whole.
#[track_caller]
pub fn assert_field_contains(value: &serde_json::Value, field: &str, part: &str) {
    assert!(
        value[field]
            .as_str()
            .is_some_and(|text| text.contains(part)),
        "{field} should contain {part:?}: {value}"
    );
}

/// Asserts that `url` is Claude's OAuth authorize link with a PKCE challenge and a state, as
/// the fake `claude` prints it (docs/spec/fake-claude.md).
#[track_caller]
pub fn assert_authorize_url(url: &str) {
    assert!(
        url.starts_with("https://claude.com/cai/oauth/authorize?")
            && url.contains("&code_challenge=")
            && url.contains("&state="),
        "not an authorize link with a PKCE challenge and a state: {url}"
    );
}

/// The permission bits of the file at `path` (`mode & 0o777`).
pub fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    let metadata = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("read the metadata of {}: {e}", path.display()));
    metadata.permissions().mode() & 0o777
}

/// One message read from a WebSocket.
pub type WsMessage =
    Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>;

/// What the frame readers below read: a WebSocket's messages (a client socket or its read
/// half).
pub trait FrameStream: futures_util::Stream<Item = WsMessage> + Unpin {}

impl<S: futures_util::Stream<Item = WsMessage> + Unpin> FrameStream for S {}

/// The next text frame of a WebSocket as JSON (binary and control frames are skipped);
/// panics when none comes within 60 s (a deadline for failing, not a wait) or the socket
/// closes.
pub async fn next_frame<S: FrameStream>(socket: &mut S) -> serde_json::Value {
    next_frame_within(socket, Duration::from_mins(1))
        .await
        .expect("a frame within 60 s")
}

/// The next text frame as JSON, or `None` when none comes within `wait`; panics when the
/// socket closes.
pub async fn next_frame_within<S: FrameStream>(
    socket: &mut S,
    wait: Duration,
) -> Option<serde_json::Value> {
    use futures_util::StreamExt as _;
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, socket.next())
            .await
            .ok()?
            .expect("the socket stays open")
            .expect("a readable frame");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            assert_wasm_decoders_agree(&text);
            return Some(serde_json::from_str(&text).expect("frames are JSON"));
        }
    }
}

/// The next `/ws/events` frame whose `type` is one of `kinds`, skipping every other kind:
/// frames such as `health`, `login`, `sessions` or `metrics` arrive whenever their source
/// changes (the first capability probe finishing, a poll), so no test may assume that the
/// frame after a request is the one the request caused. Panics as [`next_frame`] does.
pub async fn next_frame_of<S: FrameStream>(socket: &mut S, kinds: &[&str]) -> serde_json::Value {
    loop {
        let frame = next_frame(socket).await;
        if frame["type"]
            .as_str()
            .is_some_and(|kind| kinds.contains(&kind))
        {
            return frame;
        }
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Lowercase hex SHA-256 of `bytes`: CLAUDE.md's `sha256`, token hashes.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(bytes.as_ref()))
}

/// Writes the sandbox's `clauster.yml` (the file the sandbox's commands and servers read),
/// creating the projects root it names by default.
pub fn write_config(sandbox: &Sandbox, yaml: &str) {
    std::fs::create_dir_all(sandbox.projects_root()).expect("create the projects root");
    std::fs::write(sandbox.dir.path().join("clauster.yml"), yaml).expect("write clauster.yml");
}

/// Writes the sandbox's `clauster.yml` with password sign-in on for `password` (hashed by
/// `clauster hash-password`) and `extra` YAML after the `auth:` keys (indented to add auth
/// keys, flush left to add sections): the hash.
pub fn password_config(sandbox: &Sandbox, password: &str, extra: &str) -> String {
    let hash = hash_password(sandbox, password);
    write_config(
        sandbox,
        &format!(
            "auth:\n  enabled: true\n  password_required: true\n  password_hash: '{hash}'\n{extra}"
        ),
    );
    hash
}

/// `clauster hash-password` for `password`: the PHC string it prints.
pub fn hash_password(sandbox: &Sandbox, password: &str) -> String {
    use std::io::Write as _;
    let mut child = sandbox
        .command(clauster_bin())
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn clauster hash-password");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n{password}\n").as_bytes())
        .expect("write the password");
    let out = child.wait_with_output().expect("hash-password");
    assert!(
        out.status.success(),
        "hash-password failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The wasm bundle decodes frames with `clauster_wire::decode`, not with serde's derived
/// implementations (a smaller bundle); every frame an end-to-end test receives is decoded both
/// ways, and the two must agree.
pub fn assert_wasm_decoders_agree(text: &str) {
    use clauster_wire::{CloneProgressFrame, Sequenced, decode};
    assert_eq!(
        decode::frame(text).ok(),
        serde_json::from_str::<Sequenced>(text).ok(),
        "the events decoders disagree on {text}"
    );
    assert_eq!(
        decode::clone_progress(text).ok(),
        serde_json::from_str::<CloneProgressFrame>(text).ok(),
        "the clone-progress decoders disagree on {text}"
    );
}

/// The instance ids a plain copy of `<state_dir>/clauster.sqlite3` holds, without its
/// `-wal` and `-shm` files: what a backup by copying the stopped store's file keeps.
pub fn instances_in_a_copy_of_the_store(state_dir: &Path) -> Vec<String> {
    let copy = tempfile::tempdir().expect("a temp dir for the copy");
    let file = copy.path().join("clauster.sqlite3");
    std::fs::copy(state_dir.join("clauster.sqlite3"), &file).expect("copy the store file");
    let conn = rusqlite::Connection::open(&file).expect("open the copy");
    let mut query = conn
        .prepare("SELECT instance_id FROM instances ORDER BY instance_id")
        .expect("the copy has the instances table");
    query
        .query_map([], |row| row.get(0))
        .expect("read the copy")
        .collect::<Result<_, _>>()
        .expect("read the copy's rows")
}
