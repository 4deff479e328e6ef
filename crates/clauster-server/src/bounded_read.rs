//! Reading files that come from a project (issue 16 §2): a cloned repository may plant a
//! symlink to `/dev/zero`, a FIFO, or a file of gigabytes where Clauster expects a small JSON
//! or Markdown file. Every such read here opens without following a final symlink and
//! without blocking (a FIFO opens at once), must find a regular file, and reads at most its
//! cap: over the cap is an answer, never an allocation of the file's size.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use nix::fcntl::OFlag;
use sha2::{Digest as _, Sha256};

/// `.mcp.json` and settings files (issue 16 §2).
pub const JSON_FILE_CAP: u64 = 1 << 20;
/// One transcript line (issue 16 §2), as the usage rollup already caps it.
pub const TRANSCRIPT_LINE_CAP: usize = clauster_core::usage::DEFAULT_MAX_LINE_BYTES;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("not found")]
    Missing,
    #[error("not a regular file")]
    NotRegular,
    #[error("{size} bytes, over the {cap} byte cap")]
    TooLarge { size: u64, cap: u64 },
    #[error("{0}")]
    Io(io::Error),
}

/// Opens `path` read-only, never following a final symlink (`ELOOP` reads as
/// [`Refused::NotRegular`]) and never blocking on a FIFO or a device, and checks that it is a
/// regular file.
pub fn open_regular(path: &Path) -> Result<(File, u64), Refused> {
    let flags = OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits())
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(Refused::Missing),
        Err(err) if err.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Err(Refused::NotRegular);
        }
        Err(err) => return Err(Refused::Io(err)),
    };
    let meta = file.metadata().map_err(Refused::Io)?;
    if !meta.is_file() {
        return Err(Refused::NotRegular);
    }
    Ok((file, meta.len()))
}

/// The whole of the regular file at `path`, at most `cap` bytes of it.
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, Refused> {
    let (file, size) = open_regular(path)?;
    if size > cap {
        return Err(Refused::TooLarge { size, cap });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // One byte more than the cap: a file that grew since `fstat` is caught too.
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(Refused::Io)?;
    let read = bytes.len() as u64;
    if read > cap {
        return Err(Refused::TooLarge { size: read, cap });
    }
    Ok(bytes)
}

/// The lowercase hex SHA-256 of the regular file at `path`, read in chunks (so its size
/// costs time, not memory) up to `max_bytes`; `None` when it cannot be read or is larger.
pub fn sha256_of_regular(path: &Path, max_bytes: u64) -> Option<String> {
    let (file, size) = open_regular(path).ok()?;
    if size > max_bytes {
        return None;
    }
    let mut hasher = Sha256::new();
    let mut reader = file.take(max_bytes + 1);
    let mut buffer = vec![0_u8; 64 << 10];
    let mut total = 0_u64;
    loop {
        let n = reader.read(&mut buffer).ok()?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buffer[..n]);
    }
    (total <= max_bytes).then(|| format!("{:x}", hasher.finalize()))
}

/// Splits `reader` into lines (without the `\n`) and hands each to `line`; a line longer than
/// `cap` bytes is skipped whole (and counted) without ever being held in memory. `line`
/// returns `false` to stop.
pub fn for_each_line(
    reader: impl io::Read,
    cap: usize,
    mut line: impl FnMut(&[u8]) -> bool,
) -> io::Result<u64> {
    let mut reader = io::BufReader::with_capacity(64 << 10, reader);
    let mut current = Vec::new();
    let mut skipping = false;
    let mut skipped = 0_u64;
    loop {
        let chunk = io::BufRead::fill_buf(&mut reader)?;
        if chunk.is_empty() {
            if !skipping && !current.is_empty() {
                line(&current);
            }
            return Ok(skipped);
        }
        let (used, newline) = match chunk.iter().position(|b| *b == b'\n') {
            Some(at) => (at + 1, Some(at)),
            None => (chunk.len(), None),
        };
        let part = &chunk[..newline.unwrap_or(used)];
        if !skipping {
            if current.len() + part.len() > cap {
                skipping = true;
                skipped += 1;
                current = Vec::new();
            } else {
                current.extend_from_slice(part);
            }
        }
        io::BufRead::consume(&mut reader, used);
        if newline.is_some() {
            let keep_going = skipping || line(&current);
            current.clear();
            skipping = false;
            if !keep_going {
                return Ok(skipped);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Refused, for_each_line, read_regular, sha256_of_regular};

    #[test]
    fn only_regular_files_within_the_cap_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, b"{}").unwrap();
        assert_eq!(read_regular(&small, 2).unwrap(), b"{}");
        assert!(matches!(
            read_regular(&small, 1),
            Err(Refused::TooLarge { size: 2, cap: 1 })
        ));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(read_regular(&link, 10), Err(Refused::NotRegular)));
        assert!(matches!(
            read_regular(std::path::Path::new("/dev/zero"), 10),
            Err(Refused::NotRegular)
        ));
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(read_regular(&fifo, 10), Err(Refused::NotRegular)));
        assert!(matches!(
            read_regular(&dir.path().join("none"), 10),
            Err(Refused::Missing)
        ));
        assert_eq!(
            sha256_of_regular(&small, 2).as_deref(),
            Some("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
        );
        assert_eq!(sha256_of_regular(&small, 1), None);
    }

    #[test]
    fn over_long_lines_are_skipped_whole() {
        let text = b"one\ntwo-is-long\nthree\nfour";
        let mut seen = Vec::new();
        let skipped = for_each_line(&text[..], 5, |line| {
            seen.push(String::from_utf8(line.to_vec()).unwrap());
            true
        })
        .unwrap();
        assert_eq!(seen, ["one", "three", "four"]);
        assert_eq!(skipped, 1);
        let mut first = Vec::new();
        for_each_line(&text[..], 100, |line| {
            first.push(line.to_vec());
            false
        })
        .unwrap();
        assert_eq!(first, [b"one".to_vec()]);
    }
}
