//! The JSON shapes of the API: request bodies here; the shapes of shows,
//! seats, bookings, accounts, answers and the cluster are the view layer's
//! ([`boxoffice_view::json`]), the same ones `boxoffice … --json` prints.
//!
//! Enumerations are snake_case strings (`"held"`, `"refund_pending"`,
//! `"unknown"` for a value this build does not know); times are
//! milliseconds since the Unix epoch; money is in cents.

pub use boxoffice_view::json::{
    Answer, Booking, Cluster, Node, Seat, SeatMap, Session, Show, Suggestion, User,
};
pub use boxoffice_view::status::{
    BookingStatus, NodeRole, PaymentStatus, SeatState, SuggestionAction,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One update of a show's live seat map (the `seats` event of
/// `GET /api/shows/{show_id}/events`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SeatMapUpdate {
    /// The show and its counts now.
    pub show: Show,
    /// True when `seats` is the whole map (replace yours); else only the
    /// seats that changed.
    pub full: bool,
    /// Seats, in seat order.
    pub seats: Vec<Seat>,
}

/// A new show.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShow {
    /// Unique id (1-64 printable characters, no spaces).
    pub show_id: String,
    /// Title, 1-200 characters.
    pub title: String,
    /// Seats, 1 to 100000.
    pub seat_count: u32,
    /// Price of one seat, cents (0 to 100000000).
    pub price_cents: i64,
    /// Start time, ms since the Unix epoch.
    pub starts_at_ms: i64,
}

/// Changes to a show; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShowChanges {
    /// New title.
    pub title: Option<String>,
    /// New seat count (seats can be removed only while free).
    pub seat_count: Option<u32>,
    /// New price per seat, cents; existing bookings keep theirs.
    pub price_cents: Option<i64>,
    /// New start time, ms since the Unix epoch.
    pub starts_at_ms: Option<i64>,
}

/// An email and a password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The account's email address.
    pub email: String,
    /// The password.
    pub password: String,
}

/// A refresh token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshToken {
    /// From a previous login or refresh.
    pub refresh_token: String,
}

/// Seats to hold for a checkout.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// The show.
    pub show_id: String,
    /// 1 to 10 distinct seat numbers.
    pub seat_nos: Vec<u32>,
}

/// A payment card. Test cards: 4242 4242 4242 4242 (and any other valid
/// number) pays; 4000 0000 0000 9995 is declined for insufficient funds;
/// 4000 0000 0000 9979 is declined as reported stolen.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Card {
    /// The card number (spaces allowed).
    pub number: String,
    /// Expiry month, 1-12.
    pub exp_month: u32,
    /// Expiry year, four digits.
    pub exp_year: u32,
    /// The 3 or 4 digit security code.
    pub cvc: String,
}

/// Payment for a held booking.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    /// The card to charge the booking's total.
    pub card: Card,
}

/// A question for the assistant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The conversation to continue: the `session_id` of a previous
    /// answer; absent or empty starts one.
    #[serde(default)]
    pub session_id: String,
    /// The question, in words.
    pub text: String,
}

/// Whether the gateway can serve.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// True when a booking node answered and knows a leader.
    pub ready: bool,
    /// The leader it named (0: none).
    pub leader_id: u64,
    /// Why not, when not ready.
    pub problem: String,
}
