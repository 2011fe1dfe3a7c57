//! The public API of a single-node cluster, in process: every bad input
//! gets a clear status and changes nothing; retries are deduplicated.

mod common;

use std::collections::BTreeMap;

use boxoffice_client::Client;
use boxoffice_client::proto as v1;
use common::{Node, expect_code};
use tonic::Code;

/// Everything a client can observe, to prove a rejection changed nothing.
async fn observable(
    client: &Client,
) -> (
    Vec<v1::Show>,
    BTreeMap<String, Vec<v1::Seat>>,
    Vec<v1::Booking>,
) {
    let shows = client.list_shows(false).await.unwrap();
    let mut maps = BTreeMap::new();
    for s in &shows {
        maps.insert(
            s.show_id.clone(),
            client.seat_map(&s.show_id, false).await.unwrap().1,
        );
    }
    (shows, maps, client.list_bookings(false).await.unwrap())
}

/// Drops the success value: the bad-input table only looks at errors.
fn done<T>(result: Result<T, tonic::Status>) -> Result<(), tonic::Status> {
    result.map(drop)
}

#[tokio::test]
async fn bad_inputs_get_clear_statuses_and_change_nothing() {
    use Code::*;
    let node = Node::start().await;
    let admin = node.admin().await;
    let alice = node.user("alice").await;
    admin
        .create_show("s1", "Hamlet", 10, 2500, i64::MAX / 2)
        .await
        .unwrap();
    let booking = alice.book("s1", &[1, 2]).await.unwrap();
    let before = observable(&alice).await;

    let shrink = v1::UpdateShowRequest {
        show_id: "s1".into(),
        seat_count: Some(1),
        ..Default::default()
    };
    let huge_title = "x".repeat(2 * 1024 * 1024);
    let anonymous = node.anonymous();
    let garbage = node.anonymous().with_token("not-a-token");
    let mallory = node.user("mallory").await;
    let eleven: Vec<u32> = (1..=11).collect();
    let long_id = "x".repeat(20_000);
    let update = |show: &str| v1::UpdateShowRequest {
        show_id: show.into(),
        ..Default::default()
    };
    #[rustfmt::skip]
    let cases = [
        ("unknown show", done(alice.book("nope", &[1]).await), NotFound, "show nope not found"),
        ("seat 0", done(alice.book("s1", &[0]).await), InvalidArgument, "seat"),
        ("seat past the end", done(alice.book("s1", &[11]).await), NotFound, "seats 1 to 10"),
        ("duplicate seats", done(alice.book("s1", &[3, 3]).await), InvalidArgument, "twice"),
        ("no seats", done(alice.book("s1", &[]).await), InvalidArgument, "seat"),
        ("too many seats", done(alice.book("s1", &eleven).await), InvalidArgument, "at most"),
        ("taken seat", done(alice.book("s1", &[2, 3]).await), FailedPrecondition, "seat 2 is already booked"),
        ("empty show id", done(alice.book("", &[1]).await), InvalidArgument, "show"),
        ("negative price", done(admin.create_show("s2", "Bad", 10, -1, 1).await), InvalidArgument, "price"),
        ("empty new show id", done(admin.create_show("", "Bad", 10, 100, 1).await), InvalidArgument, "show"),
        ("space in show id", done(admin.create_show("s 2", "Bad", 10, 100, 1).await), InvalidArgument, "show"),
        ("empty title", done(admin.create_show("s2", "", 10, 100, 1).await), InvalidArgument, "title"),
        ("zero seats", done(admin.create_show("s2", "Bad", 0, 100, 1).await), InvalidArgument, "seat"),
        ("too many seats", done(admin.create_show("s2", "Bad", 10_000_000, 100, 1).await), InvalidArgument, "seat"),
        ("existing show", done(admin.create_show("s1", "Again", 10, 100, 1).await), AlreadyExists, "already exists"),
        ("shrink below a booked seat", done(admin.update_show(shrink).await), FailedPrecondition, "seat 2 is taken"),
        ("get seat 0", done(alice.get_seat("s1", 0, false).await), InvalidArgument, "seat_no"),
        ("get seat past the end", done(alice.get_seat("s1", 99, false).await), NotFound, "does not exist"),
        ("get unknown show", done(alice.get_show("nope", 0, 0, false).await), NotFound, "not found"),
        ("page too large", done(alice.get_show("s1", 100_000, 0, false).await), InvalidArgument, "page_size"),
        ("page past the end", done(alice.get_show("s1", 0, 11, false).await), InvalidArgument, "page_token"),
        ("empty booking id", done(alice.cancel("").await), InvalidArgument, "booking_id"),
        ("unknown booking", done(alice.cancel("12345").await), NotFound, "not found"),
        // Someone else's booking looks like no booking at all.
        ("another user's booking", done(mallory.cancel(&booking.booking_id).await), NotFound, "not found"),
        ("no session", done(anonymous.book("s1", &[5]).await), Unauthenticated, "authorization"),
        ("garbage token", done(garbage.book("s1", &[5]).await), Unauthenticated, "invalid token"),
        ("non-admin creates a show", done(alice.create_show("s3", "Mine", 10, 100, 1).await), PermissionDenied, "administrator"),
        ("non-admin changes a show", done(mallory.update_show(v1::UpdateShowRequest { title: Some("T".into()), ..update("s1") }).await), PermissionDenied, "administrator"),
        // Refused before it is even read.
        ("huge request", done(admin.create_show("big", &huge_title, 10, 100, 1).await), OutOfRange, "too large"),
        ("unset start time", done(admin.create_show("s2", "Bad", 10, 100, 0).await), InvalidArgument, "starts_at"),
        ("read with an empty show id", done(alice.get_show("", 0, 0, false).await), InvalidArgument, "show"),
        ("read with a huge show id", done(alice.get_seat(&long_id, 1, false).await), InvalidArgument, "limit is 64"),
        ("cancel with a huge booking id", done(alice.cancel(&long_id).await), InvalidArgument, "limit is 64"),
        ("request id too long", done(alice.book("s1", &[5]).request_id(&long_id).await), InvalidArgument, "request_id"),
        ("update nothing", done(admin.update_show(update("s1")).await), InvalidArgument, "at least one"),
        ("update unknown show", done(admin.update_show(v1::UpdateShowRequest { title: Some("T".into()), ..update("nope") }).await), NotFound, "show nope not found"),
        ("update to a negative price", done(admin.update_show(v1::UpdateShowRequest { price_cents: Some(-5), ..update("s1") }).await), InvalidArgument, "price"),
    ];
    for (what, result, code, needle) in cases {
        let status = result.expect_err(what);
        assert_eq!(status.code(), code, "{what}: {status:?}");
        assert!(
            status.message().contains(needle),
            "{what}: {:?} should mention {needle:?}",
            status.message()
        );
    }

    assert_eq!(
        observable(&alice).await,
        before,
        "a rejected request changed the state"
    );
    node.stop().await;
}

#[tokio::test]
async fn retried_requests_apply_once_and_return_the_first_outcome() {
    let node = Node::start().await;
    node.admin()
        .await
        .create_show("s1", "Hamlet", 10, 2500, i64::MAX / 2)
        .await
        .unwrap();
    let alice = node.user("alice").await;
    let first = alice.book("s1", &[4, 5]).request_id("req-1").await.unwrap();
    let retry = alice.book("s1", &[4, 5]).request_id("req-1").await.unwrap();
    assert_eq!(first, retry);
    assert_eq!(alice.list_bookings(false).await.unwrap().len(), 1);
    let show = alice
        .get_show("s1", 0, 0, false)
        .await
        .unwrap()
        .show
        .unwrap();
    assert_eq!((show.available, show.booked, show.held), (8, 2, 0));
    // The same id for a different request is refused. Another user's
    // request ids are their own: replaying alice's id gets bob nothing of
    // hers (his attempt is judged afresh: the seats are taken), and does
    // not occupy the id for alice.
    expect_code(
        alice.book("s1", &[6]).request_id("req-1").await,
        Code::FailedPrecondition,
        "req-1",
    );
    let bob = node.user("bob").await;
    expect_code(
        bob.book("s1", &[4, 5]).request_id("req-1").await,
        Code::FailedPrecondition,
        "already booked",
    );
    let bobs = bob.book("s1", &[7]).request_id("req-1").await.unwrap();
    assert_ne!(bobs.booking_id, first.booking_id);
    assert_eq!(
        alice.book("s1", &[4, 5]).request_id("req-1").await.unwrap(),
        first
    );
    node.stop().await;
}

#[tokio::test]
async fn book_list_cancel_and_page_through_seats() {
    let node = Node::start().await;
    node.admin()
        .await
        .create_show("big", "Big hall", 1234, 1000, i64::MAX / 2)
        .await
        .unwrap();
    let bob = node.user("bob").await;
    let booking = bob.book("big", &[1234, 1, 600]).await.unwrap();
    assert_eq!(booking.seat_nos, vec![1, 600, 1234]);
    assert_eq!(booking.total_cents, 3000);
    assert_eq!(booking.status, v1::BookingStatus::Confirmed as i32);

    let first = bob.get_show("big", 500, 0, false).await.unwrap();
    assert_eq!((first.seats.len(), first.next_page_token), (500, 501));
    let (_, map) = node.anonymous().seat_map("big", true).await.unwrap();
    assert_eq!(map.len(), 1234);
    let booked: Vec<u32> = map
        .iter()
        .filter(|s| s.state == v1::SeatState::Booked as i32)
        .map(|s| s.seat_no)
        .collect();
    assert_eq!(booked, vec![1, 600, 1234]);

    let cancelled = bob.cancel(&booking.booking_id).await.unwrap();
    assert_eq!(cancelled.status, v1::BookingStatus::Cancelled as i32);
    // Cancelling twice is harmless: the booking comes back unchanged.
    assert_eq!(bob.cancel(&booking.booking_id).await.unwrap(), cancelled);
    let seat = bob.get_seat("big", 600, false).await.unwrap();
    assert_eq!(seat.seat.unwrap().state, v1::SeatState::Available as i32);
    let mine = bob.list_bookings(false).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].status, v1::BookingStatus::Cancelled as i32);
    node.stop().await;
}

#[tokio::test]
async fn bookings_come_in_pages_newest_first() {
    let node = Node::start().await;
    node.admin()
        .await
        .create_show("s1", "Hamlet", 10, 100, i64::MAX / 2)
        .await
        .unwrap();
    let carol = node.user("carol").await;
    let mut made = Vec::new();
    for seat in 1..=5 {
        made.push(carol.book("s1", &[seat]).await.unwrap().booking_id);
    }
    made.reverse();

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = carol.list_bookings_page(false, 2, &token).await.unwrap();
        pages += 1;
        assert!(page.bookings.len() <= 2);
        seen.extend(page.bookings.into_iter().map(|b| b.booking_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!((seen, pages), (made.clone(), 3));
    let all = carol.list_bookings(false).await.unwrap();
    assert_eq!(
        all.into_iter().map(|b| b.booking_id).collect::<Vec<_>>(),
        made
    );
    // Another user's pages never show carol's bookings.
    let dave = node.user("dave").await;
    let theirs = dave.list_bookings_page(false, 0, &made[2]).await.unwrap();
    assert!(theirs.bookings.is_empty() && theirs.next_page_token.is_empty());

    expect_code(
        carol.list_bookings_page(false, 1001, "").await,
        Code::InvalidArgument,
        "page_size 1001 is over the limit",
    );
    expect_code(
        carol.list_bookings_page(false, 2, "not-a-token").await,
        Code::InvalidArgument,
        "page_token",
    );
    node.stop().await;
}

#[tokio::test]
async fn concurrent_writes_share_log_entries() {
    const USERS: u32 = 40;
    const SHOWS: u32 = 2;
    const PER_USER_PER_SHOW: u32 = 5;
    let node = Node::start().await;
    let admin = node.admin().await;
    for show in 0..SHOWS {
        admin
            .create_show(&format!("busy{show}"), "Busy", 1000, 100, i64::MAX / 2)
            .await
            .unwrap();
    }
    let users =
        futures::future::join_all((0..USERS).map(|u| node.user_owned(format!("user-{u}")))).await;
    let before = admin.status().await.unwrap().nodes[0].applied_index;
    let writes = users.iter().enumerate().flat_map(|(u, client)| {
        (0..SHOWS).flat_map(move |show| {
            (0..PER_USER_PER_SHOW).map(move |k| {
                let seat = u as u32 * PER_USER_PER_SHOW + k + 1;
                async move { client.book(&format!("busy{show}"), &[seat]).await }
            })
        })
    });
    for r in futures::future::join_all(writes).await {
        r.unwrap();
    }
    let writes = USERS * SHOWS * PER_USER_PER_SHOW;
    let after = admin.status().await.unwrap().nodes[0].applied_index;
    let entries = after - before;
    assert!(
        entries < u64::from(writes) / 2,
        "{writes} concurrent bookings used {entries} log entries: writes are not coalesced"
    );
    for show in 0..SHOWS {
        let show = admin
            .get_show(&format!("busy{show}"), 0, 0, false)
            .await
            .unwrap()
            .show
            .unwrap();
        assert_eq!(show.booked, USERS * PER_USER_PER_SHOW);
    }
    node.stop().await;
}

/// Every gRPC port of the services beside the node (auth, payment's
/// two) answers health checks for its services and lists them, and
/// health, by reflection, so `grpcurl` works on each.
#[tokio::test]
async fn every_service_answers_health_and_reflection() {
    use boxoffice_tls::Identity;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let node = Node::with_payments(|_| {}).await;
    let payment = node.payment.as_ref().expect("a payment service");
    let plain = |addr: &str| {
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy()
    };
    let payment_peer = common::tls_of(&node.certs, Identity::Node(1))
        .endpoint(&payment.peer_addr, &Identity::Payment.dns_name())
        .unwrap()
        .connect_lazy();
    let ports = [
        (
            "auth",
            plain(&node.auth_addr),
            vec!["boxoffice.v1.AuthService", "auth.AuthService"],
        ),
        (
            "payment (old clients)",
            plain(&payment.addr),
            vec!["payment.PaymentService"],
        ),
        (
            "payment (peer)",
            payment_peer,
            vec!["boxoffice.v1.PaymentService"],
        ),
    ];
    for (port, channel, services) in ports {
        let mut health = HealthClient::new(channel.clone());
        let overall = health
            .check(HealthCheckRequest::default())
            .await
            .unwrap_or_else(|e| panic!("{port}: health: {e}"))
            .into_inner();
        assert_eq!(overall.status, ServingStatus::Serving as i32, "{port}");
        let names = common::reflected_services(channel).await;
        for expected in services.iter().copied().chain(["grpc.health.v1.Health"]) {
            assert!(
                names.iter().any(|n| n == expected),
                "{port}: {expected} missing from {names:?}"
            );
        }
    }
    node.stop().await;
}

#[tokio::test]
async fn serves_health_and_reflection() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let node = Node::start().await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", node.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    for service in ["boxoffice.v1.BookingService", "boxoffice.v1.ClusterService"] {
        let reply = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.status, ServingStatus::Serving as i32, "{service}");
    }

    let names = common::reflected_services(channel).await;
    for expected in [
        "boxoffice.v1.BookingService",
        "boxoffice.v1.ClusterService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    node.stop().await;
}

#[tokio::test]
async fn a_watched_show_streams_its_seat_map_then_each_change() {
    let node = Node::start().await;
    let admin = node.admin().await;
    admin
        .create_show("live", "Live hall", 5, 1000, i64::MAX / 2)
        .await
        .unwrap();
    expect_code(
        node.anonymous().watch_show("nowhere").await,
        Code::NotFound,
        "nowhere",
    );
    expect_code(
        node.anonymous().watch_show("").await,
        Code::InvalidArgument,
        "show",
    );

    let mut updates = node.anonymous().watch_show("live").await.unwrap();
    let first = updates.message().await.unwrap().expect("the whole map");
    assert!(first.full);
    assert_eq!(first.seats.len(), 5);
    assert!(
        first
            .seats
            .iter()
            .all(|s| s.state == v1::SeatState::Available as i32)
    );

    let bob = node.user("bob").await;
    let booking = bob.book("live", &[2, 4]).await.unwrap();
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), updates.message())
        .await
        .expect("an update within 5 s")
        .unwrap()
        .expect("the stream goes on");
    assert!(!next.full);
    assert!(next.applied_index > first.applied_index);
    let changed: Vec<(u32, i32)> = next.seats.iter().map(|s| (s.seat_no, s.state)).collect();
    assert_eq!(
        changed,
        vec![
            (2, v1::SeatState::Booked as i32),
            (4, v1::SeatState::Booked as i32)
        ]
    );
    assert_eq!(next.show.unwrap().booked, 2);

    bob.cancel(&booking.booking_id).await.unwrap();
    let freed = tokio::time::timeout(std::time::Duration::from_secs(5), updates.message())
        .await
        .expect("an update within 5 s")
        .unwrap()
        .expect("the stream goes on");
    assert_eq!(freed.seats.len(), 2);
    assert!(
        freed
            .seats
            .iter()
            .all(|s| s.state == v1::SeatState::Available as i32)
    );
    node.stop().await;
}
