//! Login throttling, per account and per client address.
//!
//! Failures are counted per key in a sliding window. The first
//! `free_failures` cost nothing extra; each further failure delays the
//! answer (doubling, capped), and once `max_failures` are reached the key is
//! refused outright until the window has passed, with a retry hint. A
//! success clears the account's count. Counts live in the auth process's
//! memory: a restart forgets them, which errs on the side of availability.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Throttle settings for one kind of key.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Failures allowed before answers slow down.
    pub free_failures: u32,
    /// Failures after which the key is refused.
    pub max_failures: u32,
    /// How long a failure counts.
    pub window: Duration,
    /// Delay after the first failure past `free_failures`; doubles each time.
    pub base_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

/// Per account: 5 free, slowed, refused at 10 within 15 minutes.
pub const ACCOUNT_LIMITS: Limits = Limits {
    free_failures: 5,
    max_failures: 10,
    window: Duration::from_secs(15 * 60),
    base_delay: Duration::from_millis(250),
    max_delay: Duration::from_secs(4),
};

/// Per client address: more generous (several people may share one).
pub const ADDRESS_LIMITS: Limits = Limits {
    free_failures: 20,
    max_failures: 100,
    window: Duration::from_secs(15 * 60),
    base_delay: Duration::from_millis(100),
    max_delay: Duration::from_secs(2),
};

/// The throttle's verdict before a login attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead after waiting this long (zero: at once).
    Proceed(Duration),
    /// Refused; try again after this long.
    Refuse(Duration),
}

/// Failure counts for one kind of key.
pub struct Throttle {
    limits: Limits,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Throttle {
    /// An empty throttle.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// What to do with an attempt for `key` now.
    pub fn check(&self, key: &str) -> Verdict {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Verdict {
        let mut failures = self.failures.lock().expect("throttle lock poisoned");
        let Some(times) = failures.get_mut(key) else {
            return Verdict::Proceed(Duration::ZERO);
        };
        times.retain(|t| now.duration_since(*t) < self.limits.window);
        let n = u32::try_from(times.len()).unwrap_or(u32::MAX);
        if n >= self.limits.max_failures {
            let oldest = times.first().copied().unwrap_or(now);
            return Verdict::Refuse(
                self.limits
                    .window
                    .saturating_sub(now.duration_since(oldest)),
            );
        }
        if n <= self.limits.free_failures {
            return Verdict::Proceed(Duration::ZERO);
        }
        let doublings = (n - self.limits.free_failures - 1).min(16);
        Verdict::Proceed(
            self.limits
                .base_delay
                .saturating_mul(1 << doublings)
                .min(self.limits.max_delay),
        )
    }

    /// Records a failed attempt.
    pub fn failed(&self, key: &str) {
        let mut failures = self.failures.lock().expect("throttle lock poisoned");
        // Bound memory: forget idle keys when the map grows large.
        if failures.len() > 100_000 {
            let window = self.limits.window;
            failures.retain(|_, times| times.last().is_some_and(|t| t.elapsed() < window));
        }
        failures
            .entry(key.to_owned())
            .or_default()
            .push(Instant::now());
    }

    /// Clears `key` after a success.
    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .expect("throttle lock poisoned")
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slows_then_refuses_then_forgets() {
        let limits = Limits {
            free_failures: 2,
            max_failures: 5,
            window: Duration::from_secs(60),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
        };
        let t = Throttle::new(limits);
        let now = Instant::now();
        let delays: Vec<Verdict> = (0..6)
            .map(|_| {
                let v = t.check_at("a", Instant::now());
                t.failed("a");
                v
            })
            .collect();
        assert_eq!(delays[0], Verdict::Proceed(Duration::ZERO));
        assert_eq!(delays[2], Verdict::Proceed(Duration::ZERO));
        assert_eq!(delays[3], Verdict::Proceed(Duration::from_millis(100)));
        assert_eq!(delays[4], Verdict::Proceed(Duration::from_millis(200)));
        assert!(matches!(delays[5], Verdict::Refuse(d) if d > Duration::from_secs(50)));
        assert_eq!(
            t.check_at("other", now),
            Verdict::Proceed(Duration::ZERO),
            "other keys unaffected"
        );
        assert_eq!(
            t.check_at("a", now + Duration::from_secs(61)),
            Verdict::Proceed(Duration::ZERO)
        );
        t.succeeded("a");
        assert_eq!(t.check("a"), Verdict::Proceed(Duration::ZERO));
    }
}
