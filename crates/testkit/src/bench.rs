//! `boxoffice bench`: throughput and latency of a running cluster, under
//! named workloads.
//!
//! Logs in as the administrator (box office staff are not subject to the
//! per-customer seat cap), creates fresh shows, then runs `--clients`
//! concurrent clients, each starting on a different node:
//!
//! - `spread`: each client books its own distinct seats over several shows
//!   (so nothing is refused), for `--seconds`;
//! - `onsale`: every client races for random seats of one show of
//!   `--seats` seats until it is sold out; reports the time to sell out,
//!   and checks that no seat was sold twice (every acknowledged seat is
//!   distinct and the show's booked count equals them);
//! - `mixed`: browsing with bookings: each operation is a read of one seat
//!   (linearizable) with probability `--read-share`, else a booking;
//! - `fill`: `--shows` shows of `--seats` seats each (1,000 of 1,000 by
//!   default, the shape of the memory target) booked out, every seat once,
//!   the clients taking turns over the seats in order; ends when all are
//!   sold or `--seconds` pass, and checks that the shows count exactly the
//!   acknowledged sales;
//! - `failover`: `spread` while the leader is killed (SIGKILL) `--kills`
//!   times at even intervals, `boxoffice up` starting it again each time
//!   (the cluster and the bench must share this Linux machine; the bench
//!   starts no process, so it leaves none behind); reports the longest gap with no successful booking
//!   after each kill, the failed requests, and checks that every
//!   acknowledged booking is still there at the end.
//!
//! - `doors`: the doors of one performance: `--gates` gates scanning a
//!   `--seats` performance (2,000 by default) and the load of an offline
//!   door list (see `bench/doors.rs`).
//! - `queue`: an on-sale through the waiting room: `--buyers` buyers and
//!   `--bots` bots for a `--seats` performance (5,000 by default), let in
//!   at `--admit-rate` a second; fairness, joins a second, the time from
//!   being let in to paid, what the bots got (see `bench/queue.rs`; it
//!   stands in for the auth service and the gateway with their files in
//!   `--data-dir`, so it runs on the cluster's machine).
//!
//! With `--ticket-types adult,concession`, `spread`, `mixed`, `failover`
//! and `fill` sell performances of a generated venue instead of simple
//! shows: each booking's tickets take the types in turn, priced by the
//! state machine (`fill` books one ticket of each type an order).
//!
//! Every booking is a full authenticated write: token verification, Raft,
//! session check in the state machine; on a cluster that takes payments
//! (as `boxoffice up`'s does) it is the whole checkout: hold, charge with
//! the test card that pays, confirm. Reports operations per second,
//! p50/p90/p99/max latency from HDR histograms, errors by kind, and the
//! CPU seconds the run cost (the cluster's `boxoffice` processes on this
//! machine by role, the bench's own, the whole machine; and per booking),
//! with a progress bar on a terminal; `--json` prints one JSON object
//! instead.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use boxoffice_client::Client;
use boxoffice_client::proto as v1;
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use boxoffice_cli::Global;
use boxoffice_cli::output::code_name;

use crate::leader_kill::{FailoverReport, gaps_after, kill_leaders};

mod cpu;
mod doors;
mod queue;

/// The payment service's test card that always pays.
const PAYING_TEST_CARD: &str = "4242424242424242";
/// Clients sharing one `spread` show.
const CLIENTS_PER_SHOW: u32 = 16;
/// Seats of each `spread` show (the largest show the cluster accepts).
const SEATS_PER_SHOW: u32 = 100_000;
/// Most shows `fill` creates.
const MAX_FILL_SHOWS: u32 = 10_000;

/// A named workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// Distinct seats over many shows, nothing refused.
    Spread,
    /// Everyone races to buy out one show.
    Onsale,
    /// Seat reads with some bookings.
    Mixed,
    /// Steady bookings while the leader is killed (and restarted).
    Failover,
    /// Every seat of many shows booked once.
    Fill,
    /// Gates scanning a performance's tickets; offline list loads.
    Doors,
    /// An on-sale through the waiting room, with bots.
    Queue,
}

/// Options of `boxoffice bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// The workload.
    #[arg(long, value_enum, default_value_t = Workload::Spread)]
    workload: Workload,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: u32,
    /// How long to run, in seconds (`onsale`, `fill`: at most this long).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seats per booking (`spread`, `mixed`).
    #[arg(long, default_value_t = 1)]
    seats_per_booking: u32,
    /// Sell performances of a generated venue with these ticket types
    /// (`spread`, `mixed`, `failover`), e.g. `adult,concession`: each
    /// booking's tickets take the types in turn, each priced by the state
    /// machine. Without it, the shows are simple shows of one price.
    #[arg(long, value_delimiter = ',')]
    ticket_types: Vec<String>,
    /// Seats of the `onsale` show (default 20,000) or of each `fill` show
    /// (default 1,000).
    #[arg(long)]
    seats: Option<u32>,
    /// Shows to book out (`fill`).
    #[arg(long, default_value_t = 1_000)]
    shows: u32,
    /// Share of operations that are reads (`mixed`), 0 to 1.
    #[arg(long, default_value_t = 0.9)]
    read_share: f64,
    /// Reads (`mixed`) allow a stale answer: the node that is asked
    /// answers from its own state, with no read index and no forward, so
    /// `--read-share 1` measures what a bare client call costs.
    #[arg(long)]
    stale_reads: bool,
    /// Leader kills (`failover`).
    #[arg(long, default_value_t = 1)]
    kills: u32,
    /// Buyers in the waiting room (`queue`).
    #[arg(long, default_value_t = 20_000)]
    buyers: u32,
    /// Bot accounts, all from one network, trying to buy everything
    /// (`queue`).
    #[arg(long, default_value_t = 0)]
    bots: u32,
    /// Buyers the waiting room lets in a second (`queue`).
    #[arg(long, default_value_t = 1_000)]
    admit_rate: u32,
    /// Gates scanning at once (`doors`).
    #[arg(long, default_value_t = 20)]
    gates: u32,
    /// Tickets of the second performance whose offline list load is
    /// measured (`doors`; 0: none).
    #[arg(long, default_value_t = 20_000)]
    big_list: u32,
    /// The data directory of the `boxoffice up` being measured (`queue`
    /// reads the waiting room's key there).
    #[arg(long, default_value = "./data")]
    data_dir: std::path::PathBuf,
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
    /// When each successful booking completed, since the start.
    completed: Vec<Duration>,
    /// The bookings acknowledged.
    acknowledged: Vec<String>,
    writes: Histogram<u64>,
    reads: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    /// Seats acknowledged as booked (`onsale`).
    sold: Vec<u32>,
    ran_out_of_seats: bool,
}

impl ClientRun {
    fn new() -> Self {
        Self {
            completed: Vec::new(),
            acknowledged: Vec::new(),
            writes: latency_histogram(),
            reads: latency_histogram(),
            errors: BTreeMap::new(),
            sold: Vec::new(),
            ran_out_of_seats: false,
        }
    }

    /// Books `seats` of `show` in one paid checkout, with `types` (one per
    /// seat, or none), and records how it went.
    async fn book(
        &mut self,
        client: &Client,
        card: &v1::Card,
        show: &str,
        seats: &[u32],
        types: &[String],
        shared: &Shared,
    ) {
        let started = Instant::now();
        let request_id = boxoffice_client::new_request_id();
        match client
            .book(show, seats)
            .types(types.iter().cloned())
            .request_id(&request_id)
            .card(card)
            .await
        {
            Ok(booking) => {
                self.writes.saturating_record(micros(started));
                self.completed.push(shared.started.elapsed());
                self.acknowledged.push(booking.booking_id);
            }
            Err(status) => self.error(&status),
        }
    }

    fn error(&mut self, status: &tonic::Status) {
        *self
            .errors
            .entry(code_name(status.code()).to_owned())
            .or_default() += 1;
    }
}

fn micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

fn test_card() -> v1::Card {
    v1::Card {
        number: PAYING_TEST_CARD.into(),
        exp_month: 12,
        exp_year: 2099,
        cvc: "123".into(),
    }
}

/// Shared state of a run.
pub(crate) struct Shared {
    pub(crate) started: Instant,
    pub(crate) deadline: Instant,
    /// Writes and reads done, for the progress bar.
    done: AtomicU64,
    /// Set when the `onsale` show is sold out.
    sold_out: AtomicBool,
}

/// The reads a `mixed` client makes between its bookings.
#[derive(Clone, Copy)]
struct Reads {
    /// Share of operations that are reads, 0 to 1.
    share: f64,
    /// Whether a read may be answered from the asked node's own state.
    stale: bool,
}

/// Books `k` seats at a time from `seats`, in order (`spread`), or mixed
/// with reads.
async fn run_steady(
    client: Client,
    show: String,
    seats: std::ops::RangeInclusive<u32>,
    k: u32,
    ticket_types: Arc<Vec<String>>,
    reads: Reads,
    shared: Arc<Shared>,
) -> ClientRun {
    let mut run = ClientRun::new();
    // The types of one booking's tickets, taking the offered ones in turn.
    let types: Vec<String> = ticket_types
        .iter()
        .cycle()
        .take(k as usize)
        .cloned()
        .collect();
    let card = test_card();
    let mut next = *seats.start();
    let mut state = u64::from(*seats.start()) | 1;
    while Instant::now() < shared.deadline {
        // A cheap deterministic generator: no shared RNG on the hot path.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let read = (state % 1000) < (reads.share * 1000.0) as u64;
        if read {
            let started = Instant::now();
            let seat = *seats.start() + u32::try_from(state % 1000).unwrap_or(0);
            match client.get_seat(&show, seat, reads.stale).await {
                Ok(_) => run.reads.saturating_record(micros(started)),
                Err(status) => run.error(&status),
            }
        } else {
            if next + k - 1 > *seats.end() {
                run.ran_out_of_seats = true;
                break;
            }
            let wanted: Vec<u32> = (next..next + k).collect();
            next += k;
            run.book(&client, &card, &show, &wanted, &types, &shared)
                .await;
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    run
}

/// Books block `first`, `first + step`, … of `shows` shows of `seats`
/// seats each, a block being `types.len().max(1)` consecutive seats of one
/// show (block `b` is in show `b / blocks` where `blocks = seats / k`),
/// one block per checkout with `types`, until they run out (`fill`).
async fn run_fill(
    client: Client,
    show_ids: Arc<Vec<String>>,
    seats: u32,
    types: Arc<Vec<String>>,
    first: u64,
    step: u64,
    shared: Arc<Shared>,
) -> ClientRun {
    let mut run = ClientRun::new();
    let card = test_card();
    let k = u32::try_from(types.len().max(1)).unwrap_or(1);
    let blocks = u64::from((seats / k).max(1));
    let total = show_ids.len() as u64 * blocks;
    let mut next = first;
    while Instant::now() < shared.deadline && next < total {
        let (Some(show), Ok(block)) = (
            show_ids.get(usize::try_from(next / blocks).unwrap_or(usize::MAX)),
            u32::try_from(next % blocks),
        ) else {
            break;
        };
        let wanted: Vec<u32> = (block * k + 1..=block * k + k).collect();
        run.book(&client, &card, show, &wanted, &types, &shared)
            .await;
        shared.done.fetch_add(1, Ordering::Relaxed);
        next += step;
    }
    run
}

/// Races for random seats of one show until it is sold out (`onsale`).
async fn run_onsale(
    client: Client,
    show: String,
    seats: u32,
    id: u32,
    shared: Arc<Shared>,
) -> ClientRun {
    let mut run = ClientRun::new();
    let card = test_card();
    let mut state = u64::from(id) * 2_654_435_761 + 1;
    let mut misses = 0u32;
    let mut free: Vec<u32> = Vec::new();
    while Instant::now() < shared.deadline && !shared.sold_out.load(Ordering::Relaxed) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // After a few misses, pick among the seats the map shows free.
        if misses >= 3 {
            misses = 0;
            match client.seat_map(&show, true).await {
                Ok((summary, map)) => {
                    if summary.available == 0 && summary.held == 0 {
                        shared.sold_out.store(true, Ordering::Relaxed);
                        break;
                    }
                    free = map
                        .iter()
                        .filter(|s| s.state == v1::SeatState::Available as i32)
                        .map(|s| s.seat_no)
                        .collect();
                }
                Err(status) => run.error(&status),
            }
        }
        let seat = if free.is_empty() {
            1 + u32::try_from(state % u64::from(seats)).unwrap_or(0)
        } else {
            free.swap_remove(usize::try_from(state % free.len() as u64).unwrap_or(0))
        };
        let started = Instant::now();
        let request_id = boxoffice_client::new_request_id();
        match client
            .book(&show, &[seat])
            .request_id(&request_id)
            .card(&card)
            .await
        {
            Ok(_) => {
                run.writes.saturating_record(micros(started));
                run.sold.push(seat);
            }
            Err(status) => {
                if status.code() == tonic::Code::FailedPrecondition {
                    misses += 1;
                }
                run.error(&status);
            }
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    run
}

/// Rows of the generated venue, of [`VENUE_ROW_SEATS`] seats each: 50,000
/// seats, whose layout fits in one 1 MiB request (100,000 do not).
const VENUE_ROWS: u32 = 50;
/// Seats of each row of the generated venue.
const VENUE_ROW_SEATS: u32 = 1_000;

/// Creates a venue of `VENUE_ROWS × VENUE_ROW_SEATS` seats, a production and one
/// performance per show id, on sale, every seat in one category with a
/// price per ticket type (10.00, 9.00, …).
async fn create_performances(
    admin: &Client,
    run_id: &str,
    show_ids: &[String],
    ticket_types: &[String],
    seats: u32,
) -> anyhow::Result<()> {
    let per_row = seats.min(VENUE_ROW_SEATS);
    let rows = seats.div_ceil(per_row);
    let venue = v1::Venue {
        name: format!("Benchmark hall {run_id}"),
        stage: Some(v1::Rect {
            x: 0,
            y: 0,
            width: i32::try_from(per_row)?,
            height: 5,
        }),
        sections: vec![v1::VenueSection {
            name: "Hall".into(),
            rows: (1..=rows)
                .map(|r| v1::VenueRow {
                    label: format!("R{r}"),
                    seats: (1..=per_row.min(seats - (r - 1) * per_row))
                        .map(|n| v1::VenueSeat {
                            label: n.to_string(),
                            x: i32::try_from(n).unwrap_or(i32::MAX),
                            y: 10 + i32::try_from(r).unwrap_or(i32::MAX),
                            attributes: Vec::new(),
                        })
                        .collect(),
                })
                .collect(),
        }],
        areas: Vec::new(),
    };
    let fail =
        |what: &'static str| move |s: tonic::Status| anyhow::anyhow!("{what}: {}", s.message());
    let venue_id = format!("bench-{run_id}");
    admin
        .create_venue(&venue_id, venue)
        .await
        .map_err(fail("creating the benchmark venue"))?;
    admin
        .create_production(&venue_id, "benchmark", "", 60)
        .await
        .map_err(fail("creating the benchmark production"))?;
    let prices = ticket_types
        .iter()
        .zip((0..).map(|i: i64| 1_000 - 100 * i))
        .map(|(ticket_type, cents)| v1::Price {
            category: "Standard".into(),
            ticket_type: ticket_type.clone(),
            cents,
        })
        .collect();
    let pricing = v1::PricingSpec {
        categories: vec![v1::PriceCategory {
            name: "Standard".into(),
            rules: vec![v1::PlaceRule {
                rule: Some(v1::place_rule::Rule::All(true)),
            }],
        }],
        ticket_types: ticket_types.to_vec(),
        prices,
    };
    // A run adds at most 400 performances.
    for run in show_ids.chunks(400) {
        admin
            .add_performances(v1::AddPerformancesRequest {
                production_id: venue_id.clone(),
                venue_id: venue_id.clone(),
                performances: run
                    .iter()
                    .map(|show| v1::NewPerformance {
                        show_id: show.clone(),
                        starts_at_ms: i64::MAX / 2,
                    })
                    .collect(),
                pricing: Some(pricing.clone()),
                ..Default::default()
            })
            .await
            .map_err(fail("adding the benchmark performances"))?;
    }
    Ok(())
}

/// Percentiles of a histogram, in ms.
#[derive(Serialize)]
struct Latency {
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Self {
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            max_ms: h.max() as f64 / 1000.0,
        }
    }
}

/// The result of a run, as `--json` prints it.
#[derive(Serialize)]
struct Report {
    workload: Workload,
    clients: u32,
    /// Ticket types of each booking's tickets, in turn (empty: simple shows).
    ticket_types: Vec<String>,
    seconds: f64,
    bookings: u64,
    bookings_per_s: f64,
    booking_latency: Latency,
    reads: u64,
    reads_per_s: f64,
    read_latency: Latency,
    /// Failed operations by gRPC code (`onsale`: seats taken are expected).
    errors: BTreeMap<String, u64>,
    /// `onsale`: seconds until the show was sold out, if it was.
    sold_out_after_s: Option<f64>,
    /// `onsale`: seats acknowledged to two buyers (must be 0).
    sold_twice: Option<u64>,
    /// `onsale`, `fill`: seats the shows report booked, against those acknowledged.
    booked_in_show: Option<u64>,
    /// `failover`: what each kill cost.
    failover: Option<FailoverReport>,
    /// CPU seconds the run cost, from `/proc` (Linux; the cluster must run
    /// on this machine to be counted).
    cpu: Option<cpu::CpuReport>,
}

pub async fn run(args: BenchArgs, global: &Global) -> anyhow::Result<()> {
    anyhow::ensure!(args.clients >= 1, "--clients must be at least 1");
    anyhow::ensure!(
        (1..=10).contains(&args.seats_per_booking),
        "--seats-per-booking must be 1 to 10"
    );
    anyhow::ensure!(
        args.ticket_types.is_empty()
            || matches!(
                args.workload,
                Workload::Spread | Workload::Mixed | Workload::Failover | Workload::Fill
            ),
        "--ticket-types applies to spread, mixed, failover and fill"
    );
    anyhow::ensure!(
        args.ticket_types.len() <= 8
            && args.ticket_types.iter().all(|t| !t.trim().is_empty())
            && args.ticket_types.iter().collect::<BTreeSet<_>>().len() == args.ticket_types.len(),
        "--ticket-types takes 1 to 8 distinct names"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.read_share),
        "--read-share must be between 0 and 1"
    );
    anyhow::ensure!(
        !args.stale_reads || args.workload == Workload::Mixed,
        "--stale-reads applies to mixed"
    );
    let seats = args.seats.unwrap_or(match args.workload {
        Workload::Fill => 1_000,
        Workload::Doors => 2_000,
        Workload::Queue => 5_000,
        _ => 20_000,
    });
    anyhow::ensure!(
        (1..=SEATS_PER_SHOW).contains(&seats),
        "--seats must be 1 to {SEATS_PER_SHOW}"
    );
    anyhow::ensure!(
        (1..=MAX_FILL_SHOWS).contains(&args.shows),
        "--shows must be 1 to {MAX_FILL_SHOWS}"
    );
    anyhow::ensure!(
        args.workload != Workload::Failover
            || (args.kills >= 1 && args.seconds >= 5 * u64::from(args.kills + 1)),
        "failover needs --kills of at least 1 and at least 5 seconds per kill and one more"
    );
    let connection = global.target()?;
    let addrs = connection.endpoints.clone();
    let session = connection
        .client_of(&[connection.auth.as_str()])?
        .login(&args.admin_email, &args.admin_password)
        .await
        .map_err(|s| anyhow::anyhow!("logging in as {}: {}", args.admin_email, s.message()))?;
    let token = session.access_token;
    let admin = connection.client_of(&addrs)?.with_token(&token);
    let run_id = boxoffice_client::new_request_id();
    let run_id = run_id.split('-').next().unwrap_or("x").to_owned();
    if args.workload == Workload::Doors {
        anyhow::ensure!(
            args.big_list <= SEATS_PER_SHOW,
            "--big-list must be at most {SEATS_PER_SHOW}"
        );
        let gate_client = |g: u32| {
            let mut rotated = addrs.clone();
            rotated.rotate_left(g as usize % addrs.len());
            Ok(connection.client_of(&rotated)?.with_token(&token))
        };
        let report = doors::run(
            &admin,
            gate_client,
            &run_id,
            args.gates,
            seats,
            args.big_list,
        )
        .await?;
        if global.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            doors::print(&report);
        }
        return doors::check(&report);
    }
    if args.workload == Workload::Queue {
        let show = format!("bench-{run_id}-queue");
        let performance = async {
            create_performances(
                &admin,
                &run_id,
                std::slice::from_ref(&show),
                &["adult".to_owned()],
                seats,
            )
            .await?;
            anyhow::Ok(show.clone())
        };
        let queue_args = queue::QueueArgs {
            buyers: args.buyers,
            bots: args.bots,
            seats,
            admit_per_s: args.admit_rate,
            concurrency: args.clients.max(256),
        };
        let report = queue::run(&admin, &args.data_dir, &run_id, &queue_args, performance).await?;
        if global.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            queue::print(&report);
        }
        return queue::check(&report);
    }
    let shows = match args.workload {
        Workload::Onsale => 1,
        Workload::Fill => args.shows,
        _ => args.clients.div_ceil(CLIENTS_PER_SHOW),
    };
    let seat_count = match args.workload {
        Workload::Onsale | Workload::Fill => seats,
        _ if !args.ticket_types.is_empty() => VENUE_ROWS * VENUE_ROW_SEATS,
        _ => SEATS_PER_SHOW,
    };
    let show_ids: Vec<String> = (0..shows).map(|k| format!("bench-{run_id}-{k}")).collect();
    if args.ticket_types.is_empty() {
        for show in &show_ids {
            admin
                .create_show(show, "benchmark", seat_count, 1000, i64::MAX / 2)
                .await
                .map_err(|s| anyhow::anyhow!("{}", s.message()))
                .context("creating a benchmark show")?;
        }
    } else {
        create_performances(&admin, &run_id, &show_ids, &args.ticket_types, seat_count).await?;
    }
    let ticket_types = Arc::new(args.ticket_types.clone());
    let show_ids = Arc::new(show_ids);
    let per_client = seat_count / CLIENTS_PER_SHOW;
    let cpu_before = cpu::Sample::take();
    let started = Instant::now();
    let shared = Arc::new(Shared {
        started,
        deadline: started + Duration::from_secs(args.seconds),
        done: AtomicU64::new(0),
        sold_out: AtomicBool::new(false),
    });
    let progress = (!global.json).then(|| {
        let bar = ProgressBar::new(args.seconds * 10);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {elapsed}/{duration} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let mut rotated = addrs.clone();
        rotated.rotate_left(c as usize % addrs.len());
        let client = connection.client_of(&rotated)?.with_token(&token);
        let shared = shared.clone();
        tasks.push(match args.workload {
            Workload::Onsale => {
                tokio::spawn(run_onsale(client, show_ids[0].clone(), seats, c, shared))
            }
            Workload::Fill => tokio::spawn(run_fill(
                client,
                show_ids.clone(),
                seats,
                ticket_types.clone(),
                u64::from(c),
                u64::from(args.clients),
                shared,
            )),
            workload => {
                let show = format!("bench-{run_id}-{}", c / CLIENTS_PER_SHOW);
                let slot = c % CLIENTS_PER_SHOW;
                let seats = slot * per_client + 1..=(slot + 1) * per_client;
                let reads = Reads {
                    share: if workload == Workload::Mixed {
                        args.read_share
                    } else {
                        0.0
                    },
                    stale: args.stale_reads,
                };
                tokio::spawn(run_steady(
                    client,
                    show,
                    seats,
                    args.seats_per_booking,
                    ticket_types.clone(),
                    reads,
                    shared,
                ))
            }
        });
    }
    let killer = (args.workload == Workload::Failover).then(|| {
        let admin = admin.for_token(Some(&token));
        let shared = shared.clone();
        let kills = args.kills;
        tokio::spawn(async move { kill_leaders(&admin, kills, &shared).await })
    });
    let mut sold_out_at = None;
    while tasks.iter().any(|t| !t.is_finished()) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if sold_out_at.is_none() && shared.sold_out.load(Ordering::Relaxed) {
            sold_out_at = Some(started.elapsed().as_secs_f64());
        }
        if let Some(bar) = &progress {
            let tenths = u64::try_from(started.elapsed().as_millis() / 100).unwrap_or(0);
            bar.set_position(tenths.min(args.seconds * 10));
            bar.set_message(format!(
                "{} operations",
                shared.done.load(Ordering::Relaxed)
            ));
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let mut writes = latency_histogram();
    let mut reads = latency_histogram();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut sold = Vec::new();
    let mut completed = Vec::new();
    let mut acknowledged = Vec::new();
    let mut ran_out = 0;
    for t in tasks {
        let run = t.await?;
        writes.add(run.writes)?;
        reads.add(run.reads)?;
        for (kind, n) in run.errors {
            *errors.entry(kind).or_default() += n;
        }
        sold.extend(run.sold);
        completed.extend(run.completed);
        acknowledged.extend(run.acknowledged);
        ran_out += u32::from(run.ran_out_of_seats);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_before
        .zip(cpu::Sample::take())
        .map(|(before, after)| before.until(&after, writes.len()));
    let (sold_twice, booked_in_show) = match args.workload {
        Workload::Onsale => {
            let distinct: BTreeSet<u32> = sold.iter().copied().collect();
            let (show, _) = admin
                .seat_map(&show_ids[0], false)
                .await
                .map_err(|s| anyhow::anyhow!("{}", s.message()))?;
            (
                Some((sold.len() - distinct.len()) as u64),
                Some(u64::from(show.booked)),
            )
        }
        Workload::Fill => {
            // Each seat is asked for once, so a seat sold twice would show
            // as more seats booked than sales acknowledged.
            let ours: BTreeSet<&String> = show_ids.iter().collect();
            let booked = admin
                .list_shows(false)
                .await
                .map_err(boxoffice_cli::output::api)?
                .iter()
                .filter(|show| ours.contains(&show.show_id))
                .map(|show| u64::from(show.booked))
                .sum();
            (None, Some(booked))
        }
        _ => (None, None),
    };
    let failover = match killer {
        None => None,
        Some(killer) => {
            let (kills, killed) = killer.await??;
            completed.sort_unstable();
            let mut gaps = gaps_after(&kills, &completed, started.elapsed());
            let confirmed: BTreeSet<String> = admin
                .list_bookings(false)
                .await
                .map_err(boxoffice_cli::output::api)?
                .into_iter()
                .filter(|b| b.status == v1::BookingStatus::Confirmed as i32)
                .map(|b| b.booking_id)
                .collect();
            let lost = acknowledged
                .iter()
                .filter(|id| !confirmed.contains(*id))
                .count() as u64;
            let max_gap_ms = gaps.iter().copied().fold(0.0, f64::max);
            gaps.sort_by(f64::total_cmp);
            let median_gap_ms = gaps.get(gaps.len() / 2).copied().unwrap_or(0.0);
            Some(FailoverReport {
                killed,
                gaps_ms: gaps,
                median_gap_ms,
                max_gap_ms,
                lost,
            })
        }
    };
    let report = Report {
        workload: args.workload,
        clients: args.clients,
        ticket_types: args.ticket_types.clone(),
        seconds: elapsed,
        bookings: writes.len(),
        bookings_per_s: writes.len() as f64 / elapsed,
        booking_latency: Latency::of(&writes),
        reads: reads.len(),
        reads_per_s: reads.len() as f64 / elapsed,
        read_latency: Latency::of(&reads),
        errors,
        sold_out_after_s: sold_out_at,
        sold_twice,
        booked_in_show,
        failover,
        cpu,
    };
    if global.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report, shows, args.seats_per_booking, ran_out);
    }
    if report.failover.as_ref().is_some_and(|f| f.lost > 0) {
        anyhow::bail!("acknowledged bookings were lost");
    }
    // Every acknowledged sale must be booked; a failed request may still
    // have gone through (a reply lost to a timeout), so the shows may
    // count up to that many more, never more than that.
    let failed: u64 = report.errors.values().sum();
    // `fill` of performances books one ticket of each type an order.
    let k = match args.workload {
        Workload::Fill => args.ticket_types.len().max(1) as u64,
        _ => 1,
    };
    if report.sold_twice.is_some_and(|n| n > 0)
        || report
            .booked_in_show
            .is_some_and(|b| b < k * report.bookings || b > k * (report.bookings + failed))
    {
        anyhow::bail!(
            "a seat was sold twice or a sale is missing: {} seat(s) acknowledged twice; the \
             shows count {:?} booked for {} acknowledged sales and {failed} failed requests",
            report.sold_twice.unwrap_or(0),
            report.booked_in_show,
            report.bookings
        );
    }
    Ok(())
}

fn print_report(r: &Report, shows: u32, k: u32, ran_out: u32) {
    let typed = if r.ticket_types.is_empty() {
        String::new()
    } else {
        format!(" (performances; tickets {})", r.ticket_types.join(", "))
    };
    println!(
        "{:?}: {} clients on {shows} show(s), {k} seat(s) per booking{typed}, {:.1} s",
        r.workload, r.clients, r.seconds
    );
    let l = &r.booking_latency;
    println!(
        "bookings: {} ok, {:.0}/s; latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        r.bookings, r.bookings_per_s, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
    );
    if r.reads > 0 {
        let l = &r.read_latency;
        println!(
            "reads: {} ok, {:.0}/s; latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
            r.reads, r.reads_per_s, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
        );
    }
    if !r.errors.is_empty() {
        println!("errors: {:?}", r.errors);
    }
    if let Some(s) = r.sold_out_after_s {
        println!("sold out after {s:.2} s");
    }
    if let (Some(twice), Some(booked)) = (r.sold_twice, r.booked_in_show) {
        println!(
            "seats sold twice: {twice}; the show counts {booked} booked for {} sales",
            r.bookings
        );
    } else if let Some(booked) = r.booked_in_show {
        println!(
            "the shows count {booked} seats booked for {} sales",
            r.bookings
        );
    }
    if let Some(f) = &r.failover {
        println!(
            "leader kills: nodes {:?}; longest gap after each (sorted) {:?} ms; median {:.0} ms, max {:.0} ms; acknowledged bookings lost: {}",
            f.killed, f.gaps_ms, f.median_gap_ms, f.max_gap_ms, f.lost
        );
    }
    if let Some(c) = &r.cpu {
        let roles: Vec<String> = c
            .by_role
            .iter()
            .map(|(role, s)| format!("{role} {s:.2}"))
            .collect();
        let per_booking = match (c.per_booking_us, c.machine_per_booking_us) {
            (Some(us), Some(machine)) => {
                format!("; per booking {us:.0} µs (machine {machine:.0} µs)")
            }
            _ => String::new(),
        };
        println!(
            "cpu s: cluster {:.2} ({}), bench {:.2}, machine {:.2}{per_booking}",
            c.cluster_s,
            roles.join(", "),
            c.bench_s,
            c.machine_s
        );
    }
    if ran_out > 0 {
        println!("note: {ran_out} client(s) ran out of seats before the end");
    }
}
