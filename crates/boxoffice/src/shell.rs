//! `boxoffice shell` (and `boxoffice` alone): the interactive client.
//!
//! A menu chosen with the arrow keys (or by typing part of an entry),
//! with a status line saying who is logged in, which node answered and
//! which node leads. Every typed answer is checked at the prompt: a bad
//! one gets a hint and the prompt asks again; Esc goes back to the menu.
//! It shares the saved session with the scriptable commands, and the
//! client library's failover: when the node it talks to dies, the next
//! action goes to another node and the shell says so in one line.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context as _, bail};
use boxoffice_client::Client;
use boxoffice_client::proto as v1;
use console::style;
use indicatif::{ProgressBar, ProgressStyle};
use inquire::error::InquireResult;
use inquire::validator::Validation;
use inquire::{Confirm, InquireError, Password, PasswordDisplayMode, Select, Text};

use crate::commands::{self, Global, parse_expiry};
use crate::output::{Output, api, money, status_name, when};
use crate::seats;
use crate::session::{Connection, now_ms};

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

struct Shell {
    connection: Connection,
    client: Client,
    out: Output,
}

impl Shell {
    async fn open(global: &Global) -> anyhow::Result<Self> {
        let mut connection = global.connect()?;
        if let Err(e) = connection.refresh_if_needed().await {
            println!("{} {e:#}", style("!").yellow());
        }
        let client = connection.nodes()?;
        Ok(Self {
            connection,
            client,
            out: Output::new(false),
        })
    }

    fn logged_in(&self) -> bool {
        self.connection.session.is_some()
    }

    fn admin(&self) -> bool {
        self.connection.session.as_ref().is_some_and(|s| s.admin)
    }

    /// Rebuilds the node client after the session changed.
    fn reconnect(&mut self) -> anyhow::Result<()> {
        self.client = self.connection.nodes()?;
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
        let before = self.connection.token().map(str::to_owned);
        let refreshed = self.connection.refresh_if_needed().await;
        if before.as_deref() != self.connection.token() {
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
        let who = match &self.connection.session {
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
                let users = self.connection.auth()?.list_users().await.map_err(api)?;
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
        let (show, map) = self
            .client
            .seat_map(&show.show_id, false)
            .await
            .map_err(api)?;
        let mine = commands::my_seats(&self.connection, &self.client, &show.show_id).await;
        commands::print_shows(&self.out, std::slice::from_ref(&show))?;
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
        self.checkout(&show, &wanted).await
    }

    async fn book(&mut self) -> anyhow::Result<()> {
        let Some(show) = self.pick_show().await? else {
            return Ok(());
        };
        let (show, map) = self
            .client
            .seat_map(&show.show_id, false)
            .await
            .map_err(api)?;
        let Some(wanted) = self.ask_seats(&show, &map)? else {
            return Ok(());
        };
        self.checkout(&show, &wanted).await
    }

    /// Pays for `wanted` seats of `show`: at once, or hold first.
    async fn checkout(&mut self, show: &v1::Show, wanted: &[u32]) -> anyhow::Result<()> {
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
                    .book_and_pay(&request_id, &show.show_id, wanted, None),
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
                    .book_and_pay(&request_id, &show.show_id, wanted, Some(&card)),
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
        let held = spin("Holding…", self.client.hold(&show.show_id, wanted))
            .await
            .map_err(api)?;
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

    /// A conversation with the assistant; its suggestions can be acted on.
    async fn assistant(&mut self) -> anyhow::Result<()> {
        let session = uuid::Uuid::new_v4().to_string();
        println!("Ask about shows, seats, your bookings, payments or refunds. Esc to go back.");
        loop {
            let Some(question) = ask(|| {
                Text::new("You:")
                    .with_validator(not_empty("type a question, or Esc to go back"))
                    .prompt()
            })?
            else {
                return Ok(());
            };
            let chatbot = self.connection.chatbot()?;
            let reply = spin("Thinking…", chatbot.ask(&session, &question))
                .await
                .map_err(api)
                .context("the assistant did not answer")?;
            println!("{} {}", style("Assistant:").cyan().bold(), reply.reply);
            if reply.suggestions.is_empty() {
                continue;
            }
            let mut options: Vec<String> =
                reply.suggestions.iter().map(|s| s.label.clone()).collect();
            options.push("Ask something else".to_owned());
            let Some(choice) = ask(|| Select::new("Next:", options.clone()).raw_prompt())? else {
                return Ok(());
            };
            let Some(chosen) = reply.suggestions.get(choice.index) else {
                continue;
            };
            if let Err(e) = self.follow(chosen).await {
                println!("{} {e:#}", style("✗").red().bold());
            }
        }
    }

    /// Acts on an assistant's suggestion.
    async fn follow(&mut self, suggestion: &v1::Suggestion) -> anyhow::Result<()> {
        use v1::SuggestionAction as A;
        match A::try_from(suggestion.action).unwrap_or(A::Unspecified) {
            A::HoldSeats if self.logged_in() => {
                let page = self
                    .client
                    .get_show(&suggestion.show_id, 1, 1, false)
                    .await
                    .map_err(api)?;
                let show = page.show.unwrap_or_default();
                self.checkout(&show, &suggestion.seat_nos).await
            }
            A::HoldSeats | A::LogIn if !self.logged_in() => self.login().await,
            A::ViewSeatMap => self.seat_map_of(&suggestion.show_id).await,
            A::ListBookings => self.my_bookings().await,
            A::CancelBooking => {
                let sure = ask(|| {
                    Confirm::new(&format!(
                        "Cancel booking {}? A paid booking is refunded in full.",
                        suggestion.booking_id
                    ))
                    .with_default(false)
                    .prompt()
                })?;
                if sure != Some(true) {
                    return Ok(());
                }
                let cancelled = self
                    .client
                    .cancel(&suggestion.booking_id)
                    .await
                    .map_err(api)?;
                done(format!("booking {} cancelled", cancelled.booking_id));
                Ok(())
            }
            A::ListShows => self.list_shows().await,
            _ => Ok(()),
        }
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

    async fn register(&mut self) -> anyhow::Result<()> {
        let Some(email) = ask_email()? else {
            return Ok(());
        };
        let Some(password) = ask(|| {
            Password::new("Password:")
                .with_display_mode(PasswordDisplayMode::Masked)
                .with_custom_confirmation_message("Password again:")
                .with_custom_confirmation_error_message("the passwords differ; try again")
                .with_validator(not_empty("enter a password"))
                .prompt()
        })?
        else {
            return Ok(());
        };
        let user = spin(
            "Registering…",
            self.connection.auth()?.register(&email, &password),
        )
        .await
        .map_err(api)?;
        done(format!("account {} created; log in to book", user.email));
        Ok(())
    }

    async fn login(&mut self) -> anyhow::Result<()> {
        let Some(email) = ask_email()? else {
            return Ok(());
        };
        let Some(password) = ask(|| {
            Password::new("Password:")
                .with_display_mode(PasswordDisplayMode::Masked)
                .without_confirmation()
                .with_validator(not_empty("enter your password"))
                .prompt()
        })?
        else {
            return Ok(());
        };
        let auth = self
            .connection
            .client_of(&[self.connection.auth.as_str()])?;
        let session = spin("Logging in…", auth.login(&email, &password))
            .await
            .map_err(api)?;
        self.connection.remember(&session)?;
        self.reconnect()?;
        done(format!("logged in as {email}"));
        Ok(())
    }

    async fn change_password(&mut self) -> anyhow::Result<()> {
        let Some(old) = ask(|| {
            Password::new("Current password:")
                .with_display_mode(PasswordDisplayMode::Masked)
                .without_confirmation()
                .with_validator(not_empty("enter your current password"))
                .prompt()
        })?
        else {
            return Ok(());
        };
        let Some(new) = ask(|| {
            Password::new("New password:")
                .with_display_mode(PasswordDisplayMode::Masked)
                .with_custom_confirmation_message("New password again:")
                .with_custom_confirmation_error_message("the passwords differ; try again")
                .with_validator(not_empty("enter a new password"))
                .prompt()
        })?
        else {
            return Ok(());
        };
        let session = self
            .connection
            .auth()?
            .change_password(&old, &new)
            .await
            .map_err(api)?;
        self.connection.remember(&session)?;
        self.reconnect()?;
        done("password changed; every other session has ended");
        Ok(())
    }

    async fn logout(&mut self) -> anyhow::Result<()> {
        let ended = self.connection.auth()?.logout().await;
        self.connection.forget()?;
        self.reconnect()?;
        match ended {
            Err(status) if status.code() != tonic::Code::Unauthenticated => {
                Err(api(status)).context("the session is forgotten here, but ending it failed")
            }
            _ => {
                done("logged out");
                Ok(())
            }
        }
    }

    async fn create_show(&mut self) -> anyhow::Result<()> {
        let Some(id) = ask(|| {
            Text::new("Show id:")
                .with_help_message("1-64 characters, no spaces, e.g. hamlet-2026")
                .with_validator(|input: &str| {
                    Ok(
                        if input.is_empty()
                            || input.len() > 64
                            || !input.chars().all(|c| c.is_ascii_graphic())
                        {
                            Validation::Invalid("1-64 printable characters without spaces".into())
                        } else {
                            Validation::Valid
                        },
                    )
                })
                .prompt()
        })?
        else {
            return Ok(());
        };
        let Some(title) = ask(|| {
            Text::new("Title:")
                .with_validator(not_empty("enter a title"))
                .prompt()
        })?
        else {
            return Ok(());
        };
        let Some(seat_count) = ask_number("Number of seats:", None)? else {
            return Ok(());
        };
        let Some(price) = ask_price("Price per seat (e.g. 45.00):", None)? else {
            return Ok(());
        };
        let default_start = when(now_ms() + 30 * 24 * 3600 * 1000).replace(" UTC", "");
        let Some(starts_at) = ask_start(&default_start)? else {
            return Ok(());
        };
        let show = self
            .client
            .create_show(&id, &title, seat_count, price, starts_at)
            .await
            .map_err(api)?;
        commands::print_shows(&self.out, std::slice::from_ref(&show))?;
        done(format!("show {} created", show.show_id));
        Ok(())
    }

    async fn update_show(&mut self) -> anyhow::Result<()> {
        let Some(show) = self.pick_show().await? else {
            return Ok(());
        };
        println!("Enter keeps the current value.");
        let Some(title) = ask(|| {
            Text::new("Title:")
                .with_default(&show.title)
                .with_validator(not_empty("enter a title"))
                .prompt()
        })?
        else {
            return Ok(());
        };
        let Some(seat_count) = ask_number("Number of seats:", Some(show.seat_count))? else {
            return Ok(());
        };
        let Some(price) = ask_price("Price per seat:", Some(show.price_cents))? else {
            return Ok(());
        };
        let current_start = when(show.starts_at_ms).replace(" UTC", "");
        let Some(starts_at) = ask_start(&current_start)? else {
            return Ok(());
        };
        let msg = v1::UpdateShowRequest {
            show_id: show.show_id.clone(),
            title: (title != show.title).then_some(title),
            seat_count: (seat_count != show.seat_count).then_some(seat_count),
            price_cents: (price != show.price_cents).then_some(price),
            starts_at_ms: (starts_at / 60_000 != show.starts_at_ms / 60_000).then_some(starts_at),
            ..Default::default()
        };
        if msg.title.is_none()
            && msg.seat_count.is_none()
            && msg.price_cents.is_none()
            && msg.starts_at_ms.is_none()
        {
            println!("nothing changed");
            return Ok(());
        }
        let updated = self.client.update_show(msg).await.map_err(api)?;
        commands::print_shows(&self.out, std::slice::from_ref(&updated))?;
        done(format!("show {} updated", updated.show_id));
        Ok(())
    }
}

/// A validator refusing empty answers with `hint`.
fn not_empty(
    hint: &'static str,
) -> impl Fn(&str) -> Result<Validation, inquire::CustomUserError> + Clone {
    move |input: &str| {
        Ok(match input.trim().is_empty() {
            true => Validation::Invalid(hint.into()),
            false => Validation::Valid,
        })
    }
}

fn ask_email() -> Answer<String> {
    ask(|| {
        Text::new("Email:")
            .with_validator(|input: &str| {
                Ok(match input.trim().split_once('@') {
                    Some((user, domain)) if !user.is_empty() && domain.contains('.') => {
                        Validation::Valid
                    }
                    _ => Validation::Invalid("an email address such as ann@example.com".into()),
                })
            })
            .prompt()
    })
    .map(|answer| answer.map(|email| email.trim().to_owned()))
}

fn ask_number(message: &str, current: Option<u32>) -> Answer<u32> {
    let default = current.map(|n| n.to_string());
    ask(|| {
        let mut prompt = Text::new(message).with_validator(|input: &str| {
            Ok(match input.trim().parse::<u32>() {
                Ok(n) if (1..=100_000).contains(&n) => Validation::Valid,
                _ => Validation::Invalid("a whole number from 1 to 100000".into()),
            })
        });
        if let Some(default) = &default {
            prompt = prompt.with_default(default);
        }
        prompt.prompt()
    })
    .map(|answer| answer.and_then(|n| n.trim().parse().ok()))
}

/// Parses a price in major units (`45`, `45.5`, `45.00`) into cents.
fn parse_price(input: &str) -> Option<i64> {
    let input = input.trim();
    let (units, fraction) = input.split_once('.').unwrap_or((input, ""));
    if units.is_empty() || fraction.len() > 2 || !units.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let cents = format!("{fraction:0<2}").parse::<i64>().ok()?;
    units
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

fn ask_price(message: &str, current: Option<i64>) -> Answer<i64> {
    let default = current.map(money);
    ask(|| {
        let mut prompt = Text::new(message).with_validator(|input: &str| {
            Ok(match parse_price(input) {
                Some(cents) if cents <= 100_000_000 => Validation::Valid,
                _ => Validation::Invalid("a price such as 45.00 (up to 1000000.00)".into()),
            })
        });
        if let Some(default) = &default {
            prompt = prompt.with_default(default);
        }
        prompt.prompt()
    })
    .map(|answer| answer.and_then(|price| parse_price(&price)))
}

fn parse_start(input: &str) -> Option<i64> {
    input
        .trim()
        .parse::<jiff::civil::DateTime>()
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

fn ask_start(default: &str) -> Answer<i64> {
    ask(|| {
        Text::new("Starts at (UTC, YYYY-MM-DD HH:MM):")
            .with_default(default)
            .with_validator(|input: &str| {
                Ok(match parse_start(input) {
                    Some(ms) if ms > now_ms() => Validation::Valid,
                    Some(_) => Validation::Invalid("that time has passed".into()),
                    None => Validation::Invalid("a time such as 2026-12-24 19:30".into()),
                })
            })
            .prompt()
    })
    .map(|answer| answer.and_then(|start| parse_start(&start)))
}

/// Asks for a card, each field checked as typed; the number and CVC are
/// masked. With a hold, the prompts say how long it has left.
fn ask_card(hold_until: Option<i64>) -> Answer<v1::Card> {
    let left = || match hold_until {
        Some(until) => format!(" (hold ends in {})", remaining(until)),
        None => String::new(),
    };
    let Some(number) = ask(|| {
        Password::new(&format!("Card number{}:", left()))
            .with_display_mode(PasswordDisplayMode::Masked)
            .without_confirmation()
            .with_help_message(
                "test cards: 4242 4242 4242 4242 pays, 4000 0000 0000 9995 is declined",
            )
            .with_validator(|input: &str| {
                Ok(match input.trim().is_empty() {
                    true => Validation::Invalid("enter the card number".into()),
                    false => match boxoffice_payment::cards::check_number(input) {
                        Ok(_) => Validation::Valid,
                        Err(problem) => Validation::Invalid(problem.to_string().into()),
                    },
                })
            })
            .prompt()
    })?
    else {
        return Ok(None);
    };
    let Some(expiry) = ask(|| {
        Text::new(&format!("Expiry (MM/YY){}:", left()))
            .with_validator(|input: &str| {
                let today = boxoffice_payment::cards::year_month(now_ms());
                Ok(match parse_expiry(input) {
                    Err(problem) => Validation::Invalid(problem.to_string().into()),
                    Ok((month, year)) if (year, month) < today => {
                        Validation::Invalid("this card has expired".into())
                    }
                    Ok(_) => Validation::Valid,
                })
            })
            .prompt()
    })?
    else {
        return Ok(None);
    };
    let Some(cvc) = ask(|| {
        Password::new(&format!("CVC{}:", left()))
            .with_display_mode(PasswordDisplayMode::Masked)
            .without_confirmation()
            .with_validator(|input: &str| {
                let ok =
                    (3..=4).contains(&input.len()) && input.chars().all(|c| c.is_ascii_digit());
                Ok(match ok {
                    true => Validation::Valid,
                    false => Validation::Invalid("3 or 4 digits from the back of the card".into()),
                })
            })
            .prompt()
    })?
    else {
        return Ok(None);
    };
    let (exp_month, exp_year) = parse_expiry(&expiry).map_err(anyhow::Error::msg)?;
    Ok(Some(v1::Card {
        number,
        exp_month,
        exp_year,
        cvc,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_and_start_times_parse() {
        assert_eq!(parse_price("45"), Some(4500));
        assert_eq!(parse_price("45.5"), Some(4550));
        assert_eq!(parse_price("0.07"), Some(7));
        assert_eq!(parse_price("45.123"), None);
        assert_eq!(parse_price("-3"), None);
        assert_eq!(parse_price("abc"), None);
        assert_eq!(parse_start("1970-01-01 00:02"), Some(120_000));
        assert_eq!(parse_start("soon"), None);
    }
}
