//! The node's port to its replica of the booking state ([`ReplicaPort`]):
//! replicated writes and reads at the freshness asked for, with the one
//! translation of "no leader" into a gRPC status.

use std::sync::Arc;

use boxoffice_core::{Command, Effect, Outcome, Rejection, Request, State};
use boxoffice_proto::convert;
use boxoffice_raft::{RaftNode, Unavailable};
use tonic::Status;

use crate::app::BookingApp;

/// No leader in time: UNAVAILABLE. Retrying is safe: writes are
/// deduplicated by request id, membership changes are idempotent.
pub fn unavailable_status(e: &Unavailable) -> Status {
    Status::unavailable(format!("{e}; retrying is safe"))
}

/// The port through which everything on this node reaches the replicated
/// booking state: the gRPC services (booking, legacy, accounts, cluster),
/// the checkout and the coordinator. Writes go in as [`Request`]s,
/// validated and proposed through Raft from whichever node this is
/// (followers forward them); reads run on the local replica, after the read
/// barrier unless the caller accepts a stale answer.
#[derive(Clone)]
pub struct ReplicaPort {
    /// The Raft node (the watch streams follow its applied state).
    pub(crate) node: Arc<RaftNode<BookingApp>>,
}

impl ReplicaPort {
    /// The port to `node`'s replica.
    pub fn new(node: Arc<RaftNode<BookingApp>>) -> Self {
        Self { node }
    }

    /// Validates `request`, replicates it from whichever node this is and
    /// returns its outcome once applied. Only an unreachable leader or an
    /// internal fault is a status; rejections are outcomes.
    pub async fn submit(&self, request: Request) -> Result<Outcome, Status> {
        self.submit_ref(&request).await
    }

    async fn submit_ref(&self, request: &Request) -> Result<Outcome, Status> {
        if let Err(rejection) = request.validate() {
            return Ok(Err(rejection));
        }
        let encoded =
            boxoffice_core::format::encode_request(request, crate::formats::write_format());
        let reply = self
            .node
            .propose(encoded)
            .await
            .map_err(|e| unavailable_status(&e))?;
        boxoffice_core::format::decode_outcome(&reply)
            .map_err(|e| Status::internal(format!("the outcome {e}")))
    }

    /// `rejection` of `command` as a status; when the command picked seats
    /// of a performance, the seats it names are given by label too. The
    /// labels come from the local replica: a venue's never change.
    pub fn rejection_status(&self, command: &Command, rejection: &Rejection) -> Status {
        let show = match command {
            Command::Hold { show, .. } | Command::Book { show, .. } => show,
            Command::HoldBack { show, .. } => show,
            _ => return convert::rejection_status(rejection),
        };
        let layout = {
            let guard = self.node.state().read();
            let state = &guard.app.0;
            state
                .show(show)
                .filter(|s| s.performance.is_some())
                .and_then(|s| state.layout_of(s))
        };
        match layout {
            Some(layout) => {
                convert::rejection_status_labelled(rejection, |seat| layout.label(seat))
            }
            None => convert::rejection_status(rejection),
        }
    }

    /// `submit`, with a rejection as a status ([`Self::rejection_status`]).
    pub async fn submit_or_status(&self, request: Request) -> Result<Effect, Status> {
        self.submit_ref(&request)
            .await?
            .map_err(|r| self.rejection_status(&request.command, &r))
    }

    /// Runs `f` on the local replica, after the read barrier unless `stale`.
    pub async fn read<T>(&self, stale: bool, f: impl FnOnce(&State) -> T) -> Result<T, Status> {
        if !stale && !crate::crash::unsafe_stale_reads() {
            self.node
                .read_barrier()
                .await
                .map_err(|e| unavailable_status(&e))?;
        }
        let guard = self.node.state().read();
        Ok(f(&guard.app.0))
    }
}
