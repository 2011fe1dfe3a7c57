//! `boxoffice queue …` (a buyer's place in a waiting room) and `boxoffice
//! admin waiting-room …` (setting one up).

use std::time::Duration;

use anyhow::Context as _;
use boxoffice_client::proto as v1;
use serde_json::json;

use crate::args::{Global, QueueCommand, WaitingRoomCommand};
use crate::commands::nodes;
use crate::output::{Output, api};

/// How long one look of `queue status --wait` may wait at the node: it
/// answers at once when the buyer is let in, so this is only how often
/// the position shown is brought up to date.
const LOOK: Duration = Duration::from_secs(5);

/// How long an admission lasts unless the administrator says otherwise:
/// ten minutes to choose and pay.
pub const DEFAULT_ADMISSION_MS: i64 = 600_000;

/// `boxoffice queue …`.
pub async fn queue(global: &Global, command: QueueCommand) -> anyhow::Result<()> {
    let (_, client) = nodes(global).await?;
    let out = Output::new(global.json);
    match command {
        QueueCommand::Join { performance } => {
            let room = client
                .join_waiting_room(&performance)
                .await
                .map_err(api)
                .context("joining the waiting room")?;
            print(&out, &room)
        }
        QueueCommand::Status {
            performance,
            wait,
            max_wait,
        } => {
            let give_up = max_wait.map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
            let mut last = String::new();
            let mut first = true;
            loop {
                let room = if first {
                    client.waiting_room(&performance, false).await
                } else {
                    let look = give_up.map_or(LOOK, |at| {
                        at.saturating_duration_since(tokio::time::Instant::now())
                            .min(LOOK)
                    });
                    client.wait_in_waiting_room(&performance, look).await
                }
                .map_err(api)?;
                first = false;
                let line = describe(&room);
                if line != last {
                    print(&out, &room)?;
                    last = line;
                }
                let status = room.you.as_ref().map_or("", |you| you.status.as_str());
                if !wait || ["admitted", "closed", "outside"].contains(&status) {
                    return Ok(());
                }
                if give_up.is_some_and(|at| tokio::time::Instant::now() >= at) {
                    anyhow::bail!(
                        "still waiting after {} s: you keep your place",
                        max_wait.unwrap_or(0)
                    );
                }
            }
        }
    }
}

/// `boxoffice admin waiting-room …`.
pub async fn admin_waiting_room(
    global: &Global,
    command: WaitingRoomCommand,
) -> anyhow::Result<()> {
    let (_, client) = nodes(global).await?;
    let out = Output::new(global.json);
    let (performance, rules) = match command {
        WaitingRoomCommand::Set {
            performance,
            opens,
            rate,
            max_active,
            admission_secs,
        } => {
            // What is not given, a room that exists keeps (its opening
            // cannot move once it has come); a new one opens now, at 10
            // a second, with no cap, for 10 minutes an admission.
            let current = match client.waiting_room(&performance, false).await {
                Ok(room) => room.room.and_then(|r| r.rules),
                Err(status) if status.code() == tonic::Code::NotFound => None,
                Err(status) => {
                    return Err(api(status)).context("reading the waiting room's rules");
                }
            };
            let rules = v1::RoomRules {
                opens_at_ms: opens
                    .or(current.as_ref().map(|r| r.opens_at_ms))
                    .unwrap_or_else(boxoffice_config::clock::now_ms),
                admit_per_s: rate
                    .or(current.as_ref().map(|r| r.admit_per_s))
                    .unwrap_or(10),
                max_active: max_active
                    .or(current.as_ref().map(|r| r.max_active))
                    .unwrap_or(0),
                admission_ms: admission_secs
                    .map(|s| s.saturating_mul(1000))
                    .or(current.as_ref().map(|r| r.admission_ms))
                    .unwrap_or(DEFAULT_ADMISSION_MS),
            };
            (performance, Some(rules))
        }
        WaitingRoomCommand::Remove { performance } => (performance, None),
    };
    let room = client
        .set_waiting_room(&performance, rules)
        .await
        .map_err(api)
        .context("setting the waiting room")?;
    if room.room.is_none() {
        if out.json {
            return out.json(&json!({"show_id": performance, "removed": true}));
        }
        println!("{performance}: waiting room removed");
        return Ok(());
    }
    print(&out, &room)
}

/// Prints a room and the caller's standing.
fn print(out: &Output, room: &v1::WaitingRoomResponse) -> anyhow::Result<()> {
    if out.json {
        let r = room.room.clone().unwrap_or_default();
        let you = room.you.clone().unwrap_or_default();
        return out.json(&json!({
            "show_id": r.show_id,
            "phase": r.phase,
            "waiting": r.waiting,
            "admitted": r.admitted,
            "seed": r.seed,
            "status": you.status,
            "place": you.place,
            "position": you.position,
            "estimated_wait_ms": you.estimated_wait_ms,
            "admitted_until_ms": you.admitted_until_ms,
            "admitted_at_ms": you.admitted_at_ms,
        }));
    }
    println!("{}", describe(room));
    Ok(())
}

/// One line: where the caller stands, and the room.
fn describe(room: &v1::WaitingRoomResponse) -> String {
    let r = room.room.clone().unwrap_or_default();
    let you = room.you.clone().unwrap_or_default();
    let standing = match you.status.as_str() {
        "pre_queue" => {
            "you are in the pre-queue: places are drawn at random when the room opens".to_owned()
        }
        "waiting" => format!(
            "you are number {} in line (place {}), about {} to wait",
            you.position,
            you.place,
            wait(you.estimated_wait_ms)
        ),
        "admitted" => format!(
            "you are let in: book before {}",
            boxoffice_view::time::when(you.admitted_until_ms)
        ),
        "closed" => "the room has closed: the performance is sold out".to_owned(),
        _ => "you are not in the room: `boxoffice queue join` takes a place".to_owned(),
    };
    format!(
        "{}: {standing} ({} waiting, {} let in now; room {})",
        r.show_id,
        r.waiting,
        r.admitted,
        r.phase.replace('_', " ")
    )
}

/// A wait, roughly: "under a second", "12 s", "4 min".
fn wait(ms: i64) -> String {
    match ms {
        ..=999 => "under a second".to_owned(),
        1_000..=119_999 => format!("{} s", ms / 1000),
        _ => format!("{} min", ms / 60_000),
    }
}
