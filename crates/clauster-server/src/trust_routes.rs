//! Project trust (http-api.md §4): `POST /api/projects/{name}/trust` and
//! `POST /api/projects/trust-all`, one write transaction of Claude's global file each.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use clauster_core::claude_json::TrustedPaths;
use clauster_core::names::{ProjectName, echo};
use clauster_wire::{Project, TrustState};

use crate::claude_files::{self, ClaudeFileError};
use crate::error::ApiError;
use crate::projects::{self, Discovered};
use crate::state::AppState;
use crate::trust;
use axum::Router;
use axum::routing::post;

/// Which projects a trust request covers.
#[derive(Clone, Copy, Debug)]
enum Selection<'a> {
    One(&'a str),
    AllUntrusted,
}

/// Trusting one project or all of them.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/projects/{name}/trust", post(trust_project))
        .route("/api/projects/trust-all", post(trust_all))
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
    Ok(Json(project).into_response())
}

/// `POST /api/projects/trust-all` → every project, after one write.
pub async fn trust_all(State(state): State<AppState>) -> Result<Response, ApiError> {
    let projects = trust_blocking(state.clone(), None).await?;
    crate::preflight::publish_projects(&state, projects.clone()).await;
    Ok(Json(projects).into_response())
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

pub(crate) fn discover(projects_root: &Path) -> Result<Vec<Discovered>, ApiError> {
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

/// The failure's own status (409 when nothing was written because of the file's content, 500
/// for I/O).
fn claude_file_error(err: &ClaudeFileError) -> ApiError {
    let status = err.status();
    // 1.3.2's prefix, which scripts match (issue 18).
    ApiError::new(status, format!("could not update trust state: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::http::StatusCode;
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
}
