//! The state every handler shares: the configuration, what is derived from it once, and the
//! engine handle.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, Weak};

use clauster_core::config::{Config, Secret};
use clauster_wire::PageContext;

use crate::ServeOptions;
use crate::engine::Engine;

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
}

impl AppState {
    pub fn new(
        config: Arc<Config>,
        context: PageContext,
        options: ServeOptions,
        engine: Engine,
        features: axum::http::Extensions,
        claude_global_file: PathBuf,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                root_path: config.root_path.clone(),
                config: std::sync::RwLock::new(config),
                context: std::sync::RwLock::new(context),
                claude_global_file,
                options,
                engine,
                features,
            }),
        }
    }

    /// A handle that does not keep the state alive (for tasks that end with it).
    pub fn downgrade(&self) -> WeakAppState {
        WeakAppState(Arc::downgrade(&self.inner))
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
}

pub use crate::env::ProcessEnv;

/// [`AppState`] without keeping it alive: see [`AppState::downgrade`].
#[derive(Clone, Debug)]
pub struct WeakAppState(Weak<Inner>);

impl WeakAppState {
    /// The state, while anything else still holds it.
    pub fn upgrade(&self) -> Option<AppState> {
        self.0.upgrade().map(|inner| AppState { inner })
    }
}

/// Registers a feature's service for [`AppState::feature`].
pub fn register_feature<T: Send + Sync + 'static>(
    features: &mut axum::http::Extensions,
    service: T,
) {
    features.insert(Arc::new(service));
}
