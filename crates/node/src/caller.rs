//! Who is calling.
//!
//! Until the auth service exists, a caller names itself in the
//! `x-boxoffice-user` metadata entry and nothing checks it: this is a
//! development identity, not security. The auth issue replaces
//! [`Caller::from_request`] with verification of the session token in
//! `authorization: Bearer …`; no message changes.

use boxoffice_core::UserId;
use tonic::{Request, Status};

/// Metadata key carrying the development identity.
pub const USER_METADATA_KEY: &str = "x-boxoffice-user";

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Their user id.
    pub user: UserId,
}

impl Caller {
    /// The caller of `req`, or UNAUTHENTICATED.
    pub fn from_request<T>(req: &Request<T>) -> Result<Self, Status> {
        let value = req.metadata().get(USER_METADATA_KEY).ok_or_else(|| {
            Status::unauthenticated(format!(
                "this call needs a caller: set the {USER_METADATA_KEY} metadata"
            ))
        })?;
        let user = value.to_str().map_err(|_| {
            Status::unauthenticated(format!("{USER_METADATA_KEY} must be printable ASCII"))
        })?;
        let user = UserId(user.to_owned());
        if user.0.is_empty()
            || user.0.len() > boxoffice_core::MAX_ID_LEN
            || user.0.chars().any(char::is_whitespace)
        {
            return Err(Status::unauthenticated(format!(
                "{USER_METADATA_KEY} must be 1 to {} characters without spaces",
                boxoffice_core::MAX_ID_LEN
            )));
        }
        Ok(Self { user })
    }
}
