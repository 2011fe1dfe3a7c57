//! Venues, productions and performances over gRPC, on one node with a real
//! payment service: a venue imported, a production with two performances
//! in two price categories with adult and concession prices, seats held by
//! label with ticket types and paid, a ticket returned and refunded, the
//! performance cancelled and its orders refunded; then the bad inputs.

mod common;

use std::time::Duration;

use boxoffice_client::audit::reconcile;
use boxoffice_client::proto::{self as v1, BookingStatus, PaymentStatus};
use boxoffice_core::{Row, SeatAttrs, Section, Stage, Venue, VenueSeat};
use boxoffice_proto::convert;
use common::{GOOD_CARD, Node, card, eventually, expect_code};
use tonic::Code;

/// How long the tests wait for the coordinator.
const SETTLE: Duration = Duration::from_secs(20);
const PREMIUM_ADULT: i64 = 5_000;
const STANDARD_ADULT: i64 = 3_000;
const STANDARD_CONCESSION: i64 = 2_000;

/// One section, "Stalls", of rows A and B of four seats each; A-1 is a
/// wheelchair space.
fn hall() -> Venue {
    let row = |label: &str, y: i32| Row {
        label: label.into(),
        seats: (1..=4)
            .map(|n| VenueSeat {
                label: n.to_string(),
                x: n * 2,
                y,
                attrs: if label == "A" && n == 1 {
                    SeatAttrs::WHEELCHAIR
                } else {
                    SeatAttrs::default()
                },
            })
            .collect(),
    };
    Venue {
        name: "Little Hall".into(),
        stage: Stage {
            x: 0,
            y: 0,
            width: 10,
            height: 4,
        },
        sections: vec![Section {
            name: "Stalls".into(),
            rows: vec![row("A", 10), row("B", 12)],
        }],
        areas: Vec::new(),
    }
}

/// Row A is Premium (adults only), the rest Standard (adult, concession).
fn pricing() -> v1::PricingSpec {
    let price = |category: &str, ticket_type: &str, cents| v1::Price {
        category: category.into(),
        ticket_type: ticket_type.into(),
        cents,
    };
    let rule = |rule| v1::PlaceRule { rule: Some(rule) };
    use v1::place_rule::Rule;
    v1::PricingSpec {
        categories: vec![
            v1::PriceCategory {
                name: "Standard".into(),
                rules: vec![rule(Rule::All(true))],
            },
            v1::PriceCategory {
                name: "Premium".into(),
                rules: vec![rule(Rule::Rows(v1::RowRange {
                    section: "Stalls".into(),
                    from: "A".into(),
                    to: "A".into(),
                }))],
            },
        ],
        ticket_types: vec!["adult".into(), "concession".into()],
        prices: vec![
            price("Premium", "adult", PREMIUM_ADULT),
            price("Standard", "adult", STANDARD_ADULT),
            price("Standard", "concession", STANDARD_CONCESSION),
        ],
    }
}

fn performances(venue: &str, shows: &[&str]) -> v1::AddPerformancesRequest {
    let starts_at_ms = boxoffice_config::clock::now_ms() + 86_400_000;
    v1::AddPerformancesRequest {
        production_id: "play".into(),
        venue_id: venue.into(),
        performances: shows
            .iter()
            .enumerate()
            .map(|(i, show)| v1::NewPerformance {
                show_id: (*show).into(),
                starts_at_ms: starts_at_ms + i as i64 * 86_400_000,
            })
            .collect(),
        pricing: Some(pricing()),
        ..Default::default()
    }
}

/// A node with the hall, the production "play" and performances p1, p2.
async fn box_office() -> Node {
    let node = Node::with_payments(|_| {}).await;
    let admin = node.admin().await;
    let venue = admin
        .create_venue("hall", convert::venue(&hall()))
        .await
        .unwrap();
    assert_eq!((venue.seats, venue.sections), (8, 1));
    admin
        .create_production("play", "The Play", "Two acts.", 120)
        .await
        .unwrap();
    let added = admin
        .add_performances(performances("hall", &["p1", "p2"]))
        .await
        .unwrap();
    assert_eq!(added.len(), 2);
    node
}

fn status(b: &v1::Booking) -> BookingStatus {
    BookingStatus::try_from(b.status).unwrap()
}

fn payment(b: &v1::Booking) -> PaymentStatus {
    PaymentStatus::try_from(b.payment_status).unwrap()
}

#[tokio::test]
async fn a_run_is_sold_by_label_and_type_returned_and_cancelled_with_refunds() {
    let node = box_office().await;
    let admin = node.admin().await;

    // The venue reads back as imported; the production lists its run.
    let stored = admin.get_venue("hall", false).await.unwrap();
    assert_eq!(stored.venue.unwrap(), convert::venue(&hall()));
    assert_eq!(admin.list_venues(false).await.unwrap().len(), 1);
    let listed = node.anonymous().list_productions(false).await.unwrap();
    assert_eq!(listed.len(), 1);
    let run = &listed[0].performances;
    assert_eq!(run.len(), 2);
    assert_eq!(run[0].venue_id, "hall");
    assert_eq!(run[0].production_id, "play");
    assert_eq!(run[0].state, "on sale");

    // The plan and the price table, for drawing the hall.
    let show = node.anonymous().get_show("p1", 0, 1, false).await.unwrap();
    let prices = show.prices.unwrap();
    assert_eq!(prices.categories, ["Standard", "Premium"]);
    assert_eq!(prices.prices.len(), 3);
    assert_eq!(show.layout[0].label, "Stalls A-1");
    assert_eq!(show.layout[0].category, "Premium");
    assert_eq!(show.layout[0].attributes, ["wheelchair"]);
    assert_eq!(show.layout[4].category, "Standard");

    // Two seats by label, adult and concession, held then paid.
    let ann = node.buyer("ann").await;
    let held = ann
        .book("p1", &[])
        .labels(["A-2", "Stalls B-3"])
        .types(["adult", "concession"])
        .hold()
        .await
        .unwrap();
    assert_eq!(status(&held), BookingStatus::Held);
    let paid = ann.pay(&held.booking_id, &card(GOOD_CARD)).await.unwrap();
    assert_eq!(status(&paid), BookingStatus::Confirmed);
    assert_eq!(payment(&paid), PaymentStatus::Charged);
    let tickets: Vec<(&str, &str, i64)> = paid
        .tickets
        .iter()
        .map(|t| (t.label.as_str(), t.ticket_type.as_str(), t.price_cents))
        .collect();
    assert_eq!(
        tickets,
        [
            ("Stalls A-2", "adult", PREMIUM_ADULT),
            ("Stalls B-3", "concession", STANDARD_CONCESSION)
        ],
        "prices from the state machine's table"
    );
    assert_eq!(paid.total_cents, PREMIUM_ADULT + STANDARD_CONCESSION);

    // One ticket returned: refunded at once, at its own price.
    let b3 = paid.tickets[1].seat_no;
    let returned = ann.return_tickets(&paid.booking_id, &[b3]).await.unwrap();
    let (kept, gone) = (returned.kept.unwrap(), returned.returned.unwrap());
    assert_eq!(kept.total_cents, PREMIUM_ADULT);
    assert_eq!(status(&gone), BookingStatus::Cancelled);
    assert_eq!(gone.total_cents, STANDARD_CONCESSION);
    assert_eq!(gone.tickets[0].label, "Stalls B-3");
    assert_eq!(gone.tickets[0].price_cents, STANDARD_CONCESSION);
    assert_eq!(payment(&gone), PaymentStatus::Refunded);

    let report = admin.sales_report("p1").await.unwrap();
    assert_eq!((report.sold, report.revenue_cents), (1, PREMIUM_ADULT));
    assert_eq!(
        (report.refunded, report.refunded_cents),
        (1, STANDARD_CONCESSION)
    );

    // The performance cancelled: the order is cancelled and refunded.
    let cancelled = admin.cancel_performance("p1").await.unwrap();
    assert_eq!(cancelled.show.unwrap().state, "cancelled");
    assert!(
        cancelled
            .bookings
            .iter()
            .any(|b| b.booking_id == kept.booking_id && status(b) == BookingStatus::Cancelled),
        "{:?}",
        cancelled.bookings
    );
    eventually(SETTLE, || async {
        let bookings = ann.list_bookings(false).await.unwrap();
        let order = bookings
            .iter()
            .find(|b| b.booking_id == kept.booking_id)
            .ok_or("the order is gone")?;
        if payment(order) != PaymentStatus::Refunded {
            return Err(format!("not refunded yet: {order:?}"));
        }
        let ledger = node.payment().ledger(std::slice::from_ref(&ann.id)).await;
        reconcile(&bookings, &ledger).map_err(|m| m.to_string())
    })
    .await;

    // A hold on the cancelled performance is refused, saying why.
    expect_code(
        ann.hold("p1", &[5]).await,
        Code::FailedPrecondition,
        "cancelled",
    );
    node.stop().await;
}

#[tokio::test]
async fn bad_labels_types_venues_and_unsold_types_are_refused_naming_them() {
    let node = box_office().await;
    let ann = node.buyer("ann").await;
    expect_code(
        ann.book("p2", &[]).labels(["Z-9"]).hold().await,
        Code::InvalidArgument,
        "Z-9",
    );
    expect_code(
        ann.book("p2", &[])
            .labels(["B-1"])
            .types(["pensioner"])
            .hold()
            .await,
        Code::InvalidArgument,
        "pensioner",
    );
    expect_code(
        ann.book("p2", &[])
            .labels(["A-3"])
            .types(["concession"])
            .hold()
            .await,
        Code::InvalidArgument,
        "not sold in category Premium",
    );
    let admin = node.admin().await;
    expect_code(
        admin
            .add_performances(performances("nowhere", &["p3"]))
            .await,
        Code::NotFound,
        "nowhere",
    );
    expect_code(
        admin.get_venue("nowhere", false).await,
        Code::NotFound,
        "nowhere",
    );
    // Nothing was held by any of them.
    assert!(ann.list_bookings(false).await.unwrap().is_empty());

    // A seat taken is named as the buyer named it: by its label.
    let bob = node.buyer("bob").await;
    bob.book("p2", &[]).labels(["B-1"]).hold().await.unwrap();
    expect_code(
        ann.book("p2", &[]).labels(["A-1", "B-1"]).hold().await,
        Code::FailedPrecondition,
        "(Stalls B-1)",
    );
    node.stop().await;
}

#[tokio::test]
async fn returning_every_ticket_cancels_the_booking_and_refunds_it_whole() {
    let node = box_office().await;
    let ann = node.buyer("ann").await;
    let held = ann
        .book("p2", &[])
        .labels(["B-1", "B-2"])
        .types(["adult", "concession"])
        .hold()
        .await
        .unwrap();
    let paid = ann.pay(&held.booking_id, &card(GOOD_CARD)).await.unwrap();
    let seats: Vec<u32> = paid.tickets.iter().map(|t| t.seat_no).collect();
    let returned = ann.return_tickets(&paid.booking_id, &seats).await.unwrap();
    assert!(returned.kept.is_none(), "nothing kept: {returned:?}");
    let whole = returned.returned.unwrap();
    assert_eq!(whole.booking_id, paid.booking_id, "the booking itself");
    assert_eq!(status(&whole), BookingStatus::Cancelled);
    assert_eq!(payment(&whole), PaymentStatus::Refunded);
    assert_eq!(whole.total_cents, STANDARD_ADULT + STANDARD_CONCESSION);
    let ledger = node.payment().ledger(std::slice::from_ref(&ann.id)).await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].refunded_cents, ledger[0].amount_cents);
    node.stop().await;
}

/// The old contract's show (CreateShow, which the legacy AddShow makes) is
/// a production of its own with one performance, at a venue generated on
/// read: one section, one row, seats labelled 1..N, one category at the
/// show's price. Its id is taken for productions too.
#[tokio::test]
async fn a_simple_show_is_a_production_of_one_performance_at_a_generated_venue() {
    let node = box_office().await;
    let admin = node.admin().await;
    admin
        .create_show("classic", "The Classic", 3, 1_500, i64::MAX / 2)
        .await
        .unwrap();

    let listed = node.anonymous().list_productions(false).await.unwrap();
    let ids: Vec<&str> = listed
        .iter()
        .map(|l| l.production.as_ref().unwrap().production_id.as_str())
        .collect();
    assert_eq!(ids, ["classic", "play"]);
    let classic = &listed[0];
    assert_eq!(classic.production.as_ref().unwrap().title, "The Classic");
    assert_eq!(classic.performances.len(), 1);
    let show = &classic.performances[0];
    assert_eq!(
        (show.show_id.as_str(), show.production_id.as_str()),
        ("classic", "classic")
    );
    assert_eq!(show.venue_id, "", "no venue is stored for it");

    let page = node
        .anonymous()
        .get_show("classic", 0, 1, false)
        .await
        .unwrap();
    let labels: Vec<&str> = page.layout.iter().map(|s| s.label.as_str()).collect();
    // Section "Seats", row "1", seats 1 to 3.
    assert_eq!(labels, ["Seats 1-1", "Seats 1-2", "Seats 1-3"]);
    let prices = page.prices.unwrap();
    assert_eq!(prices.categories, ["Standard"]);
    assert_eq!(prices.prices.len(), 1);
    assert_eq!(prices.prices[0].cents, 1_500);

    admin
        .book("classic", &[1, 2])
        .card(&card(GOOD_CARD))
        .await
        .unwrap();
    let reports = admin.production_sales("classic").await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].show_id, "classic");

    expect_code(
        admin.create_production("classic", "Another", "", 0).await,
        Code::AlreadyExists,
        "production classic",
    );
    expect_code(
        admin
            .create_show("play", "The Play again", 3, 1_500, i64::MAX / 2)
            .await,
        Code::AlreadyExists,
        "production play",
    );
}
