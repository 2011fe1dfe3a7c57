//! `boxoffice admin bootstrap`: creating the first administrator from the
//! operator's machine, where the auth service's keys are.
//!
//! The same step the service takes at start when `bootstrap_admin` is
//! configured ([`crate::service::run`]), run once by hand: the password is
//! checked against the configured policy, hashed here, and the account is
//! created through the nodes only if no administrator exists yet.

use std::path::Path;

use crate::config::{AdminCredentials, AuthConfig, ConfigError};
use crate::service::{AuthApi, AuthError};

/// Why no administrator was created.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The auth service's config could not be read, or the password breaks
    /// its policy.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The keys, certificates or node addresses of the config are unusable.
    #[error(transparent)]
    Service(#[from] AuthError),
    /// The cluster refused or failed the call (hashing, unreachable nodes).
    #[error("{}", .0.message())]
    Call(tonic::Status),
    /// An administrator exists already, or the email is taken: nothing
    /// changed.
    #[error("an administrator already exists (or {email} is taken); nothing changed")]
    AdminExists {
        /// The email asked for.
        email: String,
    },
}

/// Creates the administrator `email` with `password`, using the auth
/// service's config at `config` (defaults and `BOXOFFICE_AUTH__*` if
/// absent) for its keys, certificates, nodes and password policy.
pub async fn create_admin(
    config: Option<&Path>,
    email: &str,
    password: String,
) -> Result<(), BootstrapError> {
    let mut config = AuthConfig::load(config)?;
    config.bootstrap_admin = Some(AdminCredentials {
        email: email.to_owned(),
        password,
    });
    config.validate()?;
    let api = AuthApi::new(&config)?;
    let password = config
        .bootstrap_admin
        .as_ref()
        .map(|a| a.password.as_str())
        .unwrap_or_default();
    if api
        .bootstrap_admin(email, password)
        .await
        .map_err(BootstrapError::Call)?
    {
        Ok(())
    } else {
        Err(BootstrapError::AdminExists {
            email: email.to_owned(),
        })
    }
}
