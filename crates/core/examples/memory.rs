//! How much memory the replicated state takes for a large sale:
//! `cargo run --release -p boxoffice-core --example memory [shows] [seats] [bookings] [book|checkout]`
//! (defaults 1000 × 1000 seats and 1,000,000 single-seat bookings). With
//! `book` (the default) each booking is one `Book` request; with
//! `checkout` it is what the paid checkout sends: a `Hold` with an order
//! id and a `Confirm` with a transaction id (the hold is remembered for
//! dedup; the system's confirmation is not). Every request has its own UUID-long request id, as clients
//! send them. Prints the resident memory from /proc/self/statm (Linux).

use boxoffice_core::{
    BookingId, Command, Effect, OrderId, Request, RequestId, SeatNo, ShowId, State, Timestamp,
    TransactionId, UserId,
};

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
