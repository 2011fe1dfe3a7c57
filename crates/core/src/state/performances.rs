//! Venues, productions and performances: storing a venue's layout,
//! creating a production, adding a run of performances with their prices,
//! cancelling one (every order refunded through the checkout saga), and
//! holding seats back from sale.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::shows::Performance;
use super::{Seat, SeatMap, Show, State};
use crate::command::{NewPerformance, SalesWindow};
use crate::ids::{BookingId, ProductionId, SeatNo, ShowId, VenueId};
use crate::outcome::{Effect, Outcome, Rejection};
use crate::pricing::{Pricing, PricingSpec};
use crate::validate::normalize_title;
use crate::venue::{Venue, VenueIndex};

/// A production: a work with a run of performances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Production {
    /// The production's id.
    pub id: ProductionId,
    /// Its title.
    pub title: String,
    /// A description for buyers.
    pub description: String,
    /// Running time in minutes (0 if not known).
    pub running_minutes: u32,
}

/// A venue as listed: its id, name and counts, without the layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueSummary {
    /// The venue's id.
    pub id: VenueId,
    /// Its name.
    pub name: String,
    /// Number of seats.
    pub seats: u32,
    /// Number of standing places.
    pub standing: u32,
    /// Number of sections.
    pub sections: u32,
    /// Number of standing areas.
    pub areas: u32,
}

impl VenueSummary {
    /// The summary of venue `id`.
    pub fn of(id: &VenueId, index: &VenueIndex) -> Self {
        let venue = index.venue();
        Self {
            id: id.clone(),
            name: venue.name.clone(),
            seats: index.seat_count(),
            standing: index.place_count().saturating_sub(index.seat_count()),
            sections: u32::try_from(venue.sections.len()).unwrap_or(u32::MAX),
            areas: u32::try_from(venue.areas.len()).unwrap_or(u32::MAX),
        }
    }
}

/// Longest production description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 2_000;

/// Most performances one `AddPerformances` adds.
pub const MAX_PERFORMANCES_PER_RUN: usize = 400;

/// The most places (performances × the venue's places) one run may add:
/// each place costs 9 bytes of every replica's memory, and one command
/// must apply quickly.
pub const MAX_PLACES_PER_RUN: usize = 2_000_000;

/// Longest reason for holding seats back, in characters.
pub const MAX_REASON_LEN: usize = 200;

impl State {
    /// `CreateVenue`.
    pub(super) fn create_venue(&mut self, id: &VenueId, layout: &Venue) -> Outcome {
        if self.venues.contains_key(id) {
            return Err(Rejection::VenueExists(id.clone()));
        }
        let index =
            VenueIndex::new(layout.clone()).map_err(|e| Rejection::Invalid(e.to_string()))?;
        let summary = VenueSummary::of(id, &index);
        self.venues.insert(id.clone(), Arc::new(index));
        Ok(Effect::Venue(summary))
    }

    /// `CreateProduction`.
    pub(super) fn create_production(
        &mut self,
        id: &ProductionId,
        title: &str,
        description: &str,
        running_minutes: u32,
    ) -> Outcome {
        if self.has_production(id) {
            return Err(Rejection::ProductionExists(id.clone()));
        }
        if description.chars().count() > MAX_DESCRIPTION_LEN {
            return Err(Rejection::Invalid(format!(
                "description must be at most {MAX_DESCRIPTION_LEN} characters"
            )));
        }
        // Line breaks and tabs format a description; other control
        // characters (terminal escapes) have no place in it.
        if description
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
        {
            return Err(Rejection::Invalid(
                "a description must not contain control characters".to_owned(),
            ));
        }
        let production = Production {
            id: id.clone(),
            title: normalize_title(title)?.to_owned(),
            description: description.trim().to_owned(),
            running_minutes,
        };
        self.productions.insert(id.clone(), production.clone());
        Ok(Effect::Production(production))
    }

    /// `AddPerformances`: all or none.
    pub(super) fn add_performances(
        &mut self,
        production: &ProductionId,
        venue_id: &VenueId,
        performances: &[NewPerformance],
        sales: SalesWindow,
        spec: &PricingSpec,
    ) -> Outcome {
        let title = self
            .productions
            .get(production)
            .ok_or_else(|| Rejection::ProductionNotFound(production.clone()))?
            .title
            .clone();
        let venue = self
            .venues
            .get(venue_id)
            .ok_or_else(|| Rejection::VenueNotFound(venue_id.clone()))?;
        if performances.is_empty() || performances.len() > MAX_PERFORMANCES_PER_RUN {
            return Err(Rejection::Invalid(format!(
                "add 1 to {MAX_PERFORMANCES_PER_RUN} performances at once"
            )));
        }
        if let (Some(opens), Some(closes)) = (sales.opens_at, sales.closes_at)
            && closes <= opens
        {
            return Err(Rejection::Invalid(
                "sales must close after they open".to_owned(),
            ));
        }
        let pricing = Pricing::resolve(spec, venue).map_err(Rejection::Invalid)?;
        let mut ids = BTreeMap::new();
        for new in performances {
            if self.shows.contains_key(&new.show) {
                return Err(Rejection::ShowExists(new.show.clone()));
            }
            if ids.insert(&new.show, ()).is_some() {
                return Err(Rejection::Invalid(format!(
                    "performance {} is listed twice",
                    new.show
                )));
            }
        }
        let places = usize::try_from(venue.place_count())
            .map_err(|_| Rejection::Invalid("the venue does not fit in memory".to_owned()))?;
        if places.saturating_mul(performances.len()) > MAX_PLACES_PER_RUN {
            return Err(Rejection::Invalid(format!(
                "{} performances of {places} places each are more than \
                 {MAX_PLACES_PER_RUN} places in one run: add them in smaller runs",
                performances.len()
            )));
        }
        // Every check has passed; mutate.
        let mut summaries = Vec::with_capacity(performances.len());
        for new in performances {
            let show = Show {
                id: new.show.clone(),
                title: title.clone(),
                price_cents: (0..pricing.categories.len())
                    .filter_map(|c| pricing.lowest_price(u8::try_from(c).unwrap_or(u8::MAX)))
                    .min()
                    .unwrap_or(0),
                starts_at: new.starts_at,
                seats: SeatMap::available(places),
                held: 0,
                booked: 0,
                performance: Some(Box::new(Performance {
                    production: production.clone(),
                    venue: venue_id.clone(),
                    sales,
                    cancelled_at: None,
                    pricing: pricing.clone(),
                })),
                held_back: BTreeMap::new(),
            };
            summaries.push(show.summary());
            self.shows.insert(new.show.clone(), show);
        }
        Ok(Effect::Performances(summaries))
    }

    /// `CancelPerformance`: marks it cancelled, cancels its confirmed
    /// bookings (a charge becomes a refund due) and releases its holds.
    pub(super) fn cancel_performance(&mut self, id: &ShowId) -> Outcome {
        let now = self.now;
        let show = self
            .shows
            .get_mut(id)
            .ok_or_else(|| Rejection::ShowNotFound(id.clone()))?;
        let Some(performance) = show.performance.as_mut() else {
            return Err(Rejection::Invalid(format!(
                "{id} is a simple show, not a performance: cancel its bookings one by one"
            )));
        };
        if performance.cancelled_at.is_some() {
            return Ok(Effect::Show(show.summary()));
        }
        performance.cancelled_at = Some(now);
        let mut bookings: Vec<BookingId> = show
            .seats
            .iter()
            .filter_map(|seat| match seat {
                Seat::Held(b) | Seat::Booked(b) => Some(b),
                Seat::Available | Seat::HeldBack => None,
            })
            .collect();
        bookings.sort_unstable();
        bookings.dedup();
        // Nothing more is offered: the list goes, and its offers end below.
        self.lists.remove(id);
        for id in bookings {
            if let Some(booking) = self.bookings.get(id) {
                self.end_for_cancellation(booking);
            }
        }
        let show = self
            .shows
            .get(id)
            .ok_or_else(|| Rejection::ShowNotFound(id.clone()))?;
        Ok(Effect::Show(show.summary()))
    }

    /// `HoldBack`: all or none.
    pub(super) fn hold_back(&mut self, id: &ShowId, seats: &[SeatNo], reason: &str) -> Outcome {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_LEN {
            return Err(Rejection::Invalid(format!(
                "give a reason of 1 to {MAX_REASON_LEN} characters"
            )));
        }
        let show = self
            .shows
            .get_mut(id)
            .ok_or_else(|| Rejection::ShowNotFound(id.clone()))?;
        for &no in seats {
            match show.seat(no) {
                None => {
                    return Err(Rejection::NoSuchSeat {
                        show: id.clone(),
                        seat: no,
                        seat_count: show.seat_count(),
                    });
                }
                Some(Seat::Available) => {}
                Some(Seat::Held(_)) => return Err(Rejection::SeatHeld { seat: no }),
                Some(Seat::Booked(_)) => return Err(Rejection::SeatBooked { seat: no }),
                Some(Seat::HeldBack) => return Err(Rejection::SeatHeldBack { seat: no }),
            }
        }
        for &no in seats {
            show.transition(no, Seat::Available, Seat::HeldBack);
            show.held_back.insert(no, reason.to_owned());
        }
        Ok(Effect::Show(show.summary()))
    }

    /// `ReleaseHeldBack`: all or none.
    pub(super) fn release_held_back(&mut self, id: &ShowId, seats: &[SeatNo]) -> Outcome {
        let show = self
            .shows
            .get_mut(id)
            .ok_or_else(|| Rejection::ShowNotFound(id.clone()))?;
        if let Some(&no) = seats
            .iter()
            .find(|&&no| show.seat(no) != Some(Seat::HeldBack))
        {
            return Err(Rejection::Invalid(format!("seat {no} is not held back")));
        }
        for &no in seats {
            show.transition(no, Seat::HeldBack, Seat::Available);
            show.held_back.remove(&no);
        }
        self.freed.insert(id.clone());
        let show = self
            .shows
            .get(id)
            .ok_or_else(|| Rejection::ShowNotFound(id.clone()))?;
        Ok(Effect::Show(show.summary()))
    }

    /// All productions, by id.
    pub fn productions(&self) -> impl Iterator<Item = &Production> {
        self.productions.values()
    }

    /// The production with this id.
    pub fn production(&self, id: &ProductionId) -> Option<&Production> {
        self.productions.get(id)
    }

    /// Whether `id` is the production of a simple show (the show's id).
    fn is_simple_show(&self, id: &ProductionId) -> bool {
        self.shows
            .get(&ShowId(id.0.clone()))
            .is_some_and(|show| show.performance.is_none())
    }

    /// Every production as buyers see it, by id, each with its
    /// performances by start: the stored ones, and each simple show as a
    /// production of its own. That is the old contract's show in the new
    /// domain: a production under the show's id and title with one
    /// performance, at a venue generated on read
    /// ([`Venue::single_row`]: one section, one row, seats `1..=N`) with
    /// one category at the show's price. Nothing of it is stored, and the
    /// ids cannot clash: `CreateShow` and `CreateProduction` each refuse
    /// the other's.
    pub fn catalogue(&self) -> Vec<(Cow<'_, Production>, Vec<&Show>)> {
        let mut listed: BTreeMap<ProductionId, (Cow<'_, Production>, Vec<&Show>)> = self
            .productions
            .iter()
            .map(|(id, p)| (id.clone(), (Cow::Borrowed(p), Vec::new())))
            .collect();
        for show in self.shows.values() {
            match &show.performance {
                Some(performance) => {
                    if let Some((_, shows)) = listed.get_mut(&performance.production) {
                        shows.push(show);
                    }
                }
                None => {
                    let id = ProductionId(show.id.0.clone());
                    let production = Production {
                        id: id.clone(),
                        title: show.title.clone(),
                        description: String::new(),
                        running_minutes: 0,
                    };
                    // (A log from before the two refused each other's
                    // ids may hold both: the stored production wins.)
                    listed
                        .entry(id)
                        .or_insert_with(|| (Cow::Owned(production), vec![show]));
                }
            }
        }
        listed
            .into_values()
            .map(|(production, mut shows)| {
                shows.sort_by(|a, b| (a.starts_at, &a.id).cmp(&(b.starts_at, &b.id)));
                (production, shows)
            })
            .collect()
    }

    /// The performances of a production, by show id: a simple show is the
    /// one performance of its own production ([`State::catalogue`]).
    pub fn performances_of<'a>(
        &'a self,
        production: &'a ProductionId,
    ) -> impl Iterator<Item = &'a Show> + 'a {
        self.shows
            .values()
            .filter(move |show| match &show.performance {
                Some(p) => p.production == *production,
                None => show.id.0 == production.0,
            })
    }

    /// Whether a production of this id exists: a stored one, or a simple
    /// show's own.
    pub fn has_production(&self, id: &ProductionId) -> bool {
        self.productions.contains_key(id) || self.is_simple_show(id)
    }

    /// All venues, by id.
    pub fn venues(&self) -> impl Iterator<Item = (&VenueId, &Arc<VenueIndex>)> {
        self.venues.iter()
    }

    /// The venue with this id.
    pub fn venue(&self, id: &VenueId) -> Option<&Arc<VenueIndex>> {
        self.venues.get(id)
    }

    /// The layout of show `id`: its venue's, or a single row for a simple show.
    pub fn layout_of(&self, show: &Show) -> Option<Arc<VenueIndex>> {
        match &show.performance {
            Some(performance) => self.venues.get(&performance.venue).cloned(),
            None => VenueIndex::new(Venue::single_row(&show.title, show.seat_count()))
                .ok()
                .map(Arc::new),
        }
    }
}
