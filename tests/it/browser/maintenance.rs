//! The Maintenance panel against a fake environments API (ui.md §10).

use super::*;
use support::environments_api::FakeEnvironmentsApi;

/// ui.md §10: the Maintenance panel scans on first open, deletes only after `DELETE` is typed,
/// archives what stays checked, and refreshes to "Nothing to clean up." — against a fake
/// environments API on 127.0.0.1.
// One operator's session with the panel, read top to bottom.
#[allow(clippy::too_many_lines)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maintenance_panel_deletes_and_archives_leftover_environments() {
    let (sandbox, _) = untrusted_project("alpha", &[".git"]);
    let root = std::fs::canonicalize(sandbox.projects_root()).unwrap();
    let claude = fake_claude(&sandbox);
    let config_dir = sandbox.home().join(".claude");
    std::fs::create_dir_all(&config_dir).unwrap();
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 3_600_000;
    std::fs::write(
        config_dir.join(".credentials.json"),
        json!({"claudeAiOauth": {"accessToken": "sk-ant-oat01-BROWSERTESTTOKEN0123456789", "expiresAt": expires}})
            .to_string(),
    )
    .unwrap();
    std::fs::write(
        sandbox.home().join(".claude.json"),
        json!({"oauthAccount": {"organizationUuid": "0f0e0d0c-0000-4000-8000-000000000002"}})
            .to_string(),
    )
    .unwrap();
    let dir = |name: &str| root.join(name).to_string_lossy().into_owned();
    let api = FakeEnvironmentsApi::start(
        vec![
            json!({"id": "env_01ALPHA", "name": "alpha", "config": {"type": "bridge", "directory": dir("alpha")}}),
            json!({"id": "env_01GONE", "name": "gone", "config": {"type": "bridge", "directory": dir("gone")}}),
            json!({"id": "env_01CLOUD", "name": "cloud", "config": {"type": "cloud"}}),
        ],
        10,
    );
    let server = serve_claude(
        &sandbox,
        &claude,
        &[
            ("CLAUSTER_REAPER_UI_ENABLED", "true"),
            ("CLAUSTER_ENVIRONMENTS_API_BASE", api.base.as_str()),
            ("FAKE_CLAUDE_AGENTS", "[]"),
        ],
    );
    let base = server.base.clone();
    let log = server.log.clone();
    let api = std::sync::Arc::new(api);
    let seen = api.clone();
    with_browser(&sandbox, move |client| async move {
        load(&client, &base, &log).await;
        click(&client, ".maintenance summary", &log).await;
        let summary = text_of(&client, ".maintenance .scan-summary", &log).await;
        assert!(summary.starts_with("2 leftover"), "{summary}");
        // Keep alpha's for the archive: uncheck it, then delete the other one.
        click(&client, ".maintenance input[value='env_01ALPHA']", &log).await;
        let delete = ".maintenance button.delete";
        let input = wait_css(
            &client,
            ".maintenance input[name='delete_confirm']",
            10,
            &log,
        )
        .await;
        input.send_keys("delete").await.unwrap();
        let refused = wait_css(&client, delete, 10, &log).await;
        assert_eq!(
            refused.attr("disabled").await.unwrap().as_deref(),
            Some("true")
        );
        input.clear().await.unwrap();
        input.send_keys("DELETE").await.unwrap();
        assert!(
            until(
                &client,
                "return !document.querySelector('.maintenance button.delete').disabled",
                10
            )
            .await,
            "Delete permanently stayed disabled after typing DELETE"
        );
        click(&client, delete, &log).await;
        let result = text_of(&client, ".maintenance .reap-result", &log).await;
        assert!(
            result.starts_with("Deleted 1, skipped 0, failed 0"),
            "{result}"
        );
        let deleted = archives_and_deletes(&seen);
        assert_eq!(
            deleted,
            [(
                "DELETE".to_owned(),
                "/v1/environments/env_01GONE".to_owned()
            )]
        );

        click(&client, ".maintenance button.refresh", &log).await;
        assert!(
            until(
                &client,
                "const s = document.querySelector('.maintenance .scan-summary'); \
                 return !!s && s.textContent.startsWith('1 leftover')",
                20,
            )
            .await,
            "the refreshed scan did not list the one left"
        );
        click(&client, ".maintenance button.archive", &log).await;
        let result = text_of(&client, ".maintenance .reap-result", &log).await;
        assert!(
            result.starts_with("Archived 1, skipped 0, failed 0"),
            "{result}"
        );
        click(&client, ".maintenance button.refresh", &log).await;
        assert!(
            until(
                &client,
                "const s = document.querySelector('.maintenance .scan-summary'); \
                 return !!s && s.textContent === 'Nothing to clean up.'",
                20,
            )
            .await,
            "the panel did not end with nothing to clean up"
        );
        screenshot(&client, "maintenance").await;
    })
    .await;
    let archived = archives_and_deletes(&api);
    assert_eq!(
        archived[1],
        (
            "POST".to_owned(),
            "/v1/environments/env_01ALPHA/archive".to_owned()
        )
    );
}

/// The fake API's archives and deletes so far, as (method, path).
fn archives_and_deletes(api: &FakeEnvironmentsApi) -> Vec<(String, String)> {
    api.mutations()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect()
}
