//! Tickets and the door over gRPC, on one node with a real payment
//! service: a paid order's tickets carry signed codes that verify offline
//! with the cluster's published keys; a code is admitted once and the
//! second scan says where it came in; forged, altered, other-performance,
//! returned and reissued codes are each refused with their reason; a used
//! ticket cannot be returned; only administrators and door staff scan,
//! and a customer sees only their own tickets.

mod common;

use boxoffice_client::proto as v1;
use boxoffice_ticket::{PublicTicketKey, TicketSigner, TicketVerifier};
use common::{GOOD_CARD, Node, card, expect_code};
use tonic::Code;
use v1::ScanResult;

fn result(r: &v1::CheckInResponse) -> ScanResult {
    ScanResult::try_from(r.result).unwrap()
}

/// A node with two simple shows, "early" and "late", of four seats.
async fn door() -> Node {
    let node = Node::with_payments(|_| {}).await;
    let admin = node.admin().await;
    for show in ["early", "late"] {
        admin
            .create_show(show, "A Show", 4, 1_000, i64::MAX / 2)
            .await
            .unwrap();
    }
    node
}

#[tokio::test]
async fn a_ticket_is_admitted_once_and_every_bad_code_is_refused_with_its_reason() {
    let node = door().await;
    let admin = node.admin().await;
    let ann = node.buyer("ann").await;
    let bob = node.buyer("bob").await;
    let paid = ann
        .book("early", &[1, 2, 3])
        .card(&card(GOOD_CARD))
        .await
        .unwrap();

    let tickets = ann.list_tickets("", false).await.unwrap();
    assert_eq!(tickets.len(), 3, "{tickets:?}");
    let ids: Vec<&str> = tickets.iter().map(|t| t.ticket_id.as_str()).collect();
    let b = &paid.booking_id;
    assert_eq!(ids, [format!("{b}-1"), format!("{b}-2"), format!("{b}-3")]);
    assert!(
        tickets
            .iter()
            .all(|t| t.code.starts_with("BT1.") && t.version == 0)
    );
    assert!(
        tickets
            .iter()
            .all(|t| t.show_id == "early" && t.admitted_at_ms == 0)
    );

    // The codes verify offline with the keys the cluster publishes.
    let keys: Vec<PublicTicketKey> = ann
        .ticket_keys(false)
        .await
        .unwrap()
        .keys
        .into_iter()
        .map(|k| PublicTicketKey {
            kid: k.kid,
            key: k.public_key.try_into().unwrap(),
        })
        .collect();
    assert_eq!(keys.len(), 1, "one node, one key");
    let verifier = TicketVerifier::new(&keys).unwrap();
    let claims = verifier.verify(&tickets[0].code).unwrap();
    assert_eq!(claims.id.to_string(), tickets[0].ticket_id);

    // Others see none of them.
    assert!(bob.list_tickets("", false).await.unwrap().is_empty());
    expect_code(
        bob.list_tickets(b, false).await,
        Code::NotFound,
        "not found",
    );

    // Admitted once; the second scan, at another gate, says where.
    let code = &tickets[0].code;
    let first = admin
        .check_in("s1", "early", "north", code, 0)
        .await
        .unwrap();
    assert_eq!(result(&first), ScanResult::Admitted, "{first:?}");
    assert_eq!(first.ticket_id, tickets[0].ticket_id);
    let again = admin
        .check_in("s2", "early", "south", code, 0)
        .await
        .unwrap();
    assert_eq!(result(&again), ScanResult::AlreadyIn, "{again:?}");
    assert_eq!(again.gate, "north");
    assert!(again.admitted_at_ms > 0);
    // The same scan retried (same request id) is the same answer, not a
    // second scan.
    let retried = admin
        .check_in("s1", "early", "north", code, 0)
        .await
        .unwrap();
    assert_eq!(result(&retried), ScanResult::Admitted);
    let listed = ann.list_tickets(b, false).await.unwrap();
    assert_eq!(listed[0].gate, "north");

    // A used ticket cannot be returned or reissued.
    expect_code(
        ann.return_tickets(b, &[1]).await,
        Code::FailedPrecondition,
        "used at the door",
    );
    expect_code(
        ann.reissue_ticket(&tickets[0].ticket_id).await,
        Code::FailedPrecondition,
        "used at the door",
    );

    // Another performance's door.
    let wrong = admin
        .check_in("s3", "late", "north", &tickets[1].code, 0)
        .await
        .unwrap();
    assert_eq!(result(&wrong), ScanResult::WrongPerformance);
    assert_eq!(wrong.show_id, "early");

    // Altered: one character changed.
    let mut altered = tickets[1].code.clone().into_bytes();
    let last = altered.len() - 10;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let scan = admin
        .check_in("s4", "early", "north", &altered, 0)
        .await
        .unwrap();
    assert_eq!(result(&scan), ScanResult::Forged, "{scan:?}");

    // Forged: well formed, signed by a key the cluster does not have,
    // claiming the very same ticket.
    let forger = TicketSigner::generate(keys[0].kid.clone());
    let forged = forger.sign(&verifier.verify(&tickets[1].code).unwrap());
    let scan = admin
        .check_in("s5", "early", "north", &forged, 0)
        .await
        .unwrap();
    assert_eq!(result(&scan), ScanResult::Forged, "{scan:?}");
    let other_kid = TicketSigner::generate("n9-1").sign(&claims);
    let scan = admin
        .check_in("s6", "early", "north", &other_kid, 0)
        .await
        .unwrap();
    assert_eq!(result(&scan), ScanResult::Forged, "{scan:?}");
    let scan = admin
        .check_in("s7", "early", "north", "hello", 0)
        .await
        .unwrap();
    assert_eq!(result(&scan), ScanResult::Forged);

    // Reissued: the old code is dead, the new one admits.
    let reissued = ann.reissue_ticket(&tickets[1].ticket_id).await.unwrap();
    assert_eq!(reissued.version, 1);
    assert_ne!(reissued.code, tickets[1].code);
    let old = admin
        .check_in("s8", "early", "north", &tickets[1].code, 0)
        .await
        .unwrap();
    assert_eq!(result(&old), ScanResult::Superseded, "{old:?}");
    let new = admin
        .check_in("s9", "early", "north", &reissued.code, 0)
        .await
        .unwrap();
    assert_eq!(result(&new), ScanResult::Admitted, "{new:?}");

    // Returned: the code admits nobody.
    ann.return_tickets(b, &[3]).await.unwrap();
    let returned = admin
        .check_in("s10", "early", "north", &tickets[2].code, 0)
        .await
        .unwrap();
    assert_eq!(result(&returned), ScanResult::Returned, "{returned:?}");
    assert_eq!(ann.list_tickets(b, false).await.unwrap().len(), 2);
    node.stop().await;
}

#[tokio::test]
async fn only_administrators_scan_and_owners_reissue() {
    let node = door().await;
    let ann = node.buyer("ann").await;
    let bob = node.buyer("bob").await;
    let paid = ann
        .book("early", &[1])
        .card(&card(GOOD_CARD))
        .await
        .unwrap();
    let ticket = ann.list_tickets("", false).await.unwrap().remove(0);
    expect_code(
        ann.check_in("x1", "early", "north", &ticket.code, 0).await,
        Code::PermissionDenied,
        "door staff",
    );
    expect_code(
        bob.reissue_ticket(&ticket.ticket_id).await,
        Code::NotFound,
        "not found",
    );
    expect_code(
        node.anonymous().list_tickets("", false).await,
        Code::Unauthenticated,
        "",
    );
    // Bad inputs: a gate with a space, an empty show, a bad ticket id.
    let admin = node.admin().await;
    expect_code(
        admin
            .check_in("x2", "early", "north door", &ticket.code, 0)
            .await,
        Code::InvalidArgument,
        "gate",
    );
    expect_code(
        admin.check_in("x3", "", "north", &ticket.code, 0).await,
        Code::InvalidArgument,
        "show_id",
    );
    expect_code(
        ann.reissue_ticket("seven").await,
        Code::InvalidArgument,
        "ticket id",
    );
    // Nothing of that was recorded: the ticket still admits, once.
    let scan = admin
        .check_in("x4", "early", "north", &ticket.code, 0)
        .await
        .unwrap();
    assert_eq!(result(&scan), ScanResult::Admitted, "{paid:?}");
    node.stop().await;
}

/// Door staff of a production scan its performances' tickets and nothing
/// else; appointing them is for administrators; withdrawn, they scan no more.
#[tokio::test]
async fn door_staff_scan_where_they_are_appointed_and_nowhere_else() {
    let node = door().await;
    let admin = node.admin().await;
    let ann = node.buyer("ann").await;
    let dora = node.buyer("dora").await;
    ann.book("early", &[1])
        .card(&card(GOOD_CARD))
        .await
        .unwrap();
    ann.book("late", &[1]).card(&card(GOOD_CARD)).await.unwrap();
    let tickets = ann.list_tickets("", false).await.unwrap();
    let code_of = |show: &str| {
        tickets
            .iter()
            .find(|t| t.show_id == show)
            .map(|t| t.code.clone())
            .unwrap()
    };
    expect_code(
        dora.check_in("d1", "early", "north", &code_of("early"), 0)
            .await,
        Code::PermissionDenied,
        "door staff",
    );
    expect_code(
        dora.set_door_staff("dora@example.com", "early", "", true)
            .await,
        Code::PermissionDenied,
        "administrators",
    );
    expect_code(
        admin
            .set_door_staff("dora@example.com", "early", "hall", true)
            .await,
        Code::InvalidArgument,
        "either",
    );
    expect_code(
        admin
            .set_door_staff("nobody@example.com", "early", "", true)
            .await,
        Code::NotFound,
        "nobody@example.com",
    );
    // A simple show is a production of its own.
    let id = admin
        .set_door_staff("dora@example.com", "early", "", true)
        .await
        .unwrap();
    assert_eq!(id, dora.id);
    let scan = dora
        .check_in("d2", "early", "north", &code_of("early"), 0)
        .await
        .unwrap();
    assert_eq!(result(&scan), ScanResult::Admitted, "{scan:?}");
    expect_code(
        dora.check_in("d3", "late", "north", &code_of("late"), 0)
            .await,
        Code::PermissionDenied,
        "door staff",
    );
    // Door staff are not administrators.
    expect_code(
        dora.create_show("mine", "Mine", 3, 100, i64::MAX / 2).await,
        Code::PermissionDenied,
        "",
    );
    admin
        .set_door_staff(&dora.id, "early", "", false)
        .await
        .unwrap();
    expect_code(
        dora.check_in("d4", "early", "north", &code_of("early"), 0)
            .await,
        Code::PermissionDenied,
        "door staff",
    );
    node.stop().await;
}

/// Door scans are paced from a budget of their own: door staff whose
/// account is out of writes still scan (the write pace alone would turn a
/// busy door away after its burst).
#[tokio::test]
async fn a_door_is_not_turned_away_by_the_write_pace() {
    let node = Node::with_payments_tuned(
        |_| {},
        |c| {
            c.booking.writes_per_user_per_second = 1;
            c.booking.write_burst_per_user = 3;
        },
    )
    .await;
    let admin = node.admin().await;
    admin
        .create_show("early", "A Show", 6, 1_000, i64::MAX / 2)
        .await
        .unwrap();
    let ann = node.buyer("ann").await;
    let dora = node.buyer("dora").await;
    ann.book("early", &[1, 2, 3, 4, 5])
        .card(&card(GOOD_CARD))
        .await
        .unwrap();
    admin
        .set_door_staff(&dora.id, "early", "", true)
        .await
        .unwrap();
    let tickets = ann.list_tickets("", false).await.unwrap();
    assert_eq!(tickets.len(), 5);
    for (i, ticket) in tickets.iter().enumerate() {
        for again in [false, true] {
            let scan = dora
                .check_in(&format!("s{i}-{again}"), "early", "north", &ticket.code, 0)
                .await
                .unwrap();
            let expected = if again {
                ScanResult::AlreadyIn
            } else {
                ScanResult::Admitted
            };
            assert_eq!(result(&scan), expected, "{scan:?}");
        }
    }
    // Her writes are still paced.
    let mut refused = false;
    for _ in 0..5 {
        if let Err(status) = dora.hold("early", &[6]).await
            && status.code() == Code::ResourceExhausted
        {
            refused = true;
            break;
        }
    }
    assert!(refused, "dora's writes were not paced");
    node.stop().await;
}

/// A ticket given to another account: the giver's code says
/// "transferred" and leaves the giver's list; the new holder's code admits;
/// the buyer can no longer return it. Exits and re-entry where allowed,
/// and the door's counts.
#[tokio::test]
async fn a_transferred_ticket_changes_hands_and_a_ticket_may_go_out_and_in() {
    let node = door().await;
    let admin = node.admin().await;
    let ann = node.buyer("ann").await;
    let bob = node.buyer("bob").await;
    let paid = ann
        .book("early", &[1, 2])
        .card(&card(GOOD_CARD))
        .await
        .unwrap();
    let tickets = ann.list_tickets("", false).await.unwrap();
    let given = tickets[1].clone();
    expect_code(
        bob.transfer_ticket(&given.ticket_id, "ann@example.com")
            .await,
        Code::NotFound,
        "",
    );
    // Someone who does not hold the ticket learns nothing of the email.
    expect_code(
        bob.transfer_ticket(&given.ticket_id, "nobody@example.com")
            .await,
        Code::NotFound,
        "booking",
    );
    expect_code(
        ann.transfer_ticket(&given.ticket_id, "nobody@example.com")
            .await,
        Code::NotFound,
        "nobody@example.com",
    );
    expect_code(
        ann.transfer_ticket(&given.ticket_id, "").await,
        Code::InvalidArgument,
        "to",
    );
    // A reissue under a known request id, then the transfer: replaying
    // that reissue must not hand Ann the code Bob now holds.
    let mine_again = ann
        .reissue_ticket_as("re-1", &given.ticket_id)
        .await
        .unwrap();
    assert_eq!(mine_again.version, 1);
    let done = ann
        .transfer_ticket(&given.ticket_id, "bob@example.com")
        .await
        .unwrap();
    assert_eq!(
        (done.version, done.to_user_id.as_str()),
        (2, bob.id.as_str())
    );
    expect_code(
        ann.reissue_ticket_as("re-1", &given.ticket_id).await,
        Code::NotFound,
        "no longer hold",
    );
    // Ann's list keeps only her own ticket; Bob's has the new code.
    let anns = ann.list_tickets("", false).await.unwrap();
    assert_eq!(anns.len(), 1);
    assert_eq!(anns[0].ticket_id, tickets[0].ticket_id);
    let bobs = bob.list_tickets("", false).await.unwrap();
    assert_eq!(bobs.len(), 1, "{bobs:?}");
    assert_eq!(
        (bobs[0].ticket_id.as_str(), bobs[0].version),
        (given.ticket_id.as_str(), 2)
    );
    expect_code(
        ann.return_tickets(&paid.booking_id, &[2]).await,
        Code::FailedPrecondition,
        "transferred",
    );
    let old = admin
        .check_in("t1", "early", "north", &given.code, 0)
        .await
        .unwrap();
    assert_eq!(result(&old), ScanResult::Transferred, "{old:?}");
    let new = admin
        .check_in("t2", "early", "north", &bobs[0].code, 0)
        .await
        .unwrap();
    assert_eq!(result(&new), ScanResult::Admitted, "{new:?}");

    // Exits: refused until the performance allows them.
    let mine = &tickets[0].code;
    admin
        .check_in("t3", "early", "north", mine, 0)
        .await
        .unwrap();
    expect_code(
        admin.check_out("t4", "early", "north", mine).await,
        Code::FailedPrecondition,
        "re-entry",
    );
    expect_code(
        ann.set_reentry("early", true).await,
        Code::PermissionDenied,
        "",
    );
    admin.set_reentry("early", true).await.unwrap();
    let out = admin.check_out("t5", "early", "south", mine).await.unwrap();
    assert_eq!(result(&out), ScanResult::Left, "{out:?}");
    let counts = admin.door_counts("early", false).await.unwrap();
    assert_eq!((counts.sold, counts.inside, counts.reentry), (2, 1, true));
    assert!(counts.tickets.is_empty() && counts.keys.is_empty());
    let again = admin.check_out("t6", "early", "south", mine).await.unwrap();
    assert_eq!(result(&again), ScanResult::NotIn, "{again:?}");
    let back = admin
        .check_in("t7", "early", "east", mine, 0)
        .await
        .unwrap();
    assert_eq!(result(&back), ScanResult::Admitted, "{back:?}");
    let counts = admin.door_counts("early", false).await.unwrap();
    assert_eq!(counts.inside, 2);
    let gates: Vec<(&str, u32)> = counts
        .gates
        .iter()
        .map(|g| (g.gate.as_str(), g.admitted))
        .collect();
    assert_eq!(gates, [("east", 1), ("north", 1)]);
    node.stop().await;
}

/// A retired key (one that leaked) stops admitting its codes at once, and
/// the node that held it signs with a new key from then on; only an
/// administrator retires keys, and an unknown key cannot be retired.
#[tokio::test]
async fn a_retired_key_admits_nothing_and_its_node_signs_with_a_new_one() {
    let node = door().await;
    let admin = node.admin().await;
    let ann = node.buyer("ann").await;
    let paid = ann
        .book("early", &[1, 2])
        .card(&card(GOOD_CARD))
        .await
        .unwrap();
    let old = ann.list_tickets(&paid.booking_id, false).await.unwrap();
    let keys = ann.ticket_keys(false).await.unwrap();
    assert_eq!(keys.keys.len(), 1);
    assert!(keys.retired.is_empty());
    let old_kid = keys.keys[0].kid.clone();

    expect_code(
        ann.retire_ticket_key(&old_kid).await,
        Code::PermissionDenied,
        "administrators",
    );
    expect_code(
        admin.retire_ticket_key("no-such-key").await,
        Code::InvalidArgument,
        "no ticket key",
    );
    expect_code(
        admin.retire_ticket_key("").await,
        Code::InvalidArgument,
        "kid",
    );
    admin.retire_ticket_key(&old_kid).await.unwrap();
    admin.retire_ticket_key(&old_kid).await.unwrap();

    // The old key's codes are refused as forged.
    let scan = admin
        .check_in("r1", "early", "north", &old[0].code, 0)
        .await
        .unwrap();
    assert_eq!(result(&scan), ScanResult::Forged, "{scan:?}");

    // The holder's list now carries codes of a new key, which admit.
    let new = ann.list_tickets(&paid.booking_id, false).await.unwrap();
    assert_ne!(new[0].code, old[0].code);
    let keys = ann.ticket_keys(false).await.unwrap();
    assert_eq!(keys.retired, std::slice::from_ref(&old_kid));
    assert_eq!(keys.keys.len(), 1);
    assert_ne!(keys.keys[0].kid, old_kid);
    let verifier = TicketVerifier::new(&[PublicTicketKey {
        kid: keys.keys[0].kid.clone(),
        key: keys.keys[0].public_key.clone().try_into().unwrap(),
    }])
    .unwrap();
    assert!(verifier.verify(&new[0].code).is_ok());
    assert!(verifier.verify(&old[0].code).is_err());
    let scan = admin
        .check_in("r2", "early", "north", &new[0].code, 0)
        .await
        .unwrap();
    assert_eq!(result(&scan), ScanResult::Admitted, "{scan:?}");
    // The old code of the other ticket is still refused after the new
    // key exists.
    let scan = admin
        .check_in("r3", "early", "north", &old[1].code, 0)
        .await
        .unwrap();
    assert_eq!(result(&scan), ScanResult::Forged, "{scan:?}");
}
