//! The clone jobs of data.md §3.5: one small registry (job id → state), the per-job progress
//! channel watchers subscribe to, cancel requests, and forgetting finished jobs after 60 s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use clauster_core::clone::Progress;
use clauster_wire::{CloneJobState, CloneJobSummary, CloneProgressFrame, Frame};
use tokio::sync::{broadcast, watch};

/// At most this many clones run at once (data.md §3.3 step 8).
pub const MAX_RUNNING: usize = 3;
/// Finished jobs are remembered this long (http-api.md §8.2).
pub const REMEMBER_FINISHED: Duration = Duration::from_mins(1);
/// Each watcher's queue (http-api.md §8.2).
pub const WATCHER_QUEUE: usize = 256;
/// `clone` frames on `/ws/events` for progress: at most 4 per second per job.
const EVENTS_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Running,
    Done,
    Error,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Error => "error",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Error(String),
    Cancelled,
}

#[derive(Debug)]
struct Job {
    name: String,
    status: JobStatus,
    progress: Progress,
    error: Option<String>,
    cancel: watch::Sender<bool>,
    frames: broadcast::Sender<CloneProgressFrame>,
    last_event: Option<Instant>,
}

impl Job {
    fn state(&self, id: &str) -> CloneJobState {
        CloneJobState {
            job_id: id.to_owned(),
            name: self.name.clone(),
            phase: self.progress.phase.map(str::to_owned),
            percent: self.progress.percent,
            status: self.status.as_str().to_owned(),
        }
    }

    fn terminal(&self) -> CloneProgressFrame {
        CloneProgressFrame::Done {
            status: self.status.as_str().to_owned(),
            error: self.error.clone(),
        }
    }
}

/// What a watcher of `/ws/clone-progress` starts from.
pub enum Watch {
    /// A running job: its current progress, then the channel.
    Running(CloneProgressFrame, broadcast::Receiver<CloneProgressFrame>),
    /// A finished job: only its terminal frame.
    Finished(CloneProgressFrame),
}

/// Why a cancel was refused.
pub enum CancelRefused {
    Unknown,
    Finished(JobStatus),
}

/// Shared by the handlers and the job tasks. The lock is held only for map updates, never
/// across an await.
#[derive(Clone, Debug, Default)]
pub struct CloneJobs {
    jobs: Arc<Mutex<HashMap<String, Job>>>,
}

impl CloneJobs {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Job>> {
        // A panic while holding the lock leaves the map consistent (single inserts/updates).
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a running job for `name` unless [`MAX_RUNNING`] are running already; the
    /// check and the insert are one step. Returns the job id and the cancel receiver.
    pub fn begin(&self, name: &str) -> Option<(String, watch::Receiver<bool>, CloneJobState)> {
        let mut jobs = self.lock();
        let running = jobs
            .values()
            .filter(|j| j.status == JobStatus::Running)
            .count();
        if running >= MAX_RUNNING {
            return None;
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (cancel, cancel_rx) = watch::channel(false);
        let (frames, _) = broadcast::channel(WATCHER_QUEUE);
        let job = Job {
            name: name.to_owned(),
            status: JobStatus::Running,
            progress: Progress::default(),
            error: None,
            cancel,
            frames,
            last_event: None,
        };
        let state = job.state(&id);
        jobs.insert(id.clone(), job);
        Some((id, cancel_rx, state))
    }

    /// Records a progress line's result and returns the `clone` event frame when one is due
    /// (at most 4/s per job).
    pub fn progress(&self, id: &str, progress: Progress) -> Option<Frame> {
        let mut jobs = self.lock();
        let job = jobs.get_mut(id)?;
        job.progress = progress;
        let _ = job.frames.send(CloneProgressFrame::Progress {
            phase: job.progress.phase.map(str::to_owned),
            percent: job.progress.percent,
        });
        let due = job
            .last_event
            .is_none_or(|last| last.elapsed() >= EVENTS_INTERVAL);
        if due {
            job.last_event = Some(Instant::now());
            Some(Frame::Clone { job: job.state(id) })
        } else {
            None
        }
    }

    /// Whether a cancel was requested.
    pub fn cancel_requested(&self, id: &str) -> bool {
        self.lock().get(id).is_some_and(|j| *j.cancel.borrow())
    }

    /// Ends the job, unless a cancel arrived and `outcome` is `Done`: then `None` is returned
    /// and the caller must undo the landing and finish with `Cancelled`. Returns the event.
    pub fn finish(&self, id: &str, outcome: Outcome) -> Option<Frame> {
        let mut jobs = self.lock();
        let job = jobs.get_mut(id)?;
        if outcome == Outcome::Done && *job.cancel.borrow() {
            return None;
        }
        let (status, error) = match outcome {
            Outcome::Done => (JobStatus::Done, None),
            Outcome::Error(text) => (JobStatus::Error, Some(text)),
            Outcome::Cancelled => (JobStatus::Cancelled, None),
        };
        job.status = status;
        job.error = error;
        let _ = job.frames.send(job.terminal());
        let frame = Frame::Clone { job: job.state(id) };
        drop(jobs);
        let jobs = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(REMEMBER_FINISHED).await;
            jobs.lock().remove(&id);
        });
        Some(frame)
    }

    /// Asks a running job to stop.
    pub fn cancel(&self, id: &str) -> Result<(), CancelRefused> {
        let jobs = self.lock();
        let job = jobs.get(id).ok_or(CancelRefused::Unknown)?;
        if job.status != JobStatus::Running {
            return Err(CancelRefused::Finished(job.status));
        }
        job.cancel.send_replace(true);
        Ok(())
    }

    /// Where a new watcher starts; `None` for an unknown or forgotten job.
    pub fn watch(&self, id: &str) -> Option<Watch> {
        let jobs = self.lock();
        let job = jobs.get(id)?;
        if job.status == JobStatus::Running {
            let now = CloneProgressFrame::Progress {
                phase: job.progress.phase.map(str::to_owned),
                percent: job.progress.percent,
            };
            Some(Watch::Running(now, job.frames.subscribe()))
        } else {
            Some(Watch::Finished(job.terminal()))
        }
    }

    /// The terminal frame of a finished job (for a watcher whose channel closed).
    pub fn terminal(&self, id: &str) -> Option<CloneProgressFrame> {
        let jobs = self.lock();
        let job = jobs.get(id)?;
        (job.status != JobStatus::Running).then(|| job.terminal())
    }

    /// Running jobs, sorted by name then id (never the URL).
    pub fn running(&self) -> Vec<CloneJobSummary> {
        let jobs = self.lock();
        let mut list: Vec<CloneJobSummary> = jobs
            .iter()
            .filter(|(_, j)| j.status == JobStatus::Running)
            .map(|(id, j)| CloneJobSummary {
                job_id: id.clone(),
                name: j.name.clone(),
                phase: j.progress.phase.map(str::to_owned),
                percent: j.progress.percent,
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.job_id.cmp(&b.job_id)));
        list
    }

    /// Asks every running job to stop, as its cancel does (git's process group ends, the
    /// temp directory goes): the server is shutting down (cli.md §7).
    pub fn cancel_all(&self) {
        for job in self.lock().values() {
            if job.status == JobStatus::Running {
                job.cancel.send_replace(true);
            }
        }
    }

    /// Completes once no job is running.
    pub async fn all_finished(&self) {
        while self.lock().values().any(|j| j.status == JobStatus::Running) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether any running job is cloning into `name`.
    pub fn running_for(&self, name: &str) -> bool {
        self.lock()
            .values()
            .any(|j| j.status == JobStatus::Running && j.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(percent: u8) -> Progress {
        Progress {
            phase: Some("Receiving"),
            percent: Some(percent),
        }
    }

    /// A watcher that falls behind loses the oldest progress frames, learns how many, and
    /// still gets the terminal frame.
    #[tokio::test]
    async fn a_slow_watcher_gets_an_overflow_count_and_the_terminal_frame() {
        let jobs = CloneJobs::default();
        let (id, _cancel, _) = jobs.begin("demo").expect("room for a job");
        let Some(Watch::Running(first, mut frames)) = jobs.watch(&id) else {
            panic!("a running job");
        };
        assert_eq!(
            first,
            CloneProgressFrame::Progress {
                phase: None,
                percent: None
            }
        );
        for i in 0..300_u16 {
            let _ = jobs.progress(&id, step(u8::try_from(i % 100).unwrap_or(0)));
        }
        assert!(jobs.finish(&id, Outcome::Done).is_some());
        let mut received = Vec::new();
        let mut dropped = 0;
        loop {
            match frames.try_recv() {
                Ok(frame) => received.push(frame),
                Err(broadcast::error::TryRecvError::Lagged(n)) => dropped += n,
                Err(_) => break,
            }
        }
        // 300 progress frames + 1 terminal, a queue of 256.
        assert_eq!(dropped, 45);
        assert_eq!(received.len(), WATCHER_QUEUE);
        assert_eq!(
            received.last(),
            Some(&CloneProgressFrame::Done {
                status: "done".into(),
                error: None
            })
        );
        // Finished: a new watcher gets only the terminal frame; cancel is refused.
        assert!(matches!(jobs.watch(&id), Some(Watch::Finished(_))));
        assert!(matches!(
            jobs.cancel(&id),
            Err(CancelRefused::Finished(JobStatus::Done))
        ));
    }

    #[tokio::test]
    async fn at_most_three_run_and_events_are_throttled() {
        let jobs = CloneJobs::default();
        let ids: Vec<String> = (0..3)
            .map(|i| jobs.begin(&format!("p{i}")).expect("room").0)
            .collect();
        assert!(jobs.begin("p3").is_none());
        assert!(
            jobs.progress(&ids[0], step(1)).is_some(),
            "the first event is due"
        );
        assert!(
            jobs.progress(&ids[0], step(2)).is_none(),
            "the next within 250 ms is not"
        );
        assert!(
            jobs.progress(&ids[1], step(2)).is_some(),
            "throttled per job"
        );
        // A cancel requested before the landing turns a success into a cancel.
        assert!(jobs.cancel(&ids[2]).is_ok());
        assert!(jobs.finish(&ids[2], Outcome::Done).is_none());
        assert!(jobs.finish(&ids[2], Outcome::Cancelled).is_some());
        assert!(jobs.begin("p3").is_some(), "a finished job frees its slot");
    }
}
