//! The cluster's certificates and who a TLS peer is.
//!
//! Role: every Boxoffice process that talks to another one over a network
//! proves who it is with a certificate of the cluster's own CA, and checks
//! the other side's. This crate makes that CA and its certificates
//! (with `rcgen`), writes them with private keys readable by the owner
//! only, turns them into tonic's TLS settings, and reads the identity out
//! of a verified peer certificate.
//!
//! Identities are names in the certificate's subject alternative names:
//! `node-<id>.boxoffice` for a booking node (every node also carries
//! `node.boxoffice`, the name a caller that does not know the node's id
//! verifies), `auth.boxoffice`, `payment.boxoffice`, `gateway.boxoffice`,
//! `chatbot.boxoffice` and `operator.boxoffice` (the operator's tools: fault suite, audits).
//! A certificate names exactly one role; [`Identity::of_certificate`]
//! refuses one that names several, so no certificate can be two things.
//!
//! Invariants: a peer's identity is only ever read from a certificate that
//! rustls has already verified against the CA (tonic hands the server
//! only verified client chains, and the peer listeners require one); keys
//! are written 0600 and never logged; files are written whole or not at
//! all (a temporary file renamed into place).
//!
//! [`refusals`] logs the callers a service refuses, at most a line per
//! kind of call, role and address every 10 s, so a refused caller cannot flood the
//! log.
//!
//! Deliberately missing: revocation lists. A certificate is withdrawn by
//! issuing a new CA (docs/architecture.md, "Certificates").

#![deny(missing_docs)]

pub mod refusals;

use std::fmt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, ServerTlsConfig};

/// The DNS suffix of every identity name.
pub const DOMAIN: &str = "boxoffice";
/// The name every node certificate carries besides its own.
pub const ANY_NODE: &str = "node.boxoffice";
/// File name of the CA certificate in a certificates directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA's private key in a certificates directory.
pub const CA_KEY_FILE: &str = "ca.key";

/// Who a certificate says its holder is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Identity {
    /// The booking node with this id.
    Node(u64),
    /// The auth service.
    Auth,
    /// The payment service.
    Payment,
    /// The HTTP gateway.
    Gateway,
    /// The booking assistant (its certificate serves its clients' TLS).
    Chatbot,
    /// An operator's tool (fault suite, ledger audit).
    Operator,
}

/// Why certificates could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    // The cause is in the message, not also a `source()`: error chains
    // (anyhow's) would print it twice.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// A certificate or key could not be generated or parsed.
    #[error("{what}: {cause}")]
    Cert {
        /// What was being done.
        what: String,
        /// Why.
        cause: rcgen::Error,
    },
    /// A file that should hold a PEM certificate holds none.
    #[error("{}: no PEM certificate in it", .0.display())]
    NoCertificate(PathBuf),
    /// A name is not one of the cluster's identities.
    #[error("{0:?} is not an identity: use node-<id>, auth, payment, gateway, chatbot or operator")]
    BadIdentity(String),
    /// A host name would let the certificate pass for another identity.
    #[error(
        "--host {0:?}: names under .boxoffice and wildcards are the CA's identities, not hosts"
    )]
    BadHost(String),
    /// The CA already exists and would be overwritten.
    #[error("{} already exists; remove the directory's CA to make a new one", .0.display())]
    Exists(PathBuf),
}

impl Identity {
    /// The role part of the name: `node-3`, `auth`, ...; also the stem of
    /// the certificate's file names.
    pub fn stem(&self) -> String {
        match self {
            Identity::Node(id) => format!("node-{id}"),
            Identity::Auth => "auth".into(),
            Identity::Payment => "payment".into(),
            Identity::Gateway => "gateway".into(),
            Identity::Chatbot => "chatbot".into(),
            Identity::Operator => "operator".into(),
        }
    }

    /// The DNS name that proves this identity: `node-3.boxoffice`.
    pub fn dns_name(&self) -> String {
        format!("{}.{DOMAIN}", self.stem())
    }

    /// Parses a stem (`node-3`, `auth`) or a full name (`auth.boxoffice`).
    pub fn parse(name: &str) -> Result<Self, TlsError> {
        let stem = name
            .strip_suffix(&format!(".{DOMAIN}"))
            .unwrap_or(name)
            .to_ascii_lowercase();
        let bad = || TlsError::BadIdentity(name.to_owned());
        Ok(match stem.as_str() {
            "auth" => Identity::Auth,
            "payment" => Identity::Payment,
            "gateway" => Identity::Gateway,
            "chatbot" => Identity::Chatbot,
            "operator" => Identity::Operator,
            other => {
                let id = other.strip_prefix("node-").ok_or_else(bad)?;
                // Digits only: `node-+3` or `node-03` would be a second
                // spelling of one node.
                if id.is_empty() || id.starts_with('0') || !id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                Identity::Node(id.parse().map_err(|_| bad())?)
            }
        })
    }

    /// The identity a verified certificate (DER) names, or `None` if it
    /// names none of the cluster's identities, or more than one.
    pub fn of_certificate(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let san = cert.subject_alternative_name().ok()??;
        let mut found = None;
        for name in &san.value.general_names {
            let x509_parser::extensions::GeneralName::DNSName(dns) = name else {
                continue;
            };
            // TLS compares names without case and a trailing dot: so do we.
            let dns = dns.trim_end_matches('.').to_ascii_lowercase();
            if dns == ANY_NODE {
                continue;
            }
            let Some(stem) = dns.strip_suffix(&format!(".{DOMAIN}")) else {
                continue;
            };
            // A name under ours that is no identity (a wildcard, say)
            // makes the certificate no one's.
            let identity = Identity::parse(stem).ok()?;
            if found.is_some_and(|f| f != identity) {
                return None;
            }
            found = Some(identity);
        }
        found
    }

    /// The identity of the client of a request on a mutual-TLS listener,
    /// read from the certificate rustls verified.
    pub fn of_request<T>(request: &tonic::Request<T>) -> Option<Self> {
        let certs = request.peer_certs()?;
        Self::of_certificate(certs.first()?.as_ref())
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stem())
    }
}

/// Where one process finds its certificate, its key and the CA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The cluster CA's certificate (PEM).
    pub ca: PathBuf,
    /// This process's certificate (PEM).
    pub cert: PathBuf,
    /// This process's private key (PEM, mode 0600).
    pub key: PathBuf,
}

impl TlsFiles {
    /// The files `issue` writes for `identity` in `dir`.
    pub fn in_dir(dir: &Path, identity: Identity) -> Self {
        let stem = identity.stem();
        Self {
            ca: dir.join(CA_CERT_FILE),
            cert: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}.key")),
        }
    }

    /// Reads the three files.
    pub fn load(&self) -> Result<Tls, TlsError> {
        let ca = read(&self.ca)?;
        let cert = read(&self.cert)?;
        let key = read(&self.key)?;
        Ok(Tls { ca, cert, key })
    }
}

/// A process's loaded certificate, key and CA.
#[derive(Clone)]
pub struct Tls {
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    fn identity(&self) -> tonic::transport::Identity {
        tonic::transport::Identity::from_pem(&self.cert, &self.key)
    }

    /// Server settings that require a client certificate of the CA.
    pub fn mutual_server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity())
            .client_ca_root(Certificate::from_pem(&self.ca))
    }

    /// Server settings for clients without certificates (TLS for clients).
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new().identity(self.identity())
    }

    /// Client settings that present this certificate and accept only a
    /// server of the CA proving `server`'s name.
    pub fn client_for(&self, server: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .identity(self.identity())
            .domain_name(server)
    }

    /// A mutual-TLS endpoint for `addr` (host:port) that must prove it is
    /// `server` (an identity's DNS name, or [`ANY_NODE`]).
    pub fn endpoint(
        &self,
        addr: &str,
        server: &str,
    ) -> Result<tonic::transport::Endpoint, tonic::transport::Error> {
        tonic::transport::Endpoint::from_shared(format!("https://{addr}"))?
            .tls_config(self.client_for(server))
    }
}

/// A server certificate and key for serving clients (who have no
/// certificate) over TLS: a node's client port, the auth service, the
/// assistant, the gateway, the payment service's legacy port. Any
/// certificate will do, the cluster CA's ([`issue`]) or a public one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

impl ClientTls {
    /// The files [`issue`] wrote for `identity` in `dir`.
    pub fn in_dir(dir: &Path, identity: Identity) -> Self {
        let files = TlsFiles::in_dir(dir, identity);
        Self {
            cert: files.cert,
            key: files.key,
        }
    }

    /// The certificate chain and key, read.
    pub fn read(&self) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
        Ok((read(&self.cert)?, read(&self.key)?))
    }

    /// Reads the files into tonic's server settings.
    pub fn server(&self) -> Result<ServerTlsConfig, TlsError> {
        let (cert, key) = self.read()?;
        Ok(ServerTlsConfig::new().identity(tonic::transport::Identity::from_pem(cert, key)))
    }
}

/// Client settings that trust the CA certificate in the file `ca` (PEM),
/// for a service that dials others' client ports over TLS.
pub fn client_trusting_file(ca: &Path) -> Result<ClientTlsConfig, TlsError> {
    let pem = read(ca)?;
    // rustls would refuse a file without a certificate only at the first
    // connection, as a handshake error; say what is wrong at once.
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(TlsError::NoCertificate(ca.to_owned()));
    }
    Ok(client_trusting(&pem, None))
}

/// Client settings for a client that has no certificate of its own and
/// checks the server against `ca` (PEM), e.g. the CLI's `--ca`.
pub fn client_trusting(ca: &[u8], server: Option<&str>) -> ClientTlsConfig {
    let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
    match server {
        Some(name) => config.domain_name(name),
        None => config,
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|cause| TlsError::Io {
        path: path.to_owned(),
        cause,
    })
}

/// Writes `data` to `path` whole, readable by the owner only when `secret`.
fn write(path: &Path, data: &str, secret: bool) -> Result<(), TlsError> {
    boxoffice_config::write_file(path, data.as_bytes(), secret).map_err(|cause| TlsError::Io {
        path: path.to_owned(),
        cause,
    })
}

fn cert_error(what: &str) -> impl FnOnce(rcgen::Error) -> TlsError + '_ {
    move |cause| TlsError::Cert {
        what: what.to_owned(),
        cause,
    }
}

/// Makes a new cluster CA in `dir` (`ca.pem`, `ca.key` 0600). Refuses to
/// replace one: every certificate it issued would stop working.
pub fn init_ca(dir: &Path) -> Result<(), TlsError> {
    let cert_path = dir.join(CA_CERT_FILE);
    if cert_path.exists() {
        return Err(TlsError::Exists(cert_path));
    }
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params
        .distinguished_name
        .push(DnType::CommonName, "Boxoffice cluster CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().map_err(cert_error("generating the CA key"))?;
    let cert = params
        .self_signed(&key)
        .map_err(cert_error("signing the CA"))?;
    write(&dir.join(CA_KEY_FILE), &key.serialize_pem(), true)?;
    write(&cert_path, &cert.pem(), false)
}

/// Issues a certificate for `identity` from the CA in `dir`, valid also
/// for the host names and IP addresses in `hosts` (what clients dial), and
/// writes it as `<stem>.pem` and `<stem>.key` (0600), replacing an older
/// one (rotation). Returns the files.
pub fn issue(dir: &Path, identity: Identity, hosts: &[String]) -> Result<TlsFiles, TlsError> {
    let ca_pem = String::from_utf8_lossy(&read(&dir.join(CA_CERT_FILE))?).into_owned();
    let ca_key_pem = String::from_utf8_lossy(&read(&dir.join(CA_KEY_FILE))?).into_owned();
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(cert_error("reading the CA key"))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(cert_error("reading the CA"))?;

    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, identity.dns_name());
    let mut names = vec![identity.dns_name()];
    if matches!(identity, Identity::Node(_)) {
        names.push(ANY_NODE.to_owned());
    }
    for name in names {
        let dns = name.try_into().map_err(cert_error("a name"))?;
        params.subject_alt_names.push(SanType::DnsName(dns));
    }
    for host in hosts {
        let lower = host.trim_end_matches('.').to_ascii_lowercase();
        if lower == DOMAIN || lower.ends_with(&format!(".{DOMAIN}")) || lower.contains('*') {
            return Err(TlsError::BadHost(host.clone()));
        }
        let san = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.clone().try_into().map_err(cert_error("a host name"))?),
        };
        if !params.subject_alt_names.contains(&san) {
            params.subject_alt_names.push(san);
        }
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate().map_err(cert_error("generating a key"))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(cert_error("signing the certificate"))?;
    let files = TlsFiles::in_dir(dir, identity);
    write(&files.key, &key.serialize_pem(), true)?;
    write(&files.cert, &cert.pem(), false)?;
    Ok(files)
}

/// Makes the CA in `dir` unless it exists, then each identity's
/// certificate that is missing (valid for `hosts`); what exists is kept.
/// `boxoffice up` and the test clusters call this.
pub fn ensure(dir: &Path, identities: &[Identity], hosts: &[String]) -> Result<(), TlsError> {
    if !dir.join(CA_CERT_FILE).exists() {
        init_ca(dir)?;
    }
    for identity in identities {
        let files = TlsFiles::in_dir(dir, *identity);
        if !files.cert.exists() || !files.key.exists() {
            issue(dir, *identity, hosts)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_is_checked_when_read_not_at_the_first_connection() {
        let dir = tempfile::tempdir().unwrap();
        init_ca(dir.path()).unwrap();
        client_trusting_file(&dir.path().join(CA_CERT_FILE)).expect("the CA");
        // The key is PEM too, but no certificate.
        let error = client_trusting_file(&dir.path().join(CA_KEY_FILE)).unwrap_err();
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
        let missing = dir.path().join("missing.pem");
        let error = client_trusting_file(&missing).unwrap_err().to_string();
        assert!(error.starts_with(&missing.display().to_string()), "{error}");
    }

    #[test]
    fn identities_parse_in_one_spelling_only() {
        assert_eq!(Identity::parse("node-3").unwrap(), Identity::Node(3));
        assert_eq!(
            Identity::parse("node-12.boxoffice").unwrap(),
            Identity::Node(12)
        );
        assert_eq!(Identity::parse("auth").unwrap(), Identity::Auth);
        for bad in [
            "node-",
            "node-03",
            "node-+3",
            "node-x",
            "root",
            "node-3.evil",
            "",
        ] {
            assert!(Identity::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn an_issued_certificate_names_its_identity_and_keys_are_private() {
        let dir = tempfile::tempdir().unwrap();
        init_ca(dir.path()).unwrap();
        let files = issue(dir.path(), Identity::Node(2), &["127.0.0.1".into()]).unwrap();
        let pem = std::fs::read_to_string(&files.cert).unwrap();
        let der = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap().1;
        assert_eq!(
            Identity::of_certificate(&der.contents),
            Some(Identity::Node(2))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for key in [&files.key, &dir.path().join(CA_KEY_FILE)] {
                let mode = std::fs::metadata(key).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", key.display());
            }
        }
        assert!(matches!(init_ca(dir.path()), Err(TlsError::Exists(_))));
        files.load().unwrap();
        // A leftover temporary file that others could read is replaced,
        // not written through.
        let leftover = dir.path().join("node-2.key.tmp");
        std::fs::write(&leftover, "stale").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&leftover, std::fs::Permissions::from_mode(0o644)).unwrap();
            let files = issue(dir.path(), Identity::Node(2), &[]).unwrap();
            let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_certificate_cannot_be_issued_to_pass_for_another_identity() {
        let dir = tempfile::tempdir().unwrap();
        init_ca(dir.path()).unwrap();
        for host in [
            "payment.boxoffice",
            "NODE-1.BOXOFFICE.",
            "*.boxoffice",
            "boxoffice",
            "*.example.com",
        ] {
            assert!(
                matches!(
                    issue(dir.path(), Identity::Gateway, &[host.into()]),
                    Err(TlsError::BadHost(_))
                ),
                "{host}"
            );
        }
        issue(
            dir.path(),
            Identity::Gateway,
            &["gateway.example.com".into()],
        )
        .unwrap();
    }
}
