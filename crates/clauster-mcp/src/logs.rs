//! The recent lines of a bridge's debug log for `instance_logs`: the last complete lines of
//! the file the instance names, each sanitized and redacted (bridges.md §14.3) before it
//! leaves the process.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use clauster_core::sanitize::sanitize_line;

/// At most this many bytes from the end of the file are read.
const WINDOW: u64 = 1024 * 1024;

/// The last `lines` complete lines of `path`, redacted; a partial last line is left out, and
/// so is the first line of a window that starts inside the file (it may be cut).
pub fn tail(path: &Path, lines: usize) -> std::io::Result<Vec<String>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(WINDOW);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(WINDOW).read_to_end(&mut bytes)?;
    bytes.retain(|b| *b != 0);
    let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
        return Ok(Vec::new());
    };
    let text = String::from_utf8_lossy(&bytes[..end]);
    let all: Vec<&str> = text.split('\n').skip(usize::from(start > 0)).collect();
    Ok(all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| sanitize_line(line).into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn the_last_complete_lines_redacted() {
        let dir = std::env::temp_dir().join(format!("clauster-mcp-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.log");
        std::fs::write(
            &path,
            b"one\ntwo\n\x1b[1mthree\x1b[0m session_01ABCDEFGHJK\0\nfour\npartial",
        )
        .unwrap();
        assert_eq!(
            tail(&path, 2).unwrap(),
            ["three session_<redacted>", "four"]
        );
        assert_eq!(tail(&path, 100).unwrap().len(), 4);
        std::fs::write(&path, b"no newline yet").unwrap();
        assert!(tail(&path, 5).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
