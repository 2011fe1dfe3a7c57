//! `boxoffice`: one binary for the whole system.
//!
//! Thin by design: parse flags, set up tracing, call a library. See
//! `boxoffice --help`.
//!
//! - `node` runs one booking node ([`boxoffice_node::run`]);
//! - `up` ([`up`]) runs the local cluster as child processes;
//! - `shell` (and no command at all) is the interactive client ([`shell`]);
//! - `login`, `shows`, `book`, `bookings`, `admin`, `cluster`, …
//!   ([`commands`]) are scriptable client commands over `boxoffice-client`,
//!   with failover, `--json` and meaningful exit codes ([`output`]); the
//!   session and settings live in the user's config directory ([`session`]);
//! - `bench` ([`mod@bench`]) measures booking throughput and latency.
//!
//! Errors reach the user as one `error: …` line with its causes and a
//! non-zero exit code, never a panic or a backtrace.

mod bench;
mod commands;
mod failover;
mod output;
mod seats;
mod session;
mod shell;
mod torture;
mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Boxoffice: ticket booking replicated with Raft.
///
/// With no command, opens the interactive shell.
#[derive(Parser)]
#[command(version, about, propagate_version = true, after_help = output::EXIT_CODES_HELP)]
struct Cli {
    #[command(flatten)]
    global: commands::Global,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The interactive shell: menus, seat maps, checkout (also `boxoffice`
    /// alone).
    Shell,
    /// Creates an account.
    ///
    /// JSON: {user_id, email, admin}.
    Register {
        /// Email address.
        email: String,
        /// Password [default: asked for on a terminal]
        #[arg(long, env = "BOXOFFICE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Logs in and keeps the session (mode 0600) for later commands.
    ///
    /// JSON: {user_id, email, admin}.
    Login {
        /// Email address.
        email: String,
        /// Password [default: asked for on a terminal]
        #[arg(long, env = "BOXOFFICE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Ends every session of your account and removes the saved one.
    Logout,
    /// Shows who you are logged in as.
    ///
    /// JSON: {user_id, email, admin}.
    Whoami,
    /// Changes your password (every other session ends).
    Passwd {
        /// The current password [default: asked for on a terminal]
        #[arg(long)]
        old: Option<String>,
        /// The new password [default: asked for on a terminal]
        #[arg(long)]
        new: Option<String>,
    },
    /// Shows: list, or one with its seat map.
    Shows {
        #[command(subcommand)]
        command: commands::ShowsCommand,
    },
    /// Books seats and pays in one step: the seats are held, the card is
    /// charged the show's price, the booking is confirmed (or released if
    /// the card is declined).
    ///
    /// JSON: {booking_id, show_id, seats, total_cents, status, payment,
    /// hold_expires_at_ms, created_at_ms, order_id, transaction_id}.
    Book {
        /// The show id.
        show: String,
        /// Seats, e.g. `12-15,20` or `3 4 5`.
        #[arg(required = true)]
        seats: Vec<String>,
        #[command(flatten)]
        card: commands::CardArgs,
    },
    /// Holds seats without paying; pay with `boxoffice pay` before the hold
    /// expires.
    ///
    /// JSON: the booking, as for `book`.
    Hold {
        /// The show id.
        show: String,
        /// Seats, e.g. `12-15,20` or `3 4 5`.
        #[arg(required = true)]
        seats: Vec<String>,
    },
    /// Pays for a held booking.
    ///
    /// JSON: the booking, as for `book`.
    Pay {
        /// The booking id.
        booking: String,
        #[command(flatten)]
        card: commands::CardArgs,
    },
    /// Your bookings: list, cancel.
    Bookings {
        #[command(subcommand)]
        command: commands::BookingsCommand,
    },
    /// Cluster status and membership.
    Cluster {
        #[command(subcommand)]
        command: commands::ClusterCommand,
    },
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
    /// Measures booking throughput and latency against a running cluster.
    Bench(bench::BenchArgs),
    /// Fault-injection run: starts its own cluster behind per-link proxies,
    /// drives clients while killing, pausing and partitioning nodes and
    /// the payment service, then checks every booking (docs/testing.md).
    Torture(torture::TortureArgs),
}

#[derive(Subcommand)]
enum ChatbotCommand {
    /// Trains the intent model on the shipped examples minus a held-out
    /// fifth, and prints its accuracy on that fifth, a confusion table and
    /// 5-fold cross-validation.
    Eval,
    /// Asks the running assistant one question (as the logged-in user).
    ///
    /// JSON: {session_id, reply, intent, confidence, suggestions: [{label,
    /// action, show_id, seat_nos, booking_id}], facts}.
    Ask {
        /// The question.
        text: String,
        /// Conversation id, to carry context from one question to the next.
        #[arg(long, default_value = "")]
        session: String,
    },
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
    /// Shows: create, update.
    Shows {
        #[command(subcommand)]
        command: commands::AdminShowsCommand,
    },
    /// Accounts: list.
    Users {
        #[command(subcommand)]
        command: commands::AdminUsersCommand,
    },
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
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole cause chain on one line, no backtrace: this is for
            // people (or, with --json, for programs), not for debugging.
            output::print_error(&e, json);
            ExitCode::from(output::exit_code(&e))
        }
    }
}

/// Lets a client command end quietly when its output pipe closes (as in
/// `boxoffice bookings list | head -1`), like other command-line tools,
/// instead of panicking on the failed write. SIGPIPE itself stays ignored
/// (Rust's default): restoring it would also kill the process when a
/// server closes a connection under a write (a plaintext client at a TLS
/// port, a node killed mid-call), silently and before failover.
fn exit_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

async fn run(cli: Cli) -> anyhow::Result<()> {
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
        exit_on_closed_pipe();
    }
    let Some(command) = cli.command else {
        return shell::run(&global).await;
    };
    match command {
        Command::Shell => shell::run(&global).await,
        Command::Register { email, password } => {
            commands::register(&global, &email, password).await
        }
        Command::Login { email, password } => commands::login(&global, &email, password).await,
        Command::Logout => commands::logout(&global).await,
        Command::Whoami => commands::whoami(&global).await,
        Command::Passwd { old, new } => commands::passwd(&global, old, new).await,
        Command::Shows { command } => commands::shows(&global, command).await,
        Command::Book { show, seats, card } => commands::book(&global, &show, &seats, &card).await,
        Command::Hold { show, seats } => commands::hold(&global, &show, &seats).await,
        Command::Pay { booking, card } => commands::pay(&global, &booking, &card).await,
        Command::Bookings { command } => commands::bookings(&global, command).await,
        Command::Cluster { command } => commands::cluster(&global, command).await,
        Command::Admin {
            command: AdminCommand::Shows { command },
        } => commands::admin_shows(&global, command).await,
        Command::Admin {
            command: AdminCommand::Users { command },
        } => commands::admin_users(&global, command).await,
        Command::Node { config } => boxoffice_node::process::serve(config.as_deref()).await,
        Command::Up(args) => {
            boxoffice_server::init_tracing();
            up::run(args).await
        }
        Command::Bench(args) => bench::run(args, &global).await,
        Command::Torture(args) => torture::run(args).await,
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
            command: Some(ChatbotCommand::Ask { text, session }),
            ..
        } => commands::ask(&global, &text, &session).await,
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
