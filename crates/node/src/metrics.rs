//! The node's Prometheus metrics, and its plain-HTTP endpoint (when
//! `http_listen` is set): `/metrics`, `/healthz` (the process serves) and
//! `/readyz` (it knows a leader, so writes and linearizable reads can
//! succeed; 503 otherwise).
//!
//! What is measured, all under the `boxoffice_` prefix:
//! - every gRPC call this node answers, by method and code, and its
//!   latency ([`boxoffice_metrics::grpc`]);
//! - Raft as this node sees it: term, leader, role, log/commit/applied/
//!   snapshot indexes, the apply lag (committed but not applied), on the
//!   leader each follower's replication lag, and the leader changes seen;
//! - the replicated state: shows, accounts, seats by state, bookings ever
//!   created, live holds, bookings awaiting settlement; these are the same
//!   on every node at the same applied index;
//! - every call this node makes to the payment service, by outcome;
//! - the one-call checkouts relayed to the leader or served for a peer;
//! - the process: resident memory, threads, open files.
//!
//! Raft and state figures are read when scraped, under the state's read
//! lock for one pass over the shows: nothing is counted on the hot path
//! but the gRPC calls and the payments.

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use boxoffice_metrics::grpc::{GrpcMetrics, code_name};
use boxoffice_metrics::{gauge, gauges};
use boxoffice_proto::v1;
use boxoffice_raft::RaftNode;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tonic::Status;

use crate::app::BookingApp;

/// Every metric of one node.
pub struct NodeMetrics {
    registry: Registry,
    /// The gRPC calls this node answers (the server's layer).
    pub grpc: GrpcMetrics,
    /// The calls this node makes to the payment service.
    pub payments: PaymentMetrics,
}

impl NodeMetrics {
    /// The metrics of `node`, whose payment calls are counted in
    /// `payments`; also starts counting its leader changes.
    pub fn new(
        node: &Arc<RaftNode<BookingApp>>,
        payments: PaymentMetrics,
        relays: RelayMetrics,
    ) -> Arc<Self> {
        // Process figures under their usual names, ours under `boxoffice_`.
        let mut root = Registry::default();
        root.register_collector(Box::new(boxoffice_metrics::process::ProcessCollector));
        let registry = root.sub_registry_with_prefix("boxoffice");
        let grpc = GrpcMetrics::register(registry, served_methods());
        registry.register(
            "payment_calls",
            "Calls this node made to the payment service, by call and outcome \
             (a transaction status, or the gRPC code of a failed call)",
            payments.calls.clone(),
        );
        registry.register(
            "checkout_relays",
            "One-call checkouts relayed between nodes, by outcome: relayed (this \
             follower's checkout, answered by the leader), ran_here (the relay failed \
             and this node ran it), served (a peer's checkout this node ran)",
            relays.checkouts.clone(),
        );
        let leader_changes = Counter::<u64>::default();
        registry.register(
            "raft_leader_changes",
            "Leaders this node has seen elected (a new leader, or the same one in a new term)",
            leader_changes.clone(),
        );
        count_leader_changes(node, leader_changes);
        registry.register_collector(Box::new(NodeCollector { node: node.clone() }));
        Arc::new(Self {
            registry: root,
            grpc,
            payments,
        })
    }
}

/// The paths of every gRPC method a node serves: ours, health, reflection.
fn served_methods() -> Vec<String> {
    [
        boxoffice_proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    ]
    .into_iter()
    .flat_map(|set| {
        boxoffice_metrics::grpc::method_paths(set).unwrap_or_else(|e| {
            // Generated constants: this would be a build problem. Their
            // calls are then counted as `unknown`.
            tracing::warn!(error = %e, "unreadable descriptor set; its methods are counted as unknown");
            Vec::new()
        })
    })
    .collect()
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PaymentLabels {
    call: &'static str,
    outcome: &'static str,
}

/// Calls to the payment service by call and outcome.
#[derive(Clone, Debug, Default)]
pub struct PaymentMetrics {
    calls: Family<PaymentLabels, Counter>,
}

impl PaymentMetrics {
    /// Records one `call` whose answer was `result` (`None`: no
    /// transaction stands under the key).
    pub fn record(&self, call: &'static str, result: Result<Option<&v1::Transaction>, &Status>) {
        let outcome = match result {
            Ok(Some(tx)) => {
                let name = crate::checkout::tx_status(tx).as_str_name();
                name.strip_prefix("TRANSACTION_STATUS_").unwrap_or(name)
            }
            Ok(None) => "NONE",
            Err(status) => code_name(status.code()),
        };
        self.calls
            .get_or_create(&PaymentLabels { call, outcome })
            .inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RelayLabels {
    outcome: &'static str,
}

/// Checkouts relayed between nodes, by outcome ([`crate::relay`]).
#[derive(Clone, Debug, Default)]
pub struct RelayMetrics {
    checkouts: Family<RelayLabels, Counter>,
}

impl RelayMetrics {
    /// Counts one checkout with `outcome`.
    pub fn record(&self, outcome: &'static str) {
        self.checkouts.get_or_create(&RelayLabels { outcome }).inc();
    }
}

/// Counts every (term, leader) pair this node sees, until Raft stops.
fn count_leader_changes(node: &Arc<RaftNode<BookingApp>>, counter: Counter<u64>) {
    let mut metrics = node.raft().metrics();
    tokio::spawn(async move {
        let mut last = None;
        loop {
            let seen = {
                let m = metrics.borrow_and_update();
                m.current_leader.map(|leader| (m.current_term, leader))
            };
            if seen.is_some() && seen != last {
                counter.inc();
                last = seen;
            }
            if metrics.changed().await.is_err() {
                return;
            }
        }
    });
}

/// Reads Raft's and the state's figures when scraped.
struct NodeCollector {
    node: Arc<RaftNode<BookingApp>>,
}

impl fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeCollector")
            .field("node", &self.node.id())
            .finish()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabel {
    role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabel {
    peer: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeatLabel {
    state: &'static str,
}

impl Collector for NodeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let status = self.node.local_status();
        let e = &mut encoder;
        gauge(e, "raft_term", "Current Raft term", status.term)?;
        gauge(
            e,
            "raft_leader",
            "Id of the leader this node knows (0: none)",
            status.leader_id,
        )?;
        let role = v1::NodeRole::try_from(status.role).unwrap_or(v1::NodeRole::Unspecified);
        let roles = [
            (v1::NodeRole::Leader, "leader"),
            (v1::NodeRole::Follower, "follower"),
            (v1::NodeRole::Candidate, "candidate"),
            (v1::NodeRole::Learner, "learner"),
        ]
        .map(|(r, name)| (RoleLabel { role: name }, u64::from(r == role)));
        gauges(
            e,
            "raft_role",
            "This node's Raft role (1 for the current one)",
            &roles,
        )?;
        for (name, help, value) in [
            (
                "raft_last_log_index",
                "Index of the last entry in this node's log",
                status.last_log_index,
            ),
            (
                "raft_commit_index",
                "Index of the last entry this node knows committed",
                status.commit_index,
            ),
            (
                "raft_applied_index",
                "Index of the last entry applied to this node's state",
                status.applied_index,
            ),
            (
                "raft_snapshot_index",
                "Index covered by this node's latest snapshot",
                status.snapshot_index,
            ),
            (
                "raft_purged_index",
                "Index up to which this node's log is compacted",
                status.purged_index,
            ),
            (
                "raft_apply_lag_entries",
                "Entries committed but not yet applied on this node",
                status.commit_index.saturating_sub(status.applied_index),
            ),
        ] {
            gauge(e, name, help, value)?;
        }
        let replication = self.node.raft().metrics().borrow().replication.clone();
        if let Some(replication) = replication {
            let lags: Vec<(PeerLabel, u64)> = replication
                .iter()
                .filter(|(peer, _)| **peer != status.node_id)
                .map(|(peer, matched)| {
                    let matched = matched.map_or(0, |id| id.index);
                    (
                        PeerLabel { peer: *peer },
                        status.last_log_index.saturating_sub(matched),
                    )
                })
                .collect();
            gauges(
                e,
                "raft_replication_lag_entries",
                "On the leader: entries of its log each follower has not yet acknowledged",
                &lags,
            )?;
        }
        let totals = self.node.state().read().app.0.totals();
        gauge(e, "shows", "Shows in the replicated state", totals.shows)?;
        gauge(
            e,
            "users",
            "User accounts in the replicated state",
            totals.users,
        )?;
        let seats = [
            (
                "available",
                totals
                    .seats
                    .saturating_sub(totals.seats_held + totals.seats_booked),
            ),
            ("held", totals.seats_held),
            ("booked", totals.seats_booked),
        ]
        .map(|(state, n)| (SeatLabel { state }, n));
        gauges(e, "seats", "Seats over all shows, by state", &seats)?;
        let created = ConstCounter::new(totals.bookings_created);
        created.encode(e.encode_descriptor(
            "bookings_created",
            "Bookings ever created, holds that ended included (replicated)",
            None,
            created.metric_type(),
        )?)?;
        gauge(
            e,
            "holds",
            "Bookings currently held, awaiting payment",
            totals.holds,
        )?;
        gauge(
            e,
            "bookings_unsettled",
            "Bookings whose payment the cluster must still settle (charge, void or refund)",
            totals.unsettled,
        )?;
        gauge(
            e,
            "dedup_records",
            "Requests remembered for deduplication",
            totals.dedup_records,
        )
    }
}

/// The node's plain-HTTP endpoints.
pub fn router(metrics: Arc<NodeMetrics>, node: Arc<RaftNode<BookingApp>>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { boxoffice_metrics::response(&metrics.registry) }
            }),
        )
        .route("/healthz", get(|| async { "serving\n" }))
        .route(
            "/readyz",
            get(move || {
                let node = node.clone();
                async move {
                    match node.raft().metrics().borrow().current_leader {
                        Some(leader) => {
                            (StatusCode::OK, format!("ready: leader is node {leader}\n"))
                        }
                        None => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not ready: no leader known\n".to_owned(),
                        ),
                    }
                }
            }),
        )
}
