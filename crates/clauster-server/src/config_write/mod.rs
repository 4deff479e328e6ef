//! Claude Code's own configuration from the dashboard (config-write.md): the
//! `/api/config-write/*` routes behind `config_write.enabled`. `common` holds the gates, the
//! scope's files and the guarded writes; `json_routes` the settings, permission, hook and MCP
//! surfaces and the effective view; `doc_routes` subagents, skills and CLAUDE.md. The pure
//! transforms are `clauster_core::claude_config`.

mod common;
mod doc_routes;
mod json_routes;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::routing::{MethodRouter, get, post};

use crate::state::AppState;

/// The routes of config-write.md §9. Plugins and marketplaces are not served (404).
pub fn routes() -> Router<AppState> {
    use doc_routes as d;
    use json_routes as j;
    Router::new()
        .route("/api/config-write/status", get(j::status))
        .route(
            "/api/config-write/claude-md",
            get(d::claude_md_read).put(d::claude_md_write),
        )
        .route(
            "/api/config-write/settings",
            settings_surface(j::Surface::Settings),
        )
        .route(
            "/api/config-write/settings/reveal",
            post(j::settings_reveal),
        )
        .route("/api/config-write/settings/effective", get(j::effective))
        .route(
            "/api/config-write/permissions",
            settings_surface(j::Surface::Permissions),
        )
        .route(
            "/api/config-write/hooks",
            settings_surface(j::Surface::Hooks),
        )
        .route("/api/config-write/mcp", get(j::mcp_read).put(j::mcp_write))
        .route("/api/config-write/mcp/server", post(j::mcp_server))
        .route(
            "/api/config-write/mcp/approvals",
            get(j::approvals_read).put(j::approvals_write),
        )
        .route(
            "/api/config-write/mcp/reset-project-choices",
            post(j::reset_choices),
        )
        .route("/api/config-write/subagents", get(d::subagents_list))
        .route(
            "/api/config-write/subagents/{name}",
            get(d::subagent_read)
                .put(d::subagent_write)
                .delete(d::subagent_delete),
        )
        .route(
            "/api/config-write/skills",
            get(d::skills_list).put(d::skill_write),
        )
        .route("/api/config-write/skills/file", get(d::skill_file_read))
        .route("/api/config-write/skills/delete", post(d::skill_delete))
        .layer(DefaultBodyLimit::max(common::BODY_LIMIT))
}

/// `GET` and `PUT` of one of the settings file's surfaces (config-write.md §5).
fn settings_surface(surface: json_routes::Surface) -> MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>, Query(query): Query<json_routes::ReadQuery>| {
            json_routes::settings_surface_read(state, query, surface)
        },
    )
    .put(move |write: common::Write| json_routes::settings_surface_write(write, surface))
}
