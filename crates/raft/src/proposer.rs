//! Write coalescing on the leader.
//!
//! openraft 0.9 appends each `client_write` as one entry and flushes it
//! before taking the next, so one command per entry caps the cluster at the
//! disk's flush rate. The proposer gathers every command that arrives while
//! earlier entries are in flight into one [`Batch`], proposes it as one
//! entry, and fans the per-command outcomes back out. Under light load a
//! batch holds one command and adds no latency; under heavy load batches
//! grow until each flush carries many commands.
//!
//! At most [`MAX_IN_FLIGHT`] entries are proposed at once: enough to keep
//! the log writer's group commit and replication busy, few enough that
//! commands queue up and coalesce instead of each becoming its own entry.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::types::{Batch, NodeId, Raft};

/// Most commands in one entry.
pub const MAX_BATCH_COMMANDS: usize = 1024;
/// Most entries proposed and not yet applied at once.
pub const MAX_IN_FLIGHT: usize = 4;

/// Why a command was not applied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    /// This node is not the leader; the leader it knows of, if any.
    #[error("not the leader (leader is {0:?})")]
    NotLeader(Option<NodeId>),
    /// Raft stopped or failed; the command may or may not have been applied.
    #[error("raft error: {0}")]
    Raft(String),
}

struct Pending {
    command: Vec<u8>,
    reply: oneshot::Sender<Result<Vec<u8>, ProposeError>>,
}

/// Handle to the proposer task.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::UnboundedSender<Pending>,
}

impl Proposer {
    /// Starts the proposer task for `raft`.
    pub fn spawn(raft: Raft) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx));
        Self { tx }
    }

    /// Proposes one encoded command on this node and waits for its encoded
    /// outcome. Fails with [`ProposeError::NotLeader`] on a follower.
    pub async fn propose(&self, command: Vec<u8>) -> Result<Vec<u8>, ProposeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending { command, reply })
            .map_err(|_| ProposeError::Raft("proposer stopped".into()))?;
        rx.await
            .map_err(|_| ProposeError::Raft("proposer stopped".into()))?
    }
}

/// Wall-clock milliseconds since the Unix epoch. Read only here, when the
/// leader forms an entry: replicas never read the clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

async fn run(raft: Raft, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    loop {
        // Take a slot before waiting for work: while every slot is busy,
        // arriving commands queue and then leave together as one entry.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else { return };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_COMMANDS {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            let (commands, replies): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|p| (p.command, p.reply)).unzip();
            let n = commands.len();
            let result = raft
                .client_write(Batch {
                    at_ms: now_ms(),
                    commands,
                })
                .await;
            drop(slot);
            match result {
                Ok(resp) if resp.data.outcomes.len() == n => {
                    for (reply, outcome) in replies.into_iter().zip(resp.data.outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Ok(resp) => fail_all(
                    replies,
                    &ProposeError::Raft(format!(
                        "{} outcomes for {n} commands",
                        resp.data.outcomes.len()
                    )),
                ),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    fail_all(replies, &ProposeError::NotLeader(f.leader_id));
                }
                Err(e) => fail_all(replies, &ProposeError::Raft(e.to_string())),
            }
        });
    }
}

fn fail_all(replies: Vec<oneshot::Sender<Result<Vec<u8>, ProposeError>>>, err: &ProposeError) {
    for reply in replies {
        let _ = reply.send(Err(err.clone()));
    }
}
