//! Where one launch of an instance stands, as one value: replaces the loose `stopping`,
//! `child`, `exited` and `relaunching` flags, so a state no launch can be in (stopped and
//! relaunched at once, exited twice with different codes) cannot be written down. The
//! record's status (`starting`, `running`, …) is the status machine's; this is the process.

use clauster_core::status::ExitStatus;

/// The process side of one launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Running, as far as we know. `child`: launched by this server, so its exit arrives as
    /// `Msg::Exited`; otherwise (rediscovered, adopted, a pty bridge under its keeper) the
    /// tick checks its liveness.
    Live { child: bool },
    /// A Stop is ending it: `Msg::Terminated` settles the record. `exited`: its end was seen
    /// meanwhile.
    Stopping {
        child: bool,
        exited: Option<ExitStatus>,
    },
    /// A failed continue is being relaunched fresh (bridges.md §9.3): this launch's end is
    /// settled and not shown; the next launch replaces the record.
    Relaunching {
        child: bool,
        exited: Option<ExitStatus>,
    },
    /// The process is gone.
    Gone { child: bool, status: ExitStatus },
}

impl Phase {
    /// How the process ended, once it did.
    pub(super) fn exited(self) -> Option<ExitStatus> {
        match self {
            Self::Live { .. } => None,
            Self::Stopping { exited, .. } | Self::Relaunching { exited, .. } => exited,
            Self::Gone { status, .. } => Some(status),
        }
    }

    pub(super) fn is_stopping(self) -> bool {
        matches!(self, Self::Stopping { .. })
    }

    pub(super) fn is_relaunching(self) -> bool {
        matches!(self, Self::Relaunching { .. })
    }

    /// Launched by this server process (its exit is reported, not polled).
    pub(super) fn is_child(self) -> bool {
        match self {
            Self::Live { child }
            | Self::Stopping { child, .. }
            | Self::Relaunching { child, .. }
            | Self::Gone { child, .. } => child,
        }
    }

    /// The process ended with `status` (the latest report wins).
    pub(super) fn set_exited(&mut self, status: ExitStatus) {
        *self = match *self {
            Self::Live { child } | Self::Gone { child, .. } => Self::Gone { child, status },
            Self::Stopping { child, .. } => Self::Stopping {
                child,
                exited: Some(status),
            },
            Self::Relaunching { child, .. } => Self::Relaunching {
                child,
                exited: Some(status),
            },
        };
    }

    /// A stop begins (its intent is on disk).
    pub(super) fn start_stopping(&mut self) {
        let child = self.is_child();
        let exited = self.exited();
        *self = Self::Stopping { child, exited };
    }

    /// The stop's terminate task is done: the process is gone, with the status seen, if any.
    pub(super) fn finish_stopping(&mut self) {
        if let Self::Stopping { child, exited } = *self {
            *self = Self::Gone {
                child,
                status: exited.unwrap_or(ExitStatus::Unknown),
            };
        }
    }

    /// Whether this launch is being replaced by a fresh relaunch (§9.3).
    pub(super) fn set_relaunching(&mut self, relaunching: bool) {
        let child = self.is_child();
        let exited = self.exited();
        match (*self, relaunching) {
            (Self::Relaunching { .. }, false) => {
                *self = exited.map_or(Self::Live { child }, |status| Self::Gone { child, status });
            }
            (Self::Live { .. } | Self::Gone { .. }, true) => {
                *self = Self::Relaunching { child, exited };
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_during_a_stop_is_kept_until_the_stop_finishes() {
        let mut phase = Phase::Live { child: true };
        phase.start_stopping();
        assert!(phase.is_stopping());
        assert_eq!(phase.exited(), None);
        phase.set_exited(ExitStatus::Code(0));
        assert!(phase.is_stopping());
        phase.finish_stopping();
        assert_eq!(
            phase,
            Phase::Gone {
                child: true,
                status: ExitStatus::Code(0)
            }
        );
    }

    #[test]
    fn a_stop_without_a_seen_exit_ends_unknown() {
        let mut phase = Phase::Live { child: false };
        phase.start_stopping();
        phase.finish_stopping();
        assert_eq!(phase.exited(), Some(ExitStatus::Unknown));
        assert!(!phase.is_child());
    }

    #[test]
    fn a_relaunch_keeps_the_failed_continues_end_and_clearing_it_restores_it() {
        let mut phase = Phase::Live { child: true };
        phase.set_exited(ExitStatus::Code(1));
        phase.set_relaunching(true);
        assert!(phase.is_relaunching());
        assert_eq!(phase.exited(), Some(ExitStatus::Code(1)));
        phase.set_relaunching(false);
        assert_eq!(
            phase,
            Phase::Gone {
                child: true,
                status: ExitStatus::Code(1)
            }
        );
        // Clearing what is not set changes nothing.
        let mut stopping = Phase::Stopping {
            child: true,
            exited: None,
        };
        stopping.set_relaunching(false);
        assert!(stopping.is_stopping());
    }
}
