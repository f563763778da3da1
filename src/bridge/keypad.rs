//! The in-meeting keypad, sans-IO: star commands typed by a caller in a meeting, as Teams
//! callers know them. `*1` help, `*6` mute, `*5` hand, `*0` roll call; for the organizer
//! `*21` admit the lobby, `*24` go through it one caller at a time, `*25` send it all away,
//! `*22` mute everyone else, `*23` join/leave tones, `*7` lock, `*8` a new PIN.

use std::time::{Duration, Instant};

use crate::media::dtmf::Digit;

/// How long a started command waits for its next key.
pub const KEY_TIMEOUT: Duration = Duration::from_secs(3);

/// A complete keypad command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyCommand {
    /// `*1`: hear the keys.
    Help,
    /// `*6`: mute or unmute yourself.
    ToggleMute,
    /// `*5`: raise or lower your hand.
    ToggleHand,
    /// `*0`: hear how many are in the meeting.
    RollCall,
    /// `*21` (organizer): let everyone waiting in.
    AdmitAll,
    /// `*24` (organizer): hear the waiting callers one at a time, letting each in or not.
    ReviewLobby,
    /// `*25` (organizer): send everyone waiting away.
    DenyAll,
    /// `*22` (organizer): mute everyone else.
    MuteOthers,
    /// `*23` (organizer): join and leave tones on or off.
    ToggleAnnouncements,
    /// `*7` (organizer): lock or unlock the meeting.
    ToggleLock,
    /// `*8` (organizer): choose a new PIN.
    ChangePin,
}

impl KeyCommand {
    /// Commands only the organizer may give.
    pub fn organizer_only(self) -> bool {
        matches!(
            self,
            KeyCommand::AdmitAll
                | KeyCommand::ReviewLobby
                | KeyCommand::DenyAll
                | KeyCommand::MuteOthers
                | KeyCommand::ToggleAnnouncements
                | KeyCommand::ToggleLock
                | KeyCommand::ChangePin
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Idle,
    Star { since: Instant },
    StarTwo { since: Instant },
}

/// One caller's keypad.
#[derive(Clone, Copy, Debug)]
pub struct Keypad {
    pending: Pending,
}

impl Default for Keypad {
    fn default() -> Self {
        Keypad {
            pending: Pending::Idle,
        }
    }
}

impl Keypad {
    /// A keypad waiting for `*`.
    pub fn new() -> Self {
        Self::default()
    }

    /// One key; a command when it completes one. Keys outside a command do nothing, and a
    /// command left unfinished for `KEY_TIMEOUT` is forgotten.
    pub fn on_digit(&mut self, now: Instant, digit: Digit) -> Option<KeyCommand> {
        let pending = match self.pending {
            Pending::Star { since } | Pending::StarTwo { since }
                if now.saturating_duration_since(since) >= KEY_TIMEOUT =>
            {
                Pending::Idle
            }
            p => p,
        };
        self.pending = Pending::Idle;
        let key = digit.as_char();
        if key == '*' {
            self.pending = Pending::Star { since: now };
            return None;
        }
        match (pending, key) {
            (Pending::Star { .. }, '1') => Some(KeyCommand::Help),
            (Pending::Star { .. }, '6') => Some(KeyCommand::ToggleMute),
            (Pending::Star { .. }, '5') => Some(KeyCommand::ToggleHand),
            (Pending::Star { .. }, '0') => Some(KeyCommand::RollCall),
            (Pending::Star { .. }, '7') => Some(KeyCommand::ToggleLock),
            (Pending::Star { .. }, '8') => Some(KeyCommand::ChangePin),
            (Pending::Star { .. }, '2') => {
                self.pending = Pending::StarTwo { since: now };
                None
            }
            (Pending::StarTwo { .. }, '1') => Some(KeyCommand::AdmitAll),
            (Pending::StarTwo { .. }, '2') => Some(KeyCommand::MuteOthers),
            (Pending::StarTwo { .. }, '3') => Some(KeyCommand::ToggleAnnouncements),
            (Pending::StarTwo { .. }, '4') => Some(KeyCommand::ReviewLobby),
            (Pending::StarTwo { .. }, '5') => Some(KeyCommand::DenyAll),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &mut Keypad, at: Instant, s: &str) -> Vec<KeyCommand> {
        s.chars()
            .filter_map(|c| k.on_digit(at, Digit::from_char(c).unwrap()))
            .collect()
    }

    #[test]
    fn every_command_is_recognised() {
        let t = Instant::now();
        let mut k = Keypad::new();
        assert_eq!(
            keys(&mut k, t, "*1*6*5*0*7*21*22*23*8*24*25"),
            [
                KeyCommand::Help,
                KeyCommand::ToggleMute,
                KeyCommand::ToggleHand,
                KeyCommand::RollCall,
                KeyCommand::ToggleLock,
                KeyCommand::AdmitAll,
                KeyCommand::MuteOthers,
                KeyCommand::ToggleAnnouncements,
                KeyCommand::ChangePin,
                KeyCommand::ReviewLobby,
                KeyCommand::DenyAll,
            ]
        );
    }

    #[test]
    fn stray_keys_do_nothing_and_a_new_star_starts_over() {
        let t = Instant::now();
        let mut k = Keypad::new();
        assert!(keys(&mut k, t, "123#6").is_empty(), "no star: nothing");
        assert!(keys(&mut k, t, "*9").is_empty(), "unknown command");
        assert!(keys(&mut k, t, "*29").is_empty(), "unknown *2x");
        assert_eq!(keys(&mut k, t, "**6"), [KeyCommand::ToggleMute]);
        assert_eq!(keys(&mut k, t, "*2*6"), [KeyCommand::ToggleMute]);
    }

    #[test]
    fn an_unfinished_command_is_forgotten_after_the_timeout() {
        let t = Instant::now();
        let mut k = Keypad::new();
        assert!(keys(&mut k, t, "*").is_empty());
        assert!(keys(&mut k, t + KEY_TIMEOUT, "6").is_empty());
        assert!(keys(&mut k, t, "*2").is_empty());
        assert_eq!(
            keys(&mut k, t + KEY_TIMEOUT - Duration::from_millis(1), "2"),
            [KeyCommand::MuteOthers]
        );
    }

    #[test]
    fn organizer_commands_are_marked() {
        assert!(KeyCommand::ToggleLock.organizer_only());
        assert!(KeyCommand::AdmitAll.organizer_only());
        assert!(KeyCommand::ReviewLobby.organizer_only());
        assert!(!KeyCommand::ToggleMute.organizer_only());
        assert!(!KeyCommand::RollCall.organizer_only());
    }
}
