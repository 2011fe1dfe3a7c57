//! The auth service: `boxoffice.v1.AuthService` over gRPC.
//!
//! Stateless: accounts live in the replicated state of the booking cluster,
//! reached through the nodes' internal `AccountService` with a short-lived
//! service token. This process only hashes passwords, signs tokens and
//! throttles logins, so any number of copies can run and losing one loses
//! nothing.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use boxoffice_client::Client;
use boxoffice_core::{Caller, Command, Effect, Outcome, Request, RequestId, UserId};
use boxoffice_proto::convert::rejection_status;
use boxoffice_proto::internal::v1::account_service_client::AccountServiceClient;
use boxoffice_proto::internal::v1::{
    Account, ApplyRequest, ListAccountsRequest, LookupUserRequest, lookup_user_request,
};
use boxoffice_proto::legacy::auth::auth_service_server::AuthServiceServer as LegacyAuthServiceServer;
use boxoffice_proto::v1;
use boxoffice_proto::v1::auth_service_server::{AuthService, AuthServiceServer};
use tonic::server::NamedService;
use tonic::{Request as GrpcRequest, Response, Status};
use tracing::{info, warn};

use crate::authenticator::Authenticator;
use crate::config::AuthConfig;
use crate::keys::{PublicKeys, SigningKeys};
use crate::password::Passwords;
use crate::policy::PasswordPolicy;
use crate::throttle::{
    ACCOUNT_LIMITS, ADDRESS_LIMITS, Limits, REGISTRATION_LIMITS, Throttle, Verdict,
};
use crate::token::{TokenIssuer, TokenKind, TokenVerifier};

/// Largest request accepted (emails and passwords are short).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The auth service failed to start or to serve.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The reflection service could not be built.
    #[error("reflection: {0}")]
    Reflection(#[from] boxoffice_proto::ReflectionError),
    /// Keys could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    /// A node address is malformed.
    #[error("{0}")]
    Endpoints(String),
    /// gRPC serving failed.
    #[error("serving gRPC: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// This service's certificate, key or the CA could not be read.
    #[error("TLS: {0}")]
    Tls(#[from] boxoffice_tls::TlsError),
}

fn hash_status(e: crate::password::HashError) -> Status {
    match e {
        crate::password::HashError::Busy => Status::resource_exhausted(e.to_string()),
        crate::password::HashError::Failed(_) => Status::internal(e.to_string()),
    }
}

fn revoked() -> Status {
    Status::unauthenticated("session is no longer valid: log in again")
}

fn user_message(account: &Account) -> v1::User {
    v1::User {
        user_id: account.user_id.clone(),
        email: account.email.clone(),
        admin: account.admin,
        created_at_ms: account.created_at_ms,
    }
}

/// The gRPC service.
pub struct AuthApi {
    issuer: TokenIssuer,
    authenticator: Authenticator,
    nodes: Client,
    passwords: Passwords,
    policy: PasswordPolicy,
    by_account: Throttle,
    by_address: Throttle,
    registrations: Throttle,
}

/// Which account to look up.
enum Key<'a> {
    Email(&'a str),
    Id(&'a str),
}

impl AuthApi {
    /// The service for `config`, creating a signing key if there is none.
    pub fn new(config: &AuthConfig) -> Result<Self, AuthError> {
        let signing = SigningKeys::load_or_create(&config.keys_dir)?;
        let issuer = TokenIssuer::new(
            signing,
            config.issuer.clone(),
            Duration::from_secs(config.access_ttl_secs),
            Duration::from_secs(config.refresh_ttl_secs),
        );
        let authenticator = Authenticator::new(TokenVerifier::new(
            PublicKeys::load(&config.keys_dir)?,
            config.issuer.clone(),
        ));
        // The account API is on the nodes' peer ports: this service shows
        // its certificate there and accepts any node of the cluster's CA.
        let tls = boxoffice_tls::TlsFiles::in_dir(&config.certs_dir, boxoffice_tls::Identity::Auth)
            .load()?;
        let nodes = Client::with_tls(&config.nodes, Some(tls.client_for(boxoffice_tls::ANY_NODE)))
            .map_err(|e| AuthError::Endpoints(e.to_string()))?;
        Ok(Self {
            issuer,
            authenticator,
            nodes,
            passwords: Passwords::new(config.hash_concurrency),
            policy: config.password_policy,
            by_account: Throttle::new(Limits {
                free_failures: config.login_throttle.free_failures,
                max_failures: config.login_throttle.max_failures,
                window: Duration::from_secs(config.login_throttle.window_secs),
                ..ACCOUNT_LIMITS
            }),
            by_address: Throttle::new(Limits {
                free_failures: config.address_throttle.free_failures,
                max_failures: config.address_throttle.max_failures,
                window: Duration::from_secs(config.address_throttle.window_secs),
                ..ADDRESS_LIMITS
            }),
            registrations: Throttle::new(REGISTRATION_LIMITS),
        })
    }

    /// `req` with a fresh service token.
    fn service_request<T>(&self, msg: T) -> Result<GrpcRequest<T>, Status> {
        let token = self
            .issuer
            .service_token()
            .map_err(|e| Status::internal(e.to_string()))?;
        let mut req = self.nodes.request(msg);
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("unprintable token"))?;
        req.metadata_mut().insert("authorization", value);
        Ok(req)
    }

    /// Replicates an account command through any node.
    async fn apply(&self, caller: Option<Caller>, command: Command) -> Result<Effect, Status> {
        let request = Request {
            request_id: RequestId(uuid::Uuid::new_v4().to_string()),
            caller,
            command,
        };
        let encoded =
            postcard::to_allocvec(&request).map_err(|e| Status::internal(e.to_string()))?;
        let reply = self
            .nodes
            .call(|channel| {
                let req = self.service_request(ApplyRequest {
                    request: encoded.clone(),
                });
                async move {
                    AccountServiceClient::new(channel)
                        .apply(req?)
                        .await
                        .map(|r| r.into_inner().outcome)
                }
            })
            .await?;
        let outcome: Outcome = postcard::from_bytes(&reply)
            .map_err(|e| Status::internal(format!("undecodable outcome: {e}")))?;
        outcome.map_err(|r| rejection_status(&r))
    }

    /// One account with its hash, read linearizably.
    async fn lookup(&self, key: Key<'_>) -> Result<Option<Account>, Status> {
        let key = match key {
            Key::Email(e) => lookup_user_request::Key::Email(e.to_owned()),
            Key::Id(id) => lookup_user_request::Key::UserId(id.to_owned()),
        };
        self.nodes
            .call(|channel| {
                let req = self.service_request(LookupUserRequest {
                    key: Some(key.clone()),
                });
                async move {
                    AccountServiceClient::new(channel)
                        .lookup_user(req?)
                        .await
                        .map(|r| r.into_inner().account)
                }
            })
            .await
    }

    /// The caller's account, if their token is still valid.
    async fn current_account(&self, caller: &Caller) -> Result<Account, Status> {
        match self.lookup(Key::Id(&caller.user.0)).await? {
            Some(account) if account.token_version == caller.token_version => Ok(account),
            _ => Err(revoked()),
        }
    }

    /// A new session for `account`.
    fn session(&self, account: &Account) -> Result<v1::Session, Status> {
        let pair = self
            .issuer
            .issue(&account.user_id, account.token_version, account.admin)
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(v1::Session {
            access_token: pair.access,
            refresh_token: pair.refresh,
            access_expires_at_ms: i64::try_from(pair.access_expires_at)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000),
            user: Some(user_message(account)),
        })
    }

    /// Starts a login attempt for both keys: waits, or refuses.
    async fn throttle(&self, account: &str, address: &str) -> Result<(), Status> {
        let refused = |what: &str, retry: Duration| {
            Status::resource_exhausted(format!(
                "too many failed logins for {what}; try again in {} s",
                retry.as_secs().max(1)
            ))
        };
        let account_wait = match self.by_account.begin(account) {
            Verdict::Refuse(retry) => return Err(refused("this account", retry)),
            Verdict::Proceed(wait) => wait,
        };
        let address_wait = match self.by_address.begin(address) {
            Verdict::Refuse(retry) => {
                self.by_account.forgive(account);
                return Err(refused("your address", retry));
            }
            Verdict::Proceed(wait) => wait,
        };
        let wait = account_wait.max(address_wait);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Checks `password` for `email`, with throttling; the account on success.
    async fn authenticate(
        &self,
        email: &str,
        password: &str,
        address: &str,
    ) -> Result<Account, Status> {
        let email = boxoffice_core::normalize_email(email).map_err(|r| rejection_status(&r))?;
        self.throttle(&email, address).await?;
        let account = self.lookup(Key::Email(&email)).await?;
        let hash = account.as_ref().map(|a| a.password_hash.clone());
        let ok = self
            .passwords
            .verify(password.to_owned(), hash)
            .await
            .map_err(hash_status)?;
        match account {
            Some(account) if ok => {
                self.by_account.succeeded(&email);
                self.by_address.forgive(address);
                Ok(account)
            }
            // The attempt was counted as a failure when it began.
            _ => Err(Status::unauthenticated("wrong email or password")),
        }
    }

    /// Creates the configured first administrator unless one exists.
    pub async fn bootstrap_admin(&self, email: &str, password: &str) -> Result<bool, Status> {
        let password_hash = self
            .passwords
            .hash(password.to_owned())
            .await
            .map_err(hash_status)?;
        match self
            .apply(
                None,
                Command::BootstrapAdmin {
                    email: email.to_owned(),
                    password_hash,
                },
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(s)
                if s.code() == tonic::Code::FailedPrecondition
                    || s.code() == tonic::Code::AlreadyExists =>
            {
                Ok(false)
            }
            Err(s) => Err(s),
        }
    }
}

/// The client address a request is throttled under: the address the
/// gateway forwards when the caller proved with its certificate that it is
/// the gateway (on the gateway's own mutual-TLS listener), the connection's
/// otherwise; anyone else's forwarded address is ignored.
fn peer(req: &GrpcRequest<impl Sized>) -> String {
    if boxoffice_tls::Identity::of_request(req) == Some(boxoffice_tls::Identity::Gateway)
        && let Some(ip) = req
            .metadata()
            .get(boxoffice_proto::convert::CLIENT_ADDR)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<std::net::IpAddr>().ok())
    {
        return crate::throttle::address_key(ip);
    }
    req.remote_addr().map_or_else(
        || "unknown".to_owned(),
        |a: SocketAddr| crate::throttle::address_key(a.ip()),
    )
}

fn summary_account(effect: Effect) -> Result<Account, Status> {
    match effect {
        Effect::User(u) => Ok(Account {
            user_id: u.id.0,
            email: u.email,
            password_hash: String::new(),
            admin: u.admin,
            token_version: u.token_version,
            created_at_ms: u.created_at.0,
        }),
        other => Err(Status::internal(format!("unexpected effect {other:?}"))),
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn register(
        &self,
        req: GrpcRequest<v1::RegisterRequest>,
    ) -> Result<Response<v1::RegisterResponse>, Status> {
        match self.registrations.begin(&peer(&req)) {
            Verdict::Refuse(retry) => {
                return Err(Status::resource_exhausted(format!(
                    "too many registrations from your address; try again in {} s",
                    retry.as_secs().max(1)
                )));
            }
            Verdict::Proceed(wait) if !wait.is_zero() => tokio::time::sleep(wait).await,
            Verdict::Proceed(_) => {}
        }
        let r = req.into_inner();
        let email = boxoffice_core::normalize_email(&r.email).map_err(|r| rejection_status(&r))?;
        self.policy
            .check(&r.password, &email)
            .map_err(Status::invalid_argument)?;
        let password_hash = self.passwords.hash(r.password).await.map_err(hash_status)?;
        let account = summary_account(
            self.apply(
                None,
                Command::RegisterUser {
                    email,
                    password_hash,
                    admin: false,
                },
            )
            .await?,
        )?;
        info!(user = %account.user_id, "registered");
        Ok(Response::new(v1::RegisterResponse {
            user: Some(user_message(&account)),
        }))
    }

    async fn login(
        &self,
        req: GrpcRequest<v1::LoginRequest>,
    ) -> Result<Response<v1::LoginResponse>, Status> {
        let address = peer(&req);
        let r = req.into_inner();
        let account = self.authenticate(&r.email, &r.password, &address).await?;
        Ok(Response::new(v1::LoginResponse {
            session: Some(self.session(&account)?),
        }))
    }

    async fn refresh(
        &self,
        req: GrpcRequest<v1::RefreshRequest>,
    ) -> Result<Response<v1::RefreshResponse>, Status> {
        let claims = self
            .authenticator
            .verifier()
            .verify(&req.into_inner().refresh_token, TokenKind::Refresh)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        let caller = Caller {
            user: UserId(claims.sub),
            token_version: claims.ver,
        };
        let account = self.current_account(&caller).await?;
        Ok(Response::new(v1::RefreshResponse {
            session: Some(self.session(&account)?),
        }))
    }

    async fn logout(
        &self,
        req: GrpcRequest<v1::LogoutRequest>,
    ) -> Result<Response<v1::LogoutResponse>, Status> {
        let caller = self.authenticator.caller(&req)?;
        let user = caller.user.clone();
        self.apply(Some(caller), Command::RevokeSessions { user })
            .await?;
        Ok(Response::new(v1::LogoutResponse {}))
    }

    async fn who_am_i(
        &self,
        req: GrpcRequest<v1::WhoAmIRequest>,
    ) -> Result<Response<v1::WhoAmIResponse>, Status> {
        let caller = self.authenticator.caller(&req)?;
        let account = self.current_account(&caller).await?;
        Ok(Response::new(v1::WhoAmIResponse {
            user: Some(user_message(&account)),
        }))
    }

    async fn change_password(
        &self,
        req: GrpcRequest<v1::ChangePasswordRequest>,
    ) -> Result<Response<v1::ChangePasswordResponse>, Status> {
        let caller = self.authenticator.caller(&req)?;
        let address = peer(&req);
        let r = req.into_inner();
        let account = self.current_account(&caller).await?;
        self.authenticate(&account.email, &r.old_password, &address)
            .await?;
        self.policy
            .check(&r.new_password, &account.email)
            .map_err(Status::invalid_argument)?;
        let password_hash = self
            .passwords
            .hash(r.new_password)
            .await
            .map_err(hash_status)?;
        let user = caller.user.clone();
        let updated = summary_account(
            self.apply(
                Some(caller),
                Command::ChangePassword {
                    user,
                    password_hash,
                },
            )
            .await?,
        )?;
        Ok(Response::new(v1::ChangePasswordResponse {
            session: Some(self.session(&updated)?),
        }))
    }

    async fn list_users(
        &self,
        req: GrpcRequest<v1::ListUsersRequest>,
    ) -> Result<Response<v1::ListUsersResponse>, Status> {
        let caller = self.authenticator.caller(&req)?;
        let account = self.current_account(&caller).await?;
        if !account.admin {
            return Err(Status::permission_denied(
                "listing users needs the administrator role",
            ));
        }
        let accounts = self
            .nodes
            .call(|channel| {
                let req = self.service_request(ListAccountsRequest {});
                async move {
                    AccountServiceClient::new(channel)
                        .list_accounts(req?)
                        .await
                        .map(|r| r.into_inner().accounts)
                }
            })
            .await?;
        Ok(Response::new(v1::ListUsersResponse {
            users: accounts.iter().map(user_message).collect(),
        }))
    }

    async fn set_admin(
        &self,
        req: GrpcRequest<v1::SetAdminRequest>,
    ) -> Result<Response<v1::SetAdminResponse>, Status> {
        let caller = self.authenticator.caller(&req)?;
        let r = req.into_inner();
        boxoffice_core::check_id("user_id", &r.user_id).map_err(|r| rejection_status(&r))?;
        let account = summary_account(
            self.apply(
                Some(caller),
                Command::SetAdmin {
                    user: UserId(r.user_id),
                    admin: r.admin,
                },
            )
            .await?,
        )?;
        Ok(Response::new(v1::SetAdminResponse {
            user: Some(user_message(&account)),
        }))
    }
}

/// Where the auth service listens.
pub struct Listeners {
    /// Its public port (`listen`): anyone, plaintext or `client_tls`.
    pub public: tokio::net::TcpListener,
    /// The gateway's port (`gateway_listen`, mutual TLS), if configured.
    pub gateway: Option<tokio::net::TcpListener>,
}

impl Listeners {
    /// Binds the addresses `config` names.
    pub async fn bind(config: &AuthConfig) -> std::io::Result<Self> {
        Ok(Self {
            public: boxoffice_server::bind(&config.listen).await?,
            gateway: match &config.gateway_listen {
                Some(addr) => Some(boxoffice_server::bind(addr).await?),
                None => None,
            },
        })
    }
}

impl From<tokio::net::TcpListener> for Listeners {
    fn from(public: tokio::net::TcpListener) -> Self {
        Self {
            public,
            gateway: None,
        }
    }
}

/// `boxoffice auth`: runs the service from the config file at `path`
/// (defaults and `BOXOFFICE_AUTH__*` overrides only if absent) until the
/// process is asked to stop.
pub async fn serve(path: Option<&std::path::Path>) -> anyhow::Result<()> {
    boxoffice_server::process(|shutdown| async move {
        let config = AuthConfig::load(path)?;
        let listeners = Listeners::bind(&config).await?;
        run(config, listeners, shutdown).await?;
        Ok(())
    })
    .await
}

/// Runs the auth service on `listeners` until `shutdown` completes. Creates
/// the configured first administrator once the cluster answers.
pub async fn run(
    config: AuthConfig,
    listeners: impl Into<Listeners>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AuthError> {
    let listeners = listeners.into();
    let api = Arc::new(AuthApi::new(&config)?);
    if let Some(admin) = config.bootstrap_admin.clone() {
        let api = api.clone();
        tokio::spawn(async move {
            for attempt in 1..=60 {
                match api.bootstrap_admin(&admin.email, &admin.password).await {
                    Ok(true) => {
                        return info!(email = %admin.email, "created the first administrator");
                    }
                    Ok(false) => {
                        return info!("an administrator already exists; bootstrap skipped");
                    }
                    Err(e) if attempt == 60 => {
                        return warn!(error = %e, "could not create the first administrator");
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        });
    }
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<AuthServiceServer<AuthApi>>().await;
    info!(
        listen = %config.listen,
        gateway_listen = ?config.gateway_listen,
        client_tls = config.client_tls.is_some(),
        policy = ?config.password_policy,
        "auth service serving"
    );
    let client_tls = match &config.client_tls {
        Some(client_tls) => Some(client_tls.server()?),
        None => None,
    };
    let mut public = boxoffice_server::grpc(client_tls)?;
    let (stop_gateway, gateway_stopped) = tokio::sync::oneshot::channel::<()>();
    let gateway = match listeners.gateway {
        Some(listener) => {
            let tls =
                boxoffice_tls::TlsFiles::in_dir(&config.certs_dir, boxoffice_tls::Identity::Auth)
                    .load()?;
            let server = boxoffice_server::grpc(Some(tls.mutual_server()))?
                .add_service(health_service.clone())
                .add_service(boxoffice_proto::reflection(&[
                    <AuthServiceServer<AuthApi> as NamedService>::NAME,
                ])?)
                .add_service(
                    AuthServiceServer::from_arc(api.clone())
                        .max_decoding_message_size(MAX_REQUEST_BYTES),
                )
                .serve_with_incoming_shutdown(boxoffice_server::incoming(listener), async move {
                    let _ = gateway_stopped.await;
                });
            Some(tokio::spawn(server))
        }
        None => None,
    };
    let served = public
        .add_service(health_service)
        .add_service(boxoffice_proto::reflection(&[
            <AuthServiceServer<AuthApi> as NamedService>::NAME,
            <LegacyAuthServiceServer<crate::legacy::LegacyAuth> as NamedService>::NAME,
        ])?)
        .add_service(
            AuthServiceServer::from_arc(api.clone()).max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            LegacyAuthServiceServer::new(crate::legacy::LegacyAuth::new(api))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .serve_with_incoming_shutdown(boxoffice_server::incoming(listeners.public), shutdown)
        .await;
    let _ = stop_gateway.send(());
    if let Some(gateway) = gateway
        && let Ok(result) = gateway.await
    {
        result?;
    }
    served?;
    Ok(())
}
