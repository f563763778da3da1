//! Fixed-window request limits per key (an e-mail address, a source address), so the public
//! self-service form cannot be used to flood an organizer's mailbox or the mail relay.
//! Sans-IO: the caller passes the time. Memory is bounded: past `max_keys` the oldest
//! windows are forgotten.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// At most `limit` requests per key in each `window`.
#[derive(Debug)]
pub struct WindowLimiter {
    limit: u32,
    window: Duration,
    max_keys: usize,
    keys: HashMap<String, (Instant, u32)>,
}

impl WindowLimiter {
    /// A limiter of `limit` per `window`, remembering at most `max_keys` keys.
    pub fn new(limit: u32, window: Duration, max_keys: usize) -> Self {
        WindowLimiter {
            limit,
            window,
            max_keys: max_keys.max(1),
            keys: HashMap::new(),
        }
    }

    /// Counts one request for `key` at `now`; false when over the limit.
    pub fn allow(&mut self, key: &str, now: Instant) -> bool {
        if !self.keys.contains_key(key) && self.keys.len() >= self.max_keys {
            let window = self.window;
            self.keys
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
            if self.keys.len() >= self.max_keys {
                // Still full of live windows: refuse new keys rather than grow.
                return false;
            }
        }
        let entry = self.keys.entry(key.to_string()).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_limit_per_window_then_refuses_until_the_window_ends() {
        let mut l = WindowLimiter::new(3, Duration::from_secs(900), 100);
        let t = Instant::now();
        assert!((0..3).all(|_| l.allow("a@example.com", t)));
        assert!(!l.allow("a@example.com", t + Duration::from_secs(899)));
        assert!(l.allow("b@example.com", t), "other keys are separate");
        assert!(l.allow("a@example.com", t + Duration::from_secs(900)));
    }

    #[test]
    fn memory_stays_bounded_under_many_keys() {
        let mut l = WindowLimiter::new(1, Duration::from_secs(60), 10);
        let t = Instant::now();
        for i in 0..10 {
            assert!(l.allow(&format!("k{i}"), t));
        }
        assert!(!l.allow("k10", t), "full of live windows: refused");
        assert_eq!(l.keys.len(), 10);
        assert!(
            l.allow("k11", t + Duration::from_secs(60)),
            "expired ones are forgotten"
        );
        assert!(l.keys.len() <= 10);
    }
}
