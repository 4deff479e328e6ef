//! Steps 1–5 of data.md §3.3: what a clone URL must look like before any name is resolved.

use std::fmt;
use std::net::IpAddr;

use ::url::{Host, Url};

use crate::names::echo;

/// Longest clone URL accepted (data.md §3.3 step 1).
pub const MAX_URL_CHARS: usize = 2048;

/// Why a clone URL was refused before resolution. Every variant is a 422 whose message is the
/// `detail` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloneUrlError {
    #[error("clone URL is longer than {MAX_URL_CHARS} characters")]
    TooLong,
    #[error("clone URL must not contain whitespace or control characters")]
    ControlOrWhitespace,
    #[error("clone URL must have a scheme")]
    NoScheme,
    #[error("malformed clone URL: {0}")]
    Malformed(String),
    #[error("scheme '{}' not allowed; permitted: [{}]", echo(.scheme), quoted(.allowed))]
    SchemeNotAllowed {
        scheme: String,
        allowed: Vec<String>,
    },
    #[error("credentials in the clone URL are not allowed")]
    Credentials,
    #[error("clone URL has no host")]
    NoHost,
}

/// `['https', 'ssh']`, the way the spec prints the configured list.
fn quoted(list: &[String]) -> String {
    list.iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The host of a clone URL: an address literal (already normalised by the URL parser, so
/// `0x7f000001` and `2130706433` are `127.0.0.1` for the special schemes) or a DNS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloneHost {
    Ip(IpAddr),
    Name(String),
}

impl fmt::Display for CloneHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloneHost::Ip(ip) => write!(f, "{ip}"),
            CloneHost::Name(name) => f.write_str(name),
        }
    }
}

/// A clone URL that passed steps 1–5. Only its host still needs the address check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneUrl {
    url: Url,
    scheme: String,
    host: CloneHost,
    port: u16,
}

impl CloneUrl {
    /// Validates `text` against steps 1–5 of data.md §3.3, in order. `allowed_schemes` is
    /// `clone.allowed_schemes` (already lower-cased by the config loader).
    pub fn parse(text: &str, allowed_schemes: &[String]) -> Result<Self, CloneUrlError> {
        if text.chars().count() > MAX_URL_CHARS {
            return Err(CloneUrlError::TooLong);
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CloneUrlError::ControlOrWhitespace);
        }
        let without_zone = strip_zone_id(text);
        let url = match Url::parse(&without_zone) {
            Ok(url) => url,
            Err(::url::ParseError::RelativeUrlWithoutBase) => return Err(CloneUrlError::NoScheme),
            Err(err) => return Err(CloneUrlError::Malformed(err.to_string())),
        };
        let scheme = url.scheme().to_ascii_lowercase();
        if !allowed_schemes
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&scheme))
        {
            return Err(CloneUrlError::SchemeNotAllowed {
                scheme,
                allowed: allowed_schemes.to_vec(),
            });
        }
        // A bare user is how ssh names the account (`ssh://git@host/…`); anywhere else, and
        // any password, is a credential that would end up in logs and on disk.
        let has_password = url.password().is_some();
        let has_user = !url.username().is_empty();
        if has_password || (has_user && scheme != "ssh") {
            return Err(CloneUrlError::Credentials);
        }
        let host = match url.host() {
            None | Some(Host::Domain("")) => return Err(CloneUrlError::NoHost),
            Some(Host::Ipv4(v4)) => CloneHost::Ip(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => CloneHost::Ip(IpAddr::V6(v6)),
            Some(Host::Domain(name)) => host_name(name)?,
        };
        let port = url
            .port()
            .or_else(|| default_port(&scheme))
            .ok_or_else(|| CloneUrlError::Malformed(format!("no default port for '{scheme}'")))?;
        Ok(Self {
            url,
            scheme,
            host,
            port,
        })
    }

    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    pub fn host(&self) -> &CloneHost {
        &self.host
    }

    /// The explicit port, else the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL as git receives it when nothing needs pinning.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The URL with its host replaced by `ip`, for transports whose connection git cannot
    /// be told to pin otherwise (`git://`): git then connects to the address that was checked.
    pub fn with_host_ip(&self, ip: IpAddr) -> String {
        let mut url = self.url.clone();
        // Only fails for URLs that cannot have a host, and this one has one.
        if url.set_ip_host(ip).is_err() {
            return self.url.to_string();
        }
        url.to_string()
    }
}

/// Removes the zone id of an IPv6 literal host (`[fe80::1%25eth0]` → `[fe80::1]`): the URL
/// parser refuses zone ids, and the address must still be judged (a link-local address is
/// blocked, with or without a zone).
fn strip_zone_id(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.into();
    };
    let end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| i + start);
    let authority = &text[start..end];
    let (Some(open), Some(close)) = (authority.find('['), authority.find(']')) else {
        return text.into();
    };
    match authority
        .get(open..close)
        .and_then(|inside| inside.find('%'))
    {
        Some(zone) => {
            let (cut_from, cut_to) = (start + open + zone, start + close);
            format!("{}{}", &text[..cut_from], &text[cut_to..]).into()
        }
        None => text.into(),
    }
}

/// Non-special schemes (`ssh`, `git`) keep the host as written, so the rules a DNS name
/// must follow are checked here: the name later reaches ssh's argv and its options.
fn host_name(name: &str) -> Result<CloneHost, CloneUrlError> {
    // An address the URL parser left as text (non-special schemes do not normalise).
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(CloneHost::Ip(ip));
    }
    let valid = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        && !name.starts_with('-')
        && !name.starts_with('.');
    if !valid {
        return Err(CloneUrlError::Malformed(format!(
            "host '{}' is not a valid host name",
            echo(name)
        )));
    }
    Ok(CloneHost::Name(name.to_ascii_lowercase()))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        "ssh" => Some(22),
        "git" => Some(9418),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    fn schemes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// One line per input: the host and port it yields, or the refusal text.
    fn check(inputs: &[&str], allowed: &[&str]) -> String {
        let allowed = schemes(allowed);
        let mut out = String::new();
        for input in inputs {
            let shown: String = input.chars().take(60).collect();
            let result = match CloneUrl::parse(input, &allowed) {
                Ok(url) => format!(
                    "ok {} host={} port={}",
                    url.scheme(),
                    url.host(),
                    url.port()
                ),
                Err(err) => format!("422 {err}"),
            };
            let _ = writeln!(out, "{shown:?} -> {result}");
        }
        out
    }

    #[test]
    fn validation_table_default_schemes() {
        let long = format!("https://example.com/{}", "a".repeat(2100));
        insta::assert_snapshot!(check(
            &[
                "https://github.com/org/repo.git",
                "ssh://git@github.com/org/repo.git",
                "HTTPS://Example.COM/x",
                "http://example.com/x",
                "file:///etc",
                "git@github.com:org/repo.git",
                "--upload-pack=touch",
                "ext::sh",
                "https://user:pw@example.com/x",
                "https://user@example.com/x",
                "ssh://git:secret@example.com/x",
                "https://example.com:99999/x",
                "https://[::1/x",
                "https:///x",
                "ssh:///x",
                "ssh://-oProxyCommand=x/y",
                "ssh://-oproxycommand/y",
                "ssh://exa%6dple.com/y",
                "ssh://a;b/y",
                "https://exa mple.com/x",
                "https://example.com/x\n",
                "https://example.com/\u{7f}",
                "https://0x7f000001/",
                "https://2130706433/",
                "https://[::ffff:127.0.0.1]/x",
                "ssh://0x7f000001/x",
                "ssh://[fe80::1]/x",
                "https://[fe80::1%25eth0]/x",
                "ssh://git@[fe80::1%eth0]:22/x",
                "",
                &long,
            ],
            &["https", "ssh"],
        ));
    }

    #[test]
    fn git_scheme_when_configured() {
        insta::assert_snapshot!(check(
            &[
                "git://127.0.0.1:9418/repo.git",
                "git://localhost/repo",
                "git://[::1]:1234/r",
                "https://example.com/x"
            ],
            &["git"]
        ));
    }

    #[test]
    fn pinning_replaces_only_the_host() {
        let url = CloneUrl::parse("git://example.com:1234/org/repo.git", &schemes(&["git"]))
            .expect("valid");
        assert_eq!(
            url.with_host_ip("192.0.2.7".parse().expect("ip")),
            "git://192.0.2.7:1234/org/repo.git"
        );
        assert_eq!(
            url.with_host_ip("2001:db8::1".parse().expect("ip")),
            "git://[2001:db8::1]:1234/org/repo.git"
        );
    }
}
