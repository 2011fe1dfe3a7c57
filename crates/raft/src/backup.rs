//! Backups of the replicated state, and seeding a new cluster from one.
//!
//! [`RaftNode::backup`] takes an [`Image`]: after a read barrier (so the
//! node has applied everything committed when the backup was asked for),
//! the application's snapshot bytes at the last applied log id, with the
//! membership and a SHA-256 of the bytes, all under one read lock. It is
//! the same picture a snapshot would be, taken while the node keeps
//! serving.
//!
//! [`seed`] writes an image into a fresh data directory as if the node had
//! received it as a snapshot: the state machine store holds it (durably),
//! the log store is empty with its purge point at the image's log id and a
//! vote of that term, so openraft starts with the state applied and
//! nothing to replay. The membership is replaced by the new cluster's: the
//! restored cluster may run elsewhere.
//!
//! Invariants: an image's digest is checked, and its bytes restored by the
//! application, before anything is written; a directory that already holds
//! a log or a state is never written over.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::Path;

use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{Membership, SnapshotMeta, Vote};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::log_store::LogStore;
use crate::node::{RaftNode, Unavailable};
use crate::state_machine::{Application, StateMachineStore};
use crate::types::{LogId, Node, NodeId, StoredMembership};

/// The replicated state at one log id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Image {
    /// The last log id applied to `state`.
    pub applied: LogId,
    /// The membership then.
    pub membership: StoredMembership,
    /// The application's snapshot bytes.
    pub state: Vec<u8>,
    /// SHA-256 of `state`, hex: the digest replicas at `applied` agree on.
    pub digest: String,
}

/// SHA-256 of `bytes`, hex.
pub fn digest_of(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why a backup could not be taken or seeded.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// No leader confirmed this node's state in time.
    #[error("{0}")]
    Unavailable(#[from] Unavailable),
    /// The node has applied nothing yet.
    #[error("this node has applied nothing yet")]
    Empty,
    /// The image's bytes do not match its digest.
    #[error("the backup's state does not match its digest (found {found}, recorded {recorded})")]
    Digest {
        /// The digest of the bytes.
        found: String,
        /// The digest recorded with them.
        recorded: String,
    },
    /// The application could not write or read its state.
    #[error("the state: {0}")]
    State(String),
    /// The target directory holds a node's data already.
    #[error("{0} already holds a node's data: restore into a fresh directory")]
    NotFresh(String),
    /// A member list that cannot be a cluster.
    #[error("{0}")]
    Members(String),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(String),
}

impl<A: Application> RaftNode<A> {
    /// A consistent image of the replicated state (see the module doc).
    pub async fn backup(&self) -> Result<Image, BackupError> {
        self.read_barrier().await?;
        let state = self.state().clone();
        tokio::task::spawn_blocking(move || {
            let applied = state.read();
            let at = applied.last_applied.ok_or(BackupError::Empty)?;
            let mut bytes = Vec::new();
            applied
                .app
                .snapshot(&mut bytes)
                .map_err(|e| BackupError::State(e.to_string()))?;
            let membership = applied.membership.clone();
            drop(applied);
            Ok(Image {
                applied: at,
                membership,
                digest: digest_of(&bytes),
                state: bytes,
            })
        })
        .await
        .map_err(|e| BackupError::State(e.to_string()))?
    }
}

/// Writes `image` into the fresh data directory `data_dir` of node `id` of
/// a new cluster whose voters are `members` (id → peer address). See the
/// module doc.
pub async fn seed<A: Application>(
    data_dir: &Path,
    id: NodeId,
    members: &BTreeMap<NodeId, String>,
    image: &Image,
) -> Result<(), BackupError> {
    let found = digest_of(&image.state);
    if found != image.digest {
        return Err(BackupError::Digest {
            found,
            recorded: image.digest.clone(),
        });
    }
    A::restore(&image.state).map_err(|e| BackupError::State(e.to_string()))?;
    if !members.contains_key(&id) {
        return Err(BackupError::Members(format!(
            "node {id} is not one of the members {:?}",
            members.keys().collect::<Vec<_>>()
        )));
    }
    for file in ["sm.redb", "log.redb", "log.wal"] {
        let path = data_dir.join(file);
        if path.exists() {
            return Err(BackupError::NotFresh(path.display().to_string()));
        }
    }
    std::fs::create_dir_all(data_dir).map_err(|e| BackupError::Storage(e.to_string()))?;
    let voters: BTreeSet<NodeId> = members.keys().copied().collect();
    let nodes: BTreeMap<NodeId, Node> = members
        .iter()
        .map(|(id, addr)| (*id, Node::new(addr.clone())))
        .collect();
    let membership = Membership::new(vec![voters], nodes);
    let meta = SnapshotMeta {
        last_log_id: Some(image.applied),
        last_membership: StoredMembership::new(Some(image.applied), membership),
        snapshot_id: format!(
            "restored-{}-{}",
            image.applied.leader_id.term, image.applied.index
        ),
    };
    let storage = |e: crate::types::StorageError| BackupError::Storage(e.to_string());
    let mut sm = StateMachineStore::<A>::open(&data_dir.join("sm.redb")).map_err(storage)?;
    sm.install_snapshot(&meta, Box::new(Cursor::new(image.state.clone())))
        .await
        .map_err(storage)?;
    let mut log = LogStore::open(&data_dir.join("log.redb")).map_err(storage)?;
    log.save_vote(&Vote::new(image.applied.leader_id.term, id))
        .await
        .map_err(storage)?;
    log.purge(image.applied).await.map_err(storage)?;
    log.save_committed(Some(image.applied))
        .await
        .map_err(storage)?;
    Ok(())
}
