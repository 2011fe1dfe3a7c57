//! Live seat maps for browsers: one `WatchShow` stream from the cluster per
//! watched show, fanned out to every open page.
//!
//! Each watched show has a [`Feed`]: the latest whole map and a broadcast
//! channel of updates. A task keeps one `WatchShow` stream open to some
//! node (another one if that node goes away; the node sends the whole map
//! first, which replaces the feed's) and applies every update to the map
//! and broadcasts it under the same lock, so a page that subscribes gets
//! the map as it stood, then every update after it, none twice. A page
//! that falls behind the channel gets the whole map again. The task ends,
//! and the feed goes, once no page has watched for [`IDLE`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boxoffice_client::Client;
use boxoffice_client::proto as v1;
use tokio::sync::broadcast;

use crate::dto::{Seat, SeatMapUpdate, Show};

/// How long a feed outlives its last page.
pub const IDLE: Duration = Duration::from_secs(5);
/// Pause before reopening a broken stream.
const RECONNECT: Duration = Duration::from_millis(250);
/// Updates a page may fall behind before it is sent the whole map again.
const BACKLOG: usize = 64;

/// The feeds of every watched show.
pub struct Hub {
    nodes: Client,
    feeds: Mutex<HashMap<String, Arc<Feed>>>,
}

/// One watched show.
pub struct Feed {
    updates: broadcast::Sender<Arc<SeatMapUpdate>>,
    /// The whole map as of the last update sent; `None` until the first.
    map: Mutex<Option<SeatMapUpdate>>,
}

/// A page's subscription: the whole map when there is one yet, then the
/// updates after it.
pub struct Subscription {
    /// The map to start from (absent until the cluster first answered;
    /// the first update is then whole).
    pub first: Option<SeatMapUpdate>,
    updates: broadcast::Receiver<Arc<SeatMapUpdate>>,
    feed: Arc<Feed>,
}

impl Subscription {
    /// The next update; after falling behind, the whole map. `None` once
    /// the feed has ended.
    pub async fn next(&mut self) -> Option<SeatMapUpdate> {
        match self.updates.recv().await {
            Ok(update) => Some((*update).clone()),
            Err(broadcast::error::RecvError::Lagged(_)) => {
                // Under the map's lock: every update after this copy
                // reaches the new receiver, every one before is in it.
                let map = self.feed.map.lock().expect("feed lock");
                self.updates = self.updates.resubscribe();
                map.clone()
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl Hub {
    /// A hub reading from `nodes`.
    pub fn new(nodes: Client) -> Arc<Self> {
        Arc::new(Self {
            nodes,
            feeds: Mutex::new(HashMap::new()),
        })
    }

    /// Subscribes to `show_id`'s live map, starting its feed if needed.
    pub fn subscribe(self: &Arc<Self>, show_id: &str) -> Subscription {
        let mut feeds = self.feeds.lock().expect("hub lock");
        let feed = match feeds.get(show_id) {
            Some(feed) => feed.clone(),
            None => {
                let feed = Arc::new(Feed {
                    updates: broadcast::channel(BACKLOG).0,
                    map: Mutex::new(None),
                });
                feeds.insert(show_id.to_owned(), feed.clone());
                tokio::spawn(self.clone().follow(show_id.to_owned(), feed.clone()));
                feed
            }
        };
        let map = feed.map.lock().expect("feed lock");
        let updates = feed.updates.subscribe();
        let first = map.clone();
        drop(map);
        Subscription {
            first,
            updates,
            feed,
        }
    }

    /// Shows followed now, and the pages subscribed to them.
    pub fn load(&self) -> (usize, usize) {
        let feeds = self.feeds.lock().expect("hub lock");
        let pages = feeds.values().map(|f| f.updates.receiver_count()).sum();
        (feeds.len(), pages)
    }

    /// Removes `feed` if no page watches it; true if it did.
    fn retire_if_idle(&self, show_id: &str, feed: &Arc<Feed>) -> bool {
        let mut feeds = self.feeds.lock().expect("hub lock");
        if feed.updates.receiver_count() > 0 {
            return false;
        }
        if feeds.get(show_id).is_some_and(|f| Arc::ptr_eq(f, feed)) {
            feeds.remove(show_id);
        }
        true
    }

    /// Keeps `feed` fed from the cluster until no page has watched it
    /// for [`IDLE`] (checked after every update and every quiet [`IDLE`],
    /// so a busy show is retired too).
    async fn follow(self: Arc<Self>, show_id: String, feed: Arc<Feed>) {
        let mut idle_since = None;
        let mut stream = None;
        loop {
            if feed.updates.receiver_count() == 0 {
                let since = *idle_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= IDLE && self.retire_if_idle(&show_id, &feed) {
                    tracing::debug!(show = %show_id, "live feed retired");
                    return;
                }
            } else {
                idle_since = None;
            }
            let Some(open) = stream.as_mut() else {
                match self.nodes.watch_show(&show_id).await {
                    Ok(opened) => stream = Some(opened),
                    Err(status) => {
                        tracing::debug!(show = %show_id, %status, "watching failed; retrying");
                        tokio::time::sleep(RECONNECT).await;
                    }
                }
                continue;
            };
            match tokio::time::timeout(IDLE, open.message()).await {
                Ok(Ok(Some(update))) => feed.apply(update),
                // Ended or broken: open one again, maybe on another node.
                Ok(Ok(None) | Err(_)) => {
                    stream = None;
                    tokio::time::sleep(RECONNECT).await;
                }
                // Quiet: the loop looks whether anyone still watches.
                Err(_) => {}
            }
        }
    }
}

impl Feed {
    /// Applies `update` to the map and sends it to the pages, under the
    /// map's lock (see the module doc).
    fn apply(&self, update: v1::ShowUpdate) {
        let show = Show::from(update.show.unwrap_or_default());
        let seats: Vec<Seat> = update.seats.into_iter().map(Seat::from).collect();
        let mut map = self.map.lock().expect("feed lock");
        let sent = if update.full {
            *map = Some(SeatMapUpdate {
                show,
                full: true,
                seats,
            });
            map.clone()
        } else if let Some(current) = map.as_mut() {
            current.show = show.clone();
            for seat in &seats {
                let index = seat.seat_no.checked_sub(1).map(|i| i as usize);
                if let Some(slot) = index.and_then(|i| current.seats.get_mut(i)) {
                    *slot = seat.clone();
                }
            }
            Some(SeatMapUpdate {
                show,
                full: false,
                seats,
            })
        } else {
            // Every stream starts with the whole map, so a change before
            // one cannot be placed; wait for the whole map.
            None
        };
        if let Some(update) = sent {
            // No page listening is fine.
            let _ = self.updates.send(Arc::new(update));
        }
    }
}
