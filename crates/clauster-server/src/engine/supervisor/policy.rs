//! Restart policy and keep-running (bridges.md §7.9, §11.1; issue 25): a project's stored
//! policy and wish, the restart of a failed bridge after a jittered backoff, the crash-loop
//! stop, and the staggered bring-up of kept projects. Every automatic launch goes through
//! the same gate (`gate.rs`) and launch path (`launch.rs`) as a request, and through the
//! project's reservation, so nothing here can start a second bridge a request could not.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use clauster_core::names::echo;
use clauster_core::restart::{self, Restart, RestartHistory, RestartPolicy, Verdict};
use clauster_core::sanitize::sanitize_text;
use clauster_core::status::{ErrorKind, Status};
use clauster_wire::{PolicyUpdate, ProjectPolicy};
use tokio::sync::oneshot;

use super::gate::{GateRequest, Gated};
use super::{Continuation, Msg, Supervisor, now_ms, rfc3339, short};
use crate::engine::{Command, EngineError, StartRequest};
use crate::store::PolicyRow;

/// The spacing of a bring-up: 50 kept projects start over 25 s, not at once (§11.1).
const KEEP_STAGGER: Duration = Duration::from_millis(500);
/// How soon a restart is tried again while the failed bridge is still being ended.
const STILL_ENDING: Duration = Duration::from_millis(500);

/// What the engine knows about one instance's automatic restarts.
#[derive(Debug, Default)]
pub(super) struct Restarts {
    pub history: RestartHistory,
    pub pending: Option<Pending>,
}

/// A restart waiting for its timer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pending {
    pub token: u64,
    pub at_ms: u128,
    pub how: Restart,
}

/// The supervisor's policy state.
#[derive(Debug, Default)]
pub(super) struct Policies {
    /// Stored policies by project (bridges.md §10.2 `project_policies`).
    pub stored: HashMap<String, PolicyRow>,
    /// Restart state by instance id.
    pub restarts: HashMap<String, Restarts>,
    /// Instances whose launch in flight is the engine's own (a restart or a bring-up).
    pub automatic: BTreeSet<String>,
    pub tokens: u64,
}

impl Supervisor {
    /// The project's stored policy, or the defaults (`wanted` until a Stop says otherwise).
    fn policy_row(&self, project: &str) -> PolicyRow {
        self.policies
            .stored
            .get(project)
            .cloned()
            .unwrap_or_else(|| PolicyRow {
                project: project.to_owned(),
                restart: None,
                keep_running: None,
                wanted: true,
            })
    }

    fn restart_policy(&self, project: &str) -> RestartPolicy {
        self.policy_row(project)
            .restart
            .and_then(|token| token.parse().ok())
            .unwrap_or(self.config.instance_defaults.restart)
    }

    fn effective(&self, project: &str) -> ProjectPolicy {
        let row = self.policy_row(project);
        ProjectPolicy {
            project: project.to_owned(),
            restart: self.restart_policy(project).as_token().to_owned(),
            keep_running: row
                .keep_running
                .unwrap_or(self.config.instance_defaults.keep_running),
            wanted: row.wanted,
        }
    }

    /// The stored policies, read once at start-up before rediscovery.
    pub(super) async fn load_policies(&mut self) {
        match self.writer.load_policies().await {
            Ok(rows) => {
                self.policies.stored = rows
                    .into_iter()
                    .map(|row| (row.project.clone(), row))
                    .collect();
            }
            Err(err) => tracing::error!("cannot read the project policies from the store: {err}"),
        }
    }

    /// `GET/PUT /api/projects/{name}/policy`: a PUT answers once the row is stored, and
    /// memory changes only then (a refused write is a 503 and changes nothing).
    pub(super) fn policy_command(
        &mut self,
        project: &str,
        update: Option<PolicyUpdate>,
        reply: oneshot::Sender<Result<ProjectPolicy, EngineError>>,
    ) {
        if let Err(err) = self.known_project(project) {
            let _ = reply.send(Err(err));
            return;
        }
        let Some(update) = update else {
            let _ = reply.send(Ok(self.effective(project)));
            return;
        };
        let mut row = self.policy_row(project);
        if let Some(token) = &update.restart {
            match token.parse::<RestartPolicy>() {
                Ok(policy) => row.restart = Some(policy.as_token().to_owned()),
                Err(err) => {
                    let _ = reply.send(Err(EngineError::InvalidOption {
                        detail: err.to_string(),
                        field: Some("restart"),
                    }));
                    return;
                }
            }
        }
        if let Some(keep) = update.keep_running {
            row.keep_running = Some(keep);
        }
        let written = self.writer.policy_confirmed(row.clone());
        let project = project.to_owned();
        self.reserve(project.clone(), async move {
            let written = written
                .await
                .unwrap_or_else(|_| Err("the store writer has stopped".into()));
            Continuation::new(move |supervisor| {
                if let Err(reason) = written {
                    let _ = reply.send(Err(EngineError::Unavailable(reason)));
                    return;
                }
                supervisor.policies.stored.insert(project.clone(), row);
                if supervisor.restart_policy(&project) == RestartPolicy::Never {
                    supervisor.cancel_project_restarts(&project);
                }
                let _ = reply.send(Ok(supervisor.effective(&project)));
            })
        });
    }

    /// A project the API may name: valid and discovered (the gate's step 1).
    fn known_project(&self, project: &str) -> Result<(), EngineError> {
        let ok = clauster_core::names::ProjectName::new(project).is_ok()
            && !project.starts_with('.')
            && std::fs::metadata(self.config.projects_root.join(project)).is_ok_and(|m| m.is_dir());
        if ok {
            Ok(())
        } else {
            Err(EngineError::NotFound(format!(
                "project '{}' not found",
                echo(project)
            )))
        }
    }

    /// The user's Start or Stop: the wish of §11.1 (kept projects come back only while
    /// wanted). Written in the background; a failed write is logged by the store writer.
    pub(super) fn set_wanted(&mut self, project: &str, wanted: bool) {
        let mut row = self.policy_row(project);
        if row.wanted == wanted {
            // Nothing to write (a project never stopped is wanted without a row).
            return;
        }
        row.wanted = wanted;
        self.writer.policy(row.clone());
        self.policies.stored.insert(project.to_owned(), row);
    }

    /// A user's Start or Resume takes over: pending restarts of the project end, and the
    /// resumed instance's history starts again.
    pub(super) fn user_launch(&mut self, project: &str, resumed: Option<&str>) {
        self.set_wanted(project, true);
        self.cancel_project_restarts(project);
        if let Some(id) = resumed {
            self.policies.restarts.remove(id);
        }
    }

    /// A user's Stop: no restart of this instance (at once, before anything is written).
    pub(super) fn stop_cancels_restart(&mut self, id: &str) {
        if self.cancel_restart(id) {
            self.publish(id);
        }
    }

    /// A user's Stop, once its own write is done: the project is no longer wanted (§11.1).
    pub(super) fn stop_unwants(&mut self, id: &str) {
        if let Some(project) = self.instances.get(id).map(|l| l.row.project.clone()) {
            self.set_wanted(&project, false);
        }
    }

    /// Drops a pending restart; true when there was one.
    fn cancel_restart(&mut self, id: &str) -> bool {
        self.policies
            .restarts
            .get_mut(id)
            .and_then(|r| r.pending.take())
            .is_some()
    }

    fn cancel_project_restarts(&mut self, project: &str) {
        let ids: Vec<String> = self
            .instances
            .iter()
            .filter(|(_, live)| live.row.project == project)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            if self.cancel_restart(&id) {
                self.publish(&id);
            }
        }
    }

    /// Forgotten instances take their restart state with them.
    pub(super) fn forget_restarts(&mut self, id: &str) {
        self.policies.restarts.remove(id);
        self.policies.automatic.remove(id);
    }

    /// `restarts` and `next_restart_at` of the instance JSON.
    pub(super) fn restart_facts(&self, id: &str) -> (u32, Option<String>) {
        let Some(state) = self.policies.restarts.get(id) else {
            return (0, None);
        };
        let window = self.config.instance_defaults.restart_rules().window;
        let now = u64::try_from(now_ms()).unwrap_or(u64::MAX);
        (
            state.history.restarts(now, window),
            state.pending.map(|p| rfc3339(p.at_ms)),
        )
    }

    /// Called by `apply` when a bridge has just ended `crashed` or `error` (before the change
    /// is persisted and published): an `on-failure` project schedules a restart, or — after
    /// `restart_burst` failures in the window — ends the loop as `error` / `crash_loop`.
    pub(super) fn after_failure(&mut self, id: &str) {
        let Some(live) = self.instances.get(id) else {
            return;
        };
        if live.row.intentional_stop
            || live.phase.is_stopping()
            || self.restart_policy(&live.row.project) != RestartPolicy::OnFailure
        {
            return;
        }
        let Some(how) = restart::restartable(live.status, live.row.error_kind.as_deref()) else {
            return;
        };
        // A stalled bridge kept alive by `stalled_bridge_action: keep` may still register
        // (§7.5): it is the user's choice to keep it, so it is not replaced.
        if live.row.error_kind.as_deref() == Some(ErrorKind::StartupTimeout.as_token())
            && self.config.claude.stalled_bridge_action
                == clauster_core::status::StalledBridgeAction::Keep
        {
            return;
        }
        let rules = self.config.instance_defaults.restart_rules();
        let now = now_ms();
        let state = self.policies.restarts.entry(id.to_owned()).or_default();
        let now_u64 = u64::try_from(now).unwrap_or(u64::MAX);
        match state.history.failed(now_u64, &rules, fastrand::f64()) {
            Verdict::Restart { after, attempt } => {
                self.policies.tokens += 1;
                let token = self.policies.tokens;
                state.pending = Some(Pending {
                    token,
                    at_ms: now + after.as_millis(),
                    how,
                });
                tracing::info!(instance = %short(id), "restart {attempt} in {} ms", after.as_millis());
                self.send_later(
                    after,
                    Command::RestartDue {
                        id: id.to_owned(),
                        token,
                    },
                );
            }
            Verdict::CrashLoop { failures } => {
                state.pending = None;
                let restarts = state.history.restarts(now_u64, rules.window);
                let live = self.instances.get_mut(id).expect("present above");
                let last_words = last_words(live);
                let detail = format!(
                    "stopped restarting after {failures} failures within {} s ({restarts} automatic restarts); claude's last words: {}",
                    rules.window.as_secs(),
                    last_words.as_deref().unwrap_or("(nothing logged)")
                );
                tracing::warn!(instance = %short(id), "crash loop: {detail}");
                live.status = Status::Error;
                Status::Error
                    .as_token()
                    .clone_into(&mut live.row.last_status);
                live.row.error_kind = Some(ErrorKind::CrashLoop.as_token().to_owned());
                live.row.error_hint = Some(ErrorKind::CrashLoop.hint().to_owned());
                live.row.error_detail = Some(sanitize_text(&detail).into_owned());
            }
        }
    }

    /// A restart's timer went off (`Command::RestartDue`, run under the project's
    /// reservation like any request).
    pub(super) fn restart_due(&mut self, id: &str, token: u64) {
        let Some(pending) = self
            .policies
            .restarts
            .get(id)
            .and_then(|r| r.pending)
            .filter(|p| p.token == token)
        else {
            return;
        };
        let Some(live) = self.instances.get(id) else {
            self.policies.restarts.remove(id);
            return;
        };
        if live.status.is_live() {
            // Someone resumed it meanwhile.
            self.cancel_restart(id);
            return;
        }
        if live.is_live() || live.phase.is_stopping() {
            // The failed bridge is still being ended (a stalled one is terminated first).
            self.send_later(
                STILL_ENDING,
                Command::RestartDue {
                    id: id.to_owned(),
                    token,
                },
            );
            return;
        }
        let project = live.row.project.clone();
        self.cancel_restart(id);
        if self.restart_policy(&project) != RestartPolicy::OnFailure {
            self.publish(id);
            return;
        }
        let gated = self.gate(&GateRequest::Resume {
            id,
            fresh: pending.how == Restart::Fresh,
            trust: false,
        });
        if matches!(gated, Ok(Gated::Launch(_))) {
            let now = u64::try_from(now_ms()).unwrap_or(u64::MAX);
            if let Some(state) = self.policies.restarts.get_mut(id) {
                state.history.restarted(now);
            }
        }
        self.launch_automatically(gated, Some(id));
    }

    /// Hands a gate verdict of the engine's own launch on: a refusal is shown as the
    /// instance's notice (the launch a request would have got refused the same way), an
    /// existing live bridge means there is nothing to do.
    fn launch_automatically(&mut self, gated: Result<Gated, EngineError>, id: Option<&str>) {
        match gated {
            Ok(Gated::Launch(ticket)) => {
                self.policies
                    .automatic
                    .insert(ticket.row.instance_id.clone());
                self.begin_launch(*ticket, None);
            }
            Ok(Gated::Existing(_)) => {
                if let Some(id) = id {
                    self.publish(id);
                }
            }
            Err(err) => {
                if let Some(id) = id {
                    self.automatic_launch_refused(id, &err.to_string());
                } else {
                    tracing::warn!("keep-running: a new bridge was refused: {err}");
                }
            }
        }
    }

    /// The engine's own launch failed before a process existed (refused at the spawn, the
    /// store, a held lock): the instance keeps its end, with the reason as its notice.
    pub(super) fn automatic_launch_refused(&mut self, id: &str, why: &str) {
        tracing::warn!(instance = %short(id), "automatic launch refused: {why}");
        let Some(live) = self.instances.get_mut(id) else {
            // A bring-up's new record that never became an instance.
            self.writer.delete(id);
            return;
        };
        live.notice = Some(sanitize_text(&format!("automatic launch refused: {why}")).into_owned());
        let live = &self.instances[id];
        self.persist(live);
        self.publish(id);
    }

    /// Schedules a kept project's turn, and answers with the projects it will bring up
    /// (§11.1 after rediscovery; `clauster start --all-kept`). Candidates are the projects
    /// with a stored policy or a record, and — when `instance_defaults.keep_running` is on —
    /// every discovered project (listed off the supervisor).
    pub(super) fn bring_up_kept(&mut self, reply: Option<oneshot::Sender<Vec<String>>>) {
        let mut known: BTreeSet<String> = self.policies.stored.keys().cloned().collect();
        known.extend(self.instances.values().map(|live| live.row.project.clone()));
        let every = self
            .config
            .instance_defaults
            .keep_running
            .then(|| self.config.projects_root.clone());
        let tx = self.tx.clone();
        tokio::spawn(async move {
            if let Some(root) = every {
                // The names only; `wants_bridge` applies the rules of discovery to each.
                let found = tokio::task::spawn_blocking(move || {
                    std::fs::read_dir(root)
                        .map(|entries| {
                            entries
                                .filter_map(Result::ok)
                                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default()
                })
                .await
                .unwrap_or_default();
                known.extend(found);
            }
            let then = Continuation::new(move |supervisor| supervisor.schedule_kept(known, reply));
            let _ = tx.send(Msg::Run(then)).await;
        });
    }

    fn schedule_kept(
        &mut self,
        candidates: BTreeSet<String>,
        reply: Option<oneshot::Sender<Vec<String>>>,
    ) {
        let due: Vec<String> = candidates
            .into_iter()
            .filter(|project| self.wants_bridge(project))
            .collect();
        for (turn, project) in due.iter().enumerate() {
            let after = KEEP_STAGGER * u32::try_from(turn).unwrap_or(u32::MAX);
            self.send_later(after, Command::KeepUp(project.clone()));
        }
        if !due.is_empty() {
            tracing::info!("keep-running: bringing up {}", due.join(", "));
        }
        if let Some(reply) = reply {
            let _ = reply.send(due);
        }
    }

    /// Kept, wanted, discovered, and without a live (or stopping) bridge.
    fn wants_bridge(&self, project: &str) -> bool {
        let policy = self.effective(project);
        policy.keep_running
            && policy.wanted
            && self.known_project(project).is_ok()
            && !self.instances.values().any(|live| {
                live.row.project == project && (live.is_live() || live.phase.is_stopping())
            })
    }

    /// One kept project's turn: resume its most recent instance in its recorded mode, or
    /// start one with the defaults when it has none.
    pub(super) fn keep_up(&mut self, project: &str) {
        if !self.wants_bridge(project) {
            return;
        }
        let latest = self
            .instances
            .iter()
            .filter(|(_, live)| live.row.project == project)
            .max_by(|(_, a), (_, b)| {
                let when = |l: &super::Live| {
                    l.row
                        .launched_at
                        .clone()
                        .unwrap_or_else(|| l.row.created_at.clone())
                };
                when(a).cmp(&when(b))
            })
            .map(|(id, _)| id.clone());
        if let Some(id) = latest {
            self.cancel_restart(&id);
            let gated = self.gate(&GateRequest::Resume {
                id: &id,
                fresh: false,
                trust: false,
            });
            self.launch_automatically(gated, Some(&id));
        } else {
            let request = StartRequest {
                project: project.to_owned(),
                ..StartRequest::default()
            };
            let gated = self.gate(&GateRequest::Start(&request));
            self.launch_automatically(gated, None);
        }
    }

    /// Sends `command` to the supervisor after `after` (a timer task; never blocks it).
    fn send_later(&self, after: Duration, command: Command) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let (taken, _) = oneshot::channel();
            let _ = tx.send(Msg::Command(command, taken)).await;
        });
    }
}

/// What claude said last: the classified detail, else the last line it wrote.
fn last_words(live: &super::Live) -> Option<String> {
    if let Some(detail) = live.row.error_detail.as_deref().filter(|d| !d.is_empty()) {
        return Some(detail.to_owned());
    }
    [&live.capture_tail, &live.log_tail]
        .into_iter()
        .find_map(|tail| {
            tail.lines()
                .rev()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .map(str::to_owned)
        })
}
