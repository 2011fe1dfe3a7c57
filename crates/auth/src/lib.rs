//! Accounts and sessions for Boxoffice: the pieces both the auth service
//! and the booking nodes need.
//!
//! - [`keys`]: Ed25519 signing keys on disk, generated on first start,
//!   rotated by adding a newer pair.
//! - [`token`]: EdDSA JWTs: issue (auth service), verify (every node, from
//!   public keys alone, no call to the auth service).
//! - [`password`]: argon2id hashing off the async runtime, bounded.
//! - [`policy`]: the password policy.
//! - [`throttle`]: login throttling per account and per client address.
//! - [`authenticator`]: bearer tokens of incoming calls to a `Caller`,
//!   with a cache of verified tokens (nodes and the auth service).
//! - [`bootstrap`]: the first administrator, created by hand
//!   (`boxoffice admin bootstrap`).
//! - [`service`]: the auth service, `boxoffice.v1.AuthService`; [`legacy`]:
//!   the old system's `auth.AuthService` on the same port, an adapter.
//!
//! Invariants: a token verifies only with algorithm EdDSA, a known `kid`,
//! the right issuer, audience and kind, and an unexpired `exp`; a token's
//! `ver` must still equal the user's token version in the replicated state
//! (checked by the nodes), so logout and password changes revoke tokens.
//! Passwords never leave the auth service; only their hashes are replicated.

#![deny(missing_docs)]

pub mod authenticator;
pub mod bootstrap;
pub mod config;
pub mod keys;
pub mod legacy;
pub mod password;
pub mod policy;
pub mod service;
pub mod throttle;
pub mod token;
