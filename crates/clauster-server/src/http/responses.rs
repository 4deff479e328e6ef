//! Response rules every route shares.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Answers of these content types are never cached (security.md §6): the API's JSON, the
/// pages, the instance QR code and the Prometheus scrape.
const NO_STORE_TYPES: [&str; 4] = [
    "application/json",
    "text/html",
    "image/svg+xml",
    "text/plain; version=0.0.4",
];

/// The middleware that sets `Cache-Control: no-store` on every answer of the router whose
/// content type is one of [`NO_STORE_TYPES`] and that has no `Cache-Control` of its own (the
/// bundle's assets set theirs). It serves both listeners; the TCP listener's security
/// headers add the same to JSON and HTML answers of the layers outside the router.
pub(crate) async fn mark_no_store(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let uncached = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| NO_STORE_TYPES.iter().any(|p| t.starts_with(p)));
    if uncached {
        response
            .headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    response
}
