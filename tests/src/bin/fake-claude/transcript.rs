//! Transcripts (`FAKE_CLAUDE_TRANSCRIPT`): the deterministic fixture of fake-claude.md §6, the
//! single-record transcript of the pty form, and the appended replies of
//! `FAKE_CLAUDE_TRANSCRIPT_APPEND_MS`.
//!
//! Every record of one write shares one timestamp, and record `n` (from 1) of a conversation
//! has the uuid `<first 24 characters of the conversation uuid><n as 12 hex digits>`, so a
//! test can rebuild the expected bytes from the file name and the first timestamp.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::util;

const MAIN_USAGE: &str = r#"{"input_tokens":6,"output_tokens":13,"cache_creation_input_tokens":11715,"cache_read_input_tokens":17228,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":11715}}"#;
const SIDE_USAGE: &str = r#"{"input_tokens":100,"output_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}"#;
const ZERO_USAGE: &str = r#"{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}"#;
const APPEND_USAGE: &str = r#"{"input_tokens":10,"output_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}"#;

/// The conversation uuid of a standard bridge's starter session (derived from its id).
pub fn uuid_for_session(session_id: &str) -> String {
    util::derived_uuid(session_id)
}

pub fn path_for(cwd: &Path, uuid: &str) -> PathBuf {
    util::project_dir(cwd).join(format!("{uuid}.jsonl"))
}

pub fn record_uuid(conversation: &str, n: u64) -> String {
    format!("{}{n:012x}", &conversation[..24])
}

fn js(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

struct Ctx<'a> {
    uuid: &'a str,
    cwd: String,
    ts: String,
}

impl Ctx<'_> {
    fn head(&self, kind: &str, n: u64, parent: Option<u64>, sidechain: bool) -> String {
        let parent = parent.map_or_else(|| "null".to_string(), |p| js(&record_uuid(self.uuid, p)));
        format!(
            r#"{{"type":"{kind}","uuid":{},"parentUuid":{parent},"isSidechain":{sidechain},"sessionId":{},"cwd":{},"timestamp":{}"#,
            js(&record_uuid(self.uuid, n)),
            js(self.uuid),
            self.cwd,
            self.ts
        )
    }

    fn user(&self, n: u64, parent: Option<u64>) -> String {
        format!(
            r#"{},"message":{{"role":"user","content":"hello from fake"}}}}"#,
            self.head("user", n, parent, false)
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn assistant(
        &self,
        n: u64,
        parent: Option<u64>,
        sidechain: bool,
        request: Option<&str>,
        id: &str,
        model: &str,
        content: &str,
        usage: &str,
    ) -> String {
        let request = request
            .map(|r| format!(r#","requestId":"{r}""#))
            .unwrap_or_default();
        format!(
            r#"{}{request},"message":{{"id":"{id}","type":"message","role":"assistant","model":"{model}","content":[{content}],"usage":{usage}}}}}"#,
            self.head("assistant", n, parent, sidechain)
        )
    }
}

fn ctx<'a>(uuid: &'a str, cwd: &Path) -> Ctx<'a> {
    Ctx {
        uuid,
        cwd: js(&cwd.to_string_lossy()),
        ts: js(&util::rfc3339_ms(SystemTime::now())),
    }
}

/// The fixture of §6, as text (six lines).
pub fn fixture(uuid: &str, cwd: &Path) -> String {
    let c = ctx(uuid, cwd);
    let text = |t: &str| format!(r#"{{"type":"text","text":"{t}"}}"#);
    let main = |n, parent, content: &str| {
        c.assistant(
            n,
            Some(parent),
            false,
            Some("req_fake_0001"),
            "msg_fake_0001",
            "claude-opus-4-8",
            content,
            MAIN_USAGE,
        )
    };
    let lines = [
        c.user(1, None),
        main(2, 1, &text("Looking at the project.")),
        main(
            3,
            2,
            r#"{"type":"tool_use","id":"toolu_fake_0001","name":"Bash","input":{"command":"ls"}}"#,
        ),
        main(4, 3, &text("The project has no files yet.")),
        c.assistant(
            5,
            None,
            true,
            Some("req_fake_side"),
            "msg_fake_side",
            "claude-haiku-4-5",
            &text("Side task finished."),
            SIDE_USAGE,
        ),
        c.assistant(
            6,
            Some(4),
            false,
            None,
            "msg_fake_synthetic",
            "<synthetic>",
            &text("No response requested."),
            ZERO_USAGE,
        ),
    ];
    let mut out = String::new();
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn line_count(path: &Path) -> u64 {
    fs::read_to_string(path).map_or(0, |t| u64::try_from(t.lines().count()).unwrap_or(0))
}

/// Writes the fixture for a new starter session; returns the transcript path.
pub fn write_fixture(uuid: &str, cwd: &Path) -> PathBuf {
    let path = path_for(cwd, uuid);
    if let Some(dir) = path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    let _ = fs::write(&path, fixture(uuid, cwd));
    path
}

/// The pty form's transcript: one `user` record (appended when the file exists, i.e. on a
/// resume).
pub fn write_user_record(uuid: &str, cwd: &Path) -> PathBuf {
    let path = path_for(cwd, uuid);
    if let Some(dir) = path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    let existing = line_count(&path);
    let parent = (existing > 0).then_some(existing);
    util::append_line(&path, &ctx(uuid, cwd).user(existing + 1, parent));
    path
}

/// Appends reply number `reply` (2, 3, …): `msg_fake_<reply>` on claude-sonnet-4-6.
pub fn append_reply(path: &Path, uuid: &str, cwd: &Path, reply: u64) {
    let existing = line_count(path);
    let c = ctx(uuid, cwd);
    let line = c.assistant(
        existing + 1,
        (existing > 0).then_some(existing),
        false,
        Some(&format!("req_fake_{reply:04}")),
        &format!("msg_fake_{reply:04}"),
        "claude-sonnet-4-6",
        r#"{"type":"text","text":"Another reply."}"#,
        APPEND_USAGE,
    );
    util::append_line(path, &line);
}
