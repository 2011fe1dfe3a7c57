//! The JSON shapes of the API: request bodies and the answers only the
//! gateway gives (a show's plan, a return, a live update) here; the shapes
//! of shows, seats, bookings and tickets, venues, productions, prices,
//! sales reports, accounts, answers and the cluster are the view layer's
//! ([`boxoffice_view::json`]), the same ones `boxoffice … --json` prints.
//!
//! Enumerations are snake_case strings (`"held"`, `"refund_pending"`,
//! `"unknown"` for a value this build does not know); times are
//! milliseconds since the Unix epoch; money is in cents.

pub use boxoffice_view::json::tickets::{ETicket, ScanAnswer, ScanResult, TicketKey};
pub use boxoffice_view::json::venues::{
    PriceTable, Production, ProductionListing, SalesReport, SeatLayout, Ticket, Venue, VenueDetail,
    VenueSummary,
};
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

/// Places to hold for a checkout: seats by number and by label, standing
/// places, a best-available pick, or several of these; 1 to 10 in all.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// The show (a performance, or a simple show).
    pub show_id: String,
    /// Distinct seat numbers.
    #[serde(default)]
    pub seat_nos: Vec<u32>,
    /// Seats by label ("K-12" or "Stalls K-12"), after `seat_nos`.
    #[serde(default)]
    pub seat_labels: Vec<String>,
    /// The ticket type of each seat of `seat_nos` then `seat_labels`
    /// ("adult", "concession"), or none for the default type of every one.
    #[serde(default)]
    pub ticket_types: Vec<String>,
    /// Standing places.
    #[serde(default)]
    pub standing: Vec<StandingPick>,
    /// Seats the cluster picks: the best block together.
    pub best: Option<BestPick>,
    /// While the performance's waiting room guards it: the admission
    /// token its queue gave the caller (`QueueStanding::admission_token`).
    /// Absent or stale, the gateway asks the room for it.
    #[serde(default)]
    pub admission_token: String,
}

/// Standing places wanted in one area.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StandingPick {
    /// The standing area's name.
    pub area: String,
    /// How many places.
    pub count: u32,
    /// Their ticket type; empty or absent for the default.
    #[serde(default)]
    pub ticket_type: String,
}

/// "The best N seats together", picked by the cluster.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BestPick {
    /// How many seats.
    pub count: u32,
    /// Only seats of this price category; empty or absent for any.
    #[serde(default)]
    pub category: String,
    /// Their ticket type; empty or absent for the default.
    #[serde(default)]
    pub ticket_type: String,
    /// Whether wheelchair spaces may be chosen (never otherwise).
    #[serde(default)]
    pub wheelchair: bool,
}

/// A venue to import: exactly one of `toml` (a venue file, as
/// `examples/venues/theatre.toml`, format in docs/venues.md) and `venue`
/// (the layout as JSON, the shape `GET /api/venues/{venue_id}` returns).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVenue {
    /// The new venue's id (1-64 printable characters, no spaces).
    pub venue_id: String,
    /// The venue file's text.
    pub toml: Option<String>,
    /// The layout as JSON.
    pub venue: Option<Venue>,
}

/// A new production.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduction {
    /// Its id (1-64 printable characters, no spaces).
    pub production_id: String,
    /// Its title, 1-200 characters.
    pub title: String,
    /// A description for buyers, up to 2,000 characters.
    #[serde(default)]
    pub description: String,
    /// Running time in minutes (0 if not known).
    #[serde(default)]
    pub running_minutes: u32,
}

/// One performance of a run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPerformance {
    /// Its id: a show id, which customers book.
    pub show_id: String,
    /// Its start, ms since the Unix epoch.
    pub starts_at_ms: i64,
}

/// A run of performances of a production at one venue, with one sales
/// window and one pricing; added all or none.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// The venue.
    pub venue_id: String,
    /// The performances, 1 to 400.
    pub performances: Vec<NewPerformance>,
    /// When sales open, ms since the Unix epoch; 0 or absent for now.
    #[serde(default)]
    pub sales_opens_at_ms: i64,
    /// When sales close; 0 or absent for when each performance starts.
    #[serde(default)]
    pub sales_closes_at_ms: i64,
    /// The pricing file's text (as `examples/venues/theatre-pricing.toml`):
    /// ticket types and price categories with their places and prices.
    pub pricing_toml: String,
}

/// Seats of a performance, by number and by label, to hold back from
/// sale or to release.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatPick {
    /// Seats by number.
    #[serde(default)]
    pub seat_nos: Vec<u32>,
    /// Seats by label, besides `seat_nos`.
    #[serde(default)]
    pub seat_labels: Vec<String>,
    /// Why (holding back only; shown to staff), 1-200 characters.
    #[serde(default)]
    pub reason: String,
}

/// Tickets of a booking to return.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    /// The seats whose tickets go back; empty or absent for all of them
    /// (the booking is then cancelled).
    #[serde(default)]
    pub seat_nos: Vec<u32>,
}

/// What a return did.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Returned {
    /// The booking with the tickets it keeps; absent when every ticket
    /// went back.
    pub kept: Option<Booking>,
    /// The returned tickets, as a cancelled booking.
    pub returned: Booking,
    /// What is refunded to the card, cents (the returned tickets' prices;
    /// 0 when nothing had been charged).
    pub refund_cents: i64,
}

/// A show's plan for drawing its seat map: the venue's layout, every
/// place with its label, category and position, the prices, and every
/// place's state now (live changes: `GET /api/shows/{show_id}/events`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShowPlan {
    /// The show and its counts.
    pub show: Show,
    /// The venue's layout; absent for a simple show (seats `1..N`).
    pub venue: Option<Venue>,
    /// Categories, ticket types and prices.
    pub prices: PriceTable,
    /// Every place, in place order.
    pub places: Vec<SeatLayout>,
    /// Every place's state, in place order.
    pub seats: Vec<Seat>,
}

/// A cancelled performance.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CancelledPerformance {
    /// The performance, now cancelled.
    pub show: Show,
    /// The bookings it cancelled or released, with their refunds.
    pub bookings: Vec<Booking>,
}

/// How to render a sales report.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportFormat {
    /// `json` (the default) or `csv`.
    #[serde(default)]
    pub format: Option<String>,
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

/// Which tickets to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TicketsQuery {
    /// Only this booking's tickets (a booking of mine).
    #[serde(default)]
    pub booking_id: Option<String>,
}

/// A code scanned at a door.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// The performance this door admits to.
    pub show_id: String,
    /// The gate scanning (no spaces).
    pub gate: String,
    /// The scanned code.
    pub code: String,
    /// Names the scan: a retry with the same id is recorded once.
    /// A fresh one when absent.
    #[serde(default)]
    pub request_id: Option<String>,
    /// An exit scan (where the performance allows re-entry): the ticket
    /// goes out and may come in again.
    #[serde(default)]
    pub exit: bool,
}

/// Whom a ticket goes to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The receiving account: its email or id.
    pub to: String,
}

/// A ticket given away.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Transferred {
    /// The ticket.
    pub ticket_id: String,
    /// Its new version (the code you held no longer admits).
    pub version: u32,
    /// The new holder's account id.
    pub to_user_id: String,
}

/// A performance's door, counted: what the front-of-house manager watches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DoorCounts {
    /// The performance.
    pub show_id: String,
    /// When counted (Unix ms, the cluster's clock).
    pub at_ms: i64,
    /// Current tickets.
    pub sold: u32,
    /// Tickets in now.
    pub inside: u32,
    /// Admissions by gate (a ticket's latest).
    pub gates: Vec<GateCount>,
    /// Tickets admitted at two gates while one was offline (listed and
    /// counted beyond the list).
    pub conflicts: u64,
    /// Whether exits and re-entry are allowed.
    pub reentry: bool,
}

/// Admissions at one gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GateCount {
    /// The gate.
    pub gate: String,
    /// Tickets admitted there.
    pub admitted: u32,
}

impl From<boxoffice_client::proto::DoorList> for DoorCounts {
    fn from(l: boxoffice_client::proto::DoorList) -> Self {
        Self {
            show_id: l.show_id,
            at_ms: l.at_ms,
            sold: l.sold,
            inside: l.inside,
            gates: l
                .gates
                .into_iter()
                .map(|g| GateCount {
                    gate: g.gate,
                    admitted: g.admitted,
                })
                .collect(),
            conflicts: (l.conflicts.len() as u64).saturating_add(l.conflicts_dropped),
            reentry: l.reentry,
        }
    }
}

/// A performance's waiting room and where the caller stands in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueueStanding {
    /// The performance.
    pub show_id: String,
    /// "pre_queue" (before the opening), "open" or "sold_out".
    pub phase: String,
    /// When the room opens (Unix ms).
    pub opens_at_ms: i64,
    /// Buyers waiting.
    pub waiting: u64,
    /// Buyers let in now.
    pub admitted: u64,
    /// "outside", "pre_queue", "waiting", "admitted" or "closed".
    pub status: String,
    /// Waiting or admitted: the caller's place.
    pub place: u64,
    /// Waiting: their position (1 is next).
    pub position: u64,
    /// Waiting: about how long until they are let in, ms.
    pub estimated_wait_ms: i64,
    /// Admitted: until when the admission holds unused (Unix ms).
    pub admitted_until_ms: i64,
    /// The proof of work a join needs: leading zero bits of SHA-256 over
    /// `join_challenge` and the nonce's 8 big-endian bytes.
    pub join_pow_bits: u32,
    /// The caller's challenge, in hex.
    pub join_challenge: String,
    /// Admitted: the token each hold of the performance carries while the
    /// room guards it (signed by the cluster, bound to the caller and the
    /// performance).
    pub admission_token: String,
}

impl From<boxoffice_client::proto::WaitingRoomResponse> for QueueStanding {
    fn from(r: boxoffice_client::proto::WaitingRoomResponse) -> Self {
        let room = r.room.unwrap_or_default();
        let you = r.you.unwrap_or_default();
        Self {
            show_id: room.show_id,
            phase: room.phase,
            opens_at_ms: room.rules.map_or(0, |rules| rules.opens_at_ms),
            waiting: room.waiting,
            admitted: room.admitted,
            status: you.status,
            place: you.place,
            position: you.position,
            estimated_wait_ms: you.estimated_wait_ms,
            admitted_until_ms: you.admitted_until_ms,
            join_pow_bits: you.join_pow_bits,
            join_challenge: you
                .join_challenge
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            admission_token: you.admission_token,
        }
    }
}

/// A performance's waiting list and where the caller stands on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListStanding {
    /// The performance.
    pub show_id: String,
    /// Entries waiting.
    pub waiting: u64,
    /// Offers outstanding.
    pub offered: u64,
    /// "outside", "waiting" or "offered".
    pub status: String,
    /// Waiting: the entry's place and its position (1 is the front).
    pub place: u64,
    /// Waiting: the position (1 is the front).
    pub position: u64,
    /// On the list: the seats wanted.
    pub quantity: u32,
    /// On the list: the price category wanted ("" for any).
    pub category: String,
    /// Offered: the seats held for the caller (pay before the hold ends).
    pub offer: Option<Booking>,
}

impl From<boxoffice_client::proto::WaitingListResponse> for ListStanding {
    fn from(r: boxoffice_client::proto::WaitingListResponse) -> Self {
        let list = r.list.unwrap_or_default();
        let you = r.you.unwrap_or_default();
        Self {
            show_id: list.show_id,
            waiting: list.waiting,
            offered: list.offered,
            status: you.status,
            place: you.place,
            position: you.position,
            quantity: you.quantity,
            category: you.category,
            offer: you.offer.map(Booking::from),
        }
    }
}

/// A join of a waiting list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinList {
    /// Seats wanted together or close (1 to 10).
    pub quantity: u32,
    /// The price category wanted; absent or empty for any.
    #[serde(default)]
    pub category: String,
}

/// A join of a waiting room.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinQueue {
    /// The proof of work: see `QueueStanding::join_pow_bits` (0 when none
    /// is asked).
    #[serde(default)]
    pub pow_nonce: u64,
}
