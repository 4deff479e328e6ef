//! The environments API behind a small trait (bridges.md §15): list a page, archive, delete.
//!
//! A transport only carries requests and hands back the status and the body; what counts as
//! an error (status ≥ 400, a body that is not JSON) is decided once, in the reaper, for every
//! transport. The real one speaks HTTPS (rustls with the ring provider) with a 30 s timeout per
//! call and the headers of §15; tests point it at a fake on 127.0.0.1 through
//! [`BASE_OVERRIDE_VAR`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use clauster_core::reaper::{self, ApiCredentials};

/// Environment variable naming another API base: `https://…`, or `http://` to a loopback
/// address (a local fake or proxy). Anything else is refused and every call fails.
pub const BASE_OVERRIDE_VAR: &str = "CLAUSTER_ENVIRONMENTS_API_BASE";
/// Per call (bridges.md §15).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of a body read; an answer is JSON of a page or an error, never large.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
const BETA: &str = "managed-agents-2026-04-01";
const VERSION: &str = "2023-06-01";

/// What came back: the status and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// No answer at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("no answer within {} s", CALL_TIMEOUT.as_secs())]
    Timeout,
    #[error("could not reach the environments API ({0})")]
    Unreachable(String),
    /// The transport cannot be used at all (a refused base URL, no TLS set-up).
    #[error("{0}")]
    Unusable(String),
}

/// A call in flight.
pub type Call<'a> = Pin<Box<dyn Future<Output = Result<ApiAnswer, TransportError>> + Send + 'a>>;

/// The three calls the reaper makes.
pub trait EnvironmentsTransport: Send + Sync + fmt::Debug {
    /// `GET /v1/environments?limit=100[&after_id=<cursor>]`.
    fn list<'a>(&'a self, auth: &'a ApiCredentials, after_id: Option<&'a str>) -> Call<'a>;
    /// `POST /v1/environments/{id}/archive`.
    fn archive<'a>(&'a self, auth: &'a ApiCredentials, id: &'a str) -> Call<'a>;
    /// `DELETE /v1/environments/{id}?force=true`.
    fn delete<'a>(&'a self, auth: &'a ApiCredentials, id: &'a str) -> Call<'a>;
}

/// The transport a server uses; cheap to clone. `ServeOptions::environments_api`.
#[derive(Clone, Debug)]
pub struct EnvironmentsApi(Arc<dyn EnvironmentsTransport>);

impl EnvironmentsApi {
    pub fn new(transport: Arc<dyn EnvironmentsTransport>) -> Self {
        Self(transport)
    }

    /// The real HTTPS transport to `https://api.anthropic.com`, or to the base named by
    /// [`BASE_OVERRIDE_VAR`] when it is set and allowed. A refused base, or a TLS set-up that
    /// failed, gives a transport whose every call fails with the reason (never the default
    /// API instead).
    pub fn from_env() -> Self {
        let base = std::env::var(BASE_OVERRIDE_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty());
        let built = reaper::parse_api_base(base.as_deref().unwrap_or(reaper::DEFAULT_API_BASE))
            .map_err(|err| format!("{BASE_OVERRIDE_VAR}: {err}"))
            .and_then(HttpsTransport::new);
        match built {
            Ok(transport) => Self(Arc::new(transport)),
            Err(reason) => Self(Arc::new(Unusable(reason))),
        }
    }

    pub fn transport(&self) -> &dyn EnvironmentsTransport {
        self.0.as_ref()
    }
}

/// A transport that cannot be used; every call says why.
#[derive(Debug)]
struct Unusable(String);

impl EnvironmentsTransport for Unusable {
    fn list<'a>(&'a self, _: &'a ApiCredentials, _: Option<&'a str>) -> Call<'a> {
        Box::pin(async { Err(TransportError::Unusable(self.0.clone())) })
    }
    fn archive<'a>(&'a self, _: &'a ApiCredentials, _: &'a str) -> Call<'a> {
        Box::pin(async { Err(TransportError::Unusable(self.0.clone())) })
    }
    fn delete<'a>(&'a self, _: &'a ApiCredentials, _: &'a str) -> Call<'a> {
        Box::pin(async { Err(TransportError::Unusable(self.0.clone())) })
    }
}

/// HTTPS with rustls (ring), webpki roots, no redirects, 30 s per call.
#[derive(Debug)]
pub struct HttpsTransport {
    client: reqwest::Client,
    base: url::Url,
}

impl HttpsTransport {
    /// `base` has passed [`reaper::parse_api_base`].
    fn new(base: url::Url) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(base.scheme() == "https")
            .timeout(CALL_TIMEOUT)
            // The bearer token must never follow a redirect anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("clauster/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| format!("cannot set up HTTPS for the environments API: {err}"))?;
        Ok(Self { client, base })
    }

    /// `<base>/v1/environments[/<id>[/<action>]]`, each segment percent-encoded.
    fn url(&self, id: Option<&str>, action: Option<&str>) -> url::Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push("v1").push("environments");
            if let Some(id) = id {
                segments.push(id);
            }
            if let Some(action) = action {
                segments.push(action);
            }
        }
        url
    }

    fn send(request: reqwest::RequestBuilder, auth: &ApiCredentials) -> Call<'static> {
        let request = request
            .bearer_auth(&auth.access_token)
            .header("x-organization-uuid", &auth.organization_uuid)
            .header("anthropic-beta", BETA)
            .header("anthropic-version", VERSION)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        Box::pin(async move {
            let mut response = request.send().await.map_err(|e| describe(&e))?;
            let status = response.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(ApiAnswer { status, body })
        })
    }
}

/// The reason a request got no answer, without the URL (reqwest's `Display` includes it, and
/// it may carry an id).
fn describe(err: &reqwest::Error) -> TransportError {
    if err.is_timeout() {
        return TransportError::Timeout;
    }
    let what = if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "the answer broke off"
    } else if err.is_redirect() {
        "redirected"
    } else {
        "request failed"
    };
    let mut reason = what.to_owned();
    let mut source = std::error::Error::source(err);
    // The innermost cause says most (refused, TLS, DNS).
    let mut last = None;
    while let Some(cause) = source {
        last = Some(cause.to_string());
        source = cause.source();
    }
    if let Some(cause) = last {
        reason.push_str(": ");
        reason.push_str(&cause);
    }
    TransportError::Unreachable(reason)
}

impl EnvironmentsTransport for HttpsTransport {
    fn list<'a>(&'a self, auth: &'a ApiCredentials, after_id: Option<&'a str>) -> Call<'a> {
        let mut url = self.url(None, None);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", "100");
            if let Some(cursor) = after_id {
                query.append_pair("after_id", cursor);
            }
        }
        Self::send(self.client.get(url), auth)
    }

    fn archive<'a>(&'a self, auth: &'a ApiCredentials, id: &'a str) -> Call<'a> {
        let url = self.url(Some(id), Some("archive"));
        Self::send(self.client.post(url), auth)
    }

    fn delete<'a>(&'a self, auth: &'a ApiCredentials, id: &'a str) -> Call<'a> {
        let mut url = self.url(Some(id), None);
        url.query_pairs_mut().append_pair("force", "true");
        Self::send(self.client.delete(url), auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_ids_and_keep_a_base_path() {
        let transport =
            HttpsTransport::new(url::Url::parse("https://proxy.example/anthropic/").unwrap())
                .unwrap();
        assert_eq!(
            transport
                .url(Some("env_01/../x?y"), Some("archive"))
                .as_str(),
            "https://proxy.example/anthropic/v1/environments/env_01%2F..%2Fx%3Fy/archive"
        );
        let transport =
            HttpsTransport::new(url::Url::parse(reaper::DEFAULT_API_BASE).unwrap()).unwrap();
        assert_eq!(
            transport.url(None, None).as_str(),
            "https://api.anthropic.com/v1/environments"
        );
    }
}
