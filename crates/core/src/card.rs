//! A payment card as the cap per card counts it: a fingerprint, never the
//! number.
//!
//! The state machine never sees a card number: the node that receives
//! the payment reduces it to a keyed fingerprint (HMAC-SHA-256 of its
//! digits under a key the cluster's nodes share, so that nobody who
//! reads the log or a snapshot can test card numbers against it) and
//! the hold carries that ([`HoldLimits::card`](crate::HoldLimits::card)),
//! or `AttachCard` attaches it before a held booking is charged.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The first 16 bytes of a card's keyed fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CardFingerprint(pub [u8; 16]);

/// "card 1a2b3c4d": the first four bytes in hex, enough to tell cards
/// apart in a message, and nothing of the number.
impl fmt::Display for CardFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "card ")?;
        for byte in &self.0[..4] {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}
