//! Bookings as the state stores them: one fixed-size record each, in a
//! vector indexed by id, with show and user ids interned.
//!
//! A [`Booking`] as the API sees it is about 170 bytes plus four heap
//! strings; a stored one is 72 bytes, plus one small allocation for a
//! booking of several seats and one for a booking with an order or a
//! transaction. Booking ids are issued from a counter and bookings are
//! never removed, so booking `n` is at index `n - 1`. Shows and users get
//! numbers in the order they first appear in a booking, which is the same
//! on every replica and after a snapshot round trip (snapshots list
//! bookings by id), so two equal states store equal records.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::{Error as _, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Booking, BookingStatus, Payment};
use crate::ids::{BookingId, OrderId, SeatNo, ShowId, Timestamp, TransactionId, UserId};

/// Ids stored once, referred to by number.
#[derive(Clone, Debug, PartialEq)]
struct Interner<T> {
    /// Id of each number.
    names: Vec<T>,
    /// Number of each id.
    numbers: BTreeMap<T, u32>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            names: Vec::new(),
            numbers: BTreeMap::new(),
        }
    }
}

impl<T: Ord + Clone> Interner<T> {
    /// The number of `id`, issuing one if it has none; `None` when numbers run out.
    fn intern(&mut self, id: &T) -> Option<u32> {
        if let Some(&number) = self.numbers.get(id) {
            return Some(number);
        }
        let number = u32::try_from(self.names.len()).ok()?;
        self.names.push(id.clone());
        self.numbers.insert(id.clone(), number);
        Some(number)
    }

    /// The number of `id`, if it has one.
    fn number(&self, id: &T) -> Option<u32> {
        self.numbers.get(id).copied()
    }

    /// The id with `number`.
    fn name(&self, number: u32) -> Option<&T> {
        self.names.get(usize::try_from(number).ok()?)
    }
}

/// A booking's kind of payment, without the transaction id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum PaymentKind {
    /// [`Payment::None`].
    None,
    /// [`Payment::Pending`].
    Pending,
    /// [`Payment::NotCharged`].
    NotCharged,
    /// [`Payment::Charged`].
    Charged,
    /// [`Payment::RefundDue`].
    RefundDue,
    /// [`Payment::Refunded`].
    Refunded,
}

impl PaymentKind {
    /// The kind of `payment`.
    pub(super) fn of(payment: &Payment) -> Self {
        match payment {
            Payment::None => Self::None,
            Payment::Pending => Self::Pending,
            Payment::NotCharged => Self::NotCharged,
            Payment::Charged(_) => Self::Charged,
            Payment::RefundDue(_) => Self::RefundDue,
            Payment::Refunded(_) => Self::Refunded,
        }
    }

    /// The payment of this kind with transaction `tx`; `None` if this kind
    /// needs a transaction and there is none.
    pub(super) fn with_transaction(self, tx: Option<&TransactionId>) -> Option<Payment> {
        let tx = || tx.cloned();
        Some(match self {
            Self::None => Payment::None,
            Self::Pending => Payment::Pending,
            Self::NotCharged => Payment::NotCharged,
            Self::Charged => Payment::Charged(tx()?),
            Self::RefundDue => Payment::RefundDue(tx()?),
            Self::Refunded => Payment::Refunded(tx()?),
        })
    }
}

/// The order and transaction of a booking that has either.
#[derive(Clone, Debug, PartialEq)]
struct Ids {
    /// See [`Booking::order`].
    order: Option<OrderId>,
    /// The transaction of [`Booking::payment`], if it names one.
    transaction: Option<TransactionId>,
}

/// One booking as stored.
#[derive(Clone, Debug, PartialEq)]
struct StoredBooking {
    /// Number of the show's id.
    show: u32,
    /// Number of the customer's id.
    user: u32,
    /// The seat of a one-seat booking; unused if `more_seats` is set.
    seat: SeatNo,
    /// All seats of a booking of any other number of seats.
    more_seats: Option<Box<[SeatNo]>>,
    /// See [`Booking::total_cents`].
    total_cents: i64,
    /// See [`Booking::created_at`].
    created_at: Timestamp,
    /// See [`Booking::status`].
    status: BookingStatus,
    /// The kind of [`Booking::payment`].
    payment: PaymentKind,
    /// Order and transaction, if the booking has either.
    ids: Option<Box<Ids>>,
}

impl StoredBooking {
    /// The seats, ascending.
    fn seats(&self) -> &[SeatNo] {
        match &self.more_seats {
            Some(seats) => seats,
            None => std::slice::from_ref(&self.seat),
        }
    }

    /// The transaction of the payment, if any.
    fn transaction(&self) -> Option<&TransactionId> {
        self.ids.as_ref().and_then(|ids| ids.transaction.as_ref())
    }
}

/// All bookings ever made.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Bookings {
    /// Booking `n` at index `n - 1`.
    stored: Vec<StoredBooking>,
    /// Show ids, numbered by first booking.
    shows: Interner<ShowId>,
    /// Customer ids, numbered by first booking.
    users: Interner<UserId>,
}

impl Bookings {
    /// Number of bookings (also the highest id).
    pub(super) fn len(&self) -> u64 {
        self.stored.len() as u64
    }

    /// The booking with this id.
    pub(super) fn get(&self, id: BookingId) -> Option<Booking> {
        let stored = self.stored(id)?;
        let ids = stored.ids.as_deref();
        Some(Booking {
            id,
            show: self.shows.name(stored.show)?.clone(),
            seats: stored.seats().to_vec(),
            user: self.users.name(stored.user)?.clone(),
            total_cents: stored.total_cents,
            created_at: stored.created_at,
            status: stored.status,
            order: ids.and_then(|ids| ids.order.clone()),
            payment: stored.payment.with_transaction(stored.transaction())?,
        })
    }

    /// All bookings, by id.
    pub(super) fn iter(&self) -> impl Iterator<Item = Booking> + '_ {
        (1..=self.len()).filter_map(|id| self.get(BookingId(id)))
    }

    /// Seats that booking `id` occupies in `show`: its seat count if it is
    /// active and of that show, else 0.
    pub(super) fn active_seats_in(&self, id: BookingId, show: &ShowId) -> u32 {
        match (self.stored(id), self.shows.number(show)) {
            (Some(stored), Some(show)) if stored.show == show && stored.status.is_active() => {
                u32::try_from(stored.seats().len()).unwrap_or(u32::MAX)
            }
            _ => 0,
        }
    }

    /// Stores `booking`, which must have the next id; `Err` names the
    /// problem (a wrong id, or show or user numbers run out).
    pub(super) fn push(&mut self, booking: &Booking) -> Result<(), String> {
        if booking.id.0 != self.len().wrapping_add(1) {
            return Err(format!(
                "booking {} is out of order: the next id is {}",
                booking.id,
                self.len().wrapping_add(1)
            ));
        }
        let (Some(show), Some(user)) = (
            self.shows.intern(&booking.show),
            self.users.intern(&booking.user),
        ) else {
            return Err("show or user numbers are exhausted".to_owned());
        };
        let (seat, more_seats) = match booking.seats.as_slice() {
            [seat] => (*seat, None),
            seats => (SeatNo(0), Some(seats.into())),
        };
        let mut stored = StoredBooking {
            show,
            user,
            seat,
            more_seats,
            total_cents: booking.total_cents,
            created_at: booking.created_at,
            status: booking.status,
            payment: PaymentKind::None,
            ids: None,
        };
        set_payment(&mut stored, booking.order.as_ref(), &booking.payment);
        self.stored.push(stored);
        Ok(())
    }

    /// Writes the status and payment of `booking` (the only fields that
    /// change after creation) over the stored booking with its id.
    pub(super) fn update(&mut self, booking: &Booking) {
        let Some(stored) = usize::try_from(booking.id.0)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|index| self.stored.get_mut(index))
        else {
            return;
        };
        stored.status = booking.status;
        set_payment(stored, booking.order.as_ref(), &booking.payment);
    }

    /// The stored booking with this id.
    fn stored(&self, id: BookingId) -> Option<&StoredBooking> {
        let index = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.stored.get(index)
    }
}

/// Bookings serialize as the sequence of [`Booking`]s by id.
impl Serialize for Bookings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.stored.len()))?;
        for id in 1..=self.len() {
            let booking = self
                .get(BookingId(id))
                .ok_or_else(|| S::Error::custom(format!("booking {id} cannot be read back")))?;
            seq.serialize_element(&booking)?;
        }
        seq.end()
    }
}

/// Reads the sequence one booking at a time, so that restoring a snapshot
/// never holds every booking in its large form at once.
impl<'de> Deserialize<'de> for Bookings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Sequence;
        impl<'de> Visitor<'de> for Sequence {
            type Value = Bookings;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of bookings by id")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bookings, A::Error> {
                let mut bookings = Bookings::default();
                while let Some(booking) = seq.next_element::<Booking>()? {
                    bookings.push(&booking).map_err(A::Error::custom)?;
                }
                Ok(bookings)
            }
        }
        deserializer.deserialize_seq(Sequence)
    }
}

/// Sets the payment (and order) of `stored`.
fn set_payment(stored: &mut StoredBooking, order: Option<&OrderId>, payment: &Payment) {
    stored.payment = PaymentKind::of(payment);
    let transaction = payment.transaction();
    stored.ids = (order.is_some() || transaction.is_some()).then(|| {
        Box::new(Ids {
            order: order.cloned(),
            transaction: transaction.cloned(),
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_booking_is_small() {
        assert!(
            std::mem::size_of::<StoredBooking>() <= 72,
            "{} bytes",
            std::mem::size_of::<StoredBooking>()
        );
    }

    #[test]
    fn bookings_come_back_as_they_were_stored() {
        let mut bookings = Bookings::default();
        let one = Booking {
            id: BookingId(1),
            show: "s1".into(),
            seats: vec![SeatNo(7)],
            user: "u1".into(),
            total_cents: 2_500,
            created_at: Timestamp(5),
            status: BookingStatus::Confirmed { at: Timestamp(5) },
            order: None,
            payment: Payment::None,
        };
        let mut many = Booking {
            id: BookingId(2),
            seats: vec![SeatNo(1), SeatNo(2), SeatNo(9)],
            status: BookingStatus::Held {
                expires_at: Timestamp(60),
            },
            order: Some("ord_1".into()),
            payment: Payment::Pending,
            ..one.clone()
        };
        assert_eq!(bookings.push(&one), Ok(()));
        assert!(bookings.push(&one).is_err(), "an id out of order");
        assert_eq!(bookings.push(&many), Ok(()));
        assert_eq!(bookings.get(BookingId(1)), Some(one.clone()));
        assert_eq!(bookings.get(BookingId(2)), Some(many.clone()));
        assert_eq!(bookings.get(BookingId(0)), None);
        assert_eq!(bookings.get(BookingId(3)), None);
        many.status = BookingStatus::Confirmed { at: Timestamp(9) };
        many.payment = Payment::Charged("tx_9".into());
        bookings.update(&many);
        assert_eq!(bookings.get(BookingId(2)), Some(many.clone()));
        assert_eq!(bookings.iter().collect::<Vec<_>>(), vec![one, many]);
        assert_eq!(bookings.active_seats_in(BookingId(2), &"s1".into()), 3);
        assert_eq!(bookings.active_seats_in(BookingId(2), &"s2".into()), 0);
    }
}
