//! The PTY keeper's files (pty.md §5.1, §6): the discovery sidecar `<stem>.keeper.json`, the
//! screen-frame sidecar `<stem>.screen.json`, their tolerant readers, the blocking-prompt
//! patterns of §4.4, and the facts the keeper takes from the bridge argv.
//!
//! The keeper writes these files and the server reads them; both sides use the types here so
//! the field names cannot drift apart. Readers treat anything doubtful as "no data" and keep
//! their last good read, because they may catch a file the keeper is replacing.

use serde::{Deserialize, Serialize};

use crate::names::{ConversationId, WorktreeName};

/// The sidecar schema this build writes.
pub const SIDECAR_SCHEMA: u32 = 2;

/// How deep a sidecar's JSON may nest before the reader gives up on it.
pub const MAX_DEPTH: usize = 16;

/// The keeper's view of its bridge (`state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeeperState {
    Starting,
    Ready,
    Error,
    Exited,
}

/// Why the keeper said `ready` (`ready_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadyReason {
    /// The connect URL was read from the screen.
    Url,
    /// No URL within `--url-timeout` seconds; the bridge is alive (pty.md §5.2 item 3).
    Timeout,
}

/// A blocking prompt seen on the screen while starting (`prompt`, pty.md §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptKind {
    Trust,
    RcConsent,
    BypassConsent,
    Login,
}

/// The screen text of each blocking prompt, matched case-insensitively against the rendered
/// screen. Kept here so it can be corrected against real builds without touching the keeper.
pub const PROMPT_PATTERNS: [(PromptKind, &str); 4] = [
    (PromptKind::Trust, "Do you trust the files"),
    (PromptKind::RcConsent, "Enable Remote Control?"),
    (PromptKind::BypassConsent, "Bypass Permissions mode"),
    (PromptKind::Login, "Select login method"),
];

/// The first prompt of [`PROMPT_PATTERNS`] whose text appears in `screen` (case-insensitive).
pub fn detect_prompt(screen: &str) -> Option<PromptKind> {
    let haystack = screen.to_lowercase();
    PROMPT_PATTERNS
        .iter()
        .find(|(_, text)| haystack.contains(&text.to_lowercase()))
        .map(|(kind, _)| *kind)
}

/// How the bridge ended, present once `state` is `exited` (both keys appear together).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeExit {
    /// The exit code; for a death by signal, minus the signal number; `null` when the keeper
    /// could not learn it (the bridge was reaped by someone else).
    pub bridge_exit: Option<i32>,
    /// The last rows of the screen (pty.md §5.3), redacted; `null` when nothing was drawn.
    pub exit_screen: Option<String>,
}

/// The discovery sidecar (pty.md §5.1). Field names and order are the file's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    pub schema: u32,
    pub keeper_pid: i32,
    #[serde(default)]
    pub bridge_pid: Option<i32>,
    /// Seconds since the epoch (fractional), from the same `/proc` read as the ticks.
    #[serde(default)]
    pub bridge_proc_start: Option<f64>,
    #[serde(default)]
    pub bridge_start_ticks: Option<u64>,
    #[serde(default)]
    pub boot_id: Option<String>,
    #[serde(default)]
    pub connect_url: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub worktree_name: Option<String>,
    pub state: KeeperState,
    #[serde(default)]
    pub ready_reason: Option<ReadyReason>,
    #[serde(default)]
    pub prompt: Option<PromptKind>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<BridgeExit>,
    #[serde(default)]
    pub updated_at: String,
    #[serde(default)]
    pub claude_session_uuid: Option<String>,
}

impl Sidecar {
    /// The first sidecar a keeper writes: `starting`, its own pid, and what the bridge argv
    /// tells (worktree name, resumed conversation).
    pub fn starting(keeper_pid: i32, bridge_argv: &[String], updated_at: String) -> Self {
        Self {
            schema: SIDECAR_SCHEMA,
            keeper_pid,
            bridge_pid: None,
            bridge_proc_start: None,
            bridge_start_ticks: None,
            boot_id: None,
            connect_url: None,
            session_id: None,
            worktree_name: worktree_from_argv(bridge_argv),
            state: KeeperState::Starting,
            ready_reason: None,
            prompt: None,
            error: None,
            note: None,
            exit: None,
            updated_at,
            claude_session_uuid: resumed_conversation(bridge_argv),
        }
    }

    /// The file's bytes (pretty JSON, one trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

/// Reads a sidecar; `None` ("no data") for a missing (empty), partial, non-UTF-8, invalid,
/// deeper than [`MAX_DEPTH`], or non-object file, or one without `schema`, `keeper_pid` and
/// `state`.
pub fn parse_sidecar(bytes: &[u8]) -> Option<Sidecar> {
    parse_object(bytes)
}

/// The state of a screen frame (pty.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameState {
    Live,
    /// The final frame, written after the bridge exited.
    Exited,
    /// The emulator is unusable; `screen` is `null` and `error` says why.
    Error,
}

/// The visible rows and the cursor of a frame: the wire's own types, so the dashboard reads
/// the grid the keeper wrote.
pub use clauster_wire::{PtyCursor, PtyScreen};

/// One frame of the screen sidecar (pty.md §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenFrame {
    /// 1 for the first frame, one more per frame.
    pub seq: u64,
    pub state: FrameState,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub screen: Option<PtyScreen>,
}

impl ScreenFrame {
    /// The file's bytes (compact JSON).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Reads a screen frame with the same tolerance as [`parse_sidecar`].
pub fn parse_frame(bytes: &[u8]) -> Option<ScreenFrame> {
    parse_object(bytes)
}

fn parse_object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let text = std::str::from_utf8(bytes).ok()?;
    // Nesting is checked before the parser, so a hostile file cannot make it recurse deeply.
    if !text.trim_start().starts_with('{') || crate::claude_json::max_nesting(text) > MAX_DEPTH {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// The value of `--worktree <name>` (or `--worktree=<name>`) in a bridge argv, when it is a
/// valid Clauster worktree name (pty.md §8).
pub fn worktree_from_argv(argv: &[String]) -> Option<String> {
    flag_value(argv, &["--worktree", "-w"])
        .and_then(|v| WorktreeName::parse(v).ok())
        .map(|w| w.as_str().to_owned())
}

/// The conversation a bridge argv resumes: `--resume <uuid>` without `--fork-session`
/// (pty.md §5.1 `claude_session_uuid`). A value that is not a conversation id is ignored.
pub fn resumed_conversation(argv: &[String]) -> Option<String> {
    if argv.iter().any(|a| a == "--fork-session") {
        return None;
    }
    flag_value(argv, &["--resume", "-r"])
        .and_then(|v| ConversationId::new(v).ok())
        .map(|id| id.as_str().to_owned())
}

fn flag_value<'a>(argv: &'a [String], names: &[&str]) -> Option<&'a str> {
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        if names.contains(&arg.as_str()) {
            return it
                .next()
                .map(String::as_str)
                .filter(|v| !v.starts_with('-'));
        }
        if let Some((name, value)) = arg.split_once('=')
            && names.contains(&name)
        {
            return Some(value);
        }
    }
    None
}

pub use crate::timestamp::rfc3339_millis;

#[cfg(test)]
mod tests;
