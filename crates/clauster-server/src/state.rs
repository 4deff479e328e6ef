//! The state every handler shares: the configuration, what is derived from it once, and the
//! engine handle.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clauster_core::config::{Config, Secret};
use clauster_wire::{PageContext, Project};

use crate::ServeOptions;
use crate::clone;
use crate::engine::Engine;
use crate::error::ApiError;
use crate::metrics::MetricsService;
use crate::projects;
use crate::trust;
use crate::usage::UsageService;

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
}

/// Cheap to clone: handlers receive it by value.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Arc<Config>,
    context: PageContext,
    /// Claude's global config file, where trust lives (bridges.md §12.1).
    claude_global_file: PathBuf,
    options: ServeOptions,
    engine: Engine,
    usage: UsageService,
    metrics: MetricsService,
    clones: clone::CloneJobs,
    /// The last discovery and when it ran (see [`AppState::cached_projects`]).
    projects: Arc<ProjectsCache>,
    /// Invalidates `projects` when a directory appears in or leaves `projects_root`, or
    /// Claude's global file (trust) changes; `None` where notifications are unavailable.
    _projects_watcher: Option<notify::RecommendedWatcher>,
}

type ProjectsCache = std::sync::Mutex<Option<(std::time::Instant, Arc<Vec<Project>>)>>;

/// Watches what discovery reads besides the project directories' insides.
fn watch_projects(
    root: &Path,
    global_file: &Path,
    cache: Arc<ProjectsCache>,
) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let handler = move |event: notify::Result<notify::Event>| {
        let relevant = event.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_)));
        if relevant && let Ok(mut cache) = cache.lock() {
            *cache = None;
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

impl AppState {
    pub fn new(
        config: Arc<Config>,
        context: PageContext,
        options: ServeOptions,
        engine: Engine,
    ) -> Self {
        let claude_global_file = trust::global_config_file(&config, &ProcessEnv);
        let home =
            trust::Env::var(&ProcessEnv, "HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from);
        let server_config_dir =
            trust::Env::var(&ProcessEnv, "CLAUDE_CONFIG_DIR").map(PathBuf::from);
        let usage = UsageService::new(&config, &home, server_config_dir.as_deref(), engine.clone());
        let metrics = MetricsService::new(&config, engine.clone());
        let projects = Arc::new(ProjectsCache::default());
        let projects_watcher = watch_projects(
            &config.projects_root,
            &claude_global_file,
            Arc::clone(&projects),
        );
        Self {
            inner: Arc::new(Inner {
                config,
                context,
                claude_global_file,
                options,
                engine,
                usage,
                metrics,
                clones: clone::CloneJobs::default(),
                projects,
                _projects_watcher: projects_watcher,
            }),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The transcript rollup (data.md §1).
    pub fn usage(&self) -> &UsageService {
        &self.inner.usage
    }

    /// The metrics cache and the crash counter (data.md §4, http-api.md §9).
    pub fn metrics(&self) -> &MetricsService {
        &self.inner.metrics
    }

    /// The clone jobs (data.md §3.5).
    pub fn clones(&self) -> &clone::CloneJobs {
        &self.inner.clones
    }

    /// The environments API the reaper calls (`ServeOptions::environments_api`).
    pub fn environments_api(&self) -> &crate::reaper::EnvironmentsApi {
        &self.inner.options.environments_api
    }

    /// The address rules clones run under (`ServeOptions::clone_url_policy`).
    pub fn clone_policy(&self) -> &clauster_core::clone::UrlPolicy {
        &self.inner.options.clone_url_policy
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn context(&self) -> &PageContext {
        &self.inner.context
    }

    /// Claude's global config file `G`, where trust is read and written (bridges.md §12.1).
    pub fn claude_global_file(&self) -> &Path {
        &self.inner.claude_global_file
    }

    pub fn root_path(&self) -> &str {
        &self.inner.config.root_path
    }

    #[allow(clippy::unused_self)] // one version per process, but reached through the state
    pub fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn projects_root(&self) -> &Path {
        &self.inner.config.projects_root
    }

    /// Discovers the projects and describes each card. Blocking: call off the async workers.
    pub fn projects(&self) -> Result<Vec<Project>, ApiError> {
        let list = self.discover_projects()?;
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
        let found = projects::discover(self.projects_root()).map_err(|err| {
            ApiError::internal(format!(
                "cannot list projects_root {}: {err}; check that it exists and is readable",
                self.projects_root().display()
            ))
        })?;
        let trusted = trust::load_trusted(&self.inner.claude_global_file);
        Ok(found
            .iter()
            .map(|p| {
                let allow_bypass = self
                    .inner
                    .config
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
