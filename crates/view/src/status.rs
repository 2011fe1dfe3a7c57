//! The names of every status, with an explicit `Unknown`.
//!
//! Each enum mirrors a protobuf enum; [`from_proto`](BookingStatus::from_proto)
//! maps a value this build does not know, and `UNSPECIFIED`, to `Unknown`,
//! so a newer server's status is shown as unknown, never as another one.

use std::fmt;

use boxoffice_proto::v1;
use serde::{Deserialize, Serialize};

/// Defines a view enum over a protobuf enum: its variants (each with its
/// snake_case name, which is also its JSON spelling), `Unknown`, the
/// mapping from the wire value, `name` and `Display`.
macro_rules! view_enum {
    (
        $(#[$meta:meta])*
        $name:ident from $proto:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this build does not know (from a newer server).
            Unknown,
        }

        impl $name {
            /// Every variant, `Unknown` last.
            pub const ALL: &[Self] = &[$(Self::$variant,)* Self::Unknown];

            /// The view of a wire value: unknown values and `UNSPECIFIED`
            /// are [`Self::Unknown`].
            pub fn from_proto(value: i32) -> Self {
                match v1::$proto::try_from(value) {
                    $(Ok(v1::$proto::$variant) => Self::$variant,)*
                    _ => Self::Unknown,
                }
            }

            /// Its snake_case name, as JSON spells it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Unknown => "unknown",
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

view_enum! {
    /// The state of a booking.
    BookingStatus from BookingStatus {
        /// Seats held until `hold_expires_at_ms`, waiting for payment.
        Held = "held",
        /// Paid (or free) and booked.
        Confirmed = "confirmed",
        /// The hold ended without a booking (declined, expired or given up).
        Released = "released",
        /// Cancelled by its customer.
        Cancelled = "cancelled",
    }
}

impl BookingStatus {
    /// Whether the booking still takes its seats (held or confirmed).
    pub fn is_live(self) -> bool {
        matches!(self, Self::Held | Self::Confirmed)
    }
}

view_enum! {
    /// Where a booking's payment stands.
    PaymentStatus from PaymentStatus {
        /// Nothing to pay.
        None = "none",
        /// A charge is under way.
        Pending = "pending",
        /// Nothing was charged.
        NotCharged = "not_charged",
        /// Charged.
        Charged = "charged",
        /// A refund is due and under way.
        RefundPending = "refund_pending",
        /// Refunded in full.
        Refunded = "refunded",
    }
}

view_enum! {
    /// The state of a seat.
    SeatState from SeatState {
        /// Free to book.
        Available = "available",
        /// Held by a checkout that has not finished.
        Held = "held",
        /// Booked.
        Booked = "booked",
        /// Held back from sale by the box office.
        HeldBack = "held_back",
    }
}

view_enum! {
    /// A node's role in the cluster (`unknown` also when it did not answer).
    NodeRole from NodeRole {
        /// Leads: takes the writes.
        Leader = "leader",
        /// Follows the leader.
        Follower = "follower",
        /// Standing for election.
        Candidate = "candidate",
        /// Receives the log but does not vote.
        Learner = "learner",
        /// Stopping.
        Shutdown = "shutdown",
    }
}

view_enum! {
    /// What an assistant's suggestion does when chosen.
    SuggestionAction from SuggestionAction {
        /// Hold `seat_nos` of `show_id`.
        HoldSeats = "hold_seats",
        /// Open the seat map of `show_id`.
        ViewSeatMap = "view_seat_map",
        /// Open my bookings.
        ListBookings = "list_bookings",
        /// Cancel `booking_id`.
        CancelBooking = "cancel_booking",
        /// Log in.
        LogIn = "log_in",
        /// Open the list of shows.
        ListShows = "list_shows",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each name is the JSON spelling, and parses back to its variant.
    fn names_are_json<T>(all: &[T], name: fn(T) -> &'static str)
    where
        T: Copy + PartialEq + fmt::Debug + Serialize + for<'a> Deserialize<'a>,
    {
        for &v in all {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{}\"", name(v)), "{v:?}");
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), v);
        }
    }

    #[test]
    fn names_are_the_json_spelling() {
        names_are_json(BookingStatus::ALL, BookingStatus::name);
        names_are_json(PaymentStatus::ALL, PaymentStatus::name);
        names_are_json(SeatState::ALL, SeatState::name);
        names_are_json(NodeRole::ALL, NodeRole::name);
        names_are_json(SuggestionAction::ALL, SuggestionAction::name);
        assert_eq!(PaymentStatus::RefundPending.to_string(), "refund_pending");
    }

    #[test]
    fn known_wire_values_map_to_their_variant() {
        let b = |s: v1::BookingStatus| BookingStatus::from_proto(s as i32);
        assert_eq!(b(v1::BookingStatus::Held), BookingStatus::Held);
        assert_eq!(b(v1::BookingStatus::Confirmed), BookingStatus::Confirmed);
        assert_eq!(b(v1::BookingStatus::Released), BookingStatus::Released);
        assert_eq!(b(v1::BookingStatus::Cancelled), BookingStatus::Cancelled);
        let p = PaymentStatus::from_proto(v1::PaymentStatus::RefundPending as i32);
        assert_eq!(p, PaymentStatus::RefundPending);
        let s = SeatState::from_proto(v1::SeatState::Booked as i32);
        assert_eq!(s, SeatState::Booked);
        assert_eq!(
            NodeRole::from_proto(v1::NodeRole::Learner as i32),
            NodeRole::Learner
        );
        let a = SuggestionAction::from_proto(v1::SuggestionAction::LogIn as i32);
        assert_eq!(a, SuggestionAction::LogIn);
    }

    #[test]
    fn unknown_and_unspecified_values_are_unknown_never_confirmed() {
        for value in [0, 99, -1, i32::MAX] {
            assert_eq!(BookingStatus::from_proto(value), BookingStatus::Unknown);
            assert_eq!(PaymentStatus::from_proto(value), PaymentStatus::Unknown);
            assert_eq!(SeatState::from_proto(value), SeatState::Unknown);
            assert_eq!(NodeRole::from_proto(value), NodeRole::Unknown);
            assert_eq!(
                SuggestionAction::from_proto(value),
                SuggestionAction::Unknown
            );
        }
        assert_eq!(BookingStatus::from_proto(99).name(), "unknown");
        assert!(!BookingStatus::Unknown.is_live());
        assert!(BookingStatus::Held.is_live() && BookingStatus::Confirmed.is_live());
    }
}
