//! The checkout: holding and booking seats (with the per-customer caps
//! and the limits against hoarding), confirming a hold, releasing,
//! cancelling and expiring it, settling an ended hold's payment, and
//! recording refunds.

use super::shows::PerformanceState;
use super::stored::StoreError;
use super::{Booking, BookingStatus, Payment, Seat, Show, State};
use crate::best::{BestQuery, Pick, best_available};
use crate::card::CardFingerprint;
use crate::command::{HoldLimits, Tickets};
use crate::ids::{
    BookingId, HOLD_RATE_WINDOW_MS, MAX_HOLD_TTL_MS, MAX_SEATS_PER_BOOKING, OrderId, SeatNo,
    ShowId, Timestamp, TransactionId, UserId,
};
use crate::outcome::{Effect, Outcome, Rejection};
use crate::pricing::{COMPANION_TICKET_TYPE, TicketType};
use crate::venue::SeatAttrs;

impl State {
    /// `Hold` and `Book`: creates a booking with `status` over `seats`, all or none.
    ///
    /// A non-zero `max_seats_per_user` caps the seats `user` may have in
    /// active bookings of the show, these included; a hold is checked
    /// against its [`HoldLimits`] too ([`State::check_hold_limits`]).
    /// Administrators (box office staff selling at the counter) are exempt.
    pub(super) fn reserve(
        &mut self,
        request: Reservation<'_>,
        status: BookingStatus,
        order: Option<&OrderId>,
    ) -> Outcome {
        let Reservation {
            show: show_id,
            seats,
            tickets,
            user,
            max_seats_per_user,
            limits,
            offered,
        } = request;
        let now = self.now;
        let exempt = self.user(user).is_some_and(|u| u.admin);
        let capped = max_seats_per_user > 0 && !exempt;
        let show = self
            .shows
            .get(show_id)
            .ok_or_else(|| Rejection::ShowNotFound(show_id.clone()))?;
        match show.state_at(now) {
            PerformanceState::Past => return Err(Rejection::ShowStarted(show_id.clone())),
            PerformanceState::Cancelled => {
                return Err(Rejection::NotOnSale {
                    show: show_id.clone(),
                    why: "it was cancelled".to_owned(),
                });
            }
            // Box office staff sell before the opening and after the close.
            state @ (PerformanceState::Scheduled | PerformanceState::OffSale) if !exempt => {
                return Err(Rejection::NotOnSale {
                    show: show_id.clone(),
                    why: sales_message(show, state),
                });
            }
            _ => {}
        }
        // A waiting list's offer comes in its own order, not the room's.
        if !exempt && !offered {
            self.check_admission(show_id, user)?;
        }
        if let Some(no) = seats
            .iter()
            .copied()
            .filter(|&no| show.seat(no).is_none())
            .min()
        {
            return Err(Rejection::NoSuchSeat {
                show: show_id.clone(),
                seat: no,
                seat_count: show.seat_count(),
            });
        }
        let places = self.pick_places(show, seats, tickets)?;
        let (seats, types): (Vec<SeatNo>, Vec<TicketType>) = places.into_iter().unzip();
        if seats.len() > MAX_SEATS_PER_BOOKING {
            return Err(Rejection::Invalid(format!(
                "a booking has at most {MAX_SEATS_PER_BOOKING} tickets"
            )));
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
            self.check_network(limits, show_id, &seats)?;
            if let Some(card) = limits.card {
                self.check_card(card, limits.max_seats_per_card, show_id, seats.len())?;
            }
        }
        let show = self
            .shows
            .get(show_id)
            .ok_or_else(|| Rejection::ShowNotFound(show_id.clone()))?;
        for &no in &seats {
            match show.seat(no) {
                Some(Seat::Held(_)) => return Err(Rejection::SeatHeld { seat: no }),
                Some(Seat::Booked(_)) => return Err(Rejection::SeatBooked { seat: no }),
                Some(Seat::HeldBack) => return Err(Rejection::SeatHeldBack { seat: no }),
                Some(Seat::Available) | None => {}
            }
        }
        let mut prices = Vec::with_capacity(seats.len());
        for (&no, &ticket_type) in seats.iter().zip(&types) {
            prices.push(
                show.price(no, ticket_type)
                    .ok_or_else(|| not_sold(show, no, ticket_type))?,
            );
        }
        if !exempt {
            self.check_companions(show, &seats, &types)?;
        }
        let total_cents = prices
            .iter()
            .try_fold(0i64, |sum, &price| sum.checked_add(price))
            .ok_or_else(|| Rejection::Invalid("total price overflows".to_owned()))?;
        let (types, prices) = if show.performance.is_some() {
            (types, prices)
        } else {
            (Vec::new(), Vec::new())
        };
        let id = self
            .last_booking_id
            .checked_add(1)
            .map(BookingId)
            .ok_or_else(|| Rejection::Invalid("booking ids exhausted".to_owned()))?;
        let booking = Booking {
            id,
            show: show_id.clone(),
            seats,
            types,
            prices,
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
        if let Some(limits) = limits.filter(|_| !exempt) {
            if let Some(network) = limits.network {
                self.networks.start(&booking, network);
            }
            if let Some(card) = limits.card {
                self.cards.start(&booking, card);
            }
        }
        if matches!(booking.status, BookingStatus::Confirmed { .. }) {
            self.admission_used(show_id, user, now);
        }
        Ok(Effect::Booking(booking))
    }

    /// Checks `wanted` more seats of `show` paid with `card` against the
    /// cap per card (`limit`; 0: none).
    fn check_card(
        &self,
        card: CardFingerprint,
        limit: u32,
        show: &ShowId,
        wanted: usize,
    ) -> Result<(), Rejection> {
        if limit == 0 {
            return Ok(());
        }
        let already = self.cards.seats(show, card);
        let wanted = u32::try_from(wanted).unwrap_or(u32::MAX);
        if already.saturating_add(wanted) > limit {
            return Err(Rejection::CardLimit {
                show: show.clone(),
                card,
                limit,
                already,
            });
        }
        Ok(())
    }

    /// `AttachCard`.
    pub(super) fn attach_card(
        &mut self,
        id: BookingId,
        card: CardFingerprint,
        limit: u32,
    ) -> Outcome {
        let booking = self
            .bookings
            .get(id)
            .ok_or(Rejection::BookingNotFound(id))?;
        if !matches!(booking.status, BookingStatus::Held { .. }) {
            return Err(wrong_status(&booking, "held"));
        }
        if self.user(&booking.user).is_some_and(|u| u.admin) || self.cards.of(id) == Some(card) {
            return Ok(Effect::Booking(booking));
        }
        if self.cards.of(id).is_some() {
            // A second card for one hold would let a payment by one card
            // be counted against another.
            return Err(Rejection::OtherCard(id));
        }
        self.check_card(card, limit, &booking.show, booking.seats.len())?;
        self.cards.stop(&booking);
        self.cards.start(&booking, card);
        Ok(Effect::Booking(booking))
    }

    /// Checks a hold of `seats` of `show` against the cap on the seats of
    /// the network it came from, if it carries one.
    fn check_network(
        &self,
        limits: &HoldLimits,
        show: &ShowId,
        seats: &[SeatNo],
    ) -> Result<(), Rejection> {
        let (limit, Some(network)) = (limits.max_seats_per_network, limits.network) else {
            return Ok(());
        };
        if limit == 0 {
            return Ok(());
        }
        let already = self.networks.seats(show, network);
        let wanted = u32::try_from(seats.len()).unwrap_or(u32::MAX);
        if already.saturating_add(wanted) > limit {
            return Err(Rejection::NetworkLimit {
                show: show.clone(),
                network,
                limit,
                already,
            });
        }
        Ok(())
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
                .filter(|booking| booking.order.is_some() && !booking.is_return_record())
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
    pub(super) fn confirm(
        &mut self,
        id: BookingId,
        transaction: Option<&TransactionId>,
    ) -> Outcome {
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
        self.admission_used(&booking.show, &booking.user, booking.created_at);
        self.list_booking_paid(&booking.show, booking.id);
        Ok(Effect::Booking(booking))
    }

    /// `Release`.
    pub(super) fn release(&mut self, id: BookingId) -> Outcome {
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
    pub(super) fn cancel(&mut self, id: BookingId, user: &UserId) -> Outcome {
        let booking = self
            .bookings
            .get(id)
            .filter(|booking| booking.user == *user)
            .ok_or(Rejection::BookingNotFound(id))?;
        // A performance's tickets are not given back once it has begun
        // (a simple show keeps the old system's rule: cancel any time).
        let started = |state: &Self| {
            state
                .shows
                .get(&booking.show)
                .is_some_and(|show| show.performance.is_some() && show.starts_at <= state.now)
        };
        let status = match booking.status {
            BookingStatus::Confirmed { .. } if started(self) => {
                return Err(Rejection::ShowStarted(booking.show.clone()));
            }
            BookingStatus::Confirmed { .. } => {
                if let Some(seat) = self.doors.first_used(id, &booking.seats) {
                    return Err(Rejection::TicketUsed { booking: id, seat });
                }
                if let Some(seat) = self
                    .doors
                    .first_given_away(id, &booking.user, &booking.seats)
                {
                    return Err(Rejection::TicketTransferred { booking: id, seat });
                }
                BookingStatus::Cancelled { at: self.now }
            }
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
    pub(super) fn settle(&mut self, id: BookingId, charge: Option<&TransactionId>) -> Outcome {
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
    pub(super) fn record_refund(&mut self, id: BookingId) -> Outcome {
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
    pub(super) fn expire_holds(&mut self) -> u32 {
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
    pub(super) fn end_booking(&mut self, mut booking: Booking, status: BookingStatus) -> Booking {
        self.active.remove(&booking);
        self.networks.stop(&booking);
        self.cards.stop(&booking);
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
        self.list_booking_ended(&booking.show, booking.id);
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
}

/// The rejection of a booking the store cannot hold.
fn cannot_store(problem: StoreError) -> Rejection {
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

/// What `Hold` and `Book` ask [`State::reserve`] for.
pub(super) struct Reservation<'a> {
    /// The show.
    pub(super) show: &'a ShowId,
    /// The seats, in any order.
    pub(super) seats: &'a [SeatNo],
    /// Their ticket types, standing places and best-available picks.
    pub(super) tickets: &'a Tickets,
    /// The customer.
    pub(super) user: &'a UserId,
    /// The per-customer cap (0: none).
    pub(super) max_seats_per_user: u32,
    /// For a hold, the limits against hoarding.
    pub(super) limits: Option<&'a HoldLimits>,
    /// Whether this is a waiting list's offer (made by the state machine
    /// itself, outside the waiting room's order).
    pub(super) offered: bool,
}

impl State {
    /// The places a reservation asks for, each with its ticket type, in
    /// ascending order: the named seats, the first free standing places of
    /// each area asked for, and the best block (see [`crate::best`]).
    fn pick_places(
        &self,
        show: &Show,
        seats: &[SeatNo],
        tickets: &Tickets,
    ) -> Result<Vec<(SeatNo, TicketType)>, Rejection> {
        let type_of = |name: &str| type_named(show, name);
        let mut places: Vec<(SeatNo, TicketType)> = if tickets.types.is_empty() {
            seats.iter().map(|&no| (no, 0)).collect()
        } else {
            let mut places = Vec::with_capacity(seats.len());
            for (&no, name) in seats.iter().zip(&tickets.types) {
                places.push((no, type_of(name)?));
            }
            places
        };
        let needs_venue = !tickets.standing.is_empty() || tickets.best.is_some();
        let layout = match &show.performance {
            Some(performance) => self.venues.get(&performance.venue),
            None if needs_venue => {
                return Err(Rejection::Invalid(format!(
                    "{} is a simple show: name its seats (standing places and best \
                     available need a performance at a venue)",
                    show.id
                )));
            }
            None => None,
        };
        let taken =
            |places: &[(SeatNo, TicketType)], no: SeatNo| places.iter().any(|&(p, _)| p == no);
        if let Some(layout) = layout {
            for wanted in &tickets.standing {
                let area = layout.area_named(&wanted.area).ok_or_else(|| {
                    Rejection::Invalid(format!(
                        "{} has no standing area {:?}",
                        layout.venue().name,
                        wanted.area
                    ))
                })?;
                let ticket_type = type_of(&wanted.ticket_type)?;
                let free: Vec<SeatNo> = layout
                    .area_places(area)
                    .map(SeatNo)
                    .filter(|&no| show.seat(no) == Some(Seat::Available) && !taken(&places, no))
                    .take(usize::try_from(wanted.count).unwrap_or(usize::MAX))
                    .collect();
                if free.len() < usize::try_from(wanted.count).unwrap_or(usize::MAX) {
                    return Err(Rejection::AreaFull {
                        area: wanted.area.clone(),
                        free: u32::try_from(free.len()).unwrap_or(u32::MAX),
                    });
                }
                places.extend(free.into_iter().map(|no| (no, ticket_type)));
            }
            if let Some(best) = &tickets.best {
                let ticket_type = type_of(&best.ticket_type)?;
                let pricing = show.performance.as_ref().map(|p| &p.pricing);
                let category = match best.category.as_str() {
                    "" => None,
                    name => Some(pricing.and_then(|p| p.category_named(name)).ok_or_else(
                        || Rejection::Invalid(format!("no price category is called {name:?}")),
                    )?),
                };
                let query = BestQuery {
                    count: best.count,
                    category,
                    wheelchair: best.wheelchair,
                };
                let pick = best_available(
                    layout,
                    |no| pricing.and_then(|p| p.category_of(no)),
                    |no| show.seat(no) == Some(Seat::Available) && !taken(&places, no),
                    &query,
                );
                match pick {
                    Pick::Together(seats) => {
                        places.extend(seats.into_iter().map(|no| (no, ticket_type)));
                    }
                    Pick::Split(split) => {
                        return Err(Rejection::NotTogether {
                            count: best.count,
                            split,
                        });
                    }
                    Pick::NotEnough { .. } => {
                        return Err(Rejection::NotTogether {
                            count: best.count,
                            split: Vec::new(),
                        });
                    }
                }
            }
        }
        places.sort_unstable();
        if places.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return Err(Rejection::Invalid("a place is asked for twice".to_owned()));
        }
        if places.is_empty() {
            return Err(Rejection::Invalid("ask for at least one ticket".to_owned()));
        }
        Ok(places)
    }

    /// Ends an active booking of a cancelled performance: a confirmed one
    /// is cancelled (its charge becomes a refund due), a hold released.
    pub(super) fn end_for_cancellation(&mut self, booking: Booking) {
        let status = match booking.status {
            BookingStatus::Confirmed { .. } => BookingStatus::Cancelled { at: self.now },
            BookingStatus::Held { .. } => BookingStatus::Released {
                at: self.now,
                lapsed: false,
            },
            BookingStatus::Released { .. } | BookingStatus::Cancelled { .. } => return,
        };
        self.end_booking(booking, status);
    }

    /// `ReturnTickets`: the booking keeps the other tickets; a new
    /// cancelled booking records the returned ones and the refund due.
    pub(super) fn return_tickets(
        &mut self,
        id: BookingId,
        seats: &[SeatNo],
        user: &UserId,
    ) -> Outcome {
        let booking = self
            .bookings
            .get(id)
            .filter(|booking| booking.user == *user)
            .ok_or(Rejection::BookingNotFound(id))?;
        if !matches!(booking.status, BookingStatus::Confirmed { .. }) {
            return Err(wrong_status(&booking, "confirmed"));
        }
        if let Some(&no) = seats.iter().find(|no| !booking.seats.contains(no)) {
            return Err(Rejection::Invalid(format!(
                "booking {id} has no ticket for seat {no}"
            )));
        }
        // Tickets are returned for a performance still to come.
        if let Some(show) = self.shows.get(&booking.show)
            && show.performance.is_some()
            && show.starts_at <= self.now
        {
            return Err(Rejection::ShowStarted(booking.show.clone()));
        }
        if let Some(seat) = self.doors.first_used(id, seats) {
            return Err(Rejection::TicketUsed { booking: id, seat });
        }
        if let Some(seat) = self.doors.first_given_away(id, &booking.user, seats) {
            return Err(Rejection::TicketTransferred { booking: id, seat });
        }
        let mut wanted = seats.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.len() == booking.seats.len() {
            return self.cancel(id, user);
        }
        let now = self.now;
        let new_id = self
            .last_booking_id
            .checked_add(1)
            .map(BookingId)
            .ok_or_else(|| Rejection::Invalid("booking ids exhausted".to_owned()))?;
        let (kept, returned) = booking.split(&wanted);
        let mut returned = Booking {
            id: new_id,
            created_at: now,
            status: BookingStatus::Cancelled { at: now },
            ..returned
        };
        returned.payment = match &booking.payment {
            Payment::Charged(tx) if returned.total_cents > 0 => Payment::RefundDue(tx.clone()),
            _ => Payment::None,
        };
        // Storing both is the last check; then mutate.
        self.bookings
            .check_room(&returned, kept.seats.len())
            .map_err(cannot_store)?;
        // The dedup records of the booking rebuild it from its stored
        // tickets, which change now: keep them as the booking was.
        self.dedup.pin_booking(&booking);
        self.bookings.replace_tickets(&kept).map_err(cannot_store)?;
        self.bookings.push(&returned).map_err(cannot_store)?;
        self.last_booking_id = new_id.0;
        self.active.remove(&booking);
        self.active.add(&kept);
        self.networks.shrink(&booking, &kept);
        self.cards.shrink(&booking, &kept);
        if let Some(show) = self.shows.get_mut(&booking.show) {
            for &no in &returned.seats {
                show.transition(no, Seat::Booked(id), Seat::Available);
            }
        }
        self.by_user
            .entry(returned.user.clone())
            .or_default()
            .push(returned.id);
        self.index_settlement(&returned);
        // A returned ticket is gone; its version and holder go with it (the
        // place, sold again, is a new ticket of another booking).
        self.doors.forget_tickets(id, &returned.seats);
        self.freed.insert(booking.show.clone());
        Ok(Effect::Returned {
            kept: Box::new(kept),
            returned: Box::new(returned),
        })
    }
}

/// The number of the ticket type called `name` at `show` (its first for "").
fn type_named(show: &Show, name: &str) -> Result<TicketType, Rejection> {
    if name.is_empty() {
        return Ok(0);
    }
    let found = match &show.performance {
        Some(performance) => performance.pricing.type_named(name),
        None => (name == crate::STANDARD_TICKET_TYPES[0]).then_some(0),
    };
    found.ok_or_else(|| Rejection::Invalid(format!("{} sells no {name:?} tickets", show.id)))
}

impl State {
    /// A companion ticket is for the companion of a wheelchair user: an
    /// order of a performance has at most as many as wheelchair spaces.
    /// (Companion tickets are often free: without this anyone could take
    /// seats for nothing.)
    fn check_companions(
        &self,
        show: &Show,
        seats: &[SeatNo],
        types: &[TicketType],
    ) -> Result<(), Rejection> {
        let Some(performance) = &show.performance else {
            return Ok(());
        };
        let Some(companion) = performance.pricing.type_named(COMPANION_TICKET_TYPE) else {
            return Ok(());
        };
        let companions = types.iter().filter(|&&t| t == companion).count();
        if companions == 0 {
            return Ok(());
        }
        let layout = self.layout_of(show);
        let wheelchair = seats
            .iter()
            .filter(|&&no| {
                layout
                    .as_ref()
                    .and_then(|l| l.seat(no))
                    .is_some_and(|(_, _, seat)| seat.attrs.contains(SeatAttrs::WHEELCHAIR))
            })
            .count();
        if companions > wheelchair {
            return Err(Rejection::Invalid(format!(
                "a companion ticket is for the companion of a wheelchair user: this order has \
                 {companions} companion ticket(s) and {wheelchair} wheelchair space(s)"
            )));
        }
        Ok(())
    }
}

/// Why `ticket_type` is not sold for place `no` of `show`.
fn not_sold(show: &Show, no: SeatNo, ticket_type: TicketType) -> Rejection {
    let Some(performance) = &show.performance else {
        return Rejection::Invalid(format!("{} sells only adult tickets", show.id));
    };
    let pricing = &performance.pricing;
    let category = pricing
        .category_of(no)
        .and_then(|c| pricing.categories.get(usize::from(c)))
        .cloned()
        .unwrap_or_default();
    Rejection::Invalid(format!(
        "{} tickets are not sold in category {category} (seat {no})",
        pricing.type_name(ticket_type)
    ))
}

/// Why `show` is not on sale in `state`: when its sales open, or that they closed.
fn sales_message(show: &Show, state: PerformanceState) -> String {
    let opens = show.performance.as_ref().and_then(|p| p.sales.opens_at);
    match (state, opens) {
        (PerformanceState::Scheduled, Some(opens)) => {
            format!("its sales open at {} (ms since the epoch)", opens.0)
        }
        _ => "its sales have closed".to_owned(),
    }
}
