//! `boxoffice node`: a booking node as a process, started the way every
//! service is (`boxoffice_server::process`): config file → bind → the heap
//! trimmer ([`crate::trim`]) → [`crate::run`] until SIGTERM or SIGINT.

use std::path::Path;

use crate::{Listeners, NodeConfig, config, trim};

/// Runs a node from the config file at `path` (defaults and `BOXOFFICE_*`
/// overrides only if absent) until the process is asked to stop.
pub async fn serve(path: Option<&Path>) -> anyhow::Result<()> {
    boxoffice_server::process(|shutdown| async move {
        let config = NodeConfig::load(path)?;
        for name in config::ignored_env_vars() {
            tracing::warn!(variable = %name, "ignoring an environment variable that is not a node setting");
        }
        let listeners = Listeners::bind(&config).await?;
        trim::spawn(trim::PERIOD);
        crate::run(config, listeners, shutdown).await?;
        Ok(())
    })
    .await
}
