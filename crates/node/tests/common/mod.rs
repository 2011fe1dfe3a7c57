//! An in-process single-node cluster with its auth service, for API tests.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::path::PathBuf;
use std::time::Duration;

use boxoffice_auth::config::{AdminCredentials, AuthConfig, LoginThrottle};
use boxoffice_auth::policy::PasswordPolicy;
use boxoffice_client::Client;
use boxoffice_node::NodeConfig;
use boxoffice_node::config::Member;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "a long operator passphrase";
/// Password of every user made by [`Node::user`].
pub const PASSWORD: &str = "correct horse battery staple";

/// A single-node cluster and an auth service, in process.
pub struct Node {
    pub addr: String,
    pub auth_addr: String,
    pub keys: PathBuf,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: TempDir,
}

impl Node {
    pub async fn start() -> Self {
        let dir = TempDir::new().unwrap();
        let keys = dir.path().join("keys");
        boxoffice_auth::keys::generate(&keys).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut config = NodeConfig {
            id: 1,
            listen: addr.clone(),
            data_dir: dir.path().join("node"),
            initial_members: vec![Member {
                id: 1,
                addr: addr.clone(),
            }],
            ..NodeConfig::default()
        };
        config.auth.keys_dir = keys.clone();
        config.booking.max_seats_per_user_per_show = 6;
        config.validate().unwrap();
        let (stop_node, node_stopped) = oneshot::channel();
        let node_task = tokio::spawn(async move {
            boxoffice_node::run(config, listener, async {
                let _ = node_stopped.await;
            })
            .await
            .unwrap();
        });

        let auth_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let auth_addr = auth_listener.local_addr().unwrap().to_string();
        let auth_config = AuthConfig {
            listen: auth_addr.clone(),
            nodes: vec![addr.clone()],
            keys_dir: keys.clone(),
            password_policy: PasswordPolicy::Strict,
            bootstrap_admin: Some(AdminCredentials {
                email: ADMIN_EMAIL.into(),
                password: ADMIN_PASSWORD.into(),
            }),
            login_throttle: LoginThrottle {
                free_failures: 2,
                max_failures: 4,
                window_secs: 600,
            },
            ..AuthConfig::default()
        };
        auth_config.validate().unwrap();
        let (stop_auth, auth_stopped) = oneshot::channel();
        let auth_task = tokio::spawn(async move {
            boxoffice_auth::service::run(auth_config, auth_listener, async {
                let _ = auth_stopped.await;
            })
            .await
            .unwrap();
        });
        let node = Self {
            addr,
            auth_addr,
            keys,
            stops: vec![stop_auth, stop_node],
            tasks: vec![auth_task, node_task],
            _dir: dir,
        };
        // Ready once the bootstrapped administrator can log in (which needs
        // a leader and a linearizable read).
        let auth = node.auth();
        for _ in 0..400 {
            if auth.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.is_ok() {
                return node;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("single-node cluster or auth service did not come up");
    }

    /// A client of the auth service.
    pub fn auth(&self) -> Client {
        Client::new(&[self.auth_addr.as_str()]).unwrap()
    }

    /// A booking client without a session.
    pub fn anonymous(&self) -> Client {
        Client::new(&[self.addr.as_str()]).unwrap()
    }

    /// A booking client logged in as `name` (registered on first use).
    pub async fn user(&self, name: &str) -> Client {
        let email = format!("{name}@example.com");
        if let Err(e) = self.auth().register(&email, PASSWORD).await {
            assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
        }
        let session = self.auth().login(&email, PASSWORD).await.unwrap();
        self.anonymous().with_token(session.access_token)
    }

    /// [`Node::user`] for an owned name (for futures that outlive a borrow).
    pub async fn user_owned(&self, name: String) -> Client {
        self.user(&name).await
    }

    /// A booking client logged in as the administrator.
    pub async fn admin(&self) -> Client {
        let session = self
            .auth()
            .login(ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .unwrap();
        self.anonymous().with_token(session.access_token)
    }

    pub async fn stop(mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for task in self.tasks.drain(..) {
            task.await.unwrap();
        }
    }
}

/// Asserts `result` failed with `code` and a message mentioning `needle`.
pub fn expect_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, needle: &str) {
    let status = result.expect_err("expected an error");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(needle),
        "{:?} should mention {needle:?}",
        status.message()
    );
}
