//! The ghost-environment reaper end to end (bridges.md §15, http-api.md §7, cli.md §3): the
//! real `clauster` binary, the fake `claude` for `claude agents --json` and bridges, and a
//! fake environments API on 127.0.0.1 reached through `CLAUSTER_ENVIRONMENTS_API_BASE`.

use crate::support;

use std::path::PathBuf;
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::environments_api::FakeEnvironmentsApi;
use support::lossy as text;
use support::{Sandbox, Server, ServesApi, clauster_bin, fake_claude, start_server};

const TOKEN: &str = "sk-ant-oat01-TESTTOKENabcdefghijklmnopqrstuvwxyz0123456789";
const ORG: &str = "0f0e0d0c-0000-4000-8000-000000000001";

/// A sandbox with projects `alpha`, `beta` (in use: `claude agents --json` lists it) and
/// `gamma`, a login, and the fake API listing seven environments three to a page: ghosts in
/// `alpha`, `gamma` and the deleted `gone`; `beta` live; a cloud one, one outside
/// `projects_root`, one without a directory, and one malformed item.
struct World {
    sandbox: Sandbox,
    claude: PathBuf,
    api: FakeEnvironmentsApi,
    agents_file: PathBuf,
    root: PathBuf,
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn write_credentials(sandbox: &Sandbox, expires_at: i64) {
    let dir = sandbox.home().join(".claude");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(".credentials.json"),
        json!({"claudeAiOauth": {"accessToken": TOKEN, "refreshToken": "r", "expiresAt": expires_at}})
            .to_string(),
    )
    .unwrap();
}

fn world() -> World {
    let sandbox = Sandbox::new();
    for name in ["alpha", "beta", "gamma"] {
        sandbox.project(name, &[".git"]);
    }
    let root = std::fs::canonicalize(sandbox.projects_root()).unwrap();
    let claude = fake_claude(&sandbox);
    write_credentials(&sandbox, now_ms() + 3_600_000);
    let trusted: serde_json::Map<String, Value> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|p| {
            let key = root.join(p).to_string_lossy().into_owned();
            (key, json!({"hasTrustDialogAccepted": true}))
        })
        .collect();
    std::fs::write(
        sandbox.home().join(".claude.json"),
        json!({"oauthAccount": {"organizationUuid": ORG}, "projects": trusted}).to_string(),
    )
    .unwrap();
    let agents_file = sandbox.dir.path().join("agents.json");
    std::fs::write(
        &agents_file,
        json!([{"pid": 4242, "cwd": root.join("beta"), "startedAt": 1, "sessionId": "s-1"}])
            .to_string(),
    )
    .unwrap();
    let dir = |name: &str| root.join(name).to_string_lossy().into_owned();
    let outside = sandbox.dir.path().join("elsewhere/x");
    let environments = vec![
        json!({"id": "env_01ALPHA", "name": "alpha", "config": {"type": "bridge", "directory": dir("alpha")}}),
        json!({"id": "env_01BETA", "name": "beta", "config": {"type": "bridge", "directory": dir("beta")}}),
        json!({"id": "env_01CLOUD", "name": "cloud", "config": {"type": "cloud"}}),
        json!({"id": "env_01GAMMA", "name": "gamma", "config": {"type": "bridge", "directory": dir("gamma")}}),
        json!({"name": "malformed: no id"}),
        json!({"id": "env_01OUTSIDE", "name": "outside", "config": {"type": "bridge", "directory": outside}}),
        json!({"id": "env_01GONE", "name": "gone", "config": {"type": "bridge", "directory": dir("gone")}}),
        json!({"id": "env_01NODIR", "name": "nodir", "config": {"type": "bridge"}}),
    ];
    let api = FakeEnvironmentsApi::start(environments, 3);
    World {
        sandbox,
        claude,
        api,
        agents_file,
        root,
    }
}

impl World {
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CLAUSTER_ENVIRONMENTS_API_BASE", self.api.base.clone()),
            (
                "FAKE_CLAUDE_AGENTS_FILE",
                self.agents_file.to_string_lossy().into_owned(),
            ),
        ]
    }

    fn server(&self, extra: &[(&str, &str)]) -> Server {
        let env = self.env();
        let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        all.extend_from_slice(extra);
        start_server(&self.sandbox, Some(&self.claude), &[], &all)
    }

    /// Runs one `clauster` command with the sandbox's environment (no server unless one runs).
    fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = self.sandbox.command(clauster_bin());
        cmd.args(args)
            .env("CLAUSTER_PROJECTS_ROOT", self.sandbox.projects_root())
            .env("CLAUSTER_CLAUDE_BINARY", &self.claude);
        for (name, value) in self.env() {
            cmd.env(name, value);
        }
        cmd.output().expect("run clauster")
    }

    fn dir(&self, name: &str) -> String {
        self.root.join(name).to_string_lossy().into_owned()
    }

    fn expected_ghosts(&self, live_dirs: u64) -> Value {
        json!({
            "enabled": true,
            "total": 7,
            "live_dirs": live_dirs,
            "ghosts": [
                {"id": "env_01ALPHA", "directory": self.dir("alpha"), "name": "alpha"},
                {"id": "env_01GAMMA", "directory": self.dir("gamma"), "name": "gamma"},
                {"id": "env_01GONE", "directory": self.dir("gone"), "name": "gone"},
            ],
        })
    }
}

async fn post_reap(server: &Server, body: Value) -> (u16, Value) {
    server.post("/api/environments/reap", body).await
}

async fn get_ghosts(server: &Server) -> (u16, Value) {
    server.get("/api/environments/ghosts").await
}

fn assert_headers(request: &support::environments_api::Recorded) {
    let h = &request.headers;
    assert_eq!(h["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(h["x-organization-uuid"], ORG);
    assert_eq!(h["anthropic-beta"], "managed-agents-2026-04-01");
    assert_eq!(h["anthropic-version"], "2023-06-01");
    assert_eq!(h["content-type"], "application/json");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_routes_list_ghosts_and_reap_only_what_is_still_a_ghost() {
    let world = world();
    let server = world.server(&[("CLAUSTER_REAPER_UI_ENABLED", "true")]);

    let (status, ghosts) = get_ghosts(&server).await;
    assert_eq!(status, 200, "{ghosts}\n{}", server.log());
    assert_eq!(ghosts, world.expected_ghosts(1));

    // Three pages, each call with the headers of §15, the cursor from `next_page`.
    let listed = world.api.requests();
    let queries: Vec<(&str, &str, &str)> = listed
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.query.as_str()))
        .collect();
    assert_eq!(
        queries,
        [
            ("GET", "/v1/environments", "limit=100"),
            ("GET", "/v1/environments", "limit=100&after_id=env_01CLOUD"),
            (
                "GET",
                "/v1/environments",
                "limit=100&after_id=env_01OUTSIDE"
            ),
        ]
    );
    for request in &listed {
        assert_headers(request);
    }

    // `beta` is live and the unknown id is no ghost: both skipped, never sent to the API.
    world.clear_api();
    world.api.with(|s| {
        s.outcomes.insert(
            "env_01GAMMA".into(),
            (
                500,
                format!("<html>internal error for Bearer {TOKEN}</html>"),
            ),
        );
    });
    let (status, result) = post_reap(
        &server,
        json!({"action": "archive", "ids": ["env_01ALPHA", "env_01GAMMA", "env_01BETA", "env_unknown", "env_01ALPHA"], "confirm": "archive"}),
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["action"], "archive");
    assert_eq!(result["reaped"], json!(["env_01ALPHA"]));
    assert_eq!(result["skipped"], json!(["env_01BETA", "env_unknown"]));
    let error = result["errors"]["env_01GAMMA"].as_str().unwrap();
    assert!(
        error.starts_with("HTTP 500 <html>internal error for "),
        "{error}"
    );
    assert!(!error.contains("TESTTOKEN"), "{error}");
    let acted: Vec<(String, String)> = world
        .api
        .mutations()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        acted,
        [
            (
                "POST".to_owned(),
                "/v1/environments/env_01ALPHA/archive".to_owned()
            ),
            (
                "POST".to_owned(),
                "/v1/environments/env_01GAMMA/archive".to_owned()
            ),
        ]
    );
    for request in world.api.mutations() {
        assert_headers(&request);
    }

    // Delete, with `force=true`; the archived one is gone from the list now.
    world.clear_api();
    let (status, result) = post_reap(
        &server,
        json!({"action": "delete", "ids": ["env_01GONE", "env_01ALPHA"], "confirm": "DELETE"}),
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        result,
        json!({"action": "delete", "reaped": ["env_01GONE"], "skipped": ["env_01ALPHA"], "errors": {}})
    );
    let deleted = world.api.mutations();
    assert_eq!(deleted.len(), 1);
    assert_eq!(
        (
            deleted[0].method.as_str(),
            deleted[0].path.as_str(),
            deleted[0].query.as_str()
        ),
        ("DELETE", "/v1/environments/env_01GONE", "force=true")
    );

    // Neither the token nor an environment id reaches the server's log.
    let log = server.log();
    assert!(!log.contains("TESTTOKEN"), "{log}");
    assert!(!log.contains("env_01"), "{log}");
}

impl World {
    fn clear_api(&self) {
        self.api.clear_requests();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_and_foreign_origins_are_refused_before_anything_runs() {
    let world = world();
    let server = world.server(&[("CLAUSTER_REAPER_UI_ENABLED", "true")]);
    let reap = json!({"action": "archive", "ids": ["env_01ALPHA"], "confirm": "archive"});

    // security.md §12 case 51 and the bad bodies: 400 / 422 with their texts and fields.
    let cases = [
        (
            json!({"action": "archive", "ids": ["env_01ALPHA"], "confirm": "yes"}),
            400,
            "confirm must be 'archive' for archive or 'DELETE' for delete",
            None,
        ),
        (
            json!({"action": "delete", "ids": ["env_01ALPHA"], "confirm": "archive"}),
            400,
            "confirm must be 'archive' for archive or 'DELETE' for delete",
            None,
        ),
        (
            json!({"action": "archive", "ids": [], "confirm": "archive"}),
            422,
            "ids must be a non-empty list of strings",
            Some("ids"),
        ),
        (
            json!({"action": "archive", "ids": [1], "confirm": "archive"}),
            422,
            "ids must be a non-empty list of strings",
            Some("ids"),
        ),
        (
            json!({"action": "purge", "ids": ["env_01ALPHA"], "confirm": "archive"}),
            422,
            "action must be 'archive' or 'delete'",
            Some("action"),
        ),
        (
            json!(["env_01ALPHA"]),
            422,
            "request body must be a JSON object",
            None,
        ),
    ];
    for (body, want_status, want_detail, want_field) in cases {
        let (status, answer) = post_reap(&server, body.clone()).await;
        assert_eq!(status, want_status, "{body} → {answer}");
        assert_eq!(answer["detail"], want_detail, "{body}");
        assert_eq!(
            answer.get("field").and_then(Value::as_str),
            want_field,
            "{body}"
        );
    }
    assert!(
        world.api.requests().is_empty(),
        "a refused body calls nothing"
    );

    // Origin: an unsafe request from a foreign page is refused before anything runs.
    let foreign = reqwest::Client::new()
        .post(format!("{}/api/environments/reap", server.base))
        .header("Origin", "http://evil.example")
        .json(&reap)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status().as_u16(), 403);
    let body: Value = foreign.json().await.unwrap();
    assert_eq!(body["detail"], "origin check failed");
    assert!(world.api.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_and_live_set_failures_are_503_and_touch_nothing() {
    let world = world();
    let server = world.server(&[("CLAUSTER_REAPER_UI_ENABLED", "true")]);
    let reap = json!({"action": "archive", "ids": ["env_01ALPHA"], "confirm": "archive"});

    // The live set cannot be built (agents answer is not JSON): nothing is archived.
    std::fs::write(&world.agents_file, "this is not json").unwrap();
    let (status, answer) = post_reap(&server, reap.clone()).await;
    assert_eq!(status, 503, "{answer}");
    let detail = answer["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("could not determine which directories are in use: `claude agents --json` did not print JSON"),
        "{detail}"
    );
    let (status, _) = get_ghosts(&server).await;
    assert_eq!(status, 503);
    assert!(world.api.mutations().is_empty());
    std::fs::write(&world.agents_file, "[]").unwrap();

    // 503: expired credentials, then none at all. The API is never called.
    world.clear_api();
    write_credentials(&world.sandbox, now_ms() - 60_000);
    let (status, answer) = get_ghosts(&server).await;
    assert_eq!(status, 503, "{answer}");
    let detail = answer["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("no usable claude.ai credentials: the claude.ai login expired at "),
        "{detail}"
    );
    std::fs::remove_file(world.sandbox.home().join(".claude/.credentials.json")).unwrap();
    let (status, answer) = post_reap(&server, reap.clone()).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .starts_with("no usable claude.ai credentials: "),
        "{answer}"
    );
    assert!(world.api.requests().is_empty());
    write_credentials(&world.sandbox, now_ms() + 3_600_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_failures_are_502_with_a_redacted_excerpt() {
    let world = world();
    let server = world.server(&[("CLAUSTER_REAPER_UI_ENABLED", "true")]);
    let reap = json!({"action": "archive", "ids": ["env_01ALPHA"], "confirm": "archive"});

    // The API fails, or answers something that is not JSON; the excerpt is redacted.
    world.api.with(|s| {
        s.list_answer = Some((
            500,
            format!(
                "{{\"error\": \"overloaded\", \"echo\": \"{TOKEN}\", \"env\": \"env_01SECRETID\"}}"
            ),
        ));
    });
    let (status, answer) = get_ghosts(&server).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(
        answer["detail"],
        "environments API error: 500 {\"error\": \"overloaded\", \"echo\": \"<redacted>\", \"env\": \"env_<redacted>\"}"
    );
    world
        .api
        .with(|s| s.list_answer = Some((200, "<html>\n<b>maintenance</b></html>".into())));
    let (status, answer) = post_reap(&server, reap.clone()).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(
        answer["detail"],
        "environments API error: 200 <html> <b>maintenance</b></html>"
    );
    assert!(world.api.mutations().is_empty());

    // The operator's log has the warning, redacted like the answer.
    let log = server.log();
    assert!(
        log.contains("reaper: environments API error: 500 "),
        "{log}"
    );
    assert!(
        !log.contains("TESTTOKEN") && !log.contains("SECRETID"),
        "{log}"
    );

    // A cursor that repeats ends the listing instead of looping.
    world.api.with(|s| {
        s.list_answer = None;
        s.loop_cursor = true;
    });
    world.clear_api();
    let (status, answer) = get_ghosts(&server).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(world.api.requests().len(), 2, "first page, then the repeat");
    assert!(world.api.mutations().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_panel_off_the_routes_are_404_but_the_cli_still_works() {
    let world = world();
    let server = world.server(&[]);
    let (status, answer) = get_ghosts(&server).await;
    assert_eq!(
        (status, answer),
        (404, json!({"detail": "reaper UI is disabled"}))
    );
    let (status, answer) = post_reap(
        &server,
        json!({"action": "archive", "ids": ["env_01ALPHA"], "confirm": "yes"}),
    )
    .await;
    assert_eq!(
        (status, answer),
        (404, json!({"detail": "reaper UI is disabled"}))
    );
    assert!(world.api.requests().is_empty());

    // The command reaches the running server over its control socket.
    let out = tokio::task::spawn_blocking(move || {
        let out = world.cli(&["reaper", "--json"]);
        (world, out)
    })
    .await
    .unwrap();
    let (world, out) = out;
    support::assert_exit(&out, 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, world.expected_ghosts(1));
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_bridge_and_its_pointer_keep_their_directory_out_of_the_ghosts() {
    let world = world();
    let server = world.server(&[("CLAUSTER_REAPER_UI_ENABLED", "true")]);
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    assert_eq!(started["status"], "running", "{started}");
    let id = started["instance_id"].as_str().unwrap().to_owned();

    let (status, ghosts) = get_ghosts(&server).await;
    assert_eq!(status, 200, "{ghosts}");
    let ids = support::texts_of(&ghosts["ghosts"], "id");
    assert_eq!(ids, ["env_01GAMMA", "env_01GONE"]);
    // beta (agents) and alpha (the instance, its pointer and its agents-less bridge).
    assert_eq!(ghosts["live_dirs"], 2);

    // Asked to archive alpha anyway: skipped, the API never hears of it.
    world.clear_api();
    let (status, result) = post_reap(
        &server,
        json!({"action": "archive", "ids": ["env_01ALPHA"], "confirm": "archive"}),
    )
    .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["skipped"], json!(["env_01ALPHA"]));
    assert!(world.api.mutations().is_empty());
    server.delete(&format!("/api/instances/{id}")).await;
}

#[test]
fn the_cli_dry_run_archive_and_delete_without_a_server() {
    let world = world();

    // Dry run (the default): the summary on stderr, one line per ghost on stdout.
    let out = world.cli(&["reaper"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr,
        "org 0f0e0d0c… · token sk-ant…\n7 environments · 1 live directories · 3 ghosts\n"
    );
    assert_eq!(
        stdout,
        format!(
            "env_01ALPHA  {}  (alpha)\nenv_01GAMMA  {}  (gamma)\nenv_01GONE  {}  (gone)\n",
            world.dir("alpha"),
            world.dir("gamma"),
            world.dir("gone")
        )
    );
    let dry = world.cli(&["reaper", "--dry-run", "--json"]);
    support::assert_exit(&dry, 0);
    assert_eq!(
        serde_json::from_slice::<Value>(&dry.stdout).unwrap(),
        world.expected_ghosts(1)
    );
    assert!(
        world.api.mutations().is_empty(),
        "a dry run changes nothing"
    );

    // --delete without --yes, stdin not a terminal: refused before anything is asked.
    world.clear_api();
    let refused = world.cli(&["reaper", "--delete"]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(text(&refused.stdout), "");
    assert!(
        text(&refused.stderr).contains("stdin is not a terminal; add --yes"),
        "{}",
        text(&refused.stderr)
    );
    assert!(world.api.requests().is_empty());

    // --archive: one result line per id; a failure makes the exit code 1.
    world.api.with(|s| {
        s.outcomes
            .insert("env_01GAMMA".into(), (500, "{\"error\": \"boom\"}".into()));
    });
    let archived = world.cli(&["reaper", "--archive"]);
    let stdout = text(&archived.stdout);
    support::assert_exit(&archived, 1);
    assert!(
        stdout.ends_with(
            "archived env_01ALPHA\nfailed env_01GAMMA: HTTP 500 {\"error\": \"boom\"}\narchived env_01GONE\n"
        ),
        "{stdout}"
    );

    // --delete --yes --json: the reap answer only; gamma is the one ghost left.
    world.api.with(|s| s.outcomes.clear());
    let deleted = world.cli(&["reaper", "--delete", "--yes", "--json"]);
    support::assert_exit(&deleted, 0);
    assert_eq!(
        serde_json::from_slice::<Value>(&deleted.stdout).unwrap(),
        json!({"action": "delete", "reaped": ["env_01GAMMA"], "skipped": [], "errors": {}})
    );

    // The compatibility alias: nothing left to do.
    let alias = world.cli(&["reap-environments", "--force-delete"]);
    support::assert_exit(&alias, 0);
    assert_eq!(text(&alias.stdout), "");
    assert!(text(&alias.stderr).ends_with(" · 1 live directories · 0 ghosts\n"));

    // The token never appears in full anywhere the command printed.
    for out in [&out, &dry, &refused, &archived, &deleted, &alias] {
        assert!(!text(&out.stdout).contains("TESTTOKEN"));
        assert!(!text(&out.stderr).contains("TESTTOKEN"));
    }
}

#[test]
fn the_cli_exits_2_on_credentials_api_and_live_set_failures() {
    let world = world();

    write_credentials(&world.sandbox, now_ms() - 1);
    let expired = world.cli(&["reaper", "--archive"]);
    assert_eq!(expired.status.code(), Some(2));
    let stderr = text(&expired.stderr);
    assert!(
        stderr.starts_with(
            "clauster: error: no usable claude.ai credentials: the claude.ai login expired at "
        ),
        "{stderr}"
    );
    assert_eq!(text(&expired.stdout), "");
    assert!(world.api.requests().is_empty());
    write_credentials(&world.sandbox, now_ms() + 3_600_000);

    world
        .api
        .with(|s| s.list_answer = Some((401, "{\"error\": \"unauthorized\"}".into())));
    let api = world.cli(&["reaper"]);
    assert_eq!(api.status.code(), Some(2));
    assert!(
        text(&api.stderr)
            .contains("clauster: error: environments API error: 401 {\"error\": \"unauthorized\"}"),
        "{}",
        text(&api.stderr)
    );
    world.api.with(|s| s.list_answer = None);

    std::fs::write(&world.agents_file, "{\"nothing\": 1}").unwrap();
    world.clear_api();
    let live = world.cli(&["reaper", "--delete", "--yes"]);
    assert_eq!(live.status.code(), Some(2));
    assert!(
        text(&live.stderr).contains("could not determine which directories are in use"),
        "{}",
        text(&live.stderr)
    );
    assert!(world.api.mutations().is_empty());
}

#[test]
fn an_api_base_that_is_not_https_or_loopback_is_refused() {
    let world = world();
    let mut cmd = world.sandbox.command(clauster_bin());
    cmd.args(["reaper"])
        .env("CLAUSTER_PROJECTS_ROOT", world.sandbox.projects_root())
        .env("CLAUSTER_CLAUDE_BINARY", &world.claude)
        .env("FAKE_CLAUDE_AGENTS_FILE", &world.agents_file)
        .env("CLAUSTER_ENVIRONMENTS_API_BASE", "http://192.0.2.1:80");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("environments API error: CLAUSTER_ENVIRONMENTS_API_BASE: the environments API base \"http://192.0.2.1:80\" is refused"),
        "{stderr}"
    );
}

#[test]
fn an_https_base_is_spoken_to_in_tls_and_its_certificate_checked() {
    use std::io::{Read, Write};
    let world = world();
    // A listener that answers plain HTTP: a client that speaks TLS to it must fail, having
    // sent a TLS handshake record first and no token in clear.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut first = vec![0u8; 4096];
        let n = stream.read(&mut first).unwrap_or(0);
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}");
        first.truncate(n);
        first
    });
    let mut cmd = world.sandbox.command(clauster_bin());
    cmd.args(["reaper"])
        .env("CLAUSTER_PROJECTS_ROOT", world.sandbox.projects_root())
        .env("CLAUSTER_CLAUDE_BINARY", &world.claude)
        .env("FAKE_CLAUDE_AGENTS_FILE", &world.agents_file)
        .env(
            "CLAUSTER_ENVIRONMENTS_API_BASE",
            format!("https://127.0.0.1:{port}"),
        );
    let out = cmd.output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "clauster: error: environments API error: could not reach the environments API ("
        ),
        "{stderr}"
    );
    let first = seen.join().unwrap();
    assert_eq!(
        first.first(),
        Some(&0x16),
        "a TLS handshake record comes first"
    );
    assert!(!String::from_utf8_lossy(&first).contains("TESTTOKEN"));
}

/// `clauster reaper --delete` with a terminal on stdin (a pty) and `answer` typed into it.
fn delete_on_a_terminal(world: &World, answer: &str) -> Output {
    use std::io::Write;
    use std::os::fd::OwnedFd;
    use std::process::Stdio;
    let pty = nix::pty::openpty(None, None).expect("open a pty");
    let mut cmd = world.sandbox.command(clauster_bin());
    cmd.args(["reaper", "--delete"])
        .env("CLAUSTER_PROJECTS_ROOT", world.sandbox.projects_root())
        .env("CLAUSTER_CLAUDE_BINARY", &world.claude);
    for (name, value) in world.env() {
        cmd.env(name, value);
    }
    let slave: OwnedFd = pty.slave;
    cmd.stdin(Stdio::from(slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("run clauster");
    drop(cmd);
    // Typed ahead: the terminal keeps the line until the prompt reads it.
    let mut master = std::fs::File::from(pty.master);
    master.write_all(answer.as_bytes()).unwrap();
    child.wait_with_output().expect("clauster ends")
}

#[test]
fn delete_on_a_terminal_asks_to_type_delete() {
    let world = world();

    let declined = delete_on_a_terminal(&world, "yes\n");
    let stderr = text(&declined.stderr);
    assert_eq!(declined.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("Type DELETE to permanently delete 3 environment(s): "),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("clauster: error: not confirmed; nothing was deleted\n"),
        "{stderr}"
    );
    assert!(world.api.mutations().is_empty());

    let confirmed = delete_on_a_terminal(&world, "DELETE\n");
    let stdout = text(&confirmed.stdout);
    support::assert_exit(&confirmed, 0);
    assert!(
        stdout.ends_with("deleted env_01ALPHA\ndeleted env_01GAMMA\ndeleted env_01GONE\n"),
        "{stdout}"
    );
    let deleted: Vec<String> = world
        .api
        .mutations()
        .into_iter()
        .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
        .collect();
    assert_eq!(
        deleted,
        [
            "DELETE /v1/environments/env_01ALPHA?force=true",
            "DELETE /v1/environments/env_01GAMMA?force=true",
            "DELETE /v1/environments/env_01GONE?force=true",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_auth_on_the_routes_need_credentials_like_every_core_route() {
    let world = world();
    let token = "clauster_pat_reaper-test-token-0123456789abcdef";
    let hash = support::sha256_hex(token);
    let server = world.server(&[
        ("CLAUSTER_REAPER_UI_ENABLED", "true"),
        ("CLAUSTER_AUTH_ENABLED", "true"),
        ("CLAUSTER_AUTH_API_TOKEN_HASH", &hash),
    ]);
    let (status, answer) = get_ghosts(&server).await;
    assert_eq!(
        (status, answer),
        (401, json!({"detail": "authentication required"}))
    );
    let client = reqwest::Client::new();
    let with_token = client
        .get(format!("{}/api/environments/ghosts", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status().as_u16(), 200);
    assert_eq!(
        with_token.json::<Value>().await.unwrap(),
        world.expected_ghosts(1)
    );
    // The page context tells the dashboard to show the Maintenance panel.
    let state: Value = client
        .get(format!("{}/api/state", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["context"]["reaper_ui"], true, "{state}");
    assert!(world.api.mutations().is_empty());
}

#[test]
fn a_bridge_started_by_hand_is_live_through_its_pointer() {
    let world = world();
    // A standard bridge in gamma that Clauster did not start and `claude agents` does not
    // list: only its live bridge pointer says the directory is in use.
    let gamma = world.root.join("gamma");
    let mut cmd = world.sandbox.command(&world.claude);
    cmd.args(["remote-control", "--name", "by-hand"])
        .current_dir(&gamma);
    let _by_hand = support::spawn_logged(cmd, &world.sandbox.dir.path().join("by-hand.log"));
    let slug = clauster_core::slug::slug(&gamma.to_string_lossy());
    let pointer = world
        .sandbox
        .home()
        .join(".claude/projects")
        .join(slug)
        .join("bridge-pointer.json");
    assert!(
        support::wait_for(std::time::Duration::from_secs(10), || pointer
            .exists()
            .then_some(()))
        .is_some(),
        "the hand-started bridge wrote no pointer"
    );
    let out = world.cli(&["reaper", "--json"]);
    support::assert_exit(&out, 0);
    let view: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(view["live_dirs"], 2, "{view}");
    assert_eq!(
        view["ghosts"],
        json!([
            {"id": "env_01ALPHA", "directory": world.dir("alpha"), "name": "alpha"},
            {"id": "env_01GONE", "directory": world.dir("gone"), "name": "gone"},
        ])
    );
}
