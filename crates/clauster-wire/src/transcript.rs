//! The transcript viewer (issue 21): a page of a session's turns, the tail of a live one and
//! the frames of `/ws/transcript/{name}/{session}`. The keys of the Python Clauster 1.3.2
//! (`role`, `content`, `model`, `timestamp`; `next_cursor`, `total`; `offset`, `reset`,
//! `live`) keep their meaning; everything else is additive.

use serde::{Deserialize, Serialize};

/// One turn: a user prompt, or one assistant reply with its tool calls and their results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranscriptTurn {
    /// `user` or `assistant`.
    pub role: String,
    /// The turn's text and one line per tool call, redacted (1.3.2's flattened content).
    pub content: String,
    pub model: Option<String>,
    pub timestamp: Option<String>,
    /// Position in the file's turn list, from 0; stable while the file grows.
    pub index: u64,
    /// 1-based line number of the turn's first line.
    pub line: u64,
    /// The turn rendered by the server (sanitised HTML: Markdown, collapsed tool calls).
    pub html: String,
    /// The reply's tokens (assistant turns that carry usage).
    pub tokens: Option<TurnTokens>,
    /// The reply's estimated cost, USD to 6 decimals; `null` without usage or a price.
    pub cost_usd: Option<f64>,
}

/// Token counters of one reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnTokens {
    pub input: u64,
    pub output: u64,
    pub cache_creation_5m: u64,
    pub cache_creation_1h: u64,
    pub cache_read: u64,
}

/// What the index skipped in the whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptProblems {
    /// Lines that are not JSON (truncated, garbage).
    pub unreadable_lines: u64,
    /// The first of them, 1-based.
    pub first_unreadable: Vec<u64>,
    /// Lines too long to read (over 16 MiB).
    pub oversized_lines: u64,
    /// Valid records that are not turns (summaries, snapshots, unknown types).
    pub skipped_records: u64,
    /// The last line has no newline yet (being written, or cut off).
    pub partial_last_line: bool,
}

/// `GET /api/projects/{name}/transcripts/{session}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranscriptPage {
    pub project: String,
    pub session: String,
    pub turns: Vec<TranscriptTurn>,
    /// The `cursor` of the next page; `null` on the last.
    pub next_cursor: Option<u64>,
    /// Turns in the file (matching `q` when given).
    pub total: u64,
    /// The subagent transcript shown, when `agent` was asked for.
    pub agent: Option<String>,
    /// `asc` or `desc`.
    pub order: String,
    /// Byte offset just past the last complete line: where `tail` and the socket go on.
    pub offset: u64,
    pub live: bool,
    pub problems: TranscriptProblems,
}

/// `GET /api/projects/{name}/transcripts/{session}/tail?offset=N`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranscriptTail {
    pub project: String,
    pub session: String,
    /// The turns with lines after `offset`, oldest first, at most 256 KiB of JSON; a turn
    /// that grew comes again with the same `index`.
    pub turns: Vec<TranscriptTurn>,
    /// Where the next call continues.
    pub offset: u64,
    /// The file shrank or was replaced (or the offset was past its end): `turns` are the
    /// newest that fit, to replace what the reader holds.
    pub reset: bool,
    pub live: bool,
    pub total: u64,
    /// The answer was cut at its budget: call again from `offset` for the rest.
    #[serde(default)]
    pub more: bool,
}

/// A frame of `/ws/transcript/{name}/{session}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TranscriptFrame {
    /// New or grown turns (upsert by `index`), the offset reached and the turn count.
    Turns {
        turns: Vec<TranscriptTurn>,
        offset: u64,
        total: u64,
    },
    /// The file shrank or was replaced: reload.
    Reset,
}
