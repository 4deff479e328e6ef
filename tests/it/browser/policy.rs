//! The card's restart policy in a real browser (issue 25, bridges.md §7.9): the Policy menu
//! shows the project's policy and changes it through `PUT /api/projects/{name}/policy`, and a
//! bridge that the engine restarted after a SIGKILL shows `↻ 1 restart` on its card.

use crate::browser::{click, on_dashboard, screenshot, until, wait_css};
use crate::support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{call, serve_fake, trusted_project};

async fn policy(base: &str) -> Value {
    let (status, policy) = call(
        reqwest::Method::GET,
        &format!("{base}/api/projects/alpha/policy"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{policy}");
    policy
}

async fn wait_policy(base: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let current = policy(base).await;
        if done(&current) {
            return current;
        }
        assert!(
            Instant::now() < deadline,
            "the policy never changed: {current}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_card_shows_and_changes_the_policy_and_counts_restarts() {
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    support::write_config(
        &sandbox,
        "instance_defaults:\n  restart_backoff_seconds: 0.1\n  restart_backoff_max_seconds: 0.4\n",
    );
    let server = serve_fake(&sandbox, &[]);
    on_dashboard(&sandbox, &server, move |client, base, log| async move {

        // The menu loads the policy when opened.
        click(&client, "[data-project='alpha'] .policy-open", &log).await;
        let select = wait_css(&client, "[data-project='alpha'] select.policy-restart", 10, &log).await;
        assert_eq!(select.prop("value").await.unwrap().as_deref(), Some("never"));

        // Restart on failure, then keep running, as a user picks them.
        client
            .execute(
                "const s = document.querySelector(\"[data-project='alpha'] select.policy-restart\");\
                 s.value = 'on-failure'; s.dispatchEvent(new Event('change', {bubbles: true}));",
                vec![],
            )
            .await
            .unwrap();
        wait_policy(&base, |p| p["restart"] == "on-failure").await;
        click(&client, "[data-project='alpha'] input.policy-keep", &log).await;
        let set = wait_policy(&base, |p| p["keep_running"] == true).await;
        assert_eq!(
            set,
            json!({"project": "alpha", "restart": "on-failure", "keep_running": true, "wanted": true})
        );
        assert!(
            until(
                &client,
                "return document.querySelector(\"[data-project='alpha'] input.policy-keep\").checked",
                10
            )
            .await,
            "the checkbox shows the stored value"
        );

        // A bridge killed from outside comes back, and the card counts the restart.
        let (status, started) = support::start_bridge_at(&base, "alpha").await;
        assert_eq!(status, 201, "{started}");
        let pid = started["bridge_pid"].as_i64().expect("a bridge pid");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let badge = wait_css(&client, "[data-project='alpha'] .restarts-badge", 30, &log).await;
        assert!(
            until(
                &client,
                "return document.querySelector(\"[data-project='alpha'] .restarts-badge\").textContent === '↻ 1 restart'",
                30
            )
            .await,
            "badge: {:?}",
            badge.text().await
        );
        screenshot(&client, "restart-policy-card").await;
    })
    .await;
    drop(server);
}
