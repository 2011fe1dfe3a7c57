//! The JSON shapes of shows, seats, bookings, accounts, the assistant's
//! answers and the cluster: what `boxoffice … --json` prints and the
//! gateway's HTTP API returns, built `From` the cluster's messages.
//!
//! Enumerations are snake_case strings (`"held"`, `"refund_pending"`,
//! `"unknown"` for a value this build does not know); times are
//! milliseconds since the Unix epoch; money is in cents.

use boxoffice_proto::v1;
use serde::{Deserialize, Serialize};

use crate::status::{BookingStatus, NodeRole, PaymentStatus, SeatState, SuggestionAction};

pub mod tickets;
pub mod venues;

pub use venues::Ticket;

/// `From<&message>` by cloning, for callers that keep the message.
macro_rules! from_ref {
    ($($shape:ident <- $message:ident),* $(,)?) => {$(
        impl From<&v1::$message> for $shape {
            fn from(m: &v1::$message) -> Self {
                Self::from(m.clone())
            }
        }
    )*};
}

from_ref! {
    Show <- Show,
    Seat <- Seat,
    User <- User,
    Session <- Session,
    Booking <- Booking,
    Suggestion <- Suggestion,
    Answer <- AskResponse,
    Node <- NodeStatus,
    Cluster <- GetStatusResponse,
}

/// A show with its seat counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Seats held back from sale by the box office.
    pub held_back: u32,
    /// The production of a performance; empty for a simple show.
    pub production_id: String,
    /// The venue of a performance; empty for a simple show (its seats
    /// are numbered 1 to `seat_count`, in one row).
    pub venue_id: String,
    /// `scheduled`, `on sale`, `off sale`, `cancelled` or `past`.
    pub state: String,
    /// When sales open, ms since the Unix epoch; 0 when open.
    pub sales_opens_at_ms: i64,
    /// When sales close; 0 when they close as it starts.
    pub sales_closes_at_ms: i64,
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
            held_back: s.held_back,
            production_id: s.production_id,
            venue_id: s.venue_id,
            state: s.state,
            sales_opens_at_ms: s.sales_opens_at_ms,
            sales_closes_at_ms: s.sales_closes_at_ms,
        }
    }
}

/// One seat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
            state: SeatState::from_proto(s.state),
        }
    }
}

/// A show and every one of its seats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeatMap {
    /// The show.
    pub show: Show,
    /// Every seat, in seat order.
    pub seats: Vec<Seat>,
}

/// An account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// A booking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The checkout order it was paid through, if any; else empty.
    pub order_id: String,
    /// The payment provider's transaction, once charged; else empty.
    pub transaction_id: String,
    /// One ticket per seat, in the order of `seat_nos`: label, type, price.
    pub tickets: Vec<Ticket>,
}

impl From<v1::Booking> for Booking {
    fn from(b: v1::Booking) -> Self {
        Self {
            booking_id: b.booking_id,
            show_id: b.show_id,
            seat_nos: b.seat_nos,
            total_cents: b.total_cents,
            status: BookingStatus::from_proto(b.status),
            created_at_ms: b.created_at_ms,
            hold_expires_at_ms: b.hold_expires_at_ms,
            updated_at_ms: b.updated_at_ms,
            payment_status: PaymentStatus::from_proto(b.payment_status),
            order_id: b.order_id,
            transaction_id: b.transaction_id,
            tickets: b.tickets.into_iter().map(Ticket::from).collect(),
        }
    }
}

/// A next step the assistant offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

impl From<v1::Suggestion> for Suggestion {
    fn from(s: v1::Suggestion) -> Self {
        Self {
            label: s.label,
            action: SuggestionAction::from_proto(s.action),
            show_id: s.show_id,
            seat_nos: s.seat_nos,
            booking_id: s.booking_id,
        }
    }
}

/// The assistant's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
        Self {
            session_id: a.session_id,
            reply: a.reply,
            intent: a.intent,
            confidence: a.confidence,
            suggestions: a.suggestions.into_iter().map(Suggestion::from).collect(),
            facts: a.facts,
        }
    }
}

/// One node as the cluster sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Node {
    /// Its Raft id.
    pub node_id: u64,
    /// Its gRPC address.
    pub addr: String,
    /// Whether it answered.
    pub reachable: bool,
    /// Why it did not, if it did not.
    pub error: String,
    /// Its role (`unknown` when it did not answer).
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
    /// The newest format version of log commands its build reads (0: a
    /// build too old to say).
    pub reads_format: u32,
    /// The format version it writes commands in now.
    pub writes_format: u32,
}

impl From<v1::NodeStatus> for Node {
    fn from(n: v1::NodeStatus) -> Self {
        Self {
            node_id: n.node_id,
            addr: n.addr,
            reachable: n.reachable,
            error: n.error,
            role: NodeRole::from_proto(n.role),
            term: n.term,
            leader_id: n.leader_id,
            last_log_index: n.last_log_index,
            commit_index: n.commit_index,
            applied_index: n.applied_index,
            snapshot_index: n.snapshot_index,
            voter: n.voter,
            reads_format: n.reads_format,
            writes_format: n.writes_format,
        }
    }
}

/// The cluster's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
        Self {
            leader_id: s.leader_id,
            term: s.term,
            answered_by: s.answered_by,
            nodes: s.nodes.into_iter().map(Node::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn keys(value: &Value) -> Vec<&str> {
        let object = value.as_object().expect("an object");
        object.keys().map(String::as_str).collect()
    }

    #[test]
    fn a_booking_has_one_shape() {
        let b = v1::Booking {
            booking_id: "b1".into(),
            show_id: "gala".into(),
            seat_nos: vec![3, 4],
            total_cents: 9_000,
            status: v1::BookingStatus::Confirmed as i32,
            payment_status: v1::PaymentStatus::Charged as i32,
            created_at_ms: 1,
            hold_expires_at_ms: 0,
            updated_at_ms: 2,
            order_id: "o1".into(),
            transaction_id: "t1".into(),
            ..Default::default()
        };
        let value = serde_json::to_value(Booking::from(&b)).unwrap();
        let mut fields = keys(&value);
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "booking_id",
                "created_at_ms",
                "hold_expires_at_ms",
                "order_id",
                "payment_status",
                "seat_nos",
                "show_id",
                "status",
                "tickets",
                "total_cents",
                "transaction_id",
                "updated_at_ms",
            ]
        );
        assert_eq!(value["seat_nos"], json!([3, 4]));
        assert_eq!(value["status"], "confirmed");
        assert_eq!(value["payment_status"], "charged");
        // A status from a newer server is unknown, not confirmed.
        let newer = v1::Booking {
            status: 42,
            payment_status: 42,
            ..b
        };
        let value = serde_json::to_value(Booking::from(newer)).unwrap();
        assert_eq!(value["status"], "unknown");
        assert_eq!(value["payment_status"], "unknown");
    }

    #[test]
    fn shows_seats_and_users_have_their_shapes() {
        let show = v1::Show {
            show_id: "gala".into(),
            title: "Gala".into(),
            seat_count: 20,
            price_cents: 4_500,
            starts_at_ms: 7,
            available: 18,
            held: 1,
            booked: 1,
            ..Default::default()
        };
        let value = serde_json::to_value(Show::from(&show)).unwrap();
        assert_eq!(
            value,
            json!({"show_id": "gala", "title": "Gala", "seat_count": 20,
                "price_cents": 4500, "starts_at_ms": 7, "available": 18,
                "held": 1, "booked": 1, "held_back": 0, "production_id": "",
                "venue_id": "", "state": "", "sales_opens_at_ms": 0,
                "sales_closes_at_ms": 0})
        );
        let seat = |state: i32| {
            let seat = Seat::from(v1::Seat { seat_no: 1, state });
            serde_json::to_value(seat).unwrap()
        };
        let held = seat(v1::SeatState::Held as i32);
        assert_eq!(held, json!({"seat_no": 1, "state": "held"}));
        // An unknown seat is not offered as available.
        assert_eq!(seat(9)["state"], "unknown");
        let user = v1::User {
            user_id: "u1".into(),
            email: "a@b.c".into(),
            admin: true,
            created_at_ms: 5,
        };
        assert_eq!(
            serde_json::to_value(User::from(&user)).unwrap(),
            json!({"user_id": "u1", "email": "a@b.c", "admin": true, "created_at_ms": 5})
        );
    }

    #[test]
    fn answers_and_the_cluster_name_their_enums() {
        let answer = v1::AskResponse {
            session_id: "s".into(),
            suggestions: vec![v1::Suggestion {
                label: "Hold".into(),
                action: v1::SuggestionAction::HoldSeats as i32,
                seat_nos: vec![7],
                ..Default::default()
            }],
            ..Default::default()
        };
        let value = serde_json::to_value(Answer::from(&answer)).unwrap();
        assert_eq!(value["suggestions"][0]["action"], "hold_seats");
        assert_eq!(value["suggestions"][0]["seat_nos"], json!([7]));
        let status = v1::GetStatusResponse {
            leader_id: 1,
            nodes: vec![
                v1::NodeStatus {
                    node_id: 1,
                    reachable: true,
                    role: v1::NodeRole::Leader as i32,
                    ..Default::default()
                },
                v1::NodeStatus {
                    node_id: 2,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let value = serde_json::to_value(Cluster::from(&status)).unwrap();
        assert_eq!(value["nodes"][0]["role"], "leader");
        assert_eq!(value["nodes"][1]["role"], "unknown");
        assert_eq!(value["nodes"][1]["reachable"], false);
    }
}
