//! An in-process single-node cluster with its auth service, for API tests.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::path::PathBuf;
use std::time::Duration;

use boxoffice_auth::config::{AdminCredentials, AuthConfig, LoginThrottle};
use boxoffice_auth::policy::PasswordPolicy;
use boxoffice_client::Client;
use boxoffice_client::proto::payment_service_client::PaymentServiceClient;
use boxoffice_client::proto::{self as v1, Faults, SetFaultsRequest};
use boxoffice_node::NodeConfig;
use boxoffice_node::config::{Member, PaymentSettings};
use boxoffice_payment::config::PaymentConfig;
use boxoffice_payment::service::Listeners as PaymentListeners;
use boxoffice_tls::Identity;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;

/// Every identity of the cluster's CA, each with a certificate in the
/// harness's `certs` directory.
pub const ALL_IDENTITIES: [Identity; 7] = [
    Identity::Node(1),
    Identity::Node(2),
    Identity::Auth,
    Identity::Payment,
    Identity::Gateway,
    Identity::Operator,
    Identity::Chatbot,
];

/// Every identity of [`ALL_IDENTITIES`] but `allowed`: the certificates a
/// door must refuse.
pub fn all_but(allowed: &[Identity]) -> impl Iterator<Item = Identity> {
    ALL_IDENTITIES
        .into_iter()
        .filter(move |identity| !allowed.contains(identity))
}

/// The certificate of `identity` in `certs`.
pub fn tls_of(certs: &std::path::Path, identity: Identity) -> boxoffice_tls::Tls {
    boxoffice_tls::TlsFiles::in_dir(certs, identity)
        .load()
        .unwrap()
}

/// A start time far in the future, so shows never start during a test.
pub const FAR_FUTURE_MS: i64 = 4_000_000_000_000;

/// The services a server's reflection lists.
pub async fn reflected_services(channel: tonic::transport::Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies
        .message()
        .await
        .unwrap()
        .expect("a reflection reply");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("unexpected reflection reply {reply:?}");
    };
    list.service.into_iter().map(|s| s.name).collect()
}

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "a long operator passphrase";
/// Password of every user made by [`Node::user`].
pub const PASSWORD: &str = "correct horse battery staple";

/// The admin token of the test payment service.
pub const PAYMENT_ADMIN_TOKEN: &str = "payment test admin token";
/// The test card that pays.
pub const GOOD_CARD: &str = "4242 4242 4242 4242";
/// The test card declined for insufficient funds.
pub const DECLINED_CARD: &str = "4000 0000 0000 9995";
/// The test card reported stolen.
pub const STOLEN_CARD: &str = "4000 0000 0000 9979";

/// The admission key of every test node.
pub static TEST_ADMISSION_KEY: std::sync::LazyLock<boxoffice_node::config::SecretKey> =
    std::sync::LazyLock::new(|| boxoffice_node::config::SecretKey("a7".repeat(32)));

/// The key of the cards' fingerprints in these tests.
pub static TEST_CARD_KEY: std::sync::LazyLock<boxoffice_node::config::SecretKey> =
    std::sync::LazyLock::new(|| boxoffice_node::config::SecretKey("5a".repeat(32)));

/// A card with this number and a valid expiry and CVC.
pub fn card(number: &str) -> v1::Card {
    v1::Card {
        number: number.into(),
        exp_month: 12,
        exp_year: 2099,
        cvc: "123".into(),
    }
}

/// The payment service, in process, restartable on the same address.
pub struct PaymentProcess {
    /// The old clients' API.
    pub addr: String,
    /// The v1 API (mutual TLS).
    pub peer_addr: String,
    /// The cluster's certificates.
    certs: PathBuf,
    dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl PaymentProcess {
    async fn start(dir: PathBuf, certs: PathBuf, listeners: PaymentListeners) -> Self {
        let addr = listeners.legacy.local_addr().unwrap().to_string();
        let peer_addr = listeners.peer.local_addr().unwrap().to_string();
        let config = PaymentConfig {
            listen: addr.clone(),
            peer_listen: peer_addr.clone(),
            certs_dir: certs.clone(),
            data_dir: dir.clone(),
            admin_token: Some(PAYMENT_ADMIN_TOKEN.into()),
            hang_ms: 1_000,
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
        Self {
            addr,
            peer_addr,
            certs,
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the service (its ledger stays on disk).
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// Starts it again on the same address and ledger.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listeners = PaymentListeners {
            legacy: TcpListener::bind(&self.addr).await.unwrap(),
            peer: TcpListener::bind(&self.peer_addr).await.unwrap(),
        };
        *self = Self::start(self.dir.clone(), self.certs.clone(), listeners).await;
    }

    /// The v1 API as the operator (fault injection, the ledger).
    pub fn client(&self) -> PaymentServiceClient<tonic::transport::Channel> {
        self.client_as(Identity::Operator)
    }

    /// The v1 API with `identity`'s certificate.
    pub fn client_as(&self, identity: Identity) -> PaymentServiceClient<tonic::transport::Channel> {
        let channel = tls_of(&self.certs, identity)
            .endpoint(&self.peer_addr, &Identity::Payment.dns_name())
            .unwrap()
            .connect_lazy();
        PaymentServiceClient::new(channel)
    }

    pub async fn set_faults(&self, faults: Faults) {
        let request = SetFaultsRequest {
            admin_token: PAYMENT_ADMIN_TOKEN.into(),
            faults: Some(faults),
        };
        self.client().set_faults(request).await.unwrap();
    }

    /// Every transaction of `users`.
    pub async fn ledger(&self, users: &[String]) -> Vec<v1::Transaction> {
        let mut all = Vec::new();
        for user in users {
            let request = v1::ListTransactionsRequest {
                user_id: user.clone(),
            };
            let reply = self.client().list_transactions(request).await.unwrap();
            all.extend(reply.into_inner().transactions);
        }
        all
    }
}

/// A single-node cluster and an auth service, in process, and with
/// [`Node::with_payments`] a payment service.
pub struct Node {
    pub addr: String,
    /// The peer listener (mutual TLS).
    pub peer_addr: String,
    /// The cluster's certificates (every identity has one).
    pub certs: PathBuf,
    /// The node's plain-HTTP endpoint (`/metrics`, `/healthz`, `/readyz`).
    pub http_addr: String,
    pub auth_addr: String,
    pub keys: PathBuf,
    pub payment: Option<PaymentProcess>,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: TempDir,
}

impl Node {
    /// A node that takes no payments.
    pub async fn start() -> Self {
        Self::start_with(None, |_| {}).await
    }

    /// A node that takes no payments, its configuration changed by `tune`.
    pub async fn start_tuned(tune: impl FnOnce(&mut NodeConfig)) -> Self {
        Self::start_with(None, tune).await
    }

    /// A node wired to a payment service, with its checkout settings
    /// changed by `tune`.
    pub async fn with_payments(tune: impl FnOnce(&mut PaymentSettings)) -> Self {
        let mut settings = PaymentSettings {
            sweep_interval_ms: 50,
            ..PaymentSettings::default()
        };
        tune(&mut settings);
        Self::start_with(Some(settings), |_| {}).await
    }

    /// [`Node::with_payments`] with the node's config tuned as well.
    pub async fn with_payments_tuned(
        tune_payments: impl FnOnce(&mut PaymentSettings),
        tune: impl FnOnce(&mut NodeConfig),
    ) -> Self {
        let mut settings = PaymentSettings {
            sweep_interval_ms: 50,
            ..PaymentSettings::default()
        };
        tune_payments(&mut settings);
        Self::start_with(Some(settings), tune).await
    }

    async fn start_with(
        payments: Option<PaymentSettings>,
        tune: impl FnOnce(&mut NodeConfig),
    ) -> Self {
        let dir = TempDir::new().unwrap();
        let keys = dir.path().join("keys");
        boxoffice_auth::keys::generate(&keys).unwrap();
        let certs = dir.path().join("certs");
        boxoffice_tls::ensure(&certs, &ALL_IDENTITIES, &["127.0.0.1".into()]).unwrap();
        let mut payment = None;
        let mut payment_settings = PaymentSettings::default();
        if let Some(mut settings) = payments {
            let listeners = PaymentListeners {
                // Spare addresses, not ephemeral ones: the service is
                // restarted on them, after the nodes' outgoing connections
                // have had a chance to take an ephemeral port.
                legacy: TcpListener::bind(spare()).await.unwrap(),
                peer: TcpListener::bind(spare()).await.unwrap(),
            };
            let started =
                PaymentProcess::start(dir.path().join("payment"), certs.clone(), listeners).await;
            settings.endpoint = Some(format!("https://{}", started.peer_addr));
            settings.card_fingerprint_key = Some(TEST_CARD_KEY.clone());
            payment_settings = settings;
            payment = Some(started);
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let peer_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer_addr = peer_listener.local_addr().unwrap().to_string();
        let mut config = NodeConfig {
            id: 1,
            listen: addr.clone(),
            peer_listen: peer_addr.clone(),
            certs_dir: certs.clone(),
            data_dir: dir.path().join("node"),
            initial_members: vec![Member {
                id: 1,
                addr: peer_addr.clone(),
            }],
            ..NodeConfig::default()
        };
        config.auth.keys_dir = keys.clone();
        // Tests hold and re-hold as few accounts; the anti-hoarding limits
        // have their own tests.
        config.booking = config.booking.without_customer_caps();
        config.booking.max_seats_per_user_per_show = 6;
        config.booking.admission_key = Some(TEST_ADMISSION_KEY.clone());
        config.payment = payment_settings;
        let http_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_addr = http_listener.local_addr().unwrap().to_string();
        config.http_listen = Some(http_addr.clone());
        tune(&mut config);
        config.validate().unwrap();
        let listeners = boxoffice_node::Listeners {
            grpc: listener,
            peer: peer_listener,
            http: Some(http_listener),
        };
        let (stop_node, node_stopped) = oneshot::channel();
        let node_task = tokio::spawn(async move {
            boxoffice_node::run(config, listeners, async {
                let _ = node_stopped.await;
            })
            .await
            .unwrap();
        });

        let auth_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let auth_addr = auth_listener.local_addr().unwrap().to_string();
        let auth_config = AuthConfig {
            listen: auth_addr.clone(),
            nodes: vec![peer_addr.clone()],
            certs_dir: certs.clone(),
            keys_dir: keys.clone(),
            password_policy: PasswordPolicy::Strict,
            bootstrap_admin: Some(AdminCredentials {
                email: ADMIN_EMAIL.into(),
                password: ADMIN_PASSWORD.into(),
            }),
            login_throttle: LoginThrottle {
                free_failures: 2,
                max_failures: 4,
                window_secs: 600,
            },
            ..AuthConfig::default()
        };
        auth_config.validate().unwrap();
        let (stop_auth, auth_stopped) = oneshot::channel();
        let auth_task = tokio::spawn(async move {
            boxoffice_auth::service::run(auth_config, auth_listener, async {
                let _ = auth_stopped.await;
            })
            .await
            .unwrap();
        });
        let node = Self {
            addr,
            peer_addr,
            certs,
            http_addr,
            auth_addr,
            keys,
            payment,
            stops: vec![stop_auth, stop_node],
            tasks: vec![auth_task, node_task],
            _dir: dir,
        };
        // Ready once the bootstrapped administrator can log in (which needs
        // a leader and a linearizable read).
        let auth = node.auth();
        for _ in 0..400 {
            if auth.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.is_ok() {
                return node;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("single-node cluster or auth service did not come up");
    }

    /// A client of the auth service.
    pub fn auth(&self) -> Client {
        Client::new(&[self.auth_addr.as_str()]).unwrap()
    }

    /// A booking client without a session.
    pub fn anonymous(&self) -> Client {
        Client::new(&[self.addr.as_str()]).unwrap()
    }

    /// A booking client logged in as `name` (registered on first use).
    pub async fn user(&self, name: &str) -> Client {
        let email = format!("{name}@example.com");
        if let Err(e) = self.auth().register(&email, PASSWORD).await {
            assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
        }
        let session = self.auth().login(&email, PASSWORD).await.unwrap();
        self.anonymous().with_token(session.access_token)
    }

    /// [`Node::user`] for an owned name (for futures that outlive a borrow).
    pub async fn user_owned(&self, name: String) -> Client {
        self.user(&name).await
    }

    /// A client logged in as `name` (registered on first use), with its user id.
    pub async fn buyer(&self, name: &str) -> Buyer {
        let email = format!("{name}@example.com");
        let client = self.user(name).await;
        let session = self.auth().login(&email, PASSWORD).await.unwrap();
        let id = self
            .auth()
            .with_token(session.access_token)
            .who_am_i()
            .await
            .unwrap()
            .user_id;
        Buyer { client, id }
    }

    /// A booking client logged in as the administrator.
    pub async fn admin(&self) -> Client {
        let session = self
            .auth()
            .login(ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .unwrap();
        self.anonymous().with_token(session.access_token)
    }

    /// The payment service (for a node made by [`Node::with_payments`]).
    pub fn payment(&self) -> &PaymentProcess {
        self.payment
            .as_ref()
            .expect("this node has a payment service")
    }

    /// GETs `path` from the node's HTTP endpoint: its status and body.
    pub async fn http_get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("http://{}{path}", self.http_addr))
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// The node's `/metrics`.
    pub async fn metrics(&self) -> String {
        let (status, body) = self.http_get("/metrics").await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn stop(mut self) {
        if let Some(payment) = &mut self.payment {
            payment.stop().await;
        }
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for task in self.tasks.drain(..) {
            task.await.unwrap();
        }
    }
}

/// A logged-in client and the id of its user.
pub struct Buyer {
    pub client: Client,
    pub id: String,
}

impl std::ops::Deref for Buyer {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Polls `check` every 20 ms until it returns `Ok`, for up to `limit`;
/// panics with its last error after that.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(problem) if tokio::time::Instant::now() >= deadline => {
                panic!("not within {limit:?}: {problem}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Asserts `result` failed with `code` and a message mentioning `needle`.
pub fn expect_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, needle: &str) {
    let status = result.expect_err("expected an error");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(needle),
        "{:?} should mention {needle:?}",
        status.message()
    );
}

/// A loopback address outside the ephemeral range.
fn spare() -> std::net::SocketAddr {
    boxoffice_config::spare_loopback_addr().expect("a spare loopback port")
}
