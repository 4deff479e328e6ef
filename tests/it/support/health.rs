//! A `/healthz` prober on its own thread, and the one rule for judging what it saw: the
//! server keeps answering within 1 s, allowing a few late answers (a loaded test machine
//! stalls any process now and then) but no request left unanswered for 10 s.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the prober measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProbeStats {
    pub probes: u64,
    /// Answered, but later than 1 s.
    pub slow: u64,
    /// No answer within 10 s.
    pub unanswered: u64,
    pub slowest: Duration,
}

impl ProbeStats {
    /// The rule: at least one probe, none unanswered, and at most one in twenty (at least
    /// three) later than 1 s. A server that is locked out or stuck fails every probe; one the
    /// machine paused for a moment fails a few.
    pub fn verdict(&self) -> Result<(), String> {
        let allowed_slow = 3.max(self.probes / 20);
        if self.probes == 0 || self.unanswered > 0 || self.slow > allowed_slow {
            return Err(format!(
                "/healthz: {} of {} probes over 1 s (at most {allowed_slow} allowed), {} unanswered within 10 s, slowest {:?}",
                self.slow, self.probes, self.unanswered, self.slowest
            ));
        }
        Ok(())
    }
}

/// Asks `/healthz` every 200 ms on its own thread (never on the test's runtime, so a busy
/// test cannot make the server look slow). The target port is set while a server is up and
/// cleared while it is being killed and restarted; a probe that spans a change is dropped.
pub struct HealthProber {
    port: Arc<AtomicU64>,
    epoch: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<ProbeStats>>,
    thread: Option<JoinHandle<()>>,
}

const FAST: Duration = Duration::from_secs(1);
const PATIENT: Duration = Duration::from_secs(10);

impl HealthProber {
    pub fn start() -> Self {
        let port = Arc::new(AtomicU64::new(0));
        let epoch = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(ProbeStats::default()));
        let thread = {
            let (port, epoch, stop, stats) = (
                Arc::clone(&port),
                Arc::clone(&epoch),
                Arc::clone(&stop),
                Arc::clone(&stats),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    let before = epoch.load(Ordering::SeqCst);
                    let Ok(target) = u16::try_from(port.load(Ordering::SeqCst)) else {
                        continue;
                    };
                    if target == 0 {
                        continue;
                    }
                    let started = Instant::now();
                    let fast = healthz(target, FAST);
                    let took = started.elapsed();
                    let answered = fast || healthz(target, PATIENT);
                    if epoch.load(Ordering::SeqCst) != before {
                        continue; // the server was restarted meanwhile
                    }
                    let mut stats = stats.lock().expect("the prober's stats");
                    stats.probes += 1;
                    if !fast {
                        stats.slow += 1;
                    }
                    if !answered {
                        stats.unanswered += 1;
                    }
                    stats.slowest = stats.slowest.max(took);
                }
            })
        };
        Self {
            port,
            epoch,
            stop,
            stats,
            thread: Some(thread),
        }
    }

    /// Probe the server on `port` from now on (`None`: no server to probe).
    /// A prober already asking the server on `port`.
    pub fn on(port: u16) -> Self {
        let prober = Self::start();
        prober.target(Some(port));
        prober
    }

    pub fn target(&self, port: Option<u16>) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.port.store(port.map_or(0, u64::from), Ordering::SeqCst);
    }

    pub fn stats(&self) -> ProbeStats {
        *self.stats.lock().expect("the prober's stats")
    }

    /// Waits until `at_least` probes have been counted (at most `within`; a stuck server's
    /// probes take 11 s each) and returns what they saw.
    pub fn wait_for_probes(&self, at_least: u64, within: Duration) -> ProbeStats {
        super::wait_for(within, || {
            let stats = self.stats();
            (stats.probes >= at_least).then_some(stats)
        })
        .unwrap_or_else(|| self.stats())
    }

    /// Stops probing once at least one probe has been counted (however short the attack it
    /// watched) and returns what the probes saw.
    pub fn finish(self) -> ProbeStats {
        self.wait_for_probes(1, Duration::from_secs(30))
    }
}

impl Drop for HealthProber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One `GET /healthz` over a fresh connection: a complete `200` answer within `within`.
pub fn healthz(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let Ok(mut stream) =
        TcpStream::connect_timeout(&std::net::SocketAddr::from(([127, 0, 0, 1], port)), within)
    else {
        return false;
    };
    let left = || deadline.saturating_duration_since(Instant::now());
    let request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream
        .set_write_timeout(Some(left().max(Duration::from_millis(1))))
        .is_err()
        || stream.write_all(request.as_bytes()).is_err()
    {
        return false;
    }
    let mut answer = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        let wait = left();
        if wait.is_zero() || stream.set_read_timeout(Some(wait)).is_err() {
            return false;
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(_) => return false,
        }
    }
    answer.starts_with(b"HTTP/1.1 200")
}
