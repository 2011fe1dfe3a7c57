//! Tests of validation, permissions and rejection messages.

use super::*;
use crate::command::HoldLimits;
use crate::ids::{BookingId, ShowId};
use crate::outcome::RejectionKind;

fn hold(show: &str, seats: &[u32], user: &str, ttl_ms: i64) -> Command {
    Command::Hold {
        order: "ord-1".into(),
        show: show.into(),
        seats: seats.iter().copied().map(SeatNo).collect(),
        tickets: Default::default(),
        user: user.into(),
        ttl_ms,
        max_seats_per_user: 0,
        limits: HoldLimits::NONE,
    }
}

fn create(show: &str, title: &str, seat_count: u32, price_cents: i64) -> Command {
    Command::CreateShow {
        show: show.into(),
        title: title.into(),
        seat_count,
        price_cents,
        starts_at: Timestamp(1_000),
    }
}

/// Asserts an `Invalid` rejection whose message mentions `field`.
#[track_caller]
fn assert_invalid(result: Result<(), Rejection>, field: &str) {
    match result {
        Err(Rejection::Invalid(message)) => assert!(
            message.contains(field),
            "message {message:?} does not name {field:?}"
        ),
        other => panic!("expected Invalid naming {field}, got {other:?}"),
    }
}

#[test]
fn valid_commands_pass() {
    assert_eq!(create("s1", "Hamlet", 10, 2_500).validate(), Ok(()));
    assert_eq!(create("s1", "  Hamlet  ", 1, 0).validate(), Ok(()));
    assert_eq!(
        create(
            "s",
            &"x".repeat(MAX_TITLE_LEN),
            MAX_SEATS_PER_SHOW,
            MAX_PRICE_CENTS
        )
        .validate(),
        Ok(())
    );
    assert_eq!(hold("s1", &[3, 1, 2], "alice", 1).validate(), Ok(()));
    assert_eq!(
        hold(
            "s1",
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            "alice",
            MAX_HOLD_TTL_MS
        )
        .validate(),
        Ok(())
    );
    assert_eq!(Command::ExpireHolds.validate(), Ok(()));
    assert_eq!(
        Command::Confirm {
            booking: BookingId(0),
            transaction: None,
        }
        .validate(),
        Ok(())
    );
    assert!(matches!(
        Command::Confirm {
            booking: BookingId(1),
            transaction: Some("tx 1".into()),
        }
        .validate(),
        Err(Rejection::Invalid(m)) if m.contains("transaction")
    ));
    assert!(matches!(
        Command::Settle {
            booking: BookingId(1),
            charge: Some("".into()),
        }
        .validate(),
        Err(Rejection::Invalid(m)) if m.contains("charge")
    ));
    let mut bad_order = hold("s1", &[1], "u1", 1_000);
    if let Command::Hold { order, .. } = &mut bad_order {
        *order = "".into();
    }
    assert!(matches!(
        bad_order.validate(),
        Err(Rejection::Invalid(m)) if m.contains("order")
    ));
    assert_eq!(
        Command::UpdateShow {
            show: "s1".into(),
            title: None,
            seat_count: None,
            price_cents: Some(0),
            starts_at: None,
        }
        .validate(),
        Ok(())
    );
}

#[test]
fn ids_are_checked() {
    assert_invalid(hold("", &[1], "alice", 10).validate(), "show");
    assert_invalid(
        hold(&"a".repeat(MAX_ID_LEN + 1), &[1], "alice", 10).validate(),
        "show",
    );
    assert_eq!(
        hold(&"a".repeat(MAX_ID_LEN), &[1], "alice", 10).validate(),
        Ok(())
    );
    assert_invalid(hold("my show", &[1], "alice", 10).validate(), "show");
    assert_invalid(hold("tab\there", &[1], "alice", 10).validate(), "show");
    assert_invalid(hold("café", &[1], "alice", 10).validate(), "show");
    assert_invalid(hold("s1", &[1], "", 10).validate(), "user");
    assert_invalid(
        Command::Cancel {
            booking: BookingId(1),
            user: "bad user".into(),
        }
        .validate(),
        "user",
    );
    let request = Request {
        request_id: "".into(),
        caller: None,
        command: Command::ExpireHolds,
    };
    assert_invalid(request.validate(), "request_id");
    let request = Request {
        request_id: "r 1".into(),
        caller: None,
        command: Command::ExpireHolds,
    };
    assert_invalid(request.validate(), "request_id");
    let request = Request {
        request_id: "r1".into(),
        caller: None,
        command: hold("s1", &[], "a", 1),
    };
    assert_invalid(request.validate(), "seats");
}

#[test]
fn seats_are_checked() {
    assert_invalid(hold("s1", &[], "alice", 10).validate(), "seats");
    assert_invalid(hold("s1", &[0], "alice", 10).validate(), "seat 0");
    assert_invalid(
        hold("s1", &[2, 5, 2], "alice", 10).validate(),
        "seat 2 twice",
    );
    assert_invalid(
        hold("s1", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], "alice", 10).validate(),
        "seats",
    );
    let book = Command::Book {
        show: "s1".into(),
        seats: vec![SeatNo(4), SeatNo(4)],
        tickets: Default::default(),
        user: "u".into(),
        max_seats_per_user: 0,
    };
    assert_invalid(book.validate(), "seats");
}

#[test]
fn ttl_is_checked() {
    assert_invalid(hold("s1", &[1], "alice", 0).validate(), "ttl_ms");
    assert_invalid(hold("s1", &[1], "alice", -5).validate(), "ttl_ms");
    assert_invalid(
        hold("s1", &[1], "alice", MAX_HOLD_TTL_MS + 1).validate(),
        "ttl_ms",
    );
}

#[test]
fn show_fields_are_checked() {
    assert_invalid(create("s1", "Hamlet", 0, 100).validate(), "seat_count");
    assert_invalid(
        create("s1", "Hamlet", MAX_SEATS_PER_SHOW + 1, 100).validate(),
        "seat_count",
    );
    assert_invalid(create("s1", "Hamlet", 10, -1).validate(), "price_cents");
    assert_invalid(
        create("s1", "Hamlet", 10, MAX_PRICE_CENTS + 1).validate(),
        "price_cents",
    );
    assert_invalid(create("s1", "", 10, 100).validate(), "title");
    assert_invalid(create("s1", "   ", 10, 100).validate(), "title");
    assert_invalid(create("s1", "Ham\u{7}let", 10, 100).validate(), "title");
    assert_invalid(
        create("s1", &"é".repeat(MAX_TITLE_LEN + 1), 10, 100).validate(),
        "title",
    );
    assert_eq!(
        create("s1", &"é".repeat(MAX_TITLE_LEN), 10, 100).validate(),
        Ok(())
    );
    assert_invalid(create("", "Hamlet", 10, 100).validate(), "show");
}

#[test]
fn update_needs_a_field_and_valid_values() {
    let update = |title: Option<&str>, seat_count, price_cents| Command::UpdateShow {
        show: "s1".into(),
        title: title.map(str::to_owned),
        seat_count,
        price_cents,
        starts_at: None,
    };
    assert_invalid(update(None, None, None).validate(), "at least one");
    assert_invalid(update(Some(" "), None, None).validate(), "title");
    assert_invalid(update(None, Some(0), None).validate(), "seat_count");
    assert_invalid(update(None, None, Some(-3)).validate(), "price_cents");
    assert_eq!(update(Some("New"), Some(5), Some(7)).validate(), Ok(()));
}

#[test]
fn admin_only_commands() {
    assert!(create("s1", "Hamlet", 10, 100).is_admin_only());
    assert!(
        Command::UpdateShow {
            show: "s1".into(),
            title: None,
            seat_count: Some(3),
            price_cents: None,
            starts_at: None,
        }
        .is_admin_only()
    );
    assert!(
        Command::SetAdmin {
            user: "u1".into(),
            admin: true
        }
        .is_admin_only()
    );
    assert!(!hold("s1", &[1], "alice", 10).is_admin_only());
    assert!(!register("a@b.co", false).is_admin_only());
    assert!(register("a@b.co", true).is_admin_only());
    assert!(!Command::ExpireHolds.is_admin_only());
    assert!(
        !Command::Release {
            booking: BookingId(1)
        }
        .is_admin_only()
    );
}

#[test]
fn rejection_kinds_and_messages() {
    let show = ShowId::from("s1");
    let cases = [
        (
            Rejection::Invalid("x".into()),
            RejectionKind::InvalidArgument,
            "invalid argument: x",
        ),
        (
            Rejection::ShowNotFound(show.clone()),
            RejectionKind::NotFound,
            "show s1 not found",
        ),
        (
            Rejection::ShowExists(show.clone()),
            RejectionKind::AlreadyExists,
            "show s1 already exists",
        ),
        (
            Rejection::NoSuchSeat {
                show: show.clone(),
                seat: SeatNo(9),
                seat_count: 8,
            },
            RejectionKind::NotFound,
            "seat 9 does not exist: show s1 has seats 1 to 8",
        ),
        (
            Rejection::SeatBooked { seat: SeatNo(2) },
            RejectionKind::FailedPrecondition,
            "seat 2 is already booked",
        ),
        (
            Rejection::SeatHeld { seat: SeatNo(2) },
            RejectionKind::FailedPrecondition,
            "seat 2 is already taken: another buyer is paying for it",
        ),
        (
            Rejection::ShowStarted(show.clone()),
            RejectionKind::FailedPrecondition,
            "show s1 has already started",
        ),
        (
            Rejection::BookingNotFound(BookingId(7)),
            RejectionKind::NotFound,
            "booking 7 not found",
        ),
        (
            Rejection::WrongStatus {
                booking: BookingId(7),
                status: "released".into(),
                expected: "held".into(),
            },
            RejectionKind::FailedPrecondition,
            "booking 7 is released, not held",
        ),
        (
            Rejection::HoldExpired(BookingId(7)),
            RejectionKind::FailedPrecondition,
            "hold on booking 7 expired",
        ),
        (
            Rejection::SeatInUse {
                show: show.clone(),
                seat_count: 4,
                seat: SeatNo(6),
            },
            RejectionKind::FailedPrecondition,
            "cannot shrink show s1 to 4 seats: seat 6 is taken",
        ),
        (
            Rejection::RequestIdReused("r1".into()),
            RejectionKind::FailedPrecondition,
            "request id r1 was already used for a different request",
        ),
        (
            Rejection::EmailTaken("ann@example.com".into()),
            RejectionKind::AlreadyExists,
            "email ann@example.com is already registered",
        ),
        (
            Rejection::AdminExists,
            RejectionKind::FailedPrecondition,
            "an administrator already exists",
        ),
        (
            Rejection::UserNotFound("u9".into()),
            RejectionKind::NotFound,
            "user u9 not found",
        ),
        (
            Rejection::LastAdmin,
            RejectionKind::FailedPrecondition,
            "cannot revoke the last administrator",
        ),
        (
            Rejection::SeatLimit {
                show: show.clone(),
                limit: 4,
                already: 3,
            },
            RejectionKind::FailedPrecondition,
            "at most 4 seats of show s1 per customer; you already have 3",
        ),
        (
            Rejection::HeldSeatLimit {
                limit: 20,
                held: 19,
            },
            RejectionKind::FailedPrecondition,
            "at most 20 seats may be held at once per customer, over all shows; you hold 19: \
             pay for or release a hold first",
        ),
        (
            Rejection::HoldRateLimit {
                limit: 30,
                retry_after_ms: 59_001,
            },
            RejectionKind::FailedPrecondition,
            "at most 30 holds per customer per hour; try again in 60 s",
        ),
        (
            Rejection::HoldCooldown {
                show: show.clone(),
                seat: SeatNo(4),
                retry_after_ms: 120_000,
            },
            RejectionKind::FailedPrecondition,
            "your hold on seat 4 of show s1 ended unpaid; you can hold it again in 120 s",
        ),
        (
            Rejection::Unauthenticated("session is no longer valid: log in again".into()),
            RejectionKind::Unauthenticated,
            "session is no longer valid: log in again",
        ),
        (
            Rejection::PermissionDenied("x needs the administrator role".into()),
            RejectionKind::PermissionDenied,
            "permission denied: x needs the administrator role",
        ),
    ];
    for (rejection, kind, message) in cases {
        assert_eq!(rejection.kind(), kind, "{rejection:?}");
        assert_eq!(rejection.to_string(), message);
    }
    let cooling = Rejection::HoldCooldown {
        show,
        seat: SeatNo(1),
        retry_after_ms: 7,
    };
    assert_eq!(cooling.retry_after_ms(), Some(7));
    assert_eq!(Rejection::LastAdmin.retry_after_ms(), None);
}

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";

fn register(email: &str, admin: bool) -> Command {
    Command::RegisterUser {
        email: email.into(),
        password_hash: HASH.into(),
        admin,
    }
}

#[test]
fn emails_are_normalised() {
    assert_eq!(
        normalize_email("  Ann.Lee+tix@Example.COM \n"),
        Ok("ann.lee+tix@example.com".to_owned())
    );
    assert_eq!(normalize_email("a@b.co"), Ok("a@b.co".to_owned()));
    // Only ASCII letters are lowercased.
    assert_eq!(
        normalize_email("ÉLODIE@Exemple.FR"),
        Ok("Élodie@exemple.fr".to_owned())
    );
    let longest = format!("{}@example.com", "a".repeat(MAX_EMAIL_LEN - 12));
    assert_eq!(normalize_email(&longest).as_deref(), Ok(longest.as_str()));
}

#[test]
fn bad_emails_are_explained() {
    let cases = [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("ann", "exactly one '@'"),
        ("ann@b@example.com", "exactly one '@'"),
        ("@example.com", "before the '@'"),
        ("ann@", "at least one '.'"),
        ("ann@localhost", "at least one '.'"),
        ("ann@.example.com", "empty label"),
        ("ann@example.com.", "empty label"),
        ("ann@example..com", "empty label"),
        ("ann lee@example.com", "whitespace"),
        ("ann@exa\u{7}mple.com", "control"),
        ("ann\t@example.com", "whitespace"),
    ];
    for (email, expected) in cases {
        match normalize_email(email) {
            Err(Rejection::Invalid(message)) => assert!(
                message.contains("email") && message.contains(expected),
                "{email:?}: message {message:?} lacks {expected:?}"
            ),
            other => panic!("{email:?}: expected Invalid, got {other:?}"),
        }
    }
    let too_long = format!("{}@example.com", "a".repeat(MAX_EMAIL_LEN - 11));
    assert_invalid(normalize_email(&too_long).map(drop), "254");
}

#[test]
fn user_commands_are_validated() {
    assert_eq!(register(" Ann@Example.com ", true).validate(), Ok(()));
    assert_invalid(register("nope", false).validate(), "email");
    let with_hash = |hash: &str| Command::RegisterUser {
        email: "a@b.co".into(),
        password_hash: hash.into(),
        admin: false,
    };
    assert_invalid(with_hash("").validate(), "password_hash");
    assert_invalid(with_hash("$argon2id$ x").validate(), "password_hash");
    assert_invalid(with_hash("$argon2id$é").validate(), "password_hash");
    assert_invalid(
        with_hash(&"h".repeat(MAX_PASSWORD_HASH_LEN + 1)).validate(),
        "password_hash",
    );
    assert_eq!(
        with_hash(&"h".repeat(MAX_PASSWORD_HASH_LEN)).validate(),
        Ok(())
    );
    assert_invalid(
        Command::BootstrapAdmin {
            email: "root".into(),
            password_hash: HASH.into(),
        }
        .validate(),
        "email",
    );
    assert_invalid(
        Command::ChangePassword {
            user: "u1".into(),
            password_hash: "".into(),
        }
        .validate(),
        "password_hash",
    );
    assert_invalid(
        Command::ChangePassword {
            user: "".into(),
            password_hash: HASH.into(),
        }
        .validate(),
        "user",
    );
    assert_invalid(
        Command::SetAdmin {
            user: "u 1".into(),
            admin: false,
        }
        .validate(),
        "user",
    );
    assert_invalid(
        Command::RevokeSessions { user: "".into() }.validate(),
        "user",
    );
    assert_eq!(
        Command::RevokeSessions { user: "u1".into() }.validate(),
        Ok(())
    );
}

#[test]
fn permissions_follow_the_rules() {
    let user = |id: &str, admin: bool| User {
        id: id.into(),
        email: format!("{id}@example.com"),
        password_hash: HASH.into(),
        admin,
        token_version: 0,
        created_at: Timestamp(1),
    };
    let (ann, boss) = (user("u2", false), user("u1", true));
    let allowed = |command: &Command, caller: &User| command.check_permission(caller).is_ok();
    let denied = |command: &Command, caller: &User| {
        matches!(
            command.check_permission(caller),
            Err(Rejection::PermissionDenied(message)) if !message.is_empty()
        )
    };
    let create = create("s1", "Hamlet", 10, 100);
    assert!(denied(&create, &ann) && allowed(&create, &boss));
    let set_admin = Command::SetAdmin {
        user: "u2".into(),
        admin: true,
    };
    assert!(denied(&set_admin, &ann) && allowed(&set_admin, &boss));
    // Customers act for themselves only, administrators included.
    assert!(allowed(&hold("s1", &[1], "u2", 10), &ann));
    assert!(denied(&hold("s1", &[1], "u3", 10), &ann));
    assert!(denied(&hold("s1", &[1], "u2", 10), &boss));
    let book = |user: &str| Command::Book {
        show: "s1".into(),
        seats: vec![SeatNo(1)],
        tickets: Default::default(),
        user: user.into(),
        max_seats_per_user: 0,
    };
    assert!(allowed(&book("u2"), &ann) && denied(&book("u1"), &ann));
    let cancel = |user: &str| Command::Cancel {
        booking: BookingId(1),
        user: user.into(),
    };
    assert!(allowed(&cancel("u2"), &ann) && denied(&cancel("u3"), &ann));
    let revoke = |user: &str| Command::RevokeSessions { user: user.into() };
    assert!(allowed(&revoke("u2"), &ann) && denied(&revoke("u1"), &ann));
    assert!(allowed(&revoke("u2"), &boss));
    let change = |user: &str| Command::ChangePassword {
        user: user.into(),
        password_hash: HASH.into(),
    };
    assert!(allowed(&change("u2"), &ann) && denied(&change("u2"), &boss));
    assert!(allowed(&register("x@y.zz", false), &ann));
    assert!(denied(&register("x@y.zz", true), &ann));
    assert!(allowed(&register("x@y.zz", true), &boss));
    let bootstrap = Command::BootstrapAdmin {
        email: "x@y.zz".into(),
        password_hash: HASH.into(),
    };
    let system = [
        bootstrap,
        Command::Confirm {
            booking: BookingId(1),
            transaction: None,
        },
        Command::Release {
            booking: BookingId(1),
        },
        Command::Settle {
            booking: BookingId(1),
            charge: None,
        },
        Command::RecordRefund {
            booking: BookingId(1),
        },
        Command::ExpireHolds,
    ];
    for command in &system {
        assert!(
            denied(command, &ann) && denied(command, &boss),
            "{command:?}"
        );
    }
}
