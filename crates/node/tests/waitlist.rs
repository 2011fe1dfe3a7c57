//! Waiting lists through the public API of a single-node cluster that
//! takes payments: buyers join a sold-out performance's list; a
//! cancellation offers the freed seats to the first entry they fit,
//! whose waiting call hears it at once; the offer is paid like any hold;
//! bad requests are refused with the reason and change nothing.

mod common;

use std::time::Duration;

use boxoffice_client::proto as v1;
use common::{FAR_FUTURE_MS, GOOD_CARD, Node, card, expect_code};
use tonic::Code;

fn standing(list: &v1::WaitingListResponse) -> v1::ListStanding {
    list.you.clone().unwrap_or_default()
}

#[tokio::test]
async fn a_freed_seat_goes_to_the_first_entry_it_fits_and_is_paid() {
    let node = Node::with_payments(|_| {}).await;
    let admin = node.admin().await;
    admin
        .create_show("s1", "Hamlet", 3, 2_500, FAR_FUTURE_MS)
        .await
        .expect("create show");
    let ann = node.user("ann").await;
    let bob = node.user("bob").await;
    let cat = node.user("cat").await;

    // While seats are free, joining is refused: book them.
    expect_code(
        bob.join_waiting_list("s1", 1, "").await,
        Code::FailedPrecondition,
        "book them instead",
    );
    // Ann buys the whole house.
    ann.book("s1", &[1, 2, 3])
        .card(&card(GOOD_CARD))
        .await
        .expect("ann books");

    // Bad requests are refused and change nothing.
    expect_code(
        bob.join_waiting_list("s1", 0, "").await,
        Code::InvalidArgument,
        "1 to 10 seats",
    );
    expect_code(
        bob.join_waiting_list("s1", 1, "Gods").await,
        Code::InvalidArgument,
        "no price category",
    );
    expect_code(
        bob.join_waiting_list("nope", 1, "").await,
        Code::NotFound,
        "nope",
    );
    expect_code(
        bob.join_waiting_list("bad id", 1, "").await,
        Code::InvalidArgument,
        "show_id",
    );
    expect_code(
        node.anonymous().join_waiting_list("s1", 1, "").await,
        Code::Unauthenticated,
        "",
    );
    let empty = bob
        .waiting_list("s1", Duration::ZERO)
        .await
        .expect("bob looks");
    assert_eq!(standing(&empty).status, "outside");
    assert_eq!(empty.list.unwrap_or_default().waiting, 0);

    // Cat wants two, Bob one; Cat came first.
    let joined = cat.join_waiting_list("s1", 2, "").await.expect("cat joins");
    assert_eq!(standing(&joined).position, 1);
    let joined = bob.join_waiting_list("s1", 1, "").await.expect("bob joins");
    assert_eq!(standing(&joined).status, "waiting");
    assert_eq!(standing(&joined).position, 2);
    let again = bob.join_waiting_list("s1", 3, "").await.expect("again");
    assert_eq!(
        standing(&again).quantity,
        1,
        "joining again keeps the entry"
    );

    // Bob waits; Ann returns one ticket. One seat does not fit Cat's two,
    // so it is Bob's, and his waiting call answers with the offer.
    // (Either order must answer "offered": the pause only makes it likely
    // that the call is already waiting when the seat is freed.)
    let booking = ann.list_bookings(false).await.expect("list")[0].clone();
    let (heard, returned) = tokio::join!(bob.waiting_list("s1", Duration::from_secs(10)), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        ann.return_tickets(&booking.booking_id, &[2]).await
    });
    returned.expect("ann returns seat 2");
    let heard = heard.expect("bob's waiting call");
    let you = standing(&heard);
    assert_eq!(you.status, "offered", "{heard:?}");
    let offer = you.offer.expect("the offer's booking");
    assert_eq!(offer.seat_nos, [2]);
    assert_eq!(offer.total_cents, 2_500);
    let cat_sees = cat.waiting_list("s1", Duration::ZERO).await.expect("cat");
    assert_eq!(standing(&cat_sees).status, "waiting");
    assert_eq!(standing(&cat_sees).position, 1);

    // Nobody else may take the offered seat; Bob pays it.
    expect_code(
        cat.hold("s1", &[2]).await,
        Code::FailedPrecondition,
        "already taken",
    );
    let paid = bob
        .pay(&offer.booking_id, &card(GOOD_CARD))
        .await
        .expect("bob pays");
    assert_eq!(paid.status, v1::BookingStatus::Confirmed as i32);
    let after = bob.waiting_list("s1", Duration::ZERO).await.expect("bob");
    assert_eq!(standing(&after).status, "outside");
    assert_eq!(after.list.unwrap_or_default().bought_total, 1);

    // Cat leaves; leaving again changes nothing.
    for _ in 0..2 {
        let left = cat.leave_waiting_list("s1").await.expect("cat leaves");
        assert_eq!(standing(&left).status, "outside");
        assert_eq!(left.list.unwrap_or_default().waiting, 0);
    }
}

#[tokio::test]
async fn a_cluster_without_payments_keeps_no_waiting_lists() {
    let node = Node::start().await;
    let admin = node.admin().await;
    admin
        .create_show("s1", "Hamlet", 1, 0, FAR_FUTURE_MS)
        .await
        .expect("create show");
    let ann = node.user("ann").await;
    ann.book("s1", &[1]).await.expect("ann books");
    let bob = node.user("bob").await;
    expect_code(
        bob.join_waiting_list("s1", 1, "").await,
        Code::FailedPrecondition,
        "takes no payments",
    );
}
