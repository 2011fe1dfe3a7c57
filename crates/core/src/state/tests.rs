//! Unit tests of `State::apply`: each command's happy path and rejections, and dedup.

use super::*;
use crate::ids::{MAX_HOLD_TTL_MS, MAX_ID_LEN, MAX_SEATS_PER_SHOW};

/// Time at which the fixture starts applying requests.
const T0: Timestamp = Timestamp(1_000_000);
/// When the fixture's show starts.
const START: Timestamp = Timestamp(500_000_000);
/// Seat price of the fixture's show.
const PRICE: i64 = 2_500;
/// Hold length used by the fixture.
const TTL: i64 = 60_000;

/// A state with one 8-seat show `s1`, and a request-id counter.
struct Fixture {
    state: State,
    at: Timestamp,
    next_request: u64,
}

impl Fixture {
    fn new() -> Self {
        let mut fixture = Fixture {
            state: State::new(),
            at: T0,
            next_request: 0,
        };
        fixture.ok(create("s1", 8));
        fixture
    }

    /// Applies `command` under a fresh request id at the fixture's time.
    fn run(&mut self, command: Command) -> Outcome {
        self.next_request += 1;
        let request = Request {
            request_id: RequestId(format!("req-{}", self.next_request)),
            command,
        };
        let outcome = self.state.apply(self.at, &request);
        assert_eq!(self.state.check_invariants(), Ok(()));
        outcome
    }

    /// Applies `command`, which must succeed.
    #[track_caller]
    fn ok(&mut self, command: Command) -> Effect {
        match self.run(command) {
            Ok(effect) => effect,
            Err(rejection) => panic!("unexpected rejection: {rejection}"),
        }
    }

    /// Applies `command`, which must succeed with a booking.
    #[track_caller]
    fn booking(&mut self, command: Command) -> Booking {
        match self.ok(command) {
            Effect::Booking(booking) => booking,
            other => panic!("expected a booking, got {other:?}"),
        }
    }

    #[track_caller]
    fn hold(&mut self, seats: &[u32], user: &str) -> BookingId {
        self.booking(hold("s1", seats, user, TTL)).id
    }

    #[track_caller]
    fn book(&mut self, seats: &[u32], user: &str) -> BookingId {
        self.booking(book("s1", seats, user)).id
    }

    /// Applies `command`, which must be rejected with exactly `expected` and change no business data.
    #[track_caller]
    fn reject(&mut self, command: Command, expected: Rejection) {
        let before = business(&self.state);
        assert_eq!(self.run(command), Err(expected));
        assert_eq!(
            business(&self.state),
            before,
            "a rejection changed the state"
        );
    }

    /// Applies `command`, which must be rejected as `Invalid` naming `field`, changing no business data.
    #[track_caller]
    fn reject_invalid(&mut self, command: Command, field: &str) {
        let before = business(&self.state);
        match self.run(command) {
            Err(Rejection::Invalid(message)) => assert!(
                message.contains(field),
                "message {message:?} does not name {field:?}"
            ),
            other => panic!("expected Invalid naming {field}, got {other:?}"),
        }
        assert_eq!(
            business(&self.state),
            before,
            "a rejection changed the state"
        );
    }

    fn show(&self) -> &Show {
        self.state.show(&"s1".into()).expect("fixture show exists")
    }

    fn status(&self, id: BookingId) -> BookingStatus {
        self.state.booking(id).expect("booking exists").status
    }
}

/// The state without its clock and dedup records: what a rejection must leave unchanged.
fn business(state: &State) -> State {
    let mut state = state.clone();
    state.now = Timestamp(0);
    state.dedup.clear();
    state.dedup_by_time.clear();
    state
}

fn create(show: &str, seat_count: u32) -> Command {
    Command::CreateShow {
        show: show.into(),
        title: "Hamlet".into(),
        seat_count,
        price_cents: PRICE,
        starts_at: START,
    }
}

fn update(show: &str) -> Command {
    Command::UpdateShow {
        show: show.into(),
        title: None,
        seat_count: None,
        price_cents: None,
        starts_at: None,
    }
}

fn resize(show: &str, seat_count: u32) -> Command {
    let mut command = update(show);
    if let Command::UpdateShow {
        seat_count: count, ..
    } = &mut command
    {
        *count = Some(seat_count);
    }
    command
}

fn seats(numbers: &[u32]) -> Vec<SeatNo> {
    numbers.iter().copied().map(SeatNo).collect()
}

fn hold(show: &str, numbers: &[u32], user: &str, ttl_ms: i64) -> Command {
    Command::Hold {
        show: show.into(),
        seats: seats(numbers),
        user: user.into(),
        ttl_ms,
    }
}

fn book(show: &str, numbers: &[u32], user: &str) -> Command {
    Command::Book {
        show: show.into(),
        seats: seats(numbers),
        user: user.into(),
    }
}

fn confirm(id: BookingId) -> Command {
    Command::Confirm { booking: id }
}

fn release(id: BookingId) -> Command {
    Command::Release { booking: id }
}

fn cancel(id: BookingId, user: &str) -> Command {
    Command::Cancel {
        booking: id,
        user: user.into(),
    }
}

fn request(id: &str, command: Command) -> Request {
    Request {
        request_id: id.into(),
        command,
    }
}

fn wrong(id: BookingId, status: &str, expected: &str) -> Rejection {
    Rejection::WrongStatus {
        booking: id,
        status: status.into(),
        expected: expected.into(),
    }
}

// ----- CreateShow -----

#[test]
fn create_show_returns_summary() {
    let mut f = Fixture::new();
    let effect = f.ok(Command::CreateShow {
        show: "s0".into(),
        title: "  The Tempest ".into(),
        seat_count: 3,
        price_cents: 0,
        starts_at: START,
    });
    let expected = ShowSummary {
        id: "s0".into(),
        title: "The Tempest".into(),
        seat_count: 3,
        price_cents: 0,
        starts_at: START,
        available: 3,
        held: 0,
        booked: 0,
    };
    assert_eq!(effect, Effect::Show(expected.clone()));
    assert_eq!(
        f.state.show(&"s0".into()).map(Show::summary),
        Some(expected)
    );
    let ids: Vec<_> = f.state.shows().map(|show| show.id.as_str()).collect();
    assert_eq!(ids, ["s0", "s1"]);
    assert_eq!(f.show().seats, vec![Seat::Available; 8]);
}

#[test]
fn create_show_rejections() {
    let mut f = Fixture::new();
    f.reject(create("s1", 4), Rejection::ShowExists("s1".into()));
    f.reject_invalid(create("", 4), "show");
    f.reject_invalid(create(&"x".repeat(MAX_ID_LEN + 1), 4), "show");
    f.reject_invalid(create("my show", 4), "show");
    f.reject_invalid(create("s2", 0), "seat_count");
    f.reject_invalid(create("s2", MAX_SEATS_PER_SHOW + 1), "seat_count");
    let mut negative = create("s2", 4);
    if let Command::CreateShow { price_cents, .. } = &mut negative {
        *price_cents = -1;
    }
    f.reject_invalid(negative, "price_cents");
    let mut untitled = create("s2", 4);
    if let Command::CreateShow { title, .. } = &mut untitled {
        *title = "  ".into();
    }
    f.reject_invalid(untitled, "title");
    assert_eq!(f.state.shows().count(), 1);
}

// ----- UpdateShow -----

#[test]
fn update_show_changes_fields() {
    let mut f = Fixture::new();
    let id = f.book(&[1, 2], "alice");
    let effect = f.ok(Command::UpdateShow {
        show: "s1".into(),
        title: Some(" Macbeth ".into()),
        seat_count: Some(10),
        price_cents: Some(4_000),
        starts_at: Some(Timestamp(60_000_000)),
    });
    let expected = ShowSummary {
        id: "s1".into(),
        title: "Macbeth".into(),
        seat_count: 10,
        price_cents: 4_000,
        starts_at: Timestamp(60_000_000),
        available: 8,
        held: 0,
        booked: 2,
    };
    assert_eq!(effect, Effect::Show(expected));
    assert_eq!(f.show().seat(SeatNo(10)), Some(Seat::Available));
    assert_eq!(f.show().seat(SeatNo(11)), None);
    // The existing booking keeps the price it was made at.
    assert_eq!(f.state.booking(id).map(|b| b.total_cents), Some(2 * PRICE));
    let later = f.booking(book("s1", &[9], "bob"));
    assert_eq!(later.total_cents, 4_000);
}

#[test]
fn update_show_shrinks_over_free_seats() {
    let mut f = Fixture::new();
    f.hold(&[1], "alice");
    f.book(&[4], "bob");
    f.ok(resize("s1", 4));
    assert_eq!(f.show().seat_count(), 4);
    assert_eq!(f.show().available(), 2);
}

#[test]
fn update_show_rejections() {
    let mut f = Fixture::new();
    f.hold(&[8], "alice");
    f.book(&[6], "bob");
    f.reject(
        resize("s1", 4),
        Rejection::SeatInUse {
            show: "s1".into(),
            seat_count: 4,
            seat: SeatNo(6),
        },
    );
    f.reject(
        resize("s1", 7),
        Rejection::SeatInUse {
            show: "s1".into(),
            seat_count: 7,
            seat: SeatNo(8),
        },
    );
    f.reject(resize("nope", 4), Rejection::ShowNotFound("nope".into()));
    f.reject_invalid(update("s1"), "at least one");
    f.reject_invalid(resize("s1", 0), "seat_count");
}

// ----- Hold -----

#[test]
fn hold_takes_seats_until_expiry() {
    let mut f = Fixture::new();
    let booking = f.booking(hold("s1", &[5, 3], "alice", TTL));
    let expires_at = Timestamp(T0.0 + TTL);
    assert_eq!(
        booking,
        Booking {
            id: BookingId(1),
            show: "s1".into(),
            seats: seats(&[3, 5]),
            user: "alice".into(),
            total_cents: 2 * PRICE,
            created_at: T0,
            status: BookingStatus::Held { expires_at },
        }
    );
    assert_eq!(f.show().seat(SeatNo(3)), Some(Seat::Held(BookingId(1))));
    assert_eq!(f.show().seat(SeatNo(5)), Some(Seat::Held(BookingId(1))));
    assert_eq!(
        (f.show().held, f.show().booked, f.show().available()),
        (2, 0, 6)
    );
    assert_eq!(f.state.next_hold_expiry(), Some(expires_at));
    let mine: Vec<_> = f.state.bookings_of(&"alice".into()).collect();
    assert_eq!(mine, [&booking]);
}

#[test]
fn hold_rejections() {
    let mut f = Fixture::new();
    f.hold(&[2], "alice");
    f.book(&[4], "bob");
    f.reject(
        hold("s9", &[1], "carol", TTL),
        Rejection::ShowNotFound("s9".into()),
    );
    f.reject(
        hold("s1", &[10, 9, 1], "carol", TTL),
        Rejection::NoSuchSeat {
            show: "s1".into(),
            seat: SeatNo(9),
            seat_count: 8,
        },
    );
    // The first unavailable seat in ascending order is reported.
    f.reject(
        hold("s1", &[5, 4, 2], "carol", TTL),
        Rejection::SeatHeld { seat: SeatNo(2) },
    );
    f.reject(
        hold("s1", &[5, 4, 3], "carol", TTL),
        Rejection::SeatBooked { seat: SeatNo(4) },
    );
    f.reject_invalid(hold("s1", &[0], "carol", TTL), "seat 0");
    f.reject_invalid(hold("s1", &[1, 1], "carol", TTL), "twice");
    f.reject_invalid(hold("s1", &[], "carol", TTL), "seats");
    f.reject_invalid(
        hold("s1", &[1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3], "carol", TTL),
        "seats",
    );
    f.reject_invalid(hold("s1", &[1], "carol", 0), "ttl_ms");
    f.reject_invalid(hold("s1", &[1], "carol", MAX_HOLD_TTL_MS + 1), "ttl_ms");
    f.reject_invalid(hold("s1", &[1], "", TTL), "user");
    f.reject_invalid(hold("", &[1], "carol", TTL), "show");
    f.at = START;
    f.reject(
        hold("s1", &[1], "carol", TTL),
        Rejection::ShowStarted("s1".into()),
    );
}

#[test]
fn rejections_do_not_consume_booking_ids() {
    let mut f = Fixture::new();
    assert_eq!(f.hold(&[1], "alice"), BookingId(1));
    f.reject(
        hold("s1", &[1], "bob", TTL),
        Rejection::SeatHeld { seat: SeatNo(1) },
    );
    assert_eq!(f.book(&[2], "bob"), BookingId(2));
    assert_eq!(f.hold(&[3], "alice"), BookingId(3));
}

// ----- Book -----

#[test]
fn book_sells_seats_directly() {
    let mut f = Fixture::new();
    let booking = f.booking(book("s1", &[8, 7], "bob"));
    assert_eq!(booking.seats, seats(&[7, 8]));
    assert_eq!(booking.status, BookingStatus::Confirmed { at: T0 });
    assert_eq!(booking.total_cents, 2 * PRICE);
    assert_eq!(f.show().seat(SeatNo(7)), Some(Seat::Booked(booking.id)));
    assert_eq!((f.show().held, f.show().booked), (0, 2));
    assert_eq!(f.state.next_hold_expiry(), None);
}

#[test]
fn book_rejections() {
    let mut f = Fixture::new();
    f.book(&[3], "alice");
    f.reject(
        book("s1", &[1, 3], "bob"),
        Rejection::SeatBooked { seat: SeatNo(3) },
    );
    f.reject(
        book("s1", &[9], "bob"),
        Rejection::NoSuchSeat {
            show: "s1".into(),
            seat: SeatNo(9),
            seat_count: 8,
        },
    );
    f.reject(book("x", &[1], "bob"), Rejection::ShowNotFound("x".into()));
    f.reject_invalid(book("s1", &[2, 2], "bob"), "twice");
    f.reject_invalid(book("s1", &[1], "b o b"), "user");
    f.at = Timestamp(START.0 + 1);
    f.reject(book("s1", &[1], "bob"), Rejection::ShowStarted("s1".into()));
}

// ----- Confirm -----

#[test]
fn confirm_turns_hold_into_sale() {
    let mut f = Fixture::new();
    let id = f.hold(&[1, 2], "alice");
    f.at = Timestamp(T0.0 + TTL - 1);
    let booking = f.booking(confirm(id));
    assert_eq!(booking.status, BookingStatus::Confirmed { at: f.at });
    assert_eq!(f.show().seat(SeatNo(2)), Some(Seat::Booked(id)));
    assert_eq!((f.show().held, f.show().booked), (0, 2));
    assert_eq!(f.state.next_hold_expiry(), None);
}

#[test]
fn confirm_rejections() {
    let mut f = Fixture::new();
    let held = f.hold(&[1], "alice");
    let sold = f.book(&[2], "bob");
    let released = f.hold(&[3], "carol");
    f.ok(release(released));
    f.reject(
        confirm(BookingId(99)),
        Rejection::BookingNotFound(BookingId(99)),
    );
    f.reject(confirm(sold), wrong(sold, "confirmed", "held"));
    f.reject(confirm(released), wrong(released, "released", "held"));
    // At the expiry instant the hold can no longer be confirmed, and stays for ExpireHolds.
    f.at = Timestamp(T0.0 + TTL);
    f.reject(confirm(held), Rejection::HoldExpired(held));
    assert!(matches!(f.status(held), BookingStatus::Held { .. }));
    f.at = Timestamp(T0.0 + TTL + 5_000);
    f.reject(confirm(held), Rejection::HoldExpired(held));
    assert_eq!(f.ok(Command::ExpireHolds), Effect::Expired { released: 1 });
    f.reject(confirm(held), wrong(held, "released", "held"));
}

// ----- Release -----

#[test]
fn release_frees_seats() {
    let mut f = Fixture::new();
    let id = f.hold(&[4, 5], "alice");
    let booking = f.booking(release(id));
    assert_eq!(
        booking.status,
        BookingStatus::Released {
            at: T0,
            expired: false
        }
    );
    assert_eq!(f.show().seat(SeatNo(4)), Some(Seat::Available));
    assert_eq!(f.show().available(), 8);
    assert_eq!(f.state.next_hold_expiry(), None);
    // The seats can be taken again.
    f.book(&[4, 5], "bob");
}

#[test]
fn release_rejections() {
    let mut f = Fixture::new();
    let id = f.hold(&[1], "alice");
    let sold = f.book(&[2], "bob");
    f.ok(release(id));
    f.reject(release(id), wrong(id, "released", "held"));
    f.reject(release(sold), wrong(sold, "confirmed", "held"));
    f.reject(
        release(BookingId(0)),
        Rejection::BookingNotFound(BookingId(0)),
    );
}

// ----- Cancel -----

#[test]
fn cancel_frees_sold_seats() {
    let mut f = Fixture::new();
    let id = f.book(&[6], "alice");
    let booking = f.booking(cancel(id, "alice"));
    assert_eq!(booking.status, BookingStatus::Cancelled { at: T0 });
    assert_eq!(f.show().seat(SeatNo(6)), Some(Seat::Available));
    assert_eq!(f.show().booked, 0);
    f.hold(&[6], "bob");
}

#[test]
fn cancel_rejections() {
    let mut f = Fixture::new();
    let sold = f.book(&[1], "alice");
    let held = f.hold(&[2], "alice");
    f.reject(cancel(sold, "bob"), Rejection::BookingNotFound(sold));
    f.reject(
        cancel(BookingId(42), "alice"),
        Rejection::BookingNotFound(BookingId(42)),
    );
    f.reject(cancel(held, "alice"), wrong(held, "held", "confirmed"));
    f.reject_invalid(cancel(sold, ""), "user");
    f.ok(cancel(sold, "alice"));
    f.reject(cancel(sold, "alice"), wrong(sold, "cancelled", "confirmed"));
    // A non-owner learns nothing, even about a cancelled booking.
    f.reject(cancel(sold, "bob"), Rejection::BookingNotFound(sold));
}

// ----- ExpireHolds -----

#[test]
fn expire_holds_releases_due_holds_only() {
    let mut f = Fixture::new();
    let early = f.hold(&[1], "alice");
    f.at = Timestamp(T0.0 + 10_000);
    let late = f.hold(&[2, 3], "bob");
    let sold = f.book(&[4], "carol");
    assert_eq!(f.state.next_hold_expiry(), Some(Timestamp(T0.0 + TTL)));

    assert_eq!(f.ok(Command::ExpireHolds), Effect::Expired { released: 0 });
    f.at = Timestamp(T0.0 + TTL);
    assert_eq!(f.ok(Command::ExpireHolds), Effect::Expired { released: 1 });
    assert_eq!(
        f.status(early),
        BookingStatus::Released {
            at: f.at,
            expired: true
        }
    );
    assert!(matches!(f.status(late), BookingStatus::Held { .. }));
    assert_eq!(
        f.state.next_hold_expiry(),
        Some(Timestamp(T0.0 + 10_000 + TTL))
    );

    f.at = Timestamp(T0.0 + 1_000_000);
    assert_eq!(f.ok(Command::ExpireHolds), Effect::Expired { released: 1 });
    assert_eq!(f.state.next_hold_expiry(), None);
    assert_eq!((f.show().held, f.show().booked), (0, 1));
    assert!(matches!(f.status(sold), BookingStatus::Confirmed { .. }));
}

// ----- Queries and time -----

#[test]
fn bookings_of_lists_a_users_bookings_in_id_order() {
    let mut f = Fixture::new();
    let a1 = f.hold(&[1], "alice");
    let b1 = f.book(&[2], "bob");
    let a2 = f.book(&[3], "alice");
    f.ok(release(a1));
    let ids = |f: &Fixture, user: &str| -> Vec<BookingId> {
        f.state.bookings_of(&user.into()).map(|b| b.id).collect()
    };
    assert_eq!(ids(&f, "alice"), [a1, a2]);
    assert_eq!(ids(&f, "bob"), [b1]);
    assert_eq!(ids(&f, "nobody"), []);
}

#[test]
fn time_never_goes_backwards() {
    let mut f = Fixture::new();
    f.at = Timestamp(T0.0 + 5_000);
    f.ok(Command::ExpireHolds);
    f.at = T0;
    let booking = f.booking(hold("s1", &[1], "alice", TTL));
    assert_eq!(f.state.now(), Timestamp(T0.0 + 5_000));
    assert_eq!(booking.created_at, Timestamp(T0.0 + 5_000));
    assert_eq!(
        booking.status,
        BookingStatus::Held {
            expires_at: Timestamp(T0.0 + 5_000 + TTL)
        }
    );
}

#[test]
fn extreme_times_do_not_overflow() {
    let mut state = State::new();
    let far = Timestamp(i64::MAX - 10);
    let mut show = create("s1", 2);
    if let Command::CreateShow { starts_at, .. } = &mut show {
        *starts_at = Timestamp(i64::MAX);
    }
    assert!(state.apply(far, &request("a", show)).is_ok());
    let held = state.apply(far, &request("b", hold("s1", &[1], "u", MAX_HOLD_TTL_MS)));
    match held {
        Ok(Effect::Booking(booking)) => assert_eq!(
            booking.status,
            BookingStatus::Held {
                expires_at: Timestamp(i64::MAX)
            }
        ),
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        state
            .apply(Timestamp(i64::MAX), &request("c", Command::ExpireHolds))
            .is_ok()
    );
    assert!(
        state
            .apply(Timestamp(i64::MIN), &request("d", Command::ExpireHolds))
            .is_ok()
    );
    assert_eq!(state.check_invariants(), Ok(()));
}

// ----- Dedup -----

#[test]
fn retry_returns_first_outcome_and_changes_nothing() {
    let mut f = Fixture::new();
    let first = f
        .state
        .apply(T0, &request("r1", hold("s1", &[1], "alice", TTL)));
    assert!(first.is_ok());
    f.state
        .apply(T0, &request("r2", book("s1", &[2], "bob")))
        .ok();
    let before = f.state.clone();
    let again = f.state.apply(
        Timestamp(T0.0 + 1_000),
        &request("r1", hold("s1", &[1], "alice", TTL)),
    );
    assert_eq!(again, first);
    assert_eq!(f.state, before);

    // Rejections are remembered too.
    let rejected = f
        .state
        .apply(T0, &request("r3", hold("s1", &[2], "carol", TTL)));
    assert_eq!(rejected, Err(Rejection::SeatBooked { seat: SeatNo(2) }));
    f.ok(release(BookingId(1)));
    let before = f.state.clone();
    assert_eq!(
        f.state
            .apply(T0, &request("r3", hold("s1", &[2], "carol", TTL))),
        rejected
    );
    assert_eq!(f.state, before);
}

#[test]
fn reused_request_id_is_refused() {
    let mut f = Fixture::new();
    f.state
        .apply(T0, &request("r1", hold("s1", &[1], "alice", TTL)))
        .ok();
    let before = f.state.clone();
    assert_eq!(
        f.state
            .apply(T0, &request("r1", hold("s1", &[2], "alice", TTL))),
        Err(Rejection::RequestIdReused("r1".into()))
    );
    assert_eq!(f.state, before);
}

#[test]
fn malformed_request_id_is_refused_without_a_trace() {
    let mut f = Fixture::new();
    let before = f.state.clone();
    let long = "r".repeat(MAX_ID_LEN + 1);
    for id in ["", "has space", long.as_str()] {
        let outcome = f
            .state
            .apply(Timestamp(T0.0 + 9), &request(id, Command::ExpireHolds));
        assert!(matches!(outcome, Err(Rejection::Invalid(m)) if m.contains("request_id")));
    }
    assert_eq!(f.state, before);
}

#[test]
fn dedup_records_expire_after_the_window() {
    let mut f = Fixture::new();
    let first = f
        .state
        .apply(T0, &request("r1", hold("s1", &[1], "alice", TTL)));
    assert!(f.state.dedup.contains_key(&"r1".into()));

    // Just inside the window the record still answers.
    let inside = Timestamp(T0.0 + DEDUP_TTL_MS - 1);
    let before = f.state.clone();
    assert_eq!(
        f.state
            .apply(inside, &request("r1", hold("s1", &[1], "alice", TTL))),
        first
    );
    assert_eq!(f.state, before);

    // At the edge of the window it is pruned by the next apply.
    let edge = Timestamp(T0.0 + DEDUP_TTL_MS);
    f.state
        .apply(edge, &request("other", Command::ExpireHolds))
        .ok();
    assert!(!f.state.dedup.contains_key(&"r1".into()));
    assert_eq!(f.state.check_invariants(), Ok(()));

    // The id is free again: the same command now runs afresh.
    let again = f
        .state
        .apply(edge, &request("r1", hold("s1", &[1], "alice", TTL)));
    match again {
        Ok(Effect::Booking(booking)) => assert_eq!(booking.id, BookingId(2)),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn stale_records_are_ignored_before_they_are_pruned() {
    let mut state = State::new();
    let count = DEDUP_PRUNE_BATCH * 2 + 5;
    for i in 0..count {
        state
            .apply(T0, &request(&format!("r{i}"), Command::ExpireHolds))
            .ok();
    }
    assert_eq!(state.dedup.len(), count);
    let later = Timestamp(T0.0 + DEDUP_TTL_MS);
    // The last record is not yet pruned, but its id may be reused for anything.
    state.apply(later, &request("x", Command::ExpireHolds)).ok();
    assert_eq!(state.dedup.len(), count - DEDUP_PRUNE_BATCH + 1);
    let (_, last) = state
        .dedup_by_time
        .iter()
        .rev()
        .find(|(at, _)| *at == T0)
        .cloned()
        .expect("an unpruned stale record remains");
    assert!(
        state
            .apply(later, &request(last.as_str(), create("s1", 1)))
            .is_ok()
    );
    assert_eq!(state.check_invariants(), Ok(()));
    // A few more applies catch up completely.
    for i in 0..3 {
        state
            .apply(later, &request(&format!("y{i}"), Command::ExpireHolds))
            .ok();
    }
    assert_eq!(state.dedup.len(), 5);
    assert_eq!(state.dedup_by_time.len(), 5);
    assert_eq!(state.check_invariants(), Ok(()));
}

// ----- Snapshots and invariants -----

#[test]
fn snapshot_round_trip_preserves_everything() {
    let mut f = Fixture::new();
    f.hold(&[1, 2], "alice");
    let sold = f.book(&[3], "bob");
    f.ok(cancel(sold, "bob"));
    f.book(&[3], "carol");
    let bytes = postcard::to_allocvec(&f.state).expect("serializes");
    let restored: State = postcard::from_bytes(&bytes).expect("deserializes");
    assert_eq!(restored, f.state);
}

#[test]
fn inconsistent_snapshots_are_refused() {
    let mut f = Fixture::new();
    f.hold(&[1], "alice");
    let snapshot = |state: &State| Snapshot {
        now: state.now,
        last_booking_id: state.last_booking_id,
        shows: state.shows.values().cloned().collect(),
        bookings: state.bookings.values().cloned().collect(),
        dedup: state.dedup.clone(),
    };
    assert!(State::from_snapshot(snapshot(&f.state)).is_ok());

    let mut dangling = snapshot(&f.state);
    dangling.shows[0].seats[4] = Seat::Booked(BookingId(7));
    assert!(State::from_snapshot(dangling).is_err());

    let mut duplicated = snapshot(&f.state);
    duplicated.shows.push(duplicated.shows[0].clone());
    assert!(State::from_snapshot(duplicated).is_err());

    let mut miscounted = snapshot(&f.state);
    miscounted.shows[0].held = 0;
    assert!(State::from_snapshot(miscounted).is_err());

    let mut unissued = snapshot(&f.state);
    unissued.last_booking_id = 0;
    assert!(State::from_snapshot(unissued).is_err());
}

#[test]
fn check_invariants_detects_corruption() {
    let mut f = Fixture::new();
    let id = f.hold(&[1, 2], "alice");
    let mut bad = f.state.clone();
    if let Some(show) = bad.shows.get_mut(&"s1".into()) {
        show.seats[1] = Seat::Available;
    }
    assert!(bad.check_invariants().is_err());

    let mut bad = f.state.clone();
    if let Some(booking) = bad.bookings.get_mut(&id) {
        booking.status = BookingStatus::Confirmed { at: T0 };
    }
    assert!(bad.check_invariants().is_err());

    let mut bad = f.state.clone();
    bad.hold_expiry.clear();
    assert!(bad.check_invariants().is_err());

    let mut bad = f.state.clone();
    bad.by_user.clear();
    assert!(bad.check_invariants().is_err());

    let mut bad = f.state.clone();
    bad.dedup_by_time.clear();
    assert!(bad.check_invariants().is_err());
}
