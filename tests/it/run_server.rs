//! `clauster run` as a real process: a temp HOME and projects root, a real socket on
//! 127.0.0.1, and the JSON and HTML it serves.

use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Sandbox, clauster_bin, free_port, listening, spawn_logged};

struct Running {
    _child: support::KillOnDrop,
    base: String,
    log: std::path::PathBuf,
}

/// Starts `clauster run` on a free port and waits until `/healthz` answers.
fn start(sandbox: &Sandbox, extra: &[&str]) -> Running {
    let port = free_port();
    let mut cmd = sandbox.command(clauster_bin());
    cmd.args(["run", "--port", &port.to_string()]).args(extra);
    let log = sandbox.dir.path().join("clauster.log");
    let child = spawn_logged(cmd, &log);
    let base = format!("http://127.0.0.1:{port}");
    let health = format!("{base}/healthz");
    let up = listening(port, Duration::from_secs(20));
    assert!(up, "clauster did not listen on {health}:\n{}", read(&log));
    Running {
        _child: child,
        base,
        log,
    }
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

#[tokio::test]
async fn serves_health_and_the_discovered_projects() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git", "CLAUDE.md"]);
    sandbox.project("Beta", &[".claude"]);
    sandbox.project(".hidden", &[]);
    sandbox.project("-flaglike", &[]);
    sandbox.project("CON", &[]);
    std::fs::write(sandbox.projects_root().join("notes.txt"), "not a project").unwrap();
    let elsewhere = sandbox.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, sandbox.projects_root().join("linked")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", sandbox.projects_root().join("broken")).unwrap();
    sandbox.trust(&alpha);

    let root = sandbox.projects_root();
    let server = start(&sandbox, &["--projects-root", root.to_str().unwrap()]);

    let (status, health) = get_json(&format!("{}/healthz", server.base)).await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    // No `claude` on this sandbox's PATH: the background probe reports it missing. The probe
    // and rediscovery run concurrently (bridges.md §11 step 3), so either may finish first.
    let mut probed = health.clone();
    for _ in 0..100 {
        if probed["claude_ok"] == Value::Bool(false) && probed["engine_ready"] == Value::Bool(true)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        probed = get_json(&format!("{}/healthz", server.base)).await.1;
    }
    assert_eq!(probed["claude_ok"], Value::Bool(false), "{probed}");
    assert_eq!(probed["engine_ready"], Value::Bool(true), "{probed}");
    assert_eq!(health["instances_running"], 0);

    let path = |name: &str| root.join(name).to_string_lossy().into_owned();
    let expected = json!([
        {"name": "alpha", "path": path("alpha"), "is_git_repo": true, "has_claude_md": true,
         "has_claude_dir": false, "trust_state": "trusted", "allow_bypass_permissions": false},
        {"name": "Beta", "path": path("Beta"), "is_git_repo": false, "has_claude_md": false,
         "has_claude_dir": true, "trust_state": "untrusted", "allow_bypass_permissions": false},
        {"name": "linked", "path": path("linked"), "is_git_repo": false, "has_claude_md": false,
         "has_claude_dir": false, "trust_state": "untrusted", "allow_bypass_permissions": false},
    ]);
    let (status, projects) = get_json(&format!("{}/api/projects", server.base)).await;
    assert_eq!(status, 200);
    assert_eq!(projects, expected, "log:\n{}", read(&server.log));
    let (status, v1) = get_json(&format!("{}/api/v1/projects", server.base)).await;
    assert_eq!((status, v1), (200, expected));

    let (status, missing) = get_json(&format!("{}/api/nope", server.base)).await;
    assert_eq!((status, missing), (404, json!({"detail": "Not Found"})));
    // A known path with another method: the same error body, and what it does allow.
    let wrong = reqwest::Client::new()
        .patch(format!("{}/api/v1/projects", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers()["allow"], "GET");
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body, json!({"detail": "Method Not Allowed"}));
    // The control socket is the same router: no `HEAD` in its `Allow` either.
    let socket = sandbox.state_dir().join("control.sock");
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
        stream
            .write_all(
                b"PATCH /api/projects HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer.to_ascii_lowercase()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("http/1.1 405"), "{answer}");
    assert!(answer.contains("\r\nallow: get,post\r\n"), "{answer}");

    let page = reqwest::get(format!("{}/", server.base)).await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    for name in ["alpha", "Beta", "linked"] {
        assert!(
            html.contains(&format!("data-project=\"{name}\"")),
            "card {name} missing"
        );
    }
    assert!(
        !html.contains("data-project=\"CON\""),
        "device names are not projects"
    );
    assert!(
        !html.contains("data-hydrated"),
        "only the browser marks hydration"
    );
    assert!(
        html.contains("id=\"clauster-bootstrap\""),
        "bootstrap data missing"
    );

    let banner = read(&server.log);
    assert!(
        banner.contains(&format!("projects_root={}", root.display())),
        "banner: {banner}"
    );
}

#[tokio::test]
async fn without_any_config_it_serves_the_default_projects_root_and_creates_it() {
    let sandbox = Sandbox::new();
    let server = start(&sandbox, &[]);
    let default_root = sandbox.home().join("projects");
    assert!(default_root.is_dir(), "~/projects was not created");
    let (status, projects) = get_json(&format!("{}/api/projects", server.base)).await;
    assert_eq!((status, projects), (200, json!([])));
    let banner = read(&server.log);
    assert!(
        banner.contains(&format!("projects_root={}", default_root.display())),
        "banner: {banner}"
    );
    assert!(banner.contains("| http://127.0.0.1:"), "banner: {banner}");
}

#[test]
fn a_network_bind_without_enforced_auth_is_refused_with_the_fix() {
    let sandbox = Sandbox::new();
    let root = sandbox.projects_root();
    std::fs::create_dir_all(&root).unwrap();
    let output = sandbox
        .command(clauster_bin())
        .args([
            "run",
            "--host",
            "0.0.0.0",
            "--port",
            &free_port().to_string(),
        ])
        .arg("--projects-root")
        .arg(&root)
        .output()
        .expect("run clauster");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "clauster: config error: refusing non-loopback host='0.0.0.0' without enforced auth."
        ),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("auth.allow_unauthenticated_network"),
        "stderr: {stderr}"
    );
}

#[test]
fn a_missing_config_file_named_with_c_is_a_config_error() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .command(clauster_bin())
        .args(["-c", "/nonexistent/clauster.yml"])
        .output()
        .expect("run clauster");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim_end(),
        "clauster: config error: no such file: /nonexistent/clauster.yml"
    );
}

/// HTML and JSON answers over 1 KiB go out gzip-compressed to a client that accepts it, as
/// 1.3.2 answers (issue 18); smaller ones, and every answer to a client that does not, go out
/// as they are.
#[tokio::test]
async fn large_html_and_json_answers_are_gzipped_when_accepted() {
    use std::io::Read as _;
    let sandbox = Sandbox::new();
    for n in 0..40 {
        sandbox.project(&format!("project-with-a-long-name-{n:02}"), &[]);
    }
    let server = support::start_server(&sandbox, None, &[], &[]);
    let client = reqwest::Client::new();
    let fetch = |path: &str, gzip: bool| {
        let mut request = client.get(format!("{}{path}", server.base));
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        request
            .header("accept", "text/html,application/json")
            .send()
    };

    let page = fetch("/", true).await.expect("GET /");
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-encoding"], "gzip");
    let compressed = page.bytes().await.expect("the page");
    let mut html = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut html)
        .expect("valid gzip");
    assert!(html.contains("project-with-a-long-name-39"), "{html}");

    let projects = fetch("/api/projects", true)
        .await
        .expect("GET /api/projects");
    assert_eq!(projects.headers()["content-encoding"], "gzip");

    let plain = fetch("/api/projects", false)
        .await
        .expect("GET /api/projects");
    assert!(plain.headers().get("content-encoding").is_none());
    let listed: Value = plain.json().await.expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(40), "{listed}");

    let small = fetch("/healthz", true).await.expect("GET /healthz");
    assert!(
        small.headers().get("content-encoding").is_none(),
        "a small answer is sent as it is"
    );
}

/// `instance_name` names the process `clauster[<name>]`, cut to the kernel's 15 bytes
/// (config.md §3.1), as /proc/<pid>/comm shows it.
#[test]
fn instance_name_names_the_process() {
    let sandbox = Sandbox::with_projects_root();
    let server = support::start_server(
        &sandbox,
        None,
        &[],
        &[("CLAUSTER_INSTANCE_NAME", "workstation")],
    );
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", server.pid())).unwrap();
    assert_eq!(comm.trim_end(), "clauster[workst");
}

/// The bundle goes out pre-compressed (zopfli for a release bundle, flate2 for the debug one
/// the tests usually embed; issue 19's size budget): to a client that accepts gzip as
/// `Content-Encoding: gzip` that decodes to exactly the bytes sent to one that does not.
#[tokio::test]
async fn the_bundle_is_sent_pre_compressed_and_decodes_to_itself() {
    use std::io::Read as _;
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    let server = support::start_server(&sandbox, None, &[], &[]);
    let client = reqwest::Client::new();
    let url = format!("{}/pkg/clauster.wasm", server.base);
    let plain = client.get(&url).send().await.expect("GET the bundle");
    assert_eq!(
        plain.status(),
        200,
        "no bundle was embedded; run `cargo xtask bundle`"
    );
    assert!(plain.headers().get("content-encoding").is_none());
    let raw = plain.bytes().await.expect("the bundle");
    let packed = client
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET the bundle gzipped");
    assert_eq!(packed.headers()["content-encoding"], "gzip");
    let compressed = packed.bytes().await.expect("the gzipped bundle");
    assert!(
        compressed.len() < raw.len() / 2,
        "{} of {}",
        compressed.len(),
        raw.len()
    );
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut decoded)
        .expect("valid gzip");
    assert!(decoded == raw[..], "the gzip decodes to other bytes");
}
