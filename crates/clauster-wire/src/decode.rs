//! Decoders for the tagged and flattened shapes, for the wasm bundle.
//!
//! serde's derived `Deserialize` for an internally tagged enum, or a struct with a
//! `#[serde(flatten)]` field, buffers the whole object into its private `Content` tree and
//! then deserialises every nested type a second time from that tree: a second copy of the
//! decoding code of `Snapshot`, `Instance`, `Project`, … in the bundle. These functions read
//! the JSON text twice instead — once for the tag, once for the payload straight into its
//! type — so the bundle carries only the serde_json path. They accept exactly what the derived
//! implementations accept (unknown fields ignored, the same defaults); the end-to-end tests
//! decode every frame they receive both ways and compare.

use serde::Deserialize;
use serde_json::Result;

use crate::{CloneProgressFrame, Frame, Instance, Sequenced, SpawnOutcome};

/// Parses a struct-shaped payload with the listed fields out of `text` and builds the named
/// variant from them; a field marked `= default` may be absent.
macro_rules! variant {
    ($enum:ident :: $variant:ident, $text:expr, { $($field:ident : $ty:ty $(= $default:ident)?),* $(,)? }) => {{
        #[derive(Deserialize)]
        struct Payload {
            $( $(#[serde($default)])? $field: $ty, )*
        }
        let Payload { $($field),* } = serde_json::from_str($text)?;
        $enum::$variant { $($field),* }
    }};
}

#[derive(Deserialize)]
struct Tag {
    #[serde(rename = "type")]
    kind: String,
}

fn unknown(kind: &str, expected: &'static [&'static str]) -> serde_json::Error {
    serde::de::Error::unknown_variant(kind, expected)
}

/// One `/ws/events` frame, as `serde_json::from_str::<Sequenced>` would decode it.
///
/// # Errors
/// The text is not JSON, lacks `seq` or `type`, names an unknown type, or its payload does
/// not match that type.
pub fn frame(text: &str) -> Result<Sequenced> {
    #[derive(Deserialize)]
    struct Head {
        seq: u64,
        #[serde(rename = "type")]
        kind: String,
    }
    const TYPES: &[&str] = &[
        "hello",
        "snapshot",
        "instance",
        "instance_removed",
        "project",
        "project_removed",
        "health",
        "heartbeat",
        "resync",
        "sessions",
        "usage",
        "clone",
        "metrics",
        "login",
        "readiness",
        "login_flow",
        "settings",
    ];
    let Head { seq, kind } = serde_json::from_str(text)?;
    let frame = match kind.as_str() {
        "hello" => variant!(Frame::Hello, text, {
            version: String,
            server_time: String,
            context: crate::PageContext,
        }),
        "snapshot" => Frame::Snapshot(serde_json::from_str(text)?),
        "instance" => variant!(Frame::Instance, text, { instance: Instance }),
        "instance_removed" => variant!(Frame::InstanceRemoved, text, { instance_id: String }),
        "project" => variant!(Frame::Project, text, {
            project: crate::Project,
            preflight: Option<crate::CheckReport> = default,
        }),
        "project_removed" => variant!(Frame::ProjectRemoved, text, { name: String }),
        "health" => Frame::Health(serde_json::from_str(text)?),
        "heartbeat" => variant!(Frame::Heartbeat, text, { server_time: String }),
        "resync" => variant!(Frame::Resync, text, { reason: String }),
        "sessions" => Frame::Sessions(serde_json::from_str(text)?),
        "usage" => variant!(Frame::Usage, text, {
            project: String,
            usage: crate::Usage,
        }),
        "clone" => variant!(Frame::Clone, text, { job: crate::CloneJobState }),
        "metrics" => variant!(Frame::Metrics, text, {
            metrics: std::collections::BTreeMap<String, crate::Metrics>,
        }),
        "login" => Frame::Login(serde_json::from_str(text)?),
        "readiness" => Frame::Readiness(serde_json::from_str(text)?),
        "login_flow" => Frame::LoginFlow(serde_json::from_str(text)?),
        "settings" => variant!(Frame::Settings, text, {
            usage: crate::UsageContext,
            metrics: crate::MetricsContext,
        }),
        other => return Err(unknown(other, TYPES)),
    };
    Ok(Sequenced { seq, frame })
}

/// One `/ws/clone-progress/{job_id}` frame.
///
/// # Errors
/// As [`frame`].
pub fn clone_progress(text: &str) -> Result<CloneProgressFrame> {
    let Tag { kind } = serde_json::from_str(text)?;
    Ok(match kind.as_str() {
        "progress" => variant!(CloneProgressFrame::Progress, text, {
            phase: Option<String>,
            percent: Option<u8>,
        }),
        "done" => variant!(CloneProgressFrame::Done, text, {
            status: String,
            error: Option<String>,
        }),
        "overflow" => variant!(CloneProgressFrame::Overflow, text, { dropped: u64 }),
        other => return Err(unknown(other, &["progress", "done", "overflow"])),
    })
}

/// The answer of a start or resume: the instance's fields and the outcome's, side by side.
///
/// # Errors
/// The text is not JSON or either part does not match.
pub fn spawn_outcome(text: &str) -> Result<SpawnOutcome> {
    #[derive(Deserialize)]
    struct Rest {
        created: bool,
        reason: Option<String>,
        warnings: Vec<String>,
    }
    let instance: Instance = serde_json::from_str(text)?;
    let Rest {
        created,
        reason,
        warnings,
    } = serde_json::from_str(text)?;
    Ok(SpawnOutcome {
        instance,
        created,
        reason,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both<T: PartialEq + std::fmt::Debug + serde::de::DeserializeOwned>(
        text: &str,
        ours: fn(&str) -> Result<T>,
    ) -> T {
        let derived: T = serde_json::from_str(text).expect("serde's derive accepts it");
        let decoded = ours(text).expect("the decoder accepts it");
        assert_eq!(decoded, derived, "{text}");
        decoded
    }

    #[test]
    fn frames_decode_as_the_derived_implementation_does() {
        let project = r#"{"name":"alpha","path":"/p/alpha","is_git_repo":false,"has_claude_md":false,
            "has_claude_dir":false,"trust_state":"trusted","allow_bypass_permissions":false}"#;
        let texts = [
            format!(r#"{{"seq":1,"type":"project","project":{project}}}"#),
            format!(
                r#"{{"seq":2,"type":"project","project":{project},"preflight":{{"ok":true,"checks":[]}}}}"#
            ),
            r#"{"seq":3,"type":"instance_removed","instance_id":"i-1","extra":[1,{"x":2}]}"#
                .to_owned(),
            r#"{"type":"heartbeat","server_time":"2026-11-26T01:00:00Z","seq":4}"#.to_owned(),
            r#"{"seq":5,"type":"resync","reason":"lagged"}"#.to_owned(),
            r#"{"seq":6,"type":"project_removed","name":"alpha"}"#.to_owned(),
            r#"{"seq":7,"type":"health","claude_ok":null,"claude_version":null,"store_ok":true,"engine_ready":false}"#
                .to_owned(),
            r#"{"seq":8,"type":"metrics","metrics":{}}"#.to_owned(),
            r#"{"seq":10,"type":"login","claude_login_ok":false,"claude_login_method":null,"claude_login_expires_at":null}"#
                .to_owned(),
            r#"{"seq":9,"type":"clone","job":{"job_id":"j","name":"n","phase":null,"percent":3,"status":"running"}}"#
                .to_owned(),
        ];
        for text in &texts {
            both(text, frame);
        }
    }

    #[test]
    fn unknown_or_malformed_frames_are_refused_both_ways() {
        for text in [
            r#"{"seq":1,"type":"bogus"}"#,
            r#"{"seq":1}"#,
            r#"{"type":"resync","reason":"x"}"#,
            r#"{"seq":1,"type":"resync"}"#,
            r#"{"seq":1,"type":"instance","instance":{}}"#,
            "[1,2]",
            "",
        ] {
            assert!(frame(text).is_err(), "{text}");
            assert!(serde_json::from_str::<Sequenced>(text).is_err(), "{text}");
        }
        let error = frame(r#"{"seq":1,"type":"bogus"}"#).expect_err("unknown");
        assert!(
            error.to_string().contains("unknown variant `bogus`"),
            "{error}"
        );
    }

    #[test]
    fn clone_progress_frames_decode_as_the_derived_implementation_does() {
        for text in [
            r#"{"type":"progress","phase":"Receiving objects","percent":40}"#,
            r#"{"type":"progress","phase":null,"percent":null}"#,
            r#"{"type":"done","status":"error","error":"clone failed"}"#,
            r#"{"type":"overflow","dropped":7}"#,
        ] {
            both(text, clone_progress);
        }
        assert!(clone_progress(r#"{"type":"nope"}"#).is_err());
    }

    #[test]
    fn spawn_outcomes_decode_as_the_derived_implementation_does() {
        let text = r#"{"instance_id":"i-1","project":"alpha","label":"alpha","channel":"rc",
            "status":"starting","alive":true,"resume_mode":"standard","spawn_mode":"same-dir",
            "permission_mode":"default","sandbox_mode":"off","intentional_stop":false,
            "stopping":false,"resumed_conversation":false,"launch_count":1,"url":null,
            "created":true,"reason":null,"warnings":["slow disk"]}"#;
        let outcome = both(text, spawn_outcome);
        assert_eq!(outcome.instance.instance_id, "i-1");
        assert_eq!(outcome.warnings, ["slow disk"]);
        assert!(spawn_outcome(r#"{"created":true,"reason":null,"warnings":[]}"#).is_err());
    }
}
