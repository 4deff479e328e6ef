//! The blocking sampler of data.md §4: CPU and disk rates are deltas of the cumulative
//! counters `sysinfo` reads (CPU time, `/proc/<pid>/io`) between consecutive refreshes.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use clauster_core::identity::StartIdentity;
use clauster_pty::proc::{descendants, read_identity};
use clauster_wire::Metrics;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// A running bridge to sample: its instance id and the recorded identity of its root process
/// (the bridge pid; for pty the claude process, not the keeper).
#[derive(Clone, Debug)]
pub struct Target {
    pub id: String,
    pub root: StartIdentity,
}

/// How the sampler reports (config.md §3.11).
#[derive(Clone, Copy, Debug)]
pub struct SampleSettings {
    pub normalize_cpu: bool,
    /// Read disk counters at all; off → the disk fields are `null`.
    pub disk: bool,
    /// The gap between the two samples of a bridge seen for the first time.
    pub first_gap: Duration,
}

/// Cumulative counters of one process; a process is keyed by pid and start time, so a pid
/// reused between refreshes is not mistaken for the old process.
#[derive(Clone, Copy, Debug)]
struct Counters {
    cpu_ms: u64,
    read: u64,
    written: u64,
    rss: u64,
}

type ProcKey = (u32, u64);

#[derive(Clone, Debug)]
struct Reading {
    at: Instant,
    procs: HashMap<ProcKey, Counters>,
    /// `/proc/<root>/io` was readable.
    disk_readable: bool,
}

pub struct Sampler {
    system: System,
    settings: SampleSettings,
    cores: f64,
    previous: HashMap<String, Reading>,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("settings", &self.settings)
            .field("tracked", &self.previous.len())
            .finish_non_exhaustive()
    }
}

impl Sampler {
    /// `None` when the platform offers no process information.
    pub fn new(settings: SampleSettings) -> Option<Self> {
        let system = System::new().ok()?;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Some(Self {
            system,
            settings,
            cores: f64::from(u32::try_from(cores).unwrap_or(1)),
            previous: HashMap::new(),
        })
    }

    /// One refresh: the complete new map. Targets whose root no longer has its recorded start
    /// identity are skipped; bridges seen for the first time are sampled twice
    /// `first_gap` apart. Blocking (it may sleep for the first-sample gap).
    pub fn refresh(&mut self, targets: &[Target]) -> BTreeMap<String, Metrics> {
        let trees: Vec<(String, Vec<i32>)> = targets
            .iter()
            .filter(|t| still_ours(&t.root))
            .map(|t| {
                let mut tree = vec![t.root.pid];
                tree.extend(descendants(t.root.pid));
                (t.id.clone(), tree)
            })
            .collect();
        let mut current = self.read(&trees);
        let fresh: Vec<(String, Vec<i32>)> = trees
            .iter()
            .filter(|(id, _)| !self.previous.contains_key(id))
            .cloned()
            .collect();
        if !fresh.is_empty() {
            std::thread::sleep(self.settings.first_gap);
            let second = self.read(&fresh);
            for (id, reading) in second {
                if let Some(first) = current.insert(id.clone(), reading) {
                    self.previous.insert(id, first);
                }
            }
        }
        let map = current
            .iter()
            .filter_map(|(id, now)| {
                let before = self.previous.get(id)?;
                Some((id.clone(), self.summarise(before, now)))
            })
            .collect();
        // Instances that are gone are forgotten with their counters.
        self.previous = current;
        map
    }

    /// Refreshes the given trees' processes and reads their counters.
    fn read(&mut self, trees: &[(String, Vec<i32>)]) -> HashMap<String, Reading> {
        let pids: Vec<Pid> = trees
            .iter()
            .flat_map(|(_, tree)| tree.iter())
            .filter_map(|&pid| u32::try_from(pid).ok().map(Pid::from_u32))
            .collect();
        let mut kind = ProcessRefreshKind::nothing().with_cpu().with_memory();
        if self.settings.disk {
            kind = kind.with_disk_usage();
        }
        // A fresh process table each time: the counters are cumulative anyway, and a table
        // kept across refreshes would keep every process it ever saw (one per tool run).
        if let Ok(fresh) = System::new() {
            self.system = fresh;
        }
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::Some(&pids), true, kind);
        let at = Instant::now();
        trees
            .iter()
            .map(|(id, tree)| {
                let procs = tree
                    .iter()
                    .filter_map(|&pid| {
                        let pid = u32::try_from(pid).ok()?;
                        let process = self.system.process(Pid::from_u32(pid))?;
                        let disk = process.disk_usage();
                        Some((
                            (pid, process.start_time()),
                            Counters {
                                cpu_ms: process.accumulated_cpu_time(),
                                read: disk.total_read_bytes,
                                written: disk.total_written_bytes,
                                rss: process.memory(),
                            },
                        ))
                    })
                    .collect();
                let disk_readable = self.settings.disk
                    && std::fs::File::open(format!("/proc/{}/io", tree[0])).is_ok();
                (
                    id.clone(),
                    Reading {
                        at,
                        procs,
                        disk_readable,
                    },
                )
            })
            .collect()
    }

    fn summarise(&self, before: &Reading, now: &Reading) -> Metrics {
        let wall = now.at.duration_since(before.at).as_secs_f64().max(1e-3);
        let (mut cpu_ms, mut read, mut written) = (0_u64, 0_u64, 0_u64);
        for (key, counters) in &now.procs {
            // Processes present in only one of the two readings are left out of the delta.
            if let Some(old) = before.procs.get(key) {
                cpu_ms += counters.cpu_ms.saturating_sub(old.cpu_ms);
                read += counters.read.saturating_sub(old.read);
                written += counters.written.saturating_sub(old.written);
            }
        }
        #[allow(clippy::cast_precision_loss)] // CPU milliseconds and byte counts fit easily
        let (cpu_s, read_f, written_f) = (cpu_ms as f64 / 1000.0, read as f64, written as f64);
        let mut percent = cpu_s / wall * 100.0;
        if self.settings.normalize_cpu {
            percent /= self.cores;
        }
        let disk = now.disk_readable;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // non-negative rates
        let rate = |bytes: f64| disk.then(|| (bytes / wall).round() as u64);
        Metrics {
            running: true,
            procs: now.procs.len() as u64,
            cpu_percent: (percent * 10.0).round() / 10.0,
            cpu_normalized: self.settings.normalize_cpu,
            rss_bytes: now.procs.values().map(|c| c.rss).sum(),
            disk_read_bps: rate(read_f),
            disk_write_bps: rate(written_f),
        }
    }
}

/// The root still has its recorded start identity (bridges.md §16 without a command-line
/// gate): a recycled pid is not sampled.
fn still_ours(recorded: &StartIdentity) -> bool {
    let Some(observed) = read_identity(recorded.pid).ok().flatten() else {
        return false;
    };
    if observed.stat.pid != recorded.pid || observed.stat.is_defunct() {
        return false;
    }
    match recorded.start_ticks {
        Some(ticks) => ticks == observed.stat.start_ticks,
        None => match (recorded.proc_start, observed.proc_start) {
            (Some(a), Some(b)) => (a - b).abs() <= 1.0,
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clauster_pty::proc::start_identity_of;

    fn own_target() -> Target {
        let observed = read_identity(i32::try_from(std::process::id()).unwrap())
            .unwrap()
            .unwrap();
        Target {
            id: "me".into(),
            root: start_identity_of(&observed),
        }
    }

    fn settings() -> SampleSettings {
        SampleSettings {
            normalize_cpu: false,
            disk: true,
            first_gap: Duration::from_millis(150),
        }
    }

    #[test]
    fn a_busy_process_shows_cpu_and_memory_on_first_sight() {
        let mut sampler = Sampler::new(settings()).unwrap();
        let busy = std::thread::spawn(|| {
            let start = Instant::now();
            let mut x = 0_u64;
            while start.elapsed() < Duration::from_millis(400) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        });
        let map = sampler.refresh(&[own_target()]);
        busy.join().unwrap();
        let me = &map["me"];
        assert!(me.running);
        assert!(me.procs >= 1);
        assert!(me.cpu_percent > 0.0, "{me:?}");
        assert!(me.rss_bytes > 0);
        assert!(!me.cpu_normalized);
        assert!(me.disk_read_bps.is_some());
        // The second refresh uses the previous one as its base and drops what left.
        assert!(sampler.refresh(&[own_target()]).contains_key("me"));
        assert!(sampler.refresh(&[]).is_empty());
        assert!(sampler.previous.is_empty());
    }

    #[test]
    fn a_recycled_pid_is_not_sampled() {
        let mut target = own_target();
        target.root.start_ticks = target.root.start_ticks.map(|t| t + 1);
        let mut sampler = Sampler::new(settings()).unwrap();
        assert!(sampler.refresh(&[target]).is_empty());
    }

    #[test]
    fn disk_off_gives_null_rates_and_normalize_is_reported() {
        let mut sampler = Sampler::new(SampleSettings {
            normalize_cpu: true,
            disk: false,
            first_gap: Duration::from_millis(20),
        })
        .unwrap();
        let map = sampler.refresh(&[own_target()]);
        let me = &map["me"];
        assert!(me.cpu_normalized);
        assert_eq!((me.disk_read_bps, me.disk_write_bps), (None, None));
    }
}
