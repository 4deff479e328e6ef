//! The Apprise URLs Clauster delivers itself (notifications.md §5): `ntfy://`, `ntfys://`,
//! `discord://`, `slack://`, `gotify://`, `gotifys://`, `json://`, `jsons://`. Parsing gives
//! the requests to make; any other scheme is [`AppriseError::Unsupported`], which the doctor
//! names and delivery skips. Also the masking every URL gets before it is shown or logged.

use url::Url;

use super::{Notice, NotifyEvent};
use crate::names::echo;

/// Where the services with a fixed home live. [`ServiceHosts::real`] everywhere; the
/// end-to-end tests point them at local doubles (through `ServeOptions`, never config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceHosts {
    /// `ntfy://topic` (no host) publishes here.
    pub ntfy: String,
    pub discord: String,
    pub slack: String,
}

impl ServiceHosts {
    pub fn real() -> Self {
        Self {
            ntfy: "https://ntfy.sh".to_owned(),
            discord: "https://discord.com".to_owned(),
            slack: "https://hooks.slack.com".to_owned(),
        }
    }

    /// Every service at `base` (a local double).
    pub fn all_at(base: &str) -> Self {
        Self {
            ntfy: base.to_owned(),
            discord: base.to_owned(),
            slack: base.to_owned(),
        }
    }
}

/// Why an Apprise URL is not delivered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppriseError {
    #[error(
        "notifications.urls: the scheme '{}' is not delivered by this version (supported: \
         ntfy, ntfys, discord, slack, gotify, gotifys, json, jsons); this URL is skipped",
        echo(.0)
    )]
    Unsupported(String),
    #[error("notifications.urls: {masked} is not a usable {service} URL: {reason}")]
    Invalid {
        masked: String,
        service: &'static str,
        reason: &'static str,
    },
}

/// One HTTP request to make: always a `POST` of a JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Service {
    /// One request per topic, to the server's root (ntfy's JSON publishing).
    Ntfy {
        base: String,
        topics: Vec<String>,
        priority: Option<String>,
    },
    Discord {
        endpoint: String,
        username: Option<String>,
    },
    Slack {
        endpoint: String,
        channel: Option<String>,
    },
    Gotify {
        endpoint: String,
        priority: i64,
    },
    Json {
        endpoint: String,
    },
}

/// A parsed Apprise URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppriseTarget {
    service: Service,
    headers: Vec<(String, String)>,
    masked: String,
}

impl AppriseTarget {
    #[allow(clippy::too_many_lines)] // one arm per service, each a few lines
    pub fn parse(text: &str, hosts: &ServiceHosts) -> Result<Self, AppriseError> {
        let masked = mask_url(text);
        let invalid = |service, reason| AppriseError::Invalid {
            masked: masked.clone(),
            service,
            reason,
        };
        let Some((scheme, _)) = text.trim().split_once("://") else {
            return Err(invalid("Apprise", "it is not a URL"));
        };
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(
            scheme.as_str(),
            "ntfy" | "ntfys" | "discord" | "slack" | "gotify" | "gotifys" | "json" | "jsons"
        ) {
            return Err(AppriseError::Unsupported(scheme));
        }
        let url = Url::parse(text.trim()).map_err(|_| invalid("Apprise", "it does not parse"))?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let segments: Vec<String> = url
            .path_segments()
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect();
        let query = |name: &str| {
            url.query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        let mut headers = Vec::new();
        let basic = basic_auth(&url);
        let service = match scheme.as_str() {
            "ntfy" | "ntfys" => {
                let (base, topics) = if segments.is_empty() {
                    if host.is_empty() {
                        return Err(invalid("ntfy", "it names no topic"));
                    }
                    (hosts.ntfy.clone(), vec![host.clone()])
                } else {
                    let web = if scheme == "ntfys" { "https" } else { "http" };
                    (format!("{web}://{}", host_port(&url)), segments)
                };
                if let Some(auth) = basic {
                    headers.push(("Authorization".to_owned(), auth));
                } else if let Some(token) = query("token").or_else(|| query("auth")) {
                    headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
                }
                Service::Ntfy {
                    base,
                    topics,
                    priority: query("priority"),
                }
            }
            "discord" => {
                let [token] = segments.as_slice() else {
                    return Err(invalid(
                        "Discord",
                        "write it as discord://<webhook id>/<webhook token>",
                    ));
                };
                if host.is_empty() {
                    return Err(invalid("Discord", "the webhook id is missing"));
                }
                Service::Discord {
                    endpoint: format!("{}/api/webhooks/{host}/{token}", hosts.discord),
                    username: (!url.username().is_empty()).then(|| percent_decode(url.username())),
                }
            }
            "slack" => {
                if host.starts_with("xox") {
                    return Err(invalid(
                        "Slack",
                        "bot tokens are not delivered natively; use an incoming-webhook URL \
                         slack://<TokenA>/<TokenB>/<TokenC>",
                    ));
                }
                let mut parts = segments.clone();
                let channel = url
                    .fragment()
                    .filter(|f| !f.is_empty())
                    .map(|f| format!("#{}", percent_decode(f)))
                    .or_else(|| {
                        (parts.len() == 3).then(|| parts.pop()).flatten().map(|c| {
                            if c.starts_with('#') || c.starts_with('@') {
                                c
                            } else {
                                format!("#{c}")
                            }
                        })
                    });
                let [b, c] = parts.as_slice() else {
                    return Err(invalid(
                        "Slack",
                        "write it as slack://<TokenA>/<TokenB>/<TokenC>[/#channel]",
                    ));
                };
                if host.is_empty() {
                    return Err(invalid("Slack", "token A is missing"));
                }
                Service::Slack {
                    endpoint: format!("{}/services/{host}/{b}/{c}", hosts.slack),
                    channel,
                }
            }
            "gotify" | "gotifys" => {
                let Some((token, path)) = segments.split_last() else {
                    return Err(invalid(
                        "Gotify",
                        "write it as gotify://<host>[/<path>]/<app token>",
                    ));
                };
                if host.is_empty() {
                    return Err(invalid("Gotify", "the host is missing"));
                }
                headers.push(("X-Gotify-Key".to_owned(), token.clone()));
                let web = if scheme == "gotifys" { "https" } else { "http" };
                let prefix: String = path.iter().flat_map(|p| ["/", p.as_str()]).collect();
                Service::Gotify {
                    endpoint: format!("{web}://{}{prefix}/message", host_port(&url)),
                    priority: query("priority").and_then(|p| p.parse().ok()).unwrap_or(5),
                }
            }
            _ => {
                if host.is_empty() {
                    return Err(invalid("JSON", "the host is missing"));
                }
                let web = if scheme == "jsons" { "https" } else { "http" };
                if let Some(auth) = basic {
                    headers.push(("Authorization".to_owned(), auth));
                }
                // Apprise's `?+Header=value` adds a request header.
                // (Read raw: form decoding would turn the `+` into a space.)
                for pair in url.query().unwrap_or_default().split('&') {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    if let Some(name) = key.strip_prefix('+')
                        && !name.is_empty()
                    {
                        headers.push((percent_decode(name), percent_decode(value)));
                    }
                }
                Service::Json {
                    endpoint: format!("{web}://{}{}", host_port(&url), url.path()),
                }
            }
        };
        Ok(Self {
            service,
            headers,
            masked,
        })
    }

    /// The URL as it may be shown.
    pub fn masked(&self) -> &str {
        &self.masked
    }

    /// The requests that deliver `notice`.
    pub fn requests(&self, notice: &Notice) -> Vec<Outbound> {
        let title = notice.title();
        let message = notice.message();
        let post = |url: String, body| Outbound {
            url,
            headers: self.headers.clone(),
            body,
        };
        match &self.service {
            Service::Ntfy {
                base,
                topics,
                priority,
            } => topics
                .iter()
                .map(|topic| {
                    let mut body = serde_json::json!({
                        "topic": topic,
                        "title": title,
                        "message": message,
                        "tags": [notify_type(notice.event)],
                    });
                    if let Some(priority) = priority {
                        body["priority"] = ntfy_priority(priority).into();
                    }
                    post(format!("{base}/"), body)
                })
                .collect(),
            Service::Discord { endpoint, username } => {
                let mut body = serde_json::json!({"content": format!("**{title}**\n{message}")});
                if let Some(name) = username {
                    body["username"] = name.clone().into();
                }
                vec![post(endpoint.clone(), body)]
            }
            Service::Slack { endpoint, channel } => {
                let mut body = serde_json::json!({"text": format!("*{title}*\n{message}")});
                if let Some(channel) = channel {
                    body["channel"] = channel.clone().into();
                }
                vec![post(endpoint.clone(), body)]
            }
            Service::Gotify { endpoint, priority } => vec![post(
                endpoint.clone(),
                serde_json::json!({"title": title, "message": message, "priority": priority}),
            )],
            Service::Json { endpoint } => vec![post(
                endpoint.clone(),
                serde_json::json!({
                    "version": "1.0",
                    "title": title,
                    "message": message,
                    "type": notify_type(notice.event),
                }),
            )],
        }
    }
}

/// Apprise's notification type for an event.
fn notify_type(event: NotifyEvent) -> &'static str {
    match event {
        NotifyEvent::Crash | NotifyEvent::CrashLoop | NotifyEvent::Stall => "failure",
        NotifyEvent::LoginLost | NotifyEvent::PermissionNeeded => "warning",
        NotifyEvent::Ready | NotifyEvent::LoginRestored | NotifyEvent::CloneDone => "success",
        _ => "info",
    }
}

/// ntfy's priorities by name or number (1–5); anything else is the default, 3.
fn ntfy_priority(text: &str) -> u8 {
    match text.trim().to_ascii_lowercase().as_str() {
        "min" | "1" => 1,
        "low" | "2" => 2,
        "high" | "4" => 4,
        "max" | "urgent" | "5" => 5,
        _ => 3,
    }
}

fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

fn basic_auth(url: &Url) -> Option<String> {
    use base64::Engine as _;
    if url.username().is_empty() {
        return None;
    }
    let user = percent_decode(url.username());
    let password = url.password().map(percent_decode).unwrap_or_default();
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    ))
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(|| text.to_owned(), |(_, value)| value.into_owned())
}

/// A URL as the delivery log, the doctor and the logs show it: scheme and host (no
/// credentials, path, query or fragment, which is where tokens live). Discord and Slack keep
/// tokens in the host too, so theirs is hidden.
pub fn mask_url(text: &str) -> String {
    let text = text.trim();
    let Some((scheme, rest)) = text.split_once("://") else {
        return "<not a URL>".to_owned();
    };
    let scheme: String = scheme
        .chars()
        .take(16)
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        .collect::<String>()
        .to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let has_more = rest.len() > authority.len() || authority.contains('@');
    if matches!(scheme.as_str(), "discord" | "slack") || host.is_empty() {
        return format!("{scheme}://***");
    }
    let host = echo(host);
    if has_more {
        format!("{scheme}://{host}/***")
    } else {
        format!("{scheme}://{host}")
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    fn notice() -> Notice {
        Notice {
            project: Some("alpha".into()),
            status: Some("crashed".into()),
            error_kind: Some("exited_early".into()),
            detail: Some("exit code 1".into()),
            ..Notice::bare(NotifyEvent::Crash, "2026-01-02T03:04:05.000Z".into(), None)
        }
    }

    /// Each URL: its masked form, then the requests for one crash, or the refusal.
    #[test]
    fn urls_and_their_requests() {
        let hosts = ServiceHosts::real();
        let mut out = String::new();
        for url in [
            "ntfy://alerts",
            "ntfy://127.0.0.1:8080/alerts/other?priority=high",
            "ntfys://me:s3cret@ntfy.example.net/alerts",
            "ntfys://ntfy.example.net/alerts?token=tk_abc",
            "discord://1234567890/abcDEF-token",
            "discord://Clauster@1234567890/abcDEF-token",
            "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#alerts",
            "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/ops",
            "slack://xoxb-1234-1234-abc/#general",
            "slack://T1/B2",
            "gotify://gotify.example.net/AbCdEf",
            "gotifys://gotify.example.net:8443/sub/path/AbCdEf?priority=8",
            "json://127.0.0.1:9000/hook?+X-Api-Key=k1",
            "jsons://u:p@hooks.example.net/notify",
            "discord://only-one",
            "tgram://bottoken/ChatID",
            "mailto://user:pass@gmail.com",
            "not a url",
        ] {
            let _ = writeln!(out, "{url}\n  masked: {}", mask_url(url));
            match AppriseTarget::parse(url, &hosts) {
                Ok(target) => {
                    for request in target.requests(&notice()) {
                        let _ = writeln!(
                            out,
                            "  POST {} {:?}\n    {}",
                            request.url, request.headers, request.body
                        );
                    }
                }
                Err(error) => {
                    let _ = writeln!(out, "  refused: {error}");
                }
            }
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn webhook_urls_are_masked_to_their_host() {
        assert_eq!(
            mask_url("https://user:pw@hooks.example.net:8443/t/SECRET?k=v"),
            "https://hooks.example.net:8443/***"
        );
        assert_eq!(mask_url("http://127.0.0.1:9"), "http://127.0.0.1:9");
        assert_eq!(mask_url("garbage"), "<not a URL>");
    }

    #[test]
    fn local_doubles_replace_the_fixed_homes() {
        let hosts = ServiceHosts::all_at("http://127.0.0.1:4000");
        let slack = AppriseTarget::parse("slack://TA/TB/TC", &hosts).expect("parses");
        assert_eq!(
            slack.requests(&notice())[0].url,
            "http://127.0.0.1:4000/services/TA/TB/TC"
        );
        let ntfy = AppriseTarget::parse("ntfy://topic", &hosts).expect("parses");
        assert_eq!(ntfy.requests(&notice())[0].url, "http://127.0.0.1:4000/");
    }
}
