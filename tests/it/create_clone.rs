//! Creating and cloning projects (data.md §3) through the real server, served in process so
//! the clone tests can hand it the test URL policy (data.md §3.6, README §Workspace): a bare
//! repository behind a real `git daemon` on 127.0.0.1, real sockets, real directories.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use clauster_core::clone::UrlPolicy;
use futures_util::StreamExt;
use serde_json::{Value, json};
use support::inprocess::{
    InProcess, bare_repo, git_daemon, git_daemon_with, serve, slow_proxy, test_policy,
};
use support::{Sandbox, call, next_frame, wait_for};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn post(url: &str, body: Value) -> (u16, Value) {
    call(reqwest::Method::POST, url, Some(body)).await
}

async fn post_raw(url: &str, body: &'static str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(url: &str) -> (u16, Value) {
    call(reqwest::Method::GET, url, None).await
}

/// Every entry of `projects_root`, hidden ones included.
fn entries(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root)
        .expect("read projects_root")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// A TCP server on 127.0.0.1 that accepts connections and never answers: a clone from it
/// hangs until it is cancelled or times out.
async fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    port
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("connect the socket")
        .0
}

/// The next message: a JSON text frame, or the close frame's code and reason.
enum Next {
    Frame(Value),
    Closed(Option<(CloseCode, String)>),
}

async fn next(socket: &mut Socket) -> Next {
    loop {
        let message = tokio::time::timeout(Duration::from_mins(1), socket.next())
            .await
            .expect("a message within 60 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                support::assert_wasm_decoders_agree(&text);
                return Next::Frame(serde_json::from_str(&text).expect("JSON frames"));
            }
            Some(Ok(Message::Close(frame))) => {
                return Next::Closed(frame.map(|f| (f.code, f.reason.to_string())));
            }
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return Next::Closed(None),
        }
    }
}

/// Reads a progress socket to its end: every frame, then the close code.
async fn drain_progress(socket: &mut Socket) -> (Vec<Value>, Option<CloseCode>) {
    let mut frames = Vec::new();
    loop {
        match next(socket).await {
            Next::Frame(frame) => frames.push(frame),
            Next::Closed(close) => return (frames, close.map(|c| c.0)),
        }
    }
}

async fn start_clone(server: &InProcess, body: Value) -> String {
    let (status, answer) = post(&format!("{}/api/projects/clone", server.base), body).await;
    assert_eq!(status, 202, "{answer}");
    answer["job_id"].as_str().expect("a job id").to_owned()
}

/// [`serve`] under the test URL policy with `git://` clones allowed and `clone_keys` (YAML
/// keys indented under `clone:`, or nothing).
async fn serve_git(sandbox: &Sandbox, clone_keys: &str) -> InProcess {
    let yaml = format!("clone:\n  allowed_schemes: [git]\n{clone_keys}");
    serve(sandbox, &yaml, test_policy()).await
}

/// Starts a clone of `body` and follows its progress socket to the end: every frame, then the
/// close code.
async fn clone_to_the_end(server: &InProcess, body: Value) -> (Vec<Value>, Option<CloseCode>) {
    let job = start_clone(server, body).await;
    let mut progress = connect(&format!("{}/ws/clone-progress/{job}", server.ws)).await;
    drain_progress(&mut progress).await
}

async fn cancel(server: &InProcess, job: &str) -> (u16, Value) {
    post(
        &format!("{}/api/projects/clone/{job}/cancel", server.base),
        json!({}),
    )
    .await
}

// ---------------------------------------------------------------- create

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_an_empty_project_and_one_with_git_init() {
    let sandbox = Sandbox::new();
    let server = serve(&sandbox, "", UrlPolicy::real()).await;
    let url = format!("{}/api/projects", server.base);
    let mut events = connect(&format!("{}/ws/events", server.ws)).await;
    assert_eq!(next_frame(&mut events).await["type"], "hello");
    assert_eq!(next_frame(&mut events).await["type"], "snapshot");

    let (status, project) = post(&url, json!({"name": "alpha"})).await;
    assert_eq!(status, 201, "{project}");
    assert_eq!(project["name"], "alpha");
    assert_eq!(project["is_git_repo"], false);
    assert_eq!(project["trust_state"], "untrusted");
    let alpha = sandbox.projects_root().join("alpha");
    assert!(alpha.is_dir());
    assert_eq!(std::fs::read_dir(&alpha).expect("read").count(), 0);
    let frame = support::next_frame_of(&mut events, &["project", "project_removed"]).await;
    assert_eq!(
        (frame["type"].clone(), frame["project"]["name"].clone()),
        (json!("project"), json!("alpha"))
    );

    let (status, project) = post(&url, json!({"name": "beta_2", "git_init": true})).await;
    assert_eq!(status, 201, "{project}");
    assert_eq!(project["is_git_repo"], true);
    assert!(sandbox.projects_root().join("beta_2/.git/HEAD").is_file());

    let (_, listed) = get(&url).await;
    let names = support::texts_of(&listed, "name");
    assert_eq!(names, ["alpha", "beta_2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_bad_bodies_and_names_and_creates_nothing() {
    let sandbox = Sandbox::new();
    let server = serve(&sandbox, "", UrlPolicy::real()).await;
    let url = format!("{}/api/projects", server.base);
    let before = entries(&sandbox.projects_root());

    for raw in ["[]", "\"x\"", "{not json", ""] {
        let (status, body) = post_raw(&url, raw).await;
        assert_eq!(status, 422, "{raw}");
        assert_eq!(
            body,
            json!({"detail": "request body must be a JSON object"}),
            "{raw}"
        );
    }
    let long = "a".repeat(65);
    let long_detail = format!(
        "invalid project name: '{long}' (use 1–64 letters, digits, _ and -, not starting with -)"
    );
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "name is required"),
        (json!({"name": ""}), "name is required"),
        (json!({"name": "   "}), "name is required"),
        (json!({"name": null}), "name is required"),
        (json!({"name": 5}), "name must be a string"),
        (
            json!({"name": "ok", "git_init": "yes"}),
            "git_init must be a boolean",
        ),
        (
            json!({"name": "../etc"}),
            "invalid project name: '../etc' (use 1–64 letters, digits, _ and -, not starting with -)",
        ),
        (
            json!({"name": "a/b"}),
            "invalid project name: 'a/b' (use 1–64 letters, digits, _ and -, not starting with -)",
        ),
        (
            json!({"name": "a\\b"}),
            "invalid project name: 'a\\b' (use 1–64 letters, digits, _ and -, not starting with -)",
        ),
        (
            json!({"name": "-rf"}),
            "invalid project name: '-rf' (use 1–64 letters, digits, _ and -, not starting with -)",
        ),
        (
            json!({"name": ".hidden"}),
            "invalid project name: '.hidden' (use 1–64 letters, digits, _ and -, not starting with -)",
        ),
        (
            json!({"name": "é"}),
            "invalid project name: 'é' (use 1–64 letters, digits, _ and -, not starting with -)",
        ),
        (
            json!({"name": "a\nb"}),
            "invalid project name: 'a\\nb' (use 1–64 letters, digits, _ and -, not starting with -)",
        ),
        (json!({"name": long}), &long_detail),
        (json!({"name": "CON"}), "'CON' is a reserved device name"),
        (json!({"name": "nul"}), "'nul' is a reserved device name"),
        (json!({"name": "Lpt1"}), "'Lpt1' is a reserved device name"),
    ];
    for (body, detail) in cases {
        let (status, answer) = post(&url, body.clone()).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(answer["detail"], detail, "{body}");
        let field = if detail.starts_with("git_init") {
            "git_init"
        } else {
            "name"
        };
        assert_eq!(answer["field"], field, "{body}");
    }
    assert_eq!(
        entries(&sandbox.projects_root()),
        before,
        "nothing was created"
    );
    assert!(!sandbox.dir.path().join("etc").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_over_an_existing_directory_or_file_changes_nothing() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &["CLAUDE.md"]);
    std::fs::write(sandbox.projects_root().join("afile"), "keep me").expect("write");
    let server = serve(&sandbox, "", UrlPolicy::real()).await;
    let url = format!("{}/api/projects", server.base);
    for name in ["alpha", "afile"] {
        let (status, answer) = post(&url, json!({"name": name, "git_init": true})).await;
        assert_eq!(status, 409);
        assert_eq!(
            answer,
            json!({"detail": format!("a directory named '{name}' already exists")})
        );
    }
    assert_eq!(
        std::fs::read_to_string(alpha.join("CLAUDE.md")).expect("read"),
        "# notes\n"
    );
    assert!(
        !alpha.join(".git").exists(),
        "no git init over the existing project"
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.projects_root().join("afile")).expect("read"),
        "keep me"
    );
    assert_eq!(std::fs::read_dir(&alpha).expect("read").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_init_without_git_or_with_a_failing_git_leaves_no_directory() {
    // No git on the children's PATH: 503.
    let sandbox = Sandbox::new();
    let empty_bin = sandbox.dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty_bin).expect("mkdir");
    let extra = format!("claude:\n  env:\n    PATH: {}\n", empty_bin.display());
    let server = serve(&sandbox, &extra, UrlPolicy::real()).await;
    let url = format!("{}/api/projects", server.base);
    let (status, answer) = post(&url, json!({"name": "nogit", "git_init": true})).await;
    assert_eq!(
        (status, answer),
        (503, json!({"detail": "git is not installed"}))
    );
    assert!(entries(&sandbox.projects_root()).is_empty());
    // Without git_init, git is not needed.
    let (status, _) = post(&url, json!({"name": "plain"})).await;
    assert_eq!(status, 201);
    drop(server);

    // A git that fails: 400 with its redacted output, directory removed.
    let sandbox = Sandbox::new();
    let bin = sandbox.dir.path().join("bad-bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    support::write_script(
        &bin.join("git"),
        "echo 'warning: first' >&2\necho 'fatal: cannot init session_0123456789abcdef0123456789abcdef' >&2\nexit 1",
    );
    let extra = format!("claude:\n  env:\n    PATH: {}\n", bin.display());
    let server = serve(&sandbox, &extra, UrlPolicy::real()).await;
    let url = format!("{}/api/projects", server.base);
    let (status, answer) = post(&url, json!({"name": "broken", "git_init": true})).await;
    assert_eq!(status, 400, "{answer}");
    let detail = answer["detail"].as_str().expect("detail");
    assert!(
        detail.starts_with("git init failed: warning: first / fatal: cannot init session_"),
        "{detail}"
    );
    assert!(
        !detail.contains("0123456789abcdef0123456789abcdef"),
        "redacted: {detail}"
    );
    assert!(entries(&sandbox.projects_root()).is_empty());
}

// ---------------------------------------------------------------- clone: bad requests

/// Each request with its status and `detail`.
#[allow(clippy::too_many_lines)] // a table: one row per refused request
fn bad_clone_requests() -> Vec<(Value, u16, String)> {
    let schemes = "permitted: ['https', 'ssh']";
    let long = format!("https://example.com/{}", "a".repeat(2030));
    vec![
        (json!([]), 422, "request body must be a JSON object".into()),
        (
            json!({"url": "https://example.com/x"}),
            422,
            "name is required".into(),
        ),
        (
            json!({"name": "n"}),
            422,
            "A Git URL is required to clone.".into(),
        ),
        (
            json!({"name": "n", "url": "  "}),
            422,
            "A Git URL is required to clone.".into(),
        ),
        (
            json!({"name": "n", "url": 5}),
            422,
            "url must be a string".into(),
        ),
        (
            json!({"name": "n", "url": "https://example.com/x", "shallow": "yes"}),
            422,
            "shallow must be a boolean".into(),
        ),
        (
            json!({"name": "../x", "url": "https://example.com/x"}),
            422,
            "invalid project name: '../x' (use 1–64 letters, digits, _ and -, not starting with -)"
                .into(),
        ),
        (
            json!({"name": "taken", "url": "https://example.com/x"}),
            409,
            "a directory named 'taken' already exists".into(),
        ),
        (
            json!({"name": "n", "url": "http://example.com/x"}),
            422,
            format!("scheme 'http' not allowed; {schemes}"),
        ),
        (
            json!({"name": "n", "url": "file:///etc"}),
            422,
            format!("scheme 'file' not allowed; {schemes}"),
        ),
        (
            json!({"name": "n", "url": "ext::sh -c touch% /tmp/pwned"}),
            422,
            "clone URL must not contain whitespace or control characters".into(),
        ),
        (
            json!({"name": "n", "url": "ext::sh"}),
            422,
            format!("scheme 'ext' not allowed; {schemes}"),
        ),
        (
            json!({"name": "n", "url": "git@github.com:org/repo.git"}),
            422,
            "clone URL must have a scheme".into(),
        ),
        (
            json!({"name": "n", "url": "--upload-pack=touch"}),
            422,
            "clone URL must have a scheme".into(),
        ),
        (
            json!({"name": "n", "url": "--upload-pack=touch /tmp/x"}),
            422,
            "clone URL must not contain whitespace or control characters".into(),
        ),
        (
            json!({"name": "n", "url": "ssh://-oProxyCommand=touch/x"}),
            422,
            "malformed clone URL: host '-oProxyCommand=touch' is not a valid host name".into(),
        ),
        (
            json!({"name": "n", "url": "https://user:pw@example.com/x"}),
            422,
            "credentials in the clone URL are not allowed".into(),
        ),
        (
            json!({"name": "n", "url": "https://token@example.com/x"}),
            422,
            "credentials in the clone URL are not allowed".into(),
        ),
        (
            json!({"name": "n", "url": "https://example.com/x\u{7}"}),
            422,
            "clone URL must not contain whitespace or control characters".into(),
        ),
        (
            json!({"name": "n", "url": "https://example.com/a\nb"}),
            422,
            "clone URL must not contain whitespace or control characters".into(),
        ),
        (
            json!({"name": "n", "url": long}),
            422,
            "clone URL is longer than 2048 characters".into(),
        ),
        (
            json!({"name": "n", "url": "https://[::1/x"}),
            422,
            "malformed clone URL: invalid IPv6 address".into(),
        ),
        (
            json!({"name": "n", "url": "https://example.com:70000/x"}),
            422,
            "malformed clone URL: invalid port number".into(),
        ),
        (
            json!({"name": "n", "url": "ssh:///x"}),
            422,
            "clone URL has no host".into(),
        ),
        (
            json!({"name": "n", "url": "https://does-not-exist.invalid/x"}),
            422,
            "could not resolve host 'does-not-exist.invalid'".into(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_refuses_bad_urls_and_names_before_running_anything() {
    let sandbox = Sandbox::new();
    sandbox.project("taken", &[]);
    let server = serve(&sandbox, "", UrlPolicy::real()).await;
    let url = format!("{}/api/projects/clone", server.base);
    let before = entries(&sandbox.projects_root());
    let cases = bad_clone_requests();
    for (body, status, detail) in cases {
        let (got, answer) = post(&url, body.clone()).await;
        assert_eq!(
            (got, answer["detail"].as_str().unwrap_or_default()),
            (status, detail.as_str()),
            "{body}"
        );
    }
    assert_eq!(entries(&sandbox.projects_root()), before);
    assert_eq!(get(&format!("{url}/active")).await.1, json!({"jobs": []}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_disabled_is_refused_first() {
    let sandbox = Sandbox::new();
    let server = serve(&sandbox, "clone:\n  enabled: false\n", UrlPolicy::real()).await;
    let url = format!("{}/api/projects/clone", server.base);
    for body in [
        json!({"name": "n", "url": "https://example.com/x"}),
        json!([]),
        json!({}),
    ] {
        let (status, answer) = post(&url, body).await;
        assert_eq!(
            (status, answer),
            (403, json!({"detail": "clone is disabled in config"}))
        );
    }
    assert!(entries(&sandbox.projects_root()).is_empty());
}

/// The real policy (security.md §12 #36, #37): every always-blocked class is refused, also
/// with every opt-in; private addresses follow the opt-ins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_policy_refuses_blocked_addresses_in_the_request() {
    let blocked: Vec<(&str, &str, &str)> = support::inprocess::ALWAYS_BLOCKED
        .into_iter()
        .chain([
            (
                "https://[::ffff:127.0.0.1]/x",
                "::ffff:127.0.0.1",
                "127.0.0.1",
            ),
            (
                "https://[::ffff:169.254.169.254]/x",
                "::ffff:169.254.169.254",
                "169.254.169.254",
            ),
            ("https://[fe80::1]/x", "fe80::1", "fe80::1"),
            ("https://[fe80::1%25eth0]/x", "fe80::1", "fe80::1"),
            ("https://0.0.0.0/x", "0.0.0.0", "0.0.0.0"),
            ("https://224.0.0.1/x", "224.0.0.1", "224.0.0.1"),
            (
                "https://255.255.255.255/x",
                "255.255.255.255",
                "255.255.255.255",
            ),
            ("https://240.0.0.1/x", "240.0.0.1", "240.0.0.1"),
            ("https://[2001:db8::1]/x", "2001:db8::1", "2001:db8::1"),
            ("https://[100::1]/x", "100::1", "100::1"),
            ("https://[ff02::1]/x", "ff02::1", "ff02::1"),
            ("https://localhost/x", "localhost", "127.0.0.1"),
            ("ssh://git@localhost/x", "localhost", "127.0.0.1"),
            ("ssh://0x7f000001/x", "0x7f000001", "127.0.0.1"),
        ])
        .collect();
    let private = [
        ("https://10.0.0.5/x", "10.0.0.5"),
        ("https://172.16.3.4/x", "172.16.3.4"),
        ("https://192.168.1.1/x", "192.168.1.1"),
        ("https://100.64.0.1/x", "100.64.0.1"),
        ("https://198.18.0.1/x", "198.18.0.1"),
        ("https://192.0.0.8/x", "192.0.0.8"),
        ("https://[fd00::1]/x", "fd00::1"),
    ];
    let text = |host: &str, ip: &str| {
        format!(
            "host '{host}' resolves to blocked address {ip} (private/loopback/link-local). Set clone.allow_private_hosts to permit."
        )
    };
    let opt_ins = [
        "",
        "clone:\n  allow_private_hosts: true\n",
        "clone:\n  allow_private_hosts: true\n  allowed_private_cidrs: ['0.0.0.0/0', '::/0', '127.0.0.0/8', '169.254.0.0/16', '::1/128']\n",
    ];
    for (round, extra) in opt_ins.iter().enumerate() {
        let sandbox = Sandbox::new();
        let server = serve(&sandbox, extra, UrlPolicy::real()).await;
        let url = format!("{}/api/projects/clone", server.base);
        for &(clone_url, host, ip) in &blocked {
            let (status, answer) = post(&url, json!({"name": "n", "url": clone_url})).await;
            assert_eq!(
                (status, answer),
                (403, json!({"detail": text(host, ip)})),
                "{clone_url} with {extra:?}"
            );
        }
        if round == 0 {
            for (clone_url, ip) in private {
                let host = ip;
                let (status, answer) = post(&url, json!({"name": "n", "url": clone_url})).await;
                assert_eq!(
                    (status, answer),
                    (403, json!({"detail": text(host, ip)})),
                    "{clone_url}"
                );
            }
        }
        assert!(
            entries(&sandbox.projects_root()).is_empty(),
            "nothing created"
        );
        assert_eq!(get(&format!("{url}/active")).await.1, json!({"jobs": []}));
    }
}

/// Private destinations are admitted by `allow_private_hosts` or a matching CIDR; the job is
/// cancelled at once (nothing listens there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_follow_the_opt_ins() {
    for extra in [
        "clone:\n  allow_private_hosts: true\n  timeout_seconds: 30\n",
        "clone:\n  allowed_private_cidrs: ['10.0.0.0/8']\n  timeout_seconds: 30\n",
    ] {
        let sandbox = Sandbox::new();
        let server = serve(&sandbox, extra, UrlPolicy::real()).await;
        let job = start_clone(
            &server,
            json!({"name": "priv", "url": "https://10.0.0.5/x"}),
        )
        .await;
        let mut progress = connect(&format!("{}/ws/clone-progress/{job}", server.ws)).await;
        let (status, _) = cancel(&server, &job).await;
        // The job may already have failed to connect; either way it ends and leaves nothing.
        assert!(status == 202 || status == 409, "{status}");
        let (frames, _) = drain_progress(&mut progress).await;
        assert_eq!(frames.last().expect("a terminal frame")["type"], "done");
        assert!(entries(&sandbox.projects_root()).is_empty());
        // A private address outside the CIDR is still refused.
        if extra.contains("cidrs") {
            let (status, _) = post(
                &format!("{}/api/projects/clone", server.base),
                json!({"name": "other", "url": "https://192.168.1.1/x"}),
            )
            .await;
            assert_eq!(status, 403);
        }
    }
}

// ---------------------------------------------------------------- clone: real git

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_from_git_daemon_shows_progress_and_lands_the_project() {
    let sandbox = Sandbox::new();
    bare_repo(&sandbox, "demo", 256 * 1024);
    let (_daemon, port) = git_daemon(&sandbox);
    let server = serve_git(&sandbox, "").await;
    let mut events = connect(&format!("{}/ws/events", server.ws)).await;
    assert_eq!(next_frame(&mut events).await["type"], "hello");
    assert_eq!(next_frame(&mut events).await["type"], "snapshot");

    // Through the slow proxy: the job is still running when its progress socket connects
    // (a finished one sends its terminal frame alone), however busy the machine.
    let slow = slow_proxy(port).await;
    let clone_url = format!("git://127.0.0.1:{slow}/demo.git");
    let job = start_clone(&server, json!({"name": "demo", "url": clone_url})).await;
    assert_eq!(job.len(), 32);
    assert!(
        job.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    let mut progress = connect(&format!("{}/ws/clone-progress/{job}", server.ws)).await;
    let (frames, close) = drain_progress(&mut progress).await;
    assert_eq!(close, Some(CloseCode::Normal));
    let last = frames.last().expect("frames");
    assert_eq!(
        last,
        &json!({"type": "done", "status": "done", "error": null}),
        "{frames:?}"
    );
    assert_eq!(frames[0]["type"], "progress", "a snapshot frame first");
    let phases: BTreeSet<&str> = frames.iter().filter_map(|f| f["phase"].as_str()).collect();
    assert!(
        phases.contains("Receiving") || phases.contains("Resolving") || phases.contains("Total"),
        "{frames:?}"
    );
    let terminal_count = frames.iter().filter(|f| f["type"] == "done").count();
    assert_eq!(terminal_count, 1);
    assert!(
        !frames.iter().any(|f| f.to_string().contains("git://")),
        "the URL is never echoed"
    );

    let demo = sandbox.projects_root().join("demo");
    assert_eq!(
        std::fs::read_to_string(demo.join("README.md")).expect("read"),
        "# demo\n"
    );
    assert_eq!(
        entries(&sandbox.projects_root()),
        BTreeSet::from(["demo".to_owned()])
    );

    // /ws/events saw the job start and end, then the new project.
    let mut statuses = Vec::new();
    let mut project_seen = false;
    while !(project_seen && statuses.last() == Some(&json!("done"))) {
        let frame = next_frame(&mut events).await;
        match frame["type"].as_str() {
            Some("clone") => {
                assert_eq!(frame["job"]["job_id"], job.as_str());
                assert_eq!(frame["job"]["name"], "demo");
                assert!(frame["job"].get("url").is_none());
                statuses.push(frame["job"]["status"].clone());
            }
            Some("project") if frame["project"]["name"] == "demo" => {
                assert_eq!(frame["project"]["has_claude_md"], true);
                assert_eq!(frame["project"]["trust_state"], "untrusted");
                project_seen = true;
            }
            _ => {}
        }
    }
    assert_eq!(statuses.first(), Some(&json!("running")));

    // A finished job: a new watcher gets only the terminal frame; a cancel is a 409.
    let mut late = connect(&format!("{}/ws/clone-progress/{job}", server.ws)).await;
    let (frames, close) = drain_progress(&mut late).await;
    assert_eq!(
        frames,
        vec![json!({"type": "done", "status": "done", "error": null})]
    );
    assert_eq!(close, Some(CloseCode::Normal));
    assert_eq!(
        cancel(&server, &job).await,
        (409, json!({"detail": "clone job is already done"}))
    );

    // Cloning into the name again: 409, the project untouched.
    let (status, answer) = post(
        &format!("{}/api/projects/clone", server.base),
        json!({"name": "demo", "url": format!("git://127.0.0.1:{port}/demo.git"), "shallow": true}),
    )
    .await;
    assert_eq!(
        (status, answer),
        (
            409,
            json!({"detail": "a directory named 'demo' already exists"})
        )
    );
    assert_eq!(
        std::fs::read_to_string(demo.join("README.md")).expect("read"),
        "# demo\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shallow_clone_has_depth_one() {
    let sandbox = Sandbox::new();
    bare_repo(&sandbox, "demo", 0);
    let (_daemon, port) = git_daemon(&sandbox);
    let server = serve_git(&sandbox, "").await;
    let (frames, _) = clone_to_the_end(
        &server,
        json!({"name": "demo-shallow", "url": format!("git://127.0.0.1:{port}/demo.git"), "shallow": true}),
    )
    .await;
    assert_eq!(frames.last().expect("frames")["status"], "done");
    let shallow = sandbox.projects_root().join("demo-shallow");
    assert!(
        shallow.join(".git/shallow").is_file(),
        "cloned with --depth 1"
    );
    assert!(shallow.join("CLAUDE.md").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftover_temp_directories_older_than_an_hour_are_removed_at_startup() {
    let sandbox = Sandbox::new();
    let root = sandbox.projects_root();
    std::fs::create_dir_all(&root).expect("create projects_root");
    for name in [
        ".old.0a1b2c3d.clone-tmp",
        ".fresh.0a1b2c3d.clone-tmp",
        ".keepme",
    ] {
        std::fs::create_dir_all(root.join(name).join("sub")).expect("mkdir");
    }
    let aged = Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(root.join(".old.0a1b2c3d.clone-tmp"))
        .arg(root.join(".keepme"))
        .status()
        .expect("touch");
    assert!(aged.success());
    let _server = serve(&sandbox, "", UrlPolicy::real()).await;
    let swept = wait_for(Duration::from_secs(10), || {
        (!root.join(".old.0a1b2c3d.clone-tmp").exists()).then_some(())
    });
    assert!(swept.is_some(), "{:?}", entries(&root));
    assert_eq!(
        entries(&root),
        BTreeSet::from([".fresh.0a1b2c3d.clone-tmp".to_owned(), ".keepme".to_owned()])
    );
}

/// git is pinned to the address the guard checked: given `git://localhost/…`, it asks the
/// daemon for host `127.0.0.1`. The daemon serves repositories per requested host
/// (`--interpolated-path=<repos>/%H%D`), and the repository exists only under `127.0.0.1`,
/// so the clone succeeds only if git connected with the checked address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_name_is_pinned_to_the_checked_address() {
    let sandbox = Sandbox::new();
    let bare = bare_repo(&sandbox, "pinned", 0);
    let repos = sandbox.dir.path().join("repos");
    std::fs::create_dir_all(repos.join("127.0.0.1")).expect("mkdir");
    std::fs::rename(&bare, repos.join("127.0.0.1/pinned.git")).expect("move the repository");
    let (_daemon, port) = git_daemon_with(
        &sandbox,
        &[format!("--interpolated-path={}/%H%D", repos.display())],
    );
    let server = serve_git(&sandbox, "").await;
    let (frames, _) = clone_to_the_end(
        &server,
        json!({"name": "pinned", "url": format!("git://localhost:{port}/pinned.git")}),
    )
    .await;
    assert_eq!(
        frames.last(),
        Some(&json!({"type": "done", "status": "done", "error": null})),
        "{frames:?}"
    );
    assert!(sandbox.projects_root().join("pinned/README.md").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_clone_reports_git_and_leaves_nothing() {
    let sandbox = Sandbox::new();
    let (_daemon, port) = git_daemon(&sandbox);
    let server = serve_git(&sandbox, "").await;
    let (frames, _) = clone_to_the_end(
        &server,
        json!({"name": "missing", "url": format!("git://127.0.0.1:{port}/nope.git")}),
    )
    .await;
    let last = frames.last().expect("frames");
    assert_eq!(last["status"], "error");
    let error = last["error"].as_str().expect("an error");
    assert!(error.starts_with("git clone failed: "), "{error}");
    assert!(!error.contains("git://"), "the URL is not echoed: {error}");
    assert!(error.chars().count() <= "git clone failed: ".len() + 400);
    assert!(entries(&sandbox.projects_root()).is_empty());
}

/// A 4 MiB clone of `big` through the slow proxy, followed until git is receiving objects
/// (a temp directory exists): the daemon's guard, the proxy's port, the server, the job id
/// and its progress socket.
async fn clone_receiving(
    sandbox: &Sandbox,
) -> (support::KillOnDrop, u16, InProcess, String, Socket) {
    bare_repo(sandbox, "big", 4 * 1024 * 1024);
    let (daemon, port) = git_daemon(sandbox);
    let slow = slow_proxy(port).await;
    let server = serve_git(sandbox, "").await;
    let job = start_clone(
        &server,
        json!({"name": "big", "url": format!("git://127.0.0.1:{slow}/big.git")}),
    )
    .await;
    let mut progress = connect(&format!("{}/ws/clone-progress/{job}", server.ws)).await;
    loop {
        let frame = next_frame(&mut progress).await;
        assert_ne!(
            frame["type"], "done",
            "finished before it was stopped: {frame}"
        );
        if frame["phase"] == "Receiving" {
            return (daemon, slow, server, job, progress);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_mid_transfer_leaves_nothing_behind() {
    let sandbox = Sandbox::new();
    let (_daemon, slow, server, job, mut progress) = clone_receiving(&sandbox).await;
    let temp_seen = entries(&sandbox.projects_root());
    assert_eq!(temp_seen.len(), 1, "{temp_seen:?}");
    let temp = temp_seen.iter().next().expect("one entry");
    assert!(
        temp.starts_with(".big.") && temp.ends_with(".clone-tmp"),
        "{temp}"
    );
    let (_, active) = get(&format!("{}/api/projects/clone/active", server.base)).await;
    assert_eq!(active["jobs"][0]["job_id"], job.as_str());
    assert_eq!(active["jobs"][0]["phase"], "Receiving");

    assert_eq!(
        cancel(&server, &job).await,
        (202, json!({"job_id": job, "cancelling": true}))
    );
    let (frames, close) = drain_progress(&mut progress).await;
    assert_eq!(
        frames.last(),
        Some(&json!({"type": "done", "status": "cancelled", "error": null}))
    );
    assert_eq!(close, Some(CloseCode::Normal));
    assert_nothing_left(&sandbox, slow);
    assert_eq!(
        cancel(&server, &job).await,
        (409, json!({"detail": "clone job is already cancelled"}))
    );
}

/// A server shutting down cancels a clone in flight as its cancel would: no temp directory,
/// no git process left (cli.md §7, data.md §3.4); the progress socket gets 1001.
#[tokio::test]
async fn a_shutdown_cancels_a_clone_in_flight_and_leaves_nothing_behind() {
    let sandbox = Sandbox::new();
    let (_daemon, slow, server, _, mut progress) = clone_receiving(&sandbox).await;
    assert_eq!(
        entries(&sandbox.projects_root()).len(),
        1,
        "the temp directory"
    );

    server.shut_down().await;
    let (_, close) = drain_progress(&mut progress).await;
    assert_eq!(close, Some(CloseCode::Away));
    assert_nothing_left(&sandbox, slow);
}

/// A stopped clone through the proxy on `slow` left no temp or final directory and no git
/// process.
fn assert_nothing_left(sandbox: &Sandbox, slow: u16) {
    assert!(
        entries(&sandbox.projects_root()).is_empty(),
        "no temp and no final directory"
    );
    let marker = format!("127.0.0.1:{slow}");
    let left = wait_for(Duration::from_secs(5), || {
        (!processes_mentioning(&marker)).then_some(())
    });
    assert!(left.is_some(), "git processes still running");
}

fn processes_mentioning(marker: &str) -> bool {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_that_hangs_times_out_and_leaves_nothing() {
    let sandbox = Sandbox::new();
    let port = silent_server().await;
    let server = serve_git(&sandbox, "  timeout_seconds: 1\n").await;
    let (frames, _) = clone_to_the_end(
        &server,
        json!({"name": "slow", "url": format!("git://127.0.0.1:{port}/r.git")}),
    )
    .await;
    assert_eq!(
        frames.last(),
        Some(&json!({"type": "done", "status": "error", "error": "clone timed out after 1s"}))
    );
    assert!(entries(&sandbox.projects_root()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_over_the_size_cap_is_deleted() {
    let sandbox = Sandbox::new();
    bare_repo(&sandbox, "heavy", 2 * 1024 * 1024);
    let (_daemon, port) = git_daemon(&sandbox);
    let server = serve_git(&sandbox, "  max_mb: 1\n").await;
    let (frames, _) = clone_to_the_end(
        &server,
        json!({"name": "heavy", "url": format!("git://127.0.0.1:{port}/heavy.git")}),
    )
    .await;
    assert_eq!(
        frames.last(),
        Some(
            &json!({"type": "done", "status": "error", "error": "clone exceeds the 1 MB size cap"})
        )
    );
    assert!(entries(&sandbox.projects_root()).is_empty());
}

/// Jobs: three at a time, reattach from another tab, the snapshot lists them, unknown ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_capped_listed_reattached_and_cancelled() {
    let sandbox = Sandbox::new();
    let port = silent_server().await;
    let server = serve_git(&sandbox, "  timeout_seconds: 120\n").await;
    let url =
        |name: &str| json!({"name": name, "url": format!("git://127.0.0.1:{port}/{name}.git")});
    let mut jobs = Vec::new();
    for name in ["one", "two", "three"] {
        jobs.push(start_clone(&server, url(name)).await);
    }
    let (status, answer) = post(&format!("{}/api/projects/clone", server.base), url("four")).await;
    assert_eq!(
        (status, answer),
        (
            429,
            json!({"detail": "too many clones in progress; wait for one to finish"})
        )
    );
    // The same name while its clone runs: refused as existing.
    let (status, _) = post(&format!("{}/api/projects/clone", server.base), url("one")).await;
    assert_eq!(status, 409);

    let (_, active) = get(&format!("{}/api/projects/clone/active", server.base)).await;
    let names = support::texts_of(&active["jobs"], "name");
    assert_eq!(names, ["one", "three", "two"]);
    assert!(
        !active.to_string().contains("git://"),
        "never the URL: {active}"
    );
    let (_, state) = get(&format!("{}/api/state", server.base)).await;
    assert_eq!(state["clone_jobs"].as_array().expect("clone_jobs").len(), 3);

    // Two watchers of one job (two tabs) both see its end.
    let mut tab_a = connect(&format!("{}/ws/clone-progress/{}", server.ws, jobs[0])).await;
    let mut tab_b = connect(&format!("{}/ws/clone-progress/{}", server.ws, jobs[0])).await;
    assert_eq!(next_frame(&mut tab_a).await["type"], "progress");
    assert_eq!(next_frame(&mut tab_b).await["type"], "progress");
    for job in &jobs {
        assert_eq!(cancel(&server, job).await.0, 202);
    }
    for tab in [&mut tab_a, &mut tab_b] {
        let (frames, close) = drain_progress(tab).await;
        assert_eq!(
            frames.last(),
            Some(&json!({"type": "done", "status": "cancelled", "error": null}))
        );
        assert_eq!(close, Some(CloseCode::Normal));
    }
    let gone = wait_for(Duration::from_secs(10), || {
        entries(&sandbox.projects_root()).is_empty().then_some(())
    });
    assert!(gone.is_some(), "{:?}", entries(&sandbox.projects_root()));
    // Now a fourth may start.
    let fourth = start_clone(&server, url("four")).await;
    assert_eq!(cancel(&server, &fourth).await.0, 202);

    // Unknown and malformed ids.
    let unknown = "0123456789abcdef0123456789abcdef";
    for id in [unknown, "nothex", "0123456789ABCDEF0123456789ABCDEF"] {
        let (status, answer) = cancel(&server, id).await;
        assert_eq!(status, 404, "{id}");
        assert!(
            answer["detail"]
                .as_str()
                .expect("detail")
                .starts_with("unknown or expired clone job")
        );
        let mut socket = connect(&format!("{}/ws/clone-progress/{id}", server.ws)).await;
        match next(&mut socket).await {
            Next::Closed(Some((code, reason))) => {
                assert_eq!(code, CloseCode::Policy, "{id}");
                assert_eq!(reason, "unknown clone job");
            }
            Next::Closed(None) => panic!("closed without a close frame"),
            Next::Frame(frame) => panic!("unexpected frame {frame}"),
        }
    }
}
