//! `FAKE_CLAUDE_RUN_HOOKS`: runs the SessionStart command hooks of `<D>/settings.json` the way
//! claude does (`sh -c`, the event JSON on stdin, 10 s timeout) and records each result in
//! `<debug-file>.hooks.jsonl`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util;

const TIMEOUT: Duration = Duration::from_secs(10);

pub struct HookRun {
    pub session_uuid: String,
    pub transcript_path: PathBuf,
    pub cwd: PathBuf,
    /// `startup` or `resume`.
    pub source: &'static str,
    pub debug_file: Option<PathBuf>,
}

fn commands() -> Vec<String> {
    let Some(settings) = util::read_json(&util::config_dir().join("settings.json")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let groups = settings
        .pointer("/hooks/SessionStart")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    for group in groups {
        for hook in group
            .get("hooks")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            if hook.get("type").and_then(serde_json::Value::as_str) == Some("command")
                && let Some(cmd) = hook.get("command").and_then(serde_json::Value::as_str)
            {
                out.push(cmd.to_string());
            }
        }
    }
    out
}

/// Runs the hooks on a background thread (a hook may take up to 10 s; signals must still be
/// answered at once).
pub fn spawn(run: HookRun) {
    std::thread::spawn(move || run_all(&run));
}

fn run_all(run: &HookRun) {
    let input = serde_json::json!({
        "session_id": run.session_uuid,
        "transcript_path": run.transcript_path.to_string_lossy(),
        "cwd": run.cwd.to_string_lossy(),
        "hook_event_name": "SessionStart",
        "source": run.source,
    })
    .to_string();
    for command in commands() {
        let (exit, stdout) = run_one(&command, &input, &run.cwd);
        if let Some(debug_file) = &run.debug_file {
            let line = serde_json::json!({"command": command, "exit": exit, "stdout": stdout});
            util::append_line(
                &util::sibling(debug_file, ".hooks.jsonl"),
                &line.to_string(),
            );
        }
    }
}

/// (exit code or `None` on a signal death or timeout, stdout).
fn run_one(command: &str, input: &str, cwd: &Path) -> (Option<i32>, String) {
    let child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .env("CLAUDE_PROJECT_DIR", cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return (None, String::new());
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        })
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    // A timed-out hook's grandchildren may keep the pipe open: do not wait for them.
    let stdout = match (status.is_some(), reader) {
        (true, Some(r)) => r.join().unwrap_or_default(),
        _ => Vec::new(),
    };
    (
        status.and_then(|s| s.code()),
        String::from_utf8_lossy(&stdout).into_owned(),
    )
}
