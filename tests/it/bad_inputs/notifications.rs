//! Rows 81–82 and 140–147: the mute route and the Web Push routes (issue 22).

use super::*;

// Rows 81–82: the notification routes (issue 22). Row 83 (a webhook URL that is not HTTP) is
// a config refusal tested in clauster-core; row 84 (`block_private_targets`) in
// `notifications.rs`.
#[tokio::test]
async fn rows_81_82_the_project_mute_route() {
    let bench = Bench::start(usual_sandbox(), &[]);
    let mute = |name: &str| format!("/api/projects/{name}/notifications");
    bench
        .table(vec![
            (
                81,
                put(mute("alpha"), json!({})),
                422,
                is("muted is required (true or false)"),
            ),
            (
                81,
                put(mute("alpha"), json!({"muted": "yes"})),
                422,
                is("muted must be a boolean"),
            ),
            (
                81,
                put(mute("alpha"), json!([true])),
                422,
                is("request body must be a JSON object"),
            ),
            (
                82,
                put(mute("nope"), json!({"muted": true})),
                404,
                is("project 'nope' not found"),
            ),
            (
                82,
                put(mute("-rf"), json!({"muted": true})),
                422,
                invalid_name("-rf"),
            ),
        ])
        .await;
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one table of refusals, then the channel turned off
async fn rows_140_to_147_and_160_push_subscriptions() {
    let bench = Bench::start(
        usual_sandbox(),
        &[("CLAUSTER_NOTIFICATIONS_BROWSER_ENABLED", "true")],
    );
    let subs = "/api/push/subscriptions";
    let good = "https://push.example.net/send/abc";
    let with = |field: &str, value: Value| {
        let mut body = subscription(good);
        body[field] = value;
        body
    };
    let with_key = |field: &str, value: Value| {
        let mut body = subscription(good);
        body["keys"][field] = value;
        body
    };
    let https_only = "endpoint must be an https:// URL (http:// only to a loopback address)";
    let no_credentials = "endpoint must not carry credentials or a fragment";
    let private = "endpoint must be a public push service: loopback and private addresses are \
                   refused unless notifications.push_allow_private is on";
    let p256dh = "keys.p256dh must be a P-256 public key: 65 bytes, uncompressed, base64url";
    let auth = "keys.auth must be the 16-byte authentication secret, base64url";
    // 65 bytes that start like a point but lie off the curve.
    let off_curve = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([4u8; 65]);
    bench
        .table(vec![
            (
                140,
                post(subs, json!([])),
                422,
                is("request body must be a JSON object"),
            ),
            (
                140,
                post(subs, json!({})),
                422,
                is("endpoint is required: the push service URL"),
            ),
            (
                140,
                post(subs, json!({"endpoint": 5})),
                422,
                is("endpoint must be a string"),
            ),
            (
                141,
                post(subs, subscription("ftp://push.example.net/x")),
                422,
                is(https_only),
            ),
            (
                141,
                post(subs, subscription("http://push.example.net/x")),
                422,
                is(https_only),
            ),
            (
                141,
                post(subs, subscription("https://u:p@push.example.net/x")),
                422,
                is(no_credentials),
            ),
            (
                141,
                post(subs, subscription("https://push.example.net/x#frag")),
                422,
                is(no_credentials),
            ),
            (
                141,
                post(subs, subscription("push.example.net/x")),
                422,
                is("endpoint must be an absolute URL"),
            ),
            (
                141,
                post(
                    subs,
                    subscription(&format!("https://push.example.net/{}", "x".repeat(2100))),
                ),
                422,
                is("endpoint is longer than 2048 bytes"),
            ),
            (
                160,
                post(subs, subscription("http://127.0.0.1:9/push")),
                422,
                is(private),
            ),
            (
                160,
                post(subs, subscription("https://10.0.0.7/push")),
                422,
                is(private),
            ),
            (
                160,
                post(subs, subscription("https://[::1]/push")),
                422,
                is(private),
            ),
            (
                160,
                post(subs, subscription("https://169.254.169.254/latest")),
                422,
                is(private),
            ),
            (
                160,
                post(subs, subscription("https://localhost/push")),
                422,
                is(private),
            ),
            (
                142,
                post(subs, json!({"endpoint": good})),
                422,
                starts("keys is required: an object with p256dh and auth"),
            ),
            (
                142,
                post(subs, with_key("p256dh", json!("AAAA"))),
                422,
                is(p256dh),
            ),
            (
                142,
                post(subs, with_key("p256dh", json!(off_curve))),
                422,
                is("keys.p256dh is not a point on P-256"),
            ),
            (
                143,
                post(subs, with_key("auth", json!(null))),
                422,
                is("keys.auth is required"),
            ),
            (
                143,
                post(subs, with_key("auth", json!("c2hvcnQ"))),
                422,
                is(auth),
            ),
            (
                144,
                post(subs, with("device", json!("x".repeat(81)))),
                422,
                is("device must be at most 80 characters, without control characters"),
            ),
            (
                144,
                post(subs, with("device", json!("phone\u{1b}[2J"))),
                422,
                is("device must be at most 80 characters, without control characters"),
            ),
            (
                145,
                post(subs, with("id", json!("../x"))),
                422,
                is("id must be an id this server gave"),
            ),
            (
                147,
                delete(format!("{subs}/zzz")),
                404,
                is("no push device 'zzz'"),
            ),
            (
                147,
                delete(format!("{subs}/6f1d2c7e-8a54-4a57-9a0e-1c2b3d4e5f60")),
                404,
                is("no push device '6f1d2c7e-8a54-4a57-9a0e-1c2b3d4e5f60'"),
            ),
        ])
        .await;
    let listed = get(subs).send(&bench.server.base).await;
    assert_eq!(
        listed.json()["subscriptions"],
        json!([]),
        "nothing was stored"
    );

    // Row 146: with the browser channel off, nothing is subscribed and no key is made.
    let off = Bench::start(usual_sandbox(), &[]);
    let refused = "Web Push is off: set notifications.browser_enabled to true";
    off.table(vec![
        (146, post(subs, subscription(good)), 409, is(refused)),
        (146, get("/api/push/vapid-public-key"), 409, is(refused)),
    ])
    .await;
    assert!(
        !off.sandbox
            .state_dir()
            .join("vapid-private-key.pem")
            .exists(),
        "no VAPID key was made"
    );
}
