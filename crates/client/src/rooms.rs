//! Waiting rooms: setting one up (administrators), taking a place, and
//! where the caller stands. A join carries a request id chosen once and
//! kept on every retry; joining twice keeps the first place anyway.
//!
//! Admission tokens: every answer that says the caller is let in carries
//! their token, which the client keeps (per performance) and sends with
//! each hold or booking of that performance. A node that refuses a hold
//! for want of a live token marks its refusal
//! ([`boxoffice_proto::convert::ADMISSION_NEEDED`]); the client then asks
//! the room once for the caller's token (they may have been let in since,
//! or in another process) and, given a new one, tries once more with it.

use boxoffice_proto::v1;
use boxoffice_proto::v1::booking_service_client::BookingServiceClient;
use tonic::Status;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{Client, Route, new_request_id, read_options, rpc};

/// How much longer than the wait it asks for a waiting call may take.
pub(crate) const WAIT_MARGIN: Duration = Duration::from_secs(5);
/// The longest wait one call asks for: with its margin, within one
/// attempt ([`crate::ATTEMPT_TIMEOUT`]), so that the failover never takes
/// a long wait for a node that does not answer.
pub const MAX_ROOM_WAIT: Duration = Duration::from_secs(10);

/// The admission tokens a client holds, by performance.
#[derive(Clone, Debug, Default)]
pub(crate) struct Admissions(Arc<Mutex<HashMap<String, String>>>);

/// Most tokens one client keeps (one per performance it buys for).
const MAX_ADMISSIONS: usize = 64;

impl Admissions {
    fn get(&self, show: &str) -> String {
        let tokens = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens.get(show).cloned().unwrap_or_default()
    }

    /// Keeps the token `answer` carries for `show`, if any.
    fn remember(&self, show: &str, answer: &v1::WaitingRoomResponse) {
        let Some(token) = answer
            .you
            .as_ref()
            .map(|you| &you.admission_token)
            .filter(|token| !token.is_empty())
        else {
            return;
        };
        let mut tokens = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tokens.len() >= MAX_ADMISSIONS && !tokens.contains_key(show) {
            tokens.clear();
        }
        tokens.insert(show.to_owned(), token.clone());
    }
}

impl Client {
    /// Runs `call` (a hold or booking of `show`) with `preset` or else
    /// the admission token this client holds for it; if the node refuses it for want of a live
    /// token, asks the room for the caller's and, given a new one, runs
    /// `call` once more with it (same request id: the refusal came before
    /// anything was proposed).
    pub(crate) async fn admitted<T, F, Fut>(
        &self,
        show: &str,
        preset: Option<String>,
        call: F,
    ) -> Result<T, Status>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let sent = preset.unwrap_or_else(|| self.admissions.get(show));
        let refusal = match call(sent.clone()).await {
            Err(status)
                if status
                    .metadata()
                    .get(boxoffice_proto::convert::ADMISSION_NEEDED)
                    .is_some() =>
            {
                status
            }
            other => return other,
        };
        let Ok(room) = self.waiting_room(show, false).await else {
            return Err(refusal);
        };
        let fresh = self.admissions.get(show);
        if room.you.is_none_or(|you| you.admission_token.is_empty()) || fresh == sent {
            return Err(refusal);
        }
        call(fresh).await
    }

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
        let answer = self
            .unary(
                Route::Sticky,
                msg,
                rpc!(BookingServiceClient::join_waiting_room),
            )
            .await?;
        self.admissions.remember(show, &answer);
        Ok(answer)
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
        let answer = self
            .unary(
                Route::Spread,
                msg,
                rpc!(BookingServiceClient::get_waiting_room),
            )
            .await?;
        self.admissions.remember(show, &answer);
        Ok(answer)
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
        let answer = self
            .unary_within(
                Route::Spread,
                Duration::from_millis(u64::from(wait_ms)) + WAIT_MARGIN,
                msg,
                rpc!(BookingServiceClient::get_waiting_room),
            )
            .await?;
        self.admissions.remember(show, &answer);
        Ok(answer)
    }
}
