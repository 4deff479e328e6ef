//! Response helpers.

use axum::http::{HeaderValue, header};
use axum::response::Response;

/// Marks `response` `Cache-Control: no-store`.
pub(crate) fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
