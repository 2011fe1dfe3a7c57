//! Stateless checks of a request before it runs: well-formed ids and
//! fields ([`Command::validate`], [`Request::validate`]), the normal forms
//! of emails and titles, and who may issue what
//! ([`Command::check_permission`]).

use std::fmt::Display;
use std::ops::RangeInclusive;

use crate::command::{Command, Request, SYSTEM_REQUEST_PREFIX, Tickets};
use crate::ids::{
    MAX_EMAIL_LEN, MAX_HOLD_COOLDOWN_MS, MAX_HOLD_TTL_MS, MAX_ID_LEN, MAX_PASSWORD_HASH_LEN,
    MAX_PRICE_CENTS, MAX_SEATS_PER_BOOKING, MAX_SEATS_PER_SHOW, MAX_TITLE_LEN, SeatNo, Timestamp,
    UserId,
};
use crate::outcome::Rejection;
use crate::state::{DoorScope, RoomRules, User};

impl Request {
    /// Stateless validation: the request id is well-formed and the command is valid.
    pub fn validate(&self) -> Result<(), Rejection> {
        self.check_request_id()?;
        self.command.validate()
    }

    /// Checks the request id is well-formed and, for an end user's
    /// request, outside the system's namespace ([`SYSTEM_REQUEST_PREFIX`]).
    pub fn check_request_id(&self) -> Result<(), Rejection> {
        check_id("request_id", self.request_id.as_str())?;
        if self.caller.is_some() && self.request_id.as_str().starts_with(SYSTEM_REQUEST_PREFIX) {
            return Err(invalid(format!(
                "request_id must not start with {SYSTEM_REQUEST_PREFIX:?}, which is reserved for the system"
            )));
        }
        Ok(())
    }
}

impl Command {
    /// Stateless validation (the gRPC edge calls it before proposing; apply calls it too).
    ///
    /// Checks that ids are well-formed, the title is acceptable, `seat_count`
    /// is in `1..=MAX_SEATS_PER_SHOW`, prices are in `0..=MAX_PRICE_CENTS`,
    /// seat lists are non-empty, at most `MAX_SEATS_PER_BOOKING` long, free of
    /// seat 0 and of duplicates, hold ttls are in `1..=MAX_HOLD_TTL_MS`, that
    /// an `UpdateShow` changes at least one field, that emails pass
    /// [`normalize_email`], and that password hashes are 1 to
    /// `MAX_PASSWORD_HASH_LEN` printable ASCII characters without whitespace.
    /// Every failure is a [`Rejection::Invalid`] whose message names the
    /// offending field.
    pub fn validate(&self) -> Result<(), Rejection> {
        match self {
            Command::CreateShow {
                show,
                title,
                seat_count,
                price_cents,
                starts_at,
            } => {
                check_id("show", show.as_str())?;
                normalize_title(title)?;
                check_seat_count(*seat_count)?;
                check_price(*price_cents)?;
                check_starts_at(*starts_at)
            }
            Command::UpdateShow {
                show,
                title,
                seat_count,
                price_cents,
                starts_at,
            } => {
                check_id("show", show.as_str())?;
                if title.is_none()
                    && seat_count.is_none()
                    && price_cents.is_none()
                    && starts_at.is_none()
                {
                    return Err(invalid(
                        "update must change at least one of title, seat_count, price_cents, starts_at",
                    ));
                }
                if let Some(title) = title {
                    normalize_title(title)?;
                }
                if let Some(seat_count) = seat_count {
                    check_seat_count(*seat_count)?;
                }
                if let Some(price_cents) = price_cents {
                    check_price(*price_cents)?;
                }
                if let Some(starts_at) = starts_at {
                    check_starts_at(*starts_at)?;
                }
                Ok(())
            }
            Command::Hold {
                order,
                show,
                seats,
                tickets,
                user,
                ttl_ms,
                max_seats_per_user: _,
                limits,
            } => {
                check_id("order", order.as_str())?;
                check_id("show", show.as_str())?;
                check_tickets(seats, tickets)?;
                check_id("user", user.as_str())?;
                check_ttl(*ttl_ms)?;
                check_cooldown(limits.cooldown_ms)
            }
            Command::Book {
                show,
                seats,
                tickets,
                user,
                max_seats_per_user: _,
            } => {
                check_id("show", show.as_str())?;
                check_tickets(seats, tickets)?;
                check_id("user", user.as_str())
            }
            Command::Cancel { booking: _, user } => check_id("user", user.as_str()),
            Command::CreateVenue { venue, layout } => {
                check_id("venue", venue.as_str())?;
                layout.check().map_err(|e| invalid(e.to_string()))
            }
            Command::CreateProduction {
                production,
                title,
                description: _,
                running_minutes,
            } => {
                check_id("production", production.as_str())?;
                normalize_title(title)?;
                check_range("running_minutes", *running_minutes, 0..=24 * 60)
            }
            Command::AddPerformances {
                production,
                venue,
                performances,
                sales: _,
                pricing: _,
            } => {
                check_id("production", production.as_str())?;
                check_id("venue", venue.as_str())?;
                for performance in performances {
                    check_id("performance", performance.show.as_str())?;
                    check_starts_at(performance.starts_at)?;
                }
                Ok(())
            }
            Command::CancelPerformance { show } => check_id("show", show.as_str()),
            Command::CheckIn {
                show,
                gate,
                offline_at,
                ..
            } => {
                check_id("show", show.as_str())?;
                check_id("gate", gate)?;
                match offline_at {
                    Some(at) if at.0 < 0 => Err(invalid("offline_at must not be before 1970")),
                    _ => Ok(()),
                }
            }
            Command::ReissueTicket { .. } => Ok(()),
            Command::TransferTicket { to, .. } => check_id("to", to.as_str()),
            Command::CheckOut { show, gate, .. } => {
                check_id("show", show.as_str())?;
                check_id("gate", gate)
            }
            Command::SetReentry { show, .. } => check_id("show", show.as_str()),
            Command::GrantDoorStaff { user, scope } | Command::RevokeDoorStaff { user, scope } => {
                check_id("user", user.as_str())?;
                match scope {
                    DoorScope::Production(p) => check_id("production", p.as_str()),
                    DoorScope::Venue(v) => check_id("venue", v.as_str()),
                }
            }
            Command::AddTicketKey { kid, .. } | Command::RetireTicketKey { kid } => {
                check_id("kid", kid)
            }
            Command::HoldBack { show, seats, .. } | Command::ReleaseHeldBack { show, seats } => {
                check_id("show", show.as_str())?;
                check_seat_list(seats, MAX_SEATS_PER_SHOW as usize)
            }
            Command::ReturnTickets {
                booking: _,
                seats,
                user,
            } => {
                check_id("user", user.as_str())?;
                check_seats(seats)
            }
            Command::Confirm {
                transaction: Some(transaction),
                ..
            } => check_id("transaction", transaction.as_str()),
            Command::Settle {
                charge: Some(charge),
                ..
            } => check_id("charge", charge.as_str()),
            Command::Confirm { .. }
            | Command::Settle { .. }
            | Command::Release { .. }
            | Command::RecordRefund { .. }
            | Command::ExpireHolds
            | Command::AttachCard { .. }
            | Command::TickWaitingRooms { .. } => Ok(()),
            Command::SetWaitingRoom { show, rules } => {
                check_id("show", show.as_str())?;
                rules.as_ref().map_or(Ok(()), RoomRules::validate)
            }
            Command::JoinWaitingRoom { show, user } | Command::LeaveWaitingList { show, user } => {
                check_id("show", show.as_str())?;
                check_id("user", user.as_str())
            }
            Command::JoinWaitingList {
                show,
                user,
                category,
                ..
            } => {
                check_id("show", show.as_str())?;
                check_id("user", user.as_str())?;
                if category.len() > crate::ids::MAX_ID_LEN {
                    return Err(Rejection::Invalid(format!(
                        "a category name has at most {} bytes",
                        crate::ids::MAX_ID_LEN
                    )));
                }
                Ok(())
            }
            Command::RegisterUser {
                email,
                password_hash,
                admin: _,
            }
            | Command::BootstrapAdmin {
                email,
                password_hash,
            } => {
                normalize_email(email)?;
                check_password_hash(password_hash)
            }
            Command::SetAdmin { user, admin: _ } | Command::RevokeSessions { user } => {
                check_id("user", user.as_str())
            }
            Command::ChangePassword {
                user,
                password_hash,
            } => {
                check_id("user", user.as_str())?;
                check_password_hash(password_hash)
            }
        }
    }

    /// True for commands that only an administrator may issue, whoever
    /// they name (`CreateShow`, `UpdateShow`, `SetAdmin`, and `RegisterUser`
    /// of an administrator): the commands [`Command::check_permission`]
    /// refuses to every caller without the role.
    pub fn is_admin_only(&self) -> bool {
        matches!(self.needs(), Needs::Admin(_))
    }

    /// Who may issue this command as an end user: the one definition of
    /// the rules that [`Command::check_permission`] applies.
    fn needs(&self) -> Needs<'_> {
        match self {
            Command::CreateShow { .. } | Command::UpdateShow { .. } => {
                Needs::Admin("creating or changing shows needs the administrator role")
            }
            Command::SetAdmin { .. } => Needs::Admin(
                "granting or revoking the administrator role needs the administrator role",
            ),
            Command::Hold { user, .. } | Command::Book { user, .. } => {
                Needs::Owner(user, "seats can only be held or booked for yourself")
            }
            Command::Cancel { user, .. } => {
                Needs::Owner(user, "only your own bookings can be cancelled")
            }
            Command::ReturnTickets { user, .. } => {
                Needs::Owner(user, "only your own tickets can be returned")
            }
            Command::CreateVenue { .. }
            | Command::CreateProduction { .. }
            | Command::AddPerformances { .. }
            | Command::CancelPerformance { .. }
            | Command::HoldBack { .. }
            | Command::ReleaseHeldBack { .. } => {
                Needs::Admin("venues, productions and performances are managed by administrators")
            }
            Command::CheckIn { .. } | Command::CheckOut { .. } => Needs::Admin(
                "checking tickets in needs the administrator role, or door staff of the performance's production or venue",
            ),
            Command::SetReentry { .. } => {
                Needs::Admin("exits and re-entry are set by administrators")
            }
            Command::TransferTicket { user, .. } => {
                Needs::Owner(user, "only a ticket's holder can give it away")
            }
            Command::GrantDoorStaff { .. } | Command::RevokeDoorStaff { .. } => {
                Needs::Admin("door staff are appointed by administrators")
            }
            Command::ReissueTicket { user, .. } => Needs::OwnerOrAdmin(
                user,
                "reissuing another customer's ticket needs the administrator role",
            ),
            Command::AddTicketKey { .. } => {
                Needs::System("ticket keys are registered only by the nodes themselves")
            }
            Command::RetireTicketKey { .. } => {
                Needs::Admin("ticket keys are retired by administrators")
            }
            Command::RevokeSessions { user } => Needs::OwnerOrAdmin(
                user,
                "ending another user's sessions needs the administrator role",
            ),
            Command::ChangePassword { user, .. } => {
                Needs::Owner(user, "only you can change your password")
            }
            Command::RegisterUser { admin: true, .. } => {
                Needs::Admin("registering an administrator needs the administrator role")
            }
            Command::RegisterUser { admin: false, .. } => Needs::Anyone,
            Command::BootstrapAdmin { .. } => {
                Needs::System("the first administrator can only be created by the server itself")
            }
            Command::Confirm { .. }
            | Command::Release { .. }
            | Command::Settle { .. }
            | Command::RecordRefund { .. } => Needs::System(
                "confirming or releasing a hold is a step of the payment flow, which only the system performs",
            ),
            Command::ExpireHolds => {
                Needs::System("expiring holds is done only by the system itself")
            }
            Command::SetWaitingRoom { .. } => {
                Needs::Admin("an administrator sets up waiting rooms")
            }
            Command::JoinWaitingRoom { user, .. } => Needs::Owner(
                user,
                "a buyer takes a place in a waiting room only for themself",
            ),
            Command::TickWaitingRooms { .. } => {
                Needs::System("waiting rooms let buyers in only by the system's own step")
            }
            Command::AttachCard { .. } => Needs::System(
                "attaching a card is a step of the payment flow, which only the system performs",
            ),
            Command::JoinWaitingList { user, .. } | Command::LeaveWaitingList { user, .. } => {
                Needs::Owner(
                    user,
                    "a buyer joins or leaves a waiting list only for themself",
                )
            }
        }
    }

    /// Whether the authenticated end user `caller` may issue this command.
    ///
    /// These rules apply to requests that carry a [`Caller`](crate::Caller); a request
    /// without one comes from a trusted internal component and may issue
    /// anything, so this is not consulted for it.
    ///
    /// - Admin-only commands ([`Command::is_admin_only`]) need the administrator role.
    /// - `Hold`, `Book` and `Cancel` must name the caller as the customer.
    /// - `RevokeSessions` is for the user themself or an administrator.
    /// - `ChangePassword` is for the user themself only.
    /// - `RegisterUser` with `admin: true` needs an administrator.
    /// - `BootstrapAdmin`, `Confirm`, `Release`, `Settle`, `RecordRefund`
    ///   and `ExpireHolds` are for trusted callers only (bootstrap, and the
    ///   system's own payment and expiry steps).
    ///
    /// Every refusal is a [`Rejection::PermissionDenied`] saying what is
    /// needed. Pure: the gRPC edge may call it to refuse early, and
    /// [`State::apply`](crate::State::apply) calls it after authenticating
    /// the caller.
    pub fn check_permission(&self, caller: &User) -> Result<(), Rejection> {
        let is_self = |user: &UserId| *user == caller.id;
        let (allowed, needed) = match self.needs() {
            Needs::Anyone => (true, ""),
            Needs::Admin(needed) => (caller.admin, needed),
            Needs::Owner(user, needed) => (is_self(user), needed),
            Needs::OwnerOrAdmin(user, needed) => (is_self(user) || caller.admin, needed),
            Needs::System(needed) => (false, needed),
        };
        if allowed {
            Ok(())
        } else {
            Err(Rejection::PermissionDenied(needed.to_owned()))
        }
    }
}

/// Who may issue a command as an end user, with what a refusal says is needed.
enum Needs<'a> {
    /// Any authenticated user.
    Anyone,
    /// An administrator.
    Admin(&'static str),
    /// The user the command is for, and nobody else.
    Owner(&'a UserId, &'static str),
    /// The user the command is for, or an administrator.
    OwnerOrAdmin(&'a UserId, &'static str),
    /// Nobody: only trusted (internal) requests.
    System(&'static str),
}

/// Builds an [`Rejection::Invalid`].
fn invalid(message: impl Into<String>) -> Rejection {
    Rejection::Invalid(message.into())
}

/// Checks that `value` is 1 to `MAX_ID_LEN` printable ASCII characters without whitespace.
///
/// Public so that the gRPC edge can check ids of reads, which never reach
/// [`Command::validate`].
pub fn check_id(field: &str, value: &str) -> Result<(), Rejection> {
    if value.is_empty() {
        return Err(invalid(format!("{field} must not be empty")));
    }
    if let Some((position, c)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_graphic())
    {
        return Err(invalid(format!(
            "{field} contains {c:?} at position {position}; only printable ASCII without whitespace is allowed"
        )));
    }
    // Only ASCII remains, so bytes and characters coincide.
    if value.len() > MAX_ID_LEN {
        return Err(invalid(format!(
            "{field} is {} characters long; the limit is {MAX_ID_LEN}",
            value.len()
        )));
    }
    Ok(())
}

/// Validates a title and returns the form that is stored: trimmed of surrounding whitespace.
pub(crate) fn normalize_title(title: &str) -> Result<&str, Rejection> {
    let trimmed = title.trim();
    if trimmed.is_empty() {
        return Err(invalid("title must not be empty"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid("title must not contain control characters"));
    }
    let length = trimmed.chars().count();
    if length > MAX_TITLE_LEN {
        return Err(invalid(format!(
            "title is {length} characters long; the limit is {MAX_TITLE_LEN}"
        )));
    }
    Ok(trimmed)
}

/// Normalises and validates an email address, returning the form that is stored.
///
/// The address is trimmed of surrounding whitespace and ASCII-lowercased,
/// so `" Ann@Example.COM "` and `"ann@example.com"` name the same account.
/// It must then be 1 to [`MAX_EMAIL_LEN`] characters without whitespace or
/// control characters, with exactly one `@`, a non-empty part before it,
/// and a domain of at least two dot-separated labels, none empty. Every
/// failure is a [`Rejection::Invalid`] whose message names `email` and says
/// what to fix.
///
/// Public so that the gRPC edge and the auth service normalise exactly as
/// the state machine does (for instance to look an account up at login).
pub fn normalize_email(email: &str) -> Result<String, Rejection> {
    let trimmed = email.trim();
    if trimmed.is_empty() {
        return Err(invalid("email must not be empty"));
    }
    let length = trimmed.chars().count();
    if length > MAX_EMAIL_LEN {
        return Err(invalid(format!(
            "email is {length} characters long; the limit is {MAX_EMAIL_LEN}"
        )));
    }
    if let Some(c) = trimmed
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(format!(
            "email contains {c:?}; whitespace and control characters are not allowed"
        )));
    }
    let normalized = trimmed.to_ascii_lowercase();
    let mut parts = normalized.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid(
            "email must contain exactly one '@', as in name@example.com",
        ));
    };
    if local.is_empty() {
        return Err(invalid(
            "email needs a name before the '@', as in name@example.com",
        ));
    }
    if !domain.contains('.') {
        return Err(invalid(format!(
            "email domain {domain:?} needs at least one '.', as in name@example.com"
        )));
    }
    if domain.split('.').any(str::is_empty) {
        return Err(invalid(format!(
            "email domain {domain:?} has an empty label: remove the leading, trailing or doubled '.'"
        )));
    }
    Ok(normalized)
}

/// Checks that a password hash is 1 to `MAX_PASSWORD_HASH_LEN` printable
/// ASCII characters without whitespace, as a PHC string (`$argon2id$v=19$…`) is.
pub(crate) fn check_password_hash(hash: &str) -> Result<(), Rejection> {
    if hash.is_empty() {
        return Err(invalid("password_hash must not be empty"));
    }
    if let Some(position) = hash.chars().position(|c| !c.is_ascii_graphic()) {
        return Err(invalid(format!(
            "password_hash has a character other than printable ASCII at position {position}; \
             it must be a PHC string from the auth service"
        )));
    }
    // Only ASCII remains, so bytes and characters coincide.
    if hash.len() > MAX_PASSWORD_HASH_LEN {
        return Err(invalid(format!(
            "password_hash is {} characters long; the limit is {MAX_PASSWORD_HASH_LEN}",
            hash.len()
        )));
    }
    Ok(())
}

/// Checks that the field `name` holds a value in `range`.
fn check_range<T>(name: &str, value: T, range: RangeInclusive<T>) -> Result<(), Rejection>
where
    T: PartialOrd + Display,
{
    if range.contains(&value) {
        Ok(())
    } else {
        Err(invalid(format!(
            "{name} must be between {} and {}, got {value}",
            range.start(),
            range.end()
        )))
    }
}

/// Checks that a seat count is in `1..=MAX_SEATS_PER_SHOW`.
fn check_seat_count(seat_count: u32) -> Result<(), Rejection> {
    check_range("seat_count", seat_count, 1..=MAX_SEATS_PER_SHOW)
}

/// Checks that a start time is set: 0 is what an unset protobuf field reads as.
fn check_starts_at(starts_at: Timestamp) -> Result<(), Rejection> {
    if starts_at.0 > 0 {
        Ok(())
    } else {
        Err(invalid(format!(
            "starts_at must be a time after the Unix epoch in milliseconds, got {}",
            starts_at.0
        )))
    }
}

/// Checks that a price is in `0..=MAX_PRICE_CENTS`.
fn check_price(price_cents: i64) -> Result<(), Rejection> {
    check_range("price_cents", price_cents, 0..=MAX_PRICE_CENTS)
}

/// Checks that a hold ttl is in `1..=MAX_HOLD_TTL_MS`.
fn check_ttl(ttl_ms: i64) -> Result<(), Rejection> {
    check_range("ttl_ms", ttl_ms, 1..=MAX_HOLD_TTL_MS)
}

/// Checks that a hold cool-down is in `0..=MAX_HOLD_COOLDOWN_MS`.
fn check_cooldown(cooldown_ms: i64) -> Result<(), Rejection> {
    check_range("cooldown_ms", cooldown_ms, 0..=MAX_HOLD_COOLDOWN_MS)
}

/// Checks that a seat list is non-empty, short enough, and free of seat 0 and duplicates.
fn check_seats(seats: &[SeatNo]) -> Result<(), Rejection> {
    if seats.is_empty() {
        return Err(invalid("seats must not be empty"));
    }
    check_seat_list(seats, MAX_SEATS_PER_BOOKING)
}

/// Checks what a `Hold` or `Book` asks for: named seats (none only if it
/// asks for standing places or a best pick), a ticket type for each named
/// seat or none, and the standing and best-available requests.
fn check_tickets(seats: &[SeatNo], tickets: &Tickets) -> Result<(), Rejection> {
    if tickets.standing.is_empty() && tickets.best.is_none() {
        check_seats(seats)?;
    } else {
        check_seat_list(seats, MAX_SEATS_PER_BOOKING)?;
    }
    if !tickets.types.is_empty() && tickets.types.len() != seats.len() {
        return Err(invalid(format!(
            "types lists {} ticket types for {} seats: give one per seat, or none",
            tickets.types.len(),
            seats.len()
        )));
    }
    let max = MAX_SEATS_PER_BOOKING as u32;
    let mut names: Vec<&str> = tickets.types.iter().map(String::as_str).collect();
    for standing in &tickets.standing {
        check_range("standing count", standing.count, 1..=max)?;
        names.push(&standing.area);
        names.push(&standing.ticket_type);
    }
    if let Some(best) = &tickets.best {
        check_range("best count", best.count, 1..=max)?;
        names.push(&best.category);
        names.push(&best.ticket_type);
    }
    if tickets.standing.len() > MAX_SEATS_PER_BOOKING {
        return Err(invalid("too many standing requests"));
    }
    if let Some(name) = names.iter().find(|name| name.chars().count() > 32) {
        return Err(invalid(format!("{name:?} is longer than 32 characters")));
    }
    Ok(())
}

/// Checks a list of at most `max` seats, without seat 0 or duplicates.
fn check_seat_list(seats: &[SeatNo], max: usize) -> Result<(), Rejection> {
    if seats.len() > max {
        return Err(invalid(format!(
            "seats lists {} seats; at most {max} may be booked at once",
            seats.len()
        )));
    }
    if seats.contains(&SeatNo(0)) {
        return Err(invalid("seats contains seat 0; seats are numbered from 1"));
    }
    let mut sorted = seats.to_vec();
    sorted.sort_unstable();
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(invalid(format!("seats lists seat {} twice", pair[0])));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
