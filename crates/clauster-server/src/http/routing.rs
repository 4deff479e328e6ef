//! Route-table helpers the features' `routes()` share.

use axum::Router;
use axum::routing::MethodRouter;

use crate::state::AppState;

/// The `/api/v1` aliases (http-api.md §10): the same handler under `/api<path>` and
/// `/api/v1<path>`. The compat routes use it, except `GET /api/v1/projects`, routed by hand
/// because `/api/projects` also takes `POST`; every other route is `/api` only.
pub(crate) trait ApiAndV1 {
    #[must_use]
    fn api_and_v1(self, path: &str, handler: MethodRouter<AppState>) -> Self;
}

impl ApiAndV1 for Router<AppState> {
    fn api_and_v1(self, path: &str, handler: MethodRouter<AppState>) -> Self {
        self.route(&format!("/api{path}"), handler.clone())
            .route(&format!("/api/v1{path}"), handler)
    }
}
