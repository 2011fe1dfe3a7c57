//! The limits against hoarding that a `Hold` carries: seats held at once
//! over all shows, holds started per hour, and the cool-down after a hold
//! that lapsed unpaid (ran out, or was given up).

use super::*;
use crate::ids::{HOLD_RATE_WINDOW_MS, MAX_HOLD_COOLDOWN_MS};

/// One minute, in milliseconds.
const MINUTE: i64 = 60 * 1000;

/// `command` (a `Hold`) carrying `limits`.
fn limited(mut command: Command, limits: HoldLimits) -> Command {
    if let Command::Hold {
        limits: carried, ..
    } = &mut command
    {
        *carried = limits;
    }
    command
}

/// A hold of `seats` of `show` for `user` with `limits`.
fn hold_with(show: &str, seats: &[u32], user: &str, limits: HoldLimits) -> Command {
    limited(hold(show, seats, user, TTL), limits)
}

#[test]
fn held_seats_are_capped_over_all_shows() {
    let mut f = Fixture::new();
    f.ok(create("s2", 8));
    let four = HoldLimits {
        max_held_seats: 4,
        ..HoldLimits::NONE
    };
    let first = f.booking(hold_with("s1", &[1, 2, 3], "alice", four)).id;
    f.reject(
        hold_with("s2", &[1, 2], "alice", four),
        Rejection::HeldSeatLimit { limit: 4, held: 3 },
    );
    f.booking(hold_with("s2", &[1], "alice", four));
    // Someone else's holds are theirs; seats sold no longer count as held.
    f.booking(hold_with("s2", &[5, 6, 7, 8], "bob", four));
    f.ok(confirm(first));
    f.booking(hold_with("s2", &[2, 3, 4], "alice", four));
    assert_eq!(f.state.held_seats(&"alice".into()), 4);
}

#[test]
fn holds_per_hour_are_limited_and_the_limit_lets_up_after_an_hour() {
    let mut f = Fixture::new();
    let three = HoldLimits {
        max_holds_per_hour: 3,
        ..HoldLimits::NONE
    };
    for seat in 1..=3 {
        let id = f.booking(hold_with("s1", &[seat], "alice", three)).id;
        f.ok(release(id));
        f.at = Timestamp(f.at.0 + 10 * MINUTE);
    }
    // The fourth within the hour is refused, with the time until the
    // first one leaves the window; the refusal does not count.
    let fourth = hold_with("s1", &[4], "alice", three);
    f.reject(
        fourth.clone(),
        Rejection::HoldRateLimit {
            limit: 3,
            retry_after_ms: HOLD_RATE_WINDOW_MS - 30 * MINUTE,
        },
    );
    f.booking(hold_with("s1", &[8], "bob", three));
    f.at = Timestamp(T0.0 + HOLD_RATE_WINDOW_MS);
    f.booking(fourth.clone());
    f.reject(
        hold_with("s1", &[5], "alice", three),
        Rejection::HoldRateLimit {
            limit: 3,
            retry_after_ms: 10 * MINUTE,
        },
    );
}

#[test]
fn a_hold_that_expired_unpaid_cools_down_its_seats_for_its_owner() {
    let mut f = Fixture::new();
    let five_minutes = HoldLimits {
        cooldown_ms: 5 * MINUTE,
        ..HoldLimits::NONE
    };
    let lapsing = limited(hold("s1", &[1, 2], "alice", MINUTE), five_minutes);
    f.booking(lapsing);
    f.at = Timestamp(f.at.0 + MINUTE);
    f.ok(Command::ExpireHolds);
    let expired_at = f.at;
    f.at = Timestamp(expired_at.0 + MINUTE);
    // The same seats, or some of them, are refused to her for five minutes.
    f.reject(
        hold_with("s1", &[3, 2], "alice", five_minutes),
        Rejection::HoldCooldown {
            show: "s1".into(),
            seat: SeatNo(2),
            retry_after_ms: 4 * MINUTE,
        },
    );
    // Other seats are hers to hold, and those seats anyone else's.
    f.booking(hold_with("s1", &[3], "alice", five_minutes));
    let bobs = f.booking(hold_with("s1", &[1], "bob", five_minutes)).id;
    f.ok(release(bobs));
    f.at = Timestamp(expired_at.0 + 5 * MINUTE - 1);
    f.reject(
        hold_with("s1", &[1], "alice", five_minutes),
        Rejection::HoldCooldown {
            show: "s1".into(),
            seat: SeatNo(1),
            retry_after_ms: 1,
        },
    );
    f.at = Timestamp(expired_at.0 + 5 * MINUTE);
    f.booking(hold_with("s1", &[1, 2], "alice", five_minutes));
}

#[test]
fn a_declined_hold_starts_no_cool_down_but_one_given_up_does() {
    let mut f = Fixture::new();
    let cooling = HoldLimits {
        cooldown_ms: 5 * MINUTE,
        ..HoldLimits::NONE
    };
    // A declined card's hold (released by the system) does not: the
    // customer may try another card at once.
    let declined = f.booking(hold_with("s1", &[1], "alice", cooling)).id;
    f.ok(release(declined));
    f.booking(hold_with("s1", &[1], "alice", cooling));
    // A hold its customer gives up does, as if it had run out: otherwise
    // a hoarder cancels just before expiry and holds the seats again.
    let abandoned = f.booking(hold_with("s1", &[2], "alice", cooling)).id;
    f.ok(cancel(abandoned, "alice"));
    f.reject(
        hold_with("s1", &[2], "alice", cooling),
        Rejection::HoldCooldown {
            show: "s1".into(),
            seat: SeatNo(2),
            retry_after_ms: 5 * MINUTE,
        },
    );
    // Nobody else is kept from those seats.
    f.booking(hold_with("s1", &[2], "bob", cooling));
}

#[test]
fn administrators_are_exempt_from_the_hold_limits() {
    let mut f = Fixture::new();
    let boss = f.register("boss@example.com", true);
    let tight = HoldLimits {
        max_held_seats: 1,
        max_holds_per_hour: 1,
        cooldown_ms: 5 * MINUTE,
    };
    let as_boss = f.caller(&boss);
    let lapsing = limited(hold("s1", &[1, 2], boss.as_str(), 10), tight);
    f.ok_as(&as_boss, lapsing);
    f.at = Timestamp(f.at.0 + 10);
    f.ok(Command::ExpireHolds);
    f.ok_as(&as_boss, hold_with("s1", &[1, 2], boss.as_str(), tight));
    f.ok_as(&as_boss, hold_with("s1", &[3, 4], boss.as_str(), tight));
    assert_eq!(f.state.held_seats(&boss), 4);
    // The same limits hold a customer back.
    let ann = f.register("ann@example.com", false);
    f.ok_as(&f.caller(&ann), hold_with("s1", &[5], ann.as_str(), tight));
    f.reject_as(
        &f.caller(&ann),
        hold_with("s1", &[6], ann.as_str(), tight),
        Rejection::HeldSeatLimit { limit: 1, held: 1 },
    );
}

#[test]
fn cool_downs_are_validated() {
    let mut f = Fixture::new();
    for cooldown_ms in [-1, MAX_HOLD_COOLDOWN_MS + 1] {
        let limits = HoldLimits {
            cooldown_ms,
            ..HoldLimits::NONE
        };
        f.reject_invalid(hold_with("s1", &[1], "alice", limits), "cooldown_ms");
    }
    let longest = HoldLimits {
        cooldown_ms: MAX_HOLD_COOLDOWN_MS,
        ..HoldLimits::default()
    };
    f.booking(hold_with("s1", &[1], "alice", longest));
}
