//! The one error type of HTTP handlers: a status and the `{"detail"}` body of http-api.md §1.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clauster_wire::ErrorBody;

/// An HTTP error answer. Handlers build it from the spec's texts (http-api.md §12).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody::new(detail),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    }

    /// A 422 naming the request field at fault.
    pub fn invalid(detail: impl Into<String>, field: Option<&str>) -> Self {
        let mut error = Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail);
        error.body.field = field.map(str::to_owned);
        error
    }
}

impl ApiError {
    pub fn detail(&self) -> &str {
        &self.body.detail
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<crate::engine::EngineError> for ApiError {
    fn from(err: crate::engine::EngineError) -> Self {
        use crate::engine::EngineError as E;
        let status = match &err {
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Ambiguous(_) | E::Conflict(_) => StatusCode::CONFLICT,
            E::InvalidOption { field, .. } => return Self::invalid(err.to_string(), *field),
            E::PermissionModeNotAllowed(_) => StatusCode::FORBIDDEN,
            E::Starting | E::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
