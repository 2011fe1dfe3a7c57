//! The ledger's journal: the writes of each group commit, written to one
//! file and made durable with one `fdatasync`, so that a group can commit
//! in redb without redb's own sync (see [`super::Ledger::apply`]).
//!
//! The file starts with a header: [`MAGIC`] (which names the format) and
//! the id of the ledger it belongs to (u64 LE), so that a journal is never
//! replayed into another ledger. Records follow, each numbered one more
//! than the one before it. A record is `length (u32 LE) | CRC-32 of the
//! payload (u32 LE) | payload`, and the payload is `sequence number (u64
//! LE) | the group's writes (postcard)`.
//!
//! The file is kept at [`CAPACITY`] bytes (more if a group needs it), so a
//! write never changes its size: a sync that must also record a new size
//! costs about a third more on the disks this runs on. A zero length
//! marks the end of the records (the rest of the file reads as zeros).
//!
//! Records are written one at a time, each synced before the next, so only
//! the last one can be torn by a crash. Reading stops at the first record
//! that is short or fails its checksum, and at a record whose number is
//! not above the one before it (one left from before an emptying the crash
//! did not keep); the file is zeroed from there. A damaged record followed
//! by the next group's is not a torn one: the journal is refused then.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use super::{LedgerError, Write, storage};

/// The start of the header: the file's kind and format version.
const MAGIC: &[u8; 8] = b"BOLJNL01";

/// The header: [`MAGIC`] and the ledger's id.
const HEADER: u64 = 16;

/// Length and checksum in front of every payload.
const FRAME: usize = 8;

/// The size the file is kept at: room for the groups between two
/// checkpoints (at most [`super::CHECKPOINT_BYTES`] and one more group).
const CAPACITY: u64 = 2 * super::CHECKPOINT_BYTES;

/// A record larger than this is damage, not a group (a group holds at most
/// a few hundred writes of a few hundred bytes each).
const MAX_RECORD: usize = 64 << 20;

/// The open journal file.
pub(super) struct Journal {
    file: File,
    /// Bytes of records: where the next one goes.
    len: u64,
    /// The file's size.
    size: u64,
}

/// One group of writes read back.
pub(super) struct Record {
    /// Its sequence number: each group's is one more than the group's
    /// before it, across checkpoints.
    pub seq: u64,
    /// The group's writes, in the order they were applied.
    pub writes: Vec<Write>,
}

impl Journal {
    /// Opens (or creates) the journal at `path` of the ledger `ledger_id`,
    /// which holds every group up to `durable`, and reads its records up to
    /// a torn tail (never synced, so no reply depended on it). The caller
    /// applies them and then empties the file ([`Journal::clear`]), tail
    /// and all, before appending. A journal of another ledger or format is
    /// refused, and left as it is.
    pub fn open(
        path: &Path,
        ledger_id: u64,
        durable: u64,
    ) -> Result<(Self, Vec<Record>), LedgerError> {
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            // Its records name users, amounts and cards' last digits.
            .mode(0o600)
            // Never written through a link planted in its place.
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| {
                if e.raw_os_error() == Some(libc::ELOOP) {
                    LedgerError::Storage(format!(
                        "ledger journal {} is a symbolic link; refusing to follow it",
                        path.display()
                    ))
                } else {
                    storage(e)
                }
            })?;
        if created {
            // The new name must survive a crash as much as what is written
            // to the file under it.
            if let Some(dir) = path.parent() {
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(storage)?;
            }
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(storage)?;
        let mut header = [0; HEADER as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..].copy_from_slice(&ledger_id.to_le_bytes());
        let holds_records = bytes
            .get(HEADER as usize..)
            .is_some_and(|rest| rest.iter().any(|b| *b != 0));
        let (records, good) = match bytes.get(..HEADER as usize) {
            // New, or created but never written.
            None => (Vec::new(), HEADER as usize),
            // Nothing acknowledged is in it, whatever its header says (a
            // crash while it was made, a ledger made again beside it):
            // it becomes this ledger's.
            Some(found) if !holds_records => {
                if found != header && found.iter().any(|b| *b != 0) {
                    tracing::warn!(
                        path = %path.display(),
                        "the ledger journal is empty but was not this ledger's; taking it over"
                    );
                }
                (Vec::new(), HEADER as usize)
            }
            Some(found) if found.iter().all(|b| *b == 0) => {
                return Err(LedgerError::Storage(format!(
                    "{} holds records without a header; refusing to open rather than lose them",
                    path.display()
                )));
            }
            Some(found) if found[..8] != MAGIC[..] => {
                return Err(LedgerError::Storage(format!(
                    "{} is not a ledger journal of this version",
                    path.display()
                )));
            }
            Some(found) if found != header => {
                return Err(LedgerError::Storage(format!(
                    "{} belongs to another ledger than the one beside it; \
                     refusing to replay it",
                    path.display()
                )));
            }
            Some(_) => parse(&bytes, HEADER as usize, durable)?,
        };
        if bytes
            .get(good..)
            .is_some_and(|rest| rest.iter().any(|b| *b != 0))
        {
            tracing::warn!(
                path = %path.display(),
                kept = good,
                "the ledger journal ends in a torn or stale record; it goes with the emptying"
            );
        }
        let journal = Self {
            file,
            len: good as u64,
            size: bytes.len() as u64,
        };
        journal.file.write_all_at(&header, 0).map_err(storage)?;
        Ok((journal, records))
    }

    /// Writes the group `seq` (its writes already encoded with postcard)
    /// after the others and syncs it. On error the file may end in a torn
    /// record: the caller must write nothing more to it.
    pub fn append(&mut self, seq: u64, writes: &[u8]) -> std::io::Result<()> {
        let payload_len = 8 + writes.len();
        if payload_len > MAX_RECORD {
            return Err(std::io::Error::other(format!(
                "a group of {payload_len} bytes is larger than a journal record may be"
            )));
        }
        let mut record = Vec::with_capacity(FRAME + payload_len);
        record.extend_from_slice(&(payload_len as u32).to_le_bytes());
        record.extend_from_slice(&[0; 4]);
        record.extend_from_slice(&seq.to_le_bytes());
        record.extend_from_slice(writes);
        let crc = crc32fast::hash(&record[FRAME..]);
        record[4..FRAME].copy_from_slice(&crc.to_le_bytes());
        let end = self.len + record.len() as u64;
        // Room for the end marker (a zero length) after the record.
        if end + FRAME as u64 > self.size {
            self.size = (end + FRAME as u64).max(self.size + CAPACITY);
            self.file.set_len(self.size)?;
        }
        self.file.write_all_at(&record, self.len)?;
        self.file.sync_data()?;
        self.len = end;
        Ok(())
    }

    /// Bytes of records.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Empties the file, once redb holds every record durably: if a crash
    /// loses the emptying, the old records are told from new ones by their
    /// numbers.
    pub fn clear(&mut self) -> std::io::Result<()> {
        self.cut(HEADER)
    }

    /// Keeps the first `at` bytes (at least the header) and zeroes the
    /// rest, back at [`CAPACITY`].
    fn cut(&mut self, at: u64) -> std::io::Result<()> {
        let size = CAPACITY.max(at + FRAME as u64);
        self.file.set_len(at)?;
        self.file.set_len(size)?;
        self.file.sync_data()?;
        self.len = at;
        self.size = size;
        Ok(())
    }
}

/// The payload of the whole record at `at`, if one is there.
fn record_at(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let frame = bytes.get(at..at + FRAME)?;
    let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
    if !(8..=MAX_RECORD).contains(&len) {
        return None;
    }
    let payload = bytes.get(at + FRAME..at + FRAME + len)?;
    (crc32fast::hash(payload) == crc).then_some(payload)
}

/// A payload's sequence number.
fn seq_of(payload: &[u8]) -> u64 {
    let mut seq = [0; 8];
    seq.copy_from_slice(&payload[..8]);
    u64::from_le_bytes(seq)
}

/// The records of `bytes` from `start` up to the first torn or stale one,
/// and where they end; the ledger holds every group up to `durable`.
fn parse(bytes: &[u8], start: usize, durable: u64) -> Result<(Vec<Record>, usize), LedgerError> {
    let mut records: Vec<Record> = Vec::new();
    let mut at = start;
    loop {
        let Some(payload) = record_at(bytes, at) else {
            let before = records.last().map_or(durable, |r| r.seq);
            refuse_damage(bytes, at, before)?;
            break;
        };
        let seq = seq_of(payload);
        match records.last() {
            Some(last) if seq <= last.seq => break,
            Some(last) if seq != last.seq + 1 => {
                return Err(LedgerError::Storage(format!(
                    "ledger journal: group {seq} follows group {}; a group is missing",
                    last.seq
                )));
            }
            _ => {}
        }
        // A record that passes its checksum was written whole: one that
        // does not decode is not a torn write but one this version cannot
        // read, and cutting it off would lose acknowledged writes.
        let writes = postcard::from_bytes::<Vec<Write>>(&payload[8..]).map_err(|e| {
            LedgerError::Storage(format!(
                "ledger journal record at byte {at} does not decode ({e}); \
                 refusing to open rather than lose it"
            ))
        })?;
        records.push(Record { seq, writes });
        at += FRAME + payload.len();
    }
    Ok((records, at))
}

/// Refuses the journal if the unreadable record at `at` (group `last + 1`
/// if it is one) is followed by group `last + 2`: then it was damaged after
/// it was synced, not torn by a crash, and acknowledged groups follow.
fn refuse_damage(bytes: &[u8], at: usize, last: u64) -> Result<(), LedgerError> {
    let Some(frame) = bytes.get(at..at + FRAME) else {
        return Ok(());
    };
    let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    let next = record_at(bytes, at.saturating_add(FRAME).saturating_add(len));
    match next.map(seq_of) {
        Some(seq) if seq == last + 2 => Err(LedgerError::Storage(format!(
            "ledger journal: group {} at byte {at} is damaged and group {seq} follows it; \
             refusing to open rather than lose them",
            last + 1
        ))),
        _ => Ok(()),
    }
}
