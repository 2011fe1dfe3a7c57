//! Waiting rooms on `boxoffice.v1.BookingService` (issue 25): setting one
//! up, taking a place, and where a buyer stands.
//!
//! Who may call what, and how they prove it (a bearer token, as for every
//! call of the service):
//! - SetWaitingRoom: an administrator (checked here on this replica's view,
//!   and again by the state machine).
//! - JoinWaitingRoom: any signed-in buyer, for themself only (the command
//!   names the caller; the state machine refuses anyone else).
//! - GetWaitingRoom: anyone signed in; it says where the caller stands,
//!   with their admission token once they are let in
//!   ([`crate::admission`]): the pass a hold or booking of the
//!   performance shows while the room guards it, checked here
//!   ([`BookingApi::check_admission_token`]) before anything is proposed.
//!   With `wait_ms` it answers when that changes (let in, closed, gone)
//!   or the wait ends, sleeping meanwhile until the caller's turn could
//!   come at the room's rate; the node holds at most
//!   `booking.max_room_waits` such calls, two per account.
//!
//! The room's order, admissions and lapses are the replicated state's
//! (see `boxoffice_core::WaitingRoom`); the leader's coordinator commits
//! the ticks that open rooms and let buyers in ([`crate::coordinator`]).

use std::time::{Duration, Instant};

use boxoffice_core::{
    Admission, Command, Effect, RoomPhase, RoomRules, RoomStatus, RoomSummary, ShowId, Timestamp,
    UserId, check_id, pow,
};
use boxoffice_proto::convert;
use boxoffice_proto::v1;
use tonic::{Response, Status};

use super::BookingApi;

impl BookingApi {
    pub(super) async fn set_waiting_room_call(
        &self,
        req: tonic::Request<v1::SetWaitingRoomRequest>,
    ) -> Result<Response<v1::WaitingRoomResponse>, Status> {
        let caller = self
            .admin_for(&req, "waiting rooms are set up by administrators")
            .await?;
        let r = req.into_inner();
        let show = room_show(&r.show_id)?;
        if r.rules.is_some() == r.remove {
            return Err(Status::invalid_argument(
                "give the room's rules, or remove = true to remove it (not both)",
            ));
        }
        let rules = r.rules.map(|rules| RoomRules {
            opens_at: Timestamp(rules.opens_at_ms),
            admit_per_s: rules.admit_per_s,
            max_active: rules.max_active,
            admission_ms: rules.admission_ms,
        });
        let command = Command::SetWaitingRoom { show, rules };
        answer(self.write(caller, r.request_id, command).await?)
    }

    pub(super) async fn join_waiting_room_call(
        &self,
        req: tonic::Request<v1::JoinWaitingRoomRequest>,
    ) -> Result<Response<v1::WaitingRoomResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let network = super::client_network(&req);
        let r = req.into_inner();
        let show = room_show(&r.show_id)?;
        let bits = self.join_pow_bits;
        let challenge = pow::join_challenge(&show, &caller.user);
        if !pow::proves(&challenge, r.pow_nonce, bits) {
            return Err(Status::failed_precondition(format!(
                "joining a waiting room takes a proof of work: a pow_nonce such that SHA-256 of \
                 your join_challenge (GetWaitingRoom gives it) and the nonce's 8 big-endian bytes \
                 begins with {bits} zero bits"
            )));
        }
        // A buyer waiting in the room keeps their place (the state machine
        // answers their standing): neither refused nor counted. This
        // replica's view is enough to tell; a buyer it does not see yet is
        // treated as new. One let in is counted again: on a lagging view
        // their admission may have lapsed or been used, and the join
        // would take a new place.
        let in_room = self
            .read(
                Some(v1::ReadOptions {
                    consistency: v1::Consistency::Stale.into(),
                }),
                |state| {
                    state.waiting_room(&show).is_some_and(|room| {
                        matches!(
                            room.summary(Some(&caller.user), state.now()).status,
                            RoomStatus::PreQueue | RoomStatus::Waiting { .. }
                        )
                    })
                },
            )
            .await?;
        let counted = if in_room { None } else { network };
        if let (Some(joins), Some(network)) = (&self.joins, &counted)
            && let Some(wait) = joins.refusal(network, Instant::now())
        {
            return Err(Status::resource_exhausted(format!(
                "too many joins of waiting rooms from your network ({network}) on this node: \
                 wait {} s and try again",
                wait.as_secs().max(1)
            )));
        }
        let command = Command::JoinWaitingRoom {
            show,
            user: caller.user.clone(),
        };
        let effect = self.write(caller, r.request_id, command).await?;
        // Counted only when the join took a place (see
        // `boxoffice_config::windows`).
        if let (Some(joins), Some(network), Effect::WaitingRoom(Some(summary))) =
            (&self.joins, counted, &effect)
            && matches!(
                summary.status,
                RoomStatus::PreQueue | RoomStatus::Waiting { .. } | RoomStatus::Admitted { .. }
            )
        {
            joins.count(network, Instant::now());
        }
        answer(effect)
    }

    pub(super) async fn get_waiting_room_call(
        &self,
        req: tonic::Request<v1::GetWaitingRoomRequest>,
    ) -> Result<Response<v1::WaitingRoomResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        let show = room_show(&r.show_id)?;
        let wait = Duration::from_millis(u64::from(r.wait_ms.min(MAX_WAIT_MS)));
        let _place = self.waiting_place(&caller, wait)?;
        let until = Instant::now() + wait;
        let mut read = r.read;
        let mut closing = self.closing.clone();
        loop {
            let seen = self
                .read(read, |state| {
                    state.authenticate(&caller)?;
                    let room = state
                        .waiting_room(&show)
                        .ok_or_else(|| boxoffice_core::Rejection::NoWaitingRoom(show.clone()))?;
                    let now = state.now();
                    Ok(Seen {
                        summary: room.summary(Some(&caller.user), now),
                        admission: room.admissions().get(&caller.user).copied(),
                        earliest: room.earliest_admission(&caller.user, now),
                    })
                })
                .await?
                .map_err(|r| convert::rejection_status(&r))?;
            let waiting = matches!(
                seen.summary.status,
                RoomStatus::PreQueue | RoomStatus::Waiting { .. }
            );
            let left = until.saturating_duration_since(Instant::now());
            if !waiting || left.is_zero() || *closing.borrow() {
                let mut answer = response_with(Some(&seen.summary), seen.admission.as_ref());
                self.challenge(&mut answer, &show, &caller.user);
                self.admission_token(&mut answer, &show, &caller.user, seen.admission);
                return Ok(Response::new(answer));
            }
            // Sleep until the caller's turn could come at the room's rate,
            // then look again on this replica. By this machine's clock: the
            // replica's time is that of the last entry it applied, which
            // may be seconds old before an opening (nothing written since
            // the room was set), and a nap from it would oversleep by as
            // much. (The turn itself does not depend on the time it was
            // computed at: the budget grows by the rate meanwhile.)
            let now = Timestamp(boxoffice_config::clock::now_ms());
            let nap = seen.earliest.map_or(MIN_NAP, |at| {
                Duration::from_millis(u64::try_from(at.saturating_ms_since(now)).unwrap_or(0))
            });
            // The node stopping ends the wait (answered with what was last
            // seen); a signal that is gone only leaves the nap to run.
            tokio::select! {
                () = tokio::time::sleep(nap.clamp(MIN_NAP, MAX_NAP).min(left)) => {}
                Ok(()) = closing.changed() => {}
            }
            read = Some(v1::ReadOptions {
                consistency: v1::Consistency::Stale.into(),
            });
        }
    }
}

impl BookingApi {
    /// The place a call that waits `wait` holds among the node's waiting
    /// calls (counted per node and per account; none for no wait), or
    /// RESOURCE_EXHAUSTED.
    pub(super) fn waiting_place(
        &self,
        caller: &boxoffice_core::Caller,
        wait: Duration,
    ) -> Result<Option<boxoffice_config::clients::Admission>, Status> {
        if wait.is_zero() {
            return Ok(None);
        }
        self.room_waits
            .admit(&caller.user.0)
            .map(Some)
            .map_err(|refusal| Status::resource_exhausted(refusal.to_string()))
    }

    /// Adds to `answer` the admission token of `user`'s `admission` to
    /// `show`, when the answer says they are let in and the cluster has an
    /// admission key.
    fn admission_token(
        &self,
        answer: &mut v1::WaitingRoomResponse,
        show: &ShowId,
        user: &UserId,
        admission: Option<Admission>,
    ) {
        if let (Some(key), Some(admission), Some(you)) =
            (&self.admission, admission, answer.you.as_mut())
            && you.status == "admitted"
        {
            you.admission_token = key.issue(user, show, &admission);
        }
    }

    /// Refuses (FAILED_PRECONDITION, marked
    /// [`convert::ADMISSION_NEEDED`]) a customer's hold or booking of
    /// `show` that its waiting room guards (as this replica knows it)
    /// unless `token` is a live admission token of the caller for it:
    /// checked here, before anything is proposed, so that buyers who skip
    /// the room cost no log entry. The state machine checks the admission
    /// itself again. Without an admission key, only that check is made.
    pub(super) async fn check_admission_token(
        &self,
        caller: &boxoffice_core::Caller,
        show: &str,
        token: &str,
    ) -> Result<(), Status> {
        let Some(key) = &self.admission else {
            return Ok(());
        };
        let show = ShowId::from(show);
        let guarded = self
            .replica
            .read(true, |state| {
                state.waiting_room(&show).is_some_and(|room| room.guards())
                    && !state.user(&caller.user).is_some_and(|user| user.admin)
            })
            .await?;
        if !guarded {
            return Ok(());
        }
        // A node whose clock runs a little ahead still takes a token in its
        // last seconds: the state machine's check of the admission is the
        // exact one.
        let now = boxoffice_config::clock::now_ms().saturating_sub(TOKEN_LEEWAY_MS);
        key.verify(token, &caller.user, &show, now).map_err(|why| {
            let mut status = Status::failed_precondition(format!(
                "performance {show} sells through its waiting room: a hold or booking needs \
                 the admission token GetWaitingRoom gives once you are let in ({why})"
            ));
            status.metadata_mut().insert(
                convert::ADMISSION_NEEDED,
                tonic::metadata::MetadataValue::from_static("1"),
            );
            status
        })
    }

    /// Adds the proof of work a join needs, and `user`'s challenge for the
    /// room of `show`, to `answer`.
    fn challenge(&self, answer: &mut v1::WaitingRoomResponse, show: &ShowId, user: &UserId) {
        if let Some(you) = answer.you.as_mut() {
            you.join_pow_bits = self.join_pow_bits;
            you.join_challenge = pow::join_challenge(show, user).to_vec();
        }
    }
}

/// How far a node's clock may run ahead of the one that timed an
/// admission before the node refuses its token as expired too early, ms.
const TOKEN_LEEWAY_MS: i64 = 5_000;

/// Longest wait of one `GetWaitingRoom` call, ms.
pub const MAX_WAIT_MS: u32 = 30_000;
/// Shortest and longest time a waiting call sleeps between two looks at
/// the room: the shortest bounds how late a buyer hears they are in (a
/// tick is at least 100 ms apart); the longest, how stale a late change
/// of rules leaves them.
const MIN_NAP: Duration = Duration::from_millis(20);
const MAX_NAP: Duration = Duration::from_secs(2);

/// One look at a room for a waiting call.
struct Seen {
    summary: RoomSummary,
    admission: Option<Admission>,
    earliest: Option<Timestamp>,
}

/// The performance a room call names.
fn room_show(raw: &str) -> Result<ShowId, Status> {
    check_id("show_id", raw).map_err(|e| convert::rejection_status(&e))?;
    Ok(ShowId::from(raw))
}

/// The API's answer to a room command's effect.
fn answer(effect: Effect) -> Result<Response<v1::WaitingRoomResponse>, Status> {
    match effect {
        Effect::WaitingRoom(summary) => Ok(Response::new(response(summary.as_deref()))),
        other => Err(Status::internal(format!("unexpected effect {other:?}"))),
    }
}

/// A room and the caller's standing as the API shows them.
pub fn response(summary: Option<&RoomSummary>) -> v1::WaitingRoomResponse {
    response_with(summary, None)
}

/// [`response`], with the caller's admission (its place and when it was
/// made) when they are let in.
fn response_with(
    summary: Option<&RoomSummary>,
    admission: Option<&Admission>,
) -> v1::WaitingRoomResponse {
    let Some(summary) = summary else {
        return v1::WaitingRoomResponse {
            room: None,
            you: Some(standing(RoomStatus::Outside, 0)),
        };
    };
    let (phase, opened_at_ms, seed, closed_at_ms) = match summary.phase {
        RoomPhase::PreQueue => ("pre_queue", 0, 0, 0),
        RoomPhase::Open { at, seed } => ("open", at.0, seed, 0),
        RoomPhase::SoldOut { at } => ("sold_out", 0, 0, at.0),
    };
    let rules = summary.rules;
    v1::WaitingRoomResponse {
        room: Some(v1::WaitingRoom {
            show_id: summary.show.to_string(),
            rules: Some(v1::RoomRules {
                opens_at_ms: rules.opens_at.0,
                admit_per_s: rules.admit_per_s,
                max_active: rules.max_active,
                admission_ms: rules.admission_ms,
            }),
            phase: phase.to_owned(),
            opened_at_ms,
            seed,
            closed_at_ms,
            waiting: summary.waiting,
            admitted: summary.admitted,
            admitted_total: summary.admitted_total,
            lapsed_total: summary.lapsed_total,
        }),
        you: Some({
            let mut you = standing(summary.status, rules.admit_per_s);
            if let (RoomStatus::Admitted { .. }, Some(admission)) = (summary.status, admission) {
                you.place = admission.place;
                you.admitted_at_ms = admission.at.0;
            }
            you
        }),
    }
}

/// Where a buyer stands, with the wait the room's rate gives their
/// position.
fn standing(status: RoomStatus, admit_per_s: u32) -> v1::RoomStanding {
    let mut out = v1::RoomStanding::default();
    match status {
        RoomStatus::Outside => out.status = "outside".into(),
        RoomStatus::PreQueue => out.status = "pre_queue".into(),
        RoomStatus::Waiting { place, position } => {
            out.status = "waiting".into();
            out.place = place;
            out.position = position;
            if admit_per_s > 0 {
                let ms = position.saturating_mul(1000) / u64::from(admit_per_s);
                out.estimated_wait_ms = i64::try_from(ms).unwrap_or(i64::MAX);
            }
        }
        RoomStatus::Admitted { expires_at } => {
            out.status = "admitted".into();
            out.admitted_until_ms = expires_at.0;
        }
        RoomStatus::Closed => out.status = "closed".into(),
    }
    out
}
