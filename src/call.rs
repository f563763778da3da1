//! The bridge's own handle for a call, shared by the SIP side and the media workers.

use std::fmt;

/// Longest conference ID a caller may type: a longer entry is invalid in the IVR and never
/// looked up in the directory.
pub const MAX_CONFERENCE_ID_DIGITS: usize = 16;

/// Identifies one call (one INVITE dialog and its media) inside the bridge.
///
/// The SIP Call-ID is the peer's string; this is ours: small, `Copy`, and usable as a
/// poll token on the media workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// A map keyed by call: looked up for every RTP packet and every caller of every tick.
/// Call ids come from our own counter, never from a peer, so it hashes with foldhash instead
/// of the flood-resistant (and ten times slower) SipHash of std's default.
pub type CallMap<V> = std::collections::HashMap<CallId, V, foldhash::fast::RandomState>;

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// What the IVR needs once a caller's digits matched a conference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conference {
    /// Whose PIN starts the meeting.
    pub organizer_id: i64,
    /// The digits that matched.
    pub conference_id: String,
    /// For prompts and logs.
    pub organizer_name: String,
    /// Callers skip the lobby and the organizer's PIN is not needed to start.
    pub start_without_pin: bool,
}

/// Why a call ended, for logs and (later) call detail records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The caller sent BYE.
    RemoteBye,
    /// The caller cancelled before we answered.
    Cancelled,
    /// Our 2xx was never acknowledged within 64·T1.
    AckTimeout,
    /// The bridge hung up (IVR goodbye, RTP timeout, shutdown…).
    LocalHangup,
    /// The call was refused before it was answered (488, 503…).
    Rejected,
}

impl EndReason {
    /// A stable lower-case name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::RemoteBye => "remote-bye",
            EndReason::Cancelled => "cancelled",
            EndReason::AckTimeout => "ack-timeout",
            EndReason::LocalHangup => "local-hangup",
            EndReason::Rejected => "rejected",
        }
    }
}
