//! Sales reports: what a performance has sold, per price category and
//! ticket type, computed from the bookings alone (no state of its own).
//!
//! A ticket is *sold* while its booking is confirmed, and *refunded* once
//! its booking is cancelled (by its owner, by a return, which moves the
//! returned tickets to a cancelled booking of their own, or by the
//! performance's cancellation); each counts at the price it was sold at.
//! Holds and released holds never sold anything and are left out.

use serde::{Deserialize, Serialize};

use super::{BookingStatus, State};
use crate::ids::ShowId;
use crate::pricing::STANDARD_TICKET_TYPES;

/// Name of the one category of a simple show.
pub const SIMPLE_CATEGORY: &str = "Standard";

/// Sales of one ticket type in one price category.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesLine {
    /// The price category.
    pub category: String,
    /// The ticket type.
    pub ticket_type: String,
    /// Tickets in confirmed bookings.
    pub sold: u32,
    /// What they cost together, in cents.
    pub revenue_cents: i64,
    /// Tickets in cancelled bookings (returned or cancelled after the sale).
    pub refunded: u32,
    /// What those cost together, in cents: the refunds due or made.
    pub refunded_cents: i64,
}

/// What one performance has sold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesReport {
    /// The performance (or simple show).
    pub show: ShowId,
    /// One line per category and ticket type with a sale or a refund, in
    /// the performance's order of categories, then of types.
    pub lines: Vec<SalesLine>,
}

impl SalesReport {
    /// Tickets sold, over every line.
    pub fn sold(&self) -> u32 {
        self.lines.iter().map(|l| l.sold).sum()
    }

    /// Revenue over every line, in cents.
    pub fn revenue_cents(&self) -> i64 {
        self.lines.iter().map(|l| l.revenue_cents).sum()
    }

    /// Tickets refunded, over every line.
    pub fn refunded(&self) -> u32 {
        self.lines.iter().map(|l| l.refunded).sum()
    }

    /// Refunds over every line, in cents.
    pub fn refunded_cents(&self) -> i64 {
        self.lines.iter().map(|l| l.refunded_cents).sum()
    }
}

impl State {
    /// The sales report of show `id`, or `None` if there is no such show.
    ///
    /// It scans every booking: bookings are not indexed by show, and a
    /// report is an occasional administrator's read, not a customer's.
    pub fn sales_report(&self, id: &ShowId) -> Option<SalesReport> {
        let show = self.show(id)?;
        let pricing = show.performance.as_ref().map(|p| &p.pricing);
        let (categories, types): (Vec<String>, Vec<String>) = match pricing {
            Some(p) => (p.categories.clone(), p.types.clone()),
            None => (
                vec![SIMPLE_CATEGORY.to_owned()],
                vec![STANDARD_TICKET_TYPES[0].to_owned()],
            ),
        };
        let mut lines: Vec<SalesLine> = categories
            .iter()
            .flat_map(|c| {
                types.iter().map(move |t| SalesLine {
                    category: c.clone(),
                    ticket_type: t.clone(),
                    ..SalesLine::default()
                })
            })
            .collect();
        for booking in self.bookings.iter().filter(|b| b.show == *id) {
            let sold = match booking.status {
                BookingStatus::Confirmed { .. } => true,
                BookingStatus::Cancelled { .. } => false,
                BookingStatus::Held { .. } | BookingStatus::Released { .. } => continue,
            };
            for (i, &seat) in booking.seats.iter().enumerate() {
                let category = pricing.and_then(|p| p.category_of(seat)).unwrap_or(0);
                let t = booking.ticket_type(i);
                let index = usize::from(category) * types.len() + usize::from(t);
                let Some(line) = lines.get_mut(index) else {
                    continue;
                };
                let price = booking.ticket_price(i);
                if sold {
                    line.sold = line.sold.saturating_add(1);
                    line.revenue_cents = line.revenue_cents.saturating_add(price);
                } else {
                    line.refunded = line.refunded.saturating_add(1);
                    line.refunded_cents = line.refunded_cents.saturating_add(price);
                }
            }
        }
        lines.retain(|l| l.sold > 0 || l.refunded > 0);
        Some(SalesReport {
            show: id.clone(),
            lines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, NewPerformance, Request, SalesWindow, Tickets};
    use crate::ids::{RequestId, SeatNo, Timestamp};
    use crate::outcome::{Effect, Outcome};
    use crate::pricing::{CategorySpec, PlaceRule, PriceSpec, PricingSpec};
    use crate::venue::Venue;

    const NOW: Timestamp = Timestamp(1_000);
    const START: Timestamp = Timestamp(1_000_000_000);

    struct Hall {
        state: State,
        n: u32,
    }

    impl Hall {
        fn run(&mut self, command: Command) -> Outcome {
            self.n += 1;
            let request = Request {
                request_id: RequestId(format!("r{}", self.n)),
                caller: None,
                command,
            };
            let outcome = self.state.apply(NOW, &request);
            assert_eq!(self.state.check_invariants(), Ok(()));
            outcome
        }

        fn book(&mut self, seats: &[u32], types: &[&str], user: &str) -> crate::Booking {
            match self.run(Command::Book {
                show: "p1".into(),
                seats: seats.iter().copied().map(SeatNo).collect(),
                tickets: Tickets {
                    types: types.iter().map(|t| (*t).to_owned()).collect(),
                    ..Tickets::default()
                },
                user: user.into(),
                max_seats_per_user: 0,
            }) {
                Ok(Effect::Booking(b)) => b,
                other => panic!("{other:?}"),
            }
        }
    }

    /// A four-seat hall: seat 1 in category A (30/20), the rest in B (10/5).
    fn hall() -> Hall {
        let mut b = Hall {
            state: State::new(),
            n: 0,
        };
        let price = |category: &str, ticket_type: &str, cents| PriceSpec {
            category: category.into(),
            ticket_type: ticket_type.into(),
            cents,
        };
        for command in [
            Command::CreateVenue {
                venue: "hall".into(),
                layout: Venue::single_row("Hall", 4),
            },
            Command::CreateProduction {
                production: "play".into(),
                title: "A play".into(),
                description: String::new(),
                running_minutes: 90,
            },
            Command::AddPerformances {
                production: "play".into(),
                venue: "hall".into(),
                performances: vec![NewPerformance {
                    show: "p1".into(),
                    starts_at: START,
                }],
                sales: SalesWindow::default(),
                pricing: PricingSpec {
                    categories: vec![
                        CategorySpec {
                            name: "B".into(),
                            rules: vec![PlaceRule::All],
                        },
                        CategorySpec {
                            name: "A".into(),
                            rules: vec![PlaceRule::Seat("1-1".into())],
                        },
                    ],
                    ticket_types: vec!["adult".into(), "concession".into()],
                    prices: vec![
                        price("A", "adult", 3_000),
                        price("A", "concession", 2_000),
                        price("B", "adult", 1_000),
                        price("B", "concession", 500),
                    ],
                },
            },
        ] {
            b.run(command).unwrap();
        }
        b
    }

    fn line(report: &SalesReport, category: &str, ticket_type: &str) -> SalesLine {
        report
            .lines
            .iter()
            .find(|l| l.category == category && l.ticket_type == ticket_type)
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn confirmed_tickets_are_sold_at_their_category_and_type_price() {
        let mut b = hall();
        b.book(&[1, 2], &["adult", "concession"], "ann");
        b.book(&[3], &["concession"], "bob");
        let report = b.state.sales_report(&"p1".into()).unwrap();
        assert_eq!(line(&report, "A", "adult").sold, 1);
        assert_eq!(line(&report, "A", "adult").revenue_cents, 3_000);
        assert_eq!(line(&report, "B", "concession").sold, 2);
        assert_eq!(line(&report, "B", "concession").revenue_cents, 1_000);
        assert_eq!(report.lines.len(), 2, "lines without sales are left out");
        assert_eq!((report.sold(), report.revenue_cents()), (3, 4_000));
        assert_eq!(report.refunded(), 0);
    }

    #[test]
    fn returned_and_cancelled_tickets_are_refunded_at_their_price() {
        let mut b = hall();
        let ann = b.book(&[1, 2], &["adult", "concession"], "ann");
        let bob = b.book(&[3], &["adult"], "bob");
        b.run(Command::ReturnTickets {
            booking: ann.id,
            seats: vec![SeatNo(2)],
            user: "ann".into(),
        })
        .unwrap();
        b.run(Command::Cancel {
            booking: bob.id,
            user: "bob".into(),
        })
        .unwrap();
        let report = b.state.sales_report(&"p1".into()).unwrap();
        assert_eq!(line(&report, "A", "adult").sold, 1);
        let returned = line(&report, "B", "concession");
        assert_eq!((returned.sold, returned.refunded), (0, 1));
        assert_eq!(returned.refunded_cents, 500);
        assert_eq!(line(&report, "B", "adult").refunded_cents, 1_000);
        assert_eq!((report.sold(), report.revenue_cents()), (1, 3_000));
        assert_eq!((report.refunded(), report.refunded_cents()), (2, 1_500));
    }

    #[test]
    fn a_cancelled_performance_refunds_everything_and_an_unknown_show_has_no_report() {
        let mut b = hall();
        b.book(&[1, 4], &["adult", "adult"], "ann");
        b.run(Command::CancelPerformance { show: "p1".into() })
            .unwrap();
        let report = b.state.sales_report(&"p1".into()).unwrap();
        assert_eq!((report.sold(), report.refunded()), (0, 2));
        assert_eq!(report.refunded_cents(), 4_000);
        assert!(b.state.sales_report(&"nope".into()).is_none());
    }

    #[test]
    fn a_simple_show_reports_one_standard_line() {
        let mut b = hall();
        b.run(Command::CreateShow {
            show: "s1".into(),
            title: "Simple".into(),
            seat_count: 5,
            price_cents: 700,
            starts_at: START,
        })
        .unwrap();
        b.run(Command::Book {
            show: "s1".into(),
            seats: vec![SeatNo(1), SeatNo(2)],
            tickets: Tickets::default(),
            user: "ann".into(),
            max_seats_per_user: 0,
        })
        .unwrap();
        let report = b.state.sales_report(&"s1".into()).unwrap();
        assert_eq!(
            report.lines,
            vec![SalesLine {
                category: SIMPLE_CATEGORY.into(),
                ticket_type: "adult".into(),
                sold: 2,
                revenue_cents: 1_400,
                refunded: 0,
                refunded_cents: 0,
            }]
        );
    }
}
