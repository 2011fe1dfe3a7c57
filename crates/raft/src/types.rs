//! The openraft type configuration and the entry payload.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// A node's id in the cluster. Never 0 (0 means "none" on the wire).
pub type NodeId = u64;

/// What a node is known by: its gRPC address.
pub type Node = openraft::BasicNode;

/// The payload of one Raft log entry: every command the leader gathered
/// while its previous entry was being written, stamped with the leader's
/// clock. The state machine sees time only through `at_ms`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Leader wall-clock time when the batch was formed, ms since the Unix epoch.
    pub at_ms: i64,
    /// Commands as encoded by the application, applied in this order.
    pub commands: Vec<Vec<u8>>,
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Batch(at_ms={}, {} commands)",
            self.at_ms,
            self.commands.len()
        )
    }
}

impl fmt::Display for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The result of applying one entry: one encoded outcome per command of the
/// batch (empty for blank and membership entries).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReply {
    /// Encoded outcomes, index-aligned with [`Batch::commands`].
    pub outcomes: Vec<Vec<u8>>,
}

openraft::declare_raft_types!(
    /// Boxoffice's openraft types.
    pub TypeConfig:
        D = Batch,
        R = BatchReply,
        NodeId = NodeId,
        Node = Node,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft handle with our types.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log id with our node id type.
pub type LogId = openraft::LogId<NodeId>;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A storage error.
pub type StorageError = openraft::StorageError<NodeId>;
/// Stored membership.
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
/// Snapshot metadata.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Node>;
/// A vote.
pub type Vote = openraft::Vote<NodeId>;
