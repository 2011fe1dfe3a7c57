//! The command line of the end-user commands: the options every client
//! command takes ([`Global`]) and the subcommands, as clap types. The
//! binary composes them with the operator commands; [`crate::run`] runs
//! them. Their doc comments are the `--help` text.

use boxoffice_client::proto as v1;
use clap::{Args, Subcommand};

use crate::session::Target;

/// The end-user commands at the top level of `boxoffice`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// The interactive shell: menus, seat maps, checkout (also `boxoffice`
    /// alone).
    Shell,
    /// Creates an account.
    ///
    /// JSON: {user_id, email, admin, created_at_ms}.
    Register {
        /// Email address.
        email: String,
        /// Password [default: asked for on a terminal]
        #[arg(long, env = "BOXOFFICE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Logs in and keeps the session (mode 0600) for later commands.
    ///
    /// JSON: {user_id, email, admin, created_at_ms}.
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
    /// JSON: {user_id, email, admin, created_at_ms}.
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
        /// `shows list`, `shows show`.
        #[command(subcommand)]
        command: ShowsCommand,
    },
    /// Books seats and pays in one step: the seats are held, the card is
    /// charged the show's price, the booking is confirmed (or released if
    /// the card is declined).
    ///
    /// JSON: {booking_id, show_id, seat_nos, total_cents, status,
    /// created_at_ms, hold_expires_at_ms, updated_at_ms, payment_status,
    /// order_id, transaction_id}.
    Book {
        /// The show id.
        show: String,
        /// Seats, e.g. `12-15,20` or `3 4 5`.
        #[arg(required = true)]
        seats: Vec<String>,
        /// The card to pay with.
        #[command(flatten)]
        card: CardArgs,
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
        /// The card to pay with.
        #[command(flatten)]
        card: CardArgs,
    },
    /// Your bookings: list, cancel.
    Bookings {
        /// `bookings list`, `bookings cancel`.
        #[command(subcommand)]
        command: BookingsCommand,
    },
    /// Cluster status and membership.
    Cluster {
        /// `cluster status`, `add-node`, `remove-node`.
        #[command(subcommand)]
        command: ClusterCommand,
    },
}

/// The end-user part of `boxoffice admin …` (the binary adds `bootstrap`).
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Shows: create, update.
    Shows {
        /// `admin shows create`, `update`.
        #[command(subcommand)]
        command: AdminShowsCommand,
    },
    /// Accounts: list.
    Users {
        /// `admin users list`.
        #[command(subcommand)]
        command: AdminUsersCommand,
    },
    /// Venues: import a layout from a TOML file, check one.
    Venues {
        /// `admin venues import`, `check`.
        #[command(subcommand)]
        command: AdminVenuesCommand,
    },
    /// Productions: create.
    Productions {
        /// `admin productions create`.
        #[command(subcommand)]
        command: AdminProductionsCommand,
    },
    /// Performances: add a run, cancel one.
    Performances {
        /// `admin performances add`, `cancel`.
        #[command(subcommand)]
        command: AdminPerformancesCommand,
    },
}

/// `boxoffice admin venues …`.
#[derive(Subcommand, Debug)]
pub enum AdminVenuesCommand {
    /// Imports a venue from a TOML file (docs/venues.md); every mistake is
    /// reported with its line and nothing is imported (administrators).
    ///
    /// JSON: {venue_id, name, seats, standing, sections, areas}.
    Import {
        /// The venue id (1-64 characters, no spaces).
        id: String,
        /// The TOML file.
        file: std::path::PathBuf,
    },
    /// Reads a venue file and says what it holds, without importing it.
    ///
    /// JSON: {name, seats, standing, sections, areas}.
    Check {
        /// The TOML file.
        file: std::path::PathBuf,
    },
}

/// `boxoffice admin productions …`.
#[derive(Subcommand, Debug)]
pub enum AdminProductionsCommand {
    /// Creates a production (administrators).
    Create {
        /// The production id (1-64 characters, no spaces).
        id: String,
        /// Title.
        #[arg(long)]
        title: String,
        /// A description for buyers.
        #[arg(long, default_value = "")]
        description: String,
        /// Running time in minutes.
        #[arg(long, default_value_t = 0)]
        running_minutes: u32,
    },
}

/// `boxoffice admin performances …`.
#[derive(Subcommand, Debug)]
pub enum AdminPerformancesCommand {
    /// Adds a run of performances of a production at a venue, with the
    /// prices of a pricing file (administrators). Ids are
    /// `PRODUCTION-YYYY-MM-DD-HHMM`.
    Add {
        /// The production id.
        production: String,
        /// The venue id.
        #[arg(long)]
        venue: String,
        /// The weekly slots, e.g. "tue-sat 19:30, sat 14:30".
        #[arg(long)]
        slots: String,
        /// The first day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// The last day, YYYY-MM-DD.
        #[arg(long)]
        until: String,
        /// The venue's time zone, e.g. Europe/London.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// The pricing file (TOML; see examples/venues/theatre-pricing.toml).
        #[arg(long)]
        pricing: std::path::PathBuf,
        /// When sales open, "YYYY-MM-DD HH:MM" in UTC or RFC 3339 [default: now].
        #[arg(long, value_parser = parse_start)]
        opens_at: Option<i64>,
        /// Print the run without adding it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Cancels a performance: every order of it is refunded (administrators).
    Cancel {
        /// The performance (show) id.
        show: String,
    },
}

/// The end-user part of `boxoffice chatbot …` (the binary adds the
/// service and `eval`).
#[derive(Subcommand, Debug)]
pub enum ChatbotCommand {
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

/// Options of every client command.
#[derive(Args, Clone, Debug)]
pub struct Global {
    /// Comma-separated node addresses; any node serves any call [default:
    /// `endpoints` in config.toml, else the local cluster]
    #[arg(long, env = "BOXOFFICE_ENDPOINTS", global = true)]
    pub endpoints: Option<String>,
    /// The auth service's address [default: `auth` in config.toml, else
    /// 127.0.0.1:8000]
    #[arg(long, env = "BOXOFFICE_AUTH_ENDPOINT", global = true)]
    pub auth: Option<String>,
    /// The assistant's address [default: `chatbot` in config.toml, else
    /// 127.0.0.1:9000]
    #[arg(long, env = "BOXOFFICE_CHATBOT_ENDPOINT", global = true)]
    pub chatbot: Option<String>,
    /// Trust this CA certificate (PEM) and reach every service over TLS
    /// (a cluster started with `up --tls` or `--expose`: its CA is
    /// `<data-dir>/certs/ca.pem`) [default: `ca` in config.toml, else
    /// plaintext]
    #[arg(long, env = "BOXOFFICE_CA", global = true)]
    pub ca: Option<std::path::PathBuf>,
    /// A session token to use instead of the saved session.
    #[arg(long, env = "BOXOFFICE_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Print one line of JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Global {
    /// Where these options say to reach the cluster, and as whom (with
    /// the saved session). Dials nothing.
    pub fn target(&self) -> anyhow::Result<Target> {
        Target::load(
            self.endpoints.as_deref(),
            self.auth.as_deref(),
            self.chatbot.as_deref(),
            self.token.as_deref(),
            self.ca.as_deref(),
        )
    }
}

/// A card given on the command line.
#[derive(Args, Clone, Debug)]
pub struct CardArgs {
    /// Card number to pay with (test cards: 4242 4242 4242 4242 pays,
    /// 4000 0000 0000 9995 is declined).
    #[arg(long, requires_all = ["exp", "cvc"])]
    pub card: Option<String>,
    /// The card's expiry, MM/YY or MM/YYYY.
    #[arg(long, value_parser = parse_expiry)]
    pub exp: Option<(u32, u32)>,
    /// The card's security code.
    #[arg(long)]
    pub cvc: Option<String>,
}

impl CardArgs {
    /// The card, when number, expiry and security code are all given.
    pub fn card(&self) -> Option<v1::Card> {
        match (&self.card, self.exp, &self.cvc) {
            (Some(number), Some((exp_month, exp_year)), Some(cvc)) => Some(v1::Card {
                number: number.clone(),
                exp_month,
                exp_year,
                cvc: cvc.clone(),
            }),
            _ => None,
        }
    }
}

/// Parses a card expiry `MM/YY` or `MM/YYYY` into (month, four-digit year).
pub fn parse_expiry(raw: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{raw:?} is not an expiry such as 12/29 or 12/2029");
    let (month, year) = raw.trim().split_once('/').ok_or_else(bad)?;
    let month: u32 = month.trim().parse().map_err(|_| bad())?;
    let digits = year.trim();
    let year: u32 = digits.parse().map_err(|_| bad())?;
    let year = match digits.len() {
        2 => 2000 + year,
        4 => year,
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&month) {
        return Err(bad());
    }
    Ok((month, year))
}

/// Parses a start time: `YYYY-MM-DD HH:MM` (UTC) or RFC 3339 (the one
/// parser of the view layer).
pub use boxoffice_view::parse_time as parse_start;

/// `boxoffice shows …`.
#[derive(Subcommand, Debug)]
pub enum ShowsCommand {
    /// Lists every show with its price and seat counts.
    ///
    /// JSON: an array of {show_id, title, seat_count, price_cents,
    /// starts_at_ms, available, held, booked}.
    List {
        /// Read from the answering node's replica without asking the leader.
        #[arg(long)]
        stale: bool,
    },
    /// One show and its seat map (coloured on a terminal; with your seats
    /// marked when logged in).
    ///
    /// JSON: {show: {show_id, title, seat_count, price_cents, starts_at_ms,
    /// available, held, booked}, seats: [{seat_no, state}], mine: your seat numbers}
    /// where state is available, held or booked.
    Show {
        /// The show id.
        id: String,
        /// Read from the answering node's replica without asking the leader.
        #[arg(long)]
        stale: bool,
    },
}

/// `boxoffice bookings …`.
#[derive(Subcommand, Debug)]
pub enum BookingsCommand {
    /// Your bookings, newest first.
    ///
    /// JSON: an array of {booking_id, show_id, seat_nos, total_cents, status,
    /// created_at_ms, hold_expires_at_ms, updated_at_ms, payment_status,
    /// order_id, transaction_id}; status is held, confirmed, released,
    /// cancelled or unknown; payment_status is none, pending, not_charged,
    /// charged, refund_pending, refunded or unknown.
    List {
        /// Read from the answering node's replica without asking the leader.
        #[arg(long)]
        stale: bool,
    },
    /// Cancels one of your bookings: a confirmed one is refunded in full, a
    /// held one released. Cancelling twice is harmless.
    ///
    /// JSON: the booking, as in `bookings list`.
    Cancel {
        /// The booking id.
        booking: String,
    },
}

/// `boxoffice admin shows …`.
#[derive(Subcommand, Debug)]
pub enum AdminShowsCommand {
    /// Creates a show (administrators).
    ///
    /// JSON: the show, as in `shows list`.
    Create {
        /// The show id (1-64 characters, no spaces).
        id: String,
        /// Title.
        #[arg(long)]
        title: String,
        /// Number of seats.
        #[arg(long)]
        seats: u32,
        /// Price per seat, in cents.
        #[arg(long)]
        price_cents: i64,
        /// Start, "YYYY-MM-DD HH:MM" in UTC or RFC 3339; default 30 days from now.
        #[arg(long, value_parser = parse_start)]
        starts_at: Option<i64>,
    },
    /// Changes a show's title, seats, price or start (administrators).
    ///
    /// JSON: the show, as in `shows list`.
    Update {
        /// The show id.
        id: String,
        /// New title.
        #[arg(long)]
        title: Option<String>,
        /// New number of seats.
        #[arg(long)]
        seats: Option<u32>,
        /// New price per seat, in cents.
        #[arg(long)]
        price_cents: Option<i64>,
        /// New start, "YYYY-MM-DD HH:MM" in UTC or RFC 3339.
        #[arg(long, value_parser = parse_start)]
        starts_at: Option<i64>,
    },
}

/// `boxoffice admin users …`.
#[derive(Subcommand, Debug)]
pub enum AdminUsersCommand {
    /// Every account (administrators).
    ///
    /// JSON: an array of {user_id, email, admin, created_at_ms}.
    List,
}

/// `boxoffice cluster …`.
#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Every node's role, term and log progress.
    ///
    /// JSON: {leader_id, term, answered_by, nodes: [{node_id, addr,
    /// reachable, error, role, term, leader_id, last_log_index, commit_index,
    /// applied_index, snapshot_index, voter}]}; role is leader, follower,
    /// candidate, learner, shutdown or unknown (also when not reachable).
    Status,
    /// Adds a running, empty node (started without initial_members) as a
    /// voter (administrators).
    AddNode {
        /// The new node's id.
        #[arg(long)]
        id: u64,
        /// Its address, host:port.
        #[arg(long)]
        addr: String,
    },
    /// Removes a voter (administrators).
    RemoveNode {
        /// The node's id.
        #[arg(long)]
        id: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_and_start_times_parse() {
        assert_eq!(parse_expiry("12/29"), Ok((12, 2029)));
        assert_eq!(parse_expiry("01/2031"), Ok((1, 2031)));
        assert!(parse_expiry("13/29").is_err());
        assert!(parse_expiry("1229").is_err());
        assert_eq!(parse_start("1970-01-01 00:01"), Ok(60_000));
        assert_eq!(parse_start("1970-01-01T00:00:01Z"), Ok(1_000));
        assert!(parse_start("next tuesday").is_err());
    }
}
