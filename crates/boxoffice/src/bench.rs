//! `boxoffice bench`: booking throughput and latency of a running cluster.
//!
//! Creates a fresh show with enough seats, then runs `--clients` concurrent
//! clients, each booking its own distinct seats (so nothing is rejected)
//! through every node in turn, for `--duration`. Prints bookings/s and the
//! latency median and tail from an HDR histogram.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use boxoffice_client::Client;
use clap::Args;
use hdrhistogram::Histogram;

use crate::commands::Target;

/// Options of `boxoffice bench`.
#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    target: Target,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: u32,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seats per booking.
    #[arg(long, default_value_t = 1)]
    seats_per_booking: u32,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.clients >= 1, "--clients must be at least 1");
    anyhow::ensure!(
        (1..=10).contains(&args.seats_per_booking),
        "--seats-per-booking must be 1 to 10"
    );
    let addrs: Vec<String> = args
        .target
        .endpoints
        .split(',')
        .map(str::to_owned)
        .collect();
    let admin = Client::new(&addrs)?;
    let show_id = format!(
        "bench-{}",
        boxoffice_client::new_request_id()
            .split('-')
            .next()
            .unwrap_or("x")
    );
    let seat_count = boxoffice_core_max_seats();
    admin
        .create_show(&show_id, "benchmark", seat_count, 1000, i64::MAX / 2)
        .await
        .context("creating the benchmark show")?;
    let per_client = seat_count / args.clients;
    anyhow::ensure!(
        per_client >= args.seats_per_booking,
        "too many clients for one show"
    );

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let show_id = Arc::new(show_id);
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        // Spread clients over the nodes: each starts on a different one.
        let mut rotated = addrs.clone();
        rotated.rotate_left(c as usize % addrs.len());
        let client = Client::new(&rotated)?.as_user(format!("bench-user-{c}"));
        let show_id = show_id.clone();
        let k = args.seats_per_booking;
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).expect("histogram");
            let mut errors = 0u64;
            let mut next = c * per_client + 1;
            let end = (c + 1) * per_client;
            while Instant::now() < deadline && next + k - 1 <= end {
                let seats: Vec<u32> = (next..next + k).collect();
                next += k;
                let t = Instant::now();
                match client.book(&show_id, &seats).await {
                    Ok(_) => hist.record(t.elapsed().as_micros() as u64).unwrap_or(()),
                    Err(_) => errors += 1,
                }
            }
            (hist, errors)
        }));
    }
    let mut hist = Histogram::<u64>::new(3)?;
    let mut errors = 0;
    for t in tasks {
        let (h, e) = t.await?;
        hist.add(h)?;
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = hist.len();
    println!(
        "show {show_id}: {} clients, {} seat(s) per booking, {elapsed:.1} s",
        args.clients, args.seats_per_booking
    );
    println!(
        "bookings: {ok} ok, {errors} failed; {:.0} bookings/s",
        ok as f64 / elapsed
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.9) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.max() as f64 / 1000.0
    );
    Ok(())
}

/// The largest show the cluster accepts.
fn boxoffice_core_max_seats() -> u32 {
    100_000
}
