//! Crash points for fault tests: named places in the checkout where a
//! node can be made to die as if killed (`kill -9`), to prove that the
//! next leader settles whatever it left half done.
//!
//! A test sets `BOXOFFICE_CRASH_AT` to a comma-separated list of point
//! names in a node's environment; the node aborts the moment it reaches
//! one. Only debug builds (the ones tests run) contain this: in a release
//! build [`point`] is empty and the variable is ignored.

/// The environment variable naming the crash points to trigger.
pub const CRASH_AT_VAR: &str = "BOXOFFICE_CRASH_AT";

/// The checkout has committed its hold and is about to charge.
pub const AFTER_HOLD: &str = "checkout-after-hold";
/// The charge succeeded and the checkout is about to confirm.
pub const AFTER_CHARGE: &str = "checkout-after-charge";

/// Aborts the process if `name` is one of the crash points set in
/// [`CRASH_AT_VAR`] (debug builds only).
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
