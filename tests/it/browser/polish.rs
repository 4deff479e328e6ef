//! Issue 19 in a real Chromium: failures you cannot miss (a failed launch on its card, a log
//! panel that follows a relaunch, gates that keep focus), the CLAUDE.md sheet, the desktop
//! list, icons, and axe-core in both themes by both ways into dark mode.

use crate::browser::{
    click, fits_width, launch_through_the_trust_gate, load, on_dashboard, open_claude_md,
    screenshot, set_text, text_of, type_keys, until, until_gone, untrusted_project, wait_css,
    with_browser, with_browser_flags,
};
use crate::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::Client;
use serde_json::json;
use support::{Sandbox, fake_claude, serve_fake, start_server, trusted_project};

async fn js(client: &Client, script: &str) -> serde_json::Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|err| panic!("script failed ({err}): {script}"))
}

/// Issue 19 bug 1: a launch that fails (claude prints its error and exits) shows on the card
/// that launched it — the kind, claude's own words, the hint, Details and Retry — and as a
/// toast; Retry, once the cause is gone, runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_launch_shows_on_its_card_and_retry_runs_it() {
    let (sandbox, alpha) = trusted_project("alpha", &[]);
    let knob = alpha.join(".fake-claude.json");
    std::fs::write(&knob, r#"{"mode": "stderr_error"}"#).unwrap();
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();

    with_browser(&sandbox, move |client| async move {
        client.set_window_size(1440, 900).await.unwrap();
        load(&client, &base, &log).await;
        let card = "[data-project='alpha']";
        click(&client, &format!("{card} button.start"), &log).await;
        click(&client, "button.launch", &log).await;
        assert!(
            until_gone(&client, "[role='dialog']", 5).await,
            "the popover closes once the launch is sent"
        );

        let failure = format!("{card} .card-failure");
        wait_css(&client, &failure, 30, &log).await;
        let title = text_of(&client, &format!("{failure} .failure-title"), &log).await;
        assert!(title.starts_with("Failed to start"), "{title}");
        let words = text_of(&client, &format!("{failure} .claude-words"), &log).await;
        assert!(
            words.contains("failed to authenticate bridge to controller (HTTP 401)"),
            "claude's own words: {words}"
        );
        assert!(
            !text_of(&client, &format!("{failure} .hint"), &log)
                .await
                .is_empty()
        );
        click(
            &client,
            &format!("{failure} details.error-detail > summary"),
            &log,
        )
        .await;
        let detail = text_of(
            &client,
            &format!("{failure} details.error-detail pre"),
            &log,
        )
        .await;
        assert!(detail.contains("HTTP 401"), "{detail}");
        let toast = text_of(&client, ".toast.error", &log).await;
        assert!(toast.starts_with("alpha could not start: "), "{toast}");
        screenshot(&client, "dashboard-desktop-failed-launch").await;

        std::fs::remove_file(&knob).unwrap();
        click(&client, &format!("{failure} button.retry"), &log).await;
        wait_css(
            &client,
            ".zone.active [data-instance-id] .pill.running",
            30,
            &log,
        )
        .await;
        assert!(
            until_gone(&client, &failure, 10).await,
            "the failure stayed on the card after a successful retry"
        );
    })
    .await;
    drop(server);
}

/// Issue 19 bugs 2, 5 and 8: a log panel left open over a Stop follows the instance into
/// Recent (which opens, with its disclosure arrow), then follows the new run after Resume
/// instead of staying on "The bridge ended."; one "Hide logs" button on the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_panel_follows_the_instance_through_stop_and_resume() {
    let (sandbox, _) = trusted_project("alpha", &[]);
    let server = serve_fake(&sandbox, &[]);
    let base = server.base.clone();
    let log = server.log.clone();

    with_browser(&sandbox, move |client| async move {
        let (status, _) = support::start_bridge_at(&base, "alpha").await;
        assert_eq!(status, 201);
        load(&client, &base, &log).await;
        let row = ".zone.active > .instances [data-instance-id]";
        wait_css(&client, &format!("{row} .pill.running"), 30, &log).await;
        click(&client, &format!("{row} button.logs"), &log).await;
        wait_css(&client, ".log-panel .log-line", 15, &log).await;
        let hide = js(
            &client,
            "return [...document.querySelectorAll('button')].filter(b => b.textContent.trim() === 'Hide logs').length",
        )
        .await;
        assert_eq!(hide, json!(1), "one Hide logs button");

        click(&client, &format!("{row} button.stop"), &log).await;
        click(&client, &format!("{row} button.confirm-stop"), &log).await;
        let ended = text_of(&client, ".log-panel .log-note", &log).await;
        assert_eq!(ended, "The bridge ended.");
        assert_eq!(text_of(&client, ".log-panel .log-head .pill", &log).await, "Stopped");
        // The row moved to Recent: the list opens so the row stays next to its panel.
        wait_css(&client, "details.recent[open]", 10, &log).await;
        let arrow = js(
            &client,
            "const s = getComputedStyle(document.querySelector('.recent > summary'), '::before'); \
             return s.content !== 'none' && parseFloat(s.borderLeftWidth) > 0",
        )
        .await;
        assert_eq!(arrow, json!(true), "Recent has a disclosure arrow");

        click(&client, ".recent [data-instance-id] button.resume", &log).await;
        wait_css(&client, &format!("{row} .pill.running"), 30, &log).await;
        assert!(
            until(
                &client,
                "const p = document.querySelector('.log-panel'); return !!p && !p.querySelector('.log-note') \
                 && [...p.querySelectorAll('.log-line')].some(l => l.textContent === '── run 2 ──')",
                20
            )
            .await,
            "the log panel stayed on the ended run"
        );
        assert!(
            until(
                &client,
                "const lines = [...document.querySelectorAll('.log-panel .log-line')].map(l => l.textContent); \
                 return lines.length > lines.indexOf('── run 2 ──') + 1",
                20
            )
            .await,
            "no line of the new run arrived"
        );
        assert_eq!(text_of(&client, ".log-panel .log-head .pill", &log).await, "Running");
    })
    .await;
    drop(server);
}

/// Issue 19 bug 4: Launch on an untrusted project moves focus into the trust gate (Escape
/// still closes it and focus returns to Start); after Trust and launch no dialog stays open.
/// Also the header's help drawer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trust_gate_keeps_focus_and_trust_and_launch_closes_the_popover() {
    let (sandbox, _) = untrusted_project("alpha", &[]);
    let server = serve_fake(&sandbox, &[]);
    on_dashboard(&sandbox, &server, move |client, _base, log| async move {
        let card = "[data-project='alpha']";
        click(&client, &format!("{card} button.start"), &log).await;
        click(&client, "button.launch", &log).await;
        wait_css(&client, ".trust-gate", 5, &log).await;
        assert!(
            until(&client, "return document.activeElement.name === 'trust'", 5).await,
            "focus fell out of the gate"
        );
        js(
            &client,
            "document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true})); return true",
        )
        .await;
        assert!(until_gone(&client, "[role='dialog']", 5).await);
        assert!(
            until(&client, "return document.activeElement.classList.contains('start')", 5).await,
            "focus returns to Start Claude"
        );

        launch_through_the_trust_gate(&client, card, &log).await;
        assert!(
            until_gone(&client, "[role='dialog'], .popover-backdrop", 10).await,
            "the popover stayed open after Trust and launch"
        );
        wait_css(&client, ".zone.active [data-instance-id] .pill.running", 30, &log).await;
        assert!(client.find(fantoccini::Locator::Css("[role='dialog']")).await.is_err());

        // The "?" drawer explains the modes and the shortcuts; Escape closes it.
        click(&client, "button.help-toggle", &log).await;
        let help = text_of(&client, ".help-drawer[role='dialog']", &log).await;
        for needle in ["Server Mode", "Interactive", "Read and plan only", "focuses the project search"] {
            assert!(help.contains(needle), "help lacks {needle:?}: {help}");
        }
        assert!(
            until(&client, "return document.activeElement.classList.contains('close-x')", 5).await,
            "focus did not move into the help drawer"
        );
        js(
            &client,
            "document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true})); return true",
        )
        .await;
        assert!(until_gone(&client, ".help-drawer", 5).await);
        assert!(
            until(&client, "return document.activeElement.classList.contains('help-toggle')", 5).await,
            "focus returns to the help button"
        );
        // Its guide links open the guide this server serves, the page a user would read.
        click(&client, "button.help-toggle", &log).await;
        click(&client, ".help-guide a[href$='/guide/first-run']", &log).await;
        assert!(
            until(&client, "return document.querySelector('main h1')?.textContent === 'First run'", 15).await,
            "the guide's First run page did not open"
        );
        assert!(client.find(fantoccini::Locator::Css("nav.tx-bar a[href='/']")).await.is_ok());
    })
    .await;
    drop(server);
}

/// Issue 19 bug 6: on a desktop the CLAUDE.md editor is a wide sheet over the page (not a
/// 340 px textarea inside a card), its neighbours do not stretch, and its buttons never wrap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claude_md_editor_is_a_wide_sheet_on_a_desktop() {
    let (sandbox, alpha) = untrusted_project("alpha", &["CLAUDE.md"]);
    sandbox.project("beta", &["CLAUDE.md"]);
    sandbox.project("gamma", &["CLAUDE.md"]);
    sandbox.trust(&alpha);
    let alpha_md = sandbox.projects_root().join("alpha/CLAUDE.md");
    let server = start_server(&sandbox, None, &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();

    with_browser(&sandbox, move |client| async move {
        client.set_window_size(1440, 900).await.unwrap();
        load(&client, &base, &log).await;
        let height = "return document.querySelector(\"[data-project='beta']\").getBoundingClientRect().height";
        let before = js(&client, height).await;
        open_claude_md(&client, "alpha", &log).await;
        let editor = "[data-project='alpha'] .claude-md-editor";
        assert_eq!(
            js(&client, &format!("return document.querySelector(\"{editor}\").getAttribute('role')")).await,
            json!("dialog")
        );
        let width = js(
            &client,
            &format!("return document.querySelector(\"{editor} textarea\").getBoundingClientRect().width"),
        )
        .await;
        assert!(width.as_f64().unwrap() >= 800.0, "textarea {width} px wide");
        assert_eq!(js(&client, height).await, before, "the neighbour card stretched");
        // Make the conflict buttons show, then check no button wraps its label.
        std::fs::write(&alpha_md, "# changed behind the editor\n").unwrap();
        set_text(&client, &format!("{editor} textarea"), "'# mine\\n'").await;
        click(&client, &format!("{editor} button.save"), &log).await;
        if !until(&client, &format!("return !!document.querySelector(\"{editor} button.overwrite\")"), 10).await {
            let text = js(&client, &format!("return document.querySelector(\"{editor}\").innerText")).await;
            panic!("no conflict shown; the editor says: {text}");
        }
        let wrapped = js(
            &client,
            &format!(
                "return [...document.querySelectorAll(\"{editor} button\")].filter(b => b.offsetHeight > 0 && \
                 b.getBoundingClientRect().height > 50).map(b => b.textContent)"
            ),
        )
        .await;
        assert_eq!(wrapped, json!([]), "buttons wrap their labels");
        screenshot(&client, "dashboard-desktop-editor").await;
    })
    .await;
    drop(server);
}

fn axe_source() -> String {
    let path = std::env::var_os("AXE_CORE_JS").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/tools/npm-axe/node_modules/axe-core/axe.min.js")
        },
        PathBuf::from,
    );
    std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "axe-core not found at {} ({err}); install it with `cargo xtask setup`",
            path.display()
        )
    })
}

/// Runs axe-core on the page; returns the serious and critical violations as
/// `rule: target…` lines.
pub(crate) async fn axe_serious(client: &Client) -> Vec<String> {
    js(client, &format!("{}\nreturn true", axe_source())).await;
    let result = client
        .execute_async(
            "const done = arguments[0]; axe.run(document, {resultTypes: ['violations']}).then(r => done(\
             r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => \
             v.id + ': ' + v.nodes.map(n => n.target.join(' ') + ' ' + (n.failureSummary || '')).join(' | '))))",
            vec![],
        )
        .await
        .expect("run axe-core");
    serde_json::from_value(result).unwrap()
}

/// Issue 19 bugs 7 and 8 and the polish: axe-core finds no serious violation in the light
/// theme, the dark theme chosen on the page, and the dark theme the system asks for with no
/// stored choice (the path that once used #ea580c under white text); every action button
/// carries an `<svg>` icon; the favicon exists; the cost badge's tooltip says how the figure
/// is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_themes_by_both_paths_pass_axe_and_actions_have_icons() {
    let (sandbox, _) = trusted_project("alpha", &[".git", "CLAUDE.md"]);
    sandbox.project("beta", &[]);
    let server = serve_fake(&sandbox, &[]);
    let base = server.base.clone();
    let log = server.log.clone();

    let favicon = reqwest::get(format!("{base}/favicon.ico")).await.unwrap();
    assert_eq!(favicon.status(), 200);
    assert_eq!(favicon.headers()["content-type"], "image/x-icon");
    assert_eq!(
        &favicon.bytes().await.unwrap()[..4],
        &[0, 0, 1, 0],
        "an ICO file"
    );

    let (status, _) = support::start_bridge_at(&base, "alpha").await;
    assert_eq!(status, 201);

    let (light_base, light_log) = (base.clone(), log.clone());
    with_browser(&sandbox, move |client| async move {
        let (base, log) = (light_base, light_log);
        client.set_window_size(1440, 900).await.unwrap();
        load(&client, &base, &log).await;
        wait_css(&client, ".zone.active [data-instance-id] .pill.running", 30, &log).await;
        let bare = js(
            &client,
            "return [...document.querySelectorAll('.card-actions button, .row-actions button, .row-actions a.button, .menu > summary')]\
             .filter(b => !b.querySelector('svg')).map(b => b.textContent)",
        )
        .await;
        assert_eq!(bare, json!([]), "action buttons without an icon");
        let violations = axe_serious(&client).await;
        assert!(violations.is_empty(), "light theme: {violations:#?}");
        screenshot(&client, "dashboard-desktop-light").await;

        click(&client, "button.theme-toggle", &log).await;
        assert!(
            until(&client, "return document.documentElement.dataset.theme === 'dark'", 5).await
        );
        let violations = axe_serious(&client).await;
        assert!(violations.is_empty(), "dark theme (chosen): {violations:#?}");
        screenshot(&client, "dashboard-desktop-dark").await;
    })
    .await;

    // A fresh profile (no stored choice) on a system that prefers dark.
    let dark = Sandbox::new();
    let (dark_base, dark_log) = (base.clone(), log.clone());
    with_browser_flags(&dark, &["--force-dark-mode"], move |client| async move {
        let (base, log) = (dark_base, dark_log);
        client.set_window_size(1440, 900).await.unwrap();
        load(&client, &base, &log).await;
        let path = js(
            &client,
            "return [matchMedia('(prefers-color-scheme: dark)').matches, document.documentElement.dataset.theme || null, \
             getComputedStyle(document.querySelector('button.primary')).backgroundColor]",
        )
        .await;
        assert_eq!(path, json!([true, null, "rgb(194, 65, 12)"]), "system dark path");
        let violations = axe_serious(&client).await;
        assert!(violations.is_empty(), "dark theme (system): {violations:#?}");
        screenshot(&client, "dashboard-desktop-system-dark").await;
    })
    .await;
    drop(server);
}

/// The `data-project` names in document order.
const CARD_ORDER: &str =
    "return [...document.querySelectorAll('.cards > [data-project]')].map(c => c.dataset.project)";

/// How many distinct rows the toolbar's children sit on (their vertical centres).
const TOOLBAR_LINES: &str = "return new Set([...document.querySelectorAll('.toolbar > *')].map(e => { \
    const r = e.getBoundingClientRect(); return Math.round(r.top + r.height / 2); })).size";

/// The cumulative layout shift since the parser finished the page, and each moved node with
/// its rectangles before and after, then the shift while it was parsed: `[total,
/// [description…], while parsing]`. Shifts while the document was
/// still being parsed are left out: on a busy machine the parser yields and the browser paints
/// half a page, which the rest of the page then moves; that is loading, not hydration.
async fn layout_shift_so_far(client: &Client) -> serde_json::Value {
    client
        .execute_async(
            "const done = arguments[0]; let total = 0; const moved = []; \
             const parsed = performance.getEntriesByType('navigation')[0].domInteractive; \
             const name = n => !n ? '?' : n.nodeType === 1 ? n.tagName.toLowerCase() + \
               (n.className ? '.' + String(n.className).trim().split(/\\s+/).join('.') : '') : '#text'; \
             let loading = 0; \
             const o = new PerformanceObserver(l => l.getEntries().forEach(e => { \
               if (e.startTime <= parsed) { loading += e.value; return; } total += e.value; \
               (e.sources || []).forEach(s => moved.push(name(s.node) + ' ' + JSON.stringify(s.previousRect) + ' -> ' + JSON.stringify(s.currentRect))); })); \
             o.observe({type: 'layout-shift', buffered: true}); \
             requestAnimationFrame(() => requestAnimationFrame(() => done([total, moved, loading])))",
            vec![],
        )
        .await
        .unwrap()
}

/// Waits until instance `id` runs and the first paint has the host's readiness, so the first
/// snapshot of a page loaded now changes nothing.
async fn until_steady(server: &support::Server, id: &str) {
    support::wait_instance(server, id, Duration::from_secs(30), |i| {
        i["status"] == "running"
    })
    .await;
    let page_has_readiness = support::wait_for_async(Duration::from_secs(30), || async {
        let page = reqwest::get(&server.base).await.ok()?.text().await.ok()?;
        page.contains("\"readiness\":{").then_some(())
    })
    .await;
    assert!(
        page_has_readiness.is_some(),
        "no readiness on the page\n{}",
        server.log()
    );
}

/// Issue 19 polish: sort and search live in the URL, which wins over the stored choice; the
/// server renders the list in the URL's order; the stored choice applies after hydration
/// when the URL names none. At 1440 px every project is one row at most 56 px tall, and the
/// first view does not shift when it hydrates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_sorts_and_filters_from_the_url_over_the_stored_choice() {
    let (sandbox, _) = untrusted_project("alpha", &[".git"]);
    sandbox.project("beta", &[".git"]);
    let gamma = sandbox.project("gamma", &[".git"]);
    sandbox.trust(&gamma);
    // Metrics off: a sample landing between the first paint and the first snapshot would
    // change gamma's row, and that is a live update, not hydration.
    let server = serve_fake(&sandbox, &[("CLAUSTER_METRICS_ENABLED", "false")]);
    let base = server.base.clone();
    let log = server.log.clone();
    let (status, started) = support::start_bridge_at(&base, "gamma").await;
    assert_eq!(status, 201);
    let id = started["instance_id"].as_str().unwrap();
    until_steady(&server, id).await;

    // Without JavaScript: the server already renders the URL's order and search.
    let html = reqwest::get(format!("{base}/?sort=last_used"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = |name: &str| html.find(&format!("data-project=\"{name}\"")).unwrap();
    assert!(
        at("gamma") < at("alpha") && at("alpha") < at("beta"),
        "server order"
    );
    let html = reqwest::get(format!("{base}/?q=et"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-project=\"beta\"") && !html.contains("data-project=\"alpha\""));

    with_browser(&sandbox, move |client| async move {
        client.set_window_size(1440, 900).await.unwrap();
        load(&client, &base, &log).await;
        let shift = layout_shift_so_far(&client).await;
        assert!(
            shift[0].as_f64().is_some_and(|v| v < 0.001),
            "layout shift across hydration: {shift:#}"
        );
        assert_eq!(js(&client, CARD_ORDER).await, json!(["alpha", "beta", "gamma"]));
        let tallest = js(
            &client,
            "return Math.max(...[...document.querySelectorAll('.cards > [data-project]')].map(c => c.getBoundingClientRect().height))",
        )
        .await;
        assert!(tallest.as_f64().unwrap() <= 56.0, "rows up to {tallest} px tall at 1440 px");
        // Issue 19: the toolbar (search, sort, count) is one line on a desktop.
        let lines = js(&client, TOOLBAR_LINES).await;
        assert_eq!(lines, json!(1), "the toolbar wraps at 1440 px");

        // Choosing a sort stores it and puts it in the URL.
        client
            .execute(
                "const s = document.querySelector(\"select[name='project-sort']\"); s.value = 'last_used'; \
                 s.dispatchEvent(new Event('change', {bubbles: true})); return true",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            until(&client, &format!("{CARD_ORDER}.join() === 'gamma,alpha,beta'"), 10).await,
            "the list did not re-sort"
        );
        assert_eq!(js(&client, "return location.search").await, json!("?sort=last_used"));
        assert_eq!(
            js(&client, "return localStorage.getItem('clauster-sort')").await,
            json!("last_used")
        );

        // The URL wins over the stored choice, before and after hydration.
        client.goto(&format!("{base}/?sort=name&q=a")).await.unwrap();
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        assert_eq!(js(&client, CARD_ORDER).await, json!(["alpha", "beta", "gamma"]));
        assert_eq!(
            js(&client, "return document.querySelector(\"input[name='project-search']\").value").await,
            json!("a")
        );

        // No URL choice: the stored one applies once hydrated.
        load(&client, &base, &log).await;
        assert!(
            until(&client, &format!("{CARD_ORDER}.join() === 'gamma,alpha,beta'"), 10).await,
            "the stored sort was not applied"
        );
        screenshot(&client, "dashboard-desktop-list").await;
        client.set_window_size(375, 812).await.unwrap();
        assert!(fits_width(&client).await, "horizontal scrolling at 375 px");
        screenshot(&client, "dashboard-phone-list").await;
    })
    .await;
    drop(server);
}

/// Issue 19 bug 8: the login page has the logo, a 44 px password field on a phone, and a
/// card whose width does not follow the error text; the page icon exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_has_a_logo_a_phone_sized_field_and_a_steady_card() {
    let (sandbox, _) = untrusted_project("alpha", &[]);
    crate::browser::password_config(&sandbox);
    let server = start_server(&sandbox, None, &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();

    with_browser(&sandbox, move |client| async move {
        client.set_window_size(375, 812).await.unwrap();
        client.goto(&format!("{base}/login")).await.unwrap();
        wait_css(&client, ".login-card .login-logo", 10, &log).await;
        let facts = "const c = document.querySelector('.login-card').getBoundingClientRect(); \
                     const i = document.querySelector('#password').getBoundingClientRect(); \
                     return [Math.round(c.width), i.height >= 44]";
        let before = js(&client, facts).await;
        assert_eq!(
            before[1],
            json!(true),
            "password field under 44 px: {before}"
        );
        screenshot(&client, "login-phone").await;
        // A wrong password shows the error; the card keeps its width.
        type_keys(&client, "#password", "wrong password", &log).await;
        click(&client, ".login-card button[type='submit']", &log).await;
        assert_eq!(
            text_of(&client, ".login-error", &log).await,
            "Wrong password."
        );
        assert_eq!(
            js(&client, facts).await,
            before,
            "the card changed size with the error"
        );
        let icon = js(
            &client,
            "return document.querySelector(\"link[rel='icon']\").getAttribute('href')",
        )
        .await;
        assert!(icon.as_str().unwrap().ends_with("/favicon.svg"), "{icon}");
    })
    .await;
    drop(server);
}
