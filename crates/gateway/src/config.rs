//! The gateway's configuration: defaults, then a TOML file, then
//! `BOXOFFICE_GATEWAY__*` environment variables, then validation.

use std::path::{Path, PathBuf};

use figment::providers::Env;
use serde::{Deserialize, Serialize};

pub use boxoffice_config::ConfigError;

/// Everything the gateway needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Address to listen on (HTTP).
    pub listen: String,
    /// Booking nodes (host:port); any node answers.
    pub nodes: Vec<String>,
    /// The auth service (host:port).
    pub auth: String,
    /// The booking assistant (host:port).
    pub chatbot: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Origins allowed to call the API from another site's pages (CORS).
    /// Empty, the default: none; the web app is served from the gateway
    /// itself and needs no CORS.
    pub cors_origins: Vec<String>,
    /// Most server-sent event streams open at once in each of two pools:
    /// anyone's (live seat maps, the cluster page) and signed-in buyers'
    /// own (the queue, the waiting list, the door); more get 429.
    pub max_event_streams: usize,
    /// Most of them one client address (an IPv6 /64) may hold open in
    /// each pool; a browser needs one per open page.
    pub max_event_streams_per_client: usize,
    /// Most of them one network (an IPv4 /24, an IPv6 /48) may hold open
    /// in each pool.
    pub max_event_streams_per_network: usize,
    /// Joins of waiting rooms one network (an IPv4 /24, an IPv6 /64) may
    /// make a minute through this gateway (counted when a join took a
    /// place, in windows of a minute); more get 429 with the wait. 0: no
    /// limit.
    pub joins_per_network_per_minute: u32,
    /// The auth service's gateway port (`gateway_listen` there; mutual
    /// TLS with the gateway's certificate from `certs_dir`). When set,
    /// registrations, logins and refreshes go there and carry each
    /// browser's address, so the auth service throttles them per browser;
    /// without it they go to `auth` and all count against the gateway's
    /// own address.
    pub auth_gateway: Option<String>,
    /// The booking nodes' peer ports (host:port; mutual TLS with the
    /// gateway's certificate from `certs_dir`); at least one. Holds, whose
    /// caps count per network, go there and carry each browser's address,
    /// so that fifty browsers behind the gateway are not one network (on
    /// `nodes` they would all count as the gateway's own, and 40 seats of
    /// a show would shut every browser out).
    pub node_peers: Vec<String>,
    /// Directory with the cluster CA and the gateway's certificate
    /// (`gateway.pem`, `gateway.key`), for `auth_gateway`.
    pub certs_dir: PathBuf,
    /// Serve HTTPS with this certificate (plain HTTP without).
    pub tls: Option<boxoffice_tls::ClientTls>,
    /// The CA (PEM file) to trust when the nodes, the auth service and the
    /// assistant serve their clients over TLS; plaintext to them without.
    pub ca: Option<PathBuf>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            nodes: vec![
                "127.0.0.1:50051".into(),
                "127.0.0.1:50052".into(),
                "127.0.0.1:50053".into(),
            ],
            auth: "127.0.0.1:8000".into(),
            chatbot: "127.0.0.1:9000".into(),
            max_body_bytes: 16 * 1024,
            cors_origins: Vec::new(),
            max_event_streams: 4096,
            max_event_streams_per_client: 32,
            max_event_streams_per_network: 256,
            joins_per_network_per_minute: 120,
            auth_gateway: None,
            node_peers: vec![
                "127.0.0.1:50071".into(),
                "127.0.0.1:50072".into(),
                "127.0.0.1:50073".into(),
            ],
            certs_dir: PathBuf::from("./data/certs"),
            tls: None,
            ca: None,
        }
    }
}

impl GatewayConfig {
    /// Defaults, then `path` (if given), then `BOXOFFICE_GATEWAY__*`, validated.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        boxoffice_config::load_validated(
            path,
            Env::prefixed("BOXOFFICE_GATEWAY__").split("__"),
            Self::validate,
        )
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::invalid("gateway", m));
        boxoffice_config::check_listen_addr("listen", &self.listen)
            .map_err(|m| ConfigError::invalid("gateway", m))?;
        if self.nodes.is_empty() {
            return bad("nodes must name at least one booking node".into());
        }
        if self.auth.trim().is_empty() || self.chatbot.trim().is_empty() {
            return bad("auth and chatbot must be host:port addresses".into());
        }
        if self.node_peers.is_empty() || self.node_peers.iter().any(|a| a.trim().is_empty()) {
            return bad(
                "node_peers must name the booking nodes' peer ports (host:port): without them \
                 every browser's hold would count as the gateway's own network"
                    .into(),
            );
        }
        if self
            .auth_gateway
            .as_ref()
            .is_some_and(|a| a.trim().is_empty())
        {
            return bad("auth_gateway must be a host:port address".into());
        }
        if !(1024..=1024 * 1024).contains(&self.max_body_bytes) {
            return bad(format!(
                "max_body_bytes = {} is outside 1024..=1048576",
                self.max_body_bytes
            ));
        }
        if !(1..=1_000_000).contains(&self.max_event_streams) {
            return bad(format!(
                "max_event_streams = {} is outside 1..=1000000",
                self.max_event_streams
            ));
        }
        if !(1..=1_000_000).contains(&self.max_event_streams_per_client) {
            return bad(format!(
                "max_event_streams_per_client = {} is outside 1..=1000000",
                self.max_event_streams_per_client
            ));
        }
        if !(1..=1_000_000).contains(&self.max_event_streams_per_network) {
            return bad(format!(
                "max_event_streams_per_network = {} is outside 1..=1000000",
                self.max_event_streams_per_network
            ));
        }
        for origin in &self.cors_origins {
            let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
                && origin.parse::<axum::http::HeaderValue>().is_ok()
                && !origin.ends_with('/');
            if !ok {
                return bad(format!(
                    "cors_origins entry {origin:?} is not an origin like https://tickets.example"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        GatewayConfig::default().validate().unwrap();
        let bad = [
            GatewayConfig {
                listen: "8080".into(),
                ..Default::default()
            },
            GatewayConfig {
                nodes: vec![],
                ..Default::default()
            },
            GatewayConfig {
                max_body_bytes: 10,
                ..Default::default()
            },
            GatewayConfig {
                cors_origins: vec!["*".into()],
                ..Default::default()
            },
            GatewayConfig {
                max_event_streams: 0,
                ..Default::default()
            },
            GatewayConfig {
                max_event_streams_per_client: 0,
                ..Default::default()
            },
            GatewayConfig {
                max_event_streams_per_network: 0,
                ..Default::default()
            },
            GatewayConfig {
                auth_gateway: Some(" ".into()),
                ..Default::default()
            },
            GatewayConfig {
                node_peers: Vec::new(),
                ..Default::default()
            },
        ];
        for config in bad {
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains("invalid gateway configuration"), "{error}");
        }
    }
}
