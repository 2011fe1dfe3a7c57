//! What a question names: a show (by id or a fuzzy title), seat numbers
//! and ranges, a count ("two seats together"), a booking id, and a time
//! span ("tonight", "this weekend", "on friday", "december 24").

use boxoffice_client::proto as v1;
use jiff::civil::{Date, Weekday};
use jiff::{Timestamp, tz::TimeZone};

// Most seats a question can name: as many as one booking may hold.
use boxoffice_view::MAX_SEATS_PER_BOOKING as MAX_SEATS;

/// The entities found in one question.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Entities {
    /// Seat numbers, ascending, without duplicates.
    pub seats: Vec<u32>,
    /// How many seats ("two seats", "four of us").
    pub count: Option<u32>,
    /// The show named, if any.
    pub show: Option<String>,
    /// A booking id ("booking 12").
    pub booking: Option<String>,
    /// A time span, ms since the Unix epoch, half-open.
    pub span: Option<(i64, i64)>,
}

const NUMBER_WORDS: [(&str, u32); 12] = [
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("pair", 2),
    ("couple", 2),
];

/// Lower-case tokens: runs of letters and digits, keeping `-` inside
/// (show ids like `jazz-2026`, ranges like `12-15`).
fn tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '#'))
        .map(|t| t.trim_matches(|c| c == '-' || c == '#'))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn number(token: &str) -> Option<u32> {
    token.parse().ok().filter(|n| *n > 0 && *n < 1_000_000)
}

fn count_word(token: &str) -> Option<u32> {
    number(token).or_else(|| {
        NUMBER_WORDS
            .iter()
            .find(|(word, _)| *word == token)
            .map(|(_, n)| *n)
    })
}

/// A range token `a-b`.
fn range(token: &str) -> Option<(u32, u32)> {
    let (a, b) = token.split_once('-')?;
    Some((number(a)?, number(b)?))
}

/// Finds the entities of `text`, matching show names against `shows`,
/// with `now_ms` for relative dates (UTC).
pub fn extract(text: &str, shows: &[v1::Show], now_ms: i64) -> Entities {
    let tokens = tokens(text);
    let mut entities = Entities {
        show: find_show(text, &tokens, shows),
        span: find_span(&tokens, now_ms),
        ..Entities::default()
    };
    let mut seats = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].as_str();
        if (token == "booking" || token == "order")
            && let Some(next) = tokens.get(i + 1).filter(|t| number(t).is_some())
        {
            entities.booking = Some(next.clone());
            i += 2;
            continue;
        }
        if token.starts_with("seat") {
            // "seat 7", "seats 12-15", "seats 12 to 15", "seats 7, 8 and 9"
            let mut j = i + 1;
            while j < tokens.len() {
                let t = tokens[j].as_str();
                if let Some((a, b)) = range(t) {
                    seats.extend(a.min(b)..=a.max(b).min(a.min(b) + MAX_SEATS as u32));
                } else if let Some(n) = number(t) {
                    let to = tokens.get(j + 1).map(String::as_str);
                    let end = tokens.get(j + 2).and_then(|t| number(t));
                    match (to, end) {
                        (Some("to" | "through" | "till" | "until"), Some(end)) if end >= n => {
                            seats.extend(n..=end.min(n + MAX_SEATS as u32));
                            j += 2;
                        }
                        _ => seats.push(n),
                    }
                } else if !matches!(t, "and" | "or" | "number" | "no" | "nr") {
                    break;
                }
                j += 1;
            }
            i = j.max(i + 1);
            continue;
        }
        // A count: "two seats", "4 tickets", "four of us", "a pair".
        if let Some(n) = count_word(token) {
            let next = tokens.get(i + 1).map(String::as_str);
            let counted = matches!(
                next,
                Some("seats" | "seat" | "tickets" | "ticket" | "people" | "persons" | "places")
            ) || (next == Some("of")
                && tokens.get(i + 2).map(String::as_str) == Some("us"))
                || matches!(token, "pair" | "couple");
            if counted && entities.count.is_none() && n <= MAX_SEATS as u32 {
                entities.count = Some(n);
            }
        }
        i += 1;
    }
    seats.sort_unstable();
    seats.dedup();
    seats.truncate(MAX_SEATS);
    entities.seats = seats;
    entities
}

/// The show `text` names: its id as a token, or its title (all its words
/// present, or a close fuzzy match of a run of words).
fn find_show(text: &str, tokens: &[String], shows: &[v1::Show]) -> Option<String> {
    let lower = text.to_lowercase();
    if let Some(show) = shows
        .iter()
        .find(|s| tokens.iter().any(|t| *t == s.show_id.to_lowercase()))
    {
        return Some(show.show_id.clone());
    }
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut best: Option<(f64, &v1::Show)> = None;
    for show in shows {
        let title = show.title.to_lowercase();
        let title_words: Vec<&str> = title
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 2 && !matches!(*w, "the" | "and" | "night" | "show"))
            .collect();
        let score = if !title_words.is_empty() && title_words.iter().all(|w| words.contains(w)) {
            1.0
        } else {
            // The best fuzzy match of any run of as many words as the title.
            let n = title.split_whitespace().count().max(1);
            words
                .windows(n.min(words.len().max(1)))
                .map(|run| strsim::jaro_winkler(&run.join(" "), &title))
                .fold(0.0, f64::max)
        };
        if score >= 0.88 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, show));
        }
    }
    best.map(|(_, show)| show.show_id.clone())
}

/// A span from relative or calendar dates, in UTC.
fn find_span(tokens: &[String], now_ms: i64) -> Option<(i64, i64)> {
    let now = Timestamp::from_millisecond(now_ms).ok()?;
    let today = now.to_zoned(TimeZone::UTC).date();
    let day = |date: Date, days: i64| -> Option<(i64, i64)> {
        let start = date
            .to_zoned(TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_millisecond();
        Some((start, start + days * 86_400_000))
    };
    let has = |word: &str| tokens.iter().any(|t| t == word);
    if has("tonight") || has("today") {
        return Some((now_ms, day(today, 1)?.1));
    }
    if has("tomorrow") {
        return day(today.tomorrow().ok()?, 1);
    }
    if has("weekend") {
        let saturday = today.nth_weekday(1, Weekday::Saturday).ok()?;
        let start = if matches!(today.weekday(), Weekday::Saturday | Weekday::Sunday) {
            today
        } else {
            saturday
        };
        let days = if start.weekday() == Weekday::Sunday {
            1
        } else {
            2
        };
        return day(start, days);
    }
    const WEEKDAYS: [(&str, Weekday); 7] = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    if let Some((_, weekday)) = WEEKDAYS.iter().find(|(name, _)| has(name)) {
        let date = if today.weekday() == *weekday {
            today
        } else {
            today.nth_weekday(1, *weekday).ok()?
        };
        return day(date, 1);
    }
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    for (i, token) in tokens.iter().enumerate() {
        if let Ok(date) = token.parse::<Date>() {
            return day(date, 1);
        }
        if let Some(month) = MONTHS.iter().position(|m| m == token) {
            let before = i.checked_sub(1).and_then(|j| tokens.get(j));
            let day_no = tokens.get(i + 1).or(before).and_then(|t| {
                t.trim_end_matches(|c: char| c.is_alphabetic())
                    .parse::<i8>()
                    .ok()
            });
            let month = i8::try_from(month + 1).ok()?;
            let Some(d) = day_no else { continue };
            let mut date = Date::new(today.year(), month, d).ok()?;
            if date < today {
                date = Date::new(today.year() + 1, month, d).ok()?;
            }
            return day(date, 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(id: &str, title: &str) -> v1::Show {
        v1::Show {
            show_id: id.into(),
            title: title.into(),
            ..v1::Show::default()
        }
    }

    /// Wednesday 2026-11-18 12:00 UTC.
    const NOW: i64 = 1_795_003_200_000;

    fn shows() -> Vec<v1::Show> {
        vec![
            show("jazz-2026", "Jazz Night"),
            show("hamlet", "Hamlet"),
            show("swan", "Swan Lake"),
        ]
    }

    #[test]
    fn seats_ranges_and_counts() {
        let e = extract("is seat 7 free?", &[], NOW);
        assert_eq!(e.seats, [7]);
        let e = extract("book seats 12-15 and 20", &[], NOW);
        assert_eq!(e.seats, [12, 13, 14, 15, 20]);
        let e = extract("seats 3 to 5 please", &[], NOW);
        assert_eq!(e.seats, [3, 4, 5]);
        let e = extract("seats 7, 8 and 9", &[], NOW);
        assert_eq!(e.seats, [7, 8, 9]);
        assert_eq!(extract("two seats together", &[], NOW).count, Some(2));
        assert_eq!(extract("there are four of us", &[], NOW).count, Some(4));
        assert_eq!(extract("a pair of seats", &[], NOW).count, Some(2));
        assert_eq!(extract("3 tickets", &[], NOW).count, Some(3));
        assert_eq!(
            extract("cancel booking 12", &[], NOW).booking.as_deref(),
            Some("12")
        );
        assert_eq!(extract("seats 1-1000", &[], NOW).seats.len(), 10);
    }

    #[test]
    fn shows_by_id_title_or_fuzzy_title() {
        let shows = shows();
        let named = |text| extract(text, &shows, NOW).show;
        assert_eq!(
            named("is seat 7 free for hamlet?").as_deref(),
            Some("hamlet")
        );
        assert_eq!(named("tickets for jazz-2026").as_deref(), Some("jazz-2026"));
        assert_eq!(
            named("two seats for the jazz night").as_deref(),
            Some("jazz-2026")
        );
        assert_eq!(named("when is swan lak").as_deref(), Some("swan"));
        assert_eq!(named("what's on?"), None);
    }

    #[test]
    fn dates() {
        let span = |text| extract(text, &[], NOW).span;
        let day = 86_400_000;
        let midnight = NOW - 12 * 3_600_000;
        assert_eq!(span("anything tonight"), Some((NOW, midnight + day)));
        assert_eq!(span("tomorrow"), Some((midnight + day, midnight + 2 * day)));
        assert_eq!(
            span("cheapest show this weekend"),
            Some((midnight + 3 * day, midnight + 5 * day))
        );
        assert_eq!(
            span("on friday"),
            Some((midnight + 2 * day, midnight + 3 * day))
        );
        let christmas_eve = span("december 24").unwrap();
        assert_eq!(christmas_eve.1 - christmas_eve.0, day);
        assert_eq!(
            span("2026-12-24").unwrap().1 - span("2026-12-24").unwrap().0,
            day
        );
        assert_eq!(span("what's on"), None);
    }
}
