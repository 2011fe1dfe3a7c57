//! Who is calling.
//!
//! Until the auth service exists, a caller names itself in the
//! `x-boxoffice-user` metadata entry and nothing checks it: this is a
//! development identity, not security. The auth issue replaces
//! [`Caller::from_request`] with verification of the session token in
//! `authorization: Bearer …`; no message changes.

use boxoffice_core::{UserId, check_id};
pub use boxoffice_proto::USER_METADATA_KEY;
use tonic::{Request, Status};

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
        check_id(USER_METADATA_KEY, user).map_err(|r| Status::unauthenticated(r.to_string()))?;
        let user = UserId(user.to_owned());
        Ok(Self { user })
    }
}
