//! Which format version of [`boxoffice_core::format`] this node writes
//! commands in: the operator's `raft.write_format`, but only once every
//! member of the cluster says it reads that version.
//!
//! Each node reports the newest version it reads in its status
//! (`NodeStatus.reads_format`). A task (the *gate*) asks every member for
//! its status each [`GATE_INTERVAL`] and writes the configured version
//! when all of them read it, else the newest version they all read. A
//! member that has not answered since this node started counts as reading
//! version 1 (every build reads it); one that answered and is now
//! unreachable keeps what it said. So raising `raft.write_format` while a
//! node still runs an older build no longer stops that node: the others
//! keep writing what it reads until it is upgraded.
//!
//! Only the leader's choice reaches the log: [`as_written`] re-encodes a
//! command a follower encoded in a newer version than the leader writes.
//!
//! What the gate cannot see: a member put back on an older build after it
//! said it reads the newer version. While it is down the others keep its
//! word; when it is back it meets the entries of that version written
//! since, and stops applying at the first (see [`crate::app`]). Upgrades
//! go forward only (docs/architecture.md).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use boxoffice_core::format;
use boxoffice_raft::RaftNode;
use boxoffice_raft::types::NodeId;
use openraft::ServerState;
use tokio::time::MissedTickBehavior;

use crate::app::{BookingApp, newest_readable};

/// How often the gate asks the members what they read.
pub const GATE_INTERVAL: Duration = Duration::from_secs(1);

// The versions are the process's: one node runs in a process, as every
// deployment runs it (tests that run several nodes in one process leave
// them at version 1).

/// The version `raft.write_format` asks for.
static CONFIGURED: AtomicU8 = AtomicU8::new(format::UNTAGGED);
/// The version commands are written in now (never above [`CONFIGURED`]).
static WRITING: AtomicU8 = AtomicU8::new(format::UNTAGGED);

/// Sets the version `raft.write_format` asks for. Commands go on being
/// written in version 1 until the gate finds every member reads it.
pub fn set_write_format(version: u8) {
    let version = version.clamp(format::UNTAGGED, format::NEWEST);
    CONFIGURED.store(version, Ordering::Relaxed);
    WRITING.store(format::UNTAGGED, Ordering::Relaxed);
}

/// The version `raft.write_format` asks for.
pub fn configured_write_format() -> u8 {
    CONFIGURED.load(Ordering::Relaxed)
}

/// The version commands are written in now.
pub fn write_format() -> u8 {
    WRITING.load(Ordering::Relaxed)
}

/// `command` as this node, leading, puts it in the log: one another node
/// encoded in a newer version than this node writes now is re-encoded in
/// this node's version (version 2's payload is version 1's, so the request
/// and its dedup digest are the same); one of a newer version that cannot
/// be re-encoded (it does not decode, or this build does not know its
/// version) is refused, since a member that reads only this node's version
/// would stop at it. Other malformed bytes go in as they are: `apply`
/// rejects them on every replica alike.
pub fn as_written(command: Vec<u8>) -> Result<Vec<u8>, String> {
    in_version(command, write_format())
}

/// `command` in version `writing` if it is in a newer one.
fn in_version(command: Vec<u8>, writing: u8) -> Result<Vec<u8>, String> {
    match format::version_of(&command, writing) {
        Err(format::FormatError::Newer { found, .. }) => format::decode_request(&command)
            .map(|request| format::encode_request(&request, writing))
            .map_err(|e| format!("a command of format version {found}: {e}")),
        _ => Ok(command),
    }
}

/// The newest version of the commands applied by this process.
static APPLIED: AtomicU8 = AtomicU8::new(format::UNTAGGED);

/// Notes that a command of `version` was applied.
pub(crate) fn note_applied(version: u8) {
    APPLIED.fetch_max(version, Ordering::Relaxed);
}

/// The newest version of the commands applied since this process started:
/// after a restart, every entry of the log after the snapshot is applied
/// again, so the log holds no newer one.
pub fn newest_applied() -> u8 {
    APPLIED.load(Ordering::Relaxed)
}

/// Debug builds only: a node started with this variable set to a version
/// says it reads that version, whatever it reads (a test plays a member
/// whose word is stale with it). Release builds ignore it.
pub const ADVERTISE_VAR: &str = "BOXOFFICE_TEST_ADVERTISE_FORMAT";

/// The newest version this node says it reads.
pub fn advertised_readable() -> u8 {
    #[cfg(debug_assertions)]
    if let Some(claimed) = std::env::var(ADVERTISE_VAR)
        .ok()
        .and_then(|v| v.parse::<u8>().ok())
    {
        return claimed.max(format::UNTAGGED);
    }
    newest_readable()
}

/// What the gate decided: the version to write, and the first member that
/// holds it below the configured one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The version to write.
    pub version: u8,
    /// A member that reads only `version` (or has not said what it
    /// reads), when `version` is below the configured one.
    pub held_by: Option<(NodeId, Option<u8>)>,
}

/// The version to write given the configured one and what each member
/// said it reads (`None`: it has not said; `Some(0)`: a build too old to
/// say, which reads version 1). No members (a node not yet in a
/// membership): version 1.
pub fn decide(configured: u8, members: impl IntoIterator<Item = (NodeId, Option<u8>)>) -> Decision {
    let mut members = members.into_iter().peekable();
    let version = match members.peek() {
        Some(_) => configured.clamp(format::UNTAGGED, format::NEWEST),
        None => format::UNTAGGED,
    };
    let mut decision = Decision {
        version,
        held_by: None,
    };
    for (id, reads) in members {
        let readable = reads.unwrap_or(format::UNTAGGED).max(format::UNTAGGED);
        if readable < decision.version {
            decision = Decision {
                version: readable,
                held_by: Some((id, reads)),
            };
        }
    }
    decision
}

/// Starts the gate for `node`; it ends when the node's Raft stops.
pub fn spawn_gate(node: Arc<RaftNode<BookingApp>>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(GATE_INTERVAL);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut metrics = node.raft().metrics();
        // What each member said it reads, when it last answered.
        let mut said: BTreeMap<NodeId, u8> = BTreeMap::new();
        let mut last: Option<Decision> = None;
        loop {
            tick.tick().await;
            if metrics.borrow_and_update().state == ServerState::Shutdown
                || metrics.has_changed().is_err()
            {
                return;
            }
            let configured = configured_write_format();
            let decision = if configured <= format::UNTAGGED {
                // Version 1 is read by every build: nothing to ask.
                Decision {
                    version: format::UNTAGGED,
                    held_by: None,
                }
            } else {
                let status = node.cluster_status().await;
                for n in status.nodes.iter().filter(|n| n.reachable) {
                    said.insert(n.node_id, u8::try_from(n.reads_format).unwrap_or(u8::MAX));
                }
                said.retain(|id, _| status.nodes.iter().any(|n| n.node_id == *id));
                let members = status
                    .nodes
                    .iter()
                    .map(|n| (n.node_id, said.get(&n.node_id).copied()));
                decide(configured, members)
            };
            WRITING.store(decision.version, Ordering::Relaxed);
            if last != Some(decision) && (last.is_some() || configured > format::UNTAGGED) {
                announce(node.id(), configured, decision);
            }
            last = Some(decision);
        }
    });
}

/// One line for a new decision of the gate.
fn announce(node: NodeId, configured: u8, decision: Decision) {
    match decision.held_by {
        None => tracing::info!(
            node,
            version = decision.version,
            "writing log commands in format version {} (raft.write_format), which every member reads",
            decision.version
        ),
        Some((member, reads)) => tracing::warn!(
            node,
            version = decision.version,
            configured,
            member,
            "raft.write_format is {configured}, but node {member} {}: writing version {} until every member reads {configured}",
            match reads {
                None => "has not said which versions it reads".to_owned(),
                Some(0) => "runs a build too old to say which versions it reads".to_owned(),
                Some(v) => format!("reads only up to version {v}"),
            },
            decision.version
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_version_waits_for_every_member() {
        let all_read = decide(2, [(1, Some(2)), (2, Some(2)), (3, Some(2))]);
        assert_eq!(
            all_read,
            Decision {
                version: 2,
                held_by: None
            }
        );
        // One member of an older build holds every writer back.
        let old = decide(2, [(1, Some(2)), (2, Some(1)), (3, Some(2))]);
        assert_eq!(
            old,
            Decision {
                version: 1,
                held_by: Some((2, Some(1)))
            }
        );
        // Silence, or a build too old to say, counts as version 1.
        assert_eq!(decide(2, [(1, Some(2)), (3, None)]).version, 1);
        assert_eq!(decide(2, [(1, Some(2)), (3, Some(0))]).version, 1);
        // A member reading newer versions than the configured one does not
        // raise it, and a configured version 1 needs no one.
        assert_eq!(
            decide(1, [(1, Some(2)), (2, None)]),
            Decision {
                version: 1,
                held_by: None
            }
        );
        assert_eq!(decide(2, [(1, Some(9))]).version, 2);
        // Out-of-range configurations are clamped to what this build writes.
        assert_eq!(decide(0, [(1, Some(2))]).version, format::UNTAGGED);
        assert_eq!(decide(u8::MAX, [(1, Some(9))]).version, format::NEWEST);
        // Knowing no member, a node writes what every build reads.
        assert_eq!(
            decide(2, []),
            Decision {
                version: 1,
                held_by: None
            }
        );
    }

    #[test]
    fn the_leader_puts_a_newer_command_in_the_version_it_writes() {
        use boxoffice_core::{Command, Request, RequestId};
        let request = Request {
            request_id: RequestId("r-1".into()),
            caller: None,
            command: Command::RegisterUser {
                email: "alice@example.com".into(),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                admin: false,
            },
        };
        let v2 = format::encode_request(&request, 2);
        let v1 = format::encode_request(&request, 1);
        assert_ne!(v1, v2);
        // A follower's version-2 command, the leader writing version 1.
        assert_eq!(in_version(v2.clone(), 1), Ok(v1.clone()));
        assert_eq!(
            format::decode_request(&in_version(v2.clone(), 1).unwrap()).unwrap(),
            request
        );
        // The same or an older version goes in as it is.
        assert_eq!(in_version(v2.clone(), 2), Ok(v2.clone()));
        assert_eq!(in_version(v1.clone(), 2), Ok(v1));
        // A newer version that does not decode, or that this build does not
        // know, is refused: a member reading only version 1 would stop at it.
        let junk = vec![format::MARKER, 2, 0xff, 0xff];
        let refused = in_version(junk.clone(), 1).unwrap_err();
        assert!(refused.contains("format version 2"), "{refused}");
        assert_eq!(in_version(junk.clone(), 2), Ok(junk));
        let unknown = vec![format::MARKER, 9, 1, 2];
        assert!(in_version(unknown, 2).is_err());
        // Bytes of no version at all go in: apply rejects them everywhere.
        let malformed = vec![format::MARKER];
        assert_eq!(in_version(malformed.clone(), 1), Ok(malformed));
    }

    #[test]
    fn a_node_writes_version_1_until_the_gate_raises_it() {
        set_write_format(2);
        assert_eq!(configured_write_format(), 2);
        assert_eq!(write_format(), format::UNTAGGED);
        WRITING.store(decide(2, [(1, Some(2))]).version, Ordering::Relaxed);
        assert_eq!(write_format(), 2);
        // Lowering the configuration lowers what is written at once.
        set_write_format(1);
        assert_eq!(write_format(), 1);
    }
}
