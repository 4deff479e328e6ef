//! The settings editor (config.md §8, http-api.md §3.4): `GET/PUT /api/config` over the
//! basic allowlist and `GET/PUT /api/config/advanced` over the advanced one, behind
//! `config_write.enabled` and the step-up re-authentication.
//!
//! The core decides what may be read and written and edits the text; this module does the
//! IO: it reads `clauster.yml` (hash = sha256 of its bytes), validates the edited text with
//! the loader and the inputs the server started with, writes it atomically (keeping a
//! symlinked file's link and the file's mode, after a `.bak-<time>` copy), audits the keys
//! (never their values) and applies the keys that apply live to the running server.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clauster_core::config::editor::{self, Field, Kind, Tier};
use clauster_core::config::{self, Config, ConfigInput};
use clauster_wire::{ConfigSaved, ConfigView, FieldSpec, Frame, MapKey};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::auth::elevation::Elevated;
use crate::control::ViaControlSocket;
use crate::error::ApiError;
use crate::http::JsonObject;
use crate::state::AppState;

/// 1.3.2's refusal when there is no file to edit (the built-in defaults are running).
const NO_SOURCE: &str = "config has no on-disk source to edit";
/// The file this editor will read and write at most (a real one is a few KiB).
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// `.bak-<time>` copies kept beside the file.
const BACKUPS_KEPT: usize = 5;

/// The editor's service: the file the configuration came from and what it was read with.
#[derive(Debug)]
pub struct ConfigEditor {
    file: Option<PathBuf>,
    input: ConfigInput,
    /// One save at a time, so two saves cannot both pass the hash check.
    writing: tokio::sync::Mutex<()>,
}

impl ConfigEditor {
    pub fn new(file: Option<PathBuf>, input: ConfigInput) -> Self {
        Self {
            file,
            input,
            writing: tokio::sync::Mutex::new(()),
        }
    }
}

impl AppState {
    fn config_editor(&self) -> &ConfigEditor {
        self.feature()
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/config", get(get_basic).put(put_basic))
        .route("/api/config/advanced", get(get_advanced).put(put_advanced))
}

/// The advanced list exists only with `config_write.enabled` (404 otherwise, whoever
/// asks), then only for an elevated caller.
fn advanced_gate(state: &AppState, extensions: &Extensions) -> Result<(), ApiError> {
    if !state.config().config_write.enabled {
        return Err(ApiError::not_found("Not Found"));
    }
    Elevated::of(extensions).map(drop)
}

async fn get_basic(State(state): State<AppState>) -> Result<Response, ApiError> {
    view(state, Tier::Basic).await
}

async fn get_advanced(
    State(state): State<AppState>,
    extensions: Extensions,
) -> Result<Response, ApiError> {
    advanced_gate(&state, &extensions)?;
    view(state, Tier::Advanced).await
}

async fn put_basic(
    State(state): State<AppState>,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    save(state, Tier::Basic, &extensions, body).await
}

async fn put_advanced(
    State(state): State<AppState>,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    advanced_gate(&state, &extensions)?;
    save(state, Tier::Advanced, &extensions, body).await
}

/// What the file holds now: its text and hash, or why it could not be read.
struct OnDisk {
    text: String,
    hash: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Reads the file (a regular file, at most [`MAX_FILE_BYTES`], UTF-8), following a link to
/// where it points.
fn read_file(path: &Path) -> io::Result<OnDisk> {
    let meta = fs::metadata(path)?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(io::Error::other(format!(
            "larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    let bytes = fs::read(path)?;
    let hash = sha256_hex(&bytes);
    let text = String::from_utf8(bytes).map_err(|_| io::Error::other("not UTF-8"))?;
    Ok(OnDisk { text, hash })
}

fn load_text(input: &ConfigInput, path: &Path, text: &str) -> Result<Config, config::ConfigError> {
    config::load(&ConfigInput {
        text: Some(text.to_owned()),
        source_name: path.display().to_string(),
        ..input.clone()
    })
    .map(|loaded| loaded.config)
}

async fn view(state: AppState, tier: Tier) -> Result<Response, ApiError> {
    let view = tokio::task::spawn_blocking(move || view_blocking(&state, tier))
        .await
        .map_err(|_| ApiError::internal("reading clauster.yml panicked; see the server log"))?;
    Ok(Json(view).into_response())
}

/// The values on disk when the file reads and validates (a save shows at once, whether it
/// applies live or not), else the running ones; `hash` only when there is a file.
fn view_blocking(state: &AppState, tier: Tier) -> ConfigView {
    let editor = state.config_editor();
    let running = state.config();
    let on_disk = editor.file.as_deref().and_then(|path| {
        read_file(path)
            .map_err(|err| {
                tracing::debug!("the settings editor cannot read {}: {err}", path.display());
            })
            .ok()
            .map(|disk| (path, disk))
    });
    let (config, hash, present) = match &on_disk {
        Some((path, disk)) => {
            let loaded = config::load_lenient(&ConfigInput {
                text: Some(disk.text.clone()),
                source_name: path.display().to_string(),
                ..editor.input.clone()
            })
            .map_or_else(
                |_| Arc::clone(&running),
                |(loaded, _)| Arc::new(loaded.config),
            );
            (
                loaded,
                Some(disk.hash.clone()),
                editor::present(&disk.text, tier),
            )
        }
        None => (Arc::clone(&running), None, None),
    };
    let fields = tier
        .fields()
        .iter()
        .filter_map(|f| Some((f.key.to_owned(), editor::value(&config, f.key)?)))
        .collect();
    let docs = config::reference();
    let specs: std::collections::BTreeMap<String, FieldSpec> = tier
        .fields()
        .iter()
        .map(|f| {
            let doc = docs.iter().find(|d| d.key == f.key);
            (f.key.to_owned(), spec(f, doc, present.as_ref()))
        })
        .collect();
    let editable = tier
        .fields()
        .iter()
        .filter(|f| !specs.get(f.key).is_some_and(|s| s.hidden))
        .map(|f| f.key.to_owned())
        .collect();
    ConfigView {
        fields,
        editable,
        specs,
        hash,
    }
}

fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn spec(
    field: &Field,
    doc: Option<&config::KeyDoc>,
    present: Option<&std::collections::BTreeSet<&'static str>>,
) -> FieldSpec {
    let (section, section_label) = field.section();
    let key = field
        .key
        .strip_prefix(section)
        .and_then(|k| k.strip_prefix('.'))
        .unwrap_or(field.key);
    let mut spec = FieldSpec {
        key: key.to_owned(),
        section: section.to_owned(),
        section_label: section_label.to_owned(),
        label: field.label.to_owned(),
        kind: field.kind.name().to_owned(),
        choices: None,
        // `api.openapi_enabled` is documented among the ignored keys' variables, but read.
        description: doc
            .map(|d| d.rule.clone())
            .filter(|rule| !rule.starts_with("accepted and ignored"))
            .unwrap_or_else(|| {
                if field.kind == Kind::Bool {
                    "a boolean".to_owned()
                } else {
                    String::new()
                }
            }),
        default: doc.map(|d| d.default.clone()).unwrap_or_default(),
        deprecated: field.deprecated,
        // Fail open: a file that does not parse hides nothing.
        hidden: field.deprecated && present.is_some_and(|keys| !keys.contains(field.key)),
        is_group: matches!(field.kind, Kind::List | Kind::EventMap),
        min: None,
        max: None,
        exclusive_min: None,
        step: None,
        nullable: false,
        item_type: None,
        map_keys: None,
        applies_live: field.live,
    };
    match field.kind {
        Kind::Int { min, max, optional } => {
            spec.min = Some(min.into());
            spec.max = max.map(Into::into);
            spec.step = Some(1.into());
            spec.nullable = optional;
        }
        Kind::Float {
            min,
            exclusive,
            max,
        } => {
            spec.min = Some(number(min));
            spec.exclusive_min = exclusive.then(|| number(min));
            spec.max = max.map(number);
            spec.step = Some("any".into());
        }
        Kind::Choice(words) => {
            spec.choices = Some(words.iter().map(|w| (*w).to_owned()).collect());
        }
        Kind::Text { optional } => spec.nullable = optional,
        Kind::List => spec.item_type = Some("str".to_owned()),
        Kind::EventMap => {
            spec.map_keys = Some(
                editor::event_keys()
                    .into_iter()
                    .map(|(key, default)| MapKey {
                        key: key.to_owned(),
                        default,
                    })
                    .collect(),
            );
        }
        Kind::Bool => {}
    }
    spec
}

/// The PUT body after the shape and allowlist checks.
struct Edits {
    edits: Vec<(&'static Field, Value)>,
    hash: String,
}

/// `{"edits": {key: value, …}, "hash": "…"}`: 422 for a missing or mistyped member or no
/// edits, 400 naming the first key outside `tier`'s list.
fn parse_edits(body: &[u8], tier: Tier) -> Result<Edits, ApiError> {
    let fields = JsonObject::parse(body)?;
    let edits = match fields.fields().get("edits") {
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(ApiError::invalid(
                "edits must be an object of dotted keys to values",
                Some("edits"),
            ));
        }
        None => return Err(ApiError::invalid("edits is required", Some("edits"))),
    };
    // `null` is what the GET gives when there is no file: no file's hash matches it, so
    // the save answers 409 (no file to edit, or the file changed meanwhile).
    let hash = if fields.fields().get("hash") == Some(&Value::Null) {
        Some(String::new())
    } else {
        fields.string("hash")?
    };
    let Some(hash) = hash else {
        return Err(ApiError::invalid(
            "hash is required: send the hash of the GET this edit is based on",
            Some("hash"),
        ));
    };
    if edits.is_empty() {
        return Err(ApiError::invalid(
            "edits must name at least one key",
            Some("edits"),
        ));
    }
    let mut out = Vec::with_capacity(edits.len());
    for (key, value) in edits {
        let Some(field) = tier.field(key) else {
            let shown: String = key.chars().take(100).collect();
            let list = match tier {
                Tier::Basic => "GET /api/config",
                Tier::Advanced => "GET /api/config/advanced",
            };
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{shown:?} is not an editable setting here; {list} lists those that are"),
            ));
        };
        out.push((field, value.clone()));
    }
    Ok(Edits { edits: out, hash })
}

/// Who made the request, for the audit line.
fn actor(extensions: &Extensions) -> String {
    if extensions.get::<ViaControlSocket>().is_some() {
        return "cli".to_owned();
    }
    match extensions.get::<crate::auth::Caller>() {
        Some(crate::auth::Caller::Proxy { user }) => format!("proxy:{user}"),
        Some(crate::auth::Caller::Bearer) => "token".to_owned(),
        _ => "admin".to_owned(),
    }
}

async fn save(
    state: AppState,
    tier: Tier,
    extensions: &Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body =
        body.map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"))?;
    let request = parse_edits(&body, tier)?;
    let mut rendered = Vec::with_capacity(request.edits.len());
    for (field, value) in &request.edits {
        let new = editor::check(field, value).map_err(|m| ApiError::invalid(m, Some(field.key)))?;
        rendered.push((field.key.to_owned(), new));
    }
    let Some(path) = state.config_editor().file.clone() else {
        return Err(ApiError::new(StatusCode::CONFLICT, NO_SOURCE));
    };
    let actor = actor(extensions);
    let _one_at_a_time = state.config_editor().writing.lock().await;
    let worker = state.clone();
    let (saved, loaded) = tokio::task::spawn_blocking(move || {
        save_blocking(&worker, tier, &path, &request.hash, &rendered, &actor)
    })
    .await
    .map_err(|_| ApiError::internal("saving clauster.yml panicked; see the server log"))??;
    let saved = apply_live(&state, &loaded, saved);
    Ok(Json(saved).into_response())
}

fn save_blocking(
    state: &AppState,
    tier: Tier,
    path: &Path,
    base_hash: &str,
    edits: &[(String, editor::NewValue)],
    actor: &str,
) -> Result<(ConfigSaved, Config), ApiError> {
    // Write where a symlinked file points, so the link stays a link.
    let target = fs::canonicalize(path).map_err(|err| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "{} cannot be read ({err}); restore it, then reload the editor",
                path.display()
            ),
        )
    })?;
    let disk = read_file(&target).map_err(|err| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!("{} cannot be edited here: {err}", path.display()),
        )
    })?;
    if disk.hash != base_hash {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "clauster.yml changed on disk since it was loaded; reload to see the new file, or \
             save again over it",
        ));
    }
    let text = editor::yaml_edit::apply(&disk.text, edits)
        .map_err(|err| ApiError::new(StatusCode::CONFLICT, err.to_string()))?;
    let input = &state.config_editor().input;
    let loaded = load_text(input, path, &text).map_err(|err| {
        ApiError::invalid(
            format!("the edited configuration is not valid: {err}"),
            edits.first().map(|(k, _)| k.as_str()),
        )
    })?;
    backup(&target, disk.text.as_bytes());
    replace(&target, text.as_bytes()).map_err(|err| {
        let hint = match err.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => "free some disk space",
            _ => "check the directory's permissions",
        };
        ApiError::internal(format!(
            "could not write {}: {err}; {hint}",
            target.display()
        ))
    })?;
    let hash = sha256_hex(text.as_bytes());
    let keys: Vec<&str> = edits.iter().map(|(k, _)| k.as_str()).collect();
    audit(state, tier, actor, &target, &keys, &hash);
    let live: Vec<String> = edits
        .iter()
        .filter(|(k, _)| tier.field(k).is_some_and(|f| f.live))
        .map(|(k, _)| k.clone())
        .collect();
    let restart_required = live.len() < edits.len();
    Ok((
        ConfigSaved {
            hash,
            applied_live: live,
            restart_required,
        },
        loaded,
    ))
}

/// Puts the saved keys that apply live into the running configuration and tells open pages
/// (a `settings` frame) and the notification filter.
fn apply_live(state: &AppState, loaded: &Config, saved: ConfigSaved) -> ConfigSaved {
    if saved.applied_live.is_empty() {
        return saved;
    }
    let mut next = (*state.config()).clone();
    for key in &saved.applied_live {
        editor::copy_live(&mut next, loaded, key);
    }
    let context = crate::context::page_context(&next, true);
    let filter = next.notifications.filter;
    state.swap_config(Arc::new(next), context.clone());
    state.notify().set_people(filter);
    state.engine().publish(Frame::Settings {
        usage: context.usage,
        metrics: context.metrics,
    });
    saved
}

/// Copies the file to `<name>.bak-<UTC time>` (0600) and keeps the newest
/// [`BACKUPS_KEPT`]. Best effort: a failure is logged, the save goes on.
fn backup(target: &Path, bytes: &[u8]) {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return;
    };
    let name = name.to_string_lossy();
    let stamp: String = crate::time::now_rfc3339()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let copy = dir.join(format!("{name}.bak-{stamp}"));
    if let Err(err) = clauster_pty::atomic_write::write_private(&copy, bytes) {
        tracing::warn!(
            "could not back up {} before a save: {err}",
            target.display()
        );
        return;
    }
    let prefix = format!("{name}.bak-");
    let mut copies: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    copies.sort();
    let excess = copies.len().saturating_sub(BACKUPS_KEPT);
    for old in copies.into_iter().take(excess) {
        let _ = fs::remove_file(old);
    }
}

/// Stages the new bytes next to the file and renames them over it, keeping its mode.
fn replace(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let mode = fs::metadata(target)?.permissions().mode() & 0o7777;
    let staged = clauster_pty::atomic_write::stage(target, bytes, Some(mode))?;
    staged.persist(target).map_err(|err| err.error)?;
    if let Some(dir) = target.parent()
        && let Ok(dir) = fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// One `config_audit.log` line per save: the keys, never their values.
fn audit(state: &AppState, tier: Tier, actor: &str, target: &Path, keys: &[&str], hash: &str) {
    let line = serde_json::json!({
        "ts": crate::time::now_rfc3339(),
        "actor": actor,
        "surface": match tier {
            Tier::Basic => "config",
            Tier::Advanced => "config-advanced",
        },
        "scope": "clauster",
        "target": target.to_string_lossy(),
        "action": "update",
        "keys": keys,
        "sha256": hash,
    });
    let mut text = line.to_string();
    text.push('\n');
    let log = state.config().state_dir.join("config_audit.log");
    if let Err(err) = crate::claude_md::append_audit(&log, text.as_bytes()) {
        tracing::warn!("could not append to the config audit log: {err}");
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    /// What the form is told about every key of both lists: type, range, choices, the rule
    /// in the loader's words, the default, whether it applies live.
    #[test]
    fn every_field_spec() {
        let docs = config::reference();
        let mut out = String::new();
        for tier in [Tier::Basic, Tier::Advanced] {
            for field in tier.fields() {
                let doc = docs.iter().find(|d| d.key == field.key);
                let spec = spec(field, doc, None);
                let _ = writeln!(
                    out,
                    "{} {}",
                    field.key,
                    serde_json::to_string(&spec).expect("a spec serialises")
                );
            }
        }
        insta::assert_snapshot!(out);
    }

    /// A deprecated key the file does not spell out is hidden; one it does, or a file that
    /// did not parse (`None`), is shown.
    #[test]
    fn a_deprecated_key_is_hidden_only_when_the_file_lacks_it() {
        let field = Tier::Basic.field("usage.show_cost").expect("listed");
        let lacks = std::collections::BTreeSet::from(["usage.fx_rate"]);
        let has = std::collections::BTreeSet::from(["usage.show_cost"]);
        assert!(spec(field, None, Some(&lacks)).hidden);
        assert!(!spec(field, None, Some(&has)).hidden);
        assert!(!spec(field, None, None).hidden);
    }

    #[test]
    fn edit_bodies_are_shape_and_allowlist_checked() {
        let refusal = |body: &[u8], tier| match parse_edits(body, tier) {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("{} {}", e.status().as_u16(), e.detail()),
        };
        let out = [
            (
                &br#"{"edits": {"usage.fx_rate": 2}, "hash": "h"}"#[..],
                Tier::Basic,
            ),
            (
                br#"{"edits": {"usage.fx_rate": 2}, "hash": "h"}"#,
                Tier::Advanced,
            ),
            (
                br#"{"edits": {"clone.max_mb": 2}, "hash": "h"}"#,
                Tier::Advanced,
            ),
            (
                br#"{"edits": {"auth.password_hash": "x"}, "hash": "h"}"#,
                Tier::Basic,
            ),
            (br#"{"edits": {}, "hash": "h"}"#, Tier::Basic),
            (
                br#"{"edits": {"usage.fx_rate": 2}, "hash": 5}"#,
                Tier::Basic,
            ),
            (br#"{"edits": "usage.fx_rate=2", "hash": "h"}"#, Tier::Basic),
            (b"[]", Tier::Basic),
        ]
        .iter()
        .map(|(body, tier)| {
            format!(
                "{} -> {}",
                String::from_utf8_lossy(body),
                refusal(body, *tier)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
        insta::assert_snapshot!(out);
    }
}
