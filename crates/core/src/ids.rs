//! Identifiers, timestamps and the limits that bound every input.
//!
//! The identifier types are thin newtypes: they carry no validation of
//! their own, so that a malformed value can still be represented, logged
//! and rejected. [`Command::validate`](crate::Command::validate) is where
//! the limits below are enforced.

use std::fmt;
use std::num::ParseIntError;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Maximum length, in characters, of a show id, user id or request id.
///
/// Ids are 1 to `MAX_ID_LEN` characters of printable ASCII without
/// whitespace (`'!'..='~'`).
pub const MAX_ID_LEN: usize = 64;

/// Maximum length, in characters, of a show title after trimming whitespace.
pub const MAX_TITLE_LEN: usize = 200;

/// Maximum number of seats a show may have.
pub const MAX_SEATS_PER_SHOW: u32 = 100_000;

/// Maximum number of seats in one booking.
pub const MAX_SEATS_PER_BOOKING: usize = 10;

/// Maximum ticket price, in cents (one million in major units).
pub const MAX_PRICE_CENTS: i64 = 100_000_000;

/// How long, in milliseconds, a request id is remembered for deduplication (24 hours).
pub const DEDUP_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// Longest hold a client may ask for, in milliseconds (30 minutes).
pub const MAX_HOLD_TTL_MS: i64 = 30 * 60 * 1000;

/// Default most seats one customer may hold at once, over all shows
/// ([`HoldLimits::max_held_seats`](crate::HoldLimits::max_held_seats)).
pub const DEFAULT_MAX_HELD_SEATS: u32 = 20;

/// Default most seats the customers of one network (an IPv4 /24, an IPv6
/// /64) may have in active bookings of one show
/// ([`HoldLimits::max_seats_per_network`](crate::HoldLimits::max_seats_per_network)):
/// ten households' worth at four seats each, so that a campus or a
/// carrier's shared address is not shut out, while fifty accounts of one
/// bot farm get no more than that.
pub const DEFAULT_MAX_SEATS_PER_NETWORK: u32 = 40;

/// Default most seats one payment card may pay for in one show: as many
/// as one account may have ([`MAX_SEATS_PER_BOOKING`]), so fifty accounts
/// paying with one stolen or shared card get what one buyer may.
pub const DEFAULT_MAX_SEATS_PER_CARD: u32 = 10;

/// Default most holds one customer may start in [`HOLD_RATE_WINDOW_MS`]
/// ([`HoldLimits::max_holds_per_hour`](crate::HoldLimits::max_holds_per_hour)).
pub const DEFAULT_MAX_HOLDS_PER_HOUR: u32 = 30;

/// Default cool-down, in milliseconds, before a customer whose hold lapsed
/// unpaid (ran out or given up) may hold those seats again (5 minutes;
/// [`HoldLimits::cooldown_ms`](crate::HoldLimits::cooldown_ms)).
pub const DEFAULT_HOLD_COOLDOWN_MS: i64 = 5 * 60 * 1000;

/// Longest cool-down a `Hold` may carry, in milliseconds (1 hour).
pub const MAX_HOLD_COOLDOWN_MS: i64 = 60 * 60 * 1000;

/// The rolling window of the hourly hold limit, in milliseconds (1 hour).
pub const HOLD_RATE_WINDOW_MS: i64 = 60 * 60 * 1000;

/// Maximum length, in characters, of an email address after normalisation.
pub const MAX_EMAIL_LEN: usize = 254;

/// Maximum length, in characters, of a stored password hash (a PHC string).
pub const MAX_PASSWORD_HASH_LEN: usize = 512;

/// Declares a string-backed identifier with `Display`, `as_str` and `From` conversions.
macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub String);

        impl $name {
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

string_id! {
    /// Identifier of a show, chosen by the administrator who creates it.
    ShowId
}

string_id! {
    /// Identifier of a venue, chosen by the administrator who imports it.
    VenueId
}

string_id! {
    /// Identifier of a production (a run of performances of one work),
    /// chosen by the administrator who creates it.
    ProductionId
}

string_id! {
    /// Identifier of a user account.
    ///
    /// Accounts created by the state machine get `u1`, `u2`, … from a
    /// counter; requests from trusted internal callers may name any
    /// well-formed id.
    UserId
}

string_id! {
    /// Client-chosen idempotency key; a retried request carries the same id.
    RequestId
}

string_id! {
    /// Identifier of a checkout order, chosen (unique, unguessable) by the
    /// node that starts the checkout and written into its `Hold`. It is the
    /// idempotency key of the order's charge at the payment provider.
    OrderId
}

string_id! {
    /// Identifier of a payment transaction, as the payment provider issued it.
    TransactionId
}

/// A seat number within a show; seats are numbered `1..=seat_count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeatNo(pub u32);

impl fmt::Display for SeatNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Identifier of a booking, assigned by the state machine from a counter starting at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BookingId(pub u64);

impl fmt::Display for BookingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for BookingId {
    type Err = ParseIntError;

    /// Parses the plain decimal form produced by `Display`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(BookingId)
    }
}

/// Milliseconds since the Unix epoch, as written into the log by the Raft leader.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// This instant moved by `ms` milliseconds, clamped to the representable range.
    pub fn saturating_add_ms(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    /// Milliseconds elapsed from `earlier` to `self` (negative if `earlier` is later), saturating.
    pub fn saturating_ms_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        assert_eq!(ShowId::from("hamlet-2025").to_string(), "hamlet-2025");
        assert_eq!(UserId::from("alice").to_string(), "alice");
        assert_eq!(RequestId::from("r-1").to_string(), "r-1");
        assert_eq!(SeatNo(7).to_string(), "7");
        assert_eq!(BookingId(42).to_string(), "42");
    }

    #[test]
    fn booking_id_parses_its_display_form() {
        assert_eq!("42".parse::<BookingId>(), Ok(BookingId(42)));
        assert_eq!(
            BookingId(u64::MAX).to_string().parse::<BookingId>(),
            Ok(BookingId(u64::MAX))
        );
        assert!("BK-42".parse::<BookingId>().is_err());
        assert!("".parse::<BookingId>().is_err());
        assert!("-1".parse::<BookingId>().is_err());
    }

    #[test]
    fn timestamp_arithmetic_saturates() {
        assert_eq!(
            Timestamp(i64::MAX).saturating_add_ms(1),
            Timestamp(i64::MAX)
        );
        assert_eq!(Timestamp(10).saturating_add_ms(5), Timestamp(15));
        assert_eq!(
            Timestamp(i64::MAX).saturating_ms_since(Timestamp(i64::MIN)),
            i64::MAX
        );
        assert_eq!(Timestamp(3).saturating_ms_since(Timestamp(10)), -7);
    }
}
