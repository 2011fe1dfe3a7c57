//! Raft RPCs over gRPC, server side: the internal `RaftService` that peers
//! call. Payload decoding errors are INVALID_ARGUMENT; openraft's own errors
//! travel back inside the encoded `Result`.
//!
//! Served only on the peer listener, which requires a client certificate
//! of the cluster CA. Every call is then authorized by the name in that
//! certificate (`RaftGrpc::authorize`): a node of the current membership
//! (voter or learner, so a node an administrator is adding counts from the
//! moment the leader adds it as a learner), or any node while this node
//! belongs to no cluster yet (it is waiting to be added and holds nothing);
//! the operator's tools may read `NodeMetrics` and take a `Backup`, and
//! nothing else; a backup (every account's hash) is the operator's alone. Whatever
//! else the CA signed (the auth service, the gateway) is refused: a
//! forwarded `Propose` carries commands the state machine trusts.

use std::sync::Arc;

use boxoffice_proto::internal::v1::raft_service_server::{RaftService, RaftServiceServer};
use boxoffice_proto::internal::v1::{
    BackupChunk, BackupRequest, ChangeMembershipRequest, ChangeMembershipResponse,
    NodeMetricsRequest, NodeMetricsResponse, ProposeRequest, ProposeResponse, RaftPayload,
    ReadIndexRequest, ReadIndexResponse,
};
use openraft::raft::VoteRequest;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};

use boxoffice_tls::Identity;

use crate::node::{MembershipError, RaftNode};
use crate::proposer::ProposeError;
use crate::state_machine::Application;
use crate::types::NodeId;

/// The size of a backup's pieces.
const BACKUP_CHUNK_BYTES: usize = 1024 * 1024;

/// Largest message between peers.
pub const MAX_PEER_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// The internal gRPC service of one node.
pub struct RaftGrpc<A: Application> {
    node: Arc<RaftNode<A>>,
}

impl<A: Application> RaftGrpc<A> {
    /// A tonic service for `node`. Messages are bounded well above what
    /// peers send (snapshot chunks of at most 3 MiB, replication batches of
    /// at most 512 entries).
    pub fn server(node: Arc<RaftNode<A>>) -> RaftServiceServer<Self> {
        RaftServiceServer::new(Self { node })
            .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES)
    }
}

/// Who may make a call.
#[derive(Clone, Copy)]
enum Allowed {
    /// Members of the cluster.
    Members,
    /// Members and the operator's tools.
    MembersAndOperator,
    /// The operator's tools alone.
    Operator,
}

impl<A: Application> RaftGrpc<A> {
    /// Refuses a caller whose certificate does not name a member (or, for
    /// `MembersAndOperator`, the operator). PERMISSION_DENIED, never a hint
    /// of what would be accepted.
    fn authorize<T>(&self, req: &Request<T>, allowed: Allowed) -> Result<(), Status> {
        let identity = Identity::of_request(req);
        let ok = match identity {
            Some(Identity::Node(id)) => {
                !matches!(allowed, Allowed::Operator) && self.node.is_member(id)
            }
            Some(Identity::Operator) => {
                matches!(allowed, Allowed::MembersAndOperator | Allowed::Operator)
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            boxoffice_tls::refusals::warn("refused a peer call", req);
            Err(Status::permission_denied(
                "this certificate may not call the peer service",
            ))
        }
    }
}

fn decode<T: DeserializeOwned>(req: Request<RaftPayload>) -> Result<T, Status> {
    postcard::from_bytes(&req.into_inner().data)
        .map_err(|e| Status::invalid_argument(format!("bad payload: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Response<RaftPayload>, Status> {
    postcard::to_allocvec(value)
        .map(|data| Response::new(RaftPayload { data }))
        .map_err(|e| Status::internal(format!("encoding reply: {e}")))
}

#[tonic::async_trait]
impl<A: Application> RaftService for RaftGrpc<A> {
    async fn append_entries(
        &self,
        req: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.authorize(&req, Allowed::Members)?;
        let result = self.node.raft().append_entries(decode(req)?).await;
        encode(&result)
    }

    async fn vote(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        self.authorize(&req, Allowed::Members)?;
        let req: VoteRequest<NodeId> = decode(req)?;
        let candidate = req.vote.leader_id;
        let result = self.node.raft().vote(req).await;
        if let Ok(resp) = &result
            && resp.vote_granted
            && candidate.node_id != self.node.id()
        {
            self.node.vote_answers().granted(candidate.term);
        }
        encode(&result)
    }

    async fn install_snapshot(
        &self,
        req: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.authorize(&req, Allowed::Members)?;
        let result = self.node.raft().install_snapshot(decode(req)?).await;
        encode(&result)
    }

    async fn propose(
        &self,
        req: Request<ProposeRequest>,
    ) -> Result<Response<ProposeResponse>, Status> {
        self.authorize(&req, Allowed::Members)?;
        match self.node.propose_local(req.into_inner().commands).await {
            Ok(outcomes) => Ok(Response::new(ProposeResponse { outcomes })),
            Err(e @ ProposeError::NotLeader(_)) => Err(Status::failed_precondition(e.to_string())),
            Err(e) => Err(Status::unavailable(e.to_string())),
        }
    }

    async fn read_index(
        &self,
        req: Request<ReadIndexRequest>,
    ) -> Result<Response<ReadIndexResponse>, Status> {
        self.authorize(&req, Allowed::Members)?;
        let index = self
            .node
            .leader_read_index()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(ReadIndexResponse { index }))
    }

    async fn node_metrics(
        &self,
        req: Request<NodeMetricsRequest>,
    ) -> Result<Response<NodeMetricsResponse>, Status> {
        self.authorize(&req, Allowed::MembersAndOperator)?;
        let (digest_applied_index, state_digest) = if req.into_inner().with_digest {
            self.node
                .state_digest()
                .map_err(|e| Status::internal(e.to_string()))?
        } else {
            (0, String::new())
        };
        Ok(Response::new(NodeMetricsResponse {
            status: Some(self.node.local_status()),
            state_digest,
            digest_applied_index,
        }))
    }

    type BackupStream = futures::stream::BoxStream<'static, Result<BackupChunk, Status>>;

    async fn backup(
        &self,
        req: Request<BackupRequest>,
    ) -> Result<Response<Self::BackupStream>, Status> {
        self.authorize(&req, Allowed::Operator)?;
        let image = self.node.backup().await.map_err(|e| match e {
            crate::backup::BackupError::Unavailable(e) => Status::unavailable(e.to_string()),
            e => Status::internal(e.to_string()),
        })?;
        let bytes = postcard::to_allocvec(&image)
            .map_err(|e| Status::internal(format!("encoding the backup: {e}")))?;
        tracing::info!(
            index = image.applied.index,
            digest = %image.digest,
            bytes = bytes.len(),
            "backup taken"
        );
        let chunks: Vec<Result<BackupChunk, Status>> = bytes
            .chunks(BACKUP_CHUNK_BYTES)
            .map(|data| {
                Ok(BackupChunk {
                    data: data.to_vec(),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(futures::stream::iter(chunks))))
    }

    async fn change_membership(
        &self,
        req: Request<ChangeMembershipRequest>,
    ) -> Result<Response<ChangeMembershipResponse>, Status> {
        self.authorize(&req, Allowed::Members)?;
        let req = req.into_inner();
        match self
            .node
            .change_membership_local(req.add, req.node_id, req.addr)
            .await
        {
            Ok(()) => Ok(Response::new(ChangeMembershipResponse {})),
            Err(MembershipError::Invalid(m)) => Err(Status::invalid_argument(m)),
            Err(MembershipError::Unavailable(e)) => Err(Status::unavailable(e.to_string())),
        }
    }
}
