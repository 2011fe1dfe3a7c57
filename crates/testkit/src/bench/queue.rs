//! `boxoffice bench --workload queue`: an on-sale through the waiting room.
//!
//! Sets up a performance of `--seats` seats (one price, a paid checkout)
//! behind a waiting room letting in `--admit-rate` buyers a second, then:
//!
//! 1. every account does the proof of work the nodes ask of a join (all
//!    of them at once on every core, before the joins: `pow_solve_s`), then
//!    `--buyers` buyers and `--bots` bots join before the opening, as many
//!    at once as `--clients` (the time they take gives `joins_per_s`);
//!    each bot first tries to buy without joining, which must be refused;
//! 2. the room opens (its pre-queue shuffled by the cluster) and everyone
//!    waits to be let in, each with one `GetWaitingRoom` call that the
//!    node answers when their turn comes;
//! 3. a buyer let in buys the best one to four seats together (fewer when
//!    that many are not left together), paying with the test card, and is
//!    done; a bot buys four, joins again, and goes on until refused.
//!
//! The run ends when everyone is done or the room closed on them (it closes
//! itself once nothing is left to sell). It checks that no seat was sold
//! twice and that the performance sold out, and reports `fairness` (the
//! share of admissions made in queue order: by the places and admission
//! times the cluster records), `sold_out_after_s` (from the opening to the
//! room's closing, by the cluster's clock), `admission_p99_ms` (from being
//! let in to the seats held: the hold's commit, by the cluster's clock),
//! `paid_p99_ms` (from being let in to the checkout's answer, paid), and
//! `bot_tickets`.
//!
//! Buyers are accounts of their own. Registering tens of thousands through
//! the auth service would take an hour of argon2id and its registration
//! throttle refuses it by design, so the bench stands in for the auth
//! service (it reads `boxoffice up`'s `auth.toml` under `--data-dir`: its
//! certificate registers accounts through the nodes' account API, its key
//! signs their sessions) and for the gateway (its certificate lets the
//! bench say which network each buyer calls from: buyer `i` from a /24 of
//! its own, every bot from `203.0.113.0/24`). It must therefore run on the
//! machine of the cluster it measures, like `failover`. Everything a buyer
//! does then goes through the public booking API with their own token.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use boxoffice_auth::config::AuthConfig;
use boxoffice_auth::keys::SigningKeys;
use boxoffice_auth::token::TokenIssuer;
use boxoffice_client::Client;
use boxoffice_client::proto as v1;
use boxoffice_core::{Command, Effect, Outcome, Request, RequestId, ShowId, UserId, pow};
use boxoffice_proto::internal::v1::ApplyRequest;
use boxoffice_proto::internal::v1::account_service_client::AccountServiceClient;
use boxoffice_tls::{ANY_NODE, Identity, TlsFiles};
use serde::Serialize;
use tokio::sync::Semaphore;

use super::{Latency, latency_histogram};

/// A well-formed argon2id PHC string no password is known to match: the
/// bench's accounts never log in with a password.
const NO_PASSWORD: &str = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hzYWx0$YmVuY2hiZW5jaGJlbmNoYmVuY2g";
/// How long one waiting call may wait at the node (the client gives an
/// attempt 15 s at most).
const WAIT: Duration = Duration::from_secs(10);
/// How far ahead of the opening, once everyone has joined, its time is set.
const OPENING_NOTICE_MS: i64 = 3_000;
/// Buyers whose calls share one client's connections.
const BUYERS_PER_CONNECTION: u32 = 500;
/// How long an admission lasts unused.
const ADMISSION_MS: i64 = 60_000;
/// Seats a bot asks for each time.
const BOT_WANTS: u32 = 4;
/// Most times a bot queues again after buying.
const BOT_ROUNDS: u32 = 20;
/// The network every bot calls from.
const BOT_NETWORK: [u8; 3] = [203, 0, 113];

/// What the queue workload is asked to do.
pub struct QueueArgs {
    /// Buyers in the room.
    pub buyers: u32,
    /// Bot accounts, all from one network.
    pub bots: u32,
    /// Seats of the performance.
    pub seats: u32,
    /// Admissions a second.
    pub admit_per_s: u32,
    /// Joins in flight at once.
    pub concurrency: u32,
}

/// The result of a queue run, as `--json` prints it.
#[derive(Serialize)]
pub struct QueueReport {
    buyers: u32,
    bots: u32,
    seats: u32,
    admit_per_s: u32,
    /// Seconds spent creating the accounts and their sessions.
    setup_s: f64,
    /// The proof of work a join takes (bits), and the seconds this machine
    /// took to do it for every account, on every core.
    join_pow_bits: u32,
    pow_solve_s: f64,
    /// Seats acknowledged to two buyers, plus any difference between the
    /// seats acknowledged and the performance's own count (must be 0).
    sold_twice: u64,
    /// Share of admissions made in queue order (1.0: all of them).
    fairness: f64,
    /// From the opening to the room closing itself, sold out (cluster clock).
    sold_out_after_s: f64,
    joins_per_s: f64,
    /// Let in to seats held (the hold's commit, by the cluster's clock),
    /// p99.
    admission_p99_ms: f64,
    admission_latency: Latency,
    /// Let in to booked and paid (the answer to the checkout, which
    /// charges the card after the hold), p99.
    paid_p99_ms: f64,
    paid_latency: Latency,
    /// Let in to told so (the first part of both).
    notice_latency: Latency,
    /// Tickets all the bots got.
    bot_tickets: u64,
    /// Times a bot tried to buy without the room, and was refused (all of
    /// them must be).
    skips_refused: u64,
    skips_allowed: u64,
    tickets_sold: u64,
    /// Seats the performance counts booked beyond those acknowledged (a
    /// checkout whose answer was lost).
    unacknowledged: u64,
    /// Buyers who bought, and those the room closed on.
    buyers_served: u64,
    buyers_closed_out: u64,
    /// Accounts told they were no longer in the room while it was open,
    /// before being let in (must be 0), and accounts let in at another
    /// place than the one they last saw while waiting (must be 0).
    places_lost: u64,
    places_reordered: u64,
    admissions: u64,
    /// The performance sold out, and the room ended empty.
    sold_out: bool,
    drained: bool,
    errors: BTreeMap<String, u64>,
}

/// The cluster as the bench reaches it, standing in for the auth service
/// and the gateway.
struct Stand {
    /// The nodes' account API, with the auth service's certificate.
    accounts: Client,
    /// The nodes' peer ports, with the gateway's certificate: several
    /// clients, each with connections of its own, as a row of gateway
    /// processes would have (one HTTP/2 connection a node would carry
    /// every buyer's calls).
    gateways: Vec<Client>,
    issuer: TokenIssuer,
}

impl Stand {
    fn open(data_dir: &Path, connections: usize) -> anyhow::Result<Self> {
        let path = data_dir.join("auth.toml");
        let auth = AuthConfig::load(Some(&path))
            .with_context(|| format!("reading {} (written by boxoffice up)", path.display()))?;
        let tls = |identity| {
            TlsFiles::in_dir(&auth.certs_dir, identity)
                .load()
                .with_context(|| {
                    format!(
                        "the {identity:?} certificate in {}",
                        auth.certs_dir.display()
                    )
                })
        };
        let keys = SigningKeys::load_or_create(&auth.keys_dir)
            .with_context(|| format!("the signing key in {}", auth.keys_dir.display()))?;
        let issuer = TokenIssuer::new(
            keys,
            auth.issuer.clone(),
            Duration::from_secs(3600),
            Duration::from_secs(3600),
        );
        let service = issuer.service_token()?;
        let accounts =
            Client::with_tls(&auth.nodes, Some(tls(Identity::Auth)?.client_for(ANY_NODE)))?
                .with_token(service);
        let gateway = tls(Identity::Gateway)?.client_for(ANY_NODE);
        let gateways = (0..connections.max(1))
            .map(|_| Client::with_tls(&auth.nodes, Some(gateway.clone())))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            accounts,
            gateways,
            issuer,
        })
    }

    /// Registers `email` as a customer; returns a session token of theirs.
    async fn account(&self, email: String) -> anyhow::Result<(String, UserId)> {
        let request = Request {
            request_id: RequestId(boxoffice_client::new_request_id()),
            caller: None,
            command: Command::RegisterUser {
                email,
                password_hash: NO_PASSWORD.to_owned(),
                admin: false,
            },
        };
        let encoded = postcard::to_allocvec(&request)?;
        let reply = self
            .accounts
            .call(|channel| {
                let req = self.accounts.request(ApplyRequest {
                    request: encoded.clone(),
                });
                async move {
                    AccountServiceClient::new(channel)
                        .apply(req)
                        .await
                        .map(|r| r.into_inner().outcome)
                }
            })
            .await
            .map_err(|s| anyhow::anyhow!("registering a buyer: {}", s.message()))?;
        let outcome: Outcome = postcard::from_bytes(&reply)?;
        match outcome {
            Ok(Effect::User(user)) => Ok((
                self.issuer
                    .issue(&user.id.0, user.token_version, false)?
                    .access,
                user.id,
            )),
            other => anyhow::bail!("registering a buyer: {other:?}"),
        }
    }

    /// A client acting for buyer `i`, of `token`, calling from `addr`.
    fn buyer(&self, i: u32, token: &str, addr: [u8; 4]) -> Client {
        self.gateways[i as usize % self.gateways.len()]
            .for_token(Some(token))
            .for_client_addr(std::net::IpAddr::from(addr))
    }
}

/// One participant's part of the run.
#[derive(Default)]
struct Part {
    /// (place, admitted at ms) of each admission.
    admissions: Vec<(u64, i64)>,
    /// Let in to held, and to paid, µs.
    held: Vec<u64>,
    paid: Vec<u64>,
    /// Let in to told so (the waiting call's answer), µs.
    noticed: Vec<u64>,
    seats: Vec<u32>,
    served: bool,
    closed_out: bool,
    /// Told "outside" while waiting, before being let in and with the room
    /// still open: a place lost.
    lost: bool,
    /// Let in at another place than the one last seen while waiting: a
    /// place reordered.
    reordered: bool,
    /// Checkouts sent again after UNAVAILABLE.
    retries: u32,
    errors: BTreeMap<String, u64>,
}

impl Part {
    fn error(&mut self, what: &str, status: &tonic::Status) {
        let message: String = status.message().chars().take(120).collect();
        let key = format!(
            "{what}: {}: {message}",
            boxoffice_cli::output::code_name(status.code())
        );
        *self.errors.entry(key).or_default() += 1;
    }
}

/// Waits until let in: `Some((place, admitted_at_ms))`, or `None` when the
/// room closed or the buyer is no longer in it.
async fn let_in(client: &Client, show: &str, part: &mut Part) -> Option<(u64, i64)> {
    let mut failures = 0;
    let mut seen = None;
    loop {
        match client.wait_in_waiting_room(show, WAIT).await {
            Ok(room) => {
                let you = room.you.unwrap_or_default();
                match you.status.as_str() {
                    "admitted" => {
                        part.reordered = seen.is_some_and(|place| place != you.place);
                        return Some((you.place, you.admitted_at_ms));
                    }
                    "waiting" => seen = Some(you.place),
                    "pre_queue" => {}
                    "outside" => {
                        part.lost = room.room.is_some_and(|r| r.phase != "sold_out");
                        return None;
                    }
                    _ => return None,
                }
            }
            Err(status) => {
                part.error("wait", &status);
                failures += 1;
                if failures > 20 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Buys up to `want` of the best seats together, fewer when that many are
/// not left together; returns the booking made (none when sold out or
/// refused).
async fn buy(
    client: &Client,
    show: &str,
    want: u32,
    card: &v1::Card,
    part: &mut Part,
) -> Option<v1::Booking> {
    let mut n = want;
    let mut request_id = boxoffice_client::new_request_id();
    while n > 0 {
        match client
            .book(show, &[])
            .best(n, "Standard", "adult", false)
            .request_id(&request_id)
            .card(card)
            .await
        {
            Ok(booking) => return Some(booking),
            Err(status)
                if status.message().contains("together") || status.message().contains("left") =>
            {
                n -= 1;
                request_id = boxoffice_client::new_request_id();
            }
            // A leader lost mid-checkout: the same request again (it
            // never books twice), while the admission lasts.
            Err(status) if status.code() == tonic::Code::Unavailable && part.retries < 20 => {
                part.error("buy (retried)", &status);
                part.retries += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(status) => {
                part.error("buy", &status);
                return None;
            }
        }
    }
    None
}

fn now_ms() -> i64 {
    boxoffice_config::clock::now_ms()
}

/// A buyer: waits, buys once.
async fn buyer(client: Client, show: Arc<str>, want: u32, card: Arc<v1::Card>) -> Part {
    let mut part = Part::default();
    let Some((place, at)) = let_in(&client, &show, &mut part).await else {
        part.closed_out = true;
        return part;
    };
    part.admissions.push((place, at));
    part.noticed
        .push(u64::try_from(now_ms().saturating_sub(at)).unwrap_or(0) * 1000);
    if let Some(booking) = buy(&client, &show, want, &card, &mut part).await {
        // Held: when the cluster committed the hold (the booking's
        // creation, by the same clock as the admission).
        part.held
            .push(u64::try_from(booking.created_at_ms.saturating_sub(at)).unwrap_or(0) * 1000);
        part.paid
            .push(u64::try_from(now_ms().saturating_sub(at)).unwrap_or(0) * 1000);
        part.served = true;
        part.seats = booking.seat_nos;
    }
    part
}

/// A bot: tries to skip the room, then waits, buys all it may, and
/// queues again, until refused or the room closes.
async fn bot(client: Client, show: Arc<str>, card: Arc<v1::Card>, nonce: u64) -> Part {
    let mut part = Part::default();
    for round in 0..BOT_ROUNDS {
        if round > 0
            && let Err(status) = client.join_waiting_room_with(&show, nonce).await
        {
            part.error("join", &status);
            break;
        }
        let Some((place, at)) = let_in(&client, &show, &mut part).await else {
            part.closed_out = true;
            break;
        };
        part.admissions.push((place, at));
        let Some(booking) = buy(&client, &show, BOT_WANTS, &card, &mut part).await else {
            break;
        };
        part.seats.extend(booking.seat_nos);
    }
    part
}

/// Creates the performance, its room and every account; runs the on-sale.
pub async fn run(
    admin: &Client,
    data_dir: &Path,
    run_id: &str,
    args: &QueueArgs,
    create_performance: impl std::future::Future<Output = anyhow::Result<String>>,
) -> anyhow::Result<QueueReport> {
    anyhow::ensure!(
        (1..=200_000).contains(&args.buyers),
        "--buyers must be 1 to 200000"
    );
    anyhow::ensure!(args.bots <= 1_000, "--bots must be at most 1000");
    anyhow::ensure!(
        (1..=100_000).contains(&args.admit_per_s),
        "--admit-rate must be 1 to 100000"
    );
    let total = args.buyers + args.bots;
    let stand = Arc::new(Stand::open(
        data_dir,
        total.div_ceil(BUYERS_PER_CONNECTION) as usize,
    )?);
    let show: Arc<str> = create_performance.await?.into();
    admin
        .set_waiting_room(
            &show,
            Some(v1::RoomRules {
                opens_at_ms: now_ms() + 3_600_000,
                admit_per_s: args.admit_per_s,
                max_active: 0,
                admission_ms: ADMISSION_MS,
            }),
        )
        .await
        .map_err(|s| anyhow::anyhow!("setting up the waiting room: {}", s.message()))?;

    // Accounts and sessions: buyer i calls from 10.x.y.0/24 of its own.
    let setup = Instant::now();
    let gate = Arc::new(Semaphore::new(args.concurrency.clamp(1, 1024) as usize));
    let mut accounts = tokio::task::JoinSet::new();
    for i in 0..total {
        let (stand, gate, run_id) = (stand.clone(), gate.clone(), run_id.to_owned());
        accounts.spawn(async move {
            let _turn = gate.acquire_owned().await?;
            let (token, user) = stand
                .account(format!("queue-{run_id}-{i}@bench.example.com"))
                .await?;
            anyhow::Ok((i, token, user))
        });
    }
    let mut tokens = vec![String::new(); total as usize];
    let mut users = vec![UserId::from(""); total as usize];
    while let Some(done) = accounts.join_next().await {
        let (i, token, user) = done??;
        tokens[i as usize] = token;
        users[i as usize] = user;
    }
    let address = |i: u32| -> [u8; 4] {
        if i < args.buyers {
            [10, (i >> 8) as u8, i as u8, 1]
        } else {
            let [a, b, c] = BOT_NETWORK;
            [a, b, c, 1 + ((i - args.buyers) % 250) as u8]
        }
    };
    let tokens = Arc::new(tokens);
    let client = |i: u32| stand.buyer(i, &tokens[i as usize], address(i));
    let setup_s = setup.elapsed().as_secs_f64();

    // Every account pays with a card of its own, as real buyers (and a
    // farm with a list of stolen cards) do: the cap per card is not what
    // this bench measures.
    let card_of = |i: u32| {
        Arc::new(v1::Card {
            number: boxoffice_payment::cards::approved_card_number(u64::from(i)),
            ..super::test_card()
        })
    };
    // Bots try the door first: buying without the room must be refused.
    let mut skips_refused = 0;
    let mut skips_allowed = 0;
    for b in args.buyers..total {
        match client(b)
            .book(&show, &[])
            .best(BOT_WANTS, "Standard", "adult", false)
            .card(&*card_of(b))
            .await
        {
            Ok(_) => skips_allowed += 1,
            Err(_) => skips_refused += 1,
        }
    }

    // Every account's proof of work, on every core.
    let join_pow_bits = admin
        .waiting_room(&show, false)
        .await
        .map_err(|s| anyhow::anyhow!("reading the room: {}", s.message()))?
        .you
        .unwrap_or_default()
        .join_pow_bits;
    let solving = Instant::now();
    let nonces = Arc::new(solve_all(&show, &users, join_pow_bits).await?);
    let pow_solve_s = solving.elapsed().as_secs_f64();

    // Everyone joins before the opening.
    let joining = Instant::now();
    let mut joins = tokio::task::JoinSet::new();
    for i in 0..total {
        let (client, gate, show) = (client(i), gate.clone(), show.clone());
        let nonce = nonces[i as usize];
        joins.spawn(async move {
            let _turn = gate.acquire_owned().await?;
            client
                .join_waiting_room_with(&show, nonce)
                .await
                .map_err(|s| anyhow::anyhow!("joining: {}", s.message()))?;
            anyhow::Ok(())
        });
    }
    while let Some(done) = joins.join_next().await {
        done??;
    }
    let joins_per_s = f64::from(total) / joining.elapsed().as_secs_f64();

    // Everyone waits; then the room opens.
    let mut parts = tokio::task::JoinSet::new();
    for i in 0..total {
        let (client, show, card) = (client(i), show.clone(), card_of(i));
        if i < args.buyers {
            parts.spawn(buyer(client, show, 1 + i % 4, card));
        } else {
            parts.spawn(bot(client, show, card, nonces[i as usize]));
        }
    }
    admin
        .set_waiting_room(
            &show,
            Some(v1::RoomRules {
                // A set time a little ahead, as a real opening is: the
                // waiting calls (which looked at most 2 s apart while
                // the opening was an hour away) wake for it on time.
                opens_at_ms: now_ms() + OPENING_NOTICE_MS,
                admit_per_s: args.admit_per_s,
                max_active: 0,
                admission_ms: ADMISSION_MS,
            }),
        )
        .await
        .map_err(|s| anyhow::anyhow!("opening the waiting room: {}", s.message()))?;
    let opened_at_ms = opening(admin, &show).await?;

    let mut admissions = Vec::new();
    let mut latency = latency_histogram();
    let mut paid = latency_histogram();
    let mut noticed = latency_histogram();
    let mut sold: Vec<u32> = Vec::new();
    let mut bot_tickets = 0u64;
    let mut served = 0u64;
    let mut closed_out = 0u64;
    let (mut places_lost, mut places_reordered) = (0u64, 0u64);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(done) = parts.join_next().await {
        let part = done?;
        admissions.extend(part.admissions.iter().copied());
        for l in &part.held {
            latency.saturating_record(*l);
        }
        for l in &part.paid {
            paid.saturating_record(*l);
        }
        for l in &part.noticed {
            noticed.saturating_record(*l);
        }
        sold.extend(part.seats.iter().copied());
        served += u64::from(part.served);
        closed_out += u64::from(part.closed_out);
        places_lost += u64::from(part.lost);
        places_reordered += u64::from(part.reordered);
        for (k, v) in part.errors {
            *errors.entry(k).or_default() += v;
        }
    }
    // The bots' tickets: what their accounts hold.
    for b in args.buyers..total {
        let bookings = client(b)
            .list_bookings(false)
            .await
            .map_err(|s| anyhow::anyhow!("a bot's bookings: {}", s.message()))?;
        bot_tickets += bookings
            .iter()
            .filter(|b| b.show_id == *show && b.status() == v1::BookingStatus::Confirmed)
            .map(|b| b.seat_nos.len() as u64)
            .sum::<u64>();
    }

    let distinct: BTreeSet<u32> = sold.iter().copied().collect();
    if std::env::var_os("BENCH_DEBUG").is_some() {
        let mut seen = BTreeSet::new();
        let twice: Vec<u32> = sold
            .iter()
            .copied()
            .filter(|s| !seen.insert(*s))
            .take(10)
            .collect();
        eprintln!("show {show}: seats acknowledged twice: {twice:?}");
    }
    let (plan, _) = admin
        .seat_map(&show, false)
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?;
    let sold_twice = (sold.len() - distinct.len()) as u64
        + (sold.len() as u64).saturating_sub(u64::from(plan.booked));
    let room = eventually_closed(admin, &show).await?;
    let r = room.room.unwrap_or_default();
    Ok(QueueReport {
        buyers: args.buyers,
        bots: args.bots,
        seats: args.seats,
        admit_per_s: args.admit_per_s,
        setup_s,
        join_pow_bits,
        pow_solve_s,
        sold_twice,
        fairness: fairness(&admissions),
        sold_out_after_s: if r.closed_at_ms > 0 && opened_at_ms > 0 {
            (r.closed_at_ms - opened_at_ms) as f64 / 1000.0
        } else {
            f64::NAN
        },
        joins_per_s,
        admission_p99_ms: latency.value_at_quantile(0.99) as f64 / 1000.0,
        admission_latency: Latency::of(&latency),
        paid_p99_ms: paid.value_at_quantile(0.99) as f64 / 1000.0,
        paid_latency: Latency::of(&paid),
        notice_latency: Latency::of(&noticed),
        bot_tickets,
        skips_refused,
        skips_allowed,
        tickets_sold: sold.len() as u64,
        unacknowledged: u64::from(plan.booked).saturating_sub(sold.len() as u64),
        buyers_served: served,
        buyers_closed_out: closed_out,
        places_lost,
        places_reordered,
        admissions: admissions.len() as u64,
        sold_out: plan.available == 0 && plan.held == 0,
        drained: r.phase == "sold_out" && r.waiting == 0 && r.admitted == 0,
        errors,
    })
}

/// When the room opened (the tick that shuffled its pre-queue, by the
/// cluster's clock); 0 if it closed before anyone saw it open.
async fn opening(admin: &Client, show: &str) -> anyhow::Result<i64> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let room = admin
            .waiting_room(show, false)
            .await
            .map_err(|s| anyhow::anyhow!("reading the room: {}", s.message()))?
            .room
            .unwrap_or_default();
        if room.phase != "pre_queue" || Instant::now() >= until {
            return Ok(room.opened_at_ms);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The room once it has closed (it closes at the first tick after the
/// last seat is sold), or as it is after ten seconds.
async fn eventually_closed(admin: &Client, show: &str) -> anyhow::Result<v1::WaitingRoomResponse> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let room = admin
            .waiting_room(show, false)
            .await
            .map_err(|s| anyhow::anyhow!("reading the room: {}", s.message()))?;
        let closed = room.room.as_ref().is_some_and(|r| r.phase == "sold_out");
        if closed || Instant::now() >= until {
            return Ok(room);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The share of admissions made in queue order: an admission is out of
/// order if a buyer of a later place was let in strictly before it.
fn fairness(admissions: &[(u64, i64)]) -> f64 {
    if admissions.is_empty() {
        return f64::NAN;
    }
    let mut by_place = admissions.to_vec();
    by_place.sort_unstable();
    // Walking from the back: the earliest admission of any later place.
    let mut earliest_later = i64::MAX;
    let mut in_order = 0usize;
    for &(_, at) in by_place.iter().rev() {
        if at <= earliest_later {
            in_order += 1;
        }
        earliest_later = earliest_later.min(at);
    }
    in_order as f64 / admissions.len() as f64
}

/// The proof of work of each of `users` for the room of `show`, found on
/// every core at once.
async fn solve_all(show: &str, users: &[UserId], bits: u32) -> anyhow::Result<Vec<u64>> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let chunk = users.len().div_ceil(cores).max(1);
    let show = ShowId::from(show);
    let mut work = tokio::task::JoinSet::new();
    for (k, part) in users.chunks(chunk).enumerate() {
        let (part, show) = (part.to_vec(), show.clone());
        work.spawn_blocking(move || {
            let nonces: Vec<u64> = part
                .iter()
                .map(|user| pow::solve(&pow::join_challenge(&show, user), bits))
                .collect();
            (k, nonces)
        });
    }
    let mut parts = BTreeMap::new();
    while let Some(done) = work.join_next().await {
        let (k, nonces) = done?;
        parts.insert(k, nonces);
    }
    Ok(parts.into_values().flatten().collect())
}

/// Prints a queue report for people.
pub fn print(r: &QueueReport) {
    println!(
        "queue: {} buyers and {} bots for {} seats, let in at {}/s (accounts and sessions: {:.1} s)",
        r.buyers, r.bots, r.seats, r.admit_per_s, r.setup_s
    );
    println!(
        "proof of work: {} bits a join, {:.1} s for all accounts on every core",
        r.join_pow_bits, r.pow_solve_s
    );
    println!(
        "joins: {:.0}/s; admissions: {} ({:.4} in queue order); sold out after {:.2} s",
        r.joins_per_s, r.admissions, r.fairness, r.sold_out_after_s
    );
    for (what, l) in [
        ("let in to held", &r.admission_latency),
        ("let in to paid", &r.paid_latency),
        ("let in to told so", &r.notice_latency),
    ] {
        println!(
            "{what}, ms: p50 {:.1} p90 {:.1} p99 {:.1} max {:.1}",
            l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
        );
    }
    println!(
        "tickets sold: {} ({} sold twice, {} more booked unacknowledged); buyers served {}, closed out {}; the room {}",
        r.tickets_sold,
        r.sold_twice,
        r.unacknowledged,
        r.buyers_served,
        r.buyers_closed_out,
        if r.drained { "drained" } else { "NOT drained" }
    );
    println!(
        "places lost: {}, reordered: {}",
        r.places_lost, r.places_reordered
    );
    println!(
        "bots: {} tickets; {} tries to skip the room refused, {} allowed",
        r.bot_tickets, r.skips_refused, r.skips_allowed
    );
    for (what, n) in &r.errors {
        println!("  {what}: {n}");
    }
}

/// Whether the run kept the on-sale's promises.
pub fn check(r: &QueueReport) -> anyhow::Result<()> {
    anyhow::ensure!(r.sold_twice == 0, "{} seats sold twice", r.sold_twice);
    anyhow::ensure!(
        r.skips_allowed == 0,
        "{} bots bought past the room",
        r.skips_allowed
    );
    anyhow::ensure!(r.sold_out, "the performance did not sell out");
    anyhow::ensure!(r.places_lost == 0, "{} places lost", r.places_lost);
    anyhow::ensure!(
        r.places_reordered == 0,
        "{} places reordered",
        r.places_reordered
    );
    anyhow::ensure!(r.drained, "the room did not drain");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::fairness;

    #[test]
    fn fairness_is_the_share_admitted_in_queue_order() {
        assert_eq!(fairness(&[(1, 10), (2, 10), (3, 20)]), 1.0);
        // Place 3 let in before place 2: place 2 was passed over.
        assert_eq!(fairness(&[(1, 10), (2, 30), (3, 20)]), 2.0 / 3.0);
    }
}
