//! The one booking call ([`Client::book`]): seats of a show, under a
//! request id of the caller's or a fresh one, paid with a card or not.

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
        }
    }
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

    /// Sends the call.
    async fn send(self) -> Result<v1::Booking, Status> {
        // The id is chosen once, before the first attempt, so that every
        // retry of the failover engine carries the same one.
        let msg = v1::BookSeatsRequest {
            request_id: self.request_id.map_or_else(new_request_id, str::to_owned),
            show_id: self.show_id.into(),
            seat_nos: self.seat_nos.to_vec(),
            card: self.card.cloned(),
        };
        let reply = self
            .client
            .unary(Route::Sticky, msg, rpc!(BookingServiceClient::book_seats))
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
