//! Consensus for Boxoffice: openraft 0.9 over gRPC, its log in append-only
//! segment files and its snapshots in redb.
//!
//! This crate knows nothing about shows or seats. The domain plugs in
//! through the small [`Application`] trait (apply a command, snapshot,
//! restore); commands and outcomes cross this crate as opaque bytes.
//!
//! # Raft in one paragraph
//! Raft (Ongaro & Ousterhout, "In Search of an Understandable Consensus
//! Algorithm", 2014) keeps a replicated log. One node is elected leader for
//! a term by a majority of votes; it appends client commands to its log and
//! replicates them; an entry is *committed* once a majority has it on disk,
//! and every node applies committed entries in log order to its state
//! machine. A leader that stops sending heartbeats is replaced after an
//! election timeout. Safety (no two nodes apply different commands at one
//! index) holds whatever the timing; liveness needs a majority up.
//! openraft implements the protocol; this crate supplies its storage and
//! network and the paths clients take through it.
//!
//! # Components
//! - [`backup`]: a consistent image of the replicated state, and seeding a
//!   new cluster's data directories from one.
//! - [`types`]: the openraft type configuration; an entry is a [`types::Batch`].
//! - [`log_store`]: the log (entries in segment files, vote and purge point
//!   in redb), written by a dedicated thread with group commit;
//!   acknowledged to openraft only after the fsync.
//! - [`state_machine`]: the application in memory, snapshots on redb.
//! - [`network`] and [`server`]: Raft RPCs over tonic, channels cached per peer.
//! - [`proposer`]: coalesces concurrent writes into one entry.
//! - [`read_index`]: coalesces concurrent read-index requests into one heartbeat round.
//! - [`crash`]: crash points for fault tests (debug builds only).
//! - [`failfast`]: a follower that finds its leader's port refusing
//!   connections stands for election at once.
//! - [`splitvote`]: a candidate whose vote was split, with no longer log
//!   against it, stands again at once instead of after its timeout.
//! - [`node`]: [`RaftNode`], which ties these together and gives any node
//!   the full client paths (forwarded writes, linearizable reads).
//!
//! # Invariants
//! - An entry is reported persisted only after the `fdatasync` of its
//!   segment file.
//! - The Raft core task never waits on an fsync for appends.
//! - The state machine, last applied id and membership change together.
//! - Log entries are purged only behind a durable snapshot.
//!
//! # Deliberately missing
//! - Leadership transfer (openraft 0.9 has none): a stopping leader just
//!   stops, and the others elect a new one once its port refuses them.
//! - Pre-vote; TLS between nodes (a later issue); dynamic snapshot streaming
//!   beyond openraft's chunked `install_snapshot`.

// openraft's error types are large by design; boxing them everywhere would
// only obscure the code.
#![allow(clippy::result_large_err)]
#![deny(missing_docs)]

pub mod backup;
pub mod crash;
pub mod failfast;
pub mod log_store;
pub mod network;
pub mod node;
pub mod proposer;
pub mod read_index;
pub mod server;
pub mod splitvote;
pub mod state_machine;
pub mod types;
mod wal;

pub use node::{MembershipError, RaftNode, RaftSettings, ReadIndexError, StartError, Unavailable};
pub use state_machine::{Application, FormatVersions, StateHandle};
pub use types::NodeId;
