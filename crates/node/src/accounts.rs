//! The internal `boxoffice.internal.v1.AccountService`: how the stateless
//! auth service reads and changes accounts in the replicated state.
//!
//! Served on the peer listener only. Every call needs the auth service's
//! certificate (mutual TLS, `auth.boxoffice`) and a service token signed
//! with the auth service's key: the certificate says the call comes from
//! the auth service's machine, the token that it holds the signing key.
//! Password hashes leave the node only through `LookupUser`, to that caller.

use std::sync::Arc;

use boxoffice_core::{Command, Request, User, UserId};
use boxoffice_proto::internal::v1::account_service_server::AccountService;
use boxoffice_proto::internal::v1::{
    Account, ApplyRequest, ApplyResponse, ListAccountsRequest, ListAccountsResponse,
    LookupUserRequest, LookupUserResponse, lookup_user_request,
};
use tonic::{Response, Status};

use crate::port::ReplicaPort;
use boxoffice_auth::authenticator::Authenticator;

/// The account API of one node.
pub struct AccountApi {
    replica: ReplicaPort,
    auth: Arc<Authenticator>,
}

impl AccountApi {
    /// The API served by `replica`, for holders of a service token.
    pub fn new(replica: ReplicaPort, auth: Arc<Authenticator>) -> Self {
        Self { replica, auth }
    }
}

fn account(user: &User, with_hash: bool) -> Account {
    Account {
        user_id: user.id.to_string(),
        email: user.email.clone(),
        password_hash: if with_hash {
            user.password_hash.clone()
        } else {
            String::new()
        },
        admin: user.admin,
        token_version: user.token_version,
        created_at_ms: user.created_at.0,
    }
}

/// Refuses a caller whose verified certificate is not the auth service's.
fn require_auth_service<T>(req: &tonic::Request<T>) -> Result<(), Status> {
    match boxoffice_tls::Identity::of_request(req) {
        Some(boxoffice_tls::Identity::Auth) => Ok(()),
        _ => {
            boxoffice_tls::refusals::warn("refused an account API call", req);
            Err(Status::permission_denied(
                "the account API is for the auth service's certificate only",
            ))
        }
    }
}

#[tonic::async_trait]
impl AccountService for AccountApi {
    async fn apply(
        &self,
        req: tonic::Request<ApplyRequest>,
    ) -> Result<Response<ApplyResponse>, Status> {
        require_auth_service(&req)?;
        self.auth.service(&req)?;
        let request: Request = postcard::from_bytes(&req.into_inner().request)
            .map_err(|e| Status::invalid_argument(format!("undecodable request: {e}")))?;
        // Account commands only: a leaked service token must not book,
        // create shows or run the system's own steps.
        let account_command = matches!(
            request.command,
            Command::RegisterUser { .. }
                | Command::BootstrapAdmin { .. }
                | Command::SetAdmin { .. }
                | Command::RevokeSessions { .. }
                | Command::ChangePassword { .. }
        );
        if !account_command {
            return Err(Status::permission_denied(
                "the account API applies account commands only",
            ));
        }
        let outcome = self.replica.submit(request).await?;
        let outcome =
            postcard::to_allocvec(&outcome).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(ApplyResponse { outcome }))
    }

    async fn lookup_user(
        &self,
        req: tonic::Request<LookupUserRequest>,
    ) -> Result<Response<LookupUserResponse>, Status> {
        require_auth_service(&req)?;
        self.auth.service(&req)?;
        let key = req
            .into_inner()
            .key
            .ok_or_else(|| Status::invalid_argument("give an email or a user_id"))?;
        let found = self
            .replica
            .read(false, |state| {
                let user = match &key {
                    lookup_user_request::Key::Email(email) => state.user_by_email(email),
                    lookup_user_request::Key::UserId(id) => state.user(&UserId(id.clone())),
                };
                user.map(|u| account(u, true))
            })
            .await?;
        Ok(Response::new(LookupUserResponse { account: found }))
    }

    async fn list_accounts(
        &self,
        req: tonic::Request<ListAccountsRequest>,
    ) -> Result<Response<ListAccountsResponse>, Status> {
        require_auth_service(&req)?;
        self.auth.service(&req)?;
        let accounts = self
            .replica
            .read(false, |state| {
                state.users().map(|u| account(u, false)).collect()
            })
            .await?;
        Ok(Response::new(ListAccountsResponse { accounts }))
    }
}
