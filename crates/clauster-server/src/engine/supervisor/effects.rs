//! The one place effects leave the supervisor, in the order bridges.md §10.3 fixes: a
//! record is persisted (queued on the store writer), then published (the frame follows the
//! write), then signals are sent (terminate, session sweep, off the supervisor); and the
//! bridge pointer strips of §17.3. The status machine decides, `apply` calls these.

use std::path::Path;
use std::time::Duration;

use clauster_core::identity::Gate;
use clauster_core::status::Status;
use clauster_pty::proc::{self, TerminatePolicy};
use clauster_wire::{Frame, Instance};
use tokio::sync::oneshot;

use super::{Live, Msg, Supervisor, now_ms, pty, rfc3339, short};
use crate::engine::EngineError;
use crate::engine::pointers::{self, StripResult};

impl Supervisor {
    /// Queues the row's write (bridges.md §10.3): done in order on the store thread; a
    /// failure is retried there and shows as `store_ok: false`.
    pub(super) fn persist(&self, live: &Live) {
        let mut row = live.row.clone();
        row.updated_at = rfc3339(now_ms());
        self.writer.upsert(row);
    }

    pub(super) fn persist_and_publish(&self, id: &str) {
        self.persist(&self.instances[id]);
        self.publish(id);
    }

    /// Publishes the instance once the writes queued before are done.
    pub(super) fn publish(&self, id: &str) {
        let instance = self.instance_json(id);
        self.writer.publish(Frame::Instance { instance });
        self.count_running();
    }

    /// `/healthz`'s `instances_running`, kept current without asking the supervisor.
    pub(super) fn count_running(&self) {
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

    /// T1–T2 of §8.2 off the supervisor: the answer arrives as `Msg::Terminated`.
    pub(super) fn terminate(
        &self,
        id: &str,
        reply: Option<oneshot::Sender<Result<Instance, EngineError>>>,
    ) {
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

    pub(super) fn sweep(&self, id: &str) {
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

    /// The strip of §17.3 for the project at `canonical` (never of a live pointer).
    pub(super) fn strip_pointer(&self, canonical: &Path, backup: bool) {
        strip_pointer_file(&self.pointers.file_for(canonical), backup);
    }

    pub(super) fn strip_project_pointer(&self, project: &str) {
        if let Ok(canonical) = std::fs::canonicalize(self.config.projects_root.join(project)) {
            self.strip_pointer(&canonical, true);
        }
    }
}

/// The strip of §17.3 (never of a live pointer).
pub(super) fn strip_pointer_file(path: &Path, backup: bool) {
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
