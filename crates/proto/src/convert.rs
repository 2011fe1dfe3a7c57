//! Conversions between domain types and `boxoffice.v1` messages, and the
//! one place where domain rejections become gRPC statuses (used by the
//! booking nodes and the auth service alike).

use boxoffice_core::{
    Booking, BookingStatus, CategorySpec, Payment, Place, PlaceRule, PriceSpec, PricingSpec,
    Production, Rejection, RejectionKind, Row, SIMPLE_CATEGORY, STANDARD_TICKET_TYPES, SalesReport,
    Seat, SeatAttrs, SeatNo, Section, Show, ShowSummary, Stage, StandingArea, State, Venue,
    VenueIndex, VenueSeat, VenueSummary,
};
use tonic::Status;

use crate::v1;

/// Metadata key of the wait a rate-limited client should observe, in
/// milliseconds.
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// Metadata key of the address of the client a front end (the gateway)
/// calls the auth service for. The auth service believes it only from a
/// caller whose certificate says it is the gateway.
pub const CLIENT_ADDR: &str = "x-boxoffice-client-addr";

/// Metadata key a node sets on its answer to a checkout call (`BookSeats`,
/// `HoldSeats`, `PayBooking`) when the leader is another node, so that the
/// call went on to the leader: a client that can reach other nodes sends
/// its next writes to one of them instead (the leader runs every write;
/// going to it directly saves the hop). The value is the leader's node id.
/// Only a hint: any node still answers every call.
pub const LEADER_ELSEWHERE: &str = "x-boxoffice-leader-elsewhere";

/// Metadata key a node sets on its refusal of a hold or booking that
/// carried no live admission token while the performance's waiting room
/// guards it: a client that may have been let in asks the room for its
/// token (`GetWaitingRoom`) and tries once more with it.
pub const ADMISSION_NEEDED: &str = "x-boxoffice-admission-needed";

/// Metadata key of a refusal's reason, for adapters that must tell some
/// refusals apart within one status code (the legacy booking service);
/// set only for the reasons below.
pub const REASON: &str = "x-boxoffice-reason";
/// [`REASON`] of a seat someone else has: booked, or held by another buyer.
pub const SEAT_TAKEN: &str = "seat-taken";

/// [`rejection_status`], the seats it names given by their labels as well
/// (`seat 37 is already booked (Stalls B-17)`), as `label` tells them: a
/// performance's buyers pick seats by label, not by place number. The
/// message stays as it is when `label` knows none of them.
pub fn rejection_status_labelled(
    r: &Rejection,
    label: impl Fn(SeatNo) -> Option<String>,
) -> Status {
    let status = rejection_status(r);
    let seats: &[SeatNo] = match r {
        Rejection::SeatBooked { seat }
        | Rejection::SeatHeld { seat }
        | Rejection::SeatHeldBack { seat }
        | Rejection::HoldCooldown { seat, .. } => std::slice::from_ref(seat),
        Rejection::NotTogether { split, .. } => split,
        _ => &[],
    };
    let labels: Option<Vec<String>> = seats.iter().map(|&seat| label(seat)).collect();
    match labels {
        Some(labels) if !labels.is_empty() => Status::with_metadata(
            status.code(),
            format!("{} ({})", status.message(), labels.join(", ")),
            status.metadata().clone(),
        ),
        _ => status,
    }
}

/// A rejection as the gRPC status clients see. A limit that lets up with
/// time (the hourly hold limit, the cool-down) is RESOURCE_EXHAUSTED with
/// the wait in [`RETRY_AFTER_MS`] (and in the message).
pub fn rejection_status(r: &Rejection) -> Status {
    let message = r.to_string();
    if let Some(ms) = r.retry_after_ms() {
        let mut status = Status::resource_exhausted(message);
        if let Ok(value) = ms.to_string().parse() {
            status.metadata_mut().insert(RETRY_AFTER_MS, value);
        }
        return status;
    }
    let mut status = match r.kind() {
        RejectionKind::InvalidArgument => Status::invalid_argument(message),
        RejectionKind::NotFound => Status::not_found(message),
        RejectionKind::AlreadyExists => Status::already_exists(message),
        RejectionKind::FailedPrecondition => Status::failed_precondition(message),
        RejectionKind::Unauthenticated => Status::unauthenticated(message),
        RejectionKind::PermissionDenied => Status::permission_denied(message),
    };
    if matches!(r, Rejection::SeatBooked { .. } | Rejection::SeatHeld { .. }) {
        status.metadata_mut().insert(
            REASON,
            tonic::metadata::MetadataValue::from_static(SEAT_TAKEN),
        );
    }
    if let Rejection::NotTogether { split, .. } = r
        && !split.is_empty()
    {
        let seats: Vec<String> = split.iter().map(|s| s.0.to_string()).collect();
        if let Ok(value) = seats.join(",").parse() {
            status.metadata_mut().insert(BEST_SPLIT, value);
        }
    }
    status
}

/// Whether `status` refuses a seat that someone else has ([`SEAT_TAKEN`]).
pub fn is_seat_taken(status: &Status) -> bool {
    status
        .metadata()
        .get(REASON)
        .is_some_and(|reason| reason == SEAT_TAKEN)
}

/// A show summary as the API shows it.
pub fn show(s: &ShowSummary) -> v1::Show {
    v1::Show {
        show_id: s.id.to_string(),
        title: s.title.clone(),
        seat_count: s.seat_count,
        price_cents: s.price_cents,
        starts_at_ms: s.starts_at.0,
        available: s.available,
        held: s.held,
        booked: s.booked,
        // A simple show is its own production (the old contract's show).
        production_id: s.production_id().to_string(),
        venue_id: s
            .venue
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        // The state needs the replica's clock: see `show_in`.
        state: if s.cancelled {
            "cancelled".to_owned()
        } else {
            String::new()
        },
        sales_opens_at_ms: 0,
        sales_closes_at_ms: 0,
        held_back: s.held_back,
    }
}

/// One seat.
pub fn seat(no: SeatNo, seat: Seat) -> v1::Seat {
    let state = match seat {
        Seat::Available => v1::SeatState::Available,
        Seat::Held(_) => v1::SeatState::Held,
        Seat::Booked(_) => v1::SeatState::Booked,
        Seat::HeldBack => v1::SeatState::HeldBack,
    };
    v1::Seat {
        seat_no: no.0,
        state: state as i32,
    }
}

/// A booking.
pub fn booking(b: &Booking) -> v1::Booking {
    let (status, hold_expires_at_ms, updated_at_ms) = match b.status {
        BookingStatus::Held { expires_at } => (v1::BookingStatus::Held, expires_at.0, 0),
        BookingStatus::Confirmed { at } => (v1::BookingStatus::Confirmed, 0, at.0),
        BookingStatus::Released { at, .. } => (v1::BookingStatus::Released, 0, at.0),
        BookingStatus::Cancelled { at } => (v1::BookingStatus::Cancelled, 0, at.0),
    };
    v1::Booking {
        booking_id: b.id.to_string(),
        show_id: b.show.to_string(),
        seat_nos: b.seats.iter().map(|s| s.0).collect(),
        user_id: b.user.to_string(),
        total_cents: b.total_cents,
        status: status as i32,
        created_at_ms: b.created_at.0,
        hold_expires_at_ms,
        updated_at_ms,
        order_id: b
            .order
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        payment_status: payment_status(&b.payment) as i32,
        transaction_id: b
            .payment
            .transaction()
            .map(ToString::to_string)
            .unwrap_or_default(),
        // The labels and type names need the venue: see `booking_in`.
        tickets: Vec::new(),
    }
}

/// The API's name for a booking's payment.
pub fn payment_status(p: &Payment) -> v1::PaymentStatus {
    match p {
        Payment::None => v1::PaymentStatus::None,
        Payment::Pending => v1::PaymentStatus::Pending,
        Payment::NotCharged => v1::PaymentStatus::NotCharged,
        Payment::Charged(_) => v1::PaymentStatus::Charged,
        Payment::RefundDue(_) => v1::PaymentStatus::RefundPending,
        Payment::Refunded(_) => v1::PaymentStatus::Refunded,
    }
}

/// Metadata key of the best split a `NotTogether` refusal offers: the
/// seat numbers, comma separated (the message says it in words too).
pub const BEST_SPLIT: &str = "x-boxoffice-best-split";

/// A show as the API shows it, with what only the replica knows: its state
/// at the replica's time and its sales window.
pub fn show_in(state: &State, s: &Show) -> v1::Show {
    let sales = s.performance.as_ref().map(|p| p.sales).unwrap_or_default();
    v1::Show {
        state: s.state_at(state.now()).name().to_owned(),
        sales_opens_at_ms: sales.opens_at.map_or(0, |t| t.0),
        sales_closes_at_ms: sales.closes_at.map_or(0, |t| t.0),
        ..show(&s.summary())
    }
}

/// A booking with its tickets' labels and type names, from the venue and
/// prices of its show in `state` (seat numbers and type numbers when the
/// show is gone).
pub fn booking_in(state: &State, b: &Booking) -> v1::Booking {
    let show = state.show(&b.show);
    let layout = show
        .filter(|s| s.performance.is_some())
        .and_then(|s| state.layout_of(s));
    let pricing = show
        .and_then(|s| s.performance.as_ref())
        .map(|p| &p.pricing);
    let tickets = b
        .seats
        .iter()
        .enumerate()
        .map(|(i, &no)| v1::Ticket {
            seat_no: no.0,
            label: layout
                .as_ref()
                .and_then(|l| l.label(no))
                .unwrap_or_else(|| no.0.to_string()),
            ticket_type: match pricing {
                Some(p) => p.type_name(b.ticket_type(i)),
                None => STANDARD_TICKET_TYPES[0].to_owned(),
            },
            price_cents: b.ticket_price(i),
        })
        .collect();
    v1::Booking {
        tickets,
        ..booking(b)
    }
}

/// A venue's layout as the API shows it.
pub fn venue(v: &Venue) -> v1::Venue {
    let rect = |r: &Stage| v1::Rect {
        x: r.x,
        y: r.y,
        width: r.width,
        height: r.height,
    };
    v1::Venue {
        name: v.name.clone(),
        stage: Some(rect(&v.stage)),
        sections: v
            .sections
            .iter()
            .map(|s| v1::VenueSection {
                name: s.name.clone(),
                rows: s
                    .rows
                    .iter()
                    .map(|r| v1::VenueRow {
                        label: r.label.clone(),
                        seats: r
                            .seats
                            .iter()
                            .map(|seat| v1::VenueSeat {
                                label: seat.label.clone(),
                                x: seat.x,
                                y: seat.y,
                                attributes: seat.attrs.names().map(str::to_owned).collect(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        areas: v
            .areas
            .iter()
            .map(|a| v1::StandingArea {
                name: a.name.clone(),
                capacity: a.capacity,
                bounds: Some(rect(&a.bounds)),
            })
            .collect(),
    }
}

/// A venue's layout from the API; INVALID_ARGUMENT names an unknown seat
/// attribute. The layout's rules are checked by the state machine.
pub fn venue_from(v: v1::Venue) -> Result<Venue, Status> {
    let rect = |r: Option<v1::Rect>| {
        let r = r.unwrap_or_default();
        Stage {
            x: r.x,
            y: r.y,
            width: r.width,
            height: r.height,
        }
    };
    let mut sections = Vec::with_capacity(v.sections.len());
    for s in v.sections {
        let mut rows = Vec::with_capacity(s.rows.len());
        for r in s.rows {
            let mut seats = Vec::with_capacity(r.seats.len());
            for seat in r.seats {
                let mut attrs = SeatAttrs::default();
                for name in &seat.attributes {
                    let attr = SeatAttrs::named(name).ok_or_else(|| {
                        Status::invalid_argument(format!(
                            "seat {} of row {}: unknown attribute {name:?} (known: {})",
                            seat.label,
                            r.label,
                            SeatAttrs::NAMED.map(|(_, n)| n).join(", ")
                        ))
                    })?;
                    attrs = attrs.with(attr);
                }
                seats.push(VenueSeat {
                    label: seat.label,
                    x: seat.x,
                    y: seat.y,
                    attrs,
                });
            }
            rows.push(Row {
                label: r.label,
                seats,
            });
        }
        sections.push(Section { name: s.name, rows });
    }
    Ok(Venue {
        name: v.name,
        stage: rect(v.stage),
        sections,
        areas: v
            .areas
            .into_iter()
            .map(|a| StandingArea {
                name: a.name,
                capacity: a.capacity,
                bounds: rect(a.bounds),
            })
            .collect(),
    })
}

/// A venue's summary.
pub fn venue_summary(v: &VenueSummary) -> v1::VenueSummary {
    v1::VenueSummary {
        venue_id: v.id.to_string(),
        name: v.name.clone(),
        seats: v.seats,
        standing: v.standing,
        sections: v.sections,
        areas: v.areas,
    }
}

/// A production.
pub fn production(p: &Production) -> v1::Production {
    v1::Production {
        production_id: p.id.to_string(),
        title: p.title.clone(),
        description: p.description.clone(),
        running_minutes: p.running_minutes,
    }
}

/// A pricing spec as the API carries it (a pricing file read by a client).
pub fn pricing(p: &PricingSpec) -> v1::PricingSpec {
    use v1::place_rule::Rule;
    let rule = |r: &PlaceRule| v1::PlaceRule {
        rule: Some(match r {
            PlaceRule::Section(s) => Rule::Section(s.clone()),
            PlaceRule::Rows { section, from, to } => Rule::Rows(v1::RowRange {
                section: section.clone(),
                from: from.clone(),
                to: to.clone(),
            }),
            PlaceRule::Seat(s) => Rule::Seat(s.clone()),
            PlaceRule::Area(a) => Rule::Area(a.clone()),
            PlaceRule::All => Rule::All(true),
        }),
    };
    v1::PricingSpec {
        categories: p
            .categories
            .iter()
            .map(|c| v1::PriceCategory {
                name: c.name.clone(),
                rules: c.rules.iter().map(rule).collect(),
            })
            .collect(),
        ticket_types: p.ticket_types.clone(),
        prices: p
            .prices
            .iter()
            .map(|p| v1::Price {
                category: p.category.clone(),
                ticket_type: p.ticket_type.clone(),
                cents: p.cents,
            })
            .collect(),
    }
}

/// A pricing spec from the API; INVALID_ARGUMENT for a rule that picks
/// nothing. Names are checked by the state machine against the venue.
pub fn pricing_from(p: v1::PricingSpec) -> Result<PricingSpec, Status> {
    let mut categories = Vec::with_capacity(p.categories.len());
    for c in p.categories {
        let mut rules = Vec::with_capacity(c.rules.len());
        for r in c.rules {
            use v1::place_rule::Rule;
            rules.push(match r.rule {
                Some(Rule::Section(s)) => PlaceRule::Section(s),
                Some(Rule::Rows(r)) => PlaceRule::Rows {
                    section: r.section,
                    from: r.from,
                    to: r.to,
                },
                Some(Rule::Seat(s)) => PlaceRule::Seat(s),
                Some(Rule::Area(a)) => PlaceRule::Area(a),
                Some(Rule::All(true)) => PlaceRule::All,
                Some(Rule::All(false)) | None => {
                    return Err(Status::invalid_argument(format!(
                        "category {}: a rule must pick a section, rows, a seat, an area or all",
                        c.name
                    )));
                }
            });
        }
        categories.push(CategorySpec {
            name: c.name,
            rules,
        });
    }
    Ok(PricingSpec {
        categories,
        ticket_types: p.ticket_types,
        prices: p
            .prices
            .into_iter()
            .map(|p| PriceSpec {
                category: p.category,
                ticket_type: p.ticket_type,
                cents: p.cents,
            })
            .collect(),
    })
}

/// A show's price table: for a simple show, one category
/// ([`SIMPLE_CATEGORY`]) and one type at its price.
pub fn price_table(s: &Show) -> v1::PriceTable {
    match s.performance.as_ref().map(|p| &p.pricing) {
        Some(p) => v1::PriceTable {
            categories: p.categories.clone(),
            ticket_types: p.types.clone(),
            prices: p
                .categories
                .iter()
                .enumerate()
                .flat_map(|(c, category)| {
                    p.types
                        .iter()
                        .enumerate()
                        .filter_map(move |(t, ticket_type)| {
                            let cents = p.prices.get(c * p.types.len() + t).copied().flatten()?;
                            Some(v1::Price {
                                category: category.clone(),
                                ticket_type: ticket_type.clone(),
                                cents,
                            })
                        })
                })
                .collect(),
        },
        None => v1::PriceTable {
            categories: vec![SIMPLE_CATEGORY.to_owned()],
            ticket_types: vec![STANDARD_TICKET_TYPES[0].to_owned()],
            prices: vec![v1::Price {
                category: SIMPLE_CATEGORY.to_owned(),
                ticket_type: STANDARD_TICKET_TYPES[0].to_owned(),
                cents: s.price_cents,
            }],
        },
    }
}

/// Place `no` of show `s` on its plan `layout`.
pub fn seat_layout(s: &Show, layout: &VenueIndex, no: SeatNo) -> v1::SeatLayout {
    let category = match s.performance.as_ref().map(|p| &p.pricing) {
        Some(p) => p
            .category_of(no)
            .and_then(|c| p.categories.get(usize::from(c)).cloned())
            .unwrap_or_default(),
        None => SIMPLE_CATEGORY.to_owned(),
    };
    let mut out = v1::SeatLayout {
        seat_no: no.0,
        label: layout.label(no).unwrap_or_else(|| no.0.to_string()),
        category,
        ..Default::default()
    };
    match layout.place(no) {
        Some(Place::Seat { .. }) => {
            if let Some((_, _, seat)) = layout.seat(no) {
                out.x = seat.x;
                out.y = seat.y;
                out.attributes = seat.attrs.names().map(str::to_owned).collect();
            }
        }
        Some(Place::Standing { area }) => {
            out.area = layout
                .venue()
                .areas
                .get(usize::from(area))
                .map(|a| a.name.clone())
                .unwrap_or_default();
        }
        None => {}
    }
    out
}

/// A sales report.
pub fn sales_report(r: &SalesReport) -> v1::SalesReport {
    v1::SalesReport {
        show_id: r.show.to_string(),
        lines: r
            .lines
            .iter()
            .map(|l| v1::SalesLine {
                category: l.category.clone(),
                ticket_type: l.ticket_type.clone(),
                sold: l.sold,
                revenue_cents: l.revenue_cents,
                refunded: l.refunded,
                refunded_cents: l.refunded_cents,
            })
            .collect(),
        sold: r.sold(),
        revenue_cents: r.revenue_cents(),
        refunded: r.refunded(),
        refunded_cents: r.refunded_cents(),
    }
}
