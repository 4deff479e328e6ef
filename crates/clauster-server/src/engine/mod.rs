//! The bridge engine: one supervisor task that owns every instance and consumes events
//! (commands, log changes, exits, deadlines, ticks). Other tasks talk to it through
//! [`Engine`], a cheap handle, and watch it through the push stream of [`clauster_wire::Frame`]s.

mod health;
mod logs;
pub(crate) mod pointers;
mod reference;
mod sessions;
mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use clauster_wire::{Frame, Instance, SpawnOutcome};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use supervisor::{EngineSetup, spawn};

/// Now, as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    crate::time::now_rfc3339()
}

/// The body of `POST /api/instances`, already type-checked (http-api.md §5.2).
#[derive(Clone, Debug, Default)]
pub struct StartRequest {
    pub project: String,
    pub spawn_mode: Option<String>,
    pub permission_mode: Option<String>,
    pub resume_mode: Option<String>,
    pub name: Option<String>,
    pub sandbox: Option<String>,
    pub resume_session_id: Option<String>,
    pub channel: Option<String>,
    pub trust: bool,
}

/// The engine's error kinds (bridges.md §6) with the texts of http-api.md §12.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Ambiguous(String),
    #[error("{detail}")]
    InvalidOption {
        detail: String,
        field: Option<&'static str>,
    },
    #[error("{0}")]
    PermissionModeNotAllowed(String),
    /// Not trusted, capacity, unparseable Claude config, still live: all 409.
    #[error("{0}")]
    Conflict(String),
    #[error("clauster is still starting (rediscovering bridges); try again in a moment")]
    Starting,
    #[error("{0}")]
    Io(String),
}

/// What the supervisor is asked to do.
#[derive(Debug)]
enum Command {
    Start(
        StartRequest,
        oneshot::Sender<Result<SpawnOutcome, EngineError>>,
    ),
    Stop(String, oneshot::Sender<Result<Instance, EngineError>>),
    Resume {
        reference: String,
        fresh: bool,
        trust: bool,
        reply: oneshot::Sender<Result<SpawnOutcome, EngineError>>,
    },
    /// The fallback warning a relaunch left for the request that waited on it.
    TakeWarnings(String, oneshot::Sender<Vec<String>>),
    Forget(String, oneshot::Sender<Result<String, EngineError>>),
    Adopt(String, oneshot::Sender<Result<Instance, EngineError>>),
    /// The agents poll saw this conversation uuid in a pty bridge (bridges.md §9.2 source 2).
    LearnConversation {
        instance_id: String,
        uuid: String,
    },
    Adoptable(oneshot::Sender<Vec<String>>),
    Get(String, oneshot::Sender<Result<Instance, EngineError>>),
    List(oneshot::Sender<Vec<Instance>>),
}

/// What the capability probe and the login check found (http-api.md §3); `None` fields are
/// not known yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaudeHealth {
    /// `None` until the first probe finished.
    pub claude_ok: Option<bool>,
    pub claude_version: Option<String>,
    /// `None` before the first `auth status` answer (reported as logged in).
    pub login_ok: Option<bool>,
    pub login_method: Option<String>,
    pub login_expires_at: Option<i64>,
}

/// A handle to the engine; clones share the one supervisor.
#[derive(Clone, Debug)]
pub struct Engine {
    commands: mpsc::Sender<supervisor::Msg>,
    frames: broadcast::Sender<Arc<Frame>>,
    ready: watch::Receiver<bool>,
    claude: watch::Receiver<ClaudeHealth>,
    sessions: watch::Receiver<Arc<sessions::Polled>>,
    /// The environment bridges get (§4.3), for the other claude commands (`--bg`, `stop`).
    bridge_env: crate::bridge_env::BridgeEnv,
}

impl Engine {
    /// The probe cache: never runs a process on the caller's path.
    pub fn claude_health(&self) -> ClaudeHealth {
        self.claude.borrow().clone()
    }

    /// Subscribes to instance changes. Subscribe before asking for a snapshot, so nothing
    /// that happens in between is missed (a repeated upsert is harmless).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.frames.subscribe()
    }

    /// Publishes a frame that does not come from the supervisor (usage, metrics, clone
    /// progress, …) to every `/ws/events` subscriber. No subscriber is not an error.
    pub fn publish(&self, frame: Frame) {
        let _ = self.frames.send(Arc::new(frame));
    }

    /// The latest attributed `claude agents --json` poll (bridges.md §17).
    pub fn sessions(&self) -> Arc<sessions::Polled> {
        Arc::clone(&self.sessions.borrow())
    }

    /// Runs `claude agents --json` now and attributes what it lists: `clauster sessions`
    /// when no server runs (cli.md §2). The error says why the command gave no list.
    pub async fn poll_sessions_now(
        &self,
        config: &clauster_core::config::Config,
    ) -> Result<Vec<clauster_wire::WorkingSession>, String> {
        sessions::poll_result(self, config, &self.bridge_env)
            .await
            .map(|polled| polled.all)
    }

    pub fn bridge_env(&self) -> &crate::bridge_env::BridgeEnv {
        &self.bridge_env
    }

    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Waits for rediscovery (bridges.md §11) at most 10 s.
    async fn wait_ready(&self) -> Result<(), EngineError> {
        let mut ready = self.ready.clone();
        let waited = tokio::time::timeout(Duration::from_secs(10), ready.wait_for(|r| *r)).await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            _ => Err(EngineError::Starting),
        }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, EngineError> {
        self.wait_ready().await?;
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(supervisor::Msg::Command(make(reply)))
            .await
            .map_err(|_| EngineError::Io("the engine has stopped; restart clauster".into()))?;
        answer.await.map_err(|_| {
            EngineError::Io("the engine dropped the request; see the server log".into())
        })
    }

    /// Starts a bridge (bridges.md §6), then waits up to `ready_wait` for it to settle.
    pub async fn start(
        &self,
        request: StartRequest,
        ready_wait: Duration,
    ) -> Result<SpawnOutcome, EngineError> {
        let events = self.subscribe();
        let outcome = self.ask(|reply| Command::Start(request, reply)).await??;
        self.settle(outcome, events, ready_wait).await
    }

    /// Resume or start fresh (bridges.md §9), then waits like [`Self::start`]; a continue
    /// that falls back to a fresh start may take up to twice `ready_wait`.
    pub async fn resume(
        &self,
        reference: &str,
        fresh: bool,
        trust: bool,
        ready_wait: Duration,
    ) -> Result<SpawnOutcome, EngineError> {
        let events = self.subscribe();
        let outcome = self
            .ask(|reply| Command::Resume {
                reference: reference.to_owned(),
                fresh,
                trust,
                reply,
            })
            .await??;
        let mut outcome = self.settle(outcome, events, ready_wait * 2).await?;
        let id = outcome.instance.instance_id.clone();
        outcome
            .warnings
            .extend(self.ask(|reply| Command::TakeWarnings(id, reply)).await?);
        Ok(outcome)
    }

    /// Waits until a created instance leaves `starting`, or `wait` passes.
    async fn settle(
        &self,
        mut outcome: SpawnOutcome,
        mut events: broadcast::Receiver<Arc<Frame>>,
        wait: Duration,
    ) -> Result<SpawnOutcome, EngineError> {
        if !(outcome.created && outcome.instance.status == "starting") {
            return Ok(outcome);
        }
        let id = outcome.instance.instance_id.clone();
        let settled = tokio::time::timeout(wait, async {
            loop {
                match events.recv().await {
                    Ok(frame) => {
                        if let Frame::Instance { instance } = frame.as_ref()
                            && instance.instance_id == id
                            && instance.status != "starting"
                        {
                            return Some(instance.clone());
                        }
                    }
                    // Lagged or closed: the caller reads the current state instead.
                    Err(_) => return None,
                }
            }
        })
        .await;
        match settled {
            Ok(Some(instance)) => outcome.instance = instance,
            _ => {
                if let Ok(instance) = self.get(&id).await {
                    outcome.instance = instance;
                }
            }
        }
        Ok(outcome)
    }

    pub async fn stop(&self, reference: &str) -> Result<Instance, EngineError> {
        self.ask(|reply| Command::Stop(reference.to_owned(), reply))
            .await?
    }

    pub async fn forget(&self, reference: &str) -> Result<String, EngineError> {
        self.ask(|reply| Command::Forget(reference.to_owned(), reply))
            .await?
    }

    /// Adopts the standard bridge running unmanaged in `project` (bridges.md §9.6).
    pub async fn adopt(&self, project: &str) -> Result<Instance, EngineError> {
        self.ask(|reply| Command::Adopt(project.to_owned(), reply))
            .await?
    }

    /// Hands the engine a pty bridge's conversation uuid seen by the agents poll; a
    /// disagreeing later value is logged and ignored (bridges.md §9.2).
    pub async fn learn_conversation(&self, instance_id: String, uuid: String) {
        let _ = self
            .commands
            .send(supervisor::Msg::Command(Command::LearnConversation {
                instance_id,
                uuid,
            }))
            .await;
    }

    /// The projects with an adoption candidate, sorted.
    pub async fn adoptable(&self) -> Result<Vec<String>, EngineError> {
        self.ask(Command::Adoptable).await
    }

    pub async fn get(&self, reference: &str) -> Result<Instance, EngineError> {
        self.ask(|reply| Command::Get(reference.to_owned(), reply))
            .await?
    }

    pub async fn list(&self) -> Result<Vec<Instance>, EngineError> {
        self.ask(Command::List).await
    }
}
