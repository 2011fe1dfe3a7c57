//! The seats each network has in each show: what the cap per network
//! ([`HoldLimits::max_seats_per_network`](crate::HoldLimits::max_seats_per_network))
//! is checked against.
//!
//! A hold that carried its network ([`HoldLimits::network`](crate::HoldLimits::network))
//! is remembered with it while the booking is active (held or confirmed),
//! so its seats count against that network until they are freed: the
//! booking ends (released, lapsed, cancelled), or some of its tickets are
//! returned. Only that map is state (written in snapshots; it cannot be
//! recomputed from the bookings, which do not keep where they came from);
//! the counts are derived from it and the bookings, rebuilt on restore, and
//! checked against a recount by
//! [`State::check_invariants`](super::State::check_invariants). Entries
//! leave with their bookings' activity, so the map's size follows the
//! active bookings, not the history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Booking, BookingStatus, Bookings};
use crate::ids::{BookingId, ShowId};
use crate::network::Network;

/// Active bookings by network, and their seats by show and network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Networks {
    /// The network of each active booking made with one.
    of_booking: BTreeMap<BookingId, Network>,
    /// Index: the seats of those bookings, by show and network; never 0.
    seats: BTreeMap<(ShowId, Network), u32>,
}

/// What a snapshot keeps: each active booking's network.
#[derive(Default, Serialize, Deserialize)]
pub(super) struct NetworksRecord(pub(super) Vec<(BookingId, Network)>);

impl Networks {
    /// Seats the customers of `network` have in active bookings of `show`.
    pub(super) fn seats(&self, show: &ShowId, network: Network) -> u32 {
        self.seats
            .get(&(show.clone(), network))
            .copied()
            .unwrap_or(0)
    }

    /// Counts the new active `booking` against `network`.
    pub(super) fn start(&mut self, booking: &Booking, network: Network) {
        if !is_active(booking) || self.of_booking.contains_key(&booking.id) {
            return;
        }
        self.of_booking.insert(booking.id, network);
        self.add(&booking.show, network, seat_count(booking));
    }

    /// Stops counting `booking` (it ended: its seats are free).
    pub(super) fn stop(&mut self, booking: &Booking) {
        if let Some(network) = self.of_booking.remove(&booking.id) {
            self.sub(&booking.show, network, seat_count(booking));
        }
    }

    /// `booking` keeps only `kept` of its seats (the others were returned).
    pub(super) fn shrink(&mut self, booking: &Booking, kept: &Booking) {
        if let Some(&network) = self.of_booking.get(&booking.id) {
            let freed = seat_count(booking).saturating_sub(seat_count(kept));
            self.sub(&booking.show, network, freed);
            if !is_active(kept) || kept.seats.is_empty() {
                self.of_booking.remove(&booking.id);
            }
        }
    }

    fn add(&mut self, show: &ShowId, network: Network, n: u32) {
        let count = self.seats.entry((show.clone(), network)).or_insert(0);
        *count = count.saturating_add(n);
    }

    fn sub(&mut self, show: &ShowId, network: Network, n: u32) {
        let key = (show.clone(), network);
        if let Some(count) = self.seats.get_mut(&key) {
            *count = count.saturating_sub(n);
            if *count == 0 {
                self.seats.remove(&key);
            }
        }
    }

    /// What a snapshot writes.
    pub(super) fn record(&self) -> NetworksRecord {
        NetworksRecord(self.of_booking.iter().map(|(id, n)| (*id, *n)).collect())
    }

    /// The index of a snapshot's `record`, counted over `bookings`; an
    /// entry of a booking that does not exist or is not active is an
    /// inconsistency (it says which).
    pub(super) fn restore(record: NetworksRecord, bookings: &Bookings) -> Result<Self, String> {
        let mut networks = Networks::default();
        for (id, network) in record.0 {
            let booking = bookings.get(id).ok_or_else(|| {
                format!("the network of booking {id} is kept, but it does not exist")
            })?;
            if !is_active(&booking) {
                return Err(format!(
                    "the network of booking {id} is kept, but it is no longer active"
                ));
            }
            if networks.of_booking.insert(id, network).is_some() {
                return Err(format!("the network of booking {id} is kept twice"));
            }
            networks.add(&booking.show, network, seat_count(&booking));
        }
        Ok(networks)
    }

    /// Checks the counts against a recount over `bookings`.
    pub(super) fn check(&self, bookings: &Bookings) -> Result<(), String> {
        let recounted = Networks::restore(self.record(), bookings)?;
        if recounted.seats != self.seats {
            return Err("the seats counted per network disagree with a recount".to_owned());
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
