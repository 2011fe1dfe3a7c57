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
    /// charged their price, the booking is confirmed (or released if the
    /// card is declined). Seats by number (`12-15,20`) or by label
    /// (`"K-12,K-13"`, `"Stalls K-12"`), standing places, or the best seats
    /// together; each ticket of one type (`--type`) or each its own
    /// (`--types`). Prints the order: each ticket's place, type and price.
    ///
    /// JSON: {booking_id, show_id, seat_nos, total_cents, status,
    /// created_at_ms, hold_expires_at_ms, updated_at_ms, payment_status,
    /// order_id, transaction_id, tickets: [{seat_no, label, ticket_type,
    /// price_cents}]}.
    Book {
        /// The show (performance) id.
        show: String,
        /// Seats, e.g. `12-15,20`, `3 4 5` or `"K-12,K-13"`.
        #[arg(required_unless_present_any = ["best", "standing"])]
        seats: Vec<String>,
        /// What to book besides the seats: types, standing, best.
        #[command(flatten)]
        pick: PickArgs,
        /// The card to pay with.
        #[command(flatten)]
        card: CardArgs,
    },
    /// Holds seats without paying; pay with `boxoffice pay` before the hold
    /// expires. Takes the seats and options of `book`.
    ///
    /// JSON: the booking, as for `book`.
    Hold {
        /// The show (performance) id.
        show: String,
        /// Seats, e.g. `12-15,20`, `3 4 5` or `"K-12,K-13"`.
        #[arg(required_unless_present_any = ["best", "standing"])]
        seats: Vec<String>,
        /// What to hold besides the seats: types, standing, best.
        #[command(flatten)]
        pick: PickArgs,
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
    /// Returns tickets of one of your bookings: those named (by label or
    /// seat number), or every one; prints what is refunded.
    ///
    /// JSON: {kept: the booking as it stands, or null when every ticket
    /// went back; returned: the returned tickets as a cancelled booking;
    /// refund_cents}.
    Return {
        /// The booking id.
        booking: String,
        /// The tickets to return, e.g. `K-12` or `"Stalls K-12"` or `12`
        /// [default: all of them]
        places: Vec<String>,
    },
    /// Your tickets: list, show (with a QR code), reissue.
    Tickets {
        /// `tickets list`, `tickets show`, `tickets reissue`.
        #[command(subcommand)]
        command: TicketsCommand,
    },
    /// Door check-in (administrators and door staff): scans ticket codes
    /// given as arguments, or read from standard input one a line (a USB
    /// scanner types them), and prints each answer: admitted, already in
    /// (where), wrong performance, returned, reissued, transferred, forged.
    ///
    /// JSON: one line a scan: {result, message, ticket_id, label,
    /// ticket_type, admitted_at_ms, gate}.
    Checkin {
        /// The performance this door admits to.
        #[arg(long)]
        performance: String,
        /// The gate's name (no spaces).
        #[arg(long, default_value = "main")]
        gate: String,
        /// Keep admitting when the cluster does not answer: the door list
        /// (downloaded at start) and the scans still to upload live here.
        #[arg(long, value_name = "DIR")]
        offline_dir: Option<std::path::PathBuf>,
        /// Print admissions per gate and the conflicts found, and scan nothing.
        #[arg(long, conflicts_with_all = ["offline_dir", "codes"])]
        report: bool,
        /// Exit scans: each ticket goes out and may come in again (where
        /// the performance allows re-entry: `admin reentry`). Live only.
        #[arg(long, conflicts_with_all = ["offline_dir", "report"])]
        exit: bool,
        /// Codes to scan [default: read standard input].
        codes: Vec<String>,
    },
    /// A performance's waiting room: take a place (`join`), see where you
    /// stand (`status`, `--wait` to follow it until you are let in).
    ///
    /// JSON: {show_id, phase, waiting, admitted, status, place, position,
    /// estimated_wait_ms, admitted_until_ms, seed}.
    Queue {
        /// `queue join`, `queue status`.
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// A sold-out performance's waiting list: join it for a number of
    /// seats (`join`), see where you stand or follow it until seats are
    /// offered to you (`status --wait`), leave it (`leave`). An offer is a
    /// hold: pay it with `boxoffice pay BOOKING` before it ends.
    ///
    /// JSON: {show_id, waiting, offered, status, place, position,
    /// quantity, category, offer: {booking_id, seats, total_cents,
    /// hold_expires_at_ms}}.
    Waitlist {
        /// `waitlist join`, `waitlist status`, `waitlist leave`.
        #[command(subcommand)]
        command: WaitlistCommand,
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
    /// Venues: import a layout from a TOML file, check one, list, show.
    Venues {
        /// `admin venues import`, `check`, `list`, `show`.
        #[command(subcommand)]
        command: AdminVenuesCommand,
    },
    /// Productions: create, list.
    Productions {
        /// `admin productions create`, `list`.
        #[command(subcommand)]
        command: AdminProductionsCommand,
    },
    /// Performances: add a run, cancel one, hold seats back, release them.
    Performances {
        /// `admin performances add`, `cancel`, `hold-back`, `release`.
        #[command(subcommand)]
        command: AdminPerformancesCommand,
    },
    /// Reports: sales.
    Report {
        /// `admin report sales`.
        #[command(subcommand)]
        command: AdminReportCommand,
    },
    /// Allows exits and re-entry at a performance (`--off` stops them).
    Reentry {
        /// The performance.
        performance: String,
        /// Stop allowing exits and re-entry.
        #[arg(long)]
        off: bool,
    },
    /// The keys that sign ticket codes: `list`, `retire KID`.
    TicketKeys {
        /// `admin ticket-keys list`, `retire`.
        #[command(subcommand)]
        command: TicketKeysCommand,
    },
    /// A performance's waiting room: `set` it up or change it, `remove`
    /// it. While it is before its opening or open, only buyers it let in
    /// may hold seats of the performance.
    WaitingRoom {
        /// `admin waiting-room set`, `remove`.
        #[command(subcommand)]
        command: WaitingRoomCommand,
    },
    /// Door staff: accounts that may check tickets in (and nothing else)
    /// at a production's or a venue's doors.
    DoorStaff {
        /// `admin door-staff grant`, `revoke`.
        #[command(subcommand)]
        command: DoorStaffCommand,
    },
}

/// `boxoffice admin venues …`.
#[derive(Subcommand, Debug)]
pub enum AdminVenuesCommand {
    /// Imports a venue from a TOML file (docs/venues.md); a mistake is
    /// reported with its line and nothing is imported (administrators).
    ///
    /// JSON: {venue_id, name, seats, standing, sections, areas}.
    Import {
        /// The TOML file.
        file: std::path::PathBuf,
        /// The venue id (1-64 characters, no spaces) [default: the file's
        /// name without `.toml`]
        #[arg(long)]
        id: Option<String>,
    },
    /// Reads a venue file and says what it holds, without importing it.
    ///
    /// JSON: {name, seats, standing, sections, areas}.
    Check {
        /// The TOML file.
        file: std::path::PathBuf,
    },
    /// Every venue, with its counts.
    ///
    /// JSON: an array of {venue_id, name, seats, standing, sections, areas}.
    List {
        /// Read from the answering node's replica without asking the leader.
        #[arg(long)]
        stale: bool,
    },
    /// One venue: its sections, rows and standing areas, with counts.
    ///
    /// JSON: {venue_id, name, seats, standing, sections: [{name, rows:
    /// [{label, seats, first, last}]}], areas: [{name, capacity}]}.
    Show {
        /// The venue id.
        id: String,
        /// Read from the answering node's replica without asking the leader.
        #[arg(long)]
        stale: bool,
    },
}

/// `boxoffice admin productions …`.
#[derive(Subcommand, Debug)]
pub enum AdminProductionsCommand {
    /// Creates a production (administrators).
    ///
    /// JSON: {production_id, title, description, running_minutes}.
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
    /// Every production with its number of performances.
    ///
    /// JSON: an array of {production_id, title, description,
    /// running_minutes, performances}.
    List {
        /// Read from the answering node's replica without asking the leader.
        #[arg(long)]
        stale: bool,
    },
}

/// `boxoffice admin performances …`.
#[derive(Subcommand, Debug)]
pub enum AdminPerformancesCommand {
    /// Adds a run of performances of a production at a venue, with the
    /// prices of a pricing file (administrators). Ids are
    /// `PRODUCTION-YYYY-MM-DD-HHMM`. The pricing is checked against the
    /// venue first; nothing is added on any mistake.
    ///
    /// JSON: an array of shows, as in `shows list`.
    Add {
        /// The production id.
        production: String,
        /// The venue id.
        #[arg(long)]
        venue: String,
        /// The pricing file (TOML; see examples/venues/theatre-pricing.toml).
        #[arg(long)]
        pricing: std::path::PathBuf,
        /// The first day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// The last day, YYYY-MM-DD.
        #[arg(long)]
        until: String,
        /// The weekly slots, e.g. "Tue-Sat 19:30, Sat 14:30".
        #[arg(long)]
        slots: String,
        /// The venue's time zone, e.g. Europe/London.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// When sales open, "YYYY-MM-DD HH:MM" in UTC or RFC 3339 [default:
        /// now]. A sale that opens at a set time sells through a waiting
        /// room (see `--waiting-room-rate`, `--no-waiting-room`).
        #[arg(long, value_parser = parse_start)]
        on_sale: Option<i64>,
        /// With `--on-sale`: buyers the waiting room of each performance
        /// lets in a second.
        #[arg(long, default_value_t = 100, value_name = "PER_SECOND")]
        waiting_room_rate: u32,
        /// With `--on-sale`: no waiting room (first come, first served
        /// from the opening, by whoever is fastest).
        #[arg(long)]
        no_waiting_room: bool,
        /// When sales close, "YYYY-MM-DD HH:MM" in UTC or RFC 3339 [default:
        /// as each performance starts]
        #[arg(long, value_parser = parse_start)]
        off_sale: Option<i64>,
        /// Print the run without adding it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Cancels a performance: every order of it is refunded (administrators).
    ///
    /// JSON: {show, bookings}: the show as in `shows list`, the bookings
    /// it cancelled as in `bookings list`.
    Cancel {
        /// The performance (show) id.
        show: String,
    },
    /// Takes seats off sale: house seats, press, sight-line kills
    /// (administrators).
    ///
    /// JSON: the show, as in `shows list`.
    HoldBack {
        /// The performance (show) id.
        show: String,
        /// The seats, e.g. "K-1,K-2" or `12-15`.
        #[arg(required = true)]
        seats: Vec<String>,
        /// Why, for the staff (1-200 characters).
        #[arg(long)]
        reason: String,
    },
    /// Puts held-back seats on sale again (administrators).
    ///
    /// JSON: the show, as in `shows list`.
    Release {
        /// The performance (show) id.
        show: String,
        /// The seats, e.g. "K-1,K-2" or `12-15`.
        #[arg(required = true)]
        seats: Vec<String>,
    },
}

/// `boxoffice admin report …`.
#[derive(Subcommand, Debug)]
pub enum AdminReportCommand {
    /// The sales of one performance, per price category and ticket type:
    /// tickets sold, revenue, tickets refunded, refunds (administrators).
    ///
    /// JSON: {show_id, lines: [{category, ticket_type, sold, revenue_cents,
    /// refunded, refunded_cents}], sold, revenue_cents, refunded,
    /// refunded_cents}.
    Sales {
        /// The performance (show) id.
        #[arg(required_unless_present = "production", conflicts_with = "production")]
        show: Option<String>,
        /// Every performance of this production instead: one report each,
        /// with a `show` column first (JSON: an array of reports).
        #[arg(long)]
        production: Option<String>,
        /// Print CSV (a header, a line per category and type, a total)
        /// instead of a table or JSON.
        #[arg(long)]
        csv: bool,
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

/// What a booking takes besides seats by number or label.
#[derive(Args, Clone, Debug, Default)]
pub struct PickArgs {
    /// One ticket type for every ticket (adult, concession, child,
    /// companion, as the performance offers) [default: the performance's
    /// first type]
    #[arg(long = "type", conflicts_with = "types")]
    pub ticket_type: Option<String>,
    /// One ticket type per seat, in the order the seats are given, e.g.
    /// `adult,concession`.
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// This many standing places.
    #[arg(long)]
    pub standing: Option<u32>,
    /// The standing area [default: the venue's only one]
    #[arg(long, requires = "standing")]
    pub area: Option<String>,
    /// The best this many seats together, chosen by the box office.
    #[arg(long)]
    pub best: Option<u32>,
    /// Only seats of this price category (with `--best`).
    #[arg(long, requires = "best")]
    pub category: Option<String>,
    /// Wheelchair spaces may be chosen (with `--best`).
    #[arg(long, requires = "best")]
    pub wheelchair: bool,
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
    /// Lists every show: each production's performances in time order
    /// (date, venue, state, "from" price), then the simple shows.
    ///
    /// JSON: an array of {show_id, title, seat_count, price_cents,
    /// starts_at_ms, available, held, booked, production_id, venue_id,
    /// state, held_back}; price_cents is a performance's "from" price,
    /// the lowest of its default ticket type.
    List {
        /// Read from the answering node's replica without asking the leader.
        #[arg(long)]
        stale: bool,
    },
    /// One show and its seat map (coloured on a terminal; with your seats
    /// marked when logged in). A performance's map has its rows by label,
    /// its seats by label coloured by price category, and its prices.
    ///
    /// JSON: {show: as in `shows list`, seats: [{seat_no, state, label,
    /// category}], mine: your seat numbers} where state is available,
    /// held, booked or held_back; label and category for a performance.
    Show {
        /// The show id.
        id: String,
        /// Read from the answering node's replica without asking the leader.
        #[arg(long)]
        stale: bool,
    },
}

/// `boxoffice admin ticket-keys …`.
#[derive(Subcommand, Debug)]
pub enum TicketKeysCommand {
    /// The keys that verify ticket codes (each node signs with its own),
    /// and those retired.
    ///
    /// JSON: {keys: `[{kid, public_key_hex}]`, retired: `[kid]`}.
    List,
    /// Stops trusting a key (one that leaked, or an old one after a
    /// rotation): its codes are refused as forged at once, and the node
    /// that held it signs with a new key from its next code on; holders
    /// see new codes in `tickets list`. Printed or downloaded codes of
    /// that key stop working, so retire an old key after the performances
    /// its codes were for (administrators).
    Retire {
        /// The key id (from `admin ticket-keys list`).
        kid: String,
    },
}

/// `boxoffice queue …`.
#[derive(Subcommand, Debug)]
pub enum QueueCommand {
    /// Takes a place in the performance's waiting room (joining again
    /// keeps your place).
    Join {
        /// The performance.
        performance: String,
    },
    /// Where you stand in the performance's waiting room.
    Status {
        /// The performance.
        performance: String,
        /// Follow it (a line when it changes) until you are let in or the
        /// room closes.
        #[arg(long)]
        wait: bool,
        /// With `--wait`, give up (exit 1) after this many seconds.
        #[arg(long, requires = "wait", value_name = "SECS")]
        max_wait: Option<u64>,
    },
}

/// `boxoffice waitlist …`.
#[derive(Subcommand, Debug)]
pub enum WaitlistCommand {
    /// Joins the performance's waiting list (refused while such seats are
    /// free: book them). Joining again keeps your entry.
    Join {
        /// The performance.
        performance: String,
        /// Seats wanted (1 to 10).
        #[arg(long, default_value_t = 1)]
        quantity: u32,
        /// Price category wanted [default: any].
        #[arg(long, default_value = "")]
        category: String,
    },
    /// Where you stand on the performance's waiting list.
    Status {
        /// The performance.
        performance: String,
        /// Follow it (a line when it changes) until seats are offered to
        /// you or you are no longer on it.
        #[arg(long)]
        wait: bool,
        /// With `--wait`, give up (exit 1) after this many seconds.
        #[arg(long, requires = "wait", value_name = "SECS")]
        max_wait: Option<u64>,
    },
    /// Leaves the performance's waiting list, giving up any offer.
    Leave {
        /// The performance.
        performance: String,
    },
}

/// `boxoffice admin waiting-room …`.
#[derive(Subcommand, Debug)]
pub enum WaitingRoomCommand {
    /// Sets up or changes a performance's waiting room. Buyers who join
    /// before the opening are shuffled at it; then first come, first served.
    Set {
        /// The performance.
        performance: String,
        /// When the room opens, "YYYY-MM-DD HH:MM" in UTC or RFC 3339
        /// [default: the room's, or now for a new room]
        #[arg(long, value_parser = parse_start)]
        opens: Option<i64>,
        /// Buyers let in a second (0: no such limit) [default: the room's,
        /// or 10 for a new room]
        #[arg(long)]
        rate: Option<u32>,
        /// Most buyers let in at once (0: no such limit) [default: the
        /// room's, or 0 for a new room]
        #[arg(long)]
        max_active: Option<u32>,
        /// How long an admission lasts unused, in seconds (10 to 3600)
        /// [default: the room's, or 600 for a new room]
        #[arg(long)]
        admission_secs: Option<i64>,
    },
    /// Removes a performance's waiting room (everyone in it is dropped).
    Remove {
        /// The performance.
        performance: String,
    },
}

/// `boxoffice admin door-staff …`.
#[derive(Subcommand, Debug)]
pub enum DoorStaffCommand {
    /// Lets an account scan tickets at a production's or a venue's doors.
    Grant {
        /// The account: its email or id.
        user: String,
        /// A production (a simple show is its own production).
        #[arg(long, conflicts_with = "venue", required_unless_present = "venue")]
        production: Option<String>,
        /// A venue: every performance there.
        #[arg(long)]
        venue: Option<String>,
    },
    /// Withdraws a grant.
    Revoke {
        /// The account: its email or id.
        user: String,
        /// The production of the grant.
        #[arg(long, conflicts_with = "venue", required_unless_present = "venue")]
        production: Option<String>,
        /// The venue of the grant.
        #[arg(long)]
        venue: Option<String>,
    },
}

/// `boxoffice tickets …`.
#[derive(Subcommand, Debug)]
pub enum TicketsCommand {
    /// Your tickets (one per seat or standing place of your paid bookings).
    ///
    /// JSON: an array of {ticket_id, booking_id, show_id, label,
    /// ticket_type, version, code, admitted_at_ms, gate}.
    List {
        /// Only this booking's tickets.
        #[arg(long)]
        booking: Option<String>,
        /// Read from the answering node's replica without asking the leader.
        #[arg(long)]
        stale: bool,
    },
    /// One ticket with its QR code drawn in the terminal, or written to a file.
    ///
    /// JSON: the ticket, as in `tickets list`.
    Show {
        /// The ticket id (BOOKING-SEAT, as `tickets list` shows).
        ticket: String,
        /// Write the QR code to this PNG file instead of drawing it.
        #[arg(long)]
        png: Option<std::path::PathBuf>,
        /// Write the QR code to this SVG file instead of drawing it.
        #[arg(long)]
        svg: Option<std::path::PathBuf>,
    },
    /// A new code for a ticket (lost, or shared by mistake); every earlier
    /// code stops working. A ticket used at the door cannot be reissued.
    ///
    /// JSON: the ticket, as in `tickets list`.
    Reissue {
        /// The ticket id.
        ticket: String,
    },
    /// Gives a ticket to another account: your code stops working, and
    /// the new holder finds a new one in their `tickets list`. A ticket
    /// used at the door cannot be transferred, and you can no longer
    /// return it.
    ///
    /// JSON: {ticket_id, version, to_user_id}.
    Transfer {
        /// The ticket id.
        ticket: String,
        /// The receiving account: its email or id.
        #[arg(long)]
        to: String,
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
    /// applied_index, snapshot_index, voter, reads_format, writes_format}]};
    /// role is leader, follower, candidate, learner, shutdown or unknown
    /// (also when not reachable). The table's `format` column is the
    /// format version of log commands a node writes, then the newest it
    /// reads (`?`: a build too old to say).
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
    use clap::{CommandFactory, Parser};

    /// The user commands as the binary composes them.
    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        command: Top,
        #[command(flatten)]
        global: Global,
    }

    #[derive(Subcommand, Debug)]
    enum Top {
        #[command(flatten)]
        User(Command),
        Admin {
            #[command(subcommand)]
            command: AdminCommand,
        },
    }

    fn parse(args: &[&str]) -> Result<Top, clap::Error> {
        Cli::try_parse_from(std::iter::once("boxoffice").chain(args.iter().copied()))
            .map(|cli| cli.command)
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn book_takes_labels_types_standing_and_best() {
        let Ok(Top::User(Command::Book {
            show, seats, pick, ..
        })) = parse(&[
            "book",
            "hamlet-fri",
            "K-12,K-13",
            "--types",
            "adult,concession",
        ])
        else {
            panic!("book with --types");
        };
        assert_eq!(
            (show.as_str(), seats.as_slice()),
            ("hamlet-fri", &["K-12,K-13".to_owned()][..])
        );
        assert_eq!(pick.types, ["adult", "concession"]);
        let Ok(Top::User(Command::Book { seats, pick, .. })) = parse(&[
            "book",
            "club-sat",
            "--standing",
            "4",
            "--type",
            "concession",
        ]) else {
            panic!("book --standing");
        };
        assert!(seats.is_empty());
        assert_eq!(
            (pick.standing, pick.ticket_type.as_deref()),
            (Some(4), Some("concession"))
        );
        let Ok(Top::User(Command::Hold { pick, .. })) =
            parse(&["hold", "hamlet-fri", "--best", "2", "--category", "A"])
        else {
            panic!("hold --best");
        };
        assert_eq!((pick.best, pick.category.as_deref()), (Some(2), Some("A")));

        // Refused before anything is sent.
        assert!(parse(&["book", "hamlet-fri"]).is_err(), "no seats");
        assert!(parse(&["book", "s", "K-1", "--type", "adult", "--types", "adult"]).is_err());
        assert!(
            parse(&["book", "s", "K-1", "--category", "A"]).is_err(),
            "--category needs --best"
        );
        assert!(
            parse(&["book", "s", "K-1", "--area", "Floor"]).is_err(),
            "--area needs --standing"
        );
    }

    #[test]
    fn admin_commands_of_issue_22_parse() {
        let Ok(Top::Admin {
            command:
                AdminCommand::Performances {
                    command:
                        AdminPerformancesCommand::Add {
                            slots,
                            on_sale,
                            from,
                            ..
                        },
                },
        }) = parse(&[
            "admin",
            "performances",
            "add",
            "hamlet",
            "--venue",
            "royal-court",
            "--pricing",
            "p.toml",
            "--from",
            "2027-01-12",
            "--until",
            "2027-02-20",
            "--slots",
            "Tue-Sat 19:30, Sat 14:30",
            "--on-sale",
            "1970-01-01 00:01",
        ])
        else {
            panic!("performances add");
        };
        assert_eq!(
            (slots.as_str(), from.as_str(), on_sale),
            ("Tue-Sat 19:30, Sat 14:30", "2027-01-12", Some(60_000))
        );
        assert!(matches!(
            parse(&[
                "admin",
                "performances",
                "hold-back",
                "s",
                "K-1,K-2",
                "--reason",
                "press"
            ]),
            Ok(Top::Admin {
                command: AdminCommand::Performances {
                    command: AdminPerformancesCommand::HoldBack { .. }
                }
            })
        ));
        assert!(
            parse(&["admin", "performances", "hold-back", "s", "K-1"]).is_err(),
            "a reason"
        );
        assert!(matches!(
            parse(&["admin", "report", "sales", "s", "--csv"]),
            Ok(Top::Admin {
                command: AdminCommand::Report {
                    command: AdminReportCommand::Sales { csv: true, .. }
                }
            })
        ));
        assert!(matches!(
            parse(&["admin", "venues", "import", "theatre.toml"]),
            Ok(Top::Admin {
                command: AdminCommand::Venues {
                    command: AdminVenuesCommand::Import { id: None, .. }
                }
            })
        ));
        assert!(matches!(
            parse(&["return", "12"]),
            Ok(Top::User(Command::Return { places, .. })) if places.is_empty()
        ));
    }

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
