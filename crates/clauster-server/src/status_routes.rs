//! Summaries of the server's state: the COMPAT widget (`GET /api/widget`) and the claude
//! login status (`GET /api/login-status`, http-api.md §3).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use clauster_wire::{Health, HealthDetail, Instance, Widget, WidgetBridges};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// The server's own state: health, readiness, doctor, login status and the widget.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/api/widget", get(widget))
        .route("/api/login-status", get(login_status))
        .route("/api/doctor", get(crate::doctor::api_doctor))
        .route("/api/readiness", get(crate::readiness::get_readiness))
        .route("/api/readiness/recheck", post(crate::readiness::recheck))
}
use crate::trust_routes::discover;

/// `/healthz`: an unauthenticated caller while auth is on sees `{"status": "ok"}` only.
async fn healthz(State(state): State<AppState>, caller: Option<Extension<Caller>>) -> Response {
    if caller.is_some_and(|Extension(caller)| !caller.sees_health_detail()) {
        return Json(Health {
            status: "ok".into(),
            detail: None,
        })
        .into_response();
    }
    // Never waits on the engine (issue 14): the count and the store flag are published
    // values.
    let running = state.engine().instances_running();
    let claude = state.engine().claude_health();
    let health = Health {
        status: "ok".into(),
        detail: Some(HealthDetail {
            version: state.version().into(),
            // `null` until the first probe finished (bridges.md §3.1).
            claude_ok: claude.claude_ok,
            claude_version: claude.claude_version,
            // Before the first `claude auth status` answer the spec reports logged in.
            claude_login_ok: claude.login_ok.unwrap_or(true),
            claude_login_method: claude.login_method,
            claude_login_expires_at: claude.login_expires_at,
            instances_running: running,
            store_ok: state.engine().store_ok(),
            engine_ready: state.engine().is_ready(),
        }),
    };
    Json(health).into_response()
}

/// `GET /api/widget`.
pub async fn widget(State(state): State<AppState>) -> Result<Response, ApiError> {
    let instances = state.engine().list().await?;
    let root = state.config().projects_root.clone();
    let projects_total = tokio::task::spawn_blocking(move || discover(&root).map(|f| f.len()))
        .await
        .map_err(|_| ApiError::internal("project discovery panicked; see the server log"))??;
    let body = widget_body(projects_total, &instances, state.version());
    Ok(Json(body).into_response())
}

fn widget_body(projects_total: usize, instances: &[Instance], version: &str) -> Widget {
    let mut bridges = WidgetBridges::default();
    for instance in instances {
        let slot = match instance.status.as_str() {
            "starting" => &mut bridges.starting,
            "running" => &mut bridges.running,
            "stopped" => &mut bridges.stopped,
            "crashed" => &mut bridges.crashed,
            "error" => &mut bridges.error,
            _ => continue,
        };
        *slot = slot.saturating_add(1);
    }
    Widget {
        projects_total: u32::try_from(projects_total).unwrap_or(u32::MAX),
        running_total: bridges.running,
        bridges,
        version: version.to_owned(),
    }
}

/// `GET /api/login-status`: from the cache only; answers during rediscovery too.
pub async fn login_status(State(state): State<AppState>) -> Response {
    Json(state.engine().claude_health().login_status()).into_response()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::ClaudeHealth;
    use clauster_wire::LoginStatus;

    /// An instance JSON with every key, in `status`.
    pub(crate) fn instance(status: &str) -> Instance {
        let value = serde_json::json!({
            "instance_id": "id", "project": "p", "label": "p", "channel": "remote-control",
            "status": status, "alive": false, "resume_mode": "standard",
            "spawn_mode": "same-dir", "permission_mode": "default", "sandbox_mode": "default",
            "intentional_stop": false, "started_at": null, "bridge_pid": null,
            "bridge_proc_start": null, "bridge_start_ticks": null, "bridge_boot_id": null,
            "keeper_pid": null, "keeper_proc_start": null, "keeper_start_ticks": null,
            "worktree_name": null, "bridge_id": null, "environment_id": null,
            "starter_session_id": null, "url": null, "session_url": null,
            "bridge_debug_log_path": null, "bridge_raw_log_path": null, "error_detail": null,
            "notice": null, "claude_version": null, "error_kind": null, "error_hint": null,
            "ready_at": null, "ended_at": null, "stopping": false,
            "resumed_conversation": false, "launch_count": 1
        });
        serde_json::from_value(value).expect("an instance")
    }

    #[test]
    fn widget_counts_every_status() {
        let instances: Vec<Instance> = ["running", "running", "stopped", "error", "weird"]
            .into_iter()
            .map(instance)
            .collect();
        let body = serde_json::to_value(widget_body(3, &instances, "0.1.0")).expect("json");
        assert_eq!(
            body,
            serde_json::json!({
                "projects_total": 3,
                "bridges": {"starting": 0, "running": 2, "stopped": 1, "crashed": 0, "error": 1},
                "running_total": 2,
                "version": "0.1.0",
            })
        );
    }

    #[test]
    fn login_status_defaults_to_logged_in() {
        assert_eq!(
            ClaudeHealth::default().login_status(),
            LoginStatus {
                claude_login_ok: true,
                claude_login_method: None,
                claude_login_expires_at: None,
            }
        );
        let health = ClaudeHealth {
            login_ok: Some(false),
            login_method: Some("claude.ai".into()),
            login_expires_at: Some(1_764_083_000_000),
            ..ClaudeHealth::default()
        };
        assert_eq!(
            health.login_status(),
            LoginStatus {
                claude_login_ok: false,
                claude_login_method: Some("claude.ai".into()),
                claude_login_expires_at: Some(1_764_083_000_000),
            }
        );
    }
}
