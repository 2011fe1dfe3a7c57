//! Client subcommands: thin wrappers over `boxoffice-client` that print tables.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use boxoffice_client::Client;
use boxoffice_client::proto::{self as v1, BookingStatus, NodeRole, SeatState};
use clap::{Args, Subcommand};
use comfy_table::Table;

use crate::DEFAULT_ENDPOINTS;

/// Which cluster to talk to.
#[derive(Args, Clone)]
pub struct Target {
    /// Comma-separated node addresses; any node serves any call.
    #[arg(long, env = "BOXOFFICE_ENDPOINTS", default_value = DEFAULT_ENDPOINTS, global = true)]
    pub endpoints: String,
    /// Access token from `boxoffice account login` (sent as a bearer token).
    #[arg(long, env = "BOXOFFICE_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
}

impl Target {
    /// The node addresses given.
    pub fn addrs(&self) -> Vec<String> {
        self.endpoints
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// A failover client for those nodes.
    pub fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(&self.addrs())?.with_optional_token(self.token.as_deref()))
    }
}

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Every node's role, term and log progress.
    Status,
    /// Adds a running, empty node (started without initial_members) as a voter.
    AddNode {
        /// The new node's id.
        #[arg(long)]
        id: u64,
        /// Its address, host:port.
        #[arg(long)]
        addr: String,
    },
    /// Removes a voter.
    RemoveNode {
        /// The node's id.
        #[arg(long)]
        id: u64,
    },
}

#[derive(Subcommand)]
pub enum ShowCommand {
    /// Lists shows with seat counts.
    List {
        /// Read from the answering node's replica without asking the leader.
        #[arg(long)]
        stale: bool,
    },
    /// Shows one show's seat map.
    Get {
        /// The show id.
        id: String,
        /// Read from the answering node's replica without asking the leader.
        #[arg(long)]
        stale: bool,
    },
    /// Creates a show.
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
        /// Start time in ms since the Unix epoch; default 30 days from now.
        #[arg(long)]
        starts_at_ms: Option<i64>,
    },
    /// Changes a show.
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
        /// New start time in ms since the Unix epoch.
        #[arg(long)]
        starts_at_ms: Option<i64>,
    },
}

#[derive(Args)]
pub struct BookingsArgs {
    #[command(flatten)]
    pub target: Target,
    /// Read from the answering node's replica without asking the leader.
    #[arg(long)]
    pub stale: bool,
}

#[derive(Args)]
pub struct BookArgs {
    #[command(flatten)]
    pub target: Target,
    /// The show id.
    pub show: String,
    /// Seat numbers.
    #[arg(required = true)]
    pub seats: Vec<u32>,
    /// Card number to pay with (the local payment service's test cards:
    /// 4242 4242 4242 4242 pays, 4000 0000 0000 9995 is declined).
    #[arg(long, requires_all = ["exp", "cvc"])]
    pub card: Option<String>,
    /// The card's expiry, MM/YY or MM/YYYY.
    #[arg(long, value_parser = parse_expiry)]
    pub exp: Option<(u32, u32)>,
    /// The card's security code.
    #[arg(long)]
    pub cvc: Option<String>,
}

/// Parses a card expiry `MM/YY` or `MM/YYYY` into (month, four-digit year).
fn parse_expiry(raw: &str) -> Result<(u32, u32), String> {
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

#[derive(Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub target: Target,
    /// The booking id.
    pub booking: String,
}

/// The auth service to talk to.
#[derive(Args, Clone)]
pub struct AuthTarget {
    /// Address of the auth service.
    #[arg(
        long,
        env = "BOXOFFICE_AUTH",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub auth: String,
    /// Access token from `boxoffice account login`.
    #[arg(long, env = "BOXOFFICE_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
}

impl AuthTarget {
    fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(&[self.auth.as_str()])?.with_optional_token(self.token.as_deref()))
    }
}

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Creates an account.
    Register {
        /// Email address.
        email: String,
        /// Password.
        #[arg(long, env = "BOXOFFICE_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Logs in and prints the access token to export as BOXOFFICE_TOKEN.
    Login {
        /// Email address.
        email: String,
        /// Password.
        #[arg(long, env = "BOXOFFICE_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Shows the account of the current token.
    Whoami,
    /// Ends every session of the current token's account.
    Logout,
}

/// A gRPC status as a person reads it: the server's message and the code.
fn status(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{} [{:?}]", s.message(), s.code())
}

/// Cents as major units with two decimals.
fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn role(r: i32) -> &'static str {
    match NodeRole::try_from(r).unwrap_or(NodeRole::Unspecified) {
        NodeRole::Leader => "leader",
        NodeRole::Follower => "follower",
        NodeRole::Candidate => "candidate",
        NodeRole::Learner => "learner",
        NodeRole::Shutdown => "shutdown",
        NodeRole::Unspecified => "?",
    }
}

/// Prints a cluster status table.
pub fn print_status(s: &v1::GetStatusResponse) {
    let mut table = Table::new();
    table.set_header([
        "node", "address", "role", "term", "leader", "last log", "commit", "applied", "snapshot",
    ]);
    for n in &s.nodes {
        if n.reachable {
            table.add_row([
                n.node_id.to_string(),
                n.addr.clone(),
                role(n.role).to_string(),
                n.term.to_string(),
                n.leader_id.to_string(),
                n.last_log_index.to_string(),
                n.commit_index.to_string(),
                n.applied_index.to_string(),
                n.snapshot_index.to_string(),
            ]);
        } else {
            table.add_row([
                n.node_id.to_string(),
                n.addr.clone(),
                format!("unreachable: {}", n.error),
            ]);
        }
    }
    println!("{table}");
    println!(
        "leader: node {} (term {}), as seen by node {}",
        s.leader_id, s.term, s.answered_by
    );
}

pub async fn cluster(target: &Target, command: ClusterCommand) -> anyhow::Result<()> {
    let client = target.client()?;
    let status = match command {
        ClusterCommand::Status => client.status().await.map_err(status)?,
        ClusterCommand::AddNode { id, addr } => client.add_node(id, &addr).await.map_err(status)?,
        ClusterCommand::RemoveNode { id } => client.remove_node(id).await.map_err(status)?,
    };
    print_status(&status);
    Ok(())
}

fn print_shows(shows: &[v1::Show]) {
    let mut table = Table::new();
    table.set_header([
        "show",
        "title",
        "seats",
        "price",
        "available",
        "held",
        "booked",
    ]);
    for s in shows {
        table.add_row([
            s.show_id.clone(),
            s.title.clone(),
            s.seat_count.to_string(),
            money(s.price_cents),
            s.available.to_string(),
            s.held.to_string(),
            s.booked.to_string(),
        ]);
    }
    println!("{table}");
}

pub async fn show(target: &Target, command: ShowCommand) -> anyhow::Result<()> {
    let client = target.client()?;
    match command {
        ShowCommand::List { stale } => {
            print_shows(&client.list_shows(stale).await.map_err(status)?)
        }
        ShowCommand::Get { id, stale } => {
            let (show, seats) = client.seat_map(&id, stale).await.map_err(status)?;
            print_shows(&[show]);
            let line: String = seats
                .iter()
                .map(
                    |s| match SeatState::try_from(s.state).unwrap_or(SeatState::Unspecified) {
                        SeatState::Available => '.',
                        SeatState::Held => 'h',
                        SeatState::Booked => 'X',
                        SeatState::Unspecified => '?',
                    },
                )
                .collect();
            println!("seats (. free, h held, X booked), 50 per row:");
            for (i, row) in line.as_bytes().chunks(50).enumerate() {
                println!("{:>6}  {}", i * 50 + 1, String::from_utf8_lossy(row));
            }
        }
        ShowCommand::Create {
            id,
            title,
            seats,
            price_cents,
            starts_at_ms,
        } => {
            let starts = starts_at_ms.unwrap_or_else(|| now_ms() + 30 * 24 * 3600 * 1000);
            print_shows(&[client
                .create_show(&id, &title, seats, price_cents, starts)
                .await
                .map_err(status)?]);
        }
        ShowCommand::Update {
            id,
            title,
            seats,
            price_cents,
            starts_at_ms,
        } => {
            if title.is_none() && seats.is_none() && price_cents.is_none() && starts_at_ms.is_none()
            {
                bail!("nothing to change: give --title, --seats, --price-cents or --starts-at-ms");
            }
            let msg = v1::UpdateShowRequest {
                show_id: id,
                title,
                seat_count: seats,
                price_cents,
                starts_at_ms,
                ..Default::default()
            };
            print_shows(&[client.update_show(msg).await.map_err(status)?]);
        }
    }
    Ok(())
}

fn print_bookings(bookings: &[v1::Booking]) {
    let mut table = Table::new();
    table.set_header(["booking", "show", "seats", "total", "status", "payment"]);
    for b in bookings {
        let status = match BookingStatus::try_from(b.status).unwrap_or(BookingStatus::Unspecified) {
            BookingStatus::Held => "held",
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Released => "released",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Unspecified => "?",
        };
        let payment = match v1::PaymentStatus::try_from(b.payment_status)
            .unwrap_or(v1::PaymentStatus::Unspecified)
        {
            v1::PaymentStatus::None => "-",
            v1::PaymentStatus::Pending => "pending",
            v1::PaymentStatus::NotCharged => "not charged",
            v1::PaymentStatus::Charged => "charged",
            v1::PaymentStatus::RefundPending => "refund pending",
            v1::PaymentStatus::Refunded => "refunded",
            v1::PaymentStatus::Unspecified => "?",
        };
        let seats: Vec<String> = b.seat_nos.iter().map(u32::to_string).collect();
        table.add_row([
            b.booking_id.clone(),
            b.show_id.clone(),
            seats.join(","),
            money(b.total_cents),
            status.to_string(),
            payment.to_string(),
        ]);
    }
    println!("{table}");
}

pub async fn book(args: BookArgs) -> anyhow::Result<()> {
    let client = args.target.client()?;
    let card = match (args.card, args.exp, args.cvc) {
        (Some(number), Some((exp_month, exp_year)), Some(cvc)) => Some(v1::Card {
            number,
            exp_month,
            exp_year,
            cvc,
        }),
        _ => None,
    };
    let request_id = boxoffice_client::new_request_id();
    let booking = client
        .book_and_pay(&request_id, &args.show, &args.seats, card.as_ref())
        .await
        .map_err(status)
        .context("booking failed")?;
    print_bookings(&[booking]);
    Ok(())
}

pub async fn bookings(args: BookingsArgs) -> anyhow::Result<()> {
    let client = args.target.client()?;
    print_bookings(&client.list_bookings(args.stale).await.map_err(status)?);
    Ok(())
}

pub async fn cancel(args: CancelArgs) -> anyhow::Result<()> {
    let client = args.target.client()?;
    print_bookings(&[client
        .cancel(&args.booking)
        .await
        .map_err(status)
        .context("cancel failed")?]);
    Ok(())
}

fn user_line(u: &v1::User) -> String {
    let role = if u.admin { " (administrator)" } else { "" };
    format!("{} <{}>{role}", u.user_id, u.email)
}

pub async fn account(target: &AuthTarget, command: AccountCommand) -> anyhow::Result<()> {
    let client = target.client()?;
    match command {
        AccountCommand::Register { email, password } => {
            println!(
                "{}",
                user_line(&client.register(&email, &password).await.map_err(status)?)
            );
        }
        AccountCommand::Login { email, password } => {
            let session = client.login(&email, &password).await.map_err(status)?;
            // Only the export goes to stdout, so `eval "$(boxoffice account login …)"` works.
            if let Some(user) = &session.user {
                eprintln!("logged in as {}", user_line(user));
            }
            // The line is meant for `eval`: never print anything but a JWT.
            let token = &session.access_token;
            if token.is_empty()
                || !token
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                bail!("the auth service returned a malformed token");
            }
            println!("export BOXOFFICE_TOKEN={token}");
        }
        AccountCommand::Whoami => {
            println!("{}", user_line(&client.who_am_i().await.map_err(status)?))
        }
        AccountCommand::Logout => {
            client.logout().await.map_err(status)?;
            println!("logged out: every token of this account is revoked");
        }
    }
    Ok(())
}
