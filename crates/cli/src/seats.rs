//! Seat maps drawn in the terminal; seat lists as people type them
//! (`12-15,20`) are parsed by the view layer.

use std::collections::BTreeSet;

use boxoffice_client::proto::{Seat, SeatState};
use console::style;

/// Parses a seat list such as `12-15,20`: the view layer's parser, with
/// the state machine's limit.
pub use boxoffice_view::seats::parse;

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
