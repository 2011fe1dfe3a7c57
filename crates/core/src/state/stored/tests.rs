//! Tests of the compact booking store.

use super::*;
use crate::ids::{MAX_PRICE_CENTS, MAX_SEATS_PER_BOOKING};

#[test]
fn a_stored_booking_is_small() {
    assert!(
        std::mem::size_of::<StoredBooking>() <= 48,
        "{} bytes",
        std::mem::size_of::<StoredBooking>()
    );
}

#[test]
fn both_kinds_come_back_from_their_byte() {
    for status in STATUS_KINDS {
        for payment in PAYMENT_KINDS {
            let kinds = Kinds::new(status, payment);
            assert_eq!((kinds.status(), kinds.payment()), (status, payment));
        }
    }
}

#[test]
fn bookings_come_back_as_they_were_stored() {
    let mut bookings = Bookings::default();
    let one = Booking {
        id: BookingId(1),
        show: "s1".into(),
        seats: vec![SeatNo(7)],
        types: Vec::new(),
        prices: Vec::new(),
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
        types: Vec::new(),
        prices: Vec::new(),
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
    assert_eq!(bookings.update(&many), Ok(()));
    assert_eq!(bookings.get(BookingId(2)), Some(many.clone()));
    assert_eq!(bookings.iter().collect::<Vec<_>>(), vec![one, many]);
}

#[test]
fn the_systems_ids_are_packed_and_others_kept_as_text() {
    let order = "ord_0123456789abcdef0123456789abcdef";
    let tx = "tx_ffffffffffffffffffffffffffffffff";
    let mut bookings = Bookings::default();
    let mut booking = Booking {
        id: BookingId(1),
        show: "s1".into(),
        seats: vec![SeatNo(1)],
        types: Vec::new(),
        prices: Vec::new(),
        user: "u1".into(),
        total_cents: 100,
        created_at: Timestamp(1),
        status: BookingStatus::Held {
            expires_at: Timestamp(9),
        },
        order: Some(order.into()),
        payment: Payment::Pending,
    };
    bookings.push(&booking).expect("stored");
    booking.status = BookingStatus::Confirmed { at: Timestamp(2) };
    booking.payment = Payment::Charged(tx.into());
    bookings.update(&booking).expect("updated");
    assert_eq!(bookings.get(BookingId(1)), Some(booking.clone()));
    assert_eq!(bookings.ids.len(), 2 * PACKED_LEN, "both ids packed");
    // Keeping the transaction adds nothing.
    booking.status = BookingStatus::Cancelled { at: Timestamp(3) };
    booking.payment = Payment::RefundDue(tx.into());
    bookings.update(&booking).expect("updated");
    assert_eq!(bookings.ids.len(), 2 * PACKED_LEN);
    assert_eq!(bookings.get(BookingId(1)), Some(booking));

    // Anything that would not come back exactly stays text.
    for (n, id) in [
        "ord_0123456789ABCDEF0123456789ABCDEF",
        "ord_0123456789abcdef0123456789abcde",
        "ord_0123456789abcdef0123456789abcdef0",
        "ord_+123456789abcdef0123456789abcdef",
        "tx_0123456789abcdef0123456789abcdeg",
        "ORD_0123456789abcdef0123456789abcdef",
        "ord_",
        "o",
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(pack(id), None, "{id}");
        let before = bookings.ids.len();
        let other = Booking {
            id: BookingId(n as u64 + 2),
            order: Some(id.into()),
            status: BookingStatus::Held {
                expires_at: Timestamp(9),
            },
            payment: Payment::Pending,
            ..booking_one()
        };
        bookings.push(&other).expect("stored");
        assert_eq!(bookings.ids.len(), before + id.len(), "{id}");
        assert_eq!(bookings.get(other.id), Some(other));
    }
    assert!(pack("tx_00000000000000000000000000000000").is_some());
}

#[test]
fn an_id_too_long_to_store_is_refused_and_changes_nothing() {
    let mut bookings = Bookings::default();
    let long = Booking {
        order: Some("o".repeat(MAX_TEXT_LEN + 1).into()),
        payment: Payment::Pending,
        status: BookingStatus::Held {
            expires_at: Timestamp(9),
        },
        ..booking_one()
    };
    assert!(bookings.push(&long).is_err());
    assert_eq!(bookings.len(), 0);
    assert!(bookings.ids.is_empty());
    let longest = Booking {
        order: Some("o".repeat(MAX_TEXT_LEN).into()),
        ..long
    };
    bookings.push(&longest).expect("stored");
    assert_eq!(bookings.get(BookingId(1)), Some(longest));
}

/// A total is stored in 32 bits: the largest a booking can have fits, and
/// one that would not (or a negative one) is refused and changes nothing,
/// when pushed and when its tickets are replaced.
#[test]
fn a_total_that_does_not_fit_is_refused_and_changes_nothing() {
    const {
        assert!(MAX_SEATS_PER_BOOKING as i64 * MAX_PRICE_CENTS <= u32::MAX as i64);
    }
    let mut bookings = Bookings::default();
    for total_cents in [i64::from(u32::MAX) + 1, -1] {
        let wrong = Booking {
            total_cents,
            ..booking_one()
        };
        assert!(matches!(
            bookings.push(&wrong),
            Err(StoreError::TotalOutOfRange(BookingId(1)))
        ));
        assert_eq!(bookings.len(), 0);
    }
    let largest = Booking {
        total_cents: MAX_SEATS_PER_BOOKING as i64 * MAX_PRICE_CENTS,
        ..booking_one()
    };
    bookings.push(&largest).expect("stored");
    let wrong = Booking {
        total_cents: -1,
        ..largest.clone()
    };
    assert!(bookings.replace_tickets(&wrong).is_err());
    assert_eq!(bookings.get(BookingId(1)), Some(largest));
}

/// A confirmed one-seat booking with id 1.
fn booking_one() -> Booking {
    Booking {
        id: BookingId(1),
        show: "s1".into(),
        seats: vec![SeatNo(2)],
        types: Vec::new(),
        prices: Vec::new(),
        user: "u1".into(),
        total_cents: 0,
        created_at: Timestamp(1),
        status: BookingStatus::Confirmed { at: Timestamp(1) },
        order: None,
        payment: Payment::None,
    }
}
