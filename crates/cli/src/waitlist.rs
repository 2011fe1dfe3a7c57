//! `boxoffice waitlist …`: a buyer's entry on a sold-out performance's
//! waiting list, and the offer made to them when seats are freed.

use std::time::Duration;

use anyhow::Context as _;
use boxoffice_client::proto as v1;
use serde_json::json;

use crate::args::{Global, WaitlistCommand};
use crate::commands::nodes;
use crate::output::{Output, api};

/// How long one look of `waitlist status --wait` may wait at the node (it
/// answers at once when seats are offered).
const LOOK: Duration = Duration::from_secs(10);

/// `boxoffice waitlist …`.
pub async fn waitlist(global: &Global, command: WaitlistCommand) -> anyhow::Result<()> {
    let (_, client) = nodes(global).await?;
    let out = Output::new(global.json);
    match command {
        WaitlistCommand::Join {
            performance,
            quantity,
            category,
        } => {
            let list = client
                .join_waiting_list(&performance, quantity, &category)
                .await
                .map_err(api)
                .context("joining the waiting list")?;
            print(&out, &list)
        }
        WaitlistCommand::Leave { performance } => {
            let list = client
                .leave_waiting_list(&performance)
                .await
                .map_err(api)
                .context("leaving the waiting list")?;
            print(&out, &list)
        }
        WaitlistCommand::Status {
            performance,
            wait,
            max_wait,
        } => {
            let give_up = max_wait.map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
            let mut last = String::new();
            let mut look = Duration::ZERO;
            loop {
                let list = client.waiting_list(&performance, look).await.map_err(api)?;
                let line = describe(&list);
                if line != last {
                    print(&out, &list)?;
                    last = line;
                }
                let status = list.you.as_ref().map_or("", |you| you.status.as_str());
                if !wait || status != "waiting" {
                    return Ok(());
                }
                let now = tokio::time::Instant::now();
                if give_up.is_some_and(|at| now >= at) {
                    anyhow::bail!(
                        "still waiting after {} s: you keep your entry",
                        max_wait.unwrap_or(0)
                    );
                }
                look = give_up.map_or(LOOK, |at| at.saturating_duration_since(now).min(LOOK));
            }
        }
    }
}

/// Prints a list and the caller's standing.
fn print(out: &Output, list: &v1::WaitingListResponse) -> anyhow::Result<()> {
    let l = list.list.clone().unwrap_or_default();
    let you = list.you.clone().unwrap_or_default();
    if out.json {
        let offer = you.offer.as_ref().map(|b| {
            json!({
                "booking_id": b.booking_id,
                "seats": b.tickets.iter().map(|t| t.label.clone()).collect::<Vec<_>>(),
                "total_cents": b.total_cents,
                "hold_expires_at_ms": b.hold_expires_at_ms,
            })
        });
        return out.json(&json!({
            "show_id": l.show_id,
            "waiting": l.waiting,
            "offered": l.offered,
            "status": you.status,
            "place": you.place,
            "position": you.position,
            "quantity": you.quantity,
            "category": you.category,
            "offer": offer,
        }));
    }
    println!("{}", describe(list));
    Ok(())
}

/// One line: where the caller stands, and the list.
fn describe(list: &v1::WaitingListResponse) -> String {
    let l = list.list.clone().unwrap_or_default();
    let you = list.you.clone().unwrap_or_default();
    let category = if you.category.is_empty() {
        "any category".to_owned()
    } else {
        format!("category {}", you.category)
    };
    let standing = match (you.status.as_str(), &you.offer) {
        ("waiting", _) => format!(
            "you are number {} on the list for {} seat(s) of {category}",
            you.position, you.quantity
        ),
        ("offered", Some(offer)) => {
            let seats: Vec<&str> = offer.tickets.iter().map(|t| t.label.as_str()).collect();
            format!(
                "seats are held for you: booking {} ({}), {}; pay with `boxoffice pay {}` before {}",
                offer.booking_id,
                seats.join(", "),
                boxoffice_view::money::money(offer.total_cents),
                offer.booking_id,
                boxoffice_view::time::when(offer.hold_expires_at_ms)
            )
        }
        _ => "you are not on the list: `boxoffice waitlist join` puts you on it".to_owned(),
    };
    format!(
        "{}: {standing} ({} waiting, {} offers out)",
        l.show_id, l.waiting, l.offered
    )
}
