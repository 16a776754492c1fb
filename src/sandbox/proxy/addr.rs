//! The addresses the registry proxy never connects to, whatever a name resolves to:
//! anything that is not a public unicast address. A registry on the allow-list whose
//! name an attacker controls (or rebinds) must not become a way into the host, its
//! network or the cloud's metadata service. Only an operator's pin gets past this.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why the proxy will not connect to `ip`, or None if it is a public address.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    // An IPv4-mapped IPv6 address (::ffff:10.0.0.1) reaches the IPv4 address.
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4_refusal(v4),
        IpAddr::V6(v6) => v6_refusal(v6),
    }
}

fn v4_refusal(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let kind = if ip.is_unspecified() || a == 0 {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        // 169.254.0.0/16, where clouds serve instance metadata and credentials.
        "link-local"
    } else if a == 100 && (b & 0xc0) == 64 {
        "shared (carrier-grade NAT)"
    } else if ip.is_multicast() {
        "multicast"
    } else if ip.is_broadcast() || a >= 240 {
        "reserved"
    } else if ip.is_documentation() {
        "documentation"
    } else if a == 198 && (b & 0xfe) == 18 {
        "benchmarking"
    } else if a == 192 && b == 0 && c == 0 {
        "IETF protocol"
    } else {
        return None;
    };
    Some(kind)
}

fn v6_refusal(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    let kind = if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_multicast() {
        "multicast"
    } else if ip.is_unique_local() {
        "unique local (private)"
    } else if ip.is_unicast_link_local() || segments[0] & 0xffc0 == 0xfec0 {
        "link-local"
    } else if segments[0] == 0x2001 && segments[1] == 0xdb8 {
        "documentation"
    } else if segments[..6] == [0; 6] {
        // ::a.b.c.d, the deprecated IPv4-compatible form.
        "IPv4-compatible"
    } else if let Some(v4) = embedded_v4(ip) {
        // NAT64 and 6to4 addresses lead to the IPv4 address inside them.
        return v4_refusal(v4);
    } else if segments[0] == 0x2001 && segments[1] == 0 {
        // Teredo hides its IPv4 endpoints; no registry needs it.
        "Teredo"
    } else {
        return None;
    };
    Some(kind)
}

/// The IPv4 address a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address leads to.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    if ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else if ip.segments()[0] == 0x2002 {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_that_are_not_public_are_refused() {
        let refused = [
            ("169.254.169.254", "link-local"),
            ("169.254.0.1", "link-local"),
            ("10.0.0.1", "private"),
            ("10.255.255.255", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.254", "private"),
            ("192.168.1.1", "private"),
            ("127.0.0.1", "loopback"),
            ("127.1.2.3", "loopback"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("100.127.255.254", "shared (carrier-grade NAT)"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("192.0.2.2", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("fc00::1", "unique local (private)"),
            ("fd12:3456::1", "unique local (private)"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.0.0.1", "private"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::a00:1", "private"),
            ("2002:a9fe:a9fe::1", "link-local"),
            ("2001:db8::1", "documentation"),
            ("2001:0:4136:e378::1", "Teredo"),
        ];
        for (ip, kind) in refused {
            assert_eq!(refusal(ip.parse().unwrap()), Some(kind), "{ip}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "151.101.0.223",
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "169.255.0.1",
            "2a04:4e42::223",
            "::ffff:151.101.0.223",
            "64:ff9b::101:101",
        ] {
            assert_eq!(refusal(ip.parse().unwrap()), None, "{ip}");
        }
    }
}
