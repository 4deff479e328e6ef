//! The discovery cache: the last discovery for 2 s, a watcher on `projects_root` and Claude's
//! global file that invalidates it, and the `project` / `project_removed` frames of what a
//! discovery changed. Registered by `serve_on` as a feature service; the accessors below are
//! `AppState` methods so every handler reaches them the same way.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clauster_wire::{Frame, Project};

use crate::error::ApiError;
use crate::state::{AppState, WeakAppState};

type ProjectsCache = Mutex<Option<(Instant, Arc<Vec<Project>>)>>;

/// The discovery service (see the module comment).
#[derive(Debug)]
pub struct Discovery {
    /// The last discovery and when it ran (see [`AppState::cached_projects`]).
    cache: Arc<ProjectsCache>,
    /// Invalidates `cache` when a directory appears in or leaves `projects_root`, or Claude's
    /// global file (trust) changes, and wakes the rediscovery task; `None` where
    /// notifications are unavailable.
    _watcher: Option<notify::RecommendedWatcher>,
    /// The last discovery, which the next one is compared with to publish `project` and
    /// `project_removed` frames; `None` until the first. Held across a discovery, so
    /// discoveries run one at a time and their frames go out in order.
    known: Mutex<Option<Vec<Project>>>,
}

impl Discovery {
    /// The service, watching `root` and `global_file`, and the wake-ups that
    /// [`spawn_rediscovery`] consumes.
    pub fn start(root: &Path, global_file: &Path) -> (Self, tokio::sync::mpsc::Receiver<()>) {
        let cache = Arc::new(ProjectsCache::default());
        let (wake, woken) = tokio::sync::mpsc::channel(1);
        let watcher = watch_projects(root, global_file, Arc::clone(&cache), wake);
        let discovery = Self {
            cache,
            _watcher: watcher,
            known: Mutex::new(None),
        };
        (discovery, woken)
    }
}

/// Watches what discovery reads besides the project directories' insides. Every change
/// invalidates the cache; a change in `projects_root` or to the global file also sends a
/// wake-up on `wake` (a full channel already holds one, which is enough).
fn watch_projects(
    root: &Path,
    global_file: &Path,
    cache: Arc<ProjectsCache>,
    wake: tokio::sync::mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let watched_root = root.to_path_buf();
    let global_name = global_file.file_name().map(std::ffi::OsStr::to_os_string);
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        // Discovery reads what it watches; only a change invalidates (`watch::is_change`).
        if !crate::watch::is_change(event.kind) {
            return;
        }
        if let Ok(mut cache) = cache.lock() {
            *cache = None;
        }
        // The global file's directory is usually HOME, where much else changes.
        let relevant = event.paths.iter().any(|path| {
            path.starts_with(&watched_root)
                || global_name
                    .as_ref()
                    .is_some_and(|name| path.file_name() == Some(name.as_os_str()))
        });
        if relevant {
            let _ = wake.try_send(());
        }
    };
    let mut watcher = notify::recommended_watcher(handler).ok()?;
    watcher.watch(root, RecursiveMode::NonRecursive).ok()?;
    if let Some(dir) = global_file.parent() {
        // Best effort: trust written by claude itself.
        let _ = watcher.watch(dir, RecursiveMode::NonRecursive);
    }
    Some(watcher)
}

/// How long a discovery is served without looking at the disk again. Clauster's own changes
/// (trust, create, clone, CLAUDE.md) invalidate it at once; this bounds how long a change
/// made behind its back (a new directory, a `.git` appearing) takes to show.
const PROJECTS_FRESH: Duration = Duration::from_secs(2);

/// How long the rediscovery task lets a burst of watcher events settle before it looks:
/// `git clone` or `mkdir -p a/b` produce several events for one visible change.
const REDISCOVERY_SETTLE: Duration = Duration::from_millis(250);

/// Rediscovers the projects after each (settled) watcher wake-up, so a directory added or
/// removed behind Clauster's back reaches connected clients as a `project` /
/// `project_removed` frame (ui.md §14). Ends when the state is dropped: the watcher, and with
/// it the sender, go with it.
pub fn spawn_rediscovery(state: &AppState, mut wake: tokio::sync::mpsc::Receiver<()>) {
    let state: WeakAppState = state.downgrade();
    tokio::spawn(async move {
        while wake.recv().await.is_some() {
            tokio::time::sleep(REDISCOVERY_SETTLE).await;
            // Events that arrived while settling are covered by the discovery below.
            let _ = wake.try_recv();
            let Some(state) = state.upgrade() else { return };
            state.invalidate_projects();
            if let Err(err) = projects_blocking(state).await {
                tracing::debug!("rediscovery after a change in projects_root failed: {err:?}");
            }
        }
    });
}

impl AppState {
    fn discovery(&self) -> &Discovery {
        self.feature::<Discovery>()
    }

    /// Discovers the projects and describes each card, and publishes what changed since the
    /// previous discovery (`project` for new or changed cards, `project_removed` for gone
    /// ones), whoever caused the change. Blocking: call off the async workers.
    pub fn projects(&self) -> Result<Vec<Project>, ApiError> {
        let discovery = self.discovery();
        let mut known = discovery
            .known
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let list = self.discover_projects()?;
        let frames = known
            .as_deref()
            .map(|before| super::changes(before, &list))
            .unwrap_or_default();
        *known = Some(list.clone());
        if let Ok(mut cache) = discovery.cache.lock() {
            *cache = Some((Instant::now(), Arc::new(list.clone())));
        }
        // Pushed once served: a client told of a change lists it at once.
        let global = (!frames.is_empty())
            .then(|| crate::project_checks::read_global(self.claude_global_file()));
        for mut frame in frames {
            if let (Frame::Project { project, preflight }, Some(global)) = (&mut frame, &global) {
                *preflight = Some(crate::project_checks::check_project(project, global));
            }
            self.engine().publish(frame);
        }
        Ok(list)
    }

    /// The last discovery while it is fresh (at most [`PROJECTS_FRESH`] old).
    pub fn cached_projects(&self) -> Option<Arc<Vec<Project>>> {
        let cache = self.discovery().cache.lock().ok()?;
        let (at, list) = cache.as_ref()?;
        (at.elapsed() < PROJECTS_FRESH).then(|| Arc::clone(list))
    }

    /// Forgets the cached discovery after a change Clauster made itself.
    pub fn invalidate_projects(&self) {
        if let Ok(mut cache) = self.discovery().cache.lock() {
            *cache = None;
        }
    }

    fn discover_projects(&self) -> Result<Vec<Project>, ApiError> {
        let config = self.config();
        let root = &config.projects_root;
        let found = super::discover(root).map_err(|err| {
            ApiError::internal(format!(
                "cannot list projects_root {}: {err}; check that it exists and is readable",
                root.display()
            ))
        })?;
        let trusted = crate::trust::load_trusted(self.claude_global_file());
        Ok(found
            .iter()
            .map(|p| {
                let allow_bypass = config
                    .projects
                    .get(p.name.as_str())
                    .is_some_and(|s| s.allow_bypass_permissions);
                super::describe(p, &trusted, allow_bypass)
            })
            .collect())
    }
}

/// The projects, from the cache while it is fresh; discovery touches the filesystem, so it
/// runs off the async workers.
pub async fn projects_blocking(state: AppState) -> Result<Vec<Project>, ApiError> {
    if let Some(list) = state.cached_projects() {
        return Ok(list.as_ref().clone());
    }
    tokio::task::spawn_blocking(move || state.projects())
        .await
        .map_err(|_| ApiError::internal("project discovery panicked; see the server log"))?
}
