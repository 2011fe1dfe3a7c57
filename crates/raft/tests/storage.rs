//! The redb store against openraft's storage conformance suite, plus what
//! the suite does not check: reopening after a restart.

#![allow(clippy::result_large_err)] // openraft's StorageError is large by design.

use std::io::Cursor;

use boxoffice_raft::log_store::LogStore;
use boxoffice_raft::state_machine::{Application, StateMachineStore};
use boxoffice_raft::types::{Batch, Entry, TypeConfig};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite, log_id};
use openraft::{EntryPayload, RaftLogReader, RaftSnapshotBuilder, StorageError, Vote};
use tempfile::TempDir;

/// A tiny application: remembers every command; the outcome is the number
/// of commands applied so far.
#[derive(Default, Debug, PartialEq)]
struct Journal {
    commands: Vec<(i64, Vec<u8>)>,
}

impl Application for Journal {
    type Error = postcard::Error;

    fn apply(&mut self, at_ms: i64, command: &[u8]) -> Vec<u8> {
        self.commands.push((at_ms, command.to_vec()));
        (self.commands.len() as u64).to_le_bytes().to_vec()
    }

    fn snapshot(&self, out: &mut dyn std::io::Write) -> Result<(), postcard::Error> {
        postcard::to_io(&self.commands, out).map(drop)
    }

    fn restore(bytes: &[u8]) -> Result<Self, postcard::Error> {
        Ok(Self {
            commands: postcard::from_bytes(bytes)?,
        })
    }
}

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore<Journal>, TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore, StateMachineStore<Journal>), StorageError<u64>> {
        let dir = TempDir::new().expect("temp dir");
        let log = LogStore::open(&dir.path().join("log.redb"))?;
        let sm = StateMachineStore::open(&dir.path().join("sm.redb"))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() -> Result<(), StorageError<u64>> {
    Suite::test_all(Builder)
}

fn batch_entry(term: u64, index: u64, commands: &[&[u8]]) -> Entry {
    Entry {
        log_id: log_id(term, 1, index),
        payload: EntryPayload::Normal(Batch {
            at_ms: index as i64,
            commands: commands.iter().map(|c| c.to_vec()).collect(),
        }),
    }
}

#[tokio::test]
async fn vote_log_purge_point_and_state_survive_reopen() -> anyhow::Result<()> {
    let dir = TempDir::new()?;
    let (log_path, sm_path) = (dir.path().join("log.redb"), dir.path().join("sm.redb"));
    let vote = Vote::new_committed(3, 2);
    {
        let mut log = LogStore::open(&log_path)?;
        let mut sm = StateMachineStore::<Journal>::open(&sm_path)?;
        log.save_vote(&vote).await?;
        let entries: Vec<Entry> = (1..=10)
            .map(|i| batch_entry(3, i, &[format!("cmd{i}").as_bytes()]))
            .collect();
        log.blocking_append(entries.clone()).await?;
        log.save_committed(Some(log_id(3, 1, 10))).await?;
        // Apply the first 6 entries and snapshot there; purge up to 4.
        sm.apply(entries[..6].to_vec()).await?;
        let snapshot = sm.get_snapshot_builder().await.build_snapshot().await?;
        assert_eq!(snapshot.meta.last_log_id, Some(log_id(3, 1, 6)));
        log.purge(log_id(3, 1, 4)).await?;
        // Truncate the tail: entries 9 and 10 are gone for good.
        log.truncate(log_id(3, 1, 9)).await?;
    }

    let mut log = LogStore::open(&log_path)?;
    let mut sm = StateMachineStore::<Journal>::open(&sm_path)?;
    assert_eq!(log.read_vote().await?, Some(vote));
    let state = log.get_log_state().await?;
    assert_eq!(state.last_purged_log_id, Some(log_id(3, 1, 4)));
    assert_eq!(state.last_log_id, Some(log_id(3, 1, 8)));
    let entries = log.try_get_log_entries(0..100).await?;
    assert_eq!(
        entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
        vec![5, 6, 7, 8]
    );

    // The state machine comes back at the snapshot, with the data.
    let (applied, _) = sm.applied_state().await?;
    assert_eq!(applied, Some(log_id(3, 1, 6)));
    let handle = sm.handle();
    let commands: Vec<Vec<u8>> = handle
        .read()
        .app
        .commands
        .iter()
        .map(|(_, c)| c.clone())
        .collect();
    assert_eq!(
        commands,
        (1..=6)
            .map(|i| format!("cmd{i}").into_bytes())
            .collect::<Vec<_>>()
    );
    let current = sm.get_current_snapshot().await?.expect("snapshot kept");
    assert_eq!(current.meta.last_log_id, Some(log_id(3, 1, 6)));
    Ok(())
}

/// `journal` as snapshot bytes.
fn snapshot_bytes(journal: &Journal) -> Vec<u8> {
    let mut bytes = Vec::new();
    journal.snapshot(&mut bytes).expect("a journal serializes");
    bytes
}

/// Metadata of a snapshot up to log index `index` of term 2.
fn snapshot_meta(index: u64) -> boxoffice_raft::types::SnapshotMeta {
    openraft::SnapshotMeta {
        last_log_id: Some(log_id(2, 1, index)),
        last_membership: Default::default(),
        snapshot_id: format!("2-{index}-0"),
    }
}

#[tokio::test]
async fn installed_snapshot_replaces_state_and_survives_reopen() -> anyhow::Result<()> {
    let dir = TempDir::new()?;
    let sm_path = dir.path().join("sm.redb");
    let source = Journal {
        commands: vec![(1, b"a".to_vec()), (2, b"b".to_vec())],
    };
    let data = snapshot_bytes(&source);
    let meta = snapshot_meta(40);
    {
        let mut sm = StateMachineStore::<Journal>::open(&sm_path)?;
        sm.apply(vec![batch_entry(1, 1, &[b"old"])]).await?;
        sm.install_snapshot(&meta, Box::new(Cursor::new(data)))
            .await?;
        assert_eq!(sm.handle().read().app, source);
    }
    let mut sm = StateMachineStore::<Journal>::open(&sm_path)?;
    assert_eq!(sm.applied_state().await?.0, Some(log_id(2, 1, 40)));
    assert_eq!(sm.handle().read().app, source);
    Ok(())
}

#[tokio::test]
async fn snapshots_are_stored_in_chunks_and_a_smaller_one_replaces_a_larger() -> anyhow::Result<()>
{
    let dir = TempDir::new()?;
    let sm_path = dir.path().join("sm.redb");
    // Over three chunks of 1 MiB, with a partial last one.
    let large = Journal {
        commands: vec![(1, vec![7; 3 * 1024 * 1024 + 5]), (2, b"b".to_vec())],
    };
    let small = Journal {
        commands: vec![(3, b"c".to_vec())],
    };
    {
        let mut sm = StateMachineStore::<Journal>::open(&sm_path)?;
        let data = snapshot_bytes(&large);
        sm.install_snapshot(&snapshot_meta(40), Box::new(Cursor::new(data)))
            .await?;
    }
    {
        let mut sm = StateMachineStore::<Journal>::open(&sm_path)?;
        assert_eq!(sm.handle().read().app, large);
        let current = sm.get_current_snapshot().await?.expect("snapshot kept");
        assert_eq!(current.snapshot.into_inner(), snapshot_bytes(&large));
        let data = snapshot_bytes(&small);
        sm.install_snapshot(&snapshot_meta(50), Box::new(Cursor::new(data)))
            .await?;
    }
    // Leftover chunks of the larger snapshot would trail this one's bytes.
    let mut sm = StateMachineStore::<Journal>::open(&sm_path)?;
    assert_eq!(sm.handle().read().app, small);
    let current = sm.get_current_snapshot().await?.expect("snapshot kept");
    assert_eq!(current.snapshot.into_inner(), snapshot_bytes(&small));
    Ok(())
}

#[tokio::test]
async fn purge_waits_until_a_durable_snapshot_covers_it() -> anyhow::Result<()> {
    let dir = TempDir::new()?;
    let mut sm = StateMachineStore::<Journal>::open(&dir.path().join("sm.redb"))?;
    let mut log =
        LogStore::open(&dir.path().join("log.redb"))?.guard_purges_with(sm.snapshot_watermark());
    let entries: Vec<Entry> = (1..=6).map(|i| batch_entry(1, i, &[b"c"])).collect();
    log.blocking_append(entries.clone()).await?;
    sm.apply(entries).await?;

    // No snapshot covers index 5 yet: the purge must not go through.
    let purge = tokio::spawn(async move {
        log.purge(log_id(1, 1, 5)).await?;
        Ok::<_, StorageError<u64>>(log)
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !purge.is_finished(),
        "purged entries that no snapshot on disk holds"
    );

    // Once a snapshot through index 6 is on disk, it completes.
    sm.get_snapshot_builder().await.build_snapshot().await?;
    let mut log = tokio::time::timeout(std::time::Duration::from_secs(10), purge).await???;
    assert_eq!(
        log.get_log_state().await?.last_purged_log_id,
        Some(log_id(1, 1, 5))
    );
    Ok(())
}

#[tokio::test]
async fn a_built_snapshot_is_streamed_into_chunks_and_reloads() -> anyhow::Result<()> {
    let dir = TempDir::new()?;
    let sm_path = dir.path().join("sm.redb");
    // Over two chunks of 1 MiB.
    let big = vec![9; 2 * 1024 * 1024 + 3];
    let entries = vec![batch_entry(1, 1, &[&big]), batch_entry(1, 2, &[b"two"])];
    let expected = Journal {
        commands: vec![(1, big.clone()), (2, b"two".to_vec())],
    };
    {
        let mut sm = StateMachineStore::<Journal>::open(&sm_path)?;
        sm.apply(entries).await?;
        let built = sm.get_snapshot_builder().await.build_snapshot().await?;
        assert_eq!(built.meta.last_log_id, Some(log_id(1, 1, 2)));
        let current = sm.get_current_snapshot().await?.expect("snapshot kept");
        assert_eq!(current.meta, built.meta);
        assert_eq!(current.snapshot.into_inner(), snapshot_bytes(&expected));
    }
    let mut sm = StateMachineStore::<Journal>::open(&sm_path)?;
    assert_eq!(sm.applied_state().await?.0, Some(log_id(1, 1, 2)));
    assert_eq!(sm.handle().read().app, expected);
    Ok(())
}

#[tokio::test]
async fn a_build_keeps_a_snapshot_on_disk_that_covers_as_much() -> anyhow::Result<()> {
    let dir = TempDir::new()?;
    let mut sm = StateMachineStore::<Journal>::open(&dir.path().join("sm.redb"))?;
    let installed = Journal {
        commands: vec![(1, b"from the leader".to_vec())],
    };
    sm.install_snapshot(
        &snapshot_meta(40),
        Box::new(Cursor::new(snapshot_bytes(&installed))),
    )
    .await?;
    // The state is at index 40 too: the build must not rewrite the store.
    let built = sm.get_snapshot_builder().await.build_snapshot().await?;
    assert_eq!(built.meta.last_log_id, Some(log_id(2, 1, 40)));
    let current = sm.get_current_snapshot().await?.expect("snapshot kept");
    assert_eq!(current.meta, snapshot_meta(40));
    assert_eq!(current.snapshot.into_inner(), snapshot_bytes(&installed));
    Ok(())
}

/// Puts entries `range` into redb's `log` table, where builds before the
/// segment files kept them, and `vote` into its `meta` table.
fn write_old_layout(
    path: &std::path::Path,
    range: impl IntoIterator<Item = u64>,
    vote: &Vote<u64>,
) -> anyhow::Result<()> {
    let db = redb::Database::create(path)?;
    let txn = db.begin_write()?;
    {
        let mut log = txn.open_table(redb::TableDefinition::<u64, &[u8]>::new("log"))?;
        for i in range {
            let bytes = postcard::to_allocvec(&batch_entry(2, i, &[b"old"]))?;
            log.insert(i, bytes.as_slice())?;
        }
        let mut meta = txn.open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))?;
        meta.insert("vote", postcard::to_allocvec(vote)?.as_slice())?;
    }
    txn.commit()?;
    Ok(())
}

/// How many entries redb's old `log` table still holds.
fn old_entries_left(path: &std::path::Path) -> anyhow::Result<u64> {
    let db = redb::Database::open(path)?;
    let txn = redb::ReadableDatabase::begin_read(&db)?;
    let log = txn.open_table(redb::TableDefinition::<u64, &[u8]>::new("log"))?;
    Ok(redb::ReadableTableMetadata::len(&log)?)
}

async fn indices(log: &mut LogStore) -> anyhow::Result<Vec<u64>> {
    let entries = log.try_get_log_entries(0..100).await?;
    Ok(entries.iter().map(|e| e.log_id.index).collect())
}

/// A log written by a build that kept its entries in redb's `log` table:
/// opening it moves them into the segment files, once, and keeps the vote.
#[tokio::test]
async fn entries_an_older_build_kept_in_redb_are_moved_and_kept() -> anyhow::Result<()> {
    let dir = TempDir::new()?;
    let path = dir.path().join("log.redb");
    let vote = Vote::new_committed(2, 1);
    write_old_layout(&path, 1..=5, &vote)?;
    for _ in 0..2 {
        let mut log = LogStore::open(&path)?;
        assert_eq!(log.read_vote().await?, Some(vote));
        let state = log.get_log_state().await?;
        assert_eq!(state.last_log_id, Some(log_id(2, 1, 5)));
        assert_eq!(indices(&mut log).await?, [1, 2, 3, 4, 5]);
    }
    // The entries are in the segments now, and gone from redb.
    assert!(dir.path().join("log.wal").read_dir()?.next().is_some());
    assert_eq!(old_entries_left(&path)?, 0);
    Ok(())
}

/// While redb's `log` table holds entries it is the log: segments that
/// hold fewer (a move cut short by a crash) are rebuilt from it.
#[tokio::test]
async fn a_move_cut_short_is_done_again_in_full() -> anyhow::Result<()> {
    let dir = TempDir::new()?;
    let path = dir.path().join("log.redb");
    let vote = Vote::new_committed(2, 1);
    write_old_layout(&path, 1..=2, &vote)?;
    drop(LogStore::open(&path)?);
    // The segments hold 1..2; redb holds 1..5, as if the move had stopped
    // after writing two entries.
    write_old_layout(&path, 1..=5, &vote)?;
    for _ in 0..2 {
        assert_eq!(indices(&mut LogStore::open(&path)?).await?, [1, 2, 3, 4, 5]);
    }
    assert_eq!(old_entries_left(&path)?, 0);
    Ok(())
}

/// Entries in redb with a gap are refused by name, and left where they are.
#[tokio::test]
async fn a_gap_in_the_old_entries_is_refused_and_they_stay() -> anyhow::Result<()> {
    let dir = TempDir::new()?;
    let path = dir.path().join("log.redb");
    write_old_layout(&path, [1, 2, 4], &Vote::new_committed(2, 1))?;
    let err = LogStore::open(&path).err().expect("a gap is refused");
    assert!(err.to_string().contains("jump from 2 to 4"), "{err}");
    assert_eq!(old_entries_left(&path)?, 3);
    Ok(())
}
