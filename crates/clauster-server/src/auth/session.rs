//! Session cookies (security.md §3): the signing secret, the revocation epoch, and the
//! `v1.<payload>.<mac>` value itself.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The secret file's name inside the state directory.
pub const SECRET_FILE: &str = "session.secret";
/// The revocation epoch's file name inside the state directory.
pub const EPOCH_FILE: &str = "session.epoch";
/// Length of a generated secret.
const SECRET_BYTES: usize = 32;
/// How far in the future an `iat` may lie (clock skew between restarts).
const FUTURE_SKEW_SECONDS: u64 = 60;
/// What the MAC covers in front of the payload, so a MAC from another use of the secret can
/// never pass as a session.
const MAC_CONTEXT: &[u8] = b"clauster-session|";
/// The same for step-up cookies (security.md §3.2): a session cookie never passes as a
/// step-up cookie, nor the other way round.
const ELEVATION_MAC_CONTEXT: &[u8] = b"clauster-elevation|";

/// Why the session secret could not be had; the server refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "cannot create the session secret {path}: {source}; check that the state directory is \
         writable, or set CLAUSTER_SESSION_SECRET"
    )]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot read the session secret {path}: {source}; fix its permissions or remove it (every \
         session is then logged out)"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the session secret {path} holds {len} bytes, fewer than 32; remove it so a new one is \
         made (every session is then logged out)"
    )]
    Short { path: PathBuf, len: usize },
    #[error("{path} is a symlink or not a regular file; remove it so a new session secret is made")]
    NotRegular { path: PathBuf },
}

/// The HMAC key of session cookies: `CLAUSTER_SESSION_SECRET` when set, else
/// `<state_dir>/session.secret`, created on first start (create-new, 0600, fsynced). A
/// starter that loses the creation race waits up to 1 s for the winner's 32 bytes.
/// `tighten`: a secret others may read is made 0600 with a warning. A CLI command's own
/// engine passes `false`, since its warning would reach no log; the server and `doctor` say it.
pub fn load_or_create_secret(state_dir: &Path, tighten: bool) -> Result<Vec<u8>, SecretError> {
    let path = state_dir.join(SECRET_FILE);
    let create = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path);
    match create {
        Ok(mut file) => {
            let mut secret = vec![0u8; SECRET_BYTES];
            getrandom::fill(&mut secret).map_err(|err| SecretError::Create {
                path: path.clone(),
                source: std::io::Error::other(err.to_string()),
            })?;
            file.write_all(&secret)
                .and_then(|()| file.sync_all())
                .map_err(|source| SecretError::Create {
                    path: path.clone(),
                    source,
                })?;
            Ok(secret)
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            read_existing(&path, tighten)
        }
        Err(source) => Err(SecretError::Create { path, source }),
    }
}

fn read_existing(path: &Path, tighten_it: bool) -> Result<Vec<u8>, SecretError> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| SecretError::Read {
        path: path.to_owned(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(SecretError::NotRegular {
            path: path.to_owned(),
        });
    }
    if tighten_it {
        tighten(path, meta.permissions().mode() & 0o777);
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|source| SecretError::Read {
                path: path.to_owned(),
                source,
            })?;
        if bytes.len() >= SECRET_BYTES {
            return Ok(bytes);
        }
        if Instant::now() >= deadline {
            return Err(SecretError::Short {
                path: path.to_owned(),
                len: bytes.len(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A secret others may read is made 0600 (security.md §10), with a warning: one that others
/// did read should be replaced.
fn tighten(path: &Path, mode: u32) {
    let group_and_others = mode & 0o077;
    if group_and_others == 0 {
        return;
    }
    let shown = path.display();
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        Ok(()) => tracing::warn!(
            "the session secret {shown} was readable by others (mode {mode:04o}); it is now 0600. \
             If anyone else could read it, remove it so a new one is made (every session is \
             then logged out)"
        ),
        Err(err) => tracing::warn!(
            "the session secret {shown} is readable by others (mode {mode:04o}) and cannot be \
             made 0600: {err}; change its mode yourself"
        ),
    }
}

/// The revocation epoch: the in-memory value is authoritative for this process; the file
/// carries it across restarts (missing or corrupt reads as 0).
#[derive(Debug)]
pub struct Epoch {
    path: PathBuf,
    current: AtomicU64,
    write: std::sync::Mutex<()>,
    /// Tells open cookie-authenticated WebSockets about a logout.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Epoch {
    pub fn load(state_dir: &Path) -> Self {
        let path = state_dir.join(EPOCH_FILE);
        let current = read_epoch(&path);
        Self {
            path,
            current: AtomicU64::new(current),
            write: std::sync::Mutex::new(()),
            changes: tokio::sync::watch::Sender::new(current),
        }
    }

    /// Follows the epoch as logouts move it.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn current(&self) -> u64 {
        self.current.load(Ordering::SeqCst)
    }

    /// Logout: `max(file, memory) + 1`, written atomically (temp file 0600, fsync, rename).
    /// The new value holds in memory even when the write fails; the error says so.
    pub fn bump(&self) -> Result<u64, std::io::Error> {
        let _guard = self
            .write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = read_epoch(&self.path).max(self.current()) + 1;
        self.current.store(next, Ordering::SeqCst);
        self.changes.send_replace(next);
        clauster_pty::atomic_write::write_private(&self.path, next.to_string().as_bytes())?;
        Ok(next)
    }
}

fn read_epoch(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

/// The cookie name for a state directory: `clauster_session_<first 12 hex of SHA-256 of the
/// canonical path>`, so two instances on one host keep separate sessions.
pub fn cookie_name(state_dir: &Path) -> String {
    let canonical = std::fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_owned());
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    format!("clauster_session_{}", super::tokens::to_hex(&digest[..6]))
}

/// The step-up cookie's name beside a session cookie name: `clauster_elevation_<same hex>`.
pub fn elevation_cookie_name(session_cookie: &str) -> String {
    session_cookie.replacen("clauster_session", "clauster_elevation", 1)
}

#[derive(Serialize, Deserialize)]
struct Payload {
    u: String,
    e: u64,
    iat: u64,
}

/// A verified session: when it was issued (for the WebSocket expiry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub issued_at: u64,
    /// The epoch the cookie was issued at; a logout moves the current one past it.
    pub epoch: u64,
}

/// Signs and checks cookie values of one kind (sessions, or step-up cookies) with one secret.
#[derive(Clone)]
pub struct Signer {
    secret: Vec<u8>,
    context: &'static [u8],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<secret>)")
    }
}

impl Signer {
    /// The signer of session cookies.
    pub fn new(secret: Vec<u8>) -> Self {
        Self {
            secret,
            context: MAC_CONTEXT,
        }
    }

    /// The signer of step-up cookies: the same secret, another MAC context.
    pub fn for_elevation(&self) -> Self {
        Self {
            secret: self.secret.clone(),
            context: ELEVATION_MAC_CONTEXT,
        }
    }

    fn mac(&self) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).expect("HMAC accepts keys of any length");
        mac.update(self.context);
        mac
    }

    /// A cookie value for `admin` at `epoch`, issued at `now` (unix seconds).
    pub fn issue(&self, epoch: u64, now: u64) -> String {
        let payload = serde_json::to_vec(&Payload {
            u: "admin".into(),
            e: epoch,
            iat: now,
        })
        .expect("the payload always serialises");
        let payload = URL_SAFE_NO_PAD.encode(payload);
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("v1.{payload}.{tag}")
    }

    /// Checks a cookie value: the MAC (constant time), the age against `max_age`, an `iat`
    /// at most 60 s in the future, and an epoch not older than `epoch`.
    pub fn verify(&self, value: &str, epoch: u64, max_age: u64, now: u64) -> Option<Session> {
        let rest = value.strip_prefix("v1.")?;
        let (payload, tag) = rest.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&tag).ok()?;
        let payload: Payload =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let fresh = payload.iat.saturating_add(max_age) >= now
            && payload.iat <= now.saturating_add(FUTURE_SKEW_SECONDS);
        (payload.u == "admin" && fresh && payload.e >= epoch).then_some(Session {
            issued_at: payload.iat,
            epoch: payload.e,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::{Epoch, Signer, cookie_name, load_or_create_secret};

    const NOW: u64 = 1_764_083_000;

    #[test]
    fn a_cookie_verifies_until_it_is_old_revoked_or_tampered() {
        let signer = Signer::new(vec![7; 32]);
        let cookie = signer.issue(3, NOW);
        assert!(cookie.starts_with("v1."));
        let ok = signer.verify(&cookie, 3, 600, NOW + 600);
        assert_eq!(ok.map(|s| s.issued_at), Some(NOW));
        assert!(
            signer.verify(&cookie, 3, 600, NOW + 601).is_none(),
            "too old"
        );
        assert!(signer.verify(&cookie, 4, 600, NOW).is_none(), "revoked");
        assert!(
            signer.verify(&cookie, 2, 600, NOW).is_some(),
            "a newer epoch passes"
        );
        assert!(
            signer.verify(&cookie, 3, 600, NOW - 61).is_none(),
            "issued too far in the future"
        );
        assert!(signer.verify(&cookie, 3, 600, NOW - 60).is_some());
        let other = Signer::new(vec![8; 32]);
        assert!(other.verify(&cookie, 3, 600, NOW).is_none(), "another key");
        let elevation = signer.for_elevation();
        assert!(
            elevation.verify(&cookie, 3, 600, NOW).is_none(),
            "a session cookie is no step-up cookie"
        );
        let step_up = elevation.issue(3, NOW);
        assert!(elevation.verify(&step_up, 3, 600, NOW).is_some());
        assert!(
            signer.verify(&step_up, 3, 600, NOW).is_none(),
            "a step-up cookie is no session cookie"
        );
        // Flip one character of the MAC.
        let mut bytes = cookie.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).unwrap();
        assert!(
            signer.verify(&flipped, 3, 600, NOW).is_none(),
            "flipped MAC"
        );
        for junk in ["", "v1.", "v1..", "v2.a.b", "v1.e30.AAAA", "v1.!!.??"] {
            assert!(signer.verify(junk, 0, 600, NOW).is_none(), "{junk}");
        }
    }

    #[test]
    fn the_payload_is_the_documented_json() {
        use base64::Engine as _;
        let cookie = Signer::new(vec![1; 32]).issue(5, NOW);
        let payload = cookie.split('.').nth(1).unwrap();
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            format!("{{\"u\":\"admin\",\"e\":5,\"iat\":{NOW}}}")
        );
    }

    #[test]
    fn the_secret_file_is_made_once_with_mode_0600_and_a_short_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(dir.path(), true).unwrap();
        assert_eq!(first.len(), 32);
        let mode = std::fs::metadata(dir.path().join("session.secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create_secret(dir.path(), true).unwrap(), first);

        // One others may read is tightened to 0600 and kept.
        let path = dir.path().join("session.secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(load_or_create_secret(dir.path(), true).unwrap(), first);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let short = tempfile::tempdir().unwrap();
        std::fs::write(short.path().join("session.secret"), b"short").unwrap();
        let err = load_or_create_secret(short.path(), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds 5 bytes, fewer than 32"), "{err}");
        assert_eq!(
            std::fs::read(short.path().join("session.secret")).unwrap(),
            b"short",
            "left unchanged"
        );
    }

    #[test]
    fn the_epoch_survives_restarts_and_a_corrupt_file_reads_as_zero() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("session.epoch"), "garbage").unwrap();
        let epoch = Epoch::load(dir.path());
        assert_eq!(epoch.current(), 0);
        assert_eq!(epoch.bump().unwrap(), 1);
        // Another process moved the file ahead: the next bump goes past it.
        std::fs::write(dir.path().join("session.epoch"), "7\n").unwrap();
        assert_eq!(epoch.bump().unwrap(), 8);
        assert_eq!(Epoch::load(dir.path()).current(), 8);
        let mode = std::fs::metadata(dir.path().join("session.epoch"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_cookie_name_depends_on_the_state_dir() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let name = cookie_name(a.path());
        assert!(name.starts_with("clauster_session_"));
        assert_eq!(name.len(), "clauster_session_".len() + 12);
        assert_ne!(name, cookie_name(b.path()));
        assert_eq!(name, cookie_name(a.path()));
    }
}
