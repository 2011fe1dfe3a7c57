//! The caps on open event streams, so that nobody can take them all.
//!
//! Two pools of `max_event_streams` each: public streams (live seat maps,
//! the cluster page) and a buyer's own (their place in a waiting room or
//! on a waiting list), opened only once the node accepted the caller's
//! token. Floods of anonymous streams therefore never take a signed-in
//! buyer's view of the queue. In each pool one client address (an IPv6
//! /64) holds at most `max_event_streams_per_client`; across both, one
//! network (an IPv4 /24, an IPv6 /48: what one subscriber or hosting
//! customer is routinely given) holds at most
//! `max_event_streams_per_network`, so filling a pool takes addresses in
//! that many networks, not a single rented block.
//!
//! Invariant: a [`Place`] is counted in its pool and its network from the
//! moment it is granted until it is dropped.

use std::net::IpAddr;

use boxoffice_config::clients::{Admission, OpenCaps, Refusal, address_key};

/// Which pool a stream draws on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Anyone's: seat maps, the cluster page.
    Public,
    /// A signed-in buyer's own standing, once their token was accepted.
    SignedIn,
}

/// The open streams, per pool, address and network.
pub struct Streams {
    public: OpenCaps,
    signed_in: OpenCaps,
    networks: OpenCaps,
}

/// One open stream's place; dropping it gives the place back.
pub struct Place {
    _address: Admission,
    _network: Admission,
}

/// Why a stream was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Full {
    /// The client address or the pool is at its cap.
    #[error("{0}")]
    Address(Refusal),
    /// The client's network holds its share.
    #[error("one network ({network}) may keep at most {cap} open at once")]
    Network {
        /// The network, as counted.
        network: NetworkKey,
        /// Its cap.
        cap: usize,
    },
}

/// The network a stream counts under: an IPv4 /24 or an IPv6 /48.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkKey {
    ip: IpAddr,
    bits: u8,
}

impl NetworkKey {
    /// The network of `ip` (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self {
                ip: IpAddr::V4((u32::from(v4) & 0xffff_ff00).into()),
                bits: 24,
            },
            IpAddr::V6(v6) => Self {
                ip: IpAddr::V6((u128::from(v6) & !((1u128 << 80) - 1)).into()),
                bits: 48,
            },
        }
    }
}

impl std::fmt::Display for NetworkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ip, self.bits)
    }
}

impl Streams {
    /// At most `total` streams in each pool, `per_client` of them to one
    /// address, `per_network` to one network across both.
    pub fn new(total: usize, per_client: usize, per_network: usize) -> Self {
        Self {
            public: OpenCaps::new(total, per_client),
            signed_in: OpenCaps::new(total, per_client),
            networks: OpenCaps::new(total.saturating_mul(2), per_network),
        }
    }

    /// A place for one more stream of `kind` from `client`.
    pub fn admit(&self, client: IpAddr, kind: Kind) -> Result<Place, Full> {
        let pool = match kind {
            Kind::Public => &self.public,
            Kind::SignedIn => &self.signed_in,
        };
        let network = NetworkKey::of(client);
        let in_network =
            self.networks
                .admit(&network.to_string())
                .map_err(|refusal| match refusal {
                    Refusal::Client(cap) => Full::Network { network, cap },
                    total => Full::Address(total),
                })?;
        let address = pool.admit(&address_key(client)).map_err(Full::Address)?;
        Ok(Place {
            _address: address,
            _network: in_network,
        })
    }

    /// Streams open now, of both kinds.
    pub fn open(&self) -> usize {
        self.public.open() + self.signed_in.open()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_are_ipv4_24s_and_ipv6_48s() {
        let key = |s: &str| NetworkKey::of(ip(s)).to_string();
        assert_eq!(key("192.0.2.7"), "192.0.2.0/24");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.0/24");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1::/48");
        assert_eq!(key("2001:db8:1:ffff::9"), key("2001:db8:1:2::1"));
        assert_ne!(key("2001:db8:2::1"), key("2001:db8:1::1"));
    }

    #[test]
    fn one_network_cannot_fill_a_pool_and_signed_in_buyers_keep_theirs() {
        let streams = Streams::new(8, 2, 4);
        let mut held = Vec::new();
        // Two addresses of one /24 take the network's four.
        for last in [1, 1, 2, 2] {
            held.push(
                streams
                    .admit(ip(&format!("198.51.100.{last}")), Kind::Public)
                    .unwrap(),
            );
        }
        // A third address of the same /24 is refused, for the network.
        let refused = streams.admit(ip("198.51.100.3"), Kind::Public).err();
        assert!(
            matches!(refused, Some(Full::Network { cap: 4, .. })),
            "{refused:?}"
        );
        // An address at its own share is refused for itself.
        assert_eq!(
            streams.admit(ip("198.51.100.1"), Kind::SignedIn).err(),
            Some(Full::Network {
                network: NetworkKey::of(ip("198.51.100.1")),
                cap: 4
            })
        );
        // Other networks fill the public pool...
        for last in 1..=4 {
            held.push(
                streams
                    .admit(ip(&format!("203.0.{last}.1")), Kind::Public)
                    .unwrap(),
            );
        }
        assert_eq!(
            streams.admit(ip("192.0.2.1"), Kind::Public).err(),
            Some(Full::Address(Refusal::Total(8)))
        );
        // ... but not the signed-in buyers'.
        let mine = streams.admit(ip("192.0.2.1"), Kind::SignedIn).unwrap();
        assert_eq!(streams.open(), 9);
        // Places come back when dropped.
        drop(held.pop());
        drop(mine);
        assert_eq!(streams.open(), 7);
        assert!(streams.admit(ip("198.51.100.3"), Kind::Public).is_err());
        drop(held.drain(..2));
        assert!(streams.admit(ip("198.51.100.3"), Kind::Public).is_ok());
    }
}
