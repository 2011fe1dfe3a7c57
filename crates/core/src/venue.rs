//! Venues: the layout of a hall, stored once and shared by every
//! performance in it.
//!
//! A [`Venue`] is sections of rows of seats (each with a label, a position
//! for drawing, its order in the row and its [`SeatAttrs`]), standing areas
//! with a capacity, and where the stage is. A performance at a venue
//! numbers its places the way the venue lists them: seat `1` is the first
//! seat of the first row of the first section, and so on through every
//! seat; the standing places come after the seats, area by area. So a
//! performance's seat map stays 8 bytes a place and the labels, positions
//! and attributes live once, in the venue ([`VenueIndex`]).
//!
//! [`Venue::check`] is the one validation: the state machine runs it on
//! every `CreateVenue`, so no client (the TOML importer included) can store
//! a layout with duplicate labels, empty rows, two seats at one position or
//! an empty standing area. Each error names the section, row and seat.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{MAX_SEATS_PER_SHOW, SeatNo};

/// Longest section, row, seat or area label, in characters.
pub const MAX_LABEL_LEN: usize = 32;

/// Most sections (and, separately, standing areas) in a venue.
pub const MAX_SECTIONS: usize = 64;

/// Most rows in one section.
pub const MAX_ROWS: usize = 500;

/// Most seats in one row.
pub const MAX_SEATS_PER_ROW: usize = 1_000;

/// Largest coordinate, in either direction, of a seat or the stage.
pub const MAX_COORDINATE: i32 = 1_000_000;

/// Attributes of a seat, as bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SeatAttrs(pub u8);

impl SeatAttrs {
    /// A space for a wheelchair user.
    pub const WHEELCHAIR: Self = Self(1);
    /// A seat for the companion of a wheelchair user.
    pub const COMPANION: Self = Self(2);
    /// The view of the stage is partly blocked.
    pub const RESTRICTED_VIEW: Self = Self(4);
    /// The seat is on an aisle.
    pub const AISLE: Self = Self(8);
    /// Every attribute with its name, in the order they are listed.
    pub const NAMED: [(Self, &'static str); 4] = [
        (Self::WHEELCHAIR, "wheelchair"),
        (Self::COMPANION, "companion"),
        (Self::RESTRICTED_VIEW, "restricted-view"),
        (Self::AISLE, "aisle"),
    ];

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// These attributes and `other`'s.
    pub fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The attribute called `name` (as in [`SeatAttrs::NAMED`]).
    pub fn named(name: &str) -> Option<Self> {
        Self::NAMED
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(attr, _)| *attr)
    }

    /// The names of the attributes set, in [`SeatAttrs::NAMED`] order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMED
            .into_iter()
            .filter(move |(attr, _)| self.contains(*attr))
            .map(|(_, name)| name)
    }
}

/// A named layout of a hall.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Venue {
    /// Human-readable name ("The Old Theatre").
    pub name: String,
    /// Where the stage is, for drawing and for "nearest the front".
    pub stage: Stage,
    /// The seated sections, in the order their seats are numbered.
    pub sections: Vec<Section>,
    /// The standing (general admission) areas, numbered after the seats.
    pub areas: Vec<StandingArea>,
}

/// The stage: a rectangle, in the venue's coordinates (y grows away from it
/// for a hall facing one stage).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width (at least 1).
    pub width: i32,
    /// Height (at least 1).
    pub height: i32,
}

impl Stage {
    /// Centre of the stage, doubled (to stay in integers).
    pub(crate) fn centre2(&self) -> (i64, i64) {
        (
            2 * i64::from(self.x) + i64::from(self.width),
            2 * i64::from(self.y) + i64::from(self.height),
        )
    }
}

/// A seated section ("Stalls", "Circle", "Box A").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// The section's name, unique in the venue.
    pub name: String,
    /// Its rows, front to back as listed.
    pub rows: Vec<Row>,
}

/// A row of seats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The row's label ("K"), unique in its section.
    pub label: String,
    /// Its seats, in their order along the row (adjacent seats are
    /// neighbours in this list).
    pub seats: Vec<VenueSeat>,
}

/// One seat of a venue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueSeat {
    /// The seat's label ("12"), unique in its row.
    pub label: String,
    /// Horizontal position of its centre, for drawing.
    pub x: i32,
    /// Vertical position of its centre, for drawing.
    pub y: i32,
    /// What kind of seat it is.
    pub attrs: SeatAttrs,
}

/// A standing (general admission) area.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandingArea {
    /// The area's name, unique among the venue's areas and sections.
    pub name: String,
    /// How many people it takes (at least 1).
    pub capacity: u32,
    /// Where it is drawn: left edge, top edge, width, height.
    pub bounds: Stage,
}

/// Why a venue cannot be stored. Each names what is wrong and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VenueError {
    /// The venue's name is empty, too long, or has a control character.
    #[error("the venue's name must be 1 to 200 characters, without control characters")]
    BadName,
    /// A label is empty, too long, or has a comma or control character.
    #[error(
        "{what} label {label:?} must be 1 to 32 characters without commas or control characters"
    )]
    BadLabel {
        /// Where the label is ("section", "row Stalls K", …).
        what: String,
        /// The label.
        label: String,
    },
    /// The venue has no seats and no standing areas.
    #[error("the venue has no seats and no standing areas")]
    Empty,
    /// Too many sections, areas, rows, seats or places.
    #[error("{0}")]
    TooLarge(String),
    /// Two sections or areas share a name.
    #[error("two sections or standing areas are both called {0:?}")]
    DuplicateSection(String),
    /// A section has no rows.
    #[error("section {0:?} has no rows")]
    EmptySection(String),
    /// Two rows of a section share a label.
    #[error("section {section:?} has two rows labelled {row:?}")]
    DuplicateRow {
        /// The section.
        section: String,
        /// The label.
        row: String,
    },
    /// A row has no seats.
    #[error("row {row:?} of section {section:?} has no seats")]
    EmptyRow {
        /// The section.
        section: String,
        /// The row.
        row: String,
    },
    /// Two seats of a row share a label.
    #[error("seat {seat} is listed twice")]
    DuplicateSeat {
        /// The seat, as [`VenueIndex::label`] writes it.
        seat: String,
    },
    /// Two seats in different rows or sections have the same full label
    /// (`Section Row-Seat`), so a ticket could not say which one it is.
    #[error(
        "two seats would both be labelled {label:?} (in {first} and in {second}); \
         a seat's section, row and seat labels must name it alone"
    )]
    SameLabel {
        /// The full label.
        label: String,
        /// Where the first seat is: section and row.
        first: String,
        /// Where the second is.
        second: String,
    },
    /// Two seats are drawn at the same position.
    #[error("seats {first} and {second} are both at ({x}, {y})")]
    SamePosition {
        /// The seat listed first.
        first: String,
        /// The seat listed second.
        second: String,
        /// Horizontal position.
        x: i32,
        /// Vertical position.
        y: i32,
    },
    /// A coordinate or size is out of range.
    #[error("{0} is out of range (coordinates within ±1000000, sizes at least 1)")]
    BadPosition(String),
    /// A standing area has no room.
    #[error("standing area {0:?} has a capacity of 0")]
    ZeroCapacity(String),
}

/// Whether `label` may name a section, row, seat or area: 1 to
/// [`MAX_LABEL_LEN`] characters, no spaces at either end, no commas or
/// control characters.
pub fn label_ok(label: &str) -> bool {
    let len = label.chars().count();
    (1..=MAX_LABEL_LEN).contains(&len)
        && label.trim() == label
        && !label.chars().any(|c| c == ',' || c.is_control())
}

fn check_label(what: impl FnOnce() -> String, label: &str) -> Result<(), VenueError> {
    if label_ok(label) {
        Ok(())
    } else {
        Err(VenueError::BadLabel {
            what: what(),
            label: label.to_owned(),
        })
    }
}

fn check_coordinate(what: impl FnOnce() -> String, value: i32) -> Result<(), VenueError> {
    if (-MAX_COORDINATE..=MAX_COORDINATE).contains(&value) {
        Ok(())
    } else {
        Err(VenueError::BadPosition(what()))
    }
}

fn check_rect(what: &str, rect: &Stage) -> Result<(), VenueError> {
    check_coordinate(|| format!("{what}'s x"), rect.x)?;
    check_coordinate(|| format!("{what}'s y"), rect.y)?;
    if !(1..=MAX_COORDINATE).contains(&rect.width) || !(1..=MAX_COORDINATE).contains(&rect.height) {
        return Err(VenueError::BadPosition(format!("{what}'s size")));
    }
    Ok(())
}

/// A seat's full label: "Stalls K-12".
pub fn seat_label(section: &str, row: &str, seat: &str) -> String {
    format!("{section} {row}-{seat}")
}

impl Venue {
    /// Checks every rule a stored venue keeps; the first broken one is the error.
    pub fn check(&self) -> Result<(), VenueError> {
        let name_len = self.name.trim().chars().count();
        if name_len == 0
            || name_len > 200
            || self.name.trim() != self.name
            || self.name.chars().any(char::is_control)
        {
            return Err(VenueError::BadName);
        }
        check_rect("the stage", &self.stage)?;
        if self.sections.len() > MAX_SECTIONS || self.areas.len() > MAX_SECTIONS {
            return Err(VenueError::TooLarge(format!(
                "a venue has at most {MAX_SECTIONS} sections and {MAX_SECTIONS} standing areas"
            )));
        }
        if self.sections.is_empty() && self.areas.is_empty() {
            return Err(VenueError::Empty);
        }
        let mut names = BTreeMap::new();
        let mut positions: HashMap<(i32, i32), String> = HashMap::new();
        // Full label → "section …, row …" of the seat that has it.
        let mut full_labels: HashMap<String, String> = HashMap::new();
        let mut places: u64 = 0;
        for section in &self.sections {
            check_label(|| "section".to_owned(), &section.name)?;
            if names.insert(section.name.as_str(), ()).is_some() {
                return Err(VenueError::DuplicateSection(section.name.clone()));
            }
            if section.rows.is_empty() {
                return Err(VenueError::EmptySection(section.name.clone()));
            }
            if section.rows.len() > MAX_ROWS {
                return Err(VenueError::TooLarge(format!(
                    "section {:?} has more than {MAX_ROWS} rows",
                    section.name
                )));
            }
            let mut rows = BTreeMap::new();
            for row in &section.rows {
                check_label(
                    || format!("a row of section {:?}", section.name),
                    &row.label,
                )?;
                if rows.insert(row.label.as_str(), ()).is_some() {
                    return Err(VenueError::DuplicateRow {
                        section: section.name.clone(),
                        row: row.label.clone(),
                    });
                }
                if row.seats.is_empty() {
                    return Err(VenueError::EmptyRow {
                        section: section.name.clone(),
                        row: row.label.clone(),
                    });
                }
                if row.seats.len() > MAX_SEATS_PER_ROW {
                    return Err(VenueError::TooLarge(format!(
                        "row {:?} of section {:?} has more than {MAX_SEATS_PER_ROW} seats",
                        row.label, section.name
                    )));
                }
                let mut seats = BTreeMap::new();
                for seat in &row.seats {
                    let full = || seat_label(&section.name, &row.label, &seat.label);
                    check_label(
                        || format!("a seat of row {} {}", section.name, row.label),
                        &seat.label,
                    )?;
                    if seats.insert(seat.label.as_str(), ()).is_some() {
                        return Err(VenueError::DuplicateSeat { seat: full() });
                    }
                    let place = || format!("section {:?} row {:?}", section.name, row.label);
                    if let Some(first) = full_labels.insert(full(), place()) {
                        return Err(VenueError::SameLabel {
                            label: full(),
                            first,
                            second: place(),
                        });
                    }
                    check_coordinate(|| format!("seat {}'s x", full()), seat.x)?;
                    check_coordinate(|| format!("seat {}'s y", full()), seat.y)?;
                    if let Some(first) = positions.insert((seat.x, seat.y), full()) {
                        return Err(VenueError::SamePosition {
                            first,
                            second: full(),
                            x: seat.x,
                            y: seat.y,
                        });
                    }
                    places += 1;
                }
            }
        }
        for area in &self.areas {
            check_label(|| "standing area".to_owned(), &area.name)?;
            if names.insert(area.name.as_str(), ()).is_some() {
                return Err(VenueError::DuplicateSection(area.name.clone()));
            }
            if area.capacity == 0 {
                return Err(VenueError::ZeroCapacity(area.name.clone()));
            }
            check_rect(&format!("standing area {:?}", area.name), &area.bounds)?;
            places += u64::from(area.capacity);
        }
        if places > u64::from(MAX_SEATS_PER_SHOW) {
            return Err(VenueError::TooLarge(format!(
                "the venue has {places} places; at most {MAX_SEATS_PER_SHOW}"
            )));
        }
        Ok(())
    }

    /// The layout of a simple show: one section ("Seats") of one row ("1")
    /// of `count` seats labelled `1..=count`, left to right, below a stage.
    pub fn single_row(name: &str, count: u32) -> Venue {
        let seats = (1..=count)
            .map(|n| VenueSeat {
                label: n.to_string(),
                x: i32::try_from(n).unwrap_or(i32::MAX).saturating_mul(10),
                y: 40,
                attrs: SeatAttrs::default(),
            })
            .collect();
        Venue {
            name: name.to_owned(),
            stage: Stage {
                x: 0,
                y: 0,
                width: i32::try_from(count)
                    .unwrap_or(i32::MAX)
                    .saturating_mul(10)
                    .saturating_add(10)
                    .max(1),
                height: 20,
            },
            sections: vec![Section {
                name: "Seats".to_owned(),
                rows: vec![Row {
                    label: "1".to_owned(),
                    seats,
                }],
            }],
            areas: Vec::new(),
        }
    }
}

/// Where a place of a performance is in its venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Place {
    /// A seat: indexes of its section, row and seat in the venue.
    Seat {
        /// Index in [`Venue::sections`].
        section: u16,
        /// Index in [`Section::rows`].
        row: u16,
        /// Index in [`Row::seats`]: the seat's order in its row.
        seat: u16,
    },
    /// A standing place: index of its area in [`Venue::areas`].
    Standing {
        /// Index in [`Venue::areas`].
        area: u16,
    },
}

/// A venue with the lookups a performance needs: place number to place
/// and label, and label to seat. Built once per venue; not serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct VenueIndex {
    venue: Venue,
    /// Place `n` at index `n - 1`.
    places: Vec<Place>,
    /// The first place number of each row, by section (a row's seats are
    /// numbered consecutively, and a section's rows too).
    row_starts: Vec<Vec<u32>>,
    /// The first place number of each standing area.
    area_starts: Vec<u32>,
    /// Number of seats (the standing places follow them).
    seat_count: u32,
    /// Seat number of each full label ("Stalls K-12").
    by_label: HashMap<String, SeatNo>,
    /// Seat numbers of each short label ("K-12"), over all sections.
    by_short_label: HashMap<String, Vec<SeatNo>>,
}

impl fmt::Debug for VenueIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VenueIndex")
            .field("name", &self.venue.name)
            .field("places", &self.places.len())
            .finish()
    }
}

impl VenueIndex {
    /// Checks `venue` ([`Venue::check`]) and indexes it.
    pub fn new(venue: Venue) -> Result<Self, VenueError> {
        venue.check()?;
        let mut places = Vec::new();
        let mut by_label = HashMap::new();
        let mut by_short_label: HashMap<String, Vec<SeatNo>> = HashMap::new();
        let mut row_starts = Vec::with_capacity(venue.sections.len());
        for (s, section) in venue.sections.iter().enumerate() {
            let mut starts = Vec::with_capacity(section.rows.len());
            for (r, row) in section.rows.iter().enumerate() {
                starts.push(u32::try_from(places.len() + 1).unwrap_or(u32::MAX));
                for (i, seat) in row.seats.iter().enumerate() {
                    // `check` bounds every count well below u16::MAX.
                    let (Ok(section_no), Ok(row_no), Ok(seat_no)) =
                        (u16::try_from(s), u16::try_from(r), u16::try_from(i))
                    else {
                        return Err(VenueError::TooLarge("too many places".to_owned()));
                    };
                    places.push(Place::Seat {
                        section: section_no,
                        row: row_no,
                        seat: seat_no,
                    });
                    let no = SeatNo(u32::try_from(places.len()).unwrap_or(u32::MAX));
                    by_label.insert(seat_label(&section.name, &row.label, &seat.label), no);
                    by_short_label
                        .entry(format!("{}-{}", row.label, seat.label))
                        .or_default()
                        .push(no);
                }
            }
            row_starts.push(starts);
        }
        let seat_count = u32::try_from(places.len()).unwrap_or(u32::MAX);
        let mut area_starts = Vec::new();
        for (a, area) in venue.areas.iter().enumerate() {
            area_starts.push(u32::try_from(places.len() + 1).unwrap_or(u32::MAX));
            let area_no = u16::try_from(a).unwrap_or(u16::MAX);
            places.extend((0..area.capacity).map(|_| Place::Standing { area: area_no }));
        }
        Ok(Self {
            venue,
            places,
            row_starts,
            area_starts,
            seat_count,
            by_label,
            by_short_label,
        })
    }

    /// The venue.
    pub fn venue(&self) -> &Venue {
        &self.venue
    }

    /// Number of places: seats and standing places.
    pub fn place_count(&self) -> u32 {
        u32::try_from(self.places.len()).unwrap_or(u32::MAX)
    }

    /// Number of seats; places above it are standing.
    pub fn seat_count(&self) -> u32 {
        self.seat_count
    }

    /// Where place `no` is, if the venue has it.
    pub fn place(&self, no: SeatNo) -> Option<Place> {
        let index = usize::try_from(no.0).ok()?.checked_sub(1)?;
        self.places.get(index).copied()
    }

    /// The seat at `no`, if place `no` is a seat.
    pub fn seat(&self, no: SeatNo) -> Option<(&Section, &Row, &VenueSeat)> {
        match self.place(no)? {
            Place::Seat { section, row, seat } => {
                let section = self.venue.sections.get(usize::from(section))?;
                let row = section.rows.get(usize::from(row))?;
                Some((section, row, row.seats.get(usize::from(seat))?))
            }
            Place::Standing { .. } => None,
        }
    }

    /// The place numbers of rows `first..=last` of section `section`
    /// (empty if there are no such rows).
    pub fn rows_places(
        &self,
        section: u16,
        first: u16,
        last: u16,
    ) -> std::ops::RangeInclusive<u32> {
        let Some(rows) = self.venue.sections.get(usize::from(section)) else {
            return std::ops::RangeInclusive::new(1, 0);
        };
        let starts = &self.row_starts[usize::from(section)];
        let (first, last) = (usize::from(first), usize::from(last));
        match (starts.get(first), starts.get(last), rows.rows.get(last)) {
            (Some(&start), Some(&last_start), Some(row)) if first <= last => {
                let seats = u32::try_from(row.seats.len()).unwrap_or(u32::MAX);
                start..=last_start.saturating_add(seats).saturating_sub(1)
            }
            _ => std::ops::RangeInclusive::new(1, 0),
        }
    }

    /// The place numbers of standing area `area`.
    pub fn area_places(&self, area: u16) -> std::ops::RangeInclusive<u32> {
        let start = self
            .area_starts
            .get(usize::from(area))
            .copied()
            .unwrap_or(1);
        let capacity = self
            .venue
            .areas
            .get(usize::from(area))
            .map_or(0, |a| a.capacity);
        start..=start.saturating_add(capacity).saturating_sub(1)
    }

    /// The index of the standing area called `name`.
    pub fn area_named(&self, name: &str) -> Option<u16> {
        let position = self.venue.areas.iter().position(|a| a.name == name)?;
        u16::try_from(position).ok()
    }

    /// Place `no` as people say it: "Stalls K-12", or "Standing (place 7)".
    pub fn label(&self, no: SeatNo) -> Option<String> {
        match self.place(no)? {
            Place::Seat { .. } => {
                let (section, row, seat) = self.seat(no)?;
                Some(seat_label(&section.name, &row.label, &seat.label))
            }
            Place::Standing { area } => {
                let name = &self.venue.areas.get(usize::from(area))?.name;
                let first = *self.area_places(area).start();
                Some(format!("{name} (place {})", no.0.saturating_sub(first) + 1))
            }
        }
    }

    /// The seat a label names: a full label ("Stalls K-12"), or a short one
    /// ("K-12") that only one section has. `Err` says why not.
    pub fn find(&self, label: &str) -> Result<SeatNo, String> {
        let label = label.trim();
        if let Some(&no) = self.by_label.get(label) {
            return Ok(no);
        }
        match self.by_short_label.get(label).map(Vec::as_slice) {
            Some([no]) => Ok(*no),
            Some(several) => Err(format!(
                "{label:?} is in several sections: {}",
                several
                    .iter()
                    .filter_map(|&no| self.label(no))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => Err(format!("{} has no seat {label:?}", self.venue.name)),
        }
    }

    /// The squared distance (doubled coordinates) from seat `no` to the
    /// stage's centre; standing places are farthest.
    pub fn distance2(&self, no: SeatNo) -> i64 {
        let Some((_, _, seat)) = self.seat(no) else {
            return i64::MAX;
        };
        let (cx, cy) = self.venue.stage.centre2();
        let dx = 2 * i64::from(seat.x) - cx;
        let dy = 2 * i64::from(seat.y) - cy;
        dx.saturating_mul(dx).saturating_add(dy.saturating_mul(dy))
    }
}

#[cfg(test)]
mod tests;
