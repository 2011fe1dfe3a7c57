//! The policy answers (refunds, payment and holds, accounts, help), from
//! one TOML file the operator can edit: `policies.toml` in this crate is
//! the default, compiled in; `policies` in the chatbot's config points at
//! a replacement.

use std::path::Path;

use serde::Deserialize;

/// The default policies.
pub const DEFAULT: &str = include_str!("../policies.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    cancellation: Entry,
    payment: Entry,
    account: Entry,
    help: Entry,
    unknown: Entry,
    refused: Entry,
}

/// The policy texts.
#[derive(Clone, Debug)]
pub struct Policies {
    /// Cancelling and refunds.
    pub cancellation: String,
    /// Paying, holds, declines.
    pub payment: String,
    /// Accounts and sessions.
    pub account: String,
    /// What the assistant can do.
    pub help: String,
    /// When it did not understand.
    pub unknown: String,
    /// When asked to act for someone, or to drop its rules.
    pub refused: String,
}

impl Policies {
    /// Parses a policies file; the error names what is missing or wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let clean = |e: Entry| e.text.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(Self {
            cancellation: clean(file.cancellation),
            payment: clean(file.payment),
            account: clean(file.account),
            help: clean(file.help),
            unknown: clean(file.unknown),
            refused: clean(file.refused),
        })
    }

    /// The file at `path`, or the default.
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        match path {
            None => Self::parse(DEFAULT),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_parses_and_a_broken_file_is_refused() {
        let policies = Policies::parse(DEFAULT).unwrap();
        assert!(policies.cancellation.contains("refunded in full"));
        assert!(!policies.payment.contains('\n'));
        let missing = Policies::parse("[help]\ntext = \"hi\"").unwrap_err();
        assert!(missing.contains("missing field"), "{missing}");
    }
}
