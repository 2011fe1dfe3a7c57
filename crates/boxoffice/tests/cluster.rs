//! The cluster as users depend on it, with real processes: concurrent
//! bookings never double-book, the cluster survives its leader's death
//! without losing or repeating a booking, a restarted node catches up, and
//! a full restart loses nothing.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use boxoffice_client::proto::{BookingStatus, SeatState};
use boxoffice_metrics::sample;
use boxoffice_node::config::RaftTuning;
use common::{Cluster, FAR_FUTURE_MS, node, steady_booker, wait_count};
use tokio::sync::watch;
use tonic::Code;

/// Racing clients.
const RACERS: usize = 30;
/// Clients booking steadily across the leader's death.
const STEADY_BOOKERS: u32 = 4;
/// Seats each steady booker may use.
const SEATS_PER_BOOKER: u32 = 10_000;

/// The seats of `bookings`, in order.
fn seats_of(bookings: &[boxoffice_client::proto::Booking]) -> Vec<u32> {
    bookings
        .iter()
        .flat_map(|b| b.seat_nos.iter().copied())
        .collect()
}

async fn booked_seats(cluster: &Cluster, node_id: u64, show: &str, stale: bool) -> Vec<u32> {
    let (_, map) = cluster
        .reader_of(node_id)
        .seat_map(show, stale)
        .await
        .expect("seat map");
    map.iter()
        .filter(|s| s.state == SeatState::Booked as i32)
        .map(|s| s.seat_no)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn race_failover_catch_up_and_full_restart() {
    let cluster = Cluster::start(3, RaftTuning::default()).await;
    let admin = cluster.client("admin").await;
    admin
        .create_show("race", "The Race", 50, 1500, FAR_FUTURE_MS)
        .await
        .expect("create show");
    admin
        .create_show("flow", "Steady flow", 100_000, 500, FAR_FUTURE_MS)
        .await
        .expect("create show");

    // 30 clients race for seat 1, spread over all three nodes.
    // Log everyone in first, then let them race.
    let logins = (0..RACERS).map(|i| cluster.client_of(1 + (i as u64 % 3), format!("racer-{i}")));
    let clients = futures::future::join_all(logins).await;
    let racers = clients
        .into_iter()
        .map(|client| tokio::spawn(async move { client.book("race", &[1]).await }));
    let results: Vec<_> = futures::future::join_all(racers)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one racer must win seat 1: {results:#?}"
    );
    let winner = winners[0].clone();
    let winner_name = format!(
        "racer-{}",
        results.iter().position(Result::is_ok).expect("a winner")
    );
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code(), Code::FailedPrecondition, "{r:?}");
        assert!(r.message().contains("seat 1 is already booked"), "{r:?}");
    }

    // Steady bookers keep booking while the leader is killed with -9.
    let progress = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = watch::channel(false);
    let mut bookers = Vec::new();
    for b in 0..STEADY_BOOKERS {
        let (user, first) = (format!("steady-{b}"), 1 + b * SEATS_PER_BOOKER);
        let client = cluster.client(&user).await;
        let seats = first..first + SEATS_PER_BOOKER;
        bookers.push(steady_booker(
            client,
            user,
            "flow",
            seats,
            progress.clone(),
            stopped.clone(),
        ));
    }
    wait_count(&progress, 20, "bookings before the kill").await;
    let before = cluster
        .wait_for("a leader", Duration::from_secs(30), |s| s.leader_id != 0)
        .await;
    let old_leader = before.leader_id;
    cluster.kill(old_leader);
    let killed_at = Instant::now();
    let survivor = cluster.client_without(&[old_leader], "survivor").await;
    let first = survivor
        .book("race", &[2])
        .await
        .expect("booking after the leader died");
    println!(
        "a booking started after kill -9 of the leader completed {:?} after the kill",
        killed_at.elapsed()
    );
    let mut after = vec![first];
    for seat in 3..=7 {
        after.push(
            survivor
                .book("race", &[seat])
                .await
                .expect("booking on the new leader"),
        );
    }
    let done_before = progress.load(Ordering::Relaxed);
    wait_count(&progress, done_before + 20, "bookings after the kill").await;
    let new_leader = cluster.leader().await;
    let status = cluster
        .wait_for("the new term", Duration::from_secs(30), |s| {
            s.leader_id == new_leader
        })
        .await;
    assert!(
        status.term > before.term,
        "a new leader needs a new term: {before:#?} then {status:#?}"
    );
    // The operator sees the failover in the survivors' metrics.
    let metric = |text: &str, name: &str, labels: &[(&str, &str)]| {
        sample(text, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in\n{text}"))
    };
    for id in (1..=3).filter(|id| *id != old_leader) {
        let text = cluster.metrics(id).await;
        let role = if id == new_leader {
            "leader"
        } else {
            "follower"
        };
        assert_eq!(metric(&text, "boxoffice_raft_role", &[("role", role)]), 1.0);
        assert_eq!(
            metric(&text, "boxoffice_raft_leader", &[]),
            new_leader as f64
        );
        assert!(metric(&text, "boxoffice_raft_term", &[]) >= status.term as f64);
        // The first leader, then the new one.
        assert!(metric(&text, "boxoffice_raft_leader_changes_total", &[]) >= 2.0);
    }
    let text = cluster.metrics(new_leader).await;
    let lag = "boxoffice_raft_replication_lag_entries";
    let behind = metric(&text, lag, &[("peer", &old_leader.to_string())]);
    assert!(behind > 0.0, "the dead node acknowledges nothing: {behind}");

    // Restart the killed node while bookings go on: it catches up and matches.
    cluster.spawn(old_leader);
    wait_count(
        &progress,
        progress.load(Ordering::Relaxed) + 20,
        "bookings after the restart",
    )
    .await;
    stop.send(true).expect("stop bookers");
    let mut steady_seats = Vec::new();
    for (b, booker) in bookers.into_iter().enumerate() {
        let seats = seats_of(&booker.await.expect("booker"));
        let theirs = cluster
            .client(&format!("steady-{b}"))
            .await
            .list_bookings(false)
            .await
            .expect("list");
        assert_eq!(
            theirs.len(),
            seats.len(),
            "steady-{b}: one booking per successful request, none repeated"
        );
        steady_seats.extend(seats);
    }
    steady_seats.sort_unstable();
    let applied = node(&cluster.wait_converged(&[1, 2, 3], 0).await, new_leader)
        .expect("leader")
        .applied_index;
    cluster.wait_converged(&[1, 2, 3], applied).await;
    let expected: Vec<u32> = (1..=7).collect();
    assert_eq!(
        booked_seats(&cluster, old_leader, "race", true).await,
        expected,
        "restarted replica differs"
    );
    assert_eq!(
        booked_seats(&cluster, old_leader, "flow", true).await,
        steady_seats,
        "restarted replica differs"
    );
    assert_eq!(
        booked_seats(&cluster, new_leader, "race", false).await,
        expected
    );

    // Crash every node at once, start them again: every confirmed booking is there.
    for id in 1..=3 {
        cluster.kill(id);
    }
    for id in 1..=3 {
        cluster.spawn(id);
    }
    cluster.leader().await;
    for id in 1..=3 {
        assert_eq!(
            booked_seats(&cluster, id, "race", false).await,
            expected,
            "node {id} after full restart"
        );
        assert_eq!(
            booked_seats(&cluster, id, "flow", false).await,
            steady_seats,
            "node {id} after full restart"
        );
    }
    let theirs = cluster
        .client(&winner_name)
        .await
        .list_bookings(false)
        .await
        .expect("list");
    assert_eq!(theirs, vec![winner], "the race winner's booking survived");
    // Accounts survived too: a fresh login works after the full restart.
    let session = cluster
        .auth()
        .login(
            &format!("{winner_name}@example.com"),
            "correct horse battery staple",
        )
        .await
        .expect("login after a full restart");
    assert_eq!(session.user.expect("user").user_id, theirs[0].user_id);
    let mine = cluster
        .client("survivor")
        .await
        .list_bookings(false)
        .await
        .expect("list");
    assert_eq!(mine.len(), after.len());
    assert!(
        mine.iter()
            .all(|b| b.status == BookingStatus::Confirmed as i32)
    );

    // A clean stop (SIGTERM) works too, and every node exits 0.
    for id in 1..=3 {
        cluster.stop(id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grows_to_five_and_shrinks_back_while_serving() {
    let mut cluster = Cluster::start(3, RaftTuning::default()).await;
    let admin = cluster.client("admin").await;
    admin
        .create_show("m", "Membership", 100_000, 100, FAR_FUTURE_MS)
        .await
        .expect("create show");

    // Bad membership requests are refused; repeated ones change nothing.
    let addr2 = cluster.peer_addrs[&2].clone();
    let refused = |r: Result<_, tonic::Status>| r.expect_err("refused").code();
    assert_eq!(
        refused(admin.add_node(0, "127.0.0.1:1").await),
        Code::InvalidArgument
    );
    assert_eq!(
        refused(admin.add_node(9, "not-an-address").await),
        Code::InvalidArgument
    );
    assert_eq!(
        refused(admin.add_node(9, &addr2).await),
        Code::InvalidArgument,
        "address of node 2"
    );
    assert_eq!(
        refused(admin.add_node(2, "127.0.0.1:1").await),
        Code::InvalidArgument,
        "node 2 elsewhere"
    );
    let status = admin
        .add_node(2, &addr2)
        .await
        .expect("adding a member again is a no-op");
    assert_eq!(status.nodes.len(), 3);
    let status = admin
        .remove_node(42)
        .await
        .expect("removing a non-member is a no-op");
    assert_eq!(status.nodes.len(), 3);

    // Book continuously while the membership changes.
    let progress = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = watch::channel(false);
    let client = cluster.client("steady").await;
    let seats = 1..1 + SEATS_PER_BOOKER;
    let booker = steady_booker(
        client,
        "steady".into(),
        "m",
        seats,
        progress.clone(),
        stopped,
    );

    for id in [4, 5] {
        let addr = cluster.reserve(id);
        cluster.spawn(id);
        let status = admin.add_node(id, &addr).await.expect("add node");
        assert!(
            node(&status, id).is_some_and(|n| n.voter),
            "node {id} is a voter: {status:#?}"
        );
    }
    let status = cluster.wait_converged(&[1, 2, 3, 4, 5], 1).await;
    assert_eq!(status.nodes.iter().filter(|n| n.voter).count(), 5);

    for id in [5, 4] {
        let status = admin.remove_node(id).await.expect("remove node");
        assert!(
            node(&status, id).is_none(),
            "node {id} removed: {status:#?}"
        );
    }
    let status = cluster.wait_converged(&[1, 2, 3], 1).await;
    assert_eq!(status.nodes.len(), 3);

    wait_count(
        &progress,
        progress.load(Ordering::Relaxed) + 5,
        "bookings after the changes",
    )
    .await;
    stop.send(true).expect("stop booker");
    let booked = seats_of(&booker.await.expect("booker"));
    assert_eq!(booked_seats(&cluster, 1, "m", false).await, booked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lagging_and_new_nodes_catch_up_from_a_snapshot() {
    // Snapshot every 20 entries and keep no log behind it, so a node that
    // missed the first entries can only catch up by installing a snapshot.
    let tuning = RaftTuning {
        snapshot_every_entries: 20,
        keep_entries_after_snapshot: 0,
        ..RaftTuning::default()
    };
    let mut cluster = Cluster::start(3, tuning).await;
    let admin = cluster.client("admin").await;
    admin
        .create_show("snap", "Snapshots", 500, 100, FAR_FUTURE_MS)
        .await
        .expect("create show");
    let leader = cluster.leader().await;
    let lagging = (1..=3).find(|id| *id != leader).expect("a follower");
    cluster.kill(lagging);

    let writer = cluster.client_without(&[lagging], "writer").await;
    for seat in 1..=60 {
        writer.book("snap", &[seat]).await.expect("book");
    }
    // Once the leader has compacted its log, the entries the lagging node
    // lacks exist only in the snapshot: it can catch up no other way.
    let status = cluster
        .wait_for(
            "a snapshot and log compaction on the leader",
            Duration::from_secs(30),
            |s| {
                node(s, s.leader_id).is_some_and(|n| n.snapshot_index >= 40 && n.purged_index >= 40)
            },
        )
        .await;
    let applied = node(&status, status.leader_id)
        .expect("leader")
        .applied_index;

    cluster.spawn(lagging);
    let status = cluster.wait_converged(&[1, 2, 3], applied).await;
    assert!(
        node(&status, lagging).is_some_and(|n| n.snapshot_index > 0),
        "{status:#?}"
    );
    let expected: Vec<u32> = (1..=60).collect();
    assert_eq!(
        booked_seats(&cluster, lagging, "snap", true).await,
        expected
    );

    // A brand-new node joins and catches up the same way.
    let addr = cluster.reserve(4);
    cluster.spawn(4);
    admin.add_node(4, &addr).await.expect("add node 4");
    let status = cluster.wait_converged(&[1, 2, 3, 4], applied).await;
    assert!(
        node(&status, 4).is_some_and(|n| n.snapshot_index > 0),
        "{status:#?}"
    );
    assert_eq!(booked_seats(&cluster, 4, "snap", true).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_revokes_a_token_on_every_node() {
    let cluster = Cluster::start(3, RaftTuning::default()).await;
    cluster
        .client("admin")
        .await
        .create_show("s", "Show", 20, 100, FAR_FUTURE_MS)
        .await
        .expect("create show");
    let token = cluster.token("kim").await;
    let me = cluster
        .auth()
        .with_token(&token)
        .who_am_i()
        .await
        .expect("who am i");
    assert_eq!(me.email, "kim@example.com");
    for id in 1..=3 {
        let booking = cluster
            .client_of(id, "kim")
            .await
            .book("s", &[id as u32])
            .await
            .expect("book");
        assert_eq!(booking.user_id, me.user_id);
    }
    cluster
        .auth()
        .with_token(&token)
        .logout()
        .await
        .expect("logout");
    for id in 1..=3 {
        let stale = cluster.client_of(id, "kim").await; // the cached, now revoked token
        for status in [
            stale.book("s", &[10]).await.map(drop),
            stale.list_bookings(false).await.map(drop),
        ] {
            let status = status.expect_err("refused");
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "node {id}: {status:?}"
            );
        }
    }
    assert_eq!(booked_seats(&cluster, 1, "s", false).await, vec![1, 2, 3]);
}

/// Certificate rotation as docs/architecture.md gives it: issue a new
/// certificate for the same name and restart that process; its peers,
/// which trust the CA and not the certificate, take it back at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_restarted_with_a_new_certificate_rejoins() {
    let cluster = Cluster::start(3, RaftTuning::default()).await;
    let admin = cluster.client("admin").await;
    admin
        .create_show("rot", "Rotation", 100, 1_000, FAR_FUTURE_MS)
        .await
        .expect("create show");
    let leader = cluster.leader().await;
    let rotated = (1..=3).find(|&id| id != leader).expect("a follower");
    cluster.stop(rotated).await;
    let certs = cluster.dir.path().join("certs");
    let cert_file = certs.join(format!("node-{rotated}.pem"));
    let old = std::fs::read(&cert_file).expect("the old certificate");
    boxoffice_tls::issue(
        &certs,
        boxoffice_tls::Identity::Node(rotated),
        &["127.0.0.1".into()],
    )
    .expect("a new certificate");
    assert_ne!(
        std::fs::read(&cert_file).unwrap(),
        old,
        "the certificate was replaced"
    );
    // A booking while it is away, which it can only learn from its peers.
    let alice = cluster.client("alice").await;
    alice.book("rot", &[1, 2]).await.expect("book");
    let status = admin.status().await.expect("status");
    let applied = node(&status, leader).expect("the leader").applied_index;
    cluster.spawn(rotated);
    cluster.wait_converged(&[1, 2, 3], applied).await;
    assert_eq!(booked_seats(&cluster, rotated, "rot", true).await, [1, 2]);
}

/// Issue 25: 2,000 buyers and 50 bots in a waiting room (the queue bench,
/// as a process) while the leader is killed twice: once with everyone in
/// the pre-queue, once while the room lets buyers in. Every place is kept
/// and nobody is let in out of order (each buyer is let in at the place
/// they last saw), nothing is sold twice, the performance sells out and
/// the room drains: the bench checks all of that and fails otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_waiting_room_keeps_every_place_through_two_leader_kills() {
    const BUYERS: u64 = 2_000;
    const BOTS: u64 = 50;
    let cluster = Cluster::start_paid(
        3,
        RaftTuning::default(),
        boxoffice_node::config::PaymentSettings::default(),
        None,
    )
    .await;
    cluster.write_auth_config();
    // The administrator exists (the auth service makes it as the cluster
    // settles) before the bench logs in as them.
    let admin = cluster.client("admin").await;
    let config_dir = tempfile::tempdir().expect("temp dir");
    let out_path = config_dir.path().join("bench.out");
    let err_path = config_dir.path().join("bench.err");
    let mut command = cluster.cli(&[], config_dir.path());
    command
        .args(["bench", "--workload", "queue", "--json"])
        .args(["--buyers", &BUYERS.to_string(), "--bots", &BOTS.to_string()])
        // 20 a second: the room stays open some ten seconds, so the
        // second kill lands while it lets buyers in even when this
        // machine is busy (at 100 a second it sold out in two, and a
        // loaded run could miss the moment).
        .args(["--seats", "500", "--admit-rate", "20"])
        .args(["--admin-email", common::ADMIN_EMAIL])
        .args(["--admin-password", common::ADMIN_PASSWORD])
        .arg("--data-dir")
        .arg(cluster.dir.path())
        .stdout(std::fs::File::create(&out_path).expect("bench.out"))
        .stderr(std::fs::File::create(&err_path).expect("bench.err"));
    let mut bench = command.spawn().expect("start the bench");
    let said = || {
        format!(
            "{}\n{}",
            std::fs::read_to_string(&out_path).unwrap_or_default(),
            std::fs::read_to_string(&err_path).unwrap_or_default()
        )
    };
    let mut running = || match bench.try_wait().expect("the bench's status") {
        None => true,
        Some(status) => panic!("the bench ended early ({status}): {}", said()),
    };

    let mut show = None;
    for _ in 0..3_000 {
        assert!(running());
        let shows = admin.list_shows(true).await.unwrap_or_default();
        show = shows.into_iter().find(|s| s.show_id.ends_with("-queue"));
        if show.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let show = show.expect("the bench's performance").show_id;
    let mut wait_for_room =
        async |what: &str, done: &dyn Fn(&boxoffice_client::proto::WaitingRoom) -> bool| {
            for _ in 0..6_000 {
                assert!(running());
                let room = admin
                    .waiting_room(&show, true)
                    .await
                    .ok()
                    .and_then(|r| r.room);
                if room.as_ref().is_some_and(done) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("not within two minutes: {what}");
        };
    // Everyone is in the pre-queue: kill the leader.
    wait_for_room("everyone in the pre-queue", &|r| r.waiting == BUYERS + BOTS).await;
    let first = cluster.leader().await;
    cluster.kill(first);
    cluster.spawn(first);
    // The room lets buyers in: kill the leader again.
    wait_for_room("buyers let in", &|r| {
        r.phase == "open" && r.admitted_total >= 40
    })
    .await;
    let second = cluster.leader().await;
    cluster.kill(second);
    cluster.spawn(second);

    let status = tokio::task::spawn_blocking(move || bench.wait())
        .await
        .expect("joins")
        .expect("the bench ran");
    let output = said();
    assert!(
        status.success(),
        "the bench's checks failed (leaders killed: {first}, {second}): {output}"
    );
    let report: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&out_path)
            .expect("bench.out")
            .trim(),
    )
    .expect("JSON report");
    eprintln!("leaders killed: {first}, {second}; {report}");
    assert_eq!(report["sold_twice"], 0, "{report}");
    assert_eq!(report["places_lost"], 0, "{report}");
    assert_eq!(report["places_reordered"], 0, "{report}");
    assert_eq!(report["fairness"], 1.0, "{report}");
    assert_eq!(report["drained"], true, "{report}");
    assert_eq!(report["sold_out"], true, "{report}");
}

/// The `AppendEntries` node `id` has answered so far.
async fn appends_answered(cluster: &Cluster, id: u64) -> f64 {
    let text = cluster.metrics(id).await;
    sample(
        &text,
        "boxoffice_grpc_requests_total",
        &[
            ("method", "boxoffice.internal.v1.RaftService/AppendEntries"),
            ("code", "OK"),
        ],
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_reaches_the_followers_without_a_message_of_its_own() {
    // openraft follows every commit with a message that only moves the
    // followers' commit index; the leader holds it back (here long enough
    // that the test does not depend on how fast one booking follows
    // another) and the next entry carries the commit instead.
    const BOOKINGS: u32 = 40;
    let tuning = RaftTuning {
        commit_only_delay_ms: 80,
        ..RaftTuning::default()
    };
    let cluster = Cluster::start(3, tuning).await;
    let admin = cluster.client("admin").await;
    admin
        .create_show("c", "Commits", 100, 100, FAR_FUTURE_MS)
        .await
        .expect("create show");
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");
    let term = cluster.wait_converged(&[1, 2, 3], 1).await.term;
    let before = appends_answered(&cluster, follower).await;
    let began = Instant::now();
    let fan = cluster.client("fan").await;
    for seat in 1..=BOOKINGS {
        fan.book("c", &[seat]).await.expect("book");
    }
    let elapsed = began.elapsed();
    let appends = appends_answered(&cluster, follower).await - before;
    // One message per booking, and a heartbeat now and then (each held
    // back too, so at most one per heartbeat period). Sent at once, the
    // commit-only messages alone would make it twice the bookings.
    let heartbeats = elapsed.as_millis() as f64 / 100.0 + 2.0;
    assert!(
        appends <= f64::from(BOOKINGS) * 1.25 + heartbeats,
        "{appends} AppendEntries for {BOOKINGS} bookings in {elapsed:?}"
    );
    // The last commit still reaches every follower: the held-back message
    // goes out when no entry follows.
    let status = cluster
        .wait_for("the leader's status", Duration::from_secs(10), |_| true)
        .await;
    let last = node(&status, leader).expect("the leader").applied_index;
    let after = cluster.wait_converged(&[1, 2, 3], last).await;
    // And the followers heard from the leader often enough: no election.
    assert_eq!((after.leader_id, after.term), (leader, term));
    let booked = booked_seats(&cluster, follower, "c", true).await;
    assert_eq!(booked.len(), BOOKINGS as usize);
}
