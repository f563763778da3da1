//! `*24`: the organizer goes through the lobby one caller at a time, in arrival order,
//! hearing each one's recorded name (or "caller 1", "caller 2" …) and pressing 1 to let
//! them in, 2 to send them away, 3 to skip to the next, or pound to stop.
//!
//! Sans-IO: the walk only remembers whom it has presented; the lobby itself stays with the
//! meeting, which is passed in at each step, so callers who arrive or hang up meanwhile are
//! taken into account.

use std::collections::HashSet;
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::media::dtmf::Digit;

/// How long the walk waits for a key before it ends (as for a new PIN, `*8`).
pub const WALK_TIMEOUT: Duration = Duration::from_secs(20);

/// What the organizer decided about the caller presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// `1`: into the meeting.
    Admit,
    /// `2`: sent away (told so, then hung up).
    Deny,
    /// `3`: left waiting; on to the next.
    Skip,
}

/// The next step of the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<K> {
    /// Present this caller, the `number`th of the walk (for "caller 2").
    Present {
        /// Who.
        caller: K,
        /// 1 for the first caller presented, and so on.
        number: usize,
    },
    /// Nobody left to present: "no more callers are waiting".
    Finished,
}

/// What a key did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOutcome<K> {
    /// A decision about the caller presented.
    Decided {
        /// Who.
        caller: K,
        /// What.
        decision: Decision,
    },
    /// `#` (or `*`): the walk ends here.
    Stop,
    /// A key that means nothing here.
    Ignored,
}

/// One organizer's walk through the lobby.
#[derive(Debug)]
pub struct LobbyWalk<K> {
    /// Callers already presented: each is presented once.
    presented: HashSet<K>,
    current: Option<K>,
    /// When the organizer last pressed a key or was last asked.
    last_activity: Instant,
}

impl<K: Copy + Eq + Hash> LobbyWalk<K> {
    /// A walk starting now; call `next` for the first caller.
    pub fn new(now: Instant) -> Self {
        LobbyWalk {
            presented: HashSet::new(),
            current: None,
            last_activity: now,
        }
    }

    /// Moves on to the first caller in `lobby` (arrival order) not yet presented.
    pub fn next(&mut self, now: Instant, lobby: &[K]) -> Step<K> {
        self.last_activity = now;
        self.current = lobby.iter().copied().find(|k| !self.presented.contains(k));
        match self.current {
            Some(caller) => {
                self.presented.insert(caller);
                Step::Present {
                    caller,
                    number: self.presented.len(),
                }
            }
            None => Step::Finished,
        }
    }

    /// The caller being presented.
    pub fn current(&self) -> Option<K> {
        self.current
    }

    /// One key from the organizer.
    pub fn on_key(&mut self, now: Instant, digit: Digit) -> KeyOutcome<K> {
        self.last_activity = now;
        let decision = match digit.as_char() {
            '1' => Decision::Admit,
            '2' => Decision::Deny,
            '3' => Decision::Skip,
            '#' | '*' => return KeyOutcome::Stop,
            _ => return KeyOutcome::Ignored,
        };
        match self.current.take() {
            Some(caller) => KeyOutcome::Decided { caller, decision },
            None => KeyOutcome::Ignored,
        }
    }

    /// True once the organizer has let `WALK_TIMEOUT` pass without a key.
    pub fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_activity) >= WALK_TIMEOUT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> Digit {
        Digit::from_char(c).expect("a key")
    }

    #[test]
    fn callers_come_in_arrival_order_and_each_key_decides_for_the_one_presented() {
        let t = Instant::now();
        let mut lobby = vec![10u32, 11, 12];
        let mut w = LobbyWalk::new(t);
        assert_eq!(
            w.next(t, &lobby),
            Step::Present {
                caller: 10,
                number: 1
            }
        );
        assert_eq!(
            w.on_key(t, key('1')),
            KeyOutcome::Decided {
                caller: 10,
                decision: Decision::Admit
            }
        );
        lobby.retain(|k| *k != 10);
        assert_eq!(
            w.next(t, &lobby),
            Step::Present {
                caller: 11,
                number: 2
            }
        );
        assert_eq!(
            w.on_key(t, key('3')),
            KeyOutcome::Decided {
                caller: 11,
                decision: Decision::Skip
            }
        );
        assert_eq!(
            w.next(t, &lobby),
            Step::Present {
                caller: 12,
                number: 3
            },
            "a skipped caller is not presented again"
        );
        assert_eq!(
            w.on_key(t, key('2')),
            KeyOutcome::Decided {
                caller: 12,
                decision: Decision::Deny
            }
        );
        lobby.retain(|k| *k != 12);
        assert_eq!(w.next(t, &lobby), Step::Finished);
        assert_eq!(lobby, [11], "the skipped caller still waits");
    }

    #[test]
    fn newcomers_are_presented_and_callers_who_hung_up_are_not() {
        let t = Instant::now();
        let mut w = LobbyWalk::new(t);
        assert!(matches!(
            w.next(t, &[1u32, 2]),
            Step::Present { caller: 1, .. }
        ));
        w.on_key(t, key('1'));
        // 2 hung up meanwhile, 3 arrived.
        assert_eq!(
            w.next(t, &[3]),
            Step::Present {
                caller: 3,
                number: 2
            }
        );
        assert_eq!(LobbyWalk::<u32>::new(t).next(t, &[]), Step::Finished);
    }

    #[test]
    fn pound_or_star_stops_other_keys_do_nothing() {
        let t = Instant::now();
        let mut w = LobbyWalk::new(t);
        w.next(t, &[1u32]);
        assert_eq!(w.on_key(t, key('7')), KeyOutcome::Ignored);
        assert_eq!(w.current(), Some(1), "still asking about 1");
        assert_eq!(w.on_key(t, key('#')), KeyOutcome::Stop);
        assert_eq!(w.on_key(t, key('*')), KeyOutcome::Stop);
        let mut done = LobbyWalk::<u32>::new(t);
        assert_eq!(done.next(t, &[]), Step::Finished);
        assert_eq!(
            done.on_key(t, key('1')),
            KeyOutcome::Ignored,
            "nobody to decide on"
        );
    }

    #[test]
    fn the_walk_expires_twenty_seconds_after_the_last_key_or_question() {
        let t = Instant::now();
        let mut w = LobbyWalk::new(t);
        w.next(t, &[1u32, 2]);
        assert!(!w.expired(t + WALK_TIMEOUT - Duration::from_millis(1)));
        let later = t + Duration::from_secs(15);
        w.on_key(later, key('3'));
        w.next(later, &[1, 2]);
        assert!(!w.expired(t + WALK_TIMEOUT), "the key restarted the timer");
        assert!(w.expired(later + WALK_TIMEOUT));
    }
}
