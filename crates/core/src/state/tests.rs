//! Unit tests of `State::apply`: each command's happy path and rejections,
//! authorization, and dedup.

use super::snapshot::Snapshot;
use super::*;
use crate::command::HoldLimits;
use crate::ids::{
    MAX_HOLD_TTL_MS, MAX_ID_LEN, MAX_SEATS_PER_SHOW, OrderId, RequestId, SeatNo, TransactionId,
};

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

    /// Applies `command` as a trusted request under a fresh request id at the fixture's time.
    fn run(&mut self, command: Command) -> Outcome {
        self.run_as(None, command)
    }

    /// Applies `command` from `caller` under a fresh request id at the fixture's time.
    fn run_as(&mut self, caller: Option<Caller>, command: Command) -> Outcome {
        self.next_request += 1;
        let request = Request {
            request_id: RequestId(format!("req-{}", self.next_request)),
            caller,
            command,
        };
        let outcome = self.state.apply(self.at, &request);
        assert_eq!(self.state.check_invariants(), Ok(()));
        outcome
    }

    /// Applies `command` from `caller`, which must succeed.
    #[track_caller]
    fn ok_as(&mut self, caller: &Caller, command: Command) -> Effect {
        match self.run_as(Some(caller.clone()), command) {
            Ok(effect) => effect,
            Err(rejection) => panic!("unexpected rejection: {rejection}"),
        }
    }

    /// Applies `command`, which must succeed with an account.
    #[track_caller]
    fn user(&mut self, command: Command) -> UserSummary {
        match self.ok(command) {
            Effect::User(user) => user,
            other => panic!("expected a user, got {other:?}"),
        }
    }

    /// Registers an account with a trusted request; returns its id.
    #[track_caller]
    fn register(&mut self, email: &str, admin: bool) -> UserId {
        self.user(register(email, admin)).id
    }

    /// A caller acting as `user` with its current token version.
    #[track_caller]
    fn caller(&self, user: &UserId) -> Caller {
        let token_version = self.state.user(user).expect("user exists").token_version;
        Caller {
            user: user.clone(),
            token_version,
        }
    }

    /// Applies `command` from `caller`, which must be rejected with exactly
    /// `expected` and change no business data.
    #[track_caller]
    fn reject_as(&mut self, caller: &Caller, command: Command, expected: Rejection) {
        let before = business(&self.state);
        assert_eq!(self.run_as(Some(caller.clone()), command), Err(expected));
        assert_eq!(
            business(&self.state),
            before,
            "a rejection changed the state"
        );
    }

    /// Applies `command` from `caller`, which must be refused as `PermissionDenied`
    /// with a message containing `needed`, changing no business data.
    #[track_caller]
    fn deny(&mut self, caller: &Caller, command: Command, needed: &str) {
        let before = business(&self.state);
        match self.run_as(Some(caller.clone()), command) {
            Err(Rejection::PermissionDenied(message)) => assert!(
                message.contains(needed),
                "message {message:?} does not say {needed:?}"
            ),
            other => panic!("expected PermissionDenied, got {other:?}"),
        }
        assert_eq!(business(&self.state), before, "a refusal changed the state");
    }

    /// Applies `command` from `caller`, which must fail authentication and
    /// change nothing at all, not even the clock or the dedup records.
    #[track_caller]
    fn unauthenticated(&mut self, caller: &Caller, command: Command) {
        let before = self.state.clone();
        assert_eq!(
            self.run_as(Some(caller.clone()), command),
            Err(Rejection::Unauthenticated(SESSION_INVALID.into()))
        );
        assert_eq!(
            self.state, before,
            "an unauthenticated request left a trace"
        );
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

/// The order id `hold` gives its holds.
fn order_of(show: &str, numbers: &[u32], user: &str) -> OrderId {
    OrderId(format!("ord-{show}-{user}-{numbers:?}").replace(' ', ""))
}

fn hold(show: &str, numbers: &[u32], user: &str, ttl_ms: i64) -> Command {
    Command::Hold {
        order: order_of(show, numbers, user),
        show: show.into(),
        seats: seats(numbers),
        user: user.into(),
        ttl_ms,
        max_seats_per_user: 0,
        limits: HoldLimits::NONE,
    }
}

fn book(show: &str, numbers: &[u32], user: &str) -> Command {
    Command::Book {
        show: show.into(),
        seats: seats(numbers),
        user: user.into(),
        max_seats_per_user: 0,
    }
}

/// `command` (a `Hold` or `Book`) with a per-customer seat cap.
fn capped(mut command: Command, cap: u32) -> Command {
    if let Command::Hold {
        max_seats_per_user, ..
    }
    | Command::Book {
        max_seats_per_user, ..
    } = &mut command
    {
        *max_seats_per_user = cap;
    }
    command
}

/// A well-formed PHC string, as the auth service would produce.
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
/// Another one.
const HASH2: &str = "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNo";

fn register(email: &str, admin: bool) -> Command {
    Command::RegisterUser {
        email: email.into(),
        password_hash: HASH.into(),
        admin,
    }
}

fn bootstrap(email: &str) -> Command {
    Command::BootstrapAdmin {
        email: email.into(),
        password_hash: HASH.into(),
    }
}

fn set_admin(user: &UserId, admin: bool) -> Command {
    Command::SetAdmin {
        user: user.clone(),
        admin,
    }
}

fn revoke(user: &UserId) -> Command {
    Command::RevokeSessions { user: user.clone() }
}

fn change_password(user: &UserId, hash: &str) -> Command {
    Command::ChangePassword {
        user: user.clone(),
        password_hash: hash.into(),
    }
}

/// The transaction id `confirm` pays with.
fn tx_of(id: BookingId) -> TransactionId {
    TransactionId(format!("tx-{id}"))
}

fn confirm(id: BookingId) -> Command {
    Command::Confirm {
        booking: id,
        transaction: Some(tx_of(id)),
    }
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
        caller: None,
        command,
    }
}

fn request_as(id: &str, caller: &Caller, command: Command) -> Request {
    Request {
        request_id: id.into(),
        caller: Some(caller.clone()),
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
    assert_eq!(
        f.show().seats.iter().collect::<Vec<_>>(),
        vec![Seat::Available; 8]
    );
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
            order: Some(order_of("s1", &[5, 3], "alice")),
            payment: Payment::Pending,
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
    assert_eq!(mine, [booking]);
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
            lapsed: false
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
    f.reject(cancel(sold, "bob"), Rejection::BookingNotFound(sold));
    f.reject(
        cancel(BookingId(42), "alice"),
        Rejection::BookingNotFound(BookingId(42)),
    );
    f.reject_invalid(cancel(sold, ""), "user");
    let cancelled = f.booking(cancel(sold, "alice"));
    assert!(matches!(cancelled.status, BookingStatus::Cancelled { .. }));
    assert_eq!(cancelled.payment, Payment::None, "nothing was paid");
    // Cancelling twice is harmless: the booking comes back unchanged.
    let before = business(&f.state);
    assert_eq!(f.booking(cancel(sold, "alice")), cancelled);
    assert_eq!(business(&f.state), before);
    // A non-owner learns nothing, even about a cancelled booking.
    f.reject(cancel(sold, "bob"), Rejection::BookingNotFound(sold));
}

#[test]
fn cancelling_a_hold_abandons_the_checkout() {
    let mut f = Fixture::new();
    let held = f.hold(&[2], "alice");
    let released = f.booking(cancel(held, "alice"));
    assert_eq!(
        released.status,
        BookingStatus::Released {
            at: f.at,
            lapsed: true
        }
    );
    assert_eq!(f.show().seat(SeatNo(2)), Some(Seat::Available));
    // A charge may still be in flight: the order awaits settlement.
    assert_eq!(released.payment, Payment::Pending);
    assert_eq!(ids(f.state.unsettled()), [held]);
    f.state.check_invariants().unwrap();
}

// ----- Payments -----

fn ids(bookings: impl Iterator<Item = Booking>) -> Vec<BookingId> {
    bookings.map(|booking| booking.id).collect()
}

fn settle(id: BookingId, charge: Option<TransactionId>) -> Command {
    Command::Settle {
        booking: id,
        charge,
    }
}

fn record_refund(id: BookingId) -> Command {
    Command::RecordRefund { booking: id }
}

#[test]
fn a_paid_booking_is_refunded_once_when_cancelled() {
    let mut f = Fixture::new();
    let id = f.hold(&[1, 2], "alice");
    assert_eq!(ids(f.state.holds()), [id]);
    let paid = f.booking(confirm(id));
    assert_eq!(paid.payment, Payment::Charged(tx_of(id)));
    assert!(f.state.holds().next().is_none());
    assert!(f.state.unsettled().next().is_none());
    let cancelled = f.booking(cancel(id, "alice"));
    assert_eq!(cancelled.payment, Payment::RefundDue(tx_of(id)));
    assert_eq!(ids(f.state.unsettled()), [id]);
    assert_eq!(
        f.booking(record_refund(id)).payment,
        Payment::Refunded(tx_of(id))
    );
    assert!(f.state.unsettled().next().is_none());
    // Recording it again (a retry after a lost reply) is harmless.
    let before = business(&f.state);
    assert_eq!(
        f.booking(record_refund(id)).payment,
        Payment::Refunded(tx_of(id))
    );
    assert_eq!(business(&f.state), before);
    f.state.check_invariants().unwrap();
}

#[test]
fn confirming_needs_a_transaction_exactly_when_the_booking_costs_something() {
    let mut f = Fixture::new();
    let id = f.hold(&[1], "alice");
    let unpaid = Command::Confirm {
        booking: id,
        transaction: None,
    };
    f.reject_invalid(unpaid, "transaction");
    let paid = f.booking(confirm(id));
    // The same confirmation again returns the booking; another payment is refused.
    assert_eq!(f.booking(confirm(id)), paid);
    let other = Command::Confirm {
        booking: id,
        transaction: Some("tx-other".into()),
    };
    f.reject(other, wrong(id, "confirmed", "held"));

    f.ok(Command::UpdateShow {
        show: "s1".into(),
        title: None,
        seat_count: None,
        price_cents: Some(0),
        starts_at: None,
    });
    let free = f.hold(&[2], "bob");
    f.reject_invalid(confirm(free), "transaction");
    let confirmed = f.booking(Command::Confirm {
        booking: free,
        transaction: None,
    });
    assert_eq!(confirmed.payment, Payment::None);
    f.state.check_invariants().unwrap();
}

#[test]
fn an_ended_hold_is_settled_by_what_the_provider_says() {
    let mut f = Fixture::new();
    let declined = f.hold(&[1], "alice");
    let expired = f.hold(&[2], "bob");
    let held = f.hold(&[3], "carol");
    f.reject(
        settle(held, None),
        Rejection::WrongStatus {
            booking: held,
            status: "held with payment pending".into(),
            expected: "ended with its payment pending".into(),
        },
    );
    f.ok(release(declined));
    f.at = Timestamp(T0.0 + TTL);
    f.ok(Command::ExpireHolds);
    assert_eq!(ids(f.state.unsettled()), [declined, expired, held]);
    // Nothing was charged for the first; the second was paid too late.
    assert_eq!(
        f.booking(settle(declined, None)).payment,
        Payment::NotCharged
    );
    let late = TransactionId::from("tx-late");
    assert_eq!(
        f.booking(settle(expired, Some(late.clone()))).payment,
        Payment::RefundDue(late.clone())
    );
    assert_eq!(ids(f.state.unsettled()), [expired, held]);
    // Settling twice is refused: the provider's answer is final.
    f.reject(
        settle(declined, Some("tx-x".into())),
        Rejection::WrongStatus {
            booking: declined,
            status: "released with payment not charged".into(),
            expected: "ended with its payment pending".into(),
        },
    );
    f.reject(
        record_refund(declined),
        Rejection::WrongStatus {
            booking: declined,
            status: "payment not charged".into(),
            expected: "payment refund due".into(),
        },
    );
    f.reject(
        settle(BookingId(99), None),
        Rejection::BookingNotFound(BookingId(99)),
    );
    f.booking(record_refund(expired));
    assert_eq!(ids(f.state.unsettled()), [held]);
    f.state.check_invariants().unwrap();
}

#[test]
fn a_retried_hold_with_a_new_order_id_gets_the_first_outcome() {
    let mut f = Fixture::new();
    let first = hold("s1", &[4], "alice", TTL);
    let mut retry = first.clone();
    if let Command::Hold { order, .. } = &mut retry {
        *order = "ord-drawn-again".into();
    }
    let outcome = f.state.apply(f.at, &request("r-hold", first));
    assert_eq!(f.state.apply(f.at, &request("r-hold", retry)), outcome);
    let Ok(Effect::Booking(booking)) = outcome else {
        panic!("hold failed: {outcome:?}");
    };
    assert_eq!(booking.order, Some(order_of("s1", &[4], "alice")));
    assert_eq!(f.show().held, 1, "held once");
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
            lapsed: true
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
}

#[test]
fn a_rejection_is_not_remembered_and_its_retry_runs_afresh() {
    let mut f = Fixture::new();
    let alices = f.hold(&[2], "alice");
    let carols = request("r1", hold("s1", &[2], "carol", TTL));
    assert_eq!(
        f.state.apply(T0, &carols),
        Err(Rejection::SeatHeld { seat: SeatNo(2) })
    );
    assert!(
        f.state
            .dedup
            .get(&RequestKey::of(None, &"r1".into()))
            .is_none()
    );
    // Once the seat is free, the retry takes it.
    f.ok(release(alices));
    let retried = f.state.apply(T0, &carols);
    assert!(matches!(&retried, Ok(Effect::Booking(b)) if b.user == "carol".into()));
    // And that success is what later retries get.
    let before = f.state.clone();
    assert_eq!(f.state.apply(T0, &carols), retried);
    assert_eq!(f.state, before);
}

#[test]
fn two_users_with_the_same_request_id_both_succeed() {
    let mut f = Fixture::new();
    let ann = f.register("ann@example.com", false);
    let bob = f.register("bob@example.com", false);
    let (as_ann, as_bob) = (f.caller(&ann), f.caller(&bob));
    let anns = f.state.apply(
        T0,
        &request_as("r1", &as_ann, book("s1", &[1], ann.as_str())),
    );
    let bobs = f.state.apply(
        T0,
        &request_as("r1", &as_bob, book("s1", &[2], bob.as_str())),
    );
    let trusted = f.state.apply(T0, &request("r1", book("s1", &[3], "carol")));
    for outcome in [&anns, &bobs, &trusted] {
        assert!(matches!(outcome, Ok(Effect::Booking(_))), "{outcome:?}");
    }
    assert_eq!(f.show().booked, 3);
    // Each retry gets its own sender's first outcome.
    let before = f.state.clone();
    assert_eq!(
        f.state.apply(
            T0,
            &request_as("r1", &as_ann, book("s1", &[1], ann.as_str()))
        ),
        anns
    );
    assert_eq!(
        f.state.apply(
            T0,
            &request_as("r1", &as_bob, book("s1", &[2], bob.as_str()))
        ),
        bobs
    );
    assert_eq!(f.state, before);
}

#[test]
fn a_stranger_cannot_block_a_users_request_id() {
    let mut f = Fixture::new();
    let ann = f.register("ann@example.com", false);
    let bob = f.register("bob@example.com", false);
    let (as_ann, as_bob) = (f.caller(&ann), f.caller(&bob));
    // Bob saw the id ann's client will use, and gets there first with
    // anything at all; so does a forged session of ann's.
    f.state
        .apply(
            T0,
            &request_as("ann-1", &as_bob, book("s1", &[5], bob.as_str())),
        )
        .expect("bob books");
    let forged = Caller {
        user: ann.clone(),
        token_version: 7,
    };
    let before = f.state.clone();
    assert!(matches!(
        f.state.apply(
            T0,
            &request_as("ann-1", &forged, book("s1", &[6], ann.as_str()))
        ),
        Err(Rejection::Unauthenticated(_))
    ));
    assert_eq!(f.state, before, "an unauthenticated request left a trace");
    // Ann's request under that id is hers, not a reuse.
    let anns = f.state.apply(
        T0,
        &request_as("ann-1", &as_ann, hold("s1", &[1], ann.as_str(), TTL)),
    );
    assert!(matches!(anns, Ok(Effect::Booking(b)) if b.user == ann));
}

#[test]
fn a_revoked_session_learns_nothing_under_its_users_ids() {
    let mut f = Fixture::new();
    let ann = f.register("ann@example.com", false);
    let old = f.caller(&ann);
    let held = request_as("r1", &old, hold("s1", &[1], ann.as_str(), TTL));
    assert!(f.state.apply(T0, &held).is_ok());
    // Ann logs out elsewhere; whoever kept the old token cannot read back
    // what was recorded under her ids, nor tell a used id from a new one.
    f.ok(revoke(&ann));
    let before = f.state.clone();
    let reuse = request_as("r1", &old, book("s1", &[2], ann.as_str()));
    for request in [&held, &reuse] {
        assert_eq!(
            f.state.apply(T0, request),
            Err(Rejection::Unauthenticated(SESSION_INVALID.into()))
        );
    }
    assert_eq!(f.state, before);
    // With a fresh session, the retry gets its first outcome.
    let fresh = request_as("r1", &f.caller(&ann), hold("s1", &[1], ann.as_str(), TTL));
    assert!(matches!(f.state.apply(T0, &fresh), Ok(Effect::Booking(b)) if b.id == BookingId(1)));
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
fn only_the_system_may_use_its_request_ids() {
    let mut f = Fixture::new();
    let alice = f.register("alice@example.com", false);
    let caller = f.caller(&alice);
    let before = f.state.clone();
    let grab = request_as(
        "sys:confirm:ord-1",
        &caller,
        hold("s1", &[1], alice.as_str(), TTL),
    );
    let outcome = f.state.apply(T0, &grab);
    assert!(matches!(outcome, Err(Rejection::Invalid(m)) if m.contains("reserved")));
    assert_eq!(f.state, before, "refused without a trace");
    let system = request("sys:confirm:ord-1", Command::ExpireHolds);
    assert!(f.state.apply(T0, &system).is_ok());
}

#[test]
fn dedup_records_expire_after_the_window() {
    let mut f = Fixture::new();
    let first = f
        .state
        .apply(T0, &request("r1", hold("s1", &[1], "alice", TTL)));
    assert!(
        f.state
            .dedup
            .get(&RequestKey::of(None, &"r1".into()))
            .is_some()
    );

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
    assert!(
        f.state
            .dedup
            .get(&RequestKey::of(None, &"r1".into()))
            .is_none()
    );
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
    let last = format!("r{}", count - 1);
    assert!(
        state
            .dedup
            .get(&RequestKey::of(None, &last.as_str().into()))
            .is_some(),
        "an unpruned stale record remains"
    );
    assert!(state.apply(later, &request(&last, create("s1", 1))).is_ok());
    assert_eq!(state.check_invariants(), Ok(()));
    // A few more applies catch up completely.
    for i in 0..3 {
        state
            .apply(later, &request(&format!("y{i}"), Command::ExpireHolds))
            .ok();
    }
    assert_eq!(state.dedup.len(), 5);
    assert_eq!(state.check_invariants(), Ok(()));
}

#[test]
fn records_and_bookings_are_small() {
    assert!(std::mem::size_of::<DedupRecord>() <= 48);
}

#[test]
fn booking_outcomes_are_recorded_compactly_and_replayed_as_they_were() {
    let mut f = Fixture::new();
    let held = f
        .state
        .apply(T0, &request("h1", hold("s1", &[1, 2], "alice", TTL)));
    let Ok(Effect::Booking(booking)) = &held else {
        panic!("hold refused: {held:?}");
    };
    let id = booking.id;
    let confirmed = f.state.apply(T0, &request("c1", confirm(id)));
    let cancelled = f.state.apply(T0, &request("x1", cancel(id, "alice")));
    let refunded = f
        .state
        .apply(T0, &request("f1", Command::RecordRefund { booking: id }));
    assert!(matches!(
        &refunded,
        Ok(Effect::Booking(b)) if b.payment == Payment::Refunded(tx_of(id))
    ));
    // The system's confirmation is not recorded (it is idempotent by the
    // state); each other record is the compact form, not a copy of the booking.
    assert!(
        f.state
            .dedup
            .get(&RequestKey::of(None, &"c1".into()))
            .is_none()
    );
    for id in ["h1", "x1", "f1"] {
        let record = f
            .state
            .dedup
            .get(&RequestKey::of(None, &id.into()))
            .expect("recorded");
        assert!(
            matches!(record.outcome, Recorded::Booking { .. }),
            "{id} recorded as {:?}",
            record.outcome
        );
    }
    // Every retry gets its first outcome, although the booking has moved on.
    let before = f.state.clone();
    let hold_again = hold("s1", &[1, 2], "alice", TTL);
    assert_eq!(f.state.apply(T0, &request("h1", hold_again)), held);
    assert_eq!(
        f.state.apply(T0, &request("x1", cancel(id, "alice"))),
        cancelled
    );
    assert_eq!(f.state, before);
    // The confirmation's retry is judged afresh: the booking is cancelled now.
    assert!(matches!(confirmed, Ok(Effect::Booking(_))));
    assert!(matches!(
        f.state.apply(T0, &request("c1", confirm(id))),
        Err(Rejection::WrongStatus { .. })
    ));
    assert_eq!(f.state, before);
    // The same id with another command is a reuse; from another caller it
    // is another request.
    assert_eq!(
        f.state.apply(T0, &request("h1", release(id))),
        Err(Rejection::RequestIdReused("h1".into()))
    );
    let ann = f.register("ann@example.com", false);
    let caller = f.caller(&ann);
    assert!(matches!(
        f.state
            .apply(T0, &request_as("x1", &caller, cancel(id, "alice"))),
        Err(Rejection::PermissionDenied(_))
    ));
}

#[test]
fn records_of_the_same_time_snapshot_alike_in_any_apply_order() {
    let (mut a, mut b) = (State::new(), State::new());
    for id in ["r1", "r2", "r3"] {
        a.apply(T0, &request(id, Command::ExpireHolds)).ok();
    }
    for id in ["r3", "r1", "r2"] {
        b.apply(T0, &request(id, Command::ExpireHolds)).ok();
    }
    assert_eq!(a, b);
    assert_eq!(a.to_snapshot(), b.to_snapshot());
    b.apply(T0, &request("r4", Command::ExpireHolds)).ok();
    assert_ne!(a, b);
}

#[test]
fn a_booking_outcome_too_far_from_its_record_is_recorded_whole() {
    let mut f = Fixture::new();
    let id = f.book(&[4], "alice");
    f.ok(cancel(id, "alice"));
    // Cancelling again 30 days later answers with the booking as it was
    // cancelled, a time further from the record than 2^31 ms.
    let later = Timestamp(T0.0 + 30 * 24 * 60 * 60 * 1000);
    let again = request("x2", cancel(id, "alice"));
    let first = f.state.apply(later, &again);
    assert!(matches!(
        &first,
        Ok(Effect::Booking(b)) if b.status == BookingStatus::Cancelled { at: T0 }
    ));
    let record = f
        .state
        .dedup
        .get(&RequestKey::of(None, &"x2".into()))
        .expect("recorded");
    assert!(matches!(record.outcome, Recorded::Effect(_)));
    assert_eq!(f.state.apply(later, &again), first);
}

#[test]
fn only_whole_tagged_snapshots_are_restored() {
    let mut f = Fixture::new();
    let id = f.hold(&[3], "bob");
    f.ok(confirm(id));
    f.hold(&[4], "carol");
    let current = f.state.to_snapshot().expect("serializes");
    assert_eq!(
        State::from_snapshot_bytes(&current).expect("restores"),
        f.state
    );
    assert!(State::from_snapshot_bytes(&current[..current.len() - 1]).is_err());
    assert!(matches!(
        State::from_snapshot_bytes(&current[4..]),
        Err(SnapshotError::Untagged)
    ));
    assert!(State::from_snapshot_bytes(b"BXS2garbage").is_err());
    assert!(State::from_snapshot_bytes(&[]).is_err());
}

// ----- Snapshots and invariants -----

#[test]
fn snapshot_round_trip_preserves_everything() {
    let mut f = Fixture::new();
    let boss = f.user(bootstrap("boss@example.com")).id;
    let ann = f.register("ann@example.com", false);
    f.ok(revoke(&ann));
    let ann_caller = f.caller(&ann);
    f.ok_as(&ann_caller, book("s1", &[5], ann.as_str()));
    f.ok_as(&f.caller(&boss), set_admin(&ann, true));
    f.hold(&[1, 2], "alice");
    let sold = f.book(&[3], "bob");
    f.ok(cancel(sold, "bob"));
    f.book(&[3], "carol");
    let bytes = postcard::to_allocvec(&f.state).expect("serializes");
    let restored: State = postcard::from_bytes(&bytes).expect("deserializes");
    assert_eq!(restored, f.state);
    assert_eq!(restored.by_email, f.state.by_email);
    assert_eq!(restored.admin_count(), 2);
    // The restored replica goes on issuing the same ids.
    let (mut a, mut b) = (f.state.clone(), restored);
    let next = request("next", register("cat@example.com", false));
    assert_eq!(a.apply(T0, &next), b.apply(T0, &next));
    assert_eq!(a, b);
}

#[test]
fn inconsistent_snapshots_are_refused() {
    let mut f = Fixture::new();
    f.hold(&[1], "alice");
    let snapshot = |state: &State| Snapshot {
        now: state.now,
        last_booking_id: state.last_booking_id,
        shows: state.shows.values().cloned().collect(),
        bookings: state.bookings.clone(),
        dedup: state.dedup.iter().cloned().collect(),
        last_user_id: state.last_user_id,
        users: state.users.values().cloned().collect(),
    };
    assert!(State::from_snapshot(snapshot(&f.state)).is_ok());

    let mut dangling = snapshot(&f.state);
    assert!(dangling.shows[0].seats.set(4, Seat::Booked(BookingId(7))));
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

    f.register("ann@example.com", true);
    f.register("bob@example.com", false);
    assert!(State::from_snapshot(snapshot(&f.state)).is_ok());

    let mut twice = snapshot(&f.state);
    twice.users.push(twice.users[0].clone());
    assert!(State::from_snapshot(twice).is_err());

    let mut shared_email = snapshot(&f.state);
    shared_email.users[1].email = "ann@example.com".into();
    assert!(State::from_snapshot(shared_email).is_err());

    let mut unnormalised = snapshot(&f.state);
    unnormalised.users[1].email = "Bob@example.com".into();
    assert!(State::from_snapshot(unnormalised).is_err());

    let mut bad_hash = snapshot(&f.state);
    bad_hash.users[1].password_hash = String::new();
    assert!(State::from_snapshot(bad_hash).is_err());

    let mut unissued_user = snapshot(&f.state);
    unissued_user.last_user_id = 1;
    assert!(State::from_snapshot(unissued_user).is_err());

    let mut odd_id = snapshot(&f.state);
    odd_id.users[1].id = "u02".into();
    assert!(State::from_snapshot(odd_id).is_err());

    let mut future = snapshot(&f.state);
    future.users[1].created_at = Timestamp(T0.0 + 1);
    assert!(State::from_snapshot(future).is_err());
}

#[test]
fn check_invariants_detects_corruption() {
    let mut f = Fixture::new();
    let id = f.hold(&[1, 2], "alice");
    let mut bad = f.state.clone();
    if let Some(show) = bad.shows.get_mut(&"s1".into()) {
        assert!(show.seats.set(1, Seat::Available));
    }
    assert!(bad.check_invariants().is_err());

    let mut bad = f.state.clone();
    if let Some(mut booking) = bad.bookings.get(id) {
        booking.status = BookingStatus::Confirmed { at: T0 };
        assert_eq!(bad.bookings.update(&booking), Ok(()));
    }
    assert!(bad.check_invariants().is_err());

    let mut bad = f.state.clone();
    bad.hold_expiry.clear();
    assert!(bad.check_invariants().is_err());

    let mut bad = f.state.clone();
    bad.by_user.clear();
    assert!(bad.check_invariants().is_err());

    let mut bad = f.state.clone();
    bad.dedup.forget_index();
    assert!(bad.check_invariants().is_err());

    let mut bad = f.state.clone();
    if let Some(booking) = bad.bookings.get(id) {
        bad.active.confirm(&booking);
    }
    assert!(bad.check_invariants().is_err(), "held count off");

    let ann = f.register("ann@example.com", true);
    assert_eq!(f.state.check_invariants(), Ok(()));

    let mut bad = f.state.clone();
    bad.by_email.clear();
    assert!(bad.check_invariants().is_err());

    let mut bad = f.state.clone();
    bad.admins.clear();
    assert!(bad.check_invariants().is_err());

    let mut bad = f.state.clone();
    if let Some(user) = bad.users.get_mut(&ann) {
        user.admin = false;
    }
    assert!(bad.check_invariants().is_err());

    let mut bad = f.state.clone();
    if let Some(user) = bad.users.get_mut(&ann) {
        user.id = "u7".into();
    }
    assert!(bad.check_invariants().is_err());
}

// ----- Accounts -----

#[test]
fn register_user_creates_accounts_with_counter_ids() {
    let mut f = Fixture::new();
    let ann = f.user(register("  Ann@Example.COM ", false));
    assert_eq!(
        ann,
        UserSummary {
            id: "u1".into(),
            email: "ann@example.com".into(),
            admin: false,
            token_version: 0,
            created_at: T0,
        }
    );
    f.at = Timestamp(T0.0 + 7);
    let boss = f.user(register("boss@example.com", true));
    assert_eq!((boss.id.as_str(), boss.admin), ("u2", true));
    assert_eq!(boss.created_at, Timestamp(T0.0 + 7));
    for i in 3..=11 {
        assert_eq!(
            f.register(&format!("user{i}@example.com"), false),
            UserId(format!("u{i}"))
        );
    }

    let stored = f.state.user(&"u1".into()).expect("ann exists");
    assert_eq!(stored.password_hash, HASH);
    assert_eq!(stored.summary(), ann);
    assert_eq!(f.state.user_by_email(" ANN@example.com"), Some(stored));
    assert_eq!(f.state.user_by_email("nobody@example.com"), None);
    assert_eq!(f.state.user_by_email("not an email"), None);
    assert_eq!(f.state.user(&"u12".into()), None);
    assert_eq!(f.state.admin_count(), 1);
    // Listed by email, not by id (where u10 would sort before u2).
    let emails: Vec<&str> = f.state.users().map(|user| user.email.as_str()).collect();
    let mut sorted = emails.clone();
    sorted.sort_unstable();
    assert_eq!(emails, sorted);
    assert_eq!(emails.len(), 11);
    // The hash stays out of debug output.
    let debug = format!("{stored:?}");
    assert!(
        !debug.contains("argon2") && debug.contains("redacted"),
        "{debug}"
    );
}

#[test]
fn register_user_rejections() {
    let mut f = Fixture::new();
    let ann = f.register("ann@example.com", false);
    f.reject(
        register(" ANN@example.com", false),
        Rejection::EmailTaken("ann@example.com".into()),
    );
    f.reject_invalid(register("ann", false), "email");
    f.reject_invalid(register("ann@example", false), "email");
    f.reject_invalid(
        Command::RegisterUser {
            email: "bob@example.com".into(),
            password_hash: "plain text".into(),
            admin: false,
        },
        "password_hash",
    );
    // An end user may register a customer, but not an administrator.
    let as_ann = f.caller(&ann);
    f.deny(
        &as_ann,
        register("boss@example.com", true),
        "administrator role",
    );
    // Rejections do not consume user ids.
    assert_eq!(
        f.ok_as(&as_ann, register("bob@example.com", false)),
        Effect::User(f.state.user(&"u2".into()).expect("bob").summary())
    );
}

#[test]
fn only_administrators_register_administrators() {
    let mut f = Fixture::new();
    let boss = f.register("boss@example.com", true);
    let effect = f.ok_as(&f.caller(&boss), register("second@example.com", true));
    assert!(matches!(
        effect,
        Effect::User(UserSummary { admin: true, .. })
    ));
    assert_eq!(f.state.admin_count(), 2);
}

#[test]
fn bootstrap_admin_creates_the_first_administrator_only() {
    let mut f = Fixture::new();
    let ann = f.register("ann@example.com", false);
    // No administrator yet, but the email is taken.
    f.reject(
        bootstrap("ann@example.com"),
        Rejection::EmailTaken("ann@example.com".into()),
    );
    // End users cannot bootstrap, not even the first administrator.
    f.deny(
        &f.caller(&ann),
        bootstrap("me@example.com"),
        "server itself",
    );
    let boss = f.user(bootstrap("Boss@Example.com"));
    assert_eq!(
        (boss.id.as_str(), boss.email.as_str(), boss.admin),
        ("u2", "boss@example.com", true)
    );
    assert_eq!(f.state.admin_count(), 1);
    f.reject(bootstrap("other@example.com"), Rejection::AdminExists);
    // AdminExists is checked before the email.
    f.reject(bootstrap("boss@example.com"), Rejection::AdminExists);
    f.deny(
        &f.caller(&boss.id),
        bootstrap("x@example.com"),
        "server itself",
    );
    f.reject_invalid(bootstrap("nope"), "email");
}

#[test]
fn set_admin_grants_and_revokes() {
    let mut f = Fixture::new();
    let boss = f.register("boss@example.com", true);
    let ann = f.register("ann@example.com", false);
    let as_boss = f.caller(&boss);
    let granted = f.ok_as(&as_boss, set_admin(&ann, true));
    assert!(matches!(
        granted,
        Effect::User(UserSummary { admin: true, .. })
    ));
    assert_eq!(f.state.admin_count(), 2);
    // Setting the same value again is fine.
    f.ok_as(&as_boss, set_admin(&ann, true));
    assert_eq!(f.state.admin_count(), 2);
    // With two administrators, either may lose the role, even by their own hand.
    let revoked = f.ok_as(&as_boss, set_admin(&boss, false));
    assert!(matches!(
        revoked,
        Effect::User(UserSummary { admin: false, .. })
    ));
    assert_eq!(f.state.admin_count(), 1);
    // boss is no longer an administrator; its session stays valid.
    f.deny(&as_boss, set_admin(&boss, true), "administrator role");
    f.deny(&as_boss, create("s2", 4), "administrator role");
    let as_ann = f.caller(&ann);
    f.reject_as(&as_ann, set_admin(&ann, false), Rejection::LastAdmin);
    f.reject(set_admin(&ann, false), Rejection::LastAdmin);
    // Revoking from a non-administrator is a no-op, not a last-admin refusal.
    f.ok_as(&as_ann, set_admin(&boss, false));
    f.reject_as(
        &as_ann,
        set_admin(&"u9".into(), true),
        Rejection::UserNotFound("u9".into()),
    );
    f.reject_invalid(set_admin(&"".into(), true), "user");
    assert_eq!(f.state.admin_count(), 1);
}

#[test]
fn revoke_sessions_ends_every_earlier_token() {
    let mut f = Fixture::new();
    let boss = f.register("boss@example.com", true);
    let ann = f.register("ann@example.com", false);
    let bob = f.register("bob@example.com", false);
    let old = f.caller(&ann);
    let effect = f.ok_as(&old, revoke(&ann));
    assert!(matches!(
        effect,
        Effect::User(UserSummary {
            token_version: 1,
            ..
        })
    ));
    // The token used to log out is refused from now on, for every command.
    f.unauthenticated(&old, book("s1", &[1], "u2"));
    f.unauthenticated(&old, revoke(&ann));
    assert!(f.state.authenticate(&old).is_err());
    let new = f.caller(&ann);
    assert_eq!(new.token_version, 1);
    assert_eq!(f.state.authenticate(&new).map(|user| &user.id), Ok(&ann));
    f.ok_as(&new, book("s1", &[1], ann.as_str()));
    // Another customer cannot log ann out; an administrator and the system can.
    f.deny(&f.caller(&bob), revoke(&ann), "administrator role");
    f.ok_as(&f.caller(&boss), revoke(&ann));
    f.ok(revoke(&ann));
    assert_eq!(f.caller(&ann).token_version, 3);
    f.unauthenticated(&new, book("s1", &[2], ann.as_str()));
    f.reject(revoke(&"u9".into()), Rejection::UserNotFound("u9".into()));
    f.reject_as(
        &f.caller(&boss),
        revoke(&"u9".into()),
        Rejection::UserNotFound("u9".into()),
    );
}

#[test]
fn change_password_replaces_the_hash_and_ends_sessions() {
    let mut f = Fixture::new();
    let boss = f.register("boss@example.com", true);
    let ann = f.register("ann@example.com", false);
    let old = f.caller(&ann);
    let effect = f.ok_as(&old, change_password(&ann, HASH2));
    assert!(matches!(
        effect,
        Effect::User(UserSummary {
            token_version: 1,
            ..
        })
    ));
    let stored = f.state.user(&ann).expect("ann exists");
    assert_eq!(
        (stored.password_hash.as_str(), stored.token_version),
        (HASH2, 1)
    );
    f.unauthenticated(&old, change_password(&ann, HASH));
    // Nobody else may change it, administrators included; the system may.
    f.deny(&f.caller(&boss), change_password(&ann, HASH), "password");
    f.ok(change_password(&ann, HASH));
    assert_eq!(f.state.user(&ann).map(|u| u.token_version), Some(2));
    f.reject_invalid(change_password(&ann, ""), "password_hash");
    f.reject_invalid(change_password(&ann, "has space"), "password_hash");
    f.reject(
        change_password(&"u9".into(), HASH),
        Rejection::UserNotFound("u9".into()),
    );
}

// ----- Authorization -----

#[test]
fn stale_or_unknown_callers_are_unauthenticated_without_a_trace() {
    let mut f = Fixture::new();
    let ann = f.register("ann@example.com", false);
    let stale = Caller {
        user: ann.clone(),
        token_version: 1,
    };
    f.at = Timestamp(T0.0 + 50);
    f.unauthenticated(&stale, book("s1", &[1], ann.as_str()));
    assert_eq!(f.state.now(), T0, "the clock did not move");
    let ghost = Caller {
        user: "u42".into(),
        token_version: 0,
    };
    f.unauthenticated(&ghost, book("s1", &[1], "u42"));
    f.unauthenticated(&ghost, Command::ExpireHolds);
    assert_eq!(
        f.state.authenticate(&ghost),
        Err(Rejection::Unauthenticated(
            "session is no longer valid: log in again".into()
        ))
    );
}

#[test]
fn only_administrators_manage_shows() {
    let mut f = Fixture::new();
    let boss = f.register("boss@example.com", true);
    let ann = f.register("ann@example.com", false);
    let as_ann = f.caller(&ann);
    f.deny(&as_ann, create("s2", 4), "creating or changing shows");
    f.deny(&as_ann, resize("s1", 4), "creating or changing shows");
    // Permission comes before validation: a non-administrator learns nothing.
    f.deny(&as_ann, create("", 0), "administrator role");
    let as_boss = f.caller(&boss);
    f.ok_as(&as_boss, create("s2", 4));
    f.ok_as(&as_boss, resize("s2", 6));
    assert_eq!(f.state.shows().count(), 2);
}

#[test]
fn customers_act_only_for_themselves() {
    let mut f = Fixture::new();
    let boss = f.register("boss@example.com", true);
    let ann = f.register("ann@example.com", false);
    let bob = f.register("bob@example.com", false);
    let as_ann = f.caller(&ann);
    f.deny(&as_ann, book("s1", &[1], bob.as_str()), "for yourself");
    f.deny(&as_ann, hold("s1", &[1], bob.as_str(), TTL), "for yourself");
    // Administrators are customers like any other here.
    f.deny(
        &f.caller(&boss),
        book("s1", &[1], ann.as_str()),
        "for yourself",
    );
    let mine = f.ok_as(&as_ann, book("s1", &[1], ann.as_str()));
    let Effect::Booking(mine) = mine else {
        panic!("expected a booking, got {mine:?}");
    };
    f.deny(&f.caller(&bob), cancel(mine.id, ann.as_str()), "your own");
    // Naming themselves on someone else's booking reveals nothing.
    f.reject_as(
        &f.caller(&bob),
        cancel(mine.id, bob.as_str()),
        Rejection::BookingNotFound(mine.id),
    );
    f.ok_as(&as_ann, cancel(mine.id, ann.as_str()));
}

#[test]
fn payment_and_expiry_steps_are_the_systems_own() {
    let mut f = Fixture::new();
    let boss = f.register("boss@example.com", true);
    let ann = f.register("ann@example.com", false);
    let as_ann = f.caller(&ann);
    let Effect::Booking(held) = f.ok_as(&as_ann, hold("s1", &[1], ann.as_str(), TTL)) else {
        panic!("expected a booking");
    };
    for caller in [f.caller(&ann), f.caller(&boss)] {
        f.deny(&caller, confirm(held.id), "payment flow");
        f.deny(&caller, release(held.id), "payment flow");
        f.deny(&caller, Command::ExpireHolds, "system itself");
    }
    assert!(matches!(f.status(held.id), BookingStatus::Held { .. }));
    f.ok(confirm(held.id));
}

#[test]
fn trusted_requests_may_do_anything() {
    let mut f = Fixture::new();
    // No accounts exist at all: a trusted request needs none.
    f.ok(create("s2", 3));
    let id = f.book(&[1], "somebody");
    f.ok(cancel(id, "somebody"));
    let ann = f.register("ann@example.com", true);
    f.ok(set_admin(&ann, true));
    f.ok(revoke(&ann));
    f.ok(change_password(&ann, HASH2));
}

#[test]
fn refusals_are_judged_afresh_and_successes_keep_their_first_outcome() {
    let mut f = Fixture::new();
    let boss = f.register("boss@example.com", true);
    let ann = f.register("ann@example.com", false);
    let as_ann = f.caller(&ann);

    // A permission refusal is not recorded: once ann is an administrator,
    // the same request runs.
    let create_s2 = request_as("r1", &as_ann, create("s2", 4));
    assert!(matches!(
        f.state.apply(T0, &create_s2),
        Err(Rejection::PermissionDenied(_))
    ));
    f.ok_as(&f.caller(&boss), set_admin(&ann, true));
    assert!(matches!(f.state.apply(T0, &create_s2), Ok(Effect::Show(_))));

    // An unauthenticated attempt is not recorded: after logging in again the
    // client retries under the same id and it runs.
    f.ok(revoke(&ann));
    let stale = request_as("r3", &as_ann, book("s1", &[1], ann.as_str()));
    assert!(matches!(
        f.state.apply(T0, &stale),
        Err(Rejection::Unauthenticated(_))
    ));
    let fresh = request_as("r3", &f.caller(&ann), book("s1", &[1], ann.as_str()));
    let booked = f.state.apply(T0, &fresh);
    assert!(matches!(booked, Ok(Effect::Booking(_))));
    assert_eq!(f.state.apply(T0, &fresh), booked);
    assert_eq!(f.state.check_invariants(), Ok(()));
}

#[test]
fn a_logout_retried_with_the_token_it_ended_gets_its_first_outcome() {
    let mut f = Fixture::new();
    let boss = f.register("boss@example.com", true);
    let ann = f.register("ann@example.com", false);
    let first_session = f.caller(&ann);
    let logout = request_as("r2", &first_session, revoke(&ann));
    let first = f.state.apply(T0, &logout);
    assert!(matches!(
        first,
        Ok(Effect::User(UserSummary {
            token_version: 1,
            ..
        }))
    ));
    let before = f.state.clone();
    assert_eq!(f.state.apply(T0, &logout), first);
    assert_eq!(f.state, before);
    // So does a password change.
    let second_session = f.caller(&ann);
    let change = request_as("r3", &second_session, change_password(&ann, HASH2));
    let changed = f.state.apply(T0, &change);
    assert!(matches!(
        changed,
        Ok(Effect::User(UserSummary {
            token_version: 2,
            ..
        }))
    ));
    assert_eq!(f.state.apply(T0, &change), changed);
    // A token older than the one a logout ended learns nothing from it.
    let older = request_as("r3", &first_session, change_password(&ann, HASH2));
    let before = f.state.clone();
    assert!(matches!(
        f.state.apply(T0, &older),
        Err(Rejection::Unauthenticated(_))
    ));
    assert_eq!(f.state, before);

    // The same id and command from someone else is another request.
    let as_boss = f.caller(&boss);
    assert!(matches!(
        f.state.apply(T0, &request_as("r2", &as_boss, revoke(&ann))),
        Ok(Effect::User(UserSummary {
            token_version: 3,
            ..
        }))
    ));
}

// ----- Seat limit -----

#[test]
fn the_active_seat_index_follows_every_transition() {
    let mut f = Fixture::new();
    f.ok(create("s2", 8));
    let alice = UserId::from("alice");
    let counts = |f: &Fixture| {
        (
            f.state.active_seats(&alice, &"s1".into()),
            f.state.active_seats(&alice, &"s2".into()),
            f.state.held_seats(&alice),
        )
    };
    let paid = f.hold(&[1, 2], "alice");
    let other = f.booking(hold("s2", &[1, 2, 3], "alice", TTL)).id;
    f.book(&[3], "alice");
    assert_eq!(counts(&f), (3, 3, 5));
    f.ok(confirm(paid));
    assert_eq!(counts(&f), (3, 3, 3));
    f.ok(release(other));
    assert_eq!(counts(&f), (3, 0, 0));
    let expiring = f.booking(hold("s2", &[4], "alice", 10)).id;
    assert_eq!(counts(&f), (3, 1, 1));
    f.at = Timestamp(f.at.0 + 10);
    f.ok(Command::ExpireHolds);
    assert_eq!(
        f.status(expiring),
        BookingStatus::Released {
            at: f.at,
            lapsed: true
        }
    );
    assert_eq!(counts(&f), (3, 0, 0));
    let abandoned = f.hold(&[5], "alice");
    f.ok(cancel(abandoned, "alice"));
    f.ok(cancel(paid, "alice"));
    f.ok(Command::RecordRefund { booking: paid });
    f.ok(resize("s1", 4));
    assert_eq!(counts(&f), (1, 0, 0));
    // Restored from a snapshot, it is rebuilt the same.
    let restored = State::from_snapshot_bytes(&f.state.to_snapshot().expect("writes"));
    assert_eq!(
        restored.as_ref().map(|state| &state.active),
        Ok(&f.state.active)
    );
}

#[test]
fn seat_limit_counts_active_bookings_of_the_show() {
    let mut f = Fixture::new();
    f.ok(create("s2", 8));
    let first = f.booking(capped(book("s1", &[1, 2], "alice"), 3)).id;
    f.reject(
        capped(book("s1", &[3, 4], "alice"), 3),
        Rejection::SeatLimit {
            show: "s1".into(),
            limit: 3,
            already: 2,
        },
    );
    // Holds count too.
    let held = f.booking(capped(hold("s1", &[3], "alice", TTL), 3)).id;
    f.reject(
        capped(hold("s1", &[4], "alice", TTL), 3),
        Rejection::SeatLimit {
            show: "s1".into(),
            limit: 3,
            already: 3,
        },
    );
    // The cap is per show and per customer.
    f.booking(capped(book("s2", &[1, 2, 3], "alice"), 3));
    f.booking(capped(book("s1", &[4, 5, 6], "bob"), 3));
    // No cap (0), or a higher one, lets her buy more.
    f.book(&[7], "alice");
    f.booking(capped(book("s1", &[8], "alice"), 5));
    // Now alice has 5 seats of s1: 1, 2, 3 (held), 7, 8.
    // Released and cancelled bookings do not count.
    f.ok(release(held));
    f.ok(cancel(first, "alice"));
    let limit = |already| Rejection::SeatLimit {
        show: "s1".into(),
        limit: 3,
        already,
    };
    f.reject(capped(book("s1", &[1, 2], "alice"), 3), limit(2));
    f.booking(capped(book("s1", &[1], "alice"), 3));
    // Expired holds do not count either.
    let expiring = f.booking(capped(hold("s1", &[2], "alice", TTL), 4)).id;
    f.reject(
        capped(book("s1", &[3], "alice"), 4),
        Rejection::SeatLimit {
            show: "s1".into(),
            limit: 4,
            already: 4,
        },
    );
    f.at = Timestamp(T0.0 + TTL);
    f.ok(Command::ExpireHolds);
    assert!(matches!(
        f.status(expiring),
        BookingStatus::Released { lapsed: true, .. }
    ));
    f.booking(capped(book("s1", &[2], "alice"), 4));
}

#[test]
fn seat_limit_is_checked_before_availability() {
    let mut f = Fixture::new();
    f.book(&[1], "bob");
    f.book(&[2, 3], "alice");
    f.reject(
        capped(book("s1", &[1], "alice"), 2),
        Rejection::SeatLimit {
            show: "s1".into(),
            limit: 2,
            already: 2,
        },
    );
    // A single request larger than the cap is refused even with nothing booked.
    f.reject(
        capped(book("s1", &[4, 5, 6], "carol"), 2),
        Rejection::SeatLimit {
            show: "s1".into(),
            limit: 2,
            already: 0,
        },
    );
    // Unknown shows and seats are reported first.
    f.reject(
        capped(book("s9", &[1], "alice"), 1),
        Rejection::ShowNotFound("s9".into()),
    );
    f.reject(
        capped(book("s1", &[9], "alice"), 1),
        Rejection::NoSuchSeat {
            show: "s1".into(),
            seat: SeatNo(9),
            seat_count: 8,
        },
    );
}

#[test]
fn totals_count_accounts_shows_seats_and_bookings() {
    let mut f = Fixture::new();
    f.register("a@example.com", false);
    f.ok(create("s2", 4));
    let held = f.hold(&[1, 2], "u1");
    f.book(&[3], "u1");
    let totals = f.state.totals();
    assert_eq!(
        (totals.users, totals.shows, totals.seats),
        (1, 2, 12),
        "{totals:?}"
    );
    assert_eq!(
        (totals.seats_held, totals.seats_booked, totals.holds),
        (2, 1, 1),
        "{totals:?}"
    );
    assert_eq!(totals.bookings_created, 2, "{totals:?}");
    assert!(totals.dedup_records >= 4, "{totals:?}");

    f.ok(release(held));
    let totals = f.state.totals();
    assert_eq!(
        (totals.seats_held, totals.seats_booked, totals.holds),
        (0, 1, 0),
        "{totals:?}"
    );
    assert_eq!(
        totals.bookings_created, 2,
        "a released hold still counts as created"
    );
}

mod hold_limits;
