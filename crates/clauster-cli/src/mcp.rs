//! `clauster mcp` (issue 24): the MCP server on stdin/stdout. Every tool call is an API call
//! over the control socket — of the running server, or of an engine this process runs for
//! the length of that one call (cli.md §2, [`crate::headless`]), so the engine lock is never
//! held between calls and `clauster run` can start while a client stays attached.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clauster_core::config::Config;
use clauster_mcp::{Answer, Api, CallError, ClausterMcp, Method};
use serde_json::Value;

use crate::commands::CALL_TIMEOUT;
use crate::control_client;

/// The API over the control socket, reaching (or running) the engine per call.
struct ControlApi {
    config: Config,
    socket: PathBuf,
}

impl Api for ControlApi {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, CallError> {
        let config = self.config.clone();
        let socket = self.socket.clone();
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || call_blocking(&config, &socket, method, &path, body))
            .await
            .map_err(|_| CallError("the API call panicked".into()))?
    }
}

fn call_blocking(
    config: &Config,
    socket: &Path,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Answer, CallError> {
    // Held for this call only: dropping it shuts the engine down and frees the lock.
    let engine = crate::headless::reach(config, socket).map_err(CallError)?;
    // An engine started for one call has no last `claude agents --json` poll: run one now,
    // as `clauster sessions` does.
    let path = if engine.is_some() && path == "/api/sessions/all" {
        "/api/sessions/all?poll=1"
    } else {
        path
    };
    // A start or resume waits for readiness, twice over when a continue falls back.
    let timeout = if method == Method::Post {
        Duration::from_secs_f64(config.claude.ready_wait_seconds.max(0.0)) * 2 + CALL_TIMEOUT
    } else {
        CALL_TIMEOUT
    };
    let body = body.map(|b| b.to_string().into_bytes());
    let full = format!("{}{path}", config.root_path);
    // Our own engine answers on its private socket, never on the control socket.
    let socket = engine
        .as_ref()
        .map_or(socket, crate::headless::InProcess::socket);
    let answer = control_client::call(socket, method.as_str(), &full, body.as_deref(), timeout)
        .map_err(|err| CallError(err.to_string()))?;
    drop(engine);
    Ok(Answer {
        status: answer.status,
        body: answer.body,
    })
}

/// `clauster mcp [-c PATH]`: serves until the client closes stdin. A bad config fails closed
/// (exit 2) before anything is served.
pub fn run(config_path: Option<&Path>) -> ExitCode {
    let config = match crate::commands::load_config(config_path) {
        Ok(loaded) => loaded.config,
        Err(code) => return code,
    };
    init_tracing();
    let socket = clauster_server::control_socket_for(&config.state_dir);
    let allow_writes = config.mcp.allow_writes;
    let handler = ClausterMcp::new(ControlApi { config, socket }, allow_writes);
    // stdout carries protocol messages only; the banner goes to stderr.
    eprintln!(
        "clauster {} | mcp | {} | stdio",
        env!("CARGO_PKG_VERSION"),
        handler.surface()
    );
    let runtime = match crate::headless::runtime_or_exit(Some(2)) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let served = runtime.block_on(clauster_mcp::serve_stdio(handler));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("clauster: error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Warnings and errors on stderr (never stdout, which is the protocol's).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::new("warn");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}
