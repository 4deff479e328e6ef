//! `/ws/bridge-log/{instance_id}` (http-api.md §8.1): the live tail of an instance's debug
//! log (bridges.md §14.1–§14.3). One text frame per complete line, already sanitized.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::response::Response;
use clauster_core::sanitize::sanitize_for_stream;
use clauster_wire::{Frame, Instance};
use notify::{RecursiveMode, Watcher};
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::auth::SocketSession;
use crate::engine::EngineError;
use crate::http::ws::{CLOSE_INTERNAL, CLOSE_NORMAL, CLOSE_POLICY, KeepAlive, close};
use crate::socket_handshake::Handshake;
use crate::state::AppState;

/// The initial window: the last 64 KiB, from the next line start (bridges.md §14.2).
const WINDOW: u64 = 64 * 1024;
/// The most bytes one read takes; a larger backlog is read in several steps.
const CHUNK: usize = 256 * 1024;
/// The fallback poll when no change notification arrives.
const POLL: Duration = Duration::from_millis(500);
/// How long the tail keeps draining after the instance reached a terminal status.
const DRAIN: Duration = Duration::from_secs(2);

/// `GET /ws/bridge-log/{instance_id}`.
pub async fn stream(handshake: Handshake) -> Response {
    handshake.serve(run)
}

async fn run(state: AppState, reference: String, mut socket: WebSocket, session: SocketSession) {
    let mut session_end = std::pin::pin!(session.ended());
    // Subscribe before reading the instance: a terminal transition in between is not missed.
    let mut changes = state.engine().subscribe();
    let (instance, path, mut tail) = match open(&state, &reference).await {
        Ok(opened) => opened,
        Err((code, reason)) => {
            close(&mut socket, code, &reason).await;
            return;
        }
    };

    // Watch before the first read, so nothing written in between goes unnoticed.
    let wake = Arc::new(Notify::new());
    let _watcher = watch(&path, Arc::clone(&wake));

    let id = instance.instance_id.clone();
    let mut drain_until = is_terminal(&instance).then(Instant::now);
    let mut keep_alive = KeepAlive::start();
    loop {
        let Some(back) = pump(tail, &mut socket).await else {
            return;
        };
        tail = back;
        if drain_until.is_some_and(|until| Instant::now() >= until) {
            close(&mut socket, CLOSE_NORMAL, "bridge ended").await;
            return;
        }
        let drain_deadline = drain_until.unwrap_or_else(Instant::now);
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
            () = tokio::time::sleep_until(drain_deadline), if drain_until.is_some() => {}
            () = keep_alive.due() => {
                if !keep_alive.ping(&mut socket).await {
                    return;
                }
            }
            change = changes.recv(), if drain_until.is_none() => {
                let ended = match change {
                    Ok(frame) => match frame.as_ref() {
                        Frame::Instance { instance } if instance.instance_id == id => {
                            is_terminal(instance)
                        }
                        Frame::InstanceRemoved { instance_id } => *instance_id == id,
                        _ => false,
                    },
                    // Fell behind: ask for the current state instead.
                    Err(RecvError::Lagged(_)) => state
                        .engine()
                        .get(&id)
                        .await
                        .map_or(true, |current| is_terminal(&current)),
                    Err(RecvError::Closed) => true,
                };
                if ended {
                    drain_until = Some(Instant::now() + DRAIN);
                }
            }
            (code, reason) = &mut session_end => {
                close(&mut socket, code, reason).await;
                return;
            }
            incoming = socket.recv() => {
                if !keep_alive.heard(&mut socket, incoming.as_ref()).await {
                    return;
                }
            }
        }
    }
}

/// Resolves the instance and opens its log at the initial window; on failure, the close code
/// and reason.
async fn open(
    state: &AppState,
    reference: &str,
) -> Result<(Instance, PathBuf, Tail), (u16, String)> {
    let instance = state.engine().get(reference).await.map_err(|err| {
        let code = match err {
            EngineError::NotFound(_) | EngineError::Ambiguous(_) => CLOSE_POLICY,
            _ => CLOSE_INTERNAL,
        };
        (code, err.to_string())
    })?;
    let no_log = || (CLOSE_POLICY, "the instance has no log".to_owned());
    let path = log_file(&instance).ok_or_else(no_log)?;
    let strip_ansi = state.config().logs.strip_ansi_in_stream;
    let opened = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || Tail::open(path, strip_ansi)).await
    };
    match opened {
        Ok(Ok(tail)) => Ok((instance, path, tail)),
        Ok(Err(err)) if err.kind() == io::ErrorKind::NotFound => Err(no_log()),
        _ => Err((CLOSE_INTERNAL, "cannot read the instance's log".to_owned())),
    }
}

/// Sends every complete line there is, reading in bounded steps. `None` when the client is
/// gone or the reader failed for good (the socket is then closed).
async fn pump(mut tail: Tail, socket: &mut WebSocket) -> Option<Tail> {
    loop {
        let joined = tokio::task::spawn_blocking(move || {
            let read = tail.read_new();
            (tail, read)
        })
        .await;
        let Ok((back, read)) = joined else {
            close(socket, CLOSE_INTERNAL, "cannot read the instance's log").await;
            return None;
        };
        tail = back;
        // A transient error (file briefly missing, permissions): retried on the next wake.
        let Ok((lines, more)) = read else {
            return Some(tail);
        };
        for line in lines {
            socket.send(Message::Text(line.into())).await.ok()?;
        }
        if !more {
            return Some(tail);
        }
    }
}

/// A dead instance: stopped, crashed, or error without a live process.
fn is_terminal(instance: &Instance) -> bool {
    !instance.alive && matches!(instance.status.as_str(), "stopped" | "crashed" | "error")
}

/// The parse source (bridges.md §14.1): `<stem>.raw.log` when present, else `<stem>.log`.
fn log_file(instance: &Instance) -> Option<PathBuf> {
    let raw = instance
        .bridge_raw_log_path
        .as_deref()
        .map(PathBuf::from)
        .filter(|raw| raw.exists());
    raw.or_else(|| instance.bridge_debug_log_path.as_deref().map(PathBuf::from))
}

/// Wakes `wake` on every change of `path` (`watch::is_change`: never on a read), watching its directory (a rotated or recreated file
/// keeps being seen). `None` when notifications are unavailable: the poll still runs.
pub(crate) fn watch(path: &Path, wake: Arc<Notify>) -> Option<notify::RecommendedWatcher> {
    let dir = path.parent()?;
    let name = path.file_name()?.to_owned();
    let handler = move |event: notify::Result<notify::Event>| {
        // The woken reader reads the file: its own opens and reads are no reason to wake.
        if let Ok(event) = event
            && crate::watch::is_change(event.kind)
            && event
                .paths
                .iter()
                .any(|p| p.file_name() == Some(name.as_os_str()))
        {
            wake.notify_one();
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(err) => {
            tracing::debug!("cannot watch the log directory ({err}); polling instead");
            return None;
        }
    };
    if let Err(err) = watcher.watch(dir, RecursiveMode::NonRecursive) {
        tracing::debug!("cannot watch {} ({err}); polling instead", dir.display());
        return None;
    }
    Some(watcher)
}

/// Where the initial window starts (bridges.md §14.2): 0 for a file of at most 64 KiB;
/// otherwise the byte after the first `\n` inside the last 64 KiB (`last`), or the end of the
/// file when there is none.
fn window_start(len: u64, last: &[u8]) -> u64 {
    if len <= WINDOW {
        return 0;
    }
    let window_offset = len - last.len() as u64;
    last.iter()
        .position(|&b| b == b'\n')
        .map_or(len, |at| window_offset + at as u64 + 1)
}

/// Splits a byte stream into complete lines: NUL bytes skipped, a partial last line held
/// until its newline, trailing `\r` removed, decoded with replacement. A multi-byte UTF-8
/// sequence never contains `\n`, so one split across reads is whole again by then.
#[derive(Debug, Default)]
struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &byte in chunk {
            match byte {
                0 => {}
                b'\n' => {
                    let mut line = std::mem::take(&mut self.pending);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    lines.push(String::from_utf8_lossy(&line).into_owned());
                }
                _ => self.pending.push(byte),
            }
        }
        lines
    }

    fn reset(&mut self) {
        self.pending.clear();
    }
}

/// An open log file and how far it has been read.
#[derive(Debug)]
struct Tail {
    path: PathBuf,
    file: File,
    /// The identity of the open file, to notice a file replaced under the same name.
    id: (u64, u64),
    offset: u64,
    lines: Lines,
    strip_ansi: bool,
}

impl Tail {
    /// Opens `path` positioned at the start of the initial window.
    fn open(path: PathBuf, strip_ansi: bool) -> io::Result<Self> {
        let mut file = File::open(&path)?;
        let meta = file.metadata()?;
        let len = meta.len();
        let offset = if len <= WINDOW {
            0
        } else {
            let mut last = Vec::new();
            file.seek(SeekFrom::Start(len - WINDOW))?;
            (&mut file).take(WINDOW).read_to_end(&mut last)?;
            window_start(len, &last)
        };
        Ok(Self {
            path,
            file,
            id: (meta.dev(), meta.ino()),
            offset,
            lines: Lines::default(),
            strip_ansi,
        })
    }

    /// Reads at most one chunk of new bytes; returns the sanitized complete lines and whether
    /// more bytes are waiting.
    fn read_new(&mut self) -> io::Result<(Vec<String>, bool)> {
        // A file replaced under the same name: switch to the new one, from its start.
        if let Ok(meta) = std::fs::metadata(&self.path)
            && (meta.dev(), meta.ino()) != self.id
        {
            self.file = File::open(&self.path)?;
            self.id = (meta.dev(), meta.ino());
            self.offset = 0;
            self.lines.reset();
        }
        let len = self.file.metadata()?.len();
        if len < self.offset {
            // Shrank (copy-then-truncate rotation): restart at 0.
            self.offset = 0;
            self.lines.reset();
        }
        if len == self.offset {
            return Ok((Vec::new(), false));
        }
        let want = usize::try_from(len - self.offset)
            .unwrap_or(usize::MAX)
            .min(CHUNK);
        let mut buf = Vec::with_capacity(want);
        self.file.seek(SeekFrom::Start(self.offset))?;
        (&mut self.file).take(want as u64).read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        let lines = self
            .lines
            .push(&buf)
            .iter()
            .map(|line| sanitize_for_stream(line, self.strip_ansi).into_owned())
            .collect();
        Ok((lines, !buf.is_empty() && self.offset < len))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn lines_split_across_chunks() {
        let mut lines = Lines::default();
        assert!(lines.push(b"first ha").is_empty());
        assert_eq!(lines.push(b"lf\nsecond\r\nthi"), ["first half", "second"]);
        assert_eq!(lines.push(b"rd\n\n"), ["third", ""]);
        assert!(lines.push(b"partial").is_empty());
    }

    #[test]
    fn utf8_split_across_chunks_is_decoded_whole() {
        let text = "caf\u{e9} \u{2713}\n".as_bytes();
        let mut lines = Lines::default();
        assert!(lines.push(&text[..4]).is_empty());
        assert_eq!(lines.push(&text[4..]), ["caf\u{e9} \u{2713}"]);
        assert_eq!(lines.push(b"bad \xff byte\n"), ["bad \u{fffd} byte"]);
    }

    #[test]
    fn nul_bytes_are_skipped() {
        let mut lines = Lines::default();
        assert_eq!(lines.push(b"\0\0\0a\0b\n\0"), ["ab"]);
        assert_eq!(lines.push(b"\0c\n"), ["c"]);
    }

    #[test]
    fn window_of_a_small_file_starts_at_zero() {
        assert_eq!(window_start(0, b""), 0);
        assert_eq!(window_start(WINDOW, &[b'x'; 10]), 0);
    }

    #[test]
    fn window_of_a_large_file_starts_after_the_first_newline() {
        let len = WINDOW + 100;
        let mut last = vec![b'x'; usize::try_from(WINDOW).unwrap()];
        last[9] = b'\n';
        last[20] = b'\n';
        assert_eq!(window_start(len, &last), 100 + 10);
        // No newline in the window: nothing of it is sent.
        let last = vec![b'x'; usize::try_from(WINDOW).unwrap()];
        assert_eq!(window_start(len, &last), len);
    }

    fn append(path: &Path, bytes: &[u8]) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        file.write_all(bytes).unwrap();
    }

    /// A bridge log holding `content` in a fresh directory, and a tail opened on it.
    fn tail_of(content: &[u8], strip_ansi: bool) -> (tempfile::TempDir, PathBuf, Tail) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alpha-1764083000000-1.log");
        append(&path, content);
        let tail = Tail::open(path.clone(), strip_ansi).unwrap();
        (dir, path, tail)
    }

    fn read_all(tail: &mut Tail) -> Vec<String> {
        let mut all = Vec::new();
        loop {
            let (lines, more) = tail.read_new().unwrap();
            all.extend(lines);
            if !more {
                return all;
            }
        }
    }

    #[test]
    fn tail_sends_the_window_then_follows_and_restarts_after_truncation() {
        let mut big = Vec::new();
        for n in 0..5000 {
            big.extend_from_slice(format!("line {n:05} ..........\n").as_bytes());
        }
        let (_dir, path, mut tail) = tail_of(&big, true);
        let window = read_all(&mut tail);
        let window_bytes: usize = window.iter().map(|l| l.len() + 1).sum();
        assert!(window_bytes <= usize::try_from(WINDOW).unwrap());
        assert!(window_bytes > usize::try_from(WINDOW).unwrap() - 30);
        assert_eq!(window.last().unwrap(), "line 04999 ..........");
        assert!(window.iter().all(|l| l.starts_with("line ")));

        append(
            &path,
            b"\x1b[33mnew session_01ABCDEFGH1234 \0here\x1b[0m\npart",
        );
        assert_eq!(read_all(&mut tail), ["new session_<redacted> here"]);
        append(&path, b"ial\n");
        assert_eq!(read_all(&mut tail), ["partial"]);

        // Copy-then-truncate rotation: the file shrinks, the tail restarts at 0.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(&path, b"after rotation\n");
        assert_eq!(read_all(&mut tail), ["after rotation"]);
    }

    #[test]
    fn tail_of_a_replaced_file_starts_over() {
        let (dir, path, mut tail) = tail_of(b"one\n", false);
        assert_eq!(read_all(&mut tail), ["one"]);
        // Replaced by rename while the old file is still open: a different inode.
        let next = dir.path().join("next");
        append(&next, b"fresh and longer\n");
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(read_all(&mut tail), ["fresh and longer"]);
    }

    #[test]
    fn strip_ansi_off_keeps_colour_of_clean_lines() {
        let (_dir, path, mut tail) = tail_of(b"\x1b[33mwarn\x1b[0m\n", false);
        assert_eq!(read_all(&mut tail), ["\x1b[33mwarn\x1b[0m"]);
        let mut tail = Tail::open(path, true).unwrap();
        assert_eq!(read_all(&mut tail), ["warn"]);
    }
}
