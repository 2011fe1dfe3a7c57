//! A Raft node: openraft wired to the redb store, the gRPC network, the
//! proposer and the read-index coalescers, with the client paths that make
//! any node answer any call.
//!
//! - Writes: [`RaftNode::propose`] goes to the local proposer on the leader,
//!   and from a follower to the forwarder, which batches commands into
//!   internal `Propose` RPCs to the leader's proposer. While no leader is known it waits, up to
//!   [`PROPOSE_TIMEOUT`]. A command may be retried after a lost reply: the
//!   application deduplicates by request id.
//! - Linearizable reads: [`RaftNode::read_barrier`] obtains a read index
//!   from the leader (a heartbeat round to a quorum, coalesced) and waits
//!   until the local state machine has applied it. Then any local read
//!   reflects every write acknowledged before the barrier began.
//! - Status (this node's, every member's, a digest of the applied state)
//!   and the role-change log live in `node/status.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use boxoffice_proto::internal::v1::{ChangeMembershipRequest, ReadIndexRequest};
use openraft::error::{ChangeMembershipError, ClientWriteError, InitializeError, RaftError};
use openraft::{ChangeMembers, SnapshotPolicy};
use tokio::time::{Instant, timeout};
use tracing::{info, warn};

use crate::failfast::LeaderWatch;
use crate::log_store::LogStore;
use crate::network::{Channels, Network};
use crate::proposer::{self, ProposeError, WriteBatcher};
mod status;

use crate::read_index::ReadIndexCoalescer;
use crate::splitvote::{self, VoteAnswers};
use crate::state_machine::{Application, StateHandle, StateMachineStore};
use crate::types::{LogId, Node, NodeId, Raft};

/// How long a write waits for a leader before failing with UNAVAILABLE.
pub const PROPOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read waits for a read index before failing.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of a forwarded membership change (a new node may have a large
/// snapshot to receive before it becomes a voter).
const MEMBERSHIP_RPC_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between attempts while no leader is known.
const RETRY_BACKOFF: Duration = Duration::from_millis(20);

/// Raft settings of one node.
#[derive(Clone, Debug)]
pub struct RaftSettings {
    /// This node's id (not 0).
    pub id: NodeId,
    /// The address peers and clients reach this node at.
    pub addr: String,
    /// Where `log.redb`, `log.wal/` and `sm.redb` live.
    pub data_dir: PathBuf,
    /// Leader heartbeat period, ms.
    pub heartbeat_ms: u64,
    /// How long a message to a follower that only moves its commit index
    /// is held back ([`crate::network::PeerClient`]), ms; 0: never.
    pub commit_only_delay_ms: u64,
    /// Lower bound of the randomised election timeout, ms.
    pub election_timeout_min_ms: u64,
    /// Upper bound of the randomised election timeout, ms.
    pub election_timeout_max_ms: u64,
    /// Take a snapshot (and compact the log) after this many entries.
    pub snapshot_every_entries: u64,
    /// Entries kept in the log behind a snapshot, for slightly lagging followers.
    pub keep_entries_after_snapshot: u64,
    /// Members to form a new cluster with (id → address), this node
    /// included. Empty: join an existing cluster through `add-node`.
    pub initial_members: BTreeMap<NodeId, String>,
    /// Peers to dial at another address than the one they advertise
    /// (fault-injection proxies); empty in production.
    pub dial: BTreeMap<NodeId, String>,
    /// This node's certificate (`node-<id>`) and the cluster CA, for the
    /// mutual TLS between peers.
    pub tls: boxoffice_tls::Tls,
}

/// Why a client request could not be served; every case is safe to retry.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    /// No leader could be reached before the deadline.
    #[error("no leader reachable: {0}")]
    NoLeader(String),
    /// The node is shutting down or Raft failed.
    #[error("raft unavailable: {0}")]
    Raft(String),
}

/// Why a Raft node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("cannot create {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The Raft settings are inconsistent.
    #[error("{0}")]
    Config(#[from] openraft::ConfigError),
    /// The log or the state machine store could not be opened.
    #[error("{0}")]
    Storage(#[from] crate::types::StorageError),
    /// openraft failed to start.
    #[error("{0}")]
    Raft(#[from] openraft::error::Fatal<NodeId>),
    /// A new cluster could not be initialised.
    #[error("initialize: {0}")]
    Initialize(#[from] RaftError<NodeId, InitializeError<NodeId, Node>>),
}

/// Why no read index was obtained; every case may be retried.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadIndexError {
    /// No leader is known to ask.
    #[error("no leader known")]
    NoLeader,
    /// No leader was elected yet.
    #[error("no leader elected yet")]
    NoLeaderYet,
    /// The node is stopping.
    #[error("node stopping")]
    Stopping,
    /// The round did not end before the caller's deadline.
    #[error("read index timed out")]
    TimedOut,
    /// This node as leader could not confirm its leadership.
    #[error("{0}")]
    Leader(String),
    /// The leader could not be reached or refused; its message.
    #[error("{0}")]
    Remote(String),
}

/// A membership change failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MembershipError {
    /// The request is malformed or impossible.
    #[error("{0}")]
    Invalid(String),
    /// No leader, or it failed mid-way.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// A running Raft node over application `A`.
pub struct RaftNode<A: Application> {
    id: NodeId,
    addr: String,
    raft: Raft,
    state: StateHandle<A>,
    channels: Channels,
    /// Batches commands into log entries (used while leader).
    proposer: WriteBatcher,
    /// Batches commands into `Propose` RPCs to the leader (used while follower).
    forwarder: WriteBatcher,
    /// Read index from this node as leader.
    leader_read: ReadIndexCoalescer<Result<u64, ReadIndexError>>,
    /// Read index fetched from the current leader.
    remote_read: ReadIndexCoalescer<Result<u64, ReadIndexError>>,
    committed: Arc<Mutex<Option<LogId>>>,
    /// What became of this node's vote requests (see [`splitvote`]).
    answers: VoteAnswers,
}

fn openraft_config(s: &RaftSettings) -> Result<openraft::Config, openraft::ConfigError> {
    let config = openraft::Config {
        cluster_name: "boxoffice".into(),
        heartbeat_interval: s.heartbeat_ms,
        election_timeout_min: s.election_timeout_min_ms,
        election_timeout_max: s.election_timeout_max_ms,
        install_snapshot_timeout: 10_000,
        max_payload_entries: 512,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(s.snapshot_every_entries),
        max_in_snapshot_log_to_keep: s.keep_entries_after_snapshot,
        // Purge as soon as a snapshot allows: purging happens once per
        // snapshot anyway, and a lagging follower must not find entries the
        // snapshot already covers.
        purge_batch_size: 1,
        ..Default::default()
    };
    config.validate()
}

/// The lowest read index a leader that came back from a restart may give.
///
/// openraft 0.9 lets a node that restarts with a committed vote for itself
/// lead again at once, in the same term, without a new blank entry. Its
/// read index (`get_read_log_id`: the greater of its committed index and
/// its blank entry's) is then what it last saved as committed, which may
/// lag what was committed and acknowledged before the crash: a read would
/// miss acknowledged writes (the full-restart test caught it). Until its
/// vote changes, such a leader's read index is at least the last index of
/// the log it started with, which holds every entry it committed in that
/// term. Any later leadership starts with a blank entry past it.
#[derive(Clone, Copy)]
struct StartupFloor {
    vote: Option<openraft::Vote<NodeId>>,
    last_index: u64,
}

impl StartupFloor {
    async fn read(log: &mut LogStore) -> Result<Self, crate::types::StorageError> {
        use openraft::storage::RaftLogStorage;
        let vote = log.read_vote().await?;
        let last_index = log
            .get_log_state()
            .await?
            .last_log_id
            .map_or(0, |id| id.index);
        Ok(Self { vote, last_index })
    }

    /// The floor for a read index now: the startup log's last index while
    /// the vote is the one this process started with, else 0.
    fn floor(&self, raft: &Raft) -> u64 {
        let vote = raft.metrics().borrow().vote;
        if self.vote == Some(vote) {
            self.last_index
        } else {
            0
        }
    }
}

impl<A: Application> RaftNode<A> {
    /// Opens the stores, starts Raft and, for a new cluster, initialises it.
    pub async fn start(settings: RaftSettings) -> Result<Arc<Self>, StartError> {
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| StartError::DataDir {
            path: settings.data_dir.clone(),
            source,
        })?;
        let config = Arc::new(openraft_config(&settings)?);
        let sm = StateMachineStore::<A>::open(&settings.data_dir.join("sm.redb"))?;
        let mut log = LogStore::open(&settings.data_dir.join("log.redb"))?
            .guard_purges_with(sm.snapshot_watermark());
        let committed = log.committed();
        let startup = StartupFloor::read(&mut log).await?;
        let state = sm.handle();
        let channels = Channels::new(settings.tls.clone(), settings.dial.clone());
        let answers = VoteAnswers::default();
        let network = Network::new(settings.id, channels.clone(), answers.clone())
            .holding_commit_only(Duration::from_millis(settings.commit_only_delay_ms));
        let peer_reports = network.reports().clone();
        let raft = Raft::new(settings.id, config, network, log, sm).await?;

        if !settings.initial_members.is_empty() {
            let members: BTreeMap<NodeId, Node> = settings
                .initial_members
                .iter()
                .map(|(id, addr)| (*id, Node { addr: addr.clone() }))
                .collect();
            // Every initial member calls this with the same membership, which
            // openraft documents as safe; a formed cluster answers NotAllowed.
            match raft.initialize(members).await {
                Ok(()) => info!(node = settings.id, "initialised a new cluster"),
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(e.into()),
            }
        }

        let leader_read = {
            let raft = raft.clone();
            ReadIndexCoalescer::spawn(move || {
                let raft = raft.clone();
                async move {
                    match raft.get_read_log_id().await {
                        Ok((read_id, _)) => {
                            let index = read_id.map_or(0, |id| id.index);
                            Ok(index.max(startup.floor(&raft)))
                        }
                        Err(e) => Err(ReadIndexError::Leader(e.to_string())),
                    }
                }
            })
        };
        let watch = LeaderWatch::new(raft.clone());
        let remote_read = {
            let (raft, channels, watch) = (raft.clone(), channels.clone(), watch.clone());
            ReadIndexCoalescer::spawn(move || {
                let (raft, channels, watch) = (raft.clone(), channels.clone(), watch.clone());
                async move {
                    let (leader, addr) = leader_of(&raft).ok_or(ReadIndexError::NoLeader)?;
                    let mut client = channels
                        .raft_client(leader, &addr)
                        .map_err(|e| ReadIndexError::Remote(e.to_string()))?;
                    let mut req = tonic::Request::new(ReadIndexRequest {});
                    req.set_timeout(READ_TIMEOUT);
                    let resp = client.read_index(req).await.map_err(|s| {
                        watch.call_failed(leader, &s);
                        ReadIndexError::Remote(s.message().to_string())
                    })?;
                    Ok(resp.into_inner().index)
                }
            })
        };

        status::spawn_role_logger(raft.clone());
        peer_reports.spawn_leader_watch(raft.clone());
        // The pause covers a vote round and the skew between two followers
        // noticing a dead leader (their probes run every heartbeat), and is
        // short against an election timeout.
        splitvote::spawn(
            raft.clone(),
            answers.clone(),
            Duration::from_millis(settings.heartbeat_ms),
        );
        watch.spawn_probe(
            channels.clone(),
            Duration::from_millis(settings.heartbeat_ms),
        );
        let proposer = proposer::proposer(raft.clone());
        let forwarder = proposer::forwarder(raft.clone(), channels.clone(), watch);
        Ok(Arc::new(Self {
            id: settings.id,
            addr: settings.addr,
            raft,
            state,
            channels,
            proposer,
            forwarder,
            leader_read,
            remote_read,
            committed,
            answers,
        }))
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The leader this node knows of, with its peer address, when that is
    /// another node.
    pub fn leader_elsewhere(&self) -> Option<(NodeId, String)> {
        leader_of(&self.raft).filter(|(leader, _)| *leader != self.id)
    }

    /// The cached mutual-TLS channel to peer `id` at `addr` (the one Raft
    /// replication and forwarding use), for the application's own
    /// node-to-node services.
    pub fn peer_channel(
        &self,
        id: NodeId,
        addr: &str,
    ) -> Result<tonic::transport::Channel, tonic::transport::Error> {
        self.channels.get(id, addr)
    }

    /// Whether `id` is a member of the cluster as this node knows it (or
    /// the node has no membership yet, before its first start): who may
    /// call the peer services.
    pub fn is_member(&self, id: NodeId) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let membership = metrics.membership_config.membership();
        membership.get_node(&id).is_some() || membership.nodes().next().is_none()
    }

    /// Whether `id` is a member of the cluster as this node knows it,
    /// strictly (false before the node has a membership).
    pub fn is_current_member(&self, id: NodeId) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics
            .membership_config
            .membership()
            .get_node(&id)
            .is_some()
    }

    /// Where the Raft service reports the votes this node grants.
    pub(crate) fn vote_answers(&self) -> &VoteAnswers {
        &self.answers
    }

    /// The openraft handle.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// Read access to the applied state.
    pub fn state(&self) -> &StateHandle<A> {
        &self.state
    }

    /// Stops Raft.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            warn!(error = %e, "raft shutdown failed");
        }
    }

    /// Proposes one encoded command from any node and returns its encoded
    /// outcome once applied.
    pub async fn propose(&self, command: Vec<u8>) -> Result<Vec<u8>, Unavailable> {
        let deadline = Instant::now() + PROPOSE_TIMEOUT;
        loop {
            let result = match leader_of(&self.raft) {
                Some((leader, _)) if leader == self.id => match A::as_written(command.clone()) {
                    Ok(command) => self.proposer.submit(command).await,
                    Err(why) => return Err(Unavailable::Raft(format!("command refused: {why}"))),
                },
                Some(_) => self.forwarder.submit(command.clone()).await,
                None => Err(ProposeError::NotLeader(None)),
            };
            let error = match result {
                Ok(outcome) => {
                    crate::crash::point(crate::crash::AFTER_APPLY);
                    return Ok(outcome);
                }
                Err(ProposeError::NotLeader(_)) => "no leader elected yet".to_string(),
                Err(ProposeError::Failed(e)) => e,
            };
            if Instant::now() >= deadline {
                return Err(Unavailable::NoLeader(error));
            }
            self.wait_for_change(RETRY_BACKOFF).await;
        }
    }

    /// Proposes commands that a follower forwarded. Never forwards again:
    /// if leadership moved, the follower retries with the new leader.
    pub async fn propose_local(
        &self,
        commands: Vec<Vec<u8>>,
    ) -> Result<Vec<Vec<u8>>, ProposeError> {
        let futures = commands.into_iter().map(|c| async move {
            match A::as_written(c) {
                Ok(c) => self.proposer.submit(c).await,
                Err(why) => Err(ProposeError::Failed(format!("command refused: {why}"))),
            }
        });
        futures::future::join_all(futures)
            .await
            .into_iter()
            .collect()
    }

    /// Waits until the metrics change or `max` elapses.
    async fn wait_for_change(&self, max: Duration) {
        let mut rx = self.raft.metrics();
        // A fresh receiver has not seen the current value: mark it seen, or
        // `changed` would return at once and the caller would spin.
        rx.borrow_and_update();
        if let Ok(Err(_)) = timeout(max, rx.changed()).await {
            // Raft stopped: no change will ever come.
            tokio::time::sleep(max).await;
        }
    }

    /// The read index from this node as leader (coalesced). Used by the
    /// internal `ReadIndex` RPC.
    pub async fn leader_read_index(&self) -> Result<u64, ReadIndexError> {
        self.leader_read
            .call()
            .await
            .unwrap_or(Err(ReadIndexError::Stopping))
    }

    /// Waits until a read of the local state is linearizable.
    pub async fn read_barrier(&self) -> Result<(), Unavailable> {
        let deadline = Instant::now() + READ_TIMEOUT;
        let mut last_error = ReadIndexError::NoLeaderYet;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let round = async {
                match leader_of(&self.raft) {
                    Some((leader, _)) if leader == self.id => Some(self.leader_read_index().await),
                    Some(_) => Some(
                        self.remote_read
                            .call()
                            .await
                            .unwrap_or(Err(ReadIndexError::Stopping)),
                    ),
                    None => None,
                }
            };
            // A round already in flight when we arrived may take long: the
            // caller's deadline bounds the whole wait, not each round.
            let index = timeout(left, round)
                .await
                .unwrap_or(Some(Err(ReadIndexError::TimedOut)));
            match index {
                Some(Ok(index)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    return self
                        .raft
                        .wait(Some(left))
                        .applied_index_at_least(Some(index), "read barrier")
                        .await
                        .map(|_| ())
                        .map_err(|e| {
                            Unavailable::Raft(format!("waiting to apply index {index}: {e}"))
                        });
                }
                Some(Err(e)) => last_error = e,
                None => {}
            }
            if Instant::now() >= deadline {
                return Err(Unavailable::NoLeader(last_error.to_string()));
            }
            self.wait_for_change(RETRY_BACKOFF).await;
        }
    }

    /// Adds (`add`) or removes a voter, from any node. Returns once the
    /// change is committed and this node's own view reflects it, so a status
    /// read right after shows it.
    pub async fn change_membership(
        &self,
        add: bool,
        node_id: NodeId,
        addr: String,
    ) -> Result<(), MembershipError> {
        self.change_membership_anywhere(add, node_id, addr).await?;
        if !add && node_id == self.id {
            // A removed node may never hear of its own removal.
            return Ok(());
        }
        let reflected = self
            .raft
            .wait(Some(PROPOSE_TIMEOUT))
            .metrics(
                |m| {
                    let membership = m.membership_config.membership();
                    let present = membership.get_node(&node_id).is_some();
                    let voter = membership.voter_ids().any(|id| id == node_id);
                    if add { voter } else { !present }
                },
                "membership change applied locally",
            )
            .await;
        reflected
            .map(drop)
            .map_err(|e| Unavailable::Raft(e.to_string()).into())
    }

    async fn change_membership_anywhere(
        &self,
        add: bool,
        node_id: NodeId,
        addr: String,
    ) -> Result<(), MembershipError> {
        if node_id == 0 {
            return Err(MembershipError::Invalid("node id must not be 0".into()));
        }
        let deadline = Instant::now() + PROPOSE_TIMEOUT;
        loop {
            match leader_of(&self.raft) {
                Some((leader, _)) if leader == self.id => {
                    return self.change_membership_local(add, node_id, addr).await;
                }
                Some((leader, leader_addr)) => {
                    let mut client = self
                        .channels
                        .raft_client(leader, &leader_addr)
                        .map_err(|e| Unavailable::Raft(e.to_string()))?;
                    let mut req = tonic::Request::new(ChangeMembershipRequest {
                        add,
                        node_id,
                        addr: addr.clone(),
                    });
                    req.set_timeout(MEMBERSHIP_RPC_TIMEOUT);
                    return match client.change_membership(req).await {
                        Ok(_) => Ok(()),
                        Err(s) if s.code() == tonic::Code::InvalidArgument => {
                            Err(MembershipError::Invalid(s.message().to_string()))
                        }
                        Err(s) => Err(Unavailable::Raft(s.message().to_string()).into()),
                    };
                }
                None if Instant::now() >= deadline => {
                    return Err(Unavailable::NoLeader("no leader elected".into()).into());
                }
                None => self.wait_for_change(RETRY_BACKOFF).await,
            }
        }
    }

    /// Runs a membership change on this node, which must be the leader.
    pub async fn change_membership_local(
        &self,
        add: bool,
        node_id: NodeId,
        addr: String,
    ) -> Result<(), MembershipError> {
        let membership = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let invalid = |m: String| Err(MembershipError::Invalid(m));
        let unavailable = |e: String| MembershipError::Unavailable(Unavailable::Raft(e));
        let only = BTreeSet::from([node_id]);
        if add {
            if !is_host_port(&addr) {
                return invalid(format!("address {addr:?} is not host:port"));
            }
            if let Some((other, _)) = membership
                .nodes()
                .find(|(id, n)| **id != node_id && n.addr == addr)
            {
                return invalid(format!("address {addr} is already used by node {other}"));
            }
            match membership.get_node(&node_id) {
                Some(n) if n.addr != addr => {
                    return invalid(format!("node {node_id} is already a member, at {}", n.addr));
                }
                // Already done: this is a retry of a request that succeeded.
                Some(_) if voters.contains(&node_id) => return Ok(()),
                _ => {}
            }
            // Also on a retry that finds it a learner: it may have been
            // replaced since.
            self.check_reads_format(node_id, &addr).await?;
            info!(node = node_id, %addr, "adding learner; it catches up before becoming a voter");
            self.raft
                .add_learner(node_id, Node { addr }, true)
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            self.raft
                .change_membership(ChangeMembers::AddVoterIds(only), false)
                .await
                .map_err(|e| membership_error(e, unavailable))?;
            info!(node = node_id, "node is now a voter");
        } else {
            if membership.get_node(&node_id).is_none() {
                // Already gone: removing is idempotent, so retries are safe.
                return Ok(());
            }
            if voters.len() == 1 && voters.contains(&node_id) {
                return invalid("cannot remove the last voter".into());
            }
            let change = if voters.contains(&node_id) {
                ChangeMembers::RemoveVoters(only)
            } else {
                ChangeMembers::RemoveNodes(only)
            };
            self.raft
                .change_membership(change, false)
                .await
                .map_err(|e| membership_error(e, unavailable))?;
            info!(node = node_id, "node removed from the cluster");
        }
        Ok(())
    }
}

fn membership_error(
    e: RaftError<NodeId, ClientWriteError<NodeId, Node>>,
    unavailable: impl Fn(String) -> MembershipError,
) -> MembershipError {
    match e {
        RaftError::APIError(ClientWriteError::ChangeMembershipError(
            e @ (ChangeMembershipError::LearnerNotFound(_)
            | ChangeMembershipError::EmptyMembership(_)),
        )) => MembershipError::Invalid(e.to_string()),
        other => unavailable(other.to_string()),
    }
}

/// The leader this node knows of, with its address.
pub(crate) fn leader_of(raft: &Raft) -> Option<(NodeId, String)> {
    let m = raft.metrics();
    let m = m.borrow();
    let leader = m.current_leader?;
    let addr = m
        .membership_config
        .membership()
        .get_node(&leader)?
        .addr
        .clone();
    Some((leader, addr))
}

/// `host:port` with a non-empty host and a non-zero numeric port.
pub fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0),
        None => false,
    }
}
