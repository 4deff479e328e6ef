//! The supervisor task: owns the instances, applies the status machine of `clauster-core`,
//! persists every change before publishing it (bridges.md §10.3).
//!
//! It never waits on a lock or a process: a launch's blocking half (the probe wait, Claude's
//! files under their lock, the `/proc` scan) runs in `spawn_blocking` while the project is
//! reserved and comes back as `Msg::Run`; SQLite is `writer.rs`'s thread; terminations run
//! off it and report `Msg::Terminated`. What stays on it is plain file IO: new log bytes,
//! `/proc` stats, sidecars, and the 10 s rotation check.
//!
//! Invariant 3 (status is never trusted from disk alone): every status shown is backed by a
//! live process check (pid + start ticks + boot id) or a terminal event; `rediscover.rs`
//! re-derives every row at start-up, and `tick` ends a re-parented or pty bridge only after
//! two missed checks in a row ([`confirm_gone`]).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clauster_core::argv::StandardKind;
use clauster_core::capability::Capabilities;
use clauster_core::config::Config;
use clauster_core::identity::{Gate, StartIdentity};
use clauster_core::markers::MarkerParser;
use clauster_core::modes::{LaunchMode, PermissionMode, SpawnMode};
use clauster_core::names::{Label, ProjectName, echo};
use clauster_core::sanitize::sanitize_text;
use clauster_core::status::{
    self, Context, Effect, ErrorKind, Event, ExitStatus, FailureEvidence, Next, Status,
};
use clauster_pty::proc;
use clauster_wire::{Frame, Instance, SpawnOutcome};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

mod adopt;
mod effects;
mod gate;
mod json;
mod launch;
mod observe;
mod phase;
mod policy;
mod pty;
mod rediscover;

use effects::strip_pointer_file;
use launch::retain_logs;
use observe::read_logs;
use phase::Phase;

use gate::{GateRequest, Gated};

use super::logs::{LogSet, LogSets};
use super::pointers::PointerDir;
use super::probes::Probes;
use super::reference::{self, Candidate, Unresolved};
use super::writer::{HealthInputs, StoreWriter};
use super::{ASK_TIMEOUT, ClaudeHealth, Command, Engine, EngineError};
use crate::bridge_env::{self, BridgeEnv};
use crate::claude_files;
use crate::probe;
use crate::store::{InstanceRow, Store};
use crate::trust;

/// How often the engine re-reads logs and checks liveness when no file event came.
const TICK: Duration = Duration::from_secs(1);
/// Rotation runs every 10 s (§5.3), retention once a day (§5.4).
const ROTATE_EVERY_TICKS: u64 = 10;
const RETAIN_EVERY_TICKS: u64 = 24 * 3600;
/// A ready launch without a `Created initial session` marker waits this long (§7.5).
const REATTACH_POISON_GRACE: Duration = Duration::from_secs(4);
/// The most of a capture or log kept in memory for classification.
const EVIDENCE_BYTES: usize = 64 * 1024;
const PTY_FALLBACK_WARNING: &str =
    "pty mode is not available on this platform; started in standard mode";

/// Everything the supervisor reads from its surroundings.
#[derive(Debug)]
pub struct EngineSetup {
    pub config: Arc<Config>,
    pub store: Store,
    /// Bring kept projects back once rediscovery is done (§11.1): a server, not a command.
    pub bring_up_kept: bool,
    /// Claude's global config file `G` (trust, acknowledgement).
    pub claude_global_file: PathBuf,
    /// The server's environment, the base of every bridge environment (§4.3).
    pub server_env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    /// The `clauster` binary started as the pty keeper (`ServeOptions::self_exe`).
    pub self_exe: PathBuf,
    /// Where and what the recap hook is installed at launch; `None` when
    /// `claude.resume_recap` is off (§13.1).
    pub recap_hook: Option<claude_files::RecapHook>,
}

/// Messages the supervisor consumes.
#[derive(Debug)]
pub(super) enum Msg {
    /// A command, and the notice that the supervisor took it (`Engine::ask`'s timeout).
    Command(Command, oneshot::Sender<()>),
    /// The second half of work done off the supervisor (a launch's blocking steps, a
    /// request's store write): run on the supervisor, then the project's reservation ends.
    Run(Continuation),
    /// A file of the log directory changed.
    LogChanged(String),
    /// A child of ours exited.
    Exited {
        id: String,
        launch: u64,
        status: ExitStatus,
    },
    Deadline {
        id: String,
        launch: u64,
    },
    GraceOver {
        id: String,
        launch: u64,
    },
    Terminated {
        id: String,
        launch: u64,
        reply: Option<oneshot::Sender<Result<Instance, EngineError>>>,
    },
    Tick,
}

/// Work handed back to the supervisor.
pub(super) struct Continuation(Box<dyn FnOnce(&mut Supervisor) + Send>);

impl Continuation {
    fn new(run: impl FnOnce(&mut Supervisor) + Send + 'static) -> Self {
        Self(Box::new(run))
    }
}

impl std::fmt::Debug for Continuation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Continuation")
    }
}

/// The answer channel of a Start or Resume.
type LaunchReply = oneshot::Sender<Result<SpawnOutcome, EngineError>>;

/// One instance: its persisted row plus what only the running server knows.
#[derive(Debug)]
#[allow(clippy::struct_excessive_bools)] // four independent facts about one instance
struct Live {
    row: InstanceRow,
    status: Status,
    /// Where this launch's process stands: running, stopping, relaunching, gone.
    phase: Phase,
    identity: Option<StartIdentity>,
    /// Counts launches of this server process, so stale exit notices are ignored.
    launch: u64,
    parser: MarkerParser,
    log_read: u64,
    capture_read: u64,
    capture_tail: String,
    log_tail: String,
    reattach_grace: Grace,
    /// This launch continues the conversation (`remote-control --continue`, §9.3).
    resumes_conversation: bool,
    /// The fallback warning of §9.3, handed to the request that is waiting.
    fallback_warning: Option<String>,
    /// Strip the pointer's session once the bridge is gone (a poisoned session, §7.7).
    strip_pointer_when_gone: bool,
    /// How far the redacted mirror has read the raw log (§5.2).
    mirror_read: u64,
    /// pty: the keeper's start identity (our child; the bridge's comes from the sidecar).
    keeper: Option<StartIdentity>,
    /// Liveness checks in a row that found the re-parented bridge gone: one failed `/proc`
    /// read never ends a healthy bridge (issue 14).
    missed: u8,
    /// The pty conversation guess was found ambiguous and said so (once per launch).
    ambiguity_reported: bool,
    /// pty: the last good read of the keeper's sidecar.
    sidecar: Option<clauster_core::pty_sidecar::Sidecar>,
    /// The notice shown on the instance: the engine's own, else the sidecar's note.
    notice: Option<String>,
    /// Found at rediscovery outside the discovered projects (bridges.md §11 step 4).
    project_gone: bool,
}

/// The reattach poison grace of §7.5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grace {
    NotStarted,
    Pending,
    Over,
}

/// What a launch needs besides the row (bridges.md §6 steps 15–17).
#[derive(Debug)]
struct LaunchPlan {
    label: Label,
    spawn_mode: SpawnMode,
    permission_mode: PermissionMode,
    kind: LaunchKind,
    canonical: PathBuf,
}

/// The argv family of a launch: the recorded mode decides it (bridges.md §2).
#[derive(Clone, Debug)]
enum LaunchKind {
    Standard(StandardKind),
    Pty(pty::Conversation),
}

/// Sends the supervisor a `Tick` every [`TICK`] until it is gone.
fn spawn_ticker(tx: mpsc::Sender<Msg>) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        loop {
            interval.tick().await;
            if tx.send(Msg::Tick).await.is_err() {
                break;
            }
        }
    });
}

/// Starts the supervisor; returns the handle and raises readiness once rediscovery is done.
pub fn spawn(setup: EngineSetup) -> Engine {
    let (tx, rx) = mpsc::channel(256);
    let (frames, _) = broadcast::channel(1024);
    let (ready_tx, ready) = watch::channel(false);
    let (claude_tx, claude) = watch::channel(ClaudeHealth::default());
    let (store_ok_tx, store_ok) = watch::channel(true);
    let (running_tx, running) = watch::channel(0_u32);
    let (recheck, rechecks) = mpsc::channel(8);
    let logs_dir = setup.config.state_dir.join("logs");
    let env = BridgeEnv::build(&setup.config, setup.server_env.clone(), None);
    let pointers = PointerDir::from_env(&env);
    let config = Arc::clone(&setup.config);
    let sessions_env = env.clone();
    let writer = StoreWriter::spawn(
        setup.store,
        frames.clone(),
        HealthInputs {
            store_ok: store_ok_tx,
            claude: claude.clone(),
            ready: ready.clone(),
        },
    );
    let probes = Probes::new(
        &setup.config.claude.binary,
        env.clone(),
        setup.config.state_dir.clone(),
        claude_tx.clone(),
    );
    let store = writer.clone();
    let mut supervisor = Supervisor {
        config: setup.config,
        writer,
        claude_global_file: setup.claude_global_file,
        recap_hook: setup.recap_hook,
        env,
        caps: Capabilities::fallback(),
        probes,
        logs: Arc::new(LogSets::new(logs_dir)),
        instances: BTreeMap::new(),
        tx: tx.clone(),
        launches: 0,
        ticks: 0,
        pointers,
        self_exe: setup.self_exe,
        reserved: HashSet::new(),
        deferred: HashMap::new(),
        launching: HashSet::new(),
        running: running_tx,
        policies: policy::Policies::default(),
    };
    watch_log_dir(supervisor.logs.dir(), tx.clone());
    spawn_ticker(tx.clone());
    let server_env = setup.server_env;
    let bring_up_kept = setup.bring_up_kept;
    tokio::spawn(async move {
        if supervisor.config.claude.node_from_nvm {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            let nvm = bridge_env::find_nvm_default_bin(&server_env, home.as_deref()).await;
            if nvm.is_some() {
                supervisor.env = BridgeEnv::build(&supervisor.config, server_env, nvm);
                supervisor.probes = Probes::new(
                    &supervisor.config.claude.binary,
                    supervisor.env.clone(),
                    supervisor.config.state_dir.clone(),
                    claude_tx.clone(),
                );
            }
        }
        supervisor.probes.refresh();
        spawn_login_refresh(&supervisor, claude_tx, rechecks);
        supervisor.rediscover().await;
        let _ = ready_tx.send(true);
        // Before the first command is taken: nothing reads a policy before this.
        supervisor.load_policies().await;
        // §11.1: kept projects come back once rediscovery knows what still runs.
        if bring_up_kept {
            supervisor.bring_up_kept(None);
        }
        supervisor.run(rx).await;
    });
    let (sessions_tx, sessions) = watch::channel(Arc::default());
    let engine = Engine {
        commands: tx,
        frames,
        ready,
        claude,
        store_ok,
        running,
        ask_timeout: ASK_TIMEOUT,
        sessions,
        bridge_env: sessions_env.clone(),
        recheck,
        store,
    };
    super::sessions::spawn_watcher(engine.clone(), config, sessions_env, sessions_tx);
    engine.spawn_health_frames();
    engine
}

/// The login cache of http-api.md §3, refreshed every 30 s in the background so no request
/// ever waits on `claude auth status`; every other round also re-checks the binary, so a
/// changed `claude` is probed again within a minute even without a launch (§3.1). A
/// Re-check (ui.md §2.1) does both at once and answers when they are done.
fn spawn_login_refresh(
    supervisor: &Supervisor,
    health: watch::Sender<ClaudeHealth>,
    mut rechecks: mpsc::Receiver<oneshot::Sender<()>>,
) {
    let env = supervisor.env.clone();
    let binary = supervisor.config.claude.binary.clone();
    let cwd = supervisor.config.state_dir.clone();
    let probes = supervisor.probes.clone();
    let tx = supervisor.tx.clone();
    tokio::spawn(async move {
        let mut login = probe::LoginCache::default();
        let mut rounds = 0_u64;
        loop {
            let asked = tokio::select! {
                () = tokio::time::sleep(probe::LOGIN_CACHE_TTL) => None,
                asked = rechecks.recv() => match asked {
                    Some(reply) => Some(reply),
                    None => return,
                },
            };
            if tx.is_closed() {
                return;
            }
            if asked.is_some() {
                // The probe of the binary as it is now (≤ 10 s), then a fresh login answer.
                let _ = probes.for_launch().await;
            } else {
                rounds += 1;
                if rounds.is_multiple_of(2) {
                    probes.refresh();
                }
                if !login.is_stale(Instant::now()) {
                    continue;
                }
            }
            let home = std::env::var_os("HOME").map(PathBuf::from);
            if let Ok(claude) = bridge_env::resolve_binary(&binary, &env, home.as_deref()) {
                let answer = probe::auth_status(&claude, &env, &cwd).await;
                let answered = answer.is_some();
                if login.record(answer, Instant::now()) && answered {
                    let state = login.state().clone();
                    health.send_modify(|h| {
                        h.login_ok = Some(state.ok);
                        h.login_method = state.method;
                        h.login_expires_at = state.expires_at_ms;
                    });
                }
            }
            if let Some(reply) = asked {
                let _ = reply.send(());
            }
        }
    });
}

/// Tells the supervisor which log stem changed; falls back to the 1 s tick when the
/// directory cannot be watched.
///
/// Only changes count (`watch::is_change`): the supervisor answers an event by reading the
/// set's files, and those reads must not come back as events. For the same reason the
/// redacted mirror — the only file of the directory the supervisor writes while a bridge runs
/// — is not watched: its writes follow from raw-log events and would trigger another read.
fn watch_log_dir(dir: &Path, tx: mpsc::Sender<Msg>) {
    use notify::{RecursiveMode, Watcher};
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if !crate::watch::is_change(event.kind) {
            return;
        }
        for path in event.paths {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = stem_of(name) else { continue };
            if is_redacted_mirror(&path, name, stem) {
                continue;
            }
            let _ = tx.try_send(Msg::LogChanged(stem.to_owned()));
        }
    };
    match notify::recommended_watcher(handler) {
        Ok(mut watcher) => {
            if watcher.watch(dir, RecursiveMode::NonRecursive).is_ok() {
                // The watcher lives as long as the process: bridges outlive requests.
                std::mem::forget(watcher);
            }
        }
        Err(err) => tracing::warn!("cannot watch the log directory ({err}); checking every second"),
    }
}

/// `alpha-1764083000000-1.stderr.log` → `alpha-1764083000000-1`.
fn stem_of(file_name: &str) -> Option<&str> {
    [".stderr.log", ".raw.log", ".keeper.json", ".log"]
        .iter()
        .find_map(|suffix| file_name.strip_suffix(suffix))
}

/// `<stem>.log` of a set that has a `<stem>.raw.log`: the mirror Clauster writes (§5.2).
fn is_redacted_mirror(path: &Path, name: &str, stem: &str) -> bool {
    name.len() == stem.len() + ".log".len()
        && path.with_file_name(format!("{stem}.raw.log")).exists()
}

pub(super) struct Supervisor {
    config: Arc<Config>,
    /// The store, written on its own thread (bridges.md §10.3).
    writer: StoreWriter,
    claude_global_file: PathBuf,
    recap_hook: Option<claude_files::RecapHook>,
    env: BridgeEnv,
    /// The capabilities of the last probe, for display; launches ask `probes`.
    caps: Capabilities,
    probes: Probes,
    logs: Arc<LogSets>,
    instances: BTreeMap<String, Live>,
    tx: mpsc::Sender<Msg>,
    launches: u64,
    /// Ticks since start: rotation and retention run every so many.
    ticks: u64,
    /// Claude's projects directory, where the bridge pointers are (§17.3).
    pointers: PointerDir,
    /// The `clauster` binary started as the pty keeper.
    self_exe: PathBuf,
    /// Projects with a request half-done off the supervisor (the per-project lock of §6):
    /// further Start/Resume/Stop/Forget/Adopt of them wait in `deferred`, in order.
    reserved: HashSet<String>,
    deferred: HashMap<String, VecDeque<Command>>,
    /// Instances whose launch is between the gate and the spawn (steps 12–16 off the
    /// supervisor): live for `max_bridges` (§6 step 11) though not yet `starting`.
    launching: HashSet<String>,
    /// How many instances are `running`, for `/healthz`.
    running: watch::Sender<u32>,
    /// Restart policies, restart timers and keep-running (bridges.md §7.9, §11.1).
    policies: policy::Policies,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("instances", &self.instances.len())
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    async fn run(&mut self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Command(command, taken) => {
                    let _ = taken.send(());
                    self.dispatch(command);
                }
                Msg::Run(continuation) => (continuation.0)(self),
                Msg::LogChanged(stem) => {
                    let id = self
                        .instances
                        .iter()
                        .find(|(_, live)| live.row.log_stem.as_deref() == Some(stem.as_str()))
                        .map(|(id, _)| id.clone());
                    if let Some(id) = id {
                        self.observe(&id);
                    }
                }
                Msg::Exited { id, launch, status } => self.exited(&id, launch, status),
                Msg::Deadline { id, launch } => self.deadline(&id, launch),
                Msg::GraceOver { id, launch } => {
                    if let Some(live) = self.instances.get_mut(&id)
                        && live.launch == launch
                        && !live.phase.is_relaunching()
                    {
                        live.reattach_grace = Grace::Over;
                        self.observe(&id);
                    }
                }
                Msg::Terminated { id, launch, reply } => self.terminated(&id, launch, reply),
                Msg::Tick => self.tick(),
            }
        }
    }

    /// Runs a command now, or after the request already under way for its project (the
    /// per-project lock of §6: one launch, stop, forget or adopt per project at a time, so a
    /// second request sees what the first did).
    fn dispatch(&mut self, command: Command) {
        if let Some(project) = self.project_of(&command)
            && self.reserved.contains(&project)
        {
            self.deferred.entry(project).or_default().push_back(command);
            return;
        }
        self.command(command);
    }

    fn project_of(&self, command: &Command) -> Option<String> {
        let by_reference = |reference: &str| {
            let id = self.resolve(reference, str::to_owned).ok()?;
            Some(self.instances[&id].row.project.clone())
        };
        match command {
            Command::Start(request, _) => Some(request.project.clone()),
            Command::Adopt(project, _)
            | Command::KeepUp(project)
            | Command::Policy { project, .. } => Some(project.clone()),
            Command::RestartDue { id, .. } => {
                self.instances.get(id).map(|live| live.row.project.clone())
            }
            Command::Stop(reference, _)
            | Command::Forget(reference, _)
            | Command::Resume { reference, .. } => by_reference(reference),
            _ => None,
        }
    }

    /// Holds `project` while `work` runs off the supervisor; its continuation runs on the
    /// supervisor, then the project's waiting commands run in order.
    fn reserve(
        &mut self,
        project: String,
        work: impl Future<Output = Continuation> + Send + 'static,
    ) {
        self.reserved.insert(project.clone());
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let then = work.await;
            let release = Continuation::new(move |supervisor| {
                (then.0)(supervisor);
                supervisor.release(&project);
            });
            let _ = tx.send(Msg::Run(release)).await;
        });
    }

    fn release(&mut self, project: &str) {
        self.reserved.remove(project);
        while !self.reserved.contains(project) {
            let Some(command) = self.deferred.get_mut(project).and_then(VecDeque::pop_front) else {
                self.deferred.remove(project);
                return;
            };
            self.command(command);
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Start(request, reply) => {
                let gated = self.gate(&GateRequest::Start(&request));
                if gated.is_ok() {
                    self.user_launch(&request.project, None);
                }
                self.launch_or_answer(gated, reply);
            }
            Command::Stop(reference, reply) => self.stop(&reference, reply),
            Command::Policy {
                project,
                update,
                reply,
            } => self.policy_command(&project, update, reply),
            Command::StartKept(reply) => self.bring_up_kept(Some(reply)),
            Command::RestartDue { id, token } => self.restart_due(&id, token),
            Command::KeepUp(project) => self.keep_up(&project),
            Command::Resume {
                reference,
                fresh,
                trust,
                reply,
            } => {
                let resolved = self.resolve(&reference, |r| {
                    format!("no managed instance to resume: '{r}'")
                });
                let gated = resolved.clone().and_then(|id| {
                    self.gate(&GateRequest::Resume {
                        id: &id,
                        fresh,
                        trust,
                    })
                });
                if let (Ok(id), Ok(_)) = (&resolved, &gated) {
                    let project = self.instances[id].row.project.clone();
                    self.user_launch(&project, Some(id));
                }
                self.launch_or_answer(gated, reply);
            }
            Command::TakeWarnings(id, reply) => {
                let warning = self
                    .instances
                    .get_mut(&id)
                    .and_then(|l| l.fallback_warning.take());
                let _ = reply.send(warning.into_iter().collect());
            }
            Command::Adopt(project, reply) => self.adopt(&project, reply),
            Command::LearnConversation { instance_id, uuid } => {
                self.learn_conversation(&instance_id, &uuid);
            }
            Command::Adoptable(reply) => {
                let _ = reply.send(self.adoptable_projects());
            }
            Command::Forget(reference, reply) => self.forget(&reference, reply),
            Command::Get(reference, reply) => {
                let answer = self
                    .resolve(&reference, |r| format!("no such instance: {r}"))
                    .map(|id| self.instance_json(&id));
                let _ = reply.send(answer);
            }
            Command::List(reply) => {
                let mut all: Vec<Instance> = self
                    .instances
                    .keys()
                    .map(|id| self.instance_json(id))
                    .collect();
                all.sort_by(|a, b| {
                    a.project
                        .to_lowercase()
                        .cmp(&b.project.to_lowercase())
                        .then_with(|| a.started_at.cmp(&b.started_at))
                });
                let _ = reply.send(all);
            }
        }
    }

    fn resolve(
        &self,
        reference: &str,
        not_found: impl Fn(&str) -> String,
    ) -> Result<String, EngineError> {
        let candidates: Vec<Candidate<'_>> = self
            .instances
            .iter()
            .map(|(id, live)| Candidate {
                id,
                project: &live.row.project,
                live: live.is_live(),
            })
            .collect();
        match reference::resolve(reference, &candidates) {
            Ok(id) => Ok(id.to_owned()),
            // Texts repeat the reference through the echo rule (http-api.md §12).
            Err(Unresolved::NotFound) => Err(EngineError::NotFound(not_found(&echo(reference)))),
            Err(Unresolved::Ambiguous(text)) => Err(EngineError::Ambiguous(text)),
        }
    }

    // ---- launch -----------------------------------------------------------------------

    /// Step 6: `bypassPermissions` needs the project's opt-in (re-checked on resume).
    fn gate_bypass(&self, name: &ProjectName, mode: PermissionMode) -> Result<(), EngineError> {
        let allowed = self
            .config
            .projects
            .get(name.as_str())
            .is_some_and(|p| p.allow_bypass_permissions);
        if mode == PermissionMode::BypassPermissions && !allowed {
            return Err(EngineError::PermissionModeNotAllowed(format!(
                "bypassPermissions is not enabled for project '{name}'. Set projects.{name}.allow_bypass_permissions: true in clauster.yml first."
            )));
        }
        Ok(())
    }

    /// Steps 10–11: the project must be trusted unless the request trusts it, and the cap
    /// must leave room. Returns whether it was trusted already.
    fn gate_trust_and_cap(
        &self,
        canonical: &Path,
        is_git: bool,
        trust: bool,
    ) -> Result<bool, EngineError> {
        let trusted = trust::load_trusted(&self.claude_global_file).state(canonical, is_git)
            == clauster_core::claude_json::TrustState::Trusted;
        if !trusted && !trust {
            return Err(EngineError::Conflict(format!(
                "directory not trusted: {}. Use the Trust action before starting.",
                canonical.display()
            )));
        }
        if let Some(max) = self.config.instance_defaults.max_bridges {
            // Launches past the gate count too: concurrent starts of different projects
            // each pass it before any is `starting`.
            let live = self
                .instances
                .iter()
                .filter(|(_, l)| l.status.is_live())
                .map(|(id, _)| id)
                .chain(&self.launching)
                .collect::<HashSet<_>>()
                .len() as u64;
            if live >= max {
                return Err(EngineError::Conflict(format!(
                    "max_bridges={max} reached ({live} live); stop a bridge before starting another"
                )));
            }
        }
        Ok(trusted)
    }

    /// Answers a gate's refusal or existing instance at once; starts a launch otherwise.
    fn launch_or_answer(&mut self, gated: Result<Gated, EngineError>, reply: LaunchReply) {
        match gated {
            Err(err) => {
                let _ = reply.send(Err(err));
            }
            Ok(Gated::Existing(outcome)) => {
                let _ = reply.send(Ok(*outcome));
            }
            Ok(Gated::Launch(ticket)) => self.begin_launch(*ticket, Some(reply)),
        }
    }

    // ---- observation ------------------------------------------------------------------

    fn tick(&mut self) {
        self.ticks += 1;
        if self.ticks.is_multiple_of(ROTATE_EVERY_TICKS) {
            self.rotate_logs();
        }
        if self.ticks.is_multiple_of(RETAIN_EVERY_TICKS) {
            let keep = self
                .instances
                .values()
                .filter_map(|live| live.row.log_stem.clone())
                .collect();
            retain_logs(&self.config, &self.logs, &keep);
        }
        let ids: Vec<String> = self
            .instances
            .iter()
            .filter(|(_, live)| {
                !live.phase.is_relaunching()
                    && (live.status.is_live()
                        || (live.status == Status::Error
                            && live.phase.exited().is_none()
                            && live.identity.is_some()))
            })
            .map(|(id, _)| id.clone())
            .collect();
        let root = self.config.projects_root.clone();
        for id in ids {
            self.observe(&id);
            self.learn_from_transcript(&id, &root);
            let Some(live) = self.instances.get(&id) else {
                continue;
            };
            // Children report their exit themselves; re-parented bridges (and pty bridges,
            // children of their keeper) are checked here, and only two misses in a row end
            // one: a single failed `/proc` read is no exit, and a keeper gets the time to
            // write its final sidecar.
            if (live.phase.is_child() && !live.is_pty())
                || live.phase.is_stopping()
                || live.identity.is_none()
            {
                continue;
            }
            let seen = alive(live);
            let live = self.instances.get_mut(&id).expect("present above");
            let (missed, gone) = confirm_gone(live.missed, seen);
            live.missed = missed;
            if gone {
                if live.status == Status::Error {
                    let live = self.instances.get_mut(&id).expect("present above");
                    live.phase.set_exited(ExitStatus::Unknown);
                    continue;
                }
                self.gone(&id, ExitStatus::Unknown);
            }
        }
    }

    /// §5.3: every file of a live log set larger than the limit is rotated.
    fn rotate_logs(&mut self) {
        let max = self
            .config
            .logs
            .bridge_log_max_size_mb
            .saturating_mul(1024 * 1024);
        let keep = self.config.logs.keep_rotated;
        let ids: Vec<String> = self
            .instances
            .iter()
            .filter(|(_, live)| live.is_live())
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            // What is still unread is read before the file shrinks.
            self.observe(&id);
            let Some(live) = self.instances.get_mut(&id) else {
                continue;
            };
            let Some(stem) = live.row.log_stem.clone() else {
                continue;
            };
            let set = LogSet::at(self.logs.dir(), &stem);
            let rotated = super::logs::rotate_set(&set, max, keep, &mut live.mirror_read);
            // Everything before the truncation was read above: the next read starts at 0,
            // even when the writer appended again before it (no shrink would show).
            if rotated.parse_source {
                live.log_read = 0;
            }
            if rotated.capture {
                live.capture_read = 0;
            }
        }
    }

    // ---- the status machine -----------------------------------------------------------

    fn context(&self, live: &Live) -> Context {
        Context {
            intentional_stop: live.row.intentional_stop,
            spawn_mode: live.row.spawn_mode.parse().unwrap_or(SpawnMode::SameDir),
            stalled_action: self.config.claude.stalled_bridge_action,
            bridge_alive: alive(live),
            resumes_conversation: live.resumes_conversation,
        }
    }

    /// Applies one event through `clauster_core::status` and carries out its effects.
    fn apply(&mut self, id: &str, event: Event) {
        let Some(live) = self.instances.get(id) else {
            return;
        };
        let before = live.status;
        let ctx = self.context(live);
        let Ok(transition) = status::transition(Some(live.status), event, &ctx) else {
            tracing::debug!(instance = %short(id), event = event.name(), "ignored an event that does not apply");
            return;
        };
        let config = Arc::clone(&self.config);
        let live = self.instances.get_mut(id).expect("present above");
        let mut terminate = false;
        let mut sweep = false;
        let mut fallback = false;
        let mut strip = false;
        for effect in &transition.effects {
            match effect {
                Effect::Classify(cause) => {
                    let failure = status::classify(*cause, &evidence_of(live, &config));
                    set_failure(&mut live.row, &failure);
                }
                Effect::ClearError => {
                    live.row.error_kind = None;
                    live.row.error_detail = None;
                    live.row.error_hint = None;
                }
                Effect::SetReadyAt => {
                    live.row.ready_at = Some(rfc3339(now_ms()));
                    live.row.resumed_conversation = live.resumes_conversation;
                }
                Effect::FreshFallback => {
                    fallback = live.row.error_kind.as_deref().is_some_and(|kind| {
                        kind.parse::<ErrorKind>()
                            .is_ok_and(ErrorKind::allows_fresh_fallback)
                    });
                }
                Effect::SetEndedAt => live.row.ended_at = Some(rfc3339(now_ms())),
                Effect::Terminate => terminate = true,
                Effect::SessionSweep => sweep = true,
                Effect::MarkStopping => {
                    live.row.intentional_stop = true;
                    live.phase.start_stopping();
                }
                Effect::StripPointerSession => strip = true,
                // Crash counters and events are not kept yet; relaunches are driven by
                // `resume` and `fresh_fallback` directly.
                Effect::Publish(_)
                | Effect::IncrementCrashCount
                | Effect::ResetForRelaunch
                | Effect::DeleteRecord => {}
            }
        }
        if let Next::Status(next) = transition.next
            && !fallback
        {
            live.status = next;
            next.as_token().clone_into(&mut live.row.last_status);
        }
        // A live pointer is never touched: while the bridge runs, the strip waits for its end.
        live.strip_pointer_when_gone |= strip && terminate;
        // The failed continue is not shown: it stays `starting` until the fresh relaunch
        // replaces it (or, when none is possible, ends as the `error` it is).
        live.phase.set_relaunching(fallback);
        if strip && !terminate {
            let project = live.row.project.clone();
            self.strip_project_pointer(&project);
        }
        if fallback {
            self.sweep(id);
            self.fresh_fallback(id);
            return;
        }
        let ended = self.instances[id].status;
        if ended != before && matches!(ended, Status::Crashed | Status::Error) {
            // §7.9: an `on-failure` project schedules the restart (or ends a crash loop)
            // before the end is persisted and published, so both carry it.
            self.after_failure(id);
        }
        let live = &self.instances[id];
        self.persist(live);
        self.publish(id);
        if terminate {
            self.terminate(id, None);
        } else if sweep {
            self.sweep(id);
        }
    }

    // ---- stop, terminate, forget -------------------------------------------------------

    fn stop(&mut self, reference: &str, reply: oneshot::Sender<Result<Instance, EngineError>>) {
        let id = match self.resolve(reference, |r| format!("no managed instance: '{r}'")) {
            Ok(id) => id,
            Err(err) => {
                let _ = reply.send(Err(err));
                return;
            }
        };
        // A user's Stop never leads to a restart, and the project is no longer wanted
        // (written after the Stop's own write, so a slow store delays nothing else).
        self.stop_cancels_restart(&id);
        let live = &self.instances[&id];
        let bridge_alive = alive(live);
        let keeper_alive = keeper_alive(live);
        if (!live.status.is_live() && !bridge_alive && !keeper_alive) || live.phase.is_stopping() {
            // §8.1 step 2: a dead row is returned unchanged.
            self.stop_unwants(&id);
            let _ = reply.send(Ok(self.instance_json(&id)));
            return;
        }
        if !live.status.is_live() && !bridge_alive {
            // Only the keeper of a dead pty bridge is left: end it (§8.2 T3–T4), answer once
            // it is gone; the status stays what the bridge's end made it.
            self.stop_unwants(&id);
            self.terminate(&id, Some(reply));
            return;
        }
        // §8.1 step 3: persist the intent before any signal; a failed write is a 503 and
        // nothing is signalled.
        let mut row = live.row.clone();
        row.intentional_stop = true;
        row.updated_at = rfc3339(now_ms());
        let written = self.writer.upsert_confirmed(row);
        let project = live.row.project.clone();
        self.reserve(project, async move {
            let written = written
                .await
                .unwrap_or_else(|_| Err("the store writer has stopped".into()));
            Continuation::new(move |supervisor| supervisor.stop_persisted(&id, written, reply))
        });
    }

    /// The rest of a Stop once its intent is on disk.
    fn stop_persisted(
        &mut self,
        id: &str,
        written: Result<(), String>,
        reply: oneshot::Sender<Result<Instance, EngineError>>,
    ) {
        if let Err(reason) = written {
            let _ = reply.send(Err(EngineError::Unavailable(reason)));
            return;
        }
        self.stop_unwants(id);
        let Some(live) = self.instances.get_mut(id) else {
            let _ = reply.send(Err(EngineError::NotFound(format!(
                "no managed instance: '{id}'"
            ))));
            return;
        };
        live.row.intentional_stop = true;
        if live.phase.is_stopping() || !(live.status.is_live() || alive(live)) {
            // It ended while the intent was being written.
            let live = &self.instances[id];
            self.persist(live);
            let _ = reply.send(Ok(self.instance_json(id)));
            return;
        }
        live.phase.start_stopping();
        let live = &self.instances[id];
        self.persist(live);
        self.publish(id);
        self.terminate(id, Some(reply));
    }

    fn terminated(
        &mut self,
        id: &str,
        launch: u64,
        reply: Option<oneshot::Sender<Result<Instance, EngineError>>>,
    ) {
        let Some(live) = self.instances.get_mut(id) else {
            return;
        };
        if live.launch == launch && live.phase.is_stopping() {
            live.phase.finish_stopping();
            // Stop of a starting/running instance, or of an `error` one kept alive.
            live.status = Status::Stopped;
            Status::Stopped
                .as_token()
                .clone_into(&mut live.row.last_status);
            live.row.ended_at = Some(rfc3339(now_ms()));
            let live = &self.instances[id];
            self.persist(live);
            self.publish(id);
        } else if live.launch == launch && live.row.ended_at.is_none() {
            live.row.ended_at = Some(rfc3339(now_ms()));
            let live = &self.instances[id];
            self.persist(live);
            self.publish(id);
        }
        if let Some(live) = self.instances.get_mut(id)
            && live.launch == launch
            && std::mem::take(&mut live.strip_pointer_when_gone)
        {
            let project = live.row.project.clone();
            self.strip_project_pointer(&project);
        }
        if let Some(reply) = reply {
            let _ = reply.send(Ok(self.instance_json(id)));
        }
    }

    /// §9.5: only a record whose bridge and keeper are gone; the row is deleted first, and
    /// only a deletion that reached the store is answered 2xx.
    fn forget(&mut self, reference: &str, reply: oneshot::Sender<Result<String, EngineError>>) {
        let id = match self.resolve(reference, |r| {
            format!("no managed instance to forget: '{r}'")
        }) {
            Ok(id) => id,
            Err(err) => {
                let _ = reply.send(Err(err));
                return;
            }
        };
        let live = &self.instances[&id];
        if live.is_live() || live.phase.is_stopping() || keeper_alive(live) {
            let _ = reply.send(Err(EngineError::Conflict(format!(
                "instance '{}' is still live; stop it first",
                echo(reference)
            ))));
            return;
        }
        let deleted = self.writer.delete_confirmed(&id);
        let project = live.row.project.clone();
        self.reserve(project, async move {
            let deleted = deleted
                .await
                .unwrap_or_else(|_| Err("the store writer has stopped".into()));
            Continuation::new(move |supervisor| supervisor.forgotten(id, deleted, reply))
        });
    }

    fn forgotten(
        &mut self,
        id: String,
        deleted: Result<(), String>,
        reply: oneshot::Sender<Result<String, EngineError>>,
    ) {
        if let Err(reason) = deleted {
            let _ = reply.send(Err(EngineError::Unavailable(reason)));
            return;
        }
        // Only standard bridges write the pointer; forgetting a pty instance never touches
        // it (§9.5).
        self.forget_restarts(&id);
        if let Some(forgotten) = self.instances.remove(&id)
            && !forgotten.is_pty()
            && let Ok(canonical) =
                std::fs::canonicalize(self.config.projects_root.join(&forgotten.row.project))
        {
            self.strip_pointer(&canonical, true);
        }
        self.count_running();
        self.writer.publish(Frame::InstanceRemoved {
            instance_id: id.clone(),
        });
        let _ = reply.send(Ok(id));
    }

    // ---- rediscovery ------------------------------------------------------------------

    // ---- pointers ---------------------------------------------------------------------

    // ---- persistence and publication --------------------------------------------------
}

impl Live {
    /// A record as a launch (ours: `child`) or rediscovery sees it, with nothing read yet.
    fn new(
        row: InstanceRow,
        status: Status,
        launch: u64,
        child: bool,
        identity: Option<StartIdentity>,
    ) -> Self {
        Self {
            row,
            status,
            identity,
            launch,
            phase: Phase::Live { child },
            parser: MarkerParser::new(),
            log_read: 0,
            capture_read: 0,
            capture_tail: String::new(),
            log_tail: String::new(),
            reattach_grace: Grace::NotStarted,
            resumes_conversation: false,
            fallback_warning: None,
            strip_pointer_when_gone: false,
            missed: 0,
            ambiguity_reported: false,
            mirror_read: 0,
            keeper: None,
            sidecar: None,
            notice: None,
            project_gone: false,
        }
    }

    fn is_pty(&self) -> bool {
        self.row.resume_mode == LaunchMode::Pty.as_token()
    }

    /// The pty bridge's exit status from the keeper's final sidecar.
    fn sidecar_exit(&self) -> Option<ExitStatus> {
        let code = self.sidecar.as_ref()?.exit.as_ref()?.bridge_exit;
        Some(match code {
            // The keeper could not learn it: unknown, never a signal (issue 14).
            None => ExitStatus::Unknown,
            Some(code) if code < 0 => ExitStatus::Signal(-code),
            Some(code) => ExitStatus::Code(code),
        })
    }

    /// starting, running, or `error` with a live bridge (http-api.md §2).
    fn is_live(&self) -> bool {
        self.status.is_live() || (self.status == Status::Error && alive(self))
    }
}

/// A pty instance's keeper is still the process we launched (it may outlive its bridge).
fn keeper_alive(live: &Live) -> bool {
    live.keeper
        .as_ref()
        .is_some_and(|keeper| proc::is_ours(keeper, Gate::Keeper))
}

/// The tick's death verdict for a re-parented bridge (issue 14): gone only when two checks in a
/// row missed it, so one failed `/proc` read never ends a healthy bridge. Returns the new miss
/// count and whether the bridge is gone.
fn confirm_gone(missed: u8, seen_alive: bool) -> (u8, bool) {
    if seen_alive {
        return (0, false);
    }
    let missed = missed.saturating_add(1);
    (missed, missed >= 2)
}

/// The recorded bridge still is the process we launched (start identity, §16). A pty
/// bridge whose identity the keeper has not published yet counts as alive while its keeper is.
fn alive(live: &Live) -> bool {
    if live.phase.exited().is_some() {
        return false;
    }
    match (&live.identity, &live.keeper) {
        (Some(bridge), _) => proc::is_ours(bridge, Gate::Bridge),
        (None, Some(keeper)) => live.sidecar.is_none() && proc::is_ours(keeper, Gate::Keeper),
        (None, None) => false,
    }
}

/// What the classifier gets (bridges.md §7.6): the logs, and for pty the sidecar.
fn evidence_of<'a>(live: &'a Live, config: &Config) -> FailureEvidence<'a> {
    let sidecar = live.sidecar.as_ref();
    FailureEvidence {
        debug_log: &live.log_tail,
        capture: &live.capture_tail,
        exit_screen: sidecar.and_then(|s| s.exit.as_ref()?.exit_screen.as_deref()),
        sidecar_error: sidecar.and_then(|s| s.error.as_deref()),
        prompt: sidecar.and_then(|s| s.prompt).map(pty::prompt_of),
        poisoned: live.parser.facts().poison_reason.is_some(),
        resumes_conversation: live.resumes_conversation,
        exit: live.phase.exited(),
        ..evidence_defaults(config)
    }
}

fn invalid(detail: String, field: Option<&'static str>) -> EngineError {
    EngineError::InvalidOption { detail, field }
}

fn evidence_defaults(config: &Config) -> FailureEvidence<'static> {
    FailureEvidence {
        debug_log: "",
        capture: "",
        exit_screen: None,
        sidecar_error: None,
        prompt: None,
        poisoned: false,
        resumes_conversation: false,
        launch_error: None,
        startup_grace_seconds: config.claude.startup_grace_seconds,
        exit: None,
    }
}

fn set_failure(row: &mut InstanceRow, failure: &status::Failure) {
    row.error_kind = Some(failure.kind.as_token().to_owned());
    row.error_hint = Some(failure.hint.to_owned()).filter(|h| !h.is_empty());
    row.error_detail = Some(sanitize_text(&failure.detail).into_owned());
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn rfc3339(ms: u128) -> String {
    crate::time::rfc3339_from_unix_millis(ms)
}

fn parse_rfc3339_ms(text: &str) -> Option<u128> {
    crate::time::unix_millis(text)
}

#[cfg(test)]
mod tests {
    use super::{confirm_gone, stem_of};

    #[test]
    fn one_missed_liveness_check_never_ends_a_bridge() {
        assert_eq!(confirm_gone(0, true), (0, false));
        assert_eq!(
            confirm_gone(0, false),
            (1, false),
            "a single miss is not an exit"
        );
        assert_eq!(
            confirm_gone(1, true),
            (0, false),
            "seen again: the miss is forgotten"
        );
        assert_eq!(confirm_gone(1, false), (2, true), "two in a row: gone");
        assert_eq!(confirm_gone(u8::MAX, false), (u8::MAX, true));
    }

    #[test]
    fn stems_come_from_log_file_names() {
        assert_eq!(
            stem_of("alpha-1764083000000-1.stderr.log"),
            Some("alpha-1764083000000-1")
        );
        assert_eq!(
            stem_of("alpha-1764083000000-1.log"),
            Some("alpha-1764083000000-1")
        );
        assert_eq!(
            stem_of("alpha-1764083000000-1.keeper.json"),
            Some("alpha-1764083000000-1")
        );
    }
}
