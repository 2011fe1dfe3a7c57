//! How client commands print: tables for people, tab-separated lines when
//! piped, JSON with `--json`; colours only on a terminal without
//! `NO_COLOR`; errors on stderr with an exit code that says what kind of
//! failure it was.

use std::io::IsTerminal;

use boxoffice_client::proto::{self as v1, BookingStatus, NodeRole, PaymentStatus, SeatState};
use comfy_table::Table;
use serde::Serialize;
use tonic::{Code, Status};

/// Exit codes, as documented in `boxoffice --help` (0 is success).
pub mod exit {
    /// Any other failure.
    pub const FAILURE: u8 = 1;
    /// Bad usage or invalid input.
    pub const INVALID: u8 = 2;
    /// The show, seat, booking or user does not exist.
    pub const NOT_FOUND: u8 = 3;
    /// Refused by the current state: seat taken, card declined, hold ended.
    pub const REFUSED: u8 = 4;
    /// Not logged in, session ended, or not allowed.
    pub const AUTH: u8 = 5;
    /// No node (or service) answered; retrying is safe.
    pub const UNAVAILABLE: u8 = 6;
    /// Too many attempts (login throttling); wait and retry.
    pub const THROTTLED: u8 = 7;
}

/// The text appended to `boxoffice --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes: 0 success; 1 other failure; 2 bad usage or invalid input; \
3 not found; 4 refused by the current state (seat taken, card declined, \
hold ended); 5 not logged in or not allowed; 6 no node answered (retrying \
is safe); 7 too many attempts.

Settings: --endpoints / BOXOFFICE_ENDPOINTS, --auth / BOXOFFICE_AUTH_ENDPOINT, then \
`config.toml` in $BOXOFFICE_CONFIG_DIR (default ~/.config/boxoffice), then \
the local cluster. `boxoffice login` keeps the session there (mode 0600).";

/// A failed gRPC call, shown as its message and code.
#[derive(Debug)]
pub struct ApiError(pub Status);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]", self.0.message(), code_name(self.0.code()))
    }
}

impl std::error::Error for ApiError {}

/// `SCREAMING_CASE` name of a gRPC code, as the gRPC specification spells it.
pub use boxoffice_metrics::grpc::code_name;

/// Wraps a status so that it keeps its code up to `main`.
pub fn api(status: Status) -> anyhow::Error {
    ApiError(status).into()
}

/// The exit code for an error: from the gRPC status inside it, if any.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    let Some(ApiError(status)) = error.chain().find_map(|e| e.downcast_ref::<ApiError>()) else {
        return exit::FAILURE;
    };
    match status.code() {
        Code::InvalidArgument | Code::OutOfRange => exit::INVALID,
        Code::NotFound => exit::NOT_FOUND,
        Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => exit::REFUSED,
        Code::Unauthenticated | Code::PermissionDenied => exit::AUTH,
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => exit::UNAVAILABLE,
        Code::ResourceExhausted => exit::THROTTLED,
        _ => exit::FAILURE,
    }
}

/// Prints `error` on stderr: one line, or with `json` an object
/// `{"error": {"code": …, "message": …}}`.
pub fn print_error(error: &anyhow::Error, json: bool) {
    if json {
        let code = error
            .chain()
            .find_map(|e| e.downcast_ref::<ApiError>())
            .map_or("ERROR", |ApiError(s)| code_name(s.code()));
        let body = serde_json::json!({"error": {"code": code, "message": format!("{error:#}")}});
        eprintln!("{body}");
    } else {
        eprintln!("error: {error:#}");
    }
}

/// Where and how to print.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// JSON instead of tables.
    pub json: bool,
    /// Standard output is a terminal.
    pub tty: bool,
}

impl Output {
    /// Settings for this process's standard output; also switches colours
    /// on or off for everything printed through `console`.
    pub fn new(json: bool) -> Self {
        let tty = std::io::stdout().is_terminal();
        let color = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        );
        Self { json, tty }
    }

    /// Prints rows: a table on a terminal, tab-separated lines (header
    /// first) when piped.
    pub fn table(&self, headers: &[&str], rows: Vec<Vec<String>>) {
        println!("{}", self.render_table(headers, rows));
    }

    /// The text [`Output::table`] prints.
    pub fn render_table(&self, headers: &[&str], rows: Vec<Vec<String>>) -> String {
        if self.tty {
            let mut table = Table::new();
            table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            table.set_header(headers.to_vec());
            for row in rows {
                table.add_row(row);
            }
            table.to_string()
        } else {
            let mut lines = vec![headers.join("\t")];
            lines.extend(rows.into_iter().map(|row| row.join("\t")));
            lines.join("\n")
        }
    }

    /// Prints `value` as one line of JSON.
    pub fn json<T: Serialize>(&self, value: &T) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string(value)?);
        Ok(())
    }
}

/// Cents as a price, e.g. `45.00`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

/// Ms since the Unix epoch as a UTC date and time, e.g. `2026-12-24 19:30 UTC`.
pub fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// A show and a seat as `--json` prints them: as the gateway's JSON API does.
pub use boxoffice_gateway::dto::{Seat as SeatJson, Show as ShowJson};

/// Lower-case name of a seat state.
pub fn seat_state_name(state: i32) -> &'static str {
    match SeatState::try_from(state).unwrap_or(SeatState::Unspecified) {
        SeatState::Available => "available",
        SeatState::Held => "held",
        SeatState::Booked => "booked",
        SeatState::Unspecified => "unknown",
    }
}

/// A booking as `--json` prints it.
#[derive(Serialize)]
pub struct BookingJson {
    /// Its id.
    pub booking_id: String,
    /// The show.
    pub show_id: String,
    /// Seats, ascending.
    pub seats: Vec<u32>,
    /// Total in cents.
    pub total_cents: i64,
    /// `held`, `confirmed`, `released` or `cancelled`.
    pub status: &'static str,
    /// `none`, `pending`, `not_charged`, `charged`, `refund_pending` or `refunded`.
    pub payment: &'static str,
    /// When a hold expires (ms since the Unix epoch), else 0.
    pub hold_expires_at_ms: i64,
    /// Created, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// The checkout order, if paid through one.
    pub order_id: String,
    /// The payment transaction, if charged.
    pub transaction_id: String,
}

/// Lower-case name of a booking status.
pub fn status_name(status: i32) -> &'static str {
    match BookingStatus::try_from(status).unwrap_or(BookingStatus::Unspecified) {
        BookingStatus::Held => "held",
        BookingStatus::Confirmed => "confirmed",
        BookingStatus::Released => "released",
        BookingStatus::Cancelled => "cancelled",
        BookingStatus::Unspecified => "unknown",
    }
}

/// Snake-case name of a payment status.
pub fn payment_name(payment: i32) -> &'static str {
    match PaymentStatus::try_from(payment).unwrap_or(PaymentStatus::Unspecified) {
        PaymentStatus::None => "none",
        PaymentStatus::Pending => "pending",
        PaymentStatus::NotCharged => "not_charged",
        PaymentStatus::Charged => "charged",
        PaymentStatus::RefundPending => "refund_pending",
        PaymentStatus::Refunded => "refunded",
        PaymentStatus::Unspecified => "unknown",
    }
}

impl From<&v1::Booking> for BookingJson {
    fn from(b: &v1::Booking) -> Self {
        Self {
            booking_id: b.booking_id.clone(),
            show_id: b.show_id.clone(),
            seats: b.seat_nos.clone(),
            total_cents: b.total_cents,
            status: status_name(b.status),
            payment: payment_name(b.payment_status),
            hold_expires_at_ms: b.hold_expires_at_ms,
            created_at_ms: b.created_at_ms,
            order_id: b.order_id.clone(),
            transaction_id: b.transaction_id.clone(),
        }
    }
}

/// An account as `--json` prints it.
#[derive(Serialize)]
pub struct UserJson {
    /// Its id.
    pub user_id: String,
    /// Email.
    pub email: String,
    /// Whether it is an administrator.
    pub admin: bool,
}

impl From<&v1::User> for UserJson {
    fn from(u: &v1::User) -> Self {
        Self {
            user_id: u.user_id.clone(),
            email: u.email.clone(),
            admin: u.admin,
        }
    }
}

/// A node as `boxoffice cluster status --json` prints it.
#[derive(Serialize)]
pub struct NodeJson {
    /// Its id.
    pub node_id: u64,
    /// Its address.
    pub addr: String,
    /// `leader`, `follower`, `candidate`, `learner` or `unreachable`.
    pub role: &'static str,
    /// Its term.
    pub term: u64,
    /// The leader it knows (0: none).
    pub leader_id: u64,
    /// Last log index.
    pub last_log_index: u64,
    /// Commit index.
    pub commit_index: u64,
    /// Applied index.
    pub applied_index: u64,
    /// Last snapshot index.
    pub snapshot_index: u64,
}

/// Lower-case name of a node's role.
pub fn role_name(n: &v1::NodeStatus) -> &'static str {
    if !n.reachable {
        return "unreachable";
    }
    match NodeRole::try_from(n.role).unwrap_or(NodeRole::Unspecified) {
        NodeRole::Leader => "leader",
        NodeRole::Follower => "follower",
        NodeRole::Candidate => "candidate",
        NodeRole::Learner => "learner",
        NodeRole::Shutdown => "shutdown",
        NodeRole::Unspecified => "unknown",
    }
}

impl From<&v1::NodeStatus> for NodeJson {
    fn from(n: &v1::NodeStatus) -> Self {
        Self {
            node_id: n.node_id,
            addr: n.addr.clone(),
            role: role_name(n),
            term: n.term,
            leader_id: n.leader_id,
            last_log_index: n.last_log_index,
            commit_index: n.commit_index,
            applied_index: n.applied_index,
            snapshot_index: n.snapshot_index,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_exit_codes() {
        assert_eq!(money(4500), "45.00");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(-250), "-2.50");
        let code = |status: Status| exit_code(&api(status).context("booking failed"));
        assert_eq!(code(Status::not_found("x")), exit::NOT_FOUND);
        assert_eq!(code(Status::failed_precondition("x")), exit::REFUSED);
        assert_eq!(code(Status::unavailable("x")), exit::UNAVAILABLE);
        assert_eq!(code(Status::unauthenticated("x")), exit::AUTH);
        assert_eq!(code(Status::invalid_argument("x")), exit::INVALID);
        assert_eq!(exit_code(&anyhow::anyhow!("plain")), exit::FAILURE);
    }

    #[test]
    fn piped_tables_are_tab_separated() {
        let out = Output {
            json: false,
            tty: false,
        };
        let text = out.render_table(&["a", "b"], vec![vec!["1".into(), "x y".into()]]);
        assert_eq!(text, "a\tb\n1\tx y");
    }
}
