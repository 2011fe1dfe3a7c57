//! Scriptable client subcommands: thin wrappers over `boxoffice-client`.
//!
//! Each prints a table on a terminal, tab-separated lines when piped, or
//! one line of JSON with `--json` (the fields are listed in each command's
//! help); errors go to stderr with the exit codes of [`crate::output::exit`].

use std::collections::BTreeSet;
use std::io::IsTerminal;

use anyhow::{Context as _, bail};
use boxoffice_client::Client;
use boxoffice_client::proto as v1;
// Start times: `YYYY-MM-DD HH:MM` (UTC) or RFC 3339.
use boxoffice_view::parse_time as parse_start;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::output::{
    AnswerJson, BookingJson, ClusterJson, Output, SeatJson, ShowJson, UserJson, api, money,
    payment_name, role_name, seat_state_name, status_name, when,
};
use crate::seats;
use crate::session::{Connection, now_ms};

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
    /// The connection these options describe (and the saved session).
    pub fn connect(&self) -> anyhow::Result<Connection> {
        Connection::open(
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
    fn card(&self) -> Option<v1::Card> {
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

/// Reads a password: from the flag or environment, else a hidden prompt
/// on a terminal.
fn password(given: Option<String>, prompt: &str) -> anyhow::Result<String> {
    if let Some(password) = given {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password: give --password or BOXOFFICE_PASSWORD");
    }
    tokio::task::block_in_place(|| {
        inquire::Password::new(prompt)
            .with_display_mode(inquire::PasswordDisplayMode::Masked)
            .without_confirmation()
            .prompt()
    })
    .context("reading the password")
}

/// A connection whose saved session is fresh, and its node client.
async fn nodes(global: &Global) -> anyhow::Result<(Connection, Client)> {
    let mut connection = global.connect()?;
    connection.refresh_if_needed().await?;
    let client = connection.nodes()?;
    Ok((connection, client))
}

fn show_rows(shows: &[v1::Show]) -> Vec<Vec<String>> {
    shows
        .iter()
        .map(|s| {
            vec![
                s.show_id.clone(),
                s.title.clone(),
                when(s.starts_at_ms),
                money(s.price_cents),
                s.seat_count.to_string(),
                s.available.to_string(),
                s.held.to_string(),
                s.booked.to_string(),
            ]
        })
        .collect()
}

/// Prints shows.
pub fn print_shows(out: &Output, shows: &[v1::Show]) -> anyhow::Result<()> {
    if out.json {
        let all: Vec<ShowJson> = shows.iter().cloned().map(ShowJson::from).collect();
        return out.json(&all);
    }
    out.table(
        &[
            "show",
            "title",
            "starts",
            "price",
            "seats",
            "available",
            "held",
            "booked",
        ],
        show_rows(shows),
    );
    Ok(())
}

/// The table rows of bookings.
pub fn booking_rows(bookings: &[v1::Booking]) -> Vec<Vec<String>> {
    bookings
        .iter()
        .map(|b| {
            let seats: Vec<String> = b.seat_nos.iter().map(u32::to_string).collect();
            let status = match b.hold_expires_at_ms {
                0 => status_name(b.status).to_owned(),
                until => format!("{} until {}", status_name(b.status), when(until)),
            };
            vec![
                b.booking_id.clone(),
                b.show_id.clone(),
                seats.join(","),
                money(b.total_cents),
                status,
                payment_name(b.payment_status).replace('_', " "),
            ]
        })
        .collect()
}

/// Prints bookings (`one` prints a single object in JSON).
pub fn print_bookings(out: &Output, bookings: &[v1::Booking], one: bool) -> anyhow::Result<()> {
    if out.json {
        let all: Vec<BookingJson> = bookings.iter().map(BookingJson::from).collect();
        return match (one, all.first()) {
            (true, Some(first)) => out.json(first),
            _ => out.json(&all),
        };
    }
    out.table(
        &["booking", "show", "seats", "total", "status", "payment"],
        booking_rows(bookings),
    );
    Ok(())
}

/// Prints a cluster status.
pub fn print_status(out: &Output, s: &v1::GetStatusResponse) -> anyhow::Result<()> {
    if out.json {
        return out.json(&ClusterJson::from(s));
    }
    let rows = s
        .nodes
        .iter()
        .map(|n| {
            let mut row = vec![
                n.node_id.to_string(),
                n.addr.clone(),
                role_name(n).to_owned(),
            ];
            if n.reachable {
                row.extend(
                    [
                        n.term,
                        n.leader_id,
                        n.last_log_index,
                        n.commit_index,
                        n.applied_index,
                        n.snapshot_index,
                    ]
                    .map(|v| v.to_string()),
                );
            } else {
                row.push(n.error.clone());
            }
            row
        })
        .collect();
    out.table(
        &[
            "node", "address", "role", "term", "leader", "last log", "commit", "applied",
            "snapshot",
        ],
        rows,
    );
    if !out.json && out.tty {
        println!(
            "leader: node {} (term {}), as seen by node {}",
            s.leader_id, s.term, s.answered_by
        );
    }
    Ok(())
}

fn print_user(out: &Output, user: &v1::User) -> anyhow::Result<()> {
    if out.json {
        return out.json(&UserJson::from(user));
    }
    let role = if user.admin { " (administrator)" } else { "" };
    println!("{} <{}>{role}", user.user_id, user.email);
    Ok(())
}

/// `boxoffice register`.
pub async fn register(global: &Global, email: &str, given: Option<String>) -> anyhow::Result<()> {
    let connection = global.connect()?;
    let password = password(given, "Password:")?;
    let user = connection
        .auth()?
        .register(email, &password)
        .await
        .map_err(api)
        .context("registering")?;
    print_user(&Output::new(global.json), &user)
}

/// `boxoffice login`: keeps the session in the client's directory.
pub async fn login(global: &Global, email: &str, given: Option<String>) -> anyhow::Result<()> {
    let mut connection = global.connect()?;
    let password = password(given, "Password:")?;
    let auth = connection.client_of(&[connection.auth.as_str()])?;
    let session = auth
        .login(email, &password)
        .await
        .map_err(api)
        .context("logging in")?;
    connection.remember(&session)?;
    let user = session.user.unwrap_or_default();
    let out = Output::new(global.json);
    if out.json {
        return out.json(&UserJson::from(&user));
    }
    println!(
        "logged in as {} <{}>{}; session saved in {}",
        user.user_id,
        user.email,
        if user.admin { " (administrator)" } else { "" },
        connection.paths.session_file().display()
    );
    Ok(())
}

/// `boxoffice logout`: ends every session of the account and forgets it here.
pub async fn logout(global: &Global) -> anyhow::Result<()> {
    let mut connection = global.connect()?;
    if connection.token().is_none() {
        return Err(api(tonic::Status::unauthenticated("not logged in")));
    }
    let ended = connection.auth()?.logout().await;
    connection.forget()?;
    match ended {
        Ok(()) => {}
        // An expired or revoked session is over anyway.
        Err(status) if status.code() == tonic::Code::Unauthenticated => {}
        Err(status) => return Err(api(status)).context("logging out"),
    }
    let out = Output::new(global.json);
    if out.json {
        return out.json(&serde_json::json!({"logged_out": true}));
    }
    println!("logged out: every session of this account has ended");
    Ok(())
}

/// `boxoffice whoami`.
pub async fn whoami(global: &Global) -> anyhow::Result<()> {
    let mut connection = global.connect()?;
    connection.refresh_if_needed().await?;
    let user = connection.auth()?.who_am_i().await.map_err(api)?;
    print_user(&Output::new(global.json), &user)
}

/// `boxoffice passwd`.
pub async fn passwd(
    global: &Global,
    old: Option<String>,
    new: Option<String>,
) -> anyhow::Result<()> {
    let mut connection = global.connect()?;
    connection.refresh_if_needed().await?;
    let old = password(old, "Current password:")?;
    let new = password(new, "New password:")?;
    let session = connection
        .auth()?
        .change_password(&old, &new)
        .await
        .map_err(api)
        .context("changing the password")?;
    connection.remember(&session)?;
    let out = Output::new(global.json);
    if out.json {
        return out.json(&serde_json::json!({"changed": true}));
    }
    println!("password changed: every other session has ended");
    Ok(())
}

/// `boxoffice shows …`.
pub async fn shows(global: &Global, command: ShowsCommand) -> anyhow::Result<()> {
    let (connection, client) = nodes(global).await?;
    let out = Output::new(global.json);
    match command {
        ShowsCommand::List { stale } => {
            print_shows(&out, &client.list_shows(stale).await.map_err(api)?)
        }
        ShowsCommand::Show { id, stale } => {
            let (show, map) = client.seat_map(&id, stale).await.map_err(api)?;
            let mine = my_seats(&connection, &client, &id).await;
            if out.json {
                #[derive(Serialize)]
                struct MapJson {
                    show: ShowJson,
                    seats: Vec<SeatJson>,
                    mine: Vec<u32>,
                }
                return out.json(&MapJson {
                    show: ShowJson::from(show),
                    seats: map.into_iter().map(SeatJson::from).collect(),
                    mine: mine.into_iter().collect(),
                });
            }
            if out.tty {
                print_shows(&out, std::slice::from_ref(&show))?;
                println!(
                    "{}",
                    seats::render(&map, &mine, 20, console::colors_enabled())
                );
            } else {
                let rows = map
                    .iter()
                    .map(|s| {
                        let state = match mine.contains(&s.seat_no) {
                            true => "yours",
                            false => seat_state_name(s.state),
                        };
                        vec![s.seat_no.to_string(), state.to_owned()]
                    })
                    .collect();
                out.table(&["seat", "state"], rows);
            }
            Ok(())
        }
    }
}

/// The seats the logged-in user holds or has booked in `show` (none when
/// not logged in).
pub async fn my_seats(connection: &Connection, client: &Client, show: &str) -> BTreeSet<u32> {
    if connection.token().is_none() {
        return BTreeSet::new();
    }
    client
        .list_bookings(false)
        .await
        .unwrap_or_default()
        .iter()
        .filter(|b| b.show_id == show)
        .filter(|b| status_name(b.status) == "held" || status_name(b.status) == "confirmed")
        .flat_map(|b| b.seat_nos.clone())
        .collect()
}

/// Seats from the command line, or an INVALID_ARGUMENT error (exit code 2).
fn parse_seats(args: &[String]) -> anyhow::Result<Vec<u32>> {
    seats::parse(&args.join(","), None).map_err(|hint| api(tonic::Status::invalid_argument(hint)))
}

/// `boxoffice book`.
pub async fn book(
    global: &Global,
    show: &str,
    seat_args: &[String],
    card: &CardArgs,
) -> anyhow::Result<()> {
    let seats = parse_seats(seat_args)?;
    let (_, client) = nodes(global).await?;
    let request_id = boxoffice_client::new_request_id();
    let booking = client
        .book_and_pay(&request_id, show, &seats, card.card().as_ref())
        .await
        .map_err(api)
        .context("booking failed")?;
    print_bookings(&Output::new(global.json), &[booking], true)
}

/// `boxoffice hold`.
pub async fn hold(global: &Global, show: &str, seat_args: &[String]) -> anyhow::Result<()> {
    let seats = parse_seats(seat_args)?;
    let (_, client) = nodes(global).await?;
    let booking = client
        .hold(show, &seats)
        .await
        .map_err(api)
        .context("holding failed")?;
    print_bookings(&Output::new(global.json), &[booking], true)
}

/// `boxoffice pay`.
pub async fn pay(global: &Global, booking: &str, card: &CardArgs) -> anyhow::Result<()> {
    let card = card
        .card()
        .context("give the card: --card NUMBER --exp MM/YY --cvc CVC")?;
    let (_, client) = nodes(global).await?;
    let paid = client
        .pay(booking, &card)
        .await
        .map_err(api)
        .context("payment failed")?;
    print_bookings(&Output::new(global.json), &[paid], true)
}

/// `boxoffice bookings …`.
pub async fn bookings(global: &Global, command: BookingsCommand) -> anyhow::Result<()> {
    let (_, client) = nodes(global).await?;
    let out = Output::new(global.json);
    match command {
        BookingsCommand::List { stale } => print_bookings(
            &out,
            &client.list_bookings(stale).await.map_err(api)?,
            false,
        ),
        BookingsCommand::Cancel { booking } => {
            let cancelled = client
                .cancel(&booking)
                .await
                .map_err(api)
                .context("cancel failed")?;
            print_bookings(&out, &[cancelled], true)
        }
    }
}

/// `boxoffice admin shows …`.
pub async fn admin_shows(global: &Global, command: AdminShowsCommand) -> anyhow::Result<()> {
    let (_, client) = nodes(global).await?;
    let show = match command {
        AdminShowsCommand::Create {
            id,
            title,
            seats,
            price_cents,
            starts_at,
        } => {
            let starts = starts_at.unwrap_or_else(|| now_ms() + 30 * 24 * 3600 * 1000);
            client
                .create_show(&id, &title, seats, price_cents, starts)
                .await
                .map_err(api)
                .context("creating the show")?
        }
        AdminShowsCommand::Update {
            id,
            title,
            seats,
            price_cents,
            starts_at,
        } => {
            let msg = v1::UpdateShowRequest {
                show_id: id,
                title,
                seat_count: seats,
                price_cents,
                starts_at_ms: starts_at,
                ..Default::default()
            };
            client
                .update_show(msg)
                .await
                .map_err(api)
                .context("updating the show")?
        }
    };
    let out = Output::new(global.json);
    if out.json {
        return out.json(&ShowJson::from(show));
    }
    print_shows(&out, &[show])
}

/// `boxoffice admin users …`.
pub async fn admin_users(global: &Global, command: AdminUsersCommand) -> anyhow::Result<()> {
    let mut connection = global.connect()?;
    connection.refresh_if_needed().await?;
    let out = Output::new(global.json);
    match command {
        AdminUsersCommand::List => {
            let users = connection.auth()?.list_users().await.map_err(api)?;
            print_users(&out, &users)
        }
    }
}

/// Prints accounts.
pub fn print_users(out: &Output, users: &[v1::User]) -> anyhow::Result<()> {
    if out.json {
        let all: Vec<UserJson> = users.iter().map(UserJson::from).collect();
        return out.json(&all);
    }
    let rows = users
        .iter()
        .map(|u| {
            let role = if u.admin { "administrator" } else { "customer" };
            vec![u.user_id.clone(), u.email.clone(), role.to_owned()]
        })
        .collect();
    out.table(&["user", "email", "role"], rows);
    Ok(())
}

/// `boxoffice cluster …`.
pub async fn cluster(global: &Global, command: ClusterCommand) -> anyhow::Result<()> {
    let (_, client) = nodes(global).await?;
    let status = match command {
        ClusterCommand::Status => client.status().await.map_err(api)?,
        ClusterCommand::AddNode { id, addr } => client.add_node(id, &addr).await.map_err(api)?,
        ClusterCommand::RemoveNode { id } => client.remove_node(id).await.map_err(api)?,
    };
    print_status(&Output::new(global.json), &status)
}

/// `boxoffice chatbot ask`.
pub async fn ask(global: &Global, text: &str, session: &str) -> anyhow::Result<()> {
    let mut connection = global.connect()?;
    connection.refresh_if_needed().await?;
    let reply = connection
        .chatbot()?
        .ask(session, text)
        .await
        .map_err(api)
        .context("asking the assistant")?;
    let out = Output::new(global.json);
    if out.json {
        return out.json(&AnswerJson::from(reply));
    }
    println!("{}", reply.reply);
    for s in &reply.suggestions {
        println!("  → {}", s.label);
    }
    Ok(())
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
