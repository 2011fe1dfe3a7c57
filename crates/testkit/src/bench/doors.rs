//! `boxoffice bench --workload doors`: the doors of one performance.
//!
//! Books out a performance of `--seats` places (2,000 by default) in
//! bookings of ten, reads every ticket's signed code, then runs `--gates`
//! gates (20 by default) at once, each starting on another node and
//! scanning its share of the tickets live, one scan at a time as a door
//! does, then the share of the gate before it (a ticket shown twice).
//! Reports scans per second and the time from scan to answer
//! (p50/p90/p99/max); checks that every ticket was admitted exactly once,
//! every other scan told "already in", and that the door counts them all.
//!
//! Then measures what a gate that works offline does when the doors open:
//! loading the door list (the RPC, saving it synced, building the verifier
//! and the index) exactly as `boxoffice checkin --offline-dir` does, for
//! this performance and for a second one of `--big-list` tickets (20,000
//! by default); the median of five loads of each.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use boxoffice_cli::door::OfflineDoor;
use boxoffice_client::Client;
use boxoffice_client::proto::ScanResult;
use hdrhistogram::Histogram;
use serde::Serialize;

use super::{Latency, latency_histogram};

/// Places a booking of the benchmark takes.
const PER_BOOKING: usize = 10;
/// Loads of a door list whose median is reported.
const LOADS: usize = 5;

/// The result of a doors run, as `--json` prints it.
#[derive(Serialize)]
pub struct DoorsReport {
    gates: u32,
    tickets: u32,
    seconds: f64,
    /// Every scan: each ticket twice, at two gates.
    scans: u64,
    scans_per_s: f64,
    scan_latency: Latency,
    admitted: u64,
    already_in: u64,
    /// Scans that found anything else, or failed (must be 0).
    wrong: u64,
    /// The door's own count of tickets in at the end.
    inside: u32,
    /// Offline list loads.
    list_loads: Vec<ListLoad>,
    /// The first unexpected answer or error, if any.
    first_error: Option<String>,
}

/// How long a gate took to load its offline list.
#[derive(Serialize)]
pub struct ListLoad {
    tickets: usize,
    bytes: u64,
    median_ms: f64,
}

/// Books out `show` of `seats` places as the administrator, `workers`
/// bookings at a time (worker `w` with `client(w)`); returns every
/// ticket's code.
async fn sell_out(
    admin: &Client,
    client: &impl Fn(u32) -> anyhow::Result<Client>,
    show: &str,
    seats: u32,
    workers: u32,
) -> anyhow::Result<Vec<String>> {
    admin
        .create_show(show, "doors benchmark", seats, 0, i64::MAX / 2)
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))
        .context("creating the benchmark performance")?;
    let places: Vec<u32> = (1..=seats).collect();
    let chunks: Arc<Vec<Vec<u32>>> =
        Arc::new(places.chunks(PER_BOOKING).map(<[u32]>::to_vec).collect());
    let workers = workers.max(1);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let admin = client(w)?;
        let chunks = chunks.clone();
        let show = show.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            for chunk in chunks.iter().skip(w as usize).step_by(workers as usize) {
                let booking = admin
                    .book(&show, chunk)
                    .await
                    .map_err(|s| anyhow::anyhow!("booking: {}", s.message()))?;
                let tickets = admin
                    .list_tickets(&booking.booking_id, false)
                    .await
                    .map_err(|s| anyhow::anyhow!("listing tickets: {}", s.message()))?;
                codes.extend(tickets.into_iter().map(|t| t.code));
            }
            anyhow::Ok(codes)
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.extend(t.await??);
    }
    anyhow::ensure!(
        codes.len() == seats as usize,
        "sold {} tickets of {seats}",
        codes.len()
    );
    Ok(codes)
}

/// One gate: scans its codes in turn; returns its latencies and counts
/// (admitted, already in, anything else).
async fn gate(
    client: Client,
    show: String,
    name: String,
    codes: Vec<String>,
) -> (Histogram<u64>, [u64; 3], Option<String>) {
    let mut latency = latency_histogram();
    let mut found = [0u64; 3];
    let mut first_error = None;
    for code in &codes {
        let id = boxoffice_client::new_request_id();
        let sent = Instant::now();
        let answer = client.check_in(&id, &show, &name, code, 0).await;
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        // Out of range only past a minute: counted as the longest.
        let _ = latency.record(micros.min(latency.high()));
        match answer {
            Ok(a) => match ScanResult::try_from(a.result) {
                Ok(ScanResult::Admitted) => found[0] += 1,
                Ok(ScanResult::AlreadyIn) => found[1] += 1,
                _ => {
                    found[2] += 1;
                    first_error.get_or_insert(a.message);
                }
            },
            Err(status) => {
                found[2] += 1;
                first_error.get_or_insert(status.to_string());
            }
        }
    }
    (latency, found, first_error)
}

/// The median time to load `show`'s door list as an offline gate does
/// (into `dir`, which holds nothing else).
async fn list_load(client: &Client, dir: &Path, show: &str) -> anyhow::Result<ListLoad> {
    let mut times = Vec::new();
    for _ in 0..LOADS {
        let started = Instant::now();
        OfflineDoor::open(client, dir, show, "bench").await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let list = client
        .door_list(show, false)
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?;
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "list") {
            bytes += std::fs::metadata(&path)?.len();
        }
    }
    Ok(ListLoad {
        tickets: list.tickets.len(),
        bytes,
        median_ms: times[times.len() / 2],
    })
}

/// Runs the doors workload as `admin`; `gate_client(g)` makes gate `g`'s
/// client.
pub async fn run(
    admin: &Client,
    gate_client: impl Fn(u32) -> anyhow::Result<Client>,
    run_id: &str,
    gates: u32,
    seats: u32,
    big_list: u32,
) -> anyhow::Result<DoorsReport> {
    anyhow::ensure!((1..=200).contains(&gates), "--gates must be 1 to 200");
    let show = format!("bench-{run_id}-door");
    let codes = sell_out(admin, &gate_client, &show, seats, gates).await?;
    let tickets = u32::try_from(codes.len()).unwrap_or(u32::MAX);
    let share = |g: u32| -> Vec<String> {
        codes
            .iter()
            .enumerate()
            .filter(|(i, _)| (*i as u64) % u64::from(gates) == u64::from(g))
            .map(|(_, c)| c.clone())
            .collect()
    };
    let mut tasks = Vec::new();
    let started = Instant::now();
    for g in 0..gates {
        // Its own share, then the one before (shown again at this gate;
        // whichever scan of a ticket comes first admits it).
        let mut plan = share(g);
        if gates > 1 {
            plan.extend(share((g + gates - 1) % gates));
        }
        let client = gate_client(g)?;
        tasks.push(tokio::spawn(gate(
            client,
            show.clone(),
            format!("gate{g}"),
            plan,
        )));
    }
    let mut latency = latency_histogram();
    let mut found = [0u64; 3];
    let mut first_error = None;
    for t in tasks {
        let (l, f, e) = t.await?;
        first_error = first_error.or(e);
        latency.add(l)?;
        for (total, n) in found.iter_mut().zip(f) {
            *total += n;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let counts = admin
        .door_counts(&show, false)
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?;
    let dir = || tempfile::tempdir().context("a directory for a door list");
    let mut list_loads = vec![list_load(admin, dir()?.path(), &show).await?];
    if big_list > 0 {
        let big = format!("bench-{run_id}-list");
        sell_out(admin, &gate_client, &big, big_list, gates).await?;
        list_loads.push(list_load(admin, dir()?.path(), &big).await?);
    }
    let scans = latency.len();
    Ok(DoorsReport {
        gates,
        tickets,
        seconds,
        scans,
        scans_per_s: scans as f64 / seconds,
        scan_latency: Latency::of(&latency),
        admitted: found[0],
        already_in: found[1],
        wrong: found[2],
        inside: counts.inside,
        list_loads,
        first_error,
    })
}

/// Prints a doors report for people.
pub fn print(r: &DoorsReport) {
    let l = &r.scan_latency;
    println!(
        "doors: {} gates, {} tickets, {:.1} s",
        r.gates, r.tickets, r.seconds
    );
    println!(
        "scans: {} ({} admitted, {} already in, {} other), {:.0}/s; scan to answer ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        r.scans,
        r.admitted,
        r.already_in,
        r.wrong,
        r.scans_per_s,
        l.p50_ms,
        l.p90_ms,
        l.p99_ms,
        l.max_ms
    );
    println!("the door counts {} in", r.inside);
    if let Some(e) = &r.first_error {
        println!("first unexpected answer: {e}");
    }
    for load in &r.list_loads {
        println!(
            "offline list of {} tickets ({} bytes): loaded in {:.1} ms (median of {LOADS})",
            load.tickets, load.bytes, load.median_ms
        );
    }
}

/// Whether the run kept the door's promise: each ticket in exactly once,
/// every other scan told so.
pub fn check(r: &DoorsReport) -> anyhow::Result<()> {
    let repeats = if r.gates > 1 { u64::from(r.tickets) } else { 0 };
    anyhow::ensure!(
        r.wrong == 0
            && r.admitted == u64::from(r.tickets)
            && r.already_in == repeats
            && r.inside == r.tickets,
        "the door miscounted: {} admitted and {} already in for {} tickets, {} unexpected, {} counted in",
        r.admitted,
        r.already_in,
        r.tickets,
        r.wrong,
        r.inside
    );
    Ok(())
}
