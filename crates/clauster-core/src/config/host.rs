//! The `Host` rule against DNS rebinding (issue 16 §3): the names a request's `Host` may
//! carry. A page on a rebound name reaches the server's socket with its own name in `Host`;
//! only names that belong to this server are answered: loopback names and addresses (any
//! port), the configured `host` when it is not a wildcard, the hosts of
//! `auth.allowed_origins`, and the TLS `hostnames`.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};

use super::Config;

/// The longest DNS name (RFC 1035), without the trailing dot.
const MAX_NAME_LEN: usize = 253;

/// A `Host` value's host part, normalised for comparison: an IP address (IPv4-mapped IPv6
/// read as IPv4), or a lower-case DNS name without its trailing dot.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostName {
    Ip(IpAddr),
    Name(String),
}

impl std::fmt::Display for HostName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostName::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            HostName::Ip(ip) => write!(f, "{ip}"),
            HostName::Name(name) => f.write_str(name),
        }
    }
}

/// Splits `host[:port]` / `[v6][:port]` into the host text and the port text. The port, when
/// present, is digits only (or empty: RFC 3986 allows `host:`); `None` when the shape is
/// wrong.
pub fn split_host_port(text: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if text.starts_with('[') {
        let end = text.find(']')?;
        let (host, after) = text.split_at(end + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match text.rsplit_once(':') {
            // Two colons or more without brackets: an IPv6 literal (not valid in `Host`, but
            // some clients send it), never a name with a port.
            Some((head, _)) if head.contains(':') => (text, None),
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port_ok = port.is_none_or(|p| p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok.then_some((host, port))
}

/// The host of a `Host` header value (or of an `authority`), normalised; `None` when it is
/// not a well-formed host: empty, over-long, with characters no DNS name or address has, or
/// with a malformed port.
pub fn parse_host_header(text: &str) -> Option<HostName> {
    let (host, _port) = split_host_port(text)?;
    parse_host(host)
}

/// A bare host (no port): `[v6]`, an unbracketed IPv6 literal, IPv4, or a DNS name.
pub fn parse_host(host: &str) -> Option<HostName> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']')?;
        return inner
            .parse::<Ipv6Addr>()
            .ok()
            .map(|v6| HostName::Ip(canonical(IpAddr::V6(v6))));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(HostName::Ip(canonical(ip)));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    // `127.0.0.1.` is still an address (and must compare as one).
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Some(HostName::Ip(canonical(ip)));
    }
    let well_formed = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && name
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63);
    well_formed.then(|| HostName::Name(name.to_ascii_lowercase()))
}

/// The host of an origin (`scheme://host[:port]`), as [`parse_host`] reads it.
pub fn origin_host(origin: &str) -> Option<HostName> {
    let (_, rest) = origin.trim().split_once("://")?;
    let rest = rest.trim_end_matches('/');
    if rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    parse_host_header(rest)
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// A wildcard bind address names no host.
fn is_wildcard(host: &str) -> bool {
    host.is_empty()
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| canonical(ip).is_unspecified())
        || host == "[::]"
}

/// The hosts a request may name. Loopback names and addresses are always admitted, on any
/// port (a proxy or an SSH tunnel on another port still says `localhost`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostRule {
    admitted: BTreeSet<HostName>,
}

impl HostRule {
    /// The hosts `config` names: its `host` (unless a wildcard), the hosts of
    /// `auth.allowed_origins`, and `tls.hostnames`.
    pub fn new(config: &Config) -> Self {
        let mut admitted = BTreeSet::new();
        if !is_wildcard(&config.host)
            && let Some(host) = parse_host(&config.host)
        {
            admitted.insert(host);
        }
        admitted.extend(
            config
                .auth
                .allowed_origins
                .iter()
                .filter_map(|o| origin_host(o)),
        );
        if let Some(tls) = &config.tls {
            admitted.extend(tls.hostnames.iter().filter_map(|h| parse_host(h)));
        }
        Self { admitted }
    }

    /// Whether a request whose `Host` names `host` is for this server. `local` is the
    /// address the connection arrived on: an IP literal equal to it is the server's own
    /// address (a browser on `http://192.0.2.7:7621/` is same-origin with it, not rebound).
    pub fn admits(&self, host: &HostName, local: Option<IpAddr>) -> bool {
        match host {
            HostName::Ip(ip) => {
                ip.is_loopback()
                    || local.is_some_and(|local| canonical(local) == *ip)
                    || self.admitted.contains(host)
            }
            HostName::Name(name) => name == "localhost" || self.admitted.contains(host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{HostName, HostRule, origin_host, parse_host_header, split_host_port};
    use crate::config::{ConfigInput, load};

    #[allow(clippy::unnecessary_wraps)] // compared with what the parsers return
    fn name(s: &str) -> Option<HostName> {
        Some(HostName::Name(s.to_owned()))
    }

    #[allow(clippy::unnecessary_wraps)]
    fn ip(s: &str) -> Option<HostName> {
        Some(HostName::Ip(s.parse().unwrap()))
    }

    #[test]
    fn host_headers_parse_to_a_normalised_host() {
        assert_eq!(parse_host_header("Example.COM:8080"), name("example.com"));
        assert_eq!(parse_host_header("example.com."), name("example.com"));
        assert_eq!(parse_host_header("localhost:"), name("localhost"));
        assert_eq!(parse_host_header("127.0.0.1:7621"), ip("127.0.0.1"));
        assert_eq!(parse_host_header("[::1]:7621"), ip("::1"));
        assert_eq!(parse_host_header("[::ffff:127.0.0.1]"), ip("127.0.0.1"));
        assert_eq!(parse_host_header("::1"), ip("::1"));
        assert_eq!(parse_host_header("127.0.0.1.:80"), ip("127.0.0.1"));
        for bad in [
            "",
            ":80",
            "evil.example:http",
            "evil example",
            "evil.example\n",
            "[::1",
            "[::1]x",
            "[nothex]",
            "a..b",
            "ex@mple",
            "host:123456",
            "é.example",
        ] {
            assert_eq!(parse_host_header(bad), None, "{bad:?}");
        }
        assert_eq!(parse_host_header(&"a".repeat(64)), None, "a label over 63");
        assert_eq!(
            split_host_port("[::1]:80"),
            Some(("[::1]", Some("80"))),
            "brackets keep the colons"
        );
    }

    #[test]
    fn origins_give_their_host() {
        assert_eq!(
            origin_host("https://dash.example.net:8443"),
            name("dash.example.net")
        );
        assert_eq!(origin_host("http://[::1]:7621/"), ip("::1"));
        assert_eq!(origin_host("null"), None);
        assert_eq!(origin_host("https://a/b"), None);
    }

    fn rule(yaml: &str) -> HostRule {
        let config = load(&ConfigInput {
            text: Some(format!("projects_root: /srv/p\nstate_dir: /srv/s\n{yaml}")),
            ..ConfigInput::default()
        })
        .unwrap()
        .config;
        HostRule::new(&config)
    }

    #[test]
    fn loopback_configured_origin_and_tls_hosts_are_admitted() {
        let rule = rule(
            "host: 10.1.2.3\nauth:\n  enabled: true\n  api_token_hash: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'\n  allowed_origins: ['https://dash.example.net']\ntls:\n  provision: self-signed\n  hostnames: [box.lan]\n",
        );
        let admits = |host: &str| rule.admits(&parse_host_header(host).unwrap(), None);
        for ok in [
            "localhost",
            "LocalHost.:9",
            "127.0.0.1",
            "127.9.9.9:1",
            "[::1]",
            "10.1.2.3:7621",
            "dash.example.net",
            "box.lan",
        ] {
            assert!(admits(ok), "{ok}");
        }
        for refused in [
            "evil.example",
            "localhost.evil.example",
            "dash.example.net.evil.example",
            "10.1.2.4",
            "0.0.0.0",
        ] {
            assert!(!admits(refused), "{refused}");
        }
        // The address the connection arrived on is the server's own.
        let here = parse_host_header("192.0.2.7:7621").unwrap();
        assert!(rule.admits(&here, Some("192.0.2.7".parse().unwrap())));
        assert!(!rule.admits(&here, Some("192.0.2.8".parse().unwrap())));
    }

    #[test]
    fn a_wildcard_bind_names_no_host() {
        let hash = "a".repeat(64);
        for host in ["0.0.0.0", "::"] {
            let rule = rule(&format!(
                "host: '{host}'\nauth:\n  enabled: true\n  api_token_hash: '{hash}'\n"
            ));
            assert!(!rule.admits(&parse_host_header("0.0.0.0").unwrap(), None));
            assert!(rule.admits(&parse_host_header("localhost").unwrap(), None));
        }
    }
}
