//! Write coalescing.
//!
//! openraft 0.9 appends each `client_write` as one entry and flushes it
//! before taking the next, so one command per entry caps the cluster at the
//! disk's flush rate. A [`WriteBatcher`] gathers every command that arrives while
//! earlier batches are in flight and sends them on together, then fans the
//! per-command outcomes back out. Under light load a batch holds one command
//! and adds no latency; under heavy load batches grow by themselves.
//!
//! Two batchers run on every node:
//! - the *proposer*, on the leader: one batch becomes one log entry
//!   ([`Batch`]), stamped with the leader's clock;
//! - the *forwarder*, on a follower: one batch becomes one `Propose` RPC to
//!   the leader, whose proposer merges it with everything else it receives.
//!
//! At most [`MAX_IN_FLIGHT`] batches are out at once: enough to keep the log
//! writer's group commit and replication busy, few enough that commands
//! queue up and coalesce instead of each travelling alone.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use boxoffice_config::clock::now_ms;

use boxoffice_proto::internal::v1::ProposeRequest;
use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::failfast::LeaderWatch;
use crate::network::Channels;
use crate::types::{Batch, NodeId, Raft};

/// Most commands in one batch.
pub const MAX_BATCH_COMMANDS: usize = 1024;
/// Most batches in flight at once, per batcher. Two, not four: with the
/// checkouts relayed to the leader, fewer and larger entries cost less
/// (A/B on `boxoffice up`, `spread`, 64 clients: 1.10x the paid bookings
/// a second and 0.93x the CPU a booking; one in flight did no better than
/// two).
pub const MAX_IN_FLIGHT: usize = 2;
/// Timeout of one forwarded batch.
const FORWARD_RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a command was not applied. Every case may be retried: commands are
/// deduplicated by request id when applied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    /// This node is not the leader; the leader it knows of, if any.
    #[error("not the leader (leader is {0:?})")]
    NotLeader(Option<NodeId>),
    /// Raft stopped or failed, or the leader could not be reached; the
    /// command may or may not have been applied.
    #[error("{0}")]
    Failed(String),
}

type Reply = oneshot::Sender<Result<Vec<u8>, ProposeError>>;

/// Handle to a batching task.
#[derive(Clone)]
pub struct WriteBatcher {
    tx: mpsc::UnboundedSender<(Vec<u8>, Reply)>,
}

impl WriteBatcher {
    /// Starts a task that sends queued commands through `send`, a batch at a
    /// time; `send` returns one outcome per command, in order.
    pub fn spawn<F, Fut>(send: F) -> Self
    where
        F: Fn(Vec<Vec<u8>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Vec<u8>>, ProposeError>> + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(Arc::new(send), rx));
        Self { tx }
    }

    /// Queues one encoded command and waits for its encoded outcome.
    pub async fn submit(&self, command: Vec<u8>) -> Result<Vec<u8>, ProposeError> {
        let stopped = || ProposeError::Failed("node is stopping".into());
        let (reply, rx) = oneshot::channel();
        self.tx.send((command, reply)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

async fn run<F, Fut>(send: Arc<F>, mut rx: mpsc::UnboundedReceiver<(Vec<u8>, Reply)>)
where
    F: Fn(Vec<Vec<u8>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Vec<u8>>, ProposeError>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    loop {
        // Take a slot before waiting for work: while every slot is busy,
        // arriving commands queue and then leave together.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else { return };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_COMMANDS {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let (commands, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let n = commands.len();
        let sent = send(commands);
        tokio::spawn(async move {
            let result = sent.await;
            drop(slot);
            match result {
                Ok(outcomes) if outcomes.len() == n => {
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Ok(outcomes) => fail_all(
                    replies,
                    &ProposeError::Failed(format!("{} outcomes for {n} commands", outcomes.len())),
                ),
                Err(e) => fail_all(replies, &e),
            }
        });
    }
}

fn fail_all(replies: Vec<Reply>, err: &ProposeError) {
    for reply in replies {
        let _ = reply.send(Err(err.clone()));
    }
}

/// The leader's proposer: one batch, one log entry.
pub fn proposer(raft: Raft) -> WriteBatcher {
    WriteBatcher::spawn(move |commands| {
        let raft = raft.clone();
        async move {
            match raft
                .client_write(Batch {
                    at_ms: now_ms(),
                    commands,
                })
                .await
            {
                Ok(resp) => Ok(resp.data.outcomes),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    Err(ProposeError::NotLeader(f.leader_id))
                }
                Err(e) => Err(ProposeError::Failed(e.to_string())),
            }
        }
    })
}

/// A follower's forwarder: one batch, one `Propose` RPC to the leader it
/// knows of when the batch leaves.
pub fn forwarder(raft: Raft, channels: Channels, watch: LeaderWatch) -> WriteBatcher {
    WriteBatcher::spawn(move |commands| {
        let leader = crate::node::leader_of(&raft);
        let (channels, watch) = (channels.clone(), watch.clone());
        async move {
            let (leader, addr) = leader.ok_or(ProposeError::NotLeader(None))?;
            let mut client = channels
                .raft_client(leader, &addr)
                .map_err(|e| ProposeError::Failed(e.to_string()))?;
            let mut req = tonic::Request::new(ProposeRequest { commands });
            req.set_timeout(FORWARD_RPC_TIMEOUT);
            let resp = client.propose(req).await.map_err(|s| {
                watch.call_failed(leader, &s);
                ProposeError::Failed(format!(
                    "forwarding to node {leader} at {addr}: {}",
                    s.message()
                ))
            })?;
            Ok(resp.into_inner().outcomes)
        }
    })
}
