//! The one booking call ([`Client::book`]): seats of a show, under a
//! request id of the caller's or a fresh one, paid with a card or not;
//! with ticket types, seats by label, standing places and a
//! best-available pick for a performance. [`BookSeats::hold`] sends the
//! same request as a hold (the first step of a two-step checkout).

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use boxoffice_proto::v1;
use boxoffice_proto::v1::booking_service_client::BookingServiceClient;
use tonic::Status;

use crate::{Client, Route, new_request_id, rpc};

/// A `BookSeats` call being put together: `.await` it to send it.
/// Made by [`Client::book`].
#[must_use = "a booking is sent only when awaited"]
pub struct BookSeats<'a> {
    /// The client that sends it.
    client: &'a Client,
    /// The show.
    show_id: &'a str,
    /// The seats to book.
    seat_nos: &'a [u32],
    /// The caller's request id; a fresh one when `None`.
    request_id: Option<&'a str>,
    /// The card to pay with, if any.
    card: Option<&'a v1::Card>,
    /// Seats by label, after `seat_nos`.
    labels: Vec<String>,
    /// A ticket type per seat (numbers, then labels), or none.
    types: Vec<String>,
    /// Standing places.
    standing: Vec<v1::StandingRequest>,
    /// A best-available pick.
    best: Option<v1::BestRequest>,
    /// The admission token to send first, instead of the client's own.
    admission: Option<String>,
}

impl Client {
    /// Books `seat_nos` of `show_id` (the `BookSeats` call). Awaited as is,
    /// it books under a fresh request id, kept on every retry, and pays
    /// with no card; [`BookSeats::request_id`] and [`BookSeats::card`]
    /// change that.
    pub fn book<'a>(&'a self, show_id: &'a str, seat_nos: &'a [u32]) -> BookSeats<'a> {
        BookSeats {
            client: self,
            show_id,
            seat_nos,
            request_id: None,
            card: None,
            labels: Vec::new(),
            types: Vec::new(),
            standing: Vec::new(),
            best: None,
            admission: None,
        }
    }
}

/// Owned strings from any list of string-likes.
fn strings<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}

impl<'a> BookSeats<'a> {
    /// Books under `request_id`: a retry of an earlier call with the same
    /// id returns that call's outcome, and never books or charges twice.
    pub fn request_id(mut self, request_id: &'a str) -> Self {
        self.request_id = Some(request_id);
        self
    }

    /// Pays with `card` in the same call (the checkout of a cluster that
    /// takes payments; a free show needs none). Takes `&card` or an
    /// `Option<&Card>`.
    pub fn card(mut self, card: impl Into<Option<&'a v1::Card>>) -> Self {
        self.card = card.into();
        self
    }

    /// The ticket type of each seat, seat numbers first, then labels
    /// ("adult", "concession"); without it, every seat gets the
    /// performance's default type.
    pub fn types<S: Into<String>>(mut self, types: impl IntoIterator<Item = S>) -> Self {
        self.types = strings(types);
        self
    }

    /// Seats by label ("K-12" or "Stalls K-12"), besides the seat numbers.
    pub fn labels<S: Into<String>>(mut self, labels: impl IntoIterator<Item = S>) -> Self {
        self.labels = strings(labels);
        self
    }

    /// `count` standing places in `area`, of `ticket_type` ("" for the
    /// default); may be given for several areas.
    pub fn standing(mut self, area: &str, count: u32, ticket_type: &str) -> Self {
        self.standing.push(v1::StandingRequest {
            area: area.into(),
            count,
            ticket_type: ticket_type.into(),
        });
        self
    }

    /// The best `count` seats together, of `category` ("" for any), of
    /// `ticket_type` ("" for the default); wheelchair spaces only if
    /// `wheelchair`.
    pub fn best(mut self, count: u32, category: &str, ticket_type: &str, wheelchair: bool) -> Self {
        self.best = Some(v1::BestRequest {
            count,
            category: category.into(),
            ticket_type: ticket_type.into(),
            wheelchair,
        });
        self
    }

    /// Sends `token` as the caller's admission token (given by the
    /// performance's waiting room, say to a browser that passes it on)
    /// instead of the one this client holds; empty for that one. A token
    /// the node refuses is replaced as with the client's own.
    pub fn admission_token(mut self, token: &str) -> Self {
        self.admission = Some(token.to_owned()).filter(|t| !t.is_empty());
        self
    }

    /// The request id, chosen once before the first attempt so that every
    /// retry of the failover engine carries the same one.
    fn chosen_request_id(&self) -> String {
        self.request_id.map_or_else(new_request_id, str::to_owned)
    }

    /// Sends the same request as `HoldSeats` instead: holds without paying
    /// (any card is ignored), then `PayBooking` before the hold expires.
    pub async fn hold(self) -> Result<v1::Booking, Status> {
        let msg = v1::HoldSeatsRequest {
            request_id: self.chosen_request_id(),
            show_id: self.show_id.into(),
            seat_nos: self.seat_nos.to_vec(),
            ticket_types: self.types,
            standing: self.standing,
            best: self.best,
            seat_labels: self.labels,
            admission_token: String::new(),
        };
        let client = self.client;
        let reply = client
            .admitted(&msg.show_id, self.admission, |admission_token| {
                let msg = v1::HoldSeatsRequest {
                    admission_token,
                    ..msg.clone()
                };
                client.unary(Route::Sticky, msg, rpc!(BookingServiceClient::hold_seats))
            })
            .await?;
        Ok(reply.booking.unwrap_or_default())
    }

    /// Sends the call.
    async fn send(self) -> Result<v1::Booking, Status> {
        let msg = v1::BookSeatsRequest {
            request_id: self.chosen_request_id(),
            show_id: self.show_id.into(),
            seat_nos: self.seat_nos.to_vec(),
            card: self.card.cloned(),
            ticket_types: self.types,
            standing: self.standing,
            best: self.best,
            seat_labels: self.labels,
            admission_token: String::new(),
        };
        let client = self.client;
        let reply = client
            .admitted(&msg.show_id, self.admission, |admission_token| {
                let msg = v1::BookSeatsRequest {
                    admission_token,
                    ..msg.clone()
                };
                client.unary(Route::Sticky, msg, rpc!(BookingServiceClient::book_seats))
            })
            .await?;
        Ok(reply.booking.unwrap_or_default())
    }
}

impl<'a> IntoFuture for BookSeats<'a> {
    type Output = Result<v1::Booking, Status>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}
