//! The chatbot's configuration: defaults, then a TOML file, then
//! `BOXOFFICE_CHATBOT__*` environment variables, then validation.

use std::path::{Path, PathBuf};

use figment::providers::Env;
use serde::{Deserialize, Serialize};

pub use boxoffice_config::ConfigError;

use crate::llm::LlmConfig;

/// Everything the chatbot needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatbotConfig {
    /// Address to listen on.
    pub listen: String,
    /// Booking nodes to read from (host:port); any node answers.
    pub nodes: Vec<String>,
    /// A policies file replacing the built-in one (see `policies.toml`).
    pub policies: Option<PathBuf>,
    /// How long a conversation is remembered after its last message, s.
    pub session_ttl_secs: u64,
    /// Most conversations remembered at once (the oldest go first).
    pub max_sessions: usize,
    /// The optional generative backend that phrases replies.
    pub llm: Option<LlmConfig>,
    /// Serve clients over TLS with this certificate (plaintext without).
    pub client_tls: Option<boxoffice_tls::ClientTls>,
    /// The CA (PEM file) to trust when the nodes serve their clients over
    /// TLS; plaintext to them without.
    pub ca: Option<PathBuf>,
}

impl Default for ChatbotConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9000".into(),
            nodes: vec![
                "127.0.0.1:50051".into(),
                "127.0.0.1:50052".into(),
                "127.0.0.1:50053".into(),
            ],
            policies: None,
            session_ttl_secs: 30 * 60,
            max_sessions: 10_000,
            llm: None,
            client_tls: None,
            ca: None,
        }
    }
}

impl ChatbotConfig {
    /// Defaults, then `path` (if given), then `BOXOFFICE_CHATBOT__*`, validated.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        boxoffice_config::load_validated(
            path,
            Env::prefixed("BOXOFFICE_CHATBOT__").split("__"),
            Self::validate,
        )
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::invalid("chatbot", m));
        boxoffice_config::check_listen_addr("listen", &self.listen)
            .map_err(|m| ConfigError::invalid("chatbot", m))?;
        if self.nodes.is_empty() {
            return bad("nodes must name at least one booking node".into());
        }
        if self.session_ttl_secs == 0 || self.max_sessions == 0 {
            return bad("session_ttl_secs and max_sessions must be at least 1".into());
        }
        if let Some(llm) = &self.llm {
            if !llm.url.starts_with("http://") {
                return bad(format!("llm.url {:?} must be an http:// URL", llm.url));
            }
            if llm.model.trim().is_empty() {
                return bad("llm.model must not be empty".into());
            }
        }
        Ok(())
    }
}
