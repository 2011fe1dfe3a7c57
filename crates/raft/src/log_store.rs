//! The Raft log on redb.
//!
//! Layout (`log.redb`): table `log` maps an index (u64) to a postcard-encoded
//! entry; table `meta` holds the vote, the committed log id and the purge
//! point, each postcard-encoded.
//!
//! # Durability and the core task
//! Every write goes to one dedicated OS thread (the *writer*) that owns redb's
//! single write transaction, so the Raft core never waits on an fsync inside
//! its own task:
//! - `append` puts the entries into an in-memory `pending` map (so they are
//!   readable at once, as openraft requires), queues them for the writer and
//!   returns. The writer commits with [`Durability::Immediate`] and only then
//!   calls `log_io_completed`: openraft never counts an entry as persisted
//!   before it is on disk.
//! - The writer drains whatever is queued into one transaction (group commit),
//!   so a burst of appends costs one fsync.
//! - `save_vote`, `truncate` and `purge` wait for their commit: they are rare
//!   and the protocol's safety depends on them being durable on return.
//! - `purge` writes the new purge point in the same transaction that deletes
//!   the entries, so `get_log_state` never sees a gap.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    AnyError, ErrorSubject, ErrorVerb, OptionalSend, RaftLogId, RaftLogReader, StorageIOError,
};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use crate::state_machine::SnapshotWatermark;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_LAST_PURGED: &str = "last_purged";

/// Most queued operations the writer folds into one transaction.
const MAX_GROUP_COMMIT_OPS: usize = 256;

/// A redb-backed [`RaftLogStorage`].
pub struct LogStore {
    shared: Arc<Shared>,
    /// Last committed log id saved, also kept in memory (the disk copy is
    /// written without fsync).
    committed: Arc<Mutex<Option<LogId>>>,
    /// Purges wait until a durable snapshot covers what they delete.
    purge_guard: Option<SnapshotWatermark>,
}

/// A cheap, cloneable reader of the same log, for replication tasks.
#[derive(Clone)]
pub struct LogReader {
    shared: Arc<Shared>,
}

struct Shared {
    db: Arc<Database>,
    /// Joined on drop, so that the file lock is released when the store is.
    thread: Option<thread::JoinHandle<()>>,
    /// Appended but not yet known durable; overlays what redb holds. The
    /// writer removes entries once they are committed.
    pending: Pending,
    writer: Option<mpsc::Sender<WriteOp>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the channel ends the writer once it has drained the queue.
        self.writer.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Pending = Arc<Mutex<BTreeMap<u64, Entry>>>;

type Done = oneshot::Sender<Result<(), io::Error>>;

enum WriteOp {
    Append {
        entries: Vec<(LogId, Vec<u8>)>,
        callback: LogFlushed<TypeConfig>,
    },
    Meta {
        key: &'static str,
        value: Vec<u8>,
        done: Option<Done>,
    },
    Truncate {
        from: u64,
        done: Done,
    },
    Purge {
        upto: LogId,
        encoded: Vec<u8>,
        done: Done,
    },
}

impl LogStore {
    /// Opens (or creates) the log at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        // redb's default cache: the log file stays small (purged behind
        // snapshots), so its pages bound what the cache can hold.
        let db =
            Database::create(path).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, &e))?;
        let txn = db
            .begin_write()
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, &e))?;
        {
            txn.open_table(LOG)
                .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, &e))?;
            txn.open_table(META)
                .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, &e))?;
        }
        txn.commit()
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, &e))?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel();
        let pending = Pending::default();
        let (writer_db, writer_pending) = (db.clone(), pending.clone());
        let thread = thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || writer_loop(&writer_db, &writer_pending, &rx))
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, &e))?;
        let store = Self {
            shared: Arc::new(Shared {
                db,
                pending,
                thread: Some(thread),
                writer: Some(tx),
            }),
            committed: Arc::default(),
            purge_guard: None,
        };
        let committed = store.read_meta::<Option<LogId>>(KEY_COMMITTED)?.flatten();
        *store.committed.lock().expect("committed lock poisoned") = committed;
        Ok(store)
    }

    /// Makes every purge wait until the snapshot on disk covers the entries
    /// it deletes (see the state machine's [`SnapshotWatermark`]).
    pub fn guard_purges_with(mut self, watermark: SnapshotWatermark) -> Self {
        self.purge_guard = Some(watermark);
        self
    }

    /// The highest committed log id this node knows of, kept up to date after
    /// openraft moves into the store (openraft 0.9's metrics lack it).
    pub fn committed(&self) -> Arc<Mutex<Option<LogId>>> {
        self.committed.clone()
    }

    async fn submit(&self, make: impl FnOnce(Done) -> WriteOp) -> Result<(), io::Error> {
        let (done, rx) = oneshot::channel();
        self.shared.send(make(done)).map_err(|_| writer_gone())?;
        rx.await.map_err(|_| writer_gone())?
    }

    fn read_meta<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError> {
        let subject = || ErrorSubject::Store;
        let txn = self
            .shared
            .db
            .begin_read()
            .map_err(|e| io_err(subject(), ErrorVerb::Read, &e))?;
        let table = txn
            .open_table(META)
            .map_err(|e| io_err(subject(), ErrorVerb::Read, &e))?;
        let Some(raw) = table
            .get(key)
            .map_err(|e| io_err(subject(), ErrorVerb::Read, &e))?
        else {
            return Ok(None);
        };
        decode(raw.value())
            .map(Some)
            .map_err(|e| io_err(subject(), ErrorVerb::Read, &e))
    }
}

fn writer_gone() -> io::Error {
    io::Error::other("raft log writer thread has stopped")
}

fn io_err(
    subject: ErrorSubject<u64>,
    verb: ErrorVerb,
    e: &(impl std::error::Error + 'static),
) -> StorageError {
    StorageIOError::new(subject, verb, AnyError::new(e)).into()
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(v)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

/// The writer thread: applies queued operations in order, many per
/// transaction, and reports each one only after its commit.
fn writer_loop(db: &Database, pending: &Pending, rx: &mpsc::Receiver<WriteOp>) {
    while let Ok(first) = rx.recv() {
        let mut ops = vec![first];
        while ops.len() < MAX_GROUP_COMMIT_OPS {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        crate::crash::point(crate::crash::BEFORE_LOG_FLUSH);
        let result = commit_ops(db, &ops).map_err(|e| io::Error::other(e.to_string()));
        crate::crash::point(crate::crash::AFTER_LOG_FLUSH);
        if result.is_ok() {
            // Durable now: drop them from the overlay unless a truncate and a
            // new append have replaced them meanwhile.
            let mut pending = pending.lock().expect("pending log lock poisoned");
            for op in &ops {
                if let WriteOp::Append { entries, .. } = op {
                    for (log_id, _) in entries {
                        if pending
                            .get(&log_id.index)
                            .is_some_and(|e| e.get_log_id() == log_id)
                        {
                            pending.remove(&log_id.index);
                        }
                    }
                }
            }
        }
        for op in ops {
            let r = result
                .as_ref()
                .map(|_| ())
                .map_err(|e| io::Error::new(e.kind(), e.to_string()));
            match op {
                WriteOp::Append { callback, .. } => callback.log_io_completed(r),
                WriteOp::Meta { done, .. } => {
                    if let Some(done) = done {
                        let _ = done.send(r);
                    }
                }
                WriteOp::Truncate { done, .. } | WriteOp::Purge { done, .. } => {
                    let _ = done.send(r);
                }
            }
        }
    }
}

fn commit_ops(db: &Database, ops: &[WriteOp]) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    // Only a batch made solely of `committed` updates may skip the fsync: that
    // value is a hint for faster restarts, never needed for safety.
    let durable = ops
        .iter()
        .any(|op| !matches!(op, WriteOp::Meta { done: None, .. }));
    txn.set_durability(if durable {
        Durability::Immediate
    } else {
        Durability::None
    })
    .map_err(|e| redb::Error::Corrupted(e.to_string()))?;
    {
        let mut log = txn.open_table(LOG)?;
        let mut meta = txn.open_table(META)?;
        for op in ops {
            match op {
                WriteOp::Append { entries, .. } => {
                    for (log_id, bytes) in entries {
                        log.insert(log_id.index, bytes.as_slice())?;
                    }
                }
                WriteOp::Meta { key, value, .. } => {
                    meta.insert(*key, value.as_slice())?;
                }
                WriteOp::Truncate { from, .. } => {
                    log.retain_in(*from.., |_, _| false)?;
                }
                WriteOp::Purge { upto, encoded, .. } => {
                    meta.insert(KEY_LAST_PURGED, encoded.as_slice())?;
                    log.retain_in(..=upto.index, |_, _| false)?;
                }
            }
        }
    }
    txn.commit()?;
    Ok(())
}

impl Shared {
    fn send(&self, op: WriteOp) -> Result<(), io::Error> {
        self.writer
            .as_ref()
            .ok_or_else(writer_gone)?
            .send(op)
            .map_err(|_| writer_gone())
    }

    fn read_range<RB: RangeBounds<u64>>(&self, range: RB) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => Some(e),
            Bound::Excluded(&e) => e.checked_sub(1),
            Bound::Unbounded => Some(u64::MAX),
        };
        let Some(end) = end else {
            return Ok(Vec::new());
        };
        if start > end {
            return Ok(Vec::new());
        }
        let read = |e: &dyn std::error::Error| {
            StorageError::from(StorageIOError::read_logs(AnyError::error(e.to_string())))
        };
        // Start the read transaction while holding the overlay lock: the
        // writer removes an entry from the overlay only after its commit, so
        // every entry is either in this snapshot of the overlay or visible to
        // this transaction.
        let (txn, overlay) = {
            let pending = self.pending.lock().expect("pending log lock poisoned");
            let txn = self.db.begin_read().map_err(|e| read(&e))?;
            let overlay: Vec<Entry> = pending.range(start..=end).map(|(_, e)| e.clone()).collect();
            (txn, overlay)
        };
        let mut out: BTreeMap<u64, Entry> = BTreeMap::new();
        let table = txn.open_table(LOG).map_err(|e| read(&e))?;
        for item in table.range(start..=end).map_err(|e| read(&e))? {
            let (k, v) = item.map_err(|e| read(&e))?;
            let entry: Entry = decode(v.value()).map_err(|e| read(&e))?;
            out.insert(k.value(), entry);
        }
        // Entries not yet durable shadow whatever an older write left on disk.
        for e in overlay {
            out.insert(e.get_log_id().index, e);
        }
        // The log is consecutive: return the run from the first index found.
        let mut result: Vec<Entry> = Vec::with_capacity(out.len());
        for (k, e) in out {
            if result
                .last()
                .is_some_and(|prev| prev.get_log_id().index.saturating_add(1) != k)
            {
                break;
            }
            result.push(e);
        }
        Ok(result)
    }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.shared.read_range(range)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.shared.read_range(range)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> =
            self.read_meta::<Option<LogId>>(KEY_LAST_PURGED)?.flatten();
        let pending_last = {
            let pending = self
                .shared
                .pending
                .lock()
                .expect("pending log lock poisoned");
            pending.last_key_value().map(|(_, e)| *e.get_log_id())
        };
        let last = match pending_last {
            Some(id) => Some(id),
            None => {
                let err = |e: &dyn std::error::Error| {
                    StorageError::from(StorageIOError::read_logs(AnyError::error(e.to_string())))
                };
                let txn = self.shared.db.begin_read().map_err(|e| err(&e))?;
                let table = txn.open_table(LOG).map_err(|e| err(&e))?;
                match table.last().map_err(|e| err(&e))? {
                    Some((_, v)) => Some(
                        *decode::<Entry>(v.value())
                            .map_err(|e| err(&e))?
                            .get_log_id(),
                    ),
                    None => None,
                }
            }
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last.or(last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader {
            shared: self.shared.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let value = encode(vote).map_err(|e| io_err(ErrorSubject::Vote, ErrorVerb::Write, &e))?;
        self.submit(|done| WriteOp::Meta {
            key: KEY_VOTE,
            value,
            done: Some(done),
        })
        .await
        .map_err(|e| io_err(ErrorSubject::Vote, ErrorVerb::Write, &e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.read_meta(KEY_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        *self.committed.lock().expect("committed lock poisoned") = committed;
        let value =
            encode(&committed).map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, &e))?;
        self.shared
            .send(WriteOp::Meta {
                key: KEY_COMMITTED,
                value,
                done: None,
            })
            .map_err(|_| io_err(ErrorSubject::Store, ErrorVerb::Write, &writer_gone()))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(*self.committed.lock().expect("committed lock poisoned"))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        // Encode everything first: a failure must leave the overlay untouched.
        let entries: Vec<Entry> = entries.into_iter().collect();
        let mut encoded = Vec::with_capacity(entries.len());
        for entry in &entries {
            let log_id = *entry.get_log_id();
            let bytes = encode(entry)
                .map_err(|e| StorageIOError::write_log_entry(log_id, AnyError::new(&e)))?;
            encoded.push((log_id, bytes));
        }
        {
            let mut pending = self
                .shared
                .pending
                .lock()
                .expect("pending log lock poisoned");
            for entry in entries {
                pending.insert(entry.get_log_id().index, entry);
            }
        }
        self.shared
            .send(WriteOp::Append {
                entries: encoded,
                callback,
            })
            .map_err(|_| io_err(ErrorSubject::Logs, ErrorVerb::Write, &writer_gone()))?;
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        {
            let mut pending = self
                .shared
                .pending
                .lock()
                .expect("pending log lock poisoned");
            pending.split_off(&log_id.index);
        }
        self.submit(|done| WriteOp::Truncate {
            from: log_id.index,
            done,
        })
        .await
        .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, &e))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        if let Some(guard) = &self.purge_guard {
            guard.covers(log_id.index).await;
        }
        let encoded =
            encode(&Some(log_id)).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, &e))?;
        {
            let mut pending = self
                .shared
                .pending
                .lock()
                .expect("pending log lock poisoned");
            *pending = pending.split_off(&(log_id.index.saturating_add(1)));
        }
        self.submit(|done| WriteOp::Purge {
            upto: log_id,
            encoded,
            done,
        })
        .await
        .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, &e))
    }
}
