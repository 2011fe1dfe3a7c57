//! A door that keeps admitting while cut off from the cluster.
//!
//! `boxoffice checkin --offline-dir DIR` downloads the performance's door
//! list when it starts (the ticket keys, every current ticket with its
//! version and admission) and keeps it in `DIR/<show>.list` (show and gate
//! escaped in file names: see `file_part`). When a scan
//! gets no answer from the cluster within a second, the door decides on
//! its own: the code's signature is checked with the list's keys, the
//! ticket must be on the list at the code's version or newer, and not
//! already in (on the list, or admitted here since). Each such admission
//! is appended, synced, to `DIR/<show>-<gate>.pending` before it is
//! announced, and uploaded (with the time it was made and the request id
//! of the scan) as soon as the cluster answers again; a ticket that came
//! in at another gate meanwhile is recorded there as a conflict. Pending
//! scans are never dropped: only an answer from the cluster removes one.
//!
//! What a door offline cannot know: returns, reissues and sales made after
//! its list was read. It refuses tickets sold since (not on the list), and
//! admits a returned ticket's code once; the cluster records that scan as
//! a returned ticket when it is uploaded.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use boxoffice_client::Client;
use boxoffice_client::proto as v1;
use boxoffice_ticket::{PublicTicketKey, TicketVerifier};
use boxoffice_view::json::tickets::{ScanAnswer, ScanResult};
use prost::Message as _;
use serde::{Deserialize, Serialize};
use tonic::Code;

/// How long a scan waits for the cluster before the door decides alone.
pub const ONLINE_WAIT: Duration = Duration::from_secs(1);

/// The longest a scan waits in all while the cluster paces this account.
pub const MAX_PACED_WAIT: Duration = Duration::from_secs(10);

/// How long the cluster asked a paced call to wait, if `status` says so.
fn retry_after(status: &tonic::Status) -> Option<Duration> {
    if status.code() != Code::ResourceExhausted {
        return None;
    }
    let ms = status
        .metadata()
        .get(boxoffice_proto::convert::RETRY_AFTER_MS)?
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()?;
    Some(Duration::from_millis(ms.clamp(1, 5_000)))
}

/// Sends one scan; while the cluster paces this account (a door's burst,
/// or an upload after an offline spell) it waits as asked and sends it
/// again under the same request id, up to [`MAX_PACED_WAIT`] in all.
pub async fn send_scan(
    client: &Client,
    request_id: &str,
    show: &str,
    gate: &str,
    code: &str,
    at_ms: i64,
) -> Result<v1::CheckInResponse, tonic::Status> {
    let mut waited = Duration::ZERO;
    loop {
        match client.check_in(request_id, show, gate, code, at_ms).await {
            Err(status) => match retry_after(&status) {
                Some(wait) if waited + wait <= MAX_PACED_WAIT => {
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
                _ => return Err(status),
            },
            answer => return answer,
        }
    }
}

/// A scan admitted offline, waiting to be uploaded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Pending {
    request_id: String,
    code: String,
    at_ms: i64,
}

/// An offline admission the cluster refused when it was uploaded.
#[derive(Debug, Serialize, Deserialize)]
struct Refused {
    scan: Pending,
    answer: ScanAnswer,
}

/// What an upload did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Uploaded {
    /// Scans the cluster answered (they left the pending file).
    pub uploaded: usize,
    /// Of them, tickets found in at another gate: recorded as conflicts.
    pub conflicts: usize,
    /// Of them, tickets returned, reissued or unpaid meanwhile: kept in
    /// the `.refused` file.
    pub refused: usize,
}

/// A ticket as the list knows it.
struct Listed {
    version: u32,
    label: String,
    ticket_type: String,
    /// Where it came in, if it had when the list was read.
    gate: Option<String>,
}

/// The door's own record, for one performance and one gate.
pub struct OfflineDoor {
    show: String,
    gate: String,
    pending_path: PathBuf,
    /// Tickets this door admitted while online, one id a line: what the
    /// saved list does not know when the door restarts offline.
    seen_path: PathBuf,
    /// Uploaded offline admissions the cluster refused (the ticket was
    /// returned, reissued or not paid meanwhile), kept for the report.
    refused_path: PathBuf,
    verifier: TicketVerifier,
    tickets: BTreeMap<String, Listed>,
    /// Tickets admitted by this door since the list was read.
    admitted_here: BTreeSet<String>,
    pending: Vec<Pending>,
}

/// Whether `status` means the cluster did not answer (so the door decides).
pub fn unreachable(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown
    )
}

/// `id` as part of a file name: ids may hold any printable ASCII (`/`,
/// `..`, the `-` that joins show and gate), so everything but letters,
/// digits and `_` is written `%XX`. Distinct ids give distinct names.
fn file_part(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Renames the files a door of an earlier release kept under the bare
/// show and gate (`<show>.list`, `<show>-<gate>.pending`, `.seen`) to
/// their escaped names, so scans still to upload are not left behind.
/// Only ids that cannot leave `dir` are looked up bare.
fn adopt_unescaped_files(dir: &Path, show: &str, gate: &str, stem: &str) -> anyhow::Result<()> {
    let plain = |id: &str| !id.contains('/') && !id.starts_with('.');
    if !plain(show) || !plain(gate) {
        return Ok(());
    }
    let moves = [
        (format!("{show}.list"), format!("{}.list", file_part(show))),
        (format!("{show}-{gate}.pending"), format!("{stem}.pending")),
        (format!("{show}-{gate}.seen"), format!("{stem}.seen")),
    ];
    for (old, new) in moves {
        let (old, new) = (dir.join(old), dir.join(new));
        if old != new && old.is_file() && !new.exists() {
            std::fs::rename(&old, &new)
                .with_context(|| format!("renaming {} to {}", old.display(), new.display()))?;
        }
    }
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // One writer per file at a time is the door's own rule; the process id
    // keeps two doors started by mistake from sharing a temporary file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The complete lines of a file this module appends to, `None` if there is
/// no such file. A last line without its newline was torn by a crash
/// while being appended (a line is announced only once synced whole), so
/// it is dropped, and cut off the file so the next append starts clean.
fn read_lines(path: &Path) -> anyhow::Result<Option<Vec<String>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let whole = text.rfind('\n').map_or(0, |i| i + 1);
    if whole < text.len() {
        eprintln!(
            "{}: dropping a torn last line (cut off while being written)",
            path.display()
        );
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.set_len(whole as u64)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("truncating {}", path.display()))?;
    }
    Ok(Some(
        text[..whole]
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect(),
    ))
}

/// Appends `text` to `path` and syncs it before returning.
fn append_synced(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

impl OfflineDoor {
    /// The door for `show` at `gate`, its list fresh from the cluster if it
    /// answers (and saved in `dir`), else the list saved before.
    pub async fn open(client: &Client, dir: &Path, show: &str, gate: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let list_path = dir.join(format!("{}.list", file_part(show)));
        let stem = format!("{}-{}", file_part(show), file_part(gate));
        adopt_unescaped_files(dir, show, gate, &stem)?;
        let fresh =
            tokio::time::timeout(Duration::from_secs(5), client.door_list(show, false)).await;
        let list = match fresh {
            Ok(Ok(list)) => {
                write_atomically(&list_path, &list.encode_to_vec())
                    .with_context(|| format!("saving {}", list_path.display()))?;
                list
            }
            Ok(Err(status)) if !unreachable(&status) => {
                return Err(crate::output::api(status)).context("reading the door list");
            }
            _ => {
                let bytes = std::fs::read(&list_path).with_context(|| {
                    format!(
                        "the cluster does not answer and no door list was saved in {}",
                        dir.display()
                    )
                })?;
                eprintln!("the cluster does not answer: working from the saved door list");
                v1::DoorList::decode(bytes.as_slice())
                    .with_context(|| format!("{} is not a door list", list_path.display()))?
            }
        };
        let pending_path = dir.join(format!("{stem}.pending"));
        let pending = read_lines(&pending_path)?
            .unwrap_or_default()
            .iter()
            .map(|l| serde_json::from_str(l))
            .collect::<Result<Vec<Pending>, _>>()
            .with_context(|| format!("reading {}", pending_path.display()))?;
        let mut door = Self::from_list(list, gate, pending_path, pending)?;
        let seen = read_lines(&door.seen_path)?.unwrap_or_default();
        door.admitted_here.extend(seen);
        Ok(door)
    }

    fn from_list(
        list: v1::DoorList,
        gate: &str,
        pending_path: PathBuf,
        pending: Vec<Pending>,
    ) -> anyhow::Result<Self> {
        let keys =
            list.keys
                .into_iter()
                .map(|k| {
                    Ok(PublicTicketKey {
                        kid: k.kid,
                        key: k.public_key.try_into().map_err(|_| {
                            anyhow::anyhow!("a ticket key of the list is not 32 bytes")
                        })?,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
        let verifier = TicketVerifier::new(&keys).map_err(|e| anyhow::anyhow!("{e}"))?;
        let tickets = list
            .tickets
            .into_iter()
            .map(|t| {
                let listed = Listed {
                    version: t.version,
                    label: t.label,
                    ticket_type: t.ticket_type,
                    gate: (t.admitted_at_ms > 0).then_some(t.gate),
                };
                (t.ticket_id, listed)
            })
            .collect();
        let mut door = Self {
            show: list.show_id,
            gate: gate.to_owned(),
            seen_path: pending_path.with_extension("seen"),
            refused_path: pending_path.with_extension("refused"),
            pending_path,
            verifier,
            tickets,
            admitted_here: BTreeSet::new(),
            pending: Vec::new(),
        };
        for p in pending {
            if let Ok(t) = door.verifier.verify(&p.code) {
                door.admitted_here.insert(t.id.to_string());
            }
            door.pending.push(p);
        }
        Ok(door)
    }

    /// Scans waiting to be uploaded.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Notes an answer from the cluster, so later offline decisions (also
    /// after a restart) know the ticket is in.
    pub fn learn(&mut self, answer: &ScanAnswer) -> anyhow::Result<()> {
        if answer.result == ScanResult::Admitted
            && self.admitted_here.insert(answer.ticket_id.clone())
        {
            append_synced(&self.seen_path, &format!("{}\n", answer.ticket_id))?;
        }
        Ok(())
    }

    /// Decides a scan alone; an admission is recorded (synced) first.
    pub fn decide(
        &mut self,
        request_id: &str,
        code: &str,
        now_ms: i64,
    ) -> anyhow::Result<ScanAnswer> {
        let answer = |result, message: String| ScanAnswer {
            result,
            message: format!("(offline) {message}"),
            ticket_id: String::new(),
            label: String::new(),
            ticket_type: String::new(),
            admitted_at_ms: 0,
            gate: String::new(),
            show_id: String::new(),
        };
        let claims = match self.verifier.verify(code) {
            Ok(claims) => claims,
            Err(why) => return Ok(answer(ScanResult::Forged, format!("refused: {why}"))),
        };
        let id = claims.id.to_string();
        let known = |mut a: ScanAnswer| {
            a.ticket_id = id.clone();
            a.label = claims.place_label.clone();
            a.ticket_type = claims.ticket_type.clone();
            a
        };
        if claims.show != self.show {
            let mut a = answer(
                ScanResult::WrongPerformance,
                format!("wrong performance: this ticket is for {}", claims.show),
            );
            a.show_id = claims.show.clone();
            return Ok(known(a));
        }
        let Some(listed) = self.tickets.get(&id) else {
            return Ok(known(answer(
                ScanResult::Unknown,
                "refused: not on the door list (returned, unpaid, or sold after the list was read)"
                    .to_owned(),
            )));
        };
        if claims.version < listed.version {
            return Ok(known(answer(
                ScanResult::Superseded,
                format!(
                    "refused: an old code; the ticket was reissued (now version {})",
                    listed.version
                ),
            )));
        }
        let already = listed
            .gate
            .clone()
            .or_else(|| self.admitted_here.contains(&id).then(|| self.gate.clone()));
        if let Some(gate) = already {
            let mut a = answer(
                ScanResult::AlreadyIn,
                format!("already in: came in at gate {gate}"),
            );
            a.gate = gate;
            return Ok(known(a));
        }
        let pending = Pending {
            request_id: request_id.to_owned(),
            code: code.to_owned(),
            at_ms: now_ms,
        };
        let mut line = serde_json::to_string(&pending)?;
        line.push('\n');
        append_synced(&self.pending_path, &line)?;
        self.pending.push(pending);
        self.admitted_here.insert(id.clone());
        let what = if listed.ticket_type.is_empty() {
            listed.label.clone()
        } else {
            format!("{}, {}", listed.label, listed.ticket_type)
        };
        Ok(known(answer(
            ScanResult::Admitted,
            format!("admitted: {what}"),
        )))
    }

    /// Uploads pending scans in order until the cluster stops answering.
    /// A scan the cluster refuses (the ticket was returned or reissued
    /// while the door was cut off) is kept in the door's `.refused` file
    /// with the cluster's answer before it leaves the pending file.
    pub async fn upload(&mut self, client: &Client) -> anyhow::Result<Uploaded> {
        let mut done = Uploaded::default();
        while let Some(p) = self.pending.first().cloned() {
            // Paced waits are the cluster answering: not bounded by the
            // online wait.
            let sent = tokio::time::timeout(
                ONLINE_WAIT + MAX_PACED_WAIT,
                send_scan(
                    client,
                    &p.request_id,
                    &self.show,
                    &self.gate,
                    &p.code,
                    p.at_ms,
                ),
            )
            .await;
            let answer = match sent {
                Ok(Ok(answer)) => ScanAnswer::from(answer),
                Ok(Err(status)) if !unreachable(&status) => {
                    return Err(crate::output::api(status)).context("uploading offline scans");
                }
                _ => break,
            };
            match answer.result {
                ScanResult::AlreadyIn if answer.gate != self.gate => done.conflicts += 1,
                ScanResult::Admitted | ScanResult::AlreadyIn => {}
                _ => {
                    let record = Refused {
                        scan: p.clone(),
                        answer,
                    };
                    append_synced(
                        &self.refused_path,
                        &(serde_json::to_string(&record)? + "\n"),
                    )?;
                    done.refused += 1;
                }
            }
            self.pending.remove(0);
            done.uploaded += 1;
            // The file keeps exactly what is still pending.
            let rest: String = self
                .pending
                .iter()
                .map(|p| serde_json::to_string(p).map(|l| l + "\n"))
                .collect::<Result<_, _>>()?;
            write_atomically(&self.pending_path, rest.as_bytes())
                .with_context(|| format!("rewriting {}", self.pending_path.display()))?;
        }
        Ok(done)
    }

    /// Where refused uploads are kept.
    pub fn refused_path(&self) -> &Path {
        &self.refused_path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_ticket::{Ticket, TicketId, TicketSigner};

    fn ticket(booking: u64, place: u32, show: &str, version: u32) -> Ticket {
        Ticket {
            id: TicketId { booking, place },
            show: show.into(),
            place_label: format!("A-{place}"),
            ticket_type: "adult".into(),
            version,
        }
    }

    fn door(dir: &Path, signer: &TicketSigner, pending: Vec<Pending>) -> OfflineDoor {
        let public = signer.public_key();
        let listed = |id: &str, version, gate: &str| v1::DoorTicket {
            ticket_id: id.into(),
            version,
            label: "A-1".into(),
            ticket_type: "adult".into(),
            admitted_at_ms: if gate.is_empty() { 0 } else { 5 },
            gate: gate.into(),
        };
        let list = v1::DoorList {
            show_id: "gig".into(),
            at_ms: 1,
            keys: vec![v1::TicketKey {
                kid: public.kid,
                public_key: public.key.to_vec(),
            }],
            tickets: vec![
                listed("1-1", 0, ""),
                listed("1-2", 1, ""),
                listed("1-3", 0, "south"),
            ],
            conflicts: Vec::new(),
            gates: Vec::new(),
            ..v1::DoorList::default()
        };
        OfflineDoor::from_list(list, "north", dir.join("gig-north.pending"), pending).unwrap()
    }

    #[test]
    fn ids_make_safe_distinct_file_names() {
        assert_eq!(file_part("gig_1"), "gig_1");
        assert_eq!(file_part("../x"), "%2E%2E%2Fx");
        assert_ne!(
            format!("{}-{}", file_part("a-b"), file_part("c")),
            format!("{}-{}", file_part("a"), file_part("b-c"))
        );
    }

    #[test]
    fn files_of_an_earlier_release_are_adopted_under_escaped_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gig-stalls-left.pending"), "scan\n").unwrap();
        std::fs::write(dir.path().join("gig-stalls-left.seen"), "1-1\n").unwrap();
        let stem = format!("{}-{}", file_part("gig"), file_part("stalls-left"));
        adopt_unescaped_files(dir.path(), "gig", "stalls-left", &stem).unwrap();
        let pending = dir.path().join(format!("{stem}.pending"));
        assert_eq!(std::fs::read_to_string(pending).unwrap(), "scan\n");
        assert!(dir.path().join(format!("{stem}.seen")).is_file());
        assert!(!dir.path().join("gig-stalls-left.pending").exists());
        // Nothing bare is looked up for an id that could leave the directory.
        adopt_unescaped_files(dir.path(), "../x", "g", "s").unwrap();
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pending");
        assert_eq!(read_lines(&path).unwrap(), None);
        std::fs::write(&path, "one\n\ntwo\n{\"request_id\":\"r").unwrap();
        assert_eq!(
            read_lines(&path).unwrap().unwrap(),
            ["one".to_owned(), "two".to_owned()]
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n\ntwo\n");
        append_synced(&path, "three\n").unwrap();
        assert_eq!(read_lines(&path).unwrap().unwrap().len(), 3);
    }

    #[test]
    fn a_paced_answer_says_how_long_to_wait() {
        let mut status = tonic::Status::resource_exhausted("too many door scans");
        assert_eq!(retry_after(&status), None);
        status.metadata_mut().insert(
            boxoffice_proto::convert::RETRY_AFTER_MS,
            "250".parse().unwrap(),
        );
        assert_eq!(retry_after(&status), Some(Duration::from_millis(250)));
        let mut other = tonic::Status::unavailable("down");
        other.metadata_mut().insert(
            boxoffice_proto::convert::RETRY_AFTER_MS,
            "250".parse().unwrap(),
        );
        assert_eq!(retry_after(&other), None);
    }

    #[test]
    fn offline_the_door_admits_listed_tickets_once_and_keeps_the_scans() {
        let dir = tempfile::tempdir().unwrap();
        let signer = TicketSigner::generate("k1");
        let mut door = door(dir.path(), &signer, Vec::new());
        let code = signer.sign(&ticket(1, 1, "gig", 0));
        let first = door.decide("r1", &code, 100).unwrap();
        assert_eq!(first.result, ScanResult::Admitted, "{first:?}");
        let again = door.decide("r2", &code, 101).unwrap();
        assert_eq!(
            (again.result, again.gate.as_str()),
            (ScanResult::AlreadyIn, "north")
        );
        let cases = [
            (signer.sign(&ticket(1, 3, "gig", 0)), ScanResult::AlreadyIn),
            (signer.sign(&ticket(1, 2, "gig", 0)), ScanResult::Superseded),
            (signer.sign(&ticket(1, 9, "gig", 0)), ScanResult::Unknown),
            (
                signer.sign(&ticket(1, 1, "other", 0)),
                ScanResult::WrongPerformance,
            ),
            (
                TicketSigner::generate("k1").sign(&ticket(1, 2, "gig", 1)),
                ScanResult::Forged,
            ),
            ("BT1.nonsense".to_owned(), ScanResult::Forged),
        ];
        for (code, expected) in cases {
            assert_eq!(
                door.decide("r", &code, 102).unwrap().result,
                expected,
                "{code}"
            );
        }
        // A reissued ticket's newer code admits.
        let newer = signer.sign(&ticket(1, 2, "gig", 1));
        assert_eq!(
            door.decide("r3", &newer, 103).unwrap().result,
            ScanResult::Admitted
        );
        // Exactly the two admissions wait for upload, on disk too.
        assert_eq!(door.pending(), 2);
        let saved = std::fs::read_to_string(dir.path().join("gig-north.pending")).unwrap();
        let saved: Vec<Pending> = saved
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            saved
                .iter()
                .map(|p| (p.request_id.as_str(), p.at_ms))
                .collect::<Vec<_>>(),
            [("r1", 100), ("r3", 103)]
        );
        // A door restarted from that file remembers them.
        let mut restarted = super::tests::door(dir.path(), &signer, saved);
        assert_eq!(restarted.pending(), 2);
        assert_eq!(
            restarted.decide("r4", &code, 104).unwrap().result,
            ScanResult::AlreadyIn
        );
    }
}
