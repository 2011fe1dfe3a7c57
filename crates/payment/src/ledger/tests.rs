//! The ledger alone: charges in batches, refunds full and partial, keys,
//! a reopen.

use super::*;

/// One write at a time, as the service's writer would apply them alone.
impl Ledger {
    /// Records several charges in one write transaction ([`Ledger::apply`]).
    /// Each is recorded under its key unless the key already has one (then
    /// that one is its outcome, or KeyReused if the parameters differ) or
    /// was voided (Voided).
    fn record_charges(
        &self,
        batch: Vec<NewCharge>,
    ) -> Result<Vec<Result<Charged, LedgerError>>, LedgerError> {
        let outcomes = self.apply(
            batch
                .into_iter()
                .map(|charge| Write::Charge(Box::new(charge)))
                .collect(),
        )?;
        Ok(outcomes
            .into_iter()
            .map(|written| match written {
                Written::Charge(outcome) => outcome,
                other => Err(storage(format!("a charge answered as {other:?}"))),
            })
            .collect())
    }

    /// Refunds `refund.amount_cents` of a successful charge (all that
    /// remains if 0) and returns the transaction as it then stands.
    ///
    /// Under a key, the refund is recorded with the charge's new total in
    /// one write transaction: the same key again with the same transaction
    /// and amount returns the transaction as it stands now without
    /// refunding again; with another amount it is `RefundKeyReused`. Keys
    /// are scoped to the transaction: the same key on another charge is
    /// another refund. A keyed refund of the whole charge when it is
    /// refunded in full already moves nothing and succeeds. Without a key (the old full refund) it refunds
    /// what remains, and a charge refunded in full is returned as it is.
    /// A refund past the charge (`RefundExceedsCharge`) or past what
    /// remains of it (`RefundExceedsRemainder`), or of a declined charge
    /// (`NotRefundable`), changes nothing. Durable when it returns.
    fn refund(&self, refund: &Refund, now_ms: i64) -> Result<Transaction, LedgerError> {
        let write = Write::Refund {
            refund: refund.clone(),
            now_ms,
        };
        match self.apply(vec![write])?.pop() {
            Some(Written::Refund(outcome)) => outcome,
            other => Err(storage(format!("a refund answered as {other:?}"))),
        }
    }

    /// Voids `key`: returns the charge already made under it, if any;
    /// otherwise marks the key so that no charge can ever be made under it
    /// and returns `None`. Voiding twice is harmless. Durable when it returns.
    fn void(&self, key: &str, now_ms: i64) -> Result<Option<Transaction>, LedgerError> {
        let write = Write::Void {
            key: key.to_owned(),
            now_ms,
        };
        match self.apply(vec![write])?.pop() {
            Some(Written::Void(outcome)) => outcome,
            other => Err(storage(format!("a void answered as {other:?}"))),
        }
    }
}

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
            refunded_cents: 0,
        },
    }
}

fn open(dir: &tempfile::TempDir) -> Ledger {
    Ledger::open(&dir.path().join("ledger.redb")).unwrap()
}

/// A ledger holding a successful charge `tx1` of 1000 cents.
fn charged() -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::TempDir::new().unwrap();
    let ledger = open(&dir);
    ledger
        .record_charges(vec![charge("k1", 1000, "tx1")])
        .unwrap();
    (dir, ledger)
}

fn keyed(key: &str, amount: i64) -> Refund {
    Refund {
        transaction_id: "tx1".into(),
        amount_cents: amount,
        key: Some(key.into()),
    }
}

fn full() -> Refund {
    Refund {
        transaction_id: "tx1".into(),
        amount_cents: 0,
        key: None,
    }
}

fn tx1(ledger: &Ledger) -> Transaction {
    ledger.get("tx1").unwrap().unwrap()
}

#[test]
fn two_partial_refunds_under_different_keys_sum_to_the_charge() {
    let (_dir, ledger) = charged();
    let first = ledger.refund(&keyed("booking:1", 300), 10).unwrap();
    assert_eq!(first.status, Status::PartiallyRefunded);
    assert_eq!((first.refunded_cents, first.refunded_at_ms), (300, 10));
    assert_eq!(tx1(&ledger), first);
    let second = ledger.refund(&keyed("booking:2", 700), 20).unwrap();
    assert_eq!(second.status, Status::Refunded);
    assert_eq!((second.refunded_cents, second.refunded_at_ms), (1000, 20));
    assert_eq!(tx1(&ledger), second);
    assert_eq!(ledger.list_user("u1").unwrap(), vec![second]);
}

#[test]
fn a_repeated_refund_key_refunds_once() {
    let (_dir, ledger) = charged();
    let first = ledger.refund(&keyed("booking:1", 300), 10).unwrap();
    let again = ledger.refund(&keyed("booking:1", 300), 11).unwrap();
    assert_eq!(again, first, "same result, nothing refunded twice");
    assert_eq!(tx1(&ledger).refunded_cents, 300);
    // A key for "all that remains" is bound to 0, not to what it moved.
    let rest = ledger.refund(&keyed("booking:2", 0), 12).unwrap();
    assert_eq!((rest.status, rest.refunded_cents), (Status::Refunded, 1000));
    assert_eq!(ledger.refund(&keyed("booking:2", 0), 13).unwrap(), rest);
    // After later refunds, a repeat returns the transaction as it stands.
    assert_eq!(ledger.refund(&keyed("booking:1", 300), 14).unwrap(), rest);
}

#[test]
fn a_refund_key_with_another_amount_or_transaction_is_refused() {
    let (_dir, ledger) = charged();
    ledger
        .record_charges(vec![charge("k2", 500, "tx2")])
        .unwrap();
    let first = ledger.refund(&keyed("booking:1", 300), 10).unwrap();
    assert!(matches!(
        ledger.refund(&keyed("booking:1", 400), 11),
        Err(LedgerError::RefundKeyReused(key)) if key == "booking:1"
    ));
    assert_eq!(tx1(&ledger), first, "nothing changed");
    // The same key on another charge is another refund: keys are scoped
    // to their transaction, so nobody can take a key another one needs.
    let other_tx = Refund {
        transaction_id: "tx2".into(),
        ..keyed("booking:1", 300)
    };
    let other = ledger.refund(&other_tx, 11).unwrap();
    assert_eq!((other.id.as_str(), other.refunded_cents), ("tx2", 300));
    assert_eq!(tx1(&ledger), first);
}

#[test]
fn a_keyed_refund_of_a_charge_refunded_in_full_moves_nothing_and_succeeds() {
    let (_dir, ledger) = charged();
    // An older version refunded the whole charge without a key.
    let old = ledger.refund(&full(), 10).unwrap();
    assert_eq!((old.status, old.refunded_cents), (Status::Refunded, 1000));
    // The booking's refund under its key, after the upgrade: done already.
    let again = ledger.refund(&keyed("booking:1", 1000), 20).unwrap();
    assert_eq!(again, old, "nothing moved, nothing rewritten");
    assert_eq!(ledger.refund(&keyed("booking:1", 1000), 21).unwrap(), old);
    // Past the charge is still refused.
    assert!(matches!(
        ledger.refund(&keyed("booking:2", 1001), 22),
        Err(LedgerError::RefundExceedsCharge { .. })
    ));
}

#[test]
fn an_over_refund_is_refused_and_changes_nothing() {
    let (_dir, ledger) = charged();
    assert!(matches!(
        ledger.refund(&keyed("booking:1", 1001), 10),
        Err(LedgerError::RefundExceedsCharge {
            amount_cents: 1001,
            charged_cents: 1000,
            ..
        })
    ));
    let first = ledger.refund(&keyed("booking:1", 600), 10).unwrap();
    assert!(matches!(
        ledger.refund(&keyed("booking:2", 500), 11),
        Err(LedgerError::RefundExceedsRemainder {
            amount_cents: 500,
            remaining_cents: 400,
            ..
        })
    ));
    assert_eq!(tx1(&ledger), first, "nothing changed");
    // The refused key was not recorded: it may still be used.
    let rest = ledger.refund(&keyed("booking:2", 400), 12).unwrap();
    assert_eq!(rest.status, Status::Refunded);
    // Nothing remains: a partial refund is refused, a full one is harmless.
    assert!(matches!(
        ledger.refund(&keyed("booking:3", 1), 13),
        Err(LedgerError::RefundExceedsRemainder {
            remaining_cents: 0,
            ..
        })
    ));
    assert_eq!(ledger.refund(&keyed("booking:4", 0), 14).unwrap(), rest);
    assert_eq!(ledger.refund(&full(), 15).unwrap(), rest);
    assert!(matches!(
        ledger.refund(&keyed("booking:5", -1), 16),
        Err(LedgerError::BadRefund(_))
    ));
    assert!(matches!(
        ledger.refund(
            &Refund {
                amount_cents: 1,
                ..full()
            },
            16
        ),
        Err(LedgerError::BadRefund(_))
    ));
}

#[test]
fn a_full_refund_after_a_partial_one_refunds_the_rest() {
    let (_dir, ledger) = charged();
    ledger.refund(&keyed("booking:1", 250), 10).unwrap();
    let rest = ledger.refund(&full(), 20).unwrap();
    assert_eq!(rest.status, Status::Refunded);
    assert_eq!((rest.refunded_cents, rest.refunded_at_ms), (1000, 20));
    assert_eq!(ledger.refund(&full(), 30).unwrap(), rest, "harmless twice");
}

#[test]
fn a_declined_charge_is_not_refundable() {
    let dir = tempfile::TempDir::new().unwrap();
    let ledger = open(&dir);
    let mut declined = charge("k1", 1000, "tx1");
    declined.tx.status = Status::Declined;
    ledger.record_charges(vec![declined]).unwrap();
    for refund in [full(), keyed("booking:1", 0), keyed("booking:1", 100)] {
        assert!(matches!(
            ledger.refund(&refund, 10),
            Err(LedgerError::NotRefundable(_))
        ));
    }
    assert_eq!(tx1(&ledger).status, Status::Declined);
    assert_eq!(tx1(&ledger).refunded_cents, 0);
    assert!(matches!(
        ledger.refund(
            &Refund {
                transaction_id: "tx9".into(),
                ..full()
            },
            10
        ),
        Err(LedgerError::NotFound(_))
    ));
}

#[test]
fn refunds_and_their_keys_survive_a_reopen() {
    let dir = tempfile::TempDir::new().unwrap();
    let first = {
        let ledger = open(&dir);
        ledger
            .record_charges(vec![charge("k1", 1000, "tx1")])
            .unwrap();
        ledger.refund(&keyed("booking:1", 300), 10).unwrap()
    };
    let ledger = open(&dir);
    assert_eq!(tx1(&ledger), first);
    assert_eq!(ledger.by_key("k1").unwrap(), Some(first.clone()));
    assert_eq!(ledger.refund(&keyed("booking:1", 300), 11).unwrap(), first);
    assert!(matches!(
        ledger.refund(&keyed("booking:1", 301), 11),
        Err(LedgerError::RefundKeyReused(_))
    ));
    assert_eq!(ledger.refund(&full(), 12).unwrap().refunded_cents, 1000);
}

#[test]
fn a_record_refunded_before_totals_were_kept_reads_as_refunded_in_full() {
    let dir = tempfile::TempDir::new().unwrap();
    let ledger = open(&dir);
    // As the full refund wrote it: the status, and no total.
    let mut old = charge("k1", 1000, "tx1");
    old.tx.status = Status::Refunded;
    old.tx.refunded_at_ms = 5;
    ledger.record_charges(vec![old]).unwrap();
    let tx = tx1(&ledger);
    assert_eq!((tx.status, tx.refunded_cents), (Status::Refunded, 1000));
    assert_eq!(ledger.refund(&full(), 10).unwrap(), tx);
    assert!(matches!(
        ledger.refund(&keyed("booking:1", 1), 10),
        Err(LedgerError::RefundExceedsRemainder {
            remaining_cents: 0,
            ..
        })
    ));
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

/// Charges, refunds and voids folded into one commit act exactly as if
/// each had committed alone, in order: a refund sees the charge made
/// before it in the batch, a void after a charge finds it, a charge after
/// a void is refused, a refused write changes nothing, and all of it
/// survives a reopen.
#[test]
fn a_batch_of_mixed_writes_acts_as_the_writes_one_after_another() {
    let dir = tempfile::TempDir::new().unwrap();
    let ledger = open(&dir);
    let outcomes = ledger
        .apply(vec![
            Write::Charge(Box::new(charge("k1", 1000, "tx1"))),
            Write::Refund {
                refund: keyed("r1", 400),
                now_ms: 5,
            },
            Write::Refund {
                refund: keyed("r2", 700),
                now_ms: 6,
            },
            Write::Void {
                key: "k2".into(),
                now_ms: 7,
            },
            Write::Charge(Box::new(charge("k2", 500, "tx2"))),
            Write::Void {
                key: "k1".into(),
                now_ms: 8,
            },
            Write::Charge(Box::new(charge("k1", 1000, "tx1-again"))),
        ])
        .unwrap();
    let [
        Written::Charge(Ok(Charged::New(first))),
        Written::Refund(Ok(refunded)),
        Written::Refund(Err(LedgerError::RefundExceedsRemainder { .. })),
        Written::Void(Ok(None)),
        Written::Charge(Err(LedgerError::Voided(_))),
        Written::Void(Ok(Some(found))),
        Written::Charge(Ok(Charged::Replayed(replayed))),
    ] = &outcomes[..]
    else {
        panic!("{outcomes:?}");
    };
    assert_eq!(first.id, "tx1");
    assert_eq!(refunded.refunded_cents, 400);
    assert_eq!(refunded.status, Status::PartiallyRefunded);
    assert_eq!(found.id, "tx1");
    assert_eq!(found.refunded_cents, 400);
    assert_eq!(replayed.id, "tx1");
    drop(ledger);

    let ledger = open(&dir);
    assert_eq!(tx1(&ledger).refunded_cents, 400);
    assert!(ledger.get("tx2").unwrap().is_none());
    assert!(matches!(
        ledger
            .record_charges(vec![charge("k2", 500, "tx2")])
            .unwrap()[..],
        [Err(LedgerError::Voided(_))]
    ));
    // The refused refund's key stays free.
    assert_eq!(
        ledger.refund(&keyed("r2", 600), 9).unwrap().refunded_cents,
        1000
    );
}

#[test]
fn a_dump_restores_into_an_equal_ledger_and_never_over_one() {
    let (_dir, ledger) = charged();
    ledger.refund(&keyed("r1", 300), 5).unwrap();
    ledger
        .record_charges(vec![charge("k2", 700, "tx2")])
        .unwrap();
    ledger.void("k3", 6).unwrap();
    let dump = ledger.dump().unwrap();
    assert_eq!(dump.transactions.len(), 2);
    assert_eq!(dump.voided.len(), 1);
    let target = tempfile::tempdir().unwrap();
    let path = target.path().join("ledger.redb");
    Ledger::restore(&path, &dump).unwrap();
    let restored = Ledger::open(&path).unwrap();
    assert_eq!(restored.dump().unwrap(), dump);
    assert_eq!(
        restored.list_user("u1").unwrap(),
        ledger.list_user("u1").unwrap()
    );
    // A voided key stays voided, a used one replays.
    assert!(restored.void("k3", 7).unwrap().is_none());
    assert!(matches!(
        restored
            .record_charges(vec![charge("k3", 1, "tx9")])
            .unwrap()[0],
        Err(LedgerError::Voided(_))
    ));
    drop(restored);
    // Never over a ledger, nor from records that do not decode.
    assert!(Ledger::restore(&path, &dump).is_err());
    let mut broken = dump.clone();
    broken.transactions[0].1 = vec![0xFF; 3];
    let other = target.path().join("other.redb");
    assert!(Ledger::restore(&other, &broken).is_err());
    assert!(!other.exists(), "a refused restore wrote a ledger");
}

/// A copy of `dir`'s ledger files as a crash would leave them: what the
/// process wrote to the files, without anything a clean close adds.
fn crash_copy(dir: &tempfile::TempDir) -> tempfile::TempDir {
    let copy = tempfile::TempDir::new().unwrap();
    for name in ["ledger.redb", "ledger.journal"] {
        std::fs::copy(dir.path().join(name), copy.path().join(name)).unwrap();
    }
    copy
}

/// The journal's header: its format and the ledger's id.
const HEADER: usize = 16;

/// The bytes of the journal's records, after its header (the file goes on
/// in zeros).
fn records(journal: &[u8]) -> &[u8] {
    let mut at = HEADER;
    while let Some(frame) = journal.get(at..at + 4) {
        let len = u32::from_le_bytes(frame.try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        at += 8 + len;
    }
    &journal[HEADER..at]
}

fn journal_records(dir: &std::path::Path) -> Vec<u8> {
    records(&std::fs::read(dir.join("ledger.journal")).unwrap()).to_vec()
}

/// A charge, a partial refund under a key and a void, each its own group.
fn three_groups(ledger: &Ledger) {
    ledger
        .record_charges(vec![charge("k1", 1000, "tx1")])
        .unwrap();
    ledger.refund(&keyed("r1", 300), 5).unwrap();
    assert!(ledger.void("k2", 6).unwrap().is_none());
}

fn assert_three_groups(ledger: &Ledger) {
    let tx = tx1(ledger);
    assert_eq!(tx.refunded_cents, 300);
    assert_eq!(tx.status, Status::PartiallyRefunded);
    assert_eq!(ledger.refund(&keyed("r1", 300), 7).unwrap(), tx);
    assert!(matches!(
        ledger.record_charges(vec![charge("k2", 5, "tx2")]).unwrap()[0],
        Err(LedgerError::Voided(_))
    ));
}

#[test]
fn acknowledged_writes_survive_a_crash_through_the_journal() {
    let dir = tempfile::TempDir::new().unwrap();
    let ledger = open(&dir);
    three_groups(&ledger);
    let crashed = crash_copy(&dir);

    // redb alone has not got them: its commits since the last checkpoint
    // were not synced, and a crash takes them away.
    let without_journal = crash_copy(&dir);
    std::fs::remove_file(without_journal.path().join("ledger.journal")).unwrap();
    assert!(open(&without_journal).get("tx1").unwrap().is_none());

    let recovered = open(&crashed);
    assert_three_groups(&recovered);
    // Replayed into redb for good: the journal is empty again, and a
    // second crash right after the reopen loses nothing.
    assert!(journal_records(crashed.path()).is_empty());
    assert_three_groups(&open(&crash_copy(&crashed)));
}

#[test]
fn a_checkpoint_makes_redb_durable_and_empties_the_journal() {
    let dir = tempfile::TempDir::new().unwrap();
    let ledger = open(&dir);
    ledger.checkpoint_every(2);
    // Groups 1 and 2 go to the journal, 3 is the checkpoint.
    ledger
        .record_charges(vec![charge("k1", 1000, "tx1")])
        .unwrap();
    ledger.refund(&keyed("r1", 300), 5).unwrap();
    let before = journal_records(dir.path());
    assert!(!before.is_empty());
    assert!(ledger.void("k2", 6).unwrap().is_none());
    assert!(journal_records(dir.path()).is_empty());
    let crashed = crash_copy(&dir);
    std::fs::remove_file(crashed.path().join("ledger.journal")).unwrap();
    assert_three_groups(&open(&crashed));

    // A checkpoint whose emptying of the journal was lost: the next group
    // was written at the start, and the groups the checkpoint covers follow
    // it. They end the journal by their numbers; the new one replays.
    ledger
        .record_charges(vec![charge("k3", 200, "tx3")])
        .unwrap();
    let stale = crash_copy(&dir);
    let path = stale.path().join("ledger.journal");
    let mut bytes = std::fs::read(&path).unwrap()[..HEADER].to_vec();
    bytes.extend(journal_records(stale.path()));
    bytes.extend(before);
    std::fs::write(&path, bytes).unwrap();
    let recovered = open(&stale);
    assert_three_groups(&recovered);
    assert_eq!(recovered.get("tx3").unwrap().unwrap().amount_cents, 200);
    assert!(journal_records(stale.path()).is_empty());
}

#[test]
fn a_torn_last_record_is_cut_off_and_the_rest_replays() {
    let dir = tempfile::TempDir::new().unwrap();
    let ledger = open(&dir);
    three_groups(&ledger);
    let crashed = crash_copy(&dir);
    let path = crashed.path().join("ledger.journal");
    // The next group's record, half written when the machine stopped.
    let mut torn = std::fs::read(&path).unwrap();
    let end = HEADER + records(&torn).len();
    torn[end..end + 10].copy_from_slice(&[40, 0, 0, 0, 1, 2, 3, 4, 9, 9]);
    std::fs::write(&path, &torn).unwrap();
    let recovered = open(&crashed);
    assert_three_groups(&recovered);
    let after = std::fs::read(&path).unwrap();
    assert!(
        after[HEADER..].iter().all(|b| *b == 0),
        "the torn record was not zeroed"
    );
    // It goes on writing, and that survives the next crash too.
    recovered
        .record_charges(vec![charge("k3", 200, "tx3")])
        .unwrap();
    let again = open(&crash_copy(&crashed));
    assert_three_groups(&again);
    assert!(again.get("tx3").unwrap().is_some());
}

#[test]
fn a_journal_with_a_missing_group_or_an_unreadable_record_is_refused() {
    let dir = tempfile::TempDir::new().unwrap();
    let ledger = open(&dir);
    three_groups(&ledger);
    let whole = std::fs::read(dir.path().join("ledger.journal")).unwrap();
    let header = &whole[..HEADER];
    let first_len = 8 + u32::from_le_bytes(whole[HEADER..HEADER + 4].try_into().unwrap()) as usize;

    // Group 1 gone: group 2 cannot be applied without it.
    let gap = crash_copy(&dir);
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(&whole[HEADER + first_len..]);
    std::fs::write(gap.path().join("ledger.journal"), &bytes).unwrap();
    let refused = Ledger::open(&gap.path().join("ledger.redb")).err().unwrap();
    assert!(
        refused.to_string().contains("a group is missing"),
        "{refused}"
    );

    // A record whose checksum holds but whose writes do not decode was
    // written whole by something else: refused, not cut off as torn.
    let alien = crash_copy(&dir);
    let payload = [1u8, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF];
    let mut record = header.to_vec();
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    std::fs::write(alien.path().join("ledger.journal"), &record).unwrap();
    let refused = Ledger::open(&alien.path().join("ledger.redb"))
        .err()
        .unwrap();
    assert!(refused.to_string().contains("does not decode"), "{refused}");
    assert_eq!(
        std::fs::read(alien.path().join("ledger.journal")).unwrap(),
        record,
        "a refused journal was changed"
    );
}

#[test]
fn a_clean_close_replays_nothing_and_a_crash_replays_what_redb_lost() {
    let dir = tempfile::TempDir::new().unwrap();
    let ledger = open(&dir);
    three_groups(&ledger);
    let crashed = crash_copy(&dir);
    drop(ledger);
    let reopened = open(&dir);
    assert_eq!(
        reopened.replayed(),
        0,
        "a clean close made the groups durable"
    );
    assert_three_groups(&reopened);
    let recovered = open(&crashed);
    assert_eq!(recovered.replayed(), 3);
    assert_eq!(recovered.dump().unwrap(), reopened.dump().unwrap());
}

#[test]
fn a_damaged_record_with_later_groups_after_it_is_refused() {
    let dir = tempfile::TempDir::new().unwrap();
    let ledger = open(&dir);
    three_groups(&ledger);
    let damaged = crash_copy(&dir);
    let path = damaged.path().join("ledger.journal");
    let mut bytes = std::fs::read(&path).unwrap();
    // A flipped bit in group 1's payload; groups 2 and 3 follow it.
    bytes[HEADER + 20] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let refused = Ledger::open(&damaged.path().join("ledger.redb"))
        .err()
        .unwrap();
    assert!(refused.to_string().contains("is damaged"), "{refused}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "a refused journal was changed"
    );
}

#[test]
fn a_journal_is_never_replayed_into_another_ledger() {
    let dir = tempfile::TempDir::new().unwrap();
    three_groups(&open(&dir));
    let crashed = crash_copy(&dir);
    // Its ledger deleted, the journal stays behind: a new ledger there
    // must not take its groups as its own.
    std::fs::remove_file(crashed.path().join("ledger.redb")).unwrap();
    let refused = Ledger::open(&crashed.path().join("ledger.redb"))
        .err()
        .unwrap();
    assert!(refused.to_string().contains("another ledger"), "{refused}");
    assert!(
        !crashed.path().join("ledger.redb").exists(),
        "a refused open left a ledger behind"
    );
    // Nor is a file of another kind taken for a journal.
    let other = tempfile::TempDir::new().unwrap();
    std::fs::write(other.path().join("ledger.journal"), [7u8; 64]).unwrap();
    let refused = Ledger::open(&other.path().join("ledger.redb"))
        .err()
        .unwrap();
    assert!(
        refused.to_string().contains("not a ledger journal"),
        "{refused}"
    );
    // And a restore does not go where a journal is.
    let dump = open(&dir).dump().unwrap();
    let refused = Ledger::restore(&crashed.path().join("ledger.redb"), &dump).unwrap_err();
    assert!(
        refused.to_string().contains("ledger.journal exists"),
        "{refused}"
    );
}

#[test]
fn a_group_the_journal_could_not_take_is_never_seen_and_stops_the_writer() {
    let dir = tempfile::TempDir::new().unwrap();
    let ledger = open(&dir);
    ledger
        .record_charges(vec![charge("k1", 1000, "tx1")])
        .unwrap();
    ledger.fail_next_journal_write();
    assert!(matches!(
        ledger.record_charges(vec![charge("k2", 500, "tx2")]),
        Err(LedgerError::Storage(_))
    ));
    // Not durable, so never shown: a reader that saw it could confirm a
    // seat whose charge a crash then takes away.
    assert!(ledger.get("tx2").unwrap().is_none());
    assert!(ledger.by_key("k2").unwrap().is_none());
    let refused = ledger.void("k3", 5).unwrap_err();
    assert!(refused.to_string().contains("restart"), "{refused}");
    assert!(tx1(&ledger).amount_cents == 1000);
}

#[test]
fn a_journal_that_is_a_symbolic_link_is_refused_and_its_target_untouched() {
    let dir = tempfile::TempDir::new().unwrap();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, b"not the ledger's").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("ledger.journal")).unwrap();
    let refused = Ledger::open(&dir.path().join("ledger.redb")).err().unwrap();
    assert!(refused.to_string().contains("symbolic link"), "{refused}");
    assert_eq!(std::fs::read(&target).unwrap(), b"not the ledger's");
    // The refused open left no ledger of its own behind.
    assert!(!dir.path().join("ledger.redb").exists());

    // A link to what is not there (a disk not mounted) is refused too, and
    // kept: removing it would let the next start begin an empty journal
    // while the acknowledged groups wait behind the link.
    let dangling = tempfile::TempDir::new().unwrap();
    let link = dangling.path().join("ledger.journal");
    std::os::unix::fs::symlink(dangling.path().join("unmounted/ledger.journal"), &link).unwrap();
    let refused = Ledger::open(&dangling.path().join("ledger.redb"))
        .err()
        .unwrap();
    assert!(refused.to_string().contains("symbolic link"), "{refused}");
    assert!(std::fs::symlink_metadata(&link).is_ok());
    assert!(Ledger::open(&dangling.path().join("ledger.redb")).is_err());
}

#[test]
fn a_ledger_file_that_is_a_symbolic_link_is_refused_and_its_target_untouched() {
    let dir = tempfile::TempDir::new().unwrap();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, b"not the ledger's").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("ledger.redb")).unwrap();
    let refused = Ledger::open(&dir.path().join("ledger.redb")).err().unwrap();
    assert!(refused.to_string().contains("symbolic link"), "{refused}");
    assert_eq!(std::fs::read(&target).unwrap(), b"not the ledger's");
    assert!(!dir.path().join("ledger.journal").exists());
}

/// A lock file that is a FIFO (or anything but a plain file) is refused
/// at once: opening a FIFO to write would wait for a reader for ever.
#[test]
fn a_lock_file_that_is_not_a_plain_file_is_refused_without_waiting() {
    let dir = tempfile::TempDir::new().unwrap();
    let fifo = dir.path().join("ledger.lock");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let refused = Ledger::open(&dir.path().join("ledger.redb")).err().unwrap();
    assert!(refused.to_string().contains("ledger.lock"), "{refused}");
    assert!(Ledger::existing_file(&dir.path().join("ledger.redb")).is_none());
    std::fs::remove_file(&fifo).unwrap();
    std::fs::create_dir(&fifo).unwrap();
    let refused = Ledger::open(&dir.path().join("ledger.redb")).err().unwrap();
    assert!(refused.to_string().contains("ledger.lock"), "{refused}");
}

/// Two payment services started on one empty data directory: the one
/// that comes second is refused before it looks at a file, so it cannot
/// take the other's new ledger for one it made and remove it.
#[test]
fn a_second_process_on_one_ledger_is_refused_before_it_touches_a_file() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("ledger.redb");
    // The first holds the lock and has not made its files yet.
    let first = lock(&path).unwrap();
    let refused = Ledger::open(&path).err().unwrap();
    assert!(
        refused.to_string().contains("open in another process"),
        "{refused}"
    );
    assert!(Ledger::existing_file(&path).is_none());
    drop(first);

    // Once it has made them and writes, a second open changes nothing.
    let ledger = Ledger::open(&path).unwrap();
    ledger
        .record_charges(vec![charge("k1", 1000, "tx1")])
        .unwrap();
    let refused = Ledger::open(&path).err().unwrap();
    assert!(
        refused.to_string().contains("open in another process"),
        "{refused}"
    );
    ledger
        .record_charges(vec![charge("k2", 500, "tx2")])
        .unwrap();
    drop(ledger);
    let ledger = Ledger::open(&path).unwrap();
    assert!(ledger.get("tx1").unwrap().is_some() && ledger.get("tx2").unwrap().is_some());

    // A restore into a directory whose ledger another process holds, even
    // before that one has made a file, is refused with the lock's error and
    // makes no file. (The window this closes, a service starting between
    // the restore's check and its open, has no deterministic test.)
    let fresh = tempfile::TempDir::new().unwrap();
    let path = fresh.path().join("ledger.redb");
    let service = lock(&path).unwrap();
    let dump = ledger.dump().unwrap();
    let refused = Ledger::restore(&path, &dump).err().unwrap();
    assert!(matches!(refused, LedgerError::Locked(_)), "{refused}");
    assert!(Ledger::existing_file(&path).is_none());
    drop(service);
    Ledger::restore(&path, &dump).unwrap();
    assert!(Ledger::open(&path).unwrap().get("tx2").unwrap().is_some());
}

#[test]
fn an_empty_journal_is_taken_over_and_records_without_a_header_are_refused() {
    // A crash after a new ledger's journal got its header but before its
    // id was kept (or a ledger made again beside an emptied journal):
    // nothing acknowledged is in it, so it opens.
    let dir = tempfile::TempDir::new().unwrap();
    let mut header = b"BOLJNL01".to_vec();
    header.extend_from_slice(&7u64.to_le_bytes());
    header.resize(4096, 0);
    std::fs::write(dir.path().join("ledger.journal"), &header).unwrap();
    let ledger = open(&dir);
    ledger
        .record_charges(vec![charge("k1", 1000, "tx1")])
        .unwrap();
    assert_eq!(
        open(&crash_copy(&dir))
            .get("tx1")
            .unwrap()
            .unwrap()
            .amount_cents,
        1000
    );

    // Records behind a zeroed header are not nothing: refused.
    let other = crash_copy(&dir);
    let path = other.path().join("ledger.journal");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..HEADER].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let refused = Ledger::open(&other.path().join("ledger.redb"))
        .err()
        .unwrap();
    assert!(
        refused.to_string().contains("without a header"),
        "{refused}"
    );
}
