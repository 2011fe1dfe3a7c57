//! Account and administration actions of the shell: register, log in,
//! change password, log out; create and update shows.

use anyhow::Context as _;
use boxoffice_client::proto as v1;
use inquire::validator::Validation;
use inquire::{Password, PasswordDisplayMode, Text};

use super::prompts::{ask_email, ask_number, ask_price, ask_start, not_empty};
use super::{Shell, ask, done, spin};
use crate::commands;
use crate::output::{api, when};
use crate::session::now_ms;

impl Shell {
    pub(super) async fn register(&mut self) -> anyhow::Result<()> {
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
            self.target.auth()?.register(&email, &password),
        )
        .await
        .map_err(api)?;
        done(format!("account {} created; log in to book", user.email));
        Ok(())
    }

    pub(super) async fn login(&mut self) -> anyhow::Result<()> {
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
        let auth = self.target.client_of(&[self.target.auth.as_str()])?;
        let session = spin("Logging in…", auth.login(&email, &password))
            .await
            .map_err(api)?;
        self.target.remember(&session)?;
        self.reconnect()?;
        done(format!("logged in as {email}"));
        Ok(())
    }

    pub(super) async fn change_password(&mut self) -> anyhow::Result<()> {
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
            .target
            .auth()?
            .change_password(&old, &new)
            .await
            .map_err(api)?;
        self.target.remember(&session)?;
        self.reconnect()?;
        done("password changed; every other session has ended");
        Ok(())
    }

    pub(super) async fn logout(&mut self) -> anyhow::Result<()> {
        let ended = self.target.auth()?.logout().await;
        self.target.forget()?;
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

    pub(super) async fn create_show(&mut self) -> anyhow::Result<()> {
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

    pub(super) async fn update_show(&mut self) -> anyhow::Result<()> {
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
