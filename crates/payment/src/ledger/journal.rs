//! The ledger's journal: the writes of each group commit, appended to one
//! file and made durable with one `fdatasync`, so that a group can commit
//! in redb without redb's own sync (see [`super::Ledger::apply`]).
//!
//! A record is `length (u32 LE) | CRC-32 of the payload (u32 LE) |
//! payload`, and the payload is `sequence number (u64 LE) | the group's
//! writes (postcard)`. Records are appended one at a time, each synced
//! before the next is written, so only the last one can be torn by a
//! crash; reading stops at the first record that is short or fails its
//! checksum, and the file is cut back to the records before it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write as _};
use std::path::Path;

use super::{LedgerError, Write, storage};

/// Length and checksum in front of every payload.
const FRAME: usize = 8;

/// A record larger than this is damage, not a group (a group holds at most
/// a few hundred writes of a few hundred bytes each).
const MAX_RECORD: usize = 64 << 20;

/// The open journal file.
pub(super) struct Journal {
    file: File,
    /// Bytes in the file.
    len: u64,
}

/// One group of writes read back.
pub(super) struct Record {
    /// Its sequence number: the first group after a checkpoint follows the
    /// checkpoint's number, and each later one the one before it.
    pub seq: u64,
    /// The group's writes, in the order they were applied.
    pub writes: Vec<Write>,
}

impl Journal {
    /// Opens (or creates) the journal at `path` and reads its records.
    /// A torn or damaged tail is cut off, and only that: it was never
    /// synced, so no reply depended on it.
    pub fn open(path: &Path) -> Result<(Self, Vec<Record>), LedgerError> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(storage)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(storage)?;
        let (records, good) = parse(&bytes)?;
        if good < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                kept = good,
                cut = bytes.len() - good,
                "the ledger journal ends in a torn record; cutting it off"
            );
            file.set_len(good as u64).map_err(storage)?;
            file.sync_data().map_err(storage)?;
        }
        let journal = Self {
            file,
            len: good as u64,
        };
        Ok((journal, records))
    }

    /// Appends the group `seq` (its writes already encoded with postcard)
    /// and syncs it. On error the file may end in a torn record: the
    /// caller must write nothing more to it.
    pub fn append(&mut self, seq: u64, writes: &[u8]) -> std::io::Result<()> {
        let payload_len = 8 + writes.len();
        let mut record = Vec::with_capacity(FRAME + payload_len);
        record.extend_from_slice(&(payload_len as u32).to_le_bytes());
        record.extend_from_slice(&[0; 4]);
        record.extend_from_slice(&seq.to_le_bytes());
        record.extend_from_slice(writes);
        let crc = crc32fast::hash(&record[FRAME..]);
        record[4..FRAME].copy_from_slice(&crc.to_le_bytes());
        self.file.write_all(&record)?;
        self.file.sync_data()?;
        self.len += record.len() as u64;
        Ok(())
    }

    /// Bytes in the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Empties the file, once redb holds every record durably. Not synced:
    /// if the cut is lost in a crash, the records are skipped on reading by
    /// their sequence numbers.
    pub fn clear(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.len = 0;
        Ok(())
    }
}

/// The records of `bytes` up to the first torn one, and how many bytes
/// they fill.
fn parse(bytes: &[u8]) -> Result<(Vec<Record>, usize), LedgerError> {
    let mut records = Vec::new();
    let mut at = 0;
    while let Some(frame) = bytes.get(at..at + FRAME) {
        let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
        if !(8..=MAX_RECORD).contains(&len) {
            break;
        }
        let Some(payload) = bytes.get(at + FRAME..at + FRAME + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        let mut seq = [0; 8];
        seq.copy_from_slice(&payload[..8]);
        // A record that passes its checksum was written whole: one that
        // does not decode is not a torn write but one this version cannot
        // read, and cutting it off would lose acknowledged writes.
        let writes = postcard::from_bytes::<Vec<Write>>(&payload[8..]).map_err(|e| {
            LedgerError::Storage(format!(
                "ledger journal record at byte {at} does not decode ({e}); \
                 refusing to open rather than lose it"
            ))
        })?;
        records.push(Record {
            seq: u64::from_le_bytes(seq),
            writes,
        });
        at += FRAME + len;
    }
    Ok((records, at))
}
