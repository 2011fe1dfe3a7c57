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

pub use boxoffice_config::clients::address_key;

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

/// Registrations per client address: account creation costs a hash and a
/// replicated write, and fresh accounts would dodge the per-customer seat cap.
pub const REGISTRATION_LIMITS: Limits = Limits {
    free_failures: 50,
    max_failures: 200,
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

/// Attempt counts for one kind of key.
///
/// An attempt counts as a failure from the moment it starts, so many
/// attempts sent at once cannot all pass a check made before any of them
/// failed; a success takes its own attempt back.
pub struct Throttle {
    limits: Limits,
    attempts: Mutex<HashMap<String, Vec<Instant>>>,
}

/// Keys held before idle ones are swept out.
const SWEEP_ABOVE_KEYS: usize = 100_000;

impl Throttle {
    /// An empty throttle.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Starts an attempt for `key` now: refused, or counted and allowed
    /// after the returned delay.
    pub fn begin(&self, key: &str) -> Verdict {
        self.begin_at(key, Instant::now())
    }

    fn begin_at(&self, key: &str, now: Instant) -> Verdict {
        let mut attempts = self.attempts.lock().expect("throttle lock poisoned");
        if attempts.len() > SWEEP_ABOVE_KEYS && !attempts.contains_key(key) {
            let window = self.limits.window;
            attempts.retain(|_, times| {
                times
                    .last()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        let times = attempts.entry(key.to_owned()).or_default();
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
        times.push(now);
        if n < self.limits.free_failures {
            return Verdict::Proceed(Duration::ZERO);
        }
        let doublings = (n - self.limits.free_failures).min(16);
        Verdict::Proceed(
            self.limits
                .base_delay
                .saturating_mul(1 << doublings)
                .min(self.limits.max_delay),
        )
    }

    /// Takes back the latest attempt for `key` (it succeeded, or another
    /// check refused it before it was tried).
    pub fn forgive(&self, key: &str) {
        if let Some(times) = self
            .attempts
            .lock()
            .expect("throttle lock poisoned")
            .get_mut(key)
        {
            times.pop();
        }
    }

    /// Clears `key` after a success.
    pub fn succeeded(&self, key: &str) {
        self.attempts
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
        let verdicts: Vec<Verdict> = (0..6).map(|_| t.begin_at("a", now)).collect();
        assert_eq!(verdicts[0], Verdict::Proceed(Duration::ZERO));
        assert_eq!(verdicts[1], Verdict::Proceed(Duration::ZERO));
        assert_eq!(verdicts[2], Verdict::Proceed(Duration::from_millis(100)));
        assert_eq!(verdicts[3], Verdict::Proceed(Duration::from_millis(200)));
        assert_eq!(verdicts[4], Verdict::Proceed(Duration::from_millis(250)));
        assert!(matches!(verdicts[5], Verdict::Refuse(d) if d == Duration::from_secs(60)));
        assert_eq!(
            t.begin_at("other", now),
            Verdict::Proceed(Duration::ZERO),
            "other keys unaffected"
        );
        assert_eq!(
            t.begin_at("a", now + Duration::from_secs(61)),
            Verdict::Proceed(Duration::ZERO)
        );
        t.succeeded("a");
        assert_eq!(t.begin("a"), Verdict::Proceed(Duration::ZERO));
        t.forgive("a");
        assert_eq!(
            t.begin("a"),
            Verdict::Proceed(Duration::ZERO),
            "a forgiven attempt does not count"
        );
    }
}
