//! The JSON API: one handler per route, each a thin call into the client
//! library as the bearer of the request's token. The OpenAPI document is
//! generated from these same handlers, so it lists exactly the routes
//! served.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{
    ConnectInfo, FromRequest, FromRequestParts, OptionalFromRequestParts, Path, State,
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
    Answer, Booking, Cluster, Credentials, HoldRequest, NewShow, PayRequest, Question, Readiness,
    RefreshToken, SeatMap, SeatMapUpdate, Session, Show, ShowChanges, User,
};
use crate::error::{ApiError, ErrorBody};

type Shared = State<Arc<Gateway>>;

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
        (name = "bookings", description = "Checkout and my bookings"),
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
    let place = gw.admit_stream(client)?;
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

/// Holds seats for a checkout: the booking is `held` until
/// `hold_expires_at_ms`; pay it with `POST /api/bookings/{booking_id}/pay`.
#[utoipa::path(post, path = "/api/holds", tag = "bookings", security(("bearer" = [])),
    request_body = HoldRequest,
    responses(
        (status = 201, body = Booking),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A seat is taken, or the show has started", body = ErrorBody),
    ))]
async fn hold(
    State(gw): Shared,
    Bearer(token): Bearer,
    Body(h): Body<HoldRequest>,
) -> Result<(StatusCode, Json<Booking>), ApiError> {
    let booking = gw
        .nodes
        .for_token(Some(&token))
        .hold(&h.show_id, &h.seat_nos)
        .await?;
    Ok((StatusCode::CREATED, Json(booking.into())))
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
    let place = gw.admit_stream(client)?;
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
