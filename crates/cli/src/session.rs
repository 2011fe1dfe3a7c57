//! Where the client keeps the user's settings and session, and how a
//! command finds the cluster.
//!
//! Everything lives in one directory: `$BOXOFFICE_CONFIG_DIR`, or
//! `boxoffice/` in the user's configuration directory (`~/.config` on
//! Linux). `config.toml` may set `endpoints` (node addresses), `auth`
//! (the auth service), `chatbot` (the assistant) and `ca` (the CA
//! certificate to trust when the cluster serves its clients over TLS);
//! flags and `BOXOFFICE_ENDPOINTS` / `BOXOFFICE_AUTH_ENDPOINT` /
//! `BOXOFFICE_CA` win over it, and the local cluster's addresses are the
//! default.
//! `session.json` holds the logged-in user's tokens: written atomically
//! with mode 0600, refused if anyone else can read it, removed by
//! `boxoffice logout`. An access token about to expire is refreshed with
//! the refresh token before a call.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use boxoffice_client::Client;
use boxoffice_client::proto as v1;
use serde::{Deserialize, Serialize};

/// Default node addresses: the local cluster of `boxoffice up`.
pub const DEFAULT_ENDPOINTS: [&str; 3] = ["127.0.0.1:50051", "127.0.0.1:50052", "127.0.0.1:50053"];
/// Default auth service address.
pub const DEFAULT_AUTH: &str = "127.0.0.1:8000";
/// Default address of the assistant.
pub const DEFAULT_CHATBOT: &str = "127.0.0.1:9000";
/// Refresh the access token when it expires within this long.
const REFRESH_MARGIN_MS: i64 = 60_000;

/// The optional settings file, `config.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    /// Node addresses.
    endpoints: Option<Vec<String>>,
    /// Auth service address.
    auth: Option<String>,
    /// The assistant's address.
    chatbot: Option<String>,
    /// The CA certificate (PEM file) to trust: the cluster's client ports
    /// serve TLS.
    ca: Option<PathBuf>,
}

/// A logged-in user's tokens, as kept in `session.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedSession {
    /// Short-lived token sent with every call.
    pub access_token: String,
    /// Long-lived token used only to get a new access token.
    pub refresh_token: String,
    /// When the access token expires, ms since the Unix epoch.
    pub access_expires_at_ms: i64,
    /// The account's id.
    pub user_id: String,
    /// The account's email.
    pub email: String,
    /// Whether it is an administrator.
    pub admin: bool,
}

impl SavedSession {
    /// The session an auth reply describes.
    pub fn from_reply(session: &v1::Session) -> Self {
        let user = session.user.clone().unwrap_or_default();
        Self {
            access_token: session.access_token.clone(),
            refresh_token: session.refresh_token.clone(),
            access_expires_at_ms: session.access_expires_at_ms,
            user_id: user.user_id,
            email: user.email,
            admin: user.admin,
        }
    }
}

/// The client's directory.
#[derive(Clone, Debug)]
pub struct Paths {
    dir: PathBuf,
}

impl Paths {
    /// `$BOXOFFICE_CONFIG_DIR`, else `<user config dir>/boxoffice`.
    pub fn locate() -> anyhow::Result<Self> {
        let dir = match std::env::var_os("BOXOFFICE_CONFIG_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => dirs::config_dir()
                .context("no configuration directory (set HOME or BOXOFFICE_CONFIG_DIR)")?
                .join("boxoffice"),
        };
        Ok(Self { dir })
    }

    /// `config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    /// `session.json`.
    pub fn session_file(&self) -> PathBuf {
        self.dir.join("session.json")
    }

    fn read_config(&self) -> anyhow::Result<FileConfig> {
        let path = self.config_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("reading {}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The saved session, if any. Refused if others may read the file.
    pub fn load_session(&self) -> anyhow::Result<Option<SavedSession>> {
        let path = self.session_file();
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if meta.permissions().mode() & 0o077 != 0 {
            bail!(
                "{} can be read by other users; run `chmod 600 {}` or log in again",
                path.display(),
                path.display()
            );
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let session = serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged; log in again", path.display()))?;
        Ok(Some(session))
    }

    /// Saves `session` atomically, readable by the user only: written to a
    /// uniquely named file (mode 0600) in the same directory, synced, then
    /// renamed over the old one, and the directory synced; two processes
    /// saving at once each write a whole file.
    pub fn save_session(&self, session: &SavedSession) -> anyhow::Result<()> {
        create_private_dir(&self.dir)?;
        let path = self.session_file();
        let mut file = tempfile::Builder::new()
            .prefix(".session.")
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(&self.dir)
            .with_context(|| format!("writing in {}", self.dir.display()))?;
        file.write_all(serde_json::to_string_pretty(session)?.as_bytes())?;
        file.as_file().sync_all()?;
        file.persist(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        std::fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .with_context(|| format!("syncing {}", self.dir.display()))?;
        Ok(())
    }

    /// Removes the saved session; no session is fine.
    pub fn remove_session(&self) -> anyhow::Result<()> {
        match std::fs::remove_file(self.session_file()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).context("removing the saved session")
            }
            _ => Ok(()),
        }
    }
}

/// Creates `dir` (mode 0700) if missing.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// Where a client command reaches the cluster, how, and as whom: the node,
/// auth and assistant addresses, the CA to trust, the token and the saved
/// session. It connects nothing itself: [`Target::nodes`], [`Target::auth`]
/// and [`Target::chatbot`] make clients, which dial on their first call.
pub struct Target {
    /// The client's directory.
    pub paths: Paths,
    /// Node addresses.
    pub endpoints: Vec<String>,
    /// The auth service's address.
    pub auth: String,
    /// The assistant's address.
    pub chatbot: String,
    /// A token given on the command line or in `BOXOFFICE_TOKEN`; it wins
    /// over the saved session.
    token_override: Option<String>,
    /// The saved session, if logged in.
    pub session: Option<SavedSession>,
    /// TLS settings trusting `--ca`, when given: every client port then
    /// is dialled over TLS.
    tls: Option<tonic::transport::ClientTlsConfig>,
}

impl Target {
    /// Settings from flags or environment (`endpoints`, `auth`, `token`),
    /// then `config.toml`, then the defaults; and the saved session.
    pub fn load(
        endpoints: Option<&str>,
        auth: Option<&str>,
        chatbot: Option<&str>,
        token: Option<&str>,
        ca: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let paths = Paths::locate()?;
        let file = paths.read_config()?;
        let endpoints: Vec<String> = match endpoints {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            None => file
                .endpoints
                .unwrap_or_else(|| DEFAULT_ENDPOINTS.map(str::to_owned).to_vec()),
        };
        if endpoints.is_empty() {
            bail!("no node addresses given (--endpoints host:port,host:port)");
        }
        let auth = auth
            .map(str::to_owned)
            .or(file.auth)
            .unwrap_or_else(|| DEFAULT_AUTH.to_owned());
        let chatbot = chatbot
            .map(str::to_owned)
            .or(file.chatbot)
            .unwrap_or_else(|| DEFAULT_CHATBOT.to_owned());
        let tls = match ca.map(Path::to_owned).or(file.ca) {
            Some(ca) => Some(
                boxoffice_tls::client_trusting_file(&ca)
                    .map_err(|e| anyhow::anyhow!("the CA certificate (--ca): {e}"))?,
            ),
            None => None,
        };
        // A session that cannot be used (damaged, or readable by others)
        // is not used: say so, and let `login` replace it.
        let session = paths.load_session().unwrap_or_else(|e| {
            eprintln!("warning: ignoring the saved session: {e:#}");
            None
        });
        Ok(Self {
            paths,
            endpoints,
            auth,
            chatbot,
            token_override: token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()),
            session,
            tls,
        })
    }

    /// The bearer token calls carry, if any.
    pub fn token(&self) -> Option<&str> {
        self.token_override
            .as_deref()
            .or(self.session.as_ref().map(|s| s.access_token.as_str()))
    }

    /// A client of `addrs` without a token, over TLS when `--ca` is given.
    pub fn client_of<S: AsRef<str>>(&self, addrs: &[S]) -> anyhow::Result<Client> {
        Ok(Client::with_tls(addrs, self.tls.clone())?)
    }

    /// A failover client of the nodes, with the token.
    pub fn nodes(&self) -> anyhow::Result<Client> {
        Ok(self
            .client_of(&self.endpoints)?
            .with_optional_token(self.token()))
    }

    /// A client of the auth service, with the token.
    pub fn auth(&self) -> anyhow::Result<Client> {
        Ok(self
            .client_of(&[self.auth.as_str()])?
            .with_optional_token(self.token()))
    }

    /// A client of the assistant, with the token.
    pub fn chatbot(&self) -> anyhow::Result<Client> {
        Ok(self
            .client_of(&[self.chatbot.as_str()])?
            .with_optional_token(self.token()))
    }

    /// Refreshes the saved session's access token if it expires soon.
    /// A refresh the auth service refuses ends the session.
    pub async fn refresh_if_needed(&mut self) -> anyhow::Result<()> {
        let Some(session) = &self.session else {
            return Ok(());
        };
        if self.token_override.is_some()
            || session.access_expires_at_ms > now_ms() + REFRESH_MARGIN_MS
            || session.refresh_token.is_empty()
        {
            return Ok(());
        }
        let auth = self.client_of(&[self.auth.as_str()])?;
        match auth.refresh(&session.refresh_token).await {
            Ok(fresh) => self.remember(&fresh),
            Err(status) if status.code() == tonic::Code::Unauthenticated => {
                self.forget()?;
                Err(crate::output::api(tonic::Status::unauthenticated(
                    "your session has ended; log in again",
                )))
            }
            Err(status) => Err(crate::output::ApiError(status).into()),
        }
    }

    /// Saves a new session from an auth reply and uses it from now on.
    pub fn remember(&mut self, reply: &v1::Session) -> anyhow::Result<()> {
        let session = SavedSession::from_reply(reply);
        self.paths.save_session(&session)?;
        self.session = Some(session);
        Ok(())
    }

    /// Removes the saved session.
    pub fn forget(&mut self) -> anyhow::Result<()> {
        self.session = None;
        self.paths.remove_session()
    }
}

/// Now, in ms since the Unix epoch (the one wall clock, in
/// `boxoffice-config`).
pub use boxoffice_config::clock::now_ms;

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(dir: &Path) -> Paths {
        Paths {
            dir: dir.join("nested").join("boxoffice"),
        }
    }

    fn session() -> SavedSession {
        SavedSession {
            access_token: "a.b.c".into(),
            refresh_token: "d.e.f".into(),
            access_expires_at_ms: 1,
            user_id: "u2".into(),
            email: "ann@example.com".into(),
            admin: false,
        }
    }

    #[test]
    fn a_session_is_private_and_survives_a_round_trip() {
        let dir = tempfile::TempDir::new().unwrap();
        let paths = paths(dir.path());
        assert!(paths.load_session().unwrap().is_none());
        paths.save_session(&session()).unwrap();
        let mode = std::fs::metadata(paths.session_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(&paths.dir).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let loaded = paths.load_session().unwrap().unwrap();
        assert_eq!(loaded.email, "ann@example.com");
        paths.remove_session().unwrap();
        paths.remove_session().unwrap();
        assert!(paths.load_session().unwrap().is_none());
    }

    #[test]
    fn a_readable_or_damaged_session_is_refused() {
        let dir = tempfile::TempDir::new().unwrap();
        let paths = paths(dir.path());
        paths.save_session(&session()).unwrap();
        let file = paths.session_file();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = paths.load_session().unwrap_err().to_string();
        assert!(refused.contains("chmod 600"), "{refused}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&file, "{not json").unwrap();
        let damaged = paths.load_session().unwrap_err().to_string();
        assert!(damaged.contains("log in again"), "{damaged}");
    }
}
