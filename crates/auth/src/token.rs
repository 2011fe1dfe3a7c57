//! Session tokens: EdDSA-signed JWTs.
//!
//! An *access* token (short-lived) authorises API calls; a *refresh* token
//! (long-lived) only buys a new pair from the auth service. A *service*
//! token lets the auth service call the nodes' internal account API.
//!
//! Verification pins the algorithm (EdDSA only: `alg: none` or HS256 are
//! refused), requires `exp`, `iss`, `aud`, `sub` and a known `kid`, and
//! checks the token's type. The claims carry the user's `token_version`:
//! logout and password changes bump it in the replicated state, which
//! makes every older token useless on every node.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::keys::{PublicKeys, SigningKeys};

/// Default issuer (`iss`).
pub const ISSUER: &str = "boxoffice-auth";
/// Audience (`aud`) of access and refresh tokens.
pub const AUDIENCE: &str = "boxoffice";
/// Audience of service tokens (internal calls only).
pub const SERVICE_AUDIENCE: &str = "boxoffice-internal";
/// Default access token lifetime.
pub const ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
/// Default refresh token lifetime.
pub const REFRESH_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Service token lifetime (minted per call).
pub const SERVICE_TTL: Duration = Duration::from_secs(60);
/// Clock skew tolerated between the auth service and nodes.
const LEEWAY_SECS: u64 = 5;

/// What a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Authorises API calls.
    Access,
    /// Exchanged for a new token pair.
    Refresh,
    /// The auth service calling a node.
    Service,
}

/// The claims of every token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id (or `auth` for service tokens).
    pub sub: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: u64,
    /// Kind of token.
    pub typ: TokenKind,
    /// The user's token version when issued.
    pub ver: u64,
    /// Whether the user was an administrator when issued (informational:
    /// nodes decide from the replicated user record).
    pub adm: bool,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed, badly signed, expired, wrong audience or algorithm...
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Signed with a key this node does not know.
    #[error("token signed with an unknown key")]
    UnknownKey,
    /// A refresh token where an access token was expected, or the reverse.
    #[error("wrong kind of token: expected {expected:?}, got {got:?}")]
    WrongKind {
        /// What was expected.
        expected: TokenKind,
        /// What came.
        got: TokenKind,
    },
    /// Signing failed.
    #[error("signing: {0}")]
    Signing(String),
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Signs tokens (the auth service only).
pub struct TokenIssuer {
    keys: SigningKeys,
    issuer: String,
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Refresh token lifetime.
    pub refresh_ttl: Duration,
}

/// An access and a refresh token.
#[derive(Clone, Debug)]
pub struct TokenPair {
    /// For API calls.
    pub access: String,
    /// For `Refresh`.
    pub refresh: String,
    /// When the access token expires, seconds since the Unix epoch.
    pub access_expires_at: u64,
}

impl TokenIssuer {
    /// An issuer signing with `keys`.
    pub fn new(
        keys: SigningKeys,
        issuer: impl Into<String>,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Self {
        Self {
            keys,
            issuer: issuer.into(),
            access_ttl,
            refresh_ttl,
        }
    }

    /// Signs arbitrary claims (tests use this to forge tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.keys.kid().to_owned());
        jsonwebtoken::encode(&header, claims, self.keys.key())
            .map_err(|e| TokenError::Signing(e.to_string()))
    }

    fn claims(
        &self,
        sub: &str,
        typ: TokenKind,
        aud: &str,
        ttl: Duration,
        ver: u64,
        adm: bool,
    ) -> Claims {
        let iat = now_secs();
        Claims {
            sub: sub.to_owned(),
            iss: self.issuer.clone(),
            aud: aud.to_owned(),
            exp: iat.saturating_add(ttl.as_secs()),
            iat,
            typ,
            ver,
            adm,
        }
    }

    /// A new access + refresh pair for a user.
    pub fn issue(
        &self,
        user: &str,
        token_version: u64,
        admin: bool,
    ) -> Result<TokenPair, TokenError> {
        let access = self.claims(
            user,
            TokenKind::Access,
            AUDIENCE,
            self.access_ttl,
            token_version,
            admin,
        );
        let refresh = self.claims(
            user,
            TokenKind::Refresh,
            AUDIENCE,
            self.refresh_ttl,
            token_version,
            admin,
        );
        Ok(TokenPair {
            access: self.sign(&access)?,
            refresh: self.sign(&refresh)?,
            access_expires_at: access.exp,
        })
    }

    /// A short-lived token for the auth service's internal calls.
    pub fn service_token(&self) -> Result<String, TokenError> {
        self.sign(&self.claims(
            "auth",
            TokenKind::Service,
            SERVICE_AUDIENCE,
            SERVICE_TTL,
            0,
            false,
        ))
    }
}

/// Verifies tokens against a set of public keys (every node).
pub struct TokenVerifier {
    keys: PublicKeys,
    issuer: String,
}

impl TokenVerifier {
    /// A verifier trusting `keys` and tokens from `issuer`.
    pub fn new(keys: PublicKeys, issuer: impl Into<String>) -> Self {
        Self {
            keys,
            issuer: issuer.into(),
        }
    }

    /// The claims of `token` if it is a valid token of kind `kind`.
    pub fn verify(&self, token: &str, kind: TokenKind) -> Result<Claims, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenError::Invalid("no key id (kid)".into()))?;
        let key = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&self.issuer]);
        let audience = if kind == TokenKind::Service {
            SERVICE_AUDIENCE
        } else {
            AUDIENCE
        };
        validation.set_audience(&[audience]);
        validation.required_spec_claims =
            HashSet::from(["exp", "iss", "aud", "sub"].map(String::from));
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        if data.claims.typ != kind {
            return Err(TokenError::WrongKind {
                expected: kind,
                got: data.claims.typ,
            });
        }
        Ok(data.claims)
    }
}
