//! The node's charges on their way to the payment service.
//!
//! A checkout asks [`ChargeSender::charge`] for its charge and waits for
//! its outcome. The sender gathers the charges that wait at the same
//! moment into one `ChargeBatch` call (a lone charge goes as a plain
//! `Charge`), at most [`CHARGE_BATCHES_IN_FLIGHT`] calls at once, and
//! answers each charge as soon as the payment service has answered it.
//!
//! Invariants:
//! - every charge is answered exactly once: with its own outcome, or with
//!   the status of a call that failed before answering it (its outcome is
//!   then unknown, and a retry under its idempotency key is safe);
//! - an outcome is taken as a charge's only if it names the charge's
//!   index in its batch (once) and its idempotency key;
//! - a slow charge holds up no other: it is answered alone within its
//!   batch, and a batch unanswered after [`SLOW_BATCH`] no longer counts
//!   against the calls in flight;
//! - a charge that waited in the queue past the call timeout is never sent.

use std::sync::Arc;
use std::time::Duration;

use boxoffice_proto::v1;
use boxoffice_proto::v1::payment_service_client::PaymentServiceClient;
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// Where the node's checkouts send their charges; cheap to share.
pub(crate) struct ChargeSender {
    queue: tokio::sync::mpsc::UnboundedSender<ChargeJob>,
}

impl ChargeSender {
    /// A sender over `client`, whose calls time out after `timeout`; a
    /// charge that waited longer than that in the queue is not sent.
    pub(crate) fn start(client: PaymentServiceClient<Channel>, timeout: Duration) -> Self {
        let (queue, jobs) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(send_charges(client, jobs, timeout));
        Self { queue }
    }

    /// Sends `request` with the charges waiting beside it; its outcome.
    pub(crate) async fn charge(
        &self,
        request: v1::ChargeRequest,
    ) -> Result<v1::Transaction, Status> {
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let stopped = || Status::unavailable("this node's charge sender has stopped");
        match self.queue.send((request, Instant::now(), reply)) {
            Ok(()) => outcome.await.unwrap_or_else(|_| Err(stopped())),
            Err(_) => Err(stopped()),
        }
    }
}

/// The transaction of an answer that must carry one.
pub(crate) fn transaction(tx: Option<v1::Transaction>) -> Result<v1::Transaction, Status> {
    tx.ok_or_else(|| Status::internal("the payment service answered without a transaction"))
}

/// Charge batches on their way to the payment service at once: while they
/// are, the charges that arrive wait and go together in the next batch.
const CHARGE_BATCHES_IN_FLIGHT: usize = 2;

/// A batch still unanswered after this long is slow (a charge the provider
/// takes its time over): it stops counting against
/// [`CHARGE_BATCHES_IN_FLIGHT`], so that the next batch leaves at once
/// instead of every other checkout waiting behind it. A normal batch is
/// answered in one ledger commit, a few milliseconds. Slow calls stay
/// bounded: a slot frees at most every `SLOW_BATCH` and a call ends within
/// the node's call timeout, so at most `CHARGE_BATCHES_IN_FLIGHT` times
/// (timeout / `SLOW_BATCH`) slow calls are open at once (30 with the
/// default 3 s).
const SLOW_BATCH: Duration = Duration::from_millis(200);

/// Where a charge's outcome goes.
type ChargeReply = tokio::sync::oneshot::Sender<Result<v1::Transaction, Status>>;

/// A charge to send, when it was queued, and where its outcome goes.
type ChargeJob = (v1::ChargeRequest, Instant, ChargeReply);

/// Sends the node's charges: every charge that arrives while
/// [`CHARGE_BATCHES_IN_FLIGHT`] batches are under way (and not yet
/// [`SLOW_BATCH`]) goes into the next one, a single ChargeBatch call (a
/// lone charge goes as a plain Charge). Each charge keeps its own key and
/// its own outcome, answered as soon as the payment service has it; a call
/// that fails as a whole (the service unreachable, a deadline) fails each
/// charge it has not answered with that status, which the checkout treats
/// as it treats one failed Charge (the outcome is unknown; the key makes a
/// retry safe). A charge that waited in the queue longer than `wait` is not
/// sent at all: it is answered UNAVAILABLE, so that no charge reaches the
/// payment service long after its checkout gave up on it.
async fn send_charges(
    client: PaymentServiceClient<Channel>,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<ChargeJob>,
    wait: Duration,
) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(CHARGE_BATCHES_IN_FLIGHT));
    while let Some(first) = queue.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some((request, queued, reply)) = next.take() {
            if queued.elapsed() > wait {
                let _ = reply.send(Err(Status::unavailable(
                    "the payment service is slow: the charge was not sent; retry",
                )));
            } else {
                batch.push((request, reply));
            }
            if batch.len() < boxoffice_payment::service::MAX_CHARGE_BATCH {
                next = queue.try_recv().ok();
            }
        }
        if batch.is_empty() {
            continue;
        }
        let client = client.clone();
        tokio::spawn(async move {
            let mut sent = std::pin::pin!(send_batch(client, batch, wait));
            if tokio::time::timeout(SLOW_BATCH, sent.as_mut())
                .await
                .is_err()
            {
                drop(permit);
                sent.await;
            }
        });
    }
}

/// One charge, as a plain Charge call.
async fn send_one(
    mut client: PaymentServiceClient<Channel>,
    request: v1::ChargeRequest,
) -> Result<v1::Transaction, Status> {
    client
        .charge(request)
        .await
        .and_then(|reply| transaction(reply.into_inner().transaction))
}

/// What a batch's outcome says of `request`'s charge.
fn batch_outcome(
    outcome: v1::ChargeOutcome,
    request: &v1::ChargeRequest,
) -> Result<v1::Transaction, Status> {
    match outcome.transaction {
        // An outcome that names another key is not this charge's (its
        // outcome is then unknown, and a retry under its key finds it).
        Some(tx) if tx.idempotency_key != request.idempotency_key => {
            Err(Status::internal(format!(
                "the payment service answered the charge under key {} with the transaction of key {}",
                request.idempotency_key, tx.idempotency_key
            )))
        }
        Some(tx) => Ok(tx),
        None if outcome.code == Code::Ok as i32 => transaction(None),
        None => Err(Status::new(Code::from(outcome.code), outcome.message)),
    }
}

/// One batch of charges, each answered as its outcome arrives.
async fn send_batch(
    mut client: PaymentServiceClient<Channel>,
    mut batch: Vec<(v1::ChargeRequest, ChargeReply)>,
    wait: Duration,
) {
    // The call's timeout covers only its opening: the answers that stream
    // after it must come within the same bound, or what is left unanswered
    // is DEADLINE_EXCEEDED (outcome unknown; a retry under its key is safe).
    let deadline = Instant::now() + wait;
    if let [_] = &batch[..]
        && let Some((request, reply)) = batch.pop()
    {
        let _ = reply.send(send_one(client, request).await);
        return;
    }
    let (requests, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let mut replies: Vec<Option<ChargeReply>> = replies.into_iter().map(Some).collect();
    let request = v1::ChargeBatchRequest {
        charges: requests.clone(),
    };
    let mut answers = match client.charge_batch(request).await {
        Ok(answers) => answers.into_inner(),
        // The batch was refused before any charge ran (a payment service
        // without ChargeBatch, a batch too large): each goes alone, so one
        // charge's problem is its own.
        Err(status)
            if matches!(
                status.code(),
                Code::Unimplemented
                    | Code::OutOfRange
                    | Code::InvalidArgument
                    | Code::ResourceExhausted
            ) =>
        {
            let alone = requests.into_iter().zip(replies).map(|(request, reply)| {
                let client = client.clone();
                async move {
                    let outcome = send_one(client, request).await;
                    if let Some(reply) = reply {
                        let _ = reply.send(outcome);
                    }
                }
            });
            futures::future::join_all(alone).await;
            return;
        }
        Err(status) => {
            for reply in replies.into_iter().flatten() {
                let _ = reply.send(Err(status.clone()));
            }
            return;
        }
    };
    let count = requests.len();
    let unanswered = 'stream: loop {
        if replies.iter().all(Option::is_none) {
            break Status::internal("every charge was answered");
        }
        let Ok(next) = tokio::time::timeout_at(deadline, answers.message()).await else {
            break Status::deadline_exceeded(
                "the payment service did not answer every charge of the batch in time; retry",
            );
        };
        match next {
            Ok(Some(answer)) => {
                for outcome in answer.outcomes {
                    let index = usize::try_from(outcome.index).unwrap_or(usize::MAX);
                    // An index out of range, or a charge answered twice,
                    // is not an answer to trust: what is not answered yet
                    // stays unknown.
                    let Some(reply) = replies.get_mut(index).and_then(Option::take) else {
                        break 'stream Status::internal(format!(
                            "the payment service answered charge {} of a batch of {count} twice or \
                             out of range",
                            outcome.index
                        ));
                    };
                    let _ = reply.send(batch_outcome(outcome, &requests[index]));
                }
            }
            Ok(None) => {
                break Status::internal(
                    "the payment service ended a batch without answering every charge",
                );
            }
            Err(status) => break status,
        }
    };
    for reply in replies.into_iter().flatten() {
        let _ = reply.send(Err(unanswered.clone()));
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;

    use boxoffice_proto::v1::payment_service_server::{PaymentService, PaymentServiceServer};
    use futures::Stream;
    use tonic::{Request, Response};

    use super::*;

    /// The card number the fake payment service is slow on: its charges
    /// answer only once the test releases them.
    const SLOW_CARD: &str = "slow";

    /// How the fake answers ChargeBatch.
    #[derive(Clone, Copy)]
    enum Batches {
        /// It has no ChargeBatch (UNIMPLEMENTED): every charge goes alone.
        Absent,
        /// Each charge in its own message, as soon as it has its outcome.
        Streamed,
        /// The first charge's outcome twice, then nothing more.
        FirstTwice,
    }

    /// A payment service that approves every charge, slowly on
    /// [`SLOW_CARD`], and tells the test which charges reached it.
    #[derive(Clone)]
    struct Fake {
        arrived: tokio::sync::mpsc::UnboundedSender<String>,
        released: tokio::sync::watch::Receiver<bool>,
        batches: Batches,
    }

    impl Fake {
        async fn approve(self, charge: v1::ChargeRequest) -> v1::Transaction {
            let _ = self.arrived.send(charge.idempotency_key.clone());
            if charge.card.is_some_and(|card| card.number == SLOW_CARD) {
                let _ = self.released.clone().wait_for(|released| *released).await;
            }
            v1::Transaction {
                idempotency_key: charge.idempotency_key,
                status: v1::TransactionStatus::Succeeded as i32,
                ..Default::default()
            }
        }
    }

    fn approved(index: usize, tx: v1::Transaction) -> v1::ChargeBatchResponse {
        v1::ChargeBatchResponse {
            outcomes: vec![v1::ChargeOutcome {
                transaction: Some(tx),
                index: u32::try_from(index).unwrap(),
                ..Default::default()
            }],
        }
    }

    #[tonic::async_trait]
    impl PaymentService for Fake {
        async fn charge(
            &self,
            req: Request<v1::ChargeRequest>,
        ) -> Result<Response<v1::ChargeResponse>, Status> {
            let tx = self.clone().approve(req.into_inner()).await;
            Ok(Response::new(v1::ChargeResponse {
                transaction: Some(tx),
            }))
        }

        type ChargeBatchStream =
            Pin<Box<dyn Stream<Item = Result<v1::ChargeBatchResponse, Status>> + Send>>;

        async fn charge_batch(
            &self,
            req: Request<v1::ChargeBatchRequest>,
        ) -> Result<Response<Self::ChargeBatchStream>, Status> {
            let charges = req.into_inner().charges;
            let answers: Self::ChargeBatchStream = match self.batches {
                Batches::Absent => return Err(Status::unimplemented("no batches here")),
                Batches::Streamed => {
                    let pending: futures::stream::FuturesUnordered<_> = charges
                        .into_iter()
                        .enumerate()
                        .map(|(index, charge)| {
                            let fake = self.clone();
                            async move { Ok(approved(index, fake.approve(charge).await)) }
                        })
                        .collect();
                    Box::pin(pending)
                }
                Batches::FirstTwice => {
                    let first = self.clone().approve(charges[0].clone()).await;
                    let twice = [Ok(approved(0, first.clone())), Ok(approved(0, first))];
                    Box::pin(futures::stream::iter(twice))
                }
            };
            Ok(Response::new(answers))
        }

        async fn refund(
            &self,
            _: Request<v1::RefundRequest>,
        ) -> Result<Response<v1::RefundResponse>, Status> {
            Err(Status::unimplemented("not in this fake"))
        }

        async fn void(
            &self,
            _: Request<v1::VoidRequest>,
        ) -> Result<Response<v1::VoidResponse>, Status> {
            Err(Status::unimplemented("not in this fake"))
        }

        async fn get_transaction(
            &self,
            _: Request<v1::GetTransactionRequest>,
        ) -> Result<Response<v1::GetTransactionResponse>, Status> {
            Err(Status::unimplemented("not in this fake"))
        }

        async fn list_transactions(
            &self,
            _: Request<v1::ListTransactionsRequest>,
        ) -> Result<Response<v1::ListTransactionsResponse>, Status> {
            Err(Status::unimplemented("not in this fake"))
        }

        async fn set_faults(
            &self,
            _: Request<v1::SetFaultsRequest>,
        ) -> Result<Response<v1::SetFaultsResponse>, Status> {
            Err(Status::unimplemented("not in this fake"))
        }

        type BackupLedgerStream =
            futures::stream::BoxStream<'static, Result<v1::LedgerChunk, Status>>;

        async fn backup_ledger(
            &self,
            _: Request<v1::BackupLedgerRequest>,
        ) -> Result<Response<Self::BackupLedgerStream>, Status> {
            Err(Status::unimplemented("not in this fake"))
        }
    }

    /// The fake, serving on a free port.
    struct Served {
        client: PaymentServiceClient<Channel>,
        arrived: tokio::sync::mpsc::UnboundedReceiver<String>,
        release: tokio::sync::watch::Sender<bool>,
    }

    async fn serve(batches: Batches) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (arrived, arrivals) = tokio::sync::mpsc::unbounded_channel();
        let (release, released) = tokio::sync::watch::channel(false);
        let fake = Fake {
            arrived,
            released,
            batches,
        };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(PaymentServiceServer::new(fake))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        Served {
            client: PaymentServiceClient::new(channel),
            arrived: arrivals,
            release,
        }
    }

    fn charge(key: &str, card: &str) -> v1::ChargeRequest {
        v1::ChargeRequest {
            idempotency_key: key.into(),
            amount_cents: 100,
            card: Some(v1::Card {
                number: card.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    type Outcome = tokio::sync::oneshot::Receiver<Result<v1::Transaction, Status>>;

    /// `charges` as one batch, sent in the background; where each answer
    /// goes.
    fn send_as_batch(
        client: PaymentServiceClient<Channel>,
        charges: &[v1::ChargeRequest],
    ) -> Vec<Outcome> {
        let (batch, outcomes): (Vec<_>, Vec<_>) = charges
            .iter()
            .map(|request| {
                let (reply, outcome) = tokio::sync::oneshot::channel();
                ((request.clone(), reply), outcome)
            })
            .unzip();
        tokio::spawn(send_batch(client, batch, Duration::from_secs(60)));
        outcomes
    }

    fn key_of(outcome: Result<Result<v1::Transaction, Status>, impl std::fmt::Debug>) -> String {
        outcome.unwrap().unwrap().idempotency_key
    }

    /// Every batch in flight is waiting on a charge the provider is slow
    /// on: the next charge still leaves and is answered. Without the slow
    /// batch's slot freed, it would wait for as long as they do (here,
    /// until the test releases them).
    #[tokio::test]
    async fn slow_charges_hold_up_no_other_checkout() {
        let mut fake = serve(Batches::Absent).await;
        let sender = Arc::new(ChargeSender::start(
            fake.client.clone(),
            Duration::from_secs(600),
        ));
        let mut slow = Vec::new();
        for key in ["slow-1", "slow-2"] {
            let sender = sender.clone();
            slow.push(tokio::spawn(async move {
                sender.charge(charge(key, SLOW_CARD)).await
            }));
            // Each in a call of its own, holding one of the two slots.
            assert_eq!(fake.arrived.recv().await.as_deref(), Some(key));
        }
        let next = tokio::time::timeout(
            Duration::from_secs(60),
            sender.charge(charge("next", "4242")),
        )
        .await
        .expect("the next charge left while the slow ones were still out");
        assert_eq!(next.unwrap().idempotency_key, "next");
        assert!(slow.iter().all(|call| !call.is_finished()));
        fake.release.send(true).unwrap();
        for (call, key) in slow.into_iter().zip(["slow-1", "slow-2"]) {
            assert_eq!(key_of(call.await), key);
        }
    }

    /// A batch's charges are answered as their outcomes arrive: the quick
    /// ones do not wait for the slow one between them.
    #[tokio::test]
    async fn each_charge_of_a_batch_is_answered_when_it_has_its_outcome() {
        let fake = serve(Batches::Streamed).await;
        let charges = [
            charge("quick-1", "4242"),
            charge("slow", SLOW_CARD),
            charge("quick-2", "4242"),
        ];
        let mut outcomes = send_as_batch(fake.client.clone(), &charges).into_iter();
        let (quick_1, mut slow, quick_2) = (
            outcomes.next().unwrap(),
            outcomes.next().unwrap(),
            outcomes.next().unwrap(),
        );
        assert_eq!(key_of(quick_1.await), "quick-1");
        assert_eq!(key_of(quick_2.await), "quick-2");
        assert!(
            slow.try_recv().is_err(),
            "the slow charge is not answered yet"
        );
        fake.release.send(true).unwrap();
        assert_eq!(key_of(slow.await), "slow");
    }

    /// A payment service that answers a charge of a batch twice is not
    /// trusted for the rest: they are answered as unknown (INTERNAL), never
    /// with another charge's outcome.
    #[tokio::test]
    async fn an_outcome_given_twice_leaves_the_rest_unknown() {
        let fake = serve(Batches::FirstTwice).await;
        let charges = [charge("first", "4242"), charge("second", "4242")];
        let mut outcomes = send_as_batch(fake.client.clone(), &charges).into_iter();
        assert_eq!(key_of(outcomes.next().unwrap().await), "first");
        let second = outcomes.next().unwrap().await.unwrap().unwrap_err();
        assert_eq!(second.code(), Code::Internal, "{second:?}");
        assert!(
            second.message().contains("twice or out of range"),
            "{second:?}"
        );
    }

    /// An outcome is a charge's only if it carries the charge's key.
    #[test]
    fn an_outcome_under_another_key_is_not_the_charges() {
        let request = charge("mine", "4242");
        let outcome = |key: &str| v1::ChargeOutcome {
            transaction: Some(v1::Transaction {
                idempotency_key: key.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            batch_outcome(outcome("mine"), &request)
                .unwrap()
                .idempotency_key,
            "mine"
        );
        let wrong = batch_outcome(outcome("theirs"), &request).unwrap_err();
        assert_eq!(wrong.code(), Code::Internal);
        let refused = v1::ChargeOutcome {
            code: Code::InvalidArgument as i32,
            message: "bad card".into(),
            ..Default::default()
        };
        assert_eq!(
            batch_outcome(refused, &request).unwrap_err().code(),
            Code::InvalidArgument
        );
    }
}
