//! The engine in-process for one command when no server answers (cli.md §2).
//!
//! A command first looks for a server on the control socket. Without one, it runs the engine
//! here for its own duration — the same API, served on a socket private to this process
//! (`clauster_server::command_socket_path`) — so every command has one code path. Bridges it
//! starts are detached and found again by the next server.
//!
//! The socket is private because a command's engine lives only as long as the command: on the
//! shared control socket, another command (or a starting server's probe) could connect while
//! it was being built or shutting down, and the closing listener reset that connection
//! ("Connection reset by peer", issue 14). Another command now finds the control socket
//! silent, waits for the engine lock (≤ 30 s) and runs its own engine.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clauster_core::config::Config;

/// How long a command waits for a server that is starting (the lock is held, the socket is
/// not answering yet).
const WAIT_FOR_SERVER: Duration = Duration::from_secs(10);
/// How long it waits for its own engine, which first waits for another command's (≤ 30 s).
const WAIT_FOR_OWN_ENGINE: Duration = Duration::from_secs(40);

/// What the engine thread reports.
enum Report {
    /// Our engine holds the lock and answers on its private socket.
    Bound(PathBuf),
    /// A server holds the lock.
    ServerRuns,
    Failed(String),
}

/// An engine run by this process; dropping it shuts it down and waits for it.
pub struct InProcess {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Where the engine answers: this process's private socket.
    socket: PathBuf,
}

impl InProcess {
    /// The socket this command's calls go to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether a server answers on `socket`. A socket that accepts while the engine lock's holder
/// has exited does not count: a child the killed server forked a moment before holds the
/// listening socket (and the lock) until it execs, and resets the connection then.
fn answers(config: &Config, socket: &Path) -> bool {
    UnixStream::connect(socket).is_ok()
        && clauster_server::held_by_exited_server(&config.state_dir).is_none()
}

/// Makes sure an engine answers on `socket`: a running server (`None` is returned), else one
/// started here. An error says what to do.
pub fn reach(config: &Config, socket: &Path) -> Result<Option<InProcess>, String> {
    let deadline = Instant::now() + WAIT_FOR_SERVER;
    loop {
        if answers(config, socket) {
            return Ok(None);
        }
        if let Some(engine) = run_own(config)? {
            return Ok(Some(engine));
        }
        // A server holds the lock: one that is starting binds its socket next, one that is
        // shutting down gives the lock back, and then the engine is ours to run.
        loop {
            if answers(config, socket) {
                return Ok(None);
            }
            if Instant::now() >= deadline {
                return Err(
                    "a clauster server holds the engine but does not answer (it is \
                            starting or shutting down); try again in a moment"
                        .into(),
                );
            }
            if clauster_server::engine_busy(&config.state_dir).is_none() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs the engine in this process: `None` when a server holds the engine lock.
fn run_own(config: &Config) -> Result<Option<InProcess>, String> {
    crate::config_file::prepare_dirs(config).map_err(|err| err.to_string())?;
    let (report_tx, reports) = mpsc::channel();
    let bound_tx = report_tx.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server_config = clauster_server::ServerConfig {
        config: config.clone(),
        config_file: None,
        session_secret: None,
        load_input: clauster_core::config::ConfigInput::default(),
    };
    let thread = std::thread::spawn(move || {
        let runtime = match runtime(Some(2)) {
            Ok(runtime) => runtime,
            Err(err) => {
                let _ = report_tx.send(Report::Failed(err));
                return;
            }
        };
        let served = runtime.block_on(clauster_server::serve_control_only(
            server_config,
            async move {
                let _ = stopped.await;
            },
            clauster_server::ServeOptions::default(),
            move |socket: &Path| {
                let _ = bound_tx.send(Report::Bound(socket.to_owned()));
            },
        ));
        if let Err(err) = served {
            let report = if err.is_lock_held() {
                Report::ServerRuns
            } else {
                Report::Failed(err.to_string())
            };
            let _ = report_tx.send(report);
        }
        runtime.shutdown_timeout(Duration::from_secs(1));
    });
    let mut engine = InProcess {
        stop: Some(stop),
        thread: Some(thread),
        socket: PathBuf::new(),
    };
    match reports.recv_timeout(WAIT_FOR_OWN_ENGINE) {
        Ok(Report::Bound(private)) => {
            engine.socket = private;
            Ok(Some(engine))
        }
        Ok(Report::Failed(message)) => Err(message),
        Ok(Report::ServerRuns) => Ok(None),
        Err(_) => Err("the engine did not start; try again in a moment".into()),
    }
}

/// A multi-threaded runtime with every driver: `workers` threads, or one per core.
pub fn runtime(workers: Option<usize>) -> Result<tokio::runtime::Runtime, String> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers);
    }
    builder
        .enable_all()
        .build()
        .map_err(|err| format!("cannot start the async runtime: {err}"))
}

/// [`runtime`], or the failure exit code after saying why there is none.
pub fn runtime_or_exit(
    workers: Option<usize>,
) -> Result<tokio::runtime::Runtime, std::process::ExitCode> {
    runtime(workers).map_err(|err| {
        eprintln!("clauster: error: {err}");
        std::process::ExitCode::FAILURE
    })
}
