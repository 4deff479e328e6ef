//! Clauster's pure domain model.
//!
//! Everything here is deterministic over the values handed in: no tokio, no process
//! spawning, no filesystem access except through readers the caller supplies. The server
//! and the CLI do the IO and convert these values at their edges. Domain types are not
//! `Serialize`; only `clauster-wire` types cross the wire. Where a value is the same data on
//! both sides (the usage `TokenBreakdown`), the core counts in the wire type itself.
#![forbid(unsafe_code)]

pub mod agents;
pub mod argv;
pub mod capability;
pub mod claude_config;
pub mod claude_json;
pub mod clone;
pub mod config;
pub mod doctor;
pub mod identity;
mod lenient;
pub mod login_flow;
pub mod logset;
pub mod markers;
pub mod modes;
pub mod names;
pub mod notify;
pub mod pointer;
pub mod pty_sidecar;
pub mod readiness;
pub mod reaper;
pub mod recap;
pub mod restart;
pub mod sanitize;
pub mod slug;
pub mod status;
pub mod timestamp;
mod token_enum;
pub mod transcript;
pub mod usage;
