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
    participants: Vec<K>,
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
            participants: Vec::new(),
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

    /// Callers in the mix.
    pub fn participants(&self) -> &[K] {
        &self.participants
    }

    /// Adds an attendee: into the mix if the meeting runs, else into the lobby.
    pub fn admit_attendee(&mut self, key: K) -> Placement {
        if self.is_started() {
            self.participants.push(key);
            Placement::Participant
        } else {
            self.lobby.push(key);
            Placement::Lobby
        }
    }

    /// Adds the authenticated organizer and starts the meeting; returns the callers moved
    /// out of the lobby (all of them, in one step).
    pub fn admit_organizer(&mut self, now: Instant, key: K) -> Vec<K> {
        self.participants.push(key);
        self.start(now)
    }

    /// Starts the meeting (organizer PIN or an authenticated start) and moves the whole lobby in.
    pub fn start(&mut self, now: Instant) -> Vec<K> {
        if !self.is_started() {
            self.state = MeetingState::Started { at: now };
        }
        let moved = std::mem::take(&mut self.lobby);
        self.participants.extend_from_slice(&moved);
        moved
    }

    /// Removes a caller from wherever they are; returns true if they were here.
    pub fn remove(&mut self, key: K) -> bool {
        let before = self.lobby.len() + self.participants.len();
        self.lobby.retain(|k| *k != key);
        self.participants.retain(|k| *k != key);
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
        assert_eq!(m.admit_attendee(1), Placement::Lobby);
        assert_eq!(m.admit_attendee(2), Placement::Lobby);
        assert!(m.participants().is_empty());
        let moved = m.admit_organizer(Instant::now(), 9);
        assert_eq!(moved, vec![1, 2]);
        assert_eq!(m.participants(), &[9, 1, 2]);
        assert!(m.lobby().is_empty());
    }

    #[test]
    fn a_500_caller_lobby_moves_in_one_transition() {
        let mut m = Meeting::new();
        for k in 0..500u32 {
            m.admit_attendee(k);
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
        m.admit_organizer(Instant::now(), 1);
        assert_eq!(m.admit_attendee(2), Placement::Participant);
        assert!(m.lobby().is_empty());
    }

    #[test]
    fn the_meeting_goes_on_when_the_organizer_leaves_and_ends_with_the_last() {
        let mut m = Meeting::new();
        m.admit_attendee(2);
        m.admit_organizer(Instant::now(), 1);
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
}
