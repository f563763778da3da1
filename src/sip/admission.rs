//! Admission control for new calls: a cap on calls in progress and a token bucket on new
//! calls per second. Past either, a new INVITE gets `503 Service Unavailable` with
//! `Retry-After` at once, so an overload costs a few microseconds per refused call instead of
//! late answers, retransmissions and a collapse that takes the calls already up with it.

use std::time::Instant;

/// The limits; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmissionConfig {
    /// Calls in progress (answered and not yet ended).
    pub max_calls: usize,
    /// New calls per second, on average.
    pub max_rate: f64,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            max_calls: 10_000,
            max_rate: 1_000.0,
        }
    }
}

/// Whether to take a new call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Take it.
    Admit,
    /// Too many calls in progress: answer 503, try again after this many seconds.
    TooManyCalls {
        /// For `Retry-After`.
        retry_after_s: u32,
    },
    /// Too many new calls this second: answer 503, try again after this many seconds.
    TooFast {
        /// For `Retry-After`.
        retry_after_s: u32,
    },
}

/// The admission state (sans-IO: the caller passes the time and the calls in progress).
#[derive(Debug, Clone)]
pub struct Admission {
    config: AdmissionConfig,
    tokens: f64,
    last: Option<Instant>,
}

impl Admission {
    /// A full bucket: one second's worth of calls may arrive at once.
    pub fn new(config: AdmissionConfig) -> Self {
        Admission {
            config,
            tokens: Self::burst(&config),
            last: None,
        }
    }

    fn burst(config: &AdmissionConfig) -> f64 {
        config.max_rate.max(1.0)
    }

    /// Decides on one new call at `now` with `active` calls in progress.
    pub fn admit(&mut self, now: Instant, active: usize) -> Verdict {
        if self.config.max_calls > 0 && active >= self.config.max_calls {
            return Verdict::TooManyCalls { retry_after_s: 10 };
        }
        if self.config.max_rate <= 0.0 {
            return Verdict::Admit;
        }
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens =
                (self.tokens + elapsed * self.config.max_rate).min(Self::burst(&self.config));
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Verdict::Admit
        } else {
            Verdict::TooFast { retry_after_s: 1 }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_call_cap_refuses_at_the_limit_and_admits_below_it() {
        let mut a = Admission::new(AdmissionConfig {
            max_calls: 3,
            max_rate: 0.0,
        });
        let t = Instant::now();
        assert_eq!(a.admit(t, 2), Verdict::Admit);
        assert_eq!(a.admit(t, 3), Verdict::TooManyCalls { retry_after_s: 10 });
        assert_eq!(a.admit(t, 2), Verdict::Admit);
    }

    #[test]
    fn the_rate_allows_a_second_of_burst_then_refills_with_time() {
        let mut a = Admission::new(AdmissionConfig {
            max_calls: 0,
            max_rate: 10.0,
        });
        let t = Instant::now();
        let admitted = (0..25).filter(|_| a.admit(t, 0) == Verdict::Admit).count();
        assert_eq!(admitted, 10, "one second's worth at once");
        assert_eq!(a.admit(t, 0), Verdict::TooFast { retry_after_s: 1 });
        // 100 ms later, one more token.
        let t2 = t + Duration::from_millis(100);
        assert_eq!(a.admit(t2, 0), Verdict::Admit);
        assert_eq!(a.admit(t2, 0), Verdict::TooFast { retry_after_s: 1 });
        // Over 10 s at exactly the rate, every call gets in.
        let mut now = t2;
        let mut ok = 0;
        for _ in 0..100 {
            now += Duration::from_millis(100);
            if a.admit(now, 0) == Verdict::Admit {
                ok += 1;
            }
        }
        assert_eq!(ok, 100);
        // A long pause does not bank more than the burst.
        let later = now + Duration::from_secs(3600);
        let burst = (0..50)
            .filter(|_| a.admit(later, 0) == Verdict::Admit)
            .count();
        assert_eq!(burst, 10);
    }

    #[test]
    fn zero_means_unlimited() {
        let mut a = Admission::new(AdmissionConfig {
            max_calls: 0,
            max_rate: 0.0,
        });
        let t = Instant::now();
        assert!((0..10_000).all(|i| a.admit(t, i) == Verdict::Admit));
    }
}
