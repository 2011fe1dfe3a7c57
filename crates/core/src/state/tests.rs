//! Unit tests of `State::apply` that need the state's private parts: the
//! dedup window's records and pruning, the snapshot format, and invariant
//! checks of corrupted states. Every command's behaviour is told as text in
//! the scenarios under `crates/core/tests/scenarios/`.

use super::snapshot::{Sections, Snapshot};
use super::*;
use crate::command::HoldLimits;
use crate::ids::{OrderId, RequestId, SeatNo, TransactionId};
use crate::network::Network;

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
        tickets: Default::default(),
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
        tickets: Default::default(),
        user: user.into(),
        max_seats_per_user: 0,
    }
}

/// A well-formed PHC string, as the auth service would produce.
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";

fn register(email: &str, admin: bool) -> Command {
    Command::RegisterUser {
        email: email.into(),
        password_hash: HASH.into(),
        admin,
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

// ----- Dedup -----

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

/// The door's records survive a snapshot whole (entries, versions,
/// holders and their index, exits, re-entry, conflicts, keys, retired
/// keys, staff), and `BXS4` and `BXS5` snapshots (the same without what
/// later formats added) still read.
#[test]
fn the_doors_records_round_trip_and_older_snapshots_read() {
    let mut f = Fixture::new();
    let ann = f.register("ann@example.com", false);
    let ben = f.register("ben@example.com", false);
    let id = f.book(&[1, 2, 3], ann.as_str());
    let t = |place| TicketRef {
        booking: id,
        place: SeatNo(place),
    };
    let show = ShowId::from("s1");
    f.ok(Command::AddTicketKey {
        kid: "k1".into(),
        public: [9; 32],
    });
    f.ok(Command::GrantDoorStaff {
        user: ben.clone(),
        scope: DoorScope::Production(ProductionId::from("s1")),
    });
    let scan = |place, gate: &str, offline: Option<i64>| Command::CheckIn {
        show: show.clone(),
        booking: id,
        place: SeatNo(place),
        version: 0,
        gate: gate.into(),
        offline_at: offline.map(Timestamp),
    };
    f.ok(scan(1, "north", None));
    f.ok(scan(1, "east", Some(1)));
    f.ok(Command::ReissueTicket {
        booking: id,
        place: SeatNo(2),
        user: ann.clone(),
    });
    // Before BXS5's records exist: what a BXS4 snapshot held.
    let current = f.state.to_snapshot().expect("serializes");
    assert_eq!(&current[..4], b"BXS9");
    // The four records BXS5 added, the one BXS6 added, BXS7's waiting
    // rooms, BXS8's networks and BXS9's waiting lists and cards, all
    // empty, are one zero byte each.
    assert_eq!(&current[current.len() - 9..], [0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut bxs4 = b"BXS4".to_vec();
    bxs4.extend_from_slice(&current[4..current.len() - 9]);
    assert_eq!(
        State::from_snapshot_bytes(&bxs4).expect("restores"),
        f.state
    );

    f.ok(Command::TransferTicket {
        booking: id,
        place: SeatNo(3),
        user: ann.clone(),
        to: ben.clone(),
    });
    f.ok(Command::SetReentry {
        show: show.clone(),
        allowed: true,
    });
    f.ok(Command::CheckOut {
        show: show.clone(),
        booking: id,
        place: SeatNo(1),
        version: 0,
        gate: "north".into(),
    });
    // What a BXS5 snapshot held: all but the retired keys (and rooms).
    let current = f.state.to_snapshot().expect("serializes");
    let mut bxs5 = b"BXS5".to_vec();
    bxs5.extend_from_slice(&current[4..current.len() - 5]);
    assert_eq!(
        State::from_snapshot_bytes(&bxs5).expect("restores"),
        f.state
    );

    f.ok(Command::AddTicketKey {
        kid: "k2".into(),
        public: [7; 32],
    });
    f.ok(Command::RetireTicketKey { kid: "k2".into() });
    // What a BXS6 snapshot held: all but the waiting rooms.
    let current = f.state.to_snapshot().expect("serializes");
    let mut bxs6 = b"BXS6".to_vec();
    bxs6.extend_from_slice(&current[4..current.len() - 4]);
    assert_eq!(
        State::from_snapshot_bytes(&bxs6).expect("restores"),
        f.state
    );
    // What a BXS7 snapshot held: all but the networks.
    let mut bxs7 = b"BXS7".to_vec();
    bxs7.extend_from_slice(&current[4..current.len() - 3]);
    assert_eq!(
        State::from_snapshot_bytes(&bxs7).expect("restores"),
        f.state
    );
    // What a BXS8 snapshot held: all but the waiting lists and cards.
    let mut bxs8 = b"BXS8".to_vec();
    bxs8.extend_from_slice(&current[4..current.len() - 2]);
    assert_eq!(
        State::from_snapshot_bytes(&bxs8).expect("restores"),
        f.state
    );
    let bytes = f.state.to_snapshot().expect("serializes");
    let restored = State::from_snapshot_bytes(&bytes).expect("restores");
    assert_eq!(restored, f.state);
    let doors = restored.doors();
    assert_eq!(doors.held_by(&ben).collect::<Vec<_>>(), [t(3)]);
    assert_eq!(doors.version(t(3)), 1);
    assert_eq!(doors.version(t(2)), 1);
    assert!(doors.exit(t(1)).is_some() && !doors.inside(t(1)));
    assert!(doors.allows_reentry(&show));
    assert_eq!(doors.conflicts().count(), 1);
    assert_eq!(doors.keys().len(), 1);
    assert!(doors.retired_keys().contains("k2"));
    assert_eq!(doors.staff().count(), 1);
    restored.check_invariants().expect("consistent");
}

/// Key ids are bounded: once the cluster has registered the most it keeps
/// (trusted and retired together), no key is added, but a trusted key can
/// still be retired, since revoking a leaked key must never be refused.
#[test]
fn ticket_key_ids_are_bounded_but_retiring_is_never_refused() {
    let mut f = Fixture::new();
    let add = |kid: String| Command::AddTicketKey {
        kid,
        public: [1; 32],
    };
    f.ok(add("keep".into()));
    for k in 1..MAX_TICKET_KEY_IDS {
        f.ok(add(format!("k{k}")));
        f.ok(Command::RetireTicketKey {
            kid: format!("k{k}"),
        });
    }
    assert!(matches!(
        f.run(add("one-more".into())),
        Err(Rejection::Invalid(why)) if why.contains("the most it keeps")
    ));
    f.ok(Command::RetireTicketKey { kid: "keep".into() });
    assert!(f.state.doors().keys().is_empty());
    f.state.check_invariants().expect("consistent");
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
    assert!(State::from_snapshot_bytes(b"BXS3garbage").is_err());
    // A snapshot of the format before venues is named, not misread.
    let mut older = current.clone();
    older[..4].copy_from_slice(b"BXS2");
    assert!(matches!(
        State::from_snapshot_bytes(&older),
        Err(SnapshotError::OlderFormat("BXS2"))
    ));
    // One of a later format (a newer build's) is refused as such.
    let mut newer = current.clone();
    newer[..4].copy_from_slice(b"BXSA");
    let refused = State::from_snapshot_bytes(&newer).unwrap_err();
    assert_eq!(refused, SnapshotError::NewerFormat("BXSA".into()));
    assert!(
        refused.to_string().contains("upgrade this node"),
        "{refused}"
    );
    assert!(State::from_snapshot_bytes(&[]).is_err());
}

// ----- Snapshots and invariants -----

/// The primary part of a snapshot of `state` (without venues and
/// productions), to tamper with.
fn snapshot(state: &State) -> Snapshot {
    Snapshot {
        now: state.now,
        last_booking_id: state.last_booking_id,
        shows: state.shows.values().cloned().collect(),
        bookings: state.bookings.clone(),
        dedup: state.dedup.iter().cloned().collect(),
        last_user_id: state.last_user_id,
        users: state.users.values().cloned().collect(),
        venues: Vec::new(),
        productions: Vec::new(),
    }
}

#[test]
fn inconsistent_snapshots_are_refused() {
    let restores = |primary: Snapshot| State::from_snapshot(primary, Sections::default()).is_ok();
    let mut f = Fixture::new();
    f.hold(&[1], "alice");
    assert!(restores(snapshot(&f.state)));

    let mut dangling = snapshot(&f.state);
    assert!(dangling.shows[0].seats.set(4, Seat::Booked(BookingId(7))));
    assert!(!restores(dangling));

    let mut duplicated = snapshot(&f.state);
    duplicated.shows.push(duplicated.shows[0].clone());
    assert!(!restores(duplicated));

    let mut miscounted = snapshot(&f.state);
    miscounted.shows[0].held = 0;
    assert!(!restores(miscounted));

    let mut unissued = snapshot(&f.state);
    unissued.last_booking_id = 0;
    assert!(!restores(unissued));

    f.register("ann@example.com", true);
    f.register("bob@example.com", false);
    assert!(restores(snapshot(&f.state)));

    let mut twice = snapshot(&f.state);
    twice.users.push(twice.users[0].clone());
    assert!(!restores(twice));

    let mut shared_email = snapshot(&f.state);
    shared_email.users[1].email = "ann@example.com".into();
    assert!(!restores(shared_email));

    let mut unnormalised = snapshot(&f.state);
    unnormalised.users[1].email = "Bob@example.com".into();
    assert!(!restores(unnormalised));

    let mut bad_hash = snapshot(&f.state);
    bad_hash.users[1].password_hash = String::new();
    assert!(!restores(bad_hash));

    let mut unissued_user = snapshot(&f.state);
    unissued_user.last_user_id = 1;
    assert!(!restores(unissued_user));

    let mut odd_id = snapshot(&f.state);
    odd_id.users[1].id = "u02".into();
    assert!(!restores(odd_id));

    let mut future = snapshot(&f.state);
    future.users[1].created_at = Timestamp(T0.0 + 1);
    assert!(!restores(future));
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

/// A hold from a network counts against it until its seats are freed,
/// whoever of that network holds; other networks and staff are not
/// counted; the counts survive a snapshot, and a snapshot that keeps the
/// network of a booking no longer active is refused.
#[test]
fn a_networks_seats_count_until_freed_and_survive_a_snapshot() {
    let mut f = Fixture::new();
    f.register("ann@example.com", false);
    f.register("ben@example.com", false);
    let staff = f.register("staff@example.com", true);
    let farm = Network::of(std::net::IpAddr::from([203, 0, 113, 7]));
    let home = Network::of(std::net::IpAddr::from([198, 51, 100, 7]));
    let from = |numbers: &[u32], user: &str, network: Network| {
        let mut command = hold("s1", numbers, user, TTL);
        if let Command::Hold { limits, .. } = &mut command {
            *limits = HoldLimits {
                max_seats_per_network: 4,
                network: Some(network),
                ..HoldLimits::NONE
            };
        }
        command
    };
    let ann = f.booking(from(&[1, 2, 3], "u1", farm)).id;
    // Ben is another account, but of the same network.
    assert_eq!(
        f.run(from(&[4, 5], "u2", farm)),
        Err(Rejection::NetworkLimit {
            show: "s1".into(),
            network: farm,
            limit: 4,
            already: 3,
        })
    );
    f.booking(from(&[4], "u2", farm));
    f.booking(from(&[5, 6], "u2", home));
    // Staff are not counted, nor capped.
    f.booking(from(&[7, 8], staff.as_str(), farm));

    let bytes = f.state.to_snapshot().expect("serializes");
    let restored = State::from_snapshot_bytes(&bytes).expect("restores");
    assert_eq!(restored, f.state);
    assert_eq!(restored.networks.seats(&"s1".into(), farm), 4);
    assert_eq!(restored.networks.seats(&"s1".into(), home), 2);

    // Freed seats no longer count.
    f.booking(Command::Release { booking: ann });
    assert_eq!(f.state.networks.seats(&"s1".into(), farm), 1);
    f.booking(from(&[1, 2, 3], "u1", farm));

    // A snapshot that keeps the network of the released booking.
    let mut tampered = f.state.networks.record();
    tampered.0.push((ann, farm));
    let restored = State::from_snapshot(
        snapshot(&f.state),
        Sections {
            networks: tampered,
            ..Sections::default()
        },
    );
    assert!(
        matches!(&restored, Err(SnapshotError::Inconsistent(e)) if e.to_string().contains("no longer active")),
        "{restored:?}"
    );
}
