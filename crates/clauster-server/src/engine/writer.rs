//! The store writer (bridges.md §10.3): one thread owns the SQLite connection, so SQLite's busy
//! wait never runs on the supervisor task. Jobs are done in the order they were queued, and a
//! frame queued after a write is published after it: a change is persisted before it is
//! published.
//!
//! A request's write (`*_confirmed`) reports its result, so the request can answer 503 and
//! roll back. A write of what the engine observed is kept when it fails and retried every
//! second (the newest row per instance); until every write went through, `store_ok` is false
//! and writes fail fast instead of waiting out the busy timeout each time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use clauster_wire::{Frame, HealthFacts};
use tokio::sync::{broadcast, oneshot, watch};

use super::ClaudeHealth;
use crate::store::{InstanceRow, PolicyRow, Store, StoreError};

/// The busy timeout while the store is healthy (§10.1).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The busy timeout while writes are failing: retries fail fast, frames keep flowing.
const FAILING_BUSY_TIMEOUT: Duration = Duration::from_millis(50);
/// How often failed writes are retried.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// The answer to a request's write: the reason it failed, for the 503.
pub(super) type Confirmation = oneshot::Receiver<Result<(), String>>;

enum Job {
    Upsert {
        row: Box<InstanceRow>,
        done: Option<oneshot::Sender<Result<(), String>>>,
    },
    Delete {
        id: String,
        done: Option<oneshot::Sender<Result<(), String>>>,
    },
    /// A project's policy (bridges.md §7.9); a failure is reported to `done` or logged.
    Policy {
        row: PolicyRow,
        done: Option<oneshot::Sender<Result<(), String>>>,
    },
    Publish(Arc<Frame>),
    Load(oneshot::Sender<Result<Vec<InstanceRow>, StoreError>>),
    LoadPolicies(oneshot::Sender<Result<Vec<PolicyRow>, StoreError>>),
    /// Answered once every job queued before it is done.
    Flush(oneshot::Sender<()>),
    /// Fold the write-ahead log into the store file (shutdown).
    Checkpoint(oneshot::Sender<()>),
}

/// A handle to the writer thread; clones share it.
#[derive(Clone, Debug)]
pub(super) struct StoreWriter {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Job::Upsert { .. } => "Upsert",
            Job::Delete { .. } => "Delete",
            Job::Policy { .. } => "Policy",
            Job::Publish(_) => "Publish",
            Job::Load(_) => "Load",
            Job::LoadPolicies(_) => "LoadPolicies",
            Job::Flush(_) => "Flush",
            Job::Checkpoint(_) => "Checkpoint",
        })
    }
}

/// What the writer reports health with (the `health` frame of http-api.md §8.4).
pub(super) struct HealthInputs {
    pub store_ok: watch::Sender<bool>,
    pub claude: watch::Receiver<ClaudeHealth>,
    pub ready: watch::Receiver<bool>,
}

impl StoreWriter {
    /// Starts the writer thread with the store it now owns.
    pub(super) fn spawn(
        store: Store,
        frames: broadcast::Sender<Arc<Frame>>,
        health: HealthInputs,
    ) -> Self {
        let (jobs, rx) = mpsc::channel();
        let mut thread = Thread {
            store,
            frames,
            health,
            dirty: BTreeMap::new(),
            dirty_deletes: BTreeSet::new(),
            healthy: true,
        };
        std::thread::Builder::new()
            .name("clauster-store".into())
            .spawn(move || thread.run(&rx))
            .expect("start the store writer thread");
        Self { jobs }
    }

    /// A writer whose thread is gone: every job is dropped (tests of the engine handle).
    #[cfg(test)]
    pub(super) fn detached() -> Self {
        Self {
            jobs: mpsc::channel().0,
        }
    }

    /// Persists what the engine observed; a failure is kept and retried.
    pub(super) fn upsert(&self, row: InstanceRow) {
        let _ = self.jobs.send(Job::Upsert {
            row: Box::new(row),
            done: None,
        });
    }

    /// Persists a request's row and reports whether it was written.
    pub(super) fn upsert_confirmed(&self, row: InstanceRow) -> Confirmation {
        let (done, answer) = oneshot::channel();
        let _ = self.jobs.send(Job::Upsert {
            row: Box::new(row),
            done: Some(done),
        });
        answer
    }

    /// Deletes a row the engine decided is not wanted (a launch refused at its spawn); a
    /// failure is kept and retried like an observed write.
    pub(super) fn delete(&self, id: &str) {
        let _ = self.jobs.send(Job::Delete {
            id: id.to_owned(),
            done: None,
        });
    }

    /// Deletes a row for a request and reports whether it was deleted.
    pub(super) fn delete_confirmed(&self, id: &str) -> Confirmation {
        let (done, answer) = oneshot::channel();
        let _ = self.jobs.send(Job::Delete {
            id: id.to_owned(),
            done: Some(done),
        });
        answer
    }

    /// Writes a project's policy (the wish of a Start or Stop); a failure is logged.
    pub(super) fn policy(&self, row: PolicyRow) {
        let _ = self.jobs.send(Job::Policy { row, done: None });
    }

    /// Writes a project's policy for a request and reports whether it was written.
    pub(super) fn policy_confirmed(&self, row: PolicyRow) -> Confirmation {
        let (done, answer) = oneshot::channel();
        let _ = self.jobs.send(Job::Policy {
            row,
            done: Some(done),
        });
        answer
    }

    /// Every stored project policy (start-up).
    pub(super) async fn load_policies(&self) -> Result<Vec<PolicyRow>, String> {
        self.read(Job::LoadPolicies).await
    }

    /// Publishes `frame` once every write queued before it is done.
    pub(super) fn publish(&self, frame: Frame) {
        let _ = self.jobs.send(Job::Publish(Arc::new(frame)));
    }

    /// Waits until every job queued so far is done (rediscovery's writes before readiness).
    pub(super) async fn flush(&self) {
        let (done, answer) = oneshot::channel();
        let _ = self.jobs.send(Job::Flush(done));
        let _ = answer.await;
    }

    /// Waits until every job queued so far is done, then checkpoints the store.
    pub(super) async fn checkpoint(&self) {
        let (done, answer) = oneshot::channel();
        let _ = self.jobs.send(Job::Checkpoint(done));
        let _ = answer.await;
    }

    /// Every stored row (rediscovery).
    pub(super) async fn load(&self) -> Result<Vec<InstanceRow>, String> {
        self.read(Job::Load).await
    }

    /// Queues the read `job` makes of its answer channel and waits for what it read.
    async fn read<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Job,
    ) -> Result<T, String> {
        let (done, answer) = oneshot::channel();
        let _ = self.jobs.send(job(done));
        match answer.await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("the store writer has stopped".into()),
        }
    }
}

/// Waits for a request's write; the error text is the 503's reason.
pub(super) fn wait_confirmed(confirmation: Confirmation) -> Result<(), String> {
    confirmation
        .blocking_recv()
        .unwrap_or_else(|_| Err("the store writer has stopped; restart clauster".into()))
}

struct Thread {
    store: Store,
    frames: broadcast::Sender<Arc<Frame>>,
    health: HealthInputs,
    /// Observed rows whose write failed, newest per instance.
    dirty: BTreeMap<String, InstanceRow>,
    /// Unrequested deletions that failed, retried like `dirty`.
    dirty_deletes: BTreeSet<String>,
    healthy: bool,
}

impl Thread {
    fn run(&mut self, jobs: &mpsc::Receiver<Job>) {
        loop {
            let job = if self.healthy && self.dirty.is_empty() && self.dirty_deletes.is_empty() {
                jobs.recv()
                    .map_err(|_| mpsc::RecvTimeoutError::Disconnected)
            } else {
                jobs.recv_timeout(RETRY_EVERY)
            };
            match job {
                Ok(job) => self.handle(job),
                Err(mpsc::RecvTimeoutError::Timeout) => self.retry(),
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Upsert { row, done } => {
                self.dirty.remove(&row.instance_id);
                self.dirty_deletes.remove(&row.instance_id);
                let result = self.store.upsert_instance(&row);
                let answer = result.as_ref().copied().map_err(ToString::to_string);
                match (&result, &done) {
                    (Ok(()), _) => self.wrote(),
                    (Err(err), None) => {
                        tracing::error!(
                            "cannot persist instance {}: {err}; kept in memory and retried",
                            short(&row.instance_id)
                        );
                        self.dirty.insert(row.instance_id.clone(), *row);
                        self.failed();
                    }
                    (Err(err), Some(_)) => {
                        tracing::error!(
                            "cannot persist instance {}: {err}",
                            short(&row.instance_id)
                        );
                        self.failed();
                    }
                }
                if let Some(done) = done {
                    let _ = done.send(answer);
                }
            }
            Job::Delete { id, done } => {
                self.dirty.remove(&id);
                let result = self.store.delete_instance(&id).map(|_| ());
                match &result {
                    Ok(()) => self.wrote(),
                    Err(err) => {
                        tracing::error!(
                            "cannot delete instance {} from the store: {err}",
                            short(&id)
                        );
                        if done.is_none() {
                            self.dirty_deletes.insert(id.clone());
                        }
                        self.failed();
                    }
                }
                if let Some(done) = done {
                    let _ = done.send(result.map_err(|e| e.to_string()));
                }
            }
            Job::Policy { row, done } => {
                let result = self.store.upsert_policy(&row).map_err(|e| e.to_string());
                if let Err(err) = &result {
                    tracing::error!("cannot save the policy of project '{}': {err}", row.project);
                }
                if let Some(done) = done {
                    let _ = done.send(result);
                }
            }
            Job::Publish(frame) => {
                let _ = self.frames.send(frame);
            }
            Job::Load(done) => {
                let _ = done.send(self.store.load_instances());
            }
            Job::LoadPolicies(done) => {
                let _ = done.send(self.store.load_policies());
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
            Job::Checkpoint(done) => {
                if let Err(err) = self.store.checkpoint() {
                    tracing::warn!("{err}");
                }
                let _ = done.send(());
            }
        }
        if !self.healthy {
            self.retry();
        }
    }

    /// Writes what failed before; with nothing left, checks the store takes writes again.
    fn retry(&mut self) {
        let rows: Vec<InstanceRow> = self.dirty.values().cloned().collect();
        for row in rows {
            if self.store.upsert_instance(&row).is_err() {
                return;
            }
            self.dirty.remove(&row.instance_id);
        }
        let deletes: Vec<String> = self.dirty_deletes.iter().cloned().collect();
        for id in deletes {
            if self.store.delete_instance(&id).is_err() {
                return;
            }
            self.dirty_deletes.remove(&id);
        }
        if !self.healthy && self.store.check_writable().is_ok() {
            self.wrote();
        }
    }

    fn wrote(&mut self) {
        if self.healthy || !self.dirty.is_empty() || !self.dirty_deletes.is_empty() {
            return;
        }
        self.healthy = true;
        tracing::info!("the store takes writes again");
        let _ = self.store.set_busy_timeout(BUSY_TIMEOUT);
        self.set_store_ok(true);
    }

    fn failed(&mut self) {
        if !self.healthy {
            return;
        }
        self.healthy = false;
        let _ = self.store.set_busy_timeout(FAILING_BUSY_TIMEOUT);
        self.set_store_ok(false);
    }

    fn set_store_ok(&self, ok: bool) {
        self.health.store_ok.send_replace(ok);
        let claude = self.health.claude.borrow().clone();
        let facts = HealthFacts {
            claude_ok: claude.claude_ok,
            claude_version: claude.claude_version,
            store_ok: ok,
            engine_ready: *self.health.ready.borrow(),
        };
        let _ = self.frames.send(Arc::new(Frame::Health(facts)));
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
