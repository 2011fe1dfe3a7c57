//! Waiting lists on `boxoffice.v1.BookingService` (issue 25): joining a
//! sold-out performance's list, leaving it, and where a buyer stands,
//! with their offer when seats freed for them are held.
//!
//! Who may call what, and how they prove it (a bearer token, as for every
//! call of the service):
//! - JoinWaitingList, LeaveWaitingList: any signed-in buyer, for themself
//!   only (the command names the caller; the state machine refuses anyone
//!   else). An offer's length is this node's `booking.waitlist_offer_ms`.
//!   Joining needs a cluster that takes payments: an offer is a hold, and
//!   only the checkout turns a hold into a sale.
//! - GetWaitingList: anyone signed in; it shows only the caller's entry.
//!   With `wait_ms` it answers when the caller is offered seats or leaves
//!   the list, looking at this replica every [`LOOK_EVERY`] meanwhile; it
//!   takes a place among the node's waiting calls (`booking.max_room_waits`,
//!   two per account), as a waiting room's call does.
//!
//! The offers themselves are made by the state machine as seats are freed
//! (see `boxoffice_core::WaitingList`); an offer is paid with PayBooking.

use std::time::{Duration, Instant};

use boxoffice_core::{
    Command, Effect, ListStatus, ListSummary, ShowId, State, WaitingList, check_id,
};
use boxoffice_proto::convert;
use boxoffice_proto::v1;
use tonic::{Response, Status};

use super::BookingApi;
use super::rooms::MAX_WAIT_MS;

/// How often a waiting `GetWaitingList` call looks at the replica: an
/// offer lasts minutes, so a buyer hears of it within this.
const LOOK_EVERY: Duration = Duration::from_millis(250);

impl BookingApi {
    pub(super) async fn join_waiting_list_call(
        &self,
        req: tonic::Request<v1::JoinWaitingListRequest>,
    ) -> Result<Response<v1::WaitingListResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let network = super::client_network(&req);
        let Some(checkout) = self.checkout.as_ref() else {
            return Err(Status::failed_precondition(
                "waiting lists offer seats as holds to pay, and this cluster takes no payments \
                 (payment.endpoint is not set)",
            ));
        };
        // The offer is a hold, made under the caps a hold of this caller
        // would carry (its card is attached when it is paid).
        let rules = checkout.one_call_rules(network);
        let r = req.into_inner();
        let show = list_show(&r.show_id)?;
        let command = Command::JoinWaitingList {
            show,
            user: caller.user.clone(),
            quantity: r.quantity,
            category: r.category,
            offer_ms: self.waitlist_offer_ms,
            max_seats_per_user: rules.max_seats_per_user,
            limits: rules.limits,
        };
        let effect = self.write(caller, r.request_id, command).await?;
        self.list_answer(effect).await
    }

    pub(super) async fn leave_waiting_list_call(
        &self,
        req: tonic::Request<v1::LeaveWaitingListRequest>,
    ) -> Result<Response<v1::WaitingListResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        let show = list_show(&r.show_id)?;
        let command = Command::LeaveWaitingList {
            show,
            user: caller.user.clone(),
        };
        let effect = self.write(caller, r.request_id, command).await?;
        self.list_answer(effect).await
    }

    pub(super) async fn get_waiting_list_call(
        &self,
        req: tonic::Request<v1::GetWaitingListRequest>,
    ) -> Result<Response<v1::WaitingListResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        let show = list_show(&r.show_id)?;
        let wait = Duration::from_millis(u64::from(r.wait_ms.min(MAX_WAIT_MS)));
        let _place = self.waiting_place(&caller, wait)?;
        let until = Instant::now() + wait;
        let mut read = r.read;
        let mut closing = self.closing.clone();
        loop {
            let (answer, waiting) = self
                .read(read, |state| {
                    state.authenticate(&caller)?;
                    if state.show(&show).is_none() {
                        return Err(boxoffice_core::Rejection::ShowNotFound(show.clone()));
                    }
                    let summary = summary_of(state, &show, &caller.user);
                    let waiting = matches!(summary.status, ListStatus::Waiting { .. });
                    Ok((response(state, &summary), waiting))
                })
                .await?
                .map_err(|r| convert::rejection_status(&r))?;
            let left = until.saturating_duration_since(Instant::now());
            if !waiting || left.is_zero() || *closing.borrow() {
                return Ok(Response::new(answer));
            }
            tokio::select! {
                () = tokio::time::sleep(LOOK_EVERY.min(left)) => {}
                Ok(()) = closing.changed() => {}
            }
            read = Some(v1::ReadOptions {
                consistency: v1::Consistency::Stale.into(),
            });
        }
    }

    /// The API's answer to a list command's effect (its offer's booking
    /// read from this replica, which has applied the command).
    async fn list_answer(
        &self,
        effect: Effect,
    ) -> Result<Response<v1::WaitingListResponse>, Status> {
        let Effect::WaitingList(summary) = effect else {
            return Err(Status::internal(format!("unexpected effect {effect:?}")));
        };
        let answer = self.read(None, |state| response(state, &summary)).await?;
        Ok(Response::new(answer))
    }
}

/// The list of `show` as `user` sees it (an empty list if nobody joined).
fn summary_of(state: &State, show: &ShowId, user: &boxoffice_core::UserId) -> ListSummary {
    match state.waiting_list(show) {
        Some(list) => list.summary(Some(user), state),
        None => WaitingList::empty(show.clone()).summary(Some(user), state),
    }
}

/// The performance a list call names.
fn list_show(raw: &str) -> Result<ShowId, Status> {
    check_id("show_id", raw).map_err(|e| convert::rejection_status(&e))?;
    Ok(ShowId::from(raw))
}

/// A list and the caller's standing as the API shows them.
fn response(state: &State, summary: &ListSummary) -> v1::WaitingListResponse {
    let mut you = v1::ListStanding::default();
    if let Some(entry) = &summary.entry {
        you.quantity = entry.quantity;
        you.category.clone_from(&entry.category);
    }
    match &summary.status {
        ListStatus::Outside => you.status = "outside".into(),
        ListStatus::Waiting { place, position } => {
            you.status = "waiting".into();
            you.place = *place;
            you.position = *position;
        }
        ListStatus::Offered { booking, .. } => {
            you.status = "offered".into();
            you.offer = state
                .booking(*booking)
                .map(|b| convert::booking_in(state, &b));
        }
    }
    v1::WaitingListResponse {
        list: Some(v1::WaitingList {
            show_id: summary.show.to_string(),
            waiting: summary.waiting,
            offered: summary.offered,
            offered_total: summary.offered_total,
            bought_total: summary.bought_total,
            lapsed_total: summary.lapsed_total,
        }),
        you: Some(you),
    }
}
