//! The supervisor task: owns the instances, applies the status machine of `clauster-core`,
//! persists every change before publishing it (bridges.md §10.3).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clauster_core::argv::{self, StandardForm, StandardKind, StandardLaunch};
use clauster_core::capability::Capabilities;
use clauster_core::config::Config;
use clauster_core::identity::{Gate, StartIdentity, parse_boot_id};
use clauster_core::markers::{MarkerParser, parse_stdout_capture};
use clauster_core::modes::{LaunchMode, PermissionMode, Sandbox, SpawnMode};
use clauster_core::names::{Label, ProjectName, SessionNamePrefix, echo};
use clauster_core::sanitize::sanitize_text;
use clauster_core::status::{
    self, Context, Effect, ErrorKind, Event, Exit, ExitStatus, FailureCause, FailureEvidence, Next,
    Status,
};
use clauster_pty::proc::{self, SpawnSpec, TerminatePolicy};
use clauster_wire::{Frame, Instance, SpawnOutcome};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

mod gate;
mod pty;

use gate::{GateRequest, Gated, Ticket};

use super::logs::{LogSet, LogSets};
use super::pointers::{self, PointerDir, StripResult};
use super::probes::Probes;
use super::reference::{self, Candidate, Unresolved};
use super::writer::{HealthInputs, StoreWriter};
use super::{ASK_TIMEOUT, ClaudeHealth, Command, Engine, EngineError};
use crate::bridge_env::{self, BridgeEnv};
use crate::claude_files::{self, ClaudeFileError};
use crate::probe;
use crate::store::{InstanceRow, Store};
use crate::trust;

/// §11 step 3's detail.
const UNFINISHED_LAUNCH: &str = "Clauster stopped before this bridge finished launching";
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
// The flags are independent facts of one launch, not a state in disguise.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug)]
struct Live {
    row: InstanceRow,
    status: Status,
    stopping: bool,
    identity: Option<StartIdentity>,
    /// Counts launches of this server process, so stale exit notices are ignored.
    launch: u64,
    /// Our child: its exit status will arrive as `Msg::Exited`.
    child: bool,
    exited: Option<ExitStatus>,
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
    /// A failed continue is being relaunched fresh (§9.2, §9.3): this launch's end is settled
    /// and not shown; the next launch replaces the record.
    relaunching: bool,
    /// Liveness checks in a row that found the re-parented bridge gone: one failed `/proc`
    /// read never ends a healthy bridge (issue 14).
    missed: u8,
    /// The pty conversation guess was found ambiguous and said so (once per launch).
    ambiguity_reported: bool,
    /// pty: the last good read of the keeper's sidecar.
    sidecar: Option<clauster_core::pty_sidecar::Sidecar>,
    /// The notice shown on the instance: the engine's own, else the sidecar's note.
    notice: Option<String>,
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
        running: running_tx,
    };
    watch_log_dir(supervisor.logs.dir(), tx.clone());
    let ticker = tx.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        loop {
            interval.tick().await;
            if ticker.send(Msg::Tick).await.is_err() {
                break;
            }
        }
    });
    let server_env = setup.server_env;
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
    /// How many instances are `running`, for `/healthz`.
    running: watch::Sender<u32>,
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
                        && !live.relaunching
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
            Command::Adopt(project, _) => Some(project.clone()),
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
                self.launch_or_answer(gated, reply);
            }
            Command::Stop(reference, reply) => self.stop(&reference, reply),
            Command::Resume {
                reference,
                fresh,
                trust,
                reply,
            } => {
                let gated = self
                    .resolve(&reference, |r| {
                        format!("no managed instance to resume: '{r}'")
                    })
                    .and_then(|id| {
                        self.gate(&GateRequest::Resume {
                            id: &id,
                            fresh,
                            trust,
                        })
                    });
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
            let live = self
                .instances
                .values()
                .filter(|l| l.status.is_live())
                .count() as u64;
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

    /// Steps 12–16 off the supervisor, behind the project's reservation: the probe of the
    /// binary about to run (§3.1), Claude's files under their lock, the log set, and the row
    /// persisted as `starting`. Step 17, the spawn, follows on the supervisor
    /// ([`Self::finish_launch`]). `reply` is `None` for the engine's own fallback relaunch.
    fn begin_launch(&mut self, ticket: Ticket, reply: Option<LaunchReply>) {
        let project = ticket.row.project.clone();
        let inputs = PrepareInputs {
            config: Arc::clone(&self.config),
            claude_global_file: self.claude_global_file.clone(),
            recap_hook: self.recap_hook.clone(),
            logs: Arc::clone(&self.logs),
            keep: self
                .instances
                .values()
                .filter_map(|live| live.row.log_stem.clone())
                .collect(),
            writer: self.writer.clone(),
            pointer_file: ticket
                .strip_pointer
                .then(|| self.pointers.file_for(&ticket.plan.canonical)),
        };
        let probes = self.probes.clone();
        self.reserve(project, async move {
            let (caps, late) = probes.for_launch().await;
            let id = ticket.row.instance_id.clone();
            let prepared = tokio::task::spawn_blocking(move || prepare(inputs, ticket, caps, late))
                .await
                .unwrap_or_else(|err| {
                    Err((
                        id,
                        EngineError::Io(format!("the launch was cancelled: {err}")),
                    ))
                });
            Continuation::new(move |supervisor| supervisor.finish_launch(prepared, reply))
        });
    }

    /// Step 17 on the supervisor: the spawn, or the answer to a launch refused off it.
    fn finish_launch(
        &mut self,
        prepared: Result<Prepared, (String, EngineError)>,
        reply: Option<LaunchReply>,
    ) {
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err((id, err)) => {
                match reply {
                    Some(reply) => {
                        let _ = reply.send(Err(err));
                    }
                    None => self.fallback_failed(&id, &err.to_string()),
                }
                return;
            }
        };
        self.caps = prepared.caps.clone();
        let Prepared {
            row,
            plan,
            set,
            args,
            resumes_conversation,
            warnings,
            fallback_warning,
            ..
        } = prepared;
        let id = match set {
            Ok(set) => self.launch_prepared(row, &plan, &set, &args, resumes_conversation),
            Err(detail) => self.record_launch_failure(row, now_ms(), &detail),
        };
        if let Some(live) = self.instances.get_mut(&id)
            && fallback_warning.is_some()
        {
            live.fallback_warning = fallback_warning;
        }
        if let Some(reply) = reply {
            let mut warnings = warnings;
            if let Some(warning) = self
                .instances
                .get_mut(&id)
                .and_then(|l| l.fallback_warning.take())
            {
                warnings.push(warning);
            }
            let _ = reply.send(Ok(SpawnOutcome {
                instance: self.instance_json(&id),
                created: true,
                reason: None,
                warnings,
            }));
        }
    }

    /// The spawn of a launch whose `starting` row is persisted (§6 step 17), and the record
    /// of its start identity.
    fn launch_prepared(
        &mut self,
        row: InstanceRow,
        plan: &LaunchPlan,
        set: &LogSet,
        args: &[String],
        resumes_conversation: bool,
    ) -> String {
        let config = Arc::clone(&self.config);
        let id = row.instance_id.clone();
        self.launches += 1;
        let mut live = Live::new(row, Status::Starting, self.launches, true, None);
        live.resumes_conversation = resumes_conversation;
        let recap = self.recap_hook.is_some() && !resumes_conversation;
        let spawned = match &plan.kind {
            LaunchKind::Standard(_) => self.launch(set, &plan.canonical, args, recap),
            LaunchKind::Pty(_) => self.launch_keeper(set, &plan.canonical, args),
        };
        match spawned {
            Ok(spawned) => {
                record_spawn(&mut live, &spawned);
                self.wait_for_exit(&id, live.launch, spawned.child);
                self.schedule_deadline(
                    &id,
                    live.launch,
                    Duration::from_secs_f64(config.claude.startup_grace_seconds),
                );
            }
            Err(detail) => {
                let failure = status::classify(
                    FailureCause::LaunchFailed,
                    &FailureEvidence {
                        launch_error: Some(&detail),
                        ..evidence_defaults(&config)
                    },
                );
                live.status = Status::Error;
                live.child = false;
                set_failure(&mut live.row, &failure);
                live.row.ended_at = Some(rfc3339(now_ms()));
            }
        }
        live.status.as_token().clone_into(&mut live.row.last_status);
        self.persist(&live);
        self.instances.insert(id.clone(), live);
        self.publish(&id);
        // Markers written before the watcher saw the file are read now.
        self.observe(&id);
        id
    }

    /// A launch that failed before any process existed: the row is persisted and published
    /// as `error` / `launch_failed` with `detail`.
    fn record_launch_failure(&mut self, mut row: InstanceRow, now: u128, detail: &str) -> String {
        let config = Arc::clone(&self.config);
        row.launched_at = Some(rfc3339(now));
        row.bridge_id = None;
        row.environment_id = None;
        row.starter_session_id = None;
        row.url = None;
        let id = row.instance_id.clone();
        self.launches += 1;
        let mut live = Live::new(row, Status::Error, self.launches, false, None);
        let failure = status::classify(
            FailureCause::LaunchFailed,
            &FailureEvidence {
                launch_error: Some(detail),
                ..evidence_defaults(&config)
            },
        );
        set_failure(&mut live.row, &failure);
        live.row.ended_at = Some(rfc3339(now_ms()));
        live.status.as_token().clone_into(&mut live.row.last_status);
        self.persist(&live);
        self.instances.insert(id.clone(), live);
        self.publish(&id);
        id
    }

    /// The fallback of §9.2/§9.3: a continue that ended before readiness for a reason a fresh
    /// start can fix is relaunched once, fresh, through the same off-supervisor steps. When
    /// that relaunch is impossible (the project is gone), the failed continue stands.
    fn fresh_fallback(&mut self, id: &str) {
        let Some(live) = self.instances.get(id) else {
            return;
        };
        let project = live.row.project.clone();
        let label = live.row.label.clone();
        let is_pty = live.is_pty();
        let canonical = ProjectName::new(&project).ok().and_then(|name| {
            let canonical =
                std::fs::canonicalize(self.config.projects_root.join(name.as_str())).ok()?;
            Some((name, canonical))
        });
        let Some((name, canonical)) = canonical else {
            self.fallback_failed(
                id,
                &format!("project '{project}' is no longer under projects_root"),
            );
            return;
        };
        let Ok(plan_label) = Label::resolve(Some(&label), &name) else {
            self.fallback_failed(id, "the recorded label is not valid");
            return;
        };
        let plan = LaunchPlan {
            label: plan_label,
            spawn_mode: live.row.spawn_mode.parse().unwrap_or(SpawnMode::SameDir),
            permission_mode: live.row.permission_mode.parse().unwrap_or_default(),
            kind: if is_pty {
                LaunchKind::Pty(pty::Conversation::New)
            } else {
                LaunchKind::Standard(StandardKind::Fresh)
            },
            canonical,
        };
        let mut row = live.row.clone();
        row.error_kind = None;
        row.error_detail = None;
        row.error_hint = None;
        row.ended_at = None;
        row.resumed_conversation = false;
        let warning = if is_pty {
            format!("could not continue the previous conversation of '{label}'; started a new one")
        } else {
            format!(
                "nothing to continue in '{project}' (claude keeps about 4 hours); started a fresh session"
            )
        };
        self.begin_launch(
            Ticket {
                row,
                plan,
                warnings: Vec::new(),
                trust_write: false,
                strip_pointer: false,
                fallback_warning: Some(warning),
            },
            None,
        );
    }

    /// A fallback relaunch that could not happen: the failed continue is the outcome,
    /// persisted and published like any other end of a launch.
    fn fallback_failed(&mut self, id: &str, why: &str) {
        let Some(live) = self.instances.get_mut(id) else {
            return;
        };
        tracing::warn!(instance = %short(id), "no fresh relaunch after a failed continue: {why}");
        live.relaunching = false;
        live.status = Status::Error;
        Status::Error
            .as_token()
            .clone_into(&mut live.row.last_status);
        live.row.ended_at.get_or_insert_with(|| rfc3339(now_ms()));
        let live = &self.instances[id];
        self.persist(live);
        self.publish(id);
    }

    /// `recap`: a fresh standard launch with the recap hook armed (§4.3 step 5).
    fn launch(
        &self,
        set: &LogSet,
        cwd: &Path,
        args: &[String],
        recap: bool,
    ) -> Result<proc::Spawned, String> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let binary =
            bridge_env::resolve_binary(&self.config.claude.binary, &self.env, home.as_deref())?;
        let spec = SpawnSpec {
            program: binary,
            args: args.iter().map(Into::into).collect(),
            cwd: cwd.to_path_buf(),
            env: if recap {
                let max = self.config.claude.resume_recap_max_chars;
                self.env.with_recap(max).vars().to_vec()
            } else {
                self.env.vars().to_vec()
            },
            stdout_log: set.capture.clone(),
            stderr_log: set.capture.clone(),
        };
        proc::spawn_detached(&spec).map_err(|err| format!("cannot start claude: {err}"))
    }

    fn wait_for_exit(&self, id: &str, launch: u64, mut child: std::process::Child) {
        let tx = self.tx.clone();
        let id = id.to_owned();
        // A thread per bridge: `wait` notices the exit at once, with its status.
        std::thread::spawn(move || {
            use std::os::unix::process::ExitStatusExt;
            let status = match child.wait() {
                Ok(status) => match (status.code(), status.signal()) {
                    (Some(code), _) => ExitStatus::Code(code),
                    (None, Some(signal)) => ExitStatus::Signal(signal),
                    (None, None) => ExitStatus::Unknown,
                },
                Err(_) => ExitStatus::Unknown,
            };
            let _ = tx.blocking_send(Msg::Exited { id, launch, status });
        });
    }

    fn schedule_deadline(&self, id: &str, launch: u64, after: Duration) {
        let tx = self.tx.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(Msg::Deadline { id, launch }).await;
        });
    }

    // ---- observation ------------------------------------------------------------------

    /// Reads what the bridge wrote since last time and applies readiness and poison.
    fn observe(&mut self, id: &str) {
        if self.instances.get(id).is_none_or(|live| live.relaunching) {
            return;
        }
        if self.instances.get(id).is_some_and(Live::is_pty) {
            self.observe_pty(id);
            return;
        }
        let Some(live) = self.instances.get_mut(id) else {
            return;
        };
        if let Some(stem) = live.row.log_stem.clone() {
            let set = LogSet::at(self.logs.dir(), &stem);
            read_logs(&set, live, self.config.logs.keep_rotated);
            if let Some(bytes) = read_from(&set.capture, &mut live.capture_read) {
                push_tail(&mut live.capture_tail, &bytes);
            }
        } else if let Some(path) = live.row.debug_log_path.clone() {
            // An adopted bridge's own debug log (§9.6): its markers and shutdown line count.
            if let Some(bytes) = read_from(Path::new(&path), &mut live.log_read) {
                live.parser.feed(&bytes);
                push_tail(&mut live.log_tail, &bytes);
            }
        } else {
            return;
        }
        let facts = live.parser.facts().clone();
        let banner = parse_stdout_capture(&live.capture_tail);
        let mut changed = false;
        for (slot, value) in [
            (&mut live.row.bridge_id, facts.bridge_id.clone()),
            (
                &mut live.row.environment_id,
                facts
                    .environment_id
                    .clone()
                    .or(banner.environment_id.clone()),
            ),
            (
                &mut live.row.starter_session_id,
                facts
                    .starter_session_id
                    .clone()
                    .or(banner.session_id.clone()),
            ),
        ] {
            if slot.is_none() && value.is_some() {
                *slot = value;
                changed = true;
            }
        }
        if live.row.url.is_none()
            && let Some(env) = &live.row.environment_id
        {
            live.row.url = Some(format!("https://claude.ai/code?environment={env}"));
            changed = true;
        }
        let ready = facts.ready_by_markers() || banner.proves_ready();
        let launch = live.launch;
        if live.status == Status::Starting && facts.poison_reason.is_some() && live.exited.is_none()
        {
            self.apply(id, Event::PoisonMarker);
            return;
        }
        let alive = {
            let live = &self.instances[id];
            alive(live)
        };
        let live = self.instances.get_mut(id).expect("present above");
        if ready
            && alive
            && matches!(live.status, Status::Starting | Status::Error)
            && !live.stopping
        {
            // A reattach (no `Created initial session`) waits out the poison grace first.
            let needs_grace = live.status == Status::Starting && !facts.created_initial_session;
            match (needs_grace, live.reattach_grace) {
                (true, Grace::NotStarted) => {
                    live.reattach_grace = Grace::Pending;
                    let tx = self.tx.clone();
                    let id = id.to_owned();
                    tokio::spawn(async move {
                        tokio::time::sleep(REATTACH_POISON_GRACE).await;
                        let _ = tx.send(Msg::GraceOver { id, launch }).await;
                    });
                }
                (true, Grace::Pending) => {}
                _ => {
                    self.apply(id, Event::Ready);
                    return;
                }
            }
        }
        if changed {
            let live = &self.instances[id];
            self.persist(live);
            self.publish(id);
        }
    }

    fn exited(&mut self, id: &str, launch: u64, status: ExitStatus) {
        let Some(live) = self.instances.get_mut(id) else {
            return;
        };
        if live.launch != launch {
            return;
        }
        live.exited = Some(status);
        if live.stopping {
            // The stop in progress finishes the record once the tree is gone.
            return;
        }
        self.gone(id, status);
    }

    /// The bridge is gone (its exit noticed, or found dead by the liveness check).
    fn gone(&mut self, id: &str, status: ExitStatus) {
        self.observe(id);
        self.settle_gone(id, status);
    }

    /// Applies the end of a bridge whose last output was already read. A pty bridge's own
    /// exit status is the keeper's `bridge_exit` when the final sidecar has it.
    fn settle_gone(&mut self, id: &str, status: ExitStatus) {
        let Some(live) = self.instances.get(id) else {
            return;
        };
        if live.stopping {
            return;
        }
        let status = live.sidecar_exit().unwrap_or(status);
        let failure_marker = evidence_of(live, &self.config).has_failure_marker();
        let exit = Exit {
            status,
            clean_shutdown_logged: live.parser.facts().clean_shutdown,
            failure_marker,
        };
        self.apply(id, Event::ProcessGone(exit));
    }

    fn deadline(&mut self, id: &str, launch: u64) {
        let Some(live) = self.instances.get(id) else {
            return;
        };
        if live.launch != launch
            || live.status != Status::Starting
            || live.stopping
            || live.relaunching
        {
            return;
        }
        self.observe(id);
        if self
            .instances
            .get(id)
            .is_some_and(|l| l.status == Status::Starting)
        {
            self.apply(id, Event::Deadline);
        }
    }

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
                !live.relaunching
                    && (live.status.is_live()
                        || (live.status == Status::Error
                            && live.exited.is_none()
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
            if (live.child && !live.is_pty()) || live.stopping || live.identity.is_none() {
                continue;
            }
            let seen = alive(live);
            let live = self.instances.get_mut(&id).expect("present above");
            let (missed, gone) = confirm_gone(live.missed, seen);
            live.missed = missed;
            if gone {
                if live.status == Status::Error {
                    let live = self.instances.get_mut(&id).expect("present above");
                    live.exited = Some(ExitStatus::Unknown);
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
                    live.stopping = true;
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
        live.relaunching = fallback;
        if strip && !terminate {
            let project = live.row.project.clone();
            self.strip_project_pointer(&project);
        }
        if fallback {
            self.sweep(id);
            self.fresh_fallback(id);
            return;
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
        let live = &self.instances[&id];
        let bridge_alive = alive(live);
        let keeper_alive = keeper_alive(live);
        if (!live.status.is_live() && !bridge_alive && !keeper_alive) || live.stopping {
            // §8.1 step 2: a dead row is returned unchanged.
            let _ = reply.send(Ok(self.instance_json(&id)));
            return;
        }
        if !live.status.is_live() && !bridge_alive {
            // Only the keeper of a dead pty bridge is left: end it (§8.2 T3–T4), answer once
            // it is gone; the status stays what the bridge's end made it.
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
        let Some(live) = self.instances.get_mut(id) else {
            let _ = reply.send(Err(EngineError::NotFound(format!(
                "no managed instance: '{id}'"
            ))));
            return;
        };
        live.row.intentional_stop = true;
        if live.stopping || !(live.status.is_live() || alive(live)) {
            // It ended while the intent was being written.
            let live = &self.instances[id];
            self.persist(live);
            let _ = reply.send(Ok(self.instance_json(id)));
            return;
        }
        live.stopping = true;
        let live = &self.instances[id];
        self.persist(live);
        self.publish(id);
        self.terminate(id, Some(reply));
    }

    /// T1–T2 of §8.2 off the supervisor: the answer arrives as `Msg::Terminated`.
    fn terminate(&self, id: &str, reply: Option<oneshot::Sender<Result<Instance, EngineError>>>) {
        let live = &self.instances[id];
        let identity = live.identity.clone();
        let launch = live.launch;
        let grace = Duration::from_secs_f64(self.config.claude.stop_grace_seconds);
        let tx = self.tx.clone();
        let pty_end = live
            .is_pty()
            .then(|| pty::KeeperEnd::of(live, &self.config.projects_root));
        let id = id.to_owned();
        tokio::task::spawn_blocking(move || {
            // T1–T2 (§8.2); a pty bridge gets two interrupts.
            let policy = if pty_end.is_some() {
                TerminatePolicy::pty(grace)
            } else {
                TerminatePolicy::standard(grace)
            };
            if let Some(identity) = identity {
                let outcome = proc::terminate(&identity, Gate::Bridge, &policy);
                tracing::debug!(instance = %short(&id), ended_by = ?outcome.ended_by, "terminated");
            }
            // T3–T4: the keeper, then the worktree lock.
            if let Some(end) = pty_end {
                end.run();
            }
            let _ = tx.blocking_send(Msg::Terminated { id, launch, reply });
        });
    }

    fn sweep(&self, id: &str) {
        let Some(identity) = self.instances[id].identity.clone() else {
            return;
        };
        tokio::task::spawn_blocking(move || {
            proc::sweep_session(
                &identity,
                Duration::from_secs(1),
                Duration::from_millis(100),
            );
        });
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
        if live.launch == launch && live.stopping {
            live.stopping = false;
            live.exited.get_or_insert(ExitStatus::Unknown);
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
        if live.is_live() || live.stopping || keeper_alive(live) {
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

    /// bridges.md §11: every stored row comes back; a live status is believed only when the
    /// recorded process still is ours.
    async fn rediscover(&mut self) {
        self.clean_up_pointers();
        let rows = match self.writer.load().await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::error!("cannot read the instances from the store: {err}");
                Vec::new()
            }
        };
        for row in rows {
            let id = row.instance_id.clone();
            self.rediscover_row(row);
            if let Some(live) = self.instances.get(&id)
                && live.row.last_status != live.status.as_token()
            {
                let mut live_row = live.row.clone();
                live.status.as_token().clone_into(&mut live_row.last_status);
                self.instances.get_mut(&id).expect("inserted").row = live_row;
                self.persist(&self.instances[&id]);
            }
        }
        self.count_running();
        // §11: everything changed is persisted before the engine says it is ready.
        self.writer.flush().await;
    }

    /// One stored row after a restart (bridges.md §11): its status is re-derived from the
    /// process, never trusted from disk alone.
    fn rediscover_row(&mut self, row: InstanceRow) {
        let id = row.instance_id.clone();
        let status: Status = row.last_status.parse().unwrap_or(Status::Stopped);
        let identity = row.bridge_pid.and_then(|pid| {
            Some(StartIdentity {
                pid: i32::try_from(pid).ok()?,
                start_ticks: row.bridge_start_ticks.and_then(|t| u64::try_from(t).ok()),
                boot_id: row
                    .bridge_boot_id
                    .as_deref()
                    .and_then(|b| parse_boot_id(b).ok()),
                proc_start: row.bridge_proc_start,
            })
        });
        self.launches += 1;
        let keeper = pty::keeper_identity(&row);
        let mut live = Live::new(row, status, self.launches, false, identity);
        live.keeper = keeper;
        if status.is_live() && live.row.bridge_pid.is_none() && live.row.keeper_pid.is_none() {
            // Step 3: no process was ever recorded — Clauster stopped between persisting the
            // row and launching (§6 steps 16–17).
            let failure = status::classify(
                FailureCause::LaunchFailed,
                &FailureEvidence {
                    launch_error: Some(UNFINISHED_LAUNCH),
                    ..evidence_defaults(&self.config)
                },
            );
            set_failure(&mut live.row, &failure);
            live.row.error_detail = Some(UNFINISHED_LAUNCH.to_owned());
            live.row.ended_at.get_or_insert_with(|| rfc3339(now_ms()));
            live.status = Status::Error;
            live.exited = Some(ExitStatus::Unknown);
            self.instances.insert(id, live);
            return;
        }
        if live.is_pty() {
            // The sidecar says what the keeper learned while we were away.
            pty::read_sidecar(self.logs.dir(), &mut live);
        }
        let alive = alive(&live);
        if !alive {
            live.exited = Some(ExitStatus::Unknown);
        }
        self.instances.insert(id.clone(), live);
        if !alive {
            // Step 2.
            if status.is_live() {
                self.apply(&id, Event::FoundDeadAtStartup);
            }
            return;
        }
        // Step 1: the process is alive, whatever the row says.
        let live = self.instances.get_mut(&id).expect("inserted above");
        if live.row.intentional_stop
            && matches!(status, Status::Starting | Status::Running | Status::Error)
        {
            // A Stop whose intent was persisted but whose server was killed before the
            // bridge was gone (§8.1 step 3): it is finished now.
            live.stopping = true;
            self.terminate(&id, None);
            return;
        }
        let has_log = live.row.log_stem.is_some() || live.row.debug_log_path.is_some();
        match status {
            Status::Running | Status::Error => {}
            _ if live.row.ready_at.is_some() => live.status = Status::Running,
            // Recorded `stopped`/`crashed` but alive (every row imported from the Python
            // store): without a log set there is nothing to re-parse, so it is `running` on
            // liveness and never meets the startup deadline (issue 14).
            Status::Stopped | Status::Crashed if !has_log => live.status = Status::Running,
            Status::Stopped | Status::Crashed | Status::Starting => live.status = Status::Starting,
        }
        // Re-derive the readiness facts from the bridge's own log (B4).
        self.observe(&id);
        if self.instances[&id].status == Status::Starting {
            let launched = self.instances[&id]
                .row
                .launched_at
                .as_deref()
                .and_then(parse_rfc3339_ms);
            let grace = Duration::from_secs_f64(self.config.claude.startup_grace_seconds);
            let remaining = launched.map_or(grace, |at| {
                let due = at + grace.as_millis();
                Duration::from_millis(u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0))
            });
            self.schedule_deadline(&id, self.instances[&id].launch, remaining);
        }
    }

    // ---- pointers ---------------------------------------------------------------------

    /// The strip of §17.3 for the project at `canonical` (never of a live pointer).
    fn strip_pointer(&self, canonical: &Path, backup: bool) {
        let path = self.pointers.file_for(canonical);
        match pointers::strip_if_not_live(&path, backup) {
            Ok(StripResult::Cleared) => {
                tracing::info!("stripped the session of {}", path.display());
            }
            Ok(StripResult::Deleted) => {
                tracing::warn!("deleted {}: it was not a JSON object", path.display());
            }
            Ok(_) => {}
            Err(err) => tracing::warn!("cannot strip {}: {err}", path.display()),
        }
    }

    fn strip_project_pointer(&self, project: &str) {
        if let Ok(canonical) = std::fs::canonicalize(self.config.projects_root.join(project)) {
            self.strip_pointer(&canonical, true);
        }
    }

    /// Startup (§17.3): non-live pointers of discovered projects untouched for 14 days lose
    /// their session, without backup.
    fn clean_up_pointers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.config.projects_root) else {
            return;
        };
        let projects: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| ProjectName::new(n).is_ok())
            })
            .filter_map(|e| std::fs::canonicalize(e.path()).ok())
            .filter(|p| p.is_dir())
            .collect();
        let stripped = pointers::startup_cleanup(&self.pointers, &projects, SystemTime::now());
        if stripped > 0 {
            tracing::info!("stripped {stripped} stale bridge pointer(s)");
        }
    }

    /// The adoption candidate of §9.6 in `canonical`, unless one of our instances already
    /// holds that process.
    fn adoptable(&self, canonical: &Path) -> Option<pointers::Candidate> {
        let candidate = pointers::adoption_candidate(&self.pointers, canonical)?;
        let pid = candidate.process.stat.pid;
        let held = self.instances.values().any(|live| {
            live.exited.is_none() && live.identity.as_ref().is_some_and(|i| i.pid == pid)
        });
        (!held).then_some(candidate)
    }

    /// bridges.md §9.6: a standard bridge started outside Clauster becomes a managed
    /// `running` instance.
    fn adopt(&mut self, project: &str, reply: oneshot::Sender<Result<Instance, EngineError>>) {
        match self.adoption(project) {
            Err(err) => {
                let _ = reply.send(Err(err));
            }
            Ok((row, identity)) => {
                // The record is on disk before the bridge is shown as managed.
                let written = self.writer.upsert_confirmed(row.clone());
                self.reserve(row.project.clone(), async move {
                    let written = written
                        .await
                        .unwrap_or_else(|_| Err("the store writer has stopped".into()));
                    Continuation::new(move |supervisor| {
                        supervisor.adopted(row, identity, written, reply);
                    })
                });
            }
        }
    }

    fn adopted(
        &mut self,
        row: InstanceRow,
        identity: StartIdentity,
        written: Result<(), String>,
        reply: oneshot::Sender<Result<Instance, EngineError>>,
    ) {
        if let Err(reason) = written {
            let _ = reply.send(Err(EngineError::Unavailable(reason)));
            return;
        }
        let id = row.instance_id.clone();
        self.launches += 1;
        let live = Live::new(row, Status::Running, self.launches, false, Some(identity));
        self.instances.insert(id.clone(), live);
        self.publish(&id);
        self.observe(&id);
        let _ = reply.send(Ok(self.instance_json(&id)));
    }

    /// The checks of §9.6 and the record an adoption creates.
    fn adoption(&self, project: &str) -> Result<(InstanceRow, StartIdentity), EngineError> {
        let unknown = || EngineError::NotFound(format!("project '{}' not found", echo(project)));
        let name = ProjectName::new(project).map_err(|_| unknown())?;
        let project_dir = self.config.projects_root.join(name.as_str());
        if !project_dir.is_dir() {
            return Err(unknown());
        }
        let canonical = std::fs::canonicalize(&project_dir).map_err(|_| unknown())?;
        let managed = self.instances.values().any(|l| {
            l.row.project == name.as_str()
                && l.row.resume_mode == LaunchMode::Standard.as_token()
                && l.status.is_live()
        });
        if managed {
            return Err(EngineError::Conflict(format!(
                "'{name}' already has a standard bridge managed by Clauster"
            )));
        }
        let nothing = || EngineError::Conflict(format!("nothing to adopt in '{name}'"));
        let candidate =
            pointers::adoption_candidate(&self.pointers, &canonical).ok_or_else(nothing)?;
        let pid = candidate.process.stat.pid;
        if let Some(holder) = self
            .instances
            .values()
            .find(|l| l.exited.is_none() && l.identity.as_ref().is_some_and(|i| i.pid == pid))
        {
            return Err(EngineError::Conflict(format!(
                "the bridge in '{name}' is already managed as part of '{}'",
                holder.row.project
            )));
        }
        let debug_file = candidate
            .option("debug-file")
            .map(|file| canonical.join(file));
        let log_stem = debug_file.as_deref().and_then(|p| self.own_log_stem(p));
        let identity = candidate.identity();
        let mut row = adopted_row(&name, &candidate, log_stem.as_deref());
        if log_stem.is_none() {
            // Its own debug log, read like ours and remembered across restarts (§9.6).
            row.debug_log_path = debug_file
                .filter(|p| std::fs::File::open(p).is_ok())
                .map(|p| p.to_string_lossy().into_owned());
        }
        Ok((row, identity))
    }

    /// The stem of `path` when it is the public debug log of a set in our log directory.
    fn own_log_stem(&self, path: &Path) -> Option<String> {
        let dir = std::fs::canonicalize(path.parent()?).ok()?;
        if dir != std::fs::canonicalize(self.logs.dir()).ok()? {
            return None;
        }
        let stem = path.file_name()?.to_str()?.strip_suffix(".log")?;
        // `<stem>.raw.log` and `<stem>.stderr.log` are not public debug logs (names are ours:
        // exact case).
        let public = !matches!(
            Path::new(stem).extension().and_then(|e| e.to_str()),
            Some("raw" | "stderr")
        );
        public.then(|| stem.to_owned())
    }

    /// `GET /api/sessions/adoptable`: the projects with an adoption candidate, sorted.
    fn adoptable_projects(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.config.projects_root) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_owned();
                ProjectName::new(&name).ok()?;
                let canonical = std::fs::canonicalize(e.path()).ok()?;
                let managed = self.instances.values().any(|l| {
                    l.row.project == name
                        && l.row.resume_mode == LaunchMode::Standard.as_token()
                        && l.status.is_live()
                });
                (!managed && self.adoptable(&canonical).is_some()).then_some(name)
            })
            .collect();
        names.sort();
        names
    }

    // ---- persistence and publication --------------------------------------------------

    /// Queues the row's write (bridges.md §10.3): done in order on the store thread; a
    /// failure is retried there and shows as `store_ok: false`.
    fn persist(&self, live: &Live) {
        let mut row = live.row.clone();
        row.updated_at = rfc3339(now_ms());
        self.writer.upsert(row);
    }

    fn persist_and_publish(&self, id: &str) {
        self.persist(&self.instances[id]);
        self.publish(id);
    }

    /// Publishes the instance once the writes queued before are done.
    fn publish(&self, id: &str) {
        let instance = self.instance_json(id);
        self.writer.publish(Frame::Instance { instance });
        self.count_running();
    }

    /// `/healthz`'s `instances_running`, kept current without asking the supervisor.
    fn count_running(&self) {
        let running = self
            .instances
            .values()
            .filter(|live| live.status == Status::Running)
            .count();
        let running = u32::try_from(running).unwrap_or(u32::MAX);
        self.running.send_if_modified(|count| {
            let changed = *count != running;
            *count = running;
            changed
        });
    }

    fn instance_json(&self, id: &str) -> Instance {
        let live = &self.instances[id];
        let row = &live.row;
        let alive = alive(live);
        let set = row
            .log_stem
            .as_ref()
            .map(|stem| LogSet::at(self.logs.dir(), stem));
        let debug_log = set
            .as_ref()
            .map(|set| set.debug_log.to_string_lossy().into_owned())
            .or_else(|| row.debug_log_path.clone());
        let raw_log = set
            .and_then(|set| set.raw_log)
            .map(|path| path.to_string_lossy().into_owned())
            .or_else(|| debug_log.clone());
        Instance {
            instance_id: row.instance_id.clone(),
            project: row.project.clone(),
            label: row.label.clone(),
            channel: "remote-control".into(),
            status: live.status.as_token().into(),
            alive,
            resume_mode: row.resume_mode.clone(),
            spawn_mode: row.spawn_mode.clone(),
            permission_mode: row.permission_mode.clone(),
            sandbox_mode: row.sandbox_mode.clone(),
            intentional_stop: row.intentional_stop,
            started_at: row.launched_at.clone(),
            bridge_pid: row.bridge_pid,
            bridge_proc_start: row.bridge_proc_start,
            bridge_start_ticks: row.bridge_start_ticks,
            bridge_boot_id: row.bridge_boot_id.clone(),
            keeper_pid: row.keeper_pid,
            keeper_proc_start: row.keeper_proc_start,
            keeper_start_ticks: row.keeper_start_ticks,
            worktree_name: row.worktree_name.clone(),
            bridge_id: row.bridge_id.clone(),
            environment_id: row.environment_id.clone(),
            starter_session_id: row.starter_session_id.clone(),
            url: row.url.clone(),
            session_url: row
                .starter_session_id
                .as_ref()
                .map(|s| format!("https://claude.ai/code/{s}?from=cli")),
            bridge_debug_log_path: debug_log,
            bridge_raw_log_path: raw_log,
            error_detail: row.error_detail.clone(),
            notice: live.notice.clone(),
            claude_version: if alive {
                self.caps.claude_version.as_ref().map(ToString::to_string)
            } else {
                None
            },
            error_kind: row.error_kind.clone(),
            error_hint: row.error_hint.clone(),
            ready_at: row.ready_at.clone(),
            ended_at: row.ended_at.clone(),
            stopping: live.stopping,
            resumed_conversation: row.resumed_conversation,
            launch_count: row.launch_count,
            claude_session_uuid: row.claude_session_uuid.clone(),
            claude_session_uuid_usable: row
                .claude_session_uuid
                .as_deref()
                .is_some_and(|u| u.len() == 36 && uuid::Uuid::try_parse(u).is_ok()),
            claustrum_process_id: None,
            agent_pid: None,
            agent_proc_start: None,
            agent_start_ticks: None,
            agent_boot_id: None,
            daemon_last_seq: 0,
            hosted_log_path: None,
            is_orphan: false,
        }
    }
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
            stopping: false,
            identity,
            launch,
            child,
            exited: None,
            parser: MarkerParser::new(),
            log_read: 0,
            capture_read: 0,
            capture_tail: String::new(),
            log_tail: String::new(),
            reattach_grace: Grace::NotStarted,
            resumes_conversation: false,
            fallback_warning: None,
            strip_pointer_when_gone: false,
            relaunching: false,
            missed: 0,
            ambiguity_reported: false,
            mirror_read: 0,
            keeper: None,
            sidecar: None,
            notice: None,
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
    if live.exited.is_some() {
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
        ..evidence_defaults(config)
    }
}

/// The record of an adopted bridge (§9.6): a fresh id, the project's name as label, the
/// modes its argv names, readiness facts from its pointer.
fn adopted_row(
    name: &ProjectName,
    candidate: &pointers::Candidate,
    log_stem: Option<&str>,
) -> InstanceRow {
    let identity = candidate.identity();
    let spawn_mode = candidate
        .option("spawn")
        .and_then(|t| t.parse::<SpawnMode>().ok())
        .unwrap_or(SpawnMode::SameDir);
    let permission_mode = candidate
        .option("permission-mode")
        .and_then(|t| t.parse::<PermissionMode>().ok())
        .unwrap_or(PermissionMode::Inherit);
    let now = rfc3339(now_ms());
    let started = identity
        .proc_start
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .map_or_else(|| now.clone(), |at| rfc3339(at.as_millis()));
    let environment_id = candidate
        .pointer
        .environment_id
        .clone()
        .filter(|e| !e.is_empty());
    InstanceRow {
        instance_id: uuid::Uuid::new_v4().to_string(),
        project: name.as_str().to_owned(),
        label: name.as_str().to_owned(),
        resume_mode: LaunchMode::Standard.as_token().to_owned(),
        spawn_mode: spawn_mode.as_token().to_owned(),
        permission_mode: permission_mode.as_token().to_owned(),
        sandbox_mode: Sandbox::Default.as_token().to_owned(),
        last_status: Status::Running.as_token().to_owned(),
        launched_at: Some(started),
        ready_at: Some(now.clone()),
        log_stem: log_stem.map(str::to_owned),
        bridge_pid: Some(i64::from(identity.pid)),
        bridge_start_ticks: identity.start_ticks.and_then(|t| i64::try_from(t).ok()),
        bridge_proc_start: identity.proc_start,
        bridge_boot_id: identity.boot_id.as_ref().map(|b| b.as_str().to_owned()),
        url: environment_id
            .as_ref()
            .map(|env| format!("https://claude.ai/code?environment={env}")),
        environment_id,
        starter_session_id: candidate
            .pointer
            .session_id
            .clone()
            .filter(|s| !s.is_empty()),
        launch_count: 1,
        created_at: now.clone(),
        updated_at: now,
        ..InstanceRow::default()
    }
}

/// What the off-supervisor half of a launch reads (a snapshot taken by the supervisor).
struct PrepareInputs {
    config: Arc<Config>,
    claude_global_file: PathBuf,
    recap_hook: Option<claude_files::RecapHook>,
    logs: Arc<LogSets>,
    /// The current stems of every record: retention never deletes them (§5.4).
    keep: HashSet<String>,
    writer: StoreWriter,
    /// §9.4: the pointer whose session a standard fresh start strips.
    pointer_file: Option<PathBuf>,
}

/// A launch ready to spawn: its `starting` row is persisted.
struct Prepared {
    row: InstanceRow,
    plan: LaunchPlan,
    /// The log set, or why it could not be created (the launch then fails visibly).
    set: Result<LogSet, String>,
    args: Vec<String>,
    resumes_conversation: bool,
    warnings: Vec<String>,
    fallback_warning: Option<String>,
    caps: Capabilities,
}

/// Steps 12–16 of §6, blocking (file locks, SQLite): run on a blocking thread. A refusal
/// names the instance it was for.
#[allow(clippy::needless_pass_by_value)] // moved onto the blocking thread, owned there
fn prepare(
    inputs: PrepareInputs,
    ticket: Ticket,
    caps: Capabilities,
    late_probe: Option<String>,
) -> Result<Prepared, (String, EngineError)> {
    let Ticket {
        mut row,
        plan,
        mut warnings,
        trust_write,
        fallback_warning,
        ..
    } = ticket;
    let refuse = |err: EngineError| (row.instance_id.clone(), err);
    warnings.extend(late_probe);
    // 12–13. Claude-side settings, then the deferred trust write.
    let prepared = prepare_claude_files(
        &inputs.config.state_dir,
        inputs.config.claude.auto_enable_remote_control,
        &inputs.claude_global_file,
        inputs.recap_hook.as_ref(),
        &plan.canonical,
        trust_write,
    );
    warnings.extend(prepared.map_err(refuse)?);
    // §9.4: claude keeps the environment but creates a new starter session.
    if let Some(pointer) = &inputs.pointer_file {
        strip_pointer_file(pointer, true);
    }
    // 15. Retention, then a new log set.
    retain_logs(&inputs.config, &inputs.logs, &inputs.keep);
    let now = now_ms();
    let set = inputs
        .logs
        .allocate(&row.project, now, inputs.config.logs.redact_session_url)
        .map_err(|err| {
            format!(
                "cannot create the log files in {}: {err}",
                inputs.logs.dir().display()
            )
        });
    let mut args = Vec::new();
    let mut resumes_conversation = false;
    if let Ok(set) = &set {
        let debug_file = set.parse_source().to_string_lossy().into_owned();
        (args, resumes_conversation) = launch_args(&inputs.config, &caps, &plan, &row, &debug_file);
        row.log_stem = Some(set.stem.clone());
        row.launched_at = Some(rfc3339(now));
        // Readiness facts belong to a launch: this one learns its own from its new log set.
        row.bridge_id = None;
        row.environment_id = None;
        row.starter_session_id = None;
        row.url = None;
        Status::Starting.as_token().clone_into(&mut row.last_status);
        // 16. The row exists before the process does (§10.3).
        let mut stored = row.clone();
        stored.updated_at = rfc3339(now_ms());
        super::writer::wait_confirmed(inputs.writer.upsert_confirmed(stored))
            .map_err(|reason| refuse(EngineError::Unavailable(reason)))?;
    }
    Ok(Prepared {
        row,
        plan,
        set,
        args,
        resumes_conversation,
        warnings,
        fallback_warning,
        caps,
    })
}

/// Steps 12–13: the remote-control acknowledgement and the recap hook (§13.1; best effort,
/// a warning when either fails), then the trust write a `trust: true` request deferred until
/// every gate passed. A lock another process holds for more than 5 s refuses the launch
/// with 503 (issue 14).
fn prepare_claude_files(
    state_dir: &Path,
    acknowledge: bool,
    global: &Path,
    recap_hook: Option<&claude_files::RecapHook>,
    canonical: &Path,
    trust_write: bool,
) -> Result<Vec<String>, EngineError> {
    let locked = |err: &ClaudeFileError| {
        matches!(err, ClaudeFileError::Locked { .. })
            .then(|| EngineError::Unavailable(err.to_string()))
    };
    let mut warnings = Vec::new();
    if acknowledge && let Err(err) = claude_files::acknowledge_remote_control(state_dir, global) {
        if let Some(refusal) = locked(&err) {
            return Err(refusal);
        }
        warnings.push(format!(
            "could not enable Remote Control in {}: {err}",
            global.display()
        ));
    }
    if let Some(hook) = recap_hook
        && let Err(err) =
            claude_files::install_recap_hook(state_dir, &hook.settings_file, &hook.command)
    {
        if let Some(refusal) = locked(&err) {
            return Err(refusal);
        }
        warnings.push(format!("could not install the resume-recap hook: {err}"));
    }
    if trust_write {
        claude_files::trust_paths(state_dir, global, &[canonical]).map_err(|err| {
            locked(&err).unwrap_or_else(|| EngineError::Conflict(err.to_string()))
        })?;
    }
    Ok(warnings)
}

/// §5.4: on every launch and once a day; no stored instance loses its current set.
fn retain_logs(config: &Config, logs: &LogSets, keep: &HashSet<String>) {
    let rules = clauster_core::logset::Retention {
        max_age_days: config.logs.retention_max_age_days,
        max_files: config.logs.retention_max_files,
        max_total_mb: config.logs.retention_max_total_mb,
    };
    let deleted = super::logs::apply_retention(logs.dir(), keep, rules, SystemTime::now());
    if deleted > 0 {
        tracing::info!("log retention deleted {deleted} log set(s)");
    }
}

/// The argv of a launch and whether it continues a conversation.
fn launch_args(
    config: &Config,
    caps: &Capabilities,
    plan: &LaunchPlan,
    row: &InstanceRow,
    debug_file: &str,
) -> (Vec<String>, bool) {
    match &plan.kind {
        LaunchKind::Standard(kind) => {
            let prefix = config
                .instance_defaults
                .session_name_prefix
                .as_deref()
                .and_then(|p| SessionNamePrefix::new(p).ok());
            let launch = StandardLaunch {
                label: &plan.label,
                debug_file,
                spawn_mode: plan.spawn_mode,
                permission_mode: plan.permission_mode,
                session_name_prefix: prefix.as_ref(),
                capacity: NonZeroU32::new(
                    u32::try_from(config.instance_defaults.capacity).unwrap_or(u32::MAX),
                )
                .unwrap_or(NonZeroU32::MIN),
                verbose: config.instance_defaults.verbose,
                kind: *kind,
            };
            (
                argv::standard(&launch, caps),
                argv::standard_form(&launch, caps) == StandardForm::Continue,
            )
        }
        LaunchKind::Pty(conversation) => (
            pty::bridge_argv(plan, conversation, row, debug_file, caps),
            conversation.resumes(),
        ),
    }
}

/// The strip of §17.3 (never of a live pointer).
fn strip_pointer_file(path: &Path, backup: bool) {
    match pointers::strip_if_not_live(path, backup) {
        Ok(StripResult::Cleared) => {
            tracing::info!("stripped the session of {}", path.display());
        }
        Ok(StripResult::Deleted) => {
            tracing::warn!("deleted {}: it was not a JSON object", path.display());
        }
        Ok(_) => {}
        Err(err) => tracing::warn!("cannot strip {}: {err}", path.display()),
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
    }
}

fn set_failure(row: &mut InstanceRow, failure: &status::Failure) {
    row.error_kind = Some(failure.kind.as_token().to_owned());
    row.error_hint = Some(failure.hint.to_owned()).filter(|h| !h.is_empty());
    row.error_detail = Some(sanitize_text(&failure.detail).into_owned());
}

/// Appends the bytes after `offset` of `path` and moves the offset; a file that shrank
/// (rotation) is read again from the start.
fn read_from(path: &Path, offset: &mut u64) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    if len < *offset {
        *offset = 0;
    }
    if len == *offset {
        return None;
    }
    file.seek(SeekFrom::Start(*offset)).ok()?;
    let mut bytes = Vec::with_capacity(usize::try_from(len - *offset).unwrap_or(0));
    file.take(len - *offset).read_to_end(&mut bytes).ok()?;
    *offset += bytes.len() as u64;
    Some(bytes)
}

/// Records what a spawn started: the bridge, or for pty the keeper (the bridge's pid and
/// identity come from the sidecar, pty.md §5.2).
fn record_spawn(live: &mut Live, spawned: &proc::Spawned) {
    let identity = spawned.identity.clone();
    let ticks = identity.start_ticks.and_then(|t| i64::try_from(t).ok());
    if live.is_pty() {
        live.row.bridge_pid = None;
        live.row.bridge_start_ticks = None;
        live.row.bridge_proc_start = None;
        live.row.bridge_boot_id = None;
        live.row.keeper_pid = Some(i64::from(spawned.pid));
        live.row.keeper_start_ticks = ticks;
        live.row.keeper_proc_start = identity.proc_start;
        live.keeper = Some(identity);
    } else {
        live.row.bridge_pid = Some(i64::from(spawned.pid));
        live.row.bridge_start_ticks = ticks;
        live.row.bridge_proc_start = identity.proc_start;
        live.row.bridge_boot_id = identity.boot_id.as_ref().map(|b| b.as_str().to_owned());
        live.identity = Some(identity);
    }
}

/// Brings the redacted mirror up to date and feeds what claude added to its debug log to the
/// marker parser and the evidence tail.
fn read_logs(set: &LogSet, live: &mut Live, keep_rotated: u64) {
    if let Some(raw) = &set.raw_log
        && let Err(err) =
            super::logs::mirror(raw, &set.debug_log, &mut live.mirror_read, keep_rotated)
    {
        // Retried on the next change or tick; never affects the bridge (§5.2).
        tracing::warn!("cannot mirror {}: {err}", raw.display());
    }
    if let Some(bytes) = read_from(set.parse_source(), &mut live.log_read) {
        live.parser.feed(&bytes);
        push_tail(&mut live.log_tail, &bytes);
    }
}

/// Keeps the last [`EVIDENCE_BYTES`] of what a bridge wrote, NUL bytes dropped.
fn push_tail(tail: &mut String, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    tail.extend(text.chars().filter(|c| *c != '\0'));
    if tail.len() > EVIDENCE_BYTES {
        let mut cut = tail.len() - EVIDENCE_BYTES;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail.drain(..cut);
    }
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
