//! Conversation memory: what each conversation last discussed, bounded
//! (oldest conversations are forgotten first) and expiring.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a conversation remembers.
#[derive(Clone, Debug, Default)]
pub(super) struct Memory {
    /// The show (or performance) last discussed.
    pub(super) show: Option<String>,
    /// The production last discussed.
    pub(super) production: Option<String>,
    /// The seats last discussed.
    pub(super) seats: Vec<u32>,
}

/// Conversations, bounded and expiring.
pub(super) struct Sessions {
    map: Mutex<HashMap<String, (Memory, Instant)>>,
    ttl: Duration,
    max: usize,
}

impl Sessions {
    /// At most `max` conversations (at least one), each forgotten `ttl`
    /// after it was last seen.
    pub(super) fn new(ttl: Duration, max: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            ttl,
            max: max.max(1),
        }
    }

    /// What conversation `id` remembers (nothing if unknown or expired).
    pub(super) fn get(&self, id: &str) -> Memory {
        let Ok(map) = self.map.lock() else {
            return Memory::default();
        };
        map.get(id)
            .filter(|(_, seen)| seen.elapsed() < self.ttl)
            .map(|(memory, _)| memory.clone())
            .unwrap_or_default()
    }

    /// Remembers `memory` for conversation `id`, forgetting the expired and
    /// then the oldest conversation when full.
    pub(super) fn put(&self, id: &str, memory: Memory) {
        let Ok(mut map) = self.map.lock() else { return };
        if map.len() >= self.max && !map.contains_key(id) {
            let ttl = self.ttl;
            map.retain(|_, (_, seen)| seen.elapsed() < ttl);
            if map.len() >= self.max
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (_, seen))| *seen)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(id.to_owned(), (memory, Instant::now()));
    }

    /// Conversations remembered now.
    pub(super) fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_bounded_and_expires() {
        let sessions = Sessions::new(Duration::from_secs(60), 2);
        let remember = |show: &str| Memory {
            show: Some(show.into()),
            ..Memory::default()
        };
        sessions.put("a", remember("x"));
        sessions.put("b", remember("y"));
        sessions.put("c", remember("z"));
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions.get("a").show, None, "the oldest is forgotten");
        assert_eq!(sessions.get("c").show.as_deref(), Some("z"));
        let expired = Sessions::new(Duration::ZERO, 2);
        expired.put("a", remember("x"));
        assert_eq!(expired.get("a").show, None);
    }
}
