//! PIN lockout across calls: how many wrong PINs an organizer's PIN takes before it locks,
//! for how long, and when only a reset opens it again.
//!
//! Three attempts per call bound nothing when an attacker can place calls without end, so
//! failures are counted per organizer, across calls and lines. With the default policy
//! and a 5-digit PIN an attacker gets at most [`LockoutPolicy::max_guesses_per_year`]
//! guesses in any 365 days, whatever the number of parallel lines: at most 0.1 % chance
//! per year of hitting a given organizer's PIN (see the README's Security section).
//! Sans-IO: the caller passes the time (Unix seconds) and stores the state.

/// Seconds in the counting window for [`LockoutPolicy::hard_lock_per_window`].
pub const WINDOW_SECS: i64 = 365 * 24 * 3600;

/// The lockout rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock the PIN for a while.
    pub lock_after: u32,
    /// Length of the first lock; each further lock doubles it.
    pub first_lock_secs: i64,
    /// The longest timed lock.
    pub max_lock_secs: i64,
    /// Failures since the last success that lock the PIN until it is reset.
    pub hard_lock_after: u32,
    /// Failures within one counting window (365 days from its first failure) that lock the
    /// PIN until it is reset, even when the organizer succeeds in between: the legitimate
    /// organizer's successes must not hand an attacker a fresh allowance every day.
    pub hard_lock_per_window: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            lock_after: 10,
            first_lock_secs: 15 * 60,
            max_lock_secs: 24 * 3600,
            hard_lock_after: 50,
            hard_lock_per_window: 50,
        }
    }
}

impl LockoutPolicy {
    /// The most wrong PINs anyone can try in any 365 days before the PIN locks until reset:
    /// a year overlaps at most two counting windows.
    pub fn max_guesses_per_year(&self) -> u32 {
        2 * self.hard_lock_per_window.min(self.hard_lock_after)
    }

    fn lock_secs(&self, locks_before: u32) -> i64 {
        let factor = 1i64.checked_shl(locks_before.min(30)).unwrap_or(i64::MAX);
        self.first_lock_secs
            .saturating_mul(factor)
            .min(self.max_lock_secs)
    }
}

/// One organizer's PIN failure record, as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockoutState {
    /// Failures since the last success or the last timed lock.
    pub consecutive: u32,
    /// Failures since the last success (or reset).
    pub since_success: u32,
    /// Timed locks so far (each doubles the next); cleared by a success.
    pub locks: u32,
    /// Locked until this Unix time (0: not locked for a while).
    pub locked_until: i64,
    /// Locked until the PIN is reset.
    pub hard_locked: bool,
    /// Start of the current counting window (0: none yet).
    pub window_start: i64,
    /// Failures in the current counting window.
    pub window_failures: u32,
}

/// Whether a PIN may be checked at all right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Check it.
    Open,
    /// Refuse it unchecked (the caller still spends the same time on it).
    LockedUntil(i64),
    /// Refuse it until the PIN is reset.
    LockedUntilReset,
}

/// What a failure changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Counted; not locked.
    Counted,
    /// This failure locked the PIN until the given Unix time.
    Locked {
        /// When the lock ends.
        until: i64,
    },
    /// This failure locked the PIN until it is reset.
    LockedUntilReset,
}

impl LockoutState {
    /// Whether a PIN entered at `now` may be checked, and whether a timed lock just ended.
    pub fn gate(&self, now: i64) -> Gate {
        if self.hard_locked {
            Gate::LockedUntilReset
        } else if self.locked_until > now {
            Gate::LockedUntil(self.locked_until)
        } else {
            Gate::Open
        }
    }

    /// Whether a timed lock has run out (so an unlock can be recorded once).
    pub fn lock_expired(&self, now: i64) -> bool {
        !self.hard_locked && self.locked_until != 0 && self.locked_until <= now
    }

    /// A correct PIN at `now`: the lock counters start over, the counting window stays.
    pub fn on_success(&mut self, now: i64) {
        let window = self.current_window(now);
        *self = LockoutState {
            window_start: window.0,
            window_failures: window.1,
            ..LockoutState::default()
        };
    }

    /// A wrong PIN (or one entered while locked) at `now`.
    pub fn on_failure(&mut self, policy: &LockoutPolicy, now: i64) -> FailureOutcome {
        let (start, failures) = self.current_window(now);
        self.window_start = if start == 0 { now } else { start };
        self.window_failures = failures.saturating_add(1);
        self.since_success = self.since_success.saturating_add(1);
        if self.locked_until <= now {
            self.locked_until = 0;
        }
        if self.hard_locked {
            return FailureOutcome::LockedUntilReset;
        }
        if self.since_success >= policy.hard_lock_after
            || self.window_failures >= policy.hard_lock_per_window
        {
            self.hard_locked = true;
            self.locked_until = 0;
            return FailureOutcome::LockedUntilReset;
        }
        if self.locked_until > now {
            // Attempts while locked count toward the hard lock but do not extend the lock.
            return FailureOutcome::Counted;
        }
        self.consecutive = self.consecutive.saturating_add(1);
        if self.consecutive >= policy.lock_after {
            let until = now.saturating_add(policy.lock_secs(self.locks));
            self.locks = self.locks.saturating_add(1);
            self.consecutive = 0;
            self.locked_until = until;
            return FailureOutcome::Locked { until };
        }
        FailureOutcome::Counted
    }

    fn current_window(&self, now: i64) -> (i64, u32) {
        if self.window_start != 0 && now.saturating_sub(self.window_start) < WINDOW_SECS {
            (self.window_start, self.window_failures)
        } else {
            (0, 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000;

    fn fail_n(s: &mut LockoutState, p: &LockoutPolicy, now: i64, n: u32) -> FailureOutcome {
        let mut last = FailureOutcome::Counted;
        for _ in 0..n {
            last = s.on_failure(p, now);
        }
        last
    }

    #[test]
    fn ten_consecutive_failures_lock_for_fifteen_minutes() {
        let p = LockoutPolicy::default();
        let mut s = LockoutState::default();
        assert_eq!(fail_n(&mut s, &p, T0, 9), FailureOutcome::Counted);
        assert_eq!(s.gate(T0), Gate::Open);
        assert_eq!(
            s.on_failure(&p, T0),
            FailureOutcome::Locked { until: T0 + 900 }
        );
        assert_eq!(s.gate(T0 + 899), Gate::LockedUntil(T0 + 900));
        assert_eq!(s.gate(T0 + 900), Gate::Open);
        assert!(s.lock_expired(T0 + 900));
    }

    #[test]
    fn locks_double_up_to_a_day() {
        let p = LockoutPolicy::default();
        let mut s = LockoutState::default();
        let mut now = T0;
        let mut lengths = Vec::new();
        // Window and hard-lock limits set high so only the doubling shows.
        let p = LockoutPolicy {
            hard_lock_after: 1000,
            hard_lock_per_window: 1000,
            ..p
        };
        for _ in 0..9 {
            match fail_n(&mut s, &p, now, 10) {
                FailureOutcome::Locked { until } => {
                    lengths.push(until - now);
                    now = until;
                }
                other => panic!("expected a lock, got {other:?}"),
            }
        }
        assert_eq!(
            lengths,
            [
                900, 1800, 3600, 7200, 14_400, 28_800, 57_600, 86_400, 86_400
            ]
        );
    }

    #[test]
    fn attempts_while_locked_do_not_extend_the_lock_but_count() {
        let p = LockoutPolicy::default();
        let mut s = LockoutState::default();
        fail_n(&mut s, &p, T0, 10);
        assert_eq!(fail_n(&mut s, &p, T0 + 60, 5), FailureOutcome::Counted);
        assert_eq!(s.gate(T0 + 60), Gate::LockedUntil(T0 + 900));
        assert_eq!(s.since_success, 15);
    }

    #[test]
    fn fifty_failures_since_success_lock_until_reset() {
        let p = LockoutPolicy {
            hard_lock_per_window: 1000,
            ..LockoutPolicy::default()
        };
        let mut s = LockoutState::default();
        let mut now = T0;
        let mut outcome = FailureOutcome::Counted;
        for _ in 0..50 {
            if let Gate::LockedUntil(until) = s.gate(now) {
                now = until;
            }
            outcome = s.on_failure(&p, now);
        }
        assert_eq!(outcome, FailureOutcome::LockedUntilReset);
        assert_eq!(s.gate(now + 10 * WINDOW_SECS), Gate::LockedUntilReset);
        // A reset is a new state.
        s = LockoutState::default();
        assert_eq!(s.gate(now), Gate::Open);
    }

    #[test]
    fn a_success_clears_the_lock_counters_but_not_the_window() {
        let p = LockoutPolicy::default();
        let mut s = LockoutState::default();
        fail_n(&mut s, &p, T0, 9);
        s.on_success(T0 + 1);
        assert_eq!(s.consecutive, 0);
        assert_eq!(s.since_success, 0);
        assert_eq!(s.window_failures, 9);
        assert_eq!(s.on_failure(&p, T0 + 2), FailureOutcome::Counted);
    }

    #[test]
    fn daily_successes_do_not_give_an_attacker_more_than_the_window_allows() {
        // The attacker spends every allowed guess; the organizer logs in every day.
        let p = LockoutPolicy::default();
        let mut s = LockoutState::default();
        let mut guesses = 0u32;
        let day = 24 * 3600;
        for d in 0..365 {
            let mut now = T0 + d * day;
            let end = now + day - 1;
            while now < end {
                match s.gate(now) {
                    Gate::Open => {
                        guesses += 1;
                        s.on_failure(&p, now);
                    }
                    Gate::LockedUntil(until) => now = until,
                    Gate::LockedUntilReset => break,
                }
            }
            if s.gate(end) == Gate::LockedUntilReset {
                break;
            }
            s.on_success(end);
        }
        assert!(guesses <= p.hard_lock_per_window, "{guesses} guesses");
        assert_eq!(s.gate(T0 + 364 * day), Gate::LockedUntilReset);
    }

    #[test]
    fn the_window_restarts_after_a_year() {
        let p = LockoutPolicy::default();
        let mut s = LockoutState::default();
        s.on_failure(&p, T0);
        s.on_success(T0 + 1);
        s.on_failure(&p, T0 + WINDOW_SECS);
        assert_eq!(s.window_start, T0 + WINDOW_SECS);
        assert_eq!(s.window_failures, 1);
    }

    #[test]
    fn the_yearly_bound_is_at_most_a_hundred_guesses() {
        let p = LockoutPolicy::default();
        assert_eq!(p.max_guesses_per_year(), 100);
        // 100 guesses against 100,000 equally likely 5-digit PINs: 0.1 %.
        assert!(f64::from(p.max_guesses_per_year()) / 100_000.0 <= 0.001);
    }
}
