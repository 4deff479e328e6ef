//! Observation: what a bridge wrote (its debug log, the captured stdout/stderr, for pty the
//! keeper's sidecar in `pty.rs`) is first *read* into the instance's parser and tails, then
//! the facts are *applied* — the learned ids, readiness, poison — and the ends of a bridge
//! (its exit, a liveness miss, the deadline) become status-machine events.

use std::path::Path;

use clauster_core::markers::parse_stdout_capture;
use clauster_core::status::{Event, Exit, ExitStatus, Status};

use super::{
    EVIDENCE_BYTES, Grace, Live, Msg, REATTACH_POISON_GRACE, Supervisor, alive, evidence_of,
};
use crate::engine::logs::LogSet;

impl Supervisor {
    /// Reads what the bridge wrote since last time, then applies readiness and poison.
    pub(super) fn observe(&mut self, id: &str) {
        if self
            .instances
            .get(id)
            .is_none_or(|live| live.phase.is_relaunching())
        {
            return;
        }
        if self.instances.get(id).is_some_and(Live::is_pty) {
            self.observe_pty(id);
            return;
        }
        let dir = self.logs.dir().to_path_buf();
        let keep_rotated = self.config.logs.keep_rotated;
        let Some(live) = self.instances.get_mut(id) else {
            return;
        };
        if read_output(&dir, keep_rotated, live) {
            self.apply_output(id);
        }
    }

    /// The facts read so far, applied: the ids a bridge announced, readiness (after the
    /// reattach poison grace, §7.5) and poison.
    fn apply_output(&mut self, id: &str) {
        let Some(live) = self.instances.get_mut(id) else {
            return;
        };
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
        if live.status == Status::Starting
            && facts.poison_reason.is_some()
            && live.phase.exited().is_none()
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
            && !live.phase.is_stopping()
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

    pub(super) fn exited(&mut self, id: &str, launch: u64, status: ExitStatus) {
        let Some(live) = self.instances.get_mut(id) else {
            return;
        };
        if live.launch != launch {
            return;
        }
        live.phase.set_exited(status);
        if live.phase.is_stopping() {
            // The stop in progress finishes the record once the tree is gone.
            return;
        }
        self.gone(id, status);
    }

    /// The bridge is gone (its exit noticed, or found dead by the liveness check).
    pub(super) fn gone(&mut self, id: &str, status: ExitStatus) {
        self.observe(id);
        self.settle_gone(id, status);
    }

    /// Applies the end of a bridge whose last output was already read. A pty bridge's own
    /// exit status is the keeper's `bridge_exit` when the final sidecar has it.
    pub(super) fn settle_gone(&mut self, id: &str, status: ExitStatus) {
        let Some(live) = self.instances.get(id) else {
            return;
        };
        if live.phase.is_stopping() {
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

    pub(super) fn deadline(&mut self, id: &str, launch: u64) {
        let Some(live) = self.instances.get(id) else {
            return;
        };
        if live.launch != launch
            || live.status != Status::Starting
            || live.phase.is_stopping()
            || live.phase.is_relaunching()
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
}

/// Appends the bytes after `offset` of `path` and moves the offset; a file that shrank
/// (rotation) is read again from the start.
/// The reads of [`Supervisor::observe`]: what a standard bridge appended to its log set (or
/// an adopted one to its own debug log) since the last read, fed to the parser and the tails.
/// `false` when the instance has nothing to read from.
fn read_output(logs_dir: &Path, keep_rotated: u64, live: &mut Live) -> bool {
    if let Some(stem) = live.row.log_stem.clone() {
        let set = LogSet::at(logs_dir, &stem);
        read_logs(&set, live, keep_rotated);
        if let Some(bytes) = read_from(&set.capture, &mut live.capture_read) {
            push_tail(&mut live.capture_tail, &bytes);
        }
        true
    } else if let Some(path) = live.row.debug_log_path.clone() {
        // An adopted bridge's own debug log (§9.6): its markers and shutdown line count.
        if let Some(bytes) = read_from(Path::new(&path), &mut live.log_read) {
            live.parser.feed(&bytes);
            push_tail(&mut live.log_tail, &bytes);
        }
        true
    } else {
        false
    }
}

pub(super) fn read_from(path: &Path, offset: &mut u64) -> Option<Vec<u8>> {
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

/// Brings the redacted mirror up to date and feeds what claude added to its debug log to the
/// marker parser and the evidence tail.
pub(super) fn read_logs(set: &LogSet, live: &mut Live, keep_rotated: u64) {
    if let Some(raw) = &set.raw_log
        && let Err(err) =
            crate::engine::logs::mirror(raw, &set.debug_log, &mut live.mirror_read, keep_rotated)
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
pub(super) fn push_tail(tail: &mut String, bytes: &[u8]) {
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
