//! The standard bridge's readiness facts: the incremental debug-log marker parser of
//! bridges.md §7.2 and the connect-banner evidence of the stdout capture (§7.3).
//!
//! The parser is pure: the watcher hands it the new bytes of the parse source as they arrive
//! and applies the events it returns. Single-valued facts keep their first match and are
//! never unlearned, so re-feeding a rotated file or a re-parse after a restart can only add
//! facts, never change one.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// A line longer than this is cut: bytes past it are dropped until the next `\n`. Markers are
/// short and sit near the start of their line; the cap only bounds memory when a writer emits
/// a huge line (or no newline at all).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Why the bridge's session was poisoned (`end_session` control message, §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoisonReason {
    Archived,
    Deleted,
}

impl PoisonReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PoisonReason::Archived => "archived",
            PoisonReason::Deleted => "deleted",
        }
    }
}

/// Where the starter session id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOrigin {
    /// `Created initial session session_…` — a cold start.
    Created,
    /// `[remote-bridge] … Unarchive session_…` — a reattach, which logs no "Created".
    Unarchived,
}

/// Everything the debug log has told us so far.
// The flags are independent facts of the §7.2 table (any combination can be logged), not
// states of one machine, so they stay plain bools.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MarkerFacts {
    pub bridge_id: Option<String>,
    pub environment_id: Option<String>,
    pub starter_session_id: Option<String>,
    /// How [`Self::starter_session_id`] was learned.
    pub starter_session_origin: Option<SessionOrigin>,
    /// A `Created initial session` line was seen (at any time, even after an `Unarchive`
    /// line supplied the id). Without it, a ready launch waits the 4 s reattach poison grace
    /// (§7.5).
    pub created_initial_session: bool,
    pub poll_loop_started: bool,
    pub trust_error: bool,
    pub poison_reason: Option<PoisonReason>,
    pub clean_shutdown: bool,
    /// Lines with `[bridge:session]` and `failed exit_code=`.
    pub session_failures: u32,
}

impl MarkerFacts {
    /// **Ready by markers** (§7.2): the poll loop started and the environment id is known.
    pub fn ready_by_markers(&self) -> bool {
        self.poll_loop_started && self.environment_id.is_some()
    }

    /// **Ready by markers** for a pty bridge (pty.md §5.2 item 2): the environment id and
    /// either the poll loop or a session id, since the flag form runs one session and may
    /// never log a poll loop.
    pub fn pty_ready_by_markers(&self) -> bool {
        self.environment_id.is_some()
            && (self.poll_loop_started || self.starter_session_id.is_some())
    }
}

/// A fact learned from one line, in the order of the §7.2 table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerEvent {
    BridgeId(String),
    EnvironmentRegistered(String),
    StarterSession {
        session_id: String,
        origin: SessionOrigin,
    },
    PollLoopStarted,
    /// Emitted once, on the line that completed [`MarkerFacts::ready_by_markers`].
    ReadyByMarkers,
    TrustError,
    Poisoned(PoisonReason),
    CleanShutdown,
    /// One more `[bridge:session] … failed exit_code=` line; `total` counts them all.
    SessionFailed {
        total: u32,
    },
}

/// The incremental parser. Feed it bytes ([`Self::feed`]) or whole lines
/// ([`Self::feed_line`]); read the accumulated [`Self::facts`] at any time.
#[derive(Debug, Clone, Default)]
pub struct MarkerParser {
    /// Bytes of the current, not yet terminated line (NULs already skipped).
    pending: Vec<u8>,
    /// The current line exceeded [`MAX_LINE_BYTES`]; its remaining bytes are dropped.
    truncated: bool,
    facts: MarkerFacts,
}

impl MarkerParser {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn facts(&self) -> &MarkerFacts {
        &self.facts
    }

    pub fn into_facts(self) -> MarkerFacts {
        self.facts
    }

    /// Feeds the next bytes of the parse source. Complete lines are parsed; a partial last
    /// line waits for its `\n` (a UTF-8 sequence split across two feeds is therefore decoded
    /// whole). NUL bytes — the run a non-appending writer leaves after a truncate — are
    /// skipped.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<MarkerEvent> {
        let mut events = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (chunk, line_ended) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            self.push_pending(chunk);
            if line_ended {
                self.end_line(&mut events);
                rest = &rest[chunk.len() + 1..];
            } else {
                rest = &[];
            }
        }
        events
    }

    /// Feeds one complete line (without its `\n`; a trailing `\r` and any NULs are dropped
    /// here). A pending partial line from [`Self::feed`] is left alone.
    pub fn feed_line(&mut self, line: &str) -> Vec<MarkerEvent> {
        let mut events = Vec::new();
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.contains('\0') {
            self.apply_line(&line.replace('\0', ""), &mut events);
        } else {
            self.apply_line(line, &mut events);
        }
        events
    }

    /// Parses the pending partial line as if it had ended. Only for when the writer is known
    /// to be gone (the terminal transition, a re-parse of a dead bridge's log): a live writer
    /// may still be in the middle of that line.
    pub fn flush_partial(&mut self) -> Vec<MarkerEvent> {
        let mut events = Vec::new();
        if !self.pending.is_empty() || self.truncated {
            self.end_line(&mut events);
        }
        events
    }

    /// Forgets the pending partial line (the file shrank: it was rotated and is read again
    /// from 0). Facts are kept: they are never unlearned.
    pub fn discard_partial(&mut self) {
        self.pending.clear();
        self.truncated = false;
    }

    fn push_pending(&mut self, chunk: &[u8]) {
        if self.truncated {
            return;
        }
        for part in chunk.split(|&b| b == 0) {
            let room = MAX_LINE_BYTES - self.pending.len();
            if part.len() > room {
                self.pending.extend_from_slice(&part[..room]);
                self.truncated = true;
                return;
            }
            self.pending.extend_from_slice(part);
        }
    }

    fn end_line(&mut self, events: &mut Vec<MarkerEvent>) {
        let mut bytes = std::mem::take(&mut self.pending);
        self.truncated = false;
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let line = String::from_utf8_lossy(&bytes);
        self.apply_line(&line, events);
        // Keep the allocation for the next line.
        bytes.clear();
        self.pending = bytes;
    }

    fn apply_line(&mut self, line: &str, events: &mut Vec<MarkerEvent>) {
        let f = &mut self.facts;
        let was_ready = f.ready_by_markers();
        if f.bridge_id.is_none()
            && let Some(id) = bridge_id(line)
        {
            f.bridge_id = Some(id.to_owned());
            events.push(MarkerEvent::BridgeId(id.to_owned()));
        }
        if f.environment_id.is_none()
            && let Some(id) = environment_id(line)
        {
            f.environment_id = Some(id.to_owned());
            events.push(MarkerEvent::EnvironmentRegistered(id.to_owned()));
        }
        if let Some((id, origin)) = starter_session(line) {
            if origin == SessionOrigin::Created {
                f.created_initial_session = true;
            }
            if f.starter_session_id.is_none() {
                f.starter_session_id = Some(id.to_owned());
                f.starter_session_origin = Some(origin);
                events.push(MarkerEvent::StarterSession {
                    session_id: id.to_owned(),
                    origin,
                });
            }
        }
        if !f.poll_loop_started && contains_in_order(line, "[bridge:work]", "Starting poll loop") {
            f.poll_loop_started = true;
            events.push(MarkerEvent::PollLoopStarted);
        }
        if !was_ready && f.ready_by_markers() {
            events.push(MarkerEvent::ReadyByMarkers);
        }
        if !f.trust_error && contains_ascii_case_insensitive(line, "workspace not trusted") {
            f.trust_error = true;
            events.push(MarkerEvent::TrustError);
        }
        if f.poison_reason.is_none()
            && let Some(reason) = poison_reason(line)
        {
            f.poison_reason = Some(reason);
            events.push(MarkerEvent::Poisoned(reason));
        }
        if !f.clean_shutdown
            && line.contains("[bridge:shutdown]")
            && (line.contains("SIGINT")
                || line.contains("SIGTERM")
                || line.contains("shutting down"))
        {
            f.clean_shutdown = true;
            events.push(MarkerEvent::CleanShutdown);
        }
        if line.contains("[bridge:session]") && line.contains("failed exit_code=") {
            f.session_failures = f.session_failures.saturating_add(1);
            events.push(MarkerEvent::SessionFailed {
                total: f.session_failures,
            });
        }
    }
}

/// Parses a whole parse source at once (rediscovery, classification of a dead bridge): every
/// line, including an unterminated last one.
pub fn parse_log(bytes: &[u8]) -> MarkerFacts {
    let mut parser = MarkerParser::new();
    parser.feed(bytes);
    parser.flush_partial();
    parser.into_facts()
}

fn contains_in_order(line: &str, first: &str, later: &str) -> bool {
    line.find(first)
        .is_some_and(|i| line[i + first.len()..].contains(later))
}

/// ASCII case-insensitive substring test (`needle` lowercase). Unicode case folding would
/// let look-alikes such as the Kelvin sign match `k`.
fn contains_ascii_case_insensitive(hay: &str, needle: &str) -> bool {
    let n = needle.as_bytes();
    hay.as_bytes()
        .windows(n.len())
        .any(|w| w.eq_ignore_ascii_case(n))
}

static BRIDGE_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[bridge:init\].*?bridgeId=([0-9A-Fa-f-]{8,})").expect("bridge id pattern")
});
static ENV_ID_SNAKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^A-Za-z0-9_])environment_id=(env_[A-Za-z0-9]+)").expect("env pattern")
});
static ENV_ID_CAMEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"environmentId=(env_[A-Za-z0-9]+)").expect("env pattern"));
static CREATED_SESSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Created initial session\s+(session_[A-Za-z0-9]+)").expect("session pattern")
});
static UNARCHIVE_SESSION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"Unarchive\s+(session_[A-Za-z0-9]+)").expect("unarchive pattern"));
static BRACED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{[^{}]*\}").expect("brace pattern"));
static POISON_SUBTYPE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""subtype"\s*:\s*"end_session""#).expect("subtype pattern"));
static POISON_REASON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""reason"\s*:\s*"(archived|deleted)""#).expect("reason pattern"));

fn capture<'a>(re: &Regex, line: &'a str) -> Option<&'a str> {
    re.captures(line).and_then(|c| c.get(1)).map(|m| m.as_str())
}

fn bridge_id(line: &str) -> Option<&str> {
    if !line.contains("bridgeId=") {
        return None;
    }
    capture(&BRIDGE_ID, line)
}

fn environment_id(line: &str) -> Option<&str> {
    if line.contains("environment_id=env_")
        && let Some(id) = capture(&ENV_ID_SNAKE, line)
    {
        return Some(id);
    }
    if line.contains("environmentId=env_") {
        return capture(&ENV_ID_CAMEL, line);
    }
    None
}

fn starter_session(line: &str) -> Option<(&str, SessionOrigin)> {
    if line.contains("Created initial session")
        && let Some(id) = capture(&CREATED_SESSION, line)
    {
        return Some((id, SessionOrigin::Created));
    }
    if line.contains("[remote-bridge]") && line.contains("Unarchive") {
        return capture(&UNARCHIVE_SESSION, line).map(|id| (id, SessionOrigin::Unarchived));
    }
    None
}

fn poison_reason(line: &str) -> Option<PoisonReason> {
    if !line.contains("end_session") {
        return None;
    }
    BRACED.find_iter(line).find_map(|m| {
        let inner = m.as_str();
        if !POISON_SUBTYPE.is_match(inner) {
            return None;
        }
        match capture(&POISON_REASON, inner)? {
            "archived" => Some(PoisonReason::Archived),
            _ => Some(PoisonReason::Deleted),
        }
    })
}

/// Readiness evidence found in a standard bridge's stdout capture (`<stem>.stderr.log`,
/// §7.3): the connect banner claude prints after registering.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BannerEvidence {
    /// From `https://claude.ai/code?environment=env_…`; its presence proves readiness.
    pub environment_id: Option<String>,
    /// From a `https://claude.ai/code/session_…` link; fills `starter_session_id` only when
    /// the debug log has none.
    pub session_id: Option<String>,
}

impl BannerEvidence {
    pub fn proves_ready(&self) -> bool {
        self.environment_id.is_some()
    }
}

static BANNER_ENV: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"https://claude\.ai/code\?environment=(env_[A-Za-z0-9]+)").expect("banner env")
});
static BANNER_SESSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"https://claude\.ai/code/(session_[A-Za-z0-9]+)").expect("banner session")
});

/// Reads the connect banner from the stdout capture. The first match of each link counts.
/// Colour codes and other escapes are removed first (step 1 of §14.3), so a banner that
/// styles part of its URL is still read.
pub fn parse_stdout_capture(text: &str) -> BannerEvidence {
    let visible: Cow<'_, str> = crate::sanitize::visible_text(text);
    BannerEvidence {
        environment_id: capture(&BANNER_ENV, &visible).map(str::to_owned),
        session_id: capture(&BANNER_SESSION, &visible).map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    /// The two readiness rules side by side: standard needs the poll loop, pty (one session,
    /// maybe no poll loop) takes a session id instead; both need the environment.
    #[test]
    fn standard_and_pty_readiness_by_markers() {
        let facts = |env: bool, poll: bool, session: bool| MarkerFacts {
            environment_id: env.then(|| "env_01".to_owned()),
            poll_loop_started: poll,
            starter_session_id: session.then(|| "session_01".to_owned()),
            ..MarkerFacts::default()
        };
        let table: Vec<(bool, bool, bool, bool, bool)> = [false, true]
            .into_iter()
            .flat_map(|env| [false, true].into_iter().map(move |poll| (env, poll)))
            .flat_map(|(env, poll)| [false, true].into_iter().map(move |s| (env, poll, s)))
            .map(|(env, poll, session)| {
                let f = facts(env, poll, session);
                (
                    env,
                    poll,
                    session,
                    f.ready_by_markers(),
                    f.pty_ready_by_markers(),
                )
            })
            .collect();
        for (env, poll, session, standard, pty) in table {
            assert_eq!(
                standard,
                env && poll,
                "standard: env {env} poll {poll} session {session}"
            );
            assert_eq!(
                pty,
                env && (poll || session),
                "pty: env {env} poll {poll} session {session}"
            );
        }
    }

    const FIXTURES: [(&str, &[u8]); 7] = [
        (
            "ready",
            include_bytes!("../tests/fixtures/markers/ready.log"),
        ),
        (
            "resume",
            include_bytes!("../tests/fixtures/markers/resume.log"),
        ),
        (
            "poison",
            include_bytes!("../tests/fixtures/markers/poison.log"),
        ),
        (
            "trust_error",
            include_bytes!("../tests/fixtures/markers/trust_error.log"),
        ),
        (
            "shutdown",
            include_bytes!("../tests/fixtures/markers/shutdown.log"),
        ),
        (
            "lookalikes",
            include_bytes!("../tests/fixtures/markers/lookalikes.log"),
        ),
        (
            "truncated",
            include_bytes!("../tests/fixtures/markers/truncated.log"),
        ),
    ];

    fn render(events: &[MarkerEvent], facts: &MarkerFacts) -> String {
        let mut out = String::from("events:\n");
        for e in events {
            let _ = writeln!(out, "  {e:?}");
        }
        let _ = writeln!(out, "facts:\n  {facts:#?}");
        let _ = writeln!(out, "ready_by_markers: {}", facts.ready_by_markers());
        out
    }

    /// Feeds `bytes` in chunks of `size` and returns every event plus the final facts
    /// (flushing a last unterminated line, as for a dead writer).
    fn run(bytes: &[u8], size: usize) -> (Vec<MarkerEvent>, MarkerFacts) {
        let mut p = MarkerParser::new();
        let mut events = Vec::new();
        for chunk in bytes.chunks(size) {
            events.extend(p.feed(chunk));
        }
        events.extend(p.flush_partial());
        (events, p.into_facts())
    }

    #[test]
    fn fixtures_snapshot() {
        for (name, bytes) in FIXTURES {
            let (events, facts) = run(bytes, bytes.len().max(1));
            // Incremental feeding must not change the outcome, whatever the chunking
            // (1 byte splits every UTF-8 sequence and every CRLF).
            for size in [1, 2, 3, 7, 64] {
                assert_eq!(
                    run(bytes, size),
                    (events.clone(), facts.clone()),
                    "{name} in chunks of {size}"
                );
            }
            assert_eq!(parse_log(bytes), facts, "{name} via parse_log");
            insta::assert_snapshot!(name, render(&events, &facts));
        }
    }

    #[test]
    fn partial_line_waits_for_newline() {
        let mut p = MarkerParser::new();
        assert!(
            p.feed(b"2026-11-25T15:02:22.123Z [DEBUG] [bridge:work] Starting poll")
                .is_empty()
        );
        assert!(!p.facts().poll_loop_started);
        assert_eq!(
            p.feed(b" loop spawnMode=same-dir\r\n"),
            [MarkerEvent::PollLoopStarted]
        );
        // A partial line is dropped on rotation; facts stay.
        p.feed(b"[bridge:init] bridgeId=97051a45-");
        p.discard_partial();
        p.feed(b"1111\n");
        assert_eq!(p.facts().bridge_id, None);
        assert!(p.facts().poll_loop_started);
    }

    #[test]
    fn feed_line_matches_feed() {
        let mut a = MarkerParser::new();
        let mut b = MarkerParser::new();
        let lines = [
            "x [bridge:init] bridgeId=97051a45-1111-2222-3333-444455556666 dir=/srv/p/alpha\r",
            "x [bridge:api] POST /v1/environments/bridge -> 200 environment_id=env_01J\0ABC",
            "x [bridge:work] Starting poll loop",
        ];
        let mut ea = Vec::new();
        for l in lines {
            ea.extend(a.feed_line(l));
        }
        let eb = b.feed(format!("{}\n", lines.join("\n")).as_bytes());
        assert_eq!(ea, eb);
        assert_eq!(a.facts().environment_id.as_deref(), Some("env_01JABC"));
    }

    #[test]
    fn overlong_line_is_cut_not_buffered() {
        let mut p = MarkerParser::new();
        let mut big = b"[bridge:work] Starting poll loop ".to_vec();
        big.resize(MAX_LINE_BYTES + 10, b'x');
        p.feed(&big);
        p.feed(b"environmentId=env_LOST\n");
        assert!(p.pending.is_empty());
        assert!(p.facts().poll_loop_started, "the kept prefix is parsed");
        assert_eq!(p.facts().environment_id, None, "the cut tail is not");
        p.feed(b"environmentId=env_NEXT\n");
        assert_eq!(p.facts().environment_id.as_deref(), Some("env_NEXT"));
    }

    #[test]
    fn rule_details() {
        let facts = |text: &str| parse_log(text.as_bytes());
        // bridgeId must come after [bridge:init] and have ≥ 8 hex/dash characters.
        assert_eq!(facts("bridgeId=97051a45 [bridge:init]").bridge_id, None);
        assert_eq!(facts("[bridge:init] bridgeId=9705-1a").bridge_id, None);
        assert_eq!(
            facts("[bridge:init] bridgeId=abc bridgeId=ABCDEF12-34 x")
                .bridge_id
                .as_deref(),
            Some("ABCDEF12-34")
        );
        // environment_id needs a non-word character (or line start) before the key.
        assert_eq!(facts("xenvironment_id=env_A1").environment_id, None);
        assert_eq!(
            facts("environment_id=env_A1").environment_id.as_deref(),
            Some("env_A1")
        );
        assert_eq!(
            facts("xenvironment_id=env_A1 environmentId=env_B2")
                .environment_id
                .as_deref(),
            Some("env_B2")
        );
        // On one line the snake form wins over the camel form.
        assert_eq!(
            facts("environmentId=env_B2 environment_id=env_A1")
                .environment_id
                .as_deref(),
            Some("env_A1")
        );
        // Unarchive counts only on a [remote-bridge] line.
        assert_eq!(facts("Unarchive session_01X").starter_session_id, None);
        assert_eq!(
            facts("Unarchive session_01X [remote-bridge]")
                .starter_session_id
                .as_deref(),
            Some("session_01X")
        );
        // "Starting poll loop" must follow [bridge:work].
        assert!(!facts("Starting poll loop [bridge:work]").poll_loop_started);
        // Trust error: any case, anywhere.
        assert!(facts("error: WORKSPACE NOT TRUSTED!").trust_error);
        assert!(!facts("workspace not \u{212a}trusted").trust_error);
        // Poison: one brace level, either key order, any spacing; nested braces do not count.
        assert_eq!(
            facts(r#"{ "reason" :"deleted" ,"subtype":  "end_session" }"#).poison_reason,
            Some(PoisonReason::Deleted)
        );
        assert_eq!(
            facts(r#"{"subtype":"end_session","x":{"reason":"archived"}}"#).poison_reason,
            None
        );
        assert_eq!(
            facts(r#"{"subtype":"end_session","reason":"other"}"#).poison_reason,
            None
        );
        assert_eq!(
            facts(r#"{"subtype":"end_session"} {"reason":"archived"}"#).poison_reason,
            None
        );
        // Clean shutdown needs the tag and one of the three words.
        assert!(!facts("[bridge:shutdown] done").clean_shutdown);
        assert!(facts("[bridge:shutdown] SIGTERM").clean_shutdown);
        assert!(!facts("SIGINT received, shutting down").clean_shutdown);
    }

    #[test]
    fn stdout_banner() {
        let text = include_str!("../tests/fixtures/markers/stdout_banner.txt");
        let ev = parse_stdout_capture(text);
        assert_eq!(
            ev,
            BannerEvidence {
                environment_id: Some("env_01FAKEQ2XJ4KLMN5PQRS6TUV7W".into()),
                session_id: Some("session_01FAKE8H3K2M4N6P8R0T2V4X".into()),
            }
        );
        assert!(ev.proves_ready());
        let none =
            parse_stdout_capture("Error: failed to authenticate bridge to controller (HTTP 401)\n");
        assert_eq!(none, BannerEvidence::default());
        assert!(!none.proves_ready());
        // A session link alone fills the session, not readiness.
        let only_session = parse_stdout_capture("https://claude.ai/code/session_01ABC?x=1");
        assert_eq!(only_session.session_id.as_deref(), Some("session_01ABC"));
        assert!(!only_session.proves_ready());
        // Colour codes around the link do not hide it.
        let coloured = parse_stdout_capture(
            "\x1b[1mhttps://claude.ai/code?environment=\x1b[36menv_01C\x1b[0m",
        );
        assert_eq!(coloured.environment_id.as_deref(), Some("env_01C"));
    }
}
