//! Upgrades without stopping the sale, with a test-only "old build": a
//! debug node started with `BOXOFFICE_TEST_NEWEST_FORMAT=1` reads log
//! formats up to version 1 only, as the build before versions did, while
//! the current build reads 2 (see `boxoffice_core::format`).
//!
//! - Raising `raft.write_format` while a member still runs the older
//!   build changes nothing it cannot read: every node goes on writing
//!   version 1 until that member is upgraded, then writes version 2.
//! - A node that meets an entry of a newer format than it reads anyway
//!   (its word was stale: it said it reads version 2) stops applying, says
//!   why, and applies nothing of it; the others go on.
//! - A rolling upgrade (each node stopped and started on the new build,
//!   followers first and the leader last, then each again to raise the
//!   format written) keeps the cluster selling, and loses no booking.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use boxoffice_client::proto::SeatState;
use boxoffice_node::app::PRETEND_NEWEST_VAR;
use boxoffice_node::config::RaftTuning;
use boxoffice_node::formats::ADVERTISE_VAR;
use common::{Cluster, FAR_FUTURE_MS, steady_booker, wait_count};
use tokio::sync::watch;

/// Node `id` runs the "old build" from its next start on.
fn old_build(cluster: &Cluster, id: u64) {
    cluster
        .node_env
        .lock()
        .unwrap()
        .insert(id, vec![(PRETEND_NEWEST_VAR.into(), "1".into())]);
}

/// Node `id` runs the "old build" from its next start on, but says it
/// reads version 2: what the others know of it is stale.
fn old_build_saying_it_reads_2(cluster: &Cluster, id: u64) {
    cluster.node_env.lock().unwrap().insert(
        id,
        vec![
            (PRETEND_NEWEST_VAR.into(), "1".into()),
            (ADVERTISE_VAR.into(), "2".into()),
        ],
    );
}

/// Whether every node in `ids` answered and writes version `version`.
fn all_write(s: &boxoffice_client::proto::GetStatusResponse, ids: &[u64], version: u32) -> bool {
    ids.iter()
        .all(|id| common::node(s, *id).is_some_and(|n| n.reachable && n.writes_format == version))
}

/// Waits until every node in `ids` answers and writes version `version`.
async fn wait_all_write(cluster: &Cluster, ids: &[u64], version: u32) {
    cluster
        .wait_for(
            &format!("nodes {ids:?} writing format {version}"),
            Duration::from_secs(30),
            |s| all_write(s, ids, version),
        )
        .await;
}

/// Node `id` runs the current build from its next start on.
fn new_build(cluster: &Cluster, id: u64) {
    cluster.node_env.lock().unwrap().remove(&id);
}

fn write_format_2(config: &mut boxoffice_node::config::NodeConfig) {
    config.raft.write_format = 2;
}

/// Node `id`'s log, as written so far.
fn log_of(cluster: &Cluster, id: u64) -> String {
    std::fs::read_to_string(cluster.dir.path().join(format!("node{id}.log"))).unwrap_or_default()
}

async fn wait_log(cluster: &Cluster, id: u64, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log_of(cluster, id).contains(text) {
        assert!(Instant::now() < deadline, "node {id} never logged {text:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until seat `seat` of show `s` is booked in each of `ids`' own
/// replicas.
async fn wait_booked(cluster: &Cluster, ids: &[u64], seat: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in ids {
        while !booked_on(cluster, *id, "s", seat).await {
            assert!(
                Instant::now() < deadline,
                "seat {seat} is not booked on node {id}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Three nodes with show `s`; then node 3 stopped and set to `build`, and
/// nodes 1 and 2 restarted writing format 2 (node 3 is started again by
/// the caller).
async fn raised_while_node_3_is_down(build: fn(&Cluster, u64)) -> Cluster {
    let cluster = Cluster::start(3, RaftTuning::default()).await;
    let admin = cluster.client("admin").await;
    admin
        .create_show("s", "Formats", 10, 100, FAR_FUTURE_MS)
        .await
        .unwrap();
    cluster.wait_converged(&[1, 2, 3], 1).await;
    cluster.stop(3).await;
    build(&cluster, 3);
    *cluster.tune_nodes.lock().unwrap() = Some(write_format_2);
    for id in [1, 2] {
        cluster.stop(id).await;
        cluster.spawn(id);
    }
    cluster
}

/// Whether seat `seat` of `show` is booked in node `id`'s own replica.
async fn booked_on(cluster: &Cluster, id: u64, show: &str, seat: u32) -> bool {
    let (_, map) = cluster
        .reader_of(id)
        .seat_map(show, true)
        .await
        .expect("seat map");
    map.iter()
        .any(|s| s.seat_no == seat && s.state == SeatState::Booked as i32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raising_the_format_waits_for_a_member_of_the_older_build() {
    // Node 3 goes back to the old build; then every node is told to write
    // format 2.
    let cluster = raised_while_node_3_is_down(old_build).await;
    cluster.spawn(3);
    let status = cluster
        .wait_for("every node back", Duration::from_secs(30), |s| {
            s.leader_id != 0 && (1..=3).all(|id| common::node(s, id).is_some_and(|n| n.reachable))
        })
        .await;
    assert_eq!(common::node(&status, 3).unwrap().reads_format, 1);
    assert_eq!(
        common::node(&status, 1).unwrap().reads_format,
        u32::from(boxoffice_core::format::NEWEST)
    );
    // Node 3 reads only version 1, so everyone writes version 1: it books
    // and node 3 applies the booking.
    let alice = cluster.client("alice").await;
    alice.book("s", &[1]).await.expect("booking");
    wait_booked(&cluster, &[3], 1).await;
    wait_all_write(&cluster, &[1, 2, 3], 1).await;
    wait_log(&cluster, 1, "but node 3 reads only up to version 1").await;
    // Upgraded, node 3 reads version 2, and every node starts writing it.
    cluster.stop(3).await;
    new_build(&cluster, 3);
    cluster.spawn(3);
    wait_all_write(&cluster, &[1, 2, 3], 2).await;
    alice.book("s", &[2]).await.expect("booking in format 2");
    wait_booked(&cluster, &[1, 2, 3], 2).await;
    for id in 1..=3 {
        assert!(
            !log_of(&cluster, id).contains("stops applying"),
            "node {id} met an entry it could not read"
        );
    }
    wait_log(&cluster, 1, "which every member reads").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_of_an_older_build_refuses_a_newer_entry_and_applies_none_of_it() {
    // Node 3 goes back to the old build but says it reads version 2; nodes
    // 1 and 2 start writing format 2 (node 3 must not lead, so that 1 or 2
    // does).
    let cluster = raised_while_node_3_is_down(old_build_saying_it_reads_2).await;
    cluster
        .wait_for("a leader of nodes 1 and 2", Duration::from_secs(30), |s| {
            s.leader_id == 1 || s.leader_id == 2
        })
        .await;
    cluster.spawn(3);
    // Once the writers have heard node 3 say it reads version 2...
    wait_all_write(&cluster, &[1, 2], 2).await;
    // ...node 3 catches up on what was written in format 1 before...
    let alice = cluster.client_without(&[3], "alice").await;
    alice.book("s", &[1]).await.expect("booking in format 2");
    // ...and meets the format-2 entry: it says why and applies none of it.
    wait_log(
        &cluster,
        3,
        "format version 2, newer than the 1 this build reads",
    )
    .await;
    assert!(
        log_of(&cluster, 3).contains("this node stops applying"),
        "{}",
        log_of(&cluster, 3)
    );
    wait_booked(&cluster, &[1, 2], 1).await;
    assert!(
        !booked_on(&cluster, 3, "s", 1).await,
        "node 3 applied an entry it cannot read"
    );
    // The others go on selling.
    alice.book("s", &[2]).await.expect("the majority goes on");
    // Upgraded, node 3 reads it and catches up.
    cluster.stop(3).await;
    new_build(&cluster, 3);
    cluster.spawn(3);
    wait_booked(&cluster, &[3], 2).await;
    assert!(booked_on(&cluster, 3, "s", 1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_upgrade_keeps_selling_and_loses_no_booking() {
    let cluster = Cluster::start(3, RaftTuning::default()).await;
    for id in 1..=3 {
        old_build(&cluster, id);
        cluster.stop(id).await;
        cluster.spawn(id);
        cluster.leader().await;
    }
    let admin = cluster.client("admin").await;
    admin
        .create_show("roll", "Rolling", 30_000, 100, FAR_FUTURE_MS)
        .await
        .unwrap();
    let progress = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = watch::channel(false);
    let mut bookers = Vec::new();
    for b in 0..3u32 {
        let user = format!("roller{b}");
        let client = cluster.client(&user).await;
        let seats = 1 + b * 10_000..(b + 1) * 10_000;
        bookers.push(steady_booker(
            client,
            user,
            "roll",
            seats,
            progress.clone(),
            stopped.clone(),
        ));
    }
    let mut sold = 20;
    wait_count(&progress, sold, "bookings before the upgrade").await;
    // Pass 1: every node onto the new build, still writing format 1;
    // pass 2: each again, now writing format 2. Followers first, the
    // leader last, selling all along.
    for pass in 1..=2 {
        if pass == 2 {
            *cluster.tune_nodes.lock().unwrap() = Some(write_format_2);
        }
        let leader = cluster.leader().await;
        let mut order: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
        order.push(leader);
        for id in order {
            cluster.stop(id).await;
            new_build(&cluster, id);
            cluster.spawn(id);
            let status = cluster
                .wait_for("the replaced node back", Duration::from_secs(60), |s| {
                    s.leader_id != 0 && common::node(s, id).is_some_and(|n| n.reachable)
                })
                .await;
            let commit = common::node(&status, status.leader_id).map_or(1, |n| n.commit_index);
            cluster.wait_converged(&[1, 2, 3], commit).await;
            // It kept selling through this replacement.
            sold += 10;
            wait_count(&progress, sold, "bookings after a replacement").await;
        }
    }
    stop.send_replace(true);
    let mut acknowledged = Vec::new();
    for booker in bookers {
        acknowledged.extend(booker.await.expect("booker"));
    }
    // No node stopped applying, and every acknowledged booking is there,
    // once, on every node.
    for id in 1..=3 {
        assert!(
            !log_of(&cluster, id).contains("stops applying"),
            "node {id} met an entry it could not read"
        );
    }
    let seats: BTreeSet<u32> = acknowledged
        .iter()
        .flat_map(|b| b.seat_nos.iter().copied())
        .collect();
    assert_eq!(seats.len(), acknowledged.len(), "a seat sold twice");
    cluster.leader().await;
    cluster.wait_converged(&[1, 2, 3], 1).await;
    for id in 1..=3 {
        let (_, map) = cluster
            .reader_of(id)
            .seat_map("roll", true)
            .await
            .expect("seat map");
        let booked: BTreeSet<u32> = map
            .iter()
            .filter(|s| s.state == SeatState::Booked as i32)
            .map(|s| s.seat_no)
            .collect();
        assert_eq!(
            booked, seats,
            "node {id}'s seats differ from the acknowledged bookings"
        );
    }
    println!(
        "rolling upgrade: {} bookings acknowledged across 6 replacements, all on every node",
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_cannot_read_the_written_format_is_not_added() {
    let mut cluster = Cluster::start(3, RaftTuning::default()).await;
    *cluster.tune_nodes.lock().unwrap() = Some(write_format_2);
    for id in 1..=3 {
        cluster.stop(id).await;
        cluster.spawn(id);
    }
    wait_all_write(&cluster, &[1, 2, 3], 2).await;
    // A fourth node of the older build asks to join: refused, with why.
    let addr = cluster.reserve(4);
    old_build(&cluster, 4);
    cluster.spawn(4);
    let admin = cluster.client("admin").await;
    let refused = admin
        .add_node(4, &addr)
        .await
        .expect_err("an older build was added to a cluster writing format 2");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("node 4 reads log formats up to version 1, but the cluster writes version 2"),
        "{refused:?}"
    );
    let status = admin.status().await.expect("status");
    assert!(common::node(&status, 4).is_none(), "{status:#?}");
    // A version-2 entry in the log; then every node back to writing
    // version 1. The log still holds that entry, which the nodes applied
    // again as they restarted: the older node is still refused.
    admin
        .create_show("v2", "Written in version 2", 10, 100, FAR_FUTURE_MS)
        .await
        .unwrap();
    let status = cluster.wait_converged(&[1, 2, 3], 1).await;
    let applied = common::node(&status, 1).map_or(1, |n| n.applied_index);
    *cluster.tune_nodes.lock().unwrap() = None;
    for id in 1..=3 {
        cluster.stop(id).await;
        cluster.spawn(id);
    }
    cluster.wait_converged(&[1, 2, 3], applied).await;
    wait_all_write(&cluster, &[1, 2, 3], 1).await;
    let admin = cluster.client("admin").await;
    let refused = admin
        .add_node(4, &addr)
        .await
        .expect_err("an older build was added to a log holding format 2");
    assert!(
        refused
            .message()
            .contains("node 4 reads log formats up to version 1"),
        "{refused:?}"
    );
    // On the current build it joins and catches up.
    cluster.stop(4).await;
    new_build(&cluster, 4);
    cluster.spawn(4);
    admin.add_node(4, &addr).await.expect("add node 4");
    cluster.wait_converged(&[1, 2, 3, 4], 1).await;
}
