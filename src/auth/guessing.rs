//! Limits on conference-ID guessing across calls: unknown IDs counted per calling number
//! (the From user) and per source address, so that a scanner dialling in again and again
//! cannot walk the ID space at the IVR's pace. Sans-IO: the caller passes the time.
//!
//! Only unknown IDs count. A caller over a limit is refused before the lookup, whatever
//! they typed, so a guesser who is cut off learns nothing more — not even when a guess
//! would have been right.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Keys remembered per table before expired windows are swept; beyond it, new keys count
/// as over the limit (a flood of fresh numbers cannot grow memory).
const MAX_KEYS: usize = 100_000;

/// How many unknown conference IDs are allowed, and over what window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuessLimits {
    /// Unknown IDs per calling number per window (0: no limit).
    pub per_caller: u32,
    /// Unknown IDs per source address per window (0: no limit).
    pub per_source: u32,
    /// The counting window; a caller cut off stays cut off until their window ends.
    pub window: Duration,
}

impl Default for GuessLimits {
    fn default() -> Self {
        GuessLimits {
            // Two whole calls of typos (three attempts each) stay within it.
            per_caller: 6,
            per_source: 60,
            window: Duration::from_secs(600),
        }
    }
}

/// Who is calling, as far as SIP says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The address the INVITE came from.
    pub source: IpAddr,
    /// The From user (the calling number), when it identifies someone.
    pub from_user: Option<String>,
    /// The source is a trusted trunk carrying many callers: only the number counts there.
    pub trusted: bool,
}

impl Caller {
    /// The calling number to count against, if it names a caller: withheld numbers
    /// ("anonymous", "restricted"…) are shared by many people and do not.
    fn number(&self) -> Option<&str> {
        let user = self.from_user.as_deref()?.trim();
        let shared = [
            "anonymous",
            "restricted",
            "unknown",
            "unavailable",
            "private",
        ];
        if user.is_empty() || shared.iter().any(|s| user.eq_ignore_ascii_case(s)) {
            None
        } else {
            Some(user)
        }
    }
}

#[derive(Debug)]
struct Windows<K> {
    limit: u32,
    window: Duration,
    counts: HashMap<K, (Instant, u32)>,
}

impl<K: Hash + Eq + Clone> Windows<K> {
    fn new(limit: u32, window: Duration) -> Self {
        Windows {
            limit,
            window,
            counts: HashMap::new(),
        }
    }

    fn over(&mut self, key: &K, now: Instant) -> bool {
        if self.limit == 0 {
            return false;
        }
        match self.counts.get(key) {
            Some((start, n)) => {
                now.saturating_duration_since(*start) < self.window && *n >= self.limit
            }
            None => !self.room_for_new_key(now),
        }
    }

    /// True when a new key can be counted, after forgetting expired windows if full.
    fn room_for_new_key(&mut self, now: Instant) -> bool {
        if self.counts.len() >= MAX_KEYS {
            let window = self.window;
            self.counts
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
        }
        self.counts.len() < MAX_KEYS
    }

    fn count(&mut self, key: &K, now: Instant) {
        if self.limit == 0 {
            return;
        }
        if !self.counts.contains_key(key) && !self.room_for_new_key(now) {
            return;
        }
        let entry = self.counts.entry(key.clone()).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// The guessing limits' state.
#[derive(Debug)]
pub struct GuessGuard {
    limits: GuessLimits,
    callers: Windows<String>,
    sources: Windows<IpAddr>,
}

/// One counter a caller's unknown IDs go to, as a store shared by several nodes keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedCounter {
    /// `number:<calling number>` or `source:<address>`.
    pub key: String,
    /// Unknown IDs allowed per window.
    pub limit: u32,
    /// Which limit it is.
    pub cut_off: CutOff,
}

/// Why a caller was cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutOff {
    /// Too many unknown IDs from this calling number.
    Caller,
    /// Too many unknown IDs from this source address.
    Source,
}

impl GuessGuard {
    /// A guard with these limits and nothing counted.
    pub fn new(limits: GuessLimits) -> Self {
        GuessGuard {
            limits,
            callers: Windows::new(limits.per_caller, limits.window),
            sources: Windows::new(limits.per_source, limits.window),
        }
    }

    /// Checked before a lookup: Some when the caller must be refused without one.
    pub fn gate(&mut self, caller: &Caller, now: Instant) -> Option<CutOff> {
        if let Some(number) = caller.number()
            && self.callers.over(&number.to_string(), now)
        {
            return Some(CutOff::Caller);
        }
        if !caller.trusted && self.sources.over(&caller.source, now) {
            return Some(CutOff::Source);
        }
        None
    }

    /// The counting window.
    pub fn window(&self) -> Duration {
        self.limits.window
    }

    /// The counters this caller's unknown IDs go to in a store shared by a cluster (the
    /// same ones this guard counts, with the same limits), so that a dialler spreading its
    /// calls over the nodes gets no more tries than on one.
    pub fn shared_counters(&self, caller: &Caller) -> Vec<SharedCounter> {
        let mut out = Vec::with_capacity(2);
        if let Some(number) = caller.number()
            && self.limits.per_caller > 0
        {
            out.push(SharedCounter {
                key: format!("number:{number}"),
                limit: self.limits.per_caller,
                cut_off: CutOff::Caller,
            });
        }
        if !caller.trusted && self.limits.per_source > 0 {
            out.push(SharedCounter {
                key: format!("source:{}", caller.source),
                limit: self.limits.per_source,
                cut_off: CutOff::Source,
            });
        }
        out
    }

    /// A lookup found no conference for what this caller typed.
    pub fn on_unknown(&mut self, caller: &Caller, now: Instant) {
        if let Some(number) = caller.number() {
            self.callers.count(&number.to_string(), now);
        }
        if !caller.trusted {
            self.sources.count(&caller.source, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(ip: [u8; 4], user: Option<&str>, trusted: bool) -> Caller {
        Caller {
            source: IpAddr::from(ip),
            from_user: user.map(str::to_owned),
            trusted,
        }
    }

    fn limits() -> GuessLimits {
        GuessLimits {
            per_caller: 3,
            per_source: 5,
            window: Duration::from_secs(600),
        }
    }

    #[test]
    fn a_number_is_cut_off_after_its_unknown_ids_until_the_window_ends() {
        let mut g = GuessGuard::new(limits());
        let t = Instant::now();
        let c = caller([192, 0, 2, 1], Some("+15550100"), true);
        for _ in 0..3 {
            assert_eq!(g.gate(&c, t), None);
            g.on_unknown(&c, t);
        }
        assert_eq!(g.gate(&c, t), Some(CutOff::Caller));
        assert_eq!(
            g.gate(&c, t + Duration::from_secs(599)),
            Some(CutOff::Caller)
        );
        assert_eq!(g.gate(&c, t + Duration::from_secs(600)), None);
        let other = caller([192, 0, 2, 1], Some("+15550101"), true);
        assert_eq!(
            g.gate(&other, t),
            None,
            "other numbers on the trunk still get in"
        );
    }

    #[test]
    fn an_untrusted_source_is_cut_off_whatever_numbers_it_claims() {
        let mut g = GuessGuard::new(limits());
        let t = Instant::now();
        for i in 0..5 {
            let c = caller([198, 51, 100, 7], Some(&format!("scan{i}")), false);
            assert_eq!(g.gate(&c, t), None);
            g.on_unknown(&c, t);
        }
        let fresh = caller([198, 51, 100, 7], Some("new-number"), false);
        assert_eq!(g.gate(&fresh, t), Some(CutOff::Source));
        let elsewhere = caller([198, 51, 100, 8], Some("new-number"), false);
        assert_eq!(g.gate(&elsewhere, t), None);
    }

    #[test]
    fn trusted_trunks_are_not_limited_per_source_and_withheld_numbers_not_per_number() {
        let mut g = GuessGuard::new(limits());
        let t = Instant::now();
        for _ in 0..50 {
            let c = caller([192, 0, 2, 1], Some("anonymous"), true);
            assert_eq!(g.gate(&c, t), None);
            g.on_unknown(&c, t);
        }
        // Withheld numbers from an untrusted source still hit the source limit.
        for _ in 0..5 {
            g.on_unknown(&caller([203, 0, 113, 9], Some("Anonymous"), false), t);
        }
        assert_eq!(
            g.gate(&caller([203, 0, 113, 9], None, false), t),
            Some(CutOff::Source)
        );
    }

    #[test]
    fn zero_means_no_limit_and_memory_stays_bounded() {
        let mut g = GuessGuard::new(GuessLimits {
            per_caller: 0,
            per_source: 0,
            window: Duration::from_secs(60),
        });
        let t = Instant::now();
        let c = caller([198, 51, 100, 1], Some("x"), false);
        for _ in 0..100 {
            g.on_unknown(&c, t);
        }
        assert_eq!(g.gate(&c, t), None);
        assert!(g.callers.counts.is_empty() && g.sources.counts.is_empty());
    }

    #[test]
    fn shared_counters_follow_the_same_rules() {
        let g = GuessGuard::new(limits());
        let trunk = caller([192, 0, 2, 1], Some("+15550100"), true);
        assert_eq!(
            g.shared_counters(&trunk),
            vec![SharedCounter {
                key: "number:+15550100".into(),
                limit: 3,
                cut_off: CutOff::Caller
            }],
            "a trusted trunk: only the number"
        );
        let anonymous = caller([198, 51, 100, 7], Some("anonymous"), false);
        assert_eq!(
            g.shared_counters(&anonymous),
            vec![SharedCounter {
                key: "source:198.51.100.7".into(),
                limit: 5,
                cut_off: CutOff::Source
            }],
            "a withheld number: only the address"
        );
        let off = GuessGuard::new(GuessLimits {
            per_caller: 0,
            per_source: 0,
            window: Duration::from_secs(1),
        });
        assert!(off.shared_counters(&anonymous).is_empty());
    }
}
