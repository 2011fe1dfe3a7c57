//! Attacks on a node's side doors, each case named for the attack.
//!
//! A node serves clients on one port and its peers on another; the peer
//! port takes only mutual TLS with a certificate of the cluster CA that
//! names a member (or, for the account API, the auth service), and the
//! payment service's v1 API only booking nodes. Every case first shows the
//! door open to the legitimate caller, so a case cannot pass because the
//! call was broken for everyone.

mod common;

use boxoffice_core::{Command, Request, RequestId, UserId};
use boxoffice_proto::internal::v1::account_service_client::AccountServiceClient;
use boxoffice_proto::internal::v1::checkout_relay_client::CheckoutRelayClient;
use boxoffice_proto::internal::v1::raft_service_client::RaftServiceClient;
use boxoffice_proto::internal::v1::{
    ApplyRequest, BackupRequest, ChangeMembershipRequest, ListAccountsRequest, NodeMetricsRequest,
    ProposeRequest, RelayRequest,
};
use boxoffice_proto::v1::booking_service_client::BookingServiceClient;
use boxoffice_proto::v1::payment_service_client::PaymentServiceClient;
use boxoffice_proto::v1::{
    BackupLedgerRequest, ListTransactionsRequest, RefundRequest, VoidRequest, WatchShowRequest,
};
use boxoffice_tls::Identity;
use common::{GOOD_CARD, Node, all_but, card, expect_code, tls_of};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

/// A channel to `addr` presenting `identity`'s certificate from `certs`,
/// expecting the server to be `server`.
fn mutual(certs: &std::path::Path, identity: Identity, addr: &str, server: &str) -> Channel {
    tls_of(certs, identity)
        .endpoint(addr, server)
        .unwrap()
        .connect_lazy()
}

fn node_name() -> String {
    Identity::Node(1).dns_name()
}

/// A trusted-path command: make `user` an administrator, with no caller.
fn set_admin(user: &str) -> Vec<u8> {
    let request = Request {
        request_id: RequestId::from(format!("attack-{user}").as_str()),
        caller: None,
        command: Command::SetAdmin {
            user: UserId(user.to_owned()),
            admin: true,
        },
    };
    postcard::to_allocvec(&request).unwrap()
}

async fn propose(channel: Channel, commands: Vec<Vec<u8>>) -> Result<(), tonic::Status> {
    RaftServiceClient::new(channel)
        .propose(ProposeRequest { commands })
        .await
        .map(drop)
}

fn code<T>(result: Result<T, tonic::Status>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// A plaintext call to a TLS port fails at the transport, before any
/// service sees it (UNAVAILABLE or UNKNOWN with a transport error).
fn refused_at_transport(code: Code) -> bool {
    matches!(code, Code::Unavailable | Code::Unknown | Code::Internal)
}

#[tokio::test]
async fn peer_port_refuses_a_plaintext_client() {
    let node = Node::start().await;
    let plaintext = Endpoint::from_shared(format!("http://{}", node.peer_addr))
        .unwrap()
        .connect_lazy();
    let result = propose(plaintext, vec![]).await;
    assert!(
        refused_at_transport(code(result.clone())),
        "plaintext Propose: {result:?}"
    );
    let member = mutual(
        &node.certs,
        Identity::Node(1),
        &node.peer_addr,
        &node_name(),
    );
    propose(member, vec![]).await.expect("a member may propose");
}

/// A member proposing a command of a format version no build reads would,
/// once in the log, stop every replica's applying: the leader refuses it
/// and goes on applying what comes next.
#[tokio::test]
async fn a_member_cannot_log_a_command_of_an_unknown_format() {
    let node = Node::start().await;
    let member = mutual(
        &node.certs,
        Identity::Node(1),
        &node.peer_addr,
        &node_name(),
    );
    let unknown = vec![boxoffice_core::format::MARKER, 200, 1, 2, 3];
    let refused = propose(member.clone(), vec![unknown])
        .await
        .expect_err("a command of format version 200 was proposed");
    assert!(refused.message().contains("command refused"), "{refused:?}");
    // The node still applies: a command that is judged (and rejected for
    // its missing caller) comes back with its outcome.
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        propose(member, vec![set_admin("u2")]),
    )
    .await
    .expect("the node stopped applying");
    result.expect("a well-formed command after the refused one");
}

#[tokio::test]
async fn peer_port_refuses_a_client_without_a_certificate() {
    let node = Node::start().await;
    let ca = std::fs::read(node.certs.join(boxoffice_tls::CA_CERT_FILE)).unwrap();
    let anonymous = Endpoint::from_shared(format!("https://{}", node.peer_addr))
        .unwrap()
        .tls_config(boxoffice_tls::client_trusting(&ca, Some(&node_name())))
        .unwrap()
        .connect_lazy();
    let result = propose(anonymous, vec![]).await;
    assert!(
        refused_at_transport(code(result.clone())),
        "Propose without a client certificate: {result:?}"
    );
}

#[tokio::test]
async fn peer_port_refuses_a_certificate_of_another_ca() {
    let node = Node::start().await;
    // Another CA issues a certificate with the very name of node 1.
    let other = tempfile::tempdir().unwrap();
    boxoffice_tls::ensure(other.path(), &[Identity::Node(1)], &["127.0.0.1".into()]).unwrap();
    // The forger trusts the real CA, so only the node can refuse the
    // handshake.
    let forged = boxoffice_tls::TlsFiles::in_dir(other.path(), Identity::Node(1));
    let real_ca = std::fs::read(node.certs.join(boxoffice_tls::CA_CERT_FILE)).unwrap();
    let identity = tonic::transport::Identity::from_pem(
        std::fs::read(&forged.cert).unwrap(),
        std::fs::read(&forged.key).unwrap(),
    );
    let config = boxoffice_tls::client_trusting(&real_ca, Some(&node_name())).identity(identity);
    let channel = Endpoint::from_shared(format!("https://{}", node.peer_addr))
        .unwrap()
        .tls_config(config)
        .unwrap()
        .connect_lazy();
    let result = propose(channel, vec![set_admin("u2")]).await;
    assert!(
        refused_at_transport(code(result.clone())),
        "Propose with another CA's certificate: {result:?}"
    );
}

/// A relayed checkout for `buyer` of seat `seat` of show `s`, paid with
/// the good card.
fn relayed_checkout(buyer: &str, seat: u32) -> Vec<u8> {
    let checkout = boxoffice_node::relay::Relayed::new(
        boxoffice_node::checkout::CheckoutRequest {
            caller: boxoffice_core::Caller {
                user: UserId(buyer.to_owned()),
                token_version: 0,
            },
            request_id: RequestId::from(format!("relay-{seat}").as_str()),
            show: boxoffice_core::ShowId("s".into()),
            seats: vec![boxoffice_core::SeatNo(seat)],
            tickets: boxoffice_core::Tickets::default(),
            rules: boxoffice_node::checkout::HoldRules {
                ttl_ms: 60_000,
                max_seats_per_user: 10,
                limits: boxoffice_core::HoldLimits::default(),
            },
        },
        Some(&card(GOOD_CARD)),
    );
    postcard::to_allocvec(&checkout).unwrap()
}

/// Relays `checkouts` as the holder of `channel`'s certificate; the
/// answers in order.
async fn relay(
    channel: Channel,
    checkouts: Vec<Vec<u8>>,
) -> Result<Vec<boxoffice_node::relay::Answer>, tonic::Status> {
    let mut stream = CheckoutRelayClient::new(channel)
        .run(RelayRequest { checkouts })
        .await?
        .into_inner();
    let mut answers = Vec::new();
    while let Some(result) = stream.message().await? {
        answers.push((result.index, postcard::from_bytes(&result.answer).unwrap()));
    }
    answers.sort_by_key(|(index, _)| *index);
    Ok(answers.into_iter().map(|(_, answer)| answer).collect())
}

/// A relayed checkout carries a caller the sender vouches for and a card:
/// only a member of the cluster may send one. Anyone else could book and
/// charge as any account.
#[tokio::test]
async fn only_members_may_relay_a_checkout() {
    let node = Node::with_payments(|_| {}).await;
    let buyer = node.buyer("ann").await;
    node.admin()
        .await
        .create_show("s", "S", 10, 100, common::FAR_FUTURE_MS)
        .await
        .unwrap();
    let member = mutual(
        &node.certs,
        Identity::Node(1),
        &node.peer_addr,
        &node_name(),
    );
    let answers = relay(member.clone(), vec![relayed_checkout(&buyer.id, 1)])
        .await
        .expect("a member may relay");
    assert!(
        matches!(&answers[..], [boxoffice_node::relay::Answer::Booked(b)] if b.user.0 == buyer.id),
        "{answers:?}"
    );
    for identity in all_but(&[Identity::Node(1)]) {
        let channel = mutual(&node.certs, identity, &node.peer_addr, &node_name());
        let result = relay(channel, vec![relayed_checkout(&buyer.id, 2)]).await;
        assert_eq!(code(result), Code::PermissionDenied, "relay as {identity}");
    }
    // Not on the client port at all.
    let client_port = Endpoint::from_shared(format!("http://{}", node.addr))
        .unwrap()
        .connect_lazy();
    let result = relay(client_port, vec![relayed_checkout(&buyer.id, 2)]).await;
    assert_eq!(
        code(result),
        Code::Unimplemented,
        "relay on the client port"
    );
    let seat = buyer.get_seat("s", 2, false).await.unwrap();
    assert_eq!(seat.seat.unwrap().state, 1, "seat 2 is still free");
    // Too many in one call: refused whole.
    let too_many = vec![relayed_checkout(&buyer.id, 3); boxoffice_node::relay::MAX_RELAY_BATCH + 1];
    expect_code(
        relay(member, too_many).await,
        Code::InvalidArgument,
        "at most",
    );
}

#[tokio::test]
async fn peer_port_refuses_a_certificate_that_names_no_member() {
    let node = Node::with_payments(|_| {}).await;
    let buyer = node.buyer("mallory").await;
    for identity in all_but(&[Identity::Node(1)]) {
        let channel = mutual(&node.certs, identity, &node.peer_addr, &node_name());
        let result = propose(channel.clone(), vec![set_admin(&buyer.id)]).await;
        assert_eq!(
            code(result),
            Code::PermissionDenied,
            "Propose as {identity}"
        );
        let result = RaftServiceClient::new(channel)
            .change_membership(ChangeMembershipRequest {
                add: true,
                node_id: 7,
                addr: "192.0.2.7:50071".into(),
            })
            .await;
        assert_eq!(
            code(result),
            Code::PermissionDenied,
            "ChangeMembership as {identity}"
        );
    }
    let created = buyer
        .create_show("mine", "Mine", 10, 100, common::FAR_FUTURE_MS)
        .await;
    assert_eq!(
        code(created),
        Code::PermissionDenied,
        "the buyer stayed an ordinary account"
    );
    let status = node.admin().await.status().await.unwrap();
    assert_eq!(status.nodes.len(), 1, "no node was added: {status:?}");

    // The operator may read a node's metrics, and nothing more.
    let operator = mutual(
        &node.certs,
        Identity::Operator,
        &node.peer_addr,
        &node_name(),
    );
    RaftServiceClient::new(operator)
        .node_metrics(NodeMetricsRequest { with_digest: false })
        .await
        .expect("the operator reads metrics");
    let gateway = mutual(
        &node.certs,
        Identity::Gateway,
        &node.peer_addr,
        &node_name(),
    );
    let result = RaftServiceClient::new(gateway)
        .node_metrics(NodeMetricsRequest { with_digest: true })
        .await;
    assert_eq!(code(result), Code::PermissionDenied);
}

#[tokio::test]
async fn account_api_refuses_every_certificate_but_the_auth_services() {
    let node = Node::start().await;
    for identity in all_but(&[Identity::Auth]) {
        let channel = mutual(&node.certs, identity, &node.peer_addr, &node_name());
        let result = AccountServiceClient::new(channel.clone())
            .list_accounts(ListAccountsRequest {})
            .await;
        assert_eq!(
            code(result),
            Code::PermissionDenied,
            "ListAccounts as {identity}"
        );
        let result = AccountServiceClient::new(channel)
            .apply(ApplyRequest {
                request: set_admin("u2"),
            })
            .await;
        assert_eq!(code(result), Code::PermissionDenied, "Apply as {identity}");
    }
    // The auth service's certificate gets past TLS; without its service
    // token the call is still refused, by the token check.
    let auth = mutual(&node.certs, Identity::Auth, &node.peer_addr, &node_name());
    let result = AccountServiceClient::new(auth)
        .list_accounts(ListAccountsRequest {})
        .await;
    assert_eq!(code(result), Code::Unauthenticated);
}

#[tokio::test]
async fn client_port_serves_no_internal_service() {
    let node = Node::start().await;
    let public = Endpoint::from_shared(format!("http://{}", node.addr))
        .unwrap()
        .connect_lazy();
    assert_eq!(
        code(propose(public.clone(), vec![set_admin("u2")]).await),
        Code::Unimplemented
    );
    let result = RaftServiceClient::new(public.clone())
        .change_membership(ChangeMembershipRequest {
            add: true,
            node_id: 7,
            addr: "192.0.2.7:50071".into(),
        })
        .await;
    assert_eq!(code(result), Code::Unimplemented);
    let result = RaftServiceClient::new(public.clone())
        .node_metrics(NodeMetricsRequest { with_digest: true })
        .await;
    assert_eq!(code(result), Code::Unimplemented);
    let result = AccountServiceClient::new(public.clone())
        .list_accounts(ListAccountsRequest {})
        .await;
    assert_eq!(code(result), Code::Unimplemented);

    // Reflection names the public services only.
    let services = common::reflected_services(public).await;
    assert!(
        services.iter().any(|s| s == "boxoffice.v1.BookingService"),
        "{services:?}"
    );
    let internal: Vec<&String> = services
        .iter()
        .filter(|s| s.contains("internal") || s.contains("Payment") || s.contains("Auth"))
        .collect();
    assert!(internal.is_empty(), "reflection lists {internal:?}");
}

/// A paid node where `eve` has paid for seat 1 of `gala`.
async fn paid_booking() -> (Node, common::Buyer, boxoffice_proto::v1::Booking) {
    let node = Node::with_payments(|_| {}).await;
    node.admin()
        .await
        .create_show("gala", "Gala", 10, 2_500, common::FAR_FUTURE_MS)
        .await
        .unwrap();
    let buyer = node.buyer("eve").await;
    let booking = buyer
        .book("gala", &[1])
        .request_id("eve-1")
        .card(&card(GOOD_CARD))
        .await
        .expect("paid booking");
    assert!(!booking.transaction_id.is_empty(), "{booking:?}");
    (node, buyer, booking)
}

#[tokio::test]
async fn payment_refund_void_and_list_answer_booking_nodes_only() {
    let (node, buyer, booking) = paid_booking().await;
    let payment = node.payment();
    let refund = || RefundRequest {
        transaction_id: booking.transaction_id.clone(),
        ..RefundRequest::default()
    };
    let void = || VoidRequest {
        idempotency_key: booking.order_id.clone(),
    };
    let list = || ListTransactionsRequest {
        user_id: buyer.id.clone(),
    };
    for identity in [Identity::Auth, Identity::Gateway, Identity::Operator] {
        let mut client = payment.client_as(identity);
        assert_eq!(
            code(client.refund(refund()).await),
            Code::PermissionDenied,
            "Refund as {identity}"
        );
        assert_eq!(
            code(client.void(void()).await),
            Code::PermissionDenied,
            "Void as {identity}"
        );
    }
    for identity in [Identity::Auth, Identity::Gateway] {
        let result = payment.client_as(identity).list_transactions(list()).await;
        assert_eq!(code(result), Code::PermissionDenied, "List as {identity}");
    }
    let ledger = payment.ledger(std::slice::from_ref(&buyer.id)).await;
    assert_eq!(ledger.len(), 1, "the operator audits the ledger");
    assert_eq!(
        ledger[0].status,
        boxoffice_proto::v1::TransactionStatus::Succeeded as i32,
        "the charge stands: {ledger:?}"
    );
}

#[tokio::test]
async fn a_user_cannot_refund_their_own_charge_directly() {
    let (node, buyer, booking) = paid_booking().await;
    let refund = RefundRequest {
        transaction_id: booking.transaction_id.clone(),
        ..RefundRequest::default()
    };
    // The port an end user can reach: the v1 API is not there.
    let public = Endpoint::from_shared(format!("http://{}", node.payment().addr))
        .unwrap()
        .connect_lazy();
    let result = PaymentServiceClient::new(public)
        .refund(refund.clone())
        .await;
    assert_eq!(code(result), Code::Unimplemented);
    // The peer port without a certificate: no handshake.
    let plaintext = Endpoint::from_shared(format!("http://{}", node.payment().peer_addr))
        .unwrap()
        .connect_lazy();
    let result = PaymentServiceClient::new(plaintext)
        .refund(refund)
        .await
        .map(drop);
    assert!(refused_at_transport(code(result.clone())), "{result:?}");
    let ledger = node.payment().ledger(std::slice::from_ref(&buyer.id)).await;
    assert_eq!(
        ledger[0].status,
        boxoffice_proto::v1::TransactionStatus::Succeeded as i32,
        "still charged: {ledger:?}"
    );
}

/// A paid node whose customers hold under the given limits, with shows
/// `a`, `b` and `c` of 10 seats.
async fn node_with_hold_limits(held: u32, per_hour: u32, hold_ms: i64) -> Node {
    let node = Node::with_payments_tuned(
        |p| p.hold_ms = hold_ms,
        |c| {
            c.booking.max_held_seats_per_user = held;
            c.booking.max_holds_per_user_per_hour = per_hour;
            c.booking.hold_cooldown_ms = boxoffice_core::DEFAULT_HOLD_COOLDOWN_MS;
        },
    )
    .await;
    let admin = node.admin().await;
    for show in ["a", "b", "c"] {
        admin
            .create_show(show, show, 10, 1_000, common::FAR_FUTURE_MS)
            .await
            .unwrap();
    }
    node
}

#[tokio::test]
async fn one_account_cannot_hold_seats_across_every_show() {
    let node = node_with_hold_limits(4, 0, 600_000).await;
    let mallory = node.buyer("mallory").await;
    mallory.hold("a", &[1, 2]).await.expect("first hold");
    mallory.hold("b", &[1, 2]).await.expect("second hold");
    let third = mallory.hold("c", &[1]).await;
    assert_eq!(code(third), Code::FailedPrecondition, "a fifth held seat");
    let fan = node.buyer("fan").await;
    fan.hold("c", &[1])
        .await
        .expect("another account still holds");
}

#[tokio::test]
async fn holds_started_per_hour_are_limited_with_a_retry_hint() {
    let node = node_with_hold_limits(0, 2, 600_000).await;
    let mallory = node.buyer("mallory").await;
    mallory.hold("a", &[1]).await.unwrap();
    mallory.hold("b", &[1]).await.unwrap();
    let status = mallory.hold("c", &[1]).await.expect_err("a third hold");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let wait: i64 = status
        .metadata()
        .get(boxoffice_proto::convert::RETRY_AFTER_MS)
        .expect("a retry hint")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3_600_000).contains(&wait), "retry after {wait} ms");
}

#[tokio::test]
async fn an_account_cannot_hold_again_the_seats_its_own_hold_let_lapse() {
    let node = node_with_hold_limits(0, 0, 300).await;
    let mallory = node.buyer("mallory").await;
    mallory.hold("a", &[5]).await.unwrap();
    // Once the hold has lapsed and the coordinator released it, holding
    // seat 5 again is refused with a hint (until then it is held).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let refused = loop {
        let again = mallory.hold("a", &[5]).await.expect_err("seat 5 again");
        if again.code() == Code::ResourceExhausted {
            break again;
        }
        assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hold never lapsed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        refused
            .metadata()
            .get(boxoffice_proto::convert::RETRY_AFTER_MS)
            .is_some(),
        "{refused:?}"
    );
    mallory
        .hold("a", &[6])
        .await
        .expect("other seats may be held");
    let fan = node.buyer("fan").await;
    fan.hold("a", &[5])
        .await
        .expect("others may hold the lapsed seat");
}

#[tokio::test]
async fn an_old_clients_payment_cannot_pay_someone_elses_order() {
    use boxoffice_proto::legacy::payment::PaymentRequest;
    use boxoffice_proto::legacy::payment::payment_service_client::PaymentServiceClient as Legacy;
    let node = node_with_hold_limits(0, 0, 600_000).await;
    let mallory = node.buyer("mallory").await;
    let held = mallory.hold("a", &[1, 2]).await.unwrap();
    // The order id is on the customer's own booking; the old API lets the
    // caller choose the charge's correlation id and amount.
    let legacy = Endpoint::from_shared(format!("http://{}", node.payment().addr))
        .unwrap()
        .connect_lazy();
    let one_cent = Legacy::new(legacy)
        .process_payment(PaymentRequest {
            user_id: mallory.id.clone(),
            currency: "EUR".into(),
            amount_cents: 1,
            correlation_id: held.order_id.clone(),
            card_number: "1001".into(),
            ..PaymentRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(one_cent.success, "{}", one_cent.message);
    // Paying the order charges the order's price under its own key, not
    // the old client's cent.
    let paid = mallory
        .pay(&held.booking_id, &card(GOOD_CARD))
        .await
        .unwrap();
    let ledger = node
        .payment()
        .ledger(std::slice::from_ref(&mallory.id))
        .await;
    let charge = ledger
        .iter()
        .find(|t| t.transaction_id == paid.transaction_id)
        .expect("the order's charge");
    assert_eq!(charge.amount_cents, 2_000, "{ledger:?}");
}

/// A `WatchShow` stream from `addr`'s client port, bound to `local` and
/// with a stream window of `window` bytes.
async fn watch_from(
    node: &Node,
    local: std::net::IpAddr,
    window: u32,
) -> Result<tonic::Streaming<boxoffice_proto::v1::ShowUpdate>, tonic::Status> {
    let channel = Endpoint::from_shared(format!("http://{}", node.addr))
        .unwrap()
        .local_address(Some(local))
        .initial_stream_window_size(window)
        .connect_lazy();
    BookingServiceClient::new(channel)
        .watch_show(WatchShowRequest {
            show_id: "big".into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_watch_show_client_that_stops_reading_is_dropped() {
    let node = Node::start_tuned(|c| {
        c.booking.max_watch_streams_per_client = 1;
        c.booking.watch_send_timeout_ms = 300;
    })
    .await;
    let admin = node.admin().await;
    admin
        .create_show("big", "Big", 4_000, 100, common::FAR_FUTURE_MS)
        .await
        .unwrap();
    let me: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let other: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    // A client that never reads, with a 1 KiB window: the first whole map
    // (4,000 seats) already overflows it.
    let stalled = watch_from(&node, me, 1024).await.expect("the first stream");
    // One address, one stream here; another address is not affected.
    let second = watch_from(&node, me, 1 << 20).await;
    assert_eq!(
        code(second),
        Code::ResourceExhausted,
        "a second stream from one address"
    );
    let mut elsewhere = watch_from(&node, other, 1 << 20)
        .await
        .expect("another address watches");
    elsewhere
        .message()
        .await
        .expect("its map")
        .expect("an update");
    // Seats change, updates pile up behind the stalled reader, and within
    // the send timeout it loses its stream: the address may watch again.
    let mut seat = 0;
    common::eventually(std::time::Duration::from_secs(30), || {
        seat += 1;
        let admin = &admin;
        let node = &node;
        async move {
            admin
                .book("big", &[seat])
                .await
                .map_err(|e| e.to_string())?;
            watch_from(node, me, 1 << 20)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
    })
    .await;
    drop(stalled);
}

/// Direct clients cannot take a node's `WatchShow` streams from the
/// gateways: a gateway (its certificate on the peer port) draws on a pool
/// of its own, so the web app's live maps go on when the public pool is
/// full.
#[tokio::test]
async fn direct_watchers_cannot_starve_the_gateways_live_maps() {
    let node = Node::start_tuned(|c| c.booking.max_watch_streams = 2).await;
    node.admin()
        .await
        .create_show("big", "Big", 10, 100, common::FAR_FUTURE_MS)
        .await
        .unwrap();
    let mut held = Vec::new();
    for ip in ["127.0.0.1", "127.0.0.2"] {
        held.push(
            watch_from(&node, ip.parse().unwrap(), 1 << 20)
                .await
                .expect("a direct watcher"),
        );
    }
    assert_eq!(
        code(watch_from(&node, "127.0.0.3".parse().unwrap(), 1 << 20).await),
        Code::ResourceExhausted,
        "the public pool is full"
    );
    let channel = mutual(
        &node.certs,
        Identity::Gateway,
        &node.peer_addr,
        &node_name(),
    );
    let mut live = BookingServiceClient::new(channel)
        .watch_show(WatchShowRequest {
            show_id: "big".into(),
        })
        .await
        .expect("the gateway still watches")
        .into_inner();
    let map = live.message().await.expect("its map").expect("an update");
    assert_eq!(map.seats.len(), 10);
    drop(held);
}

/// A node with a show "big" of 10 seats, and an old client of it.
async fn node_with_a_show_for_old_clients() -> (
    Node,
    boxoffice_proto::legacy::booking::booking_service_client::BookingServiceClient<Channel>,
) {
    let node = Node::start().await;
    node.admin()
        .await
        .create_show("big", "Big", 10, 100, common::FAR_FUTURE_MS)
        .await
        .unwrap();
    let channel = Endpoint::from_shared(format!("http://{}", node.addr))
        .unwrap()
        .connect_lazy();
    let legacy =
        boxoffice_proto::legacy::booking::booking_service_client::BookingServiceClient::new(
            channel,
        );
    (node, legacy)
}

#[tokio::test]
async fn legacy_seat_reads_name_nobody() {
    use boxoffice_proto::legacy::booking::{ListSeatsRequest, QueryRequest};
    let (node, mut legacy) = node_with_a_show_for_old_clients().await;
    let alice = node.user("alice").await;
    alice.book("big", &[3]).await.expect("alice books seat 3");
    let queried = legacy
        .query_seat(QueryRequest {
            show_id: "big".into(),
            seat_id: 3,
        })
        .await
        .unwrap()
        .into_inner();
    let seat = queried.seat.expect("the seat");
    assert!(!queried.available && seat.reserved, "seat 3 reads as taken");
    let listed = legacy
        .list_seats(ListSeatsRequest {
            show_id: "big".into(),
            page_size: 10,
            page_token: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .seats;
    assert_eq!(listed.iter().filter(|s| s.reserved).count(), 1);
    for seat in listed.iter().chain([&seat]) {
        assert_names_nobody(seat);
    }
}

/// Fails if an old client's view of `seat` says who holds it, since when
/// or under which booking.
fn assert_names_nobody(seat: &boxoffice_proto::legacy::booking::Seat) {
    assert_eq!(
        (
            seat.reserved_by.as_str(),
            seat.booking_id.as_str(),
            seat.reserved_at
        ),
        ("", "", 0),
        "seat {} names its booker",
        seat.seat_id
    );
}

#[tokio::test]
async fn one_account_cannot_flood_a_node_with_writes() {
    let node = Node::with_payments_tuned(
        |_| {},
        |c| {
            c.booking.writes_per_user_per_second = 1;
            c.booking.write_burst_per_user = 3;
        },
    )
    .await;
    // Administrators are not paced: twelve shows in a row.
    let admin = node.admin().await;
    let shows: Vec<String> = (0..12).map(|n| format!("s{n}")).collect();
    for show in &shows {
        admin
            .create_show(show, show, 10, 1_000, common::FAR_FUTURE_MS)
            .await
            .expect("an administrator's write");
    }
    let mallory = node.buyer("mallory").await;
    let started = std::time::Instant::now();
    let mut refused = None;
    let mut held = 0u64;
    for show in &shows {
        match mallory.hold(show, &[1]).await {
            Ok(_) => held += 1,
            Err(status) => {
                refused = Some((show.clone(), status));
                break;
            }
        }
    }
    let (show, status) = refused.expect("a flood of holds is never paced");
    // The burst, plus at most one a second of the time the holds took.
    assert!(
        held <= 3 + started.elapsed().as_secs() + 1,
        "{held} holds passed"
    );
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("too many writes"), "{status:?}");
    let wait: u64 = status
        .metadata()
        .get(boxoffice_proto::convert::RETRY_AFTER_MS)
        .expect("a retry hint")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1_000).contains(&wait), "retry after {wait} ms");
    // The refused hold changed nothing, and other accounts write on.
    let fan = node.buyer("fan").await;
    fan.hold(&show, &[1])
        .await
        .expect("the seat mallory was refused is free");
}

#[tokio::test]
async fn a_replayed_legacy_booking_does_not_name_the_seats_new_owner() {
    use boxoffice_proto::legacy::booking::BookRequest;
    let (node, mut legacy) = node_with_a_show_for_old_clients().await;
    let eve = node.user("eve").await;
    let book = BookRequest {
        user_id: eve.token().expect("eve's token").to_owned(),
        seat_id: 5,
        show_id: "big".into(),
        correlation_id: "eve-5".into(),
        payment_token: String::new(),
    };
    let first = legacy.book_seat(book.clone()).await.unwrap().into_inner();
    assert!(first.success, "{first:?}");
    eve.cancel(&first.booking_id).await.expect("eve cancels");
    let alice = node.user("alice").await;
    alice.book("big", &[5]).await.expect("alice books seat 5");
    // Eve replays her correlation id: the stored success comes back, but
    // the seat is Alice's now and must not say so.
    let replayed = legacy.book_seat(book).await.unwrap().into_inner();
    let seat = replayed.seat.expect("the seat");
    assert!(seat.reserved);
    assert_names_nobody(&seat);
}

/// An auth service with a tight per-address login throttle and a port for
/// the gateway, and a gateway that logs users in there with its
/// certificate (both in this process, for `node`); the gateway's URL and
/// the auth service's public address.
async fn gateway_with_throttled_auth(node: &Node) -> (String, String) {
    use boxoffice_auth::config::{AuthConfig, LoginThrottle};
    let public = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public_addr = public.local_addr().unwrap().to_string();
    let for_gateway = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway_port = for_gateway.local_addr().unwrap().to_string();
    let auth = AuthConfig {
        listen: public_addr.clone(),
        nodes: vec![node.peer_addr.clone()],
        certs_dir: node.certs.clone(),
        keys_dir: node.keys.clone(),
        address_throttle: LoginThrottle {
            free_failures: 1,
            max_failures: 3,
            window_secs: 600,
        },
        gateway_listen: Some(gateway_port.clone()),
        ..AuthConfig::default()
    };
    auth.validate().unwrap();
    let listeners = boxoffice_auth::service::Listeners {
        public,
        gateway: Some(for_gateway),
    };
    tokio::spawn(boxoffice_auth::service::run(
        auth,
        listeners,
        std::future::pending(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let gateway = boxoffice_gateway::config::GatewayConfig {
        listen: listener.local_addr().unwrap().to_string(),
        nodes: vec![node.addr.clone()],
        auth: public_addr.clone(),
        auth_gateway: Some(gateway_port),
        node_peers: vec![node.peer_addr.clone()],
        certs_dir: node.certs.clone(),
        ..boxoffice_gateway::config::GatewayConfig::default()
    };
    gateway.validate().unwrap();
    tokio::spawn(boxoffice_gateway::run(
        gateway,
        listener,
        std::future::pending(),
    ));
    (url, public_addr)
}

/// POST /api/login from `from` (a loopback address) with a wrong
/// password for a fresh address each time (so no account's own throttle
/// is reached); the HTTP status.
async fn failed_web_login(url: &str, from: &str, n: usize) -> u16 {
    let browser = reqwest::Client::builder()
        .local_address(from.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let body = format!(r#"{{"email":"nobody{n}@example.com","password":"wrong password"}}"#);
    browser
        .post(format!("{url}/api/login"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the gateway answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn failed_logins_through_the_gateway_lock_out_one_browser_not_every_one() {
    let node = Node::start().await;
    let (url, auth_addr) = gateway_with_throttled_auth(&node).await;
    // Mallory's browser, at 127.0.0.2, guesses until it is refused.
    let mut statuses = Vec::new();
    for n in 0..6 {
        let status = failed_web_login(&url, "127.0.0.2", n).await;
        statuses.push(status);
        if status == 429 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "never throttled: {statuses:?}");
    assert!(statuses.len() <= 4, "throttled late: {statuses:?}");
    // Another browser, at 127.0.0.3, behind the same gateway, still logs in.
    let fan = reqwest::Client::builder()
        .local_address("127.0.0.3".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let login = fan
        .post(format!("{url}/api/login"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"email":"{}","password":"{}"}}"#,
            common::ADMIN_EMAIL,
            common::ADMIN_PASSWORD
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 200, "{:?}", login.text().await);
    // Straight at the auth service, a forwarded address is not believed
    // without the gateway's certificate: Mallory at 127.0.0.2 claiming to
    // be someone else is still Mallory.
    let channel = Endpoint::from_shared(format!("http://{auth_addr}"))
        .unwrap()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .connect()
        .await
        .unwrap();
    let mut auth = boxoffice_proto::v1::auth_service_client::AuthServiceClient::new(channel);
    for n in 10..16 {
        let mut request = tonic::Request::new(boxoffice_proto::v1::LoginRequest {
            email: format!("nobody{n}@example.com"),
            password: "wrong password".into(),
        });
        request.metadata_mut().insert(
            boxoffice_proto::convert::CLIENT_ADDR,
            format!("198.51.100.{n}").parse().unwrap(),
        );
        let status = auth.login(request).await.unwrap_err();
        if status.code() == Code::ResourceExhausted {
            return;
        }
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    panic!("a forged client address escaped the throttle");
}

#[tokio::test]
async fn a_stolen_token_its_owner_revoked_cannot_use_up_their_writes() {
    let node = Node::start_tuned(|c| {
        c.booking.writes_per_user_per_second = 1;
        c.booking.write_burst_per_user = 3;
    })
    .await;
    node.admin()
        .await
        .create_show("s", "S", 10, 100, common::FAR_FUTURE_MS)
        .await
        .unwrap();
    let stolen = node.user("victim").await;
    // The victim logs out everywhere, which revokes the stolen copy too.
    node.auth()
        .with_token(stolen.token().expect("a token"))
        .logout()
        .await
        .expect("logout");
    // The thief's writes are refused for the session, before they count.
    for _ in 0..6 {
        let status = stolen.book("s", &[1]).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    let victim = node.user("victim").await;
    victim
        .book("s", &[2])
        .await
        .expect("the victim's own budget is whole");
}

/// A one-row venue of four seats ("Seats 1-1" to "Seats 1-4"), a
/// production and one performance of it, "perf", at 1,000 cents a seat.
async fn node_with_a_performance() -> Node {
    let node = Node::start().await;
    let admin = node.admin().await;
    let venue = boxoffice_core::Venue::single_row("Hall", 4);
    admin
        .create_venue("hall", boxoffice_proto::convert::venue(&venue))
        .await
        .unwrap();
    admin
        .create_production("play", "The Play", "", 90)
        .await
        .unwrap();
    admin
        .add_performances(boxoffice_proto::v1::AddPerformancesRequest {
            production_id: "play".into(),
            venue_id: "hall".into(),
            performances: vec![boxoffice_proto::v1::NewPerformance {
                show_id: "perf".into(),
                starts_at_ms: common::FAR_FUTURE_MS,
            }],
            pricing: Some(boxoffice_proto::v1::PricingSpec {
                categories: vec![boxoffice_proto::v1::PriceCategory {
                    name: "Standard".into(),
                    rules: vec![boxoffice_proto::v1::PlaceRule {
                        rule: Some(boxoffice_proto::v1::place_rule::Rule::All(true)),
                    }],
                }],
                ticket_types: vec!["adult".into()],
                prices: vec![boxoffice_proto::v1::Price {
                    category: "Standard".into(),
                    ticket_type: "adult".into(),
                    cents: 1_000,
                }],
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    node
}

#[tokio::test]
async fn a_customer_cannot_manage_performances_read_sales_or_return_anothers_tickets() {
    let node = node_with_a_performance().await;
    let admin = node.admin().await;
    let eve = node.user("eve").await;
    // The doors are open to the administrator...
    assert_eq!(admin.sales_report("perf").await.unwrap().sold, 0);
    // ...and shut to a customer, before anything is proposed.
    let venue = boxoffice_proto::convert::venue(&boxoffice_core::Venue::single_row("Mine", 2));
    let denied = |result: Result<(), tonic::Status>| {
        assert_eq!(code(result), Code::PermissionDenied);
    };
    denied(eve.create_venue("mine", venue).await.map(drop));
    denied(eve.create_production("mine", "Mine", "", 0).await.map(drop));
    denied(
        eve.add_performances(boxoffice_proto::v1::AddPerformancesRequest {
            production_id: "play".into(),
            venue_id: "hall".into(),
            performances: vec![boxoffice_proto::v1::NewPerformance {
                show_id: "eves".into(),
                starts_at_ms: common::FAR_FUTURE_MS,
            }],
            ..Default::default()
        })
        .await
        .map(drop),
    );
    denied(eve.cancel_performance("perf").await.map(drop));
    denied(eve.hold_back("perf", &[1], &[], "mine").await.map(drop));
    denied(eve.release_held_back("perf", &[1], &[]).await.map(drop));
    denied(eve.sales_report("perf").await.map(drop));
    denied(eve.production_sales("play").await.map(drop));
    // Nothing changed.
    let show = eve
        .get_show("perf", 0, 1, false)
        .await
        .unwrap()
        .show
        .unwrap();
    assert_eq!((show.state.as_str(), show.held_back), ("on sale", 0));
    assert_eq!(eve.list_productions(false).await.unwrap().len(), 1);

    // Another user's tickets: NOT_FOUND, as for CancelBooking; the owner may.
    let ann = node.user("ann").await;
    let booking = ann.book("perf", &[1, 2]).await.unwrap();
    assert_eq!(
        code(eve.return_tickets(&booking.booking_id, &[1]).await),
        Code::NotFound
    );
    let mine = ann.return_tickets(&booking.booking_id, &[1]).await.unwrap();
    assert_eq!(mine.kept.unwrap().seat_nos, [2]);
    node.stop().await;
}

/// A backup stream's pieces, joined.
async fn collect<T>(mut stream: tonic::Streaming<T>, data: impl Fn(T) -> Vec<u8>) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        bytes.extend(data(chunk));
    }
    bytes
}

#[tokio::test]
async fn only_the_operator_may_take_a_backup() {
    let (node, buyer, _) = paid_booking().await;
    // Every account's hash and every charge: the operator's certificate
    // alone, no other role's (a member node's, the auth service's, the
    // gateway's, the payment service's or the assistant's).
    for identity in all_but(&[Identity::Operator]) {
        let channel = mutual(&node.certs, identity, &node.peer_addr, &node_name());
        let result = RaftServiceClient::new(channel)
            .backup(BackupRequest {})
            .await;
        assert_eq!(code(result), Code::PermissionDenied, "Backup as {identity}");
    }
    for identity in all_but(&[Identity::Operator]) {
        let result = node
            .payment()
            .client_as(identity)
            .backup_ledger(BackupLedgerRequest {})
            .await;
        assert_eq!(
            code(result),
            Code::PermissionDenied,
            "BackupLedger as {identity}"
        );
    }
    // The door is open to the operator.
    let operator = mutual(
        &node.certs,
        Identity::Operator,
        &node.peer_addr,
        &node_name(),
    );
    let stream = RaftServiceClient::new(operator)
        .backup(BackupRequest {})
        .await
        .expect("the operator takes a backup")
        .into_inner();
    let bytes = collect(stream, |c| c.data).await;
    let image: boxoffice_raft::backup::Image = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(
        boxoffice_raft::backup::digest_of(&image.state),
        image.digest
    );
    let ledger = node
        .payment()
        .client_as(Identity::Operator)
        .backup_ledger(BackupLedgerRequest {})
        .await
        .expect("the operator backs up the ledger")
        .into_inner();
    let bytes = collect(ledger, |c| c.data).await;
    let dump: boxoffice_payment::ledger::LedgerDump = postcard::from_bytes(&bytes).unwrap();
    assert!(
        dump.transactions()
            .unwrap()
            .iter()
            .any(|t| t.user_id == buyer.id),
        "the buyer's charge is in the ledger's backup"
    );
}
