//! What `tools/list` shows: every tool's name, description and input schema. The names and
//! argument shapes of the Python Clauster 1.3.2 tools are kept (its docs/mcp.md), so a client
//! configured against it works unchanged; ours follow.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

/// The read tools, always usable.
pub const READ_TOOLS: [&str; 6] = [
    "list_sessions",
    "session_status",
    "list_projects",
    "project_usage",
    "instance_logs",
    "doctor",
];

/// The write tools: they act only with `mcp.allow_writes: true`.
pub const WRITE_TOOLS: [&str; 3] = ["spawn_session", "stop_session", "resume_session"];

/// How a refused write tool says what to do (issue 24 §1).
pub fn writes_off(tool: &str) -> String {
    format!(
        "{tool} is a write tool and this Clauster MCP server is read-only: set \
         `mcp: {{allow_writes: true}}` in clauster.yml (or CLAUSTER_MCP_ALLOW_WRITES=true), then \
         restart `clauster mcp` (or `clauster run` for /mcp)"
    )
}

fn schema(value: &Value) -> Arc<JsonObject> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
}

const REFERENCE: &str = "A bridge: its instance id as list_sessions shows it, a unique prefix of \
                         one (8 characters are usually enough), or a project name when that \
                         project has one live bridge.";

fn id_only(description: &str) -> Value {
    json!({
        "type": "object",
        "properties": { "id": { "type": "string", "minLength": 1, "description": description } },
        "required": ["id"],
        "additionalProperties": false,
    })
}

fn read_only(title: &str) -> ToolAnnotations {
    ToolAnnotations::with_title(title)
        .read_only(true)
        .open_world(false)
}

fn write(title: &str, destructive: bool) -> ToolAnnotations {
    ToolAnnotations::with_title(title)
        .read_only(false)
        .destructive(destructive)
        .idempotent(false)
        .open_world(false)
}

/// Every tool, read tools first; the write tools' descriptions say whether they act.
#[allow(clippy::too_many_lines)] // the catalogue: one entry per tool, no logic
pub fn tools(allow_writes: bool) -> Vec<Tool> {
    let gate = if allow_writes {
        "Write tool (enabled: mcp.allow_writes is true)."
    } else {
        "Write tool, DISABLED on this server: a call answers an error saying how to enable it \
         (mcp.allow_writes: true)."
    };
    let no_arguments = json!({ "type": "object", "properties": {}, "additionalProperties": false });
    vec![
        Tool::new(
            "list_sessions",
            "Every session Clauster can see, as one flat list: managed bridges (kind `bridge`, \
             `id` = instance id; a project may run one standard bridge and several interactive \
             ones), background agents (`background-agent`), and the live Claude Code sessions \
             of `claude agents --json` (`bridge-session` under the bridge whose `id` is its \
             `parent_instance`, `external-session` otherwise). Only structural and lifecycle \
             fields; no log text, transcript text or links. Returns {count, sessions}.",
            schema(&no_arguments),
        )
        .with_annotations(read_only("List sessions")),
        Tool::new(
            "session_status",
            "One session by id: a bridge (instance id, unique id prefix, or project name), a \
             background agent id, or a working-session uuid. Returns {found: true, session}, \
             {found: false, id} when nothing matches, or {found: false, id, ambiguous: [ids]} \
             when the id names several bridges (retry with one of them).",
            schema(&id_only(
                "The session to report: a bridge instance id, a unique prefix of one, a \
                 project name, a background agent id, or a working-session uuid.",
            )),
        )
        .with_annotations(read_only("Session status")),
        Tool::new(
            "list_projects",
            "The projects under projects_root with their badges: git repository, Claude \
             workspace trust (`trusted`/`untrusted`; an untrusted project cannot start a bridge \
             unless spawn_session is called with trust: true), CLAUDE.md and .claude/ present, \
             bypassPermissions allowed, and the preflight checks (trust, git, MCP server \
             approval) with any warnings. Returns {count, projects}.",
            schema(&no_arguments),
        )
        .with_annotations(read_only("List projects")),
        Tool::new(
            "project_usage",
            "Token use and approximate cost (USD, from Claude Code's transcripts, de-duplicated, \
             priced per model) of one project, or of every project when `project` is left out: \
             the all-time totals and the days (UTC) from `since` to `until`, each bound \
             optional and inclusive, as {date, messages, total_tokens, token_breakdown, \
             cost_usd, models}. For \"this week\", pass since = the date 6 days ago.",
            schema(&json!({
                "type": "object",
                "properties": {
                    "project": {
                        "type": "string",
                        "description": "A project name as list_projects shows it; leave it out \
                                        for every project.",
                    },
                    "since": {
                        "type": "string",
                        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                        "description": "First day to list, YYYY-MM-DD (UTC), inclusive.",
                    },
                    "until": {
                        "type": "string",
                        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                        "description": "Last day to list, YYYY-MM-DD (UTC), inclusive.",
                    },
                },
                "additionalProperties": false,
            })),
        )
        .with_annotations(read_only("Project usage")),
        Tool::new(
            "instance_logs",
            "The most recent lines of a bridge's debug log, with ANSI codes stripped and \
             secrets (tokens, session ids, links) redacted. Returns {id, project, status, \
             lines}.",
            schema(&json!({
                "type": "object",
                "properties": {
                    "id": { "type": "string", "minLength": 1, "description": REFERENCE },
                    "lines": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 2000,
                        "default": 100,
                        "description": "How many lines, from the end (default 100).",
                    },
                },
                "required": ["id"],
                "additionalProperties": false,
            })),
        )
        .with_annotations(read_only("Bridge log")),
        Tool::new(
            "doctor",
            "Clauster's health checks, as `clauster doctor` runs them: config, the claude \
             binary and its version, login, directories, the store and the service setup. \
             Returns {ok, checks: [{name, status: ok|warn|fail, detail}]}.",
            schema(&no_arguments),
        )
        .with_annotations(read_only("Doctor")),
        Tool::new(
            "spawn_session",
            format!(
                "{gate} Starts a claude bridge in a project, through the same checks as the \
                 dashboard's Start: trust, the bypassPermissions opt-in, the bridge limits. \
                 Returns {{created, reason, warnings, session}}; created is false when the \
                 project's live standard bridge was handed back instead of a second one."
            ),
            schema(&json!({
                "type": "object",
                "properties": {
                    "project": { "type": "string", "minLength": 1, "description": "The project's name (list_projects)." },
                    "resume_mode": {
                        "type": "string",
                        "enum": ["standard", "pty"],
                        "description": "`standard`: a multi-session server; `pty`: one interactive session. Default: claude.launch_mode.",
                    },
                    "spawn_mode": {
                        "type": "string",
                        "enum": ["same-dir", "worktree", "session"],
                        "description": "Where sessions work: the project directory, a git worktree each, or (standard) one session.",
                    },
                    "permission_mode": {
                        "type": "string",
                        "enum": ["default", "plan", "acceptEdits", "auto", "dontAsk", "bypassPermissions", "inherit"],
                        "description": "The bridge's permission mode; `inherit` passes none. bypassPermissions needs the project's opt-in.",
                    },
                    "custom_name": { "type": "string", "description": "A display name for the bridge (default: the project's)." },
                    "sandbox": {
                        "type": "string",
                        "enum": ["default", "on", "off"],
                        "description": "Accepted for compatibility with Clauster 1.3.2.",
                    },
                    "resume_session_id": { "type": "string", "description": "pty only: fork this past conversation (uuid)." },
                    "trust": {
                        "type": "boolean",
                        "default": false,
                        "description": "Mark the project's directory trusted in Claude's config first. Never implied: an untrusted project is refused without it.",
                    },
                },
                "required": ["project"],
                "additionalProperties": false,
            })),
        )
        .with_annotations(write("Start a bridge", false)),
        Tool::new(
            "stop_session",
            format!(
                "{gate} Stops a bridge (interrupt, then terminate). Returns {{stopped: true, id, \
                 session}}, {{stopped: false, id}} when no bridge matches, or {{stopped: false, \
                 id, ambiguous: [ids]}} when the id names several (nothing was stopped)."
            ),
            schema(&id_only(REFERENCE)),
        )
        .with_annotations(write("Stop a bridge", true)),
        Tool::new(
            "resume_session",
            format!(
                "{gate} Resumes a stopped bridge into its previous conversation (or a fresh one \
                 with fresh: true). Returns {{resumed, id, warnings, session}}; resumed is false \
                 with a `reason` when the project's live standard bridge was handed back \
                 instead (its session is NOT necessarily the one named), with only {{id}} when \
                 nothing matches, and with `ambiguous` when the id names several bridges."
            ),
            schema(&json!({
                "type": "object",
                "properties": {
                    "id": { "type": "string", "minLength": 1, "description": REFERENCE },
                    "fresh": { "type": "boolean", "default": false, "description": "Start a new conversation instead of continuing." },
                    "trust": { "type": "boolean", "default": false, "description": "Mark the project's directory trusted first." },
                },
                "required": ["id"],
                "additionalProperties": false,
            })),
        )
        .with_annotations(write("Resume a bridge", false)),
    ]
}

#[cfg(test)]
mod tests {
    use super::{READ_TOOLS, WRITE_TOOLS, tools};

    #[test]
    fn every_tool_is_listed_once_with_an_object_schema() {
        for allow in [false, true] {
            let listed = tools(allow);
            let names: Vec<&str> = listed.iter().map(|t| t.name.as_ref()).collect();
            let expected: Vec<&str> = READ_TOOLS.iter().chain(&WRITE_TOOLS).copied().collect();
            assert_eq!(names, expected);
            for tool in &listed {
                assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
                assert!(tool.description.as_ref().is_some_and(|d| d.len() > 40));
            }
        }
        let off = tools(false);
        assert!(off[6].description.as_ref().unwrap().contains("DISABLED"));
    }
}
