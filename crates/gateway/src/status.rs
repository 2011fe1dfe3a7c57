//! The cluster's status, live, for every open cluster page at the cost of
//! one: a single poller asks the cluster for its status every
//! [`EVERY`] while at least one page listens, and publishes what it saw
//! when it changed. Pages only read the latest value, so a thousand open
//! pages cost the nodes what one does.
//!
//! Invariant: the poller runs exactly while someone is subscribed. The
//! check for "nobody listens" and every new subscription happen under
//! one lock, so a page that subscribes as the poller stops gets a new
//! poller, never a silent stream.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use boxoffice_client::Client;
use tokio::sync::watch;

use crate::dto::Cluster;
use crate::error::ApiError;

/// How often the poller looks at the cluster.
pub const EVERY: Duration = Duration::from_millis(500);

/// What a look at the cluster found: its status, or why no node answered.
pub type Seen = Result<Cluster, ApiError>;

/// The shared poller and its latest result.
pub struct StatusFeed {
    nodes: Client,
    latest: watch::Sender<Option<Seen>>,
    /// Whether a poller task runs; guards subscribing against its end.
    polling: Mutex<bool>,
}

impl StatusFeed {
    /// A feed that asks `nodes` (connects lazily; polls only once
    /// subscribed).
    pub fn new(nodes: Client) -> Arc<Self> {
        Arc::new(Self {
            nodes,
            latest: watch::Sender::new(None),
            polling: Mutex::new(false),
        })
    }

    /// The latest status, `None` until the first look; starts the poller
    /// if none runs.
    pub fn subscribe(self: &Arc<Self>) -> watch::Receiver<Option<Seen>> {
        let mut polling = self.polling.lock().unwrap_or_else(PoisonError::into_inner);
        let receiver = self.latest.subscribe();
        if !*polling {
            *polling = true;
            tokio::spawn(self.clone().poll());
        }
        receiver
    }

    /// Number of pollers running (0 or 1), for the metrics.
    pub fn pollers(&self) -> usize {
        usize::from(*self.polling.lock().unwrap_or_else(PoisonError::into_inner))
    }

    async fn poll(self: Arc<Self>) {
        loop {
            let seen = match self.nodes.status().await {
                Ok(status) => Ok(Cluster::from(status)),
                Err(status) => Err(ApiError::from(status)),
            };
            self.latest.send_if_modified(|latest| {
                let changed = latest.as_ref() != Some(&seen);
                if changed {
                    *latest = Some(seen);
                }
                changed
            });
            tokio::time::sleep(EVERY).await;
            let mut polling = self.polling.lock().unwrap_or_else(PoisonError::into_inner);
            if self.latest.receiver_count() == 0 {
                // A later page must not start from what is stale by now.
                self.latest.send_replace(None);
                *polling = false;
                return;
            }
        }
    }
}
