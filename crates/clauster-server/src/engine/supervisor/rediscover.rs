//! Rediscovery after a restart (bridges.md §11): every stored row comes back, and its status
//! is re-derived from the process it names — a live one is believed whatever the row says, a
//! dead one ends as its last status implies, a row that never got a process is a launch
//! failure (unless its process is found by its log set's `--debug-file`) — before the engine
//! says it is ready.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clauster_core::identity::{Gate, StartIdentity, parse_boot_id};
use clauster_core::names::ProjectName;
use clauster_core::status::{self, Event, ExitStatus, FailureCause, FailureEvidence, Status};

use clauster_pty::proc;

use super::{
    Live, Supervisor, alive, evidence_defaults, now_ms, parse_rfc3339_ms, pty, rfc3339,
    set_failure, short,
};
use crate::engine::logs::LogSet;
use crate::engine::pointers;
use crate::store::InstanceRow;

impl Supervisor {
    /// bridges.md §11: every stored row comes back; a live status is believed only when the
    /// recorded process still is ours.
    pub(super) async fn rediscover(&mut self) {
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
    pub(super) fn rediscover_row(&mut self, mut row: InstanceRow) {
        let id = row.instance_id.clone();
        let status: Status = row.last_status.parse().unwrap_or(Status::Stopped);
        let bound = status.is_live()
            && !recorded_process_lives(&row)
            && bind_unrecorded_launch(&mut row, self.logs.dir());
        if bound {
            tracing::warn!(
                instance = %short(&id),
                "found the process of a launch whose pid never reached the store"
            );
        }
        let identity = recorded_identity(
            &row,
            row.bridge_pid,
            row.bridge_start_ticks,
            row.bridge_proc_start,
        );
        self.launches += 1;
        let keeper = recorded_identity(
            &row,
            row.keeper_pid,
            row.keeper_start_ticks,
            row.keeper_proc_start,
        );
        let mut live = Live::new(row, status, self.launches, false, identity);
        live.keeper = keeper;
        live.project_gone = !self.discovered(&live.row.project);
        if status.is_live() && live.row.bridge_pid.is_none() && live.row.keeper_pid.is_none() {
            // Step 3: no process was ever recorded — Clauster stopped between persisting the
            // row and launching (§6 steps 16–17).
            let failure = status::classify(
                FailureCause::LaunchFailed,
                &FailureEvidence {
                    launch_error: Some(status::DETAIL_LAUNCH_INTERRUPTED),
                    ..evidence_defaults(&self.config)
                },
            );
            set_failure(&mut live.row, &failure);
            live.row.error_detail = Some(status::DETAIL_LAUNCH_INTERRUPTED.to_owned());
            live.row.error_hint = Some(status::HINT_LAUNCH_INTERRUPTED.to_owned());
            live.row.ended_at.get_or_insert_with(|| rfc3339(now_ms()));
            live.status = Status::Error;
            live.phase.set_exited(ExitStatus::Unknown);
            self.instances.insert(id, live);
            return;
        }
        if live.is_pty() {
            // The sidecar says what the keeper learned while we were away.
            pty::read_sidecar(self.logs.dir(), &mut live);
        }
        let alive = alive(&live);
        if !alive {
            live.phase.set_exited(ExitStatus::Unknown);
        }
        self.instances.insert(id.clone(), live);
        if bound {
            self.persist(&self.instances[&id]);
        }
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
            live.phase.start_stopping();
            self.terminate(&id, None);
            return;
        }
        if matches!(status, Status::Stopped | Status::Crashed) {
            // Recorded ended but alive: the row is re-derived as live, and its old
            // `intentional_stop` described that end, not a Stop still to finish — kept, the next
            // restart would take it for an interrupted Stop and end a running bridge.
            live.row.intentional_stop = false;
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

    /// Whether `project` names a discovered project (§6 step 1): a valid, non-hidden name of
    /// a directory of `projects_root`.
    fn discovered(&self, project: &str) -> bool {
        ProjectName::new(project).is_ok()
            && !project.starts_with('.')
            && std::fs::metadata(self.config.projects_root.join(project)).is_ok_and(|m| m.is_dir())
    }

    /// Startup (§17.3): non-live pointers of discovered projects untouched for 14 days lose
    /// their session, without backup.
    pub(super) fn clean_up_pointers(&self) {
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
}

/// Whether the bridge or the keeper the row records is still that process.
fn recorded_process_lives(row: &InstanceRow) -> bool {
    let bridge = recorded_identity(
        row,
        row.bridge_pid,
        row.bridge_start_ticks,
        row.bridge_proc_start,
    );
    let keeper = recorded_identity(
        row,
        row.keeper_pid,
        row.keeper_start_ticks,
        row.keeper_proc_start,
    );
    bridge.is_some_and(|b| proc::is_ours(&b, Gate::Bridge))
        || keeper.is_some_and(|k| proc::is_ours(&k, Gate::Keeper))
}

/// The exception to §11 step 3: a launch that got as far as its process, with Clauster killed
/// between the spawn and the store's write of the pid (a row stored before this fix may
/// still name the previous launch's dead pid). The live processes passing `--debug-file` of
/// the row's log set (a stem no other launch uses) are that launch's bridge and, in pty mode,
/// its keeper; their identities go into the row, which then comes back like any row with a
/// pid. Returns whether one was found.
fn bind_unrecorded_launch(row: &mut InstanceRow, logs_dir: &Path) -> bool {
    let Some(stem) = row.log_stem.as_deref() else {
        return false;
    };
    let set = LogSet::at(logs_dir, stem);
    let files: Vec<String> = [Some(&set.debug_log), set.raw_log.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|path| path.to_str().map(str::to_owned))
        .collect();
    let (mut bridge, mut keeper) = (false, false);
    for pid in proc::pids() {
        let Ok(Some(observed)) = proc::read_identity(pid) else {
            continue;
        };
        if !files.iter().any(|f| observed.cmdline.names_debug_file(f)) {
            continue;
        }
        let identity = proc::start_identity_of(&observed);
        let ticks = identity.start_ticks.and_then(|t| i64::try_from(t).ok());
        if !keeper && Gate::Keeper.admits(&observed.cmdline) {
            keeper = true;
            row.keeper_pid = Some(i64::from(pid));
            row.keeper_start_ticks = ticks;
            row.keeper_proc_start = identity.proc_start;
        } else if !bridge && Gate::Bridge.admits(&observed.cmdline) {
            bridge = true;
            row.bridge_pid = Some(i64::from(pid));
            row.bridge_start_ticks = ticks;
            row.bridge_proc_start = identity.proc_start;
        } else {
            continue;
        }
        row.bridge_boot_id = identity.boot_id.map(|b| b.as_str().to_owned());
    }
    if bridge != keeper {
        // Only one of the two found: the other's recorded pid belongs to an earlier launch.
        if bridge {
            row.forget_keeper_process();
        } else {
            row.forget_bridge_process();
        }
    }
    bridge || keeper
}

/// A recorded process's start identity (the bridge's or the keeper's), `None` without a pid;
/// the boot id recorded with the bridge is the machine's, so it serves both.
fn recorded_identity(
    row: &InstanceRow,
    pid: Option<i64>,
    start_ticks: Option<i64>,
    proc_start: Option<f64>,
) -> Option<StartIdentity> {
    Some(StartIdentity {
        pid: i32::try_from(pid?).ok()?,
        start_ticks: start_ticks.and_then(|t| u64::try_from(t).ok()),
        boot_id: row
            .bridge_boot_id
            .as_deref()
            .and_then(|b| parse_boot_id(b).ok()),
        proc_start,
    })
}
