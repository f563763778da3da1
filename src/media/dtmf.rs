//! DTMF digits from RFC 4733 telephone-event packets and from SIP INFO bodies
//! (`application/dtmf-relay`, `application/dtmf`), each key press counted exactly once.
//!
//! A telephone-event payload is 4 bytes (RFC 4733 §2.3): no crate is needed. The hard part is
//! counting: one key press is sent as many packets (updates with a growing duration, then three
//! identical end packets), packets get lost, duplicated and reordered, and an event longer than
//! 8 s is split into segments. [`DtmfReceiver`] turns that into one digit per press with a
//! fixed-size memory.

/// A DTMF key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Digit {
    /// Key 0.
    D0,
    /// Key 1.
    D1,
    /// Key 2.
    D2,
    /// Key 3.
    D3,
    /// Key 4.
    D4,
    /// Key 5.
    D5,
    /// Key 6.
    D6,
    /// Key 7.
    D7,
    /// Key 8.
    D8,
    /// Key 9.
    D9,
    /// The `*` key.
    Star,
    /// The `#` key, which ends an ID or PIN entry.
    Pound,
    /// Key A (military/test keypads only).
    A,
    /// Key B.
    B,
    /// Key C.
    C,
    /// Key D.
    D,
}

impl Digit {
    /// Every key in RFC 4733 event-code order (the index is the event code).
    const BY_EVENT: [Digit; 16] = [
        Digit::D0,
        Digit::D1,
        Digit::D2,
        Digit::D3,
        Digit::D4,
        Digit::D5,
        Digit::D6,
        Digit::D7,
        Digit::D8,
        Digit::D9,
        Digit::Star,
        Digit::Pound,
        Digit::A,
        Digit::B,
        Digit::C,
        Digit::D,
    ];

    /// The key for an RFC 4733 event code (0-9, 10 `*`, 11 `#`, 12-15 A-D); None for the
    /// non-DTMF events (16 flash and up).
    pub fn from_event(event: u8) -> Option<Digit> {
        Self::BY_EVENT.get(usize::from(event)).copied()
    }

    /// The RFC 4733 event code, for sending.
    pub fn event(self) -> u8 {
        self as u8
    }

    /// The character printed on the key, for logs and digit strings.
    pub fn as_char(self) -> char {
        match self {
            Digit::Star => '*',
            Digit::Pound => '#',
            Digit::A => 'A',
            Digit::B => 'B',
            Digit::C => 'C',
            Digit::D => 'D',
            digit => char::from(b'0' + digit.event()),
        }
    }

    /// The key for a character (`0-9`, `*`, `#`, `A-D` in either case), for SIP INFO bodies and
    /// configured digit strings.
    pub fn from_char(c: char) -> Option<Digit> {
        match c {
            '0'..='9' => Digit::from_event(c as u8 - b'0'),
            '*' => Some(Digit::Star),
            '#' => Some(Digit::Pound),
            'A' | 'a' => Some(Digit::A),
            'B' | 'b' => Some(Digit::B),
            'C' | 'c' => Some(Digit::C),
            'D' | 'd' => Some(Digit::D),
            _ => None,
        }
    }
}

/// Why a telephone-event payload could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// Fewer than the 4 bytes of an event: truncated, or not telephone-event at all (check the
    /// payload type negotiated for `telephone-event`).
    #[error("telephone-event payload of {len} bytes is shorter than the 4-byte event")]
    TooShort {
        /// Payload length.
        len: usize,
    },
}

/// One RFC 4733 telephone-event payload (§2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0-15 are DTMF keys, 16 is flash, higher codes are other tones.
    pub event: u8,
    /// E bit: this packet reports the end of the event.
    pub end: bool,
    /// Power level in -dBm0 (0-63); only the low 6 bits are sent.
    pub volume: u8,
    /// Duration so far, in timestamp units, counted from the event's RTP timestamp.
    pub duration: u16,
}

/// Reads the first 4 bytes of a telephone-event payload (RFC 4733 §2.3). Extra bytes are
/// ignored: several events in one packet only happen with RFC 2198 redundancy, which has its
/// own payload type and is not negotiated.
pub fn parse_event(payload: &[u8]) -> Result<TelephoneEvent, DtmfError> {
    let Some(&[event, flags, hi, lo]) = payload.first_chunk::<4>() else {
        return Err(DtmfError::TooShort { len: payload.len() });
    };
    Ok(TelephoneEvent {
        event,
        end: flags & 0x80 != 0,
        // The R bit (0x40) is reserved and ignored by receivers.
        volume: flags & 0x3F,
        duration: u16::from_be_bytes([hi, lo]),
    })
}

/// Writes a telephone-event payload, for our test phone's sender.
pub fn write_event(ev: &TelephoneEvent, out: &mut [u8; 4]) {
    let [hi, lo] = ev.duration.to_be_bytes();
    *out = [
        ev.event,
        (u8::from(ev.end) << 7) | (ev.volume & 0x3F),
        hi,
        lo,
    ];
}

/// How many recent events a receiver remembers. Key presses come at most ~10 per second, so
/// 32 covers several seconds of reordering and retransmission with 384 bytes per call.
const HISTORY: usize = 32;

/// A long event's next segment starts where the previous one ended, at most 0xFFFF timestamp
/// units later (RFC 4733 §2.5.1.3). We accept a little less, in case a sender only reports
/// durations in whole packets.
const SEGMENT_GAP_MIN: u32 = 0xFFFF - 0x3FF;
const SEGMENT_GAP_MAX: u32 = 0xFFFF;

/// An event the receiver has seen, identified by (SSRC, timestamp, event code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SeenEvent {
    ssrc: u32,
    timestamp: u32,
    event: u8,
    ended: bool,
}

/// True if the segment starting at `later` continues the one starting at `earlier`.
fn is_next_segment(earlier: u32, later: u32) -> bool {
    (SEGMENT_GAP_MIN..=SEGMENT_GAP_MAX).contains(&later.wrapping_sub(earlier))
}

/// Turns a stream of telephone-event packets into digits, each counted exactly once.
///
/// An event is identified by (SSRC, RTP timestamp) as RFC 4733 prescribes (all packets of an
/// event carry its start time as timestamp), plus the event code so that a sender that wrongly reuses a timestamp for the next key still has both keys
/// counted. The last 32 identities are remembered (oldest forgotten first), so memory is fixed;
/// a packet of an event forgotten that long ago would count again, which takes more than 32
/// newer key presses in between.
///
/// Long events (§2.5.1.3): a new identity with the same SSRC and event code whose timestamp is
/// (nearly) 0xFFFF after a remembered segment that has not ended is that event's continuation
/// and yields no digit; the check also works when the later segment arrives first.
#[derive(Clone, Debug, Default)]
pub struct DtmfReceiver {
    seen: [Option<SeenEvent>; HISTORY],
    /// Slot the next new identity overwrites (ring order = age order).
    next: usize,
}

impl DtmfReceiver {
    /// A receiver that has seen no event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one telephone-event packet's identity and payload; returns Some(digit) the first
    /// time an event (SSRC, RTP timestamp) is seen, whatever packet of it arrives first (so an
    /// event whose first packets were lost still counts), and None for every later packet of
    /// it (updates, retransmitted end packets), for duplicates, for non-DTMF events (16+, e.g.
    /// flash) and for payloads too short to be an event.
    pub fn on_packet(&mut self, ssrc: u32, timestamp: u32, payload: &[u8]) -> Option<Digit> {
        let ev = parse_event(payload).ok()?;
        let digit = Digit::from_event(ev.event)?;
        let same_stream = |s: &SeenEvent| s.ssrc == ssrc && s.event == ev.event;

        if let Some(known) = self
            .seen
            .iter_mut()
            .flatten()
            .find(|s| same_stream(s) && s.timestamp == timestamp)
        {
            // An update, a retransmitted end or a duplicate: remember that it ended so a
            // following segment is not mistaken for a continuation.
            known.ended |= ev.end;
            return None;
        }

        let continuation = self.seen.iter().flatten().any(|s| {
            same_stream(s)
                && ((!s.ended && is_next_segment(s.timestamp, timestamp))
                    || (!ev.end && is_next_segment(timestamp, s.timestamp)))
        });
        self.remember(SeenEvent {
            ssrc,
            timestamp,
            event: ev.event,
            ended: ev.end,
        });
        if continuation { None } else { Some(digit) }
    }

    fn remember(&mut self, event: SeenEvent) {
        if let Some(slot) = self.seen.get_mut(self.next) {
            *slot = Some(event);
        }
        self.next = (self.next + 1) % HISTORY;
    }
}

/// Reads a key from a SIP INFO value: one key character, or a numeric event code (10 for
/// `*`, 11 for `#`, as some phones send).
fn parse_signal(value: &[u8]) -> Option<Digit> {
    match value {
        [c] => Digit::from_char(char::from(*c)),
        // Event codes are at most 2 digits; anything longer is not a key.
        [_, _] if value.iter().all(u8::is_ascii_digit) => value
            .iter()
            .try_fold(0u8, |acc, d| {
                acc.checked_mul(10)?.checked_add(d.checked_sub(b'0')?)
            })
            .and_then(Digit::from_event),
        _ => None,
    }
}

/// `application/dtmf-relay`: "Signal=5\r\nDuration=160" (case-insensitive keys, any line ends,
/// spaces around '=', Signal may be a digit, *, #, A-D, or the numeric event code 10/11);
/// the first `Signal` line decides.
pub fn parse_dtmf_relay(body: &[u8]) -> Option<Digit> {
    body.split(|&b| b == b'\r' || b == b'\n').find_map(|line| {
        let eq = line.iter().position(|&b| b == b'=')?;
        let (key, rest) = line.split_at_checked(eq)?;
        if !key.trim_ascii().eq_ignore_ascii_case(b"signal") {
            return None;
        }
        // rest starts with '='.
        let value = rest.get(1..)?;
        Some(parse_signal(value.trim_ascii()))
    })?
}

/// `application/dtmf`: body is just the key ("5", "*", "#", or event number "11").
pub fn parse_application_dtmf(body: &[u8]) -> Option<Digit> {
    parse_signal(body.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SSRC: u32 = 0x0E05_384E;

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let mut out = [0; 4];
        write_event(
            &TelephoneEvent {
                event,
                end,
                volume: 10,
                duration,
            },
            &mut out,
        );
        out
    }

    /// The packets of one key press as SIPp's dtmf_2833 pcaps send them: 7 updates, 3 ends.
    fn key_press(event: u8) -> Vec<[u8; 4]> {
        let mut packets: Vec<[u8; 4]> = (0..7).map(|i| payload(event, false, i * 320)).collect();
        packets.extend([payload(event, true, 2240); 3]);
        packets
    }

    fn feed(rx: &mut DtmfReceiver, ts: u32, packets: &[[u8; 4]]) -> Vec<Digit> {
        packets
            .iter()
            .filter_map(|p| rx.on_packet(SSRC, ts, p))
            .collect()
    }

    #[test]
    fn digits_map_to_rfc4733_event_codes_and_characters() {
        let chars = "0123456789*#ABCD";
        for (code, c) in chars.chars().enumerate() {
            let digit = Digit::from_event(code as u8).unwrap();
            assert_eq!(digit.event(), code as u8);
            assert_eq!(digit.as_char(), c);
            assert_eq!(Digit::from_char(c), Some(digit));
        }
        assert_eq!(Digit::from_char('b'), Some(Digit::B));
        assert_eq!(Digit::from_event(16), None);
        assert_eq!(Digit::from_char('E'), None);
    }

    #[test]
    fn parses_sipp_pcap_payloads() {
        let update = parse_event(&[0x01, 0x0A, 0x01, 0x40]).unwrap();
        assert_eq!(
            update,
            TelephoneEvent {
                event: 1,
                end: false,
                volume: 10,
                duration: 320
            }
        );
        let end = parse_event(&[0x01, 0x8A, 0x08, 0xC0]).unwrap();
        assert!(end.end);
        assert_eq!(end.duration, 2240);
    }

    #[test]
    fn reserved_bit_is_ignored_and_extra_bytes_too() {
        let ev = parse_event(&[11, 0x40 | 0x80 | 7, 0, 160, 0xAA, 0xBB]).unwrap();
        assert_eq!(
            (ev.event, ev.end, ev.volume, ev.duration),
            (11, true, 7, 160)
        );
    }

    #[test]
    fn short_payload_is_an_error() {
        assert_eq!(parse_event(&[1, 2, 3]), Err(DtmfError::TooShort { len: 3 }));
    }

    #[test]
    fn write_then_parse_round_trips() {
        let ev = TelephoneEvent {
            event: 15,
            end: true,
            volume: 63,
            duration: 0xFFFF,
        };
        let mut out = [0; 4];
        write_event(&ev, &mut out);
        assert_eq!(parse_event(&out), Ok(ev));
    }

    #[test]
    fn one_key_press_yields_one_digit() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(feed(&mut rx, 13280, &key_press(1)), [Digit::D1]);
    }

    #[test]
    fn replaying_identical_packets_is_a_duplicate() {
        let mut rx = DtmfReceiver::new();
        feed(&mut rx, 13280, &key_press(1));
        assert!(feed(&mut rx, 13280, &key_press(1)).is_empty());
    }

    #[test]
    fn same_key_pressed_again_counts_twice() {
        let mut rx = DtmfReceiver::new();
        let mut digits = feed(&mut rx, 13280, &key_press(5));
        digits.extend(feed(&mut rx, 13280 + 1600, &key_press(5)));
        assert_eq!(digits, [Digit::D5, Digit::D5]);
    }

    #[test]
    fn event_counts_even_if_only_its_end_packets_arrive() {
        let mut rx = DtmfReceiver::new();
        let packets = key_press(11);
        assert_eq!(feed(&mut rx, 500, &packets[7..]), [Digit::Pound]);
    }

    #[test]
    fn late_update_after_the_end_does_not_count_again() {
        let mut rx = DtmfReceiver::new();
        let packets = key_press(3);
        let mut reordered = packets[1..].to_vec();
        reordered.push(packets[0]);
        assert_eq!(feed(&mut rx, 900, &reordered), [Digit::D3]);
    }

    #[test]
    fn interleaved_events_from_two_ssrcs_each_count_once() {
        let mut rx = DtmfReceiver::new();
        let a = key_press(1);
        let b = key_press(2);
        let mut digits = Vec::new();
        for (pa, pb) in a.iter().zip(&b) {
            digits.extend(rx.on_packet(1, 100, pa));
            digits.extend(rx.on_packet(2, 100, pb));
        }
        assert_eq!(digits, [Digit::D1, Digit::D2]);
    }

    #[test]
    fn new_ssrc_with_restarted_timestamps_counts() {
        // SIPp's play_dtmf: a new SSRC per action, timestamps start over.
        let mut rx = DtmfReceiver::new();
        assert_eq!(rx.on_packet(1, 0, &payload(4, false, 0)), Some(Digit::D4));
        assert_eq!(rx.on_packet(2, 0, &payload(4, false, 0)), Some(Digit::D4));
    }

    #[test]
    fn non_dtmf_events_yield_nothing() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(rx.on_packet(SSRC, 1, &payload(16, false, 0)), None);
        assert_eq!(rx.on_packet(SSRC, 1, &payload(16, true, 800)), None);
        assert_eq!(rx.on_packet(SSRC, 1, &[1, 2]), None);
    }

    #[test]
    fn long_event_segments_count_once() {
        let mut rx = DtmfReceiver::new();
        let start = u32::MAX - 1000; // also crosses the timestamp wrap
        assert_eq!(
            rx.on_packet(SSRC, start, &payload(0, false, 160)),
            Some(Digit::D0)
        );
        assert_eq!(rx.on_packet(SSRC, start, &payload(0, false, 0xFFFF)), None);
        let second = start.wrapping_add(0xFFFF);
        assert_eq!(rx.on_packet(SSRC, second, &payload(0, false, 160)), None);
        assert_eq!(rx.on_packet(SSRC, second, &payload(0, true, 800)), None);
    }

    #[test]
    fn later_segment_arriving_first_still_counts_once() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(
            rx.on_packet(SSRC, 0xFFFF, &payload(9, false, 160)),
            Some(Digit::D9)
        );
        assert_eq!(rx.on_packet(SSRC, 0, &payload(9, false, 0xFFFF)), None);
    }

    #[test]
    fn ended_event_followed_8s_later_by_same_key_counts() {
        let mut rx = DtmfReceiver::new();
        feed(&mut rx, 0, &key_press(7));
        assert_eq!(
            rx.on_packet(SSRC, 0xFFFF, &payload(7, false, 0)),
            Some(Digit::D7)
        );
    }

    #[test]
    fn memory_is_bounded_and_many_presses_all_count() {
        let mut rx = DtmfReceiver::new();
        let mut count = 0;
        for i in 0..1000u32 {
            let ts = i * 1600;
            count += feed(&mut rx, ts, &key_press((i % 16) as u8)).len();
        }
        assert_eq!(count, 1000);
        assert!(std::mem::size_of::<DtmfReceiver>() <= 32 * 16 + 16);
    }

    #[test]
    fn dtmf_relay_body_variants_parse() {
        let cases: &[(&[u8], Option<Digit>)] = &[
            (b"Signal=5\r\nDuration=160\r\n", Some(Digit::D5)),
            (b"signal = #\nduration=100", Some(Digit::Pound)),
            (b"Duration=160\r\nSIGNAL= *\r\n", Some(Digit::Star)),
            (b"Signal=10\r\nDuration=160", Some(Digit::Star)),
            (b"Signal=11", Some(Digit::Pound)),
            (b"Signal=a", Some(Digit::A)),
            (b"Signal=16\r\nDuration=160", None),
            (b"Signal=\r\n", None),
            (b"Signal=55", None),
            (b"Duration=160", None),
            (b"", None),
            (b"\xff\xfe=\x00", None),
        ];
        for (body, expected) in cases {
            assert_eq!(
                parse_dtmf_relay(body),
                *expected,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn application_dtmf_body_variants_parse() {
        assert_eq!(parse_application_dtmf(b"5"), Some(Digit::D5));
        assert_eq!(parse_application_dtmf(b" *\r\n"), Some(Digit::Star));
        assert_eq!(parse_application_dtmf(b"#"), Some(Digit::Pound));
        assert_eq!(parse_application_dtmf(b"11"), Some(Digit::Pound));
        assert_eq!(parse_application_dtmf(b"x"), None);
        assert_eq!(parse_application_dtmf(b"123"), None);
        assert_eq!(parse_application_dtmf(b""), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_event(&bytes);
            let _ = parse_dtmf_relay(&bytes);
            let _ = parse_application_dtmf(&bytes);
        }

        #[test]
        fn receiver_never_panics_and_counts_each_identity_at_most_once(
            packets in proptest::collection::vec((0u32..2, 0u32..4, any::<[u8; 4]>()), 0..200)
        ) {
            let mut rx = DtmfReceiver::new();
            let mut digits = std::collections::HashSet::new();
            for (ssrc, ts, mut p) in packets {
                // Few identities (2 SSRCs x 4 timestamps x 4 keys = 32) so none is forgotten.
                p[0] %= 4;
                if rx.on_packet(ssrc, ts, &p).is_some() {
                    prop_assert!(digits.insert((ssrc, ts, p[0])));
                }
            }
        }
    }
}
