//! Project trust (http-api.md §4), the instance QR code (§5.2), the COMPAT widget summary and
//! the login status (§3).

use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clauster_core::claude_json::TrustedPaths;
use clauster_core::names::{ProjectName, echo};
use clauster_wire::{Instance, LoginStatus, Project, TrustState, Widget, WidgetBridges};
use qrcode::render::{Renderer, svg};
use qrcode::{EcLevel, QrCode};

use crate::claude_files::{self, ClaudeFileError};
use crate::engine::ClaudeHealth;
use crate::error::ApiError;
use crate::projects::{self, Discovered};
use crate::routes::no_store;
use crate::state::AppState;
use crate::trust;

/// QR geometry of http-api.md §5.2.
const QR_MODULE_PX: u32 = 4;
const QR_QUIET_ZONE_MODULES: u32 = 2;

/// Which projects a trust request covers.
#[derive(Clone, Copy, Debug)]
enum Selection<'a> {
    One(&'a str),
    AllUntrusted,
}

/// `POST /api/projects/{name}/trust` → the refreshed project.
pub async fn trust_project(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    let projects = trust_blocking(state.clone(), Some(name.clone())).await?;
    let project = projects
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| unknown_project(&name))?;
    // Trust is a card fact and a preflight check: every open dashboard follows.
    crate::preflight::publish_projects(&state, vec![project.clone()]).await;
    Ok(no_store(Json(project).into_response()))
}

/// `POST /api/projects/trust-all` → every project, after one write.
pub async fn trust_all(State(state): State<AppState>) -> Result<Response, ApiError> {
    let projects = trust_blocking(state.clone(), None).await?;
    crate::preflight::publish_projects(&state, projects.clone()).await;
    Ok(no_store(Json(projects).into_response()))
}

/// Runs the file transaction and the re-discovery off the async workers.
/// `name` selects one project; `None` selects every untrusted one.
async fn trust_blocking(state: AppState, name: Option<String>) -> Result<Vec<Project>, ApiError> {
    tokio::task::spawn_blocking(move || {
        let selection = name
            .as_deref()
            .map_or(Selection::AllUntrusted, Selection::One);
        let config = state.config();
        trust_projects(
            &config.state_dir,
            state.claude_global_file(),
            &config.projects_root,
            selection,
        )?;
        state.projects()
    })
    .await
    .map_err(|_| ApiError::internal("the trust update panicked; see the server log"))?
}

/// Writes the trust entries for `selection` into `global` in one §12.4 transaction.
/// Blocking.
fn trust_projects(
    state_dir: &Path,
    global: &Path,
    projects_root: &Path,
    selection: Selection<'_>,
) -> Result<(), ApiError> {
    let found = discover(projects_root)?;
    let targets: Vec<PathBuf> = match selection {
        Selection::One(name) => {
            let project = ProjectName::new(name)
                .ok()
                .and_then(|valid| found.iter().find(|p| p.name == valid))
                .ok_or_else(|| unknown_project(name))?;
            vec![project.canonical.clone()]
        }
        Selection::AllUntrusted => {
            let trusted = trust::load_trusted(global);
            untrusted(&found, &trusted)
        }
    };
    if targets.is_empty() {
        return Ok(());
    }
    let targets: Vec<&Path> = targets.iter().map(PathBuf::as_path).collect();
    claude_files::trust_paths(state_dir, global, &targets)
        .map_err(|err| claude_file_error(&err))?;
    Ok(())
}

/// The canonical paths of the discovered projects Claude does not trust yet.
fn untrusted(found: &[Discovered], trusted: &TrustedPaths) -> Vec<PathBuf> {
    found
        .iter()
        .filter(|p| projects::describe(p, trusted, false).trust_state == TrustState::Untrusted)
        .map(|p| p.canonical.clone())
        .collect()
}

fn discover(projects_root: &Path) -> Result<Vec<Discovered>, ApiError> {
    projects::discover(projects_root).map_err(|err| {
        ApiError::internal(format!(
            "cannot list projects_root {}: {err}; check that it exists and is readable",
            projects_root.display()
        ))
    })
}

fn unknown_project(name: &str) -> ApiError {
    ApiError::not_found(format!("project '{}' not found", echo(name)))
}

/// 409 when the file cannot be parsed or its content refused (nothing was written), 500 for
/// I/O.
fn claude_file_error(err: &ClaudeFileError) -> ApiError {
    let status = match err {
        ClaudeFileError::Unparseable { .. } | ClaudeFileError::Refused { .. } => {
            StatusCode::CONFLICT
        }
        ClaudeFileError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    // 1.3.2's prefix, which scripts match (issue 18).
    ApiError::new(status, format!("could not update trust state: {err}"))
}

/// `GET /api/instances/{instance_id}/qr`: an SVG of the instance's link.
pub async fn qr(
    State(state): State<AppState>,
    UrlPath(reference): UrlPath<String>,
) -> Result<Response, ApiError> {
    let instance = state.engine().get(&reference).await?;
    let link = qr_link(&instance)
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "no session URL available yet"))?;
    let svg = qr_svg(link)?;
    let mut response = svg.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    Ok(no_store(response))
}

/// `session_url`, else `url`; an empty value counts as absent.
fn qr_link(instance: &Instance) -> Option<&str> {
    [&instance.session_url, &instance.url]
        .into_iter()
        .filter_map(Option::as_deref)
        .find(|link| !link.is_empty())
}

/// Error correction M, 4 px modules, a 2-module quiet zone, `#000` on `#fff`.
fn qr_svg(link: &str) -> Result<String, ApiError> {
    let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M).map_err(|err| {
        ApiError::internal(format!("cannot encode the session URL as a QR code: {err}"))
    })?;
    let colors = code.to_colors();
    Ok(
        Renderer::<svg::Color<'_>>::new(&colors, code.width(), QR_QUIET_ZONE_MODULES)
            .module_dimensions(QR_MODULE_PX, QR_MODULE_PX)
            .dark_color(svg::Color("#000"))
            .light_color(svg::Color("#fff"))
            .build(),
    )
}

/// `GET /api/widget`.
pub async fn widget(State(state): State<AppState>) -> Result<Response, ApiError> {
    let instances = state.engine().list().await?;
    let root = state.config().projects_root.clone();
    let projects_total = tokio::task::spawn_blocking(move || discover(&root).map(|f| f.len()))
        .await
        .map_err(|_| ApiError::internal("project discovery panicked; see the server log"))??;
    let body = widget_body(projects_total, &instances, state.version());
    Ok(no_store(Json(body).into_response()))
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
    no_store(Json(login_status_body(state.engine().claude_health())).into_response())
}

fn login_status_body(health: ClaudeHealth) -> LoginStatus {
    LoginStatus {
        // Before the first `claude auth status` answer the spec reports logged in.
        claude_login_ok: health.login_ok.unwrap_or(true),
        claude_login_method: health.login_method,
        claude_login_expires_at: health.login_expires_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::Value;

    struct Fixture {
        _dir: tempfile::TempDir,
        root: PathBuf,
        state: PathBuf,
        global: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("projects");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&root).expect("root");
        std::fs::create_dir_all(&state).expect("state");
        let global = dir.path().join(".claude.json");
        Fixture {
            root,
            state,
            global,
            _dir: dir,
        }
    }

    fn project(f: &Fixture, name: &str, git: bool) -> PathBuf {
        let dir = f.root.join(name);
        std::fs::create_dir_all(&dir).expect("project");
        if git {
            std::fs::create_dir_all(dir.join(".git")).expect(".git");
        }
        std::fs::canonicalize(dir).expect("canonical")
    }

    fn read_json(path: &Path) -> Value {
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
    }

    fn detail(err: ApiError) -> (StatusCode, String) {
        let response = err.into_response();
        let status = response.status();
        let body = futures_body(response);
        (
            status,
            body["detail"].as_str().unwrap_or_default().to_owned(),
        )
    }

    fn futures_body(response: Response) -> Value {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let bytes = runtime
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
            .expect("body");
        serde_json::from_slice(&bytes).expect("json body")
    }

    #[test]
    fn trusting_one_project_keeps_other_keys() {
        let f = fixture();
        let alpha = project(&f, "alpha", true);
        let beta = project(&f, "beta", true);
        std::fs::write(
            &f.global,
            r#"{"numStartups": 3, "projects": {"/x": {"a": 1}}}"#,
        )
        .expect("seed");
        trust_projects(&f.state, &f.global, &f.root, Selection::One("alpha")).expect("trusted");
        let g = read_json(&f.global);
        assert_eq!(g["numStartups"], 3);
        assert_eq!(g["projects"]["/x"]["a"], 1);
        let key = alpha.to_string_lossy().into_owned();
        assert_eq!(g["projects"][key.as_str()]["hasTrustDialogAccepted"], true);
        assert!(g["projects"].get(beta.to_string_lossy().as_ref()).is_none());
    }

    #[test]
    fn trust_all_writes_every_untrusted_project() {
        let f = fixture();
        let alpha = project(&f, "alpha", true);
        let beta = project(&f, "beta", false);
        trust_projects(&f.state, &f.global, &f.root, Selection::AllUntrusted).expect("trusted");
        let trusted = trust::load_trusted(&f.global);
        assert_eq!(
            trusted.state(&alpha, true),
            clauster_core::claude_json::TrustState::Trusted
        );
        assert_eq!(
            trusted.state(&beta, false),
            clauster_core::claude_json::TrustState::Trusted
        );
    }

    #[test]
    fn trust_all_with_nothing_untrusted_writes_nothing() {
        let f = fixture();
        trust_projects(&f.state, &f.global, &f.root, Selection::AllUntrusted).expect("ok");
        assert!(!f.global.exists());
    }

    #[test]
    fn unknown_and_invalid_names_are_404() {
        let f = fixture();
        project(&f, "alpha", false);
        for name in ["nope", "../alpha", ".hidden"] {
            let err = trust_projects(&f.state, &f.global, &f.root, Selection::One(name))
                .expect_err("refused");
            assert_eq!(
                detail(err),
                (StatusCode::NOT_FOUND, format!("project '{name}' not found"))
            );
        }
        assert!(!f.global.exists());
    }

    #[test]
    fn an_unparseable_global_file_is_409_and_left_unchanged() {
        let f = fixture();
        project(&f, "alpha", false);
        std::fs::write(&f.global, b"{not json").expect("seed");
        let err = trust_projects(&f.state, &f.global, &f.root, Selection::One("alpha"))
            .expect_err("refused");
        assert_eq!(
            detail(err),
            (
                StatusCode::CONFLICT,
                format!(
                    "could not update trust state: cannot update {}: it is not a valid JSON \
                     object; Clauster did not change it",
                    f.global.display()
                )
            )
        );
        assert_eq!(std::fs::read(&f.global).expect("read"), b"{not json");
    }

    #[test]
    fn a_missing_projects_root_is_500() {
        let f = fixture();
        let missing = f.root.join("absent");
        let err = trust_projects(&f.state, &f.global, &missing, Selection::AllUntrusted)
            .expect_err("refused");
        assert_eq!(detail(err).0, StatusCode::INTERNAL_SERVER_ERROR);
    }

    fn instance(status: &str) -> Instance {
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
            login_status_body(ClaudeHealth::default()),
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
            login_status_body(health),
            LoginStatus {
                claude_login_ok: false,
                claude_login_method: Some("claude.ai".into()),
                claude_login_expires_at: Some(1_764_083_000_000),
            }
        );
    }

    #[test]
    fn the_qr_link_prefers_the_session_url() {
        let mut i = instance("running");
        assert_eq!(qr_link(&i), None);
        i.url = Some("https://claude.ai/code?environment=env_1".into());
        assert_eq!(
            qr_link(&i),
            Some("https://claude.ai/code?environment=env_1")
        );
        i.session_url = Some(String::new());
        assert_eq!(
            qr_link(&i),
            Some("https://claude.ai/code?environment=env_1")
        );
        i.session_url = Some("https://claude.ai/code/session_1?from=cli".into());
        assert_eq!(
            qr_link(&i),
            Some("https://claude.ai/code/session_1?from=cli")
        );
    }

    #[test]
    fn the_qr_svg_has_the_spec_geometry() {
        let link = "https://claude.ai/code/session_1?from=cli";
        let svg = qr_svg(link).expect("encodes");
        let code = QrCode::with_error_correction_level(link, EcLevel::M).expect("encodes");
        let side = (u32::try_from(code.width()).expect("small") + 2 * QR_QUIET_ZONE_MODULES)
            * QR_MODULE_PX;
        assert!(svg.contains("<svg"), "{svg}");
        assert!(
            svg.contains(&format!(r#"width="{side}" height="{side}""#)),
            "{svg}"
        );
        assert!(svg.contains(r##"fill="#fff""##), "{svg}");
        assert!(svg.contains(r##"fill="#000""##), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
    }
}
