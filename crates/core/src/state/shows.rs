//! Shows and their seats: the [`Show`] entity with its [`SeatMap`] and
//! counters, and the commands that create and change shows.

use serde::{Deserialize, Serialize};

use super::{SeatMap, State};
use crate::ids::{BookingId, SeatNo, ShowId, Timestamp};
use crate::outcome::{Effect, Outcome, Rejection};
use crate::validate::normalize_title;

/// The state of one seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seat {
    /// Free to hold or book.
    Available,
    /// Held by this booking, awaiting payment.
    Held(BookingId),
    /// Sold to this booking.
    Booked(BookingId),
}

/// A show and the state of each of its seats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Show {
    /// The show's id.
    pub id: ShowId,
    /// Human-readable title.
    pub title: String,
    /// Current price of one seat, in cents.
    pub price_cents: i64,
    /// When the show starts; sales stop at this instant.
    pub starts_at: Timestamp,
    /// Seat states; index `i` is seat `i + 1`.
    pub seats: SeatMap,
    /// Number of seats in [`Seat::Held`].
    pub held: u32,
    /// Number of seats in [`Seat::Booked`].
    pub booked: u32,
}

impl Show {
    /// Number of seats in the show.
    pub fn seat_count(&self) -> u32 {
        u32::try_from(self.seats.len()).unwrap_or(u32::MAX)
    }

    /// Number of seats neither held nor booked.
    pub fn available(&self) -> u32 {
        self.seat_count()
            .saturating_sub(self.held)
            .saturating_sub(self.booked)
    }

    /// State of seat `no`, or `None` if the show has no such seat.
    pub fn seat(&self, no: SeatNo) -> Option<Seat> {
        self.index_of(no).and_then(|index| self.seats.get(index))
    }

    /// The show without its seat map.
    pub fn summary(&self) -> ShowSummary {
        ShowSummary {
            id: self.id.clone(),
            title: self.title.clone(),
            seat_count: self.seat_count(),
            price_cents: self.price_cents,
            starts_at: self.starts_at,
            available: self.available(),
            held: self.held,
            booked: self.booked,
        }
    }

    /// Index of seat `no` in `seats`, if the seat exists.
    fn index_of(&self, no: SeatNo) -> Option<usize> {
        let index = usize::try_from(no.0).ok()?.checked_sub(1)?;
        (index < self.seats.len()).then_some(index)
    }

    /// Sets seat `no` to `new` if it is currently `old`, keeping the counters in step.
    ///
    /// Returns whether the seat changed. The guard makes releasing a booking
    /// harmless for seats it no longer occupies.
    pub(super) fn transition(&mut self, no: SeatNo, old: Seat, new: Seat) -> bool {
        let Some(index) = self
            .index_of(no)
            .filter(|&index| self.seats.get(index) == Some(old))
        else {
            return false;
        };
        if !self.seats.set(index, new) {
            return false;
        }
        match old {
            Seat::Available => {}
            Seat::Held(_) => self.held = self.held.saturating_sub(1),
            Seat::Booked(_) => self.booked = self.booked.saturating_sub(1),
        }
        match new {
            Seat::Available => {}
            Seat::Held(_) => self.held = self.held.saturating_add(1),
            Seat::Booked(_) => self.booked = self.booked.saturating_add(1),
        }
        true
    }
}

/// A show's public facts and seat counts, without the seat map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowSummary {
    /// The show's id.
    pub id: ShowId,
    /// Human-readable title.
    pub title: String,
    /// Number of seats.
    pub seat_count: u32,
    /// Current price of one seat, in cents.
    pub price_cents: i64,
    /// When the show starts.
    pub starts_at: Timestamp,
    /// Seats neither held nor booked.
    pub available: u32,
    /// Seats held awaiting payment.
    pub held: u32,
    /// Seats sold.
    pub booked: u32,
}

impl State {
    /// `CreateShow`.
    pub(super) fn create_show(
        &mut self,
        id: &ShowId,
        title: &str,
        seat_count: u32,
        price_cents: i64,
        starts_at: Timestamp,
    ) -> Outcome {
        if self.shows.contains_key(id) {
            return Err(Rejection::ShowExists(id.clone()));
        }
        let show = Show {
            id: id.clone(),
            title: normalize_title(title)?.to_owned(),
            price_cents,
            starts_at,
            seats: SeatMap::available(seat_len(seat_count)?),
            held: 0,
            booked: 0,
        };
        let summary = show.summary();
        self.shows.insert(id.clone(), show);
        Ok(Effect::Show(summary))
    }

    /// `UpdateShow`.
    pub(super) fn update_show(
        &mut self,
        id: &ShowId,
        title: Option<&str>,
        seat_count: Option<u32>,
        price_cents: Option<i64>,
        starts_at: Option<Timestamp>,
    ) -> Outcome {
        let show = self
            .shows
            .get_mut(id)
            .ok_or_else(|| Rejection::ShowNotFound(id.clone()))?;
        let title = title.map(normalize_title).transpose()?;
        let new_len = seat_count.map(seat_len).transpose()?;
        if let (Some(seat_count), Some(new_len)) = (seat_count, new_len)
            && let Some(offset) = show
                .seats
                .iter()
                .skip(new_len)
                .position(|seat| seat != Seat::Available)
        {
            // `offset` counts from the first removed seat, whose index is `new_len`.
            let seat = new_len
                .checked_add(offset)
                .and_then(|index| index.checked_add(1))
                .and_then(|no| u32::try_from(no).ok())
                .map(SeatNo)
                .ok_or_else(|| Rejection::Invalid("seat_count out of range".to_owned()))?;
            return Err(Rejection::SeatInUse {
                show: id.clone(),
                seat_count,
                seat,
            });
        }
        // Every check has passed; mutate.
        if let Some(title) = title {
            show.title = title.to_owned();
        }
        if let Some(new_len) = new_len {
            show.seats.resize(new_len);
        }
        if let Some(price_cents) = price_cents {
            show.price_cents = price_cents;
        }
        if let Some(starts_at) = starts_at {
            show.starts_at = starts_at;
        }
        Ok(Effect::Show(show.summary()))
    }
}

/// Converts a validated seat count to a seat map length.
fn seat_len(seat_count: u32) -> Result<usize, Rejection> {
    usize::try_from(seat_count)
        .map_err(|_| Rejection::Invalid("seat_count does not fit in memory".to_owned()))
}
