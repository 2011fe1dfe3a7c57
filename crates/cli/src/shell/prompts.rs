//! The shell's typed prompts: each answer is checked as it is typed, a
//! bad one gets a hint and the prompt asks again.

use boxoffice_client::proto as v1;
use inquire::validator::Validation;
use inquire::{Password, PasswordDisplayMode, Text};

use super::{Answer, ask, remaining};
use crate::args::parse_expiry;
use crate::output::money;
use crate::session::now_ms;

/// A validator refusing empty answers with `hint`.
pub(super) fn not_empty(
    hint: &'static str,
) -> impl Fn(&str) -> Result<Validation, inquire::CustomUserError> + Clone {
    move |input: &str| {
        Ok(match input.trim().is_empty() {
            true => Validation::Invalid(hint.into()),
            false => Validation::Valid,
        })
    }
}

pub(super) fn ask_email() -> Answer<String> {
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

pub(super) fn ask_number(message: &str, current: Option<u32>) -> Answer<u32> {
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

pub(super) fn ask_price(message: &str, current: Option<i64>) -> Answer<i64> {
    let default = current.map(money);
    ask(|| {
        let mut prompt = Text::new(message).with_validator(|input: &str| {
            Ok(match parse_price(input) {
                Some(cents) if cents <= boxoffice_view::MAX_PRICE_CENTS => Validation::Valid,
                _ => Validation::Invalid(
                    format!(
                        "a price such as 45.00 (up to {})",
                        money(boxoffice_view::MAX_PRICE_CENTS)
                    )
                    .into(),
                ),
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
    boxoffice_view::parse_time(input).ok()
}

pub(super) fn ask_start(default: &str) -> Answer<i64> {
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
pub(super) fn ask_card(hold_until: Option<i64>) -> Answer<v1::Card> {
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
