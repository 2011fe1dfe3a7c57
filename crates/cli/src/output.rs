//! How client commands print: tables for people, tab-separated lines when
//! piped, JSON with `--json`; colours only on a terminal without
//! `NO_COLOR`; errors on stderr with an exit code that says what kind of
//! failure it was.

use std::io::IsTerminal;

use boxoffice_client::proto as v1;
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
    /// A service stopped for a cause outside it that may pass (the payment
    /// ledger's disk full): its supervisor starts it again, later and
    /// later, however often (sysexits' EX_TEMPFAIL).
    pub const STOPPED_FOR_NOW: u8 = 75;
}

/// The text appended to `boxoffice --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes: 0 success; 1 other failure; 2 bad usage or invalid input; \
3 not found; 4 refused by the current state (seat taken, card declined, \
hold ended); 5 not logged in or not allowed; 6 no node answered (retrying \
is safe); 7 too many attempts; 75 a service stopped for a cause that may pass \
(its disk full): start it again later.

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

/// Money and times as every client prints them.
pub use boxoffice_view::{money, when};

/// Shows, seats, bookings, accounts, answers and the cluster as `--json`
/// prints them: the view layer's shapes, as the gateway's JSON API returns them.
pub use boxoffice_view::json::{
    Answer as AnswerJson, Booking as BookingJson, Cluster as ClusterJson, Seat as SeatJson,
    Show as ShowJson, User as UserJson,
};

use boxoffice_view::status::{BookingStatus, NodeRole, PaymentStatus, SeatState};

/// Lower-case name of a seat state.
pub fn seat_state_name(state: i32) -> &'static str {
    SeatState::from_proto(state).name()
}

/// Lower-case name of a booking status.
pub fn status_name(status: i32) -> &'static str {
    BookingStatus::from_proto(status).name()
}

/// Snake-case name of a payment status.
pub fn payment_name(payment: i32) -> &'static str {
    PaymentStatus::from_proto(payment).name()
}

/// Lower-case name of a node's role, `unreachable` when it did not answer.
pub fn role_name(n: &v1::NodeStatus) -> &'static str {
    if !n.reachable {
        return "unreachable";
    }
    NodeRole::from_proto(n.role).name()
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
