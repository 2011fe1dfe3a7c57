//! How the box office looks from outside: the one view layer shared by the
//! command-line client, the HTTP gateway and the assistant.
//!
//! # Role
//! Everything a person or a program reads about shows, seats and bookings
//! is shaped here, once: the JSON objects built from the cluster's protobuf
//! messages ([`json`]; venues, prices, tickets and reports in
//! [`json::venues`]), the names of every status ([`status`]), money
//! ([`money()`]), times printed and parsed ([`time`]), seat lists as
//! people type and read them ([`seats`]), and venue files and runs of
//! performances as administrators write them ([`venue_file`],
//! [`schedule`]), and their prices ([`pricing_file`]); a ticket's QR code as
//! SVG ([`qr`]). The limits a client checks
//! before asking (seats per booking, price, title length) are core's,
//! re-exported here so no client keeps its own copy.
//!
//! # Invariants
//! - An enum value this build does not know (sent by a newer server, or
//!   `UNSPECIFIED`) reads as `unknown` everywhere; it is never mistaken
//!   for a real state (an unknown booking is not "confirmed").
//! - A status's [`name`](status::BookingStatus::name) is exactly its JSON
//!   spelling, so text output and JSON never disagree.
//! - `--json` output of the CLI and the gateway's HTTP API serialise the
//!   same structs, so their field names cannot drift apart.
//! - Money keeps its sign for every negative amount; times are UTC.
//!
//! # Deliberately missing
//! No IO, no terminal styling and no HTTP: drawing a seat map in colour
//! belongs to the CLI, request bodies to the gateway.

#![deny(missing_docs)]

pub mod json;
pub mod money;
pub mod pricing_file;
pub mod qr;
pub mod schedule;
pub mod seats;
pub mod status;
pub mod time;
pub mod venue_file;

pub use boxoffice_core::{
    MAX_ID_LEN, MAX_PRICE_CENTS, MAX_SEATS_PER_BOOKING, MAX_SEATS_PER_SHOW, MAX_TITLE_LEN,
};
pub use money::money;
pub use time::{parse_time, when};
