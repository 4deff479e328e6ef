//! Clauster's engine and HTTP/WebSocket surface.
//!
//! The crate is a library that serves on any listener it is handed: the `clauster` binary
//! binds the configured address, tests bind `127.0.0.1:0`. Domain values from
//! `clauster-core` are converted to `clauster-wire` types here, at the edge.
#![forbid(unsafe_code)]

mod assets;
mod auth;
mod bounded_read;
mod bridge_env;
mod claude_files;
mod claude_md;
mod clone;
mod config_editor;
mod config_write;
mod context;
mod control;
pub mod control_client;
pub mod doctor;
mod engine;
mod env;
mod error;
mod guide;
mod headers;
mod http;
mod instances;
mod listen;
mod log_rotation;
mod log_tail;
mod login_shepherd;
mod mcp;
mod metrics;
mod notify;
mod openapi;
mod origin;
mod page;
mod policy_routes;
mod preflight;
mod probe;
mod project_checks;
mod projects;
mod projects_create;
mod pty_screen;
mod qr;
mod readiness;
pub mod reaper;
mod routes;
mod sessions_routes;
mod socket_handshake;
mod state;
mod state_files;
mod status_routes;
mod store;
#[cfg(test)]
mod test_fixtures;
mod time;
pub mod tls;
mod transcript;
mod trust;
mod trust_routes;
mod usage;
mod watch;

use std::future::Future;
use std::path::PathBuf;

use tokio::net::TcpListener;

pub use assets::bundle_embedded;
pub use auth::admin as credentials;
pub use clauster_core::clone::UrlPolicy;
pub use control::{
    UntrustedSocket, check_socket_owner, command_socket_path, control_socket_for,
    control_socket_path,
};
pub use listen::Limits;
pub use state::ServerConfig;

/// What tests may change about a server that configuration cannot reach (README
/// §Workspace). `main` passes `ServeOptions::default()`.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The `clauster` binary launched as the pty keeper and written as the recap-hook
    /// command. In-process tests pass the built `clauster` binary here.
    pub self_exe: PathBuf,
    /// The Anthropic environments API of the reaper (bridges.md §15): the real HTTPS
    /// transport (`reaper::EnvironmentsApi::from_env`, which honours
    /// `CLAUSTER_ENVIRONMENTS_API_BASE`), or a test's own transport.
    pub environments_api: reaper::EnvironmentsApi,
    /// The address rules of clone (data.md §3.3 step 6): the real policy unless a test
    /// admits its local `git daemon` (data.md §3.6).
    pub clone_url_policy: UrlPolicy,
    /// Native TLS already prepared by the caller (`tls::prepare`, so its errors come before
    /// the banner); `None` prepares it here from `config.tls`.
    pub tls: Option<tls::TlsSetup>,
    /// Where the Apprise services with a fixed home (ntfy.sh, Discord, Slack) are reached:
    /// the real ones, or a test's local double (notifications.md §5).
    pub notify_hosts: clauster_core::notify::apprise::ServiceHosts,
    /// The line `clauster run` prints to stderr once it serves (cli.md §3 `run`): printed
    /// here after the engine lock is taken, so a second server on the same state dir fails
    /// without having announced an address.
    pub banner: Option<String>,
    /// The slow-client limits of the TCP listener (security.md §7.2): the spec's by
    /// default; a test serving in-process may shorten them.
    pub limits: listen::Limits,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            self_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("clauster")),
            environments_api: reaper::EnvironmentsApi::from_env(),
            clone_url_policy: UrlPolicy::real(),
            tls: None,
            notify_hosts: clauster_core::notify::apprise::ServiceHosts::real(),
            banner: None,
            limits: listen::Limits::default(),
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
    #[error("TLS error: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("the HTTP server failed: {0}; restart clauster")]
    Http(#[source] std::io::Error),
}

impl ServeError {
    /// Another process holds the engine lock (a server runs or is starting).
    pub fn is_lock_held(&self) -> bool {
        matches!(self, Self::Lock(store::LockError::Held { .. }))
    }
}

/// Serves the dashboard and the API on `listener` until `shutdown` completes.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> Result<(), ServeError> {
    serve_on(config, Some(listener), shutdown, options, |_| {}).await
}

/// Runs the engine for a CLI command when no server runs (cli.md §2): takes the engine lock
/// and serves the API on this process's private command socket only
/// ([`command_socket_path`]), until `shutdown` completes. The command then makes the same
/// calls it makes to a running server; bridges it starts are detached and found by the next
/// server.
///
/// The private socket, not the control socket: nothing else ever reaches a command's engine,
/// so no other command or starting server can send it a request it drops half-built or while
/// it shuts down ("Connection reset by peer", issue 14). Others find the control socket
/// silent and wait for the engine lock.
///
/// `on_bound` is called with the socket's path once it is bound and the engine lock is held.
pub async fn serve_control_only(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
    on_bound: impl FnOnce(&std::path::Path),
) -> Result<(), ServeError> {
    serve_on(config, None, shutdown, options, on_bound).await
}

/// Why the engine of `state_dir` is busy, when another process runs it now.
pub fn engine_busy(state_dir: &std::path::Path) -> Option<String> {
    store::current_holder(state_dir).map(|held| held.to_string())
}

/// `another clauster server is running (pid N)` when a server runs the engine of `state_dir`
/// now: the message for a `clauster run` whose port is taken, most often by that server. A
/// CLI command running the engine listens on no port, so it is never named here.
pub fn server_running(state_dir: &std::path::Path) -> Option<String> {
    match store::current_holder(state_dir) {
        Some(held @ store::LockError::Held { .. }) => Some(held.to_string()),
        _ => None,
    }
}

/// How long an engine start waits for a CLI command that runs the engine (cli.md §2).
const COMMAND_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long an engine start waits for a lock whose server has exited: a child it forked a
/// moment before may still share the lock, and the server's listening port, until it execs
/// (seen on a loaded machine).
pub const EXITED_HOLDER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The pid of a server that has exited while its engine lock is still held: a child it forked
/// a moment before shares the lock and its listening port until it execs. `clauster run`
/// waits up to [`EXITED_HOLDER_WAIT`] for such a port rather than call it in use.
pub fn held_by_exited_server(state_dir: &std::path::Path) -> Option<u32> {
    match store::current_holder(state_dir) {
        Some(store::LockError::Held { pid }) if has_exited(pid) => Some(pid),
        _ => None,
    }
}

/// Whether the process `pid` has exited (a pid of 0 was never written: not known).
fn has_exited(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // A zombie has exited too: its parent has not reaped it yet (a late-reaping shell or
    // supervisor), yet `kill(pid, 0)` still finds it.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) == Err(nix::errno::Errno::ESRCH)
        || std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|text| clauster_core::identity::parse_proc_stat(&text).ok())
            .is_some_and(|stat| stat.is_defunct())
}

/// Takes the engine lock; a lock held by a CLI command is waited for, since the command
/// gives it back within seconds, and so is one whose server has exited.
async fn take_engine_lock(
    state_dir: &std::path::Path,
    holder: store::Holder,
) -> Result<store::EngineLock, store::LockError> {
    let start = tokio::time::Instant::now();
    let deadline = start + COMMAND_LOCK_WAIT;
    let (mut announced, mut announced_exited) = (false, false);
    loop {
        match store::EngineLock::acquire(state_dir, holder) {
            Err(store::LockError::Held { pid })
                if has_exited(pid) && start.elapsed() < EXITED_HOLDER_WAIT =>
            {
                if !std::mem::replace(&mut announced_exited, true) {
                    tracing::info!(
                        "the engine lock is still held for pid {pid}, which has exited; waiting \
                         up to {} s for it to be released",
                        EXITED_HOLDER_WAIT.as_secs()
                    );
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(store::LockError::HeldByCommand { pid })
                if tokio::time::Instant::now() < deadline =>
            {
                if !std::mem::replace(&mut announced, true) {
                    tracing::warn!(
                        "a clauster command (pid {pid}) is using the engine; waiting up to {} s \
                         for it to finish",
                        COMMAND_LOCK_WAIT.as_secs()
                    );
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

#[allow(clippy::too_many_lines)] // the start-up sequence, in order
async fn serve_on(
    config: ServerConfig,
    listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    mut options: ServeOptions,
    on_bound: impl FnOnce(&std::path::Path),
) -> Result<(), ServeError> {
    // Only the TCP listener speaks TLS; the control socket stays plain.
    let tls = tls::for_listener(listener.is_some(), options.tls.take(), &config.config)?;
    let banner = options.banner.take();
    let limits = options.limits;
    let local = listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()
        .map_err(ServeError::Listener)?;
    if listener.is_some() && !assets::bundle_embedded() {
        tracing::warn!(
            "this binary was built without the hydrate bundle: the dashboard renders but stays \
             static; build with `cargo xtask build`"
        );
    }
    let ServerConfig {
        config,
        config_file,
        session_secret,
        load_input,
    } = config;
    // One engine per state_dir (bridges.md §10.4): held for the life of the server.
    let holder = if listener.is_some() {
        store::Holder::Server
    } else {
        store::Holder::Command
    };
    let _lock = take_engine_lock(&config.state_dir, holder).await?;
    // A server's is bound before anything slow, so a CLI command never takes a starting
    // server for absent; a command's is its own, and the command hears of it only once the
    // store is open: a store that cannot open is the command's error, not a silent socket.
    // Dropped (and so removed) before the lock is released.
    let (control, unix_listener) = match holder {
        store::Holder::Server => control::ControlSocket::bind(&config.state_dir)?,
        store::Holder::Command => control::ControlSocket::bind_private(&config.state_dir)?,
    };
    let mut on_bound = Some(on_bound);
    if holder == store::Holder::Server
        && let Some(report) = on_bound.take()
    {
        report(control.path());
    }
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
        local.map_or(0, |l| l.port()),
    )?;
    if let Some(report) = on_bound.take() {
        report(control.path());
    }
    let engine = engine::spawn(engine::EngineSetup {
        config: std::sync::Arc::clone(&config),
        store,
        // A server brings kept projects back (bridges.md §11.1); a command's own engine,
        // which lives for one command, never launches what it was not asked to.
        bring_up_kept: holder == store::Holder::Server,
        claude_global_file: claude_global_file.clone(),
        server_env: std::env::vars_os().collect(),
        self_exe: options.self_exe.clone(),
        recap_hook: config.claude.resume_recap.then(|| claude_files::RecapHook {
            settings_file: trust::settings_file(&config, &state::ProcessEnv),
            command: clauster_core::claude_json::recap_hook_command(
                &options.self_exe.to_string_lossy(),
            ),
        }),
    });
    // Temp directories of clones a previous run left behind (data.md §3.4).
    let root = config.projects_root.clone();
    tokio::task::spawn_blocking(move || clone::sweep_leftovers(&root));
    let max_connections = config.max_connections;
    // Every user behind a forward-auth proxy arrives from it: no per-source cap for it.
    let proxy = &config.auth.reverse_proxy;
    let proxy_ips = if proxy.enabled {
        proxy.trusted_ips.clone()
    } else {
        Vec::new()
    };
    let mcp_config = std::sync::Arc::clone(&config);
    let mut features = axum::http::Extensions::new();
    let home = trust::Env::var(&state::ProcessEnv, "HOME")
        .map_or_else(|| std::path::PathBuf::from("/"), std::path::PathBuf::from);
    let server_config_dir =
        trust::Env::var(&state::ProcessEnv, "CLAUDE_CONFIG_DIR").map(std::path::PathBuf::from);
    state::register_feature(
        &mut features,
        usage::UsageService::new(&config, &home, server_config_dir.as_deref(), engine.clone()),
    );
    state::register_feature(
        &mut features,
        metrics::MetricsService::new(&config, engine.clone()),
    );
    state::register_feature(&mut features, clone::CloneJobs::default());
    state::register_feature(&mut features, transcript::Indexes::default());
    state::register_feature(
        &mut features,
        readiness::ReadinessService::new(
            std::sync::Arc::clone(&config),
            engine.clone(),
            config.login_shepherd.enabled,
        ),
    );
    state::register_feature(&mut features, login_shepherd::Shepherd::default());
    state::register_feature(
        &mut features,
        notify::NotifyService::new(&config, &options.notify_hosts),
    );
    state::register_feature(
        &mut features,
        config_editor::ConfigEditor::new(config_file.clone(), load_input),
    );
    let (discovery, rediscover) =
        projects::Discovery::start(&config.projects_root, &claude_global_file);
    state::register_feature(&mut features, discovery);
    let engine_at_close = engine.clone();
    let state = state::AppState::new(
        config,
        context,
        options,
        engine,
        features,
        claude_global_file,
    );
    projects::spawn_rediscovery(&state, rediscover);
    let clones = state.clones().clone();
    // A CLI command's engine lives for seconds: no background rollup for it.
    if local.is_some() {
        state.usage().start();
        state.metrics().start();
        state.readiness().start();
        state.notify().follow(state.engine());
    }
    if let Some(banner) = &banner {
        eprintln!("{banner}");
    }
    if let Some(local) = local {
        tracing::info!(%local, control = %control.path().display(), "serving");
    } else {
        tracing::debug!(control = %control.path().display(), "serving the control socket");
    }
    // One shutdown future, two servers: the watch channel fans it out.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let stopping = http::ws::Stopping::default();
    let router = routes::router(state, auth.clone())
        .layer(axum::Extension(doctor::ConfigOrigin(config_file)))
        .layer(axum::Extension(stopping.clone()));
    let headers = axum::middleware::from_fn_with_state(auth.clone(), headers::security_headers);
    // Browsers reach the TCP listener only: authentication and the Origin rule guard it; the
    // control socket is authenticated by its file mode and peer uid (security.md §2, §5).
    // `/mcp` (issue 24): on the TCP listener only, behind the gate's bearer-only rule.
    // `/mcp` answers each request with JSON (no stream): its requests in flight finish like
    // any other, and the service ends after them.
    let mcp_cancel = tokio_util::sync::CancellationToken::new();
    let tcp = listener.map(|listener| {
        let browser_facing = if mcp_config.mcp.http_enabled {
            mcp::mount(
                router.clone(),
                router.clone(),
                &mcp_config,
                mcp_cancel.clone(),
            )
        } else {
            router.clone()
        };
        let browser_facing =
            browser_facing.layer(axum::middleware::from_fn_with_state(auth, auth::gate));
        // Many connections need many descriptors: the soft limit goes up to the hard one.
        if let Some(limit) = listen::raise_descriptor_limit()
            && limit < max_connections.saturating_add(64)
        {
            tracing::warn!(
                "the descriptor limit ({limit}) is below max_connections ({max_connections}) \
                 plus what bridges and the store need; raise LimitNOFILE / ulimit -n or lower \
                 max_connections"
            );
        }
        serve_browsers(
            listener,
            browser_facing,
            headers.clone(),
            tls,
            limits,
            listen::Caps::new(
                usize::try_from(max_connections).unwrap_or(usize::MAX),
                proxy_ips,
            ),
            stopped(),
        )
    });
    let tcp = async move {
        match tcp {
            Some(tcp) => tcp.await,
            None => Ok(()),
        }
    };
    let over_socket = router
        .layer(axum::Extension(control::ViaControlSocket))
        .layer(headers);
    let unix = axum::serve(
        control::PeerCheckedListener::new(unix_listener),
        over_socket,
    )
    .with_graceful_shutdown(stopped());
    let served = async { tokio::try_join!(tcp, async { unix.await }).map(drop) };
    tokio::pin!(served);
    let served = tokio::select! {
        // Only a listener failing ends serving before the shutdown.
        failed = &mut served => failed,
        () = shutdown => {
            stop_tx.send_replace(true);
            stopping.begin();
            clones.cancel_all();
            let finished = finish_in_flight(served, &stopping, clones.all_finished()).await;
            mcp_cancel.cancel();
            finished
        }
    };
    drop(control);
    // A stopped store is one file (operations.md, backups).
    engine_at_close.checkpoint_store(SHUTDOWN_GRACE).await;
    served.map_err(ServeError::Http)
}

/// How long a shutdown waits for the requests in flight and the sockets' close frames
/// (cli.md §7).
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The rest of a shutdown once both listeners stopped accepting, every socket was asked to
/// close and every clone to stop: waits up to [`SHUTDOWN_GRACE`] for `served` (the requests in
/// flight), the sockets and `clones`, then leaves what is still open to the end of the
/// process.
async fn finish_in_flight(
    served: impl Future<Output = std::io::Result<()>>,
    stopping: &http::ws::Stopping,
    clones: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    let (served, sockets, clones) = tokio::join!(
        tokio::time::timeout_at(deadline, served),
        tokio::time::timeout_at(deadline, stopping.sockets_closed()),
        tokio::time::timeout_at(deadline, clones),
    );
    if served.is_err() || sockets.is_err() || clones.is_err() {
        tracing::warn!(
            "shutdown: requests or sockets were still open after {} s; closing them",
            SHUTDOWN_GRACE.as_secs()
        );
    }
    served.unwrap_or(Ok(()))
}

/// The TCP listener: `router` (already behind the gate) with the body limit and the security
/// headers, plain or TLS, with the slow-client limits (security.md §7.2).
fn serve_browsers<L>(
    listener: TcpListener,
    router: axum::Router,
    headers: L,
    tls: Option<tls::TlsSetup>,
    limits: listen::Limits,
    caps: listen::Caps,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = std::io::Result<()>>
where
    L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
    L::Service: tower::Service<axum::extract::Request, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as tower::Service<axum::extract::Request>>::Response:
        axum::response::IntoResponse + 'static,
    <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
{
    let router = router
        .layer(axum::middleware::from_fn_with_state(
            limits.body,
            listen::body_deadline,
        ))
        .layer(headers);
    listen::serve_tcp(
        listener,
        router,
        tls.map(|tls| tls.config),
        limits,
        caps,
        stopped,
    )
}

#[cfg(test)]
mod tests {
    use nix::sys::wait::{Id, WaitPidFlag, waitid};

    #[test]
    fn an_unreaped_server_has_exited() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        assert!(!super::has_exited(std::process::id()), "this process runs");
        // Waits for the child's end without reaping it: a zombie from here on.
        let raw = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap());
        waitid(Id::Pid(raw), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT).unwrap();
        assert!(super::has_exited(pid), "a zombie counts as exited");
        child.wait().unwrap();
    }
}
