//! Fast failover after a leader's process dies.
//!
//! On its own, openraft 0.9 replaces a dead leader only after a follower's
//! election timeout *plus* the leader's lease (the upper election timeout),
//! because a follower that recently heard from the leader refuses to vote.
//! A follower that forwards writes or asks for read indexes learns much
//! sooner that the leader is gone: the leader's port refuses connections.
//!
//! Invariants:
//! - Only a refused connection counts as evidence. A slow, paused or
//!   partitioned leader still answers or times out; those cases are left to
//!   the election timers, so a busy leader is never deposed by this path.
//! - At most one election is triggered per term, so two followers that both
//!   notice do not keep restarting each other's candidacies.
//! - Triggering an election is always safe in Raft (votes and terms decide);
//!   this only changes when one starts, never what may be committed.
//!
//! Two followers that notice together can split the vote; the
//! [`splitvote`](crate::splitvote) breaker resolves that.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openraft::ServerState;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use tracing::info;

use crate::network::Channels;
use crate::types::{NodeId, Raft};

/// Stands this node for election when the leader's port refuses connections.
#[derive(Clone)]
pub struct LeaderWatch {
    raft: Raft,
    /// The last term in which this node triggered an election.
    triggered_in: Arc<AtomicU64>,
}

impl LeaderWatch {
    /// A watch over `raft`'s view of its leader.
    pub fn new(raft: Raft) -> Self {
        Self {
            raft,
            triggered_in: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Reports that a call to `leader` failed with `status`.
    pub fn call_failed(&self, leader: NodeId, status: &tonic::Status) {
        if connection_refused(status) {
            self.leader_gone(leader);
        }
    }

    /// Probes the leader's port every `every` while this node follows one,
    /// so that a follower with no calls to forward notices too (both
    /// followers must stand: one whose leader's lease still holds refuses
    /// its vote). A refused connect is the evidence; a slow one is not.
    pub fn spawn_probe(&self, channels: Channels, every: Duration) -> JoinHandle<()> {
        // Ends when Raft shuts down.
        let watch = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if watch.raft.metrics().borrow().state == ServerState::Shutdown {
                    return;
                }
                let Some((leader, addr)) = crate::node::leader_of(&watch.raft) else {
                    continue;
                };
                if leader == watch.raft.metrics().borrow().id {
                    continue;
                }
                if let Ok(Err(e)) = tokio::time::timeout(
                    every,
                    TcpStream::connect(channels.dial_addr(leader, &addr)),
                )
                .await
                    && e.kind() == std::io::ErrorKind::ConnectionRefused
                {
                    watch.leader_gone(leader);
                }
            }
        })
    }

    /// Stands for election unless leadership already moved on from
    /// `leader` or this node already stood in the current term.
    fn leader_gone(&self, leader: NodeId) {
        let (node, term, current) = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow();
            (m.id, m.current_term, m.current_leader)
        };
        // Leadership already moved on, or this term was already handled.
        if current != Some(leader) || self.triggered_in.fetch_max(term, Ordering::SeqCst) >= term {
            return;
        }
        info!(
            node,
            peer = leader,
            term,
            "leader {leader}'s port refuses connections: standing for election after term {term}"
        );
        let raft = self.raft.clone();
        tokio::spawn(async move {
            // Fails only when Raft is shutting down; nothing to do then.
            let _ = raft.trigger().elect().await;
        });
    }
}

/// Whether `status` comes from a refused TCP connect: no process listens
/// at the address.
pub fn connection_refused(status: &tonic::Status) -> bool {
    crate::network::causes(status).any(|error| {
        error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_refused_and_other_errors_are_not() {
        // Bind then drop: nothing listens on the port any more.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        let mut client =
            boxoffice_proto::internal::v1::raft_service_client::RaftServiceClient::new(channel);
        let status = client
            .read_index(boxoffice_proto::internal::v1::ReadIndexRequest {})
            .await
            .unwrap_err();
        assert!(connection_refused(&status), "{status:?}");
        assert!(!connection_refused(&tonic::Status::unavailable(
            "connection refused"
        )));
        assert!(!connection_refused(&tonic::Status::deadline_exceeded(
            "slow"
        )));
    }
}
