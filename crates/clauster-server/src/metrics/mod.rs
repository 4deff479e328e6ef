//! Live metrics of running bridges (data.md §4, bridges.md §18) and the Prometheus endpoint
//! (http-api.md §9).
//!
//! A background task refreshes the cache every `metrics.poll_seconds` on a blocking thread
//! (the [`sample::Sampler`]), replaces it wholesale and publishes one `metrics` frame when it
//! changed. Another task counts `crashed` transitions on the engine's frames for
//! `clauster_bridge_crashes_total`.

mod prometheus;
mod routes;
mod sample;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use clauster_core::config::{Config, MetricsSettings};
use clauster_core::identity::StartIdentity;
use clauster_wire::{Frame, Instance, Metrics};
use tokio::sync::broadcast::error::RecvError;

use crate::engine::Engine;

pub use routes::router;

impl crate::state::AppState {
    /// The metrics cache and the crash counter (data.md §4, http-api.md §9).
    pub fn metrics(&self) -> &MetricsService {
        self.feature()
    }
}

/// Handle to the metrics service; clones share it.
#[derive(Clone, Debug)]
pub struct MetricsService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: MetricsSettings,
    engine: Engine,
    cache: RwLock<BTreeMap<String, Metrics>>,
    /// `crashed` transitions seen since start, by project.
    crashes: Mutex<BTreeMap<String, u64>>,
}

impl MetricsService {
    pub fn new(config: &Config, engine: Engine) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings: config.metrics.clone(),
                engine,
                cache: RwLock::default(),
                crashes: Mutex::default(),
            }),
        }
    }

    /// Whether `metrics.enabled`.
    pub fn enabled(&self) -> bool {
        self.inner.settings.enabled
    }

    /// The current cache: the snapshot's `metrics` map and `GET /api/metrics`.
    pub fn current(&self) -> BTreeMap<String, Metrics> {
        self.inner
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Crashes counted since start, by project.
    pub fn crashes(&self) -> BTreeMap<String, u64> {
        self.inner
            .crashes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Starts the crash counter and, when `metrics.enabled`, the sampling loop. Call once,
    /// inside the runtime.
    pub fn start(&self) {
        let service = self.clone();
        tokio::spawn(async move { service.count_crashes().await });
        if self.enabled() {
            let service = self.clone();
            tokio::spawn(async move { service.sample_forever().await });
        }
    }

    async fn sample_forever(&self) {
        let settings = &self.inner.settings;
        let period = Duration::from_secs_f64(settings.poll_seconds);
        let Some(mut sampler) = sample::Sampler::new(sample::SampleSettings {
            normalize_cpu: settings.normalize_cpu,
            disk: settings.show_disk,
            first_gap: Duration::from_secs_f64(settings.sample_interval_seconds),
        }) else {
            tracing::warn!("metrics: this platform gives no process information; sampling is off");
            return;
        };
        loop {
            let started = Instant::now();
            let targets = match self.inner.engine.list().await {
                Ok(all) => all.iter().filter_map(target).collect::<Vec<_>>(),
                // The engine is still rediscovering (or gone): try again next period.
                Err(_) => Vec::new(),
            };
            let Ok((back, map)) = tokio::task::spawn_blocking(move || {
                let map = sampler.refresh(&targets);
                (sampler, map)
            })
            .await
            else {
                tracing::warn!("metrics: the sampler panicked; sampling stops");
                return;
            };
            sampler = back;
            self.replace(map);
            let took = started.elapsed();
            if took > period {
                tracing::warn!(
                    "metrics: a refresh took {:.1} s, longer than metrics.poll_seconds ({:.1} s)",
                    took.as_secs_f64(),
                    period.as_secs_f64()
                );
            } else {
                tokio::time::sleep(period.saturating_sub(took)).await;
            }
        }
    }

    /// Replaces the cache wholesale; a changed map is pushed as one `metrics` frame.
    fn replace(&self, map: BTreeMap<String, Metrics>) {
        let changed = {
            let mut cache = self
                .inner
                .cache
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let changed = *cache != map;
            *cache = map.clone();
            changed
        };
        if changed {
            self.inner.engine.publish(Frame::Metrics { metrics: map });
        }
    }

    /// Counts transitions into `crashed` seen on the engine's frames.
    async fn count_crashes(&self) {
        let mut frames = self.inner.engine.subscribe();
        let mut statuses: HashMap<String, String> = HashMap::new();
        // What is already crashed at start is not a crash of this run.
        if let Ok(all) = self.inner.engine.list().await {
            for instance in all {
                statuses.insert(instance.instance_id, instance.status);
            }
        }
        loop {
            match frames.recv().await {
                Ok(frame) => {
                    if let Frame::Instance { instance } = frame.as_ref() {
                        let before =
                            statuses.insert(instance.instance_id.clone(), instance.status.clone());
                        if instance.status == "crashed" && before.as_deref() != Some("crashed") {
                            *self
                                .inner
                                .crashes
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .entry(instance.project.clone())
                                .or_default() += 1;
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    }
}

/// A running instance with a recorded bridge pid, as a sampling target.
fn target(instance: &Instance) -> Option<sample::Target> {
    if instance.status != "running" {
        return None;
    }
    let pid = i32::try_from(instance.bridge_pid?).ok()?;
    Some(sample::Target {
        id: instance.instance_id.clone(),
        root: StartIdentity {
            pid,
            start_ticks: instance
                .bridge_start_ticks
                .and_then(|t| u64::try_from(t).ok()),
            boot_id: None,
            proc_start: instance.bridge_proc_start,
        },
    })
}
