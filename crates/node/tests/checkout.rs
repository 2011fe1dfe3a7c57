//! The checkout saga on one node with a real payment service: book and
//! pay, declines, bad cards, lost replies, outages, a restart of the
//! payment service, a race for the last seat, hold expiry with a late
//! payment, refunds on cancel; every test ends by reconciling the bookings
//! with the payment ledger.

mod common;

use std::time::Duration;

use boxoffice_client::Client;
use boxoffice_client::audit::reconcile;
use boxoffice_client::proto::booking_service_client::BookingServiceClient;
use boxoffice_client::proto::{
    Booking, BookingStatus, Faults, PayBookingRequest, PaymentStatus, SeatState, Transaction,
    TransactionStatus,
};
use common::{Buyer, DECLINED_CARD, GOOD_CARD, Node, STOLEN_CARD, card, eventually, expect_code};
use tonic::Code;

/// Price of a seat in the test shows.
const PRICE: i64 = 2_500;
/// How long the tests wait for the coordinator.
const SETTLE: Duration = Duration::from_secs(20);

async fn create_show(node: &Node, show: &str, seats: u32, price: i64) {
    let starts_at = boxoffice_config::clock::now_ms() + 86_400_000;
    node.admin()
        .await
        .create_show(show, "Checkout test", seats, price, starts_at)
        .await
        .unwrap();
}

fn status(b: &Booking) -> BookingStatus {
    BookingStatus::try_from(b.status).unwrap()
}

fn payment(b: &Booking) -> PaymentStatus {
    PaymentStatus::try_from(b.payment_status).unwrap()
}

fn tx_status(tx: &Transaction) -> TransactionStatus {
    TransactionStatus::try_from(tx.status).unwrap()
}

async fn seat_state(client: &Client, show: &str, seat: u32) -> SeatState {
    let seat = client.get_seat(show, seat, false).await.unwrap();
    SeatState::try_from(seat.seat.unwrap().state).unwrap()
}

/// Every booking of `buyers` and every ledger transaction of theirs.
async fn books(node: &Node, buyers: &[&Buyer]) -> (Vec<Booking>, Vec<Transaction>) {
    let mut bookings = Vec::new();
    for buyer in buyers {
        bookings.extend(buyer.list_bookings(false).await.unwrap());
    }
    let users: Vec<String> = buyers.iter().map(|b| b.id.clone()).collect();
    let ledger = node.payment().ledger(&users).await;
    (bookings, ledger)
}

/// Waits until the bookings of `buyers` and their ledger reconcile exactly.
async fn reconciled(node: &Node, clients: &[&Buyer]) -> (Vec<Booking>, Vec<Transaction>) {
    eventually(SETTLE, || async {
        let (bookings, ledger) = books(node, clients).await;
        reconcile(&bookings, &ledger)
            .map(|()| (bookings, ledger))
            .map_err(|mismatches| mismatches.to_string())
    })
    .await
}

#[tokio::test]
async fn book_and_pay_charges_the_show_price_and_a_cancel_refunds_once() {
    let node = Node::with_payments(|_| {}).await;
    create_show(&node, "gala", 10, PRICE).await;
    let ann = node.buyer("ann").await;
    let paid = ann
        .book("gala", &[3, 4])
        .request_id("r-gala-1")
        .card(&card(GOOD_CARD))
        .await
        .unwrap();
    assert_eq!(status(&paid), BookingStatus::Confirmed);
    assert_eq!(payment(&paid), PaymentStatus::Charged);
    assert_eq!(paid.total_cents, 2 * PRICE, "price from the show");
    assert!(paid.order_id.starts_with("ord_"), "{paid:?}");
    // A retry under the same request id returns the booking, charging nothing more.
    let again = ann
        .book("gala", &[3, 4])
        .request_id("r-gala-1")
        .card(&card(GOOD_CARD))
        .await
        .unwrap();
    assert_eq!(again, paid);
    let (_, ledger) = reconciled(&node, &[&ann]).await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].amount_cents, 2 * PRICE);
    assert_eq!(ledger[0].idempotency_key, paid.order_id);
    assert_eq!(ledger[0].card_last4, "4242");

    let cancelled = ann.cancel(&paid.booking_id).await.unwrap();
    assert_eq!(status(&cancelled), BookingStatus::Cancelled);
    assert_eq!(payment(&cancelled), PaymentStatus::Refunded);
    assert_eq!(seat_state(&ann, "gala", 3).await, SeatState::Available);
    // Cancelling twice is harmless: one refund.
    assert_eq!(ann.cancel(&paid.booking_id).await.unwrap(), cancelled);
    let (_, ledger) = reconciled(&node, &[&ann]).await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(tx_status(&ledger[0]), TransactionStatus::Refunded);
    node.stop().await;
}

/// Checkouts paying at the same moment share charge calls (a node sends
/// the charges waiting together as one batch): each still gets its own
/// outcome, a decline among them fails only its own booking, and the
/// ledger reconciles with the bookings.
#[tokio::test]
async fn checkouts_paying_at_once_each_get_their_own_outcome() {
    let node = Node::with_payments(|_| {}).await;
    create_show(&node, "rush", 40, PRICE).await;
    let mut buyers = Vec::new();
    for name in ["ann", "ben", "cat", "dan", "eve", "fay"] {
        buyers.push(node.buyer(name).await);
    }
    let attempts = buyers.iter().enumerate().flat_map(|(b, buyer)| {
        (0..4u32).map(move |k| {
            let seat = b as u32 * 4 + k + 1;
            let number = if seat.is_multiple_of(3) {
                DECLINED_CARD
            } else {
                GOOD_CARD
            };
            async move {
                let outcome = buyer.book("rush", &[seat]).card(&card(number)).await;
                (seat, outcome)
            }
        })
    });
    let outcomes = futures::future::join_all(attempts).await;
    for (seat, outcome) in &outcomes {
        if seat.is_multiple_of(3) {
            expect_code(
                outcome.clone(),
                Code::FailedPrecondition,
                "insufficient funds",
            );
        } else {
            let paid = outcome.as_ref().unwrap();
            assert_eq!(status(paid), BookingStatus::Confirmed, "seat {seat}");
            assert_eq!(payment(paid), PaymentStatus::Charged);
        }
    }
    let everyone: Vec<&Buyer> = buyers.iter().collect();
    let (_, ledger) = reconciled(&node, &everyone).await;
    assert_eq!(ledger.len(), 24, "one transaction per checkout");
    let declined = ledger
        .iter()
        .filter(|t| tx_status(t) == TransactionStatus::Declined)
        .count();
    assert_eq!(declined, 8);
    node.stop().await;
}

/// A card number typed with any amount of spacing is charged as its
/// digits: the charge stays small, so it cannot push a batch of charges
/// past the payment service's request limit (64 KiB) and fail the others.
#[tokio::test]
async fn a_card_number_padded_with_spaces_is_charged_as_its_digits() {
    let node = Node::with_payments(|_| {}).await;
    create_show(&node, "padded", 10, PRICE).await;
    let ann = node.buyer("ann").await;
    let padded = GOOD_CARD.replace(" ", &" ".repeat(30_000));
    assert!(padded.len() > 64 * 1024);
    let paid = ann.book("padded", &[1]).card(&card(&padded)).await.unwrap();
    assert_eq!(status(&paid), BookingStatus::Confirmed);
    let (_, ledger) = reconciled(&node, &[&ann]).await;
    assert_eq!(ledger[0].card_last4, "4242");
    node.stop().await;
}

#[tokio::test]
async fn a_decline_leaves_no_hold_no_booking_and_no_charge() {
    let node = Node::with_payments(|_| {}).await;
    create_show(&node, "opera", 10, PRICE).await;
    let ben = node.buyer("ben").await;
    for (request, number, reason) in [
        ("r-1", DECLINED_CARD, "declined: insufficient funds"),
        ("r-2", STOLEN_CARD, "declined: card reported stolen"),
    ] {
        let declined = ben
            .book("opera", &[1])
            .request_id(request)
            .card(&card(number))
            .await;
        expect_code(declined, Code::FailedPrecondition, reason);
        // The seat is free again at once; a retry learns the hold ended.
        assert_eq!(seat_state(&ben, "opera", 1).await, SeatState::Available);
        let retried = ben
            .book("opera", &[1])
            .request_id(request)
            .card(&card(number))
            .await;
        expect_code(retried, Code::FailedPrecondition, "hold ended");
    }
    let (bookings, ledger) = reconciled(&node, &[&ben]).await;
    assert!(
        bookings
            .iter()
            .all(|b| status(b) == BookingStatus::Released)
    );
    assert!(
        bookings
            .iter()
            .all(|b| payment(b) == PaymentStatus::NotCharged)
    );
    // The ledger keeps the two declines, and nothing was charged.
    assert_eq!(ledger.len(), 2, "{ledger:?}");
    assert!(
        ledger
            .iter()
            .all(|t| tx_status(t) == TransactionStatus::Declined)
    );
    // The same seat can then be bought.
    let paid = ben
        .book("opera", &[1])
        .request_id("r-3")
        .card(&card(GOOD_CARD))
        .await
        .unwrap();
    assert_eq!(status(&paid), BookingStatus::Confirmed);
    reconciled(&node, &[&ben]).await;
    node.stop().await;
}

#[tokio::test]
async fn bad_cards_and_bad_requests_change_nothing() {
    let node = Node::with_payments(|_| {}).await;
    create_show(&node, "play", 10, PRICE).await;
    let cat = node.buyer("cat").await;
    let dan = node.buyer("dan").await;
    let bad_luhn = card("4242 4242 4242 4241");
    expect_code(
        cat.book("play", &[2])
            .request_id("r-1")
            .card(&bad_luhn)
            .await,
        Code::InvalidArgument,
        "card",
    );
    let expired = boxoffice_client::proto::Card {
        exp_year: 2020,
        ..card(GOOD_CARD)
    };
    expect_code(
        cat.book("play", &[2])
            .request_id("r-2")
            .card(&expired)
            .await,
        Code::InvalidArgument,
        "expired",
    );
    let bad_cvc = boxoffice_client::proto::Card {
        cvc: "12a".into(),
        ..card(GOOD_CARD)
    };
    expect_code(
        cat.book("play", &[2])
            .request_id("r-3")
            .card(&bad_cvc)
            .await,
        Code::InvalidArgument,
        "CVC",
    );
    expect_code(
        cat.book("play", &[2]).request_id("r-4").await,
        Code::InvalidArgument,
        "card is required",
    );
    assert_eq!(seat_state(&cat, "play", 2).await, SeatState::Available);
    // Refused before anything was held: no booking, not even a released one.
    assert_eq!(cat.list_bookings(false).await.unwrap(), vec![]);
    // Paying for bookings that are not yours, or not bookings at all.
    let held = cat.hold("play", &[5]).await.unwrap();
    expect_code(
        dan.pay(&held.booking_id, &card(GOOD_CARD)).await,
        Code::NotFound,
        "not found",
    );
    expect_code(
        cat.pay("999", &card(GOOD_CARD)).await,
        Code::NotFound,
        "not found",
    );
    expect_code(
        cat.pay("ord_1", &card(GOOD_CARD)).await,
        Code::InvalidArgument,
        "booking_id",
    );
    expect_code(
        cat.pay(&held.booking_id, &card("")).await,
        Code::InvalidArgument,
        "card is required",
    );
    // A bad card in the two-step flow keeps the hold for another card.
    expect_code(
        cat.pay(&held.booking_id, &bad_luhn).await,
        Code::InvalidArgument,
        "card",
    );
    assert_eq!(seat_state(&cat, "play", 5).await, SeatState::Held);
    let paid = cat.pay(&held.booking_id, &card(GOOD_CARD)).await.unwrap();
    assert_eq!(status(&paid), BookingStatus::Confirmed);
    // Paying again returns the booking; nothing more is charged.
    assert_eq!(
        cat.pay(&held.booking_id, &card(GOOD_CARD)).await.unwrap(),
        paid
    );
    let (_, ledger) = reconciled(&node, &[&cat, &dan]).await;
    let charged: Vec<_> = ledger
        .iter()
        .filter(|t| tx_status(t) == TransactionStatus::Succeeded)
        .collect();
    assert_eq!(charged.len(), 1, "{ledger:?}");
    node.stop().await;
}

#[tokio::test]
async fn two_steps_show_the_expiry_and_a_free_show_needs_no_card() {
    let node = Node::with_payments(|s| s.hold_ms = 120_000).await;
    create_show(&node, "recital", 10, PRICE).await;
    create_show(&node, "open-day", 10, 0).await;
    let eve = node.buyer("eve").await;
    let before = boxoffice_config::clock::now_ms();
    let held = eve.hold("recital", &[7, 8]).await.unwrap();
    assert_eq!(status(&held), BookingStatus::Held);
    assert_eq!(payment(&held), PaymentStatus::Pending);
    let left = held.hold_expires_at_ms - before;
    assert!((100_000..=121_000).contains(&left), "expires in {left} ms");
    assert_eq!(seat_state(&eve, "recital", 7).await, SeatState::Held);
    let paid = eve.pay(&held.booking_id, &card(GOOD_CARD)).await.unwrap();
    assert_eq!(status(&paid), BookingStatus::Confirmed);
    assert_eq!(seat_state(&eve, "recital", 7).await, SeatState::Booked);

    let free = eve
        .book("open-day", &[1])
        .request_id("r-free")
        .await
        .unwrap();
    assert_eq!(status(&free), BookingStatus::Confirmed);
    assert_eq!(payment(&free), PaymentStatus::None);
    reconciled(&node, &[&eve]).await;
    node.stop().await;
}

#[tokio::test]
async fn a_lost_reply_after_the_charge_ends_in_exactly_one_booking() {
    let node = Node::with_payments(|s| s.checkout_hold_ms = 1_500).await;
    create_show(&node, "jazz", 20, PRICE).await;
    node.payment()
        .set_faults(Faults {
            timeout_after_charge_rate: 1.0,
            ..Faults::default()
        })
        .await;
    let fay = node.buyer("fay").await;
    let mut paid = Vec::new();
    for seat in 1..=3 {
        let request_id = format!("r-{seat}");
        let booking = fay
            .book("jazz", &[seat])
            .request_id(&request_id)
            .card(&card(GOOD_CARD))
            .await
            .unwrap();
        assert_eq!(status(&booking), BookingStatus::Confirmed);
        paid.push(booking);
    }
    // A client whose reply was lost retries after the hold would have
    // ended: it gets its confirmed booking, not a request to pay again.
    let ended = paid[2].created_at_ms + 1_500;
    eventually(SETTLE, || async {
        let now = boxoffice_config::clock::now_ms();
        (now > ended)
            .then_some(())
            .ok_or(format!("{now} <= {ended}"))
    })
    .await;
    let retried = fay
        .book("jazz", &[3])
        .request_id("r-3")
        .card(&card(GOOD_CARD))
        .await
        .unwrap();
    assert_eq!(retried, paid[2]);
    let (_, ledger) = reconciled(&node, &[&fay]).await;
    assert_eq!(ledger.len(), 3, "one charge per booking: {ledger:?}");
    node.stop().await;
}

#[tokio::test]
async fn an_outage_keeps_the_order_until_a_retry_pays_it() {
    let node = Node::with_payments(|s| s.charge_timeout_ms = 300).await;
    create_show(&node, "folk", 10, PRICE).await;
    let gus = node.buyer("gus").await;
    node.payment()
        .set_faults(Faults {
            down: true,
            ..Faults::default()
        })
        .await;
    let unknown = gus
        .book("folk", &[4])
        .request_id("r-folk")
        .card(&card(GOOD_CARD))
        .await;
    expect_code(unknown, Code::Unavailable, "stays held");
    assert_eq!(seat_state(&gus, "folk", 4).await, SeatState::Held);
    node.payment().set_faults(Faults::default()).await;
    let paid = gus
        .book("folk", &[4])
        .request_id("r-folk")
        .card(&card(GOOD_CARD))
        .await
        .unwrap();
    assert_eq!(status(&paid), BookingStatus::Confirmed);
    let (bookings, ledger) = reconciled(&node, &[&gus]).await;
    assert_eq!((bookings.len(), ledger.len()), (1, 1));
    node.stop().await;
}

#[tokio::test]
async fn a_payment_service_restart_mid_run_loses_and_doubles_nothing() {
    let mut node = Node::with_payments(|s| {
        s.charge_timeout_ms = 5_000;
        s.checkout_hold_ms = 10_000;
    })
    .await;
    create_show(&node, "rock", 200, PRICE).await;
    let mut buyers = Vec::new();
    for name in ["hal", "ida", "jon", "kim"] {
        buyers.push(node.buyer(name).await);
    }
    let buying = buyers.iter().enumerate().map(|(i, buyer)| async move {
        let mut outcomes = Vec::new();
        for n in 0..15u32 {
            let seat = u32::try_from(i).unwrap() * 15 + n + 1;
            let id = format!("r-{i}-{n}");
            let outcome = buyer
                .book("rock", &[seat])
                .request_id(&id)
                .card(&card(GOOD_CARD))
                .await;
            outcomes.push(outcome.map(|b| b.booking_id));
        }
        outcomes
    });
    let restarting = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        node.payment.as_mut().unwrap().restart().await;
    };
    let (outcomes, ()) = tokio::join!(futures::future::join_all(buying), restarting);
    let confirmed = outcomes.iter().flatten().filter(|o| o.is_ok()).count();
    assert!(confirmed > 0, "{outcomes:?}");
    let clients: Vec<&Buyer> = buyers.iter().collect();
    let (bookings, ledger) = reconciled(&node, &clients).await;
    // Every acknowledged booking is confirmed and paid exactly once.
    for id in outcomes.iter().flatten().filter_map(|o| o.as_ref().ok()) {
        let booking = bookings.iter().find(|b| b.booking_id == *id).unwrap();
        assert_eq!(status(booking), BookingStatus::Confirmed);
    }
    let charged = ledger
        .iter()
        .filter(|t| tx_status(t) == TransactionStatus::Succeeded)
        .count();
    let paid = bookings
        .iter()
        .filter(|b| status(b) == BookingStatus::Confirmed)
        .count();
    assert_eq!(charged, paid);
    node.stop().await;
}

#[tokio::test]
async fn thirty_buyers_race_for_the_last_seat_and_one_is_charged() {
    let node = Node::with_payments(|_| {}).await;
    create_show(&node, "finale", 10, PRICE).await;
    // Two early buyers take seats 1 to 9 (a customer may have 6 of a show).
    let early = [node.buyer("early1").await, node.buyer("early2").await];
    for (buyer, seats) in early.iter().zip([&[1, 2, 3, 4, 5][..], &[6, 7, 8, 9][..]]) {
        buyer
            .book("finale", seats)
            .request_id(&format!("r-early-{}", seats[0]))
            .card(&card(GOOD_CARD))
            .await
            .unwrap();
    }
    let mut buyers = Vec::new();
    for i in 0..30 {
        buyers.push(node.buyer(&format!("buyer{i}")).await);
    }
    let attempts = buyers.iter().enumerate().map(|(i, buyer)| async move {
        buyer
            .book("finale", &[10])
            .request_id(&format!("r-last-{i}"))
            .card(&card(GOOD_CARD))
            .await
    });
    let outcomes = futures::future::join_all(attempts).await;
    let winners = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(winners, 1, "{outcomes:?}");
    for outcome in &outcomes {
        if let Err(status) = outcome {
            assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
            assert!(status.message().contains("already"), "{status:?}");
        }
    }
    let mut clients: Vec<&Buyer> = buyers.iter().collect();
    clients.extend(&early);
    let (_, ledger) = reconciled(&node, &clients).await;
    let buyer_charges = ledger.iter().filter(|t| t.amount_cents == PRICE).count();
    assert_eq!(buyer_charges, 1, "only the winner is charged: {ledger:?}");
    assert_eq!(
        ledger.len(),
        3,
        "the early buyers' and the winner's: {ledger:?}"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_hold_expires_and_a_late_payment_is_refunded() {
    let node = Node::with_payments(|s| {
        s.hold_ms = 1_000;
        s.call_timeout_ms = 10_000;
    })
    .await;
    create_show(&node, "late", 10, PRICE).await;
    let liz = node.buyer("liz").await;

    // Unpaid: the hold lapses and the seat is back on sale.
    let abandoned = liz.hold("late", &[1]).await.unwrap();
    eventually(SETTLE, || async {
        match seat_state(&liz, "late", 1).await {
            SeatState::Available => Ok(()),
            other => Err(format!("seat 1 is {other:?}")),
        }
    })
    .await;
    expect_code(
        liz.pay(&abandoned.booking_id, &card(GOOD_CARD)).await,
        Code::FailedPrecondition,
        "hold ended",
    );

    // Paid too late: the payment service takes 2 s, the hold lasts 1 s.
    node.payment()
        .set_faults(Faults {
            latency_ms: 2_000,
            ..Faults::default()
        })
        .await;
    let held = liz.hold("late", &[2]).await.unwrap();
    let late = liz.pay(&held.booking_id, &card(GOOD_CARD)).await;
    expect_code(late, Code::FailedPrecondition, "refunded automatically");
    node.payment().set_faults(Faults::default()).await;
    let (bookings, ledger) = reconciled(&node, &[&liz]).await;
    let refunded = bookings
        .iter()
        .find(|b| b.booking_id == held.booking_id)
        .unwrap();
    assert_eq!(status(refunded), BookingStatus::Released);
    assert_eq!(payment(refunded), PaymentStatus::Refunded);
    assert_eq!(ledger.len(), 1);
    assert_eq!(tx_status(&ledger[0]), TransactionStatus::Refunded);
    assert_eq!(seat_state(&liz, "late", 2).await, SeatState::Available);
    node.stop().await;
}

#[tokio::test]
async fn paying_again_with_another_card_finds_the_first_charge() {
    // One attempt per checkout: an unknown outcome is reported at once.
    let node = Node::with_payments(|s| s.charge_timeout_ms = 1).await;
    create_show(&node, "blues", 10, PRICE).await;
    let max = node.buyer("max").await;
    let held = max.hold("blues", &[6]).await.unwrap();
    node.payment()
        .set_faults(Faults {
            timeout_after_charge_rate: 1.0,
            ..Faults::default()
        })
        .await;
    // The charge is made, but its reply is lost, and this client (unlike
    // the library, which retries) gives up.
    let mut raw = BookingServiceClient::connect(format!("http://{}", node.addr))
        .await
        .unwrap();
    let request = max.request(PayBookingRequest {
        booking_id: held.booking_id.clone(),
        card: Some(card(GOOD_CARD)),
    });
    expect_code(
        raw.pay_booking(request).await,
        Code::Unavailable,
        "outcome is unknown",
    );
    node.payment().set_faults(Faults::default()).await;
    // The buyer tries another card: the order's first charge stands, and
    // the booking is confirmed with it; the second card is not charged.
    let paid = max
        .pay(&held.booking_id, &card("5555 5555 5555 4444"))
        .await
        .unwrap();
    assert_eq!(status(&paid), BookingStatus::Confirmed);
    let (_, ledger) = reconciled(&node, &[&max]).await;
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0].card_last4, "4242");
    node.stop().await;
}
