//! `boxoffice backup` and `boxoffice restore`: a consistent copy of a
//! running cluster, and a new cluster seeded from one.
//!
//! A backup is taken over the peer ports with the operator's certificate
//! (it holds every account's password hash and every charge): first the
//! replicated state from one node (after a read barrier, at its applied
//! index, with the digest replicas agree on), then the payment ledger in
//! one read transaction. In that order, every charge a confirmed booking
//! of the state refers to is in the ledger (a booking is confirmed only
//! after its charge is recorded); a charge made in between belongs either
//! to a booking the state shows held, which the restored cluster's
//! checkout settles as it settles any interrupted one, or to an order held
//! after the state was read. Such an order (a checkout's, random; a
//! waiting-list offer's, its booking id, with the time it was offered from
//! log format 3 on) the restored cluster does not have: the restore
//! refunds those charges in full, with the ledger
//! ([`after_the_state`]), since in the restored cluster their sales never
//! happened, and frees their idempotency keys: a waiting-list offer's key
//! is made from a booking id the restored cluster gives out again (with
//! no time in it before log format 3), and its new charge must not find
//! the old one. A refund goes the other way
//! (the state records it due, then the ledger makes it): one made between
//! the two reads would come back as a confirmed booking whose charge was
//! refunded, so the backup checks every refund of the ledger against the
//! refunds the state knows are due and takes both again if one is not
//! ([`unknown_refunds`]), up to [`ATTEMPTS`] times. Only the charges the
//! state names or may find under its orders count: a refund of an order it
//! does not have (a restore's own, say) brings back no sale, so a restored
//! cluster can be backed up again.
//!
//! The file: [`MAGIC`], then the [`BackupFile`] in postcard; written
//! owner-only, never over an existing file. `restore` checks the magic, the
//! version and the state's digest, then writes every node's data directory
//! and the ledger of the cluster `boxoffice up` would run with the same
//! flags, refusing directories that hold data; `boxoffice up` then starts
//! it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use boxoffice_launch::local::UpArgs;
use boxoffice_payment::ledger::{Ledger, LedgerDump, RESTORE_REFUND, Refund, Transaction, Write};
use boxoffice_proto::internal::v1::BackupRequest;
use boxoffice_proto::internal::v1::raft_service_client::RaftServiceClient;
use boxoffice_proto::v1::BackupLedgerRequest;
use boxoffice_proto::v1::payment_service_client::PaymentServiceClient;
use boxoffice_raft::backup::{Image, digest_of, seed};
use boxoffice_tls::{Identity, Tls};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

/// The first bytes of a backup file.
pub const MAGIC: &[u8; 8] = b"BXBACKUP";

/// The version of the file's layout this build writes and reads.
const VERSION: u16 = 1;

/// How many times a backup is taken again when a refund fell between its
/// two reads.
const ATTEMPTS: u32 = 5;

/// Largest backup message accepted (a chunk is 1 MiB).
const MAX_CHUNK_BYTES: usize = 8 * 1024 * 1024;

/// What a backup file holds.
#[derive(Serialize, Deserialize)]
pub struct BackupFile {
    /// [`VERSION`].
    pub version: u16,
    /// When it was taken, ms since the Unix epoch.
    pub taken_at_ms: i64,
    /// The replicated state.
    pub state: Image,
    /// The payment ledger.
    pub ledger: LedgerDump,
}

/// Options of `boxoffice backup`.
#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// Where to write the backup (a new file; it is never overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// A node to take the state from, as ID=PEER_ADDRESS (its peer port);
    /// repeat it: the first that answers is used.
    #[arg(long = "node", value_parser = parse_node, default_values = ["1=127.0.0.1:50071", "2=127.0.0.1:50072", "3=127.0.0.1:50073"])]
    pub nodes: Vec<(u64, String)>,
    /// The payment service's port for nodes (mutual TLS).
    #[arg(long, default_value = "127.0.0.1:6001")]
    pub payment: String,
    /// The directory with the cluster CA and the operator's certificate.
    #[arg(long, default_value = "./data/certs")]
    pub certs: PathBuf,
}

/// Options of `boxoffice restore`.
#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The backup file.
    pub file: PathBuf,
    /// The cluster to seed: the same flags as `boxoffice up` (its
    /// `--data-dir`, node count and ports), which then starts it.
    #[command(flatten)]
    pub up: UpArgs,
}

fn parse_node(raw: &str) -> Result<(u64, String), String> {
    let (id, addr) = raw
        .split_once('=')
        .ok_or_else(|| format!("{raw:?} is not ID=ADDRESS, such as 1=10.0.0.1:50071"))?;
    let id: u64 = id
        .parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("{id:?} is not a node id (1 or more)"))?;
    if addr.is_empty() {
        return Err(format!("node {id} has no address"));
    }
    Ok((id, addr.to_owned()))
}

/// Reads a server-streamed backup into one buffer.
async fn collect<T>(
    mut stream: tonic::Streaming<T>,
    data: impl Fn(T) -> Vec<u8>,
) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend(data(chunk?));
    }
    Ok(bytes)
}

async fn state_from(tls: &Tls, id: u64, addr: &str) -> anyhow::Result<Image> {
    let channel = tls
        .endpoint(addr, &Identity::Node(id).dns_name())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(120))
        .connect()
        .await?;
    let stream = RaftServiceClient::new(channel)
        .max_decoding_message_size(MAX_CHUNK_BYTES)
        .backup(BackupRequest {})
        .await?
        .into_inner();
    let bytes = collect(stream, |c| c.data).await?;
    let image: Image = postcard::from_bytes(&bytes).context("the node's backup does not decode")?;
    let found = digest_of(&image.state);
    if found != image.digest {
        bail!(
            "node {id}'s backup does not match its digest ({found} != {})",
            image.digest
        );
    }
    Ok(image)
}

async fn ledger_from(tls: &Tls, addr: &str) -> anyhow::Result<LedgerDump> {
    let channel = tls
        .endpoint(addr, &Identity::Payment.dns_name())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(120))
        .connect()
        .await
        .with_context(|| format!("connecting to the payment service at {addr}"))?;
    let stream = PaymentServiceClient::new(channel)
        .max_decoding_message_size(MAX_CHUNK_BYTES)
        .backup_ledger(BackupLedgerRequest {})
        .await
        .context("the payment service refused the backup")?
        .into_inner();
    let bytes = collect(stream, |c| c.data).await?;
    postcard::from_bytes(&bytes).context("the ledger's backup does not decode")
}

/// Runs `boxoffice backup`.
pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    if args.out.exists() {
        bail!(
            "{} exists: a backup is never written over a file",
            args.out.display()
        );
    }
    let tls = boxoffice_tls::TlsFiles::in_dir(&args.certs, Identity::Operator)
        .load()
        .with_context(|| format!("the operator's certificate in {}", args.certs.display()))?;
    let mut attempt = 1;
    let (state, ledger) = loop {
        let mut state = None;
        for (id, addr) in &args.nodes {
            match state_from(&tls, *id, addr).await {
                Ok(image) => {
                    state = Some(image);
                    break;
                }
                Err(e) => eprintln!("node {id} at {addr}: {e:#}; trying the next"),
            }
        }
        let Some(state) = state else {
            bail!("no node gave a backup (see above)");
        };
        // After the state: see the module doc.
        let ledger = ledger_from(&tls, &args.payment).await?;
        let unknown = unknown_refunds(&state, &ledger)?;
        if unknown.is_empty() {
            break (state, ledger);
        }
        if attempt == ATTEMPTS {
            bail!(
                "refunds kept being made between the state's and the ledger's reads ({}): try again",
                unknown.join(", ")
            );
        }
        eprintln!(
            "a refund was made between the two reads ({}); taking the backup again",
            unknown.join(", ")
        );
        attempt += 1;
    };
    let file = BackupFile {
        version: VERSION,
        taken_at_ms: boxoffice_config::clock::now_ms(),
        state,
        ledger,
    };
    let mut bytes = MAGIC.to_vec();
    bytes.extend(postcard::to_allocvec(&file)?);
    if !boxoffice_config::create_file(&args.out, &bytes, true)
        .with_context(|| format!("writing {}", args.out.display()))?
    {
        bail!(
            "{} appeared meanwhile: not written over",
            args.out.display()
        );
    }
    println!(
        "backup of the state at index {} (term {}, digest {}) and {} payment transactions written to {} ({} bytes)",
        file.state.applied.index,
        file.state.applied.leader_id.term,
        file.state.digest,
        file.ledger.transactions.len(),
        args.out.display(),
        bytes.len()
    );
    Ok(())
}

/// What a restore undoes in the ledger: what it holds for orders of a
/// booking that the backup's state does not have (held after the state
/// was read and charged or voided before the ledger was).
#[derive(Debug, Default)]
pub struct AfterTheState {
    /// The charges that stand (in full or in part): refunded.
    pub charges: Vec<Transaction>,
    /// The orders' idempotency keys (charged, declined or voided): freed.
    /// A checkout's order (`ord_`) is a fresh random id, never made
    /// again; a waiting-list offer's (`wl_`) is its booking id (with the
    /// time it was offered from log format 3 on), and the restored
    /// cluster gives those booking ids out again: an old charge or void
    /// left under the key would answer the new offer's charge.
    pub keys: Vec<String>,
}

/// What `ledger` holds for orders that `state` does not have. The old
/// clients' charges (`legacy:`) belong to no booking and are left alone.
pub fn after_the_state(state: &Image, ledger: &LedgerDump) -> anyhow::Result<AfterTheState> {
    use boxoffice_payment::ledger::Status;
    use boxoffice_raft::Application;
    let app = boxoffice_node::BookingApp::restore(&state.state)
        .context("the state's backup does not restore")?;
    let orders: std::collections::BTreeSet<String> = every_booking(&app.0)
        .filter_map(|booking| booking.order)
        .map(|order| order.0.to_string())
        .collect();
    let after =
        |key: &str| (key.starts_with("ord_") || key.starts_with("wl_")) && !orders.contains(key);
    let charges = ledger
        .transactions()?
        .into_iter()
        .filter(|tx| matches!(tx.status, Status::Succeeded | Status::PartiallyRefunded))
        .filter(|tx| after(&tx.idempotency_key))
        .collect();
    let keys: std::collections::BTreeSet<String> = ledger
        .keys
        .iter()
        .map(|(key, _)| key)
        .chain(ledger.voided.iter().map(|(key, _)| key))
        .filter(|key| after(key))
        .cloned()
        .collect();
    Ok(AfterTheState {
        charges,
        keys: keys.into_iter().collect(),
    })
}

/// Refunds of what remains of each of `charges`, each under the refund
/// key `restore:<transaction id>`.
fn refunds_of(charges: &[Transaction]) -> Vec<Write> {
    let now_ms = boxoffice_config::clock::now_ms();
    charges
        .iter()
        .map(|tx| Write::Refund {
            refund: Refund {
                transaction_id: tx.id.clone(),
                amount_cents: 0,
                key: Some(format!("{RESTORE_REFUND}{}", tx.id)),
            },
            now_ms,
        })
        .collect()
}

/// The transactions of `ledger` refunded beyond what `state` knows is
/// due or made: a refund the backup's state does not know of, of a charge
/// the state names (a booking paid by it) or may find (under one of its
/// orders, unless a restore refunded it and freed its key). A charge of
/// an order the state does not have is none of these ([`after_the_state`]
/// deals with it): a refund of it between the two reads, or a restore's
/// own refund, brings back no sale.
pub fn unknown_refunds(state: &Image, ledger: &LedgerDump) -> anyhow::Result<Vec<String>> {
    use boxoffice_core::Payment;
    use boxoffice_raft::Application;
    let app = boxoffice_node::BookingApp::restore(&state.state)
        .context("the state's backup does not restore")?;
    // The refunds the state has recorded (due or made), by transaction;
    // the transactions it names; its orders.
    let mut known: BTreeMap<String, i64> = BTreeMap::new();
    let mut orders = std::collections::BTreeSet::new();
    for booking in every_booking(&app.0) {
        match &booking.payment {
            Payment::RefundDue(tx) | Payment::Refunded(tx) => {
                *known.entry(tx.0.clone()).or_default() += booking.total_cents;
            }
            Payment::Charged(tx) => {
                known.entry(tx.0.clone()).or_default();
            }
            Payment::None | Payment::Pending | Payment::NotCharged => {}
        }
        orders.extend(booking.order.map(|order| order.0.to_string()));
    }
    let refunded: BTreeMap<&str, i64> = ledger
        .refunded
        .iter()
        .map(|(id, cents)| (id.as_str(), *cents))
        .collect();
    // The charges a restore refunded: their keys were freed, and an order
    // of the state under the same key (a `wl_` offer id given out again)
    // is another charge's.
    let restored: std::collections::BTreeSet<&str> = ledger
        .refund_keys()
        .filter(|(tx, key)| key.strip_prefix(RESTORE_REFUND) == Some(*tx))
        .map(|(tx, _)| tx)
        .collect();
    let mut unknown = Vec::new();
    for tx in ledger.transactions()? {
        let named = known.contains_key(&tx.id);
        let found = orders.contains(&tx.idempotency_key) && !restored.contains(tx.id.as_str());
        if !named && !found {
            continue;
        }
        let cents = refunded
            .get(tx.id.as_str())
            .copied()
            .unwrap_or(match tx.status {
                boxoffice_payment::ledger::Status::Refunded => tx.amount_cents,
                _ => 0,
            });
        if cents > known.get(&tx.id).copied().unwrap_or(0) {
            unknown.push(tx.id);
        }
    }
    Ok(unknown)
}

/// Every booking `state` ever made, by id: a trusted request may book for
/// a user without an account, whom no walk through the users finds.
fn every_booking(
    state: &boxoffice_core::State,
) -> impl Iterator<Item = boxoffice_core::Booking> + '_ {
    (1..=state.totals().bookings_created)
        .filter_map(|id| state.booking(boxoffice_core::BookingId(id)))
}

/// Reads and checks a backup file.
pub fn read(path: &std::path::Path) -> anyhow::Result<BackupFile> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let body = bytes
        .strip_prefix(MAGIC.as_slice())
        .with_context(|| format!("{} is not a Boxoffice backup", path.display()))?;
    // The layout version first (postcard writes the struct's first field
    // first), so a newer layout is named as such, not "damaged".
    let (version, _): (u16, _) = postcard::take_from_bytes(body)
        .with_context(|| format!("{} is damaged: it does not decode", path.display()))?;
    if version != VERSION {
        bail!(
            "{} is a backup of layout version {version}; this build reads {VERSION}",
            path.display()
        );
    }
    let file: BackupFile = postcard::from_bytes(body)
        .with_context(|| format!("{} is damaged: it does not decode", path.display()))?;
    let found = digest_of(&file.state.state);
    if found != file.state.digest {
        bail!(
            "{} is damaged: its state does not match its digest",
            path.display()
        );
    }
    file.ledger
        .transactions()
        .context("its ledger is damaged")?;
    Ok(file)
}

/// Runs `boxoffice restore`.
pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let file = read(&args.file)?;
    let plan = args.up.plan()?;
    let members: BTreeMap<u64, String> = plan
        .nodes
        .first()
        .map(|n| {
            n.initial_members
                .iter()
                .map(|m| (m.id, m.addr.clone()))
                .collect()
        })
        .unwrap_or_default();
    let ledger = plan.payment.data_dir.join("ledger.redb");
    // Refuse before writing anything.
    for node in &plan.nodes {
        for name in ["sm.redb", "log.redb", "log.wal"] {
            let path = node.data_dir.join(name);
            if path.exists() {
                bail!(
                    "{} holds a node's data: restore into a fresh --data-dir",
                    path.display()
                );
            }
        }
    }
    if let Some(file) = Ledger::existing_file(&ledger) {
        bail!("{} exists: restore into a fresh --data-dir", file.display());
    }
    let after = after_the_state(&file.state, &file.ledger)?;
    for node in &plan.nodes {
        seed::<boxoffice_node::BookingApp>(&node.data_dir, node.id, &members, &file.state)
            .await
            .with_context(|| format!("seeding node {}", node.id))?;
    }
    Ledger::restore_with(
        &ledger,
        &file.ledger,
        &after.keys,
        refunds_of(&after.charges),
    )
    .context("restoring the ledger")?;
    if !after.charges.is_empty() {
        let ids: Vec<&str> = after.charges.iter().map(|tx| tx.id.as_str()).collect();
        println!(
            "refunded {} charge(s) for orders held after the state was read (their sales are not in the restored cluster): {}",
            ids.len(),
            ids.join(", ")
        );
    }
    println!(
        "restored the state at index {} (digest {}) into {} nodes and {} payment transactions, under {}; start it with `boxoffice up --data-dir {}` (and the same flags)",
        file.state.applied.index,
        file.state.digest,
        plan.nodes.len(),
        file.ledger.transactions.len(),
        args.up.data_dir.display(),
        args.up.data_dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_core::{
        BookingId, Command, HoldLimits, OrderId, Request, RequestId, SeatNo, ShowId, State,
        Tickets, Timestamp, TransactionId, UserId,
    };
    use boxoffice_payment::ledger::Status;

    fn apply(state: &mut State, id: &str, command: Command) {
        let request = Request {
            request_id: RequestId(id.into()),
            caller: None,
            command,
        };
        state
            .apply(Timestamp(1_000), &request)
            .unwrap_or_else(|r| panic!("{id}: {r:?}"));
    }

    fn image_of(state: &State) -> Image {
        let bytes = state.to_snapshot().unwrap();
        Image {
            applied: Default::default(),
            membership: Default::default(),
            digest: digest_of(&bytes),
            state: bytes,
        }
    }

    /// `tx_1`: 1,000 cents for `ord_1`, refunded in full.
    fn tx_1() -> Transaction {
        Transaction {
            id: "tx_1".into(),
            idempotency_key: "ord_1".into(),
            user_id: "u1".into(),
            amount_cents: 1_000,
            currency: "EUR".into(),
            status: Status::Refunded,
            card_last4: "4242".into(),
            decline_reason: String::new(),
            description: String::new(),
            created_at_ms: 1,
            refunded_at_ms: 2,
            refunded_cents: 1_000,
        }
    }

    /// A ledger whose one charge, `tx_1` of 1,000 cents, is refunded in full.
    fn refunded_ledger() -> LedgerDump {
        LedgerDump {
            transactions: vec![("tx_1".into(), postcard::to_allocvec(&tx_1()).unwrap())],
            refunded: vec![("tx_1".into(), 1_000)],
            ..LedgerDump::default()
        }
    }

    /// A state where user u1 holds seat 1 of show `s` under `ord_1`
    /// (booking 1, 1,000 cents).
    fn a_state_holding_order_1() -> State {
        let mut state = State::default();
        apply(
            &mut state,
            "r1",
            Command::RegisterUser {
                email: "ann@example.com".into(),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                admin: false,
            },
        );
        apply(
            &mut state,
            "r2",
            Command::CreateShow {
                show: ShowId("s".into()),
                title: "S".into(),
                seat_count: 5,
                price_cents: 1_000,
                starts_at: Timestamp(9_000_000_000_000),
            },
        );
        apply(
            &mut state,
            "r3",
            Command::Hold {
                order: OrderId("ord_1".into()),
                show: ShowId("s".into()),
                seats: vec![SeatNo(1)],
                tickets: Tickets::default(),
                user: UserId("u1".into()),
                ttl_ms: 60_000,
                max_seats_per_user: 0,
                limits: HoldLimits::NONE,
            },
        );
        state
    }

    /// A ledger of one charge for each of `(id, order, status)`.
    fn ledger_of(charges: &[(&str, &str, Status)]) -> LedgerDump {
        let transactions = charges
            .iter()
            .map(|(id, order, status)| {
                let mut tx = tx_1();
                tx.id = (*id).into();
                tx.idempotency_key = (*order).into();
                tx.status = *status;
                ((*id).into(), postcard::to_allocvec(&tx).unwrap())
            })
            .collect();
        LedgerDump {
            transactions,
            ..LedgerDump::default()
        }
    }

    #[test]
    fn charges_for_orders_held_after_the_state_was_read_are_found() {
        let state = image_of(&a_state_holding_order_1());
        let ledger = ledger_of(&[
            ("tx_1", "ord_1", Status::Succeeded),
            ("tx_7", "ord_7", Status::Refunded),
            ("tx_8", "ord_8", Status::Declined),
            ("tx_9", "ord_9", Status::Succeeded),
            ("tx_10", "ord_10", Status::PartiallyRefunded),
            ("tx_11", "legacy:c-11", Status::Succeeded),
            ("tx_12", "wl_5", Status::Succeeded),
        ]);
        let after: Vec<String> = after_the_state(&state, &ledger)
            .unwrap()
            .charges
            .into_iter()
            .map(|tx| tx.id)
            .collect();
        // Not ord_1's (the state has it), nor those with nothing to return
        // (declined, refunded in full), nor an old client's charge (no
        // booking ever has one). A waiting-list offer's order the state
        // does not have is refunded like a checkout's: the restored cluster
        // never makes it again (its id carries the time it was offered).
        assert_eq!(after, ["tx_9", "tx_10", "tx_12"]);

        // The restore refunds them in full, with the ledger.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        let found = after_the_state(&state, &ledger).unwrap().charges;
        Ledger::restore_with(&path, &ledger, &[], refunds_of(&found)).unwrap();
        let restored = Ledger::open(&path).unwrap();
        for id in ["tx_9", "tx_10", "tx_12"] {
            let tx = restored.get(id).unwrap().unwrap();
            assert_eq!((tx.status, tx.refunded_cents), (Status::Refunded, 1_000));
        }
        for id in ["tx_1", "tx_11"] {
            assert_eq!(restored.get(id).unwrap().unwrap().status, Status::Succeeded);
        }
        let dump = restored.dump().unwrap();
        assert!(after_the_state(&state, &dump).unwrap().charges.is_empty());
        // The restored cluster can be backed up: its restore's refunds are
        // none made between two reads.
        assert_eq!(
            unknown_refunds(&state, &dump).unwrap(),
            Vec::<String>::new()
        );

        // A refund the ledger refuses refuses the whole restore: nothing is
        // left to be taken for a restored ledger.
        let other = dir.path().join("other.redb");
        let mut missing = found[0].clone();
        missing.id = "tx_nowhere".into();
        let refused =
            Ledger::restore_with(&other, &ledger, &[], refunds_of(&[missing])).unwrap_err();
        assert!(
            refused.to_string().contains("nothing was restored"),
            "{refused}"
        );
        assert!(Ledger::existing_file(&other).is_none());
    }

    /// A charge of `cents` under `key`, as transaction `id`.
    fn charge(key: &str, id: &str, cents: i64) -> Write {
        let mut tx = tx_1();
        (tx.id, tx.idempotency_key) = (id.into(), key.into());
        (tx.status, tx.amount_cents, tx.refunded_cents) = (Status::Succeeded, cents, 0);
        Write::Charge(Box::new(boxoffice_payment::ledger::NewCharge {
            key: key.into(),
            params: boxoffice_payment::ledger::ChargeParams {
                user_id: tx.user_id.clone(),
                amount_cents: cents,
                currency: tx.currency.clone(),
                card_last4: tx.card_last4.clone(),
                description: String::new(),
            },
            tx,
        }))
    }

    /// Whether `write` made a new charge (not one found under its key).
    fn charged_anew(ledger: &Ledger, write: Write) -> bool {
        use boxoffice_payment::ledger::{Charged, Written};
        match ledger.apply(vec![write]).unwrap().pop() {
            Some(Written::Charge(Ok(Charged::New(_)))) => true,
            Some(Written::Charge(_)) => false,
            other => panic!("a charge answered as {other:?}"),
        }
    }

    #[test]
    fn the_keys_of_orders_held_after_the_state_was_read_are_free_again() {
        // The state has booking 1 (ord_1). The ledger has its charge, and
        // a waiting-list offer's charge (wl_2) and void (wl_3) for
        // bookings made after the state was read: ids the restored
        // cluster gives out again, under format 1 as `wl_<booking>`.
        let state = image_of(&a_state_holding_order_1());
        let dir = tempfile::tempdir().unwrap();
        let before = Ledger::open(&dir.path().join("before.redb")).unwrap();
        before
            .apply(vec![
                charge("ord_1", "tx_1", 1_000),
                charge("wl_2", "tx_2", 1_000),
                Write::Void {
                    key: "wl_3".into(),
                    now_ms: 5,
                },
                charge("legacy:c-4", "tx_4", 700),
            ])
            .unwrap();
        let dump = before.dump().unwrap();
        let after = after_the_state(&state, &dump).unwrap();
        assert_eq!(after.keys, ["wl_2", "wl_3"]);
        let path = dir.path().join("ledger.redb");
        Ledger::restore_with(&path, &dump, &after.keys, refunds_of(&after.charges)).unwrap();
        let restored = Ledger::open(&path).unwrap();

        // The restored cluster's offers of bookings 2 and 3 are charged
        // anew: neither answered by the refunded charge nor refused as
        // voided. The old charge stays, refunded, as history.
        assert!(charged_anew(&restored, charge("wl_2", "tx_5", 1_000)));
        assert!(charged_anew(&restored, charge("wl_3", "tx_6", 1_000)));
        let old = restored.get("tx_2").unwrap().unwrap();
        assert_eq!((old.status, old.refunded_cents), (Status::Refunded, 1_000));
        // The state's order and an old client's charge keep their keys: a
        // retry finds its charge.
        assert!(!charged_anew(&restored, charge("ord_1", "tx_7", 1_000)));
        assert!(!charged_anew(&restored, charge("legacy:c-4", "tx_8", 700)));
    }

    #[test]
    fn a_refund_the_state_does_not_know_is_caught_and_a_due_one_is_not() {
        let mut state = a_state_holding_order_1();
        apply(
            &mut state,
            "r4",
            Command::Confirm {
                booking: BookingId(1),
                transaction: Some(TransactionId("tx_1".into())),
            },
        );
        // Held in the state, its charge refunded in the ledger: the
        // restored cluster's checkout would find the charge.
        let ledger = refunded_ledger();
        assert_eq!(
            unknown_refunds(&image_of(&a_state_holding_order_1()), &ledger).unwrap(),
            vec!["tx_1".to_owned()]
        );
        // A refund of an order the state does not have brings back no sale.
        assert!(
            unknown_refunds(&image_of(&State::default()), &ledger)
                .unwrap()
                .is_empty()
        );
        // Nor does a restore's refund of a charge whose key it freed and
        // the restored cluster gave out again (a format-1 `wl_<booking>`
        // offer id; here ord_1): the state's order is another charge's.
        let dir = tempfile::tempdir().unwrap();
        let restored = Ledger::open(&dir.path().join("ledger.redb")).unwrap();
        let refund = |key: &str| Write::Refund {
            refund: Refund {
                transaction_id: "tx_1".into(),
                amount_cents: 0,
                key: Some(key.into()),
            },
            now_ms: 2,
        };
        restored
            .apply(vec![charge("ord_1", "tx_1", 1_000), refund("restore:tx_1")])
            .unwrap();
        let holding = image_of(&a_state_holding_order_1());
        let dump = restored.dump().unwrap();
        assert!(unknown_refunds(&holding, &dump).unwrap().is_empty());
        // Under any other key, that refund is one the state missed.
        let other = Ledger::open(&dir.path().join("other.redb")).unwrap();
        other
            .apply(vec![charge("ord_1", "tx_1", 1_000), refund("cancel:tx_1")])
            .unwrap();
        assert_eq!(
            unknown_refunds(&holding, &other.dump().unwrap()).unwrap(),
            vec!["tx_1".to_owned()]
        );
        // Confirmed in the state, refunded in the ledger: the cancel and
        // its refund fell between the two reads.
        assert_eq!(
            unknown_refunds(&image_of(&state), &ledger).unwrap(),
            vec!["tx_1".to_owned()]
        );
        // Once the state knows the refund is due, it is consistent.
        apply(
            &mut state,
            "r5",
            Command::Cancel {
                booking: BookingId(1),
                user: UserId("u1".into()),
            },
        );
        assert!(
            unknown_refunds(&image_of(&state), &ledger)
                .unwrap()
                .is_empty()
        );
        // And a ledger without refunds is consistent with either.
        assert!(
            unknown_refunds(&image_of(&state), &LedgerDump::default())
                .unwrap()
                .is_empty()
        );
    }
}
