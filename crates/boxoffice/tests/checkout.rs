//! The checkout saga across real processes: the leader dies (a crash
//! point aborts it, like `kill -9`) between hold and charge, and between
//! charge and confirm; the payment service is killed and restarted while
//! buyers pay. After each, every order must end confirmed-and-charged or
//! released-and-not-charged (or refunded), and the bookings must reconcile
//! exactly with the payment ledger.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use boxoffice_client::Client;
use boxoffice_client::audit::reconcile;
use boxoffice_client::proto::{
    Booking, BookingStatus, PaymentStatus, Transaction, TransactionStatus,
};
use boxoffice_node::config::{PaymentSettings, RaftTuning};
use boxoffice_node::crash;
use common::{Cluster, FAR_FUTURE_MS, good_card};

/// Price of a seat.
const PRICE: i64 = 1_500;

/// Every booking of `clients` and the ledger of their users, once they
/// reconcile (within 30 s).
async fn reconciled(cluster: &Cluster, clients: &[&Client]) -> (Vec<Booking>, Vec<Transaction>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut bookings = Vec::new();
        for client in clients {
            if let Ok(mine) = client.list_bookings(false).await {
                bookings.extend(mine);
            }
        }
        let users: Vec<String> = bookings
            .iter()
            .map(|b| b.user_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let problem = match cluster.ledger(&users).await {
            Ok(ledger) => match reconcile(&bookings, &ledger) {
                Ok(()) => return (bookings, ledger),
                Err(problem) => problem.to_string(),
            },
            Err(status) => status.to_string(),
        };
        assert!(Instant::now() < deadline, "never reconciled: {problem}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A paid 3-node cluster whose nodes crash at `point`, with a show.
async fn crashing_cluster(point: &str, payment: PaymentSettings) -> Cluster {
    let cluster = Cluster::start_paid(3, RaftTuning::default(), payment, Some(point)).await;
    cluster
        .client("admin")
        .await
        .create_show("crash", "Crash test", 10, PRICE, FAR_FUTURE_MS)
        .await
        .expect("create show");
    cluster
}

/// Sends a one-call checkout to the leader, which dies at its crash
/// point; returns the surviving cluster's client for the buyer.
async fn checkout_killing_the_leader(cluster: &Cluster) -> Client {
    let leader = cluster.leader().await;
    let buyer = cluster.client_of(leader, "ann").await;
    let failed = buyer
        .book("crash", &[1])
        .request_id("r-crash")
        .card(&good_card())
        .await;
    assert!(failed.is_err(), "the leader answered: {failed:?}");
    cluster.wait_exit(leader).await;
    let new_leader = cluster.leader().await;
    assert_ne!(new_leader, leader);
    cluster.client_without(&[leader], "ann").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_dies_between_hold_and_charge() {
    let payment = PaymentSettings {
        checkout_hold_ms: 3_000,
        sweep_interval_ms: 100,
        ..PaymentSettings::default()
    };
    let cluster = crashing_cluster(crash::AFTER_HOLD, payment).await;
    let ann = checkout_killing_the_leader(&cluster).await;
    // Nobody charged: the hold lapses, the order is voided, the seat is free.
    let (bookings, ledger) = reconciled(&cluster, &[&ann]).await;
    assert_eq!(bookings.len(), 1, "{bookings:?}");
    assert_eq!(bookings[0].status, BookingStatus::Released as i32);
    assert_eq!(bookings[0].payment_status, PaymentStatus::NotCharged as i32);
    assert!(ledger.is_empty(), "{ledger:?}");
    let seat = ann.get_seat("crash", 1, false).await.expect("seat");
    assert_eq!(seat.seat.expect("seat").state, 1, "available again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_dies_between_charge_and_confirm() {
    let payment = PaymentSettings {
        checkout_hold_ms: 60_000,
        sweep_interval_ms: 100,
        ..PaymentSettings::default()
    };
    let cluster = crashing_cluster(crash::AFTER_CHARGE, payment).await;
    let ann = checkout_killing_the_leader(&cluster).await;
    // The card was charged: the new leader finds the charge and confirms.
    let (bookings, ledger) = reconciled(&cluster, &[&ann]).await;
    assert_eq!(bookings.len(), 1, "{bookings:?}");
    assert_eq!(bookings[0].status, BookingStatus::Confirmed as i32);
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0].status, TransactionStatus::Succeeded as i32);
    assert_eq!(ledger[0].amount_cents, PRICE);
}

/// The value of the sample `name{labels}` in Prometheus text, 0 if absent.
fn sample(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Creates `show` and returns the leader, a follower, and ann's client of
/// that follower.
async fn ann_at_a_follower(cluster: &Cluster, show: &str) -> (u64, u64, Client) {
    cluster
        .client("admin")
        .await
        .create_show(show, "Relayed", 10, PRICE, FAR_FUTURE_MS)
        .await
        .expect("create show");
    let leader = cluster.leader().await;
    let follower = cluster.live().into_iter().find(|id| *id != leader).unwrap();
    (leader, follower, cluster.client_of(follower, "ann").await)
}

/// A checkout sent to a follower is run by the leader, whole: the
/// follower relays it, the leader charges, and the follower makes no
/// payment call of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_relays_its_checkout_to_the_leader() {
    let cluster =
        Cluster::start_paid(3, RaftTuning::default(), PaymentSettings::default(), None).await;
    let (leader, follower, ann) = ann_at_a_follower(&cluster, "relay").await;
    let booking = ann
        .book("relay", &[1, 2])
        .card(&good_card())
        .await
        .expect("book at a follower");
    assert_eq!(booking.status, BookingStatus::Confirmed as i32);

    let relays = "boxoffice_checkout_relays_total{outcome=";
    let at_follower = cluster.metrics(follower).await;
    let at_leader = cluster.metrics(leader).await;
    assert_eq!(sample(&at_follower, &format!("{relays}\"relayed\"}}")), 1);
    assert_eq!(sample(&at_follower, &format!("{relays}\"ran_here\"}}")), 0);
    assert_eq!(sample(&at_leader, &format!("{relays}\"served\"}}")), 1);
    let charges = "boxoffice_payment_calls_total{call=\"charge\",outcome=\"SUCCEEDED\"}";
    assert_eq!(sample(&at_follower, charges), 0, "the follower charged");
    assert_eq!(sample(&at_leader, charges), 1, "the leader did not charge");
    // A refusal comes back as the leader gave it, metadata and all (what
    // the legacy API and clients read to tell a taken seat).
    let bob = cluster.client_of(follower, "bob").await;
    let taken = bob
        .book("relay", &[2, 3])
        .card(&good_card())
        .await
        .expect_err("seat 2 is taken");
    assert!(boxoffice_proto::convert::is_seat_taken(&taken), "{taken:?}");
    let (bookings, ledger) = reconciled(&cluster, &[&ann]).await;
    assert_eq!(bookings.len(), 1, "{bookings:?}");
    assert_eq!(ledger.len(), 1, "{ledger:?}");
}

/// A client of every node that starts at a follower settles on the
/// leader: each follower that passes a checkout on says the leader is
/// elsewhere, and the client's next writes start at its next node. Of
/// four checkouts, one is relayed by each follower and the last two run
/// at the leader (without the hint, all four would go through the first
/// follower).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_of_every_node_settles_on_the_leader() {
    let cluster =
        Cluster::start_paid(3, RaftTuning::default(), PaymentSettings::default(), None).await;
    let (leader, first, _) = ann_at_a_follower(&cluster, "settle").await;
    let second = cluster
        .live()
        .into_iter()
        .find(|id| ![leader, first].contains(id))
        .unwrap();
    let in_order = [
        &cluster.addrs[&first],
        &cluster.addrs[&second],
        &cluster.addrs[&leader],
    ];
    let ann = Client::new(&in_order)
        .unwrap()
        .with_token(cluster.token("ann").await);
    for (seat, at) in [(1, first), (2, second), (3, leader), (4, leader)] {
        assert_eq!(
            ann.current_endpoint(),
            cluster.addrs[&at],
            "before seat {seat}"
        );
        let booking = ann
            .book("settle", &[seat])
            .card(&good_card())
            .await
            .expect("book");
        assert_eq!(booking.status, BookingStatus::Confirmed as i32);
    }
    let relayed = "boxoffice_checkout_relays_total{outcome=\"relayed\"}";
    for follower in [first, second] {
        assert_eq!(
            sample(&cluster.metrics(follower).await, relayed),
            1,
            "node {follower}"
        );
    }
    let served = "boxoffice_checkout_relays_total{outcome=\"served\"}";
    assert_eq!(sample(&cluster.metrics(leader).await, served), 2);
    // Reads still spread, and leave the writes where they are.
    for _ in 0..3 {
        ann.list_shows(false).await.expect("list shows");
    }
    assert_eq!(ann.current_endpoint(), cluster.addrs[&leader]);
}

/// The leader dies in the middle of a checkout a follower relayed to it,
/// after charging: the follower finishes the checkout itself under the
/// same request id, finds the charge made under the order's key, and
/// answers the customer with the booking confirmed, charged once. (Without
/// the relay the follower would run the checkout and die itself.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relayed_checkout_survives_the_leader_dying_in_it() {
    let payment = PaymentSettings {
        checkout_hold_ms: 60_000,
        sweep_interval_ms: 100,
        ..PaymentSettings::default()
    };
    let point = format!("once:{}", crash::AFTER_CHARGE);
    let cluster = Cluster::start_paid(3, RaftTuning::default(), payment, Some(&point)).await;
    let (leader, follower, ann) = ann_at_a_follower(&cluster, "crash").await;
    let booking = ann
        .book("crash", &[1])
        .request_id("r-relayed")
        .card(&good_card())
        .await
        .expect("the follower finished the checkout");
    assert_eq!(booking.status, BookingStatus::Confirmed as i32);
    cluster.wait_exit(leader).await;
    let ran_here = "boxoffice_checkout_relays_total{outcome=\"ran_here\"}";
    assert_eq!(sample(&cluster.metrics(follower).await, ran_here), 1);
    let ann = cluster.client_without(&[leader], "ann").await;
    let (bookings, ledger) = reconciled(&cluster, &[&ann]).await;
    assert_eq!(bookings.len(), 1, "{bookings:?}");
    assert_eq!(ledger.len(), 1, "charged once: {ledger:?}");
    assert_eq!(ledger[0].status, TransactionStatus::Succeeded as i32);
    assert_eq!(ledger[0].amount_cents, PRICE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_payment_service_mid_run_loses_and_doubles_nothing() {
    let payment = PaymentSettings {
        charge_timeout_ms: 8_000,
        checkout_hold_ms: 20_000,
        sweep_interval_ms: 100,
        ..PaymentSettings::default()
    };
    let cluster = Cluster::start_paid(3, RaftTuning::default(), payment, None).await;
    cluster
        .client("admin")
        .await
        .create_show("rush", "Rush", 100, PRICE, FAR_FUTURE_MS)
        .await
        .expect("create show");
    let mut buyers = Vec::new();
    for i in 0..4 {
        buyers.push(cluster.client(&format!("buyer{i}")).await);
    }
    let buying = buyers.iter().enumerate().map(|(i, buyer)| async move {
        let mut acknowledged = Vec::new();
        for n in 0..10u32 {
            let seat = u32::try_from(i).expect("few buyers") * 10 + n + 1;
            let request_id = format!("r-{i}-{n}");
            if let Ok(booking) = buyer
                .book("rush", &[seat])
                .request_id(&request_id)
                .card(&good_card())
                .await
            {
                acknowledged.push(booking.booking_id);
            }
        }
        acknowledged
    });
    let outage = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cluster.kill_payment();
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        cluster.spawn_payment();
    };
    let (acknowledged, ()) = tokio::join!(futures::future::join_all(buying), outage);
    let clients: Vec<&Client> = buyers.iter().collect();
    let (bookings, ledger) = reconciled(&cluster, &clients).await;
    for id in acknowledged.iter().flatten() {
        let booking = bookings
            .iter()
            .find(|b| b.booking_id == *id)
            .expect("an acknowledged booking exists");
        assert_eq!(
            booking.status,
            BookingStatus::Confirmed as i32,
            "{booking:?}"
        );
    }
    let charged = ledger
        .iter()
        .filter(|t| t.status == TransactionStatus::Succeeded as i32)
        .count();
    let confirmed = bookings
        .iter()
        .filter(|b| b.status == BookingStatus::Confirmed as i32)
        .count();
    assert_eq!(charged, confirmed, "one charge per confirmed booking");
    assert!(confirmed >= acknowledged.iter().flatten().count());
}

/// A performance of the example theatre is cancelled by an administrator
/// while the leader dies in its refunds: after the first refund is made at
/// the payment service and before it is recorded (`kill -9` there). The
/// next leader's coordinator makes the rest and repeats the first under
/// its key, so every order is refunded once, in full, even the one that
/// had returned a ticket (refunded in part) before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_performance_cancelled_while_the_leader_dies_refunds_every_order_once() {
    const ADULT: i64 = 3_000;
    const CONCESSION: i64 = 2_000;
    let payment = PaymentSettings {
        checkout_hold_ms: 60_000,
        sweep_interval_ms: 100,
        ..PaymentSettings::default()
    };
    let point = crash::AFTER_REFUND;
    let cluster = Cluster::start_paid(
        3,
        RaftTuning::default(),
        payment,
        Some(&format!("once:{point}")),
    )
    .await;
    // Not while the customer returns a ticket; armed for the cancellation.
    cluster.disarm_once(point, true);

    let admin = cluster.client("admin").await;
    common::hamlet_at_the_theatre(&admin, "hamlet-fri", ADULT, CONCESSION).await;

    // Three orders of an adult and a concession ticket each.
    let mut orders = Vec::new();
    for i in 0..3u32 {
        let buyer = cluster.client(&format!("buyer{i}")).await;
        let booking = buyer
            .book("hamlet-fri", &[2 * i + 1, 2 * i + 2])
            .types(["adult", "concession"])
            .card(&good_card())
            .await
            .expect("buy two tickets");
        assert_eq!(booking.total_cents, ADULT + CONCESSION);
        orders.push(booking);
    }
    // The first buyer returns the concession ticket: refunded in part. At
    // the leader, so that its coordinator, which may take the same refund,
    // waits for it and finds it made (it must not reach the crash point
    // armed below).
    let concession = orders[0].tickets[1].seat_no;
    let returned = cluster
        .client_of(cluster.leader().await, "buyer0")
        .await
        .return_tickets(&orders[0].booking_id, &[concession])
        .await
        .expect("return a ticket");
    let part = returned.returned.expect("the returned part");
    assert_eq!(part.payment_status, PaymentStatus::Refunded as i32);

    // The cancellation, sent to the leader, which dies in its refunds.
    cluster.disarm_once(point, false);
    let leader = cluster.leader().await;
    // (The client may retry on the next leader and be answered there.)
    let _ = cluster
        .client_of(leader, "admin")
        .await
        .cancel_performance("hamlet-fri")
        .await;
    cluster.wait_exit(leader).await;

    let mut survivors = Vec::new();
    for i in 0..3 {
        survivors.push(
            cluster
                .client_without(&[leader], &format!("buyer{i}"))
                .await,
        );
    }
    let clients: Vec<&Client> = survivors.iter().collect();
    let (bookings, ledger) = reconciled(&cluster, &clients).await;
    // Every booking of the performance is cancelled and refunded...
    assert_eq!(bookings.len(), 4, "three orders and one returned part");
    for booking in &bookings {
        assert_eq!(
            booking.status,
            BookingStatus::Cancelled as i32,
            "{booking:?}"
        );
        assert_eq!(
            booking.payment_status,
            PaymentStatus::Refunded as i32,
            "{booking:?}"
        );
    }
    // ...and each order's charge refunded exactly once, in full.
    assert_eq!(ledger.len(), 3, "{ledger:?}");
    for tx in &ledger {
        assert_eq!(tx.amount_cents, ADULT + CONCESSION, "{tx:?}");
        assert_eq!(tx.refunded_cents, tx.amount_cents, "{tx:?}");
        assert_eq!(tx.status, TransactionStatus::Refunded as i32, "{tx:?}");
    }
    let show = survivors[0]
        .get_show("hamlet-fri", 0, 1, false)
        .await
        .expect("the performance");
    assert_eq!(show.show.expect("show").state, "cancelled");
}
