//! The state machine side of the store: the application's state in memory,
//! its snapshots on redb.
//!
//! # Why the live state is in memory
//! Applying a committed entry is pure computation: the application's
//! [`Application::apply`] runs under a write lock and touches no disk. The
//! state is durable as *the latest snapshot plus the log after it*: a
//! snapshot is written to `sm.redb` (with an fsync) before openraft is told
//! it exists, and openraft purges log entries only behind a snapshot. On
//! restart the node loads the snapshot and openraft re-applies the committed
//! entries that follow it. So every applied entry survives a crash, apply
//! costs no IO, and the only fsync on the write path is the log's.
//!
//! The last applied log id and the membership live in the same struct as the
//! application state and are written into the same snapshot, so they can
//! never disagree with the data.
//!
//! # Ordering with the log
//! The [`SnapshotWatermark`] is the last index covered by the snapshot on
//! disk. The log store waits for it before purging, because openraft may
//! order a purge right after *sending* a received snapshot to this store,
//! before it is durable: a crash in between would otherwise leave a log
//! that starts after the snapshot on disk ends. A snapshot built in the
//! background never overwrites a newer one (an installed snapshot, or a
//! later build) on disk.
//!
//! Serialising and restoring a large state is CPU work: it runs on a
//! blocking thread, never on the async runtime.

use std::io::Cursor;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use tokio::sync::watch;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftLogId, RaftSnapshotBuilder,
    StorageIOError,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::types::{
    BatchReply, Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");
const KEY_META: &str = "meta";
/// The whole snapshot as one value, as stores written before chunking
/// hold it; read if there are no chunks, removed by the next write.
const KEY_DATA: &str = "data";
/// The snapshot's bytes in [`CHUNK_BYTES`] pieces, by position.
///
/// One large value would cost redb several transient copies of it (a
/// 170 MiB value raised a process's peak by 524 MiB); pieces of 1 MiB
/// pass through its small write buffer.
const CHUNKS: TableDefinition<u32, &[u8]> = TableDefinition::new("snapshot_chunks");
/// Size of a snapshot chunk.
const CHUNK_BYTES: usize = 1024 * 1024;

/// The domain plugged into Raft. Consensus knows nothing else about it.
///
/// Commands and outcomes are opaque bytes encoded by the application, so
/// this crate stays domain-agnostic.
pub trait Application: Default + Send + Sync + 'static {
    /// Applies one committed command at leader time `at_ms` and returns its
    /// encoded outcome. Must be deterministic: the same state, time and
    /// command give the same outcome and new state on every replica. A
    /// rejected command is an outcome, not an error.
    fn apply(&mut self, at_ms: i64, command: &[u8]) -> Vec<u8>;

    /// Serialises the whole state for a snapshot.
    fn snapshot(&self) -> Result<Vec<u8>, String>;

    /// Rebuilds a state from [`Application::snapshot`]'s bytes.
    fn restore(bytes: &[u8]) -> Result<Self, String>;
}

/// The application state with the Raft bookkeeping that must move with it.
pub struct Applied<A> {
    /// The domain state.
    pub app: A,
    /// Last log id applied to `app`.
    pub last_applied: Option<LogId>,
    /// Last membership applied.
    pub membership: StoredMembership,
}

struct Shared<A> {
    state: RwLock<Applied<A>>,
    db: Database,
    snapshot_seq: AtomicU64,
    watermark: SnapshotWatermark,
}

/// The last log index covered by the snapshot on disk (0: none).
#[derive(Clone)]
pub struct SnapshotWatermark(Arc<watch::Sender<u64>>);

impl SnapshotWatermark {
    fn new(index: u64) -> Self {
        Self(Arc::new(watch::Sender::new(index)))
    }

    fn advance(&self, index: u64) {
        self.0.send_if_modified(|current| {
            let newer = index > *current;
            if newer {
                *current = index;
            }
            newer
        });
    }

    /// Waits until a durable snapshot covers `index`.
    pub async fn covers(&self, index: u64) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = rx.wait_for(|durable| *durable >= index).await;
    }
}

/// A redb-backed [`RaftStateMachine`] over an [`Application`].
pub struct StateMachineStore<A> {
    shared: Arc<Shared<A>>,
}

/// Read access to the applied state, shared with the gRPC services.
pub struct StateHandle<A> {
    shared: Arc<Shared<A>>,
}

impl<A> Clone for StateHandle<A> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<A: Application> StateHandle<A> {
    /// Locks the state for reading. Keep the guard short: apply waits for it.
    pub fn read(&self) -> RwLockReadGuard<'_, Applied<A>> {
        self.shared
            .state
            .read()
            .expect("state machine lock poisoned")
    }
}

/// What is stored next to a snapshot's data.
#[derive(Serialize, Deserialize)]
struct StoredSnapshotMeta {
    meta: SnapshotMeta,
}

fn sm_err(verb: ErrorVerb, e: impl ToString) -> StorageError {
    StorageIOError::new(
        ErrorSubject::StateMachine,
        verb,
        AnyError::error(e.to_string()),
    )
    .into()
}

fn snap_err(verb: ErrorVerb, e: impl ToString) -> StorageError {
    StorageIOError::new(
        ErrorSubject::Snapshot(None),
        verb,
        AnyError::error(e.to_string()),
    )
    .into()
}

/// redb's page cache for the snapshot store (its default is 1 GiB, which
/// would keep a copy of the last snapshot written resident). The snapshot
/// is read only on restart and when a follower needs it.
const SNAPSHOT_CACHE_BYTES: usize = 4 * 1024 * 1024;

impl<A: Application> StateMachineStore<A> {
    /// Opens (or creates) the snapshot store at `path` and restores the
    /// latest snapshot, if any, into memory.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let db = Database::builder()
            .set_cache_size(SNAPSHOT_CACHE_BYTES)
            .create(path)
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        let txn = db
            .begin_write()
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        txn.open_table(SNAPSHOT)
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        txn.open_table(CHUNKS)
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        txn.commit().map_err(|e| snap_err(ErrorVerb::Write, e))?;
        let mut applied = Applied {
            app: A::default(),
            last_applied: None,
            membership: StoredMembership::default(),
        };
        if let Some((meta, data)) = read_snapshot(&db)? {
            applied.app = A::restore(&data).map_err(|e| snap_err(ErrorVerb::Read, e))?;
            applied.last_applied = meta.last_log_id;
            applied.membership = meta.last_membership.clone();
        }
        let watermark = SnapshotWatermark::new(applied.last_applied.map_or(0, |id| id.index));
        let shared = Shared {
            state: RwLock::new(applied),
            db,
            snapshot_seq: AtomicU64::new(0),
            watermark,
        };
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// What the log store must wait for before purging.
    pub fn snapshot_watermark(&self) -> SnapshotWatermark {
        self.shared.watermark.clone()
    }

    /// A handle for reading the applied state.
    pub fn handle(&self) -> StateHandle<A> {
        StateHandle {
            shared: self.shared.clone(),
        }
    }
}

fn read_snapshot(db: &Database) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StorageError> {
    let txn = db.begin_read().map_err(|e| snap_err(ErrorVerb::Read, e))?;
    let table = txn
        .open_table(SNAPSHOT)
        .map_err(|e| snap_err(ErrorVerb::Read, e))?;
    let meta = table
        .get(KEY_META)
        .map_err(|e| snap_err(ErrorVerb::Read, e))?;
    let Some(meta) = meta else {
        return Ok(None);
    };
    let stored: StoredSnapshotMeta =
        postcard::from_bytes(meta.value()).map_err(|e| snap_err(ErrorVerb::Read, e))?;
    let chunks = txn
        .open_table(CHUNKS)
        .map_err(|e| snap_err(ErrorVerb::Read, e))?;
    let mut data = Vec::new();
    for (position, chunk) in chunks
        .iter()
        .map_err(|e| snap_err(ErrorVerb::Read, e))?
        .enumerate()
    {
        let (key, chunk) = chunk.map_err(|e| snap_err(ErrorVerb::Read, e))?;
        if usize::try_from(key.value()).ok() != Some(position) {
            return Err(snap_err(ErrorVerb::Read, "a snapshot chunk is missing"));
        }
        data.extend_from_slice(chunk.value());
    }
    if data.is_empty()
        && let Some(whole) = table
            .get(KEY_DATA)
            .map_err(|e| snap_err(ErrorVerb::Read, e))?
    {
        // A store written before chunking.
        data = whole.value().to_vec();
    }
    Ok(Some((stored.meta, data)))
}

/// How a snapshot replaces the one on disk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replace {
    /// Always (a snapshot installed from the leader).
    Always,
    /// Only if it covers more of the log (a background build, which may
    /// race an install or another build).
    IfNewer,
}

/// Writes `meta` and `data` as the one current snapshot, durably, and
/// advances the watermark. Runs on a blocking thread: it fsyncs. Returns
/// false if an existing, newer snapshot was kept instead.
async fn persist_snapshot<A: Application>(
    shared: Arc<Shared<A>>,
    meta: SnapshotMeta,
    data: Arc<Vec<u8>>,
    replace: Replace,
) -> Result<bool, StorageError> {
    tokio::task::spawn_blocking(move || {
        let w = |e: &dyn ToString| snap_err(ErrorVerb::Write, e.to_string());
        let encoded =
            postcard::to_allocvec(&StoredSnapshotMeta { meta: meta.clone() }).map_err(|e| w(&e))?;
        let txn = shared.db.begin_write().map_err(|e| w(&e))?;
        {
            let mut table = txn.open_table(SNAPSHOT).map_err(|e| w(&e))?;
            if replace == Replace::IfNewer
                && let Some(stored) = table.get(KEY_META).map_err(|e| w(&e))?
            {
                let stored: StoredSnapshotMeta =
                    postcard::from_bytes(stored.value()).map_err(|e| w(&e))?;
                if stored.meta.last_log_id >= meta.last_log_id {
                    return Ok(false);
                }
            }
            table
                .insert(KEY_META, encoded.as_slice())
                .map_err(|e| w(&e))?;
            table.remove(KEY_DATA).map_err(|e| w(&e))?;
            let mut chunks = txn.open_table(CHUNKS).map_err(|e| w(&e))?;
            chunks.retain(|_, _| false).map_err(|e| w(&e))?;
            for (position, chunk) in data.chunks(CHUNK_BYTES).enumerate() {
                let position = u32::try_from(position)
                    .map_err(|_| w(&"snapshot too large for its chunk numbers"))?;
                chunks.insert(position, chunk).map_err(|e| w(&e))?;
            }
        }
        txn.commit().map_err(|e| w(&e))?;
        shared
            .watermark
            .advance(meta.last_log_id.map_or(0, |id| id.index));
        Ok(true)
    })
    .await
    .map_err(|e| snap_err(ErrorVerb::Write, e))?
}

/// Builds snapshots of the shared state.
pub struct SnapshotBuilder<A> {
    shared: Arc<Shared<A>>,
}

impl<A: Application> RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder<A> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let shared = self.shared.clone();
        let (data, last_applied, membership) = tokio::task::spawn_blocking(move || {
            let state = shared.state.read().expect("state machine lock poisoned");
            let data = state
                .app
                .snapshot()
                .map_err(|e| sm_err(ErrorVerb::Read, e))?;
            Ok::<_, StorageError>((data, state.last_applied, state.membership.clone()))
        })
        .await
        .map_err(|e| sm_err(ErrorVerb::Read, e))??;
        let seq = self.shared.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match last_applied {
            Some(id) => format!("{}-{}-{seq}", id.leader_id, id.index),
            None => format!("none-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        let data = Arc::new(data);
        // If a newer snapshot is already on disk, openraft keeps its own
        // newer one too and ignores this build.
        persist_snapshot(
            self.shared.clone(),
            meta.clone(),
            data.clone(),
            Replace::IfNewer,
        )
        .await?;
        let data = Arc::try_unwrap(data).unwrap_or_else(|shared| (*shared).clone());
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl<A: Application> RaftStateMachine<TypeConfig> for StateMachineStore<A> {
    type SnapshotBuilder = SnapshotBuilder<A>;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let state = self
            .shared
            .state
            .read()
            .expect("state machine lock poisoned");
        Ok((state.last_applied, state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<BatchReply>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut state = self
            .shared
            .state
            .write()
            .expect("state machine lock poisoned");
        let mut replies = Vec::new();
        for entry in entries {
            let log_id = *entry.get_log_id();
            let reply = match entry.payload {
                EntryPayload::Blank => BatchReply::default(),
                EntryPayload::Normal(batch) => BatchReply {
                    outcomes: batch
                        .commands
                        .iter()
                        .map(|c| state.app.apply(batch.at_ms, c))
                        .collect(),
                },
                EntryPayload::Membership(m) => {
                    state.membership = StoredMembership::new(Some(log_id), m);
                    BatchReply::default()
                }
            };
            state.last_applied = Some(log_id);
            replies.push(reply);
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            shared: self.shared.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = Arc::new(snapshot.into_inner());
        let restoring = data.clone();
        let app = tokio::task::spawn_blocking(move || A::restore(&restoring))
            .await
            .map_err(|e| snap_err(ErrorVerb::Read, e))?
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        // Durable first: if we crash after this, the restart loads it.
        persist_snapshot(self.shared.clone(), meta.clone(), data, Replace::Always).await?;
        let mut state = self
            .shared
            .state
            .write()
            .expect("state machine lock poisoned");
        *state = Applied {
            app,
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let shared = self.shared.clone();
        let found = tokio::task::spawn_blocking(move || read_snapshot(&shared.db))
            .await
            .map_err(|e| snap_err(ErrorVerb::Read, e))??;
        Ok(found.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
