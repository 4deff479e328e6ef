//! Pure transforms of Claude Code's own JSON files: the global config `G` (`~/.claude.json`:
//! trust, the remote-control acknowledgement, MCP approvals) and `settings.json` (the recap
//! SessionStart hook) — bridges.md §12–§13, http-api.md §4.
//!
//! The write transaction (locks, backup, atomic replace, bridges.md §12.4) is the server's;
//! it reads the file, calls [`parse_config_text`], applies one transform here, and writes
//! [`to_config_text`] only when the transform reports a change. Every transform works on the
//! value in place, refuses a non-object root, keeps unknown keys and their order (serde_json's
//! `preserve_order`), and touches nothing it does not own.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde_json::{Map, Value};

/// Why a Claude JSON file cannot be used. The messages never quote the file's content (it
/// holds OAuth account data); the caller prefixes the file's path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaudeJsonError {
    #[error("is not UTF-8; it was left unchanged — fix or remove it, then retry")]
    NotUtf8,
    #[error("is not valid JSON ({reason}); it was left unchanged — fix or remove it, then retry")]
    InvalidJson { reason: String },
    #[error(
        "holds a JSON {found}, not an object; it was left unchanged — fix or remove it, then retry"
    )]
    NotAnObject { found: &'static str },
    #[error(
        "has `{key}` as a JSON {found} where an {expected} is needed; it was left unchanged — fix that entry by hand"
    )]
    WrongType {
        key: &'static str,
        expected: &'static str,
        found: &'static str,
    },
}

/// The JSON type of a value, as error messages name it.
pub(crate) fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// How deep a Claude JSON file may nest (§12.4 step 2): deeper is refused.
pub const MAX_NESTING: usize = 128;

/// Reads a Claude JSON file's text (invariant 4, bridges.md §12.4 step 2): blank (empty or
/// whitespace only) → `{}`; a JSON object → that object; anything else — invalid JSON,
/// nesting deeper than [`MAX_NESTING`] levels, or a non-object — is an error, and the file
/// must not be written.
pub fn parse_config_text(text: &str) -> Result<Value, ClaudeJsonError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    // serde_json's own limit stops at 127 levels; ours is exactly 128, checked here first,
    // which also makes parsing without serde_json's limit safe (the depth is bounded).
    let depth = max_nesting(text);
    if depth > MAX_NESTING {
        return Err(ClaudeJsonError::InvalidJson {
            reason: format!("nested {depth} levels deep, more than {MAX_NESTING}"),
        });
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let value = Value::deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| ClaudeJsonError::InvalidJson {
            // serde_json's messages name the problem and position, never the input.
            reason: e.to_string(),
        })?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(ClaudeJsonError::NotAnObject {
            found: json_type_name(&value),
        })
    }
}

/// The deepest bracket nesting of a JSON text (brackets inside strings ignored). Malformed
/// text gives some number; the parser reports its real error afterwards.
pub(crate) fn max_nesting(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// [`parse_config_text`] over raw file bytes; bytes that are not UTF-8 are an error.
pub fn parse_config_bytes(bytes: &[u8]) -> Result<Value, ClaudeJsonError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ClaudeJsonError::NotUtf8)?;
    parse_config_text(text)
}

/// The text written back (§12.4 step 5): JSON with 2-space indentation, `\n` line ends and a
/// final newline.
pub fn to_config_text(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}

fn root_object(value: &mut Value) -> Result<&mut Map<String, Value>, ClaudeJsonError> {
    let found = json_type_name(value);
    value
        .as_object_mut()
        .ok_or(ClaudeJsonError::NotAnObject { found })
}

/// `trust_state` of a project (http-api.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustState {
    Trusted,
    Untrusted,
}

impl TrustState {
    pub fn as_str(self) -> &'static str {
        match self {
            TrustState::Trusted => "trusted",
            TrustState::Untrusted => "untrusted",
        }
    }
}

/// Whether `G.projects["<abs_path>"].hasTrustDialogAccepted` is exactly `true` — the one key,
/// no ancestor rule. Anything missing or of another type on the way means no.
pub fn has_trust_entry(config: &Value, abs_path: &str) -> bool {
    config
        .get("projects")
        .and_then(|p| p.get(abs_path))
        .and_then(|e| e.get("hasTrustDialogAccepted"))
        == Some(&Value::Bool(true))
}

/// The trusted paths of `G` (§12.2), built once per read of the file so that a project list
/// of a thousand entries is answered without rescanning it.
#[derive(Debug, Clone, Default)]
pub struct TrustedPaths {
    paths: HashSet<PathBuf>,
}

impl TrustedPaths {
    /// The keys of `G.projects` whose value is an object with `hasTrustDialogAccepted`
    /// exactly `true`. A non-object `G` or `projects` trusts nothing (deny).
    pub fn from_config(config: &Value) -> Self {
        let paths = config
            .get("projects")
            .and_then(Value::as_object)
            .map(|projects| {
                projects
                    .iter()
                    .filter(|(_, entry)| {
                        entry.get("hasTrustDialogAccepted") == Some(&Value::Bool(true))
                    })
                    .map(|(key, _)| PathBuf::from(key))
                    .collect()
            })
            .unwrap_or_default();
        Self { paths }
    }

    /// §12.2: a git repository is trusted only by its own canonical path; any other
    /// directory when it or an ancestor is trusted. Paths compare by components, so a
    /// trailing `/` in a key does not matter.
    pub fn state(&self, canonical_path: &Path, is_git_repo: bool) -> TrustState {
        let trusted = if is_git_repo {
            self.paths.contains(canonical_path)
        } else {
            canonical_path.ancestors().any(|a| self.paths.contains(a))
        };
        if trusted {
            TrustState::Trusted
        } else {
            TrustState::Untrusted
        }
    }
}

/// Trusts each of `canonical_paths` (§12.3 "Trust one project" / "Trust all"):
/// `projects[path].hasTrustDialogAccepted = true`, creating `projects` and the entry when
/// missing and replacing a non-object value there; every other key is kept. Returns whether
/// anything changed. Never touches an ancestor's entry.
pub fn set_trusted(config: &mut Value, canonical_paths: &[&str]) -> Result<bool, ClaudeJsonError> {
    let root = root_object(config)?;
    let mut changed = false;
    for path in canonical_paths {
        if has_trust_entry_in(root, path) {
            continue;
        }
        let projects = root
            .entry("projects")
            .or_insert_with(|| Value::Object(Map::new()));
        if !projects.is_object() {
            // §12.3: a non-object value is replaced. claude itself cannot read a non-object
            // `projects`, so nothing usable is lost.
            *projects = Value::Object(Map::new());
        }
        let entry = projects
            .as_object_mut()
            .expect("projects was just made an object")
            .entry(*path)
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        entry
            .as_object_mut()
            .expect("the entry was just made an object")
            .insert("hasTrustDialogAccepted".to_owned(), Value::Bool(true));
        changed = true;
    }
    Ok(changed)
}

fn has_trust_entry_in(root: &Map<String, Value>, path: &str) -> bool {
    root.get("projects")
        .and_then(|p| p.get(path))
        .and_then(|e| e.get("hasTrustDialogAccepted"))
        == Some(&Value::Bool(true))
}

/// The top-level flags that stop a headless bridge from waiting on the one-time "Enable
/// Remote Control? (y/n)" prompt (§12.3).
pub const ACK_FLAGS: [&str; 2] = ["hasUsedRemoteControl", "remoteDialogSeen"];

/// Sets both acknowledgement flags to `true` when either is not already exactly `true`.
/// Returns whether anything changed.
pub fn acknowledge_remote_control(config: &mut Value) -> Result<bool, ClaudeJsonError> {
    let root = root_object(config)?;
    let mut changed = false;
    for flag in ACK_FLAGS {
        if root.get(flag) != Some(&Value::Bool(true)) {
            root.insert(flag.to_owned(), Value::Bool(true));
            changed = true;
        }
    }
    Ok(changed)
}

/// The hidden subcommand the recap hook runs (cli.md).
pub const RECAP_HOOK_SUBCOMMAND: &str = "__recap-hook__";
/// What the Python Clauster's hook command contains; its entry is ours to replace (K6).
pub const PYTHON_RECAP_HOOK_MARKER: &str = "resume_recap.py";

/// The hook command for the `clauster` binary at `self_exe`: the path double-quoted for the
/// shell claude runs hooks with, then `__recap-hook__`. Inside the quotes `\`, `"`, `$` and
/// `` ` `` are backslash-escaped, so any path survives the shell unchanged.
pub fn recap_hook_command(self_exe: &str) -> String {
    let mut cmd = String::with_capacity(self_exe.len() + 20);
    cmd.push('"');
    for c in self_exe.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            cmd.push('\\');
        }
        cmd.push(c);
    }
    cmd.push_str("\" ");
    cmd.push_str(RECAP_HOOK_SUBCOMMAND);
    cmd
}

fn is_recap_command(command: &str) -> bool {
    command.contains(RECAP_HOOK_SUBCOMMAND) || command.contains(PYTHON_RECAP_HOOK_MARKER)
}

/// Installs the recap SessionStart hook in `settings.json` (§13.1) with `command` (see
/// [`recap_hook_command`]). Returns whether anything changed.
///
/// `hooks` must be an object and `hooks.SessionStart` an array (each created when missing;
/// another type is an error and nothing changes). Our entry is any hook — an item of some
/// group's `hooks` array — whose `command` contains `__recap-hook__` or `resume_recap.py`
/// (the Python Clauster's): each such command that differs is rewritten in place, so a stale
/// Python entry cannot survive next to ours; when there is none, one group
/// `{"matcher": "", "hooks": [{"type": "command", "command": …}]}` is appended. Groups and
/// hooks of any other shape are left as they are.
pub fn install_recap_hook(settings: &mut Value, command: &str) -> Result<bool, ClaudeJsonError> {
    let root = root_object(settings)?;
    if let Some(hooks) = root.get("hooks")
        && !hooks.is_object()
    {
        return Err(ClaudeJsonError::WrongType {
            key: "hooks",
            expected: "object",
            found: json_type_name(hooks),
        });
    }
    if let Some(list) = root.get("hooks").and_then(|h| h.get("SessionStart"))
        && !list.is_array()
    {
        return Err(ClaudeJsonError::WrongType {
            key: "hooks.SessionStart",
            expected: "array",
            found: json_type_name(list),
        });
    }
    let groups = root
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .expect("hooks checked to be an object")
        .entry("SessionStart")
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
        .expect("SessionStart checked to be an array");

    let mut found = false;
    let mut changed = false;
    let ours = groups
        .iter_mut()
        .filter_map(|g| g.get_mut("hooks").and_then(Value::as_array_mut))
        .flatten()
        .filter_map(|h| h.get_mut("command"))
        .filter(|c| c.as_str().is_some_and(is_recap_command));
    for existing in ours {
        found = true;
        if existing.as_str() != Some(command) {
            *existing = Value::String(command.to_owned());
            changed = true;
        }
    }
    if !found {
        groups.push(serde_json::json!({
            "matcher": "",
            "hooks": [{"type": "command", "command": command}],
        }));
        changed = true;
    }
    Ok(changed)
}

/// The `mcp-approval` preflight check (http-api.md §4): the servers of a project's
/// `.mcp.json` (`mcpServers` keys, in file order) that are neither enabled nor disabled in
/// `G.projects["<project_path>"]` — `enabledMcpjsonServers`, `disabledMcpjsonServers`, or
/// `enableAllProjectMcpServers: true` for all. An interactive session would stop on their
/// approval prompt. A `.mcp.json` without an object `mcpServers` has no servers; a missing
/// or malformed project entry has decided nothing.
pub fn undecided_mcp_servers(mcp_json: &Value, config: &Value, project_path: &str) -> Vec<String> {
    let Some(servers) = mcp_json.get("mcpServers").and_then(Value::as_object) else {
        return Vec::new();
    };
    let entry = config.get("projects").and_then(|p| p.get(project_path));
    if entry.and_then(|e| e.get("enableAllProjectMcpServers")) == Some(&Value::Bool(true)) {
        return Vec::new();
    }
    let listed = |key: &str| -> Vec<&str> {
        entry
            .and_then(|e| e.get(key))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let enabled = listed("enabledMcpjsonServers");
    let disabled = listed("disabledMcpjsonServers");
    servers
        .keys()
        .filter(|name| !enabled.contains(&name.as_str()) && !disabled.contains(&name.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Before/after text of one transform, for a snapshot.
    fn before_after(
        before: &str,
        f: impl FnOnce(&mut Value) -> Result<bool, ClaudeJsonError>,
    ) -> String {
        let mut v = parse_config_text(before).unwrap();
        let changed = f(&mut v).unwrap();
        format!(
            "changed: {changed}\n--- before\n{}\n--- after\n{}",
            before.trim_end(),
            to_config_text(&v).trim_end()
        )
    }

    const GLOBAL: &str = r#"{
  "numStartups": 412,
  "oauthAccount": {"organizationUuid": "0f0e0d0c-0000-4000-8000-000000000001", "emailAddress": "op@example.com"},
  "projects": {
    "/srv/p/beta": {"allowedTools": [], "hasTrustDialogAccepted": false, "lastCost": 0.1234567890123457},
    "/srv/p/gamma": "corrupt"
  },
  "zzzLastKey": [1, 2.5e-7, {"nested": null}]
}"#;

    #[test]
    fn parse_config_text_rules() {
        for blank in ["", "  \n\t\r\n "] {
            assert_eq!(parse_config_text(blank), Ok(json!({})));
        }
        assert_eq!(parse_config_text(" {\"a\":1} \n"), Ok(json!({"a": 1})));
        assert_eq!(
            parse_config_text("[1]"),
            Err(ClaudeJsonError::NotAnObject { found: "array" })
        );
        assert_eq!(
            parse_config_text("null"),
            Err(ClaudeJsonError::NotAnObject { found: "null" })
        );
        assert!(matches!(
            parse_config_text("{\"a\": 1,}"),
            Err(ClaudeJsonError::InvalidJson { .. })
        ));
        assert_eq!(parse_config_bytes(b"\xff{}"), Err(ClaudeJsonError::NotUtf8));
        assert_eq!(parse_config_bytes(b" "), Ok(json!({})));
        // A UTF-8 BOM is not whitespace and not JSON: refused, so the file is never replaced.
        assert!(parse_config_text("\u{feff}{}").is_err());
        let msg = parse_config_text("{\"secret\": oops}")
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("secret") && !msg.contains("oops"), "{msg}");
        assert!(msg.contains("left unchanged"), "{msg}");
    }

    #[test]
    fn nesting_limit_is_128() {
        let nest = |depth: usize| {
            format!(
                "{{\"a\":{}1{}, \"s\": \"[[{{\\\"\"}}",
                "[".repeat(depth - 1),
                "]".repeat(depth - 1)
            )
        };
        assert_eq!(
            max_nesting(&nest(128)),
            128,
            "brackets in strings do not count"
        );
        assert!(parse_config_text(&nest(128)).is_ok());
        assert_eq!(
            parse_config_text(&nest(129)),
            Err(ClaudeJsonError::InvalidJson {
                reason: "nested 129 levels deep, more than 128".into()
            })
        );
        // Far deeper input is refused by the scan, without recursing.
        assert!(parse_config_text(&"[".repeat(100_000)).is_err());
        assert!(matches!(
            parse_config_text("{} {}"),
            Err(ClaudeJsonError::InvalidJson { .. })
        ));
    }

    #[test]
    fn transforms_refuse_non_objects() {
        let mut v = json!([1]);
        let err = Err(ClaudeJsonError::NotAnObject { found: "array" });
        assert_eq!(set_trusted(&mut v, &["/x"]), err);
        assert_eq!(acknowledge_remote_control(&mut v), err);
        assert_eq!(install_recap_hook(&mut v, "c"), err);
        assert_eq!(v, json!([1]));
    }

    #[test]
    fn trust_reading() {
        let g = json!({"projects": {
            "/srv/p": {"hasTrustDialogAccepted": true},
            "/srv/q/repo/": {"hasTrustDialogAccepted": true},
            "/srv/r": {"hasTrustDialogAccepted": "true"},
            "/srv/s": true
        }});
        let t = TrustedPaths::from_config(&g);
        let st = |p: &str, git: bool| t.state(Path::new(p), git);
        assert_eq!(st("/srv/p", true), TrustState::Trusted);
        assert_eq!(
            st("/srv/p/alpha", false),
            TrustState::Trusted,
            "ancestor trusted"
        );
        assert_eq!(
            st("/srv/p/alpha", true),
            TrustState::Untrusted,
            "a repo needs its own entry"
        );
        assert_eq!(
            st("/srv/q/repo", true),
            TrustState::Trusted,
            "trailing slash in the key"
        );
        assert_eq!(
            st("/srv/r", false),
            TrustState::Untrusted,
            "not exactly true"
        );
        assert_eq!(st("/srv/s", false), TrustState::Untrusted, "not an object");
        assert_eq!(
            st("/srv", false),
            TrustState::Untrusted,
            "never a descendant"
        );
        assert_eq!(st("/srv/p", true).as_str(), "trusted");
        assert_eq!(TrustState::Untrusted.as_str(), "untrusted");
        for bad in [json!([]), json!({"projects": []}), json!({})] {
            assert_eq!(
                TrustedPaths::from_config(&bad).state(Path::new("/srv/p"), false),
                TrustState::Untrusted
            );
        }
        assert!(has_trust_entry(&g, "/srv/p"));
        assert!(!has_trust_entry(&g, "/srv/p/alpha"));
    }

    #[test]
    fn trust_one_and_many() {
        insta::assert_snapshot!(
            "trust_many",
            before_after(GLOBAL, |v| set_trusted(
                v,
                &["/srv/p/alpha", "/srv/p/beta", "/srv/p/gamma"]
            ))
        );
        insta::assert_snapshot!(
            "trust_into_blank",
            before_after("", |v| set_trusted(v, &["/srv/p/alpha"]))
        );
        insta::assert_snapshot!(
            "trust_replaces_non_object_projects",
            before_after(r#"{"projects": 7, "b": 1}"#, |v| set_trusted(
                v,
                &["/srv/p/alpha"]
            ))
        );
        // Idempotent: a second application changes nothing.
        let mut v = parse_config_text(GLOBAL).unwrap();
        assert!(set_trusted(&mut v, &["/srv/p/alpha"]).unwrap());
        let once = v.clone();
        assert!(!set_trusted(&mut v, &["/srv/p/alpha"]).unwrap());
        assert_eq!(v, once);
        assert!(!set_trusted(&mut v, &[]).unwrap());
    }

    #[test]
    fn numbers_and_key_order_survive_a_round_trip() {
        let v = parse_config_text(GLOBAL).unwrap();
        let again = parse_config_text(&to_config_text(&v)).unwrap();
        assert_eq!(to_config_text(&again), to_config_text(&v));
        let text = to_config_text(&v);
        assert!(
            text.contains("0.1234567890123457") && text.contains("2.5e-7"),
            "{text}"
        );
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            ["numStartups", "oauthAccount", "projects", "zzzLastKey"]
        );
        assert!(text.ends_with("}\n") && !text.contains('\r'));
    }

    #[test]
    fn acknowledgement() {
        insta::assert_snapshot!(
            "ack_partial",
            before_after(
                r#"{"hasUsedRemoteControl": true, "remoteDialogSeen": "yes", "x": 1}"#,
                acknowledge_remote_control
            )
        );
        let mut v = json!({"hasUsedRemoteControl": true, "remoteDialogSeen": true});
        assert!(!acknowledge_remote_control(&mut v).unwrap());
        let mut v = json!({});
        assert!(acknowledge_remote_control(&mut v).unwrap());
        assert_eq!(
            v,
            json!({"hasUsedRemoteControl": true, "remoteDialogSeen": true})
        );
    }

    const EXE: &str = "/opt/clauster/bin/clauster";

    #[test]
    fn hook_command_quoting() {
        assert_eq!(
            recap_hook_command(EXE),
            "\"/opt/clauster/bin/clauster\" __recap-hook__"
        );
        assert_eq!(
            recap_hook_command("/a b/$x`y\\\"z"),
            "\"/a b/\\$x\\`y\\\\\\\"z\" __recap-hook__"
        );
    }

    #[test]
    fn recap_hook_install() {
        let cmd = recap_hook_command(EXE);
        insta::assert_snapshot!(
            "recap_into_blank",
            before_after("  ", |v| install_recap_hook(v, &cmd))
        );
        insta::assert_snapshot!(
            "recap_keeps_other_hooks",
            before_after(
                r#"{"model": "opus", "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "audit.sh"}]}], "SessionStart": [{"matcher": "startup", "hooks": [{"type": "command", "command": "echo hi"}]}]}}"#,
                |v| install_recap_hook(v, &cmd)
            )
        );
        insta::assert_snapshot!(
            "recap_replaces_python_entry",
            before_after(
                r#"{"hooks": {"SessionStart": [{"matcher": "", "hooks": [{"type": "command", "command": "echo first"}, {"type": "command", "command": "/usr/bin/python3 /home/op/.clauster/hooks/resume_recap.py", "timeout": 30}]}]}}"#,
                |v| install_recap_hook(v, &cmd)
            )
        );
        insta::assert_snapshot!(
            "recap_rewrites_moved_binary",
            before_after(
                r#"{"hooks": {"SessionStart": [{"matcher": "", "hooks": [{"type": "command", "command": "\"/old/path/clauster\" __recap-hook__"}]}, "odd group", {"hooks": "odd"}]}}"#,
                |v| install_recap_hook(v, &cmd)
            )
        );
        // Idempotent.
        let mut v = json!({});
        assert!(install_recap_hook(&mut v, &cmd).unwrap());
        let once = v.clone();
        assert!(!install_recap_hook(&mut v, &cmd).unwrap());
        assert_eq!(v, once);
    }

    #[test]
    fn recap_hook_wrong_types_are_refused_untouched() {
        let mut v = json!({"hooks": []});
        assert_eq!(
            install_recap_hook(&mut v, "c"),
            Err(ClaudeJsonError::WrongType {
                key: "hooks",
                expected: "object",
                found: "array"
            })
        );
        assert_eq!(v, json!({"hooks": []}));
        let mut v = json!({"hooks": {"SessionStart": {"matcher": ""}}});
        let before = v.clone();
        let err = install_recap_hook(&mut v, "c").unwrap_err();
        assert_eq!(
            err,
            ClaudeJsonError::WrongType {
                key: "hooks.SessionStart",
                expected: "array",
                found: "object"
            }
        );
        assert!(err.to_string().contains("hooks.SessionStart"));
        assert_eq!(v, before);
    }

    #[test]
    fn mcp_approval() {
        let mcp = json!({"mcpServers": {"github": {}, "postgres": {}, "sentry": {}, "files": {}}});
        let g = json!({"projects": {"/srv/p/alpha": {
            "enabledMcpjsonServers": ["github"],
            "disabledMcpjsonServers": ["sentry", 5]
        }}});
        assert_eq!(
            undecided_mcp_servers(&mcp, &g, "/srv/p/alpha"),
            ["postgres", "files"]
        );
        assert_eq!(
            undecided_mcp_servers(&mcp, &g, "/srv/p/other"),
            ["github", "postgres", "sentry", "files"]
        );
        let all = json!({"projects": {"/srv/p/alpha": {"enableAllProjectMcpServers": true}}});
        assert!(undecided_mcp_servers(&mcp, &all, "/srv/p/alpha").is_empty());
        let not_bool =
            json!({"projects": {"/srv/p/alpha": {"enableAllProjectMcpServers": "true"}}});
        assert_eq!(
            undecided_mcp_servers(&mcp, &not_bool, "/srv/p/alpha").len(),
            4
        );
        assert!(undecided_mcp_servers(&json!({}), &g, "/srv/p/alpha").is_empty());
        assert!(undecided_mcp_servers(&json!({"mcpServers": []}), &g, "/srv/p/alpha").is_empty());
        assert_eq!(
            undecided_mcp_servers(&mcp, &json!([]), "/srv/p/alpha").len(),
            4
        );
    }
}
