use super::*;

fn seat(label: &str, x: i32, y: i32) -> VenueSeat {
    VenueSeat {
        label: label.to_owned(),
        x,
        y,
        attrs: SeatAttrs::default(),
    }
}

fn small() -> Venue {
    Venue {
        name: "Small Hall".to_owned(),
        stage: Stage {
            x: 0,
            y: 0,
            width: 100,
            height: 10,
        },
        sections: vec![
            Section {
                name: "Stalls".to_owned(),
                rows: vec![Row {
                    label: "A".to_owned(),
                    seats: vec![seat("1", 10, 20), seat("2", 20, 20)],
                }],
            },
            Section {
                name: "Circle".to_owned(),
                rows: vec![Row {
                    label: "A".to_owned(),
                    seats: vec![seat("1", 10, 80)],
                }],
            },
        ],
        areas: vec![StandingArea {
            name: "Floor".to_owned(),
            capacity: 3,
            bounds: Stage {
                x: 0,
                y: 100,
                width: 50,
                height: 50,
            },
        }],
    }
}

#[test]
fn places_are_numbered_seats_first_then_standing() {
    let index = VenueIndex::new(small()).unwrap();
    assert_eq!(index.place_count(), 6);
    assert_eq!(index.seat_count(), 3);
    assert_eq!(index.label(SeatNo(1)).unwrap(), "Stalls A-1");
    assert_eq!(index.label(SeatNo(3)).unwrap(), "Circle A-1");
    assert_eq!(index.label(SeatNo(4)).unwrap(), "Floor (place 1)");
    assert_eq!(index.label(SeatNo(6)).unwrap(), "Floor (place 3)");
    assert_eq!(index.label(SeatNo(7)), None);
    assert_eq!(index.area_places(0), 4..=6);
}

#[test]
fn labels_resolve_in_full_or_when_unambiguous() {
    let index = VenueIndex::new(small()).unwrap();
    assert_eq!(index.find("Circle A-1"), Ok(SeatNo(3)));
    assert_eq!(index.find("A-2"), Ok(SeatNo(2)));
    let ambiguous = index.find("A-1").unwrap_err();
    assert!(
        ambiguous.contains("Stalls A-1") && ambiguous.contains("Circle A-1"),
        "{ambiguous}"
    );
    assert!(index.find("Z-9").unwrap_err().contains("no seat"));
}

#[test]
fn each_mistake_is_named() {
    let mut v = small();
    v.sections[0].rows[0].seats[1].label = "1".to_owned();
    assert_eq!(
        v.check(),
        Err(VenueError::DuplicateSeat {
            seat: "Stalls A-1".to_owned()
        })
    );

    // Row "K" seat "1-2" and row "K-1" seat "2" would both print as
    // "Stalls K-1-2": refused, naming both rows.
    let mut v = small();
    v.sections[0].rows[0].label = "K".to_owned();
    v.sections[0].rows[0].seats[0].label = "1-2".to_owned();
    let mut other = v.sections[0].rows[0].clone();
    other.label = "K-1".to_owned();
    other.seats.truncate(1);
    other.seats[0].label = "2".to_owned();
    other.seats[0].y += 100;
    v.sections[0].rows.push(other);
    assert_eq!(
        v.check(),
        Err(VenueError::SameLabel {
            label: "Stalls K-1-2".to_owned(),
            first: "section \"Stalls\" row \"K\"".to_owned(),
            second: "section \"Stalls\" row \"K-1\"".to_owned(),
        })
    );
    // Across sections: "Dress" row "Circle A" and "Dress Circle" row "A".
    let mut v = small();
    v.sections[0].name = "Dress".to_owned();
    v.sections[0].rows[0].label = "Circle A".to_owned();
    v.sections[1].name = "Dress Circle".to_owned();
    assert!(matches!(v.check(), Err(VenueError::SameLabel { .. })));

    let mut v = small();
    v.sections[0].rows[0].seats.clear();
    assert!(matches!(v.check(), Err(VenueError::EmptyRow { .. })));

    let mut v = small();
    v.sections[1].rows[0].seats[0].y = 20;
    assert_eq!(
        v.check().unwrap_err().to_string(),
        "seats Stalls A-1 and Circle A-1 are both at (10, 20)"
    );

    let mut v = small();
    v.areas[0].capacity = 0;
    assert_eq!(v.check(), Err(VenueError::ZeroCapacity("Floor".to_owned())));

    let mut v = small();
    v.areas[0].name = "Stalls".to_owned();
    assert!(matches!(v.check(), Err(VenueError::DuplicateSection(_))));

    let mut v = small();
    let row = v.sections[0].rows[0].clone();
    v.sections[0].rows.push(row);
    assert!(matches!(v.check(), Err(VenueError::DuplicateRow { .. })));

    let mut v = small();
    v.sections[0].rows[0].seats[0].label = "1,2".to_owned();
    assert!(matches!(v.check(), Err(VenueError::BadLabel { .. })));

    let mut v = small();
    v.areas[0].capacity = MAX_SEATS_PER_SHOW;
    assert!(matches!(v.check(), Err(VenueError::TooLarge(_))));

    let v = Venue {
        sections: vec![],
        areas: vec![],
        ..small()
    };
    assert_eq!(v.check(), Err(VenueError::Empty));
}

#[test]
fn a_single_row_is_a_valid_venue() {
    let index = VenueIndex::new(Venue::single_row("Show", 5)).unwrap();
    assert_eq!(index.place_count(), 5);
    assert_eq!(index.find("1-5"), Ok(SeatNo(5)));
    assert!(index.distance2(SeatNo(1)) > 0);
}
