//! A minimal HTTP/1.1 client for the control socket (cli.md §2): one request per connection,
//! `Connection: close`, the body read to the end.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One answer: the status code and the body bytes (de-chunked).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why a call did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Nothing listens on the socket (absent, refused): no server runs.
    #[error("no clauster server is running (no answer on {}); start one with clauster run", .0.display())]
    NoServer(PathBuf),
    #[error("the call over {} failed: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the server over {} sent a malformed HTTP answer", .0.display())]
    Malformed(PathBuf),
}

/// Sends `method path` (already including `root_path`) with an optional JSON body.
pub fn call(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<Answer, CallError> {
    let mut stream = UnixStream::connect(socket).map_err(|_| CallError::NoServer(socket.into()))?;
    let io = |source| CallError::Io {
        path: socket.into(),
        source,
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Accept: application/json\r\n"
    );
    let body = body.unwrap_or_default();
    if !body.is_empty() || method == "POST" {
        let _ = write!(
            request,
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).map_err(io)?;
    stream.write_all(body).map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    parse_answer(&raw).ok_or_else(|| CallError::Malformed(socket.into()))
}

/// Percent-encodes one path segment (an instance reference) for the request line.
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Splits a complete HTTP/1.1 response into status and body; `None` when it is not one.
fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let rest = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().ok()?);
        }
    }
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(length) = length {
        rest.get(..length)?.to_vec()
    } else {
        rest.to_vec()
    };
    Some(Answer { status, body })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::{encode_segment, parse_answer};

    #[test]
    fn reads_length_delimited_chunked_and_close_delimited_bodies() {
        let cases: [(&[u8], u16, &[u8]); 3] = [
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n[]",
                200,
                b"[]",
            ),
            (
                b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n2\r\n\"}\r\n0\r\n\r\n",
                404,
                b"{\"a\"}",
            ),
            (b"HTTP/1.1 201 Created\r\n\r\n{}", 201, b"{}"),
        ];
        for (raw, status, body) in cases {
            let answer = parse_answer(raw).expect("an answer");
            assert_eq!((answer.status, answer.body.as_slice()), (status, body));
        }
        assert!(parse_answer(b"garbage").is_none());
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n[]").is_none());
    }

    #[test]
    fn encodes_references_as_one_path_segment() {
        assert_eq!(encode_segment("alpha"), "alpha");
        assert_eq!(encode_segment("a b/c%"), "a%20b%2Fc%25");
    }
}
