//! Token signing keys: Ed25519, one PEM pair per key id in a directory.
//!
//! `<kid>.key.pem` (PKCS#8, private, mode 0600) is read only by the auth
//! service; `<kid>.pub.pem` (SPKI) is all a booking node needs to verify
//! tokens. Key ids are `k<unix seconds>`, zero-padded, so the newest key
//! sorts last and signs; every key in the directory verifies.
//!
//! Rotation: `boxoffice auth rotate-key` adds a new pair; new tokens are
//! signed with it at once, tokens signed with the old key keep verifying
//! until the old files are removed, which is safe once the longest token
//! lifetime (the refresh token's) has passed.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{DecodingKey, EncodingKey};

/// A key problem, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key file is not a valid Ed25519 PEM key.
    #[error("{path}: not an Ed25519 PEM key: {reason}")]
    Invalid {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The directory holds no key to verify with.
    #[error("no public keys (*.pub.pem) in {0}")]
    NoKeys(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Every public key of a directory, by key id: what verifies tokens.
pub struct PublicKeys {
    keys: BTreeMap<String, DecodingKey>,
}

impl PublicKeys {
    /// Loads every `<kid>.pub.pem` in `dir`.
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        for (kid, path) in files_with_suffix(dir, ".pub.pem")? {
            let pem = fs::read(&path).map_err(io(&path))?;
            let key = DecodingKey::from_ed_pem(&pem).map_err(|e| KeyError::Invalid {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            keys.insert(kid, key);
        }
        if keys.is_empty() {
            return Err(KeyError::NoKeys(dir.to_owned()));
        }
        Ok(Self { keys })
    }

    /// The key with this id.
    pub fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys.get(kid)
    }

    /// Key ids known.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

/// The newest private key of a directory: what signs tokens.
pub struct SigningKeys {
    kid: String,
    key: EncodingKey,
}

impl SigningKeys {
    /// Loads the newest `<kid>.key.pem` in `dir`, first generating a key
    /// pair if the directory has none.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        if files_with_suffix(dir, ".key.pem")
            .map(|f| f.is_empty())
            .unwrap_or(true)
        {
            generate(dir)?;
        }
        let (kid, path) = files_with_suffix(dir, ".key.pem")?
            .pop_last()
            .ok_or_else(|| KeyError::NoKeys(dir.to_owned()))?;
        let pem = fs::read(&path).map_err(io(&path))?;
        let key = EncodingKey::from_ed_pem(&pem).map_err(|e| KeyError::Invalid {
            path,
            reason: e.to_string(),
        })?;
        Ok(Self { kid, key })
    }

    /// The signing key's id (the JWT `kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The signing key.
    pub fn key(&self) -> &EncodingKey {
        &self.key
    }
}

/// Generates a new key pair in `dir` and returns its key id.
pub fn generate(dir: &Path) -> Result<String, KeyError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut kid = format!("k{secs:012}");
    // Two rotations within a second still get distinct, ordered ids.
    while dir.join(format!("{kid}.key.pem")).exists() {
        kid.push('a');
    }
    let signing = SigningKey::generate(&mut rand_core::OsRng);
    let private = signing
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Invalid {
            path: dir.to_owned(),
            reason: e.to_string(),
        })?;
    let public = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Invalid {
            path: dir.to_owned(),
            reason: e.to_string(),
        })?;
    let private_path = dir.join(format!("{kid}.key.pem"));
    write_private(&private_path, private.as_bytes())?;
    let public_path = dir.join(format!("{kid}.pub.pem"));
    fs::write(&public_path, public.as_bytes()).map_err(io(&public_path))?;
    Ok(kid)
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

/// `(kid, path)` of every file in `dir` named `<kid><suffix>`, ordered by kid.
fn files_with_suffix(dir: &Path, suffix: &str) -> Result<BTreeMap<String, PathBuf>, KeyError> {
    let mut found = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(kid) = name.strip_suffix(suffix)
            && !kid.is_empty()
        {
            found.insert(kid.to_owned(), path.clone());
        }
    }
    Ok(found)
}
