//! Seat lists as people type them (`12-15,20`) and read them (`12-15, 20`).

use std::collections::BTreeSet;

use crate::MAX_SEATS_PER_BOOKING;

/// Parses a seat list such as `12-15,20` or `3 4 5` (commas or spaces
/// between items, `a-b` for a range) for a show of `seat_count` seats, if
/// known. The seats come back ascending; at most [`MAX_SEATS_PER_BOOKING`]
/// of them, none twice. The error says what is wrong and how to write it.
pub fn parse(input: &str, seat_count: Option<u32>) -> Result<Vec<u32>, String> {
    const MAX: usize = MAX_SEATS_PER_BOOKING;
    let hint = "write seats like 12-15,20";
    let mut seats = BTreeSet::new();
    let items: Vec<&str> = input
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
        .collect();
    if items.is_empty() {
        return Err(format!("no seats given: {hint}"));
    }
    for item in items {
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (number(a, hint)?, number(b, hint)?),
            None => {
                let n = number(item, hint)?;
                (n, n)
            }
        };
        if first == 0 {
            return Err(format!("seats are numbered from 1, not 0: {hint}"));
        }
        if first > last {
            return Err(format!("{item} runs backwards: write {last}-{first}"));
        }
        if let Some(count) = seat_count
            && last > count
        {
            return Err(format!(
                "seat {last} does not exist: this show has seats 1 to {count}"
            ));
        }
        // Checked before the range is expanded, so `1-4000000000` costs
        // nothing.
        if (last - first) as usize >= MAX {
            return Err(format!("at most {MAX} seats per booking"));
        }
        for seat in first..=last {
            if !seats.insert(seat) {
                return Err(format!("seat {seat} is listed twice"));
            }
        }
    }
    if seats.len() > MAX {
        return Err(format!("{} seats: at most {MAX} per booking", seats.len()));
    }
    Ok(seats.into_iter().collect())
}

fn number(text: &str, hint: &str) -> Result<u32, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{:?} is not a seat number: {hint}", text.trim()))
}

/// Ascending seats as people read them: runs as ranges, `3-5, 9, 11-12`.
pub fn format(seats: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < seats.len() {
        let mut j = i;
        while j + 1 < seats.len() && seats[j + 1] == seats[j] + 1 {
            j += 1;
        }
        parts.push(if j > i {
            format!("{}-{}", seats[i], seats[j])
        } else {
            seats[i].to_string()
        });
        i = j + 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_lists_parse_as_people_write_them() {
        assert_eq!(parse("12-15,20", Some(100)), Ok(vec![12, 13, 14, 15, 20]));
        assert_eq!(parse(" 3 4, 5 ", None), Ok(vec![3, 4, 5]));
        assert_eq!(parse("7", Some(7)), Ok(vec![7]));
        assert_eq!(parse("9,3-5", None), Ok(vec![3, 4, 5, 9]));
    }

    #[test]
    fn bad_seat_lists_say_what_is_wrong() {
        let cases = [
            ("", "no seats"),
            ("abc", "not a seat number"),
            ("0", "numbered from 1"),
            ("0-3", "numbered from 1"),
            ("5-3", "backwards"),
            ("99-101", "does not exist"),
            ("1-11", "at most 10"),
            ("1-6,7-12", "at most 10"),
            ("1-4000000000", "does not exist"),
            ("4,4", "listed twice"),
            ("2-", "not a seat number"),
        ];
        for (input, needle) in cases {
            let problem = parse(input, Some(100)).unwrap_err();
            assert!(problem.contains(needle), "{input:?}: {problem:?}");
        }
        assert!(
            parse("1-4000000000", None)
                .unwrap_err()
                .contains("at most 10")
        );
    }

    #[test]
    fn the_limit_is_the_state_machines() {
        assert_eq!(MAX_SEATS_PER_BOOKING, boxoffice_core::MAX_SEATS_PER_BOOKING);
        let most = format!("1-{MAX_SEATS_PER_BOOKING}");
        assert_eq!(
            parse(&most, None).map(|s| s.len()),
            Ok(MAX_SEATS_PER_BOOKING)
        );
        let one_more = format!("1-{}", MAX_SEATS_PER_BOOKING + 1);
        assert!(parse(&one_more, None).is_err());
        let scattered: Vec<String> = (1..=MAX_SEATS_PER_BOOKING as u32 + 1)
            .map(|n| (2 * n).to_string())
            .collect();
        assert!(parse(&scattered.join(","), None).is_err());
    }

    #[test]
    fn seat_lists_print_as_ranges_and_parse_back() {
        assert_eq!(format(&[]), "");
        assert_eq!(format(&[7]), "7");
        assert_eq!(format(&[3, 4, 5, 9, 11, 12]), "3-5, 9, 11-12");
        assert_eq!(parse(&format(&[3, 4, 5, 9]), None), Ok(vec![3, 4, 5, 9]));
    }
}
