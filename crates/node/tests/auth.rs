//! Accounts and sessions end to end, on one node with its auth service:
//! tokens are verified by the node, revoked by logout and password change,
//! forged ones refused; users touch only their own bookings; logins are
//! throttled; registrations are checked.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use boxoffice_auth::keys::{self, SigningKeys};
use boxoffice_auth::token::{AUDIENCE, Claims, ISSUER, TokenIssuer, TokenKind};
use boxoffice_client::Client;
use common::{ADMIN_EMAIL, Node, expect_code};
use tonic::Code;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn issuer_from(dir: &std::path::Path) -> TokenIssuer {
    TokenIssuer::new(
        SigningKeys::load_or_create(dir).unwrap(),
        ISSUER,
        Duration::from_secs(60),
        Duration::from_secs(60),
    )
}

#[tokio::test]
async fn login_book_logout_then_the_old_token_is_refused() {
    let node = Node::start().await;
    node.admin()
        .await
        .create_show("s1", "Hamlet", 20, 2500, i64::MAX / 2)
        .await
        .unwrap();
    let auth = node.auth();
    let user = auth
        .register("Carol@Example.com", "tulips in the morning rain")
        .await
        .unwrap();
    assert_eq!(user.email, "carol@example.com", "emails are normalised");
    let session = auth
        .login("carol@example.com", "tulips in the morning rain")
        .await
        .unwrap();
    let carol = node.anonymous().with_token(&session.access_token);
    carol.book("s1", &[1]).await.unwrap();
    let me = auth
        .clone_with_token(&session.access_token)
        .who_am_i()
        .await
        .unwrap();
    assert_eq!(
        (me.user_id.as_str(), me.admin),
        (user.user_id.as_str(), false)
    );

    // Refresh gives a working session.
    let refreshed = auth.refresh(&session.refresh_token).await.unwrap();
    node.anonymous()
        .with_token(&refreshed.access_token)
        .book("s1", &[2])
        .await
        .unwrap();

    auth.clone_with_token(&session.access_token)
        .logout()
        .await
        .unwrap();
    for token in [&session.access_token, &refreshed.access_token] {
        let stale = node.anonymous().with_token(token);
        expect_code(
            stale.book("s1", &[3]).await,
            Code::Unauthenticated,
            "log in again",
        );
        expect_code(
            stale.list_bookings(false).await,
            Code::Unauthenticated,
            "log in again",
        );
    }
    expect_code(
        auth.refresh(&session.refresh_token).await,
        Code::Unauthenticated,
        "log in again",
    );
    let show = node
        .anonymous()
        .get_show("s1", 0, 0, false)
        .await
        .unwrap()
        .show
        .unwrap();
    assert_eq!(show.booked, 2, "refused calls changed nothing");
    node.stop().await;
}

#[tokio::test]
async fn forged_expired_and_missing_tokens_are_refused_and_change_nothing() {
    let node = Node::start().await;
    node.admin()
        .await
        .create_show("s1", "Hamlet", 20, 2500, i64::MAX / 2)
        .await
        .unwrap();
    let dave = node.user("dave").await;
    dave.book("s1", &[1]).await.unwrap();
    let me = node
        .auth()
        .login("dave@example.com", common::PASSWORD)
        .await
        .unwrap();
    let claims = |exp: u64| Claims {
        sub: me.user.as_ref().unwrap().user_id.clone(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        exp,
        iat: now(),
        typ: TokenKind::Access,
        ver: 0,
        adm: false,
    };

    let other_keys = tempfile::TempDir::new().unwrap();
    keys::generate(other_keys.path()).unwrap();
    let foreign = issuer_from(other_keys.path())
        .sign(&claims(now() + 60))
        .unwrap();
    let expired = issuer_from(&node.keys).sign(&claims(now() - 3600)).unwrap();
    let mut promoted = serde_json::to_value(claims(now() + 60)).unwrap();
    promoted["adm"] = true.into();
    let parts: Vec<&str> = me.access_token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(promoted.to_string()),
        parts[2]
    );
    let unsigned = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(serde_json::to_string(&claims(now() + 60)).unwrap())
    );
    let refresh_as_access = me.refresh_token.clone();

    for (what, token) in [
        ("another key", Some(foreign)),
        ("expired", Some(expired)),
        ("changed role claim", Some(tampered)),
        ("alg none", Some(unsigned)),
        ("refresh token", Some(refresh_as_access)),
        ("no header", None),
    ] {
        let client = match token {
            Some(t) => node.anonymous().with_token(t),
            None => node.anonymous(),
        };
        let r = client.book("s1", &[2]).await;
        assert_eq!(
            r.as_ref().map_err(tonic::Status::code).unwrap_err(),
            Code::Unauthenticated,
            "{what}: {r:?}"
        );
        let r = client.create_show("s2", "Forged", 10, 100, 1).await;
        assert_eq!(
            r.as_ref().map_err(tonic::Status::code).unwrap_err(),
            Code::Unauthenticated,
            "{what}: {r:?}"
        );
    }
    // A genuine token whose role claim says admin: roles come from the
    // replicated record, so it is still just dave.
    let mut admin_claim = claims(now() + 60);
    admin_claim.adm = true;
    let genuine = issuer_from(&node.keys).sign(&admin_claim).unwrap();
    let r = node
        .anonymous()
        .with_token(genuine)
        .create_show("s2", "Forged", 10, 100, 1)
        .await;
    assert_eq!(r.map_err(|s| s.code()).unwrap_err(), Code::PermissionDenied);

    // Membership changes need an administrator too.
    let r = node.anonymous().remove_node(1).await;
    assert_eq!(r.map_err(|s| s.code()).unwrap_err(), Code::Unauthenticated);
    let r = dave.add_node(7, "127.0.0.1:1").await;
    assert_eq!(r.map_err(|s| s.code()).unwrap_err(), Code::PermissionDenied);

    let shows = node.anonymous().list_shows(false).await.unwrap();
    assert_eq!(shows.len(), 1);
    assert_eq!(shows[0].booked, 1);
    node.stop().await;
}

#[tokio::test]
async fn users_touch_only_their_own_bookings_and_seats_are_capped() {
    let node = Node::start().await;
    let admin = node.admin().await;
    admin
        .create_show("s1", "Hamlet", 50, 2500, i64::MAX / 2)
        .await
        .unwrap();
    let (erin, frank) = (node.user("erin").await, node.user("frank").await);
    let mine = erin.book("s1", &[1, 2]).await.unwrap();
    assert!(frank.list_bookings(false).await.unwrap().is_empty());
    expect_code(
        frank.cancel(&mine.booking_id).await,
        Code::NotFound,
        "not found",
    );
    assert_eq!(erin.list_bookings(false).await.unwrap(), vec![mine.clone()]);

    // The test node caps seats at 6 per customer per show.
    erin.book("s1", &[3, 4, 5, 6]).await.unwrap();
    expect_code(
        erin.book("s1", &[7]).await,
        Code::FailedPrecondition,
        "at most 6",
    );
    erin.cancel(&mine.booking_id).await.unwrap();
    erin.book("s1", &[7, 8]).await.unwrap();
    // Box office staff (administrators) are not capped.
    admin
        .book("s1", &[20, 21, 22, 23, 24, 25, 26, 27])
        .await
        .unwrap();

    // Administrators: only they list users or grant the role.
    let auth = node.auth();
    let frank_session = auth
        .login("frank@example.com", common::PASSWORD)
        .await
        .unwrap();
    let frank_auth = auth.clone_with_token(&frank_session.access_token);
    expect_code(
        frank_auth.list_users().await,
        Code::PermissionDenied,
        "administrator",
    );
    let frank_id = frank_session.user.unwrap().user_id;
    expect_code(
        frank_auth.set_admin(&frank_id, true).await,
        Code::PermissionDenied,
        "administrator",
    );
    let admin_session = auth
        .login(ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await
        .unwrap();
    let admin_auth = auth.clone_with_token(&admin_session.access_token);
    let users = admin_auth.list_users().await.unwrap();
    assert_eq!(users.len(), 3);
    admin_auth.set_admin(&frank_id, true).await.unwrap();
    // Roles come from the replicated record: frank's old token now works as admin.
    node.anonymous()
        .with_token(&frank_session.access_token)
        .create_show("s2", "Frank's", 5, 100, 1)
        .await
        .unwrap();
    let last = admin_session.user.unwrap().user_id;
    admin_auth.set_admin(&frank_id, false).await.unwrap();
    expect_code(
        admin_auth.set_admin(&last, false).await,
        Code::FailedPrecondition,
        "last administrator",
    );
    node.stop().await;
}

#[tokio::test]
async fn registration_is_checked_and_password_changes_revoke_sessions() {
    let node = Node::start().await;
    let auth = node.auth();
    let huge = "x".repeat(100 * 1024);
    let cases: [(&str, &str, Code, &str); 7] = [
        (
            "not-an-email",
            "a long enough password",
            Code::InvalidArgument,
            "@",
        ),
        (
            "a@b",
            "a long enough password",
            Code::InvalidArgument,
            "domain",
        ),
        (
            "gina@example.com",
            "short",
            Code::InvalidArgument,
            "at least 10",
        ),
        (
            "gina@example.com",
            "password123",
            Code::InvalidArgument,
            "common",
        ),
        (
            "gina@example.com",
            "gina@example.com!",
            Code::InvalidArgument,
            "email",
        ),
        ("gina@example.com", &huge, Code::OutOfRange, ""),
        (&huge, "a long enough password", Code::OutOfRange, ""),
    ];
    for (email, password, code, needle) in cases {
        expect_code(auth.register(email, password).await, code, needle);
    }
    auth.register("gina@example.com", "a quiet walk by the river")
        .await
        .unwrap();
    expect_code(
        auth.register("GINA@example.com", "another long password")
            .await,
        Code::AlreadyExists,
        "gina",
    );

    let first = auth
        .login("gina@example.com", "a quiet walk by the river")
        .await
        .unwrap();
    let gina = auth.clone_with_token(&first.access_token);
    expect_code(
        gina.change_password("wrong old password", "a brand new password")
            .await,
        Code::Unauthenticated,
        "wrong email or password",
    );
    let second = gina
        .change_password("a quiet walk by the river", "a brand new password")
        .await
        .unwrap();
    expect_code(gina.who_am_i().await, Code::Unauthenticated, "log in again");
    auth.clone_with_token(&second.access_token)
        .who_am_i()
        .await
        .unwrap();
    expect_code(
        auth.login("gina@example.com", "a quiet walk by the river")
            .await,
        Code::Unauthenticated,
        "wrong",
    );
    auth.login("gina@example.com", "a brand new password")
        .await
        .unwrap();
    node.stop().await;
}

#[tokio::test]
async fn repeated_wrong_passwords_are_slowed_then_refused_for_that_account_only() {
    let node = Node::start().await;
    let auth = node.auth();
    auth.register("henry@example.com", "seven green lanterns glow")
        .await
        .unwrap();
    auth.register("iris@example.com", "marble staircase at dawn")
        .await
        .unwrap();
    // The test auth service allows 2 free failures and refuses at 4.
    let mut slowest = Duration::ZERO;
    for _ in 0..4 {
        let started = std::time::Instant::now();
        expect_code(
            auth.login("henry@example.com", "wrong").await,
            Code::Unauthenticated,
            "wrong email or password",
        );
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest >= Duration::from_millis(250),
        "failures past the free ones are slowed ({slowest:?})"
    );
    expect_code(
        auth.login("henry@example.com", "seven green lanterns glow")
            .await,
        Code::ResourceExhausted,
        "try again in",
    );
    auth.login("iris@example.com", "marble staircase at dawn")
        .await
        .unwrap();

    // Guesses sent all at once cannot outrun the count: at most 4 are tried.
    auth.register("jack@example.com", "copper kettle whistling")
        .await
        .unwrap();
    let guesses = (0..12).map(|i| {
        let auth = node.auth();
        async move { auth.login("jack@example.com", &format!("guess {i}")).await }
    });
    let codes: Vec<Code> = futures::future::join_all(guesses)
        .await
        .into_iter()
        .map(|r| r.unwrap_err().code())
        .collect();
    let tried = codes
        .iter()
        .filter(|c| **c == Code::Unauthenticated)
        .count();
    assert_eq!(tried, 4, "{codes:?}");
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == Code::ResourceExhausted)
            .count(),
        8,
        "{codes:?}"
    );
    node.stop().await;
}

/// `Client::with_token` consumes; tests often need several tokens on one address.
trait CloneWithToken {
    fn clone_with_token(&self, token: &str) -> Client;
}

impl CloneWithToken for Client {
    fn clone_with_token(&self, token: &str) -> Client {
        Client::new(&[self.current_endpoint()])
            .unwrap()
            .with_token(token)
    }
}
