//! The effective view (config-write.md §7): what a new session in a project sees once the
//! scopes are merged, each value with the scope it comes from. Precedence: Local over
//! Project over User. `env` merges per variable, permission rules and hooks add up, any
//! other key is taken whole from the highest scope that sets it, MCP servers merge by name.
//! Callers hand in the already-masked views, so nothing here can reveal a secret.

use serde_json::{Map, Value, json};

use super::Scope;
use super::mcp::{Approvals, approval_of};
use super::settings::{OWNED_KEYS, RULE_LISTS};

/// One scope's inputs: its settings file (masked view of the whole file) and MCP servers
/// (masked). `None` for a scope that was not read (the User scope without its opt-in).
#[derive(Clone, Debug, Default)]
pub struct Layer {
    pub settings: Map<String, Value>,
    pub mcp_servers: Map<String, Value>,
    /// Why a file of this scope could not be used (its parse error): the scope then adds
    /// nothing, and the view says so instead of showing it as empty.
    pub errors: Vec<String>,
}

/// The three scopes, lowest precedence first.
pub struct Layers<'a> {
    pub user: Option<&'a Layer>,
    pub project: &'a Layer,
    pub local: &'a Layer,
    /// The project's `.mcp.json` decisions, for the approval of Project servers.
    pub approvals: &'a Approvals,
}

impl Layers<'_> {
    fn in_order(&self) -> Vec<(Scope, &Layer)> {
        let mut out = Vec::new();
        if let Some(user) = self.user {
            out.push((Scope::User, user));
        }
        out.push((Scope::Project, self.project));
        out.push((Scope::Local, self.local));
        out
    }
}

/// The merged view as JSON: `effective` (1.3.2's `{key: {value, source}}` over every key no
/// dedicated surface owns, `env` whole from the highest scope setting it), `settings` (the
/// same without `env`), `env` (`{VAR: {value, source}}`, merged per variable),
/// `permissions` (`{allow|ask|deny: [{rule, source}], defaultMode}`), `hooks` (`[{event,
/// matcher, command, source}]`), `mcp_servers` (`[{name, source, type, approval?}]`),
/// `scopes` (those read) and `errors` (`[{scope, error}]`, the files that could not be used).
pub fn merge(layers: &Layers<'_>) -> Value {
    let ordered = layers.in_order();
    let mut settings = Map::new();
    let mut whole_env = None;
    let mut env = Map::new();
    let mut rules: Map<String, Value> = RULE_LISTS
        .iter()
        .map(|l| ((*l).to_owned(), Value::Array(Vec::new())))
        .collect();
    let mut default_mode = Value::Null;
    let mut hooks = Vec::new();
    let mut servers = Map::new();
    for (scope, layer) in &ordered {
        let source = scope.as_str();
        for (key, value) in &layer.settings {
            if key == "env" {
                whole_env = Some(json!({"value": value, "source": source}));
                for (var, v) in value.as_object().into_iter().flatten() {
                    env.insert(var.clone(), json!({"value": v, "source": source}));
                }
            } else if key == "permissions" {
                merge_permissions(value, source, &mut rules, &mut default_mode);
            } else if key == "hooks" {
                collect_hooks(value, source, &mut hooks);
            } else if !OWNED_KEYS.contains(&key.as_str()) {
                settings.insert(key.clone(), json!({"value": value, "source": source}));
            }
        }
        for (name, entry) in &layer.mcp_servers {
            let kind = entry
                .get("type")
                .or_else(|| entry.get("transport"))
                .and_then(Value::as_str)
                .unwrap_or("stdio");
            let mut server = json!({"name": name, "source": source, "type": kind});
            if *scope == Scope::Project {
                server["approval"] = Value::from(approval_of(layers.approvals, name));
            }
            // A higher scope's server of the same name replaces the lower one in place.
            servers.insert(name.clone(), server);
        }
    }
    let mut permissions = rules;
    permissions.insert("defaultMode".to_owned(), default_mode);
    let errors: Vec<Value> = ordered
        .iter()
        .flat_map(|(scope, layer)| {
            layer
                .errors
                .iter()
                .map(|e| json!({"scope": scope.as_str(), "error": e}))
        })
        .collect();
    let mut effective = settings.clone();
    if let Some(env) = whole_env {
        effective.insert("env".to_owned(), env);
    }
    json!({
        "scopes": ordered.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        "errors": errors,
        "effective": sorted(effective),
        "settings": sorted(settings),
        "env": sorted(env),
        "permissions": permissions,
        "hooks": hooks,
        "mcp_servers": servers.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    })
}

fn sorted(map: Map<String, Value>) -> Value {
    let mut entries: Vec<_> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Object(entries.into_iter().collect())
}

fn merge_permissions(
    value: &Value,
    source: &str,
    rules: &mut Map<String, Value>,
    default_mode: &mut Value,
) {
    for list in RULE_LISTS {
        for rule in value
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(text), Some(Value::Array(out))) = (rule.as_str(), rules.get_mut(list)) {
                out.push(json!({"rule": text, "source": source}));
            }
        }
    }
    if let Some(mode) = value.get("defaultMode").and_then(Value::as_str) {
        *default_mode = json!({"value": mode, "source": source});
    }
}

fn collect_hooks(value: &Value, source: &str, out: &mut Vec<Value>) {
    for (event, groups) in value.as_object().into_iter().flatten() {
        for group in groups.as_array().into_iter().flatten() {
            let matcher = group.get("matcher").and_then(Value::as_str).unwrap_or("");
            for hook in group
                .get("hooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(command) = hook.get("command").and_then(Value::as_str) {
                    out.push(json!({
                        "event": event, "matcher": matcher, "command": command, "source": source,
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(settings: &str, servers: &str) -> Layer {
        Layer {
            settings: serde_json::from_str(settings).unwrap(),
            mcp_servers: serde_json::from_str(servers).unwrap(),
            errors: Vec::new(),
        }
    }

    #[test]
    fn local_over_project_over_user_with_provenance() {
        let user = layer(
            r#"{"model": "opus", "env": {"A": "u", "B": "u"}, "permissions": {"allow": ["Read"], "defaultMode": "default"},
                "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify"}]}]}}"#,
            r#"{"gh": {"type": "http", "url": "https://x"}, "db": {"command": "a"}}"#,
        );
        let project = layer(
            r#"{"model": "sonnet", "env": {"B": "p"}, "permissions": {"deny": ["Bash(rm:*)"]},
                "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./check"}]}]}}"#,
            r#"{"db": {"command": "b"}, "fs": {"command": "c"}}"#,
        );
        let local = layer(
            r#"{"env": {"C": "l"}, "permissions": {"defaultMode": "plan", "allow": ["Bash(ls)"]}, "outputStyle": "x"}"#,
            "{}",
        );
        let broken = Layer {
            errors: vec!["settings.local.json is not valid JSON".into()],
            ..Layer::default()
        };
        let approvals = Approvals {
            enabled: vec!["db".into()],
            ..Approvals::default()
        };
        let merged = merge(&Layers {
            user: Some(&user),
            project: &project,
            local: &local,
            approvals: &approvals,
        });
        insta::assert_json_snapshot!(merged);
        let without_user = merge(&Layers {
            user: None,
            project: &project,
            local: &local,
            approvals: &approvals,
        });
        assert_eq!(without_user["scopes"], json!(["project", "local"]));
        assert_eq!(without_user["settings"]["model"]["source"], "project");
        // A scope whose file is malformed adds nothing and is named with its error.
        let marked = merge(&Layers {
            user: None,
            project: &project,
            local: &broken,
            approvals: &approvals,
        });
        assert_eq!(
            marked["errors"],
            json!([{"scope": "local", "error": "settings.local.json is not valid JSON"}])
        );
        assert_eq!(
            marked["effective"]["env"],
            json!({"value": {"B": "p"}, "source": "project"})
        );
    }
}
