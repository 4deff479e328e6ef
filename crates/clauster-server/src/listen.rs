//! The TCP listener's accept loop: plain HTTP or native TLS (config.md §3.13), HTTP/1.1 with
//! upgrades (WebSockets), and the slow-client limits of security.md §7.2 — the request head
//! within 10 s (hyper's header read timeout; the TLS handshake gets the same budget) and the
//! body within 30 s (`body_deadline`: a 408 and the connection closed).
//!
//! The limits come in through `ServeOptions::limits`, so a test serving in-process can
//! shorten them; `clauster run` always uses the spec's.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
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

impl Default for Limits {
    /// The spec's limits.
    fn default() -> Self {
        Self {
            head: HEAD_TIMEOUT,
            body: BODY_TIMEOUT,
        }
    }
}

/// How many connections may be open at once (security.md §7.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caps {
    /// All sources together: `max_connections`.
    pub total: usize,
    /// One source (an IPv4 address, an IPv6 /64): a quarter of `total`, at least 16 (never
    /// more than `total`).
    pub per_source: usize,
    /// Sources the per-source cap does not apply to: the reverse proxy's `trusted_ips` when
    /// forward-auth is on (every user arrives from them).
    pub exempt: Vec<clauster_core::config::IpNet>,
}

impl Caps {
    pub fn new(total: usize, exempt: Vec<clauster_core::config::IpNet>) -> Self {
        let total = total.max(1);
        Self {
            total,
            per_source: (total / 4).max(16).min(total),
            exempt,
        }
    }

    /// The source a peer counts against, `None` when exempt: IPv4 addresses (IPv4-mapped
    /// IPv6 ones included) one by one, IPv6 addresses by their /64 (one host usually holds a
    /// whole /64).
    fn source(&self, peer: IpAddr) -> Option<IpAddr> {
        if self.exempt.iter().any(|net| net.contains(peer)) {
            return None;
        }
        Some(match peer {
            IpAddr::V4(_) => peer,
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(
                || {
                    IpAddr::V6(std::net::Ipv6Addr::from(
                        u128::from(v6) & !u128::from(u64::MAX),
                    ))
                },
                IpAddr::V4,
            ),
        })
    }
}

/// Serves `router` on `listener` (through TLS when `tls` is given) until `shutdown`
/// completes, then waits for the requests in flight. At most `caps.total` connections are
/// open at once (issue 16 §4), and at most `caps.per_source` from one source: at a cap the
/// connection that is least likely a user's gives its slot to the new one — the oldest idle
/// keep-alive, else the one waiting longest for a request body it has not finished sending;
/// when every slot serves a request or a WebSocket the new connection is closed at once.
pub async fn serve_tcp(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    caps: Caps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let slots = Slots::new(caps);
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
        let Some(slot) = slots.admit(peer.ip()) else {
            // Every slot serves a request or a WebSocket: refuse this one by closing it.
            tracing::debug!(%peer, "connection refused: at the connection cap");
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
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(local) = local {
            request
                .extensions_mut()
                .insert(crate::auth::LocalAddr(local));
        }
        let busy = slot.busy();
        if !http_body::Body::is_end_stream(request.body()) {
            // Until the body has arrived the connection may be shed at a cap (a slow-body
            // flood holds its slots exactly here).
            let watch = busy.awaiting_body();
            request = request.map(|body| {
                Body::new(BodyWatch {
                    inner: body,
                    watch: Some(watch),
                })
            });
        }
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await;
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
            // Chosen at a cap (idle, or stuck sending a body): dropped, which closes it.
            tracing::debug!(%peer, "connection shed at the connection cap");
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
    caps: Caps,
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
    /// Whether it has started a request yet.
    served: bool,
    /// Since when its request's body has been awaited (`None`: not waiting for one).
    body_since: Option<std::time::Instant>,
    /// What it counts against for the per-source cap (`None`: exempt).
    source: Option<IpAddr>,
    shed: Arc<tokio::sync::Notify>,
}

impl SlotTable {
    /// The connection among those `of` that gives its slot up first (none is a WebSocket):
    /// the idle keep-alive (no request in flight) that finished a request longest ago; else
    /// the one that has waited longest for the rest of a request body; else the one accepted
    /// longest ago that has not sent a request yet. A stalled body goes before a connection
    /// that has not sent its head yet, so a flood of stalled bodies cannot push a new user's
    /// connection out before its request arrives (slow heads end at the head timeout).
    fn victim(&self, of: impl Fn(&SlotState) -> bool) -> Option<u64> {
        let candidates = || self.open.iter().filter(|(_, s)| of(s) && !s.upgraded);
        let oldest = |pick: &dyn Fn(&SlotState) -> Option<std::time::Instant>| {
            candidates()
                .filter_map(|(id, s)| Some((*id, pick(s)?)))
                .min_by_key(|(id, since)| (*since, *id))
                .map(|(id, _)| id)
        };
        oldest(&|s| (s.busy == 0 && s.served).then_some(s.last_active))
            .or_else(|| oldest(&|s| s.body_since))
            .or_else(|| oldest(&|s| (s.busy == 0).then_some(s.last_active)))
    }

    /// Sheds the victim among those `of`; false when there is none.
    fn shed(&mut self, of: impl Fn(&SlotState) -> bool) -> bool {
        let Some(victim) = self.victim(of) else {
            return false;
        };
        if let Some(state) = self.open.remove(&victim) {
            state.shed.notify_one();
        }
        true
    }
}

impl Slots {
    fn new(caps: Caps) -> Self {
        Self {
            inner: Arc::new(std::sync::Mutex::new(SlotTable {
                caps,
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

    /// A slot for a new connection from `peer`: a free one, or one given up by a connection
    /// of the same source (at the per-source cap) or of any (at the total cap), which is told
    /// to close; `None` when no connection can give its slot up.
    fn admit(&self, peer: IpAddr) -> Option<Slot> {
        let mut table = self.table();
        let source = table.caps.source(peer);
        if let Some(source) = source {
            let of_source = |s: &SlotState| s.source == Some(source);
            let held = table.open.values().filter(|s| of_source(s)).count();
            if held >= table.caps.per_source && !table.shed(of_source) {
                return None;
            }
        }
        if table.open.len() >= table.caps.total && !table.shed(|_| true) {
            return None;
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
                served: false,
                body_since: None,
                source,
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
            state.served = true;
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

    /// Marks the request's body as awaited until the returned guard drops.
    fn awaiting_body(&self) -> AwaitingBody {
        if let Some(state) = self.owner.slots.table().open.get_mut(&self.owner.id) {
            state.body_since = Some(std::time::Instant::now());
        }
        AwaitingBody {
            owner: Arc::clone(&self.owner),
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(state) = self.owner.slots.table().open.get_mut(&self.owner.id) {
            state.busy = state.busy.saturating_sub(1);
            state.body_since = None;
            state.last_active = std::time::Instant::now();
        }
    }
}

/// A request body not yet received in full.
struct AwaitingBody {
    owner: Arc<SlotOwner>,
}

impl Drop for AwaitingBody {
    fn drop(&mut self) {
        if let Some(state) = self.owner.slots.table().open.get_mut(&self.owner.id) {
            state.body_since = None;
        }
    }
}

/// A request body that clears its connection's "awaiting a body" mark once it has arrived
/// (or failed, or was dropped unread).
struct BodyWatch {
    inner: Body,
    watch: Option<AwaitingBody>,
}

impl http_body::Body for BodyWatch {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(frame) = &polled
            && (!matches!(frame, Some(Ok(_))) || self.inner.is_end_stream())
        {
            self.watch = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
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
    use std::net::IpAddr;
    use std::time::Duration;

    use super::{Caps, Limits, Slots};

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn sources_are_ipv4_addresses_and_ipv6_slash_64s_and_proxies_are_exempt() {
        let proxy = clauster_core::config::IpNet::parse("10.0.0.0/8").unwrap();
        let caps = Caps::new(512, vec![proxy]);
        assert_eq!(caps.per_source, 128);
        assert_eq!(Caps::new(40, Vec::new()).per_source, 16);
        assert_eq!(Caps::new(3, Vec::new()).per_source, 3);
        assert_eq!(caps.source(ip("127.0.0.1")), Some(ip("127.0.0.1")));
        assert_eq!(caps.source(ip("::ffff:192.0.2.7")), Some(ip("192.0.2.7")));
        assert_eq!(
            caps.source(ip("2001:db8:1:2:aaaa::1")),
            caps.source(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_eq!(
            caps.source(ip("2001:db8:1:2::1")),
            Some(ip("2001:db8:1:2::"))
        );
        assert_ne!(
            caps.source(ip("2001:db8:1:2::1")),
            caps.source(ip("2001:db8:1:3::1"))
        );
        assert_eq!(caps.source(ip("10.1.2.3")), None);
    }

    #[test]
    fn a_source_at_its_cap_gives_up_its_own_stalled_body_first() {
        let slots = Slots::new(Caps {
            total: 4,
            per_source: 2,
            exempt: Vec::new(),
        });
        let attacker = ip("192.0.2.1");
        let first = slots.admit(attacker).unwrap();
        let second = slots.admit(attacker).unwrap();
        let (busy_first, busy_second) = (first.busy(), second.busy());
        let waiting = (busy_first.awaiting_body(), busy_second.awaiting_body());
        // A third from the same source sheds the first stalled body, not another source's.
        let user = slots.admit(ip("192.0.2.9")).unwrap();
        let _user_busy = user.busy();
        let third = slots.admit(attacker).unwrap();
        assert!(!slots.table().open.contains_key(&first.owner.id));
        assert!(slots.table().open.contains_key(&user.owner.id));
        // At the total cap with every slot busy and no body awaited, the new one is refused.
        drop(waiting);
        let fourth = slots.admit(ip("198.51.100.1")).unwrap();
        let _fourth_busy = fourth.busy();
        let _third_busy = third.busy();
        assert!(slots.admit(ip("198.51.100.2")).is_none());
    }

    #[test]
    fn limits_default_to_the_spec() {
        let limits = Limits::default();
        assert_eq!(limits.head, Duration::from_secs(10));
        assert_eq!(limits.body, Duration::from_secs(30));
    }
}
