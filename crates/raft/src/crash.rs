//! Crash points in the consensus layer, for fault tests: a process whose
//! `BOXOFFICE_CRASH_AT` (comma-separated) names a point aborts there, as
//! if killed with `kill -9`. Only debug builds (the ones tests run) check
//! the variable; in a release build [`point`] does nothing.

/// The environment variable naming the crash points to trigger (shared
/// with the node's checkout crash points).
pub const CRASH_AT_VAR: &str = "BOXOFFICE_CRASH_AT";

/// A batch of log writes is about to be committed (fsynced).
pub const BEFORE_LOG_FLUSH: &str = "log-before-flush";
/// A batch of log writes is durable, and nobody has been told yet.
pub const AFTER_LOG_FLUSH: &str = "log-after-flush";
/// A proposal is applied and its outcome is about to go back to the caller.
pub const AFTER_APPLY: &str = "apply-before-reply";

/// Aborts the process if `name` is armed in [`CRASH_AT_VAR`].
#[cfg(debug_assertions)]
pub fn point(name: &str) {
    let armed = std::env::var(CRASH_AT_VAR)
        .is_ok_and(|points| points.split(',').any(|point| point.trim() == name));
    if armed {
        eprintln!("crash point {name} reached: aborting");
        std::process::abort();
    }
}

/// Release builds have no crash points.
#[cfg(not(debug_assertions))]
pub fn point(_name: &str) {}
