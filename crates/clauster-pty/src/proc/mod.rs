//! Low-level process plumbing: detached spawns in a new session, start-identity reads from
//! `/proc`, identity-checked signals, tree kill and the session sweep (bridges.md §4.1, §8.2,
//! §16).
//!
//! Parsing and the liveness rules live in `clauster_core::identity`; this module only reads
//! the files and makes the syscalls. Every signal aimed at a recorded pid is preceded by a
//! fresh start-identity check, so a recycled pid is never signalled.
//!
//! The reads are Linux's `/proc`; on other Unix systems they find no process.

mod identity;
mod signal;
mod spawn;
mod terminate;
#[cfg(test)]
mod test_support;

pub use identity::{pids, read_identity, start_identity_of};
pub use nix::sys::signal::Signal;
pub use signal::{
    SignalOutcome, descendants, has_ended, is_ours, kill_session, session_members,
    signal_group_if_ours, signal_if_ours,
};
pub use spawn::{SpawnSpec, Spawned, spawn_detached};
pub use terminate::{
    EndedBy, Interrupts, SweepOutcome, TerminateOutcome, TerminatePolicy, sweep_session, terminate,
};
