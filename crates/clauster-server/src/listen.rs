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
/// completes, then waits for the requests in flight. At most `max_connections` connections
/// are open at once (issue 16 §4): at the cap the oldest idle keep-alive connection is shed
/// for the new one; when none is idle (every slot serves a request or a WebSocket) the new
/// one is closed at once.
pub async fn serve_tcp(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    max_connections: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let slots = Slots::new(max_connections);
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
        let Some(slot) = slots.admit() else {
            // Every slot serves a request or a WebSocket: refuse this one by closing it.
            tracing::debug!(%peer, max_connections, "connection refused: at the cap");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok();
        let router = router.clone();
        let acceptor = acceptor.clone();
        let watcher = (stop_rx.clone(), live_rx.clone());
        tokio::spawn(async move {
            let shed = slot.shed_signal();
            let stream = Tracked {
                io: stream,
                _slot: slot.clone(),
            };
            let addresses = Addresses { peer, local };
            match acceptor {
                None => serve_connection(stream, addresses, router, limits, watcher, slot).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(limits.head, acceptor.accept(stream));
                    let handshake = tokio::select! {
                        done = handshake => done,
                        () = shed.notified() => return,
                    };
                    match handshake {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, addresses, router, limits, watcher, slot)
                                .await;
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

/// Both ends of a connection.
#[derive(Clone, Copy, Debug)]
struct Addresses {
    peer: SocketAddr,
    local: Option<SocketAddr>,
}

async fn serve_connection<IO>(
    io: IO,
    addresses: Addresses,
    router: Router,
    limits: Limits,
    (mut stop, _live): (
        tokio::sync::watch::Receiver<bool>,
        tokio::sync::watch::Receiver<()>,
    ),
    slot: Slot,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Addresses { peer, local } = addresses;
    let shed = slot.shed_signal();
    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(local) = local {
            request
                .extensions_mut()
                .insert(crate::auth::LocalAddr(local));
        }
        let busy = slot.busy();
        let router = router.clone();
        async move {
            let response = router.oneshot(request.map(Body::new)).await;
            if let Ok(response) = &response
                && response.status() == StatusCode::SWITCHING_PROTOCOLS
            {
                // A WebSocket from now on: never shed as idle.
                busy.upgraded();
            }
            drop(busy);
            response
        }
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
        () = shed.notified() => {
            // Chosen as the oldest idle connection at the cap: dropped, which closes it.
            tracing::debug!(%peer, "idle connection shed at the connection cap");
            return;
        }
    };
    if let Err(err) = ended {
        tracing::debug!(%peer, "connection ended: {err}");
    }
}

/// The open connections of the listener, for the cap of issue 16 §4.
#[derive(Clone, Debug)]
struct Slots {
    inner: Arc<std::sync::Mutex<SlotTable>>,
}

#[derive(Debug)]
struct SlotTable {
    max: usize,
    next_id: u64,
    open: std::collections::HashMap<u64, SlotState>,
}

#[derive(Debug)]
struct SlotState {
    /// Requests being answered on the connection.
    busy: usize,
    /// Upgraded to a WebSocket.
    upgraded: bool,
    /// When it last started or finished a request (its accept, before the first).
    last_active: std::time::Instant,
    shed: Arc<tokio::sync::Notify>,
}

impl SlotTable {
    /// The idle connection (no request in flight, not a WebSocket) that was active longest
    /// ago.
    fn oldest_idle(&self) -> Option<u64> {
        self.open
            .iter()
            .filter(|(_, s)| s.busy == 0 && !s.upgraded)
            .min_by_key(|(id, s)| (s.last_active, **id))
            .map(|(id, _)| *id)
    }
}

impl Slots {
    fn new(max: usize) -> Self {
        Self {
            inner: Arc::new(std::sync::Mutex::new(SlotTable {
                max: max.max(1),
                next_id: 0,
                open: std::collections::HashMap::new(),
            })),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, SlotTable> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for a new connection: a free one, or the oldest idle connection's (which is
    /// told to close); `None` when every slot is busy.
    fn admit(&self) -> Option<Slot> {
        let mut table = self.table();
        if table.open.len() >= table.max {
            let victim = table.oldest_idle()?;
            if let Some(shed) = table.open.remove(&victim) {
                shed.shed.notify_one();
            }
        }
        let id = table.next_id;
        table.next_id += 1;
        let shed = Arc::new(tokio::sync::Notify::new());
        table.open.insert(
            id,
            SlotState {
                busy: 0,
                upgraded: false,
                last_active: std::time::Instant::now(),
                shed: Arc::clone(&shed),
            },
        );
        Some(Slot {
            owner: Arc::new(SlotOwner {
                slots: self.clone(),
                id,
            }),
            shed,
        })
    }
}

/// One connection's place among the open ones; the place is given back when the last clone
/// drops (the connection task, and the socket itself, which an upgrade hands on to the
/// WebSocket).
#[derive(Clone, Debug)]
struct Slot {
    owner: Arc<SlotOwner>,
    shed: Arc<tokio::sync::Notify>,
}

#[derive(Debug)]
struct SlotOwner {
    slots: Slots,
    id: u64,
}

impl Drop for SlotOwner {
    fn drop(&mut self) {
        self.slots.table().open.remove(&self.id);
    }
}

impl Slot {
    /// Completes when the connection is shed.
    fn shed_signal(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.shed)
    }

    /// Marks a request in flight until the returned guard drops.
    fn busy(&self) -> Busy {
        if let Some(state) = self.owner.slots.table().open.get_mut(&self.owner.id) {
            state.busy += 1;
            state.last_active = std::time::Instant::now();
        }
        Busy {
            owner: Arc::clone(&self.owner),
        }
    }
}

/// A request in flight on a connection.
struct Busy {
    owner: Arc<SlotOwner>,
}

impl Busy {
    fn upgraded(&self) {
        if let Some(state) = self.owner.slots.table().open.get_mut(&self.owner.id) {
            state.upgraded = true;
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(state) = self.owner.slots.table().open.get_mut(&self.owner.id) {
            state.busy = state.busy.saturating_sub(1);
            state.last_active = std::time::Instant::now();
        }
    }
}

/// A socket that holds its connection slot for as long as it lives.
struct Tracked<IO> {
    io: IO,
    _slot: Slot,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (issue 16 §4): the default soft limit
/// (often 1 024) is far below what `max_connections` plus the bridges' files need. Returns
/// the limit now in force.
pub fn raise_descriptor_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft >= hard {
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => Some(hard),
        Err(err) => {
            tracing::debug!("cannot raise the descriptor limit from {soft} to {hard}: {err}");
            Some(soft)
        }
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
