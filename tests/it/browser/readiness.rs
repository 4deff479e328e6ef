//! The header's readiness pill in a real browser (issue 20 §1, ui.md §2.1): no `claude` →
//! red, Start disabled with the reason and its fix one click away → `claude` installed →
//! green without a reload; a lost login → red after Re-check → green again. Desktop and
//! 375 px.

use crate::browser::{
    assert_disabled_because, click, fits_width, load, screenshot, start_gets_enabled, wait_css,
    with_browser,
};
use crate::support;

use support::{start_server, trusted_project};

// One walk through the states, as a user sees them.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pill_turns_red_without_claude_and_green_once_installed() {
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    let claude = sandbox.dir.path().join("bin/claude");
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let log = server.log.clone();
    let base = server.base.clone();
    let knobs = sandbox.state_dir().join(".fake-claude.json");
    let fake = support::fake_claude_later(&sandbox);
    with_browser(&sandbox, move |client| async move {
        load(&client, &base, &log).await;

        let pill = wait_css(&client, ".host-readiness-pill.blocked", 40, &log).await;
        assert_eq!(pill.text().await.unwrap(), "● 1 problem");
        assert_disabled_because(
            &client,
            "[data-project='alpha'] button.start",
            "claude not found",
            &log,
        )
        .await;

        // The fix is one click away: the note under the card opens the panel.
        click(
            &client,
            "[data-project='alpha'] .start-blocked .fix-readiness",
            &log,
        )
        .await;
        let row = wait_css(
            &client,
            "#host-readiness-panel [data-check='claude'].check-fail",
            5,
            &log,
        )
        .await;
        assert!(row.text().await.unwrap().contains("Install Claude Code"));
        screenshot(&client, "readiness-red-desktop").await;

        client.set_window_size(375, 812).await.unwrap();
        assert!(
            fits_width(&client).await,
            "horizontal scrolling at 375 px with the panel open"
        );
        screenshot(&client, "readiness-red-phone").await;

        // Installed: green without a reload (the server notices the binary by itself).
        fake();
        wait_css(&client, ".host-readiness-pill.ready", 60, &log).await;
        assert!(
            start_gets_enabled(&client, "alpha").await,
            "Start enabled again"
        );
        assert!(
            client
                .find(fantoccini::Locator::Css(".start-blocked"))
                .await
                .is_err(),
            "no blocked note once ready"
        );
        client.set_window_size(1280, 900).await.unwrap();

        // Signed out: Re-check turns it red with the reason on Start.
        std::fs::write(&knobs, r#"{"logged_in": "0"}"#).unwrap();
        click(&client, "#host-readiness-panel button.recheck", &log).await;
        wait_css(&client, ".host-readiness-pill.blocked", 40, &log).await;
        wait_css(
            &client,
            "#host-readiness-panel [data-check='claude-login'].check-fail",
            5,
            &log,
        )
        .await;
        let start = wait_css(&client, "[data-project='alpha'] button.start", 5, &log).await;
        assert_eq!(
            start.attr("title").await.unwrap().as_deref(),
            Some("claude is not logged in")
        );
        std::fs::remove_file(&knobs).unwrap();
        click(&client, "#host-readiness-panel button.recheck", &log).await;
        wait_css(&client, ".host-readiness-pill.ready", 40, &log).await;
    })
    .await;
    drop(server);
}
