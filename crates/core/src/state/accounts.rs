//! User accounts: the [`User`] entity and the commands that create and
//! change accounts (`RegisterUser`, `BootstrapAdmin`'s registration,
//! `SetAdmin`, `RevokeSessions`, `ChangePassword`), with the email and
//! administrator indexes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Inconsistency;
use super::State;
use super::invariants::inconsistent;
use crate::ids::{Timestamp, UserId};
use crate::outcome::{Effect, Outcome, Rejection};
use crate::validate::{check_password_hash, normalize_email};

/// Index from each normalised email to the account registered with it.
pub(super) type EmailIndex = BTreeMap<String, UserId>;

/// A user account.
///
/// Its `Debug` form leaves the password hash out, so that logging a state
/// or an account does not spread hashes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The account's id: `u1`, `u2`, … in order of registration.
    pub id: UserId,
    /// Normalised email address (see [`normalize_email`]), unique among accounts.
    pub email: String,
    /// Password hash (a PHC string) produced by the auth service.
    pub password_hash: String,
    /// Whether the account has the administrator role.
    pub admin: bool,
    /// Session generation: a session token is valid only while it carries
    /// this value. Logout and password changes increment it.
    pub token_version: u64,
    /// When the account was created.
    pub created_at: Timestamp,
}

impl User {
    /// The account without its password hash.
    pub fn summary(&self) -> UserSummary {
        UserSummary {
            id: self.id.clone(),
            email: self.email.clone(),
            admin: self.admin,
            token_version: self.token_version,
            created_at: self.created_at,
        }
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("admin", &self.admin)
            .field("token_version", &self.token_version)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A user account as commands report it: everything but the password hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// The account's id.
    pub id: UserId,
    /// Normalised email address.
    pub email: String,
    /// Whether the account has the administrator role.
    pub admin: bool,
    /// Current session generation; tokens must carry it.
    pub token_version: u64,
    /// When the account was created.
    pub created_at: Timestamp,
}

impl State {
    /// `RegisterUser`, and `BootstrapAdmin` once it has checked that there is no administrator.
    pub(super) fn register_user(
        &mut self,
        email: &str,
        password_hash: &str,
        admin: bool,
    ) -> Outcome {
        let email = normalize_email(email)?;
        check_password_hash(password_hash)?;
        if self.by_email.contains_key(&email) {
            return Err(Rejection::EmailTaken(email));
        }
        let number = self
            .last_user_id
            .checked_add(1)
            .ok_or_else(|| Rejection::Invalid("user ids exhausted".to_owned()))?;
        // Every check has passed; mutate.
        self.last_user_id = number;
        let user = User {
            id: user_id(number),
            email,
            password_hash: password_hash.to_owned(),
            admin,
            token_version: 0,
            created_at: self.now,
        };
        let summary = user.summary();
        self.by_email.insert(user.email.clone(), user.id.clone());
        if admin {
            self.admins.insert(user.id.clone());
        }
        self.users.insert(user.id.clone(), user);
        Ok(Effect::User(summary))
    }

    /// `SetAdmin`.
    pub(super) fn set_admin(&mut self, id: &UserId, admin: bool) -> Outcome {
        let user = self
            .users
            .get_mut(id)
            .ok_or_else(|| Rejection::UserNotFound(id.clone()))?;
        if user.admin && !admin && self.admins.len() <= 1 {
            return Err(Rejection::LastAdmin);
        }
        // Every check has passed; mutate.
        user.admin = admin;
        if admin {
            self.admins.insert(id.clone());
        } else {
            self.admins.remove(id);
        }
        Ok(Effect::User(user.summary()))
    }

    /// `RevokeSessions`, and with a new hash `ChangePassword`: bumps the token version.
    pub(super) fn revoke_sessions(&mut self, id: &UserId, password_hash: Option<&str>) -> Outcome {
        if let Some(hash) = password_hash {
            check_password_hash(hash)?;
        }
        let user = self
            .users
            .get_mut(id)
            .ok_or_else(|| Rejection::UserNotFound(id.clone()))?;
        let token_version = user
            .token_version
            .checked_add(1)
            .ok_or_else(|| Rejection::Invalid("token_version exhausted".to_owned()))?;
        // Every check has passed; mutate.
        user.token_version = token_version;
        if let Some(hash) = password_hash {
            hash.clone_into(&mut user.password_hash);
        }
        Ok(Effect::User(user.summary()))
    }
}

/// The id of the `number`th account.
fn user_id(number: u64) -> UserId {
    UserId(format!("u{number}"))
}

/// The number of an account id of the form `u{n}`, if it is exactly that form.
pub(super) fn user_number(id: &UserId) -> Option<u64> {
    let number = id.as_str().strip_prefix('u')?.parse().ok()?;
    (user_id(number) == *id).then_some(number)
}

/// The email index implied by `users`, or a description of two accounts sharing an email.
pub(super) fn build_email_index(
    users: &BTreeMap<UserId, User>,
) -> Result<EmailIndex, Inconsistency> {
    let mut by_email = EmailIndex::new();
    for user in users.values() {
        if let Some(other) = by_email.insert(user.email.clone(), user.id.clone()) {
            return Err(inconsistent!(
                "users {other} and {} share an email address",
                user.id
            ));
        }
    }
    Ok(by_email)
}

/// The administrator index implied by `users`.
pub(super) fn build_admin_index(users: &BTreeMap<UserId, User>) -> BTreeSet<UserId> {
    users
        .values()
        .filter(|user| user.admin)
        .map(|user| user.id.clone())
        .collect()
}
