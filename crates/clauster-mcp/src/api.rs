//! The one door to Clauster the tools use: a call of the HTTP API (issue 24 §2).
//!
//! `clauster mcp` makes the calls over the control socket (of a running server, or of the
//! engine it runs for the length of one call); `clauster run` makes them in process through
//! the router the control socket serves. Either way a tool passes exactly the gates an HTTP
//! client passes, and an error carries the API's own text.

use std::future::Future;

use serde_json::Value;

/// The verbs the tools use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// One API answer: the status and the body bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The `{"detail"}` of an error answer, else `HTTP <status>`.
    pub fn detail(&self) -> String {
        self.json()
            .get("detail")
            .and_then(Value::as_str)
            .map_or_else(|| format!("HTTP {}", self.status), str::to_owned)
    }
}

/// Why a call produced no answer at all (the API's own refusals are [`Answer`]s).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CallError(pub String);

/// Calls the Clauster API. `path` starts with `/api/` and excludes `root_path`; the
/// implementation adds it.
pub trait Api: Send + Sync + 'static {
    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> impl Future<Output = Result<Answer, CallError>> + Send;
}

/// Percent-encodes one path segment (an instance reference or a project name).
pub fn segment(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Percent-encodes one query value.
pub fn query_value(text: &str) -> String {
    segment(text)
}
