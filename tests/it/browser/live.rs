//! Live updates in Chromium: the push stream and its polling fallback, cost badges, metrics chips, the live terminal, cards following the disk (ui.md §3–§5, §15).

use super::*;

/// ui.md §15 #10 and http-api.md §8.4: with the server gone the page says so, falls back to
/// `GET /api/state`, and once the server is back the push stream resumes and live changes
/// show without a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_falls_back_to_polling_and_recovers_when_the_server_returns() {
    let (sandbox, _) = trusted_project("alpha", &[]);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();
    let port = base.rsplit(':').next().unwrap().to_owned();
    let restart = {
        let mut cmd = support::clauster_run(&sandbox, Some(&port));
        cmd.env("CLAUSTER_CLAUDE_BINARY", &claude)
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
        load(&client, &base, &log).await;
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
        screenshot(&client, "dashboard-server-down").await;

        let cmd = restart.lock().unwrap().take().unwrap();
        *restarted_holder.lock().unwrap() = Some(spawn_logged(cmd, &restart_log));
        assert!(
            until_gone(&client, ".banner.conn", 30).await,
            "the banner stayed after the server came back"
        );
        assert!(
            until_gone(&client, "main.stale", 10).await,
            "the page stayed greyed after the server came back"
        );
        // A bridge started elsewhere (another tab, the CLI) shows up here by push.
        let (status, _) = support::start_bridge_at(&base, "alpha").await;
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

/// The cost badge of a card shows the rollup from the snapshot, then follows an appended
/// transcript line through a `usage` frame without a reload (ui.md §5.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cost_badge_follows_a_growing_transcript_live() {
    const SESSION: &str = "11111111-1111-4111-8111-111111111111";
    let (sandbox, alpha) = untrusted_project("alpha", &[]);
    sandbox.project("beta", &[]);
    // Claude Code's transcript directory for the project: the canonical path's slug.
    let dir = sandbox.claude_project_dir(&alpha);
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
    let (status, body) = server.get("/api/projects/alpha/usage").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cost_usd"], 0.1, "{body}");

    let base = server.base.clone();
    let log = server.log.clone();
    let appended = file.clone();
    with_browser(&sandbox, move |client| async move {
        load(&client, &base, &log).await;
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
        let live =
            alpha_badge_shows(&client, "≈$2.10", 30).await && still_marked(&client).await;
        let shown = text_of(&client, badge, &log).await;
        assert!(live, "the badge did not update live; it shows {shown}");
    })
    .await;
}

/// A running bridge's row shows the metrics chip from the live `metrics` frames, with the
/// CPU tooltip, and loses it once the bridge is stopped (ui.md §4.3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_row_shows_the_live_metrics_chip() {
    let (sandbox, _) = trusted_project("alpha", &[]);
    let server = serve_fake(
        &sandbox,
        &[
            ("CLAUSTER_METRICS_POLL_SECONDS", "1"),
            ("FAKE_CLAUDE_BURN_MS", "20000"),
        ],
    );
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    let id = started["instance_id"].as_str().unwrap().to_owned();

    on_dashboard(&sandbox, &server, move |client, base, log| async move {
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
        let gone = until_gone(&client, &chip, 30).await;
        assert!(gone, "the metrics chip stayed after the bridge stopped");
    })
    .await;
}

/// ui.md §4.3 "Live terminal": a pty bridge's row opens a read-only view of the keeper's
/// redacted screen, fed by `/ws/pty-screen/<id>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pty_row_shows_the_live_terminal() {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    fake_mode(&alpha, "pty_ready");
    let server = serve_fake(&sandbox, &[("CLAUSTER_CLAUDE_PTY_SCREEN_ENABLED", "true")]);
    let (status, started) = server
        .post(
            "/api/instances",
            json!({ "project": "alpha", "resume_mode": "pty" }),
        )
        .await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    let id = started["instance_id"].as_str().unwrap().to_owned();
    on_dashboard(&sandbox, &server, move |client, _base, log| async move {
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
        screenshot(&client, "live-terminal").await;
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

/// Issue 6 item 6, ui.md §15 #6: a project directory created on disk appears as a card
/// without a reload, and a removed one disappears. Also records the time from navigation to
/// the hydrated marker (BENCHMARKS.md; no assertion on it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_created_on_disk_appears_and_a_removed_one_disappears() {
    let (sandbox, _) = untrusted_project("alpha", &[]);
    let server = start_server(&sandbox, None, &[], &[]);
    let root = sandbox.projects_root();
    on_marked_dashboard(&sandbox, &server, move |client, _base, log| async move {
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
            until_gone(&client, "[data-project='alpha']", 10).await,
            "the removed directory's card stayed"
        );
        assert_eq!(text_of(&client, ".count", &log).await, "1 project");
        assert!(still_marked(&client).await, "the page was reloaded");
    })
    .await;
    drop(server);
}

/// A log panel that gave up while the server was away follows again once the page's socket is
/// back, and shows each line once: the window the new socket sends replaces the run's lines
/// instead of following them (ui.md §4.5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnected_log_panel_shows_each_line_once() {
    let (sandbox, _) = trusted_project("alpha", &[]);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}");
    let debug_log = PathBuf::from(
        started["bridge_raw_log_path"]
            .as_str()
            .or(started["bridge_debug_log_path"].as_str())
            .expect("the instance has a debug log"),
    );
    let port = base.rsplit(':').next().unwrap().to_owned();
    let mut restart = support::clauster_run(&sandbox, Some(&port));
    restart.env("CLAUSTER_CLAUDE_BINARY", &claude);
    let restart_log = sandbox.dir.path().join("clauster-restarted.log");
    let first = std::sync::Mutex::new(Some(server));
    let restart = std::sync::Mutex::new(Some(restart));
    let restarted = std::sync::Arc::new(std::sync::Mutex::new(None));
    let restarted_holder = std::sync::Arc::clone(&restarted);

    with_browser(&sandbox, move |client| async move {
        load(&client, &base, &log).await;
        let row = ".zone.active > .instances [data-instance-id]";
        wait_css(&client, &format!("{row} .pill.running"), 30, &log).await;
        click(&client, &format!("{row} button.logs"), &log).await;
        wait_css(&client, ".log-panel .log-line", 15, &log).await;

        // The server goes; the panel tries again, then offers Reconnect.
        drop(first.lock().unwrap().take());
        wait_css(&client, ".log-panel button.reconnect", 60, &log).await;
        let cmd = restart.lock().unwrap().take().unwrap();
        *restarted_holder.lock().unwrap() = Some(spawn_logged(cmd, &restart_log));
        assert!(
            until_gone(&client, ".banner.conn", 60).await,
            "the page did not reconnect"
        );
        assert!(
            until_gone(&client, ".log-panel .log-note", 30).await,
            "the log panel did not follow again"
        );
        // A line written now comes after the whole window.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&debug_log)
            .unwrap();
        std::io::Write::write_all(&mut file, b"written after the reconnect\n").unwrap();
        assert!(
            until(
                &client,
                "return [...document.querySelectorAll('.log-panel .log-line')] \
                 .some(l => l.textContent.includes('written after the reconnect'))",
                30
            )
            .await,
            "the line written after the reconnect never showed"
        );
        let lines = client
            .execute(
                "return [...document.querySelectorAll('.log-panel .log-line')].map(l => l.textContent)",
                vec![],
            )
            .await
            .unwrap();
        let lines: Vec<String> = serde_json::from_value(lines).unwrap();
        let distinct: std::collections::BTreeSet<&String> = lines.iter().collect();
        assert_eq!(distinct.len(), lines.len(), "lines shown twice: {lines:#?}");
    })
    .await;
    drop(restarted.lock().unwrap().take());
}
