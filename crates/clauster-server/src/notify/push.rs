//! Web Push (notifications.md §8): the VAPID key (RFC 8292) kept in `state_dir`, the devices'
//! subscriptions (the store's `push_subscriptions`, cached here so dispatch never waits on
//! SQLite), and the encrypted request for one notice to one device (RFC 8291 `aes128gcm`
//! through `web-push-native`; the JWT signed with `p256`). Sending is the worker's
//! (`deliver.rs`), over the same HTTP client as every other target.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clauster_core::clone::{AddressClass, classify};
use clauster_core::notify::Notice;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};

use crate::store::{PushSubscription, Saved, Store, StoreError};

/// The VAPID private key, PKCS#8 PEM, mode 0600.
pub const VAPID_FILE: &str = "vapid-private-key.pem";
/// Devices one server keeps; a subscription beyond is refused until one is revoked.
pub const MAX_DEVICES: usize = 32;
/// The longest endpoint URL accepted.
pub const MAX_ENDPOINT_LEN: usize = 2048;
/// The longest device label.
pub const MAX_DEVICE_LEN: usize = 80;
/// How long a push service keeps a message for an offline device.
const TTL: Duration = Duration::from_hours(24);
/// How long a VAPID JWT is valid (RFC 8292 §2: at most 24 hours).
const JWT_LIFETIME_SECS: u64 = 12 * 60 * 60;
/// The JWT's `sub` (who runs this application server, RFC 8292 §2.1) when
/// `notifications.push_contact` is not set: Google's and Mozilla's push services take it,
/// Apple's refuses it.
pub const PLACEHOLDER_SUBJECT: &str = "mailto:clauster@localhost";
/// The message under the title is cut here, so a payload stays far below the 4 KiB a push
/// service must accept.
const MAX_BODY_CHARS: usize = 600;

/// Why Web Push could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(
        "cannot {action} the VAPID key {path}: {source}; check that the state directory is \
         writable by this user"
    )]
    KeyFile {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the VAPID key {path} is not a P-256 private key in PKCS#8 PEM ({detail}); move it \
         aside to have a new one made (every device then subscribes again)"
    )]
    KeyFormat { path: PathBuf, detail: String },
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("Web Push is unavailable: the server could not open its store connection")]
    NoStore,
}

/// The application server's VAPID key pair.
pub struct Vapid {
    key: SigningKey,
    /// The uncompressed public point, base64url: what `applicationServerKey` takes.
    public_key: String,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

impl Vapid {
    fn from_key(key: SigningKey) -> Self {
        let point = key.verifying_key().to_encoded_point(false);
        let public_key = URL_SAFE_NO_PAD.encode(point.as_bytes());
        Self { key, public_key }
    }

    /// Reads `<state_dir>/vapid-private-key.pem`, or makes a new key there (0600) when it is
    /// missing. Blocking.
    pub fn load_or_create(state_dir: &Path) -> Result<Self, PushError> {
        let path = state_dir.join(VAPID_FILE);
        match std::fs::read_to_string(&path) {
            Ok(pem) => SigningKey::from_pkcs8_pem(&pem)
                .map(Self::from_key)
                .map_err(|err| PushError::KeyFormat {
                    path,
                    detail: err.to_string(),
                }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key = new_key().map_err(|source| PushError::KeyFile {
                    action: "make",
                    path: path.clone(),
                    source,
                })?;
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|err| PushError::KeyFormat {
                        path: path.clone(),
                        detail: err.to_string(),
                    })?;
                crate::state_files::write_private(&path, pem.as_bytes()).map_err(|source| {
                    PushError::KeyFile {
                        action: "write",
                        path: path.clone(),
                        source,
                    }
                })?;
                tracing::info!(path = %path.display(), "made a new VAPID key for Web Push");
                Ok(Self::from_key(key))
            }
            Err(source) => Err(PushError::KeyFile {
                action: "read",
                path,
                source,
            }),
        }
    }

    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The `Authorization` value for a request to `endpoint` (RFC 8292 §3): `vapid t=<JWT>,
    /// k=<public key>`, the JWT's `aud` the endpoint's origin.
    pub fn authorization(&self, endpoint: &url::Url, subject: &str, now_unix: u64) -> String {
        let audience = endpoint.origin().ascii_serialization();
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": audience,
            "exp": now_unix + JWT_LIFETIME_SECS,
            "sub": subject,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        // ES256 (RFC 7518 §3.4): the 64-byte r ‖ s, not DER.
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        format!("vapid t={signing_input}.{signature}, k={}", self.public_key)
    }
}

/// A fresh P-256 scalar from the OS's random source.
fn new_key() -> std::io::Result<SigningKey> {
    loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
        // A value ≥ the group order (odds about 2^-32) is simply drawn again.
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return Ok(key);
        }
    }
}

/// A subscription as a browser posts it, checked (notifications.md §8.2).
#[derive(Clone, Debug)]
pub struct NewSubscription {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub device: String,
    /// The id this device had, to replace its row (one per device).
    pub replaces: Option<String>,
}

/// Why a subscription was refused: the message and the field.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub detail: String,
    pub field: &'static str,
}

fn refuse(field: &'static str, detail: impl Into<String>) -> Refused {
    Refused {
        detail: detail.into(),
        field,
    }
}

impl NewSubscription {
    /// Checks a posted `{"endpoint", "keys": {"p256dh", "auth"}, "device"?, "id"?}` (the
    /// browser's `PushSubscription.toJSON()` plus a label and the device's previous id);
    /// `allow_private` is `notifications.push_allow_private`.
    pub fn check(
        fields: &serde_json::Map<String, serde_json::Value>,
        allow_private: bool,
    ) -> Result<Self, Refused> {
        let text = |value: Option<&serde_json::Value>, field: &'static str| match value {
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(_) => Err(refuse(field, format!("{field} must be a string"))),
        };
        let endpoint = text(fields.get("endpoint"), "endpoint")?
            .ok_or_else(|| refuse("endpoint", "endpoint is required: the push service URL"))?;
        check_endpoint(&endpoint, allow_private)?;
        let Some(serde_json::Value::Object(keys)) = fields.get("keys") else {
            return Err(refuse(
                "keys",
                "keys is required: an object with p256dh and auth, as \
                 PushSubscription.toJSON() gives",
            ));
        };
        let p256dh = text(keys.get("p256dh"), "keys.p256dh")?
            .ok_or_else(|| refuse("keys.p256dh", "keys.p256dh is required"))?;
        let point = URL_SAFE_NO_PAD
            .decode(p256dh.trim_end_matches('='))
            .ok()
            .filter(|bytes| bytes.len() == 65 && bytes[0] == 4)
            .ok_or_else(|| {
                refuse(
                    "keys.p256dh",
                    "keys.p256dh must be a P-256 public key: 65 bytes, uncompressed, base64url",
                )
            })?;
        p256::PublicKey::from_sec1_bytes(&point)
            .map_err(|_| refuse("keys.p256dh", "keys.p256dh is not a point on P-256"))?;
        let auth = text(keys.get("auth"), "keys.auth")?
            .ok_or_else(|| refuse("keys.auth", "keys.auth is required"))?;
        let secret_ok = URL_SAFE_NO_PAD
            .decode(auth.trim_end_matches('='))
            .is_ok_and(|bytes| bytes.len() == 16);
        if !secret_ok {
            return Err(refuse(
                "keys.auth",
                "keys.auth must be the 16-byte authentication secret, base64url",
            ));
        }
        let device = text(fields.get("device"), "device")?.unwrap_or_default();
        let device = device.trim();
        if device.chars().count() > MAX_DEVICE_LEN || device.chars().any(char::is_control) {
            return Err(refuse(
                "device",
                format!(
                    "device must be at most {MAX_DEVICE_LEN} characters, without control characters"
                ),
            ));
        }
        let device = if device.is_empty() {
            "a browser".to_owned()
        } else {
            device.to_owned()
        };
        let replaces = text(fields.get("id"), "id")?;
        if replaces.as_deref().is_some_and(|id| !valid_id(id)) {
            return Err(refuse("id", "id must be an id this server gave"));
        }
        Ok(Self {
            endpoint,
            p256dh: URL_SAFE_NO_PAD.encode(&point),
            auth: auth.trim_end_matches('=').to_owned(),
            device,
            replaces,
        })
    }
}

/// An endpoint is an `https://` URL with a host and no credentials. Unless `allow_private`
/// (`notifications.push_allow_private`), an address literal must be public — a browser's push
/// service always is, so a device cannot aim the server at a loopback or private address
/// (names are resolved and checked again at every delivery); with it, `http://` to a loopback
/// address is accepted too (a push service double on the same machine).
fn check_endpoint(endpoint: &str, allow_private: bool) -> Result<(), Refused> {
    if endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(refuse(
            "endpoint",
            format!("endpoint is longer than {MAX_ENDPOINT_LEN} bytes"),
        ));
    }
    let url = url::Url::parse(endpoint)
        .map_err(|_| refuse("endpoint", "endpoint must be an absolute URL"))?;
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(refuse(
            "endpoint",
            "endpoint must not carry credentials or a fragment",
        ));
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(refuse("endpoint", "endpoint must have a host")),
    };
    // `localhost`, `localhost.` and any `*.localhost` name loopback (RFC 6761 §6.3).
    let loopback = literal.map_or_else(
        || {
            url.host_str().is_some_and(|name| {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            })
        },
        |ip| ip.is_loopback(),
    );
    let public = literal.is_none_or(|ip| classify(ip) == AddressClass::Public) && !loopback;
    if !public && !allow_private {
        return Err(refuse(
            "endpoint",
            "endpoint must be a public push service: loopback and private addresses are \
             refused unless notifications.push_allow_private is on",
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(refuse(
            "endpoint",
            "endpoint must be an https:// URL (http:// only to a loopback address)",
        )),
    }
}

/// Ids are the UUIDs this server makes.
pub fn valid_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok_and(|uuid| uuid.hyphenated().to_string() == id)
}

/// What the service worker receives (notifications.md §8.3): no link to a session, no token,
/// nothing but what the delivery log also shows.
pub fn payload(notice: &Notice, root_path: &str) -> serde_json::Value {
    let url = match &notice.project {
        Some(project) => format!("{root_path}/?q={}", encode_query(project)),
        None => format!("{root_path}/"),
    };
    let mut body: String = notice.message().chars().take(MAX_BODY_CHARS).collect();
    if body.len() < notice.message().len() {
        body.push('…');
    }
    serde_json::json!({
        "title": notice.title(),
        "body": body,
        "tag": notice.instance_id.as_deref().unwrap_or(notice.event.as_str()),
        "url": url,
        "event": notice.event.as_str(),
        "project": notice.project,
        "at": notice.at,
    })
}

/// Percent-encodes a query value (project names are plain, but never trust that here).
fn encode_query(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// One encrypted request to one device: URL, headers, body.
#[derive(Debug)]
pub struct Encrypted {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Encrypts `payload` for `device` (RFC 8291, one `aes128gcm` record) and adds the VAPID
/// `Authorization`, `TTL` and `Urgency` headers (RFC 8030 §5).
pub fn encrypt(
    vapid: &Vapid,
    subject: &str,
    device: &PushSubscription,
    payload: &serde_json::Value,
    urgent: bool,
    now_unix: u64,
) -> Result<Encrypted, String> {
    let endpoint = url::Url::parse(&device.endpoint)
        .map_err(|_| "the stored endpoint does not parse".to_owned())?;
    let point = URL_SAFE_NO_PAD
        .decode(&device.p256dh)
        .map_err(|_| "the stored p256dh key is not base64url".to_owned())?;
    let ua_public = p256::PublicKey::from_sec1_bytes(&point)
        .map_err(|_| "the stored p256dh key is not a P-256 point".to_owned())?;
    let auth = URL_SAFE_NO_PAD
        .decode(&device.auth)
        .ok()
        .filter(|bytes| bytes.len() == 16)
        .ok_or_else(|| "the stored auth secret is not 16 bytes".to_owned())?;
    let uri = device
        .endpoint
        .parse()
        .map_err(|_| "the stored endpoint is not a valid URI".to_owned())?;
    let request = web_push_native::WebPushBuilder::new(
        uri,
        ua_public,
        web_push_native::Auth::clone_from_slice(&auth),
    )
    .with_valid_duration(TTL)
    .build(payload.to_string())
    .map_err(|err| format!("cannot encrypt the payload: {err}"))?;
    let mut headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter(|(name, _)| *name != "content-length")
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|value| (name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    headers.push((
        "Authorization".to_owned(),
        vapid.authorization(&endpoint, subject, now_unix),
    ));
    headers.push((
        "Urgency".to_owned(),
        if urgent { "high" } else { "normal" }.to_owned(),
    ));
    Ok(Encrypted {
        url: device.endpoint.clone(),
        headers,
        body: request.into_body(),
    })
}

/// The devices and the key: a store connection of its own, the subscriptions cached in
/// memory, the VAPID key made on first use.
#[derive(Debug)]
pub struct Devices {
    state_dir: PathBuf,
    /// `notifications.browser_enabled`: new subscriptions and deliveries need it.
    pub enabled: bool,
    pub root_path: String,
    /// The VAPID `sub`: `notifications.push_contact`, else [`PLACEHOLDER_SUBJECT`].
    pub subject: String,
    /// `notifications.push_allow_private`: endpoints on loopback or private addresses.
    pub allow_private: bool,
    store: Option<Mutex<Store>>,
    cache: Mutex<Vec<PushSubscription>>,
    vapid: Mutex<Option<Arc<Vapid>>>,
}

impl Devices {
    /// Opens its store connection and reads the subscriptions; a store that cannot be opened
    /// leaves Web Push unavailable (logged), never the server.
    pub fn new(
        state_dir: &Path,
        root_path: &str,
        settings: &clauster_core::config::NotificationsSettings,
    ) -> Self {
        let store = match Store::connect_again(state_dir) {
            Ok(store) => Some(store),
            Err(err) => {
                tracing::warn!("Web Push is unavailable: {err}");
                None
            }
        };
        let cached = store
            .as_ref()
            .map(Store::list_push_subscriptions)
            .transpose()
            .unwrap_or_else(|err| {
                tracing::warn!("cannot read the push subscriptions: {err}");
                None
            })
            .unwrap_or_default();
        Self {
            state_dir: state_dir.to_path_buf(),
            enabled: settings.browser_enabled,
            root_path: root_path.to_owned(),
            subject: settings
                .push_contact
                .as_deref()
                .unwrap_or(PLACEHOLDER_SUBJECT)
                .to_owned(),
            allow_private: settings.push_allow_private,
            store: store.map(Mutex::new),
            cache: Mutex::new(cached),
            vapid: Mutex::new(None),
        }
    }

    /// The subscriptions now, oldest first.
    pub fn list(&self) -> Vec<PushSubscription> {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn count(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The VAPID key, made on first use. Blocking (a file read or write, once).
    pub fn vapid(&self) -> Result<Arc<Vapid>, PushError> {
        let mut slot = self.vapid.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(vapid) = slot.as_ref() {
            return Ok(Arc::clone(vapid));
        }
        let vapid = Arc::new(Vapid::load_or_create(&self.state_dir)?);
        *slot = Some(Arc::clone(&vapid));
        Ok(vapid)
    }

    fn with_store<T>(
        &self,
        run: impl FnOnce(&Store) -> Result<T, StoreError>,
    ) -> Result<T, PushError> {
        let store = self.store.as_ref().ok_or(PushError::NoStore)?;
        let store = store.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(run(&store)?)
    }

    fn reload(&self) -> Result<(), PushError> {
        let fresh = self.with_store(Store::list_push_subscriptions)?;
        *self.cache.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// Saves a device (replacing its earlier row); `None` when the device limit is reached.
    /// Blocking.
    pub fn save(
        &self,
        new: NewSubscription,
    ) -> Result<Option<(PushSubscription, Saved)>, PushError> {
        let known = self.list();
        let replacing = known
            .iter()
            .any(|s| s.endpoint == new.endpoint || new.replaces.as_deref() == Some(s.id.as_str()));
        if !replacing && known.len() >= MAX_DEVICES {
            return Ok(None);
        }
        let row = PushSubscription {
            id: new
                .replaces
                .unwrap_or_else(|| uuid::Uuid::new_v4().hyphenated().to_string()),
            endpoint: new.endpoint,
            p256dh: new.p256dh,
            auth: new.auth,
            device: new.device,
            created_at: String::new(),
            last_success_at: None,
        };
        let saved = self.with_store(|store| store.save_push_subscription(&row))?;
        self.reload()?;
        Ok(Some(saved))
    }

    /// Forgets a device; `false` when there was none. Blocking.
    pub fn remove(&self, id: &str) -> Result<bool, PushError> {
        let removed = self.with_store(|store| store.delete_push_subscription(id))?;
        self.reload()?;
        Ok(removed)
    }

    /// Notes an accepted delivery. Blocking.
    pub fn delivered(&self, id: &str) -> Result<(), PushError> {
        self.with_store(|store| store.touch_push_subscription(id))?;
        self.reload()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(value: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().cloned().expect("an object")
    }

    /// A real public key (the RFC 8291 §5 example's `ua_public`).
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";

    #[test]
    fn subscriptions_are_checked_field_by_field() {
        let good = serde_json::json!({
            "endpoint": "https://push.example.net/send/abc",
            "keys": {"p256dh": UA_PUBLIC, "auth": "BTBZMqHH6r4Tts7J_aSIgg"},
            "device": "  Pixel  ",
        });
        let checked = NewSubscription::check(&fields(&good), false).expect("a good subscription");
        assert_eq!(checked.device, "Pixel");
        let cases = [
            (serde_json::json!({}), "endpoint"),
            (serde_json::json!({"endpoint": 5}), "endpoint"),
            (
                serde_json::json!({"endpoint": "ftp://push.example.net/x"}),
                "endpoint",
            ),
            (
                serde_json::json!({"endpoint": "http://push.example.net/x"}),
                "endpoint",
            ),
            (
                serde_json::json!({"endpoint": "https://u:p@push.example.net/x"}),
                "endpoint",
            ),
            (
                serde_json::json!({"endpoint": format!("https://a.example/{}", "x".repeat(2100))}),
                "endpoint",
            ),
            (
                serde_json::json!({"endpoint": "https://push.example.net/x"}),
                "keys",
            ),
            (
                serde_json::json!({"endpoint": "https://push.example.net/x", "keys": {"p256dh": "AAAA", "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}),
                "keys.p256dh",
            ),
            (
                serde_json::json!({"endpoint": "https://push.example.net/x", "keys": {"p256dh": UA_PUBLIC, "auth": "c2hvcnQ"}}),
                "keys.auth",
            ),
            (
                serde_json::json!({"endpoint": "https://push.example.net/x", "keys": {"p256dh": UA_PUBLIC, "auth": "BTBZMqHH6r4Tts7J_aSIgg"}, "device": "a\u{7}b"}),
                "device",
            ),
            (
                serde_json::json!({"endpoint": "https://push.example.net/x", "keys": {"p256dh": UA_PUBLIC, "auth": "BTBZMqHH6r4Tts7J_aSIgg"}, "id": "../x"}),
                "id",
            ),
        ];
        for (body, field) in cases {
            let refused = NewSubscription::check(&fields(&body), false).expect_err("refused");
            assert_eq!(refused.field, field, "{body}: {}", refused.detail);
        }
        let loopback = serde_json::json!({
            "endpoint": "http://127.0.0.1:9/push",
            "keys": {"p256dh": UA_PUBLIC, "auth": "BTBZMqHH6r4Tts7J_aSIgg"},
        });
        assert_eq!(
            NewSubscription::check(&fields(&loopback), true)
                .unwrap()
                .device,
            "a browser"
        );
        for private in [
            "http://127.0.0.1:9/push",
            "https://127.0.0.1/push",
            "https://10.0.0.7/push",
            "https://[::1]/push",
            "https://169.254.169.254/latest",
            "https://localhost/push",
            "https://localhost./push",
            "https://foo.localhost/push",
        ] {
            let body = serde_json::json!({
                "endpoint": private,
                "keys": {"p256dh": UA_PUBLIC, "auth": "BTBZMqHH6r4Tts7J_aSIgg"},
            });
            let refused = NewSubscription::check(&fields(&body), false).expect_err(private);
            assert!(
                refused.detail.contains("notifications.push_allow_private"),
                "{private}: {}",
                refused.detail
            );
        }
    }

    /// The key is made once, 0600, and read back the same; the JWT verifies with its public
    /// key and carries the endpoint's origin.
    #[test]
    fn the_vapid_key_persists_and_signs() {
        use p256::ecdsa::signature::Verifier as _;
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let made = Vapid::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(VAPID_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Vapid::load_or_create(dir.path()).unwrap();
        assert_eq!(made.public_key(), again.public_key());
        let endpoint = url::Url::parse("https://push.example.net:8443/send/abc").unwrap();
        let header = again.authorization(&endpoint, "mailto:ops@example.net", 1_000);
        let (token, key) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .expect("vapid t=…, k=…");
        assert_eq!(key, made.public_key());
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let claims = signed.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({"aud": "https://push.example.net:8443", "exp": 1_000 + JWT_LIFETIME_SECS, "sub": "mailto:ops@example.net"})
        );
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
        made.key
            .verifying_key()
            .verify(signed.as_bytes(), &signature)
            .expect("the signature verifies");
    }

    #[test]
    fn the_payload_links_the_project_and_carries_no_session() {
        let notice = Notice {
            project: Some("my app".into()),
            instance_id: Some("i-1".into()),
            error_kind: Some("exited_early".into()),
            detail: Some("x".repeat(2000)),
            ..Notice::bare(
                clauster_core::notify::NotifyEvent::Crash,
                "2026-01-02T03:04:05.000Z".into(),
                None,
            )
        };
        let stopped = Notice {
            project: Some("alpha".into()),
            instance_id: Some("0b8e6a52-3f5e-4a8f-9d0c-6c1f2a3b4c5d".into()),
            status: Some("stopped".into()),
            session_ended: true,
            ..Notice::bare(
                clauster_core::notify::NotifyEvent::Stop,
                "2026-01-02T03:04:05.000Z".into(),
                None,
            )
        };
        insta::assert_json_snapshot!("push_payload", payload(&stopped, ""));
        let payload = payload(&notice, "/clauster");
        assert_eq!(payload["url"], "/clauster/?q=my+app");
        assert_eq!(payload["title"], "my app: crashed");
        assert_eq!(payload["tag"], "i-1");
        assert!(payload["body"].as_str().unwrap().chars().count() <= MAX_BODY_CHARS + 1);
    }
}
