//! The Markdown surfaces (config-write.md §8): subagents (`agents/<name>.md`), skills
//! (`skills/<name>/SKILL.md`) and the scope's CLAUDE.md. The text is written as typed, after
//! its front matter is checked; reads are never masked (the text round-trips exactly). Each
//! handler is the shared skeleton of `common` (`Route::read`, `Route::write`).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::PoisonError;

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{Extensions, StatusCode};
use clauster_core::claude_config::Scope;
use clauster_core::claude_config::front_matter::{self, Kind};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::common::{
    MAX_DOC_BYTES, Place, Route, Write, audit, edit_error, hash_of, head, io_error, read_capped,
};
use crate::claude_md::sha256_hex;
use crate::error::ApiError;
use crate::state::AppState;

/// Subagents and skills have no Local scope (Claude Code reads none).
const USER_PROJECT: &[Scope] = &[Scope::User, Scope::Project];
/// CLAUDE.md has all three: `D/CLAUDE.md`, `<p>/CLAUDE.md`, `<p>/CLAUDE.local.md`.
const ALL: &[Scope] = &[Scope::User, Scope::Project, Scope::Local];
/// The Local scope's memory file, at the project root (Claude Code's name).
const LOCAL_CLAUDE_MD: &str = "CLAUDE.local.md";

/// The subagents Claude Code compiles in: listed, never editable (no file exists).
const BUILT_IN_AGENTS: &[&str] = &["general-purpose", "explore", "plan"];

const SKILL_FILE: &str = "SKILL.md";

/// Whether `name` is a built-in subagent, in any case (`Explore`, `plan`), as 1.3.2 matches.
fn built_in(name: &str) -> bool {
    BUILT_IN_AGENTS.contains(&name.to_ascii_lowercase().as_str())
}

fn built_in_refusal(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!("'{name}' is built into Claude Code and has no file to edit"),
    )
}

#[derive(Debug, Deserialize)]
pub struct DocQuery {
    pub scope: Option<String>,
    pub project: Option<String>,
    pub name: Option<String>,
    pub relative: Option<String>,
    pub confirm: Option<String>,
}

impl DocQuery {
    fn pair(&self) -> (Option<&str>, Option<&str>) {
        (self.scope.as_deref(), self.project.as_deref())
    }
}

/// A Markdown file as read.
struct Doc {
    exists: bool,
    content: String,
    hash: Option<String>,
}

impl Doc {
    /// `content`, `hash` and `exists`, as every Markdown read answers them.
    fn answer(self, out: &mut Map<String, Value>) {
        out.insert("content".into(), self.content.into());
        out.insert("hash".into(), json!(self.hash));
        out.insert("exists".into(), self.exists.into());
    }
}

fn read_doc(path: &Path) -> Result<Doc, ApiError> {
    let name = path.display();
    let Some(bytes) = read_capped(path, MAX_DOC_BYTES as u64)? else {
        return Ok(Doc {
            exists: false,
            content: String::new(),
            hash: None,
        });
    };
    let hash = sha256_hex(&bytes);
    let content = String::from_utf8(bytes)
        .map_err(|_| ApiError::invalid(format!("{name} is not valid UTF-8"), None))?;
    Ok(Doc {
        exists: true,
        content,
        hash: Some(hash),
    })
}

/// Replaces (or with `None`, deletes) the file at `path` under the CLAUDE.md editor's locks,
/// when its hash is still `expected` (a missing file has no hash). Returns whether a file
/// existed before.
fn replace_doc(
    place: &Place,
    path: &Path,
    content: Option<&str>,
    expected: Option<&str>,
) -> Result<bool, ApiError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    if content.is_some() {
        fs::create_dir_all(dir).map_err(|e| io_error("create", dir, &e))?;
    }
    let mutex = crate::claude_files::process_mutex(path);
    let _in_process = mutex.lock().unwrap_or_else(PoisonError::into_inner);
    let lock = crate::claude_files::open_lock_file(&place.state_dir, path)
        .map_err(|e| io_error("lock", path, &e))?;
    lock.lock().map_err(|e| io_error("lock", path, &e))?;
    let current = read_doc(path)?;
    if let Some(expected) = expected
        && current.hash.as_deref() != Some(expected)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "{} changed on disk since it was loaded; reload it, or overwrite with the new hash",
                path.display()
            ),
        ));
    }
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match content {
        Some(text) => {
            let mode = if current.exists {
                Some(
                    fs::metadata(&target)
                        .map_err(|e| io_error("read", path, &e))?
                        .permissions()
                        .mode()
                        & 0o7777,
                )
            } else {
                None
            };
            let staged = clauster_pty::atomic_write::stage(&target, text.as_bytes(), mode)
                .map_err(|e| io_error("write", path, &e))?;
            staged
                .persist(&target)
                .map_err(|e| io_error("write", path, &e.error))?;
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        None if current.exists => match fs::remove_file(&target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("delete", path, &e)),
        },
        None => {}
    }
    Ok(current.exists)
}

/// The document text of a write body: a string, no NUL, within the cap, LF line ends.
fn content_of(body: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    let Some(text) = body.get(key).and_then(Value::as_str) else {
        return Err(ApiError::invalid(
            format!("body must include a '{key}' string"),
            Some(key),
        ));
    };
    if text.contains('\0') {
        return Err(ApiError::invalid(
            format!("{key} must not contain NUL characters"),
            Some(key),
        ));
    }
    if text.len() > MAX_DOC_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{key} is {} bytes, over the {MAX_DOC_BYTES} byte cap",
                text.len()
            ),
        ));
    }
    Ok(text.replace("\r\n", "\n"))
}

/// A subagent name outside the rule → 422; a skill name → 400 `invalid skill name: '<n>'`,
/// 1.3.2's answer for a name that could leave `skills/` (none that passes can).
fn checked_name(kind: Kind, name: &str) -> Result<(), ApiError> {
    match kind {
        _ if kind.valid_name(name) => Ok(()),
        Kind::Subagent => Err(ApiError::invalid(
            format!(
                "invalid subagent name {name:?}: use 1–{} lower-case letters, digits, '-' or '_'",
                front_matter::MAX_NAME_LEN
            ),
            Some("name"),
        )),
        Kind::Skill => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid skill name: '{}' (use 1–{} letters, digits, '-' or '_', starting with a letter or digit)",
                clauster_core::names::echo(name),
                front_matter::MAX_NAME_LEN
            ),
        )),
    }
}

/// The front matter must name the file it is in (a skill's may leave its name out).
fn check_named(kind: Kind, name: &str, text: &str) -> Result<(), ApiError> {
    let doc = front_matter::check_document(kind, text).map_err(edit_error)?;
    let label = kind.label();
    match doc.fields.get("name").and_then(Value::as_str) {
        None if kind == Kind::Skill => Ok(()),
        Some(named) if named == name => Ok(()),
        named => Err(ApiError::invalid(
            format!(
                "{label}: the front matter name '{}' must be the {label}'s name '{name}'",
                named.unwrap_or("")
            ),
            Some("content"),
        )),
    }
}

fn query_body(query: &DocQuery) -> Map<String, Value> {
    let mut body = Map::new();
    for (key, value) in [
        ("scope", &query.scope),
        ("project", &query.project),
        ("confirm", &query.confirm),
    ] {
        if let Some(v) = value {
            body.insert(key.into(), v.clone().into());
        }
    }
    body
}

/// One listed item: its description, or why it cannot be read.
fn describe(path: &Path, place: &Place, rel: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let read = place.in_scope_dir(rel).and_then(|_| read_doc(path));
    match read {
        Ok(doc) => match front_matter::parse(&doc.content) {
            Ok(parsed) => {
                out.insert(
                    "description".into(),
                    parsed
                        .fields
                        .get("description")
                        .cloned()
                        .unwrap_or(Value::Null),
                );
            }
            Err(e) => {
                out.insert("description".into(), Value::Null);
                out.insert("error".into(), e.into());
            }
        },
        Err(e) => {
            out.insert("description".into(), Value::Null);
            out.insert("error".into(), e.detail().into());
        }
    }
    out
}

fn sorted_entries(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.to_owned(), e.path())))
        .collect();
    out.sort();
    out
}

pub async fn subagents_list(
    State(state): State<AppState>,
    Query(query): Query<DocQuery>,
) -> Result<Json<Value>, ApiError> {
    Route::new(&state, USER_PROJECT, "listing subagents")
        .read(query.pair(), |place| {
            let dir = place.in_scope_dir("agents")?;
            let mut agents = Vec::new();
            for (file, path) in sorted_entries(&dir) {
                let Some(name) = file.strip_suffix(".md") else {
                    continue;
                };
                let mut item = describe(&path, place, &format!("agents/{file}"));
                item.insert("name".into(), name.into());
                item.insert("source".into(), place.scope.as_str().into());
                // A file that cannot be read or parsed is shown, never written (config-write.md).
                let editable = front_matter::valid_item_name(name) && !item.contains_key("error");
                item.insert("editable".into(), editable.into());
                agents.push(Value::Object(item));
            }
            for name in BUILT_IN_AGENTS {
                agents.push(json!({
                    "name": name, "source": "built-in", "editable": false, "description": null,
                }));
            }
            let mut out = head(place);
            out.insert("agents".into(), Value::Array(agents));
            Ok(Value::Object(out))
        })
        .await
}

pub async fn subagent_read(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    Query(query): Query<DocQuery>,
) -> Result<Json<Value>, ApiError> {
    Route::new(&state, USER_PROJECT, "reading a subagent")
        .read(query.pair(), move |place| {
            let mut out = head(place);
            out.insert("name".into(), name.clone().into());
            if built_in(&name) {
                let fixed = json!({"source": "built-in", "editable": false, "exists": false,
                "content": "", "frontmatter": {}, "hash": null});
                out.extend(fixed.as_object().cloned().unwrap_or_default());
                return Ok(Value::Object(out));
            }
            checked_name(Kind::Subagent, &name)?;
            let doc = read_doc(&place.in_scope_dir(&format!("agents/{name}.md"))?)?;
            if !doc.exists {
                return Err(ApiError::not_found(format!("subagent '{name}' not found")));
            }
            out.insert("source".into(), place.scope.as_str().into());
            out.insert("editable".into(), Value::Bool(true));
            out.insert("exists".into(), doc.exists.into());
            out.insert("hash".into(), json!(doc.hash));
            match front_matter::parse(&doc.content) {
                Ok(d) => {
                    out.insert("frontmatter".into(), Value::Object(d.fields));
                }
                Err(e) => {
                    out.insert("frontmatter".into(), json!({}));
                    out.insert("error".into(), e.into());
                }
            }
            out.insert("content".into(), doc.content.into());
            Ok(Value::Object(out))
        })
        .await
}

/// Writes one document under the editor's locks, audits it as `create` or `update` (with
/// the item's name) and answers the head, `name`, `ok` and the new hash.
fn write_doc(
    place: &Place,
    (actor, surface): (&str, &str),
    path: &Path,
    (content, expected): (&str, Option<&str>),
    name: Option<String>,
) -> Result<Value, ApiError> {
    let existed = replace_doc(place, path, Some(content), expected)?;
    let action = if existed { "update" } else { "create" };
    let keys: Vec<String> = name.iter().cloned().collect();
    audit(place, actor, surface, path, action, &keys);
    let mut out = head(place);
    if let Some(name) = name {
        out.insert("name".into(), name.into());
    }
    out.insert("ok".into(), Value::Bool(true));
    out.insert("hash".into(), sha256_hex(content.as_bytes()).into());
    Ok(Value::Object(out))
}

/// Audits a delete that removed something and answers the head, `name` and whether it
/// existed (as `member`: 1.3.2 says `deleted` for subagents, `existed` for skills).
fn deleted(
    place: &Place,
    (actor, surface): (&str, &str),
    path: &Path,
    name: String,
    (existed, member): (bool, &str),
) -> Value {
    if existed {
        audit(
            place,
            actor,
            surface,
            path,
            "delete",
            std::slice::from_ref(&name),
        );
    }
    let mut out = head(place);
    out.insert("name".into(), name.into());
    out.insert(member.into(), existed.into());
    Value::Object(out)
}

pub async fn subagent_write(
    UrlPath(name): UrlPath<String>,
    write: Write,
) -> Result<Json<Value>, ApiError> {
    let check = |body: &Map<String, Value>| {
        if built_in(&name) {
            return Err(built_in_refusal(&name));
        }
        checked_name(Kind::Subagent, &name)?;
        let content = content_of(body, "content")?;
        check_named(Kind::Subagent, &name, &content)?;
        Ok((content, hash_of(body)?))
    };
    let name_for = name.clone();
    let what = (USER_PROJECT, "writing a subagent");
    write
        .run(what, check, move |place, (content, expected), actor| {
            let path = place.in_scope_dir(&format!("agents/{name_for}.md"))?;
            let doc = (content.as_str(), expected.as_deref());
            write_doc(place, (actor, "subagents"), &path, doc, Some(name_for))
        })
        .await
}

pub async fn subagent_delete(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    Query(query): Query<DocQuery>,
    extensions: Extensions,
) -> Result<Json<Value>, ApiError> {
    let check = |_: &Map<String, Value>| {
        if built_in(&name) {
            return Err(built_in_refusal(&name));
        }
        checked_name(Kind::Subagent, &name)
    };
    let name_for = name.clone();
    let write = Write::from_query(state, extensions, query_body(&query));
    let what = (USER_PROJECT, "deleting a subagent");
    write
        .run(what, check, move |place, (), actor| {
            let path = place.in_scope_dir(&format!("agents/{name_for}.md"))?;
            let existed = replace_doc(place, &path, None, None)?;
            let done = (existed, "deleted");
            Ok(deleted(place, (actor, "subagents"), &path, name_for, done))
        })
        .await
}

pub async fn skills_list(
    State(state): State<AppState>,
    Query(query): Query<DocQuery>,
) -> Result<Json<Value>, ApiError> {
    Route::new(&state, USER_PROJECT, "listing skills")
        .read(query.pair(), |place| {
            let dir = place.in_scope_dir("skills")?;
            let mut skills = Vec::new();
            for (name, path) in sorted_entries(&dir) {
                if !path.is_dir() {
                    continue;
                }
                let rel = format!("skills/{name}/{SKILL_FILE}");
                let mut item = describe(&path.join(SKILL_FILE), place, &rel);
                item.insert("name".into(), name.clone().into());
                let editable = front_matter::valid_skill_name(&name) && !item.contains_key("error");
                item.insert("editable".into(), editable.into());
                skills.push(Value::Object(item));
            }
            let mut out = head(place);
            out.insert("skills".into(), Value::Array(skills));
            Ok(Value::Object(out))
        })
        .await
}

fn skill_relative(relative: Option<&str>) -> Result<(), ApiError> {
    match relative {
        None | Some(SKILL_FILE) => Ok(()),
        Some(_) => Err(ApiError::invalid(
            "only a skill's SKILL.md is read or written here",
            Some("relative"),
        )),
    }
}

/// The `name` string of a skill request (422 without one), checked as a skill name (400).
fn skill_name(name: Option<&str>) -> Result<String, ApiError> {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Err(ApiError::invalid("'name' is required", Some("name")));
    };
    checked_name(Kind::Skill, name)?;
    Ok(name.to_owned())
}

pub async fn skill_file_read(
    State(state): State<AppState>,
    Query(query): Query<DocQuery>,
) -> Result<Json<Value>, ApiError> {
    let check = || {
        let name = skill_name(query.name.as_deref())?;
        skill_relative(query.relative.as_deref())?;
        Ok(name)
    };
    Route::new(&state, USER_PROJECT, "reading a skill")
        .read_checked(query.pair(), check, |place, name| {
            let doc = read_doc(&place.in_scope_dir(&format!("skills/{name}/{SKILL_FILE}"))?)?;
            let mut out = head(place);
            out.insert("name".into(), name.into());
            out.insert("relative".into(), SKILL_FILE.into());
            if doc.exists
                && let Err(e) = front_matter::parse(&doc.content)
            {
                out.insert("error".into(), e.into());
            }
            doc.answer(&mut out);
            Ok(Value::Object(out))
        })
        .await
}

/// `PUT skills {scope, project, confirm, name, files: {"SKILL.md": text}, hash}`.
pub async fn skill_write(write: Write) -> Result<Json<Value>, ApiError> {
    let check = |body: &Map<String, Value>| {
        let Some(name) = body.get("name").and_then(Value::as_str) else {
            return Err(ApiError::invalid(
                "body must include a 'name' string",
                Some("name"),
            ));
        };
        let name = skill_name(Some(name))?;
        let Some(Value::Object(files)) = body.get("files") else {
            return Err(ApiError::invalid(
                "body must include a 'files' object",
                Some("files"),
            ));
        };
        if files.keys().any(|k| k != SKILL_FILE) {
            return Err(ApiError::invalid(
                "only a skill's SKILL.md is written here; add scripts on the host",
                Some("files"),
            ));
        }
        let content = content_of(files, SKILL_FILE)?;
        check_named(Kind::Skill, &name, &content)?;
        Ok((name, content, hash_of(body)?))
    };
    let what = (USER_PROJECT, "writing a skill");
    write
        .run(what, check, |place, (name, content, expected), actor| {
            let path = place.in_scope_dir(&format!("skills/{name}/{SKILL_FILE}"))?;
            let doc = (content.as_str(), expected.as_deref());
            write_doc(place, (actor, "skills"), &path, doc, Some(name))
        })
        .await
}

/// `POST skills/delete {scope, project, confirm, name}`: the skill's directory.
pub async fn skill_delete(write: Write) -> Result<Json<Value>, ApiError> {
    let check = |body: &Map<String, Value>| match body.get("name").and_then(Value::as_str) {
        Some(name) => skill_name(Some(name)),
        None => Err(ApiError::invalid(
            "body must include a 'name' string",
            Some("name"),
        )),
    };
    let what = (USER_PROJECT, "deleting a skill");
    write
        .run(what, check, |place, name, actor| {
            let dir = place.in_scope_dir(&format!("skills/{name}"))?;
            let existed = match fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    fs::remove_file(&dir).map_err(|e| io_error("delete", &dir, &e))?;
                    true
                }
                // Never follows a link inside the directory (std's `remove_dir_all` does not).
                Ok(_) => {
                    fs::remove_dir_all(&dir).map_err(|e| io_error("delete", &dir, &e))?;
                    true
                }
                Err(_) => false,
            };
            Ok(deleted(
                place,
                (actor, "skills"),
                &dir,
                name,
                (existed, "existed"),
            ))
        })
        .await
}

fn claude_md_path(place: &Place) -> Result<PathBuf, ApiError> {
    match place.scope {
        Scope::User => Ok(place.claude_dir.join("CLAUDE.md")),
        Scope::Project => place.in_project("CLAUDE.md"),
        Scope::Local => place.in_project(LOCAL_CLAUDE_MD),
    }
}

pub async fn claude_md_read(
    State(state): State<AppState>,
    Query(query): Query<DocQuery>,
) -> Result<Json<Value>, ApiError> {
    Route::new(&state, ALL, "reading CLAUDE.md")
        .read(query.pair(), |place| {
            let doc = read_doc(&claude_md_path(place)?)?;
            let mut out = head(place);
            doc.answer(&mut out);
            Ok(Value::Object(out))
        })
        .await
}

/// `PUT claude-md {scope, project, confirm, content, hash?}`. A Local write first makes the
/// project's `.gitignore` cover `CLAUDE.local.md` (1.3.2, Claude Code's own convention).
pub async fn claude_md_write(write: Write) -> Result<Json<Value>, ApiError> {
    let check = |body: &Map<String, Value>| Ok((content_of(body, "content")?, hash_of(body)?));
    let what = (ALL, "writing CLAUDE.md");
    write
        .run(what, check, |place, (content, expected), actor| {
            let path = claude_md_path(place)?;
            if place.scope == Scope::Local {
                place.ensure_gitignored(&[LOCAL_CLAUDE_MD])?;
            }
            let doc = (content.as_str(), expected.as_deref());
            write_doc(place, (actor, "claude-md"), &path, doc, None)
        })
        .await
}
