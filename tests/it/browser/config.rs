//! The "Claude config" sheet in a real headless Chromium (ui.md §5.3, config-write.md): from
//! the card's menu, change a permission rule (and meet a conflict: Reload or Overwrite), add a
//! hook behind the typed confirmation, add and remove an MCP server, edit a subagent, then the
//! sheet at 375 px. A disabled surface offers no menu item.

use crate::support;

use serde_json::{Value, json};
use support::{Sandbox, start_server};

use crate::browser::{
    artifacts_dir, click, load_marked, set_text, still_marked, text_of, until, wait_css,
    with_browser,
};

const SHEET: &str = ".claude-config";

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|_| "{}".into())).unwrap()
}

/// Types the confirmation and confirms the write the dialog shows.
async fn confirm(client: &fantoccini::Client, token: &str, log: &std::path::Path) {
    let input = format!("{SHEET} .typed-confirm input[name='confirm']");
    wait_css(client, &input, 10, log).await;
    let button = wait_css(client, &format!("{SHEET} button.confirm-write"), 5, log).await;
    assert!(
        button.attr("disabled").await.unwrap().is_some(),
        "Confirm is enabled before the name is typed"
    );
    set_text(client, &input, &format!("'{token}'")).await;
    click(client, &format!("{SHEET} button.confirm-write"), log).await;
}

async fn saved(client: &fantoccini::Client, log: &std::path::Path) -> String {
    text_of(client, &format!("{SHEET} .saved"), log).await
}

// One journey through the sheet, read top to bottom.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claude_config_sheet_edits_rules_hooks_mcp_and_subagents() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    sandbox.trust(&alpha);
    std::fs::create_dir_all(alpha.join(".claude/agents")).unwrap();
    let settings = alpha.join(".claude/settings.json");
    std::fs::write(
        &settings,
        r#"{"permissions": {"allow": ["Read"]}, "futureKey": 1}"#,
    )
    .unwrap();
    let agent = alpha.join(".claude/agents/reviewer.md");
    std::fs::write(
        &agent,
        "---\nname: reviewer\ndescription: Reviews diffs\n---\nReview.\n",
    )
    .unwrap();
    let server = start_server(
        &sandbox,
        None,
        &[],
        &[("CLAUSTER_CONFIG_WRITE_ENABLED", "true")],
    );
    let base = server.base.clone();
    let log = server.log.clone();
    let mcp_json = alpha.join(".mcp.json");
    with_browser(&sandbox, move |client| async move {
        load_marked(&client, &base, &log).await;
        let card = "[data-project='alpha']";
        click(&client, &format!("{card} details.menu > summary"), &log).await;
        click(&client, &format!("{card} button.claude-config-open"), &log).await;

        // Permissions: a rule added, behind the typed project name.
        let allow = format!("{SHEET} textarea[name='allow']");
        wait_css(&client, &allow, 10, &log).await;
        assert!(
            until(&client, &format!("return document.querySelector(\"{allow}\").value === 'Read'"), 10).await,
            "the loaded rules are not shown"
        );
        set_text(&client, &allow, "'Read\\nBash(npm test:*)'").await;
        click(&client, &format!("{SHEET} button.save-permissions"), &log).await;
        confirm(&client, "alpha", &log).await;
        assert_eq!(saved(&client, &log).await, "✓ Saved: permission rules");
        let file = read_json(&settings);
        assert_eq!(file["permissions"]["allow"], json!(["Read", "Bash(npm test:*)"]));
        assert_eq!(file["futureKey"], 1);

        // Changed behind the sheet: the save is refused; Overwrite writes it anyway.
        wait_css(&client, &allow, 10, &log).await;
        std::fs::write(&settings, r#"{"permissions": {"allow": ["Edit"]}, "futureKey": 2}"#).unwrap();
        set_text(&client, &format!("{SHEET} textarea[name='deny']"), "'Bash(rm:*)'").await;
        click(&client, &format!("{SHEET} button.save-permissions"), &log).await;
        confirm(&client, "alpha", &log).await;
        let conflict = text_of(&client, &format!("{SHEET} .alert.conflict span"), &log).await;
        assert!(conflict.contains("changed on disk since it was loaded"), "{conflict}");
        assert_eq!(read_json(&settings)["futureKey"], 2);
        wait_css(&client, &format!("{SHEET} .alert.conflict button.reload"), 5, &log).await;
        click(&client, &format!("{SHEET} .alert.conflict button.overwrite"), &log).await;
        wait_css(&client, &format!("{SHEET} .saved"), 10, &log).await;
        let file = read_json(&settings);
        assert_eq!(file["permissions"]["deny"], json!(["Bash(rm:*)"]));
        assert_eq!(file["futureKey"], 2, "the overwrite kept the other change's keys");

        // Hooks: add one behind the typed confirmation.
        click(&client, &format!("{SHEET} button.tab-hooks"), &log).await;
        let command = format!("{SHEET} input[name='hook-command']");
        wait_css(&client, &command, 10, &log).await;
        set_text(&client, &format!("{SHEET} input[name='hook-matcher']"), "'Bash'").await;
        set_text(&client, &command, "'./guard.sh'").await;
        click(&client, &format!("{SHEET} button.add-hook-button"), &log).await;
        let what = text_of(&client, &format!("{SHEET} .typed-confirm p"), &log).await;
        assert_eq!(what, "add a PreToolUse hook running `./guard.sh`");
        assert!(read_json(&settings).get("hooks").is_none(), "written before the confirmation");
        confirm(&client, "alpha", &log).await;
        wait_css(&client, &format!("{SHEET} .saved"), 10, &log).await;
        assert_eq!(
            read_json(&settings)["hooks"],
            json!({"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./guard.sh"}]}]})
        );
        wait_css(&client, &format!("{SHEET} .hook-row code.command"), 10, &log).await;

        // MCP: add a stdio server, then remove it.
        click(&client, &format!("{SHEET} button.tab-mcp"), &log).await;
        let name = format!("{SHEET} input[name='server-name']");
        wait_css(&client, &name, 10, &log).await;
        set_text(&client, &name, "'fs'").await;
        set_text(&client, &format!("{SHEET} input[name='server-target']"), "'npx'").await;
        set_text(&client, &format!("{SHEET} input[name='server-args']"), "'-y fs-mcp'").await;
        click(&client, &format!("{SHEET} button.add-server-button"), &log).await;
        confirm(&client, "alpha", &log).await;
        let row = format!("{SHEET} .mcp-server[data-server='fs']");
        wait_css(&client, &row, 10, &log).await;
        assert_eq!(
            read_json(&mcp_json)["mcpServers"]["fs"],
            json!({"command": "npx", "args": ["-y", "fs-mcp"]})
        );
        click(&client, &format!("{row} button.remove-server"), &log).await;
        confirm(&client, "alpha", &log).await;
        assert!(
            until(&client, &format!("return !document.querySelector(\"{row}\") && !!document.querySelector(\"{SHEET} .saved\")"), 10).await,
            "the removed server is still listed"
        );
        assert_eq!(read_json(&mcp_json)["mcpServers"], json!({}));

        // Subagents: edit one.
        click(&client, &format!("{SHEET} button.tab-subagents"), &log).await;
        click(&client, &format!("{SHEET} .doc-item[data-name='reviewer'] button.edit-doc"), &log).await;
        let text = format!("{SHEET} textarea.doc-text");
        wait_css(&client, &text, 10, &log).await;
        set_text(
            &client,
            &text,
            "'---\\nname: reviewer\\ndescription: Reviews diffs carefully\\n---\\nReview twice.\\n'",
        )
        .await;
        click(&client, &format!("{SHEET} button.save-doc"), &log).await;
        confirm(&client, "alpha", &log).await;
        assert_eq!(saved(&client, &log).await, "✓ Saved: save the subagent 'reviewer'");
        assert_eq!(
            std::fs::read_to_string(&agent).unwrap(),
            "---\nname: reviewer\ndescription: Reviews diffs carefully\n---\nReview twice.\n"
        );
        assert!(
            until(&client, &format!("return [...document.querySelectorAll(\"{SHEET} .doc-item .description\")].some(d => d.textContent === 'Reviews diffs carefully')"), 10).await,
            "the list does not show the new description"
        );
        assert!(still_marked(&client).await, "the page was reloaded");
        let png = client.screenshot().await.expect("take a screenshot");
        std::fs::write(artifacts_dir().join("claude-config.png"), png).unwrap();

        // Phones: a full-screen sheet without horizontal scrolling, tabs still reachable.
        client.set_window_size(375, 812).await.unwrap();
        click(&client, &format!("{SHEET} button.tab-permissions"), &log).await;
        wait_css(&client, &allow, 10, &log).await;
        let sheet = client
            .execute(
                &format!(
                    "const e = document.querySelector(\"{SHEET}\"); const r = e.getBoundingClientRect(); \
                     return [getComputedStyle(e).position, r.left, r.width === document.documentElement.clientWidth, \
                     e.scrollWidth <= e.clientWidth, document.documentElement.scrollWidth <= window.innerWidth]"
                ),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(sheet, json!(["fixed", 0, true, true, true]));
        let png = client.screenshot().await.expect("take a screenshot");
        std::fs::write(artifacts_dir().join("claude-config-phone.png"), png).unwrap();
        click(&client, &format!("{SHEET} button.close-x"), &log).await;
        assert!(until(&client, &format!("return !document.querySelector(\"{SHEET}\")"), 5).await);
    })
    .await;
    drop(server);
}

/// With `config_write.enabled` off the card's menu has no "Claude config" item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_surface_offers_no_sheet() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[]);
    sandbox.trust(&alpha);
    let server = start_server(&sandbox, None, &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();
    with_browser(&sandbox, move |client| async move {
        load_marked(&client, &base, &log).await;
        click(&client, "[data-project='alpha'] details.menu > summary", &log).await;
        wait_css(&client, "[data-project='alpha'] button.edit-claude-md", 10, &log).await;
        assert!(
            until(
                &client,
                "return !document.querySelector(\"[data-project='alpha'] button.claude-config-open\") && !document.querySelector('.user-claude-config')",
                2
            )
            .await
        );
    })
    .await;
    drop(server);
}
