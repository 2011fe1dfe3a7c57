//! The scenario runner's compact syntax for venues, prices and the
//! tickets of a hold, and the lines it prints for performances.
//!
//! A venue is written in one line (see [`layout`]), prices in three
//! arguments (see [`pricing`]), and the tickets of a `hold` or `book` in
//! `types=`, `standing=` and `best=` (see [`tickets`]); the module turns
//! them into the crate's own types, so a scenario reads like the request.

use std::fmt::Write as _;

use boxoffice_core::{
    BestRequest, Booking, CategorySpec, PlaceRule, PriceSpec, PricingSpec, Row, SeatAttrs, Section,
    Show, Stage, StandingArea, StandingRequest, State, Tickets, Venue, VenueIndex, VenueSeat,
};
use goldenscript::ArgumentConsumer;

use super::{Error, money, parse_money, time};

/// Distance between neighbouring seats and rows, in venue units.
const PITCH: i32 = 10;

/// Where the first row of the first section is drawn (the stage is above it).
const FIRST_ROW_Y: i32 = 40;

/// Gap between two sections, in venue units.
const SECTION_GAP: i32 = 20;

/// A venue from the runner's syntax:
///
/// - `sections="Stalls:A=1-10,B=1-10;Circle:A=1-8"`: sections separated by
///   `;`, each `NAME:` then rows separated by `,`, each `LABEL=FIRST-LAST`
///   (seats labelled with the numbers FIRST to LAST) or `LABEL=N` (one seat).
/// - `areas="Floor:50;Pit:10"`: standing areas with their capacity.
/// - `wheelchair="Stalls A-1,Stalls A-2"`: seats that are wheelchair spaces.
///
/// Seat `i` of row `r` is drawn at x = i × 10, y = r × 10 plus the
/// section's offset (40 for the first section, then below the rows of the
/// one before with a gap of 20); areas are drawn below every section.
pub fn layout(name: &str, sections: &str, areas: &str, wheelchair: &str) -> Result<Venue, Error> {
    let mut venue = Venue {
        name: name.to_owned(),
        stage: Stage {
            x: 0,
            y: 0,
            width: 100,
            height: 20,
        },
        sections: Vec::new(),
        areas: Vec::new(),
    };
    let mut y = FIRST_ROW_Y;
    for section in sections.split(';').filter(|s| !s.is_empty()) {
        let (name, rows) = section
            .split_once(':')
            .ok_or_else(|| format!("section {section:?}: expected NAME:ROW=FIRST-LAST,…"))?;
        let mut parsed = Section {
            name: name.to_owned(),
            rows: Vec::new(),
        };
        for row in rows.split(',').filter(|r| !r.is_empty()) {
            let (label, range) = row
                .split_once('=')
                .ok_or_else(|| format!("row {row:?}: expected LABEL=FIRST-LAST"))?;
            let (first, last): (u32, u32) = match range.split_once('-') {
                Some((first, last)) => (first.parse()?, last.parse()?),
                None => (range.parse()?, range.parse()?),
            };
            let seats = (first..=last)
                .zip(0..)
                .map(|(n, i)| VenueSeat {
                    label: n.to_string(),
                    x: i * PITCH,
                    y,
                    attrs: SeatAttrs::default(),
                })
                .collect();
            parsed.rows.push(Row {
                label: label.to_owned(),
                seats,
            });
            y += PITCH;
        }
        venue.sections.push(parsed);
        y += SECTION_GAP;
    }
    for area in areas.split(';').filter(|a| !a.is_empty()) {
        let (name, capacity) = area
            .split_once(':')
            .ok_or_else(|| format!("area {area:?}: expected NAME:CAPACITY"))?;
        venue.areas.push(StandingArea {
            name: name.to_owned(),
            capacity: capacity.parse()?,
            bounds: Stage {
                x: 0,
                y,
                width: 100,
                height: 50,
            },
        });
        y += 50 + SECTION_GAP;
    }
    for label in wheelchair.split(',').filter(|l| !l.is_empty()) {
        let seat = venue
            .sections
            .iter_mut()
            .flat_map(|s| {
                let name = s.name.clone();
                s.rows.iter_mut().flat_map(move |r| {
                    let (name, row) = (name.clone(), r.label.clone());
                    r.seats
                        .iter_mut()
                        .map(move |seat| (format!("{name} {row}-{}", seat.label), seat))
                })
            })
            .find(|(full, _)| full == label)
            .map(|(_, seat)| seat)
            .ok_or_else(|| format!("wheelchair={label:?}: no such seat"))?;
        seat.attrs = seat.attrs.with(SeatAttrs::WHEELCHAIR);
    }
    Ok(venue)
}

/// A pricing from the runner's syntax, for performances at `venue`:
///
/// - `categories="A:Stalls A-B;B:Stalls C-J,Circle;S:Floor"`: categories
///   separated by `;`, each `NAME:` then rules separated by `,`. A rule is
///   `all`; `seat:LABEL` (one seat, "seat:Stalls A-1"); `area:NAME`; `SECTION ROW-ROW`
///   or `SECTION ROW` (rows); or a bare name: a standing area if the venue
///   has one of that name, else a section.
/// - `types=adult,concession`: the ticket types, the default first.
/// - `prices="A/adult=40,A/concession=30.50"`: CATEGORY/TYPE=PRICE.
pub fn pricing(
    venue: Option<&VenueIndex>,
    categories: &str,
    types: &str,
    prices: &str,
) -> Result<PricingSpec, Error> {
    let is_area = |name: &str| venue.is_some_and(|v| v.area_named(name).is_some());
    let mut spec = PricingSpec {
        categories: Vec::new(),
        ticket_types: types.split(',').map(str::to_owned).collect(),
        prices: Vec::new(),
    };
    for category in categories.split(';').filter(|c| !c.is_empty()) {
        let (name, rules) = category
            .split_once(':')
            .ok_or_else(|| format!("category {category:?}: expected NAME:RULE,…"))?;
        let rules = rules
            .split(',')
            .filter(|r| !r.is_empty())
            .map(|rule| {
                if rule == "all" {
                    PlaceRule::All
                } else if let Some(seat) = rule.strip_prefix("seat:") {
                    PlaceRule::Seat(seat.to_owned())
                } else if let Some(area) = rule.strip_prefix("area:") {
                    PlaceRule::Area(area.to_owned())
                } else if let Some((section, rows)) = rule.split_once(' ') {
                    let (from, to) = rows.split_once('-').unwrap_or((rows, rows));
                    PlaceRule::Rows {
                        section: section.to_owned(),
                        from: from.to_owned(),
                        to: to.to_owned(),
                    }
                } else if is_area(rule) {
                    PlaceRule::Area(rule.to_owned())
                } else {
                    PlaceRule::Section(rule.to_owned())
                }
            })
            .collect();
        spec.categories.push(CategorySpec {
            name: name.to_owned(),
            rules,
        });
    }
    for price in prices.split(',').filter(|p| !p.is_empty()) {
        let (pair, amount) = price
            .split_once('=')
            .ok_or_else(|| format!("price {price:?}: expected CATEGORY/TYPE=PRICE"))?;
        let (category, ticket_type) = pair
            .split_once('/')
            .ok_or_else(|| format!("price {price:?}: expected CATEGORY/TYPE=PRICE"))?;
        spec.prices.push(PriceSpec {
            category: category.to_owned(),
            ticket_type: ticket_type.to_owned(),
            cents: parse_money(amount)?,
        });
    }
    Ok(spec)
}

/// The tickets a `hold` or `book` line asks for beyond its seats:
///
/// - `types=adult,concession`: a ticket type per named seat, in order;
/// - `standing=Floor:2:adult;Pit:1`: AREA:COUNT[:TYPE] separated by `;`;
/// - `best=2:A:adult:wheelchair`: COUNT[:CATEGORY[:TYPE[:wheelchair]]],
///   an empty part for any category or the default type (`best=2::adult`).
pub fn tickets(args: &mut ArgumentConsumer<'_>) -> Result<Tickets, Error> {
    let mut tickets = Tickets::default();
    if let Some(types) = args.take_key("types") {
        tickets.types = types.split(',').map(str::to_owned).collect();
    }
    if let Some(standing) = args.take_key("standing") {
        for wanted in standing.split(';') {
            let mut parts = wanted.split(':');
            tickets.standing.push(StandingRequest {
                area: parts.next().unwrap_or_default().to_owned(),
                count: parts.next().unwrap_or("1").parse()?,
                ticket_type: parts.next().unwrap_or_default().to_owned(),
            });
        }
    }
    if let Some(best) = args.take_key("best") {
        let mut parts = best.split(':');
        tickets.best = Some(BestRequest {
            count: parts.next().unwrap_or("1").parse()?,
            category: parts.next().unwrap_or_default().to_owned(),
            ticket_type: parts.next().unwrap_or_default().to_owned(),
            wheelchair: match parts.next() {
                None => false,
                Some("wheelchair") => true,
                Some(other) => return Err(format!("best=…:{other}: expected wheelchair").into()),
            },
        });
    }
    Ok(tickets)
}

/// The tickets of a performance's booking, each with its place, type and
/// price: ` tickets [Stalls A-1 adult 40.00, Floor (place 1) concession
/// 15.00]`; empty for a simple show's booking.
pub fn tickets_line(state: &State, booking: &Booking) -> String {
    if booking.types.is_empty() {
        return String::new();
    }
    let show = state.show(&booking.show);
    let layout = show.and_then(|show| state.layout_of(show));
    let pricing = show
        .and_then(|show| show.performance.as_ref())
        .map(|p| &p.pricing);
    let tickets: Vec<String> = booking
        .seats
        .iter()
        .enumerate()
        .map(|(i, &no)| {
            let place = layout
                .as_ref()
                .and_then(|l| l.label(no))
                .unwrap_or_else(|| no.to_string());
            let kind = pricing.map_or_else(
                || booking.ticket_type(i).to_string(),
                |p| p.type_name(booking.ticket_type(i)),
            );
            format!("{place} {kind} {}", money(booking.ticket_price(i)))
        })
        .collect();
    format!(", tickets [{}]", tickets.join(", "))
}

/// What `show` prints after the seat map for a performance: its state,
/// sales window, categories and prices, and the seats held back.
pub fn performance_lines(state: &State, show: &Show) -> String {
    let Some(performance) = &show.performance else {
        return String::new();
    };
    let mut out = String::new();
    let bound = |at: Option<boxoffice_core::Timestamp>| at.map_or("-".to_owned(), time);
    write!(
        out,
        "\nperformance of {} at {}: {}, sales {} to {}",
        performance.production,
        performance.venue,
        show.state_at(state.now()).name(),
        bound(performance.sales.opens_at),
        bound(performance.sales.closes_at),
    )
    .ok();
    if let Some(at) = performance.cancelled_at {
        write!(out, ", cancelled at {}", time(at)).ok();
    }
    let pricing = &performance.pricing;
    let prices: Vec<String> = pricing
        .categories
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let types: Vec<String> = pricing
                .types
                .iter()
                .enumerate()
                .filter_map(|(t, kind)| {
                    let cents = pricing.prices.get(c * pricing.types.len() + t).copied()??;
                    Some(format!("{kind} {}", money(cents)))
                })
                .collect();
            let places = pricing
                .place_category
                .iter()
                .filter(|&&p| usize::from(p) == c)
                .count();
            format!("{name} ({places} places) {}", types.join(", "))
        })
        .collect();
    write!(out, "\nprices: {}", prices.join("; ")).ok();
    if !show.held_back.is_empty() {
        let layout = state.layout_of(show);
        let seats: Vec<String> = show
            .held_back
            .iter()
            .map(|(&no, reason)| {
                let label = layout
                    .as_ref()
                    .and_then(|l| l.label(no))
                    .unwrap_or_else(|| no.to_string());
                format!("{no} {label} ({reason})")
            })
            .collect();
        write!(out, "\nheld back: {}", seats.join(", ")).ok();
    }
    out
}

/// A venue: its summary, then each section's rows and each area.
pub fn venue_lines(id: &str, index: &VenueIndex) -> String {
    let venue = index.venue();
    let mut out = format!(
        "venue {id} {:?}: {} seats in {} sections, {} standing in {} areas",
        venue.name,
        index.seat_count(),
        venue.sections.len(),
        index.place_count() - index.seat_count(),
        venue.areas.len()
    );
    for section in &venue.sections {
        let rows: Vec<String> = section
            .rows
            .iter()
            .map(|row| {
                let first = row.seats.first().map_or("", |s| s.label.as_str());
                let last = row.seats.last().map_or("", |s| s.label.as_str());
                let wheelchair: Vec<&str> = row
                    .seats
                    .iter()
                    .filter(|s| s.attrs.contains(SeatAttrs::WHEELCHAIR))
                    .map(|s| s.label.as_str())
                    .collect();
                let mut row_text = format!("{} {first}-{last}", row.label);
                if !wheelchair.is_empty() {
                    write!(row_text, " (wheelchair {})", wheelchair.join(" ")).ok();
                }
                row_text
            })
            .collect();
        write!(out, "\n{}: {}", section.name, rows.join(", ")).ok();
    }
    for (a, area) in venue.areas.iter().enumerate() {
        let places = index.area_places(u16::try_from(a).unwrap_or(u16::MAX));
        write!(
            out,
            "\n{}: standing, {} places (numbers {}-{})",
            area.name,
            area.capacity,
            places.start(),
            places.end()
        )
        .ok();
    }
    out
}
