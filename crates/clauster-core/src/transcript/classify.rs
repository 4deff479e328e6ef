//! One transcript line → what the turn index needs to know about it, without building a
//! `serde_json::Value`: the role, the sidechain flag, the message id and whether a user line
//! carries only tool results. Everything else is skipped by serde_json's ignore path, so a
//! 10 MB tool result costs a scan, not an allocation.
//!
//! The visitors accept every JSON shape and keep only what has the right one: a wrongly typed
//! field reads as absent (data.md §1.2's tolerance), never as an unreadable line.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::lenient::{
    OnlyTrue, deserialize_with, ignore_map, ignore_seq, scalar_shapes as scalars, skip_map,
    skip_seq,
};
use crate::usage::too_deep;

/// Who wrote a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// A line that is part of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnLine {
    pub role: Role,
    /// `isSidechain: true`: written by a subagent inside the main file.
    pub sidechain: bool,
    /// A user line whose content is one or more `tool_result` blocks and nothing else.
    pub results_only: bool,
    /// FNV-1a of `message.id`: the streamed pieces of one reply share it.
    pub message_key: Option<u64>,
}

/// What one line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineClass {
    /// Empty or whitespace only.
    Blank,
    /// Not a JSON object: truncated, garbage, nested too deep.
    Unreadable,
    /// A record that is not a user or assistant message (summaries, snapshots, system
    /// records, record types this version does not know).
    Other,
    Turn(TurnLine),
}

/// Classifies one line with serde: every shape, at serde's speed. [`super::classify_line`]
/// asks it only what the byte-level fast path leaves.
pub(crate) fn classify_with_serde(line: &[u8]) -> LineClass {
    if line.iter().all(u8::is_ascii_whitespace) {
        return LineClass::Blank;
    }
    if too_deep(line) {
        return LineClass::Unreadable;
    }
    let parsed = match serde_json::from_slice::<Head>(line) {
        Ok(head) => Some(head),
        // Invalid UTF-8 inside a string: read it with replacement characters, as the rollup
        // does, and try once more.
        Err(_) if std::str::from_utf8(line).is_err() => {
            serde_json::from_str::<Head>(&String::from_utf8_lossy(line)).ok()
        }
        Err(_) => None,
    };
    match parsed {
        None | Some(Head { object: false, .. }) => LineClass::Unreadable,
        Some(Head {
            role: Some(role),
            sidechain,
            results_only,
            message_key,
            ..
        }) => LineClass::Turn(TurnLine {
            role,
            sidechain,
            results_only: results_only && role == Role::User,
            message_key,
        }),
        Some(_) => LineClass::Other,
    }
}

/// FNV-1a (64 bit).
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[derive(Default)]
struct Head {
    object: bool,
    sidechain: bool,
    role: Option<Role>,
    results_only: bool,
    message_key: Option<u64>,
}

/// A key we look at, or any other.
enum Key {
    Sidechain,
    Message,
    Role,
    Id,
    Content,
    Type,
    Other,
}

deserialize_with!(Key, deserialize_str, "a key", {
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(match v {
            "isSidechain" => Key::Sidechain,
            "message" => Key::Message,
            "role" => Key::Role,
            "id" => Key::Id,
            "content" => Key::Content,
            "type" => Key::Type,
            _ => Key::Other,
        })
    }
});

deserialize_with!(Head, deserialize_any, "a transcript record", {
    scalars!(Head::default());
    ignore_seq!(Head::default());
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
        let mut head = Head {
            object: true,
            ..Head::default()
        };
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Sidechain => head.sidechain = map.next_value::<OnlyTrue>()?.0,
                Key::Message => {
                    // Duplicate keys: the last one wins, as in JavaScript.
                    let message = map.next_value::<MessageHead>()?;
                    head.role = message.role;
                    head.results_only = message.results_only;
                    head.message_key = message.key;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(head)
    }
});

/// What a string field is read for.
#[derive(Clone, Copy)]
enum StrUse {
    Role,
    Hash,
    IsToolResult,
}

/// The reading of a string field; every other shape reads as "absent".
enum AnyStr {
    Role(Option<Role>),
    Hash(Option<u64>),
    IsToolResult(bool),
}

struct StrSeed(StrUse);

impl StrSeed {
    fn absent(&self) -> AnyStr {
        match self.0 {
            StrUse::Role => AnyStr::Role(None),
            StrUse::Hash => AnyStr::Hash(None),
            StrUse::IsToolResult => AnyStr::IsToolResult(false),
        }
    }
}

impl<'de> de::DeserializeSeed<'de> for StrSeed {
    type Value = AnyStr;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<AnyStr, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrSeed {
    type Value = AnyStr;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("anything")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<AnyStr, E> {
        Ok(match self.0 {
            StrUse::Role => AnyStr::Role(match v {
                "user" => Some(Role::User),
                "assistant" => Some(Role::Assistant),
                _ => None,
            }),
            StrUse::Hash => AnyStr::Hash((!v.is_empty()).then(|| fnv(v.as_bytes()))),
            StrUse::IsToolResult => AnyStr::IsToolResult(v == "tool_result"),
        })
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<AnyStr, E> {
        Ok(self.absent())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<AnyStr, E> {
        Ok(self.absent())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<AnyStr, E> {
        Ok(self.absent())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<AnyStr, E> {
        Ok(self.absent())
    }
    fn visit_unit<E: de::Error>(self) -> Result<AnyStr, E> {
        Ok(self.absent())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<AnyStr, A::Error> {
        skip_seq(seq)?;
        Ok(self.absent())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AnyStr, A::Error> {
        skip_map(map)?;
        Ok(self.absent())
    }
}

#[derive(Default)]
struct MessageHead {
    role: Option<Role>,
    key: Option<u64>,
    results_only: bool,
}

deserialize_with!(MessageHead, deserialize_any, "a message", {
    scalars!(MessageHead::default());
    ignore_seq!(MessageHead::default());
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MessageHead, A::Error> {
        let mut head = MessageHead::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Role => {
                    if let AnyStr::Role(role) = map.next_value_seed(StrSeed(StrUse::Role))? {
                        head.role = role;
                    }
                }
                Key::Id => {
                    if let AnyStr::Hash(key) = map.next_value_seed(StrSeed(StrUse::Hash))? {
                        head.key = key;
                    }
                }
                Key::Content => head.results_only = map.next_value::<ContentHead>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(head)
    }
});

/// Whether a content value is a non-empty array of `tool_result` blocks only.
struct ContentHead(bool);

deserialize_with!(ContentHead, deserialize_any, "message content", {
    scalars!(ContentHead(false));
    ignore_map!(ContentHead(false));
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ContentHead, A::Error> {
        let (mut any, mut all) = (false, true);
        while let Some(BlockIsResult(result)) = seq.next_element()? {
            any = true;
            all &= result;
        }
        Ok(ContentHead(any && all))
    }
});

/// Whether one content block is `{"type": "tool_result", …}`.
struct BlockIsResult(bool);

deserialize_with!(BlockIsResult, deserialize_any, "a content block", {
    scalars!(BlockIsResult(false));
    ignore_seq!(BlockIsResult(false));
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BlockIsResult, A::Error> {
        let mut result = false;
        while let Some(key) = map.next_key::<Key>()? {
            if let Key::Type = key {
                if let AnyStr::IsToolResult(is) =
                    map.next_value_seed(StrSeed(StrUse::IsToolResult))?
                {
                    result = is;
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(BlockIsResult(result))
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(line: &str) -> TurnLine {
        match classify_with_serde(line.as_bytes()) {
            LineClass::Turn(t) => t,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn the_shapes_claude_code_writes() {
        let user = turn(r#"{"type":"user","message":{"role":"user","content":"hi"}}"#);
        assert_eq!(user.role, Role::User);
        assert!(!user.results_only && !user.sidechain && user.message_key.is_none());
        let results = turn(
            r#"{"isSidechain":true,"message":{"role":"user","content":[{"tool_use_id":"t","type":"tool_result","content":"ok"}]}}"#,
        );
        assert!(results.results_only && results.sidechain);
        let mixed = turn(
            r#"{"message":{"role":"user","content":[{"type":"tool_result","content":"ok"},{"type":"text","text":"and"}]}}"#,
        );
        assert!(!mixed.results_only);
        let a = turn(
            r#"{"message":{"id":"msg_1","role":"assistant","content":[{"type":"tool_result"}]}}"#,
        );
        assert_eq!(a.role, Role::Assistant);
        assert_eq!(a.message_key, Some(fnv(b"msg_1")));
        assert!(!a.results_only, "only user lines are results");
        // Python's spacing, keys in another order.
        let spaced = turn(r#"{"message": {"content": "x", "role": "user"}, "isSidechain": 1}"#);
        assert!(!spaced.sidechain);
    }

    #[test]
    fn everything_else() {
        for (line, class) in [
            ("", LineClass::Blank),
            ("  \t", LineClass::Blank),
            ("not json", LineClass::Unreadable),
            (
                r#"{"message":{"role":"user","content":"half"#,
                LineClass::Unreadable,
            ),
            ("[1,2]", LineClass::Unreadable),
            ("42", LineClass::Unreadable),
            (r#"{"type":"summary","summary":"s"}"#, LineClass::Other),
            (
                r#"{"message":{"model":"m","content":"no role"}}"#,
                LineClass::Other,
            ),
            (
                r#"{"message":{"role":"system","content":"x"}}"#,
                LineClass::Other,
            ),
            (r#"{"message":{"role":7}}"#, LineClass::Other),
            (r#"{"message":"text"}"#, LineClass::Other),
            (
                r#"{"type":"file-history-snapshot","snapshot":{}}"#,
                LineClass::Other,
            ),
        ] {
            assert_eq!(classify_with_serde(line.as_bytes()), class, "{line}");
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(70), "]".repeat(70));
        assert_eq!(classify_with_serde(deep.as_bytes()), LineClass::Unreadable);
    }

    #[test]
    fn invalid_utf8_is_read_with_replacements() {
        let mut line = br#"{"message":{"role":"user","content":"caf"#.to_vec();
        line.push(0xff);
        line.extend_from_slice(br#""}}"#);
        assert_eq!(turn(&String::from_utf8_lossy(&line)).role, Role::User);
        assert!(matches!(classify_with_serde(&line), LineClass::Turn(_)));
    }
}
