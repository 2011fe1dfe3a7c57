//! The operation history of a torture run: every client operation's
//! invocation and outcome, appended as JSON lines as they complete.
//!
//! An outcome is `ok`, `fail` (the system said no: it did not happen) or
//! `unknown` (a timeout or an unavailable node: it may or may not have
//! happened, and the checker must allow both).

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tonic::Code;

/// What an operation tried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Action {
    /// A paid booking (the whole checkout) of `seats` in `show`.
    Book {
        show: String,
        seats: Vec<u32>,
        request_id: String,
    },
    /// A linearizable read of one seat.
    Read { show: String, seat: u32 },
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// A booking made and confirmed.
    Booked { booking_id: String },
    /// A seat read: whether it was booked (confirmed).
    Seat { booked: bool },
    /// Refused: did not happen.
    Fail { code: String, message: String },
    /// May or may not have happened.
    Unknown { code: String, message: String },
}

impl Outcome {
    /// The outcome of a failed call. Only the refusals a node gives after
    /// deciding (seat taken, hold ended, bad input, unknown show) say it
    /// did not happen; anything else may hide an earlier attempt of the
    /// same call that took effect before a failover (the client returns
    /// its last attempt's status), so it is unknown.
    pub fn from_status(status: &tonic::Status) -> Self {
        let code = format!("{:?}", status.code());
        let message: String = status.message().chars().take(300).collect();
        match status.code() {
            Code::FailedPrecondition
            | Code::AlreadyExists
            | Code::InvalidArgument
            | Code::NotFound => Outcome::Fail { code, message },
            _ => Outcome::Unknown { code, message },
        }
    }
}

/// One completed operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// The client (and user) that ran it.
    pub client: String,
    /// Microseconds since the run started, at invocation and completion.
    pub invoked_us: u64,
    pub completed_us: u64,
    #[serde(flatten)]
    pub action: Action,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The history of one run, kept in memory and appended to a file.
pub struct History {
    start: Instant,
    ops: Mutex<Vec<Op>>,
    file: Mutex<std::fs::File>,
}

impl History {
    /// A new history written to `path`.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            start: Instant::now(),
            ops: Mutex::default(),
            file: Mutex::new(std::fs::File::create(path)?),
        })
    }

    /// Microseconds since the run started.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Records a completed operation.
    pub fn record(&self, op: Op) {
        if let Ok(line) = serde_json::to_string(&op) {
            let mut file = self.file.lock().expect("history file lock");
            // The in-memory copy is what the checker reads; a failed write
            // only loses the file copy of this line.
            let _ = writeln!(file, "{line}");
        }
        self.ops.lock().expect("history lock").push(op);
    }

    /// Every operation recorded so far.
    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().expect("history lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_fail_and_timeouts_are_unknown() {
        let refused = Outcome::from_status(&tonic::Status::failed_precondition("seat 3 taken"));
        assert!(matches!(refused, Outcome::Fail { .. }));
        for status in [
            tonic::Status::unavailable("no leader"),
            tonic::Status::deadline_exceeded("slow"),
            tonic::Status::internal("?"),
            tonic::Status::cancelled("gone"),
            tonic::Status::unauthenticated("session expired"),
            tonic::Status::resource_exhausted("payment outcome not known"),
        ] {
            assert!(matches!(
                Outcome::from_status(&status),
                Outcome::Unknown { .. }
            ));
        }
    }

    #[test]
    fn ops_round_trip_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let history = History::create(&path).unwrap();
        let op = Op {
            client: "c1".into(),
            invoked_us: 5,
            completed_us: 9,
            action: Action::Book {
                show: "s".into(),
                seats: vec![1, 2],
                request_id: "r".into(),
            },
            outcome: Outcome::Booked {
                booking_id: "7".into(),
            },
        };
        history.record(op.clone());
        let line = std::fs::read_to_string(&path).unwrap();
        assert_eq!(serde_json::from_str::<Op>(line.trim()).unwrap(), op);
        assert_eq!(history.ops(), vec![op]);
    }
}
