//! The payment service through its gRPC API: idempotency, declines,
//! refunds, durability across a restart, injected faults, bad input.

use std::path::Path;
use std::time::Duration;

use boxoffice_payment::config::PaymentConfig;
use boxoffice_payment::service::Listeners;
use boxoffice_proto::v1::payment_service_client::PaymentServiceClient;
use boxoffice_proto::v1::{
    Card, ChargeBatchRequest, ChargeOutcome, ChargeRequest, Faults, GetTransactionRequest,
    ListTransactionsRequest, RefundRequest, SetFaultsRequest, Transaction, TransactionStatus,
    VoidRequest,
};
use boxoffice_tls::{Identity, TlsFiles};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;

const ADMIN_TOKEN: &str = "a test admin token";
const GOOD: &str = "4242 4242 4242 4242";

struct Service {
    /// As a booking node.
    client: PaymentServiceClient<Channel>,
    /// As the operator (fault injection).
    operator: PaymentServiceClient<Channel>,
    /// The old system's port (plaintext, no credentials).
    legacy_addr: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Service {
    async fn start(dir: &Path) -> Self {
        Self::start_hanging(dir, 300).await
    }

    /// The service, its hanging test card answering after `hang_ms`.
    async fn start_hanging(dir: &Path, hang_ms: u64) -> Self {
        let certs = dir.join("certs");
        boxoffice_tls::ensure(
            &certs,
            &[Identity::Payment, Identity::Node(1), Identity::Operator],
            &[],
        )
        .unwrap();
        let listeners = Listeners {
            legacy: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            peer: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        };
        let addr = listeners.peer.local_addr().unwrap();
        let legacy_addr = listeners.legacy.local_addr().unwrap().to_string();
        let config = PaymentConfig {
            listen: listeners.legacy.local_addr().unwrap().to_string(),
            peer_listen: addr.to_string(),
            certs_dir: certs.clone(),
            data_dir: dir.to_path_buf(),
            admin_token: Some(ADMIN_TOKEN.into()),
            hang_ms,
            ..PaymentConfig::default()
        };
        config.validate().unwrap();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            boxoffice_payment::service::run(config, listeners, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let client_as = |identity: Identity| {
            let channel = TlsFiles::in_dir(&certs, identity)
                .load()
                .unwrap()
                .endpoint(&addr.to_string(), &Identity::Payment.dns_name())
                .unwrap()
                .connect_lazy();
            PaymentServiceClient::new(channel)
        };
        Self {
            client: client_as(Identity::Node(1)),
            operator: client_as(Identity::Operator),
            legacy_addr,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }

    async fn charge(
        &self,
        key: &str,
        amount: i64,
        number: &str,
    ) -> Result<Transaction, tonic::Status> {
        let req = charge_request(key, amount, number);
        Ok(self
            .client
            .clone()
            .charge(req)
            .await?
            .into_inner()
            .transaction
            .unwrap())
    }

    async fn list(&self) -> Vec<Transaction> {
        let req = ListTransactionsRequest {
            user_id: "u1".into(),
        };
        self.client
            .clone()
            .list_transactions(req)
            .await
            .unwrap()
            .into_inner()
            .transactions
    }

    async fn set_faults(&self, faults: Faults) {
        let req = SetFaultsRequest {
            admin_token: ADMIN_TOKEN.into(),
            faults: Some(faults),
        };
        self.operator.clone().set_faults(req).await.unwrap();
    }
}

fn charge_request(key: &str, amount: i64, number: &str) -> ChargeRequest {
    ChargeRequest {
        idempotency_key: key.into(),
        user_id: "u1".into(),
        amount_cents: amount,
        currency: "EUR".into(),
        card: Some(Card {
            number: number.into(),
            exp_month: 12,
            exp_year: 2099,
            cvc: "123".into(),
        }),
        description: "2 seats".into(),
    }
}

fn code<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> Code {
    r.expect_err("expected an error").code()
}

#[tokio::test]
async fn charges_are_idempotent_and_declines_are_transactions() {
    let dir = TempDir::new().unwrap();
    let svc = Service::start(dir.path()).await;
    let first = svc.charge("order-1", 5000, GOOD).await.unwrap();
    assert_eq!(first.status, TransactionStatus::Succeeded as i32);
    assert_eq!(first.card_last4, "4242");
    assert_eq!(
        svc.charge("order-1", 5000, GOOD).await.unwrap(),
        first,
        "same key, same result"
    );
    assert_eq!(
        code(svc.charge("order-1", 6000, GOOD).await),
        Code::FailedPrecondition,
        "same key, other amount"
    );

    let poor = svc
        .charge("order-2", 5000, "4000000000009995")
        .await
        .unwrap();
    assert_eq!(
        (poor.status, poor.decline_reason.as_str()),
        (TransactionStatus::Declined as i32, "insufficient funds")
    );
    let stolen = svc
        .charge("order-3", 5000, "4000000000009979")
        .await
        .unwrap();
    assert_eq!(stolen.decline_reason, "card reported stolen");

    let by_key = svc
        .client
        .clone()
        .get_transaction(GetTransactionRequest {
            idempotency_key: "order-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(by_key, first);
    assert_eq!(svc.list().await.len(), 3);
    svc.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_and_records_nothing() {
    let dir = TempDir::new().unwrap();
    let svc = Service::start(dir.path()).await;
    svc.charge("seed", 100, GOOD).await.unwrap();
    let cases = [
        (
            "bad checksum",
            svc.charge("k1", 100, "4242424242424241").await,
        ),
        ("too short", svc.charge("k2", 100, "4242").await),
        ("zero amount", svc.charge("k3", 0, GOOD).await),
        ("negative amount", svc.charge("k4", -5, GOOD).await),
        ("huge amount", svc.charge("k5", 1_000_000_001, GOOD).await),
        ("empty key", svc.charge("", 100, GOOD).await),
        ("key with spaces", svc.charge("a b", 100, GOOD).await),
    ];
    for (what, result) in cases {
        assert_eq!(code(result), Code::InvalidArgument, "{what}");
    }
    let mut expired = ChargeRequest {
        idempotency_key: "k6".into(),
        user_id: "u1".into(),
        amount_cents: 100,
        currency: "EUR".into(),
        card: Some(Card {
            number: GOOD.into(),
            exp_month: 1,
            exp_year: 2020,
            cvc: "123".into(),
        }),
        description: String::new(),
    };
    let err = svc
        .client
        .clone()
        .charge(expired.clone())
        .await
        .unwrap_err();
    assert!(err.message().contains("expired"), "{err:?}");
    expired.card = None;
    assert_eq!(
        code(svc.client.clone().charge(expired).await),
        Code::InvalidArgument
    );
    let refund = |id: &str| RefundRequest {
        transaction_id: id.into(),
        ..RefundRequest::default()
    };
    assert_eq!(
        code(svc.client.clone().refund(refund("tx_unknown")).await),
        Code::NotFound
    );
    assert_eq!(svc.list().await.len(), 1, "nothing else was recorded");
    svc.stop().await;
}

#[tokio::test]
async fn refunds_are_full_and_happen_once() {
    let dir = TempDir::new().unwrap();
    let svc = Service::start(dir.path()).await;
    let tx = svc.charge("order-1", 2500, GOOD).await.unwrap();
    let req = RefundRequest {
        transaction_id: tx.transaction_id.clone(),
        ..RefundRequest::default()
    };
    let refunded = svc
        .client
        .clone()
        .refund(req.clone())
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(refunded.status, TransactionStatus::Refunded as i32);
    let again = svc
        .client
        .clone()
        .refund(req)
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(again, refunded, "refunding twice is harmless");
    let declined = svc
        .charge("order-2", 2500, "4000000000009995")
        .await
        .unwrap();
    let req = RefundRequest {
        transaction_id: declined.transaction_id,
        ..RefundRequest::default()
    };
    assert_eq!(
        code(svc.client.clone().refund(req).await),
        Code::FailedPrecondition
    );
    svc.stop().await;
}

#[tokio::test]
async fn partial_refunds_happen_once_per_key_and_never_exceed_the_charge() {
    let dir = TempDir::new().unwrap();
    let svc = Service::start(dir.path()).await;
    let tx = svc.charge("order-1", 2500, GOOD).await.unwrap();
    let refund = |amount: i64, key: &str| {
        let mut client = svc.client.clone();
        let req = RefundRequest {
            transaction_id: tx.transaction_id.clone(),
            amount_cents: amount,
            refund_key: key.into(),
        };
        async move { Ok(client.refund(req).await?.into_inner().transaction.unwrap()) }
    };
    let part = refund(1000, "booking:1").await.unwrap();
    assert_eq!(part.status, TransactionStatus::PartiallyRefunded as i32);
    assert_eq!(part.refunded_cents, 1000);
    assert_eq!(
        refund(1000, "booking:1").await.unwrap(),
        part,
        "once per key"
    );
    assert_eq!(
        code(refund(999, "booking:1").await),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(refund(1501, "booking:2").await),
        Code::FailedPrecondition
    );
    let rest = refund(0, "").await.unwrap();
    assert_eq!(rest.status, TransactionStatus::Refunded as i32);
    assert_eq!(rest.refunded_cents, 2500);
    assert_eq!(svc.list().await, vec![rest]);
    svc.stop().await;
}

#[tokio::test]
async fn bad_refunds_are_refused_and_change_nothing() {
    let dir = TempDir::new().unwrap();
    let svc = Service::start(dir.path()).await;
    let tx = svc.charge("order-1", 2500, GOOD).await.unwrap();
    let refund = |amount: i64, key: &str| {
        let mut client = svc.client.clone();
        let req = RefundRequest {
            transaction_id: tx.transaction_id.clone(),
            amount_cents: amount,
            refund_key: key.into(),
        };
        async move { client.refund(req).await.map(drop) }
    };
    let too_long = "k".repeat(129);
    for (amount, key, what) in [
        (-1, "booking:1", "negative amount"),
        (2501, "booking:1", "more than the charge"),
        (100, "", "partial without a key"),
        (100, "booking 1", "a space in the key"),
        (100, "booking:1\n", "a control character in the key"),
        (100, "bïoking", "a non-ASCII key"),
        (100, too_long.as_str(), "a key of 129 characters"),
    ] {
        let err = refund(amount, key).await.expect_err(what);
        assert_eq!(err.code(), Code::InvalidArgument, "{what}: {err:?}");
    }
    assert_eq!(svc.list().await, vec![tx], "nothing was refunded");
    svc.stop().await;
}

#[tokio::test]
async fn a_void_is_final_and_survives_a_restart() {
    let dir = TempDir::new().unwrap();
    let svc = Service::start(dir.path()).await;
    let void = |key: &str| {
        let mut client = svc.client.clone();
        let req = VoidRequest {
            idempotency_key: key.into(),
        };
        async move { client.void(req).await.map(|r| r.into_inner().transaction) }
    };
    // A key with a charge: the void reports it and the charge stands.
    let tx = svc.charge("order-1", 2500, GOOD).await.unwrap();
    assert_eq!(void("order-1").await.unwrap(), Some(tx.clone()));
    assert_eq!(svc.charge("order-1", 2500, GOOD).await.unwrap(), tx);
    // A key without one: voided, and no charge can follow, even after a restart.
    assert_eq!(void("order-2").await.unwrap(), None);
    assert_eq!(
        void("order-2").await.unwrap(),
        None,
        "voiding twice is harmless"
    );
    let refused = svc.charge("order-2", 2500, GOOD).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("voided"), "{refused:?}");
    svc.stop().await;
    let svc = Service::start(dir.path()).await;
    assert_eq!(
        code(svc.charge("order-2", 2500, GOOD).await),
        Code::FailedPrecondition
    );
    assert_eq!(svc.list().await, vec![tx], "only the first charge exists");
    // An unknown order has no transaction, before and after a void.
    for key in ["order-2", "order-unknown"] {
        let req = GetTransactionRequest {
            transaction_id: String::new(),
            idempotency_key: key.into(),
        };
        assert_eq!(
            code(svc.client.clone().get_transaction(req).await),
            Code::NotFound
        );
    }
    let bad = VoidRequest {
        idempotency_key: "has space".into(),
    };
    assert_eq!(
        code(svc.client.clone().void(bad).await),
        Code::InvalidArgument
    );
    svc.stop().await;
}

#[tokio::test]
async fn the_ledger_survives_a_restart_and_stores_only_the_last_four_digits() {
    let dir = TempDir::new().unwrap();
    let svc = Service::start(dir.path()).await;
    let tx = svc.charge("order-1", 4200, GOOD).await.unwrap();
    // The charge is in the journal now (and emptied from it at the reopen).
    let journal = std::fs::read(dir.path().join("ledger.journal")).unwrap();
    assert!(
        journal.windows(7).any(|w| w == b"order-1"),
        "the charge is not in the journal"
    );
    no_card_number_on_disk(dir.path());
    svc.stop().await;
    let svc = Service::start(dir.path()).await;
    assert_eq!(svc.list().await, vec![tx.clone()]);
    assert_eq!(
        svc.charge("order-1", 4200, GOOD).await.unwrap(),
        tx,
        "no second charge after a restart"
    );
    svc.stop().await;
    no_card_number_on_disk(dir.path());
}

#[tokio::test]
async fn injected_faults_and_the_lost_reply_after_a_charge() {
    let dir = TempDir::new().unwrap();
    let svc = Service::start(dir.path()).await;
    svc.set_faults(Faults {
        down: true,
        ..Default::default()
    })
    .await;
    assert_eq!(
        code(svc.charge("order-1", 100, GOOD).await),
        Code::Unavailable
    );
    svc.set_faults(Faults {
        failure_rate: 1.0,
        ..Default::default()
    })
    .await;
    assert_eq!(
        code(svc.charge("order-1", 100, GOOD).await),
        Code::Unavailable
    );
    svc.set_faults(Faults::default()).await;
    assert!(svc.list().await.is_empty(), "failed calls charge nothing");

    // The nasty case: the charge is recorded, the reply is lost.
    svc.set_faults(Faults {
        timeout_after_charge_rate: 1.0,
        ..Default::default()
    })
    .await;
    assert_eq!(
        code(svc.charge("order-1", 100, GOOD).await),
        Code::DeadlineExceeded
    );
    svc.set_faults(Faults::default()).await;
    let retried = svc.charge("order-1", 100, GOOD).await.unwrap();
    assert_eq!(retried.status, TransactionStatus::Succeeded as i32);
    assert_eq!(svc.list().await.len(), 1, "exactly one charge");

    // The card that hangs: the caller gives up, nothing is recorded.
    let hung = tokio::time::timeout(
        Duration::from_secs(5),
        svc.charge("order-2", 100, "4000000000000119"),
    )
    .await;
    assert_eq!(code(hung.unwrap()), Code::DeadlineExceeded);
    assert_eq!(svc.list().await.len(), 1);

    let req = SetFaultsRequest {
        admin_token: "wrong token, long enough".into(),
        faults: Some(Faults::default()),
    };
    assert_eq!(
        code(svc.operator.clone().set_faults(req).await),
        Code::PermissionDenied
    );
    svc.stop().await;
}

#[tokio::test]
async fn the_legacy_port_answers_only_for_legacy_charges() {
    use boxoffice_proto::legacy::payment::payment_service_client::PaymentServiceClient as Legacy;
    use boxoffice_proto::legacy::payment::{PaymentRequest, QueryTransactionRequest};
    let dir = TempDir::new().unwrap();
    let service = Service::start(dir.path()).await;
    // A checkout's charge, made by a node; its id is on the buyer's booking.
    let checkout = service.charge("order-1", 4200, GOOD).await.unwrap();
    let mut legacy = Legacy::connect(format!("http://{}", service.legacy_addr))
        .await
        .unwrap();
    let query = |id: &str| QueryTransactionRequest {
        transaction_id: id.into(),
    };
    let answer = legacy
        .query_transaction(query(&checkout.transaction_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.status, "NOT_FOUND");
    assert_eq!((answer.amount_cents, answer.raw_response.as_str()), (0, ""));

    // The old clients' own charge is still found.
    let paid = legacy
        .process_payment(PaymentRequest {
            user_id: "old-client".into(),
            amount_cents: 500,
            currency: "EUR".into(),
            correlation_id: "old-1".into(),
            card_number: "1234".into(),
            ..PaymentRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(paid.success, "{}", paid.message);
    let found = legacy
        .query_transaction(query(&paid.transaction_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (found.status.as_str(), found.amount_cents),
        ("SUCCEEDED", 500)
    );
    service.stop().await;
}

/// The messages of a batch's answer, as they arrived.
async fn charge_batch(
    client: &PaymentServiceClient<Channel>,
    charges: Vec<ChargeRequest>,
) -> Result<Vec<Vec<ChargeOutcome>>, tonic::Status> {
    let mut answers = client
        .clone()
        .charge_batch(ChargeBatchRequest { charges })
        .await?
        .into_inner();
    let mut messages = Vec::new();
    while let Some(answer) = answers.message().await? {
        messages.push(answer.outcomes);
    }
    Ok(messages)
}

/// A batch's outcomes in the request's order, checking that each charge
/// was answered exactly once.
fn in_order(messages: Vec<Vec<ChargeOutcome>>, count: usize) -> Vec<ChargeOutcome> {
    let mut outcomes: Vec<ChargeOutcome> = messages.into_iter().flatten().collect();
    outcomes.sort_by_key(|outcome| outcome.index);
    let indexes: Vec<u32> = outcomes.iter().map(|outcome| outcome.index).collect();
    assert_eq!(
        indexes,
        (0..count as u32).collect::<Vec<_>>(),
        "each charge answered once"
    );
    outcomes
}

/// A batch of charges is each charge on its own: its own key, outcome and
/// error, in order; a bad charge fails alone. Only booking nodes may send
/// one, and a batch must hold 1 to 64 charges.
#[tokio::test]
async fn a_batch_of_charges_answers_each_charge_as_if_alone() {
    let dir = TempDir::new().unwrap();
    let svc = Service::start(dir.path()).await;
    let earlier = svc.charge("order-0", 700, GOOD).await.unwrap();
    let answer = charge_batch(
        &svc.client,
        vec![
            charge_request("order-1", 5000, GOOD),
            charge_request("order-2", 5000, "4000000000009995"),
            charge_request("order-3", 5000, "1234"),
            charge_request("order-0", 700, GOOD),
            charge_request("order-0", 800, GOOD),
        ],
    )
    .await
    .unwrap();
    let outcomes = in_order(answer, 5);
    let paid = outcomes[0].transaction.as_ref().unwrap();
    assert_eq!(paid.status, TransactionStatus::Succeeded as i32);
    assert_eq!(paid.idempotency_key, "order-1");
    let declined = outcomes[1].transaction.as_ref().unwrap();
    assert_eq!(declined.decline_reason, "insufficient funds");
    assert!(outcomes[2].transaction.is_none());
    assert_eq!(outcomes[2].code, Code::InvalidArgument as i32);
    assert!(!outcomes[2].message.is_empty());
    assert_eq!(outcomes[3].transaction.as_ref(), Some(&earlier));
    assert_eq!(outcomes[4].code, Code::FailedPrecondition as i32);
    // Each is what a lone charge under its key now answers.
    assert_eq!(&svc.charge("order-1", 5000, GOOD).await.unwrap(), paid);
    assert_eq!(svc.list().await.len(), 3);

    let refused = |answer: Result<_, tonic::Status>| answer.unwrap_err().code();
    assert_eq!(
        refused(charge_batch(&svc.client, Vec::new()).await),
        Code::InvalidArgument
    );
    let too_many = (0..65)
        .map(|k| charge_request(&format!("many-{k}"), 100, GOOD))
        .collect();
    assert_eq!(
        refused(charge_batch(&svc.client, too_many).await),
        Code::InvalidArgument
    );
    assert_eq!(svc.list().await.len(), 3);
    // The operator's certificate moves no money, in a batch or alone.
    assert_eq!(
        refused(charge_batch(&svc.operator, vec![charge_request("order-9", 100, GOOD)]).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(
            svc.operator
                .clone()
                .charge(charge_request("order-9", 100, GOOD))
                .await
        ),
        Code::PermissionDenied
    );
    assert_eq!(svc.list().await.len(), 3);
    svc.stop().await;
}

/// A charge that does not answer (the test card that hangs) holds up no
/// other charge of its batch: they are answered first, as soon as they
/// have their outcomes, and the hanging one is answered DEADLINE_EXCEEDED
/// alone, long before it would answer by itself.
#[tokio::test]
async fn a_hanging_charge_does_not_hold_up_its_batch() {
    let dir = TempDir::new().unwrap();
    let svc = Service::start_hanging(dir.path(), 600_000).await;
    let charges = vec![
        charge_request("order-1", 5000, GOOD),
        charge_request("order-2", 5000, "4000000000000119"),
        charge_request("order-3", 5000, GOOD),
    ];
    // Ten minutes' hang: the batch must answer long before.
    let messages =
        tokio::time::timeout(Duration::from_secs(60), charge_batch(&svc.client, charges))
            .await
            .expect("the batch answered without waiting for the hanging charge")
            .unwrap();
    let last = messages.last().unwrap();
    assert_eq!(
        last.iter().map(|outcome| outcome.index).collect::<Vec<_>>(),
        [1],
        "the hanging charge is answered last and alone: {messages:?}"
    );
    let outcomes = in_order(messages, 3);
    for paid in [&outcomes[0], &outcomes[2]] {
        assert_eq!(
            paid.transaction.as_ref().unwrap().status,
            TransactionStatus::Succeeded as i32
        );
    }
    assert!(outcomes[1].transaction.is_none());
    assert_eq!(outcomes[1].code, Code::DeadlineExceeded as i32);
    assert_eq!(
        svc.list().await.len(),
        2,
        "the hanging charge recorded nothing"
    );
    svc.stop().await;
}

/// Neither of the ledger's files holds the test card's full number.
fn no_card_number_on_disk(dir: &Path) {
    let full = b"4242424242424242";
    for file in ["ledger.redb", "ledger.journal"] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        assert!(
            !bytes.windows(full.len()).any(|w| w == full),
            "the full card number reached the disk in {file}"
        );
    }
}
