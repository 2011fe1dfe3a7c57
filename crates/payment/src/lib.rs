//! The payment service: a mock card payment provider that behaves like a
//! real one, so the checkout is built against realistic failures.
//!
//! - [`cards`]: card checks (Luhn, expiry, CVC) and the test cards; only
//!   the last four digits are ever stored or logged.
//! - [`ledger`]: the durable ledger on redb with a journal: transactions,
//!   idempotency keys and refunds (full or partial, under refund keys),
//!   every reply after the group's journal record is synced.
//! - [`config`]: listen addresses, certificates, data directory,
//!   injectable faults.
//! - [`service`]: `boxoffice.v1.PaymentService` over gRPC, on its own
//!   mutual-TLS listener (`peer_listen`): charge, refund and void for the
//!   cluster's booking nodes only, reads for them and the operator.
//! - [`legacy`]: the old system's `payment.PaymentService`, an adapter,
//!   alone on the plaintext `listen` port with health: it charges and
//!   looks up, never refunds or voids.
//!
//! Invariants: money moves only at the request of a certificate naming a
//! booking node (or an old client's own charge); a charge acknowledged is on disk; an idempotency key is
//! bound to one set of parameters and one transaction forever; a refund
//! key is bound to one transaction and amount, and its refund happens at
//! most once; the refunds of a charge never exceed it (a refund without a
//! key refunds what remains); a declined charge charged nothing; a
//! voided key never gets a charge, and a void reports the charge made
//! before it, if any; a ledger that failed a write part way writes
//! nothing more, and the service stops so that a restart replays it.

#![deny(missing_docs)]

pub mod cards;
pub mod config;
pub mod ledger;
pub mod legacy;
pub mod service;
