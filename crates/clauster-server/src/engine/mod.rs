//! The bridge engine: one supervisor task that owns every instance and consumes events
//! (commands, log changes, exits, deadlines, ticks). Other tasks talk to it through
//! [`Engine`], a cheap handle, and watch it through the push stream of [`clauster_wire::Frame`]s.

mod health;
mod logs;
pub(crate) mod pointers;
mod probes;
mod reference;
mod sessions;
mod supervisor;
mod writer;

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
    /// 503: the store refused a write, `~/.claude.json` stayed locked, or the engine did not
    /// answer in time (issue 14). The text says which.
    #[error("{0}")]
    Unavailable(String),
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
    /// A project's policy (bridges.md §7.9): read it, or change it first.
    Policy {
        project: String,
        update: Option<clauster_wire::PolicyUpdate>,
        reply: oneshot::Sender<Result<clauster_wire::ProjectPolicy, EngineError>>,
    },
    /// Bring up every kept, wanted project without a live bridge (§11.1); answers with them.
    StartKept(oneshot::Sender<Vec<String>>),
    /// The engine's own timers: a restart that is due (its token guards against a stale
    /// one), and one kept project's turn in a staggered bring-up.
    RestartDue {
        id: String,
        token: u64,
    },
    KeepUp(String),
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

/// How long a request waits for the supervisor to take its command (issue 14).
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle to the engine; clones share the one supervisor.
#[derive(Clone, Debug)]
pub struct Engine {
    commands: mpsc::Sender<supervisor::Msg>,
    frames: broadcast::Sender<Arc<Frame>>,
    ready: watch::Receiver<bool>,
    claude: watch::Receiver<ClaudeHealth>,
    /// False while a store write is failing (bridges.md §10.3).
    store_ok: watch::Receiver<bool>,
    /// How many instances are `running` (for `/healthz`, which never asks the supervisor).
    running: watch::Receiver<u32>,
    /// How long [`Self::ask`] waits for the supervisor to take a command.
    ask_timeout: Duration,
    sessions: watch::Receiver<Arc<sessions::Polled>>,
    /// The environment bridges get (§4.3), for the other claude commands (`--bg`, `stop`).
    bridge_env: crate::bridge_env::BridgeEnv,
    /// Asks the login refresh for a Re-check: probe and `auth status` now (ui.md §2.1).
    recheck: mpsc::Sender<oneshot::Sender<()>>,
    /// The store's writer, for the checkpoint at shutdown.
    store: writer::StoreWriter,
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

    /// Re-probes the binary and asks `claude auth status` now; returns once both answered
    /// (at most ~20 s: the probe's 10 s wait and the 5 s status limit) or the engine is gone.
    pub async fn recheck_claude(&self) {
        let (reply, done) = oneshot::channel();
        if self.recheck.send(reply).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(30), done).await;
        }
    }

    /// Subscribes to the probe cache (the readiness service follows it).
    pub fn watch_claude(&self) -> watch::Receiver<ClaudeHealth> {
        self.claude.clone()
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

    /// False while a store write is failing; true again once every write went through.
    pub fn store_ok(&self) -> bool {
        *self.store_ok.borrow()
    }

    /// The number of `running` instances, as last published (never waits on the engine).
    pub fn instances_running(&self) -> u32 {
        *self.running.borrow()
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

    /// Sends a command and waits for its answer. The supervisor must take the command within
    /// [`ASK_TIMEOUT`] (else 503); the answer itself is bounded by the command's own deadlines
    /// (probe wait, lock and store timeouts, stop grace).
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, EngineError> {
        self.wait_ready().await?;
        let (reply, answer) = oneshot::channel();
        let (taken, taken_rx) = oneshot::channel();
        let not_answered = || {
            EngineError::Unavailable(format!(
                "the engine did not answer within {} s",
                ASK_TIMEOUT.as_secs()
            ))
        };
        let send = async {
            self.commands
                .send(supervisor::Msg::Command(make(reply), taken))
                .await
                .map_err(|_| EngineError::Io("the engine has stopped; restart clauster".into()))?;
            taken_rx.await.map_err(|_| {
                EngineError::Io("the engine dropped the request; see the server log".into())
            })
        };
        tokio::time::timeout(self.ask_timeout, send)
            .await
            .map_err(|_| not_answered())??;
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

    /// Waits until a created instance leaves `starting`, or `wait` passes. Frames of the
    /// record's earlier launches (published after the request began, since frames follow
    /// their writes) are not this launch's outcome: they carry a lower `launch_count`.
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
        let launch_count = outcome.instance.launch_count;
        let settled = tokio::time::timeout(wait, async {
            loop {
                match events.recv().await {
                    Ok(frame) => {
                        if let Frame::Instance { instance } = frame.as_ref()
                            && instance.instance_id == id
                            && instance.launch_count >= launch_count
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
        let (taken, _) = oneshot::channel();
        let _ = self
            .commands
            .send(supervisor::Msg::Command(
                Command::LearnConversation { instance_id, uuid },
                taken,
            ))
            .await;
    }

    /// The projects with an adoption candidate, sorted.
    pub async fn adoptable(&self) -> Result<Vec<String>, EngineError> {
        self.ask(Command::Adoptable).await
    }

    /// A project's restart policy and wish (bridges.md §7.9).
    pub async fn policy(&self, project: &str) -> Result<clauster_wire::ProjectPolicy, EngineError> {
        self.ask(|reply| Command::Policy {
            project: project.to_owned(),
            update: None,
            reply,
        })
        .await?
    }

    /// Changes a project's policy; answers once it is stored (503 when the store refuses).
    pub async fn set_policy(
        &self,
        project: &str,
        update: clauster_wire::PolicyUpdate,
    ) -> Result<clauster_wire::ProjectPolicy, EngineError> {
        self.ask(|reply| Command::Policy {
            project: project.to_owned(),
            update: Some(update),
            reply,
        })
        .await?
    }

    /// At shutdown: once every write queued so far is done, folds the store's write-ahead log
    /// into `clauster.sqlite3` and empties it, so the stopped store is that one file (a plain
    /// copy of it is a backup). Waits at most `limit`; a failure is logged and harmless.
    pub async fn checkpoint_store(&self, limit: Duration) {
        if tokio::time::timeout(limit, self.store.checkpoint())
            .await
            .is_err()
        {
            tracing::warn!(
                "shutdown: the store's write-ahead log was not folded into the store within {} s; \
                 it is read back at the next start",
                limit.as_secs()
            );
        }
    }

    /// Brings up every kept, wanted project that has no live bridge, staggered (§11.1):
    /// `clauster start --all-kept`. Answers with the projects it will bring up.
    pub async fn start_kept(&self) -> Result<Vec<String>, EngineError> {
        self.ask(Command::StartKept).await
    }

    pub async fn get(&self, reference: &str) -> Result<Instance, EngineError> {
        self.ask(|reply| Command::Get(reference.to_owned(), reply))
            .await?
    }

    pub async fn list(&self) -> Result<Vec<Instance>, EngineError> {
        self.ask(Command::List).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine whose supervisor never takes a command.
    fn stuck_engine() -> (Engine, mpsc::Receiver<supervisor::Msg>) {
        let (commands, rx) = mpsc::channel(4);
        let engine = Engine {
            commands,
            frames: broadcast::channel(4).0,
            ready: watch::channel(true).1,
            claude: watch::channel(ClaudeHealth::default()).1,
            store_ok: watch::channel(true).1,
            running: watch::channel(0).1,
            ask_timeout: Duration::from_millis(50),
            sessions: watch::channel(Arc::default()).1,
            bridge_env: crate::bridge_env::BridgeEnv::default(),
            recheck: mpsc::channel(1).0,
            store: writer::StoreWriter::detached(),
        };
        (engine, rx)
    }

    #[tokio::test]
    async fn a_supervisor_that_does_not_answer_is_a_503_not_a_hang() {
        let (engine, _held) = stuck_engine();
        let answer = tokio::time::timeout(Duration::from_secs(5), engine.list()).await;
        assert_eq!(
            answer.expect("ask gave up by itself"),
            Err(EngineError::Unavailable(
                "the engine did not answer within 10 s".into()
            ))
        );
    }
}
