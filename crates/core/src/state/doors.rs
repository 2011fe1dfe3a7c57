//! The door: which tickets have come in, at which gate and when.
//!
//! A ticket is one place of a booking. Its code (signed outside this
//! crate, verified by the scanner) names the booking, the place and the
//! ticket's version; here the replicated log decides what that code is
//! worth *now*: the first scan of a current, paid ticket admits it, every
//! later scan is told when and at which gate it came in. A returned
//! ticket (its place no longer in the booking, or the booking cancelled)
//! or an old version of a reissued one admits nobody.
//!
//! A ticket may be given to another account (`TransferTicket`): its
//! version goes up, the giver's code says "transferred", and the buyer can
//! no longer return it. A performance may allow exits and re-entry: an
//! exit scan (`CheckOut`) marks a ticket out, and its next scan admits it
//! again.
//!
//! Invariants: a ticket is in at most once at a time (an admission, then
//! an exit before the next one); an entry is only made for a ticket of a
//! confirmed booking that holds the place, at the ticket's current
//! version; an exit only for a ticket that came in. A scan made while a
//! gate was cut off from the cluster (`offline_at`) that finds the ticket
//! already in is kept as a [`Conflict`], once per ticket and gate, up to
//! [`MAX_CONFLICTS_PER_TICKET`] and [`MAX_CONFLICTS`]; beyond them it is
//! counted ([`Doors::conflicts_dropped`]), never silently lost.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::User;
use super::{BookingStatus, Seat, State};
use crate::ids::{BookingId, ProductionId, SeatNo, ShowId, Timestamp, UserId, VenueId};
use crate::outcome::{Effect, Outcome, Rejection};

/// Most ticket keys the cluster keeps: one a rotation, so this is years of
/// rotations, and a bound on what a misbehaving node could add.
pub const MAX_TICKET_KEYS: usize = 64;

/// Most ticket key ids the cluster ever registers, trusted and retired
/// together (each is a few dozen bytes; a rotation a week on three nodes
/// reaches it in twenty-six years). Past it no key is added, but a key can
/// always be retired: revoking a leaked key must never be refused.
pub const MAX_TICKET_KEY_IDS: usize = 4_096;

/// A ticket: one place of one booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TicketRef {
    /// The booking.
    pub booking: BookingId,
    /// The place.
    pub place: SeatNo,
}

/// A ticket's admission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// When it was scanned (the gate's clock for an offline scan).
    pub at: Timestamp,
    /// The gate that admitted it.
    pub gate: String,
}

/// A ticket admitted at one gate and scanned again at another while that
/// one was cut off from the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The ticket.
    pub ticket: TicketRef,
    /// Its performance.
    pub show: ShowId,
    /// The admission that counts (the first recorded).
    pub first: Entry,
    /// The offline scan that admitted it a second time.
    pub second: Entry,
}

/// What a scan found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scan {
    /// Come in: the ticket's type (empty for a simple show).
    Admitted {
        /// The ticket.
        ticket: TicketRef,
        /// Its ticket type.
        ticket_type: String,
    },
    /// It came in before.
    AlreadyIn(Entry),
    /// The ticket is for another performance.
    WrongPerformance(ShowId),
    /// The ticket was returned, or its booking cancelled.
    Returned,
    /// The ticket was reissued or transferred: this code is an old version.
    Superseded {
        /// The ticket's current version.
        current: u32,
    },
    /// The booking is not paid (a hold).
    NotPaid,
    /// No such booking.
    Unknown,
    /// The ticket was given to another account: this code is the giver's.
    Transferred {
        /// The ticket's current version.
        current: u32,
    },
    /// `CheckOut`: the ticket went out (it may come in again).
    Left(Entry),
    /// `CheckOut`: the ticket is not in.
    NotIn,
}

impl Scan {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Scan::Admitted { .. } => "admitted",
            Scan::AlreadyIn(_) => "already_in",
            Scan::WrongPerformance(_) => "wrong_performance",
            Scan::Returned => "returned",
            Scan::Superseded { .. } => "superseded",
            Scan::NotPaid => "not_paid",
            Scan::Unknown => "unknown",
            Scan::Transferred { .. } => "transferred",
            Scan::Left(_) => "left",
            Scan::NotIn => "not_in",
        }
    }
}

/// A current ticket of a performance, as a door's list carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoorTicket {
    /// The ticket.
    pub ticket: TicketRef,
    /// Its current version.
    pub version: u32,
    /// Its admission, if it came in.
    pub entry: Option<Entry>,
}

/// Where door staff may check tickets in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DoorScope {
    /// Every performance of a production.
    Production(ProductionId),
    /// Every performance at a venue.
    Venue(VenueId),
}

impl std::fmt::Display for DoorScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DoorScope::Production(p) => write!(f, "production {p}"),
            DoorScope::Venue(v) => write!(f, "venue {v}"),
        }
    }
}

/// Most door-staff grants the cluster keeps (each is a few dozen bytes).
pub const MAX_DOOR_STAFF_GRANTS: usize = 100_000;

/// Most conflicts kept for one ticket (one per offline gate that admitted
/// it a second time); further ones are counted, not itemised.
pub const MAX_CONFLICTS_PER_TICKET: usize = 8;
/// Most conflicts the cluster itemises; further ones are counted.
pub const MAX_CONFLICTS: usize = 100_000;

/// Who holds a ticket given away by its buyer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The holder's account.
    pub user: UserId,
    /// The version the last transfer gave the ticket: codes older than
    /// it were the givers'.
    pub since: u32,
}

/// What the `BXS5` snapshot format added to the door's records, after
/// those of `BXS4` (postcard writes a struct's fields one after another,
/// so `(DoorsV4, AddedInV5)` reads exactly what `BXS5` wrote).
#[derive(Deserialize)]
pub(super) struct AddedInV5 {
    holders: BTreeMap<TicketRef, Holder>,
    exits: BTreeMap<TicketRef, Entry>,
    reentry: BTreeSet<ShowId>,
    conflicts_dropped: u64,
}

/// The door's records as the `BXS5` snapshot format kept them (before
/// keys could be retired).
pub(super) type DoorsV5 = (DoorsV4, AddedInV5);

impl From<DoorsV5> for Doors {
    fn from((v4, added): DoorsV5) -> Self {
        Self {
            holders: added.holders,
            exits: added.exits,
            reentry: added.reentry,
            conflicts_dropped: added.conflicts_dropped,
            ..v4.into()
        }
    }
}

/// The door's records as the `BXS4` snapshot format kept them.
#[derive(Deserialize)]
pub(super) struct DoorsV4 {
    versions: BTreeMap<TicketRef, u32>,
    entries: BTreeMap<TicketRef, Entry>,
    conflicts: BTreeMap<(TicketRef, String), Conflict>,
    keys: BTreeMap<String, [u8; 32]>,
    staff: BTreeSet<(UserId, DoorScope)>,
}

impl From<DoorsV4> for Doors {
    fn from(v4: DoorsV4) -> Self {
        Self {
            versions: v4.versions,
            entries: v4.entries,
            conflicts: v4.conflicts,
            keys: v4.keys,
            staff: v4.staff,
            ..Self::default()
        }
    }
}

/// Check-ins and ticket versions: part of the replicated state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doors {
    /// Current version of each ticket reissued or transferred (others: 0).
    versions: BTreeMap<TicketRef, u32>,
    /// Tickets that have come in.
    entries: BTreeMap<TicketRef, Entry>,
    /// Second admissions found when offline scans came in, by ticket and
    /// the offline gate.
    conflicts: BTreeMap<(TicketRef, String), Conflict>,
    /// Public keys that verify ticket codes, by key id.
    keys: BTreeMap<String, [u8; 32]>,
    /// Door staff: who may check tickets in where.
    staff: BTreeSet<(UserId, DoorScope)>,
    /// Tickets given away, with their holder (a ticket not here is its
    /// buyer's).
    holders: BTreeMap<TicketRef, Holder>,
    /// Tickets that came in and went out again (their exit).
    exits: BTreeMap<TicketRef, Entry>,
    /// Performances that allow exits and re-entry.
    reentry: BTreeSet<ShowId>,
    /// Conflicts found beyond the caps, counted only.
    conflicts_dropped: u64,
    /// Ids of ticket keys an administrator retired: never trusted again.
    retired: BTreeSet<String>,
    /// `holders` by holder (derived, not stored).
    #[serde(skip)]
    held_by: BTreeSet<(UserId, TicketRef)>,
}

impl Doors {
    /// The ticket's current version.
    pub fn version(&self, ticket: TicketRef) -> u32 {
        self.versions.get(&ticket).copied().unwrap_or(0)
    }

    /// The ticket's admission, if it came in.
    pub fn entry(&self, ticket: TicketRef) -> Option<&Entry> {
        self.entries.get(&ticket)
    }

    /// Every admission, by ticket.
    pub fn entries(&self) -> impl Iterator<Item = (&TicketRef, &Entry)> {
        self.entries.iter()
    }

    /// Tickets that have been reissued.
    pub fn reissued(&self) -> impl Iterator<Item = &TicketRef> {
        self.versions.keys()
    }

    /// Every conflict recorded, by ticket.
    pub fn conflicts(&self) -> impl Iterator<Item = &Conflict> {
        self.conflicts.values()
    }

    /// Admissions of the tickets of `bookings` (those of one performance).
    pub fn entries_of<'a>(
        &'a self,
        bookings: impl IntoIterator<Item = BookingId> + 'a,
    ) -> impl Iterator<Item = (TicketRef, &'a Entry)> + 'a {
        bookings.into_iter().flat_map(move |booking| {
            let first = TicketRef {
                booking,
                place: SeatNo(0),
            };
            let last = TicketRef {
                booking,
                place: SeatNo(u32::MAX),
            };
            self.entries.range(first..=last).map(|(t, e)| (*t, e))
        })
    }

    /// The first of `places` of `booking` whose ticket has come in.
    pub fn first_used(&self, booking: BookingId, places: &[SeatNo]) -> Option<SeatNo> {
        places
            .iter()
            .copied()
            .find(|&place| self.entries.contains_key(&TicketRef { booking, place }))
    }

    /// The public keys that verify ticket codes, by key id.
    pub fn keys(&self) -> &BTreeMap<String, [u8; 32]> {
        &self.keys
    }

    /// Ids of the ticket keys retired: codes they signed do not verify,
    /// and they can never be registered again.
    pub fn retired_keys(&self) -> &BTreeSet<String> {
        &self.retired
    }

    /// Drops the versions and holders of `places` of `booking` (tickets
    /// returned: a holder's transfer version must not outlive the version).
    pub(super) fn forget_tickets(&mut self, booking: BookingId, places: &[SeatNo]) {
        for &place in places {
            let ticket = TicketRef { booking, place };
            self.versions.remove(&ticket);
            if let Some(holder) = self.holders.remove(&ticket) {
                self.held_by.remove(&(holder.user, ticket));
            }
        }
    }

    /// Every door-staff grant, by user.
    pub fn staff(&self) -> impl Iterator<Item = &(UserId, DoorScope)> {
        self.staff.iter()
    }

    /// Number of tickets in.
    pub fn admitted(&self) -> usize {
        self.entries.len()
    }

    /// Whether `ticket` is in now (came in and has not gone out since).
    pub fn inside(&self, ticket: TicketRef) -> bool {
        self.entries.contains_key(&ticket) && !self.exits.contains_key(&ticket)
    }

    /// The ticket's exit, if it is out now.
    pub fn exit(&self, ticket: TicketRef) -> Option<&Entry> {
        self.exits.get(&ticket)
    }

    /// Every exit, by ticket.
    pub fn exits(&self) -> impl Iterator<Item = (&TicketRef, &Entry)> {
        self.exits.iter()
    }

    /// Whether `show` allows exits and re-entry.
    pub fn allows_reentry(&self, show: &ShowId) -> bool {
        self.reentry.contains(show)
    }

    /// The ticket's holder, if its buyer gave it away.
    pub fn holder(&self, ticket: TicketRef) -> Option<&Holder> {
        self.holders.get(&ticket)
    }

    /// Every ticket given away, with its holder.
    pub fn holders(&self) -> impl Iterator<Item = (&TicketRef, &Holder)> {
        self.holders.iter()
    }

    /// Tickets given to `user` (some may be theirs again, or returned).
    pub fn held_by<'a>(&'a self, user: &'a UserId) -> impl Iterator<Item = TicketRef> + 'a {
        let first = TicketRef {
            booking: BookingId(0),
            place: SeatNo(0),
        };
        self.held_by
            .range((user.clone(), first)..)
            .take_while(move |(u, _)| u == user)
            .map(|(_, t)| *t)
    }

    /// Conflicts found beyond the caps, counted but not itemised.
    pub fn conflicts_dropped(&self) -> u64 {
        self.conflicts_dropped
    }

    /// Rebuilds the derived index after a snapshot is read.
    pub(super) fn reindex(&mut self) {
        self.held_by = self
            .holders
            .iter()
            .map(|(t, h)| (h.user.clone(), *t))
            .collect();
    }

    /// Whether `held_by` is what `holders` says (for the invariants).
    pub(super) fn index_matches(&self) -> bool {
        self.held_by.len() == self.holders.len()
            && self
                .holders
                .iter()
                .all(|(t, h)| self.held_by.contains(&(h.user.clone(), *t)))
    }

    /// The first of `places` of `booking` that its buyer gave away.
    pub fn first_given_away(
        &self,
        booking: BookingId,
        buyer: &UserId,
        places: &[SeatNo],
    ) -> Option<SeatNo> {
        places.iter().copied().find(|&place| {
            self.holders
                .get(&TicketRef { booking, place })
                .is_some_and(|h| h.user != *buyer)
        })
    }
}

impl State {
    /// The door's records.
    pub fn doors(&self) -> &Doors {
        &self.doors
    }

    /// What scanning `ticket` (at `version`) for `show` would find now,
    /// without recording anything.
    pub fn scan(&self, show: &ShowId, ticket: TicketRef, version: u32) -> Scan {
        let Some(booking) = self.bookings.get(ticket.booking) else {
            return Scan::Unknown;
        };
        if booking.show != *show {
            return Scan::WrongPerformance(booking.show);
        }
        match booking.status {
            BookingStatus::Held { .. } => return Scan::NotPaid,
            BookingStatus::Released { .. } | BookingStatus::Cancelled { .. } => {
                return Scan::Returned;
            }
            BookingStatus::Confirmed { .. } => {}
        }
        let Ok(i) = booking.seats.binary_search(&ticket.place) else {
            return Scan::Returned;
        };
        let current = self.doors.version(ticket);
        if version != current {
            return match self.doors.holder(ticket) {
                Some(holder) if version < holder.since => Scan::Transferred { current },
                _ => Scan::Superseded { current },
            };
        }
        if let Some(entry) = self.doors.entry(ticket)
            && !self.doors.exits.contains_key(&ticket)
        {
            return Scan::AlreadyIn(entry.clone());
        }
        let ticket_type = match (booking.types.get(i), self.shows.get(show)) {
            (Some(t), Some(show)) => show
                .performance
                .as_ref()
                .map(|p| p.pricing.type_name(*t))
                .unwrap_or_default(),
            _ => String::new(),
        };
        Scan::Admitted {
            ticket,
            ticket_type,
        }
    }

    /// `CheckIn`: the first scan of a current ticket admits it (and the
    /// first after each exit, where re-entry is allowed); the scan's
    /// finding is the outcome either way. An offline scan (`offline_at`)
    /// is recorded at the gate's time, and one that finds the ticket in
    /// from another gate is kept as a conflict (up to the caps; beyond
    /// them it is counted).
    pub(super) fn check_in(
        &mut self,
        show: &ShowId,
        ticket: TicketRef,
        version: u32,
        gate: &str,
        offline_at: Option<Timestamp>,
    ) -> Outcome {
        let mut scan = self.scan(show, ticket, version);
        // A gate's clock may run ahead; no scan is later than the log's time.
        let at = offline_at.map_or(self.now, |at| at.min(self.now));
        // An offline scan made before the ticket's latest exit found it in:
        // it re-admits nobody (the exit came after it).
        if matches!(scan, Scan::Admitted { .. })
            && offline_at.is_some()
            && let (Some(entry), Some(exit)) = (self.doors.entry(ticket), self.doors.exit(ticket))
            && at < exit.at
        {
            scan = Scan::AlreadyIn(entry.clone());
        }
        match &scan {
            Scan::Admitted { .. } => {
                let entry = Entry {
                    at,
                    gate: gate.to_owned(),
                };
                self.doors.entries.insert(ticket, entry);
                self.doors.exits.remove(&ticket);
            }
            Scan::AlreadyIn(first) if offline_at.is_some() && first.gate != gate => {
                let key = (ticket, gate.to_owned());
                let of_ticket = self
                    .doors
                    .conflicts
                    .range((ticket, String::new())..)
                    .take_while(|((t, _), _)| *t == ticket)
                    .count();
                if self.doors.conflicts.contains_key(&key) {
                    // Kept once per ticket and gate.
                } else if of_ticket >= MAX_CONFLICTS_PER_TICKET
                    || self.doors.conflicts.len() >= MAX_CONFLICTS
                {
                    self.doors.conflicts_dropped = self.doors.conflicts_dropped.saturating_add(1);
                } else {
                    let conflict = Conflict {
                        ticket,
                        show: show.clone(),
                        first: first.clone(),
                        second: Entry {
                            at,
                            gate: gate.to_owned(),
                        },
                    };
                    self.doors.conflicts.insert(key, conflict);
                }
            }
            _ => {}
        }
        Ok(Effect::Scanned(scan))
    }

    /// The ticket's holder: whom its buyer gave it to, else the buyer.
    pub fn holder_of(&self, ticket: TicketRef, buyer: &UserId) -> UserId {
        self.doors
            .holder(ticket)
            .map_or_else(|| buyer.clone(), |h| h.user.clone())
    }

    /// The current ticket `ticket` held by `user`, not yet used: what a
    /// reissue or a transfer starts from.
    fn ticket_held(&self, ticket: TicketRef, user: &UserId) -> Result<(), Rejection> {
        let booking = self
            .bookings
            .get(ticket.booking)
            .filter(|booking| self.holder_of(ticket, &booking.user) == *user)
            .ok_or(Rejection::BookingNotFound(ticket.booking))?;
        if !matches!(booking.status, BookingStatus::Confirmed { .. }) {
            return Err(Rejection::Invalid(format!(
                "booking {} is not paid or no longer valid; only its current tickets can be reissued",
                ticket.booking
            )));
        }
        if booking.seats.binary_search(&ticket.place).is_err() {
            return Err(Rejection::Invalid(format!(
                "booking {} has no ticket for seat {}",
                ticket.booking, ticket.place
            )));
        }
        if self.doors.entries.contains_key(&ticket) {
            return Err(Rejection::TicketUsed {
                booking: ticket.booking,
                seat: ticket.place,
            });
        }
        Ok(())
    }

    /// `ReissueTicket`: a new version of a current ticket not yet used,
    /// by its holder.
    pub(super) fn reissue_ticket(&mut self, ticket: TicketRef, user: &UserId) -> Outcome {
        self.ticket_held(ticket, user)?;
        let version = self.doors.version(ticket).saturating_add(1);
        self.doors.versions.insert(ticket, version);
        Ok(Effect::Reissued(version))
    }

    /// `TransferTicket`: the holder gives a current, unused ticket to
    /// another account, under a new version.
    pub(super) fn transfer_ticket(
        &mut self,
        ticket: TicketRef,
        user: &UserId,
        to: &UserId,
    ) -> Outcome {
        self.ticket_held(ticket, user)?;
        if !self.users.contains_key(to) {
            return Err(Rejection::UserNotFound(to.clone()));
        }
        if to == user {
            return Err(Rejection::Invalid(format!(
                "ticket {}-{} is already yours",
                ticket.booking, ticket.place
            )));
        }
        let version = self.doors.version(ticket).saturating_add(1);
        self.doors.versions.insert(ticket, version);
        let holder = Holder {
            user: to.clone(),
            since: version,
        };
        if let Some(old) = self.doors.holders.insert(ticket, holder) {
            self.doors.held_by.remove(&(old.user, ticket));
        }
        self.doors.held_by.insert((to.clone(), ticket));
        Ok(Effect::Transferred(version))
    }

    /// `CheckOut`: a ticket that is in goes out, where the performance
    /// allows re-entry; the scan's finding is the outcome.
    pub(super) fn check_out(
        &mut self,
        show: &ShowId,
        ticket: TicketRef,
        version: u32,
        gate: &str,
    ) -> Outcome {
        if !self.doors.reentry.contains(show) {
            return Err(Rejection::NoReentry(show.clone()));
        }
        let scan = match self.scan(show, ticket, version) {
            Scan::AlreadyIn(_) => {
                let exit = Entry {
                    at: self.now,
                    gate: gate.to_owned(),
                };
                self.doors.exits.insert(ticket, exit.clone());
                Scan::Left(exit)
            }
            Scan::Admitted { .. } => Scan::NotIn,
            refused => refused,
        };
        Ok(Effect::Scanned(scan))
    }

    /// `SetReentry`.
    pub(super) fn set_reentry(&mut self, show: &ShowId, allowed: bool) -> Outcome {
        if !self.shows.contains_key(show) {
            return Err(Rejection::ShowNotFound(show.clone()));
        }
        if allowed {
            self.doors.reentry.insert(show.clone());
        } else {
            self.doors.reentry.remove(show);
        }
        Ok(Effect::ReentrySet)
    }

    /// `AddTicketKey`: records a verifying key; the same key again is a
    /// no-op, another key under a known id is refused.
    pub(super) fn add_ticket_key(&mut self, kid: &str, public: [u8; 32]) -> Outcome {
        if self.doors.retired.contains(kid) {
            return Err(Rejection::Invalid(format!(
                "ticket key {kid} was retired and cannot be registered again"
            )));
        }
        match self.doors.keys.get(kid) {
            Some(known) if *known == public => return Ok(Effect::TicketKeyAdded),
            Some(_) => {
                return Err(Rejection::Invalid(format!(
                    "ticket key {kid} is already registered with another public key"
                )));
            }
            None => {}
        }
        if self.doors.keys.len() >= MAX_TICKET_KEYS {
            return Err(Rejection::Invalid(format!(
                "the cluster already has {MAX_TICKET_KEYS} ticket keys"
            )));
        }
        if self.doors.keys.len() + self.doors.retired.len() >= MAX_TICKET_KEY_IDS {
            return Err(Rejection::Invalid(format!(
                "the cluster has registered {MAX_TICKET_KEY_IDS} ticket keys, the most it keeps"
            )));
        }
        self.doors.keys.insert(kid.to_owned(), public);
        Ok(Effect::TicketKeyAdded)
    }

    /// `RetireTicketKey`: the key stops verifying and its id is barred.
    pub(super) fn retire_ticket_key(&mut self, kid: &str) -> Outcome {
        if self.doors.retired.contains(kid) {
            return Ok(Effect::TicketKeyRetired);
        }
        if !self.doors.keys.contains_key(kid) {
            return Err(Rejection::Invalid(format!("no ticket key {kid}")));
        }
        self.doors.keys.remove(kid);
        self.doors.retired.insert(kid.to_owned());
        Ok(Effect::TicketKeyRetired)
    }

    /// Whether `user` may check tickets in at `show`'s doors: an
    /// administrator, or door staff of its production or its venue.
    pub fn may_check_in(&self, user: &User, show: &ShowId) -> bool {
        if user.admin {
            return true;
        }
        let Some(show) = self.shows.get(show) else {
            return false;
        };
        let production = show
            .performance
            .as_ref()
            .map_or_else(|| ProductionId(show.id.0.clone()), |p| p.production.clone());
        let staff = |scope: DoorScope| self.doors.staff.contains(&(user.id.clone(), scope));
        staff(DoorScope::Production(production))
            || show
                .performance
                .as_ref()
                .is_some_and(|p| staff(DoorScope::Venue(p.venue.clone())))
    }

    /// `GrantDoorStaff`: the account and the production or venue must exist.
    pub(super) fn grant_door_staff(&mut self, user: &UserId, scope: &DoorScope) -> Outcome {
        let account = self
            .users
            .get(user)
            .ok_or_else(|| Rejection::UserNotFound(user.clone()))?;
        match scope {
            DoorScope::Production(p) => {
                // A simple show is a production of its own.
                if !self.productions.contains_key(p)
                    && !self.shows.contains_key(&ShowId(p.0.clone()))
                {
                    return Err(Rejection::ProductionNotFound(p.clone()));
                }
            }
            DoorScope::Venue(v) => {
                if !self.venues.contains_key(v) {
                    return Err(Rejection::VenueNotFound(v.clone()));
                }
            }
        }
        let summary = account.summary();
        let grant = (user.clone(), scope.clone());
        if !self.doors.staff.contains(&grant) {
            if self.doors.staff.len() >= MAX_DOOR_STAFF_GRANTS {
                return Err(Rejection::Invalid(format!(
                    "the cluster already has {MAX_DOOR_STAFF_GRANTS} door-staff grants"
                )));
            }
            self.doors.staff.insert(grant);
        }
        Ok(Effect::User(summary))
    }

    /// `RevokeDoorStaff`.
    pub(super) fn revoke_door_staff(&mut self, user: &UserId, scope: &DoorScope) -> Outcome {
        let summary = self
            .users
            .get(user)
            .ok_or_else(|| Rejection::UserNotFound(user.clone()))?
            .summary();
        self.doors.staff.remove(&(user.clone(), scope.clone()));
        Ok(Effect::User(summary))
    }

    /// Every current ticket of `show`: each place a confirmed booking
    /// holds, in place order, with its version and admission. `None` if
    /// there is no such show.
    pub fn door_list(&self, show: &ShowId) -> Option<Vec<DoorTicket>> {
        let show = self.shows.get(show)?;
        let list = show
            .seats
            .iter()
            .enumerate()
            .filter_map(|(index, seat)| match seat {
                Seat::Booked(booking) => {
                    let ticket = TicketRef {
                        booking,
                        place: SeatNo(u32::try_from(index + 1).ok()?),
                    };
                    Some(DoorTicket {
                        ticket,
                        version: self.doors.version(ticket),
                        entry: self
                            .doors
                            .entry(ticket)
                            .filter(|_| !self.doors.exits.contains_key(&ticket))
                            .cloned(),
                    })
                }
                _ => None,
            })
            .collect();
        Some(list)
    }

    /// The conflicts recorded at `show`'s doors.
    pub fn conflicts_of<'a>(&'a self, show: &'a ShowId) -> impl Iterator<Item = &'a Conflict> + 'a {
        self.doors.conflicts().filter(move |c| c.show == *show)
    }
}
