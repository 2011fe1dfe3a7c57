//! Golden fixtures: a replicated log (openraft entries as the log store and
//! the network carry them) in each command format this build writes, the
//! outcomes applying it gave, and a snapshot of the state it leaves, all
//! written by the build that introduced format versions and committed
//! under `tests/fixtures/formats`. Every later build must still read them
//! and reach the same state; a command of a newer format is refused before
//! anything of its entry is applied.
//!
//! `BOXOFFICE_BLESS_FIXTURES=1 cargo test -p boxoffice-node --test formats`
//! writes them again, which is only right when a format is added (add the
//! new files beside the old, never replace what an older build wrote).

use std::path::{Path, PathBuf};

use boxoffice_core::format::{self, FormatError};
use boxoffice_core::{
    BookingId, Command, Effect, HoldLimits, OrderId, Request, RequestId, SeatNo, ShowId, State,
    Tickets, Timestamp, UserId,
};
use boxoffice_node::app::BookingApp;
use boxoffice_raft::Application;
use boxoffice_raft::types::{Batch, Entry, LogId};
use openraft::{CommittedLeaderId, EntryPayload};

const BLESS: &str = "BOXOFFICE_BLESS_FIXTURES";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats")
}

fn request(id: &str, command: Command) -> Request {
    Request {
        request_id: RequestId(id.into()),
        caller: None,
        command,
    }
}

/// The scenario the fixtures record, as batches of requests at leader
/// times: accounts, a show, a direct booking, a hold confirmed, a hold
/// cancelled, a hold that expires, and a rejection.
fn scenario() -> Vec<(i64, Vec<Request>)> {
    let t0 = 1_790_000_000_000;
    let user = |n: u64| UserId(format!("u{n}"));
    let show = || ShowId("gala".into());
    let hold = |id: &str, seats: &[u32], who: u64| {
        request(
            id,
            Command::Hold {
                order: OrderId(format!("order-{id}")),
                show: show(),
                seats: seats.iter().copied().map(SeatNo).collect(),
                tickets: Tickets::default(),
                user: user(who),
                ttl_ms: 60_000,
                max_seats_per_user: 0,
                limits: HoldLimits::NONE,
            },
        )
    };
    let register = |id: &str, email: &str| {
        request(
            id,
            Command::RegisterUser {
                email: email.into(),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                admin: false,
            },
        )
    };
    vec![
        (
            t0,
            vec![
                register("r-alice", "alice@example.com"),
                register("r-bob", "bob@example.com"),
            ],
        ),
        (
            t0 + 1_000,
            vec![request(
                "r-show",
                Command::CreateShow {
                    show: show(),
                    title: "Gala night".into(),
                    seat_count: 20,
                    price_cents: 0,
                    starts_at: Timestamp(t0 + 86_400_000),
                },
            )],
        ),
        (
            t0 + 2_000,
            vec![
                request(
                    "r-book",
                    Command::Book {
                        show: show(),
                        seats: vec![SeatNo(1), SeatNo(2)],
                        tickets: Tickets::default(),
                        user: user(1),
                        max_seats_per_user: 0,
                    },
                ),
                hold("r-hold-3", &[3], 2),
                hold("r-hold-4", &[4], 2),
                hold("r-hold-5", &[5], 1),
                // Seat 1 is taken: a rejection, recorded as an outcome.
                hold("r-taken", &[1], 2),
            ],
        ),
        (
            t0 + 3_000,
            vec![
                request(
                    "r-confirm",
                    Command::Confirm {
                        booking: BookingId(2),
                        transaction: None,
                    },
                ),
                request(
                    "r-cancel",
                    Command::Cancel {
                        booking: BookingId(3),
                        user: user(2),
                    },
                ),
            ],
        ),
        // The last hold lapses.
        (
            t0 + 120_000,
            vec![request("r-expire", Command::ExpireHolds)],
        ),
    ]
}

/// The scenario as log entries (term 1, from index 1) in `version`.
fn log_in(version: u8) -> Vec<Entry> {
    scenario()
        .into_iter()
        .enumerate()
        .map(|(i, (at_ms, requests))| Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), i as u64 + 1),
            payload: EntryPayload::Normal(Batch {
                at_ms,
                commands: requests
                    .iter()
                    .map(|r| format::encode_request(r, version))
                    .collect(),
            }),
        })
        .collect()
}

/// Applies `entries` as the state machine does: an entry with a command
/// this build cannot read stops it before any of that entry is applied.
/// The state reached, the outcomes, and the error that stopped it.
fn apply(entries: &[Entry]) -> (BookingApp, Vec<Vec<u8>>, Option<String>) {
    let mut app = BookingApp::default();
    let mut outcomes = Vec::new();
    for entry in entries {
        if let EntryPayload::Normal(batch) = &entry.payload {
            if let Some(e) = batch.commands.iter().find_map(|c| app.readable(c).err()) {
                return (app, outcomes, Some(e.to_string()));
            }
            for command in &batch.commands {
                outcomes.push(app.apply(batch.at_ms, command));
            }
        }
    }
    (app, outcomes, None)
}

fn snapshot_of(app: &BookingApp) -> Vec<u8> {
    let mut bytes = Vec::new();
    app.snapshot(&mut bytes).expect("snapshot");
    bytes
}

fn read(name: &str) -> Vec<u8> {
    let path = fixtures().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Writes the fixtures (only with [`BLESS`] set).
fn bless() {
    std::fs::create_dir_all(fixtures()).unwrap();
    for version in format::UNTAGGED..=format::NEWEST {
        let log = log_in(version);
        let (app, outcomes, stopped) = apply(&log);
        assert_eq!(stopped, None);
        let write = |name: String, bytes: Vec<u8>| {
            std::fs::write(fixtures().join(name), bytes).unwrap();
        };
        write(
            format!("log-v{version}.postcard"),
            postcard::to_allocvec(&log).unwrap(),
        );
        write(
            format!("outcomes-v{version}.postcard"),
            postcard::to_allocvec(&outcomes).unwrap(),
        );
        write("snapshot-BXS9.bin".into(), snapshot_of(&app));
    }
}

#[test]
fn the_golden_log_and_snapshot_of_each_format_are_read_and_agree() {
    if std::env::var_os(BLESS).is_some() {
        bless();
    }
    let snapshot = read("snapshot-BXS9.bin");
    let restored = State::from_snapshot_bytes(&snapshot).expect("the golden snapshot restores");
    // What the scenario left: two accounts, one show, a booking, a
    // confirmed hold, a cancelled one and a lapsed one.
    assert_eq!(restored.users().count(), 2);
    assert_eq!(restored.shows().count(), 1);
    assert!(restored.booking(BookingId(4)).is_some());
    assert!(restored.holds().next().is_none(), "the last hold lapsed");
    for version in format::UNTAGGED..=format::NEWEST {
        let log: Vec<Entry> = postcard::from_bytes(&read(&format!("log-v{version}.postcard")))
            .unwrap_or_else(|e| panic!("the golden log of format {version}: {e}"));
        assert_eq!(log.len(), scenario().len());
        let (app, outcomes, stopped) = apply(&log);
        assert_eq!(stopped, None, "format {version}");
        assert!(
            app.0 == restored,
            "format {version}: the log does not reach the golden snapshot's state"
        );
        // The outcomes read back as the ones the first build gave.
        let golden: Vec<Vec<u8>> =
            postcard::from_bytes(&read(&format!("outcomes-v{version}.postcard"))).unwrap();
        assert_eq!(golden.len(), outcomes.len());
        for (i, (now, then)) in outcomes.iter().zip(&golden).enumerate() {
            let then = format::decode_outcome(then)
                .unwrap_or_else(|e| panic!("golden outcome {i} of format {version}: {e}"));
            assert_eq!(format::decode_outcome(now).unwrap(), then, "outcome {i}");
        }
        let rejected = golden
            .iter()
            .filter(|o| format::decode_outcome(o).unwrap().is_err())
            .count();
        assert_eq!(rejected, 1, "the hold of a taken seat is refused");
        assert!(
            matches!(format::decode_outcome(&golden[0]), Ok(Ok(Effect::User(_)))),
            "the first outcome is an account"
        );
    }
}

#[test]
fn a_malformed_command_is_rejected_as_an_outcome_not_a_halt() {
    let mut app = BookingApp::default();
    for bytes in [
        vec![format::MARKER],
        vec![format::MARKER, 0, 1],
        vec![format::MARKER, 1, 1],
        vec![format::MARKER, 2, 0xFF, 0xFF],
    ] {
        assert!(
            app.readable(&bytes).is_ok(),
            "{bytes:?} would halt the node"
        );
        let outcome = format::decode_outcome(&app.apply(1, &bytes)).unwrap();
        assert!(
            matches!(outcome, Err(boxoffice_core::Rejection::Invalid(ref m)) if m.contains("undecodable")),
            "{bytes:?}: {outcome:?}"
        );
    }
}

#[test]
fn an_entry_of_a_newer_format_is_refused_and_none_of_it_applied() {
    let log: Vec<Entry> = postcard::from_bytes(&read("log-v2.postcard")).unwrap();
    let mut newer = log.clone();
    // The third entry's last command, as a newer build would write it.
    let EntryPayload::Normal(batch) = &mut newer[2].payload else {
        panic!("a normal entry")
    };
    let last = batch.commands.last_mut().unwrap();
    last[1] = format::NEWEST + 1;
    let (app, outcomes, stopped) = apply(&newer);
    let stopped = stopped.expect("refused");
    assert_eq!(
        stopped,
        format!(
            "a command of the log cannot be read: {}",
            FormatError::Newer {
                found: format::NEWEST + 1,
                newest: format::NEWEST
            }
        )
    );
    // Nothing of the third entry was applied: the state is the one the
    // first two entries leave.
    let (before, first_outcomes, _) = apply(&log[..2]);
    assert_eq!(outcomes, first_outcomes);
    assert!(app.0 == before.0, "part of the refused entry was applied");
    assert!(
        app.0.booking(BookingId(1)).is_none(),
        "a booking of the refused entry"
    );
}
