//! Card checks and the documented test cards.
//!
//! A number must be 12-19 digits (spaces and dashes ignored) and pass the
//! Luhn check; the expiry must not be in the past; the CVC is 3 or 4
//! digits. Only the last four digits leave this module.
//!
//! Test cards (any future expiry, any CVC):
//! | number | outcome |
//! | --- | --- |
//! | 4242 4242 4242 4242 | approved |
//! | 4000 0000 0000 9995 | declined: insufficient funds |
//! | 4000 0000 0000 9979 | declined: card reported stolen |
//! | 4000 0000 0000 0119 | the provider never answers (times out) |
//! Every other valid number is approved.
//!
//! The old system's clients pay with test tokens instead of cards: `9999`
//! is declined, anything else pays. [`legacy_card`] turns a token into the
//! test card that does the same, for both legacy adapters (the booking
//! node's and the payment service's).

use boxoffice_proto::v1;

/// The legacy test token that is declined.
pub const DECLINED_LEGACY_CARD: &str = "9999";
/// The test card that pays.
pub const APPROVED_CARD: &str = "4242424242424242";
/// The test card that is declined (insufficient funds).
pub const DECLINED_CARD: &str = "4000000000009995";

/// The test card standing for the legacy token `token`: the declined card
/// for [`DECLINED_LEGACY_CARD`], the card that pays for anything else.
pub fn legacy_card(token: &str) -> v1::Card {
    let number = if token.trim() == DECLINED_LEGACY_CARD {
        DECLINED_CARD
    } else {
        APPROVED_CARD
    };
    v1::Card {
        number: number.into(),
        exp_month: 12,
        exp_year: 2099,
        cvc: "123".into(),
    }
}

/// What is wrong with a card; the message is the one the customer sees.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CardProblem {
    /// The number holds something other than digits, spaces and dashes.
    #[error("card number must be digits (spaces and dashes allowed)")]
    NotDigits,
    /// The number is too short or too long.
    #[error("card number must have 12 to 19 digits, not {0}")]
    Length(usize),
    /// The number fails the Luhn check.
    #[error("card number is not valid (checksum)")]
    Checksum,
    /// The expiry month is not a month.
    #[error("expiry month must be 1 to 12, not {0}")]
    Month(u32),
    /// The card expired at the end of this (month, year).
    #[error("card expired at the end of {0:02}/{1}")]
    Expired(u32, u32),
    /// The CVC is not 3 or 4 digits.
    #[error("CVC must be 3 or 4 digits")]
    Cvc,
}

/// What the provider does with a valid card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// The charge goes through.
    Approve,
    /// Declined with this reason.
    Decline(&'static str),
    /// The provider hangs and never records the charge.
    Hang,
}

/// A card that passed the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedCard {
    /// Last four digits.
    pub last4: String,
    /// What the provider does with it.
    pub behaviour: Behaviour,
}

/// Checks a card number alone (digits, length, Luhn) and returns its
/// digits; the error says what is wrong. For prompts that check each field
/// as it is typed.
pub fn check_number(number: &str) -> Result<String, CardProblem> {
    let digits: String = number.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(CardProblem::NotDigits);
    }
    if !(12..=19).contains(&digits.len()) {
        return Err(CardProblem::Length(digits.len()));
    }
    if !luhn(&digits) {
        return Err(CardProblem::Checksum);
    }
    Ok(digits)
}

/// Checks a card at calendar month `(year, month)`; the error says what is wrong.
pub fn check(
    number: &str,
    exp_month: u32,
    exp_year: u32,
    cvc: &str,
    today: (u32, u32),
) -> Result<CheckedCard, CardProblem> {
    let digits = check_number(number)?;
    if !(1..=12).contains(&exp_month) {
        return Err(CardProblem::Month(exp_month));
    }
    if (exp_year, exp_month) < today {
        return Err(CardProblem::Expired(exp_month, exp_year));
    }
    if !(3..=4).contains(&cvc.len()) || !cvc.chars().all(|c| c.is_ascii_digit()) {
        return Err(CardProblem::Cvc);
    }
    let behaviour = match digits.as_str() {
        DECLINED_CARD => Behaviour::Decline("insufficient funds"),
        "4000000000009979" => Behaviour::Decline("card reported stolen"),
        "4000000000000119" => Behaviour::Hang,
        _ => Behaviour::Approve,
    };
    Ok(CheckedCard {
        last4: digits[digits.len() - 4..].to_owned(),
        behaviour,
    })
}

/// Today's (year, month) in UTC, from the civil-from-days algorithm.
pub fn year_month(unix_ms: i64) -> (u32, u32) {
    let days = unix_ms.div_euclid(86_400_000) + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        u32::try_from(year).unwrap_or(0),
        u32::try_from(month).unwrap_or(1),
    )
}

/// The `n`-th of many distinct test card numbers that this provider
/// approves (`4111` then `n` in eleven digits, then the Luhn digit): for
/// load generators whose simulated buyers each pay with a card of their
/// own, as the cap per card expects of real ones.
pub fn approved_card_number(n: u64) -> String {
    let body = format!("4111{:011}", n % 100_000_000_000);
    (0..10u8)
        .map(|d| format!("{body}{d}"))
        .find(|number| luhn(number))
        .unwrap_or_else(|| format!("{body}0"))
}

/// The Luhn checksum of a string of ASCII digits.
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: (u32, u32) = (2026, 11);

    #[test]
    fn test_cards_behave_as_documented() {
        let ok = |n: &str| check(n, 12, 2030, "123", TODAY).unwrap();
        assert_eq!(ok("4242 4242 4242 4242").behaviour, Behaviour::Approve);
        assert_eq!(ok("4242-4242-4242-4242").last4, "4242");
        assert_eq!(
            ok("4000000000009995").behaviour,
            Behaviour::Decline("insufficient funds")
        );
        assert_eq!(
            ok("4000000000009979").behaviour,
            Behaviour::Decline("card reported stolen")
        );
        assert_eq!(ok("4000000000000119").behaviour, Behaviour::Hang);
        assert_eq!(ok("5555555555554444").behaviour, Behaviour::Approve);
    }

    #[test]
    fn the_numbered_test_cards_are_distinct_valid_and_approved() {
        let numbers: Vec<String> = [0, 1, 2, 99_999, 12_345_678_901]
            .map(approved_card_number)
            .to_vec();
        for number in &numbers {
            assert_eq!(number.len(), 16, "{number}");
            let card = check(number, 12, 2030, "123", TODAY).expect(number);
            assert_eq!(card.behaviour, Behaviour::Approve, "{number}");
        }
        let distinct: std::collections::BTreeSet<&String> = numbers.iter().collect();
        assert_eq!(distinct.len(), numbers.len());
    }

    #[test]
    fn legacy_tokens_become_the_test_cards_that_do_the_same() {
        let outcome = |token: &str| {
            let card = legacy_card(token);
            check(
                &card.number,
                card.exp_month,
                card.exp_year,
                &card.cvc,
                TODAY,
            )
            .unwrap()
            .behaviour
        };
        assert_eq!(outcome(" 9999 "), Behaviour::Decline("insufficient funds"));
        assert_eq!(outcome("1234"), Behaviour::Approve);
        assert_eq!(outcome(""), Behaviour::Approve);
    }

    #[test]
    fn bad_cards_say_what_is_wrong() {
        let cases = [
            ("4242424242424241", 12, 2030, "123", "checksum"),
            ("42424242", 12, 2030, "123", "12 to 19"),
            ("4242x42424242424", 12, 2030, "123", "digits"),
            ("", 12, 2030, "123", "digits"),
            ("4242424242424242", 13, 2030, "123", "month"),
            ("4242424242424242", 10, 2026, "123", "expired"),
            ("4242424242424242", 12, 2030, "12", "CVC"),
            ("4242424242424242", 12, 2030, "12a", "CVC"),
        ];
        for (number, month, year, cvc, why) in cases {
            let err = check(number, month, year, cvc, TODAY)
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{number}: {err}");
        }
        check("4242424242424242", 11, 2026, "1234", TODAY).expect("this month still valid");
    }
}
