//! The booking assistant: a chatbot that knows the live cluster.
//!
//! - [`intent`]: what a question wants, learned from the labelled examples
//!   in `data/intents.tsv` (logistic regression over TF-IDF features, with
//!   spelling correction); evaluated on a held-out split.
//! - [`entities`]: what it names: a show (id or fuzzy title), a
//!   production, seats and ranges, a count, a booking, a time span, a time
//!   of day, a wheelchair space; and, against one performance's own
//!   names, sections, price categories and ticket types.
//! - [`assistant`]: the answer, looked up in the cluster through the
//!   client library with the asker's token, plus suggested next actions
//!   with machine-readable payloads; per-conversation memory. Prices,
//!   wheelchair spaces and best seats together are computed from a read
//!   of one performance ([`assistant::plan`]) with the state machine's own
//!   best-available rules; nothing is held to answer.
//! - [`policies`]: the policy answers, from one file the operator edits.
//! - [`llm`]: an optional OpenAI-compatible endpoint that only rephrases.
//! - [`config`], [`service`]: `boxoffice.v1.ChatbotService` over gRPC.
//! - [`legacy`]: the old system's `chatbot.Chatbot`, an adapter.
//!
//! Invariants: the assistant only reads; it never books, cancels or
//! changes anything, whatever it is told, and it sees a user's bookings
//! only with that user's token. Facts come from the cluster, never from
//! the model: the generative backend rephrases an answer already made,
//! and when it is absent, slow or failing the answer stands as it is.

#![deny(missing_docs)]

pub mod assistant;
pub mod config;
pub mod entities;
pub mod intent;
pub mod legacy;
pub mod llm;
pub mod policies;
pub mod service;
