//! A run of performances as an administrator says it: "Tue-Sat 19:30 and
//! Sat 14:30 for six weeks from 12 January", in the venue's time zone.
//!
//! [`Slots::parse`] reads the weekly pattern (`tue-sat 19:30, sat 14:30`);
//! [`expand`] turns it into every performance of the run, each with a
//! readable id (`hamlet-2027-01-12-1930`) and its start as an instant. A
//! civil time that a daylight-saving change skips or repeats is resolved
//! the usual way (jiff's "compatible" rule: a skipped time moves forward,
//! a repeated one takes the earlier instant).

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;

/// Most performances one run may have (the state machine's limit).
pub const MAX_RUN: usize = 400;

/// Why a run cannot be expanded. Each message says what to write instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A slot is not "DAYS HH:MM".
    #[error("{0:?} is not a slot such as \"tue-sat 19:30\" or \"sat 14:30\"")]
    BadSlot(String),
    /// A day name is not known.
    #[error("{0:?} is not a day: use mon, tue, wed, thu, fri, sat or sun")]
    BadDay(String),
    /// No slots were given.
    #[error("give at least one slot, such as \"tue-sat 19:30\"")]
    NoSlots,
    /// The time zone is not known.
    #[error("{0:?} is not a time zone such as \"Europe/London\" or \"UTC\"")]
    BadZone(String),
    /// The run ends before it starts.
    #[error("the run ends ({until}) before it starts ({from})")]
    Backwards {
        /// First day.
        from: Date,
        /// Last day.
        until: Date,
    },
    /// The run has no performance or too many.
    #[error("the run has {0} performances: a run has 1 to {MAX_RUN}")]
    Size(usize),
    /// A time could not be placed in the time zone.
    #[error("{0}")]
    Zone(String),
}

/// The weekly pattern of a run: days of the week, each with start times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slots(Vec<(Weekday, Time)>);

/// The day `name` names ("tue", "Tuesday").
fn day(name: &str) -> Result<Weekday, ScheduleError> {
    let lower = name.trim().to_ascii_lowercase();
    let days = [
        ("mon", Weekday::Monday),
        ("tue", Weekday::Tuesday),
        ("wed", Weekday::Wednesday),
        ("thu", Weekday::Thursday),
        ("fri", Weekday::Friday),
        ("sat", Weekday::Saturday),
        ("sun", Weekday::Sunday),
    ];
    days.iter()
        .find(|(short, _)| lower.len() >= 3 && lower.starts_with(short))
        .map(|&(_, day)| day)
        .ok_or_else(|| ScheduleError::BadDay(name.trim().to_owned()))
}

impl Slots {
    /// Reads slots separated by commas or semicolons, each "DAYS HH:MM"
    /// where DAYS is a day, a range ("tue-sat", wrapping past Sunday if
    /// need be) or days joined by "+" ("mon+wed").
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let mut slots = Vec::new();
        for slot in text
            .split([',', ';'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (days, time) = slot
                .split_once(char::is_whitespace)
                .ok_or_else(|| ScheduleError::BadSlot(slot.to_owned()))?;
            let time: Time = time
                .trim()
                .parse()
                .map_err(|_| ScheduleError::BadSlot(slot.to_owned()))?;
            for part in days.split('+') {
                match part.split_once('-') {
                    Some((first, last)) => {
                        let (mut d, last) = (day(first)?, day(last)?);
                        loop {
                            slots.push((d, time));
                            if d == last {
                                break;
                            }
                            d = d.next();
                        }
                    }
                    None => slots.push((day(part)?, time)),
                }
            }
        }
        if slots.is_empty() {
            return Err(ScheduleError::NoSlots);
        }
        slots.sort_by_key(|&(d, t)| (d.to_monday_zero_offset(), t));
        slots.dedup();
        Ok(Self(slots))
    }
}

/// One performance of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// Its id: `PREFIX-YYYY-MM-DD-HHMM`.
    pub id: String,
    /// When it starts, in milliseconds since the Unix epoch.
    pub starts_at_ms: i64,
}

/// Every performance of `slots` from `from` to `until` (both included),
/// in `zone` (an IANA name such as "Europe/London", or "UTC"), in time
/// order, with ids starting `prefix`.
pub fn expand(
    prefix: &str,
    slots: &Slots,
    from: Date,
    until: Date,
    zone: &str,
) -> Result<Vec<Planned>, ScheduleError> {
    if until < from {
        return Err(ScheduleError::Backwards { from, until });
    }
    let tz = TimeZone::get(zone).map_err(|_| ScheduleError::BadZone(zone.to_owned()))?;
    let mut planned = Vec::new();
    let mut date = from;
    while date <= until {
        for &(_, time) in slots.0.iter().filter(|(d, _)| *d == date.weekday()) {
            let civil = date.to_datetime(time);
            let zoned = civil
                .to_zoned(tz.clone())
                .map_err(|e| ScheduleError::Zone(e.to_string()))?;
            planned.push(Planned {
                id: format!("{prefix}-{}-{:02}{:02}", date, time.hour(), time.minute()),
                starts_at_ms: zoned.timestamp().as_millisecond(),
            });
            if planned.len() > MAX_RUN {
                return Err(ScheduleError::Size(planned.len()));
            }
        }
        date = date
            .tomorrow()
            .map_err(|e| ScheduleError::Zone(e.to_string()))?;
    }
    if planned.is_empty() {
        return Err(ScheduleError::Size(0));
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn six_weeks_of_tuesday_to_saturday_evenings_and_saturday_matinees() {
        let slots = Slots::parse("tue-sat 19:30, sat 14:30").unwrap();
        // 12 January 2027 is a Tuesday; six weeks end on Saturday 20 February.
        let run = expand(
            "hamlet",
            &slots,
            date(2027, 1, 12),
            date(2027, 2, 20),
            "UTC",
        )
        .unwrap();
        assert_eq!(run.len(), 6 * 6);
        assert_eq!(run[0].id, "hamlet-2027-01-12-1930");
        assert_eq!(run[4].id, "hamlet-2027-01-16-1430");
        assert_eq!(run[5].id, "hamlet-2027-01-16-1930");
        assert!(
            run.windows(2)
                .all(|w| w[0].starts_at_ms < w[1].starts_at_ms)
        );
        let first: jiff::Timestamp = "2027-01-12T19:30:00Z".parse().unwrap();
        assert_eq!(run[0].starts_at_ms, first.as_millisecond());
    }

    #[test]
    fn times_are_civil_in_the_venues_zone_across_a_clock_change() {
        let slots = Slots::parse("sat 19:30").unwrap();
        // London moves to summer time on 28 March 2027.
        let run = expand(
            "p",
            &slots,
            date(2027, 3, 20),
            date(2027, 4, 3),
            "Europe/London",
        )
        .unwrap();
        let winter: jiff::Timestamp = "2027-03-20T19:30:00Z".parse().unwrap();
        let summer: jiff::Timestamp = "2027-04-03T18:30:00Z".parse().unwrap();
        assert_eq!(run[0].starts_at_ms, winter.as_millisecond());
        assert_eq!(run[2].starts_at_ms, summer.as_millisecond());
    }

    #[test]
    fn ranges_wrap_and_days_join() {
        let wrap = Slots::parse("fri-mon 20:00").unwrap();
        assert_eq!(wrap.0.len(), 4);
        let joined = Slots::parse("mon+wed 19:00; Wednesday 14:00").unwrap();
        assert_eq!(joined.0.len(), 3);
    }

    #[test]
    fn every_mistake_says_what_to_write() {
        assert_eq!(Slots::parse(""), Err(ScheduleError::NoSlots));
        assert!(matches!(
            Slots::parse("tue-sat"),
            Err(ScheduleError::BadSlot(_))
        ));
        assert!(matches!(
            Slots::parse("tue 25:00"),
            Err(ScheduleError::BadSlot(_))
        ));
        assert!(matches!(
            Slots::parse("xyz 19:30"),
            Err(ScheduleError::BadDay(_))
        ));
        let slots = Slots::parse("sat 19:30").unwrap();
        assert!(matches!(
            expand("p", &slots, date(2027, 2, 1), date(2027, 1, 1), "UTC"),
            Err(ScheduleError::Backwards { .. })
        ));
        assert!(matches!(
            expand(
                "p",
                &slots,
                date(2027, 1, 1),
                date(2027, 1, 1),
                "Mars/Olympus"
            ),
            Err(ScheduleError::BadZone(_))
        ));
        // 1 January 2027 is a Friday: no Saturday in a one-day run.
        assert_eq!(
            expand("p", &slots, date(2027, 1, 1), date(2027, 1, 1), "UTC"),
            Err(ScheduleError::Size(0))
        );
        let daily = Slots::parse("mon-sun 10:00, mon-sun 20:00").unwrap();
        assert!(matches!(
            expand("p", &daily, date(2027, 1, 1), date(2028, 1, 1), "UTC"),
            Err(ScheduleError::Size(_))
        ));
    }
}
