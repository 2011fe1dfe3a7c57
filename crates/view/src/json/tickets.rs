//! The JSON shapes of e-tickets, door scans and ticket keys: what
//! `boxoffice tickets … --json`, `boxoffice checkin --json` and `boxoffice
//! admin ticket-keys list --json` print and the gateway's `/api/tickets`,
//! `/api/checkin` and `/api/ticket-keys` return.

use boxoffice_proto::v1;
use serde::{Deserialize, Serialize};

/// A ticket with its signed code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ETicket {
    /// `<booking>-<seat_no>`.
    pub ticket_id: String,
    /// The booking it belongs to.
    pub booking_id: String,
    /// The performance it admits to.
    pub show_id: String,
    /// Its place number.
    pub seat_no: u32,
    /// The place as people say it ("Stalls K-12").
    pub label: String,
    /// Its ticket type ("adult").
    pub ticket_type: String,
    /// 0 until reissued; only a code of the current version admits.
    pub version: u32,
    /// The signed code ("BT1.…"), what the QR code carries.
    pub code: String,
    /// When it came in at the door (0: not yet).
    pub admitted_at_ms: i64,
    /// The gate it came in at (empty: not yet).
    pub gate: String,
}

impl From<v1::ETicket> for ETicket {
    fn from(t: v1::ETicket) -> Self {
        Self {
            ticket_id: t.ticket_id,
            booking_id: t.booking_id,
            show_id: t.show_id,
            seat_no: t.seat_no,
            label: t.label,
            ticket_type: t.ticket_type,
            version: t.version,
            code: t.code,
            admitted_at_ms: t.admitted_at_ms,
            gate: t.gate,
        }
    }
}

/// What a door scan found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ScanResult {
    /// Come in.
    Admitted,
    /// It came in before (see `admitted_at_ms` and `gate`).
    AlreadyIn,
    /// The ticket is for another performance (see `show_id`).
    WrongPerformance,
    /// The ticket was returned or its booking cancelled.
    Returned,
    /// The ticket was reissued: this is an old code.
    Superseded,
    /// The booking is not paid.
    NotPaid,
    /// No such booking.
    Unknown,
    /// Not a ticket code, or its signature does not verify.
    Forged,
    /// The ticket was given to another account: an old code.
    Transferred,
    /// Exit scan: the ticket went out (see `admitted_at_ms` and `gate`).
    Left,
    /// Exit scan: the ticket is not in.
    NotIn,
    /// A result this build does not know.
    #[serde(other)]
    Unspecified,
}

impl From<v1::ScanResult> for ScanResult {
    fn from(r: v1::ScanResult) -> Self {
        match r {
            v1::ScanResult::Admitted => Self::Admitted,
            v1::ScanResult::AlreadyIn => Self::AlreadyIn,
            v1::ScanResult::WrongPerformance => Self::WrongPerformance,
            v1::ScanResult::Returned => Self::Returned,
            v1::ScanResult::Superseded => Self::Superseded,
            v1::ScanResult::NotPaid => Self::NotPaid,
            v1::ScanResult::Unknown => Self::Unknown,
            v1::ScanResult::Forged => Self::Forged,
            v1::ScanResult::Transferred => Self::Transferred,
            v1::ScanResult::Left => Self::Left,
            v1::ScanResult::NotIn => Self::NotIn,
            v1::ScanResult::Unspecified => Self::Unspecified,
        }
    }
}

/// The answer to one scan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScanAnswer {
    /// What the scan found.
    pub result: ScanResult,
    /// What door staff read ("admitted: Stalls K-12, concession (check ID)").
    pub message: String,
    /// The ticket, when the code was genuine.
    pub ticket_id: String,
    /// Its place.
    pub label: String,
    /// Its ticket type.
    pub ticket_type: String,
    /// `already_in`: when it came in.
    pub admitted_at_ms: i64,
    /// `already_in`: the gate it came in at.
    pub gate: String,
    /// `wrong_performance`: the ticket's performance.
    pub show_id: String,
}

impl From<v1::CheckInResponse> for ScanAnswer {
    fn from(r: v1::CheckInResponse) -> Self {
        Self {
            result: v1::ScanResult::try_from(r.result)
                .map_or(ScanResult::Unspecified, ScanResult::from),
            message: r.message,
            ticket_id: r.ticket_id,
            label: r.label,
            ticket_type: r.ticket_type,
            admitted_at_ms: r.admitted_at_ms,
            gate: r.gate,
            show_id: r.show_id,
        }
    }
}

/// A public key that verifies ticket codes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketKey {
    /// The key's id, named in the codes it signs.
    pub kid: String,
    /// The Ed25519 public key, 32 bytes in hex.
    pub public_key_hex: String,
}

impl From<v1::TicketKey> for TicketKey {
    fn from(k: v1::TicketKey) -> Self {
        Self {
            kid: k.kid,
            public_key_hex: k.public_key.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn a_ticket_key_shows_its_public_key_in_lower_case_hex() {
        let key = TicketKey::from(v1::TicketKey {
            kid: "n1-5-abcdef".into(),
            public_key: vec![0x00, 0x0f, 0xab, 0xff],
        });
        assert_eq!(key.kid, "n1-5-abcdef");
        assert_eq!(key.public_key_hex, "000fabff");
    }
}
