//! The meeting a worker owns, as the callers see it: joining (lobby or meeting), the lobby
//! moving in, one caller let in or sent away, leaving, and the lobby's timers.

use std::sync::Arc;
use std::time::Instant;

use crate::bridge::announcement::{Announcement, Announcer};
use crate::bridge::meeting::{LobbyAdmit, Meeting, Placement};
use crate::call::CallId;
use crate::call::Conference;
use crate::ivr::flow::{Flow, HangupCause, Role};
use crate::ivr::name::RecordedName;
use crate::ivr::player::Background;
use crate::ivr::prompt::Prompt;
use crate::media::resample::{Downsampler, Upsampler};

use super::Worker;
use super::caller::Place;
use super::keys::KeyMode;
use super::live::{LiveEvent, LiveEventKind};
use super::protocol::{Event, MoveReport, Request};

pub(super) struct MeetingEntry {
    pub(super) conference: Conference,
    pub(super) meeting: Meeting<CallId>,
    /// Join and leave announcements being mixed in, frame by frame; everyone in the
    /// meeting hears each but the caller it is about.
    pub(super) announcer: Announcer<CallId>,
    /// The lobby's wait (`Meeting::lobby_spell`) the organizer was last told about.
    pub(super) lobby_mailed: Option<u64>,
    /// The mix runs at 16 kHz (a wideband caller is in).
    pub(super) wide: bool,
    /// Brings the shared 16 kHz listener mix down once for every G.711 listener.
    pub(super) listener_down: Downsampler,
    /// Lifts the 8 kHz announcements into a 16 kHz mix.
    pub(super) chime_up: Upsampler,
}

impl MeetingEntry {
    pub(super) fn new(conference: Conference) -> Self {
        MeetingEntry {
            conference,
            meeting: Meeting::new(),
            announcer: Announcer::new(),
            lobby_mailed: None,
            wide: false,
            listener_down: Downsampler::new(),
            chime_up: Upsampler::new(),
        }
    }

    /// Queues an announcement about `who` if the meeting runs and announcements are on.
    pub(super) fn announce(&mut self, announcement: Announcement, who: Option<CallId>) {
        if self.meeting.is_started()
            && self.meeting.announcements()
            && !self.announcer.push(announcement, who)
        {
            tracing::debug!(conference = %self.conference.conference_id, "announcement dropped: too many queued");
        }
    }

    /// Announces callers who came in together from the lobby: each recorded name, and
    /// one chime for all who have none.
    pub(super) fn announce_arrivals<S>(&mut self, moved: &[CallId], calls: &super::Calls<S>) {
        let mut nameless = false;
        for id in moved {
            match calls.get(id).and_then(|c| c.name.clone()) {
                Some(name) => self.announce(Announcement::joined(Some(name)), Some(*id)),
                None => nameless = true,
            }
        }
        if nameless {
            self.announce(Announcement::joined(None), None);
        }
    }
}

/// What an organizer hears on joining: how many came in from the lobby, or how many wait
/// there (and the keys to let them in); nothing when nobody was or is waiting.
pub(super) fn lobby_report(moved: usize, waiting: usize) -> Vec<Prompt> {
    let (n, one, many, then) = match (moved, waiting) {
        (0, 0) => return Vec::new(),
        (0, n) => (
            n,
            Prompt::CallerWaiting,
            Prompt::CallersWaiting,
            Some(Prompt::LobbyChoices),
        ),
        (n, _) => (
            n,
            Prompt::CallerJoinedFromLobby,
            Prompt::CallersJoinedFromLobby,
            None,
        ),
    };
    let mut prompts = Prompt::number(n);
    prompts.push(if n == 1 { one } else { many });
    prompts.extend(then);
    prompts
}

impl<S> Worker<S> {
    /// A caller waited in the lobby too long: out of the lobby, a goodbye, then the hangup.
    pub(super) fn lobby_timed_out(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Place::Conference { conference_id } = &call.place else {
            return;
        };
        let conference_id = conference_id.clone();
        {
            let _e = call.span.enter();
            tracing::info!(conference = %conference_id, "waited too long in the lobby: saying goodbye");
        }
        call.player.set_background(Background::Silence);
        self.leave_with_goodbye(now, id, &conference_id, HangupCause::LobbyTimeout, None);
    }

    /// An organizer (or an operator: `by`) sent a lobby caller away (`*24`, then 2): out of
    /// the lobby, told so, then hung up. False if the caller no longer waits in that lobby.
    pub(super) fn deny_waiting(
        &mut self,
        now: Instant,
        id: CallId,
        conference_id: &str,
        by: &'static str,
    ) -> bool {
        let waiting = self
            .meetings
            .get(conference_id)
            .is_some_and(|e| e.meeting.lobby().contains(&id));
        let Some(call) = self.calls.get_mut(&id).filter(|_| waiting) else {
            return false;
        };
        {
            let _e = call.span.enter();
            tracing::info!(conference = %conference_id, by, "sent away from the lobby");
        }
        call.player.set_background(Background::Silence);
        self.leave_with_goodbye(now, id, conference_id, HangupCause::Denied, None);
        self.stats.lobby_sent_away += 1;
        true
    }

    /// An organizer (or an operator: `by`) let one lobby caller in (`*24`, then 1); the
    /// meeting hears who joined. False if the caller no longer waits in that lobby.
    pub(super) fn let_in(&mut self, id: CallId, conference_id: &str, by: &'static str) -> bool {
        let Some(entry) = self.meetings.get_mut(conference_id) else {
            return false;
        };
        if !entry.meeting.admit_one(id) {
            return false;
        }
        let name = self.calls.get(&id).and_then(|c| c.name.clone());
        entry.announce(Announcement::joined(name), Some(id));
        if let Some(call) = self.calls.get(&id) {
            let _e = call.span.enter();
            tracing::info!(conference = %conference_id, by, "let in from the lobby");
        }
        self.moved_in(&[id]);
        self.stats.lobby_let_in += 1;
        self.emit(
            LiveEventKind::ParticipantAdmitted,
            conference_id,
            Some(id),
            Some(by),
        );
        true
    }

    /// Lets the whole lobby of a running meeting in (`*21`, or an operator); the meeting hears
    /// who joined. Returns how many came in (none: nobody waits, or it has not started).
    pub(super) fn admit_lobby(&mut self, conference_id: &str, by: &'static str) -> usize {
        let Some(entry) = self.meetings.get_mut(conference_id) else {
            return 0;
        };
        let moved = entry.meeting.admit_all();
        if moved.is_empty() {
            return 0;
        }
        entry.announce_arrivals(&moved, &self.calls);
        tracing::info!(conference = %conference_id, moved = moved.len(), by, "lobby let in");
        self.moved_in(&moved);
        for m in &moved {
            self.emit(
                LiveEventKind::ParticipantAdmitted,
                conference_id,
                Some(*m),
                Some(by),
            );
        }
        moved.len()
    }

    /// Takes a caller out of wherever they are to hear goodbye (the bridge is shutting
    /// down); the flow then hangs up.
    pub(super) fn say_goodbye(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        match &mut call.place {
            Place::Ivr(flow) => {
                flow.say_goodbye(HangupCause::Shutdown);
                self.drive_flow(now, id);
            }
            Place::Conference { conference_id } => {
                let conference_id = conference_id.clone();
                let name = call.name.clone();
                self.leave_with_goodbye(now, id, &conference_id, HangupCause::Shutdown, name);
            }
            Place::Arriving { .. } | Place::Relaying { .. } => {
                self.hang_up(id, HangupCause::Shutdown)
            }
            // In transit: the worker that adopts it says goodbye.
            Place::Joining { .. } | Place::Ended => {}
        }
    }

    /// Takes a caller out of their meeting or lobby to hear the goodbye for `cause`; the
    /// flow then hangs up. The others hear them leave (by `name`, if given).
    pub(super) fn leave_with_goodbye(
        &mut self,
        now: Instant,
        id: CallId,
        conference_id: &str,
        cause: HangupCause,
        name: Option<Arc<RecordedName>>,
    ) {
        if let Some(call) = self.calls.get_mut(&id) {
            call.place = Place::Ivr(Box::new(Flow::farewell(self.config.ivr.clone(), cause)));
        }
        self.leave_room(id, conference_id, name);
        self.drive_flow(now, id);
    }

    /// Takes a caller out of a meeting or its lobby; the others hear a participant leave
    /// (by `name`, if one was recorded).
    pub(super) fn leave_room(
        &mut self,
        id: CallId,
        conference_id: &str,
        name: Option<Arc<RecordedName>>,
    ) {
        if let Some(call) = self.calls.get_mut(&id)
            && matches!(call.keys, KeyMode::LobbyWalk(_))
        {
            call.keys = KeyMode::keypad();
        }
        let leaving = self.participant_view(conference_id, id);
        let mut events = Vec::new();
        if let Some(entry) = self.meetings.get_mut(conference_id) {
            let was_participant = entry.meeting.participants().contains(&id);
            entry.meeting.remove(id);
            if was_participant && !entry.meeting.participants().is_empty() {
                entry.announce(Announcement::left(name), Some(id));
            }
            let event = |kind, participant| LiveEvent {
                kind,
                conference_id: conference_id.to_string(),
                organizer_id: entry.conference.organizer_id,
                participant,
                by: None,
                waiting: None,
            };
            if leaving.is_some() {
                events.push(event(LiveEventKind::ParticipantLeft, leaving));
            }
            if entry.meeting.is_empty() {
                if entry.meeting.is_started() {
                    tracing::info!(conference = %conference_id, "meeting ended: the last caller left");
                    events.push(event(LiveEventKind::MeetingEnded, None));
                }
                self.meetings.remove(conference_id);
                self.homes.vacate(conference_id, self.index);
            }
        }
        for event in events {
            self.emit_about(event);
        }
    }

    /// Callers who just moved from a lobby into the mix: whatever the lobby played stops.
    pub(super) fn moved_in(&mut self, moved: &[CallId]) {
        for id in moved {
            if let Some(c) = self.calls.get_mut(id) {
                c.player.stop();
                c.player.set_background(Background::Silence);
                c.start_hearing();
            }
        }
    }

    pub(super) fn join(&mut self, now: Instant, id: CallId, conference: Conference, role: Role) {
        let owner = self.homes.home(&conference.conference_id);
        if owner == self.index {
            self.enter_conference(now, id, conference, role);
            return;
        }
        if let Some(mut call) = self.calls.remove(&id) {
            call.place = Place::Joining { conference, role };
            self.events.push(Event::Migrate { to: owner, call });
        }
    }

    pub(super) fn enter_conference(
        &mut self,
        now: Instant,
        id: CallId,
        conference: Conference,
        role: Role,
    ) {
        let conference_id = conference.conference_id.clone();
        // From this caller's lookup, so a settings change applies from the next caller on.
        let callers_may_start = conference.start_without_pin;
        let key: Arc<str> = match self.meetings.get_key_value(conference_id.as_str()) {
            Some((key, _)) => key.clone(),
            None => conference_id.as_str().into(),
        };
        let entry = self
            .meetings
            .entry(key.clone())
            .or_insert_with(|| MeetingEntry::new(conference));
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let _e = call.span.clone().entered();
        self.stats.conference_joins += 1;
        call.player.stop();
        call.place = Place::Conference { conference_id: key };
        call.joined_at = Some(now);
        // Who came in from the lobby with this caller, and whether the meeting started now.
        let (moved, started_now): (Vec<CallId>, bool) = match role {
            Role::Organizer => {
                let was_started = entry.meeting.is_started();
                let moved = entry
                    .meeting
                    .admit_organizer(now, id, self.config.lobby_admit);
                call.player.set_background(Background::Silence);
                if was_started {
                    entry.announce(Announcement::joined(call.name.clone()), Some(id));
                }
                // The organizer always learns how many came in, or how many still wait.
                call.player
                    .play(&lobby_report(moved.len(), entry.meeting.lobby().len()));
                if !moved.is_empty() {
                    self.pending_move = Some(MoveReport {
                        pin_submitted_at: call.pin_submitted_at,
                        started_at: now,
                        callers: moved.len(),
                    });
                }
                let organizer = entry.conference.organizer_id;
                match self.config.lobby_admit {
                    _ if was_started => {}
                    LobbyAdmit::Auto => {
                        tracing::info!(conference = %conference_id, organizer, moved = moved.len(), "meeting started; lobby moved in");
                    }
                    LobbyAdmit::Organizer => {
                        tracing::info!(conference = %conference_id, organizer, waiting = entry.meeting.lobby().len(), "meeting started; the lobby waits to be let in");
                    }
                }
                self.moved_in(&moved);
                (moved, !was_started)
            }
            // The organizer lets callers start: the first caller starts the meeting.
            Role::Attendee if callers_may_start => {
                let was_started = entry.meeting.is_started();
                entry.meeting.admit_attendee(now, id);
                let moved = entry.meeting.start(now);
                call.player.set_background(Background::Silence);
                if was_started {
                    entry.announce(Announcement::joined(call.name.clone()), Some(id));
                } else {
                    tracing::info!(conference = %conference_id, moved = moved.len(), "meeting started by a caller (no PIN needed)");
                }
                self.moved_in(&moved);
                (moved, !was_started)
            }
            Role::Attendee => match entry.meeting.admit_attendee(now, id) {
                Placement::Lobby if entry.meeting.is_started() => {
                    // Running but locked: wait for the organizer's *21.
                    call.player.play(&[Prompt::LockedWait]);
                    call.player.set_background(Background::HoldMusic);
                    tracing::info!(conference = %conference_id, lobby = entry.meeting.lobby().len(), "meeting locked: waiting in the lobby");
                    (Vec::new(), false)
                }
                Placement::Lobby => {
                    call.player.play(&[Prompt::LobbyWait]);
                    call.player.set_background(Background::HoldMusic);
                    tracing::info!(conference = %conference_id, lobby = entry.meeting.lobby().len(), "waiting in the lobby");
                    (Vec::new(), false)
                }
                Placement::Participant => {
                    call.player.set_background(Background::Silence);
                    entry.announce(Announcement::joined(call.name.clone()), Some(id));
                    tracing::info!(conference = %conference_id, "joined the meeting");
                    (Vec::new(), false)
                }
            },
        };
        self.emit(
            LiveEventKind::ParticipantJoined,
            &conference_id,
            Some(id),
            None,
        );
        let waits_for_organizer = self
            .meetings
            .get(conference_id.as_str())
            .is_some_and(|e| !e.meeting.is_started() && e.meeting.lobby().contains(&id));
        if waits_for_organizer {
            self.emit(LiveEventKind::LobbyWaiting, &conference_id, Some(id), None);
        }
        let in_mix = self
            .meetings
            .get(conference_id.as_str())
            .is_some_and(|e| e.meeting.is_started() && !e.meeting.lobby().contains(&id));
        if in_mix && let Some(call) = self.calls.get_mut(&id) {
            call.start_hearing();
        }
        if started_now {
            self.emit(LiveEventKind::MeetingStarted, &conference_id, None, None);
        }
        let by = match role {
            Role::Organizer => "organizer",
            Role::Attendee => "auto",
        };
        for m in moved {
            self.emit(
                LiveEventKind::ParticipantAdmitted,
                &conference_id,
                Some(m),
                Some(by),
            );
        }
    }

    /// Once per tick: organizers whose lobby has kept someone waiting too long are told (once
    /// per waiting spell).
    pub(super) fn lobby_care(&mut self, now: Instant) {
        let Some(after) = self.config.lobby_mail_after else {
            return;
        };
        for entry in self.meetings.values_mut() {
            let spell = entry.meeting.lobby_spell();
            let Some(since) = entry.meeting.longest_wait() else {
                continue;
            };
            if entry.lobby_mailed == Some(spell) {
                continue;
            }
            let waited = now.saturating_duration_since(since);
            if waited >= after {
                entry.lobby_mailed = Some(spell);
                let callers = entry.meeting.lobby().len();
                tracing::info!(conference = %entry.conference.conference_id, callers, waited_s = waited.as_secs(), "callers kept waiting in the lobby: telling the organizer");
                self.events.push(Event::Control(Request::LobbyWaiting {
                    conference: entry.conference.clone(),
                    callers,
                    waited,
                }));
            }
        }
    }
}
