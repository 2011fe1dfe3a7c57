//! Conversions between domain types and `boxoffice.v1` messages, and the
//! one place where domain rejections become gRPC statuses (used by the
//! booking nodes and the auth service alike).

use boxoffice_core::{
    Booking, BookingStatus, Payment, Rejection, RejectionKind, Seat, SeatNo, ShowSummary,
};
use tonic::Status;

use crate::v1;

/// Metadata key of the wait a rate-limited client should observe, in
/// milliseconds.
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// Metadata key of the address of the client a front end (the gateway)
/// calls the auth service for. The auth service believes it only from a
/// caller whose certificate says it is the gateway.
pub const CLIENT_ADDR: &str = "x-boxoffice-client-addr";

/// Metadata key of a refusal's reason, for adapters that must tell some
/// refusals apart within one status code (the legacy booking service);
/// set only for the reasons below.
pub const REASON: &str = "x-boxoffice-reason";
/// [`REASON`] of a seat someone else has: booked, or held by another buyer.
pub const SEAT_TAKEN: &str = "seat-taken";

/// A rejection as the gRPC status clients see. A limit that lets up with
/// time (the hourly hold limit, the cool-down) is RESOURCE_EXHAUSTED with
/// the wait in [`RETRY_AFTER_MS`] (and in the message).
pub fn rejection_status(r: &Rejection) -> Status {
    let message = r.to_string();
    if let Some(ms) = r.retry_after_ms() {
        let mut status = Status::resource_exhausted(message);
        if let Ok(value) = ms.to_string().parse() {
            status.metadata_mut().insert(RETRY_AFTER_MS, value);
        }
        return status;
    }
    let mut status = match r.kind() {
        RejectionKind::InvalidArgument => Status::invalid_argument(message),
        RejectionKind::NotFound => Status::not_found(message),
        RejectionKind::AlreadyExists => Status::already_exists(message),
        RejectionKind::FailedPrecondition => Status::failed_precondition(message),
        RejectionKind::Unauthenticated => Status::unauthenticated(message),
        RejectionKind::PermissionDenied => Status::permission_denied(message),
    };
    if matches!(r, Rejection::SeatBooked { .. } | Rejection::SeatHeld { .. }) {
        status.metadata_mut().insert(
            REASON,
            tonic::metadata::MetadataValue::from_static(SEAT_TAKEN),
        );
    }
    status
}

/// Whether `status` refuses a seat that someone else has ([`SEAT_TAKEN`]).
pub fn is_seat_taken(status: &Status) -> bool {
    status
        .metadata()
        .get(REASON)
        .is_some_and(|reason| reason == SEAT_TAKEN)
}

/// A show summary as the API shows it.
pub fn show(s: &ShowSummary) -> v1::Show {
    v1::Show {
        show_id: s.id.to_string(),
        title: s.title.clone(),
        seat_count: s.seat_count,
        price_cents: s.price_cents,
        starts_at_ms: s.starts_at.0,
        available: s.available,
        held: s.held,
        booked: s.booked,
    }
}

/// One seat.
pub fn seat(no: SeatNo, seat: Seat) -> v1::Seat {
    let state = match seat {
        Seat::Available => v1::SeatState::Available,
        Seat::Held(_) => v1::SeatState::Held,
        Seat::Booked(_) => v1::SeatState::Booked,
        Seat::HeldBack => v1::SeatState::HeldBack,
    };
    v1::Seat {
        seat_no: no.0,
        state: state as i32,
    }
}

/// A booking.
pub fn booking(b: &Booking) -> v1::Booking {
    let (status, hold_expires_at_ms, updated_at_ms) = match b.status {
        BookingStatus::Held { expires_at } => (v1::BookingStatus::Held, expires_at.0, 0),
        BookingStatus::Confirmed { at } => (v1::BookingStatus::Confirmed, 0, at.0),
        BookingStatus::Released { at, .. } => (v1::BookingStatus::Released, 0, at.0),
        BookingStatus::Cancelled { at } => (v1::BookingStatus::Cancelled, 0, at.0),
    };
    v1::Booking {
        booking_id: b.id.to_string(),
        show_id: b.show.to_string(),
        seat_nos: b.seats.iter().map(|s| s.0).collect(),
        user_id: b.user.to_string(),
        total_cents: b.total_cents,
        status: status as i32,
        created_at_ms: b.created_at.0,
        hold_expires_at_ms,
        updated_at_ms,
        order_id: b
            .order
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        payment_status: payment_status(&b.payment) as i32,
        transaction_id: b
            .payment
            .transaction()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}

/// The API's name for a booking's payment.
pub fn payment_status(p: &Payment) -> v1::PaymentStatus {
    match p {
        Payment::None => v1::PaymentStatus::None,
        Payment::Pending => v1::PaymentStatus::Pending,
        Payment::NotCharged => v1::PaymentStatus::NotCharged,
        Payment::Charged(_) => v1::PaymentStatus::Charged,
        Payment::RefundDue(_) => v1::PaymentStatus::RefundPending,
        Payment::Refunded(_) => v1::PaymentStatus::Refunded,
    }
}
