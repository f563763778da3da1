//! RTP (RFC 3550): parsing what a peer sends, writing our own stream, and tracking sequence
//! numbers so loss, duplicates, reordering and sender restarts are told apart.
//!
//! Parsing borrows the datagram (no copy, no allocation); writing goes into a caller buffer.

use rtp_rs::{RtpReader, RtpReaderError};

/// Length of the fixed RTP header; our own packets carry no CSRCs or extensions.
pub const RTP_HEADER_LEN: usize = 12;

/// Size of a CSRC identifier and of the extension header word.
const WORD: usize = 4;

/// A parsed incoming packet (borrowing the datagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Payload type (7 bits): tells audio (0, 8) from telephone-event (dynamic) and the rest.
    pub payload_type: u8,
    /// Marker bit: for audio the start of a talkspurt (RFC 3551 §4.1).
    pub marker: bool,
    /// Sequence number, to feed [`SeqTracker`].
    pub sequence: u16,
    /// Media timestamp in clock-rate units; identifies RFC 4733 events.
    pub timestamp: u32,
    /// Synchronisation source: which stream the packet belongs to.
    pub ssrc: u32,
    /// Payload without header, CSRCs, extension or padding.
    pub payload: &'a [u8],
}

/// Why a datagram is not an RTP packet we can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Shorter than the fixed header: truncated or not RTP at all.
    #[error("datagram of {len} bytes is shorter than the 12-byte RTP header")]
    TooShort {
        /// Datagram length.
        len: usize,
    },
    /// Only RTP version 2 exists; anything else is another protocol (STUN, DTLS, ...).
    #[error(
        "RTP version {version} is not supported (only version 2 exists); the sender is not speaking RTP"
    )]
    BadVersion {
        /// The version bits found.
        version: u8,
    },
    /// An RTCP packet multiplexed onto the RTP port (RFC 5761 §4).
    #[error(
        "packet type {packet_type} is RTCP multiplexed on the RTP port, not RTP; route it to RTCP handling"
    )]
    Rtcp {
        /// The second header byte (RTCP packet type, 192..=223).
        packet_type: u8,
    },
    /// The header announces more CSRC identifiers than the datagram holds.
    #[error(
        "header announces {csrc_count} CSRCs but the datagram of {len} bytes is too short for them"
    )]
    CsrcTruncated {
        /// CSRC count from the header.
        csrc_count: u8,
        /// Datagram length.
        len: usize,
    },
    /// The extension flag is set but the extension header or its data runs past the end.
    #[error("header extension runs past the end of the {len}-byte datagram")]
    BadExtension {
        /// Datagram length.
        len: usize,
    },
    /// The padding flag is set but the padding count is zero or longer than the payload.
    #[error(
        "padding count {padding} is zero or longer than the {available} bytes after the header"
    )]
    BadPadding {
        /// The padding count (last byte), 0 if there was no byte to hold it.
        padding: u8,
        /// Bytes between the end of the header and the end of the datagram.
        available: usize,
    },
}

/// Whether a datagram on an RTP port is RTCP multiplexed onto it (RFC 5761 §4: version 2 and
/// a second byte in 192..=223, which RTP payload types cannot be once the marker bit is set).
pub fn is_rtcp(datagram: &[u8]) -> bool {
    matches!(*datagram, [first, second, ..] if first >> 6 == 2 && (192..=223).contains(&second))
}

/// Parses with rtp-rs's RtpReader, rejecting what RFC 3550 calls invalid (version != 2, padding
/// longer than payload, CSRC/extension past the end) and RTCP sharing the port; never panics.
pub fn parse(datagram: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    // RFC 5761 §4: RTCP types 192..=223 in the second byte mark RTCP on a muxed port. Checked
    // first because such a packet also parses as (nonsense) RTP.
    // An RTCP receiver report without blocks is only 8 bytes, so this comes before the
    // length check too.
    if is_rtcp(datagram) {
        return Err(RtpError::Rtcp {
            packet_type: datagram.get(1).copied().unwrap_or_default(),
        });
    }
    let reader = RtpReader::new(datagram).map_err(|e| classify(datagram, e))?;
    Ok(RtpPacket {
        payload_type: reader.payload_type(),
        marker: reader.mark(),
        sequence: reader.sequence_number().into(),
        timestamp: reader.timestamp(),
        ssrc: reader.ssrc(),
        payload: reader.payload(),
    })
}

/// Turns rtp-rs's error into ours. rtp-rs reports a truncated CSRC list, a truncated extension
/// and a padding flag with no room for the count all as `HeadersTruncated`; we re-read the
/// header (only on this error path) to say which.
fn classify(datagram: &[u8], error: RtpReaderError) -> RtpError {
    let len = datagram.len();
    match error {
        RtpReaderError::BufferTooShort(len) => RtpError::TooShort { len },
        RtpReaderError::UnsupportedVersion(version) => RtpError::BadVersion { version },
        RtpReaderError::PaddingLengthInvalid(padding) => RtpError::BadPadding {
            padding,
            available: header_len(datagram).map_or(0, |h| len.saturating_sub(h)),
        },
        RtpReaderError::HeadersTruncated { .. } => {
            let first = datagram.first().copied().unwrap_or(0);
            let csrc_count = first & 0x0F;
            let csrc_end = RTP_HEADER_LEN + WORD * usize::from(csrc_count);
            if csrc_end > len {
                RtpError::CsrcTruncated { csrc_count, len }
            } else if first & 0x10 != 0 && header_len(datagram).is_none_or(|h| h > len) {
                RtpError::BadExtension { len }
            } else {
                // Headers fit, so the padding flag is set with no byte left for its count.
                RtpError::BadPadding {
                    padding: 0,
                    available: 0,
                }
            }
        }
    }
}

/// Length of the header including CSRCs and extension, or None if the extension header itself
/// is cut off.
fn header_len(datagram: &[u8]) -> Option<usize> {
    let first = *datagram.first()?;
    let csrc_end = RTP_HEADER_LEN + WORD * usize::from(first & 0x0F);
    if first & 0x10 == 0 {
        return Some(csrc_end);
    }
    let words = datagram.get(csrc_end + 2..csrc_end + 4)?;
    let ext_words = usize::from(u16::from_be_bytes([*words.first()?, *words.get(1)?]));
    Some(csrc_end + WORD + WORD * ext_words)
}

/// Our outgoing stream: SSRC, sequence number and timestamp (random initial values given by
/// the caller), marker on the first packet after a (re)start.
#[derive(Clone, Debug)]
pub struct RtpSender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    mark_next: bool,
}

impl RtpSender {
    /// Starts a stream; the caller supplies the random initial values (RFC 3550 §5.1) so this
    /// stays deterministic in tests. The first packet carries the marker bit.
    pub fn new(ssrc: u32, initial_seq: u16, initial_ts: u32) -> Self {
        RtpSender {
            ssrc,
            sequence: initial_seq,
            timestamp: initial_ts,
            mark_next: true,
        }
    }

    /// Writes header+payload into `buf` and advances the sequence number by 1; returns the
    /// packet length. Returns None (and changes nothing) if `buf` is shorter than
    /// `12 + payload.len()` or `payload_type` does not fit in 7 bits.
    pub fn write(&mut self, payload_type: u8, payload: &[u8], buf: &mut [u8]) -> Option<usize> {
        if payload_type > 0x7F {
            return None;
        }
        let total = RTP_HEADER_LEN.checked_add(payload.len())?;
        let packet = buf.get_mut(..total)?;
        let (header, body) = packet.split_at_mut_checked(RTP_HEADER_LEN)?;
        let mut fixed = [0u8; RTP_HEADER_LEN];
        fixed[0] = 0x80; // version 2, no padding, no extension, no CSRCs
        fixed[1] = (u8::from(self.mark_next) << 7) | payload_type;
        fixed[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        fixed[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        fixed[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        header.copy_from_slice(&fixed);
        body.copy_from_slice(payload);
        self.sequence = self.sequence.wrapping_add(1);
        self.mark_next = false;
        Some(total)
    }

    /// Advances the timestamp by `samples` (called once per 20 ms tick whether or not a packet
    /// was sent, so timestamps follow the media clock).
    pub fn advance(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
    }

    /// Sets the marker bit on the next packet (start of a talkspurt after silence/hold,
    /// RFC 3551 §4.1).
    pub fn mark_next(&mut self) {
        self.mark_next = true;
    }

    /// Our SSRC, for SDP `a=ssrc` and RTCP.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Sequence number the next packet will carry.
    pub fn sequence(&self) -> u16 {
        self.sequence
    }

    /// Timestamp the next packet will carry.
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }
}

/// A forward jump of this many packets or more is a restart candidate (RFC 3550 A.1).
const MAX_DROPOUT: u16 = 3000;
/// A packet this many or fewer behind the highest is reordered, not a restart (RFC 3550 A.1).
const MAX_MISORDER: u16 = 100;
/// Extended numbers start one cycle up so packets reordered before the first one received
/// still get a (smaller) extended number instead of underflowing.
const FIRST_CYCLE: u64 = 1 << 16;

/// What a sequence number means relative to the stream so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqUpdate {
    /// The newest packet so far (possibly after a gap of lost packets).
    New {
        /// 64-bit sequence number that keeps counting across 16-bit wrap-around.
        extended: u64,
    },
    /// Already received: drop it.
    Duplicate,
    /// Older than the newest but not yet received: late, still usable by a jitter buffer.
    Reordered {
        /// 64-bit sequence number.
        extended: u64,
    },
    /// A new SSRC, or a large jump confirmed by a second sequential packet: the sender
    /// restarted; the caller resets its jitter buffer. Counters restart too.
    Restarted {
        /// 64-bit sequence number in the new numbering.
        extended: u64,
    },
    /// Not usable, dropped: more than 100 packets behind the newest (too late), or a jump of
    /// 3000+ ahead that the next packet has not yet confirmed (RFC 3550 A.1: one stray packet
    /// must not reset the stream; if the next packet follows it, that one is `Restarted`).
    TooOld,
}

/// RFC 3550 Appendix A.1 sequence tracking: extended 32-bit sequence numbers (wrap-around),
/// duplicates and reordering detected, restart on SSRC change or large jump (MAX_DROPOUT 3000,
/// MAX_MISORDER 100); counts received/lost for stats.
///
/// Differences from A.1, on purpose: a new source is accepted on its first packet (no
/// probation: the first word a caller says must not be dropped), and duplicates are detected
/// with a 128-packet window and not counted as received, so `lost()` is not pulled negative
/// by them.
#[derive(Clone, Debug, Default)]
pub struct SeqTracker {
    state: Option<SeqState>,
}

#[derive(Clone, Debug)]
struct SeqState {
    ssrc: u32,
    base: u64,
    highest: u64,
    received: u64,
    /// Bit i set: packet `highest - i` was received. Covers more than MAX_MISORDER.
    window: u128,
    /// The sequence number that would confirm a pending jump (A.1's `bad_seq`).
    bad_seq: Option<u16>,
}

impl SeqState {
    fn start(ssrc: u32, seq: u16) -> Self {
        let extended = FIRST_CYCLE + u64::from(seq);
        SeqState {
            ssrc,
            base: extended,
            highest: extended,
            received: 1,
            window: 1,
            bad_seq: None,
        }
    }
}

impl SeqTracker {
    /// A tracker that has seen no packet yet.
    pub fn new() -> Self {
        SeqTracker { state: None }
    }

    /// Classifies one received packet and updates the counters.
    /// The SSRC being tracked, once a packet came.
    pub fn ssrc(&self) -> Option<u32> {
        self.state.as_ref().map(|s| s.ssrc)
    }

    /// Takes one packet's sequence number (see [`SeqUpdate`]).
    pub fn update(&mut self, ssrc: u32, seq: u16) -> SeqUpdate {
        let Some(state) = self.state.as_mut().filter(|s| s.ssrc == ssrc) else {
            let first = self.state.is_none();
            let state = SeqState::start(ssrc, seq);
            let extended = state.highest;
            self.state = Some(state);
            return if first {
                SeqUpdate::New { extended }
            } else {
                SeqUpdate::Restarted { extended }
            };
        };
        let highest_seq = state.highest as u16;
        let ahead = seq.wrapping_sub(highest_seq);
        if ahead == 0 {
            return SeqUpdate::Duplicate;
        }
        if ahead < MAX_DROPOUT {
            let extended = state.highest + u64::from(ahead);
            state.window = state.window.checked_shl(u32::from(ahead)).unwrap_or(0) | 1;
            state.highest = extended;
            state.received += 1;
            state.bad_seq = None;
            return SeqUpdate::New { extended };
        }
        let behind = highest_seq.wrapping_sub(seq);
        if behind <= MAX_MISORDER {
            let bit = 1u128 << behind;
            if state.window & bit != 0 {
                return SeqUpdate::Duplicate;
            }
            state.window |= bit;
            state.received += 1;
            // highest >= FIRST_CYCLE and behind <= 100, so this never saturates.
            let extended = state.highest.saturating_sub(u64::from(behind));
            state.base = state.base.min(extended);
            return SeqUpdate::Reordered { extended };
        }
        if state.bad_seq == Some(seq) {
            // Two sequential packets after a jump: the sender restarted its numbering.
            *state = SeqState::start(ssrc, seq);
            return SeqUpdate::Restarted {
                extended: state.highest,
            };
        }
        state.bad_seq = Some(seq.wrapping_add(1));
        SeqUpdate::TooOld
    }

    /// Packets accepted since the stream (re)started, duplicates excluded.
    pub fn received(&self) -> u64 {
        self.state.as_ref().map_or(0, |s| s.received)
    }

    /// Packets the sender must have sent since the stream (re)started (highest - lowest + 1).
    pub fn expected(&self) -> u64 {
        self.state
            .as_ref()
            .map_or(0, |s| s.highest.saturating_sub(s.base).saturating_add(1))
    }

    /// Packets lost so far (expected - received). Signed as in RFC 3550 §6.4.1 reports; it
    /// does not go negative here because duplicates are not counted as received.
    pub fn lost(&self) -> i64 {
        let expected = i64::try_from(self.expected()).unwrap_or(i64::MAX);
        let received = i64::try_from(self.received()).unwrap_or(i64::MAX);
        expected.saturating_sub(received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn packet(first: u8, second: u8, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![
            first, second, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xDE, 0xAD, 0xBE, 0xEF,
        ];
        p.extend_from_slice(rest);
        p
    }

    #[test]
    fn parses_a_plain_pcmu_packet() {
        let p = packet(0x80, 0x80, &[0xFF; 160]);
        let parsed = parse(&p).unwrap();
        assert_eq!(parsed.payload_type, 0);
        assert!(parsed.marker);
        assert_eq!(parsed.sequence, 0x1234);
        assert_eq!(parsed.timestamp, 320);
        assert_eq!(parsed.ssrc, 0xDEAD_BEEF);
        assert_eq!(parsed.payload.len(), 160);
    }

    #[test]
    fn payload_skips_csrcs_extension_and_padding() {
        // 1 CSRC, extension of 1 word, payload "abc", 2 bytes of padding.
        let mut rest = vec![0, 0, 0, 9]; // CSRC
        rest.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]); // extension header + 1 word
        rest.extend_from_slice(b"abc");
        rest.extend_from_slice(&[0, 2]);
        let p = packet(0xB1, 101, &rest);
        let parsed = parse(&p).unwrap();
        assert_eq!(parsed.payload, b"abc");
        assert_eq!(parsed.payload_type, 101);
        assert!(!parsed.marker);
    }

    #[test]
    fn short_datagram_is_too_short() {
        assert_eq!(parse(&[0x80; 11]), Err(RtpError::TooShort { len: 11 }));
        assert_eq!(parse(&[]), Err(RtpError::TooShort { len: 0 }));
    }

    #[test]
    fn version_other_than_two_is_rejected() {
        let p = packet(0x40, 0, &[1, 2, 3]);
        assert_eq!(parse(&p), Err(RtpError::BadVersion { version: 1 }));
        // STUN starts with 0b00.
        let p = packet(0x00, 0x01, &[]);
        assert_eq!(parse(&p), Err(RtpError::BadVersion { version: 0 }));
    }

    #[test]
    fn muxed_rtcp_is_recognised() {
        let p = packet(0x81, 200, &[0; 16]);
        assert_eq!(parse(&p), Err(RtpError::Rtcp { packet_type: 200 }));
        let empty_rr = [0x80, 201, 0, 1, 0xDE, 0xAD, 0xBE, 0xEF];
        assert_eq!(parse(&empty_rr), Err(RtpError::Rtcp { packet_type: 201 }));
    }

    #[test]
    fn csrc_list_past_the_end_is_rejected() {
        let p = packet(0x83, 0, &[0; 8]);
        assert_eq!(
            parse(&p),
            Err(RtpError::CsrcTruncated {
                csrc_count: 3,
                len: 20
            })
        );
    }

    #[test]
    fn extension_past_the_end_is_rejected() {
        let header_cut = packet(0x90, 0, &[0xBE, 0xDE]);
        assert_eq!(parse(&header_cut), Err(RtpError::BadExtension { len: 14 }));
        let data_cut = packet(0x90, 0, &[0xBE, 0xDE, 0, 2, 1, 2, 3, 4]);
        assert_eq!(parse(&data_cut), Err(RtpError::BadExtension { len: 20 }));
    }

    #[test]
    fn padding_longer_than_payload_is_rejected() {
        let p = packet(0xA0, 0, &[1, 2, 9]);
        assert_eq!(
            parse(&p),
            Err(RtpError::BadPadding {
                padding: 9,
                available: 3
            })
        );
        let zero = packet(0xA0, 0, &[1, 2, 0]);
        assert!(matches!(
            parse(&zero),
            Err(RtpError::BadPadding { padding: 0, .. })
        ));
        let nothing = packet(0xA0, 0, &[]);
        assert!(matches!(parse(&nothing), Err(RtpError::BadPadding { .. })));
    }

    #[test]
    fn sender_writes_a_packet_the_parser_reads_back() {
        let mut sender = RtpSender::new(0x1122_3344, 65535, 1000);
        let mut buf = [0u8; 200];
        let len = sender.write(8, &[0xD5; 160], &mut buf).unwrap();
        assert_eq!(len, 172);
        let p = parse(&buf[..len]).unwrap();
        assert_eq!(p.payload_type, 8);
        assert!(p.marker, "first packet after start is marked");
        assert_eq!(p.sequence, 65535);
        assert_eq!(p.timestamp, 1000);
        assert_eq!(p.ssrc, 0x1122_3344);
        assert_eq!(p.payload, &[0xD5; 160][..]);
        assert_eq!(sender.sequence(), 0, "sequence wraps");
    }

    #[test]
    fn marker_is_set_only_after_start_or_mark_next() {
        let mut sender = RtpSender::new(1, 0, 0);
        let mut buf = [0u8; 20];
        let marks: Vec<bool> = (0..4)
            .map(|i| {
                if i == 2 {
                    sender.mark_next();
                }
                let len = sender.write(0, &[1], &mut buf).unwrap();
                parse(&buf[..len]).unwrap().marker
            })
            .collect();
        assert_eq!(marks, [true, false, true, false]);
    }

    #[test]
    fn timestamp_follows_advance_not_packets() {
        let mut sender = RtpSender::new(1, 0, u32::MAX - 100);
        let mut buf = [0u8; 20];
        sender.write(0, &[], &mut buf).unwrap();
        assert_eq!(sender.timestamp(), u32::MAX - 100);
        sender.advance(160);
        sender.advance(160); // a tick with nothing sent still moves the clock
        assert_eq!(sender.timestamp(), 219);
        assert_eq!(sender.ssrc(), 1);
    }

    #[test]
    fn write_refuses_a_small_buffer_and_changes_nothing() {
        let mut sender = RtpSender::new(1, 7, 0);
        let mut buf = [0u8; 171];
        assert_eq!(sender.write(0, &[0; 160], &mut buf), None);
        assert_eq!(sender.write(128, &[0; 1], &mut buf), None);
        assert_eq!(sender.sequence(), 7);
        assert!(sender.write(0, &[0; 159], &mut buf).is_some());
        assert_eq!(sender.sequence(), 8);
    }

    #[test]
    fn in_order_packets_are_new_and_extend_across_wrap() {
        let mut t = SeqTracker::new();
        let mut exts = Vec::new();
        for seq in [65534u16, 65535, 0, 1] {
            match t.update(5, seq) {
                SeqUpdate::New { extended } => exts.push(extended),
                other => panic!("{seq}: {other:?}"),
            }
        }
        assert!(exts.windows(2).all(|w| w[1] == w[0] + 1), "{exts:?}");
        assert_eq!(t.received(), 4);
        assert_eq!(t.expected(), 4);
        assert_eq!(t.lost(), 0);
    }

    #[test]
    fn gap_counts_as_lost() {
        let mut t = SeqTracker::new();
        t.update(5, 10);
        assert!(matches!(t.update(5, 14), SeqUpdate::New { .. }));
        assert_eq!(t.expected(), 5);
        assert_eq!(t.received(), 2);
        assert_eq!(t.lost(), 3);
    }

    #[test]
    fn late_packet_is_reordered_then_duplicate() {
        let mut t = SeqTracker::new();
        let SeqUpdate::New { extended: e10 } = t.update(5, 10) else {
            panic!()
        };
        t.update(5, 12);
        assert_eq!(t.update(5, 11), SeqUpdate::Reordered { extended: e10 + 1 });
        assert_eq!(t.update(5, 11), SeqUpdate::Duplicate);
        assert_eq!(t.update(5, 12), SeqUpdate::Duplicate);
        assert_eq!(t.update(5, 10), SeqUpdate::Duplicate);
        assert_eq!(t.lost(), 0);
    }

    #[test]
    fn reordered_across_wrap_gets_previous_cycle() {
        let mut t = SeqTracker::new();
        let SeqUpdate::New { extended: first } = t.update(5, 1) else {
            panic!()
        };
        assert_eq!(
            t.update(5, 65535),
            SeqUpdate::Reordered {
                extended: first - 2
            }
        );
        assert_eq!(t.expected(), 3);
        assert_eq!(t.lost(), 1);
    }

    #[test]
    fn new_ssrc_restarts() {
        let mut t = SeqTracker::new();
        t.update(5, 100);
        t.update(5, 101);
        assert!(matches!(t.update(6, 9000), SeqUpdate::Restarted { .. }));
        assert_eq!(t.received(), 1);
        assert!(matches!(t.update(6, 9001), SeqUpdate::New { .. }));
    }

    #[test]
    fn single_large_jump_is_dropped_but_two_sequential_restart() {
        let mut t = SeqTracker::new();
        t.update(5, 100);
        assert_eq!(t.update(5, 20000), SeqUpdate::TooOld);
        assert!(matches!(t.update(5, 101), SeqUpdate::New { .. }));
        assert_eq!(t.update(5, 30000), SeqUpdate::TooOld);
        assert!(matches!(t.update(5, 30001), SeqUpdate::Restarted { .. }));
        assert!(matches!(t.update(5, 30002), SeqUpdate::New { .. }));
        assert_eq!(t.received(), 2);
    }

    #[test]
    fn packet_far_behind_is_too_old() {
        let mut t = SeqTracker::new();
        t.update(5, 1000);
        assert_eq!(t.update(5, 800), SeqUpdate::TooOld);
        assert!(matches!(t.update(5, 1001), SeqUpdate::New { .. }));
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(p) = parse(&bytes) {
                prop_assert!(p.payload.len() + RTP_HEADER_LEN <= bytes.len());
            }
        }

        #[test]
        fn parse_never_panics_on_rtp_looking_bytes(
            first in 0x80u8..0xC0,
            second in any::<u8>(),
            rest in proptest::collection::vec(any::<u8>(), 10..120),
        ) {
            let mut bytes = vec![first, second];
            bytes.extend(rest);
            let _ = parse(&bytes);
        }

        #[test]
        fn tracker_never_panics_and_counts_stay_consistent(
            updates in proptest::collection::vec((0u32..3, any::<u16>()), 0..500)
        ) {
            let mut t = SeqTracker::new();
            for (ssrc, seq) in updates {
                t.update(ssrc, seq);
                prop_assert!(t.received() >= 1);
                prop_assert!(t.lost() >= 0);
            }
        }
    }
}
