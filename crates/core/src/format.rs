//! The versions of the bytes replicas keep and exchange: a command as it
//! sits in the replicated log ([`encode_request`]) and an outcome as it
//! travels back to the node that proposed it ([`encode_outcome`]).
//! Snapshots carry their own tag (see [`State::to_snapshot`](crate::State::to_snapshot)).
//!
//! # The versions
//! - **1**, untagged: the [`Request`] (or [`Outcome`]) in postcard, as
//!   every build before versions wrote it. Such a command begins with the
//!   length of its request id (1 to [`MAX_ID_LEN`](crate::MAX_ID_LEN) =
//!   64), an outcome with 0 (`Ok`) or 1 (`Err`).
//! - **2 and later**, tagged: the byte [`MARKER`], the version byte, then
//!   the payload. [`MARKER`] can begin no version-1 bytes, so the two never
//!   mix. Version 2's payload is version 1's: it only names itself.
//! - **3**: version 2's payload; what changes is what the state machine
//!   makes of it ([`TIMED_OFFER_IDS`]). A command's version goes with it
//!   into [`State::apply_as`](crate::State::apply_as), so that replicas of
//!   two builds make the same of every entry during a rolling upgrade.
//!
//! # Upgrades
//! A build reads every version up to [`NEWEST`] and refuses a newer one
//! with [`FormatError::Newer`], which the node treats as fatal: it stops
//! applying rather than misread an entry its replicas understood. A build
//! writes the version its configuration says (1 by default), so that during
//! a rolling upgrade no node writes what a node not yet upgraded cannot
//! read; the operator raises it, and the nodes write it once every member
//! says it reads it (the booking node's `formats` gate).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Outcome, Request};

/// The first byte of a tagged (version 2 or later) command or outcome.
pub const MARKER: u8 = 0xB7;

/// The untagged version: plain postcard.
pub const UNTAGGED: u8 = 1;

/// The newest version this build reads.
pub const NEWEST: u8 = 3;

/// From this version on, a waiting-list offer's order id carries the time
/// it was offered (`wl_<booking>_<ms>`, not `wl_<booking>`): unique across
/// restores, which give out booking ids again.
pub const TIMED_OFFER_IDS: u8 = 3;

/// Why bytes of the log or an outcome cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Written in a version newer than this build reads: it comes from a
    /// newer build, and this node must be upgraded to read it.
    #[error(
        "written in format version {found}, newer than the {newest} this build reads: \
         upgrade this node to the build the others run"
    )]
    Newer {
        /// The version found.
        found: u8,
        /// The newest this build reads.
        newest: u8,
    },
    /// Tagged with version 0, or cut after the marker.
    #[error("not a command or outcome of any format version")]
    Malformed,
    /// The version is known but the payload does not decode.
    #[error("undecodable: {0}")]
    Undecodable(String),
}

/// The version of `bytes` and its payload, refusing versions newer than
/// `newest` (the build's [`NEWEST`], or an older one that a test makes a
/// node pretend to be).
pub fn version_of(bytes: &[u8], newest: u8) -> Result<(u8, &[u8]), FormatError> {
    match bytes {
        [MARKER, version, payload @ ..] => match *version {
            0 | UNTAGGED => Err(FormatError::Malformed),
            found if found > newest => Err(FormatError::Newer { found, newest }),
            found => Ok((found, payload)),
        },
        [MARKER] => Err(FormatError::Malformed),
        _ if UNTAGGED > newest => Err(FormatError::Newer {
            found: UNTAGGED,
            newest,
        }),
        payload => Ok((UNTAGGED, payload)),
    }
}

/// `value` in format `version` (1 untagged; 2 and later tagged).
fn encode<T: Serialize>(value: &T, version: u8) -> Vec<u8> {
    let bytes = if version > UNTAGGED {
        vec![MARKER, version]
    } else {
        Vec::new()
    };
    // Encoding plain data into a Vec cannot fail.
    postcard::to_extend(value, bytes).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(bytes: &[u8], newest: u8) -> Result<T, FormatError> {
    let (_, payload) = version_of(bytes, newest)?;
    postcard::from_bytes(payload).map_err(|e| FormatError::Undecodable(e.to_string()))
}

/// A command for the log, in format `version` (at most [`NEWEST`]).
pub fn encode_request(request: &Request, version: u8) -> Vec<u8> {
    encode(request, version.min(NEWEST))
}

/// A command from the log, of any version this build reads.
pub fn decode_request(bytes: &[u8]) -> Result<Request, FormatError> {
    decode(bytes, NEWEST)
}

/// An outcome for the node that proposed its command, in format `version`.
pub fn encode_outcome(outcome: &Outcome, version: u8) -> Vec<u8> {
    encode(outcome, version.min(NEWEST))
}

/// An outcome from the leader, of any version this build reads.
pub fn decode_outcome(bytes: &[u8]) -> Result<Outcome, FormatError> {
    decode(bytes, NEWEST)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, Effect, Rejection, RequestId};

    fn request(id: &str) -> Request {
        Request {
            request_id: RequestId(id.into()),
            caller: None,
            command: Command::ExpireHolds,
        }
    }

    #[test]
    fn every_version_this_build_reads_round_trips() {
        let r = request("r1");
        for version in UNTAGGED..=NEWEST {
            let bytes = encode_request(&r, version);
            assert_eq!(decode_request(&bytes), Ok(r.clone()), "version {version}");
            assert_eq!(version_of(&bytes, NEWEST).unwrap().0, version);
        }
        let outcomes: [Outcome; 2] = [
            Ok(Effect::Expired { released: 2 }),
            Err(Rejection::Invalid("no".into())),
        ];
        for outcome in outcomes {
            for version in UNTAGGED..=NEWEST {
                let bytes = encode_outcome(&outcome, version);
                assert_eq!(decode_outcome(&bytes), Ok(outcome.clone()));
            }
        }
    }

    #[test]
    fn version_one_is_the_plain_postcard_earlier_builds_wrote() {
        let r = request("r1");
        assert_eq!(encode_request(&r, 1), postcard::to_allocvec(&r).unwrap());
        let outcome: Outcome = Ok(Effect::Expired { released: 2 });
        assert_eq!(
            encode_outcome(&outcome, 1),
            postcard::to_allocvec(&outcome).unwrap()
        );
    }

    #[test]
    fn no_untagged_command_or_outcome_begins_with_the_marker() {
        // A request id is 1 to 64 bytes: its length is one varint byte.
        for len in 1..=crate::MAX_ID_LEN {
            let bytes = encode_request(&request(&"x".repeat(len)), UNTAGGED);
            assert_ne!(bytes[0], MARKER);
            assert!(usize::from(bytes[0]) == len);
        }
        for outcome in [
            Ok(Effect::Expired { released: 2 }),
            Err(Rejection::Invalid("x".into())),
        ] {
            assert!(encode_outcome(&outcome, UNTAGGED)[0] <= 1);
        }
    }

    #[test]
    fn a_newer_version_is_refused_not_misread() {
        let mut bytes = encode_request(&request("r1"), NEWEST);
        bytes[1] = NEWEST + 1;
        assert_eq!(
            decode_request(&bytes),
            Err(FormatError::Newer {
                found: NEWEST + 1,
                newest: NEWEST
            })
        );
        let message = decode_request(&bytes).unwrap_err().to_string();
        assert!(message.contains("upgrade this node"), "{message}");
        // A node that reads only version 1 (an older build) refuses 2.
        let two = encode_request(&request("r1"), 2);
        assert_eq!(
            version_of(&two, 1),
            Err(FormatError::Newer {
                found: 2,
                newest: 1
            })
        );
        // Malformed tags.
        assert_eq!(version_of(&[MARKER], NEWEST), Err(FormatError::Malformed));
        assert_eq!(
            version_of(&[MARKER, 0], NEWEST),
            Err(FormatError::Malformed)
        );
        assert_eq!(
            version_of(&[MARKER, 1], NEWEST),
            Err(FormatError::Malformed)
        );
        // Garbage of a known version is undecodable, not misread.
        assert!(matches!(
            decode_request(&[MARKER, 2, 0xFF, 0xFF]),
            Err(FormatError::Undecodable(_))
        ));
    }
}
