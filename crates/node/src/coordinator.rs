//! The leader's checkout coordinator: it finishes every checkout that the
//! node running it cannot be trusted to finish.
//!
//! Every node runs one; it acts only while its node is the leader, every
//! `payment.sweep_interval_ms`, in two loops (expiry never waits on the
//! payment service):
//!
//! 0. **Waiting rooms.** Every 100 ms, when a room has something to do,
//!    it commits `TickWaitingRooms` with a fresh random seed: rooms open
//!    (their pre-queues shuffled with it), lapsed admissions end, buyers
//!    are let in, sold-out rooms close.
//! 1. **Expiry.** When the earliest hold is due, it commits `ExpireHolds`:
//!    unpaid seats return to sale at their expiry even if the payment
//!    service is down.
//! 2. **Settlement.** For each booking [`State::unsettled`] lists: an ended
//!    hold whose payment is pending gets its order's key voided at the
//!    payment service, whose answer is final, and `Settle` records it (a
//!    charge that arrived anyway becomes a refund due); a refund due is
//!    made and `RecordRefund` records it.
//! 3. **Resumption.** Holds whose payment is still pending are looked up at
//!    the payment service by order id: every hold made before this node
//!    became leader (its checkout may have died with the old leader), and
//!    any that has been pending longer than `payment.resume_after_ms` (its
//!    checkout may have died with another node).
//!    A successful charge is confirmed, a declined one released; an order
//!    with no charge yet is left to its checkout, or to its expiry.
//!
//! All of it is idempotent (see [`crate::checkout`]), so a step repeated
//! by a new leader, or racing the checkout that started it, is harmless.
//!
//! [`State::unsettled`]: boxoffice_core::State::unsettled

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use boxoffice_config::clock::now_ms;
use boxoffice_core::{
    Booking, BookingId, BookingStatus, Command, Effect, Payment, RequestId, SYSTEM_REQUEST_PREFIX,
    Timestamp, TransactionId,
};
use boxoffice_proto::v1;
use boxoffice_raft::RaftNode;
use futures::StreamExt;
use openraft::ServerState;
use tokio::time::{Instant, MissedTickBehavior};
use tonic::Status;
use tracing::{debug, info, warn};

use crate::app::BookingApp;
use crate::checkout::{self, Payments, step_id, submit_trusted, tx_status};
use crate::port::ReplicaPort;

/// Most bookings of each kind one sweep works on.
const SWEEP_BATCH: usize = 256;
/// Payment calls one sweep has in flight at once.
const CONCURRENCY: usize = 16;
/// How often the leader steps the waiting rooms (when one has something
/// to do): admissions come at most this late, and a rate's budget accrues
/// in between.
const ROOM_TICK: Duration = Duration::from_millis(100);

/// Runs the coordinator of `node` until its Raft stops: the expiry loop
/// and the payment loop, each acting while `node` leads. They are
/// separate so that a slow payment service never delays an expiry.
pub fn spawn(
    node: Arc<RaftNode<BookingApp>>,
    payments: Option<Arc<Payments>>,
    interval: Duration,
    resume_after_ms: i64,
) {
    let replica = ReplicaPort::new(node.clone());
    let ticking = replica.clone();
    while_leader(node.clone(), ROOM_TICK, move |_| {
        let replica = ticking.clone();
        async move { tick_rooms(&replica).await }
    });
    let expiring = replica.clone();
    while_leader(node.clone(), interval, move |_| {
        let replica = expiring.clone();
        async move { expire(&replica).await }
    });
    let coordinator = Arc::new(tokio::sync::Mutex::new(Coordinator {
        replica,
        payments,
        resume_after: Duration::from_millis(u64::try_from(resume_after_ms).unwrap_or(0)),
        resume_after_ms,
        term: None,
        leader_since_ms: 0,
        checked: HashMap::new(),
        cursor: None,
        failing: false,
    }));
    while_leader(node, interval, move |term| {
        let coordinator = coordinator.clone();
        async move { coordinator.lock().await.sweep(term).await }
    });
}

/// Calls `step(term)` every `interval` while `node` is the leader (the
/// next call waits for the previous one), until its Raft stops.
fn while_leader<F, Fut>(node: Arc<RaftNode<BookingApp>>, interval: Duration, mut step: F)
where
    F: FnMut(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut metrics = node.raft().metrics();
        loop {
            tick.tick().await;
            let (state, term) = {
                let m = metrics.borrow_and_update();
                (m.state, m.current_term)
            };
            match state {
                ServerState::Shutdown => return,
                ServerState::Leader => step(term).await,
                _ => {}
            }
            if metrics.has_changed().is_err() {
                return;
            }
        }
    });
}

/// Commits `TickWaitingRooms` when a room has something to do (one
/// opens, an admission lapses, buyers wait), as the local replica shows,
/// with a fresh random seed for the rooms that open: the seed is in the
/// log, so the shuffle it drives can be checked by anyone, and no one can
/// know it before the opening.
async fn tick_rooms(replica: &ReplicaPort) {
    let now = now_ms();
    let due = replica
        .read(true, |state| state.rooms_due(Timestamp(now)))
        .await
        .unwrap_or(false);
    if !due {
        return;
    }
    // A v4 UUID's fixed bits sit in different halves: the halves' XOR is
    // 64 random bits.
    let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
    let seed = high ^ low;
    let id = RequestId(format!("{SYSTEM_REQUEST_PREFIX}rooms:{now}"));
    match submit_trusted(replica, id, Command::TickWaitingRooms { seed }).await {
        Ok(Ok(Effect::RoomsTicked(tick))) => {
            if tick.opened > 0 || tick.closed > 0 {
                info!(
                    opened = tick.opened,
                    closed = tick.closed,
                    seed,
                    "waiting rooms opened or closed"
                );
            }
            debug!(
                admitted = tick.admitted,
                lapsed = tick.lapsed,
                "waiting rooms ticked"
            );
        }
        Ok(_) => {}
        Err(status) => debug!(%status, "ticking waiting rooms failed; retrying next tick"),
    }
}

/// Commits `ExpireHolds` if a hold is due, as the local replica shows.
async fn expire(replica: &ReplicaPort) {
    let now = now_ms();
    let due = replica
        .read(true, |state| state.next_hold_expiry())
        .await
        .ok()
        .flatten()
        .filter(|at| at.0 <= now);
    let Some(due) = due else { return };
    // Named after the earliest due hold: a repeat before it is applied
    // is deduplicated.
    let id = RequestId(format!("{SYSTEM_REQUEST_PREFIX}expire:{}", due.0));
    match submit_trusted(replica, id, Command::ExpireHolds).await {
        Ok(Ok(Effect::Expired { released })) if released > 0 => {
            info!(released, "expired unpaid holds");
        }
        Ok(_) => {}
        Err(status) => debug!(%status, "expiring holds failed; retrying next tick"),
    }
}

struct Coordinator {
    replica: ReplicaPort,
    payments: Option<Arc<Payments>>,
    resume_after: Duration,
    resume_after_ms: i64,
    /// The term this node leads in, once it has swept in it.
    term: Option<u64>,
    /// When this node's leadership began (its first sweep in `term`).
    leader_since_ms: i64,
    /// When each pending hold was last looked up, in this term.
    checked: HashMap<BookingId, Instant>,
    /// The last unsettled booking the previous sweep took: the next one
    /// goes on after it, so that failing ones cannot starve the rest.
    cursor: Option<BookingId>,
    /// Whether the last payment call failed (to warn once per outage).
    failing: bool,
}

/// What one sweep found to do, read from the local replica.
struct Work {
    unsettled: Vec<Booking>,
    holds: Vec<Booking>,
}

impl Coordinator {
    async fn sweep(&mut self, term: u64) {
        let now = now_ms();
        if self.term != Some(term) {
            self.term = Some(term);
            self.leader_since_ms = now;
            self.checked.clear();
        }
        let (since, resume_after_ms, cursor) =
            (self.leader_since_ms, self.resume_after_ms, self.cursor);
        let (checked, resume_after) = (&mut self.checked, self.resume_after);
        let work = self
            .replica
            .read(true, |state| {
                // Forget holds that are no longer pending.
                checked.retain(|id, _| {
                    state.booking(*id).is_some_and(|b| {
                        matches!(b.status, BookingStatus::Held { .. })
                            && b.payment == Payment::Pending
                    })
                });
                let after = |b: &Booking| cursor.is_none_or(|c| b.id > c);
                let before = |b: &Booking| cursor.is_some_and(|c| b.id <= c);
                Work {
                    unsettled: state
                        .unsettled()
                        .filter(after)
                        .chain(state.unsettled().filter(before))
                        .take(SWEEP_BATCH)
                        .collect(),
                    // Holds that may need resuming: made before this
                    // leadership or pending for long, and not looked up lately.
                    holds: state
                        .holds()
                        .filter(|b| b.payment == Payment::Pending)
                        .filter(|b| {
                            b.created_at.0 <= since
                                || now.saturating_sub(b.created_at.0) >= resume_after_ms
                        })
                        .filter(|b| {
                            checked
                                .get(&b.id)
                                .is_none_or(|at| at.elapsed() >= resume_after)
                        })
                        .take(SWEEP_BATCH)
                        .collect(),
                }
            })
            .await;
        let Ok(work) = work else { return };
        self.cursor = work.unsettled.last().map(|b| b.id);
        let Some(payments) = self.payments.clone() else {
            if !work.unsettled.is_empty() || !work.holds.is_empty() {
                self.report(vec![Err(Status::failed_precondition(
                    "this leader has no payment.endpoint, but orders await settlement: \
                     configure the same payment settings on every node",
                ))]);
            }
            return;
        };
        let at = Instant::now();
        for booking in &work.holds {
            self.checked.insert(booking.id, at);
        }
        let replica = &self.replica;
        let settled: Vec<Result<(), Status>> = futures::stream::iter(work.unsettled)
            .map(|booking| settle(replica, &payments, booking))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let resumed: Vec<Result<(), Status>> = futures::stream::iter(work.holds)
            .map(|booking| resume(replica, &payments, booking))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        self.report(settled.into_iter().chain(resumed).collect());
    }

    /// Logs payment failures once per outage.
    fn report(&mut self, results: Vec<Result<(), Status>>) {
        let failure = results.into_iter().find_map(Result::err);
        match (failure, self.failing) {
            (Some(status), false) => {
                warn!(%status, "checkout coordinator cannot settle orders; retrying");
                self.failing = true;
            }
            (None, true) => {
                info!("checkout coordinator settles orders again");
                self.failing = false;
            }
            _ => {}
        }
    }
}

/// Settles one unsettled booking: voids an ended hold's key and records
/// the answer, or makes a due refund.
async fn settle(
    replica: &ReplicaPort,
    payments: &Payments,
    booking: Booking,
) -> Result<(), Status> {
    let Some(order) = booking.order.clone() else {
        return Ok(());
    };
    match booking.payment {
        Payment::Pending => {
            let charge = payments.void(&order).await?.and_then(|tx| {
                (tx_status(&tx) != v1::TransactionStatus::Declined)
                    .then_some(TransactionId(tx.transaction_id))
            });
            info!(booking = %booking.id, order = %order, ?charge, "settled an ended hold");
            let command = Command::Settle {
                booking: booking.id,
                charge,
            };
            let outcome = submit_trusted(replica, step_id("settle", &order), command).await?;
            if let Err(rejection) = outcome {
                debug!(booking = %booking.id, %rejection, "settle refused");
            }
            Ok(())
        }
        Payment::RefundDue(_) => checkout::refund(replica, payments, booking).await.map(drop),
        _ => Ok(()),
    }
}

/// Looks a pending hold's order up and finishes it if its charge is known.
async fn resume(
    replica: &ReplicaPort,
    payments: &Payments,
    booking: Booking,
) -> Result<(), Status> {
    let (Some(order), BookingStatus::Held { .. }) = (booking.order.clone(), booking.status) else {
        return Ok(());
    };
    let Some(tx) = payments.find(&order).await? else {
        return Ok(());
    };
    let (id, command) = match tx_status(&tx) {
        v1::TransactionStatus::Succeeded => (
            step_id("confirm", &order),
            Command::Confirm {
                booking: booking.id,
                transaction: Some(TransactionId(tx.transaction_id)),
            },
        ),
        _ => (
            step_id("release", &order),
            Command::Release {
                booking: booking.id,
            },
        ),
    };
    info!(booking = %booking.id, order = %order, ?command, "resumed a checkout");
    let outcome = submit_trusted(replica, id, command).await?;
    if let Err(rejection) = outcome {
        debug!(booking = %booking.id, %rejection, "resumed step refused");
    }
    Ok(())
}
