//! Property tests: random histories against a naive reference model.
//!
//! Each case bootstraps an administrator, registers three customers and
//! creates two small shows (one of which starts part-way through the
//! history), then applies up to 200 random steps: holds and direct bookings
//! (some with a per-customer seat cap), confirmations (paid, free, or
//! with the wrong payment), releases, cancellations, settlements of ended
//! holds and recorded refunds, expiry sweeps, resizes and logouts, with
//! invalid seats, unknown bookings, time jitter, retries of earlier
//! requests (a retried hold with a freshly drawn order id) and reuse of
//! earlier request ids. Each step is sent by the system, its own customer,
//! the administrator, some other account, or a revoked session. After every
//! step the state must pass `check_invariants`, agree exactly with the
//! model, and give each retry of a success its first outcome without
//! changing (rejections and the system's confirmations, which are not
//! recorded, are judged afresh, and a revoked session is refused every
//! recorded outcome but that of the logout that ended it).

use std::collections::{BTreeMap, BTreeSet};

use boxoffice_core::*;
use proptest::prelude::*;
use proptest::sample::Index;

/// Time of the first request.
const T0: i64 = 1_700_000_000_000;
/// Seats per show at creation.
const SEATS: u32 = 8;
/// Price of a seat in each show.
const PRICES: [i64; 2] = [1_500, 999];
/// Start of each show, relative to `T0`: the second starts mid-history.
const STARTS: [i64; 2] = [100_000_000, 1_000_000];
/// The customers who book: the accounts registered after the administrator.
const USERS: [&str; 3] = ["u2", "u3", "u4"];
/// Their email addresses, registered in this order.
const EMAILS: [&str; 3] = ["ann@example.com", "ben@example.com", "cat@example.com"];
/// The administrator, bootstrapped first.
const ADMIN: &str = "u1";
/// The administrator's email address.
const ADMIN_EMAIL: &str = "boss@example.com";
/// The password hash every account is registered with.
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";

/// Account `index`: a customer for `0..USERS.len()`, otherwise the administrator.
fn account(index: usize) -> UserId {
    USERS.get(index).copied().unwrap_or(ADMIN).into()
}

/// A choice among the elements of a collection not yet known when generated.
#[derive(Clone, Debug)]
enum Choice {
    /// A generated position, scaled to the collection.
    Scaled(Index),
    /// A fixed position, wrapped around the collection (for scripted tests).
    Nth(usize),
}

impl Choice {
    /// The chosen position in a collection of `len > 0` elements.
    fn position(&self, len: usize) -> usize {
        match self {
            Choice::Scaled(index) => index.index(len),
            Choice::Nth(n) => n % len,
        }
    }
}

fn choice() -> impl Strategy<Value = Choice> {
    any::<Index>().prop_map(Choice::Scaled)
}

/// A way to name a booking: one that was issued, or an arbitrary number.
#[derive(Clone, Debug)]
enum Pick {
    Issued(Choice),
    Raw(u64),
}

/// Who sends a generated step.
#[derive(Clone, Debug)]
enum Who {
    /// A trusted internal request (no caller).
    System,
    /// The customer the step names (for steps naming none: the system).
    Owner,
    /// The administrator.
    Admin,
    /// Account `n` (see [`account`]).
    Other(usize),
    /// The step's customer (or the administrator) with a revoked or never-issued token.
    Stale,
}

/// One generated step, resolved into a request when it runs.
#[derive(Clone, Debug)]
enum Op {
    Hold {
        show: usize,
        seats: Vec<u32>,
        user: usize,
        ttl_ms: i64,
        cap: u32,
        limits: HoldLimits,
    },
    Book {
        show: usize,
        seats: Vec<u32>,
        user: usize,
        cap: u32,
    },
    /// Confirm, paid by transaction `tx-n` or (`None`) free.
    Confirm(Pick, Option<u8>),
    Release(Pick),
    /// Settle an ended hold, with the charge `tx-n` found, or none.
    Settle(Pick, Option<u8>),
    RecordRefund(Pick),
    Cancel(Pick, usize),
    Expire,
    Resize {
        show: usize,
        seat_count: u32,
    },
    /// Log account `n` out everywhere.
    Revoke(usize),
    /// The system attaches card `n` to a booking, under a cap.
    AttachCard(Pick, u8, u32),
    /// Re-send an earlier request unchanged.
    Retry(Choice),
    /// Send a different command under an earlier request id.
    Reuse(Choice),
}

fn show_id(index: usize) -> ShowId {
    ShowId(format!("show-{index}"))
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        4 => choice().prop_map(Pick::Issued),
        1 => (0u64..40).prop_map(Pick::Raw),
    ]
}

fn seat_list() -> impl Strategy<Value = Vec<u32>> {
    prop_oneof![
        8 => prop::collection::vec(1u32..=SEATS, 1..=3),
        2 => prop::collection::vec(0u32..=SEATS + 2, 0..=4),
        1 => prop::collection::vec(1u32..=SEATS + 4, 9..=12),
    ]
}

fn ttl() -> impl Strategy<Value = i64> {
    prop_oneof![
        9 => 1i64..=120_000,
        1 => prop_oneof![Just(0i64), Just(-1), Just(MAX_HOLD_TTL_MS + 1)],
    ]
}

/// A per-customer seat cap: mostly none.
fn cap() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => Just(0u32),
        2 => 1u32..=6,
    ]
}

/// The limits against hoarding: mostly none, else small ones (a cool-down
/// of up to two minutes, which the mostly short holds run into).
fn limits() -> impl Strategy<Value = HoldLimits> {
    prop_oneof![
        2 => Just(HoldLimits::NONE),
        1 => (0u32..=6, 0u32..=4, prop_oneof![Just(0i64), 1i64..=120_000]).prop_map(
            |(max_held_seats, max_holds_per_hour, cooldown_ms)| HoldLimits {
                max_held_seats,
                max_holds_per_hour,
                cooldown_ms,
                ..HoldLimits::NONE
            }
        ),
        // Holds from two networks (or one not known), under a small cap:
        // several customers share a network.
        2 => (0u32..=6, prop::option::weighted(0.8, 0u8..2)).prop_map(
            |(max_seats_per_network, network)| HoldLimits {
                max_seats_per_network,
                network: network.map(|n| Network::of(std::net::IpAddr::from([203, 0, 113 + n, 9]))),
                ..HoldLimits::NONE
            }
        ),
        // One-call checkouts paid with two cards (or one not known yet),
        // under a small cap: several customers share a card.
        2 => (0u32..=6, prop::option::weighted(0.8, 0u8..2)).prop_map(
            |(max_seats_per_card, card)| HoldLimits {
                max_seats_per_card,
                card: card.map(card_of),
                ..HoldLimits::NONE
            }
        ),
    ]
}

/// Test card `n`'s fingerprint.
fn card_of(n: u8) -> CardFingerprint {
    CardFingerprint([n; 16])
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        3 => Just(Who::System),
        8 => Just(Who::Owner),
        1 => Just(Who::Admin),
        1 => (0..=USERS.len()).prop_map(Who::Other),
        1 => Just(Who::Stale),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, seat_list(), 0..USERS.len(), ttl(), cap(), limits())
            .prop_map(|(show, seats, user, ttl_ms, cap, limits)| Op::Hold { show, seats, user, ttl_ms, cap, limits }),
        2 => (0..2usize, seat_list(), 0..USERS.len(), cap())
            .prop_map(|(show, seats, user, cap)| Op::Book { show, seats, user, cap }),
        3 => (pick(), prop::option::weighted(0.8, 0u8..3)).prop_map(|(pick, tx)| Op::Confirm(pick, tx)),
        2 => pick().prop_map(Op::Release),
        2 => (pick(), prop::option::of(0u8..3)).prop_map(|(pick, tx)| Op::Settle(pick, tx)),
        1 => pick().prop_map(Op::RecordRefund),
        2 => (pick(), 0..USERS.len()).prop_map(|(pick, user)| Op::Cancel(pick, user)),
        2 => Just(Op::Expire),
        1 => (0..2usize, 0u32..=SEATS + 4)
            .prop_map(|(show, seat_count)| Op::Resize { show, seat_count }),
        1 => (0..=USERS.len()).prop_map(Op::Revoke),
        2 => (pick(), 0u8..2, 0u32..=6).prop_map(|(pick, card, cap)| Op::AttachCard(pick, card, cap)),
        2 => choice().prop_map(Op::Retry),
        1 => choice().prop_map(Op::Reuse),
    ]
}

/// Time step before each operation: mostly forward, sometimes backward.
fn time_step() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => 0i64..20_000,
        1 => -5_000i64..0,
        1 => Just(0i64),
    ]
}

fn steps() -> impl Strategy<Value = Vec<(i64, Op, Who)>> {
    prop::collection::vec((time_step(), op(), who()), 0..=200)
}

/// A naive reference implementation of the booking and account rules.
#[derive(Debug)]
struct Model {
    now: Timestamp,
    last_id: u64,
    /// Show id -> (title, price, start, seat count).
    shows: BTreeMap<ShowId, (String, i64, Timestamp, u32)>,
    /// Taken seats; absent means available.
    taken: BTreeMap<(ShowId, SeatNo), Seat>,
    bookings: BTreeMap<BookingId, Booking>,
    /// Accounts, as commands report them.
    users: BTreeMap<UserId, UserSummary>,
    /// The network each customer hold came from.
    networks: BTreeMap<BookingId, Network>,
    /// The card that pays (or is to pay) for each customer booking.
    cards: BTreeMap<BookingId, CardFingerprint>,
}

impl Model {
    fn new() -> Self {
        Model {
            now: Timestamp::default(),
            last_id: 0,
            shows: BTreeMap::new(),
            taken: BTreeMap::new(),
            bookings: BTreeMap::new(),
            users: BTreeMap::new(),
            networks: BTreeMap::new(),
            cards: BTreeMap::new(),
        }
    }

    /// Predicts the outcome of `command` sent by `caller` and applies it to the model.
    fn apply(&mut self, at: Timestamp, caller: Option<&Caller>, command: &Command) -> Outcome {
        if let Some(caller) = caller {
            let current = self.users.get(&caller.user).map(|user| user.token_version);
            if current != Some(caller.token_version) {
                // Refused before the clock moves.
                return Err(Rejection::Unauthenticated(String::new()));
            }
        }
        self.now = self.now.max(at);
        if let Some(caller) = caller {
            self.permit(caller, command)?;
        }
        match command {
            Command::CreateShow {
                show,
                title,
                seat_count,
                price_cents,
                starts_at,
            } => {
                self.shows.insert(
                    show.clone(),
                    (title.clone(), *price_cents, *starts_at, *seat_count),
                );
                Ok(Effect::Show(self.summary(show)))
            }
            Command::Hold {
                order,
                show,
                seats,
                tickets: _,
                user,
                ttl_ms,
                max_seats_per_user,
                limits,
            } => self.reserve(
                show,
                seats,
                user,
                *max_seats_per_user,
                Some((*ttl_ms, order, limits)),
            ),
            Command::Book {
                show,
                seats,
                tickets: _,
                user,
                max_seats_per_user,
            } => self.reserve(show, seats, user, *max_seats_per_user, None),
            Command::Confirm {
                booking,
                transaction,
            } => {
                let payment = match transaction {
                    Some(tx) => Payment::Charged(tx.clone()),
                    None => Payment::None,
                };
                if let Some(found) = self.bookings.get(booking)
                    && matches!(found.status, BookingStatus::Confirmed { .. })
                    && found.payment == payment
                {
                    return Ok(Effect::Booking(found.clone()));
                }
                let expires_at = self.held(*booking)?;
                if (self.bookings[booking].total_cents > 0) != transaction.is_some() {
                    return Err(Rejection::Invalid("transaction".into()));
                }
                if expires_at <= self.now {
                    return Err(Rejection::HoldExpired(*booking));
                }
                let at = self.now;
                self.bookings.get_mut(booking).expect("held").payment = payment;
                Ok(self.finish(*booking, BookingStatus::Confirmed { at }))
            }
            Command::Settle { booking, charge } => {
                let found = self
                    .bookings
                    .get_mut(booking)
                    .ok_or(Rejection::BookingNotFound(*booking))?;
                if found.payment != Payment::Pending
                    || matches!(found.status, BookingStatus::Held { .. })
                {
                    return Err(Rejection::WrongStatus {
                        booking: *booking,
                        status: format!("{} with payment {}", found.status, found.payment.name()),
                        expected: "ended with its payment pending".into(),
                    });
                }
                found.payment = match charge {
                    Some(tx) => Payment::RefundDue(tx.clone()),
                    None => Payment::NotCharged,
                };
                Ok(Effect::Booking(found.clone()))
            }
            Command::RecordRefund { booking } => {
                let found = self
                    .bookings
                    .get_mut(booking)
                    .ok_or(Rejection::BookingNotFound(*booking))?;
                found.payment = match &found.payment {
                    Payment::RefundDue(tx) | Payment::Refunded(tx) => Payment::Refunded(tx.clone()),
                    other => {
                        return Err(Rejection::WrongStatus {
                            booking: *booking,
                            status: format!("payment {}", other.name()),
                            expected: "payment refund due".into(),
                        });
                    }
                };
                Ok(Effect::Booking(found.clone()))
            }
            Command::AttachCard {
                booking,
                card,
                max_seats_per_card,
            } => {
                self.held(*booking)?;
                let found = self.bookings[booking].clone();
                let staff = self.users.get(&found.user).is_some_and(|u| u.admin);
                if staff || self.cards.get(booking) == Some(card) {
                    return Ok(Effect::Booking(found));
                }
                if self.cards.contains_key(booking) {
                    return Err(Rejection::OtherCard(*booking));
                }
                self.check_card(
                    *max_seats_per_card,
                    Some(*card),
                    &found.show,
                    found.seats.len(),
                )?;
                self.cards.insert(*booking, *card);
                Ok(Effect::Booking(found))
            }
            Command::Release { booking } => {
                self.held(*booking)?;
                let status = BookingStatus::Released {
                    at: self.now,
                    lapsed: false,
                };
                Ok(self.finish(*booking, status))
            }
            Command::Cancel { booking, user } => {
                let found = self
                    .bookings
                    .get(booking)
                    .filter(|b| b.user == *user)
                    .ok_or(Rejection::BookingNotFound(*booking))?;
                let at = self.now;
                match found.status {
                    BookingStatus::Confirmed { .. } => {
                        Ok(self.finish(*booking, BookingStatus::Cancelled { at }))
                    }
                    BookingStatus::Held { .. } => {
                        let status = BookingStatus::Released { at, lapsed: true };
                        Ok(self.finish(*booking, status))
                    }
                    _ => Ok(Effect::Booking(found.clone())),
                }
            }
            Command::ExpireHolds => {
                let due: Vec<BookingId> = self
                    .bookings
                    .values()
                    .filter(|b| matches!(b.status, BookingStatus::Held { expires_at } if expires_at <= self.now))
                    .map(|b| b.id)
                    .collect();
                for &id in &due {
                    let status = BookingStatus::Released {
                        at: self.now,
                        lapsed: true,
                    };
                    self.finish(id, status);
                }
                Ok(Effect::Expired {
                    released: u32::try_from(due.len()).expect("few bookings"),
                })
            }
            Command::UpdateShow {
                show,
                seat_count: Some(count),
                title: None,
                price_cents: None,
                starts_at: None,
            } => {
                if *count == 0 {
                    return Err(Rejection::Invalid("seat_count".into()));
                }
                let above = (show.clone(), SeatNo(count + 1))..=(show.clone(), SeatNo(u32::MAX));
                if let Some(((_, seat), _)) = self.taken.range(above).next() {
                    return Err(Rejection::SeatInUse {
                        show: show.clone(),
                        seat_count: *count,
                        seat: *seat,
                    });
                }
                if let Some(entry) = self.shows.get_mut(show) {
                    entry.3 = *count;
                }
                Ok(Effect::Show(self.summary(show)))
            }
            Command::BootstrapAdmin { email, .. } => {
                if self.users.values().any(|user| user.admin) {
                    return Err(Rejection::AdminExists);
                }
                self.register(email, true)
            }
            Command::RegisterUser { email, admin, .. } => self.register(email, *admin),
            Command::RevokeSessions { user } => {
                let account = self
                    .users
                    .get_mut(user)
                    .ok_or_else(|| Rejection::UserNotFound(user.clone()))?;
                account.token_version += 1;
                Ok(Effect::User(account.clone()))
            }
            Command::UpdateShow { .. }
            | Command::SetAdmin { .. }
            | Command::ChangePassword { .. }
            | Command::CreateVenue { .. }
            | Command::CreateProduction { .. }
            | Command::AddPerformances { .. }
            | Command::CancelPerformance { .. }
            | Command::HoldBack { .. }
            | Command::ReleaseHeldBack { .. }
            | Command::ReturnTickets { .. }
            | Command::CheckIn { .. }
            | Command::ReissueTicket { .. }
            | Command::AddTicketKey { .. }
            | Command::GrantDoorStaff { .. }
            | Command::RevokeDoorStaff { .. }
            | Command::TransferTicket { .. }
            | Command::CheckOut { .. }
            | Command::SetReentry { .. }
            | Command::RetireTicketKey { .. } => {
                unreachable!("not generated (the performance model is tests/performances.rs)")
            }
            Command::SetWaitingRoom { .. }
            | Command::JoinWaitingRoom { .. }
            | Command::TickWaitingRooms { .. } => {
                unreachable!("not generated (the waiting room model is tests/rooms.rs)")
            }
            Command::JoinWaitingList { .. } | Command::LeaveWaitingList { .. } => {
                unreachable!("not generated (the waiting list model is tests/waitlist.rs)")
            }
        }
    }

    /// The permission rules, written out independently of `check_permission`.
    fn permit(&self, caller: &Caller, command: &Command) -> Result<(), Rejection> {
        let me = &caller.user;
        let admin = self.users[me].admin;
        let allowed = match command {
            Command::CreateShow { .. }
            | Command::UpdateShow { .. }
            | Command::SetAdmin { .. }
            | Command::CreateVenue { .. }
            | Command::CreateProduction { .. }
            | Command::AddPerformances { .. }
            | Command::CancelPerformance { .. }
            | Command::HoldBack { .. }
            | Command::ReleaseHeldBack { .. }
            | Command::CheckIn { .. }
            | Command::CheckOut { .. }
            | Command::SetReentry { .. }
            | Command::RetireTicketKey { .. }
            | Command::SetWaitingRoom { .. }
            | Command::GrantDoorStaff { .. }
            | Command::RevokeDoorStaff { .. } => admin,
            Command::JoinWaitingRoom { user, .. }
            | Command::JoinWaitingList { user, .. }
            | Command::LeaveWaitingList { user, .. } => user == me,
            Command::Hold { user, .. }
            | Command::Book { user, .. }
            | Command::Cancel { user, .. }
            | Command::ReturnTickets { user, .. }
            | Command::TransferTicket { user, .. } => user == me,
            Command::RevokeSessions { user } | Command::ReissueTicket { user, .. } => {
                user == me || admin
            }
            Command::ChangePassword { user, .. } => user == me,
            Command::RegisterUser { admin: wanted, .. } => !wanted || admin,
            Command::BootstrapAdmin { .. }
            | Command::Confirm { .. }
            | Command::Release { .. }
            | Command::Settle { .. }
            | Command::RecordRefund { .. }
            | Command::AddTicketKey { .. }
            | Command::TickWaitingRooms { .. }
            | Command::AttachCard { .. }
            | Command::ExpireHolds => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(Rejection::PermissionDenied(String::new()))
        }
    }

    /// Registers an account (emails in these tests are valid and normalised).
    fn register(&mut self, email: &str, admin: bool) -> Outcome {
        if self.users.values().any(|user| user.email == email) {
            return Err(Rejection::EmailTaken(email.to_owned()));
        }
        let id = UserId(format!("u{}", self.users.len() + 1));
        let user = UserSummary {
            id: id.clone(),
            email: email.to_owned(),
            admin,
            token_version: 0,
            created_at: self.now,
        };
        self.users.insert(id, user.clone());
        Ok(Effect::User(user))
    }

    fn reserve(
        &mut self,
        show: &ShowId,
        seats: &[SeatNo],
        user: &UserId,
        cap: u32,
        hold: Option<(i64, &OrderId, &HoldLimits)>,
    ) -> Outcome {
        let ttl_ms = hold.map(|(ttl, _, _)| ttl);
        let distinct: BTreeSet<SeatNo> = seats.iter().copied().collect();
        if seats.is_empty()
            || seats.len() > MAX_SEATS_PER_BOOKING
            || distinct.contains(&SeatNo(0))
            || distinct.len() != seats.len()
        {
            return Err(Rejection::Invalid("seats".into()));
        }
        if ttl_ms.is_some_and(|ttl| !(1..=MAX_HOLD_TTL_MS).contains(&ttl)) {
            return Err(Rejection::Invalid("ttl_ms".into()));
        }
        if hold
            .is_some_and(|(_, _, limits)| !(0..=MAX_HOLD_COOLDOWN_MS).contains(&limits.cooldown_ms))
        {
            return Err(Rejection::Invalid("cooldown_ms".into()));
        }
        let &(_, price, starts_at, seat_count) = self.shows.get(show).expect("shows exist");
        if starts_at <= self.now {
            return Err(Rejection::ShowStarted(show.clone()));
        }
        if let Some(&seat) = distinct.iter().find(|seat| seat.0 > seat_count) {
            return Err(Rejection::NoSuchSeat {
                show: show.clone(),
                seat,
                seat_count,
            });
        }
        let exempt = self.users.get(user).is_some_and(|u| u.admin);
        if cap > 0 && !exempt {
            let already: usize = self
                .bookings
                .values()
                .filter(|b| b.user == *user && b.show == *show && b.status.is_active())
                .map(|b| b.seats.len())
                .sum();
            let already = u32::try_from(already).expect("few seats");
            if already + u32::try_from(distinct.len()).expect("few seats") > cap {
                return Err(Rejection::SeatLimit {
                    show: show.clone(),
                    limit: cap,
                    already,
                });
            }
        }
        if let Some((_, _, limits)) = hold.filter(|_| !exempt) {
            self.check_hold_limits(limits, show, &distinct, user)?;
            self.check_network(limits, show, distinct.len())?;
            self.check_card(limits.max_seats_per_card, limits.card, show, distinct.len())?;
        }
        for &seat in &distinct {
            match self.taken.get(&(show.clone(), seat)) {
                Some(Seat::Held(_)) => return Err(Rejection::SeatHeld { seat }),
                Some(Seat::Booked(_)) => return Err(Rejection::SeatBooked { seat }),
                _ => {}
            }
        }
        self.last_id += 1;
        let id = BookingId(self.last_id);
        let (status, seat_state) = match ttl_ms {
            Some(ttl) => (
                BookingStatus::Held {
                    expires_at: Timestamp(self.now.0 + ttl),
                },
                Seat::Held(id),
            ),
            None => (BookingStatus::Confirmed { at: self.now }, Seat::Booked(id)),
        };
        for &seat in &distinct {
            self.taken.insert((show.clone(), seat), seat_state);
        }
        let booking = Booking {
            id,
            show: show.clone(),
            seats: distinct.into_iter().collect(),
            types: Vec::new(),
            prices: Vec::new(),
            user: user.clone(),
            total_cents: price * i64::try_from(seats.len()).expect("few seats"),
            created_at: self.now,
            status,
            order: hold.map(|(_, order, _)| order.clone()),
            payment: if hold.is_some() {
                Payment::Pending
            } else {
                Payment::None
            },
        };
        self.bookings.insert(id, booking.clone());
        if let Some(network) = hold.filter(|_| !exempt).and_then(|(_, _, l)| l.network) {
            self.networks.insert(id, network);
        }
        if let Some(card) = hold.filter(|_| !exempt).and_then(|(_, _, l)| l.card) {
            self.cards.insert(id, card);
        }
        Ok(Effect::Booking(booking))
    }

    /// The cap per network, by scanning every booking made from it.
    fn check_network(
        &self,
        limits: &HoldLimits,
        show: &ShowId,
        wanted: usize,
    ) -> Result<(), Rejection> {
        let (limit, Some(network)) = (limits.max_seats_per_network, limits.network) else {
            return Ok(());
        };
        let already: usize = self
            .bookings
            .values()
            .filter(|b| b.show == *show && b.status.is_active())
            .filter(|b| self.networks.get(&b.id) == Some(&network))
            .map(|b| b.seats.len())
            .sum();
        let already = u32::try_from(already).expect("few seats");
        if limit > 0 && already + u32::try_from(wanted).expect("few seats") > limit {
            return Err(Rejection::NetworkLimit {
                show: show.clone(),
                network,
                limit,
                already,
            });
        }
        Ok(())
    }

    /// The cap per card, by scanning every active booking it pays for.
    fn check_card(
        &self,
        limit: u32,
        card: Option<CardFingerprint>,
        show: &ShowId,
        wanted: usize,
    ) -> Result<(), Rejection> {
        let Some(card) = card.filter(|_| limit > 0) else {
            return Ok(());
        };
        let already: usize = self
            .bookings
            .values()
            .filter(|b| b.show == *show && b.status.is_active())
            .filter(|b| self.cards.get(&b.id) == Some(&card))
            .map(|b| b.seats.len())
            .sum();
        let already = u32::try_from(already).expect("few seats");
        if already + u32::try_from(wanted).expect("few seats") > limit {
            return Err(Rejection::CardLimit {
                show: show.clone(),
                card,
                limit,
                already,
            });
        }
        Ok(())
    }

    /// The limits against hoarding, by scanning every booking.
    fn check_hold_limits(
        &self,
        limits: &HoldLimits,
        show: &ShowId,
        seats: &BTreeSet<SeatNo>,
        user: &UserId,
    ) -> Result<(), Rejection> {
        let now = self.now.0;
        let mine: Vec<&Booking> = self.bookings.values().filter(|b| b.user == *user).collect();
        let held: usize = mine
            .iter()
            .filter(|b| matches!(b.status, BookingStatus::Held { .. }))
            .map(|b| b.seats.len())
            .sum();
        let held = u32::try_from(held).expect("few seats");
        let limit = limits.max_held_seats;
        if limit > 0 && held + u32::try_from(seats.len()).expect("few") > limit {
            return Err(Rejection::HeldSeatLimit { limit, held });
        }
        let limit = limits.max_holds_per_hour;
        let mut starts: Vec<i64> = mine
            .iter()
            .filter(|b| b.order.is_some() && b.created_at.0 > now - HOLD_RATE_WINDOW_MS)
            .map(|b| b.created_at.0)
            .collect();
        starts.sort_unstable_by(|a, b| b.cmp(a));
        if limit > 0 && starts.len() >= limit as usize {
            return Err(Rejection::HoldRateLimit {
                limit,
                retry_after_ms: starts[limit as usize - 1] + HOLD_RATE_WINDOW_MS - now,
            });
        }
        let cooldown = limits.cooldown_ms;
        let cooling: Vec<(SeatNo, i64)> = mine
            .iter()
            .filter(|b| b.show == *show && cooldown > 0)
            .filter_map(|b| match b.status {
                BookingStatus::Released { at, lapsed: true } => {
                    Some((b, at.0.min(b.created_at.0 + MAX_HOLD_TTL_MS) + cooldown))
                }
                _ => None,
            })
            .filter(|&(_, until)| until > now)
            .flat_map(|(b, until)| {
                b.seats
                    .iter()
                    .filter(|seat| seats.contains(seat))
                    .map(move |&seat| (seat, until))
            })
            .collect();
        if let (Some(seat), Some(until)) = (
            cooling.iter().map(|&(seat, _)| seat).min(),
            cooling.iter().map(|&(_, until)| until).max(),
        ) {
            return Err(Rejection::HoldCooldown {
                show: show.clone(),
                seat,
                retry_after_ms: until - now,
            });
        }
        Ok(())
    }

    /// The expiry of a held booking, or the rejection a hold-only command gets.
    fn held(&self, id: BookingId) -> Result<Timestamp, Rejection> {
        let booking = self
            .bookings
            .get(&id)
            .ok_or(Rejection::BookingNotFound(id))?;
        match booking.status {
            BookingStatus::Held { expires_at } => Ok(expires_at),
            _ => Err(wrong_status(booking, "held")),
        }
    }

    /// Moves an active booking to `status`, updating its seats.
    fn finish(&mut self, id: BookingId, status: BookingStatus) -> Effect {
        let booking = self.bookings.get_mut(&id).expect("booking exists");
        booking.status = status;
        if let (BookingStatus::Cancelled { .. }, Payment::Charged(tx)) = (status, &booking.payment)
        {
            booking.payment = Payment::RefundDue(tx.clone());
        }
        for &seat in &booking.seats {
            let key = (booking.show.clone(), seat);
            match status {
                BookingStatus::Confirmed { .. } => {
                    self.taken.insert(key, Seat::Booked(id));
                }
                _ => {
                    self.taken.remove(&key);
                }
            }
        }
        Effect::Booking(booking.clone())
    }

    fn counts(&self, show: &ShowId) -> (u32, u32) {
        let (mut held, mut booked) = (0, 0);
        for ((_, _), seat) in self
            .taken
            .range((show.clone(), SeatNo(0))..=(show.clone(), SeatNo(u32::MAX)))
        {
            match seat {
                Seat::Held(_) => held += 1,
                Seat::Booked(_) => booked += 1,
                Seat::Available | Seat::HeldBack => {}
            }
        }
        (held, booked)
    }

    fn summary(&self, show: &ShowId) -> ShowSummary {
        let (title, price_cents, starts_at, seat_count) = self.shows[show].clone();
        let (held, booked) = self.counts(show);
        ShowSummary {
            id: show.clone(),
            title,
            seat_count,
            price_cents,
            starts_at,
            available: seat_count - held - booked,
            held,
            booked,
            held_back: 0,
            production: None,
            venue: None,
            cancelled: false,
        }
    }

    /// Turns a generated booking reference into an id.
    fn resolve(&self, pick: &Pick) -> BookingId {
        match pick {
            Pick::Issued(choice) if self.last_id > 0 => {
                let offset = choice.position(usize::try_from(self.last_id).expect("few bookings"));
                BookingId(u64::try_from(offset).expect("small") + 1)
            }
            Pick::Issued(_) => BookingId(1),
            Pick::Raw(raw) => BookingId(*raw),
        }
    }

    /// Whether `caller` (if any) has a current session.
    fn authentic(&self, caller: Option<&Caller>) -> bool {
        caller.is_none_or(|caller| {
            self.users.get(&caller.user).map(|user| user.token_version)
                == Some(caller.token_version)
        })
    }

    /// `user` with a current session.
    fn current(&self, user: UserId) -> Caller {
        Caller {
            token_version: self.users[&user].token_version,
            user,
        }
    }

    /// The caller `who` stands for when sending `op`.
    fn caller(&self, who: &Who, op: &Op) -> Option<Caller> {
        let owner = match op {
            Op::Hold { user, .. } | Op::Book { user, .. } | Op::Cancel(_, user) => {
                Some(account(*user))
            }
            Op::Revoke(user) => Some(account(*user)),
            _ => None,
        };
        let version = |user: &UserId| self.users[user].token_version;
        let current = |user: UserId| Caller {
            token_version: version(&user),
            user,
        };
        match who {
            Who::System => None,
            Who::Owner => owner.map(current),
            Who::Admin => Some(current(ADMIN.into())),
            Who::Other(index) => Some(current(account(*index))),
            Who::Stale => {
                let user = owner.unwrap_or_else(|| ADMIN.into());
                // An earlier version, or one never issued: stale for good either way.
                let token_version = version(&user).checked_sub(1).unwrap_or(u64::MAX);
                Some(Caller {
                    user,
                    token_version,
                })
            }
        }
    }

    /// The command for a non-retry operation; a hold gets order id `order`.
    fn command(&self, op: &Op, order: &str) -> Command {
        let seat_nos = |seats: &[u32]| seats.iter().copied().map(SeatNo).collect();
        match op {
            Op::Hold {
                show,
                seats,
                user,
                ttl_ms,
                cap,
                limits,
            } => Command::Hold {
                order: order.into(),
                show: show_id(*show),
                seats: seat_nos(seats),
                tickets: Default::default(),
                user: USERS[*user].into(),
                ttl_ms: *ttl_ms,
                max_seats_per_user: *cap,
                limits: *limits,
            },
            Op::Book {
                show,
                seats,
                user,
                cap,
            } => Command::Book {
                show: show_id(*show),
                seats: seat_nos(seats),
                tickets: Default::default(),
                user: USERS[*user].into(),
                max_seats_per_user: *cap,
            },
            Op::Confirm(pick, tx) => Command::Confirm {
                booking: self.resolve(pick),
                transaction: tx.map(|n| TransactionId(format!("tx-{n}"))),
            },
            Op::Release(pick) => Command::Release {
                booking: self.resolve(pick),
            },
            Op::AttachCard(pick, card, cap) => Command::AttachCard {
                booking: self.resolve(pick),
                card: card_of(*card),
                max_seats_per_card: *cap,
            },
            Op::Settle(pick, tx) => Command::Settle {
                booking: self.resolve(pick),
                charge: tx.map(|n| TransactionId(format!("tx-{n}"))),
            },
            Op::RecordRefund(pick) => Command::RecordRefund {
                booking: self.resolve(pick),
            },
            Op::Cancel(pick, user) => Command::Cancel {
                booking: self.resolve(pick),
                user: USERS[*user].into(),
            },
            Op::Expire | Op::Retry(_) | Op::Reuse(_) => Command::ExpireHolds,
            Op::Resize { show, seat_count } => Command::UpdateShow {
                show: show_id(*show),
                title: None,
                seat_count: Some(*seat_count),
                price_cents: None,
                starts_at: None,
            },
            Op::Revoke(user) => Command::RevokeSessions {
                user: account(*user),
            },
        }
    }
}

fn wrong_status(booking: &Booking, expected: &str) -> Rejection {
    Rejection::WrongStatus {
        booking: booking.id,
        status: booking.status.to_string(),
        expected: expected.into(),
    }
}

/// Whether `request`, answered with `outcome`, is the logout that ended
/// its caller's session.
fn ended_its_session(request: &Request, outcome: &Outcome) -> bool {
    let (Some(caller), Command::RevokeSessions { user }) = (&request.caller, &request.command)
    else {
        return false;
    };
    *user == caller.user
        && matches!(outcome, Ok(Effect::User(u)) if u.token_version == caller.token_version + 1)
}

/// Equal outcomes, except that the messages of `Invalid`, `Unauthenticated`
/// and `PermissionDenied` are not compared.
fn same_outcome(actual: &Outcome, predicted: &Outcome) -> bool {
    match (actual, predicted) {
        (Err(Rejection::Invalid(_)), Err(Rejection::Invalid(_)))
        | (Err(Rejection::Unauthenticated(_)), Err(Rejection::Unauthenticated(_)))
        | (Err(Rejection::PermissionDenied(_)), Err(Rejection::PermissionDenied(_))) => true,
        _ => actual == predicted,
    }
}

/// Checks the state against the model and the seat-conservation properties.
fn check_against_model(state: &State, model: &Model) -> Result<(), TestCaseError> {
    if let Err(problem) = state.check_invariants() {
        return Err(TestCaseError::fail(problem.to_string()));
    }
    prop_assert_eq!(state.now(), model.now);
    let shows: Vec<ShowSummary> = state.shows().map(Show::summary).collect();
    let expected: Vec<ShowSummary> = model.shows.keys().map(|id| model.summary(id)).collect();
    prop_assert_eq!(shows, expected);
    for show in state.shows() {
        prop_assert_eq!(
            u64::from(show.available()) + u64::from(show.held) + u64::from(show.booked),
            u64::from(show.seat_count())
        );
        for no in (1..=show.seat_count()).map(SeatNo) {
            let expected = model
                .taken
                .get(&(show.id.clone(), no))
                .copied()
                .unwrap_or(Seat::Available);
            prop_assert_eq!(show.seat(no), Some(expected), "seat {} of {}", no, show.id);
        }
        prop_assert_eq!(show.seat(SeatNo(0)), None);
        prop_assert_eq!(show.seat(SeatNo(show.seat_count() + 1)), None);
    }
    // No seat is held or booked by two active bookings.
    let mut occupied = BTreeSet::new();
    for id in (1..=model.last_id).map(BookingId) {
        let booking = state.booking(id);
        prop_assert_eq!(booking.as_ref(), model.bookings.get(&id));
        if let Some(booking) = booking.filter(|b| b.status.is_active()) {
            for &seat in &booking.seats {
                prop_assert!(
                    occupied.insert((booking.show.clone(), seat)),
                    "seat {} of {} is in two active bookings",
                    seat,
                    booking.show
                );
            }
        }
    }
    prop_assert_eq!(state.booking(BookingId(model.last_id + 1)), None);
    prop_assert_eq!(state.booking(BookingId(0)), None);
    for user in USERS {
        let user = UserId::from(user);
        let actual: Vec<Booking> = state.bookings_of(&user).collect();
        let expected: Vec<Booking> = model
            .bookings
            .values()
            .filter(|b| b.user == user)
            .cloned()
            .collect();
        prop_assert_eq!(actual, expected);
    }
    // The active-seat index agrees with a recount of the model's bookings.
    for user in USERS.into_iter().chain([ADMIN]).map(UserId::from) {
        let mine = || model.bookings.values().filter(|b| b.user == user);
        let held: usize = mine()
            .filter(|b| matches!(b.status, BookingStatus::Held { .. }))
            .map(|b| b.seats.len())
            .sum();
        prop_assert_eq!(state.held_seats(&user) as usize, held, "held by {}", user);
        for show in model.shows.keys() {
            let active: usize = mine()
                .filter(|b| b.show == *show && b.status.is_active())
                .map(|b| b.seats.len())
                .sum();
            prop_assert_eq!(
                state.active_seats(&user, show) as usize,
                active,
                "{} in {}",
                user,
                show
            );
        }
    }
    let next_expiry = model
        .bookings
        .values()
        .filter_map(|b| match b.status {
            BookingStatus::Held { expires_at } => Some(expires_at),
            _ => None,
        })
        .min();
    prop_assert_eq!(state.next_hold_expiry(), next_expiry);
    let mut holds: Vec<(Timestamp, BookingId)> = model
        .bookings
        .values()
        .filter_map(|b| match b.status {
            BookingStatus::Held { expires_at } => Some((expires_at, b.id)),
            _ => None,
        })
        .collect();
    holds.sort_unstable();
    let actual: Vec<BookingId> = state.holds().map(|b| b.id).collect();
    prop_assert_eq!(
        actual,
        holds.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    );
    // The bookings the system must still settle: ended holds whose payment
    // is pending, and refunds due.
    let unsettled: Vec<BookingId> = model
        .bookings
        .values()
        .filter(|b| match b.payment {
            Payment::Pending => !matches!(b.status, BookingStatus::Held { .. }),
            Payment::RefundDue(_) => true,
            _ => false,
        })
        .map(|b| b.id)
        .collect();
    let actual: Vec<BookingId> = state.unsettled().map(|b| b.id).collect();
    prop_assert_eq!(actual, unsettled);
    let users: Vec<UserSummary> = state.users().map(User::summary).collect();
    let mut expected: Vec<UserSummary> = model.users.values().cloned().collect();
    expected.sort_by(|a, b| a.email.cmp(&b.email));
    prop_assert_eq!(users, expected);
    for (id, user) in &model.users {
        let actual = state.user(id).map(User::summary);
        prop_assert_eq!(actual.as_ref(), Some(user));
        let caller = Caller {
            user: id.clone(),
            token_version: user.token_version,
        };
        prop_assert_eq!(state.authenticate(&caller).map(|u| &u.id), Ok(id));
    }
    prop_assert_eq!(
        state.admin_count(),
        model.users.values().filter(|u| u.admin).count()
    );
    Ok(())
}

/// Serializes and restores `state`, which must come back equal.
fn round_trip(state: &State) -> Result<State, TestCaseError> {
    let bytes = postcard::to_allocvec(state).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let restored: State =
        postcard::from_bytes(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&restored, state);
    Ok(restored)
}

/// An applied request, its outcome, and whether it was recorded for dedup.
struct Sent {
    request: Request,
    outcome: Outcome,
    /// True for successes, except those [`Request::remembered`] leaves out.
    recorded: bool,
}

/// Runs one random history; see the module documentation.
fn run_history(steps: &[(i64, Op, Who)], last: &(Op, Who)) -> Result<(), TestCaseError> {
    let mut state = State::new();
    let mut model = Model::new();
    let mut history: Vec<Sent> = Vec::new();
    let mut at = T0;
    let mut fresh = 0u64;
    let mut next_request = |caller: Option<Caller>, command: Command| {
        fresh += 1;
        Request {
            request_id: RequestId(format!("q-{fresh}")),
            caller,
            command,
        }
    };

    let mut setup = vec![Command::BootstrapAdmin {
        email: ADMIN_EMAIL.into(),
        password_hash: HASH.into(),
    }];
    setup.extend(EMAILS.map(|email| Command::RegisterUser {
        email: email.into(),
        password_hash: HASH.into(),
        admin: false,
    }));
    for (index, (start, price)) in STARTS.into_iter().zip(PRICES).enumerate() {
        setup.push(Command::CreateShow {
            show: show_id(index),
            title: format!("Show {index}"),
            seat_count: SEATS,
            price_cents: price,
            starts_at: Timestamp(T0 + start),
        });
    }
    for (index, command) in setup.into_iter().enumerate() {
        // The first show is created by the administrator, everything else by the system.
        let caller = (index == 1 + EMAILS.len()).then(|| Caller {
            user: ADMIN.into(),
            token_version: 0,
        });
        let request = next_request(caller, command);
        let outcome = state.apply(Timestamp(at), &request);
        let predicted = model.apply(Timestamp(at), request.caller.as_ref(), &request.command);
        prop_assert_eq!(&outcome, &predicted);
        prop_assert!(outcome.is_ok(), "setup failed: {:?}", outcome);
        history.push(Sent {
            request,
            outcome,
            recorded: true,
        });
    }
    for (index, user) in USERS.iter().enumerate() {
        prop_assert_eq!(
            state.user_by_email(EMAILS[index]).map(|u| u.id.as_str()),
            Some(*user)
        );
    }

    for (step, (dt, op, who)) in steps.iter().enumerate() {
        at += dt;
        let time = Timestamp(at);
        match op {
            Op::Retry(choice) => {
                let index = choice.position(history.len());
                let sent = &history[index];
                let mut request = sent.request.clone();
                if let Command::Hold { order, .. } = &mut request.command {
                    // The edge draws a new order id for every attempt.
                    *order = OrderId(format!("ord-retry-{step}"));
                }
                let before = state.clone();
                let outcome = state.apply(time, &request);
                // A revoked session gets a recorded outcome only for the
                // logout that ended it.
                let replayed = sent.recorded
                    && (model.authentic(request.caller.as_ref())
                        || ended_its_session(&sent.request, &sent.outcome));
                if replayed {
                    prop_assert_eq!(&outcome, &sent.outcome, "retry of {:?}", sent.request);
                    prop_assert_eq!(&state, &before, "a retry changed the state");
                } else {
                    // Not recorded (a rejection, or the system's
                    // confirmation), or refused to a stale session: judged
                    // afresh, like any new request.
                    let predicted = model.apply(time, request.caller.as_ref(), &request.command);
                    prop_assert!(
                        same_outcome(&outcome, &predicted),
                        "retry of {:?}\n got {:?}\n expected {:?}",
                        sent.request,
                        outcome,
                        predicted
                    );
                    if matches!(outcome, Err(Rejection::Unauthenticated(_))) {
                        prop_assert_eq!(&state, &before, "an unauthenticated retry left a trace");
                    }
                    let recorded = outcome.is_ok() && request.remembered();
                    if recorded {
                        history[index] = Sent {
                            request,
                            outcome,
                            recorded,
                        };
                    }
                }
            }
            Op::Reuse(choice) => {
                let recorded: Vec<&Sent> = history.iter().filter(|sent| sent.recorded).collect();
                let request = &recorded[choice.position(recorded.len())].request;
                // The same sender, with a current session, under the same id.
                let caller = request
                    .caller
                    .as_ref()
                    .map(|caller| model.current(caller.user.clone()));
                let other = Request {
                    request_id: request.request_id.clone(),
                    caller,
                    command: Command::Release {
                        booking: BookingId(u64::MAX),
                    },
                };
                let before = state.clone();
                let outcome = state.apply(time, &other);
                prop_assert_eq!(
                    outcome,
                    Err(Rejection::RequestIdReused(request.request_id.clone()))
                );
                prop_assert_eq!(&state, &before, "a reused id changed the state");
            }
            _ => {
                let command = model.command(op, &format!("ord-{step}"));
                let request = next_request(model.caller(who, op), command);
                let before = state.clone();
                let outcome = state.apply(time, &request);
                let predicted = model.apply(time, request.caller.as_ref(), &request.command);
                prop_assert!(
                    same_outcome(&outcome, &predicted),
                    "step {}: {:?} from {:?}\n got {:?}\n expected {:?}",
                    step,
                    request.command,
                    request.caller,
                    outcome,
                    predicted
                );
                let recorded = outcome.is_ok() && request.remembered();
                if matches!(outcome, Err(Rejection::Unauthenticated(_))) {
                    prop_assert_eq!(&state, &before, "an unauthenticated request left a trace");
                }
                history.push(Sent {
                    request,
                    outcome,
                    recorded,
                });
            }
        }
        check_against_model(&state, &model)?;
        if step % 50 == 49 {
            state = round_trip(&state)?;
        }
    }

    // A restored snapshot behaves exactly like the original.
    let mut restored = round_trip(&state)?;
    let (op, who) = last;
    let request = next_request(model.caller(who, op), model.command(op, "ord-last"));
    at += 1_000;
    let original = state.apply(Timestamp(at), &request);
    let replica = restored.apply(Timestamp(at), &request);
    prop_assert_eq!(original, replica);
    prop_assert_eq!(restored, state);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random histories keep every invariant and match the reference model.
    #[test]
    fn random_histories_match_the_model(steps in steps(), last in (op(), who())) {
        run_history(&steps, &last)?;
    }
}

/// A fixed history that exercises every operation, as a quick smoke test of the harness.
#[test]
fn scripted_history_matches_the_model() {
    let i = Choice::Nth;
    let hold = |show, seats: &[u32], user, ttl_ms, cap| Op::Hold {
        show,
        seats: seats.to_vec(),
        user,
        ttl_ms,
        cap,
        limits: HoldLimits::NONE,
    };
    let book = |show, seats: &[u32], user, cap| Op::Book {
        show,
        seats: seats.to_vec(),
        user,
        cap,
    };
    let steps = vec![
        (0, hold(0, &[1, 2], 0, 30_000, 0), Who::Owner),
        (10, book(0, &[2, 3], 1, 0), Who::Owner),
        (10, book(0, &[3, 4], 1, 0), Who::System),
        // Over ben's cap of 3 on show 0 (he has 3, 4).
        (10, book(0, &[5, 6], 1, 3), Who::Owner),
        // Someone else's booking, and a customer confirming: refused.
        (10, book(0, &[5], 1, 0), Who::Other(0)),
        (10, Op::Confirm(Pick::Issued(i(0)), Some(1)), Who::Owner),
        (10, Op::Confirm(Pick::Issued(i(0)), Some(1)), Who::Other(0)),
        (10, Op::Confirm(Pick::Issued(i(0)), None), Who::System),
        (10, Op::Confirm(Pick::Issued(i(0)), Some(1)), Who::System),
        (10, Op::Confirm(Pick::Issued(i(0)), Some(1)), Who::System),
        (10, Op::Cancel(Pick::Issued(i(0)), 0), Who::Owner),
        (10, Op::RecordRefund(Pick::Issued(i(0))), Who::Owner),
        (10, Op::RecordRefund(Pick::Issued(i(0))), Who::System),
        (10, Op::Cancel(Pick::Issued(i(1)), 0), Who::Owner),
        (10, Op::Cancel(Pick::Issued(i(1)), 1), Who::Owner),
        // Cancelled seats no longer count against the cap.
        (10, book(0, &[5, 6], 1, 3), Who::Owner),
        (10, Op::Retry(i(3)), Who::System),
        (10, Op::Reuse(i(4)), Who::System),
        // Logout: cat's old token is refused, then her retry of it too.
        (10, Op::Revoke(2), Who::Owner),
        (10, hold(1, &[1], 2, 1_000, 0), Who::Stale),
        (10, Op::Retry(i(17)), Who::System),
        (10, Op::Revoke(2), Who::Other(0)),
        (10, Op::Revoke(2), Who::Admin),
        (10, hold(1, &[8, 9], 2, 1_000, 0), Who::Owner),
        (10, hold(1, &[8], 2, 1_000, 2), Who::Owner),
        (5_000, Op::Expire, Who::Owner),
        (10, Op::Expire, Who::Admin),
        (10, Op::Settle(Pick::Issued(i(3)), None), Who::System),
        (10, Op::Settle(Pick::Issued(i(4)), Some(2)), Who::System),
        (10, Op::Settle(Pick::Issued(i(4)), None), Who::System),
        (
            10,
            Op::Resize {
                show: 1,
                seat_count: 4,
            },
            Who::Other(1),
        ),
        (
            10,
            Op::Resize {
                show: 1,
                seat_count: 4,
            },
            Who::Admin,
        ),
        (-100, Op::Release(Pick::Raw(0)), Who::System),
        (2_000_000, hold(1, &[1], 2, 1_000, 0), Who::Owner),
    ];
    if let Err(error) = run_history(&steps, &(Op::Expire, Who::System)) {
        panic!("{error}");
    }
}
