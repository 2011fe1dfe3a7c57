//! `boxoffice backup` and `boxoffice restore`: a consistent copy of a
//! running cluster, and a new cluster seeded from one.
//!
//! A backup is taken over the peer ports with the operator's certificate
//! (it holds every account's password hash and every charge): first the
//! replicated state from one node (after a read barrier, at its applied
//! index, with the digest replicas agree on), then the payment ledger in
//! one read transaction. In that order, every charge a confirmed booking
//! of the state refers to is in the ledger (a booking is confirmed only
//! after its charge is recorded); a charge made in between belongs to a
//! booking the state shows held, which the restored cluster's checkout
//! settles as it settles any interrupted one.
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
use boxoffice_payment::ledger::{Ledger, LedgerDump};
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
    if ledger.exists() {
        bail!(
            "{} exists: restore into a fresh --data-dir",
            ledger.display()
        );
    }
    for node in &plan.nodes {
        seed::<boxoffice_node::BookingApp>(&node.data_dir, node.id, &members, &file.state)
            .await
            .with_context(|| format!("seeding node {}", node.id))?;
    }
    Ledger::restore(&ledger, &file.ledger).context("restoring the ledger")?;
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
