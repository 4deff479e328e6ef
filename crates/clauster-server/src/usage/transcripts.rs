//! The conversation list of the fork picker (data.md §1.8): one entry per top-level session
//! file of a project and its worktrees, cached per file by (mtime, size).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use clauster_core::usage::FileTotals;
use clauster_core::usage::location::{TranscriptKind, TranscriptRoots};
use clauster_wire::TranscriptSession;
use serde_json::Value;

use super::scan::{self, ProofCache, RootError};
use crate::projects::Discovered;

/// Records scanned for the `is_subagent` signs.
const SUBAGENT_SCAN_RECORDS: usize = 200;

/// `first_prompt` is cut to this many characters.
const PROMPT_CHARS: usize = 120;

/// Per-file summaries keyed by path, valid while (mtime, size) stay the same.
#[derive(Debug, Default)]
pub struct Cache(Mutex<HashMap<PathBuf, (i128, u64, TranscriptSession)>>);

/// Whether `text` can be a session file stem or an agent id: letters, digits, `-`, `_`, at
/// most 128 bytes (so never a path, never `..`).
pub fn is_file_stem(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The agent id of a subagent file of `session` (`<session>/subagents/agent-<id>.jsonl`).
fn agent_of(path: &Path, session: &str) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let id = name.strip_prefix("agent-")?.strip_suffix(".jsonl")?;
    let subagents = path.parent()?;
    let owner = subagents.parent()?;
    (subagents.file_name()? == "subagents"
        && owner.file_name()? == session
        && clauster_core::transcript::is_agent_id(id))
    .then(|| id.to_owned())
}

/// The file of `session` (or of its subagent `agent`) among the project's transcripts:
/// only a file discovery attributes to the project is ever served (issue 21 §3).
pub fn locate(
    roots: &TranscriptRoots,
    project: &Discovered,
    all: &[Discovered],
    session: &str,
    agent: Option<&str>,
) -> Result<Option<PathBuf>, RootError> {
    if !is_file_stem(session) || agent.is_some_and(|a| !is_file_stem(a)) {
        return Ok(None);
    }
    let found = scan::discover(roots, project, all, &mut ProofCache::default())?;
    Ok(found.files.into_iter().find_map(|file| {
        let hit = match (&file.kind, agent) {
            (TranscriptKind::Session { stem }, None) => stem == session,
            (TranscriptKind::Subagent, Some(agent)) => {
                agent_of(&file.path, session).as_deref() == Some(agent)
            }
            _ => false,
        };
        hit.then_some(file.path)
    }))
}

/// The project's sessions, live first, then newest mtime. `live` holds the conversation
/// uuids of live sessions; `costs` what the rollup counted per file.
pub fn list(
    roots: &TranscriptRoots,
    cache: &Cache,
    project: &Discovered,
    all: &[Discovered],
    live: &HashSet<String>,
    costs: &HashMap<PathBuf, FileTotals>,
) -> Result<Vec<TranscriptSession>, RootError> {
    let found = scan::discover(roots, project, all, &mut ProofCache::default())?;
    // Subagent files by the session directory they sit in.
    let mut subagents: HashMap<String, Vec<(String, PathBuf)>> = HashMap::new();
    for file in &found.files {
        if let TranscriptKind::Subagent = file.kind
            && let Some(session) = file
                .path
                .parent()
                .and_then(Path::parent)
                .and_then(Path::file_name)
                .and_then(|n| n.to_str())
            && let Some(agent) = agent_of(&file.path, session)
        {
            subagents
                .entry(session.to_owned())
                .or_default()
                .push((agent, file.path.clone()));
        }
    }
    let mut sessions = Vec::new();
    for file in found.files {
        let TranscriptKind::Session { stem } = &file.kind else {
            continue;
        };
        if stem.len() != 36 || uuid::Uuid::parse_str(stem).is_err() {
            continue;
        }
        let Ok(meta) = fs::metadata(&file.path) else {
            continue;
        };
        let mtime = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        let cached = cache
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&file.path)
            .filter(|(m, len, _)| (*m, *len) == (mtime, meta.len()))
            .map(|(_, _, session)| session.clone());
        let session = if let Some(session) = cached {
            session
        } else {
            let Some(session) = summarize(&file.path, stem, mtime) else {
                continue;
            };
            cache
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(file.path.clone(), (mtime, meta.len(), session.clone()));
            session
        };
        let mut session = session;
        session.live = live.contains(stem);
        let agents = subagents.remove(stem.as_str()).unwrap_or_default();
        let mut totals: Option<FileTotals> = costs.get(&file.path).cloned();
        for (_, path) in &agents {
            if let (Some(sum), Some(more)) = (totals.as_mut(), costs.get(path)) {
                sum.cost.0 += more.cost.0;
                sum.messages += more.messages;
                sum.models.extend(more.models.iter().cloned());
            }
        }
        if let Some(totals) = totals {
            let mut models = totals.models;
            models.sort();
            models.dedup();
            session.models = models;
            session.cost_usd = Some(totals.cost.usd_4dp());
        }
        let mut agents: Vec<String> = agents.into_iter().map(|(id, _)| id).collect();
        agents.sort();
        session.subagents = agents;
        sessions.push((mtime, session));
    }
    sessions.sort_by(|a, b| b.1.live.cmp(&a.1.live).then(b.0.cmp(&a.0)));
    Ok(sessions.into_iter().map(|(_, s)| s).collect())
}

fn summarize(path: &Path, stem: &str, mtime_ns: i128) -> Option<TranscriptSession> {
    // No symlink, FIFO or device, and no line longer than 16 MiB held in memory (issue 16
    // §2): a transcript directory's neighbours are not all Claude's own files.
    let (file, _) = crate::bounded_read::open_regular(path).ok()?;
    let mut summary = Summary::default();
    let skipped = crate::bounded_read::for_each_line(
        file,
        crate::bounded_read::TRANSCRIPT_LINE_CAP,
        |line| {
            summary.feed(line);
            true
        },
    );
    if let Ok(skipped @ 1..) = skipped {
        tracing::warn!(
            file = %path.display(),
            "{skipped} transcript line(s) over the 16 MiB cap were skipped"
        );
    }
    let mtime_ms = u128::try_from(mtime_ns / 1_000_000).unwrap_or(0);
    Some(TranscriptSession {
        session: stem.to_owned(),
        mtime: crate::time::rfc3339_from_unix_millis(mtime_ms),
        turn_count: summary.turns,
        live: false,
        first_prompt: summary.first_prompt.or(summary.fallback_prompt),
        first_ts: summary.first_ts,
        last_ts: summary.last_ts,
        is_subagent: summary.sdk || (summary.sidechain && !summary.main_chain),
        models: Vec::new(),
        cost_usd: None,
        subagents: Vec::new(),
    })
}

/// What [`summarize`] gathers, record by record.
#[derive(Debug, Default)]
#[allow(clippy::struct_excessive_bools)] // three independent signs of a subagent
struct Summary {
    turns: u64,
    first_prompt: Option<String>,
    fallback_prompt: Option<String>,
    first_ts: Option<String>,
    last_ts: Option<String>,
    /// `entrypoint: sdk-py` seen.
    sdk: bool,
    /// `isSidechain: true` seen.
    sidechain: bool,
    /// `isSidechain: false` seen.
    main_chain: bool,
    records: usize,
}

impl Summary {
    fn feed(&mut self, line: &[u8]) {
        let Ok(Value::Object(record)) = serde_json::from_slice::<Value>(line) else {
            return;
        };
        if self.records < SUBAGENT_SCAN_RECORDS {
            self.sdk |= record.get("entrypoint").and_then(Value::as_str) == Some("sdk-py");
            match record.get("isSidechain") {
                Some(Value::Bool(true)) => self.sidechain = true,
                Some(Value::Bool(false)) => self.main_chain = true,
                _ => {}
            }
        }
        self.records += 1;
        if let Some(ts) = record.get("timestamp").and_then(Value::as_str)
            && let Some(ms) = crate::time::unix_millis(ts)
        {
            let ts = crate::time::rfc3339_from_unix_millis(ms);
            self.first_ts.get_or_insert_with(|| ts.clone());
            self.last_ts = Some(ts);
        }
        let Some(message) = record.get("message").and_then(Value::as_object) else {
            return;
        };
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        if role.is_empty() {
            return;
        }
        self.turns += 1;
        if role == "user" && self.first_prompt.is_none() {
            let text = user_text(message.get("content"));
            if !text.trim().is_empty() {
                let command = text.starts_with("<local-command-") || text.starts_with("<command-");
                if command {
                    self.fallback_prompt.get_or_insert_with(|| prompt(&text));
                } else {
                    self.first_prompt = Some(prompt(&text));
                }
            }
        }
    }
}

/// A user turn's text: a string content, or its text blocks joined.
fn user_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Sanitized, whitespace collapsed, at most [`PROMPT_CHARS`] characters.
fn prompt(text: &str) -> String {
    let clean = clauster_core::sanitize::sanitize_text(text);
    let collapsed = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(PROMPT_CHARS).collect()
}
