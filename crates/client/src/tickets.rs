//! Tickets and the door: the caller's signed tickets, reissuing one, and
//! scanning codes at a gate. A scan carries a request id chosen once and
//! kept on every retry, so a scan retried across a leader failover is
//! recorded once.

use boxoffice_proto::v1;
use boxoffice_proto::v1::booking_service_client::BookingServiceClient;
use tonic::Status;

use crate::{Client, Route, new_request_id, read_options, rpc};

impl Client {
    /// The caller's tickets with their codes; only `booking_id`'s if not empty.
    pub async fn list_tickets(
        &self,
        booking_id: &str,
        stale: bool,
    ) -> Result<Vec<v1::ETicket>, Status> {
        let msg = v1::ListTicketsRequest {
            read: read_options(stale),
            booking_id: booking_id.into(),
        };
        let reply = self
            .unary(Route::Spread, msg, rpc!(BookingServiceClient::list_tickets))
            .await?;
        Ok(reply.tickets)
    }

    /// A new code for one of the caller's tickets; earlier codes die.
    pub async fn reissue_ticket(&self, ticket_id: &str) -> Result<v1::ETicket, Status> {
        self.reissue_ticket_as(&new_request_id(), ticket_id).await
    }

    /// [`Client::reissue_ticket`] under `request_id`: a retry with the same
    /// id is recorded once.
    pub async fn reissue_ticket_as(
        &self,
        request_id: &str,
        ticket_id: &str,
    ) -> Result<v1::ETicket, Status> {
        let msg = v1::ReissueTicketRequest {
            request_id: request_id.into(),
            ticket_id: ticket_id.into(),
        };
        let reply = self
            .unary(
                Route::Sticky,
                msg,
                rpc!(BookingServiceClient::reissue_ticket),
            )
            .await?;
        reply
            .ticket
            .ok_or_else(|| Status::internal("the reply carried no ticket"))
    }

    /// Scans `code` at `gate` for `show_id` (an administrator, or door
    /// staff of the show's production or venue). `request_id`
    /// names the scan: give the same one when retrying it. `offline_at_ms`
    /// is when an offline gate made the scan (0 for a live one).
    pub async fn check_in(
        &self,
        request_id: &str,
        show_id: &str,
        gate: &str,
        code: &str,
        offline_at_ms: i64,
    ) -> Result<v1::CheckInResponse, Status> {
        let msg = v1::CheckInRequest {
            request_id: request_id.into(),
            show_id: show_id.into(),
            gate: gate.into(),
            code: code.into(),
            offline_at_ms,
            exit: false,
        };
        self.unary(Route::Sticky, msg, rpc!(BookingServiceClient::check_in))
            .await
    }

    /// An exit scan of `code` at `gate`, at a performance that allows
    /// re-entry (the same callers as [`Client::check_in`]).
    pub async fn check_out(
        &self,
        request_id: &str,
        show_id: &str,
        gate: &str,
        code: &str,
    ) -> Result<v1::CheckInResponse, Status> {
        let msg = v1::CheckInRequest {
            request_id: request_id.into(),
            show_id: show_id.into(),
            gate: gate.into(),
            code: code.into(),
            offline_at_ms: 0,
            exit: true,
        };
        self.unary(Route::Sticky, msg, rpc!(BookingServiceClient::check_in))
            .await
    }

    /// Gives one of my tickets to another account (`to`: an id or an
    /// email); my code stops admitting and the new holder gets a new one.
    pub async fn transfer_ticket(
        &self,
        ticket_id: &str,
        to: &str,
    ) -> Result<v1::TransferTicketResponse, Status> {
        let msg = v1::TransferTicketRequest {
            request_id: new_request_id(),
            ticket_id: ticket_id.into(),
            to: to.into(),
        };
        self.unary(
            Route::Sticky,
            msg,
            rpc!(BookingServiceClient::transfer_ticket),
        )
        .await
    }

    /// Allows or stops exits and re-entry at a performance (administrator).
    pub async fn set_reentry(&self, show_id: &str, allowed: bool) -> Result<(), Status> {
        let msg = v1::SetReentryRequest {
            request_id: new_request_id(),
            show_id: show_id.into(),
            allowed,
        };
        self.unary(Route::Sticky, msg, rpc!(BookingServiceClient::set_reentry))
            .await
            .map(|_| ())
    }

    /// The public keys that verify ticket codes, and the ids of the keys
    /// retired.
    pub async fn ticket_keys(&self, stale: bool) -> Result<v1::ListTicketKeysResponse, Status> {
        let msg = v1::ListTicketKeysRequest {
            read: read_options(stale),
        };
        let reply = self
            .unary(
                Route::Spread,
                msg,
                rpc!(BookingServiceClient::list_ticket_keys),
            )
            .await?;
        Ok(reply)
    }

    /// Retires a ticket key: its codes stop admitting (administrator).
    pub async fn retire_ticket_key(&self, kid: &str) -> Result<(), Status> {
        let msg = v1::RetireTicketKeyRequest {
            request_id: new_request_id(),
            kid: kid.into(),
        };
        self.unary(
            Route::Sticky,
            msg,
            rpc!(BookingServiceClient::retire_ticket_key),
        )
        .await
        .map(|_| ())
    }

    /// Lets `user` (an id or an email) check tickets in at a production's
    /// doors (`production_id`) or a venue's (`venue_id`), or withdraws it
    /// (administrator). Returns the account's id.
    pub async fn set_door_staff(
        &self,
        user: &str,
        production_id: &str,
        venue_id: &str,
        grant: bool,
    ) -> Result<String, Status> {
        let msg = v1::SetDoorStaffRequest {
            request_id: new_request_id(),
            user: user.into(),
            production_id: production_id.into(),
            venue_id: venue_id.into(),
            grant,
        };
        let reply = self
            .unary(
                Route::Sticky,
                msg,
                rpc!(BookingServiceClient::set_door_staff),
            )
            .await?;
        Ok(reply.user_id)
    }

    /// A performance's door list: keys, current tickets, conflicts and
    /// counts per gate (administrators and its door staff).
    pub async fn door_list(&self, show_id: &str, stale: bool) -> Result<v1::DoorList, Status> {
        self.door_list_of(show_id, stale, false).await
    }

    /// A performance's door counts only: per gate, inside, sold,
    /// conflicts (no tickets or keys).
    pub async fn door_counts(&self, show_id: &str, stale: bool) -> Result<v1::DoorList, Status> {
        self.door_list_of(show_id, stale, true).await
    }

    async fn door_list_of(
        &self,
        show_id: &str,
        stale: bool,
        counts_only: bool,
    ) -> Result<v1::DoorList, Status> {
        let msg = v1::GetDoorListRequest {
            read: read_options(stale),
            show_id: show_id.into(),
            counts_only,
        };
        self.unary(
            Route::Spread,
            msg,
            rpc!(BookingServiceClient::get_door_list),
        )
        .await
    }
}
