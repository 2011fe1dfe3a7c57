//! The Boxoffice client library, with automatic failover.
//!
//! A [`Client`] knows every node's address. Writes go to the node that
//! last answered; reads are spread over the nodes in turn. When a node is
//! unreachable (connection refused, reset, UNAVAILABLE, its attempt's
//! deadline) the call moves on to the next node, round-robin, until one
//! answers, [`MAX_ATTEMPTS`] attempts have failed, or the call's deadline
//! ([`Client::with_deadline`], [`DEFAULT_DEADLINE`] by default) has passed;
//! the error then says which nodes were tried. Any node can answer any
//! call, so the client never looks for the leader. [`Client::take_failover`]
//! tells an interface that the node it used stopped answering.
//!
//! Writes get a request id before the first attempt and keep it on every
//! retry, so a write whose reply was lost is never applied twice.
//! Domain errors (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...)
//! are final and returned at once.

#![deny(missing_docs)]

pub mod audit;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use boxoffice_proto::v1;
use boxoffice_proto::v1::auth_service_client::AuthServiceClient;
use boxoffice_proto::v1::booking_service_client::BookingServiceClient;
use boxoffice_proto::v1::chatbot_service_client::ChatbotServiceClient;
use boxoffice_proto::v1::cluster_service_client::ClusterServiceClient;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

pub use boxoffice_proto::v1 as proto;

/// Largest seat page the server serves.
pub const MAX_SEAT_PAGE: u32 = 5_000;
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

/// A failover client for a Boxoffice cluster.
pub struct Client {
    endpoints: Vec<(String, Channel)>,
    /// The node writes go to first: the last one that answered (shared
    /// with the clients made by [`Client::for_token`]).
    current: Arc<AtomicUsize>,
    /// Turns of the read rotation (shared likewise).
    reads: Arc<AtomicUsize>,
    /// Bearer token sent with every call, if any.
    token: Option<String>,
    /// The end user's address, sent with every call by a front end acting
    /// for them ([`boxoffice_proto::convert::CLIENT_ADDR`]).
    client_addr: Option<String>,
    /// Deadline of a whole call.
    deadline: Duration,
    /// The last node that failed before another answered, and that other.
    failover: std::sync::Mutex<Option<(String, String)>>,
}

/// A bad endpoint list.
#[derive(Debug)]
pub struct EndpointError(pub String);

impl std::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EndpointError {}

/// Whether a failed attempt should be retried on another node.
fn retriable(status: &Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled)
        // tonic reports a broken connection as UNKNOWN with a transport error.
        || (status.code() == Code::Unknown && status.message().contains("transport"))
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
        if addrs.is_empty() {
            return Err(EndpointError("no endpoints given".into()));
        }
        let endpoints = addrs
            .iter()
            .map(|a| {
                let a = a.as_ref().trim();
                let scheme = if tls.is_some() { "https" } else { "http" };
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
                    .connect_timeout(Duration::from_millis(500))
                    .tcp_nodelay(true)
                    .connect_lazy();
                Ok((a.to_owned(), channel))
            })
            .collect::<Result<Vec<_>, EndpointError>>()?;
        Ok(Self {
            endpoints,
            current: Arc::new(AtomicUsize::new(0)),
            reads: Arc::new(AtomicUsize::new(0)),
            token: None,
            client_addr: None,
            deadline: DEFAULT_DEADLINE,
            failover: std::sync::Mutex::new(None),
        })
    }

    /// A client of the same nodes over the same connections, sending
    /// `token` instead (a service acting for many users uses one per call).
    pub fn for_token(&self, token: Option<&str>) -> Self {
        Self {
            endpoints: self.endpoints.clone(),
            current: self.current.clone(),
            reads: self.reads.clone(),
            token: token.map(|t| t.trim().to_owned()),
            client_addr: None,
            deadline: self.deadline,
            failover: std::sync::Mutex::new(None),
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
        self.failover.lock().map(|mut f| f.take()).unwrap_or(None)
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
        self
    }

    /// The same client with `token` as its bearer token, or none.
    pub fn with_optional_token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(|t| t.trim().to_owned());
        self
    }

    /// The session token this client sends, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The endpoint that answered last.
    pub fn current_endpoint(&self) -> &str {
        &self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()].0
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
    /// the nodes' internal API).
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T, Status>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        self.attempt(self.current.load(Ordering::Relaxed), true, f)
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
        self.attempt(self.reads.fetch_add(1, Ordering::Relaxed), false, f)
            .await
    }

    /// Tries the nodes from `start` on; `sticky` calls make the node that
    /// answers the one the next `call` starts with.
    async fn attempt<T, F, Fut>(&self, start: usize, sticky: bool, f: F) -> Result<T, Status>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let n = self.endpoints.len();
        let deadline = tokio::time::Instant::now() + self.deadline;
        let mut last = Status::unavailable("no attempt made");
        let mut failed: Option<&str> = None;
        let mut attempts = 0;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 && attempt % n == 0 {
                tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + ROUND_BACKOFF))
                    .await;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(Status::deadline_exceeded(format!(
                    "no node answered within {:?} ({attempts} attempts at {}): {}",
                    self.deadline,
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
                    failed = Some(addr);
                    last = status;
                }
                answered => {
                    if sticky || failed.is_some_and(|f| f == self.current_endpoint()) {
                        self.current.store(i, Ordering::Relaxed);
                    }
                    if let (Some(failed), Ok(mut failover)) = (failed, self.failover.lock()) {
                        *failover = Some((failed.to_owned(), addr.clone()));
                    }
                    return answered;
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

    /// The endpoints, comma-separated, for messages.
    fn addresses(&self) -> String {
        let addrs: Vec<&str> = self.endpoints.iter().map(|(a, _)| a.as_str()).collect();
        addrs.join(", ")
    }

    fn booking(channel: Channel) -> BookingServiceClient<Channel> {
        BookingServiceClient::new(channel)
    }

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
        self.call(|c| {
            let req = self.request(msg.clone());
            async move {
                Ok(Self::booking(c)
                    .create_show(req)
                    .await?
                    .into_inner()
                    .show
                    .unwrap_or_default())
            }
        })
        .await
    }

    /// Changes a show (administrator).
    pub async fn update_show(&self, mut msg: v1::UpdateShowRequest) -> Result<v1::Show, Status> {
        if msg.request_id.is_empty() {
            msg.request_id = new_request_id();
        }
        self.call(|c| {
            let req = self.request(msg.clone());
            async move {
                Ok(Self::booking(c)
                    .update_show(req)
                    .await?
                    .into_inner()
                    .show
                    .unwrap_or_default())
            }
        })
        .await
    }

    /// Every show.
    pub async fn list_shows(&self, stale: bool) -> Result<Vec<v1::Show>, Status> {
        self.read(|c| {
            let req = self.request(v1::ListShowsRequest {
                read: read_options(stale),
            });
            async move { Ok(Self::booking(c).list_shows(req).await?.into_inner().shows) }
        })
        .await
    }

    /// One show and one page of its seats.
    pub async fn get_show(
        &self,
        show_id: &str,
        page_size: u32,
        page_token: u32,
        stale: bool,
    ) -> Result<v1::GetShowResponse, Status> {
        self.read(|c| {
            let req = self.request(v1::GetShowRequest {
                read: read_options(stale),
                show_id: show_id.into(),
                page_size,
                page_token,
            });
            async move { Ok(Self::booking(c).get_show(req).await?.into_inner()) }
        })
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
            async move { Ok(Self::booking(c).watch_show(req).await?.into_inner()) }
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
        self.read(|c| {
            let req = self.request(v1::GetSeatRequest {
                read: read_options(stale),
                show_id: show_id.into(),
                seat_no,
            });
            async move { Ok(Self::booking(c).get_seat(req).await?.into_inner()) }
        })
        .await
    }

    /// Books seats with a fresh request id.
    pub async fn book(&self, show_id: &str, seat_nos: &[u32]) -> Result<v1::Booking, Status> {
        self.book_with_id(&new_request_id(), show_id, seat_nos)
            .await
    }

    /// Books seats with the given request id (a retry of an earlier call
    /// with the same id returns that call's outcome).
    pub async fn book_with_id(
        &self,
        request_id: &str,
        show_id: &str,
        seat_nos: &[u32],
    ) -> Result<v1::Booking, Status> {
        self.book_and_pay(request_id, show_id, seat_nos, None).await
    }

    /// Books seats and pays for them with `card` in one call (the checkout
    /// of a cluster that takes payments), with the given request id: a
    /// retry under the same id never charges twice.
    pub async fn book_and_pay(
        &self,
        request_id: &str,
        show_id: &str,
        seat_nos: &[u32],
        card: Option<&v1::Card>,
    ) -> Result<v1::Booking, Status> {
        let msg = v1::BookSeatsRequest {
            request_id: request_id.into(),
            show_id: show_id.into(),
            seat_nos: seat_nos.to_vec(),
            card: card.cloned(),
        };
        self.call(|c| {
            let req = self.request(msg.clone());
            async move {
                Ok(Self::booking(c)
                    .book_seats(req)
                    .await?
                    .into_inner()
                    .booking
                    .unwrap_or_default())
            }
        })
        .await
    }

    /// Holds seats without paying (the first step of a two-step checkout);
    /// the booking says until when.
    pub async fn hold(&self, show_id: &str, seat_nos: &[u32]) -> Result<v1::Booking, Status> {
        let msg = v1::HoldSeatsRequest {
            request_id: new_request_id(),
            show_id: show_id.into(),
            seat_nos: seat_nos.to_vec(),
        };
        self.call(|c| {
            let req = self.request(msg.clone());
            async move {
                Ok(Self::booking(c)
                    .hold_seats(req)
                    .await?
                    .into_inner()
                    .booking
                    .unwrap_or_default())
            }
        })
        .await
    }

    /// Pays for a held booking with `card` (the second step).
    pub async fn pay(&self, booking_id: &str, card: &v1::Card) -> Result<v1::Booking, Status> {
        let msg = v1::PayBookingRequest {
            booking_id: booking_id.into(),
            card: Some(card.clone()),
        };
        self.call(|c| {
            let req = self.request(msg.clone());
            async move {
                Ok(Self::booking(c)
                    .pay_booking(req)
                    .await?
                    .into_inner()
                    .booking
                    .unwrap_or_default())
            }
        })
        .await
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
        self.read(|c| {
            let req = self.request(v1::ListBookingsRequest {
                read: read_options(stale),
                page_size,
                page_token: page_token.to_string(),
            });
            async move { Ok(Self::booking(c).list_bookings(req).await?.into_inner()) }
        })
        .await
    }

    /// Cancels one of the caller's bookings.
    pub async fn cancel(&self, booking_id: &str) -> Result<v1::Booking, Status> {
        let msg = v1::CancelBookingRequest {
            request_id: new_request_id(),
            booking_id: booking_id.into(),
        };
        self.call(|c| {
            let req = self.request(msg.clone());
            async move {
                Ok(Self::booking(c)
                    .cancel_booking(req)
                    .await?
                    .into_inner()
                    .booking
                    .unwrap_or_default())
            }
        })
        .await
    }

    /// The cluster's status.
    pub async fn status(&self) -> Result<v1::GetStatusResponse, Status> {
        self.call(|c| {
            let mut req = self.request(v1::GetStatusRequest {});
            req.set_timeout(Duration::from_secs(3));
            async move {
                Ok(ClusterServiceClient::new(c)
                    .get_status(req)
                    .await?
                    .into_inner())
            }
        })
        .await
    }

    /// Adds a node as a voter.
    pub async fn add_node(
        &self,
        node_id: u64,
        addr: &str,
    ) -> Result<v1::GetStatusResponse, Status> {
        self.call(|c| {
            let mut req = self.request(v1::AddNodeRequest {
                node_id,
                addr: addr.into(),
            });
            req.set_timeout(Duration::from_secs(60));
            async move {
                Ok(ClusterServiceClient::new(c)
                    .add_node(req)
                    .await?
                    .into_inner()
                    .status
                    .unwrap_or_default())
            }
        })
        .await
    }

    /// Removes a voter.
    pub async fn remove_node(&self, node_id: u64) -> Result<v1::GetStatusResponse, Status> {
        self.call(|c| {
            let req = self.request(v1::RemoveNodeRequest { node_id });
            async move {
                Ok(ClusterServiceClient::new(c)
                    .remove_node(req)
                    .await?
                    .into_inner()
                    .status
                    .unwrap_or_default())
            }
        })
        .await
    }

    // ----- the auth service (point the client at its address) -----

    /// Creates an account.
    pub async fn register(&self, email: &str, password: &str) -> Result<v1::User, Status> {
        let msg = v1::RegisterRequest {
            email: email.into(),
            password: password.into(),
        };
        self.call(|c| {
            let req = self.request(msg.clone());
            async move {
                Ok(AuthServiceClient::new(c)
                    .register(req)
                    .await?
                    .into_inner()
                    .user
                    .unwrap_or_default())
            }
        })
        .await
    }

    /// Logs in.
    pub async fn login(&self, email: &str, password: &str) -> Result<v1::Session, Status> {
        let msg = v1::LoginRequest {
            email: email.into(),
            password: password.into(),
        };
        self.call(|c| {
            let req = self.request(msg.clone());
            async move {
                Ok(AuthServiceClient::new(c)
                    .login(req)
                    .await?
                    .into_inner()
                    .session
                    .unwrap_or_default())
            }
        })
        .await
    }

    /// Exchanges a refresh token for a new session.
    pub async fn refresh(&self, refresh_token: &str) -> Result<v1::Session, Status> {
        let msg = v1::RefreshRequest {
            refresh_token: refresh_token.into(),
        };
        self.call(|c| {
            let req = self.request(msg.clone());
            async move {
                Ok(AuthServiceClient::new(c)
                    .refresh(req)
                    .await?
                    .into_inner()
                    .session
                    .unwrap_or_default())
            }
        })
        .await
    }

    /// Ends every session of the caller.
    pub async fn logout(&self) -> Result<(), Status> {
        self.call(|c| {
            let req = self.request(v1::LogoutRequest {});
            async move { AuthServiceClient::new(c).logout(req).await.map(drop) }
        })
        .await
    }

    /// Asks the assistant (a client of the chatbot service) one question
    /// in conversation `session_id` (empty: a new one).
    pub async fn ask(&self, session_id: &str, text: &str) -> Result<v1::AskResponse, Status> {
        let msg = v1::AskRequest {
            session_id: session_id.into(),
            text: text.into(),
        };
        self.call(|c| {
            let req = self.request(msg.clone());
            async move { Ok(ChatbotServiceClient::new(c).ask(req).await?.into_inner()) }
        })
        .await
    }

    /// The caller's account.
    pub async fn who_am_i(&self) -> Result<v1::User, Status> {
        self.call(|c| {
            let req = self.request(v1::WhoAmIRequest {});
            async move {
                Ok(AuthServiceClient::new(c)
                    .who_am_i(req)
                    .await?
                    .into_inner()
                    .user
                    .unwrap_or_default())
            }
        })
        .await
    }

    /// Changes the caller's password; returns the new session.
    pub async fn change_password(&self, old: &str, new: &str) -> Result<v1::Session, Status> {
        let msg = v1::ChangePasswordRequest {
            old_password: old.into(),
            new_password: new.into(),
        };
        self.call(|c| {
            let req = self.request(msg.clone());
            async move {
                Ok(AuthServiceClient::new(c)
                    .change_password(req)
                    .await?
                    .into_inner()
                    .session
                    .unwrap_or_default())
            }
        })
        .await
    }

    /// Every account (administrator).
    pub async fn list_users(&self) -> Result<Vec<v1::User>, Status> {
        self.call(|c| {
            let req = self.request(v1::ListUsersRequest {});
            async move {
                Ok(AuthServiceClient::new(c)
                    .list_users(req)
                    .await?
                    .into_inner()
                    .users)
            }
        })
        .await
    }

    /// Grants or revokes the administrator role (administrator).
    pub async fn set_admin(&self, user_id: &str, admin: bool) -> Result<v1::User, Status> {
        let msg = v1::SetAdminRequest {
            user_id: user_id.into(),
            admin,
        };
        self.call(|c| {
            let req = self.request(msg.clone());
            async move {
                Ok(AuthServiceClient::new(c)
                    .set_admin(req)
                    .await?
                    .into_inner()
                    .user
                    .unwrap_or_default())
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An address where nothing listens.
    fn closed() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
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
