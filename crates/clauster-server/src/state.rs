//! The state every handler shares: the configuration, what is derived from it once, and the
//! engine handle.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use clauster_core::config::{Config, Secret};
use clauster_wire::{Frame, PageContext, Project};

use crate::ServeOptions;
use crate::engine::Engine;
use crate::error::ApiError;
use crate::projects;
use crate::trust;

/// What `serve` runs with: the validated configuration and the facts the CLI learned while
/// reading it.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub config: Config,
    /// The file the configuration came from; `None` means built-in defaults.
    pub config_file: Option<PathBuf>,
    /// `CLAUSTER_SESSION_SECRET` (checked to be ≥ 32 bytes); `None` means the server keeps its
    /// own key in `<state_dir>` (security.md §3).
    pub session_secret: Option<Secret>,
    /// What the file was read with — variables (their `_FILE` twins read), flags, home and
    /// working directory; `text` is left empty — so the settings editor validates an edited
    /// file exactly as a restart would (config.md §8.3).
    pub load_input: clauster_core::config::ConfigInput,
}

/// Cheap to clone: handlers receive it by value.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Swapped whole when the settings editor saves a key that applies live (config.md
    /// §8.4); readers take the current `Arc` and keep it for their request.
    config: std::sync::RwLock<Arc<Config>>,
    context: std::sync::RwLock<PageContext>,
    /// Fixed for the process (a restart key); kept apart so it can be borrowed.
    root_path: String,
    /// Claude's global config file, where trust lives (bridges.md §12.1).
    claude_global_file: PathBuf,
    options: ServeOptions,
    engine: Engine,
    /// The features' own services (usage rollup, metrics, clone jobs, …), one per type,
    /// registered by `serve_on`: the state knows no feature (see [`AppState::feature`]).
    features: axum::http::Extensions,
    /// The last discovery and when it ran (see [`AppState::cached_projects`]).
    projects: Arc<ProjectsCache>,
    /// Invalidates `projects` when a directory appears in or leaves `projects_root`, or
    /// Claude's global file (trust) changes, and wakes the rediscovery task; `None` where
    /// notifications are unavailable.
    _projects_watcher: Option<notify::RecommendedWatcher>,
    /// The last discovery, which the next one is compared with to publish `project` and
    /// `project_removed` frames; `None` until the first. Held across a discovery, so
    /// discoveries run one at a time and their frames go out in order.
    known_projects: std::sync::Mutex<Option<Vec<Project>>>,
}

type ProjectsCache = std::sync::Mutex<Option<(std::time::Instant, Arc<Vec<Project>>)>>;

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
const PROJECTS_FRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// How long the rediscovery task lets a burst of watcher events settle before it looks:
/// `git clone` or `mkdir -p a/b` produce several events for one visible change.
const REDISCOVERY_SETTLE: Duration = Duration::from_millis(250);

/// Rediscovers the projects after each (settled) watcher wake-up, so a directory added or
/// removed behind Clauster's back reaches connected clients as a `project` /
/// `project_removed` frame (ui.md §14). Ends when the state is dropped: the watcher, and with
/// it the sender, go with it.
fn spawn_rediscovery(state: Weak<Inner>, mut wake: tokio::sync::mpsc::Receiver<()>) {
    tokio::spawn(async move {
        while wake.recv().await.is_some() {
            tokio::time::sleep(REDISCOVERY_SETTLE).await;
            // Events that arrived while settling are covered by the discovery below.
            let _ = wake.try_recv();
            let Some(inner) = state.upgrade() else { return };
            let state = AppState { inner };
            state.invalidate_projects();
            if let Err(err) = projects_blocking(state).await {
                tracing::debug!("rediscovery after a change in projects_root failed: {err:?}");
            }
        }
    });
}

impl AppState {
    pub fn new(
        config: Arc<Config>,
        context: PageContext,
        options: ServeOptions,
        engine: Engine,
        features: axum::http::Extensions,
    ) -> Self {
        let claude_global_file = trust::global_config_file(&config, &ProcessEnv);
        let projects = Arc::new(ProjectsCache::default());
        let (wake, woken) = tokio::sync::mpsc::channel(1);
        let projects_watcher = watch_projects(
            &config.projects_root,
            &claude_global_file,
            Arc::clone(&projects),
            wake,
        );
        let state = Self {
            inner: Arc::new(Inner {
                root_path: config.root_path.clone(),
                config: std::sync::RwLock::new(config),
                context: std::sync::RwLock::new(context),
                claude_global_file,
                options,
                engine,
                features,
                projects,
                _projects_watcher: projects_watcher,
                known_projects: std::sync::Mutex::new(None),
            }),
        };
        spawn_rediscovery(Arc::downgrade(&state.inner), woken);
        state
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The service of type `T` that `serve_on` registered with [`register_feature`]; each
    /// feature module wraps this in its own accessor (`state.usage()`, `state.clones()`, …).
    ///
    /// # Panics
    /// When no `T` was registered: a composition error in `serve_on`, caught by any test that
    /// reaches the feature.
    pub fn feature<T: Send + Sync + 'static>(&self) -> &T {
        self.inner
            .features
            .get::<Arc<T>>()
            .unwrap_or_else(|| panic!("serve_on registers no {}", std::any::type_name::<T>()))
    }

    /// The options the server was started with.
    pub fn options(&self) -> &ServeOptions {
        &self.inner.options
    }

    /// The address rules clones run under (`ServeOptions::clone_url_policy`).
    pub fn clone_policy(&self) -> &clauster_core::clone::UrlPolicy {
        &self.inner.options.clone_url_policy
    }

    /// The configuration as it is now (a save can swap it, config.md §8.4).
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(
            &self
                .inner
                .config
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The page context as it is now.
    pub fn context(&self) -> PageContext {
        self.inner
            .context
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the configuration and the page context after a save whose keys apply live.
    pub fn swap_config(&self, config: Arc<Config>, context: PageContext) {
        *self
            .inner
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner) = config;
        *self
            .inner
            .context
            .write()
            .unwrap_or_else(PoisonError::into_inner) = context;
    }

    /// Claude's global config file `G`, where trust is read and written (bridges.md §12.1).
    pub fn claude_global_file(&self) -> &Path {
        &self.inner.claude_global_file
    }

    pub fn root_path(&self) -> &str {
        &self.inner.root_path
    }

    #[allow(clippy::unused_self)] // one version per process, but reached through the state
    pub fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn projects_root(&self) -> PathBuf {
        self.config().projects_root.clone()
    }

    /// Discovers the projects and describes each card, and publishes what changed since the
    /// previous discovery (`project` for new or changed cards, `project_removed` for gone
    /// ones), whoever caused the change. Blocking: call off the async workers.
    pub fn projects(&self) -> Result<Vec<Project>, ApiError> {
        let mut known = self
            .inner
            .known_projects
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let list = self.discover_projects()?;
        if let Some(before) = known.as_deref() {
            let frames = projects::changes(before, &list);
            let global = (!frames.is_empty())
                .then(|| crate::project_checks::read_global(self.claude_global_file()));
            for mut frame in frames {
                if let (Frame::Project { project, preflight }, Some(global)) = (&mut frame, &global)
                {
                    *preflight = Some(crate::project_checks::check_project(project, global));
                }
                self.inner.engine.publish(frame);
            }
        }
        *known = Some(list.clone());
        if let Ok(mut cache) = self.inner.projects.lock() {
            *cache = Some((std::time::Instant::now(), Arc::new(list.clone())));
        }
        Ok(list)
    }

    /// The last discovery while it is fresh (at most [`PROJECTS_FRESH`] old).
    pub fn cached_projects(&self) -> Option<Arc<Vec<Project>>> {
        let cache = self.inner.projects.lock().ok()?;
        let (at, list) = cache.as_ref()?;
        (at.elapsed() < PROJECTS_FRESH).then(|| Arc::clone(list))
    }

    /// Forgets the cached discovery after a change Clauster made itself.
    pub fn invalidate_projects(&self) {
        if let Ok(mut cache) = self.inner.projects.lock() {
            *cache = None;
        }
    }

    fn discover_projects(&self) -> Result<Vec<Project>, ApiError> {
        let found = projects::discover(&self.projects_root()).map_err(|err| {
            ApiError::internal(format!(
                "cannot list projects_root {}: {err}; check that it exists and is readable",
                self.projects_root().display()
            ))
        })?;
        let trusted = trust::load_trusted(&self.inner.claude_global_file);
        let config = self.config();
        Ok(found
            .iter()
            .map(|p| {
                let allow_bypass = config
                    .projects
                    .get(p.name.as_str())
                    .is_some_and(|s| s.allow_bypass_permissions);
                projects::describe(p, &trusted, allow_bypass)
            })
            .collect())
    }
}

/// The server process's own environment, read where Claude's file locations depend on it.
#[derive(Debug)]
pub struct ProcessEnv;

impl trust::Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
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

/// Registers a feature's service for [`AppState::feature`].
pub fn register_feature<T: Send + Sync + 'static>(
    features: &mut axum::http::Extensions,
    service: T,
) {
    features.insert(Arc::new(service));
}
