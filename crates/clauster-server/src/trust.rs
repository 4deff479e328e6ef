//! Reading Claude Code's workspace trust (bridges.md §12.1–§12.2) for the project cards.

use std::path::{Path, PathBuf};

use clauster_core::claude_json::{self, TrustedPaths};
use clauster_core::config::Config;

pub use crate::env::Env;

/// Claude's global config file `G` (bridges.md §12.1): `~/.claude.json` when claude gets no
/// `CLAUDE_CONFIG_DIR` at all, otherwise `<D>/.claude.json`.
pub fn global_config_file(config: &Config, env: &dyn Env) -> PathBuf {
    match claude_config_dir(config, env) {
        Some(dir) => dir.join(".claude.json"),
        None => home(env).join(".claude.json"),
    }
}

/// Claude's settings file `<D>/settings.json` (bridges.md §12.1), where the recap hook goes:
/// `D` is the bridges' `CLAUDE_CONFIG_DIR` (from `claude.env`, `claude.config_dir` or the
/// server's environment), else `~/.claude`.
pub fn settings_file(config: &Config, env: &dyn Env) -> PathBuf {
    claude_config_dir(config, env)
        .unwrap_or_else(|| home(env).join(".claude"))
        .join("settings.json")
}

/// The bridges' `CLAUDE_CONFIG_DIR`: from `claude.env` (when not empty), `claude.config_dir`
/// or the server's environment, in that order; `None` when none sets it.
fn claude_config_dir(config: &Config, env: &dyn Env) -> Option<PathBuf> {
    config
        .claude
        .env
        .get("CLAUDE_CONFIG_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| config.claude.config_dir.clone())
        .or_else(|| env.var("CLAUDE_CONFIG_DIR").map(PathBuf::from))
}

/// `$HOME`, or `/` when it is unset.
fn home(env: &dyn Env) -> PathBuf {
    env.var("HOME")
        .map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// The paths Claude Code trusts, read from `G`. A file that is missing, unreadable or not a
/// JSON object trusts nothing (deny, §12.2).
pub fn load_trusted(global_file: &Path) -> TrustedPaths {
    std::fs::read_to_string(global_file)
        .ok()
        .and_then(|text| claude_json::parse_config_text(&text).ok())
        .map(|config| TrustedPaths::from_config(&config))
        .unwrap_or_default()
}
