//! `clauster __recap-hook__` (bridges.md §13.2): Claude Code's SessionStart hook. Reads the
//! payload on stdin, picks the previous transcript of the directory and prints the recap.
//! It never fails a session: on any problem it exits 0 and prints nothing.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clauster_core::recap;

/// Transcripts larger than this are not read (a recap needs the tail of a conversation,
/// not hundreds of MiB of it).
const MAX_TRANSCRIPT_BYTES: u64 = 64 * 1024 * 1024;

pub fn run() -> ExitCode {
    if let Some(output) = recap_output(
        std::env::var("CLAUSTER_RESUME_RECAP").ok().as_deref(),
        std::env::var("CLAUSTER_RESUME_RECAP_MAX_CHARS")
            .ok()
            .as_deref(),
        &mut std::io::stdin().lock(),
    ) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{output}");
    }
    ExitCode::SUCCESS
}

/// The hook's whole behaviour over its inputs: the two variables and stdin.
fn recap_output(
    armed: Option<&str>,
    max_chars: Option<&str>,
    stdin: &mut dyn std::io::Read,
) -> Option<String> {
    if armed != Some("1") {
        return None;
    }
    let mut payload = Vec::new();
    stdin
        .take(recap::MAX_PAYLOAD_BYTES as u64 + 1)
        .read_to_end(&mut payload)
        .ok()?;
    let start = recap::parse_payload(&payload)?;
    let current = Path::new(&start.transcript_path);
    let previous = previous_transcript(current)?;
    let text = std::fs::read(previous).ok()?;
    let turns = recap::turns(&String::from_utf8_lossy(&text));
    let recap = recap::render(&turns, recap::budget(max_chars))?;
    Some(recap::hook_output(&recap))
}

/// The newest `*.jsonl` directly in the current transcript's directory, other than the
/// current one, whose first lines hold a turn.
fn previous_transcript(current: &Path) -> Option<PathBuf> {
    let dir = current.parent()?;
    let current_name = current.file_name()?;
    let mut best: Option<(SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl")
            || path.file_name() == Some(current_name)
        {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || meta.len() > MAX_TRANSCRIPT_BYTES {
            continue;
        }
        let Ok(modified) = meta.modified() else {
            continue;
        };
        if best.as_ref().is_some_and(|(at, _)| *at >= modified) {
            continue;
        }
        if has_turn(&path) {
            best = Some((modified, path));
        }
    }
    best.map(|(_, path)| path)
}

/// Reads only the first [`recap::CANDIDATE_PROBE_LINES`] lines.
fn has_turn(path: &Path) -> bool {
    use std::io::BufRead as _;
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut start = String::new();
    for line in std::io::BufReader::new(file)
        .split(b'\n')
        .take(recap::CANDIDATE_PROBE_LINES)
    {
        let Ok(line) = line else { return false };
        start.push_str(&String::from_utf8_lossy(&line));
        start.push('\n');
    }
    recap::has_turn(&start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unarmed_or_empty_input_prints_nothing() {
        assert_eq!(recap_output(None, None, &mut &b""[..]), None);
        assert_eq!(recap_output(Some("0"), None, &mut &b"{}"[..]), None);
        assert_eq!(recap_output(Some("1"), None, &mut &b"garbage"[..]), None);
        let missing = br#"{"transcript_path":"/nonexistent/dir/a.jsonl","source":"startup"}"#;
        assert_eq!(recap_output(Some("1"), None, &mut &missing[..]), None);
    }
}
