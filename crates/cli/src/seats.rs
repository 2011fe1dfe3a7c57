//! Seat maps drawn in the terminal: a simple show's seats by number
//! ([`render`]), a performance's by section and row, coloured by price
//! category ([`render_plan`]). Seat lists as people type them
//! (`12-15,20`) are parsed by the view layer.

use std::collections::{BTreeMap, BTreeSet};

use boxoffice_client::proto::{PriceTable, Seat, SeatLayout, SeatState};
use boxoffice_core::{Place, SeatNo, VenueIndex};
use console::{Style, style};

use crate::output::money;

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

/// The colours of price categories, in the order the performance lists
/// them (then round again); none is yellow or red, which a flat map uses
/// for held and booked.
const CATEGORY_COLOURS: [console::Color; 5] = [
    console::Color::Green,
    console::Color::Blue,
    console::Color::Magenta,
    console::Color::Cyan,
    console::Color::White,
];

/// The mark after a seat's label: none for free, `h` held, `x` booked,
/// `#` held back, `*` yours.
fn mark(state: i32, yours: bool) -> char {
    if yours {
        return '*';
    }
    match SeatState::try_from(state).unwrap_or(SeatState::Unspecified) {
        SeatState::Available => ' ',
        SeatState::Held => 'h',
        SeatState::HeldBack => '#',
        _ => 'x',
    }
}

/// What [`render_plan`] draws: a performance's places and prices.
pub struct Plan<'a> {
    /// The venue.
    pub venue: &'a VenueIndex,
    /// The state of each place, by number.
    pub seats: &'a [Seat],
    /// The category of each place, by number.
    pub layout: &'a [SeatLayout],
    /// The categories, types and prices.
    pub prices: &'a PriceTable,
    /// The places the viewer holds or has booked.
    pub mine: &'a BTreeSet<u32>,
}

/// Draws a performance's plan: each section, then each row by its label
/// with its seats by label, free seats coloured by price category, a
/// taken, held-back or own seat marked (`x`, `h`, `#`, `*`) and dimmed;
/// then the standing areas with their free places, and a legend of the
/// categories and their prices. Without colours the category is written
/// before the seats it starts at, as `[A]`.
pub fn render_plan(plan: &Plan<'_>, colors: bool) -> String {
    let state: BTreeMap<u32, i32> = plan.seats.iter().map(|s| (s.seat_no, s.state)).collect();
    let category: BTreeMap<u32, &str> = plan
        .layout
        .iter()
        .map(|l| (l.seat_no, l.category.as_str()))
        .collect();
    let colour_of = |name: &str| -> Style {
        let i = plan
            .prices
            .categories
            .iter()
            .position(|c| c == name)
            .unwrap_or(0);
        Style::new()
            .fg(CATEGORY_COLOURS[i % CATEGORY_COLOURS.len()])
            .force_styling(true)
    };
    let venue = plan.venue.venue();
    let seat_width = venue
        .sections
        .iter()
        .flat_map(|s| &s.rows)
        .flat_map(|r| &r.seats)
        .map(|s| s.label.chars().count())
        .max()
        .unwrap_or(1);
    let row_width = venue
        .sections
        .iter()
        .flat_map(|s| &s.rows)
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(1);
    let mut out = String::new();
    // Places are numbered section by section, row by row, from 1.
    let mut no = 0u32;
    for section in &venue.sections {
        out.push_str(&section.name);
        out.push('\n');
        for row in &section.rows {
            let mut line = format!("  {:>row_width$} ", row.label);
            let mut last_category = None;
            for seat in &row.seats {
                no += 1;
                let seat_state = state.get(&no).copied().unwrap_or_default();
                let yours = plan.mine.contains(&no);
                let cat = category.get(&no).copied().unwrap_or("");
                let cell = format!("{:>seat_width$}{}", seat.label, mark(seat_state, yours));
                if colors {
                    let free = seat_state == SeatState::Available as i32 && !yours;
                    let styled = match (yours, free) {
                        (true, _) => style(cell).bold().reverse().force_styling(true),
                        (false, true) => colour_of(cat).apply_to(cell),
                        (false, false) => style(cell).dim().force_styling(true),
                    };
                    line.push_str(&format!(" {styled}"));
                } else {
                    if last_category != Some(cat) {
                        line.push_str(&format!(" [{cat}]"));
                    }
                    line.push(' ');
                    line.push_str(&cell);
                }
                last_category = Some(cat);
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    for (i, area) in venue.areas.iter().enumerate() {
        let Ok(i) = u16::try_from(i) else { break };
        let places = plan.venue.area_places(i);
        let first = *places.start();
        let free = places
            .filter(|no| state.get(no).copied() == Some(SeatState::Available as i32))
            .count();
        let cat = category.get(&first).copied().unwrap_or("");
        debug_assert!(matches!(
            plan.venue.place(SeatNo(first)),
            Some(Place::Standing { .. })
        ));
        out.push_str(&format!(
            "{} (standing, [{cat}]): {free} of {} free\n",
            area.name, area.capacity
        ));
    }
    for name in &plan.prices.categories {
        let prices: Vec<String> = plan
            .prices
            .prices
            .iter()
            .filter(|p| &p.category == name)
            .map(|p| format!("{} {}", p.ticket_type, money(p.cents)))
            .collect();
        let key = if colors {
            format!("{} {name}", colour_of(name).apply_to("■"))
        } else {
            format!("[{name}]")
        };
        out.push_str(&format!("{key}: {}\n", prices.join(", ")));
    }
    out.push_str("marks: n free, nh held, nx booked, n# held back, n* yours");
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

    /// A two-row hall with a standing area, categories A (row A) and B.
    const HALL: &str = r#"
name = "Hall"
[stage]
x = 0
y = 0
width = 100
height = 10
[[section]]
name = "Stalls"
[[section.row]]
label = "A"
seats = "1-3"
x = 0
y = 20
[[section.row]]
label = "B"
seats = "1-3"
x = 0
y = 40
[[area]]
name = "Pit"
capacity = 2
x = 0
y = 60
width = 100
height = 20
"#;

    #[test]
    fn a_plan_is_drawn_by_row_and_label_with_categories_and_marks() {
        use boxoffice_client::proto::Price;
        let venue =
            VenueIndex::new(boxoffice_view::venue_file::parse_venue(HALL).unwrap()).unwrap();
        let states = [
            SeatState::Available,
            SeatState::Booked,
            SeatState::HeldBack,
            SeatState::Held,
            SeatState::Available,
            SeatState::Available,
            SeatState::Booked,
            SeatState::Available,
        ];
        let seats: Vec<Seat> = (1..)
            .zip(states)
            .map(|(no, state)| Seat {
                seat_no: no,
                state: state as i32,
            })
            .collect();
        let layout: Vec<SeatLayout> = (1..=8)
            .map(|no| SeatLayout {
                seat_no: no,
                category: match no {
                    1..=3 => "A",
                    4 | 5 => "B",
                    _ => "C",
                }
                .to_owned(),
                ..Default::default()
            })
            .collect();
        let price = |category: &str, cents| Price {
            category: category.into(),
            ticket_type: "adult".into(),
            cents,
        };
        let prices = PriceTable {
            categories: vec!["A".into(), "B".into(), "C".into()],
            ticket_types: vec!["adult".into()],
            prices: vec![price("A", 5_500), price("B", 3_500), price("C", 1_000)],
        };
        let mine = BTreeSet::from([5]);
        let plan = Plan {
            venue: &venue,
            seats: &seats,
            layout: &layout,
            prices: &prices,
            mine: &mine,
        };
        let plain = render_plan(&plan, false);
        let lines: Vec<&str> = plain.lines().collect();
        assert_eq!(lines[0], "Stalls");
        assert_eq!(lines[1], "  A  [A] 1  2x 3#");
        assert_eq!(lines[2], "  B  [B] 1h 2* [C] 3");
        assert_eq!(lines[3], "Pit (standing, [C]): 1 of 2 free");
        assert_eq!(lines[4], "[A]: adult 55.00");
        assert!(lines.last().unwrap().starts_with("marks:"));
        assert!(!plain.contains('\x1b'));

        let coloured = render_plan(&plan, true);
        assert!(coloured.contains('\x1b'), "colours on a terminal");
        let green_1 = console::style("1 ").green().force_styling(true).to_string();
        assert!(
            coloured.contains(&green_1),
            "free A seats in A's colour: {coloured:?}"
        );
    }
}
