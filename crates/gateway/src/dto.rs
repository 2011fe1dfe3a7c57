//! The JSON shapes of the API, converted from the cluster's messages.
//!
//! Enumerations are snake_case strings (`"held"`, `"refund_pending"`);
//! times are milliseconds since the Unix epoch; money is in cents.

use boxoffice_client::proto as v1;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A show with its seat counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Show {
    /// Unique id (1-64 printable characters, no spaces).
    pub show_id: String,
    /// Title.
    pub title: String,
    /// Seats, numbered 1 to `seat_count`.
    pub seat_count: u32,
    /// Price of one seat, cents.
    pub price_cents: i64,
    /// Start time, ms since the Unix epoch; seats sell until then.
    pub starts_at_ms: i64,
    /// Seats neither held nor booked.
    pub available: u32,
    /// Seats held by an unfinished checkout.
    pub held: u32,
    /// Seats booked.
    pub booked: u32,
}

impl From<v1::Show> for Show {
    fn from(s: v1::Show) -> Self {
        Self {
            show_id: s.show_id,
            title: s.title,
            seat_count: s.seat_count,
            price_cents: s.price_cents,
            starts_at_ms: s.starts_at_ms,
            available: s.available,
            held: s.held,
            booked: s.booked,
        }
    }
}

/// The state of a seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeatState {
    /// Free to book.
    Available,
    /// Held by a checkout that has not finished.
    Held,
    /// Booked.
    Booked,
}

impl SeatState {
    fn of(state: i32) -> Self {
        match v1::SeatState::try_from(state) {
            Ok(v1::SeatState::Held) => Self::Held,
            Ok(v1::SeatState::Booked) => Self::Booked,
            _ => Self::Available,
        }
    }
}

/// One seat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Seat {
    /// Seat number, 1 to the show's `seat_count`.
    pub seat_no: u32,
    /// Its state.
    pub state: SeatState,
}

impl From<v1::Seat> for Seat {
    fn from(s: v1::Seat) -> Self {
        Self {
            seat_no: s.seat_no,
            state: SeatState::of(s.state),
        }
    }
}

/// A show and every one of its seats.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SeatMap {
    /// The show.
    pub show: Show,
    /// Every seat, in seat order.
    pub seats: Vec<Seat>,
}

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

/// An account.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// Its id.
    pub user_id: String,
    /// Its email address.
    pub email: String,
    /// Whether it administers the box office.
    pub admin: bool,
    /// When it was created, ms since the Unix epoch.
    pub created_at_ms: i64,
}

impl From<v1::User> for User {
    fn from(u: v1::User) -> Self {
        Self {
            user_id: u.user_id,
            email: u.email,
            admin: u.admin,
            created_at_ms: u.created_at_ms,
        }
    }
}

/// A logged-in session.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Exchange at `POST /api/refresh` for a new session before the access
    /// token expires.
    pub refresh_token: String,
    /// When the access token expires, ms since the Unix epoch.
    pub access_expires_at_ms: i64,
    /// Who is logged in.
    pub user: Option<User>,
}

impl From<v1::Session> for Session {
    fn from(s: v1::Session) -> Self {
        Self {
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            access_expires_at_ms: s.access_expires_at_ms,
            user: s.user.map(User::from),
        }
    }
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

/// The state of a booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    /// Seats held until `hold_expires_at_ms`, waiting for payment.
    Held,
    /// Paid (or free) and booked.
    Confirmed,
    /// The hold ended without a booking (declined, expired or given up).
    Released,
    /// Cancelled by its customer.
    Cancelled,
}

/// Where a booking's payment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Nothing to pay.
    None,
    /// A charge is under way.
    Pending,
    /// Nothing was charged.
    NotCharged,
    /// Charged.
    Charged,
    /// A refund is due and under way.
    RefundPending,
    /// Refunded in full.
    Refunded,
}

/// A booking.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Booking {
    /// Its id.
    pub booking_id: String,
    /// The show.
    pub show_id: String,
    /// Its seats, ascending.
    pub seat_nos: Vec<u32>,
    /// The price of every seat together, cents.
    pub total_cents: i64,
    /// Its state.
    pub status: BookingStatus,
    /// When it was made, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// While held: when the hold ends, ms since the Unix epoch; else 0.
    pub hold_expires_at_ms: i64,
    /// When its status last changed, ms since the Unix epoch.
    pub updated_at_ms: i64,
    /// Its payment.
    pub payment_status: PaymentStatus,
    /// The payment provider's transaction, once charged; else empty.
    pub transaction_id: String,
}

impl From<v1::Booking> for Booking {
    fn from(b: v1::Booking) -> Self {
        let status = match v1::BookingStatus::try_from(b.status) {
            Ok(v1::BookingStatus::Held) => BookingStatus::Held,
            Ok(v1::BookingStatus::Released) => BookingStatus::Released,
            Ok(v1::BookingStatus::Cancelled) => BookingStatus::Cancelled,
            _ => BookingStatus::Confirmed,
        };
        let payment_status = match v1::PaymentStatus::try_from(b.payment_status) {
            Ok(v1::PaymentStatus::Pending) => PaymentStatus::Pending,
            Ok(v1::PaymentStatus::NotCharged) => PaymentStatus::NotCharged,
            Ok(v1::PaymentStatus::Charged) => PaymentStatus::Charged,
            Ok(v1::PaymentStatus::RefundPending) => PaymentStatus::RefundPending,
            Ok(v1::PaymentStatus::Refunded) => PaymentStatus::Refunded,
            _ => PaymentStatus::None,
        };
        Self {
            booking_id: b.booking_id,
            show_id: b.show_id,
            seat_nos: b.seat_nos,
            total_cents: b.total_cents,
            status,
            created_at_ms: b.created_at_ms,
            hold_expires_at_ms: b.hold_expires_at_ms,
            updated_at_ms: b.updated_at_ms,
            payment_status,
            transaction_id: b.transaction_id,
        }
    }
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

/// What a suggestion does when clicked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionAction {
    /// Hold `seat_nos` of `show_id`.
    HoldSeats,
    /// Open the seat map of `show_id`.
    ViewSeatMap,
    /// Open my bookings.
    ListBookings,
    /// Cancel `booking_id`.
    CancelBooking,
    /// Log in.
    LogIn,
    /// Open the list of shows.
    ListShows,
    /// Nothing to do but read it.
    None,
}

/// A next step the assistant offers.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Suggestion {
    /// What to show on the button.
    pub label: String,
    /// What it does.
    pub action: SuggestionAction,
    /// The show it concerns, if any.
    pub show_id: String,
    /// The seats it concerns, if any.
    pub seat_nos: Vec<u32>,
    /// The booking it concerns, if any.
    pub booking_id: String,
}

/// The assistant's answer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Answer {
    /// Send back to continue the conversation.
    pub session_id: String,
    /// The answer, in words.
    pub reply: String,
    /// What it understood the question to be about.
    pub intent: String,
    /// How sure it is of `intent`, 0 to 1.
    pub confidence: f64,
    /// Next steps to offer as buttons.
    pub suggestions: Vec<Suggestion>,
    /// The live facts the answer rests on.
    pub facts: Vec<String>,
}

impl From<v1::AskResponse> for Answer {
    fn from(a: v1::AskResponse) -> Self {
        let suggestions = a
            .suggestions
            .into_iter()
            .map(|s| {
                let action = match v1::SuggestionAction::try_from(s.action) {
                    Ok(v1::SuggestionAction::HoldSeats) => SuggestionAction::HoldSeats,
                    Ok(v1::SuggestionAction::ViewSeatMap) => SuggestionAction::ViewSeatMap,
                    Ok(v1::SuggestionAction::ListBookings) => SuggestionAction::ListBookings,
                    Ok(v1::SuggestionAction::CancelBooking) => SuggestionAction::CancelBooking,
                    Ok(v1::SuggestionAction::LogIn) => SuggestionAction::LogIn,
                    Ok(v1::SuggestionAction::ListShows) => SuggestionAction::ListShows,
                    _ => SuggestionAction::None,
                };
                Suggestion {
                    label: s.label,
                    action,
                    show_id: s.show_id,
                    seat_nos: s.seat_nos,
                    booking_id: s.booking_id,
                }
            })
            .collect();
        Self {
            session_id: a.session_id,
            reply: a.reply,
            intent: a.intent,
            confidence: a.confidence,
            suggestions,
            facts: a.facts,
        }
    }
}

/// A node's role in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// Leads: takes the writes.
    Leader,
    /// Follows the leader.
    Follower,
    /// Standing for election.
    Candidate,
    /// Receives the log but does not vote.
    Learner,
    /// Stopping.
    Shutdown,
    /// Not known (the node did not answer).
    Unknown,
}

/// One node as the cluster sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Node {
    /// Its Raft id.
    pub node_id: u64,
    /// Its gRPC address.
    pub addr: String,
    /// Whether it answered.
    pub reachable: bool,
    /// Why it did not, if it did not.
    pub error: String,
    /// Its role.
    pub role: NodeRole,
    /// Its current term.
    pub term: u64,
    /// The leader it knows of (0: none).
    pub leader_id: u64,
    /// Index of the last entry in its log.
    pub last_log_index: u64,
    /// Index of the last entry it knows committed.
    pub commit_index: u64,
    /// Index of the last entry it applied.
    pub applied_index: u64,
    /// Index its latest snapshot covers.
    pub snapshot_index: u64,
    /// Whether it votes.
    pub voter: bool,
}

/// The cluster's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Cluster {
    /// The leader (0: none known).
    pub leader_id: u64,
    /// The leader's term.
    pub term: u64,
    /// The node that answered.
    pub answered_by: u64,
    /// Every member.
    pub nodes: Vec<Node>,
}

impl From<v1::GetStatusResponse> for Cluster {
    fn from(s: v1::GetStatusResponse) -> Self {
        let nodes = s
            .nodes
            .into_iter()
            .map(|n| {
                let role = match v1::NodeRole::try_from(n.role) {
                    Ok(v1::NodeRole::Leader) => NodeRole::Leader,
                    Ok(v1::NodeRole::Follower) => NodeRole::Follower,
                    Ok(v1::NodeRole::Candidate) => NodeRole::Candidate,
                    Ok(v1::NodeRole::Learner) => NodeRole::Learner,
                    Ok(v1::NodeRole::Shutdown) => NodeRole::Shutdown,
                    _ => NodeRole::Unknown,
                };
                Node {
                    node_id: n.node_id,
                    addr: n.addr,
                    reachable: n.reachable,
                    error: n.error,
                    role,
                    term: n.term,
                    leader_id: n.leader_id,
                    last_log_index: n.last_log_index,
                    commit_index: n.commit_index,
                    applied_index: n.applied_index,
                    snapshot_index: n.snapshot_index,
                    voter: n.voter,
                }
            })
            .collect();
        Self {
            leader_id: s.leader_id,
            term: s.term,
            answered_by: s.answered_by,
            nodes,
        }
    }
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
