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

use boxoffice_core::{Booking, Caller, RequestId, SeatNo, ShowId, Tickets};
use boxoffice_proto::internal::v1::checkout_relay_client::CheckoutRelayClient;
use boxoffice_proto::internal::v1::checkout_relay_server::{CheckoutRelay, CheckoutRelayServer};
use boxoffice_proto::internal::v1::{RelayRequest, RelayResult};
use boxoffice_proto::v1;
use boxoffice_raft::RaftNode;
use prost::Message;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status};
use tracing::debug;

use crate::app::BookingApp;
use crate::checkout::Checkout;
use crate::metrics::RelayMetrics;

/// Most checkouts in one relayed call.
pub const MAX_RELAY_BATCH: usize = 256;
/// Relayed calls being accepted at once, per node: checkouts that arrive
/// meanwhile queue and leave together.
const MAX_CALLS_OPENING: usize = 2;
/// Room for the saga's own bounds on top of the charge's: a hold and a
/// confirmation that each wait for a leader (10 s at most).
const SAGA_SLACK: Duration = Duration::from_secs(25);

/// One checkout as the follower's edge prepared it.
#[derive(Serialize, Deserialize)]
pub struct Relayed {
    /// Who asked (the follower verified the token).
    pub caller: Caller,
    /// The customer's request id (or the one the edge drew).
    pub request_id: RequestId,
    /// The show.
    pub show: ShowId,
    /// The seats, resolved.
    pub seats: Vec<SeatNo>,
    /// Ticket types and standing places.
    pub tickets: Tickets,
    /// The card as protobuf bytes (`v1::Card`), if one was given.
    pub card: Option<Vec<u8>>,
}

impl Relayed {
    /// The checkout with `card`.
    pub fn new(
        caller: Caller,
        request_id: RequestId,
        show: ShowId,
        seats: Vec<SeatNo>,
        tickets: Tickets,
        card: Option<&v1::Card>,
    ) -> Self {
        Self {
            caller,
            request_id,
            show,
            seats,
            tickets,
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
    },
}

impl Answer {
    fn of(result: Result<Booking, Status>) -> Self {
        match result {
            Ok(booking) => Self::Booked(booking),
            Err(status) => Self::Refused {
                code: status.code() as i32,
                message: status.message().to_owned(),
            },
        }
    }

    fn into_result(self) -> Result<Booking, Status> {
        match self {
            Self::Booked(booking) => Ok(booking),
            Self::Refused { code, message } => Err(Status::new(Code::from_i32(code), message)),
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
        let mut batch = vec![first];
        while batch.len() < MAX_RELAY_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let node = node.clone();
        tokio::spawn(async move {
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
            let opened = CheckoutRelayClient::new(channel).run(request).await;
            drop(slot);
            let mut stream = match opened {
                Ok(response) => response.into_inner(),
                Err(status) => {
                    debug!(leader, %status, "checkouts not relayed");
                    return;
                }
            };
            // Answers come as the checkouts finish; whatever has none when
            // the stream ends (its replies dropped) runs on this node.
            while let Ok(Some(result)) = stream.message().await {
                let reply = usize::try_from(result.index)
                    .ok()
                    .and_then(|i| replies.get_mut(i))
                    .and_then(Option::take);
                if let Some(reply) = reply {
                    let _ = reply.send(postcard::from_bytes(&result.answer).ok());
                }
            }
        });
    }
}

/// The leader's side: runs the checkouts peers relay to it.
pub struct RelayApi {
    node: Arc<RaftNode<BookingApp>>,
    checkout: Arc<Checkout>,
    metrics: RelayMetrics,
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
        })
        .max_decoding_message_size(crate::MAX_REQUEST_BYTES * MAX_RELAY_BATCH)
    }
}

#[tonic::async_trait]
impl CheckoutRelay for RelayApi {
    type RunStream = ReceiverStream<Result<RelayResult, Status>>;

    async fn run(
        &self,
        request: Request<RelayRequest>,
    ) -> Result<Response<Self::RunStream>, Status> {
        let member = match boxoffice_tls::Identity::of_request(&request) {
            Some(boxoffice_tls::Identity::Node(id)) => self.node.is_member(id),
            _ => false,
        };
        if !member {
            tracing::warn!(remote = ?request.remote_addr(), "refused a relayed checkout");
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
        let (tx, rx) = mpsc::channel(checkouts.len().max(1));
        for (index, bytes) in (0u32..).zip(checkouts) {
            let (checkout, tx) = (self.checkout.clone(), tx.clone());
            self.metrics.record("served");
            // Each checkout runs to its end even if the peer goes away: a
            // saga cut short would leave its hold to the coordinator.
            tokio::spawn(async move {
                let result = match decode(&bytes) {
                    Ok(r) => {
                        checkout
                            .book_here(r.caller, r.request_id, r.show, r.seats, r.tickets, r.card)
                            .await
                    }
                    Err(status) => Err(status),
                };
                let answer = postcard::to_allocvec(&Answer::of(result)).unwrap_or_default();
                let _ = tx.send(Ok(RelayResult { index, answer })).await;
            });
        }
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A relayed checkout with its card decoded.
struct Decoded {
    caller: Caller,
    request_id: RequestId,
    show: ShowId,
    seats: Vec<SeatNo>,
    tickets: Tickets,
    card: Option<v1::Card>,
}

fn decode(bytes: &[u8]) -> Result<Decoded, Status> {
    let bad = |what: &str| Status::invalid_argument(format!("unreadable relayed checkout: {what}"));
    let r: Relayed = postcard::from_bytes(bytes).map_err(|_| bad("checkout"))?;
    let card = match r.card {
        Some(card) => Some(v1::Card::decode(card.as_slice()).map_err(|_| bad("card"))?),
        None => None,
    };
    Ok(Decoded {
        caller: r.caller,
        request_id: r.request_id,
        show: r.show,
        seats: r.seats,
        tickets: r.tickets,
        card,
    })
}
