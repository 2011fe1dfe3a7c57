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
//! The breaker watches this node's candidacies (the network layer reports
//! every vote request it sends, so none is missed). When, a short random
//! pause after one began, there is no leader known, the term is unchanged,
//! at least one peer refused this node, no peer refused it for a longer log,
//! and this node granted no other candidate in that term, the node stands
//! again instead of waiting for its timer. The node that can win (a longest
//! log) thus tries again at once at a higher term, which the other
//! candidate grants, while the nodes that cannot win stay quiet.
//!
//! Invariants:
//! - Standing again is an ordinary election: safety is Raft's; this only
//!   changes when one starts.
//! - A node that no peer answered (isolated, or alone) never stands again
//!   through this path.
//! - A node that granted another candidate in the term does not stand
//!   again in it: that candidate may have won and its first message may be
//!   on the way.
//! - At most [`STAND_AGAIN_TIMES`] times in any [`BUDGET_WINDOW`]; beyond
//!   that the timers are the only trigger. (A node cut off from the leader
//!   but answered by a follower whose lease holds does stand again, adding
//!   up to that many terms; without pre-vote it deposes the leader when the
//!   partition heals either way.)
//!
//! Known limit: the pause (one to two heartbeats) is shorter than
//! openraft's vote RPC timeout, so in a cluster of five or more a candidacy
//! refused by one peer while slow grants are still on the way is abandoned
//! for a fresh one; it can still win the next round.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use openraft::ServerState;
use rand_core::RngCore;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use crate::types::{LogId, NodeId, Raft};

/// How many times a node may stand again within [`BUDGET_WINDOW`].
pub const STAND_AGAIN_TIMES: u32 = 4;
/// The window of the standing-again budget: several election timeouts.
pub const BUDGET_WINDOW: Duration = Duration::from_secs(5);

/// What became of this node's vote requests, by term: written by the
/// network (requests sent, answers) and the Raft service (votes granted),
/// read by the breaker.
#[derive(Clone)]
pub struct VoteAnswers(Arc<Answers>);

struct Answers {
    /// The latest term in which this node asked for votes.
    stood_in: watch::Sender<u64>,
    /// The latest term in which a peer refused this node's vote.
    refused_in: AtomicU64,
    /// The latest term in which a peer refused it for a longer log.
    longer_log_in: AtomicU64,
    /// The latest term in which this node granted another candidate.
    granted_in: AtomicU64,
}

impl Default for VoteAnswers {
    fn default() -> Self {
        Self(Arc::new(Answers {
            stood_in: watch::channel(0).0,
            refused_in: AtomicU64::new(0),
            longer_log_in: AtomicU64::new(0),
            granted_in: AtomicU64::new(0),
        }))
    }
}

impl VoteAnswers {
    /// Records that this node asks a peer for its vote in `term`.
    pub fn asking(&self, term: u64) {
        self.0.stood_in.send_if_modified(|latest| {
            let newer = term > *latest;
            if newer {
                *latest = term;
            }
            newer
        });
    }

    /// Records a peer's answer to this node's vote request in `term`, with
    /// the last log ids of this node (`mine`) and of the peer (`theirs`).
    pub fn answered(&self, term: u64, granted: bool, mine: Option<&LogId>, theirs: Option<&LogId>) {
        if granted {
            return;
        }
        self.0.refused_in.fetch_max(term, Ordering::SeqCst);
        if theirs > mine {
            self.0.longer_log_in.fetch_max(term, Ordering::SeqCst);
        }
    }

    /// Records that this node granted another node's candidacy in `term`.
    pub fn granted(&self, term: u64) {
        self.0.granted_in.fetch_max(term, Ordering::SeqCst);
    }

    /// Whether this node's candidacy in `term` was refused by a peer, by
    /// none for a longer log, and this node voted for no one else: another
    /// try at a higher term may win.
    fn split_in(&self, term: u64) -> bool {
        self.0.refused_in.load(Ordering::SeqCst) >= term
            && self.0.longer_log_in.load(Ordering::SeqCst) < term
            && self.0.granted_in.load(Ordering::SeqCst) < term
    }
}

/// At most [`STAND_AGAIN_TIMES`] uses per [`BUDGET_WINDOW`].
struct Budget {
    window_start: Instant,
    used: u32,
}

impl Budget {
    fn new(now: Instant) -> Self {
        Self {
            window_start: now,
            used: 0,
        }
    }

    /// Takes one use at `now`, if any is left.
    fn take(&mut self, now: Instant) -> bool {
        if now.duration_since(self.window_start) >= BUDGET_WINDOW {
            *self = Self::new(now);
        }
        let left = self.used < STAND_AGAIN_TIMES;
        if left {
            self.used += 1;
        }
        left
    }
}

/// Runs the breaker for `raft` until it shuts down. `answers` must be the
/// one `raft`'s network and Raft service report to; `pause` is the least
/// time given a vote round to finish (a random share of it is added, so
/// that two nodes rarely stand again at the same moment).
pub fn spawn(raft: Raft, answers: VoteAnswers, pause: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut stood = answers.0.stood_in.subscribe();
        let mut metrics = raft.metrics();
        let mut budget = Budget::new(Instant::now());
        // The latest candidacy looked at.
        let mut handled = 0;
        loop {
            let term = tokio::select! {
                stood = stood.wait_for(|term| *term > handled) => match stood {
                    Ok(term) => *term,
                    Err(_) => return,
                },
                _ = metrics.wait_for(|m| m.state == ServerState::Shutdown) => return,
            };
            handled = term;
            let share = f64::from(rand_core::OsRng.next_u32()) / 2f64.powi(32);
            tokio::time::sleep(pause + pause.mul_f64(share)).await;
            let (node, state, now, leader) = {
                let m = metrics.borrow();
                (m.id, m.state, m.current_term, m.current_leader)
            };
            if !should_stand_again(state, leader, now == term, answers.split_in(term))
                || !budget.take(Instant::now())
            {
                continue;
            }
            info!(
                node,
                term,
                "the vote of term {term} was split and no peer has a longer log: standing again"
            );
            if raft.trigger().elect().await.is_err() {
                return;
            }
        }
    })
}

/// Whether a node whose candidacy began a pause ago should stand again: it
/// is a voter with no leader, no peer started a new term meanwhile (then
/// that peer's election is under way), and the vote was split (see
/// [`VoteAnswers::split_in`]).
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
    fn a_split_is_a_refusal_with_no_longer_log_and_no_vote_given() {
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
        // Having voted for another candidate in the term.
        answers.answered(6, false, None, None);
        assert!(answers.split_in(6));
        answers.granted(6);
        assert!(
            !answers.split_in(6),
            "the candidate this node voted for may have won"
        );
        // Late answers from old terms move nothing back.
        answers.answered(8, false, None, Some(&short));
        answers.answered(9, false, None, None);
        answers.granted(9);
        answers.answered(10, false, None, None);
        answers.answered(2, false, None, Some(&short));
        answers.granted(2);
        assert!(!answers.split_in(8), "still a longer log in term 8");
        assert!(!answers.split_in(9), "still a vote given in term 9");
        assert!(answers.split_in(10), "still refused in term 10");
    }

    #[tokio::test]
    async fn every_new_candidacy_is_reported_once() {
        let answers = VoteAnswers::default();
        let mut stood = answers.0.stood_in.subscribe();
        answers.asking(3);
        answers.asking(3); // the same request to another peer
        answers.asking(2); // a late retry of an older term
        assert!(stood.has_changed().unwrap());
        assert_eq!(*stood.borrow_and_update(), 3);
        answers.asking(3);
        assert!(!stood.has_changed().unwrap());
        answers.asking(4);
        assert_eq!(*stood.wait_for(|t| *t > 3).await.unwrap(), 4);
    }

    #[test]
    fn the_budget_allows_a_few_tries_per_window() {
        let start = Instant::now();
        let mut budget = Budget::new(start);
        for _ in 0..STAND_AGAIN_TIMES {
            assert!(budget.take(start + Duration::from_millis(10)));
        }
        assert!(!budget.take(start + Duration::from_millis(20)));
        assert!(!budget.take(start + BUDGET_WINDOW - Duration::from_millis(1)));
        assert!(budget.take(start + BUDGET_WINDOW));
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
