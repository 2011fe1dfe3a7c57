//! The booking node: one member of the Raft cluster, serving the public API.
//!
//! A node serves, on its client port (`listen`; TLS when `client_tls` is
//! set):
//! - `boxoffice.v1.BookingService` ([`service`]): shows, seats, bookings,
//!   the checkout ([`checkout`]) when the cluster takes payments, and live
//!   seat maps ([`watch`]);
//! - `boxoffice.v1.ClusterService` ([`cluster`]): status and membership;
//! - `booking.BookingService` ([`legacy`]): the old system's contract, a
//!   thin adapter over the above for its unmodified clients;
//! - gRPC health checking and reflection (which lists these services only);
//!
//! on its peer port (`peer_listen`, mutual TLS with the cluster CA only):
//! - `boxoffice.internal.v1.RaftService`: Raft RPCs and forwarding between
//!   nodes, for members of the cluster (`boxoffice_raft::server`);
//! - `boxoffice.internal.v1.AccountService` ([`accounts`]): accounts, for
//!   the auth service's certificate only;
//! - `boxoffice.internal.v1.CheckoutRelay` ([`relay`]): one-call checkouts
//!   a follower hands to the leader whole, for members of the cluster;
//! - `boxoffice.v1.BookingService` again, for the gateway (any
//!   certificate of the CA may call it, each call acting only as the user
//!   its bearer token names, as on the client port): only the gateway's
//!   certificate makes the browser address it forwards count for the caps
//!   per network ([`service::client_network`]);
//! - gRPC health checking;
//!
//! and, on `http_listen` when set, `/metrics` for Prometheus, `/healthz`
//! and `/readyz` ([`metrics`]).
//!
//! Any node answers any call: a follower forwards writes to the leader and
//! gets a read index from it for linearizable reads, so clients never need
//! to find the leader.
//!
//! Every node also runs the checkout coordinator ([`coordinator`]), which
//! acts while its node leads: it expires holds, settles ended holds with
//! the payment service, makes due refunds and resumes checkouts a crashed
//! node left half done. And it runs the format gate ([`formats`]): commands
//! are written in `raft.write_format` only once every member reads it.
//!
//! Invariants kept here: no client-facing service can submit a command
//! without a caller (the state machine's trusted path): only the checkout,
//! the coordinator and authenticated peers do; a request is validated before it is proposed, so
//! malformed input never reaches the log; a caller is who their verified
//! bearer token says (`boxoffice_auth::authenticator`); every domain rejection becomes a gRPC
//! status in one place (`boxoffice_proto::convert`); the state is only read under the
//! state machine's read lock, never across an `.await`.

#![deny(missing_docs)]

pub mod accounts;
pub mod admission;
pub mod app;
mod charges;
pub mod checkout;
pub mod cluster;
pub mod config;
pub mod coordinator;
pub mod crash;
pub mod formats;
pub mod legacy;
pub mod metrics;
pub mod pace;
pub mod port;
pub mod process;
pub mod relay;
pub mod service;
pub mod trim;
pub mod watch;

use std::future::Future;
use std::sync::Arc;

use boxoffice_proto::internal::v1::account_service_server::AccountServiceServer;

use boxoffice_proto::legacy::booking::booking_service_server::BookingServiceServer as LegacyBookingServiceServer;
use boxoffice_proto::v1::booking_service_server::BookingServiceServer;
use boxoffice_proto::v1::cluster_service_server::ClusterServiceServer;
use boxoffice_raft::RaftNode;
use boxoffice_raft::server::RaftGrpc;
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic_health::server::HealthReporter;
use tracing::info;

pub use app::BookingApp;
pub use config::NodeConfig;
pub use service::TicketDesk;

/// The node's ticket signing key, in its data directory.
pub const TICKET_KEY_FILE: &str = "ticket.key";

/// Largest request a client may send (a batch of seats is tiny; this guards
/// against garbage).
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// A node failed to start or to serve.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Raft or storage could not start.
    #[error("starting raft: {0}")]
    Raft(#[from] boxoffice_raft::StartError),
    /// The gRPC server failed.
    #[error("serving gRPC: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// The token verification keys could not be loaded.
    #[error("loading token keys: {0}")]
    Keys(#[from] boxoffice_auth::keys::KeyError),
    /// The payment service's address is unusable.
    #[error("payment service: {0}")]
    Payment(#[from] checkout::ConnectError),
    /// Reflection setup failed.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The node's certificate, key or the CA could not be read.
    #[error("peer TLS: {0}")]
    Tls(#[from] boxoffice_tls::TlsError),
    /// The client TLS certificate could not be read.
    #[error("client TLS: {0}")]
    ClientTls(boxoffice_tls::TlsError),
    /// A listening address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The node's ticket signing key could not be read or made.
    #[error(transparent)]
    TicketKey(#[from] service::TicketKeyError),
    /// The HTTP endpoint failed.
    #[error("serving HTTP: {0}")]
    Http(std::io::Error),
}

/// Where a node listens: gRPC for clients and for peers, and the optional
/// plain-HTTP endpoint.
pub struct Listeners {
    /// The client gRPC listener (`listen`).
    pub grpc: TcpListener,
    /// The peer gRPC listener (`peer_listen`).
    pub peer: TcpListener,
    /// The HTTP listener for `/metrics`, `/healthz`, `/readyz` (`http_listen`).
    pub http: Option<TcpListener>,
}

impl Listeners {
    /// Binds the addresses `config` names.
    pub async fn bind(config: &NodeConfig) -> Result<Self, NodeError> {
        async fn bind(addr: &str) -> Result<TcpListener, NodeError> {
            TcpListener::bind(addr)
                .await
                .map_err(|source| NodeError::Bind {
                    addr: addr.to_owned(),
                    source,
                })
        }
        let grpc = bind(&config.listen).await?;
        let peer = bind(&config.peer_listen).await?;
        let http = match &config.http_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        Ok(Self { grpc, peer, http })
    }
}

/// Keeps the booking service's health in step with Raft: SERVING while this
/// node knows a leader (so writes and linearizable reads can succeed),
/// NOT_SERVING while there is none and once Raft stops.
fn report_booking_health(node: &RaftNode<BookingApp>, health: HealthReporter) {
    let mut metrics = node.raft().metrics();
    tokio::spawn(async move {
        loop {
            let has_leader = metrics.borrow_and_update().current_leader.is_some();
            if has_leader {
                health
                    .set_serving::<BookingServiceServer<service::BookingApi>>()
                    .await;
            } else {
                health
                    .set_not_serving::<BookingServiceServer<service::BookingApi>>()
                    .await;
            }
            if metrics.changed().await.is_err() {
                health
                    .set_not_serving::<BookingServiceServer<service::BookingApi>>()
                    .await;
                return;
            }
        }
    });
}

/// Runs a booking node on `listeners` until `shutdown` completes, then stops
/// Raft cleanly.
pub async fn run(
    config: NodeConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), NodeError> {
    let keys = boxoffice_auth::keys::PublicKeys::load(&config.auth.keys_dir)?;
    let auth = Arc::new(boxoffice_auth::authenticator::Authenticator::new(
        boxoffice_auth::token::TokenVerifier::new(keys, config.auth.issuer.clone()),
    ));
    let tickets = Arc::new(service::TicketDesk::open(
        &config.data_dir.join(TICKET_KEY_FILE),
        config.id,
    )?);
    let payment_metrics = metrics::PaymentMetrics::default();
    let relay_metrics = metrics::RelayMetrics::default();
    let tls = config.tls_files().load()?;
    let client_tls = match &config.client_tls {
        Some(files) => Some(files.server().map_err(NodeError::ClientTls)?),
        None => None,
    };
    let payments = checkout::Payments::connect(&config.payment, &tls, payment_metrics.clone())?;
    formats::set_write_format(config.raft.write_format);
    let node = RaftNode::<BookingApp>::start(config.raft_settings(tls.clone())).await?;
    formats::spawn_gate(node.clone());
    let metrics = metrics::NodeMetrics::new(&node, payment_metrics, relay_metrics.clone());
    coordinator::spawn(
        node.clone(),
        payments.clone(),
        std::time::Duration::from_millis(config.payment.sweep_interval_ms),
        config.payment.resume_after_ms,
    );
    if config.booking.admission_key.is_none() {
        tracing::warn!(
            node = config.id,
            "booking.admission_key is not set: waiting rooms give no admission tokens, and \
             holds that skip a room are refused only by the state machine"
        );
    }
    let checkout = payments.map(|payments| {
        if config.payment.card_fingerprint_key.is_none()
            && config.booking.max_seats_per_card_per_show > 0
        {
            tracing::warn!(
                node = config.id,
                "payment.card_fingerprint_key is not set: the cap per card \
                 (booking.max_seats_per_card_per_show) is off"
            );
        }
        let relay = config.payment.relay_checkouts.then(|| {
            relay::Relay::spawn(
                node.clone(),
                std::time::Duration::from_millis(config.payment.charge_timeout_ms),
                relay_metrics.clone(),
            )
        });
        Arc::new(checkout::Checkout::new(
            port::ReplicaPort::new(node.clone()),
            payments,
            &config.booking,
            relay,
        ))
    });
    let relay_server = checkout
        .clone()
        .map(|checkout| relay::RelayApi::server(node.clone(), checkout, relay_metrics));
    let (health, health_service) = tonic_health::server::health_reporter();
    report_booking_health(&node, health.clone());
    health
        .set_serving::<ClusterServiceServer<cluster::ClusterApi>>()
        .await;
    // Streams end when the node shuts down, or the server would wait for
    // them forever.
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    let http = listeners.http.map(|listener| {
        let mut closed = closing_rx.clone();
        let app = metrics::router(metrics.clone(), node.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = closed.wait_for(|c| *c).await;
                })
                .await
        })
    });
    let booking = Arc::new(service::BookingApi::new(
        port::ReplicaPort::new(node.clone()),
        auth.clone(),
        &config.booking,
        checkout,
        closing_rx,
        tickets,
    ));
    // Reflection lists the client port's services only. (The internal
    // services' descriptors can still be fetched by symbol name, as they
    // are in the same descriptor set; describing them gives no access.)
    let reflection = boxoffice_proto::reflection(&[
        <BookingServiceServer<service::BookingApi> as NamedService>::NAME,
        <ClusterServiceServer<cluster::ClusterApi> as NamedService>::NAME,
        <LegacyBookingServiceServer<legacy::LegacyBooking> as NamedService>::NAME,
    ])?;
    info!(
        node = config.id,
        listen = %config.listen,
        peer_listen = %config.peer_listen,
        client_tls = client_tls.is_some(),
        http_listen = ?config.http_listen,
        data_dir = %config.data_dir.display(),
        "booking node serving"
    );
    let client_server = boxoffice_server::grpc(client_tls)?;
    let (peer_stop, peer_stopped) = tokio::sync::oneshot::channel::<()>();
    let served = client_server
        .layer(metrics.grpc.clone())
        .add_service(health_service.clone())
        .add_service(reflection)
        .add_service(
            BookingServiceServer::from_arc(booking.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            LegacyBookingServiceServer::new(legacy::LegacyBooking::new(
                booking.clone(),
                port::ReplicaPort::new(node.clone()),
            ))
            .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            ClusterServiceServer::new(cluster::ClusterApi::new(node.clone(), auth.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        // Small request/response messages: without TCP_NODELAY, Nagle's
        // algorithm and delayed ACKs add ~40 ms to some replies.
        .serve_with_incoming_shutdown(boxoffice_server::incoming(listeners.grpc), shutdown);
    let peer_served = boxoffice_server::grpc(Some(tls.mutual_server()))?
        .layer(metrics.grpc.clone())
        .add_service(health_service)
        .add_service(
            AccountServiceServer::new(accounts::AccountApi::new(
                port::ReplicaPort::new(node.clone()),
                auth,
            ))
            .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(RaftGrpc::server(node.clone()))
        .add_optional_service(relay_server)
        // The public booking API again, for the gateway: over mutual TLS
        // its certificate proves it, so the browser address it forwards
        // is believed (for the caps per network); every call still needs
        // its end user's token, as on the client port.
        .add_service(
            BookingServiceServer::from_arc(booking).max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .serve_with_incoming_shutdown(boxoffice_server::incoming(listeners.peer), async move {
            let _ = peer_stopped.await;
        });
    // The peer port stays up until the client port has drained: a request
    // still being served may need the leader to answer.
    let peer_served = tokio::spawn(peer_served);
    let served = served.await;
    let _ = peer_stop.send(());
    let peer_served = peer_served
        .await
        .unwrap_or_else(|e| panic!("peer server task failed: {e}"));
    info!(node = config.id, "stopping raft");
    node.shutdown().await;
    // The HTTP server stops with `closing` (or once its sender is gone).
    let http_served = match http {
        Some(http) => http.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
        None => Ok(()),
    };
    served?;
    peer_served?;
    http_served.map_err(NodeError::Http)
}
