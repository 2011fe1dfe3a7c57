//! Password hashing: argon2id at OWASP's recommended parameters (19 MiB,
//! 2 passes, 1 lane), on blocking threads with bounded concurrency so a
//! burst of logins never starves the async runtime.
//!
//! An unknown email is checked against a dummy hash, so it costs the same
//! time as a wrong password and response times reveal nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// Memory cost, KiB (OWASP: 19 MiB).
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Passes (OWASP: 2).
pub const ITERATIONS: u32 = 2;
/// Lanes (OWASP: 1).
pub const PARALLELISM: u32 = 1;

/// Hashes that may wait for a turn; more are refused at once, so a flood
/// of logins or registrations cannot queue without bound.
pub const MAX_WAITING: usize = 256;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashes are already waiting.
    #[error("the auth service is busy hashing passwords; retry in a moment")]
    Busy,
    /// Hashing failed (never for ordinary input).
    #[error("password hashing failed: {0}")]
    Failed(String),
}

fn argon2() -> Argon2<'static> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes and verifies passwords, at most `concurrency` at a time.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Callers holding or waiting for a permit.
    queued: Arc<AtomicUsize>,
    /// At most this many may be queued.
    max_queued: usize,
}

/// A place in the hashing queue, given back on drop.
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Passwords {
    /// At most `concurrency` hashes run at once (each takes ~19 MiB).
    pub fn new(concurrency: usize) -> Self {
        dummy_hash();
        let concurrency = concurrency.max(1);
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            queued: Arc::default(),
            max_queued: concurrency + MAX_WAITING,
        }
    }

    /// Runs `work` on a blocking thread once a permit is free, or refuses
    /// at once if the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(HashError::Busy);
        }
        let _place = Place(self.queued.clone());
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError::Failed(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| HashError::Failed(e.to_string()))?
    }

    /// A PHC-format argon2id hash of `password` with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move || {
            let salt = SaltString::generate(&mut rand_core::OsRng);
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError::Failed(e.to_string()))
        })
        .await
    }

    /// Whether `password` matches `hash`; with `None` (unknown user) it
    /// checks a dummy hash and answers false, in the same time.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, HashError> {
        self.run(move || {
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| dummy_hash().to_owned());
            let parsed = PasswordHash::new(&hash).map_err(|e| HashError::Failed(e.to_string()))?;
            let matches = argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(known && matches)
        })
        .await
    }
}

/// A hash of a random password, made once, to verify unknown users against.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand_core::OsRng);
        let random = SaltString::generate(&mut rand_core::OsRng);
        argon2()
            .hash_password(random.as_str().as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}
