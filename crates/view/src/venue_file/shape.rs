//! The venue file's shape, as serde reads it: names and labels keep their
//! spans so that a mistake found later can name its line.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;

/// The whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VenueFile {
    /// The venue's name.
    pub(super) name: Spanned<String>,
    /// Where the stage is.
    pub(super) stage: Spanned<RectFile>,
    /// The seated sections, `[[section]]`.
    #[serde(default)]
    pub(super) section: Vec<SectionFile>,
    /// The standing areas, `[[area]]`.
    #[serde(default)]
    pub(super) area: Vec<AreaFile>,
}

/// The stage's rectangle.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RectFile {
    /// Left edge.
    pub(super) x: i32,
    /// Top edge.
    pub(super) y: i32,
    /// Width.
    pub(super) width: i32,
    /// Height.
    pub(super) height: i32,
}

/// A `[[section]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SectionFile {
    /// Its name.
    pub(super) name: Spanned<String>,
    /// Its rows, `[[section.row]]`, front to back.
    #[serde(default)]
    pub(super) row: Vec<RowFile>,
}

/// A `[[section.row]]`, compact or explicit.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RowFile {
    /// The row's label.
    pub(super) label: Spanned<String>,
    /// Compact: the seat labels, as ranges or a list.
    pub(super) seats: Option<Spanned<SeatList>>,
    /// Compact: x of the leftmost seat.
    pub(super) x: Option<i32>,
    /// Compact: y of the row's seats; explicit: y of seats that give none.
    pub(super) y: Option<i32>,
    /// Compact: distance between seat centres.
    pub(super) spacing: Option<Spanned<i32>>,
    /// Compact: labels run right to left.
    pub(super) reverse: Option<bool>,
    /// Compact: how much nearer the stage the row's ends are than its middle.
    pub(super) curve: Option<i32>,
    /// Compact: seats followed by an aisle gap.
    pub(super) aisles_after: Option<Vec<Spanned<String>>>,
    /// Wheelchair spaces, by label.
    #[serde(default)]
    pub(super) wheelchair: Vec<Spanned<String>>,
    /// Companion seats, by label.
    #[serde(default)]
    pub(super) companion: Vec<Spanned<String>>,
    /// Restricted-view seats, by label.
    #[serde(default)]
    pub(super) restricted_view: Vec<Spanned<String>>,
    /// Aisle seats (besides those next to an aisle gap), by label.
    #[serde(default)]
    pub(super) aisle: Vec<Spanned<String>>,
    /// Explicit: the seats one by one, `[[section.row.seat]]`.
    #[serde(default)]
    pub(super) seat: Vec<SeatFile>,
}

/// A `[[section.row.seat]]` of an explicit row.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeatFile {
    /// The seat's label.
    pub(super) label: Spanned<String>,
    /// Its x.
    pub(super) x: i32,
    /// Its y; the row's `y` if not given.
    pub(super) y: Option<i32>,
    /// Its attributes, by name.
    #[serde(default)]
    pub(super) attrs: Vec<Spanned<String>>,
}

/// An `[[area]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AreaFile {
    /// Its name.
    pub(super) name: Spanned<String>,
    /// How many people it takes.
    pub(super) capacity: Spanned<u32>,
    /// Left edge.
    pub(super) x: i32,
    /// Top edge.
    pub(super) y: i32,
    /// Width.
    pub(super) width: i32,
    /// Height.
    pub(super) height: i32,
}

/// A compact row's `seats`: `"1-24"` (ranges, comma-separated) or a list
/// of labels.
pub(super) enum SeatList {
    /// `"1-12, 14-25"`.
    Ranges(String),
    /// `["A", "B", "C"]`.
    Labels(Vec<String>),
}

impl<'de> Deserialize<'de> for SeatList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeatListVisitor;
        impl<'de> Visitor<'de> for SeatListVisitor {
            type Value = SeatList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a range of seat numbers such as "1-24", or a list of labels such as ["1", "2"]"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SeatList, E> {
                Ok(SeatList::Ranges(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SeatList, A::Error> {
                let mut labels = Vec::new();
                while let Some(label) = seq.next_element::<String>()? {
                    labels.push(label);
                }
                Ok(SeatList::Labels(labels))
            }
        }
        deserializer.deserialize_any(SeatListVisitor)
    }
}
