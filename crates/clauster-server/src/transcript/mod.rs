//! The transcript viewer (issue 21): pages of a session's turns from the end without reading
//! the whole file, the tail and the live socket of a running session, the server-rendered
//! viewer page. The pure rules live in `clauster_core::transcript`; this module keeps one
//! incremental [`TranscriptIndex`] per open file, reads the byte ranges a page needs and
//! renders them ([`html`]).

mod html;
pub mod page;
pub mod routes;
pub mod socket;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use clauster_core::transcript::{
    Order, TranscriptIndex, Turn, TurnSpan, page_positions, parse_turn, parse_turn_prefix,
};
use clauster_core::usage::{FileStamp, PriceTable, ReadPlan, plan_read};
use clauster_wire::{TranscriptProblems, TranscriptTurn, TurnTokens};

pub use html::RenderContext;

/// Indexes kept at once; the least recently used goes first.
const MAX_INDEXES: usize = 32;
/// Read size while indexing.
const CHUNK: usize = 1 << 20;
/// New bytes from which indexing uses a second thread (a transcript opened cold).
const PARALLEL_BYTES: u64 = 8 << 20;
/// The most of one turn a page or tail reads; the rest is left unread and said so.
pub const TURN_READ_BYTES: usize = 256 << 10;
/// A page stops adding turns once their JSON would pass this (at least one turn is always
/// sent); `next_cursor` continues after the last one sent (issue 21).
pub const PAGE_BUDGET_BYTES: usize = 256 << 10;

/// One file's index and the stamp of the bytes it was built from.
#[derive(Debug)]
pub struct Indexed {
    index: TranscriptIndex,
    stamp: Option<FileStamp>,
    used: Instant,
    /// Bumped each time the index starts over: a live view that saw another generation
    /// must reload.
    generation: u64,
}

impl crate::state::AppState {
    /// The transcript indexes, registered by `serve_on`.
    pub fn transcript_indexes(&self) -> &Indexes {
        self.feature()
    }
}

/// The indexes of the files viewed lately, shared by every viewer of a file.
#[derive(Debug, Default)]
pub struct Indexes {
    files: Mutex<HashMap<PathBuf, Arc<Mutex<Indexed>>>>,
}

impl Indexes {
    /// The entry of `path` (new and empty the first time).
    pub fn entry(&self, path: &Path) -> Arc<Mutex<Indexed>> {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = files.get(path) {
            return Arc::clone(entry);
        }
        if files.len() >= MAX_INDEXES {
            let oldest = files
                .iter()
                .filter(|(_, e)| Arc::strong_count(e) == 1)
                .min_by_key(|(_, e)| e.lock().map_or_else(|_| Instant::now(), |e| e.used))
                .map(|(p, _)| p.clone());
            if let Some(oldest) = oldest {
                files.remove(&oldest);
            }
        }
        let entry = Arc::new(Mutex::new(Indexed {
            index: TranscriptIndex::new(),
            stamp: None,
            used: Instant::now(),
            generation: 0,
        }));
        files.insert(path.to_owned(), Arc::clone(&entry));
        entry
    }
}

/// Feeds `index` the bytes of `file` from `at` up to `until` (the end of the file without).
fn feed_range(
    file: &File,
    mut at: u64,
    until: Option<u64>,
    index: &mut TranscriptIndex,
) -> io::Result<()> {
    let mut buffer = vec![0; CHUNK];
    loop {
        let want = until.map_or(CHUNK, |until| {
            usize::try_from(until.saturating_sub(at)).map_or(CHUNK, |left| left.min(CHUNK))
        });
        if want == 0 {
            return Ok(());
        }
        let read = file.read_at(&mut buffer[..want], at)?;
        if read == 0 {
            return Ok(());
        }
        index.feed(&buffer[..read]);
        at += read as u64;
    }
}

/// The start of the first line that begins after `at` and before `len`, looked for in the
/// next [`CHUNK`] bytes (`None`: no line starts there; index in order then).
fn line_start_after(file: &File, at: u64, len: u64) -> io::Result<Option<u64>> {
    let mut buffer = vec![0; (64 << 10).min(CHUNK)];
    let mut offset = at;
    while offset < len && offset - at < CHUNK as u64 {
        let read = file.read_at(&mut buffer, offset)?;
        if read == 0 {
            break;
        }
        if let Some(nl) = buffer[..read].iter().position(|&b| b == b'\n') {
            let start = offset + nl as u64 + 1;
            return Ok((start < len).then_some(start));
        }
        offset += read as u64;
    }
    Ok(None)
}

fn stamp(meta: &std::fs::Metadata) -> FileStamp {
    FileStamp {
        dev: meta.dev(),
        ino: meta.ino(),
        len: meta.len(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
    }
}

impl Indexed {
    /// Brings the index up to date with the file: appended bytes only when it grew in place,
    /// from the start when it shrank, was replaced or its head changed. Returns whether it
    /// started over (a live view must reload). Blocking.
    pub fn refresh(&mut self, path: &Path) -> io::Result<bool> {
        self.used = Instant::now();
        let file = File::open(path)?;
        let now = stamp(&file.metadata()?);
        let from = match self.stamp {
            None => Some(0),
            Some(previous) if previous == now => None,
            Some(previous) => {
                let head_unchanged = if now.len >= previous.len {
                    let mut head = vec![0; self.index.head().len()];
                    file.read_exact_at(&mut head, 0)?;
                    self.index.head_matches(&head)
                } else {
                    false
                };
                match plan_read(&previous, &now, head_unchanged) {
                    ReadPlan::Unchanged => None,
                    ReadPlan::Append { from } => Some(from),
                    ReadPlan::Reread => {
                        self.index = TranscriptIndex::new();
                        self.generation += 1;
                        Some(0)
                    }
                }
            }
        };
        let Some(from) = from else {
            return Ok(false);
        };
        let reset = from == 0 && self.stamp.is_some();
        self.index_new_bytes(&file, from, now.len, PARALLEL_BYTES)?;
        self.stamp = Some(FileStamp {
            len: self.index.fed_len(),
            ..now
        });
        Ok(reset)
    }

    /// Feeds the bytes from `from` (where the index ends) to the end of the file. Many new
    /// bytes (a transcript opened for the first time) are read on two threads: this one up to
    /// a line start near the middle, a second one from there into a deferred index that is
    /// then absorbed; each thread copies its half of the file once, in [`CHUNK`]s.
    fn index_new_bytes(
        &mut self,
        file: &File,
        from: u64,
        len: u64,
        parallel_from: u64,
    ) -> io::Result<()> {
        let two_cores = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
        if two_cores
            && len.saturating_sub(from) >= parallel_from
            && let Some(split) = line_start_after(file, from + (len - from) / 2, len)?
        {
            let index = &mut self.index;
            let (first, later) = std::thread::scope(|scope| {
                let later = scope.spawn(move || {
                    let mut later = TranscriptIndex::deferred(split);
                    feed_range(file, split, None, &mut later).map(|()| later)
                });
                (feed_range(file, from, Some(split), index), later.join())
            });
            first?;
            let later = later
                .map_err(|_| io::Error::other("the transcript indexing thread panicked"))??;
            // It starts at a line start where the first half ends, so this holds; if not, the
            // rest is read again below, in order.
            let _ = self.index.absorb(later);
        }
        let at = self.index.fed_len();
        feed_range(file, at, None, &mut self.index)
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn index(&self) -> &TranscriptIndex {
        &self.index
    }

    /// Reads and parses turn `position` of the index, all of it (search, "show all").
    pub fn turn(&self, file: &File, position: usize, prices: &PriceTable) -> io::Result<Turn> {
        let span: TurnSpan = self.index.turns()[position];
        let len = usize::try_from(span.end - span.start).unwrap_or(usize::MAX);
        let mut bytes = vec![0; len];
        file.read_exact_at(&mut bytes, span.start)?;
        Ok(parse_turn(&bytes, &span, position as u64, prices))
    }

    /// Turn `position` as a page shows it: at most [`TURN_READ_BYTES`] of its lines are read
    /// and parsed, the line the cut goes through completed (issue 21: memory per viewer stays
    /// bounded however large a tool result is).
    pub fn turn_for_page(
        &self,
        file: &File,
        position: usize,
        prices: &PriceTable,
    ) -> io::Result<Turn> {
        let span: TurnSpan = self.index.turns()[position];
        let whole = span.end - span.start;
        let read = whole.min(TURN_READ_BYTES as u64);
        let mut bytes = vec![0; usize::try_from(read).unwrap_or(TURN_READ_BYTES)];
        file.read_exact_at(&mut bytes, span.start)?;
        Ok(parse_turn_prefix(
            &bytes,
            whole - read,
            &span,
            position as u64,
            prices,
        ))
    }

    pub fn problems(&self) -> TranscriptProblems {
        let p = self.index.problems();
        TranscriptProblems {
            unreadable_lines: p.unreadable_lines,
            first_unreadable: p.first_unreadable.clone(),
            oversized_lines: p.oversized_lines,
            skipped_records: p.other_records,
            partial_last_line: self.index.has_partial_line(),
        }
    }
}

/// What a page asks for.
#[derive(Debug, Clone)]
pub struct PageQuery {
    pub cursor: usize,
    pub limit: usize,
    pub order: Order,
    /// Case-insensitive filter over the redacted content; blank means none.
    pub q: Option<String>,
}

/// A page, built.
#[derive(Debug)]
pub struct Page {
    pub turns: Vec<TranscriptTurn>,
    pub next_cursor: Option<u64>,
    pub total: u64,
    pub offset: u64,
    pub problems: TranscriptProblems,
}

/// A turn's `content` in a page or tail is cut after this many characters: a page of huge
/// turns must not cost the server (or the phone) hundreds of megabytes (issue 21: about
/// 1 MiB per viewer). The turn's items (`…/turns/{i}/items/{item}`) keep the full text.
const CONTENT_CHARS: usize = 20_000;

/// `text` cut after [`CONTENT_CHARS`] characters, saying how much was left out; a turn read
/// only in part (`unread` bytes) says so too.
fn bounded_content(text: String, unread: u64) -> String {
    let Some((cut_at, _)) = text.char_indices().nth(CONTENT_CHARS) else {
        if unread == 0 {
            return text;
        }
        let mut shown = text;
        let _ = write!(
            shown,
            "\n… [{unread} more bytes of this turn not read: open the turn's items for the full text]"
        );
        return shown;
    };
    let left = text[cut_at..].chars().count();
    let mut shown = text;
    shown.truncate(cut_at);
    if unread == 0 {
        let _ = write!(
            shown,
            "\n… [{left} more characters: open the turn's items for the full text]"
        );
    } else {
        let _ = write!(
            shown,
            "\n… [{left} more characters and {unread} more bytes of this turn not read: open \
             the turn's items for the full text]"
        );
    }
    shown
}

/// The wire form of a parsed turn.
pub fn to_wire(turn: &Turn, context: &RenderContext) -> TranscriptTurn {
    TranscriptTurn {
        role: turn.role.as_str().to_owned(),
        content: bounded_content(turn.plain_text(), turn.cut_bytes),
        model: turn.model.clone(),
        timestamp: turn.timestamp.clone(),
        index: turn.index,
        line: turn.line,
        html: html::turn(turn, context),
        tokens: turn.tokens.map(|t| TurnTokens {
            input: t.input,
            output: t.output,
            cache_creation_5m: t.cache_write_5m,
            cache_creation_1h: t.cache_write_1h,
            cache_read: t.cache_read,
        }),
        cost_usd: turn.cost_nanos.map(usd_6dp),
    }
}

/// Nano-dollars as USD rounded to 6 decimals.
#[allow(
    clippy::cast_precision_loss,
    reason = "a turn costs far less than 2^53 micro-dollars"
)]
fn usd_6dp(nanos: u64) -> f64 {
    ((nanos + 500) / 1000) as f64 / 1_000_000.0
}

/// The JSON bytes a page has used of [`PAGE_BUDGET_BYTES`].
#[derive(Debug, Default)]
struct PageBudget {
    used: usize,
    turns: usize,
}

impl PageBudget {
    /// Whether `turn` still fits; the first turn always does.
    fn admits(&mut self, turn: &TranscriptTurn) -> bool {
        let size = json_len(turn);
        if self.turns > 0 && self.used + size > PAGE_BUDGET_BYTES {
            return false;
        }
        self.used += size;
        self.turns += 1;
        true
    }
}

/// The length of `value`'s JSON, counted without building it.
fn json_len(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Builds one page of `path` (blocking).
pub fn build_page(
    entry: &Mutex<Indexed>,
    path: &Path,
    query: &PageQuery,
    prices: &PriceTable,
    context: &RenderContext,
) -> io::Result<Page> {
    let mut indexed = entry.lock().unwrap_or_else(PoisonError::into_inner);
    indexed.refresh(path)?;
    let file = File::open(path)?;
    let count = indexed.index().turns().len();
    let needle = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);
    let (turns, next_cursor, total) = if let Some(needle) = needle {
        // A search reads every turn in full, one at a time: the filter runs over the redacted
        // text (1.3.2).
        let mut matching = Vec::new();
        for position in 0..count {
            let turn = indexed.turn(&file, position, prices)?;
            if turn.plain_text().to_lowercase().contains(&needle) {
                // Positions only: a page of matches is read again, bounded, below.
                matching.push(position);
            }
        }
        let slice = page_positions(matching.len(), query.cursor, query.limit, query.order);
        let mut budget = PageBudget::default();
        let mut turns = Vec::with_capacity(slice.positions.len());
        for &k in &slice.positions {
            let turn = to_wire(&indexed.turn_for_page(&file, matching[k], prices)?, context);
            if !budget.admits(&turn) {
                break;
            }
            turns.push(turn);
        }
        let next_cursor = if turns.len() < slice.positions.len() {
            Some(query.cursor.min(matching.len()) + turns.len())
        } else {
            slice.next_cursor
        };
        (turns, next_cursor, matching.len())
    } else {
        let slice = page_positions(count, query.cursor, query.limit, query.order);
        let mut budget = PageBudget::default();
        let mut turns = Vec::with_capacity(slice.positions.len());
        for &position in &slice.positions {
            let turn = to_wire(&indexed.turn_for_page(&file, position, prices)?, context);
            if !budget.admits(&turn) {
                break;
            }
            turns.push(turn);
        }
        let next_cursor = if turns.len() < slice.positions.len() {
            Some(query.cursor.min(count) + turns.len())
        } else {
            slice.next_cursor
        };
        (turns, next_cursor, count)
    };
    Ok(Page {
        turns,
        next_cursor: next_cursor.map(|c| c as u64),
        total: total as u64,
        offset: indexed.index().complete_len(),
        problems: indexed.problems(),
    })
}

/// What a tail read found.
#[derive(Debug)]
pub struct Tail {
    pub turns: Vec<TranscriptTurn>,
    pub offset: u64,
    pub reset: bool,
    pub total: u64,
    /// Turns after `offset` were left for the next call (the answer reached
    /// [`PAGE_BUDGET_BYTES`]).
    pub more: bool,
}

/// A bounded run of turns read for the tail or the live socket.
#[derive(Debug)]
pub struct Batch {
    pub turns: Vec<TranscriptTurn>,
    /// Where the next read continues: the end of the last turn sent when the budget cut the
    /// run short, else the end of the complete lines.
    pub offset: u64,
    pub more: bool,
}

impl Indexed {
    /// The turns with lines after `from`, oldest first, each read as a page reads it, until
    /// their JSON would pass [`PAGE_BUDGET_BYTES`] (at least one is sent). Blocking.
    pub fn turns_after(
        &self,
        file: &File,
        from: u64,
        prices: &PriceTable,
        context: &RenderContext,
    ) -> io::Result<Batch> {
        let first = self.index.first_turn_ending_after(from);
        let spans = self.index.turns();
        let mut budget = PageBudget::default();
        let mut turns = Vec::new();
        for position in first..spans.len() {
            let turn = to_wire(&self.turn_for_page(file, position, prices)?, context);
            if !budget.admits(&turn) {
                // `first_turn_ending_after(end)` is `position`: nothing lost, nothing twice.
                return Ok(Batch {
                    turns,
                    offset: spans[position - 1].end,
                    more: true,
                });
            }
            turns.push(turn);
        }
        Ok(Batch {
            turns,
            offset: self.index.complete_len(),
            more: false,
        })
    }

    /// The newest turns whose JSON fits [`PAGE_BUDGET_BYTES`] (at least one), oldest first,
    /// with the offset at the end of the complete lines: what a reader that lost its place
    /// starts from, like a first page. Blocking.
    pub fn newest_turns(
        &self,
        file: &File,
        prices: &PriceTable,
        context: &RenderContext,
    ) -> io::Result<Batch> {
        let mut budget = PageBudget::default();
        let mut turns = Vec::new();
        for position in (0..self.index.turns().len()).rev() {
            let turn = to_wire(&self.turn_for_page(file, position, prices)?, context);
            if !budget.admits(&turn) {
                break;
            }
            turns.push(turn);
        }
        turns.reverse();
        Ok(Batch {
            turns,
            offset: self.index.complete_len(),
            more: false,
        })
    }
}

/// The turns with lines after `offset`, oldest first, at most [`PAGE_BUDGET_BYTES`] of JSON
/// (`more` then says the next call from the answer's `offset` has the rest). A file now
/// shorter than `offset`, or rewritten since the index was built, is a reset: the newest turns
/// that fit, with the offset at the file's end (blocking).
pub fn build_tail(
    entry: &Mutex<Indexed>,
    path: &Path,
    offset: u64,
    prices: &PriceTable,
    context: &RenderContext,
) -> io::Result<Tail> {
    let mut indexed = entry.lock().unwrap_or_else(PoisonError::into_inner);
    let rebuilt = indexed.refresh(path)?;
    let reset = rebuilt || offset > indexed.index().fed_len();
    let file = File::open(path)?;
    let batch = if reset {
        indexed.newest_turns(&file, prices, context)?
    } else {
        indexed.turns_after(&file, offset, prices, context)?
    };
    Ok(Tail {
        turns: batch.turns,
        offset: batch.offset,
        reset,
        total: indexed.index().turns().len() as u64,
        more: batch.more,
    })
}

/// What "show all" found.
#[derive(Debug, PartialEq, Eq)]
pub enum ItemText {
    Text(String),
    NoSuchTurn,
    NoSuchItem,
}

/// The full text of item `path` (dot-separated positions into the turn's items and nested
/// runs) of turn `position`, for "show all" (blocking).
pub fn item_text(
    entry: &Mutex<Indexed>,
    path: &Path,
    position: usize,
    item: &str,
    prices: &PriceTable,
) -> io::Result<ItemText> {
    let mut indexed = entry.lock().unwrap_or_else(PoisonError::into_inner);
    indexed.refresh(path)?;
    if position >= indexed.index().turns().len() {
        return Ok(ItemText::NoSuchTurn);
    }
    let file = File::open(path)?;
    let turn = indexed.turn(&file, position, prices)?;
    Ok(html::item_text(&turn.items, item).map_or(ItemText::NoSuchItem, ItemText::Text))
}

/// The conversation's title: its first user prompt that is not a slash command's echo (else
/// the first at all), redacted, at most 120 characters. Looks at the first 50 turns only.
pub fn title(
    entry: &Mutex<Indexed>,
    path: &Path,
    prices: &PriceTable,
) -> io::Result<Option<String>> {
    let indexed = entry.lock().unwrap_or_else(PoisonError::into_inner);
    let file = File::open(path)?;
    let mut fallback = None;
    let turns = indexed.index().turns();
    for (position, span) in turns.iter().enumerate().take(50) {
        if span.role != clauster_core::transcript::Role::User || span.sidechain {
            continue;
        }
        let turn = indexed.turn_for_page(&file, position, prices)?;
        let text: Vec<&str> = turn
            .items
            .iter()
            .filter_map(|item| match item {
                clauster_core::transcript::Item::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        let text = text.join(" ");
        if text.trim().is_empty() {
            continue;
        }
        let label = clauster_core::transcript::collapse(&text, 120);
        if text.starts_with("<command-") || text.starts_with("<local-command-") {
            fallback.get_or_insert(label);
        } else {
            return Ok(Some(label));
        }
    }
    Ok(fallback)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    const SESSION: &str =
        include_str!("../../../clauster-core/src/transcript/fixtures/session.jsonl");

    fn fresh() -> Indexed {
        Indexed {
            index: TranscriptIndex::new(),
            stamp: None,
            used: Instant::now(),
            generation: 0,
        }
    }

    /// Refreshes `indexed` from `path` with two threads from `parallel_from` new bytes on.
    fn refresh_with(indexed: &mut Indexed, path: &Path, parallel_from: u64) {
        let file = File::open(path).unwrap();
        let len = file.metadata().unwrap().len();
        let from = indexed.index.fed_len();
        indexed
            .index_new_bytes(&file, from, len, parallel_from)
            .unwrap();
    }

    #[test]
    fn two_threads_index_a_file_as_one_does_and_appends_stay_incremental() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        // Real-shaped lines many times over (streamed pieces, sidechains, results, a
        // `<synthetic>` reply, unreadable and truncated lines), ending in half a line.
        let body = SESSION.repeat(40) + "{\"type\":\"user\",\"mess";
        std::fs::write(&path, &body).unwrap();
        let mut sequential = fresh();
        refresh_with(&mut sequential, &path, u64::MAX);
        assert!(sequential.index.turns().len() > 200);
        // Every split the threshold allows lands on a line start somewhere else.
        for parallel_from in [1, 4096, body.len() as u64 / 3] {
            let mut parallel = fresh();
            refresh_with(&mut parallel, &path, parallel_from);
            assert_eq!(parallel.index.turns(), sequential.index.turns());
            assert_eq!(parallel.problems(), sequential.problems());
            assert_eq!(
                parallel.index.complete_len(),
                sequential.index.complete_len()
            );
            assert_eq!(parallel.index.fed_len(), body.len() as u64);
        }
        let mut parallel = fresh();
        refresh_with(&mut parallel, &path, 1);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(format!("age\":{{}}}}\n{}", SESSION.repeat(3)).as_bytes())
            .unwrap();
        refresh_with(&mut parallel, &path, 1);
        refresh_with(&mut sequential, &path, u64::MAX);
        assert_eq!(parallel.index.turns(), sequential.index.turns());
        assert_eq!(parallel.problems(), sequential.problems());
        assert!(!parallel.index.has_partial_line());
    }
}
