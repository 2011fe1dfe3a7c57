//! `boxoffice up`: the whole local system with one command.
//!
//! Three booking nodes, the auth service, the payment service and the
//! booking assistant, each a separate OS process (this same binary, `node`,
//! `auth`, `payment` and `chatbot`
//! subcommands), so killing one is a real crash. Token signing keys are generated under `<data>/keys`, and
//! the cluster CA with every process's certificate under `<data>/certs`
//! (keys 0600), on the first run; nodes talk to each other, and to the
//! payment service, over mutual TLS with them. This is a development cluster: the password policy is
//! relaxed and the administrator `admin@gmail.com` / `admin123` is created,
//! as old clients and demos expect; both are said when it starts. `up` writes each node's
//! config next to its data, starts the processes in their own process
//! group (so a Ctrl-C reaches `up` alone, which then stops them in order),
//! waits for a leader, prints where everything listens, and on Ctrl-C or
//! SIGTERM stops every node with SIGTERM, waiting for each to exit. A node
//! that dies on its own (say, `kill -9` to watch a failover) is reported and
//! the others keep serving; `up` fails once none is left.

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use boxoffice_auth::config::{AdminCredentials, AuthConfig};
use boxoffice_auth::policy::PasswordPolicy;
use boxoffice_chatbot::config::ChatbotConfig;
use boxoffice_client::Client;
use boxoffice_gateway::config::GatewayConfig;
use boxoffice_node::config::{Member, NodeConfig};
use boxoffice_payment::config::PaymentConfig;
use clap::Args;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
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
    /// Port of node 1's peer listener (Raft, forwarding, the account API;
    /// mutual TLS); node i's is peer_base_port + i - 1.
    #[arg(long, default_value_t = 50071)]
    peer_base_port: u16,
    /// Port of node 1's HTTP endpoint (/metrics, /healthz, /readyz); node
    /// i's is metrics_base_port + i - 1.
    #[arg(long, default_value_t = 50061)]
    metrics_base_port: u16,
    /// Interface to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port of the auth service.
    #[arg(long, default_value_t = 8000)]
    auth_port: u16,
    /// Port of the auth service for the gateway alone (mutual TLS; there
    /// the gateway says which browser it logs in, for throttling).
    #[arg(long, default_value_t = 8001)]
    auth_gateway_port: u16,
    /// Port of the payment service (the old clients' API).
    #[arg(long, default_value_t = 6000)]
    payment_port: u16,
    /// Port of the payment service's API for booking nodes (mutual TLS).
    #[arg(long, default_value_t = 6001)]
    payment_peer_port: u16,
    /// Port of the booking assistant.
    #[arg(long, default_value_t = 9000)]
    chatbot_port: u16,
    /// Port of the HTTP gateway (JSON API and live seat maps).
    #[arg(long, default_value_t = 8080)]
    gateway_port: u16,
    /// Allow a non-loopback --host although the development cluster has a
    /// well-known administrator password and a relaxed password policy.
    /// Every client port then serves TLS only (as with --tls).
    #[arg(long)]
    expose: bool,
    /// Serve every client port (nodes, auth, payment, assistant, gateway)
    /// over TLS with certificates of the cluster CA in `<data-dir>/certs`;
    /// clients pass `--ca <data-dir>/certs/ca.pem`. Without it (and without
    /// --expose) client ports are plaintext on loopback, so the old
    /// system's clients keep working.
    #[arg(long)]
    tls: bool,
}

impl UpArgs {
    /// Whether client ports serve TLS.
    fn client_tls(&self) -> bool {
        self.tls || self.expose
    }

    /// The client TLS certificate of `identity`, when client ports serve TLS.
    fn client_tls_of(&self, identity: boxoffice_tls::Identity) -> Option<boxoffice_tls::ClientTls> {
        self.client_tls()
            .then(|| boxoffice_tls::ClientTls::in_dir(&certs_dir(self), identity))
    }

    /// The CA file clients trust, when client ports serve TLS.
    fn client_ca(&self) -> Option<PathBuf> {
        self.client_tls()
            .then(|| certs_dir(self).join(boxoffice_tls::CA_CERT_FILE))
    }
}

/// The development administrator (what the old system's clients log in as).
pub const DEV_ADMIN_EMAIL: &str = "admin@gmail.com";
/// Its password.
pub const DEV_ADMIN_PASSWORD: &str = "admin123";

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

fn auth_config(args: &UpArgs, nodes: &[NodeConfig]) -> anyhow::Result<AuthConfig> {
    let config = AuthConfig {
        listen: format!("{}:{}", args.host, args.auth_port),
        gateway_listen: Some(format!("{}:{}", args.host, args.auth_gateway_port)),
        client_tls: args.client_tls_of(boxoffice_tls::Identity::Auth),
        nodes: nodes.iter().map(|n| n.peer_listen.clone()).collect(),
        keys_dir: args.data_dir.join("keys"),
        certs_dir: certs_dir(args),
        password_policy: PasswordPolicy::Development,
        bootstrap_admin: Some(AdminCredentials {
            email: DEV_ADMIN_EMAIL.into(),
            password: DEV_ADMIN_PASSWORD.into(),
        }),
        ..AuthConfig::default()
    };
    config.validate()?;
    Ok(config)
}

/// Where the cluster CA and every process's certificate live.
fn certs_dir(args: &UpArgs) -> PathBuf {
    args.data_dir.join("certs")
}

/// Makes the CA and the certificates the processes need, unless they
/// exist from an earlier start: valid for the host they listen on.
fn ensure_certificates(args: &UpArgs) -> anyhow::Result<()> {
    use boxoffice_tls::Identity;
    let mut identities: Vec<Identity> = (1..=args.nodes).map(Identity::Node).collect();
    identities.extend([
        Identity::Auth,
        Identity::Payment,
        Identity::Gateway,
        Identity::Chatbot,
        Identity::Operator,
    ]);
    let mut hosts = vec![args.host.clone()];
    for local in ["127.0.0.1", "localhost"] {
        if !hosts.iter().any(|h| h == local) {
            hosts.push(local.to_owned());
        }
    }
    boxoffice_tls::ensure(&certs_dir(args), &identities, &hosts)
        .context("making the cluster's certificates")
}

fn payment_config(args: &UpArgs) -> anyhow::Result<PaymentConfig> {
    let config = PaymentConfig {
        listen: format!("{}:{}", args.host, args.payment_port),
        peer_listen: format!("{}:{}", args.host, args.payment_peer_port),
        certs_dir: certs_dir(args),
        data_dir: args.data_dir.join("payment"),
        client_tls: args.client_tls_of(boxoffice_tls::Identity::Payment),
        ..PaymentConfig::default()
    };
    config.validate()?;
    Ok(config)
}

fn chatbot_config(args: &UpArgs, nodes: &[NodeConfig]) -> anyhow::Result<ChatbotConfig> {
    let config = ChatbotConfig {
        listen: format!("{}:{}", args.host, args.chatbot_port),
        nodes: nodes.iter().map(|n| n.listen.clone()).collect(),
        client_tls: args.client_tls_of(boxoffice_tls::Identity::Chatbot),
        ca: args.client_ca(),
        ..ChatbotConfig::default()
    };
    config.validate()?;
    Ok(config)
}

fn gateway_config(
    args: &UpArgs,
    nodes: &[NodeConfig],
    auth: &AuthConfig,
    chatbot: &ChatbotConfig,
) -> anyhow::Result<GatewayConfig> {
    let config = GatewayConfig {
        listen: format!("{}:{}", args.host, args.gateway_port),
        nodes: nodes.iter().map(|n| n.listen.clone()).collect(),
        auth: auth.listen.clone(),
        auth_gateway: auth.gateway_listen.clone(),
        certs_dir: certs_dir(args),
        chatbot: chatbot.listen.clone(),
        tls: args.client_tls_of(boxoffice_tls::Identity::Gateway),
        ca: args.client_ca(),
        ..GatewayConfig::default()
    };
    config.validate()?;
    Ok(config)
}

fn node_configs(args: &UpArgs) -> anyhow::Result<Vec<NodeConfig>> {
    let loopback = args.host == "localhost"
        || args
            .host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback && !args.expose {
        bail!(
            "--host {} is reachable from other machines, and this development cluster's administrator is {DEV_ADMIN_EMAIL} / {DEV_ADMIN_PASSWORD}; pass --expose if you really mean it",
            args.host
        );
    }
    if ![1, 3, 5].contains(&args.nodes) {
        bail!(
            "--nodes must be 1, 3 or 5 (an odd count tolerates the most failures), not {}",
            args.nodes
        );
    }
    let port = |base: u16, i: u64| -> anyhow::Result<u16> {
        u16::try_from(u64::from(base) + i - 1).context(
            "--base-port, --peer-base-port or --metrics-base-port too high for that many nodes",
        )
    };
    let members = (1..=args.nodes)
        .map(|i| {
            Ok(Member {
                id: i,
                addr: format!("{}:{}", args.host, port(args.peer_base_port, i)?),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    members
        .iter()
        .map(|m| {
            let config = NodeConfig {
                id: m.id,
                listen: format!("{}:{}", args.host, port(args.base_port, m.id)?),
                peer_listen: m.addr.clone(),
                certs_dir: certs_dir(args),
                // The operators' endpoint (metrics, health) has no TLS and
                // no login: exposed, it stays on this machine.
                http_listen: Some(format!(
                    "{}:{}",
                    if args.expose { "127.0.0.1" } else { &args.host },
                    port(args.metrics_base_port, m.id)?
                )),
                advertise: None,
                data_dir: args.data_dir.join(format!("node{}", m.id)),
                initial_members: members.clone(),
                ..NodeConfig::default()
            };
            let mut config = config;
            config.auth.keys_dir = args.data_dir.join("keys");
            config.payment.endpoint =
                Some(format!("https://{}:{}", args.host, args.payment_peer_port));
            config.client_tls = args.client_tls_of(boxoffice_tls::Identity::Node(config.id));
            config.validate()?;
            Ok(config)
        })
        .collect()
}

/// Copies a child's output to our stderr, each line prefixed with its node,
/// so that interleaved logs stay readable.
fn prefix_output(name: String, stream: Option<impl AsyncRead + Unpin + Send + 'static>) {
    let Some(stream) = stream else { return };
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("{name:>5} | {line}");
        }
    });
}

/// Starts `boxoffice <subcommand> --config <path>` as the process `name`.
fn spawn_process(
    exe: &std::path::Path,
    name: &str,
    subcommand: &str,
    path: &std::path::Path,
) -> anyhow::Result<Child> {
    let mut command = Command::new(exe);
    command
        .arg(subcommand)
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
        .with_context(|| format!("starting {name}"))?;
    prefix_output(name.to_owned(), child.stdout.take());
    prefix_output(name.to_owned(), child.stderr.take());
    Ok(child)
}

/// Resolves when any child exits, with its name and status.
async fn any_exit(
    children: &mut [(String, Child)],
) -> (String, std::io::Result<std::process::ExitStatus>) {
    let waits = children.iter_mut().map(|(name, child)| {
        let name = name.clone();
        Box::pin(async move { (name, child.wait().await) })
    });
    futures::future::select_all(waits).await.0
}

/// Stops every child: SIGTERM, then SIGKILL after [`STOP_TIMEOUT`].
async fn stop_all(children: &mut [(String, Child)]) {
    for (name, child) in children.iter() {
        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
            info!(process = %name, "stopping");
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    for (name, child) in children.iter_mut() {
        match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
            Ok(_) => info!(process = %name, "stopped"),
            Err(_) => {
                warn!(process = %name, "did not stop in time; killing it");
                let _ = child.kill().await;
            }
        }
    }
}

/// The addresses the processes will listen on, refused if two are the same.
fn distinct_addresses<'a>(
    listens: impl IntoIterator<Item = &'a String>,
) -> anyhow::Result<Vec<&'a String>> {
    let mut seen = std::collections::HashSet::new();
    let mut all = Vec::new();
    for listen in listens {
        if !seen.insert(listen) {
            bail!(
                "two processes would listen on {listen}: choose --base-port, --peer-base-port, --metrics-base-port, --auth-port, --auth-gateway-port, --payment-port, --payment-peer-port, --chatbot-port and --gateway-port so that no ranges overlap"
            );
        }
        all.push(listen);
    }
    Ok(all)
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let mut shutdown = shutdown_requested();
    let configs = node_configs(&args)?;
    let auth = auth_config(&args, &configs)?;
    let payment = payment_config(&args)?;
    let chatbot = chatbot_config(&args, &configs)?;
    let gateway = gateway_config(&args, &configs, &auth, &chatbot)?;
    let listens = distinct_addresses(
        configs
            .iter()
            .flat_map(|c| {
                [&c.listen, &c.peer_listen]
                    .into_iter()
                    .chain(c.http_listen.as_ref())
            })
            .chain([&auth.listen])
            .chain(&auth.gateway_listen)
            .chain([
                &payment.listen,
                &payment.peer_listen,
                &chatbot.listen,
                &gateway.listen,
            ]),
    )?;
    for listen in listens {
        StdListener::bind(listen).with_context(|| {
            format!(
                "cannot listen on {listen} (is another boxoffice running? stop it or pass --base-port, --peer-base-port, --metrics-base-port, --auth-port, --auth-gateway-port, --payment-port, --payment-peer-port, --chatbot-port or --gateway-port)"
            )
        })?;
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    // Nodes need the public key before they start: create the pair now
    // (the auth service would on its first start).
    boxoffice_auth::keys::SigningKeys::load_or_create(&auth.keys_dir)?;
    ensure_certificates(&args)?;
    let exe = std::env::current_exe().context("locating the boxoffice binary")?;
    let mut processes = Vec::new();
    for c in &configs {
        processes.push((format!("node{}", c.id), "node", toml::to_string(c)?));
    }
    processes.push(("auth".to_owned(), "auth", toml::to_string(&auth)?));
    processes.push(("payment".to_owned(), "payment", toml::to_string(&payment)?));
    processes.push(("chatbot".to_owned(), "chatbot", toml::to_string(&chatbot)?));
    processes.push(("gateway".to_owned(), "gateway", toml::to_string(&gateway)?));
    let mut children = Vec::new();
    for (name, subcommand, config) in processes {
        let path = args.data_dir.join(format!("{name}.toml"));
        // Owner-only: auth.toml holds the bootstrap administrator's password.
        boxoffice_config::write_file(&path, config.as_bytes(), true)
            .with_context(|| format!("writing {}", path.display()))?;
        match spawn_process(&exe, &name, subcommand, &path) {
            Ok(child) => children.push((name, child)),
            Err(e) => {
                stop_all(&mut children).await;
                return Err(e);
            }
        }
    }

    let addrs: Vec<String> = configs.iter().map(|c| c.listen.clone()).collect();
    let trust = match args.client_ca() {
        Some(ca) => Some(boxoffice_tls::client_trusting_file(&ca)?),
        None => None,
    };
    let client = Client::with_tls(&addrs, trust)?;
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
                let _ = crate::commands::print_status(&crate::output::Output::new(false), &status);
                println!(
                    "auth service on {} (development password policy: 4+ characters); administrator {DEV_ADMIN_EMAIL} / {DEV_ADMIN_PASSWORD}",
                    auth.listen
                );
                println!(
                    "payment service (mock card provider) on {}; test card 4242 4242 4242 4242 pays, 4000 0000 0000 9995 is declined",
                    payment.listen
                );
                println!("booking assistant on {}", chatbot.listen);
                let web = if args.client_tls() { "https" } else { "http" };
                println!(
                    "web app on {web}://{0}/ (JSON API under /api, described by {web}://{0}/api/openapi.json)",
                    gateway.listen
                );
                if let Some(ca) = args.client_ca() {
                    println!(
                        "every client port serves TLS only: pass --ca {} to boxoffice (or trust that CA in the browser)",
                        ca.display()
                    );
                }
                let node_metrics: Vec<String> = configs
                    .iter()
                    .filter_map(|c| c.http_listen.as_ref())
                    .map(|addr| format!("http://{addr}/metrics"))
                    .collect();
                println!(
                    "Prometheus metrics at {web}://{}/metrics (gateway) and {} (nodes)",
                    gateway.listen,
                    node_metrics.join(", ")
                );
                println!("  try:  boxoffice            (the interactive shell)");
                println!("        boxoffice login {DEV_ADMIN_EMAIL} --password {DEV_ADMIN_PASSWORD}");
                println!("        boxoffice shows list   |   boxoffice cluster status   |   Ctrl-C to stop");
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
        if let Some((name, status)) = exited.take() {
            children.retain(|(child, _)| *child != name);
            let config = args.data_dir.join(format!("{name}.toml"));
            let subcommand = if name.starts_with("node") {
                "node"
            } else {
                name.as_str()
            };
            warn!(
                process = %name,
                ?status,
                left = children.len(),
                restart_with = %format!("boxoffice {subcommand} --config {}", config.display()),
                "process exited on its own; the others keep serving"
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(nodes: u64, base_port: u16, metrics_base_port: u16) -> UpArgs {
        UpArgs {
            data_dir: PathBuf::from("./data"),
            nodes,
            base_port,
            peer_base_port: 50071,
            metrics_base_port,
            host: "127.0.0.1".into(),
            auth_port: 8000,
            payment_port: 6000,
            payment_peer_port: 6001,
            chatbot_port: 9000,
            gateway_port: 8080,
            auth_gateway_port: 8001,
            expose: false,
            tls: false,
        }
    }

    fn addresses(args: &UpArgs) -> anyhow::Result<Vec<String>> {
        let configs = node_configs(args)?;
        let listens = configs.iter().flat_map(|c| {
            [&c.listen, &c.peer_listen]
                .into_iter()
                .chain(c.http_listen.as_ref())
        });
        Ok(distinct_addresses(listens)?.into_iter().cloned().collect())
    }

    #[test]
    fn every_node_gets_a_grpc_and_a_metrics_port() {
        let all = addresses(&args(3, 50051, 50061)).unwrap();
        assert_eq!(
            all,
            [
                "127.0.0.1:50051",
                "127.0.0.1:50071",
                "127.0.0.1:50061",
                "127.0.0.1:50052",
                "127.0.0.1:50072",
                "127.0.0.1:50062",
                "127.0.0.1:50053",
                "127.0.0.1:50073",
                "127.0.0.1:50063"
            ]
        );
    }

    #[test]
    fn overlapping_port_ranges_are_refused() {
        let error = addresses(&args(5, 50051, 50053)).unwrap_err().to_string();
        assert!(
            error.contains("two processes would listen on 127.0.0.1:50053"),
            "{error}"
        );
        let error = addresses(&args(3, 50051, 65535)).unwrap_err().to_string();
        assert!(error.contains("too high for that many nodes"), "{error}");
    }
}
