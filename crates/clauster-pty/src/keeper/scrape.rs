//! Connect-URL scraping (pty.md §4.2): from the rendered screen while the emulator works,
//! from the raw bytes only after it was dropped. A truncated or glued session id is never
//! accepted.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use regex::Regex;

/// The connect URL's prefix; the accepted URL is this plus the session id.
pub const URL_PREFIX: &str = "https://claude.ai/code/";

/// How long every scan must have found the same id when nothing marks its end.
pub const STABLE_FOR: Duration = Duration::from_millis(500);

static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"https?://claude\.ai/code/(session_[A-Za-z0-9]+)").expect("valid URL pattern")
});

static URL_BYTES: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
    regex::bytes::Regex::new(r"https?://claude\.ai/code/(session_[A-Za-z0-9]+)")
        .expect("valid URL pattern")
});

/// Whether `c` could continue a session id (the pattern's class, plus `_` and `-` so an id
/// is never taken as ended by a character some future id format might contain).
fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The scanner's memory between scans of the rendered screen.
#[derive(Debug, Default)]
pub struct UrlScanner {
    /// An id followed by a blank, and when scans started finding it.
    candidate: Option<(String, Instant)>,
}

impl UrlScanner {
    /// Scans the rendered lines (pty.md §4.2 steps 1–2); returns the session id once it is
    /// accepted.
    pub fn scan(&mut self, lines: &[String], now: Instant) -> Option<String> {
        let mut blank_ended: Option<String> = None;
        for line in lines {
            for caps in URL.captures_iter(line) {
                let id = caps.get(1).expect("group 1 always matches");
                match line[id.end()..].chars().next() {
                    // (a) a drawn character that ends the id.
                    Some(c) if c != ' ' && !id_char(c) => {
                        self.candidate = None;
                        return Some(id.as_str().to_owned());
                    }
                    _ => {
                        if blank_ended.is_none() {
                            blank_ended = Some(id.as_str().to_owned());
                        }
                    }
                }
            }
        }
        let Some(id) = blank_ended else {
            self.candidate = None;
            return None;
        };
        // (b) every scan over at least 500 ms found the same id.
        match &self.candidate {
            Some((seen, since)) if *seen == id => {
                (now.duration_since(*since) >= STABLE_FOR).then_some(id)
            }
            _ => {
                self.candidate = Some((id, now));
                None
            }
        }
    }

    /// Whether an id is waiting for its 500 ms of stability (the keeper then keeps scanning
    /// on its tick even without new output).
    pub fn pending(&self) -> bool {
        self.candidate.is_some()
    }
}

/// The raw scan (pty.md §4.2 step 3), for when the emulator was dropped: every escape
/// sequence or control character separates; an id counts only when a printable character
/// that cannot belong to an id follows it directly.
pub fn raw_scan(bytes: &[u8]) -> Option<String> {
    for run in printable_runs(bytes) {
        for caps in URL_BYTES.captures_iter(run) {
            let id = caps.get(1).expect("group 1 always matches");
            let ends_well = run.get(id.end()).is_some_and(|b| !id_char(char::from(*b)));
            if ends_well {
                return Some(String::from_utf8_lossy(id.as_bytes()).into_owned());
            }
        }
    }
    None
}

/// The stretches of `bytes` between escape sequences and control characters.
fn printable_runs(bytes: &[u8]) -> Vec<&[u8]> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == 0x1b || b < 0x20 || b == 0x7f {
            if start < i {
                runs.push(&bytes[start..i]);
            }
            i = if b == 0x1b {
                escape_end(bytes, i)
            } else {
                i + 1
            };
            start = i;
        } else {
            i += 1;
        }
    }
    if start < bytes.len() {
        runs.push(&bytes[start..]);
    }
    runs
}

/// The index just past the escape sequence starting at `at` (an `ESC`): CSI up to its final
/// byte, OSC/DCS/SOS/PM/APC up to BEL or ST, otherwise intermediates and one final byte. An
/// unterminated sequence runs to the end of the data.
fn escape_end(bytes: &[u8], at: usize) -> usize {
    let mut i = at + 1;
    match bytes.get(i) {
        Some(b'[') => {
            i += 1;
            while i < bytes.len() && !(0x40..=0x7e).contains(&bytes[i]) {
                i += 1;
            }
            (i + 1).min(bytes.len())
        }
        Some(b']' | b'P' | b'X' | b'^' | b'_') => {
            i += 1;
            while i < bytes.len() {
                if bytes[i] == 0x07 {
                    return i + 1;
                }
                if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'\\') {
                    return i + 2;
                }
                i += 1;
            }
            bytes.len()
        }
        Some(_) => {
            while i < bytes.len() && (0x20..=0x2f).contains(&bytes[i]) {
                i += 1;
            }
            (i + 1).min(bytes.len())
        }
        None => bytes.len(),
    }
}
