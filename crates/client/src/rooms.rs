//! Waiting rooms: setting one up (administrators), taking a place, and
//! where the caller stands. A join carries a request id chosen once and
//! kept on every retry; joining twice keeps the first place anyway.

use boxoffice_proto::v1;
use boxoffice_proto::v1::booking_service_client::BookingServiceClient;
use tonic::Status;

use crate::{Client, Route, new_request_id, read_options, rpc};

impl Client {
    /// Sets up or changes `show`'s waiting room, or removes it (`None`).
    pub async fn set_waiting_room(
        &self,
        show: &str,
        rules: Option<v1::RoomRules>,
    ) -> Result<v1::WaitingRoomResponse, Status> {
        let msg = v1::SetWaitingRoomRequest {
            request_id: new_request_id(),
            show_id: show.into(),
            remove: rules.is_none(),
            rules,
        };
        self.unary(
            Route::Sticky,
            msg,
            rpc!(BookingServiceClient::set_waiting_room),
        )
        .await
    }

    /// Takes a place in `show`'s waiting room (or keeps the one the caller
    /// has).
    pub async fn join_waiting_room(&self, show: &str) -> Result<v1::WaitingRoomResponse, Status> {
        let msg = v1::JoinWaitingRoomRequest {
            request_id: new_request_id(),
            show_id: show.into(),
        };
        self.unary(
            Route::Sticky,
            msg,
            rpc!(BookingServiceClient::join_waiting_room),
        )
        .await
    }

    /// `show`'s waiting room and where the caller stands in it.
    pub async fn waiting_room(
        &self,
        show: &str,
        stale: bool,
    ) -> Result<v1::WaitingRoomResponse, Status> {
        let msg = v1::GetWaitingRoomRequest {
            read: read_options(stale),
            show_id: show.into(),
        };
        self.unary(
            Route::Spread,
            msg,
            rpc!(BookingServiceClient::get_waiting_room),
        )
        .await
    }
}
