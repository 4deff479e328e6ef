//! The configuration the unit tests start from: `projects_root` and `state_dir` under `/srv`,
//! plus the YAML a test adds.

use clauster_core::config::{Config, ConfigInput, load};

/// The configuration of `projects_root: /srv/p`, `state_dir: /srv/s` and `extra` (YAML);
/// panics naming `extra` when it does not load.
pub(crate) fn with(extra: &str) -> Config {
    load(&ConfigInput {
        text: Some(format!("projects_root: /srv/p\nstate_dir: /srv/s\n{extra}")),
        ..Default::default()
    })
    .unwrap_or_else(|err| panic!("{extra}: {err}"))
    .config
}
