//! The dashboard in Chromium: hydration and search, launching through the trust gate and the popover, bypass, MCP approval, adoption and forking (ui.md §4, §15).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_hydrates_and_the_search_box_filters_cards() {
    let (sandbox, _) = untrusted_project("alpha", &[".git"]);
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
    let up = listening(port, Duration::from_secs(20));
    assert!(up, "clauster did not start");

    // Checks run in a task so a failed assertion still closes the browser below.
    with_browser(&sandbox, move |client| async move {
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
        let filtered = until_gone(&client, "[data-project='beta']", 5).await;
        assert!(filtered, "typing in the search box did not hide 'beta'");
        assert!(visible("alpha").await);
        assert!(visible("gamma-alpine").await);
        assert_eq!(count.text().await.unwrap(), "2 of 3 projects");

        screenshot(&client, "dashboard-desktop").await;
    })
    .await;
}

/// ui.md §15 #2, #3, #5 and #12: the trust gate (cancel leaves the project untrusted), a
/// launch through the popover that turns Running without a reload, the Open link and QR, the
/// log panel, Stop behind its confirm, Resume, Forget, and a 375 px layout without
/// horizontal scrolling.
// One user's journey, read top to bottom; each step depends on the one before.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_through_the_trust_gate_then_logs_stop_resume_and_forget() {
    let (sandbox, _) = untrusted_project("alpha", &[".git"]);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    on_dashboard(&sandbox, &server, move |client, base, log| async move {
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
        assert!(until_gone(&client, "[role='dialog']", 5).await);
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
        assert!(until_gone(&client, "[role='dialog']", 5).await);
        assert!(
            until(&client, "return document.activeElement.classList.contains('start')", 5).await,
            "focus returns to Start Claude"
        );

        launch_through_the_trust_gate(&client, card, &log).await;

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
        screenshot(&client, "dashboard-phone-launch").await;
        click(&client, "[role='dialog'] button.cancel", &log).await;
        assert!(fits_width(&client).await, "horizontal scrolling at 375 px");
        screenshot(&client, "dashboard-phone").await;
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
        screenshot(&client, "dashboard-desktop-running").await;

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
        assert!(until_gone(&client, "[data-instance-id]", 10).await);
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
    let (sandbox, _) = trusted_project("beta", &[]);
    std::fs::write(
        sandbox.dir.path().join("clauster.yml"),
        "projects:\n  beta: {allow_bypass_permissions: true}\n",
    )
    .unwrap();
    let server = serve_fake(&sandbox, &[]);
    on_dashboard(&sandbox, &server, move |client, base, log| async move {
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
        screenshot(&client, "dashboard-dark").await;

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

/// ui.md §3 and §4.4 gate 3: a project with an undecided MCP server shows the yellow
/// readiness pill, which expands the checks; an Interactive launch stops at the MCP-approval
/// gate, whose Cancel launches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readiness_pill_lists_checks_and_an_interactive_launch_asks_about_mcp() {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    std::fs::write(
        alpha.join(".mcp.json"),
        r#"{"mcpServers": {"search": {"command": "s"}}}"#,
    )
    .expect("write .mcp.json");
    let server = serve_fake(&sandbox, &[]);
    on_dashboard(&sandbox, &server, move |client, base, log| async move {
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
        assert!(until_gone(&client, "[role='dialog']", 5).await);
        let (_, instances) =
            support::call(reqwest::Method::GET, &format!("{base}/api/instances"), None).await;
        assert_eq!(instances, json!([]), "Cancel launched nothing");
    })
    .await;
}

/// ui.md §3 and §4.1: a standard bridge started by hand shows as an external row and a card
/// note with **Adopt**; after the confirm it is a managed Running row and the external
/// entries are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmanaged_bridge_is_adopted_from_its_card() {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    let claude = fake_claude(&sandbox);
    let server = serve_claude(
        &sandbox,
        &claude,
        &[("CLAUSTER_CLAUDE_AGENTS_JSON_POLL_INTERVAL_SECONDS", "1")],
    );
    let mut cmd = sandbox.command(&claude);
    cmd.args(["remote-control", "--name", "by-hand"])
        .current_dir(&alpha);
    let by_hand = spawn_logged(cmd, &sandbox.dir.path().join("by-hand.log"));
    let by_hand_pid = by_hand.0.id();
    on_dashboard(&sandbox, &server, move |client, base, log| async move {
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

/// ui.md §4.4 "Conversation": an Interactive launch offers the project's finished
/// conversations (not the subagent's) and forks the one picked (`--resume <uuid>
/// --fork-session`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_launch_forks_the_conversation_picked() {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    fake_mode(&alpha, "pty_ready");
    let canonical = std::fs::canonicalize(&alpha).unwrap();
    let transcripts = sandbox.claude_project_dir(&alpha);
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
    let argv_log = sandbox.dir.path().join("argv.jsonl");
    let server = serve_fake(
        &sandbox,
        &[("FAKE_CLAUDE_ARGV_LOG", argv_log.to_str().unwrap())],
    );
    on_dashboard(&sandbox, &server, move |client, _base, log| async move {
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
