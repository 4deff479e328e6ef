//! The login throttle of security.md §3, in memory: per client 5 failures in 300 s lock the
//! key for 300 s; behind a trusted proxy that names no user, one shared failure list backs
//! off exponentially after 20 failures. Time is handed in, so the numbers are testable.
//!
//! An attempt is *reserved* before its password is hashed and settled after (issue 16 §1):
//! a verification in flight counts as a failure until it turns out otherwise, so concurrent
//! wrong passwords cannot all slip past the limit while the first ones are still hashing.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_mins(5);
const LOCK: Duration = Duration::from_mins(5);
const FAILURES_TO_LOCK: usize = 5;
const GLOBAL_FREE_FAILURES: usize = 20;
const GLOBAL_MAX_WAIT_SECONDS: f64 = 60.0;

/// Whose attempts are counted together.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// The socket peer, or `proxy-user:<user>` from a verified proxy HMAC.
    Client(String),
    /// A trusted proxy that named no verified user: everyone behind it shares one list.
    SharedProxy,
}

#[derive(Debug, Default)]
struct Entry {
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
    /// Reserved attempts whose verification has not finished.
    pending: usize,
}

/// The throttle's state. Callers hold it behind a mutex.
#[derive(Debug, Default)]
pub struct Throttle {
    keys: HashMap<ThrottleKey, Entry>,
}

impl Throttle {
    /// `Err(retry_after_seconds)` when an attempt must be refused without checking the
    /// password (and without counting it).
    pub fn check(&mut self, key: &ThrottleKey, now: Instant) -> Result<(), u64> {
        let Some(entry) = self.keys.get_mut(key) else {
            return Ok(());
        };
        prune(entry, now);
        match key {
            ThrottleKey::Client(_) => match entry.locked_until {
                Some(until) if until > now => {
                    Err(ceil_seconds(until.duration_since(now)).saturating_add(1))
                }
                Some(_) => {
                    // The lock ran out: start over.
                    entry.locked_until = None;
                    entry.failures.clear();
                    Ok(())
                }
                // Attempts still hashing count as failures until they are settled: were they
                // all wrong, the key would be locked from that moment.
                None if entry.failures.len() + entry.pending >= FAILURES_TO_LOCK => {
                    Err(LOCK.as_secs() + 1)
                }
                None => Ok(()),
            },
            ThrottleKey::SharedProxy => {
                let count = entry.failures.len() + entry.pending;
                if count <= GLOBAL_FREE_FAILURES {
                    return Ok(());
                }
                if entry.failures.len() < count && entry.failures.len() <= GLOBAL_FREE_FAILURES {
                    // Over the free allowance only through attempts in flight: wait for them.
                    return Err(1);
                }
                let exponent = i32::try_from(count - GLOBAL_FREE_FAILURES).unwrap_or(i32::MAX);
                let wait =
                    Duration::from_secs_f64(2f64.powi(exponent).min(GLOBAL_MAX_WAIT_SECONDS));
                let last = *entry.failures.back().expect("count > 20");
                let waited = now.saturating_duration_since(last);
                if waited >= wait {
                    Ok(())
                } else {
                    Err(ceil_seconds(wait.saturating_sub(waited)).max(1))
                }
            }
        }
    }

    /// [`Throttle::check`], and when the attempt may go ahead, reserves it: it counts as a
    /// failure in flight until [`Throttle::settle`] (or [`Throttle::release`]) is called.
    pub fn reserve(&mut self, key: &ThrottleKey, now: Instant) -> Result<(), u64> {
        self.check(key, now)?;
        self.keys.entry(key.clone()).or_default().pending += 1;
        Ok(())
    }

    /// Ends a reservation whose password was never checked (no verification slot was free):
    /// it counts neither way.
    pub fn release(&mut self, key: &ThrottleKey) {
        if let Some(entry) = self.keys.get_mut(key) {
            entry.pending = entry.pending.saturating_sub(1);
            if entry.pending == 0 && entry.failures.is_empty() && entry.locked_until.is_none() {
                self.keys.remove(key);
            }
        }
    }

    /// Ends a reservation with the verification's answer: a success clears the key, a wrong
    /// password is a failure.
    pub fn settle(&mut self, key: &ThrottleKey, ok: bool, now: Instant) {
        if let Some(entry) = self.keys.get_mut(key) {
            entry.pending = entry.pending.saturating_sub(1);
        }
        if ok {
            self.succeed(key);
        } else {
            self.fail(key, now);
        }
    }

    /// Records a wrong password.
    pub fn fail(&mut self, key: &ThrottleKey, now: Instant) {
        let entry = self.keys.entry(key.clone()).or_default();
        prune(entry, now);
        entry.failures.push_back(now);
        if matches!(key, ThrottleKey::Client(_)) && entry.failures.len() >= FAILURES_TO_LOCK {
            entry.locked_until = Some(now + LOCK);
        }
    }

    /// A success clears the key (attempts of the key still in flight stay reserved).
    pub fn succeed(&mut self, key: &ThrottleKey) {
        let pending = self.keys.get(key).map_or(0, |e| e.pending);
        if pending == 0 {
            self.keys.remove(key);
        } else {
            self.keys.insert(
                key.clone(),
                Entry {
                    pending,
                    ..Entry::default()
                },
            );
        }
    }
}

fn prune(entry: &mut Entry, now: Instant) {
    while entry
        .failures
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
    {
        entry.failures.pop_front();
    }
}

fn ceil_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Throttle, ThrottleKey};

    fn client(ip: &str) -> ThrottleKey {
        ThrottleKey::Client(ip.to_owned())
    }

    #[test]
    fn five_failures_lock_a_client_for_300_seconds() {
        let start = Instant::now();
        let mut throttle = Throttle::default();
        let key = client("192.0.2.1");
        for i in 0..5 {
            let at = start + Duration::from_secs(i * 10);
            assert_eq!(throttle.check(&key, at), Ok(()));
            throttle.fail(&key, at);
        }
        let fifth = start + Duration::from_secs(40);
        assert_eq!(
            throttle.check(&key, fifth),
            Err(301),
            "right after the fifth"
        );
        assert_eq!(
            throttle.check(&key, fifth + Duration::from_millis(500)),
            Err(301),
            "299.5 s left, rounded up, + 1"
        );
        assert_eq!(
            throttle.check(&key, fifth + Duration::from_secs(100)),
            Err(201)
        );
        // Attempts while locked do not count and do not extend the lock.
        assert_eq!(
            throttle.check(&key, fifth + Duration::from_secs(299)),
            Err(2)
        );
        assert_eq!(throttle.check(&key, fifth + Duration::from_mins(5)), Ok(()));
        // Another client is untouched.
        assert_eq!(throttle.check(&client("192.0.2.2"), fifth), Ok(()));
    }

    #[test]
    fn failures_older_than_the_window_do_not_count_and_success_clears() {
        let start = Instant::now();
        let mut throttle = Throttle::default();
        let key = client("192.0.2.1");
        for i in 0..4 {
            throttle.fail(&key, start + Duration::from_secs(i));
        }
        // The first four have left the window by the time the fifth comes.
        let later = start + Duration::from_secs(400);
        throttle.fail(&key, later);
        assert_eq!(throttle.check(&key, later), Ok(()));
        for i in 0..3 {
            throttle.fail(&key, later + Duration::from_secs(i));
        }
        throttle.succeed(&key);
        throttle.fail(&key, later + Duration::from_secs(5));
        assert_eq!(throttle.check(&key, later + Duration::from_secs(5)), Ok(()));
    }

    #[test]
    fn attempts_in_flight_count_as_failures_until_settled() {
        let now = Instant::now();
        let mut throttle = Throttle::default();
        let key = client("192.0.2.9");
        // Five reservations go ahead; the sixth is refused while they are still hashing.
        for _ in 0..5 {
            assert_eq!(throttle.reserve(&key, now), Ok(()));
        }
        assert_eq!(throttle.reserve(&key, now), Err(301));
        // A released reservation (no verification slot) counts neither way.
        throttle.release(&key);
        assert_eq!(throttle.reserve(&key, now), Ok(()));
        for _ in 0..5 {
            throttle.settle(&key, false, now);
        }
        assert_eq!(throttle.check(&key, now), Err(301), "five wrong: locked");

        // A success while others are in flight clears the failures, not the reservations.
        let other = client("192.0.2.10");
        throttle.fail(&other, now);
        assert_eq!(throttle.reserve(&other, now), Ok(()));
        assert_eq!(throttle.reserve(&other, now), Ok(()));
        throttle.settle(&other, true, now);
        throttle.settle(&other, false, now);
        assert_eq!(throttle.check(&other, now), Ok(()));
        for _ in 0..4 {
            throttle.fail(&other, now);
        }
        assert_eq!(
            throttle.check(&other, now),
            Err(301),
            "1 + 4 after the success"
        );
    }

    #[test]
    fn the_shared_proxy_list_counts_attempts_in_flight() {
        let now = Instant::now();
        let mut throttle = Throttle::default();
        let key = ThrottleKey::SharedProxy;
        for _ in 0..20 {
            throttle.fail(&key, now);
        }
        assert_eq!(throttle.reserve(&key, now), Ok(()));
        assert_eq!(
            throttle.reserve(&key, now),
            Err(1),
            "21st in flight: wait for it"
        );
        throttle.settle(&key, false, now);
        assert_eq!(throttle.check(&key, now), Err(2));
    }

    #[test]
    fn the_shared_proxy_list_backs_off_after_twenty_failures() {
        let start = Instant::now();
        let mut throttle = Throttle::default();
        let key = ThrottleKey::SharedProxy;
        for i in 0..20 {
            throttle.fail(&key, start + Duration::from_millis(i));
        }
        let t20 = start + Duration::from_millis(19);
        assert_eq!(
            throttle.check(&key, t20),
            Ok(()),
            "20 failures: no wait yet"
        );
        throttle.fail(&key, t20);
        // 21 failures: wait 2^1 = 2 s after the last.
        assert_eq!(throttle.check(&key, t20), Err(2));
        assert_eq!(
            throttle.check(&key, t20 + Duration::from_millis(1500)),
            Err(1)
        );
        assert_eq!(throttle.check(&key, t20 + Duration::from_secs(2)), Ok(()));
        for _ in 0..10 {
            throttle.fail(&key, t20 + Duration::from_secs(2));
        }
        // 31 failures: 2^11 s, capped at 60.
        assert_eq!(throttle.check(&key, t20 + Duration::from_secs(2)), Err(60));
        // No lock for the shared list, however many failures.
        assert_eq!(throttle.check(&key, t20 + Duration::from_secs(62)), Ok(()));
    }
}
