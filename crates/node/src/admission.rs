//! Admission tokens: what a buyer the waiting room let in shows with each
//! hold or booking of that performance (issue 25).
//!
//! When a node answers a `GetWaitingRoom` of a buyer the room has let
//! in, it adds a token that says so: the buyer's id, the
//! performance, their place and when the admission lapses, under
//! HMAC-SHA-256 with the key every node of the cluster shares
//! (`booking.admission_key`). While the room guards its performance, a
//! node refuses a customer's hold or booking that does not carry a live
//! token *of that buyer for that performance* before anything is
//! proposed: a script that skips the room costs the cluster a MAC, not a
//! log entry.
//!
//! The token is a pass, not the admission itself: the state machine still
//! checks the replicated admission (it may have been used up or lapsed),
//! so a stolen or replayed token lets nobody in whom the room has not let
//! in, and a leaked key forges no place in the queue.
//!
//! Format: `adm1.<payload>.<mac>`, both parts base64url without padding;
//! the payload is the claims in postcard, the MAC covers the domain `boxoffice-admission-v1`
//! and the payload's text. Verification checks the length first, then the
//! MAC (in constant time), and only then parses the payload.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use boxoffice_core::{Admission, ShowId, UserId};
use hmac::Mac as _;
use serde::{Deserialize, Serialize};

/// The tokens' prefix: their format's version.
const PREFIX: &str = "adm1.";
/// What the MAC covers before the payload: no MAC this key makes for any
/// other purpose verifies as an admission.
const DOMAIN: &[u8] = b"boxoffice-admission-v1\0";
/// The longest token looked at (the ids in it are at most a few hundred
/// bytes).
pub const MAX_TOKEN_LEN: usize = 1024;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// What a token says.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Claims {
    /// The buyer.
    u: String,
    /// The performance.
    s: String,
    /// Their place in the queue.
    p: u64,
    /// When they were let in, ms since the Unix epoch.
    at: i64,
    /// When the admission lapses unused, ms since the Unix epoch.
    exp: i64,
}

/// Why a token does not let its bearer hold.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// None was sent.
    #[error("the request carries no admission token")]
    Missing,
    /// Not one this cluster made (or altered, or cut).
    #[error("the admission token is not one this cluster issued")]
    Forged,
    /// Made for someone else.
    #[error("the admission token was issued to another account")]
    OtherBuyer,
    /// Made for another performance.
    #[error("the admission token is for performance {0}")]
    OtherShow(String),
    /// Its admission has lapsed.
    #[error("the admission token expired (the admission lapsed unused); queue again")]
    Expired,
}

/// The cluster's admission key.
#[derive(Clone)]
pub struct AdmissionKey([u8; 32]);

impl std::fmt::Debug for AdmissionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdmissionKey(…)")
    }
}

impl AdmissionKey {
    /// The key of `bytes`.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    fn mac(&self) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(DOMAIN);
        mac
    }

    /// The token of `admission` of `user` to `show`.
    pub fn issue(&self, user: &UserId, show: &ShowId, admission: &Admission) -> String {
        let claims = Claims {
            u: user.0.clone(),
            s: show.0.clone(),
            p: admission.place,
            at: admission.at.0,
            exp: admission.expires_at.0,
        };
        let bytes = postcard::to_allocvec(&claims).expect("claims serialize");
        let payload = URL_SAFE_NO_PAD.encode(bytes);
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{PREFIX}{payload}.{tag}")
    }

    /// Whether `token` lets `user` hold seats of `show` at `now_ms` (by
    /// this node's clock): made with this key, for them, for it, and not
    /// yet lapsed.
    pub fn verify(
        &self,
        token: &str,
        user: &UserId,
        show: &ShowId,
        now_ms: i64,
    ) -> Result<(), Refusal> {
        if token.is_empty() {
            return Err(Refusal::Missing);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(Refusal::Forged);
        }
        let (payload, tag) = token
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('.'))
            .ok_or(Refusal::Forged)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| Refusal::Forged)?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&tag).map_err(|_| Refusal::Forged)?;
        // Made by a node of this cluster: from here on the payload is ours.
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| postcard::from_bytes(&bytes).ok())
            .ok_or(Refusal::Forged)?;
        if claims.u != user.0 {
            return Err(Refusal::OtherBuyer);
        }
        if claims.s != show.0 {
            return Err(Refusal::OtherShow(claims.s));
        }
        if claims.exp <= now_ms {
            return Err(Refusal::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_core::Timestamp;

    fn key(byte: u8) -> AdmissionKey {
        AdmissionKey::new([byte; 32])
    }

    fn admission() -> Admission {
        Admission {
            place: 7,
            at: Timestamp(1_000),
            expires_at: Timestamp(61_000),
        }
    }

    fn ids() -> (UserId, ShowId) {
        (UserId::from("ana"), ShowId::from("gala"))
    }

    #[test]
    fn a_token_lets_its_buyer_hold_until_the_admission_lapses() {
        let (ana, gala) = ids();
        let token = key(1).issue(&ana, &gala, &admission());
        assert_eq!(key(1).verify(&token, &ana, &gala, 60_999), Ok(()));
        assert_eq!(
            key(1).verify(&token, &ana, &gala, 61_000),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn a_token_is_bound_to_its_buyer_and_performance() {
        let (ana, gala) = ids();
        let token = key(1).issue(&ana, &gala, &admission());
        assert_eq!(
            key(1).verify(&token, &UserId::from("bob"), &gala, 0),
            Err(Refusal::OtherBuyer)
        );
        assert_eq!(
            key(1).verify(&token, &ana, &ShowId::from("opera"), 0),
            Err(Refusal::OtherShow("gala".into()))
        );
    }

    #[test]
    fn tokens_of_another_key_altered_or_malformed_are_forged() {
        let (ana, gala) = ids();
        let token = key(1).issue(&ana, &gala, &admission());
        assert_eq!(
            key(2).verify(&token, &ana, &gala, 0),
            Err(Refusal::Forged),
            "another cluster's key"
        );
        // Bob rewrites the payload to name himself, keeping Ana's MAC.
        let (_, tag) = token.rsplit_once('.').unwrap();
        let claims = Claims {
            u: "bob".into(),
            s: "gala".into(),
            p: 7,
            at: 1_000,
            exp: 61_000,
        };
        let payload = URL_SAFE_NO_PAD.encode(postcard::to_allocvec(&claims).unwrap());
        let altered = format!("{PREFIX}{payload}.{tag}");
        assert_eq!(
            key(1).verify(&altered, &UserId::from("bob"), &gala, 0),
            Err(Refusal::Forged)
        );
        // A token stretched past its lapse, MAC kept.
        let later = token.replacen('.', ".x", 1);
        assert_eq!(key(1).verify(&later, &ana, &gala, 0), Err(Refusal::Forged));
        let cut = &token[..token.len() - 2];
        let long = format!("{token}{}", "A".repeat(MAX_TOKEN_LEN));
        for bad in [
            "garbage",
            "adm1.",
            "adm1..",
            "adm1.e30.",
            cut,
            long.as_str(),
            "adm1.!!.!!",
        ] {
            assert_eq!(
                key(1).verify(bad, &ana, &gala, 0),
                Err(Refusal::Forged),
                "{bad}"
            );
        }
        assert_eq!(key(1).verify("", &ana, &gala, 0), Err(Refusal::Missing));
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", key(0xab)), "AdmissionKey(…)");
    }
}
