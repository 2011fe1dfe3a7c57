//! A booking node's configuration: defaults, then a TOML file, then
//! `BOXOFFICE_*` environment variables (`BOXOFFICE_RAFT__HEARTBEAT_MS` for
//! nested keys), then [`NodeConfig::validate`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use boxoffice_raft::RaftSettings;
use boxoffice_raft::node::is_host_port;
use figment::providers::Env;
use serde::{Deserialize, Serialize};

pub use boxoffice_config::ConfigError;

use crate::crash::{CRASH_AT_VAR, CRASH_ONCE_DIR_VAR, UNSAFE_STALE_READS_VAR};

/// Default leader heartbeat period. openraft 0.9 also uses it as the
/// AppendEntries timeout, so it must exceed a follower's worst append
/// (fsync included) under load; 50 ms timed out on a busy 2-core machine.
pub const HEARTBEAT_MS: u64 = 100;
/// Default time a leader holds back a message that only moves a
/// follower's commit index, in case an entry follows to carry it
/// ([`boxoffice_raft::network::PeerClient`]).
pub const COMMIT_ONLY_DELAY_MS: u64 = 5;
/// Default lower bound of the election timeout.
pub const ELECTION_TIMEOUT_MIN_MS: u64 = 300;
/// Default upper bound of the election timeout.
pub const ELECTION_TIMEOUT_MAX_MS: u64 = 600;
/// Default snapshot interval, in log entries.
pub const SNAPSHOT_EVERY_ENTRIES: u64 = 10_000;
/// Default number of entries kept behind a snapshot.
pub const KEEP_ENTRIES_AFTER_SNAPSHOT: u64 = 1_000;

/// Keys accepted at the top level (environment variables outside this list
/// are ignored, so `BOXOFFICE_LOG` or similar never break a node).
const TOP_LEVEL_KEYS: [&str; 14] = [
    "id",
    "listen",
    "peer_listen",
    "peer_advertise",
    "certs_dir",
    "client_tls",
    "http_listen",
    "advertise",
    "data_dir",
    "initial_members",
    "raft",
    "auth",
    "booking",
    "payment",
];

/// Default cap on seats one customer may hold or book in one show.
pub const MAX_SEATS_PER_USER_PER_SHOW: u32 = 10;

/// One member of a new cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Node id.
    pub id: u64,
    /// Its peer address (mutual TLS), host:port.
    pub addr: String,
}

pub use boxoffice_tls::ClientTls;

/// Raft timing and compaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftTuning {
    /// Leader heartbeat period, ms.
    pub heartbeat_ms: u64,
    /// How long the leader holds back a message to a follower that only
    /// moves its commit index, in case an entry follows to carry it, ms;
    /// 0 sends each at once. Below `heartbeat_ms`, and `heartbeat_ms` plus
    /// this below `election_timeout_min_ms`.
    pub commit_only_delay_ms: u64,
    /// Election timeout lower bound, ms.
    pub election_timeout_min_ms: u64,
    /// Election timeout upper bound, ms.
    pub election_timeout_max_ms: u64,
    /// Snapshot and compact the log every this many entries.
    pub snapshot_every_entries: u64,
    /// Entries kept behind a snapshot for lagging followers.
    pub keep_entries_after_snapshot: u64,
    /// Peers to dial at another address than the one they advertise: each
    /// link through its own proxy in fault-injection runs. Empty normally.
    pub dial: Vec<Member>,
    /// The format version of the commands this node writes to the log (1
    /// to [`boxoffice_core::format::NEWEST`]; see
    /// [`boxoffice_core::format`]). The node writes it once every member
    /// says it reads it, and the newest version they all read until then
    /// ([`crate::formats`]).
    pub write_format: u8,
}

impl Default for RaftTuning {
    fn default() -> Self {
        Self {
            heartbeat_ms: HEARTBEAT_MS,
            commit_only_delay_ms: COMMIT_ONLY_DELAY_MS,
            election_timeout_min_ms: ELECTION_TIMEOUT_MIN_MS,
            election_timeout_max_ms: ELECTION_TIMEOUT_MAX_MS,
            snapshot_every_entries: SNAPSHOT_EVERY_ENTRIES,
            keep_entries_after_snapshot: KEEP_ENTRIES_AFTER_SNAPSHOT,
            dial: Vec::new(),
            write_format: boxoffice_core::format::UNTAGGED,
        }
    }
}

/// How the node verifies session tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Directory with the auth service's public keys (`<kid>.pub.pem`).
    /// Every key there verifies; add the new one before rotating.
    pub keys_dir: PathBuf,
    /// Token issuer (`iss`) to accept.
    pub issuer: String,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            keys_dir: PathBuf::from("./data/keys"),
            issuer: boxoffice_auth::token::ISSUER.into(),
        }
    }
}

/// Booking rules the edge applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BookingSettings {
    /// Most seats one customer may hold or book in one show (0: no cap).
    pub max_seats_per_user_per_show: u32,
    /// Most seats one customer may hold at once over all shows (0: no cap).
    pub max_held_seats_per_user: u32,
    /// Most seats the customers of one network (an IPv4 /24, an IPv6 /64)
    /// may have in one show (0: no cap). The network is the connection's,
    /// or, for calls the gateway makes on its peer-port connection (its
    /// certificate proves it), the browser's address it forwards.
    pub max_seats_per_network_per_show: u32,
    /// Most seats one payment card may pay for in one show (0: no cap).
    /// Counted by the card's fingerprint (see
    /// `payment.card_fingerprint_key`), from the moment the checkout is
    /// about to charge it.
    pub max_seats_per_card_per_show: u32,
    /// Most holds one customer may start in an hour (0: no limit).
    pub max_holds_per_user_per_hour: u32,
    /// After a customer's hold lapsed unpaid, how long before they may hold
    /// those seats again, ms (0: at once; at most an hour).
    pub hold_cooldown_ms: i64,
    /// Most `WatchShow` streams this node serves at once (at least 1);
    /// more are refused with RESOURCE_EXHAUSTED. A gateway opens one per
    /// show its pages watch.
    pub max_watch_streams: u32,
    /// Most `WatchShow` streams one client address (an IPv6 /64) may keep
    /// open at once on this node (at least 1; above `max_watch_streams` it
    /// changes nothing). Gateways (proved by their certificate on the peer
    /// port) draw on a pool of `max_watch_streams` of their own instead,
    /// one stream per show their pages watch.
    pub max_watch_streams_per_client: u32,
    /// How long a `WatchShow` update may wait for a client that stopped
    /// reading before its stream is dropped, ms (100 to 600000).
    pub watch_send_timeout_ms: u64,
    /// Writes (holds, bookings, cancellations, show changes) one account
    /// may send this node per second; more are RESOURCE_EXHAUSTED with a
    /// `retry-after-ms`. 0: no limit. Administrators are never paced.
    pub writes_per_user_per_second: u32,
    /// How many writes one account may send at once before the rate
    /// applies (at least the rate; 0 means equal to it).
    pub write_burst_per_user: u32,
    /// Most `GetWaitingRoom` calls that wait (`wait_ms`) this node holds
    /// at once (1 to 1,000,000); one account holds at most
    /// [`ROOM_WAITS_PER_USER`]. More are RESOURCE_EXHAUSTED.
    pub max_room_waits: u32,
    /// The proof of work a join of a waiting room needs: leading zero bits
    /// of SHA-256 over the buyer's challenge and a nonce (0: none; at most
    /// 30). Each bit doubles the work: 16 is some 65,000 hashes, a moment
    /// for one browser, minutes of a core for ten thousand accounts.
    pub join_pow_bits: u32,
    /// Joins of waiting rooms one network (an IPv4 /24, an IPv6 /64) may
    /// make a minute through this node: the network a gateway proves it
    /// forwards for, else the caller's own. Counted when a join took a
    /// place, in windows of a minute; more are RESOURCE_EXHAUSTED with
    /// the wait. 0: no limit. Each node counts its own, so a script that
    /// spreads its joins over the nodes gets at most this many times the
    /// number of nodes.
    pub joins_per_network_per_minute: u32,
    /// How long a waiting list's offer (a hold made for the first buyer a
    /// freed seat fits) lasts before it goes to the next, ms (1 minute to
    /// 30 minutes).
    pub waitlist_offer_ms: i64,
    /// The key of the waiting rooms' admission tokens (64 hex digits;
    /// every node of a cluster must have the same): a buyer a room lets
    /// in gets a token under HMAC-SHA-256 of this key, and while a room
    /// guards its performance a customer's hold or booking without a live
    /// token of theirs for it is refused before anything is proposed.
    /// Unset: no tokens (the state machine's check of the admission still
    /// refuses anyone not let in; the node warns at start). `boxoffice up`
    /// draws one for its cluster.
    pub admission_key: Option<SecretKey>,
}

impl BookingSettings {
    /// The anti-hoarding limits every customer hold carries.
    pub fn hold_limits(&self) -> boxoffice_core::HoldLimits {
        boxoffice_core::HoldLimits {
            max_held_seats: self.max_held_seats_per_user,
            max_holds_per_hour: self.max_holds_per_user_per_hour,
            cooldown_ms: self.hold_cooldown_ms,
            max_seats_per_network: self.max_seats_per_network_per_show,
            // Each call's own, set where it is received.
            network: None,
            max_seats_per_card: self.max_seats_per_card_per_show,
            card: None,
        }
    }

    /// No per-customer caps at all: for load generators and fault runs
    /// whose few accounts book thousands of seats.
    pub fn without_customer_caps(self) -> Self {
        Self {
            max_seats_per_user_per_show: 0,
            max_held_seats_per_user: 0,
            max_seats_per_network_per_show: 0,
            max_seats_per_card_per_show: 0,
            max_holds_per_user_per_hour: 0,
            hold_cooldown_ms: 0,
            writes_per_user_per_second: 0,
            ..self
        }
    }
}

impl Default for BookingSettings {
    fn default() -> Self {
        Self {
            max_seats_per_user_per_show: MAX_SEATS_PER_USER_PER_SHOW,
            max_held_seats_per_user: boxoffice_core::DEFAULT_MAX_HELD_SEATS,
            max_seats_per_network_per_show: boxoffice_core::DEFAULT_MAX_SEATS_PER_NETWORK,
            max_seats_per_card_per_show: boxoffice_core::DEFAULT_MAX_SEATS_PER_CARD,
            max_holds_per_user_per_hour: boxoffice_core::DEFAULT_MAX_HOLDS_PER_HOUR,
            hold_cooldown_ms: boxoffice_core::DEFAULT_HOLD_COOLDOWN_MS,
            max_watch_streams: MAX_WATCH_STREAMS,
            max_watch_streams_per_client: MAX_WATCH_STREAMS_PER_CLIENT,
            watch_send_timeout_ms: WATCH_SEND_TIMEOUT_MS,
            writes_per_user_per_second: WRITES_PER_USER_PER_SECOND,
            write_burst_per_user: WRITE_BURST_PER_USER,
            max_room_waits: MAX_ROOM_WAITS,
            waitlist_offer_ms: WAITLIST_OFFER_MS,
            join_pow_bits: JOIN_POW_BITS,
            joins_per_network_per_minute: JOINS_PER_NETWORK_PER_MINUTE,
            admission_key: None,
        }
    }
}

/// Default pace of one account's writes to one node, per second: far
/// above what a person at a checkout sends, far below a script's flood.
pub const WRITES_PER_USER_PER_SECOND: u32 = 10;
/// Default burst of one account's writes to one node.
pub const WRITE_BURST_PER_USER: u32 = 20;

/// Default cap on the waiting `GetWaitingRoom` calls one node holds: a
/// sleeping call costs a few kilobytes.
pub const MAX_ROOM_WAITS: u32 = 100_000;
/// Default joins of waiting rooms a network may make a minute through one
/// node: a campus or an office behind one /24 joining for hundreds of
/// people, not a script's thousands of accounts.
pub const JOINS_PER_NETWORK_PER_MINUTE: u32 = 120;
/// Default proof of work of a join: 16 bits, some 65,000 hashes.
pub const JOIN_POW_BITS: u32 = 16;
/// Default length of a waiting list's offer: ten minutes to pay.
pub const WAITLIST_OFFER_MS: i64 = 10 * 60 * 1000;
/// Waiting `GetWaitingRoom` calls one account may have on one node.
pub const ROOM_WAITS_PER_USER: u32 = 2;

/// Default cap on the `WatchShow` streams one node serves.
pub const MAX_WATCH_STREAMS: u32 = 256;
/// Default cap on the `WatchShow` streams of one client address.
pub const MAX_WATCH_STREAMS_PER_CLIENT: u32 = 32;
/// Default wait for a `WatchShow` client that stopped reading, ms.
pub const WATCH_SEND_TIMEOUT_MS: u64 = 10_000;
/// Highest `booking.max_watch_streams` accepted.
pub const MAX_WATCH_STREAMS_LIMIT: u32 = 100_000;

/// The checkout: where the payment service is and how long holds last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentSettings {
    /// The payment service's peer port, `https://host:port` (mutual TLS:
    /// this node shows its certificate). Unset: this cluster takes
    /// no payments and bookings are confirmed at once. Every node of a
    /// cluster should agree.
    pub endpoint: Option<String>,
    /// ISO 4217 currency of show prices.
    pub currency: String,
    /// How long a two-step hold (`HoldSeats`) waits for its payment, ms.
    pub hold_ms: i64,
    /// How long a one-call checkout (`BookSeats` with a card) holds its
    /// seats, ms: the time to charge, plus room for a new leader to settle
    /// an order its predecessor left unfinished.
    pub checkout_hold_ms: i64,
    /// How long one checkout keeps retrying a charge whose outcome is
    /// unknown before answering UNAVAILABLE, ms.
    pub charge_timeout_ms: u64,
    /// Deadline of one call to the payment service, ms.
    pub call_timeout_ms: u64,
    /// Period of the leader's checkout coordinator, ms.
    pub sweep_interval_ms: u64,
    /// A hold whose payment is still pending after this long is asked
    /// about at the payment service by the leader (its checkout may have
    /// died), ms.
    pub resume_after_ms: i64,
    /// Whether a follower hands each one-call checkout (`BookSeats` with
    /// payments on) to the leader whole, in one relayed call, instead of
    /// forwarding its hold and its confirmation separately. Off: every
    /// node runs its own clients' checkouts.
    pub relay_checkouts: bool,
    /// The key of the cards' fingerprints (64 hex digits; every node of a
    /// cluster must have the same): the cap per card counts a card by
    /// HMAC-SHA-256 of its number under this key, so nobody who reads the
    /// log or a snapshot can test card numbers against it. Unset: the
    /// cap per card is off (the node warns at start). `boxoffice up`
    /// draws one for its cluster.
    pub card_fingerprint_key: Option<SecretKey>,
}

/// A key the nodes of a cluster share (the cards' fingerprints', the
/// admission tokens'), as 64 hex digits; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretKey(pub String);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// The key in `path`, made (32 random bytes, readable by its owner
    /// only, written whole) unless the file exists: one key for every node
    /// of a local cluster, the same across restarts. Of processes creating
    /// it at once, one key wins and all of them use it. An existing file
    /// others may read is refused: the key would no longer be secret.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        for _ in 0..3 {
            if let Some(key) = Self::load(path)? {
                return Ok(key);
            }
            let mut bytes = [0u8; 32];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            if boxoffice_config::create_file(path, hex.as_bytes(), true)? {
                return Ok(Self(hex));
            }
            // Another process made it first: use theirs.
        }
        // It exists yet cannot be read (a link to nothing, say).
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} exists but cannot be read as a key: remove it for a new one",
                path.display()
            ),
        ))
    }

    /// The key in `path`, `None` when there is no such file.
    fn load(path: &Path) -> std::io::Result<Option<Self>> {
        use std::os::unix::fs::PermissionsExt as _;
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let mode = std::fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        format!(
                            "{} may be read by others (mode {:o}): chmod 600 it, or remove it \
                             for a new key",
                            path.display(),
                            mode & 0o777
                        ),
                    ));
                }
                let key = Self(text.trim().to_owned());
                match key.bytes() {
                    Some(_) => Ok(Some(key)),
                    None => Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} does not hold 64 hex digits", path.display()),
                    )),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The key's 32 bytes, if it is 64 hex digits.
    pub fn bytes(&self) -> Option<[u8; 32]> {
        let hex = self.0.as_bytes();
        if hex.len() != 64 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, pair) in hex.chunks(2).enumerate() {
            let digits = std::str::from_utf8(pair).ok()?;
            key[i] = u8::from_str_radix(digits, 16).ok()?;
        }
        Some(key)
    }
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self {
            endpoint: None,
            currency: "EUR".into(),
            hold_ms: 10 * 60 * 1000,
            checkout_hold_ms: 2 * 60 * 1000,
            charge_timeout_ms: 10_000,
            call_timeout_ms: 3_000,
            sweep_interval_ms: 200,
            resume_after_ms: 15_000,
            relay_checkouts: true,
            card_fingerprint_key: None,
        }
    }
}

impl PaymentSettings {
    /// Checks every value, naming the first that is wrong.
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |problem: String| Err(ConfigError::invalid("node", problem));
        if let Some(endpoint) = &self.endpoint {
            let ok = endpoint
                .parse::<tonic::transport::Uri>()
                .is_ok_and(|uri| uri.scheme_str() == Some("https") && uri.host().is_some());
            if !ok {
                return invalid(format!(
                    "payment.endpoint = {endpoint:?} is not an https://host:port URL (the payment service's peer port, mutual TLS)"
                ));
            }
        }
        if self
            .card_fingerprint_key
            .as_ref()
            .is_some_and(|key| key.bytes().is_none())
        {
            return invalid(
                "payment.card_fingerprint_key must be 64 hex digits (32 bytes)".to_owned(),
            );
        }
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return invalid(format!(
                "payment.currency = {:?} is not a three-letter ISO 4217 code such as EUR",
                self.currency
            ));
        }
        let max = boxoffice_core::MAX_HOLD_TTL_MS;
        for (name, ms) in [
            ("hold_ms", self.hold_ms),
            ("checkout_hold_ms", self.checkout_hold_ms),
        ] {
            if !(1..=max).contains(&ms) {
                return invalid(format!(
                    "payment.{name} must be between 1 and {max}, not {ms}"
                ));
            }
        }
        for (name, ms) in [
            ("charge_timeout_ms", self.charge_timeout_ms),
            ("call_timeout_ms", self.call_timeout_ms),
            ("sweep_interval_ms", self.sweep_interval_ms),
        ] {
            if ms == 0 {
                return invalid(format!("payment.{name} must be at least 1"));
            }
        }
        if self.resume_after_ms < 1 {
            return invalid("payment.resume_after_ms must be at least 1".into());
        }
        Ok(())
    }
}

/// Everything a booking node needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// This node's id, unique in the cluster, not 0.
    pub id: u64,
    /// Address to listen on (gRPC).
    pub listen: String,
    /// Address of the plain-HTTP endpoint for `/metrics` (Prometheus),
    /// `/healthz` and `/readyz`, ip:port; unset: not served.
    pub http_listen: Option<String>,
    /// Address clients use to reach this node; `listen` if unset.
    pub advertise: Option<String>,
    /// Address of the peer listener (Raft, forwarding, the account API;
    /// mutual TLS only).
    pub peer_listen: String,
    /// Address other nodes and the auth service reach the peer listener
    /// at, as the membership records it; `peer_listen` if unset.
    pub peer_advertise: Option<String>,
    /// Directory with the cluster CA (`ca.pem`) and this node's
    /// certificate and key (`node-<id>.pem`, `node-<id>.key`), made by
    /// `boxoffice certs`.
    pub certs_dir: PathBuf,
    /// TLS for clients on `listen` (certificate and key, PEM); unset:
    /// plaintext, for loopback only.
    pub client_tls: Option<ClientTls>,
    /// Directory for the Raft log and snapshots.
    pub data_dir: PathBuf,
    /// Members of a new cluster, this node included; empty to join an
    /// existing cluster through `boxoffice cluster add-node`.
    pub initial_members: Vec<Member>,
    /// Raft timing and compaction.
    pub raft: RaftTuning,
    /// Token verification.
    pub auth: AuthSettings,
    /// Booking rules.
    pub booking: BookingSettings,
    /// The checkout.
    pub payment: PaymentSettings,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            id: 1,
            listen: "127.0.0.1:50051".into(),
            http_listen: None,
            advertise: None,
            peer_listen: "127.0.0.1:50071".into(),
            peer_advertise: None,
            certs_dir: PathBuf::from("./data/certs"),
            client_tls: None,
            data_dir: PathBuf::from("./data/node1"),
            initial_members: Vec::new(),
            raft: RaftTuning::default(),
            auth: AuthSettings::default(),
            booking: BookingSettings::default(),
            payment: PaymentSettings::default(),
        }
    }
}

impl NodeConfig {
    /// Defaults, then `path` (if given), then `BOXOFFICE_*` variables, validated.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let env = Env::prefixed("BOXOFFICE_")
            .split("__")
            .filter(|k| is_known_key(&k.as_str().to_ascii_lowercase()));
        boxoffice_config::load_validated(path, env, Self::validate)
    }

    /// The address others reach this node at.
    pub fn advertised(&self) -> &str {
        self.advertise.as_deref().unwrap_or(&self.listen)
    }

    /// The peer address the membership records for this node.
    pub fn peer_advertised(&self) -> &str {
        self.peer_advertise.as_deref().unwrap_or(&self.peer_listen)
    }

    /// Where this node's certificate, key and the CA are.
    pub fn tls_files(&self) -> boxoffice_tls::TlsFiles {
        boxoffice_tls::TlsFiles::in_dir(&self.certs_dir, boxoffice_tls::Identity::Node(self.id))
    }

    /// Checks every value, naming the first that is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::invalid("node", m));
        if self.id == 0 {
            return bad("id must be at least 1".into());
        }
        let invalid = |m: String| ConfigError::invalid("node", m);
        boxoffice_config::check_listen_addr("listen", &self.listen).map_err(invalid)?;
        boxoffice_config::check_listen_addr("peer_listen", &self.peer_listen).map_err(invalid)?;
        if self.peer_listen == self.listen {
            return bad(format!(
                "peer_listen = {:?} is also the client listen address; give it its own port",
                self.peer_listen
            ));
        }
        if let Some(http) = &self.http_listen {
            boxoffice_config::check_listen_addr("http_listen", http).map_err(invalid)?;
            if *http == self.listen || *http == self.peer_listen {
                return bad(format!(
                    "http_listen = {http:?} is also a gRPC listen address; give it its own port"
                ));
            }
        }
        if !is_host_port(self.peer_advertised()) {
            return bad(format!(
                "peer_advertise = {:?} is not a host:port address",
                self.peer_advertised()
            ));
        }
        if self.certs_dir.as_os_str().is_empty() {
            return bad("certs_dir must not be empty".into());
        }
        let cooldown = self.booking.hold_cooldown_ms;
        if !(0..=boxoffice_core::MAX_HOLD_COOLDOWN_MS).contains(&cooldown) {
            return bad(format!(
                "booking.hold_cooldown_ms must be between 0 and {}, not {cooldown}",
                boxoffice_core::MAX_HOLD_COOLDOWN_MS
            ));
        }
        if !(1..=MAX_WATCH_STREAMS_LIMIT).contains(&self.booking.max_watch_streams) {
            return bad(format!(
                "booking.max_watch_streams must be between 1 and {MAX_WATCH_STREAMS_LIMIT}, not {}",
                self.booking.max_watch_streams
            ));
        }
        if !(1..=MAX_WATCH_STREAMS_LIMIT).contains(&self.booking.max_watch_streams_per_client) {
            return bad(format!(
                "booking.max_watch_streams_per_client must be between 1 and {MAX_WATCH_STREAMS_LIMIT}, not {}",
                self.booking.max_watch_streams_per_client
            ));
        }
        if !(1..=1_000_000).contains(&self.booking.max_room_waits) {
            return bad(format!(
                "booking.max_room_waits must be between 1 and 1000000, not {}",
                self.booking.max_room_waits
            ));
        }
        if self
            .booking
            .admission_key
            .as_ref()
            .is_some_and(|key| key.bytes().is_none())
        {
            return bad("booking.admission_key must be 64 hex digits (32 bytes)".into());
        }
        if self.booking.join_pow_bits > boxoffice_core::pow::MAX_JOIN_BITS {
            return bad(format!(
                "booking.join_pow_bits must be at most {}, not {}",
                boxoffice_core::pow::MAX_JOIN_BITS,
                self.booking.join_pow_bits
            ));
        }
        let offer = self.booking.waitlist_offer_ms;
        if !(boxoffice_core::MIN_OFFER_MS..=boxoffice_core::MAX_OFFER_MS).contains(&offer) {
            return bad(format!(
                "booking.waitlist_offer_ms must be between {} and {}, not {offer}",
                boxoffice_core::MIN_OFFER_MS,
                boxoffice_core::MAX_OFFER_MS
            ));
        }
        let (rate, burst) = (
            self.booking.writes_per_user_per_second,
            self.booking.write_burst_per_user,
        );
        if rate > 100_000 || (burst != 0 && (burst < rate || burst > 1_000_000)) {
            return bad(format!(
                "booking.writes_per_user_per_second ({rate}) must be at most 100000 and \
                 booking.write_burst_per_user ({burst}) 0 or between the rate and 1000000"
            ));
        }
        if !(100..=600_000).contains(&self.booking.watch_send_timeout_ms) {
            return bad(format!(
                "booking.watch_send_timeout_ms must be between 100 and 600000, not {}",
                self.booking.watch_send_timeout_ms
            ));
        }
        if !is_host_port(self.advertised()) {
            return bad(format!(
                "advertise = {:?} is not a host:port address",
                self.advertised()
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return bad("data_dir must not be empty".into());
        }
        if self.auth.keys_dir.as_os_str().is_empty() {
            return bad("auth.keys_dir must not be empty".into());
        }
        if self.auth.issuer.is_empty() {
            return bad("auth.issuer must not be empty".into());
        }
        self.payment.validate()?;
        let r = &self.raft;
        if r.heartbeat_ms == 0 {
            return bad("raft.heartbeat_ms must be at least 1".into());
        }
        if r.election_timeout_min_ms <= r.heartbeat_ms {
            return bad(format!(
                "raft.election_timeout_min_ms ({}) must exceed raft.heartbeat_ms ({})",
                r.election_timeout_min_ms, r.heartbeat_ms
            ));
        }
        if r.commit_only_delay_ms >= r.heartbeat_ms {
            return bad(format!(
                "raft.commit_only_delay_ms ({}) must stay below raft.heartbeat_ms ({}): \
                 followers would hear from the leader less often than every heartbeat",
                r.commit_only_delay_ms, r.heartbeat_ms
            ));
        }
        if r.heartbeat_ms + r.commit_only_delay_ms >= r.election_timeout_min_ms {
            return bad(format!(
                "raft.heartbeat_ms ({}) plus raft.commit_only_delay_ms ({}) must stay below \
                 raft.election_timeout_min_ms ({}): a follower could wait that long to hear \
                 from the leader and call an election",
                r.heartbeat_ms, r.commit_only_delay_ms, r.election_timeout_min_ms
            ));
        }
        if r.election_timeout_max_ms <= r.election_timeout_min_ms {
            return bad(format!(
                "raft.election_timeout_max_ms ({}) must exceed raft.election_timeout_min_ms ({})",
                r.election_timeout_max_ms, r.election_timeout_min_ms
            ));
        }
        if r.snapshot_every_entries == 0 {
            return bad("raft.snapshot_every_entries must be at least 1".into());
        }
        let formats = boxoffice_core::format::UNTAGGED..=boxoffice_core::format::NEWEST;
        if !formats.contains(&r.write_format) {
            return bad(format!(
                "raft.write_format ({}) must be one this build writes, {} to {}",
                r.write_format,
                formats.start(),
                formats.end()
            ));
        }
        let mut dialled = BTreeSet::new();
        for m in &r.dial {
            if m.id == 0 || m.id == self.id || !dialled.insert(m.id) {
                return bad(format!(
                    "raft.dial: node {} must be another node, listed once",
                    m.id
                ));
            }
            if !is_host_port(&m.addr) {
                return bad(format!(
                    "raft.dial: address {:?} of node {} is not host:port",
                    m.addr, m.id
                ));
            }
        }
        if !self.initial_members.is_empty() {
            let mut ids = BTreeSet::new();
            for m in &self.initial_members {
                if m.id == 0 {
                    return bad("initial_members: id must be at least 1".into());
                }
                if !ids.insert(m.id) {
                    return bad(format!("initial_members: id {} appears twice", m.id));
                }
                if !is_host_port(&m.addr) {
                    return bad(format!(
                        "initial_members: address {:?} of node {} is not host:port",
                        m.addr, m.id
                    ));
                }
            }
            match self.initial_members.iter().find(|m| m.id == self.id) {
                None => {
                    return bad(format!(
                        "initial_members must include this node (id {})",
                        self.id
                    ));
                }
                Some(me) if me.addr != self.peer_advertised() => {
                    return bad(format!(
                        "initial_members gives node {} the peer address {}, but it advertises {}",
                        self.id,
                        me.addr,
                        self.peer_advertised()
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The Raft settings this configuration describes.
    pub fn raft_settings(&self, tls: boxoffice_tls::Tls) -> RaftSettings {
        RaftSettings {
            id: self.id,
            addr: self.peer_advertised().to_owned(),
            tls,
            data_dir: self.data_dir.clone(),
            heartbeat_ms: self.raft.heartbeat_ms,
            commit_only_delay_ms: self.raft.commit_only_delay_ms,
            election_timeout_min_ms: self.raft.election_timeout_min_ms,
            election_timeout_max_ms: self.raft.election_timeout_max_ms,
            snapshot_every_entries: self.raft.snapshot_every_entries,
            keep_entries_after_snapshot: self.raft.keep_entries_after_snapshot,
            initial_members: self
                .initial_members
                .iter()
                .map(|m| (m.id, m.addr.clone()))
                .collect(),
            dial: self
                .raft
                .dial
                .iter()
                .map(|m| (m.id, m.addr.clone()))
                .collect(),
        }
    }
}

/// `BOXOFFICE_*` variables that are not settings of a node.
const CLIENT_ENV_VARS: [&str; 9] = [
    "BOXOFFICE_ENDPOINTS",
    "BOXOFFICE_AUTH_ENDPOINT",
    "BOXOFFICE_CHATBOT_ENDPOINT",
    "BOXOFFICE_TOKEN",
    "BOXOFFICE_PASSWORD",
    "BOXOFFICE_CONFIG_DIR",
    CRASH_AT_VAR,
    CRASH_ONCE_DIR_VAR,
    UNSAFE_STALE_READS_VAR,
];

/// `BOXOFFICE_*` variables that [`NodeConfig::load`] ignores because they
/// name no setting (a typo such as `BOXOFFICE_DATADIR`), for a warning.
pub fn ignored_env_vars() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| !CLIENT_ENV_VARS.contains(&k.as_str()))
        .filter(|k| {
            k.strip_prefix("BOXOFFICE_")
                .is_some_and(|rest| !is_known_key(&rest.to_ascii_lowercase()))
        })
        .collect()
}

/// Whether an environment key (prefix stripped, before or after `__`
/// became `.`) belongs to the config.
fn is_known_key(key: &str) -> bool {
    TOP_LEVEL_KEYS.iter().any(|top| {
        key.strip_prefix(top)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with("__"))
    })
}

#[cfg(test)]
mod tests;
