//! How much memory the replicated state takes for a large sale:
//! `cargo run --release -p boxoffice-core --example memory [shows] [seats] [bookings] [book|checkout]`
//! (defaults 1000 × 1000 seats and 1,000,000 single-seat bookings). With
//! `book` (the default) each booking is one `Book` request; with
//! `checkout` it is what the paid checkout sends: a `Hold` with an order
//! id and a `Confirm` with a transaction id (the hold is remembered for
//! dedup; the system's confirmation is not). Every request has its own UUID-long request id, as clients
//! send them. Prints the resident memory from /proc/self/statm (Linux).
//!
//! `--theatre N` measures a run instead: a 600-seat theatre (400 stalls,
//! 160 circle, ten boxes of 4), one production, `N` performances, and
//! every seat of each sold by the checkout in orders of two tickets (an
//! adult and a concession): `--theatre 1000` is 600,000 tickets.

use boxoffice_core::{
    BookingId, CategorySpec, Command, Effect, HoldLimits, NewPerformance, OrderId, PlaceRule,
    PriceSpec, PricingSpec, ProductionId, Request, RequestId, Row, SalesWindow, SeatAttrs, SeatNo,
    Section, ShowId, Stage, State, Tickets, Timestamp, TransactionId, UserId, Venue, VenueId,
    VenueSeat,
};

/// Most performances one `AddPerformances` may add (the state machine's limit).
const PERFORMANCES_PER_RUN: u64 = 400;

/// Peak resident memory so far, from /proc/self/status (Linux).
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn resident_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--theatre") {
        let performances = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1_000);
        theatre(performances);
        return;
    }
    let number =
        |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let shows = number(0, 1_000);
    let seats = number(1, 1_000) as u32;
    let bookings = number(2, 1_000_000);
    let checkout = args.get(3).is_some_and(|mode| mode == "checkout");
    let before = resident_mib();
    let mut state = State::new();
    let trusted = |id: String, command| Request {
        request_id: RequestId(id),
        caller: None,
        command,
    };
    for s in 0..shows {
        let create = Command::CreateShow {
            show: ShowId(format!("show-{s}")),
            title: format!("Show number {s}"),
            seat_count: seats,
            price_cents: 2_500,
            starts_at: Timestamp(i64::MAX / 2),
        };
        state
            .apply(Timestamp(1_000), &trusted(format!("create-{s}"), create))
            .expect("create");
    }
    let with_shows = resident_mib();
    let mut confirmed = 0u64;
    for b in 0..bookings {
        let at = Timestamp(2_000 + b as i64 / 1_000);
        let show = ShowId(format!("show-{}", b % shows));
        let seats = vec![SeatNo((b / shows) as u32 % seats + 1)];
        let user = UserId(format!("u{}", b % 50_000 + 1));
        if !checkout {
            let book = Command::Book {
                show,
                seats,
                tickets: Default::default(),
                user,
                max_seats_per_user: 0,
            };
            if state.apply(at, &trusted(uuid_like(b, 0), book)).is_ok() {
                confirmed += 1;
            }
            continue;
        }
        let hold = Command::Hold {
            order: OrderId(format!(
                "ord_{:032x}",
                b.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            )),
            show,
            seats,
            tickets: Default::default(),
            user,
            ttl_ms: 600_000,
            max_seats_per_user: 0,
            limits: boxoffice_core::HoldLimits::NONE,
        };
        let Ok(Effect::Booking(held)) = state.apply(at, &trusted(uuid_like(b, 0), hold)) else {
            continue;
        };
        let confirm = Command::Confirm {
            booking: BookingId(held.id.0),
            transaction: Some(TransactionId(format!("tx_{:032x}", b ^ 0x5555))),
        };
        if state.apply(at, &trusted(uuid_like(b, 1), confirm)).is_ok() {
            confirmed += 1;
        }
    }
    let after = resident_mib();
    println!(
        "{shows} shows x {seats} seats: {with_shows:.0} MiB; after {confirmed} confirmed bookings by {}: {after:.0} MiB (process start {before:.0} MiB)",
        if checkout {
            "checkout (hold + confirm)"
        } else {
            "book"
        },
    );
    let peak = peak_mib();
    let snapshot = state.to_snapshot().expect("snapshot");
    println!(
        "snapshot: {:.0} MiB; peak resident before it {peak:.0} MiB, after it {:.0} MiB",
        snapshot.len() as f64 / (1024.0 * 1024.0),
        peak_mib()
    );
}

/// A request id as long as a UUID, like real clients send.
fn uuid_like(n: u64, step: u64) -> String {
    format!(
        "{n:08x}-000{step}-4000-8000-{:012x}",
        n.wrapping_mul(2_654_435_761) & 0xffff_ffff_ffff
    )
}

/// A request the system sends itself (no end-user caller).
fn trusted(id: String, command: Command) -> Request {
    Request {
        request_id: RequestId(id),
        caller: None,
        command,
    }
}

/// A theatre of 600 seats: stalls rows A-T of 20 (400), circle rows A-H
/// of 20 (160), and ten boxes of one row of 4 (40).
fn theatre_layout() -> Venue {
    let rows = |count: u8, seats: i32, y0: i32| -> Vec<Row> {
        (0..count)
            .map(|r| Row {
                label: char::from(b'A' + r).to_string(),
                seats: (0..seats)
                    .map(|i| VenueSeat {
                        label: (i + 1).to_string(),
                        x: i * 10,
                        y: y0 + i32::from(r) * 10,
                        attrs: SeatAttrs::default(),
                    })
                    .collect(),
            })
            .collect()
    };
    let mut sections = vec![
        Section {
            name: "Stalls".to_owned(),
            rows: rows(20, 20, 40),
        },
        Section {
            name: "Circle".to_owned(),
            rows: rows(8, 20, 300),
        },
    ];
    for b in 0..10u8 {
        // Boxes line the side walls, five a side.
        let x = if b < 5 { -60 } else { 260 };
        let y = 300 + i32::from(b % 5) * 20;
        let mut row = rows(1, 4, y).remove(0);
        for seat in &mut row.seats {
            seat.x += x;
        }
        sections.push(Section {
            name: format!("Box {}", char::from(b'A' + b)),
            rows: vec![row],
        });
    }
    Venue {
        name: "The Grand".to_owned(),
        stage: Stage {
            x: 0,
            y: 0,
            width: 200,
            height: 20,
        },
        sections,
        areas: Vec::new(),
    }
}

/// Two categories (the front stalls and the boxes are A, the rest B),
/// adult and concession tickets.
fn theatre_pricing() -> PricingSpec {
    let rows = |from: &str, to: &str| PlaceRule::Rows {
        section: "Stalls".to_owned(),
        from: from.to_owned(),
        to: to.to_owned(),
    };
    let mut a = vec![rows("A", "J")];
    a.extend((0..10u8).map(|b| PlaceRule::Section(format!("Box {}", char::from(b'A' + b)))));
    let price = |category: &str, ticket_type: &str, cents| PriceSpec {
        category: category.to_owned(),
        ticket_type: ticket_type.to_owned(),
        cents,
    };
    PricingSpec {
        categories: vec![
            CategorySpec {
                name: "A".to_owned(),
                rules: a,
            },
            CategorySpec {
                name: "B".to_owned(),
                rules: vec![rows("K", "T"), PlaceRule::Section("Circle".to_owned())],
            },
        ],
        ticket_types: vec!["adult".to_owned(), "concession".to_owned()],
        prices: vec![
            price("A", "adult", 6_500),
            price("A", "concession", 4_500),
            price("B", "adult", 3_500),
            price("B", "concession", 2_500),
        ],
    }
}

/// `--theatre N`: N performances of one production in a 600-seat
/// theatre, every seat sold through the checkout (hold + confirm) in
/// orders of an adult and a concession ticket.
fn theatre(performances: u64) {
    let before = resident_mib();
    let mut state = State::new();
    let venue = VenueId::from("grand");
    let production = ProductionId::from("hamlet");
    let create_venue = Command::CreateVenue {
        venue: venue.clone(),
        layout: theatre_layout(),
    };
    state
        .apply(Timestamp(1_000), &trusted("venue".to_owned(), create_venue))
        .expect("create the venue");
    let create_production = Command::CreateProduction {
        production: production.clone(),
        title: "Hamlet".to_owned(),
        description: "The Prince of Denmark.".to_owned(),
        running_minutes: 180,
    };
    state
        .apply(
            Timestamp(1_000),
            &trusted("production".to_owned(), create_production),
        )
        .expect("create the production");
    // The state machine takes at most 400 performances a request.
    for first in (0..performances).step_by(PERFORMANCES_PER_RUN as usize) {
        let run = (first..performances.min(first + PERFORMANCES_PER_RUN))
            .map(|p| NewPerformance {
                show: ShowId(format!("perf-{p}")),
                starts_at: Timestamp(i64::MAX / 2 + p as i64),
            })
            .collect();
        let add = Command::AddPerformances {
            production: production.clone(),
            venue: venue.clone(),
            performances: run,
            sales: SalesWindow::default(),
            pricing: theatre_pricing(),
        };
        let result = state.apply(Timestamp(1_000), &trusted(format!("run-{first}"), add));
        assert!(result.is_ok(), "add performances: {result:?}");
    }
    let with_performances = resident_mib();
    // Every order takes the next two seats of a performance, in place order.
    let tickets_two = Tickets {
        types: vec!["adult".to_owned(), "concession".to_owned()],
        ..Tickets::default()
    };
    let mut tickets = 0u64;
    let mut order = 0u64;
    for p in 0..performances {
        for pair in 0..300u32 {
            let at = Timestamp(2_000 + order as i64 / 1_000);
            let hold = Command::Hold {
                order: OrderId(format!(
                    "ord_{:032x}",
                    order.wrapping_mul(0x9e37_79b9_7f4a_7c15)
                )),
                show: ShowId(format!("perf-{p}")),
                seats: vec![SeatNo(2 * pair + 1), SeatNo(2 * pair + 2)],
                tickets: tickets_two.clone(),
                user: UserId(format!("u{}", order % 50_000 + 1)),
                ttl_ms: 600_000,
                max_seats_per_user: 0,
                limits: HoldLimits::NONE,
            };
            let held = state.apply(at, &trusted(uuid_like(order, 0), hold));
            let Ok(Effect::Booking(held)) = held else {
                panic!("hold: {held:?}");
            };
            let confirm = Command::Confirm {
                booking: BookingId(held.id.0),
                transaction: Some(TransactionId(format!("tx_{:032x}", order ^ 0x5555))),
            };
            let confirmed = state.apply(at, &trusted(uuid_like(order, 1), confirm));
            assert!(confirmed.is_ok(), "confirm: {confirmed:?}");
            tickets += held.seats.len() as u64;
            order += 1;
        }
    }
    let after = resident_mib();
    println!(
        "{performances} performances x 600 seats: {with_performances:.0} MiB; after {tickets} tickets in {order} orders (hold + confirm): {after:.0} MiB resident (process start {before:.0} MiB, peak {:.0} MiB)",
        peak_mib()
    );
}
