//! Sessions, background agents and adoption (http-api.md §6, bridges.md §9.6, §17).

use std::path::PathBuf;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clauster_core::claude_json::TrustState;
use clauster_core::modes::PermissionMode;
use clauster_core::names::{ProjectName, echo, has_invisible_characters};
use clauster_core::sanitize::sanitize_text;
use serde::Deserialize;
use serde_json::json;

use crate::bridge_env;
use crate::error::ApiError;
use crate::http::{ApiAndV1, JsonObject};
use crate::probe;
use crate::state::AppState;
use crate::trust;
use axum::Router;
use axum::routing::{delete, get, post};

const DISPATCH_TIMEOUT: Duration = Duration::from_mins(1);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sessions, background agents and adoption.
pub fn routes() -> Router<AppState> {
    Router::new()
        .api_and_v1("/sessions", get(external))
        .api_and_v1("/sessions/tracked", get(tracked))
        .route("/api/sessions/all", get(all))
        .api_and_v1("/sessions/adoptable", get(adoptable))
        .api_and_v1("/agents", get(list_agents).post(dispatch))
        .api_and_v1("/agents/{job_id}", delete(stop_agent))
        .api_and_v1("/agents/{job_id}/resume", post(resume_agent))
        .route("/api/projects/{name}/adopt", post(adopt))
}

/// `GET /api/sessions`: external sessions by project.
pub async fn external(State(state): State<AppState>) -> Response {
    Json(&state.engine().sessions().view.external).into_response()
}

/// `GET /api/sessions/tracked`: the live sessions inside each managed bridge.
pub async fn tracked(State(state): State<AppState>) -> Response {
    Json(&state.engine().sessions().view.tracked).into_response()
}

/// `?poll=1` of `GET /api/sessions/all`.
#[derive(Debug, Default, Deserialize)]
pub struct AllQuery {
    #[serde(default)]
    poll: Option<String>,
}

/// `GET /api/sessions/all`: every session of the last poll, whatever its attribution
/// (`clauster sessions --json`). With `?poll=1` it runs `claude agents --json` now instead
/// (the CLI's in-process engine has no last poll); its failure is 502.
pub async fn all(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<AllQuery>,
) -> Result<Response, ApiError> {
    let sessions = match query.poll.as_deref() {
        None | Some("" | "0" | "false") => state.engine().sessions().all.clone(),
        Some("1" | "true") => state
            .engine()
            .poll_sessions_now(&state.config())
            .await
            .map_err(|err| {
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    format!("claude agents --json failed: {err}"),
                )
            })?,
        Some(_) => {
            return Err(ApiError::invalid("poll must be 1 or 0", Some("poll")));
        }
    };
    Ok(Json(sessions).into_response())
}

/// `GET /api/sessions/adoptable`: checked now, not taken from the last poll.
pub async fn adoptable(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(state.engine().adoptable().await?).into_response())
}

/// `POST /api/projects/{name}/adopt` → 201 with the new instance.
pub async fn adopt(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let instance = state.engine().adopt(&name).await?;
    Ok((StatusCode::CREATED, Json(instance)).into_response())
}

/// `GET /api/agents`: background jobs from the last poll.
pub async fn list_agents(State(state): State<AppState>) -> Response {
    Json(state.engine().sessions().background_jobs()).into_response()
}

#[derive(Debug)]
pub struct Dispatch {
    project: String,
    prompt: Option<String>,
    rc_name: Option<String>,
    model: Option<String>,
    permission_mode: Option<String>,
}

impl Dispatch {
    const FIELDS: [&str; 5] = ["project", "prompt", "rc_name", "model", "permission_mode"];

    /// The body by the common rules (http-api.md §1, §12): an object, string fields, and no
    /// field a dispatch does not have.
    fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let body = JsonObject::parse(body)?;
        if let Some(unknown) = body
            .fields()
            .keys()
            .find(|k| !Self::FIELDS.contains(&k.as_str()))
        {
            return Err(ApiError::invalid(
                format!(
                    "invalid request body: unknown field '{}'; a dispatch has {}",
                    echo(unknown),
                    Self::FIELDS.join(", ")
                ),
                None,
            ));
        }
        Ok(Self {
            project: body
                .string("project")?
                .ok_or_else(|| ApiError::invalid("project is required", Some("project")))?,
            prompt: body.string("prompt")?,
            rc_name: body.string("rc_name")?,
            model: body.string("model")?,
            permission_mode: body.string("permission_mode")?,
        })
    }
}

/// `POST /api/agents`: `claude --bg …` in the trusted project directory → 201 `{"id"}`.
pub async fn dispatch(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request = Dispatch::parse(&body)?;
    let unknown = || ApiError::not_found(format!("project '{}' not found", echo(&request.project)));
    // A name no project can have is 422, as in 1.3.2 (issue 18); a valid unknown one 404.
    let name = ProjectName::new(&request.project)
        .map_err(|e| ApiError::invalid(e.to_string(), Some("project")))?;
    let dir = state.config().projects_root.join(name.as_str());
    let canonical = std::fs::canonicalize(&dir)
        .ok()
        .filter(|d| d.is_dir())
        .ok_or_else(unknown)?;
    // The bypass refusal (403) comes before a missing prompt (422), as in 1.3.2 (issue 18).
    let permission = request
        .permission_mode
        .as_deref()
        .map(str::parse::<PermissionMode>)
        .transpose()
        .map_err(|e| ApiError::invalid(e.to_string(), Some("permission_mode")))?;
    // The mode that would run: the request's, else the configured default — omitting
    // `permission_mode` must not get around the bypass opt-in (1.3.2, issue 18).
    let effective = permission.or(Some(state.config().instance_defaults.permission_mode));
    let allow_bypass = state
        .config()
        .projects
        .get(name.as_str())
        .is_some_and(|p| p.allow_bypass_permissions);
    if effective == Some(PermissionMode::BypassPermissions) && !allow_bypass {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "bypassPermissions is not enabled for project '{name}'. Set projects.{name}.allow_bypass_permissions: true in clauster.yml first."
            ),
        ));
    }
    let prompt = request.prompt.as_deref().filter(|p| !p.trim().is_empty());
    let rc_name = request.rc_name.as_deref().filter(|n| !n.trim().is_empty());
    if prompt.is_none() && rc_name.is_none() {
        return Err(ApiError::invalid(
            "prompt is required unless rc_name is given",
            Some("prompt"),
        ));
    }
    // Both reach claude's argv: no flag lookalike, and no control or invisible formatting
    // character (U+202E and friends could make the name read as something else).
    for (field, value) in [("rc_name", rc_name), ("model", request.model.as_deref())] {
        if value.is_some_and(|v| v.starts_with('-') || has_invisible_characters(v)) {
            return Err(ApiError::invalid(
                format!(
                    "{field} must not start with '-' or contain control or invisible characters"
                ),
                Some(field),
            ));
        }
    }
    let is_git = dir.join(".git").exists();
    if trust::load_trusted(state.claude_global_file()).state(&canonical, is_git)
        != TrustState::Trusted
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "directory not trusted: {}. Use the Trust action before starting.",
                canonical.display()
            ),
        ));
    }
    let mut args: Vec<String> = vec!["--bg".into()];
    if let Some(rc) = rc_name {
        args.extend(["--remote-control".into(), rc.to_owned()]);
    }
    if let Some(model) = &request.model {
        args.extend(["--model".into(), model.clone()]);
    }
    if let Some(mode) = permission.filter(|m| *m != PermissionMode::Inherit) {
        args.extend(["--permission-mode".into(), mode.as_token().to_owned()]);
    }
    if let Some(prompt) = prompt {
        args.extend(["--".into(), prompt.to_owned()]);
    }
    background(&state, &args, &canonical).await
}

/// `DELETE /api/agents/{job_id}`: `claude stop`, then `claude rm`.
pub async fn stop_agent(
    State(state): State<AppState>,
    Path(job): Path<String>,
) -> Result<Response, ApiError> {
    check_job_id(&job)?;
    let cwd = state.config().state_dir.clone();
    let settled = run_claude(&state, &["stop".into(), job.clone()], &cwd, STOP_TIMEOUT)
        .await
        .is_ok();
    let removed = settled
        && run_claude(&state, &["rm".into(), job.clone()], &cwd, STOP_TIMEOUT)
            .await
            .is_ok();
    let detail = match (settled, removed) {
        (true, true) => "stopped and removed",
        (true, false) => "stopped; claude rm failed",
        _ => "claude stop failed",
    };
    let body = json!({ "id": job, "settled": settled, "removed": removed, "detail": detail });
    let status = if settled {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    Ok((status, Json(body)).into_response())
}

/// `POST /api/agents/{job_id}/resume`: `claude --bg --resume <its session id>` → 201.
pub async fn resume_agent(
    State(state): State<AppState>,
    Path(job): Path<String>,
) -> Result<Response, ApiError> {
    check_job_id(&job)?;
    let polled = state.engine().sessions();
    let item = polled
        .items
        .iter()
        .find(|i| i.id.as_deref() == Some(job.as_str()))
        .ok_or_else(|| ApiError::not_found(format!("no background job '{job}'")))?;
    let cwd = PathBuf::from(&item.cwd);
    let args = ["--bg".into(), "--resume".into(), item.session_id.clone()];
    background(&state, &args, &cwd).await
}

/// Runs `claude --bg …` and answers 201 with the job id it printed.
async fn background(
    state: &AppState,
    args: &[String],
    cwd: &std::path::Path,
) -> Result<Response, ApiError> {
    let output = run_claude(state, args, cwd, DISPATCH_TIMEOUT).await?;
    let id = job_id_in(&output).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "could not read the background job id",
        )
    })?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

fn check_job_id(job: &str) -> Result<(), ApiError> {
    let ok = job.len() == 8 && job.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            format!(
                "invalid job id '{}'; expected 8 lowercase hex characters",
                echo(job)
            ),
            None,
        ))
    }
}

/// Runs claude with the bridge environment; a failure to run or a non-zero exit is a 502
/// whose detail is claude's (redacted) output.
async fn run_claude(
    state: &AppState,
    args: &[String],
    cwd: &std::path::Path,
    timeout: Duration,
) -> Result<String, ApiError> {
    let env = state.engine().bridge_env();
    let home = env.get("HOME").map(PathBuf::from);
    let claude = bridge_env::resolve_binary(&state.config().claude.binary, env, home.as_deref())
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e))?;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let finished = probe::run(&claude, &args, env, cwd, timeout)
        .await
        .ok_or_else(|| ApiError::new(StatusCode::BAD_GATEWAY, "claude did not finish in time"))?;
    if finished.success {
        Ok(finished.stdout)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("claude failed: {}", sanitize_text(finished.stdout.trim())),
        ))
    }
}

/// The job id in `claude --bg` output: after `backgrounded · `, else the first bare 8-hex
/// token.
fn job_id_in(output: &str) -> Option<String> {
    let is_id = |t: &str| t.len() == 8 && t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if let Some(rest) = output.split("backgrounded · ").nth(1) {
        let token: String = rest
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        if is_id(&token) {
            return Some(token);
        }
    }
    output
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|t| is_id(t))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_read_from_the_marker_or_the_first_bare_token() {
        assert_eq!(
            job_id_in("backgrounded · 3c509237\n").as_deref(),
            Some("3c509237")
        );
        assert_eq!(
            job_id_in("started deadbeef then 3c509237").as_deref(),
            Some("deadbeef")
        );
        assert_eq!(job_id_in("backgrounded · nothing-here 12345"), None);
        assert_eq!(job_id_in("id 3C509237 is upper case"), None);
    }

    #[test]
    fn job_ids_are_checked() {
        assert!(check_job_id("3c509237").is_ok());
        for bad in ["3c50923", "3c5092377", "3C509237", "../../x1", "3c50923g"] {
            assert!(check_job_id(bad).is_err(), "{bad}");
        }
    }
}
