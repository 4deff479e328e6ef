//! Authentication on the browser-facing listener (security.md §2–§5): who a request comes
//! from (session cookie, bearer token, forward-auth), the auth-on Origin rule, and the fail-
//! closed gate in front of every route but the few the spec exempts. The control socket is
//! served without this layer: its file mode and peer uid authenticate it.

pub mod admin;
pub mod elevation;
pub mod login;
pub mod password;
pub mod proxy;
pub mod session;
pub mod throttle;
pub mod tokens;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clauster_core::config::host::{parse_host_header, split_host_port};
use clauster_core::config::{Config, CookieSecure, HostRule, Secret};
use clauster_core::names::echo;
use subtle::ConstantTimeEq as _;

use crate::error::ApiError;
use crate::origin::AllowedOrigins;
use crate::store::Store;

pub use session::SecretError;

/// How a request was authenticated; stored in the request's extensions by the gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Auth is off: nothing was checked.
    Open,
    /// No valid credential (only public paths get this far).
    Anonymous,
    Cookie {
        issued_at: u64,
        epoch: u64,
        /// A valid step-up cookie came with it (security.md §3.2).
        elevated: bool,
    },
    Bearer,
    Proxy {
        user: String,
    },
}

impl Caller {
    fn authenticated(&self) -> bool {
        !matches!(self, Caller::Anonymous)
    }

    /// The Origin rule for this caller (security.md §5, issue 16 §5): cookie and anonymous
    /// requests are the ones a browser can be tricked into sending, so they need an allowed
    /// `Origin`; a forward-auth request passes without one (scripts behind the proxy send
    /// none) but not with a foreign one (a browser always sends one on a cross-site POST, and
    /// the proxy authenticates it all the same); bearer tokens are exempt.
    fn origin_passes(&self, allowed: &AllowedOrigins, headers: &HeaderMap) -> bool {
        match self {
            Caller::Cookie { .. } | Caller::Anonymous => allowed.admits(headers),
            Caller::Proxy { .. } => allowed.admits_if_present(headers),
            Caller::Open | Caller::Bearer => true,
        }
    }

    /// Whether `/healthz` may show more than `{"status": "ok"}`.
    pub fn sees_health_detail(&self) -> bool {
        self.authenticated()
    }
}

/// Everything the gate and the login routes share. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Arc<Config>,
    cookie_name: String,
    signer: session::Signer,
    /// The step-up cookie (security.md §3.2): its name and signer.
    elevation_cookie_name: String,
    elevation_signer: session::Signer,
    epoch: session::Epoch,
    throttle: Mutex<throttle::Throttle>,
    /// Slots for password verifications (`login::MAX_CONCURRENT_VERIFICATIONS`).
    verifications: Arc<tokio::sync::Semaphore>,
    /// Its own connection to the store: token lookups never wait for the engine.
    tokens: Mutex<Store>,
    allowed: AllowedOrigins,
    /// The `Host` values this server answers to (issue 16 §3).
    hosts: HostRule,
}

/// Why authentication could not be set up; the server refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
}

impl Auth {
    /// Loads the signing secret (`secret` from `CLAUSTER_SESSION_SECRET`, else the state
    /// dir's file), the epoch, and opens a store connection for token lookups.
    pub fn new(
        config: Arc<Config>,
        secret: Option<&Secret>,
        port: u16,
    ) -> Result<Self, AuthSetupError> {
        let state_dir = config.state_dir.clone();
        let secret = match secret {
            Some(secret) => secret.expose().as_bytes().to_vec(),
            // No port: a CLI command's own engine (see `load_or_create_secret`).
            None => session::load_or_create_secret(&state_dir, port != 0)?,
        };
        let tokens = Store::connect_again(&state_dir)?;
        for warning in startup_warnings(&config) {
            tracing::warn!("{warning}");
        }
        let cookie_name = session::cookie_name(&state_dir);
        let signer = session::Signer::new(secret);
        Ok(Self {
            inner: Arc::new(Inner {
                allowed: AllowedOrigins::new(&config, port),
                hosts: HostRule::new(&config),
                elevation_cookie_name: session::elevation_cookie_name(&cookie_name),
                elevation_signer: signer.for_elevation(),
                cookie_name,
                signer,
                epoch: session::Epoch::load(&state_dir),
                throttle: Mutex::new(throttle::Throttle::default()),
                verifications: Arc::new(tokio::sync::Semaphore::new(
                    login::MAX_CONCURRENT_VERIFICATIONS,
                )),
                tokens: Mutex::new(tokens),
                config,
            }),
        })
    }

    fn config(&self) -> &Config {
        &self.inner.config
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, throttle::Throttle> {
        self.inner
            .throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn enabled(&self) -> bool {
        self.config().auth.enabled
    }

    pub fn root_path(&self) -> &str {
        &self.config().root_path
    }

    fn cookie_path(&self) -> &str {
        let root = self.root_path();
        if root.is_empty() { "/" } else { root }
    }

    /// The `Set-Cookie` value of a fresh session.
    fn session_cookie(&self, secure: bool) -> String {
        self.fresh_cookie(
            &self.inner.signer,
            &self.inner.cookie_name,
            self.config().auth.session_max_age_seconds,
            secure,
        )
    }

    /// The `Set-Cookie` value of a fresh step-up (security.md §3.2): ten minutes, bound to
    /// the current epoch so a logout ends it too.
    fn elevation_cookie(&self, secure: bool) -> String {
        self.fresh_cookie(
            &self.inner.elevation_signer,
            &self.inner.elevation_cookie_name,
            elevation::ELEVATION_MAX_AGE_SECONDS,
            secure,
        )
    }

    /// The `Set-Cookie` value of a value `signer` issues now, in the current epoch.
    fn fresh_cookie(
        &self,
        signer: &session::Signer,
        name: &str,
        max_age: u64,
        secure: bool,
    ) -> String {
        let value = signer.issue(self.inner.epoch.current(), unix_now());
        format!(
            "{name}={value}; HttpOnly; SameSite=Lax; Path={}; Max-Age={max_age}{}",
            self.cookie_path(),
            if secure { "; Secure" } else { "" }
        )
    }

    /// Whether the request carries a step-up cookie that is valid now.
    fn elevated(&self, headers: &HeaderMap) -> bool {
        let now = unix_now();
        let epoch = self.inner.epoch.current();
        cookie_values(headers, &self.inner.elevation_cookie_name).any(|value| {
            self.inner
                .elevation_signer
                .verify(value, epoch, elevation::ELEVATION_MAX_AGE_SECONDS, now)
                .is_some()
        })
    }

    /// The `Set-Cookie` values that delete every cookie a sign-in may have left: the
    /// session and step-up cookies of this instance, and 1.3.2's shared pre-instance names
    /// (`clauster_session`, `clauster_elevation`), which it also cleared on logout (issue 18).
    fn expired_cookies(&self, secure: bool) -> Vec<String> {
        [
            self.inner.cookie_name.as_str(),
            self.inner.elevation_cookie_name.as_str(),
            "clauster_session",
            "clauster_elevation",
        ]
        .iter()
        .map(|name| {
            format!(
                "{name}=; HttpOnly; SameSite=Lax; Path={}; Max-Age=0{}",
                self.cookie_path(),
                if secure { "; Secure" } else { "" }
            )
        })
        .collect()
    }

    /// The secure decision of security.md §6 (cookie `Secure`, HSTS).
    pub fn secure(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
        match self.config().auth.cookie_secure {
            CookieSecure::Always => true,
            CookieSecure::Never => false,
            CookieSecure::Auto => {
                self.config().tls.is_some()
                    || (proxy::trusted_peer(&self.config().auth.reverse_proxy, peer)
                        && headers
                            .get("x-forwarded-proto")
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https")))
            }
        }
    }

    fn session_from(&self, headers: &HeaderMap) -> Option<session::Session> {
        let now = unix_now();
        let epoch = self.inner.epoch.current();
        let max_age = self.config().auth.session_max_age_seconds;
        cookie_values(headers, &self.inner.cookie_name)
            .find_map(|value| self.inner.signer.verify(value, epoch, max_age, now))
    }

    /// The bearer credential's verdict: `None` without a bearer header.
    async fn bearer(&self, headers: &HeaderMap, metrics_path: bool) -> Option<bool> {
        let raw = headers.get(header::AUTHORIZATION)?;
        let Some(token) = raw.to_str().ok().and_then(tokens::bearer_credential) else {
            return Some(false);
        };
        let hash = tokens::token_hash(token);
        let matches = |secret: &Option<Secret>| {
            secret
                .as_ref()
                .is_some_and(|s| bool::from(s.expose().as_bytes().ct_eq(hash.as_bytes())))
        };
        if matches(&self.config().auth.api_token_hash)
            || (metrics_path && matches(&self.config().observability.metrics_token_hash))
        {
            return Some(true);
        }
        let auth = self.clone();
        let found = tokio::task::spawn_blocking(move || {
            let store = auth
                .inner
                .tokens
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            store.use_token(&hash)
        })
        .await;
        match found {
            Ok(Ok(found)) => Some(found),
            Ok(Err(err)) => {
                tracing::error!("bearer token lookup failed: {err}");
                Some(false)
            }
            Err(_) => Some(false),
        }
    }

    fn proxy_verdict(
        &self,
        peer: Option<IpAddr>,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> proxy::ProxyVerdict {
        let settings = &self.config().auth.reverse_proxy;
        proxy::verify(
            settings,
            &proxy::ProxyRequest {
                peer,
                user: headers
                    .get(settings.user_header.as_str())
                    .map(HeaderValue::as_bytes),
                signature: headers
                    .get(settings.shared_secret_header.as_str())
                    .map(HeaderValue::as_bytes),
                method: method.as_str(),
                path,
                now: unix_now(),
            },
        )
    }

    /// Who sent the request, trying each configured method; any valid one authenticates.
    async fn identify(&self, request: &Parts, peer: Option<IpAddr>, rel: &str) -> Caller {
        let headers = &request.headers;
        if self.bearer(headers, rel == "/metrics").await == Some(true) {
            return Caller::Bearer;
        }
        if let proxy::ProxyVerdict::User { name, .. } =
            self.proxy_verdict(peer, &request.method, request.uri.path(), headers)
        {
            return Caller::Proxy { user: name };
        }
        match self.session_from(headers) {
            Some(session) => Caller::Cookie {
                issued_at: session.issued_at,
                epoch: session.epoch,
                elevated: self.elevated(headers),
            },
            None => Caller::Anonymous,
        }
    }
}

/// What an operator should hear about at startup (security.md §6, config.md §4).
pub fn startup_warnings(config: &Config) -> Vec<String> {
    let auth = &config.auth;
    let mut warnings = Vec::new();
    if !auth.enabled {
        return warnings;
    }
    if auth.password_hash.is_some()
        && auth.cookie_secure != CookieSecure::Always
        && config.tls.is_none()
        && !auth.reverse_proxy.enabled
    {
        warnings.push(
            "password sign-in is on without TLS or a reverse proxy: the session cookie can travel \
             in clear text; serve clauster over HTTPS (tls, or a reverse proxy) and set \
             auth.cookie_secure: always"
                .to_owned(),
        );
    }
    if let Some(warning) = config.forward_auth_origin_warning() {
        warnings.push(warning);
    }
    if !config.enforced_auth() {
        // A hash without `password_required` is configured but not enforced: say that, not
        // that there is no hash (issue 19 bug 8).
        warnings.push(if auth.password_hash.is_some() {
            "auth.password_hash is set but auth.password_required is false, so password \
             sign-in is not enforced: set auth.password_required: true (or configure \
             forward-auth or auth.api_token_hash)"
                .to_owned()
        } else {
            "auth is on but no password hash, forward-auth or auth.api_token_hash is configured: \
             only named API tokens (`clauster api-token issue`) can get in"
                .to_owned()
        });
    }
    warnings
}

/// When a cookie-authenticated WebSocket must close (http-api.md §8): at a logout (1008
/// `logged out`) or when the cookie reaches its max age (1008 `authentication expired`). The
/// gate puts one in the request of every cookie-authenticated handshake.
#[derive(Clone, Debug)]
pub struct SessionEnd {
    epoch: tokio::sync::watch::Receiver<u64>,
    cookie_epoch: u64,
    expires_at: u64,
}

/// The extractor of a socket handler: when its socket must close. That is at the end of the
/// handshake's cookie session ([`SessionEnd`]; a token or no auth has none), or when the
/// server shuts down ([`crate::http::ws::Stopping`], cli.md §7). While it lives it counts as an
/// open socket, so the shutdown can wait for the socket's close frame: keep it until the
/// handler returns.
#[derive(Debug)]
pub struct SocketSession {
    end: Option<SessionEnd>,
    stopping: Option<crate::http::ws::Stopping>,
    _open: Option<tokio_util::task::task_tracker::TaskTrackerToken>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SocketSession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let stopping = parts.extensions.get::<crate::http::ws::Stopping>().cloned();
        Ok(Self {
            end: parts.extensions.get::<SessionEnd>().cloned(),
            _open: stopping
                .as_ref()
                .map(crate::http::ws::Stopping::open_socket),
            stopping,
        })
    }
}

impl SocketSession {
    /// Completes with the close frame's code and reason when the socket must close: 1008
    /// with the session's reason, or 1001 `server shutting down`.
    pub async fn ended(&self) -> (u16, &'static str) {
        let stopped = async {
            match &self.stopping {
                Some(stopping) => stopping.stopped().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            reason = SessionEnd::of(self.end.clone()) => (crate::http::ws::CLOSE_POLICY, reason),
            () = stopped => (crate::http::ws::CLOSE_GOING_AWAY, "server shutting down"),
        }
    }
}

impl SessionEnd {
    /// Completes with the close reason.
    pub async fn reached(mut self) -> &'static str {
        let left = std::time::Duration::from_secs(self.expires_at.saturating_sub(unix_now()));
        let cookie_epoch = self.cookie_epoch;
        tokio::select! {
            () = tokio::time::sleep(left) => "authentication expired",
            changed = async { self.epoch.wait_for(|current| *current > cookie_epoch).await.is_ok() } => {
                if changed {
                    "logged out"
                } else {
                    // The server is going away; its shutdown closes the socket.
                    std::future::pending().await
                }
            }
        }
    }

    /// [`SessionEnd::reached`] when the request has one, else never.
    pub async fn of(end: Option<SessionEnd>) -> &'static str {
        match end {
            Some(end) => end.reached().await,
            None => std::future::pending().await,
        }
    }
}

/// Every value of cookie `name` in the request's `Cookie` headers.
fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The socket peer of a TCP request, when the listener recorded it.
pub fn peer_of(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

fn is_websocket(request: &Request) -> bool {
    request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn is_unsafe(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Paths reachable without credentials (http-api.md §1); `/metrics` has its own token,
/// handled in [`Auth::identify`].
fn is_public(method: &Method, rel: &str) -> bool {
    let read = matches!(*method, Method::GET | Method::HEAD);
    (rel == "/login" && (read || *method == Method::POST))
        || (read
            && (matches!(rel, "/healthz" | "/favicon.svg" | "/favicon.ico")
                || rel.starts_with("/pkg/")))
}

/// Routes that answer 404 when `ui.enabled` is false, before authentication.
fn is_ui_only(rel: &str) -> bool {
    if matches!(
        rel,
        "/" | "/login" | "/logout" | "/api/widget" | "/favicon.svg" | "/favicon.ico"
    ) || rel.starts_with("/pkg/")
        || rel.starts_with("/p/")
        || rel == "/guide"
        || rel.starts_with("/guide/")
    {
        return true;
    }
    rel.strip_prefix("/api/instances/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(id, action)| !id.is_empty() && matches!(action, "forget" | "qr"))
}

/// Answers that want JSON rather than a redirect to the login page; the OpenAPI page is
/// for API clients too (1.3.2 answers it 401).
fn is_api(rel: &str) -> bool {
    rel.starts_with("/api/") || rel.starts_with("/ws/") || rel == "/metrics" || is_openapi(rel)
}

/// `/openapi.json` and `/docs` (http-api.md §3.3).
fn is_openapi(rel: &str) -> bool {
    matches!(rel, "/openapi.json" | "/docs")
}

/// The gate on the TCP listener: UI-only 404s, then (auth on) identification, the Origin
/// rule, public paths, and 401 / 303 / 403 for everything else; with auth off only the
/// Origin rule of an unauthenticated server applies.
pub async fn gate(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let (response, kind) = decide(&auth, request, next).await;
    // The access log (security.md §11): never the query string, never a credential.
    tracing::debug!(
        target: "clauster::access",
        %method,
        path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis(),
        auth = kind,
    );
    response
}

impl Caller {
    /// The authentication kind as the access log names it.
    fn kind(&self) -> &'static str {
        match self {
            Caller::Open => "none (auth off)",
            Caller::Anonymous => "anonymous",
            Caller::Cookie { .. } => "cookie",
            Caller::Bearer => "bearer",
            Caller::Proxy { .. } => "forward-auth",
        }
    }
}

/// The address a TCP connection arrived on, put in each request by the listener.
#[derive(Clone, Copy, Debug)]
pub struct LocalAddr(pub SocketAddr);

/// The `Host` rule (issue 16 §3): every host the request names — its `Host` header and the
/// authority of an absolute-form target — must be one this server answers to. `Err` is the
/// refusal to send: 400 for more than one `Host` header (which one counts would depend on
/// who reads it), 421 otherwise.
fn check_host(auth: &Auth, request: &Request) -> Result<(), Box<Response>> {
    if request
        .headers()
        .get_all(header::HOST)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(Box::new(
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "the request has more than one Host header; send exactly one",
            )
            .into_response(),
        ));
    }
    let local = request
        .extensions()
        .get::<LocalAddr>()
        .map(|LocalAddr(addr)| addr.ip());
    let header = request.headers().get(header::HOST).map(|value| {
        value.to_str().map_or_else(
            |_| String::from_utf8_lossy(value.as_bytes()).into_owned(),
            str::to_owned,
        )
    });
    let authority = request.uri().authority().map(|a| a.as_str().to_owned());
    if header.is_none() && authority.is_none() {
        return Err(Box::new(
            ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "the request has no Host header; send the server's address as Host",
            )
            .into_response(),
        ));
    }
    for named in header.iter().chain(authority.iter()) {
        let admitted =
            parse_host_header(named).is_some_and(|host| auth.inner.hosts.admits(&host, local));
        if !admitted {
            let shown = split_host_port(named).map_or(named.as_str(), |(host, _)| host);
            return Err(Box::new(
                ApiError::new(
                    StatusCode::MISDIRECTED_REQUEST,
                    format!(
                        "Host '{}' is not one this server answers to; add its origin to \
                         auth.allowed_origins",
                        echo(shown)
                    ),
                )
                .into_response(),
            ));
        }
    }
    Ok(())
}

async fn decide(auth: &Auth, mut request: Request, next: Next) -> (Response, &'static str) {
    if let Err(refusal) = check_host(auth, &request) {
        return (*refusal, "none (Host refused)");
    }
    let path = request.uri().path().to_owned();
    let root = auth.root_path();
    let rel = if root.is_empty() {
        path.as_str()
    } else {
        match path.strip_prefix(root) {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            // Outside root_path: the router answers 404.
            _ => return (next.run(request).await, "none (outside root_path)"),
        }
    }
    .to_owned();
    if rel == "/mcp" && auth.config().mcp.http_enabled {
        return mcp_gate(auth, request, next).await;
    }
    if !auth.config().ui.enabled && is_ui_only(&rel) {
        return (
            ApiError::not_found("Not Found").into_response(),
            "none (UI off)",
        );
    }
    if is_openapi(&rel) && !auth.config().api.openapi_enabled {
        // Not served: 404 for everyone, as 1.3.2 (not a login redirect that hints at it).
        return (next.run(request).await, "none (OpenAPI off)");
    }
    let websocket = is_websocket(&request);
    let checks_origin = websocket || is_unsafe(request.method());
    if !auth.enabled() {
        if checks_origin && !auth.inner.allowed.admits_if_present(request.headers()) {
            return (origin_refused(), Caller::Open.kind());
        }
        request.extensions_mut().insert(Caller::Open);
        return (next.run(request).await, Caller::Open.kind());
    }

    let peer = peer_of(&request);
    // Split so no borrow of the (non-`Sync`) body lives across the token lookup.
    let (parts, body) = request.into_parts();
    let caller = auth.identify(&parts, peer, &rel).await;
    let mut request = Request::from_parts(parts, body);
    // Before the public-path check, so `POST /login` is covered too (security.md §5).
    let kind = caller.kind();
    if checks_origin && !caller.origin_passes(&auth.inner.allowed, request.headers()) {
        return (origin_refused(), kind);
    }
    if caller.authenticated() || is_public(request.method(), &rel) {
        if let (
            true,
            Caller::Cookie {
                issued_at, epoch, ..
            },
        ) = (websocket, &caller)
        {
            request.extensions_mut().insert(SessionEnd {
                epoch: auth.inner.epoch.watch(),
                cookie_epoch: *epoch,
                expires_at: issued_at.saturating_add(auth.config().auth.session_max_age_seconds),
            });
        }
        request.extensions_mut().insert(caller);
        return (next.run(request).await, kind);
    }
    let refusal = if websocket {
        // Refused before the upgrade (http-api.md §8).
        ApiError::new(StatusCode::FORBIDDEN, "authentication required").into_response()
    } else if is_api(&rel) {
        ApiError::new(StatusCode::UNAUTHORIZED, "authentication required").into_response()
    } else {
        redirect(&format!("{root}/login"))
    };
    (refusal, kind)
}

/// `/mcp` (issue 24 §3) takes bearer tokens only — the configured hash or a named token —
/// whether or not `auth.enabled` is on; cookies and forward-auth do not open it. A browser
/// `Origin` that is present must be an allowed one, as on every unsafe request.
async fn mcp_gate(auth: &Auth, request: Request, next: Next) -> (Response, &'static str) {
    if !auth.inner.allowed.admits_if_present(request.headers()) {
        return (origin_refused(), Caller::Bearer.kind());
    }
    let (parts, body) = request.into_parts();
    let verdict = auth.bearer(&parts.headers, false).await;
    let mut request = Request::from_parts(parts, body);
    if verdict == Some(true) {
        request.extensions_mut().insert(Caller::Bearer);
        return (next.run(request).await, Caller::Bearer.kind());
    }
    let mut refusal = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "a bearer token is required for /mcp: send Authorization: Bearer <token> (make one \
         with `clauster api-token issue`)",
    )
    .into_response();
    refusal
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    (refusal, Caller::Anonymous.kind())
}

fn origin_refused() -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "origin check failed").into_response()
}

/// A 303 with `no-store`.
pub fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, Method, header};

    use super::{cookie_values, is_api, is_public, is_ui_only};

    #[test]
    fn public_ui_only_and_api_paths() {
        assert!(is_public(&Method::GET, "/login"));
        assert!(is_public(&Method::POST, "/login"));
        assert!(is_public(&Method::HEAD, "/healthz"));
        assert!(is_public(&Method::GET, "/pkg/boot.js"));
        assert!(!is_public(&Method::POST, "/healthz"));
        assert!(!is_public(&Method::GET, "/"));
        assert!(!is_public(&Method::POST, "/logout"));
        assert!(!is_public(&Method::GET, "/metrics"));
        assert!(!is_public(&Method::GET, "/api/state"));

        assert!(is_ui_only("/"));
        assert!(is_ui_only("/api/instances/abc/forget"));
        assert!(is_ui_only("/api/instances/abc/qr"));
        assert!(!is_ui_only("/api/instances/abc"));
        assert!(!is_ui_only("/api/instances/abc/resume"));
        assert!(!is_ui_only("/healthz"));

        assert!(is_api("/api/state"));
        assert!(is_api("/ws/events"));
        assert!(is_api("/metrics"));
        assert!(!is_api("/"));
    }

    #[test]
    fn the_clear_text_cookie_warning_needs_password_auth_without_tls_proxy_or_always() {
        const CLEAR: &str = "password sign-in is on without TLS or a reverse proxy: the \
                             session cookie can travel in clear text; serve clauster over \
                             HTTPS (tls, or a reverse proxy) and set auth.cookie_secure: always";
        let password = "auth:\n  enabled: true\n  password_required: true\n  \
                        password_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA'\n";
        let tls = "tls: {provision: self-signed, hostnames: [a.lan]}\n";
        let cases = [
            (password.to_owned(), true),
            (
                format!("{password}tls: {{cert_file: /c.pem, key_file: /k.pem}}\n"),
                false,
            ),
            (format!("{password}{tls}"), false),
            (format!("{password}  cookie_secure: always\n"), false),
            (format!("{password}  cookie_secure: never\n"), true),
            (
                format!(
                    "{password}  reverse_proxy: {{enabled: true, trusted_ips: [10.0.0.1], require_hmac: false}}\n"
                ),
                false,
            ),
            (
                "auth:\n  enabled: false\n  password_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA'\n".to_owned(),
                false,
            ),
        ];
        for (yaml, warned) in cases {
            let config = crate::test_fixtures::config(&yaml);
            let warnings = super::startup_warnings(&config);
            assert_eq!(
                warnings.iter().any(|w| w == CLEAR),
                warned,
                "{yaml}: {warnings:?}"
            );
        }
    }

    #[test]
    fn a_configured_hash_is_never_called_missing() {
        let load = crate::test_fixtures::config;
        let hash = "'$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA'";
        let not_required = super::startup_warnings(&load(&format!(
            "auth:\n  enabled: true\n  password_hash: {hash}\n"
        )));
        assert!(
            not_required
                .iter()
                .any(|w| w.contains("auth.password_required is false")),
            "{not_required:?}"
        );
        assert!(
            !not_required.iter().any(|w| w.contains("no password hash")),
            "{not_required:?}"
        );
        let none = super::startup_warnings(&load("auth:\n  enabled: true\n"));
        assert!(
            none.iter().any(|w| w.contains("no password hash")),
            "{none:?}"
        );
    }

    #[test]
    fn cookie_values_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; s=x; b=2"));
        headers.append(header::COOKIE, HeaderValue::from_static("s=y"));
        let values: Vec<&str> = cookie_values(&headers, "s").collect();
        assert_eq!(values, ["x", "y"]);
    }
}
