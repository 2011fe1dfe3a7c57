//! A real multi-process cluster for tests, on the shared launcher
//! (`boxoffice_launch`): every node is a `boxoffice node` OS process with
//! its own free port and temp directory, so `kill -9` is a real crash.
//! Logs go to `node<id>.log` in the cluster's directory and are printed
//! when a test fails. The auth service runs inside the test process (it is
//! stateless) with a signing key made for the cluster; users are
//! registered and logged in through it, so every call carries a real token.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Mutex;

use boxoffice_auth::policy::PasswordPolicy;
use boxoffice_launch::{Extra, InProcess, Layout, Processes};
use std::time::{Duration, Instant};

use boxoffice_client::Client;
use boxoffice_client::proto::payment_service_client::PaymentServiceClient;
use boxoffice_client::proto::{GetStatusResponse, NodeStatus};
use boxoffice_client::proto::{ListTransactionsRequest, Transaction};
use boxoffice_node::config::{Member, PaymentSettings, RaftTuning};
use boxoffice_tls::Identity;
use tempfile::TempDir;

/// The administrator the test auth service bootstraps; `token("admin")` logs in as it.
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "an operator passphrase";
/// The administrator of a development cluster ([`Cluster::start_development`]),
/// as `boxoffice up` creates it and the old clients log in.
pub const DEV_ADMIN: (&str, &str) = (
    boxoffice_launch::DEV_ADMIN_EMAIL,
    boxoffice_launch::DEV_ADMIN_PASSWORD,
);
/// Every other test user's password.
const PASSWORD: &str = "correct horse battery staple";

/// A start time far in the future, so shows never start during a test.
pub const FAR_FUTURE_MS: i64 = 4_000_000_000_000;

pub struct Cluster {
    pub dir: TempDir,
    /// Each node's client address.
    pub addrs: BTreeMap<u64, String>,
    /// Each node's peer address (mutual TLS), as the membership has it.
    pub peer_addrs: BTreeMap<u64, String>,
    /// Each node's HTTP endpoint (`/metrics`), chosen at its first start.
    http_addrs: Mutex<BTreeMap<u64, String>>,
    initial: Vec<Member>,
    /// Where the files live.
    layout: Layout,
    /// Running processes, `node<id>` and `payment` (killed or stopped ones
    /// are removed).
    processes: Processes,
    tuning: RaftTuning,
    /// The auth service's address (in this process).
    pub auth_addr: String,
    auth: Option<InProcess>,
    /// Access tokens by user name, once logged in.
    tokens: Mutex<HashMap<String, String>>,
    /// The checkout settings of the nodes; with an endpoint when the
    /// cluster has a payment service ([`Cluster::start_paid`]).
    payment: PaymentSettings,
    /// The payment service's address (the old clients' API), if any.
    pub payment_addr: Option<String>,
    /// The payment service's v1 API for nodes (mutual TLS), if any.
    pub payment_peer_addr: Option<String>,
    /// Whether this is a development cluster (relaxed passwords, the
    /// development administrator).
    development: bool,
    /// Crash points (`BOXOFFICE_CRASH_AT`) given to nodes spawned from now on.
    pub crash_at: Mutex<Option<String>>,
    /// A change to every node's configuration from the next (re)start on.
    pub tune_nodes: Mutex<Option<fn(&mut boxoffice_node::config::NodeConfig)>>,
    /// Environment variables of node `id` from its next (re)start on.
    pub node_env: Mutex<BTreeMap<u64, Vec<(String, String)>>>,
}

/// The test card that pays (the mock provider approves it).
#[allow(dead_code)] // not every test binary pays
pub fn good_card() -> boxoffice_client::proto::Card {
    boxoffice_client::proto::Card {
        number: "4242424242424242".into(),
        exp_month: 12,
        exp_year: 2099,
        cvc: "123".into(),
    }
}

/// Logs `email` in at the auth service `auth`, registering the account
/// first when `register` (the administrator exists already); retries while
/// the cluster settles. The session's access token.
pub async fn log_in(auth: &Client, email: &str, password: &str, register: bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if register && let Err(e) = auth.register(email, password).await {
            assert!(
                matches!(
                    e.code(),
                    tonic::Code::AlreadyExists | tonic::Code::Unavailable
                ),
                "registering {email}: {e:?}"
            );
        }
        match auth.login(email, password).await {
            Ok(session) => return session.access_token,
            Err(e) if Instant::now() < deadline => {
                // The administrator appears once the bootstrap has run.
                assert_ne!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot log in as {email}: {e:?}"),
        }
    }
}

/// Books the seats of `seats` one at a time with `client` until told to
/// stop; every booking must succeed (a retried request applied twice
/// would fail as "already booked"). Counts successes in `progress`;
/// returns the bookings acknowledged.
#[allow(dead_code)] // not every test binary has steady bookers
pub fn steady_booker(
    client: Client,
    user: String,
    show: &'static str,
    seats: std::ops::Range<u32>,
    progress: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Vec<boxoffice_client::proto::Booking>> {
    tokio::spawn(async move {
        let mut booked = Vec::new();
        let mut seat = seats.start;
        while !*stop.borrow_and_update() {
            assert!(seats.contains(&seat), "{user} ran out of seats");
            let booking = client
                .book(show, &[seat])
                .await
                .unwrap_or_else(|e| panic!("{user}: booking seat {seat} failed: {e:?}"));
            booked.push(booking);
            progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            seat += 1;
        }
        booked
    })
}

/// Prints the last 40 lines of each process's log `<dir>/<name>.log`
/// (for a failing test's output).
pub fn print_log_tails(dir: &std::path::Path, names: impl IntoIterator<Item = String>) {
    for name in names {
        let path = dir.join(format!("{name}.log"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("----- {name}: last lines of {} -----", path.display());
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        }
    }
}

/// Waits until `counter` reaches `target`.
#[allow(dead_code)] // not every test binary counts
pub async fn wait_count(counter: &std::sync::atomic::AtomicUsize, target: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while counter.load(std::sync::atomic::Ordering::Relaxed) < target {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Makes the cluster CA under `<dir>/certs` unless it exists, and the
/// certificates of `identities` that are missing.
pub fn ensure_certificates(dir: &std::path::Path, identities: &[Identity]) {
    Layout::new(dir)
        .ensure_certificates(identities, &["127.0.0.1".into()])
        .expect("certificates");
}

/// A loopback address for a process to listen on, found free now (see
/// [`boxoffice_launch::free_addr`]).
fn free_addr() -> String {
    boxoffice_launch::free_addr()
        .expect("a spare loopback port")
        .to_string()
}

/// A node's process name.
fn name(id: u64) -> String {
    format!("node{id}")
}

impl Cluster {
    /// Starts nodes 1..=n as a new cluster and waits for a leader.
    pub async fn start(n: u64, tuning: RaftTuning) -> Self {
        Self::start_with(n, tuning, None, None, PasswordPolicy::Strict).await
    }

    /// A 3-node paid cluster set up like `boxoffice up`'s development one
    /// (relaxed password policy), for the old system's clients.
    pub async fn start_development() -> Self {
        let payment = PaymentSettings::default();
        Self::start_with(
            3,
            RaftTuning::default(),
            Some(payment),
            None,
            PasswordPolicy::Development,
        )
        .await
    }

    /// [`Cluster::start`] with a payment service process and nodes that
    /// take payments with `payment` (its endpoint is filled in), and
    /// `crash_at` as the nodes' crash points.
    pub async fn start_paid(
        n: u64,
        tuning: RaftTuning,
        payment: PaymentSettings,
        crash_at: Option<&str>,
    ) -> Self {
        Self::start_with(n, tuning, Some(payment), crash_at, PasswordPolicy::Strict).await
    }

    async fn start_with(
        n: u64,
        tuning: RaftTuning,
        payment: Option<PaymentSettings>,
        crash_at: Option<&str>,
        password_policy: PasswordPolicy,
    ) -> Self {
        let addrs: BTreeMap<u64, String> = (1..=n).map(|id| (id, free_addr())).collect();
        let peer_addrs: BTreeMap<u64, String> = (1..=n).map(|id| (id, free_addr())).collect();
        let initial = peer_addrs
            .iter()
            .map(|(id, addr)| Member {
                id: *id,
                addr: addr.clone(),
            })
            .collect();
        let dir = TempDir::new().expect("temp dir");
        let layout = Layout::new(dir.path());
        layout.ensure_keys().expect("signing key");
        ensure_certificates(
            dir.path(),
            &[
                Identity::Auth,
                Identity::Payment,
                Identity::Operator,
                Identity::Gateway,
            ],
        );
        let auth_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind auth");
        let auth_addr = auth_listener.local_addr().expect("auth addr").to_string();
        let admin = match password_policy {
            PasswordPolicy::Development => DEV_ADMIN,
            PasswordPolicy::Strict => (ADMIN_EMAIL, ADMIN_PASSWORD),
        };
        let auth_config = layout.auth(
            auth_addr.clone(),
            peer_addrs.values().cloned().collect(),
            password_policy,
            admin,
        );
        let auth = InProcess::spawn("auth service", |stopped| {
            boxoffice_auth::service::run(auth_config, auth_listener, stopped)
        });
        let processes = Processes::new(env!("CARGO_BIN_EXE_boxoffice"), dir.path())
            .env("RUST_LOG", "info,openraft=warn")
            .env("NO_COLOR", "1");
        let payment_addr = payment.as_ref().map(|_| free_addr());
        let payment_peer_addr = payment.as_ref().map(|_| free_addr());
        let mut payment = payment.unwrap_or_default();
        payment.endpoint = payment_peer_addr
            .as_ref()
            .map(|addr| format!("https://{addr}"));
        payment.card_fingerprint_key = Some(boxoffice_node::config::SecretKey("5a".repeat(32)));
        let cluster = Self {
            dir,
            addrs,
            peer_addrs,
            http_addrs: Mutex::default(),
            initial,
            layout,
            processes,
            tuning,
            auth_addr,
            auth: Some(auth),
            tokens: Mutex::default(),
            payment,
            payment_addr,
            payment_peer_addr,
            crash_at: Mutex::new(crash_at.map(str::to_owned)),
            tune_nodes: Mutex::new(None),
            node_env: Mutex::default(),
            development: matches!(password_policy, PasswordPolicy::Development),
        };
        if cluster.payment_addr.is_some() {
            cluster.spawn_payment();
            cluster.wait_payment().await;
        }
        for id in 1..=n {
            cluster.spawn(id);
        }
        cluster.leader().await;
        cluster
    }

    /// Node `id`'s `/metrics` (Prometheus text).
    pub async fn metrics(&self, id: u64) -> String {
        let addr = self.http_addrs.lock().unwrap().get(&id).cloned();
        let addr = addr.unwrap_or_else(|| panic!("node {id} was never started"));
        let response = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("the node's HTTP endpoint answers");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        response.text().await.expect("a body")
    }

    /// Allocates addresses for a node that will join later; returns its
    /// peer address (the one `add_node` takes).
    pub fn reserve(&mut self, id: u64) -> String {
        self.addrs.insert(id, free_addr());
        let peer = free_addr();
        self.peer_addrs.insert(id, peer.clone());
        peer
    }

    /// The operator's certificate, for the internal APIs.
    pub fn operator(&self) -> boxoffice_tls::Tls {
        boxoffice_tls::TlsFiles::in_dir(&self.dir.path().join("certs"), Identity::Operator)
            .load()
            .expect("operator certificate")
    }

    /// Starts (or restarts) node `id` from its data directory. Initial
    /// members form the cluster; others wait to be added.
    pub fn spawn(&self, id: u64) {
        let addr = self.addrs[&id].clone();
        let initial_members = if self.initial.iter().any(|m| m.id == id) {
            self.initial.clone()
        } else {
            vec![]
        };
        let http_listen = self
            .http_addrs
            .lock()
            .unwrap()
            .entry(id)
            .or_insert_with(free_addr)
            .clone();
        ensure_certificates(self.dir.path(), &[Identity::Node(id)]);
        let mut config = self
            .layout
            .node(id, addr, self.peer_addrs[&id].clone(), initial_members);
        config.http_listen = Some(http_listen);
        config.raft = self.tuning.clone();
        // Steady bookers book thousands of seats each.
        config.booking = config.booking.without_customer_caps();
        // Thousands of test buyers join waiting rooms with a debug build:
        // a proof of work of 256 hashes, not 65,536.
        config.booking.join_pow_bits = 8;
        config.booking.admission_key = Some(boxoffice_node::config::SecretKey("a7".repeat(32)));
        config.payment = self.payment.clone();
        if let Some(tune) = *self.tune_nodes.lock().unwrap() {
            tune(&mut config);
        }
        config.validate().expect("valid test config");
        // The config file is the whole truth for test nodes, but for the
        // crash points.
        let mut extra = Extra::default();
        if let Some(env) = self.node_env.lock().unwrap().get(&id) {
            extra.env.extend(env.iter().cloned());
        }
        if let Some(points) = self.crash_at.lock().unwrap().as_deref() {
            // "once:POINT" fires in the first process to reach it only.
            let points = match points.strip_prefix("once:") {
                Some(points) => {
                    let once = self.dir.path().join("crash-once");
                    std::fs::create_dir_all(&once).expect("crash-once dir");
                    extra.env.push((
                        "BOXOFFICE_CRASH_ONCE_DIR".into(),
                        once.display().to_string(),
                    ));
                    points
                }
                None => points,
            };
            extra.env.push(("BOXOFFICE_CRASH_AT".into(), points.into()));
        }
        self.processes
            .start_with(&name(id), "node", &config, &extra)
            .expect("spawn boxoffice node");
    }

    /// Starts (or restarts) the payment service process on its address and ledger.
    pub fn spawn_payment(&self) {
        let config = self.layout.payment(
            self.payment_addr.clone().expect("a paid cluster"),
            self.payment_peer_addr.clone().expect("a paid cluster"),
        );
        self.processes
            .start("payment", "payment", &config)
            .expect("spawn boxoffice payment");
    }

    /// `kill -9` of the payment service.
    pub fn kill_payment(&self) {
        self.processes.kill("payment");
    }

    /// The payment service's v1 API, as the operator.
    pub fn payment_client(&self) -> PaymentServiceClient<tonic::transport::Channel> {
        let addr = self.payment_peer_addr.as_ref().expect("a paid cluster");
        let channel = self
            .operator()
            .endpoint(addr, &Identity::Payment.dns_name())
            .expect("payment address")
            .connect_lazy();
        PaymentServiceClient::new(channel)
    }

    /// Waits until the payment service answers.
    pub async fn wait_payment(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.ledger(&[]).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "the payment service did not come up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every ledger transaction of `users` (an empty list checks the service answers).
    pub async fn ledger(&self, users: &[String]) -> Result<Vec<Transaction>, tonic::Status> {
        let mut client = self.payment_client();
        let mut all = Vec::new();
        for user in users
            .iter()
            .map(String::as_str)
            .chain(users.is_empty().then_some("nobody"))
        {
            let request = ListTransactionsRequest {
                user_id: user.to_owned(),
            };
            all.extend(
                client
                    .list_transactions(request)
                    .await?
                    .into_inner()
                    .transactions,
            );
        }
        Ok(all)
    }

    /// Waits until node `id` has exited on its own (a crash point), and
    /// forgets it.
    pub async fn wait_exit(&self, id: u64) {
        assert!(
            self.processes.pid(&name(id)).is_some(),
            "node {id} is not running"
        );
        let exited = self
            .processes
            .wait_exit(&name(id), Duration::from_secs(30))
            .await;
        assert!(exited.is_some(), "node {id} did not crash");
    }

    /// Keeps a "once:" crash point from firing (it fires in no process
    /// until [`Cluster::arm_once`]), or arms it again.
    #[allow(dead_code)] // not every test binary crashes nodes
    pub fn disarm_once(&self, point: &str, disarmed: bool) {
        let marker = self.dir.path().join("crash-once").join(point);
        if disarmed {
            std::fs::write(&marker, b"").expect("disarm the crash point");
        } else if let Err(e) = std::fs::remove_file(&marker) {
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "arm: {e}");
        }
    }

    /// `kill -9`.
    pub fn kill(&self, id: u64) {
        self.processes.kill(&name(id));
    }

    /// SIGTERM, and wait (bounded) for a clean exit.
    pub async fn stop(&self, id: u64) {
        match self
            .processes
            .terminate(&name(id), Duration::from_secs(30))
            .await
        {
            Ok(Some(status)) => assert!(
                status.success(),
                "node {id} exited with {status} after SIGTERM"
            ),
            Ok(None) => {}
            Err(e) => panic!("node {id}: {e}"),
        }
    }

    /// Ids of the running nodes, ascending.
    pub fn live(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .processes
            .names()
            .iter()
            .filter_map(|n| n.strip_prefix("node")?.parse().ok())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Panics if a node we did not kill or stop has exited (after letting
    /// go of the process table, so that the logs can still be printed).
    fn assert_alive(&self) {
        if let Some((name, status)) = self.processes.exited_of(|n| n.starts_with("node")) {
            panic!(
                "{} exited unexpectedly with {status}",
                name.replace("node", "node ")
            );
        }
    }

    /// A client of the auth service.
    pub fn auth(&self) -> Client {
        Client::new(&[self.auth_addr.as_str()]).expect("auth client")
    }

    /// An access token for `user` (`"admin"`: the administrator), registering
    /// them on first use. Retries while the cluster settles.
    pub async fn token(&self, user: &str) -> String {
        if let Some(token) = self.tokens.lock().unwrap().get(user) {
            return token.clone();
        }
        let (email, password) = if user == "admin" && self.development {
            (DEV_ADMIN.0.to_owned(), DEV_ADMIN.1)
        } else if user == "admin" {
            (ADMIN_EMAIL.to_owned(), ADMIN_PASSWORD)
        } else {
            (format!("{user}@example.com"), PASSWORD)
        };
        let token = log_in(&self.auth(), &email, password, user != "admin").await;
        self.tokens
            .lock()
            .unwrap()
            .insert(user.to_owned(), token.clone());
        token
    }

    fn client_for(addrs: &[&String], token: Option<&str>) -> Client {
        Client::new(addrs)
            .expect("client")
            .with_optional_token(token)
    }

    /// A client of every node, logged in as `user` (registered on first use).
    pub async fn client(&self, user: &str) -> Client {
        let token = self.token(user).await;
        let addrs: Vec<&String> = self.addrs.values().collect();
        Self::client_for(&addrs, Some(&token))
    }

    /// A client of node `id` only, logged in as `user`.
    pub async fn client_of(&self, id: u64, user: impl AsRef<str>) -> Client {
        let token = self.token(user.as_ref()).await;
        Self::client_for(&[&self.addrs[&id]], Some(&token))
    }

    /// A client of node `id` only, with no session (public reads).
    pub fn reader_of(&self, id: u64) -> Client {
        Self::client_for(&[&self.addrs[&id]], None)
    }

    /// A client of every node except `ids`, logged in as `user`.
    pub async fn client_without(&self, ids: &[u64], user: &str) -> Client {
        let token = self.token(user).await;
        let addrs: Vec<&String> = self
            .addrs
            .iter()
            .filter(|(id, _)| !ids.contains(id))
            .map(|(_, a)| a)
            .collect();
        Self::client_for(&addrs, Some(&token))
    }

    /// Polls the cluster status (from any live node) until `done` holds.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&GetStatusResponse) -> bool,
    ) -> GetStatusResponse {
        let deadline = Instant::now() + timeout;
        let live: Vec<&String> = self.live().into_iter().map(|id| &self.addrs[&id]).collect();
        let client = Client::new(&live).expect("client");
        let mut last = None;
        while Instant::now() < deadline {
            self.assert_alive();
            if let Ok(s) = client.status().await {
                if done(&s) {
                    return s;
                }
                last = Some(s);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out after {timeout:?} waiting for {what}; last status: {last:#?}");
    }

    /// Waits for a leader that every live node agrees on; returns its id.
    pub async fn leader(&self) -> u64 {
        let live = self.live();
        let s = self
            .wait_for("a leader", Duration::from_secs(30), |s| {
                s.leader_id != 0
                    && live.iter().all(|id| {
                        node(s, *id).is_some_and(|n| n.reachable && n.leader_id == s.leader_id)
                    })
            })
            .await;
        s.leader_id
    }

    /// Waits until every node in `ids` has applied the same index, at least
    /// `min_index`.
    pub async fn wait_converged(&self, ids: &[u64], min_index: u64) -> GetStatusResponse {
        self.wait_for("replicas to converge", Duration::from_secs(60), |s| {
            let applied: Vec<Option<u64>> = ids
                .iter()
                .map(|id| {
                    node(s, *id)
                        .filter(|n| n.reachable)
                        .map(|n| n.applied_index)
                })
                .collect();
            applied
                .iter()
                .all(|a| a.is_some_and(|a| a >= min_index && Some(a) == applied[0]))
        })
        .await
    }

    fn print_logs(&self) {
        let names = self.addrs.keys().map(|id| format!("node{id}"));
        print_log_tails(self.dir.path(), names.chain(["payment".to_owned()]));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.auth.take();
        self.processes.kill_all();
        if std::thread::panicking() {
            self.print_logs();
        }
    }
}

/// Node `id`'s entry in a status.
pub fn node(s: &GetStatusResponse, id: u64) -> Option<&NodeStatus> {
    s.nodes.iter().find(|n| n.node_id == id)
}

/// The booking assistant, in this process, reading from `cluster`.
pub struct Chatbot {
    pub addr: String,
    _service: InProcess,
}

impl Chatbot {
    pub async fn start(cluster: &Cluster) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind chatbot");
        let addr = listener.local_addr().expect("chatbot addr").to_string();
        let config = cluster
            .layout
            .chatbot(addr.clone(), cluster.addrs.values().cloned().collect());
        let service = InProcess::spawn("chatbot", |stopped| {
            boxoffice_chatbot::service::run(config, listener, stopped)
        });
        Self {
            addr,
            _service: service,
        }
    }

    /// A client of the assistant, as `token`'s holder (or anonymous).
    pub fn client(&self, token: Option<&str>) -> Client {
        Client::new(&[self.addr.as_str()])
            .expect("chatbot client")
            .with_optional_token(token)
    }
}

/// The HTTP gateway, in this process, in front of `cluster` and `chatbot`;
/// stops when dropped.
pub struct Gateway {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    _service: InProcess,
}

impl Gateway {
    pub async fn start(cluster: &Cluster, chatbot: &Chatbot) -> Self {
        Self::start_tuned(cluster, chatbot, |_| {}).await
    }

    /// As [`Gateway::start`], with `tune` applied to the configuration.
    pub async fn start_tuned(
        cluster: &Cluster,
        chatbot: &Chatbot,
        tune: impl FnOnce(&mut boxoffice_gateway::config::GatewayConfig),
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let addr = listener.local_addr().expect("gateway addr").to_string();
        let mut config = cluster.layout.gateway(
            addr.clone(),
            cluster.addrs.values().cloned().collect(),
            cluster.auth_addr.clone(),
            chatbot.addr.clone(),
        );
        // Holds go to the nodes' peer ports with the gateway's certificate.
        config.node_peers = cluster.peer_addrs.values().cloned().collect();
        tune(&mut config);
        let service = InProcess::spawn("gateway", |stopped| {
            boxoffice_gateway::run(config, listener, stopped)
        });
        Self {
            base: format!("http://{addr}"),
            _service: service,
        }
    }
}

/// Imports the example theatre (examples/venues) as `theatre`, creates
/// the production `hamlet` and adds its performance `show_id`, far in the
/// future, with one category over every place and two ticket types,
/// adult and concession, at these prices.
pub async fn hamlet_at_the_theatre(
    admin: &Client,
    show_id: &str,
    adult_cents: i64,
    concession_cents: i64,
) {
    use boxoffice_client::proto as v1;
    let theatre = boxoffice_view::venue_file::parse_venue(include_str!(
        "../../../../examples/venues/theatre.toml"
    ))
    .expect("the example theatre parses");
    admin
        .create_venue("theatre", boxoffice_proto::convert::venue(&theatre))
        .await
        .expect("import the theatre");
    admin
        .create_production("hamlet", "Hamlet", "", 180)
        .await
        .expect("create the production");
    let price = |ticket_type: &str, cents| v1::Price {
        category: "Standard".into(),
        ticket_type: ticket_type.into(),
        cents,
    };
    admin
        .add_performances(v1::AddPerformancesRequest {
            production_id: "hamlet".into(),
            venue_id: "theatre".into(),
            performances: vec![v1::NewPerformance {
                show_id: show_id.into(),
                starts_at_ms: FAR_FUTURE_MS,
            }],
            pricing: Some(v1::PricingSpec {
                categories: vec![v1::PriceCategory {
                    name: "Standard".into(),
                    rules: vec![v1::PlaceRule {
                        rule: Some(v1::place_rule::Rule::All(true)),
                    }],
                }],
                ticket_types: vec!["adult".into(), "concession".into()],
                prices: vec![
                    price("adult", adult_cents),
                    price("concession", concession_cents),
                ],
            }),
            ..Default::default()
        })
        .await
        .expect("add the performance");
}

impl Cluster {
    /// Writes the auth service's config to `auth.toml` in the cluster's
    /// directory, as `boxoffice up` does (the queue bench reads it to
    /// stand in for the auth service).
    pub fn write_auth_config(&self) {
        let policy = if self.development {
            PasswordPolicy::Development
        } else {
            PasswordPolicy::Strict
        };
        let admin = if self.development {
            DEV_ADMIN
        } else {
            (ADMIN_EMAIL, ADMIN_PASSWORD)
        };
        let config = self.layout.auth(
            self.auth_addr.clone(),
            self.peer_addrs.values().cloned().collect(),
            policy,
            admin,
        );
        let text = toml::to_string(&config).expect("auth config as TOML");
        std::fs::write(self.dir.path().join("auth.toml"), text).expect("write auth.toml");
    }

    /// The `boxoffice` command line, talking to nodes `ids` (all of them
    /// if empty) with its own config directory, and none of the caller's
    /// `BOXOFFICE_*` settings.
    pub fn cli(&self, ids: &[u64], config_dir: &std::path::Path) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_boxoffice"));
        let endpoints: Vec<&str> = self
            .addrs
            .iter()
            .filter(|(id, _)| ids.is_empty() || ids.contains(id))
            .map(|(_, addr)| addr.as_str())
            .collect();
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("BOXOFFICE_") {
                command.env_remove(key);
            }
        }
        command
            .env("BOXOFFICE_ENDPOINTS", endpoints.join(","))
            .env("BOXOFFICE_AUTH_ENDPOINT", &self.auth_addr)
            .env("BOXOFFICE_CONFIG_DIR", config_dir)
            .env("NO_COLOR", "1")
            .env("TERM", "xterm");
        command
    }
}

/// Puts `show` behind a waiting room opening at `opens_at_ms`, letting in
/// `admit_per_s` a second and at most `max_active` at once (0: no cap);
/// an admission lasts ten minutes.
#[allow(dead_code)] // Not every test binary has a room.
pub async fn set_room(
    admin: &Client,
    show: &str,
    opens_at_ms: i64,
    admit_per_s: u32,
    max_active: u32,
) {
    admin
        .set_waiting_room(
            show,
            Some(boxoffice_client::proto::RoomRules {
                opens_at_ms,
                admit_per_s,
                max_active,
                admission_ms: 600_000,
            }),
        )
        .await
        .expect("set the waiting room");
}
