//! The proof of work a buyer shows to join a waiting room: hashcash over
//! a challenge bound to the buyer and the performance.
//!
//! The challenge is SHA-256 of [`JOIN_DOMAIN`], then the performance id
//! and the account id, each preceded by its length as one byte (ids are
//! at most 64 bytes), so it is the same wherever it is computed and
//! differs for every account and performance: work done for one account
//! is worth nothing for another. A nonce proves `bits` of work when
//! SHA-256 of the challenge and the nonce's eight big-endian bytes begins
//! with `bits` zero bits: about 2^`bits` hashes to find, one to check.

use sha2::{Digest, Sha256};

use crate::ids::{ShowId, UserId};

/// What the challenge hashes first.
pub const JOIN_DOMAIN: &[u8] = b"boxoffice waiting room join v1";
/// The most work a node may ask for.
pub const MAX_JOIN_BITS: u32 = 30;

/// The challenge `user` solves to join the room of `show`.
pub fn join_challenge(show: &ShowId, user: &UserId) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(JOIN_DOMAIN);
    for id in [show.as_str(), user.as_str()] {
        hasher.update([u8::try_from(id.len()).unwrap_or(u8::MAX)]);
        hasher.update(id.as_bytes());
    }
    hasher.finalize().into()
}

/// Whether `nonce` proves `bits` of work on `challenge`.
pub fn proves(challenge: &[u8; 32], nonce: u64, bits: u32) -> bool {
    leading_zero_bits(&attempt(challenge, nonce)) >= bits
}

/// The first nonce from 0 up that proves `bits` of work on `challenge`.
pub fn solve(challenge: &[u8; 32], bits: u32) -> u64 {
    (0..=u64::MAX)
        .find(|&nonce| proves(challenge, nonce, bits))
        .unwrap_or(u64::MAX)
}

fn attempt(challenge: &[u8; 32], nonce: u64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(challenge);
    hasher.update(nonce.to_be_bytes());
    hasher.finalize().into()
}

fn leading_zero_bits(digest: &[u8; 32]) -> u32 {
    let mut bits = 0;
    for byte in digest {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_solution_proves_its_work_for_its_account_and_performance_only() {
        let (show, ann, bob) = (ShowId::from("p1"), UserId::from("u2"), UserId::from("u3"));
        let challenge = join_challenge(&show, &ann);
        let nonce = solve(&challenge, 12);
        assert!(proves(&challenge, nonce, 12));
        assert!(proves(&challenge, nonce, 0), "no work asked: anything goes");
        assert_ne!(challenge, join_challenge(&show, &bob));
        assert_ne!(challenge, join_challenge(&ShowId::from("p2"), &ann));
        // The ids are length-prefixed: ("p1", "u23") is not ("p1u", "23").
        assert_ne!(
            join_challenge(&ShowId::from("p1"), &UserId::from("u23")),
            join_challenge(&ShowId::from("p1u"), &UserId::from("23"))
        );
        // Most nonces prove nothing at 12 bits (one in 4,096 does).
        let proving = (0..4_096).filter(|&n| proves(&challenge, n, 12)).count();
        assert!(proving < 10, "{proving} of 4096 nonces prove 12 bits");
    }

    #[test]
    fn leading_zero_bits_are_counted_across_bytes() {
        let mut digest = [0u8; 32];
        assert_eq!(leading_zero_bits(&digest), 256);
        digest[1] = 0b0001_0000;
        assert_eq!(leading_zero_bits(&digest), 11);
        digest[0] = 0x80;
        assert_eq!(leading_zero_bits(&digest), 0);
    }
}
