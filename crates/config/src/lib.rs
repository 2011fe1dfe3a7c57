//! Layered configuration, the same way for every Boxoffice process:
//! built-in defaults, then a TOML file, then environment variables, then
//! the process's own `validate()`. With it, the small pieces every
//! process shares: one atomic file writer, spare ports for tests, who
//! a client is for limits ([`clients`]), counts per client in windows of a
//! minute ([`windows`]) and the wall clock ([`clock`]).
//!
//! Invariant: a file named on the command line must exist (a typo in its
//! path is an error, not silently the defaults), and unknown keys in it
//! are errors when the config type says `deny_unknown_fields`.

#![deny(missing_docs)]

pub mod clients;
pub mod clock;
pub mod windows;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The named file does not exist.
    #[error("config file {} does not exist", .0.display())]
    Missing(PathBuf),
    /// The file or an environment variable could not be parsed; the
    /// message names the key and where it came from.
    #[error("{0}")]
    Parse(Box<figment::Error>),
}

/// A configuration that cannot be used, with what to fix; the same for
/// every process.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an environment variable could not be read or parsed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A value is out of range or inconsistent.
    #[error("invalid {service} configuration: {problem}")]
    Invalid {
        /// The process: `node`, `auth`, `payment`, `chatbot`.
        service: &'static str,
        /// What is wrong, naming the key.
        problem: String,
    },
}

impl ConfigError {
    /// An [`ConfigError::Invalid`] of `service`.
    pub fn invalid(service: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            service,
            problem: problem.into(),
        }
    }
}

/// Checks that the setting `key` holds an `ip:port` address a process can
/// listen on; the error names the key and the value.
pub fn check_listen_addr(key: &str, value: &str) -> Result<(), String> {
    match value.parse::<std::net::SocketAddr>() {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("{key} = {value:?} is not an ip:port address")),
    }
}

/// [`load`], then `validate`: how every process reads its configuration.
pub fn load_validated<T>(
    path: Option<&Path>,
    env: Env,
    validate: impl FnOnce(&T) -> Result<(), ConfigError>,
) -> Result<T, ConfigError>
where
    T: Default + Serialize + DeserializeOwned,
{
    let config = load(path, env)?;
    validate(&config)?;
    Ok(config)
}

/// `T::default()`, then `path` (if given), then `env`.
pub fn load<T>(path: Option<&Path>, env: Env) -> Result<T, LoadError>
where
    T: Default + Serialize + DeserializeOwned,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = path {
        if !path.exists() {
            return Err(LoadError::Missing(path.to_owned()));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment
        .merge(env)
        .extract()
        .map_err(|e| LoadError::Parse(Box::new(e)))
}

/// A loopback address no one listens on, for a process started later to
/// bind (tests and the fault suite, which restart processes on their old
/// addresses).
///
/// A port the kernel hands out for `bind(0)` comes from the ephemeral
/// range, where outgoing connections take their source ports too: with
/// many connections open, such a port is soon taken again, and the process
/// that was meant to bind it fails with "address in use". So ports are
/// drawn below that range (20000-32767, under Linux's default 32768), from a
/// sequence that differs per process, and checked by binding.
pub fn spare_loopback_addr() -> std::io::Result<std::net::SocketAddr> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_768;
    let seed = std::process::id().wrapping_mul(2_654_435_761);
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (seed.wrapping_add(n.wrapping_mul(7_919)) % SPAN);
        let port = u16::try_from(port).unwrap_or(u16::MAX);
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return listener.local_addr();
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no spare loopback port in 20000-32767",
    ))
}

/// Writes `data` to `path` whole: into a temporary file of its own, synced,
/// then renamed into place, so a reader sees the old file or the new one,
/// never part of one. With `private`, the file is readable by its owner only
/// (mode 0600) from the moment it exists, for keys and files holding
/// passwords.
///
/// A leftover temporary file (from an interrupted run, or a planted link) is
/// removed, never written through.
pub fn write_file(path: &Path, data: &[u8], private: bool) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options.open(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Creates `path` holding `data` whole, unless it exists: `Ok(false)`
/// then, and the file is left as it is. Like [`write_file`] the data goes
/// to a temporary file first (of this call's own: a name with the process
/// id, a count and the clock's nanoseconds, opened only if new), synced, but it is
/// then linked into place, which fails if the path exists. So of callers
/// racing to create one file (nodes starting together, each drawing a
/// key) exactly one succeeds, and every other reads that one's file
/// whole. The temporary file is removed whatever happens after it was
/// made (and only one this call made).
pub fn create_file(path: &Path, data: &[u8], private: bool) -> std::io::Result<bool> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    // Distinct across threads (the count) and processes (the id; the
    // clock's nanoseconds for processes of other PID namespaces).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    tmp_name.push(format!(
        ".{}.{}.{nanos}.new",
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    // An error here (the name taken too) is an error, never "exists".
    let mut file = options.open(&tmp)?;
    let linked = file
        .write_all(data)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::hard_link(&tmp, path).map(|()| true))
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(false),
            _ => Err(e),
        });
    drop(file);
    let removed = std::fs::remove_file(&tmp);
    let created = linked?;
    if created && let Ok(dir) = std::fs::File::open(dir) {
        // The new name lasts a crash (best effort: not every platform
        // syncs a directory).
        let _ = dir.sync_all();
    }
    match removed {
        // The key is in place; a leftover temporary file is only untidy.
        Err(_) if created => Ok(true),
        removed => removed.map(|()| created),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_callers_racing_to_create_a_file_one_wins_and_it_is_never_replaced() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("key");
            let start = std::sync::Barrier::new(8);
            let won: Vec<bool> = std::thread::scope(|s| {
                let racers: Vec<_> = (0..8u8)
                    .map(|i| {
                        let (path, start) = (&path, &start);
                        s.spawn(move || {
                            start.wait();
                            create_file(path, &[i; 64], true).unwrap()
                        })
                    })
                    .collect();
                racers.into_iter().map(|r| r.join().unwrap()).collect()
            });
            assert_eq!(won.iter().filter(|w| **w).count(), 1, "round {round}");
            let winner = won.iter().position(|w| *w).unwrap() as u8;
            assert_eq!(std::fs::read(&path).unwrap(), vec![winner; 64]);
            // Nothing is left beside it.
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        }
    }

    #[test]
    fn listen_addresses_are_checked() {
        assert_eq!(check_listen_addr("listen", "127.0.0.1:80"), Ok(()));
        assert_eq!(check_listen_addr("listen", "[::1]:80"), Ok(()));
        for bad in ["localhost:80", "127.0.0.1", "", "1.2.3.4:99999"] {
            let message = check_listen_addr("http_listen", bad).unwrap_err();
            assert_eq!(
                message,
                format!("http_listen = {bad:?} is not an ip:port address")
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_owner_only_and_never_written_through_a_leftover() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.toml");
        // A leftover temporary file others may read, as a planted one would be.
        let leftover = dir.path().join("auth.toml.tmp");
        std::fs::write(&leftover, "stale").unwrap();
        std::fs::set_permissions(&leftover, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_file(&path, b"password = \"x\"", true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"password = \"x\"");
        assert!(!leftover.exists());
        // A file made readable by others before is replaced by a private one.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_file(&path, b"again", true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
