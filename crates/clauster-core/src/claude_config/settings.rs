//! The `settings.json` surfaces (config-write.md §5): the keys no dedicated surface owns
//! ("settings", with `env`), `permissions` and `hooks`. Every edit replaces only what its
//! surface owns and keeps every other key of the file, in its place.

use serde_json::{Map, Value};

use super::secrets::{mask_strings, restore_masked};
use super::{EditError, invalid, type_name};

/// Keys a dedicated surface (or Claude Code's plugin and approval machinery) owns: the
/// generic settings surface neither shows nor writes them (1.3.2's carve).
pub const OWNED_KEYS: &[&str] = &[
    "permissions",
    "hooks",
    "enabledPlugins",
    "disabledPlugins",
    "enabledMcpjsonServers",
    "disabledMcpjsonServers",
];

/// The permission lists the Permissions surface edits.
pub const RULE_LISTS: [&str; 3] = ["allow", "ask", "deny"];

/// The `defaultMode` values accepted; `bypassPermissions` stays behind the launch-time gate
/// (1.3.2: never set from here).
pub const DEFAULT_MODES: &[&str] = &["default", "acceptEdits", "plan", "dontAsk"];

/// The hook events accepted (1.3.2's list): an unknown event is a typo that would never fire.
pub const HOOK_EVENTS: &[&str] = &[
    "PreToolUse",
    "PostToolUse",
    "UserPromptSubmit",
    "Notification",
    "Stop",
    "SubagentStop",
    "PreCompact",
    "SessionStart",
    "SessionEnd",
];

fn root_map(root: &Value) -> Option<&Map<String, Value>> {
    root.as_object()
}

fn root_map_mut(root: &mut Value) -> Result<&mut Map<String, Value>, EditError> {
    let found = type_name(root);
    root.as_object_mut().ok_or_else(|| {
        EditError::Conflicting(format!("the file holds a JSON {found}, not an object"))
    })
}

/// Why the object `key` of a settings file cannot be edited: it is there but not an object
/// (config-write.md §5). The surface that owns it is then shown read-only with this fault
/// and refuses to write (409), so a hand-written value is never overwritten.
pub fn key_fault(root: &Value, key: &str) -> Option<String> {
    root.get(key).filter(|v| !v.is_object()).map(|v| {
        format!(
            "{key} is a JSON {} in the file, not an object; fix it by hand",
            type_name(v)
        )
    })
}

/// The faults of every object key a settings file's surfaces own or edit (`env`,
/// `permissions`, `hooks`), for the effective view.
pub fn faults(root: &Value) -> Vec<String> {
    ["env", "permissions", "hooks"]
        .into_iter()
        .filter_map(|key| key_fault(root, key))
        .collect()
}

fn refuse_fault(root: &Value, key: &str) -> Result<(), EditError> {
    key_fault(root, key).map_or(Ok(()), |m| Err(EditError::Conflicting(m)))
}

/// What the Settings tab shows: the keys nobody else owns, `env` values that look like
/// secrets masked, and the masked names as `env.NAME`.
pub fn settings_view(root: &Value) -> (Map<String, Value>, Vec<String>) {
    let mut masked = Vec::new();
    let mut view = Map::new();
    for (key, value) in root_map(root).into_iter().flatten() {
        if OWNED_KEYS.contains(&key.as_str()) {
            continue;
        }
        if key == "env"
            && let Some(env) = value.as_object()
        {
            let (env_view, names) = mask_strings(env);
            masked.extend(names.into_iter().map(|n| format!("env.{n}")));
            view.insert(key.clone(), Value::Object(env_view));
        } else {
            view.insert(key.clone(), value.clone());
        }
    }
    (view, masked)
}

/// Replaces the unowned keys of `root` with `incoming`: a key missing from `incoming` is
/// removed, an owned key in `incoming` is refused, and an `env` value sent back as the mask
/// keeps its stored value.
pub fn apply_settings(root: &mut Value, mut incoming: Map<String, Value>) -> Result<(), EditError> {
    let owned: Vec<&String> = incoming
        .keys()
        .filter(|k| OWNED_KEYS.contains(&k.as_str()))
        .collect();
    if !owned.is_empty() {
        return Err(invalid(format!(
            "settings may not name {owned:?}: each has its own tab (permissions, hooks, MCP)"
        )));
    }
    refuse_fault(root, "env")?;
    let map = root_map_mut(root)?;
    if let Some(env) = incoming.get_mut("env") {
        let Value::Object(env) = env else {
            return Err(invalid(format!(
                "env must be an object, not a {}",
                type_name(env)
            )));
        };
        for (name, value) in env.iter() {
            if !value.is_string() {
                return Err(invalid(format!("env.{name} must be a string")));
            }
            if name.is_empty() || name.contains(['=', '\0']) {
                return Err(invalid(format!("env name {name:?} is not a variable name")));
            }
        }
        restore_masked(env, map.get("env").and_then(Value::as_object), "env")?;
    }
    map.retain(|key, _| OWNED_KEYS.contains(&key.as_str()) || incoming.contains_key(key));
    for (key, value) in incoming {
        map.insert(key, value);
    }
    Ok(())
}

/// The `permissions` object of a file (`{}` when absent or not an object).
pub fn permissions_view(root: &Value) -> Value {
    match root.get("permissions") {
        Some(p @ Value::Object(_)) => p.clone(),
        _ => Value::Object(Map::new()),
    }
}

/// Sets the rule lists and `defaultMode` of `permissions` from `candidate`; a list or mode
/// absent from it is removed. Other keys of the stored object (`additionalDirectories`, …)
/// are kept; the candidate may repeat them unchanged, never change them.
pub fn apply_permissions(
    root: &mut Value,
    candidate: &Map<String, Value>,
) -> Result<(), EditError> {
    let stored = permissions_view(root);
    let stored = stored.as_object().cloned().unwrap_or_default();
    for (key, value) in candidate {
        if RULE_LISTS.contains(&key.as_str()) {
            check_rules(key, value)?;
        } else if key == "defaultMode" {
            check_mode(value)?;
        } else if stored.get(key) != Some(value) {
            return Err(invalid(format!(
                "permissions.{key} is not edited here; allowed keys: allow, ask, deny, defaultMode"
            )));
        }
    }
    refuse_fault(root, "permissions")?;
    let map = root_map_mut(root)?;
    let entry = map
        .entry("permissions")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(permissions) = entry else {
        unreachable!("checked above");
    };
    for key in RULE_LISTS.iter().copied().chain(["defaultMode"]) {
        match candidate.get(key) {
            Some(value) => {
                permissions.insert(key.to_owned(), value.clone());
            }
            None => {
                permissions.shift_remove(key);
            }
        }
    }
    Ok(())
}

fn check_rules(list: &str, value: &Value) -> Result<(), EditError> {
    let Some(rules) = value.as_array() else {
        return Err(invalid(format!(
            "permissions.{list} must be a list of rule strings"
        )));
    };
    for rule in rules {
        match rule.as_str() {
            Some(text) if !text.trim().is_empty() && !text.contains(['\n', '\0']) => {}
            _ => {
                return Err(invalid(format!(
                    "permissions.{list} holds {rule}: each rule is a non-empty one-line string \
                     such as \"Bash(npm test:*)\""
                )));
            }
        }
    }
    Ok(())
}

fn check_mode(value: &Value) -> Result<(), EditError> {
    match value.as_str() {
        Some("bypassPermissions") => Err(invalid(
            "permissions.defaultMode cannot be 'bypassPermissions' here: it is a launch option \
             behind its own gate",
        )),
        Some(mode) if DEFAULT_MODES.contains(&mode) => Ok(()),
        _ => Err(invalid(format!(
            "permissions.defaultMode must be one of {DEFAULT_MODES:?}, got {value}"
        ))),
    }
}

/// The `hooks` object of a file (`{}` when absent or not an object).
pub fn hooks_view(root: &Value) -> Value {
    match root.get("hooks") {
        Some(h @ Value::Object(_)) => h.clone(),
        _ => Value::Object(Map::new()),
    }
}

/// Checks a hooks block: `{Event: [{matcher?, hooks: [{type: "command", command, timeout?}]}]}`.
/// Commands are data: never parsed, resolved or run here.
pub fn check_hooks(candidate: &Map<String, Value>) -> Result<(), EditError> {
    for (event, groups) in candidate {
        if !HOOK_EVENTS.contains(&event.as_str()) {
            return Err(invalid(format!(
                "hooks.{event} is not a hook event; events: {}",
                HOOK_EVENTS.join(", ")
            )));
        }
        let Some(groups) = groups.as_array() else {
            return Err(invalid(format!(
                "hooks.{event} must be a list of matcher groups"
            )));
        };
        for (i, group) in groups.iter().enumerate() {
            let at = format!("hooks.{event}[{i}]");
            let Some(group) = group.as_object() else {
                return Err(invalid(format!("{at} must be an object")));
            };
            if let Some(matcher) = group.get("matcher")
                && !matcher.is_string()
            {
                return Err(invalid(format!("{at}.matcher must be a string")));
            }
            let Some(entries) = group.get("hooks").and_then(Value::as_array) else {
                return Err(invalid(format!("{at}.hooks must be a list of hooks")));
            };
            for (j, entry) in entries.iter().enumerate() {
                check_hook_entry(&format!("{at}.hooks[{j}]"), entry)?;
            }
        }
    }
    Ok(())
}

fn check_hook_entry(at: &str, entry: &Value) -> Result<(), EditError> {
    let Some(entry) = entry.as_object() else {
        return Err(invalid(format!("{at} must be an object")));
    };
    if entry.get("type").and_then(Value::as_str) != Some("command") {
        return Err(invalid(format!("{at}.type must be \"command\"")));
    }
    match entry.get("command").and_then(Value::as_str) {
        Some(command) if !command.trim().is_empty() => {
            if command.contains("CLAUDE_PLUGIN_ROOT") {
                return Err(invalid(format!(
                    "{at}.command refers to CLAUDE_PLUGIN_ROOT: a plugin's hooks are managed by \
                     the plugin, not here"
                )));
            }
        }
        _ => return Err(invalid(format!("{at}.command must be a non-empty string"))),
    }
    if let Some(timeout) = entry.get("timeout")
        && !timeout.as_f64().is_some_and(|t| t > 0.0)
    {
        return Err(invalid(format!(
            "{at}.timeout must be a number of seconds above 0"
        )));
    }
    Ok(())
}

/// Replaces the `hooks` key with `candidate` (removed when empty); the rest stays.
pub fn apply_hooks(root: &mut Value, candidate: Map<String, Value>) -> Result<(), EditError> {
    check_hooks(&candidate)?;
    refuse_fault(root, "hooks")?;
    let map = root_map_mut(root)?;
    if candidate.is_empty() {
        map.shift_remove("hooks");
    } else {
        map.insert("hooks".to_owned(), Value::Object(candidate));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude_json::{parse_config_text, to_config_text};

    const FILE: &str = r#"{
  "model": "opus",
  "env": {"ANTHROPIC_API_KEY": "sk-ant-real", "NODE_ENV": "dev"},
  "permissions": {"allow": ["Bash(ls)"], "additionalDirectories": ["../x"]},
  "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "echo bye"}]}]},
  "zzUnknown": {"kept": [1, 2.50]},
  "enabledPlugins": {"a@b": true}
}"#;

    fn edit(f: impl FnOnce(&mut Value) -> Result<(), EditError>) -> String {
        let mut root = parse_config_text(FILE).unwrap();
        match f(&mut root) {
            Ok(()) => to_config_text(&root),
            Err(e) => format!("refused: {e}"),
        }
    }

    fn obj(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn the_settings_view_hides_owned_keys_and_masks_secrets() {
        let (view, masked) = settings_view(&parse_config_text(FILE).unwrap());
        insta::assert_snapshot!(format!("{}\n{masked:?}", Value::Object(view)));
    }

    #[test]
    fn a_settings_edit_keeps_owned_and_secret_values() {
        let (mut view, _) = settings_view(&parse_config_text(FILE).unwrap());
        view.insert("model".into(), "sonnet".into());
        view["env"]["DEBUG"] = "1".into();
        view.shift_remove("zzUnknown");
        insta::assert_snapshot!(edit(|root| apply_settings(root, view)));
        insta::assert_snapshot!(
            "settings_refusals",
            [
                edit(|r| apply_settings(r, obj(r#"{"hooks": {}}"#))),
                edit(|r| apply_settings(r, obj(r#"{"env": {"A": 1}}"#))),
                edit(|r| apply_settings(r, obj(r#"{"env": []}"#))),
                edit(|r| apply_settings(r, obj(r#"{"env": {"NEW": "********"}}"#))),
            ]
            .join("\n")
        );
    }

    #[test]
    fn a_permissions_edit_keeps_the_keys_it_does_not_edit() {
        insta::assert_snapshot!(edit(|root| apply_permissions(
            root,
            &obj(
                r#"{"allow": ["Bash(ls)", "Read"], "deny": ["Bash(rm:*)"], "defaultMode": "plan", "additionalDirectories": ["../x"]}"#
            )
        )));
        insta::assert_snapshot!(
            "permissions_refusals",
            [
                edit(|r| apply_permissions(r, &obj(r#"{"allow": "Read"}"#))),
                edit(|r| apply_permissions(r, &obj(r#"{"allow": [""]}"#))),
                edit(|r| apply_permissions(r, &obj(r#"{"defaultMode": "bypassPermissions"}"#))),
                edit(|r| apply_permissions(r, &obj(r#"{"defaultMode": "yolo"}"#))),
                edit(|r| apply_permissions(r, &obj(r#"{"additionalDirectories": ["/"]}"#))),
            ]
            .join("\n")
        );
    }

    #[test]
    fn a_hooks_edit_is_checked_and_keeps_the_rest() {
        insta::assert_snapshot!(edit(|root| apply_hooks(
            root,
            obj(
                r#"{"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./check.sh", "timeout": 30}]}]}"#
            )
        )));
        insta::assert_snapshot!(
            "hooks_refusals",
            [
                edit(|r| apply_hooks(r, obj(r#"{"OnBoot": []}"#))),
                edit(|r| apply_hooks(r, obj(r#"{"Stop": {}}"#))),
                edit(|r| apply_hooks(r, obj(r#"{"Stop": [{"matcher": 1, "hooks": []}]}"#))),
                edit(|r| apply_hooks(r, obj(r#"{"Stop": [{"hooks": [{"type": "http", "command": "x"}]}]}"#))),
                edit(|r| apply_hooks(r, obj(r#"{"Stop": [{"hooks": [{"type": "command", "command": " "}]}]}"#))),
                edit(|r| apply_hooks(r, obj(r#"{"Stop": [{"hooks": [{"type": "command", "command": "${CLAUDE_PLUGIN_ROOT}/x"}]}]}"#))),
                edit(|r| apply_hooks(r, obj(r#"{"Stop": [{"hooks": [{"type": "command", "command": "x", "timeout": 0}]}]}"#))),
            ]
            .join("\n")
        );
        assert!(!edit(|root| apply_hooks(root, Map::new())).contains("\"hooks\""));
    }

    #[test]
    fn a_file_that_is_not_an_object_is_never_edited() {
        let mut root = Value::Array(vec![]);
        let err = apply_hooks(&mut root, Map::new()).unwrap_err();
        assert!(matches!(err, EditError::Conflicting(_)), "{err:?}");
        let mut root = parse_config_text(r#"{"permissions": "all"}"#).unwrap();
        let err = apply_permissions(&mut root, &Map::new()).unwrap_err();
        assert!(matches!(err, EditError::Conflicting(_)), "{err:?}");
    }

    #[test]
    fn a_surface_key_of_the_wrong_type_is_a_fault_and_never_overwritten() {
        let text = r#"{"hooks": [1, 2], "env": "notobj", "model": "opus"}"#;
        let root = parse_config_text(text).unwrap();
        assert_eq!(
            faults(&root),
            [
                "env is a JSON string in the file, not an object; fix it by hand",
                "hooks is a JSON array in the file, not an object; fix it by hand",
            ]
        );
        let mut edited = root.clone();
        let err = apply_hooks(&mut edited, Map::new()).unwrap_err();
        assert!(matches!(err, EditError::Conflicting(_)), "{err:?}");
        let err = apply_settings(&mut edited, obj(r#"{"model": "sonnet"}"#)).unwrap_err();
        assert!(matches!(err, EditError::Conflicting(_)), "{err:?}");
        assert_eq!(edited, root);
    }
}
