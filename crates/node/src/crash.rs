//! Crash points for fault tests: named places in the checkout where a
//! node can be made to die as if killed (`kill -9`), to prove that the
//! next leader settles whatever it left half done.
//!
//! It also holds the one deliberately unsafe switch, which exists so that
//! the fault-injection suite can prove it notices a broken guarantee:
//! `BOXOFFICE_UNSAFE_STALE_READS=1` serves linearizable reads from the
//! local replica without a read index, as a careless implementation would.
//!
//! A test sets `BOXOFFICE_CRASH_AT` to a comma-separated list of point
//! names in a node's environment; the node aborts the moment it reaches
//! one. Only debug builds (the ones tests run) contain this: in a release
//! build [`point`] is empty and the variable is ignored.

/// The environment variable naming the crash points to trigger (the
/// consensus layer's points, in `boxoffice_raft::crash`, share it).
pub use boxoffice_raft::crash::{CRASH_AT_VAR, CRASH_ONCE_DIR_VAR};

/// The checkout has committed its hold and is about to charge.
pub const AFTER_HOLD: &str = "checkout-after-hold";
/// The charge succeeded and the checkout is about to confirm.
pub const AFTER_CHARGE: &str = "checkout-after-charge";

/// The refund of a booking's charge succeeded and the node is about to
/// record it.
pub const AFTER_REFUND: &str = "refund-after-refund";

/// Aborts the process if `name` is one of the crash points set in
/// [`CRASH_AT_VAR`] (debug builds only).
pub use boxoffice_raft::crash::point;

/// The environment variable that makes linearizable reads stale (unsafe;
/// debug builds only): the check of the fault suite's checker.
pub const UNSAFE_STALE_READS_VAR: &str = "BOXOFFICE_UNSAFE_STALE_READS";

/// Whether linearizable reads must skip their read index (debug builds
/// with [`UNSAFE_STALE_READS_VAR`] set to 1 only).
#[cfg(debug_assertions)]
pub fn unsafe_stale_reads() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        let on = std::env::var(UNSAFE_STALE_READS_VAR).is_ok_and(|v| v == "1");
        if on {
            eprintln!("UNSAFE: {UNSAFE_STALE_READS_VAR}=1: linearizable reads are served stale");
        }
        on
    })
}

/// Release builds are never unsafe.
#[cfg(not(debug_assertions))]
pub fn unsafe_stale_reads() -> bool {
    false
}
