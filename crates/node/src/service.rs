//! The public `boxoffice.v1.BookingService`.
//!
//! Writes: authenticate the caller from their bearer token, build a
//! [`Command`] on their behalf, validate it here (malformed input never
//! reaches the log), propose it through Raft from whichever node received
//! it, and translate the applied outcome; the state machine checks the
//! session is still valid and the caller may do it. Reads: pass the read
//! barrier (unless the caller asked for a stale read), then read the local
//! replica. Listing shows and seats needs no account.
//!
//! When the cluster takes payments (`payment.endpoint` is set), booking is
//! a checkout: hold the seats for a fresh order, then pay through
//! [`crate::checkout`], in one call (`BookSeats` with a card) or two
//! (`HoldSeats`, then `PayBooking`); cancelling a paid booking refunds it.
//! Without payments, `BookSeats` confirms at once.

use std::sync::Arc;

use boxoffice_core::{
    Booking, BookingId, BookingStatus, Caller, Command, Effect, OrderId, Outcome, Rejection,
    Request, RequestId, SeatNo, Show, ShowId, State, Timestamp, check_id,
};
use boxoffice_proto::convert;
use boxoffice_proto::v1;
use boxoffice_proto::v1::booking_service_server::BookingService;
use boxoffice_raft::{RaftNode, Unavailable};
use tonic::{Response, Status};

use crate::app::BookingApp;
use crate::checkout::Checkout;
use crate::config::BookingSettings;
use boxoffice_auth::authenticator::Authenticator;
use boxoffice_auth::throttle::address_key;

/// Seats per page of a seat map when the client does not say.
pub const DEFAULT_SEAT_PAGE: u32 = 500;
/// Largest seat page a client may ask for.
pub const MAX_SEAT_PAGE: u32 = 5_000;

/// No leader in time: UNAVAILABLE. Retrying is safe: writes are
/// deduplicated by request id, membership changes are idempotent.
pub fn unavailable_status(e: &Unavailable) -> Status {
    Status::unavailable(format!("{e}; retrying is safe"))
}

/// This node's replica, as the gRPC services use it: replicated writes
/// and reads at the freshness asked for.
#[derive(Clone)]
pub struct Replica {
    node: Arc<RaftNode<BookingApp>>,
}

impl Replica {
    /// The replica of `node`.
    pub fn new(node: Arc<RaftNode<BookingApp>>) -> Self {
        Self { node }
    }

    /// Validates `request`, replicates it from whichever node this is and
    /// returns its outcome once applied. Only an unreachable leader or an
    /// internal fault is a status; rejections are outcomes.
    pub async fn submit(&self, request: Request) -> Result<Outcome, Status> {
        if let Err(rejection) = request.validate() {
            return Ok(Err(rejection));
        }
        let encoded =
            postcard::to_allocvec(&request).map_err(|e| Status::internal(e.to_string()))?;
        let reply = self
            .node
            .propose(encoded)
            .await
            .map_err(|e| unavailable_status(&e))?;
        postcard::from_bytes(&reply)
            .map_err(|e| Status::internal(format!("undecodable outcome: {e}")))
    }

    /// Runs `f` on the local replica, after the read barrier unless `stale`.
    pub async fn read<T>(&self, stale: bool, f: impl FnOnce(&State) -> T) -> Result<T, Status> {
        if !stale && !crate::crash::unsafe_stale_reads() {
            self.node
                .read_barrier()
                .await
                .map_err(|e| unavailable_status(&e))?;
        }
        let guard = self.node.state().read();
        Ok(f(&guard.app.0))
    }
}

/// The booking API of one node.
pub struct BookingApi {
    replica: Replica,
    auth: Arc<Authenticator>,
    max_seats_per_user: u32,
    /// The anti-hoarding limits of every customer hold.
    hold_limits: boxoffice_core::HoldLimits,
    /// The checkout, when the cluster takes payments.
    checkout: Option<Checkout>,
    /// Turns true when the node shuts down: open `WatchShow` streams end.
    closing: tokio::sync::watch::Receiver<bool>,
    /// The open `WatchShow` streams, counted per node and per client.
    watchers: Arc<crate::watch::Watchers>,
    /// Each account's write rate to this node.
    pace: crate::pace::Pace,
}

/// A fresh, unguessable order id.
fn new_order_id() -> OrderId {
    OrderId(format!("ord_{}", uuid::Uuid::new_v4().simple()))
}

/// A booking id from a request, checked.
fn booking_id(raw: &str) -> Result<BookingId, Status> {
    check_id("booking_id", raw).map_err(|r| convert::rejection_status(&r))?;
    raw.parse()
        .map_err(|_| Status::invalid_argument(format!("booking_id {raw:?} is not a booking id")))
}

/// Bookings in a ListBookings page when the request names no size.
pub const DEFAULT_BOOKINGS_PAGE: usize = 500;
/// The largest ListBookings page (about 200 bytes a booking on the wire).
pub const MAX_BOOKINGS_PAGE: usize = 1000;

/// Why a booking whose hold has ended cannot be paid.
fn hold_ended(booking: &Booking) -> Status {
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
fn check_card(card: &v1::Card) -> Result<(), Status> {
    let today = boxoffice_payment::cards::year_month(boxoffice_raft::proposer::now_ms());
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

impl BookingApi {
    /// The API served by `replica` under the rules of `settings`;
    /// `checkout` is `None` when the cluster takes no payments.
    pub fn new(
        replica: Replica,
        auth: Arc<Authenticator>,
        settings: &BookingSettings,
        checkout: Option<Checkout>,
        closing: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        Self {
            replica,
            auth,
            max_seats_per_user: settings.max_seats_per_user_per_show,
            hold_limits: settings.hold_limits(),
            checkout,
            closing,
            watchers: Arc::new(crate::watch::Watchers::new(settings)),
            pace: crate::pace::Pace::new(settings),
        }
    }

    /// Whether this cluster takes payments (bookings are checkouts).
    pub fn takes_payments(&self) -> bool {
        self.checkout.is_some()
    }

    /// The checkout, or FAILED_PRECONDITION if this cluster takes no payments.
    fn checkout(&self) -> Result<&Checkout, Status> {
        self.checkout.as_ref().ok_or_else(|| {
            Status::failed_precondition(
                "this cluster takes no payments (payment.endpoint is not set): book with \
                 BookSeats and no card",
            )
        })
    }

    /// Commits a hold of `seats` for `caller` lasting `ttl_ms`, for a fresh
    /// order. Also says whether the hold is new: a retried request id gets
    /// the booking as it was first held (with its first order id), which
    /// may since have been paid or released.
    async fn hold(
        &self,
        caller: Caller,
        request_id: String,
        show: String,
        seats: Vec<u32>,
        ttl_ms: i64,
    ) -> Result<(Booking, bool), Status> {
        let order = new_order_id();
        let command = Command::Hold {
            order: order.clone(),
            show: ShowId(show),
            seats: seats.into_iter().map(SeatNo).collect(),
            user: caller.user.clone(),
            ttl_ms,
            max_seats_per_user: self.max_seats_per_user,
            limits: self.hold_limits,
        };
        match self.write(caller, request_id, command).await? {
            Effect::Booking(booking) => {
                let new = booking.order.as_ref() == Some(&order);
                Ok((booking, new))
            }
            other => Err(Status::internal(format!("unexpected effect {other:?}"))),
        }
    }

    /// The one-call checkout: hold, pay, confirm. A retry under the same
    /// request id finds the same booking and carries on from where it is.
    async fn book_and_pay(
        &self,
        checkout: &Checkout,
        caller: Caller,
        r: v1::BookSeatsRequest,
    ) -> Result<Booking, Status> {
        match &r.card {
            Some(card) => check_card(card)?,
            None => {
                // Refuse before holding when the show (as this replica
                // knows it) costs something; the check after the hold
                // covers a price that changed since.
                let id = ShowId(r.show_id.clone());
                let price = self
                    .replica
                    .read(true, |s| s.show(&id).map(|s| s.price_cents));
                if let Some(price) = price.await?.filter(|price| *price > 0) {
                    return Err(Status::invalid_argument(format!(
                        "card is required: show {id} costs {price} cents per seat"
                    )));
                }
            }
        }
        let ttl_ms = checkout.settings().checkout_hold_ms;
        let (held, new) = self
            .hold(caller, r.request_id, r.show_id, r.seat_nos, ttl_ms)
            .await?;
        // A retry's hold outcome is the one first recorded: carry on from
        // where the booking is now (a fresh hold needs no second look).
        let booking = if new {
            held
        } else {
            self.read(None, |s| s.booking(held.id))
                .await?
                .unwrap_or(held)
        };
        match booking.status {
            BookingStatus::Held { .. } => {
                if booking.total_cents > 0
                    && let Err(status) = require_card(r.card.as_ref(), &booking)
                {
                    // Nothing to pay with: give the seats back at once.
                    let unpaid = Command::Release {
                        booking: booking.id,
                    };
                    if let Some(order) = &booking.order {
                        let id = crate::checkout::step_id("release", order);
                        let _ = crate::checkout::system(&self.replica, id, unpaid).await;
                    }
                    return Err(status);
                }
                let card = r.card.unwrap_or_default();
                checkout.pay(booking, &card, true).await
            }
            BookingStatus::Confirmed { .. } => Ok(booking),
            BookingStatus::Released { .. } | BookingStatus::Cancelled { .. } => {
                Err(hold_ended(&booking))
            }
        }
    }

    /// Replicates `command` on behalf of `caller`; returns its effect or
    /// the rejection as a status. An empty request id gets a fresh one.
    /// Paced per account first ([`crate::pace`]).
    async fn write(
        &self,
        caller: Caller,
        request_id: String,
        command: Command,
    ) -> Result<Effect, Status> {
        self.pace(&caller).await?;
        let request_id = if request_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            request_id
        };
        let request = Request {
            request_id: RequestId(request_id),
            caller: Some(caller),
            command,
        };
        self.replica
            .submit(request)
            .await?
            .map_err(|r| convert::rejection_status(&r))
    }

    /// Counts a write (or a payment attempt) of `caller` against its
    /// account's pace ([`crate::pace`]). The session is checked first, on
    /// this replica (stale is enough: the state machine checks it again),
    /// so a revoked token cannot spend its account's budget and lock its
    /// owner out. Administrators are never paced.
    async fn pace(&self, caller: &Caller) -> Result<(), Status> {
        if !self.pace.enabled() {
            return Ok(());
        }
        let admin = self
            .replica
            .read(true, |s| s.authenticate(caller).map(|user| user.admin))
            .await?
            .map_err(|r| convert::rejection_status(&r))?;
        if admin {
            return Ok(());
        }
        self.pace.check(&caller.user).map_err(crate::pace::too_fast)
    }

    /// Runs `f` on the local replica once the read is as fresh as `read` asks.
    async fn read<T>(
        &self,
        read: Option<v1::ReadOptions>,
        f: impl FnOnce(&State) -> T,
    ) -> Result<T, Status> {
        let stale = read.is_some_and(|r| r.consistency() == v1::Consistency::Stale);
        self.replica.read(stale, f).await
    }
}

fn show_effect(effect: Effect) -> Result<v1::Show, Status> {
    match effect {
        Effect::Show(s) => Ok(convert::show(&s)),
        other => Err(Status::internal(format!("unexpected effect {other:?}"))),
    }
}

fn booking_effect(effect: Effect) -> Result<v1::Booking, Status> {
    match effect {
        Effect::Booking(b) => Ok(convert::booking(&b)),
        other => Err(Status::internal(format!("unexpected effect {other:?}"))),
    }
}

/// A show id from a read request, checked like a command's would be (reads
/// never pass through `Command::validate`).
fn show_id(raw: String) -> Result<ShowId, Status> {
    check_id("show", &raw).map_err(|r| convert::rejection_status(&r))?;
    Ok(ShowId(raw))
}

/// The show, or the NOT_FOUND status every path gives for it.
fn find_show<'s>(state: &'s State, id: &ShowId) -> Result<&'s Show, Status> {
    state
        .show(id)
        .ok_or_else(|| convert::rejection_status(&Rejection::ShowNotFound(id.clone())))
}

#[tonic::async_trait]
impl BookingService for BookingApi {
    async fn create_show(
        &self,
        req: tonic::Request<v1::CreateShowRequest>,
    ) -> Result<Response<v1::CreateShowResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        let command = Command::CreateShow {
            show: ShowId(r.show_id),
            title: r.title,
            seat_count: r.seat_count,
            price_cents: r.price_cents,
            starts_at: Timestamp(r.starts_at_ms),
        };
        let show = show_effect(self.write(caller, r.request_id, command).await?)?;
        Ok(Response::new(v1::CreateShowResponse { show: Some(show) }))
    }

    async fn update_show(
        &self,
        req: tonic::Request<v1::UpdateShowRequest>,
    ) -> Result<Response<v1::UpdateShowResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        let command = Command::UpdateShow {
            show: ShowId(r.show_id),
            title: r.title,
            seat_count: r.seat_count,
            price_cents: r.price_cents,
            starts_at: r.starts_at_ms.map(Timestamp),
        };
        let show = show_effect(self.write(caller, r.request_id, command).await?)?;
        Ok(Response::new(v1::UpdateShowResponse { show: Some(show) }))
    }

    async fn list_shows(
        &self,
        req: tonic::Request<v1::ListShowsRequest>,
    ) -> Result<Response<v1::ListShowsResponse>, Status> {
        let shows = self
            .read(req.into_inner().read, |s| {
                s.shows().map(|s| convert::show(&s.summary())).collect()
            })
            .await?;
        Ok(Response::new(v1::ListShowsResponse { shows }))
    }

    async fn get_show(
        &self,
        req: tonic::Request<v1::GetShowRequest>,
    ) -> Result<Response<v1::GetShowResponse>, Status> {
        let r = req.into_inner();
        let page_size = match r.page_size {
            0 => DEFAULT_SEAT_PAGE,
            n if n > MAX_SEAT_PAGE => {
                return Err(Status::invalid_argument(format!(
                    "page_size {n} is above the maximum of {MAX_SEAT_PAGE}"
                )));
            }
            n => n,
        };
        let first = r.page_token.max(1);
        let id = show_id(r.show_id)?;
        self.read(r.read, |state| {
            let show = find_show(state, &id)?;
            let count = show.seat_count();
            if first > count {
                return Err(Status::invalid_argument(format!(
                    "page_token {first} is past the last seat ({count})"
                )));
            }
            let last = first.saturating_add(page_size - 1).min(count);
            let seats = (first..=last)
                .filter_map(|n| show.seat(SeatNo(n)).map(|s| convert::seat(SeatNo(n), s)))
                .collect();
            let next_page_token = if last < count { last + 1 } else { 0 };
            Ok(Response::new(v1::GetShowResponse {
                show: Some(convert::show(&show.summary())),
                seats,
                next_page_token,
            }))
        })
        .await?
    }

    async fn get_seat(
        &self,
        req: tonic::Request<v1::GetSeatRequest>,
    ) -> Result<Response<v1::GetSeatResponse>, Status> {
        let r = req.into_inner();
        let id = show_id(r.show_id)?;
        if r.seat_no == 0 {
            return Err(Status::invalid_argument("seat_no must be at least 1"));
        }
        self.read(r.read, |state| {
            let show = find_show(state, &id)?;
            let seat = show.seat(SeatNo(r.seat_no)).ok_or_else(|| {
                convert::rejection_status(&Rejection::NoSuchSeat {
                    show: id.clone(),
                    seat: SeatNo(r.seat_no),
                    seat_count: show.seat_count(),
                })
            })?;
            Ok(Response::new(v1::GetSeatResponse {
                seat: Some(convert::seat(SeatNo(r.seat_no), seat)),
                price_cents: show.price_cents,
            }))
        })
        .await?
    }

    async fn book_seats(
        &self,
        req: tonic::Request<v1::BookSeatsRequest>,
    ) -> Result<Response<v1::BookSeatsResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        if let Some(checkout) = &self.checkout {
            let booking = self.book_and_pay(checkout, caller, r).await?;
            return Ok(Response::new(v1::BookSeatsResponse {
                booking: Some(convert::booking(&booking)),
            }));
        }
        if r.card.is_some() {
            return Err(self
                .checkout()
                .err()
                .unwrap_or_else(|| Status::internal("unreachable")));
        }
        let command = Command::Book {
            show: ShowId(r.show_id),
            seats: r.seat_nos.into_iter().map(SeatNo).collect(),
            user: caller.user.clone(),
            max_seats_per_user: self.max_seats_per_user,
        };
        let booking = booking_effect(self.write(caller, r.request_id, command).await?)?;
        Ok(Response::new(v1::BookSeatsResponse {
            booking: Some(booking),
        }))
    }

    async fn hold_seats(
        &self,
        req: tonic::Request<v1::HoldSeatsRequest>,
    ) -> Result<Response<v1::HoldSeatsResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let ttl_ms = self.checkout()?.settings().hold_ms;
        let r = req.into_inner();
        let (booking, _) = self
            .hold(caller, r.request_id, r.show_id, r.seat_nos, ttl_ms)
            .await?;
        Ok(Response::new(v1::HoldSeatsResponse {
            booking: Some(convert::booking(&booking)),
        }))
    }

    async fn pay_booking(
        &self,
        req: tonic::Request<v1::PayBookingRequest>,
    ) -> Result<Response<v1::PayBookingResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let checkout = self.checkout()?;
        // Every attempt calls the payment provider: paced like a write.
        self.pace(&caller).await?;
        let r = req.into_inner();
        let id = booking_id(&r.booking_id)?;
        let booking = self
            .read(None, |s| {
                s.authenticate(&caller)?;
                s.booking(id)
                    .filter(|b| b.user == caller.user)
                    .ok_or(Rejection::BookingNotFound(id))
            })
            .await?
            .map_err(|r| convert::rejection_status(&r))?;
        let booking = match booking.status {
            BookingStatus::Confirmed { .. } => booking,
            BookingStatus::Released { .. } | BookingStatus::Cancelled { .. } => {
                return Err(hold_ended(&booking));
            }
            BookingStatus::Held { .. } => {
                let card = match booking.total_cents {
                    0 => v1::Card::default(),
                    _ => require_card(r.card.as_ref(), &booking)?.clone(),
                };
                if booking.total_cents > 0 {
                    check_card(&card)?;
                }
                checkout.pay(booking, &card, false).await?
            }
        };
        Ok(Response::new(v1::PayBookingResponse {
            booking: Some(convert::booking(&booking)),
        }))
    }

    async fn list_bookings(
        &self,
        req: tonic::Request<v1::ListBookingsRequest>,
    ) -> Result<Response<v1::ListBookingsResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        let limit = match r.page_size {
            0 => DEFAULT_BOOKINGS_PAGE,
            n if n as usize > MAX_BOOKINGS_PAGE => {
                return Err(Status::invalid_argument(format!(
                    "page_size {n} is over the limit of {MAX_BOOKINGS_PAGE}"
                )));
            }
            n => n as usize,
        };
        let before = match r.page_token.as_str() {
            "" => None,
            token => Some(token.parse::<BookingId>().map_err(|_| {
                Status::invalid_argument(format!(
                    "page_token {token:?} is not one this service gave"
                ))
            })?),
        };
        let bookings: Vec<v1::Booking> = self
            .read(r.read, |s| {
                // A revoked session sees nothing, on every node.
                s.authenticate(&caller)?;
                Ok(s.bookings_page(&caller.user, before, limit)
                    .map(|b| convert::booking(&b))
                    .collect())
            })
            .await?
            .map_err(|r: Rejection| convert::rejection_status(&r))?;
        let next_page_token = match bookings.last() {
            Some(last) if bookings.len() == limit => last.booking_id.clone(),
            _ => String::new(),
        };
        Ok(Response::new(v1::ListBookingsResponse {
            bookings,
            next_page_token,
        }))
    }

    async fn cancel_booking(
        &self,
        req: tonic::Request<v1::CancelBookingRequest>,
    ) -> Result<Response<v1::CancelBookingResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        let booking = booking_id(&r.booking_id)?;
        let command = Command::Cancel {
            booking,
            user: caller.user.clone(),
        };
        let booking = match self.write(caller, r.request_id, command).await? {
            Effect::Booking(booking) => booking,
            other => return Err(Status::internal(format!("unexpected effect {other:?}"))),
        };
        // Refund at once if possible; if not, the leader's coordinator will.
        let booking = match &self.checkout {
            Some(checkout) => match checkout.refund(booking.clone()).await {
                Ok(refunded) => refunded,
                Err(status) => {
                    tracing::info!(booking = %booking.id, %status, "refund deferred to the coordinator");
                    booking
                }
            },
            None => booking,
        };
        Ok(Response::new(v1::CancelBookingResponse {
            booking: Some(convert::booking(&booking)),
        }))
    }

    type WatchShowStream = crate::watch::ShowUpdates;

    async fn watch_show(
        &self,
        req: tonic::Request<v1::WatchShowRequest>,
    ) -> Result<Response<Self::WatchShowStream>, Status> {
        let client = req
            .remote_addr()
            .map_or_else(|| "unknown".to_owned(), |a| address_key(a.ip()));
        let id = show_id(req.into_inner().show_id)?;
        let permit = self.watchers.admit(&client)?;
        crate::watch::watch(self.replica.node.clone(), id, self.closing.clone(), permit)
            .map(Response::new)
    }
}
