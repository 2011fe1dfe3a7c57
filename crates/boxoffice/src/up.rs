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
//! `kill -9` of a node to watch a failover) is reported and the others
//! keep serving; `up` fails once none is left.

use std::time::Duration;

use anyhow::{Context, bail};
use boxoffice_client::Client;
use boxoffice_launch::local::Plan;
use boxoffice_launch::{DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD, Output, Processes};
use tokio::sync::watch;
use tracing::warn;

pub use boxoffice_launch::local::UpArgs;

/// How long `up` waits for the first leader.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a process gets to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

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
        .own_process_groups();
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
    // Run until Ctrl-C. A process that dies on its own is reported; the
    // others keep serving (the nodes as long as they have a majority). A
    // shutdown request seen above is still visible to `wait_shutdown`.
    loop {
        if let Some((name, status)) = exited.take() {
            let subcommand = if name.starts_with("node") {
                "node"
            } else {
                name.as_str()
            };
            warn!(
                process = %name,
                status = ?Ok::<_, std::io::Error>(status),
                left = processes.names().len(),
                restart_with = %format!("boxoffice {subcommand} --config {}", processes.config_path(&name).display()),
                "process exited on its own; the others keep serving"
            );
            if processes.is_empty() {
                bail!("every node has exited");
            }
        }
        tokio::select! {
            _ = wait_shutdown(&mut shutdown) => break,
            e = processes.any_exit() => exited = Some(e),
        }
    }
    processes.stop_all(STOP_TIMEOUT).await;
    Ok(())
}
