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
