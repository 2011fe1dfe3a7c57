//! Signed e-ticket codes: what the QR code on a ticket carries, and how a
//! door scanner checks it without asking anyone.
//!
//! # Role
//!
//! Every seat or standing place of a paid order is a ticket. Its code names
//! the ticket (booking and place), the performance, the place's label, the
//! ticket type and the ticket's *version*, and is signed with an Ed25519
//! key of the cluster. A scanner holding the cluster's public keys
//! ([`TicketVerifier`]) tells a genuine code from a forged or altered one
//! on its own, with the venue's network down.
//!
//! # Format
//!
//! `BT1.` followed by the URL-safe base64 (no padding) of the claims
//! ([`Ticket`] and the signing key's id, postcard-encoded) and then the
//! 64-byte signature. The signature covers a domain-separation prefix and
//! the claims, so a signature made for anything else never verifies here.
//! A 600-seat theatre's code is about 130 characters: a QR code of
//! version 7 or so, easily read from a phone screen.
//!
//! # Invariants
//!
//! - [`TicketVerifier::verify`] accepts a code only if it decodes exactly
//!   (no trailing bytes) and its signature verifies, strictly, under the
//!   key its claims name. Changing any character of a valid code makes it
//!   refused (a property test checks this).
//! - A code proves what was issued, not what is true now. Whether the
//!   ticket has since been returned or transferred is a question for the
//!   ticket's state: a return removes the ticket, a transfer or reissue
//!   bumps its version, and the door refuses a code whose version is not
//!   the ticket's current one.
//! - Input is bounded: a code longer than [`MAX_CODE_LEN`] is refused
//!   before it is decoded.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// What every code starts with (the format's version).
pub const PREFIX: &str = "BT1.";

/// The longest code a verifier decodes; anything longer is refused as is.
pub const MAX_CODE_LEN: usize = 1024;

/// Signed before the claims, so no other Ed25519 signature made with the
/// same key (none is, but keys get reused by mistake) can pass as a ticket.
const DOMAIN: &[u8] = b"boxoffice ticket v1\0";

/// A ticket: one place of one booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TicketId {
    /// The booking.
    pub booking: u64,
    /// The place (seat or standing place) number in the performance.
    pub place: u32,
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.booking, self.place)
    }
}

/// A ticket id that does not read `<booking>-<place>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a ticket id: expected <booking>-<place>, e.g. 17-204")]
pub struct BadTicketId(pub String);

impl FromStr for TicketId {
    type Err = BadTicketId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadTicketId(s.to_owned());
        let (booking, place) = s.trim().split_once('-').ok_or_else(bad)?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(booking) || !digits(place) {
            return Err(bad());
        }
        Ok(Self {
            booking: booking.parse().map_err(|_| bad())?,
            place: place.parse().map_err(|_| bad())?,
        })
    }
}

/// What a ticket's code claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Which ticket.
    pub id: TicketId,
    /// The performance it admits to.
    pub show: String,
    /// The place's label ("Stalls F-4", "Standing").
    pub place_label: String,
    /// The ticket type ("adult", "concession"); empty for a simple show.
    pub ticket_type: String,
    /// Bumped each time the ticket is reissued or transferred: only the
    /// current version's code admits.
    pub version: u32,
}

/// The signed part of a code.
#[derive(Serialize, Deserialize)]
struct Claims {
    kid: String,
    ticket: Ticket,
}

/// A public key that verifies ticket codes, with its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicTicketKey {
    /// The key's id, named in every code it signs.
    pub kid: String,
    /// The Ed25519 public key.
    pub key: [u8; 32],
}

/// A private key that signs ticket codes.
pub struct TicketSigner {
    kid: String,
    key: SigningKey,
}

impl fmt::Debug for TicketSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the private key.
        f.debug_struct("TicketSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TicketSigner {
    /// A new random key with this id.
    pub fn generate(kid: impl Into<String>) -> Self {
        Self {
            kid: kid.into(),
            key: SigningKey::generate(&mut rand_core::OsRng),
        }
    }

    /// The key with this id and 32-byte secret seed.
    pub fn from_seed(kid: impl Into<String>, seed: &[u8; 32]) -> Self {
        Self {
            kid: kid.into(),
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The secret seed (to store the key).
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half, which verifies this key's codes.
    pub fn public_key(&self) -> PublicTicketKey {
        PublicTicketKey {
            kid: self.kid.clone(),
            key: self.key.verifying_key().to_bytes(),
        }
    }

    /// The code of `ticket`, signed with this key.
    pub fn sign(&self, ticket: &Ticket) -> String {
        let claims = Claims {
            kid: self.kid.clone(),
            ticket: ticket.clone(),
        };
        let mut bytes = postcard::to_stdvec(&claims).expect("claims always serialize");
        let signature = self.key.sign(&signed_message(&bytes));
        bytes.extend_from_slice(&signature.to_bytes());
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }
}

fn signed_message(claims: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(DOMAIN.len() + claims.len());
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(claims);
    message
}

/// Why a code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Not a ticket code at all: wrong prefix, too long, not base64, or
    /// not the claims and a signature.
    #[error("not a Boxoffice ticket code")]
    NotATicket,
    /// Signed with a key this scanner does not know: another system's
    /// ticket, or a key added after the scanner loaded its list.
    #[error("signed with an unknown key ({0})")]
    UnknownKey(String),
    /// The signature does not match the claims: altered or forged.
    #[error("forged or altered: the signature does not match")]
    Forged,
}

/// A public key that is not a valid Ed25519 point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ticket key {0} is not a valid Ed25519 public key")]
pub struct BadKey(pub String);

/// The public keys a scanner verifies codes with.
#[derive(Clone, Debug, Default)]
pub struct TicketVerifier {
    keys: BTreeMap<String, VerifyingKey>,
}

impl TicketVerifier {
    /// A verifier trusting exactly `keys`.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a PublicTicketKey>) -> Result<Self, BadKey> {
        let mut verifier = Self::default();
        for key in keys {
            let verifying =
                VerifyingKey::from_bytes(&key.key).map_err(|_| BadKey(key.kid.clone()))?;
            verifier.keys.insert(key.kid.clone(), verifying);
        }
        Ok(verifier)
    }

    /// The ids of the keys trusted.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The ticket `code` claims, if its signature proves it (surrounding
    /// whitespace, as a scanner types it, is ignored).
    pub fn verify(&self, code: &str) -> Result<Ticket, CodeError> {
        let code = code.trim();
        if code.len() > MAX_CODE_LEN {
            return Err(CodeError::NotATicket);
        }
        let body = code.strip_prefix(PREFIX).ok_or(CodeError::NotATicket)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| CodeError::NotATicket)?;
        let split = bytes
            .len()
            .checked_sub(Signature::BYTE_SIZE)
            .ok_or(CodeError::NotATicket)?;
        let (claims_bytes, signature) = bytes.split_at(split);
        let (claims, rest): (Claims, _) =
            postcard::take_from_bytes(claims_bytes).map_err(|_| CodeError::NotATicket)?;
        if !rest.is_empty() {
            return Err(CodeError::NotATicket);
        }
        let key = self
            .keys
            .get(&claims.kid)
            .ok_or_else(|| CodeError::UnknownKey(claims.kid.clone()))?;
        let signature = Signature::from_slice(signature).map_err(|_| CodeError::Forged)?;
        key.verify_strict(&signed_message(claims_bytes), &signature)
            .map_err(|_| CodeError::Forged)?;
        Ok(claims.ticket)
    }
}

#[cfg(test)]
mod tests;
