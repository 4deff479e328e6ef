//! The line sanitizer of bridges.md §14.3: ANSI and control removal, then masking of session
//! ids, environment ids, UUIDs and secrets. Every log line that leaves the process goes
//! through [`sanitize_line`] (invariant 5).
//!
//! It runs on every line of every live tail, so a line that needs no change is returned
//! borrowed, and the regexes are compiled once.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

const ESC: char = '\u{1b}';
const BEL: char = '\u{07}';

/// What an id span renders as: its prefix and `<redacted>`.
const REDACTED: &str = "<redacted>";

/// The id prefixes of rule 1, in the order they render (`env_<redacted>`, …).
const ID_PREFIXES: [&str; 3] = ["env_", "session_", "cse_"];

/// Sanitizes one line (no `\n` inside): step 1 (ANSI and control removal) and step 2 (masks),
/// exactly as bridges.md §14.3 says. Borrowed when the line needed no change.
pub fn sanitize_line(line: &str) -> Cow<'_, str> {
    let visible = strip(line);
    match mask(&visible.text, &visible.removal_points) {
        Some(masked) => Cow::Owned(masked),
        None => visible.text,
    }
}

/// Sanitizes text that may hold several lines: each `\n`-separated line on its own, line ends
/// (`\n`, and the `\r` of `\r\n`, which step 1 keeps) left in place. For `error_detail`,
/// keeper errors, notices, screen rows and the redacted mirror.
pub fn sanitize_text(text: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    // Byte offset of the current line in `text`.
    let mut offset = 0;
    for piece in text.split('\n') {
        let clean = sanitize_line(piece);
        match &mut out {
            Some(s) => {
                s.push('\n');
                s.push_str(&clean);
            }
            None => {
                if let Cow::Owned(owned) = clean {
                    // The first line that changed: everything before it is copied verbatim.
                    let mut s = String::with_capacity(text.len());
                    s.push_str(&text[..offset]);
                    s.push_str(&owned);
                    out = Some(s);
                }
            }
        }
        offset += piece.len() + 1;
    }
    out.map_or(Cow::Borrowed(text), Cow::Owned)
}

/// The line as the live tail sends it (`logs.strip_ansi_in_stream`). With `strip_ansi` false a
/// line keeps its colour codes only when nothing needed masking and everything step 1 removed
/// was a complete CSI sequence; otherwise the sanitized text is sent.
///
/// The CSI-only condition is stricter than "removing them yields the sanitized text": an OSC
/// hyperlink's payload (a URL that may carry an id or a secret) is invisible in the visible
/// text, so the raw line would leak it (invariant 5). CSI bytes are digits and punctuation
/// and cannot carry anything.
pub fn sanitize_for_stream(line: &str, strip_ansi: bool) -> Cow<'_, str> {
    let visible = strip(line);
    match mask(&visible.text, &visible.removal_points) {
        Some(masked) => Cow::Owned(masked),
        None if !strip_ansi && visible.only_csi_removed => Cow::Borrowed(line),
        None => visible.text,
    }
}

/// Step 1 alone: the "visible" text of a line, ANSI sequences and controls removed.
pub fn visible_text(line: &str) -> Cow<'_, str> {
    strip(line).text
}

/// The result of step 1.
struct Stripped<'a> {
    text: Cow<'a, str>,
    /// Byte offsets in `text` where something was removed, ascending, without repeats.
    removal_points: Vec<usize>,
    /// True when everything removed was a complete CSI sequence (also when nothing was).
    only_csi_removed: bool,
}

/// Whether step 1 removes `c` on its own (outside an escape sequence).
fn is_removed_char(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => false,
        '\u{00}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        _ => is_default_ignorable(c),
    }
}

/// Unicode `Default_Ignorable_Code_Point` (DerivedCoreProperties.txt): zero-width spaces and
/// joiners, bidi controls, soft hyphen, BOM, fillers, variation selectors, the tag block, and
/// the reserved code points the property includes. Checked against the regex crate's table in
/// the tests.
fn is_default_ignorable(c: char) -> bool {
    const RANGES: [(u32, u32); 17] = [
        (0x00AD, 0x00AD),
        (0x034F, 0x034F),
        (0x061C, 0x061C),
        (0x115F, 0x1160),
        (0x17B4, 0x17B5),
        (0x180B, 0x180F),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x206F),
        (0x3164, 0x3164),
        (0xFE00, 0xFE0F),
        (0xFEFF, 0xFEFF),
        (0xFFA0, 0xFFA0),
        (0xFFF0, 0xFFF8),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0000, 0xE0FFF),
    ];
    let cp = u32::from(c);
    if cp < 0xAD {
        return false;
    }
    RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&cp))
}

/// The length in bytes of the escape sequence starting at `rest` (which starts with ESC), and
/// whether it is a complete CSI sequence. The alternatives are tried in the spec's order —
/// OSC/DCS/SOS/PM/APC, then CSI, then two-character escapes — and a lone ESC is one byte (it
/// is a C0 control, removed by itself).
fn escape_len(rest: &str) -> (usize, bool) {
    let bytes = rest.as_bytes();
    debug_assert_eq!(bytes.first(), Some(&0x1b));
    let Some(&next) = bytes.get(1) else {
        return (1, false);
    };
    if matches!(next, b']' | b'P' | b'X' | b'^' | b'_') {
        // The payload may hold any character except BEL, ESC, CR, LF; it ends with BEL or
        // `ESC \`. Unterminated, it is not a string sequence (the two-character rule below
        // then removes just `ESC` and the introducer).
        for (i, c) in rest[2..].char_indices() {
            match c {
                BEL => return (2 + i + 1, false),
                ESC => {
                    if bytes.get(2 + i + 1) == Some(&b'\\') {
                        return (2 + i + 2, false);
                    }
                    break;
                }
                '\r' | '\n' => break,
                _ => {}
            }
        }
    }
    if next == b'[' {
        let mut i = 2;
        while bytes.get(i).is_some_and(|b| (0x30..=0x3f).contains(b)) {
            i += 1;
        }
        while bytes.get(i).is_some_and(|b| (0x20..=0x2f).contains(b)) {
            i += 1;
        }
        if bytes.get(i).is_some_and(|b| (0x40..=0x7e).contains(b)) {
            return (i + 1, true);
        }
        // `[` is not a two-character escape: only the ESC goes.
        return (1, false);
    }
    if matches!(next, b'@'..=b'Z' | b'\\' | b']' | b'^' | b'_') {
        return (2, false);
    }
    (1, false)
}

/// Step 1: removes escape sequences, controls and default-ignorable code points, noting each
/// removal point.
fn strip(line: &str) -> Stripped<'_> {
    // Fast path: printable ASCII (plus TAB/CR) needs nothing; most log lines are that.
    let first = line
        .char_indices()
        .find(|&(_, c)| c == ESC || is_removed_char(c));
    let Some((first, _)) = first else {
        return Stripped {
            text: Cow::Borrowed(line),
            removal_points: Vec::new(),
            only_csi_removed: true,
        };
    };
    let mut out = String::with_capacity(line.len());
    let mut points: Vec<usize> = Vec::new();
    let mut only_csi = true;
    out.push_str(&line[..first]);
    let mut i = first;
    while i < line.len() {
        let rest = &line[i..];
        let c = rest.chars().next().unwrap_or(ESC);
        let (removed, csi) = if c == ESC {
            escape_len(rest)
        } else if is_removed_char(c) {
            (c.len_utf8(), false)
        } else {
            out.push(c);
            i += c.len_utf8();
            continue;
        };
        only_csi &= csi;
        if points.last() != Some(&out.len()) {
            points.push(out.len());
        }
        i += removed;
    }
    Stripped {
        text: Cow::Owned(out),
        removal_points: points,
        only_csi_removed: only_csi,
    }
}

/// A match of step 2: its byte range in the visible text and how it renders.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    /// `Some(prefix)` for an id, `None` for a UUID or a secret.
    id_prefix: Option<&'static str>,
}

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
        .expect("UUID pattern compiles")
});

/// The secret patterns of rule 3, each searched on its own so that one secret starting
/// inside another is still found (and merged) rather than hidden by the first match.
const SECRET_PATTERNS: [&str; 8] = [
    r"gh[pousr]_[A-Za-z0-9]{16,}",
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"glpat-[A-Za-z0-9_-]{16,}",
    r"AKIA[0-9A-Z]{16}",
    r"sk-[A-Za-z0-9_-]{16,}",
    r"xox[baprs]-[A-Za-z0-9-]{10,}",
    r"clauster_pat_[A-Za-z0-9_-]{16,}",
    // `(?i:…)` would also fold non-ASCII look-alikes; spell the ASCII cases out.
    r"[Bb][Ee][Aa][Rr][Ee][Rr]\s+[A-Za-z0-9._-]{12,}",
];

static SECRETS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    SECRET_PATTERNS
        .iter()
        .map(|p| Regex::new(p).expect("secret pattern compiles"))
        .collect()
});

/// One pass that tells whether a line can contain any match at all, so lines without one
/// (nearly all of them) cost a single scan. Ids need `prefix` + 6 alphanumerics at least.
static ANY_MATCH: LazyLock<Regex> = LazyLock::new(|| {
    let mut alternatives = vec![
        r"(?:env|session|cse)_[A-Za-z0-9]{6}".to_owned(),
        UUID.as_str().to_owned(),
    ];
    alternatives.extend(SECRET_PATTERNS.iter().map(|p| (*p).to_owned()));
    Regex::new(&alternatives.join("|")).expect("prefilter pattern compiles")
});

static ID_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"env_|session_|cse_").expect("id prefix pattern compiles"));

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Step 2 over the visible text. `None` when nothing matched.
fn mask(text: &str, removal_points: &[usize]) -> Option<String> {
    if !ANY_MATCH.is_match(text) {
        return None;
    }
    let mut spans: Vec<Span> = Vec::new();
    spans.extend(UUID.find_iter(text).map(|m| Span {
        start: m.start(),
        end: m.end(),
        id_prefix: None,
    }));
    for re in SECRETS.iter() {
        spans.extend(re.find_iter(text).map(|m| Span {
            start: m.start(),
            end: m.end(),
            id_prefix: None,
        }));
    }
    find_ids(text, removal_points, &mut spans);
    if spans.is_empty() {
        return None;
    }
    Some(render(text, spans))
}

/// Rules 1 and 4: ids, appended to `spans` (which already holds the UUIDs and secrets).
fn find_ids(text: &str, removal_points: &[usize], spans: &mut Vec<Span>) {
    let bytes = text.as_bytes();
    let is_boundary_before = |pos: usize| {
        pos == 0 || removal_points.binary_search(&pos).is_ok() || !is_word_byte(bytes[pos - 1])
    };
    let is_boundary_after = |pos: usize| {
        pos == bytes.len()
            || removal_points.binary_search(&pos).is_ok()
            || !is_word_byte(bytes[pos])
    };
    // Candidates come in ascending start order, so every match an id could start inside or
    // right after (which must start before it) is already in `spans` when it is checked.
    for m in ID_PREFIX.find_iter(text) {
        let prefix = ID_PREFIXES
            .iter()
            .copied()
            .find(|p| *p == m.as_str())
            .unwrap_or("env_");
        let run_start = m.end();
        let run_len = bytes[run_start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if run_len < 6 {
            continue;
        }
        let run_end = run_start + run_len;
        let start = m.start();
        let before =
            is_boundary_before(start) || spans.iter().any(|s| s.start <= start && start <= s.end);
        let after =
            is_boundary_after(run_end) || (run_len >= 10 && bytes[run_start..].starts_with(b"01"));
        if before && after {
            spans.push(Span {
                start,
                end: run_end,
                id_prefix: Some(prefix),
            });
        }
    }
}

/// Merges overlapping spans (sharing at least one byte) and renders each merged span as the
/// match that starts first in it (on a tie, the longest). Touching spans stay separate.
fn render(text: &str, mut spans: Vec<Span>) -> String {
    spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out = String::with_capacity(text.len());
    let mut copied_to = 0;
    let mut iter = spans.into_iter().peekable();
    while let Some(first) = iter.next() {
        let mut end = first.end;
        while let Some(next) = iter.next_if(|s| s.start < end) {
            end = end.max(next.end);
        }
        out.push_str(&text[copied_to..first.start]);
        if let Some(prefix) = first.id_prefix {
            out.push_str(prefix);
        }
        out.push_str(REDACTED);
        copied_to = end;
    }
    out.push_str(&text[copied_to..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    /// The test vectors of bridges.md §14.3, exact.
    const SPEC_VECTORS: [(&str, &str); 17] = [
        (
            "Created initial session session_01LG8QZ2AAAAAAAAAA",
            "Created initial session session_<redacted>",
        ),
        (
            "\x1b[33mContinue at https://claude.ai/code/session_01TXAAAAAAAAAAAAAAAAAAAA Authorization: Bearer sk-FAKEFAKEFAKEFAKE1234\x1b[0m",
            "Continue at https://claude.ai/code/session_<redacted> Authorization: <redacted>",
        ),
        ("hdr:Bearer env_01ABCDEFGHIJ", "hdr:<redacted>"),
        (
            "bridgeId=97051a45-1111-2222-3333-444455556666 dir=/x",
            "bridgeId=<redacted> dir=/x",
        ),
        (
            "session_timeout_ms=30 env_abc",
            "session_timeout_ms=30 env_abc",
        ),
        (
            "97051a45-1111-2222-3333-444455556666session_01ABCDEFGH",
            "<redacted>session_<redacted>",
        ),
        (
            "url=https://x/env_01ABCDEFGH_extra",
            "url=https://x/env_<redacted>_extra",
        ),
        (
            "session_01ABCDEFGHsk-AAAAAAAAAAAAAAAAAA",
            "session_<redacted>",
        ),
        (
            "id=\x1b[1msession_01ABCDEFGH\x1b[0mNext",
            "id=session_<redacted>",
        ),
        ("session_01AB\u{200b}CDEFGH rest", "session_<redacted> rest"),
        ("archived cse_01ABCDEFGHIJ", "archived cse_<redacted>"),
        (
            "push ghp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA done",
            "push <redacted> done",
        ),
        ("key AKIAIOSFODNN7EXAMPLE", "key <redacted>"),
        (
            "authorization: bearer abc.def-ghi_jkl",
            "authorization: <redacted>",
        ),
        ("slack xoxb-1234567890-abcdef", "slack <redacted>"),
        (
            "token clauster_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "token <redacted>",
        ),
        (
            "\x1b]8;;https://e.example/\x07link\x1b]8;;\x07 tab\there\x07bell",
            "link tab\therebell",
        ),
    ];

    /// Further cases, each pinning one clause of §14.3 (the why is in the comment).
    const MORE_CASES: [(&str, &str); 40] = [
        // Plain lines are untouched.
        (
            "2026-11-25T15:02:22.123Z [DEBUG] [bridge:work] idle",
            "2026-11-25T15:02:22.123Z [DEBUG] [bridge:work] idle",
        ),
        ("", ""),
        // Rule 1: boundary before — a word character before the prefix blocks the id.
        ("xenv_ABCDEFGH y", "xenv_ABCDEFGH y"),
        ("_session_ABCDEFGH", "_session_ABCDEFGH"),
        // … a removal point before it is a boundary.
        ("x\x1b[0menv_ABCDEFGH", "xenv_<redacted>"),
        // … so is a non-ASCII character (not a word character).
        ("éenv_ABCDEFGH", "éenv_<redacted>"),
        // Exactly six alphanumerics is enough; five is not.
        ("env_ABCDEF", "env_<redacted>"),
        ("env_ABCDE", "env_ABCDE"),
        // Boundary after: `_` is a word character, a removal point is a boundary.
        ("env_ABCDEFGH_x", "env_ABCDEFGH_x"),
        ("env_ABCDEFGH\x1b[0m_x", "env_<redacted>_x"),
        ("env_ABCDEFGH-x", "env_<redacted>-x"),
        // Rule 4: `01` + 8 alphanumerics needs no boundary after; `01` + 7 does.
        ("cse_01ABCDEFGH_x", "cse_<redacted>_x"),
        ("cse_01ABCDEFG_x", "cse_01ABCDEFG_x"),
        // The run is maximal across removal points; it never stops early at one.
        ("session_ABCDEFG\x1b[0mHIJ_k", "session_ABCDEFGHIJ_k"),
        (
            "session_01AB\x1b[0mCDEFGH\x1b[0mtail end",
            "session_<redacted> end",
        ),
        // Rule 4: an id right after another match needs no boundary before it …
        (
            "AKIAIOSFODNN7EXAMPLEenv_ABCDEFGH",
            "<redacted>env_<redacted>",
        ),
        // … nor one starting inside another match (merged into one token).
        ("github_pat_AAAAAAAAAAsession_BBBBBBBBBBBB", "<redacted>"),
        // Rule 2: UUIDs anywhere, any case, inside words.
        ("x97051A45-1111-2222-3333-444455556666y", "x<redacted>y"),
        (
            "97051a45-1111-2222-3333-44445555666",
            "97051a45-1111-2222-3333-44445555666",
        ),
        // Two UUIDs touching stay two tokens.
        (
            "97051a45-1111-2222-3333-44445555666697051a45-1111-2222-3333-444455556666",
            "<redacted><redacted>",
        ),
        // Rule 3 thresholds.
        ("ghp_AAAAAAAAAAAAAAA", "ghp_AAAAAAAAAAAAAAA"),
        ("ghs_AAAAAAAAAAAAAAAA", "<redacted>"),
        (
            "github_pat_AAAAAAAAAAAAAAAAAAA",
            "github_pat_AAAAAAAAAAAAAAAAAAA",
        ),
        ("github_pat_11AAAAAAA_BBBBBBBBBBBBBBBB", "<redacted>"),
        ("glpat-AAAAAAAA-BBBBBBB", "<redacted>"),
        ("AKIAIOSFODNN7EXAMPL", "AKIAIOSFODNN7EXAMPL"),
        ("sk-ant-api03-AAAAAAAAAAAA", "<redacted>"),
        ("sk-AAAAAAAAAAAAAAA", "sk-AAAAAAAAAAAAAAA"),
        ("xoxp-123456789", "xoxp-123456789"),
        ("BEARER\tabcdefghijkl", "<redacted>"),
        ("Bearer abcdefghijk", "Bearer abcdefghijk"),
        // Overlaps merge into the first-starting match's rendering; the id starts first here.
        (
            "session_ABCDEF12-1111-2222-3333-444455556666",
            "session_<redacted>",
        ),
        // Step 1 details: CSI with intermediates, two-character escapes, a lone ESC.
        ("a\x1b[1;31mb\x1b[?25hc\x1b[2 qd", "abcd"),
        ("a\x1b(Bb\x1bMc", "a(Bbc"),
        ("a\x1b", "a"),
        // An unterminated CSI loses only its ESC.
        ("a\x1b[12", "a[12"),
        // OSC ended by ESC \; an unterminated OSC loses only `ESC ]`.
        ("a\x1b]0;title\x1b\\b", "ab"),
        ("a\x1b]0;title", "a0;title"),
        // C1, DEL, C0 (TAB/CR kept), BOM, bidi override, soft hyphen, tag characters.
        ("a\u{85}b\u{7f}c\u{1}d\te\rf", "abcd\te\rf"),
        ("\u{feff}a\u{202e}b\u{ad}c\u{e0041}d", "abcd"),
    ];

    fn check(input: &str, expected: &str) {
        assert_eq!(sanitize_line(input), expected, "input {input:?}");
    }

    #[test]
    fn spec_vectors_exact() {
        for (input, expected) in SPEC_VECTORS {
            check(input, expected);
        }
    }

    #[test]
    fn more_cases() {
        for (input, expected) in MORE_CASES {
            check(input, expected);
        }
    }

    #[test]
    fn catalogue_snapshot() {
        let mut table = String::new();
        for (n, (input, _)) in SPEC_VECTORS.iter().chain(MORE_CASES.iter()).enumerate() {
            let _ = writeln!(
                table,
                "{:>2} {input:?}\n   -> {:?}",
                n + 1,
                sanitize_line(input)
            );
        }
        insta::assert_snapshot!(table);
    }

    #[test]
    fn unchanged_lines_are_borrowed() {
        let line =
            "2026-11-25T15:02:22.123Z [DEBUG] [bridge:work] Starting poll loop spawnMode=same-dir";
        assert!(matches!(sanitize_line(line), Cow::Borrowed(_)));
        assert!(matches!(sanitize_line("tab\tand CR\r"), Cow::Borrowed(_)));
        assert!(matches!(sanitize_line("ünïcødé ✓"), Cow::Borrowed(_)));
        assert!(matches!(sanitize_line("env_abc"), Cow::Borrowed(_)));
        assert!(matches!(sanitize_line("\x1b[0mx"), Cow::Owned(_)));
    }

    #[test]
    fn multi_line_text() {
        assert!(matches!(sanitize_text("a\nb\r\n"), Cow::Borrowed(_)));
        assert_eq!(
            sanitize_text("ok\r\nid env_ABCDEFGH\r\n\x1b[1mend\n"),
            "ok\r\nid env_<redacted>\r\nend\n"
        );
        assert_eq!(sanitize_text("\x1b[1ma\nb"), "a\nb");
        assert_eq!(sanitize_text("a\n\nenv_ABCDEFGH"), "a\n\nenv_<redacted>");
        assert_eq!(sanitize_text("env_ABCDEFGH"), "env_<redacted>");
    }

    #[test]
    fn stream_mode_keeps_colour_only_when_safe() {
        let coloured = "\x1b[32mready\x1b[0m";
        assert_eq!(sanitize_for_stream(coloured, true), "ready");
        assert_eq!(sanitize_for_stream(coloured, false), coloured);
        // Something needed masking: the sanitized text is sent.
        assert_eq!(
            sanitize_for_stream("\x1b[32menv_ABCDEFGH\x1b[0m", false),
            "env_<redacted>"
        );
        // An OSC payload is invisible but could carry an id: never sent raw.
        let osc = "\x1b]8;;https://claude.ai/code/session_01ABCDEFGHIJ\x07open\x1b]8;;\x07";
        assert_eq!(sanitize_for_stream(osc, false), "open");
        // A zero-width space is not a colour code either.
        assert_eq!(sanitize_for_stream("a\u{200b}b", false), "ab");
        assert_eq!(sanitize_for_stream("plain", false), "plain");
    }

    #[test]
    fn visible_text_is_step_one_only() {
        assert_eq!(visible_text("\x1b[1menv_ABCDEFGH"), "env_ABCDEFGH");
    }

    #[test]
    fn default_ignorable_table_matches_unicode() {
        let re = Regex::new(r"^\p{Default_Ignorable_Code_Point}$").unwrap();
        let mut buf = [0u8; 4];
        for cp in 0..=0x10_FFFF_u32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            assert_eq!(
                is_default_ignorable(c),
                re.is_match(c.encode_utf8(&mut buf)),
                "U+{cp:04X}"
            );
        }
    }

    #[test]
    fn removal_points_are_recorded_once_per_position() {
        let s = strip("a\x1b[0m\u{200b}b\x07");
        assert_eq!(s.text, "ab");
        assert_eq!(s.removal_points, vec![1, 2]);
        assert!(!s.only_csi_removed);
    }
}
