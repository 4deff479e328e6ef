//! `claude auth login` under a PTY for the dashboard's sign-in (issue 20, http-api.md §3.2):
//! the child in its own session on a 120×40 terminal, its output fed through the keeper's
//! terminal emulation ([`crate::keeper::Screen`], which also answers terminal queries) on a
//! reader thread, and each change reported as a [`Progress`]: the OSC 8 hyperlink targets
//! seen, the rendered logical lines, and finally the exit. What the text means is
//! `clauster_core::login_flow`'s business.

use std::ffi::OsString;
use std::io::{Read as _, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use crate::keeper::{COLS, ROWS, Screen};

/// The raw output kept for the hyperlink scan.
const RAW_CAP: usize = 256 * 1024;

/// What to run.
#[derive(Clone, Debug)]
pub struct Spec {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The whole environment (cleared first).
    pub env: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
}

/// What the process has shown so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// OSC 8 hyperlink targets, in order.
    pub links: Vec<String>,
    /// The rendered screen (scrollback included) as logical lines.
    pub lines: Vec<String>,
    /// `Some` once it exited: its exit code, `None` inside when a signal ended it.
    pub exit: Option<Option<u32>>,
}

/// A running sign-in process.
pub struct Running {
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    pid: i32,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// Types `text` and Enter into the terminal.
    ///
    /// # Errors
    /// When the terminal is gone.
    pub fn type_line(&self, text: &str) -> std::io::Result<()> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer.write_all(text.as_bytes())?;
        writer.write_all(b"\r")?;
        writer.flush()
    }

    /// The child's pid, which is also its process group's id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// SIGKILL to the whole process group (the child leads its own session).
    pub fn kill_group(&self) {
        let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
    }
}

/// Starts `spec` under a new PTY; `on_progress` runs on the reader thread after every chunk
/// of output and once more at the exit.
///
/// # Errors
/// When the PTY cannot be opened or the program not started.
pub fn start(
    spec: &Spec,
    mut on_progress: impl FnMut(&Progress) + Send + 'static,
) -> Result<Running, String> {
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|e| format!("cannot open a terminal: {e}"))?;
    let mut cmd = CommandBuilder::new(&spec.program);
    cmd.args(&spec.args);
    cmd.cwd(&spec.cwd);
    cmd.env_clear();
    for (name, value) in &spec.env {
        cmd.env(name, value);
    }
    if !spec.env.iter().any(|(n, _)| n == "TERM") {
        cmd.env("TERM", "xterm-256color");
    }
    let mut child = pair
        .slave
        .spawn_command(cmd)
        .map_err(|e| format!("cannot start {}: {e}", spec.program.display()))?;
    drop(pair.slave);
    let pid = child
        .process_id()
        .and_then(|p| i32::try_from(p).ok())
        .ok_or("the started process has no pid")?;
    let mut reader = pair
        .master
        .try_clone_reader()
        .map_err(|e| format!("cannot read the terminal: {e}"))?;
    let writer: Arc<Mutex<Box<dyn Write + Send>>> = Arc::new(Mutex::new(
        pair.master
            .take_writer()
            .map_err(|e| format!("cannot write to the terminal: {e}"))?,
    ));
    let answers = Arc::clone(&writer);
    let master = pair.master;
    std::thread::Builder::new()
        .name("signin-pty".into())
        .spawn(move || {
            // Held so the terminal stays open until the child is gone.
            let _master = master;
            let mut screen = Screen::new();
            let mut raw: Vec<u8> = Vec::new();
            let mut progress = Progress::default();
            let mut buf = [0_u8; 8192];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let replies = screen.feed(&buf[..n]);
                if !replies.is_empty() {
                    let mut w = answers.lock().unwrap_or_else(PoisonError::into_inner);
                    let _ = w.write_all(&replies);
                    let _ = w.flush();
                }
                raw.extend_from_slice(&buf[..n]);
                if raw.len() > RAW_CAP {
                    let cut = raw.len() - RAW_CAP;
                    raw.drain(..cut);
                }
                progress.links = clauster_core::login_flow::osc8_targets(&raw);
                progress.lines = screen.lines().unwrap_or_default();
                on_progress(&progress);
            }
            let status = child.wait().ok();
            progress.exit = Some(status.and_then(|s| {
                if s.signal().is_some() {
                    None
                } else {
                    Some(s.exit_code())
                }
            }));
            progress.lines = screen.lines().unwrap_or(progress.lines);
            on_progress(&progress);
        })
        .map_err(|e| format!("cannot start the reader thread: {e}"))?;
    Ok(Running { writer, pid })
}
