//! The settings sheet in headless Chromium (config.md §8, issue 23): the header's pencil
//! opens it; a live setting (`usage.currency`) changes the cost badge of an open page without
//! a reload or a restart; a restart key says so; a range is checked before anything is sent;
//! a file changed behind the sheet offers Reload and Overwrite; the same at 375 px.

use crate::browser::{
    alpha_badge_shows, click, load_marked, screenshot, still_marked, text_of, until,
    untrusted_project, wait_css, with_browser,
};
use crate::support;

use std::path::Path;

use fantoccini::Client;
use serde_json::json;
use support::{Sandbox, ServesApi, start_server, write_config};

const SESSION: &str = "22222222-2222-4222-8222-222222222222";

const FILE: &str = "\
# the operator's file
usage:
  currency: USD   # agreed with finance
  fx_rate: 1.0
instance_defaults:
  capacity: 32
";

/// A transcript of 100 000 input tokens of Haiku for `project`: a $0.10 badge.
fn transcript(sandbox: &Sandbox, project: &Path) {
    let dir = sandbox.claude_project_dir(project);
    std::fs::create_dir_all(&dir).unwrap();
    let mut line = json!({
        "type": "assistant", "timestamp": "2026-11-20T10:00:00.000Z", "requestId": "m1",
        "message": {"id": "m1", "role": "assistant", "model": "claude-haiku-4-5",
            "usage": {"input_tokens": 100_000, "output_tokens": 0},
            "content": [{"type": "text", "text": "ok"}]},
    })
    .to_string();
    line.push('\n');
    std::fs::write(dir.join(format!("{SESSION}.jsonl")), line).unwrap();
}

/// Sets an input's value as typing would and fires `input` and `change`.
async fn type_into(client: &Client, css: &str, value: &str) {
    client
        .execute(
            "const t = document.querySelector(arguments[0]); t.value = arguments[1]; \
             t.dispatchEvent(new Event('input', {bubbles: true})); \
             t.dispatchEvent(new Event('change', {bubbles: true})); return true",
            vec![json!(css), json!(value)],
        )
        .await
        .unwrap();
}

fn field(key: &str, control: &str) -> String {
    format!(".settings-row[data-key='{key}'] {control}")
}

async fn open_sheet(client: &Client, log: &Path) {
    click(client, "header .settings-open", log).await;
    wait_css(
        client,
        ".settings-sheet .settings-row[data-key='usage.currency']",
        10,
        log,
    )
    .await;
}

// One journey through the sheet, read top to bottom.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_sheet_applies_live_reports_restarts_and_handles_conflicts() {
    let (sandbox, alpha) = untrusted_project("alpha", &[]);
    transcript(&sandbox, &alpha);
    write_config(&sandbox, FILE);
    let server = start_server(&sandbox, None, &[], &[]);
    let (status, body) = server.get("/api/projects/alpha/usage").await;
    assert_eq!(status, 200, "{body}");
    let base = server.base.clone();
    let log = server.log.clone();
    let file = sandbox.dir.path().join("clauster.yml");
    with_browser(&sandbox, move |client| async move {
        load_marked(&client, &base, &log).await;
        let badge = "[data-project='alpha'] .usage-badge .amount";
        assert_eq!(text_of(&client, badge, &log).await, "≈$0.10");
        open_sheet(&client, &log).await;
        // The YAML key is shown, the groups are searchable.
        assert_eq!(
            text_of(&client, &field("usage.currency", ".settings-key"), &log).await,
            "usage.currency"
        );
        type_into(&client, ".settings-search", "currency").await;
        assert!(
            until(
                &client,
                "return document.querySelector(\".settings-row[data-key='logs.keep_rotated']\").hidden \
                 && !document.querySelector(\".settings-row[data-key='usage.currency']\").hidden",
                5
            )
            .await,
            "the search did not filter the rows"
        );
        type_into(&client, ".settings-search", "").await;

        // A live key: the badge of the open page changes, no reload, no restart.
        type_into(&client, &field("usage.currency", "input"), "EUR").await;
        type_into(&client, &field("usage.fx_rate", "input"), "2").await;
        click(&client, ".settings-tier.basic .settings-save", &log).await;
        assert_eq!(
            text_of(&client, ".settings-tier.basic .settings-status.saved", &log).await,
            "Saved — applied live: usage.currency, usage.fx_rate"
        );
        let live =
            alpha_badge_shows(&client, "≈EUR 0.20", 20).await && still_marked(&client).await;
        assert!(live, "the badge did not change live: {}", text_of(&client, badge, &log).await);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("currency: EUR   # agreed with finance"), "{text}");

        // A range is checked before anything is sent.
        type_into(&client, &field("instance_defaults.capacity", "input"), "0").await;
        click(&client, ".settings-tier.basic .settings-save", &log).await;
        assert_eq!(
            text_of(&client, &field("instance_defaults.capacity", ".settings-error"), &log).await,
            "instance_defaults.capacity must be at least 1"
        );
        assert!(std::fs::read_to_string(&file).unwrap().contains("capacity: 32"));

        // A restart key says so.
        type_into(&client, &field("instance_defaults.capacity", "input"), "8").await;
        click(&client, ".settings-tier.basic .settings-save", &log).await;
        assert_eq!(
            text_of(&client, ".settings-tier.basic .settings-status.saved.restart", &log).await,
            "Saved — takes effect after a restart of Clauster"
        );
        assert!(std::fs::read_to_string(&file).unwrap().contains("capacity: 8"));

        // Changed behind the sheet: Reload shows the file as it is now.
        std::fs::write(&file, std::fs::read_to_string(&file).unwrap().replace("capacity: 8", "capacity: 9")).unwrap();
        type_into(&client, &field("instance_defaults.capacity", "input"), "10").await;
        click(&client, ".settings-tier.basic .settings-save", &log).await;
        assert_eq!(
            text_of(&client, ".settings-conflict .alert.conflict span", &log).await,
            "clauster.yml changed on disk since you opened it."
        );
        click(&client, ".settings-conflict button.reload", &log).await;
        assert!(
            until(
                &client,
                "return document.querySelector(\".settings-row[data-key='instance_defaults.capacity'] input\").value === '9'",
                10
            )
            .await,
            "Reload did not show the file on disk"
        );
        // Again, resolved with Overwrite.
        std::fs::write(&file, std::fs::read_to_string(&file).unwrap().replace("capacity: 9", "capacity: 7")).unwrap();
        type_into(&client, &field("instance_defaults.capacity", "input"), "12").await;
        click(&client, ".settings-tier.basic .settings-save", &log).await;
        click(&client, ".settings-conflict button.overwrite", &log).await;
        wait_css(&client, ".settings-tier.basic .settings-status.saved", 10, &log).await;
        assert!(std::fs::read_to_string(&file).unwrap().contains("capacity: 12"));
        assert!(still_marked(&client).await, "the page reloaded");
        screenshot(&client, "settings-desktop").await;

        // Phones: the sheet fills the screen without horizontal scrolling, and saves.
        client.set_window_size(375, 812).await.unwrap();
        click(&client, ".settings-close", &log).await;
        open_sheet(&client, &log).await;
        let fits = client
            .execute(
                "const s = document.querySelector('.settings-sheet'); \
                 return s.scrollWidth <= s.clientWidth && s.getBoundingClientRect().width <= window.innerWidth \
                 && document.documentElement.scrollWidth <= window.innerWidth",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fits, json!(true), "horizontal scrolling at 375 px");
        type_into(&client, &field("usage.currency", "input"), "GBP").await;
        click(&client, ".settings-tier.basic .settings-save", &log).await;
        wait_css(&client, ".settings-tier.basic .settings-status.saved.live", 10, &log).await;
        screenshot(&client, "settings-375").await;
        click(&client, ".settings-close", &log).await;
        assert!(
            alpha_badge_shows(&client, "≈GBP 0.20", 20).await,
            "the badge did not follow the second live change"
        );
        client.set_window_size(1280, 900).await.unwrap();
    })
    .await;
}
