//! Live seat maps: `WatchShow` streams a show's seats as this replica
//! applies committed changes.
//!
//! One task per stream waits for the node's applied index to move, reads
//! the show under the state's read lock (never across an `.await`), and
//! sends the seats whose state changed since its previous update. Updates
//! are at least [`MIN_INTERVAL`] apart, so a busy show costs a watcher at
//! most ten reads a second however fast bookings arrive. The task ends
//! when the client goes away or the node begins to shut down (the server
//! waits for open streams before it stops).
//!
//! A node serves at most `booking.max_watch_streams` streams, and one
//! client address (an IPv6 /64) at most `max_watch_streams_per_client`
//! of them ([`Watchers`]). Gateways, which prove who they are with their
//! certificate on the peer port and fan one stream out to every page
//! watching a show, draw on a pool of the same size of their own: no
//! number of direct clients can take the live maps from the web app's
//! buyers. A client that stops reading while an update
//! waits longer than `watch_send_timeout_ms` loses its stream, so a slot
//! is never held by someone who does not read.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use boxoffice_config::clients::{OpenCaps, Refusal};
use boxoffice_core::{Rejection, SeatNo, ShowId};
use boxoffice_proto::{convert, v1};
use boxoffice_raft::RaftNode;
use futures::Stream;
use tokio::sync::{mpsc, watch};
use tonic::Status;

use crate::app::BookingApp;
use crate::config::BookingSettings;

/// A stream of [`v1::ShowUpdate`]s.
pub type ShowUpdates = Pin<Box<dyn Stream<Item = Result<v1::ShowUpdate, Status>> + Send>>;

/// Least time between two updates of one stream.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The open streams of a node, counted in all and per client.
pub struct Watchers {
    caps: OpenCaps,
    /// The gateways' own pool (one slot a watched show each).
    gateways: OpenCaps,
    send_timeout: Duration,
}

/// One admitted stream, counted until it ends.
pub struct Admission {
    _place: boxoffice_config::clients::Admission,
    send_timeout: Duration,
}

impl Watchers {
    /// The limits of `settings`.
    pub fn new(settings: &BookingSettings) -> Self {
        let count = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        let total = count(settings.max_watch_streams);
        Self {
            caps: OpenCaps::new(total, count(settings.max_watch_streams_per_client)),
            gateways: OpenCaps::new(total, total),
            send_timeout: Duration::from_millis(settings.watch_send_timeout_ms),
        }
    }

    /// A new stream for `client` (its [`address_key`]; from the gateways'
    /// pool when `gateway`, a caller that proved it is one), or
    /// RESOURCE_EXHAUSTED when the node or that client is at its cap.
    ///
    /// [`address_key`]: boxoffice_config::clients::address_key
    pub fn admit(&self, client: &str, gateway: bool) -> Result<Admission, Status> {
        let pool = if gateway { &self.gateways } else { &self.caps };
        match pool.admit(client) {
            Ok(place) => Ok(Admission {
                _place: place,
                send_timeout: self.send_timeout,
            }),
            Err(Refusal::Client(n)) => Err(Status::resource_exhausted(format!(
                "one client may keep at most {n} WatchShow streams open on this node; close one first"
            ))),
            Err(Refusal::Total(n)) => Err(Status::resource_exhausted(format!(
                "this node serves at most {n} WatchShow streams at once; try another node or later"
            ))),
        }
    }
}

/// A show as one update saw it.
#[derive(Clone, PartialEq)]
struct View {
    show: v1::Show,
    /// The state of seat `n` at index `n - 1`, as [`v1::SeatState`] numbers.
    seats: Vec<i32>,
    applied: u64,
}

/// Streams `show`'s seat map from `node`'s replica until the client goes
/// or `closing` turns true; `NOT_FOUND` at once if there is no such show.
pub fn watch(
    node: Arc<RaftNode<BookingApp>>,
    show: ShowId,
    mut closing: watch::Receiver<bool>,
    permit: Admission,
) -> Result<ShowUpdates, Status> {
    let first = view(&node, &show)?;
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let send_timeout = permit.send_timeout;
        // Held while the stream is open (see [`Watchers`]).
        let _permit = permit;
        let mut metrics = node.raft().metrics();
        let mut previous: Option<View> = None;
        let mut current = first;
        loop {
            if let Some(update) = update(previous.as_ref(), &current) {
                // A client that stops reading must not hold up shutdown,
                // nor its slot for long.
                tokio::select! {
                    sent = tokio::time::timeout(send_timeout, tx.send(Ok(update))) => match sent {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return,
                        Err(_) => {
                            tracing::info!(show = %show, "dropping a WatchShow client that stopped reading");
                            return;
                        }
                    },
                    _ = closing.wait_for(|c| *c) => return,
                }
            }
            let applied = current.applied;
            previous = Some(current);
            tokio::select! {
                () = tx.closed() => return,
                _ = closing.wait_for(|c| *c) => return,
                moved = metrics.wait_for(|m| m.last_applied.is_some_and(|l| l.index > applied)) => {
                    if moved.is_err() {
                        return; // Raft has shut down.
                    }
                }
            }
            tokio::select! {
                () = tx.closed() => return,
                _ = closing.wait_for(|c| *c) => return,
                () = tokio::time::sleep(MIN_INTERVAL) => {}
            }
            current = match view(&node, &show) {
                Ok(view) => view,
                Err(status) => {
                    let _ = tx.try_send(Err(status));
                    return;
                }
            };
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
}

/// `show` on `node`'s replica now.
fn view(node: &RaftNode<BookingApp>, id: &ShowId) -> Result<View, Status> {
    let guard = node.state().read();
    let applied = guard.last_applied.map_or(0, |l| l.index);
    let show = guard
        .app
        .0
        .show(id)
        .ok_or_else(|| convert::rejection_status(&Rejection::ShowNotFound(id.clone())))?;
    let seats = (1..=show.seat_count())
        .filter_map(|n| {
            show.seat(SeatNo(n))
                .map(|s| convert::seat(SeatNo(n), s).state)
        })
        .collect();
    Ok(View {
        show: convert::show(&show.summary()),
        seats,
        applied,
    })
}

/// What a client that saw `previous` needs to see `current`; `None` if
/// nothing it shows changed.
fn update(previous: Option<&View>, current: &View) -> Option<v1::ShowUpdate> {
    let numbered = |(index, state): (usize, &i32)| v1::Seat {
        seat_no: u32::try_from(index + 1).unwrap_or(u32::MAX),
        state: *state,
    };
    let full = previous.is_none_or(|p| p.seats.len() != current.seats.len());
    let seats: Vec<v1::Seat> = match previous {
        Some(previous) if !full => current
            .seats
            .iter()
            .enumerate()
            .zip(&previous.seats)
            .filter(|((_, now), before)| now != before)
            .map(|(seat, _)| numbered(seat))
            .collect(),
        _ => current.seats.iter().enumerate().map(numbered).collect(),
    };
    if !full && seats.is_empty() && previous.is_some_and(|p| p.show == current.show) {
        return None;
    }
    Some(v1::ShowUpdate {
        show: Some(current.show.clone()),
        full,
        seats,
        applied_index: current.applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(seats: &[v1::SeatState], booked: u32) -> View {
        View {
            show: v1::Show {
                show_id: "s".into(),
                booked,
                ..Default::default()
            },
            seats: seats.iter().map(|s| *s as i32).collect(),
            applied: 1,
        }
    }

    #[test]
    fn the_first_update_is_full_then_only_changes_are_sent() {
        use v1::SeatState::{Available, Booked, Held};
        let first = view(&[Available, Available, Available], 0);
        let full = update(None, &first).expect("first update");
        assert!(full.full);
        assert_eq!(full.seats.len(), 3);

        let later = view(&[Available, Held, Booked], 1);
        let delta = update(Some(&first), &later).expect("a change");
        assert!(!delta.full);
        assert_eq!(
            delta
                .seats
                .iter()
                .map(|s| (s.seat_no, s.state))
                .collect::<Vec<_>>(),
            vec![(2, Held as i32), (3, Booked as i32)]
        );

        assert!(update(Some(&later), &later).is_none(), "nothing changed");
        let grown = view(&[Available, Held, Booked, Available], 1);
        assert!(update(Some(&later), &grown).expect("grown").full);
        let retitled = View {
            show: v1::Show {
                title: "new".into(),
                ..later.show.clone()
            },
            ..later.clone()
        };
        let renamed = update(Some(&later), &retitled).expect("show changed");
        assert!(renamed.seats.is_empty() && !renamed.full);
    }
}
