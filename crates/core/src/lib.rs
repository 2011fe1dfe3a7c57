//! Domain types and the deterministic booking state machine of Boxoffice.
//!
//! # Role
//!
//! Boxoffice sells seats for shows. Its state (user accounts, shows, their
//! seat maps, and bookings) is replicated across a Raft cluster: the leader appends each
//! client [`Request`] to the log together with a [`Timestamp`] read from its
//! own clock, and every replica feeds the committed entries, in log order, to
//! [`State::apply`]. This crate is that state machine and the vocabulary it
//! speaks. It does no I/O, reads no clock, draws no random numbers, and never
//! depends on hash-map iteration order (collections that are iterated are
//! `BTreeMap`s, `BTreeSet`s, vectors and queues in apply order; the one hash
//! table, the dedup index, is only looked up). Time enters only as the `at` argument of `apply`, and the
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
//! # Accounts and authorization
//!
//! User accounts live in this replicated state, like shows and bookings.
//! [`Command::RegisterUser`] creates one with an id from a counter (`u1`,
//! `u2`, …), a normalised unique email ([`normalize_email`]) and a password
//! hash; the auth service hashes and verifies passwords, so this crate never
//! sees one. [`Command::BootstrapAdmin`] creates the first administrator and
//! is refused once one exists; [`Command::SetAdmin`] grants and revokes the
//! role but never removes the last administrator.
//!
//! Every account has a `token_version`. The auth service puts the current
//! value into each session token it issues, and the gRPC edge, after
//! verifying a token, attaches a [`Caller`] (user plus token version) to the
//! request. [`Command::RevokeSessions`] (logout) and
//! [`Command::ChangePassword`] increment the version. Because `apply`
//! checks that a caller's version is the current one ([`State::authenticate`]),
//! revocation is linearizable: every replica refuses an old token from
//! exactly the log entry after the logout on, with no clock and no
//! revocation list.
//!
//! Authorization happens inside `apply`, deterministically, before the
//! command runs:
//!
//! - A request whose [`Request::caller`] is `Some` comes from an end user.
//!   The account must exist with that token version, else the request is
//!   refused as [`Rejection::Unauthenticated`] (and, like a malformed
//!   request id, not recorded for dedup, so the client can log in again and
//!   retry under the same id; nor is its id looked up, so a revoked session
//!   learns nothing). Then [`Command::check_permission`] decides:
//!   admin-only commands ([`Command::is_admin_only`]: creating and changing
//!   shows, granting the role, registering an administrator) need an
//!   administrator; customers hold, book and cancel only for themselves;
//!   sessions are ended by their owner or an administrator, and passwords
//!   changed by their owner only; and bootstrap, `Confirm`, `Release`,
//!   `Settle`, `RecordRefund` and `ExpireHolds` (the system's own payment
//!   and expiry steps) are refused to end users. A refusal is a
//!   [`Rejection::PermissionDenied`], not recorded for dedup, like any
//!   rejection.
//! - A request whose `caller` is `None` is **trusted**: it may issue any
//!   command for any user. Only internal components may send such requests
//!   (the auth service's own calls, bootstrap, the leader's expiry sweep
//!   and payment steps); the gRPC edge must set `caller` on every request
//!   it builds from an end user's call, because nothing here can tell the
//!   difference.
//!
//! Shows may also cap the seats one customer buys: `Hold` and `Book` carry
//! `max_seats_per_user`, and the customer's seats in active bookings of the
//! show plus the new ones must not exceed it ([`Rejection::SeatLimit`]).
//! A `Hold` also carries [`HoldLimits`] against hoarding: seats held at
//! once over all shows ([`Rejection::HeldSeatLimit`]), holds started per
//! rolling hour ([`Rejection::HoldRateLimit`]), and a cool-down before a
//! customer whose hold lapsed unpaid (ran out, or was given up) may hold
//! those seats again
//! ([`Rejection::HoldCooldown`]); the last two say when to retry
//! ([`Rejection::retry_after_ms`]). They are checked against the bookings,
//! so they keep no state of their own. Administrators are exempt from all
//! of these caps.
//!
//! # Checkout and money
//!
//! A paid sale is a saga whose every step is a command: [`Command::Hold`]
//! takes the seats for an order (its [`OrderId`] is the idempotency key of
//! the charge at the payment provider) until an expiry written into the
//! booking; [`Command::Confirm`] records the successful charge;
//! [`Command::Release`], the owner's [`Command::Cancel`] of a hold and
//! [`Command::ExpireHolds`] end a hold unpaid. The state machine cannot
//! know whether a charge is still in flight when a hold ends, so such a
//! booking's [`Payment`] stays `Pending` until [`Command::Settle`] records
//! the provider's final answer (the key was voided: nothing charged, or the
//! charge that did arrive, which becomes a refund due). Cancelling a paid
//! booking makes its charge a refund due too, and [`Command::RecordRefund`]
//! closes it. [`State::unsettled`] lists every booking the system still
//! has to act on, and [`State::holds`] every hold a new leader must resume;
//! the booking node's checkout coordinator works through both. Hence a
//! booking's money always ends charged-and-confirmed, not charged, or
//! refunded, whatever fails in between.
//!
//! # Rejections versus errors
//!
//! Most refusals — a seat already taken, an unknown booking, a malformed
//! show id — are ordinary, deterministic results: every replica refuses the
//! same request the same way, so a [`Rejection`] is part of the [`Outcome`]
//! (`Result<Effect, Rejection>`) and is returned to the client as such. A
//! rejection changes no account, show or booking: every check is made
//! before anything is mutated, so each command is all-or-none. (Confirming a hold
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
//! carries a [`RequestId`], scoped by its sender: each user's ids, and the
//! trusted requests' ids, are a namespace of their own, so nobody can
//! occupy another user's id. Within [`DEDUP_TTL_MS`] of a request's first
//! successful application, applying the same id in the same scope again
//! returns the first outcome and changes nothing (not even the clock), and
//! reusing it for a different command is refused with
//! [`Rejection::RequestIdReused`]. Only successes are remembered: a
//! rejected request is judged afresh when retried (the seat it wanted may
//! have been freed since), and no step of the checkout saga needs its
//! rejection replayed (see [`State::apply`]). A request whose id is itself
//! malformed, or whose caller fails authentication, is refused without a
//! trace, and a revoked session gets no recorded outcome, except the retry
//! of the logout or password change that ended it. One request is not
//! remembered by design: the system's own [`Command::Confirm`]
//! ([`Request::remembered`]), which the state makes idempotent by itself
//! (confirming a booking already confirmed with the same payment returns it
//! as it is); a retry of it is applied afresh, and one record per paid
//! booking is saved.
//!
//! The dedup window is kept small: a record holds a 128-bit SHA-256 key of
//! the sender's user and the request id, a 64-bit fingerprint of the command, the time, and
//! the outcome, a booking outcome as the booking's id, status and kind of
//! payment (every other field of a booking is fixed at creation, so the
//! booking as it was is rebuilt from the stored one). Bookings themselves
//! are stored as 56-byte records with interned show and user ids, and the
//! order and transaction ids the system issues as 16 bytes each (see
//! `state/stored.rs`); the API hands out owned [`Booking`]s.
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
//! - The per-user booking index, the hold-expiry index, the unsettled
//!   index and the active-seat index (each user's seats in active bookings
//!   by show, and held over all shows) agree exactly with the bookings.
//! - A booking's payment fits its status: a hold's is pending; a confirmed
//!   booking is charged or free; a released one is pending, not charged,
//!   refund due or refunded; a cancelled one is free, refund due or
//!   refunded; only bookings with an order have a payment other than none.
//! - Every account is stored under its id, which was issued by the user
//!   counter; its email is normalised and valid, and no two accounts share
//!   one; its password hash is well-formed. The email and administrator
//!   indexes agree exactly with the accounts.

//! # Map
//!
//! - [`command`]: the vocabulary, a [`Request`] carrying a [`Command`].
//! - [`validate`]: stateless checks of a request and who may issue it.
//! - [`outcome`]: what applying produces, an [`Effect`] or a [`Rejection`].
//! - [`best`]: "N seats together in category X", picked deterministically.
//! - [`ids`]: the domain's id newtypes, time, and limits.
//! - [`venue`]: venue layouts (sections, rows, seats, standing areas), their
//!   one validation, and the index from place numbers to labels.
//! - [`pricing`]: price categories and ticket types, resolved against a venue.
//! - [`state`]: the [`State`], `apply` and the queries; beneath it one
//!   module per concern: accounts, shows (and their seat map), venues,
//!   productions and performances, bookings,
//!   the checkout's commands, invariants, the snapshot format, the dedup
//!   window and the compact booking store.

#![deny(missing_docs)]

pub mod best;
pub mod card;
pub mod command;
pub mod format;
pub mod ids;
pub mod network;
pub mod outcome;
pub mod pow;
pub mod pricing;
pub mod state;
pub mod validate;
pub mod venue;

pub use best::{BestQuery, Pick, best_available};
pub use card::CardFingerprint;
pub use command::*;
pub use ids::*;
pub use network::Network;
pub use outcome::*;
pub use pricing::{
    COMPANION_TICKET_TYPE, CategorySpec, PlaceRule, PriceSpec, Pricing, PricingSpec,
    STANDARD_TICKET_TYPES, TicketType,
};
pub use state::*;
pub use validate::*;
pub use venue::{
    Place, Row, SeatAttrs, Section, Stage, StandingArea, Venue, VenueError, VenueIndex, VenueSeat,
};
