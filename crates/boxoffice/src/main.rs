//! `boxoffice`: one binary for the whole system.
//!
//! Thin by design: parse flags, set up tracing, call a library. See
//! `boxoffice --help`.
//!
//! - `node` runs one booking node ([`boxoffice_node::run`]);
//! - `up` ([`up`]) runs the local cluster as child processes;
//! - `cluster`, `show`, `book`, `bookings`, `cancel` ([`commands`]) are
//!   client commands over `boxoffice-client`, with failover;
//! - `bench` ([`mod@bench`]) measures booking throughput and latency.
//!
//! Errors reach the user as one `error: …` line with its causes and a
//! non-zero exit code, never a panic or a backtrace.

mod bench;
mod commands;
mod up;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// Default addresses of the local cluster, used by client commands.
const DEFAULT_ENDPOINTS: &str = "127.0.0.1:50051,127.0.0.1:50052,127.0.0.1:50053";

/// Boxoffice: ticket booking replicated with Raft.
#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one booking node from a TOML config (with BOXOFFICE_* overrides).
    Node {
        /// The node's config file; defaults and environment only if absent.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Starts a local cluster (3 booking nodes on 127.0.0.1:50051-50053,
    /// data under ./data) and stops it cleanly on Ctrl-C.
    Up(up::UpArgs),
    /// Cluster status and membership.
    Cluster {
        #[command(flatten)]
        target: commands::Target,
        #[command(subcommand)]
        command: commands::ClusterCommand,
    },
    /// Shows: list, inspect, create, update.
    Show {
        #[command(flatten)]
        target: commands::Target,
        #[command(subcommand)]
        command: commands::ShowCommand,
    },
    /// Books seats of a show for a user.
    Book(commands::BookArgs),
    /// Lists a user's bookings.
    Bookings(commands::BookingsArgs),
    /// Cancels a booking.
    Cancel(commands::CancelArgs),
    /// Register, log in, log out.
    Account {
        #[command(flatten)]
        target: commands::AuthTarget,
        #[command(subcommand)]
        command: commands::AccountCommand,
    },
    /// Runs the auth service from a TOML config (with BOXOFFICE_AUTH__* overrides).
    Auth {
        /// The service's config file; defaults and environment only if absent.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Runs the payment service (a mock card provider) from a TOML config
    /// (with BOXOFFICE_PAYMENT__* overrides).
    Payment {
        /// The service's config file; defaults and environment only if absent.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Administration that needs the signing keys.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Measures booking throughput and latency against a running cluster.
    Bench(bench::BenchArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Adds a new signing key pair; new tokens are signed with it, tokens
    /// signed with older keys keep working until those files are removed
    /// (safe once the refresh token lifetime has passed). Copy the new
    /// `.pub.pem` to every node's `auth.keys_dir` and restart the nodes one
    /// at a time (they read keys at start), then restart the auth service.
    Rotate {
        /// The keys directory.
        #[arg(long, default_value = "./data/keys")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Creates the first administrator (refused once any administrator
    /// exists). Run where the auth service's keys are.
    Bootstrap {
        /// The auth service's config (for its keys directory and nodes).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Administrator email.
        #[arg(long)]
        email: String,
        /// Administrator password (strict policy).
        #[arg(long, env = "BOXOFFICE_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

fn init_tracing() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,openraft=warn"));
    // Colours only for a person at a terminal; logs piped to files stay plain.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole cause chain on one line, no backtrace:
            // this is for people, not for debugging.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Node { config } => {
            init_tracing();
            // Handle SIGTERM from here on: a signal during start-up (log
            // replay can take a while) then stops the node cleanly once it
            // is up, instead of killing it midway.
            let shutdown = up::terminated();
            let config = boxoffice_node::NodeConfig::load(config.as_deref())?;
            for name in boxoffice_node::config::ignored_env_vars() {
                tracing::warn!(variable = %name, "ignoring an environment variable that is not a node setting");
            }
            let listener = TcpListener::bind(&config.listen)
                .await
                .with_context(|| format!("binding {}", config.listen))?;
            boxoffice_node::run(config, listener, shutdown).await?;
            Ok(())
        }
        Command::Up(args) => {
            init_tracing();
            up::run(args).await
        }
        Command::Cluster { target, command } => commands::cluster(&target, command).await,
        Command::Show { target, command } => commands::show(&target, command).await,
        Command::Book(args) => commands::book(args).await,
        Command::Bookings(args) => commands::bookings(args).await,
        Command::Cancel(args) => commands::cancel(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Account { target, command } => commands::account(&target, command).await,
        Command::Auth { config } => {
            init_tracing();
            let shutdown = up::terminated();
            let config = boxoffice_auth::config::AuthConfig::load(config.as_deref())?;
            let listener = TcpListener::bind(&config.listen)
                .await
                .with_context(|| format!("binding {}", config.listen))?;
            boxoffice_auth::service::run(config, listener, shutdown).await?;
            Ok(())
        }
        Command::Payment { config } => {
            init_tracing();
            let shutdown = up::terminated();
            let config = boxoffice_payment::config::PaymentConfig::load(config.as_deref())?;
            let listener = TcpListener::bind(&config.listen)
                .await
                .with_context(|| format!("binding {}", config.listen))?;
            boxoffice_payment::service::run(config, listener, shutdown).await?;
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate { dir },
        } => {
            let kid = boxoffice_auth::keys::generate(&dir)?;
            println!("new signing key {kid} in {}", dir.display());
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Bootstrap {
                    config,
                    email,
                    password,
                },
        } => {
            let mut config = boxoffice_auth::config::AuthConfig::load(config.as_deref())?;
            config.bootstrap_admin = Some(boxoffice_auth::config::AdminCredentials {
                email: email.clone(),
                password,
            });
            config.validate()?;
            let api = boxoffice_auth::service::AuthApi::new(&config)?;
            let admin = config
                .bootstrap_admin
                .as_ref()
                .map(|a| a.password.clone())
                .unwrap_or_default();
            if api
                .bootstrap_admin(&email, &admin)
                .await
                .map_err(|s| anyhow::anyhow!("{}", s.message()))?
            {
                println!("created administrator {email}");
                Ok(())
            } else {
                anyhow::bail!(
                    "an administrator already exists (or {email} is taken); nothing changed"
                )
            }
        }
    }
}
