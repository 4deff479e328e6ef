//! A target's worker: takes notices off its queue one at a time and sends them — signed
//! webhook bodies, Apprise service requests — with the timeout, retries, back-off, circuit
//! breaker and SSRF guard of notifications.md §4. Runs on its own task; nothing waits on it.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use clauster_core::clone::{AddressClass, classify};
use clauster_core::config::{Config, Secret};
use clauster_core::notify::apprise::mask_url;
use clauster_core::notify::breaker::{Gate, OPEN_FOR_MS, backoff_ms};
use clauster_core::notify::{Notice, NotifyEvent};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Channel, Delivery, Shared, Target, push};

/// The header that carries the body's HMAC-SHA256 when `webhooks.secret` is set.
pub const SIGNATURE_HEADER: &str = "X-Clauster-Signature";
/// The event name, so a receiver can route without parsing the body.
pub const EVENT_HEADER: &str = "X-Clauster-Event";

/// Apprise services get this long per request (webhooks use `webhooks.timeout_seconds`).
const APPRISE_TIMEOUT: Duration = Duration::from_secs(10);
/// Apprise deliveries are retried this often (webhooks use `webhooks.retries`).
const APPRISE_RETRIES: u32 = 2;

/// The delivery settings taken from the config once.
#[derive(Clone, Debug)]
pub(super) struct Settings {
    webhook_timeout: Duration,
    webhook_retries: u32,
    secret: Option<Secret>,
    block_private: bool,
}

impl Settings {
    pub(super) fn from_config(config: &Config) -> Self {
        let hooks = &config.webhooks;
        Self {
            webhook_timeout: Duration::from_secs_f64(hooks.timeout_seconds),
            webhook_retries: u32::try_from(hooks.retries).unwrap_or(10),
            secret: hooks.secret.clone(),
            block_private: hooks.block_private_targets,
        }
    }
}

/// `sha256=<hex HMAC-SHA256 of body keyed by secret>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    digest.iter().fold(String::from("sha256="), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// One HTTP request of a delivery.
struct Request {
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Why an attempt failed.
enum Failure {
    /// Worth retrying: no answer, or a non-2xx one.
    Retry {
        http_status: Option<u16>,
        error: String,
    },
    /// The SSRF guard refused the destination: never sent, never retried.
    Blocked(String),
}

pub(super) fn spawn_worker(shared: Weak<Shared>, target: Arc<Target>) {
    tokio::spawn(async move {
        loop {
            target.wake.notified().await;
            loop {
                let next = target
                    .queue
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pop_front();
                let Some(notice) = next else { break };
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                if matches!(target.channel, Channel::Push) {
                    for delivery in deliver_push(&shared, &notice).await {
                        shared.record(delivery);
                    }
                } else {
                    let delivery = deliver(&shared, &target, &notice).await;
                    shared.record(delivery);
                }
            }
            if shared.strong_count() == 0 {
                return;
            }
        }
    });
}

/// Sends one notice to one target, with its retries; the outcome for the log.
async fn deliver(shared: &Shared, target: &Target, notice: &Notice) -> Delivery {
    let mut delivery = Delivery {
        at: crate::time::now_rfc3339(),
        channel: target.channel_name(),
        target: target.masked.clone(),
        event: notice.event.as_str(),
        project: notice.project.clone(),
        outcome: "delivered",
        attempts: 0,
        http_status: None,
        error: None,
    };
    let gate = target
        .breaker
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .gate(shared.now_ms());
    if gate == Gate::Skip {
        delivery.outcome = "skipped";
        delivery.error = Some(format!(
            "circuit open: this target failed {} deliveries in a row; the next try is \
             within {} s",
            clauster_core::notify::breaker::OPEN_AFTER,
            OPEN_FOR_MS / 1000
        ));
        return delivery;
    }
    let (requests, timeout, retries, guard) = requests_for(&shared.settings, target, notice);
    let mut pending: Vec<Request> = requests;
    for attempt in 0..=retries {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(backoff_ms(attempt))).await;
        }
        delivery.attempts = attempt + 1;
        let mut failed = Vec::new();
        let mut last = None;
        for request in pending {
            match send(&request, timeout, guard).await {
                Ok(status) => delivery.http_status = Some(status),
                Err(Failure::Blocked(reason)) => {
                    delivery.outcome = "skipped";
                    delivery.error = Some(reason);
                    return delivery;
                }
                Err(Failure::Retry { http_status, error }) => {
                    delivery.http_status = http_status;
                    last = Some(error);
                    failed.push(request);
                }
            }
        }
        if failed.is_empty() {
            target
                .breaker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .succeeded();
            delivery.error = None;
            return delivery;
        }
        delivery.error = last;
        pending = failed;
    }
    delivery.outcome = "failed";
    let opened = target
        .breaker
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .failed(shared.now_ms());
    if opened {
        tracing::warn!(
            target = %target.masked,
            "a notification target keeps failing: its deliveries are skipped for {} s",
            OPEN_FOR_MS / 1000
        );
    }
    delivery
}

/// Sends one notice to every push device (notifications.md §8.4): encrypted per device,
/// retried like an Apprise URL; a 404 or 410 means the subscription is gone, and it is
/// removed. One outcome per device.
async fn deliver_push(shared: &Arc<Shared>, notice: &Notice) -> Vec<Delivery> {
    let devices = shared.push.list();
    if devices.is_empty() {
        return Vec::new();
    }
    let keyed = Arc::clone(shared);
    let vapid = tokio::task::spawn_blocking(move || keyed.push.vapid())
        .await
        .map_err(|_| "loading the VAPID key panicked".to_owned())
        .and_then(|loaded| loaded.map_err(|err| err.to_string()));
    let payload = push::payload(notice, &shared.push.root_path);
    let urgent = !matches!(
        notice.event,
        NotifyEvent::Ready | NotifyEvent::Spawn | NotifyEvent::Stop | NotifyEvent::Test
    );
    let guard = (!shared.push.allow_private).then_some(PUSH_GUARD);
    let mut outcomes = Vec::with_capacity(devices.len());
    for device in devices {
        let mut delivery = Delivery {
            at: crate::time::now_rfc3339(),
            channel: "push",
            target: format!("{} ({})", mask_url(&device.endpoint), device.device),
            event: notice.event.as_str(),
            project: notice.project.clone(),
            outcome: "failed",
            attempts: 0,
            http_status: None,
            error: None,
        };
        let vapid = match &vapid {
            Ok(vapid) => vapid,
            Err(err) => {
                delivery.error = Some(err.clone());
                outcomes.push(delivery);
                continue;
            }
        };
        let now = crate::time::unix_seconds();
        let request =
            match push::encrypt(vapid, &shared.push.subject, &device, &payload, urgent, now) {
                Ok(encrypted) => Request {
                    url: encrypted.url,
                    headers: encrypted.headers,
                    body: encrypted.body,
                },
                Err(err) => {
                    delivery.error = Some(err);
                    outcomes.push(delivery);
                    continue;
                }
            };
        for attempt in 0..=APPRISE_RETRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(backoff_ms(attempt))).await;
            }
            delivery.attempts = attempt + 1;
            match send(&request, APPRISE_TIMEOUT, guard).await {
                Ok(status) => {
                    delivery.http_status = Some(status);
                    delivery.outcome = "delivered";
                    delivery.error = None;
                    let noted = Arc::clone(shared);
                    let id = device.id.clone();
                    tokio::task::spawn_blocking(move || {
                        if let Err(err) = noted.push.delivered(&id) {
                            tracing::warn!("{err}");
                        }
                    });
                    break;
                }
                Err(Failure::Retry {
                    http_status: Some(status @ (404 | 410)),
                    ..
                }) => {
                    delivery.http_status = Some(status);
                    delivery.error = Some(format!(
                        "the push service answered {status}: the subscription is gone, so \
                         this device was removed"
                    ));
                    forget_device(shared, &device.id).await;
                    break;
                }
                Err(Failure::Retry { http_status, error }) => {
                    delivery.http_status = http_status;
                    delivery.error = Some(error);
                }
                Err(Failure::Blocked(reason)) => {
                    delivery.outcome = "skipped";
                    delivery.error = Some(reason);
                    break;
                }
            }
        }
        outcomes.push(delivery);
    }
    outcomes
}

/// Removes a device its push service called gone (404/410).
async fn forget_device(shared: &Arc<Shared>, id: &str) {
    let gone = Arc::clone(shared);
    let id = id.to_owned();
    let removed = tokio::task::spawn_blocking(move || gone.push.remove(&id)).await;
    if let Ok(Err(err)) = removed {
        tracing::warn!("{err}");
    }
}

/// The requests of one delivery, with its timeout, retries and whether the SSRF guard
/// applies.
fn requests_for(
    settings: &Settings,
    target: &Target,
    notice: &Notice,
) -> (Vec<Request>, Duration, u32, Option<&'static str>) {
    match &target.channel {
        Channel::Webhook { url, .. } => {
            let body = serde_json::to_vec(&notice.webhook_body()).unwrap_or_default();
            let mut headers = vec![
                ("Content-Type".to_owned(), "application/json".to_owned()),
                (EVENT_HEADER.to_owned(), notice.event.as_str().to_owned()),
            ];
            if let Some(secret) = &settings.secret {
                headers.push((
                    SIGNATURE_HEADER.to_owned(),
                    signature(secret.expose(), &body),
                ));
            }
            let request = Request {
                url: url.clone(),
                headers,
                body,
            };
            (
                vec![request],
                settings.webhook_timeout,
                settings.webhook_retries,
                settings.block_private.then_some(WEBHOOK_GUARD),
            )
        }
        Channel::Apprise(apprise) => {
            let requests = apprise
                .requests(notice)
                .into_iter()
                .map(|outbound| {
                    let mut headers = outbound.headers;
                    headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
                    Request {
                        url: outbound.url,
                        headers,
                        body: serde_json::to_vec(&outbound.body).unwrap_or_default(),
                    }
                })
                .collect();
            (requests, APPRISE_TIMEOUT, APPRISE_RETRIES, None)
        }
        // Sent by `deliver_push`, device by device.
        Channel::Push => (Vec::new(), APPRISE_TIMEOUT, 0, None),
    }
}

/// Why a webhook to a non-public address is refused.
const WEBHOOK_GUARD: &str = "webhooks.block_private_targets is on";
/// Why a push endpoint on a non-public address is refused.
const PUSH_GUARD: &str = "notifications.push_allow_private is off";

/// One POST; the HTTP status when it was 2xx.
/// `guard`, when set, names the setting that refuses non-public targets (for the message).
async fn send(
    request: &Request,
    timeout: Duration,
    guard: Option<&'static str>,
) -> Result<u16, Failure> {
    let retry = |http_status, error| Failure::Retry { http_status, error };
    let url = url::Url::parse(&request.url)
        .map_err(|_| retry(None, "the URL does not parse".to_owned()))?;
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        // A receiver must not bounce a signed body (or the guard) elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("clauster/", env!("CARGO_PKG_VERSION")));
    if let Some(rule) = guard {
        let pinned = checked_address(&url, rule)
            .await
            .map_err(Failure::Blocked)?;
        if let (Some(host), Some(addr)) = (url.host_str(), pinned) {
            builder = builder.resolve(host, addr);
        }
    }
    let client = builder
        .build()
        .map_err(|err| retry(None, format!("cannot set up HTTP: {err}")))?;
    let mut call = client.post(url).body(request.body.clone());
    for (name, value) in &request.headers {
        call = call.header(name.as_str(), value.as_str());
    }
    match call.send().await {
        Ok(response) if response.status().is_success() => Ok(response.status().as_u16()),
        Ok(response) => {
            let status = response.status().as_u16();
            Err(retry(
                Some(status),
                format!("the endpoint answered {status}"),
            ))
        }
        Err(err) => {
            let what = if err.is_timeout() {
                format!("no answer within {:.1} s", timeout.as_secs_f64())
            } else if err.is_connect() {
                "cannot connect".to_owned()
            } else {
                "the request failed".to_owned()
            };
            // `without_url`: the URL may carry a token.
            Err(retry(None, format!("{what}: {}", err.without_url())))
        }
    }
}

/// `webhooks.block_private_targets`: resolves the host and refuses any address that is not
/// public (loopback, private, link-local, CGNAT, …, judged as the clone guard judges them);
/// the address to connect to, so the request goes where the check looked (`None` for an IP
/// literal, which needs no pinning).
async fn checked_address(url: &url::Url, rule: &str) -> Result<Option<SocketAddr>, String> {
    let port = url.port_or_known_default().unwrap_or(80);
    let blocked =
        |ip: IpAddr| format!("blocked: the target resolves to {ip}, a non-public address ({rule})");
    match url.host() {
        Some(url::Host::Ipv4(ip)) => check(IpAddr::V4(ip)).map_err(blocked).map(|()| None),
        Some(url::Host::Ipv6(ip)) => check(IpAddr::V6(ip)).map_err(blocked).map(|()| None),
        Some(url::Host::Domain(name)) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
                .await
                .map_err(|err| format!("cannot resolve the target's host: {err}"))?
                .collect();
            for addr in &addrs {
                check(addr.ip()).map_err(blocked)?;
            }
            addrs
                .first()
                .copied()
                .map(Some)
                .ok_or_else(|| "the target's host resolves to no address".to_owned())
        }
        None => Err("the target has no host".to_owned()),
    }
}

fn check(ip: IpAddr) -> Result<(), IpAddr> {
    if classify(ip) == AddressClass::Public {
        Ok(())
    } else {
        Err(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature of a known body and key, computed independently with
    /// `printf '%s' '{"event":"test"}' | openssl dgst -sha256 -hmac s3cret`.
    #[test]
    fn signature_is_hmac_sha256_hex() {
        assert_eq!(
            signature("s3cret", br#"{"event":"test"}"#),
            "sha256=b4986cc3ab143f0e2e18cac20b164f7e843afdfb9651b1697f70e55a38617a30"
        );
    }
}
