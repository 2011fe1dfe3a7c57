//! Breaking split votes quickly.
//!
//! openraft 0.9 lets the higher node id win a tie between candidates of the
//! same term, but a voter refuses a candidate whose log is shorter than its
//! own. When two nodes stand together and the higher id has the shorter log
//! (a node that restarted or was cut off and is still catching up), neither
//! can win: each refuses the other. openraft's timers retry only after the
//! node's election timeout, which it draws once at startup, so the same
//! node tends to stand first again; a node that saw a longer log also waits
//! twice the upper timeout more. Runs of such rounds kept a connected
//! majority leaderless for 0.5-6 s in the fault suite and the failover
//! bench.
//!
//! The breaker watches this node's candidacies. When one ends with no
//! leader known, the term unchanged, at least one peer refusing this node,
//! and no peer refusing it for a longer log, the node stands again after a
//! short random pause instead of waiting for its timer. The one node that
//! can win (a longest log) thus tries again at once at a higher term, which
//! the other candidate grants, while the nodes that cannot win stay quiet.
//!
//! Invariants:
//! - Standing again is an ordinary election: safety is Raft's; this only
//!   changes when one starts.
//! - A node that no peer answered (isolated, or alone) never stands again
//!   through this path, so a partitioned minority does not inflate terms
//!   faster than its timers would.
//! - At most [`STAND_AGAIN_TIMES`] times between two sightings of a leader;
//!   after that the timers are the only trigger.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openraft::ServerState;
use rand_core::RngCore;
use tokio::task::JoinHandle;
use tracing::info;

use crate::types::{LogId, NodeId, Raft};

/// How many times a node stands again between two sightings of a leader.
pub const STAND_AGAIN_TIMES: u32 = 4;

/// What peers answered this node's vote requests, by term. Written by the
/// network's vote calls, read by the breaker.
#[derive(Clone, Default)]
pub struct VoteAnswers {
    /// The latest term in which a peer refused this node's vote.
    refused_in: Arc<AtomicU64>,
    /// The latest term in which a peer refused it for a longer log.
    longer_log_in: Arc<AtomicU64>,
}

impl VoteAnswers {
    /// Records a peer's answer to this node's vote request in `term`, with
    /// the last log ids of this node (`mine`) and of the peer (`theirs`).
    pub fn answered(&self, term: u64, granted: bool, mine: Option<&LogId>, theirs: Option<&LogId>) {
        if granted {
            return;
        }
        self.refused_in.fetch_max(term, Ordering::SeqCst);
        if theirs > mine {
            self.longer_log_in.fetch_max(term, Ordering::SeqCst);
        }
    }

    /// Whether this node's candidacy in `term` was refused by a peer, and
    /// by none for a longer log: another try at a higher term may win.
    fn split_in(&self, term: u64) -> bool {
        self.refused_in.load(Ordering::SeqCst) >= term
            && self.longer_log_in.load(Ordering::SeqCst) < term
    }
}

/// Runs the breaker for `raft` until it shuts down. `answers` must be the
/// one `raft`'s network reports to; `pause` is the least time given a vote
/// round to finish (a random share of it is added, so that two nodes
/// rarely stand again at the same moment).
pub fn spawn(raft: Raft, answers: VoteAnswers, pause: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut metrics = raft.metrics();
        // The latest candidacy looked at, and how many tries are left.
        let mut handled = 0;
        let mut tries = STAND_AGAIN_TIMES;
        loop {
            let mut saw_leader = false;
            let term = {
                let Ok(m) = metrics
                    .wait_for(|m| {
                        saw_leader |= m.current_leader.is_some();
                        m.state == ServerState::Shutdown
                            || (m.state == ServerState::Candidate && m.current_term > handled)
                    })
                    .await
                else {
                    return;
                };
                if m.state == ServerState::Shutdown {
                    return;
                }
                m.current_term
            };
            if saw_leader {
                tries = STAND_AGAIN_TIMES;
            }
            handled = term;
            if tries == 0 {
                continue;
            }
            let share = f64::from(rand_core::OsRng.next_u32()) / 2f64.powi(32);
            tokio::time::sleep(pause + pause.mul_f64(share)).await;
            let (state, now, leader) = {
                let m = metrics.borrow();
                (m.state, m.current_term, m.current_leader)
            };
            if !should_stand_again(state, leader, now == term, answers.split_in(term)) {
                continue;
            }
            tries -= 1;
            info!(
                term,
                "the vote was split and no peer has a longer log: standing again"
            );
            if raft.trigger().elect().await.is_err() {
                return;
            }
        }
    })
}

/// Whether a node whose candidacy a pause ago went unanswered by a leader
/// should stand again: it is a voter with no leader, no peer started a new
/// term meanwhile (then that peer's election is under way), and the vote
/// was split with no longer log against it.
fn should_stand_again(
    state: ServerState,
    leader: Option<NodeId>,
    same_term: bool,
    split: bool,
) -> bool {
    // A candidate refused with a peer's higher vote follows that vote
    // without a leader: a Follower here has lost too.
    matches!(state, ServerState::Candidate | ServerState::Follower)
        && leader.is_none()
        && same_term
        && split
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_id(term: u64, index: u64) -> LogId {
        openraft::LogId::new(openraft::CommittedLeaderId::new(term, 1), index)
    }

    #[test]
    fn a_split_is_a_refusal_with_no_longer_log() {
        let answers = VoteAnswers::default();
        let (short, long) = (log_id(3, 10), log_id(3, 12));
        // Unanswered, or granted: not split.
        assert!(!answers.split_in(4));
        answers.answered(4, true, Some(&short), Some(&long));
        assert!(!answers.split_in(4));
        // Refused by a shorter or equal log, or by a lease: split.
        answers.answered(4, false, Some(&long), Some(&short));
        assert!(answers.split_in(4));
        answers.answered(4, false, Some(&long), Some(&long));
        assert!(answers.split_in(4));
        assert!(!answers.split_in(5), "a new term starts afresh");
        // A later term's log outranks a longer one of an earlier term.
        answers.answered(4, false, Some(&long), Some(&log_id(4, 11)));
        assert!(!answers.split_in(4), "a peer has a longer log");
        answers.answered(6, false, None, None);
        assert!(answers.split_in(6));
        answers.answered(7, false, None, Some(&short));
        assert!(!answers.split_in(7));
        // A late answer from an old term moves nothing back.
        answers.answered(2, false, None, None);
        assert!(!answers.split_in(7));
    }

    #[test]
    fn stands_again_only_after_a_split_with_no_leader_in_the_same_term() {
        use ServerState::*;
        assert!(should_stand_again(Candidate, None, true, true));
        assert!(should_stand_again(Follower, None, true, true));
        assert!(!should_stand_again(Candidate, None, true, false));
        assert!(!should_stand_again(Candidate, None, false, true));
        assert!(!should_stand_again(Follower, Some(2), true, true));
        assert!(!should_stand_again(Leader, Some(1), true, true));
        assert!(!should_stand_again(Learner, None, true, true));
        assert!(!should_stand_again(Shutdown, None, true, true));
    }
}
