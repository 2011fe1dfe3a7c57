//! The Raft log: entries in append-only segment files, the rest in redb.
//!
//! Entries live in `log.wal/` (see `wal.rs`): a durable append is one
//! write and one `fdatasync`. The vote, the committed log id and the purge
//! point live in `log.redb` (table `meta`, postcard-encoded); they change
//! rarely. A log written by an older build, with its entries in redb's
//! `log` table, moves them to the segments on first open.
//!
//! # Durability and the core task
//! Every write goes to one dedicated OS thread (the *writer*), so the Raft
//! core never waits on an fsync inside its own task:
//! - `append` puts the entries into an in-memory `pending` map (so they are
//!   readable at once, as openraft requires), queues them for the writer and
//!   returns. The writer writes and syncs them and only then calls
//!   `log_io_completed`: openraft never counts an entry as persisted before
//!   it is on disk.
//! - The writer drains whatever is queued into one write and one sync (group
//!   commit), so a burst of appends costs one fsync.
//! - `save_vote`, `truncate` and `purge` wait for their commit: they are rare
//!   and the protocol's safety depends on them being durable on return.
//! - `purge` commits the new purge point before it deletes any segment, so
//!   `get_log_state` never sees a gap.
//! - After a failed write or sync the writer refuses everything else: what
//!   is on disk is then unknown, and only a restart (which re-reads the
//!   segments) can tell.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    AnyError, ErrorSubject, ErrorVerb, OptionalSend, RaftLogId, RaftLogReader, StorageIOError,
};
use redb::{Database, ReadableDatabase, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use crate::state_machine::SnapshotWatermark;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use crate::wal::Wal;

/// Where builds before the segment files kept the entries; read once, to
/// move them.
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_LAST_PURGED: &str = "last_purged";

/// Most queued operations the writer folds into one transaction.
const MAX_GROUP_COMMIT_OPS: usize = 256;

/// redb's page cache for `log.redb`, which now holds only a few small
/// values (its default is 1 GiB).
const META_CACHE_BYTES: usize = 1024 * 1024;

/// A redb-backed [`RaftLogStorage`].
pub struct LogStore {
    shared: Arc<Shared>,
    /// Last committed log id given to the store, kept in memory (the disk
    /// copy may lag it by up to a second's worth of entries).
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
    wal: Arc<Wal>,
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
    /// Opens (or creates) the log at `path` (`log.redb`, with the entries
    /// in the directory beside it, `log.wal`) and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let db = Database::builder()
            .set_cache_size(META_CACHE_BYTES)
            .create(path)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, &e))?;
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
        let purged: Option<LogId> = read_meta(&db, KEY_LAST_PURGED)?.flatten();
        let wal = Wal::open(&path.with_extension("wal"), purged.map(|p| p.index))
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, &e))?;
        move_entries_out_of_redb(&db, &wal, purged)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, &e))?;
        let (db, wal) = (Arc::new(db), Arc::new(wal));
        let (tx, rx) = mpsc::channel();
        let pending = Pending::default();
        let (writer_db, writer_wal, writer_pending) = (db.clone(), wal.clone(), pending.clone());
        let thread = thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || writer_loop(&writer_db, &writer_wal, &writer_pending, &rx))
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, &e))?;
        let store = Self {
            shared: Arc::new(Shared {
                db,
                wal,
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
        read_meta(&self.shared.db, key)
    }
}

fn read_meta<T: DeserializeOwned>(db: &Database, key: &str) -> Result<Option<T>, StorageError> {
    let subject = || ErrorSubject::Store;
    let txn = db
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

/// Moves the entries an older build kept in redb's `log` table into the
/// segments. While that table holds entries it is the log: the segments are
/// rebuilt from it (cleared, written, synced) and only then is it emptied,
/// so a crash or an error part-way leaves it whole for the next open to
/// start again from.
fn move_entries_out_of_redb(
    db: &Database,
    wal: &Wal,
    purged: Option<LogId>,
) -> Result<(), redb::Error> {
    let old: Vec<(u64, Vec<u8>)> = {
        let txn = db.begin_read()?;
        let table = txn.open_table(LOG)?;
        let floor = purged.map_or(0, |p| p.index.saturating_add(1));
        let mut old = Vec::new();
        for item in table.range(floor..)? {
            let (k, v) = item?;
            old.push((k.value(), v.value().to_vec()));
        }
        old
    };
    if old.is_empty() {
        return Ok(());
    }
    // Refuse, leaving redb as it is, a log the segments would not take back.
    let refuse = |msg: String| redb::Error::Corrupted(msg);
    if let (Some(p), Some((first, _))) = (purged, old.first())
        && *first != p.index.saturating_add(1)
    {
        return Err(refuse(format!(
            "the log's entries in redb start at {first}, not after its purge point {}",
            p.index
        )));
    }
    if let Some(pair) = old.windows(2).find(|w| w[1].0 != w[0].0.saturating_add(1)) {
        return Err(refuse(format!(
            "the log's entries in redb jump from {} to {}",
            pair[0].0, pair[1].0
        )));
    }
    wal.truncate(0).map_err(redb::StorageError::Io)?;
    let entries: Vec<(u64, &[u8])> = old.iter().map(|(i, b)| (*i, b.as_slice())).collect();
    let files = wal.write(&entries).map_err(redb::StorageError::Io)?;
    wal.sync(&files).map_err(redb::StorageError::Io)?;
    let txn = db.begin_write()?;
    {
        txn.open_table(LOG)?.retain(|_, _| false)?;
    }
    txn.commit()?;
    tracing::info!(
        entries = old.len(),
        "moved the log's entries from redb into segment files"
    );
    Ok(())
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

/// How often, at most, the committed log id is written to `log.redb` on its
/// own (it also goes along with every vote and purge point). It is a hint
/// for faster restarts, never needed for safety.
const COMMITTED_EVERY: Duration = Duration::from_secs(1);

/// The writer thread: applies queued operations in order, many per write
/// and sync, and reports each one only after it is durable.
fn writer_loop(db: &Database, wal: &Wal, pending: &Pending, rx: &mpsc::Receiver<WriteOp>) {
    let mut committed = Committed::default();
    // After any failed group, every later operation fails unrun: what the
    // log holds is then unknown until a restart re-reads it.
    let mut broken: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let mut ops = vec![first];
        while ops.len() < MAX_GROUP_COMMIT_OPS {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        let result = match &broken {
            Some(cause) => Err(io::Error::other(format!(
                "an earlier log write failed ({cause}); restart the node"
            ))),
            None => {
                crate::crash::point(crate::crash::BEFORE_LOG_FLUSH);
                let result = commit_ops(db, wal, &ops, &mut committed);
                crate::crash::point(crate::crash::AFTER_LOG_FLUSH);
                if let Err(e) = &result {
                    tracing::error!(error = %e, "the raft log could not be written");
                    broken = Some(e.to_string());
                }
                result
            }
        };
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
    // Closing: leave the latest committed id behind for the next start.
    if committed.unsaved.is_some()
        && broken.is_none()
        && let Err(e) = write_meta(db, &[], &mut committed)
    {
        tracing::warn!(error = %e, "could not save the committed log id on close");
    }
}

/// The latest committed log id the writer was given and has not written.
#[derive(Default)]
struct Committed {
    unsaved: Option<Vec<u8>>,
    saved_at: Option<Instant>,
}

/// Applies one group of operations, in order: entries to the segments
/// (one sync for all), then the values for `log.redb` in one transaction,
/// then the deletions a purge allows.
fn commit_ops(
    db: &Database,
    wal: &Wal,
    ops: &[WriteOp],
    committed: &mut Committed,
) -> io::Result<()> {
    let mut files: Vec<Arc<std::fs::File>> = Vec::new();
    let mut meta: Vec<(&'static str, &[u8])> = Vec::new();
    let mut purge_upto = None;
    let mut latest_committed = None;
    for op in ops {
        match op {
            WriteOp::Append { entries, .. } => {
                let entries: Vec<(u64, &[u8])> = entries
                    .iter()
                    .map(|(id, bytes)| (id.index, bytes.as_slice()))
                    .collect();
                for file in wal.write(&entries)? {
                    if !files.iter().any(|f| Arc::ptr_eq(f, &file)) {
                        files.push(file);
                    }
                }
            }
            WriteOp::Meta {
                key: KEY_COMMITTED,
                value,
                done: None,
            } => latest_committed = Some(value),
            WriteOp::Meta { key, value, .. } => meta.push((key, value.as_slice())),
            WriteOp::Truncate { from, .. } => {
                // Whatever was written before it in this group is synced by
                // the truncate's own sync of the same file.
                wal.truncate(*from)?;
            }
            WriteOp::Purge { upto, encoded, .. } => {
                meta.push((KEY_LAST_PURGED, encoded.as_slice()));
                purge_upto = Some(upto.index);
            }
        }
    }
    wal.sync(&files)?;
    // Only now: a committed id must never be saved ahead of the entries.
    if let Some(value) = latest_committed {
        committed.unsaved = Some(value.clone());
    }
    let due = committed.unsaved.is_some()
        && committed
            .saved_at
            .is_none_or(|at| at.elapsed() >= COMMITTED_EVERY);
    if !meta.is_empty() || due {
        write_meta(db, &meta, committed).map_err(|e| io::Error::other(e.to_string()))?;
    }
    if let Some(upto) = purge_upto {
        wal.purge(upto)?;
    }
    Ok(())
}

/// Writes `values` and any unsaved committed id to `log.redb` in one
/// durable transaction.
fn write_meta(
    db: &Database,
    values: &[(&'static str, &[u8])],
    committed: &mut Committed,
) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(META)?;
        if let Some(value) = &committed.unsaved {
            table.insert(KEY_COMMITTED, value.as_slice())?;
        }
        for (key, value) in values {
            table.insert(*key, *value)?;
        }
    }
    txn.commit()?;
    committed.unsaved = None;
    committed.saved_at = Some(Instant::now());
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
        // Take the overlay first: the writer puts entries in the segments'
        // index before it drops them from the overlay, so every entry is in
        // this snapshot of the overlay or in the segments read after it.
        let overlay: Vec<Entry> = {
            let pending = self.pending.lock().expect("pending log lock poisoned");
            pending.range(start..=end).map(|(_, e)| e.clone()).collect()
        };
        // Read from the segments only what the overlay does not hold (the
        // entries being replicated and applied are usually all in it).
        let wal_end = match overlay.first() {
            Some(e) => e.get_log_id().index.saturating_sub(1).min(end),
            None => end,
        };
        let mut out: BTreeMap<u64, Entry> = BTreeMap::new();
        if start <= wal_end && overlay.first().is_none_or(|e| e.get_log_id().index > start) {
            for (index, bytes) in self.wal.read(start, wal_end).map_err(|e| read(&e))? {
                let entry: Entry = decode(&bytes).map_err(|e| read(&e))?;
                out.insert(index, entry);
            }
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
                match self.shared.wal.last_index() {
                    Some(index) => {
                        let read = self.shared.wal.read(index, index).map_err(|e| err(&e))?;
                        match read.first() {
                            Some((_, bytes)) => {
                                Some(*decode::<Entry>(bytes).map_err(|e| err(&e))?.get_log_id())
                            }
                            None => None,
                        }
                    }
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
