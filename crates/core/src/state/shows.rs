//! Shows and their seats: the [`Show`] entity with its [`SeatMap`] and
//! counters, and the commands that create and change shows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{SeatMap, State};
use crate::command::SalesWindow;
use crate::ids::{BookingId, ProductionId, SeatNo, ShowId, Timestamp, VenueId};
use crate::outcome::{Effect, Outcome, Rejection};
use crate::pricing::Pricing;
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
    /// Held back from sale by the box office (house seats, press, a
    /// sight-line kill); the reason is in [`Show::held_back`].
    HeldBack,
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
    /// What makes it a performance: its production, venue, sales window,
    /// prices and state. `None` for a simple show (its own production, one
    /// row of seats `1..=seat_count`, one price).
    pub performance: Option<Box<Performance>>,
    /// Seats held back from sale ([`Seat::HeldBack`]), with the reason.
    pub held_back: BTreeMap<SeatNo, String>,
}

/// A performance's facts beyond a simple show's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Performance {
    /// The production it is a performance of.
    pub production: ProductionId,
    /// The venue it is at; its places are the venue's, numbered as
    /// [`crate::VenueIndex`] numbers them.
    pub venue: VenueId,
    /// When it is on sale.
    pub sales: SalesWindow,
    /// When it was cancelled, if it was.
    pub cancelled_at: Option<Timestamp>,
    /// Its categories, ticket types and prices.
    pub pricing: Pricing,
}

/// Where a performance is in its life, at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PerformanceState {
    /// Not on sale yet (its sales open later).
    Scheduled,
    /// On sale.
    OnSale,
    /// Sales have closed, but it has not started.
    OffSale,
    /// Cancelled.
    Cancelled,
    /// It has started (or is over).
    Past,
}

impl PerformanceState {
    /// Lower-case name, as the APIs write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::OnSale => "on sale",
            Self::OffSale => "off sale",
            Self::Cancelled => "cancelled",
            Self::Past => "past",
        }
    }
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
            .saturating_sub(u32::try_from(self.held_back.len()).unwrap_or(u32::MAX))
    }

    /// State of seat `no`, or `None` if the show has no such seat.
    pub fn seat(&self, no: SeatNo) -> Option<Seat> {
        self.index_of(no).and_then(|index| self.seats.get(index))
    }

    /// Where the show is in its life at `now`.
    pub fn state_at(&self, now: Timestamp) -> PerformanceState {
        let performance = self.performance.as_deref();
        if performance.is_some_and(|p| p.cancelled_at.is_some()) {
            return PerformanceState::Cancelled;
        }
        if self.starts_at <= now {
            return PerformanceState::Past;
        }
        let sales = performance.map(|p| p.sales).unwrap_or_default();
        if sales.opens_at.is_some_and(|opens| now < opens) {
            PerformanceState::Scheduled
        } else if sales.closes_at.is_some_and(|closes| closes <= now) {
            PerformanceState::OffSale
        } else {
            PerformanceState::OnSale
        }
    }

    /// The price of a ticket of type `ticket_type` for place `no`, if sold.
    pub fn price(&self, no: SeatNo, ticket_type: crate::TicketType) -> Option<i64> {
        match &self.performance {
            Some(performance) => performance.pricing.price(no, ticket_type),
            None => (ticket_type == 0).then_some(self.price_cents),
        }
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
            held_back: u32::try_from(self.held_back.len()).unwrap_or(u32::MAX),
            production: self.performance.as_ref().map(|p| p.production.clone()),
            venue: self.performance.as_ref().map(|p| p.venue.clone()),
            cancelled: self
                .performance
                .as_ref()
                .is_some_and(|p| p.cancelled_at.is_some()),
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
            Seat::Available | Seat::HeldBack => {}
            Seat::Held(_) => self.held = self.held.saturating_sub(1),
            Seat::Booked(_) => self.booked = self.booked.saturating_sub(1),
        }
        match new {
            Seat::Available | Seat::HeldBack => {}
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
    /// Seats held back from sale.
    pub held_back: u32,
    /// The production, for a performance (`None` for a simple show).
    pub production: Option<ProductionId>,
    /// The venue, for a performance (`None` for a simple show).
    pub venue: Option<VenueId>,
    /// Whether it was cancelled.
    pub cancelled: bool,
}

impl ShowSummary {
    /// The production it belongs to: a performance's, or a simple show's
    /// own, under the show's id (the old contract's show is a production
    /// of one performance; see [`State::catalogue`]).
    pub fn production_id(&self) -> ProductionId {
        self.production
            .clone()
            .unwrap_or_else(|| ProductionId(self.id.0.clone()))
    }
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
        // A simple show is a production under its own id.
        let production = ProductionId(id.0.clone());
        if self.productions.contains_key(&production) {
            return Err(Rejection::ProductionExists(production));
        }
        let show = Show {
            id: id.clone(),
            title: normalize_title(title)?.to_owned(),
            price_cents,
            starts_at,
            seats: SeatMap::available(seat_len(seat_count)?),
            held: 0,
            booked: 0,
            performance: None,
            held_back: BTreeMap::new(),
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
        if show.performance.is_some() && (seat_count.is_some() || price_cents.is_some()) {
            return Err(Rejection::Invalid(format!(
                "{id} is a performance at a venue: its places come from the venue and its \
                 prices from its price categories"
            )));
        }
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
