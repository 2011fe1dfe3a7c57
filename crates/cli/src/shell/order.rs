//! What the shell's buyer chooses for a performance: seats by label or
//! number, checked against the performance's plan at the prompt (each must
//! exist and be free), then a ticket type for each among those its
//! category has a price for, and the quote from the price table.
//!
//! The quote is for the buyer's eyes only: the cluster resolves the same
//! seats and computes every price itself from the replicated performance,
//! and what it charges is what the booking then shows.

use boxoffice_client::proto::{self as v1, SeatState};

use crate::commands::ShowPlan;
use crate::orders::{PlaceArg, parse_places};

/// A seat the buyer chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    /// Its place number.
    pub seat_no: u32,
    /// Its full label ("Stalls K-12").
    pub label: String,
    /// Its price category.
    pub category: String,
}

/// The seats `input` names ("K-12, K-13", "Stalls A-1", "12-15"), in the
/// order typed, each one that exists in `plan` and is free; otherwise why
/// not, in words for the prompt. A short label ("K-12") must name one
/// seat only. Standing places are not seats.
pub fn pick_seats(input: &str, plan: &ShowPlan) -> Result<Vec<Chosen>, String> {
    let places = parse_places(&[input.to_owned()])?;
    if places.is_empty() {
        return Err("name at least one seat, e.g. K-12,K-13".to_owned());
    }
    let seats = plan.layout.iter().filter(|s| s.area.is_empty());
    let mut chosen = Vec::with_capacity(places.len());
    for place in &places {
        let matching: Vec<&v1::SeatLayout> = match place {
            PlaceArg::No(no) => seats.clone().filter(|s| s.seat_no == *no).collect(),
            PlaceArg::Label(label) => {
                let suffix = format!(" {label}");
                seats
                    .clone()
                    .filter(|s| s.label.eq_ignore_ascii_case(label) || s.label.ends_with(&suffix))
                    .collect()
            }
        };
        let seat = match (matching.as_slice(), place) {
            ([one], _) => *one,
            ([], PlaceArg::No(no)) => return Err(format!("there is no seat {no} here")),
            ([], PlaceArg::Label(label)) => return Err(format!("there is no seat {label} here")),
            ([first, ..], PlaceArg::Label(label)) => {
                return Err(format!(
                    "{label} is in several sections: say which, e.g. \"{}\"",
                    first.label
                ));
            }
            (_, PlaceArg::No(no)) => return Err(format!("seat {no} is listed twice")),
        };
        if chosen.iter().any(|c: &Chosen| c.seat_no == seat.seat_no) {
            return Err(format!("{} is named twice", seat.label));
        }
        let state = plan
            .seats
            .iter()
            .find(|s| s.seat_no == seat.seat_no)
            .map(|s| s.state);
        if state != Some(SeatState::Available as i32) {
            return Err(format!(
                "{} is not free: pick free (green) seats",
                seat.label
            ));
        }
        chosen.push(Chosen {
            seat_no: seat.seat_no,
            label: seat.label.clone(),
            category: seat.category.clone(),
        });
    }
    Ok(chosen)
}

/// The price of a ticket of `ticket_type` in `category`, if it is sold.
pub fn price_of(prices: &v1::PriceTable, category: &str, ticket_type: &str) -> Option<i64> {
    prices
        .prices
        .iter()
        .find(|p| p.category == category && p.ticket_type == ticket_type)
        .map(|p| p.cents)
}

/// The ticket types sold for `category`, in the table's order (the
/// default first), with their prices.
pub fn types_for(prices: &v1::PriceTable, category: &str) -> Vec<(String, i64)> {
    prices
        .ticket_types
        .iter()
        .filter_map(|t| price_of(prices, category, t).map(|cents| (t.clone(), cents)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> ShowPlan {
        let seat = |no: u32, label: &str, category: &str, area: &str| v1::SeatLayout {
            seat_no: no,
            label: label.into(),
            category: category.into(),
            area: area.into(),
            ..v1::SeatLayout::default()
        };
        let state = |no: u32, state: SeatState| v1::Seat {
            seat_no: no,
            state: state as i32,
        };
        ShowPlan {
            show: v1::Show::default(),
            seats: vec![
                state(1, SeatState::Available),
                state(2, SeatState::Available),
                state(3, SeatState::Booked),
                state(4, SeatState::Available),
                state(5, SeatState::Available),
            ],
            layout: vec![
                seat(1, "Stalls A-1", "A", ""),
                seat(2, "Stalls A-2", "A", ""),
                seat(3, "Stalls A-3", "A", ""),
                seat(4, "Circle A-1", "B", ""),
                seat(5, "Standing (place 5)", "C", "Standing"),
            ],
            prices: v1::PriceTable {
                categories: vec!["A".into(), "B".into(), "C".into()],
                ticket_types: vec!["adult".into(), "concession".into()],
                prices: vec![
                    v1::Price {
                        category: "A".into(),
                        ticket_type: "adult".into(),
                        cents: 3_000,
                    },
                    v1::Price {
                        category: "A".into(),
                        ticket_type: "concession".into(),
                        cents: 2_000,
                    },
                    v1::Price {
                        category: "B".into(),
                        ticket_type: "adult".into(),
                        cents: 1_500,
                    },
                ],
            },
        }
    }

    #[test]
    fn seats_are_named_by_label_or_number_in_the_order_typed() {
        let plan = plan();
        let chosen = pick_seats("Stalls A-2, circle a-1, 1", &plan).unwrap();
        let labels: Vec<&str> = chosen.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["Stalls A-2", "Circle A-1", "Stalls A-1"]);
        assert_eq!(chosen[1].category, "B");
        assert_eq!(pick_seats("A-2", &plan).unwrap()[0].seat_no, 2);
    }

    #[test]
    fn a_seat_that_is_missing_taken_ambiguous_standing_or_repeated_is_refused() {
        let plan = plan();
        for (input, why) in [
            ("", "at least one seat"),
            ("Stalls Z-9", "no seat Stalls Z-9"),
            ("9", "no seat 9"),
            ("Stalls A-3", "not free"),
            ("A-1", "several sections"),
            ("5", "no seat 5"),
            ("Standing (place 5)", "no seat"),
            ("Stalls A-1, 1", "named twice"),
            ("A-2,A-2", "twice"),
        ] {
            let error = pick_seats(input, &plan).expect_err(input);
            assert!(error.contains(why), "{input:?}: {error}");
        }
    }

    #[test]
    fn types_are_offered_only_where_their_category_has_a_price() {
        let plan = plan();
        assert_eq!(
            types_for(&plan.prices, "A"),
            [
                ("adult".to_owned(), 3_000),
                ("concession".to_owned(), 2_000)
            ]
        );
        assert_eq!(types_for(&plan.prices, "B"), [("adult".to_owned(), 1_500)]);
        assert!(types_for(&plan.prices, "C").is_empty());
        assert_eq!(price_of(&plan.prices, "B", "concession"), None);
    }
}
