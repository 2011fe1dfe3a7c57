//! Layered configuration, the same way for every Boxoffice process:
//! built-in defaults, then a TOML file, then environment variables, then
//! the process's own `validate()`.
//!
//! Invariant: a file named on the command line must exist (a typo in its
//! path is an error, not silently the defaults), and unknown keys in it
//! are errors when the config type says `deny_unknown_fields`.

#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The named file does not exist.
    #[error("config file {} does not exist", .0.display())]
    Missing(PathBuf),
    /// The file or an environment variable could not be parsed; the
    /// message names the key and where it came from.
    #[error("{0}")]
    Parse(Box<figment::Error>),
}

/// A configuration that cannot be used, with what to fix; the same for
/// every process.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an environment variable could not be read or parsed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A value is out of range or inconsistent.
    #[error("invalid {service} configuration: {problem}")]
    Invalid {
        /// The process: `node`, `auth`, `payment`, `chatbot`.
        service: &'static str,
        /// What is wrong, naming the key.
        problem: String,
    },
}

impl ConfigError {
    /// An [`ConfigError::Invalid`] of `service`.
    pub fn invalid(service: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            service,
            problem: problem.into(),
        }
    }
}

/// Checks that the setting `key` holds an `ip:port` address a process can
/// listen on; the error names the key and the value.
pub fn check_listen_addr(key: &str, value: &str) -> Result<(), String> {
    match value.parse::<std::net::SocketAddr>() {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("{key} = {value:?} is not an ip:port address")),
    }
}

/// [`load`], then `validate`: how every process reads its configuration.
pub fn load_validated<T>(
    path: Option<&Path>,
    env: Env,
    validate: impl FnOnce(&T) -> Result<(), ConfigError>,
) -> Result<T, ConfigError>
where
    T: Default + Serialize + DeserializeOwned,
{
    let config = load(path, env)?;
    validate(&config)?;
    Ok(config)
}

/// `T::default()`, then `path` (if given), then `env`.
pub fn load<T>(path: Option<&Path>, env: Env) -> Result<T, LoadError>
where
    T: Default + Serialize + DeserializeOwned,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = path {
        if !path.exists() {
            return Err(LoadError::Missing(path.to_owned()));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment
        .merge(env)
        .extract()
        .map_err(|e| LoadError::Parse(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_are_checked() {
        assert_eq!(check_listen_addr("listen", "127.0.0.1:80"), Ok(()));
        assert_eq!(check_listen_addr("listen", "[::1]:80"), Ok(()));
        for bad in ["localhost:80", "127.0.0.1", "", "1.2.3.4:99999"] {
            let message = check_listen_addr("http_listen", bad).unwrap_err();
            assert_eq!(
                message,
                format!("http_listen = {bad:?} is not an ip:port address")
            );
        }
    }
}
