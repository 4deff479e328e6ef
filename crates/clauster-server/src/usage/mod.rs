//! The usage service (data.md §1): per-project incremental rollups of Claude Code
//! transcripts, kept current by a debounced file watcher on the transcript directories,
//! published as `usage` frames and served by `GET /api/projects/{name}/usage`.
//!
//! The pure rules (parsing, de-duplication, pricing, read plans, location) live in
//! `clauster_core::usage`; this module does the IO and the scheduling around them.

pub(crate) mod routes;
mod scan;
pub(crate) mod transcripts;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use clauster_core::config::{Config, UsageMode};
use clauster_core::usage::location::{ClaudeDirInputs, ProjectLocation, TranscriptRoots};
use clauster_core::usage::{DayUsage, Nanodollars, PriceTable, ProjectUsage, UsageTotals};
use clauster_wire::{Frame, ModelUsage, TokenBreakdown, Usage, UsageDay, UsageDayTotals};
use tokio::sync::{Semaphore, mpsc};

use crate::engine::Engine;
use crate::projects::{self, Discovered};

pub use routes::routes;
pub(crate) use routes::{live_sessions, lookup, session_list};
pub use scan::RootError;

impl crate::state::AppState {
    /// The transcript rollup (data.md §1).
    pub fn usage(&self) -> &UsageService {
        self.feature()
    }
}

/// Cold computations run on at most this many blocking threads at a time (§1.6).
const MAX_CONCURRENT: usize = 2;

/// Without a fresh notification, a request re-stats a project's files at most this often.
const SWEEP_INTERVAL: Duration = Duration::from_secs(2);

/// Notifications are collected this long before the affected projects are refreshed.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Handle to the usage service; clones share it.
#[derive(Clone, Debug)]
pub struct UsageService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    enabled: bool,
    prices: Arc<PriceTable>,
    roots: TranscriptRoots,
    projects_root: PathBuf,
    engine: Engine,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
    /// The last rollup of every project computed so far: the snapshot's `usage` map.
    published: RwLock<BTreeMap<String, Usage>>,
    permits: Semaphore,
    transcripts: transcripts::Cache,
    /// Bumped on every file notification, before the debounce: a request arriving in
    /// between sweeps again instead of answering from the stale cache.
    generation: AtomicU64,
    /// Every changed path, as the watcher sees it (no debounce): the transcript viewer's
    /// live sockets filter it for their file.
    changes: tokio::sync::broadcast::Sender<Arc<Path>>,
}

#[derive(Debug)]
struct Slot {
    files: Option<scan::ProjectFiles>,
    swept_at: Option<Instant>,
    /// [`Inner::generation`] at the last sweep: a notification since means stale.
    generation: u64,
}

impl UsageService {
    /// Builds the service from the configuration; `home` and `server_config_dir` are the
    /// server's `HOME` and `CLAUDE_CONFIG_DIR`.
    pub fn new(
        config: &Config,
        home: &Path,
        server_config_dir: Option<&Path>,
        engine: Engine,
    ) -> Self {
        let env_config_dir = config
            .claude
            .env
            .get("CLAUDE_CONFIG_DIR")
            .map(PathBuf::from);
        let roots = ClaudeDirInputs {
            home,
            env_config_dir: env_config_dir.as_deref(),
            configured_config_dir: config.claude.config_dir.as_deref(),
            server_config_dir,
            reported_config_dir: None,
            reported_projects_dir: None,
        }
        .transcript_roots();
        Self {
            inner: Arc::new(Inner {
                enabled: config.usage.mode != UsageMode::Off,
                prices: Arc::new(price_table(config)),
                roots,
                projects_root: config.projects_root.clone(),
                engine,
                slots: Mutex::default(),
                published: RwLock::default(),
                permits: Semaphore::new(MAX_CONCURRENT),
                transcripts: transcripts::Cache::default(),
                generation: AtomicU64::new(0),
                changes: tokio::sync::broadcast::channel(256).0,
            }),
        }
    }

    /// Whether `usage.mode` is not `off`.
    pub fn enabled(&self) -> bool {
        self.inner.enabled
    }

    /// The snapshot's `usage` map: every rollup computed so far.
    pub fn published(&self) -> BTreeMap<String, Usage> {
        self.inner
            .published
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Starts the watcher and the background computation of every project in name order.
    /// Does nothing when `usage.mode` is `off`. Call once, inside the runtime.
    pub fn start(&self) {
        if !self.inner.enabled {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let service = self.clone();
        tokio::spawn(async move {
            service.warm_up().await;
        });
        let service = self.clone();
        tokio::spawn(async move { service.watch(tx, rx).await });
    }

    /// Computes every project once, in name order, so sorting by cost works early.
    async fn warm_up(&self) {
        let Some(all) = self.discover().await else {
            return;
        };
        for project in all.iter() {
            if let Err(err) = self.rollup(project, &all, false).await {
                tracing::warn!("usage rollup of {} failed: {err}", project.name.as_str());
            }
        }
    }

    async fn discover(&self) -> Option<Arc<Vec<Discovered>>> {
        let root = self.inner.projects_root.clone();
        match tokio::task::spawn_blocking(move || projects::discover(&root)).await {
            Ok(Ok(all)) => Some(Arc::new(all)),
            Ok(Err(err)) => {
                tracing::warn!("usage: cannot list projects_root: {err}");
                None
            }
            Err(_) => None,
        }
    }

    /// The project's rollup, brought up to date when a notification arrived since the last
    /// sweep or the last sweep is older than [`SWEEP_INTERVAL`]. A request for a project
    /// being computed waits for that computation. Publishes a `usage` frame when it changed.
    pub async fn rollup(
        &self,
        project: &Discovered,
        all: &Arc<Vec<Discovered>>,
        force: bool,
    ) -> Result<Usage, RootError> {
        let name = project.name.as_str().to_owned();
        if !self.inner.enabled {
            return Ok(zero_usage(&name, &self.inner.prices));
        }
        let slot = {
            let mut slots = self
                .inner
                .slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Arc::clone(slots.entry(name.clone()).or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Slot {
                    files: None,
                    swept_at: None,
                    generation: 0,
                }))
            }))
        };
        let mut guard = slot.lock_owned().await;
        let generation = self.inner.generation.load(Ordering::SeqCst);
        let fresh = guard
            .swept_at
            .is_some_and(|at| at.elapsed() < SWEEP_INTERVAL);
        if !force
            && guard.generation == generation
            && fresh
            && let Some(usage) = self.cached(&name)
        {
            return Ok(usage);
        }
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let inner = Arc::clone(&self.inner);
        let project = project.clone();
        let all = Arc::clone(all);
        let (guard_back, totals) = tokio::task::spawn_blocking(move || {
            let slot = &mut *guard;
            slot.generation = generation;
            let files = slot.files.get_or_insert_with(|| {
                scan::ProjectFiles::new(ProjectUsage::new(Arc::clone(&inner.prices)))
            });
            let result = files.refresh(&inner.roots, &project, &all);
            slot.swept_at = Some(Instant::now());
            let totals = result.map(|()| files.usage.totals());
            (guard, totals)
        })
        .await
        .expect("the usage refresh does not panic");
        drop(guard_back);
        let usage = to_wire(&name, &totals?);
        self.publish_if_changed(&name, &usage);
        Ok(usage)
    }

    /// The project's usage by UTC day from `since` to `until` (days since 1970-01-01,
    /// inclusive), brought up to date as [`UsageService::rollup`] does (issue 24).
    pub async fn daily(
        &self,
        project: &Discovered,
        all: &Arc<Vec<Discovered>>,
        since: Option<i64>,
        until: Option<i64>,
    ) -> Result<(Vec<DayUsage>, String), RootError> {
        let date = self.inner.prices.date().to_owned();
        if !self.inner.enabled {
            return Ok((Vec::new(), date));
        }
        self.rollup(project, all, false).await?;
        let Some(slot) = self.slot(project.name.as_str()) else {
            return Ok((Vec::new(), date));
        };
        let guard = slot.lock().await;
        let days = guard
            .files
            .as_ref()
            .map(|files| files.usage.daily(since, until))
            .unwrap_or_default();
        Ok((days, date))
    }

    /// The project's slot, once a rollup made one.
    fn slot(&self, name: &str) -> Option<Arc<tokio::sync::Mutex<Slot>>> {
        self.inner
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    fn cached(&self, name: &str) -> Option<Usage> {
        self.inner
            .published
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    fn publish_if_changed(&self, name: &str, usage: &Usage) {
        let changed = {
            let mut published = self
                .inner
                .published
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if published.get(name) == Some(usage) {
                false
            } else {
                published.insert(name.to_owned(), usage.clone());
                true
            }
        };
        if changed {
            self.inner.engine.publish(Frame::Usage {
                project: name.to_owned(),
                usage: usage.clone(),
            });
        }
    }

    /// Refreshes the projects owning any of the slug directories `names` (or all of them),
    /// which publishes what changed.
    async fn refresh_dirs(&self, names: &BTreeSet<String>, everything: bool) {
        let Some(all) = self.discover().await else {
            return;
        };
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        for project in all.iter() {
            let location = ProjectLocation {
                canonical: project.canonical.clone(),
                configured: project.path.clone(),
            };
            if (everything || !location.claim_dirs(&refs).is_empty())
                && let Err(err) = self.rollup(project, &all, true).await
            {
                tracing::warn!("usage rollup of {} failed: {err}", project.name.as_str());
            }
        }
    }

    /// Watches the transcript roots (recursively) and refreshes the projects whose
    /// directories changed, [`DEBOUNCE`] after the first notification of a burst. A root
    /// that does not exist yet is looked for again every [`SWEEP_INTERVAL`].
    async fn watch(
        self,
        tx: mpsc::UnboundedSender<PathBuf>,
        mut rx: mpsc::UnboundedReceiver<PathBuf>,
    ) {
        let mut roots: Vec<PathBuf> = vec![self.inner.roots.projects.clone()];
        roots.extend(self.inner.roots.legacy.clone());
        let sender = tx.clone();
        let inner = Arc::clone(&self.inner);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Our own reads open the files (inotify `OPEN`, `CLOSE_NOWRITE`); only a
            // change of content or of the directory tree is worth a refresh.
            if let Ok(event) = event
                && crate::watch::is_change(event.kind)
            {
                inner.generation.fetch_add(1, Ordering::SeqCst);
                for path in event.paths {
                    let _ = inner.changes.send(Arc::from(path.as_path()));
                    let _ = sender.send(path);
                }
            }
        });
        let mut watcher = match watcher {
            Ok(watcher) => Some(watcher),
            Err(err) => {
                tracing::warn!(
                    "usage: cannot watch transcripts ({err}); requests re-read at most every 2 s"
                );
                None
            }
        };
        let mut watched: Vec<PathBuf> = Vec::new();
        loop {
            if let Some(watcher) = watcher.as_mut() {
                let mut added = false;
                for root in &roots {
                    if !watched.contains(root) && root.is_dir() {
                        use notify::Watcher as _;
                        if watcher
                            .watch(root, notify::RecursiveMode::Recursive)
                            .is_ok()
                        {
                            watched.push(root.clone());
                            added = true;
                        }
                    }
                }
                if added {
                    // Whatever was written before the watch began.
                    self.refresh_dirs(&BTreeSet::new(), true).await;
                }
            }
            let first = tokio::time::timeout(SWEEP_INTERVAL, rx.recv()).await;
            let mut dirs = BTreeSet::new();
            match first {
                Ok(None) => return,
                Err(_) => continue,
                Ok(Some(path)) => self.note_dir(&roots, &path, &mut dirs),
            }
            tokio::time::sleep(DEBOUNCE).await;
            while let Ok(path) = rx.try_recv() {
                self.note_dir(&roots, &path, &mut dirs);
            }
            if !dirs.is_empty() {
                self.refresh_dirs(&dirs, false).await;
            }
        }
    }

    /// Records the slug directory (first component below a root) a notification is about.
    #[allow(clippy::unused_self)]
    fn note_dir(&self, roots: &[PathBuf], path: &Path, dirs: &mut BTreeSet<String>) {
        for root in roots {
            if let Ok(rest) = path.strip_prefix(root)
                && let Some(first) = rest.components().next()
                && let Some(name) = first.as_os_str().to_str()
            {
                dirs.insert(name.to_owned());
            }
        }
    }

    /// The conversation list of §1.8.
    pub(crate) fn transcripts_cache(&self) -> &transcripts::Cache {
        &self.inner.transcripts
    }

    /// Changed paths below the transcript roots, as they are noticed.
    pub(crate) fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<Arc<Path>> {
        self.inner.changes.subscribe()
    }

    pub(crate) fn prices(&self) -> &Arc<PriceTable> {
        &self.inner.prices
    }

    /// What the rollup counted per file of the project (brought up to date first); empty when
    /// it cannot be read.
    pub(crate) async fn file_totals(
        &self,
        project: &Discovered,
        all: &Arc<Vec<Discovered>>,
    ) -> HashMap<PathBuf, clauster_core::usage::FileTotals> {
        if !self.inner.enabled || self.rollup(project, all, false).await.is_err() {
            return HashMap::new();
        }
        let Some(slot) = self.slot(project.name.as_str()) else {
            return HashMap::new();
        };
        let guard = slot.lock().await;
        let Some(files) = guard.files.as_ref() else {
            return HashMap::new();
        };
        files
            .usage
            .paths()
            .into_iter()
            .filter_map(|path| {
                files
                    .usage
                    .file_totals(path)
                    .map(|totals| (path.to_path_buf(), totals))
            })
            .collect()
    }

    pub(crate) fn roots(&self) -> &TranscriptRoots {
        &self.inner.roots
    }

    pub(crate) fn projects_root(&self) -> &Path {
        &self.inner.projects_root
    }
}

/// The built-in table plus `usage.prices`; a value that rounding changed is a startup
/// warning, an invalid one falls back to the built-in table.
fn price_table(config: &Config) -> PriceTable {
    let overrides = config
        .usage
        .prices
        .iter()
        .map(|(model, p)| (model.clone(), *p));
    match PriceTable::builtin().with_overrides(overrides) {
        Ok((table, rounded)) => {
            for note in rounded {
                tracing::warn!("{note}");
            }
            table
        }
        Err(err) => {
            tracing::warn!("{err}; using the built-in price table");
            PriceTable::builtin()
        }
    }
}

fn zero_usage(project: &str, prices: &PriceTable) -> Usage {
    Usage {
        project: project.to_owned(),
        transcripts: 0,
        messages: 0,
        total_tokens: 0,
        token_breakdown: TokenBreakdown::default(),
        cost_usd: 0.0,
        approximate: true,
        unpriced_models: Vec::new(),
        fallback_priced_models: Vec::new(),
        by_model: BTreeMap::new(),
        duplicates_skipped: 0,
        ambiguous_transcripts: 0,
        unreadable_files: 0,
        price_table_date: prices.date().to_owned(),
    }
}

/// The days of the per-day answer and their sum (exact, then rounded once).
fn days_to_wire(days: &[DayUsage]) -> (Vec<UsageDay>, UsageDayTotals) {
    let mut tokens = TokenBreakdown::default();
    let (mut messages, mut cost) = (0_u64, 0_u128);
    let wire = days
        .iter()
        .map(|day| {
            messages += day.messages;
            cost += day.cost.0;
            tokens.input += day.tokens.input;
            tokens.output += day.tokens.output;
            tokens.cache_creation += day.tokens.cache_creation;
            tokens.cache_read += day.tokens.cache_read;
            tokens.cache_creation_5m += day.tokens.cache_creation_5m;
            tokens.cache_creation_1h += day.tokens.cache_creation_1h;
            UsageDay {
                date: day.date.clone(),
                messages: day.messages,
                total_tokens: day.tokens.total(),
                token_breakdown: day.tokens,
                cost_usd: day.cost.usd_4dp(),
                models: day.models.clone(),
            }
        })
        .collect();
    let total = UsageDayTotals {
        messages,
        total_tokens: tokens.total(),
        token_breakdown: tokens,
        cost_usd: Nanodollars(cost).usd_4dp(),
    };
    (wire, total)
}

/// The §1.7 answer from the core's totals.
fn to_wire(project: &str, totals: &UsageTotals) -> Usage {
    Usage {
        project: project.to_owned(),
        transcripts: totals.transcripts,
        messages: totals.messages,
        total_tokens: totals.tokens.total(),
        token_breakdown: totals.tokens,
        cost_usd: totals.cost.usd_4dp(),
        approximate: true,
        unpriced_models: totals.unpriced_models.clone(),
        fallback_priced_models: totals.fallback_priced_models.clone(),
        by_model: totals
            .by_model
            .iter()
            .map(|(model, m)| {
                (
                    model.clone(),
                    ModelUsage {
                        total_tokens: m.tokens.total(),
                        cost_usd: m.cost.usd_4dp(),
                        messages: m.messages,
                    },
                )
            })
            .collect(),
        duplicates_skipped: totals.duplicates_skipped,
        ambiguous_transcripts: totals.discovery.ambiguous_transcripts,
        unreadable_files: totals.discovery.unreadable_files,
        price_table_date: totals.price_table_date.clone(),
    }
}

#[cfg(test)]
mod tests {
    /// The worked example of data.md §1.7 (one reply streamed as three lines) plus the
    /// same record without the 1-hour split in another file, as the route answers it.
    #[test]
    #[allow(
        clippy::float_cmp,
        reason = "the answer is exactly the double nearest the 4-decimal value"
    )]
    fn the_worked_example_as_the_wire_answer() {
        use std::path::Path;
        use std::sync::Arc;

        let line = |id: &str, split: bool| {
            let cache = if split {
                r#","cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":11715}"#
            } else {
                ""
            };
            format!(
                r#"{{"requestId":"r-{id}","timestamp":"2026-11-25T15:02:22.123Z","message":{{"id":"{id}","model":"claude-opus-4-8","usage":{{"input_tokens":6,"output_tokens":13,"cache_creation_input_tokens":11715,"cache_read_input_tokens":17228{cache}}}}}}}"#
            ) + "\n"
        };
        let mut usage = clauster_core::usage::ProjectUsage::new(Arc::new(
            clauster_core::usage::PriceTable::builtin(),
        ));
        let streamed = line("m1", true).repeat(3);
        usage.feed(Path::new("/p/a.jsonl"), streamed.as_bytes());
        let totals = usage.totals();
        let wire = super::to_wire("alpha", &totals);
        assert_eq!(wire.cost_usd, 0.1261);
        insta::assert_json_snapshot!("worked_example", wire);
        usage.feed(Path::new("/p/b.jsonl"), line("m2", false).as_bytes());
        let wire = super::to_wire("alpha", &usage.totals());
        assert_eq!(wire.by_model["claude-opus-4-8"].cost_usd, 0.2083);
        insta::assert_json_snapshot!("worked_example_plus_unsplit", wire);
    }
}
