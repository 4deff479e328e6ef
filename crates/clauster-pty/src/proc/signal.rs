//! Identity-checked signals, descendants (tree kill) and session members (the sweep of
//! bridges.md §8.2).

use std::collections::{HashMap, HashSet};

use clauster_core::identity::{
    Gate, ProcStat, StartIdentity, is_live, parse_proc_stat, same_start,
};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use super::identity::read_identity;

/// What happened to a signal aimed at a recorded process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalOutcome {
    /// The identity matched just before the signal was sent.
    Sent,
    /// The pid is gone, a zombie, or now names another process (or fails the gate): nothing
    /// was sent.
    NotOurs,
    /// The identity matched but `kill` failed (for example `EPERM`).
    Failed(Errno),
}

/// Whether `identity` still names a live process that passes `gate` (bridges.md §16). An
/// unreadable process counts as not ours.
pub fn is_ours(identity: &StartIdentity, gate: Gate) -> bool {
    let observed = read_identity(identity.pid).ok().flatten();
    is_live(identity, observed.as_ref(), gate)
}

/// Whether the process `identity` recorded has ended: its pid is gone, a zombie, or names a
/// process that started at another time. Stricter than `!is_ours`: the kernel empties an
/// exiting process's command line (which the gates read) before it turns zombie, and on a
/// busy machine that exit can take a while. An unreadable process has not provably ended.
pub fn has_ended(identity: &StartIdentity) -> bool {
    match read_identity(identity.pid) {
        Ok(Some(observed)) => observed.stat.is_defunct() || !same_start(identity, &observed),
        Ok(None) => true,
        Err(_) => false,
    }
}

/// Sends `signal` to the process only if its start identity is re-checked as ours right
/// before; a recycled pid is never signalled.
pub fn signal_if_ours(identity: &StartIdentity, gate: Gate, signal: Signal) -> SignalOutcome {
    if !is_ours(identity, gate) {
        return SignalOutcome::NotOurs;
    }
    outcome(kill(Pid::from_raw(identity.pid), signal))
}

/// Like [`signal_if_ours`], but to the process group the process leads (bridges.md §8.2's
/// SIGTERM step). A process that does not lead its own group gets the signal alone, so a
/// group that is not ours is never reached.
pub fn signal_group_if_ours(identity: &StartIdentity, gate: Gate, signal: Signal) -> SignalOutcome {
    let observed = read_identity(identity.pid).ok().flatten();
    let Some(obs) = observed.filter(|o| is_live(identity, Some(o), gate)) else {
        return SignalOutcome::NotOurs;
    };
    let pid = Pid::from_raw(identity.pid);
    if obs.stat.pgrp == identity.pid {
        outcome(killpg(pid, signal))
    } else {
        outcome(kill(pid, signal))
    }
}

fn outcome(result: nix::Result<()>) -> SignalOutcome {
    match result {
        Ok(()) => SignalOutcome::Sent,
        // It exited between the check and the signal.
        Err(Errno::ESRCH) => SignalOutcome::NotOurs,
        Err(e) => SignalOutcome::Failed(e),
    }
}

/// Every live (not zombie) process in the table, from one scan of `/proc`. Processes that
/// vanish or cannot be read mid-scan are left out.
fn process_table() -> Vec<ProcStat> {
    super::pids()
        .into_iter()
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/stat")).ok())
        .filter_map(|bytes| parse_proc_stat(&String::from_utf8_lossy(&bytes)).ok())
        .filter(|stat| !stat.is_defunct())
        .collect()
}

/// The live processes whose session id is `sid` (field 6 of their stat), `sid` itself
/// included when it is live. Zombies are left out: they are already dead and a signal cannot
/// reach them.
pub fn session_members(sid: i32) -> Vec<i32> {
    if sid <= 0 {
        return Vec::new();
    }
    let mut members: Vec<i32> = process_table()
        .into_iter()
        .filter(|s| s.session == sid)
        .map(|s| s.pid)
        .collect();
    members.sort_unstable();
    members
}

/// Sends `signal` to every member of session `sid` and returns how many were signalled.
///
/// The caller must know the session is ours (bridges.md §8.2 T2: Linux does not reuse a pid
/// while a session of that id has members). As a guard against misuse, sessions 0 and 1 and
/// this process's own session are refused (0 is returned), and this process is never
/// signalled.
pub fn kill_session(sid: i32, signal: Signal) -> usize {
    let own_pid = i32::try_from(std::process::id()).unwrap_or(0);
    let own_sid = nix::unistd::getsid(None).map_or(0, Pid::as_raw);
    if sid <= 1 || sid == own_sid {
        return 0;
    }
    session_members(sid)
        .into_iter()
        .filter(|&pid| pid != own_pid)
        .filter(|&pid| kill(Pid::from_raw(pid), signal).is_ok())
        .count()
}

/// The live descendants of `pid` from one scan of the process table, deepest first (the
/// order of a tree kill, bridges.md §16); `pid` itself is not included.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for stat in process_table() {
        children.entry(stat.ppid).or_default().push(stat.pid);
    }
    // Each process is recorded with its depth below `pid`; sorting deepest first puts every
    // process before its parent. `seen` keeps a pid reused mid-scan from looping.
    let mut seen = HashSet::from([pid]);
    let mut found: Vec<(usize, i32)> = Vec::new();
    let mut stack = vec![(pid, 0_usize)];
    while let Some((parent, depth)) = stack.pop() {
        for &child in children.get(&parent).map_or(&[][..], Vec::as_slice) {
            if seen.insert(child) {
                found.push((depth + 1, child));
                stack.push((child, depth + 1));
            }
        }
    }
    found.sort_by_key(|&(depth, _)| std::cmp::Reverse(depth));
    found.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::test_support::{Guard, spawn_bridge_sh, wait_until};
    use std::os::unix::process::ExitStatusExt;
    use std::time::Duration;

    const T: Duration = Duration::from_secs(10);

    #[test]
    fn signals_only_a_matching_identity() {
        let mut g = Guard::new(spawn_bridge_sh("sleep 30 & wait"));
        let id = g.identity.clone();

        let mut recycled = id.clone();
        recycled.start_ticks = recycled.start_ticks.map(|t| t + 1);
        assert_eq!(
            signal_if_ours(&recycled, Gate::Bridge, Signal::SIGTERM),
            SignalOutcome::NotOurs
        );
        assert_eq!(
            signal_group_if_ours(&recycled, Gate::Bridge, Signal::SIGTERM),
            SignalOutcome::NotOurs
        );
        assert_eq!(
            signal_if_ours(&id, Gate::Keeper, Signal::SIGTERM),
            SignalOutcome::NotOurs,
            "gate fails"
        );
        assert!(is_ours(&id, Gate::Bridge), "still running after refusals");
        assert!(!is_ours(&recycled, Gate::Bridge));
        assert!(!has_ended(&id));
        assert!(has_ended(&recycled), "another process under the pid");

        assert_eq!(
            signal_if_ours(&id, Gate::Bridge, Signal::SIGTERM),
            SignalOutcome::Sent
        );
        assert!(wait_until(T, || has_ended(&id)), "a zombie has ended");
        assert_eq!(g.wait(T).unwrap().signal(), Some(Signal::SIGTERM as i32));
        assert_eq!(
            signal_if_ours(&id, Gate::Bridge, Signal::SIGTERM),
            SignalOutcome::NotOurs,
            "gone"
        );
        assert!(has_ended(&id), "reaped");
    }

    #[test]
    fn group_signal_reaches_the_whole_group() {
        // Background jobs of a non-interactive shell stay in its process group.
        let g = Guard::new(spawn_bridge_sh("sleep 30 & sleep 30 & wait"));
        assert!(wait_until(T, || session_members(g.pid).len() == 3));
        assert_eq!(
            signal_group_if_ours(&g.identity, Gate::Bridge, Signal::SIGKILL),
            SignalOutcome::Sent
        );
        assert!(wait_until(T, || session_members(g.pid).is_empty()));
    }

    #[test]
    fn session_members_and_kill_session() {
        let mut g = Guard::new(spawn_bridge_sh("sleep 30 & sleep 30 & wait"));
        assert!(wait_until(T, || session_members(g.pid).len() == 3));
        let members = session_members(g.pid);
        assert!(members.contains(&g.pid));
        assert!(descendants(g.pid).iter().all(|d| members.contains(d)));
        assert_eq!(kill_session(g.pid, Signal::SIGKILL), 3);
        assert_eq!(g.wait(T).unwrap().signal(), Some(Signal::SIGKILL as i32));
        assert!(wait_until(T, || session_members(g.pid).is_empty()));
        assert_eq!(kill_session(g.pid, Signal::SIGKILL), 0);
    }

    #[test]
    fn kill_session_refuses_dangerous_sessions() {
        assert!(session_members(0).is_empty());
        assert_eq!(kill_session(0, Signal::SIGCONT), 0);
        assert_eq!(kill_session(1, Signal::SIGCONT), 0);
        let own = nix::unistd::getsid(None).unwrap().as_raw();
        // In a container whose session leader lives outside this pid namespace, the session
        // id reads as 0 and no visible process carries it.
        if own > 0 {
            assert!(!session_members(own).is_empty());
        }
        assert_eq!(kill_session(own, Signal::SIGCONT), 0);
    }

    #[test]
    fn descendants_come_deepest_first() {
        let g = Guard::new(spawn_bridge_sh("sh -c 'sleep 30 & wait' & wait"));
        // Until the innermost child has run `exec`, it is still a `sh`.
        let exec_done = |tree: &[i32]| {
            tree.len() == 2
                && read_identity(tree[0])
                    .ok()
                    .flatten()
                    .is_some_and(|o| o.cmdline.args().first().is_some_and(|a| a == "sleep"))
        };
        assert!(wait_until(T, || exec_done(&descendants(g.pid))));
        let tree = descendants(g.pid);
        let inner_sh = read_identity(tree[1]).unwrap().unwrap();
        let sleep = read_identity(tree[0]).unwrap().unwrap();
        assert_eq!(inner_sh.stat.ppid, g.pid);
        assert_eq!(
            sleep.stat.ppid, inner_sh.stat.pid,
            "child before its parent"
        );
        assert!(descendants(0x7fff_fff0).is_empty());
    }
}
