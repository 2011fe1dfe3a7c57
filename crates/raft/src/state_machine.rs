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

use std::io::{Cursor, Write};
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
/// The snapshot's bytes in [`CHUNK_BYTES`] pieces, by position.
///
/// One large value would cost redb several transient copies of it (a
/// 170 MiB value raised a process's peak by 524 MiB); pieces of 1 MiB
/// pass through its small write buffer.
const CHUNKS: TableDefinition<u32, &[u8]> = TableDefinition::new("snapshot_chunks");
/// Size of a snapshot chunk.
const CHUNK_BYTES: usize = 1024 * 1024;

/// Format versions of an application's commands (see
/// [`Application::formats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FormatVersions {
    /// The newest version this build reads.
    pub reads: u8,
    /// The version this node writes commands in now.
    pub writes: u8,
    /// The version its configuration asks for (it may write a lower one
    /// until every member reads it).
    pub configured: u8,
    /// The newest version of the commands it has applied since it started
    /// (which covers every entry of its log after its snapshot).
    pub applied: u8,
}

/// The domain plugged into Raft. Consensus knows nothing else about it.
///
/// Commands and outcomes are opaque bytes encoded by the application, so
/// this crate stays domain-agnostic.
pub trait Application: Default + Send + Sync + 'static {
    /// Why a state could not be written to or rebuilt from a snapshot.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether this build can apply `command`: an error (a command written
    /// by a newer build, say) stops the state machine before any command
    /// of its entry is applied, rather than have this replica decide
    /// differently from the others. Every command but a malformed one is
    /// readable by default.
    fn readable(&self, command: &[u8]) -> Result<(), Self::Error> {
        let _ = command;
        Ok(())
    }

    /// The format versions of commands this node reads, writes, is
    /// configured to write and has applied: it reports the first two in its
    /// status (so that the members can agree on a version all of them
    /// read), and as leader adds no node that reads less than the others.
    /// All 0: the application does not version its commands.
    fn formats() -> FormatVersions
    where
        Self: Sized,
    {
        FormatVersions::default()
    }

    /// `command` as the leader puts it in the log: an application that
    /// versions its commands re-encodes one that another node wrote in a
    /// newer version than this node writes now, so that only the leader's
    /// choice of version decides what reaches the log, and refuses (with
    /// why) one it cannot re-encode. Unchanged by default.
    fn as_written(command: Vec<u8>) -> Result<Vec<u8>, String>
    where
        Self: Sized,
    {
        Ok(command)
    }

    /// Applies one committed command at leader time `at_ms` and returns its
    /// encoded outcome. Must be deterministic: the same state, time and
    /// command give the same outcome and new state on every replica. A
    /// rejected command is an outcome, not an error.
    fn apply(&mut self, at_ms: i64, command: &[u8]) -> Vec<u8>;

    /// Writes the whole state for a snapshot into `out` (which buffers a
    /// piece at a time; the state need not fit twice in memory).
    fn snapshot(&self, out: &mut dyn std::io::Write) -> Result<(), Self::Error>;

    /// Rebuilds a state from [`Application::snapshot`]'s bytes.
    fn restore(bytes: &[u8]) -> Result<Self, Self::Error>;
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
    Ok(Some((stored.meta, data)))
}

/// Where the bytes of a snapshot being persisted come from.
enum Source {
    /// A snapshot received from the leader: it replaces whatever is on disk.
    Installed(SnapshotMeta, Vec<u8>),
    /// The live state, serialized straight into the store. It replaces
    /// only an older snapshot: a build may race an install or another build.
    Live,
}

/// Writes bytes into [`CHUNKS`] one [`CHUNK_BYTES`] piece at a time, so a
/// snapshot never exists whole in memory while it is written.
struct ChunkWriter<'t> {
    table: redb::Table<'t, u32, &'static [u8]>,
    buffer: Vec<u8>,
    next: u32,
    written: u64,
}

impl<'t> ChunkWriter<'t> {
    fn new(table: redb::Table<'t, u32, &'static [u8]>) -> Self {
        Self {
            table,
            buffer: Vec::with_capacity(CHUNK_BYTES),
            next: 0,
            written: 0,
        }
    }

    fn flush_chunk(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.table
            .insert(self.next, self.buffer.as_slice())
            .map_err(std::io::Error::other)?;
        self.next = self
            .next
            .checked_add(1)
            .ok_or_else(|| std::io::Error::other("snapshot too large for its chunk numbers"))?;
        self.buffer.clear();
        Ok(())
    }

    /// Writes the last piece; returns the snapshot's size in bytes.
    fn finish(mut self) -> std::io::Result<u64> {
        self.flush_chunk()?;
        Ok(self.written)
    }
}

impl std::io::Write for ChunkWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let taken = bytes.len().min(CHUNK_BYTES - self.buffer.len());
        self.buffer.extend_from_slice(&bytes[..taken]);
        self.written += taken as u64;
        if self.buffer.len() == CHUNK_BYTES {
            self.flush_chunk()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes a snapshot from `source` as the one current snapshot, durably,
/// and advances the watermark. Blocking: it serializes and fsyncs.
/// Returns the snapshot's metadata, and false if a newer snapshot already
/// on disk was kept instead.
///
/// A live build holds the state's read lock while it serializes (apply
/// waits), but not during the commit's fsync.
fn persist_snapshot<A: Application>(
    shared: &Shared<A>,
    source: Source,
) -> Result<(SnapshotMeta, bool), StorageError> {
    let w = |e: &dyn ToString| snap_err(ErrorVerb::Write, e.to_string());
    let started = std::time::Instant::now();
    let txn = shared.db.begin_write().map_err(|e| w(&e))?;
    let (meta, bytes) = {
        let mut table = txn.open_table(SNAPSHOT).map_err(|e| w(&e))?;
        let on_disk = match table.get(KEY_META).map_err(|e| w(&e))? {
            Some(stored) => Some(
                postcard::from_bytes::<StoredSnapshotMeta>(stored.value())
                    .map_err(|e| w(&e))?
                    .meta
                    .last_log_id,
            ),
            None => None,
        };
        let mut chunks = txn.open_table(CHUNKS).map_err(|e| w(&e))?;
        let (meta, bytes) = match source {
            Source::Installed(meta, data) => {
                chunks.retain(|_, _| false).map_err(|e| w(&e))?;
                let mut out = ChunkWriter::new(chunks);
                out.write_all(&data).map_err(|e| w(&e))?;
                (meta, out.finish().map_err(|e| w(&e))?)
            }
            Source::Live => {
                // Before the lock, so apply waits only for serializing; if
                // the build is skipped, dropping the transaction undoes it.
                chunks.retain(|_, _| false).map_err(|e| w(&e))?;
                let state = shared.state.read().expect("state machine lock poisoned");
                let meta = shared.meta_of(&state);
                if on_disk.is_some_and(|on_disk| on_disk >= meta.last_log_id) {
                    // Dropping the transaction leaves the store as it was.
                    return Ok((meta, false));
                }
                let mut out = ChunkWriter::new(chunks);
                state
                    .app
                    .snapshot(&mut out)
                    .map_err(|e| sm_err(ErrorVerb::Read, e))?;
                drop(state);
                (meta, out.finish().map_err(|e| w(&e))?)
            }
        };
        let encoded =
            postcard::to_allocvec(&StoredSnapshotMeta { meta: meta.clone() }).map_err(|e| w(&e))?;
        table
            .insert(KEY_META, encoded.as_slice())
            .map_err(|e| w(&e))?;
        (meta, bytes)
    };
    txn.commit().map_err(|e| w(&e))?;
    shared
        .watermark
        .advance(meta.last_log_id.map_or(0, |id| id.index));
    tracing::info!(
        snapshot = %meta.snapshot_id,
        bytes,
        ms = started.elapsed().as_millis() as u64,
        "snapshot written"
    );
    Ok((meta, true))
}

impl<A> Shared<A> {
    /// Metadata for a snapshot of `state`, with a fresh id.
    fn meta_of(&self, state: &Applied<A>) -> SnapshotMeta {
        let seq = self.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match state.last_applied {
            Some(id) => format!("{}-{}-{seq}", id.leader_id, id.index),
            None => format!("none-{seq}"),
        };
        SnapshotMeta {
            last_log_id: state.last_applied,
            last_membership: state.membership.clone(),
            snapshot_id,
        }
    }
}

/// Builds snapshots of the shared state.
pub struct SnapshotBuilder<A> {
    shared: Arc<Shared<A>>,
}

impl<A: Application> RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder<A> {
    /// Serializes the state straight into the store and returns the
    /// snapshot's metadata with empty data: openraft 0.9 keeps only the
    /// metadata of a build (`core/sm/worker.rs`) and reads the data back
    /// with [`RaftStateMachine::get_current_snapshot`] when it sends it,
    /// so the state is never serialized into one buffer. If a newer
    /// snapshot is already on disk, it stays, and openraft keeps its own
    /// record of that newer one too.
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let shared = self.shared.clone();
        let (meta, _) =
            tokio::task::spawn_blocking(move || persist_snapshot(&shared, Source::Live))
                .await
                .map_err(|e| sm_err(ErrorVerb::Read, e))??;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(Vec::new())),
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
            if let EntryPayload::Normal(batch) = &entry.payload
                && let Some(e) = batch
                    .commands
                    .iter()
                    .find_map(|c| state.app.readable(c).err())
            {
                tracing::error!(
                    index = log_id.index,
                    "cannot apply log entry {}: {e}; this node stops applying (the others go on)",
                    log_id.index
                );
                return Err(sm_err(
                    ErrorVerb::Read,
                    format!("log entry {}: {e}", log_id.index),
                ));
            }
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
        let data = snapshot.into_inner();
        let shared = self.shared.clone();
        let installed = meta.clone();
        let app = tokio::task::spawn_blocking(move || {
            let app = A::restore(&data).map_err(|e| snap_err(ErrorVerb::Read, e))?;
            // Durable first: if we crash after this, the restart loads it.
            persist_snapshot(&shared, Source::Installed(installed, data))?;
            Ok::<_, StorageError>(app)
        })
        .await
        .map_err(|e| snap_err(ErrorVerb::Read, e))??;
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
