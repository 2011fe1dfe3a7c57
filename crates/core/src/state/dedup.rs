//! The dedup window: what the state remembers of each request applied in
//! the last [`DEDUP_TTL_MS`](crate::ids::DEDUP_TTL_MS), kept small.
//!
//! Only successful outcomes are recorded (a rejected request is judged
//! afresh when retried). A record does not keep the request id, the command
//! or the outcome. It keeps a 128-bit digest of the request id and the
//! caller's user (the lookup key: each user's ids, and the trusted
//! requests' ids, are a namespace of their own), a 64-bit digest of the
//! command without a `Hold`'s order id (to recognise an id reused for another
//! request), the time, and the outcome in [`Recorded`] form: for the common outcome, a booking, only the
//! booking's id, status and kind of payment, from which the booking as it
//! was is rebuilt (every other field of a booking is fixed at creation, and
//! a payment's transaction, once set, never changes). About 48 bytes a
//! record instead of about 800. The one exception, a return of some of a
//! booking's tickets, makes that booking's records whole first
//! ([`DedupWindow::pin_booking`]).
//!
//! Records sit in a queue in the order they were applied, which is also
//! time order (the state's clock never goes back), so pruning pops the
//! front, and the snapshot lists them in that order. A hash table of
//! sequence numbers finds a record by key; it is only looked up, never
//! iterated, so nothing depends on its order.

use std::collections::VecDeque;
use std::fmt;

use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Booking;
use super::Inconsistency;
use super::stored::{PaymentKind, StatusKind};
use crate::command::{Command, HoldLimits};
use crate::ids::{BookingId, OrderId, RequestId, Timestamp, UserId};
use crate::outcome::{Effect, Outcome, Rejection};

/// The lookup key of a request id in the scope of its sender: the first
/// 128 bits of the SHA-256 of the sender's user (`None` for a trusted
/// request) and the id, in postcard form.
///
/// The scope is hashed into the key rather than stored beside it, so a
/// record stays as small as before, and two users' equal ids (or a user's
/// and the system's) are different keys: nobody can occupy, or read the
/// outcome under, an id of someone else's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct RequestKey([u8; 16]);

impl RequestKey {
    /// The key of `id` sent by `scope` (`None`: a trusted request).
    pub(super) fn of(scope: Option<&UserId>, id: &RequestId) -> Self {
        let mut hasher = Sha256::new();
        // Postcard tags the option and prefixes each string with its
        // length, so no two (scope, id) pairs encode alike.
        let written = postcard::to_io(&(scope.map(UserId::as_str), id.as_str()), &mut hasher);
        debug_assert!(written.is_ok(), "postcard could not encode a request id");
        let digest = hasher.finalize();
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        Self(key)
    }

    /// The key's hash-table hash (it is already uniformly distributed).
    fn hash(&self) -> u64 {
        let mut low = [0; 8];
        low.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(low)
    }
}

/// What identifies a request apart from its id and sender (which its
/// [`RequestKey`] covers): the command with a `Hold`'s order id left
/// out (a nonce the edge draws afresh for every attempt), as the first 64 bits of the
/// SHA-256 of its postcard form.
///
/// Two requests under one key with different fingerprints are a reused id;
/// equal fingerprints of different requests would need both a 128-bit
/// request-key match and a 64-bit collision.
pub(super) fn fingerprint(command: &Command) -> u64 {
    let mut hasher = Sha256::new();
    let written = match command {
        Command::Hold {
            show,
            seats,
            tickets,
            user,
            ttl_ms,
            max_seats_per_user,
            limits,
            order: _,
        } => {
            let blank = OrderId(String::new());
            let hold = Command::Hold {
                order: blank,
                show: show.clone(),
                seats: seats.clone(),
                tickets: tickets.clone(),
                user: user.clone(),
                ttl_ms: *ttl_ms,
                max_seats_per_user: *max_seats_per_user,
                // A retry from another network (a phone that moved from
                // wifi to its carrier), or with another card, is the same
                // request.
                limits: HoldLimits {
                    network: None,
                    card: None,
                    ..*limits
                },
            };
            postcard::to_io(&hold, &mut hasher).is_ok()
        }
        _ => postcard::to_io(command, &mut hasher).is_ok(),
    };
    // Encoding plain data into a hasher cannot fail; if it ever did, the
    // partial digest would still be deterministic on every replica.
    debug_assert!(written, "postcard could not encode a command");
    let digest = hasher.finalize();
    let mut low = [0; 8];
    low.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(low)
}

/// A recorded (successful) outcome, compact for bookings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) enum Recorded {
    /// `Ok(Effect::Booking(b))`, where `b` is booking `id` as it is stored,
    /// but with this status and this kind of payment.
    Booking {
        /// The booking.
        id: BookingId,
        /// Its kind of status then.
        status: StatusKind,
        /// The time of that status, in milliseconds after the record's time.
        status_offset_ms: i32,
        /// Its kind of payment then.
        payment: PaymentKind,
    },
    /// Any other effect, whole.
    Effect(Box<Effect>),
}

impl Recorded {
    /// The recorded form of `effect`, returned at `at`; `stored` looks up
    /// a booking as it is stored now. A booking effect is recorded
    /// compactly only if it can be rebuilt from the stored booking.
    pub(super) fn of(
        effect: &Effect,
        at: Timestamp,
        stored: impl FnOnce(BookingId) -> Option<Booking>,
    ) -> Self {
        match effect {
            Effect::Booking(booking) => {
                let (status, status_at) = StatusKind::split(booking.status);
                let compact =
                    i32::try_from(status_at.saturating_ms_since(at))
                        .ok()
                        .map(|status_offset_ms| Recorded::Booking {
                            id: booking.id,
                            status,
                            status_offset_ms,
                            payment: PaymentKind::of(&booking.payment),
                        });
                let rebuilt = compact
                    .as_ref()
                    .zip(stored(booking.id))
                    .and_then(|(compact, now)| compact.rebuild(at, &now));
                match compact {
                    Some(compact) if rebuilt.as_ref() == Some(booking) => compact,
                    _ => Recorded::Effect(Box::new(Effect::Booking(booking.clone()))),
                }
            }
            effect => Recorded::Effect(Box::new(effect.clone())),
        }
    }

    /// The outcome this records, made at `at`; `stored` looks up a booking
    /// as it is stored now.
    pub(super) fn outcome(
        &self,
        at: Timestamp,
        stored: impl FnOnce(BookingId) -> Option<Booking>,
    ) -> Outcome {
        match self {
            Recorded::Booking { id, .. } => stored(*id)
                .and_then(|now| self.rebuild(at, &now))
                .map(Effect::Booking)
                // Bookings are never removed and a compact record is made
                // only when it rebuilds, so this is unreachable; say so
                // rather than invent an answer.
                .ok_or_else(|| {
                    Rejection::Invalid(format!("the recorded outcome of booking {id} is lost"))
                }),
            Recorded::Effect(effect) => Ok((**effect).clone()),
        }
    }

    /// Booking `now` with this record's status and kind of payment, for a
    /// record made at `at`.
    fn rebuild(&self, at: Timestamp, now: &Booking) -> Option<Booking> {
        let Recorded::Booking {
            id,
            status,
            status_offset_ms,
            payment,
        } = self
        else {
            return None;
        };
        (now.id == *id).then_some(())?;
        Some(Booking {
            status: status.at(at.saturating_add_ms(i64::from(*status_offset_ms))),
            payment: payment.with_transaction(now.payment.transaction())?,
            ..now.clone()
        })
    }
}

/// What is remembered about an applied request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct DedupRecord {
    /// The key of the request id in its sender's scope.
    pub(super) key: RequestKey,
    /// Effective time at which the request was first applied.
    pub(super) at: Timestamp,
    /// The request's [`fingerprint`].
    pub(super) fingerprint: u64,
    /// The outcome returned to every retry.
    pub(super) outcome: Recorded,
}

/// The dedup records, oldest first, with an index by key.
#[derive(Clone, Default)]
pub(super) struct DedupWindow {
    /// Records in the order they were applied (so by time).
    records: VecDeque<DedupRecord>,
    /// Sequence number of `records[0]`; `records[i]` has `first + i`
    /// (wrapping: the window never holds 2^32 records).
    first: u32,
    /// The sequence number of every record, hashed by its key.
    index: HashTable<u32>,
}

impl DedupWindow {
    /// The record of `key`, if any (stale or not).
    pub(super) fn get(&self, key: &RequestKey) -> Option<&DedupRecord> {
        let records = &self.records;
        let first = self.first;
        self.index
            .find(key.hash(), |&seq| {
                slot(records, first, seq).is_some_and(|record| record.key == *key)
            })
            .and_then(|&seq| slot(records, first, seq))
    }

    /// Appends `record`, which must be no older than the newest record.
    ///
    /// A record already under its key must be stale (the caller found it
    /// so); it and every record before it, older still, are dropped first.
    pub(super) fn insert(&mut self, record: DedupRecord) {
        if self.get(&record.key).is_some() {
            while let Some(front) = self.pop_front() {
                if front.key == record.key {
                    break;
                }
            }
        }
        let seq = self.first.wrapping_add(self.records.len() as u32);
        let hash = record.key.hash();
        self.records.push_back(record);
        let (records, first) = (&self.records, self.first);
        self.index.insert_unique(hash, seq, |&seq| {
            slot(records, first, seq).map_or(0, |record| record.key.hash())
        });
    }

    /// Drops up to `limit` of the oldest records for which `stale(at)` holds.
    pub(super) fn prune(&mut self, limit: usize, stale: impl Fn(Timestamp) -> bool) {
        for _ in 0..limit {
            match self.records.front() {
                Some(record) if stale(record.at) => {
                    self.pop_front();
                }
                _ => break,
            }
        }
    }

    /// Makes whole every compact record of `booking` (as it is stored
    /// now, before its tickets change): a compact record rebuilds its
    /// booking from the stored one, which is exact only while the
    /// booking's tickets stay as they were made. `ReturnTickets` calls this
    /// before it takes tickets off a booking, so a retry still gets the
    /// booking as it was.
    ///
    /// Records of a booking are made at or after its creation and the
    /// queue is in time order, so the walk goes back from the newest only
    /// as far as the booking's creation (at most the whole window).
    pub(super) fn pin_booking(&mut self, booking: &Booking) {
        for record in self.records.iter_mut().rev() {
            if record.at < booking.created_at {
                break;
            }
            if matches!(record.outcome, Recorded::Booking { id, .. } if id == booking.id)
                && let Some(whole) = record.outcome.rebuild(record.at, booking)
            {
                record.outcome = Recorded::Effect(Box::new(Effect::Booking(whole)));
            }
        }
    }

    /// Number of records.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// The records, oldest first.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl ExactSizeIterator<Item = &DedupRecord> {
        self.records.iter()
    }

    /// The records by time, and by key among records of the same time.
    ///
    /// The queue holds records of the same time in apply order, which a
    /// replica that converted an earlier-format snapshot cannot know; this
    /// order is the same on every replica, so snapshots and equality use it.
    /// The queue is already in time order, so only each run of records of
    /// one time is sorted, one run at a time: a snapshot of a million
    /// records does not need a million-entry vector beside the state.
    pub(super) fn canonical(&self) -> impl Iterator<Item = &DedupRecord> + '_ {
        let mut queue = self.records.iter().peekable();
        // The current run, by key descending, so `pop` yields it ascending.
        let mut run: Vec<&DedupRecord> = Vec::new();
        std::iter::from_fn(move || {
            if run.is_empty() {
                let first = queue.next()?;
                run.push(first);
                while let Some(next) = queue.next_if(|record| record.at == first.at) {
                    run.push(next);
                }
                run.sort_unstable_by_key(|record| std::cmp::Reverse(record.key));
            }
            run.pop()
        })
    }

    /// A window of `records`, which must be in time order with distinct keys.
    pub(super) fn from_records(records: Vec<DedupRecord>) -> Result<Self, Inconsistency> {
        let mut window = Self::default();
        window.records.reserve_exact(records.len());
        for record in records {
            if window
                .records
                .back()
                .is_some_and(|last| last.at > record.at)
            {
                return Err(Inconsistency::new("dedup records are out of time order"));
            }
            if window.get(&record.key).is_some() {
                return Err(Inconsistency::new("two dedup records share a request key"));
            }
            window.insert(record);
        }
        Ok(window)
    }

    /// Checks that the records are in time order and the index finds each one.
    pub(super) fn check(&self) -> Result<(), Inconsistency> {
        if self
            .records
            .iter()
            .zip(self.records.iter().skip(1))
            .any(|(a, b)| a.at > b.at)
        {
            return Err(Inconsistency::new("dedup records are out of time order"));
        }
        if self.index.len() != self.records.len() {
            return Err(Inconsistency::new(
                "dedup index does not match the dedup records",
            ));
        }
        for record in &self.records {
            if !self.get(&record.key).is_some_and(|found| found == record) {
                return Err(Inconsistency::new(
                    "dedup index does not match the dedup records",
                ));
            }
        }
        Ok(())
    }

    /// Removes and returns the oldest record.
    fn pop_front(&mut self) -> Option<DedupRecord> {
        let record = self.records.pop_front()?;
        let seq = self.first;
        self.first = self.first.wrapping_add(1);
        if let Ok(entry) = self.index.find_entry(record.key.hash(), |&s| s == seq) {
            entry.remove();
        }
        Some(record)
    }

    /// Corrupts the index, for tests of [`DedupWindow::check`].
    #[cfg(test)]
    pub(super) fn forget_index(&mut self) {
        self.index.clear();
    }
}

/// The record with sequence number `seq`, if it is still in `records`.
fn slot(records: &VecDeque<DedupRecord>, first: u32, seq: u32) -> Option<&DedupRecord> {
    usize::try_from(seq.wrapping_sub(first))
        .ok()
        .and_then(|offset| records.get(offset))
}

impl PartialEq for DedupWindow {
    fn eq(&self, other: &Self) -> bool {
        self.records.len() == other.records.len() && self.canonical().eq(other.canonical())
    }
}

impl fmt::Debug for DedupWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.records).finish()
    }
}
