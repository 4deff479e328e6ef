//! Notifications' pure half (issue 22, notifications.md): the event names and which are on
//! by default, the JSON payload every channel is built from, the events a stream of instance
//! changes means ([`tracker`]), the Apprise URLs delivered natively ([`apprise`]) and the
//! retry, back-off and circuit-breaker rules of a delivery target ([`breaker`]).

pub mod apprise;
pub mod breaker;
pub mod tracker;

use std::fmt;

/// A notification event: the `event` field of a webhook body (notifications.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotifyEvent {
    Spawn,
    Ready,
    Stop,
    Crash,
    BgSettled,
    PermissionNeeded,
    CloneDone,
    CrashLoop,
    Stall,
    LoginLost,
    LoginRestored,
    /// `POST /api/notifications/test` and `clauster notify test`: every target, whatever
    /// its filters.
    Test,
}

impl NotifyEvent {
    /// The events `webhooks.events` may name, in the order the docs list them.
    pub const CONFIGURABLE: [Self; 11] = [
        Self::Spawn,
        Self::Ready,
        Self::Stop,
        Self::Crash,
        Self::BgSettled,
        Self::PermissionNeeded,
        Self::CloneDone,
        Self::CrashLoop,
        Self::Stall,
        Self::LoginLost,
        Self::LoginRestored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spawn => "spawn",
            Self::Ready => "ready",
            Self::Stop => "stop",
            Self::Crash => "crash",
            Self::BgSettled => "bg-settled",
            Self::PermissionNeeded => "permission-needed",
            Self::CloneDone => "clone-done",
            Self::CrashLoop => "crash-loop",
            Self::Stall => "stall",
            Self::LoginLost => "login-lost",
            Self::LoginRestored => "login-restored",
            Self::Test => "test",
        }
    }

    /// A configurable event by its name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::CONFIGURABLE
            .into_iter()
            .find(|event| event.as_str() == name)
    }

    /// Whether a webhook emits it when `webhooks.events` does not name it: the four bridge
    /// events of 1.3.2 are on, everything else is opt-in.
    pub fn on_when_absent(self) -> bool {
        matches!(self, Self::Spawn | Self::Ready | Self::Stop | Self::Crash)
    }
}

impl fmt::Display for NotifyEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened, as every channel receives it. Strings are already redacted by whoever
/// built it; nothing here carries a session URL or id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub event: NotifyEvent,
    /// The project; `None` for events about the host (login).
    pub project: Option<String>,
    pub instance_id: Option<String>,
    pub label: Option<String>,
    pub status: Option<String>,
    pub resume_mode: Option<String>,
    pub spawn_mode: Option<String>,
    pub error_kind: Option<String>,
    pub detail: Option<String>,
    /// RFC 3339, UTC.
    pub at: String,
    /// A stopped bridge that was not stopped on request: a session that ended by itself
    /// (`notifications.notify_on_session_end`).
    pub session_ended: bool,
    /// A failure of a launch after the first (a resume): `notify_on_reconnect_failed`.
    pub relaunch: bool,
}

impl Notice {
    /// A notice about the host or a test: no instance fields.
    pub fn bare(event: NotifyEvent, at: String, detail: Option<String>) -> Self {
        Self {
            event,
            project: None,
            instance_id: None,
            label: None,
            status: None,
            resume_mode: None,
            spawn_mode: None,
            error_kind: None,
            detail,
            at,
            session_ended: false,
            relaunch: false,
        }
    }

    /// The webhook body: `{"event": …}` then the payload fields, the 1.3.2 bridge fields
    /// (`label`, `resume_mode`, `spawn_mode`, `session_ref`) included so receivers written
    /// for it keep working. `session_ref` is always null: we never egress session ids.
    pub fn webhook_body(&self) -> serde_json::Value {
        serde_json::json!({
            "event": self.event.as_str(),
            "project": self.project,
            "instance_id": self.instance_id,
            "label": self.label,
            "status": self.status,
            "resume_mode": self.resume_mode,
            "spawn_mode": self.spawn_mode,
            "session_ref": serde_json::Value::Null,
            "error_kind": self.error_kind,
            "detail": self.detail,
            "at": self.at,
        })
    }

    /// A one-line title for people (Apprise services, push, the browser).
    pub fn title(&self) -> String {
        let subject = self.project.as_deref().unwrap_or("Clauster");
        let what = match self.event {
            NotifyEvent::Spawn => "is starting",
            NotifyEvent::Ready => "is ready",
            NotifyEvent::Stop if self.session_ended => "session ended",
            NotifyEvent::Stop => "stopped",
            NotifyEvent::Crash => "crashed",
            NotifyEvent::BgSettled => "background job settled",
            NotifyEvent::PermissionNeeded => "needs a permission answer",
            NotifyEvent::CloneDone => "clone finished",
            NotifyEvent::CrashLoop => "keeps crashing",
            NotifyEvent::Stall => "stalled while starting",
            NotifyEvent::LoginLost => "claude is no longer logged in",
            NotifyEvent::LoginRestored => "claude is logged in again",
            NotifyEvent::Test => "test notification",
        };
        format!("{subject}: {what}")
    }

    /// The message under the title: the detail, else the status.
    pub fn message(&self) -> String {
        let mut parts = Vec::new();
        if let Some(kind) = &self.error_kind {
            parts.push(kind.clone());
        }
        if let Some(detail) = &self.detail {
            parts.push(detail.clone());
        }
        if parts.is_empty() {
            return match &self.status {
                Some(status) => format!("status: {status}"),
                None => self.event.as_str().to_owned(),
            };
        }
        parts.join(": ")
    }
}

/// The `notifications.notify_on_*` switches, as the people channels (Apprise URLs, the
/// browser, push) apply them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// One flag per key of the file.
#[allow(clippy::struct_excessive_bools)]
pub struct PeopleFilter {
    pub on_crash: bool,
    pub on_ready: bool,
    pub on_stop: bool,
    pub on_permission: bool,
    pub on_session_end: bool,
    pub on_reconnect_failed: bool,
}

impl PeopleFilter {
    /// Whether a person hears about `notice`. Crash-loop, stall and login loss are failures
    /// and follow `notify_on_crash`; a test always passes.
    pub fn admits(&self, notice: &Notice) -> bool {
        match notice.event {
            NotifyEvent::Crash if notice.relaunch => self.on_reconnect_failed || self.on_crash,
            NotifyEvent::Crash
            | NotifyEvent::CrashLoop
            | NotifyEvent::Stall
            | NotifyEvent::LoginLost
            | NotifyEvent::LoginRestored => self.on_crash,
            NotifyEvent::Ready => self.on_ready,
            NotifyEvent::Stop if notice.session_ended => self.on_session_end,
            NotifyEvent::Stop => self.on_stop,
            NotifyEvent::PermissionNeeded => self.on_permission,
            NotifyEvent::Test => true,
            NotifyEvent::Spawn | NotifyEvent::BgSettled | NotifyEvent::CloneDone => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crash() -> Notice {
        Notice {
            project: Some("alpha".into()),
            instance_id: Some("i-1".into()),
            label: Some("alpha".into()),
            status: Some("error".into()),
            resume_mode: Some("standard".into()),
            spawn_mode: Some("same-dir".into()),
            error_kind: Some("exited_early".into()),
            detail: Some("exit code 1".into()),
            ..Notice::bare(NotifyEvent::Crash, "2026-01-02T03:04:05.000Z".into(), None)
        }
    }

    #[test]
    fn event_names_round_trip_and_defaults() {
        for event in NotifyEvent::CONFIGURABLE {
            assert_eq!(NotifyEvent::parse(event.as_str()), Some(event));
        }
        assert_eq!(NotifyEvent::parse("test"), None);
        let on: Vec<&str> = NotifyEvent::CONFIGURABLE
            .into_iter()
            .filter(|e| e.on_when_absent())
            .map(NotifyEvent::as_str)
            .collect();
        assert_eq!(on, ["spawn", "ready", "stop", "crash"]);
    }

    #[test]
    fn webhook_body_shape() {
        insta::assert_json_snapshot!(crash().webhook_body());
        assert_eq!(crash().title(), "alpha: crashed");
        assert_eq!(crash().message(), "exited_early: exit code 1");
    }

    #[test]
    fn people_filter_follows_the_switches() {
        let only_crash = PeopleFilter {
            on_crash: true,
            on_ready: false,
            on_stop: false,
            on_permission: false,
            on_session_end: false,
            on_reconnect_failed: false,
        };
        assert!(only_crash.admits(&crash()));
        let ended = Notice {
            session_ended: true,
            ..Notice::bare(NotifyEvent::Stop, String::new(), None)
        };
        assert!(!only_crash.admits(&ended));
        let session_end = PeopleFilter {
            on_crash: false,
            on_session_end: true,
            ..only_crash
        };
        assert!(session_end.admits(&ended));
        assert!(!session_end.admits(&Notice::bare(NotifyEvent::Stop, String::new(), None)));
        assert!(!session_end.admits(&crash()));
        let relaunch = Notice {
            relaunch: true,
            ..crash()
        };
        let reconnect = PeopleFilter {
            on_reconnect_failed: true,
            ..session_end
        };
        assert!(reconnect.admits(&relaunch) && !reconnect.admits(&crash()));
        assert!(reconnect.admits(&Notice::bare(NotifyEvent::Test, String::new(), None)));
    }
}
