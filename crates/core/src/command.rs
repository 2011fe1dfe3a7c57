//! Requests entering the state machine, their stateless validation, and
//! the outcomes applying them produces.

use serde::{Deserialize, Serialize};

use crate::ids::{
    BookingId, DEFAULT_HOLD_COOLDOWN_MS, DEFAULT_MAX_HELD_SEATS, DEFAULT_MAX_HOLDS_PER_HOUR,
    MAX_EMAIL_LEN, MAX_HOLD_COOLDOWN_MS, MAX_HOLD_TTL_MS, MAX_ID_LEN, MAX_PASSWORD_HASH_LEN,
    MAX_PRICE_CENTS, MAX_SEATS_PER_BOOKING, MAX_SEATS_PER_SHOW, MAX_TITLE_LEN, OrderId, RequestId,
    SeatNo, ShowId, Timestamp, TransactionId, UserId,
};
use crate::state::{Booking, ShowSummary, User, UserSummary};

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
    /// Stateless validation: the request id is well-formed and the command is valid.
    pub fn validate(&self) -> Result<(), Rejection> {
        self.check_request_id()?;
        self.command.validate()
    }

    /// Checks the request id is well-formed and, for an end user's
    /// request, outside the system's namespace ([`SYSTEM_REQUEST_PREFIX`]).
    pub fn check_request_id(&self) -> Result<(), Rejection> {
        check_id("request_id", self.request_id.as_str())?;
        if self.caller.is_some() && self.request_id.as_str().starts_with(SYSTEM_REQUEST_PREFIX) {
            return Err(invalid(format!(
                "request_id must not start with {SYSTEM_REQUEST_PREFIX:?}, which is reserved for the system"
            )));
        }
        Ok(())
    }

    /// Whether [`State::apply`](crate::State::apply) records this request's
    /// outcome for dedup, if it succeeds (rejections never are): every
    /// request but the system's `Confirm`.
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
        self.caller.is_some() || !matches!(self.command, Command::Confirm { .. })
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
    /// included ([`Rejection::HeldSeatLimit`]).
    pub max_held_seats: u32,
    /// Most holds the customer may start in any
    /// [`HOLD_RATE_WINDOW_MS`](crate::HOLD_RATE_WINDOW_MS) (an hour),
    /// this one included ([`Rejection::HoldRateLimit`]).
    pub max_holds_per_hour: u32,
    /// How long, in milliseconds, after one of the customer's holds lapsed
    /// unpaid (released by `ExpireHolds`) they may not hold any of its
    /// seats again; at most [`MAX_HOLD_COOLDOWN_MS`]
    /// ([`Rejection::HoldCooldown`]). It runs from the release, or from the
    /// latest time the hold could have lasted to
    /// ([`MAX_HOLD_TTL_MS`] after it was made) if the sweep ran later.
    pub cooldown_ms: i64,
}

impl HoldLimits {
    /// No limits at all.
    pub const NONE: Self = Self {
        max_held_seats: 0,
        max_holds_per_hour: 0,
        cooldown_ms: 0,
    };
}

/// [`DEFAULT_MAX_HELD_SEATS`], [`DEFAULT_MAX_HOLDS_PER_HOUR`] and [`DEFAULT_HOLD_COOLDOWN_MS`].
impl Default for HoldLimits {
    fn default() -> Self {
        Self {
            max_held_seats: DEFAULT_MAX_HELD_SEATS,
            max_holds_per_hour: DEFAULT_MAX_HOLDS_PER_HOUR,
            cooldown_ms: DEFAULT_HOLD_COOLDOWN_MS,
        }
    }
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
        /// deduplication it is a nonce, not part of the request (see
        /// [`Command::same_request`]): a retry that carries a freshly
        /// drawn order id still gets the first outcome, with the first
        /// order id.
        order: OrderId,
        /// Show the seats belong to.
        show: ShowId,
        /// Seats to hold, in any order, without duplicates.
        seats: Vec<SeatNo>,
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
    /// Create a user account; its id (`u1`, `u2`, …) comes from a counter.
    RegisterUser {
        /// Email address; stored normalised (see [`normalize_email`]) and unique among accounts.
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
}

impl Command {
    /// Stateless validation (the gRPC edge calls it before proposing; apply calls it too).
    ///
    /// Checks that ids are well-formed, the title is acceptable, `seat_count`
    /// is in `1..=MAX_SEATS_PER_SHOW`, prices are in `0..=MAX_PRICE_CENTS`,
    /// seat lists are non-empty, at most `MAX_SEATS_PER_BOOKING` long, free of
    /// seat 0 and of duplicates, hold ttls are in `1..=MAX_HOLD_TTL_MS`, that
    /// an `UpdateShow` changes at least one field, that emails pass
    /// [`normalize_email`], and that password hashes are 1 to
    /// `MAX_PASSWORD_HASH_LEN` printable ASCII characters without whitespace.
    /// Every failure is a [`Rejection::Invalid`] whose message names the
    /// offending field.
    pub fn validate(&self) -> Result<(), Rejection> {
        match self {
            Command::CreateShow {
                show,
                title,
                seat_count,
                price_cents,
                starts_at,
            } => {
                check_id("show", show.as_str())?;
                normalize_title(title)?;
                check_seat_count(*seat_count)?;
                check_price(*price_cents)?;
                check_starts_at(*starts_at)
            }
            Command::UpdateShow {
                show,
                title,
                seat_count,
                price_cents,
                starts_at,
            } => {
                check_id("show", show.as_str())?;
                if title.is_none()
                    && seat_count.is_none()
                    && price_cents.is_none()
                    && starts_at.is_none()
                {
                    return Err(invalid(
                        "update must change at least one of title, seat_count, price_cents, starts_at",
                    ));
                }
                if let Some(title) = title {
                    normalize_title(title)?;
                }
                if let Some(seat_count) = seat_count {
                    check_seat_count(*seat_count)?;
                }
                if let Some(price_cents) = price_cents {
                    check_price(*price_cents)?;
                }
                if let Some(starts_at) = starts_at {
                    check_starts_at(*starts_at)?;
                }
                Ok(())
            }
            Command::Hold {
                order,
                show,
                seats,
                user,
                ttl_ms,
                max_seats_per_user: _,
                limits,
            } => {
                check_id("order", order.as_str())?;
                check_id("show", show.as_str())?;
                check_seats(seats)?;
                check_id("user", user.as_str())?;
                check_ttl(*ttl_ms)?;
                check_cooldown(limits.cooldown_ms)
            }
            Command::Book {
                show,
                seats,
                user,
                max_seats_per_user: _,
            } => {
                check_id("show", show.as_str())?;
                check_seats(seats)?;
                check_id("user", user.as_str())
            }
            Command::Cancel { booking: _, user } => check_id("user", user.as_str()),
            Command::Confirm {
                transaction: Some(transaction),
                ..
            } => check_id("transaction", transaction.as_str()),
            Command::Settle {
                charge: Some(charge),
                ..
            } => check_id("charge", charge.as_str()),
            Command::Confirm { .. }
            | Command::Settle { .. }
            | Command::Release { .. }
            | Command::RecordRefund { .. }
            | Command::ExpireHolds => Ok(()),
            Command::RegisterUser {
                email,
                password_hash,
                admin: _,
            }
            | Command::BootstrapAdmin {
                email,
                password_hash,
            } => {
                normalize_email(email)?;
                check_password_hash(password_hash)
            }
            Command::SetAdmin { user, admin: _ } | Command::RevokeSessions { user } => {
                check_id("user", user.as_str())
            }
            Command::ChangePassword {
                user,
                password_hash,
            } => {
                check_id("user", user.as_str())?;
                check_password_hash(password_hash)
            }
        }
    }

    /// Whether `other` is the same request as `self`, for deduplication:
    /// equal, except that a `Hold`'s order id is a nonce the edge draws
    /// afresh for every attempt and is not compared.
    pub fn same_request(&self, other: &Command) -> bool {
        match (self, other) {
            (
                Command::Hold {
                    order: _,
                    show,
                    seats,
                    user,
                    ttl_ms,
                    max_seats_per_user,
                    limits,
                },
                Command::Hold {
                    order: _,
                    show: other_show,
                    seats: other_seats,
                    user: other_user,
                    ttl_ms: other_ttl_ms,
                    max_seats_per_user: other_max,
                    limits: other_limits,
                },
            ) => {
                show == other_show
                    && seats == other_seats
                    && user == other_user
                    && ttl_ms == other_ttl_ms
                    && max_seats_per_user == other_max
                    && limits == other_limits
            }
            _ => self == other,
        }
    }

    /// True for commands that only an administrator may issue (`CreateShow`, `UpdateShow`, `SetAdmin`).
    pub fn is_admin_only(&self) -> bool {
        matches!(
            self,
            Command::CreateShow { .. } | Command::UpdateShow { .. } | Command::SetAdmin { .. }
        )
    }

    /// Whether the authenticated end user `caller` may issue this command.
    ///
    /// These rules apply to requests that carry a [`Caller`]; a request
    /// without one comes from a trusted internal component and may issue
    /// anything, so this is not consulted for it.
    ///
    /// - Admin-only commands ([`Command::is_admin_only`]) need the administrator role.
    /// - `Hold`, `Book` and `Cancel` must name the caller as the customer.
    /// - `RevokeSessions` is for the user themself or an administrator.
    /// - `ChangePassword` is for the user themself only.
    /// - `RegisterUser` with `admin: true` needs an administrator.
    /// - `BootstrapAdmin`, `Confirm`, `Release`, `Settle`, `RecordRefund`
    ///   and `ExpireHolds` are for trusted callers only (bootstrap, and the
    ///   system's own payment and expiry steps).
    ///
    /// Every refusal is a [`Rejection::PermissionDenied`] saying what is
    /// needed. Pure: the gRPC edge may call it to refuse early, and
    /// [`State::apply`](crate::State::apply) calls it after authenticating
    /// the caller.
    pub fn check_permission(&self, caller: &User) -> Result<(), Rejection> {
        let is_self = |user: &UserId| *user == caller.id;
        let (allowed, needed) = match self {
            Command::CreateShow { .. } | Command::UpdateShow { .. } => (
                caller.admin,
                "creating or changing shows needs the administrator role",
            ),
            Command::SetAdmin { .. } => (
                caller.admin,
                "granting or revoking the administrator role needs the administrator role",
            ),
            Command::Hold { user, .. } | Command::Book { user, .. } => (
                is_self(user),
                "seats can only be held or booked for yourself",
            ),
            Command::Cancel { user, .. } => {
                (is_self(user), "only your own bookings can be cancelled")
            }
            Command::RevokeSessions { user } => (
                is_self(user) || caller.admin,
                "ending another user's sessions needs the administrator role",
            ),
            Command::ChangePassword { user, .. } => {
                (is_self(user), "only you can change your password")
            }
            Command::RegisterUser { admin, .. } => (
                !*admin || caller.admin,
                "registering an administrator needs the administrator role",
            ),
            Command::BootstrapAdmin { .. } => (
                false,
                "the first administrator can only be created by the server itself",
            ),
            Command::Confirm { .. }
            | Command::Release { .. }
            | Command::Settle { .. }
            | Command::RecordRefund { .. } => (
                false,
                "confirming or releasing a hold is a step of the payment flow, which only the system performs",
            ),
            Command::ExpireHolds => (false, "expiring holds is done only by the system itself"),
        };
        if allowed {
            Ok(())
        } else {
            Err(Rejection::PermissionDenied(needed.to_owned()))
        }
    }
}

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
    /// [`HoldLimits::max_held_seats`].
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
    /// The customer started [`HoldLimits::max_holds_per_hour`] holds in the
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
    /// (ran out, or was given up) less than [`HoldLimits::cooldown_ms`] ago.
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
}

impl Rejection {
    /// The coarse class of this rejection.
    pub fn kind(&self) -> RejectionKind {
        match self {
            Rejection::Invalid(_) => RejectionKind::InvalidArgument,
            Rejection::ShowNotFound(_)
            | Rejection::BookingNotFound(_)
            | Rejection::NoSuchSeat { .. }
            | Rejection::UserNotFound(_) => RejectionKind::NotFound,
            Rejection::ShowExists(_) | Rejection::EmailTaken(_) => RejectionKind::AlreadyExists,
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
            | Rejection::HoldCooldown { .. } => RejectionKind::FailedPrecondition,
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

/// Builds an [`Rejection::Invalid`].
fn invalid(message: impl Into<String>) -> Rejection {
    Rejection::Invalid(message.into())
}

/// Checks that `value` is 1 to `MAX_ID_LEN` printable ASCII characters without whitespace.
///
/// Public so that the gRPC edge can check ids of reads, which never reach
/// [`Command::validate`].
pub fn check_id(field: &str, value: &str) -> Result<(), Rejection> {
    if value.is_empty() {
        return Err(invalid(format!("{field} must not be empty")));
    }
    if let Some((position, c)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_graphic())
    {
        return Err(invalid(format!(
            "{field} contains {c:?} at position {position}; only printable ASCII without whitespace is allowed"
        )));
    }
    // Only ASCII remains, so bytes and characters coincide.
    if value.len() > MAX_ID_LEN {
        return Err(invalid(format!(
            "{field} is {} characters long; the limit is {MAX_ID_LEN}",
            value.len()
        )));
    }
    Ok(())
}

/// Validates a title and returns the form that is stored: trimmed of surrounding whitespace.
pub(crate) fn normalize_title(title: &str) -> Result<&str, Rejection> {
    let trimmed = title.trim();
    if trimmed.is_empty() {
        return Err(invalid("title must not be empty"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid("title must not contain control characters"));
    }
    let length = trimmed.chars().count();
    if length > MAX_TITLE_LEN {
        return Err(invalid(format!(
            "title is {length} characters long; the limit is {MAX_TITLE_LEN}"
        )));
    }
    Ok(trimmed)
}

/// Normalises and validates an email address, returning the form that is stored.
///
/// The address is trimmed of surrounding whitespace and ASCII-lowercased,
/// so `" Ann@Example.COM "` and `"ann@example.com"` name the same account.
/// It must then be 1 to [`MAX_EMAIL_LEN`] characters without whitespace or
/// control characters, with exactly one `@`, a non-empty part before it,
/// and a domain of at least two dot-separated labels, none empty. Every
/// failure is a [`Rejection::Invalid`] whose message names `email` and says
/// what to fix.
///
/// Public so that the gRPC edge and the auth service normalise exactly as
/// the state machine does (for instance to look an account up at login).
pub fn normalize_email(email: &str) -> Result<String, Rejection> {
    let trimmed = email.trim();
    if trimmed.is_empty() {
        return Err(invalid("email must not be empty"));
    }
    let length = trimmed.chars().count();
    if length > MAX_EMAIL_LEN {
        return Err(invalid(format!(
            "email is {length} characters long; the limit is {MAX_EMAIL_LEN}"
        )));
    }
    if let Some(c) = trimmed
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(format!(
            "email contains {c:?}; whitespace and control characters are not allowed"
        )));
    }
    let normalized = trimmed.to_ascii_lowercase();
    let mut parts = normalized.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid(
            "email must contain exactly one '@', as in name@example.com",
        ));
    };
    if local.is_empty() {
        return Err(invalid(
            "email needs a name before the '@', as in name@example.com",
        ));
    }
    if !domain.contains('.') {
        return Err(invalid(format!(
            "email domain {domain:?} needs at least one '.', as in name@example.com"
        )));
    }
    if domain.split('.').any(str::is_empty) {
        return Err(invalid(format!(
            "email domain {domain:?} has an empty label: remove the leading, trailing or doubled '.'"
        )));
    }
    Ok(normalized)
}

/// Checks that a password hash is 1 to `MAX_PASSWORD_HASH_LEN` printable
/// ASCII characters without whitespace, as a PHC string (`$argon2id$v=19$…`) is.
pub(crate) fn check_password_hash(hash: &str) -> Result<(), Rejection> {
    if hash.is_empty() {
        return Err(invalid("password_hash must not be empty"));
    }
    if let Some(position) = hash.chars().position(|c| !c.is_ascii_graphic()) {
        return Err(invalid(format!(
            "password_hash has a character other than printable ASCII at position {position}; \
             it must be a PHC string from the auth service"
        )));
    }
    // Only ASCII remains, so bytes and characters coincide.
    if hash.len() > MAX_PASSWORD_HASH_LEN {
        return Err(invalid(format!(
            "password_hash is {} characters long; the limit is {MAX_PASSWORD_HASH_LEN}",
            hash.len()
        )));
    }
    Ok(())
}

/// Checks that a seat count is in `1..=MAX_SEATS_PER_SHOW`.
fn check_seat_count(seat_count: u32) -> Result<(), Rejection> {
    if (1..=MAX_SEATS_PER_SHOW).contains(&seat_count) {
        Ok(())
    } else {
        Err(invalid(format!(
            "seat_count must be between 1 and {MAX_SEATS_PER_SHOW}, got {seat_count}"
        )))
    }
}

/// Checks that a start time is set: 0 is what an unset protobuf field reads as.
fn check_starts_at(starts_at: Timestamp) -> Result<(), Rejection> {
    if starts_at.0 > 0 {
        Ok(())
    } else {
        Err(invalid(format!(
            "starts_at must be a time after the Unix epoch in milliseconds, got {}",
            starts_at.0
        )))
    }
}

/// Checks that a price is in `0..=MAX_PRICE_CENTS`.
fn check_price(price_cents: i64) -> Result<(), Rejection> {
    if (0..=MAX_PRICE_CENTS).contains(&price_cents) {
        Ok(())
    } else {
        Err(invalid(format!(
            "price_cents must be between 0 and {MAX_PRICE_CENTS}, got {price_cents}"
        )))
    }
}

/// Checks that a hold ttl is in `1..=MAX_HOLD_TTL_MS`.
fn check_ttl(ttl_ms: i64) -> Result<(), Rejection> {
    if (1..=MAX_HOLD_TTL_MS).contains(&ttl_ms) {
        Ok(())
    } else {
        Err(invalid(format!(
            "ttl_ms must be between 1 and {MAX_HOLD_TTL_MS}, got {ttl_ms}"
        )))
    }
}

/// Checks that a hold cool-down is in `0..=MAX_HOLD_COOLDOWN_MS`.
fn check_cooldown(cooldown_ms: i64) -> Result<(), Rejection> {
    if (0..=MAX_HOLD_COOLDOWN_MS).contains(&cooldown_ms) {
        Ok(())
    } else {
        Err(invalid(format!(
            "cooldown_ms must be between 0 and {MAX_HOLD_COOLDOWN_MS}, got {cooldown_ms}"
        )))
    }
}

/// Checks that a seat list is non-empty, short enough, and free of seat 0 and duplicates.
fn check_seats(seats: &[SeatNo]) -> Result<(), Rejection> {
    if seats.is_empty() {
        return Err(invalid("seats must not be empty"));
    }
    if seats.len() > MAX_SEATS_PER_BOOKING {
        return Err(invalid(format!(
            "seats lists {} seats; at most {MAX_SEATS_PER_BOOKING} may be booked at once",
            seats.len()
        )));
    }
    if seats.contains(&SeatNo(0)) {
        return Err(invalid("seats contains seat 0; seats are numbered from 1"));
    }
    let mut sorted = seats.to_vec();
    sorted.sort_unstable();
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(invalid(format!("seats lists seat {} twice", pair[0])));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(show: &str, seats: &[u32], user: &str, ttl_ms: i64) -> Command {
        Command::Hold {
            order: "ord-1".into(),
            show: show.into(),
            seats: seats.iter().copied().map(SeatNo).collect(),
            user: user.into(),
            ttl_ms,
            max_seats_per_user: 0,
            limits: HoldLimits::NONE,
        }
    }

    fn create(show: &str, title: &str, seat_count: u32, price_cents: i64) -> Command {
        Command::CreateShow {
            show: show.into(),
            title: title.into(),
            seat_count,
            price_cents,
            starts_at: Timestamp(1_000),
        }
    }

    /// Asserts an `Invalid` rejection whose message mentions `field`.
    #[track_caller]
    fn assert_invalid(result: Result<(), Rejection>, field: &str) {
        match result {
            Err(Rejection::Invalid(message)) => assert!(
                message.contains(field),
                "message {message:?} does not name {field:?}"
            ),
            other => panic!("expected Invalid naming {field}, got {other:?}"),
        }
    }

    #[test]
    fn valid_commands_pass() {
        assert_eq!(create("s1", "Hamlet", 10, 2_500).validate(), Ok(()));
        assert_eq!(create("s1", "  Hamlet  ", 1, 0).validate(), Ok(()));
        assert_eq!(
            create(
                "s",
                &"x".repeat(MAX_TITLE_LEN),
                MAX_SEATS_PER_SHOW,
                MAX_PRICE_CENTS
            )
            .validate(),
            Ok(())
        );
        assert_eq!(hold("s1", &[3, 1, 2], "alice", 1).validate(), Ok(()));
        assert_eq!(
            hold(
                "s1",
                &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                "alice",
                MAX_HOLD_TTL_MS
            )
            .validate(),
            Ok(())
        );
        assert_eq!(Command::ExpireHolds.validate(), Ok(()));
        assert_eq!(
            Command::Confirm {
                booking: BookingId(0),
                transaction: None,
            }
            .validate(),
            Ok(())
        );
        assert!(matches!(
            Command::Confirm {
                booking: BookingId(1),
                transaction: Some("tx 1".into()),
            }
            .validate(),
            Err(Rejection::Invalid(m)) if m.contains("transaction")
        ));
        assert!(matches!(
            Command::Settle {
                booking: BookingId(1),
                charge: Some("".into()),
            }
            .validate(),
            Err(Rejection::Invalid(m)) if m.contains("charge")
        ));
        let mut bad_order = hold("s1", &[1], "u1", 1_000);
        if let Command::Hold { order, .. } = &mut bad_order {
            *order = "".into();
        }
        assert!(matches!(
            bad_order.validate(),
            Err(Rejection::Invalid(m)) if m.contains("order")
        ));
        assert_eq!(
            Command::UpdateShow {
                show: "s1".into(),
                title: None,
                seat_count: None,
                price_cents: Some(0),
                starts_at: None,
            }
            .validate(),
            Ok(())
        );
    }

    #[test]
    fn ids_are_checked() {
        assert_invalid(hold("", &[1], "alice", 10).validate(), "show");
        assert_invalid(
            hold(&"a".repeat(MAX_ID_LEN + 1), &[1], "alice", 10).validate(),
            "show",
        );
        assert_eq!(
            hold(&"a".repeat(MAX_ID_LEN), &[1], "alice", 10).validate(),
            Ok(())
        );
        assert_invalid(hold("my show", &[1], "alice", 10).validate(), "show");
        assert_invalid(hold("tab\there", &[1], "alice", 10).validate(), "show");
        assert_invalid(hold("café", &[1], "alice", 10).validate(), "show");
        assert_invalid(hold("s1", &[1], "", 10).validate(), "user");
        assert_invalid(
            Command::Cancel {
                booking: BookingId(1),
                user: "bad user".into(),
            }
            .validate(),
            "user",
        );
        let request = Request {
            request_id: "".into(),
            caller: None,
            command: Command::ExpireHolds,
        };
        assert_invalid(request.validate(), "request_id");
        let request = Request {
            request_id: "r 1".into(),
            caller: None,
            command: Command::ExpireHolds,
        };
        assert_invalid(request.validate(), "request_id");
        let request = Request {
            request_id: "r1".into(),
            caller: None,
            command: hold("s1", &[], "a", 1),
        };
        assert_invalid(request.validate(), "seats");
    }

    #[test]
    fn seats_are_checked() {
        assert_invalid(hold("s1", &[], "alice", 10).validate(), "seats");
        assert_invalid(hold("s1", &[0], "alice", 10).validate(), "seat 0");
        assert_invalid(
            hold("s1", &[2, 5, 2], "alice", 10).validate(),
            "seat 2 twice",
        );
        assert_invalid(
            hold("s1", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], "alice", 10).validate(),
            "seats",
        );
        let book = Command::Book {
            show: "s1".into(),
            seats: vec![SeatNo(4), SeatNo(4)],
            user: "u".into(),
            max_seats_per_user: 0,
        };
        assert_invalid(book.validate(), "seats");
    }

    #[test]
    fn ttl_is_checked() {
        assert_invalid(hold("s1", &[1], "alice", 0).validate(), "ttl_ms");
        assert_invalid(hold("s1", &[1], "alice", -5).validate(), "ttl_ms");
        assert_invalid(
            hold("s1", &[1], "alice", MAX_HOLD_TTL_MS + 1).validate(),
            "ttl_ms",
        );
    }

    #[test]
    fn show_fields_are_checked() {
        assert_invalid(create("s1", "Hamlet", 0, 100).validate(), "seat_count");
        assert_invalid(
            create("s1", "Hamlet", MAX_SEATS_PER_SHOW + 1, 100).validate(),
            "seat_count",
        );
        assert_invalid(create("s1", "Hamlet", 10, -1).validate(), "price_cents");
        assert_invalid(
            create("s1", "Hamlet", 10, MAX_PRICE_CENTS + 1).validate(),
            "price_cents",
        );
        assert_invalid(create("s1", "", 10, 100).validate(), "title");
        assert_invalid(create("s1", "   ", 10, 100).validate(), "title");
        assert_invalid(create("s1", "Ham\u{7}let", 10, 100).validate(), "title");
        assert_invalid(
            create("s1", &"é".repeat(MAX_TITLE_LEN + 1), 10, 100).validate(),
            "title",
        );
        assert_eq!(
            create("s1", &"é".repeat(MAX_TITLE_LEN), 10, 100).validate(),
            Ok(())
        );
        assert_invalid(create("", "Hamlet", 10, 100).validate(), "show");
    }

    #[test]
    fn update_needs_a_field_and_valid_values() {
        let update = |title: Option<&str>, seat_count, price_cents| Command::UpdateShow {
            show: "s1".into(),
            title: title.map(str::to_owned),
            seat_count,
            price_cents,
            starts_at: None,
        };
        assert_invalid(update(None, None, None).validate(), "at least one");
        assert_invalid(update(Some(" "), None, None).validate(), "title");
        assert_invalid(update(None, Some(0), None).validate(), "seat_count");
        assert_invalid(update(None, None, Some(-3)).validate(), "price_cents");
        assert_eq!(update(Some("New"), Some(5), Some(7)).validate(), Ok(()));
    }

    #[test]
    fn admin_only_commands() {
        assert!(create("s1", "Hamlet", 10, 100).is_admin_only());
        assert!(
            Command::UpdateShow {
                show: "s1".into(),
                title: None,
                seat_count: Some(3),
                price_cents: None,
                starts_at: None,
            }
            .is_admin_only()
        );
        assert!(
            Command::SetAdmin {
                user: "u1".into(),
                admin: true
            }
            .is_admin_only()
        );
        assert!(!hold("s1", &[1], "alice", 10).is_admin_only());
        assert!(!register("a@b.co", false).is_admin_only());
        assert!(!Command::ExpireHolds.is_admin_only());
        assert!(
            !Command::Release {
                booking: BookingId(1)
            }
            .is_admin_only()
        );
    }

    #[test]
    fn rejection_kinds_and_messages() {
        let show = ShowId::from("s1");
        let cases = [
            (
                Rejection::Invalid("x".into()),
                RejectionKind::InvalidArgument,
                "invalid argument: x",
            ),
            (
                Rejection::ShowNotFound(show.clone()),
                RejectionKind::NotFound,
                "show s1 not found",
            ),
            (
                Rejection::ShowExists(show.clone()),
                RejectionKind::AlreadyExists,
                "show s1 already exists",
            ),
            (
                Rejection::NoSuchSeat {
                    show: show.clone(),
                    seat: SeatNo(9),
                    seat_count: 8,
                },
                RejectionKind::NotFound,
                "seat 9 does not exist: show s1 has seats 1 to 8",
            ),
            (
                Rejection::SeatBooked { seat: SeatNo(2) },
                RejectionKind::FailedPrecondition,
                "seat 2 is already booked",
            ),
            (
                Rejection::SeatHeld { seat: SeatNo(2) },
                RejectionKind::FailedPrecondition,
                "seat 2 is already taken: another buyer is paying for it",
            ),
            (
                Rejection::ShowStarted(show.clone()),
                RejectionKind::FailedPrecondition,
                "show s1 has already started",
            ),
            (
                Rejection::BookingNotFound(BookingId(7)),
                RejectionKind::NotFound,
                "booking 7 not found",
            ),
            (
                Rejection::WrongStatus {
                    booking: BookingId(7),
                    status: "released".into(),
                    expected: "held".into(),
                },
                RejectionKind::FailedPrecondition,
                "booking 7 is released, not held",
            ),
            (
                Rejection::HoldExpired(BookingId(7)),
                RejectionKind::FailedPrecondition,
                "hold on booking 7 expired",
            ),
            (
                Rejection::SeatInUse {
                    show: show.clone(),
                    seat_count: 4,
                    seat: SeatNo(6),
                },
                RejectionKind::FailedPrecondition,
                "cannot shrink show s1 to 4 seats: seat 6 is taken",
            ),
            (
                Rejection::RequestIdReused("r1".into()),
                RejectionKind::FailedPrecondition,
                "request id r1 was already used for a different request",
            ),
            (
                Rejection::EmailTaken("ann@example.com".into()),
                RejectionKind::AlreadyExists,
                "email ann@example.com is already registered",
            ),
            (
                Rejection::AdminExists,
                RejectionKind::FailedPrecondition,
                "an administrator already exists",
            ),
            (
                Rejection::UserNotFound("u9".into()),
                RejectionKind::NotFound,
                "user u9 not found",
            ),
            (
                Rejection::LastAdmin,
                RejectionKind::FailedPrecondition,
                "cannot revoke the last administrator",
            ),
            (
                Rejection::SeatLimit {
                    show: show.clone(),
                    limit: 4,
                    already: 3,
                },
                RejectionKind::FailedPrecondition,
                "at most 4 seats of show s1 per customer; you already have 3",
            ),
            (
                Rejection::HeldSeatLimit {
                    limit: 20,
                    held: 19,
                },
                RejectionKind::FailedPrecondition,
                "at most 20 seats may be held at once per customer, over all shows; you hold 19: \
                 pay for or release a hold first",
            ),
            (
                Rejection::HoldRateLimit {
                    limit: 30,
                    retry_after_ms: 59_001,
                },
                RejectionKind::FailedPrecondition,
                "at most 30 holds per customer per hour; try again in 60 s",
            ),
            (
                Rejection::HoldCooldown {
                    show: show.clone(),
                    seat: SeatNo(4),
                    retry_after_ms: 120_000,
                },
                RejectionKind::FailedPrecondition,
                "your hold on seat 4 of show s1 ended unpaid; you can hold it again in 120 s",
            ),
            (
                Rejection::Unauthenticated("session is no longer valid: log in again".into()),
                RejectionKind::Unauthenticated,
                "session is no longer valid: log in again",
            ),
            (
                Rejection::PermissionDenied("x needs the administrator role".into()),
                RejectionKind::PermissionDenied,
                "permission denied: x needs the administrator role",
            ),
        ];
        for (rejection, kind, message) in cases {
            assert_eq!(rejection.kind(), kind, "{rejection:?}");
            assert_eq!(rejection.to_string(), message);
        }
        let cooling = Rejection::HoldCooldown {
            show,
            seat: SeatNo(1),
            retry_after_ms: 7,
        };
        assert_eq!(cooling.retry_after_ms(), Some(7));
        assert_eq!(Rejection::LastAdmin.retry_after_ms(), None);
    }

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";

    fn register(email: &str, admin: bool) -> Command {
        Command::RegisterUser {
            email: email.into(),
            password_hash: HASH.into(),
            admin,
        }
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            normalize_email("  Ann.Lee+tix@Example.COM \n"),
            Ok("ann.lee+tix@example.com".to_owned())
        );
        assert_eq!(normalize_email("a@b.co"), Ok("a@b.co".to_owned()));
        // Only ASCII letters are lowercased.
        assert_eq!(
            normalize_email("ÉLODIE@Exemple.FR"),
            Ok("Élodie@exemple.fr".to_owned())
        );
        let longest = format!("{}@example.com", "a".repeat(MAX_EMAIL_LEN - 12));
        assert_eq!(normalize_email(&longest).as_deref(), Ok(longest.as_str()));
    }

    #[test]
    fn bad_emails_are_explained() {
        let cases = [
            ("", "must not be empty"),
            ("   ", "must not be empty"),
            ("ann", "exactly one '@'"),
            ("ann@b@example.com", "exactly one '@'"),
            ("@example.com", "before the '@'"),
            ("ann@", "at least one '.'"),
            ("ann@localhost", "at least one '.'"),
            ("ann@.example.com", "empty label"),
            ("ann@example.com.", "empty label"),
            ("ann@example..com", "empty label"),
            ("ann lee@example.com", "whitespace"),
            ("ann@exa\u{7}mple.com", "control"),
            ("ann\t@example.com", "whitespace"),
        ];
        for (email, expected) in cases {
            match normalize_email(email) {
                Err(Rejection::Invalid(message)) => assert!(
                    message.contains("email") && message.contains(expected),
                    "{email:?}: message {message:?} lacks {expected:?}"
                ),
                other => panic!("{email:?}: expected Invalid, got {other:?}"),
            }
        }
        let too_long = format!("{}@example.com", "a".repeat(MAX_EMAIL_LEN - 11));
        assert_invalid(normalize_email(&too_long).map(drop), "254");
    }

    #[test]
    fn user_commands_are_validated() {
        assert_eq!(register(" Ann@Example.com ", true).validate(), Ok(()));
        assert_invalid(register("nope", false).validate(), "email");
        let with_hash = |hash: &str| Command::RegisterUser {
            email: "a@b.co".into(),
            password_hash: hash.into(),
            admin: false,
        };
        assert_invalid(with_hash("").validate(), "password_hash");
        assert_invalid(with_hash("$argon2id$ x").validate(), "password_hash");
        assert_invalid(with_hash("$argon2id$é").validate(), "password_hash");
        assert_invalid(
            with_hash(&"h".repeat(MAX_PASSWORD_HASH_LEN + 1)).validate(),
            "password_hash",
        );
        assert_eq!(
            with_hash(&"h".repeat(MAX_PASSWORD_HASH_LEN)).validate(),
            Ok(())
        );
        assert_invalid(
            Command::BootstrapAdmin {
                email: "root".into(),
                password_hash: HASH.into(),
            }
            .validate(),
            "email",
        );
        assert_invalid(
            Command::ChangePassword {
                user: "u1".into(),
                password_hash: "".into(),
            }
            .validate(),
            "password_hash",
        );
        assert_invalid(
            Command::ChangePassword {
                user: "".into(),
                password_hash: HASH.into(),
            }
            .validate(),
            "user",
        );
        assert_invalid(
            Command::SetAdmin {
                user: "u 1".into(),
                admin: false,
            }
            .validate(),
            "user",
        );
        assert_invalid(
            Command::RevokeSessions { user: "".into() }.validate(),
            "user",
        );
        assert_eq!(
            Command::RevokeSessions { user: "u1".into() }.validate(),
            Ok(())
        );
    }

    #[test]
    fn permissions_follow_the_rules() {
        let user = |id: &str, admin: bool| User {
            id: id.into(),
            email: format!("{id}@example.com"),
            password_hash: HASH.into(),
            admin,
            token_version: 0,
            created_at: Timestamp(1),
        };
        let (ann, boss) = (user("u2", false), user("u1", true));
        let allowed = |command: &Command, caller: &User| command.check_permission(caller).is_ok();
        let denied = |command: &Command, caller: &User| {
            matches!(
                command.check_permission(caller),
                Err(Rejection::PermissionDenied(message)) if !message.is_empty()
            )
        };
        let create = create("s1", "Hamlet", 10, 100);
        assert!(denied(&create, &ann) && allowed(&create, &boss));
        let set_admin = Command::SetAdmin {
            user: "u2".into(),
            admin: true,
        };
        assert!(denied(&set_admin, &ann) && allowed(&set_admin, &boss));
        // Customers act for themselves only, administrators included.
        assert!(allowed(&hold("s1", &[1], "u2", 10), &ann));
        assert!(denied(&hold("s1", &[1], "u3", 10), &ann));
        assert!(denied(&hold("s1", &[1], "u2", 10), &boss));
        let book = |user: &str| Command::Book {
            show: "s1".into(),
            seats: vec![SeatNo(1)],
            user: user.into(),
            max_seats_per_user: 0,
        };
        assert!(allowed(&book("u2"), &ann) && denied(&book("u1"), &ann));
        let cancel = |user: &str| Command::Cancel {
            booking: BookingId(1),
            user: user.into(),
        };
        assert!(allowed(&cancel("u2"), &ann) && denied(&cancel("u3"), &ann));
        let revoke = |user: &str| Command::RevokeSessions { user: user.into() };
        assert!(allowed(&revoke("u2"), &ann) && denied(&revoke("u1"), &ann));
        assert!(allowed(&revoke("u2"), &boss));
        let change = |user: &str| Command::ChangePassword {
            user: user.into(),
            password_hash: HASH.into(),
        };
        assert!(allowed(&change("u2"), &ann) && denied(&change("u2"), &boss));
        assert!(allowed(&register("x@y.zz", false), &ann));
        assert!(denied(&register("x@y.zz", true), &ann));
        assert!(allowed(&register("x@y.zz", true), &boss));
        let bootstrap = Command::BootstrapAdmin {
            email: "x@y.zz".into(),
            password_hash: HASH.into(),
        };
        let system = [
            bootstrap,
            Command::Confirm {
                booking: BookingId(1),
                transaction: None,
            },
            Command::Release {
                booking: BookingId(1),
            },
            Command::Settle {
                booking: BookingId(1),
                charge: None,
            },
            Command::RecordRefund {
                booking: BookingId(1),
            },
            Command::ExpireHolds,
        ];
        for command in &system {
            assert!(
                denied(command, &ann) && denied(command, &boss),
                "{command:?}"
            );
        }
    }
}
