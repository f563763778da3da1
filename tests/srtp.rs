//! SRTP end to end: real softphones over SIP/TLS with mandatory SDES-SRTP meet a plain-RTP
//! phone in one meeting, and a capture of the whole meeting shows that nothing anyone could
//! use crossed the wire in clear from the SRTP phones: no SIP on the TLS port, no tone and no
//! typed key in their RTP. Replayed and tampered SRTP packets are dropped and counted, and
//! `--srtp require` refuses plain offers.
//!
//! The meeting test runs the bridge, the phones and tcpdump in a network namespace of its own
//! with only loopback (see `support/netns.rs`).

#[path = "support/netns.rs"]
mod netns;
#[path = "support/pcap.rs"]
mod pcap;
#[path = "support/recording.rs"]
mod recording;
#[path = "support/softphone.rs"]
mod softphone;
mod support;
#[path = "support/tls.rs"]
mod tls;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dialbridge::media::codec::{Codec, Law, WIDE_SAMPLES_PER_FRAME};
use dialbridge::media::g711;
use dialbridge::media::g722::G722;
use netns::run_isolated;
use pcap::{Packet, Proto};
use recording::{RATE, share_with_tone, tone_db};
use softphone::{Baresip, Linphonec, microphone};
use support::phone::Phone;
use support::{Bridge, BridgeOptions};

/// The longest the meeting test may take in its namespace.
const LIMIT: Duration = Duration::from_secs(150);

/// The bridge's RTP ports in the meeting test: packets to or from them are media.
const RTP_FIRST: u16 = 30_000;
const RTP_LAST: u16 = 30_198;

/// Each participant's microphone tone.
const ORGANIZER_TONE: f32 = 440.0;
const SRTP_ATTENDEE_TONE: f32 = 1000.0;
const PLAIN_TONE: f32 = 700.0;

/// baresip talks G.722 (16 kHz), linphonec resamples what it plays.
const WIDEBAND: usize = 16_000;

/// tcpdump on loopback, writing every UDP and TCP packet to `path` as it comes (`-U`).
struct Capture {
    child: Child,
}

impl Capture {
    fn start(path: &Path) -> Capture {
        let child = Command::new("tcpdump")
            .args(["-i", "lo", "-n", "-U", "-s", "0", "-w"])
            .arg(path)
            .args(["udp", "or", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run tcpdump (Debian tcpdump, installed by test.sh)");
        let deadline = Instant::now() + Duration::from_secs(10);
        // The file header is written once the capture is open.
        while std::fs::metadata(path).map_or(0, |m| m.len()) < 24 {
            assert!(Instant::now() < deadline, "tcpdump did not start capturing");
            std::thread::sleep(Duration::from_millis(20));
        }
        Capture { child }
    }

    fn stop(mut self) {
        // SAFETY: kill(2) on our own child's pid, which is not reaped yet.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_bridge_rtp(addr: SocketAddr) -> bool {
    (RTP_FIRST..=RTP_LAST).contains(&addr.port())
}

/// RTP fields of a datagram: payload type, sequence, timestamp, payload (after CSRCs and any
/// header extension; the SRTP tag, if any, stays at the end of the payload).
fn rtp_fields(d: &[u8]) -> Option<(u8, u16, u32, &[u8])> {
    if d.len() < 12 || d[0] >> 6 != 2 || (192..=223).contains(&d[1]) {
        return None;
    }
    let mut at = 12 + usize::from(d[0] & 0x0f) * 4;
    if d[0] & 0x10 != 0 {
        let words = usize::from(u16::from_be_bytes([*d.get(at + 2)?, *d.get(at + 3)?]));
        at += 4 + words * 4;
    }
    Some((
        d[1] & 0x7f,
        u16::from_be_bytes([d[2], d[3]]),
        u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
        d.get(at..)?,
    ))
}

/// What one direction of one RTP flow carries, decoded as if it were plain RTP: 8 kHz audio
/// and the keys its RFC 4733 events name (one per event, by timestamp).
#[derive(Default)]
struct Decoded {
    audio: Vec<i16>,
    keys: String,
    packets: usize,
}

fn decode_flow(packets: &[&Packet], telephone_event: u8, tag_len: usize) -> Decoded {
    let mut out = Decoded::default();
    let mut g722 = G722::new();
    let mut last_event_ts = None;
    for p in packets {
        let Some((pt, _, ts, payload)) = rtp_fields(&p.payload) else {
            continue;
        };
        out.packets += 1;
        let payload = &payload[..payload.len().saturating_sub(tag_len)];
        match pt {
            0 | 8 => {
                let law = if pt == 0 { Law::Mu } else { Law::A };
                let mut pcm = vec![0i16; payload.len()];
                g711::decode(law, payload, &mut pcm);
                out.audio.extend(pcm);
            }
            9 => {
                let mut wide = [0i16; WIDE_SAMPLES_PER_FRAME];
                let n = g722.decode(payload, &mut wide);
                out.audio.extend(wide[..n].iter().step_by(2));
            }
            pt if pt == telephone_event && Some(ts) != last_event_ts => {
                last_event_ts = Some(ts);
                if let Some(&event) = payload.first() {
                    out.keys.push(match event {
                        0..=9 => char::from(b'0' + event),
                        10 => '*',
                        11 => '#',
                        _ => '?',
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// Checks what a participant heard: both others' tones nearly all the time, its own far below.
fn assert_hears_both_others(who: &str, heard: &[i16], others: [f32; 2], own: f32) {
    let own_db = tone_db(heard, own);
    for other in others {
        let share = share_with_tone(heard, other);
        let other_db = tone_db(heard, other);
        println!(
            "{who}: {other} Hz in {:.0} % of blocks at {other_db:.1} dB; own {own} Hz at {own_db:.1} dB",
            share * 100.0
        );
        assert!(
            share >= 0.9,
            "{who} hears {other} Hz in only {:.0} % of the meeting",
            share * 100.0
        );
        assert!(
            own_db <= other_db - 30.0,
            "{who} hears itself: own {own_db:.1} dB vs {other_db:.1} dB"
        );
    }
}

#[test]
fn srtp_softphones_and_a_plain_phone_meet_and_nothing_readable_crosses_the_wire() {
    run_isolated(
        "srtp_softphones_and_a_plain_phone_meet_and_nothing_readable_crosses_the_wire",
        LIMIT,
        || {
            let work = tempfile::tempdir().expect("tempdir");
            let ca = tls::TestCa::new(work.path(), "bridge");
            let tls_addr = tls::free_tcp_addr();
            let options = BridgeOptions {
                http: true,
                rtp_ports: Some(format!("{RTP_FIRST}-{RTP_LAST}")),
                extra: tls::tls_flags(tls_addr, &ca.server("bridge")),
                ..BridgeOptions::default()
            };
            let (bridge, orgs) = Bridge::start(&["Ada Lovelace"], options);
            let org = &orgs[0];
            let capture_path = work.path().join("meeting.pcap");
            let capture = Capture::start(&capture_path);

            // linphonec over TLS with SRTP waits in the lobby.
            let mut attendee = Linphonec::start_tls_srtp(
                "attendee",
                &microphone(work.path(), Some(SRTP_ATTENDEE_TONE), RATE),
                &ca.cert_path(),
            );
            let attendee_start = attendee.dial(tls_addr);
            attendee.send_digits(&format!("{}##", org.conference_id));
            // A plain phone (UDP, RTP) waits too.
            let mut plain = Phone::new(bridge.sip, Codec::Pcmu, Some(PLAIN_TONE));
            plain.call();
            plain.send_digits(&format!("{}##", org.conference_id));
            bridge.wait_log("waiting in the lobby", 2, Duration::from_secs(40));
            // baresip over TLS with mandatory SRTP, on G.722, is the organizer.
            let mut organizer = Baresip::start_tls_srtp(
                "organizer",
                &microphone(work.path(), Some(ORGANIZER_TONE), WIDEBAND),
                &ca.cert_path(),
            );
            let organizer_start = organizer.dial(tls_addr);
            let organizer_keys = format!("{}#*{}#", org.conference_id, org.pin);
            organizer.send_digits(&organizer_keys);
            let started = bridge.wait_log(
                "meeting started; lobby moved in",
                1,
                Duration::from_secs(30),
            );
            assert_eq!(
                support::settle(
                    Duration::from_secs(3),
                    || bridge.expect_metric("dialbridge_srtp_calls", &[]),
                    |n| *n == 2
                ),
                2,
                "two SRTP calls"
            );
            let plain_rtp = plain.rtp_addr().expect("the plain phone's RTP address");

            // Replay an SRTP phone's packet and send a tampered one (a new sequence number:
            // past the replay check, failing authentication), from an address of our own.
            let so_far = pcap::read(&capture_path);
            let srtp_packet = so_far
                .iter()
                .rev()
                .find(|p| {
                    p.proto == Proto::Udp
                        && is_bridge_rtp(p.dst)
                        && p.src != plain_rtp
                        && rtp_fields(&p.payload).is_some()
                })
                .expect("an SRTP packet from a phone to the bridge in the capture")
                .clone();
            let attacker = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let mut tampered = srtp_packet.payload.clone();
            let seq = u16::from_be_bytes([tampered[2], tampered[3]]).wrapping_add(3000);
            tampered[2..4].copy_from_slice(&seq.to_be_bytes());
            let (replay0, auth0) = (
                bridge.expect_metric("dialbridge_srtp_dropped_total", &["reason=\"replay\""]),
                bridge.expect_metric("dialbridge_srtp_dropped_total", &["reason=\"auth\""]),
            );
            for _ in 0..5 {
                attacker
                    .send_to(&srtp_packet.payload, srtp_packet.dst)
                    .unwrap();
                attacker.send_to(&tampered, srtp_packet.dst).unwrap();
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while bridge.expect_metric("dialbridge_srtp_dropped_total", &["reason=\"auth\""])
                < auth0 + 5
            {
                assert!(Instant::now() < deadline, "tampered packets not counted");
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(
                bridge.expect_metric("dialbridge_srtp_dropped_total", &["reason=\"replay\""])
                    >= replay0 + 5,
                "replayed packets counted"
            );

            let from = started + Duration::from_millis(2500);
            let to = from + Duration::from_secs(2);
            std::thread::sleep(
                to.saturating_duration_since(Instant::now()) + Duration::from_millis(300),
            );
            let organizer_heard = organizer.hang_up();
            let attendee_heard = attendee.hang_up();
            let plain_heard: Vec<i16> = plain
                .heard()
                .iter()
                .filter(|h| h.at >= from && h.at < to)
                .flat_map(|h| h.pcm(Codec::Pcmu))
                .collect();
            plain.hangup();
            std::thread::sleep(Duration::from_millis(300));
            capture.stop();

            let log = bridge.log_text();
            let moved = log
                .lines()
                .find(|l| l.contains("meeting started; lobby moved in"))
                .unwrap_or_default();
            assert!(
                moved.ends_with(" moved=2"),
                "both waiting callers moved in: {moved}"
            );
            assert_hears_both_others(
                "baresip (SRTP, G.722, organizer)",
                organizer_heard.between(organizer_start, from, to),
                [SRTP_ATTENDEE_TONE, PLAIN_TONE],
                ORGANIZER_TONE,
            );
            assert_hears_both_others(
                "linphonec (SRTP)",
                attendee_heard.between(attendee_start, from, to),
                [ORGANIZER_TONE, PLAIN_TONE],
                SRTP_ATTENDEE_TONE,
            );
            assert_hears_both_others(
                "plain phone (RTP)",
                &plain_heard,
                [ORGANIZER_TONE, SRTP_ATTENDEE_TONE],
                PLAIN_TONE,
            );

            check_capture(
                &pcap::read(&capture_path),
                tls_addr,
                bridge.sip,
                plain_rtp,
                org,
            );

            // The phones log their SIP, both sides' keys included; the bridge's debug log holds
            // none of them.
            let keys: Vec<String> = sdes_keys(&organizer.log())
                .into_iter()
                .chain(sdes_keys(&attendee.log()))
                .collect();
            assert!(
                keys.len() >= 4,
                "the phones' logs show both sides' keys: {}",
                keys.len()
            );
            let log = bridge.log_text();
            assert!(
                keys.iter().all(|k| !log.contains(k.as_str())),
                "an SRTP key is in the bridge's log"
            );
        },
    );
}

/// The `inline:` key material of every `a=crypto` line in a phone's SIP trace.
fn sdes_keys(log: &str) -> Vec<String> {
    log.match_indices("inline:")
        .filter_map(|(at, _)| {
            let key: String = log[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
                .collect();
            (key.len() >= 16).then_some(key)
        })
        .collect()
}

/// What the capture must and must not show.
fn check_capture(
    packets: &[Packet],
    tls_addr: SocketAddr,
    sip: SocketAddr,
    plain_rtp: SocketAddr,
    org: &support::OrganizerInfo,
) {
    // SIP over TLS: bytes went both ways, none of them readable SIP.
    let tls: Vec<u8> = packets
        .iter()
        .filter(|p| p.proto == Proto::Tcp && (p.src == tls_addr || p.dst == tls_addr))
        .flat_map(|p| p.payload.clone())
        .collect();
    assert!(
        tls.len() > 2000,
        "TLS traffic captured ({} bytes)",
        tls.len()
    );
    for needle in ["SIP/2.0", "INVITE", "a=crypto", "RTP/SAVP", "inline:"] {
        assert!(
            !tls.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle:?} readable on the TLS port"
        );
    }
    // The control: the plain phone's SIP is readable, so the capture does see cleartext.
    let plain_sip = packets
        .iter()
        .filter(|p| p.proto == Proto::Udp && (p.src == sip || p.dst == sip))
        .any(|p| p.payload.starts_with(b"INVITE "));
    assert!(plain_sip, "the plain phone's INVITE is in the capture");

    // RTP: group by flow (sender, receiver) on the bridge's media ports.
    let mut flows: std::collections::BTreeMap<(SocketAddr, SocketAddr), Vec<&Packet>> =
        Default::default();
    for p in packets {
        if p.proto == Proto::Udp && (is_bridge_rtp(p.src) || is_bridge_rtp(p.dst)) {
            flows.entry((p.src, p.dst)).or_default().push(p);
        }
    }
    let tones = [ORGANIZER_TONE, SRTP_ATTENDEE_TONE, PLAIN_TONE];
    let mut srtp_flows = 0;
    for ((src, dst), flow) in &flows {
        let plain_flow = *src == plain_rtp || *dst == plain_rtp;
        let decoded = decode_flow(flow, 101, if plain_flow { 0 } else { 10 });
        if decoded.packets < 50 {
            continue; // the test's own replayed and tampered packets
        }
        if plain_flow {
            if *src == plain_rtp {
                // The control: the plain phone's tone and keys are readable on the wire.
                assert!(
                    share_with_tone(&decoded.audio, PLAIN_TONE) > 0.5,
                    "plain tone"
                );
                assert!(
                    decoded.keys.contains(&org.conference_id),
                    "the plain phone's keys are readable: {:?}",
                    decoded.keys
                );
            }
            continue;
        }
        srtp_flows += 1;
        for tone in tones {
            let share = share_with_tone(&decoded.audio, tone);
            println!(
                "SRTP flow {src} -> {dst}: {} packets, {tone} Hz in {:.1} %",
                decoded.packets,
                share * 100.0
            );
            assert!(
                share < 0.05,
                "{tone} Hz readable in SRTP flow {src} -> {dst}"
            );
        }
        for secret in [&org.pin, &org.conference_id] {
            assert!(
                !decoded.keys.contains(secret.as_str()),
                "typed keys readable in SRTP flow {src} -> {dst}"
            );
        }
    }
    assert_eq!(srtp_flows, 4, "two SRTP phones, both directions");
}

#[test]
fn srtp_require_answers_a_plain_offer_488() {
    let options = BridgeOptions {
        extra: vec!["--srtp".into(), "require".into()],
        ..BridgeOptions::default()
    };
    let (bridge, _) = Bridge::start(&["Ada"], options);
    let mut phone = Phone::new(bridge.sip, Codec::Pcmu, None);
    phone.send_invite();
    let refused = phone
        .wait_for(Duration::from_secs(5), |m| {
            m.status().is_some_and(|s| s >= 300)
        })
        .expect("a final answer");
    assert_eq!(refused.status(), Some(488));
    assert!(
        bridge.log_text().contains("--srtp require"),
        "the log says why"
    );
}
