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
//! a checkout, run by [`crate::checkout`]: hold the seats for a fresh
//! order, then pay, in one call (`BookSeats` with a card) or two
//! (`HoldSeats`, then `PayBooking`); cancelling a paid booking refunds it.
//! This service authenticates, validates and paces; the saga's steps are
//! all in the checkout.
//! Without payments, `BookSeats` confirms at once.
//!
//! Venues, productions and performances (their management, ticket
//! returns and sales reports) are in the `venues` module.

use std::sync::Arc;

use boxoffice_core::{
    BestRequest, Booking, BookingId, Caller, Command, Effect, Network, Rejection, Request,
    RequestId, SeatNo, Show, ShowId, StandingRequest, State, Tickets, Timestamp, check_id,
};
use boxoffice_proto::convert;
use boxoffice_proto::v1;
use boxoffice_proto::v1::booking_service_server::BookingService;
use tonic::{Response, Status};

use crate::checkout::{self, Checkout};
use crate::config::BookingSettings;
use crate::pace::Budget;
use crate::port::ReplicaPort;
use boxoffice_auth::authenticator::Authenticator;
use boxoffice_auth::throttle::address_key;

mod rooms;
mod tickets;
mod venues;
mod waitlist;

pub use tickets::{TicketDesk, TicketKeyError};

/// Seats per page of a seat map when the client does not say.
pub const DEFAULT_SEAT_PAGE: u32 = 500;
/// Largest seat page a client may ask for.
pub const MAX_SEAT_PAGE: u32 = 5_000;

/// The booking API of one node.
pub struct BookingApi {
    replica: ReplicaPort,
    auth: Arc<Authenticator>,
    max_seats_per_user: u32,
    /// The checkout, when the cluster takes payments.
    checkout: Option<Arc<Checkout>>,
    /// Turns true when the node shuts down: open `WatchShow` streams end.
    closing: tokio::sync::watch::Receiver<bool>,
    /// The open `WatchShow` streams, counted per node and per client.
    watchers: Arc<crate::watch::Watchers>,
    /// Each account's write rate to this node.
    pace: crate::pace::Pace,
    /// This node's ticket signing key.
    tickets: Arc<TicketDesk>,
    /// The waiting `GetWaitingRoom` calls, counted per node and per account.
    room_waits: boxoffice_config::clients::OpenCaps,
    /// How long a waiting list's offer lasts, ms.
    waitlist_offer_ms: i64,
    /// The proof of work a join of a waiting room needs, in bits.
    join_pow_bits: u32,
    /// Joins of waiting rooms that took a place, per network a minute.
    joins: Option<boxoffice_config::windows::WindowCounts<Network>>,
    /// The key of the admission tokens, if the cluster has one.
    admission: Option<crate::admission::AdmissionKey>,
}

/// A booking id from a request, checked.
fn booking_id(raw: &str) -> Result<BookingId, Status> {
    check_id("booking_id", raw).map_err(|r| convert::rejection_status(&r))?;
    raw.parse()
        .map_err(|_| Status::invalid_argument(format!("booking_id {raw:?} is not a booking id")))
}

/// The network a call came from, set by this node's own adapters (the
/// legacy service) on the requests they build for the API: request
/// extensions never cross the wire, so no client can set it.
#[derive(Clone, Copy, Debug)]
pub struct CallerNetwork(pub Network);

/// Marks a call whose card is a stand-in, not the buyer's (the legacy
/// service pays every old client's token with one test card): it does
/// not count against the cap per card. Set only by this node's adapters;
/// extensions never cross the wire.
#[derive(Clone, Copy, Debug)]
pub struct StandInCard;

/// Marks a call made by an adapter of this node for clients that cannot
/// carry an admission token (the legacy service): a waiting room's
/// admission is checked for it by the state machine alone. Set only by
/// this node's adapters; extensions never cross the wire.
#[derive(Clone, Copy, Debug)]
pub struct TokenlessAdapter;

/// The network (IPv4 /24, IPv6 /64) the end user of `req` calls from: the
/// one an adapter of this node recorded; else, when the caller proved
/// with its certificate that it is the gateway (on the peer port), the
/// browser's address it forwards ([`convert::CLIENT_ADDR`]); else the
/// connection's own. Anyone else's forwarded address is ignored.
pub fn client_network<T>(req: &tonic::Request<T>) -> Option<Network> {
    if let Some(CallerNetwork(network)) = req.extensions().get() {
        return Some(*network);
    }
    if boxoffice_tls::Identity::of_request(req) == Some(boxoffice_tls::Identity::Gateway)
        && let Some(ip) = req
            .metadata()
            .get(convert::CLIENT_ADDR)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<std::net::IpAddr>().ok())
    {
        return Some(Network::of(ip));
    }
    req.remote_addr().map(|a| Network::of(a.ip()))
}

/// A request's id, or a fresh one when the request names none.
fn request_id_or_fresh(raw: String) -> RequestId {
    if raw.is_empty() {
        RequestId(uuid::Uuid::new_v4().to_string())
    } else {
        RequestId(raw)
    }
}

/// Bookings in a ListBookings page when the request names no size.
pub const DEFAULT_BOOKINGS_PAGE: usize = 500;
/// The largest ListBookings page (about 200 bytes a booking on the wire).
pub const MAX_BOOKINGS_PAGE: usize = 1000;

impl BookingApi {
    /// The API served by `replica` under the rules of `settings`;
    /// `checkout` is `None` when the cluster takes no payments.
    pub fn new(
        replica: ReplicaPort,
        auth: Arc<Authenticator>,
        settings: &BookingSettings,
        checkout: Option<Arc<Checkout>>,
        closing: tokio::sync::watch::Receiver<bool>,
        tickets: Arc<TicketDesk>,
    ) -> Self {
        Self {
            replica,
            auth,
            max_seats_per_user: settings.max_seats_per_user_per_show,
            checkout,
            closing,
            watchers: Arc::new(crate::watch::Watchers::new(settings)),
            pace: crate::pace::Pace::new(settings),
            tickets,
            room_waits: boxoffice_config::clients::OpenCaps::new(
                usize::try_from(settings.max_room_waits).unwrap_or(usize::MAX),
                crate::config::ROOM_WAITS_PER_USER as usize,
            ),
            waitlist_offer_ms: settings.waitlist_offer_ms,
            join_pow_bits: settings.join_pow_bits,
            joins: (settings.joins_per_network_per_minute > 0).then(|| {
                boxoffice_config::windows::WindowCounts::new(settings.joins_per_network_per_minute)
            }),
            admission: settings
                .admission_key
                .as_ref()
                .and_then(crate::config::SecretKey::bytes)
                .map(crate::admission::AdmissionKey::new),
        }
    }

    /// The answer to a checkout call, marked [`convert::LEADER_ELSEWHERE`]
    /// when the leader is another node (so the call went on to it).
    fn answer<T>(&self, message: T) -> Response<T> {
        let mut response = Response::new(message);
        if let Some((leader, _)) = self.replica.node.leader_elsewhere() {
            response
                .metadata_mut()
                .insert(convert::LEADER_ELSEWHERE, leader.into());
        }
        response
    }

    /// Whether this cluster takes payments (bookings are checkouts).
    pub fn takes_payments(&self) -> bool {
        self.checkout.is_some()
    }

    /// The checkout, or FAILED_PRECONDITION if this cluster takes no payments.
    fn checkout(&self) -> Result<&Checkout, Status> {
        self.checkout.as_deref().ok_or_else(|| {
            Status::failed_precondition(
                "this cluster takes no payments (payment.endpoint is not set): book with \
                 BookSeats and no card",
            )
        })
    }

    /// The one-call checkout (`BookSeats` with payments on): checks the
    /// card (or that the show is free) before anything is held, paces the
    /// caller, then hands the saga to [`Checkout::book`].
    async fn book_and_pay(
        &self,
        checkout: &Checkout,
        caller: Caller,
        network: Option<Network>,
        r: v1::BookSeatsRequest,
        card_counted: bool,
    ) -> Result<Booking, Status> {
        match &r.card {
            Some(card) => checkout::check_card(card)?,
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
        self.pace(&caller, Budget::Write).await?;
        let card = r.card.clone();
        let request_id = request_id_or_fresh(r.request_id.clone());
        let (show, seats, tickets) = self.wanted(Wanted::from(r)).await?;
        checkout
            .book(
                caller,
                network,
                request_id,
                show,
                seats,
                tickets,
                card,
                card_counted,
            )
            .await
    }

    /// The seats and tickets a hold or a booking asks for: its seat
    /// numbers, then its seats by label (resolved against the venue of the
    /// show on this replica, after a read barrier: a label that does not
    /// exist is INVALID_ARGUMENT naming it), with their ticket types, its
    /// standing places and its best-available pick. Everything else (the
    /// types, areas and categories exist, the prices) is checked by the
    /// state machine.
    async fn wanted(&self, w: Wanted) -> Result<(ShowId, Vec<SeatNo>, Tickets), Status> {
        let show = ShowId(w.show_id);
        let mut seats: Vec<SeatNo> = w.seat_nos.into_iter().map(SeatNo).collect();
        if !w.seat_labels.is_empty() {
            check_id("show", &show.0).map_err(|r| convert::rejection_status(&r))?;
            let labels = w.seat_labels;
            let found = self
                .replica
                .read(false, |state| {
                    let s = find_show(state, &show)?;
                    let layout = state
                        .layout_of(s)
                        .ok_or_else(|| Status::internal(format!("{show} has no layout")))?;
                    labels
                        .iter()
                        .map(|label| {
                            if s.performance.is_none() {
                                // A simple show's seats are labelled by number.
                                return label
                                    .trim()
                                    .parse()
                                    .ok()
                                    .filter(|&no| no >= 1 && no <= s.seat_count())
                                    .map(SeatNo)
                                    .ok_or_else(|| {
                                        Status::invalid_argument(format!(
                                            "seat_labels: {show} has no seat {label:?}"
                                        ))
                                    });
                            }
                            layout.find(label).map_err(|why| {
                                Status::invalid_argument(format!("seat_labels: {why}"))
                            })
                        })
                        .collect::<Result<Vec<_>, Status>>()
                })
                .await??;
            seats.extend(found);
        }
        let tickets = Tickets {
            types: w.ticket_types,
            standing: w
                .standing
                .into_iter()
                .map(|s| StandingRequest {
                    area: s.area,
                    count: s.count,
                    ticket_type: s.ticket_type,
                })
                .collect(),
            best: w.best.map(|b| BestRequest {
                count: b.count,
                category: b.category,
                ticket_type: b.ticket_type,
                wheelchair: b.wheelchair,
            }),
        };
        Ok((show, seats, tickets))
    }

    /// `b` as the API shows it, with its tickets' labels and types from
    /// this replica (stale is enough: venues and prices never change).
    async fn present(&self, b: &Booking) -> Result<v1::Booking, Status> {
        self.replica
            .read(true, |state| convert::booking_in(state, b))
            .await
    }

    /// Replicates `command` on behalf of `caller`; returns its effect or
    /// the rejection as a status. An empty request id gets a fresh one.
    /// Paced per account first ([`crate::pace`]; a door scan from its own
    /// budget).
    async fn write(
        &self,
        caller: Caller,
        request_id: String,
        command: Command,
    ) -> Result<Effect, Status> {
        let budget = match command {
            Command::CheckIn { .. } | Command::CheckOut { .. } => Budget::Scan,
            _ => Budget::Write,
        };
        self.pace(&caller, budget).await?;
        let request = Request {
            request_id: request_id_or_fresh(request_id),
            caller: Some(caller),
            command,
        };
        self.replica.submit_or_status(request).await
    }

    /// Counts a write (or a payment attempt) of `caller` against its
    /// account's pace ([`crate::pace`]). The session is checked first, on
    /// this replica (stale is enough: the state machine checks it again),
    /// so a revoked token cannot spend its account's budget and lock its
    /// owner out. Administrators are never paced.
    async fn pace(&self, caller: &Caller, budget: Budget) -> Result<(), Status> {
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
        self.pace
            .check(budget, &caller.user)
            .map_err(|wait| crate::pace::too_fast(budget, wait))
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

/// What a `HoldSeats` or `BookSeats` asks for, as sent.
struct Wanted {
    show_id: String,
    seat_nos: Vec<u32>,
    seat_labels: Vec<String>,
    ticket_types: Vec<String>,
    standing: Vec<v1::StandingRequest>,
    best: Option<v1::BestRequest>,
}

impl From<v1::BookSeatsRequest> for Wanted {
    fn from(r: v1::BookSeatsRequest) -> Self {
        Self {
            show_id: r.show_id,
            seat_nos: r.seat_nos,
            seat_labels: r.seat_labels,
            ticket_types: r.ticket_types,
            standing: r.standing,
            best: r.best,
        }
    }
}

impl From<v1::HoldSeatsRequest> for Wanted {
    fn from(r: v1::HoldSeatsRequest) -> Self {
        Self {
            show_id: r.show_id,
            seat_nos: r.seat_nos,
            seat_labels: r.seat_labels,
            ticket_types: r.ticket_types,
            standing: r.standing,
            best: r.best,
        }
    }
}

fn show_effect(effect: Effect) -> Result<v1::Show, Status> {
    match effect {
        Effect::Show(s) => Ok(convert::show(&s)),
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
                s.shows().map(|show| convert::show_in(s, show)).collect()
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
            let layout = match state.layout_of(show) {
                Some(plan) => (first..=last)
                    .map(|n| convert::seat_layout(show, &plan, SeatNo(n)))
                    .collect(),
                None => Vec::new(),
            };
            let next_page_token = if last < count { last + 1 } else { 0 };
            Ok(Response::new(v1::GetShowResponse {
                show: Some(convert::show_in(state, show)),
                seats,
                next_page_token,
                prices: Some(convert::price_table(show)),
                layout,
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
        let network = client_network(&req);
        let counted = req.extensions().get::<StandInCard>().is_none();
        let tokenless = req.extensions().get::<TokenlessAdapter>().is_some();
        let r = req.into_inner();
        if !tokenless {
            self.check_admission_token(&caller, &r.show_id, &r.admission_token)
                .await?;
        }
        if let Some(checkout) = &self.checkout {
            let booking = self
                .book_and_pay(checkout, caller, network, r, counted)
                .await?;
            return Ok(self.answer(v1::BookSeatsResponse {
                booking: Some(self.present(&booking).await?),
            }));
        }
        if r.card.is_some() {
            return Err(self
                .checkout()
                .err()
                .unwrap_or_else(|| Status::internal("unreachable")));
        }
        let request_id = r.request_id.clone();
        let (show, seats, tickets) = self.wanted(Wanted::from(r)).await?;
        let command = Command::Book {
            show,
            seats,
            tickets,
            user: caller.user.clone(),
            max_seats_per_user: self.max_seats_per_user,
        };
        let booking = match self.write(caller, request_id, command).await? {
            Effect::Booking(b) => self.present(&b).await?,
            other => return Err(Status::internal(format!("unexpected effect {other:?}"))),
        };
        Ok(self.answer(v1::BookSeatsResponse {
            booking: Some(booking),
        }))
    }

    async fn hold_seats(
        &self,
        req: tonic::Request<v1::HoldSeatsRequest>,
    ) -> Result<Response<v1::HoldSeatsResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let network = client_network(&req);
        let checkout = self.checkout()?;
        let ttl_ms = checkout.settings().hold_ms;
        let r = req.into_inner();
        self.check_admission_token(&caller, &r.show_id, &r.admission_token)
            .await?;
        self.pace(&caller, Budget::Write).await?;
        let request_id = request_id_or_fresh(r.request_id.clone());
        let (show, seats, tickets) = self.wanted(Wanted::from(r)).await?;
        let (booking, _) = checkout
            .hold(caller, network, request_id, show, seats, tickets, ttl_ms)
            .await?;
        Ok(self.answer(v1::HoldSeatsResponse {
            booking: Some(self.present(&booking).await?),
        }))
    }

    async fn pay_booking(
        &self,
        req: tonic::Request<v1::PayBookingRequest>,
    ) -> Result<Response<v1::PayBookingResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let checkout = self.checkout()?;
        // Every attempt calls the payment provider: paced like a write.
        self.pace(&caller, Budget::Write).await?;
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
        let booking = checkout.pay(booking, r.card).await?;
        Ok(self.answer(v1::PayBookingResponse {
            booking: Some(self.present(&booking).await?),
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
                    .map(|b| convert::booking_in(s, &b))
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
            booking: Some(self.present(&booking).await?),
        }))
    }

    async fn create_venue(
        &self,
        req: tonic::Request<v1::CreateVenueRequest>,
    ) -> Result<Response<v1::CreateVenueResponse>, Status> {
        self.create_venue_call(req).await
    }

    async fn list_venues(
        &self,
        req: tonic::Request<v1::ListVenuesRequest>,
    ) -> Result<Response<v1::ListVenuesResponse>, Status> {
        self.list_venues_call(req).await
    }

    async fn get_venue(
        &self,
        req: tonic::Request<v1::GetVenueRequest>,
    ) -> Result<Response<v1::GetVenueResponse>, Status> {
        self.get_venue_call(req).await
    }

    async fn create_production(
        &self,
        req: tonic::Request<v1::CreateProductionRequest>,
    ) -> Result<Response<v1::CreateProductionResponse>, Status> {
        self.create_production_call(req).await
    }

    async fn list_productions(
        &self,
        req: tonic::Request<v1::ListProductionsRequest>,
    ) -> Result<Response<v1::ListProductionsResponse>, Status> {
        self.list_productions_call(req).await
    }

    async fn add_performances(
        &self,
        req: tonic::Request<v1::AddPerformancesRequest>,
    ) -> Result<Response<v1::AddPerformancesResponse>, Status> {
        self.add_performances_call(req).await
    }

    async fn cancel_performance(
        &self,
        req: tonic::Request<v1::CancelPerformanceRequest>,
    ) -> Result<Response<v1::CancelPerformanceResponse>, Status> {
        self.cancel_performance_call(req).await
    }

    async fn hold_back(
        &self,
        req: tonic::Request<v1::HoldBackRequest>,
    ) -> Result<Response<v1::HoldBackResponse>, Status> {
        self.hold_back_call(req).await
    }

    async fn release_held_back(
        &self,
        req: tonic::Request<v1::ReleaseHeldBackRequest>,
    ) -> Result<Response<v1::ReleaseHeldBackResponse>, Status> {
        self.release_held_back_call(req).await
    }

    async fn return_tickets(
        &self,
        req: tonic::Request<v1::ReturnTicketsRequest>,
    ) -> Result<Response<v1::ReturnTicketsResponse>, Status> {
        self.return_tickets_call(req).await
    }

    async fn list_tickets(
        &self,
        req: tonic::Request<v1::ListTicketsRequest>,
    ) -> Result<Response<v1::ListTicketsResponse>, Status> {
        self.list_tickets_call(req).await
    }

    async fn reissue_ticket(
        &self,
        req: tonic::Request<v1::ReissueTicketRequest>,
    ) -> Result<Response<v1::ReissueTicketResponse>, Status> {
        self.reissue_ticket_call(req).await
    }

    async fn check_in(
        &self,
        req: tonic::Request<v1::CheckInRequest>,
    ) -> Result<Response<v1::CheckInResponse>, Status> {
        self.check_in_call(req).await
    }

    async fn transfer_ticket(
        &self,
        req: tonic::Request<v1::TransferTicketRequest>,
    ) -> Result<Response<v1::TransferTicketResponse>, Status> {
        self.transfer_ticket_call(req).await
    }

    async fn set_reentry(
        &self,
        req: tonic::Request<v1::SetReentryRequest>,
    ) -> Result<Response<v1::SetReentryResponse>, Status> {
        self.set_reentry_call(req).await
    }

    async fn set_door_staff(
        &self,
        req: tonic::Request<v1::SetDoorStaffRequest>,
    ) -> Result<Response<v1::SetDoorStaffResponse>, Status> {
        self.set_door_staff_call(req).await
    }

    async fn get_door_list(
        &self,
        req: tonic::Request<v1::GetDoorListRequest>,
    ) -> Result<Response<v1::DoorList>, Status> {
        self.get_door_list_call(req).await
    }

    async fn retire_ticket_key(
        &self,
        req: tonic::Request<v1::RetireTicketKeyRequest>,
    ) -> Result<Response<v1::RetireTicketKeyResponse>, Status> {
        self.retire_ticket_key_call(req).await
    }

    async fn set_waiting_room(
        &self,
        req: tonic::Request<v1::SetWaitingRoomRequest>,
    ) -> Result<Response<v1::WaitingRoomResponse>, Status> {
        self.set_waiting_room_call(req).await
    }

    async fn join_waiting_room(
        &self,
        req: tonic::Request<v1::JoinWaitingRoomRequest>,
    ) -> Result<Response<v1::WaitingRoomResponse>, Status> {
        self.join_waiting_room_call(req).await
    }

    async fn get_waiting_room(
        &self,
        req: tonic::Request<v1::GetWaitingRoomRequest>,
    ) -> Result<Response<v1::WaitingRoomResponse>, Status> {
        self.get_waiting_room_call(req).await
    }

    async fn join_waiting_list(
        &self,
        req: tonic::Request<v1::JoinWaitingListRequest>,
    ) -> Result<Response<v1::WaitingListResponse>, Status> {
        self.join_waiting_list_call(req).await
    }

    async fn leave_waiting_list(
        &self,
        req: tonic::Request<v1::LeaveWaitingListRequest>,
    ) -> Result<Response<v1::WaitingListResponse>, Status> {
        self.leave_waiting_list_call(req).await
    }

    async fn get_waiting_list(
        &self,
        req: tonic::Request<v1::GetWaitingListRequest>,
    ) -> Result<Response<v1::WaitingListResponse>, Status> {
        self.get_waiting_list_call(req).await
    }

    async fn list_ticket_keys(
        &self,
        req: tonic::Request<v1::ListTicketKeysRequest>,
    ) -> Result<Response<v1::ListTicketKeysResponse>, Status> {
        self.list_ticket_keys_call(req).await
    }

    async fn get_sales_report(
        &self,
        req: tonic::Request<v1::GetSalesReportRequest>,
    ) -> Result<Response<v1::GetSalesReportResponse>, Status> {
        self.get_sales_report_call(req).await
    }

    type WatchShowStream = crate::watch::ShowUpdates;

    async fn watch_show(
        &self,
        req: tonic::Request<v1::WatchShowRequest>,
    ) -> Result<Response<Self::WatchShowStream>, Status> {
        let client = req
            .remote_addr()
            .map_or_else(|| "unknown".to_owned(), |a| address_key(a.ip()));
        let gateway =
            boxoffice_tls::Identity::of_request(&req) == Some(boxoffice_tls::Identity::Gateway);
        let id = show_id(req.into_inner().show_id)?;
        let permit = self.watchers.admit(&client, gateway)?;
        crate::watch::watch(self.replica.node.clone(), id, self.closing.clone(), permit)
            .map(Response::new)
    }
}
