//! Where a cluster's files live under its directory, and the configs of
//! its processes with those paths filled in.
//!
//! `<dir>/certs` holds the cluster CA and every process's certificate,
//! `<dir>/keys` the token signing keys, `<dir>/node<id>` a node's data,
//! `<dir>/payment` the payment ledger; [`crate::Processes`] writes
//! `<dir>/<name>.toml` and `<dir>/<name>.log` beside them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use boxoffice_auth::config::{AdminCredentials, AuthConfig};
use boxoffice_auth::policy::PasswordPolicy;
use boxoffice_chatbot::config::ChatbotConfig;
use boxoffice_gateway::config::GatewayConfig;
use boxoffice_node::config::{Member, NodeConfig};
use boxoffice_payment::config::PaymentConfig;
use boxoffice_tls::Identity;

/// One cluster's directory.
#[derive(Clone, Debug)]
pub struct Layout {
    dir: PathBuf,
}

/// The members of a new cluster: node id → peer address.
pub fn members(peers: &BTreeMap<u64, String>) -> Vec<Member> {
    peers
        .iter()
        .map(|(id, addr)| Member {
            id: *id,
            addr: addr.clone(),
        })
        .collect()
}

impl Layout {
    /// The cluster under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cluster CA and every process's certificate.
    pub fn certs_dir(&self) -> PathBuf {
        self.dir.join("certs")
    }

    /// The token signing keys (nodes read the public ones).
    pub fn keys_dir(&self) -> PathBuf {
        self.dir.join("keys")
    }

    /// Makes the signing key pair unless there is one: nodes need the
    /// public key before they start (the auth service would make the pair
    /// on its first start).
    pub fn ensure_keys(&self) -> anyhow::Result<()> {
        boxoffice_auth::keys::SigningKeys::load_or_create(&self.keys_dir())?;
        Ok(())
    }

    /// The key of the cards' fingerprints that every node shares (see
    /// `payment.card_fingerprint_key`), made unless there is one.
    pub fn card_key(&self) -> anyhow::Result<boxoffice_node::config::SecretKey> {
        self.shared_key("card-fingerprint.key")
    }

    /// The key of the admission tokens that every node shares (see
    /// `booking.admission_key`), made unless there is one.
    pub fn admission_key(&self) -> anyhow::Result<boxoffice_node::config::SecretKey> {
        self.shared_key("admission.key")
    }

    /// The key every node shares in `name` in the keys directory, made
    /// (owner-only) unless it exists.
    fn shared_key(&self, name: &str) -> anyhow::Result<boxoffice_node::config::SecretKey> {
        let path = self.keys_dir().join(name);
        boxoffice_node::config::SecretKey::load_or_create(&path)
            .with_context(|| format!("reading or making {}", path.display()))
    }

    /// Makes the CA unless there is one, and the certificates of
    /// `identities` that are missing, valid for `hosts`.
    pub fn ensure_certificates(
        &self,
        identities: &[Identity],
        hosts: &[String],
    ) -> anyhow::Result<()> {
        boxoffice_tls::ensure(&self.certs_dir(), identities, hosts)
            .context("making the cluster's certificates")
    }

    /// The operator's certificate (the internal APIs: digests, the ledger).
    pub fn operator(&self) -> anyhow::Result<boxoffice_tls::Tls> {
        Ok(boxoffice_tls::TlsFiles::in_dir(&self.certs_dir(), Identity::Operator).load()?)
    }

    /// Node `id` listening on `listen` (clients) and `peer_listen`, one of
    /// `members` (empty for a node that waits to be added), with its data,
    /// certificate and the token keys here; everything else default.
    pub fn node(
        &self,
        id: u64,
        listen: String,
        peer_listen: String,
        members: Vec<Member>,
    ) -> NodeConfig {
        let mut config = NodeConfig {
            id,
            listen,
            peer_listen,
            certs_dir: self.certs_dir(),
            advertise: None,
            data_dir: self.dir.join(format!("node{id}")),
            initial_members: members,
            ..NodeConfig::default()
        };
        config.auth.keys_dir = self.keys_dir();
        config
    }

    /// The payment service on `listen` (the old clients' API) and
    /// `peer_listen` (nodes, mutual TLS), its ledger here.
    pub fn payment(&self, listen: String, peer_listen: String) -> PaymentConfig {
        PaymentConfig {
            listen,
            peer_listen,
            certs_dir: self.certs_dir(),
            data_dir: self.dir.join("payment"),
            ..PaymentConfig::default()
        }
    }

    /// The auth service on `listen`, reaching the nodes' peer ports
    /// `peers`, creating the administrator `admin` (email, password).
    pub fn auth(
        &self,
        listen: String,
        peers: Vec<String>,
        policy: PasswordPolicy,
        admin: (&str, &str),
    ) -> AuthConfig {
        AuthConfig {
            listen,
            nodes: peers,
            certs_dir: self.certs_dir(),
            keys_dir: self.keys_dir(),
            password_policy: policy,
            bootstrap_admin: Some(AdminCredentials {
                email: admin.0.into(),
                password: admin.1.into(),
            }),
            ..AuthConfig::default()
        }
    }

    /// The booking assistant on `listen`, reading from the nodes' client
    /// ports `nodes`.
    pub fn chatbot(&self, listen: String, nodes: Vec<String>) -> ChatbotConfig {
        ChatbotConfig {
            listen,
            nodes,
            ..ChatbotConfig::default()
        }
    }

    /// The gateway on `listen`, in front of the nodes' client ports
    /// `nodes`, the auth service's public port `auth` and the assistant.
    pub fn gateway(
        &self,
        listen: String,
        nodes: Vec<String>,
        auth: String,
        chatbot: String,
    ) -> GatewayConfig {
        GatewayConfig {
            listen,
            nodes,
            auth,
            certs_dir: self.certs_dir(),
            chatbot,
            ..GatewayConfig::default()
        }
    }
}
