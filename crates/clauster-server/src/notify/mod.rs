//! Notifications (issue 22, notifications.md): webhooks and Apprise URLs, fed from the
//! engine's frames and delivered off the engine.
//!
//! One task follows `Engine::subscribe` and turns instance and login frames into notices
//! (`clauster_core::notify::tracker`); it only enqueues, so it never waits on a network.
//! Every target (a webhook URL, an Apprise URL) has its own bounded queue — full, the oldest
//! notice is dropped and counted — and its own worker with retries, back-off and a circuit
//! breaker (`deliver.rs`). The last [`LOG_LEN`] outcomes are the delivery log
//! (`GET /api/notifications/deliveries`, `routes.rs`).

mod deliver;
pub mod push;
pub mod push_routes;
pub mod routes;

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use clauster_core::config::Config;
use clauster_core::notify::apprise::{AppriseTarget, ServiceHosts, mask_url};
use clauster_core::notify::tracker::{Observed, Tracker};
use clauster_core::notify::{Notice, NotifyEvent, PeopleFilter};
use clauster_wire::Frame;
use tokio::sync::broadcast::error::RecvError;

use crate::engine::Engine;

/// Notices waiting per target; a full queue drops its oldest.
pub const QUEUE_LEN: usize = 64;
/// Outcomes kept for the delivery log.
pub const LOG_LEN: usize = 100;
/// The file that keeps the muted projects (notifications.md §6).
const MUTE_FILE: &str = "notifications-muted.json";

/// What a target is.
#[derive(Debug)]
enum Channel {
    Webhook {
        url: String,
        events: BTreeSet<NotifyEvent>,
    },
    Apprise(AppriseTarget),
    /// Every Web Push subscription (§8): one queue, one delivery per device.
    Push,
}

/// One delivery target and its queue.
#[derive(Debug)]
struct Target {
    channel: Channel,
    masked: String,
    queue: Mutex<VecDeque<Notice>>,
    wake: tokio::sync::Notify,
    dropped: AtomicU64,
    breaker: Mutex<clauster_core::notify::breaker::Breaker>,
}

impl Target {
    fn new(channel: Channel, masked: String) -> Arc<Self> {
        Arc::new(Self {
            channel,
            masked,
            queue: Mutex::new(VecDeque::with_capacity(QUEUE_LEN)),
            wake: tokio::sync::Notify::new(),
            dropped: AtomicU64::new(0),
            breaker: Mutex::new(clauster_core::notify::breaker::Breaker::default()),
        })
    }

    fn channel_name(&self) -> &'static str {
        match self.channel {
            Channel::Webhook { .. } => "webhook",
            Channel::Apprise(_) => "apprise",
            Channel::Push => "push",
        }
    }

    /// Queues `notice`, dropping the oldest when full; never waits.
    fn push(&self, notice: Notice) {
        {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.len() >= QUEUE_LEN {
                queue.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            queue.push_back(notice);
        }
        self.wake.notify_one();
    }
}

/// One outcome in the delivery log.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Delivery {
    pub at: String,
    pub channel: &'static str,
    /// Masked: scheme and host only.
    pub target: String,
    pub event: &'static str,
    pub project: Option<String>,
    /// `delivered`, `failed` or `skipped`.
    pub outcome: &'static str,
    pub attempts: u32,
    /// The last HTTP status, when there was an answer.
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

/// A delivery skipped because its target's breaker is open.
fn is_breaker_skip(delivery: &Delivery) -> bool {
    delivery.outcome == "skipped"
        && delivery
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("circuit open"))
}

#[derive(Debug)]
struct Shared {
    targets: Vec<Arc<Target>>,
    /// The delivery log, each line with how many circuit-open skips it stands for.
    log: Mutex<VecDeque<(Delivery, u32)>>,
    muted: Mutex<BTreeSet<String>>,
    mute_file: PathBuf,
    /// `notifications.notify_on_*`; the settings editor replaces it live (config.md §8.4).
    people: Mutex<PeopleFilter>,
    /// The monotonic zero of the breakers' clocks.
    epoch: Instant,
    /// Frames the follower missed because it fell behind (never expected).
    lagged: AtomicU64,
    settings: deliver::Settings,
    /// Web Push: the devices and the VAPID key (§8).
    push: push::Devices,
}

impl crate::state::AppState {
    /// Notifications: the targets, their queues and the delivery log (notifications.md).
    pub fn notify(&self) -> &NotifyService {
        self.feature()
    }
}

/// The notification service; cheap to clone.
#[derive(Clone, Debug)]
pub struct NotifyService {
    shared: Arc<Shared>,
}

impl NotifyService {
    /// Builds the targets from the config (a URL that cannot be delivered is logged once and
    /// left out: the doctor names it) and starts their workers.
    pub fn new(config: &Config, hosts: &ServiceHosts) -> Self {
        let mut targets = Vec::new();
        if config.webhooks.enabled {
            for url in &config.webhooks.urls {
                targets.push(Target::new(
                    Channel::Webhook {
                        url: url.clone(),
                        events: config.webhooks.events.clone(),
                    },
                    mask_url(url),
                ));
            }
        }
        if config.notifications.enabled {
            for url in &config.notifications.urls {
                match AppriseTarget::parse(url, hosts) {
                    Ok(target) => {
                        let masked = target.masked().to_owned();
                        targets.push(Target::new(Channel::Apprise(target), masked));
                    }
                    Err(err) => tracing::warn!("{err}"),
                }
            }
        }
        // One target for every push device; it has work only while devices subscribe.
        targets.push(Target::new(Channel::Push, "push".to_owned()));
        let mute_file = config.state_dir.join(MUTE_FILE);
        let muted = read_muted(&mute_file);
        let service = Self {
            shared: Arc::new(Shared {
                targets,
                log: Mutex::new(VecDeque::with_capacity(LOG_LEN)),
                muted: Mutex::new(muted),
                mute_file,
                people: Mutex::new(config.notifications.filter),
                epoch: Instant::now(),
                lagged: AtomicU64::new(0),
                settings: deliver::Settings::from_config(config),
                push: push::Devices::new(
                    &config.state_dir,
                    &config.root_path,
                    &config.notifications,
                ),
            }),
        };
        for target in &service.shared.targets {
            deliver::spawn_worker(Arc::downgrade(&service.shared), Arc::clone(target));
        }
        service
    }

    /// Takes a saved `notifications.notify_on_*` at once (config.md §8.4).
    pub fn set_people(&self, filter: PeopleFilter) {
        *self
            .shared
            .people
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = filter;
    }

    /// Follows the engine's frames for as long as the engine publishes them.
    pub fn follow(&self, engine: &Engine) {
        // The push target is always there; without URLs and without the browser channel
        // nothing could ever be delivered.
        if self.shared.targets.len() == 1 && !self.shared.push.enabled {
            return;
        }
        let mut frames = engine.subscribe();
        // A login answer that came before the subscription is not missed: what the cache
        // says now goes first (the frame that may follow says the same and is dropped).
        let login_now = engine.claude_health().login_ok;
        let shared = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            let mut tracker = Tracker::new();
            if let (Some(notice), Some(shared)) = (
                tracker.login(login_now, &crate::time::now_rfc3339()),
                shared.upgrade(),
            ) {
                Self { shared }.dispatch(&notice);
            }
            loop {
                let frame = match frames.recv().await {
                    Ok(frame) => frame,
                    Err(RecvError::Lagged(missed)) => {
                        let Some(shared) = shared.upgrade() else {
                            return;
                        };
                        shared.lagged.fetch_add(missed, Ordering::Relaxed);
                        tracing::warn!("notifications missed {missed} engine frames");
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let service = Self { shared };
                for notice in notices(&mut tracker, &frame) {
                    service.dispatch(&notice);
                }
            }
        });
    }

    /// Whether the `notify_on_*` switches let `notice` reach people.
    fn admits(&self, notice: &Notice) -> bool {
        self.shared
            .people
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admits(notice)
    }

    /// Queues `notice` on every target that wants it.
    fn dispatch(&self, notice: &Notice) {
        let muted = notice.project.as_ref().is_some_and(|project| {
            self.shared
                .muted
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(project)
        });
        for target in &self.shared.targets {
            let wanted = match &target.channel {
                Channel::Webhook { events, .. } => {
                    notice.event == NotifyEvent::Test || events.contains(&notice.event)
                }
                Channel::Apprise(_) => !muted && self.admits(notice),
                Channel::Push => {
                    self.shared.push.enabled
                        && self.shared.push.count() > 0
                        && !muted
                        && self.admits(notice)
                }
            };
            if wanted {
                target.push(notice.clone());
            }
        }
    }

    /// Queues a test notice on every target; how many deliveries that makes (each push
    /// device is one).
    pub fn test(&self) -> usize {
        let notice = Notice::bare(
            NotifyEvent::Test,
            crate::time::now_rfc3339(),
            Some("a test from Clauster: this channel works".to_owned()),
        );
        self.dispatch(&notice);
        let devices = if self.shared.push.enabled {
            self.shared.push.count()
        } else {
            0
        };
        self.shared.targets.len() - 1 + devices
    }

    /// Web Push's devices and key.
    pub fn push(&self) -> &push::Devices {
        &self.shared.push
    }

    /// The delivery log, newest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        let log = self
            .shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        log.iter()
            .rev()
            .map(|(delivery, _)| delivery.clone())
            .collect()
    }

    /// Each target's state for the log: channel, masked URL, breaker, queued, dropped.
    fn target_states(&self) -> Vec<serde_json::Value> {
        let now = self.now_ms();
        self.shared
            .targets
            .iter()
            .filter(|target| !matches!(target.channel, Channel::Push) || self.shared.push.enabled)
            .map(|target| {
                let queued = target
                    .queue
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len();
                let breaker = target
                    .breaker
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .state(now);
                serde_json::json!({
                    "channel": target.channel_name(),
                    "target": target.masked,
                    "breaker": breaker.as_str(),
                    "queued": queued,
                    "dropped": target.dropped.load(Ordering::Relaxed),
                })
            })
            .collect()
    }

    fn dropped(&self) -> u64 {
        self.shared
            .targets
            .iter()
            .map(|t| t.dropped.load(Ordering::Relaxed))
            .sum()
    }

    fn now_ms(&self) -> u64 {
        self.shared.now_ms()
    }

    /// The muted projects, sorted.
    pub fn muted(&self) -> Vec<String> {
        self.shared
            .muted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    pub fn is_muted(&self, project: &str) -> bool {
        self.shared
            .muted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(project)
    }

    /// Mutes or unmutes `project` and writes the list (0600). Blocking: call off the
    /// async workers.
    fn set_muted(&self, project: &str, muted: bool) -> std::io::Result<()> {
        let list: Vec<String> = {
            let mut set = self
                .shared
                .muted
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if muted {
                set.insert(project.to_owned());
            } else {
                set.remove(project);
            }
            set.iter().cloned().collect()
        };
        let text = serde_json::json!({ "muted": list }).to_string();
        crate::state_files::write_private(&self.shared.mute_file, text.as_bytes())
    }
}

impl Shared {
    /// Milliseconds on the breakers' monotonic clock.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn record(&self, delivery: Delivery) {
        if delivery.outcome == "delivered" {
            tracing::debug!(
                target = %delivery.target, event = delivery.event, "notification delivered"
            );
        } else {
            tracing::warn!(
                target = %delivery.target,
                event = delivery.event,
                outcome = delivery.outcome,
                error = delivery.error.as_deref().unwrap_or(""),
                "notification not delivered"
            );
        }
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        // An open breaker skips every delivery to its target: one line says so, with the
        // count, instead of filling the 100 lines (notifications.md §4.4).
        if let Some((last, in_a_row)) = log.back_mut()
            && is_breaker_skip(last)
            && is_breaker_skip(&delivery)
            && last.target == delivery.target
        {
            *in_a_row += 1;
            *last = Delivery {
                error: delivery
                    .error
                    .map(|e| format!("{e} ({in_a_row} deliveries skipped in a row)")),
                ..delivery
            };
            return;
        }
        if log.len() >= LOG_LEN {
            log.pop_front();
        }
        log.push_back((delivery, 1));
    }
}

/// The muted projects kept in `path`; missing or unreadable is none.
fn read_muted(path: &std::path::Path) -> BTreeSet<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeSet::new();
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|value| {
            value["muted"].as_array().map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// The notices one frame means.
fn notices(tracker: &mut Tracker, frame: &Frame) -> Vec<Notice> {
    let at = crate::time::now_rfc3339();
    match frame {
        Frame::Instance { instance } => {
            let observed = Observed {
                instance_id: instance.instance_id.clone(),
                project: instance.project.clone(),
                label: instance.label.clone(),
                status: instance.status.clone(),
                launch_count: instance.launch_count,
                intentional_stop: instance.intentional_stop,
                error_kind: instance.error_kind.clone(),
                error_detail: instance.error_detail.clone(),
                resume_mode: instance.resume_mode.clone(),
                spawn_mode: instance.spawn_mode.clone(),
                restart_pending: instance.next_restart_at.is_some(),
            };
            let now_ms = crate::time::unix_millis(&at)
                .and_then(|ms| u64::try_from(ms).ok())
                .unwrap_or(0);
            tracker.instance(&observed, now_ms, &at)
        }
        Frame::InstanceRemoved { instance_id } => {
            tracker.removed(instance_id);
            Vec::new()
        }
        Frame::Login(login) => tracker
            .login(Some(login.claude_login_ok), &at)
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}
