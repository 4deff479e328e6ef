//! The transcript viewer in Chromium, desktop and phone (issue 21).

use super::*;

/// The transcript viewer (issue 21) from the dashboard: the card's menu, the conversation
/// list, the conversation with its collapsed tool calls and "show all", a live session
/// growing while it is viewed (the new turn's time on screen is printed), a reload of the
/// deep link, and 375 px without horizontal scrolling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one journey through the viewer, one browser
async fn the_transcript_viewer_follows_a_live_session_on_desktop_and_phone() {
    const SESSION: &str = "5b2f0a4e-1c1d-4f7e-9a55-3d0f5e6a7b10";
    let (sandbox, alpha) = untrusted_project("alpha", &[".git"]);
    let dir = sandbox.claude_project_dir(&alpha);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{SESSION}.jsonl"));
    std::fs::write(
        &file,
        include_str!("../../../crates/clauster-core/src/transcript/fixtures/session.jsonl"),
    )
    .unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    on_dashboard(&sandbox, &server, move |client, _base, log| async move {
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
        screenshot(&client, "transcript-desktop").await;

        // The deep link survives a reload, on a phone too.
        client.set_window_size(375, 812).await.unwrap();
        client.refresh().await.unwrap();
        wait_css(&client, "main[data-socket='open']", 15, &log).await;
        wait_css(&client, "[data-turn='7']", 5, &log).await;
        assert!(fits_width(&client).await, "horizontal scrolling at 375 px");
        screenshot(&client, "transcript-375").await;
        client.set_window_size(1280, 900).await.unwrap();
    })
    .await;
}
