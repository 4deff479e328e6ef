//! Signals as events: SIGINT, SIGTERM and SIGHUP are blocked in every thread and collected by
//! one `sigwait` thread, so the behaviours wait on a channel (timers included) at ~0 % CPU.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};

pub enum Wake {
    Signal(Signal),
    Timeout,
}

pub struct Signals {
    rx: Receiver<Signal>,
    /// `FAKE_CLAUDE_MAX_SECONDS` after start: the safety exit.
    max_deadline: Instant,
}

impl Signals {
    /// Blocks the three signals and starts the collector. Call it before spawning any other
    /// thread, so every thread inherits the mask (children get a clean mask from `Command`).
    pub fn install(max_lifetime: Duration) -> Self {
        let mut set = SigSet::empty();
        for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            set.add(sig);
        }
        let _ = set.thread_block();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            loop {
                if let Ok(sig) = set.wait()
                    && tx.send(sig).is_err()
                {
                    return;
                }
            }
        });
        let now = Instant::now();
        Signals {
            rx,
            max_deadline: now
                .checked_add(max_lifetime)
                .unwrap_or(now + Duration::from_hours(24)),
        }
    }

    /// Waits for a signal until `deadline` (`None`: forever). Past the safety deadline the
    /// process exits 0.
    pub fn wait_until(&self, deadline: Option<Instant>) -> Wake {
        let until = deadline.map_or(self.max_deadline, |d| d.min(self.max_deadline));
        match self
            .rx
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            Ok(sig) => Wake::Signal(sig),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                if Instant::now() >= self.max_deadline {
                    std::process::exit(0);
                }
                Wake::Timeout
            }
        }
    }

    /// A signal that already arrived, without waiting.
    pub fn poll(&self) -> Option<Signal> {
        self.rx.try_recv().ok()
    }
}
