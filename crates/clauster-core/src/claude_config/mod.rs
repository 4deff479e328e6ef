//! Claude Code's own configuration as the dashboard edits it (config-write.md): the pure
//! half of `/api/config-write/*`. The server reads the files and hands their parsed values
//! here; everything returned is a value to show or the new value to write.
//!
//! - [`settings`] — the `settings.json` surfaces (the keys no dedicated surface owns,
//!   `permissions`, `hooks`): views, validation, and edits that keep every key they do not
//!   own.
//! - [`mcp`] — MCP server maps (`.mcp.json`, `~/.claude.json`) and approvals.
//! - [`secrets`] — masking of secret-looking values and the restore of an untouched mask.
//! - [`effective`] — the scopes merged for a new session, with each value's scope.
//! - [`front_matter`] — subagent and skill Markdown files (YAML front matter + body).

pub mod effective;
pub mod front_matter;
pub mod mcp;
pub mod secrets;
pub mod settings;

use serde_json::Value;

/// Which configuration a request edits (config-write.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `~/.claude/` and `~/.claude.json`: every project sees it.
    User,
    /// `<project>/.claude/settings.json`, `<project>/.mcp.json`, `<project>/.claude/agents`.
    Project,
    /// `<project>/.claude/settings.local.json` and the project's entry in `~/.claude.json`.
    Local,
}

impl Scope {
    /// `"user"`, `"project"` or `"local"` (the query and body spelling).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(Self::User),
            "project" => Some(Self::Project),
            "local" => Some(Self::Local),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Project => "project",
            Self::Local => "local",
        }
    }
}

/// The text the User scope's confirmation must be (1.3.2's).
pub const USER_SCOPE_TOKEN: &str = "USER SCOPE";
/// What the Local scope's confirmation adds to the project name (1.3.2's).
pub const LOCAL_SCOPE_SUFFIX: &str = " (local)";

/// The confirmation a write must carry (config-write.md §3): the project name, the name with
/// ` (local)`, or `USER SCOPE`. Derived by the server, never taken from the client.
pub fn confirm_token(scope: Scope, project: &str) -> String {
    match scope {
        Scope::User => USER_SCOPE_TOKEN.to_owned(),
        Scope::Project => project.to_owned(),
        Scope::Local => format!("{project}{LOCAL_SCOPE_SUFFIX}"),
    }
}

/// Why an edit was refused before anything was written. Each message names the key at
/// fault and what is accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The candidate has the wrong shape (422).
    #[error("{0}")]
    Invalid(String),
    /// The file on disk has a key of the wrong type where the edit goes (409): it is shown
    /// read-only, never overwritten.
    #[error("{0}")]
    Conflicting(String),
}

pub(crate) fn invalid(message: impl Into<String>) -> EditError {
    EditError::Invalid(message.into())
}

/// The JSON type of `value`, as messages name it.
pub(crate) fn type_name(value: &Value) -> &'static str {
    crate::claude_json::json_type_name(value)
}
