//! Money as people read it.

/// Cents as a price with two decimals, e.g. `45.00`, `-0.05`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_amount_keeps_its_sign() {
        assert_eq!(money(0), "0.00");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(4500), "45.00");
        assert_eq!(money(-1), "-0.01");
        assert_eq!(money(-99), "-0.99");
        assert_eq!(money(-100), "-1.00");
        assert_eq!(money(-250), "-2.50");
        assert_eq!(money(-12345), "-123.45");
        assert_eq!(money(i64::MIN), "-92233720368547758.08");
        assert_eq!(money(i64::MAX), "92233720368547758.07");
    }
}
