//! Which notification events a stream of instance changes means (notifications.md §3).
//!
//! The server hands every `instance` frame and every login answer in, in order; the tracker
//! remembers each instance's last launch and status and says what changed. A bridge first
//! seen already past `starting` (rediscovered on restart, adopted) emits nothing, as in 1.3.2.

use std::collections::{BTreeMap, VecDeque};

use super::{Notice, NotifyEvent};

/// Crashes of one project within [`CRASH_LOOP_WINDOW_MS`] that make a `crash-loop`.
pub const CRASH_LOOP_COUNT: usize = 3;
/// Ten minutes.
pub const CRASH_LOOP_WINDOW_MS: u64 = 10 * 60 * 1000;

/// What the tracker reads of an instance (the API's instance object, already redacted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub instance_id: String,
    pub project: String,
    pub label: String,
    pub status: String,
    pub launch_count: i64,
    pub intentional_stop: bool,
    pub error_kind: Option<String>,
    pub error_detail: Option<String>,
    pub resume_mode: String,
    pub spawn_mode: String,
    /// The engine's restart policy will restart it (bridges.md §7.9): its own crash-loop
    /// verdict counts, not the tracker's.
    pub restart_pending: bool,
}

#[derive(Clone, Debug)]
struct Seen {
    launch_count: i64,
    status: String,
}

/// The memory of what was seen; one per server.
#[derive(Debug, Default)]
pub struct Tracker {
    instances: BTreeMap<String, Seen>,
    /// Crash times (ms) per project, the newest last.
    crashes: BTreeMap<String, VecDeque<u64>>,
    /// The last login answer (`None` before the first).
    logged_in: Option<bool>,
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// The events `observed` means after what was seen before. `now_ms` is the clock (for the
    /// crash-loop window), `at` its RFC 3339 spelling.
    pub fn instance(&mut self, observed: &Observed, now_ms: u64, at: &str) -> Vec<Notice> {
        let previous = self.instances.insert(
            observed.instance_id.clone(),
            Seen {
                launch_count: observed.launch_count,
                status: observed.status.clone(),
            },
        );
        let new_launch = previous
            .as_ref()
            .is_none_or(|seen| observed.launch_count > seen.launch_count);
        let before = match &previous {
            Some(seen) if !new_launch => Some(seen.status.as_str()),
            _ => None,
        };
        let status = observed.status.as_str();
        if before == Some(status) {
            return Vec::new();
        }
        let notice = |event| Notice {
            project: Some(observed.project.clone()),
            instance_id: Some(observed.instance_id.clone()),
            label: Some(observed.label.clone()),
            status: Some(observed.status.clone()),
            resume_mode: Some(observed.resume_mode.clone()),
            spawn_mode: Some(observed.spawn_mode.clone()),
            error_kind: observed.error_kind.clone(),
            detail: observed.error_detail.clone(),
            relaunch: observed.launch_count > 1,
            ..Notice::bare(event, at.to_owned(), None)
        };
        let mut out = Vec::new();
        match (before, status) {
            // A launch of ours begins; anything first seen later was not launched by us here.
            (None, "starting") if new_launch => out.push(notice(NotifyEvent::Spawn)),
            (Some("starting"), "running") => out.push(notice(NotifyEvent::Ready)),
            (Some(_), "stopped") => out.push(Notice {
                session_ended: !observed.intentional_stop,
                ..notice(NotifyEvent::Stop)
            }),
            (Some(_), "crashed" | "error") => {
                out.push(notice(NotifyEvent::Crash));
                if observed.error_kind.as_deref() == Some("crash_loop") {
                    // The engine's own verdict (bridges.md §7.9): it carries the count and
                    // claude's last words, and stands for this project's loop.
                    self.crashes.remove(&observed.project);
                    out.push(notice(NotifyEvent::CrashLoop));
                    return out;
                }
                if observed.error_kind.as_deref() == Some("startup_timeout") {
                    out.push(notice(NotifyEvent::Stall));
                }
                if !observed.restart_pending && self.crashed(&observed.project, now_ms) {
                    out.push(Notice {
                        detail: Some(format!(
                            "{CRASH_LOOP_COUNT} crashes within {} minutes",
                            CRASH_LOOP_WINDOW_MS / 60_000
                        )),
                        ..notice(NotifyEvent::CrashLoop)
                    });
                }
            }
            _ => {}
        }
        out
    }

    /// Records a crash; true when it completes a loop (the window then starts again).
    fn crashed(&mut self, project: &str, now_ms: u64) -> bool {
        let times = self.crashes.entry(project.to_owned()).or_default();
        times.push_back(now_ms);
        while times
            .front()
            .is_some_and(|&t| now_ms.saturating_sub(t) > CRASH_LOOP_WINDOW_MS)
        {
            times.pop_front();
        }
        if times.len() >= CRASH_LOOP_COUNT {
            times.clear();
            return true;
        }
        false
    }

    /// An instance left the list (forgotten): its memory goes too.
    pub fn removed(&mut self, instance_id: &str) {
        self.instances.remove(instance_id);
    }

    /// A login answer: `login-lost` when it turns false (also the first answer), and
    /// `login-restored` when a false one turns true.
    pub fn login(&mut self, logged_in: Option<bool>, at: &str) -> Option<Notice> {
        let logged_in = logged_in?;
        let before = self.logged_in.replace(logged_in);
        match (before, logged_in) {
            (Some(false), true) => Some(Notice::bare(
                NotifyEvent::LoginRestored,
                at.to_owned(),
                None,
            )),
            (None | Some(true), false) => Some(Notice::bare(
                NotifyEvent::LoginLost,
                at.to_owned(),
                Some("claude auth status says this host is not logged in".to_owned()),
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    fn step(status: &str, launch: i64) -> Observed {
        Observed {
            instance_id: "i-1".into(),
            project: "alpha".into(),
            label: "alpha".into(),
            status: status.into(),
            launch_count: launch,
            resume_mode: "standard".into(),
            spawn_mode: "same-dir".into(),
            ..Observed::default()
        }
    }

    /// Each line: the change fed in, then the events it produced.
    #[test]
    fn transitions() {
        let mut tracker = Tracker::new();
        let mut out = String::new();
        let crash = |mut o: Observed, kind: &str| {
            o.error_kind = Some(kind.into());
            o
        };
        let stopped = |mut o: Observed, intentional| {
            o.intentional_stop = intentional;
            o
        };
        let steps = [
            (step("starting", 1), 0),
            (step("starting", 1), 1),
            (step("running", 1), 2),
            (stopped(step("stopped", 1), true), 3),
            (step("starting", 2), 4),
            (crash(step("error", 2), "exited_early"), 5),
            (step("starting", 3), 6),
            (crash(step("error", 3), "startup_timeout"), 7),
            (step("starting", 4), 8),
            (step("running", 4), 9),
            (step("crashed", 4), 10),
            (step("starting", 5), 11),
            (step("running", 5), 12),
            (stopped(step("stopped", 5), false), 13),
        ];
        for (observed, minute) in steps {
            let events: Vec<String> = tracker
                .instance(&observed, minute * 60_000, "t")
                .iter()
                .map(|n| {
                    format!(
                        "{}{}{}",
                        n.event,
                        if n.session_ended {
                            " (session ended)"
                        } else {
                            ""
                        },
                        if n.relaunch { " (relaunch)" } else { "" }
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "{} #{} → [{}]",
                observed.status,
                observed.launch_count,
                events.join(", ")
            );
        }
        // First seen running (rediscovered, adopted): nothing, then a crash is a crash.
        let mut fresh = Tracker::new();
        let mut other = step("running", 7);
        other.instance_id = "i-2".into();
        let _ = writeln!(
            out,
            "first seen running → {:?}",
            fresh.instance(&other, 0, "t")
        );
        other.status = "crashed".into();
        let crashed: Vec<_> = fresh
            .instance(&other, 0, "t")
            .iter()
            .map(|n| n.event)
            .collect();
        let _ = writeln!(out, "then crashed → {crashed:?}");
        insta::assert_snapshot!(out);
    }

    /// The engine's `crash_loop` end (bridges.md §7.9) is the `crash-loop` event, with the
    /// engine's detail, once — not the tracker's own count as well.
    #[test]
    fn the_engines_crash_loop_is_one_crash_loop_event() {
        let mut tracker = Tracker::new();
        let mut events = Vec::new();
        for launch in 1..=4 {
            tracker.instance(&step("starting", launch), 0, "t");
            let mut failed = step("error", launch);
            failed.error_kind = Some(
                if launch == 4 {
                    "crash_loop"
                } else {
                    "exited_early"
                }
                .into(),
            );
            failed.error_detail = Some(format!("failure {launch}"));
            // Restarts were pending after the first three: the tracker's own count of three
            // crashes is not a loop then.
            failed.restart_pending = launch < 4;
            events.extend(tracker.instance(&failed, 0, "t"));
        }
        let loops: Vec<_> = events
            .iter()
            .filter(|n| n.event == NotifyEvent::CrashLoop)
            .collect();
        assert_eq!(loops.len(), 1, "{events:?}");
        assert_eq!(loops[0].detail.as_deref(), Some("failure 4"));
        assert_eq!(loops[0].error_kind.as_deref(), Some("crash_loop"));
    }

    #[test]
    fn login_changes() {
        let mut tracker = Tracker::new();
        assert_eq!(tracker.login(None, "t"), None);
        assert_eq!(tracker.login(Some(true), "t"), None);
        let lost = tracker.login(Some(false), "t").expect("lost");
        assert_eq!(lost.event, NotifyEvent::LoginLost);
        assert_eq!(tracker.login(Some(false), "t"), None);
        let back = tracker.login(Some(true), "t").expect("restored");
        assert_eq!(back.event, NotifyEvent::LoginRestored);
        let mut cold = Tracker::new();
        assert_eq!(
            cold.login(Some(false), "t").map(|n| n.event),
            Some(NotifyEvent::LoginLost)
        );
    }
}
