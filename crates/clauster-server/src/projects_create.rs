//! `POST /api/projects` (data.md §3.1–§3.2): a new empty project directory, optionally a git
//! repository; and the request checks it shares with clone.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::clone;
use crate::error::ApiError;
use crate::http::JsonObject;
// Also used by clone; re-exported here where they used to live.
pub use crate::projects::{exists_error, validate_new_name};
use crate::state::AppState;

/// The project list and creating a project (`GET /api/v1/projects` is the compat alias).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/api/v1/projects", get(list))
        .route("/api/projects", get(list).post(create))
}

/// `GET /api/projects`: every discovered project.
async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let projects = crate::projects::projects_blocking(state).await?;
    Ok(Json(projects).into_response())
}

/// How long `git init` may take (data.md §3.2).
const GIT_INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// `POST /api/projects`.
pub async fn create(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let fields = JsonObject::parse(&body)?;
    let name = fields.string("name")?;
    let git_init = fields.boolean("git_init")?.unwrap_or(false);
    let name = validate_new_name(name.as_deref())?;
    let root = state.config().projects_root.clone();
    let dir = root.join(name.as_str());
    let created = {
        let (root, dir) = (root.clone(), dir.clone());
        tokio::task::spawn_blocking(move || make_dir(&root, &dir))
            .await
            .map_err(|_| {
                ApiError::internal("creating the directory panicked; see the server log")
            })?
    };
    match created {
        Ok(()) => {}
        Err(std::io::ErrorKind::AlreadyExists) => return Err(exists_error(name.as_str())),
        Err(kind) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "cannot create {}: {kind}; check that projects_root exists and is writable",
                    dir.display()
                ),
            ));
        }
    }
    if git_init && let Err(err) = init_repository(&state, &dir).await {
        let doomed = dir.clone();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(doomed)).await;
        return Err(err);
    }
    state.invalidate_projects();
    let projects = crate::projects::projects_blocking(state.clone()).await?;
    let project = projects
        .into_iter()
        .find(|p| p.name == name.as_str())
        .ok_or_else(|| {
            ApiError::internal(format!(
                "{} was created but discovery does not list it; see the server log",
                dir.display()
            ))
        })?;
    let frame = crate::preflight::project_frame(&state, project.clone()).await;
    state.engine().publish(frame);
    Ok((StatusCode::CREATED, Json(project)).into_response())
}

/// Creates `dir` (not recursively) after checking that its canonical parent is the
/// canonical `projects_root`.
fn make_dir(root: &std::path::Path, dir: &std::path::Path) -> Result<(), std::io::ErrorKind> {
    let canonical_root = std::fs::canonicalize(root).map_err(|e| e.kind())?;
    std::fs::create_dir(dir).map_err(|e| e.kind())?;
    let parent_ok = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.parent().map(|p| p == canonical_root))
        .unwrap_or(false);
    if !parent_ok {
        let _ = std::fs::remove_dir(dir);
        return Err(std::io::ErrorKind::PermissionDenied);
    }
    Ok(())
}

/// `git init --quiet <dir>` with the clone environment and a 30 s limit.
async fn init_repository(state: &AppState, dir: &std::path::Path) -> Result<(), ApiError> {
    let env = clone::git_env(&state.config(), None);
    let Some(git) = clone::git_binary(&env) else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "git is not installed",
        ));
    };
    let failed =
        |tail: &str| ApiError::new(StatusCode::BAD_REQUEST, format!("git init failed: {tail}"));
    let child = tokio::process::Command::new(git)
        .args(["init", "--quiet"])
        .arg(dir)
        .env_clear()
        .envs(env.iter().map(|(n, v)| (n, v)))
        .current_dir(&state.config().projects_root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| failed(&err.to_string()))?;
    let output = tokio::time::timeout(GIT_INIT_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| failed("timed out after 30s"))?
        .map_err(|err| failed(&err.to_string()))?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<String> = text
        .split(['\r', '\n'])
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let keep = lines.len().saturating_sub(20);
    Err(failed(&clone::error_tail(&lines[keep..], 400, &[])))
}
