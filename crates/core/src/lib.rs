//! Domain types and the deterministic booking state machine of Boxoffice.
//!
//! # Role
//!
//! Boxoffice sells seats for shows. Its state (shows, their seat maps, and
//! bookings) is replicated across a Raft cluster: the leader appends each
//! client [`Request`] to the log together with a [`Timestamp`] read from its
//! own clock, and every replica feeds the committed entries, in log order, to
//! [`State::apply`]. This crate is that state machine and the vocabulary it
//! speaks. It does no I/O, reads no clock, draws no random numbers, and never
//! depends on hash-map iteration order (every collection is a `BTreeMap` or
//! `BTreeSet`). Time enters only as the `at` argument of `apply`, and the
//! effective time is `max(at, previous time)`, so the state machine's clock
//! never runs backwards even if leadership moves to a node whose clock lags.
//!
//! # Why determinism matters
//!
//! Raft guarantees that every replica sees the same entries in the same
//! order; it does not guarantee that they compute the same thing from them.
//! If `apply` consulted the local clock, iterated a `HashMap`, or otherwise
//! let anything but its inputs influence the result, two replicas could
//! disagree about who got seat 12, and a later leader would serve a history
//! its predecessor never acknowledged. Determinism is what turns an agreed
//! log into an agreed state: equal states plus equal requests give equal
//! states and equal outcomes. The same property makes the serialized
//! [`State`] usable as a Raft snapshot, and lets the tests replay random
//! histories and compare replicas exactly.
//!
//! # Rejections versus errors
//!
//! Most refusals — a seat already taken, an unknown booking, a malformed
//! show id — are ordinary, deterministic results: every replica refuses the
//! same request the same way, so a [`Rejection`] is part of the [`Outcome`]
//! (`Result<Effect, Rejection>`) and is returned to the client as such. A
//! rejection changes no show or booking: every check is made before
//! anything is mutated, so each command is all-or-none. (Confirming a hold
//! whose expiry has passed is refused with [`Rejection::HoldExpired`] and
//! leaves the hold in place; the leader's `ExpireHolds` sweep, scheduled
//! from [`State::next_hold_expiry`], releases it.) There are no fatal
//! errors inside `apply`: it never panics and has no error path other than
//! rejections. Fatal errors (a log that cannot be read, a snapshot that does
//! not decode or fails [`State::check_invariants`]) belong to the layers
//! around the state machine and mean the replica must stop rather than
//! diverge.
//!
//! # Idempotency
//!
//! Clients retry, and Raft may commit a retried request twice. Each request
//! carries a [`RequestId`]; within [`DEDUP_TTL_MS`] of its first
//! application, applying the same id again returns the first outcome and
//! changes nothing (not even the clock), and reusing it for a different
//! command is refused with [`Rejection::RequestIdReused`]. Rejected
//! requests are remembered like successful ones; a request whose id is
//! itself malformed is refused without being remembered.
//!
//! # Invariants
//!
//! [`State::check_invariants`] verifies all of these; the property tests
//! check them after every step of random histories.
//!
//! - Every seat that is `Held(b)` or `Booked(b)` names an existing booking
//!   `b` of the same show, whose status is `Held` or `Confirmed`
//!   respectively, and which lists that seat.
//! - Every `Held` or `Confirmed` booking's seats name that booking back.
//! - Hence no seat belongs to two active bookings.
//! - Each show's `held` and `booked` counters equal a scan of its seats, and
//!   `held + booked <= seat_count`.
//! - The per-user booking index and the hold-expiry index agree exactly with
//!   the bookings.

#![deny(missing_docs)]

pub mod command;
pub mod ids;
pub mod state;

pub use command::*;
pub use ids::*;
pub use state::*;
