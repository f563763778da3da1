//! One caller's media: pacing, RTP headers, digits in the stream, latching, hold, timeouts.

use super::*;

#[test]
fn a_new_call_hears_the_welcome_prompt_paced_one_frame_per_tick() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    let a = assets();
    let welcome = a.prompt(Prompt::Welcome).frames(Law::Mu);
    for frame in &welcome[..5] {
        let sent = b.tick();
        assert_eq!(sent.len(), 1, "one packet per tick");
        assert_eq!(
            sent[0].1,
            SocketAddr::from(([127, 0, 0, 1], 6001)),
            "to the SDP address"
        );
        assert_eq!(payload(&sent[0].2), &frame[..]);
    }
}

#[test]
fn rtp_header_counts_up_by_one_packet_and_160_samples() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    let p1 = b.tick().remove(0).2;
    let p2 = b.tick().remove(0).2;
    let a = rtp::parse(&p1).unwrap();
    let c = rtp::parse(&p2).unwrap();
    assert!(a.marker, "first packet of the stream is marked");
    assert!(!c.marker);
    assert_eq!(c.sequence, a.sequence.wrapping_add(1));
    assert_eq!(c.timestamp, a.timestamp.wrapping_add(160));
    assert_eq!(a.ssrc, c.ssrc);
    assert_eq!(a.payload_type, 0);
}

/// A phone's RFC 4733 packets for `keys`: six per key (the last an end packet), from
/// sequence number 100 on, each key 2,000 timestamp units after the one before.
fn key_packets(keys: &str) -> Vec<Vec<u8>> {
    let mut seq = 100u16;
    let mut packets = Vec::new();
    for (i, key) in keys.chars().enumerate() {
        let ts = 1000 + i as u32 * 2000;
        for n in 0..6u16 {
            packets.push(rfc4733_packet(key, n, seq, ts, 7));
            seq += 1;
        }
    }
    packets
}

/// A PCMU packet of `0xFF` samples with this sequence number, from SSRC `ssrc`.
fn pcmu_packet(seq: u16, ssrc: u8) -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ssrc];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0xFF; 160]);
    p
}

#[test]
fn rfc4733_digits_reach_the_ivr_once_each() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    let caller: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    for pkt in key_packets("42#") {
        b.workers[0].handle_rtp(b.now, CallId(1), caller, &pkt);
        // The end packet is sent three times; duplicates must not count.
        b.workers[0].handle_rtp(b.now, CallId(1), caller, &pkt);
    }
    assert_eq!(b.workers[0].stats().digits, 3);
    let events = b.route();
    assert!(
        matches!(events.as_slice(), [Event::Control(Request::LookupConference { digits, .. })] if digits == "42"),
        "one lookup for 42#"
    );
}

#[test]
fn symmetric_rtp_latches_to_the_first_source_and_ignores_others() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    let real: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    let intruder: SocketAddr = "127.0.0.1:7777".parse().unwrap();
    let pkt = |seq: u16| pcmu_packet(seq, 9);
    b.workers[0].handle_rtp(b.now, CallId(1), real, &pkt(1));
    b.workers[0].handle_rtp(b.now, CallId(1), intruder, &pkt(2));
    assert_eq!(b.workers[0].stats().foreign_packets, 1);
    let sent = b.tick();
    assert_eq!(sent[0].1, real, "sends to where RTP really comes from");
    b.workers[0].handle_rtp(b.now, CallId(1), real, b"\x00garbage");
    assert_eq!(b.workers[0].stats().bad_packets, 1);
}

#[test]
fn a_stale_stream_that_arrives_first_does_not_lock_out_the_caller_the_sdp_named() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    // Call 1's SDP named 127.0.0.1:6001; a stream for a call that used this port before is
    // still arriving, and gets here first.
    let stale: SocketAddr = "127.0.0.1:9999".parse().unwrap();
    let caller: SocketAddr = "127.0.0.1:6001".parse().unwrap();
    b.workers[0].handle_rtp(b.now, CallId(1), stale, &pcmu_packet(1, 3));
    for (n, pkt) in (2u16..).zip(key_packets("42#")) {
        b.workers[0].handle_rtp(b.now, CallId(1), caller, &pkt);
        // The stale stream goes on: now it is the stranger.
        b.workers[0].handle_rtp(b.now, CallId(1), stale, &pcmu_packet(n, 3));
    }
    assert_eq!(b.workers[0].stats().foreign_packets, 18);
    let events = b.route();
    assert!(
        matches!(events.as_slice(), [Event::Control(Request::LookupConference { digits, .. })] if digits == "42"),
        "the caller's keys reach the IVR"
    );
    let sent = b.tick();
    assert_eq!(sent[0].1, caller, "and its audio goes to the caller");
}

#[test]
fn key_events_in_the_audio_stream_are_not_counted_as_lost_audio() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    let from = SocketAddr::from(([127, 0, 0, 1], 7001));
    let packet = |pt: u8, seq: u16, body: &[u8]| {
        let mut p = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(body);
        p
    };
    let mut event = [0u8; 4];
    write_event(
        &TelephoneEvent {
            event: 5,
            end: false,
            volume: 10,
            duration: 160,
        },
        &mut event,
    );
    for seq in 0..20u16 {
        let p = if (5..12).contains(&seq) {
            packet(101, seq, &event)
        } else {
            packet(0, seq, &[0xFF; 160])
        };
        b.workers[0].handle_rtp(b.now, CallId(1), from, &p);
    }
    assert_eq!(b.workers[0].stats().packets_lost, 0);
    // A real gap still counts.
    let p = packet(0, 25, &[0xFF; 160]);
    b.workers[0].handle_rtp(b.now, CallId(1), from, &p);
    assert_eq!(b.workers[0].stats().packets_lost, 5);
}

#[test]
fn a_call_without_rtp_is_hung_up_after_the_timeout() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    b.join(1, false);
    b.route();
    for _ in 0..(60_000 / 20 - 2) {
        b.tick();
    }
    assert!(b.route().is_empty(), "not before 60 s");
    for _ in 0..10 {
        b.tick();
    }
    let events = b.route();
    assert!(
        matches!(
            events.as_slice(),
            [Event::Control(Request::Hangup {
                reason: HangupReason::RtpTimeout,
                ..
            })]
        ),
        "exactly one hangup, got {} events",
        events.len()
    );
    assert_eq!(
        b.workers[0].meeting_sizes("123456789"),
        None,
        "left the lobby at once"
    );
}

#[test]
fn a_call_on_hold_sends_nothing() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    let mut held = params(6001);
    held.direction = Direction::RecvOnly;
    b.command(
        1,
        Command::Update {
            call: CallId(1),
            params: held,
        },
    );
    assert!(b.tick().is_empty());
    b.command(
        1,
        Command::Update {
            call: CallId(1),
            params: params(6001),
        },
    );
    let sent = b.tick();
    assert!(rtp::parse(&sent[0].2).unwrap().marker, "marker after hold");
}

#[test]
fn a_worker_with_the_same_seed_replays_a_call_byte_for_byte_headers_included() {
    let run = || {
        let mut b = Bench::new(1);
        b.start(0, 1);
        (0..5)
            .flat_map(|_| b.tick())
            .map(|(_, _, packet)| packet)
            .collect::<Vec<_>>()
    };
    let (first, second) = (run(), run());
    assert_eq!(first.len(), 5);
    assert_eq!(first, second);
}

/// An SRTP call: the phone's and our keys, and the phone's own contexts.
fn srtp_call(b: &mut Bench, id: u64) -> (SrtpSession, SrtpSession) {
    let suite = SrtpSuite::AesCm128HmacSha1_80;
    let ours = MasterKey::from_bytes(suite, &[1; 30]).unwrap();
    let phones = MasterKey::from_bytes(suite, &[2; 30]).unwrap();
    let keys = SrtpKeys {
        local: ours.clone(),
        remote: phones.clone(),
        remote_mki_len: 0,
    };
    b.workers[0].handle_command(
        b.now,
        Command::Start {
            call: CallId(id),
            transport: id as u32,
            sip_call_id: format!("c{id}"),
            from: format!("sip:srtp{id}@example.net"),
            params: Negotiated {
                srtp: Some(keys),
                ..params(6000 + id as u16)
            },
            entry: crate::engine::Entry::Ivr,
        },
    );
    let phone = SrtpKeys {
        local: phones,
        remote: ours,
        remote_mki_len: 0,
    };
    (
        SrtpSession::new(&phone).unwrap(),
        SrtpSession::new(&phone).unwrap(),
    )
}

#[test]
fn an_srtp_call_hears_its_prompt_encrypted_and_its_keys_work_once() {
    let mut b = Bench::new(1);
    let (mut phone_out, mut phone_in) = srtp_call(&mut b, 1);
    let a = assets();
    let welcome = a.prompt(Prompt::Welcome).frames(Law::Mu);
    for frame in &welcome[..3] {
        let sent = b.tick();
        assert_eq!(sent.len(), 1);
        let wire = &sent[0].2;
        assert_ne!(payload(wire).get(..160), Some(&frame[..]), "not in clear");
        let plain = phone_in
            .unprotect_rtp(wire)
            .expect("the phone's keys open it");
        assert_eq!(payload(&plain), &frame[..]);
    }
    assert_eq!(b.workers[0].stats().srtp_calls, 1);

    // Digits typed as RFC 4733 events in SRTP reach the IVR; a plain copy does not.
    let caller: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    let mut seq = 100u16;
    for (i, key) in "42#".chars().enumerate() {
        for n in 0..6u16 {
            let pkt = rfc4733_packet(key, n, seq, 1000 + i as u32 * 2000, 7);
            seq += 1;
            b.workers[0].handle_rtp(b.now, CallId(1), caller, &pkt);
            let protected = phone_out.protect_rtp(&pkt).unwrap();
            b.workers[0].handle_rtp(b.now, CallId(1), caller, &protected);
            // The same packet again: a replay, dropped and counted.
            b.workers[0].handle_rtp(b.now, CallId(1), caller, &protected);
        }
    }
    let stats = b.workers[0].stats();
    assert_eq!(stats.digits, 3, "each key once");
    assert_eq!(stats.srtp_replayed, 18);
    assert_eq!(
        stats.srtp_unauthentic + stats.srtp_malformed,
        18,
        "the plain copies (too short to carry a tag) are dropped"
    );
    let unauthentic = stats.srtp_unauthentic;
    assert!(matches!(
        b.route().as_slice(),
        [Event::Control(Request::LookupConference { digits, .. })] if digits == "42"
    ));

    // A tampered packet is dropped unheard and counted.
    let mut tampered = phone_out
        .protect_rtp(&rfc4733_packet('9', 0, seq, 9000, 7))
        .unwrap()
        .to_vec();
    tampered[14] ^= 0x40;
    b.workers[0].handle_rtp(b.now, CallId(1), caller, &tampered);
    assert_eq!(b.workers[0].stats().srtp_unauthentic, unauthentic + 1);
    assert_eq!(b.workers[0].stats().digits, 3);
}

#[test]
fn a_re_invite_to_a_new_address_is_followed_and_stragglers_from_the_old_one_do_not_undo_it() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    let first: SocketAddr = "127.0.0.1:6001".parse().unwrap();
    let moved: SocketAddr = "127.0.0.1:7001".parse().unwrap();
    b.workers[0].handle_rtp(b.now, CallId(1), first, &pcmu_packet(1, 9));
    assert_eq!(b.tick()[0].1, first);
    b.command(
        1,
        Command::Update {
            call: CallId(1),
            params: params(7001),
        },
    );
    // A packet sent before the move arrives after it: ignored, the new address kept.
    b.workers[0].handle_rtp(b.now, CallId(1), first, &pcmu_packet(2, 9));
    assert_eq!(b.workers[0].stats().foreign_packets, 1);
    assert_eq!(b.tick()[0].1, moved, "RTP goes to the re-INVITE's address");
    // The new stream latches; the old address is foreign from then on.
    b.workers[0].handle_rtp(b.now, CallId(1), moved, &pcmu_packet(3, 9));
    b.workers[0].handle_rtp(b.now, CallId(1), first, &pcmu_packet(4, 9));
    assert_eq!(b.tick()[0].1, moved);
}

#[test]
fn after_a_re_invite_a_caller_that_goes_on_sending_from_the_old_address_is_followed_there() {
    // Behind NAT the new SDP address may be unreachable while the caller's stream still
    // comes from its old public address: once the straggler window is over, symmetric RTP
    // wins again.
    let mut b = Bench::new(1);
    b.start(0, 1);
    let public: SocketAddr = "127.0.0.1:6001".parse().unwrap();
    b.workers[0].handle_rtp(b.now, CallId(1), public, &pcmu_packet(1, 9));
    b.command(
        1,
        Command::Update {
            call: CallId(1),
            params: params(7001),
        },
    );
    b.now += super::super::caller::STRAGGLER_WINDOW;
    b.workers[0].handle_rtp(b.now, CallId(1), public, &pcmu_packet(2, 9));
    assert_eq!(b.tick()[0].1, public);
}
