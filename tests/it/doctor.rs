//! `clauster doctor` and `GET /api/doctor` (cli.md §3–§4, http-api.md §3) with the fake
//! `claude` as a real process: every row's ok/warn/fail texts that the sandbox can provoke,
//! the summary lines, the exit codes and the JSON shape.

use crate::support;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use support::{
    Sandbox, ServesApi, clauster_bin, fake_claude, free_port, sha256_hex, start_server, wait_for,
};

/// Every row of cli.md §4, in its order.
const ROWS: [&str; 19] = [
    "config",
    "claude",
    "claude-capabilities",
    "claude-login",
    "claude-paths",
    "api-key-env",
    "projects_root",
    "state_dir",
    "store",
    "git",
    "auth",
    "notifications",
    "workspace-trust",
    "systemd",
    "node-toolchain",
    "orphan-keepers",
    "platform",
    "port",
    "server",
];

struct Setup {
    sandbox: Sandbox,
    claude: PathBuf,
    config: PathBuf,
}

/// A sandbox with one trusted project, the fake claude and a config file naming both and a
/// free port.
fn setup(extra_yaml: &str) -> Setup {
    let (sandbox, claude) = support::alpha_and_fake();
    let config = sandbox.dir.path().join("clauster.yml");
    std::fs::write(
        &config,
        format!(
            "port: {}\nprojects_root: {}\nclaude:\n  binary: {}\n{extra_yaml}",
            free_port(),
            sandbox.projects_root().display(),
            claude.display()
        ),
    )
    .unwrap();
    Setup {
        sandbox,
        claude,
        config,
    }
}

fn run(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = sandbox.command(clauster_bin());
    cmd.args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().expect("run clauster doctor")
}

/// `doctor -c <config> --json`: the exit code, the report and stderr.
fn doctor_json(setup: &Setup, env: &[(&str, &str)]) -> (Option<i32>, Value, String) {
    let config = setup.config.to_str().unwrap();
    let out = run(&setup.sandbox, &["doctor", "-c", config, "--json"], env);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json printed no JSON ({e}): {stderr}"));
    (out.status.code(), report, stderr)
}

/// [`doctor_json`], which must exit with `code`: the report and stderr.
#[track_caller]
fn doctor_exits(setup: &Setup, env: &[(&str, &str)], code: i32) -> (Value, String) {
    let (exit, report, stderr) = doctor_json(setup, env);
    assert_eq!(exit, Some(code), "{report} {stderr}");
    (report, stderr)
}

/// Asserts that the row `name` of `report` has `status` and `detail`.
#[track_caller]
fn assert_row(report: &Value, name: &str, status: &str, detail: &str) {
    assert_eq!(
        status_and_detail(report, name),
        (status.to_owned(), detail.to_owned()),
        "{name}"
    );
}

fn status_and_detail(report: &Value, name: &str) -> (String, String) {
    let row = support::check_named(report, name);
    (
        row["status"].as_str().unwrap().to_owned(),
        row["detail"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn a_healthy_setup_passes_every_check_and_prints_one_line_per_row() {
    let setup = setup("");
    let config = setup.config.to_str().unwrap();
    let out = run(&setup.sandbox, &["doctor", "-c", config], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), ROWS.len(), "{stdout}");
    for (line, name) in lines.iter().zip(ROWS) {
        assert!(
            line.starts_with(&format!("  ✓ {name:<16} ")),
            "{line:?} in\n{stdout}"
        );
    }
    assert!(
        stdout.contains(&format!(
            "  ✓ config           loaded {}\n",
            setup.config.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("  ✓ claude           2.1.328 (>= 2.1.145)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  ✓ claude-capabilities remote-control --continue: yes · default mode token: default"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("  ✓ claude-login     logged in ("),
        "{stdout}"
    );
    assert!(
        stdout.contains("  ✓ api-key-env      not set\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "  ✓ projects_root    {} (1 projects)\n",
            setup.sandbox.projects_root().display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("  ✓ workspace-trust  1/1 discovered projects trusted\n"),
        "{stdout}"
    );
    assert_eq!(stderr, "clauster: all checks passed\n");
}

#[test]
fn the_json_report_has_every_row_in_order() {
    let setup = setup("");
    let (report, stderr) = doctor_exits(&setup, &[], 0);
    assert_eq!(report["ok"], true);
    let object = report.as_object().unwrap();
    assert_eq!(object.len(), 2, "{report}");
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c.as_object().unwrap().len(), 3, "{c}");
            c["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(names, ROWS);
    // Nothing else on stdout: it parsed as one JSON document.
    assert_eq!(stderr, "clauster: all checks passed\n");
}

#[test]
fn no_claude_on_the_path_fails() {
    let setup = setup("");
    // The config names no binary: `claude` is searched on a PATH without it.
    std::fs::write(
        &setup.config,
        format!(
            "port: {}\nprojects_root: {}\n",
            free_port(),
            setup.sandbox.projects_root().display()
        ),
    )
    .unwrap();
    let (report, stderr) = doctor_exits(&setup, &[("PATH", "/usr/bin:/bin")], 1);
    assert_eq!(report["ok"], false);
    assert_row(
        &report,
        "claude",
        "fail",
        "claude binary 'claude' not found on PATH",
    );
    assert_eq!(status_and_detail(&report, "claude-login").0, "warn");
    assert_eq!(stderr, "clauster: FAILURES above\n");
}

#[test]
fn a_claude_older_than_the_floor_fails_and_an_odd_version_cannot_be_compared() {
    let setup = setup("");
    let (report, _) = doctor_exits(&setup, &[("FAKE_CLAUDE_VERSION", "2.1.100")], 1);
    assert_row(&report, "claude", "fail", "2.1.100 < required 2.1.145");
    let (report, _) = doctor_exits(&setup, &[("FAKE_CLAUDE_VERSION", "nightly")], 1);
    assert_row(&report, "claude", "fail", "cannot compare: nightly");
    // A floor from the config moves the line.
    let setup = setup_with_floor(&setup, "2.1.400");
    let (code, report, _) = doctor_json(&setup, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        status_and_detail(&report, "claude").1,
        "2.1.328 < required 2.1.400"
    );
}

fn setup_with_floor(old: &Setup, floor: &str) -> Setup {
    let setup = self::setup(&format!("  min_version: '{floor}'\n"));
    assert_ne!(setup.claude, old.claude);
    setup
}

#[test]
fn a_logged_out_claude_warns_without_failing() {
    let setup = setup("");
    let (report, stderr) = doctor_exits(&setup, &[("FAKE_CLAUDE_LOGGED_IN", "0")], 0);
    assert_row(
        &report,
        "claude-login",
        "warn",
        "not logged in — run claude auth login as this user",
    );
    assert!(stderr.starts_with("clauster: "), "{stderr}");
    assert!(stderr.ends_with(" warning(s)\n"), "{stderr}");
}

#[test]
fn an_api_key_for_bridges_warns() {
    let setup = setup("  env:\n    ANTHROPIC_API_KEY: sk-ant-test-not-real\n");
    let (report, _) = doctor_exits(&setup, &[], 0);
    assert_row(
        &report,
        "api-key-env",
        "warn",
        "ANTHROPIC_API_KEY is set for bridges; Remote Control needs a claude.ai login and \
             refuses API keys",
    );
    assert!(
        !report.to_string().contains("sk-ant-test-not-real"),
        "the key itself is never shown"
    );
}

/// An Apprise URL whose scheme is not delivered is a warning naming the scheme (issue 22),
/// never a failure; its tokens are not shown.
#[test]
fn an_unsupported_notification_scheme_warns() {
    let noisy = setup(
        "notifications:\n  enabled: true\n  urls: ['tgram://bot-TOKEN-123/chat', \
         'ntfy://alerts']\nwebhooks: {enabled: true, urls: ['https://hooks.example.net/x'], \
         secret: s}\n",
    );
    let (report, _) = doctor_exits(&noisy, &[], 0);
    let (status, detail) = status_and_detail(&report, "notifications");
    assert_eq!(status, "warn", "{report}");
    assert!(
        detail.contains("the scheme 'tgram' is not delivered by this version"),
        "{detail}"
    );
    assert!(!report.to_string().contains("bot-TOKEN-123"), "{report}");
    let quiet = setup(
        "webhooks: {enabled: true, urls: ['https://hooks.example.net/x'], secret: s, \
         block_private_targets: true}\n",
    );
    let (_, report, _) = doctor_json(&quiet, &[]);
    assert_row(
        &report,
        "notifications",
        "ok",
        "1 webhook(s), signed, private targets blocked",
    );
}

#[test]
fn a_missing_projects_root_fails_and_is_not_created() {
    let setup = setup("");
    let missing = setup.sandbox.dir.path().join("nowhere");
    let (report, stderr) = doctor_exits(
        &setup,
        &[("CLAUSTER_PROJECTS_ROOT", missing.to_str().unwrap())],
        1,
    );
    assert_row(
        &report,
        "projects_root",
        "fail",
        &format!(
            "{} does not exist; create it or point projects_root at an existing directory",
            missing.display()
        ),
    );
    assert!(!missing.exists());
    assert_eq!(stderr, "clauster: FAILURES above\n");
}

#[test]
fn a_non_loopback_host_without_auth_fails_config_and_auth() {
    let setup = setup("");
    let (report, _) = doctor_exits(&setup, &[("CLAUSTER_HOST", "0.0.0.0")], 1);
    let refusal = "refusing non-loopback host='0.0.0.0' without enforced auth.";
    let (status, detail) = status_and_detail(&report, "auth");
    assert_eq!(status, "fail");
    assert!(detail.starts_with(refusal), "{detail}");
    let (status, detail) = status_and_detail(&report, "config");
    assert_eq!(status, "fail");
    assert!(detail.contains(refusal), "{detail}");
    // The other checks still ran against that configuration.
    assert_eq!(status_and_detail(&report, "claude").0, "ok");
    // The opt-out turns it into a warning.
    let (report, _) = doctor_exits(
        &setup,
        &[
            ("CLAUSTER_HOST", "0.0.0.0"),
            ("CLAUSTER_AUTH_ALLOW_UNAUTHENTICATED_NETWORK", "true"),
        ],
        0,
    );
    assert_eq!(status_and_detail(&report, "auth").0, "warn");
    assert_eq!(status_and_detail(&report, "config").0, "ok");
}

#[test]
fn an_unreadable_config_is_the_one_failure_reported() {
    let setup = setup("");
    let missing = setup.sandbox.dir.path().join("absent.yml");
    let out = run(
        &setup.sandbox,
        &["doctor", "-c", missing.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!(
            "  ✗ config           no such file: {}\n",
            missing.display()
        )),
        "{stdout}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "clauster: FAILURES above\n"
    );
}

#[test]
fn without_a_config_file_the_search_list_is_shown() {
    let setup = setup("");
    std::fs::remove_file(&setup.config).unwrap();
    let claude = setup.claude.to_str().unwrap();
    let out = run(
        &setup.sandbox,
        &["doctor", "--json"],
        &[
            ("CLAUSTER_CLAUDE_BINARY", claude),
            (
                "CLAUSTER_PROJECTS_ROOT",
                setup.sandbox.projects_root().to_str().unwrap(),
            ),
            ("CLAUSTER_PORT", &free_port().to_string()),
        ],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (status, detail) = status_and_detail(&report, "config");
    assert_eq!(status, "warn");
    // The command runs in the sandbox directory with XDG_CONFIG_HOME under its HOME.
    assert_eq!(
        detail,
        format!(
            "no clauster.yml found; using defaults (searched: {}/clauster.yml, \
             {}/.config/clauster/clauster.yml, /etc/clauster/clauster.yml)",
            setup.sandbox.dir.path().display(),
            setup.sandbox.home().display()
        )
    );
}

#[tokio::test]
async fn api_doctor_serves_the_same_checks_without_port_and_server() {
    let setup = setup("");
    let server = start_server(&setup.sandbox, Some(&setup.claude), &[], &[]);
    let (status, report) = server.get("/api/doctor").await;
    assert_eq!(status, 200, "{report} {}", server.log());
    assert_eq!(report["ok"], true, "{report}");
    let names = support::texts_of(&report["checks"], "name");
    assert_eq!(names, ROWS[..17]);
    assert_row(&report, "claude", "ok", "2.1.328 (>= 2.1.145)");
    // The server found ./clauster.yml in its working directory (the sandbox).
    assert_row(
        &report,
        "config",
        "ok",
        &format!(
            "loaded {}",
            setup.sandbox.dir.path().join("clauster.yml").display()
        ),
    );
    assert!(
        status_and_detail(&report, "store")
            .1
            .starts_with("schema v"),
        "{report}"
    );

    // With a server running, the CLI's last rows see it.
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let out = run(
        &setup.sandbox,
        &["doctor", "--json"],
        &[
            ("CLAUSTER_CLAUDE_BINARY", setup.claude.to_str().unwrap()),
            (
                "CLAUSTER_PROJECTS_ROOT",
                setup.sandbox.projects_root().to_str().unwrap(),
            ),
            ("CLAUSTER_PORT", &port),
        ],
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_row(
        &cli,
        "port",
        "ok",
        &format!("{port} in use by the running Clauster"),
    );
    assert_row(
        &cli,
        "server",
        "ok",
        &format!("running server on {port} answers /healthz"),
    );
}

/// Behind a `root_path` the running Clauster answers `<root_path>/healthz`, and the CLI asks
/// there: the port is its own, not "another program's" (release review F3).
#[test]
fn behind_a_root_path_the_port_is_the_running_clausters() {
    let setup = setup("");
    let server = start_server(
        &setup.sandbox,
        Some(&setup.claude),
        &[],
        &[("CLAUSTER_ROOT_PATH", "/cl")],
    );
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let (_, report, _) = doctor_json(
        &setup,
        &[("CLAUSTER_PORT", &port), ("CLAUSTER_ROOT_PATH", "/cl")],
    );
    assert_row(
        &report,
        "port",
        "ok",
        &format!("{port} in use by the running Clauster"),
    );
    assert_row(
        &report,
        "server",
        "ok",
        &format!("running server on {port} answers /cl/healthz"),
    );
}

/// A port held by something that is not a Clauster (no `/healthz` answer) is a warning that
/// says what to do; the `server` row says none runs.
#[test]
fn a_port_held_by_another_program_warns() {
    let setup = setup("");
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = other.local_addr().unwrap().port().to_string();
    let (_, report, _) = doctor_json(&setup, &[("CLAUSTER_PORT", &port)]);
    assert_row(
        &report,
        "port",
        "warn",
        &format!("{port} in use by another program; stop it or set port to a free one"),
    );
    assert_row(&report, "server", "ok", "no server running");
}

#[tokio::test]
async fn api_doctor_needs_credentials_when_auth_is_on() {
    let setup = setup("");
    let hash = sha256_hex("doctor-test-token");
    let server = start_server(
        &setup.sandbox,
        Some(&setup.claude),
        &[],
        &[
            ("CLAUSTER_AUTH_ENABLED", "true"),
            ("CLAUSTER_AUTH_API_TOKEN_HASH", &hash),
        ],
    );
    let url = format!("{}/api/doctor", server.base);
    let (status, body) = support::call(reqwest::Method::GET, &url, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"detail": "authentication required"})
    );
    let answer = reqwest::Client::new()
        .get(&url)
        .bearer_auth("doctor-test-token")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let report: Value = answer.json().await.unwrap();
    assert_eq!(status_and_detail(&report, "auth").0, "ok", "{report}");
}

#[test]
fn systemd_nvm_trust_and_state_dir_rows_read_what_is_there() {
    let setup = setup("");
    let dir = setup.sandbox.dir.path();
    // A systemctl that knows a loaded system unit with the kill mode of $FAKE_KILL_MODE.
    let sysbin = dir.join("sysbin");
    support::write_script(
        &sysbin.join("systemctl"),
        "case \"$*\" in\n  *--user*) echo LoadState=not-found ;;\n  \
         *) echo \"KillMode=$FAKE_KILL_MODE\"; echo LoadState=loaded ;;\nesac",
    );
    // An nvm whose default node exists.
    let nvm = setup.sandbox.home().join(".nvm");
    let node_dir = nvm.join("versions/node/v22.0.0/bin");
    support::write_script(&node_dir.join("node"), "exit 0");
    std::fs::write(
        nvm.join("nvm.sh"),
        format!("nvm() {{ echo '{}/node'; }}\n", node_dir.display()),
    )
    .unwrap();
    // A second, untrusted project, and a state dir with a wider mode.
    setup.sandbox.project("beta", &[]);
    let state = setup.sandbox.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        sysbin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (report, _) = doctor_exits(
        &setup,
        &[("PATH", &path), ("FAKE_KILL_MODE", "control-group")],
        0,
    );
    assert_row(
        &report,
        "systemd",
        "warn",
        "clauster.service: KillMode=control-group kills bridges on restart; reinstall with \
             clauster install-service systemd --write",
    );
    assert_row(
        &report,
        "node-toolchain",
        "ok",
        &format!(
            "nvm default node on the bridge PATH ({})",
            node_dir.display()
        ),
    );
    assert_row(
        &report,
        "workspace-trust",
        "warn",
        "1/2 discovered projects trusted",
    );
    assert_row(
        &report,
        "state_dir",
        "ok",
        &format!("{} (writable, 0700; tightened from 0755)", state.display()),
    );
    let (_, report, _) = doctor_json(&setup, &[("PATH", &path), ("FAKE_KILL_MODE", "process")]);
    assert_row(
        &report,
        "systemd",
        "ok",
        "clauster.service: KillMode=process (bridges survive a restart)",
    );
    assert_row(
        &report,
        "state_dir",
        "ok",
        &format!("{} (writable, 0700)", state.display()),
    );

    // nvm without a default node warns; a global file that is not an object fails.
    std::fs::write(nvm.join("nvm.sh"), "nvm() { return 3; }\n").unwrap();
    std::fs::write(setup.sandbox.home().join(".claude.json"), "[1, 2]").unwrap();
    let (report, _) = doctor_exits(&setup, &[("PATH", &path), ("FAKE_KILL_MODE", "process")], 1);
    assert_eq!(status_and_detail(&report, "node-toolchain").0, "warn");
    assert!(
        status_and_detail(&report, "node-toolchain")
            .1
            .starts_with("nvm present but its default node not found"),
        "{report}"
    );
    assert_eq!(status_and_detail(&report, "workspace-trust").0, "fail");
    assert_eq!(
        std::fs::read_to_string(setup.sandbox.home().join(".claude.json")).unwrap(),
        "[1, 2]",
        "doctor never rewrites Claude's file"
    );
}

#[test]
fn login_paths_capabilities_store_and_keeper_rows_report_what_they_find() {
    let setup = setup("");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let expiring = serde_json::json!({
        "loggedIn": true,
        "authMethod": "claude.ai",
        "configDirectory": "/somewhere/else",
        "loginExpiresAt": now_ms + 3_600_000,
    })
    .to_string();
    let (report, _) = doctor_exits(
        &setup,
        &[
            ("FAKE_CLAUDE_AUTH_STDOUT", &expiring),
            ("FAKE_CLAUDE_HELP", "old"),
        ],
        0,
    );
    let (status, detail) = status_and_detail(&report, "claude-login");
    assert_eq!(status, "warn");
    assert!(
        detail.starts_with("logged in (claude.ai), but the login expires within 24 h"),
        "{detail}"
    );
    let (status, detail) = status_and_detail(&report, "claude-paths");
    assert_eq!(status, "warn");
    assert!(
        detail.starts_with("CLAUDE_CONFIG_DIR disagrees with claude auth status: Clauster uses ")
            && detail.contains("claude reports /somewhere/else"),
        "{detail}"
    );
    assert_row(
        &report,
        "claude-capabilities",
        "ok",
        "remote-control --continue: no · default mode token: default",
    );

    // A keeper nobody recorded, and a store file that is not a database.
    let state = setup.sandbox.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    let sidecar = state.join("orphan.sidecar.json");
    let mut keeper = std::process::Command::new(clauster_bin());
    keeper
        .arg("__pty-keeper__")
        .arg("--sidecar")
        .arg(&sidecar)
        .arg("--cwd")
        .arg(setup.sandbox.dir.path())
        .args(["--", "sleep", "60"]);
    let keeper = support::spawn_logged(keeper, &setup.sandbox.dir.path().join("keeper.log"));
    let pid = keeper.0.id();
    let store = state.join("clauster.sqlite3");
    std::fs::write(&store, b"not a database at all, just text").unwrap();
    let (report, _) = doctor_exits(&setup, &[], 1);
    assert_row(
        &report,
        "orphan-keepers",
        "warn",
        &format!("1 live keeper(s) unknown to the store: pid {pid}"),
    );
    let (status, detail) = status_and_detail(&report, "store");
    assert_eq!(status, "fail");
    assert!(detail.contains("clauster.sqlite3"), "{detail}");
    assert_eq!(
        std::fs::read(&store).unwrap(),
        b"not a database at all, just text",
        "doctor never touches the store"
    );
    drop(keeper);
}

#[test]
fn the_default_projects_root_is_created_with_a_warning() {
    let sandbox = Sandbox::new();
    let claude = fake_claude(&sandbox);
    let default_root = sandbox.home().join("projects");
    assert!(!default_root.exists());
    // The first run creates it; the second run finds it.
    for (status, detail) in [
        ("warn", "created by default just now"),
        ("ok", "(0 projects)"),
    ] {
        let out = run(
            &sandbox,
            &["doctor", "--json"],
            &[
                ("CLAUSTER_CLAUDE_BINARY", claude.to_str().unwrap()),
                ("CLAUSTER_PORT", &free_port().to_string()),
            ],
        );
        support::assert_exit(&out, 0);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let detail = format!("{} {detail}", default_root.display());
        assert_row(&report, "projects_root", status, &detail);
        assert!(default_root.is_dir());
    }
}

/// A misspelled key is ignored, and doctor's `config` row names it as a warning (the CLI and
/// `/api/doctor`, which re-reads the file); the server logs the same at startup.
#[tokio::test]
async fn a_misspelled_key_is_named_by_the_config_row() {
    let setup = setup("projets_root: /srv/elsewhere\nclaude_bin: /opt/claude\n");
    let detail = format!(
        "loaded {}; unknown keys ignored: claude_bin, projets_root",
        setup.config.display()
    );
    // A warning, not a failure: doctor still passes.
    let (report, _) = doctor_exits(&setup, &[], 0);
    assert_row(&report, "config", "warn", &detail);

    // The server reads the same ./clauster.yml from its working directory, the sandbox.
    let server = start_server(&setup.sandbox, Some(&setup.claude), &[], &[]);
    let (status, report) = server.get("/api/doctor").await;
    assert_eq!(status, 200, "{report} {}", server.log());
    assert_row(&report, "config", "warn", &detail);
    assert!(
        server.log().contains(
            "unknown keys ignored: claude_bin, projets_root; check their spelling against \
             the configuration reference"
        ),
        "{}",
        server.log()
    );
}

/// A session secret others may read: doctor warns and leaves it, a CLI command leaves it
/// (its warning would reach no log), and the server makes it 0600 and says so.
#[test]
fn a_session_secret_others_may_read_is_named_and_left_to_the_server() {
    use std::os::unix::fs::PermissionsExt as _;
    let setup = setup("");
    let state = setup.sandbox.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let secret = state.join("session.secret");
    std::fs::write(&secret, [7_u8; 32]).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mode = || std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;

    let (report, _) = doctor_exits(&setup, &[], 0);
    assert_row(
        &report,
        "state_dir",
        "warn",
        &format!(
            "{} has mode 0644: others may read the session secret; remove it so a new one is \
             made at the next start (every session is then logged out)",
            secret.display()
        ),
    );
    assert_eq!(mode(), 0o644);

    let config = setup.config.to_str().unwrap();
    let status = run(&setup.sandbox, &["status", "-c", config], &[]);
    support::assert_exit(&status, 0);
    assert_eq!(mode(), 0o644, "a command's engine leaves it to the server");

    let server = start_server(&setup.sandbox, Some(&setup.claude), &[], &[]);
    let said = wait_for(Duration::from_secs(20), || {
        let log = server.log();
        log.contains("was readable by others (mode 0644); it is now 0600")
            .then_some(log)
    });
    assert!(said.is_some(), "{}", server.log());
    assert_eq!(mode(), 0o600);
}
