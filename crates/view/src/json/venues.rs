//! The JSON shapes of venues, productions, prices, seat plans, tickets
//! and sales reports, built `From` the cluster's messages (and a venue
//! back `Into` one, for a venue imported as JSON).
//!
//! A venue's layout keeps the wire's shape: sections of rows of seats,
//! each seat with its label, position and attribute names; standing areas
//! with their capacity and bounds; the stage as a rectangle.

use boxoffice_proto::v1;
use serde::{Deserialize, Serialize};

use super::Show;

/// A rectangle on the venue plan, in the plan's units.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width (> 0).
    pub width: i32,
    /// Height (> 0).
    pub height: i32,
}

/// One seat of a venue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VenueSeat {
    /// Its label within the row ("12").
    pub label: String,
    /// Its centre on the plan.
    pub x: i32,
    /// Its centre on the plan.
    pub y: i32,
    /// Any of `wheelchair`, `companion`, `restricted-view`, `aisle`.
    #[serde(default)]
    pub attributes: Vec<String>,
}

/// One row of a section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VenueRow {
    /// Its label ("K"), unique in the section.
    pub label: String,
    /// Its seats, in the order they stand in the row.
    pub seats: Vec<VenueSeat>,
}

/// A section of seats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VenueSection {
    /// Its name, unique in the venue.
    pub name: String,
    /// Its rows, front to back.
    pub rows: Vec<VenueRow>,
}

/// A standing area.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StandingArea {
    /// Its name, unique in the venue.
    pub name: String,
    /// How many people it holds.
    pub capacity: u32,
    /// Where it is on the plan.
    pub bounds: Rect,
}

/// A venue's layout. Place numbers (`seat_no`) count the seats of each
/// section row by row in this order from 1, then each area's places.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Venue {
    /// Its name.
    pub name: String,
    /// Where the stage is.
    pub stage: Rect,
    /// Its sections of seats.
    #[serde(default)]
    pub sections: Vec<VenueSection>,
    /// Its standing areas.
    #[serde(default)]
    pub areas: Vec<StandingArea>,
}

/// A venue as listed, without its layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VenueSummary {
    /// Its id.
    pub venue_id: String,
    /// Its name.
    pub name: String,
    /// Number of seats.
    pub seats: u32,
    /// Number of standing places.
    pub standing: u32,
    /// Number of sections.
    pub sections: u32,
    /// Number of standing areas.
    pub areas: u32,
}

/// A venue with its layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VenueDetail {
    /// Its id and counts.
    pub venue: VenueSummary,
    /// Its layout.
    pub layout: Venue,
}

/// A production: a work with a run of performances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Production {
    /// Its id.
    pub production_id: String,
    /// Its title.
    pub title: String,
    /// A description for buyers.
    pub description: String,
    /// Running time in minutes (0 if not known).
    pub running_minutes: u32,
}

/// A production and its performances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductionListing {
    /// The production.
    pub production: Production,
    /// Its performances (shows), by id.
    pub performances: Vec<Show>,
}

/// One price: a category and a ticket type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Price {
    /// The price category.
    pub category: String,
    /// The ticket type.
    pub ticket_type: String,
    /// The price, cents.
    pub cents: i64,
}

/// A performance's prices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceTable {
    /// Category names, in order.
    pub categories: Vec<String>,
    /// Ticket types, in order; the first is the default.
    pub ticket_types: Vec<String>,
    /// One price per (category, type) pair that is sold.
    pub prices: Vec<Price>,
}

/// One place of a performance's plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeatLayout {
    /// Its place number.
    pub seat_no: u32,
    /// Its label ("Stalls K-12", "Floor (place 7)").
    pub label: String,
    /// Its price category.
    pub category: String,
    /// Its position on the plan (0 for a standing place).
    pub x: i32,
    /// Its position on the plan (0 for a standing place).
    pub y: i32,
    /// Its attributes (`wheelchair`, `companion`, `restricted-view`, `aisle`).
    pub attributes: Vec<String>,
    /// The standing area of a standing place; else empty.
    pub area: String,
}

/// One ticket of a booking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    /// Its place number.
    pub seat_no: u32,
    /// The place as people say it ("Stalls K-12").
    pub label: String,
    /// Its ticket type ("adult").
    pub ticket_type: String,
    /// Its price, cents.
    pub price_cents: i64,
}

/// Sales of one ticket type in one category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SalesLine {
    /// The price category.
    pub category: String,
    /// The ticket type.
    pub ticket_type: String,
    /// Tickets sold and still valid.
    pub sold: u32,
    /// What they brought in, cents.
    pub revenue_cents: i64,
    /// Tickets returned or cancelled after being paid for.
    pub refunded: u32,
    /// What those cost, cents.
    pub refunded_cents: i64,
}

/// The sales of one performance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SalesReport {
    /// The performance.
    pub show_id: String,
    /// One line per category and ticket type with any sale or refund.
    pub lines: Vec<SalesLine>,
    /// Tickets sold, over every line.
    pub sold: u32,
    /// Revenue, cents.
    pub revenue_cents: i64,
    /// Tickets refunded, over every line.
    pub refunded: u32,
    /// Refunds, cents.
    pub refunded_cents: i64,
}

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a
/// line break. A text that a spreadsheet would run as a formula (it starts
/// with `=`, `+`, `-`, `@`, a tab or a carriage return, and is not a
/// number) gets a leading `'`, so that an administrator's category name
/// cannot become a formula in whoever opens the export.
pub fn csv_field(s: &str) -> String {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']) && s.parse::<f64>().is_err();
    let s = if formula {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

impl SalesReport {
    /// The report as CSV: a header, one row per line, then a `total` row.
    pub fn to_csv(&self) -> String {
        let mut out =
            String::from("category,ticket_type,sold,revenue_cents,refunded,refunded_cents\n");
        let field = csv_field;
        for l in &self.lines {
            out.push_str(&format!(
                "{},{},{},{},{},{}\n",
                field(&l.category),
                field(&l.ticket_type),
                l.sold,
                l.revenue_cents,
                l.refunded,
                l.refunded_cents
            ));
        }
        out.push_str(&format!(
            "total,,{},{},{},{}\n",
            self.sold, self.revenue_cents, self.refunded, self.refunded_cents
        ));
        out
    }
}

fn rect(r: Option<v1::Rect>) -> Rect {
    let r = r.unwrap_or_default();
    Rect {
        x: r.x,
        y: r.y,
        width: r.width,
        height: r.height,
    }
}

fn rect_out(r: Rect) -> Option<v1::Rect> {
    Some(v1::Rect {
        x: r.x,
        y: r.y,
        width: r.width,
        height: r.height,
    })
}

impl From<v1::Venue> for Venue {
    fn from(v: v1::Venue) -> Self {
        Self {
            name: v.name,
            stage: rect(v.stage),
            sections: v
                .sections
                .into_iter()
                .map(|s| VenueSection {
                    name: s.name,
                    rows: s
                        .rows
                        .into_iter()
                        .map(|r| VenueRow {
                            label: r.label,
                            seats: r
                                .seats
                                .into_iter()
                                .map(|seat| VenueSeat {
                                    label: seat.label,
                                    x: seat.x,
                                    y: seat.y,
                                    attributes: seat.attributes,
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
            areas: v
                .areas
                .into_iter()
                .map(|a| StandingArea {
                    name: a.name,
                    capacity: a.capacity,
                    bounds: rect(a.bounds),
                })
                .collect(),
        }
    }
}

impl From<Venue> for v1::Venue {
    fn from(v: Venue) -> Self {
        Self {
            name: v.name,
            stage: rect_out(v.stage),
            sections: v
                .sections
                .into_iter()
                .map(|s| v1::VenueSection {
                    name: s.name,
                    rows: s
                        .rows
                        .into_iter()
                        .map(|r| v1::VenueRow {
                            label: r.label,
                            seats: r
                                .seats
                                .into_iter()
                                .map(|seat| v1::VenueSeat {
                                    label: seat.label,
                                    x: seat.x,
                                    y: seat.y,
                                    attributes: seat.attributes,
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
            areas: v
                .areas
                .into_iter()
                .map(|a| v1::StandingArea {
                    name: a.name,
                    capacity: a.capacity,
                    bounds: rect_out(a.bounds),
                })
                .collect(),
        }
    }
}

impl From<v1::VenueSummary> for VenueSummary {
    fn from(v: v1::VenueSummary) -> Self {
        Self {
            venue_id: v.venue_id,
            name: v.name,
            seats: v.seats,
            standing: v.standing,
            sections: v.sections,
            areas: v.areas,
        }
    }
}

impl From<v1::GetVenueResponse> for VenueDetail {
    fn from(v: v1::GetVenueResponse) -> Self {
        Self {
            venue: v.summary.unwrap_or_default().into(),
            layout: v.venue.unwrap_or_default().into(),
        }
    }
}

impl From<v1::Production> for Production {
    fn from(p: v1::Production) -> Self {
        Self {
            production_id: p.production_id,
            title: p.title,
            description: p.description,
            running_minutes: p.running_minutes,
        }
    }
}

impl From<v1::ProductionListing> for ProductionListing {
    fn from(p: v1::ProductionListing) -> Self {
        Self {
            production: p.production.unwrap_or_default().into(),
            performances: p.performances.into_iter().map(Show::from).collect(),
        }
    }
}

impl From<v1::Price> for Price {
    fn from(p: v1::Price) -> Self {
        Self {
            category: p.category,
            ticket_type: p.ticket_type,
            cents: p.cents,
        }
    }
}

impl From<v1::PriceTable> for PriceTable {
    fn from(p: v1::PriceTable) -> Self {
        Self {
            categories: p.categories,
            ticket_types: p.ticket_types,
            prices: p.prices.into_iter().map(Price::from).collect(),
        }
    }
}

impl From<v1::SeatLayout> for SeatLayout {
    fn from(s: v1::SeatLayout) -> Self {
        Self {
            seat_no: s.seat_no,
            label: s.label,
            category: s.category,
            x: s.x,
            y: s.y,
            attributes: s.attributes,
            area: s.area,
        }
    }
}

impl From<v1::Ticket> for Ticket {
    fn from(t: v1::Ticket) -> Self {
        Self {
            seat_no: t.seat_no,
            label: t.label,
            ticket_type: t.ticket_type,
            price_cents: t.price_cents,
        }
    }
}

impl From<v1::SalesReport> for SalesReport {
    fn from(r: v1::SalesReport) -> Self {
        Self {
            show_id: r.show_id,
            lines: r
                .lines
                .into_iter()
                .map(|l| SalesLine {
                    category: l.category,
                    ticket_type: l.ticket_type,
                    sold: l.sold,
                    revenue_cents: l.revenue_cents,
                    refunded: l.refunded,
                    refunded_cents: l.refunded_cents,
                })
                .collect(),
            sold: r.sold,
            revenue_cents: r.revenue_cents,
            refunded: r.refunded,
            refunded_cents: r.refunded_cents,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_venue_goes_to_json_and_back_unchanged() {
        let wire = v1::Venue {
            name: "Hall".into(),
            stage: Some(v1::Rect {
                x: 0,
                y: 0,
                width: 10,
                height: 2,
            }),
            sections: vec![v1::VenueSection {
                name: "Stalls".into(),
                rows: vec![v1::VenueRow {
                    label: "A".into(),
                    seats: vec![v1::VenueSeat {
                        label: "1".into(),
                        x: 1,
                        y: 5,
                        attributes: vec!["wheelchair".into()],
                    }],
                }],
            }],
            areas: vec![],
        };
        let json = Venue::from(wire.clone());
        assert_eq!(v1::Venue::from(json), wire);
    }

    #[test]
    fn a_sales_report_reads_as_csv() {
        let report = SalesReport {
            show_id: "p1".into(),
            lines: vec![SalesLine {
                category: "A, front".into(),
                ticket_type: "adult".into(),
                sold: 2,
                revenue_cents: 9000,
                refunded: 1,
                refunded_cents: 4500,
            }],
            sold: 2,
            revenue_cents: 9000,
            refunded: 1,
            refunded_cents: 4500,
        };
        assert_eq!(
            report.to_csv(),
            "category,ticket_type,sold,revenue_cents,refunded,refunded_cents\n\
             \"A, front\",adult,2,9000,1,4500\n\
             total,,2,9000,1,4500\n"
        );
    }
}

#[cfg(test)]
mod csv_tests {
    use super::csv_field;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("Stalls"), "Stalls");
        assert_eq!(csv_field("A, front"), "\"A, front\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"\"");
        assert_eq!(csv_field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("+1+1"), "'+1+1");
        // Numbers stay numbers.
        assert_eq!(csv_field("-25.00"), "-25.00");
        assert_eq!(csv_field("12"), "12");
    }
}
