//! A client written against the old system's contract (the `auth`,
//! `booking`, `payment` and `chatbot` packages of proto/legacy), as the
//! old CLI and scripts use it, against a development cluster of real node
//! processes: the default administrator adds a show, 30 users race for one
//! seat through the three nodes, seats are paged and queried, a declined
//! card books nothing and charges nothing, the leader dies and booking goes
//! on, and the chatbot answers with an old intent label.

mod common;

use std::time::{Duration, Instant};

use boxoffice_client::proto::ListTransactionsRequest;
use boxoffice_proto::legacy::auth::auth_service_client::AuthServiceClient;
use boxoffice_proto::legacy::auth::{LoginRequest, RegisterRequest, ValidateSessionRequest};
use boxoffice_proto::legacy::booking::booking_service_client::BookingServiceClient;
use boxoffice_proto::legacy::booking::{
    AddShowRequest, BookRequest, BookResponse, ListSeatsRequest, ListShowsRequest, QueryRequest,
};
use boxoffice_proto::legacy::chatbot::AskRequest;
use boxoffice_proto::legacy::chatbot::chatbot_client::ChatbotClient;
use boxoffice_proto::legacy::payment::payment_service_client::PaymentServiceClient;
use boxoffice_proto::legacy::payment::{PaymentRequest, QueryTransactionRequest};
use common::{Chatbot, Cluster, DEV_ADMIN};
use tonic::transport::Channel;

const OLD_LABELS: [&str; 7] = [
    "booking",
    "query_seat",
    "payment",
    "account",
    "cancellation",
    "show_info",
    "help_general",
];

async fn channel(addr: &str) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("address")
        .connect()
        .await
        .expect("connect")
}

/// Logs in through the legacy auth service; returns (token, user id).
async fn login(
    auth: &mut AuthServiceClient<Channel>,
    email: &str,
    password: &str,
) -> (String, String) {
    let reply = auth
        .login(LoginRequest {
            email: email.into(),
            password: password.into(),
        })
        .await
        .expect("login call")
        .into_inner();
    assert!(reply.success, "login {email}: {}", reply.message);
    let session = reply.session.expect("a session");
    (session.token, session.user_id)
}

/// `QuerySeat` for seat `seat` of the test show.
async fn query_seat(
    booking: &mut BookingServiceClient<Channel>,
    seat: i32,
) -> boxoffice_proto::legacy::booking::QueryResponse {
    let request = QueryRequest {
        show_id: "legacy-show".into(),
        seat_id: seat,
    };
    booking
        .query_seat(request)
        .await
        .expect("query")
        .into_inner()
}

/// Books like the old clients: node after node until one gives an answer
/// that is final (success, or a refusal that is not about the leader).
async fn book_like_the_old_client(nodes: &[String], request: BookRequest) -> BookResponse {
    for round in 0..20 {
        for addr in nodes {
            let Ok(channel) = Channel::from_shared(format!("http://{addr}"))
                .expect("address")
                .connect()
                .await
            else {
                continue;
            };
            match BookingServiceClient::new(channel)
                .book_seat(request.clone())
                .await
            {
                Ok(reply) => {
                    let reply = reply.into_inner();
                    if reply.success || !reply.message.contains("not the Raft leader") {
                        return reply;
                    }
                }
                Err(status)
                    if matches!(
                        status.code(),
                        tonic::Code::FailedPrecondition | tonic::Code::Unavailable
                    ) => {}
                Err(status) => panic!("booking failed with {status:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(100 * (round + 1))).await;
    }
    panic!("no node booked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_old_clients_work_unmodified() {
    let cluster = Cluster::start_development().await;
    let chatbot = Chatbot::start(&cluster).await;
    let nodes: Vec<String> = cluster.addrs.values().cloned().collect();
    let mut auth = AuthServiceClient::new(channel(&cluster.auth_addr).await);

    // The default administrator (created once the cluster is up) adds a
    // 10-seat show.
    cluster.token("admin").await;
    let (admin_token, _) = login(&mut auth, DEV_ADMIN.0, DEV_ADMIN.1).await;
    let mut booking = BookingServiceClient::new(channel(&nodes[0]).await);
    let added = booking
        .add_show(AddShowRequest {
            user_id: admin_token.clone(),
            show_id: "legacy-show".into(),
            total_seats: 10,
            price_cents: 1_200,
        })
        .await
        .expect("add show")
        .into_inner();
    assert!(added.success, "{}", added.message);
    // A customer may not; adding again updates.
    let again = booking
        .add_show(AddShowRequest {
            user_id: admin_token.clone(),
            show_id: "legacy-show".into(),
            total_seats: 10,
            price_cents: 1_500,
        })
        .await
        .expect("update show")
        .into_inner();
    assert!(again.success, "{}", again.message);

    // 30 users (registering twice is harmless), all racing for seat 1.
    let mut tokens = Vec::new();
    for i in 0..30 {
        let email = format!("user{i}@example.com");
        for _ in 0..2 {
            let registered = auth
                .register(RegisterRequest {
                    email: email.clone(),
                    password: format!("pass{i}"),
                })
                .await
                .expect("register call")
                .into_inner();
            let _ = registered.success;
        }
        tokens.push(login(&mut auth, &email, &format!("pass{i}")).await);
    }
    let validated = auth
        .validate_session(ValidateSessionRequest {
            token: tokens[0].0.clone(),
        })
        .await
        .expect("validate")
        .into_inner();
    assert!(validated.valid);
    assert_eq!(validated.user_id, tokens[0].1);
    let forged = auth
        .validate_session(ValidateSessionRequest {
            token: "forged".into(),
        })
        .await
        .expect("validate")
        .into_inner();
    assert!(!forged.valid);
    let customer = booking
        .add_show(AddShowRequest {
            user_id: tokens[0].0.clone(),
            show_id: "sneaky".into(),
            total_seats: 5,
            price_cents: 1,
        })
        .await
        .expect("add show call")
        .into_inner();
    assert!(!customer.success, "customers may not add shows");

    let race = tokens.iter().enumerate().map(|(i, (token, _))| {
        let nodes = nodes.clone();
        let request = BookRequest {
            user_id: token.clone(),
            seat_id: 1,
            show_id: "legacy-show".into(),
            correlation_id: format!("race-{i}"),
            payment_token: format!("{}", 1000 + i),
        };
        let node = nodes[i % nodes.len()].clone();
        async move {
            let rotated: Vec<String> = std::iter::once(node).chain(nodes.into_iter()).collect();
            book_like_the_old_client(&rotated, request).await
        }
    });
    let replies = futures::future::join_all(race).await;
    let winners: Vec<&BookResponse> = replies.iter().filter(|r| r.success).collect();
    assert_eq!(winners.len(), 1, "{replies:?}");
    for reply in replies.iter().filter(|r| !r.success) {
        assert!(
            reply.message.contains("already reserved"),
            "{}",
            reply.message
        );
    }
    let winner = winners[0];
    let seat = winner.seat.clone().expect("the seat");
    assert!(seat.reserved);
    assert_eq!(seat.price_cents, 1_500);

    // Paging, querying and counting.
    let mut seen = Vec::new();
    let mut token = 0;
    loop {
        let page = booking
            .list_seats(ListSeatsRequest {
                show_id: "legacy-show".into(),
                page_size: 4,
                page_token: token,
            })
            .await
            .expect("list seats")
            .into_inner();
        seen.extend(page.seats);
        if page.next_page_token == 0 {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen.iter().map(|s| s.seat_id).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(seen.iter().filter(|s| s.reserved).count(), 1);
    let query = query_seat(&mut booking, 1).await;
    assert!(!query.available);
    // Anyone may read seats: reserved or not, never by whom.
    let queried = query.seat.expect("seat");
    assert!(queried.reserved);
    assert_eq!(
        (
            queried.reserved_by.as_str(),
            queried.reserved_at,
            queried.booking_id.as_str()
        ),
        ("", 0, ""),
        "a public read names nobody"
    );
    assert!(
        seen.iter()
            .all(|s| s.reserved_by.is_empty() && s.booking_id.is_empty() && s.reserved_at == 0),
        "ListSeats names nobody: {seen:?}"
    );
    let free = query_seat(&mut booking, 2).await;
    assert!(free.available);

    // A declined card: a failure that mentions payment, no seat, no charge.
    let (token, user) = tokens
        .iter()
        .find(|(_, user)| *user != seat.reserved_by)
        .cloned()
        .expect("a user who lost the race");
    let declined = book_like_the_old_client(
        &nodes,
        BookRequest {
            user_id: token.clone(),
            seat_id: 2,
            show_id: "legacy-show".into(),
            correlation_id: "declined-1".into(),
            payment_token: "9999".into(),
        },
    )
    .await;
    assert!(!declined.success);
    assert!(declined.message.contains("payment"), "{}", declined.message);
    let seat_2 = query_seat(&mut booking, 2).await;
    assert!(seat_2.available, "no seat taken");
    let payments = Channel::from_shared(format!(
        "http://{}",
        cluster.payment_addr.as_ref().expect("payment")
    ))
    .expect("address")
    .connect_lazy();
    let ledger = cluster
        .payment_client()
        .list_transactions(ListTransactionsRequest {
            user_id: user.clone(),
        })
        .await
        .expect("ledger")
        .into_inner()
        .transactions;
    assert!(
        ledger
            .iter()
            .all(|t| t.status != boxoffice_client::proto::TransactionStatus::Succeeded as i32),
        "no charge recorded: {ledger:?}"
    );

    let shows = booking
        .list_shows(ListShowsRequest {})
        .await
        .expect("shows")
        .into_inner()
        .shows;
    let show = shows
        .iter()
        .find(|s| s.show_id == "legacy-show")
        .expect("listed");
    assert_eq!(
        (show.total_seats, show.available_seats, show.booked_seats),
        (10, 9, 1)
    );

    // The legacy payment service, directly.
    let mut legacy_payment = PaymentServiceClient::new(payments);
    let paid = legacy_payment
        .process_payment(PaymentRequest {
            user_id: user.clone(),
            currency: "EUR".into(),
            amount_cents: 500,
            correlation_id: "legacy-pay-1".into(),
            card_number: "1001".into(),
            ..PaymentRequest::default()
        })
        .await
        .expect("pay")
        .into_inner();
    assert!(paid.success, "{}", paid.message);
    let refused = legacy_payment
        .process_payment(PaymentRequest {
            user_id: user.clone(),
            amount_cents: 500,
            correlation_id: "legacy-pay-2".into(),
            card_number: "9999".into(),
            ..PaymentRequest::default()
        })
        .await
        .expect("pay")
        .into_inner();
    assert!(!refused.success && refused.message.contains("declined"));
    let found = legacy_payment
        .query_transaction(QueryTransactionRequest {
            transaction_id: paid.transaction_id.clone(),
        })
        .await
        .expect("query")
        .into_inner();
    assert_eq!(
        (found.status.as_str(), found.amount_cents),
        ("SUCCEEDED", 500)
    );

    // The leader dies; booking goes on through the other nodes.
    let leader = cluster.leader().await;
    cluster.kill(leader);
    let started = Instant::now();
    let after = book_like_the_old_client(
        &nodes,
        BookRequest {
            user_id: token.clone(),
            seat_id: 3,
            show_id: "legacy-show".into(),
            correlation_id: "after-failover".into(),
            payment_token: "4242".into(),
        },
    )
    .await;
    assert!(after.success, "{}", after.message);
    println!("booked {:?} after the leader's death", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(15));

    // The legacy chatbot answers with an old label.
    let mut chat = ChatbotClient::new(channel(&chatbot.addr).await);
    let answer = chat
        .ask(AskRequest {
            user_id: String::new(),
            text: "is seat 4 free for legacy-show?".into(),
            session_id: "old-1".into(),
            ..AskRequest::default()
        })
        .await
        .expect("ask")
        .into_inner();
    assert!(
        OLD_LABELS.contains(&answer.intent.as_str()),
        "{}",
        answer.intent
    );
    assert!(
        answer.reply_text.contains("seat 4 is free"),
        "{}",
        answer.reply_text
    );
}
