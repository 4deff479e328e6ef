//! Per-value formats (root path, versions, hashes, PHC strings, origins, header names) and
//! the rules that span several keys: the fail-closed network rule (config.md §4), the pty
//! timeout order and TLS (config.md §3.13, §6).

use std::path::{Component, Path};

use super::error::{Notice, Problem};
use super::schema::{Config, TlsProvision, TlsSettings};

/// `root_path` normalised: trailing `/` removed, leading `/` added, `/` alone → `""`; then it
/// must match `^(/[A-Za-z0-9._~-]+)*$`. `.` and `..` segments are refused too: browsers
/// would collapse them and every URL built from the prefix would miss.
pub(crate) fn normalize_root_path(text: &str) -> Option<String> {
    let trimmed = text.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Some(String::new());
    }
    let path = if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    };
    let valid = path[1..].split('/').all(|segment| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
    });
    valid.then_some(path)
}

/// `2`, `2.1`, `2.1.145`: digits separated by single dots.
pub(crate) fn is_dotted_version(text: &str) -> bool {
    !text.is_empty()
        && text
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// 64 lowercase hex characters: a SHA-256 as `clauster hash-token` prints it.
pub(crate) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The shape of an argon2 PHC string: `$argon2id$v=19$m=<n>,t=<n>,p=<n>$<salt>$<hash>`
/// (the version segment is optional, `argon2i` is accepted as security.md §3 says, extra
/// parameters such as `keyid` are allowed). Salt and hash are PHC base64 without padding.
pub(crate) fn is_argon2_phc(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('$') else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('$').collect();
    if parts
        .first()
        .is_none_or(|id| !matches!(*id, "argon2id" | "argon2i"))
    {
        return false;
    }
    parts.remove(0);
    if parts.first().is_some_and(|v| v.starts_with("v=")) {
        let version = parts.remove(0);
        if !version[2..].bytes().all(|b| b.is_ascii_digit()) || version.len() == 2 {
            return false;
        }
    }
    let [params, salt, hash] = parts.as_slice() else {
        return false;
    };
    let mut required = ["m", "t", "p"].map(|name| (name, false));
    for pair in params.split(',') {
        let Some((name, value)) = pair.split_once('=') else {
            return false;
        };
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok || value.is_empty() {
            return false;
        }
        if let Some(slot) = required.iter_mut().find(|(n, _)| *n == name) {
            if slot.1 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            slot.1 = true;
        }
    }
    let is_b64 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    };
    required.iter().all(|(_, seen)| *seen) && is_b64(salt) && is_b64(hash)
}

/// An origin normalised for comparison (security.md §5): lower-case scheme and host, no
/// trailing `/`, default ports (80/443) removed, IPv6 in brackets. Text that is not
/// `scheme://host[:port]` is compared as its lower-cased raw form (and will not match).
pub fn normalize_origin(text: &str) -> String {
    let raw = text.trim();
    let fallback = || raw.to_ascii_lowercase();
    let Some((scheme, rest)) = raw.split_once("://") else {
        return fallback();
    };
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.trim_end_matches('/');
    // Whitespace or control characters make it unparseable (found by the `origin` fuzz
    // target: a host ending in a newline normalised differently on a second pass).
    if scheme.is_empty()
        || rest.is_empty()
        || rest.contains(['/', '?', '#', '@'])
        || rest.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return fallback();
    }
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let Some((addr, after)) = inner.split_once(']') else {
            return fallback();
        };
        match after.strip_prefix(':') {
            Some(port) => (format!("[{}]", addr.to_ascii_lowercase()), Some(port)),
            None if after.is_empty() => (format!("[{}]", addr.to_ascii_lowercase()), None),
            None => return fallback(),
        }
    } else if rest.parse::<std::net::Ipv6Addr>().is_ok() {
        (format!("[{}]", rest.to_ascii_lowercase()), None)
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host.to_ascii_lowercase(), Some(port)),
            None => (rest.to_ascii_lowercase(), None),
        }
    };
    match port {
        None => format!("{scheme}://{host}"),
        Some(port) if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) => fallback(),
        Some(port) => {
            let default = matches!((scheme.as_str(), port), ("http", "80") | ("https", "443"));
            if default {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}:{port}")
            }
        }
    }
}

/// An HTTP header name: one or more RFC 9110 token characters.
pub(crate) fn is_header_name(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// `/`, `//`, `/./..`: a path that names the filesystem root without touching the disk.
pub(crate) fn is_filesystem_root(path: &Path) -> bool {
    let mut saw_root = false;
    for component in path.components() {
        match component {
            Component::RootDir => saw_root = true,
            Component::CurDir | Component::ParentDir => {}
            Component::Prefix(_) | Component::Normal(_) => return false,
        }
    }
    saw_root
}

/// The exact refusal of config.md §4.
pub(crate) fn network_refusal(host: &str) -> String {
    format!(
        "refusing non-loopback host='{host}' without enforced auth. Set auth.enabled: true \
         together with auth.password_required (+ auth.password_hash), \
         auth.reverse_proxy.enabled, or auth.api_token_hash — or, to opt out on a trusted \
         LAN, auth.allow_unauthenticated_network."
    )
}

fn problem(key: &str, message: String) -> Problem {
    Problem {
        key: Some(key.to_owned()),
        message,
    }
}

/// The rules over several keys, run once every key read cleanly.
pub(crate) fn cross_checks(config: &Config) -> (Vec<Problem>, Vec<Notice>) {
    let mut problems = Vec::new();
    let mut notices = Vec::new();
    let claude = &config.claude;
    if claude.pty_url_timeout_seconds >= claude.startup_grace_seconds {
        problems.push(problem(
            "claude.pty_url_timeout_seconds",
            format!(
                "claude.pty_url_timeout_seconds ({}) must be less than \
                 claude.startup_grace_seconds ({})",
                claude.pty_url_timeout_seconds, claude.startup_grace_seconds
            ),
        ));
    }

    let auth = &config.auth;
    if auth.password_required && auth.password_hash.is_none() {
        problems.push(problem(
            "auth.password_hash",
            "auth.password_required is true but auth.password_hash is not set; generate one \
             with `clauster hash-password` and set auth.password_hash (or \
             CLAUSTER_AUTH_PASSWORD_HASH_FILE)"
                .to_owned(),
        ));
    }
    let proxy = &auth.reverse_proxy;
    if proxy.enabled && proxy.trusted_ips.is_empty() {
        problems.push(problem(
            "auth.reverse_proxy.trusted_ips",
            "auth.reverse_proxy.enabled is true but auth.reverse_proxy.trusted_ips is empty; \
             list the proxy's address (an IP or CIDR)"
                .to_owned(),
        ));
    }
    if proxy.enabled && proxy.require_hmac && proxy.shared_secret.is_none() {
        problems.push(problem(
            "auth.reverse_proxy.shared_secret",
            "auth.reverse_proxy.require_hmac is true but auth.reverse_proxy.shared_secret is \
             not set; set it (or CLAUSTER_AUTH_REVERSE_PROXY_SHARED_SECRET_FILE), or set \
             require_hmac: false to trust the user header from trusted_ips alone"
                .to_owned(),
        ));
    }
    if !config.is_loopback_host() && !config.enforced_auth() {
        if auth.allow_unauthenticated_network {
            notices.extend(
                config
                    .unauthenticated_network_warning()
                    .map(Notice::warning),
            );
        } else {
            problems.push(problem("host", network_refusal(&config.host)));
        }
    }
    notices.extend(config.browser_login_warning().map(Notice::warning));
    if let Some(tls) = &config.tls {
        problems.extend(tls_problems(tls));
    }
    (problems, notices)
}

/// The TLS rules that need no file access (config.md §3.13).
fn tls_problems(tls: &TlsSettings) -> Vec<Problem> {
    let mut problems = Vec::new();
    match tls.provision {
        TlsProvision::Off => {
            let missing: Vec<&str> = [
                ("tls.cert_file", tls.cert_file.is_none()),
                ("tls.key_file", tls.key_file.is_none()),
            ]
            .into_iter()
            .filter_map(|(key, missing)| missing.then_some(key))
            .collect();
            if !missing.is_empty() {
                problems.push(problem(
                    "tls",
                    format!(
                        "{} required when tls.provision is off; set tls.cert_file and \
                         tls.key_file (PEM files), set tls.provision: self-signed, or \
                         remove the tls section",
                        if missing.len() == 2 {
                            "tls.cert_file and tls.key_file are".to_owned()
                        } else {
                            format!("{} is", missing[0])
                        }
                    ),
                ));
            }
        }
        TlsProvision::SelfSigned => {
            if tls.cert_file.is_some() || tls.key_file.is_some() {
                problems.push(problem(
                    "tls",
                    "tls.cert_file and tls.key_file must not be set when tls.provision is \
                     self-signed (the certificate is generated under state_dir/tls); \
                     remove them or set tls.provision: off"
                        .to_owned(),
                ));
            }
            if tls.hostnames.is_empty() {
                problems.push(problem(
                    "tls.hostnames",
                    "tls.hostnames must list at least one hostname when tls.provision is \
                     self-signed (the first becomes the certificate's common name)"
                        .to_owned(),
                ));
            } else if tls.hostnames.iter().any(String::is_empty) {
                problems.push(problem(
                    "tls.hostnames",
                    "tls.hostnames must not contain blank entries".to_owned(),
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod origin_fuzz_regressions {
    use super::normalize_origin;

    /// The `origin` fuzz target's crash (FUZZING.md): normalising twice must change nothing.
    #[test]
    fn a_host_with_a_newline_normalises_once_and_for_all() {
        let input = "\u{f8}=\n\0\u{ba}://\u{1}\0\0\n//";
        let once = normalize_origin(input);
        assert_eq!(normalize_origin(&once), once);
        assert_eq!(
            normalize_origin("https://exa mple.com"),
            "https://exa mple.com"
        );
        assert_eq!(
            normalize_origin("HTTPS://Example.COM:443/"),
            "https://example.com"
        );
    }
}
