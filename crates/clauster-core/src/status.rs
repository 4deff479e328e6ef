//! Bridge status: the five status values (bridges.md §7.1), the status machine of §7.7 as a
//! pure transition function, and the failure classifier of §7.6 (`error_kind`, hint, detail).
//!
//! The engine feeds events in and carries out the side effects it gets back; nothing here
//! touches a process or a file. The machine answers "what happens", the classifier "why it
//! failed", so the engine never re-derives either rule by itself.

use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};

use crate::modes::SpawnMode;
use crate::names::echo;
use crate::token_enum::token_enum;

/// Most characters kept in `error_detail` (bridges.md §7.6).
pub const ERROR_DETAIL_MAX_CHARS: usize = 2_000;

/// The detail of a row found at startup with no pid recorded (bridges.md §11 step 3).
pub const DETAIL_LAUNCH_INTERRUPTED: &str =
    "Clauster stopped before this bridge finished launching";
/// Its hint: nothing is wrong with `claude`, only the launch was cut short.
pub const HINT_LAUNCH_INTERRUPTED: &str = "Resume starts it again.";

token_enum! {
    /// A bridge status. These five are the only values (bridges.md §7.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Status else UnknownStatus {
        /// Launched, not yet proven usable.
        Starting = "starting",
        /// Readiness evidence seen while the process was alive.
        Running = "running",
        /// Ended on purpose, as expected, cleanly, or found dead after Clauster was down.
        Stopped = "stopped",
        /// Was running and ended unexpectedly.
        Crashed = "crashed",
        /// Could not become usable.
        Error = "error",
    }
}

impl Status {
    /// `starting` or `running`: counts against `max_bridges`, cannot be forgotten or resumed.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Starting | Self::Running)
    }
}

/// A status token read back from the store that is not one of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown bridge status '{}'; expected starting, running, stopped, crashed or error",
    echo(.0)
)]
pub struct UnknownStatus(pub String);

token_enum! {
    /// What the engine does at the startup deadline of a bridge that is alive but not ready
    /// (`claude.stalled_bridge_action`, bridges.md §7.5).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub enum StalledBridgeAction else UnknownStalledAction {
        /// Terminate it; it stays `error`.
        #[default]
        Stop = "stop",
        /// Leave it alive as `error`; a later readiness promotes it to `running`.
        Keep = "keep",
    }
}

/// A `claude.stalled_bridge_action` that is neither `stop` nor `keep`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid claude.stalled_bridge_action '{}'; expected stop or keep", echo(.0))]
pub struct UnknownStalledAction(pub String);

/// How a bridge process ended, as far as Clauster can know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Exited with this code (a child of the server, or a pty bridge via the sidecar).
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Not our child (re-parented after a server restart, or adopted): only "gone" is known.
    Unknown,
}

/// The facts about a bridge that disappeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub status: ExitStatus,
    /// `[bridge:shutdown]` with SIGINT/SIGTERM/"shutting down" was logged (bridges.md §7.2).
    pub clean_shutdown_logged: bool,
    /// A failure marker was found: any text row of the classifier, a pty prompt, or poison
    /// (see [`FailureEvidence::has_failure_marker`]).
    pub failure_marker: bool,
}

/// Something that happened to a bridge (bridges.md §7.7, "Event" column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The process was spawned (from no record, or from the `starting` row persisted before
    /// the launch, bridges.md §6 step 16).
    LaunchSucceeded,
    /// The process could not be started.
    LaunchFailed,
    /// Readiness evidence while the process is alive.
    Ready,
    /// An `end_session` poison marker (archived or deleted session).
    PoisonMarker,
    /// pty: the keeper saw a prompt the TUI waits on (pty.md §4.4, §5.2).
    BlockingPrompt,
    /// The process is gone.
    ProcessGone(Exit),
    /// `launched_at + startup_grace_seconds` passed while `starting`.
    Deadline,
    /// The operator's Stop.
    Stop,
    /// Resume or Start fresh.
    Resume,
    /// Forget (delete the record).
    Forget,
    /// Rediscovery found the recorded bridge dead after Clauster was down.
    FoundDeadAtStartup,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Self::LaunchSucceeded => "launch succeeded",
            Self::LaunchFailed => "launch failed",
            Self::Ready => "ready",
            Self::PoisonMarker => "poison marker",
            Self::BlockingPrompt => "blocking prompt",
            Self::ProcessGone(_) => "process gone",
            Self::Deadline => "startup deadline",
            Self::Stop => "stop",
            Self::Resume => "resume",
            Self::Forget => "forget",
            Self::FoundDeadAtStartup => "found dead at startup",
        }
    }
}

/// Facts of the instance that some transitions depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Context {
    /// The row's `intentional_stop` (set by a Stop before any signal).
    pub intentional_stop: bool,
    pub spawn_mode: SpawnMode,
    pub stalled_action: StalledBridgeAction,
    /// The recorded bridge or keeper identity is still alive (matters for `error` rows).
    pub bridge_alive: bool,
    /// This launch continues a conversation: standard `--continue` or pty `--resume <own
    /// uuid>` / `--continue`. Its early end may fall back to a fresh launch (§9.2, §9.3).
    pub resumes_conversation: bool,
}

/// The events of the push stream and the event log (bridges.md §7.7, "Side effects").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BridgeEvent {
    Spawn,
    Ready,
    Crash,
    Stop,
    Interrupted,
}

impl BridgeEvent {
    pub fn as_token(self) -> &'static str {
        match self {
            Self::Spawn => "spawn",
            Self::Ready => "ready",
            Self::Crash => "crash",
            Self::Stop => "stop",
            Self::Interrupted => "interrupted",
        }
    }
}

/// Why an instance is entering `error`: the input of [`classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCause {
    /// The process could not be started.
    LaunchFailed,
    /// A poison marker was seen while starting.
    Poisoned,
    /// The process ended before readiness.
    EndedBeforeReady,
    /// The startup deadline passed while the process was alive.
    Deadline,
}

/// What the engine must do for a transition, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Publish this event (push stream and event log).
    Publish(BridgeEvent),
    /// Run the classifier for this cause and store `error_kind`, `error_detail`, `error_hint`.
    Classify(FailureCause),
    /// Clear `error_kind`, `error_detail`, `error_hint` (an `error` row promoted to `running`).
    ClearError,
    SetReadyAt,
    SetEndedAt,
    IncrementCrashCount,
    /// Set `intentional_stop = true` and `stopping = true` and persist, before any signal
    /// (§8.1 step 3).
    MarkStopping,
    /// Terminate the process tree (§8.2 T1–T4). For Stop, `stopping` is cleared afterwards.
    Terminate,
    /// Kill what is left in the bridge's session (§8.2 T2): done whenever a bridge is seen gone.
    SessionSweep,
    /// Strip the session id from the project's bridge pointer (§17.3).
    StripPointerSession,
    /// When the classified kind allows it ([`ErrorKind::allows_fresh_fallback`]), relaunch
    /// once with the fresh argv (§9.2, §9.3).
    FreshFallback,
    /// Clear `intentional_stop`, the error fields, `ready_at`, `ended_at`; increment
    /// `launch_count`; allocate a new log set (§9.1).
    ResetForRelaunch,
    /// Delete the row (§9.5).
    DeleteRecord,
}

/// Where a transition leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Status(Status),
    /// The record is forgotten.
    Removed,
}

/// The outcome of applying an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub next: Next,
    pub effects: Vec<Effect>,
}

impl Transition {
    fn to(status: Status, effects: Vec<Effect>) -> Self {
        Self {
            next: Next::Status(status),
            effects,
        }
    }
}

/// An event that does not apply to the current status. The engine keeps the status as it is;
/// for requests it answers with its own text (e.g. 409 for Forget of a live instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot apply '{}' to a bridge that is {}; its status stays as it is", .event.name(), .from.map_or("not yet recorded", Status::as_token))]
pub struct IllegalTransition {
    pub from: Option<Status>,
    pub event: Event,
}

/// Applies `event` to an instance whose status is `from` (`None`: no record yet).
pub fn transition(
    from: Option<Status>,
    event: Event,
    ctx: &Context,
) -> Result<Transition, IllegalTransition> {
    use Effect::{
        Classify, ClearError, Publish, ResetForRelaunch, SessionSweep, SetEndedAt, SetReadyAt,
        StripPointerSession, Terminate,
    };
    use Status::{Crashed, Error, Running, Starting, Stopped};

    let illegal = Err(IllegalTransition { from, event });
    let Some(from) = from else {
        return match event {
            Event::LaunchSucceeded => {
                Ok(Transition::to(Starting, vec![Publish(BridgeEvent::Spawn)]))
            }
            Event::LaunchFailed => Ok(Transition::to(
                Error,
                vec![Classify(FailureCause::LaunchFailed), SetEndedAt],
            )),
            _ => illegal,
        };
    };

    let transition = match (from, event) {
        // A row persisted as `starting` before its launch (§6 steps 16–17).
        (Starting, Event::LaunchSucceeded) => {
            Transition::to(Starting, vec![Publish(BridgeEvent::Spawn)])
        }
        (Starting, Event::LaunchFailed) => Transition::to(
            Error,
            vec![Classify(FailureCause::LaunchFailed), SetEndedAt],
        ),

        (Starting, Event::Ready) => {
            Transition::to(Running, vec![SetReadyAt, Publish(BridgeEvent::Ready)])
        }
        // Evidence keeps arriving while running; nothing to do.
        (Running, Event::Ready) => Transition::to(Running, vec![]),
        // Only a kept stalled bridge is still alive in `error`; with `stop` it was terminated.
        (Error, Event::Ready)
            if ctx.stalled_action == StalledBridgeAction::Keep && ctx.bridge_alive =>
        {
            Transition::to(
                Running,
                vec![ClearError, SetReadyAt, Publish(BridgeEvent::Ready)],
            )
        }

        (Starting, Event::PoisonMarker) => Transition::to(
            Error,
            vec![
                Classify(FailureCause::Poisoned),
                Terminate,
                StripPointerSession,
            ],
        ),

        // The TUI waits for an answer nobody will give: classified from the prompt, ended.
        (Starting, Event::BlockingPrompt) => Transition::to(
            Error,
            vec![Classify(FailureCause::EndedBeforeReady), Terminate],
        ),

        (Starting, Event::ProcessGone(exit)) => starting_gone(exit, *ctx),
        (Running, Event::ProcessGone(exit)) => running_gone(exit, *ctx),
        (Error, Event::ProcessGone(_)) => Transition::to(Error, vec![SetEndedAt, SessionSweep]),
        // A late exit notice of a bridge whose end was already applied.
        (Stopped | Crashed, Event::ProcessGone(_)) => Transition::to(from, vec![SessionSweep]),

        (Starting, Event::Deadline) => {
            let mut effects = vec![Classify(FailureCause::Deadline)];
            if ctx.stalled_action == StalledBridgeAction::Stop {
                effects.push(Terminate);
            }
            Transition::to(Error, effects)
        }

        (Starting | Running, Event::Stop) => stop(),
        (Error, Event::Stop) if ctx.bridge_alive => stop(),
        // A dead row is returned unchanged; nothing is written or signalled (§8.1 step 2).
        (Stopped | Crashed | Error, Event::Stop) => Transition::to(from, vec![]),

        // An `error` row whose bridge is still alive (kept stalled) must be stopped first:
        // resuming it would put a second bridge in the same directory.
        (Stopped | Crashed, Event::Resume) => Transition::to(Starting, vec![ResetForRelaunch]),
        (Error, Event::Resume) if !ctx.bridge_alive => {
            Transition::to(Starting, vec![ResetForRelaunch])
        }

        (Stopped | Crashed, Event::Forget) => removed(),
        (Error, Event::Forget) if !ctx.bridge_alive => removed(),

        // `intentional_stop` is kept as stored: false shows as "Interrupted".
        (Starting | Running, Event::FoundDeadAtStartup) => {
            Transition::to(Stopped, vec![SetEndedAt, SessionSweep])
        }
        // Dead rows keep their status and details; `ended_at` is filled in if missing.
        (Stopped | Crashed | Error, Event::FoundDeadAtStartup) => {
            Transition::to(from, vec![SetEndedAt])
        }

        _ => return illegal,
    };
    Ok(transition)
}

fn stop() -> Transition {
    Transition::to(
        Status::Stopped,
        vec![
            Effect::MarkStopping,
            Effect::Terminate,
            Effect::SetEndedAt,
            Effect::Publish(BridgeEvent::Stop),
        ],
    )
}

fn removed() -> Transition {
    Transition {
        next: Next::Removed,
        effects: vec![Effect::StripPointerSession, Effect::DeleteRecord],
    }
}

fn starting_gone(exit: Exit, ctx: Context) -> Transition {
    let ended = [Effect::SetEndedAt, Effect::SessionSweep];
    // A Stop of a starting bridge is in progress (intentional_stop is persisted before the
    // first signal): its exit is the stop, not a failure.
    if ctx.intentional_stop {
        return Transition::to(
            Status::Stopped,
            [&ended[..], &[Effect::Publish(BridgeEvent::Stop)]].concat(),
        );
    }
    if matches!(exit.status, ExitStatus::Signal(_)) && !exit.failure_marker {
        return Transition::to(
            Status::Crashed,
            [
                &ended[..],
                &[
                    Effect::IncrementCrashCount,
                    Effect::Publish(BridgeEvent::Crash),
                ],
            ]
            .concat(),
        );
    }
    let mut effects = vec![Effect::Classify(FailureCause::EndedBeforeReady)];
    effects.extend(ended);
    if ctx.resumes_conversation {
        effects.push(Effect::FreshFallback);
    }
    Transition::to(Status::Error, effects)
}

fn running_gone(exit: Exit, ctx: Context) -> Transition {
    let ended = [Effect::SetEndedAt, Effect::SessionSweep];
    let (status, tail): (Status, &[Effect]) =
        if ctx.intentional_stop || ctx.spawn_mode == SpawnMode::Session {
            (Status::Stopped, &[Effect::Publish(BridgeEvent::Stop)])
        } else if exit.clean_shutdown_logged || exit.status == ExitStatus::Code(0) {
            (
                Status::Stopped,
                &[Effect::Publish(BridgeEvent::Interrupted)],
            )
        } else {
            (
                Status::Crashed,
                &[
                    Effect::IncrementCrashCount,
                    Effect::Publish(BridgeEvent::Crash),
                ],
            )
        };
    Transition::to(status, [&ended[..], tail].concat())
}

token_enum! {
    /// Why a bridge could not become usable (`error_kind`, bridges.md §7.6). The variants are
    /// in the classifier's row order: the first matching row wins.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ErrorKind else UnknownErrorKind {
        LaunchFailed = "launch_failed",
        NotTrusted = "not_trusted",
        NotLoggedIn = "not_logged_in",
        NotEligible = "not_eligible",
        Offline = "offline",
        RcNotAcknowledged = "rc_not_acknowledged",
        PoisonedSession = "poisoned_session",
        ContinueUnavailable = "continue_unavailable",
        StartupTimeout = "startup_timeout",
        ExitedEarly = "exited_early",
        /// Never classified: the engine's verdict after `restart_burst` failures (§7.9).
        CrashLoop = "crash_loop",
    }
}

impl ErrorKind {
    /// The operator's next step for this kind (bridges.md §7.6, `error_hint`).
    pub fn hint(self) -> &'static str {
        match self {
            Self::LaunchFailed => "Check claude.binary / PATH (see clauster doctor).",
            Self::NotTrusted => "Trust the directory, then Resume.",
            Self::NotLoggedIn => {
                "Log in once on this host as the service user: run claude auth login."
            }
            Self::NotEligible => {
                "Remote Control needs a claude.ai subscription login; API keys and setup-token tokens do not work."
            }
            Self::Offline => "This host cannot reach Anthropic's API.",
            Self::RcNotAcknowledged => {
                "Turn on claude.auto_enable_remote_control, or run claude once on this host and accept Remote Control."
            }
            Self::PoisonedSession => {
                "The previous session was archived or deleted on claude.ai; Resume starts a fresh one."
            }
            // Normally never shown: the engine falls back to a fresh launch at once.
            Self::ContinueUnavailable => {
                "The previous conversation could not be continued; use Start new session."
            }
            Self::StartupTimeout => {
                "The bridge never registered with claude.ai; see the log, check login and network."
            }
            Self::ExitedEarly => "The bridge exited during startup; see the log.",
            Self::CrashLoop => {
                "The bridge kept failing, so Clauster stopped restarting it; see the log, then Resume."
            }
        }
    }

    /// Whether a failed `--continue` / `--resume <own uuid>` launch is relaunched fresh: not
    /// when the cause would stop a fresh launch just the same (§9.2, §9.3).
    pub fn allows_fresh_fallback(self) -> bool {
        !matches!(
            self,
            Self::NotTrusted
                | Self::NotLoggedIn
                | Self::NotEligible
                | Self::Offline
                | Self::RcNotAcknowledged
        )
    }
}

/// An `error_kind` token read back from the store that is not a known kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error_kind '{}'", echo(.0))]
pub struct UnknownErrorKind(pub String);

token_enum! {
    /// A blocking prompt the keeper saw on a pty bridge's screen (sidecar `prompt`, pty.md §4.4).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum PtyPrompt else UnknownPtyPrompt {
        Trust = "trust",
        RcConsent = "rc_consent",
        BypassConsent = "bypass_consent",
        Login = "login",
    }
}

/// A sidecar `prompt` value that is not a known prompt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown pty prompt '{}'", echo(.0))]
pub struct UnknownPtyPrompt(pub String);

/// The hint for a pty bridge stopped at the bypass-permissions consent prompt (pty.md §5.2).
pub const BYPASS_CONSENT_HINT: &str = "accept bypass mode once in an interactive claude session";

/// Which texts the classifier reads. All of them must already be redacted (bridges.md §14):
/// the detail is persisted and shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailureEvidence<'a> {
    /// The debug log (parse source) of the launch.
    pub debug_log: &'a str,
    /// Standard: the stdout/stderr capture. Empty for pty (the TUI writes nothing useful).
    pub capture: &'a str,
    /// pty: the keeper's `exit_screen`.
    pub exit_screen: Option<&'a str>,
    /// pty: the sidecar's `error`.
    pub sidecar_error: Option<&'a str>,
    /// pty: the sidecar's `prompt`.
    pub prompt: Option<PtyPrompt>,
    /// A poison marker was parsed from the debug log.
    pub poisoned: bool,
    /// The launch continued a conversation (`--continue`, pty `--resume <own uuid>`).
    pub resumes_conversation: bool,
    /// The OS error of a failed spawn, for `launch_failed`.
    pub launch_error: Option<&'a str>,
    /// `claude.startup_grace_seconds`, quoted in the `startup_timeout` detail.
    pub startup_grace_seconds: f64,
    /// How the process ended, when it did: the detail of a bridge that printed nothing.
    pub exit: Option<ExitStatus>,
}

impl FailureEvidence<'_> {
    fn texts(&self) -> impl Iterator<Item = &str> {
        [self.debug_log, self.capture]
            .into_iter()
            .chain(self.exit_screen)
            .chain(self.sidecar_error)
    }

    /// The first text row that matches, if any (rows 2–6 of the §7.6 table).
    fn text_kind(&self) -> Option<ErrorKind> {
        TEXT_ROWS
            .iter()
            .find(|(_, pattern)| self.texts().any(|text| pattern.is_match(text)))
            .map(|(kind, _)| *kind)
    }

    fn prompt_kind(&self) -> Option<ErrorKind> {
        match self.prompt? {
            PtyPrompt::Trust => Some(ErrorKind::NotTrusted),
            PtyPrompt::Login => Some(ErrorKind::NotLoggedIn),
            PtyPrompt::RcConsent => Some(ErrorKind::RcNotAcknowledged),
            PtyPrompt::BypassConsent => None,
        }
    }

    /// "Any failure marker" of §7.7: a text row, a blocking prompt or a poison marker. A
    /// starting bridge killed by a signal is `crashed` only without one.
    pub fn has_failure_marker(&self) -> bool {
        self.poisoned || self.prompt.is_some() || self.text_kind().is_some()
    }

    /// `error_detail`: the last 2 000 characters of the capture (standard) or the exit screen,
    /// else the sidecar error (pty), else the debug log.
    fn detail_source(&self) -> &str {
        let present = |s: &&str| !s.trim().is_empty();
        [Some(self.capture), self.exit_screen, self.sidecar_error]
            .into_iter()
            .flatten()
            .find(present)
            .unwrap_or(self.debug_log)
    }
}

/// The classifier's answer: what is stored on the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub hint: &'static str,
    pub detail: String,
}

/// Builds a case-insensitive pattern for a phrase whose words may be separated by any run of
/// whitespace: a rendered screen or a wrapped capture may break a phrase over two rows.
fn phrase_pattern(phrases: &[&str]) -> Regex {
    let alternatives: Vec<String> = phrases
        .iter()
        .map(|phrase| {
            phrase
                .split_whitespace()
                .map(regex::escape)
                .collect::<Vec<_>>()
                .join(r"\s+")
        })
        .collect();
    RegexBuilder::new(&alternatives.join("|"))
        .case_insensitive(true)
        .build()
        .expect("classifier phrases compile")
}

/// The text rows of §7.6, in order (case-insensitive substrings).
static TEXT_ROWS: LazyLock<[(ErrorKind, Regex); 5]> = LazyLock::new(|| {
    [
        (
            ErrorKind::NotTrusted,
            phrase_pattern(&["Workspace not trusted"]),
        ),
        (
            ErrorKind::NotLoggedIn,
            phrase_pattern(&["must be logged in"]),
        ),
        (
            ErrorKind::NotEligible,
            phrase_pattern(&[
                "requires a claude.ai subscription",
                "not yet enabled for your account",
                "disabled by your organization",
                "verify Remote Control eligibility",
                "full-scope login token",
                "Unable to determine your organization",
            ]),
        ),
        (
            ErrorKind::Offline,
            phrase_pattern(&["Unable to connect to Anthropic services"]),
        ),
        (
            ErrorKind::RcNotAcknowledged,
            phrase_pattern(&["Remote Control was not enabled", "Enable Remote Control?"]),
        ),
    ]
});

/// Classifies a failure (bridges.md §7.6): the first matching row of the table decides.
pub fn classify(cause: FailureCause, evidence: &FailureEvidence<'_>) -> Failure {
    let kind = classify_kind(cause, evidence);
    let hint =
        if kind == ErrorKind::ExitedEarly && evidence.prompt == Some(PtyPrompt::BypassConsent) {
            BYPASS_CONSENT_HINT
        } else {
            kind.hint()
        };
    let detail = match (cause, evidence.launch_error) {
        (FailureCause::LaunchFailed, Some(error)) => tail_chars(error, ERROR_DETAIL_MAX_CHARS),
        (FailureCause::Deadline, _) => {
            let note = format!(
                "alive but never registered an environment within {} s",
                evidence.startup_grace_seconds
            );
            let source = evidence.detail_source().trim_end();
            let joined = if source.is_empty() {
                note
            } else {
                format!("{source}\n{note}")
            };
            tail_chars(&joined, ERROR_DETAIL_MAX_CHARS)
        }
        (FailureCause::EndedBeforeReady, _) if evidence.detail_source().trim().is_empty() => {
            silent_end(evidence.exit)
        }
        _ => tail_chars(evidence.detail_source(), ERROR_DETAIL_MAX_CHARS),
    };
    Failure { kind, hint, detail }
}

/// The detail of a bridge that ended before readiness without a word in its output or log:
/// how it ended, at least.
fn silent_end(exit: Option<ExitStatus>) -> String {
    let how = match exit {
        Some(ExitStatus::Code(code)) => format!("exited with code {code}"),
        Some(ExitStatus::Signal(signal)) => format!("was killed by signal {signal}"),
        Some(ExitStatus::Unknown) | None => "ended".to_owned(),
    };
    format!("the bridge {how} during startup and wrote nothing to its output or debug log")
}

fn classify_kind(cause: FailureCause, evidence: &FailureEvidence<'_>) -> ErrorKind {
    if cause == FailureCause::LaunchFailed {
        return ErrorKind::LaunchFailed;
    }
    // A blocking prompt is what the keeper actually saw; rows 2–6 in table order otherwise.
    let row = match (evidence.prompt_kind(), evidence.text_kind()) {
        (Some(a), Some(b)) => Some(if a.row() <= b.row() { a } else { b }),
        (a, b) => a.or(b),
    };
    if let Some(kind) = row {
        return kind;
    }
    if evidence.poisoned || cause == FailureCause::Poisoned {
        return ErrorKind::PoisonedSession;
    }
    if evidence.prompt == Some(PtyPrompt::BypassConsent) {
        // pty.md §5.2: shown as an early exit with its own hint; never a continue failure.
        return ErrorKind::ExitedEarly;
    }
    match cause {
        FailureCause::Deadline => ErrorKind::StartupTimeout,
        _ if evidence.resumes_conversation => ErrorKind::ContinueUnavailable,
        _ => ErrorKind::ExitedEarly,
    }
}

impl ErrorKind {
    fn row(self) -> usize {
        Self::ALL
            .iter()
            .position(|k| *k == self)
            .unwrap_or(usize::MAX)
    }
}

/// The last `max` characters of `text` (Unicode scalar values, never a split character).
fn tail_chars(text: &str, max: usize) -> String {
    match text.char_indices().rev().nth(max.saturating_sub(1)) {
        Some((start, _)) if max > 0 => text[start..].to_owned(),
        _ if max == 0 => String::new(),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BridgeEvent as B;
    use Effect::{
        ClearError, DeleteRecord, FreshFallback, IncrementCrashCount, MarkStopping, Publish,
        ResetForRelaunch, SessionSweep, SetEndedAt, SetReadyAt, StripPointerSession, Terminate,
    };
    use Status::{Crashed, Error, Running, Starting, Stopped};

    const NOT_LOGGED_IN: &str = include_str!("../tests/fixtures/status/not-logged-in.out");
    const PTY_OFFLINE_SCREEN: &str =
        include_str!("../tests/fixtures/status/pty-offline-exit-screen.txt");
    const DEBUG_TRUST_ERROR: &str = include_str!("../tests/fixtures/status/debug-trust-error.log");

    fn gone(status: ExitStatus) -> Event {
        Event::ProcessGone(Exit {
            status,
            clean_shutdown_logged: false,
            failure_marker: false,
        })
    }

    fn gone_clean(status: ExitStatus) -> Event {
        Event::ProcessGone(Exit {
            status,
            clean_shutdown_logged: true,
            failure_marker: false,
        })
    }

    fn gone_marked(status: ExitStatus) -> Event {
        Event::ProcessGone(Exit {
            status,
            clean_shutdown_logged: false,
            failure_marker: true,
        })
    }

    fn ctx() -> Context {
        Context::default()
    }

    fn with(f: impl FnOnce(&mut Context)) -> Context {
        let mut c = Context::default();
        f(&mut c);
        c
    }

    /// The expected answer of one row of the transition table.
    #[derive(Debug, Clone, PartialEq)]
    enum Expect {
        To(Transition),
        Illegal,
    }

    type Case = (&'static str, Option<Status>, Event, Context, Expect);

    fn to(status: Status, effects: &[Effect]) -> Expect {
        Expect::To(Transition::to(status, effects.to_vec()))
    }

    /// The transition table of bridges.md §7.7 as the engine computes it, one row per
    /// (from, event) with the default context, then the rows a context fact changes. Read it
    /// against the spec's table; `cargo insta review` shows any change.
    #[test]
    fn transition_table_reads_like_the_spec() {
        use std::fmt::Write as _;
        let exit = |status, clean, marker| {
            Event::ProcessGone(Exit {
                status,
                clean_shutdown_logged: clean,
                failure_marker: marker,
            })
        };
        let events = [
            ("launch succeeded", Event::LaunchSucceeded),
            ("launch failed", Event::LaunchFailed),
            ("ready", Event::Ready),
            ("poison marker", Event::PoisonMarker),
            ("blocking prompt", Event::BlockingPrompt),
            ("gone: exit 0", exit(ExitStatus::Code(0), false, false)),
            ("gone: exit 1", exit(ExitStatus::Code(1), false, false)),
            ("gone: SIGTERM", exit(ExitStatus::Signal(15), false, false)),
            ("gone: unknown", exit(ExitStatus::Unknown, false, false)),
            (
                "gone: clean shutdown logged",
                exit(ExitStatus::Unknown, true, false),
            ),
            (
                "gone: failure marker",
                exit(ExitStatus::Code(1), false, true),
            ),
            ("startup deadline", Event::Deadline),
            ("stop", Event::Stop),
            ("resume", Event::Resume),
            ("forget", Event::Forget),
            ("found dead at startup", Event::FoundDeadAtStartup),
        ];
        let froms = [
            None,
            Some(Starting),
            Some(Running),
            Some(Stopped),
            Some(Crashed),
            Some(Error),
        ];
        let contexts: [(&str, Context); 5] = [
            ("intentional_stop", with(|c| c.intentional_stop = true)),
            ("bridge_alive", with(|c| c.bridge_alive = true)),
            (
                "resumes_conversation",
                with(|c| c.resumes_conversation = true),
            ),
            (
                "spawn_mode session",
                with(|c| c.spawn_mode = crate::modes::SpawnMode::Session),
            ),
            (
                "stalled_action keep",
                with(|c| c.stalled_action = StalledBridgeAction::Keep),
            ),
        ];
        let outcome = |from, event, ctx: &Context| match transition(from, event, ctx) {
            Ok(Transition { next, effects }) => {
                let next = match next {
                    Next::Status(status) => status.as_token().to_owned(),
                    Next::Removed => "(removed)".to_owned(),
                };
                let effects: Vec<String> = effects.iter().map(|e| format!("{e:?}")).collect();
                format!("{next} | {}", effects.join(", "))
            }
            Err(_) => "illegal | —".to_owned(),
        };
        let from_name = |from: Option<Status>| from.map_or("—", Status::as_token);
        let mut table = String::from("| from | event | to | effects |\n|---|---|---|---|\n");
        for from in froms {
            for (name, event) in events {
                let _ = writeln!(
                    table,
                    "| {} | {name} | {} |",
                    from_name(from),
                    outcome(from, event, &ctx())
                );
            }
        }
        table.push_str("\n| context | from | event | to | effects |\n|---|---|---|---|---|\n");
        for (context, c) in &contexts {
            for from in froms {
                for (name, event) in events {
                    let changed = outcome(from, event, c);
                    if changed != outcome(from, event, &ctx()) {
                        let _ = writeln!(
                            table,
                            "| {context} | {} | {name} | {changed} |",
                            from_name(from)
                        );
                    }
                }
            }
        }
        insta::assert_snapshot!(table);
    }

    /// Every row of bridges.md §7.7, plus the races the engine must be able to feed in.
    #[test]
    #[allow(clippy::too_many_lines)] // a table: one entry per spec row and race
    fn transition_table() {
        let stop_effects = [MarkStopping, Terminate, SetEndedAt, Publish(B::Stop)];
        let forgotten = Expect::To(Transition {
            next: Next::Removed,
            effects: vec![StripPointerSession, DeleteRecord],
        });
        let cases: Vec<Case> = vec![
            (
                "— launch succeeded",
                None,
                Event::LaunchSucceeded,
                ctx(),
                to(Starting, &[Publish(B::Spawn)]),
            ),
            (
                "— launch failed",
                None,
                Event::LaunchFailed,
                ctx(),
                to(
                    Error,
                    &[Effect::Classify(FailureCause::LaunchFailed), SetEndedAt],
                ),
            ),
            (
                "row persisted before launch: launch succeeded",
                Some(Starting),
                Event::LaunchSucceeded,
                ctx(),
                to(Starting, &[Publish(B::Spawn)]),
            ),
            (
                "row persisted before launch: launch failed",
                Some(Starting),
                Event::LaunchFailed,
                ctx(),
                to(
                    Error,
                    &[Effect::Classify(FailureCause::LaunchFailed), SetEndedAt],
                ),
            ),
            (
                "starting, readiness",
                Some(Starting),
                Event::Ready,
                ctx(),
                to(Running, &[SetReadyAt, Publish(B::Ready)]),
            ),
            (
                "starting, poison marker",
                Some(Starting),
                Event::PoisonMarker,
                ctx(),
                to(
                    Error,
                    &[
                        Effect::Classify(FailureCause::Poisoned),
                        Terminate,
                        StripPointerSession,
                    ],
                ),
            ),
            (
                "starting, exit code 1",
                Some(Starting),
                gone(ExitStatus::Code(1)),
                ctx(),
                to(
                    Error,
                    &[
                        Effect::Classify(FailureCause::EndedBeforeReady),
                        SetEndedAt,
                        SessionSweep,
                    ],
                ),
            ),
            (
                "starting, exit 0 before ready",
                Some(Starting),
                gone(ExitStatus::Code(0)),
                ctx(),
                to(
                    Error,
                    &[
                        Effect::Classify(FailureCause::EndedBeforeReady),
                        SetEndedAt,
                        SessionSweep,
                    ],
                ),
            ),
            (
                "starting, unknown exit status",
                Some(Starting),
                gone(ExitStatus::Unknown),
                ctx(),
                to(
                    Error,
                    &[
                        Effect::Classify(FailureCause::EndedBeforeReady),
                        SetEndedAt,
                        SessionSweep,
                    ],
                ),
            ),
            (
                "starting, signal with a failure marker",
                Some(Starting),
                gone_marked(ExitStatus::Signal(9)),
                ctx(),
                to(
                    Error,
                    &[
                        Effect::Classify(FailureCause::EndedBeforeReady),
                        SetEndedAt,
                        SessionSweep,
                    ],
                ),
            ),
            (
                "starting, continue launch exits: fallback",
                Some(Starting),
                gone(ExitStatus::Code(1)),
                with(|c| c.resumes_conversation = true),
                to(
                    Error,
                    &[
                        Effect::Classify(FailureCause::EndedBeforeReady),
                        SetEndedAt,
                        SessionSweep,
                        FreshFallback,
                    ],
                ),
            ),
            (
                "starting, killed by a signal, no failure marker",
                Some(Starting),
                gone(ExitStatus::Signal(9)),
                ctx(),
                to(
                    Crashed,
                    &[
                        SetEndedAt,
                        SessionSweep,
                        IncrementCrashCount,
                        Publish(B::Crash),
                    ],
                ),
            ),
            (
                "starting, exit while a Stop is in progress",
                Some(Starting),
                gone(ExitStatus::Signal(2)),
                with(|c| c.intentional_stop = true),
                to(Stopped, &[SetEndedAt, SessionSweep, Publish(B::Stop)]),
            ),
            (
                "starting, deadline, stalled action stop",
                Some(Starting),
                Event::Deadline,
                ctx(),
                to(
                    Error,
                    &[Effect::Classify(FailureCause::Deadline), Terminate],
                ),
            ),
            (
                "starting, deadline, stalled action keep",
                Some(Starting),
                Event::Deadline,
                with(|c| c.stalled_action = StalledBridgeAction::Keep),
                to(Error, &[Effect::Classify(FailureCause::Deadline)]),
            ),
            (
                "running, gone after a Stop",
                Some(Running),
                gone(ExitStatus::Signal(2)),
                with(|c| c.intentional_stop = true),
                to(Stopped, &[SetEndedAt, SessionSweep, Publish(B::Stop)]),
            ),
            (
                "running, gone in session spawn mode (even non-zero)",
                Some(Running),
                gone(ExitStatus::Code(3)),
                with(|c| c.spawn_mode = SpawnMode::Session),
                to(Stopped, &[SetEndedAt, SessionSweep, Publish(B::Stop)]),
            ),
            (
                "running, clean shutdown logged without a Stop",
                Some(Running),
                gone_clean(ExitStatus::Unknown),
                ctx(),
                to(
                    Stopped,
                    &[SetEndedAt, SessionSweep, Publish(B::Interrupted)],
                ),
            ),
            (
                "running, exit code 0 without a Stop",
                Some(Running),
                gone(ExitStatus::Code(0)),
                ctx(),
                to(
                    Stopped,
                    &[SetEndedAt, SessionSweep, Publish(B::Interrupted)],
                ),
            ),
            (
                "running, killed by a signal",
                Some(Running),
                gone(ExitStatus::Signal(9)),
                ctx(),
                to(
                    Crashed,
                    &[
                        SetEndedAt,
                        SessionSweep,
                        IncrementCrashCount,
                        Publish(B::Crash),
                    ],
                ),
            ),
            (
                "running, non-zero exit",
                Some(Running),
                gone(ExitStatus::Code(1)),
                ctx(),
                to(
                    Crashed,
                    &[
                        SetEndedAt,
                        SessionSweep,
                        IncrementCrashCount,
                        Publish(B::Crash),
                    ],
                ),
            ),
            (
                "running, unknown exit status, no clean shutdown",
                Some(Running),
                gone(ExitStatus::Unknown),
                ctx(),
                to(
                    Crashed,
                    &[
                        SetEndedAt,
                        SessionSweep,
                        IncrementCrashCount,
                        Publish(B::Crash),
                    ],
                ),
            ),
            (
                "running, readiness again",
                Some(Running),
                Event::Ready,
                ctx(),
                to(Running, &[]),
            ),
            (
                "error, ready while alive with keep",
                Some(Error),
                Event::Ready,
                with(|c| {
                    c.stalled_action = StalledBridgeAction::Keep;
                    c.bridge_alive = true;
                }),
                to(Running, &[ClearError, SetReadyAt, Publish(B::Ready)]),
            ),
            (
                "error, ready with stop",
                Some(Error),
                Event::Ready,
                with(|c| c.bridge_alive = true),
                Expect::Illegal,
            ),
            (
                "error, process gone",
                Some(Error),
                gone(ExitStatus::Code(1)),
                ctx(),
                to(Error, &[SetEndedAt, SessionSweep]),
            ),
            (
                "starting, Stop",
                Some(Starting),
                Event::Stop,
                ctx(),
                to(Stopped, &stop_effects),
            ),
            (
                "running, Stop",
                Some(Running),
                Event::Stop,
                ctx(),
                to(Stopped, &stop_effects),
            ),
            (
                "error with a live bridge, Stop",
                Some(Error),
                Event::Stop,
                with(|c| c.bridge_alive = true),
                to(Stopped, &stop_effects),
            ),
            (
                "stopped, Stop",
                Some(Stopped),
                Event::Stop,
                ctx(),
                to(Stopped, &[]),
            ),
            (
                "crashed, Stop",
                Some(Crashed),
                Event::Stop,
                ctx(),
                to(Crashed, &[]),
            ),
            (
                "dead error, Stop",
                Some(Error),
                Event::Stop,
                ctx(),
                to(Error, &[]),
            ),
            (
                "stopped, Resume",
                Some(Stopped),
                Event::Resume,
                ctx(),
                to(Starting, &[ResetForRelaunch]),
            ),
            (
                "crashed, Resume",
                Some(Crashed),
                Event::Resume,
                ctx(),
                to(Starting, &[ResetForRelaunch]),
            ),
            (
                "error, Resume",
                Some(Error),
                Event::Resume,
                ctx(),
                to(Starting, &[ResetForRelaunch]),
            ),
            (
                "error with a live bridge, Resume",
                Some(Error),
                Event::Resume,
                with(|c| c.bridge_alive = true),
                Expect::Illegal,
            ),
            (
                "starting, Resume",
                Some(Starting),
                Event::Resume,
                ctx(),
                Expect::Illegal,
            ),
            (
                "running, Resume",
                Some(Running),
                Event::Resume,
                ctx(),
                Expect::Illegal,
            ),
            (
                "stopped, Forget",
                Some(Stopped),
                Event::Forget,
                ctx(),
                forgotten.clone(),
            ),
            (
                "crashed, Forget",
                Some(Crashed),
                Event::Forget,
                ctx(),
                forgotten.clone(),
            ),
            (
                "dead error, Forget",
                Some(Error),
                Event::Forget,
                ctx(),
                forgotten,
            ),
            (
                "error with a live bridge, Forget",
                Some(Error),
                Event::Forget,
                with(|c| c.bridge_alive = true),
                Expect::Illegal,
            ),
            (
                "starting, Forget",
                Some(Starting),
                Event::Forget,
                ctx(),
                Expect::Illegal,
            ),
            (
                "running, Forget",
                Some(Running),
                Event::Forget,
                ctx(),
                Expect::Illegal,
            ),
            (
                "starting, found dead at startup",
                Some(Starting),
                Event::FoundDeadAtStartup,
                ctx(),
                to(Stopped, &[SetEndedAt, SessionSweep]),
            ),
            (
                "running, found dead at startup",
                Some(Running),
                Event::FoundDeadAtStartup,
                with(|c| c.intentional_stop = true),
                to(Stopped, &[SetEndedAt, SessionSweep]),
            ),
            (
                "error, found dead at startup",
                Some(Error),
                Event::FoundDeadAtStartup,
                ctx(),
                to(Error, &[SetEndedAt]),
            ),
            (
                "crashed, found dead at startup",
                Some(Crashed),
                Event::FoundDeadAtStartup,
                ctx(),
                to(Crashed, &[SetEndedAt]),
            ),
            (
                "stopped, late exit notice",
                Some(Stopped),
                gone(ExitStatus::Code(0)),
                ctx(),
                to(Stopped, &[SessionSweep]),
            ),
            // Never from stopped/crashed to running without a new launch.
            (
                "stopped, ready",
                Some(Stopped),
                Event::Ready,
                ctx(),
                Expect::Illegal,
            ),
            (
                "crashed, ready",
                Some(Crashed),
                Event::Ready,
                ctx(),
                Expect::Illegal,
            ),
            (
                "running, deadline",
                Some(Running),
                Event::Deadline,
                ctx(),
                Expect::Illegal,
            ),
            (
                "error, deadline",
                Some(Error),
                Event::Deadline,
                ctx(),
                Expect::Illegal,
            ),
            (
                "running, poison",
                Some(Running),
                Event::PoisonMarker,
                ctx(),
                Expect::Illegal,
            ),
            (
                "running, launch succeeded",
                Some(Running),
                Event::LaunchSucceeded,
                ctx(),
                Expect::Illegal,
            ),
            (
                "stopped, launch failed",
                Some(Stopped),
                Event::LaunchFailed,
                ctx(),
                Expect::Illegal,
            ),
            ("no record, stop", None, Event::Stop, ctx(), Expect::Illegal),
            (
                "no record, ready",
                None,
                Event::Ready,
                ctx(),
                Expect::Illegal,
            ),
        ];
        for (name, from, event, context, expected) in cases {
            let got = match transition(from, event, &context) {
                Ok(t) => Expect::To(t),
                Err(err) => {
                    assert_eq!(err, IllegalTransition { from, event }, "{name}");
                    Expect::Illegal
                }
            };
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn illegal_transition_message() {
        let err = transition(Some(Stopped), Event::Ready, &ctx()).expect_err("illegal");
        assert_eq!(
            err.to_string(),
            "cannot apply 'ready' to a bridge that is stopped; its status stays as it is"
        );
        let err = transition(None, Event::Forget, &ctx()).expect_err("illegal");
        assert_eq!(
            err.to_string(),
            "cannot apply 'forget' to a bridge that is not yet recorded; its status stays as it is"
        );
    }

    #[test]
    fn status_tokens() {
        let tokens: Vec<_> = Status::ALL.iter().map(|s| s.as_token()).collect();
        assert_eq!(
            tokens,
            ["starting", "running", "stopped", "crashed", "error"]
        );
        for status in Status::ALL {
            assert_eq!(status.as_token().parse::<Status>(), Ok(status));
            assert_eq!(status.to_string(), status.as_token());
        }
        assert_eq!(
            "ready".parse::<Status>().expect_err("unknown").to_string(),
            "unknown bridge status 'ready'; expected starting, running, stopped, crashed or error"
        );
        let live: Vec<_> = Status::ALL.into_iter().filter(|s| s.is_live()).collect();
        assert_eq!(live, [Starting, Running]);
        assert_eq!("keep".parse(), Ok(StalledBridgeAction::Keep));
        assert_eq!("stop".parse(), Ok(StalledBridgeAction::Stop));
        assert!("pause".parse::<StalledBridgeAction>().is_err());
        let events: Vec<_> = [B::Spawn, B::Ready, B::Crash, B::Stop, B::Interrupted]
            .iter()
            .map(|e| e.as_token())
            .collect();
        assert_eq!(events, ["spawn", "ready", "crash", "stop", "interrupted"]);
    }

    #[test]
    fn error_kind_tokens_and_hints() {
        let table: [(ErrorKind, &str, &str); 11] = [
            (
                ErrorKind::LaunchFailed,
                "launch_failed",
                "Check claude.binary / PATH (see clauster doctor).",
            ),
            (
                ErrorKind::NotTrusted,
                "not_trusted",
                "Trust the directory, then Resume.",
            ),
            (
                ErrorKind::NotLoggedIn,
                "not_logged_in",
                "Log in once on this host as the service user: run claude auth login.",
            ),
            (
                ErrorKind::NotEligible,
                "not_eligible",
                "Remote Control needs a claude.ai subscription login; API keys and setup-token tokens do not work.",
            ),
            (
                ErrorKind::Offline,
                "offline",
                "This host cannot reach Anthropic's API.",
            ),
            (
                ErrorKind::RcNotAcknowledged,
                "rc_not_acknowledged",
                "Turn on claude.auto_enable_remote_control, or run claude once on this host and accept Remote Control.",
            ),
            (
                ErrorKind::PoisonedSession,
                "poisoned_session",
                "The previous session was archived or deleted on claude.ai; Resume starts a fresh one.",
            ),
            (
                ErrorKind::ContinueUnavailable,
                "continue_unavailable",
                "The previous conversation could not be continued; use Start new session.",
            ),
            (
                ErrorKind::StartupTimeout,
                "startup_timeout",
                "The bridge never registered with claude.ai; see the log, check login and network.",
            ),
            (
                ErrorKind::ExitedEarly,
                "exited_early",
                "The bridge exited during startup; see the log.",
            ),
            (
                ErrorKind::CrashLoop,
                "crash_loop",
                "The bridge kept failing, so Clauster stopped restarting it; see the log, then Resume.",
            ),
        ];
        for (kind, token, hint) in table {
            assert_eq!(kind.as_token(), token);
            assert_eq!(token.parse::<ErrorKind>(), Ok(kind));
            assert_eq!(kind.hint(), hint);
        }
        assert!("nope".parse::<ErrorKind>().is_err());
        let blocking: Vec<_> = ErrorKind::ALL
            .into_iter()
            .filter(|k| !k.allows_fresh_fallback())
            .collect();
        assert_eq!(
            blocking,
            [
                ErrorKind::NotTrusted,
                ErrorKind::NotLoggedIn,
                ErrorKind::NotEligible,
                ErrorKind::Offline,
                ErrorKind::RcNotAcknowledged
            ]
        );
        for prompt in ["trust", "rc_consent", "bypass_consent", "login"] {
            assert_eq!(
                prompt.parse::<PtyPrompt>().map(PtyPrompt::as_token),
                Ok(prompt)
            );
        }
        assert!("other".parse::<PtyPrompt>().is_err());
    }

    fn standard(capture: &'static str) -> FailureEvidence<'static> {
        FailureEvidence {
            capture,
            startup_grace_seconds: 60.0,
            ..FailureEvidence::default()
        }
    }

    /// One case per `error_kind`, and the row order where two rows match.
    #[test]
    #[allow(clippy::too_many_lines)] // a table: one entry per trigger of §7.6
    fn classifier_table() {
        use std::fmt::Write as _;
        let ended = FailureCause::EndedBeforeReady;
        let cases: Vec<(&str, FailureCause, FailureEvidence<'static>, ErrorKind)> = vec![
            (
                "spawn failed",
                FailureCause::LaunchFailed,
                FailureEvidence {
                    launch_error: Some("No such file or directory (os error 2)"),
                    ..FailureEvidence::default()
                },
                ErrorKind::LaunchFailed,
            ),
            (
                "trust line in the debug log",
                ended,
                FailureEvidence {
                    debug_log: DEBUG_TRUST_ERROR,
                    ..FailureEvidence::default()
                },
                ErrorKind::NotTrusted,
            ),
            (
                "real not-logged-in output",
                ended,
                standard(NOT_LOGGED_IN),
                ErrorKind::NotLoggedIn,
            ),
            (
                "not logged in, any case",
                ended,
                standard("ERROR: YOU MUST BE LOGGED IN"),
                ErrorKind::NotLoggedIn,
            ),
            (
                "subscription",
                ended,
                standard("Error: Remote Control requires a claude.ai subscription"),
                ErrorKind::NotEligible,
            ),
            (
                "not enabled",
                ended,
                standard("Remote Control is not yet enabled for your account."),
                ErrorKind::NotEligible,
            ),
            (
                "organization policy",
                ended,
                standard("Remote Control is disabled by your organization"),
                ErrorKind::NotEligible,
            ),
            (
                "eligibility check",
                ended,
                standard("Could not verify Remote Control eligibility"),
                ErrorKind::NotEligible,
            ),
            (
                "setup token",
                ended,
                standard("Remote Control needs a full-scope login token"),
                ErrorKind::NotEligible,
            ),
            (
                "organization unknown",
                ended,
                standard("Unable to determine your organization"),
                ErrorKind::NotEligible,
            ),
            (
                "offline, standard stderr",
                ended,
                standard("Unable to connect to Anthropic services"),
                ErrorKind::Offline,
            ),
            (
                "offline, pty exit screen",
                ended,
                FailureEvidence {
                    exit_screen: Some(PTY_OFFLINE_SCREEN),
                    ..FailureEvidence::default()
                },
                ErrorKind::Offline,
            ),
            (
                "offline, phrase wrapped over two screen rows",
                ended,
                FailureEvidence {
                    exit_screen: Some(" Unable to connect to\n Anthropic services"),
                    ..FailureEvidence::default()
                },
                ErrorKind::Offline,
            ),
            (
                "remote control not acknowledged",
                ended,
                standard("Remote Control was not enabled. Run claude first."),
                ErrorKind::RcNotAcknowledged,
            ),
            (
                "consent question on screen",
                ended,
                FailureEvidence {
                    exit_screen: Some("Enable Remote Control? (y/n)"),
                    ..FailureEvidence::default()
                },
                ErrorKind::RcNotAcknowledged,
            ),
            (
                "pty rc_consent prompt",
                ended,
                FailureEvidence {
                    prompt: Some(PtyPrompt::RcConsent),
                    ..FailureEvidence::default()
                },
                ErrorKind::RcNotAcknowledged,
            ),
            (
                "pty trust prompt",
                ended,
                FailureEvidence {
                    prompt: Some(PtyPrompt::Trust),
                    ..FailureEvidence::default()
                },
                ErrorKind::NotTrusted,
            ),
            (
                "pty login prompt",
                ended,
                FailureEvidence {
                    prompt: Some(PtyPrompt::Login),
                    ..FailureEvidence::default()
                },
                ErrorKind::NotLoggedIn,
            ),
            (
                "poison marker",
                FailureCause::Poisoned,
                FailureEvidence {
                    poisoned: true,
                    ..FailureEvidence::default()
                },
                ErrorKind::PoisonedSession,
            ),
            (
                "poison seen before an exit",
                ended,
                FailureEvidence {
                    poisoned: true,
                    resumes_conversation: true,
                    ..FailureEvidence::default()
                },
                ErrorKind::PoisonedSession,
            ),
            (
                "continue launch ended, nothing matched",
                ended,
                FailureEvidence {
                    capture: "error: nothing to continue here",
                    resumes_conversation: true,
                    ..FailureEvidence::default()
                },
                ErrorKind::ContinueUnavailable,
            ),
            (
                "continue launch ended, not logged in wins",
                ended,
                FailureEvidence {
                    capture: NOT_LOGGED_IN,
                    resumes_conversation: true,
                    ..FailureEvidence::default()
                },
                ErrorKind::NotLoggedIn,
            ),
            (
                "deadline",
                FailureCause::Deadline,
                standard(""),
                ErrorKind::StartupTimeout,
            ),
            (
                "deadline with a continue launch is still a timeout",
                FailureCause::Deadline,
                FailureEvidence {
                    resumes_conversation: true,
                    ..standard("")
                },
                ErrorKind::StartupTimeout,
            ),
            (
                "deadline while the log says offline",
                FailureCause::Deadline,
                standard("Unable to connect to Anthropic services; retrying"),
                ErrorKind::Offline,
            ),
            (
                "anything else",
                ended,
                standard("panic: something odd"),
                ErrorKind::ExitedEarly,
            ),
            (
                "pty bypass consent prompt",
                ended,
                FailureEvidence {
                    prompt: Some(PtyPrompt::BypassConsent),
                    resumes_conversation: true,
                    ..FailureEvidence::default()
                },
                ErrorKind::ExitedEarly,
            ),
            (
                "first row wins: trusted before logged in",
                ended,
                standard("must be logged in\nWorkspace not trusted"),
                ErrorKind::NotTrusted,
            ),
            (
                "first row wins: offline before not acknowledged",
                ended,
                standard("Enable Remote Control?\nUnable to connect to Anthropic services"),
                ErrorKind::Offline,
            ),
        ];
        let mut table =
            String::from("| evidence | cause | error_kind | hint |\n|---|---|---|---|\n");
        for (name, cause, evidence, kind) in cases {
            let failure = classify(cause, &evidence);
            assert_eq!(failure.kind, kind, "{name}");
            let expected_hint = if evidence.prompt == Some(PtyPrompt::BypassConsent) {
                BYPASS_CONSENT_HINT
            } else {
                kind.hint()
            };
            assert_eq!(failure.hint, expected_hint, "{name}");
            let _ = writeln!(
                table,
                "| {name} | {cause:?} | {} | {} |",
                failure.kind.as_token(),
                failure.hint
            );
        }
        // The table of bridges.md §7.6 as the classifier answers it, row by row.
        insta::assert_snapshot!(table);
    }

    #[test]
    fn failure_markers() {
        assert!(!standard("panic: something odd").has_failure_marker());
        assert!(standard(NOT_LOGGED_IN).has_failure_marker());
        assert!(
            FailureEvidence {
                poisoned: true,
                ..FailureEvidence::default()
            }
            .has_failure_marker()
        );
        assert!(
            FailureEvidence {
                prompt: Some(PtyPrompt::BypassConsent),
                ..FailureEvidence::default()
            }
            .has_failure_marker()
        );
    }

    #[test]
    fn error_details() {
        let ended = FailureCause::EndedBeforeReady;
        // Standard: the capture, else the debug log.
        let both = FailureEvidence {
            debug_log: "debug text",
            capture: "stderr text",
            ..FailureEvidence::default()
        };
        assert_eq!(classify(ended, &both).detail, "stderr text");
        let log_only = FailureEvidence {
            debug_log: "debug text",
            capture: " \n",
            ..FailureEvidence::default()
        };
        assert_eq!(classify(ended, &log_only).detail, "debug text");
        // pty: exit screen, else sidecar error, else debug log.
        let pty = FailureEvidence {
            debug_log: "debug text",
            exit_screen: Some("screen"),
            sidecar_error: Some("sidecar"),
            ..FailureEvidence::default()
        };
        assert_eq!(classify(ended, &pty).detail, "screen");
        let pty = FailureEvidence {
            exit_screen: None,
            ..pty
        };
        assert_eq!(classify(ended, &pty).detail, "sidecar");
        let pty = FailureEvidence {
            sidecar_error: None,
            ..pty
        };
        assert_eq!(classify(ended, &pty).detail, "debug text");
        // Nothing written anywhere: how it ended.
        for (exit, how) in [
            (Some(ExitStatus::Code(3)), "exited with code 3"),
            (Some(ExitStatus::Signal(11)), "was killed by signal 11"),
            (None, "ended"),
        ] {
            let silent = FailureEvidence {
                capture: "\n",
                exit,
                ..FailureEvidence::default()
            };
            assert_eq!(
                classify(ended, &silent).detail,
                format!(
                    "the bridge {how} during startup and wrote nothing to its output or debug log"
                )
            );
        }
        // The last 2 000 characters, counted as characters.
        let long = format!("{}{}", "a".repeat(10), "é".repeat(2_000));
        let long: &'static str = Box::leak(long.into_boxed_str());
        let detail = classify(ended, &standard(long)).detail;
        assert_eq!(detail, "é".repeat(2_000));
        // Launch failure: the OS error.
        let failed = FailureEvidence {
            launch_error: Some("No such file or directory (os error 2)"),
            ..FailureEvidence::default()
        };
        assert_eq!(
            classify(FailureCause::LaunchFailed, &failed).detail,
            "No such file or directory (os error 2)"
        );
        // Deadline: stderr tail plus the note with the grace period.
        assert_eq!(
            classify(FailureCause::Deadline, &standard("still waiting\n")).detail,
            "still waiting\nalive but never registered an environment within 60 s"
        );
        assert_eq!(
            classify(
                FailureCause::Deadline,
                &FailureEvidence {
                    startup_grace_seconds: 2.5,
                    ..FailureEvidence::default()
                }
            )
            .detail,
            "alive but never registered an environment within 2.5 s"
        );
        let deadline_long = classify(FailureCause::Deadline, &standard(long)).detail;
        assert_eq!(deadline_long.chars().count(), 2_000);
        assert!(deadline_long.ends_with("within 60 s"));
        assert_eq!(tail_chars("abc", 0), "");
        assert_eq!(tail_chars("abc", 5), "abc");
        assert_eq!(tail_chars("abc", 2), "bc");
    }
}
