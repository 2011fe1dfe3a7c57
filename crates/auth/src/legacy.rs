//! The old system's `auth.AuthService`, kept on the wire for its clients:
//! a thin adapter over [`AuthApi`]. Refusals are `success: false` (or
//! `valid: false`) with a plain message, as the old clients expect;
//! registering an email that exists is such a refusal, never an error.

use std::sync::Arc;

use boxoffice_proto::legacy::auth as legacy;
use boxoffice_proto::legacy::auth::auth_service_server::AuthService as LegacyAuthService;
use boxoffice_proto::v1;
use boxoffice_proto::v1::auth_service_server::AuthService;
use tonic::{Code, Request, Response, Status};

use crate::service::AuthApi;

/// The legacy auth service.
pub struct LegacyAuth {
    api: Arc<AuthApi>,
}

impl LegacyAuth {
    /// The adapter over `api`.
    pub fn new(api: Arc<AuthApi>) -> Self {
        Self { api }
    }
}

/// `msg` as a v1 request that keeps the caller's address (for throttling).
fn same_caller<T, U>(req: Request<T>, msg: U) -> Request<U> {
    let (metadata, extensions, _) = req.into_parts();
    Request::from_parts(metadata, extensions, msg)
}

/// A refusal's message; UNAVAILABLE stays an error (the client retries).
fn refusal(status: Status) -> Result<String, Status> {
    match status.code() {
        // Old clients retry elsewhere only on UNAVAILABLE.
        Code::Unavailable | Code::DeadlineExceeded => {
            Err(Status::unavailable(status.message().to_owned()))
        }
        _ => Ok(status.message().to_owned()),
    }
}

#[tonic::async_trait]
impl LegacyAuthService for LegacyAuth {
    async fn register(
        &self,
        req: Request<legacy::RegisterRequest>,
    ) -> Result<Response<legacy::RegisterResponse>, Status> {
        let r = req.get_ref().clone();
        let v1_req = same_caller(
            req,
            v1::RegisterRequest {
                email: r.email,
                password: r.password,
            },
        );
        let (success, message) = match self.api.register(v1_req).await {
            Ok(reply) => {
                let user = reply.into_inner().user.unwrap_or_default();
                (true, format!("registered as {}", user.user_id))
            }
            Err(status) => (false, refusal(status)?),
        };
        Ok(Response::new(legacy::RegisterResponse { success, message }))
    }

    async fn login(
        &self,
        req: Request<legacy::LoginRequest>,
    ) -> Result<Response<legacy::LoginResponse>, Status> {
        let r = req.get_ref().clone();
        let v1_req = same_caller(
            req,
            v1::LoginRequest {
                email: r.email,
                password: r.password,
            },
        );
        let response = match self.api.login(v1_req).await {
            Ok(reply) => {
                let session = reply.into_inner().session.unwrap_or_default();
                legacy::LoginResponse {
                    success: true,
                    message: "logged in".into(),
                    session: Some(legacy::Session {
                        token: session.access_token,
                        user_id: session.user.map(|u| u.user_id).unwrap_or_default(),
                    }),
                }
            }
            Err(status) => legacy::LoginResponse {
                success: false,
                message: refusal(status)?,
                session: None,
            },
        };
        Ok(Response::new(response))
    }

    async fn validate_session(
        &self,
        req: Request<legacy::ValidateSessionRequest>,
    ) -> Result<Response<legacy::ValidateSessionResponse>, Status> {
        let token = req.get_ref().token.trim().to_owned();
        let mut v1_req = same_caller(req, v1::WhoAmIRequest {});
        if let Ok(value) = format!("Bearer {token}").parse() {
            v1_req.metadata_mut().insert("authorization", value);
        }
        let response = match self.api.who_am_i(v1_req).await {
            Ok(reply) => legacy::ValidateSessionResponse {
                valid: true,
                user_id: reply
                    .into_inner()
                    .user
                    .map(|u| u.user_id)
                    .unwrap_or_default(),
            },
            Err(status) if matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded) => {
                return Err(Status::unavailable(status.message().to_owned()));
            }
            Err(_) => legacy::ValidateSessionResponse {
                valid: false,
                user_id: String::new(),
            },
        };
        Ok(Response::new(response))
    }
}
