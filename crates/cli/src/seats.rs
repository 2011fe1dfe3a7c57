//! Seat lists as people type them (`12-15,20`) and seat maps drawn in the
//! terminal.

use std::collections::BTreeSet;

use boxoffice_client::proto::{Seat, SeatState};
use console::style;

/// Most seats one booking may take (the state machine's limit).
pub const MAX_SEATS: usize = 10;

/// Parses a seat list such as `12-15,20` or `3 4 5` (commas or spaces
/// between items, `a-b` for a range) for a show of `seat_count` seats.
/// The error says what is wrong and how to write it.
pub fn parse(input: &str, seat_count: Option<u32>) -> Result<Vec<u32>, String> {
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
        if last - first >= MAX_SEATS as u32 {
            return Err(format!("at most {MAX_SEATS} seats per booking"));
        }
        for seat in first..=last {
            if !seats.insert(seat) {
                return Err(format!("seat {seat} is listed twice"));
            }
        }
    }
    if seats.len() > MAX_SEATS {
        return Err(format!(
            "{} seats: at most {MAX_SEATS} per booking",
            seats.len()
        ));
    }
    Ok(seats.into_iter().collect())
}

fn number(text: &str, hint: &str) -> Result<u32, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{:?} is not a seat number: {hint}", text.trim()))
}

/// Seats of `wanted` that the map shows as taken, for a hint.
pub fn taken(map: &[Seat], wanted: &[u32]) -> Vec<u32> {
    wanted
        .iter()
        .copied()
        .filter(|no| {
            map.iter()
                .find(|s| s.seat_no == *no)
                .is_some_and(|s| s.state != SeatState::Available as i32)
        })
        .collect()
}

/// Draws a seat map: rows of seat numbers, coloured free (green), held
/// (yellow), booked (red) and yours (cyan, bold), `per_row` to a row,
/// with a legend. Without colours each number carries a mark instead:
/// none for free, `h` held, `x` booked, `*` yours.
pub fn render(map: &[Seat], mine: &BTreeSet<u32>, per_row: usize, colors: bool) -> String {
    let width = map
        .iter()
        .map(|s| s.seat_no.to_string().len())
        .max()
        .unwrap_or(1);
    let mut out = String::new();
    for row in map.chunks(per_row.max(1)) {
        let cells: Vec<String> = row
            .iter()
            .map(|seat| {
                let label = format!("{:>width$}", seat.seat_no);
                let yours = mine.contains(&seat.seat_no);
                let state = SeatState::try_from(seat.state).unwrap_or(SeatState::Unspecified);
                if colors {
                    let styled = match (yours, state) {
                        (true, _) => style(label).cyan().bold(),
                        (false, SeatState::Available) => style(label).green(),
                        (false, SeatState::Held) => style(label).yellow(),
                        (false, _) => style(label).red().dim(),
                    };
                    format!("{} ", styled.force_styling(true))
                } else {
                    let mark = match (yours, state) {
                        (true, _) => '*',
                        (false, SeatState::Available) => ' ',
                        (false, SeatState::Held) => 'h',
                        (false, _) => 'x',
                    };
                    format!("{label}{mark}")
                }
            })
            .collect();
        out.push_str(cells.join(" ").trim_end());
        out.push('\n');
    }
    if colors {
        out.push_str(&format!(
            "{} free  {} held  {} booked  {} yours",
            style("■").green().force_styling(true),
            style("■").yellow().force_styling(true),
            style("■").red().dim().force_styling(true),
            style("■").cyan().bold().force_styling(true),
        ));
    } else {
        out.push_str("legend: n free, nh held, nx booked, n* yours");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_lists_parse_as_people_write_them() {
        assert_eq!(parse("12-15,20", Some(100)), Ok(vec![12, 13, 14, 15, 20]));
        assert_eq!(parse(" 3 4, 5 ", None), Ok(vec![3, 4, 5]));
        assert_eq!(parse("7", Some(7)), Ok(vec![7]));
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
            ("4,4", "listed twice"),
            ("2-", "not a seat number"),
        ];
        for (input, needle) in cases {
            let problem = parse(input, Some(100)).unwrap_err();
            assert!(problem.contains(needle), "{input:?}: {problem:?}");
        }
    }

    #[test]
    fn a_plain_map_marks_every_state() {
        let seat = |no, state: SeatState| Seat {
            seat_no: no,
            state: state as i32,
        };
        let map = [
            seat(1, SeatState::Available),
            seat(2, SeatState::Held),
            seat(3, SeatState::Booked),
            seat(4, SeatState::Booked),
            seat(10, SeatState::Available),
        ];
        let mine = BTreeSet::from([4]);
        let text = render(&map, &mine, 3, false);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(" 1   2h  3x"));
        assert_eq!(lines.next(), Some(" 4* 10"));
        assert!(lines.next().unwrap().starts_with("legend"));
        assert_eq!(taken(&map, &[1, 2, 3]), vec![2, 3]);
    }
}
