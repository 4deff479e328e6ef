//! The "Claude config" sheet in a real headless Chromium (ui.md §5.3, config-write.md): from
//! the card's menu, change a permission rule (and meet a conflict: Reload or Overwrite), add a
//! hook behind the typed confirmation, add and remove an MCP server, edit a subagent, then the
//! sheet at 375 px. A disabled surface offers no menu item.

use crate::support;

use serde_json::{Value, json};
use support::{Sandbox, start_server, trusted_project};

use crate::browser::{
    click, load_marked, on_marked_dashboard, screenshot, set_text, still_marked, text_of, until,
    until_gone, untrusted_project, wait_css, with_browser,
};

const SHEET: &str = ".claude-config";

/// `clauster run` over `sandbox` with `config_write.enabled`.
fn config_write_server(sandbox: &Sandbox) -> support::Server {
    start_server(
        sandbox,
        None,
        &[],
        &[("CLAUSTER_CONFIG_WRITE_ENABLED", "true")],
    )
}

/// Whether the field `css` comes to show `value` (a JS string literal) within 10 s.
async fn field_shows(
    client: &fantoccini::Client,
    css: &str,
    value: &str,
    log: &std::path::Path,
) -> bool {
    wait_css(client, css, 10, log).await;
    let script = format!("return document.querySelector(\"{css}\").value === {value}");
    until(client, &script, 10).await
}

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
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
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
    let server = config_write_server(&sandbox);
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
        assert!(field_shows(&client, &allow, "'Read'", &log).await, "the loaded rules are not shown");
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
        screenshot(&client, "claude-config").await;

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
        screenshot(&client, "claude-config-phone").await;
        click(&client, &format!("{SHEET} button.close-x"), &log).await;
        assert!(until_gone(&client, SHEET, 5).await);
    })
    .await;
    drop(server);
}

/// With `config_write.enabled` off the card's menu has no "Claude config" item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_surface_offers_no_sheet() {
    let (sandbox, _) = trusted_project("alpha", &[]);
    let server = start_server(&sandbox, None, &[], &[]);
    on_marked_dashboard(&sandbox, &server, move |client, _base, log| async move {
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

/// The sheet at 375 px: a fixed full-screen panel the page does not scroll sideways under,
/// whose buttons matching `buttons` keep the 44 px touch height (ui.md §12).
async fn phone_layout(client: &fantoccini::Client, buttons: &str) {
    client.set_window_size(375, 812).await.unwrap();
    let layout = client
        .execute(
            &format!(
                "const e = document.querySelector(\"{SHEET}\"); const r = e.getBoundingClientRect(); \
                 const small = [...e.querySelectorAll(\"{buttons}\")].filter(b => b.getBoundingClientRect().height < 44).length; \
                 return [getComputedStyle(e).position, r.left, r.width === document.documentElement.clientWidth, \
                 e.scrollWidth <= e.clientWidth, document.documentElement.scrollWidth <= window.innerWidth, small]"
            ),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        layout,
        json!(["fixed", 0, true, true, true, 0]),
        "the sheet at 375 px"
    );
}

/// Opens the card's "Claude config" sheet on `tab`.
async fn open_sheet(client: &fantoccini::Client, project: &str, tab: &str, log: &std::path::Path) {
    let card = format!("[data-project='{project}']");
    click(client, &format!("{card} details.menu > summary"), log).await;
    click(client, &format!("{card} button.claude-config-open"), log).await;
    wait_css(client, &format!("{SHEET} textarea[name='allow']"), 10, log).await;
    click(client, &format!("{SHEET} button.tab-{tab}"), log).await;
}

/// Issue 23: the project's `.mcp.json` servers wait for an approval; the MCP tab approves one
/// and rejects another behind the typed name (into `~/.claude.json`, as claude keeps them),
/// and Reset choices forgets both — on a desktop, then at 375 px. Opening the sheet focuses
/// its tab; Escape closes it and gives the focus back to the card's menu.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_approvals_are_approved_rejected_and_reset_from_the_sheet() {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    std::fs::write(
        alpha.join(".mcp.json"),
        r#"{"mcpServers": {"db": {"command": "db-mcp"}, "web": {"type": "http", "url": "https://mcp.example/x"}}}"#,
    )
    .unwrap();
    let server = config_write_server(&sandbox);
    let base = server.base.clone();
    let log = server.log.clone();
    let global = sandbox.home().join(".claude.json");
    let key = std::fs::canonicalize(&alpha)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    with_browser(&sandbox, move |client| async move {
        load_marked(&client, &base, &log).await;
        open_sheet(&client, "alpha", "mcp", &log).await;
        let row = |name: &str| format!("{SHEET} .approval[data-server='{name}']");
        wait_css(&client, &row("db"), 10, &log).await;
        for name in ["db", "web"] {
            assert_eq!(text_of(&client, &format!("{} .approval-state", row(name)), &log).await, "pending");
        }
        click(&client, &format!("{} button.approve-server", row("db")), &log).await;
        let what = text_of(&client, &format!("{SHEET} .typed-confirm p"), &log).await;
        assert_eq!(what, "approve the MCP server 'db' of .mcp.json");
        confirm(&client, "alpha", &log).await;
        wait_css(&client, &format!("{SHEET} .approval[data-server='db'][data-state='approved']"), 10, &log).await;
        let file = read_json(&global);
        assert_eq!(file["projects"][&key]["enabledMcpjsonServers"], json!(["db"]));
        assert_eq!(file["projects"][&key]["disabledMcpjsonServers"], json!([]));
        assert_eq!(file["projects"][&key]["hasTrustDialogAccepted"], true, "other keys kept");

        // Phones: reject the other one, then forget both choices.
        phone_layout(&client, ".approval button, .tab").await;
        click(&client, &format!("{} button.reject-server", row("web")), &log).await;
        confirm(&client, "alpha", &log).await;
        wait_css(&client, &format!("{SHEET} .approval[data-server='web'][data-state='rejected']"), 10, &log).await;
        let file = read_json(&global);
        assert_eq!(file["projects"][&key]["enabledMcpjsonServers"], json!(["db"]));
        assert_eq!(file["projects"][&key]["disabledMcpjsonServers"], json!(["web"]));
        click(&client, &format!("{SHEET} button.reset-approvals"), &log).await;
        confirm(&client, "alpha", &log).await;
        wait_css(&client, &format!("{SHEET} .approval[data-server='web'][data-state='pending']"), 10, &log).await;
        let file = read_json(&global);
        assert_eq!(file["projects"][&key]["enabledMcpjsonServers"], json!([]));
        assert_eq!(file["projects"][&key]["disabledMcpjsonServers"], json!([]));

        // Keyboard: Escape closes the sheet and the card's menu has the focus again.
        client.active_element().await.unwrap().send_keys("\u{e00c}").await.unwrap();
        if !until(
            &client,
            &format!("return !document.querySelector(\"{SHEET}\") && document.activeElement === document.querySelector(\"[data-project='alpha'] details.menu > summary\")"),
            5,
        )
        .await
        {
            let state = client
                .execute(&format!("return [!!document.querySelector(\"{SHEET}\"), document.activeElement.outerHTML.slice(0, 160)]"), vec![])
                .await
                .unwrap();
            panic!("Escape did not close the sheet and give the focus back: [sheet open, focus] = {state}");
        }
    })
    .await;
    drop(server);
}

/// Issue 23: a secret-looking env value is shown masked; Reveal is an explicit action — the
/// typed name, then (signed in with a password) the step-up — that shows the stored value
/// in the sheet only: neither the settings text nor the server's log holds it. At 375 px,
/// Hide and Reveal again within the step-up's ten minutes need no password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masked_env_value_is_revealed_after_the_step_up() {
    const SECRET: &str = "sk-test-Zx81vQ";
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    std::fs::create_dir_all(alpha.join(".claude")).unwrap();
    std::fs::write(
        alpha.join(".claude/settings.json"),
        format!(r#"{{"env": {{"API_TOKEN": "{SECRET}", "MODE": "dev"}}, "model": "opus"}}"#),
    )
    .unwrap();
    crate::browser::password_config(&sandbox);
    let server = config_write_server(&sandbox);
    let base = server.base.clone();
    let log = server.log.clone();
    with_browser(&sandbox, move |client| async move {
        crate::browser::sign_in(&client, &base, &log).await;
        load_marked(&client, &base, &log).await;
        open_sheet(&client, "alpha", "settings", &log).await;
        let row = format!("{SHEET} .masked-value[data-key='API_TOKEN']");
        wait_css(&client, &row, 10, &log).await;
        let shown = client
            .execute(&format!("return document.querySelector(\"{SHEET} textarea[name='settings']\").value"), vec![])
            .await
            .unwrap();
        let shown = shown.as_str().unwrap().to_owned();
        assert!(shown.contains("\"API_TOKEN\": \"********\"") && !shown.contains(SECRET), "{shown}");
        assert!(
            until(&client, &format!("return !document.querySelector(\"{SHEET} .masked-value[data-key='MODE']\")"), 2).await,
            "a plain value is offered for revealing"
        );

        click(&client, &format!("{row} button.reveal-value"), &log).await;
        assert_eq!(text_of(&client, &format!("{SHEET} .typed-confirm p"), &log).await, "reveal env.API_TOKEN");
        confirm(&client, "alpha", &log).await;
        // Signed in but not stepped up: the password first, then the same reveal.
        let password = format!("{SHEET} .step-up input[name='password']");
        wait_css(&client, &password, 10, &log).await;
        assert!(
            until(&client, &format!("return document.querySelector(\"{row} .revealed-value\").hidden"), 2).await,
            "revealed before the step-up"
        );
        set_text(&client, &password, "'browser-pw'").await;
        click(&client, &format!("{SHEET} .step-up button.unlock"), &log).await;
        assert!(
            until(&client, &format!("const v = document.querySelector(\"{row} .revealed-value\"); return !v.hidden && v.textContent === '{SECRET}'"), 10).await,
            "the value is not shown after the step-up"
        );
        assert!(still_marked(&client).await, "the page was reloaded");

        // Phones: Hide, then Reveal again — still stepped up, so no password this time.
        phone_layout(&client, ".masked-value button, .tab").await;
        click(&client, &format!("{row} button.reveal-value"), &log).await;
        assert!(until(&client, &format!("return document.querySelector(\"{row} .revealed-value\").hidden"), 5).await);
        click(&client, &format!("{row} button.reveal-value"), &log).await;
        confirm(&client, "alpha", &log).await;
        assert!(
            until(&client, &format!("const v = document.querySelector(\"{row} .revealed-value\"); return !v.hidden && v.textContent === '{SECRET}' && !document.querySelector(\"{SHEET} .step-up\")"), 10).await,
            "the second reveal asked for the password again or showed nothing"
        );
    })
    .await;
    let server_log = server.log();
    assert!(
        !server_log.contains(SECRET),
        "the revealed value reached the server's log"
    );
    drop(server);
}

/// Issue 23: CLAUDE.md from the sheet. The Project scope saves `CLAUDE.md` behind the typed
/// name; the Local scope (`CLAUDE.local.md`) is offered exactly when the server edits it
/// (`GET /api/config-write/claude-md?scope=local` answers 200) and, where offered, saves that
/// file behind `<name> (local)` — at 375 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_md_saves_per_scope_and_offers_local_only_when_served() {
    let (sandbox, alpha) = trusted_project("alpha", &[".git", "CLAUDE.md"]);
    let server = config_write_server(&sandbox);
    let base = server.base.clone();
    let log = server.log.clone();
    let local_served = reqwest::get(format!(
        "{base}/api/config-write/claude-md?scope=local&project=alpha"
    ))
    .await
    .unwrap()
    .status()
        == 200;
    with_browser(&sandbox, move |client| async move {
        load_marked(&client, &base, &log).await;
        open_sheet(&client, "alpha", "claude-md", &log).await;
        let text = format!("{SHEET} textarea[name='claude-md']");
        assert!(field_shows(&client, &text, "'# notes\\n'", &log).await, "the project's CLAUDE.md is not shown");
        set_text(&client, &text, "'# notes\\nRun the tests first.\\n'").await;
        click(&client, &format!("{SHEET} button.save-claude-md"), &log).await;
        confirm(&client, "alpha", &log).await;
        assert_eq!(saved(&client, &log).await, "✓ Saved: save CLAUDE.md (project scope)");
        assert_eq!(
            std::fs::read_to_string(alpha.join("CLAUDE.md")).unwrap(),
            "# notes\nRun the tests first.\n"
        );

        phone_layout(&client, ".tab, .save-claude-md").await;
        let offered = client
            .execute(&format!("return !!document.querySelector(\"{SHEET} select[name='scope'] option[value='local']\")"), vec![])
            .await
            .unwrap();
        assert_eq!(offered, json!(local_served), "the Local choice does not follow what the server serves");
        if local_served {
            client
                .execute(
                    &format!("const s = document.querySelector(\"{SHEET} select[name='scope']\"); s.value = 'local'; s.dispatchEvent(new Event('change', {{bubbles: true}})); return true"),
                    vec![],
                )
                .await
                .unwrap();
            wait_css(&client, &format!("{SHEET} button.save-claude-md"), 10, &log).await;
            assert!(until(&client, &format!("return document.querySelector(\"{SHEET} button.save-claude-md\").textContent === 'Save CLAUDE.local.md'"), 10).await);
            set_text(&client, &text, "'Use my fork.\\n'").await;
            click(&client, &format!("{SHEET} button.save-claude-md"), &log).await;
            confirm(&client, "alpha (local)", &log).await;
            wait_css(&client, &format!("{SHEET} .saved"), 10, &log).await;
            assert_eq!(std::fs::read_to_string(alpha.join("CLAUDE.local.md")).unwrap(), "Use my fork.\n");
        }
    })
    .await;
    drop(server);
}

/// With `config_write.allow_user_scope` the page's User-scope button opens the sheet for
/// `~/.claude` (no Scope picker, no Effective tab); a rule saved there lands in
/// `~/.claude/settings.json` behind `USER SCOPE`, and Escape gives the focus back to the button.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_scope_sheet_opens_from_the_page_and_writes_the_user_settings() {
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    let server = start_server(
        &sandbox,
        None,
        &[],
        &[
            ("CLAUSTER_CONFIG_WRITE_ENABLED", "true"),
            ("CLAUSTER_CONFIG_WRITE_ALLOW_USER_SCOPE", "true"),
        ],
    );
    let base = server.base.clone();
    let log = server.log.clone();
    let user_settings = sandbox.home().join(".claude/settings.json");
    with_browser(&sandbox, move |client| async move {
        load_marked(&client, &base, &log).await;
        click(&client, ".user-claude-config button.open-user-config", &log).await;
        let allow = format!("{SHEET} textarea[name='allow']");
        wait_css(&client, &allow, 10, &log).await;
        let shape = client
            .execute(
                &format!(
                    "return [document.querySelector(\"{SHEET}\").getAttribute('aria-label'), \
                     !!document.querySelector(\"{SHEET} select[name='scope']\"), \
                     !!document.querySelector(\"{SHEET} button.tab-effective\"), \
                     document.activeElement === document.querySelector(\"{SHEET} button.tab-permissions\")]"
                ),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(shape, json!(["Claude config · User (all projects)", false, false, true]));
        set_text(&client, &allow, "'Read'").await;
        click(&client, &format!("{SHEET} button.save-permissions"), &log).await;
        confirm(&client, "USER SCOPE", &log).await;
        assert_eq!(saved(&client, &log).await, "✓ Saved: permission rules");
        assert_eq!(read_json(&user_settings)["permissions"]["allow"], json!(["Read"]));
        client.active_element().await.unwrap().send_keys("\u{e00c}").await.unwrap();
        assert!(
            until(
                &client,
                &format!("return !document.querySelector(\"{SHEET}\") && document.activeElement === document.querySelector('button.open-user-config')"),
                5
            )
            .await,
            "Escape did not close the User sheet and give the focus back to its button"
        );
    })
    .await;
    drop(server);
}

/// The sheet's pure helpers, run in the browser from the module the page serves: the typed
/// confirmation per scope, the permissions body (lists replaced, empty ones and an empty mode
/// dropped, other keys kept), hooks through rows and back (and one removed), the MCP entry
/// of the add form, and the masked env keys by the `masked` member or by the mask alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sheet_helpers_build_the_bodies_the_server_expects() {
    let (sandbox, _) = untrusted_project("alpha", &[]);
    let server = config_write_server(&sandbox);
    on_marked_dashboard(&sandbox, &server, move |client, _base, _log| async move {
        let out = client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                const src = document.querySelector("script[src*='/pkg/settings.js']").src;
                import(src.replace("settings.js", "claude_config.js")).then((m) => {
                  const hooks = {
                    PreToolUse: [
                      { matcher: "Bash", hooks: [{ type: "command", command: "a", timeout: 5 }, { type: "command", command: "b" }] },
                      { matcher: "Edit", hooks: [{ type: "command", command: "c" }] },
                    ],
                    Stop: [{ hooks: [{ type: "command", command: "d" }] }],
                  };
                  const rows = m.hookRows(hooks);
                  done({
                    tokens: [m.confirmToken("project", "alpha"), m.confirmToken("local", "alpha"), m.confirmToken("user", "alpha"), m.confirmToken("project", null)],
                    permissions: m.permissionsBody(
                      { allow: ["Read"], additionalDirectories: ["../x"], defaultMode: "plan" },
                      { allow: "Read\n\nBash(ls)\n", ask: "", deny: " Bash(rm:*) " },
                      "",
                    ),
                    rows: rows.length,
                    round_trip: m.hooksBody(rows),
                    fewer: m.hooksBody(rows.filter((_, i) => i !== 1)),
                    stdio: m.mcpEntry("stdio", " npx ", "-y  fs-mcp"),
                    bare: m.mcpEntry("stdio", "srv", " "),
                    http: m.mcpEntry("http", "https://x/mcp", "ignored"),
                    masked: m.maskedEnvKeys({ masked: ["env.A", "fs.env.B"], settings: { env: { C: "********", D: "plain" } } }),
                  });
                }, (e) => done({ error: String(e) }));"#,
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(out["tokens"], json!(["alpha", "alpha (local)", "USER SCOPE", "USER SCOPE"]));
        assert_eq!(
            out["permissions"],
            json!({"allow": ["Read", "Bash(ls)"], "deny": ["Bash(rm:*)"], "additionalDirectories": ["../x"]})
        );
        assert_eq!(out["rows"], 4);
        assert_eq!(
            out["round_trip"],
            json!({
                "PreToolUse": [
                    {"matcher": "Bash", "hooks": [{"type": "command", "command": "a", "timeout": 5}, {"type": "command", "command": "b"}]},
                    {"matcher": "Edit", "hooks": [{"type": "command", "command": "c"}]}
                ],
                "Stop": [{"hooks": [{"type": "command", "command": "d"}]}]
            })
        );
        assert_eq!(
            out["fewer"]["PreToolUse"][0],
            json!({"matcher": "Bash", "hooks": [{"type": "command", "command": "a", "timeout": 5}]})
        );
        assert_eq!(out["stdio"], json!({"command": "npx", "args": ["-y", "fs-mcp"]}));
        assert_eq!(out["bare"], json!({"command": "srv"}));
        assert_eq!(out["http"], json!({"type": "http", "url": "https://x/mcp"}));
        assert_eq!(out["masked"], json!(["A", "C"]));
    })
    .await;
    drop(server);
}

/// Issue 23 §3 and review F4: the Effective tab lists what a new session sees with the scope
/// each value comes from — settings by key, `env` by variable (never as one object) — and a
/// scope whose file does not parse is named with its error instead of looking empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_effective_tab_shows_sources_and_names_a_broken_scope() {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    std::fs::create_dir_all(alpha.join(".claude")).unwrap();
    std::fs::write(
        alpha.join(".claude/settings.json"),
        r#"{"model": "opus", "env": {"NODE_ENV": "dev"}}"#,
    )
    .unwrap();
    std::fs::write(alpha.join(".claude/settings.local.json"), "{ not json").unwrap();
    let server = config_write_server(&sandbox);
    on_marked_dashboard(&sandbox, &server, move |client, _base, log| async move {
        open_sheet(&client, "alpha", "effective", &log).await;
        wait_css(
            &client,
            &format!("{SHEET} table.effective tbody tr"),
            10,
            &log,
        )
        .await;
        let rows = client
            .execute(
                &format!(
                    "return [...document.querySelectorAll(\"{SHEET} table.effective tbody tr\")]\
                     .map(r => [...r.children].map(c => c.textContent))"
                ),
                vec![],
            )
            .await
            .unwrap();
        let rows = rows.as_array().unwrap();
        assert!(
            rows.contains(&json!(["model", "opus", "project"])),
            "{rows:?}"
        );
        assert!(
            rows.contains(&json!(["env.NODE_ENV", "dev", "project"])),
            "{rows:?}"
        );
        assert!(
            !rows.iter().any(|r| r[0] == "env"),
            "env shown as one object: {rows:?}"
        );
        let alert = text_of(&client, &format!("{SHEET} p.error[role='alert']"), &log).await;
        assert!(alert.starts_with("local: "), "{alert}");
        assert!(alert.contains("left out of this view"), "{alert}");
    })
    .await;
    drop(server);
}
