//! The vocabulary of the state machine: a [`Request`] and the [`Command`]
//! it carries, with the parts commands are made of ([`Caller`],
//! [`HoldLimits`]). What applying one produces is in [`crate::outcome`];
//! how one is checked before it runs, in [`crate::validate`].

use serde::{Deserialize, Serialize};

use crate::card::CardFingerprint;
use crate::ids::{
    BookingId, DEFAULT_HOLD_COOLDOWN_MS, DEFAULT_MAX_HELD_SEATS, DEFAULT_MAX_HOLDS_PER_HOUR,
    DEFAULT_MAX_SEATS_PER_CARD, DEFAULT_MAX_SEATS_PER_NETWORK, OrderId, ProductionId, RequestId,
    SeatNo, ShowId, Timestamp, TransactionId, UserId, VenueId,
};
use crate::network::Network;
use crate::pricing::PricingSpec;
use crate::state::{DoorScope, RoomRules};
use crate::venue::Venue;

/// Who issued a request, as the gRPC edge authenticated them (from a verified session token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The user the session token was issued to.
    pub user: UserId,
    /// The user's token version when the token was issued; it must still be current.
    pub token_version: u64,
}

/// One entry of the replicated log: a command plus the idempotency key it travels under.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Client-chosen idempotency key; retries reuse it.
    pub request_id: RequestId,
    /// The authenticated end user who sent the request, checked by
    /// [`State::apply`](crate::State::apply); `None` marks a trusted internal
    /// request (the auth service's own calls, bootstrap), which may issue
    /// any command.
    pub caller: Option<Caller>,
    /// What to do.
    pub command: Command,
}

/// Prefix of the request ids the system's own steps use (`sys:confirm:…`);
/// requests from end users may not use it, so that no client can occupy
/// the id of a step the system will take.
pub const SYSTEM_REQUEST_PREFIX: &str = "sys:";

impl Request {
    /// Whether [`State::apply`](crate::State::apply) records this request's
    /// outcome for dedup, if it succeeds (rejections never are): every
    /// request but the system's `Confirm`, joining a waiting room and the
    /// rooms' tick.
    ///
    /// The checkout confirms each paid booking once, as a trusted request,
    /// and a confirmation is idempotent by the state alone: confirming a
    /// booking already confirmed with the same payment returns it as it
    /// is, and any other retry is refused as the first attempt was, or as
    /// the booking now stands (say, cancelled since, which the checkout
    /// reports as such). A record would only replay a stale "confirmed"
    /// and cost memory: one record per paid booking, kept for the whole
    /// dedup window.
    pub fn remembered(&self) -> bool {
        match self.command {
            // Idempotent by the state: one place per buyer, a tick
            // repeated at the same time lets nobody more in, and a card
            // attached again changes nothing (so a payment retried with
            // another card under the same step id is not a reused id).
            Command::JoinWaitingRoom { .. }
            | Command::TickWaitingRooms { .. }
            | Command::JoinWaitingList { .. }
            | Command::LeaveWaitingList { .. }
            | Command::AttachCard { .. } => false,
            Command::Confirm { .. } => self.caller.is_some(),
            _ => true,
        }
    }
}

/// The limits against hoarding that a `Hold` carries from the node's
/// configuration, as `max_seats_per_user` does. Each is 0 for none.
/// Administrators (box office staff) are exempt from all of them.
///
/// They are checked against the bookings themselves, so they need no
/// state of their own: the held seats through the active-seat index, the
/// hourly count and the cool-down through the customer's bookings of the
/// last hour or so, newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldLimits {
    /// Most seats the customer may hold at once, over all shows, these
    /// included ([`Rejection::HeldSeatLimit`](crate::Rejection::HeldSeatLimit)).
    pub max_held_seats: u32,
    /// Most holds the customer may start in any
    /// [`HOLD_RATE_WINDOW_MS`](crate::HOLD_RATE_WINDOW_MS) (an hour),
    /// this one included ([`Rejection::HoldRateLimit`](crate::Rejection::HoldRateLimit)).
    pub max_holds_per_hour: u32,
    /// How long, in milliseconds, after one of the customer's holds lapsed
    /// unpaid (released by `ExpireHolds`) they may not hold any of its
    /// seats again; at most [`MAX_HOLD_COOLDOWN_MS`](crate::MAX_HOLD_COOLDOWN_MS)
    /// ([`Rejection::HoldCooldown`](crate::Rejection::HoldCooldown)). It runs from the release, or from the
    /// latest time the hold could have lasted to
    /// ([`MAX_HOLD_TTL_MS`](crate::MAX_HOLD_TTL_MS) after it was made) if the sweep ran later.
    pub cooldown_ms: i64,
    /// Most seats the customers of one network (an IPv4 /24, an IPv6 /64)
    /// may have in active bookings of one show, these included
    /// ([`Rejection::NetworkLimit`](crate::Rejection::NetworkLimit)):
    /// fifty accounts behind one address get what one household may.
    pub max_seats_per_network: u32,
    /// The network the customer's request came from, as the edge that
    /// received it saw it (`None`: not known, and not capped). Unlike the
    /// others, this is kept with the booking while it is active, so that
    /// the hold's seats count against its network until they are freed.
    pub network: Option<Network>,
    /// Most seats one payment card may pay for in active bookings of one
    /// show, these included ([`Rejection::CardLimit`](crate::Rejection::CardLimit)).
    pub max_seats_per_card: u32,
    /// The fingerprint of the card that pays for a one-call checkout
    /// (`None`: not known yet, and not capped: a two-step hold gets its
    /// card by `AttachCard` when it is paid). Kept with the booking while
    /// it is active, as the network is.
    pub card: Option<CardFingerprint>,
}

impl HoldLimits {
    /// No limits at all.
    pub const NONE: Self = Self {
        max_held_seats: 0,
        max_holds_per_hour: 0,
        cooldown_ms: 0,
        max_seats_per_network: 0,
        network: None,
        max_seats_per_card: 0,
        card: None,
    };
}

/// [`DEFAULT_MAX_HELD_SEATS`], [`DEFAULT_MAX_HOLDS_PER_HOUR`] and [`DEFAULT_HOLD_COOLDOWN_MS`].
impl Default for HoldLimits {
    fn default() -> Self {
        Self {
            max_held_seats: DEFAULT_MAX_HELD_SEATS,
            max_holds_per_hour: DEFAULT_MAX_HOLDS_PER_HOUR,
            cooldown_ms: DEFAULT_HOLD_COOLDOWN_MS,
            max_seats_per_network: DEFAULT_MAX_SEATS_PER_NETWORK,
            network: None,
            max_seats_per_card: DEFAULT_MAX_SEATS_PER_CARD,
            card: None,
        }
    }
}

/// What a `Hold` or `Book` asks for beyond the seats it names: a ticket
/// type per named seat, standing places, and "the best N seats together".
/// The default asks for nothing more (every named seat at the default
/// type), which is all a simple show offers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tickets {
    /// The ticket type of each named seat, in the order of `seats`; empty
    /// for the performance's default type (its first) for all.
    pub types: Vec<String>,
    /// Standing places to take, the first free ones of each area.
    pub standing: Vec<StandingRequest>,
    /// Seats the state machine picks: the best block it can find.
    pub best: Option<BestRequest>,
}

impl Tickets {
    /// Whether this asks for nothing beyond the named seats at the default type.
    pub fn is_plain(&self) -> bool {
        self.types.is_empty() && self.standing.is_empty() && self.best.is_none()
    }
}

/// Standing places wanted in one area.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandingRequest {
    /// The standing area's name.
    pub area: String,
    /// How many places.
    pub count: u32,
    /// Their ticket type; empty for the default.
    pub ticket_type: String,
}

/// "N seats together": the state machine picks the block (see
/// [`crate::best`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BestRequest {
    /// How many seats.
    pub count: u32,
    /// Only seats of this price category; empty for any.
    pub category: String,
    /// Their ticket type; empty for the default.
    pub ticket_type: String,
    /// Whether wheelchair spaces may be chosen (they never are otherwise).
    pub wheelchair: bool,
}

/// When a performance is on sale; `None` bounds leave that side open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesWindow {
    /// Sales open at this instant.
    pub opens_at: Option<Timestamp>,
    /// Sales close at this instant (at the latest when the performance starts).
    pub closes_at: Option<Timestamp>,
}

/// One performance of a run to add.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPerformance {
    /// Its id (a show id: performances are what customers book).
    pub show: ShowId,
    /// When it starts.
    pub starts_at: Timestamp,
}

/// A change to the booking state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Create a new show; rejected if the id exists.
    CreateShow {
        /// Id of the new show.
        show: ShowId,
        /// Human-readable title; stored trimmed.
        title: String,
        /// Number of seats, numbered `1..=seat_count`.
        seat_count: u32,
        /// Price of one seat, in cents.
        price_cents: i64,
        /// When the show starts; no seats can be held or booked from then on.
        starts_at: Timestamp,
    },
    /// Change some fields of a show; seat_count may grow, and may shrink only if every removed seat is available.
    UpdateShow {
        /// Show to change.
        show: ShowId,
        /// New title, if changing; stored trimmed.
        title: Option<String>,
        /// New number of seats, if changing.
        seat_count: Option<u32>,
        /// New seat price in cents, if changing; existing bookings keep their price.
        price_cents: Option<i64>,
        /// New start time, if changing.
        starts_at: Option<Timestamp>,
    },
    /// Hold seats for `user` until now + ttl_ms (the first step of a
    /// checkout), for the order `order`. All or none. The booking's payment
    /// starts [`Payment::Pending`](crate::Payment::Pending).
    Hold {
        /// The checkout order: the idempotency key of its charge. For
        /// deduplication it is a nonce, not part of the request (the
        /// dedup fingerprint leaves it out): a retry that carries a freshly
        /// drawn order id still gets the first outcome, with the first
        /// order id.
        order: OrderId,
        /// Show the seats belong to.
        show: ShowId,
        /// Seats to hold, in any order, without duplicates.
        seats: Vec<SeatNo>,
        /// Ticket types, standing places and best-available picks.
        tickets: Tickets,
        /// Customer the hold is for.
        user: UserId,
        /// How long the hold lasts, in milliseconds.
        ttl_ms: i64,
        /// Most seats of this show the customer may have in active (held or
        /// confirmed) bookings, these included; 0 means no limit.
        /// Administrators are exempt.
        max_seats_per_user: u32,
        /// The limits against hoarding, over all shows.
        limits: HoldLimits,
    },
    /// Confirm a held booking: its charge succeeded (or it costs nothing).
    /// Rejected if the hold expired or was released; confirming again with
    /// the same transaction returns the booking unchanged.
    Confirm {
        /// Booking to confirm.
        booking: BookingId,
        /// The charge that paid for it; `None` exactly when its total is 0.
        transaction: Option<TransactionId>,
    },
    /// Release a held booking (payment declined or abandoned). Seats become
    /// available; its payment stays [`Payment::Pending`](crate::Payment::Pending) until a
    /// [`Command::Settle`] records what the payment provider says.
    Release {
        /// Booking to release.
        booking: BookingId,
    },
    /// Record what became of the charge of a booking whose hold ended
    /// without a confirmation, once the payment provider has answered for
    /// good (the order's key was voided): a charge that was made must be
    /// refunded ([`Payment::RefundDue`](crate::Payment::RefundDue)); none means [`Payment::NotCharged`](crate::Payment::NotCharged).
    Settle {
        /// A released booking whose payment is pending.
        booking: BookingId,
        /// The successful charge made under the order's key, if any.
        charge: Option<TransactionId>,
    },
    /// Record that a due refund was made: [`Payment::RefundDue`](crate::Payment::RefundDue) becomes
    /// [`Payment::Refunded`](crate::Payment::Refunded). Recording it again is harmless.
    RecordRefund {
        /// The booking whose charge was refunded.
        booking: BookingId,
    },
    /// Book seats directly (hold + confirm in one step, used when no payment step is configured). All or none.
    Book {
        /// Show the seats belong to.
        show: ShowId,
        /// Seats to book, in any order, without duplicates.
        seats: Vec<SeatNo>,
        /// Ticket types, standing places and best-available picks.
        tickets: Tickets,
        /// Customer the booking is for.
        user: UserId,
        /// Most seats of this show the customer may have in active (held or
        /// confirmed) bookings, these included; 0 means no limit.
        /// Administrators are exempt.
        max_seats_per_user: u32,
    },
    /// Cancel a booking owned by `user`; seats become available again. A
    /// confirmed booking becomes cancelled (a charge it was paid with
    /// becomes [`Payment::RefundDue`](crate::Payment::RefundDue)); a held one is released (its checkout
    /// abandoned). Cancelling a booking that is no longer active returns it
    /// unchanged.
    Cancel {
        /// Booking to cancel.
        booking: BookingId,
        /// Customer asking; must own the booking.
        user: UserId,
    },
    /// Release every hold whose expires_at <= now.
    ExpireHolds,
    /// Store a venue's layout; rejected if the id exists or the layout
    /// breaks a rule ([`Venue::check`]). Venues are never changed in place:
    /// performances refer to them by id.
    CreateVenue {
        /// Id of the new venue.
        venue: VenueId,
        /// Its layout.
        layout: Venue,
    },
    /// Create a production: a work with a run of performances.
    CreateProduction {
        /// Id of the new production.
        production: ProductionId,
        /// Its title; stored trimmed.
        title: String,
        /// A description for buyers (up to 2,000 characters).
        description: String,
        /// Running time in minutes (0 if not known).
        running_minutes: u32,
    },
    /// Add performances of a production at a venue, all with the same sales
    /// window and prices. All or none.
    AddPerformances {
        /// The production.
        production: ProductionId,
        /// The venue.
        venue: VenueId,
        /// The performances (ids and start times).
        performances: Vec<NewPerformance>,
        /// When they are on sale.
        sales: SalesWindow,
        /// Their price categories, ticket types and prices.
        pricing: PricingSpec,
    },
    /// Cancel a performance: no more sales; every confirmed booking is
    /// cancelled (its charge becomes a refund due) and every hold released.
    /// Cancelling again returns the performance as it is.
    CancelPerformance {
        /// The performance.
        show: ShowId,
    },
    /// Take available seats off sale (house seats, press, sight-line kills).
    HoldBack {
        /// The performance.
        show: ShowId,
        /// The seats; each must be available.
        seats: Vec<SeatNo>,
        /// Why (shown to staff).
        reason: String,
    },
    /// Put held-back seats on sale again.
    ReleaseHeldBack {
        /// The performance.
        show: ShowId,
        /// The seats; each must be held back.
        seats: Vec<SeatNo>,
    },
    /// Return some tickets of a confirmed booking owned by `user`: those
    /// seats become available, the booking keeps the rest, and a new
    /// cancelled booking records the returned tickets with their price as
    /// the refund due. Returning every ticket is a `Cancel`.
    ReturnTickets {
        /// The booking.
        booking: BookingId,
        /// The seats (places) to return.
        seats: Vec<SeatNo>,
        /// The customer asking; must own the booking.
        user: UserId,
    },
    /// Create a user account; its id (`u1`, `u2`, …) comes from a counter.
    RegisterUser {
        /// Email address; stored normalised (see [`normalize_email`](crate::normalize_email)) and unique among accounts.
        email: String,
        /// Password hash (a PHC string) computed by the auth service; core never sees passwords.
        password_hash: String,
        /// Whether the account gets the administrator role; needs an administrator or trusted caller.
        admin: bool,
    },
    /// Create the first administrator; refused once any administrator exists. Trusted callers only.
    BootstrapAdmin {
        /// Email address; stored normalised and unique among accounts.
        email: String,
        /// Password hash (a PHC string) computed by the auth service.
        password_hash: String,
    },
    /// Grant or revoke the administrator role; the last administrator cannot be revoked.
    SetAdmin {
        /// The account to change.
        user: UserId,
        /// Whether it should have the administrator role.
        admin: bool,
    },
    /// Log `user` out everywhere: bumps their token version, so every earlier token is refused.
    RevokeSessions {
        /// The account whose sessions end.
        user: UserId,
    },
    /// Replace `user`'s password hash; also bumps their token version, ending every session.
    ChangePassword {
        /// The account to change.
        user: UserId,
        /// The new password hash (a PHC string) computed by the auth service.
        password_hash: String,
    },
    /// Scan a ticket at a door: the first scan of a current, paid ticket of
    /// `show` admits it; any scan's finding is the outcome (`Scanned`).
    CheckIn {
        /// The performance the door is for.
        show: ShowId,
        /// The booking the ticket belongs to.
        booking: BookingId,
        /// The ticket's place.
        place: SeatNo,
        /// The version the ticket's code carries.
        version: u32,
        /// The gate scanning ("north", "stalls-left").
        gate: String,
        /// When the gate scanned it, for a scan made while cut off from
        /// the cluster and uploaded later; `None` for a live scan.
        offline_at: Option<Timestamp>,
    },
    /// Give a ticket a new code: its version goes up and every code
    /// printed before stops admitting (a lost or shared ticket). The
    /// ticket must be current and not yet used.
    ReissueTicket {
        /// The booking the ticket belongs to.
        booking: BookingId,
        /// The ticket's place.
        place: SeatNo,
        /// The customer asking; must own the booking (or be an administrator).
        user: UserId,
    },
    /// Record a public key that verifies ticket codes (a node's own
    /// signing key, registered by that node). A key stays until an
    /// administrator retires it, so codes signed before a rotation keep
    /// verifying; a retired key id is never accepted again.
    AddTicketKey {
        /// Key id, as codes name it.
        kid: String,
        /// The Ed25519 public key.
        public: [u8; 32],
    },
    /// Let `user` check tickets in at the doors of a production's
    /// performances, or of every performance at a venue (door staff: they
    /// may scan, nothing else). Granting twice changes nothing.
    GrantDoorStaff {
        /// The account.
        user: UserId,
        /// Where.
        scope: DoorScope,
    },
    /// Withdraw a [`Command::GrantDoorStaff`]; withdrawing what was never
    /// granted changes nothing.
    RevokeDoorStaff {
        /// The account.
        user: UserId,
        /// Where.
        scope: DoorScope,
    },
    /// Give a ticket to another account: its version goes up, so the code
    /// the giver holds stops admitting, and only the new holder sees (and
    /// may reissue or pass on) the new one. The ticket must be current and
    /// not yet used; the buyer can no longer return it.
    TransferTicket {
        /// The booking the ticket belongs to.
        booking: BookingId,
        /// The ticket's place.
        place: SeatNo,
        /// The ticket's holder, giving it.
        user: UserId,
        /// The account receiving it.
        to: UserId,
    },
    /// Scan a ticket on its way out, at a performance that allows exits
    /// and re-entry: a ticket that is in is marked out, and its next
    /// `CheckIn` admits it again.
    CheckOut {
        /// The performance the door is for.
        show: ShowId,
        /// The booking the ticket belongs to.
        booking: BookingId,
        /// The ticket's place.
        place: SeatNo,
        /// The version the ticket's code carries.
        version: u32,
        /// The gate scanning.
        gate: String,
    },
    /// Allow (or stop allowing) exits and re-entry at a performance.
    SetReentry {
        /// The performance.
        show: ShowId,
        /// Whether tickets may go out and come in again.
        allowed: bool,
    },
    /// Stop trusting a ticket key (a node's key that leaked, or an old
    /// one after a rotation): every code it signed stops admitting at
    /// once, its id can never be registered again, and the node that
    /// held it signs with a new key from then on. Retiring a retired key
    /// changes nothing.
    RetireTicketKey {
        /// Key id.
        kid: String,
    },
    /// Set up, change or (with `None`) remove the waiting room of a
    /// performance (see [`WaitingRoom`](crate::WaitingRoom)). Removing it
    /// drops everyone in it; holds then need no admission.
    SetWaitingRoom {
        /// The performance.
        show: ShowId,
        /// The room's rules, or `None` for no room.
        rules: Option<RoomRules>,
    },
    /// `user` takes a place in the performance's waiting room (one per
    /// buyer: joining again keeps the place).
    JoinWaitingRoom {
        /// The performance.
        show: ShowId,
        /// The buyer.
        user: UserId,
    },
    /// The system's periodic step of every waiting room: open those whose
    /// time has come (shuffling their pre-queues with `seed`), sweep lapsed
    /// admissions, close the sold-out ones, let buyers in.
    TickWaitingRooms {
        /// Drawn by the leader for the rooms that open in this step.
        seed: u64,
    },
    /// `user` joins the waiting list of a performance (see
    /// [`WaitingList`](crate::WaitingList)) for `quantity` seats of
    /// `category` (empty: any), which must not be free now. One entry per
    /// buyer: joining again keeps it as it is.
    JoinWaitingList {
        /// The performance.
        show: ShowId,
        /// The buyer.
        user: UserId,
        /// How many seats.
        quantity: u32,
        /// The price category's name; empty for any.
        category: String,
        /// How long an offer to this entry lasts, ms (from the node's
        /// configuration, as a hold's `ttl_ms`).
        offer_ms: i64,
        /// The per-account cap (0: none): checked at the join with the
        /// quantity, and again when an offer is made.
        max_seats_per_user: u32,
        /// The limits against hoarding and the network, as a hold
        /// carries them: the offer is made under them.
        limits: HoldLimits,
    },
    /// `user` leaves the waiting list of a performance, giving up any
    /// offer outstanding.
    LeaveWaitingList {
        /// The performance.
        show: ShowId,
        /// The buyer.
        user: UserId,
    },
    /// The checkout's step before it charges a held booking: the card
    /// that will pay for it, counted against the cap per card from now
    /// while the booking is active (refused past `max_seats_per_card`;
    /// 0: no cap). Attaching another card replaces the first. A booking
    /// of box office staff is left as it is.
    AttachCard {
        /// The held booking.
        booking: BookingId,
        /// The card's fingerprint.
        card: CardFingerprint,
        /// The cap, from the node's configuration.
        max_seats_per_card: u32,
    },
}

/// Raft log entries are postcard-encoded, which numbers an enum's variants
/// by position: a variant inserted in the middle would make every entry
/// written by an earlier release decode as another command. New variants
/// go at the end; these pin the positions entries already use.
#[cfg(test)]
mod wire_order {
    use super::*;
    use crate::outcome::{Effect, Rejection};

    fn tag<T: Serialize>(value: &T) -> u8 {
        postcard::to_allocvec(value).expect("encodes")[0]
    }

    #[test]
    fn variants_keep_their_positions() {
        let user = UserId::from("u1");
        assert_eq!(tag(&Command::ExpireHolds), 9);
        assert_eq!(
            tag(&Command::CancelPerformance {
                show: ShowId::from("s")
            }),
            13
        );
        assert_eq!(tag(&Command::RevokeSessions { user: user.clone() }), 20);
        assert_eq!(
            tag(&Command::ReissueTicket {
                booking: BookingId(1),
                place: SeatNo(1),
                user,
            }),
            23
        );
        assert_eq!(
            tag(&Command::SetReentry {
                show: ShowId::from("s"),
                allowed: true
            }),
            29
        );
        assert_eq!(tag(&Command::RetireTicketKey { kid: String::new() }), 30);
        assert_eq!(tag(&Command::TickWaitingRooms { seed: 0 }), 33);
        assert_eq!(tag(&Effect::TicketKeyRetired), 13);
        assert_eq!(tag(&Effect::Expired { released: 0 }), 2);
        assert_eq!(tag(&Effect::Transferred(1)), 11);
        assert_eq!(tag(&Effect::TicketKeyAdded), 10);
        assert_eq!(tag(&Rejection::PermissionDenied(String::new())), 25);
        assert_eq!(
            tag(&Rejection::TicketUsed {
                booking: BookingId(1),
                seat: SeatNo(1)
            }),
            30
        );
        assert_eq!(tag(&Rejection::NoReentry(ShowId::from("s"))), 32);
    }
}
