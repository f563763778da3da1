//! RFC 4733 telephone-event decoding (`media::dtmf`): the 4-byte payload reader and writer,
//! and `DtmfReceiver` fed a stream of events with chosen SSRCs, timestamps, codes, end bits
//! and durations, each packet sent one to three times (retransmitted ends, duplicates).
//!
//! Input: 9-byte records `[mode, ssrc, ts (4 bytes BE), event, flags, duration-lo]` where
//! `mode` bits 0-1 repeat the packet, bit 2 shifts the timestamp by nearly 0xFFFF (a long
//! event's next segment), bits 4-5 cut the payload short when bit 7 is set, and the duration
//! high byte is `ssrc` (so one byte picks both).
//!
//! Checked against a model of the receiver's documented memory (the last 32 event
//! identities, identity = SSRC + timestamp + event code):
//! - a packet of a remembered identity never yields a digit (duplicates, updates, ends);
//! - a new identity with no remembered event of the same SSRC and code always yields one
//!   (only a long event's continuation may be silent, and it needs an earlier segment);
//! - a digit is the key of the packet's event code.
#![no_main]

use std::collections::VecDeque;

use dialbridge::media::dtmf::{Digit, DtmfReceiver, TelephoneEvent, parse_event, write_event};
use libfuzzer_sys::fuzz_target;

/// The receiver's documented memory.
const HISTORY: usize = 32;

const SSRCS: [u32; 4] = [0x0E05_384E, 0x1234_5678, 0, u32::MAX];

fuzz_target!(|data: &[u8]| {
    let mut rx = DtmfReceiver::new();
    let mut remembered: VecDeque<(u32, u32, u8)> = VecDeque::with_capacity(HISTORY);
    let mut base_ts: u32 = 0;
    for record in data.chunks_exact(9) {
        let &[mode, ssrc, t0, t1, t2, t3, event, flags, dur_lo] = record else {
            continue;
        };
        let ssrc = SSRCS[usize::from(ssrc) % SSRCS.len()];
        base_ts = if mode & 0x04 != 0 {
            base_ts.wrapping_add(0xFFFF - u32::from(t3 & 0x0F))
        } else {
            u32::from_be_bytes([t0, t1, t2, t3])
        };
        let timestamp = base_ts;
        let full = [event, flags, record[1], dur_lo];
        let payload: &[u8] = if mode & 0x80 != 0 {
            &full[..usize::from((mode >> 4) & 0x03)]
        } else {
            &full
        };
        check_codec(payload);

        let identity = (ssrc, timestamp, event);
        let digit_event = payload.len() >= 4 && Digit::from_event(event).is_some();
        let known = remembered.contains(&identity);
        let same_stream = remembered.iter().any(|&(s, _, e)| s == ssrc && e == event);
        let got = rx.on_packet(ssrc, timestamp, payload);
        if let Some(digit) = got {
            assert!(digit_event, "a digit from a non-DTMF or short payload");
            assert_eq!(Some(digit), Digit::from_event(event));
            assert!(!known, "event {identity:?} counted twice");
        }
        if digit_event && !known {
            assert!(
                got.is_some() || same_stream,
                "new event {identity:?} yielded no digit and is no continuation"
            );
            if remembered.len() == HISTORY {
                remembered.pop_front();
            }
            remembered.push_back(identity);
        }
        for _ in 0..(mode & 0x03) {
            assert_eq!(
                rx.on_packet(ssrc, timestamp, payload),
                None,
                "a repeated packet of {identity:?} yielded a digit"
            );
        }
    }
});

/// `write_event` of a parsed payload gives the payload back, reserved R bit cleared.
fn check_codec(payload: &[u8]) {
    match parse_event(payload) {
        Ok(ev) => {
            assert!(payload.len() >= 4);
            assert!(ev.volume <= 63);
            let mut out = [0u8; 4];
            write_event(&ev, &mut out);
            let mut want = [0u8; 4];
            want.copy_from_slice(&payload[..4]);
            want[1] &= !0x40;
            assert_eq!(out, want);
            let again: TelephoneEvent = parse_event(&out).expect("4 bytes always parse");
            assert_eq!(again, ev);
        }
        Err(e) => {
            assert!(payload.len() < 4);
            let _ = e.to_string();
        }
    }
}
