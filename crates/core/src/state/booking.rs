//! The booking entity: a [`Booking`], where it is in its life cycle
//! ([`BookingStatus`]), its money ([`Payment`]), and the booking indexes
//! rebuilt from the bookings.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Seat;
use crate::ids::{BookingId, OrderId, SeatNo, ShowId, Timestamp, TransactionId, UserId};
use crate::pricing::TicketType;

/// Index from each user to the ids of their bookings, ascending (ids are
/// issued in order and bookings never removed, so each list only grows at
/// its end: 8 bytes a booking, where a B-tree set took 15 to 25).
pub(super) type UserIndex = BTreeMap<UserId, Vec<BookingId>>;

/// Index of held bookings, ordered by expiry time then id.
pub(super) type ExpiryIndex = BTreeSet<(Timestamp, BookingId)>;

/// Where a booking is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BookingStatus {
    /// Seats are held until `expires_at`, awaiting payment.
    Held {
        /// When the hold lapses.
        expires_at: Timestamp,
    },
    /// Seats are sold.
    Confirmed {
        /// When the booking was confirmed.
        at: Timestamp,
    },
    /// The hold ended without a sale; seats were freed.
    Released {
        /// When the hold was released.
        at: Timestamp,
        /// True if the hold lapsed: it ran out (`ExpireHolds`) or its
        /// customer gave it up (`Cancel`); either starts the hold
        /// cool-down. False if the system released it (a declined card).
        lapsed: bool,
    },
    /// The sale was cancelled by its owner; seats were freed.
    Cancelled {
        /// When the booking was cancelled.
        at: Timestamp,
    },
}

impl BookingStatus {
    /// Lower-case name of the status, as used in messages.
    pub fn name(&self) -> &'static str {
        match self {
            BookingStatus::Held { .. } => "held",
            BookingStatus::Confirmed { .. } => "confirmed",
            BookingStatus::Released { .. } => "released",
            BookingStatus::Cancelled { .. } => "cancelled",
        }
    }

    /// True while the booking occupies its seats (held or confirmed).
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            BookingStatus::Held { .. } | BookingStatus::Confirmed { .. }
        )
    }
}

impl fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The money side of a booking.
///
/// A checkout's booking starts `Pending` with its hold. Confirming it
/// records the charge (`Charged`). If its hold ends another way (declined,
/// abandoned, expired), it stays `Pending` until the payment provider has
/// answered for good ([`Command::Settle`](crate::Command::Settle)): `NotCharged`, or `RefundDue`
/// for a charge that arrived anyway. Cancelling a paid booking makes its
/// charge `RefundDue`; [`Command::RecordRefund`](crate::Command::RecordRefund) ends at `Refunded`. The
/// bookings the system still has to act on are listed by
/// [`State::unsettled`](crate::State::unsettled).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payment {
    /// Nothing to pay: booked without the payment step, or free.
    None,
    /// A charge under the order's key may or may not exist yet.
    Pending,
    /// Nothing was charged, and nothing can be any more.
    NotCharged,
    /// Paid by this charge.
    Charged(TransactionId),
    /// This charge must be refunded: the booking was cancelled, or the
    /// payment arrived after the hold had ended.
    RefundDue(TransactionId),
    /// This charge was refunded.
    Refunded(TransactionId),
}

impl Payment {
    /// Lower-case name, as used in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Payment::None => "none",
            Payment::Pending => "pending",
            Payment::NotCharged => "not charged",
            Payment::Charged(_) => "charged",
            Payment::RefundDue(_) => "refund due",
            Payment::Refunded(_) => "refunded",
        }
    }

    /// The charge this payment refers to, if any.
    pub fn transaction(&self) -> Option<&TransactionId> {
        match self {
            Payment::Charged(tx) | Payment::RefundDue(tx) | Payment::Refunded(tx) => Some(tx),
            Payment::None | Payment::Pending | Payment::NotCharged => None,
        }
    }
}

/// A set of seats of one show, held for or sold to one user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// The booking's id.
    pub id: BookingId,
    /// The show the seats belong to.
    pub show: ShowId,
    /// The seats (places), sorted ascending: one ticket each.
    pub seats: Vec<SeatNo>,
    /// The ticket type of each seat, in the order of `seats`, for a
    /// performance; empty for a simple show (every ticket its one type).
    pub types: Vec<TicketType>,
    /// The price of each ticket in cents, in the order of `seats`, for a
    /// performance; empty for a simple show (each `total_cents / seats`).
    pub prices: Vec<i64>,
    /// The customer.
    pub user: UserId,
    /// What the tickets cost together at booking time, in cents (the sum
    /// of `prices` for a performance).
    pub total_cents: i64,
    /// When the booking was created.
    pub created_at: Timestamp,
    /// Where the booking is in its life cycle.
    pub status: BookingStatus,
    /// The checkout order it was held for; `None` if booked directly.
    pub order: Option<OrderId>,
    /// The money side.
    pub payment: Payment,
}

impl Booking {
    /// Whether the system still has to act on this booking's money: ask
    /// the provider about a charge of an ended hold, or make a due refund.
    pub fn is_unsettled(&self) -> bool {
        match self.payment {
            Payment::Pending => !matches!(self.status, BookingStatus::Held { .. }),
            Payment::RefundDue(_) => true,
            _ => false,
        }
    }

    /// Whether this is the record of tickets returned from a booking
    /// (`ReturnTickets`): cancelled the moment it was made. It shares its
    /// order with the booking it came from and is not a hold of its own.
    /// (A checkout's hold is confirmed and cancelled later than it is made.)
    pub fn is_return_record(&self) -> bool {
        matches!(self.status, BookingStatus::Cancelled { at } if at == self.created_at)
    }

    /// The price of the ticket for `seats[i]`.
    pub fn ticket_price(&self, i: usize) -> i64 {
        match self.prices.get(i) {
            Some(&price) => price,
            None => {
                let n = i64::try_from(self.seats.len()).unwrap_or(1).max(1);
                self.total_cents / n
            }
        }
    }

    /// The ticket type of `seats[i]` (0, the first type, for a simple show).
    pub fn ticket_type(&self, i: usize) -> TicketType {
        self.types.get(i).copied().unwrap_or(0)
    }

    /// This booking split in two: the tickets it keeps and those of
    /// `returned` (sorted, each one of its seats), each with its types,
    /// prices and total; ids, times, status and payment stay as they are.
    pub(super) fn split(&self, returned: &[SeatNo]) -> (Booking, Booking) {
        let mut kept = Booking {
            seats: Vec::new(),
            types: Vec::new(),
            prices: Vec::new(),
            total_cents: 0,
            ..self.clone()
        };
        let mut gone = kept.clone();
        for (i, &no) in self.seats.iter().enumerate() {
            let part = if returned.binary_search(&no).is_ok() {
                &mut gone
            } else {
                &mut kept
            };
            part.seats.push(no);
            let price = self.ticket_price(i);
            if !self.types.is_empty() {
                part.types.push(self.ticket_type(i));
                part.prices.push(price);
            }
            part.total_cents = part.total_cents.saturating_add(price);
        }
        if self.types.is_empty() {
            // A simple show's tickets share one price; any remainder of
            // the division stays with the booking.
            gone.total_cents = self.ticket_price(0).saturating_mul(gone.seats.len() as i64);
            kept.total_cents = self.total_cents.saturating_sub(gone.total_cents);
        }
        (kept, gone)
    }

    /// The state its seats have while this booking is active, if it is.
    pub(super) fn seat_state(&self) -> Option<Seat> {
        match self.status {
            BookingStatus::Held { .. } => Some(Seat::Held(self.id)),
            BookingStatus::Confirmed { .. } => Some(Seat::Booked(self.id)),
            BookingStatus::Released { .. } | BookingStatus::Cancelled { .. } => None,
        }
    }

    /// The entry this booking has in the expiry index, if it is held.
    pub(super) fn expiry_key(&self) -> Option<(Timestamp, BookingId)> {
        match self.status {
            BookingStatus::Held { expires_at } => Some((expires_at, self.id)),
            _ => None,
        }
    }
}

/// The user index and expiry index implied by `bookings`, given in id order.
pub(super) fn build_booking_indexes(
    bookings: impl IntoIterator<Item = Booking>,
) -> (UserIndex, ExpiryIndex) {
    let mut by_user = UserIndex::new();
    let mut hold_expiry = BTreeSet::new();
    for booking in bookings {
        by_user
            .entry(booking.user.clone())
            .or_default()
            .push(booking.id);
        if let Some(key) = booking.expiry_key() {
            hold_expiry.insert(key);
        }
    }
    (by_user, hold_expiry)
}

/// The unsettled index implied by `bookings`.
pub(super) fn build_unsettled_index(
    bookings: impl IntoIterator<Item = Booking>,
) -> BTreeSet<BookingId> {
    bookings
        .into_iter()
        .filter(|booking| booking.is_unsettled())
        .map(|booking| booking.id)
        .collect()
}
