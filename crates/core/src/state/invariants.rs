//! The invariants of the state, checked in full ([`State::check_invariants`])
//! after every step of the property tests and on every restored snapshot.

use super::accounts::{build_admin_index, build_email_index, user_number};
use super::active::ActiveSeats;
use super::booking::{build_booking_indexes, build_unsettled_index};
use super::{
    Booking, BookingStatus, MAX_TICKET_KEY_IDS, MAX_TICKET_KEYS, Payment, Seat, Show, State,
    TicketRef, User,
};
use crate::ids::{BookingId, MAX_SEATS_PER_SHOW, SeatNo, ShowId, UserId};
use crate::validate::{check_password_hash, normalize_email};

/// A broken invariant of the state: which, and where, described for the
/// operator (the state machine never produces one; a corrupt snapshot or a
/// bug does).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Inconsistency(String);

impl Inconsistency {
    /// An inconsistency described by `problem`.
    pub(crate) fn new(problem: impl Into<String>) -> Self {
        Self(problem.into())
    }
}

/// An [`Inconsistency`] described by a `format!`.
macro_rules! inconsistent {
    ($($arg:tt)*) => {
        $crate::state::Inconsistency::new(format!($($arg)*))
    };
}
pub(super) use inconsistent;

impl State {
    /// Full consistency check of seats, bookings, counters and indexes.
    ///
    /// Returns a description of the first violation found. It checks that
    /// every held or booked seat names an existing booking of that show
    /// whose status matches and which lists that seat; that every held or
    /// confirmed booking's seats name it back (together, these mean no seat
    /// belongs to two active bookings); that the `held` and `booked`
    /// counters match the seat map and fit within the seat count; that every
    /// account is stored under its id, has an issued id (`u1` to the user
    /// counter), a normalised valid email, a well-formed password hash and a
    /// creation time not after the clock; that no two accounts share an
    /// email; and that the booking-by-user, expiry, unsettled, active-seat,
    /// email, administrator and dedup indexes match the data they index.
    pub fn check_invariants(&self) -> Result<(), Inconsistency> {
        for (key, user) in &self.users {
            self.check_user(key, user)?;
        }
        if build_email_index(&self.users)? != self.by_email {
            return Err(Inconsistency::new("email index does not match the users"));
        }
        if build_admin_index(&self.users) != self.admins {
            return Err(Inconsistency::new(
                "administrator index does not match the users",
            ));
        }
        for (key, show) in &self.shows {
            self.check_show(key, show)?;
        }
        for (key, room) in &self.rooms {
            if room.show() != key || !self.shows.contains_key(key) {
                return Err(inconsistent!(
                    "the waiting room of {key} has no performance"
                ));
            }
            room.check().map_err(Inconsistency::new)?;
        }
        self.check_lists().map_err(Inconsistency::new)?;
        if self.bookings.len() != self.last_booking_id {
            return Err(inconsistent!(
                "{} bookings are stored but {} ids were issued",
                self.bookings.len(),
                self.last_booking_id
            ));
        }
        for id in (1..=self.last_booking_id).map(BookingId) {
            let booking = self
                .bookings
                .get(id)
                .ok_or_else(|| inconsistent!("booking {id} cannot be read back"))?;
            self.check_booking(&booking)?;
        }
        let (by_user, hold_expiry) = build_booking_indexes(self.bookings.iter());
        if by_user != self.by_user {
            return Err(Inconsistency::new("user index does not match the bookings"));
        }
        if hold_expiry != self.hold_expiry {
            return Err(Inconsistency::new(
                "expiry index does not match the held bookings",
            ));
        }
        if build_unsettled_index(self.bookings.iter()) != self.unsettled {
            return Err(Inconsistency::new(
                "unsettled index does not match the bookings",
            ));
        }
        if ActiveSeats::of(self.bookings.iter()) != self.active {
            return Err(Inconsistency::new(
                "active-seat index does not match the bookings",
            ));
        }
        self.networks
            .check(&self.bookings)
            .map_err(Inconsistency::new)?;
        self.cards
            .check(&self.bookings)
            .map_err(Inconsistency::new)?;
        self.check_doors()?;
        self.dedup.check()
    }

    /// Every admission and reissued version is of a place its booking
    /// holds (a booking of a cancelled performance keeps its places), and
    /// every conflict's first admission is the one recorded.
    fn check_doors(&self) -> Result<(), Inconsistency> {
        let holds = |ticket: &TicketRef| {
            self.bookings
                .get(ticket.booking)
                .is_some_and(|b| b.seats.binary_search(&ticket.place).is_ok())
        };
        for (ticket, _) in self.doors.entries() {
            if !holds(ticket) {
                return Err(inconsistent!(
                    "ticket {}-{} came in but its booking does not hold that place",
                    ticket.booking,
                    ticket.place
                ));
            }
        }
        for ticket in self.doors.reissued() {
            if !holds(ticket) {
                return Err(inconsistent!(
                    "ticket {}-{} was reissued but its booking does not hold that place",
                    ticket.booking,
                    ticket.place
                ));
            }
        }
        for (user, scope) in self.doors.staff() {
            if !self.users.contains_key(user) {
                return Err(inconsistent!("door staff {user} at {scope} has no account"));
            }
        }
        for conflict in self.doors.conflicts() {
            if self.doors.entry(conflict.ticket).is_none() {
                return Err(inconsistent!(
                    "conflict of ticket {}-{} but the ticket never came in",
                    conflict.ticket.booking,
                    conflict.ticket.place
                ));
            }
        }
        for (ticket, _) in self.doors.exits() {
            if self.doors.entry(*ticket).is_none() {
                return Err(inconsistent!(
                    "ticket {}-{} went out but never came in",
                    ticket.booking,
                    ticket.place
                ));
            }
        }
        for (ticket, holder) in self.doors.holders() {
            if !self.users.contains_key(&holder.user) {
                return Err(inconsistent!(
                    "ticket {}-{} is held by {}, who has no account",
                    ticket.booking,
                    ticket.place,
                    holder.user
                ));
            }
            if holder.since == 0 || holder.since > self.doors.version(*ticket) {
                return Err(inconsistent!(
                    "ticket {}-{} was transferred at version {}, not below its current one",
                    ticket.booking,
                    ticket.place,
                    holder.since
                ));
            }
        }
        if !self.doors.index_matches() {
            return Err(inconsistent!("the index of ticket holders is stale"));
        }
        if let Some(kid) = self
            .doors
            .retired_keys()
            .iter()
            .find(|kid| self.doors.keys().contains_key(*kid))
        {
            return Err(inconsistent!(
                "ticket key {kid} is both trusted and retired"
            ));
        }
        let ids = self.doors.keys().len() + self.doors.retired_keys().len();
        if self.doors.keys().len() > MAX_TICKET_KEYS || ids > MAX_TICKET_KEY_IDS {
            return Err(inconsistent!(
                "{ids} ticket key ids ({} trusted), past the bounds",
                self.doors.keys().len()
            ));
        }
        Ok(())
    }

    /// Checks one account's fields.
    fn check_user(&self, key: &UserId, user: &User) -> Result<(), Inconsistency> {
        let id = &user.id;
        if key != id {
            return Err(inconsistent!("user {id} is stored under key {key}"));
        }
        if !user_number(id).is_some_and(|n| (1..=self.last_user_id).contains(&n)) {
            return Err(inconsistent!(
                "user {id} is not an issued id (u1 to u{})",
                self.last_user_id
            ));
        }
        if normalize_email(&user.email).as_deref() != Ok(user.email.as_str()) {
            return Err(inconsistent!(
                "user {id} has an invalid or unnormalised email"
            ));
        }
        if check_password_hash(&user.password_hash).is_err() {
            return Err(inconsistent!("user {id} has a malformed password hash"));
        }
        if user.created_at > self.now {
            return Err(inconsistent!(
                "user {id} was created after the clock's time"
            ));
        }
        Ok(())
    }

    /// Checks one show's seat map and counters against the bookings.
    fn check_show(&self, key: &ShowId, show: &Show) -> Result<(), Inconsistency> {
        if *key != show.id {
            return Err(inconsistent!("show {} is stored under key {key}", show.id));
        }
        let seat_count = show.seat_count();
        if !(1..=MAX_SEATS_PER_SHOW).contains(&seat_count) {
            return Err(inconsistent!("show {key} has {} seats", show.seats.len()));
        }
        if let Some(performance) = &show.performance {
            let venue = self.venues.get(&performance.venue).ok_or_else(|| {
                inconsistent!(
                    "performance {key} is at unknown venue {}",
                    performance.venue
                )
            })?;
            if venue.place_count() != seat_count
                || performance.pricing.place_category.len() != show.seats.len()
            {
                return Err(inconsistent!(
                    "performance {key} has {seat_count} places but its venue {} has {}",
                    performance.venue,
                    venue.place_count()
                ));
            }
            if !self.productions.contains_key(&performance.production) {
                return Err(inconsistent!(
                    "performance {key} is of unknown production {}",
                    performance.production
                ));
            }
        }
        let (mut held, mut booked, mut held_back) = (0u32, 0u32, 0usize);
        for (no, seat) in (1..=seat_count).map(SeatNo).zip(show.seats.iter()) {
            let id = match seat {
                Seat::Available => continue,
                Seat::HeldBack => {
                    if !show.held_back.contains_key(&no) {
                        return Err(inconsistent!(
                            "show {key} seat {no} is held back for no reason"
                        ));
                    }
                    held_back += 1;
                    continue;
                }
                Seat::Held(id) => {
                    held = held.saturating_add(1);
                    id
                }
                Seat::Booked(id) => {
                    booked = booked.saturating_add(1);
                    id
                }
            };
            let booking = self
                .bookings
                .get(id)
                .ok_or_else(|| inconsistent!("show {key} seat {no} names missing booking {id}"))?;
            if booking.show != show.id {
                return Err(inconsistent!(
                    "show {key} seat {no} names booking {id} of show {}",
                    booking.show
                ));
            }
            if booking.seat_state() != Some(seat) {
                return Err(inconsistent!(
                    "show {key} seat {no} is {seat:?} but booking {id} is {}",
                    booking.status
                ));
            }
            if booking.seats.binary_search(&no).is_err() {
                return Err(inconsistent!(
                    "show {key} seat {no} names booking {id}, which does not list it"
                ));
            }
        }
        if held_back != show.held_back.len() {
            return Err(inconsistent!(
                "show {key} lists {} held-back seats but {held_back} are held back",
                show.held_back.len()
            ));
        }
        if (held, booked) != (show.held, show.booked) {
            return Err(inconsistent!(
                "show {key} counts {} held and {} booked but its seats show {held} and {booked}",
                show.held,
                show.booked
            ));
        }
        if u64::from(held) + u64::from(booked) > u64::from(seat_count) {
            return Err(inconsistent!("show {key} has more seats taken than it has"));
        }
        Ok(())
    }

    /// Checks that a booking of a performance has a type and a price for
    /// each ticket, each price its category's price for its type, adding
    /// up to the total; and that one of a simple show has neither.
    fn check_tickets(&self, booking: &Booking) -> Result<(), Inconsistency> {
        let id = booking.id;
        let show = self
            .shows
            .get(&booking.show)
            .ok_or_else(|| inconsistent!("booking {id} is of unknown show {}", booking.show))?;
        if show.performance.is_none() {
            if booking.types.is_empty() && booking.prices.is_empty() {
                return Ok(());
            }
            return Err(inconsistent!(
                "booking {id} of a simple show has ticket types"
            ));
        }
        if booking.types.len() != booking.seats.len() || booking.prices.len() != booking.seats.len()
        {
            return Err(inconsistent!(
                "booking {id} lacks a type or price per ticket"
            ));
        }
        for (i, &no) in booking.seats.iter().enumerate() {
            if show.price(no, booking.types[i]) != Some(booking.prices[i]) {
                return Err(inconsistent!(
                    "booking {id} prices seat {no} at {} cents, not its category's price",
                    booking.prices[i]
                ));
            }
        }
        if booking.prices.iter().sum::<i64>() != booking.total_cents {
            return Err(inconsistent!(
                "booking {id}'s prices do not add up to its total"
            ));
        }
        Ok(())
    }

    /// Checks one booking's fields and, if active, that its seats name it.
    fn check_booking(&self, booking: &Booking) -> Result<(), Inconsistency> {
        let id = booking.id;
        if id.0 == 0 || id.0 > self.last_booking_id {
            return Err(inconsistent!(
                "booking {id} is outside the issued range 1 to {}",
                self.last_booking_id
            ));
        }
        if booking.seats.is_empty() || booking.seats.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(inconsistent!(
                "booking {id} seats are empty or not strictly ascending"
            ));
        }
        if booking.total_cents < 0 {
            return Err(inconsistent!("booking {id} has a negative total"));
        }
        self.check_tickets(booking)?;
        booking.check_payment()?;
        let show = self.shows.get(&booking.show).ok_or_else(|| {
            inconsistent!("booking {id} belongs to missing show {}", booking.show)
        })?;
        if let Some(expected) = booking.seat_state() {
            for &no in &booking.seats {
                if show.seat(no) != Some(expected) {
                    return Err(inconsistent!(
                        "booking {id} is {} but seat {no} of show {} is {:?}",
                        booking.status,
                        show.id,
                        show.seat(no)
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Booking {
    /// Checks that the payment fits the status and the order.
    fn check_payment(&self) -> Result<(), Inconsistency> {
        let fits = matches!(
            (&self.status, &self.payment),
            (
                BookingStatus::Confirmed { .. } | BookingStatus::Cancelled { .. },
                Payment::None
            ) | (BookingStatus::Held { .. }, Payment::Pending)
                | (BookingStatus::Confirmed { .. }, Payment::Charged(_))
                | (
                    BookingStatus::Released { .. },
                    Payment::Pending
                        | Payment::NotCharged
                        | Payment::RefundDue(_)
                        | Payment::Refunded(_),
                )
                | (
                    BookingStatus::Cancelled { .. },
                    Payment::RefundDue(_) | Payment::Refunded(_)
                )
        );
        let ordered = self.order.is_some() || self.payment == Payment::None;
        if fits && ordered {
            Ok(())
        } else {
            Err(inconsistent!(
                "booking {} is {} with payment {} and {} order",
                self.id,
                self.status,
                self.payment.name(),
                if self.order.is_some() { "an" } else { "no" }
            ))
        }
    }
}
