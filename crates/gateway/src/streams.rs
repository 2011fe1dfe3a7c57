//! The caps on open event streams, so that nobody can take them all.
//!
//! Two pools of `max_event_streams` each: public streams (live seat maps,
//! the cluster page) and a buyer's own (their place in a waiting room or
//! on a waiting list, the door's counts), opened only once the node
//! accepted the caller's token. Floods of anonymous streams therefore
//! never take a signed-in buyer's view of the queue. In each pool one
//! client address (an IPv6 /64) holds at most
//! `max_event_streams_per_client`, and one network (an IPv4 /24, an IPv6
//! /48: what one subscriber or hosting customer is routinely given) at
//! most `max_event_streams_per_network`, so filling a pool takes
//! addresses in that many networks, not a single rented block; in the
//! signed-in pool one account holds at most [`PER_ACCOUNT`], so filling
//! it takes accounts too.
//!
//! Invariant: a [`Place`] is counted in its pool, its network and its
//! account from the moment it is granted until it is dropped.

use std::net::IpAddr;

use base64::Engine as _;
use boxoffice_config::clients::{Admission, OpenCaps, Refusal, address_key};

/// Most streams of the signed-in pool one account holds (a page of the
/// queue or the list in a few tabs).
pub const PER_ACCOUNT: usize = 4;

/// Which pool a stream draws on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// Anyone's: seat maps, the cluster page.
    Public,
    /// A signed-in caller's own, once the node accepted their token: the
    /// account it names.
    SignedIn(&'a str),
}

/// One pool: its places per address, per network and per account.
struct Pool {
    addresses: OpenCaps,
    networks: OpenCaps,
    accounts: OpenCaps,
}

/// The open streams, per pool, address, network and account.
pub struct Streams {
    public: Pool,
    signed_in: Pool,
}

/// One open stream's place; dropping it gives the place back.
pub struct Place {
    _address: Admission,
    _network: Admission,
    _account: Option<Admission>,
}

/// Why a stream was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Full {
    /// The account holds its share.
    #[error("one account may keep at most {0} open at once")]
    Account(usize),
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
    /// The network of `ip` (an IPv6 address that carries an IPv4 one,
    /// such as a mapped or 6to4 address, counts as that IPv4 address).
    pub fn of(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => boxoffice_core::network::embedded_v4(v6).map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match ip {
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
    /// address and `per_network` to one network in each pool.
    pub fn new(total: usize, per_client: usize, per_network: usize) -> Self {
        let pool = || Pool {
            addresses: OpenCaps::new(total, per_client),
            networks: OpenCaps::new(total, per_network),
            accounts: OpenCaps::new(total, PER_ACCOUNT),
        };
        Self {
            public: pool(),
            signed_in: pool(),
        }
    }

    /// A place for one more stream of `kind` from `client`.
    pub fn admit(&self, client: IpAddr, kind: Kind<'_>) -> Result<Place, Full> {
        let (pool, account) = match kind {
            Kind::Public => (&self.public, None),
            Kind::SignedIn(account) => (&self.signed_in, Some(account)),
        };
        let account = account
            .map(|account| {
                pool.accounts
                    .admit(account)
                    .map_err(|refusal| match refusal {
                        Refusal::Client(cap) => Full::Account(cap),
                        total => Full::Address(total),
                    })
            })
            .transpose()?;
        let network = NetworkKey::of(client);
        let in_network =
            pool.networks
                .admit(&network.to_string())
                .map_err(|refusal| match refusal {
                    Refusal::Client(cap) => Full::Network { network, cap },
                    total => Full::Address(total),
                })?;
        let address = pool
            .addresses
            .admit(&address_key(client))
            .map_err(Full::Address)?;
        Ok(Place {
            _address: address,
            _network: in_network,
            _account: account,
        })
    }

    /// Streams open now, of both kinds.
    pub fn open(&self) -> usize {
        self.public.addresses.open() + self.signed_in.addresses.open()
    }
}

/// The account (`sub`) a session token names, read without checking the
/// signature: only for a token the node has just accepted, to count the
/// account's streams. `None` for anything that is not a JWT with one.
pub fn token_account(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Claims {
        sub: String,
    }
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<Claims>(&json).ok().map(|c| c.sub)
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
        assert_eq!(key("2002:c000:0207::1"), "192.0.2.0/24", "6to4");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1::/48");
        assert_eq!(key("2001:db8:1:ffff::9"), key("2001:db8:1:2::1"));
        assert_ne!(key("2001:db8:2::1"), key("2001:db8:1::1"));
    }

    #[test]
    fn an_account_keeps_its_share_of_the_signed_in_pool() {
        let streams = Streams::new(100, 100, 100);
        let held: Vec<_> = (0..PER_ACCOUNT)
            .map(|i| {
                streams
                    .admit(ip(&format!("192.0.{i}.1")), Kind::SignedIn("ann"))
                    .unwrap()
            })
            .collect();
        let other = ip("198.51.100.1");
        assert_eq!(
            streams.admit(other, Kind::SignedIn("ann")).err(),
            Some(Full::Account(PER_ACCOUNT))
        );
        assert!(streams.admit(other, Kind::SignedIn("bob")).is_ok());
        drop(held);
        assert!(streams.admit(other, Kind::SignedIn("ann")).is_ok());
    }

    #[test]
    fn the_account_of_a_token_is_its_subject() {
        let claims =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"u-42","exp":1}"#);
        let token = format!("e30.{claims}.sig");
        assert_eq!(token_account(&token).as_deref(), Some("u-42"));
        for bad in ["", "no dots", "a.!!!.c", "e30.e30.sig"] {
            assert_eq!(token_account(bad), None, "{bad}");
        }
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
        // ... but not the signed-in buyers', not even in the full network.
        let mine = streams
            .admit(ip("198.51.100.1"), Kind::SignedIn("ann"))
            .unwrap();
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
