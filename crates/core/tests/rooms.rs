//! Property test of the waiting room: random interleavings of buyers
//! joining (before and after the opening, again while waiting or in),
//! ticks at random times with random seeds, buyers who were let in buying
//! (which uses the admission up), buyers who were not trying to, and rule
//! changes, on one performance.
//!
//! After every step `check_invariants` passes, and over the whole run:
//!
//! - the pre-queue's order at the opening is the shuffle of the order its
//!   buyers joined in, with the seed of the tick that opened the room (a
//!   permutation, fixed by the seed);
//! - buyers are let in in queue order: each tick lets in a prefix of the
//!   queue it found, and places handed to admissions only rise;
//! - nobody is let in twice at a time: a buyer is in at most one of the
//!   pre-queue, the queue and the admitted, and is let in again only after
//!   queueing again;
//! - no tick lets in more than the rate allows (a second's worth at most,
//!   plus what accrued since the last) or more than `max_active` in all;
//! - a hold or booking succeeds only for a buyer the room has let in,
//!   whose admission has not lapsed.
//!
//! `PROPTEST_CASES` scales the number of cases (default 64).

use std::collections::{BTreeMap, BTreeSet};

use boxoffice_core::*;
use proptest::prelude::*;

const SHOW: &str = "s1";
const BUYERS: u32 = 12;
const OPENS_AT: i64 = 5_000;
const ADMISSION_MS: i64 = 10_000;

#[derive(Clone, Debug)]
enum Step {
    /// Buyer `n` joins.
    Join(u32),
    /// The clock moves on by this much, then the system ticks.
    Tick { after_ms: i64, seed: u64 },
    /// Buyer `n` books a seat (of the many the show has).
    Buy(u32),
    /// The administrator changes the rate and the cap.
    Rules { admit_per_s: u32, max_active: u32 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..BUYERS).prop_map(Step::Join),
        3 => (0..4_000i64, any::<u64>()).prop_map(|(after_ms, seed)| Step::Tick { after_ms, seed }),
        2 => (0..BUYERS).prop_map(Step::Buy),
        1 => rules().prop_map(|(admit_per_s, max_active)| Step::Rules { admit_per_s, max_active }),
    ]
}

/// A rate and a cap, not both 0.
fn rules() -> impl Strategy<Value = (u32, u32)> {
    (0..4u32, 0..4u32).prop_filter("a room needs a limit", |(r, m)| *r > 0 || *m > 0)
}

fn user(n: u32) -> UserId {
    UserId::from(format!("b{n}"))
}

struct Run {
    state: State,
    now: i64,
    requests: u64,
}

impl Run {
    fn apply(&mut self, command: Command) -> Outcome {
        self.requests += 1;
        let request = Request {
            request_id: RequestId(format!("r{}", self.requests)),
            caller: None,
            command,
        };
        let outcome = self.state.apply(Timestamp(self.now), &request);
        if let Err(problem) = self.state.check_invariants() {
            panic!("after {request:?}: {problem}");
        }
        outcome
    }

    fn room(&self) -> &WaitingRoom {
        self.state
            .waiting_room(&ShowId::from(SHOW))
            .expect("the room stays")
    }
}

fn set_rules(admit_per_s: u32, max_active: u32) -> Command {
    Command::SetWaitingRoom {
        show: ShowId::from(SHOW),
        rules: Some(RoomRules {
            opens_at: Timestamp(OPENS_AT),
            admit_per_s,
            max_active,
            admission_ms: ADMISSION_MS,
        }),
    }
}

fn run(first: (u32, u32), steps: &[Step]) -> Result<(), TestCaseError> {
    let mut run = Run {
        state: State::new(),
        now: 0,
        requests: 0,
    };
    let created = run.apply(Command::CreateShow {
        show: ShowId::from(SHOW),
        title: "Hamlet".into(),
        seat_count: 1_000,
        price_cents: 0,
        starts_at: Timestamp(1_000_000_000),
    });
    prop_assert!(created.is_ok(), "{created:?}");
    let set = run.apply(set_rules(first.0, first.1));
    prop_assert!(set.is_ok(), "{set:?}");

    // What the model knows: the order buyers joined the pre-queue in, the
    // highest place let in so far, when each buyer was let in.
    let mut joined_early: Vec<UserId> = Vec::new();
    let mut joined_late: Vec<UserId> = Vec::new();
    let mut highest_place = 0u64;
    let mut next_seat = 1u32;
    let mut rate = first.0;
    // The fastest rate so far (None once a rule had none): no run of
    // ticks lets in more than it allows since the opening, plus a
    // second's worth.
    let mut fastest = (first.0 > 0).then_some(first.0);
    let mut opened_at: Option<i64> = None;
    for step in steps {
        match step {
            Step::Join(n) => {
                let before = run.room().status(&user(*n), Timestamp(run.now));
                let outcome = run.apply(Command::JoinWaitingRoom {
                    show: ShowId::from(SHOW),
                    user: user(*n),
                });
                prop_assert!(outcome.is_ok(), "{outcome:?}");
                let after = run.room().status(&user(*n), Timestamp(run.now));
                match before {
                    RoomStatus::Outside if after == RoomStatus::PreQueue && run.now < OPENS_AT => {
                        joined_early.push(user(*n));
                    }
                    // At the opening time, before the tick that opens the
                    // room: after the shuffled ones, in join order.
                    RoomStatus::Outside if after == RoomStatus::PreQueue => {
                        joined_late.push(user(*n));
                    }
                    RoomStatus::Outside => {
                        prop_assert!(matches!(after, RoomStatus::Waiting { .. }), "{after:?}");
                    }
                    // One place per buyer: joining again changes nothing.
                    standing => prop_assert_eq!(after, standing),
                }
            }
            Step::Tick { after_ms, seed } => {
                // What the room promises before time moves on: nobody
                // waiting is let in before their earliest admission.
                let earliest: BTreeMap<UserId, Timestamp> = run
                    .room()
                    .queue()
                    .filter_map(|(_, u)| {
                        let at = run.room().earliest_admission(u, Timestamp(run.now))?;
                        Some((u.clone(), at))
                    })
                    .collect();
                run.now += after_ms;
                let phase = run.room().phase();
                let mut queue: Vec<(u64, UserId)> = run
                    .room()
                    .queue()
                    .map(|(place, user)| (place, user.clone()))
                    .collect();
                let inside_before: BTreeSet<UserId> =
                    run.room().admissions().keys().cloned().collect();
                let outcome = run.apply(Command::TickWaitingRooms { seed: *seed });
                let Ok(Effect::RoomsTicked(tick)) = outcome else {
                    return Err(TestCaseError::fail(format!("{outcome:?}")));
                };
                let room = run.room();
                if phase == RoomPhase::PreQueue && run.now < OPENS_AT {
                    prop_assert_eq!(tick, Tick::default());
                    continue;
                }
                if phase == RoomPhase::PreQueue {
                    // The opening: the pre-queue, shuffled with this seed,
                    // is the whole queue (some of it let in at once).
                    prop_assert_eq!(tick.opened, 1);
                    let seed = room_seed(*seed, &ShowId::from(SHOW));
                    prop_assert_eq!(
                        room.phase(),
                        RoomPhase::Open {
                            at: Timestamp(run.now),
                            seed
                        }
                    );
                    let mut let_in: Vec<(u64, UserId)> = room
                        .admissions()
                        .iter()
                        .map(|(u, a)| (a.place, u.clone()))
                        .collect();
                    let_in.sort();
                    queue = let_in
                        .into_iter()
                        .chain(room.queue().map(|(p, u)| (p, u.clone())))
                        .collect();
                    let mut expected = joined_early.clone();
                    shuffle(&mut expected, seed);
                    expected.extend(joined_late.iter().cloned());
                    let order: Vec<UserId> = queue.iter().map(|(_, u)| u.clone()).collect();
                    prop_assert_eq!(order, expected);
                    opened_at = Some(run.now);
                }
                if let (Some(fastest), Some(opened)) = (fastest, opened_at) {
                    let allowed = u64::from(fastest) * u64::try_from(run.now - opened).unwrap_or(0)
                        / 1000
                        + u64::from(fastest);
                    let total = room.summary(None, Timestamp(run.now)).admitted_total;
                    prop_assert!(total <= allowed, "{total} let in, {allowed} allowed");
                }
                // Let in: a prefix of the queue, in order.
                let let_in: Vec<(u64, UserId)> = queue
                    .iter()
                    .filter(|(_, u)| {
                        room.admissions().contains_key(u) && !inside_before.contains(u)
                    })
                    .cloned()
                    .collect();
                prop_assert_eq!(let_in.len() as u32, tick.admitted);
                for (_, u) in &let_in {
                    if let Some(at) = earliest.get(u) {
                        prop_assert!(
                            at.0 <= run.now,
                            "{u} let in at {} before its earliest admission {}",
                            run.now,
                            at.0
                        );
                    }
                }
                prop_assert_eq!(
                    &queue[..let_in.len()],
                    &let_in[..],
                    "not the front of the queue"
                );
                for (place, _) in &let_in {
                    prop_assert!(
                        *place > highest_place,
                        "place {place} after {highest_place}"
                    );
                    highest_place = *place;
                }
                // Within the rate (at most a second's worth a tick) and,
                // when anyone was let in, within the cap.
                if rate > 0 {
                    prop_assert!(
                        tick.admitted <= rate,
                        "{} let in at {rate}/s",
                        tick.admitted
                    );
                }
                let max_active = room.rules().max_active;
                if max_active > 0 && tick.admitted > 0 {
                    prop_assert!(room.admissions().len() as u32 <= max_active);
                }
            }
            Step::Buy(n) => {
                let admitted = run.room().admits(&user(*n), Timestamp(run.now));
                let outcome = run.apply(Command::Book {
                    show: ShowId::from(SHOW),
                    seats: vec![SeatNo(next_seat)],
                    tickets: Tickets::default(),
                    user: user(*n),
                    max_seats_per_user: 0,
                });
                match outcome {
                    Ok(_) => {
                        prop_assert!(admitted, "{} bought without being let in", user(*n));
                        next_seat += 1;
                        prop_assert!(
                            !run.room().admits(&user(*n), Timestamp(run.now)),
                            "a booking uses the admission up"
                        );
                    }
                    Err(Rejection::NotAdmitted(_)) => prop_assert!(!admitted),
                    Err(other) => return Err(TestCaseError::fail(format!("{other:?}"))),
                }
            }
            Step::Rules {
                admit_per_s,
                max_active,
            } => {
                let outcome = run.apply(set_rules(*admit_per_s, *max_active));
                prop_assert!(outcome.is_ok(), "{outcome:?}");
                rate = *admit_per_s;
                fastest = fastest.filter(|_| rate > 0).map(|f| f.max(rate));
            }
        }
        // Nobody is in two places: the invariants say so, and the model
        // agrees from the outside.
        let room = run.room();
        let waiting: BTreeMap<UserId, u64> =
            room.queue().map(|(place, u)| (u.clone(), place)).collect();
        for admitted in room.admissions().keys() {
            prop_assert!(!waiting.contains_key(admitted));
            prop_assert!(!room.prequeue().contains(admitted));
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn the_room_lets_buyers_in_fairly(
        first in rules(),
        steps in proptest::collection::vec(step(), 1..120),
    ) {
        run(first, &steps)?;
    }
}
