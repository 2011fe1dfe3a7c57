//! The venue file: the two examples read as the halls they describe, and
//! every kind of mistake is refused with the line it is on.

use boxoffice_core::venue::{SeatAttrs, Venue, VenueIndex};
use boxoffice_view::venue_file::{VenueFileError, parse_venue, venue_to_toml};

const THEATRE: &str = include_str!("../../../examples/venues/theatre.toml");
const CLUB: &str = include_str!("../../../examples/venues/club.toml");

/// Seats with all of `attr`, over the whole venue.
fn count_with(venue: &Venue, attr: SeatAttrs) -> usize {
    venue
        .sections
        .iter()
        .flat_map(|s| &s.rows)
        .flat_map(|r| &r.seats)
        .filter(|seat| seat.attrs.contains(attr))
        .count()
}

fn seats_in(venue: &Venue, section: &str) -> usize {
    venue
        .sections
        .iter()
        .filter(|s| s.name == section)
        .flat_map(|s| &s.rows)
        .map(|r| r.seats.len())
        .sum()
}

#[test]
fn the_theatre_has_600_seats() {
    let venue = parse_venue(THEATRE).unwrap();
    venue.check().unwrap();
    assert_eq!(venue.name, "The Royal Court");
    assert_eq!(seats_in(&venue, "Stalls"), 420);
    assert_eq!(seats_in(&venue, "Circle"), 160);
    for (bx, n) in [("Box A", 6), ("Box B", 4), ("Box C", 6), ("Box D", 4)] {
        assert_eq!(seats_in(&venue, bx), n, "{bx}");
    }
    assert!(venue.areas.is_empty());
    assert_eq!(count_with(&venue, SeatAttrs::WHEELCHAIR), 4);
    assert_eq!(count_with(&venue, SeatAttrs::COMPANION), 4);
    assert_eq!(count_with(&venue, SeatAttrs::RESTRICTED_VIEW), 12);
    // Every stalls row has two aisle seats (the centre aisle), every
    // circle row four (two aisles).
    assert_eq!(count_with(&venue, SeatAttrs::AISLE), 17 * 2 + 6 * 4);
    let index = VenueIndex::new(venue).unwrap();
    assert_eq!(index.place_count(), 600);
    assert_eq!(index.seat_count(), 600);
}

#[test]
fn the_club_has_a_floor_of_2000_and_400_seats() {
    let venue = parse_venue(CLUB).unwrap();
    venue.check().unwrap();
    assert_eq!(seats_in(&venue, "Balcony"), 400);
    assert_eq!(venue.areas.len(), 1);
    assert_eq!(venue.areas[0].name, "Floor");
    assert_eq!(venue.areas[0].capacity, 2000);
    assert_eq!(count_with(&venue, SeatAttrs::WHEELCHAIR), 4);
    assert_eq!(count_with(&venue, SeatAttrs::COMPANION), 4);
    assert_eq!(count_with(&venue, SeatAttrs::RESTRICTED_VIEW), 12);
    let index = VenueIndex::new(venue).unwrap();
    assert_eq!(index.seat_count(), 400);
    assert_eq!(index.place_count(), 2400);
}

const HEAD: &str = r#"name = "Hall"
[stage]
x = 0
y = 0
width = 400
height = 40
"#;

/// A compact row: positions, the aisle gap and its aisle seats, the
/// default spacing, and attributes by label.
#[test]
fn a_compact_row_places_its_seats() {
    let text = format!(
        "{HEAD}{}",
        r#"
[[section]]
name = "Stalls"
[[section.row]]
label = "A"
seats = "1-4"
x = 100
y = 100
aisles_after = ["2"]
wheelchair = ["1"]
companion = ["2"]
[[section.row]]
label = "B"
seats = "1-3"
x = 100
y = 130
spacing = 30
reverse = true
restricted_view = ["3"]
"#
    );
    let venue = parse_venue(&text).unwrap();
    let a = &venue.sections[0].rows[0].seats;
    let placed: Vec<_> = a.iter().map(|s| (s.label.as_str(), s.x, s.y)).collect();
    assert_eq!(
        placed,
        [
            ("1", 100, 100),
            ("2", 120, 100),
            ("3", 160, 100),
            ("4", 180, 100)
        ]
    );
    assert_eq!(a[0].attrs, SeatAttrs::WHEELCHAIR);
    assert_eq!(a[1].attrs, SeatAttrs::COMPANION.with(SeatAttrs::AISLE));
    assert_eq!(a[2].attrs, SeatAttrs::AISLE);
    assert_eq!(a[3].attrs, SeatAttrs::default());
    // Reversed: seat 1 is on the right, still first in the row's order.
    let b = &venue.sections[0].rows[1].seats;
    let placed: Vec<_> = b.iter().map(|s| (s.label.as_str(), s.x)).collect();
    assert_eq!(placed, [("1", 160), ("2", 130), ("3", 100)]);
    assert_eq!(b[2].attrs, SeatAttrs::RESTRICTED_VIEW);
}

#[test]
fn a_curved_row_bends_its_ends_towards_the_stage() {
    let text = format!(
        "{HEAD}{}",
        r#"
[[section]]
name = "Circle"
[[section.row]]
label = "A"
seats = "1-5"
x = 100
y = 300
curve = 20
"#
    );
    let venue = parse_venue(&text).unwrap();
    let ys: Vec<_> = venue.sections[0].rows[0]
        .seats
        .iter()
        .map(|s| s.y)
        .collect();
    assert_eq!(ys, [280, 295, 300, 295, 280]);
}

#[test]
fn ranges_and_lists_name_the_seats() {
    let text = format!(
        "{HEAD}{}",
        r#"
[[section]]
name = "Stalls"
[[section.row]]
label = "A"
seats = "101-103, 105"
x = 0
y = 100
[[section.row]]
label = "B"
seats = ["B1", "B2"]
x = 0
y = 130
"#
    );
    let venue = parse_venue(&text).unwrap();
    let labels = |r: usize| -> Vec<String> {
        venue.sections[0].rows[r]
            .seats
            .iter()
            .map(|s| s.label.clone())
            .collect()
    };
    assert_eq!(labels(0), ["101", "102", "103", "105"]);
    assert_eq!(labels(1), ["B1", "B2"]);
}

#[test]
fn an_explicit_row_places_each_seat() {
    let text = format!(
        "{HEAD}{}",
        r#"
[[section]]
name = "Box A"
[[section.row]]
label = "A"
y = 90
[[section.row.seat]]
label = "1"
x = 10
attrs = ["wheelchair", "aisle"]
[[section.row.seat]]
label = "2"
x = 35
y = 115
"#
    );
    let venue = parse_venue(&text).unwrap();
    let seats = &venue.sections[0].rows[0].seats;
    assert_eq!((seats[0].x, seats[0].y), (10, 90));
    assert_eq!(seats[0].attrs, SeatAttrs::WHEELCHAIR.with(SeatAttrs::AISLE));
    assert_eq!((seats[1].x, seats[1].y), (35, 115));
}

/// A small good file, its lines numbered, to break one line at a time.
/// `{HEAD}` is lines 1 to 6; row A's label is on line 11, row B's on
/// 16, the area's capacity on 24.
const GOOD: &str = r#"
[[section]]
name = "Stalls"
[[section.row]]
label = "A"
seats = "1-10"
x = 100
y = 100
[[section.row]]
label = "B"
seats = "1-10"
x = 120
y = 130
wheelchair = ["1"]

[[area]]
name = "Floor"
capacity = 100
x = 0
y = 400
width = 400
height = 100
"#;

fn good() -> String {
    format!("{HEAD}{GOOD}")
}

/// `good()` with line `line` replaced by `with` (several lines if it has
/// newlines), parsed: it must fail.
fn broken(line: usize, with: &str) -> VenueFileError {
    let text: Vec<String> = good()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == line {
                with.to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    let text = text.join("\n");
    match parse_venue(&text) {
        Ok(_) => panic!("line {line} as {with:?} was accepted:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn the_good_file_is_good() {
    let venue = parse_venue(&good()).unwrap();
    assert_eq!(venue.sections[0].rows.len(), 2);
    // Line numbers as the tests below assume them.
    assert_eq!(good().lines().nth(15), Some(r#"label = "B""#));
    assert_eq!(good().lines().nth(23), Some("capacity = 100"));
}

/// Each kind of mistake: the line it is reported on and words of its message.
#[test]
fn every_mistake_names_its_line() {
    let cases: &[(&str, usize, &str, usize, &str)] = &[
        ("syntax error", 17, "seats = \"1-10", 17, ""),
        ("unknown key", 18, "xx = 120", 18, "unknown field `xx`"),
        (
            "unknown key in a seat",
            20,
            "wheelchair = [\"1\"]\n[[section.row.seat]]\nlabel = \"1\"\nx = 1\nsize = 2",
            24,
            "unknown field `size`",
        ),
        ("wrong type", 24, "capacity = \"lots\"", 24, "invalid type"),
        (
            "duplicate row",
            16,
            r#"label = "A""#,
            16,
            r#"section "Stalls" has two rows labelled "A" (the first on line 11)"#,
        ),
        (
            "duplicate seat label",
            17,
            r#"seats = "1-5, 5-9""#,
            17,
            "seat Stalls B-5 is listed twice",
        ),
        (
            "duplicate seat in a list",
            17,
            r#"seats = ["1", "2", "1"]"#,
            17,
            "seat Stalls B-1 is listed twice",
        ),
        (
            "empty row (empty list)",
            17,
            "seats = []",
            16,
            r#"row "B" of section "Stalls" has no seats"#,
        ),
        (
            "empty row (no seats)",
            17,
            "",
            16,
            r#"row "B" of section "Stalls" has no seats"#,
        ),
        (
            "two seats at one position",
            19,
            "y = 100",
            17,
            "seat Stalls B-1 is at (120, 100), where seat Stalls A-2 already is (line 12)",
        ),
        ("missing key", 24, "", 22, "missing field `capacity`"),
        (
            "capacity 0",
            24,
            "capacity = 0",
            24,
            r#"standing area "Floor" has a capacity of 0"#,
        ),
        ("negative capacity", 24, "capacity = -1", 24, ""),
        (
            "bad attribute name",
            20,
            "wheelchair = [\"1\"]\n[[section.row]]\nlabel = \"C\"\ny = 160\n[[section.row.seat]]\nlabel = \"1\"\nx = 10\nattrs = [\"wheel-chair\"]",
            27,
            r#"unknown attribute "wheel-chair""#,
        ),
        (
            "attribute of a missing seat",
            20,
            r#"wheelchair = ["11"]"#,
            20,
            r#"row "B" of section "Stalls" has no seat "11" (named in `wheelchair`)"#,
        ),
        (
            "bad range (backwards)",
            17,
            r#"seats = "5-1""#,
            17,
            r#"bad seat range "5-1": it runs backwards"#,
        ),
        (
            "bad range (not numbers)",
            17,
            r#"seats = "A-F""#,
            17,
            "bad seat range",
        ),
        (
            "bad range (open)",
            17,
            r#"seats = "1-""#,
            17,
            "bad seat range",
        ),
        (
            "aisle after no seat",
            18,
            "x = 120\naisles_after = [\"12\"]",
            19,
            "has no seat \"12\" (named in `aisles_after`)",
        ),
        (
            "aisle after the last seat",
            18,
            "x = 120\naisles_after = [\"10\"]",
            19,
            "is the last of row",
        ),
        ("spacing 0", 18, "x = 120\nspacing = 0", 19, "spacing 0"),
        (
            "duplicate section",
            23,
            r#"name = "Stalls""#,
            23,
            r#"already a section or standing area called "Stalls" (line 9)"#,
        ),
        (
            "bad label",
            16,
            r#"label = "B,C""#,
            16,
            r#"bad label "B,C" for a row of section "Stalls""#,
        ),
        (
            "both forms",
            20,
            "wheelchair = [\"1\"]\n[[section.row.seat]]\nlabel = \"1\"\nx = 1",
            16,
            "both `seats` and [[section.row.seat]]",
        ),
        ("no x", 18, "", 16, "not both `x`"),
        (
            "empty section",
            21,
            "[[section]]\nname = \"Circle\"",
            22,
            r#"section "Circle" has no rows"#,
        ),
        ("empty name", 1, r#"name = """#, 1, "the venue's name"),
    ];
    for &(what, line, with, expected_line, words) in cases {
        let error = broken(line, with);
        assert_eq!(error.line, Some(expected_line), "{what}: {error}");
        assert!(error.message.contains(words), "{what}: {error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("line {expected_line}: ")),
            "{what}: {error}"
        );
    }
}

#[test]
fn the_error_reads_as_the_brief_says() {
    let error = broken(17, "seats = []");
    assert_eq!(
        error.to_string(),
        r#"line 16: row "B" of section "Stalls" has no seats"#
    );
}

#[test]
fn a_rectangle_out_of_range_names_its_line() {
    let text = HEAD.replace("width = 400", "width = 0");
    let error = parse_venue(&format!("{text}{GOOD}")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 2: the stage is 0 by 40; width and height must be 1 to 1000000"
    );
    let error = broken(25, "x = -2000000");
    assert_eq!(
        error.to_string(),
        r#"line 23: standing area "Floor" is at (-2000000, 400), beyond ±1000000"#
    );
}

#[test]
fn what_only_the_core_check_sees_names_the_venue() {
    let error = parse_venue(HEAD).unwrap_err();
    assert_eq!(error.line, None);
    assert_eq!(
        error.to_string(),
        "the venue has no seats and no standing areas"
    );
}

#[test]
fn an_export_reads_back_the_same() {
    for text in [THEATRE, CLUB, &good()] {
        let venue = parse_venue(text).unwrap();
        let again = parse_venue(&venue_to_toml(&venue)).unwrap();
        assert_eq!(again, venue);
    }
}

/// The example in docs/venues.md is a venue file that reads.
#[test]
fn the_documented_example_reads() {
    let doc = include_str!("../../../docs/venues.md");
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + doc[start..].find("```").expect("its end");
    let venue = parse_venue(&doc[start..end]).unwrap();
    assert_eq!(venue.name, "The Small Hall");
    let seats: usize = venue
        .sections
        .iter()
        .flat_map(|s| &s.rows)
        .map(|r| r.seats.len())
        .sum();
    assert_eq!(seats, 34);
    assert_eq!(venue.areas[0].capacity, 80);
}

mod round_trip {
    use boxoffice_core::venue::{Row, SeatAttrs, Section, Stage, StandingArea, Venue, VenueSeat};
    use boxoffice_view::venue_file::{parse_venue, venue_to_toml};
    use proptest::prelude::*;

    /// A label that needs quoting care: quotes, backslashes, `#`, `=`,
    /// brackets, accents; never a space at either end, never a comma.
    fn label() -> impl Strategy<Value = String> {
        "[A-Za-z0-9\"'#=\\\\\\[\\]é][A-Za-z0-9 \"'#=\\\\\\[\\]é]{0,6}[A-Za-z0-9é]"
    }

    fn venue() -> impl Strategy<Value = Venue> {
        let seat = (label(), any::<u8>());
        let row = (label(), prop::collection::vec(seat, 1..6));
        let section = (label(), prop::collection::vec(row, 1..4));
        let area = (
            label(),
            1..5_000u32,
            -100..100i32,
            -100..100i32,
            1..500i32,
            1..500i32,
        );
        (
            label(),
            prop::collection::vec(section, 0..3),
            prop::collection::vec(area, 0..2),
        )
            .prop_filter("a venue has something", |(_, s, a)| {
                !s.is_empty() || !a.is_empty()
            })
            .prop_map(|(name, sections, areas)| {
                // Labels made unique by their index; positions by the
                // seat's place in the venue.
                let sections = sections
                    .into_iter()
                    .enumerate()
                    .map(|(s, (name, rows))| Section {
                        name: format!("S{s} {name}"),
                        rows: rows
                            .into_iter()
                            .enumerate()
                            .map(|(r, (label, seats))| Row {
                                label: format!("{label}{r}"),
                                seats: seats
                                    .into_iter()
                                    .enumerate()
                                    .map(|(i, (label, attrs))| VenueSeat {
                                        label: format!("{label}{i}"),
                                        x: i32::try_from(i).unwrap() * 20 - 50,
                                        y: i32::try_from(s * 100 + r * 10).unwrap(),
                                        attrs: SeatAttrs(attrs & 15),
                                    })
                                    .collect(),
                            })
                            .collect(),
                    })
                    .collect();
                let areas = areas
                    .into_iter()
                    .enumerate()
                    .map(|(a, (name, capacity, x, y, width, height))| StandingArea {
                        name: format!("A{a} {name}"),
                        capacity,
                        bounds: Stage {
                            x,
                            y,
                            width,
                            height,
                        },
                    })
                    .collect();
                Venue {
                    name,
                    stage: Stage {
                        x: 0,
                        y: -40,
                        width: 300,
                        height: 30,
                    },
                    sections,
                    areas,
                }
            })
            .prop_filter("a valid venue", |v| v.check().is_ok())
    }

    proptest! {
        #[test]
        fn an_exported_venue_reads_back_the_same(venue in venue()) {
            let text = venue_to_toml(&venue);
            let again = parse_venue(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(again, venue);
        }
    }
}

/// A file past the largest venue stops being read where it goes past, before
/// it costs memory: a megabyte of compact rows would otherwise expand to
/// millions of seats.
#[test]
fn a_venue_past_the_largest_is_refused_at_the_row_that_passes_it() {
    let mut text = String::from(HEAD);
    text.push_str("[[section]]\nname = \"Huge\"\n");
    for r in 0..101 {
        text.push_str(&format!(
            "[[section.row]]\nlabel = \"R{r}\"\nseats = \"1-1000\"\nx = 0\ny = {}\n",
            100 + r
        ));
    }
    let error = parse_venue(&text).unwrap_err();
    assert!(
        error.to_string().contains("past 100000 seats") && error.to_string().contains("\"R100\""),
        "{error}"
    );
    let line = error.line.expect("a line");
    assert_eq!(text.lines().nth(line - 1), Some("label = \"R100\""));
}
