//! Incremental reading of one transcript file: byte offsets, the carried-over partial line,
//! the file's compact usage entries, and the append-vs-re-read decision (data.md §1.6).

use super::record::{Line, Tokens, parse_line};

/// Lines longer than this are skipped and counted in [`ReadProblems::oversized_lines`], so a
/// pathological line (a pasted multi-gigabyte log) cannot hold the rollup's memory hostage.
/// Real usage records are a few KiB; even a maximal reply stays far below it.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 << 20;

/// A partial-line buffer up to this size is reused; a bigger one is freed after its line.
const KEEP_PARTIAL_CAPACITY: usize = 64 << 10;

/// How much of a file's head is fingerprinted to notice a rewrite that kept the inode.
pub const HEAD_BYTES: usize = 4096;

/// One usage record of a file, as kept between reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageEntry {
    /// Hash of `message.id[:requestId]` (§1.3); `None` = never de-duplicated.
    pub key: Option<u64>,
    /// Index into [`FileState::models`].
    pub model: u32,
    pub tokens: Tokens,
    pub timestamp_ms: Option<i64>,
    /// Byte offset of the record's line in the file (the §1.3 tie-break).
    pub offset: u64,
    pub sidechain: bool,
}

/// Lines that did not parse; tolerated, reported, never fatal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadProblems {
    /// Not JSON, truncated, nested deeper than 64 levels or a number out of range.
    pub malformed_lines: u64,
    /// Longer than the line limit; skipped unread.
    pub oversized_lines: u64,
}

impl ReadProblems {
    pub(crate) fn add(&mut self, other: ReadProblems) {
        self.malformed_lines += other.malformed_lines;
        self.oversized_lines += other.oversized_lines;
    }
}

/// What the rollup knows about one file; fed the file's bytes in order, in any chunks.
///
/// A trailing line without its `\n` is held back until the newline arrives: Claude Code may
/// be in the middle of writing it.
#[derive(Debug, Clone)]
pub struct FileState {
    max_line: usize,
    /// Bytes fed so far (the file offset the next `feed` continues from).
    fed: u64,
    /// Offset just past the last complete line (= start of `partial`).
    complete: u64,
    partial: Vec<u8>,
    /// Inside a line already known to be oversized: drop bytes until its `\n`.
    skipping: bool,
    /// FNV-1a over the first `head_len` bytes fed.
    head_hash: u64,
    head_len: usize,
    models: Vec<Box<str>>,
    entries: Vec<UsageEntry>,
    problems: ReadProblems,
}

impl Default for FileState {
    fn default() -> Self {
        Self::new()
    }
}

impl FileState {
    pub fn new() -> Self {
        Self::with_max_line(DEFAULT_MAX_LINE_BYTES)
    }

    /// A state whose lines longer than `max_line` bytes are skipped as oversized.
    pub fn with_max_line(max_line: usize) -> Self {
        Self {
            max_line,
            fed: 0,
            complete: 0,
            partial: Vec::new(),
            skipping: false,
            head_hash: FNV_OFFSET,
            head_len: 0,
            models: Vec::new(),
            entries: Vec::new(),
            problems: ReadProblems::default(),
        }
    }

    /// Consumes the next bytes of the file (those from offset [`FileState::fed_len`] on).
    pub fn feed(&mut self, new_bytes: &[u8]) {
        self.hash_head(new_bytes);
        let base = self.fed;
        self.fed += new_bytes.len() as u64;
        let mut rest = new_bytes;
        let mut rest_offset = base;

        if self.skipping || !self.partial.is_empty() {
            let Some(newline) = memchr::memchr(b'\n', rest) else {
                self.carry(rest);
                return;
            };
            let (head, tail) = (&rest[..newline], &rest[newline + 1..]);
            if self.skipping {
                self.skipping = false;
            } else if self.partial.len() + head.len() > self.max_line {
                self.partial = Vec::new();
                self.problems.oversized_lines += 1;
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(head);
                self.take_line(&line, self.complete);
                // Keep a small allocation for the next partial line, but never pin the
                // buffer of one huge line for the life of the file state.
                if line.capacity() <= KEEP_PARTIAL_CAPACITY {
                    line.clear();
                    self.partial = line;
                }
            }
            rest_offset += (newline + 1) as u64;
            self.complete = rest_offset;
            rest = tail;
        }

        let mut start = 0;
        for newline in memchr::memchr_iter(b'\n', rest) {
            let line = &rest[start..newline];
            if line.len() > self.max_line {
                self.problems.oversized_lines += 1;
            } else {
                self.take_line(line, rest_offset + start as u64);
            }
            start = newline + 1;
        }
        self.complete = rest_offset + start as u64;
        self.carry(&rest[start..]);
    }

    /// Holds back an unfinished line, or starts skipping it once it is known to be too long.
    fn carry(&mut self, bytes: &[u8]) {
        if self.skipping || bytes.is_empty() {
            return;
        }
        if self.partial.len() + bytes.len() > self.max_line {
            self.partial = Vec::new();
            self.skipping = true;
            self.problems.oversized_lines += 1;
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    fn take_line(&mut self, line: &[u8], offset: u64) {
        match parse_line(line) {
            Line::Record(record) => {
                let model = self.model_index(&record.model);
                self.entries.push(UsageEntry {
                    key: record.key,
                    model,
                    tokens: record.tokens,
                    timestamp_ms: record.timestamp_ms,
                    offset,
                    sidechain: record.sidechain,
                });
            }
            Line::Malformed => self.problems.malformed_lines += 1,
            Line::Ignored | Line::Synthetic => {}
        }
    }

    fn model_index(&mut self, model: &str) -> u32 {
        // A file names a handful of models at most; a scan beats hashing.
        let index = self
            .models
            .iter()
            .position(|m| &**m == model)
            .unwrap_or_else(|| {
                self.models.push(model.into());
                self.models.len() - 1
            });
        u32::try_from(index).expect("fewer than 4 billion models in one file")
    }

    fn hash_head(&mut self, bytes: &[u8]) {
        let take = (HEAD_BYTES - self.head_len).min(bytes.len());
        self.head_hash = fnv1a(self.head_hash, &bytes[..take]);
        self.head_len += take;
    }

    /// Bytes fed so far; the next read starts here.
    pub fn fed_len(&self) -> u64 {
        self.fed
    }

    /// Offset just past the last complete line.
    pub fn complete_len(&self) -> u64 {
        self.complete
    }

    /// How many leading bytes of the file [`FileState::head_matches`] wants to see.
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// Whether `head` (the file's first [`FileState::head_len`] bytes as they are now) is what
    /// was fed: a different head means the file was rewritten in place and must be re-read.
    pub fn head_matches(&self, head: &[u8]) -> bool {
        head.len() == self.head_len && fnv1a(FNV_OFFSET, head) == self.head_hash
    }

    /// Model ids as written in the file, indexed by [`UsageEntry::model`].
    pub fn models(&self) -> &[Box<str>] {
        &self.models
    }

    /// The file's usage records in file order (before de-duplication).
    pub fn entries(&self) -> &[UsageEntry] {
        &self.entries
    }

    pub fn problems(&self) -> ReadProblems {
        self.problems
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// What `stat` says about a file; the caller records it with `len` = bytes fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i128,
}

/// How to bring a file's state up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPlan {
    /// Nothing changed: use the cached entries.
    Unchanged,
    /// Grown in place: feed the bytes from `from` (the old length) on.
    Append { from: u64 },
    /// Replaced, shrunk, rewritten or touched: start a fresh state and feed from 0.
    Reread,
}

/// Decides between reusing, appending and re-reading (data.md §1.6). `head_unchanged` is
/// [`FileState::head_matches`] over the file's current first bytes; pass `true` when the
/// file is too small to have changed its head without shrinking.
pub fn plan_read(previous: &FileStamp, current: &FileStamp, head_unchanged: bool) -> ReadPlan {
    if previous.dev != current.dev || previous.ino != current.ino {
        return ReadPlan::Reread;
    }
    if current.len == previous.len && current.mtime_ns == previous.mtime_ns {
        return ReadPlan::Unchanged;
    }
    // Same length but a new mtime is an in-place rewrite (or a touch): only a re-read can
    // tell, and it is rare enough to be cheap overall.
    if current.len <= previous.len || !head_unchanged {
        return ReadPlan::Reread;
    }
    ReadPlan::Append { from: previous.len }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &str = r#"{"requestId":"r1","message":{"id":"m1","model":"claude-haiku-4-5","usage":{"input_tokens":1,"output_tokens":2}}}"#;

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let mut state = FileState::new();
        let (a, b) = REPLY.split_at(40);
        state.feed(a.as_bytes());
        assert!(state.entries().is_empty());
        assert_eq!((state.fed_len(), state.complete_len()), (40, 0));
        state.feed(b.as_bytes());
        assert!(state.entries().is_empty());
        state.feed(b"\n");
        assert_eq!(state.entries().len(), 1);
        assert_eq!(state.entries()[0].offset, 0);
        let len = REPLY.len() as u64 + 1;
        assert_eq!((state.fed_len(), state.complete_len()), (len, len));
        state.feed(format!("\n{REPLY}\n").as_bytes());
        assert_eq!(state.entries().len(), 2);
        assert_eq!(state.entries()[1].offset, len + 1);
        assert_eq!(&*state.models()[0], "claude-haiku-4-5");
        assert_eq!(state.entries()[1].model, 0);
    }

    #[test]
    fn oversized_lines_are_skipped_and_counted() {
        let mut state = FileState::with_max_line(REPLY.len());
        let long = format!("{REPLY} ");
        state.feed(format!("{REPLY}\n{long}\n{REPLY}\n").as_bytes());
        assert_eq!(state.entries().len(), 2);
        assert_eq!(state.problems().oversized_lines, 1);
        // The same line arriving in pieces is skipped without being buffered whole.
        let mut state = FileState::with_max_line(REPLY.len());
        for piece in long.as_bytes().chunks(7) {
            state.feed(piece);
        }
        assert_eq!(state.problems().oversized_lines, 1);
        assert!(state.partial.is_empty());
        state.feed(format!("\n{REPLY}\n").as_bytes());
        assert_eq!(state.entries().len(), 1);
        assert_eq!(state.entries()[0].offset, long.len() as u64 + 1);
        assert_eq!(state.problems().oversized_lines, 1);
    }

    #[test]
    fn head_fingerprint_covers_the_first_4_kib() {
        let mut state = FileState::new();
        state.feed(b"abc");
        assert_eq!(state.head_len(), 3);
        assert!(state.head_matches(b"abc"));
        assert!(!state.head_matches(b"abd"));
        state.feed(&vec![b'x'; 5000]);
        assert_eq!(state.head_len(), HEAD_BYTES);
        let mut head = b"abc".to_vec();
        head.resize(HEAD_BYTES, b'x');
        assert!(state.head_matches(&head));
    }

    #[test]
    fn read_plans() {
        let old = FileStamp {
            dev: 1,
            ino: 2,
            len: 100,
            mtime_ns: 5,
        };
        let grown = FileStamp {
            len: 150,
            mtime_ns: 6,
            ..old
        };
        assert_eq!(plan_read(&old, &old, true), ReadPlan::Unchanged);
        assert_eq!(
            plan_read(&old, &grown, true),
            ReadPlan::Append { from: 100 }
        );
        assert_eq!(plan_read(&old, &grown, false), ReadPlan::Reread);
        // Another file, a shrink, or a touch without growth: read it again.
        for (name, now) in [
            ("other inode", FileStamp { ino: 3, ..old }),
            ("other device", FileStamp { dev: 9, ..grown }),
            ("shrunk", FileStamp { len: 50, ..grown }),
            ("touched, same length", FileStamp { mtime_ns: 7, ..old }),
        ] {
            assert_eq!(plan_read(&old, &now, true), ReadPlan::Reread, "{name}");
        }
    }
}
