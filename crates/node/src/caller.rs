//! Who is calling: session tokens verified on the node itself.
//!
//! Every call that needs a user carries `authorization: Bearer <access
//! token>`. The node verifies the token's signature, algorithm, issuer,
//! audience, kind and expiry locally, from the public keys in its config,
//! without asking the auth service. Whether the session is still valid
//! (the token's version against the user's, after logout or a password
//! change) and whether the user may do what they ask is decided against the
//! replicated state: in the state machine for writes, after the read
//! barrier for reads, so a revoked token is refused on every node.

use boxoffice_auth::token::{TokenKind, TokenVerifier};
use boxoffice_core::{Caller, UserId};
use tonic::{Request, Status};

/// Verifies bearer tokens.
pub struct Authenticator {
    verifier: TokenVerifier,
}

fn bearer<T>(req: &Request<T>) -> Result<&str, Status> {
    let value = req.metadata().get("authorization").ok_or_else(|| {
        Status::unauthenticated(
            "this call needs `authorization: Bearer <access token>`; log in first",
        )
    })?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer <access token>`"))
}

impl Authenticator {
    /// An authenticator trusting `verifier`'s keys.
    pub fn new(verifier: TokenVerifier) -> Self {
        Self { verifier }
    }

    /// The caller of `req`, from a valid access token, or UNAUTHENTICATED.
    pub fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        let claims = self
            .verifier
            .verify(bearer(req)?, TokenKind::Access)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        Ok(Caller {
            user: UserId(claims.sub),
            token_version: claims.ver,
        })
    }

    /// OK if `req` carries a valid service token (the auth service).
    pub fn service<T>(&self, req: &Request<T>) -> Result<(), Status> {
        self.verifier
            .verify(bearer(req)?, TokenKind::Service)
            .map(drop)
            .map_err(|e| Status::unauthenticated(format!("internal account API: {e}")))
    }
}
