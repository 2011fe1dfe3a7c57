//! The JSON API: one handler per route, each a thin call into the client
//! library as the bearer of the request's token. The OpenAPI document is
//! generated from these same handlers, so it lists exactly the routes
//! served.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, OptionalFromRequestParts, Path,
    Query, State,
};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::{Json, response::IntoResponse};
use boxoffice_client::proto as v1;
use futures::{Stream, StreamExt};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Gateway;
use crate::dto::{
    Answer, Booking, CancelledPerformance, Cluster, Credentials, DoorCounts, ETicket, HoldRequest,
    JoinList, JoinQueue, ListStanding, NewProduction, NewRun, NewShow, NewVenue, PayRequest,
    Production, ProductionListing, Question, QueueStanding, Readiness, RefreshToken, ReportFormat,
    ReturnRequest, Returned, SalesReport, ScanAnswer, ScanRequest, SeatMap, SeatMapUpdate,
    SeatPick, Session, Show, ShowChanges, ShowPlan, TicketKey, TicketsQuery, TransferRequest,
    Transferred, User, VenueDetail, VenueSummary,
};
use crate::error::{ApiError, ErrorBody};
use crate::streams::Kind;

type Shared = State<Arc<Gateway>>;

/// Largest venue import body: the node's largest request (1 MiB).
pub const MAX_VENUE_BODY_BYTES: usize = 1024 * 1024;

/// Places asked for per page when a show's whole plan is read.
const PLAN_PAGE: u32 = 5_000;

/// A JSON body whose every problem is an [`ApiError`].
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Body<T>(pub T);

/// The caller's access token, from `Authorization: Bearer <token>`.
pub struct Bearer(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthenticated("log in first: no Authorization header"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header must be `Bearer <token>`")
            })?;
        Ok(Self(token.to_owned()))
    }
}

/// An optional session: none without an Authorization header, an error
/// for a malformed one.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            <Self as FromRequestParts<S>>::from_request_parts(parts, state)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Marks the routes that need a session in the OpenAPI document.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Boxoffice",
        description = "Shows, seat maps, checkout and bookings over a Raft-replicated cluster. \
            Errors are JSON: {\"error\": {\"code\", \"message\"}}. Calls that act for a user \
            need `Authorization: Bearer <access_token>` from POST /api/login.",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "shows", description = "Shows and seat maps"),
        (name = "venues", description = "Venues, productions, performances and their sales: \
            anyone browses, administrators manage"),
        (name = "bookings", description = "Checkout and my bookings"),
        (name = "tickets", description = "My e-tickets with their signed codes, and the door"),
        (name = "accounts", description = "Register, log in, sessions"),
        (name = "assistant", description = "The booking assistant"),
        (name = "cluster", description = "The cluster and this gateway"),
    )
)]
struct ApiDoc;

/// Every API route, with its OpenAPI document.
pub fn router() -> OpenApiRouter<Arc<Gateway>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_shows, create_show))
        .routes(routes!(get_show, update_show))
        .routes(routes!(show_events))
        .routes(routes!(show_plan))
        .routes(routes!(cancel_performance))
        .routes(routes!(hold_back))
        .routes(routes!(release_held_back))
        .routes(routes!(sales_report))
        .merge(
            // A venue file or layout is larger than any other body.
            OpenApiRouter::new()
                .routes(routes!(list_venues, import_venue))
                .layer(DefaultBodyLimit::max(MAX_VENUE_BODY_BYTES)),
        )
        .routes(routes!(get_venue))
        .routes(routes!(list_productions, create_production))
        .routes(routes!(add_performances))
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(list_users))
        .routes(routes!(hold))
        .routes(routes!(list_bookings))
        .routes(routes!(pay))
        .routes(routes!(cancel))
        .routes(routes!(return_tickets))
        .routes(routes!(list_tickets))
        .routes(routes!(ticket_qr))
        .routes(routes!(reissue_ticket))
        .routes(routes!(check_in))
        .routes(routes!(transfer_ticket))
        .routes(routes!(door_live))
        .routes(routes!(get_queue, join_queue))
        .routes(routes!(queue_live))
        .routes(routes!(get_waitlist, join_waitlist, leave_waitlist))
        .routes(routes!(waitlist_live))
        .routes(routes!(ticket_keys))
        .routes(routes!(ask))
        .routes(routes!(cluster))
        .routes(routes!(cluster_events))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// Every show with its availability and price.
#[utoipa::path(get, path = "/api/shows", tag = "shows",
    responses(
        (status = 200, body = [Show]),
        (status = 503, description = "No node answered", body = ErrorBody),
    ))]
async fn list_shows(State(gw): Shared) -> Result<Json<Vec<Show>>, ApiError> {
    let shows = gw.nodes.list_shows(false).await?;
    Ok(Json(shows.into_iter().map(Show::from).collect()))
}

/// Creates a show (administrators).
#[utoipa::path(post, path = "/api/shows", tag = "shows", security(("bearer" = [])),
    request_body = NewShow,
    responses(
        (status = 201, body = Show),
        (status = 400, description = "A bad field", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "The id is taken", body = ErrorBody),
    ))]
async fn create_show(
    State(gw): Shared,
    Bearer(token): Bearer,
    Body(new): Body<NewShow>,
) -> Result<(StatusCode, Json<Show>), ApiError> {
    let show = gw
        .nodes
        .for_token(Some(&token))
        .create_show(
            &new.show_id,
            &new.title,
            new.seat_count,
            new.price_cents,
            new.starts_at_ms,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(show.into())))
}

/// A show and every one of its seats.
#[utoipa::path(get, path = "/api/shows/{show_id}", tag = "shows",
    params(("show_id" = String, Path, description = "The show")),
    responses((status = 200, body = SeatMap), (status = 404, body = ErrorBody)))]
async fn get_show(
    State(gw): Shared,
    Path(show_id): Path<String>,
) -> Result<Json<SeatMap>, ApiError> {
    let (show, seats) = gw.nodes.seat_map(&show_id, false).await?;
    Ok(Json(SeatMap {
        show: show.into(),
        seats: seats.into_iter().map(Into::into).collect(),
    }))
}

/// Changes a show's title, seat count, price or start (administrators).
#[utoipa::path(patch, path = "/api/shows/{show_id}", tag = "shows", security(("bearer" = [])),
    params(("show_id" = String, Path, description = "The show")),
    request_body = ShowChanges,
    responses(
        (status = 200, body = Show),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Removed seats are taken", body = ErrorBody),
    ))]
async fn update_show(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(show_id): Path<String>,
    Body(changes): Body<ShowChanges>,
) -> Result<Json<Show>, ApiError> {
    let show = gw
        .nodes
        .for_token(Some(&token))
        .update_show(v1::UpdateShowRequest {
            request_id: String::new(),
            show_id,
            title: changes.title,
            seat_count: changes.seat_count,
            price_cents: changes.price_cents,
            starts_at_ms: changes.starts_at_ms,
        })
        .await?;
    Ok(Json(show.into()))
}

/// The show's seat map, live: server-sent events named `seats`, each a
/// JSON `SeatMapUpdate`. The first is the whole map; later ones carry the
/// seats that changed as the cluster commits bookings, holds and releases.
#[utoipa::path(get, path = "/api/shows/{show_id}/events", tag = "shows",
    params(("show_id" = String, Path, description = "The show")),
    responses(
        (status = 200, description = "An event stream of `seats` events", content_type = "text/event-stream", body = SeatMapUpdate),
        (status = 404, body = ErrorBody),
        (status = 429, description = "Too many event streams open", body = ErrorBody),
    ))]
async fn show_events(
    State(gw): Shared,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(show_id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let place = gw.admit_stream(client, Kind::Public)?;
    // Unknown shows are a 404 now, not a stream that never speaks.
    gw.nodes.get_show(&show_id, 1, 0, true).await?;
    let subscription = gw.live.subscribe(&show_id);
    let events = futures::stream::unfold(
        (subscription, place),
        |(mut subscription, place)| async move {
            let update = match subscription.first.take() {
                Some(first) => first,
                None => subscription.next().await?,
            };
            Some((seats_event(&update), (subscription, place)))
        },
    );
    Ok(Sse::new(events.take_until(gw.closed())).keep_alive(KeepAlive::default()))
}

fn seats_event(update: &SeatMapUpdate) -> Result<Event, Infallible> {
    Ok(Event::default()
        .event("seats")
        .json_data(update)
        .unwrap_or_else(|_| Event::default().comment("unserializable update")))
}

/// Creates an account.
#[utoipa::path(post, path = "/api/register", tag = "accounts",
    request_body = Credentials,
    responses(
        (status = 201, body = User),
        (status = 400, description = "A bad email or a weak password", body = ErrorBody),
        (status = 409, description = "The email is taken", body = ErrorBody),
    ))]
async fn register(
    State(gw): Shared,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Body(c): Body<Credentials>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let auth = gw.auth.for_client_addr(client.ip());
    let user = auth.register(&c.email, &c.password).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Logs in.
#[utoipa::path(post, path = "/api/login", tag = "accounts",
    request_body = Credentials,
    responses(
        (status = 200, body = Session),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 429, description = "Too many failed attempts", body = ErrorBody),
    ))]
async fn login(
    State(gw): Shared,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Body(c): Body<Credentials>,
) -> Result<Json<Session>, ApiError> {
    let auth = gw.auth.for_client_addr(client.ip());
    Ok(Json(auth.login(&c.email, &c.password).await?.into()))
}

/// Exchanges a refresh token for a new session.
#[utoipa::path(post, path = "/api/refresh", tag = "accounts",
    request_body = RefreshToken,
    responses((status = 200, body = Session), (status = 401, body = ErrorBody)))]
async fn refresh(
    State(gw): Shared,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Body(r): Body<RefreshToken>,
) -> Result<Json<Session>, ApiError> {
    let auth = gw.auth.for_client_addr(client.ip());
    Ok(Json(auth.refresh(&r.refresh_token).await?.into()))
}

/// Logs out: every token of the session stops working.
#[utoipa::path(post, path = "/api/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(State(gw): Shared, Bearer(token): Bearer) -> Result<StatusCode, ApiError> {
    gw.auth.for_token(Some(&token)).logout().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
async fn me(State(gw): Shared, Bearer(token): Bearer) -> Result<Json<User>, ApiError> {
    Ok(Json(
        gw.auth.for_token(Some(&token)).who_am_i().await?.into(),
    ))
}

/// Refuses a caller who is not an administrator before the gateway spends
/// work on their request (parsing a venue or pricing file of up to
/// `MAX_VENUE_BODY_BYTES`); the node checks again when the command comes.
async fn require_admin(gw: &Gateway, token: &str) -> Result<(), ApiError> {
    let user = gw.auth.for_token(Some(token)).who_am_i().await?;
    if user.admin {
        Ok(())
    } else {
        Err(tonic::Status::permission_denied("administrators only").into())
    }
}

/// Every account (administrators).
#[utoipa::path(get, path = "/api/users", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, body = [User]),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
async fn list_users(State(gw): Shared, Bearer(token): Bearer) -> Result<Json<Vec<User>>, ApiError> {
    let users = gw.auth.for_token(Some(&token)).list_users().await?;
    Ok(Json(users.into_iter().map(User::from).collect()))
}

/// Holds places for a checkout (any logged-in user, for themself): seats
/// by number or label with a ticket type each, standing places, or the
/// best seats together. The booking is `held` until `hold_expires_at_ms`,
/// its tickets priced; pay it with `POST /api/bookings/{booking_id}/pay`.
#[utoipa::path(post, path = "/api/holds", tag = "bookings", security(("bearer" = [])),
    request_body = HoldRequest,
    responses(
        (status = 201, body = Booking),
        (status = 400, description = "An unknown seat, label, area or ticket type", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A seat is taken, or the show has started", body = ErrorBody),
    ))]
async fn hold(
    State(gw): Shared,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Bearer(token): Bearer,
    Body(h): Body<HoldRequest>,
) -> Result<(StatusCode, Json<Booking>), ApiError> {
    // Counted against the browser's network, not the gateway's.
    let nodes = gw
        .buyers
        .for_token(Some(&token))
        .for_client_addr(client.ip());
    let mut call = nodes
        .book(&h.show_id, &h.seat_nos)
        .labels(h.seat_labels)
        .types(h.ticket_types)
        .admission_token(&h.admission_token);
    for s in &h.standing {
        call = call.standing(&s.area, s.count, &s.ticket_type);
    }
    if let Some(b) = &h.best {
        call = call.best(b.count, &b.category, &b.ticket_type, b.wheelchair);
    }
    Ok((StatusCode::CREATED, Json(call.hold().await?.into())))
}

/// My bookings, newest first.
#[utoipa::path(get, path = "/api/bookings", tag = "bookings", security(("bearer" = [])),
    responses((status = 200, body = [Booking]), (status = 401, body = ErrorBody)))]
async fn list_bookings(
    State(gw): Shared,
    Bearer(token): Bearer,
) -> Result<Json<Vec<Booking>>, ApiError> {
    let bookings = gw
        .nodes
        .for_token(Some(&token))
        .list_bookings(false)
        .await?;
    Ok(Json(bookings.into_iter().map(Booking::from).collect()))
}

/// Pays for a held booking and confirms it. A declined card releases the
/// seats (402, nothing charged).
#[utoipa::path(post, path = "/api/bookings/{booking_id}/pay", tag = "bookings",
    security(("bearer" = [])),
    params(("booking_id" = String, Path, description = "A booking of mine")),
    request_body = PayRequest,
    responses(
        (status = 200, body = Booking),
        (status = 400, description = "A malformed card", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 402, description = "The card was declined; the seats are free again", body = ErrorBody),
        (status = 404, description = "No such booking of mine", body = ErrorBody),
        (status = 409, description = "The hold has ended", body = ErrorBody),
    ))]
async fn pay(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(booking_id): Path<String>,
    Body(p): Body<PayRequest>,
) -> Result<Json<Booking>, ApiError> {
    let card = v1::Card {
        number: p.card.number,
        exp_month: p.card.exp_month,
        exp_year: p.card.exp_year,
        cvc: p.card.cvc,
    };
    let booking = gw
        .nodes
        .for_token(Some(&token))
        .pay(&booking_id, &card)
        .await?;
    Ok(Json(booking.into()))
}

/// Cancels a booking of mine and frees its seats; a paid one is refunded.
#[utoipa::path(post, path = "/api/bookings/{booking_id}/cancel", tag = "bookings",
    security(("bearer" = [])),
    params(("booking_id" = String, Path, description = "A booking of mine")),
    responses(
        (status = 200, body = Booking),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such booking of mine", body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
async fn cancel(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(booking_id): Path<String>,
) -> Result<Json<Booking>, ApiError> {
    let booking = gw.nodes.for_token(Some(&token)).cancel(&booking_id).await?;
    Ok(Json(booking.into()))
}

/// Asks the booking assistant; with a token it can speak of my bookings.
#[utoipa::path(post, path = "/api/assistant", tag = "assistant",
    request_body = Question,
    responses((status = 200, body = Answer), (status = 400, body = ErrorBody)))]
async fn ask(
    State(gw): Shared,
    bearer: Option<Bearer>,
    Body(q): Body<Question>,
) -> Result<Json<Answer>, ApiError> {
    let token = bearer.map(|Bearer(t)| t);
    let answer = gw
        .chatbot
        .for_token(token.as_deref())
        .ask(&q.session_id, &q.text)
        .await?;
    Ok(Json(answer.into()))
}

/// Every node: role, term, log, commit and applied indexes.
#[utoipa::path(get, path = "/api/cluster", tag = "cluster",
    responses((status = 200, body = Cluster), (status = 503, body = ErrorBody)))]
async fn cluster(State(gw): Shared) -> Result<Json<Cluster>, ApiError> {
    Ok(Json(gw.nodes.status().await?.into()))
}

/// The cluster, live: server-sent events named `cluster` (a JSON
/// `Cluster`) whenever it changed, looked at twice a second by one poller
/// for all pages ([`crate::status`]); `error` events (an `ErrorBody`)
/// while no node answers.
#[utoipa::path(get, path = "/api/cluster/events", tag = "cluster",
    responses(
        (status = 200, description = "An event stream of `cluster` events", content_type = "text/event-stream", body = Cluster),
        (status = 429, description = "Too many event streams open", body = ErrorBody),
    ))]
async fn cluster_events(
    State(gw): Shared,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let place = gw.admit_stream(client, Kind::Public)?;
    let latest = gw.status.subscribe();
    let events = futures::stream::unfold(
        (latest, place, true),
        |(mut latest, place, first)| async move {
            // The first event is whatever was seen last (once there is
            // something); later ones come as it changes.
            let ready = if first {
                latest.wait_for(Option::is_some).await.is_ok()
            } else {
                latest.changed().await.is_ok()
            };
            if !ready {
                return None;
            }
            let seen = latest.borrow_and_update().clone()?;
            let event = match &seen {
                Ok(cluster) => Event::default().event("cluster").json_data(cluster),
                Err(error) => Event::default().event("error").json_data(error.body()),
            }
            .unwrap_or_else(|_| Event::default().comment("unserializable status"));
            Some((Ok(event), (latest, place, false)))
        },
    );
    Ok(Sse::new(events.take_until(gw.closed())).keep_alive(KeepAlive::default()))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "cluster",
    responses((status = 200, description = "Always, while the process runs", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// This gateway's metrics in the Prometheus (OpenMetrics) text format.
#[utoipa::path(get, path = "/metrics", tag = "cluster",
    responses((status = 200, description = "The exposition", body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
async fn metrics(State(gw): Shared) -> axum::response::Response {
    gw.metrics.response()
}

/// Whether the gateway can serve: a node answers and knows a leader.
#[utoipa::path(get, path = "/readyz", tag = "cluster",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
async fn readyz(State(gw): Shared) -> impl IntoResponse {
    let readiness = match gw.nodes.status().await {
        Ok(status) if status.leader_id != 0 => Readiness {
            ready: true,
            leader_id: status.leader_id,
            problem: String::new(),
        },
        Ok(_) => Readiness {
            ready: false,
            leader_id: 0,
            problem: "the cluster has no leader".into(),
        },
        Err(status) => Readiness {
            ready: false,
            leader_id: 0,
            problem: status.message().to_owned(),
        },
    };
    let code = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(readiness))
}

/// A show's plan for its seat map: the venue's layout (none for a simple
/// show), every place's label, category, position and attributes, the
/// prices, and every place's state now. Anyone.
#[utoipa::path(get, path = "/api/shows/{show_id}/plan", tag = "shows",
    params(("show_id" = String, Path, description = "The show")),
    responses((status = 200, body = ShowPlan), (status = 404, body = ErrorBody)))]
async fn show_plan(
    State(gw): Shared,
    Path(show_id): Path<String>,
) -> Result<Json<ShowPlan>, ApiError> {
    let mut seats = Vec::new();
    let mut places = Vec::new();
    let mut prices = None;
    let mut token = 0;
    // Page by page, as `Client::seat_map`; the prices come with each page.
    let show = loop {
        let page = gw.nodes.get_show(&show_id, PLAN_PAGE, token, false).await?;
        seats.extend(page.seats.into_iter().map(Into::into));
        places.extend(page.layout.into_iter().map(Into::into));
        prices = prices.or(page.prices);
        if page.next_page_token == 0 {
            break page.show.unwrap_or_default();
        }
        token = page.next_page_token;
    };
    let venue = if show.venue_id.is_empty() {
        None
    } else {
        let detail = gw.nodes.get_venue(&show.venue_id, false).await?;
        Some(detail.venue.unwrap_or_default().into())
    };
    Ok(Json(ShowPlan {
        show: show.into(),
        venue,
        prices: prices.unwrap_or_default().into(),
        places,
        seats,
    }))
}

/// Imports a venue from its TOML file or its JSON layout (administrators).
/// A file with a mistake is `invalid_file` with the mistake's `line`;
/// nothing is stored then.
#[utoipa::path(post, path = "/api/venues", tag = "venues", security(("bearer" = [])),
    request_body = NewVenue,
    responses(
        (status = 201, body = VenueSummary),
        (status = 400, description = "A mistake in the file (with its line) or the layout", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
    ))]
async fn import_venue(
    State(gw): Shared,
    Bearer(token): Bearer,
    Body(new): Body<NewVenue>,
) -> Result<(StatusCode, Json<VenueSummary>), ApiError> {
    require_admin(&gw, &token).await?;
    let venue = match (new.toml, new.venue) {
        (Some(text), None) => {
            let venue = boxoffice_view::venue_file::parse_venue(&text)
                .map_err(|e| ApiError::invalid_file(e.line, e.to_string()))?;
            boxoffice_proto::convert::venue(&venue)
        }
        (None, Some(layout)) => layout.into(),
        _ => {
            return Err(ApiError::invalid(
                "give exactly one of `toml` (a venue file) and `venue` (the layout as JSON)",
            ));
        }
    };
    let summary = gw
        .nodes
        .for_token(Some(&token))
        .create_venue(&new.venue_id, venue)
        .await?;
    Ok((StatusCode::CREATED, Json(summary.into())))
}

/// Every venue, without layouts. Anyone.
#[utoipa::path(get, path = "/api/venues", tag = "venues",
    responses((status = 200, body = [VenueSummary]), (status = 503, body = ErrorBody)))]
async fn list_venues(State(gw): Shared) -> Result<Json<Vec<VenueSummary>>, ApiError> {
    let venues = gw.nodes.list_venues(false).await?;
    Ok(Json(venues.into_iter().map(Into::into).collect()))
}

/// One venue with its layout. Anyone.
#[utoipa::path(get, path = "/api/venues/{venue_id}", tag = "venues",
    params(("venue_id" = String, Path, description = "The venue")),
    responses((status = 200, body = VenueDetail), (status = 404, body = ErrorBody)))]
async fn get_venue(
    State(gw): Shared,
    Path(venue_id): Path<String>,
) -> Result<Json<VenueDetail>, ApiError> {
    Ok(Json(gw.nodes.get_venue(&venue_id, false).await?.into()))
}

/// Creates a production (administrators).
#[utoipa::path(post, path = "/api/productions", tag = "venues", security(("bearer" = [])),
    request_body = NewProduction,
    responses(
        (status = 201, body = Production),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 409, description = "The id is taken", body = ErrorBody),
    ))]
async fn create_production(
    State(gw): Shared,
    Bearer(token): Bearer,
    Body(new): Body<NewProduction>,
) -> Result<(StatusCode, Json<Production>), ApiError> {
    let production = gw
        .nodes
        .for_token(Some(&token))
        .create_production(
            &new.production_id,
            &new.title,
            &new.description,
            new.running_minutes,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(production.into())))
}

/// Every production with its performances. Anyone.
#[utoipa::path(get, path = "/api/productions", tag = "venues",
    responses((status = 200, body = [ProductionListing]), (status = 503, body = ErrorBody)))]
async fn list_productions(State(gw): Shared) -> Result<Json<Vec<ProductionListing>>, ApiError> {
    let productions = gw.nodes.list_productions(false).await?;
    Ok(Json(productions.into_iter().map(Into::into).collect()))
}

/// Adds a run of performances of a production at a venue, with a sales
/// window and a pricing file (administrators). All or none: a mistake in
/// the pricing file is `invalid_file` with its `line`.
#[utoipa::path(post, path = "/api/productions/{production_id}/performances", tag = "venues",
    security(("bearer" = [])),
    params(("production_id" = String, Path, description = "The production")),
    request_body = NewRun,
    responses(
        (status = 201, body = [Show]),
        (status = 400, description = "A bad field, or a mistake in the pricing", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 404, description = "No such production or venue", body = ErrorBody),
    ))]
async fn add_performances(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(production_id): Path<String>,
    Body(run): Body<NewRun>,
) -> Result<(StatusCode, Json<Vec<Show>>), ApiError> {
    require_admin(&gw, &token).await?;
    let pricing = boxoffice_view::pricing_file::parse_pricing(&run.pricing_toml)
        .map_err(|e| ApiError::invalid_file(e.line, e.to_string()))?;
    let msg = v1::AddPerformancesRequest {
        request_id: String::new(),
        production_id,
        venue_id: run.venue_id,
        performances: run
            .performances
            .into_iter()
            .map(|p| v1::NewPerformance {
                show_id: p.show_id,
                starts_at_ms: p.starts_at_ms,
            })
            .collect(),
        sales_opens_at_ms: run.sales_opens_at_ms,
        sales_closes_at_ms: run.sales_closes_at_ms,
        pricing: Some(boxoffice_proto::convert::pricing(&pricing)),
    };
    let shows = gw
        .nodes
        .for_token(Some(&token))
        .add_performances(msg)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(shows.into_iter().map(Show::from).collect()),
    ))
}

/// Cancels a performance (administrators): sales stop, every booking is
/// cancelled and refunded, every hold released.
#[utoipa::path(post, path = "/api/shows/{show_id}/cancel", tag = "venues",
    security(("bearer" = [])),
    params(("show_id" = String, Path, description = "The performance")),
    responses(
        (status = 200, body = CancelledPerformance),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
async fn cancel_performance(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(show_id): Path<String>,
) -> Result<Json<CancelledPerformance>, ApiError> {
    let cancelled = gw
        .nodes
        .for_token(Some(&token))
        .cancel_performance(&show_id)
        .await?;
    Ok(Json(CancelledPerformance {
        show: cancelled.show.unwrap_or_default().into(),
        bookings: cancelled.bookings.into_iter().map(Booking::from).collect(),
    }))
}

/// Takes free seats off sale: house seats, press, sight-line kills
/// (administrators). All or none.
#[utoipa::path(post, path = "/api/shows/{show_id}/hold-back", tag = "venues",
    security(("bearer" = [])),
    params(("show_id" = String, Path, description = "The performance")),
    request_body = SeatPick,
    responses(
        (status = 200, body = Show),
        (status = 400, description = "An unknown seat or label, or no reason", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A seat is not free", body = ErrorBody),
    ))]
async fn hold_back(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(show_id): Path<String>,
    Body(pick): Body<SeatPick>,
) -> Result<Json<Show>, ApiError> {
    let labels: Vec<&str> = pick.seat_labels.iter().map(String::as_str).collect();
    let show = gw
        .nodes
        .for_token(Some(&token))
        .hold_back(&show_id, &pick.seat_nos, &labels, &pick.reason)
        .await?;
    Ok(Json(show.into()))
}

/// Puts held-back seats on sale again (administrators).
#[utoipa::path(post, path = "/api/shows/{show_id}/release", tag = "venues",
    security(("bearer" = [])),
    params(("show_id" = String, Path, description = "The performance")),
    request_body = SeatPick,
    responses(
        (status = 200, body = Show),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
async fn release_held_back(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(show_id): Path<String>,
    Body(pick): Body<SeatPick>,
) -> Result<Json<Show>, ApiError> {
    let labels: Vec<&str> = pick.seat_labels.iter().map(String::as_str).collect();
    let show = gw
        .nodes
        .for_token(Some(&token))
        .release_held_back(&show_id, &pick.seat_nos, &labels)
        .await?;
    Ok(Json(show.into()))
}

/// A performance's sales per category and ticket type, with refunds
/// (administrators). `?format=csv` gives the same as CSV.
#[utoipa::path(get, path = "/api/shows/{show_id}/sales", tag = "venues",
    security(("bearer" = [])),
    params(("show_id" = String, Path, description = "The performance"), ReportFormat),
    responses(
        (status = 200, description = "The report; CSV with `format=csv`", content(
            (SalesReport = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn sales_report(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(show_id): Path<String>,
    format: Result<Query<ReportFormat>, QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    let Query(format) = format?;
    let csv = match format.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "format {other:?}: use json or csv"
            )));
        }
    };
    let report = SalesReport::from(
        gw.nodes
            .for_token(Some(&token))
            .sales_report(&show_id)
            .await?,
    );
    Ok(if csv {
        (
            [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            report.to_csv(),
        )
            .into_response()
    } else {
        Json(report).into_response()
    })
}

/// Returns some or all tickets of a confirmed booking of mine (its owner
/// only: another user's booking is not found). The returned tickets'
/// prices are refunded; returning every ticket cancels the booking.
#[utoipa::path(post, path = "/api/bookings/{booking_id}/return", tag = "bookings",
    security(("bearer" = [])),
    params(("booking_id" = String, Path, description = "A booking of mine")),
    request_body = ReturnRequest,
    responses(
        (status = 200, body = Returned),
        (status = 400, description = "A seat the booking has no ticket for", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such booking of mine", body = ErrorBody),
        (status = 409, description = "The booking is not confirmed", body = ErrorBody),
    ))]
async fn return_tickets(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(booking_id): Path<String>,
    Body(r): Body<ReturnRequest>,
) -> Result<Json<Returned>, ApiError> {
    let nodes = gw.nodes.for_token(Some(&token));
    // No seats named: every ticket of the booking (the caller's own). The
    // node makes a return of every ticket the booking's cancellation.
    let seat_nos = if r.seat_nos.is_empty() {
        nodes
            .list_bookings(false)
            .await?
            .into_iter()
            .find(|b| b.booking_id == booking_id)
            .ok_or_else(|| ApiError::not_found(format!("you have no booking {booking_id}")))?
            .seat_nos
    } else {
        r.seat_nos
    };
    let reply = nodes.return_tickets(&booking_id, &seat_nos).await?;
    let kept = reply.kept.map(Booking::from);
    let returned = Booking::from(reply.returned.unwrap_or_default());
    let refunded = matches!(
        returned.payment_status,
        crate::dto::PaymentStatus::RefundPending | crate::dto::PaymentStatus::Refunded
    );
    Ok(Json(Returned {
        refund_cents: if refunded { returned.total_cents } else { 0 },
        kept,
        returned,
    }))
}

/// My tickets, one per place of each paid booking of mine, each with its
/// signed code (what the QR code carries).
#[utoipa::path(get, path = "/api/tickets", tag = "tickets", security(("bearer" = [])),
    params(TicketsQuery),
    responses(
        (status = 200, body = [ETicket]),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such booking of mine", body = ErrorBody),
    ))]
async fn list_tickets(
    State(gw): Shared,
    Bearer(token): Bearer,
    query: Result<Query<TicketsQuery>, QueryRejection>,
) -> Result<Json<Vec<ETicket>>, ApiError> {
    let Query(query) = query?;
    let tickets = gw
        .nodes
        .for_token(Some(&token))
        .list_tickets(query.booking_id.as_deref().unwrap_or(""), false)
        .await?;
    Ok(Json(tickets.into_iter().map(ETicket::from).collect()))
}

/// The QR code of a ticket of mine, drawn as SVG from its current code
/// (what the web app shows and prints). A separate route rather than a
/// field of `GET /api/tickets`: the list stays small (a drawing is some
/// 10 KiB a ticket, and the CLI's `--json` prints the same shape), and a
/// page loads only the drawings it shows. Only the ticket's holder gets
/// it: another user's ticket is not found.
#[utoipa::path(get, path = "/api/tickets/{ticket_id}/qr.svg", tag = "tickets",
    security(("bearer" = [])),
    params(("ticket_id" = String, Path, description = "A ticket of mine: BOOKING-SEAT")),
    responses(
        (status = 200, description = "The QR code of the ticket's current code",
            content_type = "image/svg+xml", body = String),
        (status = 400, description = "Not a ticket id", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such ticket of mine", body = ErrorBody),
    ))]
async fn ticket_qr(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(ticket_id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let id: boxoffice_ticket::TicketId = ticket_id
        .parse()
        .map_err(|e: boxoffice_ticket::BadTicketId| ApiError::invalid(e.to_string()))?;
    let mine = || ApiError::not_found(format!("you have no ticket {id}"));
    // The same call as `GET /api/tickets?booking_id=`: the node lists the
    // caller's own tickets only, and another user's booking is not found.
    let tickets = gw
        .nodes
        .for_token(Some(&token))
        .list_tickets(&id.booking.to_string(), false)
        .await
        .map_err(|status| match status.code() {
            tonic::Code::NotFound => mine(),
            _ => ApiError::from(status),
        })?;
    let ticket = tickets
        .into_iter()
        .find(|t| t.ticket_id == id.to_string())
        .ok_or_else(mine)?;
    let svg = boxoffice_view::qr::qr_svg(&ticket.code).map_err(|e| {
        tracing::error!(cause = %e, ticket = %id, "drawing a ticket's QR code");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the ticket's QR code could not be drawn",
        )
    })?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml".to_owned()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("inline; filename=\"ticket-{id}.svg\""),
            ),
        ],
        svg,
    )
        .into_response())
}

/// A new code for a ticket of mine: every earlier code stops admitting. A
/// ticket used at the door cannot be reissued.
#[utoipa::path(post, path = "/api/tickets/{ticket_id}/reissue", tag = "tickets",
    security(("bearer" = [])),
    params(("ticket_id" = String, Path, description = "A ticket of mine: BOOKING-SEAT")),
    responses(
        (status = 200, body = ETicket),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such ticket of mine", body = ErrorBody),
        (status = 409, description = "Used at the door", body = ErrorBody),
    ))]
async fn reissue_ticket(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(ticket_id): Path<String>,
) -> Result<Json<ETicket>, ApiError> {
    let ticket = gw
        .nodes
        .for_token(Some(&token))
        .reissue_ticket(&ticket_id)
        .await?;
    Ok(Json(ticket.into()))
}

/// Scans a ticket code at a door (administrators, and door staff at the
/// performances they are appointed to). Every finding, forged included,
/// is a 200 answer; only a bad request is an error.
#[utoipa::path(post, path = "/api/checkin", tag = "tickets", security(("bearer" = [])),
    request_body = ScanRequest,
    responses(
        (status = 200, body = ScanAnswer),
        (status = 400, description = "A bad show id or gate", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Neither an administrator nor door staff here", body = ErrorBody),
    ))]
async fn check_in(
    State(gw): Shared,
    Bearer(token): Bearer,
    Body(scan): Body<ScanRequest>,
) -> Result<Json<ScanAnswer>, ApiError> {
    let request_id = scan
        .request_id
        .unwrap_or_else(boxoffice_client::new_request_id);
    let nodes = gw.nodes.for_token(Some(&token));
    let answer = if scan.exit {
        nodes
            .check_out(&request_id, &scan.show_id, &scan.gate, &scan.code)
            .await?
    } else {
        nodes
            .check_in(&request_id, &scan.show_id, &scan.gate, &scan.code, 0)
            .await?
    };
    Ok(Json(answer.into()))
}

/// Gives a ticket of mine to another account (by email or id): my code
/// stops admitting, and the new holder finds a new one in their tickets.
/// A ticket used at the door cannot be given; once given, I can no longer
/// return it.
#[utoipa::path(post, path = "/api/tickets/{ticket_id}/transfer", tag = "tickets",
    security(("bearer" = [])),
    params(("ticket_id" = String, Path, description = "A ticket of mine: BOOKING-SEAT")),
    request_body = TransferRequest,
    responses(
        (status = 200, body = Transferred),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such ticket of mine, or no such account", body = ErrorBody),
        (status = 409, description = "Used at the door", body = ErrorBody),
    ))]
async fn transfer_ticket(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(ticket_id): Path<String>,
    Body(request): Body<TransferRequest>,
) -> Result<Json<Transferred>, ApiError> {
    let done = gw
        .nodes
        .for_token(Some(&token))
        .transfer_ticket(&ticket_id, &request.to)
        .await?;
    Ok(Json(Transferred {
        ticket_id: done.ticket_id,
        version: done.version,
        to_user_id: done.to_user_id,
    }))
}

/// How often a live door count is read.
const DOOR_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// A performance's door, live, for the front-of-house manager
/// (administrators and its door staff): server-sent events named `counts`
/// (a JSON `DoorCounts`: sold, inside, per gate, conflicts), the first at
/// once and then whenever the counts change (a linearizable read each
/// second, so a right withdrawn ends the stream at once); `error` events (an `ErrorBody`) while no node answers. The
/// caller's right is checked before the stream opens and on every read.
#[utoipa::path(get, path = "/api/performances/{show_id}/door/live", tag = "tickets",
    security(("bearer" = [])),
    params(("show_id" = String, Path, description = "The performance")),
    responses(
        (status = 200, description = "An event stream of `counts` events", content_type = "text/event-stream", body = DoorCounts),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Neither an administrator nor door staff here", body = ErrorBody),
        (status = 404, description = "No such performance", body = ErrorBody),
        (status = 429, description = "Too many event streams open", body = ErrorBody),
    ))]
async fn door_live(
    State(gw): Shared,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Bearer(token): Bearer,
    Path(show_id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // A buyer's own stream: from its pool, once the node took the token.
    let nodes = gw.nodes.for_token(Some(&token));
    let first = DoorCounts::from(nodes.door_counts(&show_id, false).await?);
    let place = gw.admit_signed_in_stream(client, &token)?;
    let events = futures::stream::unfold(
        (nodes, show_id, None::<DoorCounts>, Some(first), place),
        |(nodes, show_id, mut last, mut next, place)| async move {
            loop {
                let counts = match next.take() {
                    Some(counts) => Ok(counts),
                    None => {
                        tokio::time::sleep(DOOR_POLL).await;
                        nodes
                            .door_counts(&show_id, false)
                            .await
                            .map(DoorCounts::from)
                    }
                };
                let event = match counts {
                    // The clock moves with every write: compare the rest.
                    Ok(counts) => {
                        let same = last.as_ref().is_some_and(|l| {
                            DoorCounts {
                                at_ms: counts.at_ms,
                                ..l.clone()
                            } == counts
                        });
                        if same {
                            continue;
                        }
                        let event = Event::default().event("counts").json_data(&counts);
                        last = Some(counts);
                        event
                    }
                    Err(status) => {
                        let error = ApiError::from(status);
                        // A right withdrawn or a performance gone ends it.
                        if matches!(
                            error.status,
                            StatusCode::FORBIDDEN
                                | StatusCode::NOT_FOUND
                                | StatusCode::UNAUTHORIZED
                        ) {
                            return None;
                        }
                        Event::default().event("error").json_data(error.body())
                    }
                }
                .unwrap_or_else(|_| Event::default().comment("unserializable counts"));
                return Some((Ok(event), (nodes, show_id, last, next, place)));
            }
        },
    );
    Ok(Sse::new(events.take_until(gw.closed())).keep_alive(KeepAlive::default()))
}

/// The public keys that verify ticket codes, for scanners that check
/// codes offline.
#[utoipa::path(get, path = "/api/ticket-keys", tag = "tickets", security(("bearer" = [])),
    responses((status = 200, body = [TicketKey]), (status = 401, body = ErrorBody)))]
async fn ticket_keys(
    State(gw): Shared,
    Bearer(token): Bearer,
) -> Result<Json<Vec<TicketKey>>, ApiError> {
    let keys = gw
        .nodes
        .for_token(Some(&token))
        .ticket_keys(false)
        .await?
        .keys;
    Ok(Json(keys.into_iter().map(TicketKey::from).collect()))
}

/// A performance's waiting room and where the caller stands in it, with
/// the proof of work a join needs and the caller's challenge (any
/// logged-in user; 404 when the performance has no room).
#[utoipa::path(get, path = "/api/performances/{show_id}/queue", tag = "bookings",
    security(("bearer" = [])),
    params(("show_id" = String, Path, description = "The performance")),
    responses(
        (status = 200, body = QueueStanding),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such performance, or no waiting room", body = ErrorBody),
    ))]
async fn get_queue(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(show_id): Path<String>,
) -> Result<Json<QueueStanding>, ApiError> {
    let room = gw
        .nodes
        .for_token(Some(&token))
        .waiting_room(&show_id, false)
        .await?;
    Ok(Json(room.into()))
}

/// Takes a place in a performance's waiting room (any logged-in user, for
/// themself), with the proof of work its `GET` asks for. Joining again
/// keeps the place. Joins are limited per network (an IPv4 /24, an IPv6
/// /64): 429 beyond, with the wait. Only joins that took a place count
/// (by a signed-in buyer not yet in the room, with the right proof of
/// work, accepted by the cluster), so nobody can spend a network's joins
/// with requests that join nothing.
#[utoipa::path(post, path = "/api/performances/{show_id}/queue", tag = "bookings",
    security(("bearer" = [])),
    params(("show_id" = String, Path, description = "The performance")),
    request_body = JoinQueue,
    responses(
        (status = 200, body = QueueStanding),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such performance, or no waiting room", body = ErrorBody),
        (status = 409, description = "No proof of work or a wrong one, or the room closed", body = ErrorBody),
        (status = 429, description = "Too many joins from this network", body = ErrorBody),
    ))]
async fn join_queue(
    State(gw): Shared,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Bearer(token): Bearer,
    Path(show_id): Path<String>,
    Body(join): Body<JoinQueue>,
) -> Result<Json<QueueStanding>, ApiError> {
    // Through the peer ports, with the browser's address: the nodes limit
    // joins per network too, and must count the browser's, not ours.
    let nodes = gw
        .buyers
        .for_token(Some(&token))
        .for_client_addr(client.ip());
    // Who the caller is (the node checks the token), whether they are in
    // the room already, and the work their join needs.
    let standing = nodes.waiting_room(&show_id, false).await?;
    let you = standing.you.clone().unwrap_or_default();
    if you.status != "outside" {
        return Ok(Json(standing.into()));
    }
    let proved = <[u8; 32]>::try_from(you.join_challenge.as_slice()).is_ok_and(|challenge| {
        boxoffice_core::pow::proves(&challenge, join.pow_nonce, you.join_pow_bits)
    });
    if !proved {
        return Err(ApiError::from(tonic::Status::failed_precondition(format!(
            "joining a waiting room takes a proof of work: a pow_nonce such that SHA-256 of \
             your join_challenge and the nonce's 8 big-endian bytes begins with {} zero bits",
            you.join_pow_bits
        ))));
    }
    gw.may_join(client.ip())?;
    let joined = nodes
        .join_waiting_room_with(&show_id, join.pow_nonce)
        .await?;
    if joined
        .you
        .is_some_and(|you| matches!(you.status.as_str(), "pre_queue" | "waiting" | "admitted"))
    {
        gw.joined(client.ip());
    }
    // The answer with the caller's standing and challenge.
    Ok(Json(nodes.waiting_room(&show_id, false).await?.into()))
}

/// How long one look of the queue's event stream waits at the node.
const QUEUE_LOOK: std::time::Duration = std::time::Duration::from_secs(10);

/// Where the caller stands in a performance's waiting room, live: a
/// `standing` event (a `QueueStanding`) at once and whenever it changes
/// (the position falls, the caller is let in, the room closes); the
/// stream ends after the caller is let in, the room closes or they are
/// not in it. `error` events while no node answers.
#[utoipa::path(get, path = "/api/performances/{show_id}/queue/live", tag = "bookings",
    security(("bearer" = [])),
    params(("show_id" = String, Path, description = "The performance")),
    responses(
        (status = 200, description = "An event stream of `standing` events", content_type = "text/event-stream", body = QueueStanding),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such performance, or no waiting room", body = ErrorBody),
        (status = 429, description = "Too many event streams open", body = ErrorBody),
    ))]
async fn queue_live(
    State(gw): Shared,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Bearer(token): Bearer,
    Path(show_id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // A buyer's own stream: from its pool, once the node took the token.
    let nodes = Arc::new(gw.nodes.for_token(Some(&token)));
    let first = QueueStanding::from(nodes.waiting_room(&show_id, false).await?);
    let place = gw.admit_signed_in_stream(client, &token)?;
    let events = standing_events(
        first,
        move || {
            let (nodes, show_id) = (nodes.clone(), show_id.clone());
            async move {
                nodes
                    .wait_in_waiting_room(&show_id, QUEUE_LOOK)
                    .await
                    .map(QueueStanding::from)
            }
        },
        |standing: &QueueStanding| !matches!(standing.status.as_str(), "pre_queue" | "waiting"),
        place,
    );
    Ok(Sse::new(events.take_until(gw.closed())).keep_alive(KeepAlive::default()))
}

/// A stream of `standing` events: `first`, then each new answer of
/// `look` (a call that waits at the node until the standing changes)
/// that differs from the last sent, ending after one that is `over`;
/// an `error` event (and a second's pause) for each failed look, the
/// last if it is final (the session ended, the room or performance is
/// gone). Holds `place` among the gateway's streams while it lasts.
fn standing_events<T, L, F>(
    first: T,
    look: L,
    over: fn(&T) -> bool,
    place: crate::streams::Place,
) -> impl Stream<Item = Result<Event, Infallible>>
where
    T: PartialEq + serde::Serialize,
    L: Fn() -> F,
    F: std::future::Future<Output = Result<T, tonic::Status>>,
{
    futures::stream::unfold(
        (look, Some(first), None::<T>, false, place, 0u32),
        move |(look, mut next, mut last, done, place, failures)| async move {
            if done {
                return None;
            }
            loop {
                let standing = match next.take() {
                    Some(standing) => Ok(standing),
                    None => look().await,
                };
                match standing {
                    // Unchanged (a node shutting down answers waiting
                    // calls at once): look again a moment later.
                    Ok(standing) if last.as_ref() == Some(&standing) => {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    Ok(standing) => {
                        let ended = over(&standing);
                        let event = Event::default()
                            .event("standing")
                            .json_data(&standing)
                            .unwrap_or_else(|_| Event::default().comment("unserializable"));
                        last = Some(standing);
                        return Some((Ok(event), (look, None, last, ended, place, 0)));
                    }
                    Err(status) => {
                        let last_word = matches!(
                            status.code(),
                            tonic::Code::Unauthenticated
                                | tonic::Code::PermissionDenied
                                | tonic::Code::NotFound
                        );
                        let error = ApiError::from(status);
                        let event = Event::default()
                            .event("error")
                            .json_data(error.body())
                            .unwrap_or_else(|_| Event::default().comment("error"));
                        // Else look again after a pause that doubles while
                        // the looks keep failing (1 s to 16 s): a node
                        // refusing waits (its cap, or the account's, is
                        // reached) is not asked again every second.
                        if !last_word {
                            let pause = std::time::Duration::from_secs(1 << failures.min(4));
                            tokio::time::sleep(pause).await;
                        }
                        let failures = failures.saturating_add(1);
                        return Some((Ok(event), (look, None, last, last_word, place, failures)));
                    }
                }
            }
        },
    )
}

/// A performance's waiting list and where the caller stands on it (any
/// logged-in user; 404 for no such performance).
#[utoipa::path(get, path = "/api/performances/{show_id}/waitlist", tag = "bookings",
    security(("bearer" = [])),
    params(("show_id" = String, Path, description = "The performance")),
    responses(
        (status = 200, body = ListStanding),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such performance", body = ErrorBody),
    ))]
async fn get_waitlist(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(show_id): Path<String>,
) -> Result<Json<ListStanding>, ApiError> {
    let list = gw
        .nodes
        .for_token(Some(&token))
        .waiting_list(&show_id, std::time::Duration::ZERO)
        .await?;
    Ok(Json(list.into()))
}

/// Puts the caller on a sold-out performance's waiting list (any
/// logged-in user, for themself): seats freed later are held for the
/// first entry they fit. Refused with the reason while such seats are
/// free, while a waiting room guards the performance, or past the caps.
/// Joining again keeps the entry.
#[utoipa::path(post, path = "/api/performances/{show_id}/waitlist", tag = "bookings",
    security(("bearer" = [])),
    params(("show_id" = String, Path, description = "The performance")),
    request_body = JoinList,
    responses(
        (status = 200, body = ListStanding),
        (status = 400, description = "A quantity out of range, or an unknown category", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such performance", body = ErrorBody),
        (status = 409, description = "Seats are free, a room guards it, or a cap is reached", body = ErrorBody),
    ))]
async fn join_waitlist(
    State(gw): Shared,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Bearer(token): Bearer,
    Path(show_id): Path<String>,
    Body(join): Body<JoinList>,
) -> Result<Json<ListStanding>, ApiError> {
    // The entry keeps the caps of the browser's network, not the
    // gateway's: through the peer port, which believes the address.
    let list = gw
        .buyers
        .for_token(Some(&token))
        .for_client_addr(client.ip())
        .join_waiting_list(&show_id, join.quantity, &join.category)
        .await?;
    Ok(Json(list.into()))
}

/// Takes the caller off a performance's waiting list (an offer they hold
/// is given up, and goes to the next entry).
#[utoipa::path(delete, path = "/api/performances/{show_id}/waitlist", tag = "bookings",
    security(("bearer" = [])),
    params(("show_id" = String, Path, description = "The performance")),
    responses(
        (status = 200, body = ListStanding),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such performance", body = ErrorBody),
    ))]
async fn leave_waitlist(
    State(gw): Shared,
    Bearer(token): Bearer,
    Path(show_id): Path<String>,
) -> Result<Json<ListStanding>, ApiError> {
    let list = gw
        .nodes
        .for_token(Some(&token))
        .leave_waiting_list(&show_id)
        .await?;
    Ok(Json(list.into()))
}

/// Where the caller stands on a performance's waiting list, live: a
/// `standing` event (a `ListStanding`) at once and whenever it changes;
/// the stream ends once seats are offered (the event carries the hold to
/// pay) or the caller is not on the list. `error` events while no node
/// answers.
#[utoipa::path(get, path = "/api/performances/{show_id}/waitlist/live", tag = "bookings",
    security(("bearer" = [])),
    params(("show_id" = String, Path, description = "The performance")),
    responses(
        (status = 200, description = "An event stream of `standing` events", content_type = "text/event-stream", body = ListStanding),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such performance", body = ErrorBody),
        (status = 429, description = "Too many event streams open", body = ErrorBody),
    ))]
async fn waitlist_live(
    State(gw): Shared,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Bearer(token): Bearer,
    Path(show_id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // A buyer's own stream: from its pool, once the node took the token.
    let nodes = Arc::new(gw.nodes.for_token(Some(&token)));
    let first = ListStanding::from(
        nodes
            .waiting_list(&show_id, std::time::Duration::ZERO)
            .await?,
    );
    let place = gw.admit_signed_in_stream(client, &token)?;
    let events = standing_events(
        first,
        move || {
            let (nodes, show_id) = (nodes.clone(), show_id.clone());
            async move {
                nodes
                    .waiting_list(&show_id, QUEUE_LOOK)
                    .await
                    .map(ListStanding::from)
            }
        },
        |standing: &ListStanding| standing.status != "waiting",
        place,
    );
    Ok(Sse::new(events.take_until(gw.closed())).keep_alive(KeepAlive::default()))
}
