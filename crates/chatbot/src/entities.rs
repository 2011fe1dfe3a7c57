//! What a question names: a show (by id or a fuzzy title), a production
//! ("Hamlet", whose performances are shows of their own), seat numbers and
//! ranges, a count ("two seats together"), a booking id, a time span
//! ("tonight", "this weekend", "on friday", "december 24"), a time of day
//! ("the 14:30", "7.30pm", "the matinee"), and a wheelchair space.
//!
//! Sections, price categories and ticket types belong to one performance,
//! so they are matched later, against that performance's own names:
//! [`find_sections`], [`find_category`], [`find_ticket_type`].

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
    /// The production named, if any (its id).
    pub production: Option<String>,
    /// Times of day a performance may start at, minutes after midnight
    /// (UTC), half-open ranges: "14:30" is one minute, "7:30" is 07:30 or
    /// 19:30, "the matinee" is before 17:00.
    pub times: Vec<(u32, u32)>,
    /// Whether a wheelchair space is asked for.
    pub wheelchair: bool,
    /// Whether the cheapest is asked for.
    pub cheapest: bool,
}

/// The first minute of the evening: performances from then on are evening
/// performances, those before are matinees.
pub const EVENING_FROM_MINUTE: u32 = 17 * 60;

/// Minutes in a day.
const DAY_MINUTES: u32 = 24 * 60;

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

/// Finds the entities of `text`, matching show names against `shows` and
/// production titles against `productions`, with `now_ms` for relative
/// dates (UTC).
pub fn extract(
    text: &str,
    shows: &[v1::Show],
    productions: &[v1::Production],
    now_ms: i64,
) -> Entities {
    let tokens = tokens(text);
    let lower = text.to_lowercase();
    let mut entities = Entities {
        show: find_show(text, &tokens, shows),
        production: find_production(text, &tokens, productions),
        span: find_span(&tokens, now_ms),
        times: find_times(&lower),
        wheelchair: ["wheelchair", "wheel chair", "whelchair", "weelchair"]
            .iter()
            .any(|w| lower.contains(w)),
        cheapest: [
            "cheap",
            "lowest",
            "least expensive",
            "most affordable",
            "budget",
        ]
        .iter()
        .any(|w| lower.contains(w)),
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

/// The show `text` names: its id as a token, or the title of a simple
/// show (all its words present, or a close fuzzy match of a run of words).
/// A performance is named by its id; its title is its production's, found
/// by [`find_production`].
fn find_show(text: &str, tokens: &[String], shows: &[v1::Show]) -> Option<String> {
    if let Some(show) = shows
        .iter()
        .find(|s| tokens.iter().any(|t| *t == s.show_id.to_lowercase()))
    {
        return Some(show.show_id.clone());
    }
    best_title(
        text,
        shows
            .iter()
            .filter(|s| s.venue_id.is_empty())
            .map(|s| (s.show_id.as_str(), s.title.as_str())),
    )
}

/// The production `text` names, by id or title, as [`find_show`] does.
fn find_production(
    text: &str,
    tokens: &[String],
    productions: &[v1::Production],
) -> Option<String> {
    if let Some(p) = productions
        .iter()
        .find(|p| tokens.iter().any(|t| *t == p.production_id.to_lowercase()))
    {
        return Some(p.production_id.clone());
    }
    best_title(
        text,
        productions
            .iter()
            .map(|p| (p.production_id.as_str(), p.title.as_str())),
    )
}

/// The id of the best-matching `(id, title)`: every significant word of
/// the title present in `text` scores 1, else the best fuzzy match of a run
/// of as many words as the title; below 0.88 is no match.
fn best_title<'a>(
    text: &str,
    candidates: impl Iterator<Item = (&'a str, &'a str)>,
) -> Option<String> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut best: Option<(f64, &str)> = None;
    for (id, title) in candidates {
        let title = title.to_lowercase();
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
            best = Some((score, id));
        }
    }
    best.map(|(_, id)| id.to_owned())
}

/// Times of day in `lower` (see [`Entities::times`]): "14:30", "2.30pm",
/// "7pm", "noon"; "matinee" or "afternoon" (before
/// [`EVENING_FROM_MINUTE`]), "evening" (from it). A time without am or pm
/// before 12:00 may be either half of the day ("the 7:30").
fn find_times(lower: &str) -> Vec<(u32, u32)> {
    let chars: Vec<char> = lower.chars().collect();
    let mut times = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        // A price ("£12.50") is not a time.
        let starts_number = chars[i].is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || "£$€".contains(chars[i - 1])));
        if !starts_number {
            i += 1;
            continue;
        }
        let digits = |from: usize| {
            chars[from..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
        };
        let hour_len = digits(i);
        let mut j = i + hour_len;
        let hour: Option<u32> = chars[i..j].iter().collect::<String>().parse().ok();
        let mut minute = None;
        if hour_len <= 2 && matches!(chars.get(j), Some(':' | '.')) && digits(j + 1) == 2 {
            minute = chars[j + 1..j + 3]
                .iter()
                .collect::<String>()
                .parse::<u32>()
                .ok();
            j += 3;
        }
        let rest: String = chars[j..].iter().collect();
        let rest = rest.trim_start();
        let half = if rest.starts_with("am") || rest.starts_with("a.m") {
            Some(0)
        } else if rest.starts_with("pm") || rest.starts_with("p.m") {
            Some(12)
        } else {
            None
        };
        // A bare number is a count or a seat, not a time: it needs minutes
        // or am/pm.
        if let Some(hour) = hour.filter(|h| hour_len <= 2 && *h <= 23)
            && (minute.is_some() || half.is_some())
            && minute.is_none_or(|m| m < 60)
        {
            let minute = minute.unwrap_or(0);
            let at = |h: u32| (h * 60 + minute, h * 60 + minute + 1);
            match half {
                Some(offset) if (1..=12).contains(&hour) => times.push(at(hour % 12 + offset)),
                Some(_) => {}
                None if (1..12).contains(&hour) => {
                    times.push(at(hour));
                    times.push(at(hour + 12));
                }
                None => times.push(at(hour)),
            }
        }
        i = j.max(i + 1);
    }
    if times.is_empty() {
        let has = |w: &str| lower.split(|c: char| !c.is_alphanumeric()).any(|t| t == w);
        if has("noon") || has("midday") {
            times.push((12 * 60, 12 * 60 + 1));
        } else if has("matinee") || has("matinees") || has("afternoon") || lower.contains("matinée")
        {
            times.push((0, EVENING_FROM_MINUTE));
        } else if has("evening") || has("evenings") {
            times.push((EVENING_FROM_MINUTE, DAY_MINUTES));
        }
    }
    times
}

/// Whether `word` appears in `lower` as a whole word (or words).
fn has_phrase(lower: &str, phrase: &str) -> bool {
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let wanted: Vec<&str> = phrase
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    !wanted.is_empty()
        && words
            .windows(wanted.len())
            .any(|run| run == wanted.as_slice())
}

/// The sections of `sections` that `text` names: by name ("the stalls",
/// "box a"), or several by the first word they share in the plural ("the
/// boxes" for "Box A" to "Box D").
pub fn find_sections(text: &str, sections: &[String]) -> Vec<String> {
    let lower = text.to_lowercase();
    let named: Vec<String> = sections
        .iter()
        .filter(|s| {
            let name = s.to_lowercase();
            has_phrase(&lower, &name)
                || has_phrase(&lower, name.trim_end_matches('s'))
                || (!name.ends_with('s') && has_phrase(&lower, &format!("{name}s")))
        })
        .cloned()
        .collect();
    // "Circle" also matches "the upper circle" only if nothing more precise does.
    if !named.is_empty() {
        let longest = named.iter().map(|s| s.split_whitespace().count()).max();
        let precise: Vec<String> = named
            .iter()
            .filter(|s| Some(s.split_whitespace().count()) == longest)
            .cloned()
            .collect();
        return precise;
    }
    sections
        .iter()
        .filter(|s| {
            let mut words = s.split_whitespace();
            let (Some(first), Some(_)) = (words.next(), words.next()) else {
                return false;
            };
            let first = first.to_lowercase();
            let plural = if first.ends_with(['s', 'x']) {
                format!("{first}es")
            } else {
                format!("{first}s")
            };
            has_phrase(&lower, &plural) || has_phrase(&lower, &first)
        })
        .cloned()
        .collect()
}

/// The price category of `categories` that `text` names: "category a",
/// "band B", "cat c", or a name longer than one letter on its own
/// ("premium").
pub fn find_category(text: &str, categories: &[String]) -> Option<String> {
    let lower = text.to_lowercase();
    categories
        .iter()
        .find(|c| {
            let name = c.to_lowercase();
            ["category", "band", "cat", "price band", "zone"]
                .iter()
                .any(|prefix| has_phrase(&lower, &format!("{prefix} {name}")))
                || (name.chars().count() > 1 && has_phrase(&lower, &name))
        })
        .cloned()
}

/// Words people use for the standard ticket types.
const TICKET_WORDS: [(&str, &[&str]); 4] = [
    ("adult", &["adult", "adults", "grown up", "grown ups"]),
    (
        "concession",
        &[
            "concession",
            "concessions",
            "concesion",
            "student",
            "students",
            "senior",
            "seniors",
            "pensioner",
            "pensioners",
            "oap",
            "reduced",
            "unwaged",
        ],
    ),
    (
        "child",
        &["child", "children", "kid", "kids", "childs", "under 16"],
    ),
    (
        "companion",
        &["companion", "companions", "carer", "carers", "helper"],
    ),
];

/// The ticket type of `types` that `text` names: by its name, or for the
/// standard types by the words people use ("student" for a concession,
/// "kids" for a child, "carer" for a companion).
pub fn find_ticket_type(text: &str, types: &[String]) -> Option<String> {
    let lower = text.to_lowercase();
    types
        .iter()
        .find(|t| {
            let name = t.to_lowercase();
            has_phrase(&lower, &name)
                || TICKET_WORDS
                    .iter()
                    .filter(|(standard, _)| *standard == name)
                    .flat_map(|(_, words)| words.iter())
                    .any(|w| has_phrase(&lower, w))
        })
        .cloned()
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
        let e = extract("is seat 7 free?", &[], &[], NOW);
        assert_eq!(e.seats, [7]);
        let e = extract("book seats 12-15 and 20", &[], &[], NOW);
        assert_eq!(e.seats, [12, 13, 14, 15, 20]);
        let e = extract("seats 3 to 5 please", &[], &[], NOW);
        assert_eq!(e.seats, [3, 4, 5]);
        let e = extract("seats 7, 8 and 9", &[], &[], NOW);
        assert_eq!(e.seats, [7, 8, 9]);
        assert_eq!(extract("two seats together", &[], &[], NOW).count, Some(2));
        assert_eq!(
            extract("there are four of us", &[], &[], NOW).count,
            Some(4)
        );
        assert_eq!(extract("a pair of seats", &[], &[], NOW).count, Some(2));
        assert_eq!(extract("3 tickets", &[], &[], NOW).count, Some(3));
        assert_eq!(
            extract("cancel booking 12", &[], &[], NOW)
                .booking
                .as_deref(),
            Some("12")
        );
        assert_eq!(extract("seats 1-1000", &[], &[], NOW).seats.len(), 10);
    }

    #[test]
    fn shows_by_id_title_or_fuzzy_title() {
        let shows = shows();
        let named = |text| extract(text, &shows, &[], NOW).show;
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
        let span = |text| extract(text, &[], &[], NOW).span;
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

    fn production(id: &str, title: &str) -> v1::Production {
        v1::Production {
            production_id: id.into(),
            title: title.into(),
            ..v1::Production::default()
        }
    }

    #[test]
    fn productions_are_named_by_title_and_their_performances_by_id_only() {
        let mut shows = shows();
        shows.push(v1::Show {
            show_id: "macbeth-fri".into(),
            title: "Macbeth".into(),
            production_id: "macbeth".into(),
            venue_id: "royal-court".into(),
            ..v1::Show::default()
        });
        let productions = [
            production("macbeth", "Macbeth"),
            production("nutcracker", "The Nutcracker"),
        ];
        let e = extract(
            "cheapest seats for macbeth on friday",
            &shows,
            &productions,
            NOW,
        );
        assert_eq!(e.production.as_deref(), Some("macbeth"));
        assert_eq!(e.show, None, "a performance is not named by its title");
        assert!(e.cheapest);
        let e = extract("is macbeth-fri sold out", &shows, &productions, NOW);
        assert_eq!(e.show.as_deref(), Some("macbeth-fri"));
        let e = extract("when is the nutcraker on", &shows, &productions, NOW);
        assert_eq!(e.production.as_deref(), Some("nutcracker"));
        assert_eq!(
            extract("what's on?", &shows, &productions, NOW).production,
            None
        );
    }

    #[test]
    fn times_of_day() {
        let times = |text| extract(text, &[], &[], NOW).times;
        let at = |h: u32, m: u32| (h * 60 + m, h * 60 + m + 1);
        assert_eq!(
            times("is there a wheelchair space at the 14:30?"),
            [at(14, 30)]
        );
        assert_eq!(times("the 7:30 performance"), [at(7, 30), at(19, 30)]);
        assert_eq!(times("at 2.30pm"), [at(14, 30)]);
        assert_eq!(times("at 7 pm on friday"), [at(19, 0)]);
        assert_eq!(times("the 11am show"), [at(11, 0)]);
        assert_eq!(times("12pm"), [at(12, 0)]);
        assert_eq!(times("the matinee"), [(0, EVENING_FROM_MINUTE)]);
        assert_eq!(
            times("an evening performance"),
            [(EVENING_FROM_MINUTE, 24 * 60)]
        );
        // Counts, seats, dates and prices are not times.
        for text in [
            "2 seats",
            "seats 12-15",
            "2026-12-24",
            "under 25.5",
            "at 25:00",
            "under £12.50",
        ] {
            assert_eq!(times(text), [], "{text}");
        }
        let e = extract("two seats together at the 19:30", &[], &[], NOW);
        assert_eq!((e.count, e.times.as_slice()), (Some(2), &[at(19, 30)][..]));
    }

    #[test]
    fn wheelchair_and_cheapest() {
        assert!(extract("is there a wheelchair space?", &[], &[], NOW).wheelchair);
        assert!(extract("any whelchair spots", &[], &[], NOW).wheelchair);
        assert!(!extract("two seats together", &[], &[], NOW).wheelchair);
        assert!(extract("the least expensive seats", &[], &[], NOW).cheapest);
        assert!(!extract("the best seats", &[], &[], NOW).cheapest);
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn sections_categories_and_ticket_types_of_a_performance() {
        let sections = names(&["Stalls", "Circle", "Box A", "Box B", "Upper Circle"]);
        let find = |text| find_sections(text, &sections);
        assert_eq!(find("two seats together in the circle"), ["Circle"]);
        assert_eq!(find("a concession in the stalls"), ["Stalls"]);
        assert_eq!(find("a stall seat"), ["Stalls"]);
        assert_eq!(find("seats in the upper circle"), ["Upper Circle"]);
        assert_eq!(find("4 seats in box b"), ["Box B"]);
        assert_eq!(find("what do the boxes cost"), ["Box A", "Box B"]);
        assert!(find("two seats together").is_empty());

        let categories = names(&["A", "B", "Premium"]);
        let category = |text| find_category(text, &categories);
        assert_eq!(category("best 2 seats in category b").as_deref(), Some("B"));
        assert_eq!(category("band a prices").as_deref(), Some("A"));
        assert_eq!(category("premium seats").as_deref(), Some("Premium"));
        assert_eq!(
            category("a seat in the stalls"),
            None,
            "a lone 'a' is not category A"
        );

        let types = names(&["adult", "concession", "child", "companion"]);
        let ticket = |text| find_ticket_type(text, &types);
        assert_eq!(
            ticket("how much is a concession in the stalls").as_deref(),
            Some("concession")
        );
        assert_eq!(ticket("student tickets").as_deref(), Some("concession"));
        assert_eq!(ticket("do kids pay less").as_deref(), Some("child"));
        assert_eq!(
            ticket("how much do carers pay").as_deref(),
            Some("companion")
        );
        assert_eq!(ticket("two adults").as_deref(), Some("adult"));
        assert_eq!(ticket("cheapest seats"), None);
        assert_eq!(
            find_ticket_type("a child ticket", &names(&["adult"])),
            None,
            "not sold"
        );
    }
}
