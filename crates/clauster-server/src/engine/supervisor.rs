//! The supervisor task: owns the instances, applies the status machine of `clauster-core`,
//! persists every change before publishing it (bridges.md §10.3).

use std::collections::BTreeMap;
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
use clauster_core::names::{Label, ProjectName, SessionNamePrefix};
use clauster_core::sanitize::sanitize_text;
use clauster_core::status::{
    self, Context, Effect, ErrorKind, Event, Exit, ExitStatus, FailureCause, FailureEvidence, Next,
    Status,
};
use clauster_pty::proc::{self, SpawnSpec, TerminatePolicy};
use clauster_wire::{Frame, Instance, SpawnOutcome};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

mod pty;

use super::logs::{LogSet, LogSets};
use super::pointers::{self, PointerDir, StripResult};
use super::reference::{self, Candidate, Unresolved};
use super::{ClaudeHealth, Command, Engine, EngineError, StartRequest};
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
    Command(Command),
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
    /// The capability probe finished (bridges.md §3.1).
    Probed(Box<Capabilities>),
}

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
    /// An adopted bridge's own `--debug-file` (§9.6), when it is not one of our log sets.
    external_log: Option<PathBuf>,
    /// How far the redacted mirror has read the raw log (§5.2).
    mirror_read: u64,
    /// pty: the keeper's start identity (our child; the bridge's comes from the sidecar).
    keeper: Option<StartIdentity>,
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
    let logs_dir = setup.config.state_dir.join("logs");
    let env = BridgeEnv::build(&setup.config, setup.server_env.clone(), None);
    let pointers = PointerDir::from_env(&env);
    let config = Arc::clone(&setup.config);
    let sessions_env = env.clone();
    let mut supervisor = Supervisor {
        config: setup.config,
        store: setup.store,
        claude_global_file: setup.claude_global_file,
        recap_hook: setup.recap_hook,
        env,
        caps: Capabilities::fallback(),
        logs: LogSets::new(logs_dir),
        instances: BTreeMap::new(),
        frames: frames.clone(),
        tx: tx.clone(),
        launches: 0,
        ticks: 0,
        pointers,
        self_exe: setup.self_exe,
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
            }
        }
        spawn_probe(&supervisor, claude_tx);
        supervisor.rediscover();
        let _ = ready_tx.send(true);
        supervisor.run(rx).await;
    });
    let (sessions_tx, sessions) = watch::channel(Arc::default());
    let engine = Engine {
        commands: tx,
        frames,
        ready,
        claude,
        sessions,
        bridge_env: sessions_env.clone(),
    };
    super::sessions::spawn_watcher(engine.clone(), config, sessions_env, sessions_tx);
    engine
}

/// Runs the capability probe in the background (it never delays serving, §11) and hands the
/// result to the supervisor and the health cache.
fn spawn_probe(supervisor: &Supervisor, health: watch::Sender<ClaudeHealth>) {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let env = supervisor.env.clone();
    let binary =
        bridge_env::resolve_binary(&supervisor.config.claude.binary, &env, home.as_deref());
    let cwd = supervisor.config.state_dir.clone();
    let tx = supervisor.tx.clone();
    tokio::spawn(async move {
        let Ok(claude) = binary else {
            health.send_replace(ClaudeHealth {
                claude_ok: Some(false),
                ..ClaudeHealth::default()
            });
            return;
        };
        let report = probe::probe(&claude, &env, &cwd).await;
        let mut login = probe::LoginCache::default();
        login.record(
            report.login_answered.then(|| report.login.clone()),
            Instant::now(),
        );
        let known = |cache: &probe::LoginCache, answered: bool| ClaudeHealth {
            claude_ok: Some(report.claude_ok()),
            claude_version: report.version.clone(),
            login_ok: answered.then_some(cache.state().ok),
            login_method: cache.state().method.clone(),
            login_expires_at: cache.state().expires_at_ms,
        };
        let mut answered = report.login_answered;
        health.send_replace(known(&login, answered));
        let _ = tx
            .send(Msg::Probed(Box::new(report.capabilities.clone())))
            .await;
        // The login cache of http-api.md §3: refreshed every 30 s in the background, so no
        // request ever waits on `claude auth status`.
        loop {
            tokio::time::sleep(probe::LOGIN_CACHE_TTL).await;
            if tx.is_closed() {
                return;
            }
            if !login.is_stale(Instant::now()) {
                continue;
            }
            let answer = probe::auth_status(&claude, &env, &cwd).await;
            answered |= answer.is_some();
            if login.record(answer, Instant::now()) {
                health.send_replace(known(&login, answered));
            }
        }
    });
}

/// Tells the supervisor which log stem changed; falls back to the 1 s tick when the
/// directory cannot be watched.
fn watch_log_dir(dir: &Path, tx: mpsc::Sender<Msg>) {
    use notify::{RecursiveMode, Watcher};
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        for path in event.paths {
            if let Some(stem) = path.file_name().and_then(|n| n.to_str()).and_then(stem_of) {
                let _ = tx.try_send(Msg::LogChanged(stem.to_owned()));
            }
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

struct Supervisor {
    config: Arc<Config>,
    store: Store,
    claude_global_file: PathBuf,
    recap_hook: Option<claude_files::RecapHook>,
    env: BridgeEnv,
    caps: Capabilities,
    logs: LogSets,
    instances: BTreeMap<String, Live>,
    frames: broadcast::Sender<Arc<Frame>>,
    tx: mpsc::Sender<Msg>,
    launches: u64,
    /// Ticks since start: rotation and retention run every so many.
    ticks: u64,
    /// Claude's projects directory, where the bridge pointers are (§17.3).
    pointers: PointerDir,
    /// The `clauster` binary started as the pty keeper.
    self_exe: PathBuf,
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
                Msg::Command(command) => self.command(command),
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
                    {
                        live.reattach_grace = Grace::Over;
                        self.observe(&id);
                    }
                }
                Msg::Terminated { id, launch, reply } => self.terminated(&id, launch, reply),
                Msg::Tick => self.tick(),
                Msg::Probed(caps) => self.caps = *caps,
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Start(request, reply) => {
                let _ = reply.send(self.start(&request));
            }
            Command::Stop(reference, reply) => self.stop(&reference, reply),
            Command::Resume {
                reference,
                fresh,
                trust,
                reply,
            } => {
                let _ = reply.send(self.resume(&reference, fresh, trust));
            }
            Command::TakeWarnings(id, reply) => {
                let warning = self
                    .instances
                    .get_mut(&id)
                    .and_then(|l| l.fallback_warning.take());
                let _ = reply.send(warning.into_iter().collect());
            }
            Command::Adopt(project, reply) => {
                let _ = reply.send(self.adopt(&project));
            }
            Command::LearnConversation { instance_id, uuid } => {
                self.learn_conversation(&instance_id, &uuid);
            }
            Command::Adoptable(reply) => {
                let _ = reply.send(self.adoptable_projects());
            }
            Command::Forget(reference, reply) => {
                let _ = reply.send(self.forget(&reference));
            }
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
            Err(Unresolved::NotFound) => Err(EngineError::NotFound(not_found(reference))),
            Err(Unresolved::Ambiguous(text)) => Err(EngineError::Ambiguous(text)),
        }
    }

    // ---- start ------------------------------------------------------------------------

    /// The spawn gate sequence of bridges.md §6 for standard bridges.
    #[allow(clippy::too_many_lines)] // the gate sequence reads top to bottom in the spec's order
    fn start(&mut self, request: &StartRequest) -> Result<SpawnOutcome, EngineError> {
        let config = Arc::clone(&self.config);
        let mut warnings = Vec::new();
        // 1. The project.
        let unknown = || EngineError::NotFound(format!("project '{}' not found", request.project));
        let name = ProjectName::new(&request.project).map_err(|_| unknown())?;
        let project_dir = config.projects_root.join(name.as_str());
        if !std::fs::metadata(&project_dir).is_ok_and(|m| m.is_dir()) {
            return Err(unknown());
        }
        let canonical = std::fs::canonicalize(&project_dir).map_err(|_| unknown())?;
        let is_git = project_dir.join(".git").exists();
        // 2. The channel.
        if let Some(channel) = request
            .channel
            .as_deref()
            .filter(|c| *c != "remote-control")
        {
            return Err(invalid(
                format!("channel '{channel}' is not supported by this server"),
                Some("channel"),
            ));
        }
        // 3. Defaults and the sandbox token.
        if let Some(sandbox) = &request.sandbox {
            sandbox
                .parse::<Sandbox>()
                .map_err(|e| invalid(e.to_string(), Some("sandbox")))?;
        }
        // 4. The effective mode (§2): a build without PTY support falls back to standard.
        let mut mode = match request.resume_mode.as_deref() {
            Some(token) => token
                .parse::<LaunchMode>()
                .map_err(|e| invalid(e.to_string(), Some("resume_mode")))?,
            None => config.claude.launch_mode,
        };
        if mode == LaunchMode::Pty && !pty::SUPPORTED {
            warnings.push(PTY_FALLBACK_WARNING.to_owned());
            mode = LaunchMode::Standard;
        }
        // 5. Spawn and permission modes.
        let mut spawn_mode = match request.spawn_mode.as_deref() {
            Some(token) => token
                .parse::<SpawnMode>()
                .map_err(|e| invalid(e.to_string(), Some("spawn_mode")))?,
            None => config.instance_defaults.spawn_mode,
        };
        if spawn_mode == SpawnMode::Worktree && !is_git {
            if request.spawn_mode.is_some() {
                return Err(invalid(
                    format!("worktree spawn mode needs a git repository; '{name}' is not one"),
                    Some("spawn_mode"),
                ));
            }
            warnings.push(format!(
                "worktree spawn mode needs a git repository; '{name}' is not one, so same-dir was used"
            ));
            spawn_mode = SpawnMode::SameDir;
        }
        if mode == LaunchMode::Pty {
            spawn_mode = pty::coerce_spawn_mode(spawn_mode, &mut warnings);
        }
        let permission_mode = match request.permission_mode.as_deref() {
            Some(token) => token
                .parse::<PermissionMode>()
                .map_err(|e| invalid(e.to_string(), Some("permission_mode")))?,
            None => config.instance_defaults.permission_mode,
        };
        // 6. The bypass ceiling.
        self.gate_bypass(&name, permission_mode)?;
        // 7. The label.
        let label = Label::resolve(request.name.as_deref(), &name)
            .map_err(|e| invalid(e.to_string(), Some("name")))?;
        // 8. A conversation to fork (§3.6, pty only).
        let fork = match &request.resume_session_id {
            Some(session) => Some(self.fork_target(session, mode, name.as_str(), &canonical)?),
            None => None,
        };
        let launch_kind = match mode {
            LaunchMode::Standard => LaunchKind::Standard(StandardKind::Fresh),
            LaunchMode::Pty => {
                LaunchKind::Pty(fork.map_or(pty::Conversation::New, pty::Conversation::Fork))
            }
        };
        // 9. One live standard bridge per project; pty bridges are unlimited.
        if let Some((id, _)) = self.instances.iter().find(|(_, live)| {
            mode == LaunchMode::Standard
                && live.row.project == name.as_str()
                && live.row.resume_mode == LaunchMode::Standard.as_token()
                && live.status.is_live()
        }) {
            let instance = self.instance_json(id);
            return Ok(SpawnOutcome {
                instance,
                created: false,
                reason: Some(format!(
                    "a standard bridge for '{name}' is already running — standard bridges are capped at one per project, so the existing bridge was returned"
                )),
                warnings,
            });
        }
        // A standard bridge started outside Clauster: a Start never adopts.
        if mode == LaunchMode::Standard && self.adoptable(&canonical).is_some() {
            return Err(EngineError::Conflict(format!(
                "a standard bridge not started by Clauster is already running in '{name}'; adopt it first (Adopt on its card, or POST /api/projects/{name}/adopt)"
            )));
        }
        // 10–11. Trust and the cap.
        let trusted = self.gate_trust_and_cap(&canonical, is_git, request.trust)?;
        // 12–13. Claude-side settings, then the deferred trust write.
        warnings.extend(self.prepare_claude_files(&canonical, trusted)?);
        // 16. A new record; 15 and 17 follow in `launch_instance`.
        let timestamp = rfc3339(now_ms());
        let instance_id = uuid::Uuid::new_v4().to_string();
        let worktree_name = (mode == LaunchMode::Pty && spawn_mode == SpawnMode::Worktree)
            .then(|| pty::worktree_name(&instance_id));
        let row = InstanceRow {
            instance_id,
            project: name.as_str().to_owned(),
            label: label.as_str().to_owned(),
            resume_mode: mode.as_token().to_owned(),
            worktree_name,
            spawn_mode: spawn_mode.as_token().to_owned(),
            permission_mode: permission_mode.as_token().to_owned(),
            sandbox_mode: Sandbox::Default.as_token().to_owned(),
            launch_count: 1,
            created_at: timestamp.clone(),
            updated_at: timestamp,
            ..InstanceRow::default()
        };
        let plan = LaunchPlan {
            label,
            spawn_mode,
            permission_mode,
            kind: launch_kind,
            canonical,
        };
        let id = self.launch_instance(row, &plan);
        Ok(SpawnOutcome {
            instance: self.instance_json(&id),
            created: true,
            reason: None,
            warnings,
        })
    }

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

    /// Steps 12–13: the remote-control acknowledgement and the recap hook (§13.1; best
    /// effort, a warning when either fails), then the trust write a `trust: true` request deferred until every gate passed.
    fn prepare_claude_files(
        &self,
        canonical: &Path,
        trusted: bool,
    ) -> Result<Vec<String>, EngineError> {
        let mut warnings = Vec::new();
        let state_dir = &self.config.state_dir;
        if self.config.claude.auto_enable_remote_control
            && let Err(err) =
                claude_files::acknowledge_remote_control(state_dir, &self.claude_global_file)
        {
            warnings.push(format!(
                "could not enable Remote Control in {}: {err}",
                self.claude_global_file.display()
            ));
        }
        if let Some(hook) = &self.recap_hook
            && let Err(err) =
                claude_files::install_recap_hook(state_dir, &hook.settings_file, &hook.command)
        {
            warnings.push(format!("could not install the resume-recap hook: {err}"));
        }
        if !trusted {
            claude_files::trust_paths(state_dir, &self.claude_global_file, &[canonical])
                .map_err(|err| EngineError::Conflict(err.to_string()))?;
        }
        Ok(warnings)
    }

    /// Steps 15–17 of §6: a new log set, the row persisted as `starting` before the process
    /// exists, the launch, and the record of its start identity.
    fn launch_instance(&mut self, mut row: InstanceRow, plan: &LaunchPlan) -> String {
        let config = Arc::clone(&self.config);
        let now = now_ms();
        self.retention();
        let set = match self
            .logs
            .allocate(&row.project, now, config.logs.redact_session_url)
        {
            Ok(set) => set,
            // Nothing was launched: the record ends as `launch_failed` with the reason, like
            // a spawn the OS refused (security.md §12 row 55).
            Err(err) => {
                let detail = format!(
                    "cannot create the log files in {}: {err}",
                    self.logs.dir().display()
                );
                return self.record_launch_failure(row, now, &detail);
            }
        };
        let debug_file = set.parse_source().to_string_lossy().into_owned();
        let (args, resumes_conversation) = self.launch_args(plan, &row, &debug_file);
        row.log_stem = Some(set.stem.clone());
        row.launched_at = Some(rfc3339(now));
        // Readiness facts belong to a launch: this one learns its own from its new log set.
        row.bridge_id = None;
        row.environment_id = None;
        row.starter_session_id = None;
        row.url = None;
        Status::Starting.as_token().clone_into(&mut row.last_status);
        let id = row.instance_id.clone();
        self.launches += 1;
        let mut live = Live::new(row, Status::Starting, self.launches, true, None);
        live.resumes_conversation = resumes_conversation;
        self.persist(&live);
        let recap = self.recap_hook.is_some() && !resumes_conversation;
        let spawned = match &plan.kind {
            LaunchKind::Standard(_) => self.launch(&set, &plan.canonical, &args, recap),
            LaunchKind::Pty(_) => self.launch_keeper(&set, &plan.canonical, &args),
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

    /// The argv of a launch and whether it continues a conversation.
    fn launch_args(
        &self,
        plan: &LaunchPlan,
        row: &InstanceRow,
        debug_file: &str,
    ) -> (Vec<String>, bool) {
        let config = &self.config;
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
                    argv::standard(&launch, &self.caps),
                    argv::standard_form(&launch, &self.caps) == StandardForm::Continue,
                )
            }
            LaunchKind::Pty(conversation) => (
                pty::bridge_argv(plan, conversation, row, debug_file, &self.caps),
                conversation.resumes(),
            ),
        }
    }

    /// Resume and start fresh (bridges.md §9.1, §9.3, §9.4): the recorded settings re-enter the
    /// spawn gate under the same instance id.
    fn resume(
        &mut self,
        reference: &str,
        fresh: bool,
        trust: bool,
    ) -> Result<SpawnOutcome, EngineError> {
        let id = self.resolve(reference, |r| {
            format!("no managed instance to resume: '{r}'")
        })?;
        let live = &self.instances[&id];
        if live.is_live() || live.stopping {
            return Ok(SpawnOutcome {
                instance: self.instance_json(&id),
                created: false,
                reason: Some("already running".into()),
                warnings: Vec::new(),
            });
        }
        let project = live.row.project.clone();
        // The recorded mode, always (§2 rule 2).
        let is_pty = live.is_pty();
        if let Some((other, _)) = self.instances.iter().find(|(other, l)| {
            !is_pty
                && **other != id
                && l.row.project == project
                && !l.is_pty()
                && l.status.is_live()
        }) {
            return Ok(SpawnOutcome {
                instance: self.instance_json(other),
                created: false,
                reason: Some(format!(
                    "a standard bridge for '{project}' is already running — standard bridges are capped at one per project, so the existing bridge was returned"
                )),
                warnings: Vec::new(),
            });
        }
        let config = Arc::clone(&self.config);
        let unknown = || EngineError::NotFound(format!("project '{project}' not found"));
        let name = ProjectName::new(&project).map_err(|_| unknown())?;
        let project_dir = config.projects_root.join(name.as_str());
        let canonical = std::fs::canonicalize(&project_dir).map_err(|_| unknown())?;
        let is_git = project_dir.join(".git").exists();
        let row = &self.instances[&id].row;
        let spawn_mode: SpawnMode = row.spawn_mode.parse().unwrap_or(SpawnMode::SameDir);
        let permission_mode: PermissionMode = row.permission_mode.parse().unwrap_or_default();
        let label = Label::resolve(Some(&row.label), &name)
            .map_err(|e| invalid(e.to_string(), Some("name")))?;
        self.gate_bypass(&name, permission_mode)?;
        let trusted = self.gate_trust_and_cap(&canonical, is_git, trust)?;
        let mut warnings = self.prepare_claude_files(&canonical, trusted)?;
        if fresh && !is_pty {
            // §9.4: claude keeps the environment but creates a new starter session.
            self.strip_pointer(&canonical, true);
        }
        let mut row = self.instances[&id].row.clone();
        if is_pty && fresh {
            // A fresh start forgets the conversation (§9.2).
            row.claude_session_uuid = None;
        }
        row.intentional_stop = false;
        row.error_kind = None;
        row.error_detail = None;
        row.error_hint = None;
        row.ready_at = None;
        row.ended_at = None;
        row.resumed_conversation = false;
        row.launch_count += 1;
        let kind = match (is_pty, fresh) {
            (false, true) => LaunchKind::Standard(StandardKind::Fresh),
            (false, false) => {
                LaunchKind::Standard(StandardKind::Resume(config.claude.standard_resume))
            }
            (true, true) => LaunchKind::Pty(pty::Conversation::New),
            (true, false) => LaunchKind::Pty(pty::Conversation::resume(
                row.claude_session_uuid.as_deref(),
            )),
        };
        let plan = LaunchPlan {
            label,
            spawn_mode,
            permission_mode,
            kind,
            canonical,
        };
        self.launch_instance(row, &plan);
        if let Some(warning) = self
            .instances
            .get_mut(&id)
            .and_then(|l| l.fallback_warning.take())
        {
            warnings.push(warning);
        }
        Ok(SpawnOutcome {
            instance: self.instance_json(&id),
            created: true,
            reason: None,
            warnings,
        })
    }

    /// The fallback of §9.3: a `--continue` launch that ended before readiness for a reason
    /// a fresh start can fix is relaunched once with the fresh argv.
    fn fresh_fallback(&mut self, id: &str) {
        let Some(live) = self.instances.get(id) else {
            return;
        };
        let project = live.row.project.clone();
        let Ok(name) = ProjectName::new(&project) else {
            return;
        };
        let Ok(canonical) = std::fs::canonicalize(self.config.projects_root.join(&project)) else {
            return;
        };
        let Ok(label) = Label::resolve(Some(&live.row.label), &name) else {
            return;
        };
        let is_pty = live.is_pty();
        let plan = LaunchPlan {
            label,
            spawn_mode: live.row.spawn_mode.parse().unwrap_or(SpawnMode::SameDir),
            permission_mode: live.row.permission_mode.parse().unwrap_or_default(),
            kind: if is_pty {
                LaunchKind::Pty(pty::Conversation::New)
            } else {
                LaunchKind::Standard(StandardKind::Fresh)
            },
            canonical,
        };
        let label = live.row.label.clone();
        let mut row = live.row.clone();
        row.error_kind = None;
        row.error_detail = None;
        row.error_hint = None;
        row.ended_at = None;
        row.resumed_conversation = false;
        let id = self.launch_instance(row, &plan);
        if let Some(live) = self.instances.get_mut(&id) {
            live.fallback_warning = Some(if is_pty {
                format!(
                    "could not continue the previous conversation of '{label}'; started a new one"
                )
            } else {
                format!(
                    "nothing to continue in '{project}' (claude keeps about 4 hours); started a fresh session"
                )
            });
        }
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
        if self.instances.get(id).is_some_and(Live::is_pty) {
            self.observe_pty(id);
            return;
        }
        let Some(live) = self.instances.get_mut(id) else {
            return;
        };
        let Some(stem) = live.row.log_stem.clone() else {
            return;
        };
        let set = LogSet::at(self.logs.dir(), &stem);
        read_logs(&set, live, self.config.logs.keep_rotated);
        if let Some(bytes) = read_from(&set.capture, &mut live.capture_read) {
            push_tail(&mut live.capture_tail, &bytes);
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
        if live.launch != launch || live.status != Status::Starting || live.stopping {
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
            self.retention();
        }
        let ids: Vec<String> = self
            .instances
            .iter()
            .filter(|(_, live)| {
                live.status.is_live()
                    || (live.status == Status::Error
                        && live.exited.is_none()
                        && live.identity.is_some())
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
            // Children report their exit themselves; re-parented bridges are checked here.
            if !live.child && !live.stopping && live.identity.is_some() && !alive(live) {
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
            let Some(stem) = self.instances[&id].row.log_stem.clone() else {
                continue;
            };
            let set = LogSet::at(self.logs.dir(), &stem);
            for file in set.live_files() {
                match super::logs::rotate_if_large(file, max, keep) {
                    Ok(true) => tracing::info!("rotated {}", file.display()),
                    Ok(false) => {}
                    Err(err) => tracing::warn!("cannot rotate {}: {err}", file.display()),
                }
            }
        }
    }

    /// §5.4: on every launch and once a day; no stored instance loses its current set.
    fn retention(&self) {
        let logs = &self.config.logs;
        let keep: std::collections::HashSet<String> = self
            .instances
            .values()
            .filter_map(|live| live.row.log_stem.clone())
            .collect();
        let rules = clauster_core::logset::Retention {
            max_age_days: logs.retention_max_age_days,
            max_files: logs.retention_max_files,
            max_total_mb: logs.retention_max_total_mb,
        };
        let deleted =
            super::logs::apply_retention(self.logs.dir(), &keep, rules, SystemTime::now());
        if deleted > 0 {
            tracing::info!("log retention deleted {deleted} log set(s)");
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
        if let Next::Status(next) = transition.next {
            live.status = next;
            next.as_token().clone_into(&mut live.row.last_status);
        }
        // A live pointer is never touched: while the bridge runs, the strip waits for its end.
        live.strip_pointer_when_gone |= strip && terminate;
        if strip && !terminate {
            let project = live.row.project.clone();
            self.strip_project_pointer(&project);
        }
        if fallback {
            // The failed continue is not shown: the fresh relaunch replaces it at once.
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
        if !live.status.is_live() && !bridge_alive {
            let _ = reply.send(Ok(self.instance_json(&id)));
            return;
        }
        if live.stopping {
            let _ = reply.send(Ok(self.instance_json(&id)));
            return;
        }
        // §8.1 step 3: persist the intent before any signal.
        let live = self.instances.get_mut(&id).expect("resolved above");
        live.row.intentional_stop = true;
        live.stopping = true;
        let live = &self.instances[&id];
        self.persist(live);
        self.publish(&id);
        self.terminate(&id, Some(reply));
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

    fn forget(&mut self, reference: &str) -> Result<String, EngineError> {
        let id = self.resolve(reference, |r| {
            format!("no managed instance to forget: '{r}'")
        })?;
        let live = &self.instances[&id];
        if live.is_live() || live.stopping {
            return Err(EngineError::Conflict(format!(
                "instance '{reference}' is still live; stop it first"
            )));
        }
        if let Err(err) = self.store.delete_instance(&id) {
            tracing::error!(
                "cannot delete instance {} from the store: {err}",
                short(&id)
            );
        }
        if let Some(forgotten) = self.instances.remove(&id)
            && let Ok(canonical) =
                std::fs::canonicalize(self.config.projects_root.join(&forgotten.row.project))
        {
            self.strip_pointer(&canonical, true);
        }
        let _ = self.frames.send(Arc::new(Frame::InstanceRemoved {
            instance_id: id.clone(),
        }));
        Ok(id)
    }

    // ---- rediscovery ------------------------------------------------------------------

    /// bridges.md §11: every stored row comes back; a live status is believed only when the
    /// recorded process still is ours.
    fn rediscover(&mut self) {
        self.clean_up_pointers();
        let rows = match self.store.load_instances() {
            Ok(rows) => rows,
            Err(err) => {
                tracing::error!("cannot read the instances from the store: {err}");
                Vec::new()
            }
        };
        for row in rows {
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
            if live.is_pty() {
                // The sidecar says what the keeper learned while we were away.
                pty::read_sidecar(self.logs.dir(), &mut live);
            }
            let alive = alive(&live);
            if !alive {
                live.exited = Some(ExitStatus::Unknown);
            }
            let was_live = status.is_live();
            self.instances.insert(id.clone(), live);
            if was_live && !alive {
                self.apply(&id, Event::FoundDeadAtStartup);
            } else if alive {
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
                        Duration::from_millis(
                            u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0),
                        )
                    });
                    self.schedule_deadline(&id, self.instances[&id].launch, remaining);
                }
            }
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
    fn adopt(&mut self, project: &str) -> Result<Instance, EngineError> {
        let unknown = || EngineError::NotFound(format!("project '{project}' not found"));
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
        let debug_file = candidate.option("debug-file").map(PathBuf::from);
        let log_stem = debug_file.as_deref().and_then(|p| self.own_log_stem(p));
        let identity = candidate.identity();
        let row = adopted_row(&name, &candidate, log_stem.as_deref());
        let id = row.instance_id.clone();
        self.launches += 1;
        let mut live = Live::new(row, Status::Running, self.launches, false, Some(identity));
        if log_stem.is_none() {
            live.external_log = debug_file.filter(|p| std::fs::File::open(p).is_ok());
        }
        self.persist(&live);
        self.instances.insert(id.clone(), live);
        self.publish(&id);
        Ok(self.instance_json(&id))
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

    fn persist(&self, live: &Live) {
        let mut row = live.row.clone();
        row.updated_at = rfc3339(now_ms());
        if let Err(err) = self.store.upsert_instance(&row) {
            tracing::error!("cannot persist instance {}: {err}", short(&row.instance_id));
        }
    }

    fn persist_and_publish(&self, id: &str) {
        self.persist(&self.instances[id]);
        self.publish(id);
    }

    fn publish(&self, id: &str) {
        let instance = self.instance_json(id);
        let _ = self.frames.send(Arc::new(Frame::Instance { instance }));
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
            .map(|set| set.debug_log.clone())
            .or_else(|| live.external_log.clone())
            .map(|path| path.to_string_lossy().into_owned());
        // The parse source, as 1.3.2 reports it: the raw log when redaction keeps one, else
        // the debug log itself (issue 18: never null while there is a log).
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
            external_log: None,
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
        Some(if code < 0 {
            ExitStatus::Signal(-code)
        } else {
            ExitStatus::Code(code)
        })
    }

    /// starting, running, or `error` with a live bridge (http-api.md §2).
    fn is_live(&self) -> bool {
        self.status.is_live() || (self.status == Status::Error && alive(self))
    }
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
    use super::stem_of;

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
