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
pub fn check_number(number: &str) -> Result<String, String> {
    let digits: String = number.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err("card number must be digits (spaces and dashes allowed)".into());
    }
    if !(12..=19).contains(&digits.len()) {
        return Err(format!(
            "card number must have 12 to 19 digits, not {}",
            digits.len()
        ));
    }
    if !luhn(&digits) {
        return Err("card number is not valid (checksum)".into());
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
) -> Result<CheckedCard, String> {
    let digits = check_number(number)?;
    if !(1..=12).contains(&exp_month) {
        return Err(format!("expiry month must be 1 to 12, not {exp_month}"));
    }
    if (exp_year, exp_month) < today {
        return Err(format!(
            "card expired at the end of {exp_month:02}/{exp_year}"
        ));
    }
    if !(3..=4).contains(&cvc.len()) || !cvc.chars().all(|c| c.is_ascii_digit()) {
        return Err("CVC must be 3 or 4 digits".into());
    }
    let behaviour = match digits.as_str() {
        "4000000000009995" => Behaviour::Decline("insufficient funds"),
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
            let err = check(number, month, year, cvc, TODAY).unwrap_err();
            assert!(err.contains(why), "{number}: {err}");
        }
        check("4242424242424242", 11, 2026, "1234", TODAY).expect("this month still valid");
    }
}
