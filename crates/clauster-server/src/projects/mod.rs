//! Project discovery (security.md §7.1): which children of `projects_root` are projects, and
//! the facts each card shows.

mod discovery;

pub use discovery::{Discovery, projects_blocking, spawn_rediscovery};

use std::path::{Path, PathBuf};

use clauster_core::names::ProjectName;
use clauster_wire::{Frame, Project, TrustState};

use clauster_core::claude_json::{self, TrustedPaths};

/// A project directory found on disk.
#[derive(Clone, Debug)]
pub struct Discovered {
    pub name: ProjectName,
    /// `projects_root/<name>` as configured.
    pub path: PathBuf,
    /// Symlinks resolved: what trust, slugs and the cwd use.
    pub canonical: PathBuf,
}

/// Lists the projects under `root`, sorted case-insensitively by name. Files, sockets,
/// broken links, hidden entries and invalid names are skipped silently.
pub fn discover(root: &Path) -> std::io::Result<Vec<Discovered>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let Ok(entry) = entry else { continue };
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let Ok(name) = ProjectName::new(name) else {
            continue;
        };
        let path = entry.path();
        // `metadata` follows symlinks: a link to a directory counts, a broken one does not.
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let Ok(canonical) = std::fs::canonicalize(&path) else {
            continue;
        };
        found.push(Discovered {
            name,
            path,
            canonical,
        });
    }
    found.sort_by(|a, b| {
        let (a, b) = (a.name.as_str(), b.name.as_str());
        a.to_lowercase()
            .cmp(&b.to_lowercase())
            .then_with(|| a.cmp(b))
    });
    Ok(found)
}

/// [`discover`] off the async workers, its failure as the API's 500.
pub async fn discover_off_thread(root: PathBuf) -> Result<Vec<Discovered>, crate::error::ApiError> {
    use crate::error::ApiError;
    tokio::task::spawn_blocking(move || discover(&root))
        .await
        .map_err(|_| ApiError::internal("project discovery panicked; see the server log"))?
        .map_err(|err| {
            ApiError::internal(format!(
                "cannot list projects_root: {err}; check that it exists and is readable"
            ))
        })
}

/// The card facts of one discovered project.
pub fn describe(project: &Discovered, trusted: &TrustedPaths, allow_bypass: bool) -> Project {
    let is_git_repo = project.path.join(".git").exists();
    let trust_state = match trusted.state(&project.canonical, is_git_repo) {
        claude_json::TrustState::Trusted => TrustState::Trusted,
        claude_json::TrustState::Untrusted => TrustState::Untrusted,
    };
    Project {
        name: project.name.as_str().to_owned(),
        path: project.path.to_string_lossy().into_owned(),
        is_git_repo,
        has_claude_md: project.path.join("CLAUDE.md").exists(),
        has_claude_dir: project.path.join(".claude").exists(),
        trust_state,
        allow_bypass_permissions: allow_bypass,
    }
}

/// The frames that take a client from discovery `before` to discovery `after`: `project` for
/// every card that is new or differs, then `project_removed` for every name that is gone (a
/// renamed directory is one of each). The caller adds each upsert's preflight.
pub fn changes(before: &[Project], after: &[Project]) -> Vec<Frame> {
    let upserts = after
        .iter()
        .filter(|now| !before.contains(now))
        .map(|project| Frame::Project {
            project: project.clone(),
            preflight: None,
        });
    let removals = before
        .iter()
        .filter(|old| !after.iter().any(|now| now.name == old.name))
        .map(|old| Frame::ProjectRemoved {
            name: old.name.clone(),
        });
    upserts.chain(removals).collect()
}

/// The name of a project to be created: present, not blank, valid (security.md §7.1).
pub fn validate_new_name(name: Option<&str>) -> Result<ProjectName, crate::error::ApiError> {
    let name = match name {
        Some(name) if !name.trim().is_empty() => name,
        _ => {
            return Err(crate::error::ApiError::invalid(
                "name is required",
                Some("name"),
            ));
        }
    };
    ProjectName::new(name)
        .map_err(|err| crate::error::ApiError::invalid(err.to_string(), Some("name")))
}

pub fn exists_error(name: &str) -> crate::error::ApiError {
    crate::error::ApiError::new(
        axum::http::StatusCode::CONFLICT,
        format!("a directory named '{name}' already exists"),
    )
}

#[cfg(test)]
mod tests {
    use clauster_wire::{Frame, Project, TrustState};

    use super::changes;

    fn card(name: &str, git: bool) -> Project {
        Project {
            name: name.into(),
            path: format!("/p/{name}"),
            is_git_repo: git,
            has_claude_md: false,
            has_claude_dir: false,
            trust_state: TrustState::Untrusted,
            allow_bypass_permissions: false,
        }
    }

    fn describe(frames: &[Frame]) -> Vec<String> {
        frames
            .iter()
            .map(|frame| match frame {
                Frame::Project { project, .. } => {
                    format!("project {} git={}", project.name, project.is_git_repo)
                }
                Frame::ProjectRemoved { name } => format!("removed {name}"),
                other => format!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_same_discovery_changes_nothing() {
        let list = [card("alpha", false), card("beta", true)];
        assert!(changes(&list, &list).is_empty());
        assert!(changes(&[], &[]).is_empty());
    }

    #[test]
    fn new_changed_and_gone_cards_each_give_one_frame() {
        let before = [
            card("alpha", false),
            card("beta", true),
            card("gamma", false),
        ];
        let after = [
            card("alpha", true),
            card("beta", true),
            card("delta", false),
        ];
        assert_eq!(
            describe(&changes(&before, &after)),
            [
                "project alpha git=true",
                "project delta git=false",
                "removed gamma"
            ]
        );
    }

    #[test]
    fn a_rename_is_an_upsert_and_a_removal() {
        let before = [card("old-name", false)];
        let after = [card("new-name", false)];
        assert_eq!(
            describe(&changes(&before, &after)),
            ["project new-name git=false", "removed old-name"]
        );
    }
}
