//! What applying a request produces: an [`Outcome`], either the
//! [`Effect`] of a command that ran or the [`Rejection`] that refused it,
//! with the coarse [`RejectionKind`] the edges map to status codes.

use serde::{Deserialize, Serialize};

use crate::ids::{BookingId, ProductionId, RequestId, SeatNo, ShowId, UserId, VenueId};
use crate::state::{
    Booking, ListSummary, Production, RoomSummary, Scan, ShowSummary, Tick, UserSummary,
    VenueSummary,
};
use crate::{CardFingerprint, Network};

/// What applying a request produced. Rejections are ordinary outcomes (deterministic), not errors.
pub type Outcome = Result<Effect, Rejection>;

/// The result of a successfully applied command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    /// The show as it stands after `CreateShow` or `UpdateShow`.
    Show(ShowSummary),
    /// The booking as it stands after `Hold`, `Confirm`, `Release`, `Book`,
    /// `Cancel`, `Settle` or `RecordRefund`.
    Booking(Booking),
    /// Result of `ExpireHolds`.
    Expired {
        /// Number of bookings released.
        released: u32,
    },
    /// The account as it stands after `RegisterUser`, `BootstrapAdmin`,
    /// `SetAdmin`, `RevokeSessions` or `ChangePassword`.
    User(UserSummary),
    /// The venue stored by `CreateVenue`.
    Venue(VenueSummary),
    /// The production created by `CreateProduction`.
    Production(Production),
    /// The performances added by `AddPerformances`.
    Performances(Vec<ShowSummary>),
    /// The result of `ReturnTickets`: the booking with the tickets it
    /// keeps, and the new cancelled booking of the returned ones (whose
    /// total is the refund).
    Returned {
        /// The booking as it now stands.
        kept: Box<Booking>,
        /// The returned tickets.
        returned: Box<Booking>,
    },
    /// What a `CheckIn` scan found.
    Scanned(Scan),
    /// The ticket's new version after `ReissueTicket`.
    Reissued(u32),
    /// `AddTicketKey` recorded the key (or knew it already).
    TicketKeyAdded,
    /// The ticket's new version after `TransferTicket`.
    Transferred(u32),
    /// Exits and re-entry at the performance are now as asked.
    ReentrySet,
    /// `RetireTicketKey`: the key no longer verifies (or never will again).
    TicketKeyRetired,
    /// The waiting room after `SetWaitingRoom` (`None`: removed) or
    /// `JoinWaitingRoom` (with the joiner's standing).
    WaitingRoom(Option<Box<RoomSummary>>),
    /// What `TickWaitingRooms` did.
    RoomsTicked(Tick),
    /// A waiting list as the buyer who joined or left it sees it.
    WaitingList(Box<ListSummary>),
}

/// Why a request was refused. Every replica refuses the same request in the same way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Rejection {
    /// A `validate()` failure; the message names the field.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// No show has this id.
    #[error("show {0} not found")]
    ShowNotFound(ShowId),
    /// A show with this id already exists.
    #[error("show {0} already exists")]
    ShowExists(ShowId),
    /// No venue has this id.
    #[error("venue {0} not found")]
    VenueNotFound(VenueId),
    /// A venue with this id already exists.
    #[error("venue {0} already exists")]
    VenueExists(VenueId),
    /// No production has this id.
    #[error("production {0} not found")]
    ProductionNotFound(ProductionId),
    /// A production with this id already exists.
    #[error("production {0} already exists")]
    ProductionExists(ProductionId),
    /// A seat number beyond the end of the show.
    #[error("seat {seat} does not exist: show {show} has seats 1 to {seat_count}")]
    NoSuchSeat {
        /// The show asked about.
        show: ShowId,
        /// The first out-of-range seat, in ascending order.
        seat: SeatNo,
        /// How many seats the show has.
        seat_count: u32,
    },
    /// A requested seat belongs to a confirmed booking.
    #[error("seat {seat} is already booked")]
    SeatBooked {
        /// The first unavailable seat, in ascending order.
        seat: SeatNo,
    },
    /// A requested seat is held by a booking awaiting payment.
    #[error("seat {seat} is already taken: another buyer is paying for it")]
    SeatHeld {
        /// The first unavailable seat, in ascending order.
        seat: SeatNo,
    },
    /// The show's start time has been reached; it is no longer sold.
    #[error("show {0} has already started")]
    ShowStarted(ShowId),
    /// No such booking, or the caller does not own it (existence is not leaked).
    #[error("booking {0} not found")]
    BookingNotFound(BookingId),
    /// The booking is not in the status the command needs.
    #[error("booking {booking} is {status}, not {expected}")]
    WrongStatus {
        /// The booking concerned.
        booking: BookingId,
        /// Its current status (`held`, `confirmed`, `released`, `cancelled`).
        status: String,
        /// The status the command required.
        expected: String,
    },
    /// The hold's expiry time has been reached, so it can no longer be confirmed.
    #[error("hold on booking {0} expired")]
    HoldExpired(BookingId),
    /// A shrink would remove a seat that is held or booked.
    #[error("cannot shrink show {show} to {seat_count} seats: seat {seat} is taken")]
    SeatInUse {
        /// The show concerned.
        show: ShowId,
        /// The requested new seat count.
        seat_count: u32,
        /// The lowest taken seat above the new count.
        seat: SeatNo,
    },
    /// The request id was first used by the same sender, within the dedup
    /// window, for a different command.
    #[error("request id {0} was already used for a different request")]
    RequestIdReused(RequestId),
    /// The (normalised) email address is already registered to an account.
    #[error("email {0} is already registered")]
    EmailTaken(String),
    /// `BootstrapAdmin` when an administrator already exists.
    #[error("an administrator already exists")]
    AdminExists,
    /// No user has this id.
    #[error("user {0} not found")]
    UserNotFound(UserId),
    /// Revoking the administrator role from the only administrator.
    #[error("cannot revoke the last administrator")]
    LastAdmin,
    /// The customer would have more seats of the show than its per-customer limit.
    #[error("at most {limit} seats of show {show} per customer; you already have {already}")]
    SeatLimit {
        /// The show concerned.
        show: ShowId,
        /// The per-customer limit the request carried.
        limit: u32,
        /// Seats the customer already has in active bookings of the show.
        already: u32,
    },
    /// The customer would hold more seats at once, over all shows, than
    /// [`HoldLimits::max_held_seats`](crate::HoldLimits::max_held_seats).
    #[error(
        "at most {limit} seats may be held at once per customer, over all shows; you hold {held}: \
         pay for or release a hold first"
    )]
    HeldSeatLimit {
        /// The limit the request carried.
        limit: u32,
        /// Seats the customer holds now.
        held: u32,
    },
    /// The customer started [`HoldLimits::max_holds_per_hour`](crate::HoldLimits::max_holds_per_hour) holds in the
    /// last hour already.
    #[error(
        "at most {limit} holds per customer per hour; try again in {} s",
        seconds(*retry_after_ms)
    )]
    HoldRateLimit {
        /// The limit the request carried.
        limit: u32,
        /// Milliseconds until a hold would be allowed again.
        retry_after_ms: i64,
    },
    /// A seat asked for was in the customer's own hold that lapsed unpaid
    /// (ran out, or was given up) less than [`HoldLimits::cooldown_ms`](crate::HoldLimits::cooldown_ms) ago.
    #[error(
        "your hold on seat {seat} of show {show} ended unpaid; you can hold it again in {} s",
        seconds(*retry_after_ms)
    )]
    HoldCooldown {
        /// The show concerned.
        show: ShowId,
        /// The lowest seat asked for that is cooling down.
        seat: SeatNo,
        /// Milliseconds until every seat asked for may be held again.
        retry_after_ms: i64,
    },
    /// The caller's session is not valid: unknown user, or a token revoked by
    /// logout or a password change. The message says to log in again.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is authenticated but may not issue this command; the message says what is needed.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A requested seat is held back from sale by the box office.
    #[error("seat {seat} is not for sale")]
    SeatHeldBack {
        /// The first such seat, in ascending order.
        seat: SeatNo,
    },
    /// The performance is not on sale now.
    #[error("{show} is not on sale: {why}")]
    NotOnSale {
        /// The performance.
        show: ShowId,
        /// Why: cancelled, not open yet (and when it opens), or closed.
        why: String,
    },
    /// A standing area has fewer free places than asked for.
    #[error("standing area {area} has only {free} places left")]
    AreaFull {
        /// The area.
        area: String,
        /// Its free places.
        free: u32,
    },
    /// No block of `count` seats together is free; `split` is the best
    /// split into smaller blocks (empty if not even that many seats are free).
    #[error("{}", not_together(*count, split))]
    NotTogether {
        /// How many seats were asked for.
        count: u32,
        /// The best seats in smaller blocks, if there are enough.
        split: Vec<SeatNo>,
    },
    /// A ticket to be returned or cancelled has been used at the door.
    #[error("the ticket for seat {seat} of booking {booking} has been used at the door")]
    TicketUsed {
        /// The booking.
        booking: BookingId,
        /// The first such seat.
        seat: SeatNo,
    },
    /// A ticket to be returned or cancelled was given to another account.
    #[error(
        "the ticket for seat {seat} of booking {booking} was transferred to another account; its holder can transfer it back"
    )]
    TicketTransferred {
        /// The booking.
        booking: BookingId,
        /// The first such seat.
        seat: SeatNo,
    },
    /// An exit scan at a performance that does not allow re-entry.
    #[error("performance {0} does not allow exits and re-entry")]
    NoReentry(ShowId),
    /// The performance has no waiting room.
    #[error("performance {0} has no waiting room")]
    NoWaitingRoom(ShowId),
    /// The performance's waiting room closed: nothing is left to sell.
    #[error("the waiting room of {0} has closed: the performance is sold out")]
    RoomClosed(ShowId),
    /// The waiting room holds as many buyers as it may.
    #[error("the waiting room of {0} is full")]
    RoomFull(ShowId),
    /// A hold or booking of a performance behind a waiting room, by a
    /// customer the room has not let in (or whose admission lapsed).
    #[error(
        "performance {0} sells through its waiting room: join it and wait to be let in (or your admission lapsed: join again)"
    )]
    NotAdmitted(ShowId),
    /// The account already waits in (or was let in by) this many rooms.
    #[error("you are already in {0} waiting rooms, the most one account may be in at once")]
    RoomLimit(u32),
    /// Buyers from the customer's network (an IPv4 /24, an IPv6 /64)
    /// already have this many seats of the show; the request would pass
    /// [`HoldLimits::max_seats_per_network`](crate::HoldLimits::max_seats_per_network).
    #[error(
        "buyers from your network ({network}) may have at most {limit} seats of {show} between them, and these would pass that"
    )]
    NetworkLimit {
        /// The show concerned.
        show: ShowId,
        /// The network.
        network: Network,
        /// The limit the request carried.
        limit: u32,
        /// Seats the network's customers already have in active bookings.
        already: u32,
    },
    /// Joining a waiting list for seats that are free now.
    #[error("{free} seats of {show} that fit are free now: book them instead of waiting")]
    SeatsAvailable {
        /// The performance.
        show: ShowId,
        /// How many fitting seats are free.
        free: u32,
    },
    /// The waiting list holds as many buyers as it may.
    #[error("the waiting list of {0} is full")]
    ListFull(ShowId),
    /// The account is already on this many waiting lists.
    #[error("you are already on {0} waiting lists, the most one account may be on at once")]
    ListLimit(u32),
    /// The card already pays for this many seats of the show; the
    /// request would pass [`HoldLimits::max_seats_per_card`](crate::HoldLimits::max_seats_per_card).
    #[error(
        "one card may pay for at most {limit} seats of {show}, and this {card} would pass that: pay with another card"
    )]
    CardLimit {
        /// The show concerned.
        show: ShowId,
        /// The card (its fingerprint).
        card: CardFingerprint,
        /// The limit the request carried.
        limit: u32,
        /// Seats the card already pays for in active bookings.
        already: u32,
    },
    /// A hold already being paid with another card gets no second one.
    #[error(
        "booking {0} is being paid with another card: hold the seats again to pay with this one"
    )]
    OtherCard(BookingId),
}

/// The message of [`Rejection::NotTogether`].
fn not_together(count: u32, split: &[SeatNo]) -> String {
    if split.is_empty() {
        format!("there are not {count} seats left that match")
    } else {
        let seats: Vec<String> = split.iter().map(SeatNo::to_string).collect();
        format!(
            "no {count} seats together are free; the best split is seats {}",
            seats.join(", ")
        )
    }
}

impl Rejection {
    /// The coarse class of this rejection.
    pub fn kind(&self) -> RejectionKind {
        match self {
            Rejection::Invalid(_) => RejectionKind::InvalidArgument,
            Rejection::ShowNotFound(_)
            | Rejection::NoWaitingRoom(_)
            | Rejection::BookingNotFound(_)
            | Rejection::NoSuchSeat { .. }
            | Rejection::UserNotFound(_)
            | Rejection::VenueNotFound(_)
            | Rejection::ProductionNotFound(_) => RejectionKind::NotFound,
            Rejection::ShowExists(_)
            | Rejection::VenueExists(_)
            | Rejection::ProductionExists(_)
            | Rejection::EmailTaken(_) => RejectionKind::AlreadyExists,
            Rejection::SeatBooked { .. }
            | Rejection::SeatHeld { .. }
            | Rejection::ShowStarted(_)
            | Rejection::WrongStatus { .. }
            | Rejection::HoldExpired(_)
            | Rejection::SeatInUse { .. }
            | Rejection::RequestIdReused(_)
            | Rejection::AdminExists
            | Rejection::LastAdmin
            | Rejection::SeatLimit { .. }
            | Rejection::HeldSeatLimit { .. }
            | Rejection::HoldRateLimit { .. }
            | Rejection::HoldCooldown { .. }
            | Rejection::SeatHeldBack { .. }
            | Rejection::TicketUsed { .. }
            | Rejection::TicketTransferred { .. }
            | Rejection::NoReentry(_)
            | Rejection::RoomClosed(_)
            | Rejection::RoomFull(_)
            | Rejection::NotAdmitted(_)
            | Rejection::RoomLimit(_)
            | Rejection::NetworkLimit { .. }
            | Rejection::SeatsAvailable { .. }
            | Rejection::ListFull(_)
            | Rejection::ListLimit(_)
            | Rejection::CardLimit { .. }
            | Rejection::OtherCard(_)
            | Rejection::NotOnSale { .. }
            | Rejection::AreaFull { .. }
            | Rejection::NotTogether { .. } => RejectionKind::FailedPrecondition,
            Rejection::Unauthenticated(_) => RejectionKind::Unauthenticated,
            Rejection::PermissionDenied(_) => RejectionKind::PermissionDenied,
        }
    }
}

impl Rejection {
    /// How long, in milliseconds, until the same request could succeed,
    /// for rejections that know (the hourly hold limit and the cool-down),
    /// so that the edge can give a retry hint.
    pub fn retry_after_ms(&self) -> Option<i64> {
        match self {
            Rejection::HoldRateLimit { retry_after_ms, .. }
            | Rejection::HoldCooldown { retry_after_ms, .. } => Some(*retry_after_ms),
            _ => None,
        }
    }
}

/// Whole seconds in `ms`, rounded up, for messages.
fn seconds(ms: i64) -> i64 {
    ms.saturating_add(999).div_euclid(1000)
}

/// Coarse class used to pick a gRPC status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectionKind {
    /// The request is malformed regardless of state.
    InvalidArgument,
    /// A show, seat or booking does not exist (or is not visible to the caller).
    NotFound,
    /// The thing being created already exists.
    AlreadyExists,
    /// The request is well-formed but the current state does not allow it.
    FailedPrecondition,
    /// The caller's identity could not be established (unknown user or revoked session).
    Unauthenticated,
    /// The caller is known but lacks the right to do this.
    PermissionDenied,
}
