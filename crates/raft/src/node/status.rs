//! What a node tells about itself and the cluster: its own status, every
//! member's (asked in parallel), a digest of its applied state for
//! divergence checks, and a log line at each change of role.

use std::collections::BTreeSet;
use std::time::Duration;

use boxoffice_proto::internal::v1::NodeMetricsRequest;
use boxoffice_proto::v1::{GetStatusResponse, NodeRole, NodeStatus};
use openraft::ServerState;
use tracing::info;

use super::RaftNode;
use crate::state_machine::Application;
use crate::types::{NodeId, Raft};
use crate::{MembershipError, Unavailable};

/// Timeout of one status query to a peer, once connected.
const STATUS_RPC_TIMEOUT: Duration = Duration::from_millis(800);
/// Timeout of one status query to a peer, connecting included.
const PEER_STATUS_TIMEOUT: Duration = Duration::from_millis(1500);

/// How long the leader keeps asking a node it is to add which formats it
/// reads (it may still be starting), and how long it waits between tries.
const ADD_CHECK_TIMEOUT: Duration = Duration::from_secs(10);
const ADD_CHECK_BACKOFF: Duration = Duration::from_millis(200);

impl<A: Application> RaftNode<A> {
    /// The last applied index and a SHA-256 (hex) of the applied state at
    /// it, taken under one read lock: replicas at the same index must agree.
    pub fn state_digest(&self) -> Result<(u64, String), A::Error> {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        let applied = self.state.read();
        applied.app.snapshot(&mut hasher)?;
        let index = applied.last_applied.as_ref().map_or(0, |id| id.index);
        drop(applied);
        let digest = hasher.finalize();
        Ok((index, digest.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// This node's own view of itself.
    pub fn local_status(&self) -> NodeStatus {
        let m = self.raft.metrics().borrow().clone();
        let voter = m
            .membership_config
            .membership()
            .voter_ids()
            .any(|id| id == self.id);
        let formats = A::formats();
        NodeStatus {
            node_id: self.id,
            addr: self.addr.clone(),
            reachable: true,
            error: String::new(),
            role: role_of(m.state) as i32,
            term: m.current_term,
            leader_id: m.current_leader.unwrap_or(0),
            last_log_index: m.last_log_index.unwrap_or(0),
            commit_index: self
                .committed
                .lock()
                .expect("committed lock poisoned")
                .map_or(0, |id| id.index),
            applied_index: m.last_applied.map_or(0, |id| id.index),
            snapshot_index: m.snapshot.map_or(0, |id| id.index),
            purged_index: m.purged.map_or(0, |id| id.index),
            voter,
            reads_format: u32::from(formats.reads),
            writes_format: u32::from(formats.writes),
        }
    }

    /// Refuses to add node `id` (at `addr`) if it does not read the format
    /// version this node writes commands in now, is configured to, or has
    /// applied since it started ([`Application::formats`]; the log may hold
    /// entries of it): it would stop applying at the first such entry it is
    /// sent. Nothing is asked while all are version 1 or less, which every
    /// build reads; a node that does not answer yet (still starting) is
    /// asked again until [`ADD_CHECK_TIMEOUT`].
    pub(crate) async fn check_reads_format(
        &self,
        id: NodeId,
        addr: &str,
    ) -> Result<(), MembershipError> {
        let formats = A::formats();
        let writing = formats.writes.max(formats.configured).max(formats.applied);
        if writing <= 1 {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + ADD_CHECK_TIMEOUT;
        let reads = loop {
            match self.peer_status(id, addr).await {
                Ok(status) => break status.reads_format,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(Unavailable::Raft(format!(
                        "could not ask node {id} at {addr} which log formats it reads: {e}"
                    ))
                    .into());
                }
                Err(_) => tokio::time::sleep(ADD_CHECK_BACKOFF).await,
            }
        };
        if reads < u32::from(writing) {
            return Err(MembershipError::Invalid(format!(
                "node {id} reads log formats up to version {}, but the cluster writes version \
                 {writing}: start it on a build that reads {writing}",
                if reads == 0 { 1 } else { reads }
            )));
        }
        Ok(())
    }

    /// Node `id`'s own view of itself, asked over the peer port (whose TLS
    /// check makes sure the answer comes from node `id`); why not, if it
    /// did not answer.
    ///
    /// The whole call, connection and handshake included, is bounded by
    /// [`PEER_STATUS_TIMEOUT`], so a peer that accepts and then says nothing
    /// holds up neither the cluster status nor the format gate. The answer
    /// is filed under `id`, the node the TLS check proved, whatever id it
    /// gives itself.
    async fn peer_status(&self, id: NodeId, addr: &str) -> Result<NodeStatus, String> {
        let ask = async {
            let mut client = self
                .channels
                .raft_client(id, addr)
                .map_err(|e| e.to_string())?;
            let mut req = tonic::Request::new(NodeMetricsRequest::default());
            req.set_timeout(STATUS_RPC_TIMEOUT);
            let reply = client
                .node_metrics(req)
                .await
                .map_err(|s| s.message().to_string())?;
            reply
                .into_inner()
                .status
                .ok_or_else(|| "empty reply".to_owned())
        };
        let mut status = tokio::time::timeout(PEER_STATUS_TIMEOUT, ask)
            .await
            .map_err(|_| format!("no answer within {PEER_STATUS_TIMEOUT:?}"))??;
        status.node_id = id;
        Ok(status)
    }

    /// Every member's status, asked in parallel.
    pub async fn cluster_status(&self) -> GetStatusResponse {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership().clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let queries = membership.nodes().map(|(id, node)| {
            let (id, addr) = (*id, node.addr.clone());
            let voter = voters.contains(&id);
            async move {
                if id == self.id {
                    return self.local_status();
                }
                let unreachable = |error: String| NodeStatus {
                    node_id: id,
                    addr: addr.clone(),
                    reachable: false,
                    error,
                    voter,
                    ..Default::default()
                };
                match self.peer_status(id, &addr).await {
                    Ok(mut status) => {
                        // Whether it votes is the membership's say, as this
                        // node knows it: a node just added may not have
                        // caught up with its own promotion yet.
                        status.voter = voter;
                        status
                    }
                    Err(e) => unreachable(e),
                }
            }
        });
        let nodes = futures::future::join_all(queries).await;
        GetStatusResponse {
            leader_id: m.current_leader.unwrap_or(0),
            term: m.current_term,
            nodes,
            answered_by: self.id,
        }
    }
}

fn role_of(state: ServerState) -> NodeRole {
    match state {
        ServerState::Leader => NodeRole::Leader,
        ServerState::Follower => NodeRole::Follower,
        ServerState::Candidate => NodeRole::Candidate,
        ServerState::Learner => NodeRole::Learner,
        ServerState::Shutdown => NodeRole::Shutdown,
    }
}

/// Logs one line whenever this node's role changes, with the likely reason.
pub(super) fn spawn_role_logger(raft: Raft) {
    tokio::spawn(async move {
        let mut rx = raft.metrics();
        let (mut state, mut leader) = {
            let m = rx.borrow();
            (m.state, m.current_leader)
        };
        while rx.changed().await.is_ok() {
            let (new_state, new_leader, term, id) = {
                let m = rx.borrow();
                (m.state, m.current_leader, m.current_term, m.id)
            };
            if new_state != state || (new_state == ServerState::Follower && new_leader != leader) {
                let why = match (state, new_state) {
                    (_, ServerState::Leader) => {
                        "won the election with a quorum of votes".to_string()
                    }
                    (ServerState::Leader, ServerState::Follower) => {
                        format!("stepped down: saw term {term} from another node")
                    }
                    (_, ServerState::Candidate) => {
                        "no heartbeat from a leader within the election timeout".into()
                    }
                    (_, ServerState::Follower) => match new_leader {
                        Some(l) => format!("node {l} is leader of term {term}"),
                        None => format!("term {term} has no leader yet"),
                    },
                    (_, ServerState::Learner) => "not a voter in the current membership".into(),
                    (_, ServerState::Shutdown) => "shutting down".into(),
                };
                info!(node = id, term, from = ?state, to = ?new_state, leader = ?new_leader, reason = %why, "role changed");
                if new_state == ServerState::Shutdown {
                    return;
                }
            }
            (state, leader) = (new_state, new_leader);
        }
    });
}
