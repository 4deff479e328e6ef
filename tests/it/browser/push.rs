//! Web Push in a real headless Chromium (issue 22, notifications.md §8). Chromium cannot
//! subscribe here (its push service is out of reach), so a push is delivered to the page's
//! service worker through the DevTools protocol (`ServiceWorker.deliverPushMessage`) on the
//! browser's own debugging port, and the notification it shows is read back with
//! `registration.getNotifications()`. The device panel lists a device subscribed through the
//! API and revokes it.

use std::time::{Duration, Instant};

use fantoccini::Client;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::browser::{on_dashboard_notifying, screenshot, until, untrusted_project, wait_css};
use crate::support::{self, start_server};

/// `GET /api/push/subscriptions` at `base` lists no device.
async fn assert_no_devices(base: &str) {
    let (_, listed) = support::call(
        reqwest::Method::GET,
        &format!("{base}/api/push/subscriptions"),
        None,
    )
    .await;
    assert_eq!(listed["subscriptions"], json!([]), "{listed}");
}

/// The page's DevTools socket: Chromium's debugging address comes back in the session's
/// capabilities (`goog:chromeOptions.debuggerAddress`).
async fn page_socket(client: &Client, page_url: &str) -> String {
    let address = client
        .capabilities()
        .and_then(|caps| caps.get("goog:chromeOptions"))
        .and_then(|options| options["debuggerAddress"].as_str())
        .expect("chromedriver reports the debugging address")
        .to_owned();
    let targets: Value = reqwest::get(format!("http://{address}/json/list"))
        .await
        .expect("the DevTools target list")
        .json()
        .await
        .expect("JSON");
    targets
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["type"] == "page" && t["url"].as_str().is_some_and(|u| u.starts_with(page_url)))
        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        .unwrap_or_else(|| panic!("no page target at {page_url}: {targets:#}"))
        .to_owned()
}

/// A DevTools session: commands by id, events kept for whoever waits for them.
struct Cdp {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
    events: Vec<Value>,
}

impl Cdp {
    async fn connect(url: &str) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect to the page's DevTools socket");
        Self {
            socket,
            next_id: 0,
            events: Vec::new(),
        }
    }

    async fn next(&mut self, deadline: Instant) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, self.socket.next())
            .await
            .unwrap_or_else(|_| panic!("DevTools was silent; events so far: {:#?}", self.events))
            .expect("the DevTools socket stays open")
            .expect("a DevTools message");
        match message {
            Message::Text(text) => serde_json::from_str(&text).expect("DevTools speaks JSON"),
            _ => Value::Null,
        }
    }

    async fn command(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({"id": id, "method": method, "params": params});
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("send a DevTools command");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = self.next(deadline).await;
            if answer["id"] == id {
                assert!(answer["error"].is_null(), "{method}: {answer}");
                return answer["result"].clone();
            }
            self.events.push(answer);
        }
    }

    /// Waits for an event that `found` accepts, looking at those already seen first.
    async fn event(&mut self, found: impl Fn(&Value) -> Option<String>) -> String {
        if let Some(hit) = self.events.iter().find_map(&found) {
            return hit;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let event = self.next(deadline).await;
            if let Some(hit) = found(&event) {
                return hit;
            }
            self.events.push(event);
        }
    }
}

/// The page registers `sw.js` at the app's root; a push delivered to it shows a notification
/// with the payload's title, body, tag and link, and the page hears of it; a device
/// subscribed through the API is listed in the panel and its Revoke button removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one browser session, step by step
async fn a_pushed_message_shows_a_notification_and_a_device_can_be_revoked() {
    let (sandbox, _) = untrusted_project("alpha", &[]);
    let server = start_server(
        &sandbox,
        None,
        &[],
        &[
            ("CLAUSTER_NOTIFICATIONS_BROWSER_ENABLED", "true"),
            ("CLAUSTER_NOTIFICATIONS_PUSH_ALLOW_PRIVATE", "true"),
        ],
    );
    let base = server.base.clone();
    let device = crate::push::Device::new();
    let (status, saved) = support::call(
        reqwest::Method::POST,
        &format!("{base}/api/push/subscriptions"),
        Some(device.subscription("http://127.0.0.1:9/push/phone", "test phone")),
    )
    .await;
    assert_eq!(status, 201, "{saved}");

    on_dashboard_notifying(
        &sandbox,
        &server,
        "html[data-push='ready']",
        move |client, base, log| async move {
            let scope = format!("{base}/");
            let controlled = client
                .execute(
                    "return navigator.serviceWorker.ready.then(r => r.scope)",
                    vec![],
                )
                .await
                .expect("the service worker is ready");
            assert_eq!(controlled, json!(scope));

            // The device list: the API's device, revocable.
            client
                .execute(
                    "document.querySelector('details.push-settings').open = true",
                    vec![],
                )
                .await
                .expect("open the panel");
            let listed = wait_css(&client, "li.push-device", 10, &log).await;
            assert!(listed.text().await.unwrap().contains("test phone"));
            screenshot(&client, "push-panel").await;

            // A push through DevTools, as a push service would hand it to the browser.
            let mut cdp = Cdp::connect(&page_socket(&client, &base).await).await;
            cdp.command("ServiceWorker.enable", json!({})).await;
            let registration = cdp
                .event(|event| {
                    (event["method"] == "ServiceWorker.workerRegistrationUpdated")
                        .then(|| event["params"]["registrations"].as_array().cloned())
                        .flatten()?
                        .iter()
                        .find(|r| r["scopeURL"] == json!(scope) && r["isDeleted"] == false)
                        .and_then(|r| r["registrationId"].as_str().map(str::to_owned))
                })
                .await;
            let payload = json!({
                "title": "alpha: crashed",
                "body": "exited_early: exit code 1",
                "tag": "instance-1",
                "url": "/?q=alpha",
                "event": "crash",
                "project": "alpha",
                "at": "2026-01-02T03:04:05.000Z",
            });
            cdp.command(
            "ServiceWorker.deliverPushMessage",
            json!({"origin": base, "registrationId": registration, "data": payload.to_string()}),
        )
        .await;
            assert!(
                until(
                    &client,
                    "return document.documentElement.dataset.pushShown === 'alpha: crashed'",
                    30
                )
                .await,
                "the service worker never told the page it showed the push"
            );
            let shown = client
            .execute(
                "return navigator.serviceWorker.ready.then(r => r.getNotifications()).then(all => \
                 all.map(n => ({title: n.title, body: n.body, tag: n.tag, url: n.data.url})))",
                vec![],
            )
            .await
            .expect("read the notifications");
            assert_eq!(
                shown,
                json!([{"title": "alpha: crashed", "body": "exited_early: exit code 1",
                    "tag": "instance-1", "url": "/?q=alpha"}]),
            );

            // Revoke from the panel.
            wait_css(&client, "button.push-revoke", 10, &log)
                .await
                .click()
                .await
                .expect("click Revoke");
            assert!(
                until(
                    &client,
                    "return document.querySelectorAll('li.push-device').length === 0",
                    20
                )
                .await,
                "the revoked device is still listed"
            );
            assert_no_devices(&base).await;

            // "This device": headless Chromium has no push service to subscribe with (its
            // subscribe never answers here), so after notify.js's 30 s the switch must come back
            // off with the reason shown, and nothing stored.
            wait_css(&client, "input.push-toggle", 10, &log)
                .await
                .click()
                .await
                .expect("switch This device on");
            assert!(
            until(
                &client,
                "return document.querySelector('p.push-status').textContent.startsWith('Push: ') \
                 && !document.querySelector('input.push-toggle').checked",
                90
            )
            .await,
            "a failed subscription did not turn the switch back off with its reason: {}",
            client
                .execute(
                    "return [document.querySelector('p.push-status').textContent, \
                     document.querySelector('input.push-toggle').checked]",
                    vec![]
                )
                .await
                .unwrap_or_default()
        );
            assert_no_devices(&base).await;
        },
    )
    .await;
}
