//! The CLAUDE.md editor (data.md §2): `GET/PUT /api/projects/{name}/claude-md` with the path
//! rules of security.md §7.3, the trust gate, the size cap, the sha256 lost-update guard, an
//! atomic write that keeps the file's mode, and the JSON-lines audit log with rotation.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::PoisonError;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clauster_core::claude_json;
use clauster_wire::{ClaudeMdConflict, ClaudeMdDoc};
use sha2::{Digest as _, Sha256};

use crate::control::ViaControlSocket;
use crate::error::ApiError;
use crate::http::{JsonObject, ProjectParam, ProjectRejection};
use crate::projects::Discovered;
use crate::state::AppState;

/// The largest PUT body (security.md §7.2): room for 64 KiB of content escaped as JSON.
pub const BODY_LIMIT: usize = 512 << 10;

/// The content cap of data.md §2, in bytes of UTF-8.
pub const MAX_CONTENT_BYTES: usize = 65_536;

/// The largest file on disk whose hash a lost-update check computes (in chunks); a larger one
/// has no hash, so a guarded write over it is a conflict.
const CONFLICT_HASH_MAX_BYTES: u64 = 64 << 20;

/// The audit log is rotated before it would grow past this.
const AUDIT_MAX_BYTES: u64 = 5 << 20;

/// Rotated audit logs kept: `.1` … `.5`.
const AUDIT_KEEP: u64 = 5;

const FILE_NAME: &str = "CLAUDE.md";

/// Where the project's CLAUDE.md is, once the path rules passed.
#[derive(Debug)]
struct Target {
    /// The file to read and replace (links resolved).
    path: PathBuf,
    /// The canonical project directory, where the temp file goes.
    dir: PathBuf,
    exists: bool,
}

/// The current file: its text and hash, or `None` when missing.
type Current = Option<(String, String)>;

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// security.md §7.3: `<project>/CLAUDE.md`, whose canonical path must sit directly in the
/// canonical project directory under the same name, and be a regular file.
fn resolve_target(project: &Discovered) -> Result<Target, ApiError> {
    let outside = || ApiError::invalid("CLAUDE.md resolves outside the project directory", None);
    let path = project.path.join(FILE_NAME);
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Target {
                path: project.canonical.join(FILE_NAME),
                dir: project.canonical.clone(),
                exists: false,
            });
        }
        Err(e) => return Err(io_error("read", &e)),
        Ok(_) => {}
    }
    // A dangling or looping link resolves nowhere inside the project either.
    let canonical = fs::canonicalize(&path).map_err(|_| outside())?;
    if canonical.parent() != Some(project.canonical.as_path())
        || canonical.file_name() != Some(FILE_NAME.as_ref())
    {
        return Err(outside());
    }
    let meta = fs::metadata(&canonical).map_err(|e| io_error("read", &e))?;
    if !meta.is_file() {
        return Err(ApiError::invalid("CLAUDE.md is not a regular file", None));
    }
    Ok(Target {
        path: canonical,
        dir: project.canonical.clone(),
        exists: true,
    })
}

fn io_error(verb: &str, err: &io::Error) -> ApiError {
    ApiError::invalid(format!("could not {verb} CLAUDE.md: {err}"), None)
}

/// Reads the target: `None` when missing, 422 when not UTF-8 or not a regular file, 413 when
/// over the cap (issue 16 §2: never read further than the cap, so a planted giant costs
/// nothing).
fn read_current(target: &Target) -> Result<Current, ApiError> {
    use crate::bounded_read::{Refused, read_regular};
    if !target.exists {
        return Ok(None);
    }
    let bytes = match read_regular(&target.path, MAX_CONTENT_BYTES as u64) {
        Ok(bytes) => bytes,
        Err(Refused::Missing) => return Ok(None),
        Err(Refused::NotRegular) => {
            return Err(ApiError::invalid("CLAUDE.md is not a regular file", None));
        }
        Err(Refused::TooLarge { size, cap }) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("CLAUDE.md is {size} bytes, over the {cap} byte cap"),
            ));
        }
        Err(Refused::Io(e)) => return Err(io_error("read", &e)),
    };
    let hash = sha256_hex(&bytes);
    let text = String::from_utf8(bytes)
        .map_err(|_| ApiError::invalid("CLAUDE.md is not valid UTF-8", None))?;
    Ok(Some((text, hash)))
}

fn doc(current: Current, bridge_running: bool) -> ClaudeMdDoc {
    match current {
        None => ClaudeMdDoc {
            exists: false,
            content: String::new(),
            sha256: None,
            size: 0,
            bridge_running,
        },
        Some((content, sha256)) => ClaudeMdDoc {
            exists: true,
            size: content.len() as u64,
            content,
            sha256: Some(sha256),
            bridge_running,
        },
    }
}

/// A running instance of the project. (External sessions need the agents poll, which this
/// server does not run yet.)
async fn bridge_running(state: &AppState, name: &str) -> bool {
    // While the engine is still rediscovering, asking it would hold the answer up to 10 s.
    if !state.engine().is_ready() {
        return false;
    }
    state.engine().list().await.is_ok_and(|all| {
        all.iter()
            .any(|i| i.project == name && i.status == "running")
    })
}

pub async fn read(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    project: Result<ProjectParam, ProjectRejection>,
) -> Result<Response, ApiError> {
    // 1.3.2 answers an invalid name here as an unknown project.
    let ProjectParam(project) = project.map_err(|r| r.invalid_as_unknown(&name))?;
    let current = tokio::task::spawn_blocking(move || read_current(&resolve_target(&project)?))
        .await
        .map_err(|_| ApiError::internal("reading CLAUDE.md panicked; see the server log"))??;
    let running = bridge_running(&state, &name).await;
    Ok(Json(doc(current, running)).into_response())
}

/// The PUT body after the shape gate: content with line ends normalised to LF.
#[derive(Debug)]
struct WriteRequest {
    content: String,
    base: Base,
}

/// What the writer saw when it loaded the file: `base_sha256` absent (no check), `null`
/// (no file: the GET's `sha256` of a missing file), or the file's hash (data.md §2 step 7).
#[derive(Debug, PartialEq, Eq)]
enum Base {
    Unchecked,
    NoFile,
    Hash(String),
}

impl Base {
    /// Whether the file as it is now (`current`: its hash, `None` when missing) is what the
    /// writer saw.
    fn matches(&self, current: Option<&str>) -> bool {
        match self {
            Self::Unchecked => true,
            Self::NoFile => current.is_none(),
            Self::Hash(hash) => current == Some(hash.as_str()),
        }
    }
}

fn parse_write(body: &[u8]) -> Result<WriteRequest, ApiError> {
    let fields = JsonObject::parse(body)?;
    let Some(content) = fields.string("content")? else {
        return Err(ApiError::invalid(
            "content must be a string",
            Some("content"),
        ));
    };
    let base = match fields.string("base_sha256")? {
        Some(hash) => Base::Hash(hash),
        None if fields.fields().contains_key("base_sha256") => Base::NoFile,
        None => Base::Unchecked,
    };
    if content.contains('\0') {
        return Err(ApiError::invalid(
            "content must not contain NUL characters",
            Some("content"),
        ));
    }
    Ok(WriteRequest {
        content: content.replace("\r\n", "\n").replace('\r', "\n"),
        base,
    })
}

/// Who made the request, for the audit line.
pub(crate) fn actor(via_socket: bool) -> &'static str {
    // Bearer tokens and forward-auth are not served yet: every TCP request is the admin.
    if via_socket { "cli" } else { "admin" }
}

pub async fn write(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    project: Result<ProjectParam, ProjectRejection>,
    socket: Option<axum::Extension<ViaControlSocket>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body =
        body.map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"))?;
    let request = parse_write(&body)?;
    let ProjectParam(project) = project.map_err(|r| r.invalid_as_unknown(&name))?;
    let global_file = state.claude_global_file().to_owned();
    let state_dir = state.config().state_dir.clone();
    let actor = actor(socket.is_some());
    let outcome = tokio::task::spawn_blocking(move || {
        write_blocking(&project, &global_file, &state_dir, request, actor)
    })
    .await
    .map_err(|_| ApiError::internal("writing CLAUDE.md panicked; see the server log"))??;
    let written = match outcome {
        Written::Conflict(current_sha256) => {
            let body = ClaudeMdConflict {
                detail: "CLAUDE.md changed on disk since it was loaded".into(),
                current_sha256,
            };
            return Ok((StatusCode::CONFLICT, Json(body)).into_response());
        }
        Written::Done(current) => current,
    };
    // The `has_claude_md` chip may have changed.
    state.invalidate_projects();
    let refreshed = crate::projects::projects_blocking(state.clone()).await;
    if let Some(card) = refreshed
        .ok()
        .and_then(|all| all.into_iter().find(|p| p.name == name))
    {
        let frame = crate::preflight::project_frame(&state, card).await;
        state.engine().publish(frame);
    }
    let running = bridge_running(&state, &name).await;
    Ok(Json(doc(Some(written), running)).into_response())
}

#[derive(Debug)]
enum Written {
    Done((String, String)),
    /// The lost-update guard tripped: the hash on disk now.
    Conflict(Option<String>),
}

fn write_blocking(
    project: &Discovered,
    global_file: &Path,
    state_dir: &Path,
    request: WriteRequest,
    actor: &str,
) -> Result<Written, ApiError> {
    let target = resolve_target(project)?;
    let trusted = claude_json::TrustState::Trusted
        == crate::trust::load_trusted(global_file)
            .state(&project.canonical, project.path.join(".git").exists());
    if !trusted {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} is not a trusted directory", project.canonical.display()),
        ));
    }
    let size = request.content.len();
    if size > MAX_CONTENT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("CLAUDE.md is {size} bytes, over the {MAX_CONTENT_BYTES} byte cap"),
        ));
    }
    let mutex = crate::claude_files::process_mutex(&target.path);
    let _in_process = mutex.lock().unwrap_or_else(PoisonError::into_inner);
    let lock_file = crate::claude_files::open_lock_file(state_dir, &target.path)
        .map_err(|e| io_error("lock", &e))?;
    lock_file.lock().map_err(|e| io_error("lock", &e))?;

    // Re-checked under the lock: the file may have appeared or gone meanwhile.
    let target = resolve_target(project)?;
    let before = read_current(&target);
    let current_hash = match &before {
        Ok(current) => current.as_ref().map(|(_, hash)| hash.clone()),
        // Not UTF-8 or over the cap on disk: still a file with a hash, read in chunks.
        Err(_) => crate::bounded_read::sha256_of_regular(&target.path, CONFLICT_HASH_MAX_BYTES),
    };
    if !request.base.matches(current_hash.as_deref()) {
        return Ok(Written::Conflict(current_hash));
    }
    replace(&target, request.content.as_bytes()).map_err(|e| io_error("write", &e))?;
    let hash = sha256_hex(request.content.as_bytes());
    let action = if current_hash.is_some() {
        "update"
    } else {
        "create"
    };
    audit(state_dir, actor, &target.path, action, size, &hash);
    Ok(Written::Done((request.content, hash)))
}

/// Writes `.CLAUDE.md.<random>.tmp` next to the target, fsyncs it and renames it over the
/// target ([`clauster_pty::atomic_write::stage`]); an existing file keeps its mode. The temp
/// file is removed on failure.
fn replace(target: &Target, bytes: &[u8]) -> io::Result<()> {
    let mode = if target.exists {
        Some(fs::metadata(&target.path)?.permissions().mode() & 0o7777)
    } else {
        None
    };
    let staged = clauster_pty::atomic_write::stage(&target.path, bytes, mode)?;
    staged.persist(&target.path).map_err(|err| err.error)?;
    if let Ok(dir) = File::open(&target.dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Appends one JSON line to `<state_dir>/config_audit.log` (0600), rotating first when it
/// would pass 5 MiB. Best effort: a failure is logged, the write stands.
fn audit(state_dir: &Path, actor: &str, target: &Path, action: &str, size: usize, sha256: &str) {
    let line = serde_json::json!({
        "ts": crate::time::now_rfc3339(),
        "actor": actor,
        "surface": "claude-md",
        "scope": "project",
        "target": target.to_string_lossy(),
        "action": action,
        "size": size,
        "sha256": sha256,
    });
    let mut text = line.to_string();
    text.push('\n');
    if let Err(err) = append_audit(&state_dir.join("config_audit.log"), text.as_bytes()) {
        tracing::warn!("could not append to the config audit log: {err}");
    }
}

/// Appends `line` to the audit log `log`, rotating first (shared with the settings editor).
pub(crate) fn append_audit(log: &Path, line: &[u8]) -> io::Result<()> {
    if let Some(dir) = log.parent() {
        fs::create_dir_all(dir)?;
    }
    let len = fs::symlink_metadata(log).map_or(0, |m| m.len());
    if len > 0 && len + line.len() as u64 > AUDIT_MAX_BYTES {
        rotate(log)?;
    }
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(log)?;
    file.write_all(line)
}

/// `.4` → `.5` (the old `.5` is dropped), …, `.1` → `.2`, current → `.1`.
fn rotate(log: &Path) -> io::Result<()> {
    crate::log_rotation::rotate_by_rename(log, AUDIT_KEEP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_shifts_every_generation_and_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("config_audit.log");
        for n in 1..=5 {
            fs::write(
                dir.path().join(format!("config_audit.log.{n}")),
                format!("gen{n}"),
            )
            .unwrap();
        }
        fs::write(
            &log,
            vec![b'x'; usize::try_from(AUDIT_MAX_BYTES).unwrap() - 10],
        )
        .unwrap();
        append_audit(&log, b"{\"a\":1}\n{\"b\":2}\n").unwrap();
        assert_eq!(fs::read_to_string(&log).unwrap(), "{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(
            fs::metadata(&log).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let one = fs::read(dir.path().join("config_audit.log.1")).unwrap();
        assert_eq!(one.len(), usize::try_from(AUDIT_MAX_BYTES).unwrap() - 10);
        for n in 2..=5 {
            let text =
                fs::read_to_string(dir.path().join(format!("config_audit.log.{n}"))).unwrap();
            assert_eq!(text, format!("gen{}", n - 1));
        }
        assert!(!dir.path().join("config_audit.log.6").exists());
        // Below the cap, lines are simply appended.
        append_audit(&log, b"{}\n").unwrap();
        assert!(fs::read_to_string(&log).unwrap().ends_with("{}\n"));
    }

    #[test]
    fn write_bodies_are_shape_checked_and_normalised() {
        let bad = [
            (&b"[]"[..], "request body must be a JSON object"),
            (b"{\"content\": 5}", "content must be a string"),
            (b"{}", "content must be a string"),
            (
                b"{\"content\": \"x\", \"base_sha256\": 1}",
                "base_sha256 must be a string",
            ),
            (
                b"{\"content\": \"a\\u0000b\"}",
                "content must not contain NUL characters",
            ),
        ];
        for (body, detail) in bad {
            let err = parse_write(body).unwrap_err();
            assert_eq!(err.detail(), detail);
        }
        let ok = parse_write(b"{\"content\": \"a\\r\\nb\\rc\\n\", \"base_sha256\": null}").unwrap();
        assert_eq!(ok.content, "a\nb\nc\n");
        assert_eq!(ok.base, Base::NoFile);
        let unchecked = parse_write(b"{\"content\": \"a\"}").unwrap();
        assert_eq!(unchecked.base, Base::Unchecked);
        let hash = parse_write(b"{\"content\": \"a\", \"base_sha256\": \"ab\"}").unwrap();
        assert_eq!(hash.base, Base::Hash("ab".to_owned()));
    }

    #[test]
    fn a_base_matches_only_the_file_it_names() {
        let hash = Base::Hash("ab".to_owned());
        assert!(Base::Unchecked.matches(None) && Base::Unchecked.matches(Some("cd")));
        assert!(Base::NoFile.matches(None) && !Base::NoFile.matches(Some("ab")));
        assert!(hash.matches(Some("ab")) && !hash.matches(Some("cd")) && !hash.matches(None));
    }
}
