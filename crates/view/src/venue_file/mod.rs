//! The venue file: a hall described in TOML by an administrator and
//! imported with `boxoffice admin venues import FILE`.
//!
//! The format is documented, key by key, in `docs/venues.md`; the examples
//! are `examples/venues/theatre.toml` and `examples/venues/club.toml`. In
//! short: a `name`, a `[stage]` rectangle, `[[section]]`s of
//! `[[section.row]]`s and `[[area]]`s for standing. A row is either
//! compact (`seats = "1-24"`, a first `x`, a `y`, a `spacing`, aisle gaps
//! and attribute lists by seat label) or explicit (one `[[section.row.seat]]`
//! per seat with its own position), for irregular rows.
//!
//! # Why a parser of its own and not `Venue`'s serde shape
//! A 600-seat hall written seat by seat is 2,400 lines nobody checks by
//! eye; the compact row makes it about 10 lines a row. And every mistake
//! must point at the line that makes it: the file keeps the spans of its
//! labels (`toml::Spanned`), so [`parse_venue`] checks each rule where it
//! still knows the line, and runs [`Venue::check`] (the state machine's
//! own validation) only as the last guard, for what it cannot reach
//! (the limits on the venue's size, a file with no seats and no areas).
//!
//! # Invariants
//! - [`parse_venue`] returns a whole venue that passes [`Venue::check`], or
//!   an error; nothing half built.
//! - Every error names its line, or (from [`Venue::check`]) the seat,
//!   row, section or area it is about.

mod build;
mod export;
mod shape;

use boxoffice_core::venue::{Venue, VenueError};

use build::{Builder, Lines};
pub use export::venue_to_toml;
use shape::VenueFile;

/// Distance between seat centres in a compact row, unless it says otherwise.
pub const DEFAULT_SPACING: i32 = 20;

/// What is wrong with a venue file, and on which line (1-based), if known.
///
/// Displayed as `line 12: row "K" of section "Stalls" has no seats`, or
/// without the `line N: ` prefix when only [`Venue::check`] could tell.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{}", .line.map(|n| format!("line {n}: ")).unwrap_or_default(), .message)]
pub struct VenueFileError {
    /// The line the mistake is on, counted from 1.
    pub line: Option<usize>,
    /// What is wrong, naming the seat, row, section or area.
    pub message: String,
}

/// Reads a venue file: the whole venue, checked, or the first mistake.
pub fn parse_venue(text: &str) -> Result<Venue, VenueFileError> {
    let lines = Lines::new(text);
    let file: VenueFile = toml::from_str(text).map_err(|e| VenueFileError {
        line: e.span().map(|span| lines.line(span.start)),
        message: e.message().trim_end().to_owned(),
    })?;
    let name_line = lines.line(file.name.span().start);
    let venue = Builder::new(&lines).venue(file)?;
    // The last guard: whatever the checks above missed, the state machine
    // would refuse; better to hear it now. Its errors name the seat.
    venue.check().map_err(|e| {
        let line = match e {
            VenueError::BadName => Some(name_line),
            _ => None,
        };
        VenueFileError {
            line,
            message: e.to_string(),
        }
    })?;
    Ok(venue)
}
