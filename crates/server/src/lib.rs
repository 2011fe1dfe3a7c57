//! `boxoffice-server`: how every service process starts and stops.
//!
//! The booking node, the auth and payment services, the booking assistant
//! and the gateway all run as `boxoffice <service> --config FILE`, and all
//! start the same way, through [`process`]:
//!
//! 1. tracing to stderr ([`init_tracing`]: `RUST_LOG`, default
//!    [`DEFAULT_FILTER`]; text for people or JSON for collectors, see
//!    [`LogFormat`]; openraft's per-RPC chatter quiet, see the `logs`
//!    module);
//! 2. the shutdown signal ([`terminated`]): SIGTERM or SIGINT becomes a
//!    future, its handlers installed before anything else, so that a signal
//!    during start-up (a node's log replay can take a while) stops the
//!    service cleanly once it is up instead of killing it midway;
//! 3. the service's own config → bind ([`bind`]) → serve, until that
//!    future resolves.
//!
//! Their gRPC ports are built with [`grpc`] (TLS when configured) and
//! served from [`incoming`] (TCP_NODELAY: small request/response messages
//! would otherwise wait ~40 ms on Nagle's algorithm and delayed ACKs).
//!
//! Invariants: this crate depends on no other Boxoffice crate, so every
//! service crate can use it without a cycle; it knows nothing of what a
//! service serves. The request-size limit stays with each service (its
//! `MAX_REQUEST_BYTES`, set on each of its gRPC services): tonic sets it
//! per service, not per server.

#![deny(missing_docs)]

mod logs;

use std::future::Future;
use std::pin::Pin;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Server, ServerTlsConfig};

pub use logs::{
    Chatter, DEFAULT_FILTER, LogFormat, OPENRAFT_CHATTER, init_tracing, log_format, set_log_format,
};

/// Resolves when the process is asked to stop (see [`terminated`]).
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A future that resolves on SIGINT (Ctrl-C), SIGTERM or SIGHUP. The handlers are
/// installed when this is called, not when the future is first polled, so
/// a signal arriving in between is not lost.
pub fn terminated() -> impl Future<Output = ()> + Send + 'static {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    let hup = signal(SignalKind::hangup());
    async move {
        match (term, int, hup) {
            (Ok(mut term), Ok(mut int), Ok(mut hup)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                    // The terminal closed (`up` in a closed window): stop
                    // cleanly, children included, rather than die.
                    _ = hup.recv() => {}
                }
            }
            // No signal handling available: never resolve.
            _ => std::future::pending().await,
        }
    }
}

/// Runs one service process: tracing, then the shutdown signal, then
/// `serve` (config → bind → serve) with that signal.
pub async fn process<F, Fut>(serve: F) -> anyhow::Result<()>
where
    F: FnOnce(Shutdown) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    init_tracing();
    let shutdown: Shutdown = Box::pin(terminated());
    serve(shutdown).await
}

/// Binds `addr`; the error names it.
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("binding {addr}: {e}")))
}

/// A gRPC server, serving TLS with `tls` when given.
pub fn grpc(tls: Option<ServerTlsConfig>) -> Result<Server, tonic::transport::Error> {
    let server = Server::builder();
    match tls {
        Some(tls) => server.tls_config(tls),
        None => Ok(server),
    }
}

/// The connections `listener` accepts, with TCP_NODELAY set.
pub fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}
