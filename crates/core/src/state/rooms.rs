//! The waiting room of a performance: buyers wait in a replicated queue
//! and are let in at a rate the back end can serve (issue 25).
//!
//! - **Before the opening** (`RoomRules::opens_at`) buyers who join wait in
//!   the *pre-queue*, where arriving early buys nothing: at the first
//!   `TickWaitingRooms` at or after the opening, the pre-queue is shuffled
//!   with the seed that tick carries (drawn by the leader and written in
//!   the log), so the order is random, and anyone holding the log can
//!   recompute it ([`shuffle`]). Buyers who join later go to the back:
//!   first come, first served.
//! - **Admissions.** Each tick lets buyers in from the front, at most
//!   `admit_per_s` a second (a budget that accrues with the leader's clock
//!   and holds at most one second's worth) and at most `max_active`
//!   admitted at once (0: no such limit). An admission lasts
//!   `admission_ms`; unused by then, it lapses and the buyer must queue
//!   again. A confirmed booking of the performance uses it up.
//! - **What it guards.** While a room is before its opening or open, a
//!   hold or booking of its performance needs a live admission of the
//!   customer (box office staff are exempt).
//! - **Closing.** A tick that finds nothing left to sell (no place free,
//!   none held) closes the room for good and drops everyone waiting.
//!
//! Every change is a committed command's effect, and the order of the
//! queue is data, not timing: a new leader finds every place as it was.
//!
//! Invariants ([`WaitingRoom::check`]): every buyer is in at most one of the
//! pre-queue, the queue and the admitted; the queue's places rise from
//! front to back and are below the next place to hand out; the pre-queue
//! is empty once the room has opened, and the queue and the admitted are
//! empty before it opens and after it closes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{PerformanceState, State};
use crate::ids::{ShowId, Timestamp, UserId};
use crate::outcome::{Effect, Outcome, Rejection};

/// Shortest admission.
pub const MIN_ADMISSION_MS: i64 = 10_000;
/// Longest admission.
pub const MAX_ADMISSION_MS: i64 = 3_600_000;
/// Highest admission rate.
pub const MAX_ADMIT_PER_S: u32 = 100_000;
/// Most buyers one room holds (waiting and admitted): the room is state
/// every replica keeps, so it is bounded like everything else.
pub const MAX_IN_ROOM: usize = 1_000_000;
/// Most rooms one account waits in (or is let in by) at once.
pub const MAX_ROOMS_PER_BUYER: usize = 16;

/// How a performance's waiting room lets buyers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRules {
    /// When the room opens: the pre-queue is shuffled at the first tick
    /// from then on.
    pub opens_at: Timestamp,
    /// Most buyers let in a second; 0 for no such limit.
    pub admit_per_s: u32,
    /// Most buyers admitted at once; 0 for no such limit.
    pub max_active: u32,
    /// How long an admission lasts, in milliseconds.
    pub admission_ms: i64,
}

impl RoomRules {
    /// Checks the rules' ranges.
    pub fn validate(&self) -> Result<(), Rejection> {
        let invalid = |m: String| Err(Rejection::Invalid(m));
        if self.admit_per_s == 0 && self.max_active == 0 {
            return invalid(
                "a waiting room needs admit_per_s or max_active (or both) above 0".to_owned(),
            );
        }
        if self.admit_per_s > MAX_ADMIT_PER_S {
            return invalid(format!(
                "admit_per_s is {}; the limit is {MAX_ADMIT_PER_S}",
                self.admit_per_s
            ));
        }
        if !(MIN_ADMISSION_MS..=MAX_ADMISSION_MS).contains(&self.admission_ms) {
            return invalid(format!(
                "admission_ms is {}; it must be {MIN_ADMISSION_MS} to {MAX_ADMISSION_MS}",
                self.admission_ms
            ));
        }
        if self.opens_at.0 < 0 {
            return invalid("opens_at must not be before 1970".to_owned());
        }
        Ok(())
    }
}

/// Where a room is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomPhase {
    /// Before the opening: buyers who join wait in the pre-queue.
    PreQueue,
    /// Opened at `at`, the pre-queue shuffled with `seed`.
    Open {
        /// When it opened.
        at: Timestamp,
        /// The seed the pre-queue was shuffled with.
        seed: u64,
    },
    /// Closed at `at` because nothing was left to sell.
    SoldOut {
        /// When it closed.
        at: Timestamp,
    },
}

/// A buyer let in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// The place the buyer had in the queue.
    pub place: u64,
    /// When the buyer was let in.
    pub at: Timestamp,
    /// When the admission lapses unless used.
    pub expires_at: Timestamp,
}

/// Where one buyer stands in a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomStatus {
    /// Not in the room.
    Outside,
    /// In the pre-queue: the place is drawn at the opening.
    PreQueue,
    /// Waiting at `place`; `position` 1 is next.
    Waiting {
        /// The buyer's place (places are handed out in order).
        place: u64,
        /// How many are ahead, plus one.
        position: u64,
    },
    /// Let in, until `expires_at`.
    Admitted {
        /// When the admission lapses unless used.
        expires_at: Timestamp,
    },
    /// The room closed: nothing is left to sell.
    Closed,
}

/// A room as buyers and staff see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    /// The performance.
    pub show: ShowId,
    /// Its rules.
    pub rules: RoomRules,
    /// Where the room is in its life.
    pub phase: RoomPhase,
    /// Buyers waiting (pre-queue and queue).
    pub waiting: u64,
    /// Buyers admitted now.
    pub admitted: u64,
    /// Buyers let in since the room was set up.
    pub admitted_total: u64,
    /// Admissions that lapsed unused.
    pub lapsed_total: u64,
    /// Where the buyer the summary was made for stands.
    pub status: RoomStatus,
}

/// What one `TickWaitingRooms` did, over all rooms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// Rooms that opened (their pre-queues shuffled).
    pub opened: u32,
    /// Buyers let in.
    pub admitted: u32,
    /// Admissions that lapsed.
    pub lapsed: u32,
    /// Rooms that closed, sold out.
    pub closed: u32,
}

/// One performance's waiting room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingRoom {
    show: ShowId,
    rules: RoomRules,
    phase: RoomPhase,
    /// Joined before the opening, in the order they joined.
    prequeue: Vec<UserId>,
    /// Joined at or after the opening time but before the tick that
    /// opened the room: after the shuffled pre-queue, in this order.
    late: Vec<UserId>,
    /// Waiting since the opening, front first, each with its place.
    queue: VecDeque<(u64, UserId)>,
    /// The next place to hand out (the first is 1).
    next_place: u64,
    /// Live admissions, by buyer.
    admitted: BTreeMap<UserId, Admission>,
    /// Admissions the rate allows now, in thousandths.
    credit_milli: u64,
    /// When the credit was last topped up.
    credited_at: Timestamp,
    /// Buyers let in, ever.
    admitted_total: u64,
    /// Admissions that lapsed unused, ever.
    lapsed_total: u64,
    /// Index: the place of each buyer waiting (0 in the pre-queue).
    /// Rebuilt on restore, never serialized.
    #[serde(skip)]
    places: BTreeMap<UserId, u64>,
    /// Index: the admissions by when they lapse. Rebuilt on restore.
    #[serde(skip)]
    expiries: BTreeSet<(Timestamp, UserId)>,
}

impl WaitingRoom {
    /// A new room for `show`, before its opening.
    pub(super) fn new(show: ShowId, rules: RoomRules) -> Self {
        Self {
            show,
            rules,
            phase: RoomPhase::PreQueue,
            prequeue: Vec::new(),
            late: Vec::new(),
            queue: VecDeque::new(),
            next_place: 1,
            admitted: BTreeMap::new(),
            credit_milli: 0,
            credited_at: rules.opens_at,
            admitted_total: 0,
            lapsed_total: 0,
            places: BTreeMap::new(),
            expiries: BTreeSet::new(),
        }
    }

    /// The performance.
    pub fn show(&self) -> &ShowId {
        &self.show
    }

    /// The rules.
    pub fn rules(&self) -> RoomRules {
        self.rules
    }

    /// Where the room is in its life.
    pub fn phase(&self) -> RoomPhase {
        self.phase
    }

    /// Whether holds of the performance need an admission: before the
    /// opening and while open.
    pub fn guards(&self) -> bool {
        !matches!(self.phase, RoomPhase::SoldOut { .. })
    }

    /// Whether `user` holds a live admission at `now`.
    pub fn admits(&self, user: &UserId, now: Timestamp) -> bool {
        self.admitted
            .get(user)
            .is_some_and(|admission| admission.expires_at > now)
    }

    /// The buyers in the pre-queue, in the order they joined.
    pub fn prequeue(&self) -> &[UserId] {
        &self.prequeue
    }

    /// The buyers waiting since the opening, front first, with their places.
    pub fn queue(&self) -> impl Iterator<Item = (u64, &UserId)> {
        self.queue.iter().map(|(place, user)| (*place, user))
    }

    /// The live admissions.
    pub fn admissions(&self) -> &BTreeMap<UserId, Admission> {
        &self.admitted
    }

    /// Where `user` stands at `now`.
    pub fn status(&self, user: &UserId, now: Timestamp) -> RoomStatus {
        if !self.guards() {
            return RoomStatus::Closed;
        }
        if let Some(admission) = self.admitted.get(user).filter(|a| a.expires_at > now) {
            return RoomStatus::Admitted {
                expires_at: admission.expires_at,
            };
        }
        match self.places.get(user) {
            None => RoomStatus::Outside,
            Some(0) => RoomStatus::PreQueue,
            Some(&place) => {
                let front = self.queue.front().map_or(place, |(p, _)| *p);
                RoomStatus::Waiting {
                    place,
                    position: place - front + 1,
                }
            }
        }
    }

    /// The earliest time `user`, waiting, could be let in: the opening for
    /// the pre-queue; for a place in the queue, when the rate's budget
    /// (what has accrued by `now`, then `admit_per_s` a second) reaches
    /// their position. A lower bound only (a limit on active buyers or a
    /// sale not yet open lets them in later); `None` when they are not
    /// waiting or the room has no rate to tell by.
    pub fn earliest_admission(&self, user: &UserId, now: Timestamp) -> Option<Timestamp> {
        match self.status(user, now) {
            RoomStatus::PreQueue => Some(self.rules.opens_at.max(now)),
            RoomStatus::Waiting { position, .. } if self.rules.admit_per_s > 0 => {
                // The budget grows by `admit_per_s` thousandths a ms.
                let short = position
                    .saturating_mul(1000)
                    .saturating_sub(self.credit_at(now));
                let ms = short / u64::from(self.rules.admit_per_s);
                Some(now.saturating_add_ms(i64::try_from(ms).unwrap_or(i64::MAX)))
            }
            _ => None,
        }
    }

    /// The room as `user` sees it at `now`.
    pub fn summary(&self, user: Option<&UserId>, now: Timestamp) -> RoomSummary {
        RoomSummary {
            show: self.show.clone(),
            rules: self.rules,
            phase: self.phase,
            waiting: self.places.len() as u64,
            admitted: self.admitted.len() as u64,
            admitted_total: self.admitted_total,
            lapsed_total: self.lapsed_total,
            status: user.map_or(RoomStatus::Outside, |u| self.status(u, now)),
        }
    }

    /// Changes the rules. The opening may move only before it has come.
    pub(super) fn set_rules(&mut self, rules: RoomRules) -> Result<(), Rejection> {
        if rules.opens_at != self.rules.opens_at && self.phase != RoomPhase::PreQueue {
            return Err(Rejection::Invalid(format!(
                "the waiting room of {} has opened: its opening cannot move",
                self.show
            )));
        }
        if self.phase == RoomPhase::PreQueue {
            self.credited_at = rules.opens_at;
            // Those who joined at the old opening time wait for the new
            // one like everyone else in the pre-queue.
            if rules.opens_at > self.rules.opens_at {
                self.prequeue.append(&mut self.late);
            }
        }
        self.rules = rules;
        Ok(())
    }

    /// `user` joins at `now`: at the back, or in the pre-queue before the
    /// opening. One place per buyer: a buyer already waiting or admitted
    /// keeps what they have.
    pub(super) fn join(&mut self, user: &UserId, now: Timestamp) -> Result<RoomStatus, Rejection> {
        if !self.guards() {
            return Err(Rejection::RoomClosed(self.show.clone()));
        }
        match self.status(user, now) {
            RoomStatus::Outside => {}
            standing => return Ok(standing),
        }
        // A lapsed admission not yet swept ends now; the room's size is
        // checked first, so that a refusal changes nothing.
        let lapsed = usize::from(self.admitted.contains_key(user));
        if self.places.len() + self.admitted.len() - lapsed >= MAX_IN_ROOM {
            return Err(Rejection::RoomFull(self.show.clone()));
        }
        if let Some(admission) = self.admitted.remove(user) {
            self.expiries.remove(&(admission.expires_at, user.clone()));
            self.lapsed_total = self.lapsed_total.saturating_add(1);
        }
        match self.phase {
            RoomPhase::PreQueue if now < self.rules.opens_at => {
                self.prequeue.push(user.clone());
                self.places.insert(user.clone(), 0);
            }
            RoomPhase::PreQueue => {
                self.late.push(user.clone());
                self.places.insert(user.clone(), 0);
            }
            _ => {
                let place = self.next_place;
                self.next_place += 1;
                self.queue.push_back((place, user.clone()));
                self.places.insert(user.clone(), place);
            }
        }
        Ok(self.status(user, now))
    }

    /// A confirmed booking of the performance by `user`, made at
    /// `booked_at`, uses up their admission if it was made under it (a
    /// hold from before it does not).
    pub(super) fn used(&mut self, user: &UserId, booked_at: Timestamp) {
        if let Some(admission) = self.admitted.get(user)
            && booked_at >= admission.at
        {
            self.expiries.remove(&(admission.expires_at, user.clone()));
            self.admitted.remove(user);
        }
    }

    /// Whether a tick at `now` has something to do in this room, given
    /// whether the performance is `selling` (on sale) or `over` (sold out,
    /// past, cancelled or off sale).
    pub(super) fn due(&self, now: Timestamp, selling: bool, over: bool) -> bool {
        if !self.guards() {
            return false;
        }
        if over {
            return true;
        }
        if self.phase == RoomPhase::PreQueue {
            return now >= self.rules.opens_at;
        }
        if self.expiries.first().is_some_and(|(at, _)| *at <= now) {
            return true;
        }
        let room =
            self.rules.max_active == 0 || self.admitted.len() < self.rules.max_active as usize;
        selling && !self.queue.is_empty() && room && self.credit_at(now) >= 1000
    }

    /// The rate's budget at `now`, in thousandths of an admission
    /// (unbounded without a rate).
    fn credit_at(&self, now: Timestamp) -> u64 {
        let rate = u64::from(self.rules.admit_per_s);
        if rate == 0 {
            return u64::MAX;
        }
        let elapsed = u64::try_from(now.saturating_ms_since(self.credited_at)).unwrap_or(0);
        self.credit_milli
            .saturating_add(elapsed.saturating_mul(rate))
            .min(rate * 1000)
    }

    /// One tick at `now`: opens the room if its time has come (shuffling
    /// the pre-queue with `seed`), sweeps lapsed admissions, closes the
    /// room if the performance is `over` (sold out, past, cancelled or off
    /// sale), else, while it is `selling` (on sale), lets buyers in as the
    /// rules allow. Before the sale opens nobody is let in and no budget
    /// accrues.
    pub(super) fn tick(
        &mut self,
        now: Timestamp,
        seed: u64,
        selling: bool,
        over: bool,
        tick: &mut Tick,
    ) {
        if !self.guards() {
            return;
        }
        // A room whose performance is over closes whatever its phase (one
        // not yet open included: its pre-queue would wait for nothing).
        if self.phase == RoomPhase::PreQueue && now < self.rules.opens_at && !over {
            return;
        }
        if self.phase == RoomPhase::PreQueue && now >= self.rules.opens_at {
            let mut order = std::mem::take(&mut self.prequeue);
            shuffle(&mut order, seed);
            order.append(&mut self.late);
            for user in order {
                let place = self.next_place;
                self.next_place += 1;
                self.places.insert(user.clone(), place);
                self.queue.push_back((place, user));
            }
            self.phase = RoomPhase::Open { at: now, seed };
            self.credited_at = now;
            tick.opened = tick.opened.saturating_add(1);
        }
        let mut lapsed: u32 = 0;
        while let Some((at, _)) = self.expiries.first()
            && *at <= now
        {
            if let Some((_, user)) = self.expiries.pop_first() {
                self.admitted.remove(&user);
                lapsed = lapsed.saturating_add(1);
            }
        }
        self.lapsed_total = self.lapsed_total.saturating_add(u64::from(lapsed));
        tick.lapsed = tick.lapsed.saturating_add(lapsed);
        if over {
            self.phase = RoomPhase::SoldOut { at: now };
            self.prequeue.clear();
            self.late.clear();
            self.queue.clear();
            self.places.clear();
            self.admitted.clear();
            self.expiries.clear();
            tick.closed = tick.closed.saturating_add(1);
            return;
        }
        if !selling {
            self.credited_at = now;
            return;
        }
        let rate = u64::from(self.rules.admit_per_s);
        let by_rate = if rate == 0 {
            u64::MAX
        } else {
            self.credit_milli = self.credit_at(now);
            self.credited_at = now;
            self.credit_milli / 1000
        };
        let by_room = match self.rules.max_active {
            0 => u64::MAX,
            max => u64::from(max).saturating_sub(self.admitted.len() as u64),
        };
        let n = by_rate.min(by_room).min(self.queue.len() as u64);
        let expires_at = now.saturating_add_ms(self.rules.admission_ms);
        for _ in 0..n {
            let Some((place, user)) = self.queue.pop_front() else {
                break;
            };
            self.places.remove(&user);
            self.expiries.insert((expires_at, user.clone()));
            self.admitted.insert(
                user,
                Admission {
                    place,
                    at: now,
                    expires_at,
                },
            );
        }
        if rate > 0 {
            self.credit_milli -= n * 1000;
        }
        self.admitted_total = self.admitted_total.saturating_add(n);
        tick.admitted = tick
            .admitted
            .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// Rebuilds the place index from the queues (after a restore).
    pub(super) fn reindex(&mut self) {
        self.expiries = self
            .admitted
            .iter()
            .map(|(user, a)| (a.expires_at, user.clone()))
            .collect();
        self.places = self
            .prequeue
            .iter()
            .chain(&self.late)
            .map(|user| (user.clone(), 0))
            .chain(
                self.queue
                    .iter()
                    .map(|(place, user)| (user.clone(), *place)),
            )
            .collect();
    }

    /// Checks the room's invariants (see the module's doc); the message
    /// says what is wrong.
    pub(super) fn check(&self) -> Result<(), String> {
        let show = &self.show;
        let waiting = self.prequeue.len() + self.late.len() + self.queue.len();
        if self.expiries.len() != self.admitted.len()
            || self
                .admitted
                .iter()
                .any(|(u, a)| !self.expiries.contains(&(a.expires_at, u.clone())))
        {
            return Err(format!(
                "the admissions of the room of {show} and their expiries disagree"
            ));
        }
        if self.places.len() != waiting {
            return Err(format!(
                "the waiting room of {show} lists a buyer twice among those waiting"
            ));
        }
        if let Some(user) = self.admitted.keys().find(|u| self.places.contains_key(*u)) {
            return Err(format!(
                "{user} both waits and is admitted in the room of {show}"
            ));
        }
        let mut last = 0;
        for (place, _) in &self.queue {
            if *place <= last || *place >= self.next_place {
                return Err(format!(
                    "the queue of {show} is out of order at place {place}"
                ));
            }
            last = *place;
        }
        let consistent = match self.phase {
            RoomPhase::PreQueue => self.queue.is_empty() && self.admitted.is_empty(),
            RoomPhase::Open { .. } => self.prequeue.is_empty() && self.late.is_empty(),
            RoomPhase::SoldOut { .. } => waiting == 0 && self.admitted.is_empty(),
        };
        if !consistent {
            return Err(format!(
                "the waiting room of {show} has buyers its phase {:?} cannot have",
                self.phase
            ));
        }
        Ok(())
    }
}

impl State {
    /// The waiting room of `show`, if it has one.
    pub fn waiting_room(&self, show: &ShowId) -> Option<&WaitingRoom> {
        self.rooms.get(show)
    }

    /// Every waiting room, by performance.
    pub fn waiting_rooms(&self) -> impl Iterator<Item = &WaitingRoom> {
        self.rooms.values()
    }

    /// Whether a tick would change something at `now`: a room opens, an
    /// admission lapses, or an open room has buyers waiting (the leader's
    /// coordinator ticks only then).
    pub fn rooms_due(&self, now: Timestamp) -> bool {
        self.rooms.iter().any(|(id, room)| {
            let (selling, over) = self.sale_of(id, now);
            room.due(now, selling, over)
        })
    }

    /// Whether `show` is on sale at `now`, and whether its sale is over
    /// (nothing left to sell, or past, cancelled or off sale; a show that
    /// no longer exists is over).
    fn sale_of(&self, id: &ShowId, now: Timestamp) -> (bool, bool) {
        let Some(show) = self.shows.get(id) else {
            return (false, true);
        };
        let state = show.state_at(now);
        let sold_out = show.available() == 0 && show.held == 0;
        let over = sold_out
            || matches!(
                state,
                PerformanceState::Past | PerformanceState::Cancelled | PerformanceState::OffSale
            );
        (state == PerformanceState::OnSale && !over, over)
    }

    /// `SetWaitingRoom`.
    pub(super) fn set_waiting_room(&mut self, id: &ShowId, rules: Option<RoomRules>) -> Outcome {
        let Some(rules) = rules else {
            if !self.shows.contains_key(id) {
                return Err(Rejection::ShowNotFound(id.clone()));
            }
            self.rooms.remove(id);
            return Ok(Effect::WaitingRoom(None));
        };
        let show = self.show_before_its_start(id)?;
        if rules.opens_at >= show.starts_at {
            return Err(Rejection::Invalid(format!(
                "the waiting room of {id} must open before the performance starts"
            )));
        }
        match self.rooms.get_mut(id) {
            Some(room) => room.set_rules(rules)?,
            None => {
                self.rooms
                    .insert(id.clone(), WaitingRoom::new(id.clone(), rules));
            }
        }
        let room = &self.rooms[id];
        Ok(Effect::WaitingRoom(Some(Box::new(
            room.summary(None, self.now),
        ))))
    }

    /// Performance `id`, unless it is unknown, has started or was cancelled.
    fn show_before_its_start(&self, id: &ShowId) -> Result<&super::Show, Rejection> {
        let show = self
            .shows
            .get(id)
            .ok_or_else(|| Rejection::ShowNotFound(id.clone()))?;
        match show.state_at(self.now) {
            PerformanceState::Past => Err(Rejection::ShowStarted(id.clone())),
            PerformanceState::Cancelled => Err(Rejection::NotOnSale {
                show: id.clone(),
                why: "it was cancelled".to_owned(),
            }),
            _ => Ok(show),
        }
    }

    /// `JoinWaitingRoom`.
    pub(super) fn join_waiting_room(&mut self, id: &ShowId, user: &UserId) -> Outcome {
        let now = self.now;
        self.show_before_its_start(id)?;
        let room = self
            .rooms
            .get(id)
            .ok_or_else(|| Rejection::NoWaitingRoom(id.clone()))?;
        if room.status(user, now) == RoomStatus::Outside {
            let elsewhere = self
                .rooms
                .values()
                .filter(|r| r.places.contains_key(user) || r.admits(user, now))
                .count();
            if elsewhere >= MAX_ROOMS_PER_BUYER {
                return Err(Rejection::RoomLimit(MAX_ROOMS_PER_BUYER as u32));
            }
        }
        let room = self
            .rooms
            .get_mut(id)
            .ok_or_else(|| Rejection::NoWaitingRoom(id.clone()))?;
        room.join(user, now)?;
        Ok(Effect::WaitingRoom(Some(Box::new(
            room.summary(Some(user), now),
        ))))
    }

    /// `TickWaitingRooms`: one step of every room, in performance order.
    pub(super) fn tick_rooms(&mut self, seed: u64) -> Tick {
        let now = self.now;
        let mut tick = Tick::default();
        let sales: Vec<(bool, bool)> = self.rooms.keys().map(|id| self.sale_of(id, now)).collect();
        for ((id, room), (selling, over)) in self.rooms.iter_mut().zip(sales) {
            room.tick(now, room_seed(seed, id), selling, over, &mut tick);
        }
        tick
    }

    /// Refuses a hold or booking of `show` by `user` at `now` that its
    /// waiting room has not let in (staff are exempt: the caller checks).
    pub(super) fn check_admission(&self, show: &ShowId, user: &UserId) -> Result<(), Rejection> {
        match self.rooms.get(show) {
            Some(room) if room.guards() && !room.admits(user, self.now) => {
                Err(Rejection::NotAdmitted(show.clone()))
            }
            _ => Ok(()),
        }
    }

    /// A confirmed booking of `show` by `user`, made at `booked_at`, uses
    /// up the admission it was made under.
    pub(super) fn admission_used(&mut self, show: &ShowId, user: &UserId, booked_at: Timestamp) {
        if let Some(room) = self.rooms.get_mut(show) {
            room.used(user, booked_at);
        }
    }
}

/// The seed room `show` is shuffled with when a tick carrying `seed`
/// opens it: the first eight bytes, big-endian, of SHA-256 of `seed`'s
/// eight big-endian bytes and then the show id's bytes. Rooms opening in
/// one tick so get orders of their own.
pub fn room_seed(seed: u64, show: &ShowId) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_be_bytes());
    hasher.update(show.as_str().as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Shuffles `items` with `seed`, reproducibly: a Fisher–Yates shuffle
/// (from the last position down, position `i` swaps with one drawn from
/// `0..=i`) whose `k`-th draw (from 0) is the first eight bytes, big-endian,
/// of SHA-256 of the seed's and then `k`'s eight big-endian bytes. A draw
/// that would bias the result (at or above the largest multiple of `i + 1`
/// that fits in 64 bits) is discarded for the next. Anyone with the log can
/// so recompute a room's order from the pre-queue and the seed.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut k: u64 = 0;
    let mut draw = || {
        let mut hasher = Sha256::new();
        hasher.update(seed.to_be_bytes());
        hasher.update(k.to_be_bytes());
        k += 1;
        let digest = hasher.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    };
    for i in (1..items.len()).rev() {
        let n = i as u64 + 1;
        let zone = u64::MAX - u64::MAX % n;
        let j = loop {
            let d = draw();
            if d < zone {
                break d % n;
            }
        };
        items.swap(i, j as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(admit_per_s: u32, max_active: u32) -> RoomRules {
        RoomRules {
            opens_at: Timestamp(1_000),
            admit_per_s,
            max_active,
            admission_ms: 60_000,
        }
    }

    fn user(n: u32) -> UserId {
        UserId::from(format!("u{n}"))
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    #[test]
    fn the_shuffle_is_a_permutation_fixed_by_the_seed() {
        let original: Vec<u32> = (0..500).collect();
        let mut a = original.clone();
        let mut b = original.clone();
        shuffle(&mut a, 42);
        shuffle(&mut b, 42);
        assert_eq!(a, b, "same seed, same order");
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, original, "a permutation");
        assert_ne!(a, original);
        let mut c = original.clone();
        shuffle(&mut c, 43);
        assert_ne!(a, c, "another seed, another order");
        // Pinned: an auditor's reimplementation must give the same order.
        let mut small: Vec<u32> = (0..8).collect();
        shuffle(&mut small, 7);
        assert_eq!(small, PINNED_ORDER_OF_8_WITH_SEED_7);
    }

    // Computed independently (a Python reimplementation with hashlib).
    const PINNED_ORDER_OF_8_WITH_SEED_7: [u32; 8] = [3, 2, 5, 4, 6, 1, 0, 7];

    #[test]
    fn early_joiners_are_shuffled_at_the_opening_and_later_ones_queue() {
        let mut room = WaitingRoom::new(ShowId::from("s"), rules(2, 0));
        for n in 0..5 {
            assert_eq!(room.join(&user(n), at(0)), Ok(RoomStatus::PreQueue));
        }
        // One place per buyer.
        assert_eq!(room.join(&user(0), at(1)), Ok(RoomStatus::PreQueue));
        let mut tick = Tick::default();
        room.tick(at(999), 9, true, false, &mut tick);
        assert_eq!(room.phase(), RoomPhase::PreQueue, "not yet");
        room.tick(at(1_000), 9, true, false, &mut tick);
        assert_eq!(
            room.phase(),
            RoomPhase::Open {
                at: at(1_000),
                seed: 9
            }
        );
        assert_eq!(tick.opened, 1);
        assert_eq!(tick.admitted, 0, "no credit at the opening instant");
        let mut expected: Vec<UserId> = (0..5).map(user).collect();
        shuffle(&mut expected, 9);
        let order: Vec<&UserId> = room.queue().map(|(_, u)| u).collect();
        assert_eq!(order, expected.iter().collect::<Vec<_>>());
        assert_eq!(
            room.join(&user(9), at(1_100)),
            Ok(RoomStatus::Waiting {
                place: 6,
                position: 6
            })
        );
        // One second: two admissions, in queue order.
        room.tick(at(2_000), 0, true, false, &mut tick);
        assert_eq!(tick.admitted, 2);
        assert!(room.admits(&expected[0], at(2_000)));
        assert!(room.admits(&expected[1], at(2_000)));
        assert!(!room.admits(&expected[2], at(2_000)));
        assert_eq!(
            room.status(&user(9), at(2_000)),
            RoomStatus::Waiting {
                place: 6,
                position: 4
            }
        );
        room.check().unwrap();
    }

    #[test]
    fn the_rate_budget_holds_at_most_a_second() {
        let mut room = WaitingRoom::new(ShowId::from("s"), rules(3, 0));
        let mut tick = Tick::default();
        room.tick(at(1_000), 1, true, false, &mut tick);
        for n in 0..20 {
            room.join(&user(n), at(1_000)).unwrap();
        }
        // Ten quiet seconds earn one second's worth, not thirty.
        room.tick(at(11_000), 1, true, false, &mut tick);
        assert_eq!(tick.admitted, 3);
        // Half a second: one and a half; one now, the half carried.
        room.tick(at(11_500), 1, true, false, &mut tick);
        assert_eq!(tick.admitted, 4);
        room.tick(at(12_000), 1, true, false, &mut tick);
        assert_eq!(tick.admitted, 6);
    }

    #[test]
    fn max_active_caps_those_inside_and_lapsed_admissions_free_places() {
        let mut room = WaitingRoom::new(ShowId::from("s"), rules(0, 2));
        let mut tick = Tick::default();
        room.tick(at(1_000), 1, true, false, &mut tick);
        for n in 0..4 {
            room.join(&user(n), at(1_000)).unwrap();
        }
        room.tick(at(1_000), 1, true, false, &mut tick);
        assert_eq!(tick.admitted, 2);
        room.used(&user(0), at(1_500));
        room.tick(at(2_000), 1, true, false, &mut tick);
        assert_eq!(tick.admitted, 3, "a used admission frees its place");
        // u1's admission (from 1 s) lapses unused at 61 s; u2's (from 2 s)
        // still runs.
        room.tick(at(61_500), 1, true, false, &mut tick);
        assert_eq!(tick.lapsed, 1);
        assert_eq!(tick.admitted, 4, "u3 takes the place u1 left");
        assert!(!room.admits(&user(1), at(61_500)));
        assert!(room.admits(&user(2), at(61_500)));
        // A lapsed buyer may queue again, at the back.
        assert_eq!(
            room.join(&user(1), at(61_500)),
            Ok(RoomStatus::Waiting {
                place: 5,
                position: 1
            })
        );
        room.check().unwrap();
    }

    #[test]
    fn a_sold_out_room_closes_and_refuses_joins() {
        let mut room = WaitingRoom::new(ShowId::from("s"), rules(10, 0));
        let mut tick = Tick::default();
        room.join(&user(1), at(0)).unwrap();
        room.tick(at(1_000), 1, true, true, &mut tick);
        assert_eq!(room.phase(), RoomPhase::SoldOut { at: at(1_000) });
        assert_eq!(tick.closed, 1);
        assert!(!room.guards());
        assert_eq!(room.status(&user(1), at(1_000)), RoomStatus::Closed);
        assert_eq!(
            room.join(&user(2), at(1_000)),
            Err(Rejection::RoomClosed(ShowId::from("s")))
        );
        room.check().unwrap();
    }

    #[test]
    fn a_room_not_yet_open_closes_when_its_performance_is_over() {
        let mut room = WaitingRoom::new(ShowId::from("s"), rules(10, 0));
        room.join(&user(1), at(0)).unwrap();
        assert!(room.due(at(500), false, true));
        let mut tick = Tick::default();
        room.tick(at(500), 1, false, true, &mut tick);
        assert_eq!(tick.closed, 1);
        assert_eq!(room.phase(), RoomPhase::SoldOut { at: at(500) });
        assert!(!room.due(at(600), false, true), "nothing left to tick");
        room.check().unwrap();
    }

    #[test]
    fn late_joiners_wait_for_a_later_opening_with_the_others() {
        let mut room = WaitingRoom::new(ShowId::from("s"), rules(10, 0));
        room.join(&user(1), at(1_000)).unwrap();
        assert_eq!(room.late, [user(1)]);
        let mut later = rules(10, 0);
        later.opens_at = at(9_000);
        room.set_rules(later).unwrap();
        assert!(room.late.is_empty());
        assert_eq!(room.prequeue(), [user(1)]);
        room.check().unwrap();
    }

    #[test]
    fn the_opening_cannot_move_once_come() {
        let mut room = WaitingRoom::new(ShowId::from("s"), rules(1, 0));
        room.set_rules(rules(5, 0)).unwrap();
        let mut later = rules(5, 0);
        later.opens_at = at(5_000);
        room.set_rules(later).unwrap();
        room.tick(at(5_000), 1, true, false, &mut Tick::default());
        assert!(room.set_rules(rules(5, 0)).is_err());
        let mut faster = later;
        faster.admit_per_s = 50;
        room.set_rules(faster).unwrap();
    }

    #[test]
    fn rules_out_of_range_are_refused() {
        assert!(rules(0, 0).validate().is_err());
        assert!(rules(MAX_ADMIT_PER_S + 1, 0).validate().is_err());
        let mut short = rules(1, 0);
        short.admission_ms = MIN_ADMISSION_MS - 1;
        assert!(short.validate().is_err());
        let mut long = rules(1, 0);
        long.admission_ms = MAX_ADMISSION_MS + 1;
        assert!(long.validate().is_err());
        assert!(rules(1, 0).validate().is_ok());
        assert!(rules(0, 1).validate().is_ok());
    }
}
