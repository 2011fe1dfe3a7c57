//! The gateway's Prometheus metrics, served at `/metrics`: every HTTP
//! request by method, route template and status, and its latency
//! ([`boxoffice_metrics::http`]); the live feeds (shows watched upstream,
//! pages subscribed, event streams open, cluster pollers); the process's
//! memory, threads and open files.

use std::fmt;
use std::sync::Arc;

use boxoffice_metrics::http::HttpMetrics;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use crate::streams::Streams;

use crate::live::Hub;
use crate::status::StatusFeed;

/// Every metric of one gateway.
pub struct GatewayMetrics {
    registry: Registry,
    /// The request metrics (the router's middleware).
    pub http: HttpMetrics,
}

impl GatewayMetrics {
    /// The metrics of a gateway whose live feeds are `hub`'s and
    /// `status`'s, its event streams counted by `streams`.
    pub fn new(hub: Arc<Hub>, status: Arc<StatusFeed>, streams: Arc<Streams>) -> Self {
        let mut root = Registry::default();
        root.register_collector(Box::new(boxoffice_metrics::process::ProcessCollector));
        let registry = root.sub_registry_with_prefix("boxoffice_gateway");
        let http = HttpMetrics::register(registry);
        registry.register_collector(Box::new(LiveCollector {
            hub,
            status,
            streams,
        }));
        Self {
            registry: root,
            http,
        }
    }

    /// The exposition as an HTTP response.
    pub fn response(&self) -> axum::response::Response {
        boxoffice_metrics::response(&self.registry)
    }
}

/// Reads the live feeds when scraped.
struct LiveCollector {
    hub: Arc<Hub>,
    status: Arc<StatusFeed>,
    streams: Arc<Streams>,
}

impl fmt::Debug for LiveCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveCollector").finish_non_exhaustive()
    }
}

impl Collector for LiveCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let (shows, pages) = self.hub.load();
        boxoffice_metrics::gauge(
            &mut encoder,
            "live_shows",
            "Shows whose live seat map this gateway follows (one WatchShow stream each)",
            shows as u64,
        )?;
        boxoffice_metrics::gauge(
            &mut encoder,
            "live_subscribers",
            "Open live seat map streams (pages watching a show)",
            pages as u64,
        )?;
        boxoffice_metrics::gauge(
            &mut encoder,
            "event_streams",
            "Open server-sent event streams of every kind (two pools, each capped by max_event_streams)",
            self.streams.open() as u64,
        )?;
        boxoffice_metrics::gauge(
            &mut encoder,
            "cluster_pollers",
            "Tasks polling the cluster's status for the cluster pages (0 or 1)",
            self.status.pollers() as u64,
        )
    }
}
