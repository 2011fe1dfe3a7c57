//! `boxoffice torture`: a fault-injection run against a real cluster, with
//! a checker over its history and the final state of every replica.
//!
//! The run starts 3 or 5 nodes and the payment service as processes, each
//! node-to-node and node-to-payment link through its own proxy
//! (`proxy`), and drives concurrent clients that buy seats through the
//! whole checkout and read seats linearizably, recording every operation
//! ([`history`]). On a seeded schedule it injects each kind of fault
//! ([`faults`]) for a few seconds, heals it and measures how long until a
//! write succeeds again. At the end it heals everything, lets every
//! checkout settle, and checks (rules numbered as in docs/testing.md):
//!
//! 1-4 with [`checker`]: no seat sold twice, no acknowledged booking lost,
//! no booking nobody attempted, every seat's history linearizable;
//! 5. the bookings reconcile exactly with the payment ledger;
//! 6. every replica reaches the same applied index with the same state
//!    digest, and serves the same bookings;
//! 7. after each heal, a write succeeded within 5 s.
//!
//! Then it kills every node, restarts them cold, and checks 1-4 and 6 again
//! against the restarted cluster.

pub mod checker;
mod clients;
mod cluster;
pub mod faults;
pub mod history;
mod proxy;
mod replicas;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use boxoffice_client::Client;
use boxoffice_client::audit::reconcile;
use boxoffice_client::proto as v1;
use boxoffice_proto::v1::ListTransactionsRequest;
use boxoffice_proto::v1::payment_service_client::PaymentServiceClient;
use clap::Args;
use serde::Serialize;
use tokio::sync::Mutex as AsyncMutex;

use boxoffice_launch::{DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD};

use checker::{FinalBooking, Violation};
use cluster::Cluster;
use faults::{Fault, Rng};
use history::{Action, History, Op, Outcome};

use clients::*;
use replicas::*;

/// Seats per show; one show is "hot" at a time.
const SEATS: u32 = 1_000;
/// How long each show is the hot one.
const SHOW_WINDOW: Duration = Duration::from_secs(10);
/// Rule 7: a write must succeed this soon after a fault heals.
const RECOVERY_LIMIT: Duration = Duration::from_secs(5);
/// Each operation's deadline; past it the outcome is unknown.
const OP_DEADLINE: Duration = Duration::from_secs(5);
/// Seats of the show that recovery probes book (the most a show may have).
const PROBE_SEATS: u32 = 100_000;
/// Sessions are renewed this often (access tokens live 15 minutes).
const RELOGIN_EVERY: Duration = Duration::from_secs(600);

#[derive(Args, Debug, Clone)]
pub struct TortureArgs {
    /// Booking nodes: 3 or 5.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Seconds of fault schedule (each fault 2-4 s, then a write probe and
    /// 1.5 s of calm); every kind runs at least once whatever this says.
    #[arg(long, default_value_t = 90)]
    pub duration: u64,
    /// Seed of the schedule and the clients' choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Concurrent clients, each its own user.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Fault kinds to inject, in turn (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub faults: Vec<Fault>,
    /// Where to keep the history, logs and report (default: a new
    /// directory under the system's temp dir, kept).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Runs the nodes with BOXOFFICE_UNSAFE_STALE_READS=1 (debug builds):
    /// the suite must then report violations.
    #[arg(long)]
    pub unsafe_stale_reads: bool,
}

/// One fault as injected.
#[derive(Serialize)]
struct FaultRecord {
    kind: Fault,
    what: String,
    at_s: f64,
    healed_at_s: f64,
    /// From heal to the first successful write.
    recovery_ms: Option<u64>,
    note: Option<String>,
}

/// The run's report (also written to report.json).
#[derive(Serialize)]
struct Report {
    nodes: u64,
    seed: u64,
    seconds: f64,
    operations: usize,
    ok: usize,
    failed: usize,
    unknown: usize,
    bookings_confirmed: usize,
    /// The highest Raft term at the end: every term began with an election
    /// (won or not).
    final_term: u64,
    /// Leader changes seen between faults.
    leader_changes: u64,
    faults: Vec<FaultRecord>,
    violations: Vec<Violation>,
    out_dir: PathBuf,
}

/// Logs a line with the seconds since start.
fn say(start: Instant, line: &str) {
    eprintln!("[{:7.2}s] {line}", start.elapsed().as_secs_f64());
}

fn card() -> v1::Card {
    v1::Card {
        number: "4242424242424242".into(),
        exp_month: 12,
        exp_year: 2099,
        cvc: "123".into(),
    }
}

pub async fn run(args: TortureArgs) -> anyhow::Result<()> {
    if ![3, 5].contains(&args.nodes) {
        bail!("--nodes must be 3 or 5, not {}", args.nodes);
    }
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    if cfg!(not(debug_assertions)) && args.unsafe_stale_reads {
        bail!("--unsafe-stale-reads exists only in debug builds (cargo build, not --release)");
    }
    let kinds = if args.faults.is_empty() {
        Fault::all()
    } else {
        args.faults.clone()
    };
    if cfg!(not(debug_assertions))
        && let Some(kind) = kinds.iter().find(|k| k.crash_point().is_some())
    {
        bail!(
            "{kind:?} needs crash points, which exist only in debug builds (cargo build, not --release)"
        );
    }
    let out = match &args.out {
        Some(out) => out.clone(),
        None => tempfile::Builder::new()
            .prefix("boxoffice-torture-")
            .tempdir()?
            .keep(),
    };
    if out.join("cluster").exists() {
        bail!(
            "{} already holds a run: pass an empty or new --out directory",
            out.display()
        );
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let started = Instant::now();
    say(
        started,
        &format!(
            "torture: {} nodes, seed {}, output in {}",
            args.nodes,
            args.seed,
            out.display()
        ),
    );

    let exe = std::env::current_exe().context("locating the boxoffice binary")?;
    let node_env = if args.unsafe_stale_reads {
        vec![(
            boxoffice_node::crash::UNSAFE_STALE_READS_VAR.to_owned(),
            "1".to_owned(),
        )]
    } else {
        vec![]
    };
    let cluster =
        Arc::new(Cluster::start(exe, &out.join("cluster"), args.nodes, args.seed, node_env).await?);
    let first_leader = cluster.wait_leader(Duration::from_secs(30)).await?;
    say(
        started,
        &format!("cluster up; leader is node {first_leader}"),
    );

    let mut admin = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match login(&cluster, DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD).await {
                Ok(token) => {
                    break Buyer {
                        email: DEV_ADMIN_EMAIL.into(),
                        password: DEV_ADMIN_PASSWORD.into(),
                        user_id: String::new(),
                        client: Client::new(&cluster.endpoints())?
                            .with_token(token)
                            .with_deadline(Duration::from_secs(10)),
                        logged_in: Instant::now(),
                    };
                }
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    };
    admin.user_id = Client::new(&[cluster.auth_addr.as_str()])?
        .with_optional_token(admin.client.token())
        .who_am_i()
        .await?
        .user_id;
    // Every kind runs once even if the duration is shorter (about 6 s each).
    let schedule_secs = args.duration.max(6 * kinds.len() as u64);
    let shows = (schedule_secs / SHOW_WINDOW.as_secs() + 3) as usize;
    for i in 0..shows {
        admin
            .client
            .create_show(
                &format!("t{i}"),
                &format!("Torture {i}"),
                SEATS,
                1_000,
                i64::MAX / 2,
            )
            .await?;
    }
    admin
        .client
        .create_show("probe", "Recovery probes", PROBE_SEATS, 100, i64::MAX / 2)
        .await?;

    let history = Arc::new(History::create(&out.join("history.jsonl"))?);
    let shared = Arc::new(Shared {
        cluster: cluster.clone(),
        history: history.clone(),
        recent: AsyncMutex::new(Vec::new()),
        shows,
        stop: AtomicBool::new(false),
        started,
    });
    let mut buyers = vec![Account {
        user_id: admin.user_id.clone(),
        email: admin.email.clone(),
        password: admin.password.clone(),
    }];
    let mut tasks = Vec::new();
    for i in 0..args.clients {
        let buyer = register(&cluster, &format!("buyer{i}@torture.test")).await?;
        buyers.push(Account {
            user_id: buyer.user_id.clone(),
            email: buyer.email.clone(),
            password: buyer.password.clone(),
        });
        tasks.push(tokio::spawn(client_loop(
            shared.clone(),
            buyer,
            args.seed.wrapping_add(i as u64 + 1),
        )));
    }
    say(
        started,
        &format!("{} clients booking and reading", args.clients),
    );

    let mut rng = Rng::new(args.seed);
    let mut violations = Vec::new();
    let mut records = Vec::new();
    let mut next_probe_seat = 1;
    let mut previous_leader = first_leader;
    let mut leader_changes = 0;
    let schedule_end = Instant::now() + Duration::from_secs(args.duration);
    let mut turn = 0;
    // Every kind at least once, then on in turn until the duration ends.
    while Instant::now() < schedule_end || turn < kinds.len() {
        let kind = kinds[turn % kinds.len()];
        turn += 1;
        let leader = cluster
            .wait_leader(Duration::from_secs(10))
            .await
            .unwrap_or(first_leader);
        if leader != previous_leader {
            leader_changes += 1;
            previous_leader = leader;
        }
        let at = started.elapsed().as_secs_f64();
        let injected = faults::inject(&cluster, kind, leader, &mut rng)?;
        say(
            started,
            &format!("fault {kind:?}: {}", injected.description),
        );
        if let Some(id) = injected.crash_point_node() {
            // Send checkouts to that node itself, so that one reaches the
            // crash point.
            trigger_checkouts(&cluster, &mut admin, &history, id, &mut next_probe_seat).await;
        }
        tokio::time::sleep(Duration::from_millis(2_000 + rng.below(2_000))).await;
        let note = faults::heal(&cluster, &injected)?;
        let healed_at = started.elapsed().as_secs_f64();
        let recovery = probe_write(
            &cluster,
            &mut admin,
            &history,
            &mut next_probe_seat,
            Duration::from_secs(30),
        )
        .await;
        let recovery_ms = recovery.map(|d| d.as_millis() as u64);
        match recovery {
            Some(d) if d <= RECOVERY_LIMIT => {}
            other => violations.push(Violation {
                rule: 7,
                detail: format!(
                    "after {kind:?} ({}) healed, the first write took {}",
                    injected.description,
                    other.map_or("more than 30 s".into(), |d| format!("{} ms", d.as_millis()))
                ),
            }),
        }
        say(
            started,
            &format!(
                "healed; a write succeeded after {}{}",
                recovery_ms.map_or("never".into(), |ms| format!("{ms} ms")),
                note.as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ),
        );
        records.push(FaultRecord {
            kind,
            what: injected.description,
            at_s: at,
            healed_at_s: healed_at,
            recovery_ms,
            note,
        });
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }

    shared.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let ops = history.ops();
    say(
        started,
        &format!("schedule done: {} operations; checking", ops.len()),
    );
    for name in cluster.revive()? {
        say(
            started,
            &format!("{name} had stopped on its own: restarted"),
        );
    }
    let before = check_replicas(
        &cluster,
        &buyers,
        &ops,
        "after the faults",
        &mut violations,
        started,
    )
    .await?;

    // A cold restart of the whole cluster must lose nothing.
    for id in cluster.ids() {
        cluster.kill(&format!("node{id}"));
    }
    for id in cluster.ids() {
        cluster.spawn_node(id)?;
    }
    cluster.wait_leader(Duration::from_secs(30)).await?;
    say(started, "every node killed and restarted");
    let after = check_replicas(
        &cluster,
        &buyers,
        &ops,
        "after a cold restart",
        &mut violations,
        started,
    )
    .await?;
    let confirmed = |bs: &[v1::Booking]| -> BTreeSet<String> {
        bs.iter()
            .filter(|b| b.status == v1::BookingStatus::Confirmed as i32)
            .map(|b| b.booking_id.clone())
            .collect()
    };
    let lost: Vec<String> = confirmed(&before)
        .difference(&confirmed(&after))
        .cloned()
        .collect();
    if !lost.is_empty() {
        violations.push(Violation {
            rule: 2,
            detail: format!("confirmed before the cold restart, gone after: {lost:?}"),
        });
    }

    let mut final_term = 0;
    for id in cluster.ids() {
        if let Ok((status, _)) = cluster.metrics(id, false).await {
            final_term = final_term.max(status.term);
        }
    }
    let count = |f: fn(&Outcome) -> bool| ops.iter().filter(|op| f(&op.outcome)).count();
    let report = Report {
        nodes: args.nodes,
        seed: args.seed,
        seconds: started.elapsed().as_secs_f64(),
        operations: ops.len(),
        ok: count(|o| matches!(o, Outcome::Booked { .. } | Outcome::Seat { .. })),
        failed: count(|o| matches!(o, Outcome::Fail { .. })),
        unknown: count(|o| matches!(o, Outcome::Unknown { .. })),
        bookings_confirmed: confirmed(&after).len(),
        final_term,
        leader_changes,
        faults: records,
        violations,
        out_dir: out.clone(),
    };
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    cluster.stop();
    println!(
        "torture: {} nodes, seed {}, {:.0} s: {} operations ({} ok, {} failed, {} unknown), {} bookings confirmed, {} faults, {} leader changes seen, term {} at the end",
        report.nodes,
        report.seed,
        report.seconds,
        report.operations,
        report.ok,
        report.failed,
        report.unknown,
        report.bookings_confirmed,
        report.faults.len(),
        report.leader_changes,
        report.final_term
    );
    let mut per_kind: BTreeMap<Fault, Vec<u64>> = BTreeMap::new();
    for f in &report.faults {
        per_kind
            .entry(f.kind)
            .or_default()
            .push(f.recovery_ms.unwrap_or(u64::MAX));
    }
    for (kind, ms) in per_kind {
        println!(
            "  {kind:?}: {} time(s), write recovered after {:?} ms",
            ms.len(),
            ms
        );
    }
    println!(
        "history: {}, report: {}",
        out.join("history.jsonl").display(),
        out.join("report.json").display()
    );
    if report.violations.is_empty() {
        println!("verdict: no violations of rules 1-7");
        Ok(())
    } else {
        for v in &report.violations {
            println!("VIOLATION of rule {}: {}", v.rule, v.detail);
        }
        bail!("{} violation(s)", report.violations.len())
    }
}
