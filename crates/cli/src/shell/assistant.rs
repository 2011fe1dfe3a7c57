//! The assistant in the shell: a conversation whose suggestions can be
//! acted on (see a seat map, book, cancel).

use anyhow::Context as _;
use boxoffice_client::proto as v1;
use console::style;
use inquire::{Confirm, Select, Text};

use super::prompts::not_empty;
use super::{Shell, ask, done, order, spin};
use crate::output::api;

impl Shell {
    /// A conversation with the assistant; its suggestions can be acted on.
    pub(super) async fn assistant(&mut self) -> anyhow::Result<()> {
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
            let chatbot = self.target.chatbot()?;
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
                if show.venue_id.is_empty() {
                    return self
                        .checkout_simple(&show, suggestion.seat_nos.clone())
                        .await;
                }
                // A performance's seats are priced by category and type.
                let plan = crate::commands::fetch_plan(&self.client, &show.show_id, false).await?;
                let seats: Vec<String> = suggestion.seat_nos.iter().map(u32::to_string).collect();
                let chosen = order::pick_seats(&seats.join(","), &plan)
                    .map_err(|why| anyhow::anyhow!(why))?;
                self.buy_tickets(&plan, &chosen).await
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
}
