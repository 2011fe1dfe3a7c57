//! Logs for people (issue 26): a peer that goes away is one line on the
//! nodes that miss it, a summary at most every 10 s while it stays away,
//! and one line when it is back, instead of openraft's error chains for
//! every failed RPC; a caller whose certificate is refused again and again
//! is one line, not one a call, and the count left out follows once it
//! stops.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use boxoffice_node::config::RaftTuning;
use common::Cluster;

/// How long the follower stays dead: the condition.
const DOWN_FOR: Duration = Duration::from_secs(10);
/// The most lines a surviving node may write meanwhile.
const MAX_LINES_PER_NODE: usize = 20;

/// Node `id`'s log file.
fn log_path(cluster: &Cluster, id: u64) -> PathBuf {
    cluster.dir.path().join(format!("node{id}.log"))
}

/// What node `id` has logged since byte `from` of its log.
fn logged_since(cluster: &Cluster, id: u64, from: u64) -> String {
    let text = std::fs::read(log_path(cluster, id)).expect("the node's log");
    let from = usize::try_from(from).expect("a log offset");
    String::from_utf8_lossy(&text[from.min(text.len())..]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_killed_for_10_s_costs_at_most_20_log_lines_on_the_others() {
    let cluster = Cluster::start(3, RaftTuning::default()).await;
    let leader = cluster.leader().await;
    let follower = if leader == 1 { 2 } else { 1 };
    let others: Vec<u64> = (1..=3).filter(|id| *id != follower).collect();

    // The window opens at the kill: what the others logged before (their
    // start-up) is not counted.
    let marks: BTreeMap<u64, u64> = others
        .iter()
        .map(|id| {
            let len = std::fs::metadata(log_path(&cluster, *id)).map_or(0, |m| m.len());
            (*id, len)
        })
        .collect();
    cluster.kill(follower);
    // The condition under test is a real 10 s outage.
    tokio::time::sleep(DOWN_FOR).await;
    cluster.spawn(follower);

    // The window closes once the follower has caught up and the leader has
    // said so (bounded: the count below is the verdict either way).
    cluster.wait_converged(&[1, 2, 3], 1).await;
    let back = format!("peer {follower} reachable again");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !logged_since(&cluster, leader, marks[&leader]).contains(&back)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let logged: BTreeMap<u64, String> = marks
        .iter()
        .map(|(id, mark)| (*id, logged_since(&cluster, *id, *mark)))
        .collect();
    let mut total = 0;
    for (id, text) in &logged {
        let lines = text.lines().count();
        total += lines;
        let role = if *id == leader { "leader" } else { "follower" };
        println!(
            "node {id} ({role}) wrote {lines} lines while node {follower} was down for {DOWN_FOR:?}:"
        );
        for line in text.lines() {
            println!("  {line}");
        }
    }
    println!("{total} lines on the other nodes in all");
    for (id, text) in &logged {
        let lines = text.lines().count();
        assert!(
            lines <= MAX_LINES_PER_NODE,
            "node {id} wrote {lines} lines (at most {MAX_LINES_PER_NODE}) while node {follower} was down"
        );
    }

    // What the leader's lines say: the peer went, and came back.
    let leader_log = &logged[&leader];
    assert!(
        leader_log.contains(&format!("peer {follower} unreachable since")),
        "the leader said when the peer went away:\n{leader_log}"
    );
    assert!(
        leader_log.contains(&back),
        "the leader said the peer is back:\n{leader_log}"
    );
    for line in leader_log.lines() {
        assert!(
            line.len() <= 300,
            "one short line per event, not an error chain: {line}"
        );
    }
}

/// A service holding a certificate of the cluster's CA but not a member's
/// (here the gateway's) calls a node's peer service 200 times: every call
/// is refused, and the node says so once, not 200 times; once the caller
/// has stopped, the node's sweep writes one more line with the 199 left
/// out (10 to 20 s later).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_caller_repeating_itself_is_one_line() {
    use boxoffice_proto::internal::v1::NodeMetricsRequest;
    use boxoffice_proto::internal::v1::raft_service_client::RaftServiceClient;
    use boxoffice_tls::Identity;

    let cluster = Cluster::start(1, RaftTuning::default()).await;
    common::ensure_certificates(cluster.dir.path(), &[Identity::Gateway]);
    let mark = std::fs::metadata(log_path(&cluster, 1)).map_or(0, |m| m.len());
    let channel =
        boxoffice_tls::TlsFiles::in_dir(&cluster.dir.path().join("certs"), Identity::Gateway)
            .load()
            .expect("the gateway's certificate")
            .endpoint(&cluster.peer_addrs[&1], &Identity::Node(1).dns_name())
            .expect("an endpoint")
            .connect_lazy();
    let mut peer = RaftServiceClient::new(channel);
    for _ in 0..200 {
        let refused = peer
            .node_metrics(NodeMetricsRequest::default())
            .await
            .expect_err("the gateway may not read a node's Raft metrics");
        assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    }
    let logged = logged_since(&cluster, 1, mark);
    let lines = logged.matches("refused a peer call").count();
    assert_eq!(lines, 1, "{logged}");
    assert!(
        logged.contains("peer=gateway"),
        "the line names the caller by its certificate: {logged}"
    );
    let deadline = Instant::now() + 3 * boxoffice_tls::refusals::EVERY;
    while !logged_since(&cluster, 1, mark).contains("left_out=199") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logged = logged_since(&cluster, 1, mark);
    assert_eq!(
        logged.matches("refused a peer call").count(),
        2,
        "one line at once, one with the count once the caller stopped: {logged}"
    );
    assert!(logged.contains("left_out=199"), "{logged}");
}
