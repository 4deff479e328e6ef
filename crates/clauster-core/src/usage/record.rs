//! One transcript line → one usage record, or the reason it does not count (data.md §1.2).
//!
//! This is the hot path of the rollup. A line is only parsed when the bytes `"usage"` occur in
//! it (a JSON string can only contain that quote-word-quote sequence as a key or a whole
//! value, since inner quotes are escaped), and then into small borrowing visitors that skip
//! everything else with serde_json's fast ignore path — never a `serde_json::Value`.
//! The visitors are hand-written rather than derived so that wrongly typed fields degrade to
//! "absent" / 0 as the spec asks, duplicate keys keep the last value (as JavaScript does),
//! and an array is never read positionally as a struct.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use memchr::memmem;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::lenient::{OnlyTrue, deserialize_with, ignore_map, ignore_seq};
use crate::timestamp::parse_rfc3339_ms;

/// JSON nested deeper than this is treated as invalid (data.md §1.2).
const MAX_DEPTH: usize = 64;

static USAGE_KEY: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\"usage\""));

/// The token counters of one record, with the cache write already split (data.md §1.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
    pub cache_read: u64,
}

impl Tokens {
    pub fn cache_write(&self) -> u64 {
        self.cache_write_5m.saturating_add(self.cache_write_1h)
    }

    /// What the long-prompt tiers compare: input + cache write + cache read.
    pub fn prompt(&self) -> u64 {
        self.input
            .saturating_add(self.cache_write())
            .saturating_add(self.cache_read)
    }
}

/// A qualifying record, borrowing from its line where it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedRecord<'a> {
    pub model: Cow<'a, str>,
    /// FNV-1a of `message.id[:requestId]`; `None` when there is no `message.id`.
    pub key: Option<u64>,
    pub tokens: Tokens,
    pub timestamp_ms: Option<i64>,
    pub sidechain: bool,
}

/// What one line turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// A record that counts (before de-duplication).
    Record(ParsedRecord<'a>),
    /// Valid JSON (or blank) that carries no usage: user turns, summaries, …
    Ignored,
    /// A `<synthetic>` reply (Claude Code's own placeholder, not an API call).
    Synthetic,
    /// Not JSON, truncated, nested deeper than 64 levels, or a number out of range.
    Malformed,
}

/// Classifies one line (without its `\n`).
pub(crate) fn parse_line(line: &[u8]) -> Line<'_> {
    if USAGE_KEY.find(line).is_none() {
        // Cheap: every usage record spells the key literally. Blank lines land here too, and
        // garbage without the key is not worth telling apart from an ignored record.
        return if line.iter().all(u8::is_ascii_whitespace) || looks_like_json(line) {
            Line::Ignored
        } else {
            Line::Malformed
        };
    }
    if too_deep(line) {
        return Line::Malformed;
    }
    match serde_json::from_slice::<Obj<RawRecord<'_>>>(line) {
        Ok(Obj(record)) => classify(record),
        // Invalid UTF-8 inside a string: read the line with replacement characters, as the
        // spec reads files, and try once more. Rare, so the copy does not matter.
        Err(_) if std::str::from_utf8(line).is_err() => {
            let lossy = String::from_utf8_lossy(line);
            match serde_json::from_str::<Obj<RawRecord<'_>>>(&lossy) {
                Ok(Obj(record)) => into_owned(classify(record)),
                Err(_) => Line::Malformed,
            }
        }
        Err(_) => Line::Malformed,
    }
}

/// A line without the usage key is only inspected this far: something that starts and ends
/// like a JSON object or array counts as JSON. Full validation would cost a parse of every
/// user turn for a problem counter nobody prices.
fn looks_like_json(line: &[u8]) -> bool {
    let trimmed = line.trim_ascii();
    matches!(
        (trimmed.first(), trimmed.last()),
        (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']'))
    ) || serde_json::from_slice::<IgnoredAny>(trimmed).is_ok()
}

fn into_owned(line: Line<'_>) -> Line<'static> {
    match line {
        Line::Record(r) => Line::Record(ParsedRecord {
            model: Cow::Owned(r.model.into_owned()),
            key: r.key,
            tokens: r.tokens,
            timestamp_ms: r.timestamp_ms,
            sidechain: r.sidechain,
        }),
        Line::Ignored => Line::Ignored,
        Line::Synthetic => Line::Synthetic,
        Line::Malformed => Line::Malformed,
    }
}

fn classify(record: Option<RawRecord<'_>>) -> Line<'_> {
    let Some(record) = record else {
        return Line::Ignored;
    };
    let Some(message) = record.message else {
        return Line::Ignored;
    };
    let Some(usage) = message.usage else {
        return Line::Ignored;
    };
    let model = match message.model {
        Some(model) if model == "<synthetic>" => return Line::Synthetic,
        Some(model) if !model.is_empty() => model,
        _ => Cow::Borrowed("unknown"),
    };
    let key = message
        .id
        .filter(|id| !id.is_empty())
        .map(|id| key_hash(&id, record.request_id.as_deref().filter(|r| !r.is_empty())));
    Line::Record(ParsedRecord {
        model,
        key,
        tokens: usage.tokens(),
        timestamp_ms: record.timestamp.as_deref().and_then(parse_rfc3339_ms),
        sidechain: record.is_sidechain,
    })
}

/// FNV-1a (64 bit) of `id + ":" + request_id`, or of `id` alone. Keys only need to be
/// distinct within one project; at a few hundred thousand keys a 64-bit collision is a
/// one-in-a-hundred-million event.
fn key_hash(id: &str, request_id: Option<&str>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    eat(id.as_bytes());
    if let Some(request_id) = request_id {
        eat(b":");
        eat(request_id.as_bytes());
    }
    hash
}

/// Whether brackets outside strings nest deeper than [`MAX_DEPTH`]. serde_json's own limit is
/// 128, so the spec's 64 needs this scan; it only runs when the line holds that many brackets.
pub(crate) fn too_deep(line: &[u8]) -> bool {
    // Most records hold a few dozen brackets: a vectorised search that stops at the 65th
    // settles them without a byte loop.
    if memchr::memchr2_iter(b'{', b'[', line)
        .nth(MAX_DEPTH)
        .is_none()
    {
        return false;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in line {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

// ---------------------------------------------------------------------------------------
// Lenient visitors. Each accepts any JSON value and keeps only what has the right shape.

/// Implements the visitor methods for every JSON shape a type does not care about.
macro_rules! other_shapes {
    ($value:expr) => {
        $crate::lenient::scalar_shapes!($value);
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        $crate::lenient::ignore_seq!($value);
    };
}

/// A JSON object read field by field; anything that is not an object reads as `None`.
struct Obj<T>(Option<T>);

trait FromMap<'de>: Sized {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

impl<'de, T: FromMap<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: FromMap<'de>> Visitor<'de> for ObjVisitor<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::from_map(map).map(|value| Obj(Some(value)))
            }
            other_shapes!(Obj(None));
        }
        deserializer.deserialize_any(ObjVisitor(std::marker::PhantomData))
    }
}

/// A string, borrowed when it has no escapes; any other value reads as `None`.
struct Str<'a>(Option<Cow<'a, str>>);

deserialize_with!(Str<'de>, deserialize_any, "any JSON value", {
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Str(Some(Cow::Borrowed(v))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Str(Some(Cow::Owned(v))))
    }
    ignore_map!(Str(None));
    // `visit_str` (an escaped string in a transient buffer) must keep the text.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Str(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Str(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Str(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Str(None))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Str(Some(Cow::Owned(v.to_owned()))))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Str(None))
    }
    ignore_seq!(Str(None));
});

/// A token count: a non-negative integer as is, a finite float truncated, a numeric string
/// parsed; anything else (negative, too large, not a number) counts as 0 (data.md §1.2).
struct Count(u64);

impl Count {
    fn from_f64(v: f64) -> u64 {
        // 2^64 as f64; everything from there up does not fit.
        const LIMIT: f64 = 18_446_744_073_709_551_616.0;
        if (0.0..LIMIT).contains(&v) {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "range checked above; truncation is the spec's rule"
            )]
            let n = v.trunc() as u64;
            n
        } else {
            0
        }
    }

    fn from_text(text: &str) -> u64 {
        let text = text.trim();
        text.parse::<u64>()
            .unwrap_or_else(|_| text.parse::<f64>().map_or(0, Self::from_f64))
    }
}

deserialize_with!(Count, deserialize_any, "any JSON value", {
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Count(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Count(u64::try_from(v).unwrap_or(0)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Count(Count::from_f64(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Count(Count::from_text(v)))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Count(0))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Count(0))
    }
    ignore_seq!(Count(0));
    ignore_map!(Count(0));
});

/// An object key as raw bytes: compared without allocating when it has no escapes, and
/// without the UTF-8 validation a `str` would cost (a measurable share of the parse, since
/// every key of a record passes through here; the keys we match are ASCII anyway).
struct Key<'a>(Cow<'a, [u8]>);

deserialize_with!(Key<'de>, deserialize_bytes, "an object key", {
    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(v.as_bytes())))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v.as_bytes().to_owned())))
    }
});

static CWD_KEY: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\"cwd\""));

/// The top-level `cwd` of a line when it is a non-empty string (the ownership proof of
/// data.md §1.1); `None` for anything else, including invalid lines.
pub(crate) fn line_cwd(line: &[u8]) -> Option<String> {
    if CWD_KEY.find(line).is_none() || too_deep(line) {
        return None;
    }
    let parsed = if let Ok(Obj(record)) = serde_json::from_slice::<Obj<CwdRecord<'_>>>(line) {
        record?.cwd.map(Cow::into_owned)
    } else {
        // Invalid UTF-8 somewhere: read the line with replacement characters.
        let lossy = String::from_utf8_lossy(line);
        serde_json::from_str::<Obj<CwdRecord<'_>>>(&lossy)
            .ok()?
            .0?
            .cwd
            .map(Cow::into_owned)
    };
    parsed.filter(|cwd| !cwd.is_empty())
}

struct CwdRecord<'a> {
    cwd: Option<Cow<'a, str>>,
}

impl<'de> FromMap<'de> for CwdRecord<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut record = CwdRecord { cwd: None };
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if *key == *b"cwd" {
                record.cwd = map.next_value::<Str<'de>>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(record)
    }
}

struct RawRecord<'a> {
    message: Option<RawMessage<'a>>,
    request_id: Option<Cow<'a, str>>,
    timestamp: Option<Cow<'a, str>>,
    is_sidechain: bool,
}

impl<'de> FromMap<'de> for RawRecord<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut record = RawRecord {
            message: None,
            request_id: None,
            timestamp: None,
            is_sidechain: false,
        };
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match &*key {
                b"message" => record.message = map.next_value::<Obj<RawMessage<'de>>>()?.0,
                b"requestId" => record.request_id = map.next_value::<Str<'de>>()?.0,
                b"timestamp" => record.timestamp = map.next_value::<Str<'de>>()?.0,
                b"isSidechain" => record.is_sidechain = map.next_value::<OnlyTrue>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(record)
    }
}

struct RawMessage<'a> {
    id: Option<Cow<'a, str>>,
    model: Option<Cow<'a, str>>,
    usage: Option<RawUsage>,
}

impl<'de> FromMap<'de> for RawMessage<'de> {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut message = RawMessage {
            id: None,
            model: None,
            usage: None,
        };
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match &*key {
                b"id" => message.id = map.next_value::<Str<'de>>()?.0,
                b"model" => message.model = map.next_value::<Str<'de>>()?.0,
                b"usage" => message.usage = map.next_value::<Obj<RawUsage>>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(message)
    }
}

#[derive(Default)]
struct RawUsage {
    input: u64,
    output: u64,
    cache_write_total: u64,
    cache_read: u64,
    split: Option<(u64, u64)>,
}

impl RawUsage {
    /// Applies the cache split rule: with a split, 5 m = its 5 m field and 1 h = its 1 h
    /// field, any shortfall against the total going to 5 m; without one, all of it is 5 m.
    fn tokens(&self) -> Tokens {
        let (w5, w1) = match self.split {
            Some((w5, w1)) => {
                let shortfall = self.cache_write_total.saturating_sub(w5.saturating_add(w1));
                (w5.saturating_add(shortfall), w1)
            }
            None => (self.cache_write_total, 0),
        };
        Tokens {
            input: self.input,
            output: self.output,
            cache_write_5m: w5,
            cache_write_1h: w1,
            cache_read: self.cache_read,
        }
    }
}

impl<'de> FromMap<'de> for RawUsage {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut usage = RawUsage::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match &*key {
                b"input_tokens" => usage.input = map.next_value::<Count>()?.0,
                b"output_tokens" => usage.output = map.next_value::<Count>()?.0,
                b"cache_creation_input_tokens" => {
                    usage.cache_write_total = map.next_value::<Count>()?.0;
                }
                b"cache_read_input_tokens" => usage.cache_read = map.next_value::<Count>()?.0,
                b"cache_creation" => {
                    usage.split = map.next_value::<Obj<RawSplit>>()?.0.map(|s| (s.w5, s.w1));
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(usage)
    }
}

struct RawSplit {
    w5: u64,
    w1: u64,
}

impl<'de> FromMap<'de> for RawSplit {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut split = RawSplit { w5: 0, w1: 0 };
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match &*key {
                b"ephemeral_5m_input_tokens" => split.w5 = map.next_value::<Count>()?.0,
                b"ephemeral_1h_input_tokens" => split.w1 = map.next_value::<Count>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(split)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: &str) -> ParsedRecord<'_> {
        match parse_line(line.as_bytes()) {
            Line::Record(r) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn tokens(line: &str) -> Tokens {
        record(line).tokens
    }

    #[test]
    fn a_full_record() {
        let r = record(
            r#"{"type":"assistant","isSidechain":true,"requestId":"req_1","timestamp":"2026-11-25T15:02:22.123Z","message":{"id":"msg_1","model":"claude-opus-4-8","content":[{"type":"text","text":"the \"usage\" word"}],"usage":{"input_tokens":6,"output_tokens":13,"cache_creation_input_tokens":11715,"cache_read_input_tokens":17228,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":11715},"service_tier":"standard","server_tool_use":{"web_search_requests":1}},"costUSD":99}}"#,
        );
        assert!(matches!(r.model, Cow::Borrowed("claude-opus-4-8")));
        assert_eq!(r.key, Some(key_hash("msg_1", Some("req_1"))));
        assert_eq!(
            r.tokens,
            Tokens {
                input: 6,
                output: 13,
                cache_write_5m: 0,
                cache_write_1h: 11_715,
                cache_read: 17_228
            }
        );
        assert_eq!(r.timestamp_ms, Some(1_795_618_942_123));
        assert!(r.sidechain);
    }

    #[test]
    fn keys() {
        let with_both = r#"{"requestId":"r","message":{"id":"m","usage":{}}}"#;
        let id_only = r#"{"message":{"id":"m","usage":{}}}"#;
        let blank_request = r#"{"requestId":"","message":{"id":"m","usage":{}}}"#;
        assert_eq!(record(with_both).key, Some(key_hash("m", Some("r"))));
        assert_eq!(record(id_only).key, Some(key_hash("m", None)));
        assert_eq!(record(blank_request).key, record(id_only).key);
        assert_ne!(record(with_both).key, record(id_only).key);
        assert_eq!(
            record(r#"{"requestId":"r","message":{"usage":{}}}"#).key,
            None
        );
        assert_eq!(record(r#"{"message":{"id":7,"usage":{}}}"#).key, None);
        assert_eq!(record(r#"{"message":{"id":"","usage":{}}}"#).key, None);
    }

    #[test]
    fn model_defaults_and_synthetic() {
        assert_eq!(record(r#"{"message":{"usage":{}}}"#).model, "unknown");
        assert_eq!(
            record(r#"{"message":{"model":5,"usage":{}}}"#).model,
            "unknown"
        );
        assert_eq!(
            record(r#"{"message":{"model":"","usage":{}}}"#).model,
            "unknown"
        );
        assert_eq!(
            record(r#"{"message":{"model":"a\u0062c","usage":{}}}"#).model,
            "abc"
        );
        assert_eq!(
            parse_line(
                br#"{"message":{"model":"<synthetic>","id":"x","usage":{"output_tokens":4}}}"#
            ),
            Line::Synthetic
        );
    }

    #[test]
    fn lenient_numbers() {
        let t = tokens(
            r#"{"message":{"usage":{"input_tokens":12.9,"output_tokens":"40","cache_read_input_tokens":-3,"cache_creation_input_tokens":" 7.5 "}}}"#,
        );
        assert_eq!(
            (t.input, t.output, t.cache_read, t.cache_write_5m),
            (12, 40, 0, 7)
        );
        let t = tokens(
            r#"{"message":{"usage":{"input_tokens":null,"output_tokens":true,"cache_read_input_tokens":[1],"cache_creation_input_tokens":{"a":1}}}}"#,
        );
        assert_eq!(t, Tokens::default());
        let t = tokens(
            r#"{"message":{"usage":{"input_tokens":1e30,"output_tokens":"NaN","cache_read_input_tokens":"inf","cache_creation_input_tokens":18446744073709551615}}}"#,
        );
        assert_eq!(
            (t.input, t.output, t.cache_read, t.cache_write_5m),
            (0, 0, 0, u64::MAX)
        );
    }

    #[test]
    fn cache_split() {
        let split = |total: u64, w5: &str, w1: &str| {
            let line = format!(
                r#"{{"message":{{"usage":{{"cache_creation_input_tokens":{total},"cache_creation":{{{w5}{w1}}}}}}}}}"#
            );
            let t = tokens(&line);
            (t.cache_write_5m, t.cache_write_1h)
        };
        assert_eq!(
            split(
                100,
                r#""ephemeral_5m_input_tokens":30,"#,
                r#""ephemeral_1h_input_tokens":70"#
            ),
            (30, 70)
        );
        // A shortfall goes to the 5-minute part.
        assert_eq!(
            split(
                100,
                r#""ephemeral_5m_input_tokens":10,"#,
                r#""ephemeral_1h_input_tokens":50"#
            ),
            (50, 50)
        );
        assert_eq!(
            split(100, "", r#""ephemeral_1h_input_tokens":100"#),
            (0, 100)
        );
        // A split larger than the total is believed (it is what the API billed).
        assert_eq!(
            split(
                10,
                r#""ephemeral_5m_input_tokens":5,"#,
                r#""ephemeral_1h_input_tokens":50"#
            ),
            (5, 50)
        );
        // No split: all of it is 5-minute.
        let t = tokens(r#"{"message":{"usage":{"cache_creation_input_tokens":100}}}"#);
        assert_eq!((t.cache_write_5m, t.cache_write_1h), (100, 0));
        let t = tokens(
            r#"{"message":{"usage":{"cache_creation_input_tokens":100,"cache_creation":null}}}"#,
        );
        assert_eq!((t.cache_write_5m, t.cache_write_1h), (100, 0));
    }

    #[test]
    fn ignored_and_malformed_lines() {
        for ignored in [
            "",
            "   \r",
            r#"{"type":"user","message":{"role":"user","content":"hi"}}"#,
            r#"{"type":"summary","summary":"the usage of x"}"#,
            r#"{"usage":{"input_tokens":5}}"#,
            r#"{"message":"usage"}"#,
            r#"{"message":{"usage":"none"}}"#,
            r#"{"message":{"usage":[1,2]}}"#,
            r#"[{"message":{"usage":{}}}]"#,
            r#""usage""#,
        ] {
            assert_eq!(parse_line(ignored.as_bytes()), Line::Ignored, "{ignored}");
        }
        let deep_ok = format!(
            r#"{{"message":{{"usage":{{}}}},"x":{}1{}}}"#,
            "[".repeat(62),
            "]".repeat(62)
        );
        assert!(matches!(parse_line(deep_ok.as_bytes()), Line::Record(_)));
        let too_deep = format!(
            r#"{{"message":{{"usage":{{}}}},"x":{}1{}}}"#,
            "[".repeat(64),
            "]".repeat(64)
        );
        let deep_in_string = format!(
            r#"{{"message":{{"usage":{{}}}},"x":"{}"}}"#,
            "[".repeat(100)
        );
        assert!(matches!(
            parse_line(deep_in_string.as_bytes()),
            Line::Record(_)
        ));
        for malformed in [
            r#"{"message":{"usage":{"input_tokens":5}}"#,
            r#"{"message":{"usage":{"input_tokens":1e999}}}"#,
            r#"{"message":{"usage":{}}} trailing"#,
            "not json at all",
            too_deep.as_str(),
        ] {
            assert_eq!(
                parse_line(malformed.as_bytes()),
                Line::Malformed,
                "{malformed}"
            );
        }
    }

    #[test]
    fn escaped_keys_still_match() {
        let t = tokens(r#"{"mess\u0061ge":{"usage":{"output_tok\u0065ns":2}}}"#);
        assert_eq!(t.output, 2);
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        let t = tokens(r#"{"message":{"usage":{"output_tokens":1,"output_tokens":9}}}"#);
        assert_eq!(t.output, 9);
    }

    #[test]
    fn invalid_utf8_is_read_with_replacement() {
        let mut line = br#"{"message":{"model":"m"#.to_vec();
        line.push(0xff);
        line.extend_from_slice(br#"","id":"a","usage":{"output_tokens":3}}}"#);
        match parse_line(&line) {
            Line::Record(r) => {
                assert_eq!(r.model, "m\u{fffd}");
                assert_eq!(r.tokens.output, 3);
            }
            other => panic!("{other:?}"),
        }
    }
}
