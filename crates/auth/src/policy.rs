//! The password policy, with messages that say what to fix.
//!
//! Strict (every deployment but the local development cluster): at least
//! 10 characters, at most 128 (hashing cost is bounded), not containing the
//! email or its local part, not a well-known common password, not a single
//! repeated character. Development (`boxoffice up`): at least 4 characters,
//! so the old system's clients and demo accounts (`admin123`, `pass0`) work.

use serde::{Deserialize, Serialize};

/// Longest password accepted, in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Which rules apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordPolicy {
    /// Production rules.
    #[default]
    Strict,
    /// Relaxed rules for the local development cluster.
    Development,
}

/// Passwords that appear at the top of every leaked-password list (all
/// compared lower-cased). Short ones are refused by length anyway; these
/// are the ones long enough to pass it.
const COMMON: &[&str] = &[
    "1234567890",
    "0987654321",
    "12345678910",
    "123456789a",
    "qwertyuiop",
    "qwerty1234",
    "qwerty12345",
    "qwerty123456",
    "1q2w3e4r5t",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "zaq12wsxcde3",
    "password12",
    "password123",
    "password1234",
    "password!",
    "password01",
    "passw0rd123",
    "iloveyou12",
    "iloveyou123",
    "letmein123",
    "welcome123",
    "welcome1234",
    "admin12345",
    "administrator",
    "changeme123",
    "trustno1234",
    "football123",
    "baseball123",
    "superman123",
    "sunshine123",
    "princess123",
    "starwars123",
    "monkey1234",
    "dragon1234",
    "abcdefghij",
    "abcd123456",
    "abc1234567",
    "asdfghjkl1",
    "asdfghjkl;",
    "zxcvbnm123",
    "q1w2e3r4t5",
    "1234qwerty",
    "11223344556677",
    "1122334455",
    "1234512345",
    "9876543210",
    "computer123",
    "internet123",
    "whatever123",
    "michael123",
    "jennifer123",
    "charlie123",
    "freedom123",
];

impl PasswordPolicy {
    /// `Ok` if `password` is acceptable for an account with `email`, else
    /// what to change.
    pub fn check(self, password: &str, email: &str) -> Result<(), String> {
        let chars = password.chars().count();
        let min = match self {
            PasswordPolicy::Strict => 10,
            PasswordPolicy::Development => 4,
        };
        if chars < min {
            return Err(format!(
                "password must be at least {min} characters long (it has {chars})"
            ));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(format!(
                "password must be at most {MAX_PASSWORD_CHARS} characters long"
            ));
        }
        if self == PasswordPolicy::Development {
            return Ok(());
        }
        let lower = password.to_lowercase();
        let email = email.trim().to_lowercase();
        let local = email.split('@').next().unwrap_or_default();
        if lower.contains(&email) || (local.len() >= 3 && lower.contains(local)) {
            return Err("password must not contain your email address".into());
        }
        if COMMON.contains(&lower.as_str()) {
            return Err("password is one of the most common passwords; choose another".into());
        }
        let mut distinct = password.chars().collect::<Vec<_>>();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 4 {
            return Err("password must use at least 4 different characters".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_policy_says_what_to_fix() {
        let p = PasswordPolicy::Strict;
        let cases = [
            ("short", "at least 10"),
            ("alice.smith-2024", "email"),
            ("Password123", "common"),
            ("aaaaaaaaaaaa", "different characters"),
        ];
        for (password, why) in cases {
            let err = p.check(password, "alice.smith@example.com").unwrap_err();
            assert!(err.contains(why), "{password}: {err}");
        }
        assert!(
            p.check(&"x1".repeat(100), "a@b.cd")
                .unwrap_err()
                .contains("at most")
        );
        p.check("correct horse battery", "alice@example.com")
            .unwrap();
    }

    #[test]
    fn development_policy_accepts_legacy_passwords() {
        for password in ["admin123", "pass0", "test123"] {
            PasswordPolicy::Development
                .check(password, "admin@gmail.com")
                .unwrap();
        }
        assert!(PasswordPolicy::Development.check("abc", "a@b.cd").is_err());
    }
}
