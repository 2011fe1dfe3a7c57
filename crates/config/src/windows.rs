//! Things a client did, counted per client key (a network, for joins of
//! waiting rooms), at most `limit` in a fixed window of a minute.
//!
//! The caller decides what counts: the gateway and the nodes count only
//! joins that took a place ([`WindowCounts::count`], after the join was
//! accepted), and refuse one beforehand ([`WindowCounts::refusal`]) once
//! its network's count for the window is reached. So nobody can spend a
//! network's joins with requests that join nothing (no account, no proof
//! of work, a room that refuses them): each counted join is a place some
//! account took, with its own proof of work.
//!
//! Memory: one small entry per key seen in the last minute; when there
//! are more than [`MAX_KEYS`], ended windows are dropped, at most once a
//! second (a script rotating addresses costs a scan a second, not one per
//! join).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window the limit is per.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Keys remembered before ended windows are dropped.
pub const MAX_KEYS: usize = 100_000;

/// What each key did in its current window.
pub struct WindowCounts<K> {
    limit: u32,
    state: Mutex<Windows<K>>,
}

struct Windows<K> {
    /// Per key: when its window began and the count in it.
    counts: HashMap<K, (Instant, u32)>,
    /// When ended windows were last dropped.
    swept: Instant,
}

impl<K: Hash + Eq> WindowCounts<K> {
    /// At most `limit` (at least 1) counted a key a minute.
    pub fn new(limit: u32) -> Self {
        Self {
            limit: limit.max(1),
            state: Mutex::new(Windows {
                counts: HashMap::new(),
                swept: Instant::now(),
            }),
        }
    }

    /// How long until `key` may go on, if its count for the window at
    /// `now` is spent.
    pub fn refusal(&self, key: &K, now: Instant) -> Option<Duration> {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let &(start, count) = state.counts.get(key)?;
        let ends = start + WINDOW;
        (now < ends && count >= self.limit).then(|| ends - now)
    }

    /// Counts one for `key` at `now`.
    pub fn count(&self, key: K, now: Instant) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.counts.len() >= MAX_KEYS
            && now.duration_since(state.swept) >= Duration::from_secs(1)
        {
            state.counts.retain(|_, (start, _)| now < *start + WINDOW);
            state.swept = now;
        }
        let entry = state.counts.entry(key).or_insert((now, 0));
        if now >= entry.0 + WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Keys remembered now.
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

    fn net(third: u8) -> String {
        format!("10.0.{third}.0/24")
    }

    #[test]
    fn a_network_joins_its_limit_a_window_then_waits_for_the_next() {
        let joins = WindowCounts::new(2);
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
        // Distinct keys, up to the bound.
        let many = WindowCounts::new(1);
        for i in 0..MAX_KEYS {
            many.count(format!("key {i}"), t0);
        }
        assert_eq!(many.len(), MAX_KEYS);
        // A minute later the next count drops every ended window.
        many.count(net(7), t0 + WINDOW + Duration::from_secs(1));
        assert_eq!(many.len(), 1);
    }
}
