//! The wall clock, read in one place.
//!
//! Boxoffice's replicas never read a clock: time enters the state machine
//! as the stamp the leader puts on each log entry (`boxoffice_raft`'s
//! proposer calls [`now_ms`] when it forms an entry), so every replica
//! applies a command at the same instant. The other readers only make
//! decisions that the state machine checks again against that stamp, or
//! that live outside the log:
//! - a node's edge and checkout (is a card expired, how long is left on a
//!   hold before charging it);
//! - the leader's checkout coordinator (which holds have ended and must be
//!   expired, which checkouts were left half done);
//! - the payment service (a card's expiry, when a refund or a void
//!   happened);
//! - the command-line client (is the saved session about to expire, a
//!   default start time for a new show).
//!
//! Clocks of different processes may disagree; none of these readers
//! relies on their agreeing.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds since the Unix epoch (0 before it, `i64::MAX`
/// past what an `i64` holds).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
