//! Raft RPCs over gRPC, client side.
//!
//! openraft asks [`RaftNetworkFactory::new_client`] for a client before
//! every vote round, every replication stream and every linearizable read,
//! so it must be cheap: it never connects. Channels are created lazily, one
//! per peer, and cached by node id; tonic reconnects a broken channel by
//! itself. A peer whose address changed gets a new channel.
//!
//! Payloads are openraft's serde types in postcard; a reply carries the
//! remote's `Result`, so openraft's own errors (higher vote, ...) cross the
//! wire intact.
//!
//! Every channel is mutual TLS: this node presents its certificate, and
//! accepts only a server whose certificate of the cluster CA names the
//! node it meant to reach (`node-<id>.boxoffice`), whatever address it
//! dialled (a proxy, a moved node).
//!
//! Every RPC's outcome goes to [`PeerReports`], which tells the operator
//! about each peer in one line per event: `peer 2 unreachable since
//! 18:34:20 UTC, retrying` at the first failure, `peer 2 still unreachable
//! (since 18:34:20 UTC, 19 failed attempts in the last 10 s)` at most every
//! [`REPORT_EVERY`] while it lasts, `peer 2 reachable again after 12.3 s`
//! at the first answer. openraft's own lines about the same failures (an
//! error chain per failed RPC) are quiet by default
//! (`boxoffice_server::OPENRAFT_CHATTER`), so these are the record.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use boxoffice_proto::internal::v1::RaftPayload;
use boxoffice_proto::internal::v1::raft_service_client::RaftServiceClient;
use boxoffice_tls::{Identity, Tls};
use openraft::ServerState;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tracing::{info, warn};

use crate::splitvote::VoteAnswers;
use crate::types::{LogId, Node, NodeId, Raft, TypeConfig, Vote};

/// How long to wait for a TCP connection to a peer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Cached gRPC channels to peers, shared by Raft replication, write
/// forwarding and read-index requests.
#[derive(Clone)]
pub struct Channels {
    cache: Arc<Mutex<HashMap<NodeId, (String, Channel)>>>,
    /// Addresses to dial some peers at instead of their advertised ones.
    dial: Arc<BTreeMap<NodeId, String>>,
    /// This node's certificate and the cluster CA.
    tls: Tls,
}

impl Channels {
    /// Channels that present `tls`'s certificate and dial the peers in
    /// `dial` at the given addresses instead of their advertised ones (a
    /// fault-injection proxy per link).
    pub fn new(tls: Tls, dial: BTreeMap<NodeId, String>) -> Self {
        Self {
            cache: Arc::default(),
            dial: Arc::new(dial),
            tls,
        }
    }

    /// Where to connect to reach `id`, advertised at `addr`.
    pub fn dial_addr<'a>(&'a self, id: NodeId, addr: &'a str) -> &'a str {
        self.dial.get(&id).map_or(addr, String::as_str)
    }

    /// The channel to `id` at `addr`, created lazily on first use.
    pub fn get(&self, id: NodeId, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let addr = self.dial_addr(id, addr);
        let mut cache = self.cache.lock().expect("channel cache lock poisoned");
        if let Some((cached_addr, channel)) = cache.get(&id)
            && cached_addr == addr
        {
            return Ok(channel.clone());
        }
        let channel = self
            .tls
            .endpoint(addr, &Identity::Node(id).dns_name())?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .connect_lazy();
        cache.insert(id, (addr.to_owned(), channel.clone()));
        Ok(channel)
    }

    /// A Raft-service client for `id` at `addr`.
    pub fn raft_client(
        &self,
        id: NodeId,
        addr: &str,
    ) -> Result<RaftServiceClient<Channel>, tonic::transport::Error> {
        Ok(RaftServiceClient::new(self.get(id, addr)?)
            .max_decoding_message_size(crate::server::MAX_PEER_MESSAGE_BYTES)
            .max_encoding_message_size(crate::server::MAX_PEER_MESSAGE_BYTES))
    }
}

/// The [`RaftNetworkFactory`] handed to openraft.
#[derive(Clone)]
pub struct Network {
    channels: Channels,
    answers: VoteAnswers,
    reports: PeerReports,
    /// How long a commit-only message is held back (zero: never).
    commit_only_delay: Duration,
}

impl Network {
    /// Node `node`'s factory, sharing `channels` with the rest of the
    /// node, reporting the answers to its vote requests to `answers`.
    pub fn new(node: NodeId, channels: Channels, answers: VoteAnswers) -> Self {
        Self {
            channels,
            answers,
            reports: PeerReports::new(node),
            commit_only_delay: Duration::ZERO,
        }
    }

    /// Holds a message that only moves a follower's commit index back for
    /// `delay` (see [`PeerClient::append_entries`]); zero sends each at
    /// once.
    pub fn holding_commit_only(mut self, delay: Duration) -> Self {
        self.commit_only_delay = delay;
        self
    }

    /// What this node says about its peers.
    pub fn reports(&self) -> &PeerReports {
        &self.reports
    }
}

/// A client for one peer.
#[derive(Clone)]
pub struct PeerClient {
    target: NodeId,
    addr: String,
    channels: Channels,
    answers: VoteAnswers,
    reports: PeerReports,
    /// What the peer last acknowledged through this client, for
    /// [`PeerClient::append_entries`] to tell a commit-only message from
    /// one that carries news.
    recent: Arc<Mutex<Recent>>,
    /// How long a commit-only message is held back (zero: never).
    commit_only_delay: Duration,
}

/// What one client (a replication stream's) knows of its peer.
#[derive(Default)]
struct Recent {
    /// The vote of the last `AppendEntries` the peer answered `Success` to,
    /// and the last log id that answer matched.
    acked: Option<(Vote, Option<LogId>)>,
    /// The newest commit-only message held back and not yet sent, with
    /// its number: any message sent after it carries a commit index at
    /// least as new.
    held: Option<(u64, AppendEntriesRequest<TypeConfig>)>,
    /// Commit-only messages held back so far.
    held_count: u64,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Self::Network {
        PeerClient {
            target,
            addr: node.addr.clone(),
            channels: self.channels.clone(),
            answers: self.answers.clone(),
            reports: self.reports.clone(),
            recent: Arc::default(),
            commit_only_delay: self.commit_only_delay,
        }
    }
}

/// Which RPC of the Raft service to call.
#[derive(Clone, Copy)]
enum Rpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

impl PeerClient {
    async fn call<Req, Resp, E>(
        &self,
        rpc: Rpc,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, Node, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        // openraft drops the call at its timeout: the attempt then reports
        // a failure on its own.
        let attempt = self
            .reports
            .attempt(self.target, option.soft_ttl(), option.hard_ttl());
        let data = postcard::to_allocvec(req).map_err(|e| {
            attempt.failed(Failure::failing(format!("encoding the request: {e}")));
            RPCError::Network(NetworkError::new(&e))
        })?;
        let mut client = self
            .channels
            .raft_client(self.target, &self.addr)
            .map_err(|e| {
                attempt.failed(Failure::failing(format!("its address: {e}")));
                RPCError::Unreachable(Unreachable::new(&e))
            })?;
        let mut request = tonic::Request::new(RaftPayload { data });
        request.set_timeout(option.hard_ttl());
        let reply = match rpc {
            Rpc::AppendEntries => client.append_entries(request).await,
            Rpc::Vote => client.vote(request).await,
            Rpc::InstallSnapshot => client.install_snapshot(request).await,
        }
        .map_err(|status| {
            attempt.failed(Failure::of_status(&status, option.hard_ttl()));
            status_to_rpc_error(status)
        })?;
        let result: Result<Resp, RaftError<NodeId, E>> =
            postcard::from_bytes(&reply.into_inner().data).map_err(|e| {
                attempt.failed(Failure::failing(format!("decoding the reply: {e}")));
                RPCError::Network(NetworkError::new(&e))
            })?;
        // An error of the peer's own (a higher vote, a fatal error there)
        // is an answer: the peer is reachable.
        attempt.answered();
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// The errors behind `error`, outermost first (not `error` itself).
pub fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(error.source(), |e| e.source())
}

fn status_to_rpc_error<E: std::error::Error>(status: tonic::Status) -> RPCError<NodeId, Node, E> {
    match status.code() {
        // Connection refused, reset, DNS: back off before retrying.
        tonic::Code::Unavailable | tonic::Code::Unknown => {
            RPCError::Unreachable(Unreachable::new(&status))
        }
        _ => RPCError::Network(NetworkError::new(&status)),
    }
}

impl PeerClient {
    /// Sends `rpc` and notes what the peer acknowledged (`record`), or that
    /// it did not.
    async fn send_append(
        &self,
        rpc: &AppendEntriesRequest<TypeConfig>,
        option: &RPCOption,
        record: bool,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        if record {
            // A message of the stream carries the newest commit index.
            self.lock_recent().held = None;
        }
        let result = self.call(Rpc::AppendEntries, rpc, option).await;
        let matched = match &result {
            Ok(AppendEntriesResponse::Success) => {
                Some(rpc.entries.last().map(|e| e.log_id).or(rpc.prev_log_id))
            }
            Ok(AppendEntriesResponse::PartialSuccess(m)) => Some(*m),
            _ => None,
        };
        let mut recent = self.lock_recent();
        match matched {
            Some(m) if record => recent.acked = Some((rpc.vote, m)),
            Some(_) => {}
            None => recent.acked = None,
        }
        result
    }

    fn lock_recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    /// Sends `rpc`, except a message with no entries whose
    /// `prev_log_id` the peer already acknowledged under the same vote
    /// through this client: openraft 0.9 sends one after every commit just
    /// to move the follower's commit index (and a heartbeat has the same
    /// shape). Such a message is answered `Success` at once (it is the
    /// answer the peer gave already: its log matches up to there) and
    /// sent `raft.commit_only_delay_ms` after the first such message still
    /// held (a newer one takes its place), unless the stream sent another
    /// message meanwhile, which carries a commit index at least as new. So a
    /// follower hears of a commit at most that much later, and hears from
    /// the leader as often as before.
    ///
    /// Only a replication stream's client, which has sent before, holds a
    /// message back: the leader's check before a linearizable read makes a
    /// new client for every round, so its messages always go out, and the
    /// read waits for their answers. An answer other than `Success` to a
    /// held-back message (a higher vote) clears what this client
    /// remembers, so the stream's next message (at the latest the next
    /// heartbeat) goes out and brings it.
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        if rpc.entries.is_empty() && !self.commit_only_delay.is_zero() {
            let mut recent = self.lock_recent();
            if recent.acked == Some((rpc.vote, rpc.prev_log_id)) {
                // A newer message takes the place of one still held, and
                // its time: held messages go out at least every delay.
                if let Some((_, held)) = recent.held.as_mut() {
                    *held = rpc;
                    return Ok(AppendEntriesResponse::Success);
                }
                recent.held_count += 1;
                let number = recent.held_count;
                recent.held = Some((number, rpc));
                drop(recent);
                // Sends it unless the stream sent something since (then a
                // later hold has its own task).
                let later = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(later.commit_only_delay).await;
                    let held = {
                        let mut recent = later.lock_recent();
                        match &recent.held {
                            Some((n, _)) if *n == number => recent.held.take(),
                            _ => None,
                        }
                    };
                    if let Some((_, rpc)) = held {
                        let _ = later.send_append(&rpc, &option, false).await;
                    }
                });
                return Ok(AppendEntriesResponse::Success);
            }
        }
        self.send_append(&rpc, &option, true).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(Rpc::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.answers.asking(rpc.vote.leader_id.term);
        let resp: VoteResponse<NodeId> = self.call(Rpc::Vote, &rpc, &option).await?;
        self.answers.answered(
            rpc.vote.leader_id.term,
            resp.vote_granted,
            rpc.last_log_id.as_ref(),
            resp.last_log_id.as_ref(),
        );
        Ok(resp)
    }
}

/// How often, at most, a peer that stays unreachable is reported again.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Why an RPC to a peer failed, in a few words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// No connection or no answer (as opposed to a call that got through
    /// and failed: a refused certificate, a reply that does not decode).
    unreachable: bool,
    /// The innermost error, or the status.
    cause: String,
}

impl Failure {
    fn failing(cause: String) -> Self {
        Self {
            unreachable: false,
            cause,
        }
    }

    fn timed_out(ttl: Duration) -> Self {
        Self {
            unreachable: true,
            cause: format!("no answer within {} ms", ttl.as_millis()),
        }
    }

    /// The failure `status` reports for a call with a deadline of `ttl`.
    fn of_status(status: &tonic::Status, ttl: Duration) -> Self {
        use tonic::Code;
        // The deadline passed here (a `TimeoutExpired` source) or at the
        // peer.
        if status.code() == Code::DeadlineExceeded
            || causes(status).any(|e| e.is::<tonic::TimeoutExpired>())
        {
            return Self::timed_out(ttl);
        }
        // The innermost error says what happened ("Connection refused (os
        // error 111)"); the layers around it repeat it.
        let cause = match causes(status).last() {
            Some(root) => root.to_string(),
            None => format!("{:?}: {}", status.code(), status.message()),
        };
        Self {
            unreachable: matches!(
                status.code(),
                Code::Unavailable | Code::Unknown | Code::Cancelled
            ),
            cause,
        }
    }

    fn what(&self) -> &'static str {
        if self.unreachable {
            "unreachable"
        } else {
            "failing"
        }
    }
}

/// What this node says about its peers: see the module's header.
/// Shared by every client openraft makes, so that one peer's vote,
/// replication and read-index calls make one account.
#[derive(Clone)]
pub struct PeerReports {
    /// This node.
    node: NodeId,
    peers: Arc<Mutex<HashMap<NodeId, PeerLog>>>,
}

impl PeerReports {
    /// Reports of node `node`.
    pub fn new(node: NodeId) -> Self {
        Self {
            node,
            peers: Arc::default(),
        }
    }

    /// Counts a message from a leader as an answer from it until `raft`
    /// shuts down: a leader that steps down stops calling its peers, and
    /// learns that one is back from its first message as the new leader.
    pub fn spawn_leader_watch(&self, raft: Raft) -> JoinHandle<()> {
        let reports = self.clone();
        tokio::spawn(async move {
            let mut metrics = raft.metrics();
            while metrics.changed().await.is_ok() {
                let (state, leader) = {
                    let m = metrics.borrow();
                    (m.state, m.current_leader)
                };
                if let Some(leader) = leader
                    && leader != reports.node
                    && matches!(state, ServerState::Follower | ServerState::Learner)
                {
                    reports.record(leader, Ok(()));
                }
            }
        })
    }

    /// One RPC to `peer` with a deadline of `timeout`; one dropped
    /// unfinished after `abandoned` was given up on.
    fn attempt(&self, peer: NodeId, abandoned: Duration, timeout: Duration) -> Attempt<'_> {
        Attempt {
            reports: self,
            peer,
            started: Instant::now(),
            abandoned,
            timeout,
            done: std::cell::Cell::new(false),
        }
    }

    fn record(&self, peer: NodeId, outcome: Result<(), Failure>) {
        let line = {
            let mut peers = self.peers.lock().expect("peer reports lock poisoned");
            let log = peers.entry(peer).or_default();
            match outcome {
                Ok(()) => log.answered(Instant::now()),
                Err(failure) => log.failed(Instant::now(), SystemTime::now(), failure),
            }
        };
        // Written outside the lock.
        if let Some(line) = line {
            self.write(peer, line);
        }
    }

    fn write(&self, peer: NodeId, line: Line) {
        let node = self.node;
        match line {
            Line::Down {
                since,
                failure,
                brief,
            } => {
                let brief = match brief {
                    0 => String::new(),
                    n => format!(" ({n} brief outages before it)"),
                };
                warn!(
                    node,
                    peer,
                    cause = %failure.cause,
                    "peer {peer} {} since {} UTC, retrying{brief}",
                    failure.what(),
                    time_of_day(since)
                );
            }
            Line::Still {
                since,
                failure,
                failed,
                over,
            } => warn!(
                node,
                peer,
                failed,
                cause = %failure.cause,
                "peer {peer} still {} (since {} UTC, {failed} failed attempts in the last {} s)",
                failure.what(),
                time_of_day(since),
                over.as_secs()
            ),
            Line::Back { after, failure } => {
                let again = if failure.unreachable {
                    "reachable"
                } else {
                    "answering"
                };
                info!(
                    node,
                    peer,
                    down_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
                    "peer {peer} {again} again after {:.1} s",
                    after.as_secs_f64()
                );
            }
        }
    }
}

/// One RPC to a peer. Reports its outcome; dropped without one after its
/// timeout (openraft gave up waiting), it reports a failure; dropped
/// sooner (shutdown, a finished vote round), nothing.
struct Attempt<'a> {
    reports: &'a PeerReports,
    peer: NodeId,
    started: Instant,
    /// When a drop means openraft gave up (its timeout is no shorter).
    abandoned: Duration,
    /// The call's deadline.
    timeout: Duration,
    done: std::cell::Cell<bool>,
}

impl Attempt<'_> {
    fn answered(&self) {
        self.report(Ok(()));
    }

    fn failed(&self, failure: Failure) {
        self.report(Err(failure));
    }

    fn report(&self, outcome: Result<(), Failure>) {
        if !self.done.replace(true) {
            self.reports.record(self.peer, outcome);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.started.elapsed() >= self.abandoned {
            self.failed(Failure::timed_out(self.timeout));
        }
    }
}

/// One peer's account.
#[derive(Default)]
struct PeerLog {
    /// The outage under way, if any.
    outage: Option<Outage>,
    /// When a line about this peer was last written.
    last_line: Option<Instant>,
    /// Outages that ended unreported since that line (each began within
    /// [`REPORT_EVERY`] of a line: a flapping peer).
    brief: u32,
}

/// A peer's run of failed RPCs.
struct Outage {
    /// Its first failure.
    since: Instant,
    since_wall: SystemTime,
    /// The first failure's cause, then the latest's.
    failure: Failure,
    /// Whether a line said it began.
    reported: bool,
    /// Failed attempts since the last line about it (or its start).
    failed: u32,
}

/// A line to write about a peer.
#[derive(Debug, PartialEq)]
enum Line {
    /// It stopped answering at `since`.
    Down {
        since: SystemTime,
        failure: Failure,
        /// Brief outages not reported before this one.
        brief: u32,
    },
    /// It still does not answer: `failed` attempts over `over`.
    Still {
        since: SystemTime,
        failure: Failure,
        failed: u32,
        over: Duration,
    },
    /// It answered again after `after`.
    Back { after: Duration, failure: Failure },
}

impl PeerLog {
    /// A failed attempt at `now` (`wall`: the same moment by the clock).
    fn failed(&mut self, now: Instant, wall: SystemTime, failure: Failure) -> Option<Line> {
        let outage = match &mut self.outage {
            Some(outage) => {
                outage.failed += 1;
                // The summary gives the latest cause; the wording stays the
                // first failure's.
                outage.failure.cause = failure.cause;
                outage
            }
            None => self.outage.insert(Outage {
                since: now,
                since_wall: wall,
                failure,
                reported: false,
                failed: 1,
            }),
        };
        let last_line = self.last_line;
        if last_line.is_some_and(|at| now.duration_since(at) < REPORT_EVERY) {
            return None;
        }
        let line = if outage.reported {
            Line::Still {
                since: outage.since_wall,
                failure: outage.failure.clone(),
                failed: outage.failed,
                over: last_line.map_or(Duration::ZERO, |at| now.duration_since(at)),
            }
        } else {
            outage.reported = true;
            Line::Down {
                since: outage.since_wall,
                failure: outage.failure.clone(),
                brief: std::mem::take(&mut self.brief),
            }
        };
        outage.failed = 0;
        self.last_line = Some(now);
        Some(line)
    }

    /// An answer at `now`.
    fn answered(&mut self, now: Instant) -> Option<Line> {
        let outage = self.outage.take()?;
        if !outage.reported {
            self.brief += 1;
            return None;
        }
        self.last_line = Some(now);
        Some(Line::Back {
            after: now.duration_since(outage.since),
            failure: outage.failure,
        })
    }
}

/// `at`'s time of day, UTC, as `18:34:20` (log timestamps are UTC too).
fn time_of_day(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Failure {
        Failure {
            unreachable: true,
            cause: "Connection refused (os error 111)".into(),
        }
    }

    #[test]
    fn an_outage_is_a_line_a_summary_every_10_s_and_a_line_when_it_ends() {
        let start = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(18 * 3600 + 34 * 60 + 20);
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut log = PeerLog::default();
        assert_eq!(log.answered(at(0)), None, "answers are not news");
        assert_eq!(
            log.failed(at(100), wall, refused()),
            Some(Line::Down {
                since: wall,
                failure: refused(),
                brief: 0
            })
        );
        assert_eq!(time_of_day(wall), "18:34:20");
        // A failure every 500 ms: quiet until 10 s after the first line.
        let mut lines = Vec::new();
        for i in 1..=30 {
            lines.extend(log.failed(at(100 + i * 500), wall, refused()));
        }
        assert_eq!(
            lines,
            [Line::Still {
                since: wall,
                failure: refused(),
                failed: 20,
                over: Duration::from_secs(10)
            }]
        );
        assert_eq!(
            log.answered(at(21_000)),
            Some(Line::Back {
                after: Duration::from_millis(20_900),
                failure: refused()
            })
        );
        assert_eq!(log.answered(at(21_100)), None);
    }

    #[test]
    fn a_flapping_peer_makes_at_most_a_line_and_its_end_every_10_s() {
        let start = Instant::now();
        let wall = SystemTime::UNIX_EPOCH;
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut log = PeerLog::default();
        let mut lines = Vec::new();
        // Down for 100 ms out of every 300, for 25 s.
        for cycle in 0..(25_000 / 300) {
            let t = cycle * 300;
            lines.extend(log.failed(at(t), wall, refused()));
            lines.extend(log.answered(at(t + 100)));
        }
        let downs: Vec<u32> = lines
            .iter()
            .filter_map(|l| match l {
                Line::Down { brief, .. } => Some(*brief),
                _ => None,
            })
            .collect();
        let backs = lines
            .iter()
            .filter(|l| matches!(l, Line::Back { .. }))
            .count();
        // At 0, 10.2 and 20.4 s, each ended at once, each naming the
        // brief outages since the previous line.
        assert_eq!(downs, [0, 33, 33], "{lines:#?}");
        assert_eq!(backs, 3);
    }

    #[test]
    fn failures_are_named_by_their_innermost_cause() {
        let ttl = Duration::from_millis(50);
        let timed_out =
            Failure::of_status(&tonic::Status::deadline_exceeded("Timeout expired"), ttl);
        assert_eq!(timed_out, Failure::timed_out(ttl));
        assert_eq!(timed_out.cause, "no answer within 50 ms");
        let mut status = tonic::Status::cancelled("Timeout expired");
        status.set_source(Arc::new(tonic::TimeoutExpired(())));
        assert_eq!(Failure::of_status(&status, ttl), timed_out);
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let mut status = tonic::Status::unavailable("tcp connect error");
        status.set_source(Arc::new(io));
        let refused = Failure::of_status(&status, ttl);
        assert!(refused.unreachable);
        assert_eq!(refused.cause, "connection refused");
        let denied = Failure::of_status(&tonic::Status::permission_denied("not a member"), ttl);
        assert!(!denied.unreachable);
        assert_eq!(denied.cause, "PermissionDenied: not a member");
        assert_eq!(denied.what(), "failing");
    }
}
