//! Running meetings as the admin API and the CLI show them, and the controls an operator has
//! over them. The media workers own the meetings; these are the answers they give through
//! [`LiveMeetings`](super::service::LiveMeetings), with times already on the wall clock. The
//! same shapes are meant for the events (webhooks, `/api/events`) that follow them.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

/// A meeting's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MeetingState {
    /// Not started: callers wait in the lobby.
    Lobby,
    /// Started by its organizer (or an authenticated start).
    Running,
    /// Just ended (only in the answer to a control that ended it).
    Ended,
}

/// Where a caller is in a meeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParticipantState {
    /// Waiting in the lobby.
    Lobby,
    /// Taking part.
    Meeting,
}

/// How a caller came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParticipantRole {
    /// With the organizer PIN.
    Organizer,
    /// Everyone else.
    Attendee,
}

/// One caller of a running meeting or lobby; never a PIN, a PIN tag or a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Participant {
    /// Stable for the call's life; the `{id}` of the participant URLs.
    pub id: u64,
    /// Organizer or attendee.
    pub role: ParticipantRole,
    /// Lobby or meeting.
    pub state: ParticipantState,
    /// The From URI of the caller's INVITE, as received.
    pub from: String,
    /// The agreed codec's SDP name (`PCMU`, `PCMA`, `G722`).
    pub codec: String,
    /// Left out of the mix.
    pub muted: bool,
    /// Being mixed as a talker right now.
    pub talking: bool,
    /// Hand raised with `*5`.
    pub hand_raised: bool,
    /// When they reached the conference (lobby or meeting), RFC 3339 UTC.
    pub joined_at: String,
}

/// A running meeting or a lobby waiting for its organizer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Meeting {
    /// The conference ID callers dial.
    pub conference_id: String,
    /// The organizer whose conference it is.
    pub organizer_id: Option<i64>,
    /// Lobby or running (ended in the answer to `end`).
    pub state: MeetingState,
    /// Newcomers wait in the lobby even while it runs.
    pub locked: bool,
    /// When it started, RFC 3339 UTC (null while it is a lobby).
    pub started_at: Option<String>,
    /// Participants in joining order, then the lobby, longest waiting first.
    pub participants: Vec<Participant>,
}

/// What an operator can do to a meeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeetingAction {
    /// Newcomers wait in the lobby (as `*7`).
    Lock,
    /// Newcomers go straight in (as `*7` again).
    Unlock,
    /// Let the whole lobby in (as `*21`).
    AdmitAll,
    /// Everyone hears "The meeting has ended" and is hung up.
    End,
    /// Leave a participant out of the mix.
    Mute(u64),
    /// Hear a participant again.
    Unmute(u64),
    /// A caller hears "You have been removed from the meeting" and is hung up.
    Kick(u64),
    /// Let one waiting caller in (as `*24`, then 1).
    Admit(u64),
    /// Send one waiting caller away (as `*24`, then 2).
    Deny(u64),
}

impl MeetingAction {
    /// The audit log's name for it.
    pub fn audit_name(self) -> &'static str {
        match self {
            MeetingAction::Lock => "meeting.lock",
            MeetingAction::Unlock => "meeting.unlock",
            MeetingAction::AdmitAll => "meeting.admit",
            MeetingAction::End => "meeting.end",
            MeetingAction::Mute(_) => "participant.mute",
            MeetingAction::Unmute(_) => "participant.unmute",
            MeetingAction::Kick(_) => "participant.kick",
            MeetingAction::Admit(_) => "participant.admit",
            MeetingAction::Deny(_) => "participant.deny",
        }
    }

    /// The caller it is about, if it is about one.
    pub fn participant(self) -> Option<u64> {
        match self {
            MeetingAction::Mute(id)
            | MeetingAction::Unmute(id)
            | MeetingAction::Kick(id)
            | MeetingAction::Admit(id)
            | MeetingAction::Deny(id) => Some(id),
            _ => None,
        }
    }
}

/// Why a control was not carried out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionRefused {
    /// No meeting or lobby with this conference ID right now.
    #[error("no meeting or lobby with conference ID {conference_id} right now")]
    MeetingNotFound {
        /// The ID asked for.
        conference_id: String,
    },
    /// No such caller in that meeting or its lobby.
    #[error("no participant {id} in the meeting or lobby of conference {conference_id}")]
    ParticipantNotFound {
        /// The meeting.
        conference_id: String,
        /// The participant id asked for.
        id: u64,
    },
    /// The control does not apply now.
    #[error("{0}")]
    NotApplicable(String),
}

/// An answer from the media workers, awaited by the admin side without blocking its tasks.
pub type LiveAnswer<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One meeting event as webhooks and `/api/events` carry it (JSON); never a PIN, a PIN tag or
/// a key. Fields that do not apply to an event are left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    /// Unique: 128 random bits in hex (a receiver that gets one twice can tell).
    pub id: String,
    /// `meeting.started`, `participant.joined`… (see the README for the list).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When it happened, RFC 3339 UTC.
    pub time: String,
    /// The conference it happened in.
    pub conference_id: String,
    /// The organizer whose conference it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organizer_id: Option<i64>,
    /// The caller it is about, as the meetings API shows them (as they were, for `left`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant: Option<Participant>,
    /// Who did it, when not the caller: `organizer`, `operator` or `auto`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<&'static str>,
    /// How many wait in the lobby (`lobby.waiting`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<usize>,
    /// Until when the PIN is locked, RFC 3339 UTC (`organizer.pin_locked`; absent: until an
    /// administrator resets it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<String>,
}

/// RFC 3339 UTC to the second, the one format of every time in the answers and events.
pub fn rfc3339(at: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
