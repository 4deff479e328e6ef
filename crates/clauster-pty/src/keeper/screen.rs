//! The keeper's screen model (pty.md §4.1, §4.3, §5.3, §5.4, §6): a `vt100` emulator of
//! 120 × 40 cells with 200 lines of scrollback, the answers to terminal queries, the rendered
//! text the URL scanner and the prompt detector read, redacted frames and the exit screen.
//!
//! Emulator problems never end the keeper. A chunk whose feeding panics is skipped (the rest
//! of it); a render that panics drops the emulator, after which only the raw bytes remain
//! (`raw`, capped at 256 KiB) for the raw scan and the exit screen.

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};

use clauster_core::pty_sidecar::{PtyCursor, PtyScreen};
use clauster_core::sanitize::{sanitize_line, sanitize_text};

/// Columns of the keeper's terminal.
pub const COLS: u16 = 120;
/// Rows of the keeper's terminal.
pub const ROWS: u16 = 40;
/// Lines of scrollback the emulator keeps.
pub const SCROLLBACK: usize = 200;
/// The raw bytes kept for the raw scan and a dropped emulator's exit screen.
pub const RAW_CAP: usize = 256 * 1024;
/// Feed faults after which the emulator is no longer trusted and dropped.
const MAX_FEED_FAULTS: u32 = 3;
/// Rows kept in `exit_screen`, and its length cap in characters (pty.md §5.3).
const EXIT_ROWS: usize = 15;
const EXIT_CHARS: usize = 2000;

/// The kinds of emulator trouble, each reported once on stderr (pty.md §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Feeding a chunk to the emulator failed; the rest of the chunk was skipped.
    Feed,
    /// Rendering the screen failed; the emulator was dropped.
    Render,
    /// The emulator rejected an escape sequence or control character it does not know.
    Rejected,
}

impl Fault {
    fn describe(self) -> &'static str {
        match self {
            Fault::Feed => {
                "terminal output could not be fed to the emulator; the rest of that chunk was skipped"
            }
            Fault::Render => {
                "the terminal screen could not be rendered; the emulator was dropped and only the raw output is scanned"
            }
            Fault::Rejected => {
                "the emulator rejected an escape sequence; the screen may miss some output"
            }
        }
    }
}

/// What the emulator reports back while it processes a chunk: answers to queries (in order)
/// and whether it met a sequence it rejects.
#[derive(Debug, Default)]
struct Events {
    replies: Vec<u8>,
    rejected: bool,
}

impl vt100::Callbacks for Events {
    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        if i1.is_some() || i2.is_some() {
            return; // private queries (`ESC[>0q`, `ESC[?u`, …) get no answer
        }
        let values: Vec<u16> = params.iter().flat_map(|p| p.iter().copied()).collect();
        match c {
            // Device status report: the 1-based cursor position.
            'n' if values == [6] => {
                let (row, col) = screen.cursor_position();
                let _ = write!(
                    ByteWriter(&mut self.replies),
                    "\x1b[{};{}R",
                    row + 1,
                    col + 1
                );
            }
            // Primary device attributes: a VT100 with advanced video.
            'c' if values.iter().all(|v| *v == 0) => {
                self.replies.extend_from_slice(b"\x1b[?1;2c");
            }
            _ => {}
        }
    }

    /// An escape sequence the emulator does not implement. Character-set designations
    /// (`ESC ( B`, which 2.1.328 sends on exit) and a lone string terminator change nothing
    /// on screen and are not counted.
    fn unhandled_escape(&mut self, _: &mut vt100::Screen, i1: Option<u8>, _: Option<u8>, b: u8) {
        let charset = matches!(i1, Some(b'(' | b')' | b'*' | b'+' | b'-' | b'.' | b'/'));
        let terminator = i1.is_none() && b == b'\\';
        if !charset && !terminator {
            self.rejected = true;
        }
    }
}

/// `fmt::Write` into a byte buffer.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// One rendered row: one entry per cell the row shows, and whether it soft-wraps into the
/// next row.
#[derive(Debug, Clone)]
struct Row {
    text: String,
    wrapped: bool,
}

/// The keeper's terminal.
pub struct Screen {
    parser: Option<vt100::Parser<Events>>,
    raw: Vec<u8>,
    faults: Vec<Fault>,
    reported: Vec<Fault>,
    feed_faults: u32,
    dropped_reason: Option<String>,
}

impl Default for Screen {
    fn default() -> Self {
        Self::new()
    }
}

impl Screen {
    pub fn new() -> Self {
        Self {
            parser: Some(vt100::Parser::new_with_callbacks(
                ROWS,
                COLS,
                SCROLLBACK,
                Events::default(),
            )),
            raw: Vec::new(),
            faults: Vec::new(),
            reported: Vec::new(),
            feed_faults: 0,
            dropped_reason: None,
        }
    }

    /// Feeds one chunk of the bridge's output; returns the bytes to write back to the
    /// terminal (answers to queries), possibly empty.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.keep_raw(bytes);
        let Some(parser) = self.parser.as_mut() else {
            return Vec::new();
        };
        let result = catch_unwind(AssertUnwindSafe(|| parser.process(bytes)));
        let events = std::mem::take(parser.callbacks_mut());
        if result.is_err() {
            self.feed_faults += 1;
            self.fault(Fault::Feed);
            if self.feed_faults >= MAX_FEED_FAULTS {
                self.drop_emulator("the terminal emulator failed repeatedly on the output");
            }
        }
        if events.rejected {
            self.fault(Fault::Rejected);
        }
        events.replies
    }

    fn keep_raw(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
        if self.raw.len() > RAW_CAP {
            let cut = self.raw.len() - RAW_CAP;
            self.raw.drain(..cut);
        }
    }

    fn fault(&mut self, kind: Fault) {
        if !self.faults.contains(&kind) {
            self.faults.push(kind);
        }
        if !self.reported.contains(&kind) {
            self.reported.push(kind);
            eprintln!("clauster keeper: {}", kind.describe());
        }
    }

    /// Gives up on the emulator: from now on only the raw bytes are read. Public so tests
    /// can run the same bytes through the raw path.
    pub fn drop_emulator(&mut self, reason: &str) {
        if self.parser.take().is_some() {
            self.dropped_reason = Some(reason.to_owned());
        }
    }

    /// Why the emulator was dropped, once it was.
    pub fn dropped(&self) -> Option<&str> {
        self.dropped_reason.as_deref()
    }

    /// The raw bytes kept (the last [`RAW_CAP`]).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The `note` for a URL timeout while a fault is in force (pty.md §5.4).
    pub fn fault_note(&self) -> Option<&'static str> {
        if self.parser.is_none() || self.faults.iter().any(|f| *f != Fault::Rejected) {
            Some("No connect link: this session's terminal output could not be read.")
        } else if self.faults.contains(&Fault::Rejected) {
            Some("The connect link may be missing: some terminal output could not be interpreted.")
        } else {
            None
        }
    }

    /// Runs `f` on the emulator's screen; a panic drops the emulator (render fault).
    fn render<T>(&mut self, f: impl FnOnce(&mut vt100::Screen) -> T) -> Option<T> {
        let parser = self.parser.as_mut()?;
        if let Ok(value) = catch_unwind(AssertUnwindSafe(|| f(parser.screen_mut()))) {
            Some(value)
        } else {
            self.fault(Fault::Render);
            self.drop_emulator("the terminal screen could not be rendered");
            None
        }
    }

    /// The rendered text the scanners read (pty.md §4.2 step 1): scrollback and visible rows,
    /// one line per row, skipped cells as spaces, soft-wrapped rows joined with the next
    /// without a separator, trailing spaces removed. `None` without an emulator.
    pub fn lines(&mut self) -> Option<Vec<String>> {
        self.render(|screen| {
            let mut lines = Vec::new();
            let mut current = String::new();
            for row in all_rows(screen) {
                current.push_str(&row.text);
                if !row.wrapped {
                    lines.push(current.trim_end().to_owned());
                    current.clear();
                }
            }
            if !current.is_empty() {
                lines.push(current.trim_end().to_owned());
            }
            lines
        })
    }

    /// The visible screen as a redacted frame (pty.md §6): soft-wrapped row groups are joined,
    /// redacted as one line, and cut back into rows of 120 characters padded with spaces.
    pub fn grid(&mut self) -> Option<PtyScreen> {
        self.render(|screen| {
            screen.set_scrollback(0);
            let rows: Vec<Row> = (0..ROWS).map(|r| row(screen, r)).collect();
            let (y, x) = screen.cursor_position();
            PtyScreen {
                rows: redact_rows(&rows),
                cursor: PtyCursor { x, y },
                cols: COLS,
                rows_count: ROWS,
            }
        })
    }

    /// The 1-based cursor position, as a `ESC[6n` answer would give it.
    pub fn cursor(&mut self) -> Option<(u16, u16)> {
        self.render(|screen| {
            let (row, col) = screen.cursor_position();
            (row + 1, col + 1)
        })
    }

    /// `exit_screen` (pty.md §5.3): the last 15 non-empty rows, trailing spaces removed,
    /// redacted, joined by `\n`, at most 2 000 characters. Without an emulator the raw bytes'
    /// visible lines stand in. `None` when nothing was drawn.
    pub fn exit_screen(&mut self) -> Option<String> {
        let rows: Vec<String> = match self.render(|screen| {
            screen.set_scrollback(0);
            (0..ROWS).map(|r| row(screen, r).text).collect::<Vec<_>>()
        }) {
            Some(rows) => rows,
            None => String::from_utf8_lossy(&self.raw)
                .split(['\n', '\r'])
                .map(|l| sanitize_line(l).into_owned())
                .collect(),
        };
        let kept: Vec<&str> = rows
            .iter()
            .map(|r| r.trim_end())
            .filter(|r| !r.trim().is_empty())
            .collect();
        if kept.is_empty() {
            return None;
        }
        let tail = kept[kept.len().saturating_sub(EXIT_ROWS)..].join("\n");
        let clean = sanitize_text(&tail);
        Some(clean.chars().take(EXIT_CHARS).collect())
    }
}

/// One row of the screen as shown: a character per cell (skipped cells as spaces, the second
/// half of a wide character left out).
fn row(screen: &vt100::Screen, r: u16) -> Row {
    let mut text = String::with_capacity(usize::from(COLS));
    for c in 0..COLS {
        match screen.cell(r, c) {
            Some(cell) if cell.is_wide_continuation() => {}
            Some(cell) if cell.has_contents() => text.push_str(cell.contents()),
            _ => text.push(' '),
        }
    }
    Row {
        text,
        wrapped: screen.row_wrapped(r),
    }
}

/// Scrollback rows (oldest first), then the visible rows; leaves the view at the bottom.
fn all_rows(screen: &mut vt100::Screen) -> Vec<Row> {
    screen.set_scrollback(usize::MAX);
    let mut offset = screen.scrollback();
    let mut out = Vec::with_capacity(offset + usize::from(ROWS));
    while offset > 0 {
        screen.set_scrollback(offset);
        let take = offset.min(usize::from(ROWS));
        for r in 0..take {
            out.push(row(screen, u16::try_from(r).unwrap_or(0)));
        }
        offset -= take;
    }
    screen.set_scrollback(0);
    out.extend((0..ROWS).map(|r| row(screen, r)));
    out
}

/// Redacts visible rows wrap-aware: each group of rows joined by soft wraps is redacted as
/// one line, then cut back into as many rows of 120 characters (padded with spaces).
fn redact_rows(rows: &[Row]) -> Vec<String> {
    let width = usize::from(COLS);
    let mut out = Vec::with_capacity(rows.len());
    let mut group = String::new();
    let mut count = 0usize;
    for (i, row) in rows.iter().enumerate() {
        group.push_str(&row.text);
        count += 1;
        if row.wrapped && i + 1 < rows.len() {
            continue;
        }
        let clean = sanitize_line(&group);
        let chars: Vec<char> = clean.chars().collect();
        for k in 0..count {
            let piece: String = chars.iter().skip(k * width).take(width).collect();
            let pad = width.saturating_sub(piece.chars().count());
            out.push(format!("{piece}{}", " ".repeat(pad)));
        }
        group.clear();
        count = 0;
    }
    out
}
