//! Waiting lists: joining a sold-out performance's list, leaving it, and
//! where the caller stands, with the offer made to them. A join or leave
//! carries a request id chosen once and kept on every retry; both are
//! idempotent anyway.

use std::time::Duration;

use boxoffice_proto::v1;
use boxoffice_proto::v1::booking_service_client::BookingServiceClient;
use tonic::Status;

use crate::rooms::WAIT_MARGIN;
use crate::{Client, Route, new_request_id, read_options, rpc};

impl Client {
    /// Joins `show`'s waiting list for `quantity` seats of `category`
    /// (empty: any), or keeps the entry the caller has.
    pub async fn join_waiting_list(
        &self,
        show: &str,
        quantity: u32,
        category: &str,
    ) -> Result<v1::WaitingListResponse, Status> {
        let msg = v1::JoinWaitingListRequest {
            request_id: new_request_id(),
            show_id: show.into(),
            quantity,
            category: category.into(),
        };
        self.unary(
            Route::Sticky,
            msg,
            rpc!(BookingServiceClient::join_waiting_list),
        )
        .await
    }

    /// Leaves `show`'s waiting list, giving up any offer.
    pub async fn leave_waiting_list(&self, show: &str) -> Result<v1::WaitingListResponse, Status> {
        let msg = v1::LeaveWaitingListRequest {
            request_id: new_request_id(),
            show_id: show.into(),
        };
        self.unary(
            Route::Sticky,
            msg,
            rpc!(BookingServiceClient::leave_waiting_list),
        )
        .await
    }

    /// `show`'s waiting list and where the caller stands on it. With a
    /// non-zero `wait` (at most 30 s), while the caller waits on the list
    /// the node answers only once they are offered seats, leave it, or
    /// the wait has passed.
    pub async fn waiting_list(
        &self,
        show: &str,
        wait: Duration,
    ) -> Result<v1::WaitingListResponse, Status> {
        let wait_ms = u32::try_from(wait.as_millis())
            .unwrap_or(u32::MAX)
            .min(30_000);
        let msg = v1::GetWaitingListRequest {
            read: read_options(false),
            show_id: show.into(),
            wait_ms,
        };
        self.unary_within(
            Route::Spread,
            Duration::from_millis(u64::from(wait_ms)) + WAIT_MARGIN,
            msg,
            rpc!(BookingServiceClient::get_waiting_list),
        )
        .await
    }
}
