//! The active-seat index: how many seats each user has in active (held or
//! confirmed) bookings of each show, and how many of them are held, over
//! all shows.
//!
//! The seat caps of `Hold` and `Book` read it instead of scanning the
//! user's booking history. It is derived data: the state keeps it in step
//! with every booking that starts, is confirmed, or ends, rebuilds it from
//! the bookings when a snapshot is restored (it is not written), and
//! [`State::check_invariants`](super::State::check_invariants) checks it
//! against a recount. Users and shows with no active seat have no entry,
//! so its size follows the active bookings, not the history.

use std::collections::BTreeMap;

use super::{Booking, BookingStatus};
use crate::ids::{ShowId, UserId};

/// One user's active seats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct UserSeats {
    /// Seats in held bookings, over all shows.
    held: u32,
    /// Seats in held or confirmed bookings, by show, sorted by show; never
    /// 0. A sorted vector, not a map: most users are in one show or a
    /// few, and a map allocates room for eleven entries for its first
    /// (about 400 bytes a user, 24 MiB for 50,000 customers).
    by_show: Vec<(ShowId, u32)>,
}

impl UserSeats {
    /// Where `show`'s count is, or would be inserted.
    fn find(&self, show: &ShowId) -> Result<usize, usize> {
        self.by_show.binary_search_by(|(s, _)| s.cmp(show))
    }
}

/// The active seats of every user who has any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ActiveSeats(BTreeMap<UserId, UserSeats>);

impl ActiveSeats {
    /// The index of `bookings`, recounted.
    pub(super) fn of(bookings: impl IntoIterator<Item = Booking>) -> Self {
        let mut index = Self::default();
        for booking in bookings {
            index.add(&booking);
        }
        index
    }

    /// Seats `user` has in active bookings of `show`.
    pub(super) fn in_show(&self, user: &UserId, show: &ShowId) -> u32 {
        self.0
            .get(user)
            .and_then(|seats| Some(seats.by_show[seats.find(show).ok()?].1))
            .unwrap_or(0)
    }

    /// Seats `user` has in held bookings, over all shows.
    pub(super) fn held(&self, user: &UserId) -> u32 {
        self.0.get(user).map_or(0, |seats| seats.held)
    }

    /// Counts `booking` as it now is (nothing if it is not active).
    pub(super) fn add(&mut self, booking: &Booking) {
        let Some(held) = Self::held_flag(booking) else {
            return;
        };
        let count = seat_count(booking);
        let seats = self.0.entry(booking.user.clone()).or_default();
        match seats.find(&booking.show) {
            Ok(at) => seats.by_show[at].1 = seats.by_show[at].1.saturating_add(count),
            Err(at) => seats.by_show.insert(at, (booking.show.clone(), count)),
        }
        if held {
            seats.held = seats.held.saturating_add(count);
        }
    }

    /// Stops counting `booking` as it was when counted.
    pub(super) fn remove(&mut self, booking: &Booking) {
        let Some(held) = Self::held_flag(booking) else {
            return;
        };
        let count = seat_count(booking);
        let Some(seats) = self.0.get_mut(&booking.user) else {
            return;
        };
        if let Ok(at) = seats.find(&booking.show) {
            let in_show = &mut seats.by_show[at].1;
            *in_show = in_show.saturating_sub(count);
            if *in_show == 0 {
                seats.by_show.remove(at);
            }
        }
        if held {
            seats.held = seats.held.saturating_sub(count);
        }
        if seats.by_show.is_empty() {
            self.0.remove(&booking.user);
        }
    }

    /// Counts `booking`, held until now and confirmed, as confirmed: its
    /// seats stay active but are no longer held.
    pub(super) fn confirm(&mut self, booking: &Booking) {
        if let Some(seats) = self.0.get_mut(&booking.user) {
            seats.held = seats.held.saturating_sub(seat_count(booking));
        }
    }

    /// `Some(held?)` if `booking` is active, `None` if it is not.
    fn held_flag(booking: &Booking) -> Option<bool> {
        match booking.status {
            BookingStatus::Held { .. } => Some(true),
            BookingStatus::Confirmed { .. } => Some(false),
            BookingStatus::Released { .. } | BookingStatus::Cancelled { .. } => None,
        }
    }
}

/// The number of seats of `booking` (at most `MAX_SEATS_PER_BOOKING`).
fn seat_count(booking: &Booking) -> u32 {
    u32::try_from(booking.seats.len()).unwrap_or(u32::MAX)
}
