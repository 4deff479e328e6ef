//! What `/ws/events` says about claude and the engine (http-api.md §8.4): the snapshot's
//! `health` and `login` from the probe cache, and the `health` / `login` frames published
//! whenever what they say changed (the first probe finishing, a login expiring, rediscovery
//! ending). Nothing here runs a process: the probe task fills the cache (`probe.rs`).

use std::sync::Arc;

use clauster_wire::{Frame, HealthFacts, LoginStatus};
use tokio::sync::watch;

use super::{ClaudeHealth, Engine};

impl ClaudeHealth {
    /// `/api/login-status`, the snapshot's `login` and the `login` frame: before the first
    /// `claude auth status` answer the spec reports logged in (http-api.md §3).
    pub fn login_status(&self) -> LoginStatus {
        LoginStatus {
            claude_login_ok: self.login_ok.unwrap_or(true),
            claude_login_method: self.login_method.clone(),
            claude_login_expires_at: self.login_expires_at,
        }
    }

    /// The `health` facts of the snapshot and the frame.
    pub fn facts(&self, engine_ready: bool, store_ok: bool) -> HealthFacts {
        HealthFacts {
            claude_ok: self.claude_ok,
            claude_version: self.claude_version.clone(),
            store_ok,
            engine_ready,
        }
    }
}

impl Engine {
    /// The snapshot's `health`, from the probe cache and readiness.
    pub fn health_facts(&self) -> HealthFacts {
        self.claude_health().facts(self.is_ready(), self.store_ok())
    }

    /// Publishes a `health` or `login` frame each time the probe cache or readiness changes
    /// what one says. Runs until the engine's channels close.
    pub(super) fn spawn_health_frames(&self) {
        let frames = self.frames.clone();
        let mut claude = self.claude.clone();
        let mut ready = self.ready.clone();
        let mut store_ok = self.store_ok.clone();
        tokio::spawn(async move {
            let mut said = Said::now(&claude, &ready, &store_ok);
            loop {
                tokio::select! {
                    changed = claude.changed() => if changed.is_err() { return },
                    changed = ready.changed() => if changed.is_err() { return },
                    changed = store_ok.changed() => if changed.is_err() { return },
                }
                for frame in said.update(Said::now(&claude, &ready, &store_ok)) {
                    let _ = frames.send(Arc::new(frame));
                }
            }
        });
    }
}

/// What the last frames (or the snapshot) said.
#[derive(Debug, PartialEq)]
struct Said {
    health: HealthFacts,
    login: LoginStatus,
}

impl Said {
    fn now(
        claude: &watch::Receiver<ClaudeHealth>,
        ready: &watch::Receiver<bool>,
        store_ok: &watch::Receiver<bool>,
    ) -> Self {
        Self::of(&claude.borrow(), *ready.borrow(), *store_ok.borrow())
    }

    fn of(claude: &ClaudeHealth, ready: bool, store_ok: bool) -> Self {
        Self {
            health: claude.facts(ready, store_ok),
            login: claude.login_status(),
        }
    }

    /// Takes `now` and returns a frame for each part that differs from what was said.
    fn update(&mut self, now: Self) -> Vec<Frame> {
        let mut frames = Vec::new();
        if now.health != self.health {
            frames.push(Frame::Health(now.health.clone()));
        }
        if now.login != self.login {
            frames.push(Frame::Login(now.login.clone()));
        }
        *self = now;
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_changed_is_published() {
        let mut said = Said::of(&ClaudeHealth::default(), false, true);
        assert_eq!(
            said.login,
            LoginStatus {
                claude_login_ok: true,
                claude_login_method: None,
                claude_login_expires_at: None
            },
            "logged in until claude answers"
        );
        assert_eq!(said.health.claude_ok, None);
        // Rediscovery ends: health only.
        let frames = said.update(Said::of(&ClaudeHealth::default(), true, true));
        assert!(matches!(frames.as_slice(), [Frame::Health(h)] if h.engine_ready));
        // The first probe: both.
        let probed = ClaudeHealth {
            claude_ok: Some(true),
            claude_version: Some("2.1.328".into()),
            login_ok: Some(true),
            login_method: Some("claude.ai".into()),
            login_expires_at: Some(1_800_000_000_000),
        };
        let frames = said.update(Said::of(&probed, true, true));
        assert!(
            matches!(frames.as_slice(), [Frame::Health(h), Frame::Login(l)]
                if h.claude_ok == Some(true) && l.claude_login_method.as_deref() == Some("claude.ai")),
            "{frames:?}"
        );
        // Nothing new: nothing sent.
        assert!(said.update(Said::of(&probed, true, true)).is_empty());
        // Logged out: login only.
        let logged_out = ClaudeHealth {
            login_ok: Some(false),
            login_method: None,
            login_expires_at: None,
            ..probed
        };
        let frames = said.update(Said::of(&logged_out, true, true));
        assert!(matches!(frames.as_slice(), [Frame::Login(l)] if !l.claude_login_ok));
        // A store write fails: health only, saying so.
        let frames = said.update(Said::of(&logged_out, true, false));
        assert!(matches!(frames.as_slice(), [Frame::Health(h)] if !h.store_ok));
    }
}
