//! The public `boxoffice.v1.ClusterService`: status (anyone) and membership
//! changes (administrators only: a new voter receives every account's hash
//! in its snapshot and a vote, so adding one is as sensitive as it gets).

use std::sync::Arc;

use boxoffice_proto::v1;
use boxoffice_proto::v1::cluster_service_server::ClusterService;
use boxoffice_raft::{MembershipError, RaftNode};
use tonic::{Request, Response, Status};

use crate::app::BookingApp;
use crate::port::{ReplicaPort, unavailable_status};
use boxoffice_auth::authenticator::Authenticator;

/// Cluster administration served by one node.
pub struct ClusterApi {
    node: Arc<RaftNode<BookingApp>>,
    auth: Arc<Authenticator>,
}

impl ClusterApi {
    /// The cluster API served by `node`.
    pub fn new(node: Arc<RaftNode<BookingApp>>, auth: Arc<Authenticator>) -> Self {
        Self { node, auth }
    }

    /// OK if `req` comes from a current administrator (checked against the
    /// replicated user record after the read barrier).
    async fn require_admin<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let caller = self.auth.caller(req)?;
        ReplicaPort::new(self.node.clone())
            .read(false, |state| match state.authenticate(&caller) {
                Ok(user) if user.admin => Ok(()),
                Ok(_) => Err(Status::permission_denied(
                    "changing the membership needs the administrator role",
                )),
                Err(r) => Err(boxoffice_proto::convert::rejection_status(&r)),
            })
            .await?
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
        self.require_admin(&req).await?;
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
        self.require_admin(&req).await?;
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
