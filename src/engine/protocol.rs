//! The worker's language with the rest of the bridge: the commands it takes (from the SIP
//! side, the directory, other workers) and the events it asks the driver to act on.

use std::time::{Duration, Instant};

use crate::auth::pin::Pin;
use crate::call::CallId;
use crate::call::Conference;
use crate::ivr::flow::{HangupCause, Role};
use crate::media::dtmf::Digit;
use crate::sip::sdp::Negotiated;

use super::caller::CallMedia;

/// What became of a PIN change by phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinChangeOutcome {
    /// Stored: the old PIN no longer works.
    Changed,
    /// Refused: the policy wants this many digits.
    WrongLength(u8),
    /// Refused: a repeat or a run.
    TooEasy,
    /// The directory failed; nothing changed.
    Failed,
}

/// Why the worker wants a call hung up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupReason {
    /// The IVR said goodbye.
    Ivr(HangupCause),
    /// No RTP arrived for the configured time.
    RtpTimeout,
    /// The relay leg to the meeting's owner node ended (the owner hung it up).
    RelayEnded,
}

/// The cluster node that hosts a caller's meeting, when it is not this one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayTarget {
    /// Its node name.
    pub node: String,
    /// Where it takes SIP (its `--cluster-advertise`).
    pub sip: std::net::SocketAddr,
}

/// How an answered call begins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A caller: the IVR greets them and asks for the conference ID.
    Ivr,
    /// A relay leg from the cluster node that answered the caller and ran its IVR: straight
    /// into this conference as this role, once the directory has found it.
    Relayed {
        /// The conference the caller reached.
        conference_id: String,
        /// As what.
        role: Role,
    },
}

/// Orders for a worker from the SIP side, the directory or another worker.
pub enum Command<S> {
    /// A call was answered: start its media and its IVR.
    Start {
        /// The bridge's call handle.
        call: CallId,
        /// The driver's socket for this call.
        transport: S,
        /// The peer's SIP Call-ID, for the call's log span.
        sip_call_id: String,
        /// The caller's From URI as received, shown to operators (never used for routing).
        from: String,
        /// What offer/answer agreed.
        params: Negotiated,
        /// IVR or relay leg.
        entry: Entry,
    },
    /// A re-INVITE changed the media (new address, hold, codec).
    Update {
        /// Which call.
        call: CallId,
        /// The new agreement.
        params: Negotiated,
    },
    /// A digit arrived by SIP INFO.
    Digit {
        /// Which call.
        call: CallId,
        /// The key.
        digit: Digit,
    },
    /// The call is over (BYE, CANCEL, our own hangup done): free everything.
    Stop {
        /// Which call.
        call: CallId,
    },
    /// The directory's answer to `Request::LookupConference`.
    ConferenceFound {
        /// Which call asked.
        call: CallId,
        /// The conference, or None if the digits match none.
        conference: Option<Conference>,
    },
    /// The directory's answer to `Request::ChangePin`.
    PinChangeResult {
        /// Which call asked.
        call: CallId,
        /// What happened.
        outcome: PinChangeOutcome,
    },
    /// The directory refused `Request::LookupConference`: too many unknown IDs from this
    /// caller lately.
    ConferenceRefused {
        /// Which call asked.
        call: CallId,
    },
    /// The directory could not answer `Request::LookupConference` or `Request::VerifyPin`
    /// (its database is unreachable): the caller is told to call again later.
    DirectoryUnavailable {
        /// Which call asked.
        call: CallId,
    },
    /// The directory's answer to `Request::VerifyPin`.
    PinChecked {
        /// Which call asked.
        call: CallId,
        /// Whether the PIN was right.
        ok: bool,
    },
    /// The caller's meeting is hosted by another node (sent before `ConferenceFound`): once
    /// through the IVR, the caller is relayed there instead of joining here.
    HostedElsewhere {
        /// Which call.
        call: CallId,
        /// Where the meeting lives.
        target: RelayTarget,
    },
    /// The relay leg to the owner node is up: from now on packets pass between the caller
    /// and `leg`, unchanged but for SRTP.
    RelayUp {
        /// Which call.
        call: CallId,
        /// The leg's RTP socket.
        leg: S,
        /// Where the owner node takes the leg's RTP.
        remote: std::net::SocketAddr,
    },
    /// A relayed caller's meeting has a new owner after its node went away: this node
    /// (`None`: the caller joins here) or another (a new leg there).
    Rehome {
        /// Which call.
        call: CallId,
        /// The new owner, when not this node.
        target: Option<RelayTarget>,
    },
    /// The relay leg could not be opened: the caller hears that the service is unavailable.
    RelayFailed {
        /// Which call.
        call: CallId,
    },
    /// The owner node ended the relay leg (kick, end, its own goodbye, already heard through
    /// the leg): the caller is hung up.
    RelayEnded {
        /// Which call.
        call: CallId,
    },
    /// A call handed over by another worker because its meeting lives here.
    Adopt(Box<CallMedia<S>>),
    /// The bridge is shutting down: every caller, wherever they are, hears goodbye and is
    /// hung up; calls that arrive on this worker afterwards too.
    Goodbye,
    /// Start a meeting without a PIN (an authenticated start from the admin API): the lobby
    /// moves in, and callers who come later go straight in.
    StartMeeting {
        /// Which conference.
        conference: Conference,
    },
}

/// What a worker asks of the control task (the directory, the mailer, the SIP side): the
/// driver passes it on as it is.
#[derive(Debug)]
pub enum Request {
    /// Find the conference for these digits; answer with `Command::ConferenceFound`.
    LookupConference {
        /// Which call asks.
        call: CallId,
        /// What the caller typed.
        digits: String,
    },
    /// Check this PIN; answer with `Command::PinChecked`.
    VerifyPin {
        /// Which call asks.
        call: CallId,
        /// The conference whose organizer's PIN it must be.
        conference: Conference,
        /// What the caller typed.
        pin: Pin,
    },
    /// End this call with a BYE.
    Hangup {
        /// Which call.
        call: CallId,
        /// Why.
        reason: HangupReason,
    },
    /// An organizer typed a new PIN twice by phone: store it (answer `PinChangeResult`).
    ChangePin {
        /// Which call.
        call: CallId,
        /// Whose PIN.
        organizer_id: i64,
        /// The new PIN.
        pin: Pin,
    },
    /// The caller got through the IVR (for call records).
    Joined {
        /// Which call.
        call: CallId,
        /// The conference reached.
        conference_id: String,
        /// As what.
        role: Role,
    },
    /// The caller is through the IVR and its meeting lives on another node: open a relay leg
    /// there (the SIP side answers with `RelayUp` or `RelayFailed`).
    OpenRelay {
        /// Which call.
        call: CallId,
        /// The conference reached.
        conference_id: String,
        /// As what.
        role: Role,
        /// The owner node.
        target: RelayTarget,
        /// The caller's media agreement: the leg offers the same codec and numbers.
        params: Box<Negotiated>,
    },
    /// A relayed caller's owner node fell silent: drop the old leg, find the meeting's next
    /// owner (answer `Command::Rehome`, or `RelayFailed` if none comes).
    Rehome {
        /// Which call.
        call: CallId,
        /// Its conference.
        conference_id: String,
        /// As what it takes part.
        role: Role,
        /// The node that went silent (it still holds the lease until the lease runs out).
        from_node: String,
    },
    /// Someone has waited `lobby_mail_after` in this conference's lobby: tell its organizer
    /// (once per waiting spell: again only after the lobby emptied).
    LobbyWaiting {
        /// Whose lobby.
        conference: Conference,
        /// How many wait now.
        callers: usize,
        /// How long the first of them has waited.
        waited: Duration,
    },
}

/// What a worker asks of its driver.
pub enum Event<S> {
    /// Pass this on to the control task.
    Control(Request),
    /// Hand this call to worker `to`, which owns its meeting.
    Migrate {
        /// The worker index to send it to.
        to: usize,
        /// The call, with everything it owns.
        call: Box<CallMedia<S>>,
    },
    /// Give this command to worker `to`, which hosts the meeting it is about (the meeting
    /// moved there while the command was on its way here).
    Forward {
        /// The worker index to send it to.
        to: usize,
        /// The command.
        command: Box<Command<S>>,
    },
    /// The call's media is gone and its transport dropped.
    Closed {
        /// Which call.
        call: CallId,
    },
    /// Something happened in a meeting (for webhooks and `/api/events`); boxed so the
    /// common events stay small.
    Live(Box<super::live::LiveEvent>),
}

/// A lobby move, reported once its first meeting tick has been sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoveReport {
    /// When the organizer's PIN entry ended (None for an API start).
    pub pin_submitted_at: Option<Instant>,
    /// When the meeting started.
    pub started_at: Instant,
    /// How many lobby callers moved in.
    pub callers: usize,
}
