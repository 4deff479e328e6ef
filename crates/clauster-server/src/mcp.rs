//! `/mcp` (issue 24 §3): the MCP server as streamable HTTP on the browser-facing listener,
//! when `mcp.http_enabled` is on. The tools call the API in process, through the router the
//! control socket serves (the same handlers, so the same gates and texts); the bearer-only
//! check in front of it is in `auth::gate`.

use axum::body::Body;
use axum::http::{Request, header};
use clauster_mcp::{Answer, Api, CallError, ClausterMcp, Method};
use serde_json::Value;
use tower::ServiceExt as _;

/// The largest API answer a tool reads (a long project list, a doctor report).
const ANSWER_LIMIT: usize = 64 * 1024 * 1024;

/// Marks the requests MCP tools make in process, as [`crate::control::ViaControlSocket`]
/// marks the CLI's: they passed `/mcp`'s bearer check, so the step-up does not apply
/// (security.md §3.2).
#[derive(Clone, Copy, Debug)]
pub struct ViaMcp;

/// The API in process: requests go through `router` as they would over the control socket.
#[derive(Clone, Debug)]
pub struct InProcessApi {
    router: axum::Router,
    root_path: String,
}

impl Api for InProcessApi {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, CallError> {
        let method = match method {
            Method::Get => axum::http::Method::GET,
            Method::Post => axum::http::Method::POST,
            Method::Delete => axum::http::Method::DELETE,
        };
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.root_path))
            .header(header::ACCEPT, "application/json");
        let body = match body {
            Some(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        let mut request = request
            .body(body)
            .map_err(|err| CallError(format!("cannot build the API request: {err}")))?;
        request.extensions_mut().insert(ViaMcp);
        let Ok(response) = self.router.clone().oneshot(request).await;
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), ANSWER_LIMIT)
            .await
            .map_err(|err| CallError(format!("cannot read the API answer: {err}")))?;
        Ok(Answer {
            status,
            body: body.to_vec(),
        })
    }
}

/// The `/mcp` route at `<root_path>/mcp` on top of `browser_facing`, served until `cancel`.
pub fn mount(
    browser_facing: axum::Router,
    control_router: axum::Router,
    config: &clauster_core::config::Config,
    cancel: tokio_util::sync::CancellationToken,
) -> axum::Router {
    let api = InProcessApi {
        router: control_router,
        root_path: config.root_path.clone(),
    };
    let handler = ClausterMcp::new(api, config.mcp.allow_writes);
    tracing::info!(
        "MCP over HTTP at {}/mcp: {}",
        config.root_path,
        handler.surface()
    );
    let service = clauster_mcp::http_service(handler, cancel);
    browser_facing.route_service(&format!("{}/mcp", config.root_path), service)
}
