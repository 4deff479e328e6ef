//! MCP server maps (config-write.md §6): `.mcp.json`'s `mcpServers` (Project),
//! `~/.claude.json`'s `mcpServers` (User) and `projects.<path>.mcpServers` (Local), and the
//! approval lists of a project's `.mcp.json` servers in `~/.claude.json`.

use serde_json::{Map, Value};

use super::secrets::{MASK, mask_strings, restore_masked};
use super::{EditError, invalid, type_name};

/// The longest server name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` may name a server: letters, digits, `_`, `-`, `.`, not starting with `.`.
pub fn valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The keys an entry may carry (1.3.2's): `type` and `transport` are synonyms.
const STDIO_KEYS: &[&str] = &["command", "args", "env", "type", "transport"];
const REMOTE_KEYS: &[&str] = &["url", "headers", "env", "type", "transport"];

/// The transport an entry declares (`type`, or its synonym `transport`): `stdio` when
/// neither is given. Both given and different → 422.
fn transport_of<'a>(name: &str, entry: &'a Map<String, Value>) -> Result<&'a str, EditError> {
    let mut declared = ["type", "transport"]
        .into_iter()
        .filter_map(|key| entry.get(key).map(|v| (key, v)));
    let Some((key, first)) = declared.next() else {
        return Ok("stdio");
    };
    let Some(first) = first.as_str() else {
        return Err(invalid(format!("mcpServers.{name}.{key} must be a string")));
    };
    if let Some((_, second)) = declared.next()
        && second.as_str() != Some(first)
    {
        return Err(invalid(format!(
            "mcpServers.{name}.type and .transport disagree; give one of them"
        )));
    }
    Ok(first)
}

/// Checks one server entry: stdio (`command`, `args`, `env`) or remote (`type` `http` or
/// `sse`, `url`, `headers`). Keys outside these are refused by [`check_unknown_keys`] once
/// the stored entry is known.
pub fn check_server(name: &str, entry: &Value) -> Result<(), EditError> {
    if !valid_server_name(name) {
        return Err(invalid(format!(
            "MCP server name {name:?} must be 1–{MAX_NAME_LEN} letters, digits, '_', '-' or '.'"
        )));
    }
    let Some(entry) = entry.as_object() else {
        return Err(invalid(format!("mcpServers.{name} must be an object")));
    };
    match transport_of(name, entry)? {
        "stdio" => {
            match entry.get("command").and_then(Value::as_str) {
                Some(c) if !c.trim().is_empty() => {}
                _ => {
                    return Err(invalid(format!(
                        "mcpServers.{name}.command must be a non-empty string"
                    )));
                }
            }
            if let Some(args) = entry.get("args")
                && !args
                    .as_array()
                    .is_some_and(|a| a.iter().all(Value::is_string))
            {
                return Err(invalid(format!(
                    "mcpServers.{name}.args must be a list of strings"
                )));
            }
            check_string_map(name, entry, "env")
        }
        "http" | "sse" => {
            let url = entry.get("url").and_then(Value::as_str).unwrap_or_default();
            let web = url::Url::parse(url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
            if web.is_none() {
                return Err(invalid(format!(
                    "mcpServers.{name}.url must be an http:// or https:// URL"
                )));
            }
            check_string_map(name, entry, "env")?;
            check_string_map(name, entry, "headers")
        }
        _ => Err(invalid(format!(
            "mcpServers.{name}.type must be \"stdio\", \"http\" or \"sse\""
        ))),
    }
}

/// Refuses a key an entry of its transport does not have (1.3.2 refuses them all, 422),
/// unless the stored entry of the same name already holds it with the same value: a file
/// written by a newer Claude Code round-trips through the editor, but nothing new that
/// Clauster does not understand is added.
pub fn check_unknown_keys(
    name: &str,
    entry: &Value,
    stored: Option<&Value>,
) -> Result<(), EditError> {
    let Some(map) = entry.as_object() else {
        return Ok(());
    };
    let known = if transport_of(name, map)? == "stdio" {
        STDIO_KEYS
    } else {
        REMOTE_KEYS
    };
    let unknown: Vec<&str> = map
        .iter()
        .filter(|(key, value)| {
            !known.contains(&key.as_str())
                && stored.and_then(|s| s.get(key.as_str())) != Some(value)
        })
        .map(|(key, _)| key.as_str())
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(invalid(format!(
            "mcpServers.{name} has keys an MCP server entry does not have: {unknown:?} (known: {})",
            known.join(", ")
        )))
    }
}

fn check_string_map(name: &str, entry: &Map<String, Value>, key: &str) -> Result<(), EditError> {
    match entry.get(key) {
        None => Ok(()),
        Some(Value::Object(map)) if map.values().all(Value::is_string) => Ok(()),
        Some(_) => Err(invalid(format!(
            "mcpServers.{name}.{key} must be an object of strings"
        ))),
    }
}

/// Checks every server of a map.
pub fn check_servers(servers: &Map<String, Value>) -> Result<(), EditError> {
    servers
        .iter()
        .try_for_each(|(name, entry)| check_server(name, entry))
}

/// The server map under `key` of `container` (`{}` when absent or not an object).
pub fn servers_of(container: &Value) -> Map<String, Value> {
    container
        .get("mcpServers")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Why the server map under `root` (User) or `root.projects[path]` (Local) cannot be edited
/// (config-write.md §6): `mcpServers` is there but not an object, or one of its servers is
/// not an object. The scope is then shown read-only with this fault and every write to it
/// is refused (409), so a hand-written value is never overwritten.
pub fn servers_fault(root: &Value, project_path: Option<&str>) -> Option<String> {
    let container = match project_path {
        None => root,
        Some(path) => root.get("projects")?.get(path)?,
    };
    let servers = container.get("mcpServers")?;
    let fault = |what: &str, v: &Value| {
        format!(
            "{what} is a JSON {} in the file, not an object; fix it by hand",
            type_name(v)
        )
    };
    let Some(map) = servers.as_object() else {
        return Some(fault("mcpServers", servers));
    };
    map.iter()
        .find(|(_, entry)| !entry.is_object())
        .map(|(name, entry)| fault(&format!("mcpServers.{name}"), entry))
}

fn refuse_servers_fault(root: &Value, project_path: Option<&str>) -> Result<(), EditError> {
    servers_fault(root, project_path).map_or(Ok(()), |m| Err(EditError::Conflicting(m)))
}

/// What the MCP tab shows: secret-looking `env` and `headers` values masked, and a URL's
/// password; the masked places as `name.env.VAR`.
pub fn servers_view(servers: &Map<String, Value>) -> (Map<String, Value>, Vec<String>) {
    let mut masked = Vec::new();
    let mut out = Map::new();
    for (name, entry) in servers {
        let mut entry = entry.clone();
        if let Some(map) = entry.as_object_mut() {
            for key in ["env", "headers"] {
                if let Some(Value::Object(values)) = map.get(key) {
                    let (view, names) = mask_strings(values);
                    masked.extend(names.into_iter().map(|n| format!("{name}.{key}.{n}")));
                    map.insert(key.to_owned(), Value::Object(view));
                }
            }
            if let Some(Value::String(url)) = map.get("url")
                && let Ok(mut parsed) = url::Url::parse(url)
                && parsed.password().is_some()
                && parsed.set_password(Some(MASK)).is_ok()
            {
                masked.push(format!("{name}.url"));
                map.insert("url".to_owned(), Value::String(parsed.to_string()));
            }
        }
        out.insert(name.clone(), entry);
    }
    (out, masked)
}

/// Puts stored values back where an entry still holds the mask (same server name).
pub fn restore_server(
    name: &str,
    entry: &mut Value,
    stored: Option<&Value>,
) -> Result<(), EditError> {
    let Some(map) = entry.as_object_mut() else {
        return Ok(());
    };
    for key in ["env", "headers"] {
        if let Some(Value::Object(values)) = map.get_mut(key) {
            let stored_values = stored.and_then(|s| s.get(key)).and_then(Value::as_object);
            restore_masked(values, stored_values, &format!("mcpServers.{name}.{key}"))?;
        }
    }
    if let Some(Value::String(url)) = map.get("url") {
        let stored_url = stored.and_then(|s| s.get("url")).and_then(Value::as_str);
        if let Some(url) = restore_url_password(name, url, stored_url)? {
            map.insert("url".to_owned(), Value::String(url));
        }
    }
    Ok(())
}

/// A URL sent back with the masked password (config-write.md §6): the stored password is put
/// back and the rest of the edit kept when the scheme, host and port are those of the stored
/// URL; a URL pointing elsewhere must have its password retyped (422), so a stored secret is
/// never sent to a new host. `None` when the URL holds no masked password.
fn restore_url_password(
    name: &str,
    url: &str,
    stored: Option<&str>,
) -> Result<Option<String>, EditError> {
    let Some(mut incoming) = url::Url::parse(url)
        .ok()
        .filter(|u| u.password() == Some(MASK))
    else {
        return Ok(None);
    };
    let stored = stored.and_then(|s| url::Url::parse(s).ok());
    let Some(password) = stored.as_ref().and_then(url::Url::password) else {
        return Err(invalid(format!(
            "mcpServers.{name}.url holds the mask but no password is stored; type the password"
        )));
    };
    let stored = stored.as_ref().expect("a password was read from it");
    let same_origin = incoming.scheme() == stored.scheme()
        && incoming.host_str() == stored.host_str()
        && incoming.port_or_known_default() == stored.port_or_known_default();
    if !same_origin {
        return Err(invalid(format!(
            "mcpServers.{name}.url points to a new host with the masked password; retype the \
             password (a stored password is never sent to another host)"
        )));
    }
    incoming
        .set_password(Some(password))
        .map_err(|()| invalid(format!("mcpServers.{name}.url cannot hold a password")))?;
    Ok(Some(incoming.to_string()))
}

/// An edit of one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerOp {
    Add,
    Edit,
    Remove,
}

/// Why a one-server edit could not apply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Edit(#[from] EditError),
    /// 409: `add` of a name that exists.
    #[error("MCP server '{0}' already exists; edit it instead")]
    Exists(String),
    /// 404: `edit` or `remove` of a name that does not.
    #[error("MCP server '{0}' not found")]
    NotFound(String),
}

/// The object holding `mcpServers` in `root`: `root` itself, or `root.projects[path]`
/// (created when missing).
fn container_mut<'a>(
    root: &'a mut Value,
    project_path: Option<&str>,
) -> Result<&'a mut Map<String, Value>, EditError> {
    let conflicting = |what: &str, v: &Value| {
        EditError::Conflicting(format!(
            "{what} is a JSON {} in the file, not an object; fix it by hand",
            type_name(v)
        ))
    };
    if !root.is_object() {
        return Err(conflicting("the file", root));
    }
    let Value::Object(map) = root else {
        unreachable!("checked above");
    };
    let Some(path) = project_path else {
        return Ok(map);
    };
    let projects = map
        .entry("projects")
        .or_insert_with(|| Value::Object(Map::new()));
    if !projects.is_object() {
        return Err(conflicting("projects", projects));
    }
    let entry = projects
        .as_object_mut()
        .expect("checked above")
        .entry(path.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        return Err(conflicting(&format!("projects[{path:?}]"), entry));
    }
    Ok(entry.as_object_mut().expect("checked above"))
}

/// The servers under `root` (User) or `root.projects[path]` (Local).
pub fn servers_at(root: &Value, project_path: Option<&str>) -> Map<String, Value> {
    let container = match project_path {
        None => Some(root),
        Some(path) => root.get("projects").and_then(|p| p.get(path)),
    };
    container.map(servers_of).unwrap_or_default()
}

/// Replaces the whole server map (masks restored from the stored map by name).
pub fn replace_servers(
    root: &mut Value,
    project_path: Option<&str>,
    mut incoming: Map<String, Value>,
) -> Result<(), EditError> {
    refuse_servers_fault(root, project_path)?;
    check_servers(&incoming)?;
    let stored = servers_at(root, project_path);
    for (name, entry) in &mut incoming {
        check_unknown_keys(name, entry, stored.get(name))?;
        restore_server(name, entry, stored.get(name))?;
    }
    let container = container_mut(root, project_path)?;
    if let Some(existing) = container.get("mcpServers")
        && !existing.is_object()
    {
        return Err(EditError::Conflicting(format!(
            "mcpServers is a JSON {} in the file, not an object; fix it by hand",
            type_name(existing)
        )));
    }
    container.insert("mcpServers".to_owned(), Value::Object(incoming));
    Ok(())
}

/// Adds, edits or removes one server, keeping the others and their order.
pub fn apply_server_op(
    root: &mut Value,
    project_path: Option<&str>,
    op: ServerOp,
    name: &str,
    entry: Option<Value>,
) -> Result<(), OpError> {
    refuse_servers_fault(root, project_path)?;
    let mut servers = servers_at(root, project_path);
    let exists = servers.contains_key(name);
    match op {
        ServerOp::Add if exists => return Err(OpError::Exists(name.to_owned())),
        ServerOp::Edit | ServerOp::Remove if !exists => {
            return Err(OpError::NotFound(name.to_owned()));
        }
        ServerOp::Remove => {
            servers.shift_remove(name);
        }
        ServerOp::Add | ServerOp::Edit => {
            let mut entry = entry.ok_or_else(|| invalid("add and edit need an 'entry' object"))?;
            check_server(name, &entry)?;
            check_unknown_keys(name, &entry, servers.get(name))?;
            restore_server(name, &mut entry, servers.get(name))?;
            servers.insert(name.to_owned(), entry);
        }
    }
    let container = container_mut(root, project_path)?;
    container.insert("mcpServers".to_owned(), Value::Object(servers));
    Ok(())
}

/// A project's decisions on its `.mcp.json` servers, from `~/.claude.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Approvals {
    pub enabled: Vec<String>,
    pub disabled: Vec<String>,
    pub enable_all: bool,
}

/// The approvals of `project_path` in `G`.
pub fn approvals(global: &Value, project_path: &str) -> Approvals {
    let entry = global.get("projects").and_then(|p| p.get(project_path));
    let list = |key: &str| -> Vec<String> {
        entry
            .and_then(|e| e.get(key))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    Approvals {
        enabled: list("enabledMcpjsonServers"),
        disabled: list("disabledMcpjsonServers"),
        enable_all: entry.and_then(|e| e.get("enableAllProjectMcpServers"))
            == Some(&Value::Bool(true)),
    }
}

/// The approval state of one `.mcp.json` server: `approved`, `rejected` or `pending`.
pub fn approval_of(approvals: &Approvals, name: &str) -> &'static str {
    if approvals.disabled.iter().any(|n| n == name) {
        "rejected"
    } else if approvals.enable_all || approvals.enabled.iter().any(|n| n == name) {
        "approved"
    } else {
        "pending"
    }
}

/// Sets both lists (a name in both is refused; names are checked like server names).
pub fn set_approvals(
    global: &mut Value,
    project_path: &str,
    enabled: &[String],
    disabled: &[String],
) -> Result<(), EditError> {
    for name in enabled.iter().chain(disabled) {
        if !valid_server_name(name) {
            return Err(invalid(format!("{name:?} is not an MCP server name")));
        }
    }
    if let Some(both) = enabled.iter().find(|n| disabled.contains(n)) {
        return Err(invalid(format!(
            "'{both}' cannot be both enabled and disabled"
        )));
    }
    let container = container_mut(global, Some(project_path))?;
    let list = |names: &[String]| Value::Array(names.iter().cloned().map(Value::String).collect());
    container.insert("enabledMcpjsonServers".to_owned(), list(enabled));
    container.insert("disabledMcpjsonServers".to_owned(), list(disabled));
    Ok(())
}

/// Forgets every decision of the project (as `claude mcp reset-project-choices`).
pub fn reset_choices(global: &mut Value, project_path: &str) -> Result<(), EditError> {
    let container = container_mut(global, Some(project_path))?;
    container.insert("enabledMcpjsonServers".to_owned(), Value::Array(Vec::new()));
    container.insert(
        "disabledMcpjsonServers".to_owned(),
        Value::Array(Vec::new()),
    );
    container.insert("enableAllProjectMcpServers".to_owned(), Value::Bool(false));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude_json::{parse_config_text, to_config_text};

    const GLOBAL: &str = r#"{
  "numStartups": 3,
  "mcpServers": {"gh": {"type": "http", "url": "https://u:pw@api.example/mcp", "headers": {"Authorization": "Bearer abc"}}},
  "projects": {"/srv/p/a": {"hasTrustDialogAccepted": true, "mcpServers": {"db": {"command": "db-mcp", "args": ["--ro"], "env": {"DB_PASSWORD": "pw", "MODE": "ro"}}}, "enabledMcpjsonServers": ["x"]}},
  "oauthAccount": {"emailAddress": "op@example.com"}
}"#;

    fn obj(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn views_mask_env_headers_and_url_passwords() {
        let g = parse_config_text(GLOBAL).unwrap();
        let (user, masked_user) = servers_view(&servers_at(&g, None));
        let (local, masked_local) = servers_view(&servers_at(&g, Some("/srv/p/a")));
        insta::assert_snapshot!(format!(
            "{}\n{masked_user:?}\n{}\n{masked_local:?}",
            Value::Object(user),
            Value::Object(local)
        ));
    }

    #[test]
    fn one_server_edits_keep_everything_else() {
        let mut g = parse_config_text(GLOBAL).unwrap();
        let (local, _) = servers_view(&servers_at(&g, Some("/srv/p/a")));
        let mut db = local["db"].clone();
        db["args"] = obj(r#"["--rw"]"#);
        apply_server_op(&mut g, Some("/srv/p/a"), ServerOp::Edit, "db", Some(db)).unwrap();
        apply_server_op(
            &mut g,
            Some("/srv/p/b"),
            ServerOp::Add,
            "fs",
            Some(obj(r#"{"command": "npx", "args": ["-y", "fs-mcp"]}"#)),
        )
        .unwrap();
        apply_server_op(&mut g, None, ServerOp::Remove, "gh", None).unwrap();
        insta::assert_snapshot!(to_config_text(&g));
        let errors = [
            apply_server_op(&mut g, None, ServerOp::Remove, "gh", None),
            apply_server_op(
                &mut g,
                Some("/srv/p/b"),
                ServerOp::Add,
                "fs",
                Some(obj("{}")),
            ),
            apply_server_op(
                &mut g,
                None,
                ServerOp::Add,
                "../x",
                Some(obj(r#"{"command": "x"}"#)),
            ),
            apply_server_op(
                &mut g,
                None,
                ServerOp::Add,
                "y",
                Some(obj(r#"{"command": ""}"#)),
            ),
            apply_server_op(
                &mut g,
                None,
                ServerOp::Add,
                "y",
                Some(obj(r#"{"type": "http", "url": "file:///etc"}"#)),
            ),
            apply_server_op(
                &mut g,
                None,
                ServerOp::Add,
                "y",
                Some(obj(r#"{"type": "ws", "url": "x"}"#)),
            ),
            apply_server_op(
                &mut g,
                None,
                ServerOp::Add,
                "y",
                Some(obj(r#"{"command": "x", "args": [1]}"#)),
            ),
            apply_server_op(
                &mut g,
                None,
                ServerOp::Add,
                "y",
                Some(obj(r#"{"command": "x", "env": {"A": "********"}}"#)),
            ),
            apply_server_op(
                &mut g,
                None,
                ServerOp::Add,
                "y",
                Some(obj(r#"{"command": "x", "bogus": 1}"#)),
            ),
            apply_server_op(
                &mut g,
                None,
                ServerOp::Add,
                "y",
                Some(obj(
                    r#"{"type": "http", "transport": "sse", "url": "https://x"}"#,
                )),
            ),
        ];
        insta::assert_snapshot!(
            "server_op_refusals",
            errors
                .iter()
                .map(|e| e.as_ref().unwrap_err().to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    #[test]
    fn a_stored_unknown_key_round_trips_but_a_new_one_is_refused() {
        let mut g =
            parse_config_text(r#"{"mcpServers": {"db": {"command": "db", "timeout": 30}}}"#)
                .unwrap();
        let servers = servers_at(&g, None);
        // The map as read, sent back: the stored `timeout` stays.
        replace_servers(&mut g, None, servers.clone()).unwrap();
        assert_eq!(g["mcpServers"]["db"]["timeout"], 30);
        // `transport` is `type`'s synonym (1.3.2).
        let remote = obj(r#"{"transport": "http", "url": "https://mcp.example"}"#);
        apply_server_op(&mut g, None, ServerOp::Add, "web", Some(remote)).unwrap();
        let mut changed = servers;
        changed["db"]["timeout"] = Value::from(60);
        assert_eq!(
            replace_servers(&mut g, None, changed)
                .unwrap_err()
                .to_string(),
            "mcpServers.db has keys an MCP server entry does not have: [\"timeout\"] \
             (known: command, args, env, type, transport)"
        );
        assert_eq!(g["mcpServers"]["db"]["timeout"], 30);
    }

    #[test]
    fn a_masked_url_password_is_kept_on_its_host_and_refused_elsewhere() {
        let mut g = parse_config_text(GLOBAL).unwrap();
        let (view, _) = servers_view(&servers_at(&g, None));
        let mut gh = view["gh"].clone();
        assert_eq!(gh["url"], "https://u:********@api.example/mcp");
        gh["url"] = "https://u:********@api.example:443/v2/mcp".into();
        apply_server_op(&mut g, None, ServerOp::Edit, "gh", Some(gh.clone())).unwrap();
        assert_eq!(
            g["mcpServers"]["gh"]["url"],
            "https://u:pw@api.example/v2/mcp"
        );
        gh["url"] = "https://u:********@evil.example/mcp".into();
        let err = apply_server_op(&mut g, None, ServerOp::Edit, "gh", Some(gh.clone()));
        assert!(err.unwrap_err().to_string().contains("retype the password"));
        gh["url"] = "http://u:********@api.example/v2/mcp".into();
        assert!(apply_server_op(&mut g, None, ServerOp::Edit, "gh", Some(gh)).is_err());
        assert_eq!(
            g["mcpServers"]["gh"]["url"],
            "https://u:pw@api.example/v2/mcp"
        );
    }

    #[test]
    fn a_server_map_of_the_wrong_type_is_a_fault_and_never_overwritten() {
        for (text, fault) in [
            (r#"{"mcpServers": [1]}"#, "mcpServers is a JSON array"),
            (
                r#"{"mcpServers": {"a": "notobj"}}"#,
                "mcpServers.a is a JSON string",
            ),
        ] {
            let mut g = parse_config_text(text).unwrap();
            let found = servers_fault(&g, None).unwrap();
            assert!(found.starts_with(fault), "{found}");
            let add = Some(obj(r#"{"command": "x"}"#));
            let err = apply_server_op(&mut g, None, ServerOp::Add, "b", add).unwrap_err();
            assert!(
                matches!(err, OpError::Edit(EditError::Conflicting(_))),
                "{err:?}"
            );
            let err = replace_servers(&mut g, None, Map::new()).unwrap_err();
            assert!(matches!(err, EditError::Conflicting(_)), "{err:?}");
            assert_eq!(g, parse_config_text(text).unwrap());
        }
    }

    #[test]
    fn approvals_round_trip() {
        let mut g = parse_config_text(GLOBAL).unwrap();
        let a = approvals(&g, "/srv/p/a");
        assert_eq!(approval_of(&a, "x"), "approved");
        assert_eq!(approval_of(&a, "y"), "pending");
        set_approvals(&mut g, "/srv/p/a", &["y".into()], &["x".into()]).unwrap();
        let a = approvals(&g, "/srv/p/a");
        assert_eq!(approval_of(&a, "x"), "rejected");
        assert_eq!(approval_of(&a, "y"), "approved");
        assert!(set_approvals(&mut g, "/srv/p/a", &["y".into()], &["y".into()]).is_err());
        reset_choices(&mut g, "/srv/p/a").unwrap();
        assert_eq!(approvals(&g, "/srv/p/a"), Approvals::default());
        assert!(
            g["projects"]["/srv/p/a"]["hasTrustDialogAccepted"]
                .as_bool()
                .unwrap()
        );
    }
}
