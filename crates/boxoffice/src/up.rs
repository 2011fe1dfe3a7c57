//! `boxoffice up`: the whole local system with one command.
//!
//! Three booking nodes, the auth service, the payment service, the booking
//! assistant and the gateway, each a separate OS process (this same
//! binary, `node`, `auth`, `payment`, `chatbot` and `gateway` subcommands),
//! so killing one is a real crash. Token signing keys are generated under
//! `<data>/keys`, and the cluster CA with every process's certificate under
//! `<data>/certs` (keys 0600), on the first run; nodes talk to each other,
//! and to the payment service, over mutual TLS with them. This is a
//! development cluster: the password policy is relaxed and the
//! administrator `admin@gmail.com` / `admin123` is created, as old clients
//! and demos expect; both are said when it starts. The configs, ports and
//! processes come from the shared launcher ([`boxoffice_launch::local`]):
//! `up` writes each process's config next to its data, starts the
//! processes in their own process group (so a Ctrl-C reaches `up` alone,
//! which then stops them in order), waits for a leader, prints where
//! everything listens, and on Ctrl-C or SIGTERM stops every process with
//! SIGTERM, waiting for each to exit. A process that dies on its own (say,
//! `kill -9` of a node to watch a failover) is reported and started again
//! after a backoff (1 s, then 2 s, then 4 s), the others serving
//! meanwhile; one that dies [`MAX_QUICK_RESTARTS`] times, each within
//! [`STABLE_AFTER`] of its start, is left down and said to be; `up` fails
//! once none is left. A process killed with SIGKILL did not fail: someone
//! (an operator watching a failover, the `failover` bench, the kernel out
//! of memory) killed it. It is started again after 1 s, and that does not
//! count towards leaving it down; killed again and again within 3 s of
//! its start (out of memory as it starts), it waits longer each time
//! (2 s, 4 s, … at most 30 s) so that it does not take the machine's CPU
//! starting over.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use boxoffice_cli::output::exit;
use boxoffice_client::Client;
use boxoffice_launch::local::Plan;
use boxoffice_launch::{DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD, Output, Processes};
use tokio::sync::watch;
use tracing::{info, warn};

pub use boxoffice_launch::local::UpArgs;

/// How long `up` waits for the first leader.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a process gets to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times in a row a process that keeps dying soon after its start
/// is started again before `up` leaves it down.
pub const MAX_QUICK_RESTARTS: u32 = 3;
/// A process that ran this long before dying was healthy: its count of
/// quick restarts starts over.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);
/// The wait before the first restart; it doubles with each quick one.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// A process killed (SIGKILL) this soon after its start was killed
/// "quickly": the kernel out of memory at every start, say.
const KILLED_SOON: Duration = Duration::from_secs(3);
/// The longest wait before starting again a process killed quickly again
/// and again, or stopped for a cause that lasts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// When to start again a process that died on its own.
#[derive(Debug, Default)]
struct Restarts {
    seen: BTreeMap<String, Seen>,
}

/// What [`Restarts`] knows of one process.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// When it was last started.
    started: Instant,
    /// Its quick restarts in a row (it failed soon after its start).
    quick: u32,
    /// The times in a row it was killed within [`KILLED_SOON`] of its
    /// start.
    quick_kills: u32,
    /// The times in a row it stopped for now, each before it had run
    /// [`STABLE_AFTER`].
    stops: u32,
}

/// How a process died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Death {
    /// It failed: an error exit, a panic, a signal other than SIGKILL.
    Failed,
    /// SIGKILL: an operator, the failover bench, the kernel out of memory.
    Killed,
    /// It stopped for a cause outside it that may pass (exit status
    /// [`exit::STOPPED_FOR_NOW`]: the payment ledger's disk full).
    StoppedForNow,
}

/// What to do about a process that died.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Start it again after this wait; this is restart number `attempt`.
    RestartIn { wait: Duration, attempt: u32 },
    /// It died too often right after starting: leave it down.
    GiveUp { restarts: u32 },
    /// It was killed (SIGKILL): start it again after this wait (1 s, or
    /// longer when it is killed soon after each start), whatever its count
    /// of quick restarts (which this leaves as it was).
    RestartKilled { wait: Duration },
    /// It stopped for now: start it again after this wait, which doubles
    /// (up to [`MAX_BACKOFF`]) while it keeps stopping soon after its start,
    /// however often: it serves again once its cause has passed.
    RestartLater { wait: Duration },
}

impl Restarts {
    /// Notes that `name` was started at `at`.
    fn started(&mut self, name: &str, at: Instant) {
        self.seen_at(name, at).started = at;
    }

    /// What is known of `name`, first seen at `at`.
    fn seen_at(&mut self, name: &str, at: Instant) -> &mut Seen {
        self.seen.entry(name.to_owned()).or_insert(Seen {
            started: at,
            quick: 0,
            quick_kills: 0,
            stops: 0,
        })
    }

    /// The wait before trying again to start `name`, whose start at `at`
    /// failed (no process to fork, the binary gone while it is replaced):
    /// a stop for now, since its cause is outside the process and may pass.
    fn start_failed(&mut self, name: &str, at: Instant) -> Duration {
        self.started(name, at);
        let seen = self.seen_at(name, at);
        seen.stops = in_a_row(seen.stops, true);
        doubled(seen.stops)
    }

    /// Decides about `name`, which died at `at`, as `how`.
    fn died(&mut self, name: &str, at: Instant, how: Death) -> Decision {
        let seen = self.seen_at(name, at);
        let ran = at.saturating_duration_since(seen.started);
        if how == Death::StoppedForNow {
            // A full disk stays full until someone frees it: start it
            // again and again, less often, without ever giving up.
            seen.stops = in_a_row(seen.stops, ran < STABLE_AFTER);
            return Decision::RestartLater {
                wait: doubled(seen.stops),
            };
        }
        if how == Death::Killed {
            // Killed while it had been running a while (an operator, the
            // failover bench): back in 1 s. Killed soon after each start
            // (out of memory as it starts): a wait that doubles, so that
            // it does not take the machine's CPU starting over and over.
            seen.quick_kills = in_a_row(seen.quick_kills, ran < KILLED_SOON);
            return Decision::RestartKilled {
                wait: doubled(seen.quick_kills),
            };
        }
        if ran >= STABLE_AFTER {
            seen.quick = 0;
        }
        let quick = seen.quick;
        if quick >= MAX_QUICK_RESTARTS {
            return Decision::GiveUp { restarts: quick };
        }
        seen.quick = quick + 1;
        Decision::RestartIn {
            wait: FIRST_BACKOFF * 2u32.pow(quick),
            attempt: quick + 1,
        }
    }
}

/// The count of quick deaths of one kind in a row, from `count` before
/// one that came `soon` after its start (or not: the count starts over).
fn in_a_row(count: u32, soon: bool) -> u32 {
    if soon { count.saturating_add(1) } else { 0 }
}

/// The wait before the restart after `times` deaths in a row of one
/// kind: [`FIRST_BACKOFF`] for the first, doubling up to [`MAX_BACKOFF`].
fn doubled(times: u32) -> Duration {
    let doublings = times.saturating_sub(1).min(5);
    (FIRST_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

/// How a process that exited with `status` died.
fn death(status: &std::process::ExitStatus) -> Death {
    use std::os::unix::process::ExitStatusExt;
    if status.signal() == Some(nix::sys::signal::Signal::SIGKILL as i32) {
        Death::Killed
    } else if status.code() == Some(i32::from(exit::STOPPED_FOR_NOW)) {
        Death::StoppedForNow
    } else {
        Death::Failed
    }
}

/// One shutdown request, observable any number of times.
fn shutdown_requested() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    let signalled = boxoffice_server::terminated();
    tokio::spawn(async move {
        signalled.await;
        let _ = tx.send(true);
    });
    rx
}

async fn wait_shutdown(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|requested| *requested).await;
}

/// Prints where everything listens, once a leader is known.
fn print_ready(args: &UpArgs, plan: &Plan, status: &boxoffice_client::proto::GetStatusResponse) {
    println!();
    println!(
        "Boxoffice is up ({} booking nodes, data in {}):",
        plan.nodes.len(),
        args.data_dir.display()
    );
    let _ =
        boxoffice_cli::commands::print_status(&boxoffice_cli::output::Output::new(false), status);
    println!(
        "auth service on {} (development password policy: 4+ characters); administrator {DEV_ADMIN_EMAIL} / {DEV_ADMIN_PASSWORD}",
        plan.auth.listen
    );
    println!(
        "payment service (mock card provider) on {}; test card 4242 4242 4242 4242 pays (as does any other valid number), 4000 0000 0000 9995 is declined; one card pays for at most {} seats of a show",
        plan.payment.listen,
        plan.nodes
            .first()
            .map_or(0, |n| n.booking.max_seats_per_card_per_show)
    );
    println!("booking assistant on {}", plan.chatbot.listen);
    let web = if args.client_tls() { "https" } else { "http" };
    println!(
        "web app on {web}://{0}/ (JSON API under /api, described by {web}://{0}/api/openapi.json)",
        plan.gateway.listen
    );
    if let Some(ca) = args.client_ca() {
        println!(
            "every client port serves TLS only: pass --ca {} to boxoffice (or trust that CA in the browser)",
            ca.display()
        );
    }
    let node_metrics: Vec<String> = plan
        .nodes
        .iter()
        .filter_map(|c| c.http_listen.as_ref())
        .map(|addr| format!("http://{addr}/metrics"))
        .collect();
    println!(
        "Prometheus metrics at {web}://{}/metrics (gateway) and {} (nodes)",
        plan.gateway.listen,
        node_metrics.join(", ")
    );
    println!("  try:  boxoffice            (the interactive shell)");
    println!("        boxoffice login {DEV_ADMIN_EMAIL} --password {DEV_ADMIN_PASSWORD}");
    println!("        boxoffice shows list   |   boxoffice cluster status   |   Ctrl-C to stop");
    println!();
}

/// Runs the local cluster until Ctrl-C or SIGTERM.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let mut shutdown = shutdown_requested();
    let plan = args.plan()?;
    let exe = std::env::current_exe().context("locating the boxoffice binary")?;
    let processes = Processes::new(exe, &args.data_dir)
        .output(Output::Prefixed)
        .own_process_groups()
        // `up --log-format json`: every process logs so.
        .global_arg(boxoffice_server::log_format().flag());
    if let Err(e) = plan.start(&processes) {
        processes.stop_all(STOP_TIMEOUT).await;
        return Err(e);
    }

    let addrs: Vec<String> = plan.nodes.iter().map(|c| c.listen.clone()).collect();
    let trust = match args.client_ca() {
        Some(ca) => Some(boxoffice_tls::client_trusting_file(&ca)?),
        None => None,
    };
    let client = Client::with_tls(&addrs, trust)?;
    let mut exited = tokio::select! {
        status = boxoffice_launch::wait_leader(&client, READY_TIMEOUT) => {
            match status {
                Some(status) => print_ready(&args, &plan, &status),
                None => warn!("no leader after {READY_TIMEOUT:?}; the nodes keep trying, see their logs"),
            }
            None
        }
        _ = wait_shutdown(&mut shutdown) => None,
        exited = processes.any_exit() => Some(exited),
    };
    // Run until Ctrl-C. A process that dies on its own is reported and
    // started again after a backoff; the others keep serving (the nodes as
    // long as they have a majority). A shutdown request seen above is
    // still visible to `wait_shutdown`.
    let mut restarts = Restarts::default();
    let started = Instant::now();
    for name in processes.names() {
        restarts.started(&name, started);
    }
    // Processes waiting to be started again, with when.
    let mut due: BTreeMap<String, Instant> = BTreeMap::new();
    loop {
        if let Some((name, status)) = exited.take() {
            match restarts.died(&name, Instant::now(), death(&status)) {
                Decision::RestartKilled { wait } => {
                    warn!(
                        process = %name,
                        status = %status,
                        "{name} was killed ({status}); starting it again in {}s",
                        wait.as_secs()
                    );
                    due.insert(name, Instant::now() + wait);
                }
                Decision::RestartLater { wait } => {
                    warn!(
                        process = %name,
                        status = %status,
                        "{name} stopped for a cause that may pass ({status}; see its last lines above); starting it again in {}s, and again until it stays up",
                        wait.as_secs()
                    );
                    due.insert(name, Instant::now() + wait);
                }
                Decision::RestartIn { wait, attempt } => {
                    warn!(
                        process = %name,
                        status = %status,
                        "{name} exited on its own ({status}); starting it again in {}s (restart {attempt} of at most {MAX_QUICK_RESTARTS} in a row)",
                        wait.as_secs()
                    );
                    due.insert(name, Instant::now() + wait);
                }
                Decision::GiveUp { restarts } => {
                    let subcommand = if name.starts_with("node") {
                        "node"
                    } else {
                        name.as_str()
                    };
                    warn!(
                        process = %name,
                        status = %status,
                        "{name} exited on its own ({status}) again after {restarts} restarts, each within {}s of its start; leaving it down (see its log above; start it by hand with `boxoffice {subcommand} --config {}`)",
                        STABLE_AFTER.as_secs(),
                        processes.config_path(&name).display()
                    );
                    if processes.is_empty() && due.is_empty() {
                        bail!("every process has exited");
                    }
                }
            }
        }
        let next = due
            .iter()
            .min_by_key(|(_, at)| **at)
            .map(|(n, at)| (n.clone(), *at));
        let restart_due = async {
            match &next {
                Some((_, at)) => tokio::time::sleep_until((*at).into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wait_shutdown(&mut shutdown) => break,
            e = processes.any_exit() => exited = Some(e),
            () = restart_due => {
                let Some((name, _)) = next else { continue };
                due.remove(&name);
                match processes.relaunch(&name) {
                    Ok(()) => {
                        restarts.started(&name, Instant::now());
                        info!(process = %name, "{name} started again");
                    }
                    Err(e) => {
                        let now = Instant::now();
                        let wait = restarts.start_failed(&name, now);
                        warn!(process = %name, "{name} could not be started again: {e:#}; trying again in {}s", wait.as_secs());
                        due.insert(name, now + wait);
                    }
                }
            }
        }
    }
    processes.stop_all(STOP_TIMEOUT).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_keeps_dying_is_restarted_with_backoff_then_left_down() {
        let mut restarts = Restarts::default();
        let t0 = Instant::now();
        restarts.started("node2", t0);
        let mut at = t0;
        for (attempt, wait) in [(1, 1), (2, 2), (3, 4)] {
            at += Duration::from_secs(5);
            assert_eq!(
                restarts.died("node2", at, Death::Failed),
                Decision::RestartIn {
                    wait: Duration::from_secs(wait),
                    attempt
                }
            );
            restarts.started("node2", at);
        }
        at += Duration::from_secs(5);
        assert_eq!(
            restarts.died("node2", at, Death::Failed),
            Decision::GiveUp { restarts: 3 }
        );
        // Another process has its own count.
        restarts.started("auth", t0);
        assert!(matches!(
            restarts.died("auth", at, Death::Failed),
            Decision::RestartIn { attempt: 1, .. }
        ));
    }

    /// The wait `restarts` decides on for `name`, killed at `at`.
    fn killed(restarts: &mut Restarts, name: &str, at: Instant) -> Duration {
        match restarts.died(name, at, Death::Killed) {
            Decision::RestartKilled { wait } => wait,
            other => panic!("a killed process was not started again: {other:?}"),
        }
    }

    #[test]
    fn a_killed_process_is_always_started_again_and_keeps_its_count() {
        let mut restarts = Restarts::default();
        let t0 = Instant::now();
        restarts.started("node3", t0);
        let mut at = t0;
        // Killed ten times in a minute (the failover bench): back every time.
        for _ in 0..10 {
            at += Duration::from_secs(5);
            assert_eq!(killed(&mut restarts, "node3", at), FIRST_BACKOFF);
            restarts.started("node3", at);
        }
        // Its own failures are still counted from where they were.
        at += Duration::from_secs(1);
        assert_eq!(
            restarts.died("node3", at, Death::Failed),
            Decision::RestartIn {
                wait: FIRST_BACKOFF,
                attempt: 1
            }
        );
    }

    #[test]
    fn a_process_killed_soon_after_each_start_waits_longer_each_time() {
        let mut restarts = Restarts::default();
        let mut at = Instant::now();
        restarts.started("node1", at);
        // Out of memory a second after each start.
        for wait in [1, 2, 4, 8, 16, 30, 30, 30] {
            at += Duration::from_secs(1);
            assert_eq!(
                killed(&mut restarts, "node1", at),
                Duration::from_secs(wait)
            );
            at += Duration::from_secs(wait);
            restarts.started("node1", at);
        }
        // Killed after running a while: back in 1 s, the count started over.
        at += KILLED_SOON;
        assert_eq!(killed(&mut restarts, "node1", at), FIRST_BACKOFF);
        restarts.started("node1", at);
        at += Duration::from_secs(1);
        assert_eq!(killed(&mut restarts, "node1", at), FIRST_BACKOFF);
    }

    #[test]
    fn a_start_that_fails_is_tried_again_later_and_later() {
        let mut restarts = Restarts::default();
        let at = Instant::now();
        restarts.started("payment", at);
        let waits: Vec<u64> = (0..7)
            .map(|_| restarts.start_failed("payment", at).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn sigkill_and_a_stop_for_now_are_told_from_other_deaths() {
        use std::os::unix::process::ExitStatusExt;
        let death = |raw| death(&std::process::ExitStatus::from_raw(raw));
        assert_eq!(death(9), Death::Killed);
        assert_eq!(death(75 << 8), Death::StoppedForNow);
        // SIGABRT (a panic that aborts), SIGSEGV, an error exit: failures.
        for raw in [6, 11, 1 << 8, 6 << 8] {
            assert_eq!(death(raw), Death::Failed, "{raw}");
        }
    }

    #[test]
    fn a_process_stopped_for_now_is_started_again_later_and_later_never_left_down() {
        let mut restarts = Restarts::default();
        let mut at = Instant::now();
        restarts.started("payment", at);
        // The disk stays full for minutes: the payment service stops
        // again a moment after each start, many more times than a
        // failing process is restarted.
        for wait in [1, 2, 4, 8, 16, 30, 30, 30, 30, 30] {
            at += Duration::from_secs(1);
            assert_eq!(
                restarts.died("payment", at, Death::StoppedForNow),
                Decision::RestartLater {
                    wait: Duration::from_secs(wait)
                }
            );
            at += Duration::from_secs(wait);
            restarts.started("payment", at);
        }
        // Once it has served a while, the next stop waits 1 s again.
        at += STABLE_AFTER;
        assert_eq!(
            restarts.died("payment", at, Death::StoppedForNow),
            Decision::RestartLater {
                wait: FIRST_BACKOFF
            }
        );
        // Its stops count none of its failures.
        restarts.started("payment", at);
        assert_eq!(
            restarts.died("payment", at, Death::Failed),
            Decision::RestartIn {
                wait: FIRST_BACKOFF,
                attempt: 1
            }
        );
    }

    #[test]
    fn a_process_that_ran_a_while_before_dying_starts_its_count_over() {
        let mut restarts = Restarts::default();
        let t0 = Instant::now();
        restarts.started("node1", t0);
        let quick = t0 + Duration::from_secs(1);
        assert!(matches!(
            restarts.died("node1", quick, Death::Failed),
            Decision::RestartIn { attempt: 1, .. }
        ));
        restarts.started("node1", quick);
        assert!(matches!(
            restarts.died("node1", quick + Duration::from_secs(2), Death::Failed),
            Decision::RestartIn { attempt: 2, .. }
        ));
        let late = quick + Duration::from_secs(2);
        restarts.started("node1", late);
        assert_eq!(
            restarts.died("node1", late + STABLE_AFTER, Death::Failed),
            Decision::RestartIn {
                wait: FIRST_BACKOFF,
                attempt: 1
            }
        );
    }
}
