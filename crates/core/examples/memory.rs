//! How much memory the replicated state takes for a large sale:
//! `cargo run --release -p boxoffice-core --example memory [shows] [seats] [bookings]`
//! (defaults 1000 × 1000 seats and 1,000,000 single-seat bookings, each
//! under its own request id, as clients send them). Prints the resident
//! memory before and after, from /proc/self/statm (Linux).

use boxoffice_core::{Command, Request, RequestId, SeatNo, ShowId, State, Timestamp, UserId};

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
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let shows = args.first().copied().unwrap_or(1_000);
    let seats = args.get(1).copied().unwrap_or(1_000) as u32;
    let bookings = args.get(2).copied().unwrap_or(1_000_000);
    let before = resident_mib();
    let mut state = State::new();
    let at = Timestamp(1_000);
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
            .apply(at, &trusted(format!("create-{s}"), create))
            .expect("create");
    }
    let with_shows = resident_mib();
    for b in 0..bookings {
        let show = b % shows;
        let seat = (b / shows) as u32 % seats + 1;
        let book = Command::Book {
            show: ShowId(format!("show-{show}")),
            seats: vec![SeatNo(seat)],
            user: UserId(format!("u{}", b % 50_000 + 1)),
            max_seats_per_user: 0,
        };
        let request = trusted(uuid_like(b), book);
        let _ = state.apply(Timestamp(2_000 + b as i64 / 1_000), &request);
    }
    let after = resident_mib();
    println!(
        "{shows} shows x {seats} seats: {:.0} MiB; after {bookings} bookings (each remembered for dedup): {:.0} MiB (process start {:.0} MiB)",
        with_shows, after, before
    );
}

/// A request id as long as a UUID, like real clients send.
fn uuid_like(n: u64) -> String {
    format!(
        "{n:08x}-0000-4000-8000-{:012x}",
        n.wrapping_mul(2_654_435_761)
    )
}
