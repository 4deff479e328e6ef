//! Browser notifications in Chromium (issue 22, notifications.md §7).

use super::*;

/// Browser notifications (issue 22, notifications.md §7): with permission granted, a crash of
/// the fake `claude` shows a Notification-API notification; without it, the page offers a
/// button and never asks on load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_shows_a_browser_notification_and_permission_waits_for_a_gesture() {
    let (sandbox, crashy) = untrusted_project("crashy", &[]);
    fake_mode(&crashy, "crash");
    sandbox.trust(&crashy);
    let server = serve_fake(
        &sandbox,
        &[("CLAUSTER_NOTIFICATIONS_BROWSER_ENABLED", "true")],
    );
    on_dashboard_notifying(
        &sandbox,
        &server,
        "html[data-notify='following']",
        move |client, base, _log| async move {
            let permission = client
                .execute(
                    "window.__shown = []; const Real = window.Notification; \
                 window.Notification = class extends Real { constructor(title, options) { \
                 super(title, options); window.__shown.push([title, options.body]); } }; \
                 return Real.permission",
                    vec![],
                )
                .await
                .expect("wrap Notification");
            assert_eq!(permission, "granted");
            let (status, crashed) = support::start_bridge_at(&base, "crashy").await;
            assert_eq!(status, 201, "{crashed}");
            assert_eq!(crashed["status"], "error", "{crashed}");
            assert!(
                until(&client, "return window.__shown.length > 0", 20).await,
                "no notification was shown"
            );
            let shown = client
                .execute("return window.__shown", vec![])
                .await
                .expect("read");
            assert_eq!(shown[0][0], "crashy: crashed", "{shown}");
            let kind = crashed["error_kind"].as_str().expect("an error kind");
            assert!(
                shown[0][1]
                    .as_str()
                    .is_some_and(|body| body.starts_with(kind)),
                "{shown}"
            );
        },
    )
    .await;

    // A fresh profile: permission not decided. The page offers a button and asks nothing.
    let fresh = Sandbox::new();
    let base = server.base.clone();
    let log = server.log.clone();
    with_browser(&fresh, move |client| async move {
        goto_dashboard(&client, &base).await;
        let button = wait_css(&client, "button.notify-offer", 30, &log).await;
        assert_eq!(button.text().await.unwrap(), "Enable notifications");
        let permission = client
            .execute("return Notification.permission", vec![])
            .await
            .expect("read the permission");
        assert_eq!(permission, "default", "nothing was asked on load");
    })
    .await;
}
