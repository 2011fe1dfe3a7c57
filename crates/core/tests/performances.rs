//! Property test of performances against a model: one venue (two stalls
//! rows, a circle row and a standing floor), three performances, two price
//! categories and two ticket types, under random interleavings of holds
//! and direct bookings (named seats with types, standing places),
//! confirmations, releases, expiry sweeps, cancellations, partial returns,
//! settlements, recorded refunds, performance cancellations and held-back
//! seats, by three customers.
//!
//! The model keeps its own seat map per performance, its own price table
//! and every booking's places, types, prices, status and payment; it
//! predicts whether each request succeeds. After every step:
//!
//! - `check_invariants` passes, and the state agrees with the model on
//!   every seat and every booking (so no place is in two active bookings
//!   and no standing area sells beyond its capacity);
//! - every ticket's price is its category's price for its type, as the
//!   model computes it;
//! - for every order, its bookings' totals (kept + returned) add up to the
//!   original total, and those refunded or due for a refund never exceed
//!   the charge;
//! - a cancelled performance has no active booking; each of its charged
//!   bookings became RefundDue once (cancelling again changes no booking,
//!   and recording a refund twice changes nothing after the first);
//! - a retried hold or booking (its request id again) gets its first
//!   outcome, even after returns, and changes nothing.
//!
//! `PROPTEST_CASES` scales the number of cases (default 64).

use std::collections::BTreeMap;

use boxoffice_core::*;
use proptest::prelude::*;

/// Places of the venue: Stalls A-1..4 (1-4), Stalls B-1..4 (5-8), Circle
/// A-1..3 (9-11), then the Floor's standing places (12-14).
const SEATS: u32 = 11;
/// Standing places on the Floor.
const FLOOR: u32 = 3;
/// All places.
const PLACES: u32 = SEATS + FLOOR;
/// Performances.
const PERFS: usize = 3;
/// Customers.
const USERS: [&str; 3] = ["u1", "u2", "u3"];
/// The ticket types, by number.
const TYPES: [&str; 2] = ["adult", "concession"];

/// The model's price of `ticket_type` at `place`: category A (Stalls A
/// and the Circle) sells both types, category B (Stalls B and the Floor)
/// only adult tickets.
fn model_price(place: u32, ticket_type: u8) -> Option<i64> {
    let category_a = (1..=4).contains(&place) || (9..=11).contains(&place);
    match (category_a, ticket_type) {
        (true, 0) => Some(4_000),
        (true, 1) => Some(3_000),
        (false, 0) => Some(2_500),
        _ => None,
    }
}

fn venue() -> Venue {
    let row = |label: &str, count: i32, y: i32| Row {
        label: label.to_owned(),
        seats: (0..count)
            .map(|i| VenueSeat {
                label: (i + 1).to_string(),
                x: i * 10,
                y,
                attrs: SeatAttrs::default(),
            })
            .collect(),
    };
    Venue {
        name: "Model Hall".to_owned(),
        stage: Stage {
            x: 0,
            y: 0,
            width: 40,
            height: 20,
        },
        sections: vec![
            Section {
                name: "Stalls".to_owned(),
                rows: vec![row("A", 4, 40), row("B", 4, 50)],
            },
            Section {
                name: "Circle".to_owned(),
                rows: vec![row("A", 3, 80)],
            },
        ],
        areas: vec![StandingArea {
            name: "Floor".to_owned(),
            capacity: FLOOR,
            bounds: Stage {
                x: 0,
                y: 100,
                width: 40,
                height: 20,
            },
        }],
    }
}

fn pricing() -> PricingSpec {
    let rule = |section: &str, row: &str| PlaceRule::Rows {
        section: section.to_owned(),
        from: row.to_owned(),
        to: row.to_owned(),
    };
    let price = |category: &str, ticket_type: &str, cents| PriceSpec {
        category: category.to_owned(),
        ticket_type: ticket_type.to_owned(),
        cents,
    };
    PricingSpec {
        categories: vec![
            CategorySpec {
                name: "A".to_owned(),
                rules: vec![rule("Stalls", "A"), PlaceRule::Section("Circle".to_owned())],
            },
            CategorySpec {
                name: "B".to_owned(),
                rules: vec![rule("Stalls", "B"), PlaceRule::Area("Floor".to_owned())],
            },
        ],
        ticket_types: TYPES.iter().map(|t| (*t).to_owned()).collect(),
        prices: vec![
            price("A", "adult", 4_000),
            price("A", "concession", 3_000),
            price("B", "adult", 2_500),
        ],
    }
}

/// One random step.
#[derive(Clone, Debug)]
enum Op {
    /// Hold (or, with `book`, book) named seats with types and standing places.
    Take {
        perf: usize,
        seats: Vec<(u32, u8)>,
        standing: (u32, u8),
        user: usize,
        ttl_s: i64,
        book: bool,
    },
    Confirm(usize),
    Release(usize),
    /// Advance the clock by this many seconds, then sweep expired holds.
    Expire(i64),
    /// Cancel a booking, asked by its owner or (false) someone else.
    Cancel(usize, bool),
    /// Return the tickets of a booking picked by a bit mask (none: the first).
    Return(usize, u8, bool),
    CancelPerformance(usize),
    HoldBack(usize, Vec<u32>),
    ReleaseHeldBack(usize, Vec<u32>),
    Settle(usize, bool),
    RecordRefund(usize),
    /// Send an earlier successful hold or booking again, under its request id.
    Retry(usize),
}

fn op() -> impl Strategy<Value = Op> {
    // Mostly adult tickets: concession is not sold in category B.
    let ticket_type = prop_oneof![3 => Just(0u8), 1 => Just(1u8)];
    let seats = prop::collection::btree_map(1..=SEATS, ticket_type.clone(), 0..=3)
        .prop_map(|m| m.into_iter().collect::<Vec<_>>());
    let places = prop::collection::btree_set(1..=PLACES, 1..=2)
        .prop_map(|s| s.into_iter().collect::<Vec<_>>());
    prop_oneof![
        12 => (0..PERFS, seats, (0..=2u32, ticket_type), 0..USERS.len(), 30..300i64, any::<bool>())
            .prop_map(|(perf, seats, standing, user, ttl_s, book)| Op::Take {
                perf, seats, standing, user, ttl_s, book
            }),
        8 => any::<usize>().prop_map(Op::Confirm),
        1 => any::<usize>().prop_map(Op::Release),
        2 => (1..90i64).prop_map(Op::Expire),
        2 => (any::<usize>(), prop::bool::weighted(0.8)).prop_map(|(b, o)| Op::Cancel(b, o)),
        6 => (any::<usize>(), any::<u8>(), prop::bool::weighted(0.9))
            .prop_map(|(b, m, o)| Op::Return(b, m, o)),
        1 => (0..PERFS).prop_map(Op::CancelPerformance),
        1 => (0..PERFS, places.clone()).prop_map(|(p, s)| Op::HoldBack(p, s)),
        1 => (0..PERFS, places).prop_map(|(p, s)| Op::ReleaseHeldBack(p, s)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(b, c)| Op::Settle(b, c)),
        2 => any::<usize>().prop_map(Op::RecordRefund),
        2 => any::<usize>().prop_map(Op::Retry),
    ]
}

/// A place of a performance, as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Free,
    Taken(u64),
    HeldBack,
}

/// The life of a booking, as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    Held(i64),
    Confirmed,
    Ended,
}

/// The money of a booking, as the model sees it (the charge is `tx-<id>`
/// of the booking first confirmed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Money {
    None,
    Pending,
    NotCharged,
    Charged(u64),
    RefundDue(u64),
    Refunded(u64),
}

#[derive(Clone, Debug)]
struct ModelBooking {
    perf: usize,
    user: usize,
    /// Places with their types, ascending.
    tickets: Vec<(u32, u8)>,
    life: Life,
    money: Money,
    order: Option<String>,
}

impl ModelBooking {
    fn total(&self) -> i64 {
        self.tickets
            .iter()
            .map(|&(p, t)| model_price(p, t).unwrap_or(0))
            .sum()
    }
}

struct Harness {
    state: State,
    now: i64,
    requests: u64,
    seats: Vec<Vec<Place>>,
    cancelled: Vec<bool>,
    bookings: BTreeMap<u64, ModelBooking>,
    last_id: u64,
    /// Each order's original total and whether it was charged.
    orders: BTreeMap<String, (i64, bool)>,
    holds: u64,
    /// Every successful hold or booking with its outcome, to retry.
    taken: Vec<(Request, Outcome)>,
}

fn perf_id(perf: usize) -> ShowId {
    ShowId(format!("p{perf}"))
}

impl Harness {
    fn new() -> Self {
        let mut h = Self {
            state: State::new(),
            now: 1_000,
            requests: 0,
            seats: vec![vec![Place::Free; PLACES as usize]; PERFS],
            cancelled: vec![false; PERFS],
            bookings: BTreeMap::new(),
            last_id: 0,
            orders: BTreeMap::new(),
            holds: 0,
            taken: Vec::new(),
        };
        h.apply(Command::CreateVenue {
            venue: "hall".into(),
            layout: venue(),
        })
        .expect("venue");
        h.apply(Command::CreateProduction {
            production: "play".into(),
            title: "Play".to_owned(),
            description: String::new(),
            running_minutes: 90,
        })
        .expect("production");
        h.apply(Command::AddPerformances {
            production: "play".into(),
            venue: "hall".into(),
            performances: (0..PERFS)
                .map(|p| NewPerformance {
                    show: perf_id(p),
                    starts_at: Timestamp(1_000_000_000 + p as i64),
                })
                .collect(),
            sales: SalesWindow::default(),
            pricing: pricing(),
        })
        .expect("performances");
        h
    }

    fn apply(&mut self, command: Command) -> Outcome {
        self.requests += 1;
        let request = Request {
            request_id: RequestId(format!("r{}", self.requests)),
            caller: None,
            command,
        };
        let outcome = self.state.apply(Timestamp(self.now), &request);
        if outcome.is_ok() && matches!(request.command, Command::Hold { .. } | Command::Book { .. })
        {
            self.taken.push((request, outcome.clone()));
        }
        outcome
    }

    /// Every booking and seat, to compare before and after a retry.
    fn business(&self) -> (Vec<Option<Booking>>, Vec<Show>) {
        (
            (1..=self.last_id)
                .map(|id| self.state.booking(BookingId(id)))
                .collect(),
            self.state.shows().cloned().collect(),
        )
    }

    fn pick(&self, n: usize) -> Option<u64> {
        (self.last_id > 0).then(|| n as u64 % self.last_id + 1)
    }

    /// Ends an active booking as the state machine does.
    fn end(&mut self, id: u64) {
        let b = self.bookings.get_mut(&id).expect("booking");
        for &(p, _) in &b.tickets {
            self.seats[b.perf][p as usize - 1] = Place::Free;
        }
        b.life = Life::Ended;
        if let Money::Charged(tx) = b.money {
            b.money = Money::RefundDue(tx);
        }
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Take {
                perf,
                seats,
                standing,
                user,
                ttl_s,
                book,
            } => self.take(*perf, seats, *standing, *user, *ttl_s, *book),
            Op::Confirm(n) => {
                let Some(id) = self.pick(*n) else { return };
                let b = &self.bookings[&id];
                let ok = match (b.life, b.money) {
                    (Life::Confirmed, Money::Charged(tx)) => tx == id,
                    (Life::Held(expires), _) => expires > self.now,
                    _ => false,
                };
                let out = self.apply(Command::Confirm {
                    booking: BookingId(id),
                    transaction: Some(TransactionId(format!("tx-{id}"))),
                });
                assert_eq!(out.is_ok(), ok, "confirm {id}: {out:?}");
                if ok {
                    let b = self.bookings.get_mut(&id).expect("booking");
                    b.life = Life::Confirmed;
                    b.money = Money::Charged(id);
                    if let Some(order) = &b.order {
                        self.orders.get_mut(order).expect("order").1 = true;
                    }
                }
            }
            Op::Release(n) => {
                let Some(id) = self.pick(*n) else { return };
                let ok = matches!(self.bookings[&id].life, Life::Held(_));
                let out = self.apply(Command::Release {
                    booking: BookingId(id),
                });
                assert_eq!(out.is_ok(), ok, "release {id}: {out:?}");
                if ok {
                    self.end(id);
                }
            }
            Op::Expire(s) => {
                self.now += s * 1_000;
                let out = self.apply(Command::ExpireHolds);
                let due: Vec<u64> = self
                    .bookings
                    .iter()
                    .filter(|(_, b)| matches!(b.life, Life::Held(e) if e <= self.now))
                    .map(|(&id, _)| id)
                    .collect();
                assert_eq!(
                    out,
                    Ok(Effect::Expired {
                        released: due.len() as u32
                    })
                );
                for id in due {
                    self.end(id);
                }
            }
            Op::Cancel(n, owner) => {
                let Some(id) = self.pick(*n) else { return };
                let (owner_no, life) = (self.bookings[&id].user, self.bookings[&id].life);
                let user = if *owner {
                    owner_no
                } else {
                    (owner_no + 1) % USERS.len()
                };
                let out = self.apply(Command::Cancel {
                    booking: BookingId(id),
                    user: USERS[user].into(),
                });
                assert_eq!(out.is_ok(), *owner, "cancel {id}: {out:?}");
                if *owner && life != Life::Ended {
                    self.end(id);
                }
            }
            Op::Return(n, mask, owner) => self.return_tickets(*n, *mask, *owner),
            Op::CancelPerformance(perf) => self.cancel_performance(*perf),
            Op::HoldBack(perf, places) => {
                let ok = places
                    .iter()
                    .all(|&p| self.seats[*perf][p as usize - 1] == Place::Free);
                let out = self.apply(Command::HoldBack {
                    show: perf_id(*perf),
                    seats: places.iter().map(|&p| SeatNo(p)).collect(),
                    reason: "house".to_owned(),
                });
                assert_eq!(out.is_ok(), ok, "hold back {places:?}: {out:?}");
                if ok {
                    for &p in places {
                        self.seats[*perf][p as usize - 1] = Place::HeldBack;
                    }
                }
            }
            Op::ReleaseHeldBack(perf, places) => {
                let ok = places
                    .iter()
                    .all(|&p| self.seats[*perf][p as usize - 1] == Place::HeldBack);
                let out = self.apply(Command::ReleaseHeldBack {
                    show: perf_id(*perf),
                    seats: places.iter().map(|&p| SeatNo(p)).collect(),
                });
                assert_eq!(out.is_ok(), ok, "release held back {places:?}: {out:?}");
                if ok {
                    for &p in places {
                        self.seats[*perf][p as usize - 1] = Place::Free;
                    }
                }
            }
            Op::Settle(n, charged) => {
                let Some(id) = self.pick(*n) else { return };
                let b = &self.bookings[&id];
                let ok = b.money == Money::Pending && b.life == Life::Ended;
                let out = self.apply(Command::Settle {
                    booking: BookingId(id),
                    charge: charged.then(|| TransactionId(format!("tx-{id}"))),
                });
                assert_eq!(out.is_ok(), ok, "settle {id}: {out:?}");
                if ok {
                    let b = self.bookings.get_mut(&id).expect("booking");
                    b.money = if *charged {
                        Money::RefundDue(id)
                    } else {
                        Money::NotCharged
                    };
                    if *charged && let Some(order) = &b.order {
                        self.orders.get_mut(order).expect("order").1 = true;
                    }
                }
            }
            Op::Retry(n) => {
                if self.taken.is_empty() {
                    return;
                }
                let (request, first) = self.taken[n % self.taken.len()].clone();
                let before = self.business();
                let again = self.state.apply(Timestamp(self.now), &request);
                assert_eq!(again, first, "retry of {:?}", request.request_id);
                assert!(
                    self.business() == before,
                    "a retry changed bookings or seats"
                );
            }
            Op::RecordRefund(n) => {
                let Some(id) = self.pick(*n) else { return };
                let b = &self.bookings[&id];
                let ok = matches!(b.money, Money::RefundDue(_) | Money::Refunded(_));
                let out = self.apply(Command::RecordRefund {
                    booking: BookingId(id),
                });
                assert_eq!(out.is_ok(), ok, "record refund {id}: {out:?}");
                if ok {
                    let b = self.bookings.get_mut(&id).expect("booking");
                    if let Money::RefundDue(tx) = b.money {
                        b.money = Money::Refunded(tx);
                    }
                    // Recording it again changes no booking.
                    let before = self.state.booking(BookingId(id));
                    let again = self.apply(Command::RecordRefund {
                        booking: BookingId(id),
                    });
                    assert!(again.is_ok());
                    assert_eq!(self.state.booking(BookingId(id)), before);
                }
            }
        }
    }

    fn take(
        &mut self,
        perf: usize,
        seats: &[(u32, u8)],
        standing: (u32, u8),
        user: usize,
        ttl_s: i64,
        book: bool,
    ) {
        let map = &self.seats[perf];
        let free_floor: Vec<u32> = (SEATS + 1..=PLACES)
            .filter(|&p| map[p as usize - 1] == Place::Free)
            .collect();
        let (count, standing_type) = standing;
        let ok = !self.cancelled[perf]
            && (!seats.is_empty() || count > 0)
            && seats
                .iter()
                .all(|&(p, t)| map[p as usize - 1] == Place::Free && model_price(p, t).is_some())
            && (count == 0
                || (free_floor.len() >= count as usize
                    && model_price(PLACES, standing_type).is_some()));
        let tickets = Tickets {
            types: seats
                .iter()
                .map(|&(_, t)| TYPES[t as usize].to_owned())
                .collect(),
            standing: if count > 0 {
                vec![StandingRequest {
                    area: "Floor".to_owned(),
                    count,
                    ticket_type: TYPES[standing_type as usize].to_owned(),
                }]
            } else {
                Vec::new()
            },
            best: None,
        };
        let seat_nos: Vec<SeatNo> = seats.iter().map(|&(p, _)| SeatNo(p)).collect();
        let order = (!book).then(|| {
            self.holds += 1;
            format!("ord-{}", self.holds)
        });
        let command = match &order {
            None => Command::Book {
                show: perf_id(perf),
                seats: seat_nos,
                tickets,
                user: USERS[user].into(),
                max_seats_per_user: 0,
            },
            Some(order) => Command::Hold {
                order: OrderId(order.clone()),
                show: perf_id(perf),
                seats: seat_nos,
                tickets,
                user: USERS[user].into(),
                ttl_ms: ttl_s * 1_000,
                max_seats_per_user: 0,
                limits: HoldLimits::NONE,
            },
        };
        let out = self.apply(command);
        assert_eq!(
            out.is_ok(),
            ok,
            "take {seats:?} {standing:?} at p{perf}: {out:?}"
        );
        if !ok {
            return;
        }
        let mut tickets: Vec<(u32, u8)> = seats.to_vec();
        tickets.extend(
            free_floor
                .iter()
                .take(count as usize)
                .map(|&p| (p, standing_type)),
        );
        tickets.sort_unstable();
        self.last_id += 1;
        let id = self.last_id;
        for &(p, _) in &tickets {
            self.seats[perf][p as usize - 1] = Place::Taken(id);
        }
        let booking = ModelBooking {
            perf,
            user,
            tickets,
            life: if book {
                Life::Confirmed
            } else {
                Life::Held(self.now + ttl_s * 1_000)
            },
            money: if book { Money::None } else { Money::Pending },
            order: order.clone(),
        };
        if let Some(order) = order {
            self.orders.insert(order, (booking.total(), false));
        }
        self.bookings.insert(id, booking);
    }

    fn return_tickets(&mut self, n: usize, mask: u8, owner: bool) {
        let Some(id) = self.pick(n) else { return };
        let b = self.bookings[&id].clone();
        let mut returned: Vec<(u32, u8)> = b
            .tickets
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << (i % 8)) != 0)
            .map(|(_, &t)| t)
            .collect();
        if returned.is_empty() {
            returned = b.tickets.iter().take(1).copied().collect();
        }
        let user = if owner {
            b.user
        } else {
            (b.user + 1) % USERS.len()
        };
        let ok = owner && b.life == Life::Confirmed && !returned.is_empty();
        let out = self.apply(Command::ReturnTickets {
            booking: BookingId(id),
            seats: returned.iter().map(|&(p, _)| SeatNo(p)).collect(),
            user: USERS[user].into(),
        });
        assert_eq!(out.is_ok(), ok, "return {returned:?} of {id}: {out:?}");
        if !ok {
            return;
        }
        if returned.len() == b.tickets.len() {
            self.end(id);
            return;
        }
        let kept: Vec<(u32, u8)> = b
            .tickets
            .iter()
            .filter(|t| !returned.contains(t))
            .copied()
            .collect();
        for &(p, _) in &returned {
            self.seats[b.perf][p as usize - 1] = Place::Free;
        }
        self.bookings.get_mut(&id).expect("booking").tickets = kept;
        self.last_id += 1;
        let mut gone = ModelBooking {
            tickets: returned,
            life: Life::Ended,
            money: Money::None,
            ..b.clone()
        };
        if let Money::Charged(tx) = b.money
            && gone.total() > 0
        {
            gone.money = Money::RefundDue(tx);
        }
        self.bookings.insert(self.last_id, gone);
    }

    fn cancel_performance(&mut self, perf: usize) {
        let charged: Vec<u64> = self
            .bookings
            .iter()
            .filter(|(_, b)| {
                b.perf == perf && b.life == Life::Confirmed && matches!(b.money, Money::Charged(_))
            })
            .map(|(&id, _)| id)
            .collect();
        let out = self.apply(Command::CancelPerformance {
            show: perf_id(perf),
        });
        assert!(out.is_ok(), "cancel performance: {out:?}");
        self.cancelled[perf] = true;
        let active: Vec<u64> = self
            .bookings
            .iter()
            .filter(|(_, b)| b.perf == perf && b.life != Life::Ended)
            .map(|(&id, _)| id)
            .collect();
        for id in active {
            self.end(id);
        }
        for id in &charged {
            let real = self.state.booking(BookingId(*id)).expect("booking");
            assert!(
                matches!(real.payment, Payment::RefundDue(_)),
                "charged booking {id} of a cancelled performance: {:?}",
                real.payment
            );
        }
        // Cancelling again changes no booking.
        let before: Vec<Option<Booking>> = (1..=self.last_id)
            .map(|id| self.state.booking(BookingId(id)))
            .collect();
        let again = self.apply(Command::CancelPerformance {
            show: perf_id(perf),
        });
        assert!(again.is_ok());
        let after: Vec<Option<Booking>> = (1..=self.last_id)
            .map(|id| self.state.booking(BookingId(id)))
            .collect();
        assert_eq!(before, after, "cancelling {perf} again changed bookings");
    }

    /// Everything that must hold after every step.
    fn check(&self) {
        self.state.check_invariants().expect("invariants");
        assert_eq!(self.state.totals().bookings_created, self.last_id);
        for perf in 0..PERFS {
            let show = self.state.show(&perf_id(perf)).expect("performance");
            for p in 1..=PLACES {
                let real = show.seat(SeatNo(p)).expect("place");
                let expected = match self.seats[perf][p as usize - 1] {
                    Place::Free => Seat::Available,
                    Place::HeldBack => Seat::HeldBack,
                    Place::Taken(id) => match self.bookings[&id].life {
                        Life::Held(_) => Seat::Held(BookingId(id)),
                        _ => Seat::Booked(BookingId(id)),
                    },
                };
                assert_eq!(real, expected, "p{perf} place {p}");
            }
            if self.cancelled[perf] {
                assert_eq!(
                    show.held + show.booked,
                    0,
                    "active bookings at cancelled p{perf}"
                );
            }
        }
        let mut per_order: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for (&id, model) in &self.bookings {
            let real = self.state.booking(BookingId(id)).expect("booking");
            let places: Vec<u32> = model.tickets.iter().map(|&(p, _)| p).collect();
            let types: Vec<u8> = model.tickets.iter().map(|&(_, t)| t).collect();
            let prices: Vec<i64> = model
                .tickets
                .iter()
                .map(|&(p, t)| model_price(p, t).expect("sold"))
                .collect();
            assert_eq!(real.seats.iter().map(|s| s.0).collect::<Vec<_>>(), places);
            assert_eq!(real.types, types, "types of {id}");
            assert_eq!(real.prices, prices, "prices of {id}");
            assert_eq!(
                real.total_cents,
                prices.iter().sum::<i64>(),
                "total of {id}"
            );
            let life = match real.status {
                BookingStatus::Held { expires_at } => Life::Held(expires_at.0),
                BookingStatus::Confirmed { .. } => Life::Confirmed,
                _ => Life::Ended,
            };
            assert_eq!(life, model.life, "status of {id}");
            let tx = |n: u64| TransactionId(format!("tx-{n}"));
            let money = match model.money {
                Money::None => Payment::None,
                Money::Pending => Payment::Pending,
                Money::NotCharged => Payment::NotCharged,
                Money::Charged(n) => Payment::Charged(tx(n)),
                Money::RefundDue(n) => Payment::RefundDue(tx(n)),
                Money::Refunded(n) => Payment::Refunded(tx(n)),
            };
            assert_eq!(real.payment, money, "payment of {id}");
            if let Some(order) = &model.order {
                let sums = per_order.entry(order).or_default();
                sums.0 += real.total_cents;
                if matches!(real.payment, Payment::RefundDue(_) | Payment::Refunded(_)) {
                    sums.1 += real.total_cents;
                }
            }
        }
        for (order, (all, refunds)) in per_order {
            let (original, charged) = self.orders[order];
            assert_eq!(all, original, "order {order}: kept + returned");
            assert!(
                refunds <= if charged { original } else { 0 },
                "order {order}: refunds {refunds} of a charge of {original}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn performances_agree_with_the_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut harness = Harness::new();
        harness.check();
        for op in &ops {
            harness.step(op);
            harness.check();
        }
    }
}
