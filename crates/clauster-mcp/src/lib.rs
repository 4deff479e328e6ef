//! Clauster as an MCP server (issue 24), on the official Rust SDK (`rmcp`).
//!
//! The tools and resources of [`ClausterMcp`] reach Clauster only through the HTTP API, behind
//! the [`Api`] trait: `clauster mcp` calls it over the control socket (stdio transport, see
//! [`serve_stdio`]); `clauster run` serves the same handler as streamable HTTP at `/mcp`
//! ([`http_service`]) and calls the API in process. So a write tool passes every gate an HTTP
//! client passes (trust, the bypass opt-in, bridge limits), and errors carry the API's texts.
//!
//! The 1.3.2 tools keep their names and argument shapes (`list_sessions`, `session_status`,
//! `spawn_session`, `stop_session`, `resume_session`); `list_projects`, `project_usage`,
//! `instance_logs` and `doctor` are ours. The write tools act only with
//! `mcp.allow_writes: true`; otherwise they answer a tool error saying how to enable them.
#![forbid(unsafe_code)]

pub mod api;
mod catalog;
pub mod logs;
mod resources;
mod tools;

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

pub use api::{Answer, Api, CallError, Method};
pub use catalog::{READ_TOOLS, WRITE_TOOLS, writes_off};

/// What the server tells a client at `initialize`.
const INSTRUCTIONS: &str = "Clauster runs Claude Code remote-control bridges in project \
    directories on this machine. Read tools: list_sessions, session_status, list_projects, \
    project_usage (cost and tokens, per day), instance_logs, doctor. Write tools \
    (spawn_session, stop_session, resume_session) act only when the operator set \
    mcp.allow_writes: true. Bridge ids are instance ids; a unique prefix or a project name \
    with one live bridge works too.";

/// The MCP server handler over one [`Api`]; cheap to clone.
#[derive(Debug)]
pub struct ClausterMcp<A> {
    tools: Arc<tools::Tools<A>>,
    allow_writes: bool,
}

impl<A> Clone for ClausterMcp<A> {
    fn clone(&self) -> Self {
        Self {
            tools: Arc::clone(&self.tools),
            allow_writes: self.allow_writes,
        }
    }
}

impl<A: Api> ClausterMcp<A> {
    /// `allow_writes` is `mcp.allow_writes`.
    pub fn new(api: A, allow_writes: bool) -> Self {
        Self {
            tools: Arc::new(tools::Tools::new(api, allow_writes)),
            allow_writes,
        }
    }

    /// The one-line description of the surface, for the startup banner.
    pub fn surface(&self) -> &'static str {
        if self.allow_writes {
            "read+write (spawn_session, stop_session, resume_session enabled)"
        } else {
            "read-only (write tools off; set mcp.allow_writes: true to enable them)"
        }
    }

    /// Runs one tool: its JSON answer, or a tool error's text.
    pub async fn call_tool_json(
        &self,
        name: &str,
        arguments: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Result<serde_json::Value, String> {
        self.tools.call(name, arguments).await
    }
}

impl<A: Api> ServerHandler for ClausterMcp<A> {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(
            Implementation::new("clauster", env!("CARGO_PKG_VERSION")).with_title("Clauster"),
        )
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(catalog::tools(
            self.allow_writes,
        )))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let result = match self
            .tools
            .call(&request.name, request.arguments.as_ref())
            .await
        {
            Ok(value) => CallToolResult::structured(value),
            Err(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(resources::listed()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&self.tools, &request.uri)
            .await
            .map(Into::into)
    }
}

/// Serves `handler` on stdin/stdout until the client closes stdin (`clauster mcp`).
pub async fn serve_stdio<A: Api>(handler: ClausterMcp<A>) -> Result<(), ServeError> {
    use rmcp::ServiceExt as _;
    let running = handler
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|err| ServeError(err.to_string()))?;
    running
        .waiting()
        .await
        .map(drop)
        .map_err(|err| ServeError(err.to_string()))
}

/// Why the stdio server stopped with an error.
#[derive(Debug, thiserror::Error)]
#[error("the MCP session failed: {0}")]
pub struct ServeError(String);

/// The streamable-HTTP service of `/mcp` (issue 24 §3): stateless, JSON answers, ended by
/// `cancel`. Authentication is the caller's (bearer tokens in front of it); the SDK's Host
/// allow-list is off because the bearer token, not the Host header, is what a DNS-rebinding
/// page cannot supply.
pub fn http_service<A: Api>(
    handler: ClausterMcp<A>,
    cancel: tokio_util::sync::CancellationToken,
) -> rmcp::transport::streamable_http_server::StreamableHttpService<
    ClausterMcp<A>,
    rmcp::transport::streamable_http_server::session::never::NeverSessionManager,
> {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .disable_allowed_hosts()
        .with_cancellation_token(cancel);
    StreamableHttpService::new(move || Ok(handler.clone()), Arc::default(), config)
}
