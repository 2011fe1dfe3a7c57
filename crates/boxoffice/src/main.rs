//! `boxoffice`: one binary for the whole system.
//!
//! Thin by design: parse flags, set up tracing, call a library. See
//! `boxoffice --help`.
//!
//! - the end-user commands (`shell`, or no command at all, `login`,
//!   `shows`, `book`, `bookings`, `admin shows`, `cluster`, `chatbot ask`,
//!   …) are [`boxoffice_cli`]'s: its clap types are composed here and
//!   [`boxoffice_cli::run`] runs them;
//! - `node` runs one booking node ([`boxoffice_node::process::serve`]); `auth`,
//!   `payment`, `chatbot`, `gateway` run the services; `certs`, `keys` and
//!   `admin bootstrap` ([`boxoffice_auth::bootstrap`]) prepare a cluster;
//! - `up` ([`up`]) runs the local cluster as child processes;
//! - `backup` and `restore` ([`backup`]) copy a running cluster and seed a
//!   new one;
//! - `bench` ([`boxoffice_testkit::bench`]) measures booking throughput and latency;
//!   `torture` ([`boxoffice_testkit::torture`]) injects faults and checks every booking.
//!
//! Errors reach the user as one `error: …` line with its causes and a
//! non-zero exit code, never a panic or a backtrace.

mod backup;
mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Boxoffice: ticket booking replicated with Raft.
///
/// With no command, opens the interactive shell.
#[derive(Parser)]
#[command(
    version,
    about,
    propagate_version = true,
    after_help = boxoffice_cli::output::EXIT_CODES_HELP
)]
struct Cli {
    #[command(flatten)]
    global: boxoffice_cli::Global,
    /// How the services (`node`, `auth`, `payment`, `chatbot`, `gateway`,
    /// `up`) log to stderr: `text` for people, `json` (one object a line)
    /// for log collectors. `RUST_LOG` chooses what is logged
    /// (docs/operations.md, "Logs").
    // No BOXOFFICE_* variable: the services read those as config overrides.
    #[arg(long, global = true, value_enum, default_value_t)]
    log_format: boxoffice_server::LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The end-user commands: shell, register, login, … cluster.
    #[command(flatten)]
    User(boxoffice_cli::Command),
    /// Administration: shows, users, the first administrator.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Runs one booking node from a TOML config (with BOXOFFICE_* overrides).
    Node {
        /// The node's config file; defaults and environment only if absent.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Starts a local cluster (3 booking nodes on 127.0.0.1:50051-50053,
    /// auth, payment; data under ./data) and stops it cleanly on Ctrl-C.
    Up(up::UpArgs),
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
    /// The booking assistant: runs the service (gRPC, default
    /// 127.0.0.1:9000) from a TOML config (with BOXOFFICE_CHATBOT__*
    /// overrides); `eval` scores its intent model; `ask` asks it once.
    Chatbot {
        /// The service's config file; defaults and environment only if absent.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: Option<ChatbotCommand>,
    },
    /// Runs the HTTP gateway (JSON API and live seat maps, default
    /// 127.0.0.1:8080) from a TOML config (with BOXOFFICE_GATEWAY__*
    /// overrides).
    Gateway {
        /// The service's config file; defaults and environment only if absent.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The cluster's certificates: a CA, then one certificate per node and
    /// service (mutual TLS between them).
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Takes a consistent backup of a running cluster: the replicated
    /// state at one index (with its digest) and the payment ledger, over
    /// the peer ports with the operator's certificate, while it sells.
    Backup(backup::BackupArgs),
    /// Seeds a new cluster's data directories from a backup (the same
    /// flags as `up`, which then starts it).
    Restore(backup::RestoreArgs),
    /// Measures booking throughput and latency against a running cluster.
    Bench(boxoffice_testkit::bench::BenchArgs),
    /// Fault-injection run: starts its own cluster behind per-link proxies,
    /// drives clients while killing, pausing and partitioning nodes and
    /// the payment service, then checks every booking (docs/testing.md).
    Torture(boxoffice_testkit::torture::TortureArgs),
}

#[derive(Subcommand)]
enum ChatbotCommand {
    /// Trains the intent model on the shipped examples minus a held-out
    /// fifth, and prints its accuracy on that fifth, a confusion table and
    /// 5-fold cross-validation.
    Eval,
    /// `ask`.
    #[command(flatten)]
    User(boxoffice_cli::ChatbotCommand),
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
    /// Gives a booking node a new ticket signing key (`ticket.key` in its
    /// data directory). Restart the node: it registers the new key and
    /// signs new codes with it; codes signed with the old key keep
    /// admitting until `boxoffice admin ticket-keys retire` retires it
    /// (retire it at once if it leaked; the node then makes a new key
    /// itself, without this command or a restart). Run it as the user the
    /// node runs as: the key file is readable by its owner only.
    RotateTicket {
        /// The node's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The node's id (it names the key).
        #[arg(long)]
        node: u64,
    },
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Makes a new cluster CA (`ca.pem`, `ca.key` 0600) in the directory;
    /// refused if one is there.
    Init {
        /// The certificates directory.
        #[arg(long, default_value = "./data/certs")]
        dir: PathBuf,
    },
    /// Issues (or, to rotate, reissues) the certificate of one node or
    /// service: `<name>.pem` and `<name>.key` (0600). Copy it, its key and
    /// `ca.pem` to that process's `certs_dir` and restart it.
    Issue {
        /// Who: node-ID (node-3, say), auth, payment, gateway or operator.
        name: String,
        /// Host names and IP addresses clients dial it at (repeatable).
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// The certificates directory (with the CA).
        #[arg(long, default_value = "./data/certs")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// `shows`, `users`.
    #[command(flatten)]
    User(boxoffice_cli::AdminCommand),
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

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.global.json;
    let result = run(cli).await;
    if let Err(e) = &result
        && stopped_for_now(e)
    {
        boxoffice_cli::output::print_error(e, json);
        return ExitCode::from(boxoffice_cli::output::exit::STOPPED_FOR_NOW);
    }
    boxoffice_cli::report(result, json)
}

/// Whether a service stopped for a cause that may pass, to be started
/// again later however often: its payment ledger stopped writing, or
/// could not open on a full disk.
fn stopped_for_now(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| e.downcast_ref::<boxoffice_payment::service::PaymentError>())
        .any(boxoffice_payment::service::PaymentError::stopped_for_now)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    boxoffice_server::set_log_format(cli.log_format);
    let global = cli.global;
    let serving = matches!(
        cli.command,
        Some(
            Command::Node { .. }
                | Command::Up(_)
                | Command::Auth { .. }
                | Command::Payment { .. }
                | Command::Chatbot { command: None, .. }
                // These talk to processes they kill: a write to a dead
                // peer's socket must be an error, not the end of the run.
                | Command::Bench(_)
                | Command::Torture(_)
        )
    );
    if !serving {
        boxoffice_cli::exit_on_closed_pipe();
    }
    let Some(command) = cli.command else {
        return boxoffice_cli::run(boxoffice_cli::Command::Shell, &global).await;
    };
    match command {
        Command::User(command) => boxoffice_cli::run(command, &global).await,
        Command::Admin {
            command: AdminCommand::User(command),
        } => boxoffice_cli::run(command, &global).await,
        Command::Node { config } => boxoffice_node::process::serve(config.as_deref()).await,
        Command::Up(args) => {
            boxoffice_server::init_tracing();
            up::run(args).await
        }
        Command::Backup(args) => backup::backup(args).await,
        Command::Restore(args) => backup::restore(args).await,
        Command::Bench(args) => boxoffice_testkit::bench::run(args, &global).await,
        Command::Torture(args) => boxoffice_testkit::torture::run(args).await,
        Command::Auth { config } => boxoffice_auth::service::serve(config.as_deref()).await,
        Command::Payment { config } => boxoffice_payment::service::serve(config.as_deref()).await,
        Command::Chatbot {
            command: Some(ChatbotCommand::Eval),
            ..
        } => {
            let examples = boxoffice_chatbot::intent::dataset()?;
            let evaluation = boxoffice_chatbot::intent::evaluate(&examples)?;
            print!("{evaluation}");
            let cv = boxoffice_chatbot::intent::cross_validate(&examples, 5)?;
            println!("5-fold cross-validation accuracy: {:.1}%", cv * 100.0);
            Ok(())
        }
        Command::Chatbot {
            command: Some(ChatbotCommand::User(command)),
            ..
        } => boxoffice_cli::run(command, &global).await,
        Command::Chatbot {
            config,
            command: None,
        } => boxoffice_chatbot::service::serve(config.as_deref()).await,
        Command::Gateway { config } => boxoffice_gateway::serve(config.as_deref()).await,
        Command::Certs {
            command: CertsCommand::Init { dir },
        } => {
            boxoffice_tls::init_ca(&dir)?;
            println!("new cluster CA in {}", dir.display());
            Ok(())
        }
        Command::Certs {
            command: CertsCommand::Issue { name, hosts, dir },
        } => {
            let identity = boxoffice_tls::Identity::parse(&name)?;
            let files = boxoffice_tls::issue(&dir, identity, &hosts)?;
            println!(
                "{} for {} in {} (key {})",
                identity,
                identity.dns_name(),
                files.cert.display(),
                files.key.display()
            );
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate { dir },
        } => {
            let kid = boxoffice_auth::keys::generate(&dir)?;
            println!("new signing key {kid} in {}", dir.display());
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::RotateTicket { data_dir, node },
        } => {
            let path = data_dir.join(boxoffice_node::TICKET_KEY_FILE);
            let signer = boxoffice_node::TicketDesk::replace(&path, node)?;
            println!(
                "new ticket key {} in {}; restart node {node} to sign with it",
                signer.kid(),
                path.display()
            );
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
            boxoffice_auth::bootstrap::create_admin(config.as_deref(), &email, password).await?;
            println!("created administrator {email}");
            Ok(())
        }
    }
}
