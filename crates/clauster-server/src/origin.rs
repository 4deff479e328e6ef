//! The Origin rule of security.md §5 for browser-reachable requests: an unsafe method or a
//! WebSocket handshake that carries an `Origin` must carry an allowed one, so a web page
//! elsewhere cannot start bridges or trust directories through the operator's browser.
//! (Authentication is not served yet; with it, an absent Origin will be refused too.) The
//! control socket is exempt: it is served without this layer.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clauster_core::config::{Config, normalize_origin};

use crate::error::ApiError;

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

    fn admits(&self, headers: &HeaderMap) -> bool {
        match headers.get(header::ORIGIN) {
            None => true,
            Some(origin) => origin
                .to_str()
                .is_ok_and(|origin| self.0.contains(&normalize_origin(origin))),
        }
    }
}

fn needs_check(request: &Request) -> bool {
    let unsafe_method = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    unsafe_method || upgrade
}

/// The middleware: 403 `origin check failed` before the handler (and before any upgrade).
pub async fn check(
    State(allowed): State<AllowedOrigins>,
    request: Request,
    next: Next,
) -> Response {
    if needs_check(&request) && !allowed.admits(request.headers()) {
        return ApiError::new(StatusCode::FORBIDDEN, "origin check failed").into_response();
    }
    next.run(request).await
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
    fn only_listed_origins_pass_and_an_absent_one_passes_while_auth_is_off() {
        let rule = allowed(&["http://127.0.0.1:7621", "https://clauster.example.net"]);
        assert!(rule.admits(&HeaderMap::new()), "CLI tools send no Origin");
        assert!(rule.admits(&with_origin("http://127.0.0.1:7621")));
        assert!(
            rule.admits(&with_origin("HTTPS://Clauster.Example.NET:443/")),
            "normalised"
        );
        assert!(
            !rule.admits(&with_origin("http://127.0.0.1:7622")),
            "another port"
        );
        assert!(!rule.admits(&with_origin("https://evil.example")));
        assert!(
            !rule.admits(&with_origin("null")),
            "sandboxed frames send null"
        );
    }
}
