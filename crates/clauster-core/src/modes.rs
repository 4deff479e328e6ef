//! The mode tokens of a launch: launch mode (`standard`/`pty`), spawn mode, permission mode,
//! the inert `sandbox` field and `claude.standard_resume` (bridges.md §2, §3.2–§3.4, §9.3).
//!
//! Tokens are exact and case-sensitive (security.md §7.2). Each type has `as_token()` and a
//! `FromStr` whose error text is the 422 `detail` of http-api.md §12.

use std::fmt;
use std::str::FromStr;

use crate::names::echo;

/// A mode token that is not one of the accepted values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    #[error("invalid resume_mode '{}'; expected standard or pty", echo(.0))]
    LaunchMode(String),
    #[error("invalid spawn_mode '{}'; expected same-dir, worktree or session", echo(.0))]
    SpawnMode(String),
    #[error("invalid permission_mode '{}'", echo(.0))]
    PermissionMode(String),
    #[error("invalid sandbox '{}'; expected default, on or off", echo(.0))]
    Sandbox(String),
    #[error("invalid claude.standard_resume '{}'; expected auto, always or never", echo(.0))]
    StandardResume(String),
}

impl ModeError {
    /// The request field (or config key) at fault: the optional `field` of a 422 answer.
    pub fn field(&self) -> &'static str {
        match self {
            Self::LaunchMode(_) => "resume_mode",
            Self::SpawnMode(_) => "spawn_mode",
            Self::PermissionMode(_) => "permission_mode",
            Self::Sandbox(_) => "sandbox",
            Self::StandardResume(_) => "claude.standard_resume",
        }
    }
}

/// How a bridge runs. Decided once per instance and never changed (bridges.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LaunchMode {
    /// `claude remote-control …`: headless multi-session server ("Server Mode").
    #[default]
    Standard,
    /// `claude --remote-control <name> …` on a PTY owned by a keeper ("Interactive Session").
    Pty,
}

impl LaunchMode {
    pub const ALL: [Self; 2] = [Self::Standard, Self::Pty];

    pub fn as_token(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Pty => "pty",
        }
    }
}

impl FromStr for LaunchMode {
    type Err = ModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standard" => Ok(Self::Standard),
            "pty" => Ok(Self::Pty),
            other => Err(ModeError::LaunchMode(other.to_owned())),
        }
    }
}

impl fmt::Display for LaunchMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_token())
    }
}

/// Where the sessions of a bridge run (bridges.md §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpawnMode {
    /// Every session in the project directory.
    #[default]
    SameDir,
    /// Sessions in git worktrees (standard: one per on-demand session; pty: `--worktree <WT>`).
    Worktree,
    /// Standard only: one session, and the bridge exits when it ends (an expected end).
    Session,
}

impl SpawnMode {
    pub const ALL: [Self; 3] = [Self::SameDir, Self::Worktree, Self::Session];

    pub fn as_token(self) -> &'static str {
        match self {
            Self::SameDir => "same-dir",
            Self::Worktree => "worktree",
            Self::Session => "session",
        }
    }
}

impl FromStr for SpawnMode {
    type Err = ModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "same-dir" => Ok(Self::SameDir),
            "worktree" => Ok(Self::Worktree),
            "session" => Ok(Self::Session),
            other => Err(ModeError::SpawnMode(other.to_owned())),
        }
    }
}

impl fmt::Display for SpawnMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_token())
    }
}

/// The recorded permission mode of an instance (bridges.md §3.3).
///
/// `Default` is recorded as `default` but spelt on the command line with whatever token the
/// installed claude uses for it (`manual` on builds that renamed it; see
/// [`crate::capability::Capabilities`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PermissionMode {
    #[default]
    Default,
    Plan,
    AcceptEdits,
    Auto,
    DontAsk,
    BypassPermissions,
    /// "No forced mode": no `--permission-mode` flag, so the project's own settings decide
    /// (which can still mean bypass; the UI states that caveat).
    Inherit,
}

impl PermissionMode {
    pub const ALL: [Self; 7] = [
        Self::Default,
        Self::Plan,
        Self::AcceptEdits,
        Self::Auto,
        Self::DontAsk,
        Self::BypassPermissions,
        Self::Inherit,
    ];

    /// The recorded token. `manual` is never recorded: it is read as `default`.
    pub fn as_token(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Plan => "plan",
            Self::AcceptEdits => "acceptEdits",
            Self::Auto => "auto",
            Self::DontAsk => "dontAsk",
            Self::BypassPermissions => "bypassPermissions",
            Self::Inherit => "inherit",
        }
    }

    /// Whether a launch in this mode needs the project's `allow_bypass_permissions` opt-in.
    pub fn needs_bypass_opt_in(self) -> bool {
        self == Self::BypassPermissions
    }
}

impl FromStr for PermissionMode {
    type Err = ModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            // `manual` is what newer builds call `default`; accepted as an input alias.
            "default" | "manual" => Ok(Self::Default),
            "plan" => Ok(Self::Plan),
            "acceptEdits" => Ok(Self::AcceptEdits),
            "auto" => Ok(Self::Auto),
            "dontAsk" => Ok(Self::DontAsk),
            "bypassPermissions" => Ok(Self::BypassPermissions),
            "inherit" => Ok(Self::Inherit),
            other => Err(ModeError::PermissionMode(other.to_owned())),
        }
    }
}

impl fmt::Display for PermissionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_token())
    }
}

/// The request field `sandbox`. Validated, then recorded as `default`: the toggle is off in
/// this release and no sandbox flag is ever emitted (bridges.md §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sandbox {
    #[default]
    Default,
    On,
    Off,
}

impl Sandbox {
    pub fn as_token(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::On => "on",
            Self::Off => "off",
        }
    }

    /// What is written to the instance row whatever was asked for.
    #[must_use]
    pub fn recorded(self) -> Self {
        Self::Default
    }
}

impl FromStr for Sandbox {
    type Err = ModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(Self::Default),
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            other => Err(ModeError::Sandbox(other.to_owned())),
        }
    }
}

impl fmt::Display for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_token())
    }
}

/// `claude.standard_resume`: when a standard resume uses `remote-control --continue`
/// (bridges.md §9.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StandardResume {
    /// When the probe found `--continue` in the subcommand help (`rc_continue`).
    #[default]
    Auto,
    /// Always, whatever the probe says (the fallback to a fresh start still applies).
    Always,
    /// Never: a standard resume is a fresh launch that re-attaches the environment.
    Never,
}

impl StandardResume {
    pub const ALL: [Self; 3] = [Self::Auto, Self::Always, Self::Never];

    pub fn as_token(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Always => "always",
            Self::Never => "never",
        }
    }
}

impl FromStr for StandardResume {
    type Err = ModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            other => Err(ModeError::StandardResume(other.to_owned())),
        }
    }
}

impl fmt::Display for StandardResume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_token())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for mode in LaunchMode::ALL {
            assert_eq!(mode.as_token().parse::<LaunchMode>(), Ok(mode));
            assert_eq!(mode.to_string(), mode.as_token());
        }
        for mode in SpawnMode::ALL {
            assert_eq!(mode.as_token().parse::<SpawnMode>(), Ok(mode));
            assert_eq!(mode.to_string(), mode.as_token());
        }
        for mode in PermissionMode::ALL {
            assert_eq!(mode.as_token().parse::<PermissionMode>(), Ok(mode));
            assert_eq!(mode.to_string(), mode.as_token());
        }
        for mode in [Sandbox::Default, Sandbox::On, Sandbox::Off] {
            assert_eq!(mode.as_token().parse::<Sandbox>(), Ok(mode));
        }
        for mode in [
            StandardResume::Auto,
            StandardResume::Always,
            StandardResume::Never,
        ] {
            assert_eq!(mode.as_token().parse::<StandardResume>(), Ok(mode));
        }
    }

    #[test]
    fn expected_tokens() {
        let tokens: Vec<_> = PermissionMode::ALL.iter().map(|m| m.as_token()).collect();
        assert_eq!(
            tokens,
            [
                "default",
                "plan",
                "acceptEdits",
                "auto",
                "dontAsk",
                "bypassPermissions",
                "inherit"
            ]
        );
        let spawn: Vec<_> = SpawnMode::ALL.iter().map(|m| m.as_token()).collect();
        assert_eq!(spawn, ["same-dir", "worktree", "session"]);
        assert_eq!(LaunchMode::default(), LaunchMode::Standard);
        assert_eq!(SpawnMode::default(), SpawnMode::SameDir);
        assert_eq!(PermissionMode::default(), PermissionMode::Default);
        assert_eq!(StandardResume::default(), StandardResume::Auto);
    }

    #[test]
    fn manual_is_recorded_as_default() {
        let mode: PermissionMode = "manual".parse().expect("manual alias");
        assert_eq!(mode, PermissionMode::Default);
        assert_eq!(mode.as_token(), "default");
    }

    #[test]
    fn bypass_needs_opt_in() {
        let needing: Vec<_> = PermissionMode::ALL
            .into_iter()
            .filter(|m| m.needs_bypass_opt_in())
            .collect();
        assert_eq!(needing, [PermissionMode::BypassPermissions]);
    }

    #[test]
    fn sandbox_is_recorded_as_default() {
        for input in ["default", "on", "off"] {
            let sandbox: Sandbox = input.parse().expect(input);
            assert_eq!(sandbox.recorded(), Sandbox::Default);
        }
    }

    #[test]
    fn refusals_carry_the_spec_texts() {
        let cases: Vec<(ModeError, &str, &str)> = vec![
            (
                "tmux".parse::<LaunchMode>().expect_err("tmux"),
                "invalid resume_mode 'tmux'; expected standard or pty",
                "resume_mode",
            ),
            (
                "Standard".parse::<LaunchMode>().expect_err("case"),
                "invalid resume_mode 'Standard'; expected standard or pty",
                "resume_mode",
            ),
            (
                "turbo".parse::<SpawnMode>().expect_err("turbo"),
                "invalid spawn_mode 'turbo'; expected same-dir, worktree or session",
                "spawn_mode",
            ),
            (
                "same_dir".parse::<SpawnMode>().expect_err("underscore"),
                "invalid spawn_mode 'same_dir'; expected same-dir, worktree or session",
                "spawn_mode",
            ),
            (
                "yolo".parse::<PermissionMode>().expect_err("yolo"),
                "invalid permission_mode 'yolo'",
                "permission_mode",
            ),
            (
                "acceptedits".parse::<PermissionMode>().expect_err("case"),
                "invalid permission_mode 'acceptedits'",
                "permission_mode",
            ),
            (
                "Default".parse::<PermissionMode>().expect_err("case"),
                "invalid permission_mode 'Default'",
                "permission_mode",
            ),
            (
                "maybe".parse::<Sandbox>().expect_err("maybe"),
                "invalid sandbox 'maybe'; expected default, on or off",
                "sandbox",
            ),
            (
                "sometimes"
                    .parse::<StandardResume>()
                    .expect_err("sometimes"),
                "invalid claude.standard_resume 'sometimes'; expected auto, always or never",
                "claude.standard_resume",
            ),
            (
                "pt\u{202e}y".parse::<LaunchMode>().expect_err("bidi"),
                "invalid resume_mode 'pt\\u{202e}y'; expected standard or pty",
                "resume_mode",
            ),
        ];
        for (err, message, field) in cases {
            assert_eq!(err.to_string(), message);
            assert_eq!(err.field(), field);
        }
    }
}
