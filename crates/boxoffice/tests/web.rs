//! The web app end to end in headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over WebDriver): a buyer registers, picks two
//! seats, pays and finds them in their bookings while a second browser
//! watching the same seat map sees them turn held, then booked, without
//! reloading; a declined card shows the decline and frees the seat. The
//! buyer's ticket shows its QR code, is reissued and printed, and the door
//! page admits it once.
//! Screenshots of the pages go to `target/tmp/screenshots/`.
//!
//! Without `chromedriver` on the PATH the test says so and passes, unless
//! `BOXOFFICE_REQUIRE_BROWSER` is set (CI sets it and installs both).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use boxoffice_node::config::{PaymentSettings, RaftTuning};
use common::{ADMIN_EMAIL, ADMIN_PASSWORD, Chatbot, Cluster, FAR_FUTURE_MS, good_card};
use fantoccini::key::Key;
use fantoccini::{Client as Browser, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::json;

const DECLINED: &str = "4000 0000 0000 9995";

/// A chromedriver process; killed when dropped.
struct Driver {
    url: String,
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

impl Driver {
    /// Starts chromedriver on a free port; `None` (after saying why) if it
    /// is not installed and the browser is not required.
    async fn start() -> Option<Self> {
        let Some(driver) = on_path("chromedriver") else {
            assert!(
                std::env::var_os("BOXOFFICE_REQUIRE_BROWSER").is_none(),
                "BOXOFFICE_REQUIRE_BROWSER is set but chromedriver is not on the PATH"
            );
            eprintln!(
                "SKIPPED: no chromedriver on the PATH (apt install chromium chromium-driver)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not listen"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
        })
    }

    /// A new browser (its own profile: no shared session).
    async fn browser(&self) -> Browser {
        let mut options = json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1100,1000",
            ],
        });
        if let Some(chromium) = on_path("chromium") {
            options["binary"] = json!(chromium);
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

/// Waits up to 10 s for the JavaScript expression `condition` to be true.
async fn until(browser: &Browser, what: &str, condition: &str) {
    let script = format!("return Boolean({condition});");
    // Generous: the machine may be running other browsers and builds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if browser.execute(&script, vec![]).await.expect("script runs") == json!(true) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let page = browser
                .execute("return document.body.innerText", vec![])
                .await
                .unwrap_or_default();
            panic!("not within 30 s: {what}\npage text: {page}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The element `css` selects, once the page shows it (a page may still
/// be loading on a busy machine).
async fn shown(browser: &Browser, css: &str) -> fantoccini::elements::Element {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match browser.find(Locator::Css(css)).await {
            Ok(element) => return element,
            Err(e) if e.is_no_such_element() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{css}: {e}"),
        }
    }
}

/// Clicks the element `css` selects, once the page shows it. The seat
/// map is redrawn whenever a live update arrives, so an element found a
/// moment ago may be gone by the click: then the new one is found and
/// clicked, as a person would.
async fn click(browser: &Browser, css: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match shown(browser, css).await.click().await {
            Ok(()) => return,
            Err(e) if e.is_stale_element_reference() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("clicking {css}: {e}"),
        }
    }
}

async fn type_into(browser: &Browser, css: &str, text: &str) {
    let field = shown(browser, css).await;
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

/// Pays on the checkout page with the card it offers, and waits for
/// the confirmed booking in My bookings.
async fn pay_and_see_it_confirmed(browser: &Browser) {
    click(browser, "form.card button[type=submit]").await;
    until(browser, "my bookings", "location.hash === '#/bookings'").await;
    until(
        browser,
        "the booking listed",
        "[...document.querySelectorAll('tbody tr')].some(r => r.innerText.includes('confirmed'))",
    )
    .await;
}

/// A card the mock provider approves.
/// Saves a screenshot as `target/tmp/screenshots/<name>.png`.
async fn screenshot(browser: &Browser, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let png = browser.screenshot().await.expect("screenshot");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

fn seat_is(no: u32, state: &str) -> String {
    format!("document.querySelector('[data-seat=\"{no}\"]')?.classList.contains('{state}')")
}

/// A condition: every seat of `seats` is in `state` on the page.
fn seats_are(seats: &[u32], state: &str) -> String {
    let each: Vec<String> = seats.iter().map(|&no| seat_is(no, state)).collect();
    each.join(" && ")
}

/// Registers `email` on the login page (which logs it in).
async fn register(browser: &Browser, base: &str, email: &str) {
    browser.goto(&format!("{base}/#/login")).await.unwrap();
    type_into(browser, "#register-email", email).await;
    type_into(
        browser,
        "#register-password",
        "correct horse battery staple",
    )
    .await;
    click(
        browser,
        "form[aria-label='New here? Register'] button[type=submit]",
    )
    .await;
    until(
        browser,
        "logged in",
        &format!("document.body.innerText.includes('{email}')"),
    )
    .await;
}

/// Logs `email` in on the login page.
async fn log_in(browser: &Browser, base: &str, email: &str, password: &str) {
    browser.goto(&format!("{base}/#/login")).await.unwrap();
    type_into(browser, "#login-email", email).await;
    type_into(browser, "#login-password", password).await;
    click(browser, "form[aria-label='Log in'] button[type=submit]").await;
    until(
        browser,
        "logged in",
        &format!("document.body.innerText.includes('{email}')"),
    )
    .await;
}

/// Opens `show`'s seat map once it is drawn and clicks `seats`.
async fn select_seats(browser: &Browser, base: &str, show: &str, seats: &[u32]) {
    browser
        .goto(&format!("{base}/#/shows/{show}"))
        .await
        .unwrap();
    until(browser, "the seat map", &seats_are(seats, "available")).await;
    for no in seats {
        click(browser, &format!("[data-seat='{no}']")).await;
    }
}

/// Holds the selected seats and waits for the checkout page.
async fn hold_selected(browser: &Browser) {
    click(browser, "button.primary").await;
    until(
        browser,
        "the checkout",
        "location.hash.startsWith('#/checkout/')",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_books_in_the_browser_while_another_page_watches_the_seats() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let cluster =
        Cluster::start_paid(1, RaftTuning::default(), PaymentSettings::default(), None).await;
    let chatbot = Chatbot::start(&cluster).await;
    let gateway = common::Gateway::start(&cluster, &chatbot).await;
    let base = &gateway.base;
    cluster
        .client("admin")
        .await
        .create_show("gala", "Gala night", 24, 2500, FAR_FUTURE_MS)
        .await
        .unwrap();
    // A show made without a start time, as the bench makes them.
    cluster
        .client("admin")
        .await
        .create_show("someday", "Someday", 4, 1000, i64::MAX / 2)
        .await
        .unwrap();

    // Someone else is looking at the seat map all along.
    let watcher = driver.browser().await;
    watcher.goto(&format!("{base}/#/shows/gala")).await.unwrap();
    until(&watcher, "the seat map", &seat_is(3, "available")).await;

    // The buyer registers (and is logged in), then opens the show.
    let buyer = driver.browser().await;
    buyer.goto(&format!("{base}/#/")).await.unwrap();
    until(
        &buyer,
        "the show list",
        "document.body.innerText.includes('Gala night')",
    )
    .await;
    screenshot(&buyer, "shows").await;
    // The show without a start time says so, not "Invalid Date".
    until(
        &buyer,
        "the unscheduled show",
        "document.body.innerText.includes('Someday') \
         && document.body.innerText.includes('not scheduled') \
         && !document.body.innerText.includes('Invalid Date')",
    )
    .await;
    register(&buyer, base, "dana@example.com").await;

    // Two seats, their total, the hold.
    select_seats(&buyer, base, "gala", &[3, 4]).await;
    until(
        &buyer,
        "the total",
        "document.querySelector('.summary').innerText.includes('2 seats selected (3, 4)')",
    )
    .await;
    screenshot(&buyer, "seat-map-selected").await;
    hold_selected(&buyer).await;
    until(
        &buyer,
        "the countdown",
        "document.querySelector('.countdown')?.innerText.includes('Seats held for')",
    )
    .await;
    screenshot(&buyer, "checkout").await;
    until(
        &watcher,
        "seats 3 and 4 held on the other page",
        &seats_are(&[3, 4], "held"),
    )
    .await;

    // Pay with the test card that is filled in.
    click(&buyer, "form.card button[type=submit]").await;
    until(&buyer, "my bookings", "location.hash === '#/bookings'").await;
    until(
        &buyer,
        "the booking listed",
        "[...document.querySelectorAll('tbody tr')].some(r => r.innerText.includes('3, 4') && r.innerText.includes('confirmed'))",
    )
    .await;
    screenshot(&buyer, "bookings").await;
    until(
        &watcher,
        "seats 3 and 4 booked on the other page, without a reload",
        &seats_are(&[3, 4], "booked"),
    )
    .await;
    screenshot(&watcher, "seat-map-live").await;

    // A declined card: the decline is shown and the seat is free again.
    select_seats(&buyer, base, "gala", &[7]).await;
    hold_selected(&buyer).await;
    until(
        &watcher,
        "seat 7 held on the other page",
        &seat_is(7, "held"),
    )
    .await;
    type_into(&buyer, "#number", DECLINED).await;
    click(&buyer, "form.card button[type=submit]").await;
    until(
        &buyer,
        "the decline",
        "document.querySelector('form.card .error').innerText.includes('declined')",
    )
    .await;
    screenshot(&buyer, "declined").await;
    until(
        &watcher,
        "seat 7 free again on the other page",
        &seat_is(7, "available"),
    )
    .await;

    // The cluster page shows the node, its role and the log formats it
    // writes and reads (version 1 by default; this build reads up to 2).
    watcher.goto(&format!("{base}/#/cluster")).await.unwrap();
    until(
        &watcher,
        "the cluster table",
        &format!(
            "document.querySelector('tr.leader td:last-child')?.textContent === '1/{}'",
            boxoffice_core::format::NEWEST
        ),
    )
    .await;
    screenshot(&watcher, "cluster").await;

    buyer.close().await.unwrap();
    watcher.close().await.unwrap();
}

/// Sends `body` to the gateway as the administrator; asserts `expected`.
async fn admin_post(base: &str, token: &str, path: &str, body: serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{path}: {}",
        response.text().await.unwrap()
    );
}

/// A JavaScript condition: the seat labelled `label` is in `state`.
fn label_is(label: &str, state: &str) -> String {
    format!("document.querySelector('[data-label=\"{label}\"]')?.classList.contains('{state}')")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_picks_seats_on_the_drawn_map_pays_two_types_and_returns_one() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let cluster =
        Cluster::start_paid(1, RaftTuning::default(), PaymentSettings::default(), None).await;
    let chatbot = Chatbot::start(&cluster).await;
    let gateway = common::Gateway::start(&cluster, &chatbot).await;
    let base = &gateway.base;

    // The box office imports the theatre and puts one performance on sale.
    let venues = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/venues/");
    let read = |name: &str| std::fs::read_to_string(format!("{venues}{name}")).unwrap();
    let admin = cluster.token("admin").await;
    admin_post(
        base,
        &admin,
        "/api/venues",
        json!({"venue_id": "royal-court", "toml": read("theatre.toml")}),
    )
    .await;
    admin_post(
        base,
        &admin,
        "/api/productions",
        json!({"production_id": "lear", "title": "King Lear"}),
    )
    .await;
    admin_post(
        base,
        &admin,
        "/api/productions/lear/performances",
        json!({
            "venue_id": "royal-court",
            "performances": [{"show_id": "lear-1", "starts_at_ms": FAR_FUTURE_MS}],
            "pricing_toml": read("theatre-pricing.toml"),
        }),
    )
    .await;

    // Someone else watches the same performance's map throughout.
    let watcher = driver.browser().await;
    watcher
        .goto(&format!("{base}/#/shows/lear-1"))
        .await
        .unwrap();
    until(
        &watcher,
        "the watcher's map",
        &label_is("Stalls F-4", "available"),
    )
    .await;

    let buyer = driver.browser().await;
    register(&buyer, base, "erin@example.com").await;
    buyer.goto(&format!("{base}/#/shows/lear-1")).await.unwrap();
    until(
        &buyer,
        "the drawn seat map",
        &label_is("Stalls F-4", "available"),
    )
    .await;
    // The plan is drawn: the stage, section names, row labels, a
    // wheelchair space as a square, and every seat says what it is.
    until(
        &buyer,
        "stage, sections and rows",
        "document.querySelector('.plan .stage') && [...document.querySelectorAll('.plan .section-name')].some(t => t.textContent === 'Circle') && [...document.querySelectorAll('.plan .row-label')].some(t => t.textContent === 'F') && document.querySelectorAll('.plan .seat').length === 600 && document.querySelector('.plan rect.seat.wheelchair') !== null",
    )
    .await;
    until(
        &buyer,
        "a seat's label, category and prices",
        "document.querySelector('[data-label=\"Stalls F-3\"]').getAttribute('aria-label').includes('Stalls F-3, category A: adult')",
    )
    .await;

    // Zoom in with the button: the viewBox narrows.
    let width = "document.querySelector('.plan').viewBox.baseVal.width";
    let before = buyer
        .execute(&format!("return {width}"), vec![])
        .await
        .unwrap();
    click(&buyer, ".zoom button[aria-label='Zoom in']").await;
    until(&buyer, "zoomed in", &format!("{width} < {before}")).await;
    // The wheel zooms in about the pointer; a drag pans.
    let viewbox = "(() => { const b = document.querySelector('.plan').viewBox.baseVal; return [b.x, b.y, b.width]; })()";
    let zoomed = buyer
        .execute(&format!("return {viewbox}"), vec![])
        .await
        .unwrap();
    buyer
        .execute(
            "const svg = document.querySelector('.plan'); const r = svg.getBoundingClientRect();              svg.dispatchEvent(new WheelEvent('wheel', {deltaY: -100, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true, cancelable: true}));",
            vec![],
        )
        .await
        .unwrap();
    until(
        &buyer,
        "zoomed in by the wheel",
        &format!("{viewbox}[2] < {}", zoomed[2]),
    )
    .await;
    let before = buyer
        .execute(&format!("return {viewbox}"), vec![])
        .await
        .unwrap();
    buyer
        .execute(
            "const svg = document.querySelector('.plan'); const r = svg.getBoundingClientRect();              const at = (type, dx) => svg.dispatchEvent(new PointerEvent(type, {clientX: r.left + 100 + dx, clientY: r.top + 100, bubbles: true}));              at('pointerdown', 0); at('pointermove', 60); at('pointerup', 60);",
            vec![],
        )
        .await
        .unwrap();
    until(
        &buyer,
        "panned by a drag",
        &format!("{viewbox}[0] < {}", before[0]),
    )
    .await;
    click(&buyer, ".zoom button[aria-label='Show the whole hall']").await;

    // F-3 by the mouse, F-4 by the keyboard; then a ticket type each.
    click(&buyer, "[data-label='Stalls F-3']").await;
    let f4 = buyer
        .find(Locator::Css("[data-label='Stalls F-4']"))
        .await
        .unwrap();
    f4.send_keys(&Key::Enter.to_string()).await.unwrap();
    // The arrow keys walk the row: left of F-4 is F-3.
    f4.send_keys(&Key::Left.to_string()).await.unwrap();
    until(
        &buyer,
        "the focus moved to F-3",
        "document.activeElement?.getAttribute('data-label') === 'Stalls F-3' && document.querySelector('.seat-info').innerText.startsWith('Stalls F-3, category A')",
    )
    .await;
    until(
        &buyer,
        "both seats selected",
        &format!(
            "{} && {}",
            label_is("Stalls F-3", "selected"),
            label_is("Stalls F-4", "selected")
        ),
    )
    .await;
    let f4_no: u32 = f4
        .attr("data-seat")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    buyer
        .find(Locator::Css(&format!("select[data-seat='{f4_no}']")))
        .await
        .unwrap()
        .select_by_value("concession")
        .await
        .unwrap();
    until(
        &buyer,
        "the selection priced",
        "document.querySelector('.summary').innerText.startsWith('2 places selected') && document.querySelector('.summary').innerText.includes('99')",
    )
    .await;
    screenshot(&buyer, "venue-map-selected").await;

    // Hold, pay, and find both tickets with their types and prices.
    hold_selected(&buyer).await;
    until(
        &buyer,
        "the tickets at checkout",
        "document.querySelector('table.tickets')?.innerText.includes('concession')",
    )
    .await;
    screenshot(&buyer, "venue-checkout").await;
    until(
        &watcher,
        "the seats held on the other page",
        &format!(
            "{} && {}",
            label_is("Stalls F-3", "held"),
            label_is("Stalls F-4", "held")
        ),
    )
    .await;
    click(&buyer, "form.card button[type=submit]").await;
    until(&buyer, "my bookings", "location.hash === '#/bookings'").await;
    let row = "[...document.querySelectorAll('table.bookings > tbody > tr')]";
    until(
        &buyer,
        "the order with both tickets",
        &format!("{row}.some(r => r.innerText.includes('Stalls F-3') && r.innerText.includes('Stalls F-4') && r.innerText.includes('adult') && r.innerText.includes('concession') && r.innerText.includes('55') && r.innerText.includes('44') && r.innerText.includes('confirmed'))"),
    )
    .await;
    screenshot(&buyer, "venue-bookings").await;
    until(
        &watcher,
        "the seats taken on the other page",
        &format!(
            "{} && {}",
            label_is("Stalls F-3", "booked"),
            label_is("Stalls F-4", "booked")
        ),
    )
    .await;

    // Return the concession ticket: the refund is shown.
    buyer
        .execute("window.confirm = () => true;", vec![])
        .await
        .unwrap();
    click(
        &buyer,
        "button[aria-label='Return the ticket for Stalls F-4']",
    )
    .await;
    until(
        &buyer,
        "the refund shown",
        &format!("{row}.some(r => r.innerText.includes('Stalls F-4') && r.innerText.includes('cancelled') && r.querySelector('.refund')?.innerText.includes('44'))"),
    )
    .await;
    until(
        &buyer,
        "the kept ticket",
        &format!("{row}.some(r => r.innerText.includes('Stalls F-3') && !r.innerText.includes('Stalls F-4') && r.innerText.includes('confirmed'))"),
    )
    .await;
    screenshot(&buyer, "venue-returned").await;
    until(
        &watcher,
        "the returned seat free again on the other page",
        &format!(
            "{} && {}",
            label_is("Stalls F-3", "booked"),
            label_is("Stalls F-4", "available")
        ),
    )
    .await;
    screenshot(&watcher, "venue-map-live").await;

    // The ledger and the bookings agree: 99.00 charged, exactly the
    // concession's 44.00 refunded, 55.00 kept.
    let session = buyer
        .execute(
            "return JSON.parse(sessionStorage.getItem('boxoffice.session'))",
            vec![],
        )
        .await
        .unwrap();
    let user_id = session["user"]["user_id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ledger = cluster
            .ledger(std::slice::from_ref(&user_id))
            .await
            .unwrap();
        let charges: Vec<_> = ledger.iter().filter(|t| t.amount_cents > 0).collect();
        assert_eq!(charges.len(), 1, "{ledger:?}");
        assert_eq!(charges[0].amount_cents, 5500 + 4400);
        if charges[0].refunded_cents == 4400 {
            break;
        }
        assert!(
            charges[0].refunded_cents == 0 && tokio::time::Instant::now() < deadline,
            "refunded {} of the charge, not the concession's 4400",
            charges[0].refunded_cents
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bookings: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/bookings"))
        .bearer_auth(session["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let total = |status: &str| -> Vec<i64> {
        bookings
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["status"] == status)
            .map(|b| b["total_cents"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        (total("confirmed"), total("cancelled")),
        (vec![5500], vec![4400])
    );

    buyer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standing_places_are_picked_by_quantity_and_type() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let cluster =
        Cluster::start_paid(1, RaftTuning::default(), PaymentSettings::default(), None).await;
    let chatbot = Chatbot::start(&cluster).await;
    let gateway = common::Gateway::start(&cluster, &chatbot).await;
    let base = &gateway.base;
    let venues = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/venues/");
    let read = |name: &str| std::fs::read_to_string(format!("{venues}{name}")).unwrap();
    let admin = cluster.token("admin").await;
    admin_post(
        base,
        &admin,
        "/api/venues",
        json!({"venue_id": "lighthouse", "toml": read("club.toml")}),
    )
    .await;
    admin_post(
        base,
        &admin,
        "/api/productions",
        json!({"production_id": "gig", "title": "The Gig"}),
    )
    .await;
    admin_post(
        base,
        &admin,
        "/api/productions/gig/performances",
        json!({
            "venue_id": "lighthouse",
            "performances": [{"show_id": "gig-1", "starts_at_ms": FAR_FUTURE_MS}],
            "pricing_toml": read("club-pricing.toml"),
        }),
    )
    .await;

    let buyer = driver.browser().await;
    register(&buyer, base, "finn@example.com").await;
    buyer.goto(&format!("{base}/#/shows/gig-1")).await.unwrap();
    until(
        &buyer,
        "the floor with its places left",
        "document.querySelector('.plan .area[data-area=\"Floor\"]')?.textContent.includes('2000 left')",
    )
    .await;
    screenshot(&buyer, "standing-map").await;
    type_into(&buyer, "input[data-area='Floor']", "2").await;
    buyer
        .find(Locator::Css("select[aria-label='Ticket type for Floor']"))
        .await
        .unwrap()
        .select_by_value("concession")
        .await
        .unwrap();
    until(
        &buyer,
        "two standing places priced",
        "document.querySelector('.summary').innerText.startsWith('2 places selected') && document.querySelector('.summary').innerText.includes('50')",
    )
    .await;
    hold_selected(&buyer).await;
    until(
        &buyer,
        "the standing tickets at checkout",
        "[...document.querySelectorAll('table.tickets tbody tr')].filter(r => r.innerText.includes('Floor') && r.innerText.includes('concession')).length === 2",
    )
    .await;
    // The map counts them as held.
    buyer.goto(&format!("{base}/#/shows/gig-1")).await.unwrap();
    until(
        &buyer,
        "two places fewer",
        "document.querySelector('.plan .area[data-area=\"Floor\"]')?.textContent.includes('1998 left')",
    )
    .await;
    buyer.close().await.unwrap();
}

/// The text of the first element `css` selects.
async fn text_of(browser: &Browser, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Scans `code` on the open door page as a USB scanner does: the code
/// typed into the field, then Enter; waits for the answer `result`.
async fn scan(browser: &Browser, code: &str, result: &str) {
    let field = browser.find(Locator::Css("#door-code")).await.unwrap();
    field
        .send_keys(&format!("{code}{}", Key::Enter))
        .await
        .unwrap();
    until(
        browser,
        &format!("the answer {result}"),
        &format!("document.querySelector('.scan-answer')?.dataset.result === '{result}'"),
    )
    .await;
}

/// The first ticket's QR code is drawn (its image loaded).
const QR_SHOWN: &str = "[...document.querySelectorAll('article.ticket img.qr')].some(i => i.complete && i.naturalWidth > 0)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_shows_its_qr_code_and_the_door_admits_it_once() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let cluster =
        Cluster::start_paid(1, RaftTuning::default(), PaymentSettings::default(), None).await;
    let chatbot = Chatbot::start(&cluster).await;
    let gateway = common::Gateway::start(&cluster, &chatbot).await;
    let base = &gateway.base;
    cluster
        .client("admin")
        .await
        .create_show("gala", "Gala night", 24, 2500, FAR_FUTURE_MS)
        .await
        .unwrap();

    // A buyer books and pays seat 5.
    let buyer = driver.browser().await;
    register(&buyer, base, "gus@example.com").await;
    select_seats(&buyer, base, "gala", &[5]).await;
    hold_selected(&buyer).await;
    click(&buyer, "form.card button[type=submit]").await;
    until(&buyer, "my bookings", "location.hash === '#/bookings'").await;

    // My tickets: the performance, the seat, the type, the QR code and
    // the code itself.
    click(&buyer, "nav a[href='#/tickets']").await;
    until(&buyer, "the ticket's QR code", QR_SHOWN).await;
    let ticket = text_of(&buyer, "article.ticket").await;
    for expected in ["Gala night", "Seat 5", "adult", "Version", "not used yet"] {
        assert!(ticket.contains(expected), "{expected:?} in {ticket}");
    }
    let first_code = text_of(&buyer, "article.ticket .ticket-code").await;
    assert!(first_code.starts_with("BT1."), "{first_code}");
    screenshot(&buyer, "tickets").await;

    // Reissued: a new code and version 1; the old code dies.
    buyer
        .execute("window.confirm = () => true;", vec![])
        .await
        .unwrap();
    click(&buyer, "article.ticket button[aria-label^='Reissue']").await;
    until(
        &buyer,
        "the reissued ticket",
        &format!("{QR_SHOWN} && document.querySelector('article.ticket .ticket-code').textContent !== '{first_code}' && [...document.querySelectorAll('article.ticket dd')].some(d => d.textContent === '1')"),
    )
    .await;
    let code = text_of(&buyer, "article.ticket .ticket-code").await;
    assert!(code.starts_with("BT1.") && code != first_code);

    // The printable view: the same ticket, no buttons.
    click(&buyer, "a[href='#/tickets/print']").await;
    until(
        &buyer,
        "the print view",
        &format!("document.querySelector('.print-sheet') && {QR_SHOWN} && !document.querySelector('.print-sheet button')"),
    )
    .await;
    screenshot(&buyer, "tickets-print").await;

    // A customer may open the door page but not scan.
    buyer.goto(&format!("{base}/#/door")).await.unwrap();
    until(
        &buyer,
        "the door page",
        "document.querySelector('#door-code')",
    )
    .await;
    buyer
        .find(Locator::Css("#door-show"))
        .await
        .unwrap()
        .select_by_value("gala")
        .await
        .unwrap();
    scan(&buyer, &code, "not_allowed").await;
    // Nor see the door's live counts.
    until(
        &buyer,
        "the live counts refused",
        "document.querySelector('#door-counts')?.innerText.includes('for administrators and this performance')",
    )
    .await;

    // The administrator's door: admitted once, then already in; the old
    // code is refused as superseded.
    let door = driver.browser().await;
    log_in(&door, base, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    click(&door, "nav a[href='#/door']").await;
    until(
        &door,
        "the door page",
        "document.querySelector('#door-code')",
    )
    .await;
    door.find(Locator::Css("#door-show"))
        .await
        .unwrap()
        .select_by_value("gala")
        .await
        .unwrap();
    type_into(&door, "#door-gate", "north").await;
    scan(&door, &code, "admitted").await;
    let answer = text_of(&door, ".scan-answer").await;
    assert!(
        answer.contains("Admitted") && answer.contains("seat 5, adult"),
        "{answer}"
    );
    // The live counts (an authorized event stream) follow the admission.
    until(
        &door,
        "the live count of the admission",
        "document.querySelector('[data-count=inside]')?.textContent === '1' && document.querySelector('#door-counts').innerText.includes('Gate north: 1 admitted') && !document.querySelector('#door-counts').innerText.includes('null')",
    )
    .await;
    screenshot(&door, "door-admitted").await;
    scan(&door, &code, "already_in").await;
    let answer = text_of(&door, ".scan-answer").await;
    assert!(answer.contains("Came in at gate north"), "{answer}");
    screenshot(&door, "door-already-in").await;
    scan(&door, &first_code, "superseded").await;
    // A mistake in the form is said, not sent.
    type_into(&door, "#door-gate", "north gate").await;
    scan(&door, &code, "mistake").await;
    assert!(text_of(&door, ".scan-answer").await.contains("no spaces"));
    until(
        &door,
        "the recent scans",
        "document.querySelectorAll('.scans li').length === 3",
    )
    .await;

    // The buyer's ticket now says where it came in.
    buyer.goto(&format!("{base}/#/tickets")).await.unwrap();
    until(
        &buyer,
        "the ticket used",
        "document.querySelector('article.ticket')?.innerText.includes('came in at gate north') && !document.querySelector('article.ticket button')",
    )
    .await;

    buyer.close().await.unwrap();
    door.close().await.unwrap();
}

/// Issue 25 in the browser: a buyer joins a performance's waiting room
/// (the page does the proof of work the cluster asks for), watches their
/// place fall on the progress bar, live, as the three buyers ahead of
/// them are let in and buy, is let in, and buys. The room lets one buyer
/// in at a time, so the test sets the pace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_waits_in_the_room_watches_the_place_fall_gets_in_and_buys() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let cluster =
        Cluster::start_paid(1, RaftTuning::default(), PaymentSettings::default(), None).await;
    let chatbot = Chatbot::start(&cluster).await;
    let gateway = common::Gateway::start(&cluster, &chatbot).await;
    let base = &gateway.base;
    let admin = cluster.client("admin").await;
    admin
        .create_show("gala", "Gala night", 24, 2500, FAR_FUTURE_MS)
        .await
        .unwrap();
    common::set_room(&admin, "gala", boxoffice_config::clock::now_ms(), 100, 1).await;
    // Three buyers are in the room first: one let in, two waiting.
    let mut ahead = Vec::new();
    for name in ["ann", "bob", "cy"] {
        let buyer = cluster.client(name).await;
        buyer.join_waiting_room("gala").await.unwrap();
        ahead.push(buyer);
    }

    let browser = driver.browser().await;
    register(&browser, base, "wren@example.com").await;
    browser.goto(&format!("{base}/#/shows/gala")).await.unwrap();
    until(
        &browser,
        "the waiting room's panel",
        "document.querySelector('section.queue')?.dataset.status === 'outside'",
    )
    .await;
    click(&browser, "section.queue button.queue-join").await;
    let at =
        |n: u32| format!("document.querySelector('section.queue')?.dataset.position === '{n}'");
    until(&browser, "number 3 in line", &at(3)).await;
    until(
        &browser,
        "the place said",
        "document.querySelector('.queue-status').innerText.includes('number 3 in line')",
    )
    .await;
    screenshot(&browser, "waiting-room").await;
    // Each buyer ahead who is let in buys, which lets the next one in.
    let card = good_card();
    for (i, buyer) in ahead.iter().enumerate() {
        let seat = u32::try_from(i).unwrap() + 10;
        // Let in by one of the room's next ticks once the one ahead has
        // bought: the waiting call answers then.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let room = buyer
                .wait_in_waiting_room("gala", Duration::from_secs(10))
                .await
                .unwrap();
            let status = room.you.map(|you| you.status).unwrap_or_default();
            if status == "admitted" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "buyer {i} still {status}"
            );
        }
        buyer.book("gala", &[seat]).card(&card).await.unwrap();
        if i < 2 {
            until(
                &browser,
                "the place falls",
                &at(2 - u32::try_from(i).unwrap()),
            )
            .await;
        }
    }
    until(
        &browser,
        "let in",
        "document.querySelector('section.queue')?.dataset.status === 'admitted'",
    )
    .await;
    until(
        &browser,
        "told so",
        "document.querySelector('.queue-status').innerText.includes(\"You're in\")",
    )
    .await;
    screenshot(&browser, "waiting-room-in").await;
    // The queue's admission token is kept for the hold to carry.
    until(
        &browser,
        "the admission token kept",
        "(JSON.parse(sessionStorage.getItem('boxoffice.admissions') || '{}').gala || '').startsWith('adm1.')",
    )
    .await;

    // And buys.
    select_seats(&browser, base, "gala", &[5]).await;
    hold_selected(&browser).await;
    pay_and_see_it_confirmed(&browser).await;
    browser.close().await.unwrap();
}

/// Issue 25 in the browser: on a sold-out performance a buyer joins the
/// waiting list, sees their place, hears live (without reloading) that a
/// returned seat is held for them, and pays for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_on_the_waiting_list_is_offered_a_returned_seat_live_and_pays() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let cluster =
        Cluster::start_paid(1, RaftTuning::default(), PaymentSettings::default(), None).await;
    let chatbot = Chatbot::start(&cluster).await;
    let gateway = common::Gateway::start(&cluster, &chatbot).await;
    let base = &gateway.base;
    let admin = cluster.client("admin").await;
    admin
        .create_show("gala", "Gala night", 2, 2500, FAR_FUTURE_MS)
        .await
        .unwrap();
    let card = good_card();
    let ann = cluster.client("ann").await;
    let sold = ann.book("gala", &[1, 2]).card(&card).await.unwrap();

    let browser = driver.browser().await;
    register(&browser, base, "wren@example.com").await;
    browser.goto(&format!("{base}/#/shows/gala")).await.unwrap();
    until(
        &browser,
        "the waiting list's panel",
        "document.querySelector('section.waitlist')?.dataset.status === 'outside'",
    )
    .await;
    type_into(&browser, "section.waitlist input[name=quantity]", "1").await;
    click(&browser, "section.waitlist form button[type=submit]").await;
    until(
        &browser,
        "on the list",
        "document.querySelector('section.waitlist')?.dataset.status === 'waiting' && document.querySelector('.waitlist-status').innerText.includes('number 1 on the waiting list for 1 seat')",
    )
    .await;
    screenshot(&browser, "waiting-list").await;

    // Ann cancels: her seats are freed, and one is held for Wren at once.
    ann.cancel(&sold.booking_id).await.unwrap();
    until(
        &browser,
        "the offer, live",
        "document.querySelector('section.waitlist')?.dataset.status === 'offered' && document.querySelector('.waitlist-status').innerText.includes('held for you until')",
    )
    .await;
    screenshot(&browser, "waiting-list-offer").await;
    click(&browser, "section.waitlist a.waitlist-pay").await;
    until(
        &browser,
        "the checkout",
        "location.hash.startsWith('#/checkout/')",
    )
    .await;
    pay_and_see_it_confirmed(&browser).await;
    browser.close().await.unwrap();
}
