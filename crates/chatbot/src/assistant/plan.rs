//! One performance as the assistant reads it (its price table, its venue's
//! plan and the state of every place) and the questions answered from it
//! without writing anything: the cheapest free place, the prices of a
//! section or a ticket type, the free wheelchair spaces, and the best seats
//! together. Best-available runs the state machine's own rules
//! ([`boxoffice_core::best_available`]) over this read, so the assistant
//! offers the block a `Hold` with `best` would pick, and never holds seats
//! just to answer.
//!
//! A read is a moment: the seats it calls free may be gone when the asker
//! holds them, and the hold then says so.

use boxoffice_client::proto::{self as v1, SeatState};
use boxoffice_client::{Client, MAX_SEAT_PAGE};
use boxoffice_core::{
    BestQuery, Pick, Place, SeatAttrs, SeatNo, Venue, VenueIndex, best_available,
};
use tonic::Status;

/// One performance, read.
#[derive(Debug)]
pub struct Plan {
    /// The performance.
    pub show: v1::Show,
    /// Its categories, ticket types and prices.
    pub prices: v1::PriceTable,
    /// Each place's category (an index into `prices.categories`), by place
    /// number - 1.
    category: Vec<Option<u8>>,
    /// Whether each place is free to book, by place number - 1.
    free: Vec<bool>,
    /// The venue's plan.
    index: VenueIndex,
}

/// Which places a question is about; empty fields mean any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Sections or standing areas, by name.
    pub sections: Vec<String>,
    /// A price category, by name.
    pub category: Option<String>,
    /// A ticket type, by name; the performance's default if `None`.
    pub ticket_type: Option<String>,
}

/// The cheapest free places of a performance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// Their price category.
    pub category: String,
    /// The ticket type priced.
    pub ticket_type: String,
    /// The price of one, in cents.
    pub cents: i64,
    /// Where they are (section or standing area) and how many are free there.
    pub places: Vec<(String, u32)>,
}

/// The prices of one category, where it is, and how much of it is free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    /// The category.
    pub category: String,
    /// (ticket type, cents) for every type sold in it (or the one asked).
    pub prices: Vec<(String, i64)>,
    /// Where it is: "Stalls rows A-L", "Circle", "Standing".
    pub areas: Vec<String>,
    /// Places of it (within the filter) free now.
    pub free: u32,
}

/// The wheelchair spaces of a performance (within a filter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// Wheelchair spaces in all.
    pub spaces: u32,
    /// The free ones.
    pub free: Vec<SeatNo>,
    /// Free companion seats.
    pub companions: Vec<SeatNo>,
}

impl Plan {
    /// Reads `show`: its seats and plan page by page, then its venue (a
    /// simple show has a generated one-row venue).
    pub async fn fetch(client: &Client, show: &v1::Show) -> Result<Self, Status> {
        Self::fetch_sharing(client, show, &mut Vec::new()).await
    }

    /// [`Plan::fetch`], reading each venue once for a run of performances:
    /// `venues` keeps the venues read so far, by id.
    pub async fn fetch_sharing(
        client: &Client,
        show: &v1::Show,
        venues: &mut Vec<(String, Venue)>,
    ) -> Result<Self, Status> {
        let (mut seats, mut layout, mut prices) = (Vec::new(), Vec::new(), None);
        let mut token = 0;
        loop {
            let page = client
                .get_show(&show.show_id, MAX_SEAT_PAGE, token, false)
                .await?;
            seats.extend(page.seats);
            layout.extend(page.layout);
            prices = prices.or(page.prices);
            if page.next_page_token == 0 {
                break;
            }
            token = page.next_page_token;
        }
        let venue = if show.venue_id.is_empty() {
            Venue::single_row(&show.title, show.seat_count)
        } else if let Some((_, venue)) = venues.iter().find(|(id, _)| *id == show.venue_id) {
            // Venues are never changed in place: one read serves the run.
            venue.clone()
        } else {
            let reply = client.get_venue(&show.venue_id, false).await?;
            let venue = boxoffice_proto::convert::venue_from(reply.venue.unwrap_or_default())?;
            venues.push((show.venue_id.clone(), venue.clone()));
            venue
        };
        Self::new(
            show.clone(),
            prices.unwrap_or_default(),
            &layout,
            &seats,
            venue,
        )
        .map_err(Status::internal)
    }

    /// A plan from what `GetShow` and `GetVenue` return.
    pub fn new(
        show: v1::Show,
        prices: v1::PriceTable,
        layout: &[v1::SeatLayout],
        seats: &[v1::Seat],
        venue: Venue,
    ) -> Result<Self, String> {
        let index = VenueIndex::new(venue).map_err(|e| e.to_string())?;
        let places = usize::try_from(index.place_count()).unwrap_or(0);
        let slot = |no: u32| {
            usize::try_from(no)
                .ok()?
                .checked_sub(1)
                .filter(|i| *i < places)
        };
        let mut category = vec![None; places];
        for place in layout {
            if let Some(i) = slot(place.seat_no) {
                category[i] = prices
                    .categories
                    .iter()
                    .position(|c| *c == place.category)
                    .and_then(|c| u8::try_from(c).ok());
            }
        }
        let mut free = vec![false; places];
        for seat in seats {
            if let Some(i) = slot(seat.seat_no) {
                free[i] = seat.state == SeatState::Available as i32;
            }
        }
        Ok(Self {
            show,
            prices,
            category,
            free,
            index,
        })
    }

    /// Every place number.
    fn places(&self) -> impl Iterator<Item = SeatNo> + '_ {
        (1..=self.index.place_count()).map(SeatNo)
    }

    fn slot(no: SeatNo) -> usize {
        usize::try_from(no.0)
            .unwrap_or(usize::MAX)
            .saturating_sub(1)
    }

    fn category_of(&self, no: SeatNo) -> Option<u8> {
        self.category.get(Self::slot(no)).copied().flatten()
    }

    fn is_free(&self, no: SeatNo) -> bool {
        self.free.get(Self::slot(no)).copied().unwrap_or(false)
    }

    fn attrs(&self, no: SeatNo) -> SeatAttrs {
        self.index
            .seat(no)
            .map(|(_, _, seat)| seat.attrs)
            .unwrap_or_default()
    }

    /// The section of a seat, or the standing area of a standing place.
    pub fn area_of(&self, no: SeatNo) -> Option<&str> {
        match self.index.place(no)? {
            Place::Seat { .. } => self.index.seat(no).map(|(s, _, _)| s.name.as_str()),
            Place::Standing { area } => self
                .index
                .venue()
                .areas
                .get(usize::from(area))
                .map(|a| a.name.as_str()),
        }
    }

    /// The names of the venue's sections, then its standing areas.
    pub fn area_names(&self) -> Vec<String> {
        let venue = self.index.venue();
        venue
            .sections
            .iter()
            .map(|s| s.name.clone())
            .chain(venue.areas.iter().map(|a| a.name.clone()))
            .collect()
    }

    /// A place's label ("Stalls K-12").
    pub fn label(&self, no: SeatNo) -> String {
        self.index.label(no).unwrap_or_else(|| no.0.to_string())
    }

    /// The labels of some places, in order.
    pub fn labels(&self, seats: &[SeatNo]) -> Vec<String> {
        seats.iter().map(|no| self.label(*no)).collect()
    }

    /// The ticket type priced: the filter's, or the performance's default.
    pub fn ticket_type(&self, filter: &Filter) -> String {
        filter
            .ticket_type
            .clone()
            .or_else(|| self.prices.ticket_types.first().cloned())
            .unwrap_or_default()
    }

    /// The price of `ticket_type` in category `category`, if it is sold there.
    pub fn price(&self, category: &str, ticket_type: &str) -> Option<i64> {
        self.prices
            .prices
            .iter()
            .find(|p| p.category == category && p.ticket_type == ticket_type)
            .map(|p| p.cents)
    }

    fn category_name(&self, c: u8) -> Option<&str> {
        self.prices
            .categories
            .get(usize::from(c))
            .map(String::as_str)
    }

    /// Whether place `no` is one the filter asks about (any ticket type).
    fn within(&self, filter: &Filter, no: SeatNo) -> bool {
        let area_ok = filter.sections.is_empty()
            || self
                .area_of(no)
                .is_some_and(|a| filter.sections.iter().any(|s| s == a));
        let category_ok = filter.category.as_ref().is_none_or(|wanted| {
            self.category_of(no)
                .and_then(|c| self.category_name(c))
                .is_some_and(|c| c == wanted)
        });
        area_ok && category_ok
    }

    /// The cheapest free places for the filter's ticket type: the category
    /// with the lowest price that has a free place within the filter.
    pub fn cheapest(&self, filter: &Filter) -> Option<Offer> {
        let ticket_type = self.ticket_type(filter);
        let mut best: Option<Offer> = None;
        for (c, category) in self.prices.categories.iter().enumerate() {
            let Some(cents) = self.price(category, &ticket_type) else {
                continue;
            };
            if best.as_ref().is_some_and(|b| b.cents <= cents) {
                continue;
            }
            let mut places: Vec<(String, u32)> = Vec::new();
            for no in self.places() {
                let in_category = self.category_of(no).map(usize::from) == Some(c);
                if !(in_category && self.is_free(no) && self.within(filter, no)) {
                    continue;
                }
                let area = self.area_of(no).unwrap_or_default();
                match places.iter_mut().find(|(a, _)| a == area) {
                    Some((_, n)) => *n += 1,
                    None => places.push((area.to_owned(), 1)),
                }
            }
            if !places.is_empty() {
                best = Some(Offer {
                    category: category.clone(),
                    ticket_type: ticket_type.clone(),
                    cents,
                    places,
                });
            }
        }
        best
    }

    /// The prices of every category with places within the filter (sold
    /// to the filter's ticket type if it names one), with where each is.
    pub fn quotes(&self, filter: &Filter) -> Vec<Quote> {
        let mut quotes = Vec::new();
        for (c, category) in self.prices.categories.iter().enumerate() {
            let prices: Vec<(String, i64)> = self
                .prices
                .ticket_types
                .iter()
                .filter(|t| {
                    filter
                        .ticket_type
                        .as_ref()
                        .is_none_or(|wanted| wanted == *t)
                })
                .filter_map(|t| Some((t.clone(), self.price(category, t)?)))
                .collect();
            let mine: Vec<SeatNo> = self
                .places()
                .filter(|no| self.category_of(*no).map(usize::from) == Some(c))
                .filter(|no| self.within(filter, *no))
                .collect();
            if prices.is_empty() || mine.is_empty() {
                continue;
            }
            quotes.push(Quote {
                category: category.clone(),
                prices,
                areas: self.describe_places(&mine),
                free: u32::try_from(mine.iter().filter(|no| self.is_free(**no)).count())
                    .unwrap_or(u32::MAX),
            });
        }
        quotes
    }

    /// Where some places are, as people say it: a whole section by name,
    /// part of one by its rows ("Stalls rows A-L"), a standing area by name.
    fn describe_places(&self, places: &[SeatNo]) -> Vec<String> {
        let venue = self.index.venue();
        let mut out = Vec::new();
        let mut first_place = 1u32;
        for section in &venue.sections {
            // Which of the section's rows hold any of the places.
            let mut rows: Vec<(bool, &str)> = Vec::new();
            for row in &section.rows {
                let len = u32::try_from(row.seats.len()).unwrap_or(u32::MAX);
                let range = first_place..first_place.saturating_add(len);
                rows.push((
                    places.iter().any(|no| range.contains(&no.0)),
                    row.label.as_str(),
                ));
                first_place = range.end;
            }
            if rows.iter().all(|(has, _)| *has) {
                out.push(section.name.clone());
                continue;
            }
            let mut runs: Vec<String> = Vec::new();
            let mut i = 0;
            while i < rows.len() {
                if !rows[i].0 {
                    i += 1;
                    continue;
                }
                let start = i;
                while i + 1 < rows.len() && rows[i + 1].0 {
                    i += 1;
                }
                runs.push(if start == i {
                    rows[i].1.to_owned()
                } else {
                    format!("{}-{}", rows[start].1, rows[i].1)
                });
                i += 1;
            }
            if !runs.is_empty() {
                let word = if runs.len() == 1 && !runs[0].contains('-') {
                    "row"
                } else {
                    "rows"
                };
                out.push(format!("{} {word} {}", section.name, runs.join(", ")));
            }
        }
        for area in &venue.areas {
            if places.iter().any(|no| {
                self.area_of(*no) == Some(area.name.as_str()) && self.index.seat(*no).is_none()
            }) {
                out.push(area.name.clone());
            }
        }
        out
    }

    /// The wheelchair spaces within the filter, and the free companion seats.
    pub fn access(&self, filter: &Filter) -> Access {
        let mut access = Access {
            spaces: 0,
            free: Vec::new(),
            companions: Vec::new(),
        };
        for no in self.places().filter(|no| self.within(filter, *no)) {
            let attrs = self.attrs(no);
            if attrs.contains(SeatAttrs::WHEELCHAIR) {
                access.spaces += 1;
                if self.is_free(no) {
                    access.free.push(no);
                }
            } else if attrs.contains(SeatAttrs::COMPANION) && self.is_free(no) {
                access.companions.push(no);
            }
        }
        access
    }

    /// The best `count` seats within the filter, by the state machine's
    /// best-available rules; with `wheelchair`, one of them a wheelchair
    /// space.
    pub fn best(&self, count: u32, filter: &Filter, wheelchair: bool) -> Pick {
        let category = filter.category.as_ref().and_then(|wanted| {
            let c = self.prices.categories.iter().position(|c| c == wanted)?;
            u8::try_from(c).ok()
        });
        best_available(
            &self.index,
            |no| self.category_of(no),
            |no| self.is_free(no) && self.within(filter, no),
            &BestQuery {
                count,
                category,
                wheelchair,
            },
        )
    }

    /// What `seats` cost as tickets of `ticket_type`, if it is sold for
    /// every one of them.
    pub fn cost(&self, seats: &[SeatNo], ticket_type: &str) -> Option<i64> {
        seats.iter().try_fold(0i64, |sum, no| {
            let category = self.category_name(self.category_of(*no)?)?;
            Some(sum.saturating_add(self.price(category, ticket_type)?))
        })
    }

    /// The category of a place, by name.
    pub fn category_name_of(&self, no: SeatNo) -> Option<&str> {
        self.category_name(self.category_of(no)?)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use boxoffice_core::Pricing;
    use boxoffice_view::pricing_file::parse_pricing;
    use boxoffice_view::venue_file::parse_venue;

    const THEATRE: &str = include_str!("../../../../examples/venues/theatre.toml");
    const PRICING: &str = include_str!("../../../../examples/venues/theatre-pricing.toml");

    /// A performance at the example theatre, priced by the example pricing
    /// file, with the places labelled in `taken` booked: what `GetShow`
    /// and `GetVenue` would return for it.
    pub(crate) fn theatre(taken: &[&str]) -> Plan {
        let venue = parse_venue(THEATRE).unwrap();
        let index = VenueIndex::new(venue.clone()).unwrap();
        let pricing = Pricing::resolve(&parse_pricing(PRICING).unwrap(), &index).unwrap();
        let prices = v1::PriceTable {
            categories: pricing.categories.clone(),
            ticket_types: pricing.types.clone(),
            prices: pricing
                .categories
                .iter()
                .enumerate()
                .flat_map(|(c, category)| {
                    let pricing = &pricing;
                    pricing
                        .types
                        .iter()
                        .enumerate()
                        .filter_map(move |(t, ticket_type)| {
                            Some(v1::Price {
                                category: category.clone(),
                                ticket_type: ticket_type.clone(),
                                cents: pricing.prices[c * pricing.types.len() + t]?,
                            })
                        })
                })
                .collect(),
        };
        let taken: Vec<SeatNo> = taken.iter().map(|l| index.find(l).unwrap()).collect();
        let places = 1..=index.place_count();
        let layout: Vec<v1::SeatLayout> = places
            .clone()
            .map(|no| v1::SeatLayout {
                seat_no: no,
                label: index.label(SeatNo(no)).unwrap(),
                category: pricing.categories[usize::from(pricing.category_of(SeatNo(no)).unwrap())]
                    .clone(),
                ..v1::SeatLayout::default()
            })
            .collect();
        let seats: Vec<v1::Seat> = places
            .map(|no| v1::Seat {
                seat_no: no,
                state: if taken.contains(&SeatNo(no)) {
                    SeatState::Booked
                } else {
                    SeatState::Available
                } as i32,
            })
            .collect();
        let show = v1::Show {
            show_id: "hamlet-1".into(),
            title: "Hamlet".into(),
            production_id: "hamlet".into(),
            venue_id: "royal-court".into(),
            ..v1::Show::default()
        };
        Plan::new(show, prices, &layout, &seats, venue).unwrap()
    }

    /// Every label of `section`'s rows `rows`, but `except`.
    fn labels_of(plan: &Plan, section: &str, rows: &str, except: &[&str]) -> Vec<String> {
        plan.places()
            .map(|no| plan.label(no))
            .filter(|l| {
                l.strip_prefix(section)
                    .and_then(|rest| rest.strip_prefix(' '))
                    .is_some_and(|seat| {
                        seat.split('-').next().is_some_and(|row| rows.contains(row))
                            && !except.contains(&l.as_str())
                    })
            })
            .collect()
    }

    fn filter(sections: &[&str], category: Option<&str>, ticket_type: Option<&str>) -> Filter {
        Filter {
            sections: sections.iter().map(|s| (*s).to_owned()).collect(),
            category: category.map(str::to_owned),
            ticket_type: ticket_type.map(str::to_owned),
        }
    }

    fn refs(labels: &[String]) -> Vec<&str> {
        labels.iter().map(String::as_str).collect()
    }

    #[test]
    fn the_cheapest_free_seats_follow_what_is_sold() {
        let plan = theatre(&[]);
        let offer = plan.cheapest(&Filter::default()).unwrap();
        assert_eq!(
            (
                offer.category.as_str(),
                offer.ticket_type.as_str(),
                offer.cents
            ),
            ("C", "adult", 2_500)
        );
        assert_eq!(
            offer.places,
            [
                ("Box A".into(), 6),
                ("Box B".into(), 4),
                ("Box C".into(), 6),
                ("Box D".into(), 4)
            ]
        );
        let concession = plan
            .cheapest(&filter(&[], None, Some("concession")))
            .unwrap();
        assert_eq!(concession.cents, 2_000);
        // In the stalls the cheapest are the back rows, category B.
        let stalls = plan.cheapest(&filter(&["Stalls"], None, None)).unwrap();
        assert_eq!((stalls.category.as_str(), stalls.cents), ("B", 3_500));
        assert_eq!(stalls.places, [("Stalls".into(), 26 + 5 * 28)]);

        // Once the boxes are sold, category B is the cheapest left.
        let boxes: Vec<String> = ["Box A", "Box B", "Box C", "Box D"]
            .iter()
            .flat_map(|b| labels_of(&plan, b, "A", &[]))
            .collect();
        assert_eq!(boxes.len(), 20);
        let sold_out = theatre(&refs(&boxes));
        let offer = sold_out.cheapest(&Filter::default()).unwrap();
        assert_eq!((offer.category.as_str(), offer.cents), ("B", 3_500));
        assert_eq!(offer.places[0], ("Stalls".into(), 26 + 5 * 28));
        assert_eq!(offer.places[1].0, "Circle");
        assert_eq!(sold_out.cheapest(&filter(&["Box A"], None, None)), None);
    }

    #[test]
    fn prices_of_a_section_and_a_ticket_type() {
        let plan = theatre(&["Stalls A-1", "Stalls R-28"]);
        let quotes = plan.quotes(&filter(&["Stalls"], None, Some("concession")));
        let stalls_a_to_l: u32 = [20, 20, 22, 22, 22, 24, 24, 24, 24, 26, 26].iter().sum();
        let quote = |category: &str, rows: &str, cents: i64, free: u32| Quote {
            category: category.to_owned(),
            prices: vec![("concession".to_owned(), cents)],
            areas: vec![format!("Stalls rows {rows}")],
            free,
        };
        assert_eq!(
            quotes,
            [
                quote("B", "M-R", 2_800, 26 + 5 * 28 - 1),
                quote("A", "A-L", 4_400, stalls_a_to_l - 1),
            ]
        );
        // Every type of one category, and where the category is.
        let b = plan.quotes(&filter(&[], Some("B"), None));
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].areas, ["Stalls rows M-R", "Circle"]);
        assert_eq!(
            b[0].prices,
            [
                ("adult".to_owned(), 3_500),
                ("concession".to_owned(), 2_800),
                ("child".to_owned(), 2_000),
                ("companion".to_owned(), 0)
            ]
        );
    }

    #[test]
    fn wheelchair_spaces_free_taken_or_absent() {
        let plan = theatre(&["Stalls R-1"]);
        let access = plan.access(&Filter::default());
        assert_eq!(access.spaces, 4);
        assert_eq!(
            plan.labels(&access.free),
            ["Stalls R-2", "Stalls R-27", "Stalls R-28"]
        );
        assert_eq!(access.companions.len(), 4);
        let full = theatre(&["Stalls R-1", "Stalls R-2", "Stalls R-27", "Stalls R-28"]);
        let access = full.access(&Filter::default());
        assert_eq!((access.spaces, access.free.len()), (4, 0));
        let circle = plan.access(&filter(&["Circle"], None, None));
        assert_eq!((circle.spaces, circle.free.len()), (0, 0));
    }

    #[test]
    fn best_seats_together_split_or_not_enough() {
        let plan = theatre(&[]);
        let Pick::Together(seats) = plan.best(2, &filter(&["Circle"], None, None), false) else {
            panic!("two free seats together in an empty circle");
        };
        let labels = plan.labels(&seats);
        assert!(
            labels.iter().all(|l| l.starts_with("Circle A-")),
            "{labels:?}"
        );
        assert_eq!(plan.cost(&seats, "adult"), Some(2 * 3_500));

        // Only left in the circle: never two together.
        let circle = labels_of(
            &plan,
            "Circle",
            "ABCDEF",
            &["Circle A-1", "Circle A-3", "Circle A-5"],
        );
        let sparse = theatre(&refs(&circle));
        let in_circle = filter(&["Circle"], None, None);
        let Pick::Split(seats) = sparse.best(2, &in_circle, false) else {
            panic!("no two together are free");
        };
        assert_eq!(seats.len(), 2);
        assert!(
            sparse
                .labels(&seats)
                .iter()
                .all(|l| ["Circle A-1", "Circle A-3", "Circle A-5"].contains(&l.as_str()))
        );
        assert_eq!(
            sparse.best(4, &in_circle, false),
            Pick::NotEnough { free: 3 }
        );
        // The stalls are untouched: two together there, in category A.
        let Pick::Together(seats) = sparse.best(2, &filter(&[], Some("A"), None), false) else {
            panic!("category A is free");
        };
        assert!(
            seats
                .iter()
                .all(|no| sparse.category_name_of(*no) == Some("A"))
        );
    }
}
