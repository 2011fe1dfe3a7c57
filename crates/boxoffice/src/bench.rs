//! `boxoffice bench`: booking throughput and latency of a running cluster.
//!
//! Logs in as the administrator (box office staff are not subject to the
//! per-customer seat cap), creates fresh shows (one per
//! [`CLIENTS_PER_SHOW`] clients), then runs `--clients` concurrent clients
//! for `--seconds`, each booking its own distinct seats (so nothing is
//! rejected), each starting on a different node. Every booking is a full
//! authenticated write: token verification, Raft, session check in the
//! state machine; on a cluster that takes payments (as `boxoffice up`'s
//! does) it is the whole checkout: hold, charge with the test card that
//! pays, confirm. Prints bookings/s and latency percentiles from an HDR
//! histogram.

use std::time::{Duration, Instant};

use anyhow::Context;
use boxoffice_client::Client;
use clap::Args;
use hdrhistogram::Histogram;

use crate::commands::Global;

/// The payment service's test card that always pays.
const PAYING_TEST_CARD: &str = "4242424242424242";
/// Clients sharing one benchmark show.
const CLIENTS_PER_SHOW: u32 = 16;
/// Seats of each benchmark show (the largest show the cluster accepts).
const SEATS_PER_SHOW: u32 = 100_000;

/// Options of `boxoffice bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: u32,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seats per booking.
    #[arg(long, default_value_t = 1)]
    seats_per_booking: u32,
    /// Administrator to book as (the local development cluster's default).
    #[arg(long, default_value = "admin@gmail.com")]
    admin_email: String,
    /// That administrator's password.
    #[arg(
        long,
        env = "BOXOFFICE_PASSWORD",
        default_value = "admin123",
        hide_env_values = true
    )]
    admin_password: String,
}

/// Latencies in µs from 1 µs to 60 s, 3 significant digits; longer ones
/// are recorded as 60 s.
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// What one client measured.
struct ClientRun {
    latencies_us: Histogram<u64>,
    errors: u64,
    ran_out_of_seats: bool,
}

async fn run_client(
    client: Client,
    show: String,
    seats: std::ops::RangeInclusive<u32>,
    k: u32,
    deadline: Instant,
) -> ClientRun {
    let mut run = ClientRun {
        latencies_us: latency_histogram(),
        errors: 0,
        ran_out_of_seats: false,
    };
    let card = boxoffice_client::proto::Card {
        number: PAYING_TEST_CARD.into(),
        exp_month: 12,
        exp_year: 2099,
        cvc: "123".into(),
    };
    let mut next = *seats.start();
    while Instant::now() < deadline {
        if next + k - 1 > *seats.end() {
            run.ran_out_of_seats = true;
            break;
        }
        let wanted: Vec<u32> = (next..next + k).collect();
        next += k;
        let started = Instant::now();
        let request_id = boxoffice_client::new_request_id();
        let paid = client.book_and_pay(&request_id, &show, &wanted, Some(&card));
        match paid.await {
            Ok(_) => run
                .latencies_us
                .saturating_record(started.elapsed().as_micros() as u64),
            Err(_) => run.errors += 1,
        }
    }
    run
}

pub async fn run(args: BenchArgs, global: &Global) -> anyhow::Result<()> {
    anyhow::ensure!(args.clients >= 1, "--clients must be at least 1");
    anyhow::ensure!(
        (1..=10).contains(&args.seats_per_booking),
        "--seats-per-booking must be 1 to 10"
    );
    let connection = global.connect()?;
    let addrs = connection.endpoints;
    let session = Client::new(&[connection.auth.as_str()])?
        .login(&args.admin_email, &args.admin_password)
        .await
        .map_err(|s| anyhow::anyhow!("logging in as {}: {}", args.admin_email, s.message()))?;
    let token = session.access_token;
    let admin = Client::new(&addrs)?.with_token(&token);
    let run_id = boxoffice_client::new_request_id();
    let run_id = run_id.split('-').next().unwrap_or("x");
    let shows = args.clients.div_ceil(CLIENTS_PER_SHOW);
    for k in 0..shows {
        admin
            .create_show(
                &format!("bench-{run_id}-{k}"),
                "benchmark",
                SEATS_PER_SHOW,
                1000,
                i64::MAX / 2,
            )
            .await
            .map_err(|s| anyhow::anyhow!("{}", s.message()))
            .context("creating a benchmark show")?;
    }
    let per_client = SEATS_PER_SHOW / CLIENTS_PER_SHOW;

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let mut rotated = addrs.clone();
        rotated.rotate_left(c as usize % addrs.len());
        let client = Client::new(&rotated)?.with_token(&token);
        let show = format!("bench-{run_id}-{}", c / CLIENTS_PER_SHOW);
        let slot = c % CLIENTS_PER_SHOW;
        let seats = slot * per_client + 1..=(slot + 1) * per_client;
        tasks.push(tokio::spawn(run_client(
            client,
            show,
            seats,
            args.seats_per_booking,
            deadline,
        )));
    }
    let mut latencies = latency_histogram();
    let (mut errors, mut ran_out) = (0, 0);
    for t in tasks {
        let run = t.await?;
        latencies.add(run.latencies_us)?;
        errors += run.errors;
        ran_out += u32::from(run.ran_out_of_seats);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ms = |q: f64| latencies.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{} clients on {shows} show(s), {} seat(s) per booking, {elapsed:.1} s",
        args.clients, args.seats_per_booking
    );
    println!(
        "bookings: {} ok, {errors} failed; {:.0} bookings/s",
        latencies.len(),
        latencies.len() as f64 / elapsed
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        latencies.max() as f64 / 1000.0
    );
    if ran_out > 0 {
        println!("note: {ran_out} client(s) ran out of seats before the end");
    }
    Ok(())
}
