//! The JSON surfaces (config-write.md §5–§7): settings and env, permission rules, hooks, MCP
//! servers and their approvals, and the effective view. Each handler is the shared skeleton
//! of `common` (`Route::read`, `Route::write`) with its own checks and file work.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use clauster_core::claude_config::effective::{self, Layer, Layers};
use clauster_core::claude_config::mcp::{self, ServerOp};
use clauster_core::claude_config::{EditError, Scope, secrets, settings};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::common::{
    Place, Route, Write, audit, edit_error, hash_of, head, object_field, read_json, write_json,
    write_json_then,
};
use crate::error::ApiError;
use crate::state::AppState;

const ALL: &[Scope] = &[Scope::User, Scope::Project, Scope::Local];
const PROJECT: &[Scope] = &[Scope::Project];

/// What the Local scope's settings writes add to the project's `.gitignore` first: the file
/// and the one `.bak` the write transaction keeps (bridges.md §12.4), as 1.3.2.
const LOCAL_SETTINGS_IGNORED: &[&str] = &[
    ".claude/settings.local.json",
    ".claude/settings.local.json.bak",
];

#[derive(Debug, Deserialize)]
pub struct ReadQuery {
    pub scope: Option<String>,
    pub project: Option<String>,
}

impl ReadQuery {
    fn pair(&self) -> (Option<&str>, Option<&str>) {
        (self.scope.as_deref(), self.project.as_deref())
    }
}

pub async fn status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    super::common::capability(&state, Scope::Project)?;
    let settings = &state.config().config_write;
    Ok(Json(json!({
        "enabled": settings.enabled,
        "allow_user_scope": settings.allow_user_scope,
    })))
}

/// Which settings-file surface a handler serves.
#[derive(Clone, Copy)]
pub enum Surface {
    Settings,
    Permissions,
    Hooks,
}

impl Surface {
    fn key(self) -> &'static str {
        match self {
            Self::Settings => "settings",
            Self::Permissions => "permissions",
            Self::Hooks => "hooks",
        }
    }
}

/// `GET settings|permissions|hooks?scope=&project=`.
pub async fn settings_surface_read(
    state: AppState,
    query: ReadQuery,
    surface: Surface,
) -> Result<Json<Value>, ApiError> {
    Route::new(&state, ALL, "reading settings")
        .read(query.pair(), move |place| {
            let file = read_json(&place.settings_file()?)?;
            let mut out = head(place);
            match surface {
                Surface::Settings => {
                    let (view, masked) = settings::settings_view(&file.value);
                    out.insert("settings".into(), Value::Object(view));
                    insert_masked(&mut out, masked);
                }
                Surface::Permissions => {
                    let view = settings::permissions_view(&file.value);
                    out.insert("permissions".into(), view);
                }
                Surface::Hooks => {
                    out.insert("hooks".into(), settings::hooks_view(&file.value));
                }
            }
            file.annotate(&mut out);
            // A key this surface owns of the wrong type: shown read-only with the fault,
            // as the write would refuse it (config-write.md §5).
            let owned = match surface {
                Surface::Settings => "env",
                Surface::Permissions => "permissions",
                Surface::Hooks => "hooks",
            };
            if file.error.is_none()
                && let Some(fault) = settings::key_fault(&file.value, owned)
            {
                out.insert("error".into(), fault.into());
                out.insert("read_only".into(), Value::Bool(true));
            }
            Ok(Value::Object(out))
        })
        .await
}

/// `masked` lists the masked places; left out when nothing is masked, so an answer with no
/// secret is exactly 1.3.2's (the dashboard also knows a masked value by the mask itself).
fn insert_masked(out: &mut Map<String, Value>, masked: Vec<String>) {
    if !masked.is_empty() {
        out.insert("masked".into(), Value::from(masked));
    }
}

/// `PUT settings|permissions|hooks {scope, project, confirm, <surface>, hash?}`.
pub async fn settings_surface_write(
    write: Write,
    surface: Surface,
) -> Result<Json<Value>, ApiError> {
    let check =
        |body: &Map<String, Value>| Ok((object_field(body, surface.key())?, hash_of(body)?));
    let what = (ALL, "writing settings");
    write
        .run(what, check, move |place, (payload, expected), actor| {
            let path = place.settings_file()?;
            let keys: Vec<String> = payload.keys().cloned().collect();
            let edit = |root: &mut Value| match surface {
                Surface::Settings => settings::apply_settings(root, payload.clone()),
                Surface::Permissions => settings::apply_permissions(root, &payload),
                Surface::Hooks => settings::apply_hooks(root, payload.clone()),
            };
            let hash = if place.scope == Scope::Local {
                let ignore = || place.ensure_gitignored(LOCAL_SETTINGS_IGNORED);
                write_json_then(place, &path, expected.as_deref(), edit, ignore)?
            } else {
                write_json(place, &path, expected.as_deref(), edit)?
            };
            audit(place, actor, surface.key(), &path, "update", &keys);
            let mut out = head(place);
            out.insert("ok".into(), Value::Bool(true));
            out.insert("hash".into(), hash.into());
            Ok(Value::Object(out))
        })
        .await
}

/// `POST settings/reveal {scope, project, confirm, key}`: one masked `env` value, in clear —
/// the explicit action of config-write.md §4 (step-up, confirm, audit-logged).
pub async fn settings_reveal(write: Write) -> Result<Json<Value>, ApiError> {
    let check = |body: &Map<String, Value>| match body.get("key").and_then(Value::as_str) {
        Some(key) => Ok(key.to_owned()),
        None => Err(ApiError::invalid(
            "body must include a 'key' string (an env variable name)",
            Some("key"),
        )),
    };
    write
        .run((ALL, "reading settings"), check, |place, key, actor| {
            let path = place.settings_file()?;
            let file = read_json(&path)?;
            let Some(value) = file.value.get("env").and_then(|e| e.get(&key)).cloned() else {
                return Err(ApiError::not_found(format!(
                    "env.{key} is not set in this scope"
                )));
            };
            let keys = [format!("env.{key}")];
            audit(place, actor, "settings", &path, "reveal", &keys);
            let mut out = head(place);
            out.insert("key".into(), key.into());
            out.insert("value".into(), value);
            Ok(Value::Object(out))
        })
        .await
}

#[derive(Debug, Deserialize)]
pub struct ProjectQuery {
    pub project: Option<String>,
}

/// `GET settings/effective?project=`: the scopes merged (config-write.md §7).
pub async fn effective(
    State(state): State<AppState>,
    Query(query): Query<ProjectQuery>,
) -> Result<Json<Value>, ApiError> {
    let with_user = state.config().config_write.allow_user_scope;
    Route::new(&state, ALL, "merging the scopes")
        .read((None, query.project.as_deref()), move |project_place| {
            let scoped = |scope: Scope| Place {
                scope,
                ..project_place.clone()
            };
            let user = with_user.then(|| layer(&scoped(Scope::User))).transpose()?;
            let project = layer(project_place)?;
            let local = layer(&scoped(Scope::Local))?;
            let global = read_json(&project_place.global)?;
            let approvals = mcp::approvals(&global.value, &project_place.project_key());
            let merged = effective::merge(&Layers {
                user: user.as_ref(),
                project: &project,
                local: &local,
                approvals: &approvals,
            });
            let mut out = Map::new();
            out.insert("project".into(), project_place.project_name().into());
            if let Value::Object(rest) = merged {
                out.extend(rest);
            }
            Ok(Value::Object(out))
        })
        .await
}

/// One scope's masked settings file and MCP servers, and the parse errors of those that
/// could not be used (they then add nothing).
fn layer(place: &Place) -> Result<Layer, ApiError> {
    let file = read_json(&place.settings_file()?)?;
    let mut settings_view = file.value.as_object().cloned().unwrap_or_default();
    if let Some(Value::Object(env)) = settings_view.get("env") {
        let (masked, _) = secrets::mask_strings(env);
        settings_view.insert("env".into(), Value::Object(masked));
    }
    let mut servers = read_servers(place)?;
    // A server that is not an object is named in `errors`, never listed as a server.
    servers.servers.retain(|_, entry| entry.is_object());
    let (mcp_servers, _) = mcp::servers_view(&servers.servers);
    Ok(Layer {
        settings: settings_view,
        mcp_servers,
        errors: file
            .error
            .into_iter()
            .chain(settings::faults(&file.value))
            .chain(servers.error)
            .collect(),
    })
}

/// The servers of a scope as read.
struct ScopeServers {
    servers: Map<String, Value>,
    /// The file's hash; `None` for `~/.claude.json`, whose edits are per server under the
    /// engine's lock (as 1.3.2).
    hash: Option<String>,
    /// The parse error of a malformed file, or the fault of a server map of the wrong type
    /// (then shown read-only: every write to it is refused).
    error: Option<String>,
}

fn read_servers(place: &Place) -> Result<ScopeServers, ApiError> {
    let (path, key) = servers_file(place)?;
    let file = read_json(&path)?;
    let fault = mcp::servers_fault(&file.value, key.as_deref());
    Ok(ScopeServers {
        servers: mcp::servers_at(&file.value, key.as_deref()),
        hash: (place.scope == Scope::Project).then_some(file.hash),
        error: file.error.or(fault),
    })
}

/// Where a scope's server map is: `.mcp.json` (Project) or `G` (User; Local under
/// `G.projects[<p>]`, the key returned).
fn servers_file(place: &Place) -> Result<(std::path::PathBuf, Option<String>), ApiError> {
    Ok(match place.scope {
        Scope::Project => (place.in_project(".mcp.json")?, None),
        Scope::User => (place.global.clone(), None),
        Scope::Local => (place.global.clone(), Some(place.project_key())),
    })
}

pub async fn mcp_read(
    State(state): State<AppState>,
    Query(query): Query<ReadQuery>,
) -> Result<Json<Value>, ApiError> {
    Route::new(&state, ALL, "reading MCP servers")
        .read(query.pair(), |place| {
            let ScopeServers {
                servers,
                hash,
                error,
            } = read_servers(place)?;
            let (view, masked) = mcp::servers_view(&servers);
            let mut out = head(place);
            out.insert("servers".into(), Value::Object(view));
            insert_masked(&mut out, masked);
            out.insert("hash".into(), json!(hash));
            if let Some(error) = error {
                out.insert("error".into(), error.into());
                out.insert("read_only".into(), Value::Bool(true));
            }
            Ok(Value::Object(out))
        })
        .await
}

/// `PUT mcp {scope, project, confirm, servers, hash}`: the whole map.
pub async fn mcp_write(write: Write) -> Result<Json<Value>, ApiError> {
    let check = |body: &Map<String, Value>| Ok((object_field(body, "servers")?, hash_of(body)?));
    let what = (ALL, "writing MCP servers");
    write
        .run(what, check, |place, (servers, expected), actor| {
            let (path, key) = servers_file(place)?;
            // `~/.claude.json` is shared with claude: no whole-file hash, as 1.3.2.
            let project = place.scope == Scope::Project;
            let expected = expected.filter(|_| project);
            let names: Vec<String> = servers.keys().cloned().collect();
            let hash = write_json(place, &path, expected.as_deref(), |root| {
                mcp::replace_servers(root, key.as_deref(), servers.clone())
            })?;
            audit(place, actor, "mcp", &path, "update", &names);
            let mut out = head(place);
            out.insert("ok".into(), Value::Bool(true));
            if project {
                out.insert("hash".into(), hash.into());
            }
            Ok(Value::Object(out))
        })
        .await
}

/// The checked body of a one-server edit.
struct ServerEdit {
    op: ServerOp,
    name: String,
    entry: Option<Value>,
}

fn server_edit(body: &Map<String, Value>) -> Result<ServerEdit, ApiError> {
    let op = match body.get("op").and_then(Value::as_str) {
        Some("add") => ServerOp::Add,
        Some("edit") => ServerOp::Edit,
        Some("remove") => ServerOp::Remove,
        _ => {
            return Err(ApiError::invalid(
                "op must be 'add', 'remove', or 'edit'",
                Some("op"),
            ));
        }
    };
    let Some(name) = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
    else {
        return Err(ApiError::invalid(
            "body must include a non-empty 'name' string",
            Some("name"),
        ));
    };
    let entry = match (op, body.get("entry")) {
        (ServerOp::Remove, _) => None,
        (_, Some(entry @ Value::Object(_))) => Some(entry.clone()),
        _ => {
            return Err(ApiError::invalid(
                "body must include an 'entry' object for add/edit",
                Some("entry"),
            ));
        }
    };
    if let Some(entry) = &entry {
        mcp::check_server(&name, entry).map_err(edit_error)?;
    }
    Ok(ServerEdit { op, name, entry })
}

/// `POST mcp/server {scope, project, confirm, op, name, entry}`: one server.
pub async fn mcp_server(write: Write) -> Result<Json<Value>, ApiError> {
    let what = (ALL, "writing an MCP server");
    write
        .run(what, server_edit, |place, edit, actor| {
            let ServerEdit { op, name, entry } = edit;
            let (path, key) = servers_file(place)?;
            let mut op_error = None;
            let result = write_json(place, &path, None, |root| {
                // `.mcp.json` and `G` keep `mcpServers` at the top; Local under `G.projects`.
                match mcp::apply_server_op(root, key.as_deref(), op, &name, entry.clone()) {
                    Ok(()) => Ok(()),
                    Err(mcp::OpError::Edit(e)) => Err(e),
                    Err(other) => {
                        op_error = Some(other);
                        Err(EditError::Invalid(String::new()))
                    }
                }
            });
            if let Some(err) = op_error {
                let status = match err {
                    mcp::OpError::Exists(_) => StatusCode::CONFLICT,
                    _ => StatusCode::NOT_FOUND,
                };
                return Err(ApiError::new(status, err.to_string()));
            }
            result?;
            let action = match op {
                ServerOp::Add => "add",
                ServerOp::Edit => "edit",
                ServerOp::Remove => "remove",
            };
            audit(
                place,
                actor,
                "mcp",
                &path,
                action,
                std::slice::from_ref(&name),
            );
            let mut out = head(place);
            out.insert("name".into(), name.into());
            out.insert("op".into(), action.into());
            out.insert("ok".into(), Value::Bool(true));
            Ok(Value::Object(out))
        })
        .await
}

/// `GET mcp/approvals?project=`: the project's `.mcp.json` decisions.
pub async fn approvals_read(
    State(state): State<AppState>,
    Query(query): Query<ProjectQuery>,
) -> Result<Json<Value>, ApiError> {
    Route::new(&state, ALL, "reading MCP approvals")
        .read((None, query.project.as_deref()), |place| {
            let global = read_json(&place.global)?;
            let approvals = mcp::approvals(&global.value, &place.project_key());
            let mcp_json = read_json(&place.in_project(".mcp.json")?)?;
            // With `~/.claude.json` unreadable the decisions are unknown, not `pending`.
            let approval = |n: &str| match global.error {
                Some(_) => "unknown",
                None => mcp::approval_of(&approvals, n),
            };
            let servers: Vec<Value> = mcp::servers_of(&mcp_json.value)
                .keys()
                .map(|n| json!({"name": n, "approval": approval(n)}))
                .collect();
            let mut out = json!({
                "project": place.project_name(),
                "enabled": approvals.enabled,
                "disabled": approvals.disabled,
                "enable_all": approvals.enable_all,
                "servers": servers,
            });
            if let Some(error) = global.error {
                out["error"] = error.into();
                out["read_only"] = Value::Bool(true);
            }
            Ok(out)
        })
        .await
}

fn string_list(body: &Map<String, Value>, key: &str) -> Option<Vec<String>> {
    body.get(key)?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// `PUT mcp/approvals {project, confirm, enabled, disabled}`.
pub async fn approvals_write(write: Write) -> Result<Json<Value>, ApiError> {
    let check = |body: &Map<String, Value>| match (
        string_list(body, "enabled"),
        string_list(body, "disabled"),
    ) {
        (Some(enabled), Some(disabled)) => Ok((enabled, disabled)),
        _ => Err(ApiError::invalid(
            "body must include 'enabled' and 'disabled' lists of server names",
            None,
        )),
    };
    let what = (PROJECT, "writing MCP approvals");
    write
        .run_on_global(what, check, |place, (enabled, disabled), actor| {
            let key = place.project_key();
            write_json(place, &place.global, None, |g| {
                mcp::set_approvals(g, &key, &enabled, &disabled)
            })?;
            let names: Vec<String> = enabled.iter().chain(&disabled).cloned().collect();
            audit(
                place,
                actor,
                "mcp-approvals",
                &place.global,
                "update",
                &names,
            );
            Ok(json!({"project": place.project_name(), "ok": true}))
        })
        .await
}

/// `POST mcp/reset-project-choices {project, confirm}`.
pub async fn reset_choices(write: Write) -> Result<Json<Value>, ApiError> {
    let what = (PROJECT, "resetting MCP approvals");
    write
        .run_on_global(
            what,
            |_| Ok(()),
            |place, (), actor| {
                let key = place.project_key();
                write_json(place, &place.global, None, |g| mcp::reset_choices(g, &key))?;
                audit(place, actor, "mcp-approvals", &place.global, "reset", &[]);
                Ok(json!({"project": place.project_name(), "ok": true}))
            },
        )
        .await
}
