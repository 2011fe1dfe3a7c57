//! The booking assistant.

pub mod intent;
