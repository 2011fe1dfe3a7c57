//! The caps against bot farms, through the public API of a single-node
//! cluster that takes payments: fifty accounts from one /24 get no more
//! seats of a performance than the cap per network; buyers the gateway
//! vouches for (its certificate, on the peer port) count per browser
//! network; a forwarded address from anyone else is not believed. Many
//! accounts paying with one card get no more than the cap per card, in a
//! one-call checkout or paying a hold, and nothing is charged for what
//! is refused; a checkout retried with another card charges only the card
//! its hold counted.

mod common;

use boxoffice_client::Client;
use boxoffice_client::proto::booking_service_client::BookingServiceClient;
use boxoffice_client::proto::{self as v1, Faults};
use boxoffice_node::NodeConfig;
use boxoffice_node::config::PaymentSettings;
use boxoffice_proto::legacy::booking::BookRequest;
use boxoffice_proto::legacy::booking::booking_service_client::BookingServiceClient as LegacyBooking;
use boxoffice_tls::{ANY_NODE, Identity};
use common::{FAR_FUTURE_MS, GOOD_CARD, Node, card, tls_of};
use tonic::Code;

/// Seats one network may have in one performance, in this test.
const CAP: u32 = 8;

/// A client of the node's peer port presenting `identity`'s certificate,
/// signed in with `token`, saying it acts for a browser at `addr`.
fn vouched(node: &Node, identity: Identity, token: &str, addr: [u8; 4]) -> Client {
    let tls = tls_of(&node.certs, identity).client_for(ANY_NODE);
    Client::with_tls(&[node.peer_addr.as_str()], Some(tls))
        .unwrap()
        .with_token(token)
        .for_client_addr(std::net::IpAddr::from(addr))
}

#[tokio::test]
async fn a_bot_farm_on_one_network_gets_no_more_than_the_cap() {
    let node = node_with_hamlet(
        |_| {},
        |config| {
            config.booking.max_seats_per_user_per_show = 4;
            config.booking.max_seats_per_network_per_show = CAP;
        },
        400,
        0,
    )
    .await;

    // Fifty accounts on one machine (one /24) each try four seats.
    let mut tokens = Vec::new();
    for b in 0..50 {
        tokens.push(bot_token(&node, &format!("bot{b}")).await);
    }
    let bots: Vec<Client> = tokens
        .iter()
        .map(|t| node.anonymous().with_token(t.as_str()))
        .collect();
    let mut got = 0;
    let mut refused = 0;
    for (b, bot) in bots.iter().enumerate() {
        let first = u32::try_from(b).unwrap() * 4 + 1;
        let seats: Vec<u32> = (first..first + 4).collect();
        match bot.book("s1", &seats).await {
            Ok(_) => got += 4,
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert!(
                    status.message().contains("127.0.0.0/24"),
                    "the refusal says why: {status:?}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!(got, CAP, "the farm got {got} seats");
    assert_eq!(refused, 50 - CAP / 4);

    // Saying it is someone else does not help: a forwarded address is
    // ignored on the client port, and on the peer port from any
    // certificate but the gateway's.
    let token = &tokens[49];
    let forged = bots[49]
        .for_client_addr(std::net::IpAddr::from([198, 51, 100, 1]))
        .book("s1", &[150])
        .await;
    assert_network_limit(forged);
    let operator = vouched(&node, Identity::Operator, token, [198, 51, 100, 1])
        .book("s1", &[151])
        .await;
    assert_network_limit(operator);

    // Behind the gateway, buyers count per browser network: ten accounts
    // the farm could not use, each from a network of its own, get their
    // four each.
    for b in 10..20u8 {
        let first = 201 + u32::from(b) * 4;
        let seats: Vec<u32> = (first..first + 4).collect();
        vouched(
            &node,
            Identity::Gateway,
            &tokens[usize::from(b)],
            [10, 0, b, 7],
        )
        .book("s1", &seats)
        .await
        .unwrap_or_else(|e| panic!("buyer {b} from their own network: {e:?}"));
    }
    // And a gateway-vouched browser in the farm's network is the farm.
    let farm = vouched(&node, Identity::Gateway, &tokens[20], [127, 0, 0, 9])
        .book("s1", &[152])
        .await;
    assert_network_limit(farm);
    node.stop().await;
}

#[tokio::test]
async fn many_accounts_paying_with_one_card_get_no_more_than_the_cap() {
    let node = node_with_hamlet(
        |_| {},
        |config| config.booking.max_seats_per_card_per_show = 4,
        40,
        2_500,
    )
    .await;
    let shared = card(GOOD_CARD);
    let mut users = Vec::new();
    let mut got = 0;
    for b in 0..5u32 {
        let (buyer, id) = account(&node, &format!("card{b}")).await;
        users.push(id);
        match buyer
            .book("s1", &[b * 2 + 1, b * 2 + 2])
            .card(&shared)
            .await
        {
            Ok(_) => got += 2,
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert!(
                    status
                        .message()
                        .contains("one card may pay for at most 4 seats"),
                    "the refusal says why: {status:?}"
                );
            }
        }
    }
    assert_eq!(got, 4, "one card paid for {got} seats");

    // Paying a hold with that card is refused before anything is charged,
    // and the hold stays to pay with another card.
    let (late, id) = account(&node, "card-late").await;
    users.push(id);
    let held = late.hold("s1", &[30]).await.expect("hold");
    let refused = late.pay(&held.booking_id, &shared).await;
    match refused {
        Err(status)
            if status
                .message()
                .contains("one card may pay for at most 4 seats") => {}
        other => panic!("expected the card's cap, got {other:?}"),
    }
    let charged = node.payment().ledger(&users).await;
    assert_eq!(
        charged.len(),
        2,
        "only the two paid checkouts were charged: {charged:?}"
    );
    let other = card("5555 5555 5555 4444");
    late.pay(&held.booking_id, &other)
        .await
        .expect("another card pays");
    node.stop().await;
}

/// A one-call checkout whose hold counted one card, retried under its
/// request id with another (deduplication ignores the card, so the retry
/// finds the same hold): the other card is never charged. The counted
/// card's charge confirms the booking if it was made; if not, the retry is
/// refused and nothing is charged, and the hold can be paid with another
/// card only by the card it counted.
#[tokio::test]
async fn a_checkout_retried_with_another_card_charges_only_the_counted_card() {
    let node = node_with_hamlet(
        // One attempt per charge: an unknown outcome is reported at once.
        |settings| settings.charge_timeout_ms = 1,
        |config| config.booking.max_seats_per_card_per_show = 4,
        40,
        2_500,
    )
    .await;
    let (buyer, id) = account(&node, "retrier").await;
    let first = card(GOOD_CARD);
    let other = card("5555 5555 5555 4444");
    let addr = format!("http://{}", node.addr);
    let book = |request_id: &'static str, seat: u32, card: v1::Card| {
        let (buyer, addr) = (&buyer, addr.clone());
        async move {
            let msg = v1::BookSeatsRequest {
                request_id: request_id.into(),
                show_id: "s1".into(),
                seat_nos: vec![seat],
                card: Some(card),
                ..Default::default()
            };
            let mut raw = BookingServiceClient::connect(addr).await.expect("connect");
            raw.book_seats(buyer.request(msg))
                .await
                .map(tonic::Response::into_inner)
        }
    };

    // The provider is down: the hold (counting the first card) stays, and
    // nothing is charged.
    node.payment()
        .set_faults(Faults {
            down: true,
            ..Faults::default()
        })
        .await;
    let unknown = book("r-down", 1, first.clone()).await;
    assert_eq!(unknown.map(|_| ()).unwrap_err().code(), Code::Unavailable);
    node.payment().set_faults(Faults::default()).await;
    let refused = book("r-down", 1, other.clone())
        .await
        .expect_err("another card for the counted hold");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let uncharged = || async {
        node.payment()
            .ledger(std::slice::from_ref(&id))
            .await
            .is_empty()
    };
    assert!(uncharged().await);
    // So is the old clients' API under the same id, whose stand-in card is
    // not counted: the state, not the retry, says which card the hold took.
    let mut legacy = LegacyBooking::new(
        tonic::transport::Endpoint::from_shared(addr.clone())
            .expect("the node's address")
            .connect_lazy(),
    );
    let old_client = legacy
        .book_seat(BookRequest {
            user_id: bot_token(&node, "retrier").await,
            seat_id: 1,
            show_id: "s1".into(),
            correlation_id: "r-down".into(),
            payment_token: String::new(),
        })
        .await
        .expect("the legacy API answers")
        .into_inner();
    assert!(!old_client.success, "{old_client:?}");
    assert!(
        old_client.message.contains("another card"),
        "refused for the card: {old_client:?}"
    );
    assert!(uncharged().await);
    // The counted card still pays for it.
    book("r-down", 1, first.clone())
        .await
        .expect("the counted card pays");

    // The first card's charge was made but its reply lost: the retry with
    // another card confirms the booking with that charge.
    node.payment()
        .set_faults(Faults {
            timeout_after_charge_rate: 1.0,
            ..Faults::default()
        })
        .await;
    let lost = book("r-lost", 2, first.clone()).await;
    assert_eq!(lost.map(|_| ()).unwrap_err().code(), Code::Unavailable);
    node.payment().set_faults(Faults::default()).await;
    book("r-lost", 2, other.clone())
        .await
        .expect("confirmed with the first charge");

    let charged = node.payment().ledger(&[id]).await;
    assert_eq!(charged.len(), 2, "{charged:?}");
    assert!(
        charged.iter().all(|tx| tx.card_last4 == "4242"),
        "only the counted card was charged: {charged:?}"
    );
    node.stop().await;
}

/// A node that takes payments, tuned by `payments` and `config`, with show
/// `s1` ("Hamlet") of `seats` seats at `price_cents`.
async fn node_with_hamlet(
    payments: impl FnOnce(&mut PaymentSettings),
    config: impl FnOnce(&mut NodeConfig),
    seats: u32,
    price_cents: i64,
) -> Node {
    let node = Node::with_payments_tuned(payments, config).await;
    node.admin()
        .await
        .create_show("s1", "Hamlet", seats, price_cents, FAR_FUTURE_MS)
        .await
        .expect("create show");
    node
}

/// A client of the node signed in as `name`, and the account's id.
async fn account(node: &Node, name: &str) -> (Client, String) {
    let token = bot_token(node, name).await;
    let me = node
        .auth()
        .with_token(token.as_str())
        .who_am_i()
        .await
        .expect("who am I");
    (node.anonymous().with_token(token.as_str()), me.user_id)
}

/// An access token of `name` (registered on first use).
async fn bot_token(node: &Node, name: &str) -> String {
    let email = format!("{name}@example.com");
    if let Err(e) = node.auth().register(&email, common::PASSWORD).await {
        assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    }
    node.auth()
        .login(&email, common::PASSWORD)
        .await
        .unwrap()
        .access_token
}

#[track_caller]
fn assert_network_limit<T: std::fmt::Debug>(result: Result<T, tonic::Status>) {
    match result {
        Err(status) if status.message().contains("127.0.0.0/24") => {}
        other => panic!("expected the farm network's cap, got {other:?}"),
    }
}
