//! The `boxoffice` client as people and scripts use it, against a real
//! multi-process cluster with a payment service: the interactive shell
//! driven through a pseudo-terminal (including bad input at the prompts
//! and the death of the node it talks to), and the scriptable commands'
//! JSON, exit codes and saved session.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use boxoffice_node::config::{PaymentSettings, RaftTuning};
use common::{Chatbot, Cluster, FAR_FUTURE_MS};
use expectrl::{Eof, Expect, Session};
use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";
const BACKSPACE: &str = "\x7f";

/// A paid 3-node cluster with one 30-seat show, `gala`, at 25.00.
async fn cluster_with_show() -> Cluster {
    let cluster =
        Cluster::start_paid(3, RaftTuning::default(), PaymentSettings::default(), None).await;
    cluster
        .client("admin")
        .await
        .create_show("gala", "Gala night", 30, 2_500, FAR_FUTURE_MS)
        .await
        .expect("create show");
    cluster
}

/// `boxoffice` with this cluster's addresses and its own config directory.
fn command(cluster: &Cluster, config_dir: &Path) -> Command {
    cluster.cli(&[], config_dir)
}

/// Runs a scriptable command to completion (off the async workers).
fn run(cluster: &Cluster, config_dir: &Path, args: &[&str]) -> Output {
    let mut command = command(cluster, config_dir);
    command.args(args);
    tokio::task::block_in_place(|| command.output()).expect("run boxoffice")
}

/// Standard output as JSON; the command must have succeeded.
fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Registers `email` with the test password and logs in, through `user`
/// (a command runner with its own config directory).
fn sign_up(user: &impl Fn(&[&str]) -> Output, email: &str) {
    json(&user(&[
        "register",
        email,
        "--password",
        PASSWORD,
        "--json",
    ]));
    json(&user(&["login", email, "--password", PASSWORD, "--json"]));
}

/// Logs the cluster's administrator in through `admin` (a command runner
/// with its own config directory).
fn log_in_admin(admin: &impl Fn(&[&str]) -> Output) {
    json(&admin(&[
        "login",
        common::ADMIN_EMAIL,
        "--password",
        common::ADMIN_PASSWORD,
        "--json",
    ]));
}

/// Asserts `value` has every field in `fields`.
fn has_fields(value: &Value, fields: &[&str]) {
    for field in fields {
        assert!(value.get(field).is_some(), "{field} missing from {value}");
    }
}

/// Everything the shell printed, kept for a failing test's report.
type Transcript = std::fs::File;

/// The shell's session: expect and send, with a generous timeout.
struct Shell {
    session: Session<
        expectrl::session::OsProcess,
        expectrl::stream::log::LogStream<expectrl::session::OsStream, Transcript>,
    >,
    transcript: std::path::PathBuf,
}

impl Shell {
    fn start(cluster: &Cluster, config_dir: &Path, chatbot: &Chatbot) -> Self {
        let mut command = command(cluster, config_dir);
        command
            .arg("shell")
            .env("BOXOFFICE_CHATBOT_ENDPOINT", &chatbot.addr);
        let session = Session::spawn(command).expect("spawn the shell");
        let transcript = config_dir.join("transcript.log");
        let log = std::fs::File::create(&transcript).expect("transcript");
        let mut session = expectrl::session::log(session, log).expect("log the shell");
        session.set_expect_timeout(Some(Duration::from_secs(30)));
        Self {
            session,
            transcript,
        }
    }

    /// Waits for `text`; panics with the end of the transcript otherwise.
    fn expect(&mut self, text: &str) {
        if let Err(e) = tokio::task::block_in_place(|| self.session.expect(text)) {
            let seen = std::fs::read(&self.transcript).unwrap_or_default();
            let seen = String::from_utf8_lossy(&seen);
            let tail: String = seen
                .chars()
                .rev()
                .take(3_000)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            panic!("waiting for {text:?}: {e}\n--- the shell's last output ---\n{tail}");
        }
    }

    /// Waits for `pattern` and returns its first group.
    fn capture(&mut self, pattern: &str) -> String {
        let found = tokio::task::block_in_place(|| self.session.expect(expectrl::Regex(pattern)))
            .unwrap_or_else(|e| panic!("waiting for {pattern:?}: {e}"));
        let group = found.get(1).expect("a group");
        String::from_utf8_lossy(group).into_owned()
    }

    fn send(&mut self, keys: &str) {
        self.session.send(keys).expect("send keys");
    }

    /// Types `text` and Enter.
    fn enter(&mut self, text: &str) {
        self.send(text);
        self.send("\r");
    }

    /// Picks a menu entry by typing it.
    fn choose(&mut self, entry: &str) {
        self.expect("What would you like to do?");
        self.enter(entry);
    }

    /// Types a bad answer, expects the hint, and erases the answer.
    fn refused(&mut self, answer: &str, hint: &str) {
        self.enter(answer);
        self.expect(hint);
        self.send(&BACKSPACE.repeat(answer.chars().count()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_shell_books_cancels_and_survives_its_node_dying() {
    let cluster = cluster_with_show().await;
    let config = tempfile::TempDir::new().expect("config dir");
    let chatbot = Chatbot::start(&cluster).await;
    let mut shell = Shell::start(&cluster, config.path(), &chatbot);

    shell.choose("Register");
    shell.expect("Email:");
    shell.refused("ann", "an email address");
    shell.enter("ann@example.com");
    shell.expect("Password:");
    shell.enter(PASSWORD);
    shell.expect("Password again:");
    shell.enter(PASSWORD);
    shell.expect("account ann@example.com created");

    shell.choose("Log in");
    shell.expect("Email:");
    shell.enter("ann@example.com");
    shell.expect("Password:");
    shell.enter(PASSWORD);
    shell.expect("logged in as ann@example.com");
    let saved = config.path().join("session.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&saved)
            .expect("session saved")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    shell.choose("List shows");
    shell.expect("Gala night");

    shell.choose("Show details and seat map");
    shell.expect("Which show?");
    shell.enter("gala");
    shell.expect("legend:");
    shell.expect("Seats to book:");
    shell.refused("abc", "not a seat number");
    shell.refused("0", "numbered from 1");
    shell.refused("29-31", "does not exist");
    shell.enter("5-6");
    shell.expect("2 × 25.00 = 50.00");
    shell.expect("How do you want to pay?");
    shell.enter("Pay now");
    shell.expect("Card number");
    shell.refused("", "enter the card number");
    shell.refused("4242424242424241", "not valid");
    shell.enter("4242424242424242");
    shell.expect("Expiry");
    shell.refused("13/30", "not an expiry");
    shell.enter("12/99");
    shell.expect("CVC");
    shell.refused("12", "3 or 4 digits");
    shell.enter("123");
    shell.expect("booked and paid: booking");

    shell.choose("My bookings");
    shell.expect("confirmed");

    // The seat map now shows the seats as the user's own.
    shell.choose("Show details and seat map");
    shell.expect("Which show?");
    shell.enter("gala");
    shell.expect("5*");
    shell.send("\x1b"); // Esc: back to the menu

    shell.choose("Cancel a booking");
    shell.expect("Which booking?");
    shell.enter("");
    shell.expect("refunded in full");
    shell.enter("y");
    shell.expect("cancelled");

    // The assistant answers from the cluster, and its suggestion leads
    // straight into the checkout.
    shell.choose("Ask the assistant");
    shell.expect("You:");
    shell.enter("are there two seats together for the gala night?");
    shell.expect("Seats 1-2 of Gala night are free next to each other");
    shell.expect("Next:");
    shell.enter("Hold seats 1-2");
    shell.expect("How do you want to pay?");
    shell.send("\x1b"); // Esc: no payment
    shell.expect("You:");
    shell.send("\x1b"); // Esc: back to the menu

    // The node the shell talks to dies while the menu is up: the next
    // action goes through another node, and a one-line notice says so.
    let answering = shell.capture(r"answered by (\S+) ");
    shell.expect("What would you like to do?");
    let (&id, _) = cluster
        .addrs
        .iter()
        .find(|(_, addr)| **addr == answering)
        .expect("the answering node is one of the cluster's");
    cluster.kill(id);
    shell.enter("List shows");
    shell.expect("Gala night");
    shell.expect(&format!("{answering} stopped answering"));

    shell.choose("Log out");
    shell.expect("logged out");
    assert!(!saved.exists(), "the saved session is removed");
    shell.choose("Quit");
    tokio::task::block_in_place(|| shell.session.expect(Eof)).expect("the shell exits");
}

/// The shell sells a performance of the example theatre as a box office
/// does: seats by label (checked against the plan at the prompt), a ticket
/// type for each at its price, and the order as the cluster priced it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_shell_books_a_performance_by_label_with_ticket_types() {
    let cluster = cluster_with_show().await;
    let admin = cluster.client("admin").await;
    common::hamlet_at_the_theatre(&admin, "hamlet-fri", 3_000, 2_000).await;
    let config = tempfile::TempDir::new().expect("config dir");
    json(&run(
        &cluster,
        config.path(),
        &[
            "register",
            "bea@example.com",
            "--password",
            PASSWORD,
            "--json",
        ],
    ));
    json(&run(
        &cluster,
        config.path(),
        &["login", "bea@example.com", "--password", PASSWORD, "--json"],
    ));
    let chatbot = Chatbot::start(&cluster).await;
    let mut shell = Shell::start(&cluster, config.path(), &chatbot);

    shell.choose("Book seats");
    shell.expect("Which show?");
    shell.enter("hamlet-fri");
    shell.expect("Seats to book:");
    shell.refused("Stalls ZZ-1", "no seat Stalls ZZ-1");
    shell.refused("Stalls A-1,Stalls A-1", "twice");
    shell.enter("Stalls A-1, Stalls A-2");
    shell.expect("Ticket for Stalls A-1 (Standard):");
    shell.enter("adult");
    shell.expect("Ticket for Stalls A-2 (Standard):");
    shell.enter("concession");
    shell.expect("2 ticket(s) of Hamlet: 50.00");
    shell.expect("How do you want to pay?");
    shell.enter("Pay now");
    shell.expect("Card number");
    shell.enter("4242424242424242");
    shell.expect("Expiry");
    shell.enter("12/99");
    shell.expect("CVC");
    shell.enter("123");
    shell.expect("booked and paid: booking");

    // As the cluster priced and recorded it.
    let bookings = json(&run(
        &cluster,
        config.path(),
        &["bookings", "list", "--json"],
    ));
    let bookings = bookings.as_array().expect("a list");
    assert_eq!(bookings.len(), 1, "{bookings:?}");
    assert_eq!(bookings[0]["total_cents"], 5_000);
    assert_eq!(bookings[0]["status"], "confirmed");

    // A seat sold is refused at the prompt.
    shell.choose("Book seats");
    shell.expect("Which show?");
    shell.enter("hamlet-fri");
    shell.expect("Seats to book:");
    shell.refused("Stalls A-2", "not free");
    shell.send("\x1b"); // Esc: back to the menu
    shell.choose("Quit");
    tokio::task::block_in_place(|| shell.session.expect(Eof)).expect("the shell exits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scriptable_commands_print_json_and_exit_with_meaningful_codes() {
    let cluster = cluster_with_show().await;
    let admin_dir = tempfile::TempDir::new().expect("config dir");
    let dir = tempfile::TempDir::new().expect("config dir");
    let admin = |args: &[&str]| run(&cluster, admin_dir.path(), args);
    let user = |args: &[&str]| run(&cluster, dir.path(), args);

    // Administrator: log in, create a show, list users.
    let admin_password = common::ADMIN_PASSWORD;
    let logged = json(&admin(&[
        "login",
        common::ADMIN_EMAIL,
        "--password",
        admin_password,
        "--json",
    ]));
    assert_eq!(logged["admin"], true);
    let show = json(&admin(&[
        "admin",
        "shows",
        "create",
        "late",
        "--title",
        "Late show",
        "--seats",
        "12",
        "--price-cents",
        "900",
        "--starts-at",
        "2099-01-01 20:00",
        "--json",
    ]));
    has_fields(
        &show,
        &[
            "show_id",
            "title",
            "seat_count",
            "price_cents",
            "starts_at_ms",
            "available",
            "held",
            "booked",
        ],
    );
    assert_eq!(show["starts_at_ms"], 4_070_980_800_000_i64);

    // A customer: register, log in, book with a card, see it, cancel it.
    json(&user(&[
        "register",
        "cal@example.com",
        "--password",
        PASSWORD,
        "--json",
    ]));
    let refused = user(&["bookings", "list", "--json"]);
    assert_eq!(refused.status.code(), Some(5), "not logged in yet");
    let error: Value = serde_json::from_slice(&refused.stderr).expect("a JSON error");
    assert_eq!(error["error"]["code"], "UNAUTHENTICATED");
    assert!(refused.stdout.is_empty());
    json(&user(&[
        "login",
        "cal@example.com",
        "--password",
        PASSWORD,
        "--json",
    ]));
    let card = [
        "--card",
        "4242424242424242",
        "--exp",
        "12/99",
        "--cvc",
        "123",
    ];
    let mut book = vec!["book", "late", "3-4", "--json"];
    book.extend(card);
    let booking = json(&user(&book));
    has_fields(
        &booking,
        &[
            "booking_id",
            "show_id",
            "seat_nos",
            "total_cents",
            "status",
            "created_at_ms",
            "hold_expires_at_ms",
            "updated_at_ms",
            "payment_status",
            "order_id",
            "transaction_id",
        ],
    );
    assert_eq!(booking["status"], "confirmed");
    assert_eq!(booking["payment_status"], "charged");
    assert_eq!(booking["total_cents"], 1_800);
    // The same seat again: refused by the state, exit code 4, on stderr.
    let mut again = vec!["book", "late", "3"];
    again.extend(card);
    let taken = user(&again);
    assert_eq!(taken.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&taken.stderr).contains("already booked"));
    assert!(taken.stdout.is_empty());
    // Bad input: exit code 2; unknown show: 3.
    assert_eq!(user(&["book", "late", "0"]).status.code(), Some(2));
    assert_eq!(
        user(&["shows", "show", "nope", "--json"]).status.code(),
        Some(3)
    );

    let map = json(&user(&["shows", "show", "late", "--json"]));
    has_fields(&map, &["show", "seats", "mine"]);
    assert_eq!(map["mine"], serde_json::json!([3, 4]));
    assert_eq!(map["seats"][2]["state"], "booked");
    let list = json(&user(&["bookings", "list", "--json"]));
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let id = booking["booking_id"].as_str().expect("id");
    let cancelled = json(&user(&["bookings", "cancel", id, "--json"]));
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["payment_status"], "refunded");

    // Piped output is plain tab-separated text.
    let plain = user(&["shows", "list"]);
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(text.starts_with("show\ttitle\t"), "{text}");
    assert!(!text.contains('\x1b'), "no colours when piped");

    let shows = json(&user(&["shows", "list", "--json"]));
    assert_eq!(shows.as_array().map(Vec::len), Some(2));
    let status = json(&user(&["cluster", "status", "--json"]));
    has_fields(&status, &["leader_id", "term", "answered_by", "nodes"]);
    has_fields(
        &status["nodes"][0],
        &["node_id", "addr", "role", "term", "applied_index"],
    );
    let users = admin(&["admin", "users", "list", "--json"]);
    assert_eq!(json(&users).as_array().map(Vec::len), Some(2));
    assert_eq!(
        user(&["admin", "users", "list"]).status.code(),
        Some(5),
        "customers may not"
    );

    let out = json(&user(&["logout", "--json"]));
    assert_eq!(out["logged_out"], true);
    assert!(!dir.path().join("session.json").exists());
    assert_eq!(user(&["logout"]).status.code(), Some(5), "not logged in");

    // A damaged saved session does not lock anyone out: it is ignored with
    // a warning, and logging in replaces it.
    std::fs::write(dir.path().join("session.json"), "{damaged").expect("damage");
    let listed = user(&["shows", "list", "--json"]);
    assert!(listed.status.success());
    assert!(String::from_utf8_lossy(&listed.stderr).contains("ignoring the saved session"));
    json(&user(&[
        "login",
        "cal@example.com",
        "--password",
        PASSWORD,
        "--json",
    ]));
    assert_eq!(
        json(&user(&["bookings", "list", "--json"]))
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // A closed output pipe ends the command quietly, without a panic.
    let mut piped = command(&cluster, dir.path());
    piped
        .args(["shows", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = piped.spawn().expect("spawn");
    drop(child.stdout.take());
    let output = tokio::task::block_in_place(|| child.wait_with_output()).expect("wait");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("panicked"),
        "{output:?}"
    );
}

/// `boxoffice bench` against a real paid cluster: `fill` books every seat
/// of its shows exactly once, through the whole checkout, and says so in
/// its JSON; bad options are refused before anything is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bench_fill_books_every_seat_once() {
    let cluster =
        Cluster::start_paid(3, RaftTuning::default(), PaymentSettings::default(), None).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "bench",
            "--admin-email",
            common::ADMIN_EMAIL,
            "--admin-password",
            common::ADMIN_PASSWORD,
            "--json",
        ];
        args.extend_from_slice(extra);
        run(&cluster, dir.path(), &args)
    };
    for bad in [
        &["--workload", "fill", "--shows", "0"][..],
        &["--workload", "fill", "--seats", "0"],
        &["--workload", "fill", "--seats", "100001"],
    ] {
        let refused = bench(bad);
        assert!(!refused.status.success(), "{bad:?} was accepted");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("must be 1 to"),
            "{bad:?}: {}",
            String::from_utf8_lossy(&refused.stderr)
        );
    }
    let refused = bench(&["--workload", "fill", "--stale-reads"]);
    assert!(
        !refused.status.success(),
        "--stale-reads with fill was accepted"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--stale-reads applies to mixed"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let admin = cluster.client("admin").await;
    assert!(admin.list_shows(false).await.expect("shows").is_empty());

    let report = json(&bench(&[
        "--workload",
        "fill",
        "--shows",
        "3",
        "--seats",
        "7",
        "--clients",
        "4",
        "--seconds",
        "120",
    ]));
    assert_eq!(report["workload"], "fill");
    assert_eq!(report["bookings"], 21, "{report}");
    assert_eq!(report["booked_in_show"], 21, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    let shows = admin.list_shows(false).await.expect("shows");
    assert_eq!(shows.len(), 3);
    assert!(
        shows.iter().all(|s| s.booked == 7 && s.available == 0),
        "{shows:?}"
    );
    let bookings = admin.list_bookings(false).await.expect("bookings");
    assert_eq!(bookings.len(), 21);
    assert!(
        bookings
            .iter()
            .all(|b| b.status == boxoffice_client::proto::BookingStatus::Confirmed as i32),
        "{bookings:?}"
    );
}

/// Issue 22 from the command line, as a box office and a buyer use it:
/// a venue imported from its file (a bad file imports nothing), a
/// production and a short run priced from a pricing file, two seats
/// booked by label with two ticket types, seats held back and released,
/// one ticket returned, and the sales report as CSV.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn venues_runs_typed_tickets_returns_and_sales_from_the_command_line() {
    let cluster =
        Cluster::start_paid(3, RaftTuning::default(), PaymentSettings::default(), None).await;
    // Wait until the first administrator is in the replicated state (the
    // helper retries its login while the cluster settles).
    cluster.token("admin").await;
    let admin_dir = tempfile::TempDir::new().expect("config dir");
    let dir = tempfile::TempDir::new().expect("config dir");
    let admin = |args: &[&str]| run(&cluster, admin_dir.path(), args);
    let user = |args: &[&str]| run(&cluster, dir.path(), args);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/venues");
    let theatre = examples.join("theatre.toml");
    let theatre = theatre.to_str().expect("a UTF-8 path");
    let pricing = examples.join("theatre-pricing.toml");
    let pricing = pricing.to_str().expect("a UTF-8 path");
    json(&admin(&[
        "login",
        common::ADMIN_EMAIL,
        "--password",
        common::ADMIN_PASSWORD,
        "--json",
    ]));

    // A file with a mistake is refused with its line, and imports nothing.
    let checked = json(&admin(&["admin", "venues", "check", theatre, "--json"]));
    assert_eq!(
        (checked["seats"].as_u64(), checked["standing"].as_u64()),
        (Some(600), Some(0))
    );
    let bad = admin_dir.path().join("bad.toml");
    let text = std::fs::read_to_string(theatre).expect("theatre.toml");
    std::fs::write(
        &bad,
        text.replacen("seats = \"1-20\"", "seats = \"20-1\"", 1),
    )
    .expect("write");
    let refused = admin(&[
        "admin",
        "venues",
        "import",
        bad.to_str().unwrap(),
        "--id",
        "bad",
    ]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("bad.toml") && why.contains("line "), "{why}");
    assert_eq!(
        json(&admin(&["admin", "venues", "list", "--json"])),
        serde_json::json!([])
    );

    let venue = json(&admin(&[
        "admin",
        "venues",
        "import",
        theatre,
        "--id",
        "royal-court",
        "--json",
    ]));
    assert_eq!(venue["venue_id"], "royal-court");
    assert_eq!(venue["seats"], 600);
    let shown = json(&admin(&[
        "admin",
        "venues",
        "show",
        "royal-court",
        "--json",
    ]));
    assert_eq!(shown["sections"][0]["name"], "Stalls");
    json(&admin(&[
        "admin",
        "productions",
        "create",
        "hamlet",
        "--title",
        "Hamlet",
        "--running-minutes",
        "180",
        "--json",
    ]));
    let add = |pricing: &str, extra: &[&str]| {
        let mut args = vec![
            "admin",
            "performances",
            "add",
            "hamlet",
            "--venue",
            "royal-court",
            "--pricing",
            pricing,
            "--from",
            "2099-01-02",
            "--until",
            "2099-01-03",
            "--slots",
            "mon-sun 19:30",
            "--json",
        ];
        args.extend(extra);
        admin(&args)
    };
    // A dry run, prices for another venue, and bad slots add nothing.
    let planned = json(&add(pricing, &["--dry-run"]));
    assert_eq!(planned.as_array().map(Vec::len), Some(2));
    let club_pricing = examples.join("club-pricing.toml");
    let wrong = add(club_pricing.to_str().expect("a UTF-8 path"), &[]);
    assert_eq!(wrong.status.code(), Some(2), "{wrong:?}");
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("club-pricing.toml"));
    let bad_slots = admin(&[
        "admin",
        "performances",
        "add",
        "hamlet",
        "--venue",
        "royal-court",
        "--pricing",
        pricing,
        "--from",
        "2099-01-02",
        "--until",
        "2099-01-03",
        "--slots",
        "someday 19:30",
    ]);
    assert_eq!(bad_slots.status.code(), Some(2), "{bad_slots:?}");
    assert!(String::from_utf8_lossy(&bad_slots.stderr).contains("--slots"));
    let productions = json(&admin(&["admin", "productions", "list", "--json"]));
    assert_eq!(productions[0]["performances"], 0);
    let run_of = json(&add(pricing, &[]));
    let ids: Vec<&str> = run_of
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|s| s["show_id"].as_str())
        .collect();
    assert_eq!(ids, ["hamlet-2099-01-02-1930", "hamlet-2099-01-03-1930"]);
    let show = ids[0];
    let productions = json(&admin(&["admin", "productions", "list", "--json"]));
    assert_eq!(productions[0]["performances"], 2);

    // A buyer books two seats by label, an adult and a concession.
    sign_up(&user, "dee@example.com");
    let listed = json(&user(&["shows", "list", "--json"]));
    assert_eq!(
        listed[0]["show_id"], show,
        "performances first, by production"
    );
    assert_eq!(listed[0]["venue_id"], "royal-court");
    assert_eq!(listed[0]["price_cents"], 2_500, "the cheapest adult ticket");
    let card = [
        "--card",
        "4242424242424242",
        "--exp",
        "12/99",
        "--cvc",
        "123",
    ];
    let book = |places: &str, extra: &[&str]| {
        let mut args = vec!["book", show, places];
        args.extend(extra);
        args.extend(card);
        user(&args)
    };
    // Bad input changes nothing: an unknown seat, an unknown type, too
    // few types; a held-back seat is refused.
    for (bad, extra) in [
        ("K-99", &[][..]),
        ("K-12", &["--type", "vip"][..]),
        ("K-12,K-13", &["--types", "adult"][..]),
    ] {
        let out = book(bad, extra);
        assert_eq!(out.status.code(), Some(2), "{bad} {extra:?}: {out:?}");
    }
    let held = json(&admin(&[
        "admin",
        "performances",
        "hold-back",
        show,
        "Stalls A-1,Stalls A-2",
        "--reason",
        "press",
        "--json",
    ]));
    assert_eq!(held[0]["show_id"], show);
    assert_eq!(book("Stalls A-1", &[]).status.code(), Some(4), "held back");
    json(&admin(&[
        "admin",
        "performances",
        "release",
        show,
        "Stalls A-2",
        "--json",
    ]));
    // (The replies' counts come from the answering node's replica, so the
    // seats are read back instead.)
    let map = json(&user(&["shows", "show", show, "--json"]));
    let seat = |i: usize| {
        let s = &map["seats"][i];
        (
            s["label"].as_str().unwrap_or(""),
            s["category"].as_str().unwrap_or(""),
            s["state"].as_str().unwrap_or(""),
        )
    };
    assert_eq!(seat(0), ("Stalls A-1", "A", "held_back"));
    assert_eq!(seat(1), ("Stalls A-2", "A", "available"));

    let order = json(&book(
        "K-12,K-13",
        &["--types", "adult,concession", "--json"],
    ));
    assert_eq!(order["status"], "confirmed");
    let tickets: Vec<(&str, &str, i64)> = order["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| {
            (
                t["label"].as_str().unwrap_or(""),
                t["ticket_type"].as_str().unwrap_or(""),
                t["price_cents"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        tickets,
        [
            ("Stalls K-12", "adult", 5_500),
            ("Stalls K-13", "concession", 4_400)
        ]
    );
    assert_eq!(order["total_cents"], 9_900);

    // The seat map, piped: rows by label, the buyer's seats marked.
    let map = user(&["shows", "show", show]);
    assert!(map.status.success(), "{map:?}");
    let map = String::from_utf8_lossy(&map.stdout);
    let row_k = map
        .lines()
        .find(|l| l.trim_start().starts_with("K "))
        .unwrap_or_else(|| panic!("no row K in\n{map}"));
    assert!(
        row_k.contains("[A]") && row_k.contains("12*") && row_k.contains("13*"),
        "{row_k}"
    );
    let row_a = map
        .lines()
        .find(|l| l.trim_start().starts_with("A "))
        .expect("row A");
    assert!(row_a.contains(" 1#") && !row_a.contains(" 2#"), "{row_a}");

    // One ticket goes back: a refund of its price; then the report.
    let booking = order["booking_id"].as_str().expect("booking id");
    assert_eq!(user(&["return", booking, "K-14"]).status.code(), Some(2));
    let returned = json(&user(&["return", booking, "K-13", "--json"]));
    assert_eq!(returned["refund_cents"], 4_400);
    assert_eq!(returned["kept"]["tickets"][0]["label"], "Stalls K-12");
    let csv = admin(&["admin", "report", "sales", show, "--csv"]);
    assert!(csv.status.success(), "{csv:?}");
    assert_eq!(
        String::from_utf8_lossy(&csv.stdout),
        "category,ticket_type,sold,revenue,refunded,refunds\r\n\
         A,adult,1,55.00,0,0.00\r\n\
         A,concession,0,0.00,1,44.00\r\n\
         total,,1,55.00,1,44.00\r\n"
    );
    let run_report = json(&admin(&[
        "admin",
        "report",
        "sales",
        "--production",
        "hamlet",
        "--json",
    ]));
    let sold: Vec<(&str, u64)> = run_report
        .as_array()
        .expect("one report per performance")
        .iter()
        .map(|r| {
            (
                r["show_id"].as_str().unwrap_or(""),
                r["sold"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    assert_eq!(sold, [(ids[0], 1), (ids[1], 0)]);
    assert_eq!(
        user(&["admin", "report", "sales", show]).status.code(),
        Some(5),
        "customers may not"
    );

    // The shell draws the same map, with the prices of each category,
    // and asks for seats by label (the buying itself is tested above).
    let chatbot = Chatbot::start(&cluster).await;
    let mut shell = Shell::start(&cluster, dir.path(), &chatbot);
    shell.choose("Show details and seat map");
    shell.expect("Which show?");
    shell.enter(show);
    shell.expect("Stalls");
    shell.expect("[A]: adult 55.00");
    shell.expect("Seats to book:");
    shell.send("\x1b"); // Esc: back to the menu
    shell.choose("Quit");
    tokio::task::block_in_place(|| shell.session.expect(Eof)).expect("the shell exits");

    // A sale that opens at a set time sells through a waiting room, on by
    // default; a rate of 0 is refused before anything is added.
    let rush = |extra: &[&str]| {
        let mut args = vec![
            "admin",
            "performances",
            "add",
            "hamlet",
            "--venue",
            "royal-court",
            "--pricing",
            pricing,
            "--from",
            "2099-02-02",
            "--until",
            "2099-02-02",
            "--slots",
            "mon-sun 19:30",
            "--on-sale",
            "2099-01-01 10:00",
        ];
        args.extend(extra);
        admin(&args)
    };
    let refused = rush(&["--waiting-room-rate", "0"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let added = rush(&[]);
    assert!(added.status.success(), "{added:?}");
    assert!(
        String::from_utf8_lossy(&added.stdout).contains("sells through a waiting room"),
        "{added:?}"
    );
    let room = json(&admin(&[
        "queue",
        "status",
        "hamlet-2099-02-02-1930",
        "--json",
    ]));
    assert_eq!(room["phase"], "pre_queue", "{room}");
}

/// Standing places and the best seats together, from the command line,
/// at the club of examples/venues: the only standing area is found by
/// itself, a category narrows the best pick, and a wrong area or
/// category is refused as bad input.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standing_and_best_available_from_the_command_line() {
    let cluster =
        Cluster::start_paid(3, RaftTuning::default(), PaymentSettings::default(), None).await;
    // Wait until the first administrator is in the replicated state (the
    // helper retries its login while the cluster settles).
    cluster.token("admin").await;
    let admin_dir = tempfile::TempDir::new().expect("config dir");
    let dir = tempfile::TempDir::new().expect("config dir");
    let admin = |args: &[&str]| run(&cluster, admin_dir.path(), args);
    let user = |args: &[&str]| run(&cluster, dir.path(), args);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/venues");
    let path = |name: &str| examples.join(name).to_string_lossy().into_owned();
    let (club, pricing) = (path("club.toml"), path("club-pricing.toml"));
    json(&admin(&[
        "login",
        common::ADMIN_EMAIL,
        "--password",
        common::ADMIN_PASSWORD,
        "--json",
    ]));
    json(&admin(&["admin", "venues", "import", &club, "--json"]));
    json(&admin(&[
        "admin",
        "productions",
        "create",
        "gig",
        "--title",
        "Gig",
        "--json",
    ]));
    json(&admin(&[
        "admin",
        "performances",
        "add",
        "gig",
        "--venue",
        "club",
        "--pricing",
        &pricing,
        "--from",
        "2099-01-02",
        "--until",
        "2099-01-02",
        "--slots",
        "fri 22:00",
        "--json",
    ]));
    let show = "gig-2099-01-02-2200";
    sign_up(&user, "eli@example.com");
    let card = [
        "--card",
        "4242424242424242",
        "--exp",
        "12/99",
        "--cvc",
        "123",
    ];
    let book = |extra: &[&str]| {
        let mut args = vec!["book", show];
        args.extend(extra);
        args.extend(card);
        user(&args)
    };
    let tickets = |order: &Value| -> Vec<(String, String, i64)> {
        order["tickets"]
            .as_array()
            .expect("tickets")
            .iter()
            .map(|t| {
                (
                    t["label"].as_str().unwrap_or("").to_owned(),
                    t["ticket_type"].as_str().unwrap_or("").to_owned(),
                    t["price_cents"].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    };

    for bad in [
        &["--standing", "2", "--area", "Roof"][..],
        &["--best", "2", "--category", "Stalls"][..],
    ] {
        let out = book(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {out:?}");
    }
    let standing = json(&book(&[
        "--standing",
        "2",
        "--type",
        "concession",
        "--json",
    ]));
    let got = tickets(&standing);
    assert_eq!(got.len(), 2, "{standing}");
    for (label, ticket_type, cents) in &got {
        assert!(label.starts_with("Floor"), "{label}");
        assert_eq!((ticket_type.as_str(), *cents), ("concession", 2_500));
    }
    let best = json(&book(&["--best", "2", "--category", "Balcony", "--json"]));
    let got = tickets(&best);
    assert_eq!(got.len(), 2, "{best}");
    for (label, ticket_type, cents) in &got {
        assert!(label.starts_with("Balcony "), "{label}");
        assert_eq!((ticket_type.as_str(), *cents), ("adult", 4_000));
    }
    // Returning without naming tickets returns them all.
    let id = standing["booking_id"].as_str().expect("booking id");
    let returned = json(&user(&["return", id, "--json"]));
    assert_eq!(returned["refund_cents"], 5_000);
    assert_eq!(returned["kept"], Value::Null);
    assert_eq!(returned["returned"]["status"], "cancelled");
    let report = json(&admin(&["admin", "report", "sales", show, "--json"]));
    assert_eq!(
        (&report["sold"], &report["revenue_cents"]),
        (&serde_json::json!(2), &serde_json::json!(8_000))
    );
    assert_eq!(
        (&report["refunded"], &report["refunded_cents"]),
        (&serde_json::json!(2), &serde_json::json!(5_000))
    );
}

/// Tickets and the door from the command line: a buyer lists their
/// tickets, shows one as a QR code in the terminal and writes it as PNG
/// and SVG; the door reads codes from standard input as a scanner types
/// them: admitted once, already in the second time, a forged code refused;
/// a customer may not scan, and a bad ticket id is refused before any call.
#[tokio::test(flavor = "multi_thread")]
async fn tickets_and_the_door_from_the_command_line() {
    let cluster = cluster_with_show().await;
    let admin_dir = tempfile::TempDir::new().expect("config dir");
    let dir = tempfile::TempDir::new().expect("config dir");
    let admin = |args: &[&str]| run(&cluster, admin_dir.path(), args);
    let user = |args: &[&str]| run(&cluster, dir.path(), args);
    log_in_admin(&admin);
    sign_up(&user, "dee@example.com");
    let booking = json(&user(&[
        "book",
        "gala",
        "5-6",
        "--card",
        "4242424242424242",
        "--exp",
        "12/99",
        "--cvc",
        "123",
        "--json",
    ]));
    let booking_id = booking["booking_id"]
        .as_str()
        .expect("booking id")
        .to_owned();

    let tickets = json(&user(&["tickets", "list", "--json"]));
    let tickets = tickets.as_array().expect("an array");
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    has_fields(
        &tickets[0],
        &[
            "ticket_id",
            "booking_id",
            "show_id",
            "label",
            "ticket_type",
            "version",
            "code",
            "admitted_at_ms",
            "gate",
        ],
    );
    let id = tickets[0]["ticket_id"].as_str().unwrap().to_owned();
    let code = tickets[0]["code"].as_str().unwrap().to_owned();
    assert_eq!(id, format!("{booking_id}-5"));

    // In the terminal: the code drawn with block characters, and its text.
    let shown = user(&["tickets", "show", &id]);
    assert!(shown.status.success(), "{shown:?}");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains(&code), "{text}");
    assert!(
        text.contains('█') || text.contains('▀'),
        "no QR code drawn:\n{text}"
    );
    let png = dir.path().join("ticket.png");
    let svg = dir.path().join("ticket.svg");
    let written = user(&[
        "tickets",
        "show",
        &id,
        "--png",
        png.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert!(written.status.success(), "{written:?}");
    assert!(
        std::fs::read(&png)
            .unwrap()
            .starts_with(b"\x89PNG\r\n\x1a\n")
    );
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    assert_eq!(user(&["tickets", "show", "five"]).status.code(), Some(2));
    assert_eq!(user(&["tickets", "show", "999-1"]).status.code(), Some(3));

    // The door: codes on standard input, one a line, blank lines skipped.
    let mut door = command(&cluster, admin_dir.path());
    door.args([
        "checkin",
        "--performance",
        "gala",
        "--gate",
        "north",
        "--json",
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let output = tokio::task::block_in_place(|| {
        let mut child = door.spawn().expect("run boxoffice");
        let mut stdin = child.stdin.take().expect("stdin");
        use std::io::Write as _;
        writeln!(stdin, "{code}\n\n{code}\nBT1.forged").unwrap();
        drop(stdin);
        child.wait_with_output().expect("checkin ends")
    });
    assert!(output.status.success(), "{output:?}");
    let scans: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let results: Vec<&str> = scans
        .iter()
        .map(|s| s["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["admitted", "already_in", "forged"], "{scans:?}");
    assert_eq!(scans[1]["gate"], "north");

    // Customers do not scan.
    let refused = user(&["checkin", "--performance", "gala", &code]);
    assert_eq!(refused.status.code(), Some(5), "{refused:?}");
    let listed = json(&user(&[
        "tickets",
        "list",
        "--booking",
        &booking_id,
        "--json",
    ]));
    assert_eq!(listed[0]["gate"], "north");

    // Appointed door staff of the show (its own production), they do.
    let granted = json(&admin(&[
        "admin",
        "door-staff",
        "grant",
        "dee@example.com",
        "--production",
        "gala",
        "--json",
    ]));
    assert_eq!(granted["granted"], true);
    let second = tickets[1]["code"].as_str().unwrap();
    let scan = json(&user(&[
        "checkin",
        "--performance",
        "gala",
        "--gate",
        "east",
        "--json",
        second,
    ]));
    assert_eq!(scan["result"], "admitted", "{scan}");
    let neither = admin(&["admin", "door-staff", "grant", "dee@example.com"]);
    assert_eq!(neither.status.code(), Some(2), "{neither:?}");
}

/// The waiting room from the command line: an administrator sets one up
/// (bad rules are refused with the reason), a buyer joins before the
/// opening, is refused a booking, follows `queue status --wait` until the
/// room lets them in once its opening is moved to now, and books.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_waiting_room_from_the_command_line() {
    let cluster = cluster_with_show().await;
    let admin_dir = tempfile::TempDir::new().expect("config dir");
    let dir = tempfile::TempDir::new().expect("config dir");
    let admin = |args: &[&str]| run(&cluster, admin_dir.path(), args);
    let user = |args: &[&str]| run(&cluster, dir.path(), args);
    log_in_admin(&admin);
    sign_up(&user, "quinn@example.com");

    let refused = admin(&["admin", "waiting-room", "set", "gala", "--rate", "0"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("admit_per_s or max_active"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let refused = user(&["admin", "waiting-room", "set", "gala"]);
    assert!(!refused.status.success(), "a buyer set a room up");

    let set = json(&admin(&[
        "admin",
        "waiting-room",
        "set",
        "gala",
        "--opens",
        "2090-01-01 00:00",
        "--rate",
        "20",
        "--json",
    ]));
    assert_eq!(set["phase"], "pre_queue", "{set}");
    let joined = json(&user(&["queue", "join", "gala", "--json"]));
    assert_eq!(joined["status"], "pre_queue", "{joined}");
    let card = [
        "--card",
        "4242424242424242",
        "--exp",
        "12/99",
        "--cvc",
        "123",
    ];
    let book = |seat: &str| {
        let mut args = vec!["book", "gala", seat];
        args.extend_from_slice(&card);
        args.push("--json");
        user(&args)
    };
    let refused = book("7");
    assert!(!refused.status.success(), "booked past the room");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("waiting room"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Moved to now (to the minute, so just past): it opens at once.
    let now = boxoffice_view::time::when(boxoffice_config::clock::now_ms());
    let now = now.trim_end_matches(" UTC");
    json(&admin(&[
        "admin",
        "waiting-room",
        "set",
        "gala",
        "--opens",
        now,
        "--rate",
        "20",
        "--json",
    ]));
    let waited = user(&["queue", "status", "gala", "--wait", "--max-wait", "60"]);
    let text = String::from_utf8_lossy(&waited.stdout);
    assert!(waited.status.success(), "{text}");
    assert!(text.contains("you are let in"), "{text}");
    let booked = json(&book("7"));
    assert_eq!(booked["status"], "confirmed", "{booked}");
    let removed = json(&admin(&[
        "admin",
        "waiting-room",
        "remove",
        "gala",
        "--json",
    ]));
    assert_eq!(removed["removed"], true);
}

/// The waiting list from the command line: a buyer cannot join while
/// seats are free, joins once the house is sold (bad quantities refused
/// with the reason), follows `waitlist status --wait` until a cancelled
/// booking's seat is offered to them, and pays the offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_waiting_list_from_the_command_line() {
    let cluster = cluster_with_show().await;
    let admin_dir = tempfile::TempDir::new().expect("config dir");
    let dir = tempfile::TempDir::new().expect("config dir");
    let admin = |args: &[&str]| run(&cluster, admin_dir.path(), args);
    let user = |args: &[&str]| run(&cluster, dir.path(), args);
    log_in_admin(&admin);
    sign_up(&user, "wanda@example.com");
    let card = [
        "--card",
        "4242 4242 4242 4242",
        "--exp",
        "12/99",
        "--cvc",
        "123",
    ];
    let with_card = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(card.iter().map(|a| (*a).to_owned()));
        all.push("--json".to_owned());
        all
    };

    let refused = user(&["waitlist", "join", "gala"]);
    assert!(!refused.status.success(), "joined with seats free");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("book them instead"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // The box office sells the whole house, in three bookings.
    let mut first = String::new();
    for seats in ["1-10", "11-20", "21-30"] {
        let booked = json(&admin(&strs(&with_card(&["book", "gala", seats]))));
        if first.is_empty() {
            first = booked["booking_id"].as_str().expect("id").to_owned();
        }
    }
    let refused = user(&["waitlist", "join", "gala", "--quantity", "0"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("1 to 10 seats"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let joined = json(&user(&[
        "waitlist",
        "join",
        "gala",
        "--quantity",
        "2",
        "--json",
    ]));
    assert_eq!(joined["status"], "waiting", "{joined}");
    assert_eq!(joined["position"], 1, "{joined}");

    // Following the list while the box office cancels a booking: two of
    // its ten seats are offered to the buyer.
    let (waited, cancelled) = std::thread::scope(|scope| {
        let waited =
            scope.spawn(|| user(&["waitlist", "status", "gala", "--wait", "--max-wait", "60"]));
        let cancelled = admin(&["bookings", "cancel", &first, "--json"]);
        (waited.join().expect("waits"), cancelled)
    });
    json(&cancelled);
    let text = String::from_utf8_lossy(&waited.stdout);
    assert!(waited.status.success(), "{text}");
    assert!(text.contains("seats are held for you"), "{text}");
    let status = json(&user(&["waitlist", "status", "gala", "--json"]));
    assert_eq!(status["status"], "offered", "{status}");
    let offer = status["offer"]["booking_id"]
        .as_str()
        .expect("offer id")
        .to_owned();
    let paid = json(&user(&strs(&with_card(&["pay", &offer]))));
    assert_eq!(paid["status"], "confirmed", "{paid}");
    let after = json(&user(&["waitlist", "status", "gala", "--json"]));
    assert_eq!(after["status"], "outside", "{after}");
}

/// Borrows each argument.
fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
