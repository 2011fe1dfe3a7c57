//! `boxoffice.v1.PaymentService` over gRPC.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use boxoffice_config::clock::now_ms;

use boxoffice_proto::v1;
use boxoffice_proto::v1::payment_service_server::{PaymentService, PaymentServiceServer};
use futures::{FutureExt, StreamExt};
use tonic::server::NamedService;
use tonic::{Request, Response, Status};
use tracing::{debug, info};

use crate::cards::{self, Behaviour, year_month};
use crate::config::{Faults, PaymentConfig};
use crate::ledger::{
    ChargeParams, Charged, Ledger, LedgerError, NewCharge, Refund, Status as TxStatus, Transaction,
    Write, Written,
};

/// Largest charge, in cents (ten million in major units: ten seats at
/// the booking system's top price).
pub const MAX_AMOUNT_CENTS: i64 = 1_000_000_000;
/// Longest idempotency key.
pub const MAX_KEY_LEN: usize = 128;
/// How long a stopping service waits for the calls under way to end.
const DRAIN: Duration = Duration::from_secs(5);
/// Largest request accepted.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Most charges in one ChargeBatch (each at most about 600 bytes, so a
/// full batch fits in [`MAX_REQUEST_BYTES`]).
pub const MAX_CHARGE_BATCH: usize = 64;
/// Longest a charge of a batch may take before it is answered alone as
/// DEADLINE_EXCEEDED (well under a booking node's 3 s call timeout).
const BATCH_CHARGE_WAIT: Duration = Duration::from_secs(1);

/// The payment service failed to start or to serve.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The reflection service could not be built.
    #[error("reflection: {0}")]
    Reflection(#[from] boxoffice_proto::ReflectionError),
    /// The ledger could not be opened.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// gRPC serving failed.
    #[error("serving gRPC: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// The service's certificate, key or the CA could not be read.
    #[error("TLS: {0}")]
    Tls(#[from] boxoffice_tls::TlsError),
    /// The ledger stopped writing after a storage failure; the service
    /// stopped with it.
    #[error(
        "the ledger stopped writing after a storage failure ({0}); \
         the payment service stopped so that a restart replays its journal"
    )]
    LedgerStopped(String),
    /// The ledger could not be opened and the disk that holds it is full.
    #[error(
        "the payment ledger could not be opened ({why}) and the disk that holds {dir} is full: \
         free space there; the service is started again until it serves"
    )]
    DiskFull {
        /// The data directory.
        dir: String,
        /// Why the ledger did not open.
        why: LedgerError,
    },
}

/// The message for charge `index` of a batch, from what Charge would have
/// answered.
fn charge_outcome(
    index: usize,
    outcome: Result<Response<v1::ChargeResponse>, Status>,
) -> v1::ChargeOutcome {
    // A batch holds at most MAX_CHARGE_BATCH charges.
    #[allow(clippy::cast_possible_truncation)]
    let index = index as u32;
    match outcome {
        Ok(reply) => v1::ChargeOutcome {
            transaction: reply.into_inner().transaction,
            index,
            ..Default::default()
        },
        Err(status) => v1::ChargeOutcome {
            transaction: None,
            code: status.code() as i32,
            message: status.message().to_owned(),
            index,
        },
    }
}

fn ledger_status(e: LedgerError) -> Status {
    match e {
        LedgerError::KeyReused(_)
        | LedgerError::NotRefundable(_)
        | LedgerError::Voided(_)
        | LedgerError::RefundKeyReused(_)
        | LedgerError::RefundExceedsRemainder { .. } => Status::failed_precondition(e.to_string()),
        LedgerError::RefundExceedsCharge { .. } | LedgerError::BadRefund(_) => {
            Status::invalid_argument(e.to_string())
        }
        LedgerError::NotFound(_) => Status::not_found(e.to_string()),
        LedgerError::Storage(_) | LedgerError::Locked(_) => Status::internal(e.to_string()),
    }
}

fn message(tx: &Transaction) -> v1::Transaction {
    let status = match tx.status {
        TxStatus::Succeeded => v1::TransactionStatus::Succeeded,
        TxStatus::Declined => v1::TransactionStatus::Declined,
        TxStatus::Refunded => v1::TransactionStatus::Refunded,
        TxStatus::PartiallyRefunded => v1::TransactionStatus::PartiallyRefunded,
    };
    v1::Transaction {
        transaction_id: tx.id.clone(),
        idempotency_key: tx.idempotency_key.clone(),
        user_id: tx.user_id.clone(),
        amount_cents: tx.amount_cents,
        currency: tx.currency.clone(),
        status: status as i32,
        card_last4: tx.card_last4.clone(),
        decline_reason: tx.decline_reason.clone(),
        description: tx.description.clone(),
        created_at_ms: tx.created_at_ms,
        refunded_at_ms: tx.refunded_at_ms,
        refunded_cents: tx.refunded_cents,
    }
}

fn faults_message(f: &Faults) -> v1::Faults {
    v1::Faults {
        latency_ms: f.latency_ms,
        failure_rate: f.failure_rate,
        timeout_after_charge_rate: f.timeout_after_charge_rate,
        down: f.down,
    }
}

/// Most writes committed together.
const MAX_WRITE_BATCH: usize = 512;

/// A write waiting for its commit, and where its outcome goes.
type WriteJob = (
    Write,
    tokio::sync::oneshot::Sender<Result<Written, LedgerError>>,
);

/// Commits the ledger's writes (charges, refunds, voids) in groups on a
/// dedicated thread: every write that arrives while a commit is under way
/// goes into the next one, so many share one write transaction and one
/// fsync, applied in the order they arrived. Each is answered only after
/// its commit.
///
/// Once the ledger stops writing after a storage failure (see
/// [`Ledger::broken`]), the writer says why on its `failed` watch, and
/// [`run`] stops the service so that a restart replays the journal.
struct LedgerWriter {
    jobs: Option<std::sync::mpsc::Sender<WriteJob>>,
    thread: Option<std::thread::JoinHandle<()>>,
    failed: tokio::sync::watch::Receiver<Option<String>>,
}

impl LedgerWriter {
    fn start(ledger: Ledger) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<WriteJob>();
        let (fail, failed) = tokio::sync::watch::channel(None);
        let thread = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_WRITE_BATCH
                        && let Ok(next) = queue.try_recv()
                    {
                        batch.push(next);
                    }
                    let (writes, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                    match ledger.apply(writes) {
                        Ok(outcomes) => {
                            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                                let _ = reply.send(Ok(outcome));
                            }
                        }
                        Err(e) => {
                            let problem = e.to_string();
                            for reply in replies {
                                let _ = reply.send(Err(LedgerError::Storage(problem.clone())));
                            }
                        }
                    }
                    // A group can succeed and still leave the ledger unable
                    // to write (emptying the journal after a checkpoint).
                    if let Some(why) = ledger.broken() {
                        fail.send_replace(Some(why));
                    }
                }
            })
            .expect("spawning the ledger writer thread");
        Self {
            jobs: Some(jobs),
            thread: Some(thread),
            failed,
        }
    }

    /// Applies `write` in the next group commit; its outcome once durable.
    async fn write(&self, write: Write) -> Result<Written, Status> {
        let stopped = || Status::internal("the ledger writer has stopped");
        let (reply, outcome) = tokio::sync::oneshot::channel();
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send((write, reply))
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?.map_err(ledger_status)
    }

    async fn record(&self, charge: NewCharge) -> Result<Charged, Status> {
        match self.write(Write::Charge(Box::new(charge))).await? {
            Written::Charge(outcome) => outcome.map_err(ledger_status),
            other => Err(Status::internal(format!("a charge answered as {other:?}"))),
        }
    }

    async fn refund(&self, refund: Refund) -> Result<Transaction, Status> {
        let write = Write::Refund {
            refund,
            now_ms: now_ms(),
        };
        match self.write(write).await? {
            Written::Refund(outcome) => outcome.map_err(ledger_status),
            other => Err(Status::internal(format!("a refund answered as {other:?}"))),
        }
    }

    async fn void(&self, key: String) -> Result<Option<Transaction>, Status> {
        let write = Write::Void {
            key,
            now_ms: now_ms(),
        };
        match self.write(write).await? {
            Written::Void(outcome) => outcome.map_err(ledger_status),
            other => Err(Status::internal(format!("a void answered as {other:?}"))),
        }
    }
}

impl Drop for LedgerWriter {
    /// Stops the writer once it has committed what it was given, so that
    /// the ledger file is closed when the service is gone.
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The gRPC service. Cheap to clone: a clone shares the ledger, its writer
/// and the faults.
#[derive(Clone)]
pub struct PaymentApi {
    ledger: Ledger,
    writer: Arc<LedgerWriter>,
    faults: Arc<RwLock<Faults>>,
    admin_token: Option<String>,
    hang: Duration,
}

impl PaymentApi {
    /// The service for `config`, opening its ledger.
    pub fn new(config: &PaymentConfig) -> Result<Self, PaymentError> {
        let dir = &config.data_dir;
        let ledger = Ledger::open(&dir.join("ledger.redb")).map_err(|why| match why {
            LedgerError::Storage(_) if disk_full(dir) => PaymentError::DiskFull {
                dir: dir.display().to_string(),
                why,
            },
            why => why.into(),
        })?;
        Ok(Self {
            writer: Arc::new(LedgerWriter::start(ledger.clone())),
            ledger,
            faults: Arc::new(RwLock::new(config.faults.clone())),
            admin_token: config.admin_token.clone(),
            hang: Duration::from_millis(config.hang_ms),
        })
    }

    fn faults(&self) -> Faults {
        self.faults.read().expect("faults lock poisoned").clone()
    }

    /// Completes, with the reason, once the ledger has stopped writing
    /// after a storage failure.
    async fn ledger_failed(&self) -> String {
        let mut failed = self.writer.failed.clone();
        match failed.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            // The writer's thread is gone while the service holds it: it
            // died (a panic in a commit), and nothing can be written.
            Err(_) => "the ledger writer's thread stopped unexpectedly".to_owned(),
        }
    }

    /// Applies the faults that act before a call does anything.
    async fn before_call(&self) -> Result<Faults, Status> {
        let faults = self.faults();
        if faults.down {
            return Err(Status::unavailable(
                "payment provider is down (injected fault)",
            ));
        }
        if faults.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(faults.latency_ms))).await;
        }
        if faults.failure_rate > 0.0 && rand::random::<f64>() < faults.failure_rate {
            return Err(Status::unavailable(
                "payment provider failed (injected fault); retry with the same key",
            ));
        }
        Ok(faults)
    }

    /// Runs a ledger operation on a blocking thread (it fsyncs).
    async fn ledger<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Ledger) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, Status> {
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || op(&ledger))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(ledger_status)
    }
}

/// Whether `key` is 1 to [`MAX_KEY_LEN`] printable characters without spaces.
fn well_formed_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.chars().all(|c| c.is_ascii_graphic())
}

fn check_key(key: &str) -> Result<(), Status> {
    if !well_formed_key(key) {
        return Err(Status::invalid_argument(format!(
            "idempotency_key must be 1 to {MAX_KEY_LEN} printable characters without spaces"
        )));
    }
    Ok(())
}

/// The ledger's refund for a request, or why it is malformed. Whether the
/// amount fits the charge is for the ledger to say, which knows the charge.
fn refund_of(r: v1::RefundRequest) -> Result<Refund, Status> {
    if !well_formed_key(&r.transaction_id) {
        return Err(Status::invalid_argument("transaction_id is malformed"));
    }
    if !(0..=MAX_AMOUNT_CENTS).contains(&r.amount_cents) {
        return Err(Status::invalid_argument(format!(
            "amount_cents must be between 0 (all that remains) and {MAX_AMOUNT_CENTS}, not {}",
            r.amount_cents
        )));
    }
    let key = if r.refund_key.is_empty() {
        if r.amount_cents != 0 {
            return Err(Status::invalid_argument(
                "a partial refund (amount_cents > 0) needs a refund_key",
            ));
        }
        None
    } else if r.refund_key.starts_with(crate::ledger::RESTORE_REFUND) {
        return Err(Status::invalid_argument(format!(
            "refund_key must not begin with {:?}: only a restore makes those",
            crate::ledger::RESTORE_REFUND
        )));
    } else if well_formed_key(&r.refund_key) {
        Some(r.refund_key)
    } else {
        return Err(Status::invalid_argument(format!(
            "refund_key must be 1 to {MAX_KEY_LEN} printable characters without spaces"
        )));
    };
    Ok(Refund {
        transaction_id: r.transaction_id,
        amount_cents: r.amount_cents,
        key,
    })
}

/// The size of a backup's pieces (well under gRPC's 4 MiB message cap).
const BACKUP_CHUNK_BYTES: usize = 1024 * 1024;

/// Which verified certificates may make a v1 call.
#[derive(Clone, Copy)]
enum Caller {
    /// Booking nodes: they charge, refund and void.
    Node,
    /// Booking nodes and the operator's tools (audits): reads.
    NodeOrOperator,
    /// The operator's tools: fault injection.
    Operator,
}

/// Refuses a v1 call whose client certificate is not one `allowed` names.
/// The v1 API is served on the mutual-TLS listener only, so a call without
/// a verified certificate never gets here; this check is what keeps the
/// auth service or the gateway (also holders of the CA's certificates)
/// from moving money.
fn require<T>(req: &Request<T>, allowed: Caller) -> Result<(), Status> {
    use boxoffice_tls::Identity;
    let identity = Identity::of_request(req);
    let ok = matches!(
        (allowed, identity),
        (
            Caller::Node | Caller::NodeOrOperator,
            Some(Identity::Node(_))
        ) | (
            Caller::NodeOrOperator | Caller::Operator,
            Some(Identity::Operator)
        )
    );
    if ok {
        Ok(())
    } else {
        boxoffice_tls::refusals::warn("refused a payment call", req);
        Err(Status::permission_denied(
            "the payment API answers the cluster's booking nodes only",
        ))
    }
}

impl PaymentApi {
    /// A charge, once its caller is known to be allowed (a node, or the
    /// legacy adapter on behalf of an old client).
    pub(crate) async fn charge_checked(
        &self,
        r: v1::ChargeRequest,
    ) -> Result<Response<v1::ChargeResponse>, Status> {
        check_key(&r.idempotency_key)?;
        if r.user_id.is_empty() || r.user_id.len() > 64 {
            return Err(Status::invalid_argument(
                "user_id must be 1 to 64 characters",
            ));
        }
        if !(1..=MAX_AMOUNT_CENTS).contains(&r.amount_cents) {
            return Err(Status::invalid_argument(format!(
                "amount_cents must be between 1 and {MAX_AMOUNT_CENTS}, not {}",
                r.amount_cents
            )));
        }
        if r.currency.len() != 3 || !r.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(Status::invalid_argument(
                "currency must be a three-letter ISO 4217 code such as EUR",
            ));
        }
        if r.description.chars().count() > 200 {
            return Err(Status::invalid_argument(
                "description must be at most 200 characters",
            ));
        }
        let card = r
            .card
            .ok_or_else(|| Status::invalid_argument("card is required"))?;
        let card = cards::check(
            &card.number,
            card.exp_month,
            card.exp_year,
            &card.cvc,
            year_month(now_ms()),
        )
        .map_err(|problem| Status::invalid_argument(problem.to_string()))?;
        let faults = self.before_call().await?;

        let params = ChargeParams {
            user_id: r.user_id.clone(),
            amount_cents: r.amount_cents,
            currency: r.currency.clone(),
            card_last4: card.last4.clone(),
            description: r.description.clone(),
        };
        // A key used before needs no look-up here: the ledger's writer
        // answers it with the charge recorded under it (or refuses it as
        // voided or reused), and only a new charge can lose its reply to
        // the injected fault below. The test card that hangs never records
        // anything, so it hangs again when retried, as it should.
        let (status, decline_reason) = match card.behaviour {
            Behaviour::Approve => (TxStatus::Succeeded, String::new()),
            Behaviour::Decline(why) => (TxStatus::Declined, why.to_owned()),
            Behaviour::Hang => {
                tokio::time::sleep(self.hang).await;
                return Err(Status::deadline_exceeded(
                    "payment provider did not answer (test card); nothing was charged",
                ));
            }
        };
        let tx = Transaction {
            // Time-ordered (UUIDv7: 48 bits of milliseconds, 74 random), so
            // that the ledger's new transactions go at the end of its
            // table instead of dirtying a page at a random place each.
            id: format!(
                "tx_{}",
                uuid::Uuid::new_v7(uuid::Timestamp::now(uuid::NoContext)).simple()
            ),
            idempotency_key: r.idempotency_key.clone(),
            user_id: r.user_id,
            amount_cents: r.amount_cents,
            currency: r.currency,
            status,
            card_last4: card.last4,
            decline_reason,
            description: r.description,
            created_at_ms: now_ms(),
            refunded_at_ms: 0,
            refunded_cents: 0,
        };
        let charged = self
            .writer
            .record(NewCharge {
                key: r.idempotency_key,
                params,
                tx,
            })
            .await?;
        let (tx, new) = match charged {
            Charged::New(tx) => (tx, true),
            Charged::Replayed(tx) => (tx, false),
        };
        if new {
            debug!(tx = %tx.id, last4 = %tx.card_last4, amount_cents = tx.amount_cents, status = ?tx.status, "charge");
        }
        if new
            && tx.status == TxStatus::Succeeded
            && faults.timeout_after_charge_rate > 0.0
            && rand::random::<f64>() < faults.timeout_after_charge_rate
        {
            return Err(Status::deadline_exceeded(
                "reply lost after the charge was recorded (injected fault); retry with the same key",
            ));
        }
        Ok(Response::new(v1::ChargeResponse {
            transaction: Some(message(&tx)),
        }))
    }

    /// A transaction's state, once its caller is known to be allowed.
    pub(crate) async fn get_checked(
        &self,
        r: v1::GetTransactionRequest,
    ) -> Result<Response<v1::GetTransactionResponse>, Status> {
        self.before_call().await?;
        let found = match (r.transaction_id.is_empty(), r.idempotency_key.is_empty()) {
            (false, true) => {
                let id = r.transaction_id.clone();
                self.ledger(move |l| l.get(&id)).await?
            }
            (true, false) => {
                check_key(&r.idempotency_key)?;
                let key = r.idempotency_key.clone();
                self.ledger(move |l| l.by_key(&key)).await?
            }
            _ => {
                return Err(Status::invalid_argument(
                    "give exactly one of transaction_id and idempotency_key",
                ));
            }
        };
        let tx = found.ok_or_else(|| Status::not_found("no such transaction"))?;
        Ok(Response::new(v1::GetTransactionResponse {
            transaction: Some(message(&tx)),
        }))
    }
}

#[tonic::async_trait]
impl PaymentService for PaymentApi {
    async fn charge(
        &self,
        req: Request<v1::ChargeRequest>,
    ) -> Result<Response<v1::ChargeResponse>, Status> {
        require(&req, Caller::Node)?;
        self.charge_checked(req.into_inner()).await
    }

    type ChargeBatchStream =
        futures::stream::BoxStream<'static, Result<v1::ChargeBatchResponse, Status>>;

    async fn charge_batch(
        &self,
        req: Request<v1::ChargeBatchRequest>,
    ) -> Result<Response<Self::ChargeBatchStream>, Status> {
        require(&req, Caller::Node)?;
        let charges = req.into_inner().charges;
        if !(1..=MAX_CHARGE_BATCH).contains(&charges.len()) {
            return Err(Status::invalid_argument(format!(
                "a batch holds 1 to {MAX_CHARGE_BATCH} charges, not {}",
                charges.len()
            )));
        }
        // Every charge at once: they meet again in the ledger's next group
        // commit, and each is answered as soon as it has its outcome (the
        // outcomes ready together go in one message), so a slow charge
        // holds up no other. A charge that takes too long (the test card
        // that hangs) is answered DEADLINE_EXCEEDED, well inside the
        // caller's deadline; its outcome is then unknown, as a lone
        // charge's would be, and a retry under its key is safe.
        let pending: futures::stream::FuturesUnordered<_> = charges
            .into_iter()
            .enumerate()
            .map(|(index, charge)| {
                let api = self.clone();
                async move {
                    let outcome = tokio::time::timeout(BATCH_CHARGE_WAIT, api.charge_checked(charge))
                        .await
                        .unwrap_or_else(|_| {
                            Err(Status::deadline_exceeded(
                                "the charge took too long to answer in its batch; retry with the same key",
                            ))
                        });
                    charge_outcome(index, outcome)
                }
            })
            .collect();
        let answers = futures::stream::unfold(pending, |mut pending| async move {
            let first = pending.next().await?;
            let mut outcomes = vec![first];
            while let Some(Some(ready)) = pending.next().now_or_never() {
                outcomes.push(ready);
            }
            Some((Ok(v1::ChargeBatchResponse { outcomes }), pending))
        });
        Ok(Response::new(Box::pin(answers)))
    }

    async fn refund(
        &self,
        req: Request<v1::RefundRequest>,
    ) -> Result<Response<v1::RefundResponse>, Status> {
        require(&req, Caller::Node)?;
        let refund = refund_of(req.into_inner())?;
        self.before_call().await?;
        let (asked, key) = (refund.amount_cents, refund.key.clone());
        let tx = self.writer.refund(refund).await?;
        info!(
            tx = %tx.id,
            amount_cents = tx.amount_cents,
            asked_cents = asked,
            refunded_cents = tx.refunded_cents,
            key = key.as_deref().unwrap_or(""),
            "refund"
        );
        Ok(Response::new(v1::RefundResponse {
            transaction: Some(message(&tx)),
        }))
    }

    async fn void(
        &self,
        req: Request<v1::VoidRequest>,
    ) -> Result<Response<v1::VoidResponse>, Status> {
        require(&req, Caller::Node)?;
        let key = req.into_inner().idempotency_key;
        check_key(&key)?;
        self.before_call().await?;
        let logged = key.clone();
        let charged = self.writer.void(key).await?;
        match &charged {
            Some(tx) => {
                info!(key = %logged, tx = %tx.id, status = ?tx.status, "void found a charge")
            }
            None => info!(key = %logged, "voided"),
        }
        Ok(Response::new(v1::VoidResponse {
            transaction: charged.as_ref().map(message),
        }))
    }

    async fn get_transaction(
        &self,
        req: Request<v1::GetTransactionRequest>,
    ) -> Result<Response<v1::GetTransactionResponse>, Status> {
        require(&req, Caller::NodeOrOperator)?;
        self.get_checked(req.into_inner()).await
    }

    async fn list_transactions(
        &self,
        req: Request<v1::ListTransactionsRequest>,
    ) -> Result<Response<v1::ListTransactionsResponse>, Status> {
        require(&req, Caller::NodeOrOperator)?;
        let user = req.into_inner().user_id;
        if user.is_empty() || user.len() > 64 {
            return Err(Status::invalid_argument(
                "user_id must be 1 to 64 characters",
            ));
        }
        self.before_call().await?;
        let txs = self.ledger(move |l| l.list_user(&user)).await?;
        Ok(Response::new(v1::ListTransactionsResponse {
            transactions: txs.iter().map(message).collect(),
        }))
    }

    type BackupLedgerStream = futures::stream::BoxStream<'static, Result<v1::LedgerChunk, Status>>;

    async fn backup_ledger(
        &self,
        req: Request<v1::BackupLedgerRequest>,
    ) -> Result<Response<Self::BackupLedgerStream>, Status> {
        // The whole ledger (every user's charges): the operator alone.
        require(&req, Caller::Operator)?;
        let dump = self.ledger(|l| l.dump()).await?;
        let bytes = postcard::to_allocvec(&dump)
            .map_err(|e| Status::internal(format!("encoding the ledger: {e}")))?;
        info!(
            transactions = dump.transactions.len(),
            bytes = bytes.len(),
            "ledger backed up"
        );
        let chunks: Vec<Result<v1::LedgerChunk, Status>> = bytes
            .chunks(BACKUP_CHUNK_BYTES)
            .map(|data| {
                Ok(v1::LedgerChunk {
                    data: data.to_vec(),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(futures::stream::iter(chunks))))
    }

    async fn set_faults(
        &self,
        req: Request<v1::SetFaultsRequest>,
    ) -> Result<Response<v1::SetFaultsResponse>, Status> {
        require(&req, Caller::Operator)?;
        let r = req.into_inner();
        match &self.admin_token {
            Some(token) if *token == r.admin_token => {}
            Some(_) => return Err(Status::permission_denied("wrong admin_token")),
            None => {
                return Err(Status::permission_denied(
                    "set admin_token in the payment config to allow this",
                ));
            }
        }
        let f = r.faults.unwrap_or_default();
        let faults = Faults {
            latency_ms: f.latency_ms,
            failure_rate: f.failure_rate,
            timeout_after_charge_rate: f.timeout_after_charge_rate,
            down: f.down,
        };
        faults
            .validate()
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        info!(?faults, "faults changed");
        *self.faults.write().expect("faults lock poisoned") = faults.clone();
        Ok(Response::new(v1::SetFaultsResponse {
            faults: Some(faults_message(&faults)),
        }))
    }
}

impl PaymentError {
    /// Whether the service stopped for a cause outside it that may pass
    /// (its disk full or failing): its supervisor should start it again,
    /// later and later, however often, rather than leave it down.
    pub fn stopped_for_now(&self) -> bool {
        matches!(self, Self::LedgerStopped(_) | Self::DiskFull { .. })
    }
}

/// Space below which a file system counts as full: redb grows its file by
/// more than a page at a time, so a write can fail with some space left.
const FULL_BELOW_BYTES: u64 = 64 << 20;

/// Whether the writable file system that holds `dir` (or would: its
/// nearest existing ancestor) is full for this user: too little space, or
/// no inode left. A read-only one is not full: nothing frees it.
fn disk_full(dir: &std::path::Path) -> bool {
    use nix::sys::statvfs::{FsFlags, statvfs};
    let Some(fs) = dir.ancestors().find_map(|dir| statvfs(dir).ok()) else {
        return false;
    };
    !fs.flags().contains(FsFlags::ST_RDONLY)
        && (fs.blocks_available().saturating_mul(fs.fragment_size()) < FULL_BELOW_BYTES
            || (fs.files() > 0 && fs.files_available() == 0))
}

/// Where the payment service listens.
pub struct Listeners {
    /// The old clients' services and health, plaintext (`listen`).
    pub legacy: tokio::net::TcpListener,
    /// The v1 API, mutual TLS (`peer_listen`).
    pub peer: tokio::net::TcpListener,
}

impl Listeners {
    /// Binds the addresses `config` names.
    pub async fn bind(config: &PaymentConfig) -> std::io::Result<Self> {
        Ok(Self {
            legacy: boxoffice_server::bind(&config.listen).await?,
            peer: boxoffice_server::bind(&config.peer_listen).await?,
        })
    }
}

/// `boxoffice payment`: runs the service from the config file at `path`
/// (defaults and `BOXOFFICE_PAYMENT__*` overrides only if absent) until the
/// process is asked to stop.
pub async fn serve(path: Option<&std::path::Path>) -> anyhow::Result<()> {
    boxoffice_server::process(|shutdown| async move {
        let config = PaymentConfig::load(path)?;
        let listeners = Listeners::bind(&config).await?;
        run(config, listeners, shutdown).await?;
        Ok(())
    })
    .await
}

/// Runs the payment service on `listeners` until `shutdown` completes.
pub async fn run(
    config: PaymentConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), PaymentError> {
    let api = PaymentApi::new(&config)?;
    serve_api(api, &config, listeners, shutdown).await
}

/// Serves `api` on `listeners` until `shutdown` completes, or until its
/// ledger stops writing after a storage failure: the service then says
/// NOT_SERVING, stops, and returns [`PaymentError::LedgerStopped`], so that
/// its supervisor restarts it and the restart replays the journal (a
/// service that kept answering could only refuse every write).
async fn serve_api(
    api: PaymentApi,
    config: &PaymentConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), PaymentError> {
    let tls = boxoffice_tls::TlsFiles::in_dir(&config.certs_dir, boxoffice_tls::Identity::Payment)
        .load()?;
    let api = Arc::new(api);
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<PaymentServiceServer<PaymentApi>>()
        .await;
    info!(
        listen = %config.listen,
        peer_listen = %config.peer_listen,
        ledger = %config.data_dir.display(),
        "payment service serving"
    );
    // Both servers stop at the same moment.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let stopped = |mut stopping: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let peer = boxoffice_server::grpc(Some(tls.mutual_server()))?
        .add_service(health_service.clone())
        .add_service(boxoffice_proto::reflection(&[<PaymentServiceServer<
            PaymentApi,
        > as NamedService>::NAME])?)
        .add_service(
            PaymentServiceServer::from_arc(api.clone())
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .serve_with_incoming_shutdown(
            boxoffice_server::incoming(listeners.peer),
            stopped(stopping.clone()),
        );
    let client_tls = match &config.client_tls {
        Some(client_tls) => Some(client_tls.server()?),
        None => None,
    };
    let mut legacy = boxoffice_server::grpc(client_tls)?;
    let legacy = legacy
        .add_service(health_service)
        .add_service(boxoffice_proto::reflection(&[
            <boxoffice_proto::legacy::payment::payment_service_server::PaymentServiceServer<
                crate::legacy::LegacyPayment,
            > as NamedService>::NAME,
        ])?)
        .add_service(
            boxoffice_proto::legacy::payment::payment_service_server::PaymentServiceServer::new(
                crate::legacy::LegacyPayment::new(api.clone()),
            )
            .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .serve_with_incoming_shutdown(
            boxoffice_server::incoming(listeners.legacy),
            stopped(stopping),
        );
    let mut servers = std::pin::pin!(futures::future::join(peer, legacy));
    let mut ended = None;
    let failure = tokio::select! {
        () = shutdown => None,
        why = api.ledger_failed() => {
            tracing::error!(
                %why,
                "the payment ledger stopped writing; stopping the service so that a restart replays its journal"
            );
            health
                .set_not_serving::<PaymentServiceServer<PaymentApi>>()
                .await;
            health
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            Some(why)
        }
        results = &mut servers => {
            ended = Some(results);
            None
        }
    };
    let _ = stop.send(true);
    // A call that never ends (a health Watch, a client that stops reading)
    // must not keep a stopping service up: the rest are cut off.
    let (peer, legacy) = match ended {
        Some(results) => results,
        None => match tokio::time::timeout(DRAIN, servers).await {
            Ok(results) => results,
            Err(_) => {
                tracing::warn!(
                    "calls still open {}s after the service began to stop were cut off",
                    DRAIN.as_secs()
                );
                (Ok(()), Ok(()))
            }
        },
    };
    if let Some(why) = failure {
        return Err(PaymentError::LedgerStopped(why));
    }
    peer?;
    legacy?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cards::year_month;
    use boxoffice_tls::Identity;

    /// Only `boxoffice restore` makes a `restore:` refund, so a backup can
    /// set those apart: a node (the only caller Refund takes) cannot plant
    /// one to hide a refund from the backup's check.
    #[test]
    fn a_refund_key_of_a_restore_is_refused() {
        let request = |key: &str| v1::RefundRequest {
            transaction_id: "tx_1".into(),
            amount_cents: 0,
            refund_key: key.into(),
        };
        let refused = refund_of(request("restore:tx_1")).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
        assert!(refund_of(request("booking:7")).is_ok());
    }

    /// A ledger that cannot open on a full disk stops the service "for
    /// now" (exit 75: started again until it serves), not as a failure
    /// that its supervisor gives up on. Needs a tmpfs mount (root).
    #[test]
    fn a_ledger_on_a_full_disk_stops_the_service_for_now() {
        let dir = tempfile::TempDir::new().unwrap();
        let full = dir.path().join("full");
        std::fs::create_dir(&full).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&full)
            .stderr(std::process::Stdio::null())
            .status();
        if !mounted.is_ok_and(|status| status.success()) {
            eprintln!("skipped: this user cannot mount a tmpfs");
            return;
        }
        struct Unmount<'a>(&'a std::path::Path);
        impl Drop for Unmount<'_> {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount")
                    .arg("-l")
                    .arg(self.0)
                    .status();
            }
        }
        let _unmount = Unmount(&full);
        // Fill it: the write stops where the space ends.
        let _ = std::fs::write(full.join("filler"), vec![1u8; 2 << 20]);
        assert!(disk_full(&full));
        // A data directory still to be made is judged by the disk that
        // would hold it.
        assert!(disk_full(&full.join("payment").join("data")));
        let config = PaymentConfig {
            data_dir: full.join("payment"),
            ..PaymentConfig::default()
        };
        match PaymentApi::new(&config) {
            Err(e @ PaymentError::DiskFull { .. }) => {
                assert!(e.stopped_for_now());
                assert!(e.to_string().contains("is full"), "{e}");
            }
            Err(e) => panic!("expected DiskFull, got {e:?}"),
            Ok(_) => panic!("a ledger opened on a full disk"),
        }
        // A failure of another kind is one its supervisor may give up on.
        let refused = PaymentError::Ledger(LedgerError::Storage("bad".into()));
        assert!(!refused.stopped_for_now());
        assert!(PaymentError::LedgerStopped("why".into()).stopped_for_now());
    }

    /// A ledger that stops writing (here its commit fails after the group
    /// reached the journal) stops the service, which returns why, instead
    /// of serving on while refusing every write, even with a call open
    /// that never ends (a health Watch). The old clients' port answers the
    /// failed charge UNAVAILABLE, not FAILED: the restart replays it from
    /// the journal, and the old client's retry under the same correlation
    /// id finds it charged, once (UNKNOWN without a correlation id, which
    /// no retry could find).
    #[tokio::test]
    async fn a_ledger_that_stops_writing_stops_the_service() {
        use boxoffice_proto::legacy::payment::PaymentRequest;
        use boxoffice_proto::legacy::payment::payment_service_server::PaymentService as _;
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

        let dir = tempfile::TempDir::new().unwrap();
        let certs = dir.path().join("certs");
        boxoffice_tls::ensure(&certs, &[Identity::Payment, Identity::Node(1)], &[]).unwrap();
        let listeners = Listeners {
            legacy: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            peer: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        };
        let config = PaymentConfig {
            listen: listeners.legacy.local_addr().unwrap().to_string(),
            peer_listen: listeners.peer.local_addr().unwrap().to_string(),
            certs_dir: certs,
            data_dir: dir.path().to_path_buf(),
            ..PaymentConfig::default()
        };
        let api = PaymentApi::new(&config).unwrap();
        let service = {
            let (api, config) = (api.clone(), config.clone());
            tokio::spawn(
                async move { serve_api(api, &config, listeners, std::future::pending()).await },
            )
        };
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", config.listen))
            .unwrap()
            .connect_lazy();
        let mut watch = HealthClient::new(channel)
            .watch(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(watch.message().await.unwrap().is_some());
        let charge = |key: &str| v1::ChargeRequest {
            idempotency_key: key.into(),
            user_id: "u1".into(),
            amount_cents: 500,
            currency: "EUR".into(),
            card: Some(v1::Card {
                number: "4242 4242 4242 4242".into(),
                exp_month: 12,
                exp_year: 2099,
                cvc: "123".into(),
            }),
            description: "a seat".into(),
        };
        let old_charge = || {
            Request::new(PaymentRequest {
                correlation_id: "c1".into(),
                amount_cents: 700,
                card_number: "4111".into(),
                ..Default::default()
            })
        };
        api.charge_checked(charge("before")).await.unwrap();

        api.ledger.fail_next_commit();
        let legacy = crate::legacy::LegacyPayment::new(Arc::new(api.clone()));
        let old_client = legacy.process_payment(old_charge()).await.unwrap_err();
        assert_eq!(
            old_client.code(),
            tonic::Code::Unavailable,
            "{old_client:?}"
        );
        // Without a correlation id a retry would be a new charge: the
        // failure is UNKNOWN, which old clients do not retry.
        let mut uncorrelated = old_charge();
        uncorrelated.get_mut().correlation_id.clear();
        let old_client = legacy.process_payment(uncorrelated).await.unwrap_err();
        assert_eq!(old_client.code(), tonic::Code::Unknown, "{old_client:?}");
        let refused = api.charge_checked(charge("refused")).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Internal, "{refused:?}");
        assert!(refused.message().contains("restart"), "{refused:?}");

        let stopped = tokio::time::timeout(Duration::from_secs(30), service)
            .await
            .expect("the service kept serving after its ledger stopped writing")
            .unwrap();
        match stopped {
            Err(PaymentError::LedgerStopped(why)) => {
                assert!(why.contains("commit after the journal"), "{why}")
            }
            other => panic!("expected LedgerStopped, got {other:?}"),
        }
        drop(watch);

        // The restart replays the group the journal held, and writes again
        // (once the cut-off connection's task has let go of the ledger; a
        // process that stops has none left).
        drop((api, legacy));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let api = loop {
            match PaymentApi::new(&config) {
                Ok(api) => break api,
                Err(e) if std::time::Instant::now() < deadline => {
                    assert!(e.to_string().contains("open in another process"), "{e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("the ledger stayed open: {e}"),
            }
        };
        assert_eq!(api.ledger.replayed(), 1);
        let legacy = crate::legacy::LegacyPayment::new(Arc::new(api.clone()));
        let retried = legacy.process_payment(old_charge()).await.unwrap();
        let retried = retried.into_inner();
        assert!(retried.success, "{retried:?}");
        let kept = api.ledger.by_key("legacy:c1").unwrap().unwrap();
        assert_eq!(retried.transaction_id, kept.id);
        assert_eq!(kept.amount_cents, 700);
        assert!(api.ledger.by_key("refused").unwrap().is_none());
        api.charge_checked(charge("after")).await.unwrap();
    }

    #[test]
    fn calendar_months() {
        assert_eq!(year_month(0), (1970, 1));
        assert_eq!(year_month(951_782_400_000), (2000, 2)); // 2000-02-29
        assert_eq!(year_month(1_795_219_200_000), (2026, 11)); // 2026-11-21
    }
}
