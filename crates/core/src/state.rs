//! The replicated booking state and the deterministic `apply` function.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::Error as _;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::command::{Caller, Command, HoldLimits, Request};
use crate::ids::{
    BookingId, DEDUP_TTL_MS, HOLD_RATE_WINDOW_MS, MAX_HOLD_TTL_MS, MAX_SEATS_PER_SHOW, OrderId,
    RequestId, SeatNo, ShowId, Timestamp, TransactionId, UserId,
};
use crate::outcome::{Effect, Outcome, Rejection};
use crate::validate::{check_password_hash, normalize_email, normalize_title};
use active::ActiveSeats;
use dedup::{DedupRecord, DedupWindow, Recorded, RequestKey, fingerprint};
pub use seats::SeatMap;
use stored::Bookings;

/// Most stale dedup records dropped by one `apply`.
///
/// Each `apply` records at most one request, so pruning up to this many per
/// call keeps pace with insertion while bounding the work of any single call
/// (for instance the first request after a long quiet period). Stale records
/// that are not yet pruned are ignored by lookups, so correctness never
/// depends on how far pruning has got.
const DEDUP_PRUNE_BATCH: usize = 64;

/// Index from each user to the ids of their bookings, ascending (ids are
/// issued in order and bookings never removed, so each list only grows at
/// its end: 8 bytes a booking, where a B-tree set took 15 to 25).
type UserIndex = BTreeMap<UserId, Vec<BookingId>>;

/// Index of held bookings, ordered by expiry time then id.
type ExpiryIndex = BTreeSet<(Timestamp, BookingId)>;

/// Index from each normalised email to the account registered with it.
type EmailIndex = BTreeMap<String, UserId>;

/// What [`State::authenticate`] says about a session that is not (or no longer) valid.
const SESSION_INVALID: &str = "session is no longer valid: log in again";

/// The state of one seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seat {
    /// Free to hold or book.
    Available,
    /// Held by this booking, awaiting payment.
    Held(BookingId),
    /// Sold to this booking.
    Booked(BookingId),
}

/// A show and the state of each of its seats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Show {
    /// The show's id.
    pub id: ShowId,
    /// Human-readable title.
    pub title: String,
    /// Current price of one seat, in cents.
    pub price_cents: i64,
    /// When the show starts; sales stop at this instant.
    pub starts_at: Timestamp,
    /// Seat states; index `i` is seat `i + 1`.
    pub seats: SeatMap,
    /// Number of seats in [`Seat::Held`].
    pub held: u32,
    /// Number of seats in [`Seat::Booked`].
    pub booked: u32,
}

impl Show {
    /// Number of seats in the show.
    pub fn seat_count(&self) -> u32 {
        u32::try_from(self.seats.len()).unwrap_or(u32::MAX)
    }

    /// Number of seats neither held nor booked.
    pub fn available(&self) -> u32 {
        self.seat_count()
            .saturating_sub(self.held)
            .saturating_sub(self.booked)
    }

    /// State of seat `no`, or `None` if the show has no such seat.
    pub fn seat(&self, no: SeatNo) -> Option<Seat> {
        self.index_of(no).and_then(|index| self.seats.get(index))
    }

    /// The show without its seat map.
    pub fn summary(&self) -> ShowSummary {
        ShowSummary {
            id: self.id.clone(),
            title: self.title.clone(),
            seat_count: self.seat_count(),
            price_cents: self.price_cents,
            starts_at: self.starts_at,
            available: self.available(),
            held: self.held,
            booked: self.booked,
        }
    }

    /// Index of seat `no` in `seats`, if the seat exists.
    fn index_of(&self, no: SeatNo) -> Option<usize> {
        let index = usize::try_from(no.0).ok()?.checked_sub(1)?;
        (index < self.seats.len()).then_some(index)
    }

    /// Sets seat `no` to `new` if it is currently `old`, keeping the counters in step.
    ///
    /// Returns whether the seat changed. The guard makes releasing a booking
    /// harmless for seats it no longer occupies.
    fn transition(&mut self, no: SeatNo, old: Seat, new: Seat) -> bool {
        let Some(index) = self
            .index_of(no)
            .filter(|&index| self.seats.get(index) == Some(old))
        else {
            return false;
        };
        if !self.seats.set(index, new) {
            return false;
        }
        match old {
            Seat::Available => {}
            Seat::Held(_) => self.held = self.held.saturating_sub(1),
            Seat::Booked(_) => self.booked = self.booked.saturating_sub(1),
        }
        match new {
            Seat::Available => {}
            Seat::Held(_) => self.held = self.held.saturating_add(1),
            Seat::Booked(_) => self.booked = self.booked.saturating_add(1),
        }
        true
    }
}

/// A show's public facts and seat counts, without the seat map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowSummary {
    /// The show's id.
    pub id: ShowId,
    /// Human-readable title.
    pub title: String,
    /// Number of seats.
    pub seat_count: u32,
    /// Current price of one seat, in cents.
    pub price_cents: i64,
    /// When the show starts.
    pub starts_at: Timestamp,
    /// Seats neither held nor booked.
    pub available: u32,
    /// Seats held awaiting payment.
    pub held: u32,
    /// Seats sold.
    pub booked: u32,
}

/// Where a booking is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BookingStatus {
    /// Seats are held until `expires_at`, awaiting payment.
    Held {
        /// When the hold lapses.
        expires_at: Timestamp,
    },
    /// Seats are sold.
    Confirmed {
        /// When the booking was confirmed.
        at: Timestamp,
    },
    /// The hold ended without a sale; seats were freed.
    Released {
        /// When the hold was released.
        at: Timestamp,
        /// True if the hold lapsed: it ran out (`ExpireHolds`) or its
        /// customer gave it up (`Cancel`); either starts the hold
        /// cool-down. False if the system released it (a declined card).
        lapsed: bool,
    },
    /// The sale was cancelled by its owner; seats were freed.
    Cancelled {
        /// When the booking was cancelled.
        at: Timestamp,
    },
}

impl BookingStatus {
    /// Lower-case name of the status, as used in messages.
    pub fn name(&self) -> &'static str {
        match self {
            BookingStatus::Held { .. } => "held",
            BookingStatus::Confirmed { .. } => "confirmed",
            BookingStatus::Released { .. } => "released",
            BookingStatus::Cancelled { .. } => "cancelled",
        }
    }

    /// True while the booking occupies its seats (held or confirmed).
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            BookingStatus::Held { .. } | BookingStatus::Confirmed { .. }
        )
    }
}

impl fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The money side of a booking.
///
/// A checkout's booking starts `Pending` with its hold. Confirming it
/// records the charge (`Charged`). If its hold ends another way (declined,
/// abandoned, expired), it stays `Pending` until the payment provider has
/// answered for good ([`Command::Settle`]): `NotCharged`, or `RefundDue`
/// for a charge that arrived anyway. Cancelling a paid booking makes its
/// charge `RefundDue`; [`Command::RecordRefund`] ends at `Refunded`. The
/// bookings the system still has to act on are listed by
/// [`State::unsettled`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payment {
    /// Nothing to pay: booked without the payment step, or free.
    None,
    /// A charge under the order's key may or may not exist yet.
    Pending,
    /// Nothing was charged, and nothing can be any more.
    NotCharged,
    /// Paid by this charge.
    Charged(TransactionId),
    /// This charge must be refunded: the booking was cancelled, or the
    /// payment arrived after the hold had ended.
    RefundDue(TransactionId),
    /// This charge was refunded.
    Refunded(TransactionId),
}

impl Payment {
    /// Lower-case name, as used in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Payment::None => "none",
            Payment::Pending => "pending",
            Payment::NotCharged => "not charged",
            Payment::Charged(_) => "charged",
            Payment::RefundDue(_) => "refund due",
            Payment::Refunded(_) => "refunded",
        }
    }

    /// The charge this payment refers to, if any.
    pub fn transaction(&self) -> Option<&TransactionId> {
        match self {
            Payment::Charged(tx) | Payment::RefundDue(tx) | Payment::Refunded(tx) => Some(tx),
            Payment::None | Payment::Pending | Payment::NotCharged => None,
        }
    }
}

/// A set of seats of one show, held for or sold to one user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// The booking's id.
    pub id: BookingId,
    /// The show the seats belong to.
    pub show: ShowId,
    /// The seats, sorted ascending.
    pub seats: Vec<SeatNo>,
    /// The customer.
    pub user: UserId,
    /// Price at booking time × number of seats, in cents.
    pub total_cents: i64,
    /// When the booking was created.
    pub created_at: Timestamp,
    /// Where the booking is in its life cycle.
    pub status: BookingStatus,
    /// The checkout order it was held for; `None` if booked directly.
    pub order: Option<OrderId>,
    /// The money side.
    pub payment: Payment,
}

impl Booking {
    /// Whether the system still has to act on this booking's money: ask
    /// the provider about a charge of an ended hold, or make a due refund.
    pub fn is_unsettled(&self) -> bool {
        match self.payment {
            Payment::Pending => !matches!(self.status, BookingStatus::Held { .. }),
            Payment::RefundDue(_) => true,
            _ => false,
        }
    }

    /// Checks that the payment fits the status and the order.
    fn check_payment(&self) -> Result<(), String> {
        let fits = matches!(
            (&self.status, &self.payment),
            (
                BookingStatus::Confirmed { .. } | BookingStatus::Cancelled { .. },
                Payment::None
            ) | (BookingStatus::Held { .. }, Payment::Pending)
                | (BookingStatus::Confirmed { .. }, Payment::Charged(_))
                | (
                    BookingStatus::Released { .. },
                    Payment::Pending
                        | Payment::NotCharged
                        | Payment::RefundDue(_)
                        | Payment::Refunded(_),
                )
                | (
                    BookingStatus::Cancelled { .. },
                    Payment::RefundDue(_) | Payment::Refunded(_)
                )
        );
        let ordered = self.order.is_some() || self.payment == Payment::None;
        if fits && ordered {
            Ok(())
        } else {
            Err(format!(
                "booking {} is {} with payment {} and {} order",
                self.id,
                self.status,
                self.payment.name(),
                if self.order.is_some() { "an" } else { "no" }
            ))
        }
    }

    /// The state its seats have while this booking is active, if it is.
    fn seat_state(&self) -> Option<Seat> {
        match self.status {
            BookingStatus::Held { .. } => Some(Seat::Held(self.id)),
            BookingStatus::Confirmed { .. } => Some(Seat::Booked(self.id)),
            BookingStatus::Released { .. } | BookingStatus::Cancelled { .. } => None,
        }
    }

    /// The entry this booking has in the expiry index, if it is held.
    fn expiry_key(&self) -> Option<(Timestamp, BookingId)> {
        match self.status {
            BookingStatus::Held { expires_at } => Some((expires_at, self.id)),
            _ => None,
        }
    }
}

/// A user account.
///
/// Its `Debug` form leaves the password hash out, so that logging a state
/// or an account does not spread hashes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The account's id: `u1`, `u2`, … in order of registration.
    pub id: UserId,
    /// Normalised email address (see [`normalize_email`]), unique among accounts.
    pub email: String,
    /// Password hash (a PHC string) produced by the auth service.
    pub password_hash: String,
    /// Whether the account has the administrator role.
    pub admin: bool,
    /// Session generation: a session token is valid only while it carries
    /// this value. Logout and password changes increment it.
    pub token_version: u64,
    /// When the account was created.
    pub created_at: Timestamp,
}

impl User {
    /// The account without its password hash.
    pub fn summary(&self) -> UserSummary {
        UserSummary {
            id: self.id.clone(),
            email: self.email.clone(),
            admin: self.admin,
            token_version: self.token_version,
            created_at: self.created_at,
        }
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("admin", &self.admin)
            .field("token_version", &self.token_version)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A user account as commands report it: everything but the password hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// The account's id.
    pub id: UserId,
    /// Normalised email address.
    pub email: String,
    /// Whether the account has the administrator role.
    pub admin: bool,
    /// Current session generation; tokens must carry it.
    pub token_version: u64,
    /// When the account was created.
    pub created_at: Timestamp,
}

/// A dedup record as snapshots before the compact window stored it
/// (see [`LegacySnapshot`]).
#[derive(Deserialize)]
struct LegacyDedupRecord {
    /// Effective time at which the request was first applied.
    at: Timestamp,
    /// The user who sent it (`None` for a trusted request), to recognise a reused id.
    caller: Option<UserId>,
    /// The command it carried, to recognise a reused id.
    command: Command,
    /// The outcome returned to every retry.
    outcome: Outcome,
}

/// Counts over the whole state ([`State::totals`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// User accounts.
    pub users: u64,
    /// Shows.
    pub shows: u64,
    /// Seats over all shows.
    pub seats: u64,
    /// Seats held, awaiting payment.
    pub seats_held: u64,
    /// Seats sold.
    pub seats_booked: u64,
    /// Bookings ever created, holds that ended included (ids are issued in order).
    pub bookings_created: u64,
    /// Bookings currently held.
    pub holds: u64,
    /// Bookings whose payment the system must still settle.
    pub unsettled: u64,
    /// Requests remembered for deduplication.
    pub dedup_records: u64,
}

/// The replicated state: user accounts, shows, bookings and the dedup window.
///
/// It serializes as the Raft snapshot. Only the primary data is written
/// (clock, booking and user counters, shows, bookings, users, dedup
/// records); the booking-by-user, expiry, unsettled, active-seat, email,
/// administrator and dedup-time indexes are rebuilt on deserialization, which then runs
/// [`State::check_invariants`] and refuses an inconsistent snapshot. A
/// round trip gives an equal state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    /// Latest effective time applied.
    now: Timestamp,
    /// Highest booking id issued so far (0 before the first).
    last_booking_id: u64,
    /// All shows, by id.
    shows: BTreeMap<ShowId, Show>,
    /// All bookings ever made, by id; bookings are never removed.
    bookings: Bookings,
    /// Index: bookings of each user.
    by_user: UserIndex,
    /// Index: held bookings ordered by expiry.
    hold_expiry: ExpiryIndex,
    /// Index: bookings whose payment the system must still settle ([`Booking::is_unsettled`]).
    unsettled: BTreeSet<BookingId>,
    /// Index: each user's seats in active bookings, by show, and held.
    active: ActiveSeats,
    /// Requests applied within the dedup window, oldest first.
    dedup: DedupWindow,
    /// Highest user number issued so far (0 before the first); user `n` has id `u{n}`.
    last_user_id: u64,
    /// All user accounts, by id; accounts are never removed.
    users: BTreeMap<UserId, User>,
    /// Index: account of each normalised email.
    by_email: EmailIndex,
    /// Index: ids of the accounts with the administrator role.
    admins: BTreeSet<UserId>,
}

impl State {
    /// An empty state: no users, no shows, no bookings, time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one request at leader time `at`.
    ///
    /// Deterministic: replicas applying the same requests with the same
    /// times reach equal states and return equal outcomes. In order:
    ///
    /// 1. The effective time is `max(at, self.now())`, so time never goes back.
    /// 2. A malformed request id, or an end user's request id in the
    ///    system's namespace ([`SYSTEM_REQUEST_PREFIX`](crate::SYSTEM_REQUEST_PREFIX)),
    ///    is rejected as `Invalid`; nothing changes and nothing is recorded,
    ///    since it cannot serve as a dedup key.
    /// 3. If the request has a [`Caller`], it is authenticated
    ///    ([`State::authenticate`]); failing that it is refused as
    ///    `Unauthenticated`, nothing changes and nothing is recorded (so
    ///    that the client can log in again and retry under the same id),
    ///    and nothing is looked up: a revoked session can neither occupy a
    ///    request id nor learn what was recorded under one. The one
    ///    exception is the retry of the very request that ended the
    ///    caller's session (its own `RevokeSessions` or `ChangePassword`,
    ///    recorded with the token version one past the caller's): it gets
    ///    its first outcome, since a logout retried after it took effect
    ///    must still succeed, and it learns only what it was told.
    /// 4. Request ids are scoped by sender: each user's ids, and the trusted
    ///    requests' ids, are a namespace of their own. If the id was
    ///    recorded in the sender's scope less than [`DEDUP_TTL_MS`] ago, the
    ///    recorded outcome is returned (or `RequestIdReused` if the command
    ///    differs) and nothing changes, not even the clock.
    /// 5. Otherwise the clock advances, stale dedup records are pruned (at
    ///    most a small batch per call), the caller's permission is checked
    ///    ([`Command::check_permission`]; a request without a caller is
    ///    trusted and may do anything), the command is validated and
    ///    executed, and a successful outcome is recorded for dedup unless
    ///    the request is idempotent by the state itself
    ///    ([`Request::remembered`]). A rejection is not recorded: a retry
    ///    of a rejected request is judged afresh (the seat it wanted may
    ///    have been freed since), and refused requests cost no memory.
    ///
    /// No step of the checkout saga relies on a recorded rejection: each
    /// runs under its own id derived from the order, and each is refused
    /// afresh exactly as it was the first time, because what refused it
    /// cannot be undone (a booking that is no longer held never is again,
    /// a settled payment never becomes pending again, and a refund is
    /// recorded only for a charge that is due for one, which stays its
    /// charge); so no rejection is kept.
    ///
    /// Rejections never change the users, shows or bookings: every check is
    /// made before anything is mutated. In particular, confirming a hold
    /// whose expiry has passed returns `HoldExpired` and leaves the hold in
    /// place for `ExpireHolds` to release.
    pub fn apply(&mut self, at: Timestamp, request: &Request) -> Outcome {
        let now = self.now.max(at);
        request.check_request_id()?;
        let scope = request.caller.as_ref().map(|caller| &caller.user);
        let key = RequestKey::of(scope, &request.request_id);
        let account = match &request.caller {
            Some(caller) => match self.authenticate(caller) {
                Ok(account) => Some(account),
                Err(refused) => {
                    return self
                        .retry_of_session_end(caller, &key, &request.command, now)
                        .unwrap_or(Err(refused));
                }
            },
            None => None,
        };
        if let Some(outcome) = self.recorded(&key, &request.command, now) {
            return outcome
                .unwrap_or_else(|()| Err(Rejection::RequestIdReused(request.request_id.clone())));
        }
        let permission = match account {
            Some(account) => request.command.check_permission(account),
            None => Ok(()),
        };
        self.now = now;
        self.prune_dedup();
        let outcome = permission
            .and_then(|()| request.command.validate())
            .and_then(|()| self.execute(&request.command));
        if let Ok(effect) = &outcome
            && request.remembered()
        {
            self.remember(key, fingerprint(&request.command), effect);
        }
        outcome
    }

    /// The outcome recorded under `key` within the dedup window at `now`,
    /// if there is one: `Ok` with it if `command` is the recorded one,
    /// `Err` if the id was used for another command.
    fn recorded(
        &self,
        key: &RequestKey,
        command: &Command,
        now: Timestamp,
    ) -> Option<Result<Outcome, ()>> {
        let record = self
            .dedup
            .get(key)
            .filter(|record| !dedup_stale(record.at, now))?;
        Some(if record.fingerprint == fingerprint(command) {
            Ok(record
                .outcome
                .outcome(record.at, |id| self.bookings.get(id)))
        } else {
            Err(())
        })
    }

    /// For a `caller` that failed authentication: the first outcome of
    /// `command` under `key` if it is the retry of the request that ended
    /// the caller's session (see rule 3 of [`State::apply`]), else `None`.
    fn retry_of_session_end(
        &self,
        caller: &Caller,
        key: &RequestKey,
        command: &Command,
        now: Timestamp,
    ) -> Option<Outcome> {
        let own = match command {
            Command::RevokeSessions { user } | Command::ChangePassword { user, .. } => {
                *user == caller.user
            }
            _ => false,
        };
        if !own {
            return None;
        }
        let outcome = self.recorded(key, command, now)?.ok()?;
        let ended = caller.token_version.checked_add(1);
        let ends_this_session = matches!(
            &outcome,
            Ok(Effect::User(user)) if user.id == caller.user && Some(user.token_version) == ended
        );
        ends_this_session.then_some(outcome)
    }

    /// Authenticates `caller`: the account must exist and the token version
    /// must be its current one.
    ///
    /// Returns the account, or [`Rejection::Unauthenticated`] (the same
    /// message for an unknown user and a revoked token). Since logout and
    /// password changes are log entries that bump the token version, a
    /// token is refused from exactly that point of the log on, on every
    /// replica. `apply` calls this for every request with a caller; the
    /// gRPC edge calls it for reads.
    pub fn authenticate(&self, caller: &Caller) -> Result<&User, Rejection> {
        self.users
            .get(&caller.user)
            .filter(|user| user.token_version == caller.token_version)
            .ok_or_else(|| Rejection::Unauthenticated(SESSION_INVALID.to_owned()))
    }

    /// The account with this id.
    pub fn user(&self, id: &UserId) -> Option<&User> {
        self.users.get(id)
    }

    /// The account registered with `email`, which is normalised first (as by
    /// [`normalize_email`]); `None` if there is none or the address is invalid.
    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        let email = normalize_email(email).ok()?;
        self.by_email.get(&email).and_then(|id| self.users.get(id))
    }

    /// All accounts, ordered by normalised email.
    ///
    /// Email order is used because ids are strings, in which `u10` sorts
    /// before `u2`: ordering by id would be neither registration order nor
    /// readable.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.by_email.values().filter_map(|id| self.users.get(id))
    }

    /// Number of accounts with the administrator role.
    pub fn admin_count(&self) -> usize {
        self.admins.len()
    }

    /// Counts over the whole state, for monitoring. Costs one pass over
    /// the shows (not the seats or the bookings).
    pub fn totals(&self) -> Totals {
        let mut totals = Totals {
            users: self.users.len() as u64,
            shows: self.shows.len() as u64,
            bookings_created: self.last_booking_id,
            holds: self.hold_expiry.len() as u64,
            unsettled: self.unsettled.len() as u64,
            dedup_records: self.dedup.len() as u64,
            ..Totals::default()
        };
        for show in self.shows.values() {
            totals.seats += u64::from(show.seat_count());
            totals.seats_held += u64::from(show.held);
            totals.seats_booked += u64::from(show.booked);
        }
        totals
    }

    /// Latest effective time applied.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// All shows, ordered by id.
    pub fn shows(&self) -> impl Iterator<Item = &Show> {
        self.shows.values()
    }

    /// The show with this id.
    pub fn show(&self, id: &ShowId) -> Option<&Show> {
        self.shows.get(id)
    }

    /// The booking with this id.
    pub fn booking(&self, id: BookingId) -> Option<Booking> {
        self.bookings.get(id)
    }

    /// All bookings of `user`, in any status, ordered by id.
    pub fn bookings_of(&self, user: &UserId) -> impl DoubleEndedIterator<Item = Booking> + '_ {
        self.by_user
            .get(user)
            .map(|ids| ids.iter())
            .unwrap_or_default()
            .filter_map(|id| self.bookings.get(*id))
    }

    /// Up to `limit` of `user`'s bookings, newest first, starting below
    /// `before` (the last id of the previous page) when given.
    pub fn bookings_page(
        &self,
        user: &UserId,
        before: Option<BookingId>,
        limit: usize,
    ) -> impl Iterator<Item = Booking> + '_ {
        let ids = self.by_user.get(user).map_or(&[][..], Vec::as_slice);
        let end = before.map_or(ids.len(), |before| ids.partition_point(|id| *id < before));
        ids[..end]
            .iter()
            .rev()
            .take(limit)
            .filter_map(|id| self.bookings.get(*id))
    }

    /// Held bookings, soonest expiry first.
    pub fn holds(&self) -> impl Iterator<Item = Booking> + '_ {
        self.hold_expiry
            .iter()
            .filter_map(|(_, id)| self.bookings.get(*id))
    }

    /// Bookings whose payment the system must still settle (see
    /// [`Booking::is_unsettled`]), ordered by id.
    pub fn unsettled(&self) -> impl Iterator<Item = Booking> + '_ {
        self.unsettled
            .iter()
            .filter_map(|id| self.bookings.get(*id))
    }

    /// Earliest `expires_at` of any held booking, for the leader's expiry timer.
    pub fn next_hold_expiry(&self) -> Option<Timestamp> {
        self.hold_expiry.first().map(|&(expires_at, _)| expires_at)
    }

    /// Seats `user` has in active (held or confirmed) bookings of `show`.
    pub fn active_seats(&self, user: &UserId, show: &ShowId) -> u32 {
        self.active.in_show(user, show)
    }

    /// Seats `user` holds, awaiting payment, over all shows.
    pub fn held_seats(&self, user: &UserId) -> u32 {
        self.active.held(user)
    }

    /// Full consistency check of seats, bookings, counters and indexes.
    ///
    /// Returns a description of the first violation found. It checks that
    /// every held or booked seat names an existing booking of that show
    /// whose status matches and which lists that seat; that every held or
    /// confirmed booking's seats name it back (together, these mean no seat
    /// belongs to two active bookings); that the `held` and `booked`
    /// counters match the seat map and fit within the seat count; that every
    /// account is stored under its id, has an issued id (`u1` to the user
    /// counter), a normalised valid email, a well-formed password hash and a
    /// creation time not after the clock; that no two accounts share an
    /// email; and that the booking-by-user, expiry, unsettled, active-seat,
    /// email, administrator and dedup indexes match the data they index.
    pub fn check_invariants(&self) -> Result<(), String> {
        for (key, user) in &self.users {
            self.check_user(key, user)?;
        }
        if build_email_index(&self.users)? != self.by_email {
            return Err("email index does not match the users".to_owned());
        }
        if build_admin_index(&self.users) != self.admins {
            return Err("administrator index does not match the users".to_owned());
        }
        for (key, show) in &self.shows {
            self.check_show(key, show)?;
        }
        if self.bookings.len() != self.last_booking_id {
            return Err(format!(
                "{} bookings are stored but {} ids were issued",
                self.bookings.len(),
                self.last_booking_id
            ));
        }
        for id in (1..=self.last_booking_id).map(BookingId) {
            let booking = self
                .bookings
                .get(id)
                .ok_or_else(|| format!("booking {id} cannot be read back"))?;
            self.check_booking(&booking)?;
        }
        let (by_user, hold_expiry) = build_booking_indexes(self.bookings.iter());
        if by_user != self.by_user {
            return Err("user index does not match the bookings".to_owned());
        }
        if hold_expiry != self.hold_expiry {
            return Err("expiry index does not match the held bookings".to_owned());
        }
        if build_unsettled_index(self.bookings.iter()) != self.unsettled {
            return Err("unsettled index does not match the bookings".to_owned());
        }
        if ActiveSeats::of(self.bookings.iter()) != self.active {
            return Err("active-seat index does not match the bookings".to_owned());
        }
        self.dedup.check()
    }

    /// Checks one account's fields.
    fn check_user(&self, key: &UserId, user: &User) -> Result<(), String> {
        let id = &user.id;
        if key != id {
            return Err(format!("user {id} is stored under key {key}"));
        }
        if !user_number(id).is_some_and(|n| (1..=self.last_user_id).contains(&n)) {
            return Err(format!(
                "user {id} is not an issued id (u1 to u{})",
                self.last_user_id
            ));
        }
        if normalize_email(&user.email).as_deref() != Ok(user.email.as_str()) {
            return Err(format!("user {id} has an invalid or unnormalised email"));
        }
        if check_password_hash(&user.password_hash).is_err() {
            return Err(format!("user {id} has a malformed password hash"));
        }
        if user.created_at > self.now {
            return Err(format!("user {id} was created after the clock's time"));
        }
        Ok(())
    }

    /// Checks one show's seat map and counters against the bookings.
    fn check_show(&self, key: &ShowId, show: &Show) -> Result<(), String> {
        if *key != show.id {
            return Err(format!("show {} is stored under key {key}", show.id));
        }
        let seat_count = show.seat_count();
        if !(1..=MAX_SEATS_PER_SHOW).contains(&seat_count) {
            return Err(format!("show {key} has {} seats", show.seats.len()));
        }
        let (mut held, mut booked) = (0u32, 0u32);
        for (no, seat) in (1..=seat_count).map(SeatNo).zip(show.seats.iter()) {
            let id = match seat {
                Seat::Available => continue,
                Seat::Held(id) => {
                    held = held.saturating_add(1);
                    id
                }
                Seat::Booked(id) => {
                    booked = booked.saturating_add(1);
                    id
                }
            };
            let booking = self
                .bookings
                .get(id)
                .ok_or_else(|| format!("show {key} seat {no} names missing booking {id}"))?;
            if booking.show != show.id {
                return Err(format!(
                    "show {key} seat {no} names booking {id} of show {}",
                    booking.show
                ));
            }
            if booking.seat_state() != Some(seat) {
                return Err(format!(
                    "show {key} seat {no} is {seat:?} but booking {id} is {}",
                    booking.status
                ));
            }
            if booking.seats.binary_search(&no).is_err() {
                return Err(format!(
                    "show {key} seat {no} names booking {id}, which does not list it"
                ));
            }
        }
        if (held, booked) != (show.held, show.booked) {
            return Err(format!(
                "show {key} counts {} held and {} booked but its seats show {held} and {booked}",
                show.held, show.booked
            ));
        }
        if u64::from(held) + u64::from(booked) > u64::from(seat_count) {
            return Err(format!("show {key} has more seats taken than it has"));
        }
        Ok(())
    }

    /// Checks one booking's fields and, if active, that its seats name it.
    fn check_booking(&self, booking: &Booking) -> Result<(), String> {
        let id = booking.id;
        if id.0 == 0 || id.0 > self.last_booking_id {
            return Err(format!(
                "booking {id} is outside the issued range 1 to {}",
                self.last_booking_id
            ));
        }
        if booking.seats.is_empty() || booking.seats.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(format!(
                "booking {id} seats are empty or not strictly ascending"
            ));
        }
        if booking.total_cents < 0 {
            return Err(format!("booking {id} has a negative total"));
        }
        booking.check_payment()?;
        let show = self
            .shows
            .get(&booking.show)
            .ok_or_else(|| format!("booking {id} belongs to missing show {}", booking.show))?;
        if let Some(expected) = booking.seat_state() {
            for &no in &booking.seats {
                if show.seat(no) != Some(expected) {
                    return Err(format!(
                        "booking {id} is {} but seat {no} of show {} is {:?}",
                        booking.status,
                        show.id,
                        show.seat(no)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Executes a validated command against the state at `self.now`.
    fn execute(&mut self, command: &Command) -> Outcome {
        match command {
            Command::CreateShow {
                show,
                title,
                seat_count,
                price_cents,
                starts_at,
            } => self.create_show(show, title, *seat_count, *price_cents, *starts_at),
            Command::UpdateShow {
                show,
                title,
                seat_count,
                price_cents,
                starts_at,
            } => self.update_show(
                show,
                title.as_deref(),
                *seat_count,
                *price_cents,
                *starts_at,
            ),
            Command::Hold {
                order,
                show,
                seats,
                user,
                ttl_ms,
                max_seats_per_user,
                limits,
            } => {
                let expires_at = self.now.saturating_add_ms(*ttl_ms);
                let status = BookingStatus::Held { expires_at };
                let request = Reservation {
                    show,
                    seats,
                    user,
                    max_seats_per_user: *max_seats_per_user,
                    limits: Some(limits),
                };
                self.reserve(request, status, Some(order))
            }
            Command::Book {
                show,
                seats,
                user,
                max_seats_per_user,
            } => {
                let status = BookingStatus::Confirmed { at: self.now };
                let request = Reservation {
                    show,
                    seats,
                    user,
                    max_seats_per_user: *max_seats_per_user,
                    limits: None,
                };
                self.reserve(request, status, None)
            }
            Command::Confirm {
                booking,
                transaction,
            } => self.confirm(*booking, transaction.as_ref()),
            Command::Release { booking } => self.release(*booking),
            Command::Cancel { booking, user } => self.cancel(*booking, user),
            Command::Settle { booking, charge } => self.settle(*booking, charge.as_ref()),
            Command::RecordRefund { booking } => self.record_refund(*booking),
            Command::ExpireHolds => Ok(Effect::Expired {
                released: self.expire_holds(),
            }),
            Command::RegisterUser {
                email,
                password_hash,
                admin,
            } => self.register_user(email, password_hash, *admin),
            Command::BootstrapAdmin {
                email,
                password_hash,
            } => {
                if !self.admins.is_empty() {
                    return Err(Rejection::AdminExists);
                }
                self.register_user(email, password_hash, true)
            }
            Command::SetAdmin { user, admin } => self.set_admin(user, *admin),
            Command::RevokeSessions { user } => self.revoke_sessions(user, None),
            Command::ChangePassword {
                user,
                password_hash,
            } => self.revoke_sessions(user, Some(password_hash)),
        }
    }

    /// `RegisterUser`, and `BootstrapAdmin` once it has checked that there is no administrator.
    fn register_user(&mut self, email: &str, password_hash: &str, admin: bool) -> Outcome {
        let email = normalize_email(email)?;
        check_password_hash(password_hash)?;
        if self.by_email.contains_key(&email) {
            return Err(Rejection::EmailTaken(email));
        }
        let number = self
            .last_user_id
            .checked_add(1)
            .ok_or_else(|| Rejection::Invalid("user ids exhausted".to_owned()))?;
        // Every check has passed; mutate.
        self.last_user_id = number;
        let user = User {
            id: user_id(number),
            email,
            password_hash: password_hash.to_owned(),
            admin,
            token_version: 0,
            created_at: self.now,
        };
        let summary = user.summary();
        self.by_email.insert(user.email.clone(), user.id.clone());
        if admin {
            self.admins.insert(user.id.clone());
        }
        self.users.insert(user.id.clone(), user);
        Ok(Effect::User(summary))
    }

    /// `SetAdmin`.
    fn set_admin(&mut self, id: &UserId, admin: bool) -> Outcome {
        let user = self
            .users
            .get_mut(id)
            .ok_or_else(|| Rejection::UserNotFound(id.clone()))?;
        if user.admin && !admin && self.admins.len() <= 1 {
            return Err(Rejection::LastAdmin);
        }
        // Every check has passed; mutate.
        user.admin = admin;
        if admin {
            self.admins.insert(id.clone());
        } else {
            self.admins.remove(id);
        }
        Ok(Effect::User(user.summary()))
    }

    /// `RevokeSessions`, and with a new hash `ChangePassword`: bumps the token version.
    fn revoke_sessions(&mut self, id: &UserId, password_hash: Option<&str>) -> Outcome {
        if let Some(hash) = password_hash {
            check_password_hash(hash)?;
        }
        let user = self
            .users
            .get_mut(id)
            .ok_or_else(|| Rejection::UserNotFound(id.clone()))?;
        let token_version = user
            .token_version
            .checked_add(1)
            .ok_or_else(|| Rejection::Invalid("token_version exhausted".to_owned()))?;
        // Every check has passed; mutate.
        user.token_version = token_version;
        if let Some(hash) = password_hash {
            hash.clone_into(&mut user.password_hash);
        }
        Ok(Effect::User(user.summary()))
    }

    /// `CreateShow`.
    fn create_show(
        &mut self,
        id: &ShowId,
        title: &str,
        seat_count: u32,
        price_cents: i64,
        starts_at: Timestamp,
    ) -> Outcome {
        if self.shows.contains_key(id) {
            return Err(Rejection::ShowExists(id.clone()));
        }
        let show = Show {
            id: id.clone(),
            title: normalize_title(title)?.to_owned(),
            price_cents,
            starts_at,
            seats: SeatMap::available(seat_len(seat_count)?),
            held: 0,
            booked: 0,
        };
        let summary = show.summary();
        self.shows.insert(id.clone(), show);
        Ok(Effect::Show(summary))
    }

    /// `UpdateShow`.
    fn update_show(
        &mut self,
        id: &ShowId,
        title: Option<&str>,
        seat_count: Option<u32>,
        price_cents: Option<i64>,
        starts_at: Option<Timestamp>,
    ) -> Outcome {
        let show = self
            .shows
            .get_mut(id)
            .ok_or_else(|| Rejection::ShowNotFound(id.clone()))?;
        let title = title.map(normalize_title).transpose()?;
        let new_len = seat_count.map(seat_len).transpose()?;
        if let (Some(seat_count), Some(new_len)) = (seat_count, new_len)
            && let Some(offset) = show
                .seats
                .iter()
                .skip(new_len)
                .position(|seat| seat != Seat::Available)
        {
            // `offset` counts from the first removed seat, whose index is `new_len`.
            let seat = new_len
                .checked_add(offset)
                .and_then(|index| index.checked_add(1))
                .and_then(|no| u32::try_from(no).ok())
                .map(SeatNo)
                .ok_or_else(|| Rejection::Invalid("seat_count out of range".to_owned()))?;
            return Err(Rejection::SeatInUse {
                show: id.clone(),
                seat_count,
                seat,
            });
        }
        // Every check has passed; mutate.
        if let Some(title) = title {
            show.title = title.to_owned();
        }
        if let Some(new_len) = new_len {
            show.seats.resize(new_len);
        }
        if let Some(price_cents) = price_cents {
            show.price_cents = price_cents;
        }
        if let Some(starts_at) = starts_at {
            show.starts_at = starts_at;
        }
        Ok(Effect::Show(show.summary()))
    }

    /// `Hold` and `Book`: creates a booking with `status` over `seats`, all or none.
    ///
    /// A non-zero `max_seats_per_user` caps the seats `user` may have in
    /// active bookings of the show, these included; a hold is checked
    /// against its [`HoldLimits`] too ([`State::check_hold_limits`]).
    /// Administrators (box office staff selling at the counter) are exempt.
    fn reserve(
        &mut self,
        request: Reservation<'_>,
        status: BookingStatus,
        order: Option<&OrderId>,
    ) -> Outcome {
        let Reservation {
            show: show_id,
            seats,
            user,
            max_seats_per_user,
            limits,
        } = request;
        let now = self.now;
        let exempt = self.user(user).is_some_and(|u| u.admin);
        let capped = max_seats_per_user > 0 && !exempt;
        let show = self
            .shows
            .get_mut(show_id)
            .ok_or_else(|| Rejection::ShowNotFound(show_id.clone()))?;
        if show.starts_at <= now {
            return Err(Rejection::ShowStarted(show_id.clone()));
        }
        let mut seats = seats.to_vec();
        seats.sort_unstable();
        seats.dedup();
        if let Some(&seat) = seats.iter().find(|&&no| show.seat(no).is_none()) {
            return Err(Rejection::NoSuchSeat {
                show: show_id.clone(),
                seat,
                seat_count: show.seat_count(),
            });
        }
        if capped {
            let already = self.active.in_show(user, show_id);
            let wanted = u32::try_from(seats.len()).unwrap_or(u32::MAX);
            if already.saturating_add(wanted) > max_seats_per_user {
                return Err(Rejection::SeatLimit {
                    show: show_id.clone(),
                    limit: max_seats_per_user,
                    already,
                });
            }
        }
        if let Some(limits) = limits.filter(|_| !exempt) {
            self.check_hold_limits(limits, show_id, &seats, user)?;
        }
        let show = self
            .shows
            .get_mut(show_id)
            .ok_or_else(|| Rejection::ShowNotFound(show_id.clone()))?;
        for &no in &seats {
            match show.seat(no) {
                Some(Seat::Held(_)) => return Err(Rejection::SeatHeld { seat: no }),
                Some(Seat::Booked(_)) => return Err(Rejection::SeatBooked { seat: no }),
                Some(Seat::Available) | None => {}
            }
        }
        let seat_total = i64::try_from(seats.len()).ok();
        let total_cents = seat_total
            .and_then(|n| show.price_cents.checked_mul(n))
            .ok_or_else(|| Rejection::Invalid("total price overflows".to_owned()))?;
        let id = self
            .last_booking_id
            .checked_add(1)
            .map(BookingId)
            .ok_or_else(|| Rejection::Invalid("booking ids exhausted".to_owned()))?;
        let booking = Booking {
            id,
            show: show_id.clone(),
            seats,
            user: user.clone(),
            total_cents,
            created_at: now,
            status,
            order: order.cloned(),
            payment: if order.is_some() {
                Payment::Pending
            } else {
                Payment::None
            },
        };
        // Every check has passed (storing is the last one); mutate.
        self.bookings.push(&booking).map_err(cannot_store)?;
        self.last_booking_id = id.0;
        if let Some(new) = booking.seat_state()
            && let Some(show) = self.shows.get_mut(show_id)
        {
            for &no in &booking.seats {
                show.transition(no, Seat::Available, new);
            }
        }
        self.index_booking(&booking);
        Ok(Effect::Booking(booking))
    }

    /// Checks a hold of `seats` (sorted) of `show` for `user` against `limits`:
    /// the seats held at once, the holds started in the last hour, and the
    /// cool-down after the user's own holds that lapsed unpaid (ran out or
    /// given up).
    ///
    /// The last two read the user's bookings newest first, only as far back
    /// as they can matter (an hour; the cool-down plus the longest hold), so
    /// they cost the user's recent bookings, not the whole history, and
    /// need no state of their own.
    fn check_hold_limits(
        &self,
        limits: &HoldLimits,
        show: &ShowId,
        seats: &[SeatNo],
        user: &UserId,
    ) -> Result<(), Rejection> {
        let now = self.now;
        let held = self.active.held(user);
        let wanted = u32::try_from(seats.len()).unwrap_or(u32::MAX);
        if limits.max_held_seats > 0 && held.saturating_add(wanted) > limits.max_held_seats {
            return Err(Rejection::HeldSeatLimit {
                limit: limits.max_held_seats,
                held,
            });
        }
        let limit = limits.max_holds_per_hour;
        if limit > 0 {
            let since = now.saturating_add_ms(-HOLD_RATE_WINDOW_MS);
            // The `limit`-th newest hold of the window, if there are that many.
            let oldest_counted = self
                .recent_bookings(user, since)
                .filter(|booking| booking.order.is_some())
                .nth(usize::try_from(limit - 1).unwrap_or(usize::MAX));
            if let Some(booking) = oldest_counted {
                let free_at = booking.created_at.saturating_add_ms(HOLD_RATE_WINDOW_MS);
                return Err(Rejection::HoldRateLimit {
                    limit,
                    retry_after_ms: free_at.saturating_ms_since(now),
                });
            }
        }
        let cooldown = limits.cooldown_ms;
        if cooldown > 0 {
            let since = now.saturating_add_ms(-cooldown.saturating_add(MAX_HOLD_TTL_MS));
            let mut cooling: Option<(SeatNo, Timestamp)> = None;
            for booking in self.recent_bookings(user, since) {
                let BookingStatus::Released { at, lapsed: true } = booking.status else {
                    continue;
                };
                let lapsed = at.min(booking.created_at.saturating_add_ms(MAX_HOLD_TTL_MS));
                let until = lapsed.saturating_add_ms(cooldown);
                if booking.show != *show || until <= now {
                    continue;
                }
                if let Some(&seat) = seats
                    .iter()
                    .find(|no| booking.seats.binary_search(no).is_ok())
                {
                    cooling = Some(match cooling {
                        Some((low, latest)) => (low.min(seat), latest.max(until)),
                        None => (seat, until),
                    });
                }
            }
            if let Some((seat, until)) = cooling {
                return Err(Rejection::HoldCooldown {
                    show: show.clone(),
                    seat,
                    retry_after_ms: until.saturating_ms_since(now),
                });
            }
        }
        Ok(())
    }

    /// `user`'s bookings made after `since`, newest first.
    ///
    /// Bookings are listed per user in id order, which is also the order of
    /// their creation times (the clock never goes back), so the walk stops
    /// at the first one made at or before `since`.
    fn recent_bookings<'a>(
        &'a self,
        user: &UserId,
        since: Timestamp,
    ) -> impl Iterator<Item = Booking> + 'a {
        self.by_user
            .get(user)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .rev()
            .map_while(move |id| self.bookings.get(*id).filter(|b| b.created_at > since))
    }

    /// `Confirm`.
    fn confirm(&mut self, id: BookingId, transaction: Option<&TransactionId>) -> Outcome {
        let now = self.now;
        let mut booking = self
            .bookings
            .get(id)
            .ok_or(Rejection::BookingNotFound(id))?;
        let payment = match transaction {
            Some(tx) => Payment::Charged(tx.clone()),
            None => Payment::None,
        };
        if matches!(booking.status, BookingStatus::Confirmed { .. }) && booking.payment == payment {
            // A retried confirmation of the same payment.
            return Ok(Effect::Booking(booking));
        }
        let BookingStatus::Held { expires_at } = booking.status else {
            return Err(wrong_status(&booking, "held"));
        };
        if (booking.total_cents > 0) != transaction.is_some() {
            return Err(Rejection::Invalid(format!(
                "booking {id} costs {} cents: a confirmation needs a transaction exactly when it costs something",
                booking.total_cents
            )));
        }
        if expires_at <= now {
            return Err(Rejection::HoldExpired(id));
        }
        booking.status = BookingStatus::Confirmed { at: now };
        booking.payment = payment;
        // Storing is the last check; then mutate.
        self.bookings.update(&booking).map_err(cannot_store)?;
        if let Some(show) = self.shows.get_mut(&booking.show) {
            for &no in &booking.seats {
                show.transition(no, Seat::Held(id), Seat::Booked(id));
            }
        }
        self.hold_expiry.remove(&(expires_at, id));
        self.active.confirm(&booking);
        Ok(Effect::Booking(booking))
    }

    /// `Release`.
    fn release(&mut self, id: BookingId) -> Outcome {
        let booking = self
            .bookings
            .get(id)
            .ok_or(Rejection::BookingNotFound(id))?;
        if !matches!(booking.status, BookingStatus::Held { .. }) {
            return Err(wrong_status(&booking, "held"));
        }
        let status = BookingStatus::Released {
            at: self.now,
            lapsed: false,
        };
        Ok(Effect::Booking(self.end_booking(booking, status)))
    }

    /// `Cancel`.
    fn cancel(&mut self, id: BookingId, user: &UserId) -> Outcome {
        let booking = self
            .bookings
            .get(id)
            .filter(|booking| booking.user == *user)
            .ok_or(Rejection::BookingNotFound(id))?;
        let status = match booking.status {
            BookingStatus::Confirmed { .. } => BookingStatus::Cancelled { at: self.now },
            // A customer who gives up a hold has let it lapse: the
            // cool-down applies as if it had run out, or a hoarder would
            // cancel just before expiry and hold the same seats again.
            BookingStatus::Held { .. } => BookingStatus::Released {
                at: self.now,
                lapsed: true,
            },
            // Already over: cancelling again changes nothing.
            BookingStatus::Released { .. } | BookingStatus::Cancelled { .. } => {
                return Ok(Effect::Booking(booking));
            }
        };
        Ok(Effect::Booking(self.end_booking(booking, status)))
    }

    /// `Settle`.
    fn settle(&mut self, id: BookingId, charge: Option<&TransactionId>) -> Outcome {
        let mut booking = self
            .bookings
            .get(id)
            .ok_or(Rejection::BookingNotFound(id))?;
        if booking.payment != Payment::Pending
            || matches!(booking.status, BookingStatus::Held { .. })
        {
            return Err(Rejection::WrongStatus {
                booking: id,
                status: format!("{} with payment {}", booking.status, booking.payment.name()),
                expected: "ended with its payment pending".to_owned(),
            });
        }
        booking.payment = match charge {
            Some(tx) => Payment::RefundDue(tx.clone()),
            None => Payment::NotCharged,
        };
        self.bookings.update(&booking).map_err(cannot_store)?;
        self.index_settlement(&booking);
        Ok(Effect::Booking(booking))
    }

    /// `RecordRefund`.
    fn record_refund(&mut self, id: BookingId) -> Outcome {
        let mut booking = self
            .bookings
            .get(id)
            .ok_or(Rejection::BookingNotFound(id))?;
        match &booking.payment {
            Payment::RefundDue(tx) => booking.payment = Payment::Refunded(tx.clone()),
            Payment::Refunded(_) => {}
            other => {
                return Err(Rejection::WrongStatus {
                    booking: id,
                    status: format!("payment {}", other.name()),
                    expected: "payment refund due".to_owned(),
                });
            }
        }
        // Same transaction: storing cannot fail.
        self.bookings.update(&booking).map_err(cannot_store)?;
        self.index_settlement(&booking);
        Ok(Effect::Booking(booking))
    }

    /// `ExpireHolds`: releases every hold with `expires_at <= now`; returns how many.
    fn expire_holds(&mut self) -> u32 {
        let now = self.now;
        let mut released = 0u32;
        while let Some(&(expires_at, id)) = self.hold_expiry.first()
            && expires_at <= now
        {
            self.hold_expiry.pop_first();
            let status = BookingStatus::Released {
                at: now,
                lapsed: true,
            };
            if let Some(booking) = self.bookings.get(id) {
                self.end_booking(booking, status);
                released = released.saturating_add(1);
            }
        }
        released
    }

    /// Moves an active `booking` to a final `status`, freeing its seats and
    /// unindexing its hold; returns it as it now is.
    fn end_booking(&mut self, mut booking: Booking, status: BookingStatus) -> Booking {
        self.active.remove(&booking);
        if let Some(key) = booking.expiry_key() {
            self.hold_expiry.remove(&key);
        }
        if let (Some(old), Some(show)) = (booking.seat_state(), self.shows.get_mut(&booking.show)) {
            for &no in &booking.seats {
                show.transition(no, old, Seat::Available);
            }
        }
        booking.status = status;
        if let Payment::Charged(tx) = &booking.payment {
            booking.payment = Payment::RefundDue(tx.clone());
        }
        if booking.is_unsettled() {
            self.unsettled.insert(booking.id);
        }
        // Same transaction (or none): storing cannot fail.
        let stored = self.bookings.update(&booking);
        debug_assert_eq!(stored, Ok(()));
        booking
    }

    /// Keeps the unsettled index in step with `booking`'s payment.
    fn index_settlement(&mut self, booking: &Booking) {
        if booking.is_unsettled() {
            self.unsettled.insert(booking.id);
        } else {
            self.unsettled.remove(&booking.id);
        }
    }

    /// Adds a new booking to the user, expiry and active-seat indexes.
    fn index_booking(&mut self, booking: &Booking) {
        self.active.add(booking);
        self.by_user
            .entry(booking.user.clone())
            .or_default()
            .push(booking.id);
        if let Some(key) = booking.expiry_key() {
            self.hold_expiry.insert(key);
        }
    }

    /// Drops up to [`DEDUP_PRUNE_BATCH`] of the oldest stale dedup records.
    fn prune_dedup(&mut self) {
        let now = self.now;
        self.dedup
            .prune(DEDUP_PRUNE_BATCH, |at| dedup_stale(at, now));
    }

    /// Records the effect of a newly applied request at the current time.
    ///
    /// A stale record under the same key that the pruner had not reached
    /// yet is replaced (with the older records before it).
    fn remember(&mut self, key: RequestKey, fingerprint: u64, effect: &Effect) {
        let record = DedupRecord {
            key,
            at: self.now,
            fingerprint,
            outcome: Recorded::of(effect, self.now, |id| self.bookings.get(id)),
        };
        self.dedup.insert(record);
    }

    /// Rebuilds a state from snapshot data, refusing it if inconsistent.
    fn from_snapshot(snapshot: Snapshot) -> Result<Self, String> {
        let mut shows = BTreeMap::new();
        for show in snapshot.shows {
            let id = show.id.clone();
            if shows.insert(id.clone(), show).is_some() {
                return Err(format!("snapshot lists show {id} twice"));
            }
        }
        let bookings = snapshot.bookings;
        let mut users = BTreeMap::new();
        for user in snapshot.users {
            let id = user.id.clone();
            if users.insert(id.clone(), user).is_some() {
                return Err(format!("snapshot lists user {id} twice"));
            }
        }
        let (by_user, hold_expiry) = build_booking_indexes(bookings.iter());
        let unsettled = build_unsettled_index(bookings.iter());
        let active = ActiveSeats::of(bookings.iter());
        let by_email = build_email_index(&users)?;
        let state = State {
            now: snapshot.now,
            last_booking_id: snapshot.last_booking_id,
            shows,
            bookings,
            by_user,
            hold_expiry,
            unsettled,
            active,
            dedup: DedupWindow::from_records(snapshot.dedup)?,
            last_user_id: snapshot.last_user_id,
            admins: build_admin_index(&users),
            by_email,
            users,
        };
        state
            .check_invariants()
            .map_err(|problem| format!("inconsistent snapshot: {problem}"))?;
        Ok(state)
    }
}

/// Whether a dedup record made at `at` has left the window by `now`.
fn dedup_stale(at: Timestamp, now: Timestamp) -> bool {
    now.saturating_ms_since(at) >= DEDUP_TTL_MS
}

/// Converts a validated seat count to a seat map length.
fn seat_len(seat_count: u32) -> Result<usize, Rejection> {
    usize::try_from(seat_count)
        .map_err(|_| Rejection::Invalid("seat_count does not fit in memory".to_owned()))
}

/// The rejection of a booking the store cannot hold (see [`Bookings::push`]).
fn cannot_store(problem: String) -> Rejection {
    Rejection::Invalid(format!("cannot store the booking: {problem}"))
}

/// Builds the `WrongStatus` rejection for `booking`.
fn wrong_status(booking: &Booking, expected: &str) -> Rejection {
    Rejection::WrongStatus {
        booking: booking.id,
        status: booking.status.to_string(),
        expected: expected.to_owned(),
    }
}

/// The user index and expiry index implied by `bookings`, given in id order.
fn build_booking_indexes(bookings: impl IntoIterator<Item = Booking>) -> (UserIndex, ExpiryIndex) {
    let mut by_user = UserIndex::new();
    let mut hold_expiry = BTreeSet::new();
    for booking in bookings {
        by_user
            .entry(booking.user.clone())
            .or_default()
            .push(booking.id);
        if let Some(key) = booking.expiry_key() {
            hold_expiry.insert(key);
        }
    }
    (by_user, hold_expiry)
}

/// The unsettled index implied by `bookings`.
fn build_unsettled_index(bookings: impl IntoIterator<Item = Booking>) -> BTreeSet<BookingId> {
    bookings
        .into_iter()
        .filter(|booking| booking.is_unsettled())
        .map(|booking| booking.id)
        .collect()
}

/// What `Hold` and `Book` ask [`State::reserve`] for.
struct Reservation<'a> {
    /// The show.
    show: &'a ShowId,
    /// The seats, in any order.
    seats: &'a [SeatNo],
    /// The customer.
    user: &'a UserId,
    /// The per-customer cap (0: none).
    max_seats_per_user: u32,
    /// For a hold, the limits against hoarding.
    limits: Option<&'a HoldLimits>,
}

/// The id of the `number`th account.
fn user_id(number: u64) -> UserId {
    UserId(format!("u{number}"))
}

/// The number of an account id of the form `u{n}`, if it is exactly that form.
fn user_number(id: &UserId) -> Option<u64> {
    let number = id.as_str().strip_prefix('u')?.parse().ok()?;
    (user_id(number) == *id).then_some(number)
}

/// The email index implied by `users`, or a description of two accounts sharing an email.
fn build_email_index(users: &BTreeMap<UserId, User>) -> Result<EmailIndex, String> {
    let mut by_email = EmailIndex::new();
    for user in users.values() {
        if let Some(other) = by_email.insert(user.email.clone(), user.id.clone()) {
            return Err(format!(
                "users {other} and {} share an email address",
                user.id
            ));
        }
    }
    Ok(by_email)
}

/// The administrator index implied by `users`.
fn build_admin_index(users: &BTreeMap<UserId, User>) -> BTreeSet<UserId> {
    users
        .values()
        .filter(|user| user.admin)
        .map(|user| user.id.clone())
        .collect()
}

/// Serialized form of [`State`], borrowed for writing.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    /// See [`State::now`].
    now: Timestamp,
    /// Highest booking id issued.
    last_booking_id: u64,
    /// Shows, ordered by id.
    shows: Values<'a, ShowId, Show>,
    /// Bookings, ordered by id.
    bookings: &'a Bookings,
    /// Dedup records, oldest first.
    dedup: Records<'a>,
    /// Highest user number issued.
    last_user_id: u64,
    /// User accounts, ordered by id.
    users: Values<'a, UserId, User>,
}

/// Serialized form of [`State`], owned for reading; field for field like [`SnapshotRef`].
#[derive(Deserialize)]
struct Snapshot {
    /// See [`State::now`].
    now: Timestamp,
    /// Highest booking id issued.
    last_booking_id: u64,
    /// Shows, ordered by id.
    shows: Vec<Show>,
    /// Bookings, ordered by id.
    bookings: Bookings,
    /// Dedup records, oldest first.
    dedup: Vec<DedupRecord>,
    /// Highest user number issued.
    last_user_id: u64,
    /// User accounts, ordered by id.
    users: Vec<User>,
}

/// Serializes the values of a map as a sequence (their keys are inside them).
struct Values<'a, K, V>(&'a BTreeMap<K, V>);

impl<K, V: Serialize> Serialize for Values<'_, K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.values())
    }
}

/// Serializes the dedup records as a sequence, oldest first.
struct Records<'a>(&'a DedupWindow);

impl Serialize for Records<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for record in self.0.canonical() {
            seq.serialize_element(record)?;
        }
        seq.end()
    }
}

impl Serialize for State {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SnapshotRef {
            now: self.now,
            last_booking_id: self.last_booking_id,
            shows: Values(&self.shows),
            bookings: &self.bookings,
            dedup: Records(&self.dedup),
            last_user_id: self.last_user_id,
            users: Values(&self.users),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for State {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let snapshot = Snapshot::deserialize(deserializer)?;
        State::from_snapshot(snapshot).map_err(D::Error::custom)
    }
}

/// The first bytes of a snapshot in the current format.
///
/// Snapshots written before the compact dedup window have no tag; they
/// begin with the clock's time as a zigzag varint, which could only spell
/// these bytes for a clock at 33 ms after the epoch.
const SNAPSHOT_TAG: &[u8; 4] = b"BXS2";

/// A snapshot in the format before the compact dedup window: the same
/// fields, but each dedup record whole, keyed by request id.
#[derive(Deserialize)]
struct LegacySnapshot {
    /// See [`Snapshot`].
    now: Timestamp,
    /// See [`Snapshot`].
    last_booking_id: u64,
    /// See [`Snapshot`].
    shows: Vec<Show>,
    /// See [`Snapshot`].
    bookings: Bookings,
    /// Dedup records, by request id.
    dedup: BTreeMap<RequestId, LegacyDedupRecord>,
    /// See [`Snapshot`].
    last_user_id: u64,
    /// See [`Snapshot`].
    users: Vec<User>,
}

impl State {
    /// Writes the state as Raft snapshot bytes: a format tag, then its
    /// postcard form, streamed (bookings are written one at a time).
    pub fn write_snapshot(&self, mut out: impl std::io::Write) -> Result<(), String> {
        out.write_all(SNAPSHOT_TAG).map_err(|e| e.to_string())?;
        postcard::to_io(self, out).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// [`State::write_snapshot`] into a buffer.
    pub fn to_snapshot(&self) -> Result<Vec<u8>, String> {
        let mut bytes = Vec::new();
        self.write_snapshot(&mut bytes)?;
        Ok(bytes)
    }

    /// Restores a state from [`State::to_snapshot`] bytes, or from a
    /// snapshot of the earlier format, whose dedup records it converts.
    /// Refuses undecodable or inconsistent snapshots.
    pub fn from_snapshot_bytes(bytes: &[u8]) -> Result<Self, String> {
        if let Some(current) = bytes.strip_prefix(SNAPSHOT_TAG) {
            return postcard::from_bytes(current).map_err(|e| e.to_string());
        }
        let legacy: LegacySnapshot = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
        let mut state = State::from_snapshot(Snapshot {
            now: legacy.now,
            last_booking_id: legacy.last_booking_id,
            shows: legacy.shows,
            bookings: legacy.bookings,
            dedup: Vec::new(),
            last_user_id: legacy.last_user_id,
            users: legacy.users,
        })?;
        let mut records: Vec<(RequestId, LegacyDedupRecord)> = legacy.dedup.into_iter().collect();
        records.sort_by(|(a_id, a), (b_id, b)| (a.at, a_id).cmp(&(b.at, b_id)));
        // Rejections are no longer recorded: those records are dropped.
        let records = records
            .into_iter()
            .filter_map(|(id, record)| {
                let effect = record.outcome.ok()?;
                Some(DedupRecord {
                    key: RequestKey::of(record.caller.as_ref(), &id),
                    at: record.at,
                    fingerprint: fingerprint(&record.command),
                    outcome: Recorded::of(&effect, record.at, |id| state.bookings.get(id)),
                })
            })
            .collect();
        state.dedup = DedupWindow::from_records(records)?;
        state
            .check_invariants()
            .map_err(|problem| format!("inconsistent snapshot: {problem}"))?;
        Ok(state)
    }
}

mod active;
mod dedup;
mod seats;
mod stored;
#[cfg(test)]
mod tests;
