//! One conference's meeting on one media worker: its lobby, its participants, whether it started.
//!
//! The meeting is the only owner of who waits and who takes part. Starting it moves the
//! whole lobby in one step, so no tick can see some lobby callers in and others still out.

use std::time::Instant;

/// Whether the meeting has been started by its organizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeetingState {
    /// Nobody authenticated yet: callers wait in the lobby.
    Waiting,
    /// Started at this instant: callers take part in the mix.
    Started {
        /// When the organizer started it.
        at: Instant,
    },
}

/// What happens to the lobby when an organizer authenticates (`--lobby-admit`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LobbyAdmit {
    /// Everyone waiting moves in at once.
    #[default]
    Auto,
    /// The lobby keeps waiting until the organizer lets callers in (`*21`, `*24`).
    Organizer,
}

/// Where a caller was put by `Meeting::admit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Waiting for the organizer, hearing hold music.
    Lobby,
    /// In the mix.
    Participant,
}

/// A meeting: lobby plus participants, keyed by `K` (the worker's call id).
#[derive(Debug)]
pub struct Meeting<K> {
    state: MeetingState,
    lobby: Vec<K>,
    /// When each lobby caller came, beside them in `lobby` (arrival order, so oldest first).
    arrived: Vec<Instant>,
    participants: Vec<K>,
    /// Callers who authenticated with the organizer PIN (they may use organizer keys).
    organizers: Vec<K>,
    /// Participants whose audio is left out of the mix.
    muted: Vec<K>,
    /// Participants with a raised hand, in the order they raised it.
    hands: Vec<K>,
    /// Locked by the organizer: new callers wait in the lobby even while it runs.
    locked: bool,
    /// Join and leave chimes (on unless the organizer turns them off).
    announcements: bool,
    /// How many times a caller came to an empty lobby: each is a new wait for the organizer
    /// to hear about.
    lobby_spells: u64,
}

impl<K: Copy + PartialEq> Default for Meeting<K> {
    fn default() -> Self {
        Meeting::new()
    }
}

impl<K: Copy + PartialEq> Meeting<K> {
    /// A meeting nobody has started.
    pub fn new() -> Self {
        Meeting {
            state: MeetingState::Waiting,
            lobby: Vec::new(),
            arrived: Vec::new(),
            participants: Vec::new(),
            organizers: Vec::new(),
            muted: Vec::new(),
            hands: Vec::new(),
            locked: false,
            announcements: true,
            lobby_spells: 0,
        }
    }

    /// The current state.
    pub fn state(&self) -> MeetingState {
        self.state
    }

    /// True once the organizer has started it.
    pub fn is_started(&self) -> bool {
        matches!(self.state, MeetingState::Started { .. })
    }

    /// Callers waiting for the organizer.
    pub fn lobby(&self) -> &[K] {
        &self.lobby
    }

    /// Counts the times the lobby started to fill: a wait begins whenever a caller comes to
    /// an empty lobby, and lasts until it is empty again.
    pub fn lobby_spell(&self) -> u64 {
        self.lobby_spells
    }

    /// Callers in the mix.
    pub fn participants(&self) -> &[K] {
        &self.participants
    }

    /// When a waiting caller came to the lobby (None: not waiting).
    pub fn waiting_since(&self, key: K) -> Option<Instant> {
        let i = self.lobby.iter().position(|k| *k == key)?;
        self.arrived.get(i).copied()
    }

    /// When the caller who has waited longest came (None: nobody waits).
    pub fn longest_wait(&self) -> Option<Instant> {
        self.arrived.first().copied()
    }

    /// Callers who have waited `limit` or longer at `now`, longest first.
    pub fn waited(&self, now: Instant, limit: std::time::Duration) -> Vec<K> {
        self.lobby
            .iter()
            .zip(&self.arrived)
            .take_while(|(_, since)| now.saturating_duration_since(**since) >= limit)
            .map(|(k, _)| *k)
            .collect()
    }

    /// Adds an attendee arriving at `now`: into the mix if the meeting runs and is not locked,
    /// else into the lobby.
    pub fn admit_attendee(&mut self, now: Instant, key: K) -> Placement {
        if self.is_started() && !self.locked {
            self.participants.push(key);
            Placement::Participant
        } else {
            if self.lobby.is_empty() {
                self.lobby_spells += 1;
            }
            self.lobby.push(key);
            self.arrived.push(now);
            Placement::Lobby
        }
    }

    /// Adds the authenticated organizer and starts the meeting; returns the callers moved
    /// out of the lobby: all of them in one step, or none when the organizer lets them in
    /// (`LobbyAdmit::Organizer`, or a locked meeting).
    pub fn admit_organizer(&mut self, now: Instant, key: K, admit: LobbyAdmit) -> Vec<K> {
        self.participants.push(key);
        self.organizers.push(key);
        // A locked meeting stays locked for a second organizer line: *21 lets them in.
        if admit == LobbyAdmit::Organizer || (self.is_started() && self.locked) {
            if !self.is_started() {
                self.state = MeetingState::Started { at: now };
            }
            return Vec::new();
        }
        self.start(now)
    }

    /// Lets one waiting caller into a running meeting (`*24`); false if they are not in
    /// the lobby (any more).
    pub fn admit_one(&mut self, key: K) -> bool {
        if !self.is_started() {
            return false;
        }
        let Some(i) = self.lobby.iter().position(|k| *k == key) else {
            return false;
        };
        self.lobby.remove(i);
        self.arrived.remove(i);
        self.participants.push(key);
        true
    }

    /// Lets everyone in the lobby into a running meeting (`*21`); returns who moved.
    pub fn admit_all(&mut self) -> Vec<K> {
        if !self.is_started() {
            return Vec::new();
        }
        let moved = std::mem::take(&mut self.lobby);
        self.arrived.clear();
        self.participants.extend_from_slice(&moved);
        moved
    }

    /// True for a caller who authenticated as the organizer.
    pub fn is_organizer(&self, key: K) -> bool {
        self.organizers.contains(&key)
    }

    /// The organizers in the mix.
    pub fn organizers(&self) -> &[K] {
        &self.organizers
    }

    /// True when this participant's audio is left out of the mix.
    pub fn is_muted(&self, key: K) -> bool {
        self.muted.contains(&key)
    }

    /// Mutes or unmutes a participant; returns true if now muted.
    pub fn toggle_mute(&mut self, key: K) -> bool {
        if let Some(i) = self.muted.iter().position(|k| *k == key) {
            self.muted.swap_remove(i);
            false
        } else {
            self.muted.push(key);
            true
        }
    }

    /// Mutes every participant but `key` (`*22`); returns those newly muted.
    pub fn mute_all_but(&mut self, key: K) -> Vec<K> {
        let newly: Vec<K> = self
            .participants
            .iter()
            .copied()
            .filter(|k| *k != key && !self.muted.contains(k))
            .collect();
        self.muted.extend_from_slice(&newly);
        newly
    }

    /// Raises or lowers a participant's hand; returns true if now raised.
    pub fn toggle_hand(&mut self, key: K) -> bool {
        if let Some(i) = self.hands.iter().position(|k| *k == key) {
            self.hands.remove(i);
            false
        } else {
            self.hands.push(key);
            true
        }
    }

    /// Raised hands, first raised first.
    pub fn hands(&self) -> &[K] {
        &self.hands
    }

    /// True while locked.
    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// Locks or unlocks (`*7`); returns true if now locked.
    pub fn toggle_lock(&mut self) -> bool {
        self.locked = !self.locked;
        self.locked
    }

    /// True while join and leave chimes play.
    pub fn announcements(&self) -> bool {
        self.announcements
    }

    /// Turns chimes on or off (`*23`); returns true if now on.
    pub fn toggle_announcements(&mut self) -> bool {
        self.announcements = !self.announcements;
        self.announcements
    }

    /// Starts the meeting (organizer PIN or an authenticated start) and moves the whole lobby in.
    pub fn start(&mut self, now: Instant) -> Vec<K> {
        if !self.is_started() {
            self.state = MeetingState::Started { at: now };
        }
        let moved = std::mem::take(&mut self.lobby);
        self.arrived.clear();
        self.participants.extend_from_slice(&moved);
        moved
    }

    /// Removes a caller from wherever they are; returns true if they were here.
    pub fn remove(&mut self, key: K) -> bool {
        let before = self.lobby.len() + self.participants.len();
        if let Some(i) = self.lobby.iter().position(|k| *k == key) {
            self.lobby.remove(i);
            self.arrived.remove(i);
        }
        self.participants.retain(|k| *k != key);
        self.organizers.retain(|k| *k != key);
        self.muted.retain(|k| *k != key);
        self.hands.retain(|k| *k != key);
        before != self.lobby.len() + self.participants.len()
    }

    /// True when nobody is left: a started meeting has ended, a waiting one can be forgotten.
    pub fn is_empty(&self) -> bool {
        self.lobby.is_empty() && self.participants.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attendees_wait_in_the_lobby_until_the_organizer_starts() {
        let mut m = Meeting::new();
        assert_eq!(m.admit_attendee(Instant::now(), 1), Placement::Lobby);
        assert_eq!(m.admit_attendee(Instant::now(), 2), Placement::Lobby);
        assert!(m.participants().is_empty());
        let moved = m.admit_organizer(Instant::now(), 9, LobbyAdmit::Auto);
        assert_eq!(moved, vec![1, 2]);
        assert_eq!(m.participants(), &[9, 1, 2]);
        assert!(m.lobby().is_empty());
    }

    #[test]
    fn a_500_caller_lobby_moves_in_one_transition() {
        let mut m = Meeting::new();
        for k in 0..500u32 {
            m.admit_attendee(Instant::now(), k);
        }
        assert_eq!(m.lobby().len(), 500);
        let moved = m.start(Instant::now());
        assert_eq!(moved.len(), 500);
        assert!(m.lobby().is_empty(), "nobody left behind");
        assert_eq!(m.participants().len(), 500);
        assert!(m.is_started());
    }

    #[test]
    fn late_joiners_go_straight_in() {
        let mut m = Meeting::new();
        m.admit_organizer(Instant::now(), 1, LobbyAdmit::Auto);
        assert_eq!(m.admit_attendee(Instant::now(), 2), Placement::Participant);
        assert!(m.lobby().is_empty());
    }

    #[test]
    fn the_meeting_goes_on_when_the_organizer_leaves_and_ends_with_the_last() {
        let mut m = Meeting::new();
        m.admit_attendee(Instant::now(), 2);
        m.admit_organizer(Instant::now(), 1, LobbyAdmit::Auto);
        assert!(m.remove(1));
        assert!(m.is_started());
        assert!(!m.is_empty());
        assert!(m.remove(2));
        assert!(m.is_empty());
        assert!(!m.remove(2), "already gone");
    }

    #[test]
    fn a_second_start_keeps_the_first_start_time() {
        let mut m = Meeting::<u32>::new();
        let t0 = Instant::now();
        m.start(t0);
        m.start(t0 + std::time::Duration::from_secs(5));
        assert_eq!(m.state(), MeetingState::Started { at: t0 });
    }

    #[test]
    fn a_locked_meeting_keeps_newcomers_in_the_lobby_until_admit_all() {
        let t = Instant::now();
        let mut m = Meeting::new();
        m.admit_organizer(t, 1, LobbyAdmit::Auto);
        assert!(m.toggle_lock());
        assert_eq!(m.admit_attendee(Instant::now(), 2), Placement::Lobby);
        assert_eq!(m.admit_attendee(Instant::now(), 3), Placement::Lobby);
        assert_eq!(m.admit_all(), vec![2, 3]);
        assert_eq!(m.participants(), &[1, 2, 3]);
        assert!(!m.toggle_lock());
        assert_eq!(m.admit_attendee(Instant::now(), 4), Placement::Participant);
        assert!(
            Meeting::<u32>::new().admit_all().is_empty(),
            "not before it starts"
        );
    }

    #[test]
    fn an_organizer_who_admits_keeps_the_lobby_waiting_and_lets_callers_in_one_by_one() {
        let t = Instant::now();
        let mut m = Meeting::new();
        m.admit_attendee(Instant::now(), 2);
        m.admit_attendee(Instant::now(), 3);
        m.admit_attendee(Instant::now(), 4);
        assert!(
            !m.admit_one(2),
            "nobody is let in before the meeting starts"
        );
        assert!(
            m.admit_organizer(t, 1, LobbyAdmit::Organizer).is_empty(),
            "the lobby stays"
        );
        assert!(m.is_started());
        assert_eq!(m.lobby(), &[2, 3, 4]);
        assert!(m.admit_one(3));
        assert!(!m.admit_one(3), "already in");
        assert_eq!(m.lobby(), &[2, 4], "the others keep their places");
        assert_eq!(m.participants(), &[1, 3]);
        assert_eq!(m.admit_all(), vec![2, 4]);
    }

    #[test]
    fn a_new_wait_begins_only_when_a_caller_comes_to_an_empty_lobby() {
        let mut m = Meeting::new();
        assert_eq!(m.lobby_spell(), 0);
        m.admit_attendee(Instant::now(), 1);
        m.admit_attendee(Instant::now(), 2);
        assert_eq!(m.lobby_spell(), 1, "two callers, one wait");
        m.remove(1);
        m.admit_attendee(Instant::now(), 3);
        assert_eq!(m.lobby_spell(), 1, "never empty: the same wait");
        m.remove(2);
        m.remove(3);
        m.admit_attendee(Instant::now(), 4);
        assert_eq!(m.lobby_spell(), 2);
    }

    #[test]
    fn a_second_organizer_line_leaves_a_locked_lobby_waiting() {
        let t = Instant::now();
        let mut m = Meeting::new();
        m.admit_organizer(t, 1, LobbyAdmit::Auto);
        m.toggle_lock();
        m.admit_attendee(Instant::now(), 2);
        assert!(m.admit_organizer(t, 5, LobbyAdmit::Auto).is_empty());
        assert_eq!(m.lobby(), &[2]);
    }

    #[test]
    fn mute_hands_and_organizer_keys_follow_the_caller_and_leave_with_them() {
        let t = Instant::now();
        let mut m = Meeting::new();
        m.admit_organizer(t, 1, LobbyAdmit::Auto);
        m.admit_attendee(Instant::now(), 2);
        m.admit_attendee(Instant::now(), 3);
        assert!(m.is_organizer(1) && !m.is_organizer(2));
        assert!(m.toggle_mute(2));
        assert_eq!(m.mute_all_but(1), vec![3], "2 was muted already");
        assert!(m.is_muted(3) && !m.is_muted(1));
        assert!(!m.toggle_mute(3));
        assert!(m.toggle_hand(3) && m.toggle_hand(2));
        assert_eq!(m.hands(), &[3, 2]);
        assert!(!m.toggle_hand(3));
        assert!(m.announcements() && !m.toggle_announcements());
        m.remove(2);
        assert!(!m.is_muted(2) && m.hands().is_empty());
    }

    #[test]
    fn the_lobby_knows_when_each_caller_came_and_who_waited_long_enough() {
        use std::time::Duration;
        let t = Instant::now();
        let s = Duration::from_secs(1);
        let mut m = Meeting::new();
        for (k, at) in [(1, 0), (2, 1), (3, 2), (4, 3)] {
            m.admit_attendee(t + s * at, k);
        }
        assert_eq!(m.longest_wait(), Some(t));
        assert_eq!(m.waiting_since(3), Some(t + s * 2));
        assert_eq!(
            m.waited(t + s * 3, s * 2),
            vec![1, 2],
            "longest first, a prefix"
        );
        m.admit_organizer(t, 9, LobbyAdmit::Organizer);
        assert!(m.admit_one(2));
        m.remove(1);
        assert_eq!(m.waiting_since(2), None, "let in: no longer waiting");
        assert_eq!(
            m.longest_wait(),
            Some(t + s * 2),
            "caller 3 waits longest now"
        );
        assert_eq!(m.waited(t + s * 10, s * 2), vec![3, 4]);
        m.admit_all();
        assert_eq!(m.longest_wait(), None);
        assert!(m.waited(t + s * 10, s).is_empty());
    }
}
