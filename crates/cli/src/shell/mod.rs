//! `boxoffice shell` (and `boxoffice` alone): the interactive client.
//!
//! A menu chosen with the arrow keys (or by typing part of an entry),
//! with a status line saying who is logged in, which node answered and
//! which node leads. Every typed answer is checked at the prompt: a bad
//! one gets a hint and the prompt asks again; Esc goes back to the menu.
//! It shares the saved session with the scriptable commands, and the
//! client library's failover: when the node it talks to dies, the next
//! action goes to another node and the shell says so in one line.
//!
//! The menu, status line, seat maps and checkout are here; the account
//! and administration actions in `account`, the assistant in
//! `assistant`, the checked prompts in `prompts`.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context as _, bail};
use boxoffice_client::Client;
use boxoffice_client::proto as v1;
use console::style;
use indicatif::{ProgressBar, ProgressStyle};
use inquire::error::InquireResult;
use inquire::validator::Validation;
use inquire::{Confirm, InquireError, Select, Text};

use crate::args::Global;
use crate::commands;
use crate::output::{Output, api, money, status_name, when};
use crate::seats;
use crate::session::{Target, now_ms};

mod account;
mod assistant;
mod order;
mod prompts;

use prompts::ask_card;

/// Runs the shell until the user quits.
pub async fn run(global: &Global) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        bail!(
            "the shell needs a terminal; in scripts use the subcommands (see `boxoffice --help`)"
        );
    }
    let mut shell = Shell::open(global).await?;
    println!(
        "{}",
        style("Boxoffice: arrow keys to choose, Enter to confirm, Esc to go back.").bold()
    );
    shell.run().await
}

/// A menu entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    ListShows,
    SeatMap,
    Book,
    MyBookings,
    Cancel,
    Register,
    Login,
    ChangePassword,
    Logout,
    ClusterStatus,
    Assistant,
    CreateShow,
    UpdateShow,
    ListUsers,
    Quit,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::ListShows => "List shows",
            Action::SeatMap => "Show details and seat map",
            Action::Book => "Book seats",
            Action::MyBookings => "My bookings",
            Action::Cancel => "Cancel a booking",
            Action::Register => "Register",
            Action::Login => "Log in",
            Action::ChangePassword => "Change password",
            Action::Logout => "Log out",
            Action::ClusterStatus => "Cluster status",
            Action::Assistant => "Ask the assistant",
            Action::CreateShow => "Admin: add a show",
            Action::UpdateShow => "Admin: update a show",
            Action::ListUsers => "Admin: list users",
            Action::Quit => "Quit",
        })
    }
}

/// What a prompt gave: an answer, or the user went back (Esc, Ctrl-C).
type Answer<T> = anyhow::Result<Option<T>>;

/// Runs a blocking prompt off the async workers; Esc or Ctrl-C is `None`.
fn ask<T>(prompt: impl FnOnce() -> InquireResult<T>) -> Answer<T> {
    match tokio::task::block_in_place(prompt) {
        Ok(answer) => Ok(Some(answer)),
        Err(InquireError::OperationCanceled | InquireError::OperationInterrupted) => Ok(None),
        Err(e) => Err(e).context("reading your answer"),
    }
}

/// Runs `work` under a spinner saying `what`.
async fn spin<T>(what: &str, work: impl std::future::Future<Output = T>) -> T {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.set_message(what.to_owned());
    spinner.enable_steady_tick(Duration::from_millis(80));
    let result = work.await;
    spinner.finish_and_clear();
    result
}

/// `m:ss` until `until_ms`.
fn remaining(until_ms: i64) -> String {
    let secs = (until_ms - now_ms()).max(0) / 1000;
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// Prints a success line.
fn done(message: impl std::fmt::Display) {
    println!("{} {message}", style("✓").green().bold());
}

/// What a checkout buys: seat numbers, a ticket type for each (none for
/// the default) and the quoted total.
struct Order {
    seats: Vec<u32>,
    types: Vec<String>,
    total: i64,
}

struct Shell {
    target: Target,
    client: Client,
    out: Output,
}

impl Shell {
    async fn open(global: &Global) -> anyhow::Result<Self> {
        let mut target = global.target()?;
        if let Err(e) = target.refresh_if_needed().await {
            println!("{} {e:#}", style("!").yellow());
        }
        let client = target.nodes()?;
        Ok(Self {
            target,
            client,
            out: Output::new(false),
        })
    }

    fn logged_in(&self) -> bool {
        self.target.session.is_some()
    }

    fn admin(&self) -> bool {
        self.target.session.as_ref().is_some_and(|s| s.admin)
    }

    /// Rebuilds the node client after the session changed.
    fn reconnect(&mut self) -> anyhow::Result<()> {
        self.client = self.target.nodes()?;
        Ok(())
    }

    async fn run(&mut self) -> anyhow::Result<()> {
        loop {
            self.status_line().await;
            let menu = self.menu();
            let Some(action) = ask(|| {
                Select::new("What would you like to do?", menu)
                    .with_page_size(14)
                    .prompt()
            })?
            else {
                return Ok(());
            };
            if action == Action::Quit {
                return Ok(());
            }
            if let Err(e) = self.refresh().await {
                println!("{} {e:#}", style("✗").red().bold());
                continue;
            }
            if let Err(e) = self.act(action).await {
                println!("{} {e:#}", style("✗").red().bold());
            }
        }
    }

    /// Keeps the session fresh; a session that ended logs the user out.
    async fn refresh(&mut self) -> anyhow::Result<()> {
        let before = self.target.token().map(str::to_owned);
        let refreshed = self.target.refresh_if_needed().await;
        if before.as_deref() != self.target.token() {
            // A new access token, or none: the node client must send it.
            self.reconnect()?;
        }
        refreshed
    }

    fn menu(&self) -> Vec<Action> {
        let mut menu = vec![Action::ListShows, Action::SeatMap];
        if self.logged_in() {
            menu.extend([Action::Book, Action::MyBookings, Action::Cancel]);
        } else {
            menu.extend([Action::Register, Action::Login]);
        }
        menu.extend([Action::Assistant, Action::ClusterStatus]);
        if self.admin() {
            menu.extend([Action::CreateShow, Action::UpdateShow, Action::ListUsers]);
        }
        if self.logged_in() {
            menu.extend([Action::ChangePassword, Action::Logout]);
        }
        menu.push(Action::Quit);
        menu
    }

    /// Prints who is logged in, which node answered and which leads; and
    /// a short notice when the client had to move to another node.
    async fn status_line(&mut self) {
        let status = self.client.status().await;
        let endpoint = self.client.current_endpoint().to_owned();
        if let Some((failed, answered)) = self.client.take_failover() {
            println!(
                "{} {failed} stopped answering; continuing through {answered}",
                style("note:").yellow()
            );
        }
        let who = match &self.target.session {
            Some(s) if s.admin => format!("{} (administrator)", s.email),
            Some(s) => s.email.clone(),
            None => "not logged in".to_owned(),
        };
        let cluster = match &status {
            Ok(s) => {
                let leader = s
                    .nodes
                    .iter()
                    .find(|n| n.node_id == s.leader_id)
                    .map_or(String::new(), |n| format!(" ({})", n.addr));
                match s.leader_id {
                    0 => format!("answered by {endpoint} · no leader yet"),
                    id => format!("answered by {endpoint} · leader node {id}{leader}"),
                }
            }
            Err(e) => format!("no node answers ({})", e.message()),
        };
        println!(
            "\n{} {} · {}",
            style("●").cyan(),
            style(who).bold(),
            style(cluster).dim()
        );
    }

    async fn act(&mut self, action: Action) -> anyhow::Result<()> {
        match action {
            Action::ListShows => self.list_shows().await,
            Action::SeatMap => self.seat_map().await,
            Action::Book => self.book().await,
            Action::MyBookings => self.my_bookings().await,
            Action::Cancel => self.cancel().await,
            Action::Register => self.register().await,
            Action::Login => self.login().await,
            Action::ChangePassword => self.change_password().await,
            Action::Logout => self.logout().await,
            Action::ClusterStatus => {
                let status = self.client.status().await.map_err(api)?;
                commands::print_status(&self.out, &status)
            }
            Action::Assistant => self.assistant().await,
            Action::CreateShow => self.create_show().await,
            Action::UpdateShow => self.update_show().await,
            Action::ListUsers => {
                let users = self.target.auth()?.list_users().await.map_err(api)?;
                commands::print_users(&self.out, &users)
            }
            Action::Quit => Ok(()),
        }
    }

    async fn list_shows(&self) -> anyhow::Result<()> {
        let shows = self.client.list_shows(false).await.map_err(api)?;
        if shows.is_empty() {
            println!("no shows yet");
            return Ok(());
        }
        commands::print_shows(&self.out, &shows)
    }

    async fn my_bookings(&self) -> anyhow::Result<()> {
        let bookings = self.client.list_bookings(false).await.map_err(api)?;
        if bookings.is_empty() {
            println!("no bookings yet");
            return Ok(());
        }
        commands::print_bookings(&self.out, &bookings, false)
    }

    /// Asks which show; `None` if there is none or the user went back.
    async fn pick_show(&self) -> Answer<v1::Show> {
        let shows = self.client.list_shows(false).await.map_err(api)?;
        if shows.is_empty() {
            println!("no shows yet");
            return Ok(None);
        }
        let labels: Vec<String> = shows
            .iter()
            .map(|s| {
                format!(
                    "{} · {} · {} · {} · {} free",
                    s.show_id,
                    s.title,
                    when(s.starts_at_ms),
                    money(s.price_cents),
                    s.available
                )
            })
            .collect();
        let chosen = ask(|| Select::new("Which show?", labels.clone()).raw_prompt())?;
        Ok(chosen.and_then(|choice| shows.get(choice.index).cloned()))
    }

    /// Asks for seats of `show` that the map shows free.
    fn ask_seats(&self, show: &v1::Show, map: &[v1::Seat]) -> Answer<Vec<u32>> {
        let count = show.seat_count;
        let map = map.to_vec();
        let validator = move |input: &str| {
            let verdict = match seats::parse(input, Some(count)) {
                Err(hint) => Validation::Invalid(hint.into()),
                Ok(wanted) => match seats::taken(&map, &wanted).as_slice() {
                    [] => Validation::Valid,
                    taken => Validation::Invalid(
                        format!("seat {} is taken: pick free (green) seats", taken[0]).into(),
                    ),
                },
            };
            Ok(verdict)
        };
        let answer = ask(|| {
            Text::new("Seats to book:")
                .with_help_message("e.g. 12-15,20 · Esc to go back")
                .with_validator(validator)
                .prompt()
        })?;
        Ok(answer.map(|input| seats::parse(&input, Some(count)).unwrap_or_default()))
    }

    async fn seat_map(&mut self) -> anyhow::Result<()> {
        let Some(show) = self.pick_show().await? else {
            return Ok(());
        };
        self.seat_map_of(&show.show_id).await
    }

    /// Shows `show_id`'s seat map and books from it.
    async fn seat_map_of(&mut self, show_id: &str) -> anyhow::Result<()> {
        let show = v1::Show {
            show_id: show_id.to_owned(),
            ..v1::Show::default()
        };
        let plan = commands::fetch_plan(&self.client, &show.show_id, false).await?;
        let mine = commands::my_seats(&self.target, &self.client, &show.show_id).await;
        commands::print_shows(&self.out, std::slice::from_ref(&plan.show))?;
        if let Some(text) = commands::plan_text(&self.client, &plan, &mine).await? {
            println!("{text}");
            if !self.logged_in() {
                println!("log in to book");
                return Ok(());
            }
            return self.checkout_performance(&plan).await;
        }
        let (show, map) = (plan.show, plan.seats);
        println!(
            "{}",
            seats::render(&map, &mine, 20, console::colors_enabled())
        );
        if !self.logged_in() {
            println!("log in to book");
            return Ok(());
        }
        let Some(wanted) = self.ask_seats(&show, &map)? else {
            return Ok(());
        };
        self.checkout_simple(&show, wanted).await
    }

    /// Asks for seats of a performance by label (checked against its plan
    /// at the prompt) and a ticket type for each, shows the quote, and
    /// pays.
    async fn checkout_performance(&mut self, plan: &commands::ShowPlan) -> anyhow::Result<()> {
        let validator = {
            let plan = plan.clone();
            move |input: &str| {
                Ok(match order::pick_seats(input, &plan) {
                    Ok(_) => Validation::Valid,
                    Err(why) => Validation::Invalid(why.into()),
                })
            }
        };
        let Some(input) = ask(|| {
            Text::new("Seats to book:")
                .with_help_message("by label, e.g. K-12,K-13 or \"Circle A-1\" · Esc to go back")
                .with_validator(validator)
                .prompt()
        })?
        else {
            return Ok(());
        };
        let chosen = order::pick_seats(&input, plan).map_err(|why| anyhow::anyhow!(why))?;
        self.buy_tickets(plan, &chosen).await
    }

    /// Asks a ticket type for each of the `chosen` seats of a performance,
    /// shows the quote, and pays.
    async fn buy_tickets(
        &mut self,
        plan: &commands::ShowPlan,
        chosen: &[order::Chosen],
    ) -> anyhow::Result<()> {
        let mut tickets = Vec::with_capacity(chosen.len());
        for seat in chosen {
            let offered = order::types_for(&plan.prices, &seat.category);
            let (ticket_type, cents) = match offered.as_slice() {
                [] => bail!(
                    "{} has no price: the box office has not priced it",
                    seat.label
                ),
                [only] => only.clone(),
                several => {
                    let names: Vec<String> = several
                        .iter()
                        .map(|(name, cents)| format!("{name} · {}", money(*cents)))
                        .collect();
                    let prompt = format!("Ticket for {} ({}):", seat.label, seat.category);
                    let Some(choice) = ask(|| Select::new(&prompt, names.clone()).raw_prompt())?
                    else {
                        return Ok(());
                    };
                    several[choice.index].clone()
                }
            };
            tickets.push((seat, ticket_type, cents));
        }
        let total: i64 = tickets.iter().map(|(_, _, cents)| cents).sum();
        let rows = tickets
            .iter()
            .map(|(seat, ticket_type, cents)| {
                vec![seat.label.clone(), ticket_type.clone(), money(*cents)]
            })
            .collect();
        self.out.table(&["seat", "type", "price"], rows);
        println!(
            "{} ticket(s) of {}: {}",
            tickets.len(),
            plan.show.title,
            style(money(total)).bold()
        );
        let order = Order {
            seats: tickets.iter().map(|(seat, _, _)| seat.seat_no).collect(),
            types: tickets.iter().map(|(_, t, _)| t.clone()).collect(),
            total,
        };
        self.checkout(&plan.show, &order).await
    }

    async fn book(&mut self) -> anyhow::Result<()> {
        let Some(show) = self.pick_show().await? else {
            return Ok(());
        };
        if !show.venue_id.is_empty() {
            return self.seat_map_of(&show.show_id).await;
        }
        let (show, map) = self
            .client
            .seat_map(&show.show_id, false)
            .await
            .map_err(api)?;
        let Some(wanted) = self.ask_seats(&show, &map)? else {
            return Ok(());
        };
        self.checkout_simple(&show, wanted).await
    }

    /// Shows the quote for `wanted` seats of a simple show, and pays.
    async fn checkout_simple(&mut self, show: &v1::Show, wanted: Vec<u32>) -> anyhow::Result<()> {
        let n = i64::try_from(wanted.len()).unwrap_or(i64::MAX);
        let total = show.price_cents.saturating_mul(n);
        println!(
            "{} seat(s) of {}: {} × {} = {}",
            wanted.len(),
            show.title,
            wanted.len(),
            money(show.price_cents),
            style(money(total)).bold()
        );
        let order = Order {
            seats: wanted,
            types: Vec::new(),
            total,
        };
        self.checkout(show, &order).await
    }

    /// Pays for `order` of `show`: at once, or hold first. The cluster
    /// prices it again; the booking shows what it charged.
    async fn checkout(&mut self, show: &v1::Show, order: &Order) -> anyhow::Result<()> {
        let (wanted, total) = (order.seats.as_slice(), order.total);
        let request_id = boxoffice_client::new_request_id();
        if total == 0 {
            let sure = ask(|| {
                Confirm::new("These seats are free of charge. Book them?")
                    .with_default(true)
                    .prompt()
            })?;
            if sure != Some(true) {
                return Ok(());
            }
            let booking = spin(
                "Booking…",
                self.client
                    .book(&show.show_id, wanted)
                    .types(order.types.clone())
                    .request_id(&request_id)
                    .into_future(),
            )
            .await
            .map_err(api)?;
            done(format!("booked: booking {}", booking.booking_id));
            return Ok(());
        }
        const NOW: &str = "Pay now";
        const HOLD: &str = "Hold the seats, then pay";
        let Some(how) = ask(|| Select::new("How do you want to pay?", vec![NOW, HOLD]).prompt())?
        else {
            return Ok(());
        };
        if how == NOW {
            let Some(card) = ask_card(None)? else {
                return Ok(());
            };
            let paid = spin(
                "Paying…",
                self.client
                    .book(&show.show_id, wanted)
                    .types(order.types.clone())
                    .request_id(&request_id)
                    .card(&card)
                    .into_future(),
            )
            .await
            .map_err(api)?;
            commands::print_bookings(&self.out, std::slice::from_ref(&paid), true)?;
            done(format!(
                "booked and paid: booking {} ({})",
                paid.booking_id,
                money(paid.total_cents)
            ));
            return Ok(());
        }
        let holding = self
            .client
            .book(&show.show_id, wanted)
            .types(order.types.clone())
            .request_id(&request_id)
            .hold();
        let held = spin("Holding…", holding).await.map_err(api)?;
        done(format!(
            "seats held until {} ({} left)",
            when(held.hold_expires_at_ms),
            remaining(held.hold_expires_at_ms)
        ));
        let Some(card) = ask_card(Some(held.hold_expires_at_ms))? else {
            let released = self.client.cancel(&held.booking_id).await.map_err(api)?;
            println!("hold released ({})", status_name(released.status));
            return Ok(());
        };
        let paid = spin("Paying…", self.client.pay(&held.booking_id, &card))
            .await
            .map_err(api)?;
        commands::print_bookings(&self.out, std::slice::from_ref(&paid), true)?;
        done(format!(
            "paid: booking {} ({})",
            paid.booking_id,
            money(paid.total_cents)
        ));
        Ok(())
    }

    async fn cancel(&mut self) -> anyhow::Result<()> {
        let bookings = self.client.list_bookings(false).await.map_err(api)?;
        let active: Vec<v1::Booking> = bookings
            .into_iter()
            .filter(|b| matches!(status_name(b.status), "held" | "confirmed"))
            .collect();
        if active.is_empty() {
            println!("no active bookings to cancel");
            return Ok(());
        }
        let labels: Vec<String> = active
            .iter()
            .map(|b| {
                let seats: Vec<String> = b.seat_nos.iter().map(u32::to_string).collect();
                format!(
                    "booking {} · {} · seats {} · {} · {}",
                    b.booking_id,
                    b.show_id,
                    seats.join(","),
                    money(b.total_cents),
                    status_name(b.status)
                )
            })
            .collect();
        let Some(choice) = ask(|| Select::new("Which booking?", labels.clone()).raw_prompt())?
        else {
            return Ok(());
        };
        let booking = &active[choice.index];
        let sure = ask(|| {
            Confirm::new(&format!(
                "Cancel booking {}? A paid booking is refunded in full.",
                booking.booking_id
            ))
            .with_default(false)
            .prompt()
        })?;
        if sure != Some(true) {
            return Ok(());
        }
        let cancelled = spin("Cancelling…", self.client.cancel(&booking.booking_id))
            .await
            .map_err(api)?;
        commands::print_bookings(&self.out, std::slice::from_ref(&cancelled), true)?;
        done(format!("booking {} cancelled", cancelled.booking_id));
        Ok(())
    }
}
