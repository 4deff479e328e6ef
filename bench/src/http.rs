//! A keep-alive HTTP/1.1 client over one `TcpStream`, so a latency figure is the server's
//! answer time plus one loopback round trip and nothing else (no pool, no runtime hop).
//! Headers are parsed by `httparse`; bodies by `Content-Length`, chunked, or to close.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("could not reach 127.0.0.1:{port}: {source}; is the server still running?")]
    Connect { port: u16, source: std::io::Error },
    #[error("the connection to 127.0.0.1:{port} failed mid-request: {source}")]
    Io { port: u16, source: std::io::Error },
    #[error("the server on port {port} sent a malformed response: {what}")]
    Malformed { port: u16, what: String },
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

#[derive(Debug)]
pub struct Client {
    port: u16,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Client {
    pub fn new(port: u16) -> Self {
        Self {
            port,
            stream: None,
            buf: Vec::new(),
        }
    }

    fn io(&self) -> impl Fn(std::io::Error) -> HttpError + '_ {
        move |source| HttpError::Io {
            port: self.port,
            source,
        }
    }

    pub fn get(&mut self, path: &str) -> Result<Response, HttpError> {
        self.request("GET", path, None)
    }

    /// One request; reconnects once when a kept-alive connection was closed meanwhile.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, HttpError> {
        match self.try_request(method, path, body) {
            Err(HttpError::Io { .. }) if self.stream.is_none() => {
                self.try_request(method, path, body)
            }
            other => other,
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, HttpError> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|source| {
                HttpError::Connect {
                    port: self.port,
                    source,
                }
            })?;
            stream.set_nodelay(true).map_err(self.io())?;
            stream
                .set_read_timeout(Some(Duration::from_mins(1)))
                .map_err(self.io())?;
            self.stream = Some(stream);
            self.buf.clear();
        }
        let payload = body.map(ToString::to_string).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: */*\r\n",
            self.port
        );
        if body.is_some() {
            let _ = write!(
                head,
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                payload.len()
            );
        }
        head.push_str("\r\n");
        head.push_str(&payload);
        let result = self.exchange(head.as_bytes());
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn fill(&mut self) -> Result<usize, HttpError> {
        let port = self.port;
        let stream = self.stream.as_mut().expect("connected");
        let mut chunk = [0_u8; 16 << 10];
        let n = stream
            .read(&mut chunk)
            .map_err(|source| HttpError::Io { port, source })?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    fn exchange(&mut self, request: &[u8]) -> Result<Response, HttpError> {
        let port = self.port;
        self.stream
            .as_mut()
            .expect("connected")
            .write_all(request)
            .map_err(|source| HttpError::Io { port, source })?;
        let malformed = |what: &str| HttpError::Malformed {
            port,
            what: what.to_owned(),
        };
        let (status, header_len, length, chunked, close) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = parsed.code.ok_or_else(|| malformed("no status"))?;
                    let mut length = None;
                    let mut chunked = false;
                    let mut close = false;
                    for h in parsed.headers.iter() {
                        let value = String::from_utf8_lossy(h.value).to_ascii_lowercase();
                        if h.name.eq_ignore_ascii_case("content-length") {
                            length = Some(
                                value
                                    .trim()
                                    .parse::<usize>()
                                    .map_err(|_| malformed("bad Content-Length"))?,
                            );
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            chunked = value.contains("chunked");
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            close = value.contains("close");
                        }
                    }
                    break (status, len, length, chunked, close);
                }
                Ok(httparse::Status::Partial) => {
                    if self.fill()? == 0 {
                        return Err(malformed("closed before the headers ended"));
                    }
                }
                Err(e) => return Err(malformed(&e.to_string())),
            }
        };
        self.buf.drain(..header_len);
        let body = if let Some(length) = length {
            while self.buf.len() < length {
                if self.fill()? == 0 {
                    return Err(malformed("closed inside the body"));
                }
            }
            self.buf.drain(..length).collect()
        } else if chunked {
            self.read_chunked()?
        } else {
            while self.fill()? > 0 {}
            self.stream = None;
            std::mem::take(&mut self.buf)
        };
        if close {
            self.stream = None;
        }
        Ok(Response { status, body })
    }

    fn read_chunked(&mut self) -> Result<Vec<u8>, HttpError> {
        let port = self.port;
        let malformed = |what: &str| HttpError::Malformed {
            port,
            what: what.to_owned(),
        };
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                if self.fill()? == 0 {
                    return Err(malformed("closed inside a chunk header"));
                }
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size_hex = size_text.split(';').next().unwrap_or("").trim();
            let size =
                usize::from_str_radix(size_hex, 16).map_err(|_| malformed("bad chunk size"))?;
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                if self.fill()? == 0 {
                    return Err(malformed("closed inside a chunk"));
                }
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
            if size == 0 {
                return Ok(body);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-connection server answering each request with the next canned response.
    fn serve(responses: Vec<&'static str>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            for response in responses {
                let mut seen = Vec::new();
                let mut byte = [0_u8; 1];
                while !seen.ends_with(b"\r\n\r\n") {
                    if conn.read(&mut byte).expect("read") == 0 {
                        return;
                    }
                    seen.push(byte[0]);
                }
                conn.write_all(response.as_bytes()).expect("write");
            }
        });
        port
    }

    #[test]
    fn length_and_chunked_bodies_share_one_connection() {
        let port = serve(vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n",
        ]);
        let mut client = Client::new(port);
        let first = client.get("/a").expect("first");
        assert_eq!((first.status, first.body.as_slice()), (200, &b"hello"[..]));
        let second = client.get("/b").expect("second");
        assert_eq!(
            (second.status, second.body.as_slice()),
            (404, &b"abcde"[..])
        );
    }

    #[test]
    fn a_refused_connection_says_where_and_what_to_check() {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let err = Client::new(port).get("/").expect_err("nothing listens");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
        assert!(err.to_string().contains("still running"), "{err}");
    }
}
