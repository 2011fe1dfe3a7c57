//! `boxoffice admin venues`, `admin productions` and `admin performances`:
//! the box office's catalogue, from files an administrator writes (a venue
//! layout, a pricing file) and a run of performances said the way people
//! say it ("tue-sat 19:30, sat 14:30").
//!
//! Every file is read and checked here first, so a mistake is reported
//! with its line before anything is sent; the cluster checks everything
//! again (it trusts no client).

use std::path::Path;

use anyhow::Context as _;
use boxoffice_core::{Venue, VenueIndex};
use boxoffice_view::schedule::{Planned, Slots, expand};
use boxoffice_view::venue_file::parse_venue;
use serde::Serialize;

use crate::output::Output;

/// What a venue holds, as `admin venues check` and `import` print it.
#[derive(Serialize)]
pub struct VenueCounts {
    /// The venue's id, once imported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub venue_id: Option<String>,
    /// Its name.
    pub name: String,
    /// Seats.
    pub seats: u32,
    /// Standing places.
    pub standing: u32,
    /// Seated sections.
    pub sections: u32,
    /// Standing areas.
    pub areas: u32,
}

impl VenueCounts {
    /// The counts of `venue` (already checked).
    pub fn of(venue_id: Option<String>, index: &VenueIndex) -> Self {
        let venue = index.venue();
        Self {
            venue_id,
            name: venue.name.clone(),
            seats: index.seat_count(),
            standing: index.place_count() - index.seat_count(),
            sections: u32::try_from(venue.sections.len()).unwrap_or(u32::MAX),
            areas: u32::try_from(venue.areas.len()).unwrap_or(u32::MAX),
        }
    }

    /// Prints them: a table, or JSON.
    pub fn print(&self, out: &Output) -> anyhow::Result<()> {
        if out.json {
            return out.json(self);
        }
        let mut row = Vec::new();
        if let Some(id) = &self.venue_id {
            row.push(id.clone());
        }
        row.extend([
            self.name.clone(),
            self.seats.to_string(),
            self.standing.to_string(),
            self.sections.to_string(),
            self.areas.to_string(),
        ]);
        let mut headers = Vec::new();
        if self.venue_id.is_some() {
            headers.push("venue");
        }
        headers.extend(["name", "seats", "standing", "sections", "areas"]);
        out.table(&headers, vec![row]);
        Ok(())
    }
}

/// Reads and checks a venue file; the error names the file and the line.
pub fn read_venue(file: &Path) -> anyhow::Result<(Venue, VenueIndex)> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading {}", file.display()))?;
    let venue = parse_venue(&text).with_context(|| format!("{}", file.display()))?;
    let index = VenueIndex::new(venue.clone()).with_context(|| format!("{}", file.display()))?;
    Ok((venue, index))
}

/// The run of performances `slots` describes from `from` to `until` in `tz`.
pub fn plan_run(
    production: &str,
    slots: &str,
    from: &str,
    until: &str,
    tz: &str,
) -> anyhow::Result<Vec<Planned>> {
    let slots = Slots::parse(slots)?;
    let day = |text: &str| -> anyhow::Result<jiff::civil::Date> {
        text.trim()
            .parse()
            .with_context(|| format!("{text:?} is not a day such as 2027-01-12"))
    };
    Ok(expand(production, &slots, day(from)?, day(until)?, tz)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_venues_check() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/venues");
        let (_, theatre) = read_venue(&dir.join("theatre.toml")).unwrap();
        let counts = VenueCounts::of(None, &theatre);
        assert_eq!((counts.seats, counts.standing), (600, 0));
        let (_, club) = read_venue(&dir.join("club.toml")).unwrap();
        let counts = VenueCounts::of(Some("club".into()), &club);
        assert_eq!((counts.seats, counts.standing), (400, 2000));
        let missing = read_venue(&dir.join("nowhere.toml")).unwrap_err();
        assert!(format!("{missing:#}").contains("nowhere.toml"));
    }

    #[test]
    fn a_run_is_planned_or_refused_with_its_reason() {
        let run = plan_run("hamlet", "tue-sat 19:30, sat 14:30", "2027-01-12", "2027-02-20", "UTC")
            .unwrap();
        assert_eq!(run.len(), 36);
        let bad = plan_run("hamlet", "tue-sat 19:30", "12/01/2027", "2027-02-20", "UTC")
            .unwrap_err();
        assert!(format!("{bad:#}").contains("not a day"), "{bad:#}");
    }
}
