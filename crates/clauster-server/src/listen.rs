//! The TCP listener's accept loop: plain HTTP or native TLS (config.md §3.13), HTTP/1.1 with
//! upgrades (WebSockets), and the slow-client limits of security.md §7.2 — the request head
//! within 10 s (hyper's header read timeout; the TLS handshake gets the same budget) and the
//! body within 30 s (`body_deadline`: a 408 and the connection closed).
//!
//! The limits can be shortened for the end-to-end tests only, through the test knobs
//! `CLAUSTER_TEST_HEAD_TIMEOUT_MS` and `CLAUSTER_TEST_BODY_TIMEOUT_MS` (milliseconds; not an
//! operator setting, ARCHITECTURE.md lists them).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// The slow-client limits (security.md §7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The request head (and, with TLS, the handshake) must arrive within this.
    pub head: Duration,
    /// A request body must arrive within this, counted from its head.
    pub body: Duration,
}

pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
const HEAD_VAR: &str = "CLAUSTER_TEST_HEAD_TIMEOUT_MS";
const BODY_VAR: &str = "CLAUSTER_TEST_BODY_TIMEOUT_MS";

impl Limits {
    /// The spec's limits, unless a test shortened them through the environment.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let millis = |name: &str, default: Duration| {
            var(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|ms| *ms > 0)
                .map_or(default, Duration::from_millis)
        };
        Self {
            head: millis(HEAD_VAR, HEAD_TIMEOUT),
            body: millis(BODY_VAR, BODY_TIMEOUT),
        }
    }
}

/// Serves `router` on `listener` (through TLS when `tls` is given) until `shutdown`
/// completes, then waits for the requests in flight.
pub async fn serve_tcp(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    // `stop` tells the connections to finish; every connection holds a `live` receiver, so
    // `live_tx.closed()` completes when the last one ended.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (live_tx, live_rx) = tokio::sync::watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::debug!("accept failed: {err}");
                    if !is_connection_error(&err) {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        let watcher = (stop_rx.clone(), live_rx.clone());
        tokio::spawn(async move {
            match acceptor {
                None => serve_connection(stream, peer, router, limits, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.head, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, peer, router, limits, watcher).await;
                        }
                        Ok(Err(err)) => tracing::debug!(%peer, "TLS handshake failed: {err}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(live_rx);
    live_tx.closed().await;
    Ok(())
}

fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        err.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

async fn serve_connection<IO>(
    io: IO,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    (mut stop, _live): (
        tokio::sync::watch::Receiver<bool>,
        tokio::sync::watch::Receiver<()>,
    ),
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head);
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        () = async { drop(stop.wait_for(|stop| *stop).await) } => {
            // Finish the request in flight, then close.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = ended {
        tracing::debug!(%peer, "connection ended: {err}");
    }
}

/// The middleware of the 30 s body limit: the body is read through a deadline counted from
/// now (the head has arrived); when it passes, the handler sees a failed read and the client
/// gets a 408 with `Connection: close` instead of what the handler made of it.
pub async fn body_deadline(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    // Nothing to wait for (a GET, a WebSocket handshake): no timer.
    if http_body::Body::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    let expired = Arc::new(AtomicBool::new(false));
    let deadline = tokio::time::Instant::now() + limit;
    let flag = Arc::clone(&expired);
    let request = request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            expired: flag,
        })
    });
    let response = next.run(request).await;
    if !expired.load(Ordering::Acquire) {
        return response;
    }
    let mut response = (
        StatusCode::REQUEST_TIMEOUT,
        axum::Json(serde_json::json!({
            "detail": format!(
                "request body not received within {} s; send the whole body without pausing",
                limit.as_secs_f64()
            )
        })),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// A request body that fails once its deadline passes.
struct DeadlineBody {
    inner: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl http_body::Body for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Limits;

    #[test]
    fn limits_default_to_the_spec_and_only_positive_overrides_count() {
        let none = Limits::from_vars(|_| None);
        assert_eq!(none.head, Duration::from_secs(10));
        assert_eq!(none.body, Duration::from_secs(30));
        let set = Limits::from_vars(|name| {
            Some(if name.contains("HEAD") { "300" } else { "700" }.to_owned())
        });
        assert_eq!(set.head, Duration::from_millis(300));
        assert_eq!(set.body, Duration::from_millis(700));
        for bad in ["0", "-5", "soon", ""] {
            assert_eq!(Limits::from_vars(|_| Some(bad.to_owned())), none, "{bad:?}");
        }
    }
}
