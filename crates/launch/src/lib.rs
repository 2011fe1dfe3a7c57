//! `boxoffice-launch`: the one multi-process cluster launcher.
//!
//! `boxoffice up`, the fault-injection run (`boxoffice torture`) and the
//! integration tests all run a cluster as real OS processes of one
//! `boxoffice` binary (`up` passes `std::env::current_exe()`, tests
//! `env!("CARGO_BIN_EXE_boxoffice")`), so that `kill -9` is a real crash.
//! They share:
//!
//! - [`Layout`]: a cluster's directory (certificates, signing keys, each
//!   process's data) and the configs of nodes, auth, payment, assistant and
//!   gateway with those paths filled in, for callers to adjust;
//! - [`Processes`]: the process table: start
//!   `boxoffice <service> --config <dir>/<name>.toml` (optionally behind a
//!   command prefix such as `ip netns exec NS`, in its own process group,
//!   logging to a file or to our stderr), signal, `kill -9`, SIGTERM and
//!   wait, restart, stop all;
//! - [`InProcess`]: a service run as a task of the caller instead (the
//!   stateless auth service, the assistant, the gateway in tests);
//! - [`local`]: the fixed-port development cluster of `boxoffice up`;
//! - [`free_addr`] and [`wait_leader`].
//!
//! Invariants: a child's config file is the whole truth (no `BOXOFFICE_*`
//! variable of the launcher reaches it); files holding secrets are written
//! owner-only; every child a [`Processes`] started is killed when it is
//! dropped, so a failed test or run leaves no process behind.

#![deny(missing_docs)]

mod in_process;
mod layout;
pub mod local;
mod procs;

use std::net::SocketAddr;
use std::time::Duration;

use boxoffice_client::Client;
use boxoffice_client::proto::GetStatusResponse;

pub use in_process::InProcess;
pub use layout::{Layout, members};
pub use procs::{Extra, Output, Processes};

/// The administrator of a development cluster (what the old system's
/// clients log in as), created by `boxoffice up` and torture.
pub const DEV_ADMIN_EMAIL: &str = "admin@gmail.com";
/// Its password.
pub const DEV_ADMIN_PASSWORD: &str = "admin123";

/// A loopback address for a child process to bind, on every restart (never
/// one from the ephemeral range, where the nodes' own outgoing connections
/// could take it in between; see [`boxoffice_config::spare_loopback_addr`]).
pub fn free_addr() -> std::io::Result<SocketAddr> {
    boxoffice_config::spare_loopback_addr()
}

/// Polls `client`'s cluster status until it names a leader (every 100 ms,
/// up to `within`).
pub async fn wait_leader(client: &Client, within: Duration) -> Option<GetStatusResponse> {
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
    tokio::time::timeout(within, ready).await.ok()
}
