//! The cost and token rollup of Claude Code transcripts (data.md §1), over bytes and paths
//! handed in: record parsing, de-duplication, pricing, incremental reading, location rules.
//!
//! The server does the IO: it finds the files with [`location`], stats them, asks
//! [`plan_read`] whether to append or re-read, and feeds the bytes to a [`ProjectUsage`],
//! whose [`ProjectUsage::totals`] it converts into the wire answer of §1.7. Nothing here
//! touches the filesystem or a runtime, so every rule is tested on in-memory fixtures.

mod file;
pub mod location;
mod prices;
mod record;
mod rollup;

#[cfg(test)]
mod tests;

pub use crate::timestamp::{format_day, parse_day};
pub use file::{
    DEFAULT_MAX_LINE_BYTES, FileStamp, FileState, HEAD_BYTES, ReadPlan, ReadProblems, UsageEntry,
    plan_read,
};
pub use prices::{
    DatedRates, ModelPrice, PriceError, PriceLookup, PriceOverride, PriceTable, Rates,
    RoundedPrice, Tier, normalize_model_id,
};
pub use record::Tokens;
pub use rollup::{
    DayUsage, DiscoveryCounts, FileTotals, ModelUsage, Nanodollars, ProjectUsage, TokenBreakdown,
    UsageTotals,
};

/// The rollup's own line reading, for the transcript viewer's per-turn tokens and cost
/// (the same rule as §1.2, so a turn's figures add up to the badge's).
pub(crate) use record::{Line as UsageLine, parse_line as parse_usage_line, too_deep};
