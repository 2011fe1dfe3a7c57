//! The checker: a run's history against the final state of the bookings.
//!
//! Pure functions, so that each rule can be shown to catch what it claims
//! (see the tests). The rules numbered as in the issue:
//!
//! 1. no seat has two confirmed bookings;
//! 2. every booking acknowledged to a client is there, confirmed;
//! 3. every confirmed booking was attempted by a client, by an operation
//!    that succeeded with that booking or whose outcome is unknown;
//! 4. per seat, the history is linearizable. A seat is a register that
//!    goes from "not booked" to "booked" once (the workload never cancels),
//!    at the moment its booking is confirmed. That moment lies within the
//!    acknowledged booking's call, or after the invocation of a booking
//!    whose outcome is unknown; every read that saw the seat booked must
//!    end after it, every read that saw it free must begin before it.
//!
//! Rules 5-7 (ledger, replicas, recovery) are checked by the run itself.

use std::collections::BTreeMap;

use super::history::{Action, Op, Outcome};

/// A booking as the cluster holds it at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalBooking {
    pub booking_id: String,
    pub user: String,
    pub show: String,
    /// Sorted.
    pub seats: Vec<u32>,
    pub confirmed: bool,
}

/// A broken rule, with what shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    pub rule: u8,
    pub detail: String,
}

fn violation(rule: u8, detail: String) -> Violation {
    Violation { rule, detail }
}

fn sorted(seats: &[u32]) -> Vec<u32> {
    let mut seats = seats.to_vec();
    seats.sort_unstable();
    seats.dedup();
    seats
}

/// Checks rules 1-4 (see the module documentation).
pub fn check(ops: &[Op], bookings: &[FinalBooking]) -> Vec<Violation> {
    let mut found = Vec::new();
    let confirmed: Vec<&FinalBooking> = bookings.iter().filter(|b| b.confirmed).collect();
    let by_id: BTreeMap<&str, &FinalBooking> = bookings
        .iter()
        .map(|b| (b.booking_id.as_str(), b))
        .collect();

    // 1. One confirmed booking per seat.
    let mut owner: BTreeMap<(&str, u32), &FinalBooking> = BTreeMap::new();
    for b in &confirmed {
        for seat in &b.seats {
            if let Some(first) = owner.insert((b.show.as_str(), *seat), b) {
                found.push(violation(
                    1,
                    format!(
                        "seat {seat} of {} is in confirmed bookings {} and {}",
                        b.show, first.booking_id, b.booking_id
                    ),
                ));
            }
        }
    }

    // 2. Acknowledged bookings are there, confirmed, as requested, and
    // each acknowledged once.
    let mut seen: BTreeMap<&str, &Op> = BTreeMap::new();
    for op in ops {
        if let Outcome::Booked { booking_id } = &op.outcome {
            if let Some(first) = seen.insert(booking_id, op) {
                found.push(violation(
                    2,
                    format!(
                        "booking {booking_id} was acknowledged to two operations ({} at {} us and {} at {} us)",
                        first.client, first.invoked_us, op.client, op.invoked_us
                    ),
                ));
            }
            let asked = match &op.action {
                Action::Book { show, seats, .. } => Some((show.as_str(), sorted(seats))),
                Action::Read { .. } => None,
            };
            match by_id.get(booking_id.as_str()) {
                Some(b)
                    if b.confirmed
                        && b.user == op.client
                        && asked.as_ref().is_none_or(|(show, seats)| *show == b.show && *seats == b.seats) => {}
                Some(b) if b.confirmed => found.push(violation(
                    2,
                    format!(
                        "booking {booking_id} is {}'s seats {:?} of {}, but was acknowledged to {} for {asked:?}",
                        b.user, b.seats, b.show, op.client
                    ),
                )),
                Some(_) => found.push(violation(
                    2,
                    format!(
                        "booking {booking_id}, acknowledged to {}, is not confirmed",
                        op.client
                    ),
                )),
                None => found.push(violation(
                    2,
                    format!(
                        "booking {booking_id}, acknowledged to {}, is missing",
                        op.client
                    ),
                )),
            }
        }
    }

    // 3. No booking that no client attempted. Index the attempts that may
    // have made each booking.
    let mut acknowledged: BTreeMap<&str, &Op> = BTreeMap::new();
    let mut maybe: BTreeMap<(&str, &str, Vec<u32>), Vec<&Op>> = BTreeMap::new();
    for op in ops {
        let Action::Book { show, seats, .. } = &op.action else {
            continue;
        };
        match &op.outcome {
            Outcome::Booked { booking_id } => {
                acknowledged.insert(booking_id.as_str(), op);
            }
            Outcome::Unknown { .. } => maybe
                .entry((op.client.as_str(), show.as_str(), sorted(seats)))
                .or_default()
                .push(op),
            _ => {}
        }
    }
    // The window in which each confirmed booking became confirmed.
    let mut window: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for b in &confirmed {
        if let Some(op) = acknowledged.get(b.booking_id.as_str()) {
            window.insert(&b.booking_id, (op.invoked_us, op.completed_us));
        } else if let Some(ops) = maybe.get(&(b.user.as_str(), b.show.as_str(), b.seats.clone())) {
            let earliest = ops.iter().map(|op| op.invoked_us).min().unwrap_or(0);
            window.insert(&b.booking_id, (earliest, u64::MAX));
        } else {
            found.push(violation(
                3,
                format!(
                    "booking {} (seats {:?} of {} for {}) matches no attempt that succeeded or timed out",
                    b.booking_id, b.seats, b.show, b.user
                ),
            ));
        }
    }

    // 4. Per seat, reads agree with one moment of confirmation.
    let mut reads: BTreeMap<(&str, u32), Vec<(&Op, bool)>> = BTreeMap::new();
    for op in ops {
        if let (Action::Read { show, seat }, Outcome::Seat { booked }) = (&op.action, &op.outcome) {
            reads
                .entry((show.as_str(), *seat))
                .or_default()
                .push((op, *booked));
        }
    }
    for (seat, reads) in reads {
        let (lo, hi, owner_id) = match owner.get(&seat) {
            Some(b) => match window.get(b.booking_id.as_str()) {
                Some((lo, hi)) => (*lo, *hi, b.booking_id.as_str()),
                None => continue, // reported by rule 3
            },
            // Never booked: the moment is after the end of the run.
            None => (u64::MAX, u64::MAX, "none"),
        };
        // The moment t must satisfy lo <= t <= hi, t > invocation of every
        // read that saw it free, t <= completion of every read that saw it
        // booked.
        let after = reads
            .iter()
            .filter(|(_, booked)| !booked)
            .map(|(op, _)| op.invoked_us)
            .max()
            .unwrap_or(0)
            .max(lo);
        let before = reads
            .iter()
            .filter(|(_, booked)| *booked)
            .map(|(op, _)| op.completed_us)
            .min()
            .unwrap_or(u64::MAX)
            .min(hi);
        if after > before || (owner_id == "none" && before < u64::MAX) {
            let free_late = reads
                .iter()
                .filter(|(op, booked)| !booked && op.invoked_us >= before)
                .map(|(op, _)| {
                    format!(
                        "{} read it free at {}-{} us",
                        op.client, op.invoked_us, op.completed_us
                    )
                })
                .next();
            let booked_early = reads
                .iter()
                .filter(|(op, booked)| *booked && op.completed_us <= after)
                .map(|(op, _)| {
                    format!(
                        "{} read it booked at {}-{} us",
                        op.client, op.invoked_us, op.completed_us
                    )
                })
                .next();
            found.push(violation(
                4,
                format!(
                    "seat {} of {}: no moment of confirmation fits (booking {owner_id}, confirmed within {lo}-{hi} us){}{}",
                    seat.1,
                    seat.0,
                    free_late.map(|s| format!("; {s}")).unwrap_or_default(),
                    booked_early.map(|s| format!("; {s}")).unwrap_or_default(),
                ),
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(client: &str, seats: &[u32], at: (u64, u64), outcome: Outcome) -> Op {
        Op {
            client: client.into(),
            invoked_us: at.0,
            completed_us: at.1,
            action: Action::Book {
                show: "s".into(),
                seats: seats.to_vec(),
                request_id: format!("{client}-{}", at.0),
            },
            outcome,
        }
    }

    fn read(client: &str, seat: u32, at: (u64, u64), booked: bool) -> Op {
        Op {
            client: client.into(),
            invoked_us: at.0,
            completed_us: at.1,
            action: Action::Read {
                show: "s".into(),
                seat,
            },
            outcome: Outcome::Seat { booked },
        }
    }

    fn booked(id: &str) -> Outcome {
        Outcome::Booked {
            booking_id: id.into(),
        }
    }

    fn unknown() -> Outcome {
        Outcome::Unknown {
            code: "Unavailable".into(),
            message: String::new(),
        }
    }

    fn final_booking(id: &str, user: &str, seats: &[u32], confirmed: bool) -> FinalBooking {
        FinalBooking {
            booking_id: id.into(),
            user: user.into(),
            show: "s".into(),
            seats: seats.to_vec(),
            confirmed,
        }
    }

    fn rules(ops: &[Op], bookings: &[FinalBooking]) -> Vec<u8> {
        check(ops, bookings).into_iter().map(|v| v.rule).collect()
    }

    #[test]
    fn a_clean_history_passes() {
        let ops = [
            read("a", 1, (0, 10), false),
            book("a", &[1, 2], (5, 50), booked("b1")),
            read("b", 1, (20, 30), false), // concurrent with the booking
            read("b", 2, (60, 70), true),
            book("b", &[3], (80, 90), unknown()),
            read("a", 3, (200, 210), true), // the unknown one happened
            book(
                "b",
                &[1],
                (100, 110),
                Outcome::Fail {
                    code: "FailedPrecondition".into(),
                    message: "taken".into(),
                },
            ),
        ];
        let bookings = [
            final_booking("b1", "a", &[1, 2], true),
            final_booking("b2", "b", &[3], true),
            final_booking("b3", "b", &[1], false),
        ];
        assert_eq!(check(&ops, &bookings), vec![]);
    }

    #[test]
    fn each_rule_catches_its_violation() {
        // 1: two confirmed bookings of seat 1.
        let ops = [
            book("a", &[1], (0, 10), booked("b1")),
            book("b", &[1], (0, 10), booked("b2")),
        ];
        let two = [
            final_booking("b1", "a", &[1], true),
            final_booking("b2", "b", &[1], true),
        ];
        assert_eq!(rules(&ops, &two), vec![1]);
        // 2: an acknowledged booking lost, or not confirmed.
        assert_eq!(rules(&ops[..1], &[]), vec![2]);
        assert_eq!(
            rules(&ops[..1], &[final_booking("b1", "a", &[1], false)]),
            vec![2]
        );
        // 2: one booking acknowledged twice, or for other seats.
        let twice = [
            book("a", &[1], (0, 10), booked("b1")),
            book("a", &[1], (20, 30), booked("b1")),
        ];
        assert_eq!(
            rules(&twice, &[final_booking("b1", "a", &[1], true)]),
            vec![2]
        );
        assert_eq!(
            rules(&ops[..1], &[final_booking("b1", "a", &[2], true)]),
            vec![2]
        );
        // 3: a booking nobody attempted (or whose attempt was refused).
        let refused = [book(
            "a",
            &[1],
            (0, 10),
            Outcome::Fail {
                code: "x".into(),
                message: String::new(),
            },
        )];
        assert_eq!(
            rules(&refused, &[final_booking("b9", "a", &[1], true)]),
            vec![3]
        );
        // 4: a read saw the seat free after its booking was acknowledged
        // (a stale read), or booked before anyone tried to book it.
        let stale = [
            book("a", &[1], (0, 10), booked("b1")),
            read("b", 1, (20, 30), false),
        ];
        assert_eq!(
            rules(&stale, &[final_booking("b1", "a", &[1], true)]),
            vec![4]
        );
        let early = [
            read("b", 1, (0, 5), true),
            book("a", &[1], (10, 20), booked("b1")),
        ];
        assert_eq!(
            rules(&early, &[final_booking("b1", "a", &[1], true)]),
            vec![4]
        );
        let phantom_read = [read("b", 1, (0, 5), true)];
        assert_eq!(rules(&phantom_read, &[]), vec![4]);
        // A free read then a booked read, both before an unknown booking
        // could have happened.
        let unknown_late = [
            read("b", 1, (0, 5), true),
            book("a", &[1], (10, 20), unknown()),
        ];
        assert_eq!(
            rules(&unknown_late, &[final_booking("b1", "a", &[1], true)]),
            vec![4]
        );
    }
}
