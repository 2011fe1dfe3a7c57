//! Waiting rooms through the public API of a single-node cluster, in
//! process: a buyer who has not been let in is refused, whatever they ask;
//! the leader's coordinator opens the room and lets buyers in; a booking
//! uses the admission up; only administrators set rooms up, and bad rules
//! are refused and change nothing.

mod common;

use std::time::Duration;

use boxoffice_client::proto as v1;
use boxoffice_config::clock::now_ms;
use boxoffice_proto::v1::booking_service_client::BookingServiceClient;
use common::{Node, eventually, expect_code};
use tonic::Code;

fn rules(opens_at_ms: i64, admit_per_s: u32, max_active: u32) -> v1::RoomRules {
    v1::RoomRules {
        opens_at_ms,
        admit_per_s,
        max_active,
        admission_ms: 60_000,
    }
}

/// Performances "s1" and "s2" of ten seats, each behind a room of `rules`.
async fn shows_with_rooms(admin: &boxoffice_client::Client, rules: v1::RoomRules) {
    for show in ["s1", "s2"] {
        admin
            .create_show(show, "Hamlet", 10, 0, now_ms() + 86_400_000)
            .await
            .expect("create show");
        admin
            .set_waiting_room(show, Some(rules))
            .await
            .expect("set room");
    }
}

fn status(response: &v1::WaitingRoomResponse) -> &str {
    response.you.as_ref().map_or("", |you| you.status.as_str())
}

#[tokio::test]
async fn buyers_are_let_in_by_the_room_and_nobody_skips_it() {
    let node = Node::start().await;
    let admin = node.admin().await;
    admin
        .create_show("s1", "Hamlet", 10, 0, now_ms() + 86_400_000)
        .await
        .expect("create show");
    let ann = node.user("ann").await;
    let bob = node.user("bob").await;
    let carol = node.user("carol").await;

    // Only administrators set rooms up; bad rules and unknown shows are
    // refused, and nothing changes.
    expect_code(
        bob.set_waiting_room("s1", Some(rules(0, 5, 0))).await,
        Code::PermissionDenied,
        "administrators",
    );
    expect_code(
        admin.set_waiting_room("s1", Some(rules(0, 0, 0))).await,
        Code::InvalidArgument,
        "admit_per_s or max_active",
    );
    let mut short = rules(0, 5, 0);
    short.admission_ms = 5;
    expect_code(
        admin.set_waiting_room("s1", Some(short)).await,
        Code::InvalidArgument,
        "admission_ms",
    );
    expect_code(
        admin.set_waiting_room("nope", Some(rules(0, 5, 0))).await,
        Code::NotFound,
        "nope",
    );
    expect_code(
        admin.set_waiting_room("bad id", Some(rules(0, 5, 0))).await,
        Code::InvalidArgument,
        "show_id",
    );
    // Neither rules nor removal (or both): refused, not read as "remove".
    for (rules, remove) in [(None, false), (Some(rules(0, 5, 0)), true)] {
        let refused = admin
            .call(|channel| {
                let request = admin.request(v1::SetWaitingRoomRequest {
                    request_id: String::new(),
                    show_id: "s1".into(),
                    rules,
                    remove,
                });
                async move {
                    BookingServiceClient::new(channel)
                        .set_waiting_room(request)
                        .await
                }
            })
            .await;
        expect_code(refused, Code::InvalidArgument, "remove");
    }
    expect_code(
        ann.waiting_room("s1", false).await,
        Code::NotFound,
        "no waiting room",
    );
    expect_code(
        ann.join_waiting_room("s1").await,
        Code::NotFound,
        "no waiting room",
    );

    // A room that opens in an hour: joiners wait in the pre-queue, and
    // nobody may book.
    let later = now_ms() + 3_600_000;
    let set = admin
        .set_waiting_room("s1", Some(rules(later, 20, 0)))
        .await
        .expect("set room");
    assert_eq!(set.room.as_ref().unwrap().phase, "pre_queue");
    let joined = ann.join_waiting_room("s1").await.expect("join");
    assert_eq!(status(&joined), "pre_queue");
    assert_eq!(joined.room.as_ref().unwrap().waiting, 1);
    let again = ann.join_waiting_room("s1").await.expect("join again");
    assert_eq!(
        again.room.as_ref().unwrap().waiting,
        1,
        "one place per buyer"
    );
    expect_code(
        ann.book("s1", &[1]).await,
        Code::FailedPrecondition,
        "waiting room",
    );
    expect_code(
        carol.book("s1", &[2]).await,
        Code::FailedPrecondition,
        "waiting room",
    );

    // Waiting calls: a buyer outside the room hears so at once; one
    // account holds at most two at a time on a node.
    let outside = carol
        .wait_in_waiting_room("s1", Duration::from_secs(20))
        .await
        .expect("carol looks");
    assert_eq!(status(&outside), "outside");
    let dave = node.user("dave").await;
    dave.join_waiting_room("s1").await.expect("dave joins");
    // Two waiting calls, each asking again while the probe below holds
    // a place (it may come first), so that both end up held.
    let hold_a_place = || async {
        loop {
            match dave
                .wait_in_waiting_room("s1", Duration::from_secs(25))
                .await
            {
                Err(status) if status.code() == Code::ResourceExhausted => {}
                other => return other,
            }
        }
    };
    let held = async {
        let _ = tokio::join!(hold_a_place(), hold_a_place());
    };
    let third = async {
        eventually(Duration::from_secs(10), || async {
            match dave
                .wait_in_waiting_room("s1", Duration::from_millis(50))
                .await
            {
                Err(status) if status.code() == Code::ResourceExhausted => Ok(status),
                other => Err(format!("{other:?}")),
            }
        })
        .await
    };
    tokio::select! {
        () = held => panic!("the two waiting calls ended before the room opened"),
        refused = third => assert!(refused.message().contains("at most 2"), "{refused:?}"),
    }

    // Moved to now: the coordinator opens the room and lets ann in; her
    // waiting call answers then, with her place and when she got in.
    let (admitted, moved) = tokio::join!(
        ann.wait_in_waiting_room("s1", Duration::from_secs(25)),
        admin.set_waiting_room("s1", Some(rules(now_ms(), 20, 0))),
    );
    moved.expect("move the opening");
    let admitted = admitted.expect("ann waits");
    assert_eq!(status(&admitted), "admitted", "{admitted:?}");
    let you = admitted.you.as_ref().unwrap();
    assert!(you.place >= 1 && you.admitted_at_ms > 0, "{you:?}");
    let room = admitted.room.as_ref().unwrap();
    assert_eq!(room.phase, "open");
    assert!(
        room.opened_at_ms > 0 && room.admitted_total >= 1,
        "{room:?}"
    );
    assert!(admitted.you.as_ref().unwrap().admitted_until_ms > now_ms());
    // The opening cannot move now.
    expect_code(
        admin
            .set_waiting_room("s1", Some(rules(later, 20, 0)))
            .await,
        Code::InvalidArgument,
        "cannot move",
    );

    // Bob joins after the opening: at the back, let in at the next ticks.
    let bob_joined = bob.join_waiting_room("s1").await.expect("bob joins");
    assert!(
        ["waiting", "admitted"].contains(&status(&bob_joined)),
        "{bob_joined:?}"
    );
    // Carol skipped the room: still refused, while ann books and uses her
    // admission up.
    expect_code(
        carol.book("s1", &[2]).await,
        Code::FailedPrecondition,
        "waiting room",
    );
    ann.book("s1", &[1]).await.expect("ann was let in");
    let after = ann.waiting_room("s1", false).await.expect("room");
    assert_eq!(status(&after), "outside", "{after:?}");
    expect_code(
        ann.book("s1", &[3]).await,
        Code::FailedPrecondition,
        "waiting room",
    );
    eventually(Duration::from_secs(10), || async {
        let room = bob
            .waiting_room("s1", false)
            .await
            .map_err(|e| e.to_string())?;
        (status(&room) == "admitted")
            .then_some(())
            .ok_or(format!("{room:?}"))
    })
    .await;
    bob.book("s1", &[2]).await.expect("bob was let in");

    // Staff are exempt; removing the room lets anyone book.
    admin
        .book("s1", &[9])
        .await
        .expect("staff book past the room");
    let removed = admin.set_waiting_room("s1", None).await.expect("remove");
    assert!(removed.room.is_none());
    carol.book("s1", &[4]).await.expect("no room, no wait");
    node.stop().await;
}

/// A join needs the proof of work the node asks for, done for the buyer's
/// own challenge: none, a wrong nonce or another buyer's are refused with
/// the reason and take no place; the right one joins.
#[tokio::test]
async fn a_join_needs_the_buyers_own_proof_of_work() {
    let node = Node::start_tuned(|config| config.booking.join_pow_bits = 12).await;
    let admin = node.admin().await;
    admin
        .create_show("s1", "Hamlet", 10, 0, now_ms() + 86_400_000)
        .await
        .expect("create show");
    admin
        .set_waiting_room("s1", Some(rules(now_ms() + 3_600_000, 5, 0)))
        .await
        .expect("set room");
    let ann = node.user("ann").await;
    let bob = node.user("bob").await;
    let looked = ann.waiting_room("s1", false).await.expect("ann looks");
    let you = looked.you.expect("standing");
    assert_eq!(you.join_pow_bits, 12);
    let challenge: [u8; 32] = you.join_challenge.as_slice().try_into().expect("32 bytes");
    let nonce = boxoffice_core::pow::solve(&challenge, 12);
    // Bob's challenge is another: Ann's work is worth nothing to him.
    let bobs = bob.waiting_room("s1", false).await.expect("bob looks");
    assert_ne!(bobs.you.expect("standing").join_challenge, challenge);
    let wrong = (0..).find(|&n| !boxoffice_core::pow::proves(&challenge, n, 12));
    for (who, nonce) in [(&ann, wrong.expect("a wrong nonce")), (&bob, nonce)] {
        expect_code(
            who.join_waiting_room_with("s1", nonce).await,
            Code::FailedPrecondition,
            "proof of work",
        );
    }
    let room = ann.waiting_room("s1", false).await.expect("ann looks");
    assert_eq!(
        room.room.expect("room").waiting,
        0,
        "a refused join takes no place"
    );
    let joined = ann
        .join_waiting_room_with("s1", nonce)
        .await
        .expect("ann joins with her proof");
    assert_eq!(status(&joined), "pre_queue");
    // The client does the work itself.
    let joined = bob.join_waiting_room("s1").await.expect("bob joins");
    assert_eq!(status(&joined), "pre_queue");
}

/// Joins of waiting rooms are limited per network at the node too (for
/// scripts that skip the gateway): only joins that took a place count, a
/// network past its limit is refused with the reason and the wait, and
/// other networks are not affected.
#[tokio::test]
async fn joins_are_limited_per_network_at_the_node() {
    let node = Node::start_tuned(|config| {
        config.booking.join_pow_bits = 8;
        config.booking.joins_per_network_per_minute = 2;
    })
    .await;
    let admin = node.admin().await;
    shows_with_rooms(&admin, rules(now_ms() + 3_600_000, 5, 0)).await;
    let ann = node.user("ann").await;
    let bob = node.user("bob").await;
    let cat = node.user("cat").await;
    // Joins that take no place do not count: a wrong proof, and joining
    // again while in the room (which keeps the place).
    for _ in 0..3 {
        let challenge = ann.waiting_room("s1", false).await.expect("looks");
        let challenge: [u8; 32] = challenge.you.expect("standing").join_challenge[..]
            .try_into()
            .expect("32 bytes");
        let wrong = (0..)
            .find(|&n| !boxoffice_core::pow::proves(&challenge, n, 8))
            .expect("a wrong nonce");
        expect_code(
            ann.join_waiting_room_with("s1", wrong).await,
            Code::FailedPrecondition,
            "proof of work",
        );
    }
    for _ in 0..3 {
        ann.join_waiting_room("s1")
            .await
            .expect("ann joins, and again");
    }
    bob.join_waiting_room("s1").await.expect("bob joins");
    let refused = cat.join_waiting_room("s1").await;
    let status = refused.expect_err("a third join from the network");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status
            .message()
            .contains("from your network (127.0.0.0/24)")
            && status.message().contains("wait"),
        "{status:?}"
    );
    let room = admin.waiting_room("s1", false).await.expect("room");
    assert_eq!(
        room.room.expect("room").waiting,
        2,
        "the refused join took no place"
    );
    // Another /24 joins as usual.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", node.addr))
        .unwrap()
        .local_address(Some("127.0.1.1".parse().unwrap()))
        .connect_lazy();
    let mut elsewhere = BookingServiceClient::new(channel);
    let challenge = cat.waiting_room("s2", false).await.expect("looks");
    let challenge: [u8; 32] = challenge.you.expect("standing").join_challenge[..]
        .try_into()
        .expect("32 bytes");
    let mut join = tonic::Request::new(boxoffice_proto::v1::JoinWaitingRoomRequest {
        request_id: String::new(),
        show_id: "s2".into(),
        pow_nonce: boxoffice_core::pow::solve(&challenge, 8),
    });
    join.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", cat.token().expect("a token"))
            .parse()
            .unwrap(),
    );
    let joined = elsewhere
        .join_waiting_room(join)
        .await
        .expect("cat joins from another network")
        .into_inner();
    assert_eq!(joined.you.expect("standing").status, "pre_queue");
}

/// While a room guards its performance, a hold or booking carries the
/// buyer's own admission token: the node refuses, before proposing
/// anything, one with none, a forged one, another buyer's, or one for
/// another performance (each with its reason); the client finds the
/// token of a buyer let in by itself (even a client that never saw it).
#[tokio::test]
async fn a_hold_carries_the_buyers_own_admission_token() {
    let node = Node::start().await;
    let admin = node.admin().await;
    shows_with_rooms(&admin, rules(now_ms(), 50, 0)).await;
    let ann = node.user("ann").await;
    let bob = node.user("bob").await;
    let carol = node.user("carol").await;
    let mut tokens = Vec::new();
    for (who, show) in [(&ann, "s1"), (&bob, "s1"), (&ann, "s2")] {
        who.join_waiting_room(show).await.expect("join");
        let admitted = eventually(Duration::from_secs(10), || async {
            let room = who
                .wait_in_waiting_room(show, Duration::from_secs(5))
                .await
                .map_err(|e| e.to_string())?;
            (status(&room) == "admitted")
                .then_some(room)
                .ok_or_else(|| "not yet let in".to_owned())
        })
        .await;
        let token = admitted.you.expect("standing").admission_token;
        assert!(token.starts_with("adm1."), "{token:?}");
        tokens.push(token);
    }
    let (ann_s1, bob_s1, ann_s2) = (&tokens[0], &tokens[1], &tokens[2]);
    assert_ne!(ann_s1, bob_s1);
    // A raw BookSeats of seat 1 of `show` as `who`, with `token`.
    async fn book(
        who: &boxoffice_client::Client,
        show: &str,
        token: &str,
    ) -> Result<v1::BookSeatsResponse, tonic::Status> {
        let msg = v1::BookSeatsRequest {
            show_id: show.into(),
            seat_nos: vec![1],
            admission_token: token.into(),
            ..Default::default()
        };
        who.call(|channel| {
            let request = who.request(msg.clone());
            async move {
                BookingServiceClient::new(channel)
                    .book_seats(request)
                    .await
                    .map(tonic::Response::into_inner)
            }
        })
        .await
    }
    let mut forged = ann_s1.clone();
    let last = forged.pop().expect("a token");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for (who, show, token, why) in [
        (&carol, "s1", "", "carries no admission token"),
        (&carol, "s1", ann_s1.as_str(), "another account"),
        (&bob, "s1", ann_s1.as_str(), "another account"),
        (&ann, "s1", forged.as_str(), "not one this cluster issued"),
        (&ann, "s1", "adm1.garbage", "not one this cluster issued"),
        (&ann, "s1", ann_s2.as_str(), "is for performance s2"),
    ] {
        let refused = book(who, show, token).await;
        expect_code(refused, Code::FailedPrecondition, why);
    }
    let seat = admin.get_seat("s1", 1, false).await.expect("seat 1");
    assert_eq!(
        seat.seat.expect("seat").state,
        v1::SeatState::Available as i32,
        "nothing refused took the seat"
    );
    book(&ann, "s1", ann_s1).await.expect("ann's own token");
    // A client that never saw Bob's token (another process, say) gets it
    // from the room when the node asks for it.
    let fresh = node.user("bob").await;
    fresh
        .book("s1", &[2])
        .await
        .expect("bob, through the client");
    // Staff need none.
    admin.book("s1", &[3]).await.expect("staff");
    node.stop().await;
}
