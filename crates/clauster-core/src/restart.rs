//! The restart policy of bridges.md §7.9 (issue 25): which ends of a bridge an `on-failure`
//! project restarts, how long it waits (1 s doubling to 5 min, jittered), and when a run of
//! failures becomes a crash loop. Pure: the clock and the jitter are handed in.

use std::collections::VecDeque;
use std::time::Duration;

use crate::names::echo;
use crate::status::{ErrorKind, Status};
use crate::token_enum::token_enum;

token_enum! {
    /// `instance_defaults.restart` and a project's `restart`: what happens when a bridge fails.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub enum RestartPolicy else UnknownRestartPolicy {
        /// No automatic restart (bridges.md §7.7).
        #[default]
        Never = "never",
        /// Restart after the failures of [`restartable`], like systemd's `Restart=on-failure`.
        OnFailure = "on-failure",
    }
}

/// A restart policy that is neither `never` nor `on-failure`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid restart policy '{}'; expected never or on-failure", echo(.0))]
pub struct UnknownRestartPolicy(pub String);

/// How an `on-failure` project restarts a failed bridge (bridges.md §7.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Resume with the recorded mode: `--continue` / `--resume <uuid>` where it applies.
    Resume,
    /// Start a fresh conversation: the old one cannot be continued.
    Fresh,
}

/// Whether a bridge that ended with `status` (and `error_kind`, a stored token) is restarted
/// by an `on-failure` project, and how. A user's Stop never is (its end is `stopped`), nor
/// are the kinds a restart cannot fix: login, eligibility, trust, the Remote Control
/// acknowledgement, a launch that could not start a process, and a crash loop itself.
pub fn restartable(status: Status, error_kind: Option<&str>) -> Option<Restart> {
    match status {
        Status::Crashed => Some(Restart::Resume),
        Status::Error => match error_kind?.parse::<ErrorKind>().ok()? {
            ErrorKind::Offline | ErrorKind::StartupTimeout | ErrorKind::ExitedEarly => {
                Some(Restart::Resume)
            }
            ErrorKind::PoisonedSession | ErrorKind::ContinueUnavailable => Some(Restart::Fresh),
            ErrorKind::LaunchFailed
            | ErrorKind::NotTrusted
            | ErrorKind::NotLoggedIn
            | ErrorKind::NotEligible
            | ErrorKind::RcNotAcknowledged
            | ErrorKind::CrashLoop => None,
        },
        Status::Starting | Status::Running | Status::Stopped => None,
    }
}

/// The numbers of a project's restart rule (`instance_defaults.restart_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartRules {
    /// Failures within `window` that end the restarts as a crash loop.
    pub burst: u32,
    pub window: Duration,
    /// The first backoff; each further restart in the window doubles it, up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RestartRules {
    fn default() -> Self {
        Self {
            burst: 5,
            window: Duration::from_mins(10),
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_mins(5),
        }
    }
}

impl RestartRules {
    /// The wait before restart number `attempt` (1 = the first in the window): the first
    /// backoff doubled `attempt - 1` times, capped, then spread by ±20 % with `jitter` in
    /// `[0, 1)`, so bridges that failed together do not come back together.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        let base = self
            .first_backoff
            .saturating_mul(1_u32 << doublings)
            .min(self.max_backoff);
        let spread = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        base.mul_f64(spread)
    }
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Restart after this wait; it will be restart number `attempt` in the window.
    Restart { after: Duration, attempt: u32 },
    /// `failures` failures within the window: stop restarting (`error` / `crash_loop`).
    CrashLoop { failures: u32 },
}

/// One instance's failures and automatic restarts, as millisecond times on the caller's clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestartHistory {
    failures: VecDeque<u64>,
    restarts: VecDeque<u64>,
}

impl RestartHistory {
    /// Records a failure at `now_ms` and says whether to restart.
    pub fn failed(&mut self, now_ms: u64, rules: &RestartRules, jitter: f64) -> Verdict {
        self.forget_before(now_ms, rules.window);
        self.failures.push_back(now_ms);
        let failures = u32::try_from(self.failures.len()).unwrap_or(u32::MAX);
        if failures >= rules.burst.max(1) {
            return Verdict::CrashLoop { failures };
        }
        let attempt = u32::try_from(self.restarts.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        Verdict::Restart {
            after: rules.backoff(attempt, jitter),
            attempt,
        }
    }

    /// Records an automatic restart launched at `now_ms`.
    pub fn restarted(&mut self, now_ms: u64) {
        self.restarts.push_back(now_ms);
    }

    /// The automatic restarts within the window ending at `now_ms` (`restarts` in the JSON).
    pub fn restarts(&self, now_ms: u64, window: Duration) -> u32 {
        let since = now_ms.saturating_sub(window_ms(window));
        let count = self.restarts.iter().filter(|&&t| t >= since).count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    fn forget_before(&mut self, now_ms: u64, window: Duration) {
        let since = now_ms.saturating_sub(window_ms(window));
        while self.failures.front().is_some_and(|&t| t < since) {
            self.failures.pop_front();
        }
        while self.restarts.front().is_some_and(|&t| t < since) {
            self.restarts.pop_front();
        }
    }
}

fn window_ms(window: Duration) -> u64 {
    u64::try_from(window.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    #[test]
    fn which_ends_are_restarted() {
        let mut out = String::new();
        let statuses = [
            Status::Starting,
            Status::Running,
            Status::Stopped,
            Status::Crashed,
        ];
        for status in statuses {
            writeln!(
                out,
                "{:<10} -> {:?}",
                status.as_token(),
                restartable(status, None)
            )
            .unwrap();
        }
        for kind in ErrorKind::ALL {
            writeln!(
                out,
                "error/{:<20} -> {:?}",
                kind.as_token(),
                restartable(Status::Error, Some(kind.as_token()))
            )
            .unwrap();
        }
        writeln!(
            out,
            "error/{:<20} -> {:?}",
            "(unknown)",
            restartable(Status::Error, Some("whatever"))
        )
        .unwrap();
        writeln!(
            out,
            "error/(none) -> {:?}",
            restartable(Status::Error, None)
        )
        .unwrap();
        insta::assert_snapshot!(out);
    }

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes() {
        let rules = RestartRules::default();
        let waits: Vec<u64> = (1..=12)
            .map(|attempt| u64::try_from(rules.backoff(attempt, 0.5).as_millis()).expect("fits"))
            .collect();
        assert_eq!(
            waits,
            [
                1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000,
                300_000, 300_000
            ]
        );
        assert_eq!(rules.backoff(1, 0.0), Duration::from_millis(800));
        assert!(rules.backoff(1, 0.999_999) < Duration::from_millis(1_200));
        assert_eq!(rules.backoff(u32::MAX, 1.0), Duration::from_mins(6));
    }

    #[test]
    fn a_burst_of_failures_in_the_window_is_a_crash_loop() {
        let rules = RestartRules::default();
        let mut history = RestartHistory::default();
        let mut verdicts = Vec::new();
        for n in 0..5_u64 {
            let verdict = history.failed(n * 1_000, &rules, 0.5);
            if matches!(verdict, Verdict::Restart { .. }) {
                history.restarted(n * 1_000 + 500);
            }
            verdicts.push(verdict);
        }
        assert_eq!(
            verdicts[..4]
                .iter()
                .map(|v| match v {
                    Verdict::Restart { attempt, .. } => *attempt,
                    Verdict::CrashLoop { .. } => 0,
                })
                .collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(verdicts[4], Verdict::CrashLoop { failures: 5 });
        assert_eq!(history.restarts(5_000, rules.window), 4);
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let rules = RestartRules {
            burst: 3,
            window: Duration::from_secs(10),
            ..RestartRules::default()
        };
        let mut history = RestartHistory::default();
        assert!(matches!(
            history.failed(0, &rules, 0.5),
            Verdict::Restart { attempt: 1, .. }
        ));
        history.restarted(1_000);
        assert!(matches!(
            history.failed(2_000, &rules, 0.5),
            Verdict::Restart { attempt: 2, .. }
        ));
        history.restarted(4_000);
        // Eleven seconds after the first failure: it and the first restart have left the window.
        assert_eq!(
            history.failed(11_500, &rules, 0.5),
            Verdict::Restart {
                after: Duration::from_secs(2),
                attempt: 2
            }
        );
        assert_eq!(history.restarts(11_500, rules.window), 1);
        assert_eq!(history.restarts(30_000, rules.window), 0);
    }

    #[test]
    fn policies_read_their_tokens_only() {
        assert_eq!("never".parse(), Ok(RestartPolicy::Never));
        assert_eq!("on-failure".parse(), Ok(RestartPolicy::OnFailure));
        assert_eq!(
            "always".parse::<RestartPolicy>().unwrap_err().to_string(),
            "invalid restart policy 'always'; expected never or on-failure"
        );
    }
}
