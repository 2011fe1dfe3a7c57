//! Times as people read and type them: UTC, to the minute.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// What [`when`] prints for a time after the last printable one (the
/// end of year 9999): a show created without a start time carries a time
/// far beyond it (the bench's and fault tests' shows do), and has none.
pub const NOT_SCHEDULED: &str = "not scheduled";

/// Ms since the Unix epoch as a UTC date and time, e.g. `2026-12-24 19:30
/// UTC`; a time after year 9999 is [`NOT_SCHEDULED`], one before year
/// -9999 prints as its number.
pub fn when(ms: i64) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) if ms > 0 => NOT_SCHEDULED.to_owned(),
        Err(_) => ms.to_string(),
    }
}

/// Parses a time as ms since the Unix epoch: RFC 3339 with its offset
/// (`2026-12-24T19:30:00Z`, `2026-12-24T20:30+01:00`), or a date and time
/// without one, read as UTC (`2026-12-24 19:30`, `2026-12-24T19:30:05`,
/// `2026-12-24` for midnight). Surrounding spaces are ignored. The error
/// shows how to write one.
pub fn parse_time(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    // A time with an offset means that instant; reading it as a civil
    // time first would silently drop the offset.
    if let Ok(t) = raw.parse::<Timestamp>() {
        return Ok(t.as_millisecond());
    }
    raw.parse::<DateTime>()
        .and_then(|dt| dt.to_zoned(TimeZone::UTC))
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|_| format!("{raw:?} is not a time such as \"2026-12-24 19:30\" (UTC)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;

    #[test]
    fn times_print_in_utc_to_the_minute() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(when(HOUR + 59_999), "1970-01-01 01:00 UTC");
        // A show without a start time (the bench's `i64::MAX / 2`) has none.
        assert_eq!(when(i64::MAX / 2), NOT_SCHEDULED);
        assert_eq!(when(i64::MAX), NOT_SCHEDULED);
        assert_eq!(when(i64::MIN), i64::MIN.to_string());
    }

    #[test]
    fn every_form_either_client_accepted_parses() {
        // The shell's and the scriptable commands' forms: civil, as UTC.
        assert_eq!(parse_time("1970-01-01 00:01"), Ok(MINUTE));
        assert_eq!(parse_time("1970-01-01 00:02"), Ok(2 * MINUTE));
        assert_eq!(parse_time(" 1970-01-01T00:01 "), Ok(MINUTE));
        assert_eq!(parse_time("1970-01-01 00:00:01"), Ok(1_000));
        assert_eq!(parse_time("1970-01-02"), Ok(24 * HOUR));
        // RFC 3339: the instant it names.
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Ok(1_000));
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00"), Ok(0));
        assert_eq!(
            parse_time("1970-01-01 02:30-01:00"),
            Ok(3 * HOUR + 30 * MINUTE)
        );
        // What prints parses back, without its " UTC".
        let t = parse_time(&when(123 * HOUR).replace(" UTC", ""));
        assert_eq!(t, Ok(123 * HOUR));
    }

    #[test]
    fn other_text_is_refused_with_an_example() {
        for raw in [
            "",
            "soon",
            "next tuesday",
            "24/12/2026 19:30",
            "2026-13-01 00:00",
        ] {
            let problem = parse_time(raw).unwrap_err();
            assert!(problem.contains("2026-12-24 19:30"), "{raw:?}: {problem}");
        }
    }
}
