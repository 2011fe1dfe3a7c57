//! The Boxoffice client library, with automatic failover.
//!
//! A [`Client`] knows every node's address and offers one typed method per
//! RPC of the booking, cluster, auth and chatbot services. Writes go to the
//! node that last answered; reads are spread over the nodes in turn. When a
//! node is unreachable the call moves on to the next one until one answers
//! or the call's deadline ([`Client::with_deadline`], [`DEFAULT_DEADLINE`]
//! by default) has passed; the error then says which nodes were tried.
//! Writes get a request id before the first attempt and keep it on every
//! retry, so a write whose reply was lost is never applied twice. Domain
//! errors (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...) are final
//! and returned at once. [`Client::take_failover`] tells an interface that
//! the node it used stopped answering.
//!
//! # Modules
//! - this file: the [`Client`] (its nodes, credentials and deadline) and
//!   one short method per RPC, each built on one generic unary helper;
//! - [`failover`]: the engine under every call: the order in which nodes
//!   are tried, which failures are retried and why that is safe, timeouts;
//! - [`booking`]: [`Client::book`], the one booking call, with an optional
//!   request id and card, ticket types, seats by label, standing places
//!   and a best-available pick (sent as a hold with [`BookSeats::hold`]);
//! - [`venues`]: venues, productions, performances, ticket returns and
//!   sales reports;
//! - [`audit`]: reconciliation of bookings against the payment ledger.

#![deny(missing_docs)]

pub mod audit;
pub mod booking;
pub mod failover;
pub mod rooms;
pub mod tickets;
pub mod venues;
pub mod waitlist;

use std::future::Future;
use std::time::Duration;

use boxoffice_proto::v1;
use boxoffice_proto::v1::auth_service_client::AuthServiceClient;
use boxoffice_proto::v1::booking_service_client::BookingServiceClient;
use boxoffice_proto::v1::chatbot_service_client::ChatbotServiceClient;
use boxoffice_proto::v1::cluster_service_client::ClusterServiceClient;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

pub use booking::BookSeats;
pub use boxoffice_proto::v1 as proto;
pub use failover::{ATTEMPT_TIMEOUT, DEFAULT_DEADLINE, EndpointError, MAX_ATTEMPTS, ROUND_BACKOFF};

use failover::{FailoverLog, Nodes, Route};

/// Largest seat page the server serves.
pub const MAX_SEAT_PAGE: u32 = 5_000;
/// Deadline of one attempt of [`Client::status`].
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// Deadline of one attempt of [`Client::add_node`] (the new node catches up
/// before it votes).
const ADD_NODE_TIMEOUT: Duration = Duration::from_secs(60);

/// A failover client for a Boxoffice cluster.
pub struct Client {
    /// The nodes, shared with the clients made by [`Client::for_token`].
    nodes: Nodes,
    /// Bearer token sent with every call, if any.
    token: Option<String>,
    /// The end user's address, sent with every call by a front end acting
    /// for them ([`boxoffice_proto::convert::CLIENT_ADDR`]).
    client_addr: Option<String>,
    /// Deadline of a whole call.
    deadline: Duration,
    /// The last node that failed before another answered, and that other.
    failover: FailoverLog,
    /// The admission tokens the waiting rooms gave this client's user, by
    /// performance ([`rooms`]); holds and bookings carry them.
    admissions: rooms::Admissions,
}

/// A fresh request id for a write.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn read_options(stale: bool) -> Option<v1::ReadOptions> {
    Some(v1::ReadOptions {
        consistency: if stale {
            v1::Consistency::Stale
        } else {
            v1::Consistency::Linearizable
        } as i32,
    })
}

/// The RPC `method` of the generated gRPC client `Service`, in the shape
/// [`Client::unary`] takes: a channel and a request in, the reply out.
macro_rules! rpc {
    ($service:ident :: $method:ident) => {
        |channel, request| async move { $service::new(channel).$method(request).await }
    };
}
pub(crate) use rpc;

impl Client {
    /// A client for the nodes at `addrs` (`host:port`), plaintext.
    /// Connects lazily.
    pub fn new<S: AsRef<str>>(addrs: &[S]) -> Result<Self, EndpointError> {
        Self::with_tls(addrs, None)
    }

    /// A client for the nodes at `addrs` (`host:port`), over TLS with
    /// `tls` when given (which says whom to trust and, for mutual TLS, the
    /// certificate to present). Connects lazily.
    pub fn with_tls<S: AsRef<str>>(
        addrs: &[S],
        tls: Option<tonic::transport::ClientTlsConfig>,
    ) -> Result<Self, EndpointError> {
        Ok(Self {
            nodes: Nodes::connect_lazy(addrs, tls)?,
            token: None,
            client_addr: None,
            deadline: DEFAULT_DEADLINE,
            failover: FailoverLog::default(),
            admissions: rooms::Admissions::default(),
        })
    }

    /// A client of the same nodes over the same connections, sending
    /// `token` instead (a service acting for many users uses one per call).
    pub fn for_token(&self, token: Option<&str>) -> Self {
        Self {
            nodes: self.nodes.clone(),
            token: token.map(|t| t.trim().to_owned()),
            client_addr: None,
            deadline: self.deadline,
            failover: FailoverLog::default(),
            admissions: rooms::Admissions::default(),
        }
    }

    /// The same client giving up on a call (all attempts) after `deadline`.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// If a call had to leave a node that stopped answering since the last
    /// time this was asked: that node and the one that answered instead.
    pub fn take_failover(&self) -> Option<(String, String)> {
        self.failover.take()
    }

    /// The same client saying on every call that it acts for the end user
    /// at `addr` (the gateway to the auth service, which throttles logins
    /// per address and believes this only from the gateway's certificate).
    pub fn for_client_addr(&self, addr: std::net::IpAddr) -> Self {
        let mut client = self.for_token(self.token.as_deref());
        client.client_addr = Some(addr.to_string());
        client
    }

    /// The same client sending `authorization: Bearer <token>` on every call.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self.admissions = rooms::Admissions::default();
        self
    }

    /// The same client with `token` as its bearer token, or none.
    pub fn with_optional_token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(|t| t.trim().to_owned());
        self.admissions = rooms::Admissions::default();
        self
    }

    /// The session token this client sends, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The endpoint that answered last.
    pub fn current_endpoint(&self) -> &str {
        self.nodes.current()
    }

    /// A request carrying this client's deadline and credentials.
    pub fn request<T>(&self, msg: T) -> Request<T> {
        let mut req = Request::new(msg);
        req.set_timeout(ATTEMPT_TIMEOUT);
        if let Some(token) = &self.token
            && let Ok(value) = format!("Bearer {token}").parse()
        {
            req.metadata_mut().insert("authorization", value);
        }
        if let Some(addr) = &self.client_addr
            && let Ok(value) = addr.parse()
        {
            req.metadata_mut()
                .insert(boxoffice_proto::convert::CLIENT_ADDR, value);
        }
        req
    }

    /// Runs `f` against one endpoint after another, starting with the one
    /// that last answered, until one answers (any gRPC service of the
    /// cluster; used by the typed methods below and by the auth service for
    /// the nodes' internal API). See [`failover`].
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T, Status>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        self.nodes
            .call(Route::Sticky, self.deadline, &self.failover, f)
            .await
    }

    /// [`Client::call`] for reads: each starts at the next node in turn,
    /// so that reads spread over the cluster; they leave the node that
    /// writes go to as it is, unless it failed.
    pub async fn read<T, F, Fut>(&self, f: F) -> Result<T, Status>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        self.nodes
            .call(Route::Spread, self.deadline, &self.failover, f)
            .await
    }

    /// Sends `msg` with `rpc` (see [`rpc!`]) through the failover engine,
    /// each attempt as a fresh [`Client::request`]; the reply's message.
    /// `msg` is built once, so a request id in it is the same on every
    /// attempt.
    async fn unary<M, R, F, Fut>(&self, route: Route, msg: M, rpc: F) -> Result<R, Status>
    where
        M: Clone,
        F: Fn(Channel, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        self.unary_within(route, ATTEMPT_TIMEOUT, msg, rpc).await
    }

    /// [`Client::unary`] with `timeout` for each attempt.
    async fn unary_within<M, R, F, Fut>(
        &self,
        route: Route,
        timeout: Duration,
        msg: M,
        rpc: F,
    ) -> Result<R, Status>
    where
        M: Clone,
        F: Fn(Channel, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let ((reply, leader_elsewhere), at) = self
            .nodes
            .call_at(route, self.deadline, &self.failover, |channel| {
                let mut req = self.request(msg.clone());
                req.set_timeout(timeout);
                let reply = rpc(channel, req);
                async move {
                    let reply = reply.await?;
                    let elsewhere = reply
                        .metadata()
                        .contains_key(boxoffice_proto::convert::LEADER_ELSEWHERE);
                    Ok((reply.into_inner(), elsewhere))
                }
            })
            .await?;
        if let (Route::Sticky, true, Some(at)) = (route, leader_elsewhere, at) {
            self.nodes.leave(at);
        }
        Ok(reply)
    }

    // The booking service. `book` is in the `booking` module.

    /// Creates a show (administrator).
    pub async fn create_show(
        &self,
        show_id: &str,
        title: &str,
        seat_count: u32,
        price_cents: i64,
        starts_at_ms: i64,
    ) -> Result<v1::Show, Status> {
        let msg = v1::CreateShowRequest {
            request_id: new_request_id(),
            show_id: show_id.into(),
            title: title.into(),
            seat_count,
            price_cents,
            starts_at_ms,
        };
        let reply = self
            .unary(Route::Sticky, msg, rpc!(BookingServiceClient::create_show))
            .await?;
        Ok(reply.show.unwrap_or_default())
    }

    /// Changes a show (administrator).
    pub async fn update_show(&self, mut msg: v1::UpdateShowRequest) -> Result<v1::Show, Status> {
        if msg.request_id.is_empty() {
            msg.request_id = new_request_id();
        }
        let reply = self
            .unary(Route::Sticky, msg, rpc!(BookingServiceClient::update_show))
            .await?;
        Ok(reply.show.unwrap_or_default())
    }

    /// Every show.
    pub async fn list_shows(&self, stale: bool) -> Result<Vec<v1::Show>, Status> {
        let msg = v1::ListShowsRequest {
            read: read_options(stale),
        };
        let reply = self
            .unary(Route::Spread, msg, rpc!(BookingServiceClient::list_shows))
            .await?;
        Ok(reply.shows)
    }

    /// One show and one page of its seats.
    pub async fn get_show(
        &self,
        show_id: &str,
        page_size: u32,
        page_token: u32,
        stale: bool,
    ) -> Result<v1::GetShowResponse, Status> {
        let msg = v1::GetShowRequest {
            read: read_options(stale),
            show_id: show_id.into(),
            page_size,
            page_token,
        };
        self.unary(Route::Spread, msg, rpc!(BookingServiceClient::get_show))
            .await
    }

    /// A show and every one of its seats, fetched page by page (each page
    /// is a separate read, so under concurrent bookings the pages may come
    /// from different moments).
    pub async fn seat_map(
        &self,
        show_id: &str,
        stale: bool,
    ) -> Result<(v1::Show, Vec<v1::Seat>), Status> {
        let mut seats = Vec::new();
        let mut token = 0;
        loop {
            let page = self.get_show(show_id, MAX_SEAT_PAGE, token, stale).await?;
            seats.extend(page.seats);
            if page.next_page_token == 0 {
                return Ok((page.show.unwrap_or_default(), seats));
            }
            token = page.next_page_token;
        }
    }

    /// Streams a show's seat map as the answering node applies changes:
    /// the whole map first, then the seats that changed (see `WatchShow`).
    /// The stream has no deadline; when it ends or fails, call again
    /// (another node answers if this one is gone).
    pub async fn watch_show(
        &self,
        show_id: &str,
    ) -> Result<tonic::Streaming<v1::ShowUpdate>, Status> {
        self.read(|c| {
            // Not `self.request`: its deadline would end the stream.
            let req = Request::new(v1::WatchShowRequest {
                show_id: show_id.to_owned(),
            });
            async move {
                Ok(BookingServiceClient::new(c)
                    .watch_show(req)
                    .await?
                    .into_inner())
            }
        })
        .await
    }

    /// One seat.
    pub async fn get_seat(
        &self,
        show_id: &str,
        seat_no: u32,
        stale: bool,
    ) -> Result<v1::GetSeatResponse, Status> {
        let msg = v1::GetSeatRequest {
            read: read_options(stale),
            show_id: show_id.into(),
            seat_no,
        };
        self.unary(Route::Spread, msg, rpc!(BookingServiceClient::get_seat))
            .await
    }

    /// Holds seats without paying (the first step of a two-step checkout);
    /// the booking says until when.
    pub async fn hold(&self, show_id: &str, seat_nos: &[u32]) -> Result<v1::Booking, Status> {
        let msg = v1::HoldSeatsRequest {
            request_id: new_request_id(),
            show_id: show_id.into(),
            seat_nos: seat_nos.to_vec(),
            ..Default::default()
        };
        let reply = self
            .admitted(show_id, None, |admission_token| {
                let msg = v1::HoldSeatsRequest {
                    admission_token,
                    ..msg.clone()
                };
                self.unary(Route::Sticky, msg, rpc!(BookingServiceClient::hold_seats))
            })
            .await?;
        Ok(reply.booking.unwrap_or_default())
    }

    /// Pays for a held booking with `card` (the second step).
    pub async fn pay(&self, booking_id: &str, card: &v1::Card) -> Result<v1::Booking, Status> {
        let msg = v1::PayBookingRequest {
            booking_id: booking_id.into(),
            card: Some(card.clone()),
        };
        let reply = self
            .unary(Route::Sticky, msg, rpc!(BookingServiceClient::pay_booking))
            .await?;
        Ok(reply.booking.unwrap_or_default())
    }

    /// All the caller's bookings, newest first, page by page (each page is
    /// a separate read).
    pub async fn list_bookings(&self, stale: bool) -> Result<Vec<v1::Booking>, Status> {
        let mut all = Vec::new();
        let mut token = String::new();
        loop {
            let page = self.list_bookings_page(stale, 0, &token).await?;
            all.extend(page.bookings);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            token = page.next_page_token;
        }
    }

    /// One page of the caller's bookings, newest first: `page_size` of them
    /// (0: the service's default) after the page that gave `page_token`.
    pub async fn list_bookings_page(
        &self,
        stale: bool,
        page_size: u32,
        page_token: &str,
    ) -> Result<v1::ListBookingsResponse, Status> {
        let msg = v1::ListBookingsRequest {
            read: read_options(stale),
            page_size,
            page_token: page_token.to_string(),
        };
        self.unary(
            Route::Spread,
            msg,
            rpc!(BookingServiceClient::list_bookings),
        )
        .await
    }

    /// Cancels one of the caller's bookings.
    pub async fn cancel(&self, booking_id: &str) -> Result<v1::Booking, Status> {
        let msg = v1::CancelBookingRequest {
            request_id: new_request_id(),
            booking_id: booking_id.into(),
        };
        let reply = self
            .unary(
                Route::Sticky,
                msg,
                rpc!(BookingServiceClient::cancel_booking),
            )
            .await?;
        Ok(reply.booking.unwrap_or_default())
    }

    // The cluster service.

    /// The cluster's status.
    pub async fn status(&self) -> Result<v1::GetStatusResponse, Status> {
        let msg = v1::GetStatusRequest {};
        self.unary_within(
            Route::Sticky,
            STATUS_TIMEOUT,
            msg,
            rpc!(ClusterServiceClient::get_status),
        )
        .await
    }

    /// Adds a node as a voter.
    pub async fn add_node(
        &self,
        node_id: u64,
        addr: &str,
    ) -> Result<v1::GetStatusResponse, Status> {
        let msg = v1::AddNodeRequest {
            node_id,
            addr: addr.into(),
        };
        let reply = self
            .unary_within(
                Route::Sticky,
                ADD_NODE_TIMEOUT,
                msg,
                rpc!(ClusterServiceClient::add_node),
            )
            .await?;
        Ok(reply.status.unwrap_or_default())
    }

    /// Removes a voter.
    pub async fn remove_node(&self, node_id: u64) -> Result<v1::GetStatusResponse, Status> {
        let msg = v1::RemoveNodeRequest { node_id };
        let reply = self
            .unary(Route::Sticky, msg, rpc!(ClusterServiceClient::remove_node))
            .await?;
        Ok(reply.status.unwrap_or_default())
    }

    // The auth service (point the client at its address).

    /// Creates an account.
    pub async fn register(&self, email: &str, password: &str) -> Result<v1::User, Status> {
        let msg = v1::RegisterRequest {
            email: email.into(),
            password: password.into(),
        };
        let reply = self
            .unary(Route::Sticky, msg, rpc!(AuthServiceClient::register))
            .await?;
        Ok(reply.user.unwrap_or_default())
    }

    /// Logs in.
    pub async fn login(&self, email: &str, password: &str) -> Result<v1::Session, Status> {
        let msg = v1::LoginRequest {
            email: email.into(),
            password: password.into(),
        };
        let reply = self
            .unary(Route::Sticky, msg, rpc!(AuthServiceClient::login))
            .await?;
        Ok(reply.session.unwrap_or_default())
    }

    /// Exchanges a refresh token for a new session.
    pub async fn refresh(&self, refresh_token: &str) -> Result<v1::Session, Status> {
        let msg = v1::RefreshRequest {
            refresh_token: refresh_token.into(),
        };
        let reply = self
            .unary(Route::Sticky, msg, rpc!(AuthServiceClient::refresh))
            .await?;
        Ok(reply.session.unwrap_or_default())
    }

    /// Ends every session of the caller.
    pub async fn logout(&self) -> Result<(), Status> {
        let msg = v1::LogoutRequest {};
        self.unary(Route::Sticky, msg, rpc!(AuthServiceClient::logout))
            .await
            .map(drop)
    }

    /// The caller's account.
    pub async fn who_am_i(&self) -> Result<v1::User, Status> {
        let msg = v1::WhoAmIRequest {};
        let reply = self
            .unary(Route::Sticky, msg, rpc!(AuthServiceClient::who_am_i))
            .await?;
        Ok(reply.user.unwrap_or_default())
    }

    /// Changes the caller's password; returns the new session.
    pub async fn change_password(&self, old: &str, new: &str) -> Result<v1::Session, Status> {
        let msg = v1::ChangePasswordRequest {
            old_password: old.into(),
            new_password: new.into(),
        };
        let reply = self
            .unary(Route::Sticky, msg, rpc!(AuthServiceClient::change_password))
            .await?;
        Ok(reply.session.unwrap_or_default())
    }

    /// Every account (administrator).
    pub async fn list_users(&self) -> Result<Vec<v1::User>, Status> {
        let msg = v1::ListUsersRequest {};
        let reply = self
            .unary(Route::Sticky, msg, rpc!(AuthServiceClient::list_users))
            .await?;
        Ok(reply.users)
    }

    /// Grants or revokes the administrator role (administrator).
    pub async fn set_admin(&self, user_id: &str, admin: bool) -> Result<v1::User, Status> {
        let msg = v1::SetAdminRequest {
            user_id: user_id.into(),
            admin,
        };
        let reply = self
            .unary(Route::Sticky, msg, rpc!(AuthServiceClient::set_admin))
            .await?;
        Ok(reply.user.unwrap_or_default())
    }

    // The chatbot service.

    /// Asks the assistant (a client of the chatbot service) one question
    /// in conversation `session_id` (empty: a new one).
    pub async fn ask(&self, session_id: &str, text: &str) -> Result<v1::AskResponse, Status> {
        let msg = v1::AskRequest {
            session_id: session_id.into(),
            text: text.into(),
        };
        self.unary(Route::Sticky, msg, rpc!(ChatbotServiceClient::ask))
            .await
    }
}
