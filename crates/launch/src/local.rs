//! The local development cluster `boxoffice up` runs: booking nodes, the
//! auth and payment services, the booking assistant and the gateway, on
//! fixed ports of one host ([`UpArgs`]), every one a process of the
//! binary. [`UpArgs::plan`] turns the flags into every process's config
//! (refusing overlapping ports, a reachable host without `--expose`, an
//! even node count); [`Plan::start`] checks the ports are free, makes the
//! keys and certificates on the first run and starts the processes.

use std::net::TcpListener as StdListener;
use std::path::PathBuf;

use anyhow::{Context, bail};
use boxoffice_auth::config::AuthConfig;
use boxoffice_auth::policy::PasswordPolicy;
use boxoffice_chatbot::config::ChatbotConfig;
use boxoffice_gateway::config::GatewayConfig;
use boxoffice_node::config::{Member, NodeConfig};
use boxoffice_payment::config::PaymentConfig;
use boxoffice_tls::Identity;
use clap::Args;

use crate::{DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD, Layout, Processes};

/// Options of `boxoffice up`.
#[derive(Args, Clone, Debug)]
pub struct UpArgs {
    /// Directory for every node's data and config.
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,
    /// Number of booking nodes (1, 3 or 5).
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Port of node 1; node i listens on base_port + i - 1.
    #[arg(long, default_value_t = 50051)]
    pub base_port: u16,
    /// Port of node 1's peer listener (Raft, forwarding, the account API;
    /// mutual TLS); node i's is peer_base_port + i - 1.
    #[arg(long, default_value_t = 50071)]
    pub peer_base_port: u16,
    /// Port of node 1's HTTP endpoint (/metrics, /healthz, /readyz); node
    /// i's is metrics_base_port + i - 1.
    #[arg(long, default_value_t = 50061)]
    pub metrics_base_port: u16,
    /// Interface to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port of the auth service.
    #[arg(long, default_value_t = 8000)]
    pub auth_port: u16,
    /// Port of the auth service for the gateway alone (mutual TLS; there
    /// the gateway says which browser it logs in, for throttling).
    #[arg(long, default_value_t = 8001)]
    pub auth_gateway_port: u16,
    /// Port of the payment service (the old clients' API).
    #[arg(long, default_value_t = 6000)]
    pub payment_port: u16,
    /// Port of the payment service's API for booking nodes (mutual TLS).
    #[arg(long, default_value_t = 6001)]
    pub payment_peer_port: u16,
    /// Port of the booking assistant.
    #[arg(long, default_value_t = 9000)]
    pub chatbot_port: u16,
    /// Port of the HTTP gateway (JSON API and live seat maps).
    #[arg(long, default_value_t = 8080)]
    pub gateway_port: u16,
    /// Allow a non-loopback --host although the development cluster has a
    /// well-known administrator password and a relaxed password policy.
    /// Every client port then serves TLS only (as with --tls).
    #[arg(long)]
    pub expose: bool,
    /// Serve every client port (nodes, auth, payment, assistant, gateway)
    /// over TLS with certificates of the cluster CA in `<data-dir>/certs`;
    /// clients pass `--ca <data-dir>/certs/ca.pem`. Without it (and without
    /// --expose) client ports are plaintext on loopback, so the old
    /// system's clients keep working.
    #[arg(long)]
    pub tls: bool,
}

/// Every process's config, in start order.
pub struct Plan {
    /// Where the files live (`--data-dir`).
    pub layout: Layout,
    /// The booking nodes.
    pub nodes: Vec<NodeConfig>,
    /// The auth service.
    pub auth: AuthConfig,
    /// The payment service.
    pub payment: PaymentConfig,
    /// The booking assistant.
    pub chatbot: ChatbotConfig,
    /// The gateway.
    pub gateway: GatewayConfig,
    /// Host names the certificates are valid for.
    hosts: Vec<String>,
}

impl UpArgs {
    /// Whether client ports serve TLS.
    pub fn client_tls(&self) -> bool {
        self.tls || self.expose
    }

    /// The CA file clients trust, when client ports serve TLS.
    pub fn client_ca(&self) -> Option<PathBuf> {
        self.client_tls()
            .then(|| self.layout().certs_dir().join(boxoffice_tls::CA_CERT_FILE))
    }

    fn layout(&self) -> Layout {
        Layout::new(&self.data_dir)
    }

    /// The client TLS certificate of `identity`, when client ports serve TLS.
    fn client_tls_of(&self, identity: Identity) -> Option<boxoffice_tls::ClientTls> {
        self.client_tls()
            .then(|| boxoffice_tls::ClientTls::in_dir(&self.layout().certs_dir(), identity))
    }

    fn addr(&self, port: u16) -> String {
        format!("{}:{port}", self.host)
    }

    /// Every process's config, validated; refused if two would listen on
    /// the same address.
    pub fn plan(&self) -> anyhow::Result<Plan> {
        let layout = self.layout();
        let nodes = self.node_configs()?;
        let mut auth = layout.auth(
            self.addr(self.auth_port),
            nodes.iter().map(|n| n.peer_listen.clone()).collect(),
            PasswordPolicy::Development,
            (DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD),
        );
        auth.gateway_listen = Some(self.addr(self.auth_gateway_port));
        auth.client_tls = self.client_tls_of(Identity::Auth);
        auth.validate()?;
        let mut payment = layout.payment(
            self.addr(self.payment_port),
            self.addr(self.payment_peer_port),
        );
        payment.client_tls = self.client_tls_of(Identity::Payment);
        payment.validate()?;
        let clients: Vec<String> = nodes.iter().map(|n| n.listen.clone()).collect();
        let mut chatbot = layout.chatbot(self.addr(self.chatbot_port), clients.clone());
        chatbot.client_tls = self.client_tls_of(Identity::Chatbot);
        chatbot.ca = self.client_ca();
        chatbot.validate()?;
        let mut gateway = layout.gateway(
            self.addr(self.gateway_port),
            clients,
            auth.listen.clone(),
            chatbot.listen.clone(),
        );
        gateway.auth_gateway = auth.gateway_listen.clone();
        gateway.node_peers = nodes.iter().map(|n| n.peer_listen.clone()).collect();
        gateway.tls = self.client_tls_of(Identity::Gateway);
        gateway.ca = self.client_ca();
        gateway.validate()?;
        let mut hosts = vec![self.host.clone()];
        for local in ["127.0.0.1", "localhost"] {
            if !hosts.iter().any(|h| h == local) {
                hosts.push(local.to_owned());
            }
        }
        let plan = Plan {
            layout,
            nodes,
            auth,
            payment,
            chatbot,
            gateway,
            hosts,
        };
        plan.listens()?;
        Ok(plan)
    }

    fn node_configs(&self) -> anyhow::Result<Vec<NodeConfig>> {
        let loopback = self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback && !self.expose {
            bail!(
                "--host {} is reachable from other machines, and this development cluster's administrator is {DEV_ADMIN_EMAIL} / {DEV_ADMIN_PASSWORD}; pass --expose if you really mean it",
                self.host
            );
        }
        if ![1, 3, 5].contains(&self.nodes) {
            bail!(
                "--nodes must be 1, 3 or 5 (an odd count tolerates the most failures), not {}",
                self.nodes
            );
        }
        let port = |base: u16, i: u64| -> anyhow::Result<u16> {
            u16::try_from(u64::from(base) + i - 1).context(
                "--base-port, --peer-base-port or --metrics-base-port too high for that many nodes",
            )
        };
        let members = (1..=self.nodes)
            .map(|i| {
                Ok(Member {
                    id: i,
                    addr: self.addr(port(self.peer_base_port, i)?),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let layout = self.layout();
        members
            .iter()
            .map(|m| {
                let mut config = layout.node(
                    m.id,
                    self.addr(port(self.base_port, m.id)?),
                    m.addr.clone(),
                    members.clone(),
                );
                // The operators' endpoint (metrics, health) has no TLS and
                // no login: exposed, it stays on this machine.
                config.http_listen = Some(format!(
                    "{}:{}",
                    if self.expose { "127.0.0.1" } else { &self.host },
                    port(self.metrics_base_port, m.id)?
                ));
                config.payment.endpoint =
                    Some(format!("https://{}", self.addr(self.payment_peer_port)));
                config.client_tls = self.client_tls_of(Identity::Node(config.id));
                config.validate()?;
                Ok(config)
            })
            .collect()
    }
}

impl Plan {
    /// Every address the processes listen on, refused if two are the same.
    fn listens(&self) -> anyhow::Result<Vec<&String>> {
        distinct_addresses(
            self.nodes
                .iter()
                .flat_map(|c| {
                    [&c.listen, &c.peer_listen]
                        .into_iter()
                        .chain(c.http_listen.as_ref())
                })
                .chain([&self.auth.listen])
                .chain(&self.auth.gateway_listen)
                .chain([
                    &self.payment.listen,
                    &self.payment.peer_listen,
                    &self.chatbot.listen,
                    &self.gateway.listen,
                ]),
        )
    }

    /// Checks every port is free, makes the data directory, the signing
    /// keys and the certificates unless they exist, and starts the nodes,
    /// then auth, payment, the assistant and the gateway, in `processes`.
    pub fn start(&self, processes: &Processes) -> anyhow::Result<()> {
        for listen in self.listens()? {
            StdListener::bind(listen).with_context(|| {
                format!(
                    "cannot listen on {listen} (is another boxoffice running? stop it or pass --base-port, --peer-base-port, --metrics-base-port, --auth-port, --auth-gateway-port, --payment-port, --payment-peer-port, --chatbot-port or --gateway-port)"
                )
            })?;
        }
        let dir = self.layout.dir();
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        self.layout.ensure_keys()?;
        let card_key = self.layout.card_key()?;
        let admission_key = self.layout.admission_key()?;
        let mut identities: Vec<Identity> =
            self.nodes.iter().map(|n| Identity::Node(n.id)).collect();
        identities.extend([
            Identity::Auth,
            Identity::Payment,
            Identity::Gateway,
            Identity::Chatbot,
            Identity::Operator,
        ]);
        self.layout.ensure_certificates(&identities, &self.hosts)?;
        for node in &self.nodes {
            let mut node = node.clone();
            node.payment.card_fingerprint_key = Some(card_key.clone());
            node.booking.admission_key = Some(admission_key.clone());
            processes.start(&format!("node{}", node.id), "node", &node)?;
        }
        processes.start("auth", "auth", &self.auth)?;
        processes.start("payment", "payment", &self.payment)?;
        processes.start("chatbot", "chatbot", &self.chatbot)?;
        processes.start("gateway", "gateway", &self.gateway)?;
        Ok(())
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
        let configs = args.node_configs()?;
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
