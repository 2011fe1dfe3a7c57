//! Scriptable client subcommands: thin wrappers over `boxoffice-client`.
//!
//! Each prints a table on a terminal, tab-separated lines when piped, or
//! one line of JSON with `--json` (the fields are listed in each command's
//! help); errors go to stderr with the exit codes of [`crate::output::exit`].

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;

use anyhow::{Context as _, bail};
use boxoffice_client::Client;
use boxoffice_client::proto as v1;
use futures::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;

use crate::args::{
    AdminShowsCommand, AdminUsersCommand, BookingsCommand, CardArgs, ClusterCommand, Global,
    ShowsCommand,
};
use crate::output::{
    AnswerJson, BookingJson, ClusterJson, Output, SeatJson, ShowJson, UserJson, api, money,
    payment_name, role_name, seat_state_name, status_name, when,
};
use crate::seats;
use crate::session::{Target, now_ms};

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

/// The target with its saved session refreshed, and its node client.
pub(crate) async fn nodes(global: &Global) -> anyhow::Result<(Target, Client)> {
    let mut target = global.target()?;
    target.refresh_if_needed().await?;
    let client = target.nodes()?;
    Ok((target, client))
}

fn show_rows(shows: &[v1::Show]) -> Vec<Vec<String>> {
    shows
        .iter()
        .map(|s| {
            vec![
                s.show_id.clone(),
                s.title.clone(),
                when(s.starts_at_ms),
                s.venue_id.clone(),
                s.state.clone(),
                money(s.price_cents),
                s.seat_count.to_string(),
                s.available.to_string(),
                s.held.to_string(),
                s.booked.to_string(),
            ]
        })
        .collect()
}

/// A show as `shows list` prints it in JSON: the common fields, and for
/// a performance its production, venue, state and seats held back.
#[derive(Serialize)]
pub struct ListedShowJson {
    /// The fields every show has.
    #[serde(flatten)]
    pub show: ShowJson,
    /// Its production; empty for a simple show.
    pub production_id: String,
    /// Its venue; empty for a simple show.
    pub venue_id: String,
    /// scheduled, on sale, off sale, cancelled or past.
    pub state: String,
    /// Seats held back from sale.
    pub held_back: u32,
}

impl From<&v1::Show> for ListedShowJson {
    fn from(s: &v1::Show) -> Self {
        Self {
            show: ShowJson::from(s.clone()),
            production_id: s.production_id.clone(),
            venue_id: s.venue_id.clone(),
            state: s.state.clone(),
            held_back: s.held_back,
        }
    }
}

/// Prints shows (for a performance `price_cents` is what the caller put
/// there: its lowest price, or the "from" price of `shows list`).
pub fn print_shows(out: &Output, shows: &[v1::Show]) -> anyhow::Result<()> {
    if out.json {
        let all: Vec<ListedShowJson> = shows.iter().map(ListedShowJson::from).collect();
        return out.json(&all);
    }
    out.table(
        &[
            "show",
            "title",
            "starts",
            "venue",
            "state",
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

/// How many price tables `shows list` reads at once.
const PRICE_READS_IN_FLIGHT: usize = 8;

/// The "from" price of a price table: the lowest price of its default
/// (first) ticket type, else its lowest price.
pub fn from_price(prices: &v1::PriceTable) -> Option<i64> {
    let default = prices.ticket_types.first();
    prices
        .prices
        .iter()
        .filter(|p| Some(&p.ticket_type) == default)
        .map(|p| p.cents)
        .min()
        .or_else(|| prices.prices.iter().map(|p| p.cents).min())
}

/// Shows as buyers look for them: each production's performances in
/// time order, then the simple shows (each its own production, at no
/// stored venue) in time order.
pub fn buyers_order(mut shows: Vec<v1::Show>) -> Vec<v1::Show> {
    shows.sort_by_cached_key(|s| {
        let simple = s.venue_id.is_empty();
        let production = if simple { "" } else { s.production_id.as_str() };
        (
            simple,
            production.to_owned(),
            s.starts_at_ms,
            s.show_id.clone(),
        )
    });
    shows
}

/// The table rows of bookings.
pub fn booking_rows(bookings: &[v1::Booking]) -> Vec<Vec<String>> {
    bookings
        .iter()
        .map(|b| {
            let seats: Vec<String> = match b.tickets.is_empty() {
                true => b.seat_nos.iter().map(u32::to_string).collect(),
                false => b.tickets.iter().map(|t| t.label.clone()).collect(),
            };
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
                row.push(format_versions(n));
            } else {
                row.push(n.error.clone());
            }
            row
        })
        .collect();
    out.table(
        &[
            "node", "address", "role", "term", "leader", "last log", "commit", "applied",
            "snapshot", "format",
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

/// The format versions a node writes and reads, as `writes/reads`
/// (`?` from a build too old to say).
fn format_versions(n: &v1::NodeStatus) -> String {
    match n.reads_format {
        0 => "?".to_owned(),
        reads => format!("{}/{reads}", n.writes_format),
    }
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
    let target = global.target()?;
    let password = password(given, "Password:")?;
    let user = target
        .auth()?
        .register(email, &password)
        .await
        .map_err(api)
        .context("registering")?;
    print_user(&Output::new(global.json), &user)
}

/// `boxoffice login`: keeps the session in the client's directory.
pub async fn login(global: &Global, email: &str, given: Option<String>) -> anyhow::Result<()> {
    let mut target = global.target()?;
    let password = password(given, "Password:")?;
    let auth = target.client_of(&[target.auth.as_str()])?;
    let session = auth
        .login(email, &password)
        .await
        .map_err(api)
        .context("logging in")?;
    target.remember(&session)?;
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
        target.paths.session_file().display()
    );
    Ok(())
}

/// `boxoffice logout`: ends every session of the account and forgets it here.
pub async fn logout(global: &Global) -> anyhow::Result<()> {
    let mut target = global.target()?;
    if target.token().is_none() {
        return Err(api(tonic::Status::unauthenticated("not logged in")));
    }
    let ended = target.auth()?.logout().await;
    target.forget()?;
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
    let mut target = global.target()?;
    target.refresh_if_needed().await?;
    let user = target.auth()?.who_am_i().await.map_err(api)?;
    print_user(&Output::new(global.json), &user)
}

/// `boxoffice passwd`.
pub async fn passwd(
    global: &Global,
    old: Option<String>,
    new: Option<String>,
) -> anyhow::Result<()> {
    let mut target = global.target()?;
    target.refresh_if_needed().await?;
    let old = password(old, "Current password:")?;
    let new = password(new, "New password:")?;
    let session = target
        .auth()?
        .change_password(&old, &new)
        .await
        .map_err(api)
        .context("changing the password")?;
    target.remember(&session)?;
    let out = Output::new(global.json);
    if out.json {
        return out.json(&serde_json::json!({"changed": true}));
    }
    println!("password changed: every other session has ended");
    Ok(())
}

/// A show's seats with their plan and prices, page by page.
#[derive(Clone, Debug)]
pub struct ShowPlan {
    /// The show and its counts.
    pub show: v1::Show,
    /// Every seat's state.
    pub seats: Vec<v1::Seat>,
    /// Every seat's label and category.
    pub layout: Vec<v1::SeatLayout>,
    /// Its categories, types and prices.
    pub prices: v1::PriceTable,
}

/// Fetches `show_id` with every seat, its plan and prices (each page is
/// a separate read, as in [`Client::seat_map`]).
pub async fn fetch_plan(client: &Client, show_id: &str, stale: bool) -> anyhow::Result<ShowPlan> {
    let mut plan = ShowPlan {
        show: v1::Show::default(),
        seats: Vec::new(),
        layout: Vec::new(),
        prices: v1::PriceTable::default(),
    };
    let mut token = 0;
    loop {
        let page = client
            .get_show(show_id, boxoffice_client::MAX_SEAT_PAGE, token, stale)
            .await
            .map_err(api)?;
        plan.seats.extend(page.seats);
        plan.layout.extend(page.layout);
        if token == 0 {
            plan.show = page.show.unwrap_or_default();
            plan.prices = page.prices.unwrap_or_default();
        }
        if page.next_page_token == 0 {
            return Ok(plan);
        }
        token = page.next_page_token;
    }
}

/// A performance's seat map by section, row and label, coloured by price
/// category when colours are on; `None` for a simple show (no venue).
pub async fn plan_text(
    client: &Client,
    plan: &ShowPlan,
    mine: &BTreeSet<u32>,
) -> anyhow::Result<Option<String>> {
    if plan.show.venue_id.is_empty() {
        return Ok(None);
    }
    let venue = crate::venues::fetch_venue(client, &plan.show.venue_id).await?;
    Ok(Some(seats::render_plan(
        &seats::Plan {
            venue: &venue,
            seats: &plan.seats,
            layout: &plan.layout,
            prices: &plan.prices,
            mine,
        },
        console::colors_enabled(),
    )))
}

/// One seat in `shows show --json`: its number and state, and for a
/// performance its label and category.
#[derive(Serialize)]
struct PlanSeatJson {
    #[serde(flatten)]
    seat: SeatJson,
    #[serde(skip_serializing_if = "String::is_empty")]
    label: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    category: String,
}

/// `boxoffice shows …`.
pub async fn shows(global: &Global, command: ShowsCommand) -> anyhow::Result<()> {
    let (target, client) = nodes(global).await?;
    let out = Output::new(global.json);
    match command {
        ShowsCommand::List { stale } => {
            let mut shows = buyers_order(client.list_shows(stale).await.map_err(api)?);
            // A performance's own price is its lowest over every type,
            // free companion tickets included; buyers want the cheapest
            // ticket of the default type, which its price table says (a
            // few tables at a time, so that a long run lists quickly).
            let client = &client;
            let performances = shows
                .iter()
                .filter(|s| !s.venue_id.is_empty())
                .map(|s| s.show_id.clone());
            let froms: BTreeMap<String, Option<i64>> = futures::stream::iter(performances)
                .map(|id| async move {
                    let page = client.get_show(&id, 1, 0, stale).await?;
                    Ok::<_, tonic::Status>((id, from_price(&page.prices.unwrap_or_default())))
                })
                .buffered(PRICE_READS_IN_FLIGHT)
                .try_collect()
                .await
                .map_err(api)?;
            for show in &mut shows {
                if let Some(Some(from)) = froms.get(&show.show_id) {
                    show.price_cents = *from;
                }
            }
            print_shows(&out, &shows)
        }
        ShowsCommand::Show { id, stale } => {
            let plan = fetch_plan(&client, &id, stale).await?;
            let mine = my_seats(&target, &client, &id).await;
            let drawn = plan_text(&client, &plan, &mine).await?;
            let label_of: BTreeMap<u32, &v1::SeatLayout> =
                plan.layout.iter().map(|l| (l.seat_no, l)).collect();
            if out.json {
                #[derive(Serialize)]
                struct MapJson {
                    show: ListedShowJson,
                    seats: Vec<PlanSeatJson>,
                    mine: Vec<u32>,
                }
                let seats = plan
                    .seats
                    .iter()
                    .map(|s| {
                        let layout = label_of.get(&s.seat_no);
                        PlanSeatJson {
                            seat: SeatJson::from(*s),
                            label: layout.map(|l| l.label.clone()).unwrap_or_default(),
                            category: layout.map(|l| l.category.clone()).unwrap_or_default(),
                        }
                    })
                    .collect();
                return out.json(&MapJson {
                    show: ListedShowJson::from(&plan.show),
                    seats,
                    mine: mine.into_iter().collect(),
                });
            }
            if out.tty {
                print_shows(&out, std::slice::from_ref(&plan.show))?;
            }
            match drawn {
                Some(text) => println!("{text}"),
                None if out.tty => println!(
                    "{}",
                    seats::render(&plan.seats, &mine, 20, console::colors_enabled())
                ),
                None => {
                    let rows = plan
                        .seats
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
            }
            Ok(())
        }
    }
}

/// The seats the logged-in user holds or has booked in `show` (none when
/// not logged in).
pub async fn my_seats(target: &Target, client: &Client, show: &str) -> BTreeSet<u32> {
    if target.token().is_none() {
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
    let mut target = global.target()?;
    target.refresh_if_needed().await?;
    let out = Output::new(global.json);
    match command {
        AdminUsersCommand::List => {
            let users = target.auth()?.list_users().await.map_err(api)?;
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
    let mut target = global.target()?;
    target.refresh_if_needed().await?;
    let reply = target
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
