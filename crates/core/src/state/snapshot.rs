//! The snapshot format: a format tag, then the state's primary data in
//! postcard form; the indexes are rebuilt on restore, and a snapshot that
//! fails the invariants is refused.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::accounts::{build_admin_index, build_email_index};
use super::active::ActiveSeats;
use super::booking::{build_booking_indexes, build_unsettled_index};
use super::dedup::{DedupRecord, DedupWindow};
use super::doors::{DoorsV4, DoorsV5};
use super::stored::Bookings;
use super::tally::{Cards, CardsRecord, Networks, NetworksRecord};
use super::{Doors, Inconsistency, Production, Show, State, User, WaitingList, WaitingRoom};
use crate::ids::{ProductionId, ShowId, Timestamp, UserId, VenueId};
use crate::venue::{Venue, VenueIndex};

impl State {
    /// Rebuilds a state from snapshot data, refusing it if inconsistent.
    pub(super) fn from_snapshot(
        snapshot: Snapshot,
        sections: Sections,
    ) -> Result<Self, SnapshotError> {
        let Sections {
            mut doors,
            rooms,
            networks,
            lists,
            cards,
        } = sections;
        doors.reindex();
        let by_list = by_performance(lists, "waiting list", |mut list| {
            list.reindex();
            (list.show().clone(), list)
        })?;
        let by_show = by_performance(rooms, "waiting room", |mut room| {
            room.reindex();
            (room.show().clone(), room)
        })?;
        let mut shows = BTreeMap::new();
        for show in snapshot.shows {
            let id = show.id.clone();
            if shows.insert(id.clone(), show).is_some() {
                return Err(Inconsistency::new(format!("show {id} is listed twice")).into());
            }
        }
        let bookings = snapshot.bookings;
        let mut users = BTreeMap::new();
        for user in snapshot.users {
            let id = user.id.clone();
            if users.insert(id.clone(), user).is_some() {
                return Err(Inconsistency::new(format!("user {id} is listed twice")).into());
            }
        }
        let (by_user, hold_expiry) = build_booking_indexes(bookings.iter());
        let unsettled = build_unsettled_index(bookings.iter());
        let active = ActiveSeats::of(bookings.iter());
        let by_email = build_email_index(&users)?;
        let mut venues = BTreeMap::new();
        for (id, layout) in snapshot.venues {
            let index = VenueIndex::new(layout)
                .map_err(|e| Inconsistency::new(format!("venue {id}: {e}")))?;
            if venues
                .insert(id.clone(), std::sync::Arc::new(index))
                .is_some()
            {
                return Err(Inconsistency::new(format!("venue {id} is listed twice")).into());
            }
        }
        let mut productions = BTreeMap::new();
        for production in snapshot.productions {
            let id = production.id.clone();
            if productions.insert(id.clone(), production).is_some() {
                return Err(Inconsistency::new(format!("production {id} is listed twice")).into());
            }
        }
        let state = State {
            now: snapshot.now,
            last_booking_id: snapshot.last_booking_id,
            shows,
            bookings,
            by_user,
            hold_expiry,
            unsettled,
            active,
            dedup: DedupWindow::from_records(snapshot.dedup)?,
            last_user_id: snapshot.last_user_id,
            admins: build_admin_index(&users),
            by_email,
            users,
            venues,
            productions,
            doors,
            rooms: by_show,
            networks: Networks::default(),
            lists: by_list,
            cards: Cards::default(),
            freed: std::collections::BTreeSet::new(),
            version: 0,
        };
        let networks = Networks::restore(networks, &state.bookings).map_err(Inconsistency::new)?;
        let cards = Cards::restore(cards, &state.bookings).map_err(Inconsistency::new)?;
        let state = State {
            networks,
            cards,
            ..state
        };
        state.check_invariants()?;
        Ok(state)
    }
}

/// `items` (waiting rooms or lists, `what`) by performance, each made
/// ready by `index`; one listed twice is an inconsistency.
fn by_performance<T>(
    items: Vec<T>,
    what: &str,
    index: impl Fn(T) -> (ShowId, T),
) -> Result<BTreeMap<ShowId, T>, SnapshotError> {
    let mut by_show = BTreeMap::new();
    for item in items {
        let (id, item) = index(item);
        if by_show.insert(id.clone(), item).is_some() {
            return Err(Inconsistency::new(format!("the {what} of {id} is listed twice")).into());
        }
    }
    Ok(by_show)
}

/// Serialized form of [`State`], borrowed for writing.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    /// See [`State::now`].
    now: Timestamp,
    /// Highest booking id issued.
    last_booking_id: u64,
    /// Shows, ordered by id.
    shows: Values<'a, ShowId, Show>,
    /// Bookings, ordered by id.
    bookings: &'a Bookings,
    /// Dedup records, oldest first.
    dedup: Records<'a>,
    /// Highest user number issued.
    last_user_id: u64,
    /// User accounts, ordered by id.
    users: Values<'a, UserId, User>,
    /// Venue layouts with their ids, ordered by id.
    venues: Vec<(&'a VenueId, &'a Venue)>,
    /// Productions, ordered by id.
    productions: Values<'a, ProductionId, Production>,
}

/// Serialized form of [`State`], owned for reading; field for field like [`SnapshotRef`].
#[derive(Deserialize)]
pub(super) struct Snapshot {
    /// See [`State::now`].
    pub(super) now: Timestamp,
    /// Highest booking id issued.
    pub(super) last_booking_id: u64,
    /// Shows, ordered by id.
    pub(super) shows: Vec<Show>,
    /// Bookings, ordered by id.
    pub(super) bookings: Bookings,
    /// Dedup records, oldest first.
    pub(super) dedup: Vec<DedupRecord>,
    /// Highest user number issued.
    pub(super) last_user_id: u64,
    /// User accounts, ordered by id.
    pub(super) users: Vec<User>,
    /// Venue layouts with their ids, ordered by id.
    pub(super) venues: Vec<(VenueId, Venue)>,
    /// Productions, ordered by id.
    pub(super) productions: Vec<Production>,
}

/// Serializes the values of a map as a sequence (their keys are inside them).
struct Values<'a, K, V>(&'a BTreeMap<K, V>);

impl<K, V: Serialize> Serialize for Values<'_, K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.values())
    }
}

/// Serializes the dedup records as a sequence, oldest first.
struct Records<'a>(&'a DedupWindow);

impl Serialize for Records<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for record in self.0.canonical() {
            seq.serialize_element(record)?;
        }
        seq.end()
    }
}

impl Serialize for State {
    /// The primary data, then the door's records (a section of its own, so
    /// that a `BXS3` snapshot, which has none, reads as the first part, and
    /// a `BXS4` one's records as the first fields of the section), then
    /// the waiting rooms (a `BXS6` snapshot ends before them), then the
    /// networks of the active bookings (a `BXS7` one ends before them),
    /// then the waiting lists and the cards of the active bookings (a
    /// `BXS8` one ends before them).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let primary = SnapshotRef {
            now: self.now,
            last_booking_id: self.last_booking_id,
            shows: Values(&self.shows),
            bookings: &self.bookings,
            dedup: Records(&self.dedup),
            last_user_id: self.last_user_id,
            users: Values(&self.users),
            venues: self
                .venues
                .iter()
                .map(|(id, index)| (id, index.venue()))
                .collect(),
            productions: Values(&self.productions),
        };
        (
            primary,
            &self.doors,
            Values(&self.rooms),
            self.networks.record(),
            Values(&self.lists),
            self.cards.record(),
        )
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for State {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (snapshot, doors, rooms, networks, lists, cards) =
            <(
                Snapshot,
                Doors,
                Vec<WaitingRoom>,
                NetworksRecord,
                Vec<WaitingList>,
                CardsRecord,
            )>::deserialize(deserializer)?;
        let sections = Sections {
            doors,
            rooms,
            networks,
            lists,
            cards,
        };
        State::from_snapshot(snapshot, sections).map_err(D::Error::custom)
    }
}

/// The first bytes of a snapshot in the current format.
///
/// A tag that a change of format can bump, so that a replica refuses bytes
/// it cannot read rather than misreading them. (An untagged snapshot would
/// begin with the clock's time as a zigzag varint, which could only spell
/// these bytes for a clock at 33 ms after the epoch.)
///
/// `BXS3` added venues, productions, performances and ticketed bookings;
/// `BXS4` the door's records (check-ins, ticket versions, conflicts);
/// `BXS5` transfers, exits, re-entry and the count of conflicts beyond
/// the caps; `BXS6` retired ticket keys; `BXS7` the waiting rooms; `BXS8`
/// the networks active bookings came from; `BXS9` the waiting lists and
/// the cards that pay for active bookings.
const SNAPSHOT_TAG: &[u8; 4] = b"BXS9";

/// The format before, still read: a `BXS9` snapshot without waiting lists
/// and cards (there were none).
const BXS8_TAG: &[u8; 4] = b"BXS8";

/// The format before, still read: a `BXS8` snapshot without networks (no
/// hold carried one).
const BXS7_TAG: &[u8; 4] = b"BXS7";

/// The previous format, still read: a `BXS7` snapshot without waiting
/// rooms (there were none).
const BXS6_TAG: &[u8; 4] = b"BXS6";

/// The format before, still read: a `BXS6` snapshot without retired
/// ticket keys (there were none).
const BXS5_TAG: &[u8; 4] = b"BXS5";

/// The format before that, still read: a `BXS5` snapshot whose door records
/// lack what `BXS5` added (there was none).
const PREVIOUS_TAG: &[u8; 4] = b"BXS4";

/// And the one before, still read: a `BXS4` snapshot without the
/// door's records (there were none), so an upgraded replica restores the
/// snapshots its predecessors wrote.
const BXS3_TAG: &[u8; 4] = b"BXS3";

/// Tags of earlier formats, which this version names but cannot read.
const OLDER_TAGS: [&[u8; 4]; 1] = [b"BXS2"];

/// Why a snapshot could not be written or restored.
///
/// Every one is fatal for the replica that meets it: a state that cannot
/// be saved or restored exactly must not serve.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Writing the snapshot's bytes failed, for this kind of I/O error.
    #[error("cannot write the snapshot: {0}")]
    Write(std::io::ErrorKind),
    /// The state could not be encoded.
    #[error("cannot encode the snapshot: {0}")]
    Encode(postcard::Error),
    /// The bytes do not begin with the format's tag.
    #[error("not a snapshot of this format: it does not begin with the tag {SNAPSHOT_TAG:?}")]
    Untagged,
    /// The bytes are a snapshot of a later format than this version
    /// reads (it names the tag found): a newer build wrote it.
    #[error(
        "the snapshot is of a newer format ({0}) than this version reads (up to {SNAPSHOT_TAG:?}): \
         upgrade this node to the build that wrote it"
    )]
    NewerFormat(String),
    /// The bytes are a snapshot of an earlier format that this version
    /// does not read (it names the tag found).
    #[error(
        "the snapshot is of an older format ({0}) that this version cannot read; \
         restore it with the version that wrote it, or let this replica fetch a current one"
    )]
    OlderFormat(&'static str),
    /// The bytes do not decode as a snapshot.
    #[error("cannot decode the snapshot: {0}")]
    Decode(postcard::Error),
    /// The snapshot decodes but its data are inconsistent.
    #[error("inconsistent snapshot: {0}")]
    Inconsistent(#[from] Inconsistency),
}

impl State {
    /// Writes the state as Raft snapshot bytes: a format tag, then its
    /// postcard form, streamed (bookings are written one at a time).
    pub fn write_snapshot(&self, mut out: impl std::io::Write) -> Result<(), SnapshotError> {
        out.write_all(SNAPSHOT_TAG)
            .map_err(|e| SnapshotError::Write(e.kind()))?;
        postcard::to_io(self, out).map_err(SnapshotError::Encode)?;
        Ok(())
    }

    /// [`State::write_snapshot`] into a buffer.
    pub fn to_snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let mut bytes = Vec::new();
        self.write_snapshot(&mut bytes)?;
        Ok(bytes)
    }

    /// Restores a state from [`State::to_snapshot`] bytes. Refuses bytes
    /// without the format's tag, undecodable ones and inconsistent
    /// snapshots.
    pub fn from_snapshot_bytes(bytes: &[u8]) -> Result<Self, SnapshotError> {
        if let Some(tag) = OLDER_TAGS.into_iter().find(|tag| bytes.starts_with(*tag)) {
            let name = std::str::from_utf8(tag).unwrap_or("?");
            return Err(SnapshotError::OlderFormat(name));
        }
        let decode = SnapshotError::Decode;
        // Each earlier format is a prefix of the current one's sections;
        // what it lacks, it had none of.
        let (snapshot, sections) = if let Some(bxs3) = bytes.strip_prefix(BXS3_TAG) {
            let snapshot: Snapshot = postcard::from_bytes(bxs3).map_err(decode)?;
            (snapshot, Sections::default())
        } else if let Some(previous) = bytes.strip_prefix(PREVIOUS_TAG) {
            let (snapshot, doors): (Snapshot, DoorsV4) =
                postcard::from_bytes(previous).map_err(decode)?;
            (snapshot, Sections::of_doors(doors.into()))
        } else if let Some(bxs5) = bytes.strip_prefix(BXS5_TAG) {
            let (snapshot, doors): (Snapshot, DoorsV5) =
                postcard::from_bytes(bxs5).map_err(decode)?;
            (snapshot, Sections::of_doors(doors.into()))
        } else if let Some(bxs6) = bytes.strip_prefix(BXS6_TAG) {
            let (snapshot, doors): (Snapshot, Doors) =
                postcard::from_bytes(bxs6).map_err(decode)?;
            (snapshot, Sections::of_doors(doors))
        } else if let Some(bxs7) = bytes.strip_prefix(BXS7_TAG) {
            let (snapshot, doors, rooms): (Snapshot, Doors, Vec<WaitingRoom>) =
                postcard::from_bytes(bxs7).map_err(decode)?;
            let sections = Sections {
                rooms,
                ..Sections::of_doors(doors)
            };
            (snapshot, sections)
        } else if let Some(bxs8) = bytes.strip_prefix(BXS8_TAG) {
            let (snapshot, doors, rooms, networks): (
                Snapshot,
                Doors,
                Vec<WaitingRoom>,
                NetworksRecord,
            ) = postcard::from_bytes(bxs8).map_err(decode)?;
            let sections = Sections {
                rooms,
                networks,
                ..Sections::of_doors(doors)
            };
            (snapshot, sections)
        } else {
            let current = bytes.strip_prefix(SNAPSHOT_TAG).ok_or_else(|| {
                // Every format's tag begins `BX`: one this build does not
                // know is a later one.
                match bytes.get(..4) {
                    Some(tag) if tag.starts_with(b"BX") => {
                        SnapshotError::NewerFormat(String::from_utf8_lossy(tag).into_owned())
                    }
                    _ => SnapshotError::Untagged,
                }
            })?;
            let (snapshot, doors, rooms, networks, lists, cards): (
                Snapshot,
                Doors,
                Vec<WaitingRoom>,
                NetworksRecord,
                Vec<WaitingList>,
                CardsRecord,
            ) = postcard::from_bytes(current).map_err(decode)?;
            let sections = Sections {
                doors,
                rooms,
                networks,
                lists,
                cards,
            };
            (snapshot, sections)
        };
        State::from_snapshot(snapshot, sections)
    }
}

/// The sections of a snapshot after its primary data.
#[derive(Default)]
pub(super) struct Sections {
    /// The door's records.
    pub(super) doors: Doors,
    /// The waiting rooms.
    pub(super) rooms: Vec<WaitingRoom>,
    /// The network of each active booking made with one.
    pub(super) networks: NetworksRecord,
    /// The waiting lists.
    pub(super) lists: Vec<WaitingList>,
    /// The card of each active booking paid with one.
    pub(super) cards: CardsRecord,
}

impl Sections {
    /// A snapshot's sections that end with the door's records.
    fn of_doors(doors: Doors) -> Self {
        Self {
            doors,
            ..Self::default()
        }
    }
}
