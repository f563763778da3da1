//! The worker's counters: the one list a driver reads for metrics and tests.

/// Counters a driver can read for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Ticks run.
    pub ticks: u64,
    /// RTP packets sent.
    pub packets_out: u64,
    /// RTP packets accepted.
    pub packets_in: u64,
    /// Audio packets lost on the way in (sequence gaps, less late arrivals; RFC 3550
    /// §6.4.1 counting, per stream). Signed because late arrivals take losses back.
    pub packets_lost: i64,
    /// Datagrams that were not valid RTP.
    pub bad_packets: u64,
    /// Packets from an address other than the latched one.
    pub foreign_packets: u64,
    /// Digits received (RFC 4733 and INFO).
    pub digits: u64,
    /// Of which by SIP INFO.
    pub digits_info: u64,
    /// Of which heard as tones in the audio (not also signalled).
    pub digits_inband: u64,
    /// Calls talking to the IVR (as of the last tick).
    pub in_ivr: u64,
    /// Calls by codec, in [`Codec::ALL`] order (as of the last tick).
    pub by_codec: [u64; 3],
    /// Talkers mixed in the last tick, all meetings together.
    pub talkers: u64,
    /// Callers waiting in lobbies (as of the last tick).
    pub in_lobby: u64,
    /// Callers in running meetings (as of the last tick).
    pub in_meeting: u64,
    /// Meetings on this worker, waiting or running (as of the last tick).
    pub meetings: u64,
    /// Callers who got through the IVR into a conference (lobby or meeting), ever.
    pub conference_joins: u64,
    /// Lobby callers let in one at a time by an organizer (`*24`, then 1).
    pub lobby_let_in: u64,
    /// Lobby callers sent away by an organizer (`*24`, then 2).
    pub lobby_sent_away: u64,
}
