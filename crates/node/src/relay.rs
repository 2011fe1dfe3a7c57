//! One forward per checkout: a follower hands each one-call checkout
//! (`BookSeats` with payments on) to the leader whole, instead of
//! forwarding its hold and then its confirmation as two separate commands.
//!
//! Measured on `boxoffice up` (docs/benchmarks.md, issue 24): with every
//! client at the leader, a paid booking cost 424 µs of CPU over all
//! processes against 596 µs with the clients spread over the three nodes;
//! forwarding each checkout's two commands, and each node's smaller
//! charge batches, made the difference.
//!
//! The follower ([`Relay`]) still does everything an edge does before a
//! hold: it authenticates the caller, checks the card's format, paces the
//! account and resolves the seats. It then queues the checkout; the
//! checkouts that queue while earlier calls are being accepted leave
//! together in one `CheckoutRelay.Run` call over the peer port (mutual
//! TLS), and the leader ([`RelayApi`]) runs each as its own task and
//! streams its result back as soon as it is done, so a slow charge holds
//! back no other checkout.
//!
//! Invariants:
//! - **The relay is only a shortcut.** Whatever goes wrong with it (no
//!   leader elsewhere, the call refused, the stream cut, the leader dead
//!   mid-checkout, an answer that cannot be read), the follower runs the
//!   checkout itself under the same request id. That is safe because every
//!   step of the saga is idempotent by that id and the order's key (see
//!   "The checkout" in docs/architecture.md): a second run finds the first
//!   one's hold, and charges under its key, which the payment service
//!   answers with the first charge.
//! - **The receiver never relays again**: it runs the checkout where it
//!   is, forwarding its commands to the leader if leadership has moved.
//! - **Members only.** The call carries a caller the follower
//!   authenticated and a card: only a node whose certificate names a
//!   member of the cluster may make it (PERMISSION_DENIED otherwise), and
//!   the client port does not serve it.
//! - **The card is never logged or stored**: it crosses the peer link
//!   inside the encrypted call, in memory only, and [`Relayed`] has no
//!   `Debug`.

use std::sync::Arc;
use std::time::Duration;

use boxoffice_core::Booking;
use boxoffice_proto::internal::v1::checkout_relay_client::CheckoutRelayClient;
use boxoffice_proto::internal::v1::checkout_relay_server::{CheckoutRelay, CheckoutRelayServer};
use boxoffice_proto::internal::v1::{RelayRequest, RelayResult};
use boxoffice_proto::v1;
use boxoffice_raft::RaftNode;
use prost::Message;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{KeyAndValueRef, MetadataKey, MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status};
use tracing::debug;

use crate::app::BookingApp;
use crate::checkout::{Checkout, CheckoutRequest};
use crate::metrics::RelayMetrics;

/// Most checkouts in one relayed call.
pub const MAX_RELAY_BATCH: usize = 256;
/// Most bytes of checkouts in one relayed call (a checkout is at most a
/// client request, 1 MiB).
pub const MAX_RELAY_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Most relayed checkouts a node runs for its peers at once; a call that
/// finds none free is refused whole (its checkouts then run where they
/// arrived).
pub const MAX_SERVED_AT_ONCE: usize = 4096;
/// Relayed calls being accepted at once, per node: checkouts that arrive
/// meanwhile queue and leave together.
const MAX_CALLS_OPENING: usize = 2;
/// How long the leader may take to accept a relayed call.
const OPEN_TIMEOUT: Duration = Duration::from_secs(2);
/// Room for the saga's own bounds on top of the charge's: a hold and a
/// confirmation that each wait for a leader (10 s at most).
const SAGA_SLACK: Duration = Duration::from_secs(25);

/// One checkout as the follower's edge prepared it, and its card.
#[derive(Serialize, Deserialize)]
pub struct Relayed {
    /// The checkout, under the relaying node's hold rules.
    pub request: CheckoutRequest,
    /// The card as protobuf bytes (`v1::Card`), if one was given.
    pub card: Option<Vec<u8>>,
}

impl Relayed {
    /// `request`, paid with `card`.
    pub fn new(request: CheckoutRequest, card: Option<&v1::Card>) -> Self {
        Self {
            request,
            card: card.map(Message::encode_to_vec),
        }
    }
}

/// A relayed checkout's result.
#[derive(Debug, Serialize, Deserialize)]
pub enum Answer {
    /// The booking as the checkout left it.
    Booked(Booking),
    /// The status the checkout answered with.
    Refused {
        /// Its gRPC code.
        code: i32,
        /// Its message.
        message: String,
        /// Its ASCII metadata (why a seat was refused, when to retry, the
        /// best split), which clients read.
        metadata: Vec<(String, String)>,
    },
}

impl Answer {
    fn of(result: Result<Booking, Status>) -> Self {
        match result {
            Ok(booking) => Self::Booked(booking),
            Err(status) => Self::Refused {
                code: status.code() as i32,
                message: status.message().to_owned(),
                metadata: status
                    .metadata()
                    .iter()
                    .filter_map(|entry| match entry {
                        KeyAndValueRef::Ascii(key, value) => {
                            Some((key.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                        }
                        KeyAndValueRef::Binary(..) => None,
                    })
                    .collect(),
            },
        }
    }

    fn into_result(self) -> Result<Booking, Status> {
        match self {
            Self::Booked(booking) => Ok(booking),
            Self::Refused {
                code,
                message,
                metadata,
            } => {
                let mut map = MetadataMap::new();
                for (key, value) in metadata {
                    if let (Ok(key), Ok(value)) = (
                        MetadataKey::from_bytes(key.as_bytes()),
                        MetadataValue::try_from(value.as_str()),
                    ) {
                        map.insert(key, value);
                    }
                }
                Err(Status::with_metadata(Code::from_i32(code), message, map))
            }
        }
    }
}

type Reply = oneshot::Sender<Option<Answer>>;

/// The follower's side: queues checkouts and relays them to the leader.
#[derive(Clone)]
pub struct Relay {
    tx: mpsc::UnboundedSender<(Vec<u8>, Reply)>,
    metrics: RelayMetrics,
}

impl Relay {
    /// Starts relaying to whichever node leads `node`'s cluster, each call
    /// allowed `charge_timeout` plus the saga's other bounds.
    pub fn spawn(
        node: Arc<RaftNode<BookingApp>>,
        charge_timeout: Duration,
        metrics: RelayMetrics,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(send_loop(node, rx, charge_timeout + SAGA_SLACK));
        Self { tx, metrics }
    }

    /// Runs `checkout` on the leader. `None` when the leader did not answer
    /// for it (no other leader, the relay failed): the caller then runs it
    /// itself, under the same request id.
    pub async fn run(&self, checkout: &Relayed) -> Option<Result<Booking, Status>> {
        let bytes = match postcard::to_allocvec(checkout) {
            Ok(bytes) => bytes,
            Err(e) => {
                debug!(error = %e, "checkout not relayed: encoding failed");
                return None;
            }
        };
        let (reply, answer) = oneshot::channel();
        self.tx.send((bytes, reply)).ok()?;
        match answer.await.ok().flatten() {
            Some(answer) => {
                self.metrics.record("relayed");
                Some(answer.into_result())
            }
            None => {
                self.metrics.record("ran_here");
                None
            }
        }
    }
}

async fn send_loop(
    node: Arc<RaftNode<BookingApp>>,
    mut rx: mpsc::UnboundedReceiver<(Vec<u8>, Reply)>,
    timeout: Duration,
) {
    let slots = Arc::new(Semaphore::new(MAX_CALLS_OPENING));
    loop {
        // Take a slot before waiting for work: while every slot is busy,
        // arriving checkouts queue and then leave together.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else { return };
        let mut bytes = first.0.len();
        let mut batch = vec![first];
        while batch.len() < MAX_RELAY_BATCH {
            match rx.try_recv() {
                // A checkout whose customer is gone is dropped, not run:
                // before the relay, a cancelled call stopped the saga too.
                Ok((_, reply)) if reply.is_closed() => {}
                Ok(job) if bytes + job.0.len() > MAX_RELAY_BATCH_BYTES => {
                    // Too big for this call: it runs here.
                    drop(job);
                    break;
                }
                Ok(job) => {
                    bytes += job.0.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        batch.retain(|(_, reply)| !reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        tokio::spawn(relay_batch(node.clone(), batch, slot, timeout));
    }
}

/// Relays one batch and hands each answer to its waiter; a waiter whose
/// reply is dropped (no answer for it, whatever the reason) runs its
/// checkout itself.
async fn relay_batch(
    node: Arc<RaftNode<BookingApp>>,
    batch: Vec<(Vec<u8>, Reply)>,
    slot: OwnedSemaphorePermit,
    timeout: Duration,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    let (checkouts, mut replies): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|(c, r)| (c, Some(r))).unzip();
    let Some((leader, addr)) = node.leader_elsewhere() else {
        return;
    };
    let channel = match node.peer_channel(leader, &addr) {
        Ok(channel) => channel,
        Err(e) => {
            debug!(leader, error = %e, "checkouts not relayed");
            return;
        }
    };
    let mut request = Request::new(RelayRequest { checkouts });
    request.set_timeout(timeout);
    let opened = tokio::time::timeout(
        OPEN_TIMEOUT,
        CheckoutRelayClient::new(channel)
            .max_encoding_message_size(MAX_RELAY_BATCH_BYTES * 2)
            .run(request),
    )
    .await;
    drop(slot);
    let mut stream = match opened {
        Ok(Ok(response)) => response.into_inner(),
        Ok(Err(status)) => {
            debug!(leader, %status, "checkouts not relayed");
            return;
        }
        Err(_) => {
            debug!(
                leader,
                "checkouts not relayed: the leader did not accept the call in time"
            );
            return;
        }
    };
    // Answers come as the checkouts finish, within the saga's bounds (the
    // call's own timeout covers only its opening); whatever has none when
    // the stream ends or the time is up runs on this node.
    while let Ok(Ok(Some(result))) = tokio::time::timeout_at(deadline, stream.message()).await {
        let reply = usize::try_from(result.index)
            .ok()
            .and_then(|i| replies.get_mut(i))
            .and_then(Option::take);
        if let Some(reply) = reply {
            let _ = reply.send(postcard::from_bytes(&result.answer).ok());
        }
    }
}

/// The leader's side: runs the checkouts peers relay to it.
pub struct RelayApi {
    node: Arc<RaftNode<BookingApp>>,
    checkout: Arc<Checkout>,
    metrics: RelayMetrics,
    /// One permit per checkout being run for a peer.
    running: Arc<Semaphore>,
}

impl RelayApi {
    /// The service for the peer port.
    pub fn server(
        node: Arc<RaftNode<BookingApp>>,
        checkout: Arc<Checkout>,
        metrics: RelayMetrics,
    ) -> CheckoutRelayServer<Self> {
        CheckoutRelayServer::new(Self {
            node,
            checkout,
            metrics,
            running: Arc::new(Semaphore::new(MAX_SERVED_AT_ONCE)),
        })
        // Room for the framing around MAX_RELAY_BATCH_BYTES of checkouts.
        .max_decoding_message_size(MAX_RELAY_BATCH_BYTES * 2)
    }
}

#[tonic::async_trait]
impl CheckoutRelay for RelayApi {
    type RunStream = ReceiverStream<Result<RelayResult, Status>>;

    async fn run(
        &self,
        request: Request<RelayRequest>,
    ) -> Result<Response<Self::RunStream>, Status> {
        let identity = boxoffice_tls::Identity::of_request(&request);
        let member = match identity {
            // A current member, strictly: unlike Raft's, this door has no
            // use before the node has joined a cluster.
            Some(boxoffice_tls::Identity::Node(id)) => self.node.is_current_member(id),
            _ => false,
        };
        if !member {
            boxoffice_tls::refusals::warn("refused a relayed checkout", &request);
            return Err(Status::permission_denied(
                "only members of the cluster may relay checkouts",
            ));
        }
        let checkouts = request.into_inner().checkouts;
        if checkouts.len() > MAX_RELAY_BATCH {
            return Err(Status::invalid_argument(format!(
                "{} checkouts in one call; at most {MAX_RELAY_BATCH}",
                checkouts.len()
            )));
        }
        let n = u32::try_from(checkouts.len()).unwrap_or(u32::MAX);
        let Ok(permits) = self.running.clone().try_acquire_many_owned(n) else {
            return Err(Status::resource_exhausted(
                "this node runs as many relayed checkouts as it may: run them where they arrived",
            ));
        };
        let permits = Arc::new(std::sync::Mutex::new(permits));
        let (tx, rx) = mpsc::channel(checkouts.len().max(1));
        for (index, bytes) in (0u32..).zip(checkouts) {
            let (checkout, tx) = (self.checkout.clone(), tx.clone());
            // One permit for this checkout, given back when it ends.
            let permit = permits.lock().ok().and_then(|mut p| p.split(1));
            // A checkout this node cannot read gets no answer: the peer
            // runs it itself.
            let (request, card) = match decode(&bytes) {
                Ok(decoded) => decoded,
                Err(what) => {
                    debug!(index, what, "unreadable relayed checkout");
                    continue;
                }
            };
            self.metrics.record("served");
            // Each checkout runs to its end even if the peer goes away: a
            // saga cut short would leave its hold to the coordinator.
            tokio::spawn(async move {
                let _permit = permit;
                let result = checkout.book_here(request, card).await;
                match postcard::to_allocvec(&Answer::of(result)) {
                    Ok(answer) => {
                        let _ = tx.send(Ok(RelayResult { index, answer })).await;
                    }
                    Err(e) => debug!(index, error = %e, "relayed checkout's answer not encoded"),
                }
            });
        }
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// The checkout in `bytes` and its card, or what could not be read.
fn decode(bytes: &[u8]) -> Result<(CheckoutRequest, Option<v1::Card>), &'static str> {
    let relayed: Relayed = postcard::from_bytes(bytes).map_err(|_| "checkout")?;
    let card = match relayed.card {
        Some(card) => Some(v1::Card::decode(card.as_slice()).map_err(|_| "card")?),
        None => None,
    };
    Ok((relayed.request, card))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_crosses_the_relay_with_its_code_message_and_metadata() {
        let mut status = Status::failed_precondition("seat 2 is taken");
        status.metadata_mut().insert(
            boxoffice_proto::convert::REASON,
            MetadataValue::from_static(boxoffice_proto::convert::SEAT_TAKEN),
        );
        let bytes = postcard::to_allocvec(&Answer::of(Err(status))).unwrap();
        let answer: Answer = postcard::from_bytes(&bytes).unwrap();
        let back = answer.into_result().unwrap_err();
        assert_eq!(back.code(), Code::FailedPrecondition);
        assert_eq!(back.message(), "seat 2 is taken");
        assert!(boxoffice_proto::convert::is_seat_taken(&back), "{back:?}");
    }

    #[test]
    fn an_unreadable_checkout_or_card_is_refused_not_guessed() {
        assert_eq!(decode(b"\xff\xff\xff").err(), Some("checkout"));
        let mut relayed = Relayed::new(
            CheckoutRequest {
                caller: boxoffice_core::Caller {
                    user: boxoffice_core::UserId("u1".into()),
                    token_version: 0,
                },
                request_id: boxoffice_core::RequestId::from("r1"),
                show: boxoffice_core::ShowId("s".into()),
                seats: vec![boxoffice_core::SeatNo(1)],
                tickets: boxoffice_core::Tickets::default(),
                rules: crate::checkout::HoldRules {
                    ttl_ms: 1_000,
                    max_seats_per_user: 10,
                    limits: boxoffice_core::HoldLimits::default(),
                },
            },
            None,
        );
        relayed.card = Some(vec![0xff; 3]);
        let bytes = postcard::to_allocvec(&relayed).unwrap();
        assert_eq!(decode(&bytes).err(), Some("card"));
    }
}
