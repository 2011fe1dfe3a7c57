//! The waiting list of a sold-out performance (issue 25): buyers who
//! found nothing left join it with a quantity and a price category, and a
//! seat freed later is offered to them in the order they joined.
//!
//! - **Joining.** Only when what the buyer asks for is not free now
//!   (otherwise they are told to book it), and not while a waiting room
//!   guards the performance (the room is the queue of the rush; the list
//!   opens when it closes). One entry per account and performance, at the
//!   back: first come, first served. The entry keeps the caps the join
//!   carried (seats per account, the limits against hoarding and the
//!   network's), and asks for no more than the per-account cap allows.
//! - **Offers.** Whenever seats of the performance are freed while it is
//!   on sale and no room guards it (a hold that lapsed or was given up, a
//!   cancellation, a partial return, seats released from a hold-back),
//!   the state machine, at the end of the same `apply`, walks the list
//!   once from the front and makes a hold for the *first entry that
//!   fits*: as many sellable seats of its category as it asks for are
//!   free, best together, else the best split, each at the first ticket
//!   type sold there. The hold is made under the entry's caps and lasts
//!   its `offer_ms`; it is paid like any other. Then on to the next entry,
//!   while seats are left. A freed seat so never reaches the public while
//!   an entry it fits waits. An entry its caps no longer allow the offer
//!   (it bought elsewhere meanwhile) is dropped, counted as skipped.
//! - **Cost.** One walk per performance and `apply`, however many holds
//!   it ended; the walk remembers, per category, a quantity found not to
//!   fit (seats only get fewer during it), so it searches the venue at
//!   most once per category and quantity, plus once per offer.
//! - **After an offer.** Paid: the entry is done. Lapsed or given up: the
//!   entry is dropped (the buyer had their turn) and the seats it freed
//!   are offered on, to the next entry that fits.
//! - **Bounds.** At most [`MAX_ON_LIST`] entries a list, [`MAX_LISTS_PER_BUYER`]
//!   lists an account, [`MAX_LIST_QUANTITY`] seats an entry.
//!
//! Everything is a committed command's effect: a new leader finds every
//! place and offer as it was.
//!
//! Invariants ([`WaitingList::check`], with [`State::check_lists`]): each
//! buyer is at most once on a list, waiting or offered; the places of
//! those waiting rise from front to back and are below the next place to
//! hand out; each entry asks for 1 to [`MAX_LIST_QUANTITY`] seats and an
//! offer of [`MIN_OFFER_MS`] to [`MAX_OFFER_MS`]; each offer is a held
//! booking of the list's performance, of the entry's buyer and quantity.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::shows::PerformanceState;
use super::{BookingStatus, Seat, State, WaitingRoom};
use crate::best::{BestQuery, Pick, best_available};
use crate::command::{HoldLimits, Tickets};
use crate::format;
use crate::ids::{
    BookingId, MAX_HOLD_TTL_MS, MAX_SEATS_PER_BOOKING, OrderId, SeatNo, ShowId, Timestamp, UserId,
};
use crate::outcome::{Effect, Outcome, Rejection};

/// Most entries one list holds (waiting and offered).
pub const MAX_ON_LIST: usize = 100_000;
/// Most lists one account is on at once.
pub const MAX_LISTS_PER_BUYER: usize = 16;
/// Most seats one entry asks for.
pub const MAX_LIST_QUANTITY: u32 = MAX_SEATS_PER_BOOKING as u32;
/// Shortest offer.
pub const MIN_OFFER_MS: i64 = 60_000;
/// Longest offer: an offer is a hold, and holds last at most this.
pub const MAX_OFFER_MS: i64 = MAX_HOLD_TTL_MS;

/// One buyer on a waiting list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    /// The entry's place (places are handed out in order, the first is 1).
    pub place: u64,
    /// The buyer.
    pub user: UserId,
    /// How many seats they want.
    pub quantity: u32,
    /// The price category they want; empty for any.
    pub category: String,
    /// How long an offer to them lasts, in milliseconds.
    pub offer_ms: i64,
    /// When they joined.
    pub joined_at: Timestamp,
    /// The per-account cap their offer is made under (0: none).
    pub max_seats_per_user: u32,
    /// The limits against hoarding (with their network) their offer is
    /// made under.
    pub limits: HoldLimits,
}

/// Where a buyer is on a list (the index of members).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Member {
    /// Waiting at this place.
    Waiting(u64),
    /// Offered this hold.
    Offered(BookingId),
}

/// Where one buyer stands on a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListStatus {
    /// Not on the list.
    Outside,
    /// Waiting at `place`; `position` 1 is the front.
    Waiting {
        /// The entry's place.
        place: u64,
        /// How many are ahead, plus one.
        position: u64,
    },
    /// Offered seats: `booking` is a hold made for them until `expires_at`.
    Offered {
        /// The hold to pay.
        booking: BookingId,
        /// Its seats.
        seats: Vec<SeatNo>,
        /// When it lapses unpaid.
        expires_at: Timestamp,
    },
}

/// A list as a buyer sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSummary {
    /// The performance.
    pub show: ShowId,
    /// Entries waiting.
    pub waiting: u64,
    /// Offers outstanding.
    pub offered: u64,
    /// Offers made, ever.
    pub offered_total: u64,
    /// Offers paid, ever.
    pub bought_total: u64,
    /// Offers that lapsed or were given up, ever.
    pub lapsed_total: u64,
    /// The entry of the buyer the summary was made for, if any.
    pub entry: Option<ListEntry>,
    /// Where that buyer stands.
    pub status: ListStatus,
}

/// One performance's waiting list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingList {
    show: ShowId,
    /// The next place to hand out.
    next_place: u64,
    /// Waiting, front first.
    waiting: VecDeque<ListEntry>,
    /// The offers outstanding: each entry with the hold made for it.
    offers: BTreeMap<BookingId, ListEntry>,
    offered_total: u64,
    bought_total: u64,
    lapsed_total: u64,
    /// Entries dropped because their caps no longer allowed their offer.
    skipped_total: u64,
    /// Index: where each buyer on the list is. Rebuilt on restore, never
    /// serialized.
    #[serde(skip)]
    members: BTreeMap<UserId, Member>,
}

impl WaitingList {
    /// A list nobody is on yet.
    pub fn empty(show: ShowId) -> Self {
        Self {
            show,
            next_place: 1,
            waiting: VecDeque::new(),
            offers: BTreeMap::new(),
            offered_total: 0,
            bought_total: 0,
            lapsed_total: 0,
            skipped_total: 0,
            members: BTreeMap::new(),
        }
    }

    /// The performance.
    pub fn show(&self) -> &ShowId {
        &self.show
    }

    /// The entries waiting, front first.
    pub fn waiting(&self) -> impl Iterator<Item = &ListEntry> {
        self.waiting.iter()
    }

    /// The offers outstanding, by the hold made for each.
    pub fn offers(&self) -> &BTreeMap<BookingId, ListEntry> {
        &self.offers
    }

    /// Whether the list has nobody on it.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The list as `user` sees it (`state` gives an offer's seats).
    pub fn summary(&self, user: Option<&UserId>, state: &State) -> ListSummary {
        let (entry, status) = match user.and_then(|u| self.members.get(u)) {
            None => (None, ListStatus::Outside),
            Some(Member::Offered(booking)) => {
                let entry = self.offers.get(booking).cloned();
                let held = state.booking(*booking);
                let (seats, expires_at) = match held {
                    Some(b) => match b.status {
                        BookingStatus::Held { expires_at } => (b.seats, expires_at),
                        _ => (b.seats, Timestamp(0)),
                    },
                    None => (Vec::new(), Timestamp(0)),
                };
                (
                    entry,
                    ListStatus::Offered {
                        booking: *booking,
                        seats,
                        expires_at,
                    },
                )
            }
            Some(&Member::Waiting(place)) => {
                // Places rise from the front: the position is a search.
                let i = self.waiting.partition_point(|e| e.place < place);
                match self.waiting.get(i).filter(|e| e.place == place) {
                    Some(_) => (
                        Some(self.waiting[i].clone()),
                        ListStatus::Waiting {
                            place: self.waiting[i].place,
                            position: i as u64 + 1,
                        },
                    ),
                    None => (None, ListStatus::Outside),
                }
            }
        };
        ListSummary {
            show: self.show.clone(),
            waiting: self.waiting.len() as u64,
            offered: self.offers.len() as u64,
            offered_total: self.offered_total,
            bought_total: self.bought_total,
            lapsed_total: self.lapsed_total,
            entry,
            status,
        }
    }

    /// Rebuilds the member index (after a restore).
    pub(super) fn reindex(&mut self) {
        self.members = self
            .waiting
            .iter()
            .map(|e| (e.user.clone(), Member::Waiting(e.place)))
            .chain(
                self.offers
                    .iter()
                    .map(|(b, e)| (e.user.clone(), Member::Offered(*b))),
            )
            .collect();
    }

    /// Checks the list's own invariants (see the module's doc).
    pub(super) fn check(&self) -> Result<(), String> {
        let show = &self.show;
        if self.members.len() != self.waiting.len() + self.offers.len() {
            return Err(format!("the waiting list of {show} lists a buyer twice"));
        }
        let mut last = 0;
        for entry in &self.waiting {
            if entry.place <= last || entry.place >= self.next_place {
                return Err(format!(
                    "the waiting list of {show} is out of order at place {}",
                    entry.place
                ));
            }
            last = entry.place;
            if self.members.get(&entry.user) != Some(&Member::Waiting(entry.place)) {
                return Err(format!(
                    "the waiting list of {show} and its index disagree on {}",
                    entry.user
                ));
            }
        }
        for entry in self.waiting.iter().chain(self.offers.values()) {
            if !(1..=MAX_LIST_QUANTITY).contains(&entry.quantity)
                || !(MIN_OFFER_MS..=MAX_OFFER_MS).contains(&entry.offer_ms)
            {
                return Err(format!(
                    "the waiting list of {show} has an entry of {} out of range",
                    entry.user
                ));
            }
        }
        for (booking, entry) in &self.offers {
            if self.members.get(&entry.user) != Some(&Member::Offered(*booking)) {
                return Err(format!(
                    "the waiting list of {show} and its index disagree on {}",
                    entry.user
                ));
            }
        }
        Ok(())
    }
}

/// The order id of the hold offered as booking `id` at `now` (the
/// state's time: the leader's batch time, never going back) by a command
/// of format `version`: made by the state machine, so every replica names
/// it alike, and unlike the ids the checkout draws (`ord_…`), so no order
/// of a buyer's can take it. From [`format::TIMED_OFFER_IDS`] on it
/// carries the time: a cluster restored from a backup gives out again the
/// booking ids made after the backup, and an order id (the payment's
/// idempotency key) used again could find the charge of another offer.
/// Before, it is `wl_<booking>`, as the builds that read no newer format
/// make it.
fn offer_order(id: BookingId, now: Timestamp, version: u8) -> OrderId {
    if version >= format::TIMED_OFFER_IDS {
        OrderId(format!("wl_{}_{}", id.0, now.0))
    } else {
        OrderId(format!("wl_{}", id.0))
    }
}

impl State {
    /// The waiting list of `show`, if anyone is or was on it.
    pub fn waiting_list(&self, show: &ShowId) -> Option<&WaitingList> {
        self.lists.get(show)
    }

    /// `JoinWaitingList`.
    pub(super) fn join_waiting_list(
        &mut self,
        id: &ShowId,
        user: &UserId,
        join: Join<'_>,
    ) -> Outcome {
        let Join {
            quantity,
            category,
            offer_ms,
            max_seats_per_user,
            limits,
        } = join;
        let now = self.now;
        let show = self
            .shows
            .get(id)
            .ok_or_else(|| Rejection::ShowNotFound(id.clone()))?;
        match show.state_at(now) {
            PerformanceState::OnSale => {}
            state => {
                return Err(Rejection::NotOnSale {
                    show: id.clone(),
                    why: format!(
                        "it is {}, and a waiting list is for a sale on",
                        state.name()
                    ),
                });
            }
        }
        if self.rooms.get(id).is_some_and(WaitingRoom::guards) {
            return Err(Rejection::NotOnSale {
                show: id.clone(),
                why: "it sells through its waiting room: join that; the waiting list opens \
                      once the room has closed"
                    .to_owned(),
            });
        }
        if let Some(list) = self.lists.get(id)
            && list.members.contains_key(user)
        {
            // One entry per buyer: joining again keeps it as it is.
            return Ok(self.list_effect(id, user));
        }
        if !(1..=MAX_LIST_QUANTITY).contains(&quantity) {
            return Err(Rejection::Invalid(format!(
                "ask for 1 to {MAX_LIST_QUANTITY} seats on a waiting list, not {quantity}"
            )));
        }
        if !(MIN_OFFER_MS..=MAX_OFFER_MS).contains(&offer_ms) {
            return Err(Rejection::Invalid(format!(
                "an offer lasts {MIN_OFFER_MS} to {MAX_OFFER_MS} ms, not {offer_ms}"
            )));
        }
        if !category.is_empty()
            && show
                .performance
                .as_ref()
                .and_then(|p| p.pricing.category_named(category))
                .is_none()
        {
            return Err(Rejection::Invalid(format!(
                "{id} has no price category called {category:?}"
            )));
        }
        let exempt = self.user(user).is_some_and(|u| u.admin);
        let already = self.active.in_show(user, id);
        if max_seats_per_user > 0
            && !exempt
            && already.saturating_add(quantity) > max_seats_per_user
        {
            return Err(Rejection::SeatLimit {
                show: id.clone(),
                limit: max_seats_per_user,
                already,
            });
        }
        if let Some(seats) = self.fit(id, quantity, category) {
            return Err(Rejection::SeatsAvailable {
                show: id.clone(),
                free: u32::try_from(seats.len()).unwrap_or(u32::MAX),
            });
        }
        if self
            .lists
            .get(id)
            .is_some_and(|l| l.members.len() >= MAX_ON_LIST)
        {
            return Err(Rejection::ListFull(id.clone()));
        }
        // Lists of performances that have begun are done with; only the
        // others count against the buyer's lists.
        let shows = &self.shows;
        self.lists.retain(|show, _| {
            shows
                .get(show)
                .is_some_and(|s| s.state_at(now) != PerformanceState::Past)
        });
        let lists = self
            .lists
            .values()
            .filter(|l| l.members.contains_key(user))
            .count();
        if lists >= MAX_LISTS_PER_BUYER {
            return Err(Rejection::ListLimit(MAX_LISTS_PER_BUYER as u32));
        }
        let list = self
            .lists
            .entry(id.clone())
            .or_insert_with(|| WaitingList::empty(id.clone()));
        let entry = ListEntry {
            place: list.next_place,
            user: user.clone(),
            quantity,
            category: category.to_owned(),
            offer_ms,
            joined_at: now,
            max_seats_per_user,
            limits: *limits,
        };
        list.next_place += 1;
        list.members
            .insert(user.clone(), Member::Waiting(entry.place));
        list.waiting.push_back(entry);
        Ok(self.list_effect(id, user))
    }

    /// `LeaveWaitingList`: an offer outstanding is given up (its seats
    /// go to the next entry that fits). Leaving a list one is not on
    /// changes nothing.
    pub(super) fn leave_waiting_list(&mut self, id: &ShowId, user: &UserId) -> Outcome {
        if !self.shows.contains_key(id) {
            return Err(Rejection::ShowNotFound(id.clone()));
        }
        let member = self
            .lists
            .get(id)
            .and_then(|l| l.members.get(user).copied());
        match member {
            None => {}
            Some(Member::Offered(booking)) => {
                if let Some(held) = self.bookings.get(booking) {
                    let status = BookingStatus::Released {
                        at: self.now,
                        lapsed: false,
                    };
                    self.end_booking(held, status);
                }
            }
            Some(Member::Waiting(place)) => {
                if let Some(list) = self.lists.get_mut(id) {
                    let i = list.waiting.partition_point(|e| e.place < place);
                    list.waiting.remove(i);
                    list.members.remove(user);
                }
            }
        }
        Ok(self.list_effect(id, user))
    }

    /// The effect of a list command: the list as `user` sees it.
    fn list_effect(&self, id: &ShowId, user: &UserId) -> Effect {
        let summary = match self.lists.get(id) {
            Some(list) => list.summary(Some(user), self),
            None => WaitingList::empty(id.clone()).summary(Some(user), self),
        };
        Effect::WaitingList(Box::new(summary))
    }

    /// The seats an entry of `quantity` in `category` would be offered
    /// now at `id`: free seats sold at some ticket type, the best block
    /// together, else the best split; `None` if not that many are free.
    fn fit(&self, id: &ShowId, quantity: u32, category: &str) -> Option<Vec<SeatNo>> {
        let show = self.shows.get(id)?;
        let layout = self.layout_of(show)?;
        let pricing = show.performance.as_ref().map(|p| &p.pricing);
        let category = match category {
            "" => None,
            name => Some(pricing?.category_named(name)?),
        };
        let query = BestQuery {
            count: quantity,
            category,
            wheelchair: false,
        };
        match best_available(
            &layout,
            |no| pricing.and_then(|p| p.category_of(no)),
            |no| show.seat(no) == Some(Seat::Available) && sold_type(show, no).is_some(),
            &query,
        ) {
            Pick::Together(seats) | Pick::Split(seats) => Some(seats),
            Pick::NotEnough { .. } => None,
        }
    }

    /// Offers the free seats of every performance whose seats this
    /// `apply` freed to its waiting list ([`State::offer_freed`]).
    pub(super) fn offer_all_freed(&mut self) {
        while let Some(show) = self.freed.pop_first() {
            self.offer_freed(&show);
        }
    }

    /// Offers the free seats of `id` to its waiting list: to the first
    /// entry that fits, then the next, while any fits (see the module's
    /// doc). One walk of the list.
    fn offer_freed(&mut self, id: &ShowId) {
        if self.lists.get(id).is_none_or(|l| l.waiting.is_empty())
            || self.rooms.get(id).is_some_and(WaitingRoom::guards)
            || self
                .shows
                .get(id)
                .is_none_or(|s| s.state_at(self.now) != PerformanceState::OnSale)
        {
            return;
        }
        // By category: a quantity found not to fit. Seats only get fewer
        // during the walk, so anything as large stays unfit.
        let mut unfit: BTreeMap<String, u32> = BTreeMap::new();
        let mut i = 0;
        loop {
            let Some(entry) = self.lists.get(id).and_then(|l| l.waiting.get(i)).cloned() else {
                return;
            };
            if unfit
                .get(&entry.category)
                .is_some_and(|&q| entry.quantity >= q)
            {
                i += 1;
                continue;
            }
            let Some(seats) = self.fit(id, entry.quantity, &entry.category) else {
                if entry.category.is_empty() && entry.quantity == 1 {
                    // Not one sellable seat is free: nobody else fits.
                    return;
                }
                unfit.insert(entry.category.clone(), entry.quantity);
                i += 1;
                continue;
            };
            // Whether offered or dropped, the entry leaves the queue; the
            // next one is at `i` now.
            if let Some(list) = self.lists.get_mut(id) {
                list.waiting.remove(i);
            }
            self.make_offer(id, entry, &seats);
        }
    }

    /// Holds `seats` of `id` for `entry`'s buyer as an offer, under the
    /// entry's caps. If they refuse it (the buyer bought elsewhere
    /// meanwhile, say), the entry is dropped and counted as skipped.
    fn make_offer(&mut self, id: &ShowId, entry: ListEntry, seats: &[SeatNo]) {
        let booking_id = BookingId(self.last_booking_id.saturating_add(1));
        let status = BookingStatus::Held {
            expires_at: self.now.saturating_add_ms(entry.offer_ms),
        };
        let types = self.shows.get(id).map_or_else(Vec::new, |show| {
            seats
                .iter()
                .map(|&no| type_name(show, sold_type(show, no).unwrap_or(0)))
                .collect()
        });
        let tickets = Tickets {
            types,
            ..Tickets::default()
        };
        let request = super::checkout::Reservation {
            show: id,
            seats,
            tickets: &tickets,
            user: &entry.user,
            max_seats_per_user: entry.max_seats_per_user,
            limits: Some(&entry.limits),
            offered: true,
        };
        let made = self.reserve(
            request,
            status,
            Some(&offer_order(booking_id, self.now, self.version)),
        );
        let Some(list) = self.lists.get_mut(id) else {
            return;
        };
        match made {
            Ok(Effect::Booking(booking)) => {
                list.offered_total += 1;
                list.members
                    .insert(entry.user.clone(), Member::Offered(booking.id));
                list.offers.insert(booking.id, entry);
            }
            _ => {
                list.skipped_total += 1;
                list.members.remove(&entry.user);
            }
        }
    }

    /// A booking ended (lapsed, given up, cancelled): if it was an offer,
    /// its entry is done with. Its seats are offered on at the end of the
    /// `apply`.
    pub(super) fn list_booking_ended(&mut self, show: &ShowId, booking: BookingId) {
        if let Some(list) = self.lists.get_mut(show)
            && let Some(entry) = list.offers.remove(&booking)
        {
            list.members.remove(&entry.user);
            list.lapsed_total += 1;
        }
        self.freed.insert(show.clone());
    }

    /// A hold was paid: if it was an offer, its entry is done with.
    pub(super) fn list_booking_paid(&mut self, show: &ShowId, booking: BookingId) {
        if let Some(list) = self.lists.get_mut(show)
            && let Some(entry) = list.offers.remove(&booking)
        {
            list.members.remove(&entry.user);
            list.bought_total += 1;
        }
    }

    /// The lists' invariants: each list's own, and each offer a held
    /// booking of its performance for its buyer and quantity.
    pub(super) fn check_lists(&self) -> Result<(), String> {
        for (id, list) in &self.lists {
            if list.show != *id || !self.shows.contains_key(id) {
                return Err(format!("the waiting list of {id} has no performance"));
            }
            list.check()?;
            for (booking, entry) in &list.offers {
                let ok = self.bookings.get(*booking).is_some_and(|b| {
                    b.show == *id
                        && b.user == entry.user
                        && b.seats.len() == entry.quantity as usize
                        && matches!(b.status, BookingStatus::Held { .. })
                });
                if !ok {
                    return Err(format!(
                        "offer {booking} of the waiting list of {id} is not a hold of {} seats for {}",
                        entry.quantity, entry.user
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What a `JoinWaitingList` asks for, beyond the performance and buyer.
pub(super) struct Join<'a> {
    pub(super) quantity: u32,
    pub(super) category: &'a str,
    pub(super) offer_ms: i64,
    pub(super) max_seats_per_user: u32,
    pub(super) limits: &'a HoldLimits,
}

/// The first ticket type sold at place `no` of `show` (its number).
fn sold_type(show: &super::Show, no: SeatNo) -> Option<crate::pricing::TicketType> {
    match &show.performance {
        None => Some(0),
        Some(performance) => (0..performance.pricing.types.len())
            .filter_map(|t| crate::pricing::TicketType::try_from(t).ok())
            .find(|&t| show.price(no, t).is_some()),
    }
}

/// The name of ticket type `t` of `show` ("" for a simple show's one).
fn type_name(show: &super::Show, t: crate::pricing::TicketType) -> String {
    match &show.performance {
        None => String::new(),
        Some(performance) => performance.pricing.type_name(t),
    }
}
