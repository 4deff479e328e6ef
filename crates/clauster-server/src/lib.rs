//! Clauster's engine and HTTP/WebSocket surface.
//!
//! The crate is a library that serves on any listener it is handed: the `clauster` binary
//! binds the configured address, tests bind `127.0.0.1:0`. Domain values from
//! `clauster-core` are converted to `clauster-wire` types here, at the edge.
#![forbid(unsafe_code)]

mod assets;
mod auth;
mod bridge_env;
mod claude_files;
mod context;
mod control;
mod engine;
mod error;
mod headers;
mod instances;
mod log_tail;
mod more_routes;
mod origin;
mod page;
mod probe;
mod projects;
mod routes;
mod state;
mod state_files;
mod store;
mod time;
mod trust;

use std::future::Future;
use std::path::PathBuf;

use tokio::net::TcpListener;

pub use assets::bundle_embedded;
pub use auth::admin as credentials;
pub use control::{control_socket_for, control_socket_path};
pub use state::ServerConfig;

/// What tests may change about a server that configuration cannot reach (README
/// §Workspace). `main` passes `ServeOptions::default()`.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The `clauster` binary launched as the pty keeper and written as the recap-hook
    /// command. In-process tests pass the built `clauster` binary here.
    pub self_exe: PathBuf,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            self_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("clauster")),
        }
    }
}

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read the listener's address: {0}")]
    Listener(#[source] std::io::Error),
    #[error("{0}")]
    Lock(#[from] store::LockError),
    #[error("{0}")]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Control(#[from] control::ControlError),
    #[error("{0}")]
    Auth(#[from] auth::AuthSetupError),
    #[error("the HTTP server failed: {0}; restart clauster")]
    Http(#[source] std::io::Error),
}

/// Serves the dashboard and the API on `listener` until `shutdown` completes.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> Result<(), ServeError> {
    let local = listener.local_addr().map_err(ServeError::Listener)?;
    if !assets::bundle_embedded() {
        tracing::warn!(
            "this binary was built without the hydrate bundle: the dashboard renders but stays \
             static; build with `cargo xtask build`"
        );
    }
    let ServerConfig {
        config,
        config_file,
        session_secret,
    } = config;
    // One engine per state_dir (bridges.md §10.4): held for the life of the server.
    let _lock = store::EngineLock::acquire(&config.state_dir)?;
    // Bound before anything slow, so a CLI command never takes a starting server for absent;
    // dropped (and so removed) before the lock is released.
    let (control, unix_listener) = control::ControlSocket::bind(&config.state_dir)?;
    let (store, import_notes) =
        store::Store::open(&config.state_dir, config.db.backup_before_migrate)?;
    for note in import_notes {
        tracing::info!("{note}");
    }
    state_files::ensure_private_dirs(&config.state_dir);
    let context = context::page_context(&config, config_file.is_some());
    let claude_global_file = trust::global_config_file(&config, &state::ProcessEnv);
    let config = std::sync::Arc::new(config);
    // Before the engine starts: a bad session secret refuses startup with nothing running.
    let auth = auth::Auth::new(
        std::sync::Arc::clone(&config),
        session_secret.as_ref(),
        local.port(),
    )?;
    let engine = engine::spawn(engine::EngineSetup {
        config: std::sync::Arc::clone(&config),
        store,
        claude_global_file,
        server_env: std::env::vars_os().collect(),
    });
    let state = state::AppState::new(config, context, options, engine);
    tracing::info!(%local, control = %control.path().display(), "serving");
    // One shutdown future, two servers: the watch channel fans it out.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let router = routes::router(state, auth.clone());
    let headers = axum::middleware::from_fn_with_state(auth.clone(), headers::security_headers);
    // Browsers reach the TCP listener only: authentication and the Origin rule guard it; the
    // control socket is authenticated by its file mode and peer uid (security.md §2, §5).
    let browser_facing = router
        .clone()
        .layer(axum::middleware::from_fn_with_state(auth, auth::gate))
        .layer(headers.clone())
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let tcp = axum::serve(listener, browser_facing).with_graceful_shutdown(stopped());
    let unix = axum::serve(unix_listener, router.layer(headers)).with_graceful_shutdown(stopped());
    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
        Ok(())
    };
    let served = tokio::try_join!(signal, async { tcp.await }, async { unix.await });
    drop(control);
    served.map(drop).map_err(ServeError::Http)
}
