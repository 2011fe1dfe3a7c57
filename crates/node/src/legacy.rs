//! The old system's `booking.BookingService`, kept on the wire for its
//! clients: a thin adapter over this node's `boxoffice.v1.BookingService`
//! (writes, the checkout saga, authorization) and its replica (reads).
//!
//! Mapping: the session token travels in `user_id` and becomes the bearer
//! token of the v1 call; `correlation_id` is the request id; the legacy
//! test cards become the payment service's test cards
//! (`boxoffice_payment::cards::legacy_card`: `9999` the declined one,
//! anything else the one that pays), so the legacy rule holds while
//! the checkout is the real one. Domain refusals are `success: false` with
//! a plain message ("already reserved" for a taken seat, "payment" for a
//! declined card); only UNAVAILABLE (no leader yet) stays a gRPC error, so
//! that old clients try the next node.

use std::sync::Arc;

use boxoffice_core::{BookingId, Seat, SeatNo, ShowId, State};
use boxoffice_payment::cards::{DECLINED_LEGACY_CARD, legacy_card};
use boxoffice_proto::convert;
use boxoffice_proto::legacy::booking as legacy;
use boxoffice_proto::legacy::booking::booking_service_server::BookingService as LegacyBookingService;
use boxoffice_proto::v1;
use boxoffice_proto::v1::booking_service_server::BookingService;
use tonic::{Code, Request, Response, Status};

use crate::port::ReplicaPort;
use crate::service::{BookingApi, MAX_SEAT_PAGE};

/// Seats per `ListSeats` page when the client does not say.
const DEFAULT_PAGE: i32 = 100;
/// Start time of a show made by `AddShow` (the old contract has none): a year on.
const LEGACY_SHOW_LEAD_MS: i64 = 365 * 24 * 3600 * 1000;

/// The legacy booking service of one node.
pub struct LegacyBooking {
    api: Arc<BookingApi>,
    replica: ReplicaPort,
}

impl LegacyBooking {
    /// The adapter over `api` and its `replica`.
    pub fn new(api: Arc<BookingApi>, replica: ReplicaPort) -> Self {
        Self { api, replica }
    }
}

/// A v1 request carrying the legacy session token as its bearer token.
fn authorized<T>(token: &str, msg: T) -> Request<T> {
    let mut req = Request::new(msg);
    if let Ok(value) = format!("Bearer {}", token.trim()).parse() {
        req.metadata_mut().insert("authorization", value);
    }
    req
}

/// A v1 failure as a legacy message; UNAVAILABLE stays an error so that
/// old clients move on to the next node. A seat someone else has is told
/// by the refusal's reason ([`convert::is_seat_taken`]), never by its text.
fn refusal(status: Status) -> Result<String, Status> {
    let message = status.message().to_owned();
    match status.code() {
        // Old clients move on to the next node only on UNAVAILABLE (or
        // FAILED_PRECONDITION); an answer that did not come in time may
        // still be applied, so it is retried (with the same correlation id).
        Code::Unavailable | Code::DeadlineExceeded => {
            Err(Status::unavailable(status.message().to_owned()))
        }
        Code::Unauthenticated => Ok(format!("invalid session: {message}")),
        Code::FailedPrecondition if convert::is_seat_taken(&status) => {
            Ok(format!("{message} (already reserved)"))
        }
        _ => Ok(message),
    }
}

/// Seat `no` of `show` in the legacy form, as its booker may see it.
fn seat(state: &State, show: &ShowId, no: u32) -> Option<legacy::Seat> {
    let found = state.show(show)?;
    let state_of_seat = found.seat(SeatNo(no))?;
    let taken = match state_of_seat {
        Seat::Available | Seat::HeldBack => None,
        Seat::Held(id) | Seat::Booked(id) => Some(id),
    };
    let booking = taken.and_then(|id: BookingId| state.booking(id));
    Some(legacy::Seat {
        seat_id: i32::try_from(no).unwrap_or(i32::MAX),
        show_id: show.to_string(),
        // A seat held back from sale is not free to old clients either.
        reserved: state_of_seat != Seat::Available,
        reserved_by: booking
            .as_ref()
            .map(|b| b.user.to_string())
            .unwrap_or_default(),
        reserved_at: booking.map(|b| b.created_at.0).unwrap_or_default(),
        booking_id: taken.map(|id| id.to_string()).unwrap_or_default(),
        price_cents: found.price_cents,
    })
}

/// Seat `no` of `show` as anyone may see it: reserved or not, never by
/// whom, since when or under which booking (old clients read seats without
/// logging in).
fn public_seat(state: &State, show: &ShowId, no: u32) -> Option<legacy::Seat> {
    seat(state, show, no).map(|seat| legacy::Seat {
        reserved_by: String::new(),
        reserved_at: 0,
        booking_id: String::new(),
        ..seat
    })
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[tonic::async_trait]
impl LegacyBookingService for LegacyBooking {
    async fn add_show(
        &self,
        req: Request<legacy::AddShowRequest>,
    ) -> Result<Response<legacy::AddShowResponse>, Status> {
        let r = req.into_inner();
        let reply = |success: bool, message: String| {
            Ok(Response::new(legacy::AddShowResponse { success, message }))
        };
        let (Ok(seats), true) = (u32::try_from(r.total_seats), r.total_seats > 0) else {
            return reply(false, "total_seats must be at least 1".into());
        };
        let create = v1::CreateShowRequest {
            request_id: String::new(),
            show_id: r.show_id.clone(),
            title: r.show_id.clone(),
            seat_count: seats,
            price_cents: r.price_cents,
            starts_at_ms: boxoffice_config::clock::now_ms() + LEGACY_SHOW_LEAD_MS,
        };
        let status = match self.api.create_show(authorized(&r.user_id, create)).await {
            Ok(_) => return reply(true, format!("show {} added", r.show_id)),
            Err(status) => status,
        };
        if status.code() != Code::AlreadyExists {
            return reply(false, refusal(status)?);
        }
        let update = v1::UpdateShowRequest {
            request_id: String::new(),
            show_id: r.show_id.clone(),
            title: None,
            seat_count: Some(seats),
            price_cents: Some(r.price_cents),
            starts_at_ms: None,
        };
        match self.api.update_show(authorized(&r.user_id, update)).await {
            Ok(_) => reply(true, format!("show {} updated", r.show_id)),
            Err(status) => reply(false, refusal(status)?),
        }
    }

    async fn list_shows(
        &self,
        _req: Request<legacy::ListShowsRequest>,
    ) -> Result<Response<legacy::ListShowsResponse>, Status> {
        let shows = self
            .api
            .list_shows(Request::new(v1::ListShowsRequest::default()))
            .await?
            .into_inner()
            .shows
            .into_iter()
            .map(|s| legacy::ShowInfo {
                show_id: s.show_id,
                total_seats: count(s.seat_count),
                price_cents: s.price_cents,
                available_seats: count(s.available),
                booked_seats: count(s.booked.saturating_add(s.held)),
            })
            .collect();
        Ok(Response::new(legacy::ListShowsResponse { shows }))
    }

    async fn book_seat(
        &self,
        req: Request<legacy::BookRequest>,
    ) -> Result<Response<legacy::BookResponse>, Status> {
        let network = crate::service::client_network(&req);
        let r = req.into_inner();
        let failed = |message: String| {
            Ok(Response::new(legacy::BookResponse {
                success: false,
                message,
                ..legacy::BookResponse::default()
            }))
        };
        let Ok(seat_no) = u32::try_from(r.seat_id) else {
            return failed(format!(
                "seat {} does not exist: seats start at 1",
                r.seat_id
            ));
        };
        let takes_payments = self.api.takes_payments();
        if !takes_payments && r.payment_token.trim() == DECLINED_LEGACY_CARD {
            return failed("payment declined: card 9999 is refused; nothing was booked".into());
        }
        let book = v1::BookSeatsRequest {
            request_id: r.correlation_id.clone(),
            show_id: r.show_id.clone(),
            seat_nos: vec![seat_no],
            card: takes_payments.then(|| legacy_card(&r.payment_token)),
            ..Default::default()
        };
        let mut call = authorized(&r.user_id, book);
        if let Some(network) = network {
            call.extensions_mut()
                .insert(crate::service::CallerNetwork(network));
        }
        // Every token pays with one test card: not the buyer's card.
        call.extensions_mut().insert(crate::service::StandInCard);
        // Old clients carry no admission token: the state machine checks
        // that a waiting room let them in.
        call.extensions_mut()
            .insert(crate::service::TokenlessAdapter);
        let booking = match self.api.book_seats(call).await {
            Ok(reply) => reply.into_inner().booking.unwrap_or_default(),
            Err(status) => return failed(refusal(status)?),
        };
        let show = ShowId(r.show_id.clone());
        // The seat as it is now: the booker's own details only while it is
        // still this booking's (a retried correlation id can answer for a
        // booking since cancelled and the seat sold to someone else).
        let seat = self
            .replica
            .read(false, |state| {
                seat(state, &show, seat_no)
                    .filter(|seat| seat.booking_id == booking.booking_id)
                    .or_else(|| public_seat(state, &show, seat_no))
            })
            .await?;
        Ok(Response::new(legacy::BookResponse {
            success: true,
            message: format!("seat {seat_no} of {} booked", r.show_id),
            booking_id: booking.booking_id,
            seat,
        }))
    }

    async fn query_seat(
        &self,
        req: Request<legacy::QueryRequest>,
    ) -> Result<Response<legacy::QueryResponse>, Status> {
        let r = req.into_inner();
        let show = ShowId(r.show_id.clone());
        let no = u32::try_from(r.seat_id).unwrap_or(0);
        let found = self
            .replica
            .read(false, |s| public_seat(s, &show, no))
            .await?;
        let seat = found.ok_or_else(|| {
            Status::not_found(format!("show {} has no seat {}", r.show_id, r.seat_id))
        })?;
        Ok(Response::new(legacy::QueryResponse {
            available: !seat.reserved,
            seat: Some(seat),
        }))
    }

    async fn list_seats(
        &self,
        req: Request<legacy::ListSeatsRequest>,
    ) -> Result<Response<legacy::ListSeatsResponse>, Status> {
        let r = req.into_inner();
        let size = match r.page_size {
            0 => DEFAULT_PAGE,
            n if n < 0 || n > i32::try_from(MAX_SEAT_PAGE).unwrap_or(i32::MAX) => {
                return Err(Status::invalid_argument(format!(
                    "page_size must be 1 to {MAX_SEAT_PAGE}"
                )));
            }
            n => n,
        };
        let first = u32::try_from(r.page_token.max(1)).unwrap_or(1);
        let size = u32::try_from(size).unwrap_or(1);
        let show = ShowId(r.show_id.clone());
        let page = self
            .replica
            .read(false, |state| {
                let count = state.show(&show)?.seat_count();
                let last = first.saturating_add(size - 1).min(count);
                let seats: Vec<legacy::Seat> = (first..=last)
                    .filter_map(|no| public_seat(state, &show, no))
                    .collect();
                let next = if last < count { last + 1 } else { 0 };
                Some((seats, next))
            })
            .await?;
        let (seats, next) =
            page.ok_or_else(|| Status::not_found(format!("show {} not found", r.show_id)))?;
        Ok(Response::new(legacy::ListSeatsResponse {
            seats,
            next_page_token: i32::try_from(next).unwrap_or(0),
        }))
    }
}
