//! The payment service's configuration: defaults, then a TOML file, then
//! `BOXOFFICE_PAYMENT__*` environment variables, then validation.

use std::path::{Path, PathBuf};

use figment::providers::Env;
use serde::{Deserialize, Serialize};

pub use boxoffice_config::ConfigError;

/// Faults to inject (see `boxoffice.v1.Faults`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Extra latency before every call, ms.
    pub latency_ms: u32,
    /// Share of calls failing with UNAVAILABLE before doing anything.
    pub failure_rate: f64,
    /// Share of successful charges whose reply is lost after recording.
    pub timeout_after_charge_rate: f64,
    /// Every call fails with UNAVAILABLE.
    pub down: bool,
}

/// A fault setting that is not possible.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FaultsError {
    /// A rate is not a probability.
    #[error("{name} must be between 0 and 1, not {rate}")]
    Rate {
        /// The setting.
        name: &'static str,
        /// Its value.
        rate: f64,
    },
}

impl Faults {
    /// Checks the rates are probabilities.
    pub fn validate(&self) -> Result<(), FaultsError> {
        for (name, rate) in [
            ("failure_rate", self.failure_rate),
            ("timeout_after_charge_rate", self.timeout_after_charge_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(FaultsError::Rate { name, rate });
            }
        }
        Ok(())
    }
}

/// Everything the payment service needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentConfig {
    /// Address to listen on.
    pub listen: String,
    /// Address of the v1 API for booking nodes (mutual TLS with the
    /// cluster CA; `listen` keeps only the old clients' services).
    pub peer_listen: String,
    /// Directory with the cluster CA (`ca.pem`) and this service's
    /// certificate (`payment.pem`, `payment.key`).
    pub certs_dir: PathBuf,
    /// Directory of the ledger (`ledger.redb`).
    pub data_dir: PathBuf,
    /// Token that `SetFaults` requires; unset: faults only from this file.
    pub admin_token: Option<String>,
    /// How long the "times out" test card keeps a call waiting, ms.
    pub hang_ms: u64,
    /// Faults in force at start.
    pub faults: Faults,
    /// Serve the old clients' port (`listen`) over TLS with this
    /// certificate (plaintext without, as the old contract has it).
    pub client_tls: Option<boxoffice_tls::ClientTls>,
}

impl Default for PaymentConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:6000".into(),
            peer_listen: "127.0.0.1:6001".into(),
            certs_dir: PathBuf::from("./data/certs"),
            data_dir: PathBuf::from("./data/payment"),
            admin_token: None,
            hang_ms: 30_000,
            faults: Faults::default(),
            client_tls: None,
        }
    }
}

impl PaymentConfig {
    /// Defaults, then `path` (if given), then `BOXOFFICE_PAYMENT__*`, validated.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        boxoffice_config::load_validated(
            path,
            Env::prefixed("BOXOFFICE_PAYMENT__").split("__"),
            Self::validate,
        )
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        boxoffice_config::check_listen_addr("listen", &self.listen)
            .map_err(|e| ConfigError::invalid("payment", e.to_string()))?;
        boxoffice_config::check_listen_addr("peer_listen", &self.peer_listen)
            .map_err(|e| ConfigError::invalid("payment", e.to_string()))?;
        if self.peer_listen == self.listen {
            return Err(ConfigError::invalid(
                "payment",
                "peer_listen must differ from listen",
            ));
        }
        if self.certs_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "payment",
                "certs_dir must not be empty",
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "payment",
                "data_dir must not be empty",
            ));
        }
        if self.admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::invalid(
                "payment",
                "admin_token must be at least 16 characters",
            ));
        }
        self.faults
            .validate()
            .map_err(|e| ConfigError::invalid("payment", e.to_string()))
    }
}
