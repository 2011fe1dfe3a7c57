//! `boxoffice up`: the whole local system with one command.
//!
//! Each booking node is a separate OS process (this same binary, `node`
//! subcommand), so killing one is a real crash. `up` writes each node's
//! config next to its data, starts the processes in their own process
//! group (so a Ctrl-C reaches `up` alone, which then stops them in order),
//! waits for a leader, prints where everything listens, and on Ctrl-C or
//! SIGTERM stops every node with SIGTERM, waiting for each to exit. A node
//! that dies on its own (say, `kill -9` to watch a failover) is reported and
//! the others keep serving; `up` fails once none is left.

use std::future::Future;
use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use boxoffice_client::Client;
use boxoffice_node::config::{Member, NodeConfig};
use clap::Args;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{info, warn};

/// How long `up` waits for the first leader.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a node gets to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of `boxoffice up`.
#[derive(Args)]
pub struct UpArgs {
    /// Directory for every node's data and config.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// Number of booking nodes (1, 3 or 5).
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Port of node 1; node i listens on base_port + i - 1.
    #[arg(long, default_value_t = 50051)]
    base_port: u16,
    /// Interface to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
}

/// A future that resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are
/// installed when this is called, not when the future is first polled, so
/// a signal arriving in between is not lost.
pub fn terminated() -> impl Future<Output = ()> + Send {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            // No signal handling available: never resolve.
            _ => std::future::pending().await,
        }
    }
}

/// One shutdown request, observable any number of times.
fn shutdown_requested() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    let signalled = terminated();
    tokio::spawn(async move {
        signalled.await;
        let _ = tx.send(true);
    });
    rx
}

async fn wait_shutdown(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|requested| *requested).await;
}

fn node_configs(args: &UpArgs) -> anyhow::Result<Vec<NodeConfig>> {
    if ![1, 3, 5].contains(&args.nodes) {
        bail!(
            "--nodes must be 1, 3 or 5 (an odd count tolerates the most failures), not {}",
            args.nodes
        );
    }
    let port = |i: u64| -> anyhow::Result<u16> {
        u16::try_from(u64::from(args.base_port) + i - 1)
            .context("--base-port too high for that many nodes")
    };
    let members = (1..=args.nodes)
        .map(|i| {
            Ok(Member {
                id: i,
                addr: format!("{}:{}", args.host, port(i)?),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    members
        .iter()
        .map(|m| {
            let config = NodeConfig {
                id: m.id,
                listen: m.addr.clone(),
                advertise: None,
                data_dir: args.data_dir.join(format!("node{}", m.id)),
                initial_members: members.clone(),
                ..NodeConfig::default()
            };
            config.validate()?;
            Ok(config)
        })
        .collect()
}

/// Copies a child's output to our stderr, each line prefixed with its node,
/// so that interleaved logs stay readable.
fn prefix_output(id: u64, stream: Option<impl AsyncRead + Unpin + Send + 'static>) {
    let Some(stream) = stream else { return };
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("node{id} | {line}");
        }
    });
}

/// Starts one node process from the config file at `path`.
fn spawn_node(exe: &std::path::Path, id: u64, path: &std::path::Path) -> anyhow::Result<Child> {
    let mut command = Command::new(exe);
    command
        .arg("node")
        .arg("--config")
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // The generated file is the whole truth: our own BOXOFFICE_* variables
    // (endpoints, say) must not override it.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("BOXOFFICE_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("starting node {id}"))?;
    prefix_output(id, child.stdout.take());
    prefix_output(id, child.stderr.take());
    Ok(child)
}

/// Resolves when any child exits, with its id and status.
async fn any_exit(
    children: &mut [(u64, Child)],
) -> (u64, std::io::Result<std::process::ExitStatus>) {
    let waits = children.iter_mut().map(|(id, child)| {
        let id = *id;
        Box::pin(async move { (id, child.wait().await) })
    });
    futures::future::select_all(waits).await.0
}

/// Stops every child: SIGTERM, then SIGKILL after [`STOP_TIMEOUT`].
async fn stop_all(children: &mut [(u64, Child)]) {
    for (id, child) in children.iter() {
        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
            info!(node = id, "stopping");
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    for (id, child) in children.iter_mut() {
        match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
            Ok(_) => info!(node = id, "stopped"),
            Err(_) => {
                warn!(node = id, "did not stop in time; killing it");
                let _ = child.kill().await;
            }
        }
    }
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let mut shutdown = shutdown_requested();
    let configs = node_configs(&args)?;
    for c in &configs {
        StdListener::bind(&c.listen).with_context(|| {
            format!(
                "cannot listen on {} (is another boxoffice running? stop it or pass --base-port)",
                c.listen
            )
        })?;
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let exe = std::env::current_exe().context("locating the boxoffice binary")?;
    let mut children = Vec::new();
    for c in &configs {
        let path = args.data_dir.join(format!("node{}.toml", c.id));
        std::fs::write(&path, toml::to_string(c)?)
            .with_context(|| format!("writing {}", path.display()))?;
        match spawn_node(&exe, c.id, &path) {
            Ok(child) => children.push((c.id, child)),
            Err(e) => {
                stop_all(&mut children).await;
                return Err(e);
            }
        }
    }

    let addrs: Vec<String> = configs.iter().map(|c| c.listen.clone()).collect();
    let client = Client::new(&addrs)?;
    let ready = async {
        loop {
            if let Ok(s) = client.status().await
                && s.leader_id != 0
            {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let outcome = tokio::select! {
        status = tokio::time::timeout(READY_TIMEOUT, ready) => match status {
            Ok(status) => {
                println!();
                println!(
                    "Boxoffice is up ({} booking nodes, data in {}):",
                    configs.len(),
                    args.data_dir.display()
                );
                crate::commands::print_status(&status);
                println!("  try:  boxoffice show list   |   boxoffice cluster status   |   Ctrl-C to stop");
                println!();
                None
            }
            Err(_) => {
                warn!("no leader after {READY_TIMEOUT:?}; the nodes keep trying, see their logs");
                None
            }
        },
        _ = wait_shutdown(&mut shutdown) => Some(None),
        exited = any_exit(&mut children) => Some(Some(exited)),
    };
    // Run until Ctrl-C. A node that dies on its own is reported; the
    // others keep serving as long as they have a majority.
    // (A shutdown request seen above is still visible to `wait_shutdown`.)
    let mut exited = outcome.flatten();
    loop {
        if let Some((id, status)) = exited.take() {
            children.retain(|(child_id, _)| *child_id != id);
            let config = args.data_dir.join(format!("node{id}.toml"));
            warn!(
                node = id,
                ?status,
                left = children.len(),
                restart_with = %format!("boxoffice node --config {}", config.display()),
                "node exited on its own; the others keep serving"
            );
            if children.is_empty() {
                bail!("every node has exited");
            }
        }
        tokio::select! {
            _ = wait_shutdown(&mut shutdown) => break,
            e = any_exit(&mut children) => exited = Some(e),
        }
    }
    stop_all(&mut children).await;
    Ok(())
}
