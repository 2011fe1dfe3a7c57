//! Answers about the asker's own bookings: what they booked, and what
//! they could cancel (only ever with their own token).

use boxoffice_client::proto::{self as v1, SuggestionAction};
use boxoffice_view::seats::format as seat_list;
use boxoffice_view::status::BookingStatus;
use boxoffice_view::{money, when};
use tonic::Code;

use super::{Answer, Assistant, Turn, suggestion, unreachable};
use crate::intent::Intent;

impl Assistant {
    /// The asker's bookings, or an invitation to log in.
    pub(super) async fn my_bookings(&self, turn: &Turn<'_>) -> Answer {
        let intent = Intent::MyBookings;
        let login = || Answer {
            reply: "Log in and I can tell you what you booked; I only ever see your own bookings."
                .to_owned(),
            intent,
            confidence: 0.0,
            suggestions: vec![suggestion(
                "Log in",
                SuggestionAction::LogIn,
                None,
                &[],
                None,
            )],
            facts: Vec::new(),
        };
        if !turn.logged_in {
            return login();
        }
        let bookings = match turn.client.list_bookings(false).await {
            Ok(bookings) => bookings,
            Err(status) if status.code() == Code::Unauthenticated => return login(),
            Err(status) => return unreachable(intent, &status),
        };
        let facts: Vec<String> = bookings.iter().map(describe_booking).collect();
        let reply = if facts.is_empty() {
            "You have no bookings yet.".to_owned()
        } else {
            format!("Your bookings: {}.", facts.join("; "))
        };
        Answer {
            reply,
            intent,
            confidence: 0.0,
            suggestions: vec![suggestion(
                "Open my bookings",
                SuggestionAction::ListBookings,
                None,
                &[],
                None,
            )],
            facts,
        }
    }

    /// The cancellation policy, with the asker's live bookings to cancel.
    pub(super) async fn cancellation(&self, turn: &Turn<'_>) -> Answer {
        let intent = Intent::Cancellation;
        let mut answer = self.help(intent, 0.0, &self.policies.cancellation);
        answer.suggestions.clear();
        if !turn.logged_in {
            answer.suggestions.push(suggestion(
                "Log in",
                SuggestionAction::LogIn,
                None,
                &[],
                None,
            ));
            return answer;
        }
        let Ok(bookings) = turn.client.list_bookings(false).await else {
            return answer;
        };
        let active: Vec<&v1::Booking> = bookings
            .iter()
            .filter(|b| BookingStatus::from_proto(b.status).is_live())
            .filter(|b| {
                turn.entities
                    .booking
                    .as_ref()
                    .is_none_or(|id| *id == b.booking_id)
            })
            .collect();
        for booking in active.iter().take(3) {
            answer.suggestions.push(suggestion(
                format!(
                    "Cancel booking {} ({} seats {})",
                    booking.booking_id,
                    booking.show_id,
                    seat_list(&booking.seat_nos)
                ),
                SuggestionAction::CancelBooking,
                Some(&booking.show_id),
                &booking.seat_nos,
                Some(&booking.booking_id),
            ));
        }
        answer.facts = active.iter().map(|b| describe_booking(b)).collect();
        answer
    }
}

/// One booking in words.
fn describe_booking(b: &v1::Booking) -> String {
    let status = match BookingStatus::from_proto(b.status) {
        BookingStatus::Held => format!("held until {}", when(b.hold_expires_at_ms)),
        other => other.name().to_owned(),
    };
    format!(
        "booking {}: {} seats {}, {}, {}",
        b.booking_id,
        b.show_id,
        seat_list(&b.seat_nos),
        status,
        money(b.total_cents)
    )
}
