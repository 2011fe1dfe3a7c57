//! The network a buyer's request came from, as the caps against bots
//! count it: an IPv4 address's /24, an IPv6 address's /64 (what one
//! household, office or cloud host is usually given), an IPv4 address
//! mapped into IPv6 as the IPv4 one.
//!
//! The state machine never sees an address: the edge that received the
//! call reduces it to its network ([`Network::of`]) and the hold carries
//! that (see [`HoldLimits::network`](crate::HoldLimits::network)).

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// An IPv4 /24 or an IPv6 /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Network {
    /// The first three octets of an IPv4 address.
    V4([u8; 3]),
    /// The first eight bytes of an IPv6 address.
    V6([u8; 8]),
}

impl Network {
    /// The network `ip` is in. An IPv6 address that carries an IPv4 one
    /// (mapped `::ffff:a.b.c.d`, 6to4 `2002:AABB:CCDD::/48`, Teredo
    /// `2001::/32`, NAT64 `64:ff9b::/96`) is that IPv4 address's network:
    /// one IPv4 address must not become 65,536 /64s through a 6to4
    /// relay, nor every IPv4 client one /64 through a NAT64 gateway.
    pub fn of(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                Network::V4([a, b, c])
            }
            IpAddr::V6(v6) => {
                let mut prefix = [0; 8];
                prefix.copy_from_slice(&v6.octets()[..8]);
                Network::V6(prefix)
            }
        }
    }
}

/// The IPv4 address an IPv6 one carries, if it is of a kind that does
/// (IPv4-mapped, 6to4, Teredo, NAT64's well-known prefix): such a client
/// counts as that IPv4 address wherever clients are counted.
pub fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let o = v6.octets();
    let v4 = |a: &[u8]| std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]);
    match (o[0], o[1], o[2], o[3]) {
        // 6to4: the IPv4 address follows the prefix.
        (0x20, 0x02, _, _) => Some(v4(&o[2..6])),
        // Teredo: the client's address, inverted, ends it.
        (0x20, 0x01, 0x00, 0x00) => {
            let inverted: Vec<u8> = o[12..].iter().map(|b| !b).collect();
            Some(v4(&inverted))
        }
        // NAT64's well-known prefix: the IPv4 address ends it.
        (0x00, 0x64, 0xff, 0x9b) if o[4..12].iter().all(|b| *b == 0) => Some(v4(&o[12..])),
        _ => None,
    }
}

impl fmt::Display for Network {
    /// `203.0.113.0/24`, `2001:db8:1:2::/64`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Network::V4([a, b, c]) => write!(f, "{a}.{b}.{c}.0/24"),
            Network::V6(prefix) => {
                let mut octets = [0; 16];
                octets[..8].copy_from_slice(prefix);
                write!(f, "{}/64", std::net::Ipv6Addr::from(octets))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(ip: &str) -> Network {
        Network::of(ip.parse().expect("an address"))
    }

    #[test]
    fn a_network_is_a_v4_slash_24_or_a_v6_slash_64() {
        assert_eq!(net("203.0.113.7"), net("203.0.113.250"));
        assert_ne!(net("203.0.113.7"), net("203.0.114.7"));
        assert_eq!(net("203.0.113.7").to_string(), "203.0.113.0/24");
        assert_eq!(net("2001:db8:1:2::1"), net("2001:db8:1:2:ffff::9"));
        assert_ne!(net("2001:db8:1:2::1"), net("2001:db8:1:3::1"));
        assert_eq!(net("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
        // An IPv4 client seen through an IPv6 socket is the same client,
        // and so is one behind a 6to4 relay, Teredo or NAT64.
        assert_eq!(net("::ffff:203.0.113.9"), net("203.0.113.1"));
        assert_eq!(net("2002:cb00:7109:1::1"), net("203.0.113.9"));
        assert_eq!(net("2002:cb00:7109:ffff::1"), net("203.0.113.9"));
        assert_eq!(
            net("2001:0:4136:e378:8000:63bf:34ff:8ef6"),
            net("203.0.113.9")
        );
        assert_eq!(net("64:ff9b::cb00:7109"), net("203.0.113.9"));
        assert_ne!(net("64:ff9b::c633:6401"), net("203.0.113.9"));
    }
}
