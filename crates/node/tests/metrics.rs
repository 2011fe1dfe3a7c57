//! A node's plain-HTTP endpoint: `/metrics` counts the calls it answers,
//! shows Raft and the replicated state as they are, counts payment
//! outcomes; `/healthz` and `/readyz` answer; and the cap on `WatchShow`
//! streams holds.

mod common;

use std::time::Duration;

use boxoffice_metrics::sample;
use common::{DECLINED_CARD, GOOD_CARD, Node, card, eventually, expect_code};
use tonic::Code;

/// The value of `name{labels}` in `text`, which must have it.
#[track_caller]
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(text, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in\n{text}"))
}

const BOOK: &str = "boxoffice.v1.BookingService/BookSeats";

#[tokio::test]
async fn metrics_show_calls_raft_and_the_replicated_state() {
    let node = Node::start().await;
    let admin = node.admin().await;
    admin
        .create_show("m1", "Metrics", 10, 1000, i64::MAX / 2)
        .await
        .unwrap();
    let alice = node.user("alice").await;
    alice.book("m1", &[1, 2, 3]).await.unwrap();
    expect_code(
        alice.book("m1", &[3]).await,
        Code::FailedPrecondition,
        "seat 3 is already booked",
    );
    expect_code(
        alice.book("m1", &[99]).await,
        Code::NotFound,
        "seat 99 does not exist",
    );

    let response = reqwest::get(format!("http://{}/metrics", node.http_addr))
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        boxoffice_metrics::CONTENT_TYPE
    );
    let text = response.text().await.unwrap();
    let ok = [("method", BOOK), ("code", "OK")];
    assert_eq!(value(&text, "boxoffice_grpc_requests_total", &ok), 1.0);
    let taken = [("method", BOOK), ("code", "FAILED_PRECONDITION")];
    assert_eq!(value(&text, "boxoffice_grpc_requests_total", &taken), 1.0);
    let bad = [("method", BOOK), ("code", "NOT_FOUND")];
    assert_eq!(value(&text, "boxoffice_grpc_requests_total", &bad), 1.0);
    let timed = [("method", BOOK)];
    assert_eq!(
        value(
            &text,
            "boxoffice_grpc_request_duration_seconds_count",
            &timed
        ),
        3.0
    );

    assert!(value(&text, "boxoffice_raft_term", &[]) >= 1.0);
    assert_eq!(value(&text, "boxoffice_raft_leader", &[]), 1.0);
    assert_eq!(
        value(&text, "boxoffice_raft_role", &[("role", "leader")]),
        1.0
    );
    assert_eq!(
        value(&text, "boxoffice_raft_role", &[("role", "follower")]),
        0.0
    );
    assert!(value(&text, "boxoffice_raft_leader_changes_total", &[]) >= 1.0);
    let applied = value(&text, "boxoffice_raft_applied_index", &[]);
    assert!(applied >= 3.0, "{applied}");
    assert!(value(&text, "boxoffice_raft_commit_index", &[]) >= applied);
    assert!(value(&text, "boxoffice_raft_last_log_index", &[]) >= applied);
    value(&text, "boxoffice_raft_apply_lag_entries", &[]);

    assert_eq!(value(&text, "boxoffice_shows", &[]), 1.0);
    // The bootstrapped administrator and alice.
    assert_eq!(value(&text, "boxoffice_users", &[]), 2.0);
    assert_eq!(value(&text, "boxoffice_seats", &[("state", "booked")]), 3.0);
    assert_eq!(
        value(&text, "boxoffice_seats", &[("state", "available")]),
        7.0
    );
    assert_eq!(value(&text, "boxoffice_seats", &[("state", "held")]), 0.0);
    assert_eq!(value(&text, "boxoffice_bookings_created_total", &[]), 1.0);
    assert_eq!(value(&text, "boxoffice_holds", &[]), 0.0);
    // The auth service's calls to the internal account API are counted by
    // method too; a path the node does not serve is not a label.
    let lookups = [("method", "boxoffice.internal.v1.AccountService/LookupUser")];
    assert!(
        value(
            &text,
            "boxoffice_grpc_request_duration_seconds_count",
            &lookups
        ) >= 1.0
    );
    if cfg!(target_os = "linux") {
        assert!(value(&text, "process_resident_memory_bytes", &[]) > 1e6);
    }

    assert_eq!(node.http_get("/healthz").await.0, 200);
    let (status, body) = node.http_get("/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready: leader is node 1\n"));
    assert_eq!(node.http_get("/nowhere").await.0, 404);
    node.stop().await;
}

#[tokio::test]
async fn metrics_count_payment_outcomes() {
    let node = Node::with_payments(|_| {}).await;
    let starts_at = boxoffice_config::clock::now_ms() + 86_400_000;
    node.admin()
        .await
        .create_show("paid", "Paid", 10, 2500, starts_at)
        .await
        .unwrap();
    let ann = node.buyer("ann").await;
    let paid = ann
        .book("paid", &[1])
        .request_id("r-1")
        .card(&card(GOOD_CARD))
        .await
        .unwrap();
    expect_code(
        ann.book("paid", &[2])
            .request_id("r-2")
            .card(&card(DECLINED_CARD))
            .await,
        Code::FailedPrecondition,
        "declined",
    );
    ann.cancel(&paid.booking_id).await.unwrap();
    let calls = "boxoffice_payment_calls_total";
    let text = node.metrics().await;
    let charged = [("call", "charge"), ("outcome", "SUCCEEDED")];
    assert_eq!(value(&text, calls, &charged), 1.0);
    let declined = [("call", "charge"), ("outcome", "DECLINED")];
    assert_eq!(value(&text, calls, &declined), 1.0);
    // The cancel refunds at once; the coordinator may race it to the
    // same (idempotent) refund.
    let refunded = [("call", "refund"), ("outcome", "REFUNDED")];
    assert!(value(&text, calls, &refunded) >= 1.0);
    // The declined hold is settled by the coordinator: its key is voided.
    eventually(Duration::from_secs(20), || async {
        let text = node.metrics().await;
        match sample(&text, calls, &[("call", "void")]) {
            Some(n) if n >= 1.0 => Ok(()),
            _ => Err(format!("no void yet in\n{text}")),
        }
    })
    .await;
    node.stop().await;
}

#[tokio::test]
async fn a_node_serves_at_most_max_watch_streams() {
    let node = Node::start_tuned(|config| config.booking.max_watch_streams = 2).await;
    node.admin()
        .await
        .create_show("w", "Watched", 5, 1000, i64::MAX / 2)
        .await
        .unwrap();
    let viewer = node.anonymous();
    let mut first = viewer.watch_show("w").await.unwrap();
    let mut second = viewer.watch_show("w").await.unwrap();
    assert!(first.message().await.unwrap().is_some());
    assert!(second.message().await.unwrap().is_some());
    expect_code(
        viewer.watch_show("w").await,
        Code::ResourceExhausted,
        "at most 2 WatchShow streams",
    );
    // A closed stream gives its place back.
    drop(first);
    let mut third = eventually(Duration::from_secs(5), || async {
        viewer.watch_show("w").await.map_err(|s| s.to_string())
    })
    .await;
    assert!(third.message().await.unwrap().is_some());
    node.stop().await;
}
