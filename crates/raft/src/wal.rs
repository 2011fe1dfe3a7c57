//! The Raft log's entries in append-only segment files.
//!
//! A durable append is one `pwrite` and one `fdatasync` of the file it went
//! to, instead of the dozen scattered pages a B-tree commit writes (see
//! docs/benchmarks.md, "The log in segment files"). The vote, the committed
//! id and the purge point stay in redb (`log.redb`): they change rarely.
//!
//! # Layout
//! A directory of segments named by the index of their first entry
//! (`00000000000000000042.seg`). Each segment is created at its full size
//! (sparse, [`SEGMENT_BYTES`] unless one record needs more) so an append
//! never changes the file's size. A segment holds consecutive records:
//!
//! ```text
//! len: u32 LE | crc32: u32 LE | index: u64 LE | payload (len bytes)
//! ```
//!
//! The checksum covers the index and the payload. A zero length marks the
//! end of the written part (the rest of the file reads as zeros).
//!
//! # Invariants
//! - Indices are consecutive within a segment and across segments.
//! - Only the last segment can end in a torn record: a group of appends
//!   that spills into a new segment syncs the old one before writing the
//!   new one. On open, a torn or unreadable tail of the last segment is cut
//!   off (those entries were never reported durable); anything else that
//!   does not read back whole is refused as corruption.
//! - Bytes after the last record are zeros: a truncate and the cut on open
//!   shrink the file to the cut and grow it again, so no older record after
//!   the cut can be read back as if it followed the new ones.
//! - Every change is made by one thread (the log's writer); readers see the
//!   index under a read lock and read records with `pread`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// The size a segment is created with (sparse).
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

const HEADER: usize = 16;

/// Longest payload a record may carry; a longer one is refused, and on open
/// a length beyond it ends the readable part.
const MAX_PAYLOAD: usize = 256 * 1024 * 1024;

/// The segment files of one log, shared by its writer and its readers.
pub struct Wal {
    dir: PathBuf,
    segment_bytes: u64,
    state: RwLock<State>,
    /// Set after a failed write or sync: what is on disk is then unknown, so
    /// every later write is refused (the node must restart and recover).
    failed: AtomicBool,
}

#[derive(Default)]
struct State {
    segments: Vec<Segment>,
    /// Entries at or below this index are purged: never returned.
    purged: Option<u64>,
}

impl State {
    fn wholly_purged(&self, segment: &Segment) -> bool {
        self.purged
            .is_some_and(|p| segment.next_index() <= p.saturating_add(1))
    }
}

struct Segment {
    first: u64,
    path: PathBuf,
    file: Arc<File>,
    /// The size the file was created with.
    capacity: u64,
    /// Where each record ends; record `k` starts where `k - 1` ends (or 0).
    ends: Vec<u64>,
}

impl Segment {
    fn written(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    fn next_index(&self) -> u64 {
        self.first + self.ends.len() as u64
    }

    fn span(&self, index: u64) -> (u64, u64) {
        let k = (index - self.first) as usize;
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        (start, self.ends[k])
    }
}

/// A record's bytes: header and payload (at most [`MAX_PAYLOAD`] bytes,
/// which [`Wal::write`] checks before it writes anything).
fn record(index: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(index, payload).to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn checksum(index: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&index.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

fn corrupt(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.seg"))
}

/// What a scan of one segment found.
struct Scan {
    ends: Vec<u64>,
    /// The scan stopped at something other than the zeros after the last
    /// record: a torn or corrupt record at `written`.
    torn: bool,
}

fn scan(file: &File, first: u64, capacity: u64) -> io::Result<Scan> {
    let mut ends = Vec::new();
    let mut at = 0u64;
    let mut header = [0u8; HEADER];
    let mut payload = Vec::new();
    let torn = loop {
        if at + HEADER as u64 > capacity {
            break false;
        }
        file.read_exact_at(&mut header, at)?;
        let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        if len == 0 && header.iter().all(|b| *b == 0) {
            break false;
        }
        let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
        let index = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
        let end = at + (HEADER + len) as u64;
        if len > MAX_PAYLOAD || end > capacity || index != first + ends.len() as u64 {
            break true;
        }
        payload.resize(len, 0);
        file.read_exact_at(&mut payload, at + HEADER as u64)?;
        if checksum(index, &payload) != crc {
            break true;
        }
        ends.push(end);
        at = end;
    };
    Ok(Scan { ends, torn })
}

/// Cuts `file` at `at` and grows it back to `capacity`: what follows `at`
/// reads as zeros from then on.
fn zero_from(file: &File, at: u64, capacity: u64) -> io::Result<()> {
    file.set_len(at)?;
    file.set_len(capacity)?;
    file.sync_data()
}

impl Wal {
    /// Opens (or creates) the segments in `dir`, skipping entries at or
    /// below `purged`. Cuts a torn tail off the last segment; refuses any
    /// other damage with an `InvalidData` error naming the file.
    pub fn open(dir: &Path, purged: Option<u64>) -> io::Result<Self> {
        Self::open_with(dir, purged, SEGMENT_BYTES)
    }

    /// [`Wal::open`] with segments of `segment_bytes` (tests use small ones).
    pub fn open_with(dir: &Path, purged: Option<u64>, segment_bytes: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        // The directory itself must survive a crash, like the files in it.
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
        sync_dir(parent.unwrap_or(Path::new(".")))?;
        let mut names: Vec<(u64, PathBuf)> = Vec::new();
        for item in fs::read_dir(dir)? {
            let path = item?.path();
            let first = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(first) = first {
                names.push((first, path));
            }
        }
        names.sort();
        // Scan every segment first: which one is last is known only once the
        // empty ones at the end (made for a group none of whose records
        // reached the disk) are gone.
        let mut removed = false;
        let mut scanned = Vec::with_capacity(names.len());
        for (first, path) in names {
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            let capacity = file.metadata()?.len();
            let found = scan(&file, first, capacity)?;
            scanned.push((first, path, file, capacity, found));
        }
        while scanned.last().is_some_and(|s| s.4.ends.is_empty()) {
            let (_, path, file, _, _) = scanned.pop().expect("checked");
            drop(file);
            fs::remove_file(&path)?;
            removed = true;
        }
        let count = scanned.len();
        let mut segments: Vec<Segment> = Vec::with_capacity(count);
        for (i, (first, path, file, capacity, found)) in scanned.into_iter().enumerate() {
            let last = i + 1 == count;
            let next = first + found.ends.len() as u64;
            if purged.is_some_and(|p| next <= p.saturating_add(1)) && !last {
                // Wholly purged: a crash came between the purge point's commit
                // and the deletion (of this one or of a later one).
                drop(file);
                fs::remove_file(&path)?;
                removed = true;
                continue;
            }
            if (found.torn || found.ends.is_empty()) && !last {
                return Err(corrupt(format!(
                    "log segment {} is damaged after {} records, and it is not the last \
                     segment: refusing to open the log",
                    path.display(),
                    found.ends.len()
                )));
            }
            if last {
                // What follows the last whole record was never reported
                // durable: a torn record, or records written after a page that
                // never reached the disk. Zero it all, so that none of it can
                // be read back after the records written next.
                let at = found.ends.last().copied().unwrap_or(0);
                if found.torn {
                    tracing::warn!(
                        segment = %path.display(),
                        records = found.ends.len(),
                        at,
                        "cutting a torn record off the log's tail (never reported durable)"
                    );
                }
                zero_from(&file, at, capacity)?;
            }
            if let Some(prev) = segments.last()
                && prev.next_index() != first
            {
                return Err(corrupt(format!(
                    "log segment {} starts at entry {first}, but the one before ends at \
                     entry {}: refusing to open the log",
                    path.display(),
                    prev.next_index().saturating_sub(1)
                )));
            }
            segments.push(Segment {
                first,
                path,
                file: Arc::new(file),
                capacity,
                ends: found.ends,
            });
        }
        if removed {
            sync_dir(dir)?;
        }
        if let (Some(p), Some(first)) = (purged, segments.first())
            && first.first > p.saturating_add(1)
        {
            return Err(corrupt(format!(
                "the log's entries are purged up to {p}, but its first segment {} starts at \
                 entry {}: entries in between are missing; refusing to open the log",
                first.path.display(),
                first.first
            )));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            segment_bytes,
            state: RwLock::new(State { segments, purged }),
            failed: AtomicBool::new(false),
        })
    }

    fn check(&self) -> io::Result<()> {
        if self.failed.load(Ordering::Acquire) {
            return Err(io::Error::other(
                "an earlier log write failed; restart the node to recover the log",
            ));
        }
        Ok(())
    }

    /// Runs a write step; a failure poisons the log.
    fn guarded<T>(&self, step: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        self.check()?;
        step().inspect_err(|_| self.failed.store(true, Ordering::Release))
    }

    /// The last stored entry's index, if any is stored (and not purged).
    pub fn last_index(&self) -> Option<u64> {
        let state = self.state.read().expect("wal lock poisoned");
        let last = state.segments.iter().rev().find(|s| !s.ends.is_empty())?;
        if state.wholly_purged(last) {
            return None;
        }
        Some(last.next_index() - 1)
    }

    /// Writes `entries` (index, payload; consecutive, following the last
    /// entry) without syncing. Returns the files written, for [`Wal::sync`].
    /// A segment is synced before the next one is started.
    /// Entries that do not follow the log are refused before anything is
    /// written.
    pub fn write(&self, entries: &[(u64, &[u8])]) -> io::Result<Vec<Arc<File>>> {
        self.check()?;
        let Some(&(first, _)) = entries.first() else {
            return Ok(Vec::new());
        };
        let follows = |index: u64, after: u64| {
            if index == after.wrapping_add(1) {
                Ok(())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("log entry {index} does not follow entry {after}"),
                ))
            }
        };
        // An empty (or wholly purged) log takes any first index: after a
        // snapshot is installed the log goes on after the snapshot, and
        // openraft's storage suite even appends below the purge point.
        if let Some(last) = self.last_index() {
            follows(first, last)?;
        }
        for pair in entries.windows(2) {
            follows(pair[1].0, pair[0].0)?;
        }
        if let Some((index, payload)) = entries.iter().find(|(_, p)| p.len() > MAX_PAYLOAD) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "log entry {index} is {} bytes, over the {MAX_PAYLOAD}-byte limit",
                    payload.len()
                ),
            ));
        }
        self.guarded(|| {
            let mut touched: Vec<Arc<File>> = Vec::new();
            let mut i = 0;
            while i < entries.len() {
                let (file, at, capacity) = self.room_for(entries[i].0, entries[i].1.len())?;
                // Fill this segment with as many records as fit.
                let mut buf = Vec::new();
                let mut ends = Vec::new();
                while let Some(&(index, payload)) = entries.get(i) {
                    let rec = record(index, payload);
                    if !ends.is_empty() && at + (buf.len() + rec.len()) as u64 > capacity {
                        break;
                    }
                    buf.extend_from_slice(&rec);
                    ends.push(at + buf.len() as u64);
                    i += 1;
                }
                file.write_all_at(&buf, at)?;
                self.state
                    .write()
                    .expect("wal lock poisoned")
                    .segments
                    .last_mut()
                    .expect("room_for made a segment")
                    .ends
                    .extend(ends);
                // If the rest goes to a new segment, `room_for` syncs this
                // one first, so that only the last segment can be torn.
                if !touched.iter().any(|f| Arc::ptr_eq(f, &file)) {
                    touched.push(file);
                }
            }
            Ok(touched)
        })
    }

    /// The segment to write entry `index` (of `len` payload bytes) to, the
    /// position to write at and the segment's capacity. Starts a new segment
    /// when the last one is full, empty or wholly purged (or there is none).
    fn room_for(&self, index: u64, len: usize) -> io::Result<(Arc<File>, u64, u64)> {
        let need = (HEADER + len) as u64;
        let replace = {
            let state = self.state.read().expect("wal lock poisoned");
            match state.segments.last() {
                Some(s) if s.ends.is_empty() || state.wholly_purged(s) => true,
                Some(s) if s.written() + need <= s.capacity => {
                    return Ok((s.file.clone(), s.written(), s.capacity));
                }
                Some(full) => {
                    // Records an earlier write of this group left in it must
                    // be durable before the next segment exists.
                    full.file.sync_data()?;
                    false
                }
                None => false,
            }
        };
        if replace {
            let mut state = self.state.write().expect("wal lock poisoned");
            let old = state.segments.pop().expect("checked");
            fs::remove_file(&old.path)?;
        }
        let capacity = self.segment_bytes.max(need);
        let path = segment_path(&self.dir, index);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.set_len(capacity)?;
        file.sync_all()?;
        sync_dir(&self.dir)?;
        let file = Arc::new(file);
        self.state
            .write()
            .expect("wal lock poisoned")
            .segments
            .push(Segment {
                first: index,
                path,
                file: file.clone(),
                capacity,
                ends: Vec::new(),
            });
        Ok((file, 0, capacity))
    }

    /// Makes what [`Wal::write`] wrote durable.
    pub fn sync(&self, files: &[Arc<File>]) -> io::Result<()> {
        self.guarded(|| files.iter().try_for_each(|f| f.sync_data()))
    }

    /// Deletes every entry from `from` on, durably.
    pub fn truncate(&self, from: u64) -> io::Result<()> {
        self.guarded(|| {
            let mut state = self.state.write().expect("wal lock poisoned");
            // Highest first, each deletion durable before the next: a crash
            // leaves a shorter log, never one with a gap.
            while state.segments.last().is_some_and(|s| s.first >= from) {
                let last = state.segments.pop().expect("checked");
                fs::remove_file(&last.path)?;
                sync_dir(&self.dir)?;
            }
            if let Some(last) = state.segments.last_mut()
                && from < last.next_index()
            {
                let keep = (from - last.first) as usize;
                let at = if keep == 0 { 0 } else { last.ends[keep - 1] };
                last.ends.truncate(keep);
                zero_from(&last.file, at, last.capacity)?;
            }
            Ok(())
        })
    }

    /// Forgets entries up to `upto` and deletes the segments that hold
    /// nothing else. The caller has made the purge point durable first.
    pub fn purge(&self, upto: u64) -> io::Result<()> {
        self.guarded(|| {
            let mut state = self.state.write().expect("wal lock poisoned");
            state.purged = Some(state.purged.map_or(upto, |p| p.max(upto)));
            let mut removed = false;
            // Keep the last segment: appends continue there (or, if it is
            // wholly purged, a new one starts after it).
            while state.segments.len() > 1
                && state.segments[0].next_index() <= upto.saturating_add(1)
            {
                let first = state.segments.remove(0);
                fs::remove_file(&first.path)?;
                removed = true;
            }
            if removed {
                sync_dir(&self.dir)?;
            }
            Ok(())
        })
    }

    /// The payloads of the stored entries in `start..=end`, in order, as
    /// (index, payload): the run of consecutive entries from the first one
    /// stored in the range.
    pub fn read(&self, start: u64, end: u64) -> io::Result<Vec<(u64, Vec<u8>)>> {
        let state = self.state.read().expect("wal lock poisoned");
        let start = match state.purged {
            Some(p) => start.max(p.saturating_add(1)),
            None => start,
        };
        let mut out = Vec::new();
        let mut next = start;
        for segment in &state.segments {
            if next > end {
                break;
            }
            if segment.next_index() <= next || segment.ends.is_empty() {
                continue;
            }
            if segment.first > next {
                // Nothing is stored below the first segment: start there.
                if !out.is_empty() {
                    break;
                }
                next = segment.first;
                if next > end {
                    break;
                }
            }
            let last = end.min(segment.next_index() - 1);
            let (from, _) = segment.span(next);
            let (_, to) = segment.span(last);
            let mut buf = vec![0u8; (to - from) as usize];
            segment.file.read_exact_at(&mut buf, from)?;
            for index in next..=last {
                let (a, b) = segment.span(index);
                let rec = &buf[(a - from) as usize..(b - from) as usize];
                let len = u32::from_le_bytes(rec[0..4].try_into().expect("4 bytes")) as usize;
                let crc = u32::from_le_bytes(rec[4..8].try_into().expect("4 bytes"));
                let stored = u64::from_le_bytes(rec[8..16].try_into().expect("8 bytes"));
                let payload = &rec[HEADER..];
                if stored != index || payload.len() != len || checksum(index, payload) != crc {
                    return Err(corrupt(format!(
                        "log entry {index} in {} does not read back as written",
                        segment.path.display()
                    )));
                }
                out.push((index, payload.to_vec()));
            }
            next = last + 1;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(i: u64) -> Vec<u8> {
        format!("entry {i} ")
            .repeat((i % 7 + 1) as usize)
            .into_bytes()
    }

    fn write(wal: &Wal, range: std::ops::RangeInclusive<u64>) {
        let owned: Vec<(u64, Vec<u8>)> = range.map(|i| (i, payload(i))).collect();
        let entries: Vec<(u64, &[u8])> = owned.iter().map(|(i, p)| (*i, p.as_slice())).collect();
        let files = wal.write(&entries).unwrap();
        wal.sync(&files).unwrap();
    }

    /// A directory holding a log of `range`, in segments of `segment_bytes`.
    fn written(segment_bytes: u64, range: std::ops::RangeInclusive<u64>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(
            &Wal::open_with(dir.path(), None, segment_bytes).unwrap(),
            range,
        );
        dir
    }

    fn indices(wal: &Wal) -> Vec<u64> {
        let read = wal.read(0, u64::MAX).unwrap();
        for (i, p) in &read {
            assert_eq!(p, &payload(*i));
        }
        read.into_iter().map(|(i, _)| i).collect()
    }

    fn segments(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn entries_survive_reopen_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        {
            let wal = Wal::open_with(dir.path(), None, 256).unwrap();
            write(&wal, 1..=5);
            write(&wal, 6..=30);
            assert_eq!(indices(&wal), (1..=30).collect::<Vec<_>>());
        }
        assert!(segments(dir.path()).len() > 3, "{:?}", segments(dir.path()));
        let wal = Wal::open_with(dir.path(), None, 256).unwrap();
        assert_eq!(indices(&wal), (1..=30).collect::<Vec<_>>());
        assert_eq!(wal.last_index(), Some(30));
        assert_eq!(
            wal.read(7, 9)
                .unwrap()
                .iter()
                .map(|e| e.0)
                .collect::<Vec<_>>(),
            [7, 8, 9]
        );
    }

    #[test]
    fn a_gap_or_a_repeat_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open_with(dir.path(), None, 256).unwrap();
        write(&wal, 1..=3);
        let p = payload(9);
        assert!(wal.write(&[(9, p.as_slice())]).is_err());
        assert!(wal.write(&[(3, p.as_slice())]).is_err());
        assert_eq!(indices(&wal), [1, 2, 3]);
    }

    /// Where record `index` of the only segment starts and ends.
    fn span_of(dir: &Path, index: u64) -> (u64, u64) {
        let wal = Wal::open_with(dir, None, 4096).unwrap();
        let state = wal.state.read().unwrap();
        state.segments[0].span(index)
    }

    fn only_segment(dir: &Path) -> File {
        let path = dir.join(segments(dir).pop().unwrap());
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap()
    }

    #[test]
    fn a_torn_tail_is_cut_and_older_records_never_come_back() {
        let dir = written(4096, 1..=6);
        // Tear the last record: flip the last byte of its payload.
        let (_, end) = span_of(dir.path(), 6);
        only_segment(dir.path())
            .write_all_at(b"X", end - 1)
            .unwrap();
        let wal = Wal::open_with(dir.path(), None, 4096).unwrap();
        assert_eq!(indices(&wal), [1, 2, 3, 4, 5]);
        // A new entry 4 exactly as long as the old one: the old record 5
        // right after it is whole, and must not be read back after it.
        wal.truncate(4).unwrap();
        let mut new4 = payload(4);
        new4[0] = b'E';
        let files = wal.write(&[(4, new4.as_slice())]).unwrap();
        wal.sync(&files).unwrap();
        drop(wal);
        let wal = Wal::open_with(dir.path(), None, 4096).unwrap();
        let read = wal.read(0, u64::MAX).unwrap();
        assert_eq!(read.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(read[3].1, new4);
    }

    #[test]
    fn records_after_a_page_that_never_reached_the_disk_are_dropped() {
        let dir = written(4096, 1..=6);
        // Record 4's header lost (reads as zeros), 5 and 6 on disk after it.
        let (start, _) = span_of(dir.path(), 4);
        only_segment(dir.path())
            .write_all_at(&[0u8; HEADER], start)
            .unwrap();
        let wal = Wal::open_with(dir.path(), None, 4096).unwrap();
        assert_eq!(indices(&wal), [1, 2, 3]);
        // A new entry 4 as long as the old: the old 5 and 6 stay gone.
        let files = wal.write(&[(4, payload(4).as_slice())]).unwrap();
        wal.sync(&files).unwrap();
        drop(wal);
        let wal = Wal::open_with(dir.path(), None, 4096).unwrap();
        assert_eq!(indices(&wal), [1, 2, 3, 4]);
    }

    #[test]
    fn an_empty_last_segment_hides_nothing() {
        let dir = written(256, 1..=30);
        // A crash after the next segment was made, before its records landed.
        let empty = segment_path(dir.path(), 31);
        File::create(&empty).unwrap().set_len(256).unwrap();
        let wal = Wal::open_with(dir.path(), None, 256).unwrap();
        assert_eq!(wal.last_index(), Some(30));
        assert!(!empty.exists());
        write(&wal, 31..=32);
        drop(wal);
        let wal = Wal::open_with(dir.path(), None, 256).unwrap();
        assert_eq!(indices(&wal), (1..=32).collect::<Vec<_>>());
    }

    #[test]
    fn segments_a_crash_left_behind_the_purge_point_go_on_open() {
        let dir = written(256, 1..=30);
        let before = segments(dir.path()).len();
        // The purge point was committed; the deletions never happened.
        let wal = Wal::open_with(dir.path(), Some(15), 256).unwrap();
        assert_eq!(indices(&wal), (16..=30).collect::<Vec<_>>());
        assert!(segments(dir.path()).len() < before);
        assert!(segments(dir.path())[0].as_str() > "00000000000000000001");
        // A purge point past a missing stretch of entries is refused.
        drop(wal);
        let err = Wal::open_with(dir.path(), Some(2), 256).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn damage_before_the_last_segment_is_refused() {
        let dir = written(256, 1..=30);
        let before = segments(dir.path());
        let first = dir.path().join(&before[0]);
        let file = OpenOptions::new().write(true).open(&first).unwrap();
        // The second record, then the first: each is refused, and nothing is
        // deleted.
        let (_, end) = {
            let wal = Wal::open_with(dir.path(), None, 256).unwrap();
            let state = wal.state.read().unwrap();
            state.segments[0].span(1)
        };
        for at in [end + HEADER as u64 + 2, HEADER as u64 + 2] {
            file.write_all_at(b"XXXX", at).unwrap();
            let err = Wal::open_with(dir.path(), None, 256).err().unwrap();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(err.to_string().contains("not the last segment"), "{err}");
            assert_eq!(segments(dir.path()), before);
        }
    }

    #[test]
    fn truncate_and_purge_remove_segments() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open_with(dir.path(), None, 256).unwrap();
        write(&wal, 1..=30);
        let before = segments(dir.path()).len();
        wal.truncate(12).unwrap();
        assert_eq!(indices(&wal), (1..=11).collect::<Vec<_>>());
        assert!(segments(dir.path()).len() < before);
        write(&wal, 12..=20);
        wal.purge(15).unwrap();
        assert_eq!(indices(&wal), (16..=20).collect::<Vec<_>>());
        assert!(segments(dir.path())[0].as_str() > "00000000000000000009");
        drop(wal);
        let wal = Wal::open_with(dir.path(), Some(15), 256).unwrap();
        assert_eq!(indices(&wal), (16..=20).collect::<Vec<_>>());
        // Everything purged: the next append starts a segment after it.
        wal.purge(20).unwrap();
        assert!(indices(&wal).is_empty());
        assert_eq!(wal.last_index(), None);
        write(&wal, 21..=22);
        drop(wal);
        let wal = Wal::open_with(dir.path(), Some(20), 256).unwrap();
        assert_eq!(indices(&wal), [21, 22]);
    }

    #[test]
    fn truncating_everything_lets_the_log_start_again() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open_with(dir.path(), None, 256).unwrap();
        write(&wal, 1..=30);
        wal.truncate(1).unwrap();
        assert_eq!(wal.last_index(), None);
        write(&wal, 1..=2);
        drop(wal);
        let wal = Wal::open_with(dir.path(), None, 256).unwrap();
        assert_eq!(indices(&wal), [1, 2]);
    }

    #[test]
    fn a_record_larger_than_a_segment_gets_a_segment_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open_with(dir.path(), None, 64).unwrap();
        let big = vec![7u8; 1000];
        let files = wal.write(&[(1, big.as_slice())]).unwrap();
        wal.sync(&files).unwrap();
        drop(wal);
        let wal = Wal::open_with(dir.path(), None, 64).unwrap();
        assert_eq!(wal.read(1, 1).unwrap(), [(1, big)]);
    }
}
