//! Tickets and the door on `boxoffice.v1.BookingService`: each paid place's
//! signed code, reissuing one, scanning codes at a door, and the keys that
//! verify codes.
//!
//! Who may call what, and how they prove it (a bearer token, as for every
//! call of the service):
//! - ListTickets: the caller's own tickets only (another user's booking is
//!   NOT_FOUND); a revoked session sees nothing.
//! - ReissueTicket: the ticket's owner (the state machine also lets an
//!   administrator, but the API reissues the caller's own tickets).
//! - CheckIn: an administrator, or door staff of the performance's
//!   production or venue; refused here (on this replica's view) before
//!   anything is proposed, and checked again by the state machine.
//! - SetDoorStaff: an administrator.
//! - ListTicketKeys: anyone signed in; public keys are not secret.
//! - RetireTicketKey: an administrator.
//!
//! Codes are signed with this node's own ticket key ([`TicketDesk`]), whose
//! public half the node registers in the replicated state before it signs
//! its first code, so every node and every offline scanner can verify
//! codes of every node. The private key never leaves the node's data
//! directory. A retired key signs nothing more: the node replaces it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use boxoffice_core::{
    Booking, BookingId, BookingStatus, Command, DoorScope, DoorTicket, Effect, ProductionId,
    Rejection, RequestId, SYSTEM_REQUEST_PREFIX, Scan, SeatNo, ShowId, State, TicketRef, Timestamp,
    UserId, VenueId, check_id,
};
use boxoffice_proto::convert;
use boxoffice_proto::v1;
use boxoffice_ticket::{
    CodeError, PublicTicketKey, Ticket, TicketId, TicketSigner, TicketVerifier,
};
use tonic::{Response, Status};

use super::{BookingApi, booking_id};
use crate::checkout::submit_trusted;
use crate::port::ReplicaPort;

/// What a refusal to scan says is needed.
const DOOR_STAFF: &str = "checking tickets in needs the administrator role, or door staff of the performance's production or venue";

/// Most tickets one ListTickets answers with (newest bookings first).
pub const MAX_TICKETS_PAGE: usize = 2_000;

/// A node's ticket signing key, kept in its data directory.
///
/// The key signs only while the cluster trusts its public half: before its
/// first code the node registers the key (`AddTicketKey`), and once an
/// administrator has retired it (`RetireTicketKey`) the node makes a new
/// key, stores it in place of the old one and registers that, so a retired
/// key never signs again.
pub struct TicketDesk {
    path: PathBuf,
    node: u64,
    signer: RwLock<Arc<TicketSigner>>,
    /// Held while the key is being replaced, so two requests that find it
    /// retired make one new key between them.
    replacing: tokio::sync::Mutex<()>,
}

/// Why the ticket key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TicketKeyError {
    /// Reading or writing the file failed.
    #[error("ticket key {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a ticket key.
    #[error("ticket key {0}: not a ticket key file (move it away to make a new key)")]
    Corrupt(PathBuf),
}

/// What the cluster makes of a node's key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Standing {
    Trusted,
    Unknown,
    Retired,
}

impl TicketDesk {
    /// The key stored at `path`, or a new one (named after `node` and the
    /// time) written there first, readable by the owner only.
    pub fn open(path: &Path, node: u64) -> Result<Self, TicketKeyError> {
        let signer = match std::fs::read(path) {
            Ok(bytes) => {
                let (kid, seed): (String, [u8; 32]) = postcard::from_bytes(&bytes)
                    .map_err(|_| TicketKeyError::Corrupt(path.to_owned()))?;
                if check_id("kid", &kid).is_err() {
                    return Err(TicketKeyError::Corrupt(path.to_owned()));
                }
                TicketSigner::from_seed(kid, &seed)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::replace(path, node)?,
            Err(source) => {
                return Err(TicketKeyError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Ok(Self {
            path: path.to_owned(),
            node,
            signer: RwLock::new(Arc::new(signer)),
            replacing: tokio::sync::Mutex::new(()),
        })
    }

    /// Makes a new key for `node` and stores it at `path` in place of any
    /// key there (atomically: a crash leaves the old key or the new one).
    /// A running node reads it when it starts; codes signed with the old
    /// key keep verifying until an administrator retires it.
    pub fn replace(path: &Path, node: u64) -> Result<TicketSigner, TicketKeyError> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut signer = TicketSigner::generate("");
        // The public key's first bytes tell apart keys made in one second.
        let tag: String = signer.public_key().key[..3]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        signer = TicketSigner::from_seed(format!("n{node}-{secs}-{tag}"), &signer.seed());
        let bytes = postcard::to_stdvec(&(signer.kid(), signer.seed()))
            .map_err(|e| std::io::Error::other(e.to_string()));
        bytes
            .and_then(|bytes| write_private(path, &bytes))
            .map_err(|source| TicketKeyError::Io {
                path: path.to_owned(),
                source,
            })?;
        Ok(signer)
    }

    /// The key's id.
    pub fn kid(&self) -> String {
        self.current().kid().to_owned()
    }

    fn current(&self) -> Arc<TicketSigner> {
        self.signer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// What the cluster makes of `signer`'s key: this replica's view when
    /// `stale`, else read after the read barrier.
    async fn standing(
        replica: &ReplicaPort,
        signer: &TicketSigner,
        stale: bool,
    ) -> Result<Standing, Status> {
        let public = signer.public_key();
        replica
            .read(stale, move |s| {
                let doors = s.doors();
                if doors.retired_keys().contains(&public.kid) {
                    Standing::Retired
                } else if doors.keys().get(&public.kid) == Some(&public.key) {
                    Standing::Trusted
                } else {
                    Standing::Unknown
                }
            })
            .await
    }

    /// The key to sign with: this node's, registered in the replicated
    /// state if it is not yet, or a new one if the old was retired. The
    /// common case reads this replica's view only: a replica that has not
    /// applied a retirement yet may sign a few more codes with the retired
    /// key, which the door refuses (the holder lists the tickets again).
    async fn signer(&self, replica: &ReplicaPort) -> Result<Arc<TicketSigner>, Status> {
        let signer = self.current();
        if Self::standing(replica, &signer, true).await? == Standing::Trusted {
            return Ok(signer);
        }
        let _replacing = self.replacing.lock().await;
        let mut signer = self.current();
        let mut standing = Self::standing(replica, &signer, false).await?;
        if standing == Standing::Retired {
            let old = signer.kid().to_owned();
            let new = Self::replace(&self.path, self.node)
                .map_err(|e| Status::internal(format!("cannot replace a retired key: {e}")))?;
            tracing::warn!(
                retired = %old,
                new = %new.kid(),
                "this node's ticket key was retired; it signs with a new key from now on"
            );
            signer = Arc::new(new);
            *self
                .signer
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = signer.clone();
            standing = Standing::Unknown;
        }
        if standing == Standing::Unknown {
            let public = signer.public_key();
            let id = RequestId(format!("{SYSTEM_REQUEST_PREFIX}ticket-key:{}", public.kid));
            let command = Command::AddTicketKey {
                kid: public.kid.clone(),
                public: public.key,
            };
            if let Err(rejection) = submit_trusted(replica, id, command).await? {
                return Err(Status::failed_precondition(format!(
                    "this node's ticket key cannot be registered: {rejection}"
                )));
            }
        }
        Ok(signer)
    }
}

/// Writes `bytes` to `path` (mode 0600) through a temporary file, synced,
/// so a crash leaves the old file or the new one, never half of one. The
/// temporary file is created afresh under a fresh name (never through a
/// link left in its place), and the directory is synced so the rename
/// survives a crash.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    // A name of its own, so that two writers (the node replacing a retired
    // key, `keys rotate-ticket`) never write into one temporary file.
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("key");
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    std::fs::File::open(dir)?.sync_all()
}

/// The verifier of every ticket key the state knows.
fn verifier(keys: &BTreeMap<String, [u8; 32]>) -> Result<TicketVerifier, Status> {
    let keys: Vec<PublicTicketKey> = keys
        .iter()
        .map(|(kid, key)| PublicTicketKey {
            kid: kid.clone(),
            key: *key,
        })
        .collect();
    TicketVerifier::new(&keys).map_err(|e| Status::internal(format!("a stored ticket key: {e}")))
}

/// A ticket's claims and its door record, as the state shows them.
struct Issued {
    claims: Ticket,
    admitted: Option<(Timestamp, String)>,
}

/// The tickets of `booking` (a confirmed one), as the state shows them.
fn tickets_of(state: &State, booking: &Booking) -> Vec<Issued> {
    if !matches!(booking.status, BookingStatus::Confirmed { .. }) {
        return Vec::new();
    }
    let labels = convert::booking_in(state, booking).tickets;
    booking
        .seats
        .iter()
        .zip(labels)
        .map(|(&place, shown)| {
            let ticket = TicketRef {
                booking: booking.id,
                place,
            };
            Issued {
                claims: Ticket {
                    id: TicketId {
                        booking: booking.id.0,
                        place: place.0,
                    },
                    show: booking.show.to_string(),
                    place_label: shown.label,
                    ticket_type: shown.ticket_type,
                    version: state.doors().version(ticket),
                },
                admitted: state.doors().entry(ticket).map(|e| (e.at, e.gate.clone())),
            }
        })
        .collect()
}

/// A ticket id from a request: `<booking>-<seat_no>`.
fn ticket_id(raw: &str) -> Result<(BookingId, SeatNo), Status> {
    let id: TicketId = raw
        .parse()
        .map_err(|_| Status::invalid_argument(format!("ticket_id {raw:?} is not a ticket id")))?;
    Ok((BookingId(id.booking), SeatNo(id.place)))
}

impl BookingApi {
    fn e_ticket(signer: &TicketSigner, issued: Issued) -> v1::ETicket {
        let code = signer.sign(&issued.claims);
        let Ticket {
            id,
            show,
            place_label,
            ticket_type,
            version,
        } = issued.claims;
        let (admitted_at_ms, gate) = issued
            .admitted
            .map_or((0, String::new()), |(at, g)| (at.0, g));
        v1::ETicket {
            ticket_id: id.to_string(),
            booking_id: id.booking.to_string(),
            show_id: show,
            seat_no: id.place,
            label: place_label,
            ticket_type,
            version,
            code,
            admitted_at_ms,
            gate,
        }
    }

    pub(super) async fn list_tickets_call(
        &self,
        req: tonic::Request<v1::ListTicketsRequest>,
    ) -> Result<Response<v1::ListTicketsResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        let only = match r.booking_id.as_str() {
            "" => None,
            raw => Some(booking_id(raw)?),
        };
        let signer = self.tickets.signer(&self.replica).await?;
        let issued = self
            .read(r.read, |s| -> Result<Vec<Issued>, Rejection> {
                s.authenticate(&caller)?;
                // Only the tickets the caller holds: their own bookings'
                // not given away, and those given to them.
                let held = |booking: &Booking| {
                    tickets_of(s, booking)
                        .into_iter()
                        .filter(|i| {
                            let ticket = TicketRef {
                                booking: booking.id,
                                place: SeatNo(i.claims.id.place),
                            };
                            s.holder_of(ticket, &booking.user) == caller.user
                        })
                        .collect::<Vec<_>>()
                };
                let mut out = Vec::new();
                match only {
                    Some(id) => {
                        out = s.booking(id).map(|b| held(&b)).unwrap_or_default();
                        if out.is_empty() && s.booking(id).is_none_or(|b| b.user != caller.user) {
                            return Err(Rejection::BookingNotFound(id));
                        }
                    }
                    None => {
                        let given: std::collections::BTreeSet<BookingId> =
                            s.doors().held_by(&caller.user).map(|t| t.booking).collect();
                        for booking in s.bookings_of(&caller.user).rev() {
                            out.extend(held(&booking));
                            if out.len() >= MAX_TICKETS_PAGE {
                                break;
                            }
                        }
                        for id in given {
                            if out.len() >= MAX_TICKETS_PAGE {
                                break;
                            }
                            if let Some(booking) = s.booking(id)
                                && booking.user != caller.user
                            {
                                out.extend(held(&booking));
                            }
                        }
                    }
                }
                out.truncate(MAX_TICKETS_PAGE);
                Ok(out)
            })
            .await?
            .map_err(|r| convert::rejection_status(&r))?;
        Ok(Response::new(v1::ListTicketsResponse {
            tickets: issued
                .into_iter()
                .map(|i| Self::e_ticket(&signer, i))
                .collect(),
        }))
    }

    pub(super) async fn reissue_ticket_call(
        &self,
        req: tonic::Request<v1::ReissueTicketRequest>,
    ) -> Result<Response<v1::ReissueTicketResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        let (booking, place) = ticket_id(&r.ticket_id)?;
        let signer = self.tickets.signer(&self.replica).await?;
        let command = Command::ReissueTicket {
            booking,
            place,
            user: caller.user.clone(),
        };
        let user = caller.user.clone();
        let version = match self.write(caller, r.request_id, command).await? {
            Effect::Reissued(version) => version,
            other => return Err(Status::internal(format!("unexpected effect {other:?}"))),
        };
        // The ticket as it stands now: a linearizable read, since the
        // write may have been applied by the leader only (a follower's
        // replica could still sign the old version). A retried request is
        // answered from the dedup record without the holder being checked
        // again, so the code is signed only if the caller still holds the
        // ticket at exactly the version this reissue made: never a later
        // one (a transfer since, say) they have no right to.
        let issued = self
            .replica
            .read(false, move |s| {
                s.booking(booking).and_then(|b| {
                    let ticket = TicketRef {
                        booking: b.id,
                        place,
                    };
                    (s.holder_of(ticket, &b.user) == user)
                        .then(|| tickets_of(s, &b))
                        .and_then(|all| all.into_iter().find(|i| i.claims.id.place == place.0))
                })
            })
            .await?
            .ok_or_else(|| {
                Status::not_found(format!("you no longer hold ticket {}", r.ticket_id))
            })?;
        if issued.claims.version != version {
            return Err(Status::failed_precondition(format!(
                "ticket {} has changed since this reissue (it is at version {}, not {version}); \
                 list your tickets for its current code",
                r.ticket_id, issued.claims.version
            )));
        }
        Ok(Response::new(v1::ReissueTicketResponse {
            ticket: Some(Self::e_ticket(&signer, issued)),
        }))
    }

    pub(super) async fn check_in_call(
        &self,
        req: tonic::Request<v1::CheckInRequest>,
    ) -> Result<Response<v1::CheckInResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        check_id("show_id", &r.show_id).map_err(|e| convert::rejection_status(&e))?;
        let show = ShowId::from(r.show_id.as_str());
        let allowed = self
            .replica
            .read(true, |s| {
                s.authenticate(&caller)
                    .map(|user| s.may_check_in(user, &show))
            })
            .await?
            .map_err(|r| convert::rejection_status(&r))?;
        if !allowed {
            return Err(convert::rejection_status(&Rejection::PermissionDenied(
                DOOR_STAFF.to_owned(),
            )));
        }
        check_id("gate", &r.gate).map_err(|e| convert::rejection_status(&e))?;
        if r.offline_at_ms < 0 {
            return Err(Status::invalid_argument(
                "offline_at_ms must not be negative",
            ));
        }
        if r.exit && r.offline_at_ms != 0 {
            return Err(Status::invalid_argument(
                "exit scans are live only: offline_at_ms must be 0",
            ));
        }
        let claims = match self.verify(&r.code).await? {
            Ok(claims) => claims,
            Err(why) => {
                return Ok(Response::new(v1::CheckInResponse {
                    result: v1::ScanResult::Forged.into(),
                    message: format!("refused: {why}"),
                    ..Default::default()
                }));
            }
        };
        let ticket_id = claims.id.to_string();
        if claims.show != r.show_id {
            return Ok(Response::new(v1::CheckInResponse {
                result: v1::ScanResult::WrongPerformance.into(),
                message: format!("wrong performance: this ticket is for {}", claims.show),
                ticket_id,
                label: claims.place_label,
                ticket_type: claims.ticket_type,
                show_id: claims.show,
                ..Default::default()
            }));
        }
        let command = if r.exit {
            Command::CheckOut {
                show,
                booking: BookingId(claims.id.booking),
                place: SeatNo(claims.id.place),
                version: claims.version,
                gate: r.gate,
            }
        } else {
            Command::CheckIn {
                show,
                booking: BookingId(claims.id.booking),
                place: SeatNo(claims.id.place),
                version: claims.version,
                gate: r.gate,
                offline_at: (r.offline_at_ms != 0).then_some(Timestamp(r.offline_at_ms)),
            }
        };
        let scan = match self.write(caller, r.request_id, command).await? {
            Effect::Scanned(scan) => scan,
            other => return Err(Status::internal(format!("unexpected effect {other:?}"))),
        };
        Ok(Response::new(scan_response(
            scan,
            ticket_id,
            claims.place_label,
            claims.ticket_type,
        )))
    }

    /// Verifies a code against the cluster's keys, read after the read
    /// barrier: a replica that has not applied a key's retirement yet must
    /// not let that key's codes in (nor miss a key registered a moment
    /// ago elsewhere). A retirement committed between this read and the
    /// scan's own commit can still let one scan through.
    async fn verify(&self, code: &str) -> Result<Result<Ticket, CodeError>, Status> {
        let keys = self
            .replica
            .read(false, |s| s.doors().keys().clone())
            .await?;
        Ok(verifier(&keys)?.verify(code))
    }

    pub(super) async fn list_ticket_keys_call(
        &self,
        req: tonic::Request<v1::ListTicketKeysRequest>,
    ) -> Result<Response<v1::ListTicketKeysResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        let (keys, retired) = self
            .read(r.read, |s| {
                s.authenticate(&caller)?;
                let doors = s.doors();
                Ok((doors.keys().clone(), doors.retired_keys().clone()))
            })
            .await?
            .map_err(|r: Rejection| convert::rejection_status(&r))?;
        Ok(Response::new(v1::ListTicketKeysResponse {
            keys: keys
                .into_iter()
                .map(|(kid, key)| v1::TicketKey {
                    kid,
                    public_key: key.to_vec(),
                })
                .collect(),
            retired: retired.into_iter().collect(),
        }))
    }

    pub(super) async fn retire_ticket_key_call(
        &self,
        req: tonic::Request<v1::RetireTicketKeyRequest>,
    ) -> Result<Response<v1::RetireTicketKeyResponse>, Status> {
        let caller = self
            .admin_for(&req, "ticket keys are retired by administrators")
            .await?;
        let r = req.into_inner();
        check_id("kid", &r.kid).map_err(|e| convert::rejection_status(&e))?;
        let command = Command::RetireTicketKey { kid: r.kid };
        match self.write(caller, r.request_id, command).await? {
            Effect::TicketKeyRetired => Ok(Response::new(v1::RetireTicketKeyResponse {})),
            other => Err(Status::internal(format!("unexpected effect {other:?}"))),
        }
    }

    /// An account named by id ("u7") or by email.
    async fn account_named(&self, raw: &str) -> Result<UserId, Status> {
        if !raw.contains('@') {
            return Ok(UserId::from(raw));
        }
        let email = raw.to_owned();
        self.replica
            .read(false, move |s| {
                s.user_by_email(&email).map(|u| u.id.clone())
            })
            .await?
            .ok_or_else(|| Status::not_found(format!("no account has the email {raw}")))
    }

    pub(super) async fn transfer_ticket_call(
        &self,
        req: tonic::Request<v1::TransferTicketRequest>,
    ) -> Result<Response<v1::TransferTicketResponse>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        let (booking, place) = ticket_id(&r.ticket_id)?;
        if r.to.is_empty() {
            return Err(Status::invalid_argument(
                "to must name the receiving account (id or email)",
            ));
        }
        // Only a ticket's holder learns anything, even whether the
        // receiving email has an account (checked again when applied).
        let caller_user = caller.user.clone();
        let holds = self
            .replica
            .read(true, move |s| {
                s.authenticate(&caller)?;
                let held = s.booking(booking).is_some_and(|b| {
                    let ticket = TicketRef {
                        booking: b.id,
                        place,
                    };
                    b.seats.contains(&place) && s.holder_of(ticket, &b.user) == caller_user
                });
                Ok::<_, Rejection>((held, caller))
            })
            .await?;
        let (held, caller) = holds.map_err(|r| convert::rejection_status(&r))?;
        if !held {
            return Err(convert::rejection_status(&Rejection::BookingNotFound(
                booking,
            )));
        }
        let to = self.account_named(&r.to).await?;
        let command = Command::TransferTicket {
            booking,
            place,
            user: caller.user.clone(),
            to: to.clone(),
        };
        match self.write(caller, r.request_id, command).await? {
            Effect::Transferred(version) => Ok(Response::new(v1::TransferTicketResponse {
                ticket_id: r.ticket_id,
                version,
                to_user_id: to.to_string(),
            })),
            other => Err(Status::internal(format!("unexpected effect {other:?}"))),
        }
    }

    pub(super) async fn set_reentry_call(
        &self,
        req: tonic::Request<v1::SetReentryRequest>,
    ) -> Result<Response<v1::SetReentryResponse>, Status> {
        let caller = self
            .admin_for(&req, "exits and re-entry are set by administrators")
            .await?;
        let r = req.into_inner();
        check_id("show_id", &r.show_id).map_err(|e| convert::rejection_status(&e))?;
        let command = Command::SetReentry {
            show: ShowId::from(r.show_id.as_str()),
            allowed: r.allowed,
        };
        match self.write(caller, r.request_id, command).await? {
            Effect::ReentrySet => Ok(Response::new(v1::SetReentryResponse {})),
            other => Err(Status::internal(format!("unexpected effect {other:?}"))),
        }
    }

    pub(super) async fn set_door_staff_call(
        &self,
        req: tonic::Request<v1::SetDoorStaffRequest>,
    ) -> Result<Response<v1::SetDoorStaffResponse>, Status> {
        let caller = self
            .admin_for(&req, "door staff are appointed by administrators")
            .await?;
        let r = req.into_inner();
        let scope = match (r.production_id.is_empty(), r.venue_id.is_empty()) {
            (false, true) => DoorScope::Production(ProductionId::from(r.production_id.as_str())),
            (true, false) => DoorScope::Venue(VenueId::from(r.venue_id.as_str())),
            _ => {
                return Err(Status::invalid_argument(
                    "name either production_id or venue_id",
                ));
            }
        };
        let user = self.account_named(&r.user).await?;
        let command = if r.grant {
            Command::GrantDoorStaff { user, scope }
        } else {
            Command::RevokeDoorStaff { user, scope }
        };
        match self.write(caller, r.request_id, command).await? {
            Effect::User(user) => Ok(Response::new(v1::SetDoorStaffResponse {
                user_id: user.id.to_string(),
            })),
            other => Err(Status::internal(format!("unexpected effect {other:?}"))),
        }
    }

    pub(super) async fn get_door_list_call(
        &self,
        req: tonic::Request<v1::GetDoorListRequest>,
    ) -> Result<Response<v1::DoorList>, Status> {
        let caller = self.auth.caller(&req)?;
        let r = req.into_inner();
        check_id("show_id", &r.show_id).map_err(|e| convert::rejection_status(&e))?;
        let show = ShowId::from(r.show_id.as_str());
        let list = self
            .read(r.read, |s| -> Result<v1::DoorList, Rejection> {
                let user = s.authenticate(&caller)?;
                if !s.may_check_in(user, &show) {
                    return Err(Rejection::PermissionDenied(DOOR_STAFF.to_owned()));
                }
                let tickets = s
                    .door_list(&show)
                    .ok_or_else(|| Rejection::ShowNotFound(show.clone()))?;
                let admin = user.admin;
                let mut list = door_list(s, &show, tickets, r.counts_only);
                // The count of conflicts past the caps is the cluster's,
                // not this show's: for administrators only.
                if !admin {
                    list.conflicts_dropped = 0;
                }
                if r.counts_only {
                    list.keys.clear();
                }
                Ok(list)
            })
            .await?
            .map_err(|r| convert::rejection_status(&r))?;
        Ok(Response::new(list))
    }
}

/// A scan's finding as the door reads it.
fn scan_response(
    scan: Scan,
    ticket_id: String,
    label: String,
    ticket_type: String,
) -> v1::CheckInResponse {
    use v1::ScanResult as R;
    let (result, message, admitted_at_ms, gate, show_id) = match scan {
        Scan::Admitted { .. } => {
            // A simple show's places are bare numbers.
            let place = if label.bytes().all(|b| b.is_ascii_digit()) {
                format!("seat {label}")
            } else {
                label.clone()
            };
            let what = if ticket_type.is_empty() {
                place
            } else {
                format!("{place}, {ticket_type}")
            };
            let check = if needs_id(&ticket_type) {
                " (check ID)"
            } else {
                ""
            };
            (
                R::Admitted,
                format!("admitted: {what}{check}"),
                0,
                String::new(),
                String::new(),
            )
        }
        Scan::AlreadyIn(entry) => (
            R::AlreadyIn,
            format!("already in: came in at gate {}", entry.gate),
            entry.at.0,
            entry.gate,
            String::new(),
        ),
        Scan::WrongPerformance(show) => (
            R::WrongPerformance,
            format!("wrong performance: this ticket is for {show}"),
            0,
            String::new(),
            show.to_string(),
        ),
        Scan::Returned => (
            R::Returned,
            "refused: the ticket was returned".to_owned(),
            0,
            String::new(),
            String::new(),
        ),
        Scan::Transferred { current } => (
            R::Transferred,
            format!("refused: the ticket was transferred to someone else (now version {current})"),
            0,
            String::new(),
            String::new(),
        ),
        Scan::Left(exit) => (
            R::Left,
            format!("out: left at gate {} (may come in again)", exit.gate),
            exit.at.0,
            exit.gate,
            String::new(),
        ),
        Scan::NotIn => (
            R::NotIn,
            "not in: this ticket has not come in (or already went out)".to_owned(),
            0,
            String::new(),
            String::new(),
        ),
        Scan::Superseded { current } => (
            R::Superseded,
            format!("refused: an old code; the ticket was reissued (now version {current})"),
            0,
            String::new(),
            String::new(),
        ),
        Scan::NotPaid => (
            R::NotPaid,
            "refused: the booking is not paid".to_owned(),
            0,
            String::new(),
            String::new(),
        ),
        Scan::Unknown => (
            R::Unknown,
            "refused: no such booking".to_owned(),
            0,
            String::new(),
            String::new(),
        ),
    };
    v1::CheckInResponse {
        result: result.into(),
        message,
        ticket_id,
        label,
        ticket_type,
        admitted_at_ms,
        gate,
        show_id,
    }
}

/// Ticket types whose holder shows proof at the door.
fn needs_id(ticket_type: &str) -> bool {
    matches!(
        ticket_type,
        "concession" | "child" | "companion" | "student"
    )
}

/// A performance's door list from the state.
fn door_list(
    state: &State,
    show: &ShowId,
    tickets: Vec<DoorTicket>,
    counts_only: bool,
) -> v1::DoorList {
    // Labels and types come from each booking, read once.
    let mut bookings: BTreeMap<BookingId, Vec<v1::Ticket>> = BTreeMap::new();
    let mut gates: BTreeMap<String, u32> = BTreeMap::new();
    let sold = u32::try_from(tickets.len()).unwrap_or(u32::MAX);
    let mut inside = 0u32;
    // Admissions per gate count every ticket that came in, out now or not.
    for t in &tickets {
        if let Some(entry) = state.doors().entry(t.ticket) {
            *gates.entry(entry.gate.clone()).or_default() += 1;
        }
        if state.doors().inside(t.ticket) {
            inside += 1;
        }
    }
    let tickets: Vec<v1::DoorTicket> = if counts_only { Vec::new() } else { tickets }
        .into_iter()
        .map(|t| {
            let shown = bookings.entry(t.ticket.booking).or_insert_with(|| {
                state
                    .booking(t.ticket.booking)
                    .map(|b| convert::booking_in(state, &b).tickets)
                    .unwrap_or_default()
            });
            let place = shown.iter().find(|s| s.seat_no == t.ticket.place.0);
            let (admitted_at_ms, gate) = match t.entry {
                Some(entry) => (entry.at.0, entry.gate),
                None => (0, String::new()),
            };
            v1::DoorTicket {
                ticket_id: format!("{}-{}", t.ticket.booking, t.ticket.place),
                version: t.version,
                label: place.map(|p| p.label.clone()).unwrap_or_default(),
                ticket_type: place.map(|p| p.ticket_type.clone()).unwrap_or_default(),
                admitted_at_ms,
                gate,
            }
        })
        .collect();
    let conflicts = state
        .conflicts_of(show)
        .map(|c| v1::DoorConflict {
            ticket_id: format!("{}-{}", c.ticket.booking, c.ticket.place),
            first_gate: c.first.gate.clone(),
            first_at_ms: c.first.at.0,
            second_gate: c.second.gate.clone(),
            second_at_ms: c.second.at.0,
        })
        .collect();
    v1::DoorList {
        show_id: show.to_string(),
        at_ms: state.now().0,
        keys: state
            .doors()
            .keys()
            .iter()
            .map(|(kid, key)| v1::TicketKey {
                kid: kid.clone(),
                public_key: key.to_vec(),
            })
            .collect(),
        tickets,
        conflicts,
        gates: gates
            .into_iter()
            .map(|(gate, admitted)| v1::GateCount { gate, admitted })
            .collect(),
        inside,
        conflicts_dropped: state.doors().conflicts_dropped(),
        reentry: state.doors().allows_reentry(show),
        sold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key file: made once, read back, replaced in place (owner-only,
    /// through a temporary file of its own that is gone afterwards), and a
    /// file that is not a key is refused rather than overwritten.
    #[test]
    fn a_ticket_key_file_is_made_once_replaced_whole_and_never_misread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::TICKET_KEY_FILE);
        let first = TicketDesk::open(&path, 2).unwrap().kid();
        assert!(first.starts_with("n2-"), "{first}");
        assert_eq!(TicketDesk::open(&path, 2).unwrap().kid(), first);

        let replaced = TicketDesk::replace(&path, 2).unwrap();
        assert_ne!(replaced.kid(), first);
        assert_eq!(TicketDesk::open(&path, 2).unwrap().kid(), replaced.kid());
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files, [crate::TICKET_KEY_FILE], "no temporary file left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        std::fs::write(&path, b"not a key").unwrap();
        assert!(matches!(
            TicketDesk::open(&path, 2),
            Err(TicketKeyError::Corrupt(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"not a key");
    }
}
