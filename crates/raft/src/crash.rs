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

/// When set to a directory, each armed point fires in one process only:
/// the first to reach it, which leaves a file of the point's name there.
/// (A cluster's nodes share their crash points; without this the next
/// leader would die at the same point.)
pub const CRASH_ONCE_DIR_VAR: &str = "BOXOFFICE_CRASH_ONCE_DIR";

/// Aborts the process if `name` is armed in [`CRASH_AT_VAR`] (and, under
/// [`CRASH_ONCE_DIR_VAR`], no process has crashed there yet).
#[cfg(debug_assertions)]
pub fn point(name: &str) {
    let armed = std::env::var(CRASH_AT_VAR)
        .is_ok_and(|points| points.split(',').any(|point| point.trim() == name));
    let first = || match std::env::var_os(CRASH_ONCE_DIR_VAR) {
        Some(dir) => std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(std::path::Path::new(&dir).join(name))
            .is_ok(),
        None => true,
    };
    if armed && first() {
        eprintln!("crash point {name} reached: aborting");
        std::process::abort();
    }
}

/// Release builds have no crash points.
#[cfg(not(debug_assertions))]
pub fn point(_name: &str) {}
