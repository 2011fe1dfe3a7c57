//! The durable ledger: every transaction and every idempotency key, in
//! redb. A reply is sent only after the write transaction has committed
//! (redb's default, fsynced durability), so a charge acknowledged is never
//! lost across a crash or restart.
//!
//! Tables: `transactions` (id → record), `keys` (idempotency key → the
//! charge's parameters and its transaction id), `by_user` ((user, created,
//! id) → ()), `voided` (idempotency key → when it was voided). Keys are
//! kept for good, which satisfies "at least 24 hours".
//!
//! A key is used at most once: either one charge is recorded under it, or
//! it is voided and every later charge under it is refused. Both happen in
//! one write transaction each, so a void and a charge racing for the same
//! key are ordered, and the void's answer ("this charge was made" or "no
//! charge was, and none ever will be") is final.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

const TRANSACTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("transactions");
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
const BY_USER: TableDefinition<(&str, i64, &str), ()> = TableDefinition::new("by_user");
const VOIDED: TableDefinition<&str, i64> = TableDefinition::new("voided");

/// Where a transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Charged.
    Succeeded,
    /// Declined: nothing charged.
    Declined,
    /// Charged, then refunded in full.
    Refunded,
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
    /// Refunded, ms since the Unix epoch (0 if not).
    pub refunded_at_ms: i64,
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

#[derive(Serialize, Deserialize)]
struct KeyRecord {
    params: ChargeParams,
    transaction_id: String,
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
    /// The idempotency key was voided: no charge can be made under it.
    #[error("idempotency key {0:?} was voided: the order was abandoned, nothing was charged")]
    Voided(String),
    /// Storage failed.
    #[error("ledger storage: {0}")]
    Storage(String),
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

/// The ledger. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    db: Arc<Database>,
}

/// A charge to record.
#[derive(Clone, Debug)]
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
    /// Opens (or creates) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(storage)?;
        }
        let db = Database::create(path).map_err(storage)?;
        let txn = db.begin_write().map_err(storage)?;
        txn.open_table(TRANSACTIONS).map_err(storage)?;
        txn.open_table(KEYS).map_err(storage)?;
        txn.open_table(BY_USER).map_err(storage)?;
        txn.open_table(VOIDED).map_err(storage)?;
        txn.commit().map_err(storage)?;
        Ok(Self { db: Arc::new(db) })
    }

    /// The transaction a key is bound to, checking the parameters match.
    pub fn replay(
        &self,
        key: &str,
        params: &ChargeParams,
    ) -> Result<Option<Transaction>, LedgerError> {
        let txn = self.db.begin_read().map_err(storage)?;
        refuse_voided(&txn.open_table(VOIDED).map_err(storage)?, key)?;
        let keys = txn.open_table(KEYS).map_err(storage)?;
        let Some(raw) = keys.get(key).map_err(storage)? else {
            return Ok(None);
        };
        let record: KeyRecord = postcard::from_bytes(raw.value()).map_err(storage)?;
        if &record.params != params {
            return Err(LedgerError::KeyReused(key.to_owned()));
        }
        let transactions = txn.open_table(TRANSACTIONS).map_err(storage)?;
        let raw = transactions
            .get(record.transaction_id.as_str())
            .map_err(storage)?;
        let raw = raw.ok_or_else(|| LedgerError::NotFound(record.transaction_id.clone()))?;
        Ok(Some(postcard::from_bytes(raw.value()).map_err(storage)?))
    }

    /// Records several charges in one write transaction (one fsync), in
    /// order: a later charge in the batch sees the earlier ones. Each is
    /// recorded under its key unless the key already has one (then that one
    /// is its outcome, or KeyReused if the parameters differ) or was voided
    /// (Voided). Durable when it returns. The outer error is a storage failure
    /// (nothing was recorded); the inner ones are each charge's outcome.
    pub fn record_charges(
        &self,
        batch: Vec<NewCharge>,
    ) -> Result<Vec<Result<Charged, LedgerError>>, LedgerError> {
        let txn = self.db.begin_write().map_err(storage)?;
        let mut outcomes = Vec::with_capacity(batch.len());
        {
            let voided = txn.open_table(VOIDED).map_err(storage)?;
            let mut keys = txn.open_table(KEYS).map_err(storage)?;
            let mut transactions = txn.open_table(TRANSACTIONS).map_err(storage)?;
            let mut by_user = txn.open_table(BY_USER).map_err(storage)?;
            for NewCharge { key, params, tx } in batch {
                if let Err(refused) = refuse_voided(&voided, &key) {
                    outcomes.push(Err(refused));
                    continue;
                }
                let existing = keys
                    .get(key.as_str())
                    .map_err(storage)?
                    .map(|raw| raw.value().to_vec());
                if let Some(existing) = existing {
                    let record: KeyRecord = postcard::from_bytes(&existing).map_err(storage)?;
                    if record.params != params {
                        outcomes.push(Err(LedgerError::KeyReused(key)));
                        continue;
                    }
                    let found = transactions
                        .get(record.transaction_id.as_str())
                        .map_err(storage)?
                        .map(|raw| postcard::from_bytes(raw.value()).map_err(storage))
                        .transpose()?;
                    outcomes.push(
                        found
                            .map(Charged::Replayed)
                            .ok_or(LedgerError::NotFound(record.transaction_id)),
                    );
                    continue;
                }
                let record = KeyRecord {
                    params,
                    transaction_id: tx.id.clone(),
                };
                keys.insert(
                    key.as_str(),
                    postcard::to_allocvec(&record).map_err(storage)?.as_slice(),
                )
                .map_err(storage)?;
                transactions
                    .insert(
                        tx.id.as_str(),
                        postcard::to_allocvec(&tx).map_err(storage)?.as_slice(),
                    )
                    .map_err(storage)?;
                by_user
                    .insert((tx.user_id.as_str(), tx.created_at_ms, tx.id.as_str()), ())
                    .map_err(storage)?;
                outcomes.push(Ok(Charged::New(tx)));
            }
        }
        txn.commit().map_err(storage)?;
        Ok(outcomes)
    }

    /// Refunds a successful charge in full; a refunded one is returned as it is.
    pub fn refund(&self, id: &str, now_ms: i64) -> Result<Transaction, LedgerError> {
        let txn = self.db.begin_write().map_err(storage)?;
        let tx = {
            let mut transactions = txn.open_table(TRANSACTIONS).map_err(storage)?;
            let raw = transactions
                .get(id)
                .map_err(storage)?
                .map(|raw| raw.value().to_vec());
            let mut tx: Transaction =
                postcard::from_bytes(&raw.ok_or_else(|| LedgerError::NotFound(id.to_owned()))?)
                    .map_err(storage)?;
            match tx.status {
                Status::Declined => return Err(LedgerError::NotRefundable(id.to_owned())),
                Status::Refunded => return Ok(tx),
                Status::Succeeded => {}
            }
            tx.status = Status::Refunded;
            tx.refunded_at_ms = now_ms;
            transactions
                .insert(id, postcard::to_allocvec(&tx).map_err(storage)?.as_slice())
                .map_err(storage)?;
            tx
        };
        txn.commit().map_err(storage)?;
        Ok(tx)
    }

    /// Voids `key`: returns the charge already made under it, if any;
    /// otherwise marks the key so that no charge can ever be made under it
    /// and returns `None`. Voiding twice is harmless. Durable when it returns.
    pub fn void(&self, key: &str, now_ms: i64) -> Result<Option<Transaction>, LedgerError> {
        let txn = self.db.begin_write().map_err(storage)?;
        let charged = {
            let keys = txn.open_table(KEYS).map_err(storage)?;
            let found = keys.get(key).map_err(storage)?;
            found
                .map(|raw| postcard::from_bytes::<KeyRecord>(raw.value()).map_err(storage))
                .transpose()?
        };
        if let Some(record) = charged {
            txn.abort().map_err(storage)?;
            return self
                .get(&record.transaction_id)?
                .map(Some)
                .ok_or(LedgerError::NotFound(record.transaction_id));
        }
        {
            let mut voided = txn.open_table(VOIDED).map_err(storage)?;
            if voided.get(key).map_err(storage)?.is_none() {
                voided.insert(key, now_ms).map_err(storage)?;
            }
        }
        txn.commit().map_err(storage)?;
        Ok(None)
    }

    /// One transaction by id.
    pub fn get(&self, id: &str) -> Result<Option<Transaction>, LedgerError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let transactions = txn.open_table(TRANSACTIONS).map_err(storage)?;
        let found = transactions.get(id).map_err(storage)?;
        found
            .map(|raw| postcard::from_bytes(raw.value()).map_err(storage))
            .transpose()
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
        let mut out = Vec::new();
        for item in by_user
            .range((user, i64::MIN, "")..=(user, i64::MAX, "\u{10FFFF}"))
            .map_err(storage)?
        {
            let (k, _) = item.map_err(storage)?;
            let (_, _, id) = k.value();
            if let Some(raw) = transactions.get(id).map_err(storage)? {
                out.push(postcard::from_bytes(raw.value()).map_err(storage)?);
            }
        }
        out.reverse();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(key: &str, amount: i64, id: &str) -> NewCharge {
        NewCharge {
            key: key.into(),
            params: ChargeParams {
                user_id: "u1".into(),
                amount_cents: amount,
                currency: "EUR".into(),
                card_last4: "4242".into(),
                description: String::new(),
            },
            tx: Transaction {
                id: id.into(),
                idempotency_key: key.into(),
                user_id: "u1".into(),
                amount_cents: amount,
                currency: "EUR".into(),
                status: Status::Succeeded,
                card_last4: "4242".into(),
                decline_reason: String::new(),
                description: String::new(),
                created_at_ms: 1,
                refunded_at_ms: 0,
            },
        }
    }

    #[test]
    fn a_batch_commits_each_charge_as_if_alone() {
        let dir = tempfile::TempDir::new().unwrap();
        let ledger = Ledger::open(&dir.path().join("ledger.redb")).unwrap();
        assert_eq!(ledger.void("k-void", 1).unwrap(), None);
        let outcomes = ledger
            .record_charges(vec![
                charge("k1", 100, "tx1"),
                charge("k1", 100, "tx1-again"),
                charge("k1", 999, "tx1-other"),
                charge("k-void", 100, "tx2"),
                charge("k3", 300, "tx3"),
            ])
            .unwrap();
        assert!(matches!(&outcomes[0], Ok(Charged::New(tx)) if tx.id == "tx1"));
        assert!(
            matches!(&outcomes[1], Ok(Charged::Replayed(tx)) if tx.id == "tx1"),
            "a repeat in the same batch sees the first"
        );
        assert!(matches!(&outcomes[2], Err(LedgerError::KeyReused(_))));
        assert!(matches!(&outcomes[3], Err(LedgerError::Voided(_))));
        assert!(matches!(&outcomes[4], Ok(Charged::New(_))));
        let stored: Vec<String> = ledger
            .list_user("u1")
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(stored.len(), 2, "{stored:?}");
    }
}
