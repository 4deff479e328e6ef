//! The capability probe cache (bridges.md §3.1): what the installed `claude` supports, probed
//! in the background once the server serves and again whenever the resolved binary's path,
//! inode or mtime changes. A launch waits for the probe of the binary it is about to run (at
//! most [`LAUNCH_WAIT`]), so a resume right after start-up never loses `--continue` to the
//! conservative fallback.

use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clauster_core::capability::Capabilities;
use tokio::sync::watch;

use super::ClaudeHealth;
use crate::bridge_env::{self, BridgeEnv};
use crate::probe;

/// The longest a launch waits for a probe in progress (issue 14, bridges.md §3.1).
pub(super) const LAUNCH_WAIT: Duration = Duration::from_secs(10);

/// The warning of a launch that could not wait for the probe any longer.
pub(super) const PROBE_LATE_WARNING: &str = "the claude capability probe did not finish within 10 s; launched with the conservative defaults (no --continue)";

/// Which binary a probe result belongs to: its resolved path, inode and mtime.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    path: PathBuf,
    dev: u64,
    ino: u64,
    mtime_ns: i128,
}

#[derive(Debug, Default)]
struct State {
    /// The last finished probe and the binary it probed.
    probed: Option<(Stamp, Capabilities)>,
    /// The binary a probe is running for.
    probing: Option<Stamp>,
}

#[derive(Debug)]
struct Inner {
    binary: String,
    env: BridgeEnv,
    /// The probe's cwd: the state directory (§3.1).
    cwd: PathBuf,
    health: watch::Sender<ClaudeHealth>,
    state: Mutex<State>,
    /// Bumped whenever a probe finishes.
    finished: watch::Sender<u64>,
}

/// A handle to the cache; clones share it.
#[derive(Clone, Debug)]
pub(super) struct Probes {
    inner: Arc<Inner>,
}

impl Probes {
    pub(super) fn new(
        binary: &str,
        env: BridgeEnv,
        cwd: PathBuf,
        health: watch::Sender<ClaudeHealth>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                binary: binary.to_owned(),
                env,
                cwd,
                health,
                state: Mutex::new(State::default()),
                finished: watch::channel(0).0,
            }),
        }
    }

    /// Starts a probe when the binary changed since the last one (or none ran yet); never
    /// waits for it.
    pub(super) fn refresh(&self) {
        let _ = self.begin();
    }

    /// The capabilities for a launch: those of the binary as it is now, waiting at most
    /// [`LAUNCH_WAIT`] for its probe; after that the conservative fallback and the warning
    /// that says so. A binary that cannot be resolved gets the fallback at once (the launch
    /// then fails visibly with `launch_failed`).
    pub(super) async fn for_launch(&self) -> (Capabilities, Option<String>) {
        let mut finished = self.inner.finished.subscribe();
        let Some(stamp) = self.begin() else {
            return (Capabilities::fallback(), None);
        };
        let wait = async {
            loop {
                if let Some(caps) = self.probed_for(&stamp) {
                    return caps;
                }
                if finished.changed().await.is_err() {
                    return Capabilities::fallback();
                }
            }
        };
        if let Ok(caps) = tokio::time::timeout(LAUNCH_WAIT, wait).await {
            (caps, None)
        } else {
            tracing::warn!("{PROBE_LATE_WARNING}");
            (
                Capabilities::fallback(),
                Some(PROBE_LATE_WARNING.to_owned()),
            )
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn probed_for(&self, stamp: &Stamp) -> Option<Capabilities> {
        match &self.lock().probed {
            Some((probed, caps)) if probed == stamp => Some(caps.clone()),
            _ => None,
        }
    }

    /// The stamp of the binary now; starts its probe unless it is probed or being probed.
    fn begin(&self) -> Option<Stamp> {
        let Ok(stamp) = self.stamp() else {
            self.inner.health.send_if_modified(|health| {
                let changed = health.claude_ok != Some(false) || health.claude_version.is_some();
                health.claude_ok = Some(false);
                health.claude_version = None;
                changed
            });
            return None;
        };
        let mut state = self.lock();
        let probed = state.probed.as_ref().is_some_and(|(s, _)| *s == stamp);
        if !probed && state.probing.as_ref() != Some(&stamp) {
            state.probing = Some(stamp.clone());
            drop(state);
            self.spawn_probe(stamp.clone());
        }
        Some(stamp)
    }

    fn stamp(&self) -> Result<Stamp, String> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let path =
            bridge_env::resolve_binary(&self.inner.binary, &self.inner.env, home.as_deref())?;
        let meta = std::fs::metadata(&path).map_err(|e| e.to_string())?;
        Ok(Stamp {
            path,
            dev: meta.dev(),
            ino: meta.ino(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        })
    }

    fn spawn_probe(&self, stamp: Stamp) {
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let report = probe::probe(&stamp.path, &inner.env, &inner.cwd).await;
            inner.health.send_modify(|health| {
                health.claude_ok = Some(report.claude_ok());
                health.claude_version.clone_from(&report.version);
                if report.login_answered {
                    health.login_ok = Some(report.login.ok);
                    health.login_method.clone_from(&report.login.method);
                    health.login_expires_at = report.login.expires_at_ms;
                }
            });
            {
                let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
                if state.probing.as_ref() == Some(&stamp) {
                    state.probing = None;
                }
                state.probed = Some((stamp, report.capabilities));
            }
            inner.finished.send_modify(|n| *n += 1);
        });
    }
}
