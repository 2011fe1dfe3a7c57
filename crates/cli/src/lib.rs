//! The end-user client of Boxoffice: what `boxoffice` is for someone who
//! books seats or runs the shows, as opposed to the operator commands the
//! binary adds (nodes, services, the local cluster, certificates, keys,
//! bench, torture).
//!
//! - [`args`]: the command line, as clap types the binary composes: the
//!   options every client command takes ([`Global`]) and the user
//!   subcommands ([`Command`], [`AdminCommand`], [`ChatbotCommand`]);
//! - [`run`]: runs one of them;
//! - [`shell`]: the interactive shell (`boxoffice shell`, or no command);
//! - [`commands`]: the scriptable commands (`login`, `shows`, `book`,
//!   `bookings`, `admin shows`, `cluster`, `chatbot ask`, …) over
//!   `boxoffice-client`, with its failover;
//! - [`output`]: tables, tab-separated lines or `--json`, and exit codes;
//! - [`session`]: the saved session and settings in the user's config
//!   directory, and where the commands reach the cluster ([`Target`]);
//! - [`seats`]: seat lists as people type them, and seat maps (flat, or
//!   by section and row, coloured by price category);
//! - [`venues`]: the catalogue an administrator keeps: venues from TOML
//!   files, productions, runs of performances, seats held back;
//! - [`orders`]: booking by seat number, label, standing place or best
//!   pick with ticket types, and returning tickets;
//! - [`mod@report`]: the sales report, as a table, JSON or CSV.
//!
//! Invariants: errors reach the user as one `error: …` line (or one JSON
//! object with `--json`) with its causes and an exit code that names the
//! kind of failure ([`output::exit`]), never a panic or a backtrace; the
//! saved session is only ever written atomically with mode 0600 and is not
//! used if others can read it; nothing here changes the cluster except
//! through the public API, as the logged-in user.

#![deny(missing_docs)]

pub mod args;
pub mod commands;
pub mod door;
pub mod orders;
pub mod output;
pub mod queue;
pub mod report;
pub mod seats;
pub mod session;
pub mod shell;
pub mod tickets;
pub mod venues;
pub mod waitlist;

pub use args::{AdminCommand, ChatbotCommand, Command, Global};
pub use session::Target;

/// One end-user command, wherever it sits on the command line.
#[derive(Debug)]
pub enum UserCommand {
    /// A top-level command (`login`, `book`, `shell`, …).
    Top(Command),
    /// `admin shows …`, `admin users …`, `admin venues …`, ….
    Admin(AdminCommand),
    /// `chatbot ask …`.
    Chatbot(ChatbotCommand),
}

impl From<Command> for UserCommand {
    fn from(command: Command) -> Self {
        Self::Top(command)
    }
}

impl From<AdminCommand> for UserCommand {
    fn from(command: AdminCommand) -> Self {
        Self::Admin(command)
    }
}

impl From<ChatbotCommand> for UserCommand {
    fn from(command: ChatbotCommand) -> Self {
        Self::Chatbot(command)
    }
}

/// Runs one end-user command with the options `global`.
pub async fn run(command: impl Into<UserCommand>, global: &Global) -> anyhow::Result<()> {
    match command.into() {
        UserCommand::Top(command) => match command {
            Command::Shell => shell::run(global).await,
            Command::Register { email, password } => {
                commands::register(global, &email, password).await
            }
            Command::Login { email, password } => commands::login(global, &email, password).await,
            Command::Logout => commands::logout(global).await,
            Command::Whoami => commands::whoami(global).await,
            Command::Passwd { old, new } => commands::passwd(global, old, new).await,
            Command::Shows { command } => commands::shows(global, command).await,
            Command::Book {
                show,
                seats,
                pick,
                card,
            } => orders::book(global, &show, &seats, &pick, Some(&card)).await,
            Command::Hold { show, seats, pick } => {
                orders::book(global, &show, &seats, &pick, None).await
            }
            Command::Return { booking, places } => {
                orders::return_tickets(global, &booking, &places).await
            }
            Command::Pay { booking, card } => commands::pay(global, &booking, &card).await,
            Command::Bookings { command } => commands::bookings(global, command).await,
            Command::Queue { command } => queue::queue(global, command).await,
            Command::Waitlist { command } => waitlist::waitlist(global, command).await,
            Command::Tickets { command } => tickets::tickets(global, command).await,
            Command::Checkin {
                performance,
                report: true,
                ..
            } => tickets::door_report(global, &performance).await,
            Command::Checkin {
                performance,
                gate,
                codes,
                offline_dir,
                report: false,
                exit,
            } => {
                let door = tickets::Door {
                    performance: &performance,
                    gate: &gate,
                    offline_dir: offline_dir.as_deref(),
                    exit,
                };
                tickets::checkin(global, door, codes).await
            }
            Command::Cluster { command } => commands::cluster(global, command).await,
        },
        UserCommand::Admin(AdminCommand::Shows { command }) => {
            commands::admin_shows(global, command).await
        }
        UserCommand::Admin(AdminCommand::Users { command }) => {
            commands::admin_users(global, command).await
        }
        UserCommand::Admin(AdminCommand::Venues { command }) => {
            venues::admin_venues(global, command).await
        }
        UserCommand::Admin(AdminCommand::Productions { command }) => {
            venues::admin_productions(global, command).await
        }
        UserCommand::Admin(AdminCommand::Performances { command }) => {
            venues::admin_performances(global, command).await
        }
        UserCommand::Admin(AdminCommand::Reentry { performance, off }) => {
            tickets::reentry(global, &performance, !off).await
        }
        UserCommand::Admin(AdminCommand::TicketKeys { command }) => {
            tickets::ticket_keys(global, command).await
        }
        UserCommand::Admin(AdminCommand::WaitingRoom { command }) => {
            queue::admin_waiting_room(global, command).await
        }
        UserCommand::Admin(AdminCommand::DoorStaff { command }) => {
            tickets::door_staff(global, command).await
        }
        UserCommand::Admin(AdminCommand::Report { command }) => {
            report::admin_report(global, command).await
        }
        UserCommand::Chatbot(ChatbotCommand::Ask { text, session }) => {
            commands::ask(global, &text, &session).await
        }
    }
}

/// Lets a client command end quietly when its output pipe closes (as in
/// `boxoffice bookings list | head -1`), like other command-line tools,
/// instead of panicking on the failed write. SIGPIPE itself stays ignored
/// (Rust's default): restoring it would also kill the process when a
/// server closes a connection under a write (a plaintext client at a TLS
/// port, a node killed mid-call), silently and before failover.
pub fn exit_on_closed_pipe() {
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

/// The process's exit code for `result`, after printing its error as one
/// line on stderr (a JSON object with `json`).
pub fn report(result: anyhow::Result<()>, json: bool) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole cause chain on one line, no backtrace: this is for
            // people (or, with --json, for programs), not for debugging.
            output::print_error(&e, json);
            std::process::ExitCode::from(output::exit_code(&e))
        }
    }
}
