//! The host's readiness (ui.md §2.1): the header pill's checks, kept current and pushed as
//! `readiness` frames. The facts come from the same places as `clauster doctor`'s — the
//! probe cache for `claude` and its login, the doctor's own disk rows — and the verdicts from
//! `clauster_core::readiness` over `clauster_core::doctor`, so the pill and the doctor agree.
//!
//! A task re-checks when the probe cache changes, every 30 s, when a bridge fails
//! `not_eligible` (or one runs again), and on `POST /api/readiness/recheck`. Every 5 s it
//! also resolves the binary (a `PATH` walk, no process): a `claude` that appeared or vanished
//! since the last probe starts a re-probe, so installing it turns the pill green unasked.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use clauster_core::config::Config;
use clauster_core::doctor::{LoginAnswer, Verdict};
use clauster_core::readiness::{self, ClaudeBinary, Level};
use clauster_wire::{Frame, Readiness, ReadinessCheck, ReadinessLevel};
use tokio::sync::watch;

use crate::engine::{ClaudeHealth, Engine};
use crate::state::AppState;
use crate::{bridge_env, doctor};

/// How often the checks run without a reason.
const PERIOD: Duration = Duration::from_secs(30);
/// How often the binary is resolved to notice an install or removal.
const BINARY_PERIOD: Duration = Duration::from_secs(5);

impl crate::state::AppState {
    /// The header's readiness checks (ui.md §2.1).
    pub fn readiness(&self) -> &ReadinessService {
        self.feature()
    }
}

/// The readiness cache and its task; clones share them.
#[derive(Clone, Debug)]
pub struct ReadinessService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Arc<Config>,
    engine: Engine,
    current: watch::Sender<Option<Readiness>>,
    /// The `error_detail` of the last `not_eligible` failure, until a bridge runs.
    not_eligible: Mutex<Option<String>>,
    /// One check at a time, so frames go out in the order the checks ran.
    checking: tokio::sync::Mutex<()>,
    /// Whether the dashboard offers sign-in (`login_shepherd.enabled`).
    sign_in_here: bool,
}

impl ReadinessService {
    pub fn new(config: Arc<Config>, engine: Engine, sign_in_here: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                engine,
                current: watch::channel(None).0,
                not_eligible: Mutex::new(None),
                checking: tokio::sync::Mutex::new(()),
                sign_in_here,
            }),
        }
    }

    /// The last readiness, `None` before the first check finished.
    pub fn current(&self) -> Option<Readiness> {
        self.inner.current.borrow().clone()
    }

    /// Runs the checks now (no re-probe) and returns them; publishes a frame when they say
    /// something new, or always when `announce` (a Re-check).
    pub async fn check(&self, announce: bool) -> Readiness {
        let _one = self.inner.checking.lock().await;
        let fresh = self.compute().await;
        let changed = self
            .inner
            .current
            .borrow()
            .as_ref()
            .is_none_or(|old| !old.same_verdict(&fresh));
        self.inner.current.send_replace(Some(fresh.clone()));
        if changed || announce {
            self.inner.engine.publish(Frame::Readiness(fresh.clone()));
        }
        fresh
    }

    /// Re-probes `claude`, asks `auth status` again, then checks (the **Re-check** button).
    pub async fn recheck(&self) -> Readiness {
        self.inner.engine.recheck_claude().await;
        self.check(true).await
    }

    /// Starts the task that keeps the readiness current (servers only, not a command's
    /// engine).
    pub fn start(&self) {
        let service = self.clone();
        tokio::spawn(async move {
            let mut claude = service.inner.engine.watch_claude();
            let mut frames = service.inner.engine.subscribe();
            let mut binary_tick = tokio::time::interval(BINARY_PERIOD);
            binary_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                service.check(false).await;
                let next = tokio::time::sleep(PERIOD);
                tokio::pin!(next);
                loop {
                    tokio::select! {
                        () = &mut next => break,
                        changed = claude.changed() => {
                            if changed.is_err() { return; }
                            break;
                        }
                        frame = frames.recv() => match frame {
                            Ok(frame) => if service.note_frame(&frame) { break },
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                        },
                        _ = binary_tick.tick() => {
                            if service.binary_disagrees().await {
                                service.inner.engine.recheck_claude().await;
                                break;
                            }
                        }
                    }
                }
            }
        });
    }

    /// Follows bridge outcomes: a `not_eligible` failure is remembered, a running bridge
    /// clears it. Returns whether that changed anything.
    fn note_frame(&self, frame: &Frame) -> bool {
        let Frame::Instance { instance } = frame else {
            return false;
        };
        let mut remembered = self
            .inner
            .not_eligible
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let next = if instance.error_kind.as_deref() == Some("not_eligible") {
            Some(
                instance
                    .error_detail
                    .clone()
                    .unwrap_or_else(|| "Remote Control is not available to this account".into()),
            )
        } else if instance.status == "running" {
            None
        } else {
            return false;
        };
        if *remembered == next {
            return false;
        }
        *remembered = next;
        true
    }

    /// Whether the binary's presence differs from what the probe cache says.
    async fn binary_disagrees(&self) -> bool {
        let found = self.resolve().await.is_ok();
        let cached = self.inner.engine.claude_health().claude_ok;
        match cached {
            Some(true) => !found,
            Some(false) => found,
            None => false,
        }
    }

    async fn resolve(&self) -> Result<PathBuf, String> {
        let binary = self.inner.config.claude.binary.clone();
        let env = self.inner.engine.bridge_env().clone();
        tokio::task::spawn_blocking(move || {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            bridge_env::resolve_binary(&binary, &env, home.as_deref())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
    }

    async fn compute(&self) -> Readiness {
        let resolved = self.resolve().await;
        let health = self.inner.engine.claude_health();
        let config = Arc::clone(&self.inner.config);
        let disk = tokio::task::spawn_blocking(move || doctor::readiness_rows(&config)).await;
        let (projects_root, state_dir, workspace_trust) = disk.unwrap_or_else(|e| {
            let failed = Verdict::Fail(format!("the check did not finish: {e}"));
            (failed.clone(), failed.clone(), failed)
        });
        let not_eligible = self
            .inner
            .not_eligible
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        assess(&Facts {
            config: &self.inner.config,
            resolved: resolved.as_ref().map(|_| ()).map_err(String::as_str),
            health: &health,
            projects_root,
            state_dir,
            workspace_trust,
            not_eligible: not_eligible.as_deref(),
            sign_in_here: self.inner.sign_in_here,
            now_ms: now_ms(),
        })
    }
}

/// What one check read.
struct Facts<'a> {
    config: &'a Config,
    resolved: Result<(), &'a str>,
    health: &'a ClaudeHealth,
    projects_root: Verdict,
    state_dir: Verdict,
    workspace_trust: Verdict,
    not_eligible: Option<&'a str>,
    sign_in_here: bool,
    now_ms: i64,
}

fn assess(facts: &Facts<'_>) -> Readiness {
    let claude = match (facts.resolved, facts.health.claude_ok) {
        (Err(why), _) => ClaudeBinary::Missing(why),
        (Ok(()), None) => ClaudeBinary::Probing,
        // The cache still describes a binary that was missing: the re-probe is under way.
        (Ok(()), Some(false)) if facts.health.claude_version.is_none() => {
            ClaudeBinary::Probed(None)
        }
        (Ok(()), Some(_)) => ClaudeBinary::Probed(facts.health.claude_version.as_deref()),
    };
    let login = facts.health.login_ok.map(|logged_in| LoginAnswer {
        logged_in,
        method: facts.health.login_method.as_deref(),
        expires_at_ms: facts.health.login_expires_at,
    });
    let assessment = readiness::assess(&readiness::Inputs {
        claude,
        min_version: &facts.config.claude.min_version,
        login,
        now_ms: facts.now_ms,
        projects_root: facts.projects_root.clone(),
        state_dir: facts.state_dir.clone(),
        workspace_trust: facts.workspace_trust.clone(),
        not_eligible: facts.not_eligible,
        sign_in_here: facts.sign_in_here,
    });
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Readiness {
        level: match assessment.level() {
            Level::Ready => ReadinessLevel::Ready,
            Level::Warn => ReadinessLevel::Warn,
            Level::Blocked => ReadinessLevel::Blocked,
        },
        failing: count(assessment.failing()),
        warnings: count(assessment.warnings()),
        start_blocked: assessment.start_blocked(),
        checks: assessment
            .items
            .into_iter()
            .map(|item| {
                let row = doctor::check(item.name, item.verdict);
                ReadinessCheck {
                    name: row.name,
                    status: row.status,
                    detail: row.detail,
                    fix: item.fix,
                    blocks_start: item.blocks_start,
                }
            })
            .collect(),
        checked_at: crate::engine::now_rfc3339(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `GET /api/readiness`: the last checks, or new ones when none ran yet.
pub async fn get_readiness(State(state): State<AppState>) -> Response {
    let readiness = match state.readiness().current() {
        Some(current) => current,
        None => state.readiness().check(false).await,
    };
    Json(readiness).into_response()
}

/// `POST /api/readiness/recheck`: probe `claude` and its login again, then check.
pub async fn recheck(State(state): State<AppState>) -> Response {
    Json(state.readiness().recheck().await).into_response()
}
