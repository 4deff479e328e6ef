//! Signing claude in and out from the readiness panel in a real browser (issue 20 §2, §4,
//! ui.md §2.2), desktop then 375 px: no `claude` → the panel's Start disabled with the reason
//! → the fake installed → logged out, Start enabled → a wrong code shows claude's words → the
//! right code turns the pill green without a reload → the typed sign-out turns it red again.

use crate::browser::{
    assert_disabled_because, click, fits_width, load, screenshot, start_gets_enabled, until,
    wait_css, with_browser,
};
use crate::support;

use support::{serve_claude, serve_fake, trusted_project};

async fn type_into(client: &fantoccini::Client, css: &str, text: &str, log: &std::path::Path) {
    let input = wait_css(client, css, 10, log).await;
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

// One walk, as a user meets it.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_claude_in_and_out_from_the_panel_turns_the_pill_without_a_reload() {
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    let claude = sandbox.dir.path().join("bin/claude");
    let server = serve_claude(
        &sandbox,
        &claude,
        &[
            ("CLAUSTER_LOGIN_SHEPHERD_ENABLED", "true"),
            ("FAKE_CLAUDE_LOGGED_IN", "0"),
            ("FAKE_CLAUDE_LOGIN_CODE", "right-code"),
        ],
    );
    let log = server.log.clone();
    let base = server.base.clone();
    let fake = support::fake_claude_later(&sandbox);
    with_browser(&sandbox, move |client| async move {
        load(&client, &base, &log).await;
        wait_css(&client, ".host-readiness-pill.blocked", 40, &log).await;
        click(&client, ".host-readiness-pill", &log).await;

        // No claude: the panel's Start is disabled, with the reason.
        assert_disabled_because(
            &client,
            "#host-readiness-panel .start-sign-in",
            "claude not found",
            &log,
        )
        .await;
        let reason = wait_css(&client, ".sign-in .sign-in-blocked", 5, &log).await;
        assert!(reason.text().await.unwrap().starts_with("claude not found"));

        // Installed but signed out: still red, Start enabled (no reload).
        fake();
        wait_css(
            &client,
            "#host-readiness-panel [data-check='claude'].check-ok",
            60,
            &log,
        )
        .await;
        wait_css(
            &client,
            "#host-readiness-panel [data-check='claude-login'].check-fail",
            30,
            &log,
        )
        .await;
        assert!(
            until(
                &client,
                "return !document.querySelector('#host-readiness-panel .start-sign-in').disabled",
                20
            )
            .await,
            "Start enabled once claude is there"
        );

        // A wrong code: claude's own words.
        click(&client, "#host-readiness-panel .start-sign-in", &log).await;
        let link = wait_css(&client, ".sign-in .sign-in-link", 40, &log).await;
        let href = link.attr("href").await.unwrap().unwrap_or_default();
        assert!(
            href.starts_with("https://claude.com/cai/oauth/authorize?") && href.contains("state="),
            "{href}"
        );
        assert!(
            until(
                &client,
                "const q = document.querySelector('.sign-in .sign-in-qr'); \
                 return !!q && q.complete && q.naturalWidth > 0",
                20
            )
            .await,
            "the QR code loads"
        );
        let found = crate::browser::polish::axe_serious(&client).await;
        assert!(found.is_empty(), "axe with the sign-in open: {found:#?}");
        screenshot(&client, "sign-in-link-desktop").await;
        type_into(&client, "input[name='sign-in-code']", "wrong-code", &log).await;
        click(&client, ".sign-in .send-code", &log).await;
        let outcome = wait_css(&client, ".sign-in-outcome.outcome-wrong_code", 60, &log).await;
        let words = outcome.text().await.unwrap();
        assert!(words.contains("status code 400"), "{words}");
        wait_css(&client, ".host-readiness-pill.blocked", 5, &log).await;

        // At 375 px: the right code, and the pill turns green by itself.
        client.set_window_size(375, 812).await.unwrap();
        click(&client, ".sign-in .start-over", &log).await;
        click(&client, "#host-readiness-panel .start-sign-in", &log).await;
        wait_css(&client, ".sign-in .sign-in-link", 40, &log).await;
        assert!(fits_width(&client).await, "horizontal scrolling at 375 px");
        screenshot(&client, "sign-in-link-phone").await;
        type_into(&client, "input[name='sign-in-code']", "right-code", &log).await;
        click(&client, ".sign-in .send-code", &log).await;
        wait_css(&client, ".sign-in-outcome.outcome-signed_in", 60, &log).await;
        wait_css(&client, ".host-readiness-pill.ready", 60, &log).await;
        assert!(
            start_gets_enabled(&client, "alpha").await,
            "Start Claude enabled once signed in"
        );
        screenshot(&client, "sign-in-done-phone").await;

        // Sign out: only once the words are typed.
        client.set_window_size(1280, 900).await.unwrap();
        click(&client, ".sign-in .start-over", &log).await;
        click(&client, ".sign-out summary", &log).await;
        let button = wait_css(&client, ".sign-out .sign-out-button", 5, &log).await;
        assert!(button.attr("disabled").await.unwrap().is_some());
        type_into(&client, "input[name='sign-out-confirm']", "sign out", &log).await;
        click(&client, ".sign-out .sign-out-button", &log).await;
        wait_css(&client, ".host-readiness-pill.blocked", 60, &log).await;
        wait_css(&client, "#host-readiness-panel .start-sign-in", 10, &log).await;
    })
    .await;
    drop(server);
}

/// The long-lived token from the panel (issue 20 §3): offered only with
/// `allow_setup_token`, ends with the token shown once with **Copy** and the warning that it
/// cannot run Remote Control bridges; the pill stays as it was (the token signs nothing in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_lived_token_is_shown_once_with_copy_and_its_warning() {
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    let token = format!("sk-ant-oat01-{}", "Zr8_-".repeat(16));
    let server = serve_fake(
        &sandbox,
        &[
            ("CLAUSTER_LOGIN_SHEPHERD_ENABLED", "true"),
            ("CLAUSTER_LOGIN_SHEPHERD_ALLOW_SETUP_TOKEN", "true"),
            ("FAKE_CLAUDE_LOGIN_CODE", "right-code"),
            ("FAKE_CLAUDE_SETUP_TOKEN", token.as_str()),
        ],
    );
    let log = server.log.clone();
    let base = server.base.clone();
    with_browser(&sandbox, move |client| async move {
        load(&client, &base, &log).await;
        wait_css(&client, ".host-readiness-pill.ready", 40, &log).await;
        click(&client, ".host-readiness-pill", &log).await;
        // Signed in, yet the token is offered (and sign-out too).
        let method = wait_css(&client, "select[name='sign-in-method']", 10, &log).await;
        method
            .select_by_value("setup-token")
            .await
            .expect("choose the token");
        wait_css(&client, ".sign-out summary", 5, &log).await;
        click(&client, "#host-readiness-panel .start-sign-in", &log).await;
        wait_css(&client, ".sign-in .sign-in-link", 40, &log).await;
        type_into(&client, "input[name='sign-in-code']", "right-code", &log).await;
        click(&client, ".sign-in .send-code", &log).await;
        let shown = wait_css(&client, ".minted-token .token-value", 60, &log).await;
        assert_eq!(shown.text().await.unwrap(), token);
        wait_css(&client, ".minted-token button.copy-token", 5, &log).await;
        let warning = wait_css(&client, ".minted-token .token-warning", 5, &log).await;
        assert!(
            warning
                .text()
                .await
                .unwrap()
                .contains("cannot run Remote Control bridges")
        );
        wait_css(&client, ".sign-in-outcome.outcome-token_created", 10, &log).await;
        let found = crate::browser::polish::axe_serious(&client).await;
        assert!(found.is_empty(), "axe with the token shown: {found:#?}");
        wait_css(&client, ".host-readiness-pill.ready", 5, &log).await;
        screenshot(&client, "sign-in-token-desktop").await;
        // Once: after Start over it is gone, and the server has no copy left to give.
        click(&client, ".sign-in .start-over", &log).await;
        assert!(
            until(
                &client,
                "return document.querySelector('.minted-token') === null",
                10
            )
            .await
        );
    })
    .await;
    drop(server);
}
