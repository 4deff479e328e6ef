//! The `Host` rule and the Origin rule (issue 16 §3, security.md §5): `Host` parsing and its
//! rule never panic; a parsed host is normalised (lower case, no port, no trailing dot) and
//! parses back to itself; an origin's host agrees with the host of its normalised form.
#![no_main]
use clauster_core::config::host::{HostName, origin_host, parse_host, parse_host_header};
use clauster_core::config::normalize_origin;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(host) = parse_host_header(&text) {
        let shown = host.to_string();
        assert_eq!(parse_host(&shown), Some(host.clone()), "{text:?} → {shown:?}");
        if let HostName::Name(name) = &host {
            assert!(!name.is_empty() && !name.ends_with('.'), "{text:?}");
            assert!(!name.contains(':'), "{text:?}");
            assert_eq!(name.to_ascii_lowercase(), *name, "{text:?}");
        }
    }
    let normalised = normalize_origin(&text);
    assert_eq!(
        origin_host(&text).is_some_and(|h| origin_host(&normalised) == Some(h)),
        origin_host(&text).is_some(),
        "{text:?} normalised to {normalised:?} names another host"
    );
});
