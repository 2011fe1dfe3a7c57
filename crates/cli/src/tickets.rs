//! `boxoffice tickets …` and `boxoffice checkin`: a buyer's signed tickets
//! (a QR code in the terminal, or written as PNG or SVG), and a door that
//! reads codes from standard input, as a USB scanner types them, one a
//! line.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::Context as _;
use boxoffice_client::proto as v1;
use boxoffice_view::json::tickets::{ETicket, ScanAnswer, ScanResult, TicketKey};
use qrcode::QrCode;
use qrcode::render::unicode;

use std::collections::BTreeMap;

use crate::args::{DoorStaffCommand, Global, TicketKeysCommand, TicketsCommand};
use crate::commands::nodes;
use crate::door::OfflineDoor;
use crate::output::{Output, api};

/// `boxoffice tickets …`.
pub async fn tickets(global: &Global, command: TicketsCommand) -> anyhow::Result<()> {
    let (_, client) = nodes(global).await?;
    let out = Output::new(global.json);
    match command {
        TicketsCommand::List { booking, stale } => {
            let tickets = client
                .list_tickets(booking.as_deref().unwrap_or(""), stale)
                .await
                .map_err(api)?;
            if out.json {
                let all: Vec<ETicket> = tickets.into_iter().map(ETicket::from).collect();
                return out.json(&all);
            }
            let rows = tickets
                .iter()
                .map(|t| {
                    vec![
                        t.ticket_id.clone(),
                        t.show_id.clone(),
                        t.label.clone(),
                        t.ticket_type.clone(),
                        if t.admitted_at_ms > 0 {
                            format!("in at {}", t.gate)
                        } else {
                            "valid".to_owned()
                        },
                    ]
                })
                .collect();
            out.table(&["ticket", "performance", "place", "type", "door"], rows);
            Ok(())
        }
        TicketsCommand::Show { ticket, png, svg } => {
            let found = client
                .list_tickets(booking_of(&ticket)?, false)
                .await
                .map_err(api)?
                .into_iter()
                .find(|t| t.ticket_id == ticket)
                .ok_or_else(|| {
                    api(tonic::Status::not_found(format!(
                        "you have no ticket {ticket}"
                    )))
                })?;
            show_ticket(&out, &found, png.as_deref(), svg.as_deref())
        }
        TicketsCommand::Transfer { ticket, to } => {
            booking_of(&ticket)?;
            let done = client
                .transfer_ticket(&ticket, &to)
                .await
                .map_err(api)
                .context("transferring the ticket")?;
            if out.json {
                return out.json(&serde_json::json!({
                    "ticket_id": done.ticket_id,
                    "version": done.version,
                    "to_user_id": done.to_user_id,
                }));
            }
            println!(
                "ticket {} is now {to}'s ({}); your code is void, theirs is in their tickets list",
                done.ticket_id, done.to_user_id
            );
            Ok(())
        }
        TicketsCommand::Reissue { ticket } => {
            booking_of(&ticket)?;
            let new = client
                .reissue_ticket(&ticket)
                .await
                .map_err(api)
                .context("reissuing the ticket")?;
            if out.json {
                return out.json(&ETicket::from(new));
            }
            println!(
                "ticket {} reissued (version {}); every earlier code is void",
                new.ticket_id, new.version
            );
            println!("{}", new.code);
            Ok(())
        }
    }
}

/// The booking part of a ticket id, checked (`<booking>-<seat>`).
fn booking_of(ticket: &str) -> anyhow::Result<&str> {
    match ticket.split_once('-') {
        Some((booking, seat))
            if !booking.is_empty()
                && booking.bytes().all(|b| b.is_ascii_digit())
                && !seat.is_empty()
                && seat.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(booking)
        }
        _ => Err(api(tonic::Status::invalid_argument(format!(
            "{ticket:?} is not a ticket id (BOOKING-SEAT, as `tickets list` shows)"
        )))),
    }
}

/// Prints a ticket with its QR code, or writes the code as an image.
fn show_ticket(
    out: &Output,
    t: &v1::ETicket,
    png: Option<&Path>,
    svg_path: Option<&Path>,
) -> anyhow::Result<()> {
    let qr = QrCode::new(t.code.as_bytes()).context("drawing the QR code")?;
    if let Some(path) = png {
        std::fs::write(path, qr_png(&qr)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = svg_path {
        let image = boxoffice_view::qr::qr_svg(&t.code).context("drawing the QR code")?;
        std::fs::write(path, image).with_context(|| format!("writing {}", path.display()))?;
    }
    if out.json {
        return out.json(&ETicket::from(t.clone()));
    }
    println!("ticket {}  {}  {}", t.ticket_id, t.show_id, t.label);
    if !t.ticket_type.is_empty() {
        println!("type {}", t.ticket_type);
    }
    if t.admitted_at_ms > 0 {
        println!("used: came in at gate {}", t.gate);
    }
    if png.is_none() && svg_path.is_none() {
        // Light modules as spaces on a dark terminal would invert the
        // code; draw dark on light explicitly.
        let drawn = qr
            .render::<unicode::Dense1x2>()
            .dark_color(unicode::Dense1x2::Light)
            .light_color(unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build();
        println!("{drawn}");
    }
    println!("{}", t.code);
    Ok(())
}

/// The QR code as a black-on-white PNG, 8 pixels a module, with the
/// 4-module quiet zone scanners need.
fn qr_png(qr: &QrCode) -> anyhow::Result<Vec<u8>> {
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let modules = qr.width();
    let colors = qr.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut bytes = Vec::new();
    let side = u32::try_from(side).context("QR code too large")?;
    let mut encoder = png::Encoder::new(&mut bytes, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("encoding the PNG")?;
    writer
        .write_image_data(&pixels)
        .context("encoding the PNG")?;
    writer.finish().context("encoding the PNG")?;
    Ok(bytes)
}

/// How long a door that found the cluster unreachable decides alone
/// before it asks the cluster again.
const OFFLINE_SPELL: std::time::Duration = std::time::Duration::from_secs(10);

/// Where a `checkin` scans.
pub struct Door<'a> {
    /// The performance.
    pub performance: &'a str,
    /// The gate.
    pub gate: &'a str,
    /// Where an offline door keeps its list and scans.
    pub offline_dir: Option<&'a Path>,
    /// Exit scans instead of entries.
    pub exit: bool,
}

/// `boxoffice checkin --performance P [--gate G] [--offline-dir DIR | --exit] [CODE…]`:
/// scans the codes given, or every line of standard input (prompting on a
/// terminal), and prints each answer. Each scan keeps its request id
/// through the client's retries, so a scan that outlives a leader failover
/// is recorded once. Refusals are answers and do not stop the door.
///
/// Without `--offline-dir`, a scan the cluster cannot answer is an error.
/// With it, the door keeps admitting on its own ([`crate::door`]) and
/// uploads what it admitted when the cluster answers again (and at start).
pub async fn checkin(global: &Global, at: Door<'_>, codes: Vec<String>) -> anyhow::Result<()> {
    let Door {
        performance,
        gate,
        offline_dir,
        exit,
    } = at;
    let (_, client) = nodes(global).await?;
    let out = Output::new(global.json);
    let mut door = match offline_dir {
        Some(dir) => Some(OfflineDoor::open(&client, dir, performance, gate).await?),
        None => None,
    };
    let from_stdin = codes.is_empty();
    let stdin = std::io::stdin();
    let prompt = from_stdin && stdin.is_terminal() && !out.json;
    let mut inputs: Box<dyn Iterator<Item = std::io::Result<String>>> = if from_stdin {
        Box::new(stdin.lock().lines())
    } else {
        Box::new(codes.into_iter().map(Ok))
    };
    let mut offline_until: Option<std::time::Instant> = None;
    if let Some(door) = door.as_mut() {
        upload(door, &client).await?;
    }
    loop {
        if prompt {
            print!("scan> ");
            std::io::stdout().flush()?;
        }
        let Some(line) = inputs.next() else { break };
        let line = line.context("reading codes from standard input")?;
        let code = line.trim();
        if code.is_empty() {
            continue;
        }
        let id = boxoffice_client::new_request_id();
        let answer = match door.as_mut() {
            None if exit => ScanAnswer::from(
                client
                    .check_out(&id, performance, gate, code)
                    .await
                    .map_err(api)?,
            ),
            None => ScanAnswer::from(
                crate::door::send_scan(&client, &id, performance, gate, code, 0)
                    .await
                    .map_err(api)?,
            ),
            Some(door) => {
                let online = offline_until.is_none_or(|until| std::time::Instant::now() >= until);
                if online && door.pending() > 0 {
                    upload(door, &client).await?;
                }
                // No answer within the wait (or still in an offline
                // spell): the door decides alone.
                let answer = if online {
                    tokio::time::timeout(
                        crate::door::ONLINE_WAIT,
                        crate::door::send_scan(&client, &id, performance, gate, code, 0),
                    )
                    .await
                    .ok()
                } else {
                    None
                };
                match answer {
                    Some(Ok(answer)) => {
                        offline_until = None;
                        let answer = ScanAnswer::from(answer);
                        door.learn(&answer)?;
                        answer
                    }
                    Some(Err(status)) if !crate::door::unreachable(&status) => {
                        return Err(api(status));
                    }
                    _ => {
                        if online {
                            offline_until = Some(std::time::Instant::now() + OFFLINE_SPELL);
                        }
                        door.decide(&id, code, crate::session::now_ms())?
                    }
                }
            }
        };
        print_scan(&out, &answer)?;
    }
    if let Some(door) = door.as_mut() {
        upload(door, &client).await?;
        if door.pending() > 0 {
            eprintln!(
                "{} offline scan(s) still to upload: run this again when the cluster answers",
                door.pending()
            );
        }
    }
    Ok(())
}

/// Uploads a door's pending scans, saying so on standard error.
async fn upload(door: &mut OfflineDoor, client: &boxoffice_client::Client) -> anyhow::Result<()> {
    if door.pending() == 0 {
        return Ok(());
    }
    let done = door.upload(client).await?;
    if done.uploaded > 0 {
        eprintln!(
            "uploaded {} offline scan(s); {} had come in at another gate (recorded as conflicts)",
            done.uploaded, done.conflicts
        );
    }
    if done.refused > 0 {
        eprintln!(
            "{} offline admission(s) were of tickets returned or reissued meanwhile: kept in {}",
            done.refused,
            door.refused_path().display()
        );
    }
    Ok(())
}

fn print_scan(out: &Output, answer: &ScanAnswer) -> anyhow::Result<()> {
    if out.json {
        return out.json(answer);
    }
    let line = if answer.result == ScanResult::Admitted {
        console::style(&answer.message).green().bold()
    } else {
        console::style(&answer.message).red().bold()
    };
    println!("{line}");
    Ok(())
}

/// `boxoffice checkin --performance P --report`: admissions per gate and
/// the conflicts found (tickets admitted at two gates while one was
/// offline).
pub async fn door_report(global: &Global, performance: &str) -> anyhow::Result<()> {
    let (_, client) = nodes(global).await?;
    let out = Output::new(global.json);
    let list = client.door_list(performance, false).await.map_err(api)?;
    let admitted: u32 = list.gates.iter().map(|g| g.admitted).sum();
    if out.json {
        let gates: BTreeMap<&str, u32> = list
            .gates
            .iter()
            .map(|g| (g.gate.as_str(), g.admitted))
            .collect();
        let conflicts: Vec<serde_json::Value> = list
            .conflicts
            .iter()
            .map(|c| {
                serde_json::json!({
                    "ticket_id": c.ticket_id,
                    "first_gate": c.first_gate, "first_at_ms": c.first_at_ms,
                    "second_gate": c.second_gate, "second_at_ms": c.second_at_ms,
                })
            })
            .collect();
        return out.json(&serde_json::json!({
            "show_id": list.show_id,
            "tickets": list.tickets.len(),
            "admitted": admitted,
            "gates": gates,
            "conflicts": conflicts,
        }));
    }
    println!(
        "{}: {admitted} of {} tickets in",
        list.show_id,
        list.tickets.len()
    );
    out.table(
        &["gate", "admitted"],
        list.gates
            .iter()
            .map(|g| vec![g.gate.clone(), g.admitted.to_string()])
            .collect(),
    );
    if list.conflicts.is_empty() {
        println!("no conflicts");
    } else {
        out.table(
            &["ticket", "admitted at", "again at (offline)"],
            list.conflicts
                .iter()
                .map(|c| {
                    vec![
                        c.ticket_id.clone(),
                        c.first_gate.clone(),
                        c.second_gate.clone(),
                    ]
                })
                .collect(),
        );
    }
    Ok(())
}

/// `boxoffice admin reentry PERFORMANCE [--off]`.
pub async fn reentry(global: &Global, performance: &str, allowed: bool) -> anyhow::Result<()> {
    let (_, client) = nodes(global).await?;
    client
        .set_reentry(performance, allowed)
        .await
        .map_err(api)?;
    let out = Output::new(global.json);
    if out.json {
        return out.json(&serde_json::json!({"show_id": performance, "reentry": allowed}));
    }
    if allowed {
        println!("{performance}: exits and re-entry allowed (checkin --exit lets a ticket out)");
    } else {
        println!("{performance}: no exits and re-entry");
    }
    Ok(())
}

/// `boxoffice admin ticket-keys list|retire KID`.
pub async fn ticket_keys(global: &Global, command: TicketKeysCommand) -> anyhow::Result<()> {
    let (_, client) = nodes(global).await?;
    let out = Output::new(global.json);
    match command {
        TicketKeysCommand::List => {
            let reply = client.ticket_keys(false).await.map_err(api)?;
            let keys: Vec<TicketKey> = reply.keys.into_iter().map(TicketKey::from).collect();
            if out.json {
                return out.json(&serde_json::json!({"keys": keys, "retired": reply.retired}));
            }
            for key in &keys {
                println!("{}  {}", key.kid, key.public_key_hex);
            }
            for kid in &reply.retired {
                println!("{kid}  retired");
            }
            Ok(())
        }
        TicketKeysCommand::Retire { kid } => {
            client.retire_ticket_key(&kid).await.map_err(api)?;
            if out.json {
                return out.json(&serde_json::json!({"kid": kid, "retired": true}));
            }
            println!(
                "{kid} retired: codes it signed are refused; its node signs with a new key from now on"
            );
            Ok(())
        }
    }
}

/// `boxoffice admin door-staff grant|revoke USER --production P | --venue V`.
pub async fn door_staff(global: &Global, command: DoorStaffCommand) -> anyhow::Result<()> {
    let (user, production, venue, grant) = match command {
        DoorStaffCommand::Grant {
            user,
            production,
            venue,
        } => (user, production, venue, true),
        DoorStaffCommand::Revoke {
            user,
            production,
            venue,
        } => (user, production, venue, false),
    };
    let (_, client) = nodes(global).await?;
    let id = client
        .set_door_staff(
            &user,
            production.as_deref().unwrap_or(""),
            venue.as_deref().unwrap_or(""),
            grant,
        )
        .await
        .map_err(api)?;
    let place = match (&production, &venue) {
        (Some(p), _) => format!("production {p}"),
        (_, Some(v)) => format!("venue {v}"),
        _ => String::new(),
    };
    let out = Output::new(global.json);
    if out.json {
        return out.json(&serde_json::json!({"user_id": id, "granted": grant}));
    }
    if grant {
        println!("{user} ({id}) may now check tickets in at {place}");
    } else {
        println!("{user} ({id}) no longer checks tickets in at {place}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_ids_are_checked_before_any_call() {
        assert_eq!(booking_of("12-3").unwrap(), "12");
        for bad in ["", "12", "-3", "12-", "a-3", "12-b", "12-3-4", "1 2-3"] {
            assert!(booking_of(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_png_is_a_readable_image_of_the_code() {
        let qr = QrCode::new(b"BT1.example").unwrap();
        let bytes = qr_png(&qr).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let side = ((qr.width() + 8) * 8) as u32;
        assert_eq!((reader.info().width, reader.info().height), (side, side));
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut pixels).unwrap();
        // The quiet zone is white; the top-left finder pattern is dark.
        assert_eq!(pixels[0], 255);
        let first_module = (4 * 8) * side as usize + 4 * 8;
        assert_eq!(pixels[first_module], 0);
    }
}
