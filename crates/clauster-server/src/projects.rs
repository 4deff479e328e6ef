//! Project discovery (security.md §7.1): which children of `projects_root` are projects, and
//! the facts each card shows.

use std::path::{Path, PathBuf};

use clauster_core::names::ProjectName;
use clauster_wire::{Project, TrustState};

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

/// The card facts of one discovered project.
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
