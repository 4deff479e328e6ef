//! The dashboard in a real headless Chromium: server-rendered, hydrated by the wasm bundle,
//! and interactive only once hydrated.
//!
//! Needs `chromium` and `chromedriver` (installed by `cargo xtask test`) and a `clauster`
//! built with the hydrate bundle. Missing either fails the test: a skipped browser test
//! would let a page that never hydrates pass.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::{
    KillOnDrop, Sandbox, clauster_bin, fake_claude, free_port, spawn_logged, start_server, wait_for,
};

fn tool(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.exists(),
        "{} not found; install it with `cargo xtask setup` (or set {var})",
        path.display()
    );
    path
}

pub(crate) fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("create the artifacts dir");
    dir
}

pub(crate) struct Browser {
    pub(crate) _driver: KillOnDrop,
    pub(crate) client: Client,
}

pub(crate) async fn open_browser(sandbox: &Sandbox) -> Browser {
    launch_browser(sandbox, &[], serde_json::Value::Null).await
}

/// A fresh Chromium with `extra` flags (`--force-dark-mode` for the system dark theme).
pub(crate) async fn open_browser_with(sandbox: &Sandbox, extra: &[&str]) -> Browser {
    launch_browser(sandbox, extra, serde_json::Value::Null).await
}

/// [`open_browser`] with Chromium preferences (`goog:chromeOptions.prefs`), e.g. a granted
/// permission.
pub(crate) async fn open_browser_with_prefs(
    sandbox: &Sandbox,
    prefs: serde_json::Value,
) -> Browser {
    launch_browser(sandbox, &[], prefs).await
}

/// A fresh Chromium with `extra` flags and `prefs` (null for none).
async fn launch_browser(sandbox: &Sandbox, extra: &[&str], prefs: serde_json::Value) -> Browser {
    let chromium = tool("CHROMIUM_BIN", "/usr/bin/chromium");
    let chromedriver = tool("CHROMEDRIVER_BIN", "/usr/bin/chromedriver");
    let port = free_port();
    let mut cmd = sandbox.command(&chromedriver);
    cmd.arg(format!("--port={port}"));
    let driver = spawn_logged(cmd, &sandbox.dir.path().join("chromedriver.log"));
    let listening = wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(drop)
    });
    assert!(listening.is_some(), "chromedriver did not start");

    let profile = sandbox.dir.path().join("chromium-profile");
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--window-size=1280,900".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let caps = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": args,
        }
    });
    let mut caps = caps;
    if !prefs.is_null() {
        caps["goog:chromeOptions"]["prefs"] = prefs;
    }
    let serde_json::Value::Object(caps) = caps else {
        unreachable!("a JSON object literal")
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("open a Chromium session");
    Browser {
        _driver: driver,
        client,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_hydrates_and_the_search_box_filters_cards() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[".git"]);
    sandbox.project("beta", &["CLAUDE.md"]);
    sandbox.project("gamma-alpine", &[]);
    let root = sandbox.projects_root();
    let port = free_port();
    let mut cmd = sandbox.command(clauster_bin());
    cmd.args([
        "run",
        "--port",
        &port.to_string(),
        "--projects-root",
        root.to_str().unwrap(),
    ]);
    let log = sandbox.dir.path().join("clauster.log");
    let _server = spawn_logged(cmd, &log);
    let up = wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(drop)
    });
    assert!(up.is_some(), "clauster did not start");

    let browser = open_browser(&sandbox).await;
    let client = browser.client.clone();
    // Checks run in a task so a failed assertion still closes the browser below.
    let checks = tokio::spawn(async move {
        client
            .goto(&format!("http://127.0.0.1:{port}/"))
            .await
            .expect("load the page");
        let hydrated = client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css("html[data-hydrated='true']"))
            .await;
        if hydrated.is_err() {
            let logs = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("the page never hydrated; server log:\n{logs}");
        }

        let count = client.find(Locator::Css(".count")).await.unwrap();
        assert_eq!(count.text().await.unwrap(), "3 projects");
        let search = client
            .find(Locator::Css("input[name='project-search']"))
            .await
            .unwrap();
        search.send_keys("ALP").await.unwrap();

        let visible = |name: &'static str| {
            let client = client.clone();
            async move {
                client
                    .find(Locator::Css(&format!("[data-project='{name}']")))
                    .await
                    .is_ok()
            }
        };
        // Only a hydrated page reacts to typing; the server-rendered HTML alone would not.
        let filtered = until(
            &client,
            "return !document.querySelector(\"[data-project='beta']\")",
            5,
        )
        .await;
        assert!(filtered, "typing in the search box did not hide 'beta'");
        assert!(visible("alpha").await);
        assert!(visible("gamma-alpine").await);
        assert_eq!(count.text().await.unwrap(), "2 of 3 projects");

        let png = client.screenshot().await.expect("take a screenshot");
        std::fs::write(artifacts_dir().join("dashboard-desktop.png"), png).unwrap();
    });
    let outcome = checks.await;
    browser.client.close().await.expect("close the browser");
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// Waits for `css` to match, failing with the server log when it never does.
pub(crate) async fn wait_css(
    client: &Client,
    css: &str,
    seconds: u64,
    log: &Path,
) -> fantoccini::elements::Element {
    match client
        .wait()
        .at_most(Duration::from_secs(seconds))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(element) => element,
        Err(err) => {
            let logs = std::fs::read_to_string(log).unwrap_or_default();
            panic!("`{css}` never appeared ({err}); server log:\n{logs}");
        }
    }
}

/// Polls a JavaScript expression (a function body returning a boolean) until it holds.
pub(crate) async fn until(client: &Client, script: &str, seconds: u64) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if client
            .execute(script, vec![])
            .await
            .ok()
            .and_then(|v| v.as_bool())
            == Some(true)
        {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn click(client: &Client, css: &str, log: &Path) {
    let element = wait_css(client, css, 10, log).await;
    // Toasts float over the page; bring the target to the middle of the view first.
    client
        .execute(
            "arguments[0].scrollIntoView({block: 'center'})",
            vec![serde_json::to_value(&element).unwrap()],
        )
        .await
        .unwrap();
    if element.clone().click().await.is_ok() {
        return;
    }
    // A toast covers it (they sit over the content on phones): dismiss them, as a user would.
    client
        .execute(
            "document.querySelectorAll('.toast button').forEach(b => b.click())",
            vec![],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    element.click().await.unwrap_or_else(|err| {
        panic!("could not click `{css}`: {err}");
    });
}

pub(crate) async fn text_of(client: &Client, css: &str, log: &Path) -> String {
    wait_css(client, css, 10, log).await.text().await.unwrap()
}

/// Runs `checks` against a fresh Chromium and always closes it, so a failed assertion leaves
/// no browser behind.
pub(crate) async fn with_browser<F, Fut>(sandbox: &Sandbox, checks: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    with_browser_flags(sandbox, &[], checks).await;
}

/// [`with_browser`] with extra Chromium flags.
pub(crate) async fn with_browser_flags<F, Fut>(sandbox: &Sandbox, flags: &[&str], checks: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let browser = open_browser_with(sandbox, flags).await;
    let outcome = tokio::spawn(checks(browser.client.clone())).await;
    browser.client.close().await.expect("close the browser");
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

pub(crate) async fn project_state(base: &str, name: &str) -> serde_json::Value {
    let (status, list) =
        support::call(reqwest::Method::GET, &format!("{base}/api/projects"), None).await;
    assert_eq!(status, 200);
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no project {name} in {list}"))
}

/// ui.md §15 #2, #3, #5 and #12: the trust gate (cancel leaves the project untrusted), a
/// launch through the popover that turns Running without a reload, the Open link and QR, the
/// log panel, Stop behind its confirm, Resume, Forget, and a 375 px layout without
/// horizontal scrolling.
// One user's journey, read top to bottom; each step depends on the one before.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_through_the_trust_gate_then_logs_stop_resume_and_forget() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[".git"]);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();

    with_browser(&sandbox, move |client| async move {
        client.goto(&format!("{base}/")).await.expect("load the page");
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        let card = "[data-project='alpha']";
        assert_eq!(
            text_of(&client, ".zone.active .empty-note", &log).await,
            "No bridges running. Start one from a project card below."
        );

        // The gate comes first; cancelling it launches nothing and trusts nothing.
        click(&client, &format!("{card} button.start"), &log).await;
        wait_css(&client, "[role='dialog'] select[name='permission_mode']", 5, &log).await;
        assert!(
            client.find(Locator::Css("[role='dialog'] option[value='bypassPermissions']")).await.is_err(),
            "bypass is not offered without the project's opt-in"
        );
        assert_eq!(text_of(&client, "button.launch", &log).await, "Launch · Ask first");
        click(&client, "button.launch", &log).await;
        let gate = text_of(&client, ".trust-gate p", &log).await;
        assert!(gate.starts_with("First launch in alpha: do you trust this directory?"), "{gate}");
        let confirm = wait_css(&client, "button.confirm-trust", 5, &log).await;
        assert!(confirm.attr("disabled").await.unwrap().is_some(), "launching needs the checkbox");
        click(&client, ".trust-gate button.cancel", &log).await;
        assert!(until(&client, "return !document.querySelector(\"[role='dialog']\")", 5).await);
        assert_eq!(project_state(&base, "alpha").await["trust_state"], "untrusted");
        let (_, instances) =
            support::call(reqwest::Method::GET, &format!("{base}/api/instances"), None).await;
        assert_eq!(instances, json!([]), "cancelling the gate launched nothing");

        // Escape closes the popover and gives focus back to its opener.
        click(&client, &format!("{card} button.start"), &log).await;
        wait_css(&client, "[role='dialog']", 5, &log).await;
        client
            .execute(
                "document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}))",
                vec![],
            )
            .await
            .unwrap();
        assert!(until(&client, "return !document.querySelector(\"[role='dialog']\")", 5).await);
        assert!(
            until(&client, "return document.activeElement.classList.contains('start')", 5).await,
            "focus returns to Start Claude"
        );

        click(&client, &format!("{card} button.start"), &log).await;
        click(&client, "button.launch", &log).await;
        click(&client, ".trust-gate input[name='trust']", &log).await;
        click(&client, "button.confirm-trust:not([disabled])", &log).await;

        let row = ".zone.active > .instances [data-instance-id]";
        let pill = wait_css(&client, &format!("{row} .pill.running"), 30, &log).await;
        assert_eq!(pill.text().await.unwrap(), "Running");
        assert_eq!(project_state(&base, "alpha").await["trust_state"], "trusted");
        assert_eq!(text_of(&client, &format!("{card} .running-badge"), &log).await, "● 1 running");
        assert!(until(&client, "return document.title === '(1) Clauster'", 5).await, "title counts");
        let open = wait_css(&client, &format!("{row} a.open"), 30, &log).await;
        assert!(open.attr("href").await.unwrap().unwrap().starts_with("https://claude.ai/"));
        assert_eq!(open.attr("rel").await.unwrap().as_deref(), Some("noopener noreferrer"));
        assert_eq!(open.attr("target").await.unwrap().as_deref(), Some("_blank"));

        // QR: an image of the server's SVG, with the link as text.
        click(&client, &format!("{row} button.qr-toggle"), &log).await;
        let img = wait_css(&client, &format!("{row} .qr img"), 5, &log).await;
        assert_eq!(img.attr("alt").await.unwrap().as_deref(), Some("QR code for the session link"));
        assert!(
            until(&client, "const i = document.querySelector('.qr img'); return i.complete && i.naturalWidth > 0", 10).await,
            "the QR image loaded"
        );
        let qr_type: serde_json::Value = client
            .execute_async(
                "const done = arguments[0]; fetch(document.querySelector('.qr img').src).then(r => done(r.headers.get('content-type')))",
                vec![],
            )
            .await
            .unwrap();
        assert!(qr_type.as_str().unwrap().starts_with("image/svg+xml"), "{qr_type}");

        // Phones: no horizontal scroll at 375 px, with the row and the popover open.
        client.set_window_size(375, 812).await.unwrap();
        click(&client, &format!("{card} button.start"), &log).await;
        wait_css(&client, "[role='dialog']", 5, &log).await;
        let png = client.screenshot().await.expect("take a screenshot");
        std::fs::write(artifacts_dir().join("dashboard-phone-launch.png"), png).unwrap();
        click(&client, "[role='dialog'] button.cancel", &log).await;
        let fits = client
            .execute("return document.documentElement.scrollWidth <= window.innerWidth", vec![])
            .await
            .unwrap();
        assert_eq!(fits, json!(true), "horizontal scrolling at 375 px");
        let png = client.screenshot().await.expect("take a screenshot");
        std::fs::write(artifacts_dir().join("dashboard-phone.png"), png).unwrap();
        client.set_window_size(1280, 900).await.unwrap();

        // The log panel follows the bridge's log and can pause.
        click(&client, &format!("{row} button.logs"), &log).await;
        wait_css(&client, ".log-panel .log-line", 15, &log).await;
        let console = text_of(&client, ".log-panel [role='log']", &log).await;
        assert!(!console.is_empty());
        click(&client, ".log-panel button.pause", &log).await;
        assert_eq!(text_of(&client, ".log-panel button.pause", &log).await, "Resume");
        assert!(text_of(&client, ".log-panel .log-paused", &log).await.starts_with("paused · "));
        click(&client, ".log-panel button.pause", &log).await;
        assert_eq!(text_of(&client, ".log-panel button.pause", &log).await, "Pause");
        let png = client.screenshot().await.expect("take a screenshot");
        std::fs::write(artifacts_dir().join("dashboard-desktop-running.png"), png).unwrap();

        // Stop asks first; cancelling keeps it running.
        click(&client, &format!("{row} button.stop"), &log).await;
        let question = text_of(&client, &format!("{row} [role='alertdialog'] p"), &log).await;
        assert_eq!(question, "Stop alpha? Its sessions on claude.ai end too.");
        assert!(
            until(&client, "return document.activeElement.classList.contains('confirm-stop')", 5).await,
            "focus moves into the confirm"
        );
        click(&client, &format!("{row} [role='alertdialog'] button.cancel"), &log).await;
        assert!(client.find(Locator::Css(&format!("{row} .pill.running"))).await.is_ok());
        click(&client, &format!("{row} button.stop"), &log).await;
        click(&client, &format!("{row} button.confirm-stop"), &log).await;

        let recent = ".recent [data-instance-id]";
        let pill = wait_css(&client, &format!("{recent} .pill.stopped"), 30, &log).await;
        // The row's log panel is open, so the recent list opened by itself (issue 19 bug 5).
        wait_css(&client, "details.recent[open]", 10, &log).await;
        assert_eq!(pill.text().await.unwrap(), "Stopped");
        assert!(
            until(&client, "return [...document.querySelectorAll('.log-note')].some(n => n.textContent === 'The bridge ended.')", 15).await,
            "the log panel says the bridge ended"
        );
        assert_eq!(text_of(&client, ".recent > summary", &log).await, "Recent / resumable (1)");

        // Resume brings the same record back to Running.
        click(&client, &format!("{recent} button.resume"), &log).await;
        wait_css(&client, &format!("{row} .pill.running"), 30, &log).await;
        click(&client, &format!("{row} button.stop"), &log).await;
        click(&client, &format!("{row} button.confirm-stop"), &log).await;
        wait_css(&client, &format!("{recent} .pill.stopped"), 30, &log).await;

        // Forget asks, then the record is gone (here and on the server).
        wait_css(&client, "details.recent[open]", 10, &log).await;
        click(&client, &format!("{recent} button.forget"), &log).await;
        assert_eq!(
            text_of(&client, &format!("{recent} [role='alertdialog'] p"), &log).await,
            "Forget this record? Its logs stay on disk."
        );
        click(&client, &format!("{recent} button.confirm-forget"), &log).await;
        assert!(until(&client, "return !document.querySelector('[data-instance-id]')", 10).await);
        let (_, instances) =
            support::call(reqwest::Method::GET, &format!("{base}/api/instances"), None).await;
        assert_eq!(instances, json!([]));
    })
    .await;
    drop(server);
}

/// ui.md §15 #4 and #11: bypass is offered only with the opt-in and needs the typed project
/// name; the theme choice survives a reload and is applied before the bundle runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bypass_needs_the_typed_name_and_the_theme_survives_reload() {
    let sandbox = Sandbox::new();
    let beta = sandbox.project("beta", &[]);
    sandbox.trust(&beta);
    std::fs::write(
        sandbox.dir.path().join("clauster.yml"),
        "projects:\n  beta: {allow_bypass_permissions: true}\n",
    )
    .unwrap();
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();

    with_browser(&sandbox, move |client| async move {
        client.goto(&format!("{base}/")).await.expect("load the page");
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        let card = "[data-project='beta']";
        click(&client, &format!("{card} button.start"), &log).await;
        let select = wait_css(&client, "select[name='permission_mode']", 5, &log).await;
        select.select_by_value("bypassPermissions").await.unwrap();
        assert_eq!(text_of(&client, "button.launch", &log).await, "Launch · Bypass ⚠");
        assert_eq!(
            text_of(&client, ".launch-form .effect", &log).await,
            "Every action runs without any check. Only for disposable sandboxes."
        );
        click(&client, "button.launch", &log).await;
        let gate = text_of(&client, ".bypass-gate p", &log).await;
        assert!(gate.starts_with("With bypassPermissions, Claude runs every tool in beta"), "{gate}");
        let launch = wait_css(&client, "button.confirm-bypass", 5, &log).await;
        assert!(launch.attr("disabled").await.unwrap().is_some());
        let input = wait_css(&client, "input[name='bypass_confirm']", 5, &log).await;
        input.send_keys("bet\u{E007}").await.unwrap();
        assert_eq!(
            text_of(&client, ".bypass-gate .field-error", &log).await,
            "The name does not match."
        );
        let (_, instances) =
            support::call(reqwest::Method::GET, &format!("{base}/api/instances"), None).await;
        assert_eq!(instances, json!([]), "a mismatched name launched nothing");
        input.send_keys("a").await.unwrap();
        click(&client, "button.confirm-bypass:not([disabled])", &log).await;
        let row = ".zone.active [data-instance-id]";
        wait_css(&client, &format!("{row} .pill.running"), 30, &log).await;
        let (_, instances) =
            support::call(reqwest::Method::GET, &format!("{base}/api/instances"), None).await;
        assert_eq!(instances[0]["permission_mode"], "bypassPermissions");

        // The theme: headless Chromium prefers light, so the toggle offers dark.
        let toggle = wait_css(&client, "button.theme-toggle", 5, &log).await;
        assert_eq!(toggle.attr("aria-label").await.unwrap().as_deref(), Some("Switch to dark theme"));
        toggle.click().await.unwrap();
        assert!(until(&client, "return document.documentElement.dataset.theme === 'dark'", 5).await);
        assert_eq!(toggle.attr("aria-label").await.unwrap().as_deref(), Some("Switch to light theme"));
        let png = client.screenshot().await.expect("take a screenshot");
        std::fs::write(artifacts_dir().join("dashboard-dark.png"), png).unwrap();

        // After a reload the attribute is there before any bundle code ran: the served HTML
        // does not carry it, the blocking head script sets it, and it is set while the page
        // is still unhydrated.
        let (status, _) = support::call(reqwest::Method::GET, &format!("{base}/"), None).await;
        assert_eq!(status, 200);
        let html = reqwest::get(format!("{base}/")).await.unwrap().text().await.unwrap();
        assert!(!html.contains("data-theme"));
        let head = html.split("</head>").next().unwrap();
        let theme_at = head.find("/pkg/theme.js").expect("the pre-paint script");
        assert!(theme_at < head.find("stylesheet").unwrap(), "theme.js runs before the styles");
        assert!(!head[..theme_at].contains("type=\"module\""));
        client.refresh().await.unwrap();
        let early = client
            .execute(
                "return [document.documentElement.dataset.theme, getComputedStyle(document.body).backgroundColor]",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(early, json!(["dark", "rgb(20, 22, 26)"]));
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        assert_eq!(
            wait_css(&client, "button.theme-toggle", 5, &log).await.attr("aria-label").await.unwrap().as_deref(),
            Some("Switch to light theme")
        );
    })
    .await;
    drop(server);
}

/// ui.md §15 #10 and http-api.md §8.4: with the server gone the page says so, falls back to
/// `GET /api/state`, and once the server is back the push stream resumes and live changes
/// show without a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_falls_back_to_polling_and_recovers_when_the_server_returns() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    sandbox.trust(&alpha);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();
    let port = base.rsplit(':').next().unwrap().to_owned();
    let restart = {
        let mut cmd = sandbox.command(clauster_bin());
        cmd.args(["run", "--port", &port, "--projects-root"])
            .arg(sandbox.projects_root())
            .env("CLAUSTER_CLAUDE_BINARY", &claude)
            .env("CLAUSTER_CLAUDE_STOP_GRACE_SECONDS", "2");
        cmd
    };
    let restart_log = sandbox.dir.path().join("clauster-restarted.log");
    let server = std::sync::Arc::new(std::sync::Mutex::new(Some(server)));
    let holder = std::sync::Arc::clone(&server);
    let restarted = std::sync::Arc::new(std::sync::Mutex::new(None));
    let restarted_holder = std::sync::Arc::clone(&restarted);
    let restart = std::sync::Mutex::new(Some(restart));

    with_browser(&sandbox, move |client| async move {
        client
            .goto(&format!("{base}/"))
            .await
            .expect("load the page");
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        assert!(
            client.find(Locator::Css(".banner.conn")).await.is_err(),
            "no banner while live"
        );

        drop(holder.lock().unwrap().take());
        // Issue 19 bug 3: with every refresh failing the page must not claim to refresh:
        // it says the server is unreachable, how old the shown state is, and greys it.
        assert!(
            until(
                &client,
                "const b = document.querySelector('.banner.conn.unreachable'); \
                 return !!b && /^Server unreachable — showing the last known state \\(\\d+ s ago\\)\\. Retrying…$/.test(b.textContent)",
                30
            )
            .await,
            "the unreachable banner never showed"
        );
        assert!(
            until(
                &client,
                "const m = document.querySelector('main.stale'); \
                 return !!m && getComputedStyle(m).filter.includes('grayscale')",
                5
            )
            .await,
            "the stale state is not greyed"
        );
        assert!(
            !until(&client, "return document.body.textContent.includes('refreshing every')", 1).await,
            "the banner claims refreshes that fail"
        );
        let png = client.screenshot().await.expect("take a screenshot");
        std::fs::write(artifacts_dir().join("dashboard-server-down.png"), png).unwrap();

        let cmd = restart.lock().unwrap().take().unwrap();
        *restarted_holder.lock().unwrap() = Some(spawn_logged(cmd, &restart_log));
        assert!(
            until(
                &client,
                "return !document.querySelector('.banner.conn')",
                30
            )
            .await,
            "the banner stayed after the server came back"
        );
        assert!(
            until(&client, "return !document.querySelector('main.stale')", 10).await,
            "the page stayed greyed after the server came back"
        );
        // A bridge started elsewhere (another tab, the CLI) shows up here by push.
        let (status, _) = support::call(
            reqwest::Method::POST,
            &format!("{base}/api/instances"),
            Some(json!({"project": "alpha"})),
        )
        .await;
        assert_eq!(status, 201);
        wait_css(
            &client,
            ".zone.active [data-instance-id] .pill.running",
            30,
            &restart_log,
        )
        .await;
    })
    .await;
    drop(restarted.lock().unwrap().take());
    drop(server.lock().unwrap().take());
}

/// Auth on: the dashboard sends the browser to the login page; after signing in through the
/// plain form the page loads under the CSP (nonce'd scripts, `wasm-unsafe-eval`), hydrates,
/// and its event socket passes the cookie-plus-Origin rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn sign_in_then_the_dashboard_hydrates_under_the_csp() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[".git"]);
    let mut hasher = sandbox.command(clauster_bin());
    hasher
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = hasher.spawn().expect("run hash-password");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"browser-pw\nbrowser-pw\n").unwrap();
    }
    let out = child.wait_with_output().expect("hash-password output");
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    std::fs::write(
        sandbox.dir.path().join("clauster.yml"),
        format!("auth:\n  enabled: true\n  password_required: true\n  password_hash: '{hash}'\n"),
    )
    .unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();

    let browser = open_browser(&sandbox).await;
    let client = browser.client.clone();
    let checks = tokio::spawn(async move {
        client
            .goto(&format!("{base}/"))
            .await
            .expect("load the page");
        let field = wait_css(&client, "input[name='password']", 10, &log).await;
        assert!(
            client
                .current_url()
                .await
                .unwrap()
                .path()
                .ends_with("/login")
        );
        field.send_keys("wrong").await.unwrap();
        client
            .find(Locator::Css("button[type='submit']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let error = wait_css(&client, ".login-error", 10, &log).await;
        assert_eq!(error.text().await.unwrap(), "Wrong password.");

        let field = wait_css(&client, "input[name='password']", 10, &log).await;
        field.send_keys("browser-pw").await.unwrap();
        client
            .find(Locator::Css("button[type='submit']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        wait_css(&client, "[data-project='alpha']", 5, &log).await;
        let png = client.screenshot().await.expect("take a screenshot");
        std::fs::write(artifacts_dir().join("dashboard-signed-in.png"), png).unwrap();
    });
    let outcome = checks.await;
    browser.client.close().await.expect("close the browser");
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// The cost badge of a card shows the rollup from the snapshot, then follows an appended
/// transcript line through a `usage` frame without a reload (ui.md §5.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cost_badge_follows_a_growing_transcript_live() {
    const SESSION: &str = "11111111-1111-4111-8111-111111111111";
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    sandbox.project("beta", &[]);
    // Claude Code's transcript directory for the project: the canonical path's slug.
    let slug: String = std::fs::canonicalize(&alpha)
        .unwrap()
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let dir = sandbox.home().join(".claude/projects").join(slug);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{SESSION}.jsonl"));
    let reply = |id: &str, input: u64| {
        let mut line = json!({
            "type": "assistant", "timestamp": "2026-11-20T10:00:00.000Z", "requestId": id,
            "message": {"id": id, "role": "assistant", "model": "claude-haiku-4-5",
                "usage": {"input_tokens": input, "output_tokens": 0},
                "content": [{"type": "text", "text": "ok"}]},
        })
        .to_string();
        line.push('\n');
        line
    };
    std::fs::write(&file, reply("m1", 100_000)).unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    // Computed once, so the snapshot carries it.
    let (status, body) = support::call(
        reqwest::Method::GET,
        &format!("{}/api/projects/alpha/usage", server.base),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cost_usd"], 0.1, "{body}");

    let base = server.base.clone();
    let log = server.log.clone();
    let appended = file.clone();
    with_browser(&sandbox, move |client| async move {
        client.goto(&format!("{base}/")).await.unwrap();
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        let badge = "[data-project='alpha'] .usage-badge";
        assert_eq!(text_of(&client, &format!("{badge} .amount"), &log).await, "≈$0.10");
        let title = wait_css(&client, badge, 10, &log)
            .await
            .attr("title")
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(
            title.starts_with("Estimated from 100,000 tokens in 1 session · USD · prices of "),
            "{title}"
        );
        // Issue 19, cost honesty: the tooltip says how the figure is made.
        assert!(
            title.ends_with(
                " · each message counted once (de-duplicated by message and request id, like ccusage)"
            ),
            "{title}"
        );
        // A project without transcripts has no badge.
        assert!(
            client
                .find(Locator::Css("[data-project='beta'] .usage-badge"))
                .await
                .is_err()
        );
        // Mark the page: a reload would lose the mark.
        client
            .execute("window.__clausterMark = 1; return true", vec![])
            .await
            .unwrap();

        let mut handle = std::fs::OpenOptions::new()
            .append(true)
            .open(&appended)
            .unwrap();
        std::io::Write::write_all(&mut handle, reply("m2", 2_000_000).as_bytes()).unwrap();
        drop(handle);
        let live = until(
            &client,
            "const b = document.querySelector(\"[data-project='alpha'] .usage-badge .amount\"); \
             return !!b && b.textContent === '≈$2.10' && window.__clausterMark === 1",
            30,
        )
        .await;
        let shown = text_of(&client, badge, &log).await;
        assert!(live, "the badge did not update live; it shows {shown}");
    })
    .await;
}

/// A running bridge's row shows the metrics chip from the live `metrics` frames, with the
/// CPU tooltip, and loses it once the bridge is stopped (ui.md §4.3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_row_shows_the_live_metrics_chip() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    sandbox.trust(&alpha);
    let claude = fake_claude(&sandbox);
    let server = start_server(
        &sandbox,
        Some(&claude),
        &[],
        &[
            ("CLAUSTER_METRICS_POLL_SECONDS", "1"),
            ("FAKE_CLAUDE_BURN_MS", "20000"),
        ],
    );
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    let id = started["instance_id"].as_str().unwrap().to_owned();

    let base = server.base.clone();
    let log = server.log.clone();
    with_browser(&sandbox, move |client| async move {
        client.goto(&format!("{base}/")).await.unwrap();
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        let chip = format!("[data-instance-id='{id}'] .chip.metrics");
        // `<cpu>% CPU · <rss> MB`, then the disk rates (show_disk is on by default).
        let shaped = until(
            &client,
            &format!(
                "const c = document.querySelector(\"{chip}\"); return !!c && \
                 /^\\d+\\.\\d% CPU · [1-9]\\d* MB( · ⬇\\d+(\\.\\d)? [KM]B\\/s ⬆\\d+(\\.\\d)? [KM]B\\/s)?$/\
                 .test(c.textContent)"
            ),
            30,
        )
        .await;
        let text = text_of(&client, &chip, &log).await;
        assert!(shaped, "the metrics chip reads {text:?}");
        let title = wait_css(&client, &chip, 10, &log)
            .await
            .attr("title")
            .await
            .unwrap();
        assert_eq!(
            title.as_deref(),
            Some("CPU summed over the bridge's processes (100% = one core)")
        );

        let (status, body) = support::call(
            reqwest::Method::DELETE,
            &format!("{base}/api/instances/{id}"),
            None,
        )
        .await;
        assert!(status < 300, "stop answered {status}: {body}");
        let gone = until(
            &client,
            &format!("return !document.querySelector(\"{chip}\")"),
            30,
        )
        .await;
        assert!(gone, "the metrics chip stayed after the bridge stopped");
    })
    .await;
}

/// ui.md §3 and §4.4 gate 3: a project with an undecided MCP server shows the yellow
/// readiness pill, which expands the checks; an Interactive launch stops at the MCP-approval
/// gate, whose Cancel launches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readiness_pill_lists_checks_and_an_interactive_launch_asks_about_mcp() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    sandbox.trust(&alpha);
    std::fs::write(
        alpha.join(".mcp.json"),
        r#"{"mcpServers": {"search": {"command": "s"}}}"#,
    )
    .expect("write .mcp.json");
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();
    with_browser(&sandbox, move |client| async move {
        client.goto(&format!("{base}/")).await.unwrap();
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        let pill = "[data-project='alpha'] .readiness-pill";
        assert_eq!(text_of(&client, pill, &log).await, "1 check");
        click(&client, pill, &log).await;
        let listed = text_of(&client, "[data-project='alpha'] .preflight-list", &log).await;
        assert!(
            listed.starts_with("mcp-approval: MCP servers not approved yet: search."),
            "{listed}"
        );

        click(&client, "[data-project='alpha'] button.start", &log).await;
        let mode = wait_css(&client, "[role='dialog'] select[name='resume_mode']", 5, &log).await;
        mode.select_by_value("pty").await.unwrap();
        click(&client, "button.launch", &log).await;
        let gate = text_of(&client, ".mcp-gate p", &log).await;
        assert_eq!(
            gate,
            "This project has MCP servers you have not approved yet; an interactive session would stop at that prompt."
        );
        wait_css(&client, ".mcp-gate button.launch-anyway", 5, &log).await;
        click(&client, ".mcp-gate button.cancel", &log).await;
        assert!(until(&client, "return !document.querySelector(\"[role='dialog']\")", 5).await);
        let (_, instances) =
            support::call(reqwest::Method::GET, &format!("{base}/api/instances"), None).await;
        assert_eq!(instances, json!([]), "Cancel launched nothing");
    })
    .await;
}

/// ui.md §4.3 "Live terminal": a pty bridge's row opens a read-only view of the keeper's
/// redacted screen, fed by `/ws/pty-screen/<id>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pty_row_shows_the_live_terminal() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    sandbox.trust(&alpha);
    std::fs::write(
        alpha.join(".fake-claude.json"),
        json!({ "mode": "pty_ready" }).to_string(),
    )
    .unwrap();
    let claude = fake_claude(&sandbox);
    let server = start_server(
        &sandbox,
        Some(&claude),
        &[],
        &[("CLAUSTER_CLAUDE_PTY_SCREEN_ENABLED", "true")],
    );
    let (status, started) = support::call(
        reqwest::Method::POST,
        &format!("{}/api/instances", server.base),
        Some(json!({ "project": "alpha", "resume_mode": "pty" })),
    )
    .await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let base = server.base.clone();
    let log = server.log.clone();
    with_browser(&sandbox, move |client| async move {
        client.goto(&format!("{base}/")).await.unwrap();
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        let row = format!("[data-instance-id='{id}']");
        click(&client, &format!("{row} .terminal-toggle"), &log).await;
        let screen = format!("{row} .terminal-panel .pty-screen");
        let shown = until(
            &client,
            &format!(
                "const s = document.querySelector(\"{screen}\"); \
                 return !!s && s.textContent.includes('remote-control is active')"
            ),
            30,
        )
        .await;
        let text = text_of(&client, &screen, &log).await;
        assert!(shown, "the terminal shows {text:?}");
        assert!(text.contains("session_<redacted>"), "{text}");
        assert!(!text.contains("session_01FAKEPTY"), "{text}");
        assert_eq!(
            text_of(&client, &format!("{row} .terminal-toggle"), &log).await,
            "Hide terminal"
        );
        let png = client.screenshot().await.expect("take a screenshot");
        std::fs::write(artifacts_dir().join("live-terminal.png"), png).expect("save it");
        click(&client, &format!("{row} .terminal-toggle"), &log).await;
        assert!(
            until(
                &client,
                &format!("return !document.querySelector(\"{row} .terminal-panel\")"),
                5
            )
            .await
        );
    })
    .await;
}

/// ui.md §3 and §4.1: a standard bridge started by hand shows as an external row and a card
/// note with **Adopt**; after the confirm it is a managed Running row and the external
/// entries are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmanaged_bridge_is_adopted_from_its_card() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    sandbox.trust(&alpha);
    let claude = fake_claude(&sandbox);
    let server = start_server(
        &sandbox,
        Some(&claude),
        &[],
        &[("CLAUSTER_CLAUDE_AGENTS_JSON_POLL_INTERVAL_SECONDS", "1")],
    );
    let mut cmd = sandbox.command(&claude);
    cmd.args(["remote-control", "--name", "by-hand"])
        .current_dir(&alpha);
    let by_hand = spawn_logged(cmd, &sandbox.dir.path().join("by-hand.log"));
    let by_hand_pid = by_hand.0.id();
    let base = server.base.clone();
    let log = server.log.clone();
    with_browser(&sandbox, move |client| async move {
        client.goto(&format!("{base}/")).await.unwrap();
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        wait_css(&client, ".zone.active [data-external-project='alpha'] .adopt", 30, &log).await;
        let card = "[data-project='alpha']";
        assert_eq!(
            text_of(&client, &format!("{card} .external-note summary"), &log).await,
            "Claude is running here outside Clauster"
        );
        click(&client, &format!("{card} .external-note .adopt"), &log).await;
        assert_eq!(
            text_of(&client, &format!("{card} .confirm p"), &log).await,
            "Let Clauster manage the bridge already running in alpha? It will then be able to stop it."
        );
        click(&client, &format!("{card} .confirm-adopt"), &log).await;
        let managed = until(
            &client,
            "const rows = [...document.querySelectorAll('.zone.active li.instance[data-instance-id]')]; \
             return rows.length === 1 && rows[0].querySelector('.pill.running') !== null",
            30,
        )
        .await;
        assert!(managed, "no managed Running row after Adopt");
        let external_gone = until(
            &client,
            "return !document.querySelector('[data-external-project]') && \
             !document.querySelector('.external-note')",
            30,
        )
        .await;
        assert!(external_gone, "the external entries stayed after Adopt");
        let (_, instances) =
            support::call(reqwest::Method::GET, &format!("{base}/api/instances"), None).await;
        assert_eq!(instances.as_array().map(Vec::len), Some(1), "{instances}");
        assert_eq!(instances[0]["status"], "running");
        assert_eq!(instances[0]["bridge_pid"], json!(by_hand_pid));
    })
    .await;
    drop(by_hand);
}

/// ui.md §10: the Maintenance panel scans on first open, deletes only after `DELETE` is typed,
/// archives what stays checked, and refreshes to "Nothing to clean up." — against a fake
/// environments API on 127.0.0.1.
// One operator's session with the panel, read top to bottom.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maintenance_panel_deletes_and_archives_leftover_environments() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[".git"]);
    let root = std::fs::canonicalize(sandbox.projects_root()).unwrap();
    let claude = fake_claude(&sandbox);
    let config_dir = sandbox.home().join(".claude");
    std::fs::create_dir_all(&config_dir).unwrap();
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 3_600_000;
    std::fs::write(
        config_dir.join(".credentials.json"),
        json!({"claudeAiOauth": {"accessToken": "sk-ant-oat01-BROWSERTESTTOKEN0123456789", "expiresAt": expires}})
            .to_string(),
    )
    .unwrap();
    std::fs::write(
        sandbox.home().join(".claude.json"),
        json!({"oauthAccount": {"organizationUuid": "0f0e0d0c-0000-4000-8000-000000000002"}})
            .to_string(),
    )
    .unwrap();
    let dir = |name: &str| root.join(name).to_string_lossy().into_owned();
    let api = support::environments_api::FakeEnvironmentsApi::start(
        vec![
            json!({"id": "env_01ALPHA", "name": "alpha", "config": {"type": "bridge", "directory": dir("alpha")}}),
            json!({"id": "env_01GONE", "name": "gone", "config": {"type": "bridge", "directory": dir("gone")}}),
            json!({"id": "env_01CLOUD", "name": "cloud", "config": {"type": "cloud"}}),
        ],
        10,
    );
    let server = start_server(
        &sandbox,
        Some(&claude),
        &[],
        &[
            ("CLAUSTER_REAPER_UI_ENABLED", "true"),
            ("CLAUSTER_ENVIRONMENTS_API_BASE", api.base.as_str()),
            ("FAKE_CLAUDE_AGENTS", "[]"),
        ],
    );
    let base = server.base.clone();
    let log = server.log.clone();
    let api = std::sync::Arc::new(api);
    let seen = api.clone();
    with_browser(&sandbox, move |client| async move {
        client.goto(&format!("{base}/")).await.unwrap();
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        click(&client, ".maintenance summary", &log).await;
        let summary = text_of(&client, ".maintenance .scan-summary", &log).await;
        assert!(summary.starts_with("2 leftover"), "{summary}");
        // Keep alpha's for the archive: uncheck it, then delete the other one.
        click(&client, ".maintenance input[value='env_01ALPHA']", &log).await;
        let delete = ".maintenance button.delete";
        let input = wait_css(
            &client,
            ".maintenance input[name='delete_confirm']",
            10,
            &log,
        )
        .await;
        input.send_keys("delete").await.unwrap();
        let refused = wait_css(&client, delete, 10, &log).await;
        assert_eq!(
            refused.attr("disabled").await.unwrap().as_deref(),
            Some("true")
        );
        input.clear().await.unwrap();
        input.send_keys("DELETE").await.unwrap();
        assert!(
            until(
                &client,
                "return !document.querySelector('.maintenance button.delete').disabled",
                10
            )
            .await,
            "Delete permanently stayed disabled after typing DELETE"
        );
        click(&client, delete, &log).await;
        let result = text_of(&client, ".maintenance .reap-result", &log).await;
        assert!(
            result.starts_with("Deleted 1, skipped 0, failed 0"),
            "{result}"
        );
        let deleted: Vec<_> = seen
            .mutations()
            .into_iter()
            .map(|r| (r.method, r.path))
            .collect();
        assert_eq!(
            deleted,
            [(
                "DELETE".to_owned(),
                "/v1/environments/env_01GONE".to_owned()
            )]
        );

        click(&client, ".maintenance button.refresh", &log).await;
        assert!(
            until(
                &client,
                "const s = document.querySelector('.maintenance .scan-summary'); \
                 return !!s && s.textContent.startsWith('1 leftover')",
                20,
            )
            .await,
            "the refreshed scan did not list the one left"
        );
        click(&client, ".maintenance button.archive", &log).await;
        let result = text_of(&client, ".maintenance .reap-result", &log).await;
        assert!(
            result.starts_with("Archived 1, skipped 0, failed 0"),
            "{result}"
        );
        click(&client, ".maintenance button.refresh", &log).await;
        assert!(
            until(
                &client,
                "const s = document.querySelector('.maintenance .scan-summary'); \
                 return !!s && s.textContent === 'Nothing to clean up.'",
                20,
            )
            .await,
            "the panel did not end with nothing to clean up"
        );
        client
            .screenshot()
            .await
            .map(|png| std::fs::write(artifacts_dir().join("maintenance.png"), png))
            .unwrap()
            .unwrap();
    })
    .await;
    let archived: Vec<_> = api
        .mutations()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        archived[1],
        (
            "POST".to_owned(),
            "/v1/environments/env_01ALPHA/archive".to_owned()
        )
    );
}

/// Starts `clauster run` on the sandbox, loads the dashboard, waits for hydration and marks
/// the window (a reload would lose the mark). Returns the server.
pub(crate) async fn load_marked(client: &Client, base: &str, log: &Path) {
    client
        .goto(&format!("{base}/"))
        .await
        .expect("load the page");
    wait_css(client, "html[data-hydrated='true']", 30, log).await;
    client
        .execute("window.__clausterMark = 1; return true", vec![])
        .await
        .unwrap();
}

pub(crate) async fn still_marked(client: &Client) -> bool {
    client
        .execute("return window.__clausterMark === 1", vec![])
        .await
        .unwrap()
        == json!(true)
}

/// Issue 6 item 6, ui.md §15 #6: a project directory created on disk appears as a card
/// without a reload, and a removed one disappears. Also records the time from navigation to
/// the hydrated marker (BENCHMARKS.md; no assertion on it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_created_on_disk_appears_and_a_removed_one_disappears() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    let server = start_server(&sandbox, None, &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();
    let root = sandbox.projects_root();
    with_browser(&sandbox, move |client| async move {
        load_marked(&client, &base, &log).await;
        let hydrated_ms = client
            .execute(
                "const m = performance.getEntriesByName('clauster-hydrated')[0]; return m ? m.startTime : null",
                vec![],
            )
            .await
            .unwrap();
        eprintln!("page load (navigation start) → hydrated and live: {hydrated_ms} ms");
        assert!(hydrated_ms.is_number(), "the page marks when it became live");
        assert_eq!(text_of(&client, ".count", &log).await, "1 project");

        std::fs::create_dir_all(root.join("beta/.git")).unwrap();
        wait_css(&client, "[data-project='beta']", 10, &log).await;
        assert!(until(&client, "return document.querySelector('.count').textContent === '2 projects'", 5).await);

        std::fs::remove_dir_all(root.join("alpha")).unwrap();
        assert!(
            until(&client, "return !document.querySelector(\"[data-project='alpha']\")", 10).await,
            "the removed directory's card stayed"
        );
        assert_eq!(text_of(&client, ".count", &log).await, "1 project");
        assert!(still_marked(&client).await, "the page was reloaded");
    })
    .await;
    drop(server);
}

/// Sets a textarea's value as typing would and fires `input`.
pub(crate) async fn set_text(client: &Client, css: &str, script_value: &str) {
    client
        .execute(
            &format!(
                "const t = document.querySelector(\"{css}\"); t.value = {script_value}; \
                 t.dispatchEvent(new Event('input', {{bubbles: true}})); return true"
            ),
            vec![],
        )
        .await
        .unwrap();
}

pub(crate) async fn open_claude_md(client: &Client, project: &str, log: &Path) {
    let card = format!("[data-project='{project}']");
    click(client, &format!("{card} details.menu > summary"), log).await;
    click(client, &format!("{card} button.edit-claude-md"), log).await;
    wait_css(
        client,
        &format!("{card} .claude-md-editor textarea"),
        10,
        log,
    )
    .await;
}

/// ui.md §5.2 and §15 #8: open the editor from the card, edit and save (the file on disk
/// changes), a change behind the editor's back shows the conflict with Reload and Overwrite,
/// the cap at 65 537 bytes, unsaved changes asked about on Close, the running-bridge note,
/// and an untrusted project's 403 with Trust.
// One journey through the editor, read top to bottom.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claude_md_editor_saves_and_handles_conflicts_the_cap_and_trust() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &["CLAUDE.md"]);
    sandbox.project("beta", &[]);
    sandbox.trust(&alpha);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}");
    let base = server.base.clone();
    let log = server.log.clone();
    let file = alpha.join("CLAUDE.md");
    let beta_file = sandbox.projects_root().join("beta/CLAUDE.md");
    with_browser(&sandbox, move |client| async move {
        load_marked(&client, &base, &log).await;
        let editor = "[data-project='alpha'] .claude-md-editor";
        let area = format!("{editor} textarea");
        open_claude_md(&client, "alpha", &log).await;
        let value = client
            .execute(&format!("return document.querySelector(\"{area}\").value"), vec![])
            .await
            .unwrap();
        assert_eq!(value, json!("# notes\n"));
        assert_eq!(text_of(&client, &format!("{editor} .byte-counter"), &log).await, "8 / 65536 bytes");
        assert!(client.find(Locator::Css(&format!("{editor} .new-file"))).await.is_err());
        assert_eq!(
            text_of(&client, &format!("{editor} .bridge-note"), &log).await,
            "Running sessions keep the version they started with; new sessions read your changes."
        );

        // Edit and save: the file on disk is what the editor holds.
        set_text(&client, &area, "'# Rules\\nBe brief. ✓\\n'").await;
        assert_eq!(text_of(&client, &format!("{editor} .byte-counter"), &log).await, "22 / 65536 bytes");
        click(&client, &format!("{editor} button.save"), &log).await;
        assert_eq!(text_of(&client, &format!("{editor} .saved"), &log).await, "✓ Saved");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# Rules\nBe brief. ✓\n");

        // Changed behind the editor: the save is refused, the file keeps the other change.
        std::fs::write(&file, "# Edited elsewhere\n").unwrap();
        set_text(&client, &area, "'# Mine\\n'").await;
        click(&client, &format!("{editor} button.save"), &log).await;
        assert_eq!(
            text_of(&client, &format!("{editor} .alert.conflict span"), &log).await,
            "CLAUDE.md changed on disk since you opened it."
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# Edited elsewhere\n");
        // Reload shows what is on disk now.
        click(&client, &format!("{editor} button.reload"), &log).await;
        assert!(
            until(&client, &format!("return document.querySelector(\"{area}\").value === '# Edited elsewhere\\n'"), 10).await,
            "Reload did not show the file on disk"
        );
        // Another conflict, resolved with Overwrite.
        std::fs::write(&file, "# Third\n").unwrap();
        set_text(&client, &area, "'# Mine after all\\n'").await;
        click(&client, &format!("{editor} button.save"), &log).await;
        click(&client, &format!("{editor} button.overwrite"), &log).await;
        wait_css(&client, &format!("{editor} .saved"), 10, &log).await;
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# Mine after all\n");

        // The cap: 65 537 bytes turn the counter red and disable Save.
        set_text(&client, &area, "'x'.repeat(65537)").await;
        assert_eq!(
            text_of(&client, &format!("{editor} .byte-counter.over"), &log).await,
            "65537 / 65536 bytes"
        );
        let save = wait_css(&client, &format!("{editor} button.save"), 5, &log).await;
        assert!(save.attr("disabled").await.unwrap().is_some(), "Save stays enabled over the cap");
        client
            .execute(
                &format!("document.querySelector(\"{area}\").dispatchEvent(new KeyboardEvent('keydown', {{key: 's', ctrlKey: true, bubbles: true}})); return true"),
                vec![],
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# Mine after all\n");

        // Ctrl+S saves; Close with unsaved changes asks first.
        set_text(&client, &area, "'# Keyboard\\n'").await;
        client
            .execute(
                &format!("document.querySelector(\"{area}\").dispatchEvent(new KeyboardEvent('keydown', {{key: 's', ctrlKey: true, bubbles: true}})); return true"),
                vec![],
            )
            .await
            .unwrap();
        wait_css(&client, &format!("{editor} .saved"), 10, &log).await;
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# Keyboard\n");
        set_text(&client, &area, "'# Unsaved\\n'").await;
        click(&client, &format!("{editor} button.close"), &log).await;
        assert_eq!(
            text_of(&client, &format!("{editor} .confirm p"), &log).await,
            "Discard your unsaved changes to CLAUDE.md?"
        );
        click(&client, &format!("{editor} button.discard"), &log).await;
        assert!(until(&client, &format!("return !document.querySelector(\"{editor}\")"), 5).await);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# Keyboard\n");

        // An untrusted project without the file: "new file", the 403 with Trust, then saved.
        let beta = "[data-project='beta'] .claude-md-editor";
        open_claude_md(&client, "beta", &log).await;
        assert_eq!(text_of(&client, &format!("{beta} .new-file"), &log).await, "new file");
        set_text(&client, &format!("{beta} textarea"), "'# Beta\\n'").await;
        click(&client, &format!("{beta} button.save"), &log).await;
        let refusal = text_of(&client, &format!("{beta} .alert.untrusted span"), &log).await;
        assert!(refusal.ends_with("is not a trusted directory"), "{refusal}");
        assert!(!beta_file.exists(), "an untrusted project's file was written");
        click(&client, &format!("{beta} button.trust"), &log).await;
        wait_css(&client, &format!("{beta} .saved"), 10, &log).await;
        assert_eq!(std::fs::read_to_string(&beta_file).unwrap(), "# Beta\n");
        assert_eq!(project_state(&base, "beta").await["trust_state"], "trusted");
        assert!(
            until(&client, "return [...document.querySelectorAll(\"[data-project='beta'] .chip\")].some(c => c.textContent === 'CLAUDE.md')", 10).await,
            "the CLAUDE.md chip did not appear"
        );
        assert!(still_marked(&client).await, "the page was reloaded");
        let png = client.screenshot().await.expect("take a screenshot");
        std::fs::write(artifacts_dir().join("claude-md-editor.png"), png).unwrap();

        // Phones: the editor is a full-screen sheet, without horizontal scrolling.
        client.set_window_size(375, 812).await.unwrap();
        let sheet = client
            .execute(
                &format!(
                    "const e = document.querySelector(\"{beta}\"); const r = e.getBoundingClientRect(); \
                     return [getComputedStyle(e).position, r.left, r.width === document.documentElement.clientWidth, \
                     document.documentElement.scrollWidth <= window.innerWidth]"
                ),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(sheet, json!(["fixed", 0, true, true]));
        let png = client.screenshot().await.expect("take a screenshot");
        std::fs::write(artifacts_dir().join("claude-md-editor-phone.png"), png).unwrap();
    })
    .await;
    drop(server);
}

/// ui.md §7 and §9: the orientation card opens the new-project panel; Create (with git init)
/// makes the card appear without a reload; refusals show under the field they name or above
/// the button, and change nothing on disk. A clone of a URL the server refuses shows the
/// refusal; no progress is shown because no clone can start here without network (the
/// progress path over `git daemon` is covered by tests/create_clone.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_project_panel_creates_a_card_and_shows_refusals() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.projects_root()).unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();
    let root = sandbox.projects_root();
    with_browser(&sandbox, move |client| async move {
        load_marked(&client, &base, &log).await;
        // The empty state's button opens the panel with the name field focused.
        click(&client, ".getting-started button.create-first", &log).await;
        wait_css(&client, "form.new-project-panel input[name='new-project-name']", 5, &log).await;
        assert!(
            until(&client, "return document.activeElement.name === 'new-project-name'", 5).await,
            "the name field is focused"
        );
        assert_eq!(text_of(&client, "button.new-project-toggle", &log).await, "Cancel");
        let name = wait_css(&client, "input[name='new-project-name']", 5, &log).await;

        // A bad name: the 422 under the name field, nothing created.
        name.send_keys("-bad").await.unwrap();
        click(&client, "button.submit-new", &log).await;
        let error = text_of(&client, "form.new-project-panel .field-error", &log).await;
        assert!(error.starts_with("invalid project name: '-bad'"), "{error}");
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);

        // Create with git init: the card appears, the panel closes.
        name.clear().await.unwrap();
        name.send_keys("fresh").await.unwrap();
        click(&client, "input[name='git_init']", &log).await;
        click(&client, "button.submit-new", &log).await;
        wait_css(&client, "[data-project='fresh']", 10, &log).await;
        assert!(root.join("fresh/.git").is_dir(), "git init did not run");
        assert!(
            until(&client, "return [...document.querySelectorAll(\"[data-project='fresh'] .chip\")].some(c => c.textContent === 'git')", 5).await
        );
        assert!(until(&client, "return !document.querySelector('form.new-project-panel')", 5).await);
        assert_eq!(text_of(&client, "button.new-project-toggle", &log).await, "New project");

        // The same name again: the 409 above the button.
        click(&client, "button.new-project-toggle", &log).await;
        let name = wait_css(&client, "input[name='new-project-name']", 5, &log).await;
        name.send_keys("fresh").await.unwrap();
        click(&client, "button.submit-new", &log).await;
        assert_eq!(
            text_of(&client, "form.new-project-panel .field-error", &log).await,
            "a directory named 'fresh' already exists"
        );

        // Clone: the hint names the configured schemes; a refused scheme shows under the URL,
        // a loopback host above the button; nothing lands.
        click(&client, "input[name='new-project-kind'][value='clone']", &log).await;
        assert!(
            until(&client, "return [...document.querySelectorAll('form.new-project-panel .hint')].some(h => h.textContent === 'https and ssh URLs; hosts on a private network need clone.allow_private_hosts')", 5).await,
            "the scheme hint is missing"
        );
        name.clear().await.unwrap();
        name.send_keys("copy").await.unwrap();
        let url = wait_css(&client, "input[name='clone-url']", 5, &log).await;
        url.send_keys("ftp://example.com/repo.git").await.unwrap();
        assert_eq!(text_of(&client, "button.submit-new", &log).await, "Clone");
        click(&client, "button.submit-new", &log).await;
        let error = text_of(&client, "form.new-project-panel .field-error", &log).await;
        assert_eq!(error, "scheme 'ftp' not allowed; permitted: ['https', 'ssh']");
        url.clear().await.unwrap();
        url.send_keys("https://127.0.0.1/repo.git").await.unwrap();
        click(&client, "button.submit-new", &log).await;
        assert!(
            until(&client, "const e = document.querySelector('form.new-project-panel .field-error'); return !!e && e.textContent.startsWith(\"host '127.0.0.1' resolves to blocked address 127.0.0.1\")", 10).await,
            "the loopback refusal was not shown"
        );
        assert!(!root.join("copy").exists());
        let leftovers: Vec<_> = std::fs::read_dir(&root).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers, ["fresh"], "only the created project is on disk");
        assert!(still_marked(&client).await, "the page was reloaded");
    })
    .await;
    drop(server);
}

/// Writes a password config and returns nothing; the password is `browser-pw`.
pub(crate) fn password_config(sandbox: &Sandbox) {
    let mut hasher = sandbox.command(clauster_bin());
    hasher
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = hasher.spawn().expect("run hash-password");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"browser-pw\nbrowser-pw\n").unwrap();
    }
    let out = child.wait_with_output().expect("hash-password output");
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    std::fs::write(
        sandbox.dir.path().join("clauster.yml"),
        format!("auth:\n  enabled: true\n  password_required: true\n  password_hash: '{hash}'\n"),
    )
    .unwrap();
}

pub(crate) async fn sign_in(client: &Client, base: &str, log: &Path) {
    client.goto(&format!("{base}/login")).await.unwrap();
    let field = wait_css(client, "input[name='password']", 10, log).await;
    field.send_keys("browser-pw").await.unwrap();
    click(client, "button[type='submit']", log).await;
    wait_css(client, "html[data-hydrated='true']", 30, log).await;
}

/// ui.md §2 and §11: **Log out** in the header ends the session and lands on the login page;
/// an API call answered 401 sends the page there; a session revoked elsewhere (a logout from
/// another device) closes the event socket with 1008 and sends the open page there without
/// any click.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_out_and_a_revoked_session_land_on_the_login_page() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    password_config(&sandbox);
    let server = start_server(&sandbox, None, &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();
    with_browser(&sandbox, move |client| async move {
        sign_in(&client, &base, &log).await;
        click(&client, "form.log-out button", &log).await;
        wait_css(&client, "input[name='password']", 10, &log).await;
        assert!(client.current_url().await.unwrap().path().ends_with("/login"));
        // The cookie is gone: the dashboard sends the browser back to login.
        client.goto(&format!("{base}/")).await.unwrap();
        wait_css(&client, "input[name='password']", 10, &log).await;
        assert!(client.current_url().await.unwrap().path().ends_with("/login"));

        // Signed in, then the cookie is lost (the event socket, authenticated at its
        // handshake, stays open): the next API call's 401 sends the page to login.
        sign_in(&client, &base, &log).await;
        client.delete_all_cookies().await.unwrap();
        click(&client, "[data-project='alpha'] details.menu > summary", &log).await;
        click(&client, "[data-project='alpha'] button.edit-claude-md", &log).await;
        assert!(
            until(&client, "return location.pathname.endsWith('/login') && !!document.querySelector(\"input[name='password']\")", 15).await,
            "a 401 from the API did not go to the login page"
        );

        // Signed in again; another device logs out, which revokes every session.
        sign_in(&client, &base, &log).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let signed = http
            .post(format!("{base}/login"))
            .header("origin", &base)
            .form(&[("password", "browser-pw")])
            .send()
            .await
            .unwrap();
        assert_eq!(signed.status().as_u16(), 303);
        let cookie = signed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let out = http
            .post(format!("{base}/logout"))
            .header("origin", &base)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status().as_u16(), 303);
        assert!(
            until(&client, "return location.pathname.endsWith('/login') && !!document.querySelector(\"input[name='password']\")", 15).await,
            "the revoked page did not go to the login page"
        );
    })
    .await;
    drop(server);
}

/// ui.md §7 and §15 #7: a clone from a bare repository behind `git daemon` on 127.0.0.1 (the
/// test URL policy, handed over through `ServeOptions` by an in-process server) shows its
/// progress; a cancel mid-way leaves no directory; a clone that lands shows the card and,
/// because the repository ships CLAUDE.md, the warning with **Open CLAUDE.md**.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_shows_progress_can_be_cancelled_and_lands_with_the_warning() {
    use support::inprocess::{bare_repo, git_daemon, serve, slow_proxy, test_policy};
    let sandbox = Sandbox::new();
    bare_repo(&sandbox, "big", 4 * 1024 * 1024);
    bare_repo(&sandbox, "demo", 0);
    let (daemon, port) = git_daemon(&sandbox);
    let slow = slow_proxy(port).await;
    let server = serve(
        &sandbox,
        "clone:\n  allowed_schemes: [git]\n",
        test_policy(),
    )
    .await;
    let base = server.base.clone();
    let log = sandbox
        .dir
        .path()
        .join("in-process-server (see the test output)");
    let root = sandbox.projects_root();
    with_browser(&sandbox, move |client| async move {
        load_marked(&client, &base, &log).await;
        click(&client, ".getting-started button.clone-first", &log).await;
        let name = wait_css(&client, "input[name='new-project-name']", 5, &log).await;
        name.send_keys("big").await.unwrap();
        let url = wait_css(&client, "input[name='clone-url']", 5, &log).await;
        url.send_keys(&format!("git://127.0.0.1:{slow}/big.git")).await.unwrap();
        click(&client, "button.submit-new", &log).await;

        // Progress: the phase and a percent over a determinate bar.
        let receiving = until(
            &client,
            "const p = document.querySelector('.clone-progress .phase'); \
             const bar = document.querySelector('.clone-progress progress'); \
             return !!p && /^Cloning big: Receiving \\d+%$/.test(p.textContent) && bar.hasAttribute('value')",
            60,
        )
        .await;
        assert!(receiving, "no Receiving progress was shown");
        assert!(
            wait_css(&client, "button.new-project-toggle", 5, &log).await.attr("disabled").await.unwrap().is_some(),
            "the panel cannot be closed while its clone runs"
        );
        click(&client, "button.cancel-clone", &log).await;
        assert_eq!(
            text_of(&client, ".clone-progress .confirm p", &log).await,
            "Stop this clone and delete what was downloaded so far?"
        );
        click(&client, "button.keep-going", &log).await;
        click(&client, "button.cancel-clone", &log).await;
        click(&client, "button.stop-clone", &log).await;
        assert_eq!(
            text_of(&client, "form.new-project-panel .field-error", &log).await,
            "The clone was cancelled; nothing was kept."
        );
        let left: Vec<_> = std::fs::read_dir(&root).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(left.is_empty(), "a cancelled clone left {left:?}");

        // A clone that lands: the card, and the warning about its CLAUDE.md.
        let name = wait_css(&client, "input[name='new-project-name']", 5, &log).await;
        name.clear().await.unwrap();
        name.send_keys("demo").await.unwrap();
        let url = wait_css(&client, "input[name='clone-url']", 5, &log).await;
        url.clear().await.unwrap();
        url.send_keys(&format!("git://127.0.0.1:{port}/demo.git")).await.unwrap();
        click(&client, "button.submit-new", &log).await;
        wait_css(&client, "[data-project='demo']", 30, &log).await;
        assert_eq!(
            text_of(&client, ".alert.landed span", &log).await,
            "demo contains CLAUDE.md or .claude/. Read them before you trust it — sessions follow their instructions."
        );
        assert!(until(&client, "return !document.querySelector('form.new-project-panel')", 5).await);
        click(&client, ".alert.landed button.open-claude-md", &log).await;
        let area = "[data-project='demo'] .claude-md-editor textarea";
        wait_css(&client, area, 10, &log).await;
        assert!(
            until(&client, &format!("return document.querySelector(\"{area}\").value === 'Be brief.\\n'"), 10).await,
            "the editor did not show the cloned CLAUDE.md"
        );
        assert!(root.join("demo/README.md").is_file());
        assert!(still_marked(&client).await, "the page was reloaded");
        let png = client.screenshot().await.expect("take a screenshot");
        std::fs::write(artifacts_dir().join("clone-landed.png"), png).unwrap();
    })
    .await;
    drop(server);
    drop(daemon);
}

/// ui.md §4.4 "Conversation": an Interactive launch offers the project's finished
/// conversations (not the subagent's) and forks the one picked (`--resume <uuid>
/// --fork-session`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_launch_forks_the_conversation_picked() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    sandbox.trust(&alpha);
    std::fs::write(
        alpha.join(".fake-claude.json"),
        json!({ "mode": "pty_ready" }).to_string(),
    )
    .unwrap();
    let canonical = std::fs::canonicalize(&alpha).unwrap();
    let transcripts = sandbox
        .home()
        .join(".claude/projects")
        .join(clauster_core::slug::slug(&canonical.to_string_lossy()));
    std::fs::create_dir_all(&transcripts).unwrap();
    let picked = "7a1b2c3d-0000-4000-8000-0000000000f1";
    let turn = |text: &str| {
        json!({"type": "user", "cwd": canonical, "message": {"role": "user", "content": text}})
            .to_string()
    };
    std::fs::write(
        transcripts.join(format!("{picked}.jsonl")),
        format!("{}\n", turn("refactor the parser")),
    )
    .unwrap();
    let sidechain = json!({"type": "user", "isSidechain": true, "cwd": canonical,
        "message": {"role": "user", "content": "a subagent's task"}});
    std::fs::write(
        transcripts.join("7a1b2c3d-0000-4000-8000-0000000000f2.jsonl"),
        format!("{sidechain}\n"),
    )
    .unwrap();
    let claude = fake_claude(&sandbox);
    let argv_log = sandbox.dir.path().join("argv.jsonl");
    let server = start_server(
        &sandbox,
        Some(&claude),
        &[],
        &[("FAKE_CLAUDE_ARGV_LOG", argv_log.to_str().unwrap())],
    );
    let base = server.base.clone();
    let log = server.log.clone();
    with_browser(&sandbox, move |client| async move {
        client.goto(&format!("{base}/")).await.unwrap();
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        click(&client, "[data-project='alpha'] button.start", &log).await;
        let mode = wait_css(
            &client,
            "[role='dialog'] select[name='resume_mode']",
            5,
            &log,
        )
        .await;
        mode.select_by_value("pty").await.unwrap();
        click(&client, "[role='dialog'] details.more summary", &log).await;
        let listed = until(
            &client,
            "const s = document.querySelector(\"select[name='conversation']\"); \
             return !!s && s.options.length === 2",
            15,
        )
        .await;
        assert!(
            listed,
            "the picker did not list exactly one past conversation"
        );
        let label = text_of(
            &client,
            &format!("select[name='conversation'] option[value='{picked}']"),
            &log,
        )
        .await;
        assert!(label.starts_with("refactor the parser · "), "{label}");
        assert!(label.ends_with(" ago"), "{label}");
        let picker = wait_css(&client, "select[name='conversation']", 5, &log).await;
        picker.select_by_value(picked).await.unwrap();
        // "view" beside the choice opens it in the transcript viewer (issue 21).
        let view = wait_css(&client, "a.view-conversation", 5, &log).await;
        let href = view.attr("href").await.unwrap().unwrap_or_default();
        assert_eq!(href, format!("/p/alpha/s/{picked}"));
        click(&client, "button.launch", &log).await;
        wait_css(&client, ".zone.active .pill.running", 30, &log).await;
    })
    .await;
    let forked = std::fs::read_to_string(&argv_log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .any(|l| {
            let argv: Vec<&str> = l["argv"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|a| a.as_str())
                .collect();
            argv.windows(3)
                .any(|w| w == ["--resume", picked, "--fork-session"])
        });
    assert!(forked, "no launch forked {picked}");
}

/// The transcript viewer (issue 21) from the dashboard: the card's menu, the conversation
/// list, the conversation with its collapsed tool calls and "show all", a live session
/// growing while it is viewed (the new turn's time on screen is printed), a reload of the
/// deep link, and 375 px without horizontal scrolling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one journey through the viewer, one browser
async fn the_transcript_viewer_follows_a_live_session_on_desktop_and_phone() {
    const SESSION: &str = "5b2f0a4e-1c1d-4f7e-9a55-3d0f5e6a7b10";
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    let canonical = std::fs::canonicalize(&alpha).unwrap();
    let dir = sandbox
        .home()
        .join(".claude/projects")
        .join(clauster_core::slug::slug(&canonical.to_string_lossy()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{SESSION}.jsonl"));
    std::fs::write(
        &file,
        include_str!("../../crates/clauster-core/src/transcript/fixtures/session.jsonl"),
    )
    .unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();
    with_browser(&sandbox, move |client| async move {
        client.goto(&format!("{base}/")).await.unwrap();
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        click(&client, "[data-project='alpha'] details.menu summary", &log).await;
        click(&client, "[data-project='alpha'] a.transcripts", &log).await;
        click(&client, "[data-test='transcript-session'] a", &log).await;
        wait_css(&client, "main[data-socket='open']", 15, &log).await;
        assert_eq!(
            client.current_url().await.unwrap().path(),
            format!("/p/alpha/s/{SESSION}")
        );
        let title = text_of(&client, "h1.tx-title", &log).await;
        assert!(title.starts_with("Add cursor pagination"), "{title}");
        // Tool calls are one collapsed line until opened.
        let edit = "[data-turn='1'] details.tool";
        let line = text_of(&client, &format!("{edit} .tool-line"), &log).await;
        assert_eq!(line, "Edited src/orders.rs +2 \u{2212}2");
        let output = wait_css(&client, &format!("{edit} pre.output"), 5, &log).await;
        assert!(!output.is_displayed().await.unwrap(), "the output shows before it is opened");
        click(&client, &format!("{edit} summary"), &log).await;
        assert!(output.is_displayed().await.unwrap());

        // A live turn: a Bash call with a long output, then its result.
        client
            .execute(
                "window.__seen = null; new MutationObserver(() => { \
                   if (!window.__seen && document.querySelector(\"[data-turn='7']\")) \
                     window.__seen = Date.now(); \
                 }).observe(document.getElementById('turns'), {childList: true, subtree: true}); \
                 return true",
                vec![],
            )
            .await
            .unwrap();
        let call = json!({"type": "assistant", "timestamp": "2026-11-21T08:00:01.000Z",
            "message": {"id": "m-live", "role": "assistant", "model": "claude-sonnet-4-6",
                "content": [{"type": "tool_use", "id": "tl", "name": "Bash", "input": {"command": "seq 100"}}]}});
        let lines: Vec<String> = (1..=100).map(|n| n.to_string()).collect();
        let result = json!({"type": "user", "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "tl", "content": lines.join("\n")}]}});
        let written = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let mut handle = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
        std::io::Write::write_all(&mut handle, format!("{call}\n").as_bytes()).unwrap();
        let shown = until(&client, "return window.__seen !== null", 20).await;
        assert!(shown, "the live turn never appeared");
        let seen = client
            .execute("return window.__seen", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap();
        eprintln!(
            "live turn on screen {} ms after it was written",
            u128::from(seen).saturating_sub(written)
        );
        std::io::Write::write_all(&mut handle, format!("{result}\n").as_bytes()).unwrap();
        drop(handle);
        let grown = until(
            &client,
            "const t = document.querySelector(\"[data-turn='7'] .tool-line\"); \
             return !!t && t.textContent === 'Ran `seq 100` \u{2192} exit 0'",
            20,
        )
        .await;
        assert!(grown, "the live turn did not grow with its result");
        click(&client, "[data-turn='7'] details.tool summary", &log).await;
        click(&client, "[data-turn='7'] a.show-all", &log).await;
        let all = until(
            &client,
            "const p = document.querySelector(\"[data-turn='7'] pre.output\"); \
             return !!p && p.textContent.split('\\n').length === 100",
            10,
        )
        .await;
        assert!(all, "show all did not load the whole output");
        client
            .screenshot()
            .await
            .map(|png| std::fs::write(artifacts_dir().join("transcript-desktop.png"), png))
            .unwrap()
            .unwrap();

        // The deep link survives a reload, on a phone too.
        client.set_window_size(375, 812).await.unwrap();
        client.refresh().await.unwrap();
        wait_css(&client, "main[data-socket='open']", 15, &log).await;
        wait_css(&client, "[data-turn='7']", 5, &log).await;
        let fits = client
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fits, json!(true), "horizontal scrolling at 375 px");
        client
            .screenshot()
            .await
            .map(|png| std::fs::write(artifacts_dir().join("transcript-375.png"), png))
            .unwrap()
            .unwrap();
        client.set_window_size(1280, 900).await.unwrap();
    })
    .await;
}

/// Browser notifications (issue 22, notifications.md §7): with permission granted, a crash of
/// the fake `claude` shows a Notification-API notification; without it, the page offers a
/// button and never asks on load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_shows_a_browser_notification_and_permission_waits_for_a_gesture() {
    let sandbox = Sandbox::new();
    let crashy = sandbox.project("crashy", &[]);
    std::fs::write(crashy.join(".fake-claude.json"), r#"{"mode": "crash"}"#).unwrap();
    sandbox.trust(&crashy);
    let claude = fake_claude(&sandbox);
    let server = start_server(
        &sandbox,
        Some(&claude),
        &[],
        &[("CLAUSTER_NOTIFICATIONS_BROWSER_ENABLED", "true")],
    );
    let base = server.base.clone();

    let granted = json!({"profile.default_content_setting_values": {"notifications": 1}});
    let browser = open_browser_with_prefs(&sandbox, granted).await;
    let client = browser.client.clone();
    let log = server.log.clone();
    let checks = tokio::spawn(async move {
        client
            .goto(&format!("{base}/"))
            .await
            .expect("load the page");
        wait_css(&client, "html[data-notify='following']", 30, &log).await;
        let permission = client
            .execute(
                "window.__shown = []; const Real = window.Notification; \
                 window.Notification = class extends Real { constructor(title, options) { \
                 super(title, options); window.__shown.push([title, options.body]); } }; \
                 return Real.permission",
                vec![],
            )
            .await
            .expect("wrap Notification");
        assert_eq!(permission, "granted");
        let (status, crashed) = support::call(
            reqwest::Method::POST,
            &format!("{base}/api/instances"),
            Some(json!({"project": "crashy"})),
        )
        .await;
        assert_eq!(status, 201, "{crashed}");
        assert_eq!(crashed["status"], "error", "{crashed}");
        assert!(
            until(&client, "return window.__shown.length > 0", 20).await,
            "no notification was shown"
        );
        let shown = client
            .execute("return window.__shown", vec![])
            .await
            .expect("read");
        assert_eq!(shown[0][0], "crashy: crashed", "{shown}");
        let kind = crashed["error_kind"].as_str().expect("an error kind");
        assert!(
            shown[0][1]
                .as_str()
                .is_some_and(|body| body.starts_with(kind)),
            "{shown}"
        );
    });
    let outcome = checks.await;
    browser.client.close().await.expect("close the browser");
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }

    // A fresh profile: permission not decided. The page offers a button and asks nothing.
    let fresh = Sandbox::new();
    let browser = open_browser(&fresh).await;
    let client = browser.client.clone();
    let base = server.base.clone();
    let log = server.log.clone();
    let checks = tokio::spawn(async move {
        client
            .goto(&format!("{base}/"))
            .await
            .expect("load the page");
        let button = wait_css(&client, "button.notify-offer", 30, &log).await;
        assert_eq!(button.text().await.unwrap(), "Enable notifications");
        let permission = client
            .execute("return Notification.permission", vec![])
            .await
            .expect("read the permission");
        assert_eq!(permission, "default", "nothing was asked on load");
    });
    let outcome = checks.await;
    browser.client.close().await.expect("close the browser");
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}
