//! The transcript viewer's pure half (issue 21): classifying lines, the incremental turn index
//! of a file, one turn's lines into what is shown (redacted), tool summaries, and which turns
//! a page or a tail asks for.
//!
//! The server reads the bytes: it feeds appended bytes to a [`TranscriptIndex`], reads the
//! byte ranges of the turns a page needs, and hands them to [`parse_turn`].

mod classify;
mod index;
mod prefix;
mod skim;
mod summary;
mod turn;

#[cfg(test)]
mod tests;

pub use classify::{LineClass, Role, TurnLine};
pub use index::{AbsorbError, IndexProblems, MAX_LINE_BYTES, TranscriptIndex, TurnSpan};
pub use prefix::close_prefix;
pub use skim::classify_line;
pub use summary::{ToolFacts, ToolOutput, summarize};
pub use turn::{Item, ToolCall, Turn, collapse, is_agent_id, parse_turn, parse_turn_prefix};

/// The largest page (1.3.2 clamps `limit` to 1..=500).
pub const MAX_LIMIT: usize = 500;
/// The page size without `limit`.
pub const DEFAULT_LIMIT: usize = 50;

/// Page order: `desc` (newest first, the default) or `asc`; anything else reads as `desc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

impl Order {
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some(o) if o.eq_ignore_ascii_case("asc") => Order::Asc,
            _ => Order::Desc,
        }
    }
}

/// Which turns (indices into a list of `total`, in display order) one page shows, and the
/// cursor of the next page: `cursor` counts turns already shown in that order (1.3.2's
/// integer cursor), clamped; `limit` is clamped to 1..=[`MAX_LIMIT`].
pub fn page_positions(total: usize, cursor: usize, limit: usize, order: Order) -> PageSlice {
    let limit = limit.clamp(1, MAX_LIMIT);
    let from = cursor.min(total);
    let to = from.saturating_add(limit).min(total);
    let positions = match order {
        Order::Asc => (from..to).collect(),
        Order::Desc => (from..to).map(|k| total - 1 - k).collect(),
    };
    PageSlice {
        positions,
        next_cursor: (to < total).then_some(to),
    }
}

/// One page: positions in the order shown, and the next cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSlice {
    pub positions: Vec<usize>,
    pub next_cursor: Option<usize>,
}
