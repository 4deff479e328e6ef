//! The dashboard in a real headless Chromium: server-rendered, hydrated by the wasm bundle,
//! and interactive only once hydrated.
//!
//! Needs `chromium` and `chromedriver` (installed by `cargo xtask test`) and a `clauster`
//! built with the hydrate bundle. Missing either fails the test: a skipped browser test
//! would let a page that never hydrates pass.

mod support;

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

fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("create the artifacts dir");
    dir
}

struct Browser {
    _driver: KillOnDrop,
    client: Client,
}

async fn open_browser(sandbox: &Sandbox) -> Browser {
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
    let caps = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
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
                let card = client
                    .find(Locator::Css(&format!("[data-project='{name}']")))
                    .await
                    .unwrap();
                card.attr("hidden").await.unwrap().is_none()
            }
        };
        // Only a hydrated page reacts to typing; the server-rendered HTML alone would not.
        let filtered = client
            .wait()
            .at_most(Duration::from_secs(5))
            .for_element(Locator::Css("[data-project='beta'][hidden]"))
            .await;
        assert!(
            filtered.is_ok(),
            "typing in the search box did not hide 'beta'"
        );
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
async fn wait_css(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_after_the_trust_gate_then_stop_updates_the_card_live() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[".git"]);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();

    let browser = open_browser(&sandbox).await;
    let client = browser.client.clone();
    let checks = tokio::spawn(async move {
        client
            .goto(&format!("{base}/"))
            .await
            .expect("load the page");
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        let card = "[data-project='alpha']";
        assert!(
            client
                .find(Locator::Css(&format!("{card} [data-instance-id]")))
                .await
                .is_err(),
            "no bridge yet"
        );

        client
            .find(Locator::Css(&format!("{card} button.start")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let tick = wait_css(&client, &format!("{card} input[name='trust']"), 5, &log).await;
        let confirm = client
            .find(Locator::Css(&format!("{card} button.confirm-trust")))
            .await
            .unwrap();
        assert_eq!(confirm.text().await.unwrap(), "Trust and launch");
        assert!(
            confirm.attr("disabled").await.unwrap().is_some(),
            "launching needs the trust checkbox"
        );
        tick.click().await.unwrap();
        wait_css(
            &client,
            &format!("{card} button.confirm-trust:not([disabled])"),
            5,
            &log,
        )
        .await;
        confirm.click().await.unwrap();

        let pill = wait_css(
            &client,
            &format!("{card} [data-instance-id] .pill.running"),
            30,
            &log,
        )
        .await;
        assert_eq!(pill.text().await.unwrap(), "Running");
        assert!(
            client
                .find(Locator::Css(&format!("{card} .alert")))
                .await
                .is_err(),
            "no error on the card"
        );

        client.set_window_size(375, 812).await.unwrap();
        let png = client.screenshot().await.expect("take a screenshot");
        std::fs::write(artifacts_dir().join("dashboard-phone.png"), png).unwrap();

        client
            .find(Locator::Css(&format!(
                "{card} [data-instance-id] button.stop"
            )))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let pill = wait_css(
            &client,
            &format!("{card} [data-instance-id] .pill.stopped"),
            30,
            &log,
        )
        .await;
        assert_eq!(pill.text().await.unwrap(), "Stopped");
        assert!(
            client
                .find(Locator::Css(&format!(
                    "{card} [data-instance-id] button.resume"
                )))
                .await
                .is_ok(),
            "a stopped bridge offers Resume"
        );
    });
    let outcome = checks.await;
    browser.client.close().await.expect("close the browser");
    drop(server);
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// Auth on: the dashboard sends the browser to the login page; after signing in through the
/// plain form the page loads under the CSP (nonce'd scripts, `wasm-unsafe-eval`), hydrates,
/// and its event socket passes the cookie-plus-Origin rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_then_the_dashboard_hydrates_under_the_csp() {
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
