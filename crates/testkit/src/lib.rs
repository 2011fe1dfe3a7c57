//! `boxoffice-testkit`: the tools for testers, behind `boxoffice bench`
//! and `boxoffice torture`.
//!
//! - [`mod@bench`] measures booking throughput and latency against a running
//!   cluster; its `failover` workload kills the leader with SIGKILL and
//!   waits for `boxoffice up` to start it again ([`leader_kill`]);
//! - [`torture`] starts its own cluster (through the shared launcher,
//!   `boxoffice_launch`) behind per-link proxies, drives clients while
//!   killing, pausing and partitioning nodes and the payment service, and
//!   checks every booking against the rules in docs/testing.md.
//!
//! Invariants: nothing here is part of the product's serving path; a run
//! only reaches a cluster through its public and operator APIs and its
//! processes, as a client or an operator would.

pub mod bench;
pub mod leader_kill;
pub mod torture;
