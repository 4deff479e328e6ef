//! Web Push end to end (issue 22, notifications.md §8): a server in process, the fake
//! `claude`, and a push-service double on 127.0.0.1 that records what it is sent. The test
//! plays the browser: it makes a subscription's keys, and decrypts each message itself — P-256
//! ECDH, HKDF and AES-128-GCM as RFC 8291 and RFC 8188 spell them, not through the crate the
//! server encrypts with — and checks the VAPID JWT (RFC 8292) against the server's key.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead as _, KeyInit as _, OsRng};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier as _;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::inprocess::{InProcess, serve_with};
use crate::support::sink::{Mode, Received, Sink};
use crate::support::{self, Sandbox, ServesApi};

const WAIT: Duration = Duration::from_secs(30);

/// A browser's side of a subscription: its ECDH key pair and authentication secret.
pub(crate) struct Device {
    secret: p256::SecretKey,
    /// The uncompressed public point (65 bytes).
    public: Vec<u8>,
    auth: [u8; 16],
}

impl Device {
    pub(crate) fn new() -> Self {
        let secret = p256::SecretKey::random(&mut OsRng);
        let public = secret
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        let mut auth = [0u8; 16];
        for byte in &mut auth {
            *byte = fastrand::u8(..);
        }
        Self {
            secret,
            public,
            auth,
        }
    }

    /// What `PushSubscription.toJSON()` gives, plus a device label.
    pub(crate) fn subscription(&self, endpoint: &str, device: &str) -> Value {
        json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(&self.public),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            },
            "device": device,
        })
    }

    /// Decrypts one `aes128gcm` message (RFC 8291 §3.4, RFC 8188 §2).
    fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        // The header: salt (16), record size (4), key id length (1), key id.
        let salt = &body[..16];
        let record_size = u32::from_be_bytes(body[16..20].try_into().expect("4 bytes"));
        let id_len = usize::from(body[20]);
        assert_eq!(
            id_len, 65,
            "the key id is the sender's uncompressed public key"
        );
        let sender_public = &body[21..21 + id_len];
        let ciphertext = &body[21 + id_len..];
        assert!(
            ciphertext.len() <= record_size as usize,
            "one record ({} bytes) within the record size {record_size}",
            ciphertext.len()
        );
        let sender = p256::PublicKey::from_sec1_bytes(sender_public).expect("a P-256 point");
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender.as_affine());
        // PRK_key = HMAC(auth_secret, ecdh_secret); IKM = HKDF-Expand(PRK_key, key_info, 32).
        let mut key_info = b"WebPush: info\0".to_vec();
        key_info.extend_from_slice(&self.public);
        key_info.extend_from_slice(sender_public);
        let mut ikm = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes())
            .expand(&key_info, &mut ikm)
            .expect("32 bytes");
        let content = hkdf::Hkdf::<Sha256>::new(Some(salt), &ikm);
        let mut cek = [0u8; 16];
        content
            .expand(b"Content-Encoding: aes128gcm\0", &mut cek)
            .expect("16 bytes");
        let mut nonce = [0u8; 12];
        content
            .expand(b"Content-Encoding: nonce\0", &mut nonce)
            .expect("12 bytes");
        let plain = aes_gcm::Aes128Gcm::new_from_slice(&cek)
            .expect("a 128-bit key")
            .decrypt(&nonce.into(), ciphertext)
            .expect("the message decrypts with the subscription's keys");
        // The last record: the content, the delimiter 0x02, then zero padding.
        let end = plain.iter().rposition(|b| *b != 0).expect("a delimiter");
        assert_eq!(plain[end], 2, "the last record's delimiter");
        plain[..end].to_vec()
    }
}

/// Checks a request's `Authorization: vapid t=<JWT>, k=<key>` (RFC 8292 §3): the key is the
/// server's, the JWT is ES256 over its own first two parts, `aud` is the push service's
/// origin, `exp` within 24 hours, `sub` a contact.
fn check_vapid(request: &Received, public_key: &str, audience: &str) -> Value {
    let header = &request.headers["authorization"];
    let (token, key) = header
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .unwrap_or_else(|| panic!("not a vapid authorization: {header}"));
    assert_eq!(key, public_key, "k is the key the server publishes");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    assert_eq!(decode(parts[0]), json!({"typ": "JWT", "alg": "ES256"}));
    let claims = decode(parts[1]);
    assert_eq!(claims["aud"], audience, "{claims}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock")
        .as_secs();
    let exp = claims["exp"].as_u64().expect("a numeric exp");
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp} now {now}");
    assert_eq!(
        claims["sub"], "mailto:ops@example.net",
        "notifications.push_contact"
    );
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(key).unwrap())
        .expect("a P-256 public key");
    let signature = p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap())
        .expect("a 64-byte r ‖ s signature");
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the JWT is signed by the VAPID key");
    claims
}

async fn serve(sandbox: &Sandbox) -> InProcess {
    serve_with(
        sandbox,
        "notifications:\n  browser_enabled: true\n  push_contact: mailto:ops@example.net\n  \
         push_allow_private: true\n",
        clauster_server::ServeOptions::default(),
    )
    .await
}

/// Polls `path` until `done` holds.
async fn wait_api(server: &InProcess, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = server.get(path).await;
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "timed out; {path}: {body:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sandbox() -> Sandbox {
    let sandbox = Sandbox::new();
    let crashy = sandbox.project("crashy", &[]);
    std::fs::write(crashy.join(".fake-claude.json"), r#"{"mode": "crash"}"#)
        .expect("write .fake-claude.json");
    let claude_dir = sandbox.home().join(".claude");
    std::fs::create_dir_all(&claude_dir).expect("create the claude dir");
    let key = std::fs::canonicalize(&crashy).expect("canonical");
    std::fs::write(
        claude_dir.join(".claude.json"),
        json!({"projects": {key.to_string_lossy(): {"hasTrustDialogAccepted": true}}}).to_string(),
    )
    .expect("write .claude.json");
    sandbox
}

/// A crash reaches a subscribed device as an encrypted message only its keys open, with a
/// VAPID JWT signed by the key kept 0600 in `state_dir`; the payload has the title, the
/// project link and nothing secret; the device is listed without its endpoint or keys, and
/// subscribing again from the same browser keeps one row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_reaches_a_subscribed_device_encrypted_and_signed() {
    let sandbox = sandbox();
    let service = Sink::start(Mode::Ok).await;
    let server = serve(&sandbox).await;

    let (status, key) = server.get("/api/push/vapid-public-key").await;
    assert_eq!(status, 200, "{key}");
    let public_key = key["public_key"].as_str().expect("a key").to_owned();
    assert_eq!(URL_SAFE_NO_PAD.decode(&public_key).unwrap().len(), 65);
    let key_file = sandbox.state_dir().join("vapid-private-key.pem");
    assert_eq!(support::file_mode(&key_file), 0o600);

    // The service worker is served from the app's root, as JavaScript, and the CSP lets a
    // same-origin worker run.
    let worker = reqwest::get(format!("{}/sw.js", server.base))
        .await
        .expect("sw.js");
    assert_eq!(worker.status(), 200);
    assert_eq!(
        worker.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(
        worker.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("worker-src 'self'")
    );
    assert!(worker.text().await.unwrap().contains("showNotification"));

    let device = Device::new();
    let endpoint = format!("{}/push/device-1", service.base);
    let subscription = device.subscription(&endpoint, "test phone");
    let (status, saved) = server
        .post("/api/push/subscriptions", subscription.clone())
        .await;
    assert_eq!(status, 201, "{saved}");
    let id = saved["id"].as_str().expect("an id").to_owned();
    let (status, again) = server.post("/api/push/subscriptions", subscription).await;
    assert_eq!(
        (status, again["id"].as_str()),
        (200, Some(id.as_str())),
        "{again}"
    );
    let (_, listed) = server.get("/api/push/subscriptions").await;
    let devices = listed["subscriptions"].as_array().expect("a list");
    assert_eq!(devices.len(), 1, "{listed}");
    assert_eq!(devices[0]["device"], "test phone");
    assert_eq!(
        devices[0]["service"],
        format!("{}/***", service.base),
        "the endpoint is masked"
    );
    let text = listed.to_string();
    assert!(
        !text.contains("device-1") && !text.contains(&URL_SAFE_NO_PAD.encode(device.auth)),
        "{text}"
    );

    let (status, crashed) = server
        .post("/api/instances", json!({"project": "crashy"}))
        .await;
    assert_eq!(status, 201, "{crashed}");
    let received = service.wait_for(1, WAIT).await;
    let message = &received[0];
    assert_eq!(message.path, "/push/device-1");
    assert_eq!(message.headers["content-encoding"], "aes128gcm");
    assert_eq!(message.headers["content-type"], "application/octet-stream");
    assert_eq!(message.headers["ttl"], "86400");
    assert_eq!(message.headers["urgency"], "high");
    check_vapid(message, &public_key, &service.base);

    let payload: Value = serde_json::from_slice(&device.decrypt(&message.body)).expect("JSON");
    assert_eq!(payload["title"], "crashy: crashed", "{payload}");
    assert_eq!(payload["url"], "/?q=crashy");
    assert_eq!(payload["tag"], crashed["instance_id"]);
    assert_eq!(payload["event"], "crash");
    let kind = crashed["error_kind"].as_str().expect("an error kind");
    assert!(
        payload["body"]
            .as_str()
            .is_some_and(|b| b.starts_with(kind)),
        "{payload}"
    );
    let mut fields: Vec<&str> = payload
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["at", "body", "event", "project", "tag", "title", "url"],
        "nothing else travels"
    );
    let plain = payload.to_string();
    assert!(
        !plain.contains("claude.ai") && !plain.contains("session"),
        "{plain}"
    );

    let log = wait_api(&server, "/api/notifications/deliveries", |log| {
        log["deliveries"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    let delivery = &log["deliveries"][0];
    assert_eq!(delivery["channel"], "push", "{log}");
    assert_eq!(delivery["outcome"], "delivered", "{log}");
    assert_eq!(
        delivery["target"],
        format!("{}/*** (test phone)", service.base)
    );
    wait_api(&server, "/api/push/subscriptions", |list| {
        list["subscriptions"][0]["last_success_at"].is_string()
    })
    .await;
}

/// Rows 148 and 149 of the bad-input catalogue: a push service that answers 410 (or 404) for
/// a subscription removes the device after one attempt; a server keeps at most 32 devices,
/// and a revoked one frees a place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_subscription_is_removed_and_devices_are_capped() {
    let sandbox = sandbox();
    let service = Sink::start(Mode::Fail(410)).await;
    let server = serve(&sandbox).await;
    let device = Device::new();
    let endpoint = format!("{}/push/gone", service.base);
    let (status, saved) = server
        .post(
            "/api/push/subscriptions",
            device.subscription(&endpoint, "old phone"),
        )
        .await;
    assert_eq!(status, 201, "{saved}");
    let (status, queued) = server.post_empty("/api/notifications/test").await;
    assert_eq!(
        (status, queued["queued"].as_u64()),
        (202, Some(1)),
        "{queued}"
    );
    wait_api(&server, "/api/push/subscriptions", |list| {
        list["subscriptions"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
    let log = wait_api(&server, "/api/notifications/deliveries", |log| {
        log["deliveries"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    let delivery = &log["deliveries"][0];
    assert_eq!(delivery["outcome"], "failed", "{log}");
    assert_eq!(delivery["http_status"], 410, "{log}");
    assert_eq!(
        delivery["attempts"], 1,
        "a gone subscription is not retried: {log}"
    );
    support::assert_field_contains(delivery, "error", "this device was removed");
    assert_eq!(service.received().len(), 1);

    let mut ids = Vec::new();
    for n in 0..32 {
        let endpoint = format!("https://push.example.net/device/{n}");
        let (status, saved) = server
            .post(
                "/api/push/subscriptions",
                Device::new().subscription(&endpoint, ""),
            )
            .await;
        assert_eq!(status, 201, "{saved}");
        ids.push(saved["id"].as_str().expect("an id").to_owned());
    }
    let extra = Device::new().subscription("https://push.example.net/device/extra", "");
    let (status, refused) = server.post("/api/push/subscriptions", extra.clone()).await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("this server already has 32 push devices")),
        "{refused}"
    );
    let (status, revoked) = server
        .delete(&format!("/api/push/subscriptions/{}", ids[0]))
        .await;
    assert_eq!(status, 200, "{revoked}");
    let (status, saved) = server.post("/api/push/subscriptions", extra).await;
    assert_eq!(status, 201, "{saved}");
}
