//! The per-account write rate at a node's edge: each account may send this
//! node at most `booking.writes_per_user_per_second` writes a second, with
//! bursts of `write_burst_per_user`; the next one is RESOURCE_EXHAUSTED
//! with the wait in `retry-after-ms`. It is counted before anything is
//! proposed, so a flood from one account costs the cluster no log entries.
//!
//! The limit is this node's alone (memory, not replicated): an account
//! that spreads its writes over every node gets that many times the rate,
//! and a restart forgets the counts. Administrators are not paced (they
//! run the bulk operations and the benchmarks), and a write is counted
//! only after its session checks out on the node's replica, so a revoked
//! token cannot use up its account's budget. Payment attempts on a hold
//! (`PayBooking`) count as writes. A rate of 0 turns pacing off.
//!
//! Door scans (`CheckIn`) have a quota of their own, [`SCANS_PER_SECOND`]
//! with bursts of [`SCAN_BURST`] per account: door staff often share one
//! account over many gates, and a gate back from an offline spell uploads
//! its scans at once, so the write pace would turn a busy door away; yet a
//! flood of scans still costs log entries, so they are paced too (when
//! writes are).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};

use boxoffice_core::UserId;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tonic::Status;

use crate::config::BookingSettings;

/// Checks between two sweeps of accounts that have been quiet long enough
/// to be at full burst again (their state is then forgotten).
const SWEEP_EVERY: u32 = 4096;

/// Door scans one account may send a node per second.
pub const SCANS_PER_SECOND: u32 = 200;
/// Door scans one account may send a node at once: an offline gate's
/// upload of a busy quarter of an hour.
pub const SCAN_BURST: u32 = 2_000;

/// What a paced call spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// A write: holds, bookings, payments, show changes.
    Write,
    /// A door scan.
    Scan,
}

/// The write pacing of one node.
pub struct Pace {
    writes: Option<DefaultKeyedRateLimiter<UserId>>,
    scans: Option<DefaultKeyedRateLimiter<UserId>>,
    checks: AtomicU32,
}

fn keyed(rate: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<UserId>> {
    NonZeroU32::new(rate).map(|rate| {
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
    })
}

impl Pace {
    /// Pacing as `settings` configure it (off at a rate of 0).
    pub fn new(settings: &BookingSettings) -> Self {
        let writes = keyed(
            settings.writes_per_user_per_second,
            settings.write_burst_per_user,
        );
        let scans = writes
            .as_ref()
            .and_then(|_| keyed(SCANS_PER_SECOND, SCAN_BURST));
        Self {
            writes,
            scans,
            checks: AtomicU32::new(0),
        }
    }

    /// Whether any account is paced at all.
    pub fn enabled(&self) -> bool {
        self.writes.is_some()
    }

    /// Whether `user` may spend `budget` now; if not, how long to wait.
    pub fn check(&self, budget: Budget, user: &UserId) -> Result<(), std::time::Duration> {
        let limiter = match budget {
            Budget::Write => &self.writes,
            Budget::Scan => &self.scans,
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            for limiter in self.writes.iter().chain(&self.scans) {
                limiter.retain_recent();
            }
        }
        limiter
            .check_key(user)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Accounts whose pace is remembered now.
    pub fn remembered(&self) -> usize {
        self.writes.iter().chain(&self.scans).map(|l| l.len()).sum()
    }
}

/// The status of a write refused for its pace.
pub fn too_fast(budget: Budget, wait: std::time::Duration) -> Status {
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
    let what = match budget {
        Budget::Write => "writes",
        Budget::Scan => "door scans",
    };
    let mut status = Status::resource_exhausted(format!(
        "too many {what} from this account: wait {ms} ms and try again"
    ));
    if let Ok(value) = ms.to_string().parse() {
        status
            .metadata_mut()
            .insert(boxoffice_proto::convert::RETRY_AFTER_MS, value);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(rate: u32, burst: u32) -> Pace {
        Pace::new(&BookingSettings {
            writes_per_user_per_second: rate,
            write_burst_per_user: burst,
            ..BookingSettings::default()
        })
    }

    #[test]
    fn a_burst_passes_then_the_next_waits_and_others_are_unaffected() {
        let pace = pace(1, 3);
        let mallory = UserId("mallory".into());
        for _ in 0..3 {
            pace.check(Budget::Write, &mallory).unwrap();
        }
        let wait = pace.check(Budget::Write, &mallory).unwrap_err();
        assert!(wait > std::time::Duration::ZERO && wait <= std::time::Duration::from_secs(1));
        pace.check(Budget::Write, &UserId("fan".into())).unwrap();
        assert_eq!(pace.remembered(), 2);
    }

    #[test]
    fn scans_have_a_budget_of_their_own_and_a_flood_of_them_still_waits() {
        let pace = pace(1, 3);
        let door = UserId("door".into());
        for _ in 0..3 {
            pace.check(Budget::Write, &door).unwrap();
        }
        pace.check(Budget::Write, &door).unwrap_err();
        for _ in 0..SCAN_BURST {
            pace.check(Budget::Scan, &door).unwrap();
        }
        pace.check(Budget::Scan, &door).unwrap_err();
        let off = self::pace(0, 0);
        for _ in 0..=SCAN_BURST {
            off.check(Budget::Scan, &door).unwrap();
        }
    }

    #[test]
    fn a_rate_of_zero_paces_nobody() {
        let pace = pace(0, 0);
        let user = UserId("bulk".into());
        for _ in 0..10_000 {
            pace.check(Budget::Write, &user).unwrap();
        }
    }

    #[test]
    fn the_status_carries_the_wait() {
        let status = too_fast(Budget::Write, std::time::Duration::from_millis(250));
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(
            status
                .metadata()
                .get(boxoffice_proto::convert::RETRY_AFTER_MS)
                .unwrap(),
            "250"
        );
    }
}
