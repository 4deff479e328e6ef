//! What the unit tests start from: a configuration under `/srv`, a discovered project.

use clauster_core::config::{Config, ConfigInput, load};
use clauster_wire::{Project, TrustState};

/// The configuration of `projects_root: /srv/p`, `state_dir: /srv/s` and `extra` (YAML);
/// panics naming `extra` when it does not load.
pub(crate) fn config(extra: &str) -> Config {
    load(&ConfigInput {
        text: Some(format!("projects_root: /srv/p\nstate_dir: /srv/s\n{extra}")),
        ..Default::default()
    })
    .unwrap_or_else(|err| panic!("{extra}: {err}"))
    .config
}

/// The project `name` at `path`: a git repository with a CLAUDE.md when `git`, no
/// `.claude/`, bypass not allowed.
pub(crate) fn project(name: &str, path: &str, git: bool, trusted: bool) -> Project {
    Project {
        name: name.into(),
        path: path.into(),
        is_git_repo: git,
        has_claude_md: git,
        has_claude_dir: false,
        trust_state: if trusted {
            TrustState::Trusted
        } else {
            TrustState::Untrusted
        },
        allow_bypass_permissions: false,
    }
}
