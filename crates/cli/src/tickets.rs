//! `boxoffice tickets …` and `boxoffice checkin`: a buyer's signed tickets
//! (a QR code in the terminal, or written as PNG or SVG), and a door that
//! reads codes from standard input, as a USB scanner types them, one a
//! line.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::Context as _;
use boxoffice_client::proto as v1;
use boxoffice_view::json::tickets::{ETicket, ScanAnswer, ScanResult};
use qrcode::QrCode;
use qrcode::render::{svg, unicode};

use crate::args::{DoorStaffCommand, Global, TicketsCommand};
use crate::commands::nodes;
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
        let image = qr
            .render::<svg::Color<'_>>()
            .min_dimensions(256, 256)
            .quiet_zone(true)
            .build();
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

/// `boxoffice checkin --performance P [--gate G] [CODE…]`: scans the codes
/// given, or every line of standard input (prompting on a terminal). Each
/// scan keeps its request id through the client's retries, so a scan that
/// outlives a leader failover is recorded once. Exits non-zero if a code
/// could not be scanned at all (the cluster unreachable); refusals are
/// answers, printed, and do not stop the door.
pub async fn checkin(
    global: &Global,
    performance: &str,
    gate: &str,
    codes: Vec<String>,
) -> anyhow::Result<()> {
    let (_, client) = nodes(global).await?;
    let out = Output::new(global.json);
    let client = &client;
    let scan = |code: String| async move {
        let id = boxoffice_client::new_request_id();
        client
            .check_in(&id, performance, gate, code.trim(), 0)
            .await
    };
    let report = |answer: v1::CheckInResponse| -> anyhow::Result<()> {
        let answer = ScanAnswer::from(answer);
        if out.json {
            return out.json(&answer);
        }
        let line = if answer.result == ScanResult::Admitted {
            console::style(&answer.message).green().bold()
        } else {
            console::style(&answer.message).red().bold()
        };
        println!("{line}");
        Ok(())
    };
    if !codes.is_empty() {
        for code in codes {
            report(scan(code).await.map_err(api)?)?;
        }
        return Ok(());
    }
    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal() && !out.json;
    let mut lines = stdin.lock().lines();
    loop {
        if prompt {
            print!("scan> ");
            std::io::stdout().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("reading codes from standard input")?;
        if line.trim().is_empty() {
            continue;
        }
        report(scan(line).await.map_err(api)?)?;
    }
    Ok(())
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
