//! The booking state machine as a Raft [`Application`]: commands and
//! outcomes are postcard-encoded [`Request`]s and [`Outcome`]s.

use boxoffice_core::{Outcome, Rejection, Request, State, Timestamp};
use boxoffice_raft::Application;

/// Why the booking state could not be written to or read from a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The snapshot's bytes could not be written out.
    #[error("{0}")]
    Write(#[from] std::io::Error),
    /// The state could not encode or decode itself.
    #[error("{0}")]
    State(#[from] boxoffice_core::SnapshotError),
}

/// [`State`] plugged into Raft.
#[derive(Default)]
pub struct BookingApp(pub State);

impl Application for BookingApp {
    type Error = SnapshotError;

    fn apply(&mut self, at_ms: i64, command: &[u8]) -> Vec<u8> {
        let outcome: Outcome = match postcard::from_bytes::<Request>(command) {
            Ok(request) => self.0.apply(Timestamp(at_ms), &request),
            // Every replica decodes the same bytes the same way, so this
            // rejection is as deterministic as any other.
            Err(e) => Err(Rejection::Invalid(format!("undecodable command: {e}"))),
        };
        encode_outcome(&outcome)
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

/// Encodes an outcome for the wire between nodes.
pub fn encode_outcome(outcome: &Outcome) -> Vec<u8> {
    // Encoding plain data into a Vec cannot fail.
    postcard::to_allocvec(outcome).unwrap_or_default()
}
