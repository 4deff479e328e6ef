//! Signing claude in from the dashboard (issue 20 §2, http-api.md §3.2) through the real
//! server and the fake `claude` under a real PTY: the link from the OSC 8 target, the code
//! typed back, each outcome, one flow at a time, cancel killing the process group, the
//! `login_flow` frames, the readiness turning green, and no secret in the log; the long-lived
//! token handed out once; the sign-out.

use crate::support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::{
    Sandbox, Server, ServesApi, fake_claude, next_frame_of, serve_claude, serve_fake, start_server,
    wait_for,
};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const ENABLED: (&str, &str) = ("CLAUSTER_LOGIN_SHEPHERD_ENABLED", "true");

async fn post(server: &Server, path: &str, body: Option<Value>) -> (u16, Value) {
    server
        .call(
            reqwest::Method::POST,
            &format!("/api/login-shepherd/{path}"),
            body,
        )
        .await
}

async fn get_state(server: &Server) -> (u16, Value) {
    server.get("/api/login-shepherd/state").await
}

/// Live `claude auth login` and `claude setup-token` processes of this sandbox.
fn sign_in_processes(sandbox: &Sandbox) -> Vec<i32> {
    let home = sandbox.home();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            (cmdline.contains("auth\0login") || cmdline.contains("setup-token"))
                && String::from_utf8_lossy(&environ).contains(&*home.to_string_lossy())
                && support::process_exists(i64::from(*pid))
        })
        .collect()
}

/// The shepherd on, with `claude` (the fake) logged out and taking the code `right-code`.
fn serve_logged_out(sandbox: &Sandbox, claude: &Path) -> Server {
    serve_claude(
        sandbox,
        claude,
        &[
            ENABLED,
            ("FAKE_CLAUDE_LOGGED_IN", "0"),
            ("FAKE_CLAUDE_LOGIN_CODE", "right-code"),
        ],
    )
}

/// Asserts that none of `secrets` (what it is, its text) reached the server's log.
#[track_caller]
fn assert_log_lacks(server: &Server, secrets: &[(&str, &str)]) {
    let log = server.log();
    for (what, text) in secrets {
        assert!(!log.contains(text), "{what} reached the log");
    }
}

/// Posts `body` to the shepherd's `route`, which must refuse it with 422 naming `field`.
async fn assert_invalid_field(server: &Server, route: &str, body: Value, field: &str) {
    let (status, answer) = post(server, route, Some(body)).await;
    assert_eq!(
        (status, answer["field"].clone()),
        (422, json!(field)),
        "{answer}"
    );
}

/// Asserts that every sign-in process of the sandbox ends within 10 s.
#[track_caller]
fn assert_no_sign_in_left(sandbox: &Sandbox) {
    assert!(
        wait_for(Duration::from_secs(10), || sign_in_processes(sandbox)
            .is_empty()
            .then_some(()))
        .is_some(),
        "left {:?}",
        sign_in_processes(sandbox)
    );
}

async fn flow_frame(socket: &mut Socket, state: &str) -> Value {
    tokio::time::timeout(Duration::from_mins(1), async {
        loop {
            let frame = next_frame_of(socket, &["login_flow"]).await;
            if frame["state"] == state {
                return frame;
            }
        }
    })
    .await
    .expect("the login_flow frame within 60 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_every_route_is_404() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[".git"]);
    let server = serve_fake(&sandbox, &[]);
    for (path, body) in [
        ("start", Some(json!({"mode": "login"}))),
        ("start", Some(json!({"mode": "bogus"}))),
        ("code", Some(json!({"code": "x"}))),
        ("status", None),
        ("cancel", None),
    ] {
        let (status, answer) = post(&server, path, body).await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert_eq!(answer["detail"], "login shepherd is disabled");
    }
    assert_eq!(get_state(&server).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_with_the_fake_turns_the_pill_green_and_keeps_secrets_out_of_the_log() {
    let (sandbox, claude) = support::alpha_and_fake();
    let server = serve_logged_out(&sandbox, &claude);
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/events", server.ws))
        .await
        .expect("connect /ws/events");
    assert_eq!(get_state(&server).await.1, json!({"active": false}));

    // Refusals first: a bad mode, setup-token without its opt-in, no flow for a code.
    assert_invalid_field(&server, "start", json!({"mode": "bogus"}), "mode").await;
    let (status, _) = post(&server, "start", Some(json!({"mode": "setup-token"}))).await;
    assert_eq!(status, 404);
    let (status, answer) = post(&server, "code", Some(json!({"code": "x"}))).await;
    assert_eq!(
        (status, answer["detail"].clone()),
        (409, json!("no sign-in is in progress"))
    );

    let (status, started) = post(&server, "start", Some(json!({"mode": "login"}))).await;
    assert_eq!(status, 200, "{started}");
    let url = started["authorize_url"]
        .as_str()
        .expect("a link")
        .to_owned();
    assert!(
        url.starts_with("https://claude.com/cai/oauth/authorize?"),
        "{url}"
    );
    let state_value = url.split("&state=").nth(1).expect("a state").to_owned();
    let frame = flow_frame(&mut socket, "waiting_for_code").await;
    assert_eq!(frame["url"], url.as_str());

    // One at a time.
    let (status, answer) = post(&server, "start", Some(json!({"mode": "login"}))).await;
    assert_eq!(status, 409, "{answer}");
    let detail = answer["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("a sign-in is already in progress (started ")
            && detail.ends_with(" s ago)"),
        "{detail}"
    );
    let (_, open) = get_state(&server).await;
    assert_eq!(
        (open["active"].clone(), open["authorize_url"].clone()),
        (json!(true), json!(url))
    );

    // Hostile codes are refused before anything is typed.
    let (status, _) = post(&server, "code", Some(json!({"code": "x".repeat(5000)}))).await;
    assert_eq!(status, 422);
    let (status, _) = post(&server, "code", Some(json!({"code": "a\u{1b}[2Jb"}))).await;
    assert_eq!(status, 422);
    let (status, _) = post(&server, "code", Some(json!({"code": "  "}))).await;
    assert_eq!(status, 422);

    let (status, answer) = post(&server, "code", Some(json!({"code": "right-code"}))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["outcome"], "signed_in", "{answer}");
    let frame = flow_frame(&mut socket, "finished").await;
    assert_eq!(frame["outcome"], "signed_in");

    // The readiness follows: signed in, Start allowed.
    let green = tokio::time::timeout(Duration::from_mins(1), async {
        loop {
            let frame = next_frame_of(&mut socket, &["readiness"]).await;
            if frame["start_blocked"].is_null() {
                return frame;
            }
        }
    })
    .await
    .expect("a readiness frame without a blocked Start");
    assert_ne!(green["level"], "blocked", "{green}");
    // The result is read once, then the flow is gone.
    let (status, result) = post(&server, "status", None).await;
    assert_eq!(
        (status, result["ok"].clone()),
        (200, json!(true)),
        "{result}"
    );
    assert_eq!(post(&server, "status", None).await.0, 409);
    assert_no_sign_in_left(&sandbox);
    assert_log_lacks(
        &server,
        &[("the state", &state_value), ("the code", "right-code")],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_code_a_network_error_and_a_cancel_each_end_the_flow() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[".git"]);
    let claude = fake_claude(&sandbox);
    let server = serve_logged_out(&sandbox, &claude);
    let (status, _) = post(
        &server,
        "start",
        Some(json!({"mode": "login", "method": "console", "email": "op@example.com"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, answer) = post(&server, "code", Some(json!({"code": "wrong-code"}))).await;
    assert_eq!(answer["ok"], false, "{answer}");
    assert_eq!(answer["outcome"], "wrong_code", "{answer}");
    support::assert_field_contains(&answer, "message", "status code 400");
    // A finished flow does not block the next one. The flow runs in the state directory,
    // where the fake reads its per-directory knobs: now it cannot reach the network.
    std::fs::write(
        sandbox.state_dir().join(".fake-claude.json"),
        r#"{"login": "network"}"#,
    )
    .unwrap();
    let (status, started) = post(&server, "start", Some(json!({"mode": "login"}))).await;
    assert_eq!(status, 200, "{started}");
    let (_, answer) = post(&server, "code", Some(json!({"code": "right-code"}))).await;
    assert_eq!(answer["outcome"], "network_error", "{answer}");
    assert_eq!(
        answer["message"],
        "Couldn't log in: getaddrinfo ENOTFOUND platform.claude.com"
    );
    let (status, started) = post(&server, "start", Some(json!({"mode": "login"}))).await;
    assert_eq!(status, 200, "{started}");

    // Cancel kills the process group.
    assert!(
        wait_for(Duration::from_secs(10), || (!sign_in_processes(&sandbox)
            .is_empty())
        .then_some(()))
        .is_some(),
        "the sign-in runs"
    );
    let (status, cancelled) = post(&server, "cancel", None).await;
    assert_eq!(
        (status, cancelled),
        (200, json!({"ok": true, "cancelled": true}))
    );
    assert_no_sign_in_left(&sandbox);
    assert_eq!(get_state(&server).await.1, json!({"active": false}));
    assert_eq!(post(&server, "cancel", None).await.1["cancelled"], false);
}

/// The pinned npm `claude` signing in by `mode` with `env` on the server (offline here): the
/// flow shows its real authorize URL, takes a code, and fails with claude's own words (a line
/// starting with one of `own_words`) within 30 s, leaving no process behind.
async fn real_flow_fails_offline(mode: &str, env: &[(&str, &str)], own_words: &[&str]) {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[".git"]);
    let claude = crate::real_claude::real_claude();
    let server = start_server(&sandbox, Some(&claude), &[], env);
    let began = std::time::Instant::now();
    let (status, started) = post(&server, "start", Some(json!({ "mode": mode }))).await;
    assert_eq!(status, 200, "{started}");
    let url = started["authorize_url"].as_str().expect("a link");
    support::assert_authorize_url(url);
    let (status, answer) = post(
        &server,
        "code",
        Some(json!({"code": "bogus-code#state123"})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ok"], false, "{answer}");
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(
        own_words.iter().any(|words| message.starts_with(words)),
        "claude's own words: {answer}"
    );
    assert_eq!(answer["outcome"], "network_error", "{answer}");
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "{:?}",
        began.elapsed()
    );
    assert_no_sign_in_left(&sandbox);
}

/// The pinned npm `claude` (offline here): the dashboard's flow shows its real authorize URL,
/// types the code, and ends with the error line claude itself printed, within 30 s, leaving
/// no process behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_cli_shows_its_link_takes_a_code_and_fails_offline_in_its_own_words() {
    real_flow_fails_offline("login", &[ENABLED], &["Couldn't log in:", "OAuth error:"]).await;
}

/// `clauster login ARGS` in the sandbox with `env` on top, its stdin and stderr piped: not
/// started.
fn login_command(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = sandbox.command(support::clauster_bin());
    cmd.arg("login")
        .args(args)
        .env("CLAUSTER_PROJECTS_ROOT", sandbox.projects_root())
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd
}

/// Runs `clauster login …` with `stdin` as its input.
fn clauster_login(
    sandbox: &Sandbox,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
) -> std::process::Output {
    use std::io::Write as _;
    let mut child = login_command(sandbox, args, env)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run clauster login");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().expect("clauster login ends")
}

/// `clauster login` through a running server (its dashboard switch off: the control socket
/// needs none) and with no server (the command's own engine): the link and its QR code on
/// stdout, the code read from stdin, claude's answer and the exit status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clauster_login_signs_in_through_the_server_or_by_itself() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[".git"]);
    let claude = fake_claude(&sandbox);
    let claude_env = claude.to_str().unwrap().to_owned();
    let env = [
        ("CLAUSTER_CLAUDE_BINARY", claude_env.as_str()),
        ("FAKE_CLAUDE_LOGGED_IN", "0"),
        ("FAKE_CLAUDE_LOGIN_CODE", "right-code"),
    ];
    // No server: the command runs the flow itself. A wrong code fails with claude's words.
    let wrong = clauster_login(&sandbox, &[], "wrong-code\n", &env);
    let out = String::from_utf8_lossy(&wrong.stdout).into_owned();
    let err = String::from_utf8_lossy(&wrong.stderr).into_owned();
    assert_eq!(wrong.status.code(), Some(1), "{out}\n{err}");
    assert!(
        out.contains("https://claude.com/cai/oauth/authorize?"),
        "{out}"
    );
    assert!(out.contains('█') || out.contains('▀'), "a QR code: {out}");
    assert!(err.contains("status code 400"), "{err}");

    // Through a running server whose dashboard switch is off.
    let server = start_server(&sandbox, Some(&claude), &[], &env[1..]);
    let (status, _) = post(&server, "start", Some(json!({"mode": "login"}))).await;
    assert_eq!(status, 404, "the dashboard's routes stay off");
    let ok = clauster_login(
        &sandbox,
        &["--email", "op@example.com"],
        "right-code\n",
        &env,
    );
    let out = String::from_utf8_lossy(&ok.stdout).into_owned();
    let err = String::from_utf8_lossy(&ok.stderr).into_owned();
    assert_eq!(ok.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("login_hint=op%40example.com"), "{out}");
    assert!(out.trim_end().ends_with("Signed in."), "{out}");
    // The server's readiness saw it.
    let (_, readiness) = server.post_empty("/api/readiness/recheck").await;
    let login = support::check_named(&readiness, "claude-login");
    assert_eq!(login["status"], "ok", "{readiness}");
    assert_no_sign_in_left(&sandbox);
}

/// Ctrl-C on `clauster login` while it waits for the code cancels the server's flow (its
/// `claude auth login` is gone and a new sign-in may start at once), instead of leaving it
/// open until the 10-minute timeout (second release review).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupting_clauster_login_cancels_the_servers_flow() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[".git"]);
    let env = [
        ("FAKE_CLAUDE_LOGGED_IN", "0"),
        ("FAKE_CLAUDE_LOGIN_CODE", "right-code"),
        ("CLAUSTER_LOGIN_SHEPHERD_ENABLED", "true"),
    ];
    let server = serve_fake(&sandbox, &env);
    let mut child = login_command(&sandbox, &[], &env)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run clauster login");
    // Held open and silent until the command has ended: it waits for the code (a closed
    // stdin would cancel the flow by itself).
    let stdin = child.stdin.take();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, state) = get_state(&server).await;
        if state["active"] == true {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the flow never opened: {state}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        let out = child.wait_with_output();
        drop(stdin);
        out
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "exit status after SIGINT: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, state) = get_state(&server).await;
    assert_eq!(state["active"], false, "{state}");
    assert_no_sign_in_left(&sandbox);
}

const TOKEN_ALLOWED: (&str, &str) = ("CLAUSTER_LOGIN_SHEPHERD_ALLOW_SETUP_TOKEN", "true");

/// `claude setup-token` through the emulated screen (issue 20 §3): a wrong code ends the
/// flow in claude's words although the TUI waits for Enter (its process group is killed);
/// the right one hands the token out once — in the code's answer, never in a `login_flow`
/// frame, a later `status` or the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_lived_token_is_handed_out_once_and_never_in_a_frame_or_the_log() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[".git"]);
    let claude = fake_claude(&sandbox);
    let token = format!("sk-ant-oat01-{}", "Q7x_-".repeat(16));
    let server = serve_claude(
        &sandbox,
        &claude,
        &[
            ENABLED,
            TOKEN_ALLOWED,
            ("FAKE_CLAUDE_LOGIN_CODE", "right-code"),
            ("FAKE_CLAUDE_SETUP_TOKEN", token.as_str()),
        ],
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/events", server.ws))
        .await
        .expect("connect /ws/events");
    let (status, started) = post(&server, "start", Some(json!({"mode": "setup-token"}))).await;
    assert_eq!(status, 200, "{started}");
    let url = started["authorize_url"].as_str().expect("a link");
    assert!(
        url.starts_with("https://claude.com/cai/oauth/authorize?") && url.contains("&state="),
        "the whole URL from the hyperlink, not one wrapped row: {url}"
    );
    assert_eq!(get_state(&server).await.1["mode"], "setup-token");
    let (_, answer) = post(&server, "code", Some(json!({"code": "wrong-code"}))).await;
    assert_eq!(answer["outcome"], "wrong_code", "{answer}");
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(answer.get("token").is_none(), "{answer}");
    assert_eq!(
        flow_frame(&mut socket, "finished").await["outcome"],
        "wrong_code"
    );
    assert_no_sign_in_left(&sandbox);

    let (status, _) = post(&server, "start", Some(json!({"mode": "setup-token"}))).await;
    assert_eq!(status, 200);
    let (status, answer) = post(&server, "code", Some(json!({"code": "right-code"}))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["ok"].clone(), answer["outcome"].clone()),
        (json!(true), json!("token_created")),
        "{answer}"
    );
    assert_eq!(answer["token"], token.as_str(), "{answer}");
    support::assert_field_contains(&answer, "message", "cannot run Remote Control bridges");
    let frame = flow_frame(&mut socket, "finished").await;
    assert_eq!(frame["outcome"], "token_created");
    assert!(!frame.to_string().contains(&token), "{frame}");
    // Once: the result read later has no token.
    let (status, later) = post(&server, "status", None).await;
    assert_eq!(status, 200, "{later}");
    assert!(later.get("token").is_none(), "{later}");
    assert_no_sign_in_left(&sandbox);
    assert_log_lacks(
        &server,
        &[("the token", &token), ("the code", "right-code")],
    );
}

/// Signing out (issue 20 §4): refused without the typed words; with them `claude auth
/// logout` runs and the readiness turns red by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_needs_the_typed_words_and_turns_the_readiness_red() {
    let (sandbox, claude) = support::alpha_and_fake();
    let server = start_server(&sandbox, Some(&claude), &[], &[ENABLED]);
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/events", server.ws))
        .await
        .expect("connect /ws/events");
    assert_invalid_field(&server, "logout", json!({"confirm": "yes"}), "confirm").await;
    let (status, answer) = post(&server, "logout", Some(json!({"confirm": "sign out"}))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["message"],
        "Successfully logged out from your Anthropic account."
    );
    let red = tokio::time::timeout(Duration::from_mins(1), async {
        loop {
            let frame = next_frame_of(&mut socket, &["readiness"]).await;
            if frame["start_blocked"] == "claude is not logged in" {
                return frame;
            }
        }
    })
    .await
    .expect("a readiness frame with the login gone");
    assert_eq!(red["level"], "blocked", "{red}");
}

/// The pinned npm `claude setup-token` (offline here): the full-screen TUI's real authorize
/// URL, the code typed in, and its own `OAuth error` line as the failure although it waits
/// for Enter — within 30 s, no process left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_setup_token_shows_its_link_and_fails_offline_in_its_own_words() {
    real_flow_fails_offline("setup-token", &[ENABLED, TOKEN_ALLOWED], &["OAuth error:"]).await;
}

/// With auth on, the long-lived token needs a fresh step-up (security.md §3.2): a session alone
/// gets 403 `reauth_required` and nothing runs; after `POST /api/reauth` the same start shows
/// the link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_lived_token_starts_only_after_a_step_up() {
    const PASSWORD: &str = "correct horse battery";
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[".git"]);
    support::password_config(
        &sandbox,
        PASSWORD,
        "login_shepherd:\n  enabled: true\n  allow_setup_token: true\n",
    );
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = client
        .post(format!("{}/login", server.base))
        .header("origin", &server.base)
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(signed_in.status(), 303);
    let cookie = |response: &reqwest::Response| {
        response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("a cookie")
            .to_owned()
    };
    let session = cookie(&signed_in);
    let start = |cookies: String| {
        client
            .post(format!("{}/api/login-shepherd/start", server.base))
            .header("origin", &server.base)
            .header("cookie", cookies)
            .json(&json!({"mode": "setup-token"}))
            .send()
    };
    let refused = start(session.clone()).await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["detail"], "reauth_required");
    assert!(sign_in_processes(&sandbox).is_empty(), "nothing ran");

    let stepped = client
        .post(format!("{}/api/reauth", server.base))
        .header("origin", &server.base)
        .header("cookie", &session)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(stepped.status(), 200);
    let elevation = cookie(&stepped);
    let started = start(format!("{session}; {elevation}")).await.unwrap();
    assert_eq!(started.status(), 200);
    let body: Value = started.json().await.unwrap();
    assert!(
        body["authorize_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://claude.com/cai/oauth/authorize?")),
        "{body}"
    );
    let cancelled = client
        .post(format!("{}/api/login-shepherd/cancel", server.base))
        .header("origin", &server.base)
        .header("cookie", format!("{session}; {elevation}"))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    assert_no_sign_in_left(&sandbox);
}
