//! Backup and restore as an operator runs them: `boxoffice backup` taken
//! from a cluster that is selling (buyers holding and paying all along),
//! `boxoffice restore` into a fresh directory, and `boxoffice up` on it.
//! The seeded state has the backup's digest, every booking paid before the
//! backup began is there, a hold unpaid at the backup comes back its
//! buyer's to pay, a charge for an order held after the state was read
//! is refunded by the restore, and the restored bookings reconcile with
//! the restored ledger. Bad inputs (a file that is not a backup, a damaged one,
//! a directory with data, an existing output file) are refused and change
//! nothing.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use boxoffice_client::Client;
use boxoffice_client::proto::{BookingStatus, ListTransactionsRequest, TransactionStatus};
use boxoffice_proto::v1::payment_service_client::PaymentServiceClient;
use boxoffice_raft::Application;
use boxoffice_tls::Identity;
use common::{Cluster, FAR_FUTURE_MS, good_card, log_in, wait_count};
use tokio::sync::watch;

/// The harness's password for every buyer.
const PASSWORD: &str = "correct horse battery staple";
const PRICE: i64 = 1_500;
const BUYERS: u32 = 2;

/// A block of `n` consecutive free loopback ports.
fn free_block(n: u16) -> u16 {
    for _ in 0..200 {
        let first = boxoffice_launch::free_addr().unwrap().port();
        if first > 65_000 {
            continue;
        }
        let held: Vec<_> = (first..first + n)
            .map_while(|p| std::net::TcpListener::bind(("127.0.0.1", p)).ok())
            .collect();
        if held.len() == usize::from(n) {
            return first;
        }
    }
    panic!("no {n} consecutive free ports");
}

/// `boxoffice` with `args`; its status and what it said.
fn boxoffice(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_boxoffice"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run boxoffice");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// Buys seats one at a time (hold, then pay) until told to stop; the
/// bookings confirmed, each with whether it was confirmed before `began`
/// was set.
fn buyer(
    client: Client,
    first_seat: u32,
    progress: Arc<AtomicUsize>,
    began: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Vec<(String, bool)>> {
    tokio::spawn(async move {
        let mut paid = Vec::new();
        let mut seat = first_seat;
        while !*stop.borrow_and_update() {
            let held = client.hold("b", &[seat]).await.expect("hold");
            let booking = client
                .pay(&held.booking_id, &good_card())
                .await
                .expect("pay");
            assert_eq!(booking.status, BookingStatus::Confirmed as i32);
            paid.push((booking.booking_id, !began.load(Ordering::SeqCst)));
            progress.fetch_add(1, Ordering::Relaxed);
            seat += 1;
        }
        paid
    })
}

/// The digest of the state seeded in a node's data directory.
fn seeded_digest(node_dir: &Path) -> (u64, String) {
    let store =
        boxoffice_raft::state_machine::StateMachineStore::<boxoffice_node::BookingApp>::open(
            &node_dir.join("sm.redb"),
        )
        .expect("open the seeded state");
    let handle = store.handle();
    let applied = handle.read();
    let mut bytes = Vec::new();
    applied.app.snapshot(&mut bytes).expect("snapshot");
    (
        applied.last_applied.expect("applied").index,
        boxoffice_raft::backup::digest_of(&bytes),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_while_selling_restores_into_a_cluster_that_reconciles() {
    let cluster = Cluster::start_development().await;
    cluster
        .client("admin")
        .await
        .create_show("b", "Backed up", 20_000, PRICE, FAR_FUTURE_MS)
        .await
        .unwrap();
    let progress = Arc::new(AtomicUsize::new(0));
    let began = Arc::new(AtomicBool::new(false));
    let (stop, stopped) = watch::channel(false);
    let mut buyers = Vec::new();
    for b in 0..BUYERS {
        let client = cluster.client(&format!("fan{b}")).await;
        buyers.push(buyer(
            client,
            1 + b * 10_000,
            progress.clone(),
            began.clone(),
            stopped.clone(),
        ));
    }
    wait_count(&progress, 10, "paid bookings before the backup").await;
    // A buyer who held a seat and had not paid when the backup was taken.
    let unpaid = cluster.client("fan0").await.hold("b", &[19_999]).await;
    let unpaid = unpaid.expect("hold").booking_id;

    // The backup, taken while they buy.
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("cluster.backup");
    let certs = cluster.dir.path().join("certs");
    let mut args = vec![
        "backup".to_owned(),
        "--out".into(),
        file.display().to_string(),
        "--certs".into(),
        certs.display().to_string(),
        "--payment".into(),
        cluster.payment_peer_addr.clone().unwrap(),
    ];
    for (id, addr) in &cluster.peer_addrs {
        args.extend(["--node".into(), format!("{id}={addr}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    began.store(true, Ordering::SeqCst);
    let during = progress.load(Ordering::Relaxed);
    let (ok, said) = boxoffice(&args);
    assert!(ok, "backup failed: {said}");
    wait_count(&progress, during + 5, "paid bookings after the backup").await;
    stop.send_replace(true);
    let mut paid = Vec::new();
    for b in buyers {
        paid.extend(b.await.unwrap());
    }
    // Never over an existing file.
    let (ok, said) = boxoffice(&args);
    assert!(!ok && said.contains("never written over"), "{said}");

    // Restore into a fresh directory, for the cluster `up` runs with these
    // flags.
    let restored = work.path().join("restored");
    let (node, peer, metrics) = (free_block(3), free_block(3), free_block(3));
    let ports: Vec<(&str, u16)> = vec![
        ("--base-port", node),
        ("--peer-base-port", peer),
        ("--metrics-base-port", metrics),
        ("--auth-port", boxoffice_launch::free_addr().unwrap().port()),
        (
            "--auth-gateway-port",
            boxoffice_launch::free_addr().unwrap().port(),
        ),
        (
            "--payment-port",
            boxoffice_launch::free_addr().unwrap().port(),
        ),
        (
            "--payment-peer-port",
            boxoffice_launch::free_addr().unwrap().port(),
        ),
        (
            "--chatbot-port",
            boxoffice_launch::free_addr().unwrap().port(),
        ),
        (
            "--gateway-port",
            boxoffice_launch::free_addr().unwrap().port(),
        ),
    ];
    let mut flags = vec!["--data-dir".to_owned(), restored.display().to_string()];
    for (flag, port) in &ports {
        flags.extend([flag.to_string(), port.to_string()]);
    }
    // Bad inputs first: nothing is written.
    let junk = work.path().join("junk");
    std::fs::write(&junk, b"not a backup").unwrap();
    let mut damaged = std::fs::read(&file).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xFF;
    let damaged_file = work.path().join("damaged.backup");
    std::fs::write(&damaged_file, &damaged).unwrap();
    let mut newer = std::fs::read(&file).unwrap();
    newer[8] = 2; // the layout version, right after the 8-byte magic
    let newer_file = work.path().join("newer.backup");
    std::fs::write(&newer_file, &newer).unwrap();
    for (bad, why) in [
        (&junk, "not a Boxoffice backup"),
        (&damaged_file, "damaged"),
        (&newer_file, "layout version 2"),
    ] {
        let mut restore = vec!["restore".to_owned(), bad.display().to_string()];
        restore.extend(flags.iter().cloned());
        let restore: Vec<&str> = restore.iter().map(String::as_str).collect();
        let (ok, said) = boxoffice(&restore);
        assert!(!ok && said.contains(why), "{why}: {said}");
        assert!(!restored.join("node1").join("sm.redb").exists());
    }
    let mut restore = vec!["restore".to_owned(), file.display().to_string()];
    restore.extend(flags.iter().cloned());
    let restore: Vec<&str> = restore.iter().map(String::as_str).collect();
    let (ok, said) = boxoffice(&restore);
    assert!(ok, "restore failed: {said}");
    // Not twice into the same directory.
    let (ok, again) = boxoffice(&restore);
    assert!(!ok && again.contains("fresh --data-dir"), "{again}");

    // Every node is seeded with the backup's state: the same digest.
    let recorded = said
        .split("digest ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("the digest in restore's report")
        .to_owned();
    for id in 1..=3 {
        let (_, digest) = seeded_digest(&restored.join(format!("node{id}")));
        assert_eq!(digest, recorded, "node {id}'s seeded state");
    }
    // Charges for orders held after the state was read (and charged before
    // the ledger was) belong to sales the restored cluster never has: the
    // restore refunds them and names them.
    let refunded_at_restore: BTreeSet<String> = said
        .lines()
        .find(|line| line.starts_with("refunded "))
        .and_then(|line| line.split(": ").nth(1))
        .map(|ids| ids.split(", ").map(str::to_owned).collect())
        .unwrap_or_default();

    // The restored cluster runs, and its bookings reconcile with its ledger.
    let mut up = Command::new(env!("CARGO_BIN_EXE_boxoffice"));
    up.arg("up")
        .args(&flags)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(work.path().join("up.log")).unwrap(),
        ));
    let up = KillOnDrop(up.spawn().expect("start up"));
    let auth_addr = format!("127.0.0.1:{}", ports[3].1);
    let nodes: Vec<String> = (0..3).map(|i| format!("127.0.0.1:{}", node + i)).collect();
    let node_refs: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let auth = Client::new(&[auth_addr.as_str()]).unwrap();
    let ledger_addr = format!("127.0.0.1:{}", ports[6].1);
    let operator = boxoffice_tls::TlsFiles::in_dir(&restored.join("certs"), Identity::Operator);
    let mut confirmed = BTreeSet::new();
    let mut paid_again = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for b in 0..BUYERS {
        let email = format!("fan{b}@example.com");
        let token = log_in(&auth, &email, PASSWORD, false).await;
        let client = Client::new(&node_refs)
            .unwrap()
            .with_optional_token(Some(&token));
        loop {
            let problem = match client.list_bookings(false).await {
                Ok(bookings) => {
                    let user = bookings
                        .first()
                        .map(|b| b.user_id.clone())
                        .unwrap_or_default();
                    let channel = operator
                        .load()
                        .unwrap()
                        .endpoint(&ledger_addr, &Identity::Payment.dns_name())
                        .unwrap()
                        .connect_lazy();
                    match PaymentServiceClient::new(channel)
                        .list_transactions(ListTransactionsRequest { user_id: user })
                        .await
                    {
                        Ok(ledger) => {
                            let mut ledger = ledger.into_inner().transactions;
                            ledger.retain(|t| {
                                let after = refunded_at_restore.contains(&t.transaction_id);
                                assert!(
                                    !after || t.status == TransactionStatus::Refunded as i32,
                                    "{} was not refunded at the restore",
                                    t.transaction_id
                                );
                                !after
                            });
                            // A hold whose payment the backup cut off (held
                            // in the state, no charge in the ledger) is still
                            // its buyer's until it expires: the buyer pays
                            // again, and the restored cluster charges it.
                            let cut_off: Vec<&String> = bookings
                                .iter()
                                .filter(|b| b.status == BookingStatus::Held as i32)
                                .filter(|b| !ledger.iter().any(|t| t.idempotency_key == b.order_id))
                                .map(|b| &b.booking_id)
                                .collect();
                            if let Some(id) = cut_off.first() {
                                let booking = client.pay(id, &good_card()).await;
                                let booking = booking.expect("paying a cut-off hold again");
                                assert_eq!(booking.status, BookingStatus::Confirmed as i32);
                                paid_again.insert(booking.booking_id);
                                continue;
                            }
                            match boxoffice_client::audit::reconcile(&bookings, &ledger) {
                                Ok(()) => {
                                    confirmed.extend(
                                        bookings
                                            .iter()
                                            .filter(|b| b.status == BookingStatus::Confirmed as i32)
                                            .map(|b| b.booking_id.clone()),
                                    );
                                    break;
                                }
                                Err(m) => m.to_string(),
                            }
                        }
                        Err(s) => s.to_string(),
                    }
                }
                Err(s) => s.to_string(),
            };
            assert!(Instant::now() < deadline, "never reconciled: {problem}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Every booking paid before the backup began is there, confirmed.
    let before: Vec<&String> = paid.iter().filter(|(_, b)| *b).map(|(id, _)| id).collect();
    assert!(before.len() >= 10);
    for id in &before {
        assert!(confirmed.contains(*id), "booking {id} was lost");
    }
    // The unpaid hold came back held, and its buyer could pay it.
    assert!(paid_again.contains(&unpaid), "the unpaid hold was not paid");
    // Nothing appears that was never paid (in one cluster or the other).
    let all: BTreeSet<&String> = paid.iter().map(|(id, _)| id).collect();
    for id in &confirmed {
        assert!(
            all.contains(id) || paid_again.contains(id),
            "booking {id} was never acknowledged"
        );
    }
    println!(
        "restored: {} of {} paid bookings ({} paid before the backup began, {} paid again, {} refunded at the restore)",
        confirmed.len(),
        paid.len(),
        before.len(),
        paid_again.len(),
        refunded_at_restore.len()
    );
    // The restored cluster is backed up in turn: the restore's refunds
    // (of orders its state does not have) are no refund its state missed.
    let again = work.path().join("restored.backup");
    let mut args = vec![
        "backup".to_owned(),
        "--out".into(),
        again.display().to_string(),
        "--certs".into(),
        restored.join("certs").display().to_string(),
        "--payment".into(),
        ledger_addr.clone(),
    ];
    for i in 0..3 {
        args.extend(["--node".into(), format!("{}=127.0.0.1:{}", i + 1, peer + i)]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, said) = boxoffice(&args);
    assert!(ok, "the restored cluster's backup failed: {said}");
    drop(up);
}

/// A child killed if the test ends early.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            // SIGTERM: `up` then stops every process it started.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = self.0.wait();
        }
    }
}
