//! Refused callers, logged without letting them flood the log.
//!
//! Every service that checks a caller's certificate warns when it refuses
//! one. A caller that repeats a refused call (a misconfigured service, or
//! a stolen certificate probing what it may do) would otherwise write a
//! line per call. [`warn`] writes the first refusal of a kind by a caller
//! (its certificate's role and its address) at once, then at most one line
//! per [`EVERY`] for it, saying how many refusals it left out meanwhile.
//! A caller that stops has its last count written by a sweep (a thread
//! started at the first refusal) within 2 × [`EVERY`] of the last line
//! written for it, unless the process stops first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use tonic::transport::CertificateDer;

use crate::Identity;

/// The least time between two lines for one kind of refusal by one caller.
pub const EVERY: Duration = Duration::from_secs(10);

/// Callers tracked at once; past it the oldest are forgotten. Identities
/// come from certificates the cluster's CA signed, so there are few.
const MAX_KEYS: usize = 256;

/// Logs `what` (a refused call) at WARN, naming the caller of `request`
/// (its certificate's role, see [`caller`]) and its address, unless this
/// caller's same refusal was logged less than [`EVERY`] ago.
pub fn warn<T>(what: &'static str, request: &tonic::Request<T>) {
    let certificates = request.peer_certs();
    let peer = caller(certificates.as_ref().map(|c| c.as_slice()));
    let remote = request.remote_addr();
    let key = (what, peer.clone(), remote.map(|a| a.ip()));
    if let Some(left_out) = throttle().admit(key, Instant::now()) {
        say(what, &peer, &remote, left_out);
    }
}

/// The one shape of a refusal line, whoever writes it.
fn say(what: &str, peer: &str, remote: &dyn std::fmt::Debug, left_out: u64) {
    tracing::warn!(%peer, ?remote, left_out, "{what}");
}

/// The process's throttle, and its sweep started with it.
fn throttle() -> &'static Throttle {
    static THROTTLE: OnceLock<Throttle> = OnceLock::new();
    static SWEEP: Once = Once::new();
    let throttle = THROTTLE.get_or_init(|| Throttle::new(EVERY));
    SWEEP.call_once(|| {
        let sweep = std::thread::Builder::new()
            .name("refusal-sweep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(EVERY);
                    for ((what, peer, remote), left_out) in throttle.overdue(Instant::now()) {
                        say(what, &peer, &remote, left_out);
                    }
                }
            });
        if let Err(e) = sweep {
            tracing::warn!(
                "no thread for the refusal sweep ({e}): a refused caller that stops \
                 has its last count reported only if it comes back"
            );
        }
    });
    throttle
}

/// Who a refused caller is, from the certificates it showed (the first is
/// its own): the role its certificate names, or `no-certificate`, or
/// `no-role` for one (signed by the cluster's CA, or rustls would not
/// have let it in) that names no role Boxoffice knows, or several. One
/// word each, so that `peer=…` in a text log line needs no quotes.
pub fn caller(certificates: Option<&[CertificateDer<'_>]>) -> String {
    match certificates.and_then(<[_]>::first) {
        None => "no-certificate".to_owned(),
        Some(own) => Identity::of_certificate(own.as_ref())
            .map_or_else(|| "no-role".to_owned(), |identity| identity.to_string()),
    }
}

/// A kind of refusal, the role of the caller refused and its address (so
/// that one misbehaving service does not hide another caller of its role).
type Key = (&'static str, String, Option<IpAddr>);

/// Which lines to write: at most one a key per window.
struct Throttle {
    every: Duration,
    /// Key → when its last line was written, and refusals since.
    seen: Mutex<HashMap<Key, (Instant, u64)>>,
}

impl Throttle {
    fn new(every: Duration) -> Self {
        Self {
            every,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(left out since the last line)` if a line is due for `key` at
    /// `now`, `None` if this one is left out.
    fn admit(&self, key: Key, now: Instant) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((last, left_out)) = seen.get_mut(&key) {
            if now.saturating_duration_since(*last) < self.every {
                *left_out += 1;
                return None;
            }
            let said = *left_out;
            *last = now;
            *left_out = 0;
            return Some(said);
        }
        let mut owed = None;
        if seen.len() >= MAX_KEYS {
            // The oldest caller owed nothing goes first; one owed a count
            // has it written as it goes.
            let oldest = seen
                .iter()
                .min_by_key(|(_, (at, left_out))| (*left_out > 0, *at))
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest
                && let Some((_, left_out)) = seen.remove(&oldest)
                && left_out > 0
            {
                owed = Some((oldest, left_out));
            }
        }
        seen.insert(key, (now, 0));
        // Written with the lock released, as every other line.
        drop(seen);
        if let Some(((what, peer, remote), left_out)) = owed {
            say(what, &peer, &remote, left_out);
        }
        Some(0)
    }

    /// The keys with refusals left out whose last line is at least
    /// `every` old at `now`, with their counts, which start again from
    /// `now`: the lines a caller that went quiet is still owed.
    fn overdue(&self, now: Instant) -> Vec<(Key, u64)> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter_mut()
            .filter(|(_, (last, left_out))| {
                *left_out > 0 && now.saturating_duration_since(*last) >= self.every
            })
            .map(|(key, (last, left_out))| {
                let said = *left_out;
                *last = now;
                *left_out = 0;
                (key.clone(), said)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_caller_a_window_with_the_count_left_out() {
        let throttle = Throttle::new(Duration::from_secs(10));
        let start = Instant::now();
        let key = |who: &str| ("refused a peer call", who.to_owned(), None);
        assert_eq!(throttle.admit(key("gateway"), start), Some(0));
        for s in 1..=9 {
            let at = start + Duration::from_secs(s);
            assert_eq!(throttle.admit(key("gateway"), at), None);
        }
        // Another caller, or another kind of refusal, has its own window.
        assert_eq!(throttle.admit(key("auth"), start), Some(0));
        assert_eq!(
            throttle.admit(("refused a payment call", "gateway".into(), None), start),
            Some(0)
        );
        let later = start + Duration::from_secs(10);
        assert_eq!(throttle.admit(key("gateway"), later), Some(9));
        assert_eq!(throttle.admit(key("gateway"), later), None);
    }

    #[test]
    fn a_caller_is_named_by_its_certificate_or_what_it_lacks() {
        assert_eq!(caller(None), "no-certificate");
        assert_eq!(caller(Some(&[])), "no-certificate");
        let dir = tempfile::tempdir().unwrap();
        crate::init_ca(dir.path()).unwrap();
        let files = crate::issue(dir.path(), Identity::Node(2), &[]).unwrap();
        let pem = std::fs::read(&files.cert).unwrap();
        let node = x509_parser::pem::parse_x509_pem(&pem).unwrap().1.contents;
        let stranger = rcgen::generate_simple_self_signed(vec!["example.com".to_owned()])
            .unwrap()
            .cert;
        let node = CertificateDer::from(node);
        assert_eq!(caller(Some(std::slice::from_ref(&node))), "node-2");
        assert_eq!(caller(Some(&[stranger.der().clone()])), "no-role");
        // The first certificate of a chain is the caller's own.
        assert_eq!(
            caller(Some(&[node.clone(), stranger.der().clone()])),
            "node-2"
        );
        assert_eq!(caller(Some(&[stranger.der().clone(), node])), "no-role");
        // A certificate naming two roles is no one's.
        let two = rcgen::generate_simple_self_signed(vec![
            "node-1.boxoffice".to_owned(),
            "gateway.boxoffice".to_owned(),
        ])
        .unwrap()
        .cert;
        assert_eq!(caller(Some(&[two.der().clone()])), "no-role");
    }

    #[test]
    fn a_caller_that_went_quiet_has_its_count_swept() {
        let throttle = Throttle::new(Duration::from_secs(10));
        let start = Instant::now();
        let key = || ("refused a payment call", "gateway".to_owned(), None);
        let quiet = || ("refused a peer call", "auth".to_owned(), None);
        assert_eq!(throttle.admit(key(), start), Some(0));
        assert_eq!(throttle.admit(quiet(), start), Some(0));
        for s in 1..=5 {
            let at = start + Duration::from_secs(s);
            assert_eq!(throttle.admit(key(), at), None);
        }
        let at = |s| start + Duration::from_secs(s);
        // Not yet due; and a key with nothing left out is owed nothing.
        assert!(throttle.overdue(at(9)).is_empty());
        assert_eq!(throttle.overdue(at(10)), vec![(key(), 5)]);
        assert!(throttle.overdue(at(30)).is_empty(), "said once");
        // The sweep's line opened a window: a refusal just after it is
        // counted, not written.
        let throttle = Throttle::new(Duration::from_secs(10));
        assert_eq!(throttle.admit(key(), start), Some(0));
        assert_eq!(throttle.admit(key(), at(1)), None);
        assert_eq!(throttle.overdue(at(12)), vec![(key(), 1)]);
        assert_eq!(throttle.admit(key(), at(13)), None);
        assert_eq!(throttle.admit(key(), at(22)), Some(1));
    }

    #[test]
    fn the_callers_tracked_are_bounded() {
        let throttle = Throttle::new(Duration::from_secs(10));
        let start = Instant::now();
        for n in 0..(MAX_KEYS as u64 + 10) {
            let at = start + Duration::from_millis(n);
            assert_eq!(throttle.admit(("x", n.to_string(), None), at), Some(0));
        }
        assert_eq!(throttle.seen.lock().unwrap().len(), MAX_KEYS);
        // The oldest were forgotten: a caller comes back as new.
        assert_eq!(throttle.admit(("x", "0".into(), None), start), Some(0));
        // A caller owed a count is forgotten after those owed nothing.
        let owed = ("x", "0".to_owned(), None);
        assert_eq!(throttle.admit(owed.clone(), start), None);
        assert!(throttle.seen.lock().unwrap().contains_key(&owed));
        let later = start + Duration::from_secs(1);
        for n in 0..MAX_KEYS as u64 {
            throttle.admit(("y", n.to_string(), None), later);
        }
        assert!(
            throttle.seen.lock().unwrap().contains_key(&owed),
            "kept while callers owed nothing could go"
        );
    }
}
