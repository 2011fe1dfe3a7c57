//! Joins of waiting rooms counted per browser network (an IPv4 /24, an
//! IPv6 /64), at most `limit` in a window of a minute.
//!
//! Only joins that took a place are counted ([`JoinCounts::count`], after
//! the node accepted one); a join is refused beforehand
//! ([`JoinCounts::refusal`]) once its network's count for the window is
//! reached. So nobody can spend a network's joins with requests that
//! join nothing (no account, no proof of work, a room that refuses
//! them): each counted join is a place some account took, with its own
//! proof of work.
//!
//! Memory: one small entry per network seen in the last minute; when
//! there are more than [`MAX_NETWORKS`], ended windows are dropped, at
//! most once a second (a script rotating addresses costs a scan a second,
//! not one per join).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use boxoffice_core::Network;

/// The window the limit is per.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Networks remembered before ended windows are dropped.
pub const MAX_NETWORKS: usize = 100_000;

/// The joins counted per network in the current window.
pub struct JoinCounts {
    limit: u32,
    state: Mutex<Windows>,
}

struct Windows {
    /// Per network: when its window began and the joins counted in it.
    counts: HashMap<Network, (Instant, u32)>,
    /// When ended windows were last dropped.
    swept: Instant,
}

impl JoinCounts {
    /// At most `limit` (at least 1) counted joins a network a minute.
    pub fn new(limit: u32) -> Self {
        Self {
            limit: limit.max(1),
            state: Mutex::new(Windows {
                counts: HashMap::new(),
                swept: Instant::now(),
            }),
        }
    }

    /// How long until `network` may join again, if its joins for the
    /// window at `now` are spent.
    pub fn refusal(&self, network: &Network, now: Instant) -> Option<Duration> {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let &(start, count) = state.counts.get(network)?;
        let ends = start + WINDOW;
        (now < ends && count >= self.limit).then(|| ends - now)
    }

    /// Counts a join that took a place for `network` at `now`.
    pub fn count(&self, network: Network, now: Instant) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.counts.len() >= MAX_NETWORKS
            && now.duration_since(state.swept) >= Duration::from_secs(1)
        {
            state.counts.retain(|_, (start, _)| now < *start + WINDOW);
            state.swept = now;
        }
        let entry = state.counts.entry(network).or_insert((now, 0));
        if now >= entry.0 + WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Networks remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(last: u8) -> Network {
        Network::of(std::net::IpAddr::from([10, 0, last, 1]))
    }

    #[test]
    fn a_network_joins_its_limit_a_window_then_waits_for_the_next() {
        let joins = JoinCounts::new(2);
        let t0 = Instant::now();
        assert_eq!(joins.refusal(&net(1), t0), None);
        joins.count(net(1), t0);
        assert_eq!(joins.refusal(&net(1), t0), None);
        joins.count(net(1), t0 + Duration::from_secs(10));
        let wait = joins.refusal(&net(1), t0 + Duration::from_secs(20));
        assert_eq!(wait, Some(Duration::from_secs(40)));
        assert_eq!(joins.refusal(&net(2), t0), None, "another network");
        let next = t0 + WINDOW;
        assert_eq!(joins.refusal(&net(1), next), None, "a new window");
        joins.count(net(1), next);
        assert_eq!(joins.refusal(&net(1), next), None, "counted afresh");
    }

    #[test]
    fn ended_windows_are_dropped_when_many_networks_are_remembered() {
        let t0 = Instant::now();
        // Distinct /24s, up to the bound.
        let many = JoinCounts::new(1);
        for i in 0..MAX_NETWORKS as u32 {
            let ip = std::net::IpAddr::from((0x0b00_0000 + (i << 8)).to_be_bytes());
            many.count(Network::of(ip), t0);
        }
        assert_eq!(many.len(), MAX_NETWORKS);
        // A minute later the next count drops every ended window.
        many.count(net(7), t0 + WINDOW + Duration::from_secs(1));
        assert_eq!(many.len(), 1);
    }
}
