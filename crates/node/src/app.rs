//! The booking state machine as a Raft [`Application`]: commands are
//! [`Request`](boxoffice_core::Request)s and outcomes [`Outcome`]s in a version of
//! [`boxoffice_core::format`]; an outcome is written in its command's
//! version, which the node that proposed it reads. A command of a version
//! newer than this build reads stops the node's applying (see
//! [`Application::readable`]) instead of being misread. Which version a
//! node writes is [`crate::formats`]' decision.

use std::sync::OnceLock;

use boxoffice_core::format::{self, FormatError};
use boxoffice_core::{Outcome, Rejection, State, Timestamp};
use boxoffice_raft::{Application, FormatVersions};

/// Debug builds only: a node started with this variable set to a version
/// reads no newer one, as a build of that version would (the rolling
/// upgrade and refusal tests run "old" nodes this way).
pub const PRETEND_NEWEST_VAR: &str = "BOXOFFICE_TEST_NEWEST_FORMAT";

/// The newest format version this node reads.
pub fn newest_readable() -> u8 {
    static NEWEST: OnceLock<u8> = OnceLock::new();
    *NEWEST.get_or_init(|| {
        let pretend = cfg!(debug_assertions)
            .then(|| std::env::var(PRETEND_NEWEST_VAR).ok()?.parse::<u8>().ok())
            .flatten();
        pretend.map_or(format::NEWEST, |v| {
            v.clamp(format::UNTAGGED, format::NEWEST)
        })
    })
}

/// Why the booking state could not be written to or read from a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The snapshot's bytes could not be written out.
    #[error("{0}")]
    Write(#[from] std::io::Error),
    /// The state could not encode or decode itself.
    #[error("{0}")]
    State(#[from] boxoffice_core::SnapshotError),
    /// A command of the log is in a format this build cannot read.
    #[error("a command of the log cannot be read: {0}")]
    Format(#[from] FormatError),
}

/// [`State`] plugged into Raft.
#[derive(Default)]
pub struct BookingApp(pub State);

impl Application for BookingApp {
    type Error = SnapshotError;

    fn formats() -> FormatVersions {
        FormatVersions {
            reads: crate::formats::advertised_readable(),
            writes: crate::formats::write_format(),
            configured: crate::formats::configured_write_format(),
            applied: crate::formats::newest_applied(),
        }
    }

    fn as_written(command: Vec<u8>) -> Result<Vec<u8>, String> {
        crate::formats::as_written(command)
    }

    fn readable(&self, command: &[u8]) -> Result<(), SnapshotError> {
        // Only a newer version stops the node: malformed bytes are
        // rejected by `apply` on every replica alike, as before versions
        // (one bad command from a member must not halt the cluster).
        match format::version_of(command, newest_readable()) {
            Err(newer @ FormatError::Newer { .. }) => Err(newer.into()),
            _ => Ok(()),
        }
    }

    fn apply(&mut self, at_ms: i64, command: &[u8]) -> Vec<u8> {
        // `readable` passed: the version is one this build reads.
        let version = format::version_of(command, format::NEWEST).map_or(format::UNTAGGED, |v| v.0);
        crate::formats::note_applied(version);
        let outcome: Outcome = match format::decode_request(command) {
            Ok(request) => self.0.apply_as(Timestamp(at_ms), &request, version),
            // Every replica decodes the same bytes the same way, so this
            // rejection is as deterministic as any other.
            Err(e) => Err(Rejection::Invalid(format!("undecodable command: {e}"))),
        };
        format::encode_outcome(&outcome, version)
    }

    fn snapshot(&self, out: &mut dyn std::io::Write) -> Result<(), SnapshotError> {
        // postcard writes a few bytes at a time: buffer them before the
        // dynamic call.
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
        self.0
            .write_snapshot(&mut out)
            .map_err(SnapshotError::State)?;
        Ok(std::io::Write::flush(&mut out)?)
    }

    fn restore(bytes: &[u8]) -> Result<Self, SnapshotError> {
        State::from_snapshot_bytes(bytes)
            .map(BookingApp)
            .map_err(SnapshotError::State)
    }
}
