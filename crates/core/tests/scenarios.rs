//! Scenario tests: stories told to the booking state machine, one file each.
//!
//! Every file under `tests/scenarios/` is a [goldenscript]: blocks of
//! commands, each followed by `---` and the output the runner printed for
//! them. Commands become [`Request`]s given to [`State::apply`] at the time
//! of the runner's clock (time enters only as an argument, as in the
//! cluster); queries print excerpts of the state. The expected output is
//! never written by hand: run
//!
//! ```sh
//! UPDATE_GOLDENFILES=1 cargo test -p boxoffice-core --test scenarios
//! ```
//!
//! and review the change to the files as a diff. Without the variable, any
//! difference fails the test and prints the diff.
//!
//! After every command the runner also checks, as hard errors rather than
//! as output:
//!
//! - [`State::check_invariants`], so every scenario is an invariant test too;
//! - that a rejected request changed no account, show or booking (a
//!   rejection may only move the clock and prune old dedup records).
//!
//! The vocabulary is described in `tests/scenarios/README.md`; the runner
//! uses only the crate's public API, so a scenario reads like what a client
//! of the state machine sees.
//!
//! Venues, productions and performances have a compact syntax (parsed in
//! `tests/support/performances.rs`):
//!
//! ```text
//! create-venue v1 name="The Old Theatre" sections="Stalls:A=1-10,B=1-10;Circle:A=1-8" areas="Floor:50" [wheelchair="Stalls A-1,Stalls A-2"]
//! create-production hamlet [title="Hamlet"] [description="…"] [minutes=180]
//! add-performances hamlet v1 p1@2d p2@3d [opens=1h] [closes=2d]
//!     [categories="A:Stalls A-B;B:Stalls C-J,Circle;S:Floor"] [types="adult,concession"]
//!     [prices="A/adult=40,A/concession=30,B/adult=25,S/adult=15"]
//! cancel-performance p1
//! hold-back p1 SEATS… [reason="press night"]
//! release-held-back p1 SEATS…
//! return BOOKING SEATS… by=USER
//! check-in SHOW BOOKING PLACE [version=N] [gate=NAME] [offline=TIME]
//! hold|book USER SHOW SEATS… [types="adult,concession"] [standing="Floor:2:adult;Bar:1"] [best="2:A:adult[:wheelchair]"]
//! ```
//!
//! - Sections are `NAME:ROW=FIRST-LAST,…` separated by `;`; seat `i` of a
//!   row is drawn at x = i × 10, y = its row's index × 10 plus the
//!   section's offset (each section below the one before, 20 apart).
//! - A performance starts at `ID@TIME` (a runner time, `2d`). Category
//!   rules are `all`, `SECTION`, `SECTION ROW-ROW`, `SECTION ROW`,
//!   `seat:LABEL`, `area:NAME`, or a bare area name. Without
//!   `categories`, one category `Standard` over all places at 25.00 adult.
//! - Seats are numbers, ranges (`3 5-7`) or, at a performance, labels
//!   (`"Stalls A-1"`, or `A-1` if one section has it).
//!
//! Queries: `venue ID` (rows and areas), `productions`, `performances
//! PROD` (with each one's state). `show` of a performance adds its state,
//! sales window, prices and held-back seats; a performance's booking lines
//! end with each ticket's place, type and price.
//!
//! [goldenscript]: https://docs.rs/goldenscript

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use boxoffice_core::{
    Booking, BookingId, BookingStatus, Caller, Command, DoorScope, Effect, HoldLimits, ListStatus,
    ListSummary, NewPerformance, OrderId, Outcome, Payment, ProductionId, Rejection, Request,
    RequestId, RoomPhase, RoomRules, RoomStatus, RoomSummary, SalesWindow, Scan, Seat, SeatNo,
    Show, ShowId, ShowSummary, State, Timestamp, Totals, TransactionId, User, UserId, UserSummary,
    VenueId, WaitingList, WaitingRoom,
};
use goldenscript::{ArgumentConsumer, Context};

#[path = "support/performances.rs"]
mod performances;

/// Errors of the runner itself (a malformed script, a broken invariant).
type Error = Box<dyn std::error::Error>;

/// The password hash accounts get unless a command names another: a
/// well-formed PHC string, as the auth service would produce.
const DEFAULT_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";

/// How long a hold lasts unless `ttl=` says otherwise.
const DEFAULT_TTL_MS: i64 = 60 * 1000;

/// When a show starts unless `starts=` says otherwise (one day).
const DEFAULT_STARTS_AT: Timestamp = Timestamp(DAY_MS);

/// A show's seat price unless `price=` says otherwise, in cents.
const DEFAULT_PRICE_CENTS: i64 = 2_500;

/// A show's title unless `title=` says otherwise.
const DEFAULT_TITLE: &str = "Hamlet";

/// Runs every scenario file, and fails listing those whose output differs
/// (each difference is printed as a diff) or whose runner failed.
///
/// `BOXOFFICE_SCENARIO=word` runs only the files whose name contains `word`.
#[test]
fn scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let filter = std::env::var("BOXOFFICE_SCENARIO").unwrap_or_default();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/scenarios is readable")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().contains(&filter))
        })
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no scenario matches {filter:?}");
    let mut failed = Vec::new();
    for path in &paths {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        // A difference panics (when the golden file is checked); a runner
        // error is returned. Either fails this scenario, not the others.
        match catch_unwind(AssertUnwindSafe(|| {
            goldenscript::run(&mut Scenario::new(), path)
        })) {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                eprintln!("scenario {name}: {error}");
                failed.push(name.into_owned());
            }
            Err(_) => failed.push(name.into_owned()),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} scenarios failed: {}",
        failed.len(),
        paths.len(),
        failed.join(", ")
    );
}

/// The state machine under test, the clock the runner applies requests at,
/// and the counters that name requests and orders.
struct Scenario {
    /// The replicated state, as one replica holds it.
    state: State,
    /// The time the next request is applied at (the leader's clock).
    clock: Timestamp,
    /// Requests sent so far; request `n` is `req-n` unless named.
    requests: u64,
    /// Holds sent so far; hold `n` is for order `ord-n` unless named.
    holds: u64,
}

/// How a command travels: who sends it, under which id, at what time.
struct Envelope {
    /// The authenticated end user, or `None` for a trusted request.
    caller: Option<Caller>,
    /// The idempotency key.
    request_id: RequestId,
    /// The leader time written with it.
    at: Timestamp,
}

impl goldenscript::Runner for Scenario {
    type Command = goldenscript::Command;

    fn run(&mut self, line: &goldenscript::Command, context: &Context) -> Result<String, Error> {
        let mut args = line.consume_args();
        let output = self.dispatch(&line.name, &mut args, context)?;
        args.reject_next()?;
        Ok(output)
    }
}

impl Scenario {
    /// An empty state at time zero.
    fn new() -> Self {
        Self {
            state: State::new(),
            clock: Timestamp(0),
            requests: 0,
            holds: 0,
        }
    }

    /// Runs one script line: a clock step, a command or a query.
    fn dispatch(
        &mut self,
        name: &str,
        args: &mut ArgumentConsumer<'_>,
        context: &Context,
    ) -> Result<String, Error> {
        match name {
            // The clock.
            "advance" => {
                let by = parse_time(required(args, "a duration")?)?;
                self.clock = self.clock.saturating_add_ms(by);
                Ok(String::new())
            }
            "clock" => {
                self.clock = Timestamp(parse_time(required(args, "a time")?)?);
                Ok(String::new())
            }
            // Queries: excerpts of the state.
            "show" => {
                let id = ShowId::from(required(args, "a show")?);
                Ok(match self.state.show(&id) {
                    Some(show) => {
                        show_with_seats(show) + &performances::performance_lines(&self.state, show)
                    }
                    None => format!("show {id}: none"),
                })
            }
            "venue" => {
                let id = VenueId::from(required(args, "a venue")?);
                Ok(match self.state.venue(&id) {
                    Some(index) => performances::venue_lines(id.as_str(), index),
                    None => format!("venue {id}: none"),
                })
            }
            "productions" => Ok(lines(self.state.catalogue().into_iter().map(
                |(p, shows)| {
                    let ids: Vec<&str> = shows.iter().map(|s| s.id.as_str()).collect();
                    format!(
                        "production {} {:?}: {} minutes, {:?}; performances [{}]",
                        p.id,
                        p.title,
                        p.running_minutes,
                        p.description,
                        ids.join(" ")
                    )
                },
            ))),
            "performances" => {
                let production = ProductionId::from(required(args, "a production")?);
                let now = self.state.now();
                Ok(lines(self.state.performances_of(&production).map(|show| {
                    format!(
                        "{}; {}",
                        show_line(&show.summary()),
                        show.state_at(now).name()
                    )
                })))
            }
            "shows" => Ok(lines(
                self.state.shows().map(|show| show_line(&show.summary())),
            )),
            "booking" => {
                let id = parse_booking(required(args, "a booking")?)?;
                Ok(match self.state.booking(id) {
                    Some(booking) => booking_line(&self.state, &booking),
                    None => format!("booking {id}: none"),
                })
            }
            "bookings" => {
                let user = self.user_ref(required(args, "a user")?)?;
                let before = args.take_key("before").map(parse_booking).transpose()?;
                let limit = args.take_key("limit").map(str::parse).transpose()?;
                Ok(if before.is_some() || limit.is_some() {
                    let page = self.state.bookings_page(&user, before, limit.unwrap_or(10));
                    lines(page.map(|booking| booking_line(&self.state, &booking)))
                } else {
                    lines(
                        self.state
                            .bookings_of(&user)
                            .map(|b| booking_line(&self.state, &b)),
                    )
                })
            }
            "holds" => Ok(lines(
                self.state.holds().map(|b| booking_line(&self.state, &b)),
            )),
            "unsettled" => Ok(lines(
                self.state
                    .unsettled()
                    .map(|b| booking_line(&self.state, &b)),
            )),
            "conflicts" => Ok(lines(self.state.doors().conflicts().map(|c| {
                format!(
                    "conflict: ticket {}-{} of {} in at {} since {}, again at {} {}",
                    c.ticket.booking,
                    c.ticket.place,
                    c.show,
                    c.first.gate,
                    time(c.first.at),
                    c.second.gate,
                    time(c.second.at)
                )
            }))),
            "next-expiry" => Ok(match self.state.next_hold_expiry() {
                Some(at) => format!("next hold expiry {}", time(at)),
                None => "next hold expiry: none".to_owned(),
            }),
            "active" => {
                let user = self.user_ref(required(args, "a user")?)?;
                let show = ShowId::from(required(args, "a show")?);
                Ok(format!(
                    "{user}: seats held or booked in {show} {}, seats held over all shows {}",
                    self.state.active_seats(&user, &show),
                    self.state.held_seats(&user)
                ))
            }
            "account" => {
                let user = self.user_ref(required(args, "a user")?)?;
                let debug = args.take_key("debug").map(str::parse).transpose()?;
                Ok(match self.state.user(&user) {
                    Some(account) if debug == Some(true) => format!("{account:?}"),
                    Some(account) => account_line(account),
                    None => format!("user {user}: none"),
                })
            }
            "find-email" => {
                let email = required(args, "an email")?;
                Ok(match self.state.user_by_email(email) {
                    Some(account) => account_line(account),
                    None => format!("{email:?}: no account"),
                })
            }
            "users" => {
                let mut out = lines(self.state.users().map(|user| user_line(&user.summary())));
                write!(out, "\nadministrators: {}", self.state.admin_count())?;
                Ok(out)
            }
            "totals" => Ok(totals_line(&self.state.totals())),
            "now" => Ok(format!(
                "state time {}, clock {}",
                time(self.state.now()),
                time(self.clock)
            )),
            "snapshot" => self.snapshot(),
            "room" => {
                let show = ShowId::from(required(args, "a show")?);
                Ok(match self.state.waiting_room(&show) {
                    Some(room) => room_detail(room),
                    None => format!("{show}: no waiting room"),
                })
            }
            "list" => {
                let show = ShowId::from(required(args, "a show")?);
                Ok(match self.state.waiting_list(&show) {
                    Some(list) => list_detail(list),
                    None => format!("{show}: no waiting list"),
                })
            }
            // Commands: requests given to `State::apply`.
            _ => {
                let command = self.command(name, args)?;
                let envelope = self.envelope(args, context)?;
                // A mistyped argument must fail before the request is applied.
                args.reject_next()?;
                self.apply(command, envelope, context)
            }
        }
    }

    /// Builds the [`Command`] a script line names, from its arguments.
    fn command(&mut self, name: &str, args: &mut ArgumentConsumer<'_>) -> Result<Command, Error> {
        Ok(match name {
            "create-show" => Command::CreateShow {
                show: required(args, "a show")?.into(),
                title: args.take_key("title").unwrap_or(DEFAULT_TITLE).to_owned(),
                seat_count: required_key(args, "seats")?.parse()?,
                price_cents: args
                    .take_key("price")
                    .map_or(Ok(DEFAULT_PRICE_CENTS), parse_money)?,
                starts_at: args
                    .take_key("starts")
                    .map_or(Ok(DEFAULT_STARTS_AT), |t| parse_time(t).map(Timestamp))?,
            },
            "update-show" => Command::UpdateShow {
                show: required(args, "a show")?.into(),
                title: args.take_key("title").map(str::to_owned),
                seat_count: args.take_key("seats").map(str::parse).transpose()?,
                price_cents: args.take_key("price").map(parse_money).transpose()?,
                starts_at: args
                    .take_key("starts")
                    .map(|t| parse_time(t).map(Timestamp))
                    .transpose()?,
            },
            "hold" => {
                let user = self.user_ref(required(args, "a user")?)?;
                let show: ShowId = required(args, "a show")?.into();
                let seats = self.seat_list(&show, args)?;
                self.holds += 1;
                let order = args
                    .take_key("order")
                    .map_or_else(|| format!("ord-{}", self.holds), str::to_owned);
                Command::Hold {
                    order: OrderId(order),
                    show,
                    seats,
                    tickets: performances::tickets(args)?,
                    user,
                    ttl_ms: args
                        .take_key("ttl")
                        .map_or(Ok(DEFAULT_TTL_MS), parse_time)?,
                    max_seats_per_user: args.take_key("cap").map_or(Ok(0), str::parse)?,
                    limits: hold_limits(args)?,
                }
            }
            "book" => {
                let user = self.user_ref(required(args, "a user")?)?;
                let show: ShowId = required(args, "a show")?.into();
                Command::Book {
                    seats: self.seat_list(&show, args)?,
                    show,
                    tickets: performances::tickets(args)?,
                    user,
                    max_seats_per_user: args.take_key("cap").map_or(Ok(0), str::parse)?,
                }
            }
            "create-venue" => {
                let venue = VenueId::from(required(args, "a venue")?);
                let layout = performances::layout(
                    args.take_key("name").unwrap_or(venue.as_str()),
                    args.take_key("sections").unwrap_or_default(),
                    args.take_key("areas").unwrap_or_default(),
                    args.take_key("wheelchair").unwrap_or_default(),
                )?;
                Command::CreateVenue { venue, layout }
            }
            "create-production" => Command::CreateProduction {
                production: required(args, "a production")?.into(),
                title: args.take_key("title").unwrap_or(DEFAULT_TITLE).to_owned(),
                description: args.take_key("description").unwrap_or_default().to_owned(),
                running_minutes: args.take_key("minutes").map_or(Ok(0), str::parse)?,
            },
            "add-performances" => {
                let production = ProductionId::from(required(args, "a production")?);
                let venue = VenueId::from(required(args, "a venue")?);
                let mut new = Vec::new();
                while let Some(arg) = args.next_pos() {
                    let (show, at) = arg
                        .split_once('@')
                        .ok_or_else(|| format!("{arg:?}: expected SHOW@TIME"))?;
                    new.push(NewPerformance {
                        show: show.into(),
                        starts_at: Timestamp(parse_time(at)?),
                    });
                }
                let mut bound = |key| {
                    args.take_key(key)
                        .map(|t| parse_time(t).map(Timestamp))
                        .transpose()
                };
                let sales = SalesWindow {
                    opens_at: bound("opens")?,
                    closes_at: bound("closes")?,
                };
                let pricing = performances::pricing(
                    self.state.venue(&venue).map(|v| &**v),
                    args.take_key("categories").unwrap_or("Standard:all"),
                    args.take_key("types").unwrap_or("adult"),
                    args.take_key("prices").unwrap_or("Standard/adult=25"),
                )?;
                Command::AddPerformances {
                    production,
                    venue,
                    performances: new,
                    sales,
                    pricing,
                }
            }
            "cancel-performance" => Command::CancelPerformance {
                show: required(args, "a performance")?.into(),
            },
            "hold-back" => {
                let show: ShowId = required(args, "a performance")?.into();
                Command::HoldBack {
                    seats: self.seat_list(&show, args)?,
                    show,
                    reason: args.take_key("reason").unwrap_or("house seats").to_owned(),
                }
            }
            "release-held-back" => {
                let show: ShowId = required(args, "a performance")?.into();
                Command::ReleaseHeldBack {
                    seats: self.seat_list(&show, args)?,
                    show,
                }
            }
            "return" => {
                let booking = parse_booking(required(args, "a booking")?)?;
                let show = self
                    .state
                    .booking(booking)
                    .map_or_else(|| ShowId::from(""), |b| b.show);
                let seats = self.seat_list(&show, args)?;
                let user = args
                    .take_key("by")
                    .ok_or("expected by=USER, the customer asking")?;
                if seats.is_empty() {
                    return Err("expected the seats to return".into());
                }
                Command::ReturnTickets {
                    booking,
                    seats,
                    user: self.user_ref(user)?,
                }
            }
            "reissue" => {
                let booking = parse_booking(required(args, "a booking")?)?;
                let show = self
                    .state
                    .booking(booking)
                    .map_or_else(|| ShowId::from(""), |b| b.show);
                let place = match self.seat_list(&show, args)?.as_slice() {
                    [place] => *place,
                    _ => return Err("expected one place".into()),
                };
                let user = args
                    .take_key("by")
                    .ok_or("expected by=USER, the customer asking")?;
                Command::ReissueTicket {
                    booking,
                    place,
                    user: self.user_ref(user)?,
                }
            }
            "transfer" => {
                let booking = parse_booking(required(args, "a booking")?)?;
                let show = self
                    .state
                    .booking(booking)
                    .map_or_else(|| ShowId::from(""), |b| b.show);
                let place = match self.seat_list(&show, args)?.as_slice() {
                    [place] => *place,
                    _ => return Err("expected one place".into()),
                };
                let user = args.take_key("by").ok_or("expected by=USER, the holder")?;
                let to = args
                    .take_key("to")
                    .ok_or("expected to=USER, the receiver")?;
                Command::TransferTicket {
                    booking,
                    place,
                    user: self.user_ref(user)?,
                    to: self.user_ref(to)?,
                }
            }
            "check-out" => {
                let show: ShowId = required(args, "a performance")?.into();
                let booking = parse_booking(required(args, "a booking")?)?;
                let place = match self.seat_list(&show, args)?.as_slice() {
                    [place] => *place,
                    _ => return Err("expected one place".into()),
                };
                Command::CheckOut {
                    show,
                    booking,
                    place,
                    version: args.take_key("version").map_or(Ok(0), str::parse)?,
                    gate: args.take_key("gate").unwrap_or("main").to_owned(),
                }
            }
            "reentry" => Command::SetReentry {
                show: required(args, "a performance")?.into(),
                allowed: match required(args, "on or off")? {
                    "on" => true,
                    "off" => false,
                    other => return Err(format!("expected on or off, not {other}").into()),
                },
            },
            "add-ticket-key" => {
                let kid = required(args, "a key id")?.to_owned();
                let byte: u8 = required(args, "a key byte")?.parse()?;
                Command::AddTicketKey {
                    kid,
                    public: [byte; 32],
                }
            }
            "retire-ticket-key" => Command::RetireTicketKey {
                kid: required(args, "a key id")?.to_owned(),
            },
            "check-in" => {
                let show: ShowId = required(args, "a performance")?.into();
                let booking = parse_booking(required(args, "a booking")?)?;
                let place = match self.seat_list(&show, args)?.as_slice() {
                    [place] => *place,
                    _ => return Err("expected one place".into()),
                };
                Command::CheckIn {
                    show,
                    booking,
                    place,
                    version: args.take_key("version").map_or(Ok(0), str::parse)?,
                    gate: args.take_key("gate").unwrap_or("main").to_owned(),
                    offline_at: args
                        .take_key("offline")
                        .map(|t| parse_time(t).map(Timestamp))
                        .transpose()?,
                }
            }
            "confirm" => {
                let booking = parse_booking(required(args, "a booking")?)?;
                // By default the booking is paid by transaction `tx-<id>`
                // if it costs something, and confirmed without one if free.
                let transaction = match args.take_key("tx") {
                    Some("none") => None,
                    Some(tx) => Some(TransactionId::from(tx)),
                    None => {
                        let free = self
                            .state
                            .booking(booking)
                            .is_some_and(|b| b.total_cents == 0);
                        (!free).then(|| TransactionId(format!("tx-{booking}")))
                    }
                };
                Command::Confirm {
                    booking,
                    transaction,
                }
            }
            "release" => Command::Release {
                booking: parse_booking(required(args, "a booking")?)?,
            },
            "cancel" => Command::Cancel {
                booking: parse_booking(required(args, "a booking")?)?,
                user: self.user_ref(required(args, "the customer asking")?)?,
            },
            "settle" => Command::Settle {
                booking: parse_booking(required(args, "a booking")?)?,
                charge: args.take_key("charge").map(TransactionId::from),
            },
            "record-refund" => Command::RecordRefund {
                booking: parse_booking(required(args, "a booking")?)?,
            },
            "expire-holds" => Command::ExpireHolds,
            "set-room" => Command::SetWaitingRoom {
                show: required(args, "a show")?.into(),
                rules: Some(RoomRules {
                    opens_at: Timestamp(parse_time(required_key(args, "opens")?)?),
                    admit_per_s: args.take_key("rate").map_or(Ok(0), str::parse)?,
                    max_active: args.take_key("active").map_or(Ok(0), str::parse)?,
                    admission_ms: args.take_key("admission").map_or(Ok(60_000), parse_time)?,
                }),
            },
            "remove-room" => Command::SetWaitingRoom {
                show: required(args, "a show")?.into(),
                rules: None,
            },
            "join-room" => Command::JoinWaitingRoom {
                user: self.user_ref(required(args, "a user")?)?,
                show: required(args, "a show")?.into(),
            },
            "join-list" => Command::JoinWaitingList {
                user: self.user_ref(required(args, "a user")?)?,
                show: required(args, "a show")?.into(),
                quantity: args.take_key("quantity").map_or(Ok(1), str::parse)?,
                category: args.take_key("category").unwrap_or("").to_owned(),
                offer_ms: args.take_key("offer").map_or(Ok(600_000), parse_time)?,
                max_seats_per_user: args.take_key("cap").map_or(Ok(0), str::parse)?,
                limits: HoldLimits::NONE,
            },
            "leave-list" => Command::LeaveWaitingList {
                user: self.user_ref(required(args, "a user")?)?,
                show: required(args, "a show")?.into(),
            },
            "tick-rooms" => Command::TickWaitingRooms {
                seed: args.take_key("seed").map_or(Ok(0), str::parse)?,
            },
            "register" => Command::RegisterUser {
                email: required(args, "an email")?.to_owned(),
                password_hash: args.take_key("hash").unwrap_or(DEFAULT_HASH).to_owned(),
                admin: args.take_key("admin").map_or(Ok(false), str::parse)?,
            },
            "bootstrap-admin" => Command::BootstrapAdmin {
                email: required(args, "an email")?.to_owned(),
                password_hash: args.take_key("hash").unwrap_or(DEFAULT_HASH).to_owned(),
            },
            "set-admin" => Command::SetAdmin {
                user: self.user_ref(required(args, "a user")?)?,
                admin: required(args, "true or false")?.parse()?,
            },
            "grant-door-staff" | "revoke-door-staff" => {
                let user = self.user_ref(required(args, "a user")?)?;
                let scope = match (args.take_key("production"), args.take_key("venue")) {
                    (Some(p), None) => DoorScope::Production(p.into()),
                    (None, Some(v)) => DoorScope::Venue(v.into()),
                    _ => return Err("expected production=ID or venue=ID".into()),
                };
                if name == "grant-door-staff" {
                    Command::GrantDoorStaff { user, scope }
                } else {
                    Command::RevokeDoorStaff { user, scope }
                }
            }
            "revoke-sessions" => Command::RevokeSessions {
                user: self.user_ref(required(args, "a user")?)?,
            },
            "change-password" => Command::ChangePassword {
                user: self.user_ref(required(args, "a user")?)?,
                password_hash: required_key(args, "hash")?.to_owned(),
            },
            other => return Err(format!("unknown command {other:?}").into()),
        })
    }

    /// Who sends a command and how: the line's prefix names the caller
    /// (none: a trusted request), `token=` overrides the caller's token
    /// version (else the current one), `id=` names the request (else a
    /// fresh `req-n`), and `at=` applies it at that time instead of the
    /// runner's clock.
    fn envelope(
        &mut self,
        args: &mut ArgumentConsumer<'_>,
        context: &Context,
    ) -> Result<Envelope, Error> {
        self.requests += 1;
        let caller = match &context.prefix {
            Some(prefix) => {
                let user = self.user_ref(prefix)?;
                let token_version = match args.take_key("token") {
                    Some(token) => token.parse()?,
                    None => self.state.user(&user).map_or(0, |u| u.token_version),
                };
                Some(Caller {
                    user,
                    token_version,
                })
            }
            None if args.take_key("token").is_some() => {
                return Err("token= needs a caller: prefix the line with `user:`".into());
            }
            None => None,
        };
        let request_id = args
            .take_key("id")
            .map_or_else(|| format!("req-{}", self.requests), str::to_owned);
        let at = args
            .take_key("at")
            .map_or(Ok(self.clock), |t| parse_time(t).map(Timestamp))?;
        Ok(Envelope {
            caller,
            request_id: RequestId(request_id),
            at,
        })
    }

    /// Applies `command` as `envelope` says, checks what must hold after
    /// every request, and prints the outcome.
    fn apply(
        &mut self,
        command: Command,
        envelope: Envelope,
        context: &Context,
    ) -> Result<String, Error> {
        let before = self.state.clone();
        let request = Request {
            request_id: envelope.request_id,
            caller: envelope.caller,
            command,
        };
        let outcome = self.state.apply(envelope.at, &request);
        self.state
            .check_invariants()
            .map_err(|problem| format!("invariant broken: {problem}"))?;
        if outcome.is_err() && business(&self.state) != business(&before) {
            return Err(
                format!("the rejection {outcome:?} changed accounts, shows or bookings").into(),
            );
        }
        let mut out = outcome_line(&self.state, &outcome);
        if context.tags.contains("changes") {
            out.push('\n');
            out.push_str(&changes(&before, &self.state));
        }
        Ok(out)
    }

    /// Writes the state as a snapshot, restores it, and goes on with the
    /// restored copy (which must equal the original in every field).
    fn snapshot(&mut self) -> Result<String, Error> {
        let bytes = self.state.to_snapshot()?;
        let restored = State::from_snapshot_bytes(&bytes)?;
        if restored != self.state {
            return Err("the restored snapshot differs from the state".into());
        }
        self.state = restored;
        Ok("snapshot restored: the same state, indexes rebuilt".to_owned())
    }

    /// The remaining positional arguments as seats of `show`: numbers and
    /// ranges (`3 5-7`), or a performance's seat labels (`"Stalls A-1"`,
    /// or `A-1` if only one section has a row A).
    fn seat_list(
        &self,
        show: &ShowId,
        args: &mut ArgumentConsumer<'_>,
    ) -> Result<Vec<SeatNo>, Error> {
        let layout = self
            .state
            .show(show)
            .filter(|show| show.performance.is_some())
            .and_then(|show| self.state.layout_of(show));
        let mut seats = Vec::new();
        while let Some(arg) = args.next_pos() {
            let numbers = match arg.split_once('-') {
                Some((first, last)) => first
                    .parse::<u32>()
                    .and_then(|first| Ok((first, last.parse::<u32>()?))),
                None => arg.parse().map(|no| (no, no)),
            };
            match (numbers, &layout) {
                (Ok((first, last)), _) => seats.extend((first..=last).map(SeatNo)),
                (Err(_), Some(layout)) => seats.push(layout.find(arg)?),
                (Err(error), None) => return Err(error.into()),
            }
        }
        Ok(seats)
    }

    /// The user an argument names: an account by its email if it has an
    /// `@`, else the user id as written.
    fn user_ref(&self, name: &str) -> Result<UserId, Error> {
        if !name.contains('@') {
            return Ok(UserId::from(name));
        }
        self.state
            .user_by_email(name)
            .map(|user| user.id.clone())
            .ok_or_else(|| format!("no account has the email {name:?}").into())
    }
}

/// What a rejection must leave unchanged: the accounts, shows and
/// bookings, and the counts over them (all but the dedup records).
#[derive(Debug, PartialEq)]
struct Business {
    /// Every show with its seats.
    shows: Vec<Show>,
    /// Every account.
    users: Vec<User>,
    /// Every booking ever made.
    bookings: Vec<Booking>,
    /// The counts, with the dedup records left out.
    totals: Totals,
}

/// The business data of `state`, read through the public API.
fn business(state: &State) -> Business {
    let totals = state.totals();
    Business {
        shows: state.shows().cloned().collect(),
        users: state.users().cloned().collect(),
        bookings: (1..=totals.bookings_created)
            .filter_map(|id| state.booking(BookingId(id)))
            .collect(),
        totals: Totals {
            dedup_records: 0,
            ..totals
        },
    }
}

/// What changed from `before` to `after`, for lines tagged `[changes]`.
fn changes(before: &State, after: &State) -> String {
    if before == after {
        return "changes: none, not even the clock or the dedup records".to_owned();
    }
    let mut changes = Vec::new();
    if before.now() != after.now() {
        changes.push(format!(
            "clock {} → {}",
            time(before.now()),
            time(after.now())
        ));
    }
    let (was, is) = (before.totals().dedup_records, after.totals().dedup_records);
    if was != is {
        changes.push(format!("dedup records {was} → {is}"));
    }
    if business(before) != business(after) {
        changes.push("accounts, shows or bookings".to_owned());
    }
    if changes.is_empty() {
        changes.push("dedup records".to_owned());
    }
    format!("changes: {}", changes.join("; "))
}

// ----- Printing -----

/// One line per item, or `(none)`.
fn lines(items: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = items.collect();
    if all.is_empty() {
        "(none)".to_owned()
    } else {
        all.join("\n")
    }
}

/// An outcome: the effect, or the rejection with its kind.
fn outcome_line(state: &State, outcome: &Outcome) -> String {
    match outcome {
        Ok(Effect::Show(show)) => show_line(show),
        Ok(Effect::Booking(booking)) => booking_line(state, booking),
        Ok(Effect::Expired { released }) => format!("expired holds released: {released}"),
        Ok(Effect::User(user)) => user_line(user),
        Ok(Effect::Venue(venue)) => format!(
            "venue {} {:?}: {} seats in {} sections, {} standing in {} areas",
            venue.id, venue.name, venue.seats, venue.sections, venue.standing, venue.areas
        ),
        Ok(Effect::Production(production)) => format!(
            "production {} {:?}: {} minutes",
            production.id, production.title, production.running_minutes
        ),
        Ok(Effect::Performances(shows)) => lines(shows.iter().map(show_line)),
        Ok(Effect::Scanned(scan)) => scan_line(scan),
        Ok(Effect::Reissued(version)) => {
            format!("reissued: the ticket is now at version {version}")
        }
        Ok(Effect::Transferred(version)) => {
            format!("transferred: the ticket is now at version {version}")
        }
        Ok(Effect::ReentrySet) => "re-entry set".to_owned(),
        Ok(Effect::TicketKeyRetired) => {
            let doors = state.doors();
            let list = |kids: Vec<&String>| {
                kids.into_iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            format!(
                "ticket keys: {}; retired: {}",
                list(doors.keys().keys().collect()),
                list(doors.retired_keys().iter().collect())
            )
        }
        Ok(Effect::TicketKeyAdded) => format!(
            "ticket keys: {}",
            state
                .doors()
                .keys()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Ok(Effect::WaitingRoom(None)) => "waiting room removed".to_owned(),
        Ok(Effect::WaitingRoom(Some(room))) => room_line(room),
        Ok(Effect::WaitingList(list)) => list_line(list),
        Ok(Effect::RoomsTicked(tick)) => format!(
            "rooms: {} opened, {} let in, {} lapsed, {} closed",
            tick.opened, tick.admitted, tick.lapsed, tick.closed
        ),
        Ok(Effect::Returned { kept, returned }) => format!(
            "kept {}\nreturned {}",
            booking_line(state, kept),
            booking_line(state, returned)
        ),
        Err(rejection) => rejection_line(rejection),
    }
}

/// A waiting list as a command's outcome shows it.
fn list_line(list: &ListSummary) -> String {
    let you = match &list.status {
        ListStatus::Outside => "not on it".to_owned(),
        ListStatus::Waiting { place, position } => {
            format!("waiting at place {place}, position {position}")
        }
        ListStatus::Offered {
            booking,
            seats,
            expires_at,
        } => {
            let seats: Vec<String> = seats.iter().map(ToString::to_string).collect();
            format!(
                "offered booking {booking} (seats {}) until {}",
                seats.join(" "),
                time(*expires_at)
            )
        }
    };
    let entry = list.entry.as_ref().map_or(String::new(), |e| {
        let category = if e.category.is_empty() {
            "any"
        } else {
            &e.category
        };
        format!(" for {} of {category}", e.quantity)
    });
    format!(
        "list {}: {} waiting, {} offered; {} offered, {} bought, {} lapsed ever; you{entry}: {you}",
        list.show,
        list.waiting,
        list.offered,
        list.offered_total,
        list.bought_total,
        list.lapsed_total
    )
}

/// A waiting room as a command's outcome shows it.
fn room_line(room: &RoomSummary) -> String {
    let phase = match room.phase {
        RoomPhase::PreQueue => "before its opening".to_owned(),
        RoomPhase::Open { at, seed } => format!("open since {} (seed {seed})", time(at)),
        RoomPhase::SoldOut { at } => format!("closed at {}, sold out", time(at)),
    };
    let you = match room.status {
        RoomStatus::Outside => "outside".to_owned(),
        RoomStatus::PreQueue => "in the pre-queue".to_owned(),
        RoomStatus::Waiting { place, position } => {
            format!("waiting at place {place}, position {position}")
        }
        RoomStatus::Admitted { expires_at } => format!("let in until {}", time(expires_at)),
        RoomStatus::Closed => "closed".to_owned(),
    };
    let rules = room.rules;
    format!(
        "room {}: {phase}; opens {}, {}/s, at most {} in, admission {}; {} waiting, {} in, {} let in, {} lapsed; you: {you}",
        room.show,
        time(rules.opens_at),
        rules.admit_per_s,
        rules.max_active,
        duration(rules.admission_ms),
        room.waiting,
        room.admitted,
        room.admitted_total,
        room.lapsed_total
    )
}

/// A waiting list: who waits where, who has an offer.
fn list_detail(list: &WaitingList) -> String {
    let category = |c: &str| {
        if c.is_empty() {
            "any".to_owned()
        } else {
            c.to_owned()
        }
    };
    let waiting: Vec<String> = list
        .waiting()
        .map(|e| {
            format!(
                "{}:{} ({} of {})",
                e.place,
                e.user,
                e.quantity,
                category(&e.category)
            )
        })
        .collect();
    let offers: Vec<String> = list
        .offers()
        .iter()
        .map(|(b, e)| format!("{}:{} (booking {b})", e.place, e.user))
        .collect();
    format!(
        "waiting: {}\noffered: {}",
        lines_inline(&waiting),
        lines_inline(&offers)
    )
}

/// A waiting room's queues and admissions.
fn room_detail(room: &WaitingRoom) -> String {
    let prequeue: Vec<&str> = room.prequeue().iter().map(UserId::as_str).collect();
    let queue: Vec<String> = room
        .queue()
        .map(|(place, user)| format!("{place}:{user}"))
        .collect();
    let admitted: Vec<String> = room
        .admissions()
        .iter()
        .map(|(user, a)| format!("{user} (place {}, until {})", a.place, time(a.expires_at)))
        .collect();
    format!(
        "pre-queue: {}\nqueue: {}\nin: {}",
        lines_inline(&prequeue),
        lines_inline(&queue),
        lines_inline(&admitted)
    )
}

/// Items separated by spaces, or `(none)`.
fn lines_inline<T: AsRef<str>>(items: &[T]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a door scan found.
fn scan_line(scan: &Scan) -> String {
    match scan {
        Scan::Admitted {
            ticket,
            ticket_type,
        } => format!(
            "admitted ticket {}-{} ({ticket_type})",
            ticket.booking, ticket.place
        ),
        Scan::AlreadyIn(entry) => format!("already in since {} at {}", time(entry.at), entry.gate),
        Scan::WrongPerformance(show) => format!("wrong performance: the ticket is for {show}"),
        Scan::Superseded { current } => format!("superseded: the ticket is at version {current}"),
        Scan::Transferred { current } => {
            format!("transferred: the ticket is at version {current}")
        }
        Scan::Left(exit) => format!("left at {} through {}", time(exit.at), exit.gate),
        other => other.name().replace('_', " "),
    }
}

/// A rejection: `rejected: message [Kind]`, with when to retry if it says.
fn rejection_line(rejection: &Rejection) -> String {
    let retry = match rejection.retry_after_ms() {
        Some(ms) => format!(", retry after {}", duration(ms)),
        None => String::new(),
    };
    format!("rejected: {rejection} [{:?}{retry}]", rejection.kind())
}

/// A show without its seats.
fn show_line(show: &ShowSummary) -> String {
    format!(
        "show {} {:?}: {} seats at {}, starts {}; {} available, {} held, {} booked",
        show.id,
        show.title,
        show.seat_count,
        money(show.price_cents),
        time(show.starts_at),
        show.available,
        show.held,
        show.booked
    ) + &match (&show.production, show.cancelled) {
        (None, _) => String::new(),
        (Some(_), false) => format!(", {} held back", show.held_back),
        (Some(_), true) => format!(", {} held back; cancelled", show.held_back),
    }
}

/// A show and its seat map, runs of equal seats grouped: `1-4 free, 5 held #1`.
fn show_with_seats(show: &Show) -> String {
    let mut runs: Vec<(u32, u32, Seat)> = Vec::new();
    for (index, seat) in show.seats.iter().enumerate() {
        let no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        match runs.last_mut() {
            Some((_, last, state)) if *state == seat => *last = no,
            _ => runs.push((no, no, seat)),
        }
    }
    let seats: Vec<String> = runs
        .into_iter()
        .map(|(first, last, seat)| {
            let range = if first == last {
                first.to_string()
            } else {
                format!("{first}-{last}")
            };
            match seat {
                Seat::Available => format!("{range} free"),
                Seat::Held(id) => format!("{range} held #{id}"),
                Seat::Booked(id) => format!("{range} booked #{id}"),
                Seat::HeldBack => format!("{range} held back"),
            }
        })
        .collect();
    format!(
        "{}\nseats: {}",
        show_line(&show.summary()),
        seats.join(", ")
    )
}

/// A booking, every field of it.
fn booking_line(state: &State, booking: &Booking) -> String {
    let seats: Vec<String> = booking.seats.iter().map(SeatNo::to_string).collect();
    let status = match booking.status {
        BookingStatus::Held { expires_at } => format!("held until {}", time(expires_at)),
        BookingStatus::Confirmed { at } => format!("confirmed at {}", time(at)),
        BookingStatus::Released { at, lapsed: true } => {
            format!("released at {} (lapsed)", time(at))
        }
        BookingStatus::Released { at, lapsed: false } => format!("released at {}", time(at)),
        BookingStatus::Cancelled { at } => format!("cancelled at {}", time(at)),
    };
    let order = match &booking.order {
        Some(order) => format!(", order {order}"),
        None => String::new(),
    };
    let payment = match &booking.payment {
        Payment::Charged(tx) | Payment::RefundDue(tx) | Payment::Refunded(tx) => {
            format!("{} {tx}", booking.payment.name())
        }
        other => other.name().to_owned(),
    };
    format!(
        "booking {} for {}: {} seats {}, {}, made {}, {status}{order}, payment {payment}{}",
        booking.id,
        booking.user,
        booking.show,
        seats.join(" "),
        money(booking.total_cents),
        time(booking.created_at),
        performances::tickets_line(state, booking),
    )
}

/// An account as commands report it.
fn user_line(user: &UserSummary) -> String {
    format!(
        "user {} {}: {}, token {}, since {}",
        user.id,
        user.email,
        if user.admin { "admin" } else { "customer" },
        user.token_version,
        time(user.created_at)
    )
}

/// An account as stored, with its password hash.
fn account_line(user: &User) -> String {
    format!(
        "{}, password hash {:?}",
        user_line(&user.summary()),
        user.password_hash
    )
}

/// The counts over the whole state.
fn totals_line(totals: &Totals) -> String {
    format!(
        "users {}, shows {}, seats {} ({} held, {} booked), bookings made {}, holds {}, \
         unsettled {}, dedup records {}",
        totals.users,
        totals.shows,
        totals.seats,
        totals.seats_held,
        totals.seats_booked,
        totals.bookings_created,
        totals.holds,
        totals.unsettled,
        totals.dedup_records
    )
}

/// Cents as units and hundredths: `25.00`, `-0.01`.
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A time, as the duration since the epoch: `0s`, `1m30s`, `1d`, `max`.
fn time(at: Timestamp) -> String {
    duration(at.0)
}

/// A duration in milliseconds as days, hours, minutes, seconds and
/// milliseconds: `1h2m`, `-5s`, `250ms`; the extremes as `max` and `min`,
/// and the last day before the end of time as `max-10ms`.
fn duration(ms: i64) -> String {
    match ms {
        i64::MAX => return "max".to_owned(),
        i64::MIN => return "min".to_owned(),
        0 => return "0s".to_owned(),
        _ if ms > i64::MAX - DAY_MS => return format!("max-{}", duration(i64::MAX - ms)),
        _ => {}
    }
    let mut out = String::from(if ms < 0 { "-" } else { "" });
    let mut rest = ms.unsigned_abs();
    for (unit, size) in UNITS {
        if rest >= size {
            write!(out, "{}{unit}", rest / size).ok();
            rest %= size;
        }
    }
    out
}

/// One day, in milliseconds.
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The units of [`duration`] and [`parse_time`], largest first, in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("d", 24 * 60 * 60 * 1000),
    ("h", 60 * 60 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

// ----- Parsing -----

/// The next positional argument, or an error naming what was expected.
fn required<'a>(args: &mut ArgumentConsumer<'a>, what: &str) -> Result<&'a str, Error> {
    args.next_pos()
        .ok_or_else(|| format!("expected {what}").into())
}

/// The value of `key=`, which must be given.
fn required_key<'a>(args: &mut ArgumentConsumer<'a>, key: &str) -> Result<&'a str, Error> {
    args.take_key(key)
        .ok_or_else(|| format!("expected {key}=").into())
}

/// A time or duration as [`duration`] prints it: `0`, `90s`, `1m30s`,
/// `-5s`, `250ms`, `max`, `min`; or `max-10ms`, that long before the end
/// of time.
fn parse_time(text: &str) -> Result<i64, Error> {
    match text {
        "max" => return Ok(i64::MAX),
        "min" => return Ok(i64::MIN),
        "0" => return Ok(0),
        _ => {}
    }
    if let Some(before) = text.strip_prefix("max-") {
        return Ok(i64::MAX - parse_time(before)?.max(0));
    }
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("bad duration {text:?}: expected a number before a unit"))?;
        rest = &rest[digits..];
        // `ms` before `m`, so that milliseconds are not read as minutes.
        let (unit, size) = [UNITS[4], UNITS[0], UNITS[1], UNITS[2], UNITS[3]]
            .into_iter()
            .find(|(unit, _)| rest.starts_with(unit))
            .ok_or_else(|| format!("bad duration {text:?}: expected d, h, m, s or ms"))?;
        rest = &rest[unit.len()..];
        let size = i64::try_from(size)?;
        total = number
            .checked_mul(size)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("duration {text:?} overflows"))?;
    }
    Ok(if negative { -total } else { total })
}

/// An amount as [`money`] prints it (`25.00`, `-0.01`), or whole units (`25`), in cents.
fn parse_money(text: &str) -> Result<i64, Error> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (units, hundredths) = match digits.split_once('.') {
        Some((units, hundredths)) if hundredths.len() == 2 => (units, hundredths),
        Some(_) => return Err(format!("bad amount {text:?}: give two decimals").into()),
        None => (digits, "00"),
    };
    let cents = units
        .parse::<i64>()?
        .checked_mul(100)
        .and_then(|cents| cents.checked_add(hundredths.parse().ok()?))
        .ok_or_else(|| format!("amount {text:?} overflows"))?;
    Ok(if negative { -cents } else { cents })
}

/// A booking id: `1`, or `#1` as shows print it.
fn parse_booking(text: &str) -> Result<BookingId, Error> {
    Ok(text.trim_start_matches('#').parse()?)
}

/// A hold's limits against hoarding: none unless `limits=default`, then
/// `held-max=`, `hourly-max=` and `cooldown=` override each.
fn hold_limits(args: &mut ArgumentConsumer<'_>) -> Result<HoldLimits, Error> {
    let mut limits = match args.take_key("limits") {
        None | Some("none") => HoldLimits::NONE,
        Some("default") => HoldLimits::default(),
        Some(other) => return Err(format!("limits={other}: expected none or default").into()),
    };
    if let Some(max) = args.take_key("held-max") {
        limits.max_held_seats = max.parse()?;
    }
    if let Some(max) = args.take_key("hourly-max") {
        limits.max_holds_per_hour = max.parse()?;
    }
    if let Some(cooldown) = args.take_key("cooldown") {
        limits.cooldown_ms = parse_time(cooldown)?;
    }
    Ok(limits)
}

/// The runner's own formats read back what they print.
#[test]
fn times_and_money_round_trip() {
    for ms in [
        0,
        1,
        999,
        1000,
        61_001,
        90_000,
        86_400_000,
        -5000,
        i64::MAX,
        i64::MIN,
    ] {
        assert_eq!(parse_time(&duration(ms)).ok(), Some(ms), "{}", duration(ms));
    }
    assert_eq!(duration(3_723_004), "1h2m3s4ms");
    assert_eq!(parse_time("1m30s").ok(), Some(90_000));
    assert_eq!(parse_time("250ms").ok(), Some(250));
    assert!(parse_time("5").is_err() && parse_time("5x").is_err());
    for cents in [0, 1, 99, 2_500, -1, -99, -100, 100_000_000] {
        assert_eq!(
            parse_money(&money(cents)).ok(),
            Some(cents),
            "{}",
            money(cents)
        );
    }
    assert_eq!(parse_money("25").ok(), Some(2_500));
    assert!(parse_money("2.5").is_err());
}
