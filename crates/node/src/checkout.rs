//! The checkout saga, every step in one place: hold the seats for a fresh
//! order, charge the card, confirm the booking (or release it when the
//! card is declined, refused or missing), and refund a charge that must
//! not stand.
//!
//! [`Checkout::book`] runs the whole saga for the one-call checkout
//! (`BookSeats` with a card); [`Checkout::hold`] and [`Checkout::pay`] are
//! its two halves for the two-call checkout (`HoldSeats`, then
//! `PayBooking`). The booking service in front only authenticates,
//! validates the request and paces the caller ([`crate::service`]).
//!
//! Every step that changes the booking is a committed command, and every
//! call to the payment service is idempotent: the charge's idempotency key
//! is the booking's order id, a booking's refund is keyed by the booking
//! (`booking:{id}`, for the booking's own price, so that the bookings of
//! one order, once tickets can be returned, each refund their part of the
//! charge once), and the commands after the hold run as trusted requests
//! ([`submit_trusted`]) under ids derived from the order
//! (`sys:confirm:…`, `sys:release:…`, `sys:settle:…`, and
//! `sys:refund:{order}:{booking}` from [`refund_step_id`], a namespace end
//! users cannot use), so whichever node repeats a step (this
//! one after a retry, or the leader's coordinator after a crash) repeats
//! it exactly. The hold itself runs under the customer's request id, so a
//! retried request finds the booking it first held and carries on from
//! where that booking is.
//!
//! The charge is made by the node that runs the checkout: the leader for
//! a checkout it received or one a follower relayed to it
//! ([`crate::relay`]), a follower for one it runs itself. The card is never
//! written to the log, a log line or a file. That is safe whatever node
//! charges, because a charge can only succeed under the
//! order's key while the key is open, and the leader's coordinator
//! ([`crate::coordinator`]) closes it (Void) before it records an ended
//! hold as not charged.

use std::sync::Arc;
use std::time::Duration;

use boxoffice_config::clock::now_ms;
use boxoffice_core::{
    Booking, BookingId, BookingStatus, Caller, CardFingerprint, Command, Effect, HoldLimits,
    MAX_PRICE_CENTS, MAX_SEATS_PER_BOOKING, Network, OrderId, Outcome, Payment, Rejection, Request,
    RequestId, SYSTEM_REQUEST_PREFIX, SeatNo, ShowId, Tickets, TransactionId,
};
use boxoffice_payment::service::MAX_AMOUNT_CENTS;
use boxoffice_proto::convert;
use boxoffice_proto::v1;
use boxoffice_proto::v1::payment_service_client::PaymentServiceClient;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tracing::{info, warn};

use crate::charges::{ChargeSender, transaction};
use crate::config::{BookingSettings, PaymentSettings};
use crate::crash;
use crate::metrics::PaymentMetrics;
use crate::port::ReplicaPort;
use crate::relay::{Relay, Relayed};

// Every total the state machine allows can be charged.
const _: () = assert!(MAX_PRICE_CENTS * MAX_SEATS_PER_BOOKING as i64 <= MAX_AMOUNT_CENTS);

/// First pause before retrying a call whose outcome is unknown.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest pause between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Whether a failed call may or may not have taken effect, so that it is
/// retried (with the same idempotency key) rather than reported.
pub fn outcome_unknown(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Cancelled
            | Code::Aborted
            | Code::Internal
            | Code::ResourceExhausted
    )
}

/// Why the payment service's client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// `payment.endpoint` is not a usable address.
    #[error("payment.endpoint {endpoint:?}: {source}")]
    Endpoint {
        /// The configured endpoint.
        endpoint: String,
        /// Why it is unusable.
        source: tonic::transport::Error,
    },
    /// The TLS settings were refused.
    #[error("payment TLS: {0}")]
    Tls(tonic::transport::Error),
}

/// A client of the payment service, with the checkout's settings.
pub struct Payments {
    client: PaymentServiceClient<Channel>,
    /// Charges on their way to the payment service, sent in batches.
    charges: ChargeSender,
    settings: PaymentSettings,
    metrics: PaymentMetrics,
    /// One refund of a booking at a time on this node ([`refund`]): the
    /// edge that cancelled it and the coordinator's sweep would otherwise
    /// both make it. Striped by booking id: bounded, never cleaned up.
    refunding: Box<[tokio::sync::Mutex<()>]>,
}

/// Stripes of [`Payments::refunding`].
const REFUND_STRIPES: usize = 64;

impl Payments {
    /// A client for `settings.endpoint`, or `None` when payments are off.
    /// Connects lazily: the payment service may start later or be down.
    pub fn connect(
        settings: &PaymentSettings,
        tls: &boxoffice_tls::Tls,
        metrics: PaymentMetrics,
    ) -> Result<Option<Arc<Self>>, ConnectError> {
        let Some(endpoint) = &settings.endpoint else {
            return Ok(None);
        };
        let timeout = Duration::from_millis(settings.call_timeout_ms);
        let channel = Endpoint::from_shared(endpoint.clone())
            .map_err(|source| ConnectError::Endpoint {
                endpoint: endpoint.clone(),
                source,
            })?
            // The payment service's v1 API answers booking nodes only: this
            // node proves itself with its certificate and accepts only the
            // payment service's.
            .tls_config(tls.client_for(&boxoffice_tls::Identity::Payment.dns_name()))
            .map_err(ConnectError::Tls)?
            .connect_timeout(timeout)
            .timeout(timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        let client = PaymentServiceClient::new(channel);
        let charges = ChargeSender::start(client.clone(), timeout);
        Ok(Some(Arc::new(Self {
            client,
            charges,
            settings: settings.clone(),
            metrics,
            refunding: (0..REFUND_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        })))
    }

    /// Waits until no other refund of `booking` runs on this node, and
    /// keeps it so while the guard lives.
    async fn refunding(&self, booking: BookingId) -> tokio::sync::MutexGuard<'_, ()> {
        // The modulo keeps the index below the stripe count.
        #[allow(clippy::cast_possible_truncation)]
        let stripe = (booking.0 % self.refunding.len() as u64) as usize;
        self.refunding[stripe].lock().await
    }

    /// The checkout settings.
    pub fn settings(&self) -> &PaymentSettings {
        &self.settings
    }

    /// Charges `card` for `booking` under its order's key.
    async fn charge(
        &self,
        booking: &Booking,
        order: &OrderId,
        card: &v1::Card,
    ) -> Result<v1::Transaction, Status> {
        let seats: Vec<String> = booking.seats.iter().map(ToString::to_string).collect();
        let request = v1::ChargeRequest {
            idempotency_key: order.to_string(),
            user_id: booking.user.to_string(),
            amount_cents: booking.total_cents,
            currency: self.settings.currency.clone(),
            // The number as digits (the buyer may have typed spaces or
            // dashes, any number of them): a charge's size stays bounded
            // and never crowds its batch.
            card: Some(v1::Card {
                number: card.number.chars().filter(char::is_ascii_digit).collect(),
                ..card.clone()
            }),
            description: format!(
                "booking {} of show {}, seats {}",
                booking.id,
                booking.show,
                seats.join(",")
            )
            .chars()
            .take(200)
            .collect(),
        };
        let result = self.charges.charge(request).await;
        self.metrics.record("charge", result.as_ref().map(Some));
        result
    }

    /// Closes `order`'s key: the charge made under it, if any; none ever can be after.
    pub async fn void(&self, order: &OrderId) -> Result<Option<v1::Transaction>, Status> {
        let request = v1::VoidRequest {
            idempotency_key: order.to_string(),
        };
        let result = self.client.clone().void(request).await;
        let result = result.map(|reply| reply.into_inner().transaction);
        self.metrics
            .record("void", result.as_ref().map(Option::as_ref));
        result
    }

    /// The charge made under `order`'s key so far, if any.
    pub async fn find(&self, order: &OrderId) -> Result<Option<v1::Transaction>, Status> {
        let request = v1::GetTransactionRequest {
            transaction_id: String::new(),
            idempotency_key: order.to_string(),
        };
        let result = match self.client.clone().get_transaction(request).await {
            Ok(reply) => Ok(reply.into_inner().transaction),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(status),
        };
        self.metrics
            .record("find", result.as_ref().map(Option::as_ref));
        result
    }

    /// Refunds `amount_cents` of `tx` under the idempotency key `key`: the
    /// same key again refunds nothing more and answers the transaction as
    /// it stands. `amount_cents` must be positive (0 would mean all that
    /// remains of the charge, which is not a booking's part of it).
    pub async fn refund(
        &self,
        tx: &TransactionId,
        amount_cents: i64,
        key: &str,
    ) -> Result<v1::Transaction, Status> {
        debug_assert!(amount_cents > 0, "a refund of {amount_cents} cents");
        let request = v1::RefundRequest {
            transaction_id: tx.to_string(),
            amount_cents,
            refund_key: key.to_owned(),
        };
        let result = self.client.clone().refund(request).await;
        let result = result.and_then(|reply| transaction(reply.into_inner().transaction));
        self.metrics.record("refund", result.as_ref().map(Some));
        result
    }
}

/// A fresh, unguessable order id: a UUIDv7 (74 random bits after 48 bits
/// of milliseconds), so that the payment ledger's keys, which are order
/// ids, arrive in nearly increasing order and its inserts stay at the end
/// of the table.
fn new_order_id() -> OrderId {
    OrderId(format!(
        "ord_{}",
        uuid::Uuid::new_v7(uuid::Timestamp::now(uuid::NoContext)).simple()
    ))
}

/// A lookup of `booking`'s first charge that failed: UNAVAILABLE, never a
/// final answer, since the charge may have gone through.
fn lookup_failed(booking: &Booking, status: &Status) -> Status {
    Status::unavailable(format!(
        "could not look up the first card's charge for booking {} ({}); retry",
        booking.id,
        status.message()
    ))
}

/// Why a booking whose hold has ended cannot be paid.
pub fn hold_ended(booking: &Booking) -> Status {
    Status::failed_precondition(format!(
        "booking {} is {} (payment {}): its hold ended without a sale (declined, abandoned or \
         expired) and any charge made for it is refunded in full; hold the seats again",
        booking.id,
        booking.status,
        booking.payment.name()
    ))
}

/// Checks a card's format (number, expiry, CVC) before anything is held
/// or charged, as a checkout page would; the payment service checks again.
pub fn check_card(card: &v1::Card) -> Result<(), Status> {
    let today = boxoffice_payment::cards::year_month(now_ms());
    boxoffice_payment::cards::check(
        &card.number,
        card.exp_month,
        card.exp_year,
        &card.cvc,
        today,
    )
    .map(drop)
    .map_err(|problem| Status::invalid_argument(format!("card refused: {problem}")))
}

/// The card of a paying request, which must be there.
fn require_card<'c>(card: Option<&'c v1::Card>, booking: &Booking) -> Result<&'c v1::Card, Status> {
    card.filter(|card| !card.number.trim().is_empty())
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "card is required: booking {} costs {} cents",
                booking.id, booking.total_cents
            ))
        })
}

/// A transaction's status as the enum.
pub fn tx_status(tx: &v1::Transaction) -> v1::TransactionStatus {
    v1::TransactionStatus::try_from(tx.status).unwrap_or(v1::TransactionStatus::Unspecified)
}

/// The request id of the system's `step` for `order` (e.g.
/// `sys:confirm:ord_…`), in the namespace end users may not use.
pub fn step_id(step: &str, order: &OrderId) -> RequestId {
    RequestId(format!("{SYSTEM_REQUEST_PREFIX}{step}:{order}"))
}

/// The request id of the refund of `booking`, one of `order`'s bookings:
/// `sys:refund:{order}:{booking}`. Per booking rather than per order: once
/// tickets can be returned, several bookings share one order, and each
/// refund must be recorded. It fits the 64 characters of a request id for
/// an order id of the checkout's (36 characters) and any booking id below
/// 10^16.
pub fn refund_step_id(order: &OrderId, booking: BookingId) -> RequestId {
    RequestId(format!("{SYSTEM_REQUEST_PREFIX}refund:{order}:{booking}"))
}

/// The payment service's idempotency key for the refund of `booking`:
/// stable across retries and leader changes, one per booking record.
pub fn refund_key(booking: BookingId) -> String {
    format!("booking:{booking}")
}

/// Replicates `command` as the system itself: a trusted request with no
/// caller, so the state machine checks no session or permission. Only the
/// saga's own steps use it, under an id from [`step_id`]; no client-facing
/// request can reach it.
pub async fn submit_trusted(
    replica: &ReplicaPort,
    request_id: RequestId,
    command: Command,
) -> Result<Outcome, Status> {
    replica
        .submit(Request {
            request_id,
            caller: None,
            command,
        })
        .await
}

/// What becomes of a hold when the payment service refuses the card as
/// malformed (a declined card always releases it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnRefusal {
    /// Give the seats back: the one-call checkout, whose customer offered
    /// one card and will not come back with another.
    Release,
    /// Keep the seats held for another card (`PayBooking`).
    KeepHold,
}

/// The rules a checkout's hold is made under. They are part of the hold's
/// command, so a retry of the request must repeat them: a relayed checkout
/// carries its edge's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRules {
    /// How long the hold lasts, ms.
    pub ttl_ms: i64,
    /// The most seats one customer may hold or own for one show.
    pub max_seats_per_user: u32,
    /// The anti-hoarding limits.
    pub limits: HoldLimits,
}

/// One checkout as its edge prepared it: who, under which request id,
/// what, and the rules of its hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckoutRequest {
    /// Who asked (the edge verified the token).
    pub caller: Caller,
    /// The customer's request id (or the one the edge drew).
    pub request_id: RequestId,
    /// The show.
    pub show: ShowId,
    /// The seats, resolved.
    pub seats: Vec<SeatNo>,
    /// Ticket types and standing places.
    pub tickets: Tickets,
    /// The rules of the hold.
    pub rules: HoldRules,
}

/// Runs the checkout saga on one node.
pub struct Checkout {
    replica: ReplicaPort,
    payments: Arc<Payments>,
    /// The most seats one customer may hold or own for one show.
    max_seats_per_user: u32,
    /// The anti-hoarding limits of every customer hold.
    hold_limits: HoldLimits,
    /// Hands one-call checkouts to the leader while this node follows.
    relay: Option<Relay>,
    /// The key of the cards' fingerprints (`None`: no cap per card).
    card_key: Option<[u8; 32]>,
}

impl Checkout {
    /// Checkouts on `replica` under the booking rules of `settings`,
    /// paying through `payments`; a follower relays its one-call
    /// checkouts through `relay`, if given.
    pub fn new(
        replica: ReplicaPort,
        payments: Arc<Payments>,
        settings: &BookingSettings,
        relay: Option<Relay>,
    ) -> Self {
        Self {
            replica,
            max_seats_per_user: settings.max_seats_per_user_per_show,
            hold_limits: settings.hold_limits(),
            card_key: payments
                .settings()
                .card_fingerprint_key
                .as_ref()
                .and_then(crate::config::SecretKey::bytes),
            payments,
            relay,
        }
    }

    /// The fingerprint the cap per card counts `card` by: HMAC-SHA-256 of
    /// its digits under the cluster's key, cut to 16 bytes (`None` when
    /// the node has no key: the cap is off).
    pub fn card_fingerprint(&self, card: &v1::Card) -> Option<CardFingerprint> {
        use hmac::Mac as _;
        let key = self.card_key.as_ref()?;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).ok()?;
        let digits: String = card.number.chars().filter(char::is_ascii_digit).collect();
        mac.update(digits.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut fingerprint = [0u8; 16];
        fingerprint.copy_from_slice(&digest[..16]);
        Some(CardFingerprint(fingerprint))
    }

    /// Counts `card` against the cap per card for held `booking` before
    /// it is charged: refused (with the reason) past the cap, when nothing
    /// is charged yet. A no-op without a key, and for a free booking.
    ///
    /// `Ok(false)` when another card is attached already: a hold gets no
    /// second card (see [`Checkout::first_charge`]).
    async fn attach_card(&self, booking: &Booking, card: &v1::Card) -> Result<bool, Status> {
        let Some(fingerprint) = self.card_fingerprint(card) else {
            return Ok(true);
        };
        if booking.total_cents == 0 {
            return Ok(true);
        }
        let order = booking
            .order
            .clone()
            .unwrap_or_else(|| OrderId(booking.id.to_string()));
        let command = Command::AttachCard {
            booking: booking.id,
            card: fingerprint,
            max_seats_per_card: self.hold_limits.max_seats_per_card,
        };
        match submit_trusted(&self.replica, step_id("card", &order), command).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(Rejection::OtherCard(_))) => Ok(false),
            Ok(Err(rejection)) => Err(convert::rejection_status(&rejection)),
            Err(status) => Err(status),
        }
    }

    /// Whether a retried one-call checkout of held `booking`, whose hold
    /// counted the card `attached` (as the state says), may charge `card`
    /// (counted as `counted`; `None`: a stand-in card, or no key here).
    /// `false` sends the retry to [`Checkout::first_charge`]. A hold that
    /// counted a card takes that card alone. A hold that counted none
    /// counts this one now, under the cap, unless a charge under its order
    /// already went through (made by an uncounted first attempt), which
    /// then stands and counts no card for seats it did not pay.
    async fn same_card(
        &self,
        booking: &Booking,
        attached: Option<CardFingerprint>,
        counted: Option<CardFingerprint>,
        card: &v1::Card,
    ) -> Result<bool, Status> {
        match (attached, counted) {
            (Some(attached), Some(counted)) => Ok(counted == attached),
            // A node without the cards' key cannot tell whether this is the
            // counted card: not a final answer, another node may.
            (Some(_), None) if self.card_key.is_none() => Err(Status::unavailable(format!(
                "this node cannot check the card counted for booking {} \
                 (payment.card_fingerprint_key is not set here); retry",
                booking.id
            ))),
            (Some(_), None) => Ok(false),
            (None, Some(_)) => {
                let made = match &booking.order {
                    Some(order) => self
                        .payments
                        .find(order)
                        .await
                        .map_err(|status| lookup_failed(booking, &status))?,
                    None => None,
                };
                if made.is_some_and(|tx| tx_status(&tx) == v1::TransactionStatus::Succeeded) {
                    return Ok(false);
                }
                self.attach_card(booking, card).await
            }
            (None, None) => Ok(true),
        }
    }

    /// A hold being paid with another card than `booking`'s attached one:
    /// if the first card's charge went through (its reply lost, say), it
    /// stands and confirms the booking; otherwise the new card is refused,
    /// uncharged, so that no payment is ever counted against a card that
    /// did not make it.
    async fn first_charge(&self, booking: &Booking) -> Result<Booking, Status> {
        let refused = || convert::rejection_status(&Rejection::OtherCard(booking.id));
        let Some(order) = booking.order.clone() else {
            return Err(refused());
        };
        match self.payments.find(&order).await {
            Ok(Some(tx)) if tx_status(&tx) == v1::TransactionStatus::Succeeded => {
                let id = TransactionId(tx.transaction_id);
                self.confirm(booking, &order, Some(id)).await
            }
            Ok(_) => Err(refused()),
            // Not known whether the first card's charge went through: a
            // refusal now would be final to the caller, and wrong if it did.
            Err(status) => Err(lookup_failed(booking, &status)),
        }
    }

    /// The checkout settings.
    pub fn settings(&self) -> &PaymentSettings {
        self.payments.settings()
    }

    /// The saga's first step: commits a hold of `seats` for `caller`
    /// lasting `ttl_ms`, for a fresh order, under the customer's
    /// `request_id`. Also says whether the hold is new: a retried request
    /// id gets the booking as it was first held (with its first order id),
    /// which may since have been paid or released.
    #[allow(clippy::too_many_arguments)]
    pub async fn hold(
        &self,
        caller: Caller,
        network: Option<Network>,
        request_id: RequestId,
        show: ShowId,
        seats: Vec<SeatNo>,
        tickets: Tickets,
        ttl_ms: i64,
    ) -> Result<(Booking, bool), Status> {
        let request = CheckoutRequest {
            caller,
            request_id,
            show,
            seats,
            tickets,
            rules: HoldRules {
                ttl_ms,
                ..self.one_call_rules(network)
            },
        };
        self.hold_under(request).await
    }

    /// The rules of this node's one-call checkouts' holds, for a caller
    /// from `network`.
    pub fn one_call_rules(&self, network: Option<Network>) -> HoldRules {
        HoldRules {
            ttl_ms: self.settings().checkout_hold_ms,
            max_seats_per_user: self.max_seats_per_user,
            limits: HoldLimits {
                network,
                ..self.hold_limits
            },
        }
    }

    /// [`Checkout::hold`] of `request`, under its rules.
    async fn hold_under(&self, request: CheckoutRequest) -> Result<(Booking, bool), Status> {
        let CheckoutRequest {
            caller,
            request_id,
            show,
            seats,
            tickets,
            rules,
        } = request;
        let order = new_order_id();
        let command = Command::Hold {
            order: order.clone(),
            show,
            seats,
            tickets,
            user: caller.user.clone(),
            ttl_ms: rules.ttl_ms,
            max_seats_per_user: rules.max_seats_per_user,
            limits: rules.limits,
        };
        let request = Request {
            request_id,
            caller: Some(caller),
            command,
        };
        let effect = self.replica.submit_or_status(request).await?;
        match effect {
            Effect::Booking(booking) => {
                let new = booking.order.as_ref() == Some(&order);
                Ok((booking, new))
            }
            other => Err(Status::internal(format!("unexpected effect {other:?}"))),
        }
    }

    /// The one-call checkout: hold, charge `card`, confirm. A paid booking
    /// without a card is released at once; a declined or refused card
    /// releases it too. A retry under the same request id finds the same
    /// booking and carries on from where it is.
    ///
    /// While another node leads, the checkout is relayed to it whole
    /// ([`crate::relay`]); if the relay fails, it runs here.
    #[allow(clippy::too_many_arguments)]
    pub async fn book(
        &self,
        caller: Caller,
        network: Option<Network>,
        request_id: RequestId,
        show: ShowId,
        seats: Vec<SeatNo>,
        tickets: Tickets,
        card: Option<v1::Card>,
        card_counted: bool,
    ) -> Result<Booking, Status> {
        // The hold's rules are this node's, wherever it runs: a retry
        // here must repeat the request exactly.
        let mut rules = self.one_call_rules(network);
        rules.limits.card = card
            .as_ref()
            .filter(|_| card_counted)
            .and_then(|c| self.card_fingerprint(c));
        let request = CheckoutRequest {
            caller,
            request_id,
            show,
            seats,
            tickets,
            rules,
        };
        if let Some(relay) = &self.relay
            && self.replica.node.leader_elsewhere().is_some()
        {
            let relayed = Relayed::new(request, card.as_ref());
            if let Some(answer) = relay.run(&relayed).await {
                return answer;
            }
            return self.book_here(relayed.request, card).await;
        }
        self.book_here(request, card).await
    }

    /// [`Checkout::book`] of `request` on this node, whichever node leads
    /// (its commands are forwarded to the leader as usual): what a relayed
    /// checkout runs, under the rules of the node that relayed it.
    pub async fn book_here(
        &self,
        request: CheckoutRequest,
        card: Option<v1::Card>,
    ) -> Result<Booking, Status> {
        let counted = request.rules.limits.card;
        let (held, new) = self.hold_under(request).await?;
        // A retry's hold outcome is the one first recorded: carry on from
        // where the booking is now, and with the card its hold counted (a
        // fresh hold needs no second look).
        let (booking, attached) = if new {
            (held, None)
        } else {
            let (now, attached) = self
                .replica
                .read(false, |s| (s.booking(held.id), s.card_of(held.id)))
                .await?;
            (now.unwrap_or(held), attached)
        };
        match booking.status {
            BookingStatus::Held { .. } => {
                if booking.total_cents > 0
                    && let Err(status) = require_card(card.as_ref(), &booking)
                {
                    // Nothing to pay with: give the seats back at once.
                    if let Some(order) = &booking.order {
                        self.release(&booking, order).await;
                    }
                    return Err(status);
                }
                let card = card.unwrap_or_default();
                // A retry may carry another card than the one its hold
                // counted (deduplication ignores the card): as when a
                // hold is paid, the counted card's charge stands if it was
                // made, and no other card is charged.
                if !new
                    && booking.total_cents > 0
                    && !self.same_card(&booking, attached, counted, &card).await?
                {
                    return self.first_charge(&booking).await;
                }
                self.charge_and_confirm(booking, &card, OnRefusal::Release)
                    .await
            }
            BookingStatus::Confirmed { .. } => Ok(booking),
            BookingStatus::Released { .. } | BookingStatus::Cancelled { .. } => {
                Err(hold_ended(&booking))
            }
        }
    }

    /// The second half of the two-call checkout: pays for `booking` (the
    /// caller's, as `PayBooking` found it) with `card` and confirms it. A
    /// confirmed booking comes back as it is; an ended hold cannot be paid;
    /// a refused card leaves the hold for another card.
    pub async fn pay(&self, booking: Booking, card: Option<v1::Card>) -> Result<Booking, Status> {
        match booking.status {
            BookingStatus::Confirmed { .. } => Ok(booking),
            BookingStatus::Released { .. } | BookingStatus::Cancelled { .. } => {
                Err(hold_ended(&booking))
            }
            BookingStatus::Held { .. } => {
                let card = match booking.total_cents {
                    0 => v1::Card::default(),
                    _ => require_card(card.as_ref(), &booking)?.clone(),
                };
                if booking.total_cents > 0 {
                    check_card(&card)?;
                    if !self.attach_card(&booking, &card).await? {
                        return self.first_charge(&booking).await;
                    }
                }
                self.charge_and_confirm(booking, &card, OnRefusal::KeepHold)
                    .await
            }
        }
    }

    /// Charges `card` for a held `booking` and confirms it.
    ///
    /// A declined card releases the hold (FAILED_PRECONDITION). A card the
    /// payment service refuses as malformed (INVALID_ARGUMENT) releases it
    /// or keeps it, as `on_refusal` says. A charge whose outcome stays
    /// unknown leaves the hold in place (UNAVAILABLE): a retry charges under
    /// the same key, and the leader's coordinator settles it if nobody
    /// retries.
    async fn charge_and_confirm(
        &self,
        booking: Booking,
        card: &v1::Card,
        on_refusal: OnRefusal,
    ) -> Result<Booking, Status> {
        let BookingStatus::Held { expires_at } = booking.status else {
            return Err(Status::internal(format!(
                "booking {} is not held",
                booking.id
            )));
        };
        let order = booking
            .order
            .clone()
            .ok_or_else(|| Status::internal(format!("held booking {} has no order", booking.id)))?;
        if booking.total_cents == 0 {
            return self.confirm(&booking, &order, None).await;
        }
        crash::point(crash::AFTER_HOLD);
        let left = u64::try_from(expires_at.0.saturating_sub(now_ms())).unwrap_or(0);
        if left == 0 {
            // Charging now could only lead to a refund.
            return Err(Status::failed_precondition(format!(
                "the hold on booking {} has ended; any charge made for it is refunded in full: \
                 hold the seats again",
                booking.id
            )));
        }
        let budget = self.settings().charge_timeout_ms.min(left);
        let deadline = Instant::now() + Duration::from_millis(budget);
        let mut backoff = FIRST_BACKOFF;
        let charged = loop {
            match self.payments.charge(&booking, &order, card).await {
                Err(status) if outcome_unknown(&status) && Instant::now() + backoff < deadline => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                other => break other,
            }
        };
        let tx = match charged {
            Ok(tx) => tx,
            Err(status) if outcome_unknown(&status) => {
                return Err(Status::unavailable(format!(
                    "the payment's outcome is unknown ({}); booking {} stays held until {} ms: \
                     retry the same request (it never charges twice), or leave it: it is \
                     settled automatically (confirmed, or released with any charge refunded)",
                    status.message(),
                    booking.id,
                    expires_at.0
                )));
            }
            Err(status) if status.code() == Code::InvalidArgument => {
                if on_refusal == OnRefusal::Release {
                    self.release(&booking, &order).await;
                }
                return Err(Status::invalid_argument(format!(
                    "card refused: {}",
                    status.message()
                )));
            }
            Err(status) if status.code() == Code::FailedPrecondition => {
                // The order's key is taken (another card's charge, perhaps
                // one whose reply was lost) or voided: whatever stands
                // under it decides.
                match self.payments.find(&order).await {
                    Ok(Some(tx)) if tx_status(&tx) == v1::TransactionStatus::Succeeded => tx,
                    _ => {
                        return Err(Status::failed_precondition(format!(
                            "payment refused for booking {}: {}",
                            booking.id,
                            status.message()
                        )));
                    }
                }
            }
            Err(status) => return Err(status),
        };
        match tx_status(&tx) {
            v1::TransactionStatus::Succeeded => {
                crash::point(crash::AFTER_CHARGE);
                let id = TransactionId(tx.transaction_id);
                self.confirm(&booking, &order, Some(id)).await
            }
            v1::TransactionStatus::Declined => {
                self.release(&booking, &order).await;
                Err(Status::failed_precondition(format!(
                    "payment declined: {}; nothing was charged and the seats were released",
                    tx.decline_reason
                )))
            }
            _ => Err(Status::failed_precondition(format!(
                "the payment of booking {} was refunded: its hold ended; hold the seats again",
                booking.id
            ))),
        }
    }

    /// Confirms `booking`, paid by `tx` (or free).
    async fn confirm(
        &self,
        booking: &Booking,
        order: &OrderId,
        tx: Option<TransactionId>,
    ) -> Result<Booking, Status> {
        let command = Command::Confirm {
            booking: booking.id,
            transaction: tx.clone(),
        };
        let outcome = submit_trusted(&self.replica, step_id("confirm", order), command).await;
        match outcome {
            Ok(Ok(Effect::Booking(confirmed))) => Ok(confirmed),
            Ok(Ok(other)) => Err(Status::internal(format!("unexpected effect {other:?}"))),
            // A confirmation is not remembered for dedup (it is idempotent
            // by the state), so one retried after the customer cancelled
            // the booking finds it cancelled: say so, not "hold ended".
            Ok(Err(Rejection::WrongStatus { status, .. })) if status == "cancelled" => {
                info!(booking = %booking.id, ?tx, "payment confirmed for a cancelled booking");
                Err(Status::failed_precondition(format!(
                    "booking {} is cancelled; any charge made for it is refunded in full",
                    booking.id
                )))
            }
            Ok(Err(Rejection::HoldExpired(_) | Rejection::WrongStatus { .. })) => {
                info!(booking = %booking.id, ?tx, "payment arrived after the hold ended");
                Err(Status::failed_precondition(format!(
                    "the hold on booking {} ended before the payment completed; the charge is \
                     refunded automatically",
                    booking.id
                )))
            }
            Ok(Err(rejection)) => Err(convert::rejection_status(&rejection)),
            Err(status) => Err(Status::unavailable(format!(
                "the payment succeeded but booking {} could not be confirmed yet ({}); it is \
                 confirmed automatically (or refunded in full if its hold ends first): retry the \
                 same request to see it",
                booking.id,
                status.message()
            ))),
        }
    }

    /// Releases a held booking whose payment failed (or that has nothing to
    /// pay with); the coordinator then
    /// settles it (voids the key). Best effort: a hold that stays expires.
    async fn release(&self, booking: &Booking, order: &OrderId) {
        let command = Command::Release {
            booking: booking.id,
        };
        match submit_trusted(&self.replica, step_id("release", order), command).await {
            Ok(Ok(_) | Err(Rejection::WrongStatus { .. })) => {}
            Ok(Err(rejection)) => warn!(booking = %booking.id, %rejection, "release refused"),
            Err(status) => {
                warn!(booking = %booking.id, %status, "release not committed; the hold expires instead")
            }
        }
    }

    /// Refunds a booking whose charge is due for a refund and records it.
    /// Any other booking comes back unchanged.
    pub async fn refund(&self, booking: Booking) -> Result<Booking, Status> {
        refund(&self.replica, &self.payments, booking).await
    }
}

/// Refunds `booking`'s due charge and records the refund; any other booking
/// comes back unchanged. Shared by the edge (right after a cancel) and the
/// coordinator (for refunds still due).
///
/// What is refunded is the booking's own price (`total_cents`), not the
/// whole charge: after a partial return, a booking is one part of its
/// order's charge. The refund is keyed by the booking ([`refund_key`]), so
/// a retry here or by another leader refunds it once. A booking of no
/// price has no part of a charge to refund (it cannot be `RefundDue`
/// today): its refund is recorded without calling the payment service,
/// whose amount 0 would mean the whole charge.
///
/// One refund of a booking runs at a time on a node, and it starts from
/// the booking as the local replica shows it then: whoever comes second
/// (the coordinator after the edge, or the other way round) finds it
/// recorded and calls nothing. Across nodes the key keeps it once.
pub async fn refund(
    replica: &ReplicaPort,
    payments: &Payments,
    booking: Booking,
) -> Result<Booking, Status> {
    if !matches!(booking.payment, Payment::RefundDue(_)) {
        return Ok(booking);
    }
    let _refunding = payments.refunding(booking.id).await;
    // Linearizable: a follower's replica may not show the refund due yet.
    let booking = replica
        .read(false, |state| state.booking(booking.id))
        .await?
        .unwrap_or(booking);
    let (Payment::RefundDue(tx), Some(order)) = (&booking.payment, &booking.order) else {
        return Ok(booking);
    };
    if booking.total_cents > 0 {
        let refunded = payments
            .refund(tx, booking.total_cents, &refund_key(booking.id))
            .await?;
        info!(
            booking = %booking.id,
            tx = %refunded.transaction_id,
            amount_cents = booking.total_cents,
            refunded_cents = refunded.refunded_cents,
            charged_cents = refunded.amount_cents,
            "refunded"
        );
        crash::point(crash::AFTER_REFUND);
    } else {
        warn!(booking = %booking.id, tx = %tx, total_cents = booking.total_cents, "a refund due for a booking of no price: recorded, nothing refunded");
    }
    let command = Command::RecordRefund {
        booking: booking.id,
    };
    match submit_trusted(replica, refund_step_id(order, booking.id), command).await? {
        Ok(Effect::Booking(recorded)) => Ok(recorded),
        Ok(other) => Err(Status::internal(format!("unexpected effect {other:?}"))),
        Err(rejection) => Err(convert::rejection_status(&rejection)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refund_step_is_per_booking_and_fits_a_request_id() {
        let order = new_order_id();
        let first = refund_step_id(&order, BookingId(1));
        assert_eq!(first.as_str(), format!("sys:refund:{order}:1"));
        assert_ne!(first, refund_step_id(&order, BookingId(2)));
        let largest = refund_step_id(&order, BookingId(10u64.pow(16) - 1));
        assert!(
            largest.as_str().len() <= boxoffice_core::MAX_ID_LEN,
            "{largest}"
        );
        assert_eq!(refund_key(BookingId(42)), "booking:42");
    }
}
