//! The data-feature bodies of data.md §1–§2: the cost/token rollup (`Usage`), the conversation
//! list of the fork picker and the CLAUDE.md editor document.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /api/projects/{name}/usage` and the payload of `usage` frames (data.md §1.7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub project: String,
    /// Files attributed to the project.
    pub transcripts: u64,
    /// Records counted after de-duplication.
    pub messages: u64,
    /// The four breakdown totals summed.
    pub total_tokens: u64,
    pub token_breakdown: TokenBreakdown,
    /// USD, rounded to 4 decimals.
    pub cost_usd: f64,
    /// Always true: the rates are the price table's, not an invoice.
    pub approximate: bool,
    pub unpriced_models: Vec<String>,
    pub fallback_priced_models: Vec<String>,
    pub by_model: BTreeMap<String, ModelUsage>,
    pub duplicates_skipped: u64,
    pub ambiguous_transcripts: u64,
    pub unreadable_files: u64,
    pub price_table_date: String,
}

/// Token counters of a rollup: the core's cost rollup counts in this type too
/// (`clauster_core::usage::TokenBreakdown`), so the answer carries them as counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBreakdown {
    pub input: u64,
    pub output: u64,
    /// 5-minute plus 1-hour cache writes.
    pub cache_creation: u64,
    pub cache_read: u64,
    pub cache_creation_5m: u64,
    pub cache_creation_1h: u64,
}

impl TokenBreakdown {
    /// `total_tokens`: input + output + cache creation + cache read.
    pub fn total(&self) -> u64 {
        self.input
            .saturating_add(self.output)
            .saturating_add(self.cache_creation)
            .saturating_add(self.cache_read)
    }
}

/// One model's share of a rollup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelUsage {
    pub total_tokens: u64,
    pub cost_usd: f64,
    pub messages: u64,
}

/// `GET /api/projects/{name}/usage/daily[?since=YYYY-MM-DD&until=YYYY-MM-DD]` (issue 24): the
/// rollup by UTC day of the counted records, as ccusage's daily view. Additive to §1.7.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageDaily {
    pub project: String,
    /// The bounds asked for (inclusive), `None` when open.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Days with at least one counted record, oldest first.
    pub days: Vec<UsageDay>,
    /// The days listed, summed (exact before rounding).
    pub total: UsageDayTotals,
    pub price_table_date: String,
}

/// One UTC day of a project's usage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub messages: u64,
    pub total_tokens: u64,
    pub token_breakdown: TokenBreakdown,
    /// USD, rounded to 4 decimals.
    pub cost_usd: f64,
    /// The models of that day's records, sorted.
    pub models: Vec<String>,
}

/// Counters of a day or of a range of days.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageDayTotals {
    pub messages: u64,
    pub total_tokens: u64,
    pub token_breakdown: TokenBreakdown,
    /// USD, rounded to 4 decimals.
    pub cost_usd: f64,
}

/// `GET /api/projects/{name}/transcripts` (data.md §1.8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transcripts {
    pub project: String,
    pub sessions: Vec<TranscriptSession>,
}

/// One top-level session file of a project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranscriptSession {
    /// The file stem, a UUID.
    pub session: String,
    /// RFC 3339 UTC.
    pub mtime: String,
    pub turn_count: u64,
    pub live: bool,
    pub first_prompt: Option<String>,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    pub is_subagent: bool,
    /// Models that replied, from the rollup (issue 21; additive).
    #[serde(default)]
    pub models: Vec<String>,
    /// What the rollup counted for this session and its subagent files, USD to 4 decimals;
    /// `null` while the rollup has not read it.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Agent ids of the subagent transcripts under `<session>/subagents/`.
    #[serde(default)]
    pub subagents: Vec<String>,
}

/// `GET/PUT /api/projects/{name}/claude-md` (`ClaudeMdDoc`, http-api.md §4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaudeMdDoc {
    pub exists: bool,
    pub content: String,
    /// Hex SHA-256 of the content; `None` when the file is missing.
    pub sha256: Option<String>,
    pub size: u64,
    pub bridge_running: bool,
}

/// The lost-update 409 of a CLAUDE.md write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaudeMdConflict {
    pub detail: String,
    /// The hash of the file now on disk; `None` when it is missing.
    pub current_sha256: Option<String>,
}
