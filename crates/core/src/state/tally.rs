//! The seats each network, and each card, has in each show: what the caps
//! per network ([`HoldLimits::max_seats_per_network`](crate::HoldLimits::max_seats_per_network))
//! and per card ([`HoldLimits::max_seats_per_card`](crate::HoldLimits::max_seats_per_card))
//! are checked against. One [`Tally`] each.
//!
//! A hold that carried its network or card is remembered with it while
//! the booking is active (held or confirmed), so its seats count against
//! that key until they are freed: the booking ends (released, lapsed,
//! cancelled), or some of its tickets are returned. Only that map is
//! state (written in snapshots; it cannot be recomputed from the
//! bookings, which do not keep where they came from or what paid them);
//! the counts are derived from it and the bookings, rebuilt on restore,
//! and checked against a recount by
//! [`State::check_invariants`](super::State::check_invariants). Entries
//! leave with their bookings' activity, so the map's size follows the
//! active bookings, not the history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Booking, BookingStatus, Bookings};
use crate::card::CardFingerprint;
use crate::ids::{BookingId, ShowId};
use crate::network::Network;

/// What a tally counts by: a network or a card.
pub(super) trait Key: Copy + Ord + std::fmt::Debug {
    /// What it is, for messages ("network", "card").
    const WHAT: &'static str;
}

impl Key for Network {
    const WHAT: &'static str = "network";
}

impl Key for CardFingerprint {
    const WHAT: &'static str = "card";
}

/// Active bookings by key, and their seats by show and key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Tally<K> {
    /// The key of each active booking made with one.
    of_booking: BTreeMap<BookingId, K>,
    /// Index: the seats of those bookings, by show and key; never 0.
    seats: BTreeMap<(ShowId, K), u32>,
}

impl<K> Default for Tally<K> {
    fn default() -> Self {
        Self {
            of_booking: BTreeMap::new(),
            seats: BTreeMap::new(),
        }
    }
}

/// The seats by network.
pub(super) type Networks = Tally<Network>;
/// The seats by card.
pub(super) type Cards = Tally<CardFingerprint>;

/// What a snapshot keeps: each active booking's key.
#[derive(Serialize, Deserialize)]
pub(super) struct Record<K>(pub(super) Vec<(BookingId, K)>);

impl<K> Default for Record<K> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

/// The networks' record.
pub(super) type NetworksRecord = Record<Network>;
/// The cards' record.
pub(super) type CardsRecord = Record<CardFingerprint>;

impl<K: Key> Tally<K> {
    /// Seats the customers of `key` have in active bookings of `show`.
    pub(super) fn seats(&self, show: &ShowId, key: K) -> u32 {
        self.seats.get(&(show.clone(), key)).copied().unwrap_or(0)
    }

    /// Counts the new active `booking` against `key`.
    pub(super) fn start(&mut self, booking: &Booking, key: K) {
        if !is_active(booking) || self.of_booking.contains_key(&booking.id) {
            return;
        }
        self.of_booking.insert(booking.id, key);
        self.add(&booking.show, key, seat_count(booking));
    }

    /// The key `booking` counts against, if any.
    pub(super) fn of(&self, booking: BookingId) -> Option<K> {
        self.of_booking.get(&booking).copied()
    }

    /// Stops counting `booking` (it ended: its seats are free).
    pub(super) fn stop(&mut self, booking: &Booking) {
        if let Some(key) = self.of_booking.remove(&booking.id) {
            self.sub(&booking.show, key, seat_count(booking));
        }
    }

    /// `booking` keeps only `kept` of its seats (the others were returned).
    pub(super) fn shrink(&mut self, booking: &Booking, kept: &Booking) {
        if let Some(&key) = self.of_booking.get(&booking.id) {
            let freed = seat_count(booking).saturating_sub(seat_count(kept));
            self.sub(&booking.show, key, freed);
            if !is_active(kept) || kept.seats.is_empty() {
                self.of_booking.remove(&booking.id);
            }
        }
    }

    fn add(&mut self, show: &ShowId, key: K, n: u32) {
        let count = self.seats.entry((show.clone(), key)).or_insert(0);
        *count = count.saturating_add(n);
    }

    fn sub(&mut self, show: &ShowId, key: K, n: u32) {
        let key = (show.clone(), key);
        if let Some(count) = self.seats.get_mut(&key) {
            *count = count.saturating_sub(n);
            if *count == 0 {
                self.seats.remove(&key);
            }
        }
    }

    /// What a snapshot writes.
    pub(super) fn record(&self) -> Record<K> {
        Record(self.of_booking.iter().map(|(id, k)| (*id, *k)).collect())
    }

    /// The index of a snapshot's `record`, counted over `bookings`; an
    /// entry of a booking that does not exist or is not active is an
    /// inconsistency (it says which).
    pub(super) fn restore(record: Record<K>, bookings: &Bookings) -> Result<Self, String> {
        let what = K::WHAT;
        let mut tally = Tally::default();
        for (id, key) in record.0 {
            let booking = bookings.get(id).ok_or_else(|| {
                format!("the {what} of booking {id} is kept, but it does not exist")
            })?;
            if !is_active(&booking) {
                return Err(format!(
                    "the {what} of booking {id} is kept, but it is no longer active"
                ));
            }
            if tally.of_booking.insert(id, key).is_some() {
                return Err(format!("the {what} of booking {id} is kept twice"));
            }
            tally.add(&booking.show, key, seat_count(&booking));
        }
        Ok(tally)
    }

    /// Checks the counts against a recount over `bookings`.
    pub(super) fn check(&self, bookings: &Bookings) -> Result<(), String> {
        let recounted = Tally::restore(self.record(), bookings)?;
        if recounted.seats != self.seats {
            return Err(format!(
                "the seats counted per {} disagree with a recount",
                K::WHAT
            ));
        }
        Ok(())
    }
}

fn is_active(booking: &Booking) -> bool {
    matches!(
        booking.status,
        BookingStatus::Held { .. } | BookingStatus::Confirmed { .. }
    )
}

fn seat_count(booking: &Booking) -> u32 {
    u32::try_from(booking.seats.len()).unwrap_or(u32::MAX)
}
