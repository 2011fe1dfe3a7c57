//! The replicas at rest: convergence (the same applied index and state
//! digest everywhere), every node's bookings, the ledger, and the checks
//! over them (rules 1-6).

use super::*;

/// Every booking of `users`, read from node `id` alone (stale: its own
/// replica, which must have caught up).
pub(super) async fn bookings_on(
    cluster: &Cluster,
    id: u64,
    tokens: &[String],
) -> anyhow::Result<Vec<v1::Booking>> {
    let addr = cluster.nodes[&id].to_string();
    let mut all = Vec::new();
    for token in tokens {
        let pinned = Client::new(&[addr.as_str()])?
            .with_token(token.clone())
            .with_deadline(Duration::from_secs(10));
        all.extend(pinned.list_bookings(true).await?);
    }
    all.sort_by(|a, b| a.booking_id.cmp(&b.booking_id));
    Ok(all)
}

/// The payment ledger of `users`.
pub(super) async fn ledger(
    cluster: &Cluster,
    users: &[String],
) -> anyhow::Result<Vec<v1::Transaction>> {
    let channel = cluster.payment_channel().await?;
    let mut client =
        PaymentServiceClient::new(channel).max_decoding_message_size(256 * 1024 * 1024);
    let mut all = Vec::new();
    for user in users {
        let reply = client
            .list_transactions(ListTransactionsRequest {
                user_id: user.clone(),
            })
            .await?;
        all.extend(reply.into_inner().transactions);
    }
    Ok(all)
}

/// Waits until every node reports the same applied index and state
/// digest; returns them, or what differed.
pub(super) async fn converged(
    cluster: &Cluster,
    within: Duration,
) -> Result<(u64, String), String> {
    let deadline = Instant::now() + within;
    let mut last = String::new();
    loop {
        let mut seen = BTreeMap::new();
        for id in cluster.ids() {
            match cluster.metrics(id, true).await {
                Ok((_, digest)) => {
                    seen.insert(id, digest);
                }
                Err(e) => last = format!("node {id}: {e:#}"),
            }
        }
        let distinct: BTreeSet<&(u64, String)> = seen.values().collect();
        if seen.len() == cluster.ids().len() && distinct.len() == 1 {
            return Ok(seen.into_values().next().unwrap_or_default());
        }
        if seen.len() == cluster.ids().len() {
            last = format!(
                "(applied index, digest) per node: {}",
                seen.iter()
                    .map(|(id, (index, digest))| format!(
                        "{id}: {index} {}",
                        &digest[..digest.len().min(12)]
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if Instant::now() > deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub(super) fn final_bookings(bookings: &[v1::Booking]) -> Vec<FinalBooking> {
    bookings
        .iter()
        .map(|b| {
            let mut seats = b.seat_nos.clone();
            seats.sort_unstable();
            FinalBooking {
                booking_id: b.booking_id.clone(),
                user: b.user_id.clone(),
                show: b.show_id.clone(),
                seats,
                confirmed: b.status == v1::BookingStatus::Confirmed as i32,
            }
        })
        .collect()
}

/// One consistent look at the cluster: every replica at the same applied
/// index and state digest before and after its bookings were read, the
/// bookings of every node, and the ledger.
pub(super) struct Snapshot {
    pub(super) index: u64,
    pub(super) digest: String,
    pub(super) per_node: BTreeMap<u64, Vec<v1::Booking>>,
    pub(super) ledger: Vec<v1::Transaction>,
}

pub(super) async fn snapshot(
    cluster: &Cluster,
    tokens: &[String],
    users: &[String],
) -> Result<Snapshot, (u8, String)> {
    let (index, digest) = converged(cluster, Duration::from_secs(30))
        .await
        .map_err(|p| (6, format!("replicas did not converge: {p}")))?;
    let mut per_node = BTreeMap::new();
    for id in cluster.ids() {
        let bookings = bookings_on(cluster, id, tokens)
            .await
            .map_err(|e| (6, format!("node {id} did not serve its bookings: {e:#}")))?;
        per_node.insert(id, bookings);
    }
    let ledger = ledger(cluster, users)
        .await
        .map_err(|e| (5, format!("the ledger could not be read: {e:#}")))?;
    match converged(cluster, Duration::ZERO).await {
        Ok(again) if again == (index, digest.clone()) => Ok(Snapshot {
            index,
            digest,
            per_node,
            ledger,
        }),
        // Something committed meanwhile (a late expiry, a settlement).
        _ => Err((6, "the state moved while it was being read".into())),
    }
}

/// Checks the replicas after a heal (or a cold restart): once every
/// checkout has settled and the state holds still, convergence and equal
/// bookings on every node (6), the ledger (5), and the history (1-4).
pub(super) async fn check_replicas(
    cluster: &Cluster,
    accounts: &[Account],
    ops: &[Op],
    stage: &str,
    violations: &mut Vec<Violation>,
    started: Instant,
) -> anyhow::Result<Vec<v1::Booking>> {
    let mut found = |rule: u8, detail: String| {
        violations.push(Violation {
            rule,
            detail: format!("{stage}: {detail}"),
        })
    };
    // One login per account for the whole check (tokens last 15 minutes;
    // logging in on every poll would trip the login throttle).
    let mut tokens = Vec::new();
    for account in accounts {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match login(cluster, &account.email, &account.password).await {
                Ok(token) => break tokens.push(token),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
    let users: Vec<String> = accounts.iter().map(|a| a.user_id.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let snap = loop {
        let problem = match snapshot(cluster, &tokens, &users).await {
            Ok(snap) => {
                let first = snap.per_node.values().next().cloned().unwrap_or_default();
                match reconcile(&first, &snap.ledger) {
                    Ok(()) => break Some(snap),
                    Err(problem) => (
                        5,
                        format!("bookings and ledger never reconciled: {problem}"),
                    ),
                }
            }
            Err(problem) => problem,
        };
        if Instant::now() > deadline {
            found(problem.0, problem.1);
            break None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let Some(snap) = snap else {
        return Ok(Vec::new());
    };
    say(
        started,
        &format!(
            "{stage}: checkouts settled; every replica at applied index {}, state digest {}",
            snap.index,
            &snap.digest[..12]
        ),
    );
    let first_id = cluster.ids()[0];
    let first = snap.per_node[&first_id].clone();
    for (id, bookings) in &snap.per_node {
        if *bookings != first {
            found(
                6,
                format!("node {id} serves other bookings than node {first_id}"),
            );
        }
    }
    for v in checker::check(ops, &final_bookings(&first)) {
        found(v.rule, v.detail);
    }
    Ok(first)
}
