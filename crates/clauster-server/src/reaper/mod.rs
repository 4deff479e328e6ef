//! The ghost-environment reaper (bridges.md §15): the credentials, the live set, the listing
//! through the transport, the ghost rule of the core, and archive/delete of ids that are
//! still ghosts when asked. Served as `GET /api/environments/ghosts` and
//! `POST /api/environments/reap` (http-api.md §7), which the `clauster reaper` command also
//! calls over the control socket.
//!
//! Fail closed: anything that keeps the live set from being known ends the operation before
//! an environment is touched, and a reap derives the ghost set again instead of trusting the
//! ids it was sent.

pub mod routes;
pub mod transport;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use clauster_core::agents;
use clauster_core::config::Config;
use clauster_core::identity::Gate;
use clauster_core::reaper::{
    self as core, ApiCredentials, Environment, GhostRule, NextStep, Pager, Verdict,
};
use clauster_wire::{Ghost, GhostsView, ReapAction, ReapResult};

use crate::bridge_env;
use crate::engine::pointers::{self, PointerDir, PointerFile};
use crate::error::ApiError;
use crate::probe;
use crate::state::AppState;
use crate::trust;
pub use transport::{
    ApiAnswer, BASE_OVERRIDE_VAR, Call, EnvironmentsApi, EnvironmentsTransport, TransportError,
};

/// How long `claude agents --json` may take (bridges.md §17.1).
const AGENTS_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a scan or a reap did not happen; each maps to its status of http-api.md §12.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReaperError {
    #[error("no usable claude.ai credentials: {0}")]
    Credentials(String),
    #[error("could not determine which directories are in use: {0}")]
    LiveSet(String),
    #[error("environments API error: {0}")]
    Api(String),
}

impl From<ReaperError> for ApiError {
    fn from(err: ReaperError) -> Self {
        let status = match err {
            ReaperError::Credentials(_) | ReaperError::LiveSet(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ReaperError::Api(_) => StatusCode::BAD_GATEWAY,
        };
        ApiError::new(status, err.to_string())
    }
}

/// Reads `<D>/.credentials.json` and `G` (bridges.md §12.1, §15) as the bridges' claude would.
pub(crate) fn load_credentials(
    config: &Config,
    env: &dyn trust::Env,
) -> Result<ApiCredentials, ReaperError> {
    let credentials_file = trust::settings_file(config, env).with_file_name(".credentials.json");
    let global_file = trust::global_config_file(config, env);
    let credentials = match std::fs::read_to_string(&credentials_file) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReaperError::Credentials(format!(
                "{} does not exist; log in with `claude auth login` as this user",
                credentials_file.display()
            )));
        }
        Err(err) => {
            return Err(ReaperError::Credentials(format!(
                "cannot read {}: {err}",
                credentials_file.display()
            )));
        }
    };
    // A missing global file reads as `{}` (and then lacks the organization).
    let global = match std::fs::read_to_string(&global_file) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => {
            return Err(ReaperError::Credentials(format!(
                "cannot read {}: {err}",
                global_file.display()
            )));
        }
    };
    core::parse_credentials(&credentials, &global, now_ms()).map_err(|err| {
        let file = match err {
            core::CredentialsError::GlobalNotJson | core::CredentialsError::NoOrganization => {
                &global_file
            }
            _ => &credentials_file,
        };
        ReaperError::Credentials(format!("{err} ({})", file.display()))
    })
}

/// [`load_credentials`] with this process's environment: what `clauster reaper` shows as
/// `org …· token …` before it asks the engine.
pub fn credentials_of_this_process(config: &Config) -> Result<ApiCredentials, ReaperError> {
    load_credentials(config, &crate::state::ProcessEnv)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A status ≥ 400, or a body that must be JSON and is not: `<status> <redacted excerpt>`.
fn answer_error(answer: &ApiAnswer, auth: &ApiCredentials) -> String {
    format!(
        "{} {}",
        answer.status,
        core::error_excerpt(&answer.body, &[&auth.access_token])
    )
}

/// Every environment the API lists, following the cursor (at most 10 000 pages).
async fn list_all(
    api: &dyn EnvironmentsTransport,
    auth: &ApiCredentials,
) -> Result<Vec<Environment>, ReaperError> {
    let mut pager = Pager::new();
    let mut cursor: Option<String> = None;
    let mut all = Vec::new();
    let mut skipped = 0;
    loop {
        let answer = api
            .list(auth, cursor.as_deref())
            .await
            .map_err(|err| ReaperError::Api(err.to_string()))?;
        if answer.status >= 400 {
            return Err(ReaperError::Api(answer_error(&answer, auth)));
        }
        let page = core::parse_page(&answer.body)
            .map_err(|_| ReaperError::Api(answer_error(&answer, auth)))?;
        skipped += page.skipped;
        all.extend(page.items);
        match pager.after_page(page.next_page.as_deref()) {
            NextStep::Fetch(next) => cursor = Some(next),
            NextStep::Done => break,
            NextStep::Truncated => {
                tracing::warn!(
                    "reaper: the environments list has more than {} pages; the rest is not \
                     considered",
                    core::MAX_PAGES
                );
                break;
            }
        }
    }
    if skipped > 0 {
        tracing::debug!("reaper: skipped {skipped} environment(s) without a usable id");
    }
    Ok(all)
}

/// A scan: the view the routes answer and what a reap needs to act.
#[derive(Debug)]
pub struct Scan {
    pub view: GhostsView,
    pub credentials: ApiCredentials,
}

/// Credentials, the full listing, the live set, then the rule (bridges.md §15). The live set
/// is built after the listing, so a bridge that started meanwhile is still seen.
pub async fn scan(state: &AppState, api: &dyn EnvironmentsTransport) -> Result<Scan, ReaperError> {
    let credentials = load_credentials(&state.config(), &crate::state::ProcessEnv)?;
    let environments = list_all(api, &credentials).await?;
    let inputs = LiveInputs::gather(state).await?;
    let home = state
        .engine()
        .bridge_env()
        .get("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let root = state.config().projects_root.clone();
    let total = environments.len();
    let (live, ghosts) = tokio::task::spawn_blocking(move || {
        classify_all(&environments, &root, home.as_deref(), &inputs)
    })
    .await
    .map_err(|_| {
        ReaperError::LiveSet("the live-set check panicked; see the server log".into())
    })??;
    Ok(Scan {
        view: GhostsView {
            enabled: true,
            total: total as u64,
            live_dirs: live as u64,
            ghosts,
        },
        credentials,
    })
}

/// Archives or deletes the requested ids that are ghosts now; the others are `skipped`.
pub async fn reap(
    state: &AppState,
    api: &dyn EnvironmentsTransport,
    action: ReapAction,
    ids: &[String],
) -> Result<ReapResult, ReaperError> {
    let scan = scan(state, api).await?;
    let ghosts: HashSet<&str> = scan.view.ghosts.iter().map(|g| g.id.as_str()).collect();
    let (act, skipped) = core::split_requested(ids, &ghosts);
    let mut result = ReapResult {
        action,
        reaped: Vec::new(),
        skipped,
        errors: std::collections::BTreeMap::new(),
    };
    for id in act {
        match act_on(api, &scan.credentials, action, &id).await {
            Ok(()) => result.reaped.push(id),
            Err(message) => {
                result.errors.insert(id, message);
            }
        }
    }
    // Counts only: environment ids never reach a log line (invariant 5).
    tracing::info!(
        action = ?action,
        reaped = result.reaped.len(),
        skipped = result.skipped.len(),
        failed = result.errors.len(),
        "reaper: done"
    );
    Ok(result)
}

/// One archive or delete; `Err` is the per-id message.
async fn act_on(
    api: &dyn EnvironmentsTransport,
    auth: &ApiCredentials,
    action: ReapAction,
    id: &str,
) -> Result<(), String> {
    let call = match action {
        ReapAction::Archive => api.archive(auth, id),
        ReapAction::Delete => api.delete(auth, id),
    };
    let answer = call.await.map_err(|err| err.to_string())?;
    if answer.status >= 400 {
        return Err(format!("HTTP {}", answer_error(&answer, auth)));
    }
    // An empty success body is fine; anything else must be JSON.
    let body = String::from_utf8_lossy(&answer.body);
    if !body.trim().is_empty() && serde_json::from_slice::<serde_json::Value>(&answer.body).is_err()
    {
        return Err(format!(
            "HTTP {} (the answer is not JSON)",
            answer_error(&answer, auth)
        ));
    }
    Ok(())
}

/// What the live set is built from, gathered on the async side.
#[derive(Debug)]
struct LiveInputs {
    /// `cwd` of every item of `claude agents --json`.
    agent_cwds: Vec<String>,
    /// Project names of starting/running (or otherwise alive) instances.
    instance_projects: Vec<String>,
    pointers: PointerDir,
}

impl LiveInputs {
    async fn gather(state: &AppState) -> Result<Self, ReaperError> {
        let engine = state.engine();
        let config = state.config();
        let env = engine.bridge_env();
        let home = env.get("HOME").map(PathBuf::from);
        let claude = bridge_env::resolve_binary(&config.claude.binary, env, home.as_deref())
            .map_err(ReaperError::LiveSet)?;
        let finished = probe::run(
            &claude,
            &["agents", "--json"],
            env,
            &config.state_dir,
            AGENTS_TIMEOUT,
        )
        .await
        .ok_or_else(|| {
            ReaperError::LiveSet(format!(
                "`claude agents --json` did not finish within {} s",
                AGENTS_TIMEOUT.as_secs()
            ))
        })?;
        if !finished.success {
            return Err(ReaperError::LiveSet(
                "`claude agents --json` failed (non-zero exit)".into(),
            ));
        }
        let list = agents::parse_agents(&finished.stdout).map_err(|err| {
            ReaperError::LiveSet(match err {
                agents::AgentsError::NotJson(why) => {
                    format!("`claude agents --json` did not print JSON ({why})")
                }
                agents::AgentsError::WrongShape(_) => {
                    "`claude agents --json` printed no list of agents".into()
                }
            })
        })?;
        let instances = engine
            .list()
            .await
            .map_err(|err| ReaperError::LiveSet(format!("the engine did not answer: {err}")))?;
        Ok(Self {
            agent_cwds: list.items.into_iter().map(|item| item.cwd).collect(),
            instance_projects: instances
                .into_iter()
                .filter(|i| i.alive || i.status == "starting" || i.status == "running")
                .map(|i| i.project)
                .collect(),
            pointers: PointerDir::from_env(engine.bridge_env()),
        })
    }
}

/// Builds the live set and applies the rule; blocking (filesystem and `/proc`). Returns the
/// size of the live set and the ghosts.
fn classify_all(
    environments: &[Environment],
    root: &Path,
    home: Option<&Path>,
    inputs: &LiveInputs,
) -> Result<(usize, Vec<Ghost>), ReaperError> {
    let root = std::fs::canonicalize(root).map_err(|err| {
        ReaperError::LiveSet(format!(
            "projects_root {} cannot be resolved: {err}",
            root.display()
        ))
    })?;
    let canonicalize = |p: &Path| std::fs::canonicalize(p).ok();
    let mut live: HashSet<PathBuf> = HashSet::new();
    // What the rule compares is canonical: resolve each live directory the same way.
    let placing = GhostRule {
        root: &root,
        live: &live,
        home,
        canonicalize: &canonicalize,
    };
    let mut found = Vec::new();
    for cwd in &inputs.agent_cwds {
        if let Some(dir) = placing.resolve(cwd) {
            found.push(dir);
        }
    }
    for project in &inputs.instance_projects {
        found.push(canonicalize(&root.join(project)).unwrap_or_else(|| root.join(project)));
    }
    // Bridge pointers: every project, and every directory a bridge environment names.
    let projects = crate::projects::discover(&root).map_err(|err| {
        ReaperError::LiveSet(format!(
            "cannot list projects_root {}: {err}",
            root.display()
        ))
    })?;
    let mut pointer_dirs: Vec<PathBuf> = projects.into_iter().map(|p| p.canonical).collect();
    pointer_dirs.extend(
        environments
            .iter()
            .filter(|e| e.kind.as_deref() == Some("bridge"))
            .filter_map(|e| e.directory.as_deref())
            .filter_map(|d| placing.resolve(d)),
    );
    pointer_dirs.sort();
    pointer_dirs.dedup();
    for dir in pointer_dirs {
        if let PointerFile::Parsed { pointer, .. } = pointers::read(&inputs.pointers.file_for(&dir))
            && pointers::live_process(&pointer, Gate::Bridge).is_some()
        {
            found.push(dir);
        }
    }
    live.extend(found);
    let rule = GhostRule {
        root: &root,
        live: &live,
        home,
        canonicalize: &canonicalize,
    };
    let ghosts = environments
        .iter()
        .filter_map(|env| match rule.classify(env) {
            Verdict::Ghost(dir) => Some(Ghost {
                id: env.id.clone(),
                directory: dir.to_string_lossy().into_owned(),
                name: env.name.clone(),
            }),
            _ => None,
        })
        .collect();
    Ok((live.len(), ghosts))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A transport in memory: a queued answer if any, else a page naming a new cursor.
    #[derive(Debug, Default)]
    struct Endless {
        calls: Mutex<Vec<Option<String>>>,
        answers: Mutex<Vec<ApiAnswer>>,
    }

    impl EnvironmentsTransport for Endless {
        fn list<'a>(&'a self, _: &'a ApiCredentials, after_id: Option<&'a str>) -> Call<'a> {
            let mut calls = self.calls.lock().unwrap();
            calls.push(after_id.map(str::to_owned));
            let n = calls.len();
            let answer = self.answers.lock().unwrap().pop().unwrap_or(ApiAnswer {
                status: 200,
                body: format!(
                    r#"{{"data": [{{"id": "env_{n}", "config": {{"type": "bridge"}}}}], "next_page": "c{n}"}}"#
                )
                .into_bytes(),
            });
            Box::pin(async move { Ok(answer) })
        }
        fn archive<'a>(&'a self, _: &'a ApiCredentials, _: &'a str) -> Call<'a> {
            Box::pin(async { Err(TransportError::Timeout) })
        }
        fn delete<'a>(&'a self, _: &'a ApiCredentials, _: &'a str) -> Call<'a> {
            Box::pin(async {
                Ok(ApiAnswer {
                    status: 200,
                    body: b"deleted, but not JSON".to_vec(),
                })
            })
        }
    }

    fn credentials() -> ApiCredentials {
        ApiCredentials {
            access_token: "sk-ant-oat01-SECRET".into(),
            organization_uuid: "org".into(),
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn a_listing_stops_after_ten_thousand_pages() {
        let api = Endless::default();
        let all = list_all(&api, &credentials()).await.unwrap();
        assert_eq!(all.len(), core::MAX_PAGES);
        let calls = api.calls.lock().unwrap();
        assert_eq!(calls.len(), core::MAX_PAGES);
        assert_eq!(calls[0], None);
        assert_eq!(calls[1].as_deref(), Some("c1"));
    }

    #[tokio::test]
    async fn error_answers_carry_the_status_and_a_redacted_excerpt() {
        let api = Endless::default();
        api.answers.lock().unwrap().push(ApiAnswer {
            status: 403,
            body: b"forbidden for sk-ant-oat01-SECRET".to_vec(),
        });
        let err = list_all(&api, &credentials()).await.unwrap_err();
        assert_eq!(err, ReaperError::Api("403 forbidden for <redacted>".into()));
        let response = axum::response::IntoResponse::into_response(ApiError::from(err));
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        // Per id: no answer, and a success whose body is not JSON.
        let auth = credentials();
        assert_eq!(
            act_on(&api, &auth, ReapAction::Archive, "env_1").await,
            Err("no answer within 30 s".into())
        );
        assert_eq!(
            act_on(&api, &auth, ReapAction::Delete, "env_1").await,
            Err("HTTP 200 deleted, but not JSON (the answer is not JSON)".into())
        );
    }
}
