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

/// Runs `boxoffice` to completion (off the async workers): status, stdout
/// lines as JSON, stderr.
fn run(mut command: std::process::Command) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let output = tokio::task::block_in_place(|| command.output()).expect("run boxoffice");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (
        output.status.code(),
        lines,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A gate cut off from the cluster (the only node it knows is killed)
/// keeps admitting from its saved list, refuses what it already let in,
/// and uploads its scans when the node is back: a ticket another gate
/// admitted meanwhile shows up as one conflict, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offline_gate_admits_from_its_list_then_uploads_and_conflicts_are_reported() {
    let cluster = Cluster::start(3, RaftTuning::default()).await;
    let admin = cluster.client("admin").await;
    admin
        .create_show("gig", "The Gig", 10, 2_000, FAR_FUTURE_MS)
        .await
        .expect("create show");
    admin.book("gig", &[1, 2, 3, 4, 5]).await.expect("book");
    let tickets = admin.list_tickets("", false).await.expect("tickets");
    let code = |i: usize| tickets[i].code.clone();
    let id = |i: usize| tickets[i].ticket_id.clone();

    // Gate east talks to one follower only.
    let leader = cluster.leader().await;
    let east_node = cluster
        .live()
        .into_iter()
        .find(|n| *n != leader)
        .expect("a follower");
    let config = tempfile::TempDir::new().expect("config dir");
    let offline = tempfile::TempDir::new().expect("offline dir");
    let east = |codes: &[String]| {
        let mut cli = cluster.cli(&[east_node], config.path());
        cli.args([
            "checkin",
            "--performance",
            "gig",
            "--gate",
            "east",
            "--json",
        ])
        .arg("--offline-dir")
        .arg(offline.path())
        .args(codes)
        .stdin(std::process::Stdio::null());
        run(cli)
    };
    let mut login = cluster.cli(&[east_node], config.path());
    login.args([
        "login",
        common::ADMIN_EMAIL,
        "--password",
        common::ADMIN_PASSWORD,
        "--json",
    ]);
    assert_eq!(run(login).0, Some(0));

    // Online: the list is saved, ticket 0 admitted by the cluster.
    let (status, scans, stderr) = east(&[code(0)]);
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(scans[0]["result"], "admitted", "{scans:?}");

    // East's node dies; west, online, admits ticket 1.
    cluster.kill(east_node);
    let west = cluster.client_without(&[east_node], "admin").await;
    let scan = west
        .check_in("w-1", "gig", "west", &code(1), 0)
        .await
        .expect("west scans");
    assert_eq!(ScanResult::try_from(scan.result), Ok(ScanResult::Admitted));
    // Meanwhile ticket 3 is returned.
    west.return_tickets(&tickets[3].booking_id, &[tickets[3].seat_no])
        .await
        .expect("return ticket 3");

    // East, offline: admits 1 (it cannot know) and 2, refuses 0 (it let
    // it in itself) and 2 again, and a forged code; admits 3 (it cannot
    // know it was returned).
    let (status, scans, stderr) =
        east(&[code(1), code(2), code(0), code(2), "BT1.x".into(), code(3)]);
    assert_eq!(status, Some(0), "{stderr}");
    let results: Vec<&str> = scans
        .iter()
        .map(|s| s["result"].as_str().unwrap())
        .collect();
    assert_eq!(
        results,
        [
            "admitted",
            "admitted",
            "already_in",
            "already_in",
            "forged",
            "admitted"
        ],
        "{scans:?}"
    );
    assert!(
        scans[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("(offline)")
    );
    assert!(
        stderr.contains("3 offline scan(s) still to upload"),
        "{stderr}"
    );

    // East's node is back: the next start uploads the three scans; the
    // returned ticket's is kept with the cluster's answer, not dropped.
    cluster.spawn(east_node);
    let reader = cluster.reader_of(east_node);
    let deadline = Instant::now() + Duration::from_secs(30);
    while reader.list_shows(false).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "node {east_node} did not come back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _, stderr) = east(&[]);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(
        stderr.contains("uploaded 3 offline scan(s); 1 had come in at another gate"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 offline admission(s) were of tickets returned or reissued"),
        "{stderr}"
    );
    let refused: Vec<serde_json::Value> = std::fs::read_dir(offline.path())
        .expect("offline dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "refused"))
        .flat_map(|p| {
            let text = std::fs::read_to_string(p).expect("refused file");
            text.lines()
                .map(|l| serde_json::from_str(l).expect("a refused record"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["answer"]["result"], "returned", "{refused:?}");
    assert_eq!(refused[0]["answer"]["ticket_id"], id(3), "{refused:?}");

    // The record: ticket 1 came in at west (first), with east's offline
    // scan as one conflict; ticket 2 at east, at the time it was scanned.
    let mut report = cluster.cli(&[], config.path());
    report.args(["checkin", "--performance", "gig", "--report", "--json"]);
    let (status, report, stderr) = run(report);
    assert_eq!(status, Some(0), "{stderr}");
    let report = &report[0];
    assert_eq!(report["admitted"], 3, "{report}");
    assert_eq!(report["gates"]["east"], 2, "{report}");
    assert_eq!(report["gates"]["west"], 1, "{report}");
    let conflicts = report["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{report}");
    assert_eq!(conflicts[0]["ticket_id"], id(1));
    assert_eq!(
        (&conflicts[0]["first_gate"], &conflicts[0]["second_gate"]),
        (&serde_json::json!("west"), &serde_json::json!("east"))
    );
    let listed = west.list_tickets("", false).await.expect("tickets");
    let two = listed.iter().find(|t| t.ticket_id == id(2)).unwrap();
    assert_eq!(two.gate, "east");
    assert!(two.admitted_at_ms > 0);
    // Nothing is left to upload: another start sends nothing.
    let (status, _, stderr) = east(&[]);
    assert_eq!((status, stderr.as_str()), (Some(0), ""));

    // A reissue through a follower answers with the new code at once (the
    // follower's own replica may not have applied it yet).
    let follower = cluster.client_of(east_node, "admin").await;
    for version in 1..=10 {
        let ticket = follower.reissue_ticket(&id(4)).await.expect("reissue");
        assert_eq!(ticket.version, version, "{ticket:?}");
    }
}
