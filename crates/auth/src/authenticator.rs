//! Who is calling: bearer tokens checked where the call arrives (every
//! booking node, and the auth service for its own calls).
//!
//! Every call that needs a user carries `authorization: Bearer <access
//! token>`. The receiver verifies the token's signature, algorithm, issuer,
//! audience, kind and expiry locally, from the public keys in its config,
//! without asking the auth service. Whether the session is still valid
//! (the token's version against the user's, after logout or a password
//! change) and whether the user may do what they ask is decided against the
//! replicated state: in the state machine for writes, after the read
//! barrier for reads, so a revoked token is refused on every node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::token::{TokenKind, TokenVerifier};
use boxoffice_core::{Caller, UserId};
use tonic::{Request, Status};

/// Verified access tokens remembered, so a client's next calls skip the
/// signature check; the cache is simply emptied when full.
const VERIFIED_CACHE_ENTRIES: usize = 16_384;

/// Verifies bearer tokens.
pub struct Authenticator {
    verifier: TokenVerifier,
    /// Access token → (caller, expiry in Unix seconds).
    verified: Mutex<HashMap<String, (Caller, u64)>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
        Self {
            verifier,
            verified: Mutex::default(),
        }
    }

    /// The caller of `req`, from a valid access token, or UNAUTHENTICATED.
    ///
    /// A token verified before is taken from the cache while unexpired: the
    /// signature of the same bytes cannot have changed, and revocation is
    /// checked against the replicated state on every call anyway.
    pub fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        let token = bearer(req)?;
        let now = now_secs();
        if let Some((caller, exp)) = self
            .verified
            .lock()
            .expect("token cache poisoned")
            .get(token)
            && *exp > now
        {
            return Ok(caller.clone());
        }
        let claims = self
            .verifier
            .verify(token, TokenKind::Access)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        let caller = Caller {
            user: UserId(claims.sub),
            token_version: claims.ver,
        };
        let mut verified = self.verified.lock().expect("token cache poisoned");
        if verified.len() >= VERIFIED_CACHE_ENTRIES {
            verified.clear();
        }
        verified.insert(token.to_owned(), (caller.clone(), claims.exp));
        Ok(caller)
    }

    /// The verifier, for tokens of other kinds (refresh).
    pub fn verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    /// OK if `req` carries a valid service token (the auth service).
    pub fn service<T>(&self, req: &Request<T>) -> Result<(), Status> {
        self.verifier
            .verify(bearer(req)?, TokenKind::Service)
            .map(drop)
            .map_err(|e| Status::unauthenticated(format!("internal account API: {e}")))
    }
}
