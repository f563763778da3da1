//! The control task's rules for calls, sans-IO: who each call is (for the guessing limits
//! and call records), whether a typed conference ID may be looked up, what an unknown one
//! counts against, and what follows a PIN check (which counter, a security event, the lock
//! e-mail). The control task carries the decisions out; the time is passed in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::auth::guessing::{Caller, CutOff, GuessGuard, GuessLimits};
use crate::call::CallId;
use crate::directory::PinCheck;

/// What to do with a conference ID a caller typed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Lookup {
    /// Look it up; an unknown answer counts against `caller` (None: the SIP side has not
    /// said who is calling, so nothing is counted).
    Go {
        /// Who typed it.
        caller: Option<Caller>,
    },
    /// Refuse without a look-up: the caller guessed too many unknown IDs lately.
    Refuse {
        /// Who is cut off.
        caller: Caller,
        /// Which limit they reached.
        limit: CutOff,
    },
}

/// The counter a PIN check adds one to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PinCounter {
    /// The right PIN.
    Accepted,
    /// Wrong, or entered while locked.
    Refused,
    /// Wrong, and this failure locked the PIN.
    Locked,
}

/// What follows a PIN check besides the answer to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PinFollowUp {
    /// Which counter goes up.
    pub(super) counter: PinCounter,
    /// A wrong PIN from this source: logged as a security event (fail2ban).
    pub(super) security_event: Option<IpAddr>,
    /// The PIN is locked until reset: the organizer and the admins get the e-mail.
    pub(super) lock_mail: bool,
}

/// The calls the control task knows and the guessing limits' state.
#[derive(Debug)]
pub(super) struct CallRules {
    callers: HashMap<CallId, Caller>,
    guessing: GuessGuard,
}

impl CallRules {
    /// No calls yet, guessing counted with `limits`.
    pub(super) fn new(limits: GuessLimits) -> Self {
        CallRules {
            callers: HashMap::new(),
            guessing: GuessGuard::new(limits),
        }
    }

    /// The SIP side answered a call from `caller`.
    pub(super) fn caller_known(&mut self, call: CallId, caller: Caller) {
        self.callers.insert(call, caller);
    }

    /// The call ended: forget who it was.
    pub(super) fn call_gone(&mut self, call: CallId) {
        self.callers.remove(&call);
    }

    /// Where a call's INVITE came from.
    pub(super) fn source(&self, call: CallId) -> Option<IpAddr> {
        self.callers.get(&call).map(|c| c.source)
    }

    /// A caller typed a conference ID at `now`: look it up, or refuse them.
    pub(super) fn lookup(&mut self, call: CallId, now: Instant) -> Lookup {
        let Some(caller) = self.callers.get(&call).cloned() else {
            return Lookup::Go { caller: None };
        };
        match self.guessing.gate(&caller, now) {
            Some(limit) => Lookup::Refuse { caller, limit },
            None => Lookup::Go {
                caller: Some(caller),
            },
        }
    }

    /// The counters a cluster shares for this caller's unknown IDs, and their window.
    pub(super) fn shared_counters(
        &self,
        caller: &Caller,
    ) -> (
        Vec<crate::auth::guessing::SharedCounter>,
        std::time::Duration,
    ) {
        (
            self.guessing.shared_counters(caller),
            self.guessing.window(),
        )
    }

    /// A look-up for `caller` found no conference: one more unknown ID counted.
    pub(super) fn unknown_conference(&mut self, caller: &Caller, now: Instant) {
        self.guessing.on_unknown(caller, now);
    }
}

/// What follows a PIN check from `source` (None: the caller is not known).
pub(super) fn after_pin_check(check: PinCheck, source: Option<IpAddr>) -> PinFollowUp {
    let counter = match check {
        PinCheck::Accepted => PinCounter::Accepted,
        PinCheck::Refused => PinCounter::Refused,
        PinCheck::RefusedAndLocked { .. } | PinCheck::RefusedAndLockedUntilReset => {
            PinCounter::Locked
        }
    };
    PinFollowUp {
        counter,
        security_event: source.filter(|_| !check.accepted()),
        lock_mail: check == PinCheck::RefusedAndLockedUntilReset,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn caller(ip: [u8; 4], number: &str) -> Caller {
        Caller {
            source: IpAddr::from(ip),
            from_user: Some(number.into()),
            trusted: false,
        }
    }

    fn rules() -> CallRules {
        CallRules::new(GuessLimits {
            per_caller: 2,
            per_source: 10,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn a_caller_the_sip_side_has_not_named_is_looked_up_and_nothing_is_counted() {
        let mut r = rules();
        let t = Instant::now();
        assert_eq!(r.lookup(CallId(1), t), Lookup::Go { caller: None });
        assert_eq!(r.source(CallId(1)), None);
    }

    #[test]
    fn unknown_ids_cut_a_caller_off_on_any_later_call_until_the_window_ends() {
        let mut r = rules();
        let t = Instant::now();
        let c = caller([192, 0, 2, 7], "+15550100");
        r.caller_known(CallId(1), c.clone());
        for _ in 0..2 {
            let Lookup::Go { caller: Some(who) } = r.lookup(CallId(1), t) else {
                panic!("within the limit");
            };
            r.unknown_conference(&who, t);
        }
        r.call_gone(CallId(1));
        // The same number calls again: refused before any look-up, right ID or not.
        r.caller_known(CallId(2), c.clone());
        assert_eq!(
            r.lookup(CallId(2), t + Duration::from_secs(59)),
            Lookup::Refuse {
                caller: c.clone(),
                limit: CutOff::Caller
            }
        );
        assert_eq!(
            r.lookup(CallId(2), t + Duration::from_secs(61)),
            Lookup::Go { caller: Some(c) },
            "the window ended"
        );
    }

    #[test]
    fn a_forgotten_call_is_no_longer_known() {
        let mut r = rules();
        r.caller_known(CallId(3), caller([192, 0, 2, 9], "200"));
        assert_eq!(r.source(CallId(3)), Some(IpAddr::from([192, 0, 2, 9])));
        r.call_gone(CallId(3));
        assert_eq!(r.source(CallId(3)), None);
    }

    #[test]
    fn each_pin_check_counts_once_and_only_wrong_pins_are_security_events() {
        let ip = Some(IpAddr::from([198, 51, 100, 1]));
        assert_eq!(
            after_pin_check(PinCheck::Accepted, ip),
            PinFollowUp {
                counter: PinCounter::Accepted,
                security_event: None,
                lock_mail: false
            }
        );
        assert_eq!(
            after_pin_check(PinCheck::Refused, ip),
            PinFollowUp {
                counter: PinCounter::Refused,
                security_event: ip,
                lock_mail: false
            }
        );
        assert_eq!(
            after_pin_check(PinCheck::RefusedAndLocked { until: 10 }, ip),
            PinFollowUp {
                counter: PinCounter::Locked,
                security_event: ip,
                lock_mail: false
            }
        );
        assert_eq!(
            after_pin_check(PinCheck::RefusedAndLockedUntilReset, None),
            PinFollowUp {
                counter: PinCounter::Locked,
                security_event: None,
                lock_mail: true
            },
            "locked until reset: the e-mail goes, whoever called"
        );
    }
}
