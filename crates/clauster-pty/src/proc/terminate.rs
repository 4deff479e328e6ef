//! Terminate a bridge (bridges.md §8.2 T1–T2): SIGINT (once or twice), grace, SIGTERM to the
//! process group, SIGKILL to the tree, then the session sweep. Blocking: run it from
//! `spawn_blocking`.

use std::thread::sleep;
use std::time::{Duration, Instant};

use clauster_core::identity::{Gate, StartIdentity, same_start};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::identity::read_identity;
use super::signal::{
    SignalOutcome, descendants, has_ended, is_ours, kill_session, session_members,
    signal_group_if_ours, signal_if_ours,
};

/// How many interrupts open the termination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupts {
    /// Standard bridges.
    Once,
    /// pty bridges: the interactive TUI treats the first interrupt as "press again to exit".
    Twice { gap: Duration },
}

/// The timings of [`terminate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminatePolicy {
    pub interrupts: Interrupts,
    /// After the interrupts (`claude.stop_grace_seconds`).
    pub grace: Duration,
    /// After SIGTERM, and again after SIGKILL.
    pub term_grace: Duration,
    /// Between the sweep's SIGTERM and its SIGKILL.
    pub sweep_grace: Duration,
    /// How often liveness is re-read while waiting.
    pub poll: Duration,
}

impl TerminatePolicy {
    /// A standard bridge: one SIGINT, then `grace`, 1 s steps, 10 ms polls (a stop is over
    /// as soon as the bridge is; reading one `/proc` file per poll costs nothing).
    pub fn standard(grace: Duration) -> Self {
        Self {
            interrupts: Interrupts::Once,
            grace,
            term_grace: Duration::from_secs(1),
            sweep_grace: Duration::from_secs(1),
            poll: Duration::from_millis(10),
        }
    }

    /// A pty bridge: two SIGINTs 0.4 s apart, otherwise as [`TerminatePolicy::standard`].
    pub fn pty(grace: Duration) -> Self {
        Self {
            interrupts: Interrupts::Twice {
                gap: Duration::from_millis(400),
            },
            ..Self::standard(grace)
        }
    }
}

/// Which step saw the bridge gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// Already dead, or the pid names another process: no signal was sent to it.
    NotRunning,
    Sigint,
    Sigterm,
    Sigkill,
    /// Still there after SIGKILL (uninterruptible sleep, or `kill` was refused).
    Survived,
}

/// What the session sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepOutcome {
    /// Members sent SIGTERM.
    pub terminated: usize,
    /// Members still there after the grace and sent SIGKILL.
    pub killed: usize,
    /// The sweep did not run: the session id is now a live process that is not ours.
    pub skipped: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminateOutcome {
    pub ended_by: EndedBy,
    pub sweep: SweepOutcome,
}

/// Ends the process named by `identity` and everything left in its session, following
/// bridges.md §8.2 T1–T2. Every signal to the bridge re-checks its identity first; a pid
/// that is dead or recycled is never signalled (the sweep still runs, guarded).
///
/// Liveness is read from `/proc`, so an exited but unreaped child (a zombie) counts as gone;
/// the caller's `Child::wait` reaps it.
pub fn terminate(
    identity: &StartIdentity,
    gate: Gate,
    policy: &TerminatePolicy,
) -> TerminateOutcome {
    let ended_by = signal_steps(identity, gate, policy);
    let sweep = sweep_session(identity, policy.sweep_grace, policy.poll);
    TerminateOutcome { ended_by, sweep }
}

fn signal_steps(identity: &StartIdentity, gate: Gate, policy: &TerminatePolicy) -> EndedBy {
    if signal_if_ours(identity, gate, Signal::SIGINT) != SignalOutcome::Sent {
        return EndedBy::NotRunning;
    }
    if let Interrupts::Twice { gap } = policy.interrupts {
        if wait_gone(identity, gap, policy.poll) {
            return EndedBy::Sigint;
        }
        signal_if_ours(identity, gate, Signal::SIGINT);
    }
    if wait_gone(identity, policy.grace, policy.poll) {
        return EndedBy::Sigint;
    }

    signal_group_if_ours(identity, gate, Signal::SIGTERM);
    if wait_gone(identity, policy.term_grace, policy.poll) {
        return EndedBy::Sigterm;
    }

    // Deepest first, so no child is re-parented out of reach by its parent's death; the
    // descendants are read only while the bridge is still ours.
    if is_ours(identity, gate) {
        for pid in descendants(identity.pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    signal_if_ours(identity, gate, Signal::SIGKILL);
    if wait_gone(identity, policy.term_grace, policy.poll) {
        EndedBy::Sigkill
    } else {
        EndedBy::Survived
    }
}

/// Polls until `identity` has ended (a zombie or gone, see [`has_ended`]) or `timeout`
/// passes; returns whether it ended. The gate is not asked: it was passed when the signal
/// was sent, and an exiting process fails it before it has ended.
fn wait_gone(identity: &StartIdentity, timeout: Duration, poll: Duration) -> bool {
    poll_until(timeout, poll, || has_ended(identity))
}

fn poll_until(timeout: Duration, poll: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        sleep(poll.min(deadline - now));
    }
}

/// The session sweep (bridges.md §8.2 T2) of the session `identity.pid` led: SIGTERM to every
/// member, SIGKILL after `grace` to those still there.
///
/// Skipped when `identity.pid` is now a process whose start does not match the record (a new
/// session of that id could belong to a stranger). A missing leader is fine: Linux does not
/// reuse a pid while a session of that id has members.
pub fn sweep_session(identity: &StartIdentity, grace: Duration, poll: Duration) -> SweepOutcome {
    let sid = identity.pid;
    match read_identity(sid) {
        Ok(None) => {}
        Ok(Some(observed)) if same_start(identity, &observed) => {}
        // A live stranger, or a process that cannot be read: do not touch its session.
        Ok(Some(_)) | Err(_) => {
            return SweepOutcome {
                skipped: true,
                ..SweepOutcome::default()
            };
        }
    }
    let terminated = kill_session(sid, Signal::SIGTERM);
    if terminated == 0 {
        return SweepOutcome::default();
    }
    let killed = if poll_until(grace, poll, || session_members(sid).is_empty()) {
        0
    } else {
        kill_session(sid, Signal::SIGKILL)
    };
    if killed > 0 {
        poll_until(grace, poll, || session_members(sid).is_empty());
    }
    SweepOutcome {
        terminated,
        killed,
        skipped: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::test_support::{Guard, spawn_bridge_sh, wait_until};
    use std::os::unix::process::ExitStatusExt;

    const T: Duration = Duration::from_secs(10);

    fn fast(interrupts: Interrupts) -> TerminatePolicy {
        TerminatePolicy {
            interrupts,
            grace: Duration::from_millis(1500),
            term_grace: Duration::from_millis(1500),
            sweep_grace: Duration::from_millis(500),
            poll: Duration::from_millis(20),
        }
    }

    /// Counts interrupts and exits 0 on the second; the loop lets the trap run promptly.
    const NEEDS_TWO_INTERRUPTS: &str =
        "n=0; trap 'n=$((n+1)); [ $n -ge 2 ] && exit 0' INT; while :; do sleep 0.05; done";

    #[test]
    fn sigint_ends_it_and_the_sweep_takes_the_leftovers() {
        // A non-interactive shell's background job ignores SIGINT, like an MCP server that
        // outlives a graceful exit.
        let mut g = Guard::new(spawn_bridge_sh("sleep 30 & wait"));
        assert!(wait_until(T, || session_members(g.pid).len() == 2));
        let out = terminate(&g.identity, Gate::Bridge, &fast(Interrupts::Once));
        assert_eq!(out.ended_by, EndedBy::Sigint);
        assert_eq!(
            out.sweep,
            SweepOutcome {
                terminated: 1,
                killed: 0,
                skipped: false
            }
        );
        assert_eq!(g.wait(T).unwrap().signal(), Some(Signal::SIGINT as i32));
        assert!(session_members(g.pid).is_empty());
    }

    /// A signal sent before the shell has run `trap` would meet the default action; once the
    /// loop's first `sleep` runs, the trap is in place.
    fn wait_for_trap(g: &Guard) {
        assert!(wait_until(T, || session_members(g.pid).len() == 2));
    }

    #[test]
    fn pty_policy_sends_two_interrupts() {
        let mut g = Guard::new(spawn_bridge_sh(NEEDS_TWO_INTERRUPTS));
        wait_for_trap(&g);
        let policy = TerminatePolicy {
            interrupts: Interrupts::Twice {
                gap: Duration::from_millis(300),
            },
            ..fast(Interrupts::Once)
        };
        let out = terminate(&g.identity, Gate::Bridge, &policy);
        assert_eq!(out.ended_by, EndedBy::Sigint);
        assert!(!out.sweep.skipped);
        assert_eq!(
            g.wait(T).unwrap().code(),
            Some(0),
            "exited on the second SIGINT"
        );
    }

    #[test]
    fn one_interrupt_is_not_enough_for_it_so_sigterm_follows() {
        let mut g = Guard::new(spawn_bridge_sh(NEEDS_TWO_INTERRUPTS));
        wait_for_trap(&g);
        let mut policy = fast(Interrupts::Once);
        policy.grace = Duration::from_millis(400);
        let out = terminate(&g.identity, Gate::Bridge, &policy);
        assert_eq!(out.ended_by, EndedBy::Sigterm);
        assert_eq!(g.wait(T).unwrap().signal(), Some(Signal::SIGTERM as i32));
        assert!(session_members(g.pid).is_empty());
    }

    /// A child already signalled may still be dying when the sweep scans, so it can be
    /// counted there too; but nothing needed the sweep's SIGKILL.
    fn assert_sweep_killed_nothing(out: &TerminateOutcome) {
        assert!(
            !out.sweep.skipped && out.sweep.killed == 0,
            "{:?}",
            out.sweep
        );
    }

    #[test]
    fn sigterm_goes_to_the_whole_group() {
        let mut g = Guard::new(spawn_bridge_sh("trap '' INT; sleep 30 & wait"));
        assert!(wait_until(T, || session_members(g.pid).len() == 2));
        let mut policy = fast(Interrupts::Once);
        policy.grace = Duration::from_millis(300);
        let out = terminate(&g.identity, Gate::Bridge, &policy);
        assert_eq!(out.ended_by, EndedBy::Sigterm);
        assert_sweep_killed_nothing(&out);
        assert_eq!(g.wait(T).unwrap().signal(), Some(Signal::SIGTERM as i32));
    }

    #[test]
    fn sigkill_takes_the_tree() {
        let mut g = Guard::new(spawn_bridge_sh(
            "trap '' INT TERM; sleep 30 & sleep 30 & wait",
        ));
        assert!(wait_until(T, || descendants(g.pid).len() == 2));
        let mut policy = fast(Interrupts::Once);
        policy.grace = Duration::from_millis(200);
        policy.term_grace = Duration::from_millis(300);
        let out = terminate(&g.identity, Gate::Bridge, &policy);
        assert_eq!(out.ended_by, EndedBy::Sigkill);
        assert_sweep_killed_nothing(&out);
        // Its children die first, so the shell may finish its `wait` and exit before its own
        // SIGKILL lands; either way it is gone.
        let status = g.wait(T).unwrap();
        assert!(
            status.signal() == Some(Signal::SIGKILL as i32) || status.code() == Some(0),
            "{status:?}"
        );
        assert!(session_members(g.pid).is_empty());
    }

    #[test]
    fn a_recycled_pid_is_left_alone() {
        let g = Guard::new(spawn_bridge_sh("sleep 30 & wait"));
        let mut recycled = g.identity.clone();
        recycled.start_ticks = recycled.start_ticks.map(|t| t.wrapping_sub(1));
        let out = terminate(&recycled, Gate::Bridge, &fast(Interrupts::Once));
        assert_eq!(out.ended_by, EndedBy::NotRunning);
        assert!(out.sweep.skipped, "a stranger's session is not swept");
        assert!(is_ours(&g.identity, Gate::Bridge), "not signalled");
        assert!(wait_until(T, || session_members(g.pid).len() == 2));

        // Without ticks or proc_start nothing proves the process is ours.
        let unproven = StartIdentity {
            pid: g.pid,
            start_ticks: None,
            boot_id: None,
            proc_start: None,
        };
        let out = terminate(&unproven, Gate::Bridge, &fast(Interrupts::Once));
        assert_eq!(out.ended_by, EndedBy::NotRunning);
        assert!(out.sweep.skipped);
        assert!(is_ours(&g.identity, Gate::Bridge));
    }

    #[test]
    fn a_gone_bridge_still_gets_its_session_swept() {
        let mut g = Guard::new(spawn_bridge_sh("sleep 30 & exit 0"));
        assert_eq!(g.wait(T).unwrap().code(), Some(0));
        // The reaped leader is gone; its background job is still in the session.
        assert!(wait_until(T, || session_members(g.pid).len() == 1));
        let out = terminate(&g.identity, Gate::Bridge, &fast(Interrupts::Once));
        assert_eq!(out.ended_by, EndedBy::NotRunning);
        assert_eq!(out.sweep.terminated, 1);
        assert!(!out.sweep.skipped);
        assert!(session_members(g.pid).is_empty());
    }

    #[test]
    fn sweep_escalates_to_sigkill() {
        let mut g = Guard::new(spawn_bridge_sh("trap '' TERM; sleep 30 & exit 0"));
        assert_eq!(g.wait(T).unwrap().code(), Some(0));
        // `sleep` inherits the ignored SIGTERM.
        assert!(wait_until(T, || session_members(g.pid).len() == 1));
        let out = sweep_session(
            &g.identity,
            Duration::from_millis(200),
            Duration::from_millis(20),
        );
        assert_eq!(
            out,
            SweepOutcome {
                terminated: 1,
                killed: 1,
                skipped: false
            }
        );
        assert!(session_members(g.pid).is_empty());
    }

    #[test]
    fn policies() {
        let s = TerminatePolicy::standard(Duration::from_secs(5));
        assert_eq!(s.interrupts, Interrupts::Once);
        assert_eq!(s.grace, Duration::from_secs(5));
        assert_eq!(s.term_grace, Duration::from_secs(1));
        assert_eq!(s.poll, Duration::from_millis(10));
        let p = TerminatePolicy::pty(Duration::from_secs(5));
        assert_eq!(
            p.interrupts,
            Interrupts::Twice {
                gap: Duration::from_millis(400)
            }
        );
        assert_eq!(p.grace, s.grace);
    }
}
