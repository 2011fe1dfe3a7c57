//! The booking state machine as a Raft [`Application`]: commands and
//! outcomes are postcard-encoded [`Request`]s and [`Outcome`]s.

use boxoffice_core::{Outcome, Rejection, Request, State, Timestamp};
use boxoffice_raft::Application;

/// [`State`] plugged into Raft.
#[derive(Default)]
pub struct BookingApp(pub State);

impl Application for BookingApp {
    fn apply(&mut self, at_ms: i64, command: &[u8]) -> Vec<u8> {
        let outcome: Outcome = match postcard::from_bytes::<Request>(command) {
            Ok(request) => self.0.apply(Timestamp(at_ms), &request),
            // Every replica decodes the same bytes the same way, so this
            // rejection is as deterministic as any other.
            Err(e) => Err(Rejection::Invalid(format!("undecodable command: {e}"))),
        };
        encode_outcome(&outcome)
    }

    fn snapshot(&self, out: &mut dyn std::io::Write) -> Result<(), String> {
        // postcard writes a few bytes at a time: buffer them before the
        // dynamic call.
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
        self.0.write_snapshot(&mut out).map_err(|e| e.to_string())?;
        std::io::Write::flush(&mut out).map_err(|e| e.to_string())
    }

    fn restore(bytes: &[u8]) -> Result<Self, String> {
        State::from_snapshot_bytes(bytes)
            .map(BookingApp)
            .map_err(|e| e.to_string())
    }
}

/// Encodes an outcome for the wire between nodes.
pub fn encode_outcome(outcome: &Outcome) -> Vec<u8> {
    // Encoding plain data into a Vec cannot fail.
    postcard::to_allocvec(outcome).unwrap_or_default()
}
