//! Response headers of security.md §6 on every response (errors and redirects included):
//! the CSP with a fresh nonce per response, the fixed hardening headers, HSTS when the
//! secure decision says so, `no-store` on HTML and JSON, and the spec's JSON body for a 413.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{Auth, peer_of};
use crate::error::ApiError;
pub use crate::http::CspNonce;

/// JSON request bodies are capped here (security.md §7.2); routes with their own cap set it.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// The policy for one nonce: no `unsafe-inline`, no `unsafe-eval`; `wasm-unsafe-eval` only
/// for instantiating the hydration bundle.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; font-src 'self'; \
         connect-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; \
         object-src 'none'"
    )
}

const FIXED: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    ),
];

/// The middleware. `auth` decides HSTS (its secure decision); it sees the TCP peer when
/// there is one.
pub async fn security_headers(
    State(auth): State<Auth>,
    mut request: Request,
    next: Next,
) -> Response {
    let nonce = CspNonce::fresh();
    let secure = auth.secure(peer_of(&request), request.headers());
    request.extensions_mut().insert(nonce.clone());
    let mut response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json(&response) {
        // axum's own body-limit rejection is plain text; the API speaks `{"detail"}`.
        response =
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    }
    let needs_no_store = is_json(&response) || is_html(&response);
    let headers = response.headers_mut();
    let csp = HeaderValue::from_str(&content_security_policy(&nonce.0))
        .expect("base64url and the fixed policy are valid header text");
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(csp);
    for (name, value) in FIXED {
        headers
            .entry(HeaderName::from_static(name))
            .or_insert(HeaderValue::from_static(value));
    }
    if secure {
        headers
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static("max-age=31536000"));
    }
    if needs_no_store {
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    response
}

fn content_type_starts(response: &Response, prefix: &str) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(prefix))
}

fn is_json(response: &Response) -> bool {
    content_type_starts(response, "application/json")
}

fn is_html(response: &Response) -> bool {
    content_type_starts(response, "text/html")
}

#[cfg(test)]
mod tests {
    use super::{CspNonce, content_security_policy};

    #[test]
    fn the_policy_allows_only_nonced_inline_code_and_wasm() {
        let policy = content_security_policy("abc");
        insta::assert_snapshot!(policy);
        assert!(!policy.contains("unsafe-inline"));
        assert!(!policy.contains("'unsafe-eval'"));
    }

    #[test]
    fn nonces_are_fresh_16_byte_base64url() {
        let a = CspNonce::fresh().0;
        let b = CspNonce::fresh().0;
        assert_eq!(a.len(), 22);
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }
}
