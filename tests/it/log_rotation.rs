//! Rotation of a redacted log set (bridges.md §5.2, §5.3; issue 14, defect 10): the raw log
//! and its redacted mirror rotate together, once, and the mirror's history survives in
//! `<stem>.log.1`.

use crate::support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{serve_claude, wait_for};

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open the raw log for appending")
        .write_all(text.as_bytes())
        .expect("append to the raw log");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test]
async fn rotating_a_redacted_log_keeps_the_mirror_history() {
    let (sandbox, claude) = support::alpha_and_fake();
    // One rotated copy: a second rotation of the mirror would push its history out.
    let server = serve_claude(
        &sandbox,
        &claude,
        &[
            ("CLAUSTER_LOGS_REDACT_SESSION_URL", "true"),
            ("CLAUSTER_LOGS_BRIDGE_LOG_MAX_SIZE_MB", "1"),
            ("CLAUSTER_LOGS_KEEP_ROTATED", "1"),
        ],
    );
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    let raw = PathBuf::from(started["bridge_raw_log_path"].as_str().expect("a raw log"));
    let public = PathBuf::from(
        started["bridge_debug_log_path"]
            .as_str()
            .expect("a public log"),
    );

    // 1.5 MiB of history, as claude appends it: both the raw log and its mirror pass 1 MiB.
    let filler = "x".repeat(100);
    let history = (0..15_000).fold(String::new(), |mut out, n| {
        use std::fmt::Write as _;
        let _ = writeln!(out, "history line {n:05} {filler}");
        out
    });
    append(&raw, &history);
    append(
        &raw,
        "last line before rotation session_01ABCDEFGHJKMNPQRSTVWXYZ00\n",
    );

    // Rotation runs every 10 s. It has ended once the mirror's copy holds the raw log's last
    // line: the raw log is copied and truncated before the mirror rotates, so a line
    // appended earlier (`.1` already there, the copy still running) could be truncated away.
    let last_line = "last line before rotation session_<redacted>\n";
    let rotated = wait_for(Duration::from_secs(30), || {
        read(&numbered(&public, 1))
            .contains(last_line)
            .then_some(())
    });
    assert!(
        rotated.is_some(),
        "the mirror's rotated copy never held the raw log's last line\n{}",
        server.log()
    );
    assert!(
        numbered(&raw, 1).exists(),
        "the raw log was not rotated with its mirror"
    );
    // A line written after the rotation reaches the live mirror.
    append(&raw, "first line after rotation\n");
    let seen = wait_for(Duration::from_secs(30), || {
        read(&public)
            .contains("first line after rotation")
            .then_some(())
    });
    assert!(seen.is_some(), "the mirror stopped following the raw log");

    let kept = read(&numbered(&public, 1));
    assert!(
        kept.contains("history line 00000") && kept.contains("history line 14999"),
        "the mirror's history is gone from {}: {} bytes kept",
        numbered(&public, 1).display(),
        kept.len()
    );
    assert!(!kept.contains("session_01ABCDEFGHJKMNPQRSTVWXYZ00"));
    assert!(
        !read(&public).contains("history line"),
        "the live mirror still holds the rotated history"
    );
}
