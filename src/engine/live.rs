//! What an operator sees of and does to the meetings a worker owns: a view of each meeting
//! (who waits, who takes part, muted, talking, hands) and the controls the admin API offers.
//! The controls go the same ways as the organizer's keys (`*21`, `*24`, `*6`, `*7`), so a
//! caller cannot tell an operator's action from the organizer's except by what they hear.

use std::time::Instant;

use crate::call::CallId;
use crate::ivr::flow::{HangupCause, Role};
use crate::ivr::player::Background;
use crate::ivr::prompt::Prompt;
use crate::media::codec::Codec;

use super::Worker;
use super::room::MeetingEntry;

/// Where a meeting is, as an operator sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeetingPhase {
    /// Nobody started it yet: callers wait in its lobby.
    Lobby,
    /// Started: callers take part.
    Running,
    /// Ended by an operator, or its last caller just left (only in a control's answer).
    Ended,
}

/// Whether a caller waits in the lobby or takes part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attendance {
    /// Waiting for the organizer or to be let in.
    Lobby,
    /// In the mix.
    Meeting,
}

/// One caller of a meeting as an operator sees them (never a PIN or a key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantView {
    /// The call's handle, stable for the call's life: the id in the API's URLs.
    pub id: CallId,
    /// Organizer (came in with the PIN) or attendee.
    pub role: Role,
    /// Lobby or meeting.
    pub state: Attendance,
    /// The From URI of their INVITE, as received.
    pub from: String,
    /// The codec agreed for the call.
    pub codec: Codec,
    /// Left out of the mix.
    pub muted: bool,
    /// One of the talkers mixed in the last tick.
    pub talking: bool,
    /// Hand raised (`*5`).
    pub hand_raised: bool,
    /// When they entered the conference (lobby or meeting).
    pub joined_at: Instant,
}

/// One meeting a worker owns, lobby included, as an operator sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeetingView {
    /// The conference ID callers dial.
    pub conference_id: String,
    /// Whose conference it is.
    pub organizer_id: i64,
    /// Lobby, running (or ended, in a control's answer).
    pub state: MeetingPhase,
    /// Newcomers wait in the lobby even while it runs (`*7`).
    pub locked: bool,
    /// When it started.
    pub started_at: Option<Instant>,
    /// Participants first (in joining order), then the lobby (longest waiting first).
    pub participants: Vec<ParticipantView>,
}

/// An operator's control of one meeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Newcomers wait in the lobby (as `*7` locking).
    Lock,
    /// Newcomers go straight in again (as `*7` unlocking).
    Unlock,
    /// The whole lobby moves in (as `*21`).
    AdmitAll,
    /// Everyone hears "The meeting has ended" and is hung up.
    End,
    /// A participant is left out of the mix; they hear "You are muted".
    Mute(CallId),
    /// A participant is heard again; they hear "You are unmuted".
    Unmute(CallId),
    /// A caller hears "You have been removed from the meeting" and is hung up.
    Kick(CallId),
    /// One waiting caller is let in (as `*24`, then 1).
    Admit(CallId),
    /// One waiting caller is sent away (as `*24`, then 2).
    Deny(CallId),
}

/// What an operator asked for that is not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// No meeting or lobby with that conference ID on this worker.
    Meeting,
    /// No caller with that id in the meeting or its lobby.
    Participant,
}

/// The answer to a [`Control`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlOutcome {
    /// Done: the meeting as it is now (`MeetingPhase::Ended` and nobody left when it is over).
    Done(MeetingView),
    /// The meeting or the caller does not exist.
    NotFound(Missing),
    /// The control does not apply now (e.g. muting a caller who waits in the lobby); why.
    NotApplicable(&'static str),
}

/// What happened in a meeting, as the events (webhooks, `/api/events`) name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveEventKind {
    /// The meeting started (its organizer joined, a caller who may start did, or an API start).
    MeetingStarted,
    /// The meeting's last caller left, or an operator ended it.
    MeetingEnded,
    /// A caller reached the conference: its lobby or the meeting.
    ParticipantJoined,
    /// A lobby caller moved into the meeting.
    ParticipantAdmitted,
    /// A caller left the meeting or its lobby (hung up, removed, sent away, timed out).
    ParticipantLeft,
    /// A participant was left out of the mix (`*6`, the organizer's `*22`, an operator).
    ParticipantMuted,
    /// A participant is heard again.
    ParticipantUnmuted,
    /// A caller waits in the lobby of a meeting whose organizer has not joined.
    LobbyWaiting,
}

impl LiveEventKind {
    /// The event's `type` in its JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            LiveEventKind::MeetingStarted => "meeting.started",
            LiveEventKind::MeetingEnded => "meeting.ended",
            LiveEventKind::ParticipantJoined => "participant.joined",
            LiveEventKind::ParticipantAdmitted => "participant.admitted",
            LiveEventKind::ParticipantLeft => "participant.left",
            LiveEventKind::ParticipantMuted => "participant.muted",
            LiveEventKind::ParticipantUnmuted => "participant.unmuted",
            LiveEventKind::LobbyWaiting => "lobby.waiting",
        }
    }
}

/// One thing that happened in a meeting, as small as the tick can afford: the runtime stamps
/// it with an id and the wall-clock time and turns it into JSON, off the media path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveEvent {
    /// What happened.
    pub kind: LiveEventKind,
    /// In which conference.
    pub conference_id: String,
    /// Whose conference it is.
    pub organizer_id: i64,
    /// Who it happened to, as they are now (as they were, for `ParticipantLeft`).
    pub participant: Option<ParticipantView>,
    /// Who did it, when someone else than the caller did: "organizer", "operator", "auto".
    pub by: Option<&'static str>,
    /// How many wait in the lobby (for `LobbyWaiting`).
    pub waiting: Option<usize>,
}

fn participant_of<S>(
    entry: &MeetingEntry,
    calls: &super::Calls<S>,
    id: CallId,
    state: Attendance,
) -> Option<ParticipantView> {
    let meeting = &entry.meeting;
    let call = calls.get(&id)?;
    Some(ParticipantView {
        id,
        role: if meeting.is_organizer(id) {
            Role::Organizer
        } else {
            Role::Attendee
        },
        state,
        from: call.from.clone(),
        codec: call.params.codec,
        muted: meeting.is_muted(id),
        talking: state == Attendance::Meeting && call.mixed,
        hand_raised: meeting.hands().contains(&id),
        joined_at: call.joined_at.unwrap_or(call.last_rx),
    })
}

fn view_of<S>(conference_id: &str, entry: &MeetingEntry, calls: &super::Calls<S>) -> MeetingView {
    let meeting = &entry.meeting;
    let started_at = match meeting.state() {
        crate::bridge::meeting::MeetingState::Started { at } => Some(at),
        crate::bridge::meeting::MeetingState::Waiting => None,
    };
    let people = meeting
        .participants()
        .iter()
        .map(|id| (*id, Attendance::Meeting))
        .chain(meeting.lobby().iter().map(|id| (*id, Attendance::Lobby)));
    let participants = people
        .filter_map(|(id, state)| participant_of(entry, calls, id, state))
        .collect();
    MeetingView {
        conference_id: conference_id.to_string(),
        organizer_id: entry.conference.organizer_id,
        state: if meeting.is_started() {
            MeetingPhase::Running
        } else {
            MeetingPhase::Lobby
        },
        locked: meeting.is_locked(),
        started_at,
        participants,
    }
}

impl<S> Worker<S> {
    /// One caller of a meeting here as an operator sees them, if they are in it or its lobby.
    pub(super) fn participant_view(
        &self,
        conference_id: &str,
        id: CallId,
    ) -> Option<ParticipantView> {
        let entry = self.meetings.get(conference_id)?;
        let state = if entry.meeting.participants().contains(&id) {
            Attendance::Meeting
        } else if entry.meeting.lobby().contains(&id) {
            Attendance::Lobby
        } else {
            return None;
        };
        participant_of(entry, &self.calls, id, state)
    }

    /// Queues an event about a meeting here for the driver (nothing when the meeting is
    /// gone: `emit_about` carries what a vanished meeting's events need).
    pub(super) fn emit(
        &mut self,
        kind: LiveEventKind,
        conference_id: &str,
        who: Option<CallId>,
        by: Option<&'static str>,
    ) {
        let Some(organizer_id) = self
            .meetings
            .get(conference_id)
            .map(|e| e.conference.organizer_id)
        else {
            return;
        };
        let participant = who.and_then(|id| self.participant_view(conference_id, id));
        let waiting = (kind == LiveEventKind::LobbyWaiting).then(|| {
            self.meetings
                .get(conference_id)
                .map_or(0, |e| e.meeting.lobby().len())
        });
        self.emit_about(LiveEvent {
            kind,
            conference_id: conference_id.to_string(),
            organizer_id,
            participant,
            by,
            waiting,
        });
    }

    /// Queues an event built by the caller (a caller who left, a meeting that ended).
    pub(super) fn emit_about(&mut self, event: LiveEvent) {
        self.events
            .push(super::protocol::Event::Live(Box::new(event)));
    }

    /// Every meeting and lobby this worker owns, ordered by conference ID.
    pub fn meeting_views(&self) -> Vec<MeetingView> {
        let mut views: Vec<MeetingView> = self
            .meetings
            .iter()
            .map(|(id, entry)| view_of(id, entry, &self.calls))
            .collect();
        views.sort_by(|a, b| a.conference_id.cmp(&b.conference_id));
        views
    }

    /// One meeting or lobby, if this worker owns it.
    pub fn meeting_view(&self, conference_id: &str) -> Option<MeetingView> {
        self.meetings
            .get(conference_id)
            .map(|entry| view_of(conference_id, entry, &self.calls))
    }

    /// Carries out an operator's control of a meeting this worker owns.
    pub fn control(
        &mut self,
        now: Instant,
        conference_id: &str,
        control: Control,
    ) -> ControlOutcome {
        let Some(entry) = self.meetings.get_mut(conference_id) else {
            return ControlOutcome::NotFound(Missing::Meeting);
        };
        let organizer_id = entry.conference.organizer_id;
        let started = entry.meeting.is_started();
        let one = match control {
            Control::Mute(id)
            | Control::Unmute(id)
            | Control::Kick(id)
            | Control::Admit(id)
            | Control::Deny(id) => {
                if entry.meeting.participants().contains(&id) {
                    Some((id, Attendance::Meeting))
                } else if entry.meeting.lobby().contains(&id) {
                    Some((id, Attendance::Lobby))
                } else {
                    return ControlOutcome::NotFound(Missing::Participant);
                }
            }
            _ => None,
        };
        tracing::info!(conference = %conference_id, ?control, "meeting control by an operator");
        match (control, one) {
            (Control::Lock, _) => {
                if !entry.meeting.is_locked() {
                    entry.meeting.toggle_lock();
                }
            }
            (Control::Unlock, _) => {
                if entry.meeting.is_locked() {
                    entry.meeting.toggle_lock();
                }
            }
            (Control::AdmitAll, _) => {
                if !started {
                    return ControlOutcome::NotApplicable(
                        "the meeting has not started: its lobby moves in when the organizer joins",
                    );
                }
                self.admit_lobby(conference_id, "operator");
            }
            (Control::End, _) => {
                let everyone: Vec<CallId> = entry
                    .meeting
                    .participants()
                    .iter()
                    .chain(entry.meeting.lobby())
                    .copied()
                    .collect();
                tracing::info!(conference = %conference_id, organizer = organizer_id, callers = everyone.len(), "meeting ended by an operator");
                for id in everyone {
                    self.remove_with_goodbye(now, id, conference_id, HangupCause::MeetingEnded);
                }
            }
            (Control::Mute(_) | Control::Unmute(_), Some((_, Attendance::Lobby))) => {
                return ControlOutcome::NotApplicable(
                    "the caller waits in the lobby: only participants can be muted or unmuted",
                );
            }
            (Control::Mute(id), _) => {
                if !entry.meeting.is_muted(id) {
                    entry.meeting.toggle_mute(id);
                    self.tell(id, &[Prompt::Muted]);
                    self.emit(
                        LiveEventKind::ParticipantMuted,
                        conference_id,
                        Some(id),
                        Some("operator"),
                    );
                }
            }
            (Control::Unmute(id), _) => {
                if entry.meeting.is_muted(id) {
                    entry.meeting.toggle_mute(id);
                    self.tell(id, &[Prompt::Unmuted]);
                    self.emit(
                        LiveEventKind::ParticipantUnmuted,
                        conference_id,
                        Some(id),
                        Some("operator"),
                    );
                }
            }
            (Control::Kick(id), _) => {
                self.remove_with_goodbye(now, id, conference_id, HangupCause::Removed);
            }
            (Control::Admit(_) | Control::Deny(_), Some((_, Attendance::Meeting))) => {
                return ControlOutcome::NotApplicable("the caller is already in the meeting");
            }
            (Control::Admit(_), _) if !started => {
                return ControlOutcome::NotApplicable(
                    "the meeting has not started: its lobby moves in when the organizer joins",
                );
            }
            (Control::Admit(id), _) => {
                self.let_in(id, conference_id, "operator");
            }
            (Control::Deny(id), _) => {
                self.deny_waiting(now, id, conference_id, "operator");
            }
        }
        ControlOutcome::Done(
            self.meeting_view(conference_id)
                .unwrap_or_else(|| MeetingView {
                    conference_id: conference_id.to_string(),
                    organizer_id,
                    state: MeetingPhase::Ended,
                    locked: false,
                    started_at: None,
                    participants: Vec::new(),
                }),
        )
    }

    /// An operator takes a caller out of the meeting or its lobby: they hear why, then are
    /// hung up; a participant's leaving is announced as any other.
    fn remove_with_goodbye(
        &mut self,
        now: Instant,
        id: CallId,
        conference_id: &str,
        cause: HangupCause,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.player.set_background(Background::Silence);
        let name = call.name.clone();
        self.leave_with_goodbye(now, id, conference_id, cause, name);
    }
}
