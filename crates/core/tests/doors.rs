//! Property test of the door: random interleavings of direct bookings,
//! partial returns, cancellations, reissues and scans (live and offline,
//! at two gates, with codes of any version) on one small show.
//!
//! After every step `check_invariants` passes, and over the whole run:
//!
//! - a ticket (one place of one booking) is admitted at most once;
//! - a scan admits only a code of the ticket's current version (0, or the
//!   version its last reissue returned): a reissue kills every older code;
//! - a ticket returned or cancelled is never admitted afterwards, and a
//!   ticket admitted can no longer be returned, cancelled or reissued;
//! - a scan after the admission is told the admission that counts.
//!
//! `PROPTEST_CASES` scales the number of cases (default 64).

use std::collections::{BTreeMap, BTreeSet};

use boxoffice_core::*;
use proptest::prelude::*;

const SEATS: u32 = 6;
const SHOW: &str = "s1";
const GATES: [&str; 2] = ["north", "south"];

#[derive(Clone, Debug)]
enum Step {
    Book(Vec<u32>),
    Return {
        booking: u64,
        seat: u32,
    },
    Cancel(u64),
    Reissue {
        booking: u64,
        seat: u32,
    },
    Scan {
        booking: u64,
        seat: u32,
        version: u32,
        gate: usize,
        offline: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let booking = 1..8u64;
    let seat = 1..=SEATS;
    prop_oneof![
        2 => proptest::collection::vec(1..=SEATS, 1..4).prop_map(Step::Book),
        1 => (booking.clone(), seat.clone()).prop_map(|(booking, seat)| Step::Return { booking, seat }),
        1 => booking.clone().prop_map(Step::Cancel),
        1 => (booking.clone(), seat.clone()).prop_map(|(booking, seat)| Step::Reissue { booking, seat }),
        4 => (booking, seat, 0..3u32, 0..2usize, any::<bool>()).prop_map(
            |(booking, seat, version, gate, offline)| Step::Scan { booking, seat, version, gate, offline }
        ),
    ]
}

fn command(step: &Step) -> Command {
    let user = UserId::from("u1");
    match step {
        Step::Book(seats) => Command::Book {
            show: ShowId::from(SHOW),
            seats: seats.iter().copied().map(SeatNo).collect(),
            tickets: Tickets::default(),
            user,
            max_seats_per_user: 0,
        },
        Step::Return { booking, seat } => Command::ReturnTickets {
            booking: BookingId(*booking),
            seats: vec![SeatNo(*seat)],
            user,
        },
        Step::Cancel(booking) => Command::Cancel {
            booking: BookingId(*booking),
            user,
        },
        Step::Reissue { booking, seat } => Command::ReissueTicket {
            booking: BookingId(*booking),
            place: SeatNo(*seat),
            user,
        },
        Step::Scan {
            booking,
            seat,
            version,
            gate,
            offline,
        } => Command::CheckIn {
            show: ShowId::from(SHOW),
            booking: BookingId(*booking),
            place: SeatNo(*seat),
            version: *version,
            gate: GATES[*gate].to_owned(),
            offline_at: offline.then_some(Timestamp(1)),
        },
    }
}

fn ticket(booking: u64, seat: u32) -> TicketRef {
    TicketRef {
        booking: BookingId(booking),
        place: SeatNo(seat),
    }
}

fn run(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut state = State::new();
    let mut n = 0u64;
    let mut apply = |state: &mut State, command: Command| {
        n += 1;
        let request = Request {
            request_id: RequestId(format!("r{n}")),
            caller: None,
            command,
        };
        state.apply(Timestamp(n as i64), &request)
    };
    let created = apply(
        &mut state,
        Command::CreateShow {
            show: ShowId::from(SHOW),
            title: "Show".into(),
            seat_count: SEATS,
            price_cents: 1_000,
            starts_at: Timestamp(i64::MAX / 2),
        },
    );
    prop_assert!(created.is_ok(), "{created:?}");
    // What the run has seen: current versions, admissions, dead tickets.
    let mut versions: BTreeMap<TicketRef, u32> = BTreeMap::new();
    let mut admitted: BTreeMap<TicketRef, Entry> = BTreeMap::new();
    let mut dead: BTreeSet<TicketRef> = BTreeSet::new();
    for step in steps {
        let outcome = apply(&mut state, command(step));
        match (step, &outcome) {
            (Step::Return { booking, seat }, Ok(_)) => {
                let t = ticket(*booking, *seat);
                prop_assert!(!admitted.contains_key(&t), "returned a used ticket");
                dead.insert(t);
            }
            (Step::Cancel(booking), Ok(Effect::Booking(b))) => {
                for &place in &b.seats {
                    let t = ticket(*booking, place.0);
                    prop_assert!(!admitted.contains_key(&t), "cancelled a used ticket");
                    dead.insert(t);
                }
            }
            (Step::Reissue { booking, seat }, Ok(Effect::Reissued(v))) => {
                let t = ticket(*booking, *seat);
                prop_assert!(!admitted.contains_key(&t), "reissued a used ticket");
                prop_assert!(!dead.contains(&t), "reissued a dead ticket");
                let previous = versions.insert(t, *v).unwrap_or(0);
                prop_assert_eq!(*v, previous + 1);
            }
            (
                Step::Scan {
                    booking,
                    seat,
                    version,
                    ..
                },
                Ok(Effect::Scanned(scan)),
            ) => {
                let t = ticket(*booking, *seat);
                match scan {
                    Scan::Admitted { ticket, .. } => {
                        prop_assert_eq!(*ticket, t);
                        prop_assert!(!dead.contains(&t), "admitted a returned ticket");
                        prop_assert_eq!(
                            *version,
                            versions.get(&t).copied().unwrap_or(0),
                            "admitted an old code"
                        );
                        let entry = state.doors().entry(t).cloned();
                        prop_assert!(entry.is_some());
                        let first = admitted.insert(t, entry.unwrap_or_else(|| unreachable!()));
                        prop_assert!(first.is_none(), "admitted twice");
                    }
                    Scan::AlreadyIn(entry) => {
                        prop_assert_eq!(Some(entry), admitted.get(&t), "not the first admission");
                    }
                    _ => {}
                }
            }
            (Step::Scan { .. }, other) => {
                prop_assert!(false, "a scan is always answered: {other:?}");
            }
            _ => {}
        }
        if let Err(problem) = state.check_invariants() {
            prop_assert!(false, "after {step:?}: {problem:?}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn tickets_are_admitted_once_and_old_codes_die(
        steps in proptest::collection::vec(step(), 1..80)
    ) {
        run(&steps)?;
    }
}

/// The case the property is about, written out: the same ticket scanned
/// live at one gate and uploaded from another that was offline is admitted
/// once, and the second scan is told the first admission.
#[test]
fn a_second_offline_admission_is_a_conflict_not_an_entry() {
    let steps = [
        Step::Book(vec![1]),
        Step::Scan {
            booking: 1,
            seat: 1,
            version: 0,
            gate: 0,
            offline: false,
        },
        Step::Scan {
            booking: 1,
            seat: 1,
            version: 0,
            gate: 1,
            offline: true,
        },
    ];
    run(&steps).unwrap();
}
