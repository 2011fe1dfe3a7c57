//! Venues, productions and performances: one typed method per RPC, as in
//! the rest of the client. Writes carry a request id chosen once and kept
//! on every retry; reads are spread over the nodes.

use boxoffice_proto::v1;
use boxoffice_proto::v1::booking_service_client::BookingServiceClient;
use tonic::Status;

use crate::{Client, Route, new_request_id, read_options, rpc};

impl Client {
    /// Stores a venue's layout under `venue_id` (administrator).
    pub async fn create_venue(
        &self,
        venue_id: &str,
        venue: v1::Venue,
    ) -> Result<v1::VenueSummary, Status> {
        let msg = v1::CreateVenueRequest {
            request_id: new_request_id(),
            venue_id: venue_id.into(),
            venue: Some(venue),
        };
        let reply = self
            .unary(Route::Sticky, msg, rpc!(BookingServiceClient::create_venue))
            .await?;
        Ok(reply.venue.unwrap_or_default())
    }

    /// Every venue, without layouts.
    pub async fn list_venues(&self, stale: bool) -> Result<Vec<v1::VenueSummary>, Status> {
        let msg = v1::ListVenuesRequest {
            read: read_options(stale),
        };
        let reply = self
            .unary(Route::Spread, msg, rpc!(BookingServiceClient::list_venues))
            .await?;
        Ok(reply.venues)
    }

    /// One venue with its layout.
    pub async fn get_venue(
        &self,
        venue_id: &str,
        stale: bool,
    ) -> Result<v1::GetVenueResponse, Status> {
        let msg = v1::GetVenueRequest {
            read: read_options(stale),
            venue_id: venue_id.into(),
        };
        self.unary(Route::Spread, msg, rpc!(BookingServiceClient::get_venue))
            .await
    }

    /// Creates a production (administrator).
    pub async fn create_production(
        &self,
        production_id: &str,
        title: &str,
        description: &str,
        running_minutes: u32,
    ) -> Result<v1::Production, Status> {
        let msg = v1::CreateProductionRequest {
            request_id: new_request_id(),
            production_id: production_id.into(),
            title: title.into(),
            description: description.into(),
            running_minutes,
        };
        let reply = self
            .unary(
                Route::Sticky,
                msg,
                rpc!(BookingServiceClient::create_production),
            )
            .await?;
        Ok(reply.production.unwrap_or_default())
    }

    /// Every production with its performances.
    pub async fn list_productions(
        &self,
        stale: bool,
    ) -> Result<Vec<v1::ProductionListing>, Status> {
        let msg = v1::ListProductionsRequest {
            read: read_options(stale),
        };
        let reply = self
            .unary(
                Route::Spread,
                msg,
                rpc!(BookingServiceClient::list_productions),
            )
            .await?;
        Ok(reply.productions)
    }

    /// Adds performances (administrator); a fresh request id if `msg` has none.
    pub async fn add_performances(
        &self,
        mut msg: v1::AddPerformancesRequest,
    ) -> Result<Vec<v1::Show>, Status> {
        if msg.request_id.is_empty() {
            msg.request_id = new_request_id();
        }
        let reply = self
            .unary(
                Route::Sticky,
                msg,
                rpc!(BookingServiceClient::add_performances),
            )
            .await?;
        Ok(reply.performances)
    }

    /// Cancels a performance (administrator): the performance and the
    /// bookings whose refunds it made due.
    pub async fn cancel_performance(
        &self,
        show_id: &str,
    ) -> Result<v1::CancelPerformanceResponse, Status> {
        let msg = v1::CancelPerformanceRequest {
            request_id: new_request_id(),
            show_id: show_id.into(),
        };
        self.unary(
            Route::Sticky,
            msg,
            rpc!(BookingServiceClient::cancel_performance),
        )
        .await
    }

    /// Takes seats off sale, by number and by label (administrator).
    pub async fn hold_back(
        &self,
        show_id: &str,
        seat_nos: &[u32],
        seat_labels: &[&str],
        reason: &str,
    ) -> Result<v1::Show, Status> {
        let msg = v1::HoldBackRequest {
            request_id: new_request_id(),
            show_id: show_id.into(),
            seat_nos: seat_nos.to_vec(),
            seat_labels: seat_labels.iter().map(|l| (*l).to_owned()).collect(),
            reason: reason.into(),
        };
        let reply = self
            .unary(Route::Sticky, msg, rpc!(BookingServiceClient::hold_back))
            .await?;
        Ok(reply.show.unwrap_or_default())
    }

    /// Puts held-back seats on sale again (administrator).
    pub async fn release_held_back(
        &self,
        show_id: &str,
        seat_nos: &[u32],
        seat_labels: &[&str],
    ) -> Result<v1::Show, Status> {
        let msg = v1::ReleaseHeldBackRequest {
            request_id: new_request_id(),
            show_id: show_id.into(),
            seat_nos: seat_nos.to_vec(),
            seat_labels: seat_labels.iter().map(|l| (*l).to_owned()).collect(),
        };
        let reply = self
            .unary(
                Route::Sticky,
                msg,
                rpc!(BookingServiceClient::release_held_back),
            )
            .await?;
        Ok(reply.show.unwrap_or_default())
    }

    /// Returns some tickets of one of the caller's bookings: the booking as
    /// kept, and the returned tickets as a cancelled booking (refunded).
    pub async fn return_tickets(
        &self,
        booking_id: &str,
        seat_nos: &[u32],
    ) -> Result<v1::ReturnTicketsResponse, Status> {
        let msg = v1::ReturnTicketsRequest {
            request_id: new_request_id(),
            booking_id: booking_id.into(),
            seat_nos: seat_nos.to_vec(),
        };
        self.unary(
            Route::Sticky,
            msg,
            rpc!(BookingServiceClient::return_tickets),
        )
        .await
    }

    /// The sales report of one performance (administrator).
    pub async fn sales_report(&self, show_id: &str) -> Result<v1::SalesReport, Status> {
        let msg = v1::GetSalesReportRequest {
            read: read_options(false),
            show_id: show_id.into(),
            production_id: String::new(),
        };
        let reply = self
            .unary(
                Route::Spread,
                msg,
                rpc!(BookingServiceClient::get_sales_report),
            )
            .await?;
        Ok(reply.reports.into_iter().next().unwrap_or_default())
    }

    /// The sales reports of every performance of a production (administrator).
    pub async fn production_sales(
        &self,
        production_id: &str,
    ) -> Result<Vec<v1::SalesReport>, Status> {
        let msg = v1::GetSalesReportRequest {
            read: read_options(false),
            show_id: String::new(),
            production_id: production_id.into(),
        };
        let reply = self
            .unary(
                Route::Spread,
                msg,
                rpc!(BookingServiceClient::get_sales_report),
            )
            .await?;
        Ok(reply.reports)
    }
}
