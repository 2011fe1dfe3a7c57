//! The durable ledger: every transaction and every idempotency key, in
//! redb. A reply is sent only after the write is durable, so a charge
//! acknowledged is never lost across a crash or restart.
//!
//! Writes are applied in groups ([`Ledger::apply`]). A group is durable
//! once its writes are appended to the journal (`ledger.journal`, beside
//! `ledger.redb`) and that file is synced; it is then committed to redb
//! without redb's own sync, and only then seen by readers. Every few
//! hundred groups one commits durably in redb (a checkpoint, which records
//! the last journal group it covers) and the journal is emptied. Opening
//! the ledger replays the journal's groups past the checkpoint: a write
//! carries everything its outcome depends on, so replaying a group gives
//! what applying it gave.
//!
//! Tables: `transactions` (id → record), `keys` (idempotency key → the
//! charge's parameters and its transaction id), `by_user` ((user, created,
//! id) → ()), `voided` (idempotency key → when it was voided), `refunds`
//! (refund key → the refund's transaction, amount and time), `refunded`
//! (transaction id → cents refunded so far). Keys are kept for good, which
//! satisfies "at least 24 hours".
//!
//! Refunds may be partial. A refund under a refund key is recorded in the
//! same write transaction as its charge's new refunded total, so it
//! happens at most once: the same key again returns the transaction as it
//! stands. A refund without a key (the old full refund) refunds what
//! remains, which is idempotent by itself. No refund ever takes the total
//! past the charge. The refunded total lives in its own table rather than
//! in the transaction's record so that the records written before partial
//! refunds existed still read: a `Refunded` record without a total was
//! refunded in full.
//!
//! A key is used at most once: either one charge is recorded under it, or
//! it is voided and every later charge under it is refused. Both happen in
//! one write transaction each, so a void and a charge racing for the same
//! key are ordered, and the void's answer ("this charge was made" or "no
//! charge was, and none ever will be") is final.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

mod journal;
use journal::Journal;
use nix::fcntl::{Flock, FlockArg};

const TRANSACTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("transactions");
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
const BY_USER: TableDefinition<(&str, i64, &str), ()> = TableDefinition::new("by_user");
const VOIDED: TableDefinition<&str, i64> = TableDefinition::new("voided");
const REFUNDS: TableDefinition<&str, &[u8]> = TableDefinition::new("refunds");
const REFUNDED: TableDefinition<&str, i64> = TableDefinition::new("refunded");
/// `journal_seq` → the last journal group redb holds durably.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const JOURNAL_SEQ: &str = "journal_seq";
/// `ledger_id` → a random id, made when the ledger is, which its journal
/// carries too.
const LEDGER_ID: &str = "ledger_id";
/// A group whose journal record would be larger commits durably in redb
/// instead (a group of [`crate::service`]'s at most 512 writes of at most
/// a few KiB each stays well under it).
const MAX_JOURNAL_GROUP: usize = 16 << 20;

/// A group commit that redb makes durable itself (a checkpoint) after this
/// many groups went through the journal...
const CHECKPOINT_GROUPS: u32 = 256;
/// ...or once the journal holds this many bytes.
const CHECKPOINT_BYTES: u64 = 4 << 20;

/// Where a transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Charged.
    Succeeded,
    /// Declined: nothing charged.
    Declined,
    /// Charged, then refunded in full.
    Refunded,
    /// Charged, then refunded in part: the rest of the charge stands.
    /// (Last, so that the records written before it still read.)
    PartiallyRefunded,
}

/// One transaction as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// `tx_…`.
    pub id: String,
    /// The charge's idempotency key.
    pub idempotency_key: String,
    /// Who paid.
    pub user_id: String,
    /// Cents.
    pub amount_cents: i64,
    /// ISO 4217.
    pub currency: String,
    /// Status.
    pub status: Status,
    /// Last four digits of the card.
    pub card_last4: String,
    /// Why declined.
    pub decline_reason: String,
    /// What for.
    pub description: String,
    /// Created, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Latest refund, ms since the Unix epoch (0 if none).
    pub refunded_at_ms: i64,
    /// Cents refunded so far, 0 to `amount_cents`. Not part of the stored
    /// record (which keeps the format from before partial refunds): it is
    /// kept in the `refunded` table and filled in by every read.
    #[serde(skip)]
    pub refunded_cents: i64,
}

/// The parameters an idempotency key is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeParams {
    /// Who pays.
    pub user_id: String,
    /// Cents.
    pub amount_cents: i64,
    /// ISO 4217.
    pub currency: String,
    /// Last four digits.
    pub card_last4: String,
    /// What for.
    pub description: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyRecord {
    params: ChargeParams,
    transaction_id: String,
}

/// A refund to make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The charge to refund.
    pub transaction_id: String,
    /// Cents to refund; 0 refunds all that remains of the charge.
    pub amount_cents: i64,
    /// The refund's idempotency key; `None` for the old full refund, keyed
    /// by the transaction itself (then `amount_cents` must be 0).
    pub key: Option<String>,
}

/// A refund as recorded under its key.
#[derive(Debug, Serialize, Deserialize)]
struct RefundRecord {
    /// The charge refunded.
    transaction_id: String,
    /// The amount asked for (0: all that remained), which a repeat of the
    /// key must ask for again.
    requested_cents: i64,
    /// The cents this refund moved.
    refunded_cents: i64,
    /// When, ms since the Unix epoch.
    refunded_at_ms: i64,
}

/// A ledger failure.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The idempotency key was used for a charge with other parameters.
    #[error("idempotency key {0:?} was already used with different parameters")]
    KeyReused(String),
    /// No such transaction.
    #[error("transaction {0} not found")]
    NotFound(String),
    /// Only a successful charge can be refunded.
    #[error("transaction {0} was declined: there is nothing to refund")]
    NotRefundable(String),
    /// The refund key was used for a refund of this transaction of another amount.
    #[error("refund key {0:?} was already used for a refund of another amount")]
    RefundKeyReused(String),
    /// The refund asks for more than the whole charge.
    #[error(
        "a refund of {amount_cents} cents exceeds transaction {id}'s charge of {charged_cents} cents"
    )]
    RefundExceedsCharge {
        /// The transaction.
        id: String,
        /// Cents asked for.
        amount_cents: i64,
        /// Cents charged.
        charged_cents: i64,
    },
    /// The refund asks for more than what remains of the charge.
    #[error(
        "a refund of {amount_cents} cents exceeds the {remaining_cents} cents that remain of \
         transaction {id}: nothing was refunded"
    )]
    RefundExceedsRemainder {
        /// The transaction.
        id: String,
        /// Cents asked for.
        amount_cents: i64,
        /// Cents charged and not yet refunded.
        remaining_cents: i64,
    },
    /// The refund is malformed (a negative amount, or a partial refund without a key).
    #[error("bad refund: {0}")]
    BadRefund(String),
    /// The idempotency key was voided: no charge can be made under it.
    #[error("idempotency key {0:?} was voided: the order was abandoned, nothing was charged")]
    Voided(String),
    /// Storage failed.
    #[error("ledger storage: {0}")]
    Storage(String),
    /// Another process has the ledger open.
    #[error("{0}")]
    Locked(String),
}

fn storage(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Storage(e.to_string())
}

/// `Voided` if `key` is in the voided table.
fn refuse_voided(
    voided: &impl ReadableTable<&'static str, i64>,
    key: &str,
) -> Result<(), LedgerError> {
    match voided.get(key).map_err(storage)? {
        Some(_) => Err(LedgerError::Voided(key.to_owned())),
        None => Ok(()),
    }
}

/// The transaction `id` with its refunded total, if there is one.
fn load(
    transactions: &impl ReadableTable<&'static str, &'static [u8]>,
    refunded: &impl ReadableTable<&'static str, i64>,
    id: &str,
) -> Result<Option<Transaction>, LedgerError> {
    let Some(raw) = transactions.get(id).map_err(storage)? else {
        return Ok(None);
    };
    let mut tx: Transaction = postcard::from_bytes(raw.value()).map_err(storage)?;
    tx.refunded_cents = match refunded.get(id).map_err(storage)? {
        Some(total) => total.value(),
        // Refunded before totals were kept: refunds were full then.
        None if tx.status == Status::Refunded => tx.amount_cents,
        None => 0,
    };
    Ok(Some(tx))
}

/// One write to the ledger, for [`Ledger::apply`]. It carries everything
/// its outcome depends on (the new transaction, the time), so applying the
/// same writes to the same ledger gives the same result: that is how the
/// journal replays them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Write {
    /// Record a charge under its key, unless the key already has one
    /// (then that one is its outcome, or KeyReused if the parameters
    /// differ) or was voided (Voided).
    Charge(Box<NewCharge>),
    /// Refund `refund.amount_cents` of a successful charge (all that
    /// remains if 0); the outcome is the transaction as it then stands.
    ///
    /// Under a key, the refund is recorded with the charge's new total:
    /// the same key again with the same transaction and amount returns the
    /// transaction as it stands without refunding again; with another
    /// amount it is `RefundKeyReused`. Keys are scoped to the transaction.
    /// A keyed refund of the whole charge when it is refunded in full
    /// already moves nothing and succeeds. Without a key (the old full
    /// refund) it refunds what remains. A refund past the charge
    /// (`RefundExceedsCharge`) or past what remains (`RefundExceedsRemainder`),
    /// or of a declined charge (`NotRefundable`), changes nothing.
    Refund {
        /// What to refund.
        refund: Refund,
        /// Now, ms since the Unix epoch.
        now_ms: i64,
    },
    /// Close a key: the outcome is the charge already made under it, if
    /// any; otherwise no charge can ever be made under it. Voiding twice is
    /// harmless.
    Void {
        /// The charge's idempotency key.
        key: String,
        /// Now, ms since the Unix epoch.
        now_ms: i64,
    },
}

/// What one write of [`Ledger::apply`] did, by kind.
#[derive(Debug)]
pub enum Written {
    /// A charge's outcome.
    Charge(Result<Charged, LedgerError>),
    /// A refund's: the transaction as it then stands.
    Refund(Result<Transaction, LedgerError>),
    /// A void's: the charge made under the key, if one was.
    Void(Result<Option<Transaction>, LedgerError>),
}

/// The ledger's tables, open in one write transaction. Each operation
/// returns `Err` for a storage failure (the batch is lost) and `Ok(Err)`
/// for a write refused, which it refuses before changing anything.
struct Tables<'t> {
    transactions: redb::Table<'t, &'static str, &'static [u8]>,
    keys: redb::Table<'t, &'static str, &'static [u8]>,
    by_user: redb::Table<'t, (&'static str, i64, &'static str), ()>,
    voided: redb::Table<'t, &'static str, i64>,
    refunds: redb::Table<'t, &'static str, &'static [u8]>,
    refunded: redb::Table<'t, &'static str, i64>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t redb::WriteTransaction) -> Result<Self, LedgerError> {
        Ok(Self {
            transactions: txn.open_table(TRANSACTIONS).map_err(storage)?,
            keys: txn.open_table(KEYS).map_err(storage)?,
            by_user: txn.open_table(BY_USER).map_err(storage)?,
            voided: txn.open_table(VOIDED).map_err(storage)?,
            refunds: txn.open_table(REFUNDS).map_err(storage)?,
            refunded: txn.open_table(REFUNDED).map_err(storage)?,
        })
    }

    /// Applies `writes` in order; each write's outcome, and whether any
    /// of them changed the ledger.
    fn apply(&mut self, writes: Vec<Write>) -> Result<(Vec<Written>, bool), LedgerError> {
        let mut changed = false;
        let mut outcomes = Vec::with_capacity(writes.len());
        for write in writes {
            outcomes.push(match write {
                Write::Charge(charge) => Written::Charge(self.charge(*charge, &mut changed)?),
                Write::Refund { refund, now_ms } => {
                    Written::Refund(self.refund(&refund, now_ms, &mut changed)?)
                }
                Write::Void { key, now_ms } => {
                    Written::Void(self.void(&key, now_ms, &mut changed)?)
                }
            });
        }
        Ok((outcomes, changed))
    }

    /// The charge bound to `key`, if one was made.
    fn charge_of(&self, key: &str) -> Result<Option<KeyRecord>, LedgerError> {
        self.keys
            .get(key)
            .map_err(storage)?
            .map(|raw| postcard::from_bytes::<KeyRecord>(raw.value()).map_err(storage))
            .transpose()
    }

    fn charge(
        &mut self,
        NewCharge { key, params, tx }: NewCharge,
        changed: &mut bool,
    ) -> Result<Result<Charged, LedgerError>, LedgerError> {
        if let Err(refused) = refuse_voided(&self.voided, &key) {
            return Ok(Err(refused));
        }
        if let Some(record) = self.charge_of(&key)? {
            if record.params != params {
                return Ok(Err(LedgerError::KeyReused(key)));
            }
            let found = load(&self.transactions, &self.refunded, &record.transaction_id)?;
            return Ok(found
                .map(Charged::Replayed)
                .ok_or(LedgerError::NotFound(record.transaction_id)));
        }
        let record = KeyRecord {
            params,
            transaction_id: tx.id.clone(),
        };
        self.keys
            .insert(
                key.as_str(),
                postcard::to_allocvec(&record).map_err(storage)?.as_slice(),
            )
            .map_err(storage)?;
        self.transactions
            .insert(
                tx.id.as_str(),
                postcard::to_allocvec(&tx).map_err(storage)?.as_slice(),
            )
            .map_err(storage)?;
        self.by_user
            .insert((tx.user_id.as_str(), tx.created_at_ms, tx.id.as_str()), ())
            .map_err(storage)?;
        *changed = true;
        Ok(Ok(Charged::New(tx)))
    }

    fn refund(
        &mut self,
        refund: &Refund,
        now_ms: i64,
        changed: &mut bool,
    ) -> Result<Result<Transaction, LedgerError>, LedgerError> {
        let Refund {
            transaction_id: id,
            amount_cents: asked,
            key,
        } = refund;
        let (id, asked) = (id.as_str(), *asked);
        if asked < 0 {
            return Ok(Err(LedgerError::BadRefund(format!(
                "amount_cents must not be negative, not {asked}"
            ))));
        }
        if key.is_none() && asked != 0 {
            return Ok(Err(LedgerError::BadRefund(
                "a partial refund needs a refund key".into(),
            )));
        }
        let not_found = || LedgerError::NotFound(id.to_owned());
        // Keys are scoped to their transaction: whoever refunds one
        // charge cannot take a key that another charge's refund needs.
        let scoped = key
            .as_ref()
            .map(|key| format!("{id}{REFUND_KEY_SEPARATOR}{key}"));
        if let (Some(key), Some(scoped)) = (key, &scoped) {
            let recorded = self
                .refunds
                .get(scoped.as_str())
                .map_err(storage)?
                .map(|raw| postcard::from_bytes::<RefundRecord>(raw.value()))
                .transpose()
                .map_err(storage)?;
            if let Some(record) = recorded {
                if record.requested_cents != asked {
                    return Ok(Err(LedgerError::RefundKeyReused(key.clone())));
                }
                return Ok(load(&self.transactions, &self.refunded, id)?.ok_or_else(not_found));
            }
        }
        let Some(mut tx) = load(&self.transactions, &self.refunded, id)? else {
            return Ok(Err(not_found()));
        };
        if tx.status == Status::Declined {
            return Ok(Err(LedgerError::NotRefundable(id.to_owned())));
        }
        if asked > tx.amount_cents {
            return Ok(Err(LedgerError::RefundExceedsCharge {
                id: id.to_owned(),
                amount_cents: asked,
                charged_cents: tx.amount_cents,
            }));
        }
        let remaining = tx.amount_cents - tx.refunded_cents;
        let moved = if asked == 0 || (remaining == 0 && asked == tx.amount_cents) {
            // A refund of the whole charge, refunded in full already
            // (by an older version, without a key): the money is back;
            // it moves nothing and succeeds.
            remaining
        } else {
            asked
        };
        if moved > remaining {
            return Ok(Err(LedgerError::RefundExceedsRemainder {
                id: id.to_owned(),
                amount_cents: asked,
                remaining_cents: remaining,
            }));
        }
        if moved > 0 {
            tx.refunded_cents += moved;
            tx.refunded_at_ms = now_ms;
            tx.status = if tx.refunded_cents == tx.amount_cents {
                Status::Refunded
            } else {
                Status::PartiallyRefunded
            };
            self.transactions
                .insert(id, postcard::to_allocvec(&tx).map_err(storage)?.as_slice())
                .map_err(storage)?;
            self.refunded
                .insert(id, tx.refunded_cents)
                .map_err(storage)?;
            *changed = true;
        }
        // A full refund of a charge refunded in full moved nothing and is
        // still recorded under its key, so that the key stays bound;
        // without a key, nothing moved means nothing to write.
        if let Some(scoped) = scoped {
            let record = RefundRecord {
                transaction_id: id.to_owned(),
                requested_cents: asked,
                refunded_cents: moved,
                refunded_at_ms: now_ms,
            };
            self.refunds
                .insert(
                    scoped.as_str(),
                    postcard::to_allocvec(&record).map_err(storage)?.as_slice(),
                )
                .map_err(storage)?;
            *changed = true;
        }
        Ok(Ok(tx))
    }

    fn void(
        &mut self,
        key: &str,
        now_ms: i64,
        changed: &mut bool,
    ) -> Result<Result<Option<Transaction>, LedgerError>, LedgerError> {
        if let Some(record) = self.charge_of(key)? {
            return Ok(
                load(&self.transactions, &self.refunded, &record.transaction_id)?
                    .map(Some)
                    .ok_or(LedgerError::NotFound(record.transaction_id)),
            );
        }
        if self.voided.get(key).map_err(storage)?.is_none() {
            self.voided.insert(key, now_ms).map_err(storage)?;
            *changed = true;
        }
        Ok(Ok(None))
    }
}

/// The ledger. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    db: Arc<Database>,
    /// The journal, and where group commits stand; [`Ledger::apply`] holds
    /// it for the whole group, so groups are applied one at a time.
    writer: Arc<Mutex<Writer>>,
    /// Groups replayed from the journal when it opened.
    replayed: u64,
    /// The lock on the ledger's lock file, held while any clone lives.
    _lock: Arc<Flock<File>>,
}

/// Where the ledger's group commits stand against its journal.
struct Writer {
    journal: Journal,
    /// The last group written (to the journal, or durably to redb).
    seq: u64,
    /// Groups in the journal since the last checkpoint.
    groups: u32,
    /// Groups between checkpoints ([`CHECKPOINT_GROUPS`]; tests lower it).
    checkpoint_groups: u32,
    /// Set when a group reached the journal but not redb: the two disagree
    /// until a restart replays the journal, so nothing more is written.
    broken: Option<String>,
    /// Tests: the next journal write fails as a full disk would.
    #[cfg(test)]
    fail_journal: bool,
    /// Tests: the next commit after a journal write fails.
    #[cfg(test)]
    fail_commit: bool,
}

/// The refund key of a restore's refund of a charge, before the
/// transaction's id: only `boxoffice restore` writes it (the service's
/// API refuses it), so a backup can tell those refunds from others.
pub const RESTORE_REFUND: &str = "restore:";

/// Between a transaction's id and a refund key in the refunds table's
/// keys (refund keys are scoped to their transaction).
const REFUND_KEY_SEPARATOR: char = '\n';

/// The journal file beside the ledger at `path`.
fn journal_path(path: &Path) -> PathBuf {
    path.with_extension("journal")
}

/// The lock file beside the ledger at `path`.
fn lock_path(path: &Path) -> PathBuf {
    path.with_extension("lock")
}

/// Takes the exclusive lock of the ledger at `path` (an advisory `flock`
/// of its lock file, released when the process ends however it ends), or
/// says who holds it.
fn lock(path: &Path) -> Result<Flock<File>, LedgerError> {
    use std::os::unix::fs::OpenOptionsExt;
    let lock_file = lock_path(path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        // Not through a link, and not blocked by a FIFO in its place.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&lock_file)
        .map_err(|e| storage(format!("{}: {e}", lock_file.display())))?;
    if !file.metadata().map_err(storage)?.is_file() {
        return Err(LedgerError::Storage(format!(
            "{} is not a plain file",
            lock_file.display()
        )));
    }
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == nix::errno::Errno::EWOULDBLOCK {
            LedgerError::Locked(format!(
                "the ledger {} is open in another process (its lock {} is held): one payment service per data directory",
                path.display(),
                lock_file.display()
            ))
        } else {
            storage(format!("locking {}: {errno}", lock_file.display()))
        }
    })
}

/// A charge to record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewCharge {
    /// Its idempotency key.
    pub key: String,
    /// The parameters the key is bound to.
    pub params: ChargeParams,
    /// The transaction to record if the key is new.
    pub tx: Transaction,
}

/// What a charge attempt found or did.
#[derive(Debug, PartialEq, Eq)]
pub enum Charged {
    /// A new transaction was recorded.
    New(Transaction),
    /// The key was used before with the same parameters: its transaction.
    Replayed(Transaction),
}

impl Ledger {
    /// Opens (or creates) the ledger at `path`, with its journal beside
    /// it, and replays the journal's groups that redb does not hold
    /// durably (those written since its last checkpoint).
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(storage)?;
        }
        // One process at a time, before any file is looked at: two
        // services started on one empty directory would otherwise both
        // find no ledger, and the one refused would remove the files the
        // other had just made and is writing to.
        let lock = Arc::new(lock(path)?);
        Self::open_locked(path, &lock)
    }

    /// [`Ledger::open`] under `lock`, held until any file a refused open
    /// made is removed.
    fn open_locked(path: &Path, lock: &Arc<Flock<File>>) -> Result<Self, LedgerError> {
        if std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink()) {
            return Err(LedgerError::Storage(format!(
                "ledger {} is a symbolic link; refusing to follow it",
                path.display()
            )));
        }
        // Leave no file this open created behind a refused open.
        // (A link is there even when what it names is not: never removed.)
        let created: Vec<PathBuf> = [path.to_path_buf(), journal_path(path)]
            .into_iter()
            .filter(|file| std::fs::symlink_metadata(file).is_err())
            .collect();
        let opened = Self::open_existing(path, lock.clone());
        if opened.is_err() {
            for file in created {
                let _ = std::fs::remove_file(file);
            }
        }
        opened
    }

    fn open_existing(path: &Path, lock: Arc<Flock<File>>) -> Result<Self, LedgerError> {
        let db = Database::create(path).map_err(storage)?;
        // The ledger's id is durable before its journal can carry it.
        let txn = db.begin_write().map_err(storage)?;
        let id = {
            let mut meta = txn.open_table(META).map_err(storage)?;
            let id = meta.get(LEDGER_ID).map_err(storage)?.map(|id| id.value());
            match id {
                Some(id) => id,
                None => {
                    let id = rand::random();
                    meta.insert(LEDGER_ID, id).map_err(storage)?;
                    id
                }
            }
        };
        txn.commit().map_err(storage)?;
        let txn = db.begin_write().map_err(storage)?;
        let (mut journal, mut seq, durable);
        {
            let mut tables = Tables::open(&txn)?;
            let mut meta = txn.open_table(META).map_err(storage)?;
            seq = meta
                .get(JOURNAL_SEQ)
                .map_err(storage)?
                .map_or(0, |v| v.value());
            durable = seq;
            let records;
            (journal, records) = Journal::open(&journal_path(path), id, durable)?;
            for record in records.into_iter().filter(|r| r.seq > durable) {
                if record.seq != seq + 1 {
                    return Err(LedgerError::Storage(format!(
                        "ledger journal: group {} follows group {seq}; a group is missing",
                        record.seq
                    )));
                }
                tables.apply(record.writes)?;
                seq = record.seq;
            }
            if seq > durable {
                tracing::info!(
                    groups = seq - durable,
                    "replayed the ledger journal's groups written since the last checkpoint"
                );
                meta.insert(JOURNAL_SEQ, seq).map_err(storage)?;
            }
        }
        txn.commit().map_err(storage)?;
        journal.clear().map_err(storage)?;
        let replayed = seq - durable;
        let writer = Writer {
            journal,
            seq,
            groups: 0,
            checkpoint_groups: CHECKPOINT_GROUPS,
            broken: None,
            #[cfg(test)]
            fail_journal: false,
            #[cfg(test)]
            fail_commit: false,
        };
        Ok(Self {
            db: Arc::new(db),
            writer: Arc::new(Mutex::new(writer)),
            replayed,
            _lock: lock,
        })
    }

    /// The first of the files of a ledger at `path` (the redb file and its
    /// journal) that exists, if any.
    pub fn existing_file(path: &Path) -> Option<PathBuf> {
        // A link counts, even one to what is not there.
        [path.to_path_buf(), journal_path(path)]
            .into_iter()
            .find(|file| std::fs::symlink_metadata(file).is_ok())
    }

    /// How many groups opening the ledger replayed from its journal.
    pub fn replayed(&self) -> u64 {
        self.replayed
    }

    /// Why the ledger stopped writing, if it has: a write to the journal
    /// or to redb failed part way (a group may be in the journal and not
    /// in redb, or where the journal ends is unknown), and only a restart,
    /// which reads the journal again, makes the two agree.
    pub fn broken(&self) -> Option<String> {
        match self.writer.lock() {
            Ok(writer) => writer.broken.clone(),
            Err(_) => Some("the ledger writer panicked".into()),
        }
    }

    /// Applies several writes as one group commit, in order: a later
    /// write in the group sees the earlier ones, exactly as if each had
    /// committed alone. Durable when it returns. The outer error is a
    /// storage failure (nothing was recorded); the inner ones are each
    /// write's outcome, and a write refused changes nothing. A group that
    /// changes nothing (replays, refusals, voids of charged keys) commits
    /// nothing, so it costs no fsync.
    ///
    /// A group is made durable by appending its writes to the journal and
    /// syncing that (one `fdatasync`), and only then committed to redb
    /// without a sync of its own: redb's durable commit costs about twice
    /// the CPU and time. Readers see a group only after that commit, so
    /// they never see a write that is not durable. Every 256 groups (or
    /// 4 MiB of journal) one group commits durably in redb instead, and
    /// the journal is emptied. Every group records its number in redb.
    pub fn apply(&self, writes: Vec<Write>) -> Result<Vec<Written>, LedgerError> {
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| storage("the ledger writer panicked"))?;
        if let Some(problem) = &writer.broken {
            return Err(LedgerError::Storage(format!(
                "the ledger stopped writing after an earlier failure ({problem}); \
                 restart the payment service"
            )));
        }
        let record = postcard::to_allocvec(&writes).map_err(storage)?;
        let checkpoint = writer.groups >= writer.checkpoint_groups
            || writer.journal.len() >= CHECKPOINT_BYTES
            || record.len() > MAX_JOURNAL_GROUP;
        let mut txn = self.db.begin_write().map_err(storage)?;
        let (outcomes, changed) = {
            let mut tables = Tables::open(&txn)?;
            tables.apply(writes)?
        };
        if !changed {
            txn.abort().map_err(storage)?;
            return Ok(outcomes);
        }
        // Every group records its number: redb's state then always says
        // which groups it holds, whether a crash took its last commits away
        // or a clean close made them durable.
        let seq = writer.seq + 1;
        txn.open_table(META)
            .map_err(storage)?
            .insert(JOURNAL_SEQ, seq)
            .map_err(storage)?;
        if checkpoint {
            if let Err(e) = txn.commit() {
                writer.broken = Some(format!("checkpoint commit: {e}"));
                return Err(storage(e));
            }
            writer.seq = seq;
            writer.groups = 0;
            // Where the next record goes is unknown if the emptying failed
            // part way: write nothing more (a restart reads the file again).
            if let Err(e) = writer.journal.clear() {
                writer.broken = Some(format!("emptying the journal after a checkpoint: {e}"));
            }
            return Ok(outcomes);
        }
        txn.set_durability(Durability::None).map_err(storage)?;
        #[cfg(test)]
        if std::mem::take(&mut writer.fail_journal) {
            writer.broken = Some("journal append: no space left on device".into());
            return Err(storage("no space left on device"));
        }
        if let Err(e) = writer.journal.append(seq, &record) {
            // The file may now end in a torn record: append nothing more.
            writer.broken = Some(format!("journal append: {e}"));
            return Err(storage(e));
        }
        #[cfg(test)]
        if std::mem::take(&mut writer.fail_commit) {
            writer.broken = Some("commit after the journal: injected".into());
            return Err(storage("injected commit failure"));
        }
        if let Err(e) = txn.commit() {
            writer.broken = Some(format!("commit after the journal: {e}"));
            return Err(storage(e));
        }
        writer.seq = seq;
        writer.groups += 1;
        Ok(outcomes)
    }

    /// Checkpoints every `groups` groups instead of every
    /// [`CHECKPOINT_GROUPS`].
    #[cfg(test)]
    fn checkpoint_every(&self, groups: u32) {
        self.writer.lock().unwrap().checkpoint_groups = groups;
    }

    /// Makes the next journal write fail.
    #[cfg(test)]
    pub(crate) fn fail_next_journal_write(&self) {
        self.writer.lock().unwrap().fail_journal = true;
    }

    /// Makes the next commit after a journal write fail: the group is in
    /// the journal, not in redb.
    #[cfg(test)]
    pub(crate) fn fail_next_commit(&self) {
        self.writer.lock().unwrap().fail_commit = true;
    }

    /// One transaction by id.
    pub fn get(&self, id: &str) -> Result<Option<Transaction>, LedgerError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let transactions = txn.open_table(TRANSACTIONS).map_err(storage)?;
        let refunded = txn.open_table(REFUNDED).map_err(storage)?;
        load(&transactions, &refunded, id)
    }

    /// The transaction of a charge's idempotency key.
    pub fn by_key(&self, key: &str) -> Result<Option<Transaction>, LedgerError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let keys = txn.open_table(KEYS).map_err(storage)?;
        let Some(raw) = keys.get(key).map_err(storage)? else {
            return Ok(None);
        };
        let record: KeyRecord = postcard::from_bytes(raw.value()).map_err(storage)?;
        drop(keys);
        drop(txn);
        self.get(&record.transaction_id)
    }

    /// A user's transactions, newest first.
    pub fn list_user(&self, user: &str) -> Result<Vec<Transaction>, LedgerError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let by_user = txn.open_table(BY_USER).map_err(storage)?;
        let transactions = txn.open_table(TRANSACTIONS).map_err(storage)?;
        let refunded = txn.open_table(REFUNDED).map_err(storage)?;
        let mut out = Vec::new();
        for item in by_user
            .range((user, i64::MIN, "")..=(user, i64::MAX, "\u{10FFFF}"))
            .map_err(storage)?
        {
            let (k, _) = item.map_err(storage)?;
            let (_, _, id) = k.value();
            if let Some(tx) = load(&transactions, &refunded, id)? {
                out.push(tx);
            }
        }
        out.reverse();
        Ok(out)
    }
}

/// The whole ledger as one read transaction saw it: every table's rows,
/// raw, for a backup ([`Ledger::dump`]) that seeds a new ledger
/// ([`Ledger::restore`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerDump {
    /// `transactions`: id → record.
    pub transactions: Vec<(String, Vec<u8>)>,
    /// `keys`: idempotency key → the charge's parameters and transaction.
    pub keys: Vec<(String, Vec<u8>)>,
    /// `by_user`: (user, created, id).
    pub by_user: Vec<(String, i64, String)>,
    /// `voided`: idempotency key → when.
    pub voided: Vec<(String, i64)>,
    /// `refunds`: refund key → the refund.
    pub refunds: Vec<(String, Vec<u8>)>,
    /// `refunded`: transaction id → cents refunded so far.
    pub refunded: Vec<(String, i64)>,
}

impl LedgerDump {
    /// Every transaction of the dump, decoded (with its refunded total).
    pub fn transactions(&self) -> Result<Vec<Transaction>, LedgerError> {
        self.transactions
            .iter()
            .map(|(_, raw)| postcard::from_bytes::<Transaction>(raw).map_err(storage))
            .collect()
    }

    /// Every keyed refund of the dump, as (transaction id, refund key).
    pub fn refund_keys(&self) -> impl Iterator<Item = (&str, &str)> {
        self.refunds
            .iter()
            .filter_map(|(scoped, _)| scoped.split_once(REFUND_KEY_SEPARATOR))
    }
}

/// Every row of a `&str`-keyed table.
fn rows<V: redb::Value + OwnedOf + 'static>(
    table: &impl ReadableTable<&'static str, V>,
    value: impl Fn(V::SelfType<'_>) -> <V as OwnedOf>::Owned,
) -> Result<Vec<(String, <V as OwnedOf>::Owned)>, LedgerError> {
    let mut out = Vec::new();
    for item in table.iter().map_err(storage)? {
        let (k, v) = item.map_err(storage)?;
        out.push((k.value().to_owned(), value(v.value())));
    }
    Ok(out)
}

/// The owned form of a table's value type.
trait OwnedOf {
    type Owned;
}

impl OwnedOf for &[u8] {
    type Owned = Vec<u8>;
}

impl OwnedOf for i64 {
    type Owned = i64;
}

impl Ledger {
    /// Every table's rows in one read transaction: a consistent picture
    /// of the ledger while it keeps taking charges.
    pub fn dump(&self) -> Result<LedgerDump, LedgerError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let mut by_user = Vec::new();
        for item in txn
            .open_table(BY_USER)
            .map_err(storage)?
            .iter()
            .map_err(storage)?
        {
            let (k, _) = item.map_err(storage)?;
            let (user, created, id) = k.value();
            by_user.push((user.to_owned(), created, id.to_owned()));
        }
        Ok(LedgerDump {
            transactions: rows(
                &txn.open_table(TRANSACTIONS).map_err(storage)?,
                <[u8]>::to_vec,
            )?,
            keys: rows(&txn.open_table(KEYS).map_err(storage)?, <[u8]>::to_vec)?,
            by_user,
            voided: rows(&txn.open_table(VOIDED).map_err(storage)?, |v| v)?,
            refunds: rows(&txn.open_table(REFUNDS).map_err(storage)?, <[u8]>::to_vec)?,
            refunded: rows(&txn.open_table(REFUNDED).map_err(storage)?, |v| v)?,
        })
    }

    /// Writes `dump` as a new ledger at `path`, in one transaction; refuses
    /// a path where a ledger exists, and a dump whose records do not
    /// decode (nothing is written then).
    pub fn restore(path: &Path, dump: &LedgerDump) -> Result<(), LedgerError> {
        Self::restore_with(path, dump, &[], Vec::new()).map(|_| ())
    }

    /// [`Ledger::restore`] without the idempotency keys `freed` (their
    /// charges and voids are kept as history, but a charge under one of
    /// them is made anew: the restored cluster may give out those keys
    /// again, for orders of its own), then `writes` applied in the same
    /// transaction: all of it is written, or none (a write refused
    /// refuses the whole restore). Their outcomes.
    pub fn restore_with(
        path: &Path,
        dump: &LedgerDump,
        freed: &[String],
        writes: Vec<Write>,
    ) -> Result<Vec<Written>, LedgerError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(storage)?;
        }
        // Held from the check that the directory is fresh to the removal
        // of a failed restore's files: a service started on the same
        // directory meanwhile is refused, and its files are never taken
        // for the restore's.
        let lock = Arc::new(lock(path)?);
        if let Some(file) = Self::existing_file(path) {
            return Err(LedgerError::Storage(format!(
                "{} exists: restore into a fresh data directory",
                file.display()
            )));
        }
        dump.transactions()?;
        for (_, raw) in &dump.keys {
            postcard::from_bytes::<KeyRecord>(raw).map_err(storage)?;
        }
        for (_, raw) in &dump.refunds {
            postcard::from_bytes::<RefundRecord>(raw).map_err(storage)?;
        }
        let written = Self::write_restored(path, dump, freed, writes, &lock);
        if written.is_err() {
            // All or none: no half-restored ledger is left to be mistaken
            // for a whole one.
            for file in [path.to_path_buf(), journal_path(path)] {
                let _ = std::fs::remove_file(file);
            }
        }
        written
    }

    fn write_restored(
        path: &Path,
        dump: &LedgerDump,
        freed: &[String],
        writes: Vec<Write>,
        lock: &Arc<Flock<File>>,
    ) -> Result<Vec<Written>, LedgerError> {
        let freed: std::collections::HashSet<&str> = freed.iter().map(String::as_str).collect();
        let kept = |key: &String| !freed.contains(key.as_str());
        let ledger = Self::open_locked(path, lock)?;
        let txn = ledger.db.begin_write().map_err(storage)?;
        {
            let mut t = txn.open_table(TRANSACTIONS).map_err(storage)?;
            for (k, v) in &dump.transactions {
                t.insert(k.as_str(), v.as_slice()).map_err(storage)?;
            }
            let mut t = txn.open_table(KEYS).map_err(storage)?;
            for (k, v) in dump.keys.iter().filter(|(k, _)| kept(k)) {
                t.insert(k.as_str(), v.as_slice()).map_err(storage)?;
            }
            let mut t = txn.open_table(BY_USER).map_err(storage)?;
            for (user, created, id) in &dump.by_user {
                t.insert((user.as_str(), *created, id.as_str()), ())
                    .map_err(storage)?;
            }
            let mut t = txn.open_table(VOIDED).map_err(storage)?;
            for (k, v) in dump.voided.iter().filter(|(k, _)| kept(k)) {
                t.insert(k.as_str(), *v).map_err(storage)?;
            }
            let mut t = txn.open_table(REFUNDS).map_err(storage)?;
            for (k, v) in &dump.refunds {
                t.insert(k.as_str(), v.as_slice()).map_err(storage)?;
            }
            let mut t = txn.open_table(REFUNDED).map_err(storage)?;
            for (k, v) in &dump.refunded {
                t.insert(k.as_str(), *v).map_err(storage)?;
            }
        }
        let (outcomes, _) = Tables::open(&txn)?.apply(writes)?;
        for (i, outcome) in outcomes.iter().enumerate() {
            let refused = match outcome {
                Written::Charge(Err(e)) | Written::Refund(Err(e)) | Written::Void(Err(e)) => e,
                _ => continue,
            };
            return Err(LedgerError::Storage(format!(
                "write {i} of the restore was refused ({refused}); nothing was restored"
            )));
        }
        txn.commit().map_err(storage)?;
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests;
