//! The worker's counters: the one list a driver reads for metrics and tests, and how
//! `/metrics` shows them.

use crate::media::codec::Codec;
use crate::metrics::render_value;

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
    /// Packets passed between relayed callers and their legs to other cluster nodes.
    pub relayed_packets: u64,
    /// Relayed packets dropped because too many waited for the driver.
    pub relay_dropped: u64,
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
    /// Calls whose media is SRTP (as of the last tick).
    pub srtp_calls: u64,
    /// SRTP/SRTCP packets dropped as replays (seen before or older than the window).
    pub srtp_replayed: u64,
    /// SRTP/SRTCP packets dropped for failing authentication (tampered or foreign keys).
    pub srtp_unauthentic: u64,
    /// SRTP/SRTCP packets dropped as malformed (too short, or a source past the call's limit).
    pub srtp_malformed: u64,
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

/// The gauges a frame counts call by call, each call in the slice that holds it, until the
/// frame's last slice publishes them: no slice has to load every call to count them.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct FrameCounts {
    in_ivr: u64,
    by_codec: [u64; 3],
    srtp_calls: u64,
}

impl FrameCounts {
    /// Counts one call of the frame.
    pub(super) fn count(&mut self, codec: Codec, srtp: bool, in_ivr: bool) {
        if let Some(slot) = Codec::ALL
            .iter()
            .position(|c| *c == codec)
            .and_then(|i| self.by_codec.get_mut(i))
        {
            *slot += 1;
        }
        self.srtp_calls += u64::from(srtp);
        self.in_ivr += u64::from(in_ivr);
    }

    /// Hands the frame's counts to `stats` and starts the next frame's from zero.
    pub(super) fn publish(&mut self, stats: &mut WorkerStats) {
        let FrameCounts {
            in_ivr,
            by_codec,
            srtp_calls,
        } = std::mem::take(self);
        stats.in_ivr = in_ivr;
        stats.by_codec = by_codec;
        stats.srtp_calls = srtp_calls;
    }
}

/// Renders every worker's counters for `/metrics`, `stats` in worker order. A counter added
/// to [`WorkerStats`] is exported by a line here: the one place besides where it counts.
pub fn render_stats(out: &mut String, stats: &[WorkerStats]) {
    let labels: Vec<String> = (0..stats.len())
        .map(|i| format!("worker=\"{i}\""))
        .collect();
    let per = |f: fn(&WorkerStats) -> u64| -> Vec<(&str, u64)> {
        stats
            .iter()
            .zip(&labels)
            .map(|(s, l)| (l.as_str(), f(s)))
            .collect()
    };
    let sum = |f: fn(&WorkerStats) -> u64| stats.iter().map(f).sum::<u64>();
    render_value(
        out,
        "dialbridge_callers",
        "gauge",
        "callers by place",
        &[
            ("place=\"ivr\"", sum(|s| s.in_ivr)),
            ("place=\"lobby\"", sum(|s| s.in_lobby)),
            ("place=\"meeting\"", sum(|s| s.in_meeting)),
        ],
    );
    let codecs: Vec<(String, u64)> = Codec::ALL
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                format!("codec=\"{}\"", c.encoding_name()),
                stats.iter().filter_map(|s| s.by_codec.get(i)).sum(),
            )
        })
        .collect();
    render_value(
        out,
        "dialbridge_srtp_calls",
        "gauge",
        "calls whose media is SRTP",
        &[("", sum(|s| s.srtp_calls))],
    );
    render_value(
        out,
        "dialbridge_srtp_dropped_total",
        "counter",
        "SRTP and SRTCP packets dropped unheard, by reason",
        &[
            ("reason=\"replay\"", sum(|s| s.srtp_replayed)),
            ("reason=\"auth\"", sum(|s| s.srtp_unauthentic)),
            ("reason=\"malformed\"", sum(|s| s.srtp_malformed)),
        ],
    );
    render_value(
        out,
        "dialbridge_media_calls_by_codec",
        "gauge",
        "calls by the codec they agreed on",
        &codecs
            .iter()
            .map(|(l, n)| (l.as_str(), *n))
            .collect::<Vec<_>>(),
    );
    render_value(
        out,
        "dialbridge_talkers",
        "gauge",
        "talkers mixed in the last media tick, all meetings together",
        &[("", sum(|s| s.talkers))],
    );
    render_value(
        out,
        "dialbridge_meetings",
        "gauge",
        "meetings, waiting or running",
        &[("", sum(|s| s.meetings))],
    );
    render_value(
        out,
        "dialbridge_rtp_packets_sent_total",
        "counter",
        "RTP packets sent",
        &per(|s| s.packets_out),
    );
    render_value(
        out,
        "dialbridge_rtp_packets_received_total",
        "counter",
        "RTP packets accepted",
        &per(|s| s.packets_in),
    );
    // Per worker the sum can dip below zero (a call's losses counted on one worker,
    // its late packets on another); the total over workers cannot.
    let lost: i64 = stats
        .iter()
        .map(|s| s.packets_lost)
        .fold(0i64, i64::wrapping_add);
    render_value(
        out,
        "dialbridge_rtp_packets_lost_total",
        "counter",
        "audio packets lost on the way in (sequence gaps less late arrivals)",
        &[("", u64::try_from(lost).unwrap_or(0))],
    );
    render_value(
        out,
        "dialbridge_rtp_bad_packets_total",
        "counter",
        "datagrams on media ports that were not RTP",
        &per(|s| s.bad_packets),
    );
    render_value(
        out,
        "dialbridge_rtp_foreign_packets_total",
        "counter",
        "RTP from an address other than the call's latched source (ignored)",
        &per(|s| s.foreign_packets),
    );
    render_value(
        out,
        "dialbridge_relay_packets_total",
        "counter",
        "RTP passed between callers relayed to another cluster node and their relay legs",
        &per(|s| s.relayed_packets),
    );
    render_value(
        out,
        "dialbridge_relay_dropped_total",
        "counter",
        "relayed RTP dropped because too many packets waited for the media thread",
        &per(|s| s.relay_dropped),
    );
    let by_method: Vec<(String, u64)> = stats
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            [
                (
                    format!("worker=\"{i}\",method=\"rfc4733\""),
                    s.digits
                        .saturating_sub(s.digits_info)
                        .saturating_sub(s.digits_inband),
                ),
                (format!("worker=\"{i}\",method=\"info\""), s.digits_info),
                (format!("worker=\"{i}\",method=\"inband\""), s.digits_inband),
            ]
        })
        .collect();
    render_value(
        out,
        "dialbridge_dtmf_digits_total",
        "counter",
        "DTMF digits received, by how they came",
        &by_method
            .iter()
            .map(|(l, v)| (l.as_str(), *v))
            .collect::<Vec<_>>(),
    );
    render_value(
        out,
        "dialbridge_conference_joins_total",
        "counter",
        "callers who got through the IVR into a conference (lobby or meeting)",
        &per(|s| s.conference_joins),
    );
    render_value(
        out,
        "dialbridge_lobby_decisions_total",
        "counter",
        "lobby callers an organizer let in or sent away one at a time (*24)",
        &[
            ("decision=\"let_in\"", sum(|s| s.lobby_let_in)),
            ("decision=\"sent_away\"", sum(|s| s.lobby_sent_away)),
        ],
    );
}
