//! The failover engine: which node a call tries, in what order, for how
//! long, and which failures send it on to the next node.
//!
//! # Where a call goes
//! A cluster is a list of endpoints (`Nodes`). Every node can answer
//! every call (a follower forwards writes to its leader and serves
//! linearizable reads through a read index), so the engine never looks for
//! the leader: it only has to find a node that answers (and takes one
//! hint, below, that saves writes a hop). A `Route::Sticky` call (writes, and the auth service's calls)
//! starts with the node that answered last and makes whichever node answers
//! the one the next sticky call starts with, so a healthy cluster sees one
//! connection per client. A `Route::Spread` call (reads) starts at the next
//! node in turn, so that reads spread over the cluster, and leaves the
//! sticky node as it is unless that node is the one that failed.
//!
//! A node's answer to a checkout call says when the leader is another
//! node (`x-boxoffice-leader-elsewhere`): the write went there through the
//! node. Sticky calls then start at the next endpoint, so a client settles
//! on the leader after at most one such answer per other node and its
//! writes skip the hop (measured in docs/benchmarks.md). The hint only
//! moves where the next call starts, among the configured endpoints, and
//! is ignored from an answer that came after another node failed in the
//! same call: a client that cannot reach the leader stays on the follower
//! that answers instead of trying the leader again on every write.
//!
//! # What is retried, and why that is safe
//! An attempt that fails because the node could not be reached or did not
//! answer (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, or tonic's UNKNOWN for a
//! broken transport, see `retriable`) moves on to the next node,
//! round-robin. Such a failure says nothing about whether the node applied
//! the request: the reply may have been lost after the write committed.
//! Retrying is safe anyway because every write carries a request id chosen
//! by the client *before* the first attempt and kept on every retry (the
//! caller builds the message once; the engine clones it per attempt): the
//! state machine remembers the outcome of each request id and answers a
//! repeat with the first outcome instead of applying it again, so a write is
//! applied exactly once however many nodes it was sent to. Paying a held
//! booking is keyed by the booking itself, reads change nothing, and the
//! auth service puts its own request id on every account change it sends
//! to the cluster (through this same engine).
//!
//! Every other status is an answer, not a failure of the node: domain
//! errors (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...) are decided
//! by the replicated state machine and would be the same on any node, and
//! UNAUTHENTICATED or PERMISSION_DENIED would be too; they are returned at
//! once.
//!
//! # Timeouts
//! A call gives up after [`MAX_ATTEMPTS`] attempts or when its deadline
//! ([`DEFAULT_DEADLINE`] unless the client says otherwise) has passed, with
//! an error that names the nodes it tried. One attempt waits at most
//! [`ATTEMPT_TIMEOUT`], and less when several nodes of the round are still
//! untried, so that a node which accepts connections but never answers
//! cannot eat the whole deadline. After a round in which no node answered,
//! the engine pauses [`ROUND_BACKOFF`] (a leader election takes about that
//! long).

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

/// Attempts per call before giving up.
pub const MAX_ATTEMPTS: usize = 12;
/// Pause after a round in which no node answered.
pub const ROUND_BACKOFF: Duration = Duration::from_millis(200);
/// Deadline of one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// The least time one attempt gets (unless less is left of the deadline).
const MIN_ATTEMPT: Duration = Duration::from_millis(500);
/// Deadline of a whole call, all attempts included, unless set otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
/// How long opening a connection to one node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A bad endpoint list.
#[derive(Debug)]
pub struct EndpointError(pub String);

impl std::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EndpointError {}

/// Whether a failed attempt should be retried on another node: the node
/// was unreachable or silent, so another one may answer (see the module
/// documentation for why a retry never applies a write twice).
pub(crate) fn retriable(status: &Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled)
        // tonic reports a broken connection as UNKNOWN with a transport error.
        || (status.code() == Code::Unknown && status.message().contains("transport"))
        // and a call cut by the node's going away (a node stopping
        // gracefully sends GOAWAY: a rolling upgrade) as INTERNAL with h2's
        // error.
        || (status.code() == Code::Internal && status.message().starts_with("h2 protocol error"))
}

/// Which node a call tries first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// The node that answered last; the node that answers becomes it.
    Sticky,
    /// The next node of the read rotation; the sticky node stays.
    Spread,
}

/// The nodes of one cluster and where calls go first. A clone shares the
/// connections, the sticky node and the read rotation.
#[derive(Clone)]
pub(crate) struct Nodes {
    /// Every node: its address as given, and a lazy connection to it.
    endpoints: Vec<(String, Channel)>,
    /// The node sticky calls go to first: the last one that answered.
    current: Arc<AtomicUsize>,
    /// Turns of the read rotation.
    reads: Arc<AtomicUsize>,
    /// When each node last failed a call, in ms after `since` plus one (0:
    /// never): a leader hint never moves writes onto a node that failed
    /// within [`HINT_SKIPS_FAILED`].
    failed_at: Arc<Vec<AtomicU64>>,
    /// The origin of `failed_at`.
    since: Instant,
}

/// How long a node that failed a call is passed over by the leader hint.
pub const HINT_SKIPS_FAILED: Duration = Duration::from_secs(10);

/// The last node a client's call had to leave, and the one that answered
/// instead, until the client asks ([`crate::Client::take_failover`]).
#[derive(Debug, Default)]
pub(crate) struct FailoverLog(Mutex<Option<(String, String)>>);

impl FailoverLog {
    /// The failover recorded since the last time this was asked, if any.
    pub(crate) fn take(&self) -> Option<(String, String)> {
        self.0.lock().map(|mut f| f.take()).unwrap_or(None)
    }

    /// Records that `failed` stopped answering and `answered` took over.
    fn record(&self, failed: &str, answered: &str) {
        if let Ok(mut last) = self.0.lock() {
            *last = Some((failed.to_owned(), answered.to_owned()));
        }
    }
}

impl Nodes {
    /// Lazy connections to the nodes at `addrs` (`host:port`, or a URL),
    /// over TLS with `tls` when given.
    pub(crate) fn connect_lazy<S: AsRef<str>>(
        addrs: &[S],
        tls: Option<ClientTlsConfig>,
    ) -> Result<Self, EndpointError> {
        if addrs.is_empty() {
            return Err(EndpointError("no endpoints given".into()));
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        let endpoints = addrs
            .iter()
            .map(|a| {
                let a = a.as_ref().trim();
                let url = if a.contains("://") {
                    a.to_owned()
                } else {
                    format!("{scheme}://{a}")
                };
                let mut endpoint = Endpoint::from_shared(url)
                    .map_err(|e| EndpointError(format!("bad endpoint {a:?}: {e}")))?;
                if let Some(tls) = &tls {
                    endpoint = endpoint
                        .tls_config(tls.clone())
                        .map_err(|e| EndpointError(format!("TLS for {a:?}: {e}")))?;
                }
                let channel = endpoint
                    .connect_timeout(CONNECT_TIMEOUT)
                    .tcp_nodelay(true)
                    .connect_lazy();
                Ok((a.to_owned(), channel))
            })
            .collect::<Result<Vec<_>, EndpointError>>()?;
        let failed_at = endpoints.iter().map(|_| AtomicU64::new(0)).collect();
        Ok(Self {
            endpoints,
            current: Arc::new(AtomicUsize::new(0)),
            reads: Arc::new(AtomicUsize::new(0)),
            failed_at: Arc::new(failed_at),
            since: Instant::now(),
        })
    }

    /// The address of the node sticky calls go to first.
    pub(crate) fn current(&self) -> &str {
        &self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()].0
    }

    /// Runs `f` against one node after another, starting where `route`
    /// says, until one answers, [`MAX_ATTEMPTS`] attempts have failed or
    /// `deadline` has passed. A failover that ends in an answer goes to
    /// `log`.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        route: Route,
        deadline: Duration,
        log: &FailoverLog,
        f: F,
    ) -> Result<T, Status>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        Ok(self.call_at(route, deadline, log, f).await?.0)
    }

    /// [`Nodes::call`], with the index of the endpoint that answered (for
    /// [`Nodes::leave`]), or `None` when another endpoint failed first in
    /// this call: a hint from that answer must not send the next calls
    /// back towards a node that does not answer.
    pub(crate) async fn call_at<T, F, Fut>(
        &self,
        route: Route,
        deadline: Duration,
        log: &FailoverLog,
        f: F,
    ) -> Result<(T, Option<usize>), Status>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let start = match route {
            Route::Sticky => self.current.load(Ordering::Relaxed),
            Route::Spread => self.reads.fetch_add(1, Ordering::Relaxed),
        };
        let n = self.endpoints.len();
        let give_up_at = Instant::now() + deadline;
        let mut last = Status::unavailable("no attempt made");
        let mut failed: Option<&str> = None;
        let mut attempts = 0;
        for attempt in 0..MAX_ATTEMPTS {
            // A whole round failed: give the cluster a moment (an election,
            // a restart) before trying the same nodes again.
            if attempt > 0 && attempt % n == 0 {
                tokio::time::sleep_until(give_up_at.min(Instant::now() + ROUND_BACKOFF)).await;
            }
            let left = give_up_at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Status::deadline_exceeded(format!(
                    "no node answered within {deadline:?} ({attempts} attempts at {}): {}",
                    self.addresses(),
                    last.message()
                )));
            }
            let i = (start + attempt) % n;
            let (addr, channel) = &self.endpoints[i];
            attempts += 1;
            // Leave time for the nodes not yet tried in this round: a node
            // that accepts connections but never answers must not eat the
            // whole deadline.
            let untried = u32::try_from(n - attempt % n).unwrap_or(1).max(1);
            let budget = ATTEMPT_TIMEOUT
                .min(left / untried)
                .max(left.min(MIN_ATTEMPT));
            let outcome = match tokio::time::timeout(budget, f(channel.clone())).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Status::deadline_exceeded("no answer in time")),
            };
            match outcome {
                Err(status) if retriable(&status) => {
                    tracing::debug!(%addr, error = %status.message(), "node failed, trying the next one");
                    self.note_failure(i);
                    failed = Some(addr);
                    last = status;
                }
                answered => {
                    // It answers again: the hint may send writes to it.
                    self.failed_at[i].store(0, Ordering::Relaxed);
                    // A read moves the sticky node only off a node that
                    // failed, so that writes skip it too.
                    if route == Route::Sticky || failed.is_some_and(|f| f == self.current()) {
                        self.current.store(i, Ordering::Relaxed);
                    }
                    if let Some(failed) = failed {
                        log.record(failed, addr);
                    }
                    let at = failed.is_none().then_some(i);
                    return answered.map(|answer| (answer, at));
                }
            }
        }
        Err(Status::new(
            last.code(),
            format!(
                "no node answered ({attempts} attempts at {}): {}",
                self.addresses(),
                last.message()
            ),
        ))
    }

    /// Moves sticky calls on from endpoint `i` to the next one, unless
    /// they have moved already: endpoint `i` answered a write by passing
    /// it on to a leader elsewhere. Among `n` endpoints, at most `n - 1`
    /// such writes find the leader.
    pub(crate) fn leave(&self, i: usize) {
        let n = self.endpoints.len();
        let now = self.ms_since();
        let recently_failed = |j: usize| {
            let at = self.failed_at[j].load(Ordering::Relaxed);
            at > 0 && now.saturating_sub(at - 1) < HINT_SKIPS_FAILED.as_millis() as u64
        };
        let Some(next) = (1..n).map(|k| (i + k) % n).find(|&j| !recently_failed(j)) else {
            return;
        };
        let _ = self
            .current
            .compare_exchange(i, next, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Records that endpoint `i` failed a call now.
    fn note_failure(&self, i: usize) {
        self.failed_at[i].store(self.ms_since() + 1, Ordering::Relaxed);
    }

    /// Milliseconds since this set of nodes was made.
    fn ms_since(&self) -> u64 {
        u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The endpoints, comma-separated, for messages.
    fn addresses(&self) -> String {
        let addrs: Vec<&str> = self.endpoints.iter().map(|(a, _)| a.as_str()).collect();
        addrs.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use crate::Client;

    use super::*;

    /// An address where nothing listens.
    fn closed() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    }

    #[test]
    fn only_failures_of_the_node_are_retried() {
        for code in [Code::Unavailable, Code::DeadlineExceeded, Code::Cancelled] {
            assert!(retriable(&Status::new(code, "x")), "{code:?}");
        }
        assert!(retriable(&Status::unknown("transport error")));
        // A call cut by a node going away (GOAWAY when it stops).
        assert!(retriable(&Status::internal(
            "h2 protocol error: http2 error"
        )));
        assert!(!retriable(&Status::internal("the outcome is undecodable")));
        for code in [
            Code::InvalidArgument,
            Code::NotFound,
            Code::FailedPrecondition,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Unknown,
        ] {
            assert!(!retriable(&Status::new(code, "x")), "{code:?}");
        }
    }

    #[tokio::test]
    async fn a_leader_elsewhere_moves_sticky_calls_on_once() {
        let nodes =
            Nodes::connect_lazy(&["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"], None).unwrap();
        // Two answers from endpoint 0 arrive together: one move, not two.
        nodes.leave(0);
        nodes.leave(0);
        assert_eq!(nodes.current(), "127.0.0.1:2");
        nodes.leave(1);
        nodes.leave(2);
        assert_eq!(nodes.current(), "127.0.0.1:1", "wraps around");
        let one = Nodes::connect_lazy(&["127.0.0.1:1"], None).unwrap();
        one.leave(0);
        assert_eq!(one.current(), "127.0.0.1:1");
    }

    #[tokio::test]
    async fn a_leader_hint_never_moves_writes_onto_a_node_that_just_failed() {
        let nodes =
            Nodes::connect_lazy(&["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"], None).unwrap();
        nodes.note_failure(1);
        nodes.leave(0);
        assert_eq!(nodes.current(), "127.0.0.1:3", "skips the failed one");
        nodes.note_failure(0);
        nodes.leave(2);
        assert_eq!(
            nodes.current(),
            "127.0.0.1:3",
            "every other one failed: stay"
        );
    }

    #[tokio::test]
    async fn says_which_nodes_it_tried_when_none_answers() {
        let (a, b) = (closed(), closed());
        let client = Client::new(&[&a, &b]).unwrap();
        let status = client.list_shows(false).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(status.message().contains("no node answered"), "{status:?}");
        assert!(status.message().contains(&a) && status.message().contains(&b));
        assert_eq!(client.take_failover(), None, "nobody answered");
    }

    #[tokio::test]
    async fn gives_up_at_the_deadline() {
        // Accepts connections but never speaks HTTP/2.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap().to_string();
        let hold = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                open.push(socket);
            }
        });
        let client = Client::new(&[&addr])
            .unwrap()
            .with_deadline(Duration::from_millis(300));
        let started = std::time::Instant::now();
        let status = client.list_shows(false).await.unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
        assert!(status.message().contains("within 300ms"), "{status:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        hold.abort();
    }

    #[tokio::test]
    async fn a_silent_node_does_not_eat_the_whole_deadline() {
        let mut silent = Vec::new();
        let mut addrs = Vec::new();
        for _ in 0..2 {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addrs.push(listener.local_addr().unwrap().to_string());
            silent.push(tokio::spawn(async move {
                let mut open = Vec::new();
                while let Ok((socket, _)) = listener.accept().await {
                    open.push(socket);
                }
            }));
        }
        let client = Client::new(&addrs)
            .unwrap()
            .with_deadline(Duration::from_secs(2));
        let status = client.list_shows(false).await.unwrap_err();
        // Both nodes were tried within the deadline.
        assert!(
            status.message().contains("2 attempts") || status.message().contains("3 attempts"),
            "{status:?}"
        );
        for task in silent {
            task.abort();
        }
    }
}
