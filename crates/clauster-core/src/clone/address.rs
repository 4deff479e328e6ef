//! Step 6 of data.md §3.3: which resolved addresses a clone may connect to. The rules form
//! the URL policy the engine is handed (`ServeOptions::clone_url_policy`); configuration
//! only unlocks the private class, never the always-blocked one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::{CloneSettings, IpNet};
use crate::names::echo;

/// What an address is, for the SSRF guard; ordered from the least to the most restricted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AddressClass {
    /// Routable on the internet: allowed.
    Public,
    /// RFC 1918, ULA, CGNAT, benchmarking, IETF protocol assignments: allowed only with
    /// `clone.allow_private_hosts` or a matching `clone.allowed_private_cidrs` entry.
    Private,
    /// Loopback, link-local, multicast, unspecified, broadcast, reserved, IPv6 documentation
    /// and discard: never allowed by configuration.
    AlwaysBlocked,
}

/// A refused destination: the 403 of data.md §3.3 step 6.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "host '{}' resolves to blocked address {ip} (private/loopback/link-local). Set clone.allow_private_hosts to permit.",
    echo(.host)
)]
pub struct BlockedAddress {
    pub host: String,
    pub ip: IpAddr,
}

/// Classifies `ip` after normalising it: IPv4-mapped (`::ffff:a.b.c.d`), SIIT
/// IPv4-translated (`::ffff:0:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`)
/// and 6to4 (`2002::/16`) addresses are judged by the IPv4 address they carry, so no IPv6
/// spelling reaches an IPv4 range that is refused. Addresses that may carry an IPv4 address
/// in more than one place — local-use NAT64 `64:ff9b:1::/48` (at every RFC 6052 prefix
/// length that fits it, and private at least: its translator is on the local network) and
/// Teredo `2001::/32` (server and client) — get the most restricted class of them all.
pub fn classify(ip: IpAddr) -> AddressClass {
    match normalise(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            let floor = if in_v6(v6, LOCAL_USE_NAT64, 48) {
                AddressClass::Private
            } else {
                AddressClass::Public
            };
            carried_v4(v6)
                .into_iter()
                .map(classify_v4)
                .fold(classify_v6(v6).max(floor), AddressClass::max)
        }
    }
}

/// `64:ff9b:1::/48`, the local-use NAT64 prefix (RFC 8215).
const LOCAL_USE_NAT64: u128 = 0x0064_ff9b_0001 << 80;
/// `2001::/32`, Teredo (RFC 4380).
const TEREDO: u128 = 0x2001_0000 << 96;

/// `len` bits of `bits` starting at bit `from` (bit 0 is the most significant).
fn bits_at(bits: u128, from: u32, len: u32) -> u32 {
    let shifted = bits >> (128 - from - len);
    u32::try_from(shifted & ((1_u128 << len) - 1)).expect("at most 32 bits are taken")
}

/// The IPv4 addresses an IPv6 address may carry where the place is not unique.
fn carried_v4(v6: Ipv6Addr) -> Vec<Ipv4Addr> {
    let bits = u128::from(v6);
    if in_v6(v6, LOCAL_USE_NAT64, 48) {
        // RFC 6052 §2.2 layouts for /48, /56, /64 and /96. A layout applies only when its
        // `u` octet (bits 64–71) and its suffix (the bits after the IPv4 address) are zero,
        // as that RFC requires; the operator's prefix fills the bits in between.
        let zero_from = |from: u32| from >= 128 || bits & ((1_u128 << (128 - from)) - 1) == 0;
        let u_zero = bits_at(bits, 64, 8) == 0;
        let layouts = [
            (
                u_zero && zero_from(88),
                (bits_at(bits, 48, 16) << 16) | bits_at(bits, 72, 16),
            ),
            (
                u_zero && zero_from(96),
                (bits_at(bits, 56, 8) << 24) | bits_at(bits, 72, 24),
            ),
            (u_zero && zero_from(104), bits_at(bits, 72, 32)),
            (true, bits_at(bits, 96, 32)),
        ];
        return layouts
            .into_iter()
            .filter(|(applies, _)| *applies)
            .map(|(_, v4)| Ipv4Addr::from(v4))
            .collect();
    }
    if in_v6(v6, TEREDO, 32) {
        // The Teredo server, then the client (stored inverted, RFC 4380 §4).
        return vec![
            Ipv4Addr::from(bits_at(bits, 32, 32)),
            Ipv4Addr::from(!bits_at(bits, 96, 32)),
        ];
    }
    Vec::new()
}

fn normalise(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let bits = u128::from(v6);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    // SIIT IPv4-translated `::ffff:0:a.b.c.d` (RFC 2765).
    if bits >> 32 == 0xffff_0000 {
        return IpAddr::V4(low32);
    }
    // IPv4-compatible `::a.b.c.d` (but not `::` and `::1`, which are IPv6's own).
    if bits >> 32 == 0 && bits > 1 {
        return IpAddr::V4(low32);
    }
    // NAT64 well-known prefix `64:ff9b::/96`.
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return IpAddr::V4(low32);
    }
    // 6to4 `2002:AABB:CCDD::/48` carries `AA.BB.CC.DD`.
    if bits >> 112 == 0x2002 {
        return IpAddr::V4(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    ip
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn in_v6(ip: Ipv6Addr, net: u128, prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == net & mask
}

/// Always blocked when `contains` finds the address in one of the `always` networks, private
/// in one of the `private` ones, public otherwise.
fn class_in<N: Copy>(
    always: &[(N, u32)],
    private: &[(N, u32)],
    contains: impl Fn(N, u32) -> bool,
) -> AddressClass {
    let in_any = |nets: &[(N, u32)]| nets.iter().any(|&(net, prefix)| contains(net, prefix));
    if in_any(always) {
        AddressClass::AlwaysBlocked
    } else if in_any(private) {
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    const ALWAYS: [([u8; 4], u32); 5] = [
        ([0, 0, 0, 0], 8),      // "this network", including the unspecified address
        ([127, 0, 0, 0], 8),    // loopback
        ([169, 254, 0, 0], 16), // link-local (and the cloud metadata address)
        ([224, 0, 0, 0], 4),    // multicast
        ([240, 0, 0, 0], 4),    // reserved, including the broadcast address
    ];
    const PRIVATE: [([u8; 4], u32); 6] = [
        ([10, 0, 0, 0], 8),
        ([172, 16, 0, 0], 12),
        ([192, 168, 0, 0], 16),
        ([100, 64, 0, 0], 10), // CGNAT
        ([198, 18, 0, 0], 15), // benchmarking
        ([192, 0, 0, 0], 24),  // IETF protocol assignments
    ];
    class_in(&ALWAYS, &PRIVATE, |net, prefix| in_v4(ip, net, prefix))
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    const ALWAYS: [(u128, u32); 7] = [
        (0, 128),                          // unspecified
        (1, 128),                          // loopback
        (0xfe80 << 112, 10),               // link-local
        (0xff00 << 112, 8),                // multicast
        (0x2001_0db8 << 96, 32),           // documentation
        (0x3fff << 112, 20),               // documentation (RFC 9637)
        (0x0100_0000_0000_0000 << 64, 64), // discard
    ];
    const PRIVATE: [(u128, u32); 2] = [
        (0xfc00 << 112, 7),  // unique local
        (0xfec0 << 112, 10), // deprecated site-local: private by its old meaning
    ];
    class_in(&ALWAYS, &PRIVATE, |net, prefix| in_v6(ip, net, prefix))
}

/// The address rules a clone runs under. [`UrlPolicy::real`] is what every server uses; the
/// only variation is a list of networks admitted whatever their class, which exists so the
/// end-to-end tests can clone from a `git daemon` on 127.0.0.1 (data.md §3.6). It is built in
/// code only: neither `clauster.yml` nor the environment can reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    admitted: Vec<IpNet>,
}

impl UrlPolicy {
    /// The policy of data.md §3.3 step 6: loopback and the other always-blocked classes are
    /// refused whatever the config says.
    pub fn real() -> Self {
        Self::default()
    }

    /// The real policy plus `net` admitted (tests only).
    #[must_use]
    pub fn admitting(mut self, net: IpNet) -> Self {
        self.admitted.push(net);
        self
    }

    /// Whether a clone of `host` may connect to `ip` under `settings`.
    pub fn check(
        &self,
        host: &str,
        ip: IpAddr,
        settings: &CloneSettings,
    ) -> Result<(), BlockedAddress> {
        let ip = normalise(ip);
        if self.admitted.iter().any(|net| net.contains(ip)) {
            return Ok(());
        }
        let allowed = match classify(ip) {
            AddressClass::Public => true,
            AddressClass::AlwaysBlocked => false,
            AddressClass::Private => {
                settings.allow_private_hosts
                    || settings
                        .allowed_private_cidrs
                        .iter()
                        .any(|n| n.contains(ip))
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(BlockedAddress {
                host: host.to_owned(),
                ip,
            })
        }
    }

    /// Checks every address `host` resolved to; the first refused one is the error.
    pub fn check_all(
        &self,
        host: &str,
        addresses: &[IpAddr],
        settings: &CloneSettings,
    ) -> Result<(), BlockedAddress> {
        addresses
            .iter()
            .try_for_each(|ip| self.check(host, *ip, settings))
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    fn settings(allow_private: bool, cidrs: &[&str]) -> CloneSettings {
        CloneSettings {
            enabled: true,
            allowed_schemes: vec!["https".into(), "ssh".into()],
            allow_private_hosts: allow_private,
            allowed_private_cidrs: cidrs
                .iter()
                .map(|c| IpNet::parse(c).expect("cidr"))
                .collect(),
            timeout_seconds: 300,
            max_mb: 2048,
        }
    }

    const ADDRESSES: [&str; 51] = [
        "8.8.8.8",
        "140.82.112.3",
        "127.0.0.1",
        "127.255.255.254",
        "0.0.0.0",
        "0.1.2.3",
        "169.254.169.254",
        "169.254.0.1",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "10.0.0.5",
        "172.16.0.1",
        "172.31.255.255",
        "172.32.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "100.128.0.1",
        "198.18.0.1",
        "198.20.0.1",
        "192.0.0.8",
        "192.0.2.1",
        "::",
        "::1",
        "fe80::1",
        "febf::1",
        "ff02::1",
        "2001:db8::1",
        "3fff::1",
        "100::1",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",
        "2606:4700::1111",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::1",
        // Issue 16 §8: SIIT, local-use NAT64 at each RFC 6052 layout, Teredo.
        "::ffff:0:7f00:1",
        "::ffff:0:a00:5",
        "::ffff:0:808:808",
        "64:ff9b:1::7f00:1",
        "64:ff9b:1:7f00:1::",
        "64:ff9b:1:a9:fe:a9fe::",
        "64:ff9b:1:0:7f:0:100::",
        "64:ff9b:1::808:808",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
        "2001:0:4136:e378:8000:63bf:f5ff:fffa",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    ];

    #[test]
    fn classification_table() {
        let mut out = String::new();
        for text in ADDRESSES {
            let ip: IpAddr = text.parse().expect("address");
            let _ = writeln!(out, "{text:<20} {:?}", classify(ip));
        }
        insta::assert_snapshot!(out);
    }

    /// Each address under the real policy with no opt-in, with `allow_private_hosts`, and
    /// with a CIDR list that covers everything.
    #[test]
    fn policy_table() {
        let none = settings(false, &[]);
        let private = settings(true, &[]);
        let cidrs = settings(false, &["0.0.0.0/0", "::/0"]);
        let policy = UrlPolicy::real();
        let verdict = |s: &CloneSettings, ip| {
            if policy.check("h", ip, s).is_ok() {
                "allow"
            } else {
                "block"
            }
        };
        let mut out = String::new();
        for text in ADDRESSES {
            let ip: IpAddr = text.parse().expect("address");
            let _ = writeln!(
                out,
                "{text:<20} default={:<5} allow_private_hosts={:<5} cidr_everything={}",
                verdict(&none, ip),
                verdict(&private, ip),
                verdict(&cidrs, ip),
            );
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn admitted_network_is_the_only_way_past_loopback() {
        let settings = settings(true, &["127.0.0.0/8"]);
        let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
        let err = UrlPolicy::real()
            .check("localhost", loopback, &settings)
            .expect_err("loopback refused");
        assert_eq!(
            err.to_string(),
            "host 'localhost' resolves to blocked address 127.0.0.1 (private/loopback/link-local). Set clone.allow_private_hosts to permit."
        );
        let test_policy = UrlPolicy::real().admitting(IpNet::parse("127.0.0.1").expect("net"));
        assert!(test_policy.check("localhost", loopback, &settings).is_ok());
        // The mapped spelling of the admitted address is the same address.
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        assert!(test_policy.check("h", mapped, &settings).is_ok());
        // Anything else on loopback is still refused.
        let other: IpAddr = "127.0.0.2".parse().expect("ip");
        assert!(test_policy.check("h", other, &settings).is_err());
    }

    #[test]
    fn one_bad_address_among_good_ones_refuses_the_host() {
        let addresses: Vec<IpAddr> = ["140.82.112.3", "10.1.1.1", "8.8.8.8"]
            .iter()
            .map(|a| a.parse().expect("ip"))
            .collect();
        let err = UrlPolicy::real()
            .check_all("mixed.example", &addresses, &settings(false, &[]))
            .expect_err("the private one refuses it");
        assert_eq!(err.ip, "10.1.1.1".parse::<IpAddr>().expect("ip"));
        assert!(
            UrlPolicy::real()
                .check_all(
                    "mixed.example",
                    &addresses,
                    &settings(false, &["10.1.0.0/16"])
                )
                .is_ok()
        );
    }
}
