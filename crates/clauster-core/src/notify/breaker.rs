//! Retries, back-off and the per-target circuit breaker (notifications.md §4). Times are
//! milliseconds on a monotonic clock the caller keeps.

/// The wait before retry `n` (1-based): 0.5 s doubled each time, at most 30 s.
pub fn backoff_ms(retry: u32) -> u64 {
    let exponent = retry.saturating_sub(1).min(16);
    (500_u64 << exponent).min(30_000)
}

/// Failed deliveries in a row (each after its retries) that open the breaker.
pub const OPEN_AFTER: u32 = 5;
/// How long an open breaker skips deliveries before one is tried again.
pub const OPEN_FOR_MS: u64 = 60_000;

/// What the breaker says about the next delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Closed, or half-open: try it.
    Try,
    /// Open: skip it without a request.
    Skip,
}

/// The breaker state as the delivery log shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
        }
    }
}

/// One target's breaker: [`OPEN_AFTER`] failures in a row open it for [`OPEN_FOR_MS`]; the
/// next delivery after that is a trial whose success closes it and whose failure opens it
/// again.
#[derive(Clone, Debug, Default)]
pub struct Breaker {
    failures: u32,
    open_until: Option<u64>,
}

impl Breaker {
    pub fn gate(&self, now_ms: u64) -> Gate {
        match self.open_until {
            Some(until) if now_ms < until => Gate::Skip,
            _ => Gate::Try,
        }
    }

    pub fn state(&self, now_ms: u64) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(until) if now_ms < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.open_until = None;
    }

    /// Records a failed delivery; true when this opened the breaker.
    pub fn failed(&mut self, now_ms: u64) -> bool {
        self.failures = self.failures.saturating_add(1);
        let trial = self.open_until.is_some();
        if trial || self.failures >= OPEN_AFTER {
            self.open_until = Some(now_ms + OPEN_FOR_MS);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let waits: Vec<u64> = (1..=8).map(backoff_ms).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
        assert_eq!(backoff_ms(u32::MAX), 30_000);
    }

    #[test]
    fn breaker_opens_skips_and_recovers() {
        let mut breaker = Breaker::default();
        for _ in 1..OPEN_AFTER {
            assert!(!breaker.failed(0));
            assert_eq!(breaker.gate(0), Gate::Try);
        }
        assert!(breaker.failed(10));
        assert_eq!(breaker.state(11), BreakerState::Open);
        assert_eq!(breaker.gate(10 + OPEN_FOR_MS - 1), Gate::Skip);
        assert_eq!(breaker.state(10 + OPEN_FOR_MS), BreakerState::HalfOpen);
        assert_eq!(breaker.gate(10 + OPEN_FOR_MS), Gate::Try);
        // A failed trial opens it again at once.
        assert!(breaker.failed(10 + OPEN_FOR_MS));
        assert_eq!(breaker.gate(11 + OPEN_FOR_MS), Gate::Skip);
        breaker.succeeded();
        assert_eq!(breaker.state(0), BreakerState::Closed);
        assert!(!breaker.failed(0));
    }
}
