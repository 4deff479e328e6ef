//! Clone routes (http-api.md §4, §8.2; data.md §3.3–§3.5): the request checks, the job
//! registry, the git worker and the progress socket.

mod git;
mod jobs;
mod run;

use axum::Json;
use axum::extract::ws::WebSocket;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clauster_core::clone::CloneUrl;
use clauster_wire::{CloneAccepted, CloneCancelling, CloneJobList, CloneProgressFrame, Frame};
use tokio::sync::broadcast::error::RecvError;

pub use git::{error_tail, git_binary, git_env};
pub use jobs::CloneJobs;
pub use run::sweep_leftovers;

use crate::auth::SocketSession;
use crate::error::ApiError;
use crate::http::JsonObject;
use crate::http::ws::{CLOSE_NORMAL, CLOSE_POLICY, KeepAlive, close, send_json};
use crate::projects::{exists_error, validate_new_name};
use crate::socket_handshake::Handshake;
use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

impl AppState {
    /// The clone jobs (data.md §3.5).
    pub fn clones(&self) -> &CloneJobs {
        self.feature()
    }
}

/// Cloning a repository into a new project, with its progress socket.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/projects/clone", post(start))
        .route("/api/projects/clone/active", get(active))
        .route("/api/projects/clone/{job_id}/cancel", post(cancel))
        .route("/ws/clone-progress/{job_id}", get(progress_socket))
}

/// `POST /api/projects/clone`.
pub async fn start(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let settings = &state.config().clone;
    // Step 7 comes first of all.
    if !settings.enabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "clone is disabled in config",
        ));
    }
    let fields = JsonObject::parse(&body)?;
    let name = fields.string("name")?;
    let url = fields.string("url")?;
    let shallow = fields.boolean("shallow")?;
    let name = validate_new_name(name.as_deref())?;
    let url = match url.as_deref() {
        Some(url) if !url.trim().is_empty() => url.to_owned(),
        _ => {
            return Err(ApiError::invalid(
                "A Git URL is required to clone.",
                Some("url"),
            ));
        }
    };
    let url = CloneUrl::parse(&url, &settings.allowed_schemes)
        .map_err(|err| ApiError::invalid(err.to_string(), Some("url")))?;
    let target = state.config().projects_root.join(name.as_str());
    if std::fs::symlink_metadata(&target).is_ok() || state.clones().running_for(name.as_str()) {
        return Err(exists_error(name.as_str()));
    }
    // Step 6, the first time: the worker checks again right before git runs.
    run::checked_addresses(state.clone_policy(), settings, &url)
        .await
        .map_err(|refusal| match refusal {
            run::Refusal::Unresolvable(text) => ApiError::invalid(text, Some("url")),
            run::Refusal::Blocked(text) => ApiError::new(StatusCode::FORBIDDEN, text),
        })?;
    let Some((job_id, cancel, started)) = state.clones().begin(name.as_str()) else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many clones in progress; wait for one to finish",
        ));
    };
    state.engine().publish(Frame::Clone { job: started });
    let accepted = CloneAccepted {
        job_id: job_id.clone(),
        name: name.as_str().to_owned(),
    };
    let request = run::CloneRequest {
        job_id,
        name,
        url,
        shallow: shallow.unwrap_or(false),
    };
    tokio::spawn(run::run(state.clone(), request, cancel));
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

/// 1.3.2's wording (issue 18); a job is forgotten 60 s after it finished.
fn unknown_job(_id: &str) -> ApiError {
    ApiError::not_found("unknown or expired clone job")
}

/// A clone job id: 32 lowercase hex (security.md §7.2).
fn is_job_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `POST /api/projects/clone/{job_id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    Path(job_id): Path<String>,
) -> Result<Response, ApiError> {
    if !is_job_id(&job_id) {
        return Err(unknown_job(&job_id));
    }
    match state.clones().cancel(&job_id) {
        Ok(()) => Ok((
            StatusCode::ACCEPTED,
            Json(CloneCancelling {
                job_id,
                cancelling: true,
            }),
        )
            .into_response()),
        Err(jobs::CancelRefused::Unknown) => Err(unknown_job(&job_id)),
        Err(jobs::CancelRefused::Finished(status)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("clone job is already {}", status.as_str()),
        )),
    }
}

/// `GET /api/projects/clone/active`.
pub async fn active(State(state): State<AppState>) -> Response {
    Json(CloneJobList {
        jobs: state.clones().running(),
    })
    .into_response()
}

/// `GET /ws/clone-progress/{job_id}`.
pub async fn progress_socket(handshake: Handshake) -> Response {
    handshake.serve(stream_progress)
}

async fn stream_progress(
    state: AppState,
    job_id: String,
    mut socket: WebSocket,
    session: SocketSession,
) {
    // A cookie session's logout or expiry closes the socket (issue 16 §6).
    let mut session_end = std::pin::pin!(session.ended());
    let watch = if is_job_id(&job_id) {
        state.clones().watch(&job_id)
    } else {
        None
    };
    let Some(watch) = watch else {
        close(&mut socket, CLOSE_POLICY, "unknown clone job").await;
        return;
    };
    let (first, mut frames) = match watch {
        jobs::Watch::Finished(terminal) => {
            if send_json(&mut socket, &terminal).await {
                close(&mut socket, CLOSE_NORMAL, "clone finished").await;
            }
            return;
        }
        jobs::Watch::Running(first, frames) => (first, frames),
    };
    if !send_json(&mut socket, &first).await {
        return;
    }
    let mut keep_alive = KeepAlive::start();
    loop {
        tokio::select! {
            () = keep_alive.due() => {
                if !keep_alive.ping(&mut socket).await {
                    return;
                }
            }
            next = frames.recv() => {
                let frame = match next {
                    Ok(frame) => frame,
                    Err(RecvError::Lagged(dropped)) => CloneProgressFrame::Overflow { dropped },
                    // The job was forgotten without this watcher seeing its end: say how it
                    // ended if that is still known.
                    Err(RecvError::Closed) => match state.clones().terminal(&job_id) {
                        Some(terminal) => terminal,
                        None => return close(&mut socket, CLOSE_NORMAL, "clone finished").await,
                    },
                };
                let terminal = matches!(frame, CloneProgressFrame::Done { .. });
                if !send_json(&mut socket, &frame).await {
                    return;
                }
                if terminal {
                    return close(&mut socket, CLOSE_NORMAL, "clone finished").await;
                }
            }
            (code, reason) = &mut session_end => {
                return close(&mut socket, code, reason).await;
            }
            incoming = socket.recv() => {
                if !keep_alive.heard(&mut socket, incoming.as_ref()).await {
                    return;
                }
            }
        }
    }
}

/// Pushes the `project` frame of a new directory (after create or a finished clone).
pub async fn publish_project(state: &AppState, name: &str) {
    state.invalidate_projects();
    let Ok(projects) = crate::projects::projects_blocking(state.clone()).await else {
        return;
    };
    if let Some(project) = projects.into_iter().find(|p| p.name == name) {
        let frame = crate::preflight::project_frame(state, project).await;
        state.engine().publish(frame);
    }
}
