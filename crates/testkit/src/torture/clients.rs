//! The run's clients: registered buyers booking and reading the hot
//! show through the whole checkout, and the probes that measure
//! recovery after a fault; every call is recorded in the history.

use super::*;

/// A user whose bookings the checks read.
#[derive(Clone)]
pub(super) struct Account {
    pub(super) user_id: String,
    pub(super) email: String,
    pub(super) password: String,
}

/// A registered user's client.
pub(super) struct Buyer {
    pub(super) email: String,
    pub(super) password: String,
    pub(super) user_id: String,
    pub(super) client: Client,
    pub(super) logged_in: Instant,
}

/// A fresh access token for `email`.
pub(super) async fn login(
    cluster: &Cluster,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let auth = Client::new(&[cluster.auth_addr.as_str()])?;
    Ok(auth.login(email, password).await?.access_token)
}

pub(super) async fn register(cluster: &Cluster, email: &str) -> anyhow::Result<Buyer> {
    let auth = Client::new(&[cluster.auth_addr.as_str()])?;
    let password = "torture-password-1";
    let deadline = Instant::now() + Duration::from_secs(30);
    let user = loop {
        match auth.register(email, password).await {
            Ok(user) => break user,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!("register {email}: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e).context(format!("registering {email}")),
        }
    };
    // With `--unsafe-stale-reads` the login's account lookup may reach a
    // replica that has not applied the registration yet: retry it too.
    let token = loop {
        match login(cluster, email, password).await {
            Ok(token) => break token,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!("login {email}: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e).context(format!("logging in {email}")),
        }
    };
    Ok(Buyer {
        email: email.into(),
        password: password.into(),
        user_id: user.user_id,
        client: Client::new(&cluster.endpoints())?
            .with_token(token)
            .with_deadline(OP_DEADLINE),
        logged_in: Instant::now(),
    })
}

/// Logs `buyer` in again if its session is getting old (at 10 of its 15
/// minutes); a failed attempt is retried 30 s later, not on every call.
pub(super) async fn refresh(cluster: &Cluster, buyer: &mut Buyer) {
    if buyer.logged_in.elapsed() < RELOGIN_EVERY {
        return;
    }
    let renewed = match login(cluster, &buyer.email, &buyer.password).await {
        Ok(token) => Client::new(&cluster.endpoints())
            .map(|c| c.with_token(token))
            .map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    match renewed {
        Ok(client) => {
            buyer.client = client.with_deadline(OP_DEADLINE);
            buyer.logged_in = Instant::now();
        }
        Err(e) => {
            tracing::warn!(
                "renewing the session of {}: {e}; again in 30 s",
                buyer.email
            );
            buyer.logged_in += Duration::from_secs(30);
        }
    }
}

/// The show that is hot at `elapsed`.
pub(super) fn hot_show(elapsed: Duration, shows: usize) -> String {
    let i = (elapsed.as_secs() / SHOW_WINDOW.as_secs()) as usize % shows;
    format!("t{i}")
}

/// What every client of a run shares.
pub(super) struct Shared {
    pub(super) cluster: Arc<Cluster>,
    pub(super) history: Arc<History>,
    /// Seats recently bought, for reads to look at.
    pub(super) recent: AsyncMutex<Vec<(String, u32)>>,
    pub(super) shows: usize,
    pub(super) stop: AtomicBool,
    pub(super) started: Instant,
}

/// One client's loop: books (paid) and reads seats of the hot show until
/// `stop`.
pub(super) async fn client_loop(shared: Arc<Shared>, mut buyer: Buyer, seed: u64) {
    let Shared {
        cluster,
        history,
        recent,
        shows,
        stop,
        started,
    } = &*shared;
    let shows = *shows;
    let mut rng = Rng::new(seed);
    while !stop.load(Ordering::Relaxed) {
        refresh(cluster, &mut buyer).await;
        let show = hot_show(started.elapsed(), shows);
        let invoked_us = history.now_us();
        let (action, outcome) = if rng.below(100) < 35 {
            // Half the reads look at a seat someone just bought.
            let picked = {
                let recent = recent.lock().await;
                (!recent.is_empty() && rng.below(2) == 0)
                    .then(|| recent[rng.below(recent.len() as u64) as usize].clone())
            };
            let (show, seat) = picked.unwrap_or((show, 1 + rng.below(u64::from(SEATS)) as u32));
            let outcome = match buyer.client.get_seat(&show, seat, false).await {
                Ok(reply) => Outcome::Seat {
                    booked: reply
                        .seat
                        .is_some_and(|s| s.state == v1::SeatState::Booked as i32),
                },
                Err(status) => Outcome::from_status(&status),
            };
            (Action::Read { show, seat }, outcome)
        } else {
            let first = 1 + rng.below(u64::from(SEATS)) as u32;
            let seats = if first < SEATS && rng.below(4) == 0 {
                vec![first, first + 1]
            } else {
                vec![first]
            };
            let request_id = uuid::Uuid::new_v4().to_string();
            let result = buyer
                .client
                .book(&show, &seats)
                .request_id(&request_id)
                .card(&card())
                .await;
            let outcome = booking_outcome(result);
            if matches!(outcome, Outcome::Booked { .. }) {
                let mut recent = recent.lock().await;
                for seat in &seats {
                    if recent.len() >= 64 {
                        recent.remove(0);
                    }
                    recent.push((show.clone(), *seat));
                }
            }
            (
                Action::Book {
                    show,
                    seats,
                    request_id,
                },
                outcome,
            )
        };
        history.record(Op {
            client: buyer.user_id.clone(),
            invoked_us,
            completed_us: history.now_us(),
            action,
            outcome,
        });
    }
}

/// The outcome of a paid booking call.
pub(super) fn booking_outcome(result: Result<v1::Booking, tonic::Status>) -> Outcome {
    match result {
        Ok(b) if b.status == v1::BookingStatus::Confirmed as i32 => Outcome::Booked {
            booking_id: b.booking_id,
        },
        Ok(b) => Outcome::Unknown {
            code: "NotConfirmed".into(),
            message: format!(
                "booking {} came back with status {}",
                b.booking_id, b.status
            ),
        },
        Err(status) => Outcome::from_status(&status),
    }
}

/// Books the next seat of the probe show through `client` as `user`,
/// records the attempt, and says whether it was confirmed.
pub(super) async fn probe_booking(
    client: &Client,
    user: &str,
    history: &History,
    next_seat: &mut u32,
) -> bool {
    let seat = *next_seat;
    *next_seat += 1;
    let request_id = uuid::Uuid::new_v4().to_string();
    let invoked_us = history.now_us();
    let outcome = booking_outcome(
        client
            .book("probe", &[seat])
            .request_id(&request_id)
            .card(&card())
            .await,
    );
    let booked = matches!(outcome, Outcome::Booked { .. });
    history.record(Op {
        client: user.to_owned(),
        invoked_us,
        completed_us: history.now_us(),
        action: Action::Book {
            show: "probe".into(),
            seats: vec![seat],
            request_id,
        },
        outcome,
    });
    booked
}

/// Books fresh seats of the probe show as the administrator until one is
/// confirmed; returns how long that took.
pub(super) async fn probe_write(
    cluster: &Cluster,
    admin: &mut Buyer,
    history: &History,
    next_seat: &mut u32,
    within: Duration,
) -> Option<Duration> {
    refresh(cluster, admin).await;
    let started = Instant::now();
    let client = admin
        .client
        .for_token(admin.client.token())
        .with_deadline(Duration::from_secs(3));
    while started.elapsed() < within {
        if probe_booking(&client, &admin.user_id, history, next_seat).await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// A few checkouts sent to node `id` alone, until it dies (recorded like
/// any booking).
pub(super) async fn trigger_checkouts(
    cluster: &Cluster,
    admin: &mut Buyer,
    history: &History,
    id: u64,
    next_seat: &mut u32,
) {
    refresh(cluster, admin).await;
    let Ok(pinned) = Client::new(&[cluster.nodes[&id].to_string()]) else {
        return;
    };
    let pinned = pinned
        .with_optional_token(admin.client.token())
        .with_deadline(Duration::from_secs(3));
    for _ in 0..3 {
        probe_booking(&pinned, &admin.user_id, history, next_seat).await;
        if !cluster.running(&format!("node{id}")) {
            return;
        }
    }
}
