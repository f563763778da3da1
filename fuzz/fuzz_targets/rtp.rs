//! The RTP reader (`media::rtp::parse`), sequence tracking (`SeqTracker`) and the jitter
//! buffer (`media::jitter`), fed a stream of packets and 20 ms ticks the way a media worker
//! handles one call (PCMU at PT 0 into the jitter buffer, PT 101 to the DTMF receiver).
//!
//! Input: records `[tag, ...]`:
//! - `tag % 4 == 0`: a raw datagram, `len` (2 bytes BE) then `len` bytes;
//! - `tag % 4 == 1`: `tag / 4 + 1` ticks (the mixer pops one frame each);
//! - `tag % 4 == 2`: a packet we build, 8 bytes `[flags, pt, seq delta (2), ts delta (2),
//!   payload length, ssrc]`: flags bit 0 marker, bit 1 padding, bit 2 extension, bits 3-6
//!   CSRC count; the reader must give back exactly what was built;
//! - `tag % 4 == 3`: a packet from `RtpSender`, 3 bytes `[pt, payload length, advance]`,
//!   which must read back too.
//!
//! Checked: `lost()` never negative and never more received than expected; the buffer holds
//! at most 16 frames and plays each frame as it was pushed, in rising sequence order.
#![no_main]

use std::collections::HashMap;

use dialbridge::media::dtmf::DtmfReceiver;
use dialbridge::media::jitter::JitterBuffer;
use dialbridge::media::rtp::{self, RTP_HEADER_LEN, RtpSender, SeqTracker, SeqUpdate};
use libfuzzer_sys::fuzz_target;

const AUDIO_PT: u8 = 0;
const EVENT_PT: u8 = 101;
const SSRCS: [u32; 4] = [0x0E05_384E, 0x1234_5678, 0, u32::MAX];
/// Marks payloads we built, so a played frame can be traced back to its push.
const MAGIC: [u8; 2] = *b"JB";

struct Call {
    seq: SeqTracker,
    jitter: JitterBuffer,
    dtmf: DtmfReceiver,
    /// Frame id -> (epoch, extended sequence, payload as stored), for frames we built.
    pushed: HashMap<u32, (u32, u64, Vec<u8>)>,
    /// Bumped whenever the worker resets the buffer (sender restart).
    epoch: u32,
    last_played: Option<(u32, u64)>,
    /// False once a raw datagram (whose payload could imitate our ids) reached the buffer.
    model: bool,
    next_id: u32,
    /// Sequence number and timestamp of the last packet we built.
    built_seq: u16,
    built_ts: u32,
}

fuzz_target!(|data: &[u8]| {
    let mut call = Call {
        seq: SeqTracker::new(),
        jitter: JitterBuffer::new(usize::from(data.first().copied().unwrap_or(2) % 10)),
        dtmf: DtmfReceiver::new(),
        pushed: HashMap::new(),
        epoch: 0,
        last_played: None,
        model: true,
        next_id: 0,
        built_seq: 0xFFF0,
        built_ts: 0,
    };
    let mut sender = RtpSender::new(0x5EED_0001, 0xFFFE, 0xFFFF_FF00);
    let mut rest = data.get(1..).unwrap_or_default();
    while let Some((&tag, after)) = rest.split_first() {
        rest = after;
        match tag % 4 {
            0 => {
                let Some((len, after)) = rest.split_first_chunk::<2>() else {
                    break;
                };
                let len = usize::from(u16::from_be_bytes(*len)).min(after.len());
                let (datagram, after) = after.split_at(len);
                rest = after;
                receive(&mut call, datagram, None);
            }
            1 => {
                for _ in 0..=(tag >> 2) {
                    tick(&mut call);
                }
            }
            2 => {
                let Some((params, after)) = rest.split_first_chunk::<8>() else {
                    break;
                };
                rest = after;
                build_and_receive(&mut call, params);
            }
            _ => {
                let Some((&[pt, len, advance], after)) = rest.split_first_chunk::<3>() else {
                    break;
                };
                rest = after;
                let payload = vec![0xD5; usize::from(len)];
                let mut buf = [0u8; RTP_HEADER_LEN + 256];
                let expected_seq = sender.sequence();
                match sender.write(pt, &payload, &mut buf) {
                    // RFC 5761 §4: with the marker set, types 64-95 look like RTCP 192-223 on a
                    // shared port, which is why RTP must not use them there.
                    Some(n) if (192..=223).contains(&buf[1]) => {
                        assert!(matches!(
                            rtp::parse(&buf[..n]),
                            Err(rtp::RtpError::Rtcp { .. })
                        ));
                    }
                    Some(n) => {
                        assert!(pt < 128);
                        let packet = rtp::parse(&buf[..n]).expect("our own packet reads back");
                        assert_eq!(packet.payload_type, pt);
                        assert_eq!(packet.sequence, expected_seq);
                        assert_eq!(packet.ssrc, sender.ssrc());
                        assert_eq!(packet.payload, &payload[..]);
                        assert_eq!(sender.sequence(), expected_seq.wrapping_add(1));
                    }
                    None => assert!(pt >= 128, "write refused a valid packet"),
                }
                sender.advance(u32::from(advance) * 8);
            }
        }
    }
});

/// Builds a valid packet from `params` by hand and checks the reader gives it back.
fn build_and_receive(call: &mut Call, params: &[u8; 8]) {
    let [flags, pt, s0, s1, t0, t1, len, ssrc] = *params;
    let marker = flags & 0x01 != 0;
    let padding = flags & 0x02 != 0;
    let extension = flags & 0x04 != 0;
    let csrc_count = (flags >> 3) & 0x0F;
    let pt = if pt & 0x80 != 0 { EVENT_PT } else { AUDIO_PT };
    call.built_seq = call
        .built_seq
        .wrapping_add(i16::from_be_bytes([s0, s1]) as u16);
    call.built_ts = call
        .built_ts
        .wrapping_add(u32::from(u16::from_be_bytes([t0, t1])));
    let ssrc = SSRCS[usize::from(ssrc) % SSRCS.len()];

    let id = call.next_id;
    call.next_id += 1;
    let mut payload: Vec<u8> = MAGIC.iter().copied().chain(id.to_be_bytes()).collect();
    payload.resize(usize::from(len).max(payload.len()), 0xFF);
    if pt == EVENT_PT {
        payload.truncate(usize::from(len));
    }

    let mut packet = vec![
        0x80 | (u8::from(padding) << 5) | (u8::from(extension) << 4) | csrc_count,
        (u8::from(marker) << 7) | pt,
    ];
    packet.extend_from_slice(&call.built_seq.to_be_bytes());
    packet.extend_from_slice(&call.built_ts.to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    for i in 0..u32::from(csrc_count) {
        packet.extend_from_slice(&(0xC500 + i).to_be_bytes());
    }
    if extension {
        let words = u16::from(len & 0x03);
        packet.extend_from_slice(&[0xBE, 0xDE]);
        packet.extend_from_slice(&words.to_be_bytes());
        packet.extend(std::iter::repeat_n(0xAB, usize::from(words) * 4));
    }
    packet.extend_from_slice(&payload);
    if padding {
        let count = (len >> 2) % 8 + 1;
        packet.extend(std::iter::repeat_n(0, usize::from(count) - 1));
        packet.push(count);
    }

    let read = match rtp::parse(&packet) {
        Ok(p) => p,
        Err(e) => panic!("a well-formed packet was refused ({e}): {packet:02x?}"),
    };
    assert_eq!(read.payload_type, pt);
    assert_eq!(read.marker, marker);
    assert_eq!(read.sequence, call.built_seq);
    assert_eq!(read.timestamp, call.built_ts);
    assert_eq!(read.ssrc, ssrc);
    assert_eq!(read.payload, &payload[..], "payload of {packet:02x?}");
    let traced = (pt == AUDIO_PT && payload.len() >= 6).then_some(id);
    receive(call, &packet, traced);
}

/// What a media worker does with one datagram on a call's port.
fn receive(call: &mut Call, datagram: &[u8], id: Option<u32>) {
    let Ok(packet) = rtp::parse(datagram) else {
        return;
    };
    // The payload lies inside the datagram, after the fixed header.
    let start = packet.payload.as_ptr() as usize - datagram.as_ptr() as usize;
    assert!(start >= RTP_HEADER_LEN && start + packet.payload.len() <= datagram.len());
    assert!(packet.payload_type < 128);

    if packet.payload_type == EVENT_PT {
        let _ = call
            .dtmf
            .on_packet(packet.ssrc, packet.timestamp, packet.payload);
        return;
    }
    if packet.payload_type != AUDIO_PT {
        return;
    }
    let extended = match call.seq.update(packet.ssrc, packet.sequence) {
        SeqUpdate::New { extended } | SeqUpdate::Reordered { extended } => extended,
        SeqUpdate::Restarted { extended } => {
            call.jitter.reset();
            call.epoch += 1;
            call.last_played = None;
            extended
        }
        SeqUpdate::Duplicate | SeqUpdate::TooOld => return,
    };
    assert!(call.seq.lost() >= 0, "lost went negative");
    assert!(call.seq.received() <= call.seq.expected());
    call.jitter.push(extended, packet.payload);
    assert!(call.jitter.len() <= 16);
    match id {
        Some(id) => {
            let stored = &packet.payload[..packet.payload.len().min(160)];
            call.pushed
                .insert(id, (call.epoch, extended, stored.to_vec()));
        }
        None if !packet.payload.is_empty() => call.model = false,
        None => {}
    }
}

/// One 20 ms tick: the mixer takes a frame.
fn tick(call: &mut Call) {
    let mut out = [0u8; 160];
    let before = call.jitter.len();
    let Some(len) = call.jitter.pop(&mut out).frame() else {
        return;
    };
    assert!((1..=160).contains(&len));
    assert!(
        call.jitter.len() < before,
        "a frame was played but not removed"
    );
    if !call.model || len < 6 || out[..2] != MAGIC {
        return;
    }
    let id = u32::from_be_bytes([out[2], out[3], out[4], out[5]]);
    let Some((epoch, extended, stored)) = call.pushed.get(&id) else {
        panic!("played frame {id} was never pushed");
    };
    assert_eq!(&out[..len], &stored[..], "frame {id} changed in the buffer");
    assert_eq!(
        *epoch, call.epoch,
        "frame {id} played after the buffer was reset"
    );
    if let Some((e, last)) = call.last_played
        && e == call.epoch
    {
        assert!(*extended > last, "frame {extended} played after {last}");
    }
    call.last_played = Some((call.epoch, *extended));
}
