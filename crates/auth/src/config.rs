//! The auth service's configuration: defaults, then a TOML file, then
//! `BOXOFFICE_AUTH__*` environment variables, then [`AuthConfig::validate`].

use std::path::{Path, PathBuf};

use figment::providers::Env;
use serde::{Deserialize, Serialize};

pub use boxoffice_config::ConfigError;

use crate::policy::PasswordPolicy;
use crate::token::{ACCESS_TTL, ISSUER, REFRESH_TTL};

/// Email and password of the first administrator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminCredentials {
    /// Email.
    pub email: String,
    /// Password (hashed before it leaves the auth service).
    pub password: String,
}

/// Per-account login throttling (see [`crate::throttle`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginThrottle {
    /// Failed logins before answers slow down.
    pub free_failures: u32,
    /// Failed logins after which the account is refused until the window passes.
    pub max_failures: u32,
    /// How long a failure counts, seconds.
    pub window_secs: u64,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::from_limits(crate::throttle::ACCOUNT_LIMITS)
    }
}

impl LoginThrottle {
    /// The settings of `l`.
    pub fn from_limits(l: crate::throttle::Limits) -> Self {
        Self {
            free_failures: l.free_failures,
            max_failures: l.max_failures,
            window_secs: l.window.as_secs(),
        }
    }
}

/// Everything the auth service needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Address to listen on.
    pub listen: String,
    /// Booking nodes' peer addresses (host:port), any of which serves
    /// account calls; reached over mutual TLS with this service's
    /// certificate.
    pub nodes: Vec<String>,
    /// Directory with the cluster CA (`ca.pem`) and this service's
    /// certificate (`auth.pem`, `auth.key`).
    pub certs_dir: PathBuf,
    /// Directory of signing keys (`<kid>.key.pem`, `<kid>.pub.pem`); a key
    /// pair is generated there on first start.
    pub keys_dir: PathBuf,
    /// Token issuer (`iss`); nodes must expect the same.
    pub issuer: String,
    /// Access token lifetime, seconds.
    pub access_ttl_secs: u64,
    /// Refresh token lifetime, seconds.
    pub refresh_ttl_secs: u64,
    /// Which password rules apply.
    pub password_policy: PasswordPolicy,
    /// Password hashes computed at once (each needs ~19 MiB and a core).
    pub hash_concurrency: usize,
    /// Creates this administrator at start if no administrator exists yet.
    pub bootstrap_admin: Option<AdminCredentials>,
    /// Per-account login throttling.
    pub login_throttle: LoginThrottle,
    /// Per-client-address login throttling (an IPv6 /64 counts as one
    /// address; behind the gateway, the browser's address).
    pub address_throttle: LoginThrottle,
    /// Serve clients over TLS with this certificate (plaintext without).
    pub client_tls: Option<boxoffice_tls::ClientTls>,
    /// A second listener for the gateway alone, over mutual TLS (the
    /// gateway's certificate of the cluster CA, in `certs_dir`). Only there
    /// is the client address the gateway forwards
    /// ([`boxoffice_proto::convert::CLIENT_ADDR`]) believed, so that logins
    /// through the gateway are throttled per browser, not all as one.
    pub gateway_listen: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8000".into(),
            nodes: vec![
                "127.0.0.1:50071".into(),
                "127.0.0.1:50072".into(),
                "127.0.0.1:50073".into(),
            ],
            certs_dir: PathBuf::from("./data/certs"),
            keys_dir: PathBuf::from("./data/keys"),
            issuer: ISSUER.into(),
            access_ttl_secs: ACCESS_TTL.as_secs(),
            refresh_ttl_secs: REFRESH_TTL.as_secs(),
            password_policy: PasswordPolicy::Strict,
            hash_concurrency: 2,
            bootstrap_admin: None,
            login_throttle: LoginThrottle::default(),
            address_throttle: LoginThrottle::from_limits(crate::throttle::ADDRESS_LIMITS),
            client_tls: None,
            gateway_listen: None,
        }
    }
}

impl AuthConfig {
    /// Defaults, then `path` (if given), then `BOXOFFICE_AUTH__*`, validated.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        boxoffice_config::load_validated(
            path,
            Env::prefixed("BOXOFFICE_AUTH__").split("__"),
            Self::validate,
        )
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::invalid("auth", m));
        boxoffice_config::check_listen_addr("listen", &self.listen)
            .map_err(|m| ConfigError::invalid("auth", m))?;
        if self.nodes.is_empty() {
            return bad("nodes must list at least one booking node".into());
        }
        if self.certs_dir.as_os_str().is_empty() {
            return bad("certs_dir must not be empty".into());
        }
        if self.access_ttl_secs == 0 || self.access_ttl_secs > self.refresh_ttl_secs {
            return bad("need 0 < access_ttl_secs <= refresh_ttl_secs".into());
        }
        for (name, throttle) in [
            ("login_throttle", &self.login_throttle),
            ("address_throttle", &self.address_throttle),
        ] {
            if throttle.free_failures >= throttle.max_failures || throttle.window_secs == 0 {
                return bad(format!(
                    "{name}.free_failures must be below max_failures, and window_secs above 0"
                ));
            }
        }
        if let Some(addr) = &self.gateway_listen {
            boxoffice_config::check_listen_addr("gateway_listen", addr)
                .map_err(|m| ConfigError::invalid("auth", m))?;
        }
        if self.hash_concurrency == 0 {
            return bad("hash_concurrency must be at least 1".into());
        }
        if let Some(admin) = &self.bootstrap_admin
            && let Err(why) = self.password_policy.check(&admin.password, &admin.email)
        {
            return bad(format!("bootstrap_admin password: {why}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        AuthConfig::default().validate().unwrap();
        let bad = [
            (
                AuthConfig {
                    address_throttle: LoginThrottle {
                        free_failures: 5,
                        max_failures: 5,
                        window_secs: 60,
                    },
                    ..AuthConfig::default()
                },
                "address_throttle",
            ),
            (
                AuthConfig {
                    login_throttle: LoginThrottle {
                        window_secs: 0,
                        ..LoginThrottle::default()
                    },
                    ..AuthConfig::default()
                },
                "login_throttle",
            ),
            (
                AuthConfig {
                    gateway_listen: Some("8001".into()),
                    ..AuthConfig::default()
                },
                "gateway_listen",
            ),
        ];
        for (config, key) in bad {
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
    }
}
