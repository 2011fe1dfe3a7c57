//! Waiting rooms: setting one up (administrators), taking a place, and
//! where the caller stands. A join carries a request id chosen once and
//! kept on every retry; joining twice keeps the first place anyway.

use boxoffice_proto::v1;
use boxoffice_proto::v1::booking_service_client::BookingServiceClient;
use tonic::Status;

use std::time::Duration;

use crate::{Client, Route, new_request_id, read_options, rpc};

/// How much longer than the wait it asks for a waiting call may take.
pub(crate) const WAIT_MARGIN: Duration = Duration::from_secs(5);
/// The longest wait one call asks for: with its margin, within one
/// attempt ([`crate::ATTEMPT_TIMEOUT`]), so that the failover never takes
/// a long wait for a node that does not answer.
pub const MAX_ROOM_WAIT: Duration = Duration::from_secs(10);

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
    /// has): reads the room, does the proof of work its node asks for (on
    /// a blocking thread), then joins.
    pub async fn join_waiting_room(&self, show: &str) -> Result<v1::WaitingRoomResponse, Status> {
        let room = self.waiting_room(show, false).await?;
        let you = room.you.clone().unwrap_or_default();
        if you.status != "outside" {
            // In the room already (or it has closed): joining changes nothing.
            return Ok(room);
        }
        let nonce = match you.join_pow_bits {
            0 => 0,
            bits => {
                let challenge: [u8; 32] =
                    you.join_challenge.as_slice().try_into().map_err(|_| {
                        Status::internal("the node asked for a proof of work but sent no challenge")
                    })?;
                let bits = bits.min(boxoffice_core::pow::MAX_JOIN_BITS);
                tokio::task::spawn_blocking(move || boxoffice_core::pow::solve(&challenge, bits))
                    .await
                    .map_err(|e| Status::internal(format!("solving the proof of work: {e}")))?
            }
        };
        self.join_waiting_room_with(show, nonce).await
    }

    /// Takes a place in `show`'s waiting room with `pow_nonce` as the proof
    /// of work (found by the caller, say ahead of time).
    pub async fn join_waiting_room_with(
        &self,
        show: &str,
        pow_nonce: u64,
    ) -> Result<v1::WaitingRoomResponse, Status> {
        let msg = v1::JoinWaitingRoomRequest {
            request_id: new_request_id(),
            show_id: show.into(),
            pow_nonce,
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
            wait_ms: 0,
        };
        self.unary(
            Route::Spread,
            msg,
            rpc!(BookingServiceClient::get_waiting_room),
        )
        .await
    }

    /// Like [`Client::waiting_room`], but while the caller waits (in the
    /// pre-queue or the queue) the node answers only once they are let
    /// in, the room closes, or `wait` (at most 30 s) has passed.
    pub async fn wait_in_waiting_room(
        &self,
        show: &str,
        wait: Duration,
    ) -> Result<v1::WaitingRoomResponse, Status> {
        let wait_ms = u32::try_from(wait.as_millis())
            .unwrap_or(u32::MAX)
            .min(30_000);
        let msg = v1::GetWaitingRoomRequest {
            read: read_options(false),
            show_id: show.into(),
            wait_ms,
        };
        self.unary_within(
            Route::Spread,
            Duration::from_millis(u64::from(wait_ms)) + WAIT_MARGIN,
            msg,
            rpc!(BookingServiceClient::get_waiting_room),
        )
        .await
    }
}
