//! The cluster under test: booking nodes and the payment service as real
//! processes of this binary (started by the shared launcher,
//! `boxoffice_launch`), every node-to-node and node-to-payment link
//! through its own proxy, and the auth service in this process (it keeps
//! no state worth attacking: accounts live in the replicated state).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::bail;
use boxoffice_auth::policy::PasswordPolicy;
use boxoffice_launch::{
    DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD, Extra, InProcess, Layout, Processes, free_addr,
};
use boxoffice_node::config::Member;
use boxoffice_proto::internal::v1::NodeMetricsRequest;
use boxoffice_proto::internal::v1::raft_service_client::RaftServiceClient;
use nix::sys::signal::Signal;

use super::proxy::{Link, LinkMode};

/// The processes and links of one run.
pub struct Cluster {
    layout: Layout,
    /// Node id → the address it listens on (clients dial it directly).
    pub nodes: BTreeMap<u64, SocketAddr>,
    /// Node id → its peer address (other nodes reach it through links).
    peers: BTreeMap<u64, SocketAddr>,
    /// The operator's certificate (digests, the ledger).
    operator: boxoffice_tls::Tls,
    /// (from, to) → the proxy `from` dials `to` through.
    pub links: BTreeMap<(u64, u64), Link>,
    /// Node → the proxy it reaches the payment service through.
    pub payment_links: BTreeMap<u64, Link>,
    payment_addr: SocketAddr,
    /// The payment service's v1 API (mutual TLS).
    payment_peer_addr: SocketAddr,
    pub auth_addr: String,
    processes: Processes,
    /// Extra environment for every node (the unsafe switch).
    node_env: Vec<(String, String)>,
    _auth: InProcess,
}

impl Cluster {
    /// Starts `n` nodes, the payment service and the auth service under `dir`.
    pub async fn start(
        exe: PathBuf,
        dir: &Path,
        n: u64,
        seed: u64,
        node_env: Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let nodes: BTreeMap<u64, SocketAddr> = (1..=n)
            .map(|id| Ok((id, free_addr()?)))
            .collect::<anyhow::Result<_>>()?;
        let peers: BTreeMap<u64, SocketAddr> = (1..=n)
            .map(|id| Ok((id, free_addr()?)))
            .collect::<anyhow::Result<_>>()?;
        let payment_addr = free_addr()?;
        let payment_peer_addr = free_addr()?;
        let mut links = BTreeMap::new();
        let mut payment_links = BTreeMap::new();
        for from in 1..=n {
            for (to, addr) in &peers {
                if *to != from {
                    let link = Link::start(*addr, seed ^ (from << 8) ^ to).await?;
                    links.insert((from, *to), link);
                }
            }
            payment_links.insert(
                from,
                Link::start(payment_peer_addr, seed ^ (from << 16)).await?,
            );
        }
        // TLS runs through the proxies untouched: a node checks the name in
        // the certificate, not the address it dialled.
        let layout = Layout::new(dir);
        let mut identities: Vec<boxoffice_tls::Identity> =
            (1..=n).map(boxoffice_tls::Identity::Node).collect();
        identities.extend([
            boxoffice_tls::Identity::Auth,
            boxoffice_tls::Identity::Payment,
            boxoffice_tls::Identity::Operator,
        ]);
        layout.ensure_certificates(&identities, &["127.0.0.1".into()])?;
        let operator = layout.operator()?;

        layout.ensure_keys()?;
        let auth_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let auth_addr = auth_listener.local_addr()?.to_string();
        let auth = layout.auth(
            auth_addr.clone(),
            peers.values().map(ToString::to_string).collect(),
            PasswordPolicy::Development,
            (DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD),
        );
        let auth = InProcess::spawn("auth service", |stopped| {
            boxoffice_auth::service::run(auth, auth_listener, stopped)
        });

        let processes = Processes::new(exe, dir)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        let cluster = Self {
            layout,
            nodes,
            peers,
            operator,
            links,
            payment_links,
            payment_addr,
            payment_peer_addr,
            auth_addr,
            processes,
            node_env,
            _auth: auth,
        };
        cluster.spawn_payment()?;
        for id in 1..=n {
            cluster.spawn_node(id)?;
        }
        Ok(cluster)
    }

    /// Node ids, ascending.
    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// A channel to the payment service's v1 API (not through a proxy),
    /// as the operator.
    pub async fn payment_channel(&self) -> anyhow::Result<tonic::transport::Channel> {
        let name = boxoffice_tls::Identity::Payment.dns_name();
        Ok(self
            .operator
            .endpoint(&self.payment_peer_addr.to_string(), &name)?
            .connect()
            .await?)
    }

    /// Every node's address, for clients.
    pub fn endpoints(&self) -> Vec<String> {
        self.nodes.values().map(ToString::to_string).collect()
    }

    /// Starts (or restarts) node `id` from its data directory.
    pub fn spawn_node(&self, id: u64) -> anyhow::Result<()> {
        self.spawn_node_with(id, &[])
    }

    /// Starts node `id` with extra environment (a crash point, say).
    pub fn spawn_node_with(&self, id: u64, extra: &[(String, String)]) -> anyhow::Result<()> {
        let peers = self
            .peers
            .iter()
            .map(|(id, addr)| (*id, addr.to_string()))
            .collect();
        let mut config = self.layout.node(
            id,
            self.nodes[&id].to_string(),
            self.peers[&id].to_string(),
            boxoffice_launch::members(&peers),
        );
        config.raft.dial = self
            .links
            .iter()
            .filter(|((from, _), _)| *from == id)
            .map(|((_, to), link)| Member {
                id: *to,
                addr: link.addr().to_string(),
            })
            .collect();
        config.booking = config.booking.without_customer_caps();
        config.payment.endpoint = Some(format!("https://{}", self.payment_links[&id].addr()));
        config.payment.card_fingerprint_key =
            Some(boxoffice_node::config::SecretKey("5a".repeat(32)));
        // Short holds, so that checkouts cut off by faults settle within
        // the run.
        config.payment.checkout_hold_ms = 10_000;
        config.payment.resume_after_ms = 3_000;
        config.validate()?;
        let mut env = self.node_env.clone();
        env.extend(extra.iter().cloned());
        let extra = Extra {
            env,
            ..Extra::default()
        };
        self.processes
            .start_with(&format!("node{id}"), "node", &config, &extra)
    }

    /// Starts (or restarts) the payment service.
    pub fn spawn_payment(&self) -> anyhow::Result<()> {
        let config = self.layout.payment(
            self.payment_addr.to_string(),
            self.payment_peer_addr.to_string(),
        );
        config.validate()?;
        self.processes.start("payment", "payment", &config)
    }

    /// Sends `signal` to process `name` (node3, payment).
    pub fn signal(&self, name: &str, signal: Signal) -> anyhow::Result<()> {
        self.processes.signal(name, signal)
    }

    /// `kill -9` of process `name`, reaped.
    pub fn kill(&self, name: &str) {
        self.processes.kill(name);
    }

    /// Whether process `name` is running (reaps it if it exited).
    pub fn running(&self, name: &str) -> bool {
        self.processes.running(name)
    }

    /// Restarts every node and the payment service that is not running;
    /// returns their names.
    pub fn revive(&self) -> anyhow::Result<Vec<String>> {
        let mut restarted = Vec::new();
        for id in self.ids() {
            if !self.running(&format!("node{id}")) {
                self.spawn_node(id)?;
                restarted.push(format!("node{id}"));
            }
        }
        if !self.running("payment") {
            self.spawn_payment()?;
            restarted.push("payment".into());
        }
        Ok(restarted)
    }

    /// Puts every link back up.
    pub fn heal_links(&self) {
        for link in self.links.values().chain(self.payment_links.values()) {
            link.set(LinkMode::Up);
        }
    }

    /// The leader as most reachable nodes see it, if any.
    pub async fn leader(&self) -> Option<u64> {
        let mut votes: BTreeMap<u64, usize> = BTreeMap::new();
        for id in self.ids() {
            if let Ok((status, _)) = self.metrics(id, false).await
                && status.leader_id != 0
            {
                *votes.entry(status.leader_id).or_default() += 1;
            }
        }
        votes.into_iter().max_by_key(|(_, n)| *n).map(|(id, _)| id)
    }

    /// Waits until a leader is known, up to `within`.
    pub async fn wait_leader(&self, within: Duration) -> anyhow::Result<u64> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(leader) = self.leader().await {
                return Ok(leader);
            }
            if Instant::now() > deadline {
                bail!("no leader within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Node `id`'s own status, and (applied index, state digest) if asked.
    pub async fn metrics(
        &self,
        id: u64,
        with_digest: bool,
    ) -> anyhow::Result<(boxoffice_proto::v1::NodeStatus, (u64, String))> {
        let name = boxoffice_tls::Identity::Node(id).dns_name();
        let channel = self
            .operator
            .endpoint(&self.peers[&id].to_string(), &name)?
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(5))
            .connect()
            .await?;
        let reply = RaftServiceClient::new(channel)
            .max_decoding_message_size(64 * 1024 * 1024)
            .node_metrics(NodeMetricsRequest { with_digest })
            .await?
            .into_inner();
        Ok((
            reply.status.unwrap_or_default(),
            (reply.digest_applied_index, reply.state_digest),
        ))
    }

    /// Stops everything (paused processes are resumed to die cleanly).
    pub fn stop(&self) {
        self.processes.kill_all();
    }
}
