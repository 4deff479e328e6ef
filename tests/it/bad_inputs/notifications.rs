//! Rows 81–82 and 140–147: the mute route and the Web Push routes (issue 22).

use super::*;

// Rows 81–82: the notification routes (issue 22). Row 83 (a webhook URL that is not HTTP) is
// a config refusal tested in clauster-core; row 84 (`block_private_targets`) in
// `notifications.rs`.
#[tokio::test]
async fn rows_81_82_the_project_mute_route() {
    let bench = Bench::start(usual_sandbox(), &[]);
    let mute = |name: &str| format!("/api/projects/{name}/notifications");
    // Row 81: the body.
    let mut cases: Vec<_> = [
        (json!({}), "muted is required (true or false)"),
        (json!({"muted": "yes"}), "muted must be a boolean"),
        (json!([true]), "request body must be a JSON object"),
    ]
    .into_iter()
    .map(|(body, detail)| (81, put(mute("alpha"), body), 422, is(detail)))
    .collect();
    // Row 82: the project named in the path.
    let names = [
        ("nope", 404, is("project 'nope' not found")),
        ("-rf", 422, invalid_name("-rf")),
    ];
    cases.extend(names.into_iter().map(|(name, status, detail)| {
        (82, put(mute(name), json!({"muted": true})), status, detail)
    }));
    bench.table(cases).await;
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
    let off_p256 = "keys.p256dh is not a point on P-256";
    let no_keys = "keys is required: an object with p256dh and auth";
    let auth = "keys.auth must be the 16-byte authentication secret, base64url";
    let device = "device must be at most 80 characters, without control characters";
    let too_long = format!("https://push.example.net/{}", "x".repeat(2100));
    // 65 bytes that start like a point but lie off the curve.
    let off_curve = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([4u8; 65]);
    // Rows 140–145: the body, then the endpoints and the keys.
    let mut cases: Vec<_> = [
        (140, json!([]), is("request body must be a JSON object")),
        (
            140,
            json!({}),
            is("endpoint is required: the push service URL"),
        ),
        (140, json!({"endpoint": 5}), is("endpoint must be a string")),
    ]
    .into_iter()
    .chain(
        [
            (141, "ftp://push.example.net/x", https_only),
            (141, "http://push.example.net/x", https_only),
            (141, "https://u:p@push.example.net/x", no_credentials),
            (141, "https://push.example.net/x#frag", no_credentials),
            (
                141,
                "push.example.net/x",
                "endpoint must be an absolute URL",
            ),
            (141, too_long.as_str(), "endpoint is longer than 2048 bytes"),
            (160, "http://127.0.0.1:9/push", private),
            (160, "https://10.0.0.7/push", private),
            (160, "https://[::1]/push", private),
            (160, "https://169.254.169.254/latest", private),
            (160, "https://localhost/push", private),
        ]
        .map(|(row, endpoint, detail)| (row, subscription(endpoint), is(detail))),
    )
    .chain([
        (142, json!({"endpoint": good}), starts(no_keys)),
        (142, with_key("p256dh", json!("AAAA")), is(p256dh)),
        (142, with_key("p256dh", json!(off_curve)), is(off_p256)),
        (
            143,
            with_key("auth", json!(null)),
            is("keys.auth is required"),
        ),
        (143, with_key("auth", json!("c2hvcnQ")), is(auth)),
        (144, with("device", json!("x".repeat(81))), is(device)),
        (144, with("device", json!("phone\u{1b}[2J")), is(device)),
        (
            145,
            with("id", json!("../x")),
            is("id must be an id this server gave"),
        ),
    ])
    .map(|(row, body, detail)| (row, post(subs, body), 422, detail))
    .collect();
    // Row 147: deleting a device that is not there.
    for id in ["zzz", "6f1d2c7e-8a54-4a57-9a0e-1c2b3d4e5f60"] {
        let detail = is(format!("no push device '{id}'"));
        cases.push((147, delete(format!("{subs}/{id}")), 404, detail));
    }
    bench.table(cases).await;
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
