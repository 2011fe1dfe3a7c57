//! The HTTP gateway: a JSON API over the client library, live seat maps
//! as server-sent events, the OpenAPI document of both, and the web app
//! ([`web`]) that uses them.
//!
//! Request path: browser → this gateway (axum) → the client library →
//! any booking node over gRPC (with failover), the auth service or the
//! assistant. The gateway holds no data of its own: only the feeds of the
//! live maps being watched ([`live`]).
//!
//! Invariants:
//! - every call to the cluster is made as the bearer of the request's own
//!   token, never with any authority of the gateway's;
//! - every error is JSON with a status code from one mapping ([`error`]);
//! - request bodies are capped (`max_body_bytes`; a venue import at
//!   [`api::MAX_VENUE_BODY_BYTES`]), unknown JSON fields are
//!   refused, and every response carries the security headers below;
//! - CORS is off unless origins are configured;
//! - event streams are capped in all (`max_event_streams`, in two pools:
//!   anyone's, and signed-in buyers' own), per client address
//!   (`max_event_streams_per_client`, an IPv6 /64 counting as one) and per
//!   network (`max_event_streams_per_network`, an IPv4 /24 or IPv6 /48;
//!   [`streams`]);
//!   however many pages watch the cluster, one poller asks it ([`status`]);
//! - the OpenAPI document is generated from the handlers, so it lists
//!   exactly the routes served;
//! - on shutdown, the event streams end so the server can stop.

#![deny(missing_docs)]

pub mod api;
pub mod config;
pub mod dto;
pub mod error;
pub mod live;
pub mod metrics;
pub mod status;
pub mod streams;
pub mod web;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::get;
use boxoffice_client::Client;
use tower_http::cors::CorsLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::GatewayConfig;
use crate::error::ApiError;

/// Why the gateway could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// An address in the configuration is not usable.
    #[error(transparent)]
    Endpoint(#[from] boxoffice_client::EndpointError),
    /// Serving failed.
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
    /// A certificate, key or CA could not be read.
    #[error("TLS: {0}")]
    Tls(#[from] boxoffice_tls::TlsError),
}

/// What the handlers share: clients of the cluster and the live feeds.
pub struct Gateway {
    nodes: Client,
    /// The nodes for calls capped per network (holds): their peer ports,
    /// where the gateway's certificate lets it say for which browser it
    /// asks (`node_peers`).
    buyers: Client,
    auth: Client,
    chatbot: Client,
    live: Arc<live::Hub>,
    status: Arc<status::StatusFeed>,
    streams: Arc<streams::Streams>,
    /// Joins of waiting rooms, per browser network.
    joins: Option<boxoffice_config::windows::WindowCounts<boxoffice_core::Network>>,
    metrics: metrics::GatewayMetrics,
    closing: tokio::sync::watch::Sender<bool>,
}

impl Gateway {
    /// A gateway for the services `config` names (connects lazily).
    pub fn new(config: &GatewayConfig) -> Result<Arc<Self>, GatewayError> {
        let trust = match &config.ca {
            Some(ca) => Some(boxoffice_tls::client_trusting_file(ca)?),
            None => None,
        };
        let nodes = Client::with_tls(&config.nodes, trust.clone())?;
        // Accounts go to the auth service's gateway port when there is
        // one: there this gateway's certificate lets it say for which
        // browser it asks.
        let auth = match &config.auth_gateway {
            Some(addr) => {
                let tls = boxoffice_tls::TlsFiles::in_dir(
                    &config.certs_dir,
                    boxoffice_tls::Identity::Gateway,
                )
                .load()?;
                Client::with_tls(
                    &[addr.as_str()],
                    Some(tls.client_for(&boxoffice_tls::Identity::Auth.dns_name())),
                )?
            }
            None => Client::with_tls(&[config.auth.as_str()], trust.clone())?,
        };
        // `validate` requires node_peers: holds carry each browser's
        // address, believed only from this certificate on the peer ports.
        let buyers = {
            let tls = boxoffice_tls::TlsFiles::in_dir(
                &config.certs_dir,
                boxoffice_tls::Identity::Gateway,
            )
            .load()?;
            Client::with_tls(
                &config.node_peers,
                Some(tls.client_for(boxoffice_tls::ANY_NODE)),
            )?
        };
        // Seat maps through the peer ports too: there this gateway's
        // certificate gives it the nodes' own pool of `WatchShow` streams,
        // which no direct client can fill.
        let live = live::Hub::new(buyers.for_token(None));
        let status = status::StatusFeed::new(nodes.for_token(None));
        let streams = Arc::new(streams::Streams::new(
            config.max_event_streams,
            config.max_event_streams_per_client,
            config.max_event_streams_per_network,
        ));
        Ok(Arc::new(Self {
            metrics: metrics::GatewayMetrics::new(live.clone(), status.clone(), streams.clone()),
            live,
            status,
            streams,
            joins: (config.joins_per_network_per_minute > 0).then(|| {
                boxoffice_config::windows::WindowCounts::new(config.joins_per_network_per_minute)
            }),
            nodes,
            buyers,
            auth,
            chatbot: Client::with_tls(&[config.chatbot.as_str()], trust)?,
            closing: tokio::sync::watch::Sender::new(false),
        }))
    }

    /// A place for one more event stream of `kind` from `client`, or 429
    /// when it, its network or the pool is at its cap.
    pub(crate) fn admit_stream(
        &self,
        client: std::net::SocketAddr,
        kind: streams::Kind,
    ) -> Result<streams::Place, ApiError> {
        self.streams.admit(client.ip(), kind).map_err(|refusal| {
            ApiError::too_many(format!(
                "too many event streams: {refusal}; close a page and try again"
            ))
        })
    }

    /// A place for one more of a signed-in caller's own streams, from
    /// `client` with `token` (which the node has just accepted: its
    /// account is read from it), or 429; 401 for a token that names no
    /// account.
    pub(crate) fn admit_signed_in_stream(
        &self,
        client: std::net::SocketAddr,
        token: &str,
    ) -> Result<streams::Place, ApiError> {
        let account = streams::token_account(token).ok_or_else(|| {
            ApiError::from(tonic::Status::unauthenticated(
                "the session token names no account",
            ))
        })?;
        self.admit_stream(client, streams::Kind::SignedIn(&account))
    }

    /// Whether a browser at `client` may join a waiting room now: 429
    /// with the wait when its network's joins for the minute are spent.
    pub(crate) fn may_join(&self, client: std::net::IpAddr) -> Result<(), ApiError> {
        let Some(joins) = &self.joins else {
            return Ok(());
        };
        let network = boxoffice_core::Network::of(client);
        match joins.refusal(&network, std::time::Instant::now()) {
            None => Ok(()),
            Some(wait) => Err(ApiError::too_many(format!(
                "too many joins of waiting rooms from your network ({network}): wait {} s and \
                 try again",
                wait.as_secs().max(1)
            ))),
        }
    }

    /// Counts a join of a browser at `client` that took a place.
    pub(crate) fn joined(&self, client: std::net::IpAddr) {
        if let Some(joins) = &self.joins {
            joins.count(
                boxoffice_core::Network::of(client),
                std::time::Instant::now(),
            );
        }
    }

    /// Completes when the gateway is shutting down.
    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + use<> {
        let mut closing = self.closing.subscribe();
        async move {
            // The sender lives as long as the gateway; if it is gone, so is
            // everything the stream served.
            let _ = closing.wait_for(|c| *c).await;
        }
    }
}

/// Headers on every response.
const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
         form-action 'self'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    // The door page may read QR codes with this site's own camera
    // access (the browser still asks the user); nothing else may.
    (
        "permissions-policy",
        "camera=(self), microphone=(), geolocation=()",
    ),
];

/// The whole HTTP application.
pub fn app(gateway: Arc<Gateway>, config: &GatewayConfig) -> Router {
    let (api, openapi) = api::router().split_for_parts();
    let openapi = Arc::new(openapi);
    let mut router = api
        .route(
            "/api/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { axum::Json(openapi.as_ref().clone()) }
            }),
        )
        .merge(web::routes())
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            gateway.metrics.http.clone(),
            boxoffice_metrics::http::HttpMetrics::track,
        ))
        .with_state(gateway)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    for (name, value) in SECURITY_HEADERS {
        router = router.layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    if !config.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = config
            .cors_origins
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect();
        router = router.layer(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST, Method::PATCH])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        );
    }
    router
}

/// `boxoffice gateway`: runs the gateway from the config file at `path`
/// (defaults and `BOXOFFICE_GATEWAY__*` overrides only if absent) until
/// the process is asked to stop.
pub async fn serve(path: Option<&std::path::Path>) -> anyhow::Result<()> {
    boxoffice_server::process(|shutdown| async move {
        let config = config::GatewayConfig::load(path)?;
        let listener = boxoffice_server::bind(&config.listen).await?;
        run(config, listener, shutdown).await?;
        Ok(())
    })
    .await
}

/// Serves the gateway on `listener` until `shutdown` completes (HTTPS when
/// `config.tls` is set); open event streams end then too.
pub async fn run(
    config: GatewayConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let gateway = Gateway::new(&config)?;
    let closing = gateway.closing.clone();
    let app = app(gateway, &config);
    tracing::info!(
        listen = %config.listen,
        nodes = ?config.nodes,
        tls = config.tls.is_some(),
        "gateway serving"
    );
    // Handlers see the client's address (for the per-client caps).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let Some(tls) = &config.tls else {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                closing.send_replace(true);
            })
            .await?;
        return Ok(());
    };
    let (cert, key) = tls.read()?;
    let rustls = axum_server::tls_rustls::RustlsConfig::from_pem(cert, key).await?;
    let handle = axum_server::Handle::new();
    let stopping = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        closing.send_replace(true);
        stopping.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    axum_server::from_tcp_rustls(listener.into_std()?, rustls)?
        .handle(handle)
        .serve(app)
        .await?;
    Ok(())
}
