//! A show's seat map, 8 bytes a seat.
//!
//! A [`Seat`] is 16 bytes (a tag and a 64-bit booking id); the map stores
//! each as one `u64`: the booking id in the low 62 bits and the state in
//! the top two. Booking ids are issued from 1 upwards, one per booking, so
//! they never come near 2^62; a seat that could not be stored (only a
//! forged snapshot could name such an id) is refused, never truncated onto
//! another booking. The map serializes exactly as a `Vec<Seat>` did, so
//! snapshots keep their format.

use std::fmt;

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Seat;
use crate::ids::BookingId;

/// The state bits of a held seat.
const HELD: u64 = 1 << 62;
/// The state bits of a booked seat.
const BOOKED: u64 = 2 << 62;
/// The state bits of a seat held back from sale (its id bits are zero).
const HELD_BACK: u64 = 3 << 62;
/// The booking id bits.
const ID: u64 = HELD - 1;

/// The packed form of `seat`, if its booking id fits.
fn pack(seat: Seat) -> Option<u64> {
    match seat {
        Seat::Available => Some(0),
        Seat::Held(BookingId(id)) => (id <= ID).then_some(HELD | id),
        Seat::Booked(BookingId(id)) => (id <= ID).then_some(BOOKED | id),
        Seat::HeldBack => Some(HELD_BACK),
    }
}

/// The seat `packed` stands for.
fn unpack(packed: u64) -> Seat {
    let id = BookingId(packed & ID);
    match packed & !ID {
        HELD => Seat::Held(id),
        BOOKED => Seat::Booked(id),
        HELD_BACK if id.0 == 0 => Seat::HeldBack,
        // `pack` never makes a held-back seat with an id; read it as
        // available rather than invent a booking.
        _ => Seat::Available,
    }
}

/// Seat states of one show; index `i` is seat `i + 1`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SeatMap(Vec<u64>);

impl SeatMap {
    /// `len` available seats.
    pub(super) fn available(len: usize) -> Self {
        Self(vec![0; len])
    }

    /// Number of seats.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the map has no seats.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The state of the seat at `index`.
    pub fn get(&self, index: usize) -> Option<Seat> {
        self.0.get(index).copied().map(unpack)
    }

    /// Every seat's state, in seat order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Seat> + DoubleEndedIterator + '_ {
        self.0.iter().copied().map(unpack)
    }

    /// Sets the seat at `index` to `seat`; false, changing nothing, if
    /// there is no such seat or `seat` cannot be stored.
    pub(super) fn set(&mut self, index: usize, seat: Seat) -> bool {
        match (self.0.get_mut(index), pack(seat)) {
            (Some(slot), Some(packed)) => {
                *slot = packed;
                true
            }
            _ => false,
        }
    }

    /// Grows with available seats, or drops seats from the end, to `len`.
    pub(super) fn resize(&mut self, len: usize) {
        self.0.resize(len, 0);
    }
}

impl fmt::Debug for SeatMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// As the sequence of [`Seat`]s.
impl Serialize for SeatMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for seat in self.iter() {
            seq.serialize_element(&seat)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for SeatMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Seats;
        impl<'de> Visitor<'de> for Seats {
            type Value = SeatMap;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of seats")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SeatMap, A::Error> {
                // A length hint is only a hint: cap what it reserves.
                let mut seats = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(seat) = seq.next_element::<Seat>()? {
                    let packed = pack(seat).ok_or_else(|| {
                        A::Error::custom(format!("{seat:?} names a booking id out of range"))
                    })?;
                    seats.push(packed);
                }
                Ok(SeatMap(seats))
            }
        }
        deserializer.deserialize_seq(Seats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_come_back_as_they_were_set() {
        let mut map = SeatMap::available(4);
        let largest = BookingId(ID);
        assert!(map.set(1, Seat::Held(BookingId(7))));
        assert!(map.set(2, Seat::Booked(largest)));
        assert!(map.set(3, Seat::Booked(BookingId(1))));
        assert_eq!(
            map.iter().collect::<Vec<_>>(),
            vec![
                Seat::Available,
                Seat::Held(BookingId(7)),
                Seat::Booked(largest),
                Seat::Booked(BookingId(1)),
            ]
        );
        assert_eq!(map.get(4), None);
        assert!(!map.set(4, Seat::Available), "no such seat");
        map.resize(2);
        assert_eq!(map.len(), 2);
        map.resize(3);
        assert_eq!(map.get(2), Some(Seat::Available));
    }

    #[test]
    fn a_booking_id_that_does_not_fit_is_refused_not_truncated() {
        let mut map = SeatMap::available(1);
        let too_large = BookingId(ID + 1);
        assert!(!map.set(0, Seat::Booked(too_large)));
        assert!(!map.set(0, Seat::Held(BookingId(u64::MAX))));
        assert_eq!(map.get(0), Some(Seat::Available));

        let forged = postcard::to_allocvec(&vec![Seat::Available, Seat::Booked(too_large)])
            .expect("serializes");
        assert!(postcard::from_bytes::<SeatMap>(&forged).is_err());
    }

    #[test]
    fn the_map_serializes_as_a_vector_of_seats_did() {
        let seats = vec![
            Seat::Available,
            Seat::Held(BookingId(3)),
            Seat::Booked(BookingId(9)),
        ];
        let mut map = SeatMap::available(3);
        for (index, seat) in seats.iter().enumerate() {
            assert!(map.set(index, *seat));
        }
        let bytes = postcard::to_allocvec(&map).expect("serializes");
        assert_eq!(bytes, postcard::to_allocvec(&seats).expect("serializes"));
        assert_eq!(postcard::from_bytes::<SeatMap>(&bytes), Ok(map));
    }
}
