//! `boxoffice book`, `hold` and `return`: orders of several tickets, by
//! seat number (`12-15,20`), by label (`"K-12,K-13"`), as standing places
//! or as the best seats together, each with a ticket type; and returning
//! some or all of them.
//!
//! Places are read here only as far as telling numbers from labels; the
//! cluster resolves labels against the venue and refuses an unknown one
//! (or an unknown type) before anything is held, so a mistake changes
//! nothing.

use anyhow::Context as _;
use boxoffice_client::Client;
use boxoffice_client::proto as v1;
use serde::Serialize;
use tonic::Status;

use crate::args::{CardArgs, Global, PickArgs};
use crate::commands::{nodes, print_bookings};
use crate::output::{BookingJson, Output, api, money, payment_name};
use crate::seats;

/// One place as typed on the command line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PlaceArg {
    /// A seat number.
    No(u32),
    /// A label, "K-12" or "Stalls K-12".
    Label(String),
}

/// Reads places as typed: each argument is split at commas; a piece with
/// a letter in it is a label ("K-12", "Stalls K-12"), any other is seat
/// numbers (`12-15`, `3 4`). The order given is kept, so that `--types`
/// can pair with it.
pub fn parse_places(args: &[String]) -> Result<Vec<PlaceArg>, String> {
    let mut places = Vec::new();
    for piece in args.iter().flat_map(|a| a.split(',')) {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        if piece.chars().any(char::is_alphabetic) {
            places.push(PlaceArg::Label(piece.to_owned()));
        } else {
            places.extend(seats::parse(piece, None)?.into_iter().map(PlaceArg::No));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = places.iter().find(|p| !seen.insert(*p)) {
        return Err(format!("{} is given twice", place_name(twice)));
    }
    Ok(places)
}

fn place_name(place: &PlaceArg) -> String {
    match place {
        PlaceArg::No(no) => format!("seat {no}"),
        PlaceArg::Label(label) => label.clone(),
    }
}

/// What a `BookSeats` request carries for `places`: the seat numbers, the
/// labels, and a ticket type for each (numbers first, then labels, as the
/// API pairs them), from `--type` or `--types`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pick {
    /// Seats by number.
    pub seat_nos: Vec<u32>,
    /// Seats by label.
    pub labels: Vec<String>,
    /// One type per seat (numbers, then labels), or none for the default.
    pub types: Vec<String>,
}

impl Pick {
    /// The request parts for `places` and the options of `pick`; an error
    /// when `--types` does not name one type per seat.
    pub fn new(places: &[PlaceArg], pick: &PickArgs) -> Result<Self, String> {
        if !pick.types.is_empty() && pick.types.len() != places.len() {
            return Err(format!(
                "--types names {} type(s) for {} seat(s): give one per seat, or one --type for all",
                pick.types.len(),
                places.len()
            ));
        }
        let type_of = |i: usize| -> Option<String> {
            pick.types
                .get(i)
                .cloned()
                .or_else(|| pick.ticket_type.clone())
        };
        let mut out = Self::default();
        let (mut number_types, mut label_types) = (Vec::new(), Vec::new());
        for (i, place) in places.iter().enumerate() {
            match place {
                PlaceArg::No(no) => {
                    out.seat_nos.push(*no);
                    number_types.extend(type_of(i));
                }
                PlaceArg::Label(label) => {
                    out.labels.push(label.clone());
                    label_types.extend(type_of(i));
                }
            }
        }
        out.types = number_types;
        out.types.extend(label_types);
        Ok(out)
    }
}

/// A booking with its tickets, as `book`, `hold` and `return` print it
/// in JSON.
#[derive(Serialize)]
pub struct OrderJson {
    /// The booking's fields.
    #[serde(flatten)]
    pub booking: BookingJson,
    /// Its tickets.
    pub tickets: Vec<TicketJson>,
}

/// One ticket in JSON.
#[derive(Serialize)]
pub struct TicketJson {
    /// Its place number.
    pub seat_no: u32,
    /// Its place as people say it.
    pub label: String,
    /// Its ticket type.
    pub ticket_type: String,
    /// Its price in cents.
    pub price_cents: i64,
}

impl From<&v1::Booking> for OrderJson {
    fn from(b: &v1::Booking) -> Self {
        Self {
            booking: BookingJson::from(b),
            tickets: b
                .tickets
                .iter()
                .map(|t| TicketJson {
                    seat_no: t.seat_no,
                    label: t.label.clone(),
                    ticket_type: t.ticket_type.clone(),
                    price_cents: t.price_cents,
                })
                .collect(),
        }
    }
}

/// The table rows of a booking's tickets: place, type, price.
pub fn ticket_rows(booking: &v1::Booking) -> Vec<Vec<String>> {
    booking
        .tickets
        .iter()
        .map(|t| vec![t.label.clone(), t.ticket_type.clone(), money(t.price_cents)])
        .collect()
}

/// Prints an order: the booking, then each ticket.
pub fn print_order(out: &Output, booking: &v1::Booking) -> anyhow::Result<()> {
    if out.json {
        return out.json(&OrderJson::from(booking));
    }
    print_bookings(out, std::slice::from_ref(booking), true)?;
    if !booking.tickets.is_empty() {
        out.table(&["ticket", "type", "price"], ticket_rows(booking));
    }
    Ok(())
}

/// The standing area to book in: the one named, else the venue's only one.
async fn standing_area(client: &Client, show: &str, named: Option<&str>) -> anyhow::Result<String> {
    if let Some(area) = named {
        return Ok(area.to_owned());
    }
    let shown = client.get_show(show, 1, 0, false).await.map_err(api)?;
    let venue_id = shown.show.unwrap_or_default().venue_id;
    if venue_id.is_empty() {
        return Err(api(Status::invalid_argument(format!(
            "{show} has no standing places"
        ))));
    }
    let venue = client
        .get_venue(&venue_id, true)
        .await
        .map_err(api)?
        .venue
        .unwrap_or_default();
    match venue.areas.as_slice() {
        [] => Err(api(Status::invalid_argument(format!(
            "{show} has no standing places"
        )))),
        [only] => Ok(only.name.clone()),
        several => {
            let names: Vec<&str> = several.iter().map(|a| a.name.as_str()).collect();
            Err(api(Status::invalid_argument(format!(
                "{show} has several standing areas: name one with --area ({})",
                names.join(", ")
            ))))
        }
    }
}

/// `boxoffice book` (with a card) and `boxoffice hold` (`card` is `None`).
pub async fn book(
    global: &Global,
    show: &str,
    seat_args: &[String],
    pick: &PickArgs,
    card: Option<&CardArgs>,
) -> anyhow::Result<()> {
    // Everything that can be checked here is, before any call.
    let invalid = |why: String| api(Status::invalid_argument(why));
    let places = parse_places(seat_args).map_err(invalid)?;
    let parts = Pick::new(&places, pick).map_err(invalid)?;
    if places.is_empty() && pick.best.is_none() && pick.standing.is_none() {
        return Err(invalid(
            "name seats, or ask for --best N or --standing N".to_owned(),
        ));
    }
    let (_, client) = nodes(global).await?;
    let one_type = pick.ticket_type.as_deref().unwrap_or("");
    let area = match pick.standing {
        Some(_) => Some(standing_area(&client, show, pick.area.as_deref()).await?),
        None => None,
    };
    let request_id = boxoffice_client::new_request_id();
    let mut request = client
        .book(show, &parts.seat_nos)
        .request_id(&request_id)
        .labels(parts.labels)
        .types(parts.types);
    if let (Some(count), Some(area)) = (pick.standing, &area) {
        request = request.standing(area, count, one_type);
    }
    if let Some(count) = pick.best {
        let category = pick.category.as_deref().unwrap_or("");
        request = request.best(count, category, one_type, pick.wheelchair);
    }
    let booking = match card {
        Some(card) => request
            .card(card.card().as_ref())
            .await
            .map_err(api)
            .context("booking failed")?,
        None => request
            .hold()
            .await
            .map_err(api)
            .context("holding failed")?,
    };
    print_order(&Output::new(global.json), &booking)
}

/// The seat numbers of `booking`'s tickets that `places` name: a number
/// it holds, a full label, or a short one ("K-12" for "Stalls K-12") that
/// names one of its tickets only.
pub fn tickets_named(booking: &v1::Booking, places: &[PlaceArg]) -> Result<Vec<u32>, String> {
    let all = || {
        let labels: Vec<&str> = booking.tickets.iter().map(|t| t.label.as_str()).collect();
        labels.join(", ")
    };
    let mut nos = Vec::with_capacity(places.len());
    for place in places {
        let no = match place {
            PlaceArg::No(no) if booking.seat_nos.contains(no) => *no,
            PlaceArg::Label(label) => {
                let suffix = format!(" {label}");
                let matching: Vec<&v1::Ticket> = booking
                    .tickets
                    .iter()
                    .filter(|t| t.label == *label || t.label.ends_with(&suffix))
                    .collect();
                match matching.as_slice() {
                    [one] => one.seat_no,
                    [] => {
                        return Err(format!(
                            "{label} is not a ticket of booking {} (its tickets: {})",
                            booking.booking_id,
                            all()
                        ));
                    }
                    _ => {
                        return Err(format!(
                            "{label} names several tickets of booking {}: give the full label ({})",
                            booking.booking_id,
                            all()
                        ));
                    }
                }
            }
            PlaceArg::No(no) => {
                return Err(format!(
                    "seat {no} is not a ticket of booking {} (its tickets: {})",
                    booking.booking_id,
                    all()
                ));
            }
        };
        nos.push(no);
    }
    Ok(nos)
}

/// The refund a cancelled booking carries: its total when it had been
/// paid for, else nothing.
fn refund_of(returned: &v1::Booking) -> i64 {
    match payment_name(returned.payment_status) {
        "refund_pending" | "refunded" => returned.total_cents,
        _ => 0,
    }
}

/// What `boxoffice return` prints in JSON.
#[derive(Serialize)]
struct ReturnJson {
    /// The booking with the tickets it keeps; `None` when all went back.
    kept: Option<OrderJson>,
    /// The returned tickets, as a cancelled booking.
    returned: OrderJson,
    /// What is paid back, in cents.
    refund_cents: i64,
}

/// `boxoffice return`: some tickets of a booking, or all of them.
pub async fn return_tickets(
    global: &Global,
    booking_id: &str,
    args: &[String],
) -> anyhow::Result<()> {
    let places = parse_places(args).map_err(|why| api(Status::invalid_argument(why)))?;
    let (_, client) = nodes(global).await?;
    let booking = client
        .list_bookings(false)
        .await
        .map_err(api)?
        .into_iter()
        .find(|b| b.booking_id == booking_id)
        .ok_or_else(|| {
            api(Status::not_found(format!(
                "you have no booking {booking_id}"
            )))
        })?;
    let nos = tickets_named(&booking, &places).map_err(|why| api(Status::invalid_argument(why)))?;
    let every = nos.is_empty() || booking.seat_nos.iter().all(|no| nos.contains(no));
    // Returning every ticket is cancelling the booking (ReturnTickets
    // keeps at least one).
    let (kept, returned) = if every {
        let cancelled = client
            .cancel(booking_id)
            .await
            .map_err(api)
            .context("returning the tickets")?;
        (None, cancelled)
    } else {
        let reply = client
            .return_tickets(booking_id, &nos)
            .await
            .map_err(api)
            .context("returning the tickets")?;
        (reply.kept, reply.returned.unwrap_or_default())
    };
    let refund = refund_of(&returned);
    let out = Output::new(global.json);
    if out.json {
        return out.json(&ReturnJson {
            kept: kept.as_ref().map(OrderJson::from),
            returned: OrderJson::from(&returned),
            refund_cents: refund,
        });
    }
    println!(
        "returned {} ticket(s) of booking {booking_id}; refund {} ({})",
        returned.tickets.len().max(returned.seat_nos.len()),
        money(refund),
        payment_name(returned.payment_status).replace('_', " ")
    );
    out.table(&["ticket", "type", "price"], ticket_rows(&returned));
    if let Some(kept) = kept {
        println!("kept:");
        print_order(&out, &kept)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn numbers_and_labels_are_told_apart_in_order() {
        let places = parse_places(&args(&["K-12,K-13", "3-4", "Stalls A-1"])).unwrap();
        assert_eq!(
            places,
            vec![
                PlaceArg::Label("K-12".into()),
                PlaceArg::Label("K-13".into()),
                PlaceArg::No(3),
                PlaceArg::No(4),
                PlaceArg::Label("Stalls A-1".into()),
            ]
        );
        assert!(
            parse_places(&args(&["K-12,K-12"]))
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse_places(&args(&["0"])).is_err());
    }

    #[test]
    fn types_pair_with_numbers_first_then_labels() {
        let places = parse_places(&args(&["K-12", "7"])).unwrap();
        let pick = PickArgs {
            types: args(&["concession", "adult"]),
            ..PickArgs::default()
        };
        let parts = Pick::new(&places, &pick).unwrap();
        assert_eq!(parts.seat_nos, vec![7]);
        assert_eq!(parts.labels, vec!["K-12".to_owned()]);
        assert_eq!(parts.types, args(&["adult", "concession"]));

        let one = PickArgs {
            ticket_type: Some("child".into()),
            ..PickArgs::default()
        };
        assert_eq!(
            Pick::new(&places, &one).unwrap().types,
            args(&["child", "child"])
        );
        let short = PickArgs {
            types: args(&["adult"]),
            ..PickArgs::default()
        };
        assert!(
            Pick::new(&places, &short)
                .unwrap_err()
                .contains("1 type(s) for 2 seat(s)")
        );
    }

    #[test]
    fn returned_tickets_are_named_by_short_or_full_label() {
        let ticket = |no, label: &str| v1::Ticket {
            seat_no: no,
            label: label.into(),
            ticket_type: "adult".into(),
            price_cents: 100,
        };
        let booking = v1::Booking {
            booking_id: "7".into(),
            seat_nos: vec![11, 12, 40],
            tickets: vec![
                ticket(11, "Stalls K-12"),
                ticket(12, "Stalls K-13"),
                ticket(40, "Circle K-12"),
            ],
            ..Default::default()
        };
        let named = |items: &[&str]| tickets_named(&booking, &parse_places(&args(items)).unwrap());
        assert_eq!(named(&["K-13"]), Ok(vec![12]));
        assert_eq!(named(&["Circle K-12", "11"]), Ok(vec![40, 11]));
        assert!(named(&["K-12"]).unwrap_err().contains("several"));
        assert!(named(&["K-99"]).unwrap_err().contains("not a ticket"));
        assert!(named(&["5"]).unwrap_err().contains("seat 5"));
    }
}
