//! Who a client is, for the limits every service applies to the clients it
//! cannot trust: the key its address counts under ([`address_key`]) and a
//! cap on what all clients, and one client, may hold open at once
//! ([`OpenCaps`]).
//!
//! Invariant: an [`Admission`] is counted from the moment it is granted
//! until it is dropped, whatever ends the stream or connection it stands
//! for; the counts can never drift.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

/// The key that counts for a client at `ip`: an IPv4 address itself (also
/// when it arrives IPv4-mapped), and for IPv6 its /64, since one
/// subscriber is handed a whole /64 and may pick any address in it.
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

/// Caps on open things (streams, connections): at most `total` in all and
/// `per_client` for one client key.
pub struct OpenCaps {
    total: usize,
    per_client: usize,
    open: Arc<Mutex<Open>>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_client: HashMap<String, usize>,
}

/// Why [`OpenCaps::admit`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The client already holds its share (the cap is carried).
    #[error("one client may keep at most {0} open at once")]
    Client(usize),
    /// Every slot is taken (the cap is carried).
    #[error("at most {0} may be open at once")]
    Total(usize),
}

/// One admitted stream or connection; dropping it gives its place back.
#[must_use = "the place is given back when this is dropped"]
pub struct Admission {
    client: String,
    open: Arc<Mutex<Open>>,
}

impl OpenCaps {
    /// Caps of `total` in all and `per_client` per client key (a
    /// `per_client` above `total` is in effect `total`).
    pub fn new(total: usize, per_client: usize) -> Self {
        Self {
            total,
            per_client,
            open: Arc::default(),
        }
    }

    /// A place for `client` (its [`address_key`]), or why there is none.
    pub fn admit(&self, client: &str) -> Result<Admission, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = open.by_client.get(client).copied().unwrap_or(0);
        if mine >= self.per_client {
            return Err(Refusal::Client(self.per_client));
        }
        if open.total >= self.total {
            return Err(Refusal::Total(self.total));
        }
        open.total += 1;
        open.by_client.insert(client.to_owned(), mine + 1);
        Ok(Admission {
            client: client.to_owned(),
            open: self.open.clone(),
        })
    }

    /// How many are open now.
    pub fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.by_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb::9"), key("2001:db8:1:2:aaaa::1"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }

    #[test]
    fn caps_hold_per_client_and_in_all_and_places_come_back() {
        let caps = OpenCaps::new(3, 2);
        let a1 = caps.admit("a").unwrap();
        let _a2 = caps.admit("a").unwrap();
        assert_eq!(caps.admit("a").err(), Some(Refusal::Client(2)));
        let _b1 = caps.admit("b").unwrap();
        assert_eq!(caps.admit("c").err(), Some(Refusal::Total(3)));
        assert_eq!(caps.open(), 3);
        drop(a1);
        assert_eq!(caps.open(), 2);
        let _c1 = caps.admit("c").unwrap();
        assert_eq!(caps.admit("a").err(), Some(Refusal::Total(3)));
    }
}
