//! `boxoffice admin venues`, `admin productions` and `admin performances`:
//! the box office's catalogue, from files an administrator writes (a venue
//! layout, a pricing file) and a run of performances said the way people
//! say it ("tue-sat 19:30, sat 14:30"); seats held back from sale and
//! released.
//!
//! Every file is read and checked here first (a pricing file against the
//! venue as stored), so a mistake is reported with its file and line and
//! exit code 2 before anything is sent; the cluster checks everything
//! again (it trusts no client).

use std::path::Path;

use anyhow::Context as _;
use boxoffice_client::proto as v1;
use boxoffice_core::{Pricing, PricingSpec, Venue, VenueIndex};
use boxoffice_proto::convert;
use boxoffice_view::pricing_file::parse_pricing;
use boxoffice_view::schedule::{Planned, Slots, expand};
use boxoffice_view::venue_file::parse_venue;
use serde::Serialize;
use tonic::Status;

use crate::args::{AdminPerformancesCommand, AdminProductionsCommand, AdminVenuesCommand, Global};
use crate::commands::{nodes, print_bookings, print_shows};
use crate::orders::{PlaceArg, parse_places};
use crate::output::{Output, ShowJson, api, when};
use crate::queue::DEFAULT_ADMISSION_MS;

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

impl From<v1::VenueSummary> for VenueCounts {
    fn from(v: v1::VenueSummary) -> Self {
        Self {
            venue_id: Some(v.venue_id),
            name: v.name,
            seats: v.seats,
            standing: v.standing,
            sections: v.sections,
            areas: v.areas,
        }
    }
}

/// Reads and checks a venue file; the error names the file and the line.
pub fn read_venue(file: &Path) -> anyhow::Result<(Venue, VenueIndex)> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let invalid = |why: String| {
        api(Status::invalid_argument(format!(
            "{}: {why}",
            file.display()
        )))
    };
    let venue = parse_venue(&text).map_err(|e| invalid(e.to_string()))?;
    let index = VenueIndex::new(venue.clone()).map_err(|e| invalid(e.to_string()))?;
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
    let invalid = |why: String| api(Status::invalid_argument(why));
    let slots = Slots::parse(slots).map_err(|e| invalid(format!("--slots: {e}")))?;
    let day = |text: &str| -> anyhow::Result<jiff::civil::Date> {
        text.trim()
            .parse()
            .map_err(|_| invalid(format!("{text:?} is not a day such as 2027-01-12")))
    };
    expand(production, &slots, day(from)?, day(until)?, tz).map_err(|e| invalid(e.to_string()))
}

/// Reads a pricing file and checks it against `venue`: the categories
/// must cover every place, name only sections, rows, seats and areas the
/// venue has. The error names the file (and the line of a syntax mistake).
pub fn read_pricing(file: &Path, venue: &VenueIndex) -> anyhow::Result<PricingSpec> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let invalid = |why: String| {
        api(Status::invalid_argument(format!(
            "{}: {why}",
            file.display()
        )))
    };
    let spec = parse_pricing(&text).map_err(|e| invalid(e.to_string()))?;
    Pricing::resolve(&spec, venue).map_err(invalid)?;
    Ok(spec)
}

/// A venue from the cluster, indexed as the state machine indexes it.
pub async fn fetch_venue(
    client: &boxoffice_client::Client,
    venue_id: &str,
) -> anyhow::Result<VenueIndex> {
    let reply = client.get_venue(venue_id, true).await.map_err(api)?;
    let venue = convert::venue_from(reply.venue.unwrap_or_default()).map_err(api)?;
    VenueIndex::new(venue).with_context(|| format!("venue {venue_id} as stored"))
}

/// One row of a venue, as `admin venues show` prints it.
#[derive(Serialize)]
struct RowJson {
    label: String,
    seats: usize,
    first: String,
    last: String,
}

/// One section of a venue.
#[derive(Serialize)]
struct SectionJson {
    name: String,
    rows: Vec<RowJson>,
}

/// One standing area of a venue.
#[derive(Serialize)]
struct AreaJson {
    name: String,
    capacity: u32,
}

/// A venue's plan as `admin venues show` prints it in JSON.
#[derive(Serialize)]
struct VenueJson {
    venue_id: String,
    name: String,
    seats: u32,
    standing: u32,
    sections: Vec<SectionJson>,
    areas: Vec<AreaJson>,
}

impl VenueJson {
    fn new(venue_id: &str, index: &VenueIndex) -> Self {
        let venue: &Venue = index.venue();
        Self {
            venue_id: venue_id.to_owned(),
            name: venue.name.clone(),
            seats: index.seat_count(),
            standing: index.place_count() - index.seat_count(),
            sections: venue
                .sections
                .iter()
                .map(|s| SectionJson {
                    name: s.name.clone(),
                    rows: s
                        .rows
                        .iter()
                        .map(|r| RowJson {
                            label: r.label.clone(),
                            seats: r.seats.len(),
                            first: r.seats.first().map(|s| s.label.clone()).unwrap_or_default(),
                            last: r.seats.last().map(|s| s.label.clone()).unwrap_or_default(),
                        })
                        .collect(),
                })
                .collect(),
            areas: venue
                .areas
                .iter()
                .map(|a| AreaJson {
                    name: a.name.clone(),
                    capacity: a.capacity,
                })
                .collect(),
        }
    }
}

/// Prints a venue's sections, rows and areas.
fn print_venue(out: &Output, venue: &VenueJson) -> anyhow::Result<()> {
    if out.json {
        return out.json(venue);
    }
    if out.tty {
        println!(
            "{} ({}): {} seats, {} standing",
            venue.name, venue.venue_id, venue.seats, venue.standing
        );
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for section in &venue.sections {
        for row in &section.rows {
            rows.push(vec![
                section.name.clone(),
                row.label.clone(),
                row.seats.to_string(),
                format!("{}..{}", row.first, row.last),
            ]);
        }
    }
    for area in &venue.areas {
        rows.push(vec![
            area.name.clone(),
            "(standing)".to_owned(),
            area.capacity.to_string(),
            String::new(),
        ]);
    }
    out.table(&["section", "row", "places", "seats"], rows);
    Ok(())
}

/// `boxoffice admin venues …`.
pub async fn admin_venues(global: &Global, command: AdminVenuesCommand) -> anyhow::Result<()> {
    let out = Output::new(global.json);
    match command {
        AdminVenuesCommand::Check { file } => {
            let (_, index) = read_venue(&file)?;
            VenueCounts::of(None, &index).print(&out)
        }
        AdminVenuesCommand::Import { file, id } => {
            // Read and check everything before dialling anyone.
            let (venue, _) = read_venue(&file)?;
            let id = match id {
                Some(id) => id,
                None => file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .context("name the venue with --id")?,
            };
            let (_, client) = nodes(global).await?;
            let summary = client
                .create_venue(&id, convert::venue(&venue))
                .await
                .map_err(api)
                .context("importing the venue")?;
            VenueCounts::from(summary).print(&out)
        }
        AdminVenuesCommand::List { stale } => {
            let (_, client) = nodes(global).await?;
            let venues: Vec<VenueCounts> = client
                .list_venues(stale)
                .await
                .map_err(api)?
                .into_iter()
                .map(VenueCounts::from)
                .collect();
            if out.json {
                return out.json(&venues);
            }
            let rows = venues
                .iter()
                .map(|v| {
                    vec![
                        v.venue_id.clone().unwrap_or_default(),
                        v.name.clone(),
                        v.seats.to_string(),
                        v.standing.to_string(),
                        v.sections.to_string(),
                        v.areas.to_string(),
                    ]
                })
                .collect();
            out.table(
                &["venue", "name", "seats", "standing", "sections", "areas"],
                rows,
            );
            Ok(())
        }
        AdminVenuesCommand::Show { id, stale } => {
            let (_, client) = nodes(global).await?;
            let reply = client.get_venue(&id, stale).await.map_err(api)?;
            let venue = convert::venue_from(reply.venue.unwrap_or_default()).map_err(api)?;
            let index = VenueIndex::new(venue).with_context(|| format!("venue {id} as stored"))?;
            print_venue(&out, &VenueJson::new(&id, &index))
        }
    }
}

/// A production in JSON, with its number of performances.
#[derive(Serialize)]
struct ProductionJson {
    production_id: String,
    title: String,
    description: String,
    running_minutes: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    performances: Option<usize>,
}

impl ProductionJson {
    fn new(p: v1::Production, performances: Option<usize>) -> Self {
        Self {
            production_id: p.production_id,
            title: p.title,
            description: p.description,
            running_minutes: p.running_minutes,
            performances,
        }
    }
}

/// `boxoffice admin productions …`.
pub async fn admin_productions(
    global: &Global,
    command: AdminProductionsCommand,
) -> anyhow::Result<()> {
    let (_, client) = nodes(global).await?;
    let out = Output::new(global.json);
    let productions = match command {
        AdminProductionsCommand::Create {
            id,
            title,
            description,
            running_minutes,
        } => {
            let created = client
                .create_production(&id, &title, &description, running_minutes)
                .await
                .map_err(api)
                .context("creating the production")?;
            if out.json {
                return out.json(&ProductionJson::new(created, None));
            }
            vec![ProductionJson::new(created, None)]
        }
        AdminProductionsCommand::List { stale } => {
            let all: Vec<ProductionJson> = client
                .list_productions(stale)
                .await
                .map_err(api)?
                .into_iter()
                .map(|l| {
                    let count = l.performances.len();
                    ProductionJson::new(l.production.unwrap_or_default(), Some(count))
                })
                .collect();
            if out.json {
                return out.json(&all);
            }
            all
        }
    };
    let rows = productions
        .iter()
        .map(|p| {
            vec![
                p.production_id.clone(),
                p.title.clone(),
                match p.running_minutes {
                    0 => String::new(),
                    minutes => format!("{minutes} min"),
                },
                p.performances.map(|n| n.to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    out.table(&["production", "title", "running", "performances"], rows);
    Ok(())
}

/// Seat numbers and labels from the command line, for hold-back and release.
fn seats_named(args: &[String]) -> anyhow::Result<(Vec<u32>, Vec<String>)> {
    let places = parse_places(args).map_err(|why| api(Status::invalid_argument(why)))?;
    let (mut nos, mut labels) = (Vec::new(), Vec::new());
    for place in places {
        match place {
            PlaceArg::No(no) => nos.push(no),
            PlaceArg::Label(label) => labels.push(label),
        }
    }
    Ok((nos, labels))
}

/// `boxoffice admin performances …`.
pub async fn admin_performances(
    global: &Global,
    command: AdminPerformancesCommand,
) -> anyhow::Result<()> {
    let out = Output::new(global.json);
    match command {
        AdminPerformancesCommand::Add {
            production,
            venue,
            pricing,
            from,
            until,
            slots,
            tz,
            on_sale,
            off_sale,
            waiting_room_rate,
            no_waiting_room,
            dry_run,
        } => {
            if waiting_room_rate == 0 && !no_waiting_room && on_sale.is_some() {
                return Err(api(Status::invalid_argument(
                    "--waiting-room-rate must be at least 1 (or pass --no-waiting-room)",
                )));
            }
            // The run and the files are checked before anything is sent;
            // the pricing against the venue as stored.
            let run = plan_run(&production, &slots, &from, &until, &tz)?;
            let (_, client) = nodes(global).await?;
            let index = fetch_venue(&client, &venue).await?;
            let spec = read_pricing(&pricing, &index)?;
            if dry_run {
                if out.json {
                    let planned: Vec<serde_json::Value> = run
                        .iter()
                        .map(|p| serde_json::json!({"show_id": p.id, "starts_at_ms": p.starts_at_ms}))
                        .collect();
                    return out.json(&planned);
                }
                let rows = run
                    .iter()
                    .map(|p| vec![p.id.clone(), when(p.starts_at_ms)])
                    .collect();
                out.table(&["show", "starts"], rows);
                return Ok(());
            }
            let msg = v1::AddPerformancesRequest {
                request_id: String::new(),
                production_id: production,
                venue_id: venue,
                performances: run
                    .into_iter()
                    .map(|p| v1::NewPerformance {
                        show_id: p.id,
                        starts_at_ms: p.starts_at_ms,
                    })
                    .collect(),
                sales_opens_at_ms: on_sale.unwrap_or(0),
                sales_closes_at_ms: off_sale.unwrap_or(0),
                pricing: Some(convert::pricing(&spec)),
            };
            let added = client
                .add_performances(msg)
                .await
                .map_err(api)
                .context("adding the performances")?;
            print_shows(&out, &added)?;
            // A sale that opens at a set time is a rush: each performance
            // sells through a waiting room that opens with it.
            if let Some(opens_at_ms) = on_sale.filter(|_| !no_waiting_room) {
                let rules = v1::RoomRules {
                    opens_at_ms,
                    admit_per_s: waiting_room_rate,
                    max_active: 0,
                    admission_ms: DEFAULT_ADMISSION_MS,
                };
                for show in &added {
                    client
                        .set_waiting_room(&show.show_id, Some(rules))
                        .await
                        .map_err(api)
                        .with_context(|| {
                            format!(
                                "the performances are added, but the waiting room of {} could \
                                 not be set up: `boxoffice admin waiting-room set {}` sets it up",
                                show.show_id, show.show_id
                            )
                        })?;
                    if !out.json {
                        println!(
                            "{}: sells through a waiting room opening at {}, {waiting_room_rate} buyers let in a second",
                            show.show_id,
                            when(opens_at_ms)
                        );
                    }
                }
            }
            Ok(())
        }
        AdminPerformancesCommand::Cancel { show } => {
            let (_, client) = nodes(global).await?;
            let reply = client
                .cancel_performance(&show)
                .await
                .map_err(api)
                .context("cancelling the performance")?;
            if out.json {
                return out.json(&serde_json::json!({
                    "show": ShowJson::from(reply.show.unwrap_or_default()),
                    "bookings": reply.bookings.iter().map(crate::output::BookingJson::from).collect::<Vec<_>>(),
                }));
            }
            print_shows(&out, &reply.show.into_iter().collect::<Vec<_>>())?;
            if !reply.bookings.is_empty() {
                print_bookings(&out, &reply.bookings, false)?;
            }
            Ok(())
        }
        AdminPerformancesCommand::HoldBack {
            show,
            seats,
            reason,
        } => {
            let (nos, labels) = seats_named(&seats)?;
            let (_, client) = nodes(global).await?;
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            let shown = client
                .hold_back(&show, &nos, &labels, &reason)
                .await
                .map_err(api)
                .context("holding the seats back")?;
            print_shows(&out, &[shown])
        }
        AdminPerformancesCommand::Release { show, seats } => {
            let (nos, labels) = seats_named(&seats)?;
            let (_, client) = nodes(global).await?;
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            let shown = client
                .release_held_back(&show, &nos, &labels)
                .await
                .map_err(api)
                .context("releasing the seats")?;
            print_shows(&out, &[shown])
        }
    }
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
    fn the_example_pricing_fits_its_venue_and_not_another() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/venues");
        let (_, theatre) = read_venue(&dir.join("theatre.toml")).unwrap();
        let spec = read_pricing(&dir.join("theatre-pricing.toml"), &theatre).unwrap();
        let message = convert::pricing(&spec);
        assert_eq!(message.ticket_types[0], "adult");
        let back = convert::pricing_from(message).unwrap();
        assert_eq!(back, spec, "the message carries the whole spec");
        let (_, club) = read_venue(&dir.join("club.toml")).unwrap();
        let wrong = read_pricing(&dir.join("theatre-pricing.toml"), &club).unwrap_err();
        assert!(
            format!("{wrong:#}").contains("theatre-pricing.toml"),
            "{wrong:#}"
        );
        assert_eq!(
            crate::output::exit_code(&wrong),
            crate::output::exit::INVALID
        );
    }

    #[test]
    fn a_run_is_planned_or_refused_with_its_reason() {
        let run = plan_run(
            "hamlet",
            "tue-sat 19:30, sat 14:30",
            "2027-01-12",
            "2027-02-20",
            "UTC",
        )
        .unwrap();
        assert_eq!(run.len(), 36);
        let bad =
            plan_run("hamlet", "tue-sat 19:30", "12/01/2027", "2027-02-20", "UTC").unwrap_err();
        assert!(format!("{bad:#}").contains("not a day"), "{bad:#}");
    }
}
