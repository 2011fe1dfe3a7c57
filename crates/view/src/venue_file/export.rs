//! A venue written back as a venue file, for export and round trips.

use boxoffice_core::venue::{Stage, Venue};
use serde::Serialize;

/// Writes `venue` as a venue file that [`parse_venue`](super::parse_venue) reads back to the
/// same venue: every row in the explicit form, one table per seat (the
/// compact form is for people; this is for export and round trips).
pub fn venue_to_toml(venue: &Venue) -> String {
    let out = OutVenue {
        name: &venue.name,
        stage: OutRect::of(&venue.stage),
        section: venue
            .sections
            .iter()
            .map(|section| OutSection {
                name: &section.name,
                row: section
                    .rows
                    .iter()
                    .map(|row| OutRow {
                        label: &row.label,
                        seat: row
                            .seats
                            .iter()
                            .map(|seat| OutSeat {
                                label: &seat.label,
                                x: seat.x,
                                y: seat.y,
                                attrs: seat.attrs.names().collect(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        area: venue
            .areas
            .iter()
            .map(|area| OutArea {
                name: &area.name,
                capacity: area.capacity,
                x: area.bounds.x,
                y: area.bounds.y,
                width: area.bounds.width,
                height: area.bounds.height,
            })
            .collect(),
    };
    // Plain strings, numbers and tables always serialise.
    toml::to_string(&out).unwrap_or_default()
}

#[derive(Serialize)]
struct OutVenue<'a> {
    name: &'a str,
    stage: OutRect,
    section: Vec<OutSection<'a>>,
    area: Vec<OutArea<'a>>,
}

#[derive(Serialize)]
struct OutRect {
    x: i32,
    y: i32,
    width: i32,
    height: i32,
}

impl OutRect {
    fn of(rect: &Stage) -> Self {
        Self {
            x: rect.x,
            y: rect.y,
            width: rect.width,
            height: rect.height,
        }
    }
}

#[derive(Serialize)]
struct OutSection<'a> {
    name: &'a str,
    row: Vec<OutRow<'a>>,
}

#[derive(Serialize)]
struct OutRow<'a> {
    label: &'a str,
    seat: Vec<OutSeat<'a>>,
}

#[derive(Serialize)]
struct OutSeat<'a> {
    label: &'a str,
    x: i32,
    y: i32,
    attrs: Vec<&'static str>,
}

#[derive(Serialize)]
struct OutArea<'a> {
    name: &'a str,
    capacity: u32,
    x: i32,
    y: i32,
    width: i32,
    height: i32,
}
