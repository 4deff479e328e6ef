//! The PTY keeper (pty.md): owns the pseudo-terminal of one `pty`-mode bridge, reads what
//! the TUI draws, and reports to the server through the discovery sidecar (and, when asked,
//! the screen sidecar). Entered through `clauster __pty-keeper__`; [`run`] is the whole
//! process and returns its exit code.
//!
//! Exit codes: the bridge's own code (128 + signal for a death by signal); 64 for an empty
//! bridge argv; 70 when no PTY could be opened; 71 when the bridge could not be spawned.
//!
//! The keeper is single-threaded and needs no async runtime: one `poll()` over the PTY master
//! and a signalfd, with a 500 ms timeout (shorter when a scan or frame is due).

mod files;
mod scrape;
mod screen;
mod signals;

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clauster_core::pty_sidecar::{
    BridgeExit, FrameState, KeeperState, PromptKind, PtyScreen, ReadyReason, ScreenFrame, Sidecar,
    detect_prompt,
};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};

pub use scrape::{URL_PREFIX, UrlScanner, raw_scan};
pub use screen::{COLS, ROWS, Screen};

/// Exit code for an empty bridge argv (`EX_USAGE`).
pub const EXIT_USAGE: i32 = 64;
/// Exit code when the PTY could not be opened (`EX_SOFTWARE`).
pub const EXIT_OPENPTY: i32 = 70;
/// Exit code when the bridge could not be spawned (`EX_OSERR`).
pub const EXIT_SPAWN: i32 = 71;

/// The default `--url-timeout`.
pub const DEFAULT_URL_TIMEOUT: Duration = Duration::from_secs(30);

const POLL_EVERY: Duration = Duration::from_millis(500);
const READ_MAX: usize = 64 * 1024;
const SCAN_EVERY: Duration = Duration::from_millis(100);
const FRAME_EVERY: Duration = Duration::from_millis(250);
const READ_RETRY: Duration = Duration::from_millis(200);
const DRAIN_FOR: Duration = Duration::from_millis(200);
const INTERRUPT_GAP: Duration = Duration::from_millis(400);
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What `clauster __pty-keeper__` was asked to do (pty.md §2).
#[derive(Debug, Clone)]
pub struct KeeperArgs {
    /// The discovery sidecar, `<stem>.keeper.json`.
    pub sidecar: PathBuf,
    /// The bridge's working directory.
    pub cwd: PathBuf,
    /// The screen sidecar, `<stem>.screen.json`, when the live view is enabled.
    pub screen_sidecar: Option<PathBuf>,
    /// How long to wait for a connect URL before reporting `ready` by timeout.
    pub url_timeout: Duration,
    /// The bridge argv, an absolute `claude` path first.
    pub argv: Vec<String>,
}

/// Runs the keeper to the end and returns the process exit code (see the module docs).
pub fn run(args: KeeperArgs) -> i32 {
    if args.argv.is_empty() {
        eprintln!("bridge argv required after --");
        return EXIT_USAGE;
    }
    // Sidecars are new files of this launch (security.md §7.3): whatever is already at
    // either path, a file, a symlink or another launch's sidecar, is kept and refused.
    for path in std::iter::once(&args.sidecar).chain(args.screen_sidecar.as_ref()) {
        if path.symlink_metadata().is_ok() {
            eprintln!(
                "clauster keeper: {} already exists; a sidecar path must be new (nothing was \
                 started)",
                path.display()
            );
            return EXIT_USAGE;
        }
    }
    // Blocked before the spawn; portable-pty clears the mask in the child.
    let signals = match signals::Signals::block() {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("clauster keeper: cannot watch signals ({e}); SIGTERM ends the keeper");
            None
        }
    };
    keep_child_statuses();
    let mut keeper = Keeper::new(args);
    keeper.publish();
    keeper.launch(signals.as_ref())
}

/// How far a requested stop has gone (pty.md §3, "Signals to the keeper").
#[derive(Debug, Clone, Copy)]
struct Stop {
    started: Instant,
    second_sent: bool,
    killed: bool,
}

struct Keeper {
    args: KeeperArgs,
    sidecar: Sidecar,
    screen: Screen,
    scanner: UrlScanner,
    spawned_at: Instant,
    /// Output arrived since the last scan / the last frame.
    scan_dirty: bool,
    frame_dirty: bool,
    last_scan: Option<Instant>,
    last_frame_at: Option<Instant>,
    last_grid: Option<PtyScreen>,
    frame_seq: u64,
    frames_done: bool,
    stop: Option<Stop>,
}

impl Keeper {
    fn new(args: KeeperArgs) -> Self {
        let pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        let sidecar = Sidecar::starting(pid, &args.argv, files::now_rfc3339());
        Self {
            args,
            sidecar,
            screen: Screen::new(),
            scanner: UrlScanner::default(),
            spawned_at: Instant::now(),
            scan_dirty: false,
            frame_dirty: false,
            last_scan: None,
            last_frame_at: None,
            last_grid: None,
            frame_seq: 0,
            frames_done: false,
            stop: None,
        }
    }

    fn url_found(&self) -> bool {
        self.sidecar.connect_url.is_some()
    }

    /// Writes the discovery sidecar as it stands.
    fn publish(&mut self) {
        self.sidecar.updated_at = files::now_rfc3339();
        if let Err(e) =
            crate::atomic_write::write_private(&self.args.sidecar, &self.sidecar.to_json())
        {
            eprintln!(
                "clauster keeper: cannot write the sidecar {}: {e}",
                self.args.sidecar.display()
            );
        }
    }

    fn fail(&mut self, error: String, code: i32) -> i32 {
        eprintln!("clauster keeper: {error}");
        self.sidecar.state = KeeperState::Error;
        self.sidecar.error = Some(error);
        self.publish();
        code
    }

    /// Steps 2–6 of pty.md §3.
    fn launch(&mut self, signals: Option<&signals::Signals>) -> i32 {
        let size = PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        };
        let pair = match native_pty_system().openpty(size) {
            Ok(pair) => pair,
            Err(e) => return self.fail(format!("openpty failed: {e}"), EXIT_OPENPTY),
        };
        if !self.args.cwd.is_dir() {
            let msg = format!(
                "spawn failed: working directory {} is not a directory",
                self.args.cwd.display()
            );
            return self.fail(msg, EXIT_SPAWN);
        }
        let mut cmd = CommandBuilder::new(&self.args.argv[0]);
        cmd.args(&self.args.argv[1..]);
        cmd.cwd(&self.args.cwd);
        if std::env::var_os("TERM").is_none() {
            cmd.env("TERM", "xterm-256color");
        }
        let child = match pair.slave.spawn_command(cmd) {
            Ok(child) => child,
            Err(e) => return self.fail(format!("spawn failed: {e}"), EXIT_SPAWN),
        };
        self.spawned_at = Instant::now();
        drop(pair.slave);
        let Some(pid) = child.process_id().and_then(|p| i32::try_from(p).ok()) else {
            return self.fail("spawn failed: the bridge has no pid".into(), EXIT_SPAWN);
        };
        self.record_bridge(pid);

        let (Some(master_fd), Ok(mut reader), Ok(mut writer)) = (
            pair.master.as_raw_fd(),
            pair.master.try_clone_reader(),
            pair.master.take_writer(),
        ) else {
            eprintln!("clauster keeper: cannot read the terminal; waiting for the bridge blind");
            let status = wait_blocking(pid);
            return self.finish(status);
        };
        let status = self.pump(pid, master_fd, &mut *reader, &mut *writer, signals);
        let code = self.finish(status);
        drop(child);
        // Dropping the writer sends EOF to a terminal nobody reads any more.
        drop(writer);
        code
    }

    /// Step 4: the bridge's pid and start identity, from one `/proc/<pid>/stat` read.
    fn record_bridge(&mut self, pid: i32) {
        self.sidecar.bridge_pid = Some(pid);
        match crate::proc::read_identity(pid) {
            Ok(Some(observed)) => {
                let identity = crate::proc::start_identity_of(&observed);
                self.sidecar.bridge_start_ticks = identity.start_ticks;
                self.sidecar.bridge_proc_start = identity.proc_start;
                self.sidecar.boot_id = identity.boot_id.map(|b| b.as_str().to_owned());
            }
            Ok(None) => {
                eprintln!(
                    "clauster keeper: the bridge (pid {pid}) was gone before its identity could be read"
                );
            }
            Err(e) => eprintln!("clauster keeper: cannot read the bridge's identity: {e}"),
        }
        self.publish();
    }

    /// Step 5: the loop while the bridge lives, then the drain of step 6.
    fn pump(
        &mut self,
        pid: i32,
        master_fd: RawFd,
        reader: &mut dyn Read,
        writer: &mut dyn Write,
        signals: Option<&signals::Signals>,
    ) -> Ended {
        let mut buf = vec![0u8; READ_MAX];
        let mut slave_closed = false;
        let master = borrow_fd(master_fd);
        loop {
            if let Some(status) = reap(pid) {
                if !slave_closed {
                    self.drain(master, reader, writer, &mut buf);
                }
                return status;
            }
            let timeout = self.next_wait(Instant::now());
            let mut fds = Vec::with_capacity(2);
            if !slave_closed {
                fds.push(PollFd::new(master, PollFlags::POLLIN));
            }
            if let Some(s) = signals {
                fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
            }
            let ms = u16::try_from(timeout.as_millis()).unwrap_or(500).max(1);
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => {
                    eprintln!("clauster keeper: poll failed: {e}");
                    std::thread::sleep(READ_RETRY);
                }
            }
            let master_ready = !slave_closed
                && fds
                    .first()
                    .and_then(PollFd::revents)
                    .is_some_and(|r| !r.is_empty());
            drop(fds);
            if let Some(s) = signals
                && s.take_stop_request()
                && self.stop.is_none()
            {
                self.begin_stop(pid);
            }
            if master_ready {
                match reader.read(&mut buf) {
                    Ok(0) => slave_closed = true,
                    Ok(n) => self.consume(&buf[..n], writer),
                    Err(e)
                        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                    Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => slave_closed = true,
                    Err(e) => {
                        eprintln!("clauster keeper: reading the terminal failed: {e}; retrying");
                        std::thread::sleep(READ_RETRY);
                    }
                }
            }
            self.tick(pid, Instant::now());
        }
    }

    /// After the bridge exited: whatever it still wrote, for up to 200 ms.
    fn drain(
        &mut self,
        master: BorrowedFd<'_>,
        reader: &mut dyn Read,
        writer: &mut dyn Write,
        buf: &mut [u8],
    ) {
        let until = Instant::now() + DRAIN_FOR;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut fds = [PollFd::new(master, PollFlags::POLLIN)];
            let ms = u16::try_from(left.as_millis()).unwrap_or(200).max(1);
            if !matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0) {
                break;
            }
            match reader.read(buf) {
                Ok(n) if n > 0 => self.consume(&buf[..n], writer),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                _ => break, // EOF, or EIO: draining done
            }
        }
        self.scan(Instant::now());
    }

    /// One chunk: into the emulator, answers to its queries back to the terminal.
    fn consume(&mut self, chunk: &[u8], writer: &mut dyn Write) {
        let replies = self.screen.feed(chunk);
        if !replies.is_empty()
            && let Err(e) = writer.write_all(&replies).and_then(|()| writer.flush())
        {
            eprintln!("clauster keeper: cannot answer a terminal query: {e}");
        }
        self.scan_dirty = true;
        self.frame_dirty = true;
    }

    /// How long the loop may sleep: 500 ms, less when a scan, a frame or a stop step is due.
    fn next_wait(&self, now: Instant) -> Duration {
        let mut due = vec![now + POLL_EVERY];
        if !self.url_found() && (self.scan_dirty || self.scanner.pending()) {
            due.push(self.last_scan.map_or(now, |t| t + SCAN_EVERY));
        }
        if self.frame_dirty && self.args.screen_sidecar.is_some() {
            due.push(self.last_frame_at.map_or(now, |t| t + FRAME_EVERY));
        }
        // Only deadlines that `tick` will act on; a past one that it skips would spin the loop.
        if self.sidecar.state == KeeperState::Starting && self.sidecar.prompt.is_none() {
            due.push(self.spawned_at + self.args.url_timeout);
        }
        if let Some(stop) = self.stop {
            if !stop.second_sent {
                due.push(stop.started + INTERRUPT_GAP);
            } else if !stop.killed {
                due.push(stop.started + INTERRUPT_GAP + STOP_GRACE);
            }
        }
        let at = due.into_iter().min().unwrap_or(now);
        at.saturating_duration_since(now)
    }

    /// The periodic work: stop steps, scans, the URL timeout, screen frames.
    fn tick(&mut self, pid: i32, now: Instant) {
        self.advance_stop(pid, now);
        let scan_due = self.last_scan.is_none_or(|t| now >= t + SCAN_EVERY);
        if scan_due && (self.scan_dirty || (!self.url_found() && self.scanner.pending())) {
            self.scan(now);
        }
        if self.sidecar.state == KeeperState::Starting
            && self.sidecar.prompt.is_none()
            && now >= self.spawned_at + self.args.url_timeout
        {
            self.sidecar.state = KeeperState::Ready;
            self.sidecar.ready_reason = Some(ReadyReason::Timeout);
            if let Some(note) = self.screen.fault_note() {
                self.sidecar.note = Some(note.to_owned());
            }
            self.publish();
        }
        let frame_due = self.last_frame_at.is_none_or(|t| now >= t + FRAME_EVERY);
        if self.frame_dirty && frame_due {
            self.write_frame(FrameState::Live, now);
        }
    }

    /// The URL scan and the prompt check over the rendered screen (or the raw bytes).
    fn scan(&mut self, now: Instant) {
        self.last_scan = Some(now);
        self.scan_dirty = false;
        let lines = self.screen.lines();
        let found = if self.url_found() {
            None
        } else if let Some(lines) = &lines {
            self.scanner.scan(lines, now)
        } else {
            raw_scan(self.screen.raw())
        };
        let mut changed = false;
        if let Some(id) = found {
            self.sidecar.connect_url = Some(format!("{URL_PREFIX}{id}"));
            self.sidecar.session_id = Some(id);
            self.sidecar.ready_reason = Some(ReadyReason::Url);
            if matches!(
                self.sidecar.state,
                KeeperState::Starting | KeeperState::Ready
            ) {
                self.sidecar.state = KeeperState::Ready;
            }
            changed = true;
        }
        if self.sidecar.state == KeeperState::Starting
            && self.sidecar.prompt.is_none()
            && let Some(prompt) = self.prompt_on_screen(lines.as_deref())
        {
            self.sidecar.prompt = Some(prompt);
            changed = true;
        }
        if changed {
            self.publish();
        }
    }

    fn prompt_on_screen(&self, lines: Option<&[String]>) -> Option<PromptKind> {
        match lines {
            Some(lines) => detect_prompt(&lines.join("\n")),
            None => detect_prompt(&clauster_core::sanitize::visible_text(
                &String::from_utf8_lossy(self.screen.raw()),
            )),
        }
    }

    /// Writes a screen frame when the screen changed (pty.md §6); the error frame once the
    /// emulator is gone.
    fn write_frame(&mut self, state: FrameState, now: Instant) {
        self.frame_dirty = false;
        let Some(path) = self.args.screen_sidecar.clone() else {
            return;
        };
        if self.frames_done {
            return;
        }
        let frame = if let Some(grid) = self.screen.grid() {
            if state == FrameState::Live && self.last_grid.as_ref() == Some(&grid) {
                return;
            }
            self.last_grid = Some(grid.clone());
            ScreenFrame {
                seq: self.frame_seq + 1,
                state,
                error: None,
                screen: Some(grid),
            }
        } else {
            self.frames_done = true;
            let reason = self
                .screen
                .dropped()
                .unwrap_or("the terminal emulator is unavailable");
            ScreenFrame {
                seq: self.frame_seq + 1,
                state: FrameState::Error,
                error: Some(reason.to_owned()),
                screen: None,
            }
        };
        self.frame_seq = frame.seq;
        self.last_frame_at = Some(now);
        if let Err(e) = crate::atomic_write::write_private(&path, &frame.to_json()) {
            eprintln!(
                "clauster keeper: cannot write the screen sidecar {}: {e}",
                path.display()
            );
        }
    }

    fn begin_stop(&mut self, pid: i32) {
        eprintln!("clauster keeper: stop requested; interrupting the bridge");
        let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
        self.stop = Some(Stop {
            started: Instant::now(),
            second_sent: false,
            killed: false,
        });
    }

    fn advance_stop(&mut self, pid: i32, now: Instant) {
        let Some(stop) = self.stop.as_mut() else {
            return;
        };
        // The bridge is our unreaped child, so its pid cannot have been reused.
        if !stop.second_sent && now >= stop.started + INTERRUPT_GAP {
            stop.second_sent = true;
            let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
        }
        if !stop.killed && now >= stop.started + INTERRUPT_GAP + STOP_GRACE {
            stop.killed = true;
            eprintln!("clauster keeper: the bridge ignored the interrupts; killing its group");
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    /// Step 6: the final sidecar and frame; returns the keeper's exit code.
    fn finish(&mut self, ended: Ended) -> i32 {
        let (bridge_exit, code) = match ended {
            Ended::Status(WaitStatus::Exited(_, code)) => (Some(code), code),
            Ended::Status(WaitStatus::Signaled(_, sig, _)) => {
                (Some(-(sig as i32)), 128 + sig as i32)
            }
            // Reaped by someone else (ECHILD): how it ended is unknown, not a signal.
            Ended::Status(_) | Ended::Unknown => (None, 1),
        };
        self.sidecar.state = KeeperState::Exited;
        self.sidecar.exit = Some(BridgeExit {
            bridge_exit,
            exit_screen: self.screen.exit_screen(),
        });
        self.publish();
        self.write_frame(FrameState::Exited, Instant::now());
        code
    }
}

/// How the bridge ended, as far as the keeper could see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Status(WaitStatus),
    /// `waitpid` said ECHILD: someone else reaped it, so its exit status is unknown (issue 14:
    /// never reported as a signal death).
    Unknown,
}

/// The bridge's status if it has ended (reaping it).
fn reap(pid: i32) -> Option<Ended> {
    match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
            Some(Ended::Status(status))
        }
        Ok(_) | Err(Errno::EINTR) => None,
        // ECHILD: someone else reaped it; nothing more to learn.
        Err(_) => Some(Ended::Unknown),
    }
}

/// An ignored SIGCHLD is inherited across `exec`; with it the kernel reaps the bridge itself
/// and its exit status is lost. The keeper wants its child's status, so it restores the
/// default before spawning.
#[allow(unsafe_code)]
fn keep_child_statuses() {
    // SAFETY: installs the default disposition (no handler runs); the keeper is single-threaded
    // at this point.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGCHLD,
            nix::sys::signal::SigHandler::SigDfl,
        )
    };
}

fn wait_blocking(pid: i32) -> Ended {
    loop {
        if let Some(status) = reap(pid) {
            return status;
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// The PTY master as a borrowed descriptor for `poll()`.
#[allow(unsafe_code)]
fn borrow_fd(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: `fd` is the master of the pair `launch` holds until `pump` has returned, and no
    // caller keeps the borrow beyond that.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

#[cfg(test)]
mod tests;
