//! The turn index of one transcript file: where each turn's lines are, built once and then
//! extended with appended bytes only (like the rollup's per-file state, data.md §1.6), so a
//! page from the end reads just that page's bytes.
//!
//! A *turn* is a run of consecutive lines:
//! - a user prompt (a user line that is not only tool results);
//! - one assistant reply: its streamed pieces (lines sharing `message.id`), the tool results
//!   that answer it (user lines of tool results only), and any sidechain lines a subagent
//!   wrote into the main file meanwhile (nested under the call that started them).
//!
//! Lines between turns that are not messages (summaries, snapshots, system records, unknown
//! types) are counted and skipped; unreadable lines are counted with their line numbers.

use super::classify::{LineClass, Role, TurnLine};
use super::skim::classify_line;

/// Lines longer than this are skipped unread and counted (the rollup's limit).
pub const MAX_LINE_BYTES: usize = crate::usage::DEFAULT_MAX_LINE_BYTES;

/// How many unreadable line numbers are kept to show.
const KEEP_UNREADABLE: usize = 20;

/// A partial-line buffer up to this size is reused; a bigger one is freed after its line.
const KEEP_PARTIAL_CAPACITY: usize = 64 << 10;

/// Where one turn's lines are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnSpan {
    /// Byte offset of the turn's first line.
    pub start: u64,
    /// Byte offset just past the `\n` of its last line.
    pub end: u64,
    /// 1-based number of its first line.
    pub first_line: u64,
    pub role: Role,
    /// The turn itself was written by a subagent (a sidechain with nothing to nest under).
    pub sidechain: bool,
}

/// [`TranscriptIndex::absorb`] was given an index that does not continue this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the deferred index does not start where this one ends, on a line start: index the bytes in order instead"
)]
pub struct AbsorbError;

/// What was skipped while indexing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexProblems {
    /// Lines that are not a JSON object (truncated, garbage, too deep).
    pub unreadable_lines: u64,
    /// The first [`KEEP_UNREADABLE`] of them (1-based line numbers).
    pub first_unreadable: Vec<u64>,
    /// Lines over [`MAX_LINE_BYTES`], skipped unread.
    pub oversized_lines: u64,
    /// Valid records that are not conversation turns (summaries, snapshots, unknown types).
    pub other_records: u64,
}

/// One line seen by an index that defers its turns (see [`TranscriptIndex::deferred`]).
#[derive(Debug, Clone, Copy)]
struct Seen {
    start: u64,
    end: u64,
    /// `None`: a line over the length limit, skipped unread.
    class: Option<LineClass>,
    /// The length limit was found passed before the line ended (counted then).
    counted_oversized: bool,
}

/// What the last turn of the index is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    /// No turn yet, or a user prompt.
    Prompt,
    /// An assistant reply; `None` when its lines carry no `message.id`.
    Reply(Option<u64>),
}

/// The incremental index of one file; fed its bytes in order, in any chunks.
#[derive(Debug, Clone)]
pub struct TranscriptIndex {
    max_line: usize,
    fed: u64,
    /// Offset just past the last complete line.
    complete: u64,
    partial: Vec<u8>,
    /// Inside a line already known to be oversized: drop bytes until its `\n`.
    skipping: bool,
    lines: u64,
    turns: Vec<TurnSpan>,
    /// What the last turn is: a reply (with its message key) can take more lines.
    last: Last,
    problems: IndexProblems,
    head: Vec<u8>,
    /// `Some` while this index only classifies lines for another to take in order
    /// ([`TranscriptIndex::absorb`]): turns depend on the lines before them.
    deferred: Option<Vec<Seen>>,
}

impl Default for TranscriptIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl TranscriptIndex {
    pub fn new() -> Self {
        Self::with_max_line(MAX_LINE_BYTES)
    }

    pub fn with_max_line(max_line: usize) -> Self {
        Self {
            max_line,
            fed: 0,
            complete: 0,
            partial: Vec::new(),
            skipping: false,
            lines: 0,
            turns: Vec::new(),
            last: Last::Prompt,
            problems: IndexProblems::default(),
            head: Vec::new(),
            deferred: None,
        }
    }

    /// An index of the bytes from `offset` on (a line start), for a second thread to build
    /// while this one reads the bytes before: it only classifies lines, and
    /// [`TranscriptIndex::absorb`] takes them in order into the index that read up to
    /// `offset` (issue 21: a cold 50 MB transcript is indexed on both cores).
    pub fn deferred(offset: u64) -> Self {
        Self::deferred_with_max_line(offset, MAX_LINE_BYTES)
    }

    pub fn deferred_with_max_line(offset: u64, max_line: usize) -> Self {
        Self {
            fed: offset,
            complete: offset,
            // Skip the head: only the index of the file's first bytes keeps one.
            head: vec![0; crate::usage::HEAD_BYTES],
            deferred: Some(Vec::new()),
            ..Self::with_max_line(max_line)
        }
    }

    /// Takes in the lines `later` classified (built with [`TranscriptIndex::deferred`] from
    /// where this index's bytes end, at a line start), as if this index had been fed them.
    ///
    /// # Errors
    /// `later` does not start where this index ends, on a line start, or was not deferred; the
    /// index is left as it was.
    pub fn absorb(&mut self, mut later: TranscriptIndex) -> Result<(), AbsorbError> {
        let Some(seen) = later.deferred.take() else {
            return Err(AbsorbError);
        };
        // Every complete line leaves a `Seen`, so the first one (or, with none, the still
        // unmoved `complete`) is where `later` started.
        let start = seen.first().map_or(later.complete, |s| s.start);
        if start != self.fed || self.fed != self.complete || self.skipping {
            return Err(AbsorbError);
        }
        for line in seen {
            self.apply(line);
        }
        // An oversized line still open at the end was counted when its limit passed.
        if later.skipping {
            self.problems.oversized_lines += 1;
        }
        self.fed = later.fed;
        self.complete = later.complete;
        self.partial = later.partial;
        self.skipping = later.skipping;
        Ok(())
    }

    /// Consumes the next bytes of the file (those from [`TranscriptIndex::fed_len`] on).
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.head.len() < crate::usage::HEAD_BYTES {
            let take = (crate::usage::HEAD_BYTES - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        let base = self.fed;
        self.fed += bytes.len() as u64;
        let mut rest = bytes;
        let mut at = base;
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let piece = &rest[..nl];
            let end = at + nl as u64 + 1;
            if self.skipping {
                self.skipping = false;
                // Counted when its limit passed, unless deferred (then the taker counts it).
                self.seen(Seen {
                    start: self.complete,
                    end,
                    class: None,
                    counted_oversized: self.deferred.is_none(),
                });
            } else if self.partial.is_empty() {
                self.line(piece, self.complete, end);
            } else if self.partial.len() + piece.len() > self.max_line {
                self.partial = Vec::new();
                self.seen(Seen {
                    start: self.complete,
                    end,
                    class: None,
                    counted_oversized: false,
                });
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(piece);
                self.line(&line, self.complete, end);
                line.clear();
                if line.capacity() <= KEEP_PARTIAL_CAPACITY {
                    self.partial = line;
                }
            }
            self.complete = end;
            at = end;
            rest = &rest[nl + 1..];
        }
        if !self.skipping && !rest.is_empty() {
            if self.partial.len() + rest.len() > self.max_line {
                self.partial = Vec::new();
                self.skipping = true;
                if self.deferred.is_none() {
                    self.problems.oversized_lines += 1;
                }
            } else {
                self.partial.extend_from_slice(rest);
            }
        }
    }

    fn line(&mut self, line: &[u8], start: u64, end: u64) {
        let class = (line.len() <= self.max_line).then(|| classify_line(line));
        self.seen(Seen {
            start,
            end,
            class,
            counted_oversized: false,
        });
    }

    fn seen(&mut self, line: Seen) {
        match &mut self.deferred {
            Some(seen) => seen.push(line),
            None => self.apply(line),
        }
    }

    fn apply(&mut self, line: Seen) {
        self.lines += 1;
        match line.class {
            None if line.counted_oversized => {}
            None => self.problems.oversized_lines += 1,
            Some(LineClass::Blank) => {}
            Some(LineClass::Unreadable) => {
                self.problems.unreadable_lines += 1;
                if self.problems.first_unreadable.len() < KEEP_UNREADABLE {
                    self.problems.first_unreadable.push(self.lines);
                }
            }
            Some(LineClass::Other) => self.problems.other_records += 1,
            Some(LineClass::Turn(turn)) => self.turn_line(turn, line.start, line.end),
        }
    }

    fn turn_line(&mut self, line: TurnLine, start: u64, end: u64) {
        let extends = match (self.turns.last(), line.role) {
            (None, _) => false,
            // A subagent's lines nest under whatever turn is open.
            (Some(_), _) if line.sidechain => true,
            (Some(_), Role::User) => line.results_only && matches!(self.last, Last::Reply(_)),
            (Some(_), Role::Assistant) => {
                matches!(self.last, Last::Reply(Some(key)) if line.message_key == Some(key))
            }
        };
        if extends {
            let last = self.turns.last_mut().expect("checked above");
            last.end = end;
            return;
        }
        self.turns.push(TurnSpan {
            start,
            end,
            first_line: self.lines,
            role: line.role,
            sidechain: line.sidechain,
        });
        self.last = match line.role {
            Role::Assistant => Last::Reply(line.message_key),
            Role::User => Last::Prompt,
        };
    }

    /// Bytes fed so far.
    pub fn fed_len(&self) -> u64 {
        self.fed
    }

    /// Offset just past the last complete line: what a live view has seen.
    pub fn complete_len(&self) -> u64 {
        self.complete
    }

    /// Whether bytes after the last `\n` are waiting for their line to end.
    pub fn has_partial_line(&self) -> bool {
        self.fed > self.complete
    }

    /// Complete lines seen.
    pub fn line_count(&self) -> u64 {
        self.lines
    }

    pub fn turns(&self) -> &[TurnSpan] {
        &self.turns
    }

    pub fn problems(&self) -> &IndexProblems {
        &self.problems
    }

    /// The first bytes fed (at most [`crate::usage::HEAD_BYTES`]).
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Whether `head` (read from the file now) starts like the bytes this index was built from.
    pub fn head_matches(&self, head: &[u8]) -> bool {
        head.len() >= self.head.len() && head[..self.head.len()] == self.head[..]
    }

    /// The index of the first turn whose end lies after `offset` (a live view that has seen
    /// everything up to `offset` needs that turn and the following ones).
    pub fn first_turn_ending_after(&self, offset: u64) -> usize {
        self.turns.partition_point(|t| t.end <= offset)
    }

    /// Memory held, roughly: the figure behind "bytes per open transcript".
    pub fn heap_bytes(&self) -> usize {
        self.turns.capacity() * std::mem::size_of::<TurnSpan>()
            + self.partial.capacity()
            + self.head.capacity()
            + self.problems.first_unreadable.capacity() * 8
            + self
                .deferred
                .as_ref()
                .map_or(0, |d| d.capacity() * std::mem::size_of::<Seen>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &str) -> TranscriptIndex {
        let mut index = TranscriptIndex::new();
        index.feed(text.as_bytes());
        index
    }

    const USER: &str = r#"{"type":"user","message":{"role":"user","content":"hi"}}"#;
    const RESULT: &str = r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}}"#;

    fn reply(id: &str, block: &str) -> String {
        format!(
            r#"{{"type":"assistant","message":{{"id":"{id}","role":"assistant","content":[{block}]}}}}"#
        )
    }

    fn side(line: &str) -> String {
        line.replacen('{', r#"{"isSidechain":true,"#, 1)
    }

    #[test]
    fn streamed_pieces_results_and_sidechains_make_one_turn() {
        let text = [
            USER.to_owned(),
            reply("m1", r#"{"type":"text","text":"a"}"#),
            r#"{"type":"file-history-snapshot"}"#.to_owned(),
            reply(
                "m1",
                r#"{"type":"tool_use","id":"t1","name":"Task","input":{}}"#,
            ),
            side(USER),
            side(&reply("s1", r#"{"type":"text","text":"sub"}"#)),
            RESULT.to_owned(),
            reply("m2", r#"{"type":"text","text":"done"}"#),
            reply("m2", r#"{"type":"text","text":"done"}"#),
            USER.to_owned(),
            RESULT.to_owned(),
        ]
        .join("\n")
            + "\n";
        let idx = index(&text);
        let roles: Vec<(Role, u64)> = idx.turns().iter().map(|t| (t.role, t.first_line)).collect();
        assert_eq!(
            roles,
            vec![
                (Role::User, 1),
                (Role::Assistant, 2),
                (Role::Assistant, 8),
                (Role::User, 10),
                // A result with no reply open stands alone.
                (Role::User, 11),
            ]
        );
        let second = idx.turns()[1];
        let range = usize::try_from(second.start).unwrap()..usize::try_from(second.end).unwrap();
        let lines: Vec<&str> = text[range].lines().collect();
        assert_eq!(lines.len(), 6, "{lines:?}");
        assert_eq!(idx.problems().other_records, 1);
        assert_eq!(idx.complete_len(), text.len() as u64);
    }

    #[test]
    fn any_chunking_gives_the_same_index() {
        let text = format!(
            "{USER}\n\nnot json\n{}\n{RESULT}\n{{\"type\":\"summary\"}}\n{USER}\n{{\"trunc",
            reply("m1", r#"{"type":"text","text":"é"}"#)
        );
        let whole = index(&text);
        for size in [1, 2, 3, 7, 64] {
            let mut chunked = TranscriptIndex::new();
            for chunk in text.as_bytes().chunks(size) {
                chunked.feed(chunk);
            }
            assert_eq!(chunked.turns(), whole.turns(), "chunks of {size}");
            assert_eq!(chunked.problems(), whole.problems());
            assert_eq!(chunked.complete_len(), whole.complete_len());
        }
        assert_eq!(whole.turns().len(), 3);
        assert_eq!(whole.problems().first_unreadable, vec![3]);
        assert!(whole.has_partial_line());
        assert_eq!(whole.line_count(), 7);
    }

    #[test]
    fn an_oversized_line_is_skipped_and_counted() {
        let big = format!(
            r#"{{"message":{{"role":"user","content":"{}"}}}}"#,
            "x".repeat(300)
        );
        let text = format!("{USER}\n{big}\n{USER}\n");
        for size in [7, 100, 1000] {
            let mut idx = TranscriptIndex::with_max_line(200);
            for chunk in text.as_bytes().chunks(size) {
                idx.feed(chunk);
            }
            assert_eq!(idx.turns().len(), 2, "chunks of {size}");
            assert_eq!(idx.turns()[1].first_line, 3);
            assert_eq!(idx.problems().oversized_lines, 1);
        }
    }

    /// The index of `text` built as two threads build it: the bytes before `split` fed in
    /// chunks of `size`, those after into a deferred index, absorbed.
    fn split_index(text: &[u8], split: usize, size: usize, max_line: usize) -> TranscriptIndex {
        let mut first = TranscriptIndex::with_max_line(max_line);
        for chunk in text[..split].chunks(size) {
            first.feed(chunk);
        }
        let mut later = TranscriptIndex::deferred_with_max_line(split as u64, max_line);
        for chunk in text[split..].chunks(size) {
            later.feed(chunk);
        }
        first.absorb(later).expect("split at a line start");
        first
    }

    #[test]
    fn an_index_built_in_two_halves_equals_one_built_in_order() {
        let big = format!(
            r#"{{"message":{{"role":"user","content":"{}"}}}}"#,
            "x".repeat(300)
        );
        let text = [
            USER.to_owned(),
            reply("m1", r#"{"type":"text","text":"a"}"#),
            "not json".to_owned(),
            reply("m1", r#"{"type":"text","text":"b"}"#),
            big.clone(),
            side(USER),
            RESULT.to_owned(),
            String::new(),
            r#"{"type":"summary"}"#.to_owned(),
            reply("m2", r#"{"type":"text","text":"c"}"#),
            RESULT.to_owned(),
            big,
            USER.to_owned(),
            "{\"trunc".to_owned(),
        ]
        .join("\n");
        let text = text.as_bytes();
        let mut whole = TranscriptIndex::with_max_line(200);
        whole.feed(text);
        let starts = std::iter::once(0).chain(memchr::memchr_iter(b'\n', text).map(|nl| nl + 1));
        for split in starts {
            for size in [3, 64, 1 << 20] {
                let halves = split_index(text, split, size, 200);
                assert_eq!(
                    halves.turns(),
                    whole.turns(),
                    "split at {split}, chunks of {size}"
                );
                assert_eq!(halves.problems(), whole.problems(), "split at {split}");
                assert_eq!(halves.line_count(), whole.line_count());
                assert_eq!(halves.complete_len(), whole.complete_len());
                assert_eq!(halves.fed_len(), whole.fed_len());
                assert_eq!(halves.has_partial_line(), whole.has_partial_line());
            }
        }
        assert_eq!(whole.problems().oversized_lines, 2);
        // It stays incremental: appended bytes land as if fed in order all along.
        let middle = memchr::memchr(b'\n', &text[text.len() / 2..]).unwrap() + text.len() / 2 + 1;
        let mut halves = split_index(text, middle, 64, 200);
        for index in [&mut halves, &mut whole] {
            index.feed(b"ated\"}\n");
            index.feed(USER.as_bytes());
            index.feed(b"\n");
        }
        assert_eq!(halves.turns(), whole.turns());
        assert_eq!(halves.problems(), whole.problems());
    }

    #[test]
    fn an_oversized_line_open_at_the_split_or_the_end_is_counted_once() {
        let long = "y".repeat(500);
        for text in [
            format!("{USER}\n{long}"),
            format!("{USER}\n{long}\n{USER}\n"),
        ] {
            let text = text.as_bytes();
            let mut whole = TranscriptIndex::with_max_line(200);
            whole.feed(text);
            let split = USER.len() + 1;
            for size in [7, 1000] {
                let mut halves = split_index(text, split, size, 200);
                assert_eq!(halves.problems(), whole.problems(), "chunks of {size}");
                halves.feed(b"\n");
                let mut whole = whole.clone();
                whole.feed(b"\n");
                assert_eq!(halves.problems(), whole.problems());
                assert_eq!(halves.problems().oversized_lines, 1);
            }
        }
    }

    #[test]
    fn absorb_refuses_an_index_that_does_not_continue_this_one() {
        let mut first = TranscriptIndex::new();
        first.feed(format!("{USER}\n").as_bytes());
        let gap = TranscriptIndex::deferred(first.fed_len() + 1);
        assert_eq!(first.absorb(gap), Err(AbsorbError));
        let mut partial = TranscriptIndex::new();
        partial.feed(b"{\"half");
        let later = TranscriptIndex::deferred(partial.fed_len());
        assert_eq!(partial.absorb(later), Err(AbsorbError));
        assert_eq!(first.absorb(TranscriptIndex::new()), Err(AbsorbError));
        assert_eq!(first.turns().len(), 1);
    }

    #[test]
    fn first_turn_ending_after_an_offset() {
        let text = format!("{USER}\n{USER}\n{USER}\n");
        let idx = index(&text);
        assert_eq!(idx.first_turn_ending_after(0), 0);
        let one = idx.turns()[0].end;
        assert_eq!(idx.first_turn_ending_after(one), 1);
        assert_eq!(idx.first_turn_ending_after(one - 1), 0);
        assert_eq!(idx.first_turn_ending_after(text.len() as u64), 3);
    }
}
