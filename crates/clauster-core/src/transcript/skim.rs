//! [`classify_line`] and its fast path: one pass over a line's bytes that validates it as
//! strict JSON and picks out what the turn index needs, without serde's visitor machinery.
//! Strings are crossed eight bytes at a time from one quote, backslash or control character to
//! the next (about twice serde's speed on the 50 MB benchmark session; issue 21: the cold first
//! page).
//!
//! It answers only when it is sure to agree with the serde classifier: any shape it does not
//! handle exactly as serde does (a line that is not an object, a number or a `\u` escape where
//! serde decodes the value, an escaped key, a control character anywhere, nesting deeper than
//! [`MAX_SKIM_DEPTH`], any syntax error) answers `None`, and the caller asks serde. The
//! agreement is tested over the fixtures and mutations of them (`tests::skim_agrees_*`).

use super::classify::{LineClass, Role, TurnLine, classify_with_serde, fnv};

/// Nesting the fast path follows; deeper lines go to serde (and its depth check).
const MAX_SKIM_DEPTH: usize = 32;

/// Gives up: the caller asks serde.
struct GiveUp;

type Skimmed<T> = Result<T, GiveUp>;

/// Classifies one line (without its `\n`): the byte-level fast path when it can tell, serde
/// otherwise (they agree wherever the fast path answers).
pub fn classify_line(line: &[u8]) -> LineClass {
    skim_line(line).unwrap_or_else(|| classify_with_serde(line))
}

/// Classifies `line` as serde would, or `None` when only serde can tell.
pub(crate) fn skim_line(line: &[u8]) -> Option<LineClass> {
    if line.first() != Some(&b'{') {
        return None;
    }
    let mut skim = Skim {
        bytes: line,
        at: 0,
        depth: 0,
    };
    let head = skim.record().ok()?;
    skim.whitespace();
    if skim.at != line.len() {
        return None;
    }
    Some(match head.role {
        Some(role) => LineClass::Turn(TurnLine {
            role,
            sidechain: head.sidechain,
            results_only: head.results_only && role == Role::User,
            message_key: head.message_key,
        }),
        None => LineClass::Other,
    })
}

/// Where the first `"`, `\\` or control character (below 0x20) is in `bytes`, eight bytes
/// at a time. The lowest flagged byte of a word is exact: the borrow of `x - 0x0101…` only
/// flags bytes above a true match. Hits come every few dozen bytes in tool output (a `\\n`
/// escape per line of it), where a call into vector code per hit costs more than this loop.
fn find_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let mut words = bytes.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let x = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let flagged = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (x.wrapping_sub(ONES * 0x20) & !x);
        if flagged & HIGH != 0 {
            return Some(base + ((flagged & HIGH).trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|at| base + at)
}

/// What a record says about itself (the serde classifier's `Head`).
#[derive(Default)]
struct Head {
    sidechain: bool,
    role: Option<Role>,
    results_only: bool,
    message_key: Option<u64>,
}

/// What a `message` object says (the serde classifier's `MessageHead`).
#[derive(Default)]
struct Message {
    role: Option<Role>,
    key: Option<u64>,
    results_only: bool,
}

/// What the next value is, seen from its first byte.
enum Shape {
    Object,
    Array,
    Str,
    Literal,
    Number,
}

struct Skim<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

impl<'a> Skim<'a> {
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next non-whitespace byte, not consumed.
    fn peek(&mut self) -> Skimmed<u8> {
        self.whitespace();
        self.bytes.get(self.at).copied().ok_or(GiveUp)
    }

    fn eat(&mut self, byte: u8) -> Skimmed<()> {
        if self.peek()? == byte {
            self.at += 1;
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    fn shape(&mut self) -> Skimmed<Shape> {
        Ok(match self.peek()? {
            b'{' => Shape::Object,
            b'[' => Shape::Array,
            b'"' => Shape::Str,
            b't' | b'f' | b'n' => Shape::Literal,
            b'-' | b'0'..=b'9' => Shape::Number,
            _ => return Err(GiveUp),
        })
    }

    fn enter(&mut self) -> Skimmed<()> {
        self.depth += 1;
        if self.depth > MAX_SKIM_DEPTH {
            return Err(GiveUp);
        }
        Ok(())
    }

    /// Walks the members of the object at the cursor, calling `member` with each key (its raw
    /// bytes; a key with an escape gives up, as serde would decode it) with the cursor on the
    /// value, which `member` must consume.
    fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a [u8]) -> Skimmed<()>,
    ) -> Skimmed<()> {
        self.sequence(b'{', b'}', |this| {
            if this.peek()? != b'"' {
                return Err(GiveUp);
            }
            let key = this.plain_string()?;
            this.eat(b':')?;
            member(this, key)
        })
    }

    /// Walks the elements of the array at the cursor; `element` must consume each.
    fn array(&mut self, element: impl FnMut(&mut Self) -> Skimmed<()>) -> Skimmed<()> {
        self.sequence(b'[', b']', element)
    }

    /// The comma-separated items between `open` and `close` at the cursor, one level deeper;
    /// `item` must consume each.
    fn sequence(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Skimmed<()>,
    ) -> Skimmed<()> {
        self.eat(open)?;
        self.enter()?;
        if self.peek()? == close {
            self.at += 1;
        } else {
            loop {
                item(self)?;
                match self.peek()? {
                    b',' => self.at += 1,
                    byte if byte == close => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(GiveUp),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// A string whose text matters (a key, a role, an id, a block type): its raw bytes, or
    /// give up if it has an escape (serde would decode it) or a control character (serde
    /// rejects it).
    fn plain_string(&mut self) -> Skimmed<&'a [u8]> {
        self.eat(b'"')?;
        let rest = &self.bytes[self.at..];
        let end = find_special(rest).ok_or(GiveUp)?;
        if rest[end] != b'"' {
            return Err(GiveUp);
        }
        self.at += end + 1;
        Ok(&rest[..end])
    }

    /// A string serde only skips: every escape checked as serde's `ignore_str` does, nothing
    /// decoded; a control character gives up (serde rejects it). With `decoded`, serde would
    /// decode it to a `&str`, which fails on a lone surrogate: any `\u` gives up then.
    fn skip_string(&mut self, decoded: bool) -> Skimmed<()> {
        self.eat(b'"')?;
        loop {
            self.at += find_special(&self.bytes[self.at..]).ok_or(GiveUp)?;
            match self.bytes[self.at] {
                b'"' => {
                    self.at += 1;
                    return Ok(());
                }
                b'\\' => {}
                _ => return Err(GiveUp),
            }
            match self.bytes.get(self.at + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.at += 2,
                Some(b'u') if !decoded => {
                    let hex = self.bytes.get(self.at + 2..self.at + 6).ok_or(GiveUp)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(GiveUp);
                    }
                    self.at += 6;
                }
                _ => return Err(GiveUp),
            }
        }
    }

    /// `true`, `false` or `null`: which.
    fn literal(&mut self) -> Skimmed<Option<bool>> {
        let rest = &self.bytes[self.at..];
        let (value, len) = if rest.starts_with(b"true") {
            (Some(true), 4)
        } else if rest.starts_with(b"false") {
            (Some(false), 5)
        } else if rest.starts_with(b"null") {
            (None, 4)
        } else {
            return Err(GiveUp);
        };
        self.at += len;
        Ok(value)
    }

    /// A number as serde's `ignore_integer` accepts it.
    fn number(&mut self) -> Skimmed<()> {
        let digits = |s: &mut Self| {
            let from = s.at;
            while s.bytes.get(s.at).is_some_and(u8::is_ascii_digit) {
                s.at += 1;
            }
            s.at - from
        };
        if self.bytes.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        match self.bytes.get(self.at) {
            Some(b'0') => {
                self.at += 1;
                if self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
                    return Err(GiveUp);
                }
            }
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(GiveUp),
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return Err(GiveUp);
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(GiveUp);
            }
        }
        Ok(())
    }

    /// Any value serde skips (`IgnoredAny`): validated, nothing kept.
    fn skip(&mut self) -> Skimmed<()> {
        match self.shape()? {
            Shape::Object => self.object(|s, _| s.skip()),
            Shape::Array => self.array(Self::skip),
            Shape::Str => self.skip_string(false),
            Shape::Literal => self.literal().map(drop),
            Shape::Number => self.number(),
        }
    }

    /// A value serde hands to a visitor that reads only strings (or `true`): the string's raw
    /// bytes when it is one without escapes, `None` for `null` and booleans. Numbers (serde
    /// parses them, and fails on one out of range), objects and arrays give up; so does an
    /// escaped string.
    fn scalar(&mut self) -> Skimmed<Option<&'a [u8]>> {
        match self.shape()? {
            Shape::Str => self.plain_string().map(Some),
            Shape::Literal => self.literal().map(|_| None),
            _ => Err(GiveUp),
        }
    }

    /// The top-level record.
    fn record(&mut self) -> Skimmed<Head> {
        let mut head = Head::default();
        self.object(|s, key| {
            match key {
                b"isSidechain" => {
                    head.sidechain = match s.shape()? {
                        Shape::Literal => s.literal()? == Some(true),
                        Shape::Str => {
                            s.skip_string(true)?;
                            false
                        }
                        _ => return Err(GiveUp),
                    };
                }
                b"message" => {
                    let message = match s.shape()? {
                        Shape::Object => s.message()?,
                        Shape::Literal => {
                            s.literal()?;
                            Message::default()
                        }
                        Shape::Str => {
                            s.skip_string(true)?;
                            Message::default()
                        }
                        _ => return Err(GiveUp),
                    };
                    head.role = message.role;
                    head.results_only = message.results_only;
                    head.message_key = message.key;
                }
                _ => s.skip()?,
            }
            Ok(())
        })?;
        Ok(head)
    }

    fn message(&mut self) -> Skimmed<Message> {
        let mut message = Message::default();
        self.object(|s, key| {
            match key {
                b"role" => {
                    message.role = match s.scalar()? {
                        Some(b"user") => Some(Role::User),
                        Some(b"assistant") => Some(Role::Assistant),
                        _ => None,
                    };
                }
                b"id" => {
                    message.key = match s.scalar()? {
                        // A non-ASCII id: serde hashes its lossy UTF-8 form.
                        Some(id) if !id.is_ascii() => return Err(GiveUp),
                        Some(id) if !id.is_empty() => Some(fnv(id)),
                        _ => None,
                    };
                }
                b"content" => message.results_only = s.content()?,
                _ => s.skip()?,
            }
            Ok(())
        })?;
        Ok(message)
    }

    /// Whether a message's content is a non-empty array of `tool_result` blocks only.
    fn content(&mut self) -> Skimmed<bool> {
        match self.shape()? {
            Shape::Array => {
                let (mut any, mut all) = (false, true);
                self.array(|s| {
                    any = true;
                    all &= s.block_is_result()?;
                    Ok(())
                })?;
                Ok(any && all)
            }
            Shape::Str => self.skip_string(true).map(|()| false),
            Shape::Literal => self.literal().map(|_| false),
            _ => Err(GiveUp),
        }
    }

    fn block_is_result(&mut self) -> Skimmed<bool> {
        match self.shape()? {
            Shape::Object => {
                let mut result = false;
                self.object(|s, key| {
                    if key == b"type" {
                        result = s.scalar()? == Some(b"tool_result");
                    } else {
                        s.skip()?;
                    }
                    Ok(())
                })?;
                Ok(result)
            }
            Shape::Array => self.skip().map(|()| false),
            Shape::Str => self.skip_string(true).map(|()| false),
            Shape::Literal => self.literal().map(|_| false),
            Shape::Number => Err(GiveUp),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    /// Lines as Claude Code writes them beyond the session fixture: escapes of every kind in
    /// tool output, an escaped quote or backslash right before the closing quote, raw UTF-8,
    /// a `\u` escape, Python's spacing, a streamed piece of a reply, a sidechain result.
    const ESCAPED: &[&str] = &[
        r#"{"parentUuid":"a1","isSidechain":false,"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_1","type":"tool_result","content":"line one\nline \"two\"\tend\\\r\n\u001b[31mred\u001b[0m \/ é ✓ \"","is_error":false}]},"toolUseResult":{"stdout":"a\\","stderr":"","interrupted":false}}"#,
        r#"{"isSidechain":true,"message":{"id":"msg_01AbC","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"tool_use","id":"toolu_2","name":"Bash","input":{"command":"grep -n \"fn main\" src/*.rs","timeout":120000,"ratio":-1.5e-3}}],"usage":{"input_tokens":3,"output_tokens":12,"cache_read_input_tokens":0}},"timestamp":"2026-11-20T09:00:00.000Z"}"#,
        r#"{"message": {"role": "assistant", "id": "msg_2", "content": [{"type": "thinking", "thinking": "So \\\"quoted\\\" and a path C:\\\\dir\\\\", "signature": "x"}]}, "isSidechain": null}"#,
        r#"{"type":"assistant","message":{"id":"msg_3","role":"assistant","model":"<synthetic>","content":[{"type":"text","text":"No response requested."}],"stop_reason":"stop_sequence"},"uuid":"u","isSidechain":false}"#,
        r#"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"see"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},"isMeta":true,"n":[1,2.5,-0,3e10,{"k":[]},[],{},true,false,null]}"#,
    ];

    fn fixture_lines() -> Vec<&'static str> {
        super::super::tests::SESSION
            .lines()
            .chain(ESCAPED.iter().copied())
            .collect()
    }

    /// `skim_line` never answers differently from serde; `None` (ask serde) is always allowed.
    fn agrees(line: &[u8]) -> bool {
        skim_line(line).is_none_or(|class| class == classify_with_serde(line))
    }

    #[test]
    fn skim_reads_every_well_formed_line_as_serde_does() {
        for line in fixture_lines() {
            let serde = classify_with_serde(line.as_bytes());
            if serde == LineClass::Unreadable {
                assert_eq!(skim_line(line.as_bytes()), None, "{line}");
            } else {
                // The fast path must actually be taken for what Claude Code writes.
                assert_eq!(skim_line(line.as_bytes()), Some(serde), "{line}");
            }
        }
    }

    #[test]
    fn skim_agrees_with_serde_on_every_cut_and_one_byte_change() {
        const BYTES: &[u8] = b"\"\\{}],:u0\x01\xff";
        for line in fixture_lines() {
            let line = line.as_bytes();
            for at in 0..line.len() {
                assert!(
                    agrees(&line[..at]),
                    "cut at {at}: {}",
                    String::from_utf8_lossy(line)
                );
                let mut without = line.to_vec();
                without.remove(at);
                assert!(agrees(&without), "{}", String::from_utf8_lossy(&without));
                for &b in BYTES {
                    let mut changed = line.to_vec();
                    changed[at] = b;
                    assert!(agrees(&changed), "{}", String::from_utf8_lossy(&changed));
                    changed.insert(at, b);
                    assert!(agrees(&changed), "{}", String::from_utf8_lossy(&changed));
                }
            }
        }
    }

    /// The shapes at the edges, what serde makes of each and whether the fast path answers.
    #[test]
    fn skim_and_serde_on_edge_shapes() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        let lines: Vec<String> = [
            r#"{"message":{"role":"user","content":"hi"}}"#,
            r#"{"message":{"role":"user","content":"hi"}}  "#,
            r#"{"message":{"role":"user","content":"hi"}} x"#,
            r#"{"message":{"role":"user","content":"hi"},}"#,
            r#"{"message":{"role":"user","content":"hi"}"#,
            r#"{"message":{"role":"us\u0065r","content":"hi"}}"#,
            r#"{"mess\u0061ge":{"role":"user"}}"#,
            r#"{"message":{"role":"user","content":"\ud800"}}"#,
            r#"{"message":{"role":"user","content":[{"type":"tool_result","content":"\ud800"}]}}"#,
            r#"{"message":{"role":"user","content":[{"type":"tool_result","content":"\x"}]}}"#,
            r#"{"message":{"role":"user","content":[{"type":"tool_result"},{"type":"tool_result"}]}}"#,
            r#"{"message":{"role":"user","content":[{"type":"tool_result"},"text"]}}"#,
            r#"{"message":{"role":"user","content":[{"type":"tool_result"},[1]]}}"#,
            r#"{"message":{"role":"user","content":[{"type":"tool_result"},7]}}"#,
            r#"{"message":{"role":"user","content":[]}}"#,
            r#"{"message":{"role":"user","content":{"type":"tool_result"}}}"#,
            r#"{"message":{"role":"user","content":[{"type":"tool_result","type":"text"}]}}"#,
            r#"{"message":{"role":"user"},"message":{"role":"assistant","id":"m"}}"#,
            r#"{"message":{"role":"user","role":7}}"#,
            r#"{"message":{"role":"assistant","id":""}}"#,
            r#"{"message":{"role":"assistant","id":"é"}}"#,
            r#"{"message":{"role":"assistant","id":null}}"#,
            r#"{"message":null}"#,
            r#"{"message":"text"}"#,
            r#"{"message":[1]}"#,
            r#"{"message":1e400}"#,
            r#"{"isSidechain":true,"message":{"role":"user"}}"#,
            r#"{"isSidechain":"true","message":{"role":"user"}}"#,
            r#"{"isSidechain":1,"message":{"role":"user"}}"#,
            r#"{"isSidechain":true,"isSidechain":false,"message":{"role":"user"}}"#,
            r#"{"x":1e400,"message":{"role":"user"}}"#,
            r#"{"x":01,"message":{"role":"user"}}"#,
            r#"{"x":-,"message":{"role":"user"}}"#,
            r#"{"x":1.,"message":{"role":"user"}}"#,
            r#"{"x":tru,"message":{"role":"user"}}"#,
            "{\"x\":\"tab\there\",\"message\":{\"role\":\"user\"}}",
            "{\"message\":{\"role\":\"user\"}}\t",
            " {\"message\":{\"role\":\"user\"}}",
            r#"{"type":"summary","summary":"s"}"#,
            "[1,2]",
            "",
            &deep,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut table = String::new();
        for line in &lines {
            let serde = classify_with_serde(line.as_bytes());
            let skim = skim_line(line.as_bytes());
            assert!(agrees(line.as_bytes()), "{line}");
            let shown = if line.len() > 90 {
                format!("{}…", &line[..90])
            } else {
                line.clone()
            };
            let _ = writeln!(
                table,
                "{shown:?}\n    serde: {serde:?}\n    skim:  {}",
                if skim.is_some() { "same" } else { "asks serde" }
            );
        }
        insta::assert_snapshot!(table);
    }
}
