//! The dashboard in a real headless Chromium: server-rendered, hydrated by the wasm bundle,
//! and interactive only once hydrated.
//!
//! Needs `chromium` and `chromedriver` (installed by `cargo xtask test`) and a `clauster`
//! built with the hydrate bundle. Missing either fails the test: a skipped browser test
//! would let a page that never hydrates pass.

mod auth;
mod config;
mod launch;
mod live;
mod maintenance;
mod notifications;
mod policy;
pub(crate) mod polish;
mod projects;
mod push;
mod readiness;
mod settings;
mod sign_in;
mod transcripts;

use crate::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::{
    KillOnDrop, Sandbox, ServesApi, clauster_bin, fake_claude, free_port, listening, serve_claude,
    serve_fake, spawn_logged, start_server, trusted_project,
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
    let up = listening(port, Duration::from_secs(20));
    assert!(up, "chromedriver did not start");

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

/// Waits for `css` to match, failing with the server log when it never does.
pub(crate) async fn wait_css(
    client: &Client,
    css: &str,
    seconds: u64,
    log: &Path,
) -> fantoccini::elements::Element {
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match client
            .wait()
            .at_most(left)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => return element,
            // A navigation under way aborts the lookup ("aborted by navigation", "target
            // navigated"): the page that follows is searched again, within the same deadline.
            Err(err)
                if !left.is_zero() && err.to_string().to_ascii_lowercase().contains("navigat") => {}
            Err(err) => {
                let logs = std::fs::read_to_string(log).unwrap_or_default();
                panic!("`{css}` never appeared ({err}); server log:\n{logs}");
            }
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

/// Polls until nothing on the page matches `css` (a dialog closed, a row removed).
pub(crate) async fn until_gone(client: &Client, css: &str, seconds: u64) -> bool {
    let selector = serde_json::to_string(css).expect("a selector is a JSON string");
    until(
        client,
        &format!("return !document.querySelector({selector})"),
        seconds,
    )
    .await
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
    // Wait until the toasts are gone rather than for a fixed time.
    until(
        client,
        "return document.querySelectorAll('.toast').length === 0",
        10,
    )
    .await;
    element.click().await.unwrap_or_else(|err| {
        panic!("could not click `{css}`: {err}");
    });
}

/// Saves a screenshot of the page as `<artifacts>/<name>.png`.
pub(crate) async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("take a screenshot");
    std::fs::write(artifacts_dir().join(format!("{name}.png")), png).expect("save the screenshot");
}

/// Whether the page fits the window's width (no horizontal scrolling).
pub(crate) async fn fits_width(client: &Client) -> bool {
    client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth",
            vec![],
        )
        .await
        .unwrap()
        == json!(true)
}

/// Waits for the button `css` and asserts it is disabled with a title (its reason) that
/// starts with `reason`.
pub(crate) async fn assert_disabled_because(client: &Client, css: &str, reason: &str, log: &Path) {
    let button = wait_css(client, css, 10, log).await;
    assert!(
        button.attr("disabled").await.unwrap().is_some(),
        "`{css}` is not disabled"
    );
    let title = button.attr("title").await.unwrap().unwrap_or_default();
    assert!(title.starts_with(reason), "`{css}`: {title}");
}

/// Whether alpha's usage badge comes to show `amount` within `seconds`.
pub(crate) async fn alpha_badge_shows(client: &Client, amount: &str, seconds: u64) -> bool {
    let script = format!(
        "const b = document.querySelector(\"[data-project='alpha'] .usage-badge .amount\"); \
         return !!b && b.textContent === '{amount}'"
    );
    until(client, &script, seconds).await
}

/// Waits for the field `css` and types `keys` into it.
pub(crate) async fn type_keys(client: &Client, css: &str, keys: &str, log: &Path) {
    let field = wait_css(client, css, 10, log).await;
    field.send_keys(keys).await.unwrap();
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
    run_checks(open_browser(sandbox).await, checks).await;
}

/// [`with_browser`] with extra Chromium flags.
pub(crate) async fn with_browser_flags<F, Fut>(sandbox: &Sandbox, flags: &[&str], checks: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    run_checks(open_browser_with(sandbox, flags).await, checks).await;
}

/// [`with_browser`] with Chromium preferences (see [`open_browser_with_prefs`]).
pub(crate) async fn with_browser_prefs<F, Fut>(
    sandbox: &Sandbox,
    prefs: serde_json::Value,
    checks: F,
) where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    run_checks(open_browser_with_prefs(sandbox, prefs).await, checks).await;
}

/// Runs `checks` in a task (so a failed assertion still reaches the close), closes the
/// browser, then re-raises the failure.
async fn run_checks<F, Fut>(browser: Browser, checks: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(checks(browser.client.clone())).await;
    browser.client.close().await.expect("close the browser");
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// [`with_browser`] on `server`'s dashboard, loaded and hydrated; `checks` gets the client,
/// the server's base URL and its log file.
pub(crate) async fn on_dashboard<F, Fut>(sandbox: &Sandbox, server: &support::Server, checks: F)
where
    F: FnOnce(Client, String, PathBuf) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let base = server.base.clone();
    let log = server.log.clone();
    with_browser(sandbox, move |client| async move {
        load(&client, &base, &log).await;
        checks(client, base, log).await;
    })
    .await;
}

/// [`on_dashboard`], with the window marked after hydration (see [`load_marked`]).
pub(crate) async fn on_marked_dashboard<F, Fut>(
    sandbox: &Sandbox,
    server: &support::Server,
    checks: F,
) where
    F: FnOnce(Client, String, PathBuf) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    on_dashboard(sandbox, server, move |client, base, log| async move {
        mark_window(&client).await;
        checks(client, base, log).await;
    })
    .await;
}

/// A sandbox with one project `name` (with `markers`), not trusted yet; see
/// [`support::trusted_project`].
pub(crate) fn untrusted_project(name: &str, markers: &[&str]) -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    let project = sandbox.project(name, markers);
    (sandbox, project)
}

/// Sets the fake `claude`'s mode in `project` (its `.fake-claude.json`).
pub(crate) fn fake_mode(project: &Path, mode: &str) {
    std::fs::write(
        project.join(".fake-claude.json"),
        json!({ "mode": mode }).to_string(),
    )
    .expect("write .fake-claude.json");
}

/// [`with_browser_prefs`] with notifications allowed, on `server`'s dashboard once `ready`
/// (a CSS selector the page comes to match) is there; `checks` gets the client, the
/// server's base URL and its log file.
pub(crate) async fn on_dashboard_notifying<F, Fut>(
    sandbox: &Sandbox,
    server: &support::Server,
    ready: &'static str,
    checks: F,
) where
    F: FnOnce(Client, String, PathBuf) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let base = server.base.clone();
    let log = server.log.clone();
    with_browser_prefs(sandbox, notifications_granted(), move |client| async move {
        goto_dashboard(&client, &base).await;
        wait_css(&client, ready, 30, &log).await;
        checks(client, base, log).await;
    })
    .await;
}

/// Chromium preferences with notifications allowed for every site.
pub(crate) fn notifications_granted() -> serde_json::Value {
    json!({"profile.default_content_setting_values": {"notifications": 1}})
}

/// Navigates to the dashboard at `base` (without waiting for hydration).
pub(crate) async fn goto_dashboard(client: &Client, base: &str) {
    client
        .goto(&format!("{base}/"))
        .await
        .expect("load the page");
}

/// Loads the dashboard at `base` and waits for hydration.
pub(crate) async fn load(client: &Client, base: &str, log: &Path) {
    goto_dashboard(client, base).await;
    wait_css(client, "html[data-hydrated='true']", 30, log).await;
}

/// From `card`'s **Start Claude**: **Launch**, then through the trust gate (the box ticked,
/// **Trust and launch**).
pub(crate) async fn launch_through_the_trust_gate(client: &Client, card: &str, log: &Path) {
    click(client, &format!("{card} button.start"), log).await;
    click(client, "button.launch", log).await;
    click(client, ".trust-gate input[name='trust']", log).await;
    click(client, "button.confirm-trust:not([disabled])", log).await;
}

/// Whether `project`'s **Start Claude** becomes enabled within 10 s.
pub(crate) async fn start_gets_enabled(client: &Client, project: &str) -> bool {
    until(
        client,
        &format!(
            "return !document.querySelector(\"[data-project='{project}'] button.start\").disabled"
        ),
        10,
    )
    .await
}

/// Types `password` into the login form and submits it.
pub(crate) async fn submit_password(client: &Client, password: &str, log: &Path) {
    let field = wait_css(client, "input[name='password']", 10, log).await;
    field.send_keys(password).await.unwrap();
    click(client, "button[type='submit']", log).await;
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

/// Starts `clauster run` on the sandbox, loads the dashboard, waits for hydration and marks
/// the window (a reload would lose the mark). Returns the server.
pub(crate) async fn load_marked(client: &Client, base: &str, log: &Path) {
    load(client, base, log).await;
    mark_window(client).await;
}

/// Marks the window; a reload loses the mark (see [`still_marked`]).
async fn mark_window(client: &Client) {
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
    submit_password(client, "browser-pw", log).await;
    wait_css(client, "html[data-hydrated='true']", 30, log).await;
}
