//! Forward-auth from a reverse proxy (security.md §3.1): who counts as a trusted proxy, the
//! user header, and the optional `t=<unix>,v1=<hex>` HMAC over user, time, method and path.

use std::net::IpAddr;

use clauster_core::config::ReverseProxySettings;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const MAX_USER_CHARS: usize = 256;

/// What the proxy headers of one request amount to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyVerdict {
    /// Forward-auth is off, or the socket peer is not a trusted proxy: headers are ignored.
    Untrusted,
    /// A trusted proxy, but no valid user (absent or malformed header, bad or stale MAC).
    NoUser,
    /// A trusted proxy named this user; `signed` when an HMAC verified it.
    User { name: String, signed: bool },
}

/// The request facts forward-auth looks at.
#[derive(Debug)]
pub struct ProxyRequest<'a> {
    pub peer: Option<IpAddr>,
    pub user: Option<&'a [u8]>,
    pub signature: Option<&'a [u8]>,
    /// `GET` for WebSocket handshakes.
    pub method: &'a str,
    /// As received: with `root_path`, without the query.
    pub path: &'a str,
    pub now: u64,
}

/// Whether `peer` is inside `trusted_ips` (IPv4-mapped IPv6 normalised by the matcher), with
/// forward-auth enabled.
pub fn trusted_peer(settings: &ReverseProxySettings, peer: Option<IpAddr>) -> bool {
    settings.enabled
        && peer.is_some_and(|peer| settings.trusted_ips.iter().any(|net| net.contains(peer)))
}

pub fn verify(settings: &ReverseProxySettings, request: &ProxyRequest<'_>) -> ProxyVerdict {
    if !trusted_peer(settings, request.peer) {
        return ProxyVerdict::Untrusted;
    }
    let Some(user) = request.user.and_then(valid_user) else {
        return ProxyVerdict::NoUser;
    };
    if !settings.require_hmac {
        return ProxyVerdict::User {
            name: user.to_owned(),
            signed: false,
        };
    }
    let Some(secret) = &settings.shared_secret else {
        return ProxyVerdict::NoUser;
    };
    let signed = request.signature.is_some_and(|signature| {
        signature_valid(
            secret.expose().as_bytes(),
            signature,
            user,
            request,
            settings.hmac_window_seconds,
        )
    });
    if signed {
        ProxyVerdict::User {
            name: user.to_owned(),
            signed: true,
        }
    } else {
        ProxyVerdict::NoUser
    }
}

/// 1–256 printable ASCII characters.
fn valid_user(raw: &[u8]) -> Option<&str> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_USER_CHARS
        && raw.iter().all(|b| (0x20..0x7f).contains(b));
    ok.then(|| std::str::from_utf8(raw).ok()).flatten()
}

fn signature_valid(
    secret: &[u8],
    header: &[u8],
    user: &str,
    request: &ProxyRequest<'_>,
    window: u64,
) -> bool {
    let Ok(header) = std::str::from_utf8(header) else {
        return false;
    };
    if !header.is_ascii() {
        return false;
    }
    let (mut t, mut v1) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(stamp) = t.parse::<u64>() else {
        return false;
    };
    if stamp.abs_diff(request.now) > window {
        return false;
    }
    let Some(expected) = decode_hex(v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{user}:{t}:{}:{}", request.method, request.path).as_bytes());
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use clauster_core::config::{IpNet, ReverseProxySettings, Secret};
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::{ProxyRequest, ProxyVerdict, verify};

    const NOW: u64 = 1_764_083_000;

    fn settings(require_hmac: bool) -> ReverseProxySettings {
        ReverseProxySettings {
            enabled: true,
            user_header: "Remote-User".into(),
            shared_secret_header: "X-Proxy-Auth".into(),
            trusted_ips: vec![IpNet::parse("10.0.0.0/8").unwrap()],
            shared_secret: Some(Secret::new("s3cret")),
            hmac_window_seconds: 60,
            require_hmac,
        }
    }

    fn sign(message: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(message.as_bytes());
        crate::auth::tokens::to_hex(&mac.finalize().into_bytes())
    }

    fn request<'a>(peer: &str, user: &'a str, signature: Option<&'a str>) -> ProxyRequest<'a> {
        ProxyRequest {
            peer: Some(peer.parse().unwrap()),
            user: Some(user.as_bytes()),
            signature: signature.map(str::as_bytes),
            method: "POST",
            path: "/dash/api/instances",
            now: NOW,
        }
    }

    #[test]
    fn a_signed_user_from_a_trusted_peer_passes() {
        let header = format!(
            "t={NOW},v1={}",
            sign(&format!("alice:{NOW}:POST:/dash/api/instances"))
        );
        let ok = ProxyVerdict::User {
            name: "alice".into(),
            signed: true,
        };
        assert_eq!(
            verify(
                &settings(true),
                &request("10.1.2.3", "alice", Some(&header))
            ),
            ok
        );
        assert_eq!(
            verify(
                &settings(true),
                &request("::ffff:10.1.2.3", "alice", Some(&header))
            ),
            ok,
            "IPv4-mapped peers are normalised"
        );
        assert_eq!(
            verify(
                &settings(true),
                &request("192.0.2.1", "alice", Some(&header))
            ),
            ProxyVerdict::Untrusted
        );
        let mut off = settings(true);
        off.enabled = false;
        assert_eq!(
            verify(&off, &request("10.1.2.3", "alice", Some(&header))),
            ProxyVerdict::Untrusted
        );
    }

    #[test]
    fn stale_wrong_or_malformed_signatures_name_no_user() {
        let s = settings(true);
        let stale_t = NOW - 61;
        let stale = format!(
            "t={stale_t},v1={}",
            sign(&format!("alice:{stale_t}:POST:/dash/api/instances"))
        );
        let in_window_t = NOW + 60;
        let edge = format!(
            "t={in_window_t},v1={}",
            sign(&format!("alice:{in_window_t}:POST:/dash/api/instances"))
        );
        let other_path = format!(
            "t={NOW},v1={}",
            sign(&format!("alice:{NOW}:POST:/api/instances"))
        );
        let other_user = format!(
            "t={NOW},v1={}",
            sign(&format!("bob:{NOW}:POST:/dash/api/instances"))
        );
        for bad in [
            &stale,
            &other_path,
            &other_user,
            "t=1,v1=zz",
            "garbage",
            "v1=00",
            "",
        ] {
            assert_eq!(
                verify(&s, &request("10.1.2.3", "alice", Some(bad))),
                ProxyVerdict::NoUser,
                "{bad}"
            );
        }
        assert!(matches!(
            verify(&s, &request("10.1.2.3", "alice", Some(&edge))),
            ProxyVerdict::User { .. }
        ));
        assert_eq!(
            verify(&s, &request("10.1.2.3", "alice", None)),
            ProxyVerdict::NoUser
        );
    }

    #[test]
    fn without_hmac_the_user_header_alone_counts_when_well_formed() {
        let s = settings(false);
        assert_eq!(
            verify(&s, &request("10.0.0.1", "alice", None)),
            ProxyVerdict::User {
                name: "alice".into(),
                signed: false
            }
        );
        let long = "a".repeat(257);
        for bad in ["", "al\u{7f}ice", "alïce", long.as_str()] {
            assert_eq!(
                verify(&s, &request("10.0.0.1", bad, None)),
                ProxyVerdict::NoUser,
                "{bad:?}"
            );
        }
    }
}
