//! Claude's bridge pointer (`<projects dir>/<slug>/bridge-pointer.json`, bridges.md §17.3):
//! tolerant parsing, the "names this process" test, and the session-strip rewrite.
//!
//! The pointer is written by claude, not by us, and its field names are observed rather than
//! documented, so a field of the wrong type is reported as a problem and read as absent
//! instead of failing the whole file. Only a file that is not a JSON object at all is an
//! error (the engine deletes such a pointer).

use serde_json::{Map, Value};

use crate::claude_json::json_type_name;

/// The pointer file is not a JSON object: nothing in it can be trusted, and bridges.md §17.3
/// says to delete it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    #[error(
        "bridge-pointer.json is not valid JSON ({reason}); it names no live bridge and can be deleted"
    )]
    NotJson { reason: String },
    #[error(
        "bridge-pointer.json holds a JSON {found}, not an object; it names no live bridge and can be deleted"
    )]
    NotAnObject { found: &'static str },
}

/// A field that was present but could not be used; the pointer is still usable without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerProblem {
    /// The JSON key (`pid`, `procStart`, …).
    pub field: &'static str,
    /// What was wrong, for one debug log line.
    pub reason: &'static str,
}

/// The fields Clauster reads from a pointer. Absent or unusable fields are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BridgePointer {
    /// `sessionId`; `Some("")` after a strip (claude then creates a new session).
    pub session_id: Option<String>,
    /// `environmentId`.
    pub environment_id: Option<String>,
    /// `source` (`standalone` for standard bridges).
    pub source: Option<String>,
    /// `pid`.
    pub pid: Option<i32>,
    /// `procStart`: the process's start ticks, written as a decimal string.
    pub proc_start_ticks: Option<u64>,
}

/// A parsed pointer plus the problems found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPointer {
    pub pointer: BridgePointer,
    pub problems: Vec<PointerProblem>,
}

/// Parses the text of `bridge-pointer.json`.
pub fn parse_pointer(text: &str) -> Result<ParsedPointer, PointerError> {
    let object = parse_object(text)?;
    Ok(pointer_from_object(&object))
}

fn parse_object(text: &str) -> Result<Map<String, Value>, PointerError> {
    let value: Value = serde_json::from_str(text).map_err(|e| PointerError::NotJson {
        reason: e.to_string(),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(PointerError::NotAnObject {
            found: json_type_name(&other),
        }),
    }
}

/// Reads the known fields of an already-parsed pointer object.
pub fn pointer_from_object(object: &Map<String, Value>) -> ParsedPointer {
    let mut problems = Vec::new();
    let pointer = BridgePointer {
        session_id: take(object, "sessionId", read_string, &mut problems),
        environment_id: take(object, "environmentId", read_string, &mut problems),
        source: take(object, "source", read_string, &mut problems),
        pid: take(object, "pid", read_pid, &mut problems),
        proc_start_ticks: take(object, "procStart", read_ticks, &mut problems),
    };
    ParsedPointer { pointer, problems }
}

/// One field: absent or `null` is simply unknown; present but unreadable is unknown too,
/// and noted in `problems`.
fn take<T>(
    object: &Map<String, Value>,
    field: &'static str,
    read: fn(&Value) -> Result<T, &'static str>,
    problems: &mut Vec<PointerProblem>,
) -> Option<T> {
    match object.get(field) {
        None | Some(Value::Null) => None,
        Some(v) => read(v)
            .map_err(|reason| problems.push(PointerProblem { field, reason }))
            .ok(),
    }
}

fn read_string(v: &Value) -> Result<String, &'static str> {
    v.as_str().map(str::to_owned).ok_or("not a string")
}

fn read_pid(v: &Value) -> Result<i32, &'static str> {
    let n = v.as_number().ok_or("not a number")?;
    n.as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or("not a positive integer process id")
}

/// Claude writes the ticks as a decimal string; an integer is accepted too, since it means
/// the same thing and costs nothing to accept.
fn read_ticks(v: &Value) -> Result<u64, &'static str> {
    match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().map_err(|_| "tick count out of range")
        }
        Value::Number(n) => n.as_u64().ok_or("not a decimal tick count"),
        _ => Err("not a decimal tick count"),
    }
}

/// What a pointer proves about a bridge process (bridges.md §7.3), with empty ids dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerEvidence {
    pub environment_id: String,
    pub session_id: Option<String>,
}

impl BridgePointer {
    /// Whether this pointer was written by the process with this pid and start ticks. This
    /// is the identity half of "live" (§17.3); the caller still checks that the process is
    /// alive and passes the bridge gate (`identity::is_live`).
    pub fn names_process(&self, pid: i32, start_ticks: u64) -> bool {
        self.pid == Some(pid) && self.proc_start_ticks == Some(start_ticks)
    }

    /// Readiness evidence for the bridge `(pid, start_ticks)`: the pointer names that process
    /// and carries a non-empty `environmentId`; its non-empty `sessionId` comes along.
    pub fn readiness_evidence(&self, pid: i32, start_ticks: u64) -> Option<PointerEvidence> {
        if !self.names_process(pid, start_ticks) {
            return None;
        }
        let environment_id = self.environment_id.clone().filter(|e| !e.is_empty())?;
        Some(PointerEvidence {
            environment_id,
            session_id: self.session_id.clone().filter(|s| !s.is_empty()),
        })
    }

    /// The id of the pre-launch session check (§17.3): `cse_` + the part after `session_`.
    /// `None` when the session id is empty or not of the `session_…` form.
    pub fn code_session_id(&self) -> Option<String> {
        let rest = self.session_id.as_deref()?.strip_prefix("session_")?;
        (!rest.is_empty()).then(|| format!("cse_{rest}"))
    }
}

/// The result of [`strip_session`].
#[derive(Debug, Clone, PartialEq)]
pub enum StripOutcome {
    /// `sessionId` was already empty (or absent): nothing to write.
    AlreadyEmpty,
    /// The pointer to write back: `sessionId` is `""`, every other field and the key order
    /// kept.
    Stripped(Value),
}

/// The strip rewrite of §17.3, for a pointer that is not live: `sessionId` set to `""`, every
/// other field kept, so claude re-registers the same environment with a new session.
///
/// An absent or `null` `sessionId` counts as already empty (there is nothing to strip, and
/// adding the key would be a change for its own sake). A non-string `sessionId` is replaced.
pub fn strip_session(text: &str) -> Result<StripOutcome, PointerError> {
    let mut object = parse_object(text)?;
    match object.get_mut("sessionId") {
        None | Some(Value::Null) => Ok(StripOutcome::AlreadyEmpty),
        Some(Value::String(s)) if s.is_empty() => Ok(StripOutcome::AlreadyEmpty),
        Some(v) => {
            *v = Value::String(String::new());
            Ok(StripOutcome::Stripped(Value::Object(object)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL_SHAPE: &str = r#"{"sessionId": "session_01FAKEAAAAAAAAAAAAAAAAAAAA", "environmentId": "env_01FAKEBBBBBBBBBBBBBBBBBBBB", "source": "standalone", "pid": 81750, "procStart": "2590192"}"#;

    #[test]
    fn parses_the_documented_shape() {
        let parsed = parse_pointer(REAL_SHAPE).unwrap();
        assert!(parsed.problems.is_empty());
        assert_eq!(
            parsed.pointer,
            BridgePointer {
                session_id: Some("session_01FAKEAAAAAAAAAAAAAAAAAAAA".into()),
                environment_id: Some("env_01FAKEBBBBBBBBBBBBBBBBBBBB".into()),
                source: Some("standalone".into()),
                pid: Some(81750),
                proc_start_ticks: Some(2_590_192),
            }
        );
    }

    #[test]
    fn tolerates_wrong_types_and_unknown_keys() {
        let parsed = parse_pointer(
            r#"{"sessionId": 5, "environmentId": null, "pid": "81750", "procStart": "12.5", "extra": {"x": 1}}"#,
        )
        .unwrap();
        assert_eq!(parsed.pointer, BridgePointer::default());
        let fields: Vec<_> = parsed
            .problems
            .iter()
            .map(|p| (p.field, p.reason))
            .collect();
        assert_eq!(
            fields,
            [
                ("sessionId", "not a string"),
                ("pid", "not a number"),
                ("procStart", "not a decimal tick count")
            ]
        );
        let parsed = parse_pointer(r#"{"pid": -4, "procStart": 77}"#).unwrap();
        assert_eq!(parsed.pointer.pid, None);
        assert_eq!(parsed.pointer.proc_start_ticks, Some(77));
        assert_eq!(parsed.problems[0].field, "pid");
        let parsed = parse_pointer(r#"{"procStart": "99999999999999999999999"}"#).unwrap();
        assert_eq!(parsed.problems[0].reason, "tick count out of range");
        assert_eq!(
            parse_pointer("{}").unwrap().pointer,
            BridgePointer::default()
        );
    }

    #[test]
    fn unparseable_pointers_are_errors() {
        assert!(matches!(
            parse_pointer(""),
            Err(PointerError::NotJson { .. })
        ));
        assert!(matches!(
            parse_pointer("{\"pid\": 1"),
            Err(PointerError::NotJson { .. })
        ));
        assert_eq!(
            parse_pointer("[1]"),
            Err(PointerError::NotAnObject { found: "array" })
        );
        let msg = parse_pointer("null").unwrap_err().to_string();
        assert!(msg.contains("can be deleted"), "{msg}");
    }

    #[test]
    fn identity_and_evidence() {
        let p = parse_pointer(REAL_SHAPE).unwrap().pointer;
        assert!(p.names_process(81750, 2_590_192));
        assert!(!p.names_process(81750, 2_590_193), "recycled pid");
        assert!(!p.names_process(81751, 2_590_192));
        assert_eq!(
            p.readiness_evidence(81750, 2_590_192),
            Some(PointerEvidence {
                environment_id: "env_01FAKEBBBBBBBBBBBBBBBBBBBB".into(),
                session_id: Some("session_01FAKEAAAAAAAAAAAAAAAAAAAA".into()),
            })
        );
        assert_eq!(p.readiness_evidence(1, 2), None);
        let mut stripped = p.clone();
        stripped.session_id = Some(String::new());
        assert_eq!(
            stripped
                .readiness_evidence(81750, 2_590_192)
                .unwrap()
                .session_id,
            None
        );
        let mut no_env = p.clone();
        no_env.environment_id = Some(String::new());
        assert_eq!(no_env.readiness_evidence(81750, 2_590_192), None);
    }

    #[test]
    fn code_session_id() {
        let p = parse_pointer(REAL_SHAPE).unwrap().pointer;
        assert_eq!(
            p.code_session_id().as_deref(),
            Some("cse_01FAKEAAAAAAAAAAAAAAAAAAAA")
        );
        for text in [
            r#"{"sessionId": ""}"#,
            r#"{"sessionId": "session_"}"#,
            r#"{"sessionId": "cse_1"}"#,
            "{}",
        ] {
            assert_eq!(
                parse_pointer(text).unwrap().pointer.code_session_id(),
                None,
                "{text}"
            );
        }
    }

    #[test]
    fn strip_keeps_every_other_field_in_order() {
        let StripOutcome::Stripped(v) = strip_session(
            r#"{"sessionId": "session_01X", "environmentId": "env_01Y", "source": "standalone", "pid": 81750, "procStart": "2590192", "zeta": [1, 2]}"#,
        )
        .unwrap() else {
            panic!("expected a strip");
        };
        insta::assert_snapshot!(serde_json::to_string_pretty(&v).unwrap());
    }

    #[test]
    fn strip_no_ops_and_errors() {
        assert_eq!(
            strip_session(r#"{"sessionId": "", "pid": 1}"#),
            Ok(StripOutcome::AlreadyEmpty)
        );
        assert_eq!(
            strip_session(r#"{"pid": 1}"#),
            Ok(StripOutcome::AlreadyEmpty)
        );
        assert_eq!(
            strip_session(r#"{"sessionId": null}"#),
            Ok(StripOutcome::AlreadyEmpty)
        );
        assert_eq!(
            strip_session(r#"{"sessionId": 7}"#),
            Ok(StripOutcome::Stripped(serde_json::json!({"sessionId": ""})))
        );
        assert!(matches!(
            strip_session("nope"),
            Err(PointerError::NotJson { .. })
        ));
    }
}
