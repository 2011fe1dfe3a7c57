//! The replicated booking state and the deterministic `apply` function:
//! the [`State`] struct, the dispatch of each command to its handler, and
//! the queries. The entities and their commands live in the submodules:
//! accounts, shows (with the seat map in `seats`), bookings and the
//! checkout; then the invariants, the snapshot format, the dedup window
//! and the compact booking store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::command::{Caller, Command, Request};
use crate::ids::{BookingId, DEDUP_TTL_MS, ProductionId, ShowId, Timestamp, UserId, VenueId};
use crate::outcome::{Effect, Outcome, Rejection};
use crate::validate::normalize_email;
use crate::venue::VenueIndex;
use accounts::EmailIndex;
use active::ActiveSeats;
use booking::{ExpiryIndex, UserIndex};
use checkout::Reservation;
use dedup::{DedupRecord, DedupWindow, Recorded, RequestKey, fingerprint};
use stored::Bookings;
use tally::{Cards, Networks};

pub use accounts::{User, UserSummary};
pub use booking::{Booking, BookingStatus, Payment};
pub use doors::{
    Conflict, DoorScope, DoorTicket, Doors, Entry, Holder, MAX_CONFLICTS, MAX_CONFLICTS_PER_TICKET,
    MAX_DOOR_STAFF_GRANTS, MAX_TICKET_KEY_IDS, MAX_TICKET_KEYS, Scan, TicketRef,
};
pub use invariants::Inconsistency;
pub use performances::{Production, VenueSummary};
pub use report::{SIMPLE_CATEGORY, SalesLine, SalesReport};
pub use rooms::{
    Admission, MAX_ADMISSION_MS, MAX_ADMIT_PER_S, MAX_IN_ROOM, MAX_ROOMS_PER_BUYER,
    MIN_ADMISSION_MS, RoomPhase, RoomRules, RoomStatus, RoomSummary, Tick, WaitingRoom, room_seed,
    shuffle,
};
pub use seats::SeatMap;
pub use shows::{Performance, PerformanceState, Seat, Show, ShowSummary};
pub use snapshot::SnapshotError;
pub use waitlist::{
    ListEntry, ListStatus, ListSummary, MAX_LIST_QUANTITY, MAX_LISTS_PER_BUYER, MAX_OFFER_MS,
    MAX_ON_LIST, MIN_OFFER_MS, WaitingList,
};

/// Most stale dedup records dropped by one `apply`.
///
/// Each `apply` records at most one request, so pruning up to this many per
/// call keeps pace with insertion while bounding the work of any single call
/// (for instance the first request after a long quiet period). Stale records
/// that are not yet pruned are ignored by lookups, so correctness never
/// depends on how far pruning has got.
const DEDUP_PRUNE_BATCH: usize = 64;

/// What [`State::authenticate`] says about a session that is not (or no longer) valid.
const SESSION_INVALID: &str = "session is no longer valid: log in again";

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
    /// All venues, by id; a venue is never changed or removed.
    venues: BTreeMap<VenueId, Arc<VenueIndex>>,
    /// All productions, by id.
    productions: BTreeMap<ProductionId, Production>,
    /// Check-ins and ticket versions.
    doors: Doors,
    /// The performances' waiting rooms, by performance.
    rooms: BTreeMap<ShowId, WaitingRoom>,
    /// The network of each active hold or booking made with one, and
    /// their seats by show and network.
    networks: Networks,
    /// The performances' waiting lists, by performance.
    lists: BTreeMap<ShowId, WaitingList>,
    /// The card of each active booking paid (or being paid) with one, and
    /// their seats by show and card.
    cards: Cards,
    /// The performances whose seats the `apply` under way freed, offered
    /// to their waiting lists at its end. Empty between applies, never
    /// serialized.
    freed: BTreeSet<ShowId>,
    /// The format version of the command the `apply` under way applies
    /// ([`State::apply_as`]); 0 between applies, never serialized.
    version: u8,
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
        self.apply_as(at, request, crate::format::NEWEST)
    }

    /// [`State::apply`] of a request read from the log in format
    /// `version`: what the state machine makes of a command may depend on
    /// it (see [`crate::format`]), so that during a rolling upgrade, when
    /// the log is written in a version every member reads, replicas of
    /// the old build and of the new one reach equal states.
    pub fn apply_as(&mut self, at: Timestamp, request: &Request, version: u8) -> Outcome {
        self.version = version;
        let outcome = self.apply_request(at, request);
        self.version = 0;
        outcome
    }

    fn apply_request(&mut self, at: Timestamp, request: &Request) -> Outcome {
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
            // Door staff are not administrators, but may scan where granted.
            Some(account) => match &request.command {
                Command::CheckIn { show, .. } | Command::CheckOut { show, .. }
                    if self.may_check_in(account, show) =>
                {
                    Ok(())
                }
                command => command.check_permission(account),
            },
            None => Ok(()),
        };
        self.now = now;
        self.prune_dedup();
        let outcome = permission
            .and_then(|()| request.command.validate())
            .and_then(|()| self.execute(&request.command));
        // Freed seats go to the waiting lists once per performance, after
        // the whole command (an expiry sweep may end thousands of holds).
        self.offer_all_freed();
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

    /// The card counted against the cap per card for booking `id` (by its
    /// fingerprint), while it is held or after; `None` if none was.
    pub fn card_of(&self, id: BookingId) -> Option<crate::CardFingerprint> {
        self.cards.of(id)
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
                tickets,
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
                    tickets,
                    user,
                    max_seats_per_user: *max_seats_per_user,
                    limits: Some(limits),
                    offered: false,
                };
                self.reserve(request, status, Some(order))
            }
            Command::Book {
                show,
                seats,
                tickets,
                user,
                max_seats_per_user,
            } => {
                let status = BookingStatus::Confirmed { at: self.now };
                let request = Reservation {
                    show,
                    seats,
                    tickets,
                    user,
                    max_seats_per_user: *max_seats_per_user,
                    limits: None,
                    offered: false,
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
            Command::CreateVenue { venue, layout } => self.create_venue(venue, layout),
            Command::CreateProduction {
                production,
                title,
                description,
                running_minutes,
            } => self.create_production(production, title, description, *running_minutes),
            Command::AddPerformances {
                production,
                venue,
                performances,
                sales,
                pricing,
            } => self.add_performances(production, venue, performances, *sales, pricing),
            Command::CancelPerformance { show } => self.cancel_performance(show),
            Command::HoldBack {
                show,
                seats,
                reason,
            } => self.hold_back(show, seats, reason),
            Command::ReleaseHeldBack { show, seats } => self.release_held_back(show, seats),
            Command::ReturnTickets {
                booking,
                seats,
                user,
            } => self.return_tickets(*booking, seats, user),
            Command::CheckIn {
                show,
                booking,
                place,
                version,
                gate,
                offline_at,
            } => {
                let ticket = TicketRef {
                    booking: *booking,
                    place: *place,
                };
                self.check_in(show, ticket, *version, gate, *offline_at)
            }
            Command::ReissueTicket {
                booking,
                place,
                user,
            } => self.reissue_ticket(
                TicketRef {
                    booking: *booking,
                    place: *place,
                },
                user,
            ),
            Command::TransferTicket {
                booking,
                place,
                user,
                to,
            } => self.transfer_ticket(
                TicketRef {
                    booking: *booking,
                    place: *place,
                },
                user,
                to,
            ),
            Command::CheckOut {
                show,
                booking,
                place,
                version,
                gate,
            } => {
                let ticket = TicketRef {
                    booking: *booking,
                    place: *place,
                };
                self.check_out(show, ticket, *version, gate)
            }
            Command::SetReentry { show, allowed } => self.set_reentry(show, *allowed),
            Command::RetireTicketKey { kid } => self.retire_ticket_key(kid),
            Command::AddTicketKey { kid, public } => self.add_ticket_key(kid, *public),
            Command::GrantDoorStaff { user, scope } => self.grant_door_staff(user, scope),
            Command::RevokeDoorStaff { user, scope } => self.revoke_door_staff(user, scope),
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
            Command::SetWaitingRoom { show, rules } => self.set_waiting_room(show, *rules),
            Command::JoinWaitingRoom { show, user } => self.join_waiting_room(show, user),
            Command::TickWaitingRooms { seed } => Ok(Effect::RoomsTicked(self.tick_rooms(*seed))),
            Command::JoinWaitingList {
                show,
                user,
                quantity,
                category,
                offer_ms,
                max_seats_per_user,
                limits,
            } => {
                let join = waitlist::Join {
                    quantity: *quantity,
                    category,
                    offer_ms: *offer_ms,
                    max_seats_per_user: *max_seats_per_user,
                    limits,
                };
                self.join_waiting_list(show, user, join)
            }
            Command::LeaveWaitingList { show, user } => self.leave_waiting_list(show, user),
            Command::AttachCard {
                booking,
                card,
                max_seats_per_card,
            } => self.attach_card(*booking, *card, *max_seats_per_card),
            Command::SetAdmin { user, admin } => self.set_admin(user, *admin),
            Command::RevokeSessions { user } => self.revoke_sessions(user, None),
            Command::ChangePassword {
                user,
                password_hash,
            } => self.revoke_sessions(user, Some(password_hash)),
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
}

/// Whether a dedup record made at `at` has left the window by `now`.
fn dedup_stale(at: Timestamp, now: Timestamp) -> bool {
    now.saturating_ms_since(at) >= DEDUP_TTL_MS
}

mod accounts;
mod active;
mod booking;
mod checkout;
mod dedup;
mod doors;
mod invariants;
mod performances;
mod report;
mod rooms;
mod seats;
mod shows;
mod snapshot;
mod stored;
mod tally;
#[cfg(test)]
mod tests;
mod waitlist;
