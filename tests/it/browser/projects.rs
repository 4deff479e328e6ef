//! Project files and new projects in Chromium: the CLAUDE.md editor, create and clone (ui.md §5.2, §7).

use super::*;

/// ui.md §5.2 and §15 #8: open the editor from the card, edit and save (the file on disk
/// changes), a change behind the editor's back shows the conflict with Reload and Overwrite,
/// the cap at 65 537 bytes, unsaved changes asked about on Close, the running-bridge note,
/// and an untrusted project's 403 with Trust.
// One journey through the editor, read top to bottom.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claude_md_editor_saves_and_handles_conflicts_the_cap_and_trust() {
    let (sandbox, alpha) = untrusted_project("alpha", &["CLAUDE.md"]);
    sandbox.project("beta", &[]);
    sandbox.trust(&alpha);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}");
    let base = server.base.clone();
    let log = server.log.clone();
    let file = alpha.join("CLAUDE.md");
    let beta_file = sandbox.projects_root().join("beta/CLAUDE.md");
    with_browser(&sandbox, move |client| async move {
        load_marked(&client, &base, &log).await;
        let editor = "[data-project='alpha'] .claude-md-editor";
        let area = format!("{editor} textarea");
        open_claude_md(&client, "alpha", &log).await;
        let value = client
            .execute(&format!("return document.querySelector(\"{area}\").value"), vec![])
            .await
            .unwrap();
        assert_eq!(value, json!("# notes\n"));
        assert_eq!(text_of(&client, &format!("{editor} .byte-counter"), &log).await, "8 / 65536 bytes");
        assert!(client.find(Locator::Css(&format!("{editor} .new-file"))).await.is_err());
        assert_eq!(
            text_of(&client, &format!("{editor} .bridge-note"), &log).await,
            "Running sessions keep the version they started with; new sessions read your changes."
        );

        // Edit and save: the file on disk is what the editor holds.
        set_text(&client, &area, "'# Rules\\nBe brief. ✓\\n'").await;
        assert_eq!(text_of(&client, &format!("{editor} .byte-counter"), &log).await, "22 / 65536 bytes");
        click(&client, &format!("{editor} button.save"), &log).await;
        assert_eq!(text_of(&client, &format!("{editor} .saved"), &log).await, "✓ Saved");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# Rules\nBe brief. ✓\n");

        // Changed behind the editor: the save is refused, the file keeps the other change.
        std::fs::write(&file, "# Edited elsewhere\n").unwrap();
        set_text(&client, &area, "'# Mine\\n'").await;
        click(&client, &format!("{editor} button.save"), &log).await;
        assert_eq!(
            text_of(&client, &format!("{editor} .alert.conflict span"), &log).await,
            "CLAUDE.md changed on disk since you opened it."
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# Edited elsewhere\n");
        // Reload shows what is on disk now.
        click(&client, &format!("{editor} button.reload"), &log).await;
        assert!(
            until(&client, &format!("return document.querySelector(\"{area}\").value === '# Edited elsewhere\\n'"), 10).await,
            "Reload did not show the file on disk"
        );
        // Another conflict, resolved with Overwrite.
        std::fs::write(&file, "# Third\n").unwrap();
        set_text(&client, &area, "'# Mine after all\\n'").await;
        click(&client, &format!("{editor} button.save"), &log).await;
        click(&client, &format!("{editor} button.overwrite"), &log).await;
        wait_css(&client, &format!("{editor} .saved"), 10, &log).await;
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# Mine after all\n");

        // The cap: 65 537 bytes turn the counter red and disable Save.
        set_text(&client, &area, "'x'.repeat(65537)").await;
        assert_eq!(
            text_of(&client, &format!("{editor} .byte-counter.over"), &log).await,
            "65537 / 65536 bytes"
        );
        let save = wait_css(&client, &format!("{editor} button.save"), 5, &log).await;
        assert!(save.attr("disabled").await.unwrap().is_some(), "Save stays enabled over the cap");
        // A save would call fetch synchronously from the key handler: record the calls made
        // while the key is dispatched instead of waiting for a write that must not come.
        let requests = client
            .execute(
                &format!(
                    "const calls = []; const real = window.fetch; \
                     window.fetch = (url, init) => {{ calls.push(String(url)); return real(url, init); }}; \
                     try {{ document.querySelector(\"{area}\").dispatchEvent(new KeyboardEvent('keydown', {{key: 's', ctrlKey: true, bubbles: true}})); }} \
                     finally {{ window.fetch = real; }} \
                     return calls"
                ),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(requests, json!([]), "Ctrl+S over the cap sent a request");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# Mine after all\n");

        // Ctrl+S saves; Close with unsaved changes asks first.
        set_text(&client, &area, "'# Keyboard\\n'").await;
        client
            .execute(
                &format!("document.querySelector(\"{area}\").dispatchEvent(new KeyboardEvent('keydown', {{key: 's', ctrlKey: true, bubbles: true}})); return true"),
                vec![],
            )
            .await
            .unwrap();
        wait_css(&client, &format!("{editor} .saved"), 10, &log).await;
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# Keyboard\n");
        set_text(&client, &area, "'# Unsaved\\n'").await;
        click(&client, &format!("{editor} button.close"), &log).await;
        assert_eq!(
            text_of(&client, &format!("{editor} .confirm p"), &log).await,
            "Discard your unsaved changes to CLAUDE.md?"
        );
        click(&client, &format!("{editor} button.discard"), &log).await;
        assert!(until_gone(&client, editor, 5).await);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# Keyboard\n");

        // An untrusted project without the file: "new file", the 403 with Trust, then saved.
        let beta = "[data-project='beta'] .claude-md-editor";
        open_claude_md(&client, "beta", &log).await;
        assert_eq!(text_of(&client, &format!("{beta} .new-file"), &log).await, "new file");
        set_text(&client, &format!("{beta} textarea"), "'# Beta\\n'").await;
        click(&client, &format!("{beta} button.save"), &log).await;
        let refusal = text_of(&client, &format!("{beta} .alert.untrusted span"), &log).await;
        assert!(refusal.ends_with("is not a trusted directory"), "{refusal}");
        assert!(!beta_file.exists(), "an untrusted project's file was written");
        click(&client, &format!("{beta} button.trust"), &log).await;
        wait_css(&client, &format!("{beta} .saved"), 10, &log).await;
        assert_eq!(std::fs::read_to_string(&beta_file).unwrap(), "# Beta\n");
        assert_eq!(project_state(&base, "beta").await["trust_state"], "trusted");
        assert!(
            until(&client, "return [...document.querySelectorAll(\"[data-project='beta'] .chip\")].some(c => c.textContent === 'CLAUDE.md')", 10).await,
            "the CLAUDE.md chip did not appear"
        );
        assert!(still_marked(&client).await, "the page was reloaded");
        screenshot(&client, "claude-md-editor").await;

        // Phones: the editor is a full-screen sheet, without horizontal scrolling.
        client.set_window_size(375, 812).await.unwrap();
        let sheet = client
            .execute(
                &format!(
                    "const e = document.querySelector(\"{beta}\"); const r = e.getBoundingClientRect(); \
                     return [getComputedStyle(e).position, r.left, r.width === document.documentElement.clientWidth, \
                     document.documentElement.scrollWidth <= window.innerWidth]"
                ),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(sheet, json!(["fixed", 0, true, true]));
        screenshot(&client, "claude-md-editor-phone").await;
    })
    .await;
    drop(server);
}

/// ui.md §7 and §9: the orientation card opens the new-project panel; Create (with git init)
/// makes the card appear without a reload; refusals show under the field they name or above
/// the button, and change nothing on disk. A clone of a URL the server refuses shows the
/// refusal; no progress is shown because no clone can start here without network (the
/// progress path over `git daemon` is covered by tests/create_clone.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_project_panel_creates_a_card_and_shows_refusals() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.projects_root()).unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let root = sandbox.projects_root();
    on_marked_dashboard(&sandbox, &server, move |client, _base, log| async move {
        // The empty state's button opens the panel with the name field focused.
        click(&client, ".getting-started button.create-first", &log).await;
        wait_css(&client, "form.new-project-panel input[name='new-project-name']", 5, &log).await;
        assert!(
            until(&client, "return document.activeElement.name === 'new-project-name'", 5).await,
            "the name field is focused"
        );
        assert_eq!(text_of(&client, "button.new-project-toggle", &log).await, "Cancel");
        let name = wait_css(&client, "input[name='new-project-name']", 5, &log).await;

        // A bad name: the 422 under the name field, nothing created.
        name.send_keys("-bad").await.unwrap();
        click(&client, "button.submit-new", &log).await;
        let error = text_of(&client, "form.new-project-panel .field-error", &log).await;
        assert!(error.starts_with("invalid project name: '-bad'"), "{error}");
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);

        // Create with git init: the card appears, the panel closes.
        name.clear().await.unwrap();
        name.send_keys("fresh").await.unwrap();
        click(&client, "input[name='git_init']", &log).await;
        click(&client, "button.submit-new", &log).await;
        wait_css(&client, "[data-project='fresh']", 10, &log).await;
        assert!(root.join("fresh/.git").is_dir(), "git init did not run");
        assert!(
            until(&client, "return [...document.querySelectorAll(\"[data-project='fresh'] .chip\")].some(c => c.textContent === 'git')", 5).await
        );
        assert!(until_gone(&client, "form.new-project-panel", 5).await);
        assert_eq!(text_of(&client, "button.new-project-toggle", &log).await, "New project");

        // The same name again: the 409 above the button.
        click(&client, "button.new-project-toggle", &log).await;
        let name = wait_css(&client, "input[name='new-project-name']", 5, &log).await;
        name.send_keys("fresh").await.unwrap();
        click(&client, "button.submit-new", &log).await;
        assert_eq!(
            text_of(&client, "form.new-project-panel .field-error", &log).await,
            "a directory named 'fresh' already exists"
        );

        // Clone: the hint names the configured schemes; a refused scheme shows under the URL,
        // a loopback host above the button; nothing lands.
        click(&client, "input[name='new-project-kind'][value='clone']", &log).await;
        assert!(
            until(&client, "return [...document.querySelectorAll('form.new-project-panel .hint')].some(h => h.textContent === 'https and ssh URLs; hosts on a private network need clone.allow_private_hosts')", 5).await,
            "the scheme hint is missing"
        );
        name.clear().await.unwrap();
        name.send_keys("copy").await.unwrap();
        let url = wait_css(&client, "input[name='clone-url']", 5, &log).await;
        url.send_keys("ftp://example.com/repo.git").await.unwrap();
        assert_eq!(text_of(&client, "button.submit-new", &log).await, "Clone");
        click(&client, "button.submit-new", &log).await;
        let error = text_of(&client, "form.new-project-panel .field-error", &log).await;
        assert_eq!(error, "scheme 'ftp' not allowed; permitted: ['https', 'ssh']");
        url.clear().await.unwrap();
        url.send_keys("https://127.0.0.1/repo.git").await.unwrap();
        click(&client, "button.submit-new", &log).await;
        assert!(
            until(&client, "const e = document.querySelector('form.new-project-panel .field-error'); return !!e && e.textContent.startsWith(\"host '127.0.0.1' resolves to blocked address 127.0.0.1\")", 10).await,
            "the loopback refusal was not shown"
        );
        assert!(!root.join("copy").exists());
        let leftovers: Vec<_> = std::fs::read_dir(&root).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers, ["fresh"], "only the created project is on disk");
        assert!(still_marked(&client).await, "the page was reloaded");
    })
    .await;
    drop(server);
}

/// ui.md §7 and §15 #7: a clone from a bare repository behind `git daemon` on 127.0.0.1 (the
/// test URL policy, handed over through `ServeOptions` by an in-process server) shows its
/// progress; a cancel mid-way leaves no directory; a clone that lands shows the card and,
/// because the repository ships CLAUDE.md, the warning with **Open CLAUDE.md**.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_shows_progress_can_be_cancelled_and_lands_with_the_warning() {
    use support::inprocess::{bare_repo, git_daemon, serve, slow_proxy, test_policy};
    let sandbox = Sandbox::new();
    bare_repo(&sandbox, "big", 4 * 1024 * 1024);
    bare_repo(&sandbox, "demo", 0);
    let (daemon, port) = git_daemon(&sandbox);
    let slow = slow_proxy(port).await;
    let server = serve(
        &sandbox,
        "clone:\n  allowed_schemes: [git]\n",
        test_policy(),
    )
    .await;
    let base = server.base.clone();
    let log = sandbox
        .dir
        .path()
        .join("in-process-server (see the test output)");
    let root = sandbox.projects_root();
    with_browser(&sandbox, move |client| async move {
        load_marked(&client, &base, &log).await;
        click(&client, ".getting-started button.clone-first", &log).await;
        type_keys(&client, "input[name='new-project-name']", "big", &log).await;
        type_keys(&client, "input[name='clone-url']", &format!("git://127.0.0.1:{slow}/big.git"), &log).await;
        click(&client, "button.submit-new", &log).await;

        // Progress: the phase and a percent over a determinate bar.
        let receiving = until(
            &client,
            "const p = document.querySelector('.clone-progress .phase'); \
             const bar = document.querySelector('.clone-progress progress'); \
             return !!p && /^Cloning big: Receiving \\d+%$/.test(p.textContent) && bar.hasAttribute('value')",
            60,
        )
        .await;
        assert!(receiving, "no Receiving progress was shown");
        assert!(
            wait_css(&client, "button.new-project-toggle", 5, &log).await.attr("disabled").await.unwrap().is_some(),
            "the panel cannot be closed while its clone runs"
        );
        click(&client, "button.cancel-clone", &log).await;
        assert_eq!(
            text_of(&client, ".clone-progress .confirm p", &log).await,
            "Stop this clone and delete what was downloaded so far?"
        );
        click(&client, "button.keep-going", &log).await;
        click(&client, "button.cancel-clone", &log).await;
        click(&client, "button.stop-clone", &log).await;
        assert_eq!(
            text_of(&client, "form.new-project-panel .field-error", &log).await,
            "The clone was cancelled; nothing was kept."
        );
        let left: Vec<_> = std::fs::read_dir(&root).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(left.is_empty(), "a cancelled clone left {left:?}");

        // A clone that lands: the card, and the warning about its CLAUDE.md.
        let name = wait_css(&client, "input[name='new-project-name']", 5, &log).await;
        name.clear().await.unwrap();
        name.send_keys("demo").await.unwrap();
        let url = wait_css(&client, "input[name='clone-url']", 5, &log).await;
        url.clear().await.unwrap();
        url.send_keys(&format!("git://127.0.0.1:{port}/demo.git")).await.unwrap();
        click(&client, "button.submit-new", &log).await;
        wait_css(&client, "[data-project='demo']", 30, &log).await;
        assert_eq!(
            text_of(&client, ".alert.landed span", &log).await,
            "demo contains CLAUDE.md or .claude/. Read them before you trust it — sessions follow their instructions."
        );
        assert!(until_gone(&client, "form.new-project-panel", 5).await);
        click(&client, ".alert.landed button.open-claude-md", &log).await;
        let area = "[data-project='demo'] .claude-md-editor textarea";
        wait_css(&client, area, 10, &log).await;
        assert!(
            until(&client, &format!("return document.querySelector(\"{area}\").value === 'Be brief.\\n'"), 10).await,
            "the editor did not show the cloned CLAUDE.md"
        );
        assert!(root.join("demo/README.md").is_file());
        assert!(still_marked(&client).await, "the page was reloaded");
        screenshot(&client, "clone-landed").await;
    })
    .await;
    drop(server);
    drop(daemon);
}
