//! Venues, productions and performances on `boxoffice.v1.BookingService`:
//! the box office's management calls, ticket returns and sales reports.
//!
//! Who may call what, and how they prove it (a bearer token, as for every
//! call of the service):
//! - CreateVenue, CreateProduction, AddPerformances, CancelPerformance,
//!   HoldBack, ReleaseHeldBack: an administrator. Refused here, before
//!   anything is proposed, on this replica's view of the account (the
//!   state machine checks `Command::needs` again when it applies them).
//! - GetSalesReport: an administrator, checked in the same read that
//!   makes the report.
//! - ReturnTickets: the booking's owner, like CancelBooking (another
//!   user's booking is NOT_FOUND).
//! - ListVenues, GetVenue, ListProductions: anyone, like ListShows.
//!
//! Writes are paced per account and carry the request's id, as every write
//! of the service ([`BookingApi::write`]).

use boxoffice_core::{
    Booking, Caller, Command, Effect, NewPerformance, ProductionId, Rejection, SalesWindow, SeatNo,
    ShowId, ShowSummary, Timestamp, VenueId, VenueSummary, check_id,
};
use boxoffice_proto::convert;
use boxoffice_proto::v1;
use tonic::{Response, Status};

use super::{BookingApi, Wanted, booking_id};

/// What the state machine says to a customer who tries a management call.
const MANAGED_BY_ADMINS: &str =
    "venues, productions and performances are managed by administrators";

fn unexpected(effect: Effect) -> Status {
    Status::internal(format!("unexpected effect {effect:?}"))
}

/// A millisecond time from a request, 0 meaning none.
fn optional_ms(ms: i64) -> Option<Timestamp> {
    (ms != 0).then_some(Timestamp(ms))
}

impl BookingApi {
    /// The caller, if they are an administrator (on this replica's view of
    /// their account); else PERMISSION_DENIED, before anything is proposed.
    pub(super) async fn admin<T>(&self, req: &tonic::Request<T>) -> Result<Caller, Status> {
        self.admin_for(req, MANAGED_BY_ADMINS).await
    }

    /// [`Self::admin`], refusing with `why` (what the state machine says
    /// of the same command).
    pub(super) async fn admin_for<T>(
        &self,
        req: &tonic::Request<T>,
        why: &str,
    ) -> Result<Caller, Status> {
        let caller = self.auth.caller(req)?;
        let admin = self
            .replica
            .read(true, |s| s.authenticate(&caller).map(|user| user.admin))
            .await?
            .map_err(|r| convert::rejection_status(&r))?;
        if !admin {
            return Err(convert::rejection_status(&Rejection::PermissionDenied(
                why.to_owned(),
            )));
        }
        Ok(caller)
    }

    /// A show from a write's effect as the API shows it, with its state
    /// and sales window: read linearizably, so that a follower answering
    /// has applied the write (a stale read showed the show before it).
    async fn present_show(&self, summary: &ShowSummary) -> Result<v1::Show, Status> {
        let shown = self
            .replica
            .read(false, |s| {
                s.show(&summary.id).map(|show| convert::show_in(s, show))
            })
            .await?;
        Ok(shown.unwrap_or_else(|| convert::show(summary)))
    }

    /// The seats of a hold-back request: numbers, then labels.
    async fn seats_of(
        &self,
        show_id: String,
        seat_nos: Vec<u32>,
        seat_labels: Vec<String>,
    ) -> Result<(ShowId, Vec<SeatNo>), Status> {
        let (show, seats, _) = self
            .wanted(Wanted {
                show_id,
                seat_nos,
                seat_labels,
                ticket_types: Vec::new(),
                standing: Vec::new(),
                best: None,
            })
            .await?;
        Ok((show, seats))
    }

    /// Refunds `booking` at once if it is due a refund; if that fails, the
    /// leader's coordinator will.
    async fn refund_now(&self, booking: Booking) -> Booking {
        let Some(checkout) = &self.checkout else {
            return booking;
        };
        match checkout.refund(booking.clone()).await {
            Ok(refunded) => refunded,
            Err(status) => {
                tracing::info!(booking = %booking.id, %status, "refund deferred to the coordinator");
                booking
            }
        }
    }

    pub(super) async fn create_venue_call(
        &self,
        req: tonic::Request<v1::CreateVenueRequest>,
    ) -> Result<Response<v1::CreateVenueResponse>, Status> {
        let caller = self.admin(&req).await?;
        let r = req.into_inner();
        let layout = convert::venue_from(
            r.venue
                .ok_or_else(|| Status::invalid_argument("venue is required"))?,
        )?;
        let command = Command::CreateVenue {
            venue: VenueId(r.venue_id),
            layout,
        };
        match self.write(caller, r.request_id, command).await? {
            Effect::Venue(v) => Ok(Response::new(v1::CreateVenueResponse {
                venue: Some(convert::venue_summary(&v)),
            })),
            other => Err(unexpected(other)),
        }
    }

    pub(super) async fn list_venues_call(
        &self,
        req: tonic::Request<v1::ListVenuesRequest>,
    ) -> Result<Response<v1::ListVenuesResponse>, Status> {
        let venues = self
            .read(req.into_inner().read, |s| {
                s.venues()
                    .map(|(id, index)| convert::venue_summary(&VenueSummary::of(id, index)))
                    .collect()
            })
            .await?;
        Ok(Response::new(v1::ListVenuesResponse { venues }))
    }

    pub(super) async fn get_venue_call(
        &self,
        req: tonic::Request<v1::GetVenueRequest>,
    ) -> Result<Response<v1::GetVenueResponse>, Status> {
        let r = req.into_inner();
        check_id("venue_id", &r.venue_id).map_err(|r| convert::rejection_status(&r))?;
        let id = VenueId(r.venue_id);
        self.read(r.read, |s| {
            let index = s
                .venue(&id)
                .ok_or_else(|| Status::not_found(format!("venue {id} not found")))?;
            Ok(Response::new(v1::GetVenueResponse {
                summary: Some(convert::venue_summary(&VenueSummary::of(&id, index))),
                venue: Some(convert::venue(index.venue())),
            }))
        })
        .await?
    }

    pub(super) async fn create_production_call(
        &self,
        req: tonic::Request<v1::CreateProductionRequest>,
    ) -> Result<Response<v1::CreateProductionResponse>, Status> {
        let caller = self.admin(&req).await?;
        let r = req.into_inner();
        let command = Command::CreateProduction {
            production: ProductionId(r.production_id),
            title: r.title,
            description: r.description,
            running_minutes: r.running_minutes,
        };
        match self.write(caller, r.request_id, command).await? {
            Effect::Production(p) => Ok(Response::new(v1::CreateProductionResponse {
                production: Some(convert::production(&p)),
            })),
            other => Err(unexpected(other)),
        }
    }

    pub(super) async fn list_productions_call(
        &self,
        req: tonic::Request<v1::ListProductionsRequest>,
    ) -> Result<Response<v1::ListProductionsResponse>, Status> {
        let productions = self
            .read(req.into_inner().read, |s| {
                s.catalogue()
                    .into_iter()
                    .map(|(p, shows)| v1::ProductionListing {
                        production: Some(convert::production(&p)),
                        performances: shows
                            .into_iter()
                            .map(|show| convert::show_in(s, show))
                            .collect(),
                    })
                    .collect()
            })
            .await?;
        Ok(Response::new(v1::ListProductionsResponse { productions }))
    }

    pub(super) async fn add_performances_call(
        &self,
        req: tonic::Request<v1::AddPerformancesRequest>,
    ) -> Result<Response<v1::AddPerformancesResponse>, Status> {
        let caller = self.admin(&req).await?;
        let r = req.into_inner();
        let command = Command::AddPerformances {
            production: ProductionId(r.production_id),
            venue: VenueId(r.venue_id),
            performances: r
                .performances
                .into_iter()
                .map(|p| NewPerformance {
                    show: ShowId(p.show_id),
                    starts_at: Timestamp(p.starts_at_ms),
                })
                .collect(),
            sales: SalesWindow {
                opens_at: optional_ms(r.sales_opens_at_ms),
                closes_at: optional_ms(r.sales_closes_at_ms),
            },
            pricing: convert::pricing_from(r.pricing.unwrap_or_default())?,
        };
        let summaries = match self.write(caller, r.request_id, command).await? {
            Effect::Performances(summaries) => summaries,
            other => return Err(unexpected(other)),
        };
        let mut performances = Vec::with_capacity(summaries.len());
        for summary in &summaries {
            performances.push(self.present_show(summary).await?);
        }
        Ok(Response::new(v1::AddPerformancesResponse { performances }))
    }

    /// Cancels the performance, then refunds at once every booking of it
    /// whose refund is due (best effort: the coordinator's sweep of
    /// unsettled bookings makes sure of it).
    pub(super) async fn cancel_performance_call(
        &self,
        req: tonic::Request<v1::CancelPerformanceRequest>,
    ) -> Result<Response<v1::CancelPerformanceResponse>, Status> {
        let caller = self.admin(&req).await?;
        let r = req.into_inner();
        let id = ShowId(r.show_id);
        let command = Command::CancelPerformance { show: id.clone() };
        let summary = match self.write(caller, r.request_id, command).await? {
            Effect::Show(summary) => summary,
            other => return Err(unexpected(other)),
        };
        // After the write: a linearizable read sees the cancellation.
        let due: Vec<Booking> = self
            .read(None, |s| s.unsettled().filter(|b| b.show == id).collect())
            .await?;
        let mut bookings = Vec::with_capacity(due.len());
        for booking in due {
            let booking = self.refund_now(booking).await;
            bookings.push(self.present(&booking).await?);
        }
        Ok(Response::new(v1::CancelPerformanceResponse {
            show: Some(self.present_show(&summary).await?),
            bookings,
        }))
    }

    pub(super) async fn hold_back_call(
        &self,
        req: tonic::Request<v1::HoldBackRequest>,
    ) -> Result<Response<v1::HoldBackResponse>, Status> {
        let caller = self.admin(&req).await?;
        let r = req.into_inner();
        let (show, seats) = self.seats_of(r.show_id, r.seat_nos, r.seat_labels).await?;
        let command = Command::HoldBack {
            show,
            seats,
            reason: r.reason,
        };
        match self.write(caller, r.request_id, command).await? {
            Effect::Show(summary) => Ok(Response::new(v1::HoldBackResponse {
                show: Some(self.present_show(&summary).await?),
            })),
            other => Err(unexpected(other)),
        }
    }

    pub(super) async fn release_held_back_call(
        &self,
        req: tonic::Request<v1::ReleaseHeldBackRequest>,
    ) -> Result<Response<v1::ReleaseHeldBackResponse>, Status> {
        let caller = self.admin(&req).await?;
        let r = req.into_inner();
        let (show, seats) = self.seats_of(r.show_id, r.seat_nos, r.seat_labels).await?;
        let command = Command::ReleaseHeldBack { show, seats };
        match self.write(caller, r.request_id, command).await? {
            Effect::Show(summary) => Ok(Response::new(v1::ReleaseHeldBackResponse {
                show: Some(self.present_show(&summary).await?),
            })),
            other => Err(unexpected(other)),
        }
    }

    /// Returns the tickets, then refunds the returned booking at once, as
    /// CancelBooking does (the coordinator retries a refund still due).
    pub(super) async fn return_tickets_call(
        &self,
        req: tonic::Request<v1::ReturnTicketsRequest>,
    ) -> Result<Response<v1::ReturnTicketsResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        let command = Command::ReturnTickets {
            booking: booking_id(&r.booking_id)?,
            seats: r.seat_nos.into_iter().map(SeatNo).collect(),
            user: caller.user.clone(),
        };
        let (kept, returned) = match self.write(caller, r.request_id, command).await? {
            Effect::Returned { kept, returned } => (Some(kept), returned),
            // Every ticket returned: the booking itself is cancelled, and
            // nothing is kept.
            Effect::Booking(cancelled) => (None, Box::new(cancelled)),
            other => return Err(unexpected(other)),
        };
        let returned = self.refund_now(*returned).await;
        let kept = match kept {
            Some(kept) => Some(self.present(&kept).await?),
            None => None,
        };
        Ok(Response::new(v1::ReturnTicketsResponse {
            kept,
            returned: Some(self.present(&returned).await?),
        }))
    }

    pub(super) async fn get_sales_report_call(
        &self,
        req: tonic::Request<v1::GetSalesReportRequest>,
    ) -> Result<Response<v1::GetSalesReportResponse>, Status> {
        // Refused early on this replica, then checked again in the read.
        let caller = self.admin(&req).await?;
        let r = req.into_inner();
        if r.show_id.is_empty() == r.production_id.is_empty() {
            return Err(Status::invalid_argument(
                "name either show_id or production_id",
            ));
        }
        let reports = self
            .read(r.read, |s| {
                if !s
                    .authenticate(&caller)
                    .map_err(|r| convert::rejection_status(&r))?
                    .admin
                {
                    return Err(convert::rejection_status(&Rejection::PermissionDenied(
                        MANAGED_BY_ADMINS.to_owned(),
                    )));
                }
                if !r.show_id.is_empty() {
                    let id = ShowId(r.show_id.clone());
                    let report = s
                        .sales_report(&id)
                        .ok_or_else(|| convert::rejection_status(&Rejection::ShowNotFound(id)))?;
                    return Ok(vec![convert::sales_report(&report)]);
                }
                let production = ProductionId(r.production_id.clone());
                if !s.has_production(&production) {
                    return Err(Status::not_found(format!(
                        "production {production} not found"
                    )));
                }
                Ok(s.performances_of(&production)
                    .filter_map(|show| s.sales_report(&show.id))
                    .map(|report| convert::sales_report(&report))
                    .collect())
            })
            .await??;
        Ok(Response::new(v1::GetSalesReportResponse { reports }))
    }
}
