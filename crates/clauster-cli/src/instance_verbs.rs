//! `resume`, `forget`, `open` and `logs` (cli.md §3): the verbs on one existing bridge,
//! named by an instance reference — the same API calls as the dashboard's, over the control
//! socket of a running server or of the engine a command runs for itself
//! ([`crate::headless`]).
#![allow(clippy::print_stdout)] // results are these commands' output

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clauster_core::sanitize::sanitize_line;
use clauster_wire::Instance;

use crate::commands::{
    CALL_TIMEOUT, Target, exit_for, id8, malformed, print_json, report_launch, request,
    start_refusal, success_json, target,
};
use crate::control_client::encode_segment;

/// The window a log shows first (the dashboard's tail sends the same).
const LOG_WINDOW: u64 = 64 * 1024;
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// The flags of `clauster resume` besides `--json`; the field docs are their help.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct ResumeChoices {
    /// Start a new conversation instead of continuing.
    #[arg(long)]
    pub fresh: bool,
    /// Mark the project's directory trusted first.
    #[arg(long)]
    pub trust: bool,
    /// Wait for `running` or a terminal status, then print the link.
    #[arg(long)]
    pub wait: bool,
}

/// `clauster resume <instance> [--fresh] [--trust] [--wait] [--json]`.
pub fn resume(
    config_path: Option<&Path>,
    reference: &str,
    choices: ResumeChoices,
    json: bool,
) -> ExitCode {
    let ResumeChoices { fresh, trust, wait } = choices;
    let target = match target(config_path) {
        Ok(target) => target,
        Err(code) => return code,
    };
    let launched = std::time::Instant::now();
    let path = format!("/api/instances/{}/resume", encode_segment(reference));
    let body = serde_json::json!({ "fresh": fresh, "trust": trust }).to_string();
    // The request waits for readiness, twice over when a continue falls back.
    let timeout = target.ready_wait * 2 + CALL_TIMEOUT;
    let Ok(answer) = request(&target, "POST", &path, Some(body.as_bytes()), timeout) else {
        return ExitCode::FAILURE;
    };
    let Some(value) = success_json(&answer) else {
        // An unknown or ambiguous reference is a usage error, as for every instance verb.
        return exit_for(&answer, |status| {
            status == 404
                || start_refusal(status, &answer.body)
                || (status == 409
                    && crate::commands::detail(&answer.body)
                        .is_some_and(|d| d.starts_with("ambiguous ")))
        });
    };
    if wait {
        let (value, lost) = crate::commands::wait_settled(&target, value, launched);
        return crate::commands::report_waited("resumed", &value, json, lost.as_deref());
    }
    report_launch("resumed", &value, json)
}

/// `clauster forget <instance> [--json]`: 1 while it is live, 2 unknown or ambiguous.
pub fn forget(config_path: Option<&Path>, reference: &str, json: bool) -> ExitCode {
    // Read first, so the summary can name the project of what is forgotten.
    let (target, instance) = match find(config_path, reference) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let path = format!("/api/instances/{}/forget", encode_segment(reference));
    let Ok(answer) = request(&target, "POST", &path, None, CALL_TIMEOUT) else {
        return ExitCode::FAILURE;
    };
    let Some(value) = success_json(&answer) else {
        // 409 here means "still live": the operation was attempted and refused (exit 1).
        return exit_for(&answer, |status| matches!(status, 404 | 422));
    };
    if json {
        print_json(&value);
    } else {
        println!(
            "forgot {} ({})",
            id8(&instance.instance_id),
            instance.project
        );
    }
    ExitCode::SUCCESS
}

/// `clauster open <instance> [--qr] [--launch]`: the link to pick the bridge up.
pub fn open(config_path: Option<&Path>, reference: &str, qr: bool, launch: bool) -> ExitCode {
    let (_target, instance) = match find(config_path, reference) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let Some(link) = instance.session_url.clone().or(instance.url.clone()) else {
        eprintln!("clauster: error: no session URL available yet");
        return ExitCode::from(2);
    };
    println!("{link}");
    if qr {
        match qrcode::QrCode::new(link.as_bytes()) {
            Ok(code) => print!(
                "{}",
                code.render::<qrcode::render::unicode::Dense1x2>()
                    .quiet_zone(true)
                    .build()
            ),
            Err(err) => eprintln!("clauster: warning: cannot draw a QR code: {err}"),
        }
    }
    if launch
        && std::process::Command::new("xdg-open")
            .arg(&link)
            .status()
            .map_or(true, |s| !s.success())
    {
        eprintln!("clauster: warning: could not open a browser (xdg-open)");
    }
    ExitCode::SUCCESS
}

/// `clauster logs <instance> [-n N] [-f]`: redacted complete lines of the bridge's debug log.
pub fn logs(
    config_path: Option<&Path>,
    reference: &str,
    lines: Option<usize>,
    follow: bool,
) -> ExitCode {
    let (target, instance) = match find(config_path, reference) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let raw = instance
        .bridge_raw_log_path
        .as_deref()
        .map(PathBuf::from)
        .filter(|p| p.exists());
    let Some(path) = raw.or(instance.bridge_debug_log_path.as_deref().map(PathBuf::from)) else {
        eprintln!("clauster: error: instance '{reference}' has no log");
        return ExitCode::from(2);
    };
    // The engine this command ran (if any) is not needed for reading files.
    drop(target);
    let Ok(mut file) = std::fs::File::open(&path) else {
        eprintln!("clauster: error: cannot read {}", path.display());
        return ExitCode::FAILURE;
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let start = if lines.is_some() {
        0
    } else {
        len.saturating_sub(LOG_WINDOW)
    };
    let mut offset = start;
    let mut pending = Vec::new();
    let first = read_lines(&mut file, &mut offset, &mut pending, start > 0);
    let shown = match lines {
        Some(n) => &first[first.len().saturating_sub(n)..],
        None => &first[..],
    };
    let mut out = std::io::stdout().lock();
    for line in shown {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
    drop(out);
    if !follow {
        return ExitCode::SUCCESS;
    }
    let mut head = read_head(&mut file);
    loop {
        std::thread::sleep(FOLLOW_EVERY);
        let Ok(mut file) = std::fs::File::open(&path) else {
            eprintln!("clauster: error: {} became unreadable", path.display());
            return ExitCode::FAILURE;
        };
        let mut fresh = Vec::new();
        let now = read_head(&mut file);
        if rotated(&head, &now, file.metadata().map_or(0, |m| m.len()), offset) {
            fresh = finish_rotated(&path, offset, &mut pending);
            offset = 0;
        }
        head = now;
        fresh.extend(read_lines(&mut file, &mut offset, &mut pending, false));
        let mut out = std::io::stdout().lock();
        for line in fresh {
            if writeln!(out, "{line}").is_err() {
                return ExitCode::SUCCESS;
            }
        }
        let _ = out.flush();
    }
}

/// How many of a log's first bytes tell one generation from the next.
const HEAD_BYTES: u64 = 256;

/// The first [`HEAD_BYTES`] of the open log (fewer while it is shorter; none when
/// unreadable). Reads move the file's position: [`read_lines`] seeks its own.
fn read_head(file: &mut std::fs::File) -> Vec<u8> {
    let mut head = Vec::new();
    if file.seek(SeekFrom::Start(0)).is_ok() {
        let _ = Read::by_ref(file).take(HEAD_BYTES).read_to_end(&mut head);
    }
    head
}

/// Whether the log was rotated since the follower read `offset` bytes of it and its first
/// bytes were `before`: it is shorter now, or it begins differently — a new generation that
/// already grew past `offset` between two checks. The copy to `<log>.1` is complete by then:
/// the live log is truncated only after it.
fn rotated(before: &[u8], now: &[u8], len: u64, offset: u64) -> bool {
    len < offset || !now.starts_with(before)
}

/// The log was rotated under the follower (bridges.md §5.2: copied to `<log>.1`,
/// then truncated). What was written since the last read is in `<log>.1` from `offset` on;
/// returns those lines. When `<log>.1` is shorter than `offset` (rotated twice between two
/// reads) that part is gone: the cut line in `pending` is dropped.
fn finish_rotated(log: &Path, offset: u64, pending: &mut Vec<u8>) -> Vec<String> {
    let mut rotated = log.as_os_str().to_owned();
    rotated.push(".1");
    let Ok(mut old) = std::fs::File::open(PathBuf::from(rotated)) else {
        pending.clear();
        return Vec::new();
    };
    if old.metadata().map_or(0, |m| m.len()) < offset {
        pending.clear();
        return Vec::new();
    }
    let mut old_offset = offset;
    read_lines(&mut old, &mut old_offset, pending, false)
}

/// The complete lines from `offset` on, sanitized (bridges.md §14.3); a partial last line
/// waits in `pending`. `skip_first` drops the first (possibly cut) line of a window.
fn read_lines(
    file: &mut std::fs::File,
    offset: &mut u64,
    pending: &mut Vec<u8>,
    skip_first: bool,
) -> Vec<String> {
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(*offset)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    *offset += bytes.len() as u64;
    pending.extend(bytes.into_iter().filter(|b| *b != 0));
    let Some(end) = pending.iter().rposition(|b| *b == b'\n') else {
        return Vec::new();
    };
    let complete: Vec<u8> = pending.drain(..=end).collect();
    let text = String::from_utf8_lossy(&complete);
    text.lines()
        .skip(usize::from(skip_first))
        .map(|line| sanitize_line(line).into_owned())
        .collect()
}

/// The server to ask and the instance `reference` names there (see [`get`]).
fn find(config_path: Option<&Path>, reference: &str) -> Result<(Target, Instance), ExitCode> {
    let target = target(config_path)?;
    let instance = get(&target, reference)?;
    Ok((target, instance))
}

/// `GET /api/instances/{ref}`; unknown or ambiguous → exit 2.
fn get(target: &Target, reference: &str) -> Result<Instance, ExitCode> {
    let path = format!("/api/instances/{}", encode_segment(reference));
    let answer = request(target, "GET", &path, None, CALL_TIMEOUT)?;
    let Some(value) = success_json(&answer) else {
        return Err(exit_for(&answer, |status| {
            matches!(status, 404 | 409 | 422)
        }));
    };
    serde_json::from_value(value).map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_complete_sanitized_and_nul_free() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(
            &path,
            b"cut line\n\0\0\x1b[1mbold\x1b[0m session_01ABCDEFGHJK\npartial",
        )
        .unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        let (mut offset, mut pending) = (0, Vec::new());
        let lines = read_lines(&mut file, &mut offset, &mut pending, true);
        assert_eq!(lines, ["bold session_<redacted>"]);
        assert_eq!(pending, b"partial");
    }

    #[test]
    fn a_follower_finishes_the_rotated_generation_before_the_new_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("b.log");
        std::fs::write(&log, b"one\ntw").unwrap();
        let mut file = std::fs::File::open(&log).unwrap();
        let (mut offset, mut pending) = (0, Vec::new());
        assert_eq!(
            read_lines(&mut file, &mut offset, &mut pending, false),
            ["one"]
        );
        // Written after that read, then rotated (copy to .1, truncate), then written again.
        std::fs::write(dir.path().join("b.log.1"), b"one\ntwo\nthree\n").unwrap();
        std::fs::write(&log, b"four\n").unwrap();
        let mut lines = finish_rotated(&log, offset, &mut pending);
        let mut file = std::fs::File::open(&log).unwrap();
        offset = 0;
        lines.extend(read_lines(&mut file, &mut offset, &mut pending, false));
        assert_eq!(lines, ["two", "three", "four"]);
    }

    #[test]
    fn a_new_generation_grown_past_the_old_position_is_seen_by_its_first_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("d.log");
        let head_of = |log: &Path| read_head(&mut std::fs::File::open(log).unwrap());
        std::fs::write(&log, b"2026-01-01 a\n").unwrap();
        let head = head_of(&log);
        // Rotated, and the new generation is already longer than what was read.
        std::fs::write(&log, b"2026-01-02 b\n2026-01-02 c\n").unwrap();
        assert!(rotated(&head, &head_of(&log), 26, 13));
        // The same generation, grown: not a rotation.
        std::fs::write(&log, b"2026-01-01 a\n2026-01-01 b\n").unwrap();
        assert!(!rotated(&head, &head_of(&log), 26, 13));
        // Shorter than what was read: a rotation, whatever it begins with.
        assert!(rotated(&head, &head, 5, 13));
    }

    #[test]
    fn two_rotations_between_reads_drop_the_cut_line_not_the_new_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("c.log");
        std::fs::write(dir.path().join("c.log.1"), b"x\n").unwrap();
        let mut pending = b"cut".to_vec();
        assert!(finish_rotated(&log, 100, &mut pending).is_empty());
        assert!(pending.is_empty());
    }
}
