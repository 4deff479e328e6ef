//! The JSON surfaces (config-write.md §5–§7): settings and env, permission rules, hooks, MCP
//! servers and their approvals, and the effective view.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{Extensions, StatusCode};
use clauster_core::claude_config::effective::{self, Layer, Layers};
use clauster_core::claude_config::mcp::{self, ServerOp};
use clauster_core::claude_config::{Scope, secrets, settings};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::common::{
    Place, audit, blocking, body_object, edit_error, hash_of, object_field, read_gate, read_json,
    write_gate, write_json,
};
use crate::control::ViaControlSocket;
use crate::error::ApiError;
use crate::state::AppState;

const ALL: &[Scope] = &[Scope::User, Scope::Project, Scope::Local];

type Socket = Option<Extension<ViaControlSocket>>;

#[derive(Debug, Deserialize)]
pub struct ReadQuery {
    pub scope: Option<String>,
    pub project: Option<String>,
}

pub async fn status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    super::common::capability(&state, Scope::Project)?;
    let settings = &state.config().config_write;
    Ok(Json(json!({
        "enabled": settings.enabled,
        "allow_user_scope": settings.allow_user_scope,
    })))
}

/// The start of every answer: the scope, and the project for the project scopes.
fn head(place: &Place) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("scope".into(), place.scope.as_str().into());
    if let Some(name) = place.project_name() {
        out.insert("project".into(), name.into());
    }
    out
}

/// Which settings-file surface a handler serves.
#[derive(Clone, Copy)]
enum Surface {
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

async fn read_settings_surface(
    state: AppState,
    query: ReadQuery,
    surface: Surface,
) -> Result<Json<Value>, ApiError> {
    let scope = read_gate(&state, query.scope.as_deref(), ALL)?;
    let place = Place::new(&state, scope, query.project.as_deref()).await?;
    let out = blocking("reading settings", move || {
        let file = read_json(&place.settings_file()?)?;
        let mut out = head(&place);
        match surface {
            Surface::Settings => {
                let (view, masked) = settings::settings_view(&file.value);
                out.insert("settings".into(), Value::Object(view));
                out.insert("masked".into(), json!(masked));
            }
            Surface::Permissions => {
                out.insert(
                    "permissions".into(),
                    settings::permissions_view(&file.value),
                );
            }
            Surface::Hooks => {
                out.insert("hooks".into(), settings::hooks_view(&file.value));
            }
        }
        file.annotate(&mut out);
        Ok(Value::Object(out))
    })
    .await?;
    Ok(Json(out))
}

async fn write_settings_surface(
    state: AppState,
    extensions: &Extensions,
    socket: bool,
    body: Result<Bytes, BytesRejection>,
    surface: Surface,
) -> Result<Json<Value>, ApiError> {
    let body = body_object(body)?;
    let (scope, project) = write_gate(&state, extensions, &body, ALL)?;
    let payload = object_field(&body, surface.key())?;
    let expected = hash_of(&body)?;
    let place = Place::new(&state, scope, project.as_deref()).await?;
    let actor = crate::claude_md::actor(socket);
    let out = blocking("writing settings", move || {
        place.require_trusted()?;
        let path = place.settings_file()?;
        let keys: Vec<String> = payload.keys().cloned().collect();
        let hash = write_json(&place, &path, expected.as_deref(), |root| match surface {
            Surface::Settings => settings::apply_settings(root, payload.clone()),
            Surface::Permissions => settings::apply_permissions(root, &payload),
            Surface::Hooks => settings::apply_hooks(root, payload.clone()),
        })?;
        audit(&place, actor, surface.key(), &path, "update", &keys);
        let mut out = head(&place);
        out.insert("ok".into(), Value::Bool(true));
        out.insert("hash".into(), hash.into());
        Ok(Value::Object(out))
    })
    .await?;
    Ok(Json(out))
}

pub async fn settings_read(
    State(state): State<AppState>,
    Query(query): Query<ReadQuery>,
) -> Result<Json<Value>, ApiError> {
    read_settings_surface(state, query, Surface::Settings).await
}

pub async fn settings_write(
    State(state): State<AppState>,
    socket: Socket,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    write_settings_surface(
        state,
        &extensions,
        socket.is_some(),
        body,
        Surface::Settings,
    )
    .await
}

pub async fn permissions_read(
    State(state): State<AppState>,
    Query(query): Query<ReadQuery>,
) -> Result<Json<Value>, ApiError> {
    read_settings_surface(state, query, Surface::Permissions).await
}

pub async fn permissions_write(
    State(state): State<AppState>,
    socket: Socket,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    write_settings_surface(
        state,
        &extensions,
        socket.is_some(),
        body,
        Surface::Permissions,
    )
    .await
}

pub async fn hooks_read(
    State(state): State<AppState>,
    Query(query): Query<ReadQuery>,
) -> Result<Json<Value>, ApiError> {
    read_settings_surface(state, query, Surface::Hooks).await
}

pub async fn hooks_write(
    State(state): State<AppState>,
    socket: Socket,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    write_settings_surface(state, &extensions, socket.is_some(), body, Surface::Hooks).await
}

/// `POST settings/reveal {scope, project, confirm, key}`: one masked `env` value, in clear —
/// the explicit action of config-write.md §4 (step-up, confirm, audit-logged).
pub async fn settings_reveal(
    State(state): State<AppState>,
    socket: Socket,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body_object(body)?;
    let (scope, project) = write_gate(&state, &extensions, &body, ALL)?;
    let Some(key) = body.get("key").and_then(Value::as_str).map(str::to_owned) else {
        return Err(ApiError::invalid(
            "body must include a 'key' string (an env variable name)",
            Some("key"),
        ));
    };
    let place = Place::new(&state, scope, project.as_deref()).await?;
    let actor = crate::claude_md::actor(socket.is_some());
    let out = blocking("reading settings", move || {
        let path = place.settings_file()?;
        let file = read_json(&path)?;
        let Some(value) = file.value.get("env").and_then(|e| e.get(&key)).cloned() else {
            return Err(ApiError::not_found(format!(
                "env.{key} is not set in this scope"
            )));
        };
        audit(
            &place,
            actor,
            "settings",
            &path,
            "reveal",
            &[format!("env.{key}")],
        );
        let mut out = head(&place);
        out.insert("key".into(), key.into());
        out.insert("value".into(), value);
        Ok(Value::Object(out))
    })
    .await?;
    Ok(Json(out))
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
    read_gate(&state, None, ALL)?;
    let with_user = state.config().config_write.allow_user_scope;
    let project_place = Place::new(&state, Scope::Project, query.project.as_deref()).await?;
    let out = blocking("merging the scopes", move || {
        let scoped = |scope: Scope| Place {
            scope,
            ..project_place.clone()
        };
        let user = with_user.then(|| layer(&scoped(Scope::User))).transpose()?;
        let project = layer(&project_place)?;
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
        // 1.3.2's shape first: `{key: {value, source}}` for the settings keys.
        out.insert("effective".into(), merged["settings"].clone());
        if let Value::Object(rest) = merged {
            out.extend(rest);
        }
        Ok(Value::Object(out))
    })
    .await?;
    Ok(Json(out))
}

/// One scope's masked settings file and MCP servers.
fn layer(place: &Place) -> Result<Layer, ApiError> {
    let file = read_json(&place.settings_file()?)?;
    let mut settings_view = file.value.as_object().cloned().unwrap_or_default();
    if let Some(Value::Object(env)) = settings_view.get("env") {
        let (masked, _) = secrets::mask_strings(env);
        settings_view.insert("env".into(), Value::Object(masked));
    }
    let (mcp_servers, _) = mcp::servers_view(&read_servers(place)?.servers);
    Ok(Layer {
        settings: settings_view,
        mcp_servers,
    })
}

/// The servers of a scope as read.
struct ScopeServers {
    servers: Map<String, Value>,
    /// The file's hash; `None` for `~/.claude.json`, whose edits are per server under the
    /// engine's lock (as 1.3.2).
    hash: Option<String>,
    /// The parse error of a malformed file.
    error: Option<String>,
}

fn read_servers(place: &Place) -> Result<ScopeServers, ApiError> {
    let (file, key, hashed) = match place.scope {
        Scope::Project => (read_json(&place.in_project(".mcp.json")?)?, None, true),
        Scope::User => (read_json(&place.global)?, None, false),
        Scope::Local => (read_json(&place.global)?, Some(place.project_key()), false),
    };
    Ok(ScopeServers {
        servers: mcp::servers_at(&file.value, key.as_deref()),
        hash: hashed.then_some(file.hash),
        error: file.error,
    })
}

pub async fn mcp_read(
    State(state): State<AppState>,
    Query(query): Query<ReadQuery>,
) -> Result<Json<Value>, ApiError> {
    let scope = read_gate(&state, query.scope.as_deref(), ALL)?;
    let place = Place::new(&state, scope, query.project.as_deref()).await?;
    let out = blocking("reading MCP servers", move || {
        let ScopeServers {
            servers,
            hash,
            error,
        } = read_servers(&place)?;
        let (view, masked) = mcp::servers_view(&servers);
        let mut out = head(&place);
        out.insert("servers".into(), Value::Object(view));
        out.insert("masked".into(), json!(masked));
        out.insert("hash".into(), json!(hash));
        if let Some(error) = error {
            out.insert("error".into(), error.into());
            out.insert("read_only".into(), Value::Bool(true));
        }
        Ok(Value::Object(out))
    })
    .await?;
    Ok(Json(out))
}

/// Where a scope's server map is written, and the `G.projects` key for Local.
fn servers_file(place: &Place) -> Result<(std::path::PathBuf, Option<String>), ApiError> {
    Ok(match place.scope {
        Scope::Project => (place.in_project(".mcp.json")?, None),
        Scope::User => (place.global.clone(), None),
        Scope::Local => (place.global.clone(), Some(place.project_key())),
    })
}

/// `PUT mcp {scope, project, confirm, servers, hash}`: the whole map.
pub async fn mcp_write(
    State(state): State<AppState>,
    socket: Socket,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body_object(body)?;
    let (scope, project) = write_gate(&state, &extensions, &body, ALL)?;
    let servers = object_field(&body, "servers")?;
    let expected = hash_of(&body)?;
    let place = Place::new(&state, scope, project.as_deref()).await?;
    let actor = crate::claude_md::actor(socket.is_some());
    let out = blocking("writing MCP servers", move || {
        place.require_trusted()?;
        let (path, key) = servers_file(&place)?;
        // `~/.claude.json` is shared with claude: no whole-file hash, as 1.3.2.
        let expected = if scope == Scope::Project {
            expected
        } else {
            None
        };
        let names: Vec<String> = servers.keys().cloned().collect();
        let hash = write_json(&place, &path, expected.as_deref(), |root| {
            mcp::replace_servers(root, key.as_deref(), servers.clone())
        })?;
        audit(&place, actor, "mcp", &path, "update", &names);
        let mut out = head(&place);
        out.insert("ok".into(), Value::Bool(true));
        if scope == Scope::Project {
            out.insert("hash".into(), hash.into());
        }
        Ok(Value::Object(out))
    })
    .await?;
    Ok(Json(out))
}

/// `POST mcp/server {scope, project, confirm, op, name, entry}`: one server.
pub async fn mcp_server(
    State(state): State<AppState>,
    socket: Socket,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body_object(body)?;
    let (scope, project) = write_gate(&state, &extensions, &body, ALL)?;
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
    let place = Place::new(&state, scope, project.as_deref()).await?;
    let actor = crate::claude_md::actor(socket.is_some());
    let out = blocking("writing an MCP server", move || {
        place.require_trusted()?;
        let (path, key) = servers_file(&place)?;
        let mut op_error = None;
        let result = write_json(&place, &path, None, |root| {
            // `.mcp.json` and `G` keep `mcpServers` at the top; Local under `G.projects`.
            match mcp::apply_server_op(root, key.as_deref(), op, &name, entry.clone()) {
                Ok(()) => Ok(()),
                Err(mcp::OpError::Edit(e)) => Err(e),
                Err(other) => {
                    op_error = Some(other);
                    Err(clauster_core::claude_config::EditError::Invalid(
                        String::new(),
                    ))
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
            &place,
            actor,
            "mcp",
            &path,
            action,
            std::slice::from_ref(&name),
        );
        let mut out = head(&place);
        out.insert("name".into(), name.into());
        out.insert("op".into(), action.into());
        out.insert("ok".into(), Value::Bool(true));
        Ok(Value::Object(out))
    })
    .await?;
    Ok(Json(out))
}

/// `GET mcp/approvals?project=`: the project's `.mcp.json` decisions.
pub async fn approvals_read(
    State(state): State<AppState>,
    Query(query): Query<ProjectQuery>,
) -> Result<Json<Value>, ApiError> {
    read_gate(&state, None, ALL)?;
    let place = Place::new(&state, Scope::Project, query.project.as_deref()).await?;
    let out = blocking("reading MCP approvals", move || {
        let global = read_json(&place.global)?;
        let approvals = mcp::approvals(&global.value, &place.project_key());
        let mcp_json = read_json(&place.in_project(".mcp.json")?)?;
        let servers: Vec<Value> = mcp::servers_of(&mcp_json.value)
            .keys()
            .map(|n| json!({"name": n, "approval": mcp::approval_of(&approvals, n)}))
            .collect();
        Ok(json!({
            "project": place.project_name(),
            "enabled": approvals.enabled,
            "disabled": approvals.disabled,
            "enable_all": approvals.enable_all,
            "servers": servers,
        }))
    })
    .await?;
    Ok(Json(out))
}

fn string_list(body: &Map<String, Value>, key: &str) -> Option<Vec<String>> {
    body.get(key)?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// `PUT mcp/approvals {project, confirm, enabled, disabled}`.
pub async fn approvals_write(
    State(state): State<AppState>,
    socket: Socket,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body_object(body)?;
    let (_, project) = write_gate(&state, &extensions, &body, &[Scope::Project])?;
    let (Some(enabled), Some(disabled)) = (
        string_list(&body, "enabled"),
        string_list(&body, "disabled"),
    ) else {
        return Err(ApiError::invalid(
            "body must include 'enabled' and 'disabled' lists of server names",
            None,
        ));
    };
    let place = Place::new(&state, Scope::Project, project.as_deref()).await?;
    let actor = crate::claude_md::actor(socket.is_some());
    let out = blocking("writing MCP approvals", move || {
        place.require_trusted()?;
        let key = place.project_key();
        write_json(&place, &place.global, None, |g| {
            mcp::set_approvals(g, &key, &enabled, &disabled)
        })?;
        let names: Vec<String> = enabled.iter().chain(&disabled).cloned().collect();
        audit(
            &place,
            actor,
            "mcp-approvals",
            &place.global,
            "update",
            &names,
        );
        Ok(json!({"project": place.project_name(), "ok": true}))
    })
    .await?;
    Ok(Json(out))
}

/// `POST mcp/reset-project-choices {project, confirm}`.
pub async fn reset_choices(
    State(state): State<AppState>,
    socket: Socket,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body_object(body)?;
    let (_, project) = write_gate(&state, &extensions, &body, &[Scope::Project])?;
    let place = Place::new(&state, Scope::Project, project.as_deref()).await?;
    let actor = crate::claude_md::actor(socket.is_some());
    let out = blocking("resetting MCP approvals", move || {
        place.require_trusted()?;
        let key = place.project_key();
        write_json(&place, &place.global, None, |g| mcp::reset_choices(g, &key))?;
        audit(&place, actor, "mcp-approvals", &place.global, "reset", &[]);
        Ok(json!({"project": place.project_name(), "ok": true}))
    })
    .await?;
    Ok(Json(out))
}
