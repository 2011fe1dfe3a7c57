//! The door with real processes: two gates scan the same 500 tickets at
//! once while the leader is killed with -9. Every ticket is admitted
//! exactly once, the other gate's scan is told "already in", and no scan
//! is lost or counted twice (each gate retries a scan under its own id
//! until it gets an answer, as a scanner would).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use boxoffice_client::Client;
use boxoffice_client::proto::{CheckInResponse, ScanResult};
use boxoffice_node::config::RaftTuning;
use common::{Cluster, FAR_FUTURE_MS, wait_count};

const TICKETS: u32 = 500;
/// Seats a booking (the show's per-customer limit is above it).
const PER_BOOKING: u32 = 10;

/// Scans `code` at `gate` until the cluster answers, under one request id.
async fn scan(client: &Client, gate: &str, ticket: &str, code: &str) -> CheckInResponse {
    let id = format!("{gate}-{ticket}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.check_in(&id, "gig", gate, code, 0).await {
            Ok(answer) => return answer,
            Err(status) if Instant::now() < deadline => {
                println!("{gate}: scan of {ticket} failed ({status}); again");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("{gate}: scan of {ticket} never answered: {status}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gates_scan_the_same_tickets_through_a_leader_kill() {
    let cluster = Cluster::start(3, RaftTuning::default()).await;
    let admin = cluster.client("admin").await;
    admin
        .create_show("gig", "The Gig", TICKETS, 2_000, FAR_FUTURE_MS)
        .await
        .expect("create show");
    for first in (1..=TICKETS).step_by(PER_BOOKING as usize) {
        let seats: Vec<u32> = (first..first + PER_BOOKING).collect();
        admin.book("gig", &seats).await.expect("book");
    }
    let tickets = admin.list_tickets("", false).await.expect("tickets");
    assert_eq!(tickets.len(), TICKETS as usize);
    let codes: Vec<(String, String)> = tickets
        .iter()
        .map(|t| (t.ticket_id.clone(), t.code.clone()))
        .collect();

    // Gate north scans in order through any node (its client follows the
    // leader, which is killed under it); gate south in reverse through a
    // follower that stays up. They meet in the middle, and every ticket is
    // scanned by both.
    let leader = cluster.leader().await;
    let follower = cluster
        .live()
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");
    let progress = Arc::new(AtomicUsize::new(0));
    let mut gates = Vec::new();
    for gate in ["north", "south"] {
        let client = if gate == "north" {
            cluster.client("admin").await
        } else {
            cluster.client_of(follower, "admin").await
        };
        let mut order = codes.clone();
        if gate == "south" {
            order.reverse();
        }
        let progress = progress.clone();
        gates.push(tokio::spawn(async move {
            let mut answers = BTreeMap::new();
            for (ticket, code) in order {
                let answer = scan(&client, gate, &ticket, &code).await;
                progress.fetch_add(1, Ordering::Relaxed);
                answers.insert(ticket, answer);
            }
            answers
        }));
    }
    wait_count(&progress, 150, "scans before the kill").await;
    cluster.kill(leader);
    println!("killed the leader, node {leader}");
    let mut answers = Vec::new();
    for gate in gates {
        answers.push(gate.await.expect("gate"));
    }

    let result = |a: &CheckInResponse| ScanResult::try_from(a.result).expect("a result");
    for (ticket, _) in &codes {
        let north = &answers[0][ticket];
        let south = &answers[1][ticket];
        let mut results = [result(north), result(south)];
        results.sort_by_key(|r| *r as i32);
        assert_eq!(
            results,
            [ScanResult::Admitted, ScanResult::AlreadyIn],
            "{ticket}: north {north:?}, south {south:?}"
        );
        // The "already in" answer names the gate that admitted it.
        let (admitted_at, other) = if result(north) == ScanResult::Admitted {
            ("north", south)
        } else {
            ("south", north)
        };
        assert_eq!(other.gate, admitted_at, "{ticket}");
    }
    // The replicated record agrees, read after the failover.
    let survivor = cluster.client_without(&[leader], "admin").await;
    let listed = survivor.list_tickets("", false).await.expect("tickets");
    assert_eq!(listed.len(), TICKETS as usize);
    for t in &listed {
        let expected = if result(&answers[0][&t.ticket_id]) == ScanResult::Admitted {
            "north"
        } else {
            "south"
        };
        assert_eq!(t.gate, expected, "{}", t.ticket_id);
    }
}
