//! `claude agents --json` (bridges.md §17.1) and the attribution of what it lists to managed
//! bridges (§17.2).
//!
//! The field names of 2.1.328's output are not verified by any capture, so the parser is
//! tolerant: unknown keys are ignored and an item lacking a required field is skipped and
//! counted. Only an answer that is not JSON at all (or JSON of the wrong shape) is a failure.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The answer could not be read; the caller keeps its previous result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentsError {
    #[error("`claude agents --json` did not print JSON ({0}); the previous list is kept")]
    NotJson(String),
    #[error(
        "`claude agents --json` printed a JSON {0} without an `agents` or `sessions` array; the previous list is kept"
    )]
    WrongShape(&'static str),
}

/// One listed session or agent that is still going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentItem {
    pub pid: i32,
    pub cwd: String,
    /// Epoch milliseconds.
    pub started_at: i64,
    pub session_id: String,
    /// `""` when absent.
    pub kind: String,
    /// `""` when absent.
    pub state: String,
    pub id: Option<String>,
    pub name: Option<String>,
}

/// A parsed answer: the usable items and how many were skipped for a missing field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentsList {
    pub items: Vec<AgentItem>,
    pub skipped: usize,
}

const FINISHED_STATES: [&str; 3] = ["done", "failed", "stopped"];

/// Parses the output of `claude agents --json`: a JSON array, or an object holding an
/// `agents` or `sessions` array. Finished items (`done`, `failed`, `stopped`) are dropped.
pub fn parse_agents(text: &str) -> Result<AgentsList, AgentsError> {
    let value: Value =
        serde_json::from_str(text.trim()).map_err(|e| AgentsError::NotJson(e.to_string()))?;
    let items = match &value {
        Value::Array(items) => items,
        Value::Object(map) => match map.get("agents").or_else(|| map.get("sessions")) {
            Some(Value::Array(items)) => items,
            _ => return Err(AgentsError::WrongShape("object")),
        },
        other => {
            return Err(AgentsError::WrongShape(crate::claude_json::json_type_name(
                other,
            )));
        }
    };
    let mut list = AgentsList::default();
    for item in items {
        match item_of(item) {
            Some(item) if FINISHED_STATES.contains(&item.state.as_str()) => {}
            Some(item) => list.items.push(item),
            None => list.skipped += 1,
        }
    }
    Ok(list)
}

fn item_of(value: &Value) -> Option<AgentItem> {
    let map = value.as_object()?;
    let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
    Some(AgentItem {
        pid: i32::try_from(map.get("pid")?.as_i64()?).ok()?,
        cwd: text("cwd")?,
        started_at: map.get("startedAt")?.as_i64()?,
        session_id: text("sessionId")?,
        kind: text("kind").unwrap_or_default(),
        state: text("state").unwrap_or_default(),
        id: text("id"),
        name: text("name"),
    })
}

/// How a listed session relates to Clauster (§17.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribution {
    /// Inside a starting/running managed bridge.
    Tracked,
    /// An interactive session Clauster does not manage.
    External,
    /// Background agents and other kinds.
    Untracked,
}

impl Attribution {
    pub fn as_token(self) -> &'static str {
        match self {
            Self::Tracked => "tracked",
            Self::External => "external",
            Self::Untracked => "untracked",
        }
    }
}

/// A starting or running managed instance, as attribution needs it.
#[derive(Debug, Clone)]
pub struct ManagedBridge {
    pub instance_id: String,
    /// The project directory (canonical).
    pub dir: PathBuf,
    /// Worktree-mode instances also claim `<dir>/.claude/worktrees/…`.
    pub worktree: bool,
    /// The bridge, its keeper, and all their descendants.
    pub pids: HashSet<i32>,
}

impl ManagedBridge {
    fn claims(&self, cwd: &Path, pid: i32) -> bool {
        let in_dir = cwd == self.dir
            || (self.worktree && cwd.starts_with(self.dir.join(".claude").join("worktrees")));
        in_dir && self.pids.contains(&pid)
    }
}

/// Attributes one item: its kind, then the managed bridges, in §17.2's order. Returns the
/// attribution and, for a tracked item, the instance it belongs to.
pub fn attribute<'a>(
    item: &AgentItem,
    bridges: &'a [ManagedBridge],
) -> (Attribution, Option<&'a str>) {
    if !(item.kind.is_empty() || item.kind == "interactive") {
        return (Attribution::Untracked, None);
    }
    let cwd = Path::new(&item.cwd);
    match bridges.iter().find(|b| b.claims(cwd, item.pid)) {
        Some(bridge) => (Attribution::Tracked, Some(&bridge.instance_id)),
        None => (Attribution::External, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_an_array_or_an_object_and_skips_what_it_cannot_use() {
        let text = r#"[
            {"pid": 10, "cwd": "/p/a", "startedAt": 1700000000000, "sessionId": "u1", "extra": true},
            {"pid": 11, "cwd": "/p/a", "startedAt": 1, "sessionId": "u2", "state": "done"},
            {"pid": "12", "cwd": "/p/b", "startedAt": 1, "sessionId": "u3"},
            {"cwd": "/p/b", "startedAt": 1, "sessionId": "u4"},
            {"pid": 13, "cwd": "/p/c", "startedAt": 2, "sessionId": "u5", "kind": "background", "state": "running", "id": "3c509237", "name": "fix"},
            7
        ]"#;
        let list = parse_agents(text).unwrap();
        assert_eq!(list.skipped, 3);
        insta::assert_debug_snapshot!(list.items);
        for wrapper in ["agents", "sessions"] {
            let wrapped = format!("{{\"{wrapper}\": {text}}}");
            assert_eq!(parse_agents(&wrapped).unwrap(), list);
        }
    }

    #[test]
    fn refuses_what_is_not_a_list() {
        assert!(matches!(
            parse_agents("Usage: claude …"),
            Err(AgentsError::NotJson(_))
        ));
        assert_eq!(
            parse_agents(r#"{"items": []}"#),
            Err(AgentsError::WrongShape("object"))
        );
        assert_eq!(parse_agents("42"), Err(AgentsError::WrongShape("number")));
        assert_eq!(parse_agents(" [] \n").unwrap(), AgentsList::default());
    }

    fn item(pid: i32, cwd: &str, kind: &str) -> AgentItem {
        AgentItem {
            pid,
            cwd: cwd.into(),
            started_at: 0,
            session_id: format!("s{pid}"),
            kind: kind.into(),
            state: String::new(),
            id: None,
            name: None,
        }
    }

    #[test]
    fn attribution_follows_kind_then_directory_and_process_tree() {
        let bridges = [
            ManagedBridge {
                instance_id: "A".into(),
                dir: "/p/alpha".into(),
                worktree: false,
                pids: HashSet::from([100, 101]),
            },
            ManagedBridge {
                instance_id: "B".into(),
                dir: "/p/beta".into(),
                worktree: true,
                pids: HashSet::from([200, 201]),
            },
        ];
        let cases = [
            (item(101, "/p/alpha", ""), (Attribution::Tracked, Some("A"))),
            (
                item(101, "/p/alpha", "interactive"),
                (Attribution::Tracked, Some("A")),
            ),
            (
                item(101, "/p/alpha", "background"),
                (Attribution::Untracked, None),
            ),
            // Right directory, a process outside the bridge's tree.
            (item(999, "/p/alpha", ""), (Attribution::External, None)),
            // The bridge's process, another directory.
            (item(100, "/p/beta", ""), (Attribution::External, None)),
            // Worktree instances claim their worktrees; same-dir ones do not.
            (
                item(201, "/p/beta/.claude/worktrees/clauster-1a2b3c4d", ""),
                (Attribution::Tracked, Some("B")),
            ),
            (
                item(101, "/p/alpha/.claude/worktrees/clauster-1a2b3c4d", ""),
                (Attribution::External, None),
            ),
            // A sibling whose name starts with the project's.
            (
                item(101, "/p/alpha-staging", ""),
                (Attribution::External, None),
            ),
        ];
        for (item, expected) in cases {
            assert_eq!(attribute(&item, &bridges), expected, "{item:?}");
        }
    }
}
