//! The client half of the control socket (cli.md §2): one HTTP/1.1 request per connection
//! with hyper's client over a [`tokio::net::UnixStream`], the body read to the end. The CLI
//! speaks to a running server through it, and so do the end-to-end tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// The largest answer body read; the API's largest answers are a few MiB.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One answer: the status code, the headers and the body bytes.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

/// Why a call did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Nothing listens on the socket (absent, refused): no server runs.
    #[error("no clauster server is running (no answer on {}); start one with clauster run", .0.display())]
    NoServer(PathBuf),
    #[error(
        "the call over {} failed: {source}; the server may have stopped: see clauster status",
        .path.display()
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the server over {} sent a malformed HTTP answer", .0.display())]
    Malformed(PathBuf),
}

/// Sends `method path` (already including `root_path`) with an optional JSON body and reads
/// the whole answer within `timeout`.
///
/// # Errors
/// [`CallError::NoServer`] when nothing accepts on `socket`; [`CallError::Io`] when the
/// exchange fails or outlasts `timeout`; [`CallError::Malformed`] when the answer is not HTTP.
pub async fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<Answer, CallError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|_| CallError::NoServer(socket.into()))?;
    let exchange = exchange(stream, socket, method, path, body.unwrap_or_default());
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(CallError::Io {
                path: socket.into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no complete answer within {}s", timeout.as_secs_f64()),
                ),
            })
        })
}

/// [`request`] for callers outside an async context (the CLI's commands): runs it on a
/// current-thread runtime of its own.
///
/// # Errors
/// As [`request`]; [`CallError::Io`] also when the runtime cannot start.
pub fn call(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<Answer, CallError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CallError::Io {
            path: socket.into(),
            source,
        })?;
    runtime.block_on(request(socket, method, path, body, timeout))
}

async fn exchange(
    stream: UnixStream,
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Answer, CallError> {
    let malformed = |_| CallError::Malformed(socket.into());
    let io = |err: hyper::Error| CallError::Io {
        path: socket.into(),
        source: std::io::Error::other(err),
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io)?;
    let driver = tokio::spawn(connection);
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("connection", "close")
        .header("accept", "application/json");
    if !body.is_empty() || method == "POST" {
        builder = builder.header("content-type", "application/json");
    }
    let request = builder
        .body(Body::from(body.to_vec()))
        .map_err(|_| CallError::Malformed(socket.into()))?;
    let answer = sender.send_request(request).await.map_err(|err| {
        if err.is_parse() {
            CallError::Malformed(socket.into())
        } else {
            io(err)
        }
    })?;
    let status = answer.status().as_u16();
    let (parts, body) = answer.into_parts();
    let body = axum::body::to_bytes(Body::new(body), MAX_BODY)
        .await
        .map_err(malformed)?;
    driver.abort();
    Ok(Answer {
        status,
        headers: parts.headers,
        body: body.to_vec(),
    })
}

/// Percent-encodes all but RFC 3986's unreserved characters: one path segment (an instance
/// reference) for the request line, or a query value (the transcript pages' search). The MCP
/// tools' encoding, so every client of the API writes a reference alike.
#[must_use]
pub fn encode_segment(segment: &str) -> String {
    clauster_mcp::api::segment(segment)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::{CallError, encode_segment, request};

    /// A one-shot server on a real Unix socket that answers every connection with `raw`.
    fn answering(raw: &'static [u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let socket = dir.path().join("control.sock");
        let listener = tokio::net::UnixListener::bind(&socket).expect("bind");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut head = vec![0; 4096];
                let _ = stream.read(&mut head).await;
                let _ = stream.write_all(raw).await;
                let _ = stream.shutdown().await;
            }
        });
        (dir, socket)
    }

    #[tokio::test]
    async fn reads_length_delimited_chunked_and_close_delimited_bodies() {
        let cases: [(&'static [u8], u16, &[u8]); 3] = [
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
            (b"HTTP/1.1 201 Created\r\nconnection: close\r\n\r\n{}", 201, b"{}"),
        ];
        for (raw, status, body) in cases {
            let (_dir, socket) = answering(raw);
            let answer = request(&socket, "GET", "/api/x", None, Duration::from_secs(30))
                .await
                .expect("an answer");
            assert_eq!((answer.status, answer.body.as_slice()), (status, body));
        }
        let (_dir, socket) = answering(b"garbage\r\n\r\n");
        let err = request(&socket, "GET", "/", None, Duration::from_secs(30)).await;
        assert!(matches!(err, Err(CallError::Malformed(_))), "{err:?}");
        let missing = socket.with_file_name("absent.sock");
        let err = request(&missing, "GET", "/", None, Duration::from_secs(30)).await;
        assert!(matches!(err, Err(CallError::NoServer(_))), "{err:?}");
    }

    #[test]
    fn encodes_references_as_one_path_segment() {
        assert_eq!(encode_segment("alpha"), "alpha");
        assert_eq!(encode_segment("a b/c%"), "a%20b%2Fc%25");
    }
}
