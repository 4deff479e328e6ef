//! What every `/api/config-write/*` handler shares (config-write.md §2): the gates in their
//! order, the scope and project of a request, where each scope's files are, the blocking
//! reads and guarded writes, and the audit line.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{Extensions, StatusCode};
use clauster_core::claude_config::{self, EditError, Scope};
use clauster_core::claude_json;
use serde_json::{Map, Value};

use crate::auth::elevation::Elevated;
use crate::bounded_read::{JSON_FILE_CAP, Refused, read_regular};
use crate::claude_files::{self, ClaudeFileError};
use crate::claude_md;
use crate::control::ViaControlSocket;
use crate::error::ApiError;
use crate::projects::Discovered;
use crate::state::AppState;

/// The largest request body: a settings file or a Markdown document, escaped as JSON.
pub const BODY_LIMIT: usize = 512 << 10;
/// The largest subagent, skill or CLAUDE.md file read or written (as the CLAUDE.md editor).
pub const MAX_DOC_BYTES: usize = claude_md::MAX_CONTENT_BYTES;
/// The largest JSON file written (as read: issue 16 §2).
pub const MAX_JSON_BYTES: usize = 1 << 20;

/// Gate 1 (config-write.md §2): the whole surface is invisible (404) unless
/// `config_write.enabled`; the User scope also needs `config_write.allow_user_scope`.
pub fn capability(state: &AppState, scope: Scope) -> Result<(), ApiError> {
    let settings = &state.config().config_write;
    if !settings.enabled {
        return Err(ApiError::not_found("config-write is disabled"));
    }
    if scope == Scope::User && !settings.allow_user_scope {
        return Err(ApiError::not_found("config-write user scope is disabled"));
    }
    Ok(())
}

/// The scope of a request (`project` when absent); 422 for another word. Only after the
/// capability gate has passed for the surface as a whole.
pub fn scope_of(raw: Option<&str>, allowed: &[Scope]) -> Result<Scope, ApiError> {
    let raw = raw.unwrap_or("project");
    match Scope::parse(raw) {
        Some(scope) if allowed.contains(&scope) => Ok(scope),
        // 1.3.2's texts, which its scripts and tests match.
        _ if allowed.len() == 3 => Err(ApiError::invalid(
            "scope must be 'project', 'user', or 'local'",
            Some("scope"),
        )),
        _ if allowed.len() == 2 => Err(ApiError::invalid(
            "scope must be 'project' or 'user'",
            Some("scope"),
        )),
        _ => Err(ApiError::invalid("scope must be 'project'", Some("scope"))),
    }
}

/// The gates of a read, in order: capability (404) then the scope word (422) then the
/// scope's own opt-in (404).
pub fn read_gate(
    state: &AppState,
    raw_scope: Option<&str>,
    allowed: &[Scope],
) -> Result<Scope, ApiError> {
    capability(state, Scope::Project)?;
    let scope = scope_of(raw_scope, allowed)?;
    capability(state, scope)?;
    Ok(scope)
}

/// The gates of a write, in order: those of a read, then the step-up (403
/// `reauth_required`, security.md §3.2), then the typed confirmation (400).
pub fn write_gate(
    state: &AppState,
    extensions: &Extensions,
    body: &Map<String, Value>,
    allowed: &[Scope],
) -> Result<(Scope, Option<String>), ApiError> {
    let scope = read_gate(state, body.get("scope").and_then(Value::as_str), allowed)?;
    Elevated::of(extensions)?;
    let project = match scope {
        Scope::User => None,
        Scope::Project | Scope::Local => match body.get("project") {
            Some(Value::String(name)) if !name.is_empty() => Some(name.clone()),
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("{}-scope write requires a project", scope.as_str()),
                ));
            }
        },
    };
    let expected = claude_config::confirm_token(scope, project.as_deref().unwrap_or(""));
    if body.get("confirm").and_then(Value::as_str) != Some(expected.as_str()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("confirmation text must be '{expected}'"),
        ));
    }
    Ok((scope, project))
}

/// The body of a write: within the limit (413 `request body too large`), a JSON object (422).
pub fn body_object(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, ApiError> {
    let body =
        body.map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"))?;
    Ok(crate::http::JsonObject::parse(&body)?.fields().clone())
}

/// The optional `hash` of a write body: 422 when present and not a string.
pub fn hash_of(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body.get("hash") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(h)) => Ok(Some(h.clone())),
        Some(_) => Err(ApiError::invalid(
            "'hash' must be a string when present",
            Some("hash"),
        )),
    }
}

/// An object field of a write body (422 naming it otherwise).
pub fn object_field(body: &Map<String, Value>, key: &str) -> Result<Map<String, Value>, ApiError> {
    match body.get(key) {
        Some(Value::Object(map)) => Ok(map.clone()),
        _ => Err(ApiError::invalid(
            format!("body must include a '{key}' object"),
            Some(key),
        )),
    }
}

/// A write request (config-write.md §2): the state, who sent it (the session and step-up in
/// its extensions, the control socket for the audit's actor) and its body as a JSON object —
/// 413 over the limit, 422 when not an object, before any gate.
pub struct Write {
    state: AppState,
    extensions: Extensions,
    body: Map<String, Value>,
}

impl FromRequest<AppState> for Write {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let extensions = req.extensions().clone();
        let body = body_object(Bytes::from_request(req, state).await)?;
        Ok(Self {
            state: state.clone(),
            extensions,
            body,
        })
    }
}

impl Write {
    /// A write whose fields came from the query (a `DELETE`).
    pub fn from_query(state: AppState, extensions: Extensions, body: Map<String, Value>) -> Self {
        Self {
            state,
            extensions,
            body,
        }
    }

    /// Runs the write: the write gates, the route's own checks of the body (`check`, 422s),
    /// the scope's place, then — off the async threads — the trust gate and `work`, which is
    /// handed the audit's actor.
    pub async fn run<T: Send + 'static>(
        self,
        what: (&[Scope], &'static str),
        check: impl FnOnce(&Map<String, Value>) -> Result<T, ApiError>,
        work: impl FnOnce(&Place, T, &'static str) -> Result<Value, ApiError> + Send + 'static,
    ) -> Result<Json<Value>, ApiError> {
        self.run_with(what, false, check, work).await
    }

    /// [`Write::run`] for a write to `~/.claude.json` alone (the MCP approvals): an
    /// unparseable global file is the 409 every write to it answers, before the trust gate
    /// (whose answer it would otherwise turn into a misleading 403).
    pub async fn run_on_global<T: Send + 'static>(
        self,
        what: (&[Scope], &'static str),
        check: impl FnOnce(&Map<String, Value>) -> Result<T, ApiError>,
        work: impl FnOnce(&Place, T, &'static str) -> Result<Value, ApiError> + Send + 'static,
    ) -> Result<Json<Value>, ApiError> {
        self.run_with(what, true, check, work).await
    }

    async fn run_with<T: Send + 'static>(
        self,
        (scopes, what): (&[Scope], &'static str),
        global_first: bool,
        check: impl FnOnce(&Map<String, Value>) -> Result<T, ApiError>,
        work: impl FnOnce(&Place, T, &'static str) -> Result<Value, ApiError> + Send + 'static,
    ) -> Result<Json<Value>, ApiError> {
        let (scope, project) = write_gate(&self.state, &self.extensions, &self.body, scopes)?;
        let input = check(&self.body)?;
        let place = Place::new(&self.state, scope, project.as_deref()).await?;
        let actor = claude_md::actor(self.extensions.get::<ViaControlSocket>().is_some());
        let out = blocking(what, move || {
            if global_first {
                place.require_global_parseable()?;
            }
            place.require_trusted()?;
            work(&place, input, actor)
        })
        .await?;
        Ok(Json(out))
    }
}

/// The start of every answer: the scope, and the project for the project scopes.
pub fn head(place: &Place) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("scope".into(), place.scope.as_str().into());
    if let Some(name) = place.project_name() {
        out.insert("project".into(), name.into());
    }
    out
}

/// One route's frame: the state, the scopes it serves and what its blocking work does (for
/// the error if it panics). Its reads and [`Write::run`] are every handler's skeleton.
pub struct Route<'a> {
    state: &'a AppState,
    scopes: &'a [Scope],
    what: &'static str,
}

impl<'a> Route<'a> {
    pub fn new(state: &'a AppState, scopes: &'a [Scope], what: &'static str) -> Self {
        Self {
            state,
            scopes,
            what,
        }
    }

    /// A read (config-write.md §2): the read gates, the scope's place, then `work` off the
    /// async threads.
    pub async fn read(
        self,
        query: (Option<&str>, Option<&str>),
        work: impl FnOnce(&Place) -> Result<Value, ApiError> + Send + 'static,
    ) -> Result<Json<Value>, ApiError> {
        self.read_checked(query, || Ok(()), move |place, ()| work(place))
            .await
    }

    /// A read with the route's own checks of its query (`check`), after the gates and before
    /// the project is looked up.
    pub async fn read_checked<T: Send + 'static>(
        self,
        (scope, project): (Option<&str>, Option<&str>),
        check: impl FnOnce() -> Result<T, ApiError>,
        work: impl FnOnce(&Place, T) -> Result<Value, ApiError> + Send + 'static,
    ) -> Result<Json<Value>, ApiError> {
        let scope = read_gate(self.state, scope, self.scopes)?;
        let input = check()?;
        let place = Place::new(self.state, scope, project).await?;
        Ok(Json(
            blocking(self.what, move || work(&place, input)).await?,
        ))
    }
}

/// Where the scopes' files are for one request.
#[derive(Clone, Debug)]
pub struct Place {
    pub scope: Scope,
    /// The project (Project and Local scopes).
    pub project: Option<Discovered>,
    /// Claude's directory `D` (`~/.claude`, or `CLAUDE_CONFIG_DIR`).
    pub claude_dir: PathBuf,
    /// Claude's global file `G` (`~/.claude.json`).
    pub global: PathBuf,
    pub state_dir: PathBuf,
}

impl Place {
    pub async fn new(
        state: &AppState,
        scope: Scope,
        project: Option<&str>,
    ) -> Result<Self, ApiError> {
        let project = match (scope, project) {
            (Scope::User, _) => None,
            (_, Some(name)) if !name.is_empty() => {
                // An escaping or malformed name is a 400 before any lookup (1.3.2).
                if clauster_core::names::ProjectName::new(name).is_err() {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "invalid project name: '{}'",
                            clauster_core::names::echo(name)
                        ),
                    ));
                }
                Some(
                    crate::http::find_project(state, name)
                        .await
                        .map_err(|r| r.invalid_as_unknown(name))?,
                )
            }
            _ => {
                return Err(ApiError::invalid(
                    format!("{}-scope requests need a 'project'", scope.as_str()),
                    Some("project"),
                ));
            }
        };
        let settings = crate::trust::settings_file(&state.config(), &crate::state::ProcessEnv);
        Ok(Self {
            scope,
            project,
            claude_dir: settings
                .parent()
                .map_or_else(|| PathBuf::from("/"), Path::to_path_buf),
            global: state.claude_global_file().to_owned(),
            state_dir: state.config().state_dir.clone(),
        })
    }

    pub fn project(&self) -> &Discovered {
        self.project
            .as_ref()
            .expect("Project and Local places have a project")
    }

    /// The name shown in answers (`None` for the User scope).
    pub fn project_name(&self) -> Option<String> {
        self.project.as_ref().map(|p| p.name.to_string())
    }

    /// The canonical project path: its key in `G.projects`.
    pub fn project_key(&self) -> String {
        self.project().canonical.to_string_lossy().into_owned()
    }

    /// The scope's `settings.json` (`settings.local.json` for Local).
    pub fn settings_file(&self) -> Result<PathBuf, ApiError> {
        match self.scope {
            Scope::User => Ok(self.claude_dir.join("settings.json")),
            Scope::Project => self.in_project(".claude/settings.json"),
            Scope::Local => self.in_project(".claude/settings.local.json"),
        }
    }

    /// `rel` under the project, refused (400) when it or a directory on the way is a link
    /// that leaves the project (security.md §7.3).
    pub fn in_project(&self, rel: &str) -> Result<PathBuf, ApiError> {
        let project = self.project();
        let path = project.canonical.join(rel);
        contained(&project.canonical, &path, rel)?;
        Ok(path)
    }

    /// `rel` under the scope's directory: `D` for the User scope, `<project>/.claude` else.
    pub fn in_scope_dir(&self, rel: &str) -> Result<PathBuf, ApiError> {
        match self.scope {
            Scope::User => Ok(self.claude_dir.join(rel)),
            Scope::Project | Scope::Local => self.in_project(&format!(".claude/{rel}")),
        }
    }

    /// Makes the project's `.gitignore` cover each of `rels` (files of the Local scope, which
    /// are the operator's own, as Claude Code does): lines are appended for those no rule
    /// covers yet (git's own matching), the rest of the file untouched; a missing file is
    /// created. A `.gitignore` that is a link leaving the project is refused (400).
    pub fn ensure_gitignored(&self, rels: &[&str]) -> Result<(), ApiError> {
        let root = &self.project().canonical;
        let path = self.in_project(".gitignore")?;
        let existing = read_capped(&path, JSON_FILE_CAP)?.unwrap_or_default();
        let existing = String::from_utf8_lossy(&existing);
        let mut rules = ignore::gitignore::GitignoreBuilder::new(root);
        for line in existing.lines() {
            // A line git cannot read is one git ignores too.
            let _ = rules.add_line(None, line);
        }
        let rules = rules
            .build()
            .unwrap_or_else(|_| ignore::gitignore::Gitignore::empty());
        let missing: Vec<&str> = rels
            .iter()
            .copied()
            .filter(|rel| {
                !rules
                    .matched_path_or_any_parents(root.join(rel), false)
                    .is_ignore()
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        if !existing.is_empty() && !existing.ends_with('\n') {
            text.push('\n');
        }
        for rel in missing {
            text.push_str(rel);
            text.push('\n');
        }
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .map_err(|e| io_error("append to", &path, &e))
    }

    /// `~/.claude.json` must parse (when present) before a write to it: 409, the answer of
    /// the write transaction itself (bridges.md §6).
    pub fn require_global_parseable(&self) -> Result<(), ApiError> {
        let bytes = read_capped(&self.global, JSON_FILE_CAP)?.unwrap_or_default();
        if bytes.is_empty() {
            return Ok(());
        }
        claude_json::parse_config_bytes(&bytes)
            .map(drop)
            .map_err(|reason| {
                file_error(&ClaudeFileError::Unparseable {
                    file: self.global.clone(),
                    reason,
                })
            })
    }

    /// Project and Local writes need a trusted project (as the CLAUDE.md editor, 403).
    pub fn require_trusted(&self) -> Result<(), ApiError> {
        let Some(project) = &self.project else {
            return Ok(());
        };
        let trusted = claude_json::TrustState::Trusted
            == crate::trust::load_trusted(&self.global)
                .state(&project.canonical, project.path.join(".git").exists());
        if trusted {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "{} is not a trusted directory; trust the project first",
                    project.canonical.display()
                ),
            ))
        }
    }
}

/// Every existing prefix of `path` below `root` must resolve inside `root`.
fn contained(root: &Path, path: &Path, rel: &str) -> Result<(), ApiError> {
    let outside = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{rel} resolves outside the project directory; Clauster does not follow it"),
        )
    };
    let mut at = root.to_path_buf();
    let Ok(tail) = path.strip_prefix(root) else {
        return Err(outside());
    };
    for part in tail.components() {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Err(_) => break,
            Ok(meta) if meta.file_type().is_symlink() => {
                let resolved = fs::canonicalize(&at).map_err(|_| outside())?;
                if !resolved.starts_with(root) {
                    return Err(outside());
                }
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

/// A JSON file as read: its value, or why it cannot be used (then shown read-only).
#[derive(Debug)]
pub struct JsonFile {
    pub value: Value,
    /// The parse error of a malformed file (then `value` is `{}`).
    pub error: Option<String>,
    /// sha256 of the bytes (of no bytes when missing): the lost-update guard's token.
    pub hash: String,
}

impl JsonFile {
    /// The `error` and `read_only` members of an answer.
    pub fn annotate(&self, out: &mut Map<String, Value>) {
        out.insert("hash".into(), Value::from(self.hash.clone()));
        if let Some(error) = &self.error {
            out.insert("error".into(), Value::from(error.clone()));
            out.insert("read_only".into(), Value::Bool(true));
        }
    }
}

/// The bytes of a file (following links: containment was checked), `None` when missing; 422
/// when it is not a regular file, 413 over `cap`.
pub fn read_capped(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, ApiError> {
    let name = path.display();
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match read_regular(&target, cap) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(Refused::Missing) => Ok(None),
        Err(Refused::NotRegular) => Err(ApiError::invalid(
            format!("{name} is not a regular file"),
            None,
        )),
        Err(Refused::TooLarge { size, cap }) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{name} is {size} bytes, over the {cap} byte cap"),
        )),
        Err(Refused::Io(e)) => Err(io_error("read", path, &e)),
    }
}

/// Reads a JSON file, capped at 1 MiB; a missing one is `{}`.
pub fn read_json(path: &Path) -> Result<JsonFile, ApiError> {
    let name = path.display();
    let bytes = read_capped(path, JSON_FILE_CAP)?.unwrap_or_default();
    let hash = claude_md::sha256_hex(&bytes);
    match claude_json::parse_config_bytes(&bytes) {
        Ok(value) => Ok(JsonFile {
            value,
            error: None,
            hash,
        }),
        Err(e) => Ok(JsonFile {
            value: Value::Object(Map::new()),
            error: Some(format!(
                "{name} {e}; it is shown read-only and Clauster will not overwrite it"
            )),
            hash,
        }),
    }
}

pub fn io_error(verb: &str, path: &Path, err: &io::Error) -> ApiError {
    ApiError::internal(format!("could not {verb} {}: {err}", path.display()))
}

/// Applies `edit` to the JSON file at `path` in the locked transaction of bridges.md §12.4
/// (the lock the engine takes, with its deadline), with the lost-update guard when `expected`
/// is given. Returns the new hash.
pub fn write_json(
    place: &Place,
    path: &Path,
    expected: Option<&str>,
    edit: impl FnMut(&mut Value) -> Result<(), EditError>,
) -> Result<String, ApiError> {
    write_json_then(place, path, expected, edit, || Ok(()))
}

/// [`write_json`], running `before_write` once the edit is known to change the file and
/// before anything is written (the Local scope's `.gitignore` entry: fail closed, so the
/// file and its `.bak` are never trackable).
pub fn write_json_then(
    place: &Place,
    path: &Path,
    expected: Option<&str>,
    mut edit: impl FnMut(&mut Value) -> Result<(), EditError>,
    mut before_write: impl FnMut() -> Result<(), ApiError>,
) -> Result<String, ApiError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| io_error("create", dir, &e))?;
    }
    let mut refused = None;
    let mut too_large = None;
    let mut hook_failed = None;
    let result = claude_files::update_json_file_guarded(&place.state_dir, path, expected, |v| {
        let before = v.clone();
        if let Err(e) = edit(v) {
            refused = Some(e);
            return Ok(false);
        }
        let len = claude_json::to_config_text(v).len();
        if len > MAX_JSON_BYTES {
            too_large = Some(len);
            return Ok(false);
        }
        if *v == before {
            return Ok(false);
        }
        if let Err(e) = before_write() {
            hook_failed = Some(e);
            return Ok(false);
        }
        Ok(true)
    });
    if let Some(err) = refused {
        return Err(edit_error(err));
    }
    if let Some(err) = hook_failed {
        return Err(err);
    }
    if let Some(len) = too_large {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the edit would make {} {len} bytes, over the {MAX_JSON_BYTES} byte cap",
                path.display()
            ),
        ));
    }
    result.map_err(|e| file_error(&e))?;
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    Ok(
        crate::bounded_read::sha256_of_regular(&target, JSON_FILE_CAP * 2)
            .unwrap_or_else(|| claude_md::sha256_hex(b"")),
    )
}

pub fn edit_error(err: EditError) -> ApiError {
    match err {
        EditError::Invalid(m) => ApiError::invalid(m, None),
        EditError::Conflicting(m) => ApiError::new(StatusCode::CONFLICT, m),
    }
}

pub fn file_error(err: &ClaudeFileError) -> ApiError {
    ApiError::new(err.status(), err.to_string())
}

/// One line in `<state_dir>/config_audit.log`: who changed what where — key and server
/// names, never values.
pub fn audit(
    place: &Place,
    actor: &str,
    surface: &str,
    target: &Path,
    action: &str,
    keys: &[String],
) {
    let line = serde_json::json!({
        "ts": crate::time::now_rfc3339(),
        "actor": actor,
        "surface": surface,
        "scope": place.scope.as_str(),
        "project": place.project_name(),
        "target": target.to_string_lossy(),
        "action": action,
        "keys": keys,
    });
    let mut text = line.to_string();
    text.push('\n');
    if let Err(err) =
        claude_md::append_audit(&place.state_dir.join("config_audit.log"), text.as_bytes())
    {
        tracing::warn!("could not append to the config audit log: {err}");
    }
}

/// Runs blocking file work off the async threads.
pub async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ApiError::internal(format!("{what} panicked; see the server log")))?
}
