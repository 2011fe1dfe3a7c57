//! Property test of the waiting list against a model: a sold-out
//! performance of eight seats in two price categories (A: Stalls A-1..4,
//! B: Stalls B-1..4), buyers joining its list for 1-3 seats of A, B or
//! either, and random cancellations, payments, expiries and departures.
//!
//! The model keeps each seat's booking, the list's order and the offers
//! outstanding. Whenever seats are freed, it walks its list from the front
//! and expects an offer for each entry that fits what its own seat map has
//! free (after an expiry sweep, once all lapsed offers ended), reading the seats
//! the state chose to update itself. After every step:
//!
//! - `check_invariants` passes;
//! - the offers went to exactly the entries the model expected, the first
//!   that fit, in list order: each for its quantity, in its category, of
//!   seats that were free;
//! - the list's order is the model's (first come, first served, those
//!   offered or gone taken out);
//! - joining is refused exactly when what is asked for is free, and a
//!   second join keeps the first entry;
//! - every seat's state is the model's: a freed seat nobody on the list
//!   fits is free for anyone, and nothing is sold twice.
//!
//! `PROPTEST_CASES` scales the number of cases (default 64).

use std::collections::BTreeMap;

use boxoffice_core::format;
use boxoffice_core::*;
use proptest::prelude::*;

const SHOW: &str = "p1";
const SEATS: u32 = 8;
const BUYERS: u32 = 6;
const OFFER_MS: i64 = 60_000;
const CATEGORIES: [&str; 3] = ["", "A", "B"];

fn category_of(seat: u32) -> &'static str {
    if seat <= 4 { "A" } else { "B" }
}

fn venue() -> Venue {
    let row = |label: &str, y: i32| Row {
        label: label.to_owned(),
        seats: (0..4)
            .map(|i| VenueSeat {
                label: (i + 1).to_string(),
                x: i * 10,
                y,
                attrs: SeatAttrs::default(),
            })
            .collect(),
    };
    Venue {
        name: "List Hall".to_owned(),
        stage: Stage {
            x: 0,
            y: 0,
            width: 40,
            height: 20,
        },
        sections: vec![Section {
            name: "Stalls".to_owned(),
            rows: vec![row("A", 40), row("B", 50)],
        }],
        areas: Vec::new(),
    }
}

fn pricing() -> PricingSpec {
    let category = |name: &str| CategorySpec {
        name: name.to_owned(),
        rules: vec![PlaceRule::Rows {
            section: "Stalls".to_owned(),
            from: name.to_owned(),
            to: name.to_owned(),
        }],
    };
    PricingSpec {
        categories: vec![category("A"), category("B")],
        ticket_types: vec!["adult".to_owned()],
        prices: ["A", "B"]
            .iter()
            .map(|c| PriceSpec {
                category: (*c).to_owned(),
                ticket_type: "adult".to_owned(),
                cents: 1_000,
            })
            .collect(),
    }
}

#[derive(Clone, Debug)]
enum Op {
    Join {
        buyer: u32,
        quantity: u32,
        category: usize,
    },
    /// Cancel (or give up) the booking that has this seat.
    Free(u32),
    /// Pay the n-th offer outstanding.
    Pay(usize),
    /// The clock moves on by this many seconds; then the expiry sweep.
    Expire(i64),
    Leave(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..BUYERS, 1..=3u32, 0..3usize)
            .prop_map(|(buyer, quantity, category)| Op::Join { buyer, quantity, category }),
        4 => (1..=SEATS).prop_map(Op::Free),
        2 => any::<usize>().prop_map(Op::Pay),
        2 => (1..90i64).prop_map(Op::Expire),
        1 => (0..BUYERS).prop_map(Op::Leave),
    ]
}

fn buyer(n: u32) -> UserId {
    UserId::from(format!("b{n}"))
}

/// A model entry: buyer, quantity, category.
type Entry = (UserId, u32, &'static str);

#[derive(Default)]
struct Model {
    /// Each seat's active booking.
    seat: BTreeMap<u32, BookingId>,
    /// Each active booking's owner and seats.
    bookings: BTreeMap<BookingId, (UserId, Vec<u32>)>,
    /// The list, front first.
    waiting: Vec<Entry>,
    /// Offers outstanding: booking → (entry, expires at).
    offers: BTreeMap<BookingId, (Entry, i64)>,
}

impl Model {
    fn free(&self, category: &str) -> u32 {
        (1..=SEATS)
            .filter(|s| !self.seat.contains_key(s))
            .filter(|s| category.is_empty() || category_of(*s) == category)
            .count() as u32
    }

    fn member(&self, user: &UserId) -> bool {
        self.waiting.iter().any(|e| e.0 == *user) || self.offers.values().any(|(e, _)| e.0 == *user)
    }

    fn end(&mut self, booking: BookingId) {
        if let Some((_, seats)) = self.bookings.remove(&booking) {
            for s in seats {
                self.seat.remove(&s);
            }
        }
        self.offers.remove(&booking);
    }
}

struct Run {
    state: State,
    model: Model,
    now: i64,
    requests: u64,
    /// The format version the commands are applied in.
    version: u8,
}

impl Run {
    fn apply(&mut self, command: Command) -> Outcome {
        self.requests += 1;
        let request = Request {
            request_id: RequestId(format!("r{}", self.requests)),
            caller: None,
            command,
        };
        let outcome = self
            .state
            .apply_as(Timestamp(self.now), &request, self.version);
        if let Err(problem) = self.state.check_invariants() {
            panic!("after {request:?}: {problem}");
        }
        outcome
    }

    fn list(&self) -> Option<&WaitingList> {
        self.state.waiting_list(&ShowId::from(SHOW))
    }

    /// The model's walk after seats were freed: every entry that fits, in
    /// order, must have been offered; the state's pick of seats is read
    /// back and checked.
    fn expect_offers(&mut self) -> Result<(), TestCaseError> {
        let mut i = 0;
        while i < self.model.waiting.len() {
            let (user, quantity, category) = self.model.waiting[i].clone();
            if self.model.free(category) < quantity {
                i += 1;
                continue;
            }
            let offer = self
                .list()
                .and_then(|l| l.offers().iter().find(|(_, e)| e.user == user))
                .map(|(b, _)| *b);
            let Some(booking) = offer else {
                return Err(TestCaseError::fail(format!(
                    "{user} (wanting {quantity} of {category:?}) fits but was not offered"
                )));
            };
            let held = self.state.booking(booking).expect("the offer is stored");
            // Its order id: with the time it was offered from the format
            // that says so on (unique when a restore gives out booking ids
            // again), as the builds before it make it until then.
            let order = if self.version >= format::TIMED_OFFER_IDS {
                format!("wl_{}_{}", booking.0, self.now)
            } else {
                format!("wl_{}", booking.0)
            };
            prop_assert_eq!(held.order.clone(), Some(OrderId(order)));
            let seats: Vec<u32> = held.seats.iter().map(|s| s.0).collect();
            prop_assert_eq!(held.user.clone(), user.clone());
            prop_assert_eq!(seats.len() as u32, quantity, "{:?}", held);
            let BookingStatus::Held { expires_at } = held.status else {
                return Err(TestCaseError::fail(format!("offer {booking} is not held")));
            };
            for &s in &seats {
                prop_assert!(!self.model.seat.contains_key(&s), "seat {s} was not free");
                prop_assert!(category.is_empty() || category_of(s) == category);
                self.model.seat.insert(s, booking);
            }
            self.model
                .bookings
                .insert(booking, (user.clone(), seats.clone()));
            let entry = self.model.waiting.remove(i);
            self.model.offers.insert(booking, (entry, expires_at.0));
        }
        Ok(())
    }

    /// The state agrees with the model: the list's order, its offers, and
    /// every seat.
    fn compare(&self) -> Result<(), TestCaseError> {
        let waiting: Vec<UserId> = self
            .list()
            .map(|l| l.waiting().map(|e| e.user.clone()).collect())
            .unwrap_or_default();
        let expected: Vec<UserId> = self.model.waiting.iter().map(|e| e.0.clone()).collect();
        prop_assert_eq!(waiting, expected);
        let offers: Vec<(BookingId, UserId)> = self
            .list()
            .map(|l| {
                l.offers()
                    .iter()
                    .map(|(b, e)| (*b, e.user.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let expected: Vec<(BookingId, UserId)> = self
            .model
            .offers
            .iter()
            .map(|(b, (e, _))| (*b, e.0.clone()))
            .collect();
        prop_assert_eq!(offers, expected);
        let show = self.state.show(&ShowId::from(SHOW)).expect("show");
        for s in 1..=SEATS {
            let seat = show.seat(SeatNo(s));
            match self.model.seat.get(&s) {
                None => prop_assert_eq!(seat, Some(Seat::Available), "seat {}", s),
                Some(b) => prop_assert!(
                    matches!(seat, Some(Seat::Held(x) | Seat::Booked(x)) if x == *b),
                    "seat {s}: {seat:?}, model {b}"
                ),
            }
        }
        Ok(())
    }
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    run_as(ops, format::NEWEST)
}

fn run_as(ops: &[Op], version: u8) -> Result<(), TestCaseError> {
    let mut run = Run {
        state: State::new(),
        model: Model::default(),
        now: 0,
        requests: 0,
        version,
    };
    run.apply(Command::CreateVenue {
        venue: "hall".into(),
        layout: venue(),
    })
    .expect("venue");
    run.apply(Command::CreateProduction {
        production: "play".into(),
        title: "Play".to_owned(),
        description: String::new(),
        running_minutes: 90,
    })
    .expect("production");
    run.apply(Command::AddPerformances {
        production: "play".into(),
        venue: "hall".into(),
        performances: vec![NewPerformance {
            show: ShowId::from(SHOW),
            starts_at: Timestamp(1_000_000_000),
        }],
        sales: SalesWindow::default(),
        pricing: pricing(),
    })
    .expect("performance");
    // Sold out: a booking a seat, by a buyer not on the list.
    let filler = UserId::from("f");
    for s in 1..=SEATS {
        let booked = run.apply(Command::Book {
            show: ShowId::from(SHOW),
            seats: vec![SeatNo(s)],
            tickets: Tickets::default(),
            user: filler.clone(),
            max_seats_per_user: 0,
        });
        let Ok(Effect::Booking(b)) = booked else {
            panic!("book {s}: {booked:?}");
        };
        run.model.seat.insert(s, b.id);
        run.model.bookings.insert(b.id, (filler.clone(), vec![s]));
    }
    let mut paid = 0u64;
    for op in ops {
        match op {
            Op::Join {
                buyer: n,
                quantity,
                category,
            } => {
                let user = buyer(*n);
                let category = CATEGORIES[*category];
                let outcome = run.apply(Command::JoinWaitingList {
                    show: ShowId::from(SHOW),
                    user: user.clone(),
                    quantity: *quantity,
                    category: category.to_owned(),
                    offer_ms: OFFER_MS,
                    max_seats_per_user: 0,
                    limits: HoldLimits::NONE,
                });
                if run.model.member(&user) {
                    prop_assert!(outcome.is_ok(), "{outcome:?}");
                } else if run.model.free(category) >= *quantity {
                    prop_assert!(
                        matches!(outcome, Err(Rejection::SeatsAvailable { .. })),
                        "{outcome:?}"
                    );
                } else {
                    prop_assert!(outcome.is_ok(), "{outcome:?}");
                    run.model.waiting.push((user, *quantity, category));
                }
            }
            Op::Free(s) => {
                let Some(&booking) = run.model.seat.get(s) else {
                    continue;
                };
                let owner = run.model.bookings[&booking].0.clone();
                let outcome = run.apply(Command::Cancel {
                    booking,
                    user: owner,
                });
                prop_assert!(outcome.is_ok(), "{outcome:?}");
                run.model.end(booking);
                run.expect_offers()?;
            }
            Op::Pay(n) => {
                if run.model.offers.is_empty() {
                    continue;
                }
                let booking = *run
                    .model
                    .offers
                    .keys()
                    .nth(n % run.model.offers.len())
                    .expect("in range");
                paid += 1;
                let outcome = run.apply(Command::Confirm {
                    booking,
                    transaction: Some(TransactionId(format!("t{paid}"))),
                });
                prop_assert!(outcome.is_ok(), "{outcome:?}");
                run.model.offers.remove(&booking);
            }
            Op::Expire(seconds) => {
                run.now += seconds * 1000;
                let outcome = run.apply(Command::ExpireHolds);
                prop_assert!(outcome.is_ok(), "{outcome:?}");
                // The sweep ends every lapsed hold; then their seats are
                // offered on, in one walk of the list.
                let lapsed: Vec<BookingId> = run
                    .model
                    .offers
                    .iter()
                    .filter(|(_, (_, at))| *at <= run.now)
                    .map(|(b, _)| *b)
                    .collect();
                for booking in lapsed {
                    run.model.end(booking);
                }
                run.expect_offers()?;
            }
            Op::Leave(n) => {
                let user = buyer(*n);
                let outcome = run.apply(Command::LeaveWaitingList {
                    show: ShowId::from(SHOW),
                    user: user.clone(),
                });
                prop_assert!(outcome.is_ok(), "{outcome:?}");
                run.model.waiting.retain(|e| e.0 != user);
                let offered = run
                    .model
                    .offers
                    .iter()
                    .find(|(_, (e, _))| e.0 == user)
                    .map(|(b, _)| *b);
                if let Some(booking) = offered {
                    run.model.end(booking);
                    run.expect_offers()?;
                }
            }
        }
        run.compare()?;
    }
    // And through a snapshot, the list is as it was.
    let bytes = run.state.to_snapshot().expect("snapshot");
    let restored = State::from_snapshot_bytes(&bytes).expect("restores");
    prop_assert_eq!(
        restored.waiting_list(&ShowId::from(SHOW)),
        run.state.waiting_list(&ShowId::from(SHOW))
    );
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// Replicas of a build that reads only format 2 name an offer's order
/// `wl_<booking>`: so does this build for a command of format 2 (a log
/// written during a rolling upgrade), and it adds the time from format 3.
#[test]
fn an_offers_order_id_follows_the_commands_format() {
    let ops = [
        Op::Expire(5),
        Op::Join {
            buyer: 1,
            quantity: 1,
            category: 0,
        },
        Op::Free(3),
        Op::Expire(61),
        Op::Free(7),
    ];
    for version in format::UNTAGGED..=format::NEWEST {
        run_as(&ops, version).unwrap_or_else(|e| panic!("format {version}: {e}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn offers_go_to_the_first_entry_that_fits(ops in prop::collection::vec(op(), 1..60)) {
        run(&ops)?;
    }
}
