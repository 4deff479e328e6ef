//! The mode tokens of a launch: launch mode (`standard`/`pty`), spawn mode, permission mode,
//! the inert `sandbox` field and `claude.standard_resume` (bridges.md §2, §3.2–§3.4, §9.3).
//!
//! Tokens are exact and case-sensitive (security.md §7.2). Each type has `as_token()` and a
//! `FromStr` whose error text is the 422 `detail` of http-api.md §12.

use crate::names::echo;
use crate::token_enum::token_enum;

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

token_enum! {
    /// How a bridge runs. Decided once per instance and never changed (bridges.md §2).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub enum LaunchMode else ModeError::LaunchMode {
        /// `claude remote-control …`: headless multi-session server ("Server Mode").
        #[default]
        Standard = "standard",
        /// `claude --remote-control <name> …` on a PTY owned by a keeper ("Interactive Session").
        Pty = "pty",
    }
}

token_enum! {
    /// Where the sessions of a bridge run (bridges.md §3.4).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub enum SpawnMode else ModeError::SpawnMode {
        /// Every session in the project directory.
        #[default]
        SameDir = "same-dir",
        /// Sessions in git worktrees (standard: one per on-demand session; pty: `--worktree <WT>`).
        Worktree = "worktree",
        /// Standard only: one session, and the bridge exits when it ends (an expected end).
        Session = "session",
    }
}

token_enum! {
    /// The recorded permission mode of an instance (bridges.md §3.3).
    ///
    /// `Default` is recorded as `default` but spelt on the command line with whatever token the
    /// installed claude uses for it (`manual` on builds that renamed it; see
    /// [`crate::capability::Capabilities`]). `manual` is never recorded: it is read as
    /// `default`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub enum PermissionMode else ModeError::PermissionMode {
        /// `manual` is what newer builds call `default`; accepted as an input alias.
        #[default]
        Default = "default" | "manual",
        Plan = "plan",
        AcceptEdits = "acceptEdits",
        Auto = "auto",
        DontAsk = "dontAsk",
        BypassPermissions = "bypassPermissions",
        /// "No forced mode": no `--permission-mode` flag, so the project's own settings decide
        /// (which can still mean bypass; the UI states that caveat).
        Inherit = "inherit",
    }
}

impl PermissionMode {
    /// Whether a launch in this mode needs the project's `allow_bypass_permissions` opt-in.
    pub fn needs_bypass_opt_in(self) -> bool {
        self == Self::BypassPermissions
    }
}

token_enum! {
    /// The request field `sandbox`. Validated, then recorded as `default`: the toggle is off in
    /// this release and no sandbox flag is ever emitted (bridges.md §3.2).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub enum Sandbox else ModeError::Sandbox {
        #[default]
        Default = "default",
        On = "on",
        Off = "off",
    }
}

impl Sandbox {
    /// What is written to the instance row whatever was asked for.
    #[must_use]
    pub fn recorded(self) -> Self {
        Self::Default
    }
}

token_enum! {
    /// `claude.standard_resume`: when a standard resume uses `remote-control --continue`
    /// (bridges.md §9.3).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub enum StandardResume else ModeError::StandardResume {
        /// When the probe found `--continue` in the subcommand help (`rc_continue`).
        #[default]
        Auto = "auto",
        /// Always, whatever the probe says (the fallback to a fresh start still applies).
        Always = "always",
        /// Never: a standard resume is a fresh launch that re-attaches the environment.
        Never = "never",
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;
    use std::str::FromStr;

    use super::*;

    /// Every value in `all` displays as its token and parses back from it.
    fn assert_round_trips<T>(all: &[T])
    where
        T: Copy + fmt::Debug + fmt::Display + PartialEq + FromStr<Err = ModeError>,
    {
        for &mode in all {
            assert_eq!(mode.to_string().parse::<T>(), Ok(mode));
        }
    }

    #[test]
    fn tokens_round_trip() {
        assert_round_trips(&LaunchMode::ALL);
        assert_round_trips(&SpawnMode::ALL);
        assert_round_trips(&PermissionMode::ALL);
        assert_round_trips(&Sandbox::ALL);
        assert_round_trips(&StandardResume::ALL);
        for mode in LaunchMode::ALL {
            assert_eq!(mode.to_string(), mode.as_token());
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

    /// `field | message` of the refusal of `input` as a `T`.
    fn refusal<T: FromStr<Err = ModeError> + fmt::Debug>(input: &str) -> String {
        let err = input.parse::<T>().expect_err(input);
        format!("{} | {err}\n", err.field())
    }

    #[test]
    fn refusals_carry_the_spec_texts() {
        let refusals = [
            refusal::<LaunchMode>("tmux"),
            refusal::<LaunchMode>("Standard"),
            refusal::<SpawnMode>("turbo"),
            refusal::<SpawnMode>("same_dir"),
            refusal::<PermissionMode>("yolo"),
            refusal::<PermissionMode>("acceptedits"),
            refusal::<PermissionMode>("Default"),
            refusal::<Sandbox>("maybe"),
            refusal::<StandardResume>("sometimes"),
            refusal::<LaunchMode>("pt\u{202e}y"),
        ];
        insta::assert_snapshot!(refusals.concat(), @r"
        resume_mode | invalid resume_mode 'tmux'; expected standard or pty
        resume_mode | invalid resume_mode 'Standard'; expected standard or pty
        spawn_mode | invalid spawn_mode 'turbo'; expected same-dir, worktree or session
        spawn_mode | invalid spawn_mode 'same_dir'; expected same-dir, worktree or session
        permission_mode | invalid permission_mode 'yolo'
        permission_mode | invalid permission_mode 'acceptedits'
        permission_mode | invalid permission_mode 'Default'
        sandbox | invalid sandbox 'maybe'; expected default, on or off
        claude.standard_resume | invalid claude.standard_resume 'sometimes'; expected auto, always or never
        resume_mode | invalid resume_mode 'pt\u{202e}y'; expected standard or pty
        ");
    }
}
