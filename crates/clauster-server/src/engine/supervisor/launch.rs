//! A launch (bridges.md §6 steps 12–17): what the gate let through is prepared off the
//! supervisor behind the project's reservation — the probe, Claude's files under their lock,
//! the log set, the `starting` row on disk — then spawned back on the supervisor after step 9
//! is checked once more, with its exit waiter and deadline timer. The fresh fallback of
//! §9.2/§9.3 relaunches through the same path.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clauster_core::argv::{self, StandardForm, StandardKind, StandardLaunch};
use clauster_core::capability::Capabilities;
use clauster_core::config::Config;
use clauster_core::modes::{LaunchMode, SpawnMode};
use clauster_core::names::{Label, ProjectName, SessionNamePrefix};
use clauster_core::status::{self, ExitStatus, FailureCause, FailureEvidence, Status};
use clauster_pty::proc::{self, SpawnSpec};
use clauster_wire::SpawnOutcome;

use super::gate::Ticket;
use super::phase::Phase;
use super::{
    Continuation, LaunchKind, LaunchPlan, LaunchReply, Live, Msg, Supervisor, evidence_defaults,
    now_ms, pty, rfc3339, set_failure, short, strip_pointer_file,
};
use crate::bridge_env;
use crate::claude_files::{self, ClaudeFileError};
use crate::engine::EngineError;
use crate::engine::logs::{LogSet, LogSets};
use crate::engine::writer::StoreWriter;
use crate::store::InstanceRow;

impl Supervisor {
    /// Steps 12–16 off the supervisor, behind the project's reservation: the probe of the
    /// binary about to run (§3.1), Claude's files under their lock, the log set, and the row
    /// persisted as `starting`. Step 17, the spawn, follows on the supervisor
    /// ([`Self::finish_launch`]). `reply` is `None` for the engine's own fallback relaunch.
    pub(super) fn begin_launch(&mut self, ticket: Ticket, reply: Option<LaunchReply>) {
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
            ours: matches!(ticket.plan.kind, LaunchKind::Standard(_)).then(|| {
                self.instances
                    .values()
                    .filter(|live| live.phase.exited().is_none())
                    .filter_map(|live| live.identity.as_ref().map(|i| i.pid))
                    .collect()
            }),
        };
        let probes = self.probes.clone();
        self.launching.insert(ticket.row.instance_id.clone());
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
        let id = match &prepared {
            Ok(prepared) => &prepared.row.instance_id,
            Err((id, _)) => id,
        };
        self.launching.remove(id);
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err((id, err)) => {
                match reply {
                    Some(reply) => {
                        let _ = reply.send(Err(err));
                    }
                    None if self.policies.automatic.remove(&id) => {
                        self.automatic_launch_refused(&id, &err.to_string());
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
            strangers,
            ..
        } = prepared;
        // Step 9 again at the spawn: the blocking half may have taken seconds (a lock, the
        // probe), and a bridge started by hand meanwhile must stop the launch (issue 15).
        if let Err(verdict) = self.gate_at_spawn(&row, &plan, &warnings, &strangers) {
            self.refused_at_spawn(row, verdict, reply);
            return;
        }
        let id = match set {
            Ok(set) => self.launch_prepared(row, &plan, &set, &args, resumes_conversation),
            Err(detail) => self.record_launch_failure(row, now_ms(), &detail),
        };
        self.policies.automatic.remove(&id);
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

    /// Step 9 of the gate, re-run on the supervisor just before a standard spawn: `Err` holds
    /// the answer instead of a launch (an existing managed bridge, or adopt-first).
    fn gate_at_spawn(
        &self,
        row: &InstanceRow,
        plan: &LaunchPlan,
        warnings: &[String],
        strangers: &[i32],
    ) -> Result<(), Result<Box<SpawnOutcome>, EngineError>> {
        if !matches!(plan.kind, LaunchKind::Standard(_)) {
            return Ok(());
        }
        let Ok(name) = ProjectName::new(&row.project) else {
            return Ok(());
        };
        match self.gate_live_bridges(
            &name,
            &plan.canonical,
            LaunchMode::Standard,
            Some(&row.instance_id),
            warnings,
        ) {
            Ok(None) => self.gate_strangers(&name, strangers).map_err(Err),
            Ok(Some(existing)) => Err(Ok(Box::new(existing))),
            Err(refusal) => Err(Err(refusal)),
        }
    }

    /// A launch refused at its spawn: its `starting` row is undone — deleted for a new
    /// record, rewritten as it was for a resume — and the request gets the gate's answer; a
    /// fallback relaunch ends the failed continue instead.
    fn refused_at_spawn(
        &mut self,
        row: InstanceRow,
        verdict: Result<Box<SpawnOutcome>, EngineError>,
        reply: Option<LaunchReply>,
    ) {
        let id = row.instance_id;
        tracing::info!(instance = %short(&id), "launch refused at the spawn: a standard bridge already runs in '{}'", row.project);
        let Some(reply) = reply else {
            let why = match &verdict {
                Ok(_) => "another standard bridge of the project is running".to_owned(),
                Err(err) => err.to_string(),
            };
            if self.policies.automatic.remove(&id) {
                self.automatic_launch_refused(&id, &why);
            } else {
                self.fallback_failed(&id, &why);
            }
            return;
        };
        match self.instances.get(&id) {
            Some(live) => self.persist(live),
            None => self.writer.delete(&id),
        }
        // Answered once the undo is in the store: a server killed right after the refusal
        // must not find the refused launch's row again at its restart.
        let writer = self.writer.clone();
        tokio::spawn(async move {
            writer.flush().await;
            let _ = reply.send(verdict.map(|outcome| *outcome));
        });
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
                live.status = Status::Error;
                live.phase = Phase::Live { child: false };
                fail_launch(&mut live, &detail, &config);
            }
        }
        self.record(&id, live);
        // Markers written before the watcher saw the file are read now.
        self.observe(&id);
        id
    }

    /// A launch that failed before any process existed: the row is persisted and published
    /// as `error` / `launch_failed` with `detail`.
    pub(super) fn record_launch_failure(
        &mut self,
        mut row: InstanceRow,
        now: u128,
        detail: &str,
    ) -> String {
        row.launched_at = Some(rfc3339(now));
        row.bridge_id = None;
        row.environment_id = None;
        row.starter_session_id = None;
        row.url = None;
        let id = row.instance_id.clone();
        self.launches += 1;
        let mut live = Live::new(row, Status::Error, self.launches, false, None);
        fail_launch(&mut live, detail, &self.config);
        self.record(&id, live);
        id
    }

    /// Records a new launch as the instance `id`: its status written into the row, the row
    /// persisted, the instance published.
    fn record(&mut self, id: &str, mut live: Live) {
        live.status.as_token().clone_into(&mut live.row.last_status);
        self.persist(&live);
        self.instances.insert(id.to_owned(), live);
        self.publish(id);
    }

    /// The fallback of §9.2/§9.3: a continue that ended before readiness for a reason a fresh
    /// start can fix is relaunched once, fresh, through the same off-supervisor steps. When
    /// that relaunch is impossible (the project is gone), the failed continue stands.
    pub(super) fn fresh_fallback(&mut self, id: &str) {
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
    pub(super) fn fallback_failed(&mut self, id: &str, why: &str) {
        let Some(live) = self.instances.get_mut(id) else {
            return;
        };
        tracing::warn!(instance = %short(id), "no fresh relaunch after a failed continue: {why}");
        live.phase.set_relaunching(false);
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
    pub(super) fn launch(
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

    pub(super) fn wait_for_exit(&self, id: &str, launch: u64, mut child: std::process::Child) {
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

    pub(super) fn schedule_deadline(&self, id: &str, launch: u64, after: Duration) {
        let tx = self.tx.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(Msg::Deadline { id, launch }).await;
        });
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
    /// A standard launch: the bridge pids of our instances, which step 9's scan skips.
    ours: Option<Vec<i32>>,
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
    /// Step 9's scan: standard bridges working in the directory that are not ours.
    strangers: Vec<i32>,
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
        mut plan,
        mut warnings,
        trust_write,
        fallback_warning,
        ..
    } = ticket;
    let id = row.instance_id.clone();
    let refuse = |err: EngineError| (id.clone(), err);
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
    if let LaunchKind::Pty(conversation) = &mut plan.kind {
        pty::continue_or_new(
            conversation,
            &row,
            &inputs.config.projects_root,
            &mut warnings,
        );
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
        // So do its processes: a resumed row must not carry the last launch's pids into this
        // one's, or a restart before the new pid is stored takes the dead one for it.
        row.forget_bridge_process();
        row.forget_keeper_process();
        Status::Starting.as_token().clone_into(&mut row.last_status);
        // 16. The row exists before the process does (§10.3).
        let mut stored = row.clone();
        stored.updated_at = rfc3339(now_ms());
        crate::engine::writer::wait_confirmed(inputs.writer.upsert_confirmed(stored))
            .map_err(|reason| refuse(EngineError::Unavailable(reason)))?;
    }
    let strangers = inputs
        .ours
        .as_deref()
        .map(|ours| super::gate::standard_bridges_in(&plan.canonical, ours))
        .unwrap_or_default();
    Ok(Prepared {
        row,
        plan,
        set,
        args,
        resumes_conversation,
        warnings,
        fallback_warning,
        caps,
        strangers,
    })
}

/// Steps 12–13: the remote-control acknowledgement and the recap hook (§13.1; best effort,
/// a warning when either fails), then the trust write a `trust: true` request deferred until
/// every gate passed. A file that needs no change is read without its lock; a lock another
/// process holds for more than 5 s refuses only the trust write, with 503 (issue 14).
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
    // Step 12 is best effort: a failure, a held lock included, is a warning, never a refusal.
    if acknowledge && let Err(err) = claude_files::acknowledge_remote_control(state_dir, global) {
        warnings.push(format!(
            "could not enable Remote Control in {}: {err}",
            global.display()
        ));
    }
    if let Some(hook) = recap_hook
        && let Err(err) =
            claude_files::install_recap_hook(state_dir, &hook.settings_file, &hook.command)
    {
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
pub(super) fn retain_logs(config: &Config, logs: &LogSets, keep: &HashSet<String>) {
    let rules = clauster_core::logset::Retention {
        max_age_days: config.logs.retention_max_age_days,
        max_files: config.logs.retention_max_files,
        max_total_mb: config.logs.retention_max_total_mb,
    };
    let deleted = crate::engine::logs::apply_retention(logs.dir(), keep, rules, SystemTime::now());
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

/// Marks `live` as failed at its launch (`launch_failed`, with `detail`), ended now.
fn fail_launch(live: &mut Live, detail: &str, config: &Config) {
    let failure = status::classify(
        FailureCause::LaunchFailed,
        &FailureEvidence {
            launch_error: Some(detail),
            ..evidence_defaults(config)
        },
    );
    set_failure(&mut live.row, &failure);
    live.row.ended_at = Some(rfc3339(now_ms()));
}
