//! The Origin rule of security.md §5: the browser origins this server accepts, normalised.
//! With auth off, an unsafe method or a WebSocket handshake that carries an `Origin` must
//! carry an allowed one; with auth on, a cookie-authenticated or anonymous one must carry an
//! allowed `Origin` at all. The gate in `auth` applies it on the TCP listener only; the
//! control socket is exempt.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use clauster_core::config::{Config, normalize_origin};

/// The normalised origins a browser may send.
#[derive(Clone, Debug)]
pub struct AllowedOrigins(Arc<BTreeSet<String>>);

impl AllowedOrigins {
    /// Loopback binds allow http and https for 127.0.0.1, localhost and [::1] at `port`;
    /// every configured `auth.allowed_origins` entry is added.
    pub fn new(config: &Config, port: u16) -> Self {
        let mut allowed: BTreeSet<String> = config.auth.allowed_origins.iter().cloned().collect();
        if config.is_loopback_host() {
            for scheme in ["http", "https"] {
                for host in ["127.0.0.1", "localhost", "[::1]"] {
                    allowed.insert(normalize_origin(&format!("{scheme}://{host}:{port}")));
                }
            }
        }
        Self(Arc::new(allowed))
    }

    /// Auth off: an absent `Origin` passes (CLI tools send none); a present one must be
    /// allowed.
    pub fn admits_if_present(&self, headers: &HeaderMap) -> bool {
        headers.get(header::ORIGIN).is_none() || self.admits(headers)
    }

    /// Auth on: the `Origin` must be present and allowed.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        headers.get(header::ORIGIN).is_some_and(|origin| {
            origin
                .to_str()
                .is_ok_and(|origin| self.0.contains(&normalize_origin(origin)))
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    use super::AllowedOrigins;

    fn allowed(origins: &[&str]) -> AllowedOrigins {
        AllowedOrigins(std::sync::Arc::new(
            origins.iter().map(|o| (*o).to_owned()).collect(),
        ))
    }

    fn with_origin(origin: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        headers
    }

    #[test]
    fn only_listed_origins_pass_and_an_absent_one_passes_only_while_auth_is_off() {
        let rule = allowed(&["http://127.0.0.1:7621", "https://clauster.example.net"]);
        assert!(
            rule.admits_if_present(&HeaderMap::new()),
            "CLI tools send no Origin"
        );
        assert!(!rule.admits(&HeaderMap::new()), "auth on: Origin required");
        for check in [AllowedOrigins::admits, AllowedOrigins::admits_if_present] {
            assert!(check(&rule, &with_origin("http://127.0.0.1:7621")));
            assert!(
                check(&rule, &with_origin("HTTPS://Clauster.Example.NET:443/")),
                "normalised"
            );
            assert!(
                !check(&rule, &with_origin("http://127.0.0.1:7622")),
                "another port"
            );
            assert!(!check(&rule, &with_origin("https://evil.example")));
            assert!(
                !check(&rule, &with_origin("null")),
                "sandboxed frames send null"
            );
        }
    }
}
