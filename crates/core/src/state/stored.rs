//! Bookings as the state stores them: one fixed-size record each, in a
//! vector indexed by id, with show and user ids interned.
//!
//! A [`Booking`] as the API sees it is about 170 bytes plus four heap
//! strings; a stored one is 56 bytes, with no allocation of its own: the
//! seats of a booking of several seats and the order and transaction ids
//! go into append-only arenas, the ids the system issues (`ord_` or `tx_`
//! and a UUID in hex) as 16 bytes each. Booking ids are issued from a counter and
//! bookings are never removed, so booking `n` is at index `n - 1`. Shows
//! and users get numbers in the order they first appear in a booking.
//! Arena layout and numbering may differ between a live state and one
//! restored from a snapshot, so stores compare by the bookings they hold.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::{Error as _, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Booking, BookingStatus, Payment};
use crate::ids::{BookingId, OrderId, SeatNo, ShowId, Timestamp, TransactionId, UserId};

/// Why the store cannot hold a booking. The messages reach clients inside
/// a [`Rejection::Invalid`](crate::Rejection::Invalid).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum StoreError {
    /// The booking does not have the next id.
    #[error("booking {booking} is out of order: the next id is {next}")]
    OutOfOrder {
        /// The booking's id.
        booking: BookingId,
        /// The id the store expected.
        next: u64,
    },
    /// The booking has more seats than a record can count.
    #[error("booking {0} has too many seats")]
    TooManySeats(BookingId),
    /// The arena of seat lists is full.
    #[error("the seat arena is full")]
    SeatArenaFull,
    /// No number is left for a new show or user.
    #[error("show or user numbers are exhausted")]
    NumbersExhausted,
    /// An order or transaction id is longer than the store keeps.
    #[error("id {0:?} is too long to store")]
    IdTooLong(String),
    /// The arena of order and transaction ids is full.
    #[error("the id arena is full")]
    IdArenaFull,
    /// No booking with this id is stored.
    #[error("booking {0} is not stored")]
    NotStored(BookingId),
    /// The booking's ticket types or prices do not match its seats.
    #[error("booking {0} needs a ticket type and a price for each seat, or neither")]
    TicketsMismatch(BookingId),
    /// The arena of ticket types and prices is full.
    #[error("the ticket arena is full")]
    TicketArenaFull,
    /// A total below 0 or above `u32::MAX` cents (no valid booking has one).
    #[error("booking {0} has a total outside 0 to 4,294,967,295 cents")]
    TotalOutOfRange(BookingId),
}

/// Ids stored once, referred to by number.
#[derive(Clone, Debug)]
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

    /// Whether `id` has a number or one can be issued.
    fn has_room_for(&self, id: &T) -> bool {
        self.numbers.contains_key(id) || u32::try_from(self.names.len()).is_ok()
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

/// A booking's status without its time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum StatusKind {
    /// [`BookingStatus::Held`].
    Held,
    /// [`BookingStatus::Confirmed`].
    Confirmed,
    /// [`BookingStatus::Released`], explicitly.
    Released,
    /// [`BookingStatus::Released`] by expiry or by its customer.
    Lapsed,
    /// [`BookingStatus::Cancelled`].
    Cancelled,
}

impl StatusKind {
    /// The kind of `status` and its time.
    pub(super) fn split(status: BookingStatus) -> (Self, Timestamp) {
        match status {
            BookingStatus::Held { expires_at } => (Self::Held, expires_at),
            BookingStatus::Confirmed { at } => (Self::Confirmed, at),
            BookingStatus::Released { at, lapsed } => {
                (if lapsed { Self::Lapsed } else { Self::Released }, at)
            }
            BookingStatus::Cancelled { at } => (Self::Cancelled, at),
        }
    }

    /// The status of this kind at `at`.
    pub(super) fn at(self, at: Timestamp) -> BookingStatus {
        match self {
            Self::Held => BookingStatus::Held { expires_at: at },
            Self::Confirmed => BookingStatus::Confirmed { at },
            Self::Released => BookingStatus::Released { at, lapsed: false },
            Self::Lapsed => BookingStatus::Released { at, lapsed: true },
            Self::Cancelled => BookingStatus::Cancelled { at },
        }
    }
}

/// A booking's kind of status and kind of payment, in one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Kinds(u8);

/// Every [`StatusKind`], in declaration order.
const STATUS_KINDS: [StatusKind; 5] = [
    StatusKind::Held,
    StatusKind::Confirmed,
    StatusKind::Released,
    StatusKind::Lapsed,
    StatusKind::Cancelled,
];

/// Every [`PaymentKind`], in declaration order.
const PAYMENT_KINDS: [PaymentKind; 6] = [
    PaymentKind::None,
    PaymentKind::Pending,
    PaymentKind::NotCharged,
    PaymentKind::Charged,
    PaymentKind::RefundDue,
    PaymentKind::Refunded,
];

impl Kinds {
    /// Both kinds.
    fn new(status: StatusKind, payment: PaymentKind) -> Self {
        Self(status as u8 * 8 + payment as u8)
    }

    /// The kind of status.
    fn status(self) -> StatusKind {
        STATUS_KINDS[usize::from(self.0 / 8) % STATUS_KINDS.len()]
    }

    /// The kind of payment.
    fn payment(self) -> PaymentKind {
        PAYMENT_KINDS[usize::from(self.0 % 8) % PAYMENT_KINDS.len()]
    }
}

/// Where an id is in the id arena: 5 bytes, aligned to 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Text {
    /// Offset of the first byte, little-endian.
    at: [u8; 4],
    /// 0 for no id; `u8::MAX - i` for an id packed with prefix
    /// [`PACKED_PREFIXES`]`[i]`, 16 bytes; else the length in bytes plus one.
    len: u8,
}

/// Prefixes of the ids the system issues: an order id is `ord_` and a
/// transaction id `tx_`, each followed by a UUID as 32 lowercase hex
/// digits. Such an id is stored as the UUID's 16 bytes (not 35 or 36), any
/// other id as its text.
const PACKED_PREFIXES: [&str; 2] = ["ord_", "tx_"];

/// Bytes an id packed by [`pack`] takes in the arena.
const PACKED_LEN: usize = 16;

/// The longest id stored as text (ids are at most 64 characters anyway).
const MAX_TEXT_LEN: usize = u8::MAX as usize - PACKED_PREFIXES.len() - 1;

/// The length code and the 128-bit value of `id`, if it is a prefix of
/// [`PACKED_PREFIXES`] and 32 lowercase hex digits.
fn pack(id: &str) -> Option<(u8, u128)> {
    PACKED_PREFIXES
        .iter()
        .zip(0u8..)
        .find_map(|(prefix, i)| Some((i, id.strip_prefix(prefix)?)))
        .filter(|(_, hex)| {
            hex.len() == 32
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .and_then(|(i, hex)| Some((u8::MAX - i, u128::from_str_radix(hex, 16).ok()?)))
}

impl Text {
    /// Offset of the first byte.
    fn offset(self) -> u32 {
        u32::from_le_bytes(self.at)
    }
}

/// One booking as stored: 48 bytes.
#[derive(Clone, Debug)]
struct StoredBooking {
    /// Number of the show's id.
    show: u32,
    /// Number of the customer's id.
    user: u32,
    /// The seat of a one-seat booking; else where its seats start in the seat arena.
    seat: u32,
    /// Number of seats.
    seat_count: u8,
    /// See [`Booking::total_cents`]: at most ten seats at
    /// `MAX_PRICE_CENTS`, so it fits ([`stored_total`]).
    total_cents: u32,
    /// See [`Booking::created_at`].
    created_at: Timestamp,
    /// The kinds of [`Booking::status`] and [`Booking::payment`].
    kinds: Kinds,
    /// The time of the status.
    status_at: Timestamp,
    /// See [`Booking::order`].
    order: Text,
    /// The transaction of [`Booking::payment`], if it names one.
    transaction: Text,
    /// Where its ticket types and prices start in the ticket arenas;
    /// [`NO_TICKETS`] for a booking of a simple show, which has none.
    tickets: u32,
}

/// [`StoredBooking::tickets`] of a booking without ticket types and prices.
const NO_TICKETS: u32 = u32::MAX;

/// All bookings ever made.
///
/// The seats of bookings of several seats, and the order and transaction
/// ids, are kept in append-only arenas (a booking's seats and order never
/// change, and its transaction is set at most once). The arenas are
/// addressed with 32-bit offsets, so they hold up to 4 GiB of id text and
/// 4 billion seats; a booking that would not fit is refused.
#[derive(Clone, Debug, Default)]
pub(super) struct Bookings {
    /// Booking `n` at index `n - 1`.
    stored: Vec<StoredBooking>,
    /// Show ids, numbered by first booking.
    shows: Interner<ShowId>,
    /// Customer ids, numbered by first booking.
    users: Interner<UserId>,
    /// Seats of the bookings of several seats, one run per booking.
    seats: Vec<SeatNo>,
    /// Order and transaction ids, one after another (see [`Text`]).
    ids: Vec<u8>,
    /// Ticket types of the bookings of performances, one run per booking.
    ticket_types: Vec<u8>,
    /// Ticket prices, in step with `ticket_types`.
    ticket_prices: Vec<i64>,
}

impl Bookings {
    /// Number of bookings (also the highest id).
    pub(super) fn len(&self) -> u64 {
        self.stored.len() as u64
    }

    /// The booking with this id.
    pub(super) fn get(&self, id: BookingId) -> Option<Booking> {
        let stored = self.stored(id)?;
        let transaction = self
            .text(stored.transaction)
            .map(|tx| TransactionId::from(tx.into_owned()));
        let (types, prices) = self.tickets_of(stored)?;
        Some(Booking {
            id,
            show: self.shows.name(stored.show)?.clone(),
            seats: self.seats_of(stored)?,
            types,
            prices,
            user: self.users.name(stored.user)?.clone(),
            total_cents: i64::from(stored.total_cents),
            created_at: stored.created_at,
            status: stored.kinds.status().at(stored.status_at),
            order: self
                .text(stored.order)
                .map(|order| OrderId::from(order.into_owned())),
            payment: stored
                .kinds
                .payment()
                .with_transaction(transaction.as_ref())?,
        })
    }

    /// All bookings, by id.
    pub(super) fn iter(&self) -> impl Iterator<Item = Booking> + '_ {
        (1..=self.len()).filter_map(|id| self.get(BookingId(id)))
    }

    /// Stores `booking`, which must have the next id; `Err` names the
    /// problem (a wrong id, too many seats, or an arena or numbering full).
    pub(super) fn push(&mut self, booking: &Booking) -> Result<(), StoreError> {
        self.check_room(booking, 0)?;
        let total_cents = stored_total(booking)?;
        let seat_count =
            u8::try_from(booking.seats.len()).map_err(|_| StoreError::TooManySeats(booking.id))?;
        let seats_at = u32::try_from(self.seats.len()).map_err(|_| StoreError::SeatArenaFull)?;
        let tickets = self.add_tickets(booking)?;
        let seat = self.add_seats(&booking.seats, seats_at);
        let (Some(show), Some(user)) = (
            self.shows.intern(&booking.show),
            self.users.intern(&booking.user),
        ) else {
            return Err(StoreError::NumbersExhausted);
        };
        let order = match &booking.order {
            Some(order) => self.add_text(order.as_str())?,
            None => Text::default(),
        };
        let transaction = match booking.payment.transaction() {
            Some(tx) => self.add_text(tx.as_str())?,
            None => Text::default(),
        };
        let (status, status_at) = StatusKind::split(booking.status);
        self.stored.push(StoredBooking {
            show,
            user,
            seat,
            seat_count,
            total_cents,
            created_at: booking.created_at,
            kinds: Kinds::new(status, PaymentKind::of(&booking.payment)),
            status_at,
            order,
            transaction,
            tickets,
        });
        Ok(())
    }

    /// Checks, changing nothing, that `booking` can be pushed next, with
    /// room left for `extra` more seats and tickets in the arenas.
    pub(super) fn check_room(&self, booking: &Booking, extra: usize) -> Result<(), StoreError> {
        if booking.id.0 != self.len().wrapping_add(1) {
            return Err(StoreError::OutOfOrder {
                booking: booking.id,
                next: self.len().wrapping_add(1),
            });
        }
        let seat_count =
            u8::try_from(booking.seats.len()).map_err(|_| StoreError::TooManySeats(booking.id))?;
        let needed = usize::from(seat_count).saturating_add(extra);
        if u32::try_from(self.seats.len().saturating_add(needed)).is_err() {
            return Err(StoreError::SeatArenaFull);
        }
        check_tickets(booking)?;
        stored_total(booking)?;
        if !u32::try_from(self.ticket_types.len().saturating_add(needed))
            .is_ok_and(|end| end != NO_TICKETS)
        {
            return Err(StoreError::TicketArenaFull);
        }
        if !self.shows.has_room_for(&booking.show) || !self.users.has_room_for(&booking.user) {
            return Err(StoreError::NumbersExhausted);
        }
        let texts = [
            booking.order.as_ref().map(OrderId::as_str),
            booking.payment.transaction().map(TransactionId::as_str),
        ];
        self.check_text_room(texts.iter().flatten().copied())
    }

    /// Writes the seats, ticket types, prices and total of `booking` (after
    /// a return) over the stored booking with its id. All or nothing.
    pub(super) fn replace_tickets(&mut self, booking: &Booking) -> Result<(), StoreError> {
        let index = self.index_of(booking.id)?;
        let seat_count =
            u8::try_from(booking.seats.len()).map_err(|_| StoreError::TooManySeats(booking.id))?;
        check_tickets(booking)?;
        let total_cents = stored_total(booking)?;
        let seats_at = u32::try_from(self.seats.len())
            .ok()
            .filter(|at| at.checked_add(u32::from(seat_count)).is_some())
            .ok_or(StoreError::SeatArenaFull)?;
        if !u32::try_from(self.ticket_types.len() + booking.seats.len())
            .is_ok_and(|end| end != NO_TICKETS)
        {
            return Err(StoreError::TicketArenaFull);
        }
        let tickets = self.add_tickets(booking)?;
        let seat = self.add_seats(&booking.seats, seats_at);
        let stored = &mut self.stored[index];
        stored.seat = seat;
        stored.seat_count = seat_count;
        stored.tickets = tickets;
        stored.total_cents = total_cents;
        Ok(())
    }

    /// Where a booking of `seats` keeps them: the seat itself for one seat,
    /// else `seats_at`, the end of the seat arena, where they are appended.
    fn add_seats(&mut self, seats: &[SeatNo], seats_at: u32) -> u32 {
        match seats {
            [seat] => seat.0,
            seats => {
                self.seats.extend_from_slice(seats);
                seats_at
            }
        }
    }

    /// Appends `booking`'s ticket types and prices, if it has any; returns
    /// where they start ([`NO_TICKETS`] if none).
    fn add_tickets(&mut self, booking: &Booking) -> Result<u32, StoreError> {
        if booking.types.is_empty() {
            return Ok(NO_TICKETS);
        }
        let at = u32::try_from(self.ticket_types.len())
            .ok()
            .filter(|&at| at < NO_TICKETS)
            .ok_or(StoreError::TicketArenaFull)?;
        self.ticket_types.extend_from_slice(&booking.types);
        self.ticket_prices.extend_from_slice(&booking.prices);
        Ok(at)
    }

    /// The ticket types and prices of `stored` (both empty if it has none).
    fn tickets_of(&self, stored: &StoredBooking) -> Option<(Vec<u8>, Vec<i64>)> {
        if stored.tickets == NO_TICKETS {
            return Some((Vec::new(), Vec::new()));
        }
        let start = usize::try_from(stored.tickets).ok()?;
        let end = start.checked_add(usize::from(stored.seat_count))?;
        Some((
            self.ticket_types.get(start..end)?.to_vec(),
            self.ticket_prices.get(start..end)?.to_vec(),
        ))
    }

    /// Writes the status and payment of `booking` (the only fields that
    /// change after creation) over the stored booking with its id.
    ///
    /// Fails, changing nothing, only if a new transaction id does not fit
    /// in the arena; keeping a booking's transaction never fails.
    pub(super) fn update(&mut self, booking: &Booking) -> Result<(), StoreError> {
        let index = self.index_of(booking.id)?;
        let tx = booking.payment.transaction().map(TransactionId::as_str);
        let transaction = match (tx, self.text(self.stored[index].transaction)) {
            (Some(new), Some(old)) if new == &*old => self.stored[index].transaction,
            (Some(new), _) => self.add_text(new)?,
            (None, _) => Text::default(),
        };
        let (status, status_at) = StatusKind::split(booking.status);
        let stored = &mut self.stored[index];
        stored.kinds = Kinds::new(status, PaymentKind::of(&booking.payment));
        stored.status_at = status_at;
        stored.transaction = transaction;
        Ok(())
    }

    /// The index of the stored booking with this id.
    fn index_of(&self, id: BookingId) -> Result<usize, StoreError> {
        usize::try_from(id.0)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .filter(|&index| index < self.stored.len())
            .ok_or(StoreError::NotStored(id))
    }

    /// The stored booking with this id.
    fn stored(&self, id: BookingId) -> Option<&StoredBooking> {
        let index = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.stored.get(index)
    }

    /// The seats of `stored`, ascending.
    fn seats_of(&self, stored: &StoredBooking) -> Option<Vec<SeatNo>> {
        if stored.seat_count == 1 {
            return Some(vec![SeatNo(stored.seat)]);
        }
        let start = usize::try_from(stored.seat).ok()?;
        self.seats
            .get(start..start.checked_add(usize::from(stored.seat_count))?)
            .map(<[SeatNo]>::to_vec)
    }

    /// The id at `text`, if any.
    fn text(&self, text: Text) -> Option<Cow<'_, str>> {
        let start = usize::try_from(text.offset()).ok()?;
        let prefix = usize::from(u8::MAX - text.len);
        if let Some(prefix) = PACKED_PREFIXES.get(prefix) {
            let bytes = self.ids.get(start..start.checked_add(PACKED_LEN)?)?;
            let value = u128::from_be_bytes(bytes.try_into().ok()?);
            return Some(Cow::Owned(format!("{prefix}{value:032x}")));
        }
        let len = usize::from(text.len.checked_sub(1)?);
        let bytes = self.ids.get(start..start.checked_add(len)?)?;
        std::str::from_utf8(bytes).ok().map(Cow::Borrowed)
    }

    /// Checks that `values` fit in the id arena, one after another.
    fn check_text_room<'a>(&self, values: impl Iterator<Item = &'a str>) -> Result<(), StoreError> {
        let mut end = self.ids.len();
        for value in values {
            let len = match pack(value) {
                Some(_) => PACKED_LEN,
                None if value.len() > MAX_TEXT_LEN => {
                    return Err(StoreError::IdTooLong(value.to_owned()));
                }
                None => value.len(),
            };
            end = end.saturating_add(len);
        }
        u32::try_from(end)
            .map(|_| ())
            .map_err(|_| StoreError::IdArenaFull)
    }

    /// Appends `value` to the id arena, packed if it can be.
    fn add_text(&mut self, value: &str) -> Result<Text, StoreError> {
        let packed = pack(value);
        let (len, bytes) = match &packed {
            Some((code, number)) => (*code, Cow::Owned(number.to_be_bytes().to_vec())),
            None => (
                u8::try_from(value.len())
                    .ok()
                    .filter(|_| value.len() <= MAX_TEXT_LEN)
                    .and_then(|len| len.checked_add(1))
                    .ok_or_else(|| StoreError::IdTooLong(value.to_owned()))?,
                Cow::Borrowed(value.as_bytes()),
            ),
        };
        let at = u32::try_from(self.ids.len())
            .ok()
            .filter(|at| u32::try_from(bytes.len()).is_ok_and(|n| at.checked_add(n).is_some()))
            .ok_or(StoreError::IdArenaFull)?;
        self.ids.extend_from_slice(&bytes);
        Ok(Text {
            at: at.to_le_bytes(),
            len,
        })
    }
}

/// `booking`'s total as stored: 0 to `u32::MAX` cents (a booking holds at
/// most ten seats of at most `MAX_PRICE_CENTS`, a million in major units).
fn stored_total(booking: &Booking) -> Result<u32, StoreError> {
    u32::try_from(booking.total_cents).map_err(|_| StoreError::TotalOutOfRange(booking.id))
}

/// Checks that `booking` has a type and a price for each seat, or neither.
fn check_tickets(booking: &Booking) -> Result<(), StoreError> {
    let none = booking.types.is_empty() && booking.prices.is_empty();
    let each =
        booking.types.len() == booking.seats.len() && booking.prices.len() == booking.seats.len();
    if none || each {
        Ok(())
    } else {
        Err(StoreError::TicketsMismatch(booking.id))
    }
}

/// Two stores are equal when they hold equal bookings, however their
/// arenas are laid out (a live state appends a transaction when it is
/// set, a restored one with its booking).
impl PartialEq for Bookings {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
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

#[cfg(test)]
mod tests;
