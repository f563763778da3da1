//! Recent conference look-ups, so a crowd dialling one meeting costs one database read a
//! second rather than one per caller (and no trip to the database's thread on the call path).
//!
//! An entry is good for [`LOOKUP_TTL`] and only while the directory has committed no change
//! since it was read ([`Store::writes`](crate::store::Store::writes)): a change made through
//! this process is seen by the next caller. A change made elsewhere (another cluster node, the
//! CLI on the same database) is seen within [`LOOKUP_TTL`]. Only found, enabled conferences
//! are kept: an unknown ID always asks the database, so a new organizer is found at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::call::Conference;

/// How long a look-up answers for the same digits.
pub const LOOKUP_TTL: Duration = Duration::from_secs(1);

/// Most distinct conference IDs kept; past it the stale ones go, and if none is stale, all.
const MAX_ENTRIES: usize = 4096;

/// One remembered answer.
#[derive(Debug)]
struct Entry {
    read_at: Instant,
    /// The directory's count of committed changes when the answer was read.
    writes: u64,
    conference: Conference,
}

/// The cache itself; shared by every clone of the directory.
#[derive(Debug, Default)]
pub struct LookupCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl LookupCache {
    /// The answer for `digits` if it was read less than [`LOOKUP_TTL`] before `now` and no
    /// change has been committed since (`writes` is the directory's current count).
    pub fn get(&self, digits: &str, now: Instant, writes: u64) -> Option<Conference> {
        let entries = self.entries.lock().ok()?;
        let e = entries.get(digits)?;
        let fresh = e.writes == writes && now.saturating_duration_since(e.read_at) < LOOKUP_TTL;
        fresh.then(|| e.conference.clone())
    }

    /// Keeps an answer read at `read_at`, when the change count was `writes` (taken before
    /// the read, so a change committed during it makes the entry stale at once).
    pub fn put(&self, digits: &str, conference: Conference, read_at: Instant, writes: u64) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(digits) {
            entries.retain(|_, e| {
                e.writes == writes && read_at.saturating_duration_since(e.read_at) < LOOKUP_TTL
            });
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            digits.to_string(),
            Entry {
                read_at,
                writes,
                conference,
            },
        );
    }

    /// How many answers are kept, for tests.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conference(id: &str) -> Conference {
        Conference {
            organizer_id: 7,
            conference_id: id.to_string(),
            organizer_name: "Ada".into(),
            start_without_pin: false,
        }
    }

    #[test]
    fn an_answer_serves_for_the_ttl_and_not_after() {
        let cache = LookupCache::default();
        let t0 = Instant::now();
        assert_eq!(cache.get("123", t0, 0), None);
        cache.put("123", conference("123"), t0, 0);
        assert_eq!(cache.get("123", t0, 0), Some(conference("123")));
        let almost = t0 + LOOKUP_TTL - Duration::from_millis(1);
        assert_eq!(cache.get("123", almost, 0), Some(conference("123")));
        assert_eq!(cache.get("123", t0 + LOOKUP_TTL, 0), None);
        assert_eq!(cache.get("124", t0, 0), None, "other digits");
    }

    #[test]
    fn a_committed_change_makes_every_answer_stale_at_once() {
        let cache = LookupCache::default();
        let t0 = Instant::now();
        cache.put("123", conference("123"), t0, 4);
        assert_eq!(cache.get("123", t0, 5), None);
        // Read before a change that committed during the read: never served.
        cache.put("456", conference("456"), t0, 4);
        assert_eq!(cache.get("456", t0, 5), None);
    }

    #[test]
    fn the_cache_is_bounded_and_drops_stale_answers_first() {
        let cache = LookupCache::default();
        let t0 = Instant::now();
        for i in 0..MAX_ENTRIES {
            cache.put(&i.to_string(), conference("1"), t0, 0);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        // All stale by then: they go, the new one stays.
        let later = t0 + LOOKUP_TTL;
        cache.put("new", conference("2"), later, 0);
        assert_eq!(cache.len(), 1);
        // All fresh: the whole cache is dropped rather than grown.
        for i in 0..MAX_ENTRIES - 1 {
            cache.put(&i.to_string(), conference("1"), later, 0);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        cache.put("one more", conference("3"), later, 0);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get("one more", later, 0), Some(conference("3")));
    }
}
