//! The public `boxoffice.v1.ClusterService`: status and membership.

use std::sync::Arc;

use boxoffice_proto::v1;
use boxoffice_proto::v1::cluster_service_server::ClusterService;
use boxoffice_raft::{MembershipError, RaftNode};
use tonic::{Request, Response, Status};

use crate::app::BookingApp;
use crate::service::unavailable_status;

/// Cluster administration served by one node.
pub struct ClusterApi {
    node: Arc<RaftNode<BookingApp>>,
}

impl ClusterApi {
    /// The cluster API served by `node`.
    pub fn new(node: Arc<RaftNode<BookingApp>>) -> Self {
        Self { node }
    }
}

fn membership_status(e: MembershipError) -> Status {
    match e {
        MembershipError::Invalid(m) => Status::invalid_argument(m),
        MembershipError::Unavailable(e) => unavailable_status(&e),
    }
}

#[tonic::async_trait]
impl ClusterService for ClusterApi {
    async fn get_status(
        &self,
        _: Request<v1::GetStatusRequest>,
    ) -> Result<Response<v1::GetStatusResponse>, Status> {
        Ok(Response::new(self.node.cluster_status().await))
    }

    async fn add_node(
        &self,
        req: Request<v1::AddNodeRequest>,
    ) -> Result<Response<v1::AddNodeResponse>, Status> {
        let r = req.into_inner();
        if r.addr.is_empty() {
            return Err(Status::invalid_argument("addr must not be empty"));
        }
        self.node
            .change_membership(true, r.node_id, r.addr)
            .await
            .map_err(membership_status)?;
        Ok(Response::new(v1::AddNodeResponse {
            status: Some(self.node.cluster_status().await),
        }))
    }

    async fn remove_node(
        &self,
        req: Request<v1::RemoveNodeRequest>,
    ) -> Result<Response<v1::RemoveNodeResponse>, Status> {
        let r = req.into_inner();
        self.node
            .change_membership(false, r.node_id, String::new())
            .await
            .map_err(membership_status)?;
        Ok(Response::new(v1::RemoveNodeResponse {
            status: Some(self.node.cluster_status().await),
        }))
    }
}
