//! A door that keeps admitting while cut off from the cluster.
//!
//! `boxoffice checkin --offline-dir DIR` downloads the performance's door
//! list when it starts (the ticket keys, every current ticket with its
//! version and admission) and keeps it in `DIR/<show>.list`. When a scan
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

/// A scan admitted offline, waiting to be uploaded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Pending {
    request_id: String,
    code: String,
    at_ms: i64,
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

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
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
        let list_path = dir.join(format!("{show}.list"));
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
        let pending_path = dir.join(format!("{show}-{gate}.pending"));
        let pending = match std::fs::read_to_string(&pending_path) {
            Ok(text) => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(serde_json::from_str)
                .collect::<Result<Vec<Pending>, _>>()
                .with_context(|| format!("reading {}", pending_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", pending_path.display())),
        };
        let seen_path = dir.join(format!("{show}-{gate}.seen"));
        let mut door = Self::from_list(list, gate, pending_path, pending)?;
        door.seen_path = seen_path;
        match std::fs::read_to_string(&door.seen_path) {
            Ok(text) => door
                .admitted_here
                .extend(text.lines().filter(|l| !l.is_empty()).map(str::to_owned)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", door.seen_path.display()));
            }
        }
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
            seen_path: PathBuf::new(),
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
            && !self.seen_path.as_os_str().is_empty()
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

    /// Uploads pending scans in order until the cluster stops answering;
    /// returns (uploaded, of them found in at another gate: conflicts).
    pub async fn upload(&mut self, client: &Client) -> anyhow::Result<(usize, usize)> {
        let (mut uploaded, mut conflicts) = (0, 0);
        while let Some(p) = self.pending.first().cloned() {
            let sent = tokio::time::timeout(
                ONLINE_WAIT,
                client.check_in(&p.request_id, &self.show, &self.gate, &p.code, p.at_ms),
            )
            .await;
            let answer = match sent {
                Ok(Ok(answer)) => ScanAnswer::from(answer),
                Ok(Err(status)) if !unreachable(&status) => {
                    return Err(crate::output::api(status)).context("uploading offline scans");
                }
                _ => break,
            };
            if answer.result == ScanResult::AlreadyIn && answer.gate != self.gate {
                conflicts += 1;
            }
            self.pending.remove(0);
            uploaded += 1;
            // The file keeps exactly what is still pending.
            let rest: String = self
                .pending
                .iter()
                .map(|p| serde_json::to_string(p).map(|l| l + "\n"))
                .collect::<Result<_, _>>()?;
            write_atomically(&self.pending_path, rest.as_bytes())
                .with_context(|| format!("rewriting {}", self.pending_path.display()))?;
        }
        Ok((uploaded, conflicts))
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
        };
        OfflineDoor::from_list(list, "north", dir.join("gig-north.pending"), pending).unwrap()
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
